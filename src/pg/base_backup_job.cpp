// base_backup_job.cpp: the "base_backup" job, run by a job worker (job_worker.cpp).
//
//  1. pg_basebackup -X stream -c fast --manifest-checksums=CRC32C [--max-rate] into
//     <infra.base_backup_dir>/.<name>.partial/data (plain, or tar with the configured
//     compression), connecting over the server's own socket as the bootstrap superuser;
//  2. reads the timeline and start/stop LSN from pg_basebackup's backup_manifest, and
//     the system identifier, version and WAL segment size from the server;
//  3. verifies it: pg_verifybackup for plain format (checksums of every file, and the
//     WAL parsed by pg_waldump); core::check_tar_base_backup for tar (pg_verifybackup
//     cannot read tar in PostgreSQL 15), with base.tar read and decompressed by a second
//     thread while pg_basebackup writes it (the only thread besides the main one; it runs
//     core code only, with every signal blocked);
//  4. writes infra_base_backup.json (core::BaseBackupInfo), fsyncs and renames the
//     directory to its final name — a crash at any point leaves only a ".partial"
//     directory, which listing ignores and the next attempt removes;
//  5. applies retention: keeps the `retention` newest base backups of the directory
//     (by stop time, the new one included) and removes the others (renamed to
//     ".<name>.expired" first; a failure here is a WARNING, the new backup stands).
// Runs in the worker process only (no shared state between processes); errors are C++
// exceptions.
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pg/base_backup_job.hpp"

#include "core/base_backup_info.hpp"
#include "core/base_backup_tar.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/quiet_thread.hpp"
#include "core/time_format.hpp"
#include "core/wal_names.hpp"
#include "pg/job_children.hpp"

