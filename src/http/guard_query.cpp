// guard_query.cpp: see guard_query.hpp.
#include "http/guard_query.hpp"

#include <string>

namespace infra::http {

namespace {

constexpr const char* kSingleCheck =
    "SELECT allowed, reason, retry_after_s, remaining_minute, remaining_hour "
    "FROM infra.check_request($1::inet, $2::bigint)";
constexpr const char* kBatchCheck =
    "SELECT c.allowed, c.reason, c.retry_after_s, c.remaining_minute, c.remaining_hour "
    "FROM unnest($1::inet[], $2::bigint[]) WITH ORDINALITY AS u(ip, len, o), "
    "LATERAL infra.check_request(u.ip, u.len) c ORDER BY u.o";

GuardVerdict verdict_of(const std::vector<std::optional<std::string>>& row) {
    GuardVerdict v;
    if (row.size() < 5) return v;
    v.allowed = row[0].value_or("t") == "t";
    v.reason = row[1].value_or("ok");
    v.retry_after_s = std::stol(row[2].value_or("0"));
    v.remaining_minute = std::stol(row[3].value_or("0"));
    v.remaining_hour = std::stol(row[4].value_or("0"));
    return v;
}

}  // namespace

std::string array_literal(const std::vector<std::string>& elements) {
    std::string out = "{";
    for (const std::string& e : elements) {
        if (out.size() > 1) out += ',';
        out += '"';
        for (const char c : e) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

std::vector<GuardVerdict> run_guard_checks(Database& db, const std::vector<GuardCheck>& checks) {
    std::vector<GuardVerdict> out;
    if (checks.empty()) return out;
    if (checks.size() == 1) {
        out.push_back(
            verdict_of(db.row(kSingleCheck, {checks[0].client, std::to_string(checks[0].length)})));
        return out;
    }
    std::vector<std::string> clients, lengths;
    clients.reserve(checks.size());
    lengths.reserve(checks.size());
    for (const GuardCheck& c : checks) {
        clients.push_back(c.client);
        lengths.push_back(std::to_string(c.length));
    }
    const auto rows = db.rows(kBatchCheck, {array_literal(clients), array_literal(lengths)});
    out.reserve(rows.size());
    for (const auto& row : rows) out.push_back(verdict_of(row));
    return out;
}

}  // namespace infra::http
