// wal_monitor.hpp: the WAL monitor — a launcher duty that samples the archiver
// (pg_stat_archiver), the archive_status backlog and the WAL archive every
// infra.wal_monitor_interval, keeping the last kWalMonitorSamples samples in shared
// memory for charts; and the archive module's last failure reason.
//
// Shared state and locking: one struct in shared memory behind one LWLock (tranche
// "infra_ext wal monitor"). The launcher appends samples; the archiver process writes
// the last failure; any backend reads both (infra._wal_monitor()). Each holder copies
// fixed-size values only; no C++ object or allocation happens under the lock. Samples
// are lost at a server restart (the history is short by design, and the monitor must
// not write WAL itself).
#pragma once

#include <string>

namespace infra::pg {

constexpr int kWalMonitorSamples = 240;

void wal_monitor_request_shmem();
void wal_monitor_startup_shmem();

// The launcher duty (inside a transaction); milliseconds until the next sample.
long wal_monitor_cycle();

// Called by the archive module when archiving a file failed (or null reason when one
// succeeded, which clears nothing: the last failure stays on record with its time).
void wal_monitor_record_failure(const char* file, const char* reason);

}  // namespace infra::pg
