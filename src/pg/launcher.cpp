// launcher.cpp: the "infra launcher" background worker.
//
// Life cycle:
//  1. If infra.database does not exist yet, the worker attaches to no database, logs
//     one line, and polls pg_database every 5 s (quietly). When the database appears
//     it records that in shared memory and exits with code 1; the postmaster restarts
//     it after bgw_restart_time, and it then connects.
//  2. Connected, it waits (one LOG line, then silence) until CREATE EXTENSION infra_ext
//     has run; the install script wakes it at COMMIT (infra._extension_created()).
//  3. It runs each duty in kDuties when due, each in its own transaction behind the
//     error firewalls. An error is logged and the duty retried 10 s later.
//  4. SIGHUP reloads the configuration; SIGTERM ends it at the next interrupt check;
//     postmaster death ends it at once (WL_EXIT_ON_PM_DEATH). Any other exit (a FATAL,
//     pg_terminate_backend) is restarted by the postmaster after 5 s.
//
// Shared state: LauncherShared.database_known is written only by the launcher (one
// process) and read by its next incarnation, so it needs no lock.
#include "pg/launcher.hpp"

#include <cstring>

#include "pg/firewall.hpp"
#include "pg/guard_keeper.hpp"
#include "pg/guard_state.hpp"
#include "pg/jobs.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"
#include "pg/wal_monitor.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_database.h"
}

namespace infra::pg {

namespace {

constexpr int kRestartSeconds = 5;
constexpr long kWaitingPollMs = 5000;
constexpr long kRetryAfterErrorMs = 10000;

const LauncherDuty kDuties[] = {
    {"guard keeper", guard_keeper_cycle, guard_keeper_extension_dropped},
    {"jobs and schedules", jobs_cycle, jobs_extension_dropped},
    {"WAL monitor", wal_monitor_cycle, nullptr},
};
constexpr int kDutyCount = sizeof(kDuties) / sizeof(kDuties[0]);

struct LauncherShared {
    bool database_known;
};
LauncherShared* launcher_shared = nullptr;

using TransactionBody = void (*)(void* arg);

// Runs body in its own transaction. Errors are reported and rolled back; returns
// whether the transaction committed. No C++ object lives in this frame (PG_TRY).
bool run_in_transaction(const char* activity, TransactionBody body, void* arg) {
    MemoryContext loop_context = CurrentMemoryContext;
    volatile bool committed = true;
    PG_TRY();
    {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, activity);
        body(arg);
        PopActiveSnapshot();
        CommitTransactionCommand();
    }
    PG_CATCH();
    {
        HOLD_INTERRUPTS();
        MemoryContextSwitchTo(loop_context);
        EmitErrorReport();
        AbortCurrentTransaction();
        FlushErrorState();
        RESUME_INTERRUPTS();
        committed = false;
    }
    PG_END_TRY();
    pgstat_report_activity(STATE_IDLE, nullptr);
    MemoryContextSwitchTo(loop_context);
    return committed;
}

struct DutyCall {
    const LauncherDuty* duty;
    long next_ms;
};

void run_duty_body(void* arg) {
    auto* call = static_cast<DutyCall*>(arg);
    call->next_ms = run_firewalled([&]() -> long { return call->duty->run_cycle(); });
}

void check_extension_body(void* arg) {
    *static_cast<Oid*>(arg) = get_extension_oid("infra_ext", true);
}

void find_database_body(void* arg) {
    bool* found = static_cast<bool*>(arg);
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tuple;
    while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        auto* db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
        if (std::strcmp(NameStr(db->datname), setting_database) == 0) *found = true;
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
}

void handle_config_reload() {
    if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
    }
}

// Sleeps until the timeout or the latch; true when the latch woke it.
bool wait_for_latch(long timeout_ms) {
    int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                       PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    handle_config_reload();
    return (rc & WL_LATCH_SET) != 0;
}

