// cron_test.cpp: tests the calendar arithmetic and time zones (src/core/civil_time.*) and
// cron schedules (src/core/cron.*): parsing (valid forms, canonical printing, aliases,
// and each kind of error with its message), the Vixie day-of-month/day-of-week rule,
// the product's four default backup schedules over a year in UTC and Europe/Berlin,
// daylight-saving gaps and overlaps in Europe/Berlin, America/New_York and
// Australia/Lord_Howe (a gap fires once at its end, an overlap fires once at its first
// occurrence), month ends and leap years, never-firing expressions, missed runs, and a
// randomized property test comparing next_fire / latest_fire / missed_run with a
// minute-by-minute brute-force scan.
//
// Real zones come from libc (TZ + tzset + localtime_r / mktime with tm_isdst probing)
// and only in this file: the core never reads the system's zone database. The Debian
// tzdata package provides /usr/share/zoneinfo.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/civil_time.hpp"
#include "core/cron.hpp"
#include "core/errors.hpp"

namespace infra::core {

inline void PrintTo(const CivilTime& c, std::ostream* os) {
    *os << c.to_string();
}

namespace {

// Switches the process's TZ only when another zone was last used (tzset is not free).
void activate_tz(const std::string& name) {
    static std::string current;
    if (current != name) {
        setenv("TZ", name.c_str(), 1);
        tzset();
        current = name;
    }
}

CivilTime civil_of_tm(const std::tm& tm) {
    CivilTime c;
    c.year = tm.tm_year + 1900;
    c.month = tm.tm_mon + 1;
    c.day = tm.tm_mday;
    c.hour = tm.tm_hour;
    c.minute = tm.tm_min;
    c.second = tm.tm_sec;
    return c;
}

// A real zone through libc: to_civil with localtime_r, from_civil by asking mktime for
// the standard-time and the daylight-time reading and keeping those that map back.
class LibcTimeZone final : public TimeZone {
  public:
    explicit LibcTimeZone(std::string name) : name_(std::move(name)) {}

    CivilTime to_civil(int64_t unix_seconds) const override {
        activate_tz(name_);
        std::time_t t = static_cast<std::time_t>(unix_seconds);
        std::tm tm{};
        localtime_r(&t, &tm);
        return civil_of_tm(tm);
    }

    std::vector<int64_t> from_civil(const CivilTime& c) const override {
        activate_tz(name_);
        std::vector<int64_t> out;
        for (int isdst : {0, 1, -1}) {
            std::tm tm{};
            tm.tm_year = c.year - 1900;
            tm.tm_mon = c.month - 1;
            tm.tm_mday = c.day;
            tm.tm_hour = c.hour;
            tm.tm_min = c.minute;
            tm.tm_sec = c.second;
            tm.tm_isdst = isdst;
            std::time_t t = std::mktime(&tm);
            if (to_civil(t) == c) out.push_back(t);
        }
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    }

    const std::string& name() const { return name_; }

  private:
    std::string name_;
};

// The same zone through the core's UtcOffsetTimeZone (what the glue does with pg_tz).
class LibcOffsetTimeZone final : public UtcOffsetTimeZone {
  public:
    explicit LibcOffsetTimeZone(std::string name) : name_(std::move(name)) {}
    int32_t utc_offset_at(int64_t unix_seconds) const override {
        activate_tz(name_);
        std::time_t t = static_cast<std::time_t>(unix_seconds);
        std::tm tm{};
        localtime_r(&t, &tm);
        return static_cast<int32_t>(tm.tm_gmtoff);
    }

  private:
    std::string name_;
};

const LibcTimeZone& berlin() {
    static const LibcTimeZone zone("Europe/Berlin");
    return zone;
}
const LibcTimeZone& new_york() {
    static const LibcTimeZone zone("America/New_York");
    return zone;
}
const LibcTimeZone& lord_howe() {
    static const LibcTimeZone zone("Australia/Lord_Howe");
    return zone;
}
const UtcTimeZone kUtc;

CivilTime civil(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
    CivilTime c;
    c.year = y;
    c.month = mo;
    c.day = d;
    c.hour = h;
    c.minute = mi;
    c.second = s;
    return c;
}

int64_t utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
    return civil_to_seconds(civil(y, mo, d, h, mi, s));
}

// The instant of a civil time that occurs exactly once in the zone.
int64_t local(const TimeZone& zone, int y, int mo, int d, int h = 0, int mi = 0) {
    std::vector<int64_t> t = zone.from_civil(civil(y, mo, d, h, mi));
    EXPECT_EQ(t.size(), 1u) << civil(y, mo, d, h, mi).to_string() << " is not unique";
    return t.empty() ? 0 : t.front();
}

CronExpression cron(const std::string& text) {
    return CronExpression::parse(text);
}

// Every fire time in [from, to).
std::vector<int64_t> fires_between(const CronExpression& e, const TimeZone& zone, int64_t from,
                                   int64_t to) {
    std::vector<int64_t> out;
    std::optional<int64_t> t = next_fire(e, zone, from - 1);
    while (t && *t < to) {
        out.push_back(*t);
        t = next_fire(e, zone, *t);
    }
    return out;
}

// ---------------------------------------------------------------- calendar and zones

TEST(CivilTime, LeapYearsAndMonthLengths) {
    EXPECT_TRUE(is_leap_year(2000));
    EXPECT_FALSE(is_leap_year(2100));
    EXPECT_FALSE(is_leap_year(1900));
    EXPECT_TRUE(is_leap_year(2024));
    EXPECT_TRUE(is_leap_year(2028));
    EXPECT_FALSE(is_leap_year(2025));
    EXPECT_EQ(days_in_month(2024, 2), 29);
    EXPECT_EQ(days_in_month(2025, 2), 28);
    EXPECT_EQ(days_in_month(2100, 2), 28);
    EXPECT_EQ(days_in_month(2000, 2), 29);
    EXPECT_EQ(days_in_month(2025, 4), 30);
    EXPECT_EQ(days_in_month(2025, 12), 31);
}

TEST(CivilTime, DayNumbersMatchLibcAndRoundTrip) {
    EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
    EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
    EXPECT_EQ(weekday(2025, 1, 1), 3);    // Wednesday
    EXPECT_EQ(weekday(2000, 2, 29), 2);   // Tuesday
    EXPECT_EQ(weekday(1969, 12, 31), 3);  // Wednesday
    for (int64_t day = -800000; day <= 3000000; day += 997) {
        CivilTime c = civil_from_days(day);
        ASSERT_TRUE(is_valid(c)) << day;
        ASSERT_EQ(days_from_civil(c.year, c.month, c.day), day);
        std::time_t t = static_cast<std::time_t>(day * 86400 + 45296);
        std::tm tm{};
        gmtime_r(&t, &tm);
        ASSERT_EQ(civil_from_seconds(day * 86400 + 45296), civil_of_tm(tm));
        ASSERT_EQ(weekday_from_days(day), tm.tm_wday);
    }
    EXPECT_FALSE(is_valid(civil(2025, 2, 29)));
    EXPECT_TRUE(is_valid(civil(2024, 2, 29)));
    EXPECT_FALSE(is_valid(civil(2025, 4, 31)));
    EXPECT_FALSE(is_valid(civil(2025, 13, 1)));
    EXPECT_FALSE(is_valid(civil(2025, 1, 1, 24)));
}

TEST(TimeZone, UtcAndFixedOffsets) {
    EXPECT_EQ(kUtc.to_civil(utc(2025, 6, 1, 12, 30)), civil(2025, 6, 1, 12, 30));
    EXPECT_EQ(kUtc.from_civil(civil(2025, 6, 1, 12, 30)),
              std::vector<int64_t>{utc(2025, 6, 1, 12, 30)});
    FixedOffsetTimeZone india(19800);  // UTC+05:30
    EXPECT_EQ(india.to_civil(utc(2025, 6, 1, 0, 0)), civil(2025, 6, 1, 5, 30));
    EXPECT_EQ(india.from_civil(civil(2025, 6, 1, 5, 30)), std::vector<int64_t>{utc(2025, 6, 1)});
    FixedOffsetTimeZone west(-36000);  // UTC-10:00
    EXPECT_EQ(west.to_civil(utc(2025, 1, 1, 5)), civil(2024, 12, 31, 19));
    try {
        FixedOffsetTimeZone bad(26 * 3600);
        FAIL() << "an offset of 26 hours was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_STREQ(e.what(),
                     "UTC offset 93600 s is out of range (allowed -90000 to 90000 s, "
                     "i.e. +-25 hours)");
        EXPECT_NE(e.hint().find("seconds east of UTC"), std::string::npos);
    }
    EXPECT_THROW(kUtc.from_civil(civil(2025, 2, 29)), Error);
}

