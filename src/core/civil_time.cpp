// civil_time.cpp: Gregorian day arithmetic (Howard Hinnant's days_from_civil algorithms,
// exact for every year) and the offset-based time zones.
#include "core/civil_time.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "core/errors.hpp"

namespace infra::core {

namespace {

constexpr int64_t kSecondsPerDay = 86400;

int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

auto as_tuple(const CivilTime& c) {
    return std::tie(c.year, c.month, c.day, c.hour, c.minute, c.second);
}

void check_offset(int64_t offset, const char* what) {
    if (offset < -kMaxUtcOffsetSeconds || offset > kMaxUtcOffsetSeconds) {
        throw Error(ErrorKind::kInvalidArgument,
                    std::string(what) + " " + std::to_string(offset) +
                        " s is out of range (allowed -90000 to 90000 s, i.e. +-25 hours)",
                    "Give the offset in seconds east of UTC, for example 3600 for UTC+01:00.");
    }
}

}  // namespace

std::string CivilTime::to_string() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", year, month, day, hour, minute,
                  second);
    return buf;
}

bool operator==(const CivilTime& a, const CivilTime& b) {
    return as_tuple(a) == as_tuple(b);
}
bool operator!=(const CivilTime& a, const CivilTime& b) {
    return !(a == b);
}
bool operator<(const CivilTime& a, const CivilTime& b) {
    return as_tuple(a) < as_tuple(b);
}
bool operator<=(const CivilTime& a, const CivilTime& b) {
    return !(b < a);
}
bool operator>(const CivilTime& a, const CivilTime& b) {
    return b < a;
}
bool operator>=(const CivilTime& a, const CivilTime& b) {
    return !(a < b);
}

bool is_leap_year(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int year, int month) {
    static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap_year(year)) return 29;
    return kDays[(month - 1) % 12];
}

int64_t days_from_civil(int year, int month, int day) {
    int64_t y = static_cast<int64_t>(year) - (month <= 2 ? 1 : 0);
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                                  // [0, 399]
    int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // [0, 365]
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                          // [0, 146096]
    return era * 146097 + doe - 719468;
}

CivilTime civil_from_days(int64_t days) {
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    CivilTime c;
    c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    c.year = static_cast<int>(yoe + era * 400 + (c.month <= 2 ? 1 : 0));
    return c;
}

int weekday_from_days(int64_t days) {
    return static_cast<int>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
}

int weekday(int year, int month, int day) {
    return weekday_from_days(days_from_civil(year, month, day));
}

bool is_valid(const CivilTime& c) {
    return c.month >= 1 && c.month <= 12 && c.day >= 1 && c.day <= days_in_month(c.year, c.month) &&
           c.hour >= 0 && c.hour <= 23 && c.minute >= 0 && c.minute <= 59 && c.second >= 0 &&
           c.second <= 59;
}

int64_t civil_to_seconds(const CivilTime& c) {
    return days_from_civil(c.year, c.month, c.day) * kSecondsPerDay + c.hour * 3600 +
           c.minute * 60 + c.second;
}

CivilTime civil_from_seconds(int64_t seconds) {
    int64_t days = floor_div(seconds, kSecondsPerDay);
    int64_t rest = seconds - days * kSecondsPerDay;
    CivilTime c = civil_from_days(days);
    c.hour = static_cast<int>(rest / 3600);
    c.minute = static_cast<int>(rest % 3600 / 60);
    c.second = static_cast<int>(rest % 60);
    return c;
}

CivilTime UtcOffsetTimeZone::to_civil(int64_t unix_seconds) const {
    int32_t offset = utc_offset_at(unix_seconds);
    check_offset(offset, "the time zone's UTC offset");
    return civil_from_seconds(unix_seconds + offset);
}

std::vector<int64_t> UtcOffsetTimeZone::from_civil(const CivilTime& civil) const {
    if (!is_valid(civil)) {
        throw Error(ErrorKind::kInvalidArgument,
                    "civil time " + civil.to_string() + " does not exist in the calendar",
                    "Pass a valid date and a time from 00:00:00 to 23:59:59.");
    }
    // Every answer t = base - offset(t) lies within base +- kMaxUtcOffsetSeconds. The
    // offsets in force there are the ones at five probes spaced 12.5 h apart, provided
    // the offset changes at most once between neighbouring probes.
    const int64_t base = civil_to_seconds(civil);
    const int64_t step = kMaxUtcOffsetSeconds / 2;
    std::vector<int64_t> result;
    int32_t tried[5];
    int n_tried = 0;
    for (int k = -2; k <= 2; ++k) {
        int32_t offset = utc_offset_at(base + k * step);
        check_offset(offset, "the time zone's UTC offset");
        if (std::find(tried, tried + n_tried, offset) != tried + n_tried) continue;
        tried[n_tried++] = offset;
        int64_t t = base - offset;
        if (utc_offset_at(t) == offset) result.push_back(t);
    }
    std::sort(result.begin(), result.end());
    result.erase(std::unique(result.begin(), result.end()), result.end());
    return result;
}

FixedOffsetTimeZone::FixedOffsetTimeZone(int32_t offset_seconds) : offset_seconds_(offset_seconds) {
    check_offset(offset_seconds, "UTC offset");
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
