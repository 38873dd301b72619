// jobs_sql.cpp: the C functions behind the backup SQL surface (sql/infra_ext--0.1.0--0.2.0.sql).
// Everything that decides (cron times, the retention plan, path checks, manifests) is
// core code; this file converts arguments, applies it, and runs a job for a session
// that waits (wait => true) through a job slot.
#include <libgen.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/backup_manifest.hpp"
#include "core/backup_paths.hpp"
#include "core/cron.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/job_state.hpp"
#include "core/retention.hpp"
#include "core/time_format.hpp"
#include "pg/firewall.hpp"
#include "pg/guard_state.hpp"
#include "pg/job_slots.hpp"
#include "pg/jobs.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"
#include "pg/sql_values.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "pgtime.h"
#include "postmaster/postmaster.h"
#include "storage/procsignal.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
}

namespace infra::pg {

namespace {

using json = nlohmann::json;

int64_t unix_seconds(TimestampTz ts) {
    return core::unix_seconds_from_pg(ts);
}

TimestampTz timestamptz_from_unix(int64_t seconds) {
    return (seconds - core::kPostgresEpochUnixSeconds) * USECS_PER_SEC;
}

// The schedule time zone (infra.schedule_timezone) through the core's interface.
class ScheduleZone final : public core::UtcOffsetTimeZone {
  public:
    ScheduleZone() {
        zone_ = pg_tzset(setting_schedule_timezone);
        if (zone_ == nullptr) {
            throw core::Error(core::ErrorKind::kInvalidArgument,
                              std::string("unknown time zone \"") + setting_schedule_timezone +
                                  "\" in infra.schedule_timezone");
        }
    }
    int32_t utc_offset_at(int64_t unix_seconds) const override {
        pg_time_t t = static_cast<pg_time_t>(unix_seconds);
        struct pg_tm* tm = pg_localtime(&t, zone_);
        return tm == nullptr ? 0 : static_cast<int32_t>(tm->tm_gmtoff);
    }

