// api.cpp: see api.hpp.
#include "http/api.hpp"

#include "http/fast_request.hpp"
#include "http/guard_batcher.hpp"
#include "http/guard_query.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace infra::http {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kApiPrefix = "/api/infrastructure/";

// What the guard found out about the request being served on this thread (see api.hpp).
using Verdict = GuardVerdict;

struct RequestState {
    Identity identity;
    Clock::time_point started;
    std::string route = "unmatched";
    Verdict verdict;  // the guard's, for /api/guard/check
};
thread_local RequestState current;

std::string new_request_id() {
    thread_local std::mt19937_64 random{std::random_device{}()};
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random()));
    return id;
}

json error_body(const std::string& code, const std::string& message, const std::string& hint) {
    json e = {{"code", code}, {"message", message}, {"requestId", current.identity.request_id}};
    if (!hint.empty()) e["hint"] = hint;
    return {{"error", e}};
}

void write_error(httplib::Response& res, int status, const std::string& code,
                 const std::string& message, const std::string& hint = {}) {
    res.status = status;
    res.set_content(error_body(code, message, hint).dump(), "application/json");
}

EarlyResponse early_error(int status, const std::string& code, const std::string& message,
                          const std::string& hint = {}) {
    EarlyResponse r;
    r.status = status;
    r.body = error_body(code, message, hint).dump();
    r.headers.emplace("X-Request-Id", current.identity.request_id);
    return r;
}

// A client mistake found before the database is asked.
class BadRequest : public std::runtime_error {
  public:
    BadRequest(int status, std::string code, const std::string& message)
        : std::runtime_error(message), status_(status), code_(std::move(code)) {}
    int status() const { return status_; }
    const std::string& code() const { return code_; }

  private:
    int status_;
    std::string code_;
};

// ---- request bodies ----------------------------------------------------------------------

enum class FieldType { kString, kBoolean, kInteger, kStringOrNumber };

struct Field {
    const char* name;
    FieldType type;
};

const char* type_name(FieldType t) {
    switch (t) {
        case FieldType::kString:
            return "a string";
        case FieldType::kBoolean:
            return "true or false";
        case FieldType::kInteger:
            return "an integer";
        case FieldType::kStringOrNumber:
            return "a string or a number";
    }
    return "?";
}

bool has_type(const json& v, FieldType t) {
    switch (t) {
        case FieldType::kString:
            return v.is_string();
        case FieldType::kBoolean:
            return v.is_boolean();
        case FieldType::kInteger:
            return v.is_number_integer();
        case FieldType::kStringOrNumber:
            return v.is_string() || v.is_number();
    }
    return false;
}

// The body as a JSON object with only the given fields, each of its type (null is the
// same as absent). An empty body is {}.
json checked_body(const httplib::Request& req, const std::vector<Field>& fields) {
    if (req.body.empty()) return json::object();
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) throw BadRequest(400, "malformed_json", "the body is not valid JSON");
    if (!body.is_object()) throw BadRequest(400, "invalid_body", "the body must be a JSON object");
    for (auto it = body.begin(); it != body.end(); ++it) {
        const Field* field = nullptr;
        for (const Field& f : fields) {
            if (it.key() == f.name) field = &f;
        }
        if (field == nullptr) {
            std::string known;
            for (const Field& f : fields)
                known += (known.empty() ? "" : ", ") + std::string(f.name);
            throw BadRequest(400, "unknown_field",
                             "unknown field \"" + it.key() + "\"" +
                                 (known.empty() ? " (this request takes no fields)"
                                                : " (known: " + known + ")"));
        }
        if (!it.value().is_null() && !has_type(it.value(), field->type)) {
            throw BadRequest(400, "invalid_type",
                             "field \"" + it.key() + "\" must be " + type_name(field->type));
        }
    }
    return body;
}

std::optional<std::string> text_of(const json& body, const char* name) {
    if (!body.contains(name) || body[name].is_null()) return std::nullopt;
    const json& v = body[name];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    return v.dump();
}

// ---- routes ------------------------------------------------------------------------------

struct Call {
    std::string sql;
    Params params;
    int status = 200;
};
using Builder = std::function<Call(const httplib::Request&, const json&)>;

