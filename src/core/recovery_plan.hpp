// recovery_plan.hpp: the plan for a point-in-time recovery — which base backup, which
// WAL, whether the archive holds all of it, the steps and a PostgreSQL 15 shell script.
// One pure function shared by infra.recovery_plan() and `infra_ext_ctl plan/restore`,
// so both always agree. No I/O, no shared state.
//
// Rules:
//  - the base backup is the newest whose stop time is before the target (or the one
//    asked for, which must have ended before the target);
//  - the timeline followed is the newest one in the archive's history files that
//    descends from the base backup's timeline at a point after the backup started and
//    existed at the target time (its history file was archived before the target: a
//    timeline a later recovery created holds only WAL younger than the target); when
//    that is not what 'latest' would pick, recovery_target_timeline names it; segment s
//    is expected on the newest timeline of that chain that began at or before s;
//  - WAL is needed from the segment holding the backup's start LSN up to the first
//    segment archived at or after the target time (it holds the target), and at least
//    up to the segment of the backup's stop LSN;
//  - "archive_reaches" is the newest transaction end in the segments reachable without
//    a gap from the backup's start (with PlanRequest::newest_transaction_in), else the
//    archive time (mtime) of the newest such segment.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/base_backup_info.hpp"
#include "core/wal_archive_scan.hpp"

namespace infra::core {

struct PlanRequest {
    int64_t target_time_unix_us = 0;
    int64_t now_unix_us = 0;
    std::optional<int64_t> base_backup_id;
    // For the steps and the script.
    std::string archive_dir;
    std::string base_backup_root;
    std::string pgdata = "/var/lib/postgresql/15/main";
    std::string bindir = "/usr/lib/postgresql/15/bin";  // pg_ctl, psql, infra_ext_ctl
    int port = 5432;
    // When set: the newest transaction end (COMMIT/ABORT) in an archived segment, or
    // nullopt when it holds none (core::newest_transaction_time does this with
    // pg_waldump). The plan then measures how far the archive reaches by transactions,
    // which is what recovery needs; without it, by archive times (an estimate).
    using NewestTransaction = std::function<std::optional<int64_t>(const ArchivedWalFile&)>;
    NewestTransaction newest_transaction_in;
};

struct PlanProblem {
    std::string code;  // "missing_segments" | "archive_behind_target" |
                       // "archive_reach_unknown" | "unreadable_files" |
                       // "system_identifier" | "wal_segment_size"
    std::string message;
};

struct RecoveryPlan {
    bool ok = false;  // true when problems is empty
    std::vector<PlanProblem> problems;
    // What the reader should know but does not stop the recovery (e.g. the archive also
    // holds a timeline that is not this base backup's history).
    std::vector<std::string> notes;
    int64_t target_time_unix_us = 0;
    BaseBackupInfo base_backup;
    std::vector<uint32_t> timelines;            // the chain followed, oldest first
    std::string first_segment;                  // the backup's start segment
    std::string last_segment;                   // the last segment needed (empty if unknown)
    size_t segments_needed = 0;                 // count from first to last (0 if unknown)
    std::vector<std::string> missing_segments;  // names, at most 100
    size_t missing_count = 0;
    int64_t archive_reaches_unix_us = 0;  // 0 when not even the first segment is there
    std::string archive_reaches_segment;
    // "transaction": archive_reaches is the newest archived transaction end, and a
    // target at or after it is a problem; "archive_time": the archive time of the newest
    // contiguous segment (no newest_transaction_in, or no transaction found).
    std::string archive_reaches_by = "archive_time";
    // What recovery_target_timeline must be: "latest", or the timeline's number when
    // PostgreSQL's 'latest' would follow a timeline that did not exist at the target.
    std::string recovery_target_timeline = "latest";
    std::vector<std::string> steps;  // human-readable, in order
    std::string script;              // POSIX sh for PostgreSQL 15 (never recovery.conf)
};

// Throws Error(kInvalidArgument) with a message and a hint for a plan that cannot be
// made at all: target in the future (after now), no base backup, target before (or at)
// the stop time of the oldest base backup, an unknown base_backup_id, or a requested
// base backup that ended at or after the target. Archive problems do not throw: they
// make ok false and are listed in problems (the plan still names what is missing).
RecoveryPlan plan_recovery(const std::vector<BaseBackupInfo>& base_backups,
                           const ArchiveScan& archive, const PlanRequest& request);

// The plan as JSON: {"ok", "problems": [{code, message}], "target_time",
// "base_backup": {id, label, path, format, compression, timeline, start_lsn, stop_lsn,
// start_time, stop_time, system_identifier}, "wal": {"timelines", "first_segment",
// "last_segment", "segments_needed"}, "missing_segments", "missing_count",
// "archive_reaches", "archive_reaches_segment", "steps", "script"}. Times ISO 8601 UTC.
std::string recovery_plan_to_json(const RecoveryPlan& plan);

// Quoting for sh (single quotes; plain words left alone) and for postgresql.conf values
// (single quotes, ' and \ escaped), and the restore_command infra_ext writes:
// '<bindir>/infra_ext_ctl' archive-get --archive '<dir>' --prefetch 4 %f "%p" (paths
// quoted, '%' doubled in them because PostgreSQL expands %f, %p, %r and %%). The
// read-ahead of 4 segments (64 MiB of pg_wal with 16 MB segments) takes decoding off
// replay's critical path (wal_prefetch.hpp).
constexpr int kRestorePrefetchDepth = 4;
std::string shell_quote(const std::string& text);
std::string conf_quote(const std::string& text);
std::string restore_command(const std::string& bindir, const std::string& archive_dir);

// Timestamps as users type them: "2026-11-29 03:04:05", "2026-11-29T03:04:05.123456Z",
// with a zone "Z", "UTC", "+HH", "+HH:MM", "+HHMM" (or '-'); a date alone is midnight.
// A timestamp without a zone is refused (throws Error(kInvalidArgument): "add a time
// zone, e.g. ...") unless default_utc_offset_seconds is given. Throws naming the text
// for anything unparsable or out of range (month 13, Feb 30, ...).
int64_t parse_timestamp_unix_us(const std::string& text,
                                std::optional<int> default_utc_offset_seconds = std::nullopt);
// "2026-11-29T03:04:05.123456Z" (fraction omitted when zero).
std::string format_timestamp_unix_us(int64_t unix_us);
// "2026-11-29 03:04:05.123456+00": what recovery_target_time gets (PostgreSQL parses it
// exactly, whatever its TimeZone setting).
std::string postgres_timestamp_unix_us(int64_t unix_us);

}  // namespace infra::core
