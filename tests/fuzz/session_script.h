// How session_fuzz reads its input: a byte reader, and the client's command vocabulary.
// Saved corpus inputs depend on next_command's choices: add variants without changing how
// many bytes existing ones consume, or the regression inputs change meaning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/scripted_redis.h"

namespace sp::fuzz {

class Input {
  public:
    Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    std::size_t range(std::size_t lo, std::size_t hi) { return lo + byte() % (hi - lo + 1); }
    bool empty() const { return pos_ >= size_; }
    std::string_view take(std::size_t n) {
        n = std::min(n, size_ - pos_);
        std::string_view s(reinterpret_cast<const char*>(data_) + pos_, n);
        pos_ += n;
        return s;
    }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// A command as a client sends it: multibulk, or inline (no spaces in the arguments).
std::string multibulk(const std::vector<std::string>& argv);
std::string inline_command(const std::vector<std::string>& argv);

// The client's next command, chosen among those that keep the reference meaningful in the
// reference connection's current mode (what Redis allows inside MULTI, or subscribed).
std::vector<std::string> next_command(Input& in, const ScriptedRedis& ref, int tag);

}  // namespace sp::fuzz
