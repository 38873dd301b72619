// infra_ext_ctl: infra_ext's command-line tool for the server's files, usable while the
// server is down (it never connects to PostgreSQL).
//
//   infra_ext_ctl archive-get [--archive DIR] FILE DEST
//       restore_command helper: restores FILE from the WAL archive to DEST (decoded and
//       checked), e.g. restore_command = 'infra_ext_ctl archive-get --archive /x %f "%p"'
//
// Exit codes (also in docs/pitr.md):
//   0  done
//   1  archive-get: FILE is not in the archive (PostgreSQL then ends recovery or retries)
//   2  usage error (unknown command or option, missing argument)
//   3  failure: the file exists but is corrupt or unreadable, DEST cannot be written, ...
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "core/wal_archive.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;

const char* const kMainHelp =
    "infra_ext_ctl: infra_ext's tool for WAL archives and restores (works with the server "
    "down).\n"
    "\n"
    "Usage: infra_ext_ctl COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  archive-get   restore one file from the WAL archive (for restore_command)\n"
    "\n"
    "Run 'infra_ext_ctl COMMAND --help' for a command's options.\n"
    "Exit codes: 0 done, 1 not in the archive (archive-get), 2 usage error, 3 failure.\n";

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

int usage_error(const std::string& message, const char* help) {
    std::fprintf(stderr, "infra_ext_ctl: %s\n\n%s", message.c_str(), help);
    return kExitUsage;
}

int archive_get(const std::vector<std::string>& args) {
    std::string archive;
    if (const char* env = std::getenv("INFRA_WAL_ARCHIVE")) archive = env;
    std::vector<std::string> positional;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--help" || args[i] == "-h") {
            std::fputs(kArchiveGetHelp, stdout);
            return kExitOk;
        }
        if (args[i] == "--archive") {
            if (i + 1 >= args.size())
                return usage_error("--archive needs a directory", kArchiveGetHelp);
            archive = args[++i];
        } else if (args[i].rfind("--archive=", 0) == 0) {
            archive = args[i].substr(std::strlen("--archive="));
        } else if (args[i].rfind("--", 0) == 0) {
            return usage_error("unknown option " + args[i], kArchiveGetHelp);
        } else {
            positional.push_back(args[i]);
        }
    }
    if (positional.size() != 2)
        return usage_error("archive-get needs FILE and DEST", kArchiveGetHelp);
    if (archive.empty()) {
        return usage_error("no archive directory: pass --archive DIR or set INFRA_WAL_ARCHIVE",
                           kArchiveGetHelp);
    }
    infra::core::RestoreOutcome outcome =
        infra::core::restore_wal_file(archive, positional[0], positional[1]);
    if (outcome == infra::core::RestoreOutcome::kNotInArchive) {
        std::fprintf(stderr, "infra_ext_ctl: %s is not in the archive %s\n", positional[0].c_str(),
                     archive.c_str());
        return kExitNotFound;
    }
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) return usage_error("no command given", kMainHelp);
    const std::string command = args[0];
    args.erase(args.begin());
    try {
        if (command == "--help" || command == "-h" || command == "help") {
            std::fputs(kMainHelp, stdout);
            return kExitOk;
        }
        if (command == "archive-get") return archive_get(args);
        return usage_error("unknown command " + command, kMainHelp);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "infra_ext_ctl %s: %s\n", command.c_str(), e.what());
        return kExitFailure;
    }
}
