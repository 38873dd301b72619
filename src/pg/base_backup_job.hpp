// base_backup_job.hpp: the "base_backup" job (base_backup_job.cpp), run inside a job
// worker (job_worker.cpp). No shared state.
#pragma once

#include <nlohmann/json.hpp>

namespace infra::pg {

// Takes, verifies and catalogues one base backup, then applies retention; returns the
// job's outcome ({"state": "succeeded", "bytes", "path", "info", "expired"}). Throws on
// failure (the worker reports the message) and Cancelled when asked to stop.
nlohmann::json run_base_backup(const nlohmann::json& params);

}  // namespace infra::pg
