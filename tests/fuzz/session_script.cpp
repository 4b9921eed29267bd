#include "tests/fuzz/session_script.h"

namespace sp::fuzz {

std::string multibulk(const std::vector<std::string>& argv) {
    std::string s = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return s;
}

std::string inline_command(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
    return s + "\r\n";
}

std::vector<std::string> next_command(Input& in, const ScriptedRedis& ref, int tag) {
    const std::string key = "k" + std::to_string(in.byte() % 4);
    const std::string t = "t" + std::to_string(tag);
    if (ref.subscribed()) {
        switch (in.byte() % 7) {
            case 0:
                return {"SUBSCRIBE", "ch" + std::to_string(in.byte() % 3)};
            case 1:
                return {"UNSUBSCRIBE", "ch" + std::to_string(in.byte() % 3)};
            case 2:
                return {"UNSUBSCRIBE"};
            case 3:
                return {"PSUBSCRIBE", "p*"};
            case 4:
                return {"PING", t};
            case 5:
                return {"RESET"};
            default:
                return {"PUNSUBSCRIBE"};
        }
    }
    if (ref.in_multi()) {
        switch (in.byte() % 7) {
            case 0:
                return {"GET", key};
            case 1:
                return {"SET", key, t};
            case 2:
                return {"INCR", key};
            case 3:
                return {"HGETALL", key};
            case 4:
                return {"DISCARD"};
            case 5:
                return {"ECHO", t};
            default:
                return {"EXEC"};
        }
    }
    switch (in.byte() % 24) {
        case 0:
        case 1:
        case 2:
            return {"GET", key};
        case 3:
            return {"SET", key, t};
        case 4:
            return {"ECHO", t};
        case 5:
            return {"PING"};
        case 6:
            return {"MULTI"};
        case 7:
            return {"EXEC"};
        case 8:
            return {"WATCH", key};
        case 9:
            return {"UNWATCH"};
        case 10:
            return {"SELECT", std::to_string(in.byte() % 3)};
        case 11: {
            // (Variants share one byte, so that saved corpus inputs keep their meaning.)
            const std::uint8_t b = in.byte();
            if (b % 4 == 3) return {"HELLO", "3", "SETNAME", "h" + std::to_string(tag)};
            return {"HELLO", b % 2 ? "3" : "2"};
        }
        case 12:
            switch (in.byte() % 3) {
                case 0:
                    return {"AUTH", "pw"};
                case 1:
                    return {"AUTH", "alice", "pw"};
                default:
                    return {"AUTH", "alice", "bad"};
            }
        case 13:
            return {"SUBSCRIBE", "ch" + std::to_string(in.byte() % 3)};
        case 14:
            return {"BLPOP", key, in.byte() % 2 ? "0" : "5"};
        case 15:
            return {"RESET"};
        case 16:
            return {"HGETALL", key};
        case 17: {
            const std::uint8_t b = in.byte();
            if (b % 4 == 3) return {"CLIENT", "GETNAME"};
            return {"CLIENT", "SETNAME", b % 4 ? "app" : "a b"};
        }
        case 18:
            return {"INCR", key};
        case 19:
            return {"DISCARD"};
        case 20:
            return {"QUIT"};
        case 21:
            return {"PING", t};
        case 22:
            return {"NOSUCHCOMMAND", t};
        default:
            return {"GET", key};
    }
}

}  // namespace sp::fuzz
