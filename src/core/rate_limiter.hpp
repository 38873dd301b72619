// rate_limiter.hpp: the request guard's per-client state and its decision rules.
//
// One TrackedIp holds everything the guard knows about one client key: two sliding
// windows (60 s and 3600 s), each a ring of 11 sub-buckets one tenth of the window
// wide, a ring of strike counts, and the escalation state for automatic blocks.
//
// Guarantees (proved by the property test in test/unit/rate_limiter_property_test.cpp):
//  - no trailing window [t - W, t] ever holds more allowed requests than the limit:
//    a request is allowed only when the 11 sub-buckets overlapping [t - W, t] hold
//    fewer than `limit` allowed requests;
//  - a request is refused by a limit only if `limit` requests were allowed within the
//    preceding 1.1 x W (the 11 sub-buckets never reach back further than that);
//  - refused requests do not use up quota, so retry_after_s is exact: it is the first
//    instant at which enough old sub-buckets have left the window.
//
// The struct is plain old data so it can live in shared memory; the functions here
// take the time as an argument (rule 4: time is injected) and do no locking: the
// caller holds the lock of the partition the entry lives in.
#pragma once

#include <cstdint>

#include "core/ip_address.hpp"

namespace infra::core {

struct GuardSettings {
    uint32_t per_minute = 100;
    uint32_t per_hour = 1000;
    int64_t max_request_bytes = 10 * 1024 * 1024;
    uint32_t suspicious_threshold = 5;
    uint32_t strike_window_s = 600;
    uint32_t block_duration_s = 3600;
    uint32_t max_block_duration_s = 7 * 86400;
    int ipv6_prefix = 64;
};

// Limits the sub-bucket counters can hold exactly.
constexpr uint32_t kMaxPerMinute = 65535;      // minute sub-buckets are uint16
constexpr uint32_t kMaxPerHour = 100000000;    // hour sub-buckets are uint32
constexpr uint32_t kMaxStrikeThreshold = 255;  // strike sub-buckets are uint8

constexpr int kWindowBuckets = 11;  // current sub-bucket + the 10 before it
constexpr uint32_t kMinuteWindowS = 60;
constexpr uint32_t kHourWindowS = 3600;
constexpr uint32_t kMinuteBucketS = kMinuteWindowS / 10;
constexpr uint32_t kHourBucketS = kHourWindowS / 10;
constexpr int kStrikeBuckets = 10;

enum class Reason : uint8_t {
    kOk = 0,
    kAllowlisted,
    kBlocked,
    kRateLimitMinute,
    kRateLimitHour,
    kRequestTooLarge,
};
constexpr int kReasonCount = 6;
const char* reason_name(Reason reason);

// One client's state. 120 bytes; see docs/guard.md for the memory budget.
struct TrackedIp {
    IpAddress key;         // the client key (IPv4 address or IPv6 prefix)
    uint32_t last_seen_s;  // seconds; every ring below is advanced to this second
    uint32_t first_seen_s;
    uint32_t block_until_s;    // automatic block in force until then (0 = none)
    uint32_t minute_strike_s;  // when the minute limit last earned a strike
    uint32_t hour_strike_s;
    uint32_t hour[kWindowBuckets];
    uint16_t minute[kWindowBuckets];
    uint16_t lru_prev;  // used by TrackedTable
    uint16_t lru_next;
    uint8_t strikes[kStrikeBuckets];
    uint8_t offences;  // automatic blocks so far: each one doubles the next duration
    uint8_t in_use;
};
static_assert(sizeof(TrackedIp) == 120, "TrackedIp must stay within the 128-byte budget");

// An automatic block the caller must put into the blocklist.
struct AutoBlock {
    bool triggered = false;
    uint32_t duration_s = 0;
    uint8_t offence = 0;  // 1 for the first block of this client, 2 for the second, ...
};

struct Verdict {
    bool allowed = true;
    Reason reason = Reason::kOk;
    int32_t retry_after_s = 0;  // 0 when allowed
    int32_t remaining_minute = 0;
    int32_t remaining_hour = 0;
    uint32_t strikes_added = 0;
    AutoBlock auto_block;
};

// What ip_stats shows; computed without changing the entry.
struct WindowCounts {
    uint32_t minute = 0;
    uint32_t hour = 0;
    uint32_t strikes = 0;
};

// Starts a fresh entry for `key` seen first at now_s.
void init_tracked(TrackedIp& entry, const IpAddress& key, uint32_t now_s);

// Decides one request of `request_bytes` at now_us (microseconds) and records it.
Verdict admit(TrackedIp& entry, int64_t now_us, int64_t request_bytes,
              const GuardSettings& settings);

// Adds `weight` strikes at now_s (report_suspicious); may trigger an automatic block.
AutoBlock add_strikes(TrackedIp& entry, uint32_t now_s, uint32_t weight,
                      const GuardSettings& settings);

// The counts as they stand at now_s, without modifying the entry.
WindowCounts counts_at(const TrackedIp& entry, uint32_t now_s, const GuardSettings& settings);

// Seconds until a request at now_us would be allowed by the window limits alone.
int32_t retry_after(const TrackedIp& entry, int64_t now_us, const GuardSettings& settings);

}  // namespace infra::core
