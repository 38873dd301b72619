// database.cpp: see database.hpp.
#include "http/database.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace infra::http {

namespace {

struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

std::string field(const PGresult* r, int code) {
    const char* v = PQresultErrorField(r, code);
    return v ? v : "";
}

// Throws DbFailure for a failed result; returns it otherwise.
Result checked(PGconn* conn, PGresult* raw) {
    Result r(raw);
    if (r) {
        ExecStatusType st = PQresultStatus(r.get());
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
        std::string sqlstate = field(r.get(), PG_DIAG_SQLSTATE);
        StatusForSqlstate s = status_for_sqlstate(sqlstate);
        throw DbFailure(s.http_status, s.code, field(r.get(), PG_DIAG_MESSAGE_PRIMARY),
                        field(r.get(), PG_DIAG_MESSAGE_HINT));
    }
    throw DbFailure(503, "unavailable",
                    std::string("database connection failed: ") + PQerrorMessage(conn));
}

Result exec_params(PGconn* conn, const std::string& sql, const Params& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    return checked(conn, PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                      values.data(), nullptr, nullptr, 0));
}

}  // namespace

StatusForSqlstate status_for_sqlstate(const std::string& s) {
    if (s == "IX001") return {400, "invalid_argument"};
    if (s == "IX004") return {409, "conflict"};
    if (s == "IX002" || s == "IX003") return {503, "unavailable"};
    if (s == "42501") return {403, "forbidden"};
    if (s.rfind("22", 0) == 0) return {400, "invalid_input"};  // data exceptions: bad inet, time
    if (s == "P0002") return {404, "not_found"};
    if (s.rfind("08", 0) == 0 || s == "57P01" || s == "57P03") return {503, "unavailable"};
    return {500, "internal"};
}

// Hands a connection back when it goes out of scope (broken ones are closed).
// (Defined before result_by, which marks a lease broken when its time is up.)
class Database::Lease {
  public:
    explicit Lease(Database& db) : db_(db), conn_(db.acquire()) {}
    ~Lease() { db_.release(conn_, broken_); }
    PGconn* get() const { return conn_->pg; }
    Connection& connection() const { return *conn_; }
    void mark_broken() { broken_ = true; }

  private:
    Database& db_;
    Connection* conn_;
    bool broken_ = false;
};

namespace {

// The result of the query sent on c, waiting for it until deadline at most: the last
// result before libpq's end marker (one statement per query here). When the time is up
// the lease is marked broken (the connection is closed, not reused) and a 503 thrown.
template <typename LeaseT>
PGresult* result_by(PGconn* c, std::chrono::steady_clock::time_point deadline, LeaseT& lease) {
    PGresult* last = nullptr;
    for (;;) {
        while (!PQisBusy(c)) {
            PGresult* r = PQgetResult(c);
            if (r == nullptr) return last;
            PQclear(last);
            last = r;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        struct pollfd pfd = {PQsocket(c), POLLIN, 0};
        const int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            PQclear(last);
            lease.mark_broken();
            throw DbFailure(503, "unavailable", "the database did not answer in time",
                            "Try again shortly.");
        }
        if (!PQconsumeInput(c)) {
            PQclear(last);
            return nullptr;  // checked() reports the connection's error
        }
    }
}

}  // namespace

Database::Database(std::string conninfo, std::size_t pool_size,
                   std::chrono::milliseconds acquire_timeout, DatabaseLimits limits)
    : conninfo_(std::move(conninfo)),
      acquire_timeout_(acquire_timeout),
      limits_(std::move(limits)),
      capacity_(pool_size) {}

// The conninfo (key=value or URI) expanded as dbname, then the limits' keywords, which
// take precedence over the same keywords in it.
PGconn* Database::connect() const {
    std::vector<const char*> keys = {"dbname"};
    std::vector<const char*> values = {conninfo_.c_str()};
    const std::string timeout = std::to_string(limits_.connect_timeout_s);
    if (limits_.connect_timeout_s > 0) {
        keys.push_back("connect_timeout");
        values.push_back(timeout.c_str());
    }
    if (!limits_.application_name.empty()) {
        keys.push_back("application_name");
        values.push_back(limits_.application_name.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    return PQconnectdbParams(keys.data(), values.data(), 1);
}

Database::~Database() {
    for (Connection* c : idle_) {
        PQfinish(c->pg);
        delete c;
    }
}

Database::Connection* Database::acquire() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!available_.wait_for(lock, acquire_timeout_,
                             [&] { return !idle_.empty() || open_ < capacity_; })) {
        throw DbFailure(503, "unavailable", "all database connections are busy",
                        "Try again shortly.");
    }
    ++busy_;
    if (!idle_.empty()) {
        Connection* c = idle_.back();
        idle_.pop_back();
        return c;
    }
    ++open_;
    lock.unlock();
    PGconn* c = connect();
    if (PQstatus(c) != CONNECTION_OK) {
        std::string why = PQerrorMessage(c);
        PQfinish(c);
        lock.lock();
        --open_;
        --busy_;
        available_.notify_one();
        throw DbFailure(503, "unavailable", "cannot connect to the database: " + why);
    }
    return new Connection{c, {}};
}

