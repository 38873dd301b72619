// civil_time.hpp: calendar arithmetic (proleptic Gregorian) and the TimeZone interface
// the scheduler computes in.
//
// A CivilTime is a wall-clock reading (year, month, day, hour, minute, second) with no
// zone attached. A TimeZone maps instants (Unix seconds) to civil times and back. The
// core cannot use PostgreSQL's time-zone code (DESIGN.md rule 1), so the glue adapts
// pg_tz through this interface; the core itself only ships UTC and fixed offsets.
//
// Time-zone contract (every implementation must keep it; the cron search relies on it):
//  - to_civil is defined for every instant and is non-decreasing except at a
//    "fall back" transition, where it jumps backwards;
//  - from_civil(c) returns every instant t with to_civil(t) == c, ascending, without
//    duplicates: 0 instants when c is skipped by a forward jump (a DST gap), 1 normally,
//    2 when c is repeated by a backward jump (a fall-back overlap);
//  - the UTC offset (to_civil(t) - t) stays within +-kMaxUtcOffsetSeconds.
//
// The easiest way to implement a zone is UtcOffsetTimeZone: give the UTC offset in force
// at an instant (PostgreSQL: pg_localtime(...)->tm_gmtoff) and it derives both
// directions, assuming the offset changes at most once in any 12.5-hour period (true of
// every zone in the tz database).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infra::core {

struct CivilTime {
    int year = 1970;
    int month = 1;  // 1-12
    int day = 1;    // 1-31
    int hour = 0;   // 0-23
    int minute = 0;
    int second = 0;

    // "2025-03-30 02:30:00"
    std::string to_string() const;
};

bool operator==(const CivilTime& a, const CivilTime& b);
bool operator!=(const CivilTime& a, const CivilTime& b);
bool operator<(const CivilTime& a, const CivilTime& b);
bool operator<=(const CivilTime& a, const CivilTime& b);
bool operator>(const CivilTime& a, const CivilTime& b);
bool operator>=(const CivilTime& a, const CivilTime& b);

// Gregorian leap years: divisible by 4, except centuries not divisible by 400
// (2000 is a leap year, 2100 is not).
bool is_leap_year(int year);
// 28-31; month must be 1-12.
int days_in_month(int year, int month);
// Days since 1970-01-01 (negative before), and back.
int64_t days_from_civil(int year, int month, int day);
CivilTime civil_from_days(int64_t days);  // the time of day is 00:00:00
// 0 = Sunday ... 6 = Saturday.
int weekday_from_days(int64_t days);
int weekday(int year, int month, int day);
// Whether every field is in range (including the day for that month and year).
bool is_valid(const CivilTime& civil);

// The civil time as a count of seconds on a uniform civil time line, i.e. the Unix
// time it would be if the zone were UTC; and back. Used for civil arithmetic
// ("one minute later") that never consults a zone.
int64_t civil_to_seconds(const CivilTime& civil);
CivilTime civil_from_seconds(int64_t seconds);

// Instants the core accepts (0001-01-01 00:00:00 to 9999-12-31 23:59:59 UTC).
constexpr int64_t kMinSupportedUnixSeconds = -62135596800LL;
constexpr int64_t kMaxSupportedUnixSeconds = 253402300799LL;

// The largest UTC offset any TimeZone may report (POSIX allows up to 24:59:59).
constexpr int32_t kMaxUtcOffsetSeconds = 25 * 3600;

class TimeZone {
  public:
    virtual ~TimeZone() = default;
    // The wall-clock reading at an instant.
    virtual CivilTime to_civil(int64_t unix_seconds) const = 0;
    // Every instant whose wall-clock reading is `civil` (which must be valid), ascending:
    // empty = skipped by a DST gap, two = repeated in a fall-back overlap.
    virtual std::vector<int64_t> from_civil(const CivilTime& civil) const = 0;
};

// A zone described by its UTC offset (seconds east of UTC, local = UTC + offset) at each
// instant. Subclasses implement utc_offset_at only.
class UtcOffsetTimeZone : public TimeZone {
  public:
    virtual int32_t utc_offset_at(int64_t unix_seconds) const = 0;
    CivilTime to_civil(int64_t unix_seconds) const override;
    std::vector<int64_t> from_civil(const CivilTime& civil) const override;
};

class UtcTimeZone final : public UtcOffsetTimeZone {
  public:
    int32_t utc_offset_at(int64_t) const override { return 0; }
};

// A constant offset, seconds east of UTC: +19800 is UTC+05:30, -18000 is UTC-05:00.
// (Note that POSIX TZ strings use the opposite sign.) Throws Error(kInvalidArgument)
// outside +-kMaxUtcOffsetSeconds.
class FixedOffsetTimeZone final : public UtcOffsetTimeZone {
  public:
    explicit FixedOffsetTimeZone(int32_t offset_seconds);
    int32_t utc_offset_at(int64_t) const override { return offset_seconds_; }
    int32_t offset_seconds() const { return offset_seconds_; }

  private:
    int32_t offset_seconds_;
};

}  // namespace infra::core
