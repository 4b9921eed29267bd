#include "proxy/session/request_queue.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "protocol/ascii.h"
#include "protocol/reply_writer.h"
#include "proxy/session/failover_rules.h"

namespace sp::proxy {

void RequestQueue::push(std::string_view raw, Request r) {
    r.len = static_cast<std::uint32_t>(raw.size());
    log_.append(raw);
    requests_.push_back(std::move(r));
}

void RequestQueue::push_local(std::string reply, Request r) {
    r.len = 0;
    requests_.push_back(std::move(r));
    local_replies_.push_back(std::move(reply));
}

void RequestQueue::push_streamed(Request r) {
    r.len = 0;
    requests_.push_back(std::move(r));
    sent_ = requests_.size();
    ++in_flight_;
}

void RequestQueue::mark_sent(bool to_redis) {
    unsent_ += requests_[sent_].len;
    ++sent_;
    if (to_redis) ++in_flight_;
}

bool RequestQueue::pop_answered() {
    head_ += requests_.front().len;
    requests_.pop_front();
    if (sent_ > 0) --sent_;
    const bool none_left = in_flight_ > 0 && --in_flight_ == 0;
    if (head_ == log_.size()) {
        log_.clear();
        head_ = unsent_ = 0;
    } else if (head_ > (64u << 10) && head_ * 2 > log_.size()) {
        // Compacted only now and then: a deep pipeline does not move its bytes per reply.
        log_.erase(0, head_);
        unsent_ -= head_;
        head_ = 0;
    }
    return none_left;
}

void RequestQueue::pop_local() {
    local_replies_.pop_front();
    requests_.pop_front();
    if (sent_ > 0) --sent_;
}

std::size_t RequestQueue::owed() const {
    std::size_t n = 0;
    for (const Request& r : requests_)
        if (r.owed()) ++n;
    return n;
}

std::size_t RequestQueue::unsent_owed() const {
    std::size_t n = 0;
    for (std::size_t i = sent_; i < requests_.size(); ++i)
        if (requests_[i].owed()) ++n;
    return n;
}

bool RequestQueue::has_unsent_for_redis() const {
    for (std::size_t i = sent_; i < requests_.size(); ++i)
        if (!requests_[i].local()) return true;
    return false;
}

bool RequestQueue::streamed_in_flight() const {
    for (std::size_t i = 0; i < sent_; ++i)
        if (requests_[i].streamed) return true;
    return false;
}

bool RequestQueue::in_flight_resendable() const {
    for (std::size_t i = 0; i < sent_ && i < requests_.size(); ++i) {
        if (!failover_rules::may_resend(requests_[i])) return false;
    }
    return true;
}

bool RequestQueue::any_resubscribe(std::size_t from) const {
    for (std::size_t i = from; i < requests_.size(); ++i)
        if (requests_[i].answer == Answer::resubscribe) return true;
    return false;
}

std::size_t RequestQueue::unsend_all() {
    std::size_t resent = 0;
    for (std::size_t i = 0; i < sent_ && i < requests_.size(); ++i)
        if (requests_[i].owed()) ++resent;
    sent_ = 0;
    in_flight_ = 0;
    unsent_ = head_;
    return resent;
}

void RequestQueue::forget_setup() {
    std::string log;
    SlotRing<Request> kept;
    std::size_t off = head_;
    for (const Request& r : requests_) {
        if (!r.silent()) {
            log.append(log_, off, r.len);
            kept.push_back(r);
        }
        off += r.len;
    }
    log_ = std::move(log);
    requests_ = std::move(kept);
    head_ = unsent_ = 0;
}

void RequestQueue::reissue_after(RequestQueue setup, std::uint64_t now_ms,
                                 const std::string& expired_reply) {
    namespace reply = protocol::reply;
    std::string& log = setup.log_;
    std::size_t off = head_;
    for (std::size_t i = 0; i < requests_.size(); ++i) {
        Request r = requests_[i];
        std::string_view raw(log_.data() + off, r.len);
        off += r.len;
        if (r.local()) {
            setup.requests_.push_back(r);
            setup.local_replies_.push_back(std::move(local_replies_.front()));
            local_replies_.pop_front();
            continue;
        }
        if (r.silent() && r.answer != Answer::fence) continue;
        if ((r.flags & protocol::kBlocking) && r.issued_ms != 0 &&
            r.timeout != protocol::TimeoutArg::none && r.args) {
            std::string rewritten;
            if (!reissue_blocking(rewritten, r, now_ms)) {
                // Its timeout ran out while the master was away: answered as Redis would.
                r.len = 0;
                r.answer = Answer::local;
                setup.requests_.push_back(r);
                setup.local_replies_.push_back(expired_reply);
                continue;
            }
            r.len = static_cast<std::uint32_t>(rewritten.size());
            log += rewritten;
        } else if (r.subscription() && r.args && r.expect >= 0 &&
                   r.expect + 1 < static_cast<std::int32_t>(r.args->size())) {
            // Partly confirmed on the lost link: only the channels Redis did not confirm go
            // again (the confirmed ones are in the state, replayed by the set-up).
            std::vector<std::string> rest{r.args->front()};
            rest.insert(rest.end(), r.args->end() - r.expect, r.args->end());
            const std::size_t before = log.size();
            reply::command(log, rest);
            r.len = static_cast<std::uint32_t>(log.size() - before);
            r.args = std::make_shared<const std::vector<std::string>>(std::move(rest));
        } else if (r.kind == Request::Kind::unsubscribe && r.args && r.args->size() == 1) {
            // UNSUBSCRIBE of everything: counted again against what is still subscribed.
            r.expect = -1;
            log.append(raw);
        } else {
            log.append(raw);
        }
        r.issued_ms = 0;
        r.issued_us = 0;
        setup.requests_.push_back(std::move(r));
    }
    log_ = std::move(log);
    requests_ = std::move(setup.requests_);
    local_replies_ = std::move(setup.local_replies_);
    head_ = unsent_ = sent_ = in_flight_ = 0;
}

void RequestQueue::release_if_empty() {
    if (!requests_.empty()) return;
    requests_.release_if_empty();
    local_replies_.release_if_empty();
    if (log_.capacity() > 0 && log_.empty()) std::string().swap(log_);
    head_ = unsent_ = 0;
}

bool reissue_blocking(std::string& out, const Request& r, std::uint64_t now_ms) {
    std::vector<std::string> argv = *r.args;
    const std::uint64_t elapsed = now_ms - r.issued_ms;
    bool expired = false;
    auto adjust_seconds = [&](std::string& arg) {
        double t = std::strtod(arg.c_str(), nullptr);
        if (t <= 0) return;  // 0 = forever
        double left = t - static_cast<double>(elapsed) / 1000.0;
        if (left <= 0.001) {
            expired = true;
            return;
        }
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.3f", left);
        arg = buf;
    };
    if (argv.size() >= 2) {
        switch (r.timeout) {
            case protocol::TimeoutArg::last_seconds:
                adjust_seconds(argv.back());
                break;
            case protocol::TimeoutArg::first_seconds:
                adjust_seconds(argv[1]);
                break;
            case protocol::TimeoutArg::block_option_ms:
                for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
                    if (protocol::ieq(argv[i], "block")) {
                        long long ms = std::atoll(argv[i + 1].c_str());
                        if (ms > 0) {
                            long long left = ms - static_cast<long long>(elapsed);
                            if (left <= 0)
                                expired = true;
                            else
                                argv[i + 1] = std::to_string(left);
                        }
                        break;
                    }
                }
                break;
            case protocol::TimeoutArg::none:
                break;
        }
    }
    if (expired) return false;
    protocol::reply::command(out, argv);
    return true;
}

}  // namespace sp::proxy
