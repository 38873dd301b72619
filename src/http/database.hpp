// database.hpp: infra_httpd's way into PostgreSQL — a small pool of libpq connections,
// and one call per HTTP request that runs a single SQL statement returning one jsonb (or
// other single) value as the token's role:
//   BEGIN; SET LOCAL ROLE <role>; set_config('infra.http_*', ..., true);
//   set_config('TimeZone', 'UTC', true); <statement>; COMMIT
// so PostgreSQL's grants decide what each request may do, and the role can never leak
// into the next request on the same connection. Errors become DbFailure with the HTTP
// status their SQLSTATE means (400 bad input, 403 no privilege, 409 conflict, 503
// unavailable, 500 anything else — the message of a 500 is not shown to clients).
// Thread-safe: connections are handed out under a mutex; each is used by one thread at
// a time.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace infra::http {

// Who a statement runs for.
struct Identity {
    std::string role;  // "" = the login role itself (guard checks, authentication)
    std::string token_label;
    std::string client;  // the client's address
    std::string request_id;
};

class DbFailure : public std::runtime_error {
  public:
    DbFailure(int http_status, std::string code, std::string message, std::string hint = {})
        : std::runtime_error(std::move(message)),
          http_status_(http_status),
          code_(std::move(code)),
          hint_(std::move(hint)) {}
    int http_status() const { return http_status_; }
    const std::string& code() const { return code_; }  // "invalid_argument", "forbidden", ...
    const std::string& hint() const { return hint_; }

  private:
    int http_status_;
    std::string code_, hint_;
};

// The HTTP status and error code a SQLSTATE stands for.
struct StatusForSqlstate {
    int http_status;
    const char* code;
};
StatusForSqlstate status_for_sqlstate(const std::string& sqlstate);

using Params = std::vector<std::optional<std::string>>;

// Bounds for a pool whose callers must never wait long (the fast lane's guard checks):
// connecting gives up after connect_timeout_s, and row()/rows() after query_timeout
// (the connection is then closed: a statement that did not answer is not trusted to
// finish); application_name tells its sessions apart in pg_stat_activity. Zero or empty
// means no bound / the conninfo's own name.
struct DatabaseLimits {
    int connect_timeout_s = 0;
    std::chrono::milliseconds query_timeout{0};
    std::string application_name;
};

class Database {
  public:
    Database(std::string conninfo, std::size_t pool_size,
             std::chrono::milliseconds acquire_timeout = std::chrono::milliseconds(5000),
             DatabaseLimits limits = {});
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // Runs sql (one statement, $1.. params as text) in its own transaction as who; returns
    // the first column of the first row as text (nullopt for SQL NULL or no row).
    std::optional<std::string> value(const Identity& who, const std::string& sql,
                                     const Params& params = {});
    // Without a transaction or role: for the guard's hot path (check_request,
    // authenticate_token). The statement is prepared once per connection and then only
    // executed (half the database's work per call, measured with pgbench).
    std::vector<std::optional<std::string>> row(const std::string& sql, const Params& params);
    // The same, returning every row (the guard's batched check).
    std::vector<std::vector<std::optional<std::string>>> rows(const std::string& sql,
                                                              const Params& params);

    // Connections open now and in use now (for /metrics and /healthz).
    std::size_t open_connections() const;
    std::size_t busy_connections() const;
    // True when a trivial query succeeds.
    bool healthy();

  private:
    class Lease;
    // One pooled connection and the statements prepared on it (SQL text -> name).
    struct Connection {
        PGconn* pg = nullptr;
        std::unordered_map<std::string, std::string> prepared;
    };
    Connection* acquire();
    void release(Connection* conn, bool broken);

    PGconn* connect() const;

    std::string conninfo_;
    std::chrono::milliseconds acquire_timeout_;
    DatabaseLimits limits_;
    mutable std::mutex mutex_;
    std::condition_variable available_;
    std::vector<Connection*> idle_;
    std::size_t capacity_;
    std::size_t open_ = 0;
    std::size_t busy_ = 0;
};

}  // namespace infra::http
