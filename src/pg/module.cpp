// module.cpp: the library's entry point. _PG_init does everything in one fixed order:
//   1. refuse unless loaded through shared_preload_libraries (clear error and hint);
//   2. define the GUCs (prefix "infra.", reserved);
//   3. install shmem_request_hook / shmem_startup_hook (PG15: requests only there);
//   4. register the transaction callbacks that apply list changes at commit;
//   5. register the launcher background worker.
#include "pg/guard_state.hpp"
#include "pg/job_slots.hpp"
#include "pg/jobs.hpp"
#include "pg/launcher.hpp"
#include "pg/list_sync.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"
#include "pg/wal_monitor.hpp"

namespace {

shmem_request_hook_type previous_shmem_request_hook = nullptr;
shmem_startup_hook_type previous_shmem_startup_hook = nullptr;

void infra_shmem_request() {
    if (previous_shmem_request_hook) previous_shmem_request_hook();
    infra::pg::guard_request_shmem();
    infra::pg::launcher_request_shmem();
    infra::pg::job_slots_request_shmem();
    infra::pg::wal_monitor_request_shmem();
}

void infra_shmem_startup() {
    if (previous_shmem_startup_hook) previous_shmem_startup_hook();
    infra::pg::guard_startup_shmem();
    infra::pg::launcher_startup_shmem();
    infra::pg::job_slots_startup_shmem();
    infra::pg::wal_monitor_startup_shmem();
}

}  // namespace

extern "C" {

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

void _PG_init(void) {
    if (IsBinaryUpgrade) return;
    if (!process_shared_preload_libraries_in_progress) {
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("infra_ext must be loaded through shared_preload_libraries"),
                        errhint("Add infra_ext to shared_preload_libraries in postgresql.conf and "
                                "restart the server, then run CREATE EXTENSION infra_ext.")));
    }
    infra::pg::define_settings();
    previous_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = infra_shmem_request;
    previous_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = infra_shmem_startup;
    infra::pg::register_list_sync_callbacks();
    infra::pg::register_job_callbacks();
    infra::pg::register_launcher();
}

}  // extern "C"
