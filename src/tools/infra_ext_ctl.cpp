// infra_ext_ctl: infra_ext's command-line tool for the WAL archive and base backups,
// usable while the server is down (it never needs the database to be up).
//
//   archive-get  restore_command helper: one file from the archive, decoded and checked
//   plan         the recovery plan for a target time (same code as infra.recovery_plan())
//   restore      performs a point-in-time recovery into a data directory (--start: and
//                starts the server, waits for promotion, reports where recovery ended)
//   verify       checks the archive's continuity (and, with --deep, every file's CRC)
//
// Exit codes (ctl_common.hpp, docs/pitr.md): 0 done, 1 not in the archive (archive-get),
// 2 usage error, 3 failure, 4 refused (the plan or check found problems; nothing
// changed), 5 the restored server did not finish recovery.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/wal_archive.hpp"
#include "core/wal_names.hpp"
#include "core/wal_prefetch.hpp"
#include "tools/ctl_commands.hpp"
#include "tools/ctl_common.hpp"

namespace infra::ctl {

const char* const kMainHelp =
    "infra_ext_ctl: infra_ext's tool for WAL archives, base backups and point-in-time\n"
    "recovery (works with the server down).\n"
    "\n"
    "Usage: infra_ext_ctl COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  archive-get   restore one file from the WAL archive (for restore_command)\n"
    "  plan          show the recovery plan for a target time\n"
    "  restore       restore a base backup and recover to a target time\n"
    "  verify        check the WAL archive's continuity\n"
    "\n"
    "Run 'infra_ext_ctl COMMAND --help' for a command's options.\n"
    "Exit codes: 0 done, 1 not in the archive (archive-get), 2 usage error, 3 failure,\n"
    "4 refused (problems found, nothing changed), 5 recovery did not finish (restore --start).\n";

const char* const kArchiveGetHelp =
    "Usage: infra_ext_ctl archive-get [--archive DIR] [--prefetch N] FILE DEST\n"
    "\n"
    "Restores FILE (a WAL segment, .history or .backup file name) from the WAL archive DIR\n"
    "to the path DEST: decompresses it, checks its size and CRC-32C, and writes DEST\n"
    "atomically. Meant for restore_command:\n"
    "  restore_command = 'infra_ext_ctl archive-get --archive /path/to/archive --prefetch 4 %f "
    "\"%p\"'\n"
    "\n"
    "Options:\n"
    "  --archive DIR   the archive directory (default: $INFRA_WAL_ARCHIVE)\n"
    "  --prefetch N    read-ahead: decode the next N segments of the timeline in the\n"
    "                  background into .infra_ext_prefetch beside DEST (pg_wal), and hand\n"
    "                  over such a segment (after checking its size and CRC-32C against\n"
    "                  the archive) when it is asked for; the spool is removed when a file\n"
    "                  is not in the archive (the end of recovery). Default 0: off\n"
    "  --help          this text\n"
    "\n"
    "Exit codes: 0 restored, 1 FILE is not in the archive, 2 usage error, 3 failure\n"
    "(corrupt or unreadable archive file, DEST not writable).\n";

namespace {

constexpr int kMaxPrefetch = 64;

// Starts the read-ahead for the segments after `segment` in a detached process (its own
// session, standard streams on /dev/null) so that restore_command returns at once. Does
// nothing when a prefetcher already runs for this spool: it follows spool/last.
void start_prefetcher(const std::string& spool, const std::string& archive,
                      const std::string& segment, int depth) {
    core::note_requested(spool, segment);
    core::SpoolLock lock = core::SpoolLock::try_acquire(spool);
    if (!lock.held()) return;
    uint64_t segment_size = 0;
    try {
        segment_size = static_cast<uint64_t>(
            core::read_archived_file_info(archive + "/" + segment).original_bytes);
        core::prefetch_window(segment, segment_size, 1);  // a WAL segment of a valid size
    } catch (const std::exception&) {
        return;
    }
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) return;  // no read-ahead; recovery goes on without it
    if (child > 0) {
        int status = 0;
        while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        return;  // the lock's descriptor is closed here; the grandchild keeps its own
    }
    // The child: a new session, then the grandchild does the work and the child exits at
    // once, so the prefetcher is nobody's child and the shell PostgreSQL waits for ends.
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
        ::dup2(null_fd, 0);
        ::dup2(null_fd, 1);
        ::dup2(null_fd, 2);
    }
    try {
        core::run_prefetcher(std::move(lock), spool, archive, segment, segment_size, depth);
    } catch (...) {
        // archive-get decodes whatever is missing itself, and reports its errors.
    }
    ::_exit(0);
}

