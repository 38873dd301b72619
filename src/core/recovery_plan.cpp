// recovery_plan.cpp: the point-in-time recovery plan (recovery_plan.hpp): choosing the
// base backup, the timeline chain PostgreSQL 15 will follow, the WAL it needs and what the
// archive lacks, the steps and the shell script; and the timestamps users type.
// Pure functions: no I/O, no shared state.
#include "core/recovery_plan.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>

#include "core/civil_time.hpp"
#include "core/errors.hpp"
#include "core/wal_names.hpp"

namespace infra::core {

namespace {

using json = nlohmann::ordered_json;  // keys in the documented order

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int kMinYear = 1970;
constexpr int kMaxYear = 9999;
constexpr int kMaxOffsetHours = 15;  // PostgreSQL's limit for a numeric zone
constexpr size_t kMaxListedMissing = 100;
// Segments looked at, newest first, for the newest transaction end (a run may end in
// segments that hold none, e.g. after pg_switch_wal() or in a long bulk load); past
// that the reach is reported unknown rather than guessed.
constexpr uint64_t kTransactionLookBack = 64;
constexpr size_t kMaxNamedUnreadable = 5;

// ---------------------------------------------------------------------------------------
// Timestamps

const char kTimestampHint[] =
    "write it like 2026-11-29 03:04:05+00 or 2026-11-29T03:04:05.123456Z (a date alone "
    "means midnight; zones: Z, UTC, +HH, +HH:MM, +HHMM or the same with '-')";

[[noreturn]] void throw_timestamp(const std::string& text, const std::string& reason) {
    throw Error(ErrorKind::kInvalidArgument,
                "cannot read the timestamp \"" + text + "\": " + reason, kTimestampHint);
}

// Splits microseconds since 1970 into a civil UTC time and the microseconds part.
CivilTime civil_utc(int64_t unix_us, int* micros) {
    int64_t seconds = unix_us / kMicrosPerSecond;
    int64_t rest = unix_us % kMicrosPerSecond;
    if (rest < 0) {
        rest += kMicrosPerSecond;
        --seconds;
    }
    *micros = static_cast<int>(rest);
    return civil_from_seconds(seconds);
}

// "2026-11-29<sep>03:04:05[.123456]<zone>".
std::string format_civil(int64_t unix_us, char separator, const char* zone) {
    int micros = 0;
    const CivilTime c = civil_utc(unix_us, &micros);
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02d%c%02d:%02d:%02d", c.year, c.month, c.day,
                          separator, c.hour, c.minute, c.second);
    if (micros != 0) n += std::snprintf(buf + n, sizeof buf - n, ".%06d", micros);
    std::snprintf(buf + n, sizeof buf - n, "%s", zone);
    return buf;
}

// "20261129T030405": the suffix of a data directory set aside.
std::string compact_stamp(int64_t unix_us) {
    int micros = 0;
    const CivilTime c = civil_utc(unix_us, &micros);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02d", c.year, c.month, c.day, c.hour,
                  c.minute, c.second);
    return buf;
}

// Reads a timestamp left to right; every failure names the whole text.
class TimestampReader {
  public:
    explicit TimestampReader(const std::string& original) : original_(original) {
        const size_t begin = original.find_first_not_of(" \t");
        const size_t end = original.find_last_not_of(" \t");
        if (begin != std::string::npos) text_ = original.substr(begin, end - begin + 1);
    }

    int64_t read(std::optional<int> default_utc_offset_seconds) {
        if (text_.empty()) throw_timestamp(original_, "it is empty");
        CivilTime c;
        c.year = number(4, "a 4-digit year");
        expect('-', "'-' after the year");
        c.month = number(2, "a 2-digit month");
        expect('-', "'-' after the month");
        c.day = number(2, "a 2-digit day");
        int micros = 0;
        if (at_time_separator()) {
            ++pos_;
            c.hour = number(2, "a 2-digit hour");
            expect(':', "':' after the hour");
            c.minute = number(2, "2-digit minutes");
            if (peek() == ':') {
                ++pos_;
                c.second = number(2, "2-digit seconds");
                if (peek() == '.') {
                    ++pos_;
                    micros = fraction();
                }
            }
        }
        check_ranges(c);
        std::optional<int> offset = zone();
        if (pos_ != text_.size()) {
            throw_timestamp(original_, "unexpected \"" + text_.substr(pos_) + "\"");
        }
        if (!offset) {
            if (!default_utc_offset_seconds) {
                throw Error(ErrorKind::kInvalidArgument,
                            "the timestamp \"" + original_ +
                                "\" has no time zone: add a time zone, e.g. \"" + text_ +
                                "+00\" for UTC or \"" + text_ + "+01:00\"",
                            kTimestampHint);
            }
            offset = *default_utc_offset_seconds;
        }
        return (civil_to_seconds(c) - *offset) * kMicrosPerSecond + micros;
    }

  private:
    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
    static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

    void expect(char ch, const char* what) {
        if (peek() != ch) throw_timestamp(original_, std::string("expected ") + what);
        ++pos_;
    }

    int number(size_t digits, const char* what) {
        int value = 0;
        for (size_t i = 0; i < digits; ++i) {
            if (!is_digit(peek())) throw_timestamp(original_, std::string("expected ") + what);
            value = value * 10 + (text_[pos_++] - '0');
        }
        if (is_digit(peek())) throw_timestamp(original_, std::string("expected ") + what);
        return value;
    }

    int fraction() {
        int value = 0;
        size_t digits = 0;
        for (; is_digit(peek()); ++digits) {
            if (digits == 6) {
                throw_timestamp(original_, "more than 6 digits of fractional seconds");
            }
            value = value * 10 + (text_[pos_++] - '0');
        }
        if (digits == 0) throw_timestamp(original_, "expected digits after '.'");
        for (; digits < 6; ++digits) value *= 10;
        return value;
    }

    // 'T', 't' or ' ' followed by a digit starts the time of day.
    bool at_time_separator() const {
        const char ch = peek();
        return (ch == 'T' || ch == 't' || ch == ' ') && pos_ + 1 < text_.size() &&
               is_digit(text_[pos_ + 1]);
    }

