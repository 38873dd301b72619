// guard_batcher_test.cpp: GuardBatcher (src/http/guard_batcher.*) with a fake runner in
// place of the database, and the array literal its batches are sent with. Covered:
//  - a lone call runs at once as a batch of one (not delayed waiting for company);
//  - calls arriving while a batch runs are sent together as the next batch, and each
//    caller gets its own verdict (the runner answers per request);
//  - a batch never exceeds max_batch, and no more than max_in_flight run at once;
//  - a failing batch fails every caller in it with the runner's exception, and the next
//    batch runs normally;
//  - a runner answering the wrong number of verdicts fails its batch;
//  - many threads, many calls: everyone answered exactly once, in the order queued.
#include "http/guard_batcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/guard_query.hpp"

namespace infra::http {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Answers each check with reason "r:<client>" and remaining_minute = length; records the
// batches; can hold a batch until released, or fail.
class FakeDatabase {
  public:
    std::vector<GuardVerdict> run(const std::vector<GuardCheck>& checks) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            batches_.push_back(checks);
            const int now = ++running_;
            if (now > max_running_) max_running_ = now;
            changed_.notify_all();
            changed_.wait(lock, [&] { return !hold_; });
        }
        std::vector<GuardVerdict> out;
        for (const GuardCheck& c : checks) {
            if (c.client == "fail") {
                std::lock_guard<std::mutex> lock(mutex_);
                --running_;
                throw std::runtime_error("database refused the batch");
            }
            GuardVerdict v;
            v.reason = "r:" + c.client;
            v.remaining_minute = static_cast<long>(c.length);
            out.push_back(v);
        }
        if (short_answer_) out.pop_back();
        std::lock_guard<std::mutex> lock(mutex_);
        --running_;
        return out;
    }

    void hold() {
        std::lock_guard<std::mutex> lock(mutex_);
        hold_ = true;
    }
    void release() {
        std::lock_guard<std::mutex> lock(mutex_);
        hold_ = false;
        changed_.notify_all();
    }
    void answer_short() { short_answer_ = true; }
    // Waits until n batches have started.
    bool wait_for_batches(std::size_t n, milliseconds timeout = milliseconds(5000)) {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return batches_.size() >= n; });
    }
    std::vector<std::vector<GuardCheck>> batches() {
        std::lock_guard<std::mutex> lock(mutex_);
        return batches_;
    }
    int max_running() {
        std::lock_guard<std::mutex> lock(mutex_);
        return max_running_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::vector<GuardCheck>> batches_;
    bool hold_ = false;
    std::atomic<bool> short_answer_{false};
    int running_ = 0;
    int max_running_ = 0;
};

GuardBatcher::Runner runner_for(FakeDatabase& db) {
    return [&db](const std::vector<GuardCheck>& checks) { return db.run(checks); };
}

// Waits until the batcher has queued n callers beyond those running (polls the fake's
// view: callers queue silently, so give them time to arrive).
void let_callers_queue() {
    std::this_thread::sleep_for(milliseconds(200));
}

TEST(GuardBatcherTest, LoneCallRunsAtOnceAsABatchOfOne) {
    FakeDatabase db;
    GuardBatcher batcher(runner_for(db), 64, 1);
    const auto start = Clock::now();
    GuardVerdict v = batcher.check({"10.0.0.1", 42});
    EXPECT_LT(Clock::now() - start, milliseconds(50));
    EXPECT_EQ(v.reason, "r:10.0.0.1");
    EXPECT_EQ(v.remaining_minute, 42);
    ASSERT_EQ(db.batches().size(), 1u);
    EXPECT_EQ(db.batches()[0].size(), 1u);
}

TEST(GuardBatcherTest, CallsArrivingDuringABatchGoTogetherEachWithItsOwnVerdict) {
    FakeDatabase db;
    GuardBatcher batcher(runner_for(db), 64, 1);
    db.hold();
    auto first = std::async(std::launch::async, [&] { return batcher.check({"10.0.0.1", 1}); });
    ASSERT_TRUE(db.wait_for_batches(1));
    std::vector<std::future<GuardVerdict>> others;
    for (int i = 2; i <= 6; ++i) {
        others.push_back(std::async(std::launch::async, [&batcher, i] {
            return batcher.check({"10.0.0." + std::to_string(i), i});
        }));
    }
    let_callers_queue();
    EXPECT_EQ(db.batches().size(), 1u) << "nothing else may start while the slot is taken";
    db.release();
    EXPECT_EQ(first.get().reason, "r:10.0.0.1");
    for (int i = 2; i <= 6; ++i) {
        const GuardVerdict v = others[static_cast<std::size_t>(i - 2)].get();
        EXPECT_EQ(v.reason, "r:10.0.0." + std::to_string(i));
        EXPECT_EQ(v.remaining_minute, i);
    }
    const auto batches = db.batches();
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[1].size(), 5u);
    EXPECT_EQ(batcher.counts().batches, 2u);
    EXPECT_EQ(batcher.counts().checks, 6u);
    EXPECT_EQ(batcher.counts().largest, 5u);
}

