// cron.cpp: parsing and printing cron expressions, and the civil-minute search behind
// next_fire / latest_fire / missed_run (rules in cron.hpp).
#include "core/cron.hpp"

#include <cctype>
#include <cstdio>
#include <vector>

#include "core/errors.hpp"

namespace infra::core {

namespace {

constexpr int64_t kGregorianCycleDays = 146097;  // 400 years; weekdays repeat too

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct FieldSpec {
    const char* name;
    int lo;  // allowed in the text
    int hi;
    const char* const* names;  // nullptr: numbers only
    int name_count;
    int first_name_value;  // JAN = 1, SUN = 0
    const char* allowed;   // for messages
};

const FieldSpec kMinute{"minute", 0, 59, nullptr, 0, 0, "0-59"};
const FieldSpec kHour{"hour", 0, 23, nullptr, 0, 0, "0-23"};
const FieldSpec kDayOfMonth{"day-of-month", 1, 31, nullptr, 0, 0, "1-31"};
const FieldSpec kMonth{"month", 1, 12, kMonthNames, 12, 1, "1-12 or JAN-DEC"};
const FieldSpec kDayOfWeek{
    "day-of-week", 0, 7, kDayNames, 7, 0, "0-7 or SUN-SAT, where 0 and 7 are Sunday"};

const char kSyntaxHint[] =
    "A field is *, a number, a range a-b, a step */n or a-b/n, or a comma-separated list of "
    "numbers and ranges; the month and day-of-week fields also accept names (JAN-DEC, "
    "SUN-SAT).";

bool is_day_of_week(const FieldSpec& spec) {
    return &spec == &kDayOfWeek;
}

// The bits of lo, lo+step, ..., <= hi; a day-of-week 7 counts as Sunday (bit 0).
uint64_t stepped_bits(const FieldSpec& spec, int lo, int hi, int step) {
    uint64_t bits = 0;
    for (int v = lo; v <= hi; v += step) {
        bits |= uint64_t{1} << (is_day_of_week(spec) && v == 7 ? 0 : v);
    }
    return bits;
}

int span_of(const FieldSpec& spec) {
    return spec.hi - spec.lo + 1;
}

uint64_t full_bits(const FieldSpec& spec) {
    return stepped_bits(spec, spec.lo, spec.hi, 1);
}

// The smallest n with `*/n` selecting exactly `bits`, or 0 if there is none.
int star_step(uint64_t bits, const FieldSpec& spec) {
    for (int n = 1; n <= span_of(spec); ++n) {
        if (stepped_bits(spec, spec.lo, spec.hi, n) == bits) return n;
    }
    return 0;
}

std::string describe_char(char ch) {
    unsigned char u = static_cast<unsigned char>(ch);
    char buf[32];
    if (u >= 0x21 && u < 0x7f) {
        std::snprintf(buf, sizeof buf, "'%c'", ch);
    } else {
        std::snprintf(buf, sizeof buf, "byte 0x%02X", u);
    }
    return buf;
}

std::string upper(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
}

[[noreturn]] void fail(const std::string& text, const std::string& what, const std::string& hint) {
    throw Error(ErrorKind::kInvalidArgument, "invalid cron expression \"" + text + "\": " + what,
                hint);
}

struct ParsedField {
    uint64_t bits = 0;
    bool star = false;  // written as `*` or `*/n`
};

// Parses one field; `text` is the whole expression, for messages.
class FieldParser {
  public:
    FieldParser(const std::string& text, const FieldSpec& spec, const std::string& field)
        : text_(text), spec_(spec), field_(field) {}

