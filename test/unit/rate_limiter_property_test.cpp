// rate_limiter_property_test.cpp: tests the sliding-window guarantees of admit()
// (src/core/rate_limiter.*) against an exact sliding-log oracle.
//
// For 20 seeds x several limit settings x several arrival patterns, one TrackedIp is
// driven with an injected microsecond clock and every allowed timestamp is logged. For
// EVERY request the test asserts:
//  (a) after an allowed request at t, [t - W, t] holds <= limit allowed requests
//      (W = 60 s and 3600 s);
//  (b) a request refused by a window's limit had >= limit allowed requests in
//      [t - 1.1 W, t] for that window;
//  (c) a refusal leaves the window counts unchanged (no quota used);
//  (d) retry_after_s is exact: a copy of the entry is allowed at t + retry_after_s and,
//      when retry_after_s >= 2, refused at t + retry_after_s - 1 s; retry_after() agrees;
//  (e) remaining_minute/remaining_hour equal the limit minus the count over the
//      11 sub-buckets, are never negative, and fall by one per allowed request inside
//      one sub-bucket.
// The decision itself is also checked exactly against the sub-bucket oracle. Separate
// tests show the window is stricter than a fixed window at a minute boundary and that a
// clock stepping backwards neither resets nor corrupts the counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "core/rate_limiter.hpp"

namespace infra::core {
namespace {

constexpr int64_t kUs = 1000000;
constexpr int64_t kStartUs = 800'000'000LL * kUs;
constexpr int kRequestsPerRun = 2000;
constexpr int kSeeds = 20;

// The sliding log: every allowed request's timestamp, in arrival order.
class SlidingLog {
  public:
    void add(int64_t t_us) { times_.push_back(t_us); }
    // Allowed requests with lo <= time <= hi.
    int64_t count(int64_t lo, int64_t hi) const {
        auto first = std::lower_bound(times_.begin(), times_.end(), lo);
        auto last = std::upper_bound(times_.begin(), times_.end(), hi);
        return last > first ? last - first : 0;
    }
    // Allowed requests in the 11 sub-buckets (of bucket_s seconds) ending with the one
    // holding t: what the limiter's ring must hold.
    int64_t bucket_count(int64_t t_us, uint32_t bucket_s) const {
        int64_t bucket = (t_us / kUs) / bucket_s;
        int64_t from_us = (bucket - (kWindowBuckets - 1)) * bucket_s * kUs;
        return count(from_us, t_us);
    }
    size_t size() const { return times_.size(); }

  private:
    std::vector<int64_t> times_;
};

struct Limits {
    uint32_t per_minute;
    uint32_t per_hour;
};

enum class Pattern { kBursty, kSteadyAboveLimit, kRandomGaps, kIdleThenBurst, kBucketEdges };

const char* pattern_name(Pattern p) {
    switch (p) {
        case Pattern::kBursty:
            return "bursty";
        case Pattern::kSteadyAboveLimit:
            return "steady_above_limit";
        case Pattern::kRandomGaps:
            return "random_gaps";
        case Pattern::kIdleThenBurst:
            return "idle_then_burst";
        case Pattern::kBucketEdges:
            return "bucket_edges";
    }
    return "?";
}

// Produces the next arrival time for a pattern.
class Arrivals {
  public:
    Arrivals(Pattern pattern, const Limits& limits, std::mt19937_64& rng)
        : pattern_(pattern), limits_(limits), rng_(rng) {}

