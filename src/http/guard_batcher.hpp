// guard_batcher.hpp: groups the guard checks of requests that arrive at the same time into
// one database statement (like group commit). Each request still gets its own check,
// counted by the database in arrival order; nothing is decided or cached here.
//
// How a call goes: check() queues the request. If fewer than max_in_flight batches are
// running, the caller itself takes the queue's oldest entries (at most max_batch, its own
// among them when the queue is short) and runs them as one batch at once: a lone request
// never waits for company. Requests that arrive while batches run queue up; when a batch
// ends, its runner wakes the oldest queued caller, which sends everything queued so far as
// the next batch. Every caller returns with its own result, or with the exception the
// batch it was in failed with (every request of that batch gets it).
//
// Locking: one mutex guards the queue and the running count; each waiting caller has its
// own condition variable (in its stack frame), so a finished batch wakes only its own
// callers and the next runner. The batch itself runs without the lock.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace infra::http {

// One request to check.
struct GuardCheck {
    std::string client;  // an address, as text
    long long length = 0;
};

// The database's verdict for one request (infra.check_request's columns).
struct GuardVerdict {
    bool allowed = true;
    std::string reason = "ok";
    long retry_after_s = 0;
    long remaining_minute = 0;
    long remaining_hour = 0;
};

class GuardBatcher {
  public:
    // Runs one batch: returns one verdict per check, in order, or throws.
    using Runner = std::function<std::vector<GuardVerdict>(const std::vector<GuardCheck>&)>;

    // max_batch and max_in_flight are at least 1.
    GuardBatcher(Runner runner, std::size_t max_batch = 64, std::size_t max_in_flight = 2);
    GuardBatcher(const GuardBatcher&) = delete;
    GuardBatcher& operator=(const GuardBatcher&) = delete;

    // Blocks until this request's verdict is known; rethrows its batch's exception (a
    // runner returning the wrong number of verdicts fails the batch with
    // std::runtime_error).
    GuardVerdict check(GuardCheck request);

    // Batches run so far and checks they carried (for /metrics and the tests).
    struct Counts {
        unsigned long long batches = 0;
        unsigned long long checks = 0;
        std::size_t largest = 0;
    };
    Counts counts() const;

  private:
    struct Waiter;
    void run_batch(std::unique_lock<std::mutex>& lock);

    Runner runner_;
    const std::size_t max_batch_;
    const std::size_t max_in_flight_;
    mutable std::mutex mutex_;
    std::deque<Waiter*> queue_;
    std::size_t in_flight_ = 0;
    Counts counts_;
};

}  // namespace infra::http