TEST(TimeZone, LibcZonesShowGapsAndOverlaps) {
    // Europe/Berlin 2025: 02:00-02:59 skipped on 30 March, repeated on 26 October.
    EXPECT_TRUE(berlin().from_civil(civil(2025, 3, 30, 2, 30)).empty());
    EXPECT_EQ(berlin().from_civil(civil(2025, 10, 26, 2, 30)),
              (std::vector<int64_t>{utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 30)}));
    // America/New_York 2025: 02:00-02:59 skipped on 9 March, 01:00-01:59 repeated on
    // 2 November.
    EXPECT_TRUE(new_york().from_civil(civil(2025, 3, 9, 2, 30)).empty());
    EXPECT_EQ(new_york().from_civil(civil(2025, 11, 2, 1, 30)),
              (std::vector<int64_t>{utc(2025, 11, 2, 5, 30), utc(2025, 11, 2, 6, 30)}));
    // Australia/Lord_Howe moves by 30 minutes: 02:00-02:29 skipped on 5 October 2025,
    // 01:30-01:59 repeated on 6 April 2025.
    EXPECT_TRUE(lord_howe().from_civil(civil(2025, 10, 5, 2, 15)).empty());
    EXPECT_EQ(lord_howe().from_civil(civil(2025, 10, 5, 2, 30)),
              std::vector<int64_t>{utc(2025, 10, 4, 15, 30)});
    EXPECT_EQ(lord_howe().from_civil(civil(2025, 4, 6, 1, 45)),
              (std::vector<int64_t>{utc(2025, 4, 5, 14, 45), utc(2025, 4, 5, 15, 15)}));
}

// The core's UtcOffsetTimeZone (what the glue uses over pg_tz) agrees with libc's
// mktime on every minute (and some odd seconds) of the transition days.
TEST(TimeZone, UtcOffsetTimeZoneAgreesWithMktime) {
    struct Day {
        const char* zone;
        CivilTime day;
    };
    const Day days[] = {
        {"Europe/Berlin", civil(2025, 3, 30)},      {"Europe/Berlin", civil(2025, 10, 26)},
        {"America/New_York", civil(2025, 3, 9)},    {"America/New_York", civil(2025, 11, 2)},
        {"Australia/Lord_Howe", civil(2025, 4, 6)}, {"Australia/Lord_Howe", civil(2025, 10, 5)},
        {"Europe/Berlin", civil(2024, 7, 1)},
    };
    for (const Day& d : days) {
        SCOPED_TRACE(d.zone);
        LibcTimeZone reference(d.zone);
        LibcOffsetTimeZone derived(d.zone);
        int64_t start = civil_to_seconds(d.day);
        int gaps = 0;
        int overlaps = 0;
        for (int64_t s = 0; s < 86400; s += 60) {
            for (int64_t extra : {int64_t{0}, int64_t{37}}) {
                CivilTime c = civil_from_seconds(start + s + extra);
                std::vector<int64_t> expected = reference.from_civil(c);
                ASSERT_EQ(derived.from_civil(c), expected) << c.to_string();
                gaps += expected.empty();
                overlaps += expected.size() == 2;
                int64_t t = start - 14 * 3600 + s * 2 + extra;
                ASSERT_EQ(derived.to_civil(t), reference.to_civil(t)) << t;
            }
        }
        bool transition = d.day.month != 7;
        EXPECT_EQ(gaps + overlaps > 0, transition);
    }
}

// ---------------------------------------------------------------- parsing

TEST(CronParse, FieldsWithValuesListsRangesAndSteps) {
    CronExpression e = cron("0 3 * * *");
    EXPECT_EQ(e.minute_bits(), 1u);
    EXPECT_EQ(e.hour_bits(), 1u << 3);
    EXPECT_EQ(e.day_of_month_bits(), 0xFFFFFFFEu);
    EXPECT_EQ(e.month_bits(), 0x1FFEu);
    EXPECT_EQ(e.day_of_week_bits(), 0x7Fu);

    EXPECT_EQ(cron("*/15 * * * *").minute_bits(),
              (1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45));
    EXPECT_EQ(cron("10-50/5 * * * *").minute_bits(), 0x0004210842108400ULL);
    EXPECT_EQ(cron("10-50/5 * * * *").to_string(), "10-50/5 * * * *");
    EXPECT_EQ(cron("1,2,5 * * * *").minute_bits(), (1ULL << 1) | (1ULL << 2) | (1ULL << 5));
    EXPECT_EQ(cron("0 9-17 * * *").hour_bits(), 0x3FE00u);
    EXPECT_EQ(cron("0 0 1,15 * *").day_of_month_bits(), (1u << 1) | (1u << 15));
    EXPECT_EQ(cron("0 0 * 1-3,12 *").month_bits(), 0x100Eu);
    EXPECT_EQ(cron("0 0 * * 1-5").day_of_week_bits(), 0x3Eu);
    EXPECT_EQ(cron("0 0 * * 1-5/2").day_of_week_bits(), 0x2Au);
    EXPECT_EQ(cron("59 23 31 12 6").to_string(), "59 23 31 12 6");
    EXPECT_EQ(cron("*/7 */5 */10 */4 *").to_string(), "*/7 */5 */10 */4 *");
    // Whitespace: tabs, several spaces, leading and trailing.
    EXPECT_EQ(cron("  0\t3   *  * *  "), cron("0 3 * * *"));
}

TEST(CronParse, NamesAreCaseInsensitiveAndSevenIsSunday) {
    EXPECT_EQ(cron("0 0 * jan-Mar,DEC *"), cron("0 0 * 1-3,12 *"));
    EXPECT_EQ(cron("0 0 * * mon-FRI"), cron("0 0 * * 1-5"));
    EXPECT_EQ(cron("0 0 * * SUN"), cron("0 0 * * 0"));
    EXPECT_EQ(cron("0 0 * * 7"), cron("0 0 * * 0"));
    EXPECT_EQ(cron("0 0 * * 5-7"), cron("0 0 * * 0,5,6"));
    EXPECT_EQ(cron("0 0 * * Sat,sun"), cron("0 0 * * 0,6"));
    EXPECT_EQ(cron("0 0 * * 0-7"), cron("0 0 * * *"));
    EXPECT_EQ(cron("0 0 * * */7"), cron("0 0 * * */8"));  // both {Sunday}, AND rule
}

TEST(CronParse, AliasesExpandToFiveFields) {
    EXPECT_EQ(cron("@yearly").to_string(), "0 0 1 1 *");
    EXPECT_EQ(cron("@annually"), cron("@yearly"));
    EXPECT_EQ(cron("@monthly").to_string(), "0 0 1 * *");
    EXPECT_EQ(cron("@weekly").to_string(), "0 0 * * 0");
    EXPECT_EQ(cron("@daily").to_string(), "0 0 * * *");
    EXPECT_EQ(cron("@midnight"), cron("@daily"));
    EXPECT_EQ(cron("@hourly").to_string(), "0 * * * *");
    EXPECT_EQ(cron("  @DAILY "), cron("0 0 * * *"));
}

