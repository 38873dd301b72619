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
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/wal_archive.hpp"
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
    "Usage: infra_ext_ctl archive-get [--archive DIR] FILE DEST\n"
    "\n"
    "Restores FILE (a WAL segment, .history or .backup file name) from the WAL archive DIR\n"
    "to the path DEST: decompresses it, checks its size and CRC-32C, and writes DEST\n"
    "atomically. Meant for restore_command:\n"
    "  restore_command = 'infra_ext_ctl archive-get --archive /path/to/archive %f \"%p\"'\n"
    "\n"
    "Options:\n"
    "  --archive DIR   the archive directory (default: $INFRA_WAL_ARCHIVE)\n"
    "  --help          this text\n"
    "\n"
    "Exit codes: 0 restored, 1 FILE is not in the archive, 2 usage error, 3 failure\n"
    "(corrupt or unreadable archive file, DEST not writable).\n";

namespace {

int archive_get(const std::vector<std::string>& raw) {
    ParsedArgs args = parse_args(raw, {"--archive"}, {});
    if (args.help) {
        std::fputs(kArchiveGetHelp, stdout);
        return kExitOk;
    }
    std::string archive = args.value("--archive");
    if (archive.empty()) {
        if (const char* env = std::getenv("INFRA_WAL_ARCHIVE")) archive = env;
    }
    if (args.positional.size() != 2) throw UsageError("archive-get needs FILE and DEST");
    if (archive.empty()) {
        throw UsageError("no archive directory: pass --archive DIR or set INFRA_WAL_ARCHIVE");
    }
    // As restore_command: PostgreSQL makes the file durable itself when it keeps it.
    core::RestoreOutcome outcome =
        core::restore_wal_file(archive, args.positional[0], args.positional[1],
                               core::RestoreDurability::kForRestoreCommand);
    if (outcome == core::RestoreOutcome::kNotInArchive) {
        std::fprintf(stderr, "infra_ext_ctl: %s is not in the archive %s\n",
                     args.positional[0].c_str(), archive.c_str());
        return kExitNotFound;
    }
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
