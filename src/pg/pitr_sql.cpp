// pitr_sql.cpp: the C functions behind infra_ext's point-in-time-recovery SQL surface
// (sql/infra_ext--0.2.0--0.3.0.sql): where a new base backup goes, a live scan of the
// WAL archive, the recovery plan (core::plan_recovery, the same code infra_ext_ctl
// runs offline) and the removal of WAL no retained base backup needs. Each reads the
// directories named by infra.wal_archive_dir and infra.base_backup_dir; no shared state.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base_backup_info.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/recovery_plan.hpp"
#include "core/time_format.hpp"
#include "core/wal_archive_scan.hpp"
#include "core/wal_names.hpp"
#include "core/wal_transaction_times.hpp"
#include "pg/firewall.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"
#include "pg/sql_values.hpp"

extern "C" {
#include "access/xlog.h"
#include "postmaster/postmaster.h"
#include "utils/pg_lsn.h"
}

namespace infra::pg {

namespace {

using json = nlohmann::json;

constexpr int64_t kUsPerSecond = 1000000;
// Temporary files of a killed archiver older than this are removed by the cleanup.
constexpr int64_t kStaleTemporaryUs = 3600 * kUsPerSecond;

int64_t unix_us(TimestampTz ts) {
    return ts + core::kPostgresEpochUnixSeconds * kUsPerSecond;
}

std::string iso_us(int64_t unix_us_value) {
    return core::format_timestamp_unix_us(unix_us_value);
}

bool directory_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The usable base backups of infra.base_backup_dir (none when it does not exist yet);
// directories whose description cannot be read go to *skipped when given.
std::vector<core::BaseBackupInfo> retained_base_backups(
    std::vector<std::string>* skipped = nullptr) {
    const std::string root = base_backup_dir();
    if (!directory_exists(root)) return {};
    return core::list_base_backups(root, skipped);
}

std::string server_bindir() {
    std::string exec_path = my_exec_path;
    return exec_path.substr(0, exec_path.rfind('/'));
}

// "20261128T031500Z"
std::string compact_stamp(int64_t unix_us_value) {
    std::string stamp;
    for (char c : core::iso8601_utc(unix_us_value / kUsPerSecond)) {
        if (c != '-' && c != ':') stamp += c;
    }
    return stamp;
}

Datum base_backup_location(FunctionCallInfo fcinfo) {
    int64 id = PG_GETARG_INT64(0);
    std::string root = base_backup_dir();
    std::string name = std::to_string(id) + "-" + compact_stamp(unix_us(PG_GETARG_TIMESTAMPTZ(1)));
    json location = {{"root", root},
                     {"name", name},
                     {"path", root + "/" + name},
                     {"partial", root + "/." + name + ".partial"}};
    return jsonb_result(location.dump());
}

Datum highest_base_backup_id_on_disk(FunctionCallInfo) {
    const std::string root = base_backup_dir();
    PG_RETURN_INT64(directory_exists(root) ? core::highest_base_backup_id(root) : 0);
}

json file_json(const core::ArchivedWalFile& f) {
    return {{"name", f.name}, {"archived_at", iso_us(f.mtime_unix_us)}};
}

Datum wal_archive_scan(FunctionCallInfo) {
    const std::string dir = wal_archive_dir();
    json out = {{"dir", dir}};
    if (!directory_exists(dir)) {
        out["exists"] = false;
        return jsonb_result(out.dump());
    }
    core::ArchiveScan scan = core::scan_wal_archive(dir, wal_segment_size);
    out["exists"] = true;
    out["segments"] = scan.segments.size();
    out["stored_bytes"] = scan.stored_bytes;
    out["original_bytes"] = scan.original_bytes;
    out["compression_ratio"] = scan.stored_bytes > 0
                                   ? json(static_cast<double>(scan.original_bytes) /
                                          static_cast<double>(scan.stored_bytes))
                                   : json(nullptr);
    out["oldest_segment"] =
        scan.segments.empty() ? json(nullptr) : file_json(scan.segments.front());
    auto newest = std::max_element(
        scan.segments.begin(), scan.segments.end(),
        [](const auto& a, const auto& b) { return a.mtime_unix_us < b.mtime_unix_us; });
    out["newest_segment"] = newest == scan.segments.end() ? json(nullptr) : file_json(*newest);
    json timelines = json::array();
    size_t gaps = 0;
    for (const core::TimelineSegments& t : core::segments_by_timeline(scan, 20)) {
        json missing = json::array();
        for (uint64_t segno : t.missing) {
            missing.push_back(core::wal_segment_name(t.timeline, segno, scan.segment_size));
        }
        gaps += t.missing_count;
        timelines.push_back(
            {{"timeline", t.timeline},
             {"first_segment",
              core::wal_segment_name(t.timeline, t.first_segno, scan.segment_size)},
             {"last_segment", core::wal_segment_name(t.timeline, t.last_segno, scan.segment_size)},
             {"segments", t.count},
             {"missing_count", t.missing_count},
             {"missing", missing}});
    }
    out["timelines"] = timelines;
    out["gaps"] = gaps;
    json names = json::array();
    for (const auto& f : scan.history_files) names.push_back(f.name);
    out["history_files"] = names;
    out["backup_history_files"] = scan.backup_history_files.size();
    out["partial_files"] = scan.partial_files.size();
    out["temporary_files"] = scan.temporary_files;
    out["unreadable_files"] = scan.unreadable_files;
    out["foreign_files"] = scan.foreign_files.size();
    core::DiskSpace space = core::disk_space(dir);
    out["free_bytes"] = space.free_bytes;
    out["total_bytes"] = space.total_bytes;
    return jsonb_result(out.dump());
}

Datum recovery_plan(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0)) {
        throw core::Error(core::ErrorKind::kInvalidArgument, "the target time must not be NULL",
                          "Pass the moment to recover to, e.g. now() - interval '10 minutes'.");
    }
    core::PlanRequest request;
    request.target_time_unix_us = unix_us(PG_GETARG_TIMESTAMPTZ(0));
    request.now_unix_us = unix_us(GetCurrentTimestamp());
    if (!PG_ARGISNULL(1)) request.base_backup_id = PG_GETARG_INT64(1);
    request.archive_dir = wal_archive_dir();
    request.base_backup_root = base_backup_dir();
    request.pgdata = DataDir;
    request.bindir = server_bindir();
    request.port = PostPortNumber;