TEST(CronParse, ToStringIsCanonicalAndRoundTrips) {
    const std::pair<const char*, const char*> cases[] = {
        {"0 3 * * *", "0 3 * * *"},
        {"00 03 * * *", "0 3 * * *"},
        {"0-59 0-23 * 1-12 *", "* * * * *"},
        {"0,15,30,45 * * * *", "*/15 * * * *"},
        {"0-59/15 * * * *", "*/15 * * * *"},
        {"5,6,7,8,20 * * * *", "5-8,20 * * * *"},
        {"1,2 * * * *", "1,2 * * * *"},
        {"5-35/15 * * * *", "5-35/15 * * * *"},
        {"0 0 1-31 * SUN-SAT", "0 0 * * *"},  // OR rule with a full field: every day
        {"0 0 1-31 * 1", "0 0 * * *"},
        {"0 0 * * 1-31/1", ""},  // invalid: day-of-week only to 7 (checked below)
        {"0 0 13 * FRI", "0 0 13 * 5"},
        {"0 0 */2 * 1", "0 0 */2 * 1"},        // AND rule kept
        {"0 0 1-31/2 * 1", "0 0 1-31/2 * 1"},  // OR rule kept
        {"0 0 1-31/2 * */2", "0 0 */2 * */2"},
        {"0 0 * * SAT,SUN", "0 0 * * 0,6"},
        {"0 2 * * 7", "0 2 * * 0"},
        {"0 0 * JAN,jul *", "0 0 * 1,7 *"},
        {"30 */6 * * *", "30 */6 * * *"},
        {"0 0 */31 * *", "0 0 1 * *"},       // {1} under the AND rule
        {"0 0 */31 * */7", "0 0 */31 * 0"},  // the 1st if a Sunday: one stays `*/n`
        {"0 0 1-29/14 * */7", "0 0 */14 * 0"},
        {"0 0 */10 * 1-5", "0 0 */10 * 1-5"},
        {"0 0 1-31/10 * 1-5", "0 0 1-31/10 * 1-5"},
        {"0 0 1 * *", "0 0 1 * *"},
    };
    for (const auto& [text, canonical] : cases) {
        SCOPED_TRACE(text);
        if (*canonical == '\0') {
            EXPECT_THROW(cron(text), Error);
            continue;
        }
        CronExpression e = cron(text);
        EXPECT_EQ(e.to_string(), canonical);
        EXPECT_EQ(cron(e.to_string()), e);
        EXPECT_EQ(cron(e.to_string()).to_string(), e.to_string());
    }
    EXPECT_NE(cron("0 0 */2 * 1"), cron("0 0 1-31/2 * 1"));
}

struct BadExpression {
    const char* text;
    const char* message;
    const char* hint_part;
};

TEST(CronParse, ErrorsSayWhatIsWrongAndWhatToDo) {
    const BadExpression cases[] = {
        {"", "invalid cron expression \"\": it is empty", "five fields"},
        {"0 3 * *",
         "invalid cron expression \"0 3 * *\": it has 4 fields, expected 5 (minute hour "
         "day-of-month month day-of-week)",
         "for example \"0 3 * * *\""},
        {"0 0 3 * * *", "it has 6 fields, expected 5", "Seconds and years are not supported"},
        {"daily", "it has 1 field, expected 5", "@daily"},
        {"60 * * * *", "minute value 60 is out of range (allowed 0-59)", "from 0 to 59"},
        {"0 24 * * *",
         "invalid cron expression \"0 24 * * *\": hour value 24 is out of range (allowed 0-23)",
         "Use values from 0 to 23 in the hour field."},
        {"0 0 0 * *", "day-of-month value 0 is out of range (allowed 1-31)", "from 1 to 31"},
        {"0 0 32 * *", "day-of-month value 32 is out of range (allowed 1-31)", "from 1 to 31"},
        {"0 0 * 13 *", "month value 13 is out of range (allowed 1-12 or JAN-DEC)", "1 to 12"},
        {"0 0 * 0 *", "month value 0 is out of range (allowed 1-12 or JAN-DEC)", "1 to 12"},
        {"0 0 * * 8",
         "day-of-week value 8 is out of range (allowed 0-7 or SUN-SAT, where 0 and 7 are "
         "Sunday)",
         "0 to 7"},
        {"0 0 * * 99999999999", "day-of-week value 99999999999 is out of range", "0 to 7"},
        {"*/0 * * * *", "minute step 0 is invalid (allowed 1-60)", "*/15"},
        {"0 */25 * * *", "hour step 25 is invalid (allowed 1-24)", "n from 1 to 24"},
        {"0 1-5/0 * * *", "hour step 0 is invalid (allowed 1-24)", "a-b/n"},
        {"*/ * * * *", "minute step in \"*/\" is missing after /", "*/15"},
        {"5/15 * * * *", "minute step \"5/15\" needs a range or * before the /",
         "5-59/15 starts at 5"},
        {"0 5-1 * * *", "hour range 5-1 in \"5-1\" is reversed", "as in 1-5"},
        {"0 0 * DEC-JAN *", "month range 12-1 in \"DEC-JAN\" is reversed", "as in 1-12"},
        {"0 0 * * FRI-SUN", "day-of-week range 5-0 in \"FRI-SUN\" is reversed", "5-7"},
        {"1x * * * *", "minute field \"1x\" has an unexpected character 'x'",
         "comma-separated list"},
        {"0 3 * * 1;2", "day-of-week field \"1;2\" has an unexpected character ';'", "*/n"},
        {"0 3 * * -1", "day-of-week field \"-1\" has an unexpected character '-'", "a-b"},
        {"0 3 ** * *", "day-of-month field \"**\" has an unexpected character '*'", "*/n"},
        {"0 3\n * * *", "hour field \"3\n\" has an unexpected character byte 0x0A", "*/n"},
        {"0 1-5-7 * * *", "hour field \"1-5-7\" has an unexpected character '-'", "a-b"},
        {"0 1- * * *", "hour field \"1-\" ends where a value was expected", "a-b"},
        {"0 1,,2 * * *", "hour field \"1,,2\" has an empty list item", "extra comma"},
        {"0 1, * * *", "hour field \"1,\" has an empty list item", "extra comma"},
        {"*,5 * * * *", "minute field \"*,5\" combines * with other list items", "* alone"},
        {"0 0 * FOO *", "month field \"FOO\" contains the unknown name \"FOO\"", "JAN, FEB"},
        {"0 0 * * monday", "contains the unknown name \"monday\"", "SUN, MON"},
        {"0 noon * * *",
         "hour field \"noon\" contains the name \"noon\", but names are only allowed in the "
         "month and day-of-week fields",
         "numbers from 0 to 23"},
        {"@reboot", "unknown alias \"@reboot\"", "@hourly"},
        {"@daily 3", "an alias must stand alone", "@daily"},
    };
    for (const BadExpression& c : cases) {
        SCOPED_TRACE(c.text);
        try {
            CronExpression::parse(c.text);
            ADD_FAILURE() << "accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
            std::string message = e.what();
            if (message.rfind("invalid cron expression \"", 0) != 0 ||
                message.find(c.message) == std::string::npos) {
                ADD_FAILURE() << "message: " << message << "\nexpected to contain: " << c.message;
            }
            EXPECT_NE(e.hint().find(c.hint_part), std::string::npos) << "hint: " << e.hint();
        }
    }
}

// ---------------------------------------------------------------- matching

