// time_format.hpp: timestamps as the JSON outputs show them (ISO 8601, UTC).
#pragma once

#include <cstdint>
#include <string>

namespace infra::core {

// Microseconds since 2000-01-01 00:00:00 UTC (PostgreSQL's epoch) -> Unix seconds.
constexpr int64_t kPostgresEpochUnixSeconds = 946684800;
inline int64_t unix_seconds_from_pg(int64_t pg_us) {
    return pg_us / 1000000 + kPostgresEpochUnixSeconds;
}

// "2026-11-28T12:34:56Z"
std::string iso8601_utc(int64_t unix_seconds);

}  // namespace infra::core
