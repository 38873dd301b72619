// job_worker.cpp: the dynamic background worker that runs one job (never restarted).
//
// The owner (launcher or waiting session) claimed a job slot, wrote the parameters and
// started this worker with the slot's index. The worker:
//   backup   connects to the database it dumps, opens a REPEATABLE READ transaction,
//            exports its snapshot, runs `pg_dump --snapshot` (custom format: stdout
//            streamed through SHA-256 into the file; directory format: -Fd -j N) and,
//            beside it, psql counting every table's rows in that same imported
//            snapshot, keeps the transaction open until both are done, runs
//            `pg_dumpall --globals-only`,
//            writes manifest.json, fsyncs everything and renames the ".partial"
//            directory to its final name;
//   restore  creates a work database from template0, pg_restore -j N into it, ANALYZE,
//            then renames it to the target (replacing the old one only at the end);
//   verify   checks every file against the manifest, restores into a scratch database,
//            compares every table's row count with the manifest, drops the scratch;
//   cleanup  runs infra._cleanup(false) in infra.database;
//   base_backup  see base_backup_job.cpp.
// and reports one JSON outcome into its slot. It never writes infra.jobs itself: the
// owner does (a waiting session's rows are invisible to every other process).
//
// Signals: SIGTERM (cancel_job, pg_terminate_backend, shutdown) sets a flag; the loops
// that wait for a child check it, stop the child's process group, clean up and report
// "cancelled". No PostgreSQL error may longjmp across the C++ frames here: PostgreSQL
// calls go through pg_call, and CHECK_FOR_INTERRUPTS is never called.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/backup_manifest.hpp"
#include "core/child_process.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/sha256.hpp"
#include "core/time_format.hpp"
#include "pg/base_backup_job.hpp"
#include "pg/firewall.hpp"
#include "pg/job_children.hpp"
#include "pg/job_slots.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "postmaster/postmaster.h"
#include "storage/pmsignal.h"
#include "storage/procsignal.h"
}

namespace infra::pg {

namespace {

using json = nlohmann::json;

// Every table whose rows pg_dump dumps (ordinary tables outside extensions, plus the
// extensions' configuration tables), with its exact row count, in one query: the backup
// worker runs it in the dump's snapshot, verification in the restored copy.
constexpr const char* kRowCountsSql =
    "SELECT format('%I.%I', n.nspname, c.relname) AS t, "
    "(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', "
    "n.nspname, c.relname), false, true, '')))[1]::text AS n "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' "
    "AND n.nspname NOT LIKE 'pg\\_%' "
    "AND (NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
    "AND d.objid = c.oid AND d.deptype = 'e') "
    "OR EXISTS (SELECT 1 FROM pg_extension e WHERE c.oid = ANY (e.extconfig))) "
    "ORDER BY 1";

int slot_index = -1;

void list_files(const std::string& dir, const std::string& prefix, std::vector<std::string>* out) {
    for (const std::string& name :
         core::list_directory(dir + (prefix.empty() ? "" : "/" + prefix))) {
        std::string rel = prefix.empty() ? name : prefix + "/" + name;
        struct stat st;
        std::string full = dir + "/" + rel;
        if (lstat(full.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            list_files(dir, rel, out);
        } else if (S_ISREG(st.st_mode)) {
            out->push_back(rel);
        }
    }
}

// ---- SPI in this worker's own transaction (backup) ------------------------------------

std::string spi_single_value(const char* sql) {
    return pg_call([&] {
        if (SPI_execute(sql, false, 1) != SPI_OK_SELECT || SPI_processed != 1) {
            elog(ERROR, "query returned no row: %s", sql);
        }
        char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        return std::string(value ? value : "");
    });
}

std::vector<core::TableRowCount> parse_row_counts(const std::string& output) {
    std::vector<core::TableRowCount> counts;
    size_t start = 0;
    while (start < output.size()) {
        size_t end = output.find('\n', start);
        if (end == std::string::npos) end = output.size();
        std::string line = output.substr(start, end - start);
        start = end + 1;
        size_t tab = line.find('\t');
        if (line.empty() || tab == std::string::npos) continue;
        counts.push_back({line.substr(0, tab), std::stoll(line.substr(tab + 1))});
    }
    return counts;
}

// ---- backup ----------------------------------------------------------------------------

// infra.backup_dir is created (0700) when missing; an existing one is used as the
// administrator set it up — never chmod-ed — and must be writable.
void prepare_backup_dir(const std::string& dir) {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
        if (errno != ENOENT) {
            throw core::Error(
                core::ErrorKind::kInvalidArgument,
                "cannot use infra.backup_dir " + dir + ": " + core::errno_text(errno));
        }
        core::make_private_directory(dir);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        throw core::Error(core::ErrorKind::kInvalidArgument,
                          "infra.backup_dir " + dir + " is not a directory");
    }
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
        throw core::Error(
            core::ErrorKind::kInvalidArgument,
            "cannot write to infra.backup_dir " + dir + ": " + core::errno_text(errno));
    }
}

json run_backup(const json& params, const std::string& database) {
    Connection conn = connection_from(params);
    const std::string backup_dir = params.at("backup_dir").get<std::string>();
    const std::string partial = params.at("partial").get<std::string>();
    const std::string final_path = params.at("path").get<std::string>();
    const std::string format = params.at("format").get<std::string>();
    const int jobs = params.at("jobs").get<int>();
    const std::string dump_name =
        params.at("dump_base").get<std::string>() + (format == "directory" ? ".dir" : ".dump");

    prepare_backup_dir(backup_dir);
    core::remove_tree(partial);  // left by a crash of this very job
    core::make_private_directory(partial);

    core::BackupManifest manifest;
    manifest.database = database;
    manifest.format = format;
    manifest.started_at = now_iso();

    pg_call([] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        XactIsoLevel = XACT_REPEATABLE_READ;
        XactReadOnly = true;
        PushActiveSnapshot(GetTransactionSnapshot());
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
        pgstat_report_activity(STATE_RUNNING, "infra job: backup");
    });
    const std::string snapshot = spi_single_value("SELECT pg_catalog.pg_export_snapshot()");
    manifest.server_version =
        spi_single_value("SELECT pg_catalog.current_setting('server_version')");
    manifest.system_identifier =
        spi_single_value("SELECT system_identifier::text FROM pg_catalog.pg_control_system()");