TEST(CronMatch, DayOfMonthOrDayOfWeekWhenBothRestricted) {
    CronExpression e = cron("0 0 13 * 5");  // every 13th and every Friday
    EXPECT_FALSE(e.days_must_match_both());
    EXPECT_TRUE(e.matches_day(2025, 6, 13));  // Friday the 13th
    EXPECT_TRUE(e.matches_day(2025, 7, 13));  // a Sunday, but the 13th
    EXPECT_TRUE(e.matches_day(2025, 7, 4));   // a Friday
    EXPECT_FALSE(e.matches_day(2025, 7, 5));  // Saturday the 5th
    std::vector<int64_t> june = fires_between(e, kUtc, utc(2025, 6, 1), utc(2025, 7, 1));
    // Fridays 6, 13, 20, 27 (the 13th is one of them).
    ASSERT_EQ(june.size(), 4u);
    std::vector<int64_t> july = fires_between(e, kUtc, utc(2025, 7, 1), utc(2025, 8, 1));
    // Fridays 4, 11, 18, 25 and Sunday the 13th.
    EXPECT_EQ(july, (std::vector<int64_t>{utc(2025, 7, 4), utc(2025, 7, 11), utc(2025, 7, 13),
                                          utc(2025, 7, 18), utc(2025, 7, 25)}));
}

TEST(CronMatch, DayOfMonthAndDayOfWeekWhenEitherIsStar) {
    // Only the day-of-week restricted: Mondays.
    CronExpression mondays = cron("0 0 * * 1");
    EXPECT_TRUE(mondays.matches_day(2025, 7, 7));
    EXPECT_FALSE(mondays.matches_day(2025, 7, 8));
    // Only the day-of-month restricted: the 8th.
    CronExpression eighth = cron("0 0 8 * *");
    EXPECT_TRUE(eighth.matches_day(2025, 7, 8));
    EXPECT_FALSE(eighth.matches_day(2025, 7, 7));
    // Vixie cron: `*/2` counts as `*` for the rule, so odd days AND Mondays.
    CronExpression odd_mondays = cron("0 0 */2 * 1");
    EXPECT_TRUE(odd_mondays.days_must_match_both());
    EXPECT_TRUE(odd_mondays.matches_day(2025, 7, 7));
    EXPECT_FALSE(odd_mondays.matches_day(2025, 7, 14));
    EXPECT_FALSE(odd_mondays.matches_day(2025, 7, 9));
    // Written as a range instead, it is the OR rule: odd days OR Mondays.
    CronExpression odd_or_mondays = cron("0 0 1-31/2 * 1");
    EXPECT_TRUE(odd_or_mondays.matches_day(2025, 7, 14));
    EXPECT_TRUE(odd_or_mondays.matches_day(2025, 7, 9));
    EXPECT_FALSE(odd_or_mondays.matches_day(2025, 7, 10));
}

TEST(CronMatch, StepsAndRangesSelectTheRightMinutes) {
    std::vector<int64_t> quarter =
        fires_between(cron("*/15 9-10 * * *"), kUtc, utc(2025, 5, 5), utc(2025, 5, 6));
    std::vector<int64_t> expected;
    for (int h = 9; h <= 10; ++h) {
        for (int m = 0; m < 60; m += 15) expected.push_back(utc(2025, 5, 5, h, m));
    }
    EXPECT_EQ(quarter, expected);
    std::vector<int64_t> stepped =
        fires_between(cron("10-50/20 8 * * MON-FRI"), kUtc, utc(2025, 5, 5), utc(2025, 5, 12));
    EXPECT_EQ(stepped.size(), 5u * 3u);
    EXPECT_EQ(stepped.front(), utc(2025, 5, 5, 8, 10));
    EXPECT_EQ(stepped.back(), utc(2025, 5, 9, 8, 50));
}

// ---------------------------------------------------------------- next_fire

TEST(NextFire, IsStrictlyAfter) {
    CronExpression e = cron("0 3 * * *");
    EXPECT_EQ(next_fire(e, kUtc, utc(2025, 1, 1, 3)), utc(2025, 1, 2, 3));
    EXPECT_EQ(next_fire(e, kUtc, utc(2025, 1, 1, 3) - 1), utc(2025, 1, 1, 3));
    EXPECT_EQ(next_fire(e, kUtc, utc(2025, 12, 31, 23, 59, 59)), utc(2026, 1, 1, 3));
    EXPECT_EQ(next_fire(cron("* * * * *"), kUtc, utc(2025, 1, 1, 0, 0, 30)), utc(2025, 1, 1, 0, 1));
    FixedOffsetTimeZone india(19800);
    EXPECT_EQ(next_fire(e, india, utc(2025, 1, 1)), utc(2025, 1, 1, 21, 30));  // 03:00 IST
    EXPECT_THROW(next_fire(e, kUtc, kMaxSupportedUnixSeconds + 1), Error);
}

struct DefaultSchedule {
    const char* name;
    const char* expr;
    size_t fires_in_2025;
    int hour;  // local hour of every fire (except in a DST gap)
};

const DefaultSchedule kDefaults[] = {
    {"daily backup", "0 3 * * *", 365, 3},
    {"weekly backup (Sunday)", "0 2 * * 0", 52, 2},
    {"monthly backup", "0 1 1 * *", 12, 1},
    {"cleanup", "0 2 * * *", 365, 2},
};

TEST(NextFire, DefaultSchedulesOverAYearInUtc) {
    for (const DefaultSchedule& s : kDefaults) {
        SCOPED_TRACE(s.name);
        CronExpression e = cron(s.expr);
        std::vector<int64_t> fires = fires_between(e, kUtc, utc(2025, 1, 1), utc(2026, 1, 1));
        ASSERT_EQ(fires.size(), s.fires_in_2025);
        for (int64_t t : fires) {
            CivilTime c = kUtc.to_civil(t);
            EXPECT_EQ(c.hour, s.hour);
            EXPECT_EQ(c.minute, 0);
            EXPECT_TRUE(e.matches(c));
        }
        for (size_t i = 1; i < fires.size(); ++i) {
            int64_t gap = fires[i] - fires[i - 1];
            if (s.fires_in_2025 == 365) {
                EXPECT_EQ(gap, 86400);
            }
            if (s.fires_in_2025 == 52) {
                EXPECT_EQ(gap, 7 * 86400);
            }
        }
    }
}

TEST(NextFire, DefaultSchedulesOverAYearInBerlin) {
    const LibcTimeZone& z = berlin();
    for (const DefaultSchedule& s : kDefaults) {
        SCOPED_TRACE(s.name);
        CronExpression e = cron(s.expr);
        std::vector<int64_t> fires =
            fires_between(e, z, local(z, 2025, 1, 1), local(z, 2026, 1, 1));
        ASSERT_EQ(fires.size(), s.fires_in_2025);
        for (int64_t t : fires) {
            CivilTime c = z.to_civil(t);
            if (c.year == 2025 && c.month == 3 && c.day == 30 && s.hour == 2) {
                // 02:00 does not exist that night: fired at the gap's end, 03:00 CEST.
                EXPECT_EQ(t, utc(2025, 3, 30, 1));
                EXPECT_EQ(c.hour, 3);
            } else {
                EXPECT_EQ(c.hour, s.hour) << c.to_string();
                EXPECT_TRUE(e.matches(c)) << c.to_string();
            }
            EXPECT_EQ(c.minute, 0);
        }
    }
    // The weekly job hits both transition Sundays of 2025.
    CronExpression weekly = cron("0 2 * * 0");
    EXPECT_EQ(next_fire(weekly, z, utc(2025, 3, 29)), utc(2025, 3, 30, 1));    // gap end
    EXPECT_EQ(next_fire(weekly, z, utc(2025, 10, 25)), utc(2025, 10, 26, 0));  // first 02:00
    EXPECT_EQ(next_fire(weekly, z, utc(2025, 10, 26, 0)), utc(2025, 11, 2, 1));
}

