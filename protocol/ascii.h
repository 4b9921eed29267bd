// ASCII case-insensitive comparison, as Redis compares command names and options.
#pragma once

#include <cctype>
#include <string_view>

namespace sp::protocol {

inline bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

}  // namespace sp::protocol