    // The row counts run beside pg_dump, in another backend that imports the same
    // snapshot: they cost (almost) no wall-clock time on a machine with a spare core.
    core::ChildProcess counting = core::ChildProcess::spawn(
        psql(conn, database,
             {"SET lock_timeout = " + std::to_string(conn.lock_wait_timeout_ms),
              "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
              "SET TRANSACTION SNAPSHOT '" + snapshot + "'", kRowCountsSql, "COMMIT"}));

    std::vector<std::string> args = {
        "--snapshot=" + snapshot,
        "--lock-wait-timeout=" + std::to_string(conn.lock_wait_timeout_ms), "--dbname=" + database};
    core::ManifestFile dump_file;
    dump_file.name = dump_name;
    uint64 progress = 0;
    if (format == "directory") {
        args.insert(args.begin(), {"--format=directory", "--jobs=" + std::to_string(jobs),
                                   "--file=" + partial + "/" + dump_name});
        run_child_quietly(child_spec(conn, "pg_dump", args), "pg_dump");
    } else {
        args.insert(args.begin(), "--format=custom");
        core::OutputFile out(partial + "/" + dump_name);
        core::Sha256 sha;
        run_child(child_spec(conn, "pg_dump", args), "pg_dump", [&](const char* data, size_t n) {
            sha.update(data, n);
            out.write_all(data, n);
            progress += n;
            report_job_progress(slot_index, progress);
        });
        out.finish();
        dump_file.bytes = out.bytes_written();
        dump_file.sha256 = sha.hex_digest();
    }
    // Same snapshot as the dump: the restored copy must have exactly these counts.
    std::string counts;
    drive_child(counting, "counting rows",
                [&](const char* data, size_t n) { counts.append(data, n); });
    manifest.tables = parse_row_counts(counts);
    pg_call([] {
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
        pgstat_report_activity(STATE_IDLE, nullptr);
    });

    core::ChildSpec globals = child_spec(conn, "pg_dumpall", {"--globals-only"});
    globals.stdout_file = partial + "/globals.sql";
    run_child_quietly(globals, "pg_dumpall --globals-only");

    if (format == "directory") {
        std::vector<std::string> names;
        list_files(partial, dump_name, &names);
        for (const std::string& name : names) {
            std::string full = partial + "/" + name;
            core::fsync_path(full);
            struct stat st;
            if (stat(full.c_str(), &st) != 0) {
                throw core::Error(core::ErrorKind::kInternal,
                                  "cannot stat " + full + ": " + core::errno_text(errno));
            }
            manifest.files.push_back(
                {name, static_cast<int64_t>(st.st_size), core::sha256_file_hex(full)});
        }
        core::fsync_path(partial + "/" + dump_name);
    } else {
        manifest.files.push_back(dump_file);
    }
    core::fsync_path(partial + "/globals.sql");
    struct stat st;
    stat((partial + "/globals.sql").c_str(), &st);
    manifest.files.push_back({"globals.sql", static_cast<int64_t>(st.st_size),
                              core::sha256_file_hex(partial + "/globals.sql")});
    manifest.finished_at = now_iso();
    const std::string manifest_text = core::manifest_to_json(manifest);
    core::write_file_durably(partial + "/manifest.json", manifest_text);
    core::fsync_path(partial);
    check_shutdown();
    core::durable_rename(partial, final_path);