TEST(GuardBatcherTest, BatchesAreBoundedAndSoAreBatchesInFlight) {
    FakeDatabase db;
    GuardBatcher batcher(runner_for(db), 4, 2);
    db.hold();
    std::vector<std::future<GuardVerdict>> calls;
    for (int i = 0; i < 22; ++i) {
        calls.push_back(std::async(std::launch::async, [&batcher, i] {
            return batcher.check({"10.0.1." + std::to_string(i), i});
        }));
    }
    ASSERT_TRUE(db.wait_for_batches(2));
    let_callers_queue();
    EXPECT_EQ(db.batches().size(), 2u) << "two in flight at most";
    db.release();
    for (int i = 0; i < 22; ++i) {
        EXPECT_EQ(calls[static_cast<std::size_t>(i)].get().reason, "r:10.0.1." + std::to_string(i));
    }
    std::size_t total = 0;
    for (const auto& b : db.batches()) {
        EXPECT_LE(b.size(), 4u);
        total += b.size();
    }
    EXPECT_EQ(total, 22u);
    EXPECT_LE(db.max_running(), 2);
    EXPECT_GE(db.batches().size(), 6u);  // 22 in batches of at most 4
}

TEST(GuardBatcherTest, AFailedBatchFailsEveryCallerInItAndTheNextBatchRuns) {
    FakeDatabase db;
    GuardBatcher batcher(runner_for(db), 64, 1);
    db.hold();
    auto blocker = std::async(std::launch::async, [&] { return batcher.check({"10.0.0.9", 0}); });
    ASSERT_TRUE(db.wait_for_batches(1));
    auto good = std::async(std::launch::async, [&] { return batcher.check({"10.0.0.1", 0}); });
    auto bad = std::async(std::launch::async, [&] { return batcher.check({"fail", 0}); });
    let_callers_queue();
    db.release();
    EXPECT_EQ(blocker.get().reason, "r:10.0.0.9");
    EXPECT_THROW(good.get(), std::runtime_error) << "in the failed batch";
    EXPECT_THROW(bad.get(), std::runtime_error);
    EXPECT_EQ(batcher.check({"10.0.0.2", 0}).reason, "r:10.0.0.2") << "the next batch runs";
}

TEST(GuardBatcherTest, AWrongNumberOfVerdictsFailsTheBatch) {
    FakeDatabase db;
    db.answer_short();
    GuardBatcher batcher(runner_for(db), 64, 1);
    EXPECT_THROW(batcher.check({"10.0.0.1", 0}), std::runtime_error);
}

TEST(GuardBatcherTest, ManyThreadsEachGetTheirOwnVerdictInQueueOrder) {
    FakeDatabase db;
    GuardBatcher batcher(runner_for(db), 8, 2);
    constexpr int kThreads = 16;
    constexpr int kCalls = 300;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kCalls; ++i) {
                const std::string client = "10." + std::to_string(t) + "." + std::to_string(i);
                const GuardVerdict v = batcher.check({client, i});
                if (v.reason != "r:" + client || v.remaining_minute != i) ++wrong;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0);
    const auto counts = batcher.counts();
    EXPECT_EQ(counts.checks, static_cast<unsigned long long>(kThreads * kCalls));
    EXPECT_LE(counts.largest, 8u);
    EXPECT_LE(db.max_running(), 2);
    // Each thread's calls reached the database in the order it made them.
    std::vector<int> next(kThreads, 0);
    for (const auto& batch : db.batches()) {
        for (const GuardCheck& c : batch) {
            const int t = std::stoi(c.client.substr(3, c.client.find('.', 3) - 3));
            EXPECT_EQ(c.length, next[static_cast<std::size_t>(t)]++);
        }
    }
}

TEST(GuardQueryTest, ArrayLiteralQuotesEveryElement) {
    EXPECT_EQ(array_literal({}), "{}");
    EXPECT_EQ(array_literal({"10.0.0.1", "::1"}), R"({"10.0.0.1","::1"})");
    EXPECT_EQ(array_literal({"a\"b\\c", ""}), R"({"a\"b\\c",""})");
}

}  // namespace
}  // namespace infra::http