class Routes {
  public:
    Routes(GuardedServer& server, Database& db) : server_(server), db_(db) {}

    void get(const std::string& pattern, const std::string& name, Builder build) {
        server_.Get(pattern, handler(name, {}, std::move(build)));
    }
    void post(const std::string& pattern, const std::string& name,
              std::initializer_list<Field> fields, Builder build) {
        std::vector<Field> copy(fields);
        server_.Post(pattern, handler(name, copy, std::move(build)));
    }

  private:
    httplib::Server::Handler handler(const std::string& name, std::vector<Field> fields,
                                     Builder build) {
        Database& db = db_;
        return [name, fields, build, &db](const httplib::Request& req, httplib::Response& res) {
            current.route = name;
            try {
                json body = req.method == "POST" ? checked_body(req, fields) : json::object();
                Call call = build(req, body);
                std::optional<std::string> value =
                    db.value(current.identity, call.sql, call.params);
                res.status = call.status;
                res.set_content(value ? *value : "null", "application/json");
            } catch (const BadRequest& e) {
                write_error(res, e.status(), e.code(), e.what());
            } catch (const DbFailure& e) {
                if (e.http_status() >= 500 && e.http_status() != 503) {
                    std::fprintf(stderr, "infra_httpd: request %s (%s): %s\n",
                                 current.identity.request_id.c_str(), name.c_str(), e.what());
                    write_error(res, 500, "internal",
                                "the request failed inside the server; its log has the details "
                                "under this request id");
                } else {
                    write_error(res, e.http_status(), e.code(), e.what(), e.hint());
                }
            }
        };
    }

    GuardedServer& server_;
    Database& db_;
};

std::string path_arg(const httplib::Request& req, size_t i) {
    return i < req.matches.size() ? std::string(req.matches[i]) : std::string();
}

// A block/allow duration: an interval text ("2 hours") or a number of minutes (the
// seed's unit).
std::optional<std::string> duration_of(const json& body) {
    if (!body.contains("duration") || body["duration"].is_null()) return std::nullopt;
    const json& d = body["duration"];
    if (d.is_number()) return d.dump() + " minutes";
    return d.get<std::string>();
}