// Counts the fires whose local date is the given day.
int fires_on(const std::vector<int64_t>& fires, const TimeZone& z, int y, int mo, int d) {
    int n = 0;
    for (int64_t t : fires) {
        CivilTime c = z.to_civil(t);
        n += c.year == y && c.month == mo && c.day == d;
    }
    return n;
}

TEST(NextFire, BerlinSpringForwardAndFallBack) {
    const LibcTimeZone& z = berlin();
    CronExpression e = cron("30 2 * * *");
    std::vector<int64_t> fires = fires_between(e, z, local(z, 2025, 1, 1), local(z, 2026, 1, 1));
    EXPECT_EQ(fires.size(), 365u);
    // Spring forward, 30 March 2025: 02:30 does not exist; fired once at 03:00 CEST.
    EXPECT_EQ(fires_on(fires, z, 2025, 3, 30), 1);
    EXPECT_EQ(next_fire(e, z, utc(2025, 3, 29, 12)), utc(2025, 3, 30, 1));
    EXPECT_EQ(z.to_civil(utc(2025, 3, 30, 1)), civil(2025, 3, 30, 3, 0));
    EXPECT_EQ(next_fire(e, z, utc(2025, 3, 30, 1)), utc(2025, 3, 31, 0, 30));
    // Fall back, 26 October 2025: 02:30 occurs at 00:30 and 01:30 UTC; fired at 00:30 only.
    EXPECT_EQ(fires_on(fires, z, 2025, 10, 26), 1);
    EXPECT_EQ(next_fire(e, z, utc(2025, 10, 25, 12)), utc(2025, 10, 26, 0, 30));
    EXPECT_EQ(next_fire(e, z, utc(2025, 10, 26, 0, 30)), utc(2025, 10, 27, 1, 30));
    // Asking from inside the second 02:00-03:00 (CET) does not fire it again either.
    EXPECT_EQ(next_fire(e, z, utc(2025, 10, 26, 1, 10)), utc(2025, 10, 27, 1, 30));
    // Every other day: 02:30 local.
    for (int64_t t : fires) {
        CivilTime c = z.to_civil(t);
        if (!(c.month == 3 && c.day == 30)) {
            EXPECT_EQ(c.hour * 60 + c.minute, 150);
        }
    }
}

TEST(NextFire, BerlinEveryHalfHourAcrossTransitions) {
    const LibcTimeZone& z = berlin();
    CronExpression e = cron("*/30 * * * *");
    // Spring: 01:00, 01:30 CET, then 02:00, 02:30 (gap) and 03:00 all at 01:00 UTC, once.
    EXPECT_EQ(fires_between(e, z, utc(2025, 3, 30, 0), utc(2025, 3, 30, 2)),
              (std::vector<int64_t>{utc(2025, 3, 30, 0), utc(2025, 3, 30, 0, 30),
                                    utc(2025, 3, 30, 1), utc(2025, 3, 30, 1, 30)}));
    // Autumn: 02:00, 02:30 CEST fire; the repeated 02:00, 02:30 CET do not; then 03:00 CET.
    EXPECT_EQ(fires_between(e, z, utc(2025, 10, 25, 23, 30), utc(2025, 10, 26, 2, 31)),
              (std::vector<int64_t>{utc(2025, 10, 25, 23, 30), utc(2025, 10, 26, 0),
                                    utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 2),
                                    utc(2025, 10, 26, 2, 30)}));
    // Every minute: the autumn day has 25 hours but 24 * 60 distinct civil minutes.
    std::vector<int64_t> minutes =
        fires_between(cron("* * * * *"), z, local(z, 2025, 10, 26), local(z, 2025, 10, 27));
    EXPECT_EQ(minutes.size(), 24u * 60u);
    // And the spring day 23 hours, every minute of which fires once; the 60 skipped
    // minutes all fire at 03:00.
    minutes = fires_between(cron("* * * * *"), z, local(z, 2025, 3, 30), local(z, 2025, 3, 31));
    EXPECT_EQ(minutes.size(), 23u * 60u);
}

TEST(NextFire, NewYorkSpringForwardAndFallBack) {
    const LibcTimeZone& z = new_york();
    // 02:30 daily: 9 March 2025 has no 02:30 -> 03:00 EDT (07:00 UTC).
    CronExpression at_0230 = cron("30 2 * * *");
    std::vector<int64_t> fires =
        fires_between(at_0230, z, local(z, 2025, 1, 1), local(z, 2026, 1, 1));
    EXPECT_EQ(fires.size(), 365u);
    EXPECT_EQ(fires_on(fires, z, 2025, 3, 9), 1);
    EXPECT_EQ(fires_on(fires, z, 2025, 11, 2), 1);
    EXPECT_EQ(next_fire(at_0230, z, utc(2025, 3, 8, 12)), utc(2025, 3, 9, 7));
    EXPECT_EQ(next_fire(at_0230, z, utc(2025, 11, 1, 12)), utc(2025, 11, 2, 7, 30));  // EST
    // 01:30 daily: 2 November 2025 has 01:30 twice (EDT, then EST); fired at EDT only.
    CronExpression at_0130 = cron("30 1 * * *");
    fires = fires_between(at_0130, z, local(z, 2025, 1, 1), local(z, 2026, 1, 1));
    EXPECT_EQ(fires.size(), 365u);
    EXPECT_EQ(fires_on(fires, z, 2025, 11, 2), 1);
    EXPECT_EQ(next_fire(at_0130, z, utc(2025, 11, 1, 12)), utc(2025, 11, 2, 5, 30));
    EXPECT_EQ(next_fire(at_0130, z, utc(2025, 11, 2, 5, 30)), utc(2025, 11, 3, 6, 30));
}

TEST(NextFire, LordHoweHalfHourShifts) {
    const LibcTimeZone& z = lord_howe();
    // 5 October 2025: 02:00-02:29 skipped; 02:15 fires at 02:30 local (15:30 UTC).
    CronExpression at_0215 = cron("15 2 * * *");
    EXPECT_EQ(next_fire(at_0215, z, utc(2025, 10, 4, 0)), utc(2025, 10, 4, 15, 30));
    EXPECT_EQ(z.to_civil(utc(2025, 10, 4, 15, 30)), civil(2025, 10, 5, 2, 30));
    // 6 April 2025: 01:30-01:59 repeated; 01:45 fires at the first one only.
    CronExpression at_0145 = cron("45 1 * * *");
    EXPECT_EQ(next_fire(at_0145, z, utc(2025, 4, 5, 0)), utc(2025, 4, 5, 14, 45));
    EXPECT_EQ(next_fire(at_0145, z, utc(2025, 4, 5, 14, 45)), utc(2025, 4, 6, 15, 15));
    for (const char* text : {"15 2 * * *", "45 1 * * *", "0 2 * * *"}) {
        std::vector<int64_t> fires =
            fires_between(cron(text), z, local(z, 2025, 1, 1), local(z, 2026, 1, 1));
        EXPECT_EQ(fires.size(), 365u) << text;
    }
}

