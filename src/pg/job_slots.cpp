// job_slots.cpp: the shared-memory job slots (see job_slots.hpp for the protocol and
// the locking rules).
#include "pg/job_slots.hpp"

#include <signal.h>

#include <cstring>

#include "core/errors.hpp"

namespace infra::pg {

namespace {

constexpr const char* kTrancheName = "infra_ext jobs";

struct JobSlots {
    LWLock* lock;
    JobSlot slots[kJobSlotCount];
};
JobSlots* job_slots = nullptr;

void copy_text(char* dest, size_t size, const char* src) {
    strlcpy(dest, src, size);
}

}  // namespace

void job_slots_request_shmem() {
    RequestAddinShmemSpace(MAXALIGN(sizeof(JobSlots)));
    RequestNamedLWLockTranche(kTrancheName, 1);
}

void job_slots_startup_shmem() {
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    job_slots =
        static_cast<JobSlots*>(ShmemInitStruct("infra_ext job slots", sizeof(JobSlots), &found));
    if (!found) {
        std::memset(static_cast<void*>(job_slots), 0, sizeof(JobSlots));
        job_slots->lock = &GetNamedLWLockTranche(kTrancheName)[0].lock;
        for (JobSlot& slot : job_slots->slots) pg_atomic_init_u64(&slot.progress_bytes, 0);
    }
    LWLockRelease(AddinShmemInitLock);
}

int claim_job_slot(int64 job_id, const char* kind, const char* database, const std::string& params,
                   bool owner_waits, std::string* busy) {
    if (params.size() + 1 > kJobParamsSize) {
        throw core::Error(core::ErrorKind::kInternal, "job parameters exceed the job slot's size");
    }
    int chosen = -1;
    int64 blocking_job = 0;
    LWLockAcquire(job_slots->lock, LW_EXCLUSIVE);
    for (int i = 0; i < kJobSlotCount; ++i) {
        JobSlot& slot = job_slots->slots[i];
        if (slot.phase == SlotPhase::kFree) {
            if (chosen < 0) chosen = i;
            continue;
        }
        if (slot.job_id == job_id) {
            blocking_job = -1;  // already running
            break;
        }
        if (std::strcmp(kind, "backup") == 0 && std::strcmp(slot.kind, "backup") == 0 &&
            std::strcmp(slot.database, database) == 0) {
            blocking_job = slot.job_id;
        }
        if (std::strcmp(kind, "base_backup") == 0 && std::strcmp(slot.kind, "base_backup") == 0) {
            blocking_job = slot.job_id;
        }
    }
    if (blocking_job == 0 && chosen >= 0) {
        JobSlot& slot = job_slots->slots[chosen];
        slot.phase = SlotPhase::kClaimed;
        slot.owner_waits = owner_waits;
        slot.cancel_requested = false;
        slot.job_id = job_id;
        copy_text(slot.kind, sizeof slot.kind, kind);
        copy_text(slot.database, sizeof slot.database, database);
        slot.owner_pid = MyProcPid;
        slot.worker_pid = 0;
        slot.claimed_at = GetCurrentTimestamp();
        pg_atomic_write_u64(&slot.progress_bytes, 0);
        std::memcpy(slot.params, params.c_str(), params.size() + 1);
        slot.result[0] = '\0';
    }
    LWLockRelease(job_slots->lock);
    if (blocking_job == -1) {
        *busy = "job " + std::to_string(job_id) + " is already running";
        return -1;
    }
    if (blocking_job != 0) {
        *busy = std::strcmp(kind, "base_backup") == 0
                    ? "base backup job " + std::to_string(blocking_job) + " is running"
                    : "backup job " + std::to_string(blocking_job) + " of database \"" + database +
                          "\" is running";
        return -1;
    }
    if (chosen < 0) {
        *busy = "all " + std::to_string(kJobSlotCount) + " job slots are in use";
        return -1;
    }
    return chosen;
}

void release_job_slot(int index) {
    LWLockAcquire(job_slots->lock, LW_EXCLUSIVE);
    JobSlot& slot = job_slots->slots[index];
    slot.phase = SlotPhase::kFree;
    slot.job_id = 0;
    slot.worker_pid = 0;
    slot.owner_pid = 0;
    LWLockRelease(job_slots->lock);
}

bool start_job_worker(int index, int64 job_id, BackgroundWorkerHandle** handle) {
    BackgroundWorker worker;
    std::memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "infra_ext");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "infra_job_worker_main");
    LWLockAcquire(job_slots->lock, LW_SHARED);
    snprintf(worker.bgw_name, BGW_MAXLEN, "infra job %lld (%s)", static_cast<long long>(job_id),
             job_slots->slots[index].kind);
    LWLockRelease(job_slots->lock);
    snprintf(worker.bgw_type, BGW_MAXLEN, "infra job");
    worker.bgw_main_arg = Int32GetDatum(index);
    std::memcpy(worker.bgw_extra, &job_id, sizeof job_id);
    worker.bgw_notify_pid = MyProcPid;
    return RegisterDynamicBackgroundWorker(&worker, handle);
}

