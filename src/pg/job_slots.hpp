// job_slots.hpp: the shared-memory table through which a job's owner and its worker talk.
//
// Every running job (backup, restore, verification, cleanup) holds one slot from the
// moment its owner claims it until the owner has recorded the outcome. The owner is
// either the launcher (jobs queued with wait => false) or a session that runs the job
// and waits (wait => true). The owner writes the parameters (JSON) and starts the
// worker; the worker reports progress and, once, its outcome (JSON); the owner copies
// the outcome into infra.jobs / infra.backups and frees the slot.
//
// Locking: one LWLock (tranche "infra_ext jobs") protects every field of every slot.
// It is held only to copy fields in or out, never across a call that can block or
// raise an error. progress_bytes is an atomic and is written without the lock.
//
// Serialisation: claim() refuses a backup slot while another backup of the same
// database holds one, so two backups of one database never run at the same time.
#pragma once

#include <string>

#include "pg/pg_includes.hpp"

extern "C" {
#include "port/atomics.h"
}

namespace infra::pg {

constexpr int kJobSlotCount = 8;
constexpr size_t kJobParamsSize = 8192;
constexpr size_t kJobResultSize = 16384;

enum class SlotPhase : uint8_t {
    kFree,      // unused
    kClaimed,   // parameters written, worker registered or about to be
    kRunning,   // the worker attached
    kReported,  // the worker wrote its outcome; the owner has not collected it yet
};

struct JobSlot {
    SlotPhase phase;
    bool owner_waits;       // a session owns it (wait => true), not the launcher
    bool cancel_requested;  // cancel_job() asked; the worker got SIGTERM
    int64 job_id;
    char kind[16];
    char database[NAMEDATALEN];
    pid_t owner_pid;
    pid_t worker_pid;  // 0 until the worker attaches
    TimestampTz claimed_at;
    pg_atomic_uint64 progress_bytes;
    char params[kJobParamsSize];
    char result[kJobResultSize];
};

void job_slots_request_shmem();
void job_slots_startup_shmem();

// Claims a free slot for the job; -1 when none is free or (for a backup) another backup
// of the same database holds one, with the reason in *busy. Throws when the parameters
// do not fit.
int claim_job_slot(int64 job_id, const char* kind, const char* database, const std::string& params,
                   bool owner_waits, std::string* busy);
void release_job_slot(int index);

// Starts the worker for a claimed slot; bgw_notify_pid is this process, so its latch is
// set when the worker starts and stops. False (and nothing started) when no background
// worker slot is free.
bool start_job_worker(int index, int64 job_id, BackgroundWorkerHandle** handle);

// A copy of a slot's fields, taken under the lock.
struct SlotView {
    SlotPhase phase;
    bool owner_waits;
    int64 job_id;
    pid_t owner_pid;
    pid_t worker_pid;
    TimestampTz claimed_at;
    uint64 progress_bytes;
};
SlotView view_job_slot(int index);
std::string job_slot_result(int index);
int find_job_slot(int64 job_id);  // -1 when the job holds no slot

// Sets cancel_requested and sends SIGTERM to the worker; false when the job holds no
// slot.
bool request_job_cancel(int64 job_id);

// Worker side.
bool attach_job_slot(int index, int64 job_id, std::string* kind, std::string* database,
                     std::string* params);
void report_job_progress(int index, uint64 bytes);
void report_job_outcome(int index, const std::string& result_json);

}  // namespace infra::pg
