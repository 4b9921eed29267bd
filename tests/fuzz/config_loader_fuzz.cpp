// Fuzz target for the config loader: the whole input is a TOML text. load_toml must
// either return a Config or throw ConfigError (the documented error type); anything else
// (another exception, a crash, a sanitizer report) is a failure. A text that loads is also
// validated (ConfigError or nothing), resolved into pools and rendered; the rendered TOML
// must load back, validate alike and render identically (secrets come back as the mask).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "tests/fuzz/fuzz_support.h"

using sp::config::Config;
using sp::config::ConfigError;
using namespace sp::fuzz;  // check

namespace {

// true when valid, false on ConfigError; any other exception escapes (and fails).
bool validates(const Config& config) {
    try {
        sp::config::validate(config);
        return true;
    } catch (const ConfigError&) {
        return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    Config config;
    try {
        config = sp::config::load_toml(text, "fuzz.toml");
    } catch (const ConfigError& e) {
        check(e.what()[0] != '\0');
        return 0;
    }
    const bool valid = validates(config);
    if (valid) (void)sp::config::resolve_pools(config);
    const std::string rendered = sp::config::render_masked(config);
    Config again;
    try {
        again = sp::config::load_toml(rendered, "rendered.toml");
    } catch (const ConfigError&) {
        check(false);  // render_masked printed something load_toml refuses
    }
    check(validates(again) == valid);
    check(sp::config::render_masked(again) == rendered);
    return 0;
}