void Database::release(Connection* conn, bool broken) {
    std::lock_guard<std::mutex> lock(mutex_);
    --busy_;
    if (broken || PQstatus(conn->pg) != CONNECTION_OK ||
        PQtransactionStatus(conn->pg) != PQTRANS_IDLE) {
        PQfinish(conn->pg);
        delete conn;
        --open_;
    } else {
        idle_.push_back(conn);
    }
    available_.notify_one();
}

std::optional<std::string> Database::value(const Identity& who, const std::string& sql,
                                           const Params& params) {
    Lease lease(*this);
    PGconn* c = lease.get();
    try {
        checked(c, PQexec(c, "BEGIN"));
        if (!who.role.empty()) {
            char* quoted = PQescapeIdentifier(c, who.role.c_str(), who.role.size());
            if (quoted == nullptr) throw DbFailure(500, "internal", "cannot quote a role name");
            std::string set_role = std::string("SET LOCAL ROLE ") + quoted;
            PQfreemem(quoted);
            checked(c, PQexec(c, set_role.c_str()));
        }
        exec_params(c,
                    "SELECT set_config('infra.http_token', $1, true), "
                    "set_config('infra.http_client', $2, true), "
                    "set_config('infra.http_request_id', $3, true), "
                    "set_config('TimeZone', 'UTC', true)",
                    {who.token_label, who.client, who.request_id});
        Result r = exec_params(c, sql, params);
        std::optional<std::string> out;
        if (PQntuples(r.get()) > 0 && PQnfields(r.get()) > 0 && !PQgetisnull(r.get(), 0, 0)) {
            out = std::string(PQgetvalue(r.get(), 0, 0),
                              static_cast<size_t>(PQgetlength(r.get(), 0, 0)));
        }
        checked(c, PQexec(c, "COMMIT"));
        return out;
    } catch (...) {
        if (PQstatus(c) == CONNECTION_OK) {
            PQclear(PQexec(c, "ROLLBACK"));
        } else {
            lease.mark_broken();
        }
        throw;
    }
}

std::vector<std::optional<std::string>> Database::row(const std::string& sql,
                                                      const Params& params) {
    auto all = rows(sql, params);
    if (all.empty()) return {};
    return std::move(all.front());
}

std::vector<std::vector<std::optional<std::string>>> Database::rows(const std::string& sql,
                                                                    const Params& params) {
    Lease lease(*this);
    try {
        Connection& conn = lease.connection();
        const auto deadline = std::chrono::steady_clock::now() + limits_.query_timeout;
        const bool timed = limits_.query_timeout.count() > 0;
        auto it = conn.prepared.find(sql);
        if (it == conn.prepared.end()) {
            const std::string name = "infra_" + std::to_string(conn.prepared.size());
            if (timed) {
                if (!PQsendPrepare(conn.pg, name.c_str(), sql.c_str(), 0, nullptr)) {
                    checked(conn.pg, nullptr);
                }
                checked(conn.pg, result_by(conn.pg, deadline, lease));
            } else {
                checked(conn.pg, PQprepare(conn.pg, name.c_str(), sql.c_str(), 0, nullptr));
            }
            it = conn.prepared.emplace(sql, name).first;
        }
        std::vector<const char*> values;
        values.reserve(params.size());
        for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
        Result r;
        if (timed) {
            if (!PQsendQueryPrepared(conn.pg, it->second.c_str(), static_cast<int>(values.size()),
                                     values.data(), nullptr, nullptr, 0)) {
                checked(conn.pg, nullptr);
            }
            r = checked(conn.pg, result_by(conn.pg, deadline, lease));
        } else {
            r = checked(conn.pg,
                        PQexecPrepared(conn.pg, it->second.c_str(), static_cast<int>(values.size()),
                                       values.data(), nullptr, nullptr, 0));
        }
        const int tuples = PQntuples(r.get());
        const int fields = PQnfields(r.get());
        std::vector<std::vector<std::optional<std::string>>> out(static_cast<size_t>(tuples));
        for (int t = 0; t < tuples; ++t) {
            auto& row = out[static_cast<size_t>(t)];
            row.reserve(static_cast<size_t>(fields));
            for (int i = 0; i < fields; ++i) {
                if (PQgetisnull(r.get(), t, i)) {
                    row.emplace_back();
                } else {
                    row.emplace_back(std::in_place, PQgetvalue(r.get(), t, i),
                                     static_cast<size_t>(PQgetlength(r.get(), t, i)));
                }
            }
        }
        return out;
    } catch (...) {
        if (PQstatus(lease.get()) != CONNECTION_OK) lease.mark_broken();
        throw;
    }
}

std::size_t Database::open_connections() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_;
}

std::size_t Database::busy_connections() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return busy_;
}

bool Database::healthy() {
    try {
        row("SELECT 1", {});
        return true;
    } catch (const DbFailure&) {
        return false;
    }
}

}  // namespace infra::http