    const std::string waldump = request.bindir + "/pg_waldump";
    request.newest_transaction_in = [&](const core::ArchivedWalFile& f) {
        // One pg_waldump run per segment, up to 64 of them: a cancel or a statement
        // timeout takes effect between two (pg_call turns its ERROR into an exception).
        pg_call([] { CHECK_FOR_INTERRUPTS(); });
        return core::newest_transaction_time(request.archive_dir, f.name, waldump);
    };
    core::ArchiveScan archive;
    archive.dir = request.archive_dir;
    archive.segment_size = wal_segment_size;
    if (directory_exists(request.archive_dir)) {
        archive = core::scan_wal_archive(request.archive_dir, wal_segment_size);
    }
    core::RecoveryPlan plan = core::plan_recovery(retained_base_backups(), archive, request);
    return jsonb_result(core::recovery_plan_to_json(plan));
}

// Removes archive_dir/name (a name from the scan: one validated path component).
void remove_archived(const std::string& dir, const std::string& name) {
    std::string path = dir + "/" + name;
    if (unlink(path.c_str()) != 0 && errno != ENOENT) core::throw_file_error("remove", path, errno);
}

Datum cleanup_wal_archive(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0)) {
        throw core::Error(core::ErrorKind::kInvalidArgument, "dry_run must not be NULL",
                          "Pass true to see what would be removed, false to remove it.");
    }
    const bool dry_run = PG_GETARG_BOOL(0);
    const std::string dir = wal_archive_dir();
    std::vector<std::string> skipped;
    std::vector<core::BaseBackupInfo> backups = retained_base_backups(&skipped);
    if (!skipped.empty()) {
        throw core::Error(core::ErrorKind::kConflict,
                          "the description of a base backup in " + base_backup_dir() +
                              " cannot be read (" + skipped.front() +
                              "): the WAL it needs is unknown, nothing was removed",
                          "Repair or remove that directory, then run the cleanup again.");
    }
    if (backups.empty()) {
        throw core::Error(
            core::ErrorKind::kConflict,
            "no base backup exists in " + base_backup_dir() +
                ": every archived WAL file may still be needed, nothing was removed",
            "Take a base backup first: SELECT infra.create_base_backup(wait => true);");
    }
    const core::BaseBackupInfo* oldest = &backups.front();
    for (const core::BaseBackupInfo& b : backups) {
        if (b.start_lsn < oldest->start_lsn) oldest = &b;
    }
    // A base backup the catalog still counts as succeeded (e.g. in a directory
    // infra.base_backup_dir no longer names) keeps its WAL too.
    uint64_t keep_from_lsn = oldest->start_lsn;
    if (!PG_ARGISNULL(1)) {
        keep_from_lsn = std::min<uint64_t>(keep_from_lsn, PG_GETARG_LSN(1));
    }
    const uint64_t keep_from = core::lsn_to_segno(keep_from_lsn, wal_segment_size);
    json out = {{"dry_run", dry_run},
                {"oldest_base_backup", oldest->id},
                {"keep_from_segment",
                 core::wal_segment_name(oldest->timeline, keep_from, wal_segment_size)}};
    if (!directory_exists(dir)) {
        out["removed_files"] = 0;
        out["removed_bytes"] = 0;
        out["files"] = json::array();
        return jsonb_result(out.dump());
    }
    core::ArchiveScan scan = core::scan_wal_archive(dir, wal_segment_size);
    std::vector<const core::ArchivedWalFile*> doomed;
    for (const auto* list : {&scan.segments, &scan.backup_history_files, &scan.partial_files}) {
        for (const core::ArchivedWalFile& f : *list) {
            if (f.parsed.segno < keep_from) doomed.push_back(&f);
        }
    }
    int64_t bytes = 0;
    json files = json::array();
    for (const core::ArchivedWalFile* f : doomed) {
        if (!dry_run) remove_archived(dir, f->name);
        bytes += f->stored_bytes;
        if (files.size() < 100) files.push_back(f->name);
    }
    // Leftovers of an archiver killed mid-write, once surely abandoned.
    json stale = json::array();
    const int64_t now = unix_us(GetCurrentTimestamp());
    for (const std::string& name : scan.temporary_files) {
        struct stat st;
        std::string path = dir + "/" + name;
        if (lstat(path.c_str(), &st) != 0) continue;
        int64_t mtime =
            static_cast<int64_t>(st.st_mtim.tv_sec) * kUsPerSecond + st.st_mtim.tv_nsec / 1000;
        if (now - mtime < kStaleTemporaryUs) continue;
        if (!dry_run) remove_archived(dir, name);
        stale.push_back(name);
    }
    if (!dry_run && (!doomed.empty() || !stale.empty())) core::fsync_path(dir);
    out["removed_files"] = doomed.size();
    out["removed_bytes"] = bytes;
    out["files"] = files;
    out["stale_temporary_files"] = stale;
    out["kept_segments"] =
        scan.segments.size() - std::count_if(doomed.begin(), doomed.end(), [](const auto* f) {
            return f->parsed.kind == core::WalFileKind::kSegment;
        });
    return jsonb_result(out.dump());
}

}  // namespace

}  // namespace infra::pg

INFRA_SQL_FUNCTION(infra_base_backup_location, infra::pg::base_backup_location)
INFRA_SQL_FUNCTION(infra_highest_base_backup_id_on_disk, infra::pg::highest_base_backup_id_on_disk)
INFRA_SQL_FUNCTION(infra_wal_archive_scan, infra::pg::wal_archive_scan)
INFRA_SQL_FUNCTION(infra_recovery_plan, infra::pg::recovery_plan)
INFRA_SQL_FUNCTION(infra_cleanup_wal_archive, infra::pg::cleanup_wal_archive)
