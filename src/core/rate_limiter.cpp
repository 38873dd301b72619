// rate_limiter.cpp: sliding windows of sub-buckets, strikes and automatic blocks.
#include "core/rate_limiter.hpp"

#include <algorithm>
#include <cstring>

namespace infra::core {

namespace {

constexpr int64_t kMicros = 1000000;

int64_t ring_slot(int64_t index, int size) {
    return ((index % size) + size) % size;
}

// Zeroes the sub-buckets that time has moved past between two bucket indexes.
template <typename T, int N>
void advance_ring(T (&ring)[N], int64_t old_index, int64_t new_index) {
    if (new_index <= old_index) return;
    int64_t steps = std::min<int64_t>(new_index - old_index, N);
    for (int64_t i = 1; i <= steps; ++i) ring[ring_slot(old_index + i, N)] = 0;
}

template <typename T, int N>
uint64_t ring_sum(const T (&ring)[N]) {
    uint64_t sum = 0;
    for (int i = 0; i < N; ++i) sum += ring[i];
    return sum;
}

// The first instant (microseconds) at which the window's count drops below `limit`,
// given the ring is current at bucket `current`. 0 when it already is below.
template <typename T, int N>
int64_t next_allowed_us(const T (&ring)[N], int64_t current, uint32_t bucket_s, uint32_t limit) {
    uint64_t count = ring_sum(ring);
    if (count < limit) return 0;
    for (int64_t k = current - (N - 1); k <= current; ++k) {
        count -= ring[ring_slot(k, N)];
        // Bucket k leaves the window when the current bucket becomes k + N.
        if (count < limit) return (k + N) * static_cast<int64_t>(bucket_s) * kMicros;
    }
    return (current + N) * static_cast<int64_t>(bucket_s) * kMicros;  // unreachable: limit >= 1
}

uint32_t strike_bucket_s(const GuardSettings& settings) {
    return std::max<uint32_t>(1, settings.strike_window_s / kStrikeBuckets);
}

// Moves every ring of the entry forward to now_s and records it as last seen.
void advance_to(TrackedIp& entry, uint32_t now_s, const GuardSettings& settings) {
    uint32_t then = entry.last_seen_s;
    if (now_s <= then) return;
    advance_ring(entry.minute, then / kMinuteBucketS, now_s / kMinuteBucketS);
    advance_ring(entry.hour, then / kHourBucketS, now_s / kHourBucketS);
    uint32_t strike_s = strike_bucket_s(settings);
    advance_ring(entry.strikes, then / strike_s, now_s / strike_s);
    entry.last_seen_s = now_s;
}

int32_t remaining(uint64_t used, uint32_t limit) {
    return used >= limit ? 0 : static_cast<int32_t>(limit - used);
}

int32_t seconds_until(int64_t at_us, int64_t now_us) {
    int64_t wait = at_us - now_us;
    if (wait <= 0) return 0;
    return static_cast<int32_t>((wait + kMicros - 1) / kMicros);
}

uint32_t clamp_now(const TrackedIp& entry, int64_t* now_us) {
    // A clock that steps back never rewinds an entry: its rings stay where they are.
    int64_t floor_us = static_cast<int64_t>(entry.last_seen_s) * kMicros;
    if (*now_us < floor_us) *now_us = floor_us;
    return static_cast<uint32_t>(*now_us / kMicros);
}

}  // namespace

const char* reason_name(Reason reason) {
    switch (reason) {
        case Reason::kOk:
            return "ok";
        case Reason::kAllowlisted:
            return "allowlisted";
        case Reason::kBlocked:
            return "blocked";
        case Reason::kRateLimitMinute:
            return "rate_limit_minute";
        case Reason::kRateLimitHour:
            return "rate_limit_hour";
        case Reason::kRequestTooLarge:
            return "request_too_large";
    }
    return "ok";
}

void init_tracked(TrackedIp& entry, const IpAddress& key, uint32_t now_s) {
    std::memset(&entry, 0, sizeof entry);
    entry.key = key;
    entry.last_seen_s = now_s;
    entry.first_seen_s = now_s;
    entry.in_use = 1;
}

AutoBlock add_strikes(TrackedIp& entry, uint32_t now_s, uint32_t weight,
                      const GuardSettings& settings) {
    AutoBlock block;
    if (now_s < entry.last_seen_s) now_s = entry.last_seen_s;
    advance_to(entry, now_s, settings);
    if (weight == 0 || entry.block_until_s > now_s) return block;  // already blocked
    uint8_t& slot = entry.strikes[ring_slot(now_s / strike_bucket_s(settings), kStrikeBuckets)];
    slot = static_cast<uint8_t>(std::min<uint64_t>(255, uint64_t{slot} + weight));
    if (ring_sum(entry.strikes) < settings.suspicious_threshold) return block;

    // Threshold reached: block, doubling the duration for each earlier offence.
    uint64_t duration = settings.block_duration_s;
    duration <<= std::min<uint32_t>(entry.offences, 32);
    duration = std::min<uint64_t>(duration, settings.max_block_duration_s);
    duration = std::max<uint64_t>(duration, 1);
    if (entry.offences < 255) ++entry.offences;
    std::memset(entry.strikes, 0, sizeof entry.strikes);
    entry.block_until_s = now_s + static_cast<uint32_t>(duration);
    block.triggered = true;
    block.duration_s = static_cast<uint32_t>(duration);
    block.offence = entry.offences;
    return block;
}

Verdict admit(TrackedIp& entry, int64_t now_us, int64_t request_bytes,
              const GuardSettings& settings) {
    uint32_t now_s = clamp_now(entry, &now_us);
    advance_to(entry, now_s, settings);

    Verdict verdict;
    uint64_t minute_used = ring_sum(entry.minute);
    uint64_t hour_used = ring_sum(entry.hour);
    verdict.remaining_minute = remaining(minute_used, settings.per_minute);
    verdict.remaining_hour = remaining(hour_used, settings.per_hour);

    if (request_bytes > settings.max_request_bytes) {
        verdict.allowed = false;
        verdict.reason = Reason::kRequestTooLarge;
        verdict.strikes_added = 1;
        verdict.auto_block = add_strikes(entry, now_s, 1, settings);
        return verdict;
    }

    int64_t minute_at =
        next_allowed_us(entry.minute, now_s / kMinuteBucketS, kMinuteBucketS, settings.per_minute);
    int64_t hour_at =
        next_allowed_us(entry.hour, now_s / kHourBucketS, kHourBucketS, settings.per_hour);
    if (minute_at == 0 && hour_at == 0) {
        ++entry.minute[ring_slot(now_s / kMinuteBucketS, kWindowBuckets)];
        ++entry.hour[ring_slot(now_s / kHourBucketS, kWindowBuckets)];
        verdict.remaining_minute = remaining(minute_used + 1, settings.per_minute);
        verdict.remaining_hour = remaining(hour_used + 1, settings.per_hour);
        return verdict;
    }

    verdict.allowed = false;
    verdict.reason = hour_at >= minute_at ? Reason::kRateLimitHour : Reason::kRateLimitMinute;
    verdict.retry_after_s = std::max(1, seconds_until(std::max(minute_at, hour_at), now_us));

    // The first refusal by a limit within one window's length earns one strike.
    uint32_t strikes = 0;
    if (minute_at != 0 &&
        (entry.minute_strike_s == 0 || now_s - entry.minute_strike_s >= kMinuteWindowS)) {
        entry.minute_strike_s = now_s;
        ++strikes;
    }
    if (hour_at != 0 && (entry.hour_strike_s == 0 || now_s - entry.hour_strike_s >= kHourWindowS)) {
        entry.hour_strike_s = now_s;
        ++strikes;
    }
    verdict.strikes_added = strikes;
    if (strikes > 0) verdict.auto_block = add_strikes(entry, now_s, strikes, settings);
    return verdict;
}

WindowCounts counts_at(const TrackedIp& entry, uint32_t now_s, const GuardSettings& settings) {
    TrackedIp copy = entry;
    advance_to(copy, std::max(now_s, copy.last_seen_s), settings);
    WindowCounts counts;
    counts.minute = static_cast<uint32_t>(ring_sum(copy.minute));
    counts.hour = static_cast<uint32_t>(ring_sum(copy.hour));
    counts.strikes = static_cast<uint32_t>(ring_sum(copy.strikes));
    return counts;
}

int32_t retry_after(const TrackedIp& entry, int64_t now_us, const GuardSettings& settings) {
    TrackedIp copy = entry;
    uint32_t now_s = clamp_now(copy, &now_us);
    advance_to(copy, now_s, settings);
    int64_t minute_at =
        next_allowed_us(copy.minute, now_s / kMinuteBucketS, kMinuteBucketS, settings.per_minute);
    int64_t hour_at =
        next_allowed_us(copy.hour, now_s / kHourBucketS, kHourBucketS, settings.per_hour);
    return seconds_until(std::max(minute_at, hour_at), now_us);
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