    int64_t total = 0;
    for (const core::ManifestFile& f : manifest.files) total += f.bytes;
    return {{"state", "succeeded"},
            {"bytes", total},
            {"sha256", format == "directory" ? core::sha256_hex(manifest_text) : dump_file.sha256},
            {"path", final_path},
            {"tables", manifest.tables.size()}};
}

// ---- restore and verify ----------------------------------------------------------------

void restore_into(const Connection& conn, const json& params, const std::string& work_db) {
    const std::string dump = params.at("dump").get<std::string>();
    const int jobs = params.at("jobs").get<int>();
    run_child_quietly(psql(conn, conn.maintenance_db, params.at("create_sql").get<std::string>()),
                      "creating the database");
    run_child_quietly(child_spec(conn, "pg_restore",
                                 {"--jobs=" + std::to_string(jobs), "--exit-on-error",
                                  "--dbname=" + work_db, dump}),
                      "pg_restore");
}

void drop_quietly(const Connection& conn, const std::string& sql) {
    try {
        bool pending = ShutdownRequestPending;
        ShutdownRequestPending = false;  // let the clean-up itself run
        run_child_quietly(psql(conn, conn.maintenance_db, sql), "dropping the work database");
        ShutdownRequestPending = pending;
    } catch (const std::exception& e) {
        pg_call([&] { ereport(WARNING, (errmsg("infra job: %s", e.what()))); });
    }
}

json run_restore(const json& params) {
    Connection conn = connection_from(params);
    const std::string work_db = params.at("work_db").get<std::string>();
    const std::string target = params.at("target").get<std::string>();
    const bool replace = params.at("replace").get<bool>();
    try {
        drop_quietly(conn, params.at("drop_work_sql").get<std::string>());
        restore_into(conn, params, work_db);
        run_child_quietly(psql(conn, work_db, "ANALYZE"), "ANALYZE");
        check_shutdown();
        if (replace) {
            run_child_quietly(
                psql(conn, conn.maintenance_db, params.at("retire_sql").get<std::string>()),
                "setting the old database aside");
            try {
                run_child_quietly(
                    psql(conn, conn.maintenance_db, params.at("install_sql").get<std::string>()),
                    "renaming the restored database");
            } catch (...) {
                drop_quietly(conn, params.at("unretire_sql").get<std::string>());
                throw;
            }
            drop_quietly(conn, params.at("drop_retired_sql").get<std::string>());
        } else {
            run_child_quietly(
                psql(conn, conn.maintenance_db, params.at("install_sql").get<std::string>()),
                "renaming the restored database");
        }
    } catch (...) {
        drop_quietly(conn, params.at("drop_work_sql").get<std::string>());
        throw;
    }
    return {{"state", "succeeded"}, {"database", target}, {"replaced", replace}};
}

json run_verify(const json& params) {
    Connection conn = connection_from(params);
    const std::string path = params.at("path").get<std::string>();
    const std::string work_db = params.at("work_db").get<std::string>();
    TimestampTz started = GetCurrentTimestamp();
    json verification = {{"backup_id", params.at("backup_id")}};
    core::BackupManifest manifest =
        core::manifest_from_json(core::read_file(path + "/manifest.json"));
    std::vector<core::FileProblem> problems = core::check_backup_files(path, manifest);
    verification["files_checked"] = manifest.files.size();
    if (!problems.empty()) {
        json corrupt = json::array();
        for (const core::FileProblem& p : problems)
            corrupt.push_back({{"file", p.name}, {"problem", p.problem}});
        verification["ok"] = false;
        verification["stage"] = "checksums";
        verification["corrupt_files"] = corrupt;
        verification["restored"] = false;
        return {{"state", "succeeded"}, {"verification", verification}};
    }
    check_shutdown();
    std::vector<core::TableRowCount> actual;
    try {
        drop_quietly(conn, params.at("drop_work_sql").get<std::string>());
        restore_into(conn, params, work_db);
        actual =
            parse_row_counts(run_child_output(psql(conn, work_db, kRowCountsSql), "counting rows"));
    } catch (const Cancelled&) {
        drop_quietly(conn, params.at("drop_work_sql").get<std::string>());
        throw;
    } catch (const std::exception& e) {
        drop_quietly(conn, params.at("drop_work_sql").get<std::string>());
        verification["ok"] = false;
        verification["stage"] = "restore";
        verification["error"] = e.what();
        verification["restored"] = false;
        return {{"state", "succeeded"}, {"verification", verification}};
    }
    drop_quietly(conn, params.at("drop_work_sql").get<std::string>());
    std::vector<core::RowCountMismatch> mismatches =
        core::compare_row_counts(manifest.tables, actual);
    json listed = json::array();
    for (size_t i = 0; i < mismatches.size() && i < 50; ++i) {
        const core::RowCountMismatch& m = mismatches[i];
        listed.push_back({{"table", m.table},
                          {"expected", m.expected ? json(*m.expected) : json(nullptr)},
                          {"actual", m.actual ? json(*m.actual) : json(nullptr)}});
    }
    verification["ok"] = mismatches.empty();
    verification["stage"] = "row_counts";
    verification["restored"] = true;
    verification["tables_compared"] = manifest.tables.size();
    verification["mismatches"] = listed;
    verification["mismatch_count"] = mismatches.size();
    verification["seconds"] = static_cast<double>(GetCurrentTimestamp() - started) / 1e6;
    return {{"state", "succeeded"}, {"verification", verification}};
}

