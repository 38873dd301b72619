// api.hpp: infra_httpd's HTTP API — every route of the seed (and what the admin page
// needs) translated into one call of an infra.* SQL function, behind the request guard
// and bearer-token authentication. The database is the only authority: the API holds no
// state but metrics, and each request's SQL runs as its token's role (database.hpp).
//
// Per request, on the connection's thread (GuardedServer::on_headers, then the route):
//  1. a request id; the client address (client_address.hpp);
//  2. the guard: infra.check_request(client, Content-Length) -> 403 blocked, 429 with
//     Retry-After and RateLimit-Policy / RateLimit headers, 413 too large — before the
//     body is read;
//  3. for /api/infrastructure/*: Authorization: Bearer <token> -> infra.authenticate_token;
//     missing or bad -> 401 (and a strike through infra.report_suspicious);
//  4. the route: body checked (JSON object, known fields, right types), one SQL call;
//     errors are {"error": {"code", "message", "hint"?, "requestId"}} with the status
//     their SQLSTATE means; 500s carry no internals (the log has them, by request id).
// Per-request state lives in a thread_local set in step 1 (cpp-httplib serves a
// request's headers and its route on the same thread).
#pragma once

#include <cstddef>
#include <string>

#include "http/client_address.hpp"
#include "http/database.hpp"
#include "http/guarded_server.hpp"
#include "http/metrics.hpp"

namespace infra::http {

struct ApiOptions {
    TrustedProxies trusted_proxies;
    std::string static_dir;  // the admin page's files ("" = none)
    // The guard's checks are batched (guard_batcher.hpp): at most this many per statement,
    // and this many statements at once.
    std::size_t guard_max_batch = 64;
    std::size_t guard_batches_in_flight = 2;
    // The fast lane's guard checks run on these connections when set (main.cpp: short
    // connect and query timeouts, so a stuck database cannot hold a lane for long);
    // otherwise on the shared pool.
    Database* lane_db = nullptr;
};

// Installs the guard, authentication, routes, error handling and metrics on server.
void install_api(GuardedServer& server, Database& db, Metrics& metrics, const ApiOptions& options);

}  // namespace infra::http