  private:
    pg_tz* zone_;
};

core::CronExpression firing_cron(const std::string& text) {
    core::CronExpression expr = core::CronExpression::parse(text);
    if (!expr.can_fire()) {
        throw core::Error(core::ErrorKind::kInvalidArgument,
                          "cron expression \"" + text + "\" never fires",
                          "That day never exists in that month; pick a day that does.");
    }
    return expr;
}

Datum cron_next(FunctionCallInfo fcinfo) {
    core::CronExpression expr = firing_cron(text_arg(fcinfo, 0));
    ScheduleZone zone;
    auto next = core::next_fire(expr, zone, unix_seconds(PG_GETARG_TIMESTAMPTZ(1)));
    if (!next)
        throw core::Error(core::ErrorKind::kInternal, "a firing cron expression has no next time");
    return TimestampTzGetDatum(timestamptz_from_unix(*next));
}

Datum cron_missed(FunctionCallInfo fcinfo) {
    core::CronExpression expr = firing_cron(text_arg(fcinfo, 0));
    ScheduleZone zone;
    auto missed = core::missed_run(expr, zone, unix_seconds(PG_GETARG_TIMESTAMPTZ(1)),
                                   unix_seconds(PG_GETARG_TIMESTAMPTZ(2)));
    if (!missed) {
        fcinfo->isnull = true;
        return 0;
    }
    return TimestampTzGetDatum(timestamptz_from_unix(*missed));
}

Datum cron_canonical(FunctionCallInfo fcinfo) {
    return text_result(firing_cron(text_arg(fcinfo, 0)).to_string());
}

Datum check_job_transition(FunctionCallInfo fcinfo) {
    core::JobState from = core::job_state_from_name(text_arg(fcinfo, 0));
    core::JobState to = core::job_state_from_name(text_arg(fcinfo, 1));
    core::JobEvent event;
    switch (to) {
        case core::JobState::kRunning:
            event = core::JobEvent::kStart;
            break;
        case core::JobState::kSucceeded:
            event = core::JobEvent::kFinish;
            break;
        case core::JobState::kFailed:
            event = core::JobEvent::kFail;
            break;
        case core::JobState::kCancelled:
            event = core::JobEvent::kCancel;
            break;
        default:
            throw core::Error(core::ErrorKind::kConflict,
                              std::string("a job cannot go back to ") + core::job_state_name(to));
    }
    if (core::transition(from, event) != to) {
        throw core::Error(core::ErrorKind::kConflict, "unexpected job state transition");
    }
    return 0;
}

// "20261128T031500Z"
std::string utc_stamp(TimestampTz ts) {
    std::string iso = core::iso8601_utc(unix_seconds(ts));  // 2026-11-28T03:15:00Z
    std::string stamp;
    for (char c : iso) {
        if (c != '-' && c != ':') stamp += c;
    }
    return stamp;
}

Datum backup_location(FunctionCallInfo fcinfo) {
    std::string kind = text_arg(fcinfo, 0);
    int64 id = PG_GETARG_INT64(1);
    std::string database = pg_call([&] { return std::string(NameStr(*PG_GETARG_NAME(2))); });
    std::string file =
        core::backup_file_name(kind, id, database, utc_stamp(PG_GETARG_TIMESTAMPTZ(3)));
    std::string name = file.substr(0, file.size() - std::strlen(".dump"));
    std::string dir = backup_dir();
    json location = {{"backup_dir", dir},
                     {"name", name},
                     {"path", dir + "/" + name},
                     {"partial", dir + "/." + name + ".partial"},
                     {"dump_base", core::sanitize_database_for_file_name(database)}};
    return jsonb_result(location.dump());
}

// A path the SQL layer hands back for removal must be an entry directly inside
// infra.backup_dir; nothing else is ever removed.
std::string checked_backup_entry(const std::string& path) {
    std::string dir = backup_dir();
    std::string prefix = dir + "/";
    std::string rest =
        path.compare(0, prefix.size(), prefix) == 0 ? path.substr(prefix.size()) : "";
    if (rest.empty() || rest == "." || rest == ".." || rest.find('/') != std::string::npos) {
        throw core::Error(
            core::ErrorKind::kInvalidArgument,
            "refusing to touch " + path + ": it is not an entry of infra.backup_dir (" + dir + ")");
    }
    return path;
}

Datum remove_backup_files(FunctionCallInfo fcinfo) {
    std::string path = checked_backup_entry(text_arg(fcinfo, 0));
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return text_result("missing");
    core::remove_tree(path);
    return text_result("removed");
}

Datum backup_dir_entries(FunctionCallInfo fcinfo) {
    (void)fcinfo;
    std::string dir = backup_dir();
    std::vector<std::string> names;
    struct stat st;
    if (stat(dir.c_str(), &st) == 0) names = core::list_directory(dir);
    return pg_call([&] {
        std::vector<Datum> items;
        for (const std::string& name : names) {
            items.push_back(PointerGetDatum(cstring_to_text((dir + "/" + name).c_str())));
        }
        ArrayType* array = construct_array(items.data(), static_cast<int>(items.size()), TEXTOID,
                                           -1, false, TYPALIGN_INT);
        return PointerGetDatum(array);
    });
}

Datum resolve_backup_path(FunctionCallInfo fcinfo) {
    return text_result(core::resolve_backup_file(backup_dir(), text_arg(fcinfo, 0)));
}

Datum read_backup_manifest(FunctionCallInfo fcinfo) {
    std::string path = checked_backup_entry(text_arg(fcinfo, 0));
    core::BackupManifest manifest =
        core::manifest_from_json(core::read_file(path + "/manifest.json"));
    return jsonb_result(core::manifest_to_json(manifest));
}

Datum backup_dir_space(FunctionCallInfo fcinfo) {
    (void)fcinfo;
    std::string dir = backup_dir();
    json out = {{"path", dir}};
    struct stat st;
    if (stat(dir.c_str(), &st) == 0) {
        core::DiskSpace space = core::disk_space(dir);
        out["exists"] = true;
        out["free_bytes"] = space.free_bytes;
        out["total_bytes"] = space.total_bytes;
    } else {
        out["exists"] = false;
        out["error"] = core::errno_text(errno);
    }
    return jsonb_result(out.dump());
}

// An array argument's elements (no NULLs: the SQL caller passes none).
struct ArrayItems {
    Datum* items = nullptr;
    int count = 0;
};

ArrayItems array_items(ArrayType* array, Oid type, int16 len, bool byval, char align) {
    ArrayItems out;
    bool* nulls = nullptr;
    pg_call(
        [&] { deconstruct_array(array, type, len, byval, align, &out.items, &nulls, &out.count); });
    return out;
}

std::vector<std::string> text_items(ArrayType* array) {
    ArrayItems a = array_items(array, TEXTOID, -1, false, TYPALIGN_INT);
    std::vector<std::string> out;
    for (int i = 0; i < a.count; ++i) {
        out.push_back(pg_call([&] { return TextDatumGetCString(a.items[i]); }));
    }
    return out;
}

Datum plan_retention(FunctionCallInfo fcinfo) {
    std::vector<core::BackupRecord> records;
    ArrayItems id_items = array_items(pg_call([&] { return PG_GETARG_ARRAYTYPE_P(0); }), INT8OID, 8,
                                      true, TYPALIGN_DOUBLE);
    std::vector<std::string> kinds = text_items(pg_call([&] { return PG_GETARG_ARRAYTYPE_P(1); }));
    std::vector<std::string> statuses =
        text_items(pg_call([&] { return PG_GETARG_ARRAYTYPE_P(2); }));
    ArrayItems finished_items = array_items(pg_call([&] { return PG_GETARG_ARRAYTYPE_P(3); }),
                                            TIMESTAMPTZOID, 8, true, TYPALIGN_DOUBLE);
    std::vector<int64_t> ids, finished;
    for (int i = 0; i < id_items.count; ++i) ids.push_back(DatumGetInt64(id_items.items[i]));
    for (int i = 0; i < finished_items.count; ++i) {
        finished.push_back(unix_seconds(DatumGetTimestampTz(finished_items.items[i])));
    }
    if (kinds.size() != ids.size() || statuses.size() != ids.size() ||
        finished.size() != ids.size()) {
        throw core::Error(core::ErrorKind::kInternal, "retention arrays differ in length");
    }
    for (size_t i = 0; i < ids.size(); ++i) {
        core::BackupRecord r;
        r.id = ids[i];
        r.kind = core::backup_kind_from_name(kinds[i]);
        r.status = core::backup_status_from_name(statuses[i]);
        r.finished_at = finished[i];
        records.push_back(r);
    }
    core::RetentionPolicy policy;
    policy.keep_daily = PG_GETARG_INT32(4);
    policy.keep_weekly = PG_GETARG_INT32(5);
    policy.keep_monthly = PG_GETARG_INT32(6);
    json plan = json::array();
    for (const core::Removal& removal : core::plan_retention(records, policy)) {
        plan.push_back({{"id", removal.id}, {"reason", removal.reason}});
    }
    return jsonb_result(plan.dump());
}

// Transaction callback state: wake the launcher when this transaction commits.
bool wake_launcher_at_commit = false;

void on_job_transaction_event(XactEvent event, void*) {
    switch (event) {
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
            if (wake_launcher_at_commit) keeper_wake();
            wake_launcher_at_commit = false;
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:
            wake_launcher_at_commit = false;
            break;
        default:
            break;
    }
}

Datum wake_launcher(FunctionCallInfo fcinfo) {
    (void)fcinfo;
    wake_launcher_at_commit = true;
    return 0;
}

Datum signal_job(FunctionCallInfo fcinfo) {
    return BoolGetDatum(request_job_cancel(PG_GETARG_INT64(0)));
}

Datum running_jobs(FunctionCallInfo fcinfo) {
    (void)fcinfo;
    json out = json::array();
    for (int i = 0; i < kJobSlotCount; ++i) {
        SlotView view = view_job_slot(i);
        if (view.phase == SlotPhase::kFree) continue;
        out.push_back({{"job_id", view.job_id},
                       {"worker_pid", view.worker_pid},
                       {"owner", view.owner_waits ? "session" : "launcher"},
                       {"owner_pid", view.owner_pid},
                       {"progress_bytes", view.progress_bytes},
                       {"phase", view.phase == SlotPhase::kReported ? "reported" : "running"}});
    }
    return jsonb_result(out.dump());
}

// ---- Running a job for a waiting session ----------------------------------------------

struct WaitState {
    int slot;
    BackgroundWorkerHandle* handle;
};

// Sleeps up to timeout_ms on this process's latch. No C++ object in this frame.
void wait_a_little(long timeout_ms) {
    if (ProcSignalBarrierPending) ProcessProcSignalBarrier();
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
}

// The worker of `slot` has stopped (or never started).
bool worker_gone(BackgroundWorkerHandle* handle) {
    pid_t pid;
    return GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED;
}

// The session was cancelled or terminated: stop the worker, give it a few seconds to
// clean up after itself, free the slot, and let the interrupt be processed.
[[noreturn]] void abandon_job(const WaitState& state) {
    SlotView view = view_job_slot(state.slot);
    request_job_cancel(view.job_id);
    for (int i = 0; i < 100 && !worker_gone(state.handle); ++i) {
        HOLD_INTERRUPTS();
        wait_a_little(100);
        RESUME_INTERRUPTS();
    }
    release_job_slot(state.slot);
    pg_call([] { CHECK_FOR_INTERRUPTS(); });
    throw core::Error(core::ErrorKind::kInternal, "the job was abandoned");
}

Datum execute_job(FunctionCallInfo fcinfo) {
    int64 job_id = PG_GETARG_INT64(0);
    std::string kind = text_arg(fcinfo, 1);
    std::string database = pg_call([&] { return std::string(NameStr(*PG_GETARG_NAME(2))); });
    std::string params = job_params_for_worker(job_id, jsonb_arg(fcinfo, 3));

    WaitState state{-1, nullptr};
    bool announced = false;
    for (;;) {
        std::string busy;
        state.slot = claim_job_slot(job_id, kind.c_str(), database.c_str(), params, true, &busy);
        if (state.slot >= 0) break;
        if (!announced) {
            pg_call([&] {
                ereport(NOTICE, (errmsg("job %lld waits: %s", static_cast<long long>(job_id),
                                        busy.c_str())));
            });
            announced = true;
        }
        wait_a_little(500);
        pg_call([] { CHECK_FOR_INTERRUPTS(); });
    }
    if (!start_job_worker(state.slot, job_id, &state.handle)) {
        release_job_slot(state.slot);
        throw core::Error(core::ErrorKind::kCapacityExhausted,
                          "could not start a background worker for job " + std::to_string(job_id),
                          "Raise max_worker_processes (each running job uses one) and restart.");
    }
    for (;;) {
        if (InterruptPending && (QueryCancelPending || ProcDiePending)) abandon_job(state);
        SlotView view = view_job_slot(state.slot);
        if (view.phase == SlotPhase::kReported) break;
        if (worker_gone(state.handle)) {
            // It may have reported just before it exited.
            if (view_job_slot(state.slot).phase == SlotPhase::kReported) break;
            release_job_slot(state.slot);
            json failed = {{"state", "failed"},
                           {"error", "the job's worker exited without reporting an outcome"}};
            return jsonb_result(failed.dump());
        }
        wait_a_little(1000);
    }
    std::string result = job_slot_result(state.slot);
    release_job_slot(state.slot);
    return jsonb_result(result);
}

}  // namespace

std::string job_params_for_worker(int64_t job_id, const std::string& params_json) {
    json params = json::parse(params_json);
    std::string socket_dir = Unix_socket_directories ? Unix_socket_directories : "";
    size_t comma = socket_dir.find(',');
    if (comma != std::string::npos) socket_dir = socket_dir.substr(0, comma);
    while (!socket_dir.empty() && socket_dir.front() == ' ') socket_dir.erase(0, 1);
    if (socket_dir.empty()) socket_dir = "localhost";
    std::string user =
        pg_call([] { return std::string(GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false)); });
    std::string exec_path = my_exec_path;
    std::string bindir = exec_path.substr(0, exec_path.rfind('/'));
    params["job_id"] = job_id;
    params["conn"] = {{"host", socket_dir},
                      {"port", PostPortNumber},
                      {"user", user},
                      {"bindir", bindir},
                      {"maintenance_db", setting_database},
                      {"lock_wait_timeout_ms", setting_backup_lock_wait_ms}};
    return params.dump();
}

