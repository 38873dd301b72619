// rate_limiter_strikes_test.cpp: tests strikes and automatic blocks in
// src/core/rate_limiter.*: oversized requests, one strike per window for limit
// refusals, the suspicious threshold within the strike window, block-duration
// escalation (x2 per offence, capped), strikes ageing out, add_strikes while blocked,
// and weighted strikes.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "core/ip_address.hpp"
#include "core/rate_limiter.hpp"

namespace infra::core {
namespace {

constexpr int64_t kUs = 1000000;
// A realistic start, aligned to the hour so sub-bucket edges are easy to reason about.
constexpr uint32_t kT0 = 800'000'000u / 3600u * 3600u;

int64_t us(uint32_t s) {
    return int64_t{s} * kUs;
}

class Strikes : public testing::Test {
  protected:
    Strikes() {
        settings.per_minute = 1000;
        settings.per_hour = 100000;
        settings.max_request_bytes = 1000;
        settings.suspicious_threshold = 5;
        settings.strike_window_s = 600;
        settings.block_duration_s = 3600;
        settings.max_block_duration_s = 7 * 86400;
        init_tracked(entry, *IpAddress::parse("198.51.100.7"), kT0);
    }
    uint32_t strikes_at(uint32_t s) const { return counts_at(entry, s, settings).strikes; }

