// cron.hpp: cron schedules (the backup scheduler's "when") and their fire times in a
// time zone with daylight-saving changes.
//
// Syntax (Vixie cron): five fields separated by spaces or tabs
//     minute 0-59 | hour 0-23 | day-of-month 1-31 | month 1-12 or JAN-DEC |
//     day-of-week 0-7 or SUN-SAT (0 and 7 are Sunday)
// Each field is `*`, a value, a range `a-b`, a stepped range `a-b/n`, a step `*/n`, or a
// comma-separated list of values and (stepped) ranges; names are case-insensitive. `*`
// cannot be part of a list, and a step needs a range or `*` before it (`5/15` is refused:
// write `5-59/15`). Aliases: @yearly = @annually = "0 0 1 1 *", @monthly = "0 0 1 * *",
// @weekly = "0 0 * * 0", @daily = @midnight = "0 0 * * *", @hourly = "0 * * * *".
//
// Day rule (Vixie cron, also cronie): if the day-of-month field or the day-of-week field
// is written as `*` or `*/n`, a day must match both fields; otherwise (both restricted) a
// day matches if EITHER matches: "0 0 13 * 5" fires on every 13th and on every Friday.
//
// Fire times. Matching happens on civil (wall-clock) minutes in the given zone; each
// matching civil minute m fires once, at the instant resolve(m):
//  - normally the one instant whose local time is m;
//  - in a fall-back overlap (m occurs twice), the FIRST occurrence only: never twice;
//  - in a DST gap (m never occurs, e.g. 02:30 on the spring-forward night in
//    Europe/Berlin), the first instant after the gap, i.e. the gap's end (03:00 local):
//    never skipped. Several minutes of one gap (02:00, 02:30) and the gap's end itself
//    (03:00) then share one instant, which fires once.
// resolve() is non-decreasing in m, so the fire times are the sorted set
// { resolve(m) : m matches }, and next_fire/latest_fire pick from it.
//
// Search. The civil search skips whole months, days and hours that cannot match (at most
// ~31 + 24 + 60 steps per matching month, never a minute-by-minute loop over a year).
// The Gregorian calendar, weekdays included, repeats exactly every 400 years, so a
// day that matches anywhere matches within any 400-year window: the search stops after
// one such cycle. can_fire() decides statically whether any day ever matches; only
// day-of-month/month combinations that do not exist ("0 0 30 2 *", "0 0 31 4,6,9,11 *")
// never fire, and next_fire returns std::nullopt for them at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/civil_time.hpp"

namespace infra::core {

class CronExpression {
  public:
    // Parses five fields or an alias. Throws Error(kInvalidArgument) naming what is wrong
    // (field count, which field and its allowed range, step, reversed range, unexpected
    // character, unknown name or alias) with a hint saying how to write it.
    static CronExpression parse(const std::string& text);

    // Canonical five-field form: parse(to_string()) == *this, and expressions with the
    // same value sets and day rule print the same ("@daily", "0 0 * * *",
    // "00 0 1-31 * SUN-SAT" all print "0 0 * * *"). Numbers only (Sunday = 0), `*` for a
    // full field, `*/n` for a step from the first value selecting 3+ values, else `a-b/n`
    // for a progression of 3+ values, else a list in which runs of 3+ values are ranges:
    // "*/15 9-17 * 1,6 1-5". A day field keeps `*/n` where the day rule needs it.
    std::string to_string() const;

    // Whether the civil minute matches (the seconds are ignored).
    bool matches(const CivilTime& civil) const;
    bool matches_day(int year, int month, int day) const;
    // Whether any day ever matches (see the header comment).
    bool can_fire() const;

    // Bit i set = value i allowed: minute 0-59, hour 0-23, day 1-31, month 1-12,
    // weekday 0-6 (Sunday = 0; a 7 in the text sets bit 0).
    uint64_t minute_bits() const { return minutes_; }
    uint32_t hour_bits() const { return hours_; }
    uint32_t day_of_month_bits() const { return days_; }
    uint16_t month_bits() const { return months_; }
    uint8_t day_of_week_bits() const { return weekdays_; }
    // The day rule: true = both day fields must match ("AND"), false = either ("OR").
    // Canonically, the star flags say which day fields print as `*` or `*/n`.
    bool days_must_match_both() const { return dom_star_ || dow_star_; }
    bool day_of_month_star() const { return dom_star_; }
    bool day_of_week_star() const { return dow_star_; }

    // Same canonical form (hence the same matching minutes).
    bool operator==(const CronExpression& other) const;
    bool operator!=(const CronExpression& other) const { return !(*this == other); }

  private:
    CronExpression() = default;
    uint64_t minutes_ = 0;
    uint32_t hours_ = 0;
    uint32_t days_ = 0;
    uint16_t months_ = 0;
    uint8_t weekdays_ = 0;
    bool dom_star_ = false;
    bool dow_star_ = false;
};

// The first fire time strictly after `after_unix_seconds`, or std::nullopt if the
// expression never fires. Throws Error(kInvalidArgument) for an instant outside
// kMinSupportedUnixSeconds..kMaxSupportedUnixSeconds, and Error(kInternal) if the zone
// breaks the TimeZone contract (instead of searching on). The same holds below.
std::optional<int64_t> next_fire(const CronExpression& expr, const TimeZone& zone,
                                 int64_t after_unix_seconds);

// The last fire time at or before `at_unix_seconds`, or std::nullopt if there is none
// within the 400-year search (i.e. the expression never fires).
std::optional<int64_t> latest_fire(const CronExpression& expr, const TimeZone& zone,
                                   int64_t at_unix_seconds);

// For catching up after downtime: the latest fire time in (last_run_or_created, now],
// or std::nullopt if none fell in that interval (or now <= last_run_or_created). However
// many fire times were missed, the caller runs the job once, records now as the last
// run, and schedules next_fire(now): no pile-up.
std::optional<int64_t> missed_run(const CronExpression& expr, const TimeZone& zone,
                                  int64_t last_run_or_created, int64_t now);

}  // namespace infra::core
