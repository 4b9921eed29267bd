// A FIFO of a session's reply slots (and of its local replies) that costs nothing until a
// client sends something: libstdc++'s std::deque allocates a 512-byte node and its map on
// construction, which was about 1.1 KiB of every idle client's 3.9 KiB. One slot is inline (a
// client sending one command at a time never allocates); past it the ring goes to the heap,
// grows by doubling (from 4) and keeps its capacity while the client is active, so the
// steady state allocates nothing per command; a client idle for a second gives it back.
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
        if (this == &o) return *this;
        heap_ = std::move(o.heap_);
        if (o.cap_ == 1) inline_ = std::move(o.inline_);
        o.inline_ = T{};
        cap_ = std::exchange(o.cap_, 0);
        head_ = std::exchange(o.head_, 0);
        size_ = std::exchange(o.size_, 0);
        return *this;
    }

    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    // What the slots take on the heap (the memory budget counts it: a million slots are
    // tens of MiB).
    std::size_t heap_bytes() const { return cap_ > 1 ? cap_ * sizeof(T) : 0; }
    T& operator[](std::size_t i) { return slots()[(head_ + i) & (cap_ - 1)]; }
    const T& operator[](std::size_t i) const { return slots()[(head_ + i) & (cap_ - 1)]; }
    T& front() { return (*this)[0]; }
    const T& front() const { return (*this)[0]; }
    T& back() { return (*this)[size_ - 1]; }
    const T& back() const { return (*this)[size_ - 1]; }

    void push_back(T v) {
        if (size_ == cap_) grow();
        slots()[(head_ + size_) & (cap_ - 1)] = std::move(v);
        ++size_;
    }
    void pop_front() {
        slots()[head_] = T{};  // drops what the slot holds (argument vectors, reply bytes)
        head_ = (head_ + 1) & (cap_ - 1);
        --size_;
    }
    // An idle session gives its heap slots back (SessionSweeps' trim); the next command uses the
    // inline slot again.
    void release_if_empty() {
        if (size_ != 0 || cap_ <= 1) return;
        heap_.reset();
        cap_ = 1;
        head_ = 0;
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
    T* slots() { return cap_ <= 1 ? &inline_ : heap_.get(); }
    const T* slots() const { return cap_ <= 1 ? &inline_ : heap_.get(); }
    void grow() {
        if (cap_ == 0) {  // the inline slot: a client with one command at a time needs no more
            cap_ = 1;
            head_ = 0;
            return;
        }
        const std::size_t cap = cap_ == 1 ? 4 : cap_ * 2;
        std::unique_ptr<T[]> fresh(new T[cap]);
        for (std::size_t i = 0; i < size_; ++i) fresh[i] = std::move((*this)[i]);
        if (cap_ == 1) inline_ = T{};
        heap_ = std::move(fresh);
        cap_ = cap;
        head_ = 0;
    }

    T inline_{};
    std::unique_ptr<T[]> heap_;
    std::size_t cap_ = 0;  // 0, 1 (the inline slot) or a power of two >= 4 (on the heap)
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace sp::proxy
