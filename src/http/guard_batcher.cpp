// guard_batcher.cpp: see guard_batcher.hpp.
#include "http/guard_batcher.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace infra::http {

// A caller's entry: lives in its stack frame until check() returns, which it does only
// once done (so a runner never touches a finished entry).
struct GuardBatcher::Waiter {
    GuardCheck request;
    GuardVerdict verdict;
    std::exception_ptr error;
    bool done = false;
    std::condition_variable wake;
};

GuardBatcher::GuardBatcher(Runner runner, std::size_t max_batch, std::size_t max_in_flight)
    : runner_(std::move(runner)),
      max_batch_(std::max<std::size_t>(max_batch, 1)),
      max_in_flight_(std::max<std::size_t>(max_in_flight, 1)) {}

GuardVerdict GuardBatcher::check(GuardCheck request) {
    Waiter self;
    self.request = std::move(request);
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&self);
    while (!self.done) {
        if (in_flight_ < max_in_flight_ && !queue_.empty()) {
            run_batch(lock);
        } else {
            self.wake.wait(lock);
        }
    }
    // A batch may have ended while this caller ran its own or waited: hand the queue on.
    if (in_flight_ < max_in_flight_ && !queue_.empty()) queue_.front()->wake.notify_one();
    lock.unlock();
    if (self.error) std::rethrow_exception(self.error);
    return std::move(self.verdict);
}

// Called with the lock held, a slot free and the queue not empty; returns with the lock
// held and every waiter of the batch done.
void GuardBatcher::run_batch(std::unique_lock<std::mutex>& lock) {
    const std::size_t take = std::min(queue_.size(), max_batch_);
    std::vector<Waiter*> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    ++in_flight_;
    ++counts_.batches;
    counts_.checks += take;
    counts_.largest = std::max(counts_.largest, take);
    lock.unlock();

    std::vector<GuardCheck> requests;
    requests.reserve(take);
    for (Waiter* w : batch) requests.push_back(w->request);
    std::vector<GuardVerdict> verdicts;
    std::exception_ptr error;
    try {
        verdicts = runner_(requests);
        if (verdicts.size() != take) {
            throw std::runtime_error("the guard's batch returned " +
                                     std::to_string(verdicts.size()) + " verdicts for " +
                                     std::to_string(take) + " requests");
        }
    } catch (...) {
        error = std::current_exception();
    }

    lock.lock();
    --in_flight_;
    for (std::size_t i = 0; i < take; ++i) {
        Waiter* w = batch[i];
        if (error) {
            w->error = error;
        } else {
            w->verdict = std::move(verdicts[i]);
        }
        w->done = true;
        w->wake.notify_one();  // the runner's own entry is not waiting: harmless
    }
    // The next batch: the oldest queued caller runs it (unless this runner, still queued
    // itself, goes on to run it in its own loop).
    if (!queue_.empty()) queue_.front()->wake.notify_one();
}

GuardBatcher::Counts GuardBatcher::counts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_;
}

}  // namespace infra::http