void register_job_callbacks() {
    RegisterXactCallback(on_job_transaction_event, nullptr);
}

}  // namespace infra::pg

INFRA_SQL_FUNCTION(infra_cron_next, infra::pg::cron_next)
INFRA_SQL_FUNCTION(infra_cron_missed, infra::pg::cron_missed)
INFRA_SQL_FUNCTION(infra_cron_canonical, infra::pg::cron_canonical)
INFRA_SQL_FUNCTION(infra_check_job_transition, infra::pg::check_job_transition)
INFRA_SQL_FUNCTION(infra_backup_location, infra::pg::backup_location)
INFRA_SQL_FUNCTION(infra_remove_backup_files, infra::pg::remove_backup_files)
INFRA_SQL_FUNCTION(infra_backup_dir_entries, infra::pg::backup_dir_entries)
INFRA_SQL_FUNCTION(infra_resolve_backup_path, infra::pg::resolve_backup_path)
INFRA_SQL_FUNCTION(infra_read_backup_manifest, infra::pg::read_backup_manifest)
INFRA_SQL_FUNCTION(infra_backup_dir_space, infra::pg::backup_dir_space)
INFRA_SQL_FUNCTION(infra_plan_retention, infra::pg::plan_retention)
INFRA_SQL_FUNCTION(infra_wake_launcher_at_commit, infra::pg::wake_launcher)
INFRA_SQL_FUNCTION(infra_signal_job, infra::pg::signal_job)
INFRA_SQL_FUNCTION(infra_running_jobs, infra::pg::running_jobs)
INFRA_SQL_FUNCTION(infra_execute_job, infra::pg::execute_job)