int archive_get(const std::vector<std::string>& raw) {
    ParsedArgs args = parse_args(raw, {"--archive", "--prefetch"}, {});
    if (args.help) {
        std::fputs(kArchiveGetHelp, stdout);
        return kExitOk;
    }
    std::string archive = args.value("--archive");
    if (archive.empty()) {
        if (const char* env = std::getenv("INFRA_WAL_ARCHIVE")) archive = env;
    }
    int prefetch = 0;
    if (args.has("--prefetch") && args.value("--prefetch") != "0") {
        prefetch = positive_int("--prefetch", args.value("--prefetch"));
        if (prefetch > kMaxPrefetch) {
            throw UsageError("--prefetch must be at most " + std::to_string(kMaxPrefetch));
        }
    }
    if (args.positional.size() != 2) throw UsageError("archive-get needs FILE and DEST");
    if (archive.empty()) {
        throw UsageError("no archive directory: pass --archive DIR or set INFRA_WAL_ARCHIVE");
    }
    const std::string& file = args.positional[0];
    const std::string& dest = args.positional[1];
    // Only segments are read ahead. The smallest segment size allows the widest range of
    // names; the real size comes from the archive's header.
    constexpr uint64_t kSmallestSegmentSize = 1024 * 1024;
    const bool segment =
        prefetch > 0 &&
        core::parse_wal_file_name(file, kSmallestSegmentSize).kind == core::WalFileKind::kSegment;
    const std::string spool = core::prefetch_spool_dir(dest);
    if (segment && core::take_prefetched(spool, archive, file, dest)) {
        start_prefetcher(spool, archive, file, prefetch);
        return kExitOk;
    }
    // As restore_command: PostgreSQL makes the file durable itself when it keeps it.
    core::RestoreOutcome outcome =
        core::restore_wal_file(archive, file, dest, core::RestoreDurability::kForRestoreCommand);
    if (outcome == core::RestoreOutcome::kNotInArchive) {
        // The end of the archive (or of this timeline in it): recovery stops asking for
        // segments here, so what was read ahead is of no use any more.
        if (prefetch > 0) core::clear_spool(spool);
        std::fprintf(stderr, "infra_ext_ctl: %s is not in the archive %s\n", file.c_str(),
                     archive.c_str());
        return kExitNotFound;
    }
    if (segment) start_prefetcher(spool, archive, file, prefetch);
    return kExitOk;
}

const char* help_of(const std::string& command) {
    if (command == "archive-get") return kArchiveGetHelp;
    if (command == "plan") return kPlanHelp;
    if (command == "restore") return kRestoreHelp;
    if (command == "verify") return kVerifyHelp;
    return kMainHelp;
}

}  // namespace

int run_archive_get(const std::vector<std::string>& args) {
    return archive_get(args);
}

}  // namespace infra::ctl

int main(int argc, char** argv) {
    using namespace infra::ctl;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        std::fprintf(stderr, "infra_ext_ctl: no command given\n\n%s", kMainHelp);
        return kExitUsage;
    }
    const std::string command = args[0];
    args.erase(args.begin());
    try {
        if (command == "--help" || command == "-h" || command == "help") {
            std::fputs(kMainHelp, stdout);
            return kExitOk;
        }
        if (command == "archive-get") return run_archive_get(args);
        if (command == "plan") return run_plan(args);
        if (command == "restore") return run_restore(args);
        if (command == "verify") return run_verify(args);
        throw UsageError("unknown command " + command);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "infra_ext_ctl: %s\n\n%s", e.what(), help_of(command));
        return kExitUsage;
    } catch (const Refused& e) {
        std::fprintf(stderr, "infra_ext_ctl %s: refused: %s\n", command.c_str(), e.what());
        return kExitRefused;
    } catch (const infra::core::Error& e) {
        std::fprintf(stderr, "infra_ext_ctl %s: %s\n", command.c_str(), e.what());
        if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
        return kExitFailure;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "infra_ext_ctl %s: %s\n", command.c_str(), e.what());
        return kExitFailure;
    }
}
