// launcher.hpp: the "infra launcher" static background worker and its duties.
//
// The launcher connects to infra.database and, once CREATE EXTENSION infra_ext has run
// there, runs each registered duty when it is due. A duty is one function run in its
// own transaction behind both error firewalls: an error is logged, the transaction is
// rolled back, and the duty is retried after a back-off; the launcher itself carries on.
// Later subsystems (backup scheduler, WAL monitor) add a line to kDuties in launcher.cpp.
#pragma once

namespace infra::pg {

struct LauncherDuty {
    const char* name;
    // Runs one cycle inside a transaction; returns milliseconds until the next cycle.
    long (*run_cycle)();
    // Runs when the extension disappears (DROP EXTENSION); may be null.
    void (*on_extension_dropped)();
};

// Called from _PG_init: registers the static worker.
void register_launcher();
// Shared memory for the launcher's own state.
void launcher_request_shmem();
void launcher_startup_shmem();

}  // namespace infra::pg