TEST(NextFire, MonthEnds) {
    // The 31st exists in 7 months.
    std::vector<int64_t> fires =
        fires_between(cron("0 0 31 * *"), kUtc, utc(2025, 1, 1), utc(2026, 1, 1));
    ASSERT_EQ(fires.size(), 7u);
    std::vector<int> months;
    for (int64_t t : fires) months.push_back(kUtc.to_civil(t).month);
    EXPECT_EQ(months, (std::vector<int>{1, 3, 5, 7, 8, 10, 12}));
    // The 30th: every month but February.
    EXPECT_EQ(fires_between(cron("0 0 30 * *"), kUtc, utc(2025, 1, 1), utc(2026, 1, 1)).size(),
              11u);
    // "0 0 29-31 * *" in February of a leap year: only the 29th.
    EXPECT_EQ(fires_between(cron("0 0 29-31 2 *"), kUtc, utc(2024, 1, 1), utc(2025, 1, 1)),
              std::vector<int64_t>{utc(2024, 2, 29)});
    // The last minute of the year.
    EXPECT_EQ(next_fire(cron("59 23 31 12 *"), kUtc, utc(2025, 6, 1)), utc(2025, 12, 31, 23, 59));
}

TEST(NextFire, LeapDays) {
    CronExpression leap = cron("0 0 29 2 *");
    EXPECT_EQ(next_fire(leap, kUtc, utc(2025, 3, 1)), utc(2028, 2, 29));
    EXPECT_EQ(next_fire(leap, kUtc, utc(2024, 2, 29)), utc(2028, 2, 29));
    EXPECT_EQ(next_fire(leap, kUtc, utc(2024, 2, 28, 23, 59)), utc(2024, 2, 29));
    EXPECT_EQ(next_fire(leap, kUtc, utc(1999, 3, 1)), utc(2000, 2, 29));  // 2000 is leap
    EXPECT_EQ(next_fire(leap, kUtc, utc(2096, 3, 1)), utc(2104, 2, 29));  // 2100 is not
    EXPECT_EQ(next_fire(leap, berlin(), utc(2025, 3, 1)), utc(2028, 2, 28, 23));
    EXPECT_EQ(latest_fire(leap, kUtc, utc(2103, 1, 1)), utc(2096, 2, 29));
    // A leap day that is also a Sunday (AND rule: the day-of-week is `*/7`): 2032, 2060.
    CronExpression rare = cron("0 0 29 2 */7");
    EXPECT_EQ(next_fire(rare, kUtc, utc(2025, 1, 1)), utc(2032, 2, 29));
    EXPECT_EQ(next_fire(rare, kUtc, utc(2032, 2, 29)), utc(2060, 2, 29));
}

TEST(NextFire, ExpressionsThatNeverFire) {
    for (const char* text :
         {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 feb *", "* * 31 2,4 */2"}) {
        SCOPED_TRACE(text);
        CronExpression e = cron(text);  // parses: each field is valid on its own
        EXPECT_FALSE(e.can_fire());
        EXPECT_EQ(next_fire(e, kUtc, utc(2025, 1, 1)), std::nullopt);
        EXPECT_EQ(next_fire(e, berlin(), utc(2025, 1, 1)), std::nullopt);
        EXPECT_EQ(latest_fire(e, kUtc, utc(2025, 1, 1)), std::nullopt);
        EXPECT_EQ(missed_run(e, kUtc, utc(2000, 1, 1), utc(2025, 1, 1)), std::nullopt);
    }
    // Under the OR rule a restricted day-of-week rescues them: Mondays in February.
    CronExpression mondays = cron("0 0 30 2 1");
    EXPECT_TRUE(mondays.can_fire());
    EXPECT_EQ(next_fire(mondays, kUtc, utc(2025, 1, 1)), utc(2025, 2, 3));
    for (const char* text : {"0 0 31 1 *", "0 0 29 2 *", "0 0 */31 2 */8", "0 0 31 4,5 *"}) {
        EXPECT_TRUE(cron(text).can_fire()) << text;
        EXPECT_NE(next_fire(cron(text), kUtc, utc(2025, 1, 1)), std::nullopt) << text;
    }
}

TEST(NextFire, AndRuleSearchAgreesWithADayByDayScan) {
    // Rare AND combinations need many years; compare with a scan over days.
    for (const char* text : {"0 0 */31 1 */8", "0 12 */31 2 */7", "30 6 29 2 */7", "0 0 */30 2 */7",
                             "0 0 31 12 */7"}) {
        SCOPED_TRACE(text);
        CronExpression e = cron(text);
        int64_t after = utc(2025, 1, 1);
        for (int i = 0; i < 5; ++i) {
            std::optional<int64_t> t = next_fire(e, kUtc, after);
            ASSERT_TRUE(t.has_value());
            int64_t day = days_from_civil(2025, 1, 1);
            while (true) {
                CivilTime c = civil_from_days(day);
                int64_t fire = civil_to_seconds(c) + __builtin_ctz(e.hour_bits()) * 3600 +
                               __builtin_ctzll(e.minute_bits()) * 60;
                if (e.matches_day(c.year, c.month, c.day) && fire > after) {
                    break;
                }
                ++day;
            }
            EXPECT_EQ(days_from_civil(kUtc.to_civil(*t).year, kUtc.to_civil(*t).month,
                                      kUtc.to_civil(*t).day),
                      day);
            after = *t;
        }
    }
}

// ---------------------------------------------------------------- latest_fire, missed_run

TEST(MissedRun, ServerDownForThreeDaysRunsOnceNotThreeTimes) {
    CronExpression daily = cron("0 3 * * *");
    int64_t last_run = utc(2025, 5, 1, 3);
    int64_t now = utc(2025, 5, 4, 12);  // missed 2, 3 and 4 May at 03:00
    EXPECT_EQ(fires_between(daily, kUtc, last_run + 1, now + 1).size(), 3u);
    std::optional<int64_t> missed = missed_run(daily, kUtc, last_run, now);
    EXPECT_EQ(missed, utc(2025, 5, 4, 3));
    // The scheduler runs it once, records now, and waits for the next regular run.
    EXPECT_EQ(missed_run(daily, kUtc, now, now + 60), std::nullopt);
    EXPECT_EQ(next_fire(daily, kUtc, now), utc(2025, 5, 5, 3));
}

TEST(MissedRun, EdgesOfTheInterval) {
    CronExpression daily = cron("0 3 * * *");
    int64_t fire = utc(2025, 5, 2, 3);
    EXPECT_EQ(missed_run(daily, kUtc, fire - 1, fire), fire);  // (last, now] includes now
    EXPECT_EQ(missed_run(daily, kUtc, fire, fire + 3600), std::nullopt);      // already ran
    EXPECT_EQ(missed_run(daily, kUtc, fire - 3600, fire - 1), std::nullopt);  // not yet due
    EXPECT_EQ(missed_run(daily, kUtc, fire, fire), std::nullopt);
    EXPECT_EQ(missed_run(daily, kUtc, fire + 10, fire), std::nullopt);  // clock went back
    // Created yesterday evening, server down since: today's run is missed.
    EXPECT_EQ(missed_run(daily, kUtc, utc(2025, 5, 1, 20), utc(2025, 5, 2, 9)), fire);
    EXPECT_EQ(latest_fire(daily, kUtc, fire), fire);
    EXPECT_EQ(latest_fire(daily, kUtc, fire - 1), fire - 86400);
}

TEST(MissedRun, AcrossDaylightSavingChanges) {
    const LibcTimeZone& z = berlin();
    CronExpression e = cron("30 2 * * *");
    // Down over the spring-forward night: the run substituted at 03:00 CEST was missed.
    EXPECT_EQ(missed_run(e, z, utc(2025, 3, 29, 12), utc(2025, 3, 30, 6)), utc(2025, 3, 30, 1));
    // In the second 02:30 of the autumn night the job has already fired (first 02:30).
    EXPECT_EQ(latest_fire(e, z, utc(2025, 10, 26, 1, 45)), utc(2025, 10, 26, 0, 30));
    EXPECT_EQ(missed_run(e, z, utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 45)), std::nullopt);
    // Every minute: in the second pass, the latest fire is 02:59 CEST (00:59 UTC).
    EXPECT_EQ(latest_fire(cron("* * * * *"), z, utc(2025, 10, 26, 1, 10, 5)),
              utc(2025, 10, 26, 0, 59));
    EXPECT_EQ(latest_fire(cron("* * * * *"), z, utc(2025, 10, 26, 2, 0, 0)), utc(2025, 10, 26, 2));
}

