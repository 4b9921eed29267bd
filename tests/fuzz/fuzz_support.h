// What the fuzz targets share: the invariant check and a deterministic source of splits.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace sp::fuzz {

// A broken invariant aborts: libFuzzer saves the input, the replay test fails.
inline void check(bool ok) {
    if (!ok) std::abort();
}

// splitmix64: deterministic per input, so a crash reproduces from the saved file alone.
struct Rng {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
};

// FNV-1a of the input: the seed of its Rng.
inline std::uint64_t hash(std::string_view s) {
    std::uint64_t h = 1469598103934665603ULL;
    for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return h;
}

}  // namespace sp::fuzz