void install_routes(GuardedServer& server, Database& db) {
    Routes r(server, db);
    const std::string p = "/api/infrastructure";

    // DDoS protection.
    r.get(p + "/ddos/stats", "ddos/stats", [](const auto&, const auto&) {
        return Call{"SELECT infra.ddos_stats()", {}};
    });
    r.get(p + R"(/ddos/ip/([^/]+))", "ddos/ip/:ip", [](const auto& req, const auto&) {
        return Call{"SELECT infra.ip_stats($1::inet)", {path_arg(req, 1)}};
    });
    r.post(p + R"(/ddos/block/([^/]+(?:/\d+)?))", "ddos/block/:ip",
           {{"duration", FieldType::kStringOrNumber},
            {"reason", FieldType::kString},
            {"permanent", FieldType::kBoolean}},
           [](const auto& req, const json& body) {
               return Call{
                   "SELECT to_jsonb(b) FROM infra.block_ip($1::cidr, $2::interval, "
                   "coalesce($3, 'manual'), coalesce($4::boolean, false)) b",
                   {path_arg(req, 1), duration_of(body), text_of(body, "reason"),
                    text_of(body, "permanent")},
                   201};
           });
    r.post(p + R"(/ddos/unblock/([^/]+(?:/\d+)?))", "ddos/unblock/:ip", {},
           [](const auto& req, const auto&) {
               return Call{"SELECT jsonb_build_object('unblocked', infra.unblock_ip($1::cidr))",
                           {path_arg(req, 1)}};
           });
    r.get(p + "/ddos/blocks", "ddos/blocks", [](const auto&, const auto&) {
        return Call{
            "SELECT coalesce(jsonb_agg(to_jsonb(b) ORDER BY b.created_at DESC), '[]') "
            "FROM infra.blocked_ips b WHERE b.expires_at IS NULL OR b.expires_at > now()",
            {}};
    });
    r.get(p + "/ddos/allowlist", "ddos/allowlist", [](const auto&, const auto&) {
        return Call{
            "SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.created_at DESC), '[]') "
            "FROM infra.allowed_ips a WHERE a.expires_at IS NULL OR a.expires_at > now()",
            {}};
    });
    r.post(p + R"(/ddos/allow/([^/]+(?:/\d+)?))", "ddos/allow/:ip",
           {{"reason", FieldType::kString}, {"duration", FieldType::kStringOrNumber}},
           [](const auto& req, const json& body) {
               return Call{
                   "SELECT to_jsonb(a) FROM infra.allow_ip($1::cidr, coalesce($2, 'allowlisted'), "
                   "$3::interval) a",
                   {path_arg(req, 1), text_of(body, "reason"), duration_of(body)},
                   201};
           });
    r.post(p + R"(/ddos/disallow/([^/]+(?:/\d+)?))", "ddos/disallow/:ip", {},
           [](const auto& req, const auto&) {
               return Call{"SELECT jsonb_build_object('removed', infra.disallow_ip($1::cidr))",
                           {path_arg(req, 1)}};
           });

    // Backups.
    r.post(p + "/backups/create", "backups/create", {{"type", FieldType::kString}},
           [](const auto&, const json& body) {
               return Call{
                   "SELECT jsonb_build_object('id', infra.create_backup(coalesce($1, "
                   "'manual')))",
                   {text_of(body, "type")},
                   202};
           });
    r.get(p + "/backups", "backups", [](const auto&, const auto&) {
        return Call{
            "SELECT coalesce(jsonb_agg(to_jsonb(b) - 'manifest' ORDER BY b.id DESC), '[]') "
            "FROM (SELECT * FROM infra.backups ORDER BY id DESC LIMIT 500) b",
            {}};
    });
    r.get(p + "/backups/stats", "backups/stats", [](const auto&, const auto&) {
        return Call{"SELECT infra.backup_stats()", {}};
    });
    r.post(p + "/backups/restore", "backups/restore",
           {{"filepath", FieldType::kString},
            {"id", FieldType::kInteger},
            {"targetDatabase", FieldType::kString},
            {"replace", FieldType::kBoolean}},
           [](const auto&, const json& body) {
               const bool by_path = body.contains("filepath") && !body["filepath"].is_null();
               const bool by_id = body.contains("id") && !body["id"].is_null();
               if (by_path == by_id) {
                   throw BadRequest(400, "invalid_body", "give either \"filepath\" or \"id\"");
               }
               if (!body.contains("targetDatabase") || body["targetDatabase"].is_null()) {
                   throw BadRequest(400, "invalid_body",
                                    "\"targetDatabase\" is required: the database to restore into");
               }
               return Call{std::string("SELECT jsonb_build_object('jobId', ") +
                               (by_path ? "infra.restore_backup_from_path($1, $2::name, false, "
                                          "coalesce($3::boolean, false)))"
                                        : "infra.restore_backup($1::bigint, $2::name, false, "
                                          "coalesce($3::boolean, false)))"),
                           {by_path ? text_of(body, "filepath") : text_of(body, "id"),
                            text_of(body, "targetDatabase"), text_of(body, "replace")},
                           202};
           });
    r.post(
        p + R"(/backups/(\d+)/verify)", "backups/:id/verify", {}, [](const auto& req, const auto&) {
            return Call{"SELECT infra.verify_backup($1::bigint, false)", {path_arg(req, 1)}, 202};
        });
    r.post(p + "/backups/cleanup", "backups/cleanup", {{"dryRun", FieldType::kBoolean}},
           [](const auto&, const json& body) {
               return Call{
                   "SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]') FROM "
                   "infra.cleanup_backups(coalesce($1::boolean, true)) c",
                   {text_of(body, "dryRun")}};
           });
    r.get(p + "/jobs", "jobs", [](const auto&, const auto&) {
        return Call{
            "SELECT coalesce(jsonb_agg(to_jsonb(j) ORDER BY j.id DESC), '[]') "
            "FROM (SELECT * FROM infra.jobs ORDER BY id DESC LIMIT 200) j",
            {}};
    });
    r.post(p + R"(/jobs/(\d+)/cancel)", "jobs/:id/cancel", {}, [](const auto& req, const auto&) {
        return Call{"SELECT jsonb_build_object('state', infra.cancel_job($1::bigint))",
                    {path_arg(req, 1)}};
    });

    r.get(p + "/schedules", "schedules", [](const auto&, const auto&) {
        return Call{
            "SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.name), '[]') "
            "FROM infra.schedules s",
            {}};
    });
    r.post(p + R"(/schedules/([a-z0-9_]+))", "schedules/:name",
           {{"cron", FieldType::kString}, {"enabled", FieldType::kBoolean}},
           [](const auto& req, const json& body) {
               return Call{"SELECT to_jsonb(s) FROM infra.set_schedule($1, $2, $3::boolean) s",
                           {path_arg(req, 1), text_of(body, "cron"), text_of(body, "enabled")}};
           });
    r.get(p + "/whoami", "whoami", [](const auto&, const auto&) {
        // The token's role and what it may do, for the admin page to grey out the rest.
        return Call{
            "SELECT jsonb_build_object('role', current_user, "
            "'label', current_setting('infra.http_token', true), "
            "'operator', pg_has_role(current_user, 'infra_operator', 'MEMBER'), "
            "'admin', pg_has_role(current_user, 'infra_admin', 'MEMBER'))",
            {}};
    });

    // Point-in-time recovery.
    r.get(p + "/pitr/config", "pitr/config", [](const auto&, const auto&) {
        return Call{"SELECT infra.pitr_config()", {}};
    });
    r.post(p + "/pitr/base-backup", "pitr/base-backup", {}, [](const auto&, const auto&) {
        return Call{"SELECT jsonb_build_object('id', infra.create_base_backup())", {}, 202};
    });
    r.get(p + "/pitr/base-backups", "pitr/base-backups", [](const auto&, const auto&) {
        return Call{
            "SELECT coalesce(jsonb_agg(to_jsonb(b) ORDER BY b.id DESC), '[]') "
            "FROM infra.base_backups b",
            {}};
    });
    r.post(p + "/pitr/recover", "pitr/recover",
           {{"backupPath", FieldType::kString},
            {"baseBackupId", FieldType::kInteger},
            {"targetTimestamp", FieldType::kString}},
           [](const auto&, const json& body) {
               if (!body.contains("targetTimestamp") || body["targetTimestamp"].is_null()) {
                   throw BadRequest(400, "invalid_body",
                                    "\"targetTimestamp\" is required, e.g. \"2026-11-29 14:30:00\" "
                                    "(UTC unless it names a zone)");
               }
               return Call{
                   "SELECT infra.recovery_plan($1::timestamptz, coalesce($2::bigint, "
                   "(SELECT id FROM infra.base_backups WHERE path = $3 AND status = "
                   "'succeeded')))",
                   {text_of(body, "targetTimestamp"), text_of(body, "baseBackupId"),
                    text_of(body, "backupPath")}};
           });
    r.get(p + "/pitr/stats", "pitr/stats", [](const auto&, const auto&) {
        return Call{"SELECT infra.wal_archive_stats()", {}};
    });

    // Audit log (newest first; ?action= filters, ?limit= at most 500).
    r.get(p + "/audit", "audit", [](const httplib::Request& req, const auto&) {
        std::optional<std::string> action;
        if (req.has_param("action")) action = req.get_param_value("action");
        std::string limit = req.has_param("limit") ? req.get_param_value("limit") : "100";
        return Call{
            "SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.id DESC), '[]') FROM "
            "(SELECT * FROM infra.audit_log WHERE $1::text IS NULL OR action = $1 "
            "ORDER BY id DESC LIMIT least(greatest($2::int, 1), 500)) l",
            {action, limit}};
    });
}