    int64_t next(int64_t now_us, int i) {
        switch (pattern_) {
            case Pattern::kBursty: {
                if (burst_left_ > 0) {
                    --burst_left_;
                    return now_us + uniform(0, 2000);
                }
                burst_left_ = uniform(1, 3 * limits_.per_minute);
                return now_us + uniform(1 * kUs, 120 * kUs);
            }
            case Pattern::kSteadyAboveLimit: {
                // Alternate between the minute and the hour rate every 300 requests,
                // arriving 1-15 % faster than the limit allows.
                bool minute_phase = (i / 300) % 2 == 0;
                double base = minute_phase ? 60.0 * kUs / limits_.per_minute
                                           : 3600.0 * kUs / limits_.per_hour;
                std::uniform_real_distribution<double> factor(0.85, 0.99);
                return now_us + static_cast<int64_t>(base * factor(rng_));
            }
            case Pattern::kRandomGaps: {
                // Log-uniform between 1 us and 10 minutes.
                std::uniform_real_distribution<double> exponent(0.0, std::log(600.0 * kUs));
                return now_us + static_cast<int64_t>(std::exp(exponent(rng_)));
            }
            case Pattern::kIdleThenBurst: {
                if (burst_left_ > 0) {
                    --burst_left_;
                    return now_us + uniform(0, 100000);
                }
                burst_left_ = uniform(1, 2 * std::min(limits_.per_minute, limits_.per_hour) + 5);
                if (uniform(0, 2) == 0) return now_us + uniform(10 * kUs, 600 * kUs);
                return now_us + uniform(3600 * kUs, 5 * 3600 * kUs);
            }
            case Pattern::kBucketEdges: {
                // Land within a few microseconds of a sub-bucket boundary: the next
                // minute sub-bucket, one a few sub-buckets on, or an hour sub-bucket.
                int64_t step_s = kMinuteBucketS;
                int choice = static_cast<int>(uniform(0, 9));
                if (choice == 9) step_s = kHourBucketS;
                int64_t ahead = choice < 6 ? 1 : uniform(1, 12);
                if (uniform(0, 3) == 0) ahead = 0;  // stay around the current boundary
                int64_t step_us = step_s * kUs;
                int64_t boundary = (now_us / step_us + ahead) * step_us;
                int64_t t = boundary + uniform(-3, 3);
                return std::max(now_us, t);
            }
        }
        return now_us + 1;
    }

  private:
    int64_t uniform(int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
    }