    void check_ranges(const CivilTime& c) const {
        auto out_of_range = [&](const std::string& what) {
            throw_timestamp(original_, what + " is out of range");
        };
        if (c.year < kMinYear || c.year > kMaxYear) {
            out_of_range("year " + std::to_string(c.year) + " (1970 to 9999)");
        }
        if (c.month < 1 || c.month > 12) out_of_range("month " + std::to_string(c.month));
        if (c.day < 1 || c.day > days_in_month(c.year, c.month)) {
            out_of_range("day " + std::to_string(c.day) + " of " + std::to_string(c.year) + "-" +
                         (c.month < 10 ? "0" : "") + std::to_string(c.month));
        }
        if (c.hour > 23) out_of_range("hour " + std::to_string(c.hour));
        if (c.minute > 59) out_of_range("minute " + std::to_string(c.minute));
        if (c.second > 59) out_of_range("second " + std::to_string(c.second));
    }

    // The zone's offset in seconds east of UTC, or nullopt when there is none.
    std::optional<int> zone() {
        if (pos_ == text_.size()) return std::nullopt;
        if (peek() == ' ') ++pos_;
        const std::string rest = text_.substr(pos_);
        if (rest == "Z" || rest == "z") {
            pos_ = text_.size();
            return 0;
        }
        std::string upper = rest;
        for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        if (upper == "UTC") {
            pos_ = text_.size();
            return 0;
        }
        if (peek() != '+' && peek() != '-') {
            throw_timestamp(original_, "unknown time zone \"" + rest + "\"");
        }
        const int sign = peek() == '-' ? -1 : 1;
        ++pos_;
        size_t digits = 0;
        while (is_digit(peek())) {
            ++pos_;
            ++digits;
        }
        const std::string numbers = text_.substr(pos_ - digits, digits);
        int hours = 0, minutes = 0;
        if (digits == 2 && peek() == ':') {
            hours = std::stoi(numbers);
            ++pos_;
            minutes = number(2, "2-digit zone minutes after ':'");
        } else if (digits == 2 || digits == 4) {
            hours = std::stoi(numbers.substr(0, 2));
            minutes = digits == 4 ? std::stoi(numbers.substr(2)) : 0;
        } else {
            throw_timestamp(original_,
                            "expected a zone +HH, +HH:MM or +HHMM, not \"" + rest + "\"");
        }
        if (hours > kMaxOffsetHours || minutes > 59) {
            throw_timestamp(original_,
                            "the UTC offset " + rest + " is out of range (-15:59 to +15:59)");
        }
        return sign * (hours * 3600 + minutes * 60);
    }

