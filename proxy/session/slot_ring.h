// A FIFO of a session's reply slots (and of its local replies) that costs nothing until a
// client sends something: libstdc++'s std::deque allocates a 512-byte node and its map on
// construction, which was about 1.1 KiB of every idle client's 3.9 KiB. The ring grows by
// doubling (from 4 slots) and keeps its capacity, so the steady state allocates nothing per
// command.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <type_traits>
#include <utility>

namespace sp::proxy {

template <class T>
class SlotRing {
  public:
    SlotRing() = default;
    SlotRing(SlotRing&& o) noexcept { *this = std::move(o); }
    SlotRing& operator=(SlotRing&& o) noexcept {
        buf_ = std::move(o.buf_);
        cap_ = std::exchange(o.cap_, 0);
        head_ = std::exchange(o.head_, 0);
        size_ = std::exchange(o.size_, 0);
        return *this;
    }

    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    T& operator[](std::size_t i) { return buf_[(head_ + i) & (cap_ - 1)]; }
    const T& operator[](std::size_t i) const { return buf_[(head_ + i) & (cap_ - 1)]; }
    T& front() { return (*this)[0]; }
    const T& front() const { return (*this)[0]; }
    T& back() { return (*this)[size_ - 1]; }
    const T& back() const { return (*this)[size_ - 1]; }

    void push_back(T v) {
        if (size_ == cap_) grow();
        buf_[(head_ + size_) & (cap_ - 1)] = std::move(v);
        ++size_;
    }
    void pop_front() {
        buf_[head_] = T{};  // drops what the slot holds (argument vectors, reply bytes)
        head_ = (head_ + 1) & (cap_ - 1);
        --size_;
    }
    template <class Ring, class V>
    class Iter {
      public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::remove_const_t<V>;
        using difference_type = std::ptrdiff_t;
        using pointer = V*;
        using reference = V&;
        Iter(Ring* r, std::size_t i) : r_(r), i_(i) {}
        V& operator*() const { return (*r_)[i_]; }
        V* operator->() const { return &(*r_)[i_]; }
        Iter& operator++() {
            ++i_;
            return *this;
        }
        bool operator==(const Iter& o) const { return i_ == o.i_; }
        bool operator!=(const Iter& o) const { return i_ != o.i_; }

      private:
        Ring* r_;
        std::size_t i_;
    };
    auto begin() { return Iter<SlotRing, T>(this, 0); }
    auto end() { return Iter<SlotRing, T>(this, size_); }
    auto begin() const { return Iter<const SlotRing, const T>(this, 0); }
    auto end() const { return Iter<const SlotRing, const T>(this, size_); }

  private:
    void grow() {
        const std::size_t cap = cap_ ? cap_ * 2 : 4;
        std::unique_ptr<T[]> fresh(new T[cap]);
        for (std::size_t i = 0; i < size_; ++i) fresh[i] = std::move((*this)[i]);
        buf_ = std::move(fresh);
        cap_ = cap;
        head_ = 0;
    }

    std::unique_ptr<T[]> buf_;
    std::size_t cap_ = 0;  // 0 or a power of two
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace sp::proxy
