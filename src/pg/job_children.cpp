// job_children.cpp: see job_children.hpp.
#include "pg/job_children.hpp"

#include "core/time_format.hpp"

extern "C" {
#include "postmaster/postmaster.h"
#include "storage/pmsignal.h"
}

namespace infra::pg {

using json = nlohmann::json;

std::string now_iso() {
    return core::iso8601_utc(core::unix_seconds_from_pg(GetCurrentTimestamp()));
}

void check_shutdown() {
    if (!PostmasterIsAlive()) proc_exit(1);
    if (ShutdownRequestPending) throw Cancelled();
    if (ConfigReloadPending) {
        ConfigReloadPending = false;
        pg_call([] { ProcessConfigFile(PGC_SIGHUP); });
    }
}

Connection connection_from(const json& params) {
    const json& c = params.at("conn");
    Connection conn;
    conn.host = c.at("host").get<std::string>();
    conn.port = c.at("port").get<int>();
    conn.user = c.at("user").get<std::string>();
    conn.bindir = c.at("bindir").get<std::string>();
    conn.maintenance_db = c.at("maintenance_db").get<std::string>();
    conn.lock_wait_timeout_ms = c.at("lock_wait_timeout_ms").get<int>();
    return conn;
}

core::ChildSpec child_spec(const Connection& conn, const std::string& program,
                           std::vector<std::string> args) {
    core::ChildSpec spec;
    spec.program = conn.bindir + "/" + program;
    spec.args = {"--host=" + conn.host, "--port=" + std::to_string(conn.port),
                 "--username=" + conn.user, "--no-password"};
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    spec.env = {"PGAPPNAME=infra_ext " + program, "PGCONNECT_TIMEOUT=30", "PGOPTIONS="};
    return spec;
}

void run_child_quietly(const core::ChildSpec& spec, const char* what) {
    run_child(spec, what, [](const char*, size_t) {});
}

std::string run_child_output(const core::ChildSpec& spec, const char* what) {
    std::string out;
    run_child(spec, what, [&](const char* data, size_t n) { out.append(data, n); });
    return out;
}

core::ChildSpec psql(const Connection& conn, const std::string& database,
                     const std::vector<std::string>& statements) {
    std::vector<std::string> args = {"--no-psqlrc",          "--quiet",
                                     "--no-align",           "--tuples-only",
                                     "--field-separator=\t", "--set=ON_ERROR_STOP=1",
                                     "--dbname=" + database};
    for (const std::string& sql : statements) args.push_back("--command=" + sql);
    return child_spec(conn, "psql", args);
}

core::ChildSpec psql(const Connection& conn, const std::string& database, const std::string& sql) {
    return psql(conn, database, std::vector<std::string>{sql});
}

// Files under dir (recursively), relative names, sorted.
}  // namespace infra::pg