namespace infra::pg {

namespace {

using json = nlohmann::json;

int64_t now_unix_us() {
    return core::unix_seconds_from_pg(0) * 1000000 + GetCurrentTimestamp();
}

// Timeline and LSN range from pg_basebackup's backup_manifest ("WAL-Ranges").
void read_wal_range(const std::string& manifest_path, core::BaseBackupInfo* info) {
    json manifest;
    try {
        manifest = json::parse(core::read_file(manifest_path));
        const json& ranges = manifest.at("WAL-Ranges");
        if (ranges.size() != 1) {
            throw core::Error(core::ErrorKind::kInvalidArgument,
                              "expected one WAL range, found " + std::to_string(ranges.size()));
        }
        info->timeline = ranges[0].at("Timeline").get<uint32_t>();
        info->start_lsn = core::parse_lsn(ranges[0].at("Start-LSN").get<std::string>());
        info->stop_lsn = core::parse_lsn(ranges[0].at("End-LSN").get<std::string>());
    } catch (const json::exception& e) {
        throw core::Error(
            core::ErrorKind::kInvalidArgument,
            manifest_path + " is not a backup manifest pg_basebackup writes: " + e.what());
    }
}

// The server's system identifier, version number and WAL segment size.
void read_server_facts(const Connection& conn, core::BaseBackupInfo* info) {
    std::string out = run_child_output(
        psql(conn, conn.maintenance_db,
             "SELECT system_identifier::text, current_setting('server_version_num'), "
             "(SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') "
             "FROM pg_control_system()"),
        "psql (server facts)");
    std::vector<std::string> fields;
    std::string field;
    for (char c : out) {
        if (c == '\t' || c == '\n') {
            fields.push_back(field);
            field.clear();
        } else {
            field += c;
        }
    }
    if (fields.size() < 3) {
        throw core::Error(core::ErrorKind::kInternal, "unexpected server facts: " + out);
    }
    info->system_identifier = std::stoull(fields[0]);
    info->pg_version_num = std::stoi(fields[1]);
    info->wal_segment_size = std::stoull(fields[2]);
}

std::string problems_text(const std::vector<std::string>& problems) {
    std::string text;
    for (size_t i = 0; i < problems.size() && i < 10; ++i) {
        text += (i ? "; " : "") + problems[i];
    }
    if (problems.size() > 10) text += "; and " + std::to_string(problems.size() - 10) + " more";
    return text;
}

// Keeps the `keep` newest base backups under root; returns the ids of those removed.
// Each is first renamed to ".<name>.expired" (and the rename made durable), so that a
// crash in the middle of removing it never leaves a valid description over half a
// data directory; the next base backup removes what a crash left.
std::vector<int64_t> apply_retention(const std::string& root, int keep) {
    std::vector<core::BaseBackupInfo> all = core::list_base_backups(root);
    std::vector<int64_t> removed;
    for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) {
        const std::string& path = all[i].path;
        const std::string name = path.substr(path.rfind('/') + 1);
        const std::string doomed = root + "/." + name + ".expired";
        core::durable_rename(path, doomed);
        removed.push_back(all[i].id);
        core::remove_tree(doomed);
    }
    return removed;
}

// Removes what crashes left in root: ".*.partial" (a base backup being taken; only one
// runs at a time, so none is live now) and ".*.expired" (retention in progress).
void remove_leftovers(const std::string& root) {
    auto ends_with = [](const std::string& name, const char* suffix) {
        const size_t n = std::strlen(suffix);
        return name.size() > n && name.compare(name.size() - n, n, suffix) == 0;
    };
    for (const std::string& name : core::list_directory(root)) {
        if (name[0] == '.' && (ends_with(name, ".partial") || ends_with(name, ".expired"))) {
            core::remove_tree(root + "/" + name);
        }
    }
}

// A thread that reads base.tar* while pg_basebackup (run by this process's main thread)
// writes it: core::digest_growing_base_tar, which touches no PostgreSQL state. It is a
// quiet thread (core/quiet_thread.hpp): PostgreSQL's signal handlers (and the latch)
// only ever run on the main thread. finish() tells it the writer has ended
// (whether it succeeded or not), waits for it and gives its result.
class GrowingTarReader {
  public:
    explicit GrowingTarReader(const std::string& path) {
        thread_ = core::start_quiet_thread([this, path] {
            // SCHED_IDLE (nice 19 where refused): on a machine short of cores the backup
            // goes first and this thread only gets CPU nothing else wants, reading the
            // rest after pg_basebackup has ended.
            sched_param idle{};
            if (sched_setscheduler(static_cast<pid_t>(syscall(SYS_gettid)), SCHED_IDLE, &idle) !=
                0) {
                (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
            }
            try {
                result_ = core::digest_growing_base_tar(path, [this] { return !writer_done_; });
            } catch (const std::exception& e) {
                result_.read_error = std::string("cannot read ") + path + ": " + e.what();
            }
        });
    }
    GrowingTarReader(const GrowingTarReader&) = delete;
    GrowingTarReader& operator=(const GrowingTarReader&) = delete;
    ~GrowingTarReader() { finish(); }

    core::BaseTarDigests finish() {
        writer_done_ = true;
        if (thread_.joinable()) thread_.join();
        return result_;
    }

  private:
    std::atomic<bool> writer_done_{false};
    core::BaseTarDigests result_;
    std::thread thread_;
};

}  // namespace

json run_base_backup(const json& params) {
    const Connection conn = connection_from(params);
    const std::string root = params.at("root").get<std::string>();
    const std::string partial = params.at("partial_dir").get<std::string>();
    const std::string final_path = params.at("path").get<std::string>();
    const std::string data = partial + "/" + core::kBaseBackupDataDir;

    core::BaseBackupInfo info;
    info.id = params.at("base_backup_id").get<int64_t>();
    info.label = params.at("label").get<std::string>();
    info.format = params.at("format").get<std::string>();
    info.compression = params.at("compression").get<std::string>();

    core::make_private_directory(root);
    remove_leftovers(root);
    core::make_private_directory(partial);

    std::vector<std::string> args = {
        "--pgdata=" + data,      "--wal-method=stream",         "--checkpoint=fast",
        "--label=" + info.label, "--manifest-checksums=CRC32C", "--format=" + info.format};
    const int max_rate_kb = params.value("max_rate_kb", 0);
    if (max_rate_kb > 0) args.push_back("--max-rate=" + std::to_string(max_rate_kb) + "k");
    if (info.format == "tar" && info.compression != "none") {
        // zstd compresses in a thread of its own (workers=1: the same level and frame
        // format, one worker), so pg_basebackup receives while the previous data is being
        // compressed instead of one after the other: 0.87 x as long on its own
        // (bench/README.md), which leaves room for the tar check's reader thread.
        args.push_back("--compress=client-" + info.compression +
                       (info.compression == "zstd" ? ":workers=1" : ""));
    }
    info.start_time_unix_us = now_unix_us();
    std::optional<core::BaseTarDigests> base_digests;
    if (info.format == "tar") {
        // base.tar is read and decompressed while pg_basebackup writes it, so the check
        // afterwards does not read it again (GrowingTarReader).
        GrowingTarReader reader(data + "/base.tar" +
                                core::tar_compression_suffix(info.compression));
        try {
            run_child_quietly(child_spec(conn, "pg_basebackup", args), "pg_basebackup");
        } catch (...) {
            reader.finish();
            throw;
        }
        base_digests = reader.finish();
    } else {
        run_child_quietly(child_spec(conn, "pg_basebackup", args), "pg_basebackup");
    }
    info.stop_time_unix_us = now_unix_us();
    check_shutdown();

    read_wal_range(data + "/backup_manifest", &info);
    read_server_facts(conn, &info);
    if (info.format == "plain") {
        core::ChildSpec verify;  // reads files only: no connection options
        verify.program = conn.bindir + "/pg_verifybackup";
        verify.args = {"--quiet", data};
        run_child_quietly(verify, "pg_verifybackup");
        info.verified_by = "pg_verifybackup";
    } else {
        core::TarCheckResult check =
            core::check_tar_base_backup(data, base_digests ? &*base_digests : nullptr);
        if (!check.ok) {
            throw core::Error(core::ErrorKind::kInvalidArgument,
                              "the tar base backup does not match its manifest: " +
                                  problems_text(check.problems));
        }
        info.verified_by = "infra_ext tar check";
    }
    check_shutdown();
    info.bytes = core::tree_bytes(data);
    core::write_file_durably(partial + "/" + core::kBaseBackupInfoFile,
                             core::base_backup_info_to_json(info));
    core::fsync_path(partial);
    core::durable_rename(partial, final_path);
    info.path = final_path;

    // The new base backup is in place: a failure of retention must not fail it.
    json result = {{"state", "succeeded"},
                   {"bytes", info.bytes},
                   {"path", final_path},
                   {"info", json::parse(core::base_backup_info_to_json(info))}};
    try {
        result["expired"] = apply_retention(root, params.at("retention").get<int>());
    } catch (const std::exception& e) {
        result["expired"] = json::array();
        result["retention_error"] = e.what();
        pg_call([&] {
            ereport(WARNING, (errmsg("infra base backup %lld: retention failed: %s",
                                     static_cast<long long>(info.id), e.what())));
        });
    }
    return result;
}

}  // namespace infra::pg