    std::string original_;
    std::string text_;
    size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------
// Choosing the base backup

[[noreturn]] void throw_plan(const std::string& message, const std::string& hint) {
    throw Error(ErrorKind::kInvalidArgument, message, hint);
}

const BaseBackupInfo& oldest_backup(const std::vector<BaseBackupInfo>& backups) {
    return *std::min_element(backups.begin(), backups.end(), [](const auto& a, const auto& b) {
        return std::tie(a.stop_time_unix_us, a.id) < std::tie(b.stop_time_unix_us, b.id);
    });
}

const BaseBackupInfo& newest_backup(const std::vector<BaseBackupInfo>& backups) {
    return *std::max_element(backups.begin(), backups.end(), [](const auto& a, const auto& b) {
        return std::tie(a.stop_time_unix_us, a.id) < std::tie(b.stop_time_unix_us, b.id);
    });
}

// The newest base backup that ended before the target (there is one: the caller checked
// the oldest).
const BaseBackupInfo& newest_before(const std::vector<BaseBackupInfo>& backups, int64_t target) {
    const BaseBackupInfo* best = nullptr;
    for (const BaseBackupInfo& b : backups) {
        if (b.stop_time_unix_us >= target) continue;
        if (best == nullptr ||
            std::tie(b.stop_time_unix_us, b.id) > std::tie(best->stop_time_unix_us, best->id)) {
            best = &b;
        }
    }
    return *best;
}

const BaseBackupInfo& choose_base_backup(const std::vector<BaseBackupInfo>& backups,
                                         const PlanRequest& request) {
    const int64_t target = request.target_time_unix_us;
    if (target > request.now_unix_us) {
        throw_plan("the target time " + format_timestamp_unix_us(target) +
                       " is in the future (now is " +
                       format_timestamp_unix_us(request.now_unix_us) + ")",
                   "choose a target time at or before now: recovery replays WAL that exists");
    }
    if (backups.empty()) {
        throw_plan("no base backup exists in " + request.base_backup_root +
                       "; take one with SELECT infra.create_base_backup(wait => true)",
                   "a point in time can only be recovered from a base backup that ended before "
                   "it, with the WAL archived since");
    }
    const BaseBackupInfo* requested = nullptr;
    if (request.base_backup_id) {
        std::string ids;
        for (const BaseBackupInfo& b : backups) {
            if (b.id == *request.base_backup_id) requested = &b;
            ids += (ids.empty() ? "" : ", ") + std::to_string(b.id);
        }
        if (requested == nullptr) {
            throw_plan("there is no base backup with id " +
                           std::to_string(*request.base_backup_id) + " in " +
                           request.base_backup_root + " (ids: " + ids + ")",
                       "choose one of the listed ids, or leave the id out to use the newest "
                       "base backup that ended before the target");
        }
    }
    const BaseBackupInfo& oldest = oldest_backup(backups);
    if (target <= oldest.stop_time_unix_us) {
        throw_plan(
            "the target time " + format_timestamp_unix_us(target) +
                " is too early: the oldest base backup (id " + std::to_string(oldest.id) +
                ") ended at " + format_timestamp_unix_us(oldest.stop_time_unix_us) +
                "; a point in time before that cannot be recovered",
            "choose a target time after " + format_timestamp_unix_us(oldest.stop_time_unix_us));
    }
    if (requested == nullptr) return newest_before(backups, target);
    if (requested->stop_time_unix_us >= target) {
        const BaseBackupInfo& suitable = newest_before(backups, target);
        throw_plan("base backup " + std::to_string(requested->id) + " ended at " +
                       format_timestamp_unix_us(requested->stop_time_unix_us) +
                       ", not before the target time " + format_timestamp_unix_us(target),
                   "choose a base backup that ended before the target (the newest such is id " +
                       std::to_string(suitable.id) + "), or leave the id out to use it");
    }
    return *requested;
}

// ---------------------------------------------------------------------------------------
// Timelines

// One timeline of the chain and the first segment number read from it.
struct ChainPiece {
    uint32_t timeline = 0;
    uint64_t begin_segno = 0;
};

struct TimelineChoice {
    std::vector<ChainPiece> chain;  // oldest first; chain[0] is the backup's timeline
    uint32_t target_timeline = 0;
    uint32_t newest_in_archive = 0;  // the highest timeline with a history file (or B)
    uint32_t latest = 0;  // what recovery_target_timeline = 'latest' makes PostgreSQL pick
    bool latest_finds_target = true;
};

// The timelines that have a history file in the archive (decoded or not).
std::set<uint32_t> timelines_with_history(const ArchiveScan& archive) {
    std::set<uint32_t> timelines;
    for (const auto& entry : archive.histories) timelines.insert(entry.first);
    for (const ArchivedWalFile& f : archive.history_files) {
        if (f.parsed.kind == WalFileKind::kHistory) timelines.insert(f.parsed.timeline);
    }
    return timelines;
}

// The chain from the backup's timeline B to `target` along target's history, or empty
// when target does not descend from B at a point after the backup's start.
std::vector<ChainPiece> chain_to(uint32_t base_timeline, uint64_t start_lsn, uint32_t target,
                                 const std::vector<TimelineSwitch>& history,
                                 uint64_t segment_size) {
    size_t from = history.size();
    for (size_t i = 0; i < history.size(); ++i) {
        if (history[i].parent == base_timeline) {
            from = i;
            break;
        }
    }
    if (from == history.size() || history[from].switch_lsn <= start_lsn) return {};
    std::vector<ChainPiece> chain{{base_timeline, 0}};
    for (size_t i = from; i < history.size(); ++i) {
        const uint32_t next = i + 1 < history.size() ? history[i + 1].parent : target;
        chain.push_back({next, history[i].switch_lsn / segment_size});
    }
    return chain;
}

// When each timeline came to be: its history file's archive time (written at the
// promotion that created it). Timelines without one are treated as always there.
std::map<uint32_t, int64_t> timeline_birth_times(const ArchiveScan& archive) {
    std::map<uint32_t, int64_t> born;
    for (const ArchivedWalFile& f : archive.history_files) {
        if (f.parsed.kind == WalFileKind::kHistory) born[f.parsed.timeline] = f.mtime_unix_us;
    }
    return born;
}

// Follows a child timeline only if it existed at the target time: WAL a later recovery
// wrote on a new timeline is younger than the target, so recovering to the target along
// it would stop at the branch point and lose what the parent timeline holds after it
// (a restore to T1 followed by a plan for T2 > T1 must stay on the parent).
TimelineChoice choose_timelines(const ArchiveScan& archive, const BaseBackupInfo& backup,
                                int64_t target_us) {
    TimelineChoice choice;
    const uint32_t base = backup.timeline;
    choice.chain = {{base, 0}};
    choice.target_timeline = base;
    const std::map<uint32_t, int64_t> born = timeline_birth_times(archive);
    auto existed_at_target = [&](uint32_t timeline) {
        auto it = born.find(timeline);
        return it == born.end() || it->second <= target_us;
    };
    for (const auto& [timeline, history] : archive.histories) {
        if (timeline <= choice.target_timeline) continue;
        std::vector<ChainPiece> chain =
            chain_to(base, backup.start_lsn, timeline, history, archive.segment_size);
        if (chain.empty()) continue;
        bool all_existed = true;
        for (const ChainPiece& piece : chain)
            all_existed = all_existed && existed_at_target(piece.timeline);
        if (!all_existed) continue;
        choice.chain = std::move(chain);
        choice.target_timeline = timeline;
    }
    std::set<uint32_t> with_history = timelines_with_history(archive);
    uint32_t newest_existing = base;
    for (uint32_t t : with_history) {
        if (existed_at_target(t)) newest_existing = std::max(newest_existing, t);
    }
    choice.newest_in_archive = newest_existing;
    // PostgreSQL's findNewestTimeLine: probe base+1, base+2, ... while a history exists.
    uint32_t latest = base;
    while (with_history.count(latest + 1) != 0) ++latest;
    choice.latest = latest;
    choice.latest_finds_target = latest == choice.target_timeline;
    return choice;
}

uint32_t timeline_of(const std::vector<ChainPiece>& chain, uint64_t segno) {
    uint32_t timeline = chain.front().timeline;
    for (const ChainPiece& piece : chain) {
        if (piece.begin_segno <= segno) timeline = piece.timeline;
    }
    return timeline;
}

std::string chain_text(const std::vector<ChainPiece>& chain) {
    std::string text;
    for (const ChainPiece& piece : chain) {
        text += (text.empty() ? "" : " -> ") + std::to_string(piece.timeline);
    }
    return text;
}

// ---------------------------------------------------------------------------------------
// WAL

// The archived segments on the chain (each segment number on the timeline the chain
// expects it on), from the start segment on, by segment number.
std::map<uint64_t, const ArchivedWalFile*> chain_segments(const ArchiveScan& archive,
                                                          const std::vector<ChainPiece>& chain,
                                                          uint64_t first_segno) {
    std::map<uint64_t, const ArchivedWalFile*> found;
    for (const ArchivedWalFile& f : archive.segments) {
        if (f.parsed.kind != WalFileKind::kSegment || f.parsed.segno < first_segno) continue;
        if (f.parsed.timeline != timeline_of(chain, f.parsed.segno)) continue;
        found.emplace(f.parsed.segno, &f);
    }
    return found;
}

struct WalContext {
    const ArchiveScan& archive;
    const std::vector<ChainPiece>& chain;
    uint64_t first_segno;
    uint64_t stop_segno;
    int64_t target_us;
    const PlanRequest::NewestTransaction* newest_transaction_in;