SlotView view_job_slot(int index) {
    SlotView view;
    LWLockAcquire(job_slots->lock, LW_SHARED);
    const JobSlot& slot = job_slots->slots[index];
    view.phase = slot.phase;
    view.owner_waits = slot.owner_waits;
    view.job_id = slot.job_id;
    view.owner_pid = slot.owner_pid;
    view.worker_pid = slot.worker_pid;
    view.claimed_at = slot.claimed_at;
    LWLockRelease(job_slots->lock);
    view.progress_bytes = pg_atomic_read_u64(&job_slots->slots[index].progress_bytes);
    return view;
}

std::string job_slot_result(int index) {
    static char copy[kJobResultSize];
    LWLockAcquire(job_slots->lock, LW_SHARED);
    std::memcpy(copy, job_slots->slots[index].result, kJobResultSize);
    LWLockRelease(job_slots->lock);
    copy[kJobResultSize - 1] = '\0';
    return copy;
}

int find_job_slot(int64 job_id) {
    int found = -1;
    LWLockAcquire(job_slots->lock, LW_SHARED);
    for (int i = 0; i < kJobSlotCount; ++i) {
        if (job_slots->slots[i].phase != SlotPhase::kFree && job_slots->slots[i].job_id == job_id) {
            found = i;
        }
    }
    LWLockRelease(job_slots->lock);
    return found;
}

bool request_job_cancel(int64 job_id) {
    pid_t worker = 0;
    bool found = false;
    LWLockAcquire(job_slots->lock, LW_EXCLUSIVE);
    for (JobSlot& slot : job_slots->slots) {
        if (slot.phase != SlotPhase::kFree && slot.job_id == job_id) {
            slot.cancel_requested = true;
            worker = slot.worker_pid;
            found = true;
        }
    }
    LWLockRelease(job_slots->lock);
    if (worker > 0) kill(worker, SIGTERM);
    return found;
}

bool attach_job_slot(int index, int64 job_id, std::string* kind, std::string* database,
                     std::string* params) {
    bool ok = false;
    bool cancelled = false;
    LWLockAcquire(job_slots->lock, LW_EXCLUSIVE);
    JobSlot& slot = job_slots->slots[index];
    if (slot.phase == SlotPhase::kClaimed && slot.job_id == job_id) {
        slot.phase = SlotPhase::kRunning;
        slot.worker_pid = MyProcPid;
        cancelled = slot.cancel_requested;
        *kind = slot.kind;
        *database = slot.database;
        *params = slot.params;
        ok = true;
    }
    LWLockRelease(job_slots->lock);
    if (cancelled) kill(MyProcPid, SIGTERM);  // cancelled before the worker attached
    return ok;
}

void report_job_progress(int index, uint64 bytes) {
    pg_atomic_write_u64(&job_slots->slots[index].progress_bytes, bytes);
}

void report_job_outcome(int index, const std::string& result_json) {
    LWLockAcquire(job_slots->lock, LW_EXCLUSIVE);
    JobSlot& slot = job_slots->slots[index];
    if (slot.worker_pid == MyProcPid) {
        strlcpy(slot.result, result_json.c_str(), kJobResultSize);
        slot.phase = SlotPhase::kReported;
    }
    LWLockRelease(job_slots->lock);
}

}  // namespace infra::pg