// ---------------------------------------------------------------- property test

// A generated field: its text and, computed independently of the parser, its values.
struct GenField {
    std::string text;
    uint64_t bits = 0;
    bool star = false;
};

class ExpressionGenerator {
  public:
    explicit ExpressionGenerator(std::mt19937_64& rng) : rng_(rng) {}

    struct Generated {
        std::string text;
        uint64_t minutes, hours, days, months, weekdays;
        bool and_rule;
    };

    Generated next() {
        GenField minute = field(0, 59, {20, 30, 50}, nullptr);
        GenField hour = field(0, 23, {40, 15, 45}, nullptr, true);
        GenField dom = field(1, 31, {75, 5, 20}, nullptr);
        GenField month = field(1, 12, {80, 5, 15}, kMonths);
        GenField dow = field(0, 7, {70, 5, 25}, kDays);
        Generated g;
        g.text = minute.text + " " + hour.text + " " + dom.text + " " + month.text + " " + dow.text;
        g.minutes = minute.bits;
        g.hours = hour.bits;
        g.days = dom.bits;
        g.months = month.bits;
        g.weekdays = dow.bits;
        g.and_rule = dom.star || dow.star;
        return g;
    }

  private:
    static constexpr const char* kMonths[] = {"",    "JAN", "feb", "Mar", "APR", "may", "JUN",
                                              "jul", "AUG", "Sep", "OCT", "nov", "DEC"};
    static constexpr const char* kDays[] = {"SUN", "mon", "Tue", "WED", "thu", "FRI", "sat"};

    int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

    static uint64_t bit(int v, bool dow) { return uint64_t{1} << (dow && v == 7 ? 0 : v); }

    std::string value_text(int v, const char* const* names) {
        if (names != nullptr && uniform(0, 3) == 0 && v <= (names == kDays ? 6 : 12)) {
            return names[v];
        }
        return std::to_string(v);
    }

    // weights: percent for `*`, `*/n`, list.
    GenField field(int lo, int hi, std::array<int, 3> weights, const char* const* names,
                   bool dst_hours = false) {
        bool dow = names == kDays;
        GenField f;
        int roll = uniform(1, 100);
        if (roll <= weights[0]) {
            f.text = "*";
            f.star = true;
            for (int v = lo; v <= hi; ++v) f.bits |= bit(v, dow);
            return f;
        }
        if (roll <= weights[0] + weights[1]) {
            int n = uniform(2, std::min(hi - lo + 1, 20));
            f.text = "*/" + std::to_string(n);
            f.star = true;
            for (int v = lo; v <= hi; v += n) f.bits |= bit(v, dow);
            return f;
        }
        int items = uniform(1, 3);
        for (int i = 0; i < items; ++i) {
            if (i > 0) f.text += ",";
            int a = dst_hours && uniform(0, 1) == 0 ? uniform(0, 3) : uniform(lo, hi);
            int kind = uniform(0, 2);
            if (kind == 0) {
                f.text += value_text(a, names);
                f.bits |= bit(a, dow);
            } else {
                int b = uniform(a, std::min(hi, a + uniform(0, hi - lo)));
                int n = kind == 1 ? 1 : uniform(1, std::min(10, hi - lo + 1));
                f.text += value_text(a, names) + "-" + value_text(b, names);
                if (kind == 2) f.text += "/" + std::to_string(n);
                for (int v = a; v <= b; v += n) f.bits |= bit(v, dow);
            }
        }
        return f;
    }

    std::mt19937_64& rng_;
};

bool oracle_matches(const ExpressionGenerator::Generated& g, const CivilTime& c) {
    if (!(g.minutes >> c.minute & 1) || !(g.hours >> c.hour & 1) || !(g.months >> c.month & 1)) {
        return false;
    }
    bool dom = g.days >> c.day & 1;
    bool dow = g.weekdays >> weekday(c.year, c.month, c.day) & 1;
    return g.and_rule ? dom && dow : dom || dow;
}

// Brute force, straight from the definition: scanning every minute (all offsets are
// whole minutes), an instant t fires iff some matching civil minute lies after every
// local time seen before t and at or before the local time at t. That covers the
// normal case (one new minute), the gap (several skipped minutes at once, fired at the
// gap's end) and the overlap (repeated minutes are not new, so they do not fire again).
// The local time (on the uniform civil line) at every minute from..to.
struct LocalSamples {
    int64_t from = 0;
    int64_t before = 0;  // the local time at from - 60
    std::vector<int64_t> local;
};

LocalSamples sample_zone(const TimeZone& zone, int64_t from, int64_t to) {
    LocalSamples s;
    s.from = from;
    s.before = civil_to_seconds(zone.to_civil(from - 60));
    for (int64_t t = from; t <= to; t += 60) s.local.push_back(civil_to_seconds(zone.to_civil(t)));
    return s;
}

std::vector<int64_t> brute_force_fires(const ExpressionGenerator::Generated& g,
                                       const LocalSamples& samples) {
    std::vector<int64_t> fires;
    int64_t max_seen = samples.before;
    for (size_t i = 0; i < samples.local.size(); ++i) {
        int64_t here = samples.local[i];
        for (int64_t m = max_seen + 60; m <= here; m += 60) {
            if (oracle_matches(g, civil_from_seconds(m))) {
                fires.push_back(samples.from + static_cast<int64_t>(i) * 60);
                break;
            }
        }
        max_seen = std::max(max_seen, here);
    }
    return fires;
}

std::vector<int64_t> brute_force_fires(const ExpressionGenerator::Generated& g,
                                       const TimeZone& zone, int64_t from, int64_t to) {
    return brute_force_fires(g, sample_zone(zone, from, to));
}

// Exhaustive over the transition nights: "m h * * *" for every minute from 00:00 to
// 04:59, in each real zone, on each 2025 transition day, against the brute force.
TEST(CronProperty, EveryEarlyMorningMinuteOnTransitionDays) {
    struct Night {
        const LibcTimeZone* zone;
        int64_t day;  // UTC midnight of the local transition date
    };
    const Night nights[] = {
        {&berlin(), utc(2025, 3, 30)},   {&berlin(), utc(2025, 10, 26)},
        {&new_york(), utc(2025, 3, 9)},  {&new_york(), utc(2025, 11, 2)},
        {&lord_howe(), utc(2025, 4, 6)}, {&lord_howe(), utc(2025, 10, 5)},
    };
    int gap_ends = 0;
    int repeated = 0;
    for (const Night& night : nights) {
        SCOPED_TRACE(night.zone->name() + " " + kUtc.to_civil(night.day).to_string());
        int64_t from = night.day - 2 * 86400;
        LocalSamples samples = sample_zone(*night.zone, from, night.day + 2 * 86400);
        for (int h = 0; h < 5; ++h) {
            for (int m = 0; m < 60; ++m) {
                ExpressionGenerator::Generated g{
                    std::to_string(m) + " " + std::to_string(h) + " * * *",
                    uint64_t{1} << m,
                    uint64_t{1} << h,
                    0xFFFFFFFEu,
                    0x1FFEu,
                    0x7Fu,
                    true};
                CronExpression e = cron(g.text);
                std::vector<int64_t> fires = brute_force_fires(g, samples);
                // The fire on the night itself: after the previous day's one.
                int64_t after = from + 86400 + 43200;
                auto expected = std::upper_bound(fires.begin(), fires.end(), after);
                ASSERT_TRUE(expected != fires.end() && expected + 1 != fires.end());
                ASSERT_EQ(next_fire(e, *night.zone, after), *expected) << g.text;
                ASSERT_EQ(next_fire(e, *night.zone, *expected), *(expected + 1)) << g.text;
                ASSERT_EQ(latest_fire(e, *night.zone, *(expected + 1) - 1), *expected) << g.text;
                CivilTime c = night.zone->to_civil(*expected);
                gap_ends += c.hour != h || c.minute != m;
                repeated += night.zone->from_civil(civil(c.year, c.month, c.day, h, m)).size() == 2;
            }
        }
    }
    // Berlin and New York skip 60 minutes, Lord Howe 30; Berlin repeats 60 (02:xx), New
    // York 60 (01:xx), Lord Howe 30 (01:30-01:59).
    EXPECT_EQ(gap_ends, 60 + 60 + 30);
    EXPECT_EQ(repeated, 60 + 60 + 30);
}

