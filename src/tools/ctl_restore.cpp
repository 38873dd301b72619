// ctl_restore.cpp: `infra_ext_ctl restore` — performs a point-in-time recovery with the
// server down: plans it (core::plan_recovery), refuses when the plan has problems or
// PGDATA is in use or not empty, restores the base backup (copy of a plain backup, or
// extraction of a tar one), writes recovery.signal and the recovery settings, and with
// --start starts the server, waits until it has promoted and reports where recovery
// ended. Nothing it does needs the database to be up.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/base_backup_tar.hpp"
#include "core/child_process.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/tree_copy.hpp"
#include "core/wal_prefetch.hpp"
#include "tools/ctl_commands.hpp"
#include "tools/ctl_common.hpp"

namespace infra::ctl {

namespace {

bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

// The status line of PGDATA/postmaster.pid (its 8th line: "starting", "standby",
// "ready", "stopping"), "" when there is none.
std::string postmaster_status(const std::string& pgdata) {
    std::ifstream in(pgdata + "/postmaster.pid");
    std::string line;
    for (int i = 0; i < 8 && std::getline(in, line); ++i) {
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line;
}

// The pid in PGDATA/postmaster.pid when that process is alive, else 0.
long running_postmaster(const std::string& pgdata) {
    std::ifstream in(pgdata + "/postmaster.pid");
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return 0;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return pid;
    return 0;
}

std::string stamp_now() {
    time_t t = time(nullptr);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

// PGDATA must be absent, or an empty directory, or (with --replace) is moved aside.
// Returns where the old one went ("" when nothing was moved).
std::string prepare_pgdata(const std::string& pgdata, bool replace) {
    if (long pid = running_postmaster(pgdata)) {
        throw Refused("a server is running in " + pgdata + " (pid " + std::to_string(pid) +
                      "): stop it first (pg_ctl -D " + pgdata + " stop -m fast)");
    }
    struct stat st;
    if (::lstat(pgdata.c_str(), &st) != 0) return "";
    if (S_ISDIR(st.st_mode) && core::list_directory(pgdata).empty()) return "";
    if (!replace) {
        throw Refused(pgdata + " is not empty: pass --replace to move it aside (to " + pgdata +
                      ".before-restore-<time>; nothing is deleted), or choose another --pgdata");
    }
    std::string aside = pgdata + ".before-restore-" + stamp_now();
    core::durable_rename(pgdata, aside);
    return aside;
}

// Appends text to path (created 0600 if missing) and fsyncs it.
void append_durably(const std::string& path, const std::string& text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) core::throw_file_error("open", path, errno);
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            core::throw_file_error("write", path, err);
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        int err = errno;
        ::close(fd);
        core::throw_file_error("fsync", path, err);
    }
    ::close(fd);
}

void write_recovery_settings(const std::string& pgdata, const core::RecoveryPlan& plan,
                             const ParsedArgs& args) {
    const std::string archive = args.required("--archive");
    // restore_command runs this very program (it lives beside the server's binaries).
    const std::string command = core::restore_command(own_directory(), archive);
    std::ostringstream conf;
    conf << "\n# Added by infra_ext_ctl restore at " << stamp_now()
         << ": point-in-time recovery to "
         << core::format_timestamp_unix_us(plan.target_time_unix_us) << " from base backup "
         << plan.base_backup.id << ".\n"
         << "restore_command = " << core::conf_quote(command) << "\n"
         << "recovery_target_time = "
         << core::conf_quote(core::postgres_timestamp_unix_us(plan.target_time_unix_us)) << "\n"
         << "recovery_target_action = 'promote'\n"
         << "recovery_target_timeline = " << core::conf_quote(plan.recovery_target_timeline)
         << "\n";
    if (args.has("--port"))
        conf << "port = " << positive_int("--port", args.value("--port")) << "\n";
    if (args.value("--archive-mode", args.flags.count("--replace") ? "keep" : "off") == "off") {
        conf << "archive_mode = off  # a restored copy must not archive into the original's "
                "archive\n";
    }
    append_durably(pgdata + "/postgresql.auto.conf", conf.str());
    append_durably(pgdata + "/recovery.signal", "");
    core::fsync_path(pgdata);
}

// postgresql.conf for the restored server: --config-file, else the data directory's own,
// else Debian's /etc/postgresql/15/<name>/postgresql.conf for /var/lib/postgresql/15/<name>
// (Debian keeps the configuration outside the data directory).
std::string config_file_for(const std::string& pgdata, const std::string& data_with_conf,
                            const ParsedArgs& args) {
    if (args.has("--config-file")) return args.value("--config-file");
    if (exists(data_with_conf + "/postgresql.conf")) return "";
    std::string data = pgdata;
    while (data.size() > 1 && data.back() == '/') data.pop_back();
    const std::string name = data.substr(data.rfind('/') + 1);
    const std::string debian = "/etc/postgresql/15/" + name + "/postgresql.conf";
    if (exists(debian)) return debian;
    throw Refused(pgdata + " has no postgresql.conf and " + debian +
                  " does not exist: pass --config-file FILE");
}

bool log_contains(const std::string& path, const std::string& text) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.find(text) != std::string::npos) return true;
    }
    return false;
}