    Pattern pattern_;
    Limits limits_;
    std::mt19937_64& rng_;
    int64_t burst_left_ = 0;
};

GuardSettings settings_for(const Limits& limits) {
    GuardSettings s;
    s.per_minute = limits.per_minute;
    s.per_hour = limits.per_hour;
    s.max_request_bytes = int64_t{1} << 40;
    s.suspicious_threshold = 1000000;  // strikes never auto-block here
    return s;
}

uint32_t seconds(int64_t t_us) {
    return static_cast<uint32_t>(t_us / kUs);
}

// Drives one scenario; returns through ASSERT on the first violated property.
void run_scenario(uint64_t seed, const Limits& limits, Pattern pattern, int64_t* allowed_total,
                  int64_t* refused_minute, int64_t* refused_hour) {
    std::mt19937_64 rng(seed);
    GuardSettings settings = settings_for(limits);
    Arrivals arrivals(pattern, limits, rng);
    SlidingLog log;

    int64_t t = kStartUs + std::uniform_int_distribution<int64_t>(0, 3600 * kUs)(rng);
    TrackedIp entry;
    init_tracked(entry, *IpAddress::parse("192.0.2.1"), seconds(t));

    int64_t prev_allowed_minute_bucket = -1, prev_allowed_hour_bucket = -1;
    int32_t prev_remaining_minute = 0, prev_remaining_hour = 0;

    for (int i = 0; i < kRequestsPerRun; ++i) {
        t = arrivals.next(t, i);
        SCOPED_TRACE(testing::Message() << "request " << i << " at t=" << t << " us");
        const TrackedIp before = entry;
        const WindowCounts counts_before = counts_at(before, seconds(t), settings);
        const int64_t ring_minute = log.bucket_count(t, kMinuteBucketS);
        const int64_t ring_hour = log.bucket_count(t, kHourBucketS);
        ASSERT_EQ(counts_before.minute, ring_minute);
        ASSERT_EQ(counts_before.hour, ring_hour);

        Verdict v = admit(entry, t, 100, settings);
        const WindowCounts counts_after = counts_at(entry, seconds(t), settings);

        // The decision is exactly "fewer than limit in the 11 sub-buckets".
        const bool expect_allowed = ring_minute < limits.per_minute && ring_hour < limits.per_hour;
        ASSERT_EQ(v.allowed, expect_allowed)
            << "minute sub-buckets hold " << ring_minute << ", hour sub-buckets hold " << ring_hour;

        if (v.allowed) {
            log.add(t);
            ++*allowed_total;
            EXPECT_EQ(v.reason, Reason::kOk);
            EXPECT_EQ(v.retry_after_s, 0);
            EXPECT_EQ(v.strikes_added, 0u);
            EXPECT_FALSE(v.auto_block.triggered);
            EXPECT_EQ(retry_after(before, t, settings), 0);

            // (a) no trailing window holds more than the limit.
            ASSERT_LE(log.count(t - 60 * kUs, t), limits.per_minute);
            ASSERT_LE(log.count(t - 3600 * kUs, t), limits.per_hour);

            // (c) an allowed request uses exactly one unit of each window.
            ASSERT_EQ(counts_after.minute, counts_before.minute + 1);
            ASSERT_EQ(counts_after.hour, counts_before.hour + 1);

            // (e) remaining = limit - the sub-bucket count, never negative, and one
            // less per allowed request within one sub-bucket.
            ASSERT_GE(v.remaining_minute, 0);
            ASSERT_GE(v.remaining_hour, 0);
            ASSERT_EQ(v.remaining_minute,
                      static_cast<int32_t>(limits.per_minute) - (ring_minute + 1));
            ASSERT_EQ(v.remaining_hour, static_cast<int32_t>(limits.per_hour) - (ring_hour + 1));
            // The sub-bucket count lies between the exact W and 1.1 W sliding counts.
            int64_t used_minute = limits.per_minute - v.remaining_minute;
            int64_t used_hour = limits.per_hour - v.remaining_hour;
            ASSERT_LE(log.count(t - 60 * kUs, t), used_minute);
            ASSERT_GE(log.count(t - 66 * kUs, t), used_minute);
            ASSERT_LE(log.count(t - 3600 * kUs, t), used_hour);
            ASSERT_GE(log.count(t - 3960 * kUs, t), used_hour);

            int64_t minute_bucket = seconds(t) / kMinuteBucketS;
            int64_t hour_bucket = seconds(t) / kHourBucketS;
            if (minute_bucket == prev_allowed_minute_bucket) {
                ASSERT_EQ(v.remaining_minute, prev_remaining_minute - 1);
            }
            if (hour_bucket == prev_allowed_hour_bucket) {
                ASSERT_EQ(v.remaining_hour, prev_remaining_hour - 1);
            }
            prev_allowed_minute_bucket = minute_bucket;
            prev_allowed_hour_bucket = hour_bucket;
            prev_remaining_minute = v.remaining_minute;
            prev_remaining_hour = v.remaining_hour;
            continue;
        }

        // (b) a refusal names a window that really is full, looking back <= 1.1 W.
        ASSERT_TRUE(v.reason == Reason::kRateLimitMinute || v.reason == Reason::kRateLimitHour)
            << reason_name(v.reason);
        if (v.reason == Reason::kRateLimitMinute) {
            ++*refused_minute;
            ASSERT_GE(log.count(t - 66 * kUs, t), limits.per_minute);
            ASSERT_GE(ring_minute, limits.per_minute);
        } else {
            ++*refused_hour;
            ASSERT_GE(log.count(t - 3960 * kUs, t), limits.per_hour);
            ASSERT_GE(ring_hour, limits.per_hour);
        }
        ASSERT_GE(v.remaining_minute, 0);
        ASSERT_GE(v.remaining_hour, 0);

        // (c) a refusal uses no quota.
        ASSERT_EQ(counts_after.minute, counts_before.minute);
        ASSERT_EQ(counts_after.hour, counts_before.hour);
        ASSERT_EQ(counts_after.minute, ring_minute);
        ASSERT_EQ(counts_after.hour, ring_hour);

        // (d) retry_after_s is exact to the second.
        ASSERT_GE(v.retry_after_s, 1);
        ASSERT_EQ(retry_after(entry, t, settings), v.retry_after_s);
        ASSERT_EQ(retry_after(before, t, settings), v.retry_after_s);
        {
            TrackedIp later = entry;
            Verdict retry = admit(later, t + v.retry_after_s * kUs, 100, settings);
            ASSERT_TRUE(retry.allowed) << "refused again at t + retry_after_s (" << v.retry_after_s
                                       << " s): " << reason_name(retry.reason);
        }
        if (v.retry_after_s >= 2) {
            TrackedIp early = entry;
            Verdict retry = admit(early, t + (v.retry_after_s - 1) * kUs, 100, settings);
            ASSERT_FALSE(retry.allowed)
                << "allowed at t + retry_after_s - 1 (" << v.retry_after_s - 1 << " s)";
        }
    }
}

TEST(RateLimiterProperty, SlidingWindowMatchesOracle) {
    const std::vector<Limits> all_limits = {
        {5, 20}, {100, 1000}, {5, 1000}, {100, 20}, {50, 50}, {1, 1000}, {7, 3},
    };
    const std::vector<Pattern> patterns = {Pattern::kBursty, Pattern::kSteadyAboveLimit,
                                           Pattern::kRandomGaps, Pattern::kIdleThenBurst,
                                           Pattern::kBucketEdges};
    int64_t allowed = 0, refused_minute = 0, refused_hour = 0;
    for (int s = 0; s < kSeeds; ++s) {
        for (size_t l = 0; l < all_limits.size(); ++l) {
            for (Pattern pattern : patterns) {
                const Limits& limits = all_limits[l];
                uint64_t seed = 0x5eed0000ULL + static_cast<uint64_t>(s) * 1000 + l * 10 +
                                static_cast<uint64_t>(pattern);
                SCOPED_TRACE(testing::Message()
                             << "seed " << seed << ", per_minute " << limits.per_minute
                             << ", per_hour " << limits.per_hour << ", pattern "
                             << pattern_name(pattern));
                run_scenario(seed, limits, pattern, &allowed, &refused_minute, &refused_hour);
                if (HasFatalFailure()) return;
            }
        }
    }
    // The patterns must actually exercise both kinds of refusal, or the checks above
    // prove little.
    EXPECT_GT(allowed, 100000);
    EXPECT_GT(refused_minute, 10000);
    EXPECT_GT(refused_hour, 10000);
    RecordProperty("allowed", std::to_string(allowed));
    RecordProperty("refused_minute", std::to_string(refused_minute));
    RecordProperty("refused_hour", std::to_string(refused_hour));
}

// A fixed one-minute window would allow `limit` at 0:59.9 and `limit` more at 1:00.1;
// the sliding window allows `limit` in total across the boundary.
TEST(RateLimiterProperty, StricterThanFixedWindowAtMinuteBoundary) {
    GuardSettings settings = settings_for({10, 100000});
    const int64_t minute_start = (kStartUs / (60 * kUs)) * 60 * kUs;
    TrackedIp entry;
    init_tracked(entry, *IpAddress::parse("192.0.2.2"), seconds(minute_start));

    int allowed = 0;
    for (int i = 0; i < 10; ++i) {
        Verdict v = admit(entry, minute_start + 59'900'000 + i, 100, settings);
        EXPECT_TRUE(v.allowed) << "request " << i;
        allowed += v.allowed;
    }
    const int64_t next_minute = minute_start + 60 * kUs;
    for (int i = 0; i < 10; ++i) {
        Verdict v = admit(entry, next_minute + 100'000 + i, 100, settings);
        EXPECT_FALSE(v.allowed) << "request " << i << " in the next minute";
        EXPECT_EQ(v.reason, Reason::kRateLimitMinute);
        // The burst sits in the sub-bucket [54 s, 60 s); it leaves the window at
        // next_minute + 60 s, 59.9 s from now: retry after 60 s.
        EXPECT_EQ(v.retry_after_s, 60);
        allowed += v.allowed;
    }
    EXPECT_EQ(allowed, 10);

    // Just before the burst's sub-bucket leaves the window it still counts...
    EXPECT_FALSE(admit(entry, next_minute + 59 * kUs + 999'999, 100, settings).allowed);
    // ...and right after it, the full limit is available again.
    for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(admit(entry, next_minute + 60 * kUs + i, 100, settings).allowed) << i;
    }
    EXPECT_FALSE(admit(entry, next_minute + 60 * kUs + 10, 100, settings).allowed);
}

// The same for the hour window: a burst late in one hour plus one early in the next.
TEST(RateLimiterProperty, StricterThanFixedWindowAtHourBoundary) {
    GuardSettings settings = settings_for({1000, 30});
    const int64_t hour_start = (kStartUs / (3600 * kUs)) * 3600 * kUs;
    TrackedIp entry;
    init_tracked(entry, *IpAddress::parse("192.0.2.3"), seconds(hour_start));
    int allowed = 0;
    for (int i = 0; i < 30; ++i)
        allowed += admit(entry, hour_start + 3599 * kUs + i, 1, settings).allowed;
    EXPECT_EQ(allowed, 30);
    for (int i = 0; i < 30; ++i) {
        Verdict v = admit(entry, hour_start + 3601 * kUs + i, 1, settings);
        EXPECT_FALSE(v.allowed);
        EXPECT_EQ(v.reason, Reason::kRateLimitHour);
        allowed += v.allowed;
    }
    EXPECT_EQ(allowed, 30);
}

// A clock that steps back 10 s neither resets nor corrupts the windows.
TEST(RateLimiterProperty, ClockSteppingBackwardsKeepsCounts) {
    GuardSettings settings = settings_for({5, 20});
    const int64_t t0 = kStartUs + 30 * kUs;
    TrackedIp entry;
    init_tracked(entry, *IpAddress::parse("192.0.2.4"), seconds(t0));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(admit(entry, t0 + i * kUs, 1, settings).allowed);
    const int64_t t1 = t0 + 2 * kUs;
    WindowCounts at_t1 = counts_at(entry, seconds(t1), settings);
    EXPECT_EQ(at_t1.minute, 3u);
    EXPECT_EQ(at_t1.hour, 3u);

    // Back 10 s: the entry is not rewound, counts are what they were.
    const int64_t back = t1 - 10 * kUs;
    EXPECT_EQ(counts_at(entry, seconds(back), settings).minute, 3u);
    Verdict v = admit(entry, back, 1, settings);
    EXPECT_TRUE(v.allowed);
    EXPECT_EQ(v.remaining_minute, 1);
    EXPECT_EQ(v.remaining_hour, 16);
    EXPECT_EQ(entry.last_seen_s, seconds(t1));
    v = admit(entry, back + 1, 1, settings);
    EXPECT_TRUE(v.allowed);
    EXPECT_EQ(v.remaining_minute, 0);
    // The limit still holds while the clock is behind.
    v = admit(entry, back + 2, 1, settings);
    EXPECT_FALSE(v.allowed);
    EXPECT_EQ(v.reason, Reason::kRateLimitMinute);
    EXPECT_GE(v.retry_after_s, 1);
    EXPECT_EQ(counts_at(entry, seconds(t1), settings).minute, 5u);
    EXPECT_EQ(counts_at(entry, seconds(t1), settings).hour, 5u);

    // Once the clock is back past t1 the counts continue from where they were: the
    // requests made while the clock was behind count at t1, not 10 s earlier, and
    // everything leaves the window together.
    v = admit(entry, t1 + kUs, 1, settings);
    EXPECT_FALSE(v.allowed);
    EXPECT_EQ(counts_at(entry, seconds(t1 + kUs), settings).minute, 5u);
    int32_t wait = retry_after(entry, t1 + kUs, settings);
    EXPECT_GE(wait, 55);
    EXPECT_LE(wait, 66);
    EXPECT_TRUE(admit(entry, t1 + kUs + wait * kUs, 1, settings).allowed);
    EXPECT_EQ(counts_at(entry, seconds(t1 + kUs + wait * kUs), settings).hour, 6u);
}

// A randomized clock that sometimes steps back by up to 10 s: the windows, measured in
// the entry's own (never rewound) time, still never exceed the limits.
TEST(RateLimiterProperty, JitteryClockNeverExceedsLimits) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        SCOPED_TRACE(testing::Message() << "seed " << seed);
        std::mt19937_64 rng(seed);
        GuardSettings settings = settings_for({8, 40});
        int64_t clock = kStartUs + 123'456;
        TrackedIp entry;
        init_tracked(entry, *IpAddress::parse("192.0.2.5"), seconds(clock));
        SlidingLog log;  // effective (clamped) times of allowed requests
        int64_t last_effective = clock;
        for (int i = 0; i < 3000; ++i) {
            int64_t step = std::uniform_int_distribution<int64_t>(-10 * kUs, 20 * kUs)(rng);
            clock += step;
            // What the entry considers "now": never before its last seen second.
            int64_t effective = std::max<int64_t>(clock, int64_t{entry.last_seen_s} * kUs);
            uint32_t seen_before = entry.last_seen_s;
            WindowCounts before = counts_at(entry, seconds(effective), settings);
            Verdict v = admit(entry, clock, 1, settings);
            ASSERT_GE(entry.last_seen_s, seen_before) << "entry rewound";
            WindowCounts after = counts_at(entry, seconds(effective), settings);
            if (v.allowed) {
                last_effective = std::max(last_effective, effective);
                log.add(last_effective);
                ASSERT_EQ(after.minute, before.minute + 1);
                ASSERT_LE(log.count(last_effective - 60 * kUs, last_effective), 8);
                ASSERT_LE(log.count(last_effective - 3600 * kUs, last_effective), 40);
            } else {
                ASSERT_EQ(after.minute, before.minute);
                ASSERT_EQ(after.hour, before.hour);
            }
            ASSERT_LE(after.minute, 8u);
            ASSERT_LE(after.hour, 40u);
        }
    }
}

}  // namespace
}  // namespace infra::core