TEST(CronProperty, AgreesWithBruteForceScan) {
    const LibcTimeZone& b = berlin();
    const LibcTimeZone& ny = new_york();
    const LibcTimeZone& lh = lord_howe();
    FixedOffsetTimeZone plus_0530(19800);
    FixedOffsetTimeZone minus_0930(-34200);
    const TimeZone* zones[] = {&kUtc, &plus_0530, &minus_0930, &b, &ny, &lh};
    // Transition days (UTC midnight) of 2024 and 2025 for the three real zones.
    const int64_t transitions[3][4] = {
        {utc(2024, 3, 31), utc(2024, 10, 27), utc(2025, 3, 30), utc(2025, 10, 26)},
        {utc(2024, 3, 10), utc(2024, 11, 3), utc(2025, 3, 9), utc(2025, 11, 2)},
        {utc(2024, 4, 6), utc(2024, 10, 5), utc(2025, 4, 5), utc(2025, 10, 4)},
    };
    constexpr int kCases = 400;
    constexpr int64_t kLead = 2 * 86400;
    constexpr int64_t kWindow = 3 * 86400;
    std::mt19937_64 rng(20250330);
    ExpressionGenerator generator(rng);
    int compared_next = 0;
    int compared_latest = 0;
    int sequence_fires = 0;
    int gap_fires = 0;
    int overlap_days = 0;
    for (int i = 0; i < kCases; ++i) {
        ExpressionGenerator::Generated g = generator.next();
        const int zone_index = i % 6;
        const TimeZone& zone = *zones[zone_index];
        int64_t after;
        if (zone_index >= 3 && rng() % 4 != 0) {
            // Around one of this zone's transitions (mostly within the same day).
            int64_t spread = rng() % 2 == 0 ? 86400 : 4 * 86400;
            after = transitions[zone_index - 3][rng() % 4] + 43200 +
                    static_cast<int64_t>(rng() % spread) - spread / 2;
        } else {
            after = utc(2024, 1, 1) + static_cast<int64_t>(rng() % (2 * 365 * 86400));
        }
        SCOPED_TRACE(testing::Message() << "case " << i << ": \"" << g.text << "\" zone #" << i % 6
                                        << " after " << after);
        CronExpression e = cron(g.text);
        // The parser agrees with the generator's own reading of the text.
        ASSERT_EQ(e.minute_bits(), g.minutes);
        ASSERT_EQ(e.hour_bits(), g.hours);
        ASSERT_EQ(e.month_bits(), g.months);
        ASSERT_EQ(e.days_must_match_both(), g.and_rule || e.day_of_month_bits() == 0xFFFFFFFEu ||
                                                e.day_of_week_bits() == 0x7F);
        ASSERT_EQ(cron(e.to_string()), e) << e.to_string();
        for (int k = 0; k < 50; ++k) {
            CivilTime c = civil_from_seconds(after + static_cast<int64_t>(rng() % (400 * 86400)));
            ASSERT_EQ(e.matches(c), oracle_matches(g, c)) << c.to_string();
        }

        int64_t from = (after / 60) * 60 - kLead;
        int64_t to = after + kWindow;
        std::vector<int64_t> fires = brute_force_fires(g, zone, from, to);

        // next_fire: > after, the first brute-force fire after it, or beyond the window.
        std::optional<int64_t> next = next_fire(e, zone, after);
        auto first = std::upper_bound(fires.begin(), fires.end(), after);
        if (first != fires.end()) {
            ASSERT_EQ(next, *first);
            ++compared_next;
        } else {
            ASSERT_TRUE(!next || *next > to) << *next;
        }
        if (next) {
            ASSERT_GT(*next, after);
            CivilTime c = zone.to_civil(*next);
            std::vector<int64_t> occurrences = zone.from_civil(c);
            bool exact = oracle_matches(g, c) && occurrences.front() == *next;
            // Otherwise a gap-end substitution: local time jumped at *next over a match.
            bool substituted = false;
            int64_t before = civil_to_seconds(zone.to_civil(*next - 1));
            for (int64_t m = (before / 60 + 1) * 60; m < civil_to_seconds(c); m += 60) {
                substituted = substituted || oracle_matches(g, civil_from_seconds(m));
            }
            ASSERT_TRUE(exact || substituted) << zone.to_civil(*next).to_string();
            gap_fires += !exact;
        }

        // The whole sequence of next_fire over the last three days of the window.
        int64_t t = from + 86400;
        auto expected = std::upper_bound(fires.begin(), fires.end(), t);
        while (true) {
            std::optional<int64_t> step = next_fire(e, zone, t);
            if (!step || *step > to) {
                ASSERT_EQ(expected, fires.end()) << "next_fire missed the fire at " << *expected;
                break;
            }
            ASSERT_NE(expected, fires.end()) << "extra fire at " << *step;
            ASSERT_EQ(*step, *expected);
            CivilTime c = zone.to_civil(*step);
            gap_fires += !oracle_matches(g, c) || zone.from_civil(c).front() != *step;
            overlap_days += zone.from_civil(c).size() == 2;
            ++sequence_fires;
            t = *step;
            ++expected;
        }

        // latest_fire and missed_run at random points of the window.
        for (int k = 0; k < 3; ++k) {
            int64_t at = from + 86400 + static_cast<int64_t>(rng() % (kLead + kWindow - 86400));
            std::optional<int64_t> latest = latest_fire(e, zone, at);
            auto last = std::upper_bound(fires.begin(), fires.end(), at);
            if (last != fires.begin() && *(last - 1) >= from + 86400) {
                ASSERT_EQ(latest, *(last - 1)) << "at " << at;
                ++compared_latest;
            } else {
                ASSERT_TRUE(!latest || *latest < from + 86400) << "at " << at;
            }
            int64_t since = at - static_cast<int64_t>(rng() % 86400);
            std::optional<int64_t> missed = missed_run(e, zone, since, at);
            if (since >= from + 86400) {
                auto lo = std::upper_bound(fires.begin(), fires.end(), since);
                std::optional<int64_t> expected;
                if (lo != last) expected = *(last - 1);
                ASSERT_EQ(missed, expected) << "since " << since << " at " << at;
            }
        }
    }
    // The generator must exercise the interesting paths, not only the trivial ones.
    EXPECT_GT(compared_next, kCases / 2);
    EXPECT_GT(compared_latest, kCases);
    EXPECT_GT(sequence_fires, 10 * kCases);
    EXPECT_GE(gap_fires, 5);
    EXPECT_GE(overlap_days, 20);
    std::printf(
        "[ property ] %d cases: %d next_fire compared singly, %d in sequence (%d at a "
        "gap's end, %d at a repeated civil time), %d latest_fire compared\n",
        kCases, compared_next, sequence_fires, gap_fires, overlap_days, compared_latest);
}

}  // namespace
}  // namespace infra::core
