// jobs.hpp: running backup, restore, verification and cleanup jobs (the glue side).
//
//  - jobs_sql.cpp: the C functions behind infra.create_backup() & co. (cron times,
//    retention plans, file removal inside infra.backup_dir, running a job and waiting);
//  - jobs_launcher.cpp: the launcher duty that starts queued jobs, collects outcomes,
//    repairs jobs a crash left running and queues due schedules;
//  - job_worker.cpp: the dynamic background worker that runs one job;
//  - base_backup_job.cpp: the base_backup job (pg_basebackup, verification, retention).
#pragma once

#include <string>

namespace infra::pg {

// Adds what a worker needs to reach the server and its programs ("conn": socket
// directory, port, bootstrap superuser, bin directory) to a job's JSON parameters.
// Runs in a process with a transaction (reads pg_authid).
std::string job_params_for_worker(int64_t job_id, const std::string& params_json);

// Registers the commit callback that wakes the launcher after create_backup(wait =>
// false) & co. committed; called once from _PG_init.
void register_job_callbacks();

// The launcher duty (runs inside a transaction); milliseconds until the next cycle.
long jobs_cycle();
void jobs_extension_dropped();

}  // namespace infra::pg
