// HELLO [protover [AUTH username password] [SETNAME clientname]], parsed positionally.
#include "protocol/hello_options.h"

#include <cctype>

#include "protocol/ascii.h"

namespace sp::protocol {

namespace {

// Redis's string2ll: optional '-', digits, no leading zeros, no "-0", within long long.
bool parse_int(std::string_view s, long long& out) {
    std::size_t i = 0;
    const bool negative = !s.empty() && s[0] == '-';
    if (negative) ++i;
    if (i == s.size() || (s.size() - i > 1 && s[i] == '0')) return false;
    long long v = 0;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        const int d = s[i] - '0';
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, negative ? -d : d, &v))
            return false;
    }
    if (negative && v == 0) return false;
    out = v;
    return true;
}

}  // namespace

bool valid_client_name(std::string_view name) {
    for (char c : name)
        if (c < '!' || c > '~') return false;
    return true;
}

HelloOptions parse_hello(std::span<const std::string_view> argv) {
    HelloOptions o;
    std::size_t next = 1;
    if (argv.size() >= 2) {
        long long v = 0;
        if (!parse_int(argv[next++], v)) {
            o.error = "ERR Protocol version is not an integer or out of range";
            return o;
        }
        if (v < 2 || v > 3) {
            o.error = "NOPROTO unsupported protocol version";
            return o;
        }
        o.version = static_cast<int>(v);
    }
    for (std::size_t j = next; j < argv.size(); ++j) {
        const std::size_t more = argv.size() - 1 - j;
        if (ieq(argv[j], "auth") && more >= 2) {
            o.user = argv[j + 1];
            o.password = argv[j + 2];
            j += 2;
        } else if (ieq(argv[j], "setname") && more >= 1) {
            if (!valid_client_name(argv[j + 1])) {
                o.error = "ERR Client names cannot contain spaces, newlines or special characters.";
                break;
            }
            o.client_name = argv[j + 1];
            j += 1;
        } else {
            o.error = "ERR Syntax error in HELLO option '" + std::string(argv[j]) + "'";
            break;
        }
    }
    if (!o.error.empty()) {
        // As in Redis 7.2 and later: a bad option fails the whole HELLO, AUTH included.
        o.user.reset();
        o.password.reset();
        o.client_name.reset();
    }
    return o;
}

}  // namespace sp::protocol