    ParsedField parse() {
        std::vector<std::string> items;
        size_t start = 0;
        for (;;) {
            size_t comma = field_.find(',', start);
            items.push_back(field_.substr(start, comma - start));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        ParsedField out;
        for (const std::string& item : items) {
            if (item.empty()) {
                fail(text_, field_desc() + " has an empty list item",
                     "Remove the extra comma; a list looks like 1,15,30.");
            }
            if (item[0] == '*' && items.size() > 1) {
                fail(text_, field_desc() + " combines * with other list items",
                     "Use * alone for every value, or list the values you want.");
            }
            out.star = item[0] == '*';
            out.bits |= parse_item(item);
        }
        return out;
    }

  private:
    std::string field_desc() const { return std::string(spec_.name) + " field \"" + field_ + "\""; }

    uint64_t parse_item(const std::string& item) {
        size_t p = 0;
        int lo = 0;
        int hi = 0;
        bool star = false;
        bool range = false;
        if (item[0] == '*') {
            star = true;
            lo = spec_.lo;
            hi = spec_.hi;
            p = 1;
        } else {
            lo = hi = value(item, p);
            if (p < item.size() && item[p] == '-') {
                ++p;
                hi = value(item, p);
                range = true;
                if (hi < lo) reversed(lo, hi);
            }
        }
        int step = 1;
        if (p < item.size() && item[p] == '/') {
            if (!star && !range) {
                fail(text_,
                     std::string(spec_.name) + " step \"" + item +
                         "\" needs a range or * before the /",
                     "Write a-b/n or */n: for example " + std::to_string(lo) + "-" +
                         std::to_string(spec_.hi) + "/" + item.substr(p + 1) + " starts at " +
                         std::to_string(lo) + ".");
            }
            ++p;
            step = step_value(item, p);
        }
        if (p < item.size()) unexpected(item[p]);
        return stepped_bits(spec_, lo, hi, step);
    }

    int value(const std::string& item, size_t& p) {
        if (p >= item.size()) {
            fail(text_, field_desc() + " ends where a value was expected", kSyntaxHint);
        }
        unsigned char ch = static_cast<unsigned char>(item[p]);
        if (std::isdigit(ch)) {
            size_t begin = p;
            while (p < item.size() && std::isdigit(static_cast<unsigned char>(item[p]))) ++p;
            std::string digits = item.substr(begin, p - begin);
            long v = digits.size() > 6 ? 1000000 : std::stol(digits);
            if (v < spec_.lo || v > spec_.hi) {
                fail(text_,
                     std::string(spec_.name) + " value " + digits + " is out of range (allowed " +
                         spec_.allowed + ")",
                     "Use values from " + std::to_string(spec_.lo) + " to " +
                         std::to_string(spec_.hi) + " in the " + spec_.name + " field.");
            }
            return static_cast<int>(v);
        }
        if (std::isalpha(ch)) {
            size_t begin = p;
            while (p < item.size() && std::isalpha(static_cast<unsigned char>(item[p]))) ++p;
            std::string name = item.substr(begin, p - begin);
            if (spec_.names == nullptr) {
                fail(text_,
                     field_desc() + " contains the name \"" + name +
                         "\", but names are only allowed in the month and day-of-week fields",
                     "Use numbers from " + std::to_string(spec_.lo) + " to " +
                         std::to_string(spec_.hi) + " in the " + spec_.name + " field.");
            }
            std::string key = upper(name);
            for (int i = 0; i < spec_.name_count; ++i) {
                if (key == spec_.names[i]) return spec_.first_name_value + i;
            }
            fail(text_, field_desc() + " contains the unknown name \"" + name + "\"",
                 std::string("Use ") +
                     (spec_.names == kMonthNames
                          ? "JAN, FEB, MAR, APR, MAY, JUN, JUL, AUG, SEP, OCT, "
                            "NOV, DEC"
                          : "SUN, MON, TUE, WED, THU, FRI, SAT") +
                     " (any case), or numbers " + spec_.allowed + ".");
        }
        unexpected(item[p]);
    }

    int step_value(const std::string& item, size_t& p) {
        std::string hint = "Write a step as */n or a-b/n with n from 1 to " +
                           std::to_string(span_of(spec_)) + ", for example */15.";
        if (p >= item.size()) {
            fail(text_, std::string(spec_.name) + " step in \"" + field_ + "\" is missing after /",
                 hint);
        }
        size_t begin = p;
        while (p < item.size() && std::isdigit(static_cast<unsigned char>(item[p]))) ++p;
        if (p == begin) unexpected(item[p]);
        std::string digits = item.substr(begin, p - begin);
        long n = digits.size() > 6 ? 1000000 : std::stol(digits);
        if (n < 1 || n > span_of(spec_)) {
            fail(text_,
                 std::string(spec_.name) + " step " + digits + " is invalid (allowed 1-" +
                     std::to_string(span_of(spec_)) + ")",
                 hint);
        }
        return static_cast<int>(n);
    }

    [[noreturn]] void reversed(int lo, int hi) {
        std::string hint = "Write the smaller value first, as in " + std::to_string(hi) + "-" +
                           std::to_string(lo) + "; to wrap around, use a list of two ranges.";
        if (is_day_of_week(spec_) && hi == 0) {
            hint = "Sunday can also be written 7: to end a range on Sunday write " +
                   std::to_string(lo) + "-7.";
        }
        fail(text_,
             std::string(spec_.name) + " range " + std::to_string(lo) + "-" + std::to_string(hi) +
                 " in \"" + field_ + "\" is reversed",
             hint);
    }

    [[noreturn]] void unexpected(char ch) {
        fail(text_, field_desc() + " has an unexpected character " + describe_char(ch),
             kSyntaxHint);
    }

    const std::string& text_;
    const FieldSpec& spec_;
    const std::string& field_;
};

std::vector<std::string> split_fields(const std::string& text) {
    std::vector<std::string> fields;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
        size_t begin = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
        if (i > begin) fields.push_back(text.substr(begin, i - begin));
    }
    return fields;
}

// A list of values for to_string: a progression "a-b/n", or values with runs as ranges.
std::string format_list(uint64_t bits) {
    std::vector<int> v;
    for (int i = 0; i < 64; ++i) {
        if (bits >> i & 1) v.push_back(i);
    }
    if (v.size() >= 3) {
        int d = v[1] - v[0];
        bool progression = d >= 2;
        for (size_t i = 2; progression && i < v.size(); ++i) progression = v[i] - v[i - 1] == d;
        if (progression) {
            return std::to_string(v.front()) + "-" + std::to_string(v.back()) + "/" +
                   std::to_string(d);
        }
    }
    std::string out;
    for (size_t i = 0; i < v.size();) {
        size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
        if (!out.empty()) out += ",";
        if (j - i >= 2) {
            out += std::to_string(v[i]) + "-" + std::to_string(v[j]);
            i = j + 1;
        } else {
            out += std::to_string(v[i]);
            ++i;
        }
    }
    return out;
}

// Whether `*/n` is the canonical spelling: a step selecting 3 or more values.
bool prints_as_step(uint64_t bits, const FieldSpec& spec) {
    return star_step(bits, spec) >= 2 && __builtin_popcountll(bits) >= 3;
}

std::string format_field(uint64_t bits, const FieldSpec& spec) {
    int n = star_step(bits, spec);
    if (n == 1) return "*";
    if (prints_as_step(bits, spec)) return "*/" + std::to_string(n);
    return format_list(bits);
}

// A day field: `*`/`*/n` exactly when its star flag says so (the flag selects the rule).
std::string format_day_field(uint64_t bits, const FieldSpec& spec, bool star) {
    if (!star) return format_list(bits);
    int n = star_step(bits, spec);
    return n == 1 ? "*" : "*/" + std::to_string(n);
}

int lowest_bit_at_or_above(uint64_t bits, int from) {
    uint64_t rest = from >= 64 ? 0 : bits & (~uint64_t{0} << from);
    return rest == 0 ? -1 : __builtin_ctzll(rest);
}

int highest_bit_at_or_below(uint64_t bits, int from) {
    uint64_t rest = from >= 63 ? bits : bits & ((uint64_t{2} << from) - 1);
    return rest == 0 ? -1 : 63 - __builtin_clzll(rest);
}

CivilTime start_of_day(int64_t days) {
    return civil_from_days(days);
}

CivilTime end_of_day(int64_t days) {
    CivilTime c = civil_from_days(days);
    c.hour = 23;
    c.minute = 59;
    return c;
}

// Moves c (seconds 0) forward to the first matching civil minute at or after it.
// False if that would pass day number limit_days.
bool next_match(const CronExpression& e, CivilTime& c, int64_t limit_days) {
    for (;;) {
        int64_t day = days_from_civil(c.year, c.month, c.day);
        if (day > limit_days) return false;
        if (!(e.month_bits() >> c.month & 1)) {
            if (++c.month > 12) {
                c.month = 1;
                ++c.year;
            }
            c.day = 1;
            c.hour = c.minute = 0;
            continue;
        }
        if (!e.matches_day(c.year, c.month, c.day)) {
            c = start_of_day(day + 1);
            continue;
        }
        int hour = lowest_bit_at_or_above(e.hour_bits(), c.hour);
        if (hour < 0) {
            c = start_of_day(day + 1);
            continue;
        }
        if (hour != c.hour) {
            c.hour = hour;
            c.minute = 0;
        }
        int minute = lowest_bit_at_or_above(e.minute_bits(), c.minute);
        if (minute < 0) {
            if (c.hour == 23) {
                c = start_of_day(day + 1);
            } else {
                ++c.hour;
                c.minute = 0;
            }
            continue;
        }
        c.minute = minute;
        return true;
    }
}

// Moves c (seconds 0) back to the last matching civil minute at or before it.
// False if that would pass below day number limit_days.
bool prev_match(const CronExpression& e, CivilTime& c, int64_t limit_days) {
    for (;;) {
        int64_t day = days_from_civil(c.year, c.month, c.day);
        if (day < limit_days) return false;
        if (!(e.month_bits() >> c.month & 1)) {
            c = end_of_day(day - c.day);  // the last day of the previous month
            continue;
        }
        if (!e.matches_day(c.year, c.month, c.day)) {
            c = end_of_day(day - 1);
            continue;
        }
        int hour = highest_bit_at_or_below(e.hour_bits(), c.hour);
        if (hour < 0) {
            c = end_of_day(day - 1);
            continue;
        }
        if (hour != c.hour) {
            c.hour = hour;
            c.minute = 59;
        }
        int minute = highest_bit_at_or_below(e.minute_bits(), c.minute);
        if (minute < 0) {
            if (c.hour == 0) {
                c = end_of_day(day - 1);
            } else {
                --c.hour;
                c.minute = 59;
            }
            continue;
        }
        c.minute = minute;
        return true;
    }
}

// The first instant whose local time is later than c (for c inside a DST gap: the
// gap's end). Binary search on the contract |UTC offset| <= kMaxUtcOffsetSeconds.
int64_t first_instant_after(const TimeZone& zone, const CivilTime& c) {
    int64_t base = civil_to_seconds(c);
    int64_t lo = base - kMaxUtcOffsetSeconds - 1;  // local time < c
    int64_t hi = base + kMaxUtcOffsetSeconds + 1;  // local time > c
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (zone.to_civil(mid) > c) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return hi;
}

// The instant a matching civil minute fires at (see cron.hpp).
int64_t resolve(const TimeZone& zone, const CivilTime& c) {
    std::vector<int64_t> instants = zone.from_civil(c);
    if (!instants.empty()) return instants.front();
    return first_instant_after(zone, c);
}

void check_instant(int64_t t, const char* what) {
    if (t < kMinSupportedUnixSeconds || t > kMaxSupportedUnixSeconds) {
        throw Error(
            ErrorKind::kInvalidArgument,
            std::string(what) + " " + std::to_string(t) +
                " is outside the supported range of Unix times (years 0001 to 9999)",
            "Pass a time in Unix seconds, for example 1767225600 for 2026-01-01 00:00 UTC.");
    }
}

CivilTime civil_at(const TimeZone& zone, int64_t t) {
    CivilTime c = zone.to_civil(t);
    if (!is_valid(c)) {
        throw Error(ErrorKind::kInternal,
                    "the time zone mapped " + std::to_string(t) + " to the invalid civil time " +
                        c.to_string(),
                    "This is a bug in the TimeZone implementation.");
    }
    return c;
}

// Guards the searches against a TimeZone that breaks its contract (which would
// otherwise make them walk the whole 400-year horizon).
[[noreturn]] void inconsistent() {
    throw Error(ErrorKind::kInternal,
                "the time zone maps civil times to instants inconsistently (from_civil and "
                "to_civil disagree by more than the largest UTC offset)",
                "This is a bug in the TimeZone implementation.");
}

CivilTime add_seconds(const CivilTime& c, int64_t seconds) {
    return civil_from_seconds(civil_to_seconds(c) + seconds);
}

}  // namespace

CronExpression CronExpression::parse(const std::string& text) {
    std::vector<std::string> fields = split_fields(text);
    const char* const five_hint =
        "Write five fields separated by spaces: minute hour day-of-month month day-of-week, "
        "for example \"0 3 * * *\" for 03:00 every day, or use @hourly, @daily, @weekly, "
        "@monthly or @yearly.";
    if (fields.empty()) fail(text, "it is empty", five_hint);
    if (fields[0][0] == '@') {
        static const struct {
            const char* alias;
            const char* expansion;
        } kAliases[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                        {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                        {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                        {"@hourly", "0 * * * *"}};
        const char* const alias_hint =
            "Use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly on "
            "its own, or five fields such as \"0 3 * * *\".";
        if (fields.size() != 1) fail(text, "an alias must stand alone", alias_hint);
        std::string alias = fields[0];
        for (char& ch : alias) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        for (const auto& a : kAliases) {
            if (alias == a.alias) return parse(a.expansion);
        }
        fail(text, "unknown alias \"" + fields[0] + "\"", alias_hint);
    }
    if (fields.size() != 5) {
        fail(text,
             "it has " + std::to_string(fields.size()) +
                 (fields.size() == 1 ? " field" : " fields") +
                 ", expected 5 (minute hour day-of-month month day-of-week)",
             std::string(five_hint) + " Seconds and years are not supported.");
    }
    CronExpression e;
    e.minutes_ = FieldParser(text, kMinute, fields[0]).parse().bits;
    e.hours_ = static_cast<uint32_t>(FieldParser(text, kHour, fields[1]).parse().bits);
    ParsedField dom = FieldParser(text, kDayOfMonth, fields[2]).parse();
    e.months_ = static_cast<uint16_t>(FieldParser(text, kMonth, fields[3]).parse().bits);
    ParsedField dow = FieldParser(text, kDayOfWeek, fields[4]).parse();
    e.days_ = static_cast<uint32_t>(dom.bits);
    e.weekdays_ = static_cast<uint8_t>(dow.bits);

    // Canonical form. Either day field being full under the OR rule matches every day.
    // Under the AND rule a day field prints like the other fields (`*`, `*/n` for 3+
    // values, else a list), except that if neither would print as `*` or `*/n`, one of
    // them (the day-of-month if it can) does, to keep the AND rule on re-parsing.
    const uint32_t all_days = static_cast<uint32_t>(full_bits(kDayOfMonth));
    const uint8_t all_weekdays = static_cast<uint8_t>(full_bits(kDayOfWeek));
    if (!dom.star && !dow.star) {
        if (e.days_ == all_days || e.weekdays_ == all_weekdays) {
            e.days_ = all_days;
            e.weekdays_ = all_weekdays;
            e.dom_star_ = e.dow_star_ = true;
        }
    } else {
        e.dom_star_ = e.days_ == all_days || prints_as_step(e.days_, kDayOfMonth);
        e.dow_star_ = e.weekdays_ == all_weekdays || prints_as_step(e.weekdays_, kDayOfWeek);
        if (!e.dom_star_ && !e.dow_star_) {
            if (star_step(e.days_, kDayOfMonth) != 0) {
                e.dom_star_ = true;
            } else {
                e.dow_star_ = true;  // it was written `*/n`, so it can be printed so
            }
        }
    }
    return e;
}

std::string CronExpression::to_string() const {
    return format_field(minutes_, kMinute) + " " + format_field(hours_, kHour) + " " +
           format_day_field(days_, kDayOfMonth, dom_star_) + " " + format_field(months_, kMonth) +
           " " + format_day_field(weekdays_, kDayOfWeek, dow_star_);
}

bool CronExpression::operator==(const CronExpression& o) const {
    return minutes_ == o.minutes_ && hours_ == o.hours_ && days_ == o.days_ &&
           months_ == o.months_ && weekdays_ == o.weekdays_ && dom_star_ == o.dom_star_ &&
           dow_star_ == o.dow_star_;
}

bool CronExpression::matches_day(int year, int month, int day) const {
    if (!(months_ >> month & 1)) return false;
    bool dom = days_ >> day & 1;
    bool dow = weekdays_ >> weekday(year, month, day) & 1;
    return days_must_match_both() ? (dom && dow) : (dom || dow);
}

bool CronExpression::matches(const CivilTime& c) const {
    return (minutes_ >> c.minute & 1) && (hours_ >> c.hour & 1) &&
           matches_day(c.year, c.month, c.day);
}

bool CronExpression::can_fire() const {
    // A `*`/`*/n` day-of-month includes the 1st, and a restricted day-of-week under the OR
    // rule matches some day of every week; over 400 years every date falls on every
    // weekday. So only a restricted day-of-month with a `*`/`*/n` day-of-week can fail:
    // when no chosen day exists in any chosen month (February counted with 29 days).
    if (dom_star_ || !dow_star_) return true;
    for (int month = 1; month <= 12; ++month) {
        if (!(months_ >> month & 1)) continue;
        int longest = month == 2 ? 29 : days_in_month(2001, month);
        if (days_ & ((uint32_t{2} << longest) - 2)) return true;
    }
    return false;
}

std::optional<int64_t> next_fire(const CronExpression& expr, const TimeZone& zone,
                                 int64_t after_unix_seconds) {
    check_instant(after_unix_seconds, "after");
    if (!expr.can_fire()) return std::nullopt;
    CivilTime c = civil_at(zone, after_unix_seconds);
    c.second = 0;
    const int64_t limit = days_from_civil(c.year, c.month, c.day) + kGregorianCycleDays + 1;
    // Minutes at or after the local time of `after` that resolve to `after` or earlier
    // (its own minute, or the rest of a fall-back overlap already fired in its first
    // pass) are passed over; resolve() is monotonic, so the first later one is the answer.
    const int64_t local_after = civil_to_seconds(c);
    while (next_match(expr, c, limit)) {
        int64_t t = resolve(zone, c);
        if (t > after_unix_seconds) return t;
        // A zone keeping the contract resolves every minute this far on to a later instant.
        if (civil_to_seconds(c) > local_after + 2 * int64_t{kMaxUtcOffsetSeconds}) inconsistent();
        c = add_seconds(c, 60);
    }
    return std::nullopt;
}

std::optional<int64_t> latest_fire(const CronExpression& expr, const TimeZone& zone,
                                   int64_t at_unix_seconds) {
    check_instant(at_unix_seconds, "at");
    if (!expr.can_fire()) return std::nullopt;
    CivilTime local = civil_at(zone, at_unix_seconds);
    // In the second pass of a fall-back overlap the local time already reached up to one
    // jump (the distance to the earlier occurrence) further: start the search there.
    int64_t upper = civil_to_seconds(local);
    std::vector<int64_t> occurrences = zone.from_civil(local);
    if (!occurrences.empty() && occurrences.front() < at_unix_seconds) {
        upper += at_unix_seconds - occurrences.front();
    }
    CivilTime c = civil_from_seconds(upper);
    c.second = 0;
    const int64_t limit = days_from_civil(c.year, c.month, c.day) - kGregorianCycleDays - 1;
    while (prev_match(expr, c, limit)) {
        int64_t t = resolve(zone, c);
        if (t <= at_unix_seconds) return t;
        if (civil_to_seconds(c) < upper - 2 * int64_t{kMaxUtcOffsetSeconds}) inconsistent();
        c = add_seconds(c, -60);
    }
    return std::nullopt;
}

std::optional<int64_t> missed_run(const CronExpression& expr, const TimeZone& zone,
                                  int64_t last_run_or_created, int64_t now) {
    check_instant(now, "now");
    if (now <= last_run_or_created) return std::nullopt;
    std::optional<int64_t> latest = latest_fire(expr, zone, now);
    if (latest && *latest > last_run_or_created) return latest;
    return std::nullopt;
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
