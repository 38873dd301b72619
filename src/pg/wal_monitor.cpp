// wal_monitor.cpp: see wal_monitor.hpp (shared state and locking rules are there).
#include "pg/wal_monitor.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/time_format.hpp"
#include "core/wal_archive_scan.hpp"
#include "pg/firewall.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"
#include "pg/sql_values.hpp"

extern "C" {
#include "access/xlog.h"
#include "pgstat.h"
}

namespace infra::pg {

namespace {

using json = nlohmann::json;

constexpr const char* kTrancheName = "infra_ext wal monitor";

struct WalMonitorSample {
    TimestampTz taken_at;
    int64 archived_count;
    int64 failed_count;
    TimestampTz last_archived_at;  // 0 when nothing was archived yet
    int64 ready_files;             // .ready files in pg_wal/archive_status: the backlog
    int64 segments;                // in the archive; -1 when it could not be scanned
    int64 stored_bytes;
    int64 original_bytes;
    int64 gaps;        // missing segments between the first and last of each timeline
    int64 free_bytes;  // on the archive's file system; -1 when unknown
};

struct WalMonitorShared {
    LWLock* lock;
    int next;   // where the next sample goes
    int count;  // samples held (at most kWalMonitorSamples)
    WalMonitorSample samples[kWalMonitorSamples];
    TimestampTz last_failure_at;
    char last_failure_file[64];
    char last_failure_reason[512];
};
WalMonitorShared* shared = nullptr;

int64 count_ready_files() {
    std::string dir = std::string(DataDir) + "/pg_wal/archive_status";
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return -1;
    int64 n = 0;
    while (struct dirent* e = readdir(d)) {
        size_t len = std::strlen(e->d_name);
        if (len > 6 && std::strcmp(e->d_name + len - 6, ".ready") == 0) ++n;
    }
    closedir(d);
    return n;
}

WalMonitorSample take_sample() {
    WalMonitorSample s{};
    s.taken_at = GetCurrentTimestamp();
    PgStat_ArchiverStats stats{};
    pg_call([&] { stats = *pgstat_fetch_stat_archiver(); });
    s.archived_count = stats.archived_count;
    s.failed_count = stats.failed_count;
    s.last_archived_at = stats.last_archived_timestamp;
    s.ready_files = count_ready_files();
    s.segments = -1;
    s.free_bytes = -1;
    const std::string dir = wal_archive_dir();
    try {
        core::ArchiveScan scan = core::scan_wal_archive(dir, wal_segment_size);
        s.segments = static_cast<int64>(scan.segments.size());
        s.stored_bytes = scan.stored_bytes;
        s.original_bytes = scan.original_bytes;
        for (const core::TimelineSegments& t : core::segments_by_timeline(scan, 0)) {
            s.gaps += static_cast<int64>(t.missing_count);
        }
        s.free_bytes = core::disk_space(dir).free_bytes;
    } catch (const core::Error&) {
        // No archive yet (or unreadable): the sample says so with -1.
    }
    return s;
}

json sample_json(const WalMonitorSample& s) {
    auto iso = [](TimestampTz t) -> json {
        if (t == 0) return nullptr;
        return core::iso8601_utc(core::unix_seconds_from_pg(t));
    };
    json j = {{"at", iso(s.taken_at)},
              {"archived_count", s.archived_count},
              {"failed_count", s.failed_count},
              {"last_archived_at", iso(s.last_archived_at)},
              {"ready_files", s.ready_files},
              {"segments", s.segments},
              {"stored_bytes", s.stored_bytes},
              {"original_bytes", s.original_bytes},
              {"gaps", s.gaps},
              {"free_bytes", s.free_bytes}};
    j["lag_seconds"] = s.last_archived_at == 0
                           ? json(nullptr)
                           : json(static_cast<double>(s.taken_at - s.last_archived_at) / 1e6);
    return j;
}

Datum wal_monitor_state(FunctionCallInfo) {
    static WalMonitorShared copy;  // too large for the stack; this backend only
    if (shared == nullptr) {
        throw core::Error(core::ErrorKind::kNotLoaded, "the WAL monitor has no shared memory",
                          "Load infra_ext through shared_preload_libraries.");
    }
    LWLockAcquire(shared->lock, LW_SHARED);
    std::memcpy(static_cast<void*>(&copy), shared, sizeof copy);
    LWLockRelease(shared->lock);
    json history = json::array();
    for (int i = 0; i < copy.count; ++i) {
        int index = (copy.next - copy.count + i + kWalMonitorSamples) % kWalMonitorSamples;
        history.push_back(sample_json(copy.samples[index]));
    }
    json out = {{"interval_seconds", setting_wal_monitor_interval_s}, {"history", history}};
    if (copy.last_failure_at != 0) {
        out["last_failure"] = {
            {"at", core::iso8601_utc(core::unix_seconds_from_pg(copy.last_failure_at))},
            {"file", copy.last_failure_file},
            {"reason", copy.last_failure_reason}};
    } else {
        out["last_failure"] = nullptr;
    }
    return jsonb_result(out.dump());
}

}  // namespace

void wal_monitor_request_shmem() {
    RequestAddinShmemSpace(MAXALIGN(sizeof(WalMonitorShared)));
    RequestNamedLWLockTranche(kTrancheName, 1);
}

void wal_monitor_startup_shmem() {
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    shared = static_cast<WalMonitorShared*>(
        ShmemInitStruct("infra_ext wal monitor", sizeof(WalMonitorShared), &found));
    if (!found) {
        std::memset(static_cast<void*>(shared), 0, sizeof(WalMonitorShared));
        shared->lock = &GetNamedLWLockTranche(kTrancheName)[0].lock;
    }
    LWLockRelease(AddinShmemInitLock);
}

long wal_monitor_cycle() {
    WalMonitorSample sample = take_sample();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    shared->samples[shared->next] = sample;
    shared->next = (shared->next + 1) % kWalMonitorSamples;
    if (shared->count < kWalMonitorSamples) ++shared->count;
    LWLockRelease(shared->lock);
    return static_cast<long>(setting_wal_monitor_interval_s) * 1000;
}

void wal_monitor_record_failure(const char* file, const char* reason) {
    if (shared == nullptr) return;
    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    shared->last_failure_at = now;
    strlcpy(shared->last_failure_file, file, sizeof shared->last_failure_file);
    strlcpy(shared->last_failure_reason, reason, sizeof shared->last_failure_reason);
    LWLockRelease(shared->lock);
}

}  // namespace infra::pg

INFRA_SQL_FUNCTION(infra_wal_monitor_state, infra::pg::wal_monitor_state)
