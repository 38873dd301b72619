// guard_query.hpp: how GuardBatcher's batches reach the database — one prepared statement
// per batch, infra.check_request() once per request in the batch's order:
//   SELECT c.* FROM unnest($1::inet[], $2::bigint[]) WITH ORDINALITY AS u(ip, len, o),
//          LATERAL infra.check_request(u.ip, u.len) c ORDER BY u.o
// (a batch of one uses the plain call, which costs the database less). No shared state of
// its own; the Database it is given is thread-safe.
#pragma once

#include <vector>

#include "http/database.hpp"
#include "http/guard_batcher.hpp"

namespace infra::http {

// The verdicts for checks, in order, from db. Throws DbFailure. Every client must be an
// address as text (checked by the caller: one bad entry would fail the whole batch).
std::vector<GuardVerdict> run_guard_checks(Database& db, const std::vector<GuardCheck>& checks);

// "{a,b,c}": a PostgreSQL array literal of plain elements (addresses, numbers), each
// double-quoted with " and \ escaped.
std::string array_literal(const std::vector<std::string>& elements);

}  // namespace infra::http
