// wal_names.cpp: PostgreSQL's WAL file names, LSNs and timeline history files
// (wal_names.hpp), following PostgreSQL 15's xlog_internal.h, pg_lsn.c and timeline.c.
// Pure functions: no I/O, no shared state.
#include "core/wal_names.hpp"

#include <cstdio>

#include "core/errors.hpp"

namespace infra::core {

namespace {

constexpr uint64_t kMinSegmentSize = uint64_t{1} << 20;
constexpr uint64_t kMaxSegmentSize = uint64_t{1} << 30;
constexpr uint64_t kLogIdSpan = uint64_t{1} << 32;  // bytes of WAL per "log id"
constexpr size_t kHexFieldDigits = 8;
constexpr size_t kSegmentNameLength = 3 * kHexFieldDigits;
constexpr size_t kMaxLsnHalfDigits = 8;
constexpr size_t kMaxQuotedLineBytes = 80;  // of a malformed history line, in its error

const std::string kHistorySuffix = ".history";
const std::string kPartialSuffix = ".partial";
const std::string kBackupSuffix = ".backup";

constexpr const char* kLsnHint =
    "Write an LSN as PostgreSQL prints it: two hexadecimal numbers of at most 8 digits "
    "separated by '/', e.g. 16/B374D848.";
constexpr const char* kHistoryHint =
    "A timeline history file has lines \"parentTLI<TAB>switch LSN<TAB>reason\" with "
    "increasing timeline IDs; restore an intact copy of it (from the server's pg_wal or "
    "another copy of the archive).";

uint64_t segments_per_log_id(uint64_t segment_size) {
    return kLogIdSpan / segment_size;
}

bool is_upper_hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

// The value of a hex digit of either case, or -1.
int hex_digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n';
}

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads the 8 upper-case hex digits at text[at]; false unless they are all there.
bool read_hex_field(const std::string& text, size_t at, uint32_t* value) {
    if (text.size() < at + kHexFieldDigits) return false;
    uint32_t v = 0;
    for (size_t i = at; i < at + kHexFieldDigits; ++i) {
        if (!is_upper_hex_digit(text[i])) return false;
        v = (v << 4) | static_cast<uint32_t>(hex_digit_value(text[i]));
    }
    *value = v;
    return true;
}

// Reads the 24-digit segment name at the start of name into timeline and segno; false
// unless it is well formed, on a timeline other than 0 and within segment_size's range.
bool read_segment_prefix(const std::string& name, uint64_t segment_size, WalFileName* out) {
    uint32_t timeline = 0, log_id = 0, segment_in_log = 0;
    if (!read_hex_field(name, 0, &timeline) || !read_hex_field(name, 8, &log_id) ||
        !read_hex_field(name, 16, &segment_in_log)) {
        return false;
    }
    const uint64_t per_id = segments_per_log_id(segment_size);
    if (timeline == 0 || segment_in_log >= per_id) return false;
    out->timeline = timeline;
    out->segno = uint64_t{log_id} * per_id + segment_in_log;
    return true;
}

// ".XXXXXXXX.backup" with XXXXXXXX an offset inside a segment.
bool is_backup_suffix(const std::string& rest, uint64_t segment_size) {
    uint32_t offset = 0;
    return rest.size() == 1 + kHexFieldDigits + kBackupSuffix.size() && rest[0] == '.' &&
           read_hex_field(rest, 1, &offset) && ends_with(rest, kBackupSuffix) &&
           offset < segment_size;
}

WalFileName parse_history_name(const std::string& name) {
    WalFileName parsed;
    uint32_t timeline = 0;
    if (name.size() == kHexFieldDigits + kHistorySuffix.size() && ends_with(name, kHistorySuffix) &&
        read_hex_field(name, 0, &timeline) && timeline != 0) {
        parsed.kind = WalFileKind::kHistory;
        parsed.timeline = timeline;
    }
    return parsed;
}

void check_timeline(uint32_t timeline) {
    if (timeline == 0) {
        throw Error(ErrorKind::kInvalidArgument, "invalid timeline ID 0",
                    "PostgreSQL's timelines are numbered from 1.");
    }
}

// text in double quotes for an error message, control characters escaped ("\t", "\x00").
std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\t') {
            out += "\\t";
        } else if (byte < 0x20 || byte == 0x7F) {
            const char* const digits = "0123456789ABCDEF";
            out += "\\x";
            out += digits[byte >> 4];
            out += digits[byte & 0xF];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

[[noreturn]] void invalid_lsn(const std::string& text, const std::string& reason) {
    throw Error(ErrorKind::kInvalidArgument, "invalid LSN " + quoted(text) + ": " + reason,
                kLsnHint);
}

// One half of an LSN: 1 to 8 hex digits of either case.
uint32_t parse_lsn_half(const std::string& text, const std::string& half, const char* which) {
    if (half.empty()) invalid_lsn(text, std::string("its ") + which + " half is empty");
    if (half.size() > kMaxLsnHalfDigits) {
        invalid_lsn(text, std::string("its ") + which + " half has more than 8 hex digits");
    }
    uint32_t value = 0;
    for (char c : half) {
        const int digit = hex_digit_value(c);
        if (digit < 0) {
            invalid_lsn(text, std::string("its ") + which + " half is not hexadecimal");
        }
        value = (value << 4) | static_cast<uint32_t>(digit);
    }
    return value;
}

[[noreturn]] void malformed_history_line(size_t line_number, const std::string& line,
                                         const std::string& reason) {
    const std::string shown = line.size() <= kMaxQuotedLineBytes
                                  ? quoted(line)
                                  : quoted(line.substr(0, kMaxQuotedLineBytes)) + "...";
    throw Error(ErrorKind::kInvalidArgument,
                "invalid timeline history: line " + std::to_string(line_number) + " (" + shown +
                    ") " + reason,
                kHistoryHint);
}

// The whitespace-separated word of line starting at or after *at; moves *at past it.
std::string next_word(const std::string& line, size_t* at) {
    size_t begin = *at;
    while (begin < line.size() && is_space(line[begin])) ++begin;
    size_t end = begin;
    while (end < line.size() && !is_space(line[end])) ++end;
    *at = end;
    return line.substr(begin, end - begin);
}

// A decimal timeline ID from 1 to 2^32 - 1, or 0 when word is not one.
uint32_t parse_decimal_timeline(const std::string& word) {
    if (word.empty() || word.size() > 10) return 0;
    uint64_t value = 0;
    for (char c : word) {
        if (c < '0' || c > '9') return 0;
        value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    return value > UINT32_MAX ? 0 : static_cast<uint32_t>(value);
}

// Whether a line holds no entry (blank, or a comment after optional whitespace).
bool is_blank_or_comment(const std::string& line) {
    size_t at = 0;
    while (at < line.size() && is_space(line[at])) ++at;
    return at == line.size() || line[at] == '#';
}

// One entry line; `previous_parent` is the last entry's parent (0 before the first).
TimelineSwitch parse_history_line(const std::string& line, size_t line_number,
                                  uint32_t previous_parent) {
    size_t at = 0;
    TimelineSwitch entry;
    entry.parent = parse_decimal_timeline(next_word(line, &at));
    if (entry.parent == 0) {
        malformed_history_line(line_number, line,
                               "does not start with a timeline ID (a decimal number from 1 to "
                               "4294967295)");
    }
    const std::string lsn = next_word(line, &at);
    if (lsn.empty()) malformed_history_line(line_number, line, "has no switch LSN");
    try {
        entry.switch_lsn = parse_lsn(lsn);
    } catch (const Error& e) {
        malformed_history_line(line_number, line, std::string("has an ") + e.what());
    }
    if (entry.parent <= previous_parent) {
        malformed_history_line(line_number, line,
                               "does not follow timeline " + std::to_string(previous_parent) +
                                   ": timeline IDs must increase");
    }
    return entry;
}

}  // namespace

void check_wal_segment_size(uint64_t segment_size) {
    const bool power_of_two = segment_size != 0 && (segment_size & (segment_size - 1)) == 0;
    if (!power_of_two || segment_size < kMinSegmentSize || segment_size > kMaxSegmentSize) {
        throw Error(ErrorKind::kInvalidArgument,
                    "invalid WAL segment size " + std::to_string(segment_size) +
                        " bytes: it must be a power of two from 1 MB to 1 GB",
                    "Use the server's wal_segment_size (SHOW wal_segment_size; 16MB unless "
                    "initdb --wal-segsize chose another).");
    }
}

WalFileName parse_wal_file_name(const std::string& name, uint64_t segment_size) {
    check_wal_segment_size(segment_size);
    if (ends_with(name, kHistorySuffix)) return parse_history_name(name);
    WalFileName parsed;
    if (!read_segment_prefix(name, segment_size, &parsed)) return WalFileName{};
    const std::string rest = name.substr(kSegmentNameLength);
    if (rest.empty()) {
        parsed.kind = WalFileKind::kSegment;
    } else if (rest == kPartialSuffix) {
        parsed.kind = WalFileKind::kPartial;
    } else if (is_backup_suffix(rest, segment_size)) {
        parsed.kind = WalFileKind::kBackupHistory;
    } else {
        return WalFileName{};
    }
    return parsed;
}

std::string wal_segment_name(uint32_t timeline, uint64_t segno, uint64_t segment_size) {
    check_wal_segment_size(segment_size);
    check_timeline(timeline);
    const uint64_t per_id = segments_per_log_id(segment_size);
    const uint64_t log_id = segno / per_id;
    if (log_id > UINT32_MAX) {
        throw Error(ErrorKind::kInvalidArgument,
                    "WAL segment number " + std::to_string(segno) + " is out of range for " +
                        std::to_string(segment_size) + "-byte segments",
                    "A segment number times the segment size must be below 2^64.");
    }
    char name[kSegmentNameLength + 1];
    std::snprintf(name, sizeof name, "%08X%08X%08X", static_cast<unsigned>(timeline),
                  static_cast<unsigned>(log_id), static_cast<unsigned>(segno % per_id));
    return name;
}

std::string history_file_name(uint32_t timeline) {
    check_timeline(timeline);
    char name[kHexFieldDigits + 1];
    std::snprintf(name, sizeof name, "%08X", static_cast<unsigned>(timeline));
    return name + kHistorySuffix;
}

uint64_t parse_lsn(const std::string& text) {
    if (text.empty()) invalid_lsn(text, "it is empty");
    const size_t slash = text.find('/');
    if (slash == std::string::npos) invalid_lsn(text, "it has no '/'");
    const uint32_t high = parse_lsn_half(text, text.substr(0, slash), "first");
    const uint32_t low = parse_lsn_half(text, text.substr(slash + 1), "second");
    return (uint64_t{high} << 32) | low;
}

std::string format_lsn(uint64_t lsn) {
    char text[2 * kMaxLsnHalfDigits + 2];
    std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32),
                  static_cast<unsigned>(lsn & 0xFFFFFFFFu));
    return text;
}

std::vector<TimelineSwitch> parse_timeline_history(const std::string& content) {
    std::vector<TimelineSwitch> entries;
    size_t line_number = 0;
    for (size_t start = 0; start < content.size();) {
        size_t end = content.find('\n', start);
        if (end == std::string::npos) end = content.size();
        size_t line_end = end;
        if (line_end > start && content[line_end - 1] == '\r') --line_end;  // CRLF
        const std::string line = content.substr(start, line_end - start);
        start = end + 1;
        ++line_number;
        if (is_blank_or_comment(line)) continue;
        const uint32_t previous = entries.empty() ? 0 : entries.back().parent;
        entries.push_back(parse_history_line(line, line_number, previous));
    }
    return entries;
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