std::string tail_lines(const std::string& path, size_t count) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    std::string out;
    for (size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
        out += "  " + lines[i] + "\n";
    }
    return out;
}

// The lines of the server log that say how recovery went.
std::string recovery_report(const std::string& log_path) {
    static const char* const kMarkers[] = {"starting point-in-time recovery",
                                           "consistent recovery state reached",
                                           "recovery stopping",
                                           "last completed transaction was at log time",
                                           "selected new timeline ID",
                                           "archive recovery complete",
                                           "database system is ready to accept connections"};
    std::ifstream in(log_path);
    std::string line, out;
    while (std::getline(in, line)) {
        for (const char* marker : kMarkers) {
            if (line.find(marker) != std::string::npos) {
                out += "  " + line + "\n";
                break;
            }
        }
    }
    return out;
}

int start_and_wait(const std::string& pgdata, const std::string& bindir, const std::string& log,
                   int timeout_s, const std::string& config_file) {
    core::ChildSpec pg_ctl;
    pg_ctl.program = bindir + "/pg_ctl";
    pg_ctl.args = {"-D", pgdata, "-l", log, "-w", "-t", std::to_string(timeout_s)};
    if (!config_file.empty()) {
        pg_ctl.args.push_back("-o");
        pg_ctl.args.push_back("-c config_file=" + config_file);
    }
    pg_ctl.args.push_back("start");
    pg_ctl.stdout_file = "/dev/null";
    std::printf("starting the server (log: %s) ...\n", log.c_str());
    std::fflush(stdout);
    core::ChildProcess child = core::ChildProcess::spawn(pg_ctl);
    int status = child.wait();
    // What restore_command read ahead and recovery did not use (segments past the
    // target): gone once recovery is over, whichever way it ended.
    const std::string spool = core::prefetch_spool_dir(pgdata + "/pg_wal/RECOVERYXLOG");
    auto failed = [&](const std::string& why) {
        if (running_postmaster(pgdata) == 0) core::clear_spool(spool);
        std::fprintf(stderr, "infra_ext_ctl restore: %s\nlast lines of %s:\n%s", why.c_str(),
                     log.c_str(), tail_lines(log, 20).c_str());
        std::string text =
            log_contains(log, "recovery ended before configured recovery target was reached")
                ? "hint: the archived WAL ends before the target time: choose an "
                  "earlier target, or archive more WAL first (SELECT "
                  "pg_switch_wal() on the original server)\n"
                : "";
        std::fputs(text.c_str(), stderr);
        return kExitRecoveryFailed;
    };
    if (!core::exited_successfully(status)) {
        return failed("the server did not start (" + core::describe_wait_status(status) + ")");
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (exists(pgdata + "/recovery.signal")) {
        if (running_postmaster(pgdata) == 0) {
            return failed("the server stopped during recovery");
        }
        if (std::chrono::steady_clock::now() > deadline) {
            return failed("recovery did not finish within " + std::to_string(timeout_s) +
                          " s (the server is still running and recovering)");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // recovery.signal goes at the end of recovery; the postmaster then says "ready" in
    // postmaster.pid (whatever the log settings and language).
    while (postmaster_status(pgdata) != "ready") {
        if (running_postmaster(pgdata) == 0) return failed("the server stopped after recovery");
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    core::clear_spool(spool);
    std::printf("recovery finished and the server was promoted; from its log:\n%s",
                recovery_report(log).c_str());
    return kExitOk;
}

}  // namespace

int run_restore(const std::vector<std::string>& raw) {
    ParsedArgs args =
        parse_args(raw,
                   {"--archive", "--base-backups", "--pgdata", "--target-time", "--base-backup",
                    "--port", "--bindir", "--log", "--timeout", "--archive-mode", "--config-file"},
                   {"--start", "--replace"});
    if (args.help) {
        std::fputs(kRestoreHelp, stdout);
        return kExitOk;
    }
    if (!args.positional.empty()) throw UsageError("unexpected argument " + args.positional[0]);
    const std::string pgdata = args.required("--pgdata");
    // A restore into a new place (a copy beside the original) must not archive into the
    // original's archive; a restore that replaces the data directory keeps archiving.
    const std::string mode =
        args.value("--archive-mode", args.flags.count("--replace") ? "keep" : "off");
    if (mode != "keep" && mode != "off") {
        throw UsageError("--archive-mode must be keep or off, not \"" + mode + "\"");
    }
    const int timeout_s =
        args.has("--timeout") ? positive_int("--timeout", args.value("--timeout")) : 3600;
    if (::geteuid() == 0) {
        throw UsageError(
            "run restore as the server's operating-system user, not root (PostgreSQL refuses to "
            "run as root and the restored files must belong to that user), e.g. runuser -u "
            "postgres -- infra_ext_ctl restore ...");
    }
    const std::string bindir = postgres_bindir(args);

    core::RecoveryPlan plan = load_plan(args, bindir);
    print_plan_summary(plan);
    if (!plan.ok) {
        throw Refused("the recovery plan has problems (listed above); nothing was changed");
    }
    const core::BaseBackupInfo& backup = plan.base_backup;
    const std::string data = backup.path + "/data";
    if (backup.format == "plain" && exists(data + "/pg_tblspc") &&
        !core::list_directory(data + "/pg_tblspc").empty()) {
        throw Refused("base backup " + std::to_string(backup.id) +
                      " has tablespaces, which infra_ext_ctl restore does not support yet");
    }
    // Where postgresql.conf is, decided before anything changes (a plain backup holds the
    // data directory's own; Debian keeps it in /etc/postgresql).
    std::string config_file;
    if (args.flags.count("--start") && backup.format == "plain") {
        config_file = config_file_for(pgdata, data, args);
    }
    std::string aside = prepare_pgdata(pgdata, args.flags.count("--replace") != 0);
    if (!aside.empty()) std::printf("moved the old data directory aside to %s\n", aside.c_str());

    std::printf("restoring base backup %lld into %s ...\n", static_cast<long long>(backup.id),
                pgdata.c_str());
    std::fflush(stdout);
    int64_t bytes = 0;
    if (backup.format == "plain") {
        // With --start, without fsyncs: the server is started right away, and PostgreSQL
        // fsyncs the whole data directory when it starts from a restored base backup
        // (SyncDataDirectory), so the copy need not pay for it twice. Without --start the
        // copy is made durable here (nobody knows when the server will start).
        bytes = core::copy_tree(data, pgdata,
                                args.flags.count("--start") ? core::Durability::kLeaveToCaller
                                                            : core::Durability::kFsyncEverything)
                    .bytes;
    } else {
        core::make_private_directory(pgdata);
        bytes = core::extract_tar_base_backup(data, pgdata);
    }
    ::unlink((pgdata + "/postmaster.pid").c_str());
    write_recovery_settings(pgdata, plan, args);
    std::printf(
        "restored %lld bytes; wrote recovery.signal and the recovery settings "
        "(postgresql.auto.conf)\n",
        static_cast<long long>(bytes));
    if (args.flags.count("--start") && backup.format != "plain") {
        config_file = config_file_for(pgdata, pgdata, args);
    }
    if (!args.flags.count("--start")) {
        std::printf("start the server to recover: %s/pg_ctl -D %s -l <logfile> start\n",
                    bindir.c_str(), pgdata.c_str());
        return kExitOk;
    }
    std::string log = args.value("--log", pgdata + "/infra_ext_restore.log");
    return start_and_wait(pgdata, bindir, log, timeout_s, config_file);
}

}  // namespace infra::ctl