json run_cleanup() {
    pg_call([] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    });
    std::string report = spi_single_value(
        "SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]')::text FROM infra._cleanup(false) c");
    pg_call([] {
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
    });
    json parsed = json::parse(report);
    size_t removed = 0;
    for (const json& row : parsed) {
        if (row.value("action", "").rfind("removed", 0) == 0) ++removed;
    }
    std::string text = parsed.dump();
    json out = {{"state", "succeeded"}, {"removed", removed}};
    if (text.size() < kJobResultSize / 2) out["report"] = parsed;
    return out;
}

std::string compact_result(const json& result) {
    std::string text = result.dump();
    if (text.size() < kJobResultSize) return text;
    json small = {{"state", result.value("state", "failed")},
                  {"error", result.value("error", std::string())}};
    if (small["error"].get<std::string>().size() > 4000) {
        small["error"] = small["error"].get<std::string>().substr(0, 4000) + "…";
    }
    return small.dump();
}

}  // namespace

}  // namespace infra::pg

extern "C" {

PGDLLEXPORT void infra_job_worker_main(Datum);

void infra_job_worker_main(Datum arg) {
    using namespace infra::pg;
    using json = nlohmann::json;
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
    BackgroundWorkerUnblockSignals();

    slot_index = DatumGetInt32(arg);
    int64 job_id = 0;
    std::memcpy(&job_id, MyBgworkerEntry->bgw_extra, sizeof job_id);

    // Static storage: proc_exit and FATALs must not skip destructors of live objects.
    static std::string kind, database, params_text;
    if (!attach_job_slot(slot_index, job_id, &kind, &database, &params_text)) proc_exit(0);

    // Connect first (a FATAL here, e.g. the database was dropped, is reported by the
    // owner as "exited without reporting"), then run the job behind the firewall.
    if (kind == "backup") {
        BackgroundWorkerInitializeConnection(database.c_str(), nullptr, 0);
    } else if (kind == "cleanup") {
        BackgroundWorkerInitializeConnection(setting_database, nullptr, 0);
    } else {
        BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    }
    pgstat_report_appname(("infra job " + std::to_string(job_id) + " (" + kind + ")").c_str());

    std::string outcome;
    {
        json result;
        try {
            json params = json::parse(params_text);
            if (kind == "backup") {
                result = run_backup(params, database);
            } else if (kind == "restore") {
                result = run_restore(params);
            } else if (kind == "verify") {
                result = run_verify(params);
            } else if (kind == "cleanup") {
                result = run_cleanup();
            } else if (kind == "base_backup") {
                result = run_base_backup(params);
            } else {
                result = {{"state", "failed"}, {"error", "unknown job kind " + kind}};
            }
        } catch (const Cancelled&) {
            result = {{"state", "cancelled"},
                      {"error", "cancelled: the job's worker was asked to stop"}};
        } catch (const std::exception& e) {
            result = {{"state", "failed"}, {"error", e.what()}};
        }
        if (result.value("state", "") != "succeeded" &&
            (kind == "backup" || kind == "base_backup")) {
            try {
                json params = json::parse(params_text);
                // (base_backup's key differs so that the SQL side, which removes only
                // entries of infra.backup_dir, leaves it to this worker.)
                infra::core::remove_tree(
                    params.at(kind == "backup" ? "partial" : "partial_dir").get<std::string>());
            } catch (const std::exception& e) {
                ereport(WARNING, (errmsg("infra job %lld: could not remove partial files: %s",
                                         static_cast<long long>(job_id), e.what())));
            }
        }
        outcome = compact_result(result);
    }
    if (IsTransactionState()) AbortCurrentTransaction();
    report_job_outcome(slot_index, outcome);
    proc_exit(0);
}

}  // extern "C"