// ---- guard and authentication ------------------------------------------------------------

std::vector<std::string> header_values(const httplib::Request& req, const char* name) {
    std::vector<std::string> out;
    auto range = req.headers.equal_range(name);
    for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
    return out;
}

// The guard's verdict for client: through the batcher when client is an address (a bad
// entry would fail its whole batch), else alone (the database then refuses it).
Verdict check_request(Database& db, GuardBatcher& batcher, const std::string& client,
                      long long content_length) {
    if (core::IpAddress::parse(client)) return batcher.check({client, content_length});
    return run_guard_checks(db, {{client, content_length}}).at(0);
}

// The limits for the RateLimit headers, read once (they change only on a reload).
struct Limits {
    long per_minute = 100;
    long per_hour = 1000;
};

void add_rate_limit_headers(httplib::Headers& h, const Verdict& v, const Limits& limits) {
    h.emplace("RateLimit-Policy", std::to_string(limits.per_minute) + ";w=60, " +
                                      std::to_string(limits.per_hour) + ";w=3600");
    const bool hour = v.reason == "rate_limit_hour";
    h.emplace("RateLimit",
              "limit=" + std::to_string(hour ? limits.per_hour : limits.per_minute) +
                  ", remaining=" + std::to_string(hour ? v.remaining_hour : v.remaining_minute) +
                  ", reset=" + std::to_string(v.retry_after_s));
}