    GuardSettings settings;
    TrackedIp entry;
};

TEST_F(Strikes, InitTrackedStartsClean) {
    EXPECT_EQ(entry.key, *IpAddress::parse("198.51.100.7"));
    EXPECT_EQ(entry.first_seen_s, kT0);
    EXPECT_EQ(entry.last_seen_s, kT0);
    EXPECT_EQ(entry.block_until_s, 0u);
    EXPECT_EQ(entry.offences, 0);
    EXPECT_EQ(entry.in_use, 1);
    WindowCounts c = counts_at(entry, kT0, settings);
    EXPECT_EQ(c.minute, 0u);
    EXPECT_EQ(c.hour, 0u);
    EXPECT_EQ(c.strikes, 0u);
}

TEST_F(Strikes, OversizedRequestIsRefusedWithOneStrikeAndNoQuota) {
    Verdict ok = admit(entry, us(kT0), 1000, settings);  // exactly the maximum is fine
    EXPECT_TRUE(ok.allowed);
    EXPECT_EQ(ok.strikes_added, 0u);

    Verdict v = admit(entry, us(kT0) + 1, 1001, settings);
    EXPECT_FALSE(v.allowed);
    EXPECT_EQ(v.reason, Reason::kRequestTooLarge);
    EXPECT_EQ(v.strikes_added, 1u);
    EXPECT_FALSE(v.auto_block.triggered);
    EXPECT_EQ(v.remaining_minute, 999);  // the oversized request used no quota
    WindowCounts c = counts_at(entry, kT0, settings);
    EXPECT_EQ(c.minute, 1u);
    EXPECT_EQ(c.hour, 1u);
    EXPECT_EQ(c.strikes, 1u);

    // Every oversized request earns a strike (no per-window rate limiting of these).
    EXPECT_EQ(admit(entry, us(kT0) + 2, 5000, settings).strikes_added, 1u);
    EXPECT_EQ(strikes_at(kT0), 2u);
    EXPECT_EQ(counts_at(entry, kT0, settings).minute, 1u);
}

TEST_F(Strikes, MinuteLimitEarnsOneStrikePerMinute) {
    settings.per_minute = 2;
    ASSERT_TRUE(admit(entry, us(kT0), 1, settings).allowed);
    ASSERT_TRUE(admit(entry, us(kT0) + 1, 1, settings).allowed);

    Verdict first = admit(entry, us(kT0 + 1), 1, settings);
    EXPECT_FALSE(first.allowed);
    EXPECT_EQ(first.reason, Reason::kRateLimitMinute);
    EXPECT_EQ(first.strikes_added, 1u);
    EXPECT_EQ(strikes_at(kT0 + 1), 1u);

    // Further refusals within 60 s of that strike add nothing.
    for (uint32_t s : {2u, 10u, 30u, 59u, 60u}) {
        Verdict v = admit(entry, us(kT0 + s), 1, settings);
        EXPECT_FALSE(v.allowed) << s;
        EXPECT_EQ(v.strikes_added, 0u) << s;
    }
    EXPECT_EQ(strikes_at(kT0 + 60), 1u);

    // 60 s after the first strike the (still full) window earns another one.
    Verdict again = admit(entry, us(kT0 + 61), 1, settings);
    EXPECT_FALSE(again.allowed);
    EXPECT_EQ(again.strikes_added, 1u);
    EXPECT_EQ(strikes_at(kT0 + 61), 2u);
    EXPECT_EQ(counts_at(entry, kT0 + 61, settings).minute, 2u);  // refusals used no quota
}

TEST_F(Strikes, HourLimitEarnsOneStrikePerHour) {
    settings.per_hour = 3;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(admit(entry, us(kT0) + i, 1, settings).allowed);
    Verdict first = admit(entry, us(kT0 + 100), 1, settings);
    EXPECT_FALSE(first.allowed);
    EXPECT_EQ(first.reason, Reason::kRateLimitHour);
    EXPECT_EQ(first.strikes_added, 1u);
    for (uint32_t s : {200u, 1000u, 3000u, 3699u}) {
        Verdict v = admit(entry, us(kT0 + s), 1, settings);
        EXPECT_FALSE(v.allowed) << s;
        EXPECT_EQ(v.strikes_added, 0u) << s;
    }
    // The requests at kT0 are still inside the 11 hour sub-buckets at kT0 + 3700.
    Verdict again = admit(entry, us(kT0 + 3700), 1, settings);
    EXPECT_FALSE(again.allowed);
    EXPECT_EQ(again.strikes_added, 1u);
    // Strikes older than the 600 s strike window are gone: only the newest counts.
    EXPECT_EQ(strikes_at(kT0 + 3700), 1u);
}

TEST_F(Strikes, BothLimitsAtOnceEarnTwoStrikes) {
    settings.per_minute = 2;
    settings.per_hour = 2;
    ASSERT_TRUE(admit(entry, us(kT0), 1, settings).allowed);
    ASSERT_TRUE(admit(entry, us(kT0), 1, settings).allowed);
    Verdict v = admit(entry, us(kT0), 1, settings);
    EXPECT_FALSE(v.allowed);
    EXPECT_EQ(v.strikes_added, 2u);
    EXPECT_EQ(strikes_at(kT0), 2u);
}

TEST_F(Strikes, ThresholdTriggersAutoBlock) {
    for (int i = 0; i < 4; ++i) {
        AutoBlock b = add_strikes(entry, kT0 + i * 10, 1, settings);
        EXPECT_FALSE(b.triggered) << i;
    }
    EXPECT_EQ(strikes_at(kT0 + 30), 4u);
    AutoBlock b = add_strikes(entry, kT0 + 40, 1, settings);
    EXPECT_TRUE(b.triggered);
    EXPECT_EQ(b.duration_s, 3600u);
    EXPECT_EQ(b.offence, 1);
    EXPECT_EQ(entry.block_until_s, kT0 + 40 + 3600);
    EXPECT_EQ(entry.offences, 1);
    EXPECT_EQ(strikes_at(kT0 + 40), 0u);  // the strikes were used up by the block
}

TEST_F(Strikes, OversizedRequestsTriggerAutoBlockThroughAdmit) {
    for (int i = 0; i < 4; ++i) {
        Verdict v = admit(entry, us(kT0 + i), 2000, settings);
        EXPECT_FALSE(v.auto_block.triggered) << i;
    }
    Verdict v = admit(entry, us(kT0 + 4), 2000, settings);
    EXPECT_EQ(v.reason, Reason::kRequestTooLarge);
    EXPECT_TRUE(v.auto_block.triggered);
    EXPECT_EQ(v.auto_block.duration_s, 3600u);
    EXPECT_EQ(v.auto_block.offence, 1);
    EXPECT_EQ(entry.block_until_s, kT0 + 4 + 3600);
}

TEST_F(Strikes, LimitRefusalsTriggerAutoBlockThroughAdmit) {
    settings.per_minute = 1;
    settings.suspicious_threshold = 3;
    // One strike per minute of refusals: three minutes of hammering block the client.
    uint32_t s = kT0;
    int blocks = 0;
    AutoBlock seen;
    for (int minute = 0; minute < 3; ++minute) {
        for (int i = 0; i < 30; ++i, s += 2) {
            Verdict v = admit(entry, us(s), 1, settings);
            if (v.auto_block.triggered) {
                ++blocks;
                seen = v.auto_block;
            }
        }
    }
    EXPECT_EQ(blocks, 1);
    EXPECT_EQ(seen.duration_s, 3600u);
    EXPECT_EQ(seen.offence, 1);
    EXPECT_GT(entry.block_until_s, kT0);
}

TEST_F(Strikes, RepeatOffencesDoubleTheBlock) {
    uint32_t now = kT0;
    const uint32_t expected[] = {3600, 7200, 14400, 28800};
    for (int offence = 1; offence <= 4; ++offence) {
        AutoBlock b = add_strikes(entry, now, 5, settings);
        ASSERT_TRUE(b.triggered) << offence;
        EXPECT_EQ(b.duration_s, expected[offence - 1]) << offence;
        EXPECT_EQ(b.offence, offence);
        EXPECT_EQ(entry.block_until_s, now + expected[offence - 1]);
        now = entry.block_until_s;  // the block has just run out
    }
}

TEST_F(Strikes, BlockDurationIsCapped) {
    settings.max_block_duration_s = 10000;
    uint32_t now = kT0;
    const uint32_t expected[] = {3600, 7200, 10000, 10000, 10000};
    for (int offence = 1; offence <= 5; ++offence) {
        AutoBlock b = add_strikes(entry, now, 5, settings);
        ASSERT_TRUE(b.triggered);
        EXPECT_EQ(b.duration_s, expected[offence - 1]) << offence;
        now = entry.block_until_s + 1;
    }
    // Many offences later (the shift would overflow 32 bits) it stays at the cap.
    for (int offence = 6; offence <= 60; ++offence) {
        AutoBlock b = add_strikes(entry, now, 5, settings);
        ASSERT_TRUE(b.triggered);
        EXPECT_EQ(b.duration_s, 10000u) << offence;
        EXPECT_EQ(b.offence, offence);
        now = entry.block_until_s + 1;
    }
    settings.max_block_duration_s = 7 * 86400;
    AutoBlock b = add_strikes(entry, now, 5, settings);
    EXPECT_EQ(b.duration_s, 7u * 86400u);
}

TEST_F(Strikes, StrikesOlderThanTheWindowDoNotCount) {
    // Five strikes 151 s apart span 604 s > strike_window_s (600): never five at once.
    for (int i = 0; i < 5; ++i) {
        AutoBlock b = add_strikes(entry, kT0 + i * 151, 1, settings);
        EXPECT_FALSE(b.triggered) << i;
    }
    EXPECT_EQ(strikes_at(kT0 + 604), 4u);
    EXPECT_EQ(entry.block_until_s, 0u);
    // A sixth one now makes five within the window.
    EXPECT_TRUE(add_strikes(entry, kT0 + 605, 1, settings).triggered);
}

TEST_F(Strikes, StrikesWithinTheWindowAllCount) {
    for (int i = 0; i < 4; ++i)
        EXPECT_FALSE(add_strikes(entry, kT0 + i * 130, 1, settings).triggered);
    EXPECT_TRUE(add_strikes(entry, kT0 + 530, 1, settings).triggered);
}

TEST_F(Strikes, StrikesAgeOutCompletely) {
    add_strikes(entry, kT0, 4, settings);
    EXPECT_EQ(strikes_at(kT0 + 100), 4u);
    EXPECT_EQ(strikes_at(kT0 + 601), 0u);
    EXPECT_EQ(strikes_at(kT0 + 100000), 0u);
    EXPECT_FALSE(add_strikes(entry, kT0 + 700, 4, settings).triggered);
    EXPECT_EQ(strikes_at(kT0 + 700), 4u);
}

TEST_F(Strikes, AddStrikesWhileBlockedIsANoOp) {
    ASSERT_TRUE(add_strikes(entry, kT0, 5, settings).triggered);
    const uint32_t until = entry.block_until_s;
    for (uint32_t s : {1u, 100u, 3599u}) {
        AutoBlock b = add_strikes(entry, kT0 + s, 10, settings);
        EXPECT_FALSE(b.triggered) << s;
        EXPECT_EQ(strikes_at(kT0 + s), 0u) << s;
        EXPECT_EQ(entry.block_until_s, until);
        EXPECT_EQ(entry.offences, 1);
    }
    // Oversized requests while blocked do not add up either.
    Verdict v = admit(entry, us(kT0 + 3000), 5000, settings);
    EXPECT_FALSE(v.auto_block.triggered);
    EXPECT_EQ(strikes_at(kT0 + 3000), 0u);
    // Once the block has run out, strikes count again.
    EXPECT_FALSE(add_strikes(entry, until, 1, settings).triggered);
    EXPECT_EQ(strikes_at(until), 1u);
}

TEST_F(Strikes, WeightCountsAsSeveralStrikes) {
    EXPECT_FALSE(add_strikes(entry, kT0, 0, settings).triggered);
    EXPECT_EQ(strikes_at(kT0), 0u);
    EXPECT_FALSE(add_strikes(entry, kT0, 3, settings).triggered);
    EXPECT_EQ(strikes_at(kT0), 3u);
    AutoBlock b = add_strikes(entry, kT0 + 1, 2, settings);
    EXPECT_TRUE(b.triggered);
    EXPECT_EQ(b.offence, 1);
}

TEST_F(Strikes, WeightAtOrAboveThresholdBlocksAtOnce) {
    EXPECT_TRUE(add_strikes(entry, kT0, 5, settings).triggered);
    TrackedIp other;
    init_tracked(other, *IpAddress::parse("198.51.100.8"), kT0);
    EXPECT_TRUE(add_strikes(other, kT0, 200, settings).triggered);
}

TEST_F(Strikes, HugeWeightDoesNotWrapAround) {
    settings.suspicious_threshold = 100;
    EXPECT_FALSE(add_strikes(entry, kT0, 1, settings).triggered);
    AutoBlock b = add_strikes(entry, kT0, std::numeric_limits<uint32_t>::max(), settings);
    EXPECT_TRUE(b.triggered);
}

TEST_F(Strikes, ClockBehindLastSeenIsClamped) {
    ASSERT_TRUE(admit(entry, us(kT0 + 100), 1, settings).allowed);
    EXPECT_FALSE(add_strikes(entry, kT0 + 50, 4, settings).triggered);
    EXPECT_EQ(entry.last_seen_s, kT0 + 100);
    AutoBlock b = add_strikes(entry, kT0, 1, settings);
    EXPECT_TRUE(b.triggered);
    EXPECT_EQ(entry.block_until_s, kT0 + 100 + 3600);
}

TEST(RateLimiter, ReasonNames) {
    EXPECT_STREQ(reason_name(Reason::kOk), "ok");
    EXPECT_STREQ(reason_name(Reason::kAllowlisted), "allowlisted");
    EXPECT_STREQ(reason_name(Reason::kBlocked), "blocked");
    EXPECT_STREQ(reason_name(Reason::kRateLimitMinute), "rate_limit_minute");
    EXPECT_STREQ(reason_name(Reason::kRateLimitHour), "rate_limit_hour");
    EXPECT_STREQ(reason_name(Reason::kRequestTooLarge), "request_too_large");
}

}  // namespace
}  // namespace infra::core