    std::string name(uint64_t segno) const {
        return wal_segment_name(timeline_of(chain, segno), segno, archive.segment_size);
    }
    bool holds_target(uint64_t segno, const ArchivedWalFile& f) const {
        return segno >= stop_segno && f.mtime_unix_us >= target_us;
    }
};

void add_problem(RecoveryPlan& plan, const std::string& code, const std::string& message) {
    plan.problems.push_back({code, message});
}

// Lists (at most kMaxListedMissing) and counts the segments absent in [from, up_to].
void collect_missing(const WalContext& ctx,
                     const std::map<uint64_t, const ArchivedWalFile*>& present, uint64_t from,
                     uint64_t up_to, RecoveryPlan& plan) {
    uint64_t expected = from;
    auto note_gap = [&](uint64_t end) {  // segments [expected, end) are absent
        plan.missing_count += static_cast<size_t>(end - expected);
        for (uint64_t s = expected; s < end && plan.missing_segments.size() < kMaxListedMissing;
             ++s) {
            plan.missing_segments.push_back(ctx.name(s));
        }
    };
    for (auto it = present.lower_bound(from); it != present.end() && it->first <= up_to; ++it) {
        note_gap(it->first);
        expected = it->first + 1;
    }
    if (expected <= up_to) note_gap(up_to + 1);
}

void plan_wal(const WalContext& ctx, RecoveryPlan& plan) {
    const auto present = chain_segments(ctx.archive, ctx.chain, ctx.first_segno);
    plan.first_segment = ctx.name(ctx.first_segno);

    // The run without a gap from the start segment; the target may be found in it.
    std::optional<uint64_t> target_segno;
    std::optional<uint64_t> last_contiguous;
    auto it = present.begin();
    uint64_t s = ctx.first_segno;
    for (; it != present.end() && it->first == s; ++s, ++it) {
        if (!target_segno && ctx.holds_target(s, *it->second)) target_segno = s;
        last_contiguous = s;
        plan.archive_reaches_unix_us = it->second->mtime_unix_us;
        plan.archive_reaches_segment = it->second->name;
    }
    const bool has_gap = it != present.end();
    const bool target_in_run = target_segno.has_value();
    // How far recovery can really go: the newest transaction end in the run (looking
    // back over a few segments that hold none, e.g. after a pg_switch_wal).
    bool reach_by_transaction = false;
    if (ctx.newest_transaction_in != nullptr && last_contiguous) {
        for (uint64_t back = 0;
             back < kTransactionLookBack && *last_contiguous >= ctx.first_segno + back; ++back) {
            const ArchivedWalFile& f = *present.at(*last_contiguous - back);
            std::optional<int64_t> t = (*ctx.newest_transaction_in)(f);
            if (t) {
                plan.archive_reaches_unix_us = *t;
                plan.archive_reaches_segment = f.name;
                plan.archive_reaches_by = "transaction";
                reach_by_transaction = true;
                break;
            }
        }
    }
    if (!target_segno) {
        for (auto later = it; later != present.end(); ++later) {
            if (ctx.holds_target(later->first, *later->second)) {
                target_segno = later->first;
                break;
            }
        }
    }
    if (target_segno) {
        plan.last_segment = ctx.name(*target_segno);
        plan.segments_needed = static_cast<size_t>(*target_segno - ctx.first_segno + 1);
    }
    const std::string reaches =
        !last_contiguous
            ? "the archive does not hold the base backup's first segment " + plan.first_segment
        : reach_by_transaction
            ? "the archive reaches " + format_timestamp_unix_us(plan.archive_reaches_unix_us) +
                  " (the newest transaction end, in segment " + plan.archive_reaches_segment + ")"
            : "the archive reaches " + format_timestamp_unix_us(plan.archive_reaches_unix_us) +
                  " (segment " + plan.archive_reaches_segment + " archived then)";

    if (has_gap && !target_in_run) {
        // s is the first absent segment.
        const uint64_t up_to = target_segno ? *target_segno : present.rbegin()->first;
        collect_missing(ctx, present, s, up_to, plan);
        std::string message =
            std::to_string(plan.missing_count) + " WAL segment(s) needed for the recovery " +
            (plan.missing_count == 1 ? "is" : "are") + " missing from the archive, the first " +
            plan.missing_segments.front() + ": recovery would stop there, before the target (" +
            reaches + ")";
        if (!target_segno) {
            const ArchivedWalFile& newest = *present.rbegin()->second;
            message += "; even the newest segment on the timeline chain, " + newest.name +
                       ", was archived (" + format_timestamp_unix_us(newest.mtime_unix_us) +
                       ") before the target";
        }
        add_problem(plan, "missing_segments",
                    message +
                        ". Restore the missing files into the archive from another copy, "
                        "or choose a target time before the gap");
    } else if (!target_segno && !last_contiguous) {
        add_problem(plan, "archive_behind_target",
                    "the archive holds no WAL of the timeline chain from the base backup's first "
                    "segment " +
                        plan.first_segment +
                        " on: check that archiving works (SELECT infra.pitr_config()), then "
                        "archive the current WAL (SELECT pg_switch_wal() on the server)");
    } else if (!target_segno) {
        add_problem(plan, "archive_behind_target",
                    reaches + "; the target " + format_timestamp_unix_us(ctx.target_us) +
                        " is later: archive the current WAL (SELECT pg_switch_wal() on the "
                        "server) or wait for archive_timeout, or choose an earlier target");
    } else if (ctx.newest_transaction_in != nullptr && last_contiguous && !reach_by_transaction) {
        add_problem(plan, "archive_reach_unknown",
                    "no transaction ended in the newest " + std::to_string(kTransactionLookBack) +
                        " archived segments up to " + plan.archive_reaches_segment +
                        ", so how far a recovery can go is unknown (PostgreSQL stops with "
                        "\"recovery ended before configured recovery target was reached\" when "
                        "no archived transaction ended after the target): archive more WAL "
                        "after a committed transaction (SELECT pg_switch_wal()), or choose a "
                        "target you know an archived transaction ended after");
    } else if (reach_by_transaction && ctx.target_us >= plan.archive_reaches_unix_us) {
        add_problem(plan, "archive_behind_target",
                    "the newest transaction in the archived WAL ended at " +
                        format_timestamp_unix_us(plan.archive_reaches_unix_us) + " (segment " +
                        plan.archive_reaches_segment + "); the target " +
                        format_timestamp_unix_us(ctx.target_us) +
                        " is not before it, so recovery would end before reaching the target "
                        "(PostgreSQL stops with \"recovery ended before configured recovery "
                        "target was reached\"): archive the current WAL (SELECT pg_switch_wal() "
                        "on the server, after a transaction that ends after the target), or "
                        "choose an earlier target");
    }
}

// ---------------------------------------------------------------------------------------
// Other problems

void check_timeline(const BaseBackupInfo& backup, const TimelineChoice& choice,
                    RecoveryPlan& plan) {
    if (choice.newest_in_archive <= choice.target_timeline) return;
    // Not a problem: the archive may hold a branch a copy or an earlier recovery made
    // (say, a restored copy that archived its own timeline); recovery follows the base
    // backup's history, named explicitly. The note says so.
    plan.notes.push_back(
        "the newest timeline in the archive, " + std::to_string(choice.newest_in_archive) +
        ", does not descend from base backup " + std::to_string(backup.id) + "'s timeline " +
        std::to_string(backup.timeline) + " after the backup started (" +
        format_lsn(backup.start_lsn) + "); recovery will follow timeline " +
        std::to_string(choice.target_timeline) +
        (choice.chain.size() > 1 ? " (" + chain_text(choice.chain) + ")" : "") +
        (choice.latest_finds_target ? ""
                                    : ", set explicitly with recovery_target_timeline = '" +
                                          std::to_string(choice.target_timeline) +
                                          "' (with 'latest' PostgreSQL would pick timeline " +
                                          std::to_string(choice.latest) +
                                          " and stop: \"requested timeline is not a child of this "
                                          "server's history\")") +
        ". To reach timeline " + std::to_string(choice.newest_in_archive) +
        ", use a base backup taken on it");
}

void check_system_identifier(const std::vector<BaseBackupInfo>& backups,
                             const BaseBackupInfo& chosen, RecoveryPlan& plan) {
    const BaseBackupInfo& newest = newest_backup(backups);
    if (newest.system_identifier == chosen.system_identifier || newest.system_identifier == 0 ||
        chosen.system_identifier == 0) {
        return;  // the same system, or one not known
    }
    add_problem(plan, "system_identifier",
                "base backup " + std::to_string(chosen.id) + " belongs to database system " +
                    std::to_string(chosen.system_identifier) + ", but the newest base backup (id " +
                    std::to_string(newest.id) + ") belongs to " +
                    std::to_string(newest.system_identifier) +
                    ": the cluster was re-created (initdb) in between, and the archive may hold "
                    "WAL of both under the same names. Recover from a base backup of the current "
                    "system, or check that the archive holds this system's WAL");
}

void check_segment_size(const BaseBackupInfo& backup, const ArchiveScan& archive,
                        RecoveryPlan& plan) {
    if (backup.wal_segment_size == 0 || backup.wal_segment_size == archive.segment_size) return;
    add_problem(plan, "wal_segment_size",
                "base backup " + std::to_string(backup.id) + " has WAL segments of " +
                    std::to_string(backup.wal_segment_size) +
                    " bytes, but the archive was read "
                    "with " +
                    std::to_string(archive.segment_size) +
                    "-byte segments: scan it with the base backup's segment size");
}

void check_unreadable(const ArchiveScan& archive, RecoveryPlan& plan) {
    if (archive.unreadable_files.empty()) return;
    std::string named;
    const size_t shown = std::min(archive.unreadable_files.size(), kMaxNamedUnreadable);
    for (size_t i = 0; i < shown; ++i) {
        named += (i == 0 ? "" : "; ") + archive.unreadable_files[i];
    }
    if (shown < archive.unreadable_files.size()) {
        named += "; and " + std::to_string(archive.unreadable_files.size() - shown) + " more";
    }
    add_problem(plan, "unreadable_files",
                std::to_string(archive.unreadable_files.size()) +
                    " file(s) in the archive cannot be read (" + named +
                    "): recovery fails if it needs one of them. Restore intact copies, or move "
                    "them out of the archive if they are not WAL the recovery needs");
}

void check_path(const std::string& what, const std::string& path) {
    if (path.find_first_of(std::string("\n\r\0", 3)) != std::string::npos) {
        throw_plan(what + " \"" + path + "\" contains a line break or NUL byte",
                   "use paths without control characters; the plan writes them into shell "
                   "commands and postgresql.auto.conf");
    }
}

// ---------------------------------------------------------------------------------------
// Steps and script

std::string join_path(const std::string& dir, const std::string& name) {
    if (!dir.empty() && dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

// The directory that holds path ("/var/lib/postgresql/15" for ".../15/main/").
std::string parent_directory(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// A Debian cluster (postgresql-common): data in /var/lib/postgresql/<version>/<name>,
// configuration in /etc/postgresql/<version>/<name>, systemd unit postgresql@<version>-<name>.
struct DebianCluster {
    std::string version, name;  // both empty when pgdata is not laid out that way

    std::string unit() const { return "postgresql@" + version + "-" + name; }
    std::string config_file() const {
        return "/etc/postgresql/" + version + "/" + name + "/postgresql.conf";
    }
};

DebianCluster debian_cluster(const std::string& pgdata) {
    const std::string prefix = "/var/lib/postgresql/";
    if (pgdata.compare(0, prefix.size(), prefix) != 0) return {};
    std::string rest = pgdata.substr(prefix.size());
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    const size_t slash = rest.find('/');
    if (slash == std::string::npos || slash == 0) return {};
    DebianCluster cluster{rest.substr(0, slash), rest.substr(slash + 1)};
    if (cluster.version.find_first_not_of("0123456789") != std::string::npos ||
        cluster.name.empty() ||
        cluster.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789_.-") != std::string::npos) {
        return {};
    }
    return cluster;
}

// "tar -xzf" and friends for the compression, ending in a space.
std::string tar_extract(const std::string& compression) {
    if (compression == "gzip") return "tar -xzf ";
    if (compression == "lz4") return "tar --use-compress-program=lz4 -xf ";
    if (compression == "zstd") return "tar --use-compress-program=zstd -xf ";
    return "tar -xf ";
}

// Everything the steps and the script are written from. Each path is kept as a shell
// word: either a quoted literal (steps) or a "$VARIABLE"-based expression (script).
struct Words {
    std::string pgdata, backup;
};

std::vector<std::string> recovery_settings(const RecoveryPlan& plan, const PlanRequest& request) {
    return {
        "restore_command = " + conf_quote(restore_command(request.bindir, request.archive_dir)),
        "recovery_target_time = " +
            conf_quote(postgres_timestamp_unix_us(plan.target_time_unix_us)),
        "recovery_target_action = 'promote'",
        "recovery_target_timeline = " + conf_quote(plan.recovery_target_timeline),
    };
}

// The commands of step 3 (restoring the base backup), one per line.
std::vector<std::string> restore_commands(const BaseBackupInfo& backup, const Words& w) {
    const std::string data = w.backup + "/" + kBaseBackupDataDir;
    if (backup.format != "tar") {
        return {"cp -a " + data + " " + w.pgdata, "chmod 700 " + w.pgdata};
    }
    const std::string suffix = tar_compression_suffix(backup.compression);
    const std::string tar = tar_extract(backup.compression);
    // pg_basebackup (PostgreSQL 15) compresses pg_wal.tar only with gzip: with lz4 or
    // zstd client compression it stays a plain pg_wal.tar.
    const bool wal_compressed = backup.compression == "gzip";
    return {"mkdir -m 700 " + w.pgdata, tar + data + "/base.tar" + suffix + " -C " + w.pgdata,
            "mkdir -p " + w.pgdata + "/pg_wal",
            (wal_compressed ? tar : tar_extract("none")) + data + "/pg_wal.tar" +
                (wal_compressed ? suffix : "") + " -C " + w.pgdata + "/pg_wal",
            "chmod 700 " + w.pgdata};
}

std::string joined(const std::vector<std::string>& lines, const std::string& separator) {
    std::string text;
    for (const std::string& line : lines) text += (text.empty() ? "" : separator) + line;
    return text;
}

std::string watch_query() {
    return "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), "
           "pg_last_xact_replay_timestamp()";
}

std::vector<std::string> make_steps(const RecoveryPlan& plan, const PlanRequest& request) {
    const BaseBackupInfo& backup = plan.base_backup;
    const Words w{shell_quote(request.pgdata), shell_quote(backup.path)};
    const std::string log =
        shell_quote(join_path(parent_directory(request.pgdata), "pitr-restore.log"));
    const std::string aside =
        shell_quote(request.pgdata + ".before-pitr-" + compact_stamp(request.now_unix_us));
    const std::string pg_ctl = shell_quote(join_path(request.bindir, "pg_ctl"));
    const DebianCluster debian = debian_cluster(request.pgdata);
    const std::string unit = debian.name.empty() ? "" : debian.unit();
    const std::string conf = shell_quote(join_path(request.pgdata, "postgresql.auto.conf"));

    std::vector<std::string> steps;
    steps.push_back(
        "1. Stop the server (as the postgres user): " + pg_ctl + " -D " + w.pgdata +
        " stop -m fast" +
        (unit.empty() ? "" : " (or, when systemd runs it: systemctl stop " + unit + ")"));
    steps.push_back(
        "2. Set the current data directory aside, and keep it until the recovered "
        "server is checked (its pg_wal may hold WAL that was never archived): mv " +
        w.pgdata + " " + aside);
    steps.push_back("3. Restore base backup " + std::to_string(backup.id) + " (" + backup.format +
                    (backup.format == "tar" ? ", " + backup.compression : "") + ", ended " +
                    format_timestamp_unix_us(backup.stop_time_unix_us) +
                    "): " + joined(restore_commands(backup, w), " && "));
    steps.push_back("4. Remove a stale lock file if the backup holds one: rm -f " +
                    shell_quote(join_path(request.pgdata, "postmaster.pid")));
    steps.push_back("5. Append the recovery settings to " + conf +
                    " (PostgreSQL 15 reads them from the configuration; there is no "
                    "recovery.conf): " +
                    joined(recovery_settings(plan, request), "; "));
    steps.push_back("6. Ask for a targeted recovery: touch " +
                    shell_quote(join_path(request.pgdata, "recovery.signal")));
    steps.push_back(
        "7. Start the server: " + pg_ctl + " -D " + w.pgdata + " -l " + log +
        (debian.name.empty() ? "" : " -o '-c config_file=" + debian.config_file() + "'") +
        " -W start" +
        (debian.name.empty()
             ? ""
             : " (Debian keeps postgresql.conf in " + parent_directory(debian.config_file()) +
                   "; leave out the -o option if it is in the data directory)"));
    steps.push_back("8. Watch the recovery: tail -f " + log +
                    " shows \"starting point-in-time recovery to\", \"restored log file\" for each "
                    "segment, \"recovery stopping before\" and \"archive recovery complete\"; " +
                    shell_quote(join_path(request.bindir, "psql")) + " -p " +
                    std::to_string(request.port) + " -c " + shell_quote(watch_query()) +
                    " shows the progress (pg_is_in_recovery() turns false at the promotion)");
    steps.push_back(
        "9. After the promotion the server runs on a new timeline: check the data, remove "
        "the segments read ahead past the target (rm -rf " +
        shell_quote(join_path(request.pgdata, "pg_wal/.infra_ext_prefetch")) +
        "), then take a new base backup (SELECT infra.create_base_backup(wait => true)) and "
        "remove " +
        aside + " when it is no longer needed" +
        (unit.empty() ? ""
                      : ". To hand the server back to systemd, stop it with pg_ctl and run "
                        "systemctl start " +
                            unit));
    steps.push_back("Steps 3 to 8 in one command (after steps 1 and 2): " +
                    shell_quote(join_path(request.bindir, "infra_ext_ctl")) +
                    " restore --archive " + shell_quote(request.archive_dir) + " --base-backups " +
                    shell_quote(request.base_backup_root) + " --pgdata " + w.pgdata +
                    " --target-time " +
                    shell_quote(format_timestamp_unix_us(plan.target_time_unix_us)) +
                    " --base-backup " + std::to_string(backup.id) + " --start");
    return steps;
}

std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

std::string make_script(const RecoveryPlan& plan, const PlanRequest& request,
                        const TimelineChoice& choice) {
    const BaseBackupInfo& backup = plan.base_backup;
    const DebianCluster debian = debian_cluster(request.pgdata);
    std::string s = "#!/bin/sh\n";
    s += "# Point-in-time recovery of PostgreSQL 15 to " +
         postgres_timestamp_unix_us(plan.target_time_unix_us) + ", planned by infra_ext.\n";
    s += "# Base backup " + std::to_string(backup.id) + " (" + one_line(backup.label) +
         "), timelines " + chain_text(choice.chain) + ", WAL from " + plan.first_segment +
         (plan.last_segment.empty() ? "" : " to " + plan.last_segment) + ".\n";
    s += "# Run it as the postgres operating-system user, e.g. sudo -u postgres sh SCRIPT\n";
    if (!plan.ok) {
        s += "#\n# THIS PLAN HAS PROBLEMS: fix them (or check that they do not matter) and make a\n"
             "# new plan; this script stops here:\n";
        for (const PlanProblem& p : plan.problems) {
            s += "#   - " + p.code + ": " + one_line(p.message) + "\n";
        }
        s += "printf '%s\\n' " + shell_quote("this recovery plan has problems:") + " >&2\n";
        for (const PlanProblem& p : plan.problems) {
            s += "printf '%s\\n' " + shell_quote("  - " + p.code + ": " + one_line(p.message)) +
                 " >&2\n";
        }
        s += "exit 1\n";
    }
    s += "\nset -eu\n\n";
    s += "PGDATA=" + shell_quote(request.pgdata) + "\n";
    s += "BIN=" + shell_quote(request.bindir) + "\n";
    s += "ARCHIVE=" + shell_quote(request.archive_dir) + "\n";
    s += "BACKUP=" + shell_quote(backup.path) + "\n";
    s += "LOG=" + shell_quote(join_path(parent_directory(request.pgdata), "pitr-restore.log")) +
         "\n";
    s += "PORT=" + std::to_string(request.port) + "\n";
    s += "ASIDE=\"$PGDATA.before-pitr-$(date +%Y%m%dT%H%M%S)\"\n\n";
    s += "if [ \"$(id -u)\" -eq 0 ]; then\n"
         "    echo \"run this script as the postgres user, not as root\" >&2\n"
         "    exit 1\n"
         "fi\n"
         "if [ -e \"$ASIDE\" ]; then\n"
         "    echo \"$ASIDE already exists\" >&2\n"
         "    exit 1\n"
         "fi\n"
         "if [ ! -d \"$BACKUP/data\" ] || [ ! -d \"$ARCHIVE\" ]; then\n"
         "    echo \"$BACKUP/data or $ARCHIVE is not a directory\" >&2\n"
         "    exit 1\n"
         "fi\n\n";
    s += "# 1. Stop the server (if it runs).\n"
         "if \"$BIN/pg_ctl\" -D \"$PGDATA\" status >/dev/null 2>&1; then\n"
         "    \"$BIN/pg_ctl\" -D \"$PGDATA\" stop -m fast\n"
         "fi\n\n";
    s += "# 2. Set the current data directory aside (its pg_wal may hold WAL never archived).\n"
         "if [ -e \"$PGDATA\" ]; then\n"
         "    mv \"$PGDATA\" \"$ASIDE\"\n"
         "fi\n\n";
    const Words w{"\"$PGDATA\"", "\"$BACKUP\""};
    s += "# 3. Restore base backup " + std::to_string(backup.id) + ".\n";
    for (const std::string& line : restore_commands(backup, w)) s += line + "\n";
    s += "\n# 4. A stale lock file must not survive.\nrm -f \"$PGDATA/postmaster.pid\"\n\n";
    s += "# 5. Recovery settings (they repeat BIN and ARCHIVE, quoted for postgresql.conf).\n"
         "cat >>\"$PGDATA/postgresql.auto.conf\" <<'INFRA_EXT_RECOVERY_SETTINGS'\n"
         "# point-in-time recovery settings added by infra_ext\n";
    for (const std::string& line : recovery_settings(plan, request)) s += line + "\n";
    s += "INFRA_EXT_RECOVERY_SETTINGS\n\n";
    s += "# 6. Ask for a targeted recovery.\ntouch \"$PGDATA/recovery.signal\"\n\n";
    s += "# 7. Start the server; it replays the archived WAL up to the target, then promotes.\n";
    if (debian.name.empty()) {
        s += "\"$BIN/pg_ctl\" -D \"$PGDATA\" -l \"$LOG\" -W start\n\n";
    } else {
        s += "# Debian keeps the configuration outside the data directory.\n"
             "if [ -f " +
             debian.config_file() +
             " ]; then\n"
             "    \"$BIN/pg_ctl\" -D \"$PGDATA\" -l \"$LOG\" -o '-c config_file=" +
             debian.config_file() +
             "' -W start\n"
             "else\n"
             "    \"$BIN/pg_ctl\" -D \"$PGDATA\" -l \"$LOG\" -W start\n"
             "fi\n\n";
    }
    s += "# 8. Watch the progress.\n"
         "echo \"recovery started; follow it with: tail -f $LOG\"\n"
         "echo \"(look for 'starting point-in-time recovery to', 'restored log file', "
         "'recovery stopping before', 'archive recovery complete')\"\n"
         "echo \"or: $BIN/psql -p $PORT -c '" +
         watch_query() +
         "'\"\n"
         "# 9. After the promotion: check the data, remove the segments read ahead past the\n"
         "#    target (rm -rf \"$PGDATA/pg_wal/.infra_ext_prefetch\"), take a new base backup\n"
         "#    (SELECT infra.create_base_backup(wait => true)), and remove $ASIDE when done.\n";
    return s;
}

}  // namespace

std::string shell_quote(const std::string& text) {
    const char* safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-";
    if (!text.empty() && text.find_first_not_of(safe) == std::string::npos) return text;
    std::string quoted = "'";
    for (char ch : text) {
        if (ch == '\'') {
            quoted += "'\\''";
        } else {
            quoted += ch;
        }
    }
    return quoted + "'";
}

std::string conf_quote(const std::string& text) {
    std::string quoted = "'";
    for (char ch : text) {
        if (ch == '\'') {
            quoted += "''";
        } else if (ch == '\\') {
            quoted += "\\\\";
        } else {
            quoted += ch;
        }
    }
    return quoted + "'";
}

// The shell command PostgreSQL runs for restore_command: paths shell-quoted, and '%'
// doubled in them (PostgreSQL replaces %f, %p, %r and %% in the command).
std::string restore_command(const std::string& bindir, const std::string& archive_dir) {
    auto escape_percent = [](const std::string& word) {
        std::string out;
        for (char ch : word) {
            out += ch;
            if (ch == '%') out += '%';
        }
        return out;
    };
    return escape_percent(shell_quote(join_path(bindir, "infra_ext_ctl"))) +
           " archive-get --archive " + escape_percent(shell_quote(archive_dir)) + " --prefetch " +
           std::to_string(kRestorePrefetchDepth) + " %f \"%p\"";
}

RecoveryPlan plan_recovery(const std::vector<BaseBackupInfo>& base_backups,
                           const ArchiveScan& archive, const PlanRequest& request) {
    check_path("the archive directory", request.archive_dir);
    check_path("the base backup directory", request.base_backup_root);
    check_path("the data directory", request.pgdata);
    check_path("the binary directory", request.bindir);
    const BaseBackupInfo& backup = choose_base_backup(base_backups, request);
    check_path("the base backup's path", backup.path);

    RecoveryPlan plan;
    plan.target_time_unix_us = request.target_time_unix_us;
    plan.base_backup = backup;
    const TimelineChoice choice = choose_timelines(archive, backup, request.target_time_unix_us);
    plan.recovery_target_timeline =
        choice.latest_finds_target ? "latest" : std::to_string(choice.target_timeline);
    for (const ChainPiece& piece : choice.chain) plan.timelines.push_back(piece.timeline);

    check_system_identifier(base_backups, backup, plan);
    check_segment_size(backup, archive, plan);
    check_timeline(backup, choice, plan);
    const WalContext ctx{archive,
                         choice.chain,
                         lsn_to_segno(backup.start_lsn, archive.segment_size),
                         lsn_to_segno(backup.stop_lsn, archive.segment_size),
                         request.target_time_unix_us,
                         request.newest_transaction_in ? &request.newest_transaction_in : nullptr};
    plan_wal(ctx, plan);
    check_unreadable(archive, plan);

    plan.ok = plan.problems.empty();
    plan.steps = make_steps(plan, request);
    plan.script = make_script(plan, request, choice);
    return plan;
}

std::string recovery_plan_to_json(const RecoveryPlan& plan) {
    auto text_or_null = [](const std::string& text) { return text.empty() ? json() : json(text); };
    json problems = json::array();
    for (const PlanProblem& p : plan.problems) {
        problems.push_back({{"code", p.code}, {"message", p.message}});
    }
    const BaseBackupInfo& b = plan.base_backup;
    json j = json::object();
    j["ok"] = plan.ok;
    j["problems"] = problems;
    j["target_time"] = format_timestamp_unix_us(plan.target_time_unix_us);
    j["base_backup"] = {{"id", b.id},
                        {"label", b.label},
                        {"path", b.path},
                        {"format", b.format},
                        {"compression", b.compression},
                        {"timeline", b.timeline},
                        {"start_lsn", format_lsn(b.start_lsn)},
                        {"stop_lsn", format_lsn(b.stop_lsn)},
                        {"start_time", format_timestamp_unix_us(b.start_time_unix_us)},
                        {"stop_time", format_timestamp_unix_us(b.stop_time_unix_us)},
                        {"system_identifier", std::to_string(b.system_identifier)}};
    j["wal"] = {{"timelines", plan.timelines},
                {"first_segment", plan.first_segment},
                {"last_segment", text_or_null(plan.last_segment)},
                {"segments_needed", plan.segments_needed}};
    j["missing_segments"] = plan.missing_segments;
    j["missing_count"] = plan.missing_count;
    j["archive_reaches"] = plan.archive_reaches_unix_us == 0
                               ? json()
                               : json(format_timestamp_unix_us(plan.archive_reaches_unix_us));
    j["archive_reaches_segment"] = text_or_null(plan.archive_reaches_segment);
    j["archive_reaches_by"] = plan.archive_reaches_by;
    j["recovery_target_timeline"] = plan.recovery_target_timeline;
    j["notes"] = plan.notes;
    j["steps"] = plan.steps;
    j["script"] = plan.script;
    return j.dump();
}

int64_t parse_timestamp_unix_us(const std::string& text,
                                std::optional<int> default_utc_offset_seconds) {
    return TimestampReader(text).read(default_utc_offset_seconds);
}

std::string format_timestamp_unix_us(int64_t unix_us) {
    return format_civil(unix_us, 'T', "Z");
}

std::string postgres_timestamp_unix_us(int64_t unix_us) {
    return format_civil(unix_us, ' ', "+00");
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