std::optional<EarlyResponse> refusal(const Verdict& v, const Limits& limits) {
    if (v.allowed) return std::nullopt;
    if (v.reason == "blocked") {
        return early_error(403, "blocked", "this address is blocked");
    }
    if (v.reason == "request_too_large") {
        return early_error(413, "request_too_large", "the request body is too large");
    }
    EarlyResponse r = early_error(429, v.reason, "too many requests from this address",
                                  "Retry after " + std::to_string(v.retry_after_s) + " s.");
    r.headers.emplace("Retry-After", std::to_string(v.retry_after_s));
    add_rate_limit_headers(r.headers, v, limits);
    return r;
}

// /api/guard/check's answer: 204 allowed, 403 not (nginx auth_request knows no other).
int guard_check_status(const Verdict& v) {
    return v.allowed ? 204 : 403;
}

void add_guard_check_headers(httplib::Headers& h, const Verdict& v, const Limits& limits) {
    h.emplace("X-Infra-Verdict", v.reason);
    if (v.retry_after_s > 0) h.emplace("Retry-After", std::to_string(v.retry_after_s));
    if (v.reason.rfind("rate_limit", 0) == 0) add_rate_limit_headers(h, v, limits);
}

// The body size nginx says the original request has (X-Original-Content-Length): believed
// from a trusted proxy only, and only as a plain non-negative number; else fallback.
long long original_length(const std::string* text, bool trusted_peer, long long fallback) {
    if (text == nullptr || !trusted_peer) return fallback;
    if (text->empty() || text->size() > 18 ||
        text->find_first_not_of("0123456789") != std::string::npos) {
        return fallback;
    }
    return std::stoll(*text);
}

// The fast lane's batch of /api/guard/check requests (see api.hpp): their guard checks
// in statements of at most kFastBatch; a request left unanswered (its statement failed)
// is served again by the thread path, which answers 503 if the database still fails.
constexpr std::size_t kFastBatch = 64;

void answer_guard_checks(Database& db, Metrics& metrics, const TrustedProxies& trusted,
                         const Limits& limits, std::vector<FastLaneRequest>& requests) {
    const auto started = Clock::now();
    std::vector<GuardCheck> checks;
    checks.reserve(requests.size());
    for (const FastLaneRequest& r : requests) {
        std::vector<std::string> forwarded_for;
        const std::string* original = nullptr;
        for (const auto& [name, value] : r.headers) {
            // As cpp-httplib does for the thread path: a blank value is no header at all.
            if (equals_ignoring_case(name, "X-Forwarded-For") &&
                value.find_first_not_of(" \t") != std::string::npos) {
                forwarded_for.push_back(value);
            }
            if (original == nullptr && equals_ignoring_case(name, "X-Original-Content-Length")) {
                original = &value;
            }
        }
        checks.push_back({client_address(r.peer, forwarded_for, trusted),
                          original_length(original, original && trusted.contains_text(r.peer), 0)});
    }
    std::vector<std::optional<Verdict>> verdicts(requests.size());
    auto run = [&](const std::vector<std::size_t>& which) {
        std::vector<GuardCheck> part;
        part.reserve(which.size());
        for (const std::size_t i : which) part.push_back(checks[i]);
        metrics.count_guard_statement(part.size());
        try {
            std::vector<Verdict> got = run_guard_checks(db, part);
            for (std::size_t k = 0; k < which.size() && k < got.size(); ++k) {
                verdicts[which[k]] = std::move(got[k]);
            }
        } catch (const std::exception&) {
            // Left unanswered: the thread path serves these requests again.
        }
    };
    std::vector<std::size_t> group;
    for (std::size_t i = 0; i < checks.size(); ++i) {
        if (!core::IpAddress::parse(checks[i].client)) {
            run({i});  // alone: a bad entry would fail its whole statement
            continue;
        }
        group.push_back(i);
        if (group.size() == kFastBatch) {
            run(group);
            group.clear();
        }
    }
    if (!group.empty()) run(group);

    const std::chrono::duration<double> took = Clock::now() - started;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        if (!verdicts[i]) continue;
        FastLaneRequest& r = requests[i];
        const Verdict& v = *verdicts[i];
        metrics.count_verdict(v.reason);
        r.status = guard_check_status(v);
        add_guard_check_headers(r.response_headers, v, limits);
        const std::string request_id = new_request_id();
        r.response_headers.emplace("X-Request-Id", request_id);
        if (r.status >= 400) {
            // What the server's error handler gives the thread path's 403.
            r.body = json{{"error",
                           {{"code", "error"},
                            {"message", "the request failed"},
                            {"requestId", request_id}}}}
                         .dump();
        }
        r.answered = true;
        metrics.observe("guard/check", r.status, took.count());
    }
}

