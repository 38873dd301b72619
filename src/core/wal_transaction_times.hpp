// wal_transaction_times.hpp: the newest transaction end (COMMIT or ABORT record) in an
// archived WAL segment, read with PostgreSQL's own pg_waldump. A recovery to a target
// time stops at the first transaction that ended after the target; when no archived
// transaction ended after it, PostgreSQL 15 stops with "recovery ended before
// configured recovery target was reached". So this time, not the segment's archive
// time, is how far a point-in-time recovery from the archive can go.
// No shared state; each call uses its own temporary directory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace infra::core {

// Decodes archive_dir/segment_name into a private temporary directory, runs
// `pg_waldump --rmgr=Transaction` on it (TZ=UTC) and returns the newest COMMIT/ABORT
// time (Unix microseconds), or nullopt when the segment holds none. Throws
// Error(kInvalidArgument) when the segment cannot be decoded or pg_waldump cannot run.
std::optional<int64_t> newest_transaction_time(const std::string& archive_dir,
                                               const std::string& segment_name,
                                               const std::string& pg_waldump_path);

// The newest COMMIT/ABORT time in pg_waldump's output (lines "... desc: COMMIT
// 2026-11-29 03:21:36.790766 UTC; ..."), or nullopt. Exposed for the unit tests.
std::optional<int64_t> newest_transaction_time_in(const std::string& pg_waldump_output);

}  // namespace infra::core