// Phase 1: infra.database is missing. Never returns.
[[noreturn]] void wait_for_database() {
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    ereport(LOG, (errmsg("infra launcher: waiting for database \"%s\" (infra.database) to exist",
                         setting_database)));
    for (;;) {
        bool found = false;
        run_in_transaction("infra launcher: looking for its database", find_database_body, &found);
        if (found) {
            launcher_shared->database_known = true;
            ereport(LOG, (errmsg("infra launcher: database \"%s\" exists now; reconnecting",
                                 setting_database)));
            proc_exit(1);  // restarted by the postmaster, then connects
        }
        wait_for_latch(kWaitingPollMs);
    }
}

void detach_latch_at_exit(int, Datum) {
    keeper_detach_latch();
}

}  // namespace

void launcher_request_shmem() {
    RequestAddinShmemSpace(MAXALIGN(sizeof(LauncherShared)));
}

void launcher_startup_shmem() {
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    launcher_shared = static_cast<LauncherShared*>(
        ShmemInitStruct("infra_ext launcher", sizeof(LauncherShared), &found));
    if (!found) launcher_shared->database_known = true;  // try to connect first
    LWLockRelease(AddinShmemInitLock);
}

void register_launcher() {
    BackgroundWorker worker;
    std::memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = kRestartSeconds;
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "infra_ext");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "infra_launcher_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "infra launcher");
    snprintf(worker.bgw_type, BGW_MAXLEN, "infra launcher");
    RegisterBackgroundWorker(&worker);
}

}  // namespace infra::pg

extern "C" {

PGDLLEXPORT void infra_launcher_main(Datum);

void infra_launcher_main(Datum) {
    using namespace infra::pg;
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();

    if (!launcher_shared->database_known) wait_for_database();
    // If connecting fails (FATAL: database does not exist), the next start waits quietly.
    launcher_shared->database_known = false;
    BackgroundWorkerInitializeConnection(setting_database, nullptr, 0);
    launcher_shared->database_known = true;
    pgstat_report_appname("infra launcher");

    keeper_attach_latch(MyLatch);
    on_shmem_exit(detach_latch_at_exit, 0);

    Oid extension = InvalidOid;  // the installation the duties run for
    bool announced_waiting = false;
    TimestampTz next_run[kDutyCount] = {};
    bool woken = false;
    for (;;) {
        Oid found = InvalidOid;
        if (!run_in_transaction("infra launcher: checking for the extension", check_extension_body,
                                &found)) {
            found = extension;
        }
        if (found != extension && OidIsValid(extension)) {
            // Dropped, or dropped and created again: the old installation's state goes.
            for (const LauncherDuty& duty : kDuties) {
                if (duty.on_extension_dropped) duty.on_extension_dropped();
            }
            for (TimestampTz& t : next_run) t = 0;
        }
        if (!OidIsValid(found)) {
            if (!announced_waiting) {
                ereport(LOG, (errmsg("infra launcher: waiting for CREATE EXTENSION infra_ext in "
                                     "database \"%s\"",
                                     setting_database)));
                announced_waiting = true;
            }
            extension = InvalidOid;
            woken = wait_for_latch(kWaitingPollMs);
            continue;
        }
        if (found != extension) {
            ereport(LOG, (errmsg("infra launcher: infra_ext found in database \"%s\"; starting "
                                 "its duties",
                                 setting_database)));
            extension = found;
            announced_waiting = false;
        }

        long wait_ms = kWaitingPollMs;
        for (int i = 0; i < kDutyCount; ++i) {
            TimestampTz now = GetCurrentTimestamp();
            // The latch wakes the launcher when a duty has work; run every duty then.
            if (next_run[i] > now && !woken) {
                wait_ms = Min(wait_ms, (next_run[i] - now) / 1000);
                continue;
            }
            DutyCall call{&kDuties[i], kRetryAfterErrorMs};
            if (!run_in_transaction(kDuties[i].name, run_duty_body, &call)) {
                call.next_ms = kRetryAfterErrorMs;
            }
            next_run[i] = GetCurrentTimestamp() + call.next_ms * 1000;
            wait_ms = Min(wait_ms, call.next_ms);
        }
        woken = wait_for_latch(Max(wait_ms, 1));
    }
}

}  // extern "C"
