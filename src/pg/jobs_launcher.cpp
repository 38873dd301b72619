// jobs_launcher.cpp: the launcher duty that owns queued jobs (wait => false).
//
// Each cycle, inside the launcher's transaction:
//  1. for each slot the launcher owns: once its worker reported (or vanished without
//     reporting), record the outcome with infra._record_job_outcome(); free the slot in
//     a later cycle, after that transaction committed (the row then reads final);
//     meanwhile copy the worker's progress into infra.jobs;
//  2. jobs left "running" with no slot (the server restarted or crashed under them) are
//     marked failed and their partial files removed;
//  3. due schedules are queued (infra._run_due_schedules());
//  4. queued jobs get a slot and a worker, oldest first; a backup of a database whose
//     previous backup still runs waits for it.
// Slots owned by a waiting session are left alone, except that a slot whose session
// has died is cancelled and freed.
#include <signal.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "pg/firewall.hpp"
#include "pg/job_slots.hpp"
#include "pg/jobs.hpp"
#include "pg/pg_includes.hpp"

namespace infra::pg {

namespace {

constexpr long kBusyCycleMs = 1000;
constexpr long kIdleCycleMs = 5000;
constexpr long kWorkerStartGraceUs = 60L * 1000 * 1000;

BackgroundWorkerHandle* handles[kJobSlotCount] = {};
int64 handle_job[kJobSlotCount] = {};

bool process_gone(pid_t pid) {
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

bool worker_gone(int index, const SlotView& view) {
    if (handles[index] != nullptr && handle_job[index] == view.job_id) {
        pid_t pid;
        return GetBackgroundWorkerPid(handles[index], &pid) == BGWH_STOPPED;
    }
    if (view.worker_pid > 0) return process_gone(view.worker_pid);
    return GetCurrentTimestamp() - view.claimed_at > kWorkerStartGraceUs;
}

void spi_exec(const char* sql, int nargs, Oid* types, Datum* values) {
    pg_call([&] {
        int rc = SPI_execute_with_args(sql, nargs, types, values, nullptr, false, 0);
        if (rc < 0) elog(ERROR, "SPI failed (%d): %s", rc, sql);
    });
}

std::string job_state(int64 job_id) {
    Oid types[1] = {INT8OID};
    Datum values[1] = {Int64GetDatum(job_id)};
    spi_exec("SELECT state FROM infra.jobs WHERE id = $1", 1, types, values);
    if (SPI_processed == 0) return "";
    return pg_call([] {
        char* v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        return std::string(v ? v : "");
    });
}

void record_outcome(int64 job_id, const std::string& outcome) {
    Oid types[2] = {INT8OID, TEXTOID};
    Datum values[2] = {Int64GetDatum(job_id), 0};
    values[1] = pg_call([&] { return PointerGetDatum(cstring_to_text(outcome.c_str())); });
    spi_exec("SELECT infra._record_job_outcome($1, $2::jsonb)", 2, types, values);
}

void record_progress(int64 job_id, uint64 bytes) {
    Oid types[2] = {INT8OID, INT8OID};
    Datum values[2] = {Int64GetDatum(job_id), Int64GetDatum(static_cast<int64>(bytes))};
    spi_exec(
        "UPDATE infra.jobs SET progress_bytes = $2 WHERE id = $1 AND state = 'running' "
        "AND progress_bytes <> $2",
        2, types, values);
}

// Step 1. Returns whether any slot is in use.
bool collect_outcomes() {
    bool busy = false;
    for (int i = 0; i < kJobSlotCount; ++i) {
        SlotView view = view_job_slot(i);
        if (view.phase == SlotPhase::kFree) continue;
        busy = true;
        if (view.owner_waits) {
            // A waiting session that died without freeing its slot.
            if (process_gone(view.owner_pid)) {
                if (view.worker_pid > 0 && !process_gone(view.worker_pid)) {
                    request_job_cancel(view.job_id);
                } else {
                    release_job_slot(i);
                }
            }
            continue;
        }
        std::string state = job_state(view.job_id);
        if (state != "queued" && state != "running") {
            release_job_slot(i);  // recorded by an earlier, committed cycle
            if (handles[i] != nullptr) pfree(handles[i]);
            handles[i] = nullptr;
            continue;
        }
        if (view.phase == SlotPhase::kReported) {
            record_outcome(view.job_id, job_slot_result(i));
        } else if (worker_gone(i, view)) {
            // Reported just before it exited?
            if (view_job_slot(i).phase == SlotPhase::kReported) {
                record_outcome(view.job_id, job_slot_result(i));
            } else {
                record_outcome(view.job_id,
                               "{\"state\":\"failed\",\"error\":\"the job's worker exited "
                               "without reporting an outcome (killed, or it could not "
                               "connect)\"}");
            }
        } else {
            record_progress(view.job_id, view.progress_bytes);
        }
    }
    return busy;
}

// Step 2.
void fail_orphaned_jobs() {
    spi_exec("SELECT id FROM infra.jobs WHERE state = 'running' ORDER BY id", 0, nullptr, nullptr);
    std::vector<int64> running;
    for (uint64 i = 0; i < SPI_processed; ++i) {
        running.push_back(pg_call([&] {
            bool isnull;
            return DatumGetInt64(
                SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        }));
    }
    for (int64 id : running) {
        if (find_job_slot(id) >= 0) continue;
        pg_call([&] {
            ereport(LOG, (errmsg("infra launcher: job %lld was running when the server stopped; "
                                 "marking it failed",
                                 static_cast<long long>(id))));
        });
        record_outcome(id, R"({"state":"failed","error":"the server restarted (or crashed) while )"
                           R"(the job was running; its partial files were removed"})");
    }
}

struct QueuedJob {
    int64 id;
    std::string kind, database, params;
};

// Step 4. Returns whether a job stays queued.
bool start_queued_jobs() {
    spi_exec(
        "SELECT id, kind, coalesce(database, current_database()), params::text "
        "FROM infra.jobs WHERE state = 'queued' ORDER BY id LIMIT 32",
        0, nullptr, nullptr);
    std::vector<QueuedJob> queued;
    for (uint64 i = 0; i < SPI_processed; ++i) {
        QueuedJob job;
        pg_call([&] {
            HeapTuple row = SPI_tuptable->vals[i];
            TupleDesc desc = SPI_tuptable->tupdesc;
            bool isnull;
            job.id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
            job.kind = SPI_getvalue(row, desc, 2);
            job.database = SPI_getvalue(row, desc, 3);
            job.params = SPI_getvalue(row, desc, 4);
        });
        queued.push_back(job);
    }
    bool waiting = false;
    for (const QueuedJob& job : queued) {
        std::string busy;
        std::string params = job_params_for_worker(job.id, job.params);
        int slot =
            claim_job_slot(job.id, job.kind.c_str(), job.database.c_str(), params, false, &busy);
        if (slot < 0) {
            waiting = true;
            continue;
        }
        BackgroundWorkerHandle* handle = nullptr;
        // The handle outlives this transaction: allocate it in TopMemoryContext.
        MemoryContext previous = MemoryContextSwitchTo(TopMemoryContext);
        if (handles[slot] != nullptr) pfree(handles[slot]);
        handles[slot] = nullptr;
        bool started = start_job_worker(slot, job.id, &handle);
        MemoryContextSwitchTo(previous);
        if (!started) {
            release_job_slot(slot);
            pg_call([&] {
                ereport(WARNING, (errmsg("infra launcher: no background worker slot free for job "
                                         "%lld; it stays queued",
                                         static_cast<long long>(job.id)),
                                  errhint("Raise max_worker_processes.")));
            });
            waiting = true;
            continue;
        }
        handles[slot] = handle;
        handle_job[slot] = job.id;
        Oid types[1] = {INT8OID};
        Datum values[1] = {Int64GetDatum(job.id)};
        spi_exec("SELECT infra._record_job_start($1)", 1, types, values);
    }
    return waiting;
}

}  // namespace

long jobs_cycle() {
    pg_call([] {
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    });
    bool busy = collect_outcomes();
    fail_orphaned_jobs();
    spi_exec("SELECT infra._run_due_schedules()", 0, nullptr, nullptr);
    bool waiting = start_queued_jobs();
    for (int i = 0; i < kJobSlotCount; ++i) {
        if (view_job_slot(i).phase != SlotPhase::kFree) busy = true;
    }
    pg_call([] { SPI_finish(); });
    return busy || waiting ? kBusyCycleMs : kIdleCycleMs;
}

void jobs_extension_dropped() {
    for (int i = 0; i < kJobSlotCount; ++i) {
        SlotView view = view_job_slot(i);
        if (view.phase != SlotPhase::kFree && !view.owner_waits) request_job_cancel(view.job_id);
        handles[i] = nullptr;
    }
}

}  // namespace infra::pg