long long content_length_of(const httplib::Request& req) {
    std::string cl = req.get_header_value("Content-Length");
    if (cl.empty()) return 0;
    try {
        return std::stoll(cl);
    } catch (const std::exception&) {
        return 0;  // the transport refuses malformed framing before this
    }
}

}  // namespace

void install_api(GuardedServer& server, Database& db, Metrics& metrics, const ApiOptions& options) {
    auto limits = std::make_shared<Limits>();
    try {
        auto row = db.row(
            "SELECT current_setting('infra.ddos_max_requests_per_minute'), "
            "current_setting('infra.ddos_max_requests_per_hour')",
            {});
        if (row.size() == 2) {
            limits->per_minute = std::stol(row[0].value_or("100"));
            limits->per_hour = std::stol(row[1].value_or("1000"));
        }
    } catch (const std::exception&) {
        // The defaults; the guard itself still decides.
    }
    const TrustedProxies trusted = options.trusted_proxies;
    auto batcher = std::make_shared<GuardBatcher>(
        [&db, &metrics](const std::vector<GuardCheck>& checks) {
            metrics.count_guard_statement(checks.size());
            return run_guard_checks(db, checks);
        },
        options.guard_max_batch, options.guard_batches_in_flight);

    server.on_headers = [&db, &metrics, trusted, limits, batcher](
                            const httplib::Request& req,
                            const std::string& peer) -> std::optional<EarlyResponse> {
        current = RequestState{};
        current.started = Clock::now();
        current.identity.request_id = new_request_id();
        current.identity.client =
            client_address(peer, header_values(req, "X-Forwarded-For"), trusted);
        std::optional<EarlyResponse> answer;
        try {
            const bool auth_check = req.path == "/api/guard/check";
            long long length = content_length_of(req);
            // nginx passes the original request's body size; believed from a trusted
            // proxy only, and only as a plain non-negative number.
            if (auth_check && req.has_header("X-Original-Content-Length")) {
                const std::string text = req.get_header_value("X-Original-Content-Length");
                length = original_length(&text, trusted.contains_text(peer), length);
            }
            Verdict v = check_request(db, *batcher, current.identity.client, length);
            metrics.count_verdict(v.reason);
            if (auth_check) {
                // Answered by the /api/guard/check route (a normal response keeps the
                // proxy's connection open); nginx auth_request understands 2xx/401/403.
                current.route = "guard/check";
                current.verdict = v;
            } else if ((answer = refusal(v, *limits))) {
                current.route = "guard";
            } else if (req.path.rfind(kApiPrefix, 0) == 0) {
                std::string auth = req.get_header_value("Authorization");
                std::optional<std::string> role;
                std::optional<std::string> label;
                if (auth.rfind("Bearer ", 0) == 0) {
                    auto row = db.row("SELECT role, label FROM infra.authenticate_token($1)",
                                      {auth.substr(7)});
                    if (row.size() == 2) {
                        role = row[0];
                        label = row[1];
                    }
                }
                if (!role) {
                    db.row("SELECT infra.report_suspicious($1::inet, 'bad_token')",
                           {current.identity.client});
                    current.route = "auth";
                    answer = early_error(401, "unauthorized",
                                         auth.empty() ? "this request needs a bearer token"
                                                      : "the bearer token is not valid (unknown, "
                                                        "expired or revoked)",
                                         "Send Authorization: Bearer <token> (SELECT "
                                         "infra.create_api_token(...) makes one).");
                    answer->headers.emplace("WWW-Authenticate", "Bearer");
                } else {
                    current.identity.role = *role;
                    current.identity.token_label = label.value_or("");
                }
            }
        } catch (const DbFailure& e) {
            std::fprintf(stderr, "infra_httpd: request %s: guard or authentication failed: %s\n",
                         current.identity.request_id.c_str(), e.what());
            current.route = "guard";
            answer = early_error(503, "unavailable", "the database cannot be reached",
                                 "Try again shortly.");
        }
        if (answer) {
            std::chrono::duration<double> took = Clock::now() - current.started;
            metrics.observe(current.route, answer->status, took.count());
        }
        return answer;
    };

    install_routes(server, db);

    server.Get("/api/guard/check", [limits](const httplib::Request&, httplib::Response& res) {
        const Verdict& v = current.verdict;
        res.status = guard_check_status(v);
        httplib::Headers h;
        add_guard_check_headers(h, v, *limits);
        for (const auto& [name, value] : h) res.set_header(name, value);
    });
    // The same answers, for keep-alive connections, from the transport's fast lane: all
    // the checks that arrive together go to the database as one statement.
    // Their own connections (options.lane_db) bound how long a lane can wait: a request
    // whose check did not come back in time is served again by the thread path.
    Database& lane_db = options.lane_db != nullptr ? *options.lane_db : db;
    server.set_fast_route("/api/guard/check", [&lane_db, &metrics, trusted,
                                               limits](std::vector<FastLaneRequest>& requests) {
        answer_guard_checks(lane_db, metrics, trusted, *limits, requests);
    });
    server.Get("/healthz", [&db](const httplib::Request&, httplib::Response& res) {
        current.route = "healthz";
        const bool ok = db.healthy();
        res.status = ok ? 200 : 503;
        res.set_content(json{{"ok", ok}}.dump(), "application/json");
    });
    server.Get("/metrics", [&db, &metrics, &server](const httplib::Request&,
                                                    httplib::Response& res) {
        current.route = "metrics";
        std::string text = metrics.render();
        text +=
            "# HELP infra_http_connections_open HTTP connections open now.\n"
            "# TYPE infra_http_connections_open gauge\n"
            "infra_http_connections_open " +
            std::to_string(server.open_connections()) +
            "\n"
            "# HELP infra_http_connections_refused_total Connections closed at once because "
            "the open-connection cap was reached.\n"
            "# TYPE infra_http_connections_refused_total counter\n"
            "infra_http_connections_refused_total " +
            std::to_string(server.connections_refused()) + "\n";
        Identity viewer = current.identity;
        viewer.role = "infra_viewer";
        try {
            std::optional<std::string> values = db.value(viewer, R"SQL(
SELECT jsonb_build_object(
  'verdicts', infra.ddos_stats()->'verdicts',
  'tracked_ips', infra.ddos_stats()->'tracked_ips',
  'blocked', (SELECT count(*) FROM infra.blocked_ips WHERE expires_at IS NULL OR expires_at > now()),
  'newest_backup', (SELECT coalesce(jsonb_object_agg(kind, t), '{}') FROM (
       SELECT kind, extract(epoch FROM max(finished_at)) AS t FROM infra.backups
        WHERE status = 'succeeded' GROUP BY kind) k),
  'last_backup', (SELECT jsonb_build_object('seconds', extract(epoch FROM finished_at - started_at),
                                            'bytes', bytes)
                    FROM infra.backups WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 1),
  'backup_failures', (SELECT count(*) FROM infra.backups WHERE status = 'failed'),
  'wal', (SELECT jsonb_build_object('rpo', s->'rpo_seconds', 'segments', s->'archive'->'segments',
                                    'stored_bytes', s->'archive'->'stored_bytes',
                                    'failed', s->'archiver'->'failed_count')
            FROM infra.wal_archive_stats() s),
  'base_backup_age', (SELECT extract(epoch FROM now() - max(stop_time)) FROM infra.base_backups
                       WHERE status = 'succeeded'))
)SQL");
            json v = json::parse(values.value_or("{}"));
            std::ostringstream out;
            auto num = [](const json& j) -> std::string {
                return j.is_number() ? j.dump() : (j.is_string() ? j.get<std::string>() : "NaN");
            };
            out << "# HELP infra_guard_decisions_total Guard verdicts since the server started.\n"
                << "# TYPE infra_guard_decisions_total counter\n";
            for (auto it = v["verdicts"].begin();
                 v["verdicts"].is_object() && it != v["verdicts"].end(); ++it) {
                out << "infra_guard_decisions_total{verdict=\"" << prometheus_label(it.key())
                    << "\"} " << num(it.value()) << "\n";
            }
            out << "# TYPE infra_guard_tracked_ips gauge\ninfra_guard_tracked_ips "
                << num(v["tracked_ips"]) << "\n"
                << "# TYPE infra_guard_blocked gauge\ninfra_guard_blocked " << num(v["blocked"])
                << "\n"
                << "# TYPE infra_backup_newest_success_timestamp_seconds gauge\n";
            for (auto it = v["newest_backup"].begin();
                 v["newest_backup"].is_object() && it != v["newest_backup"].end(); ++it) {
                out << "infra_backup_newest_success_timestamp_seconds{kind=\""
                    << prometheus_label(it.key()) << "\"} " << num(it.value()) << "\n";
            }
            if (v["last_backup"].is_object()) {
                out << "# TYPE infra_backup_last_duration_seconds gauge\n"
                    << "infra_backup_last_duration_seconds " << num(v["last_backup"]["seconds"])
                    << "\n# TYPE infra_backup_last_size_bytes gauge\ninfra_backup_last_size_bytes "
                    << num(v["last_backup"]["bytes"]) << "\n";
            }
            out << "# TYPE infra_backup_failures_total counter\ninfra_backup_failures_total "
                << num(v["backup_failures"]) << "\n";
            if (v["wal"].is_object()) {
                out << "# TYPE infra_wal_archive_lag_seconds gauge\ninfra_wal_archive_lag_seconds "
                    << num(v["wal"]["rpo"]) << "\n"
                    << "# TYPE infra_wal_archived_segments gauge\ninfra_wal_archived_segments "
                    << num(v["wal"]["segments"]) << "\n"
                    << "# TYPE infra_wal_archive_bytes gauge\ninfra_wal_archive_bytes "
                    << num(v["wal"]["stored_bytes"]) << "\n"
                    << "# TYPE infra_wal_archive_failures_total counter\n"
                    << "infra_wal_archive_failures_total " << num(v["wal"]["failed"]) << "\n";
            }
            out << "# TYPE infra_base_backup_age_seconds gauge\ninfra_base_backup_age_seconds "
                << num(v["base_backup_age"]) << "\n";
            text += out.str();
        } catch (const std::exception& e) {
            text += "# database metrics unavailable: " + std::string(e.what()) + "\n";
        }
        res.set_content(text, "text/plain; version=0.0.4");
    });

    if (!options.static_dir.empty()) {
        // The page's files change only with a new release: browsers may keep them five
        // minutes (each fetch also counts against the client's rate limit).
        server.set_mount_point("/admin/infrastructure", options.static_dir,
                               {{"Cache-Control", "max-age=300"}});
    }

    server.Get("/admin/infrastructure", [](const httplib::Request&, httplib::Response& res) {
        current.route = "admin";
        res.set_redirect("/admin/infrastructure/");
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.body.empty()) {
            if (res.status == 404) {
                write_error(res, 404, "not_found", "no such route");
            } else {
                write_error(res, res.status, "error", "the request failed");
            }
        }
    });
    server.set_post_routing_handler([&metrics](const httplib::Request&, httplib::Response& res) {
        res.set_header("X-Request-Id", current.identity.request_id);
        std::chrono::duration<double> took = Clock::now() - current.started;
        metrics.observe(current.route, res.status, took.count());
    });
}

}  // namespace infra::http
