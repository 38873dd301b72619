// wal_transaction_times.cpp: see wal_transaction_times.hpp.
#include "core/wal_transaction_times.hpp"

#include <stdlib.h>

#include <sstream>

#include "core/child_process.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/recovery_plan.hpp"
#include "core/wal_archive.hpp"

namespace infra::core {

namespace {

// Removes its directory (and what is in it) when it goes out of scope.
class TemporaryDirectory {
  public:
    TemporaryDirectory() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/infra_waldump.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw_file_error("create a temporary directory like", pattern, errno);
        }
        path_ = pattern;
    }
    ~TemporaryDirectory() {
        try {
            remove_tree(path_);
        } catch (...) {
        }
    }
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

}  // namespace

std::optional<int64_t> newest_transaction_time_in(const std::string& output) {
    std::optional<int64_t> newest;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        size_t at = line.find("desc: COMMIT ");
        size_t skip = 13;
        if (at == std::string::npos) {
            at = line.find("desc: ABORT ");
            skip = 12;
        }
        if (at == std::string::npos) continue;
        size_t start = at + skip;
        size_t end = line.find(" UTC", start);
        if (end == std::string::npos) continue;
        try {
            int64_t t = parse_timestamp_unix_us(line.substr(start, end - start) + "+00");
            if (!newest || t > *newest) newest = t;
        } catch (const Error&) {
            // Not a timestamp (another record type's text): ignore the line.
        }
    }
    return newest;
}

std::optional<int64_t> newest_transaction_time(const std::string& archive_dir,
                                               const std::string& segment_name,
                                               const std::string& pg_waldump_path) {
    TemporaryDirectory dir;
    const std::string segment = dir.path() + "/" + segment_name;
    if (restore_wal_file(archive_dir, segment_name, segment) != RestoreOutcome::kRestored) {
        throw Error(ErrorKind::kInvalidArgument,
                    segment_name + " is not in the archive " + archive_dir,
                    "It was removed while the plan was being made; make the plan again.");
    }
    ChildSpec spec;
    spec.program = pg_waldump_path;
    spec.args = {"--rmgr=Transaction", segment};
    spec.env = {"TZ=UTC"};
    spec.stdout_file = dir.path() + "/records.txt";
    ChildProcess child = ChildProcess::spawn(spec);
    // pg_waldump exits non-zero at the end of a lone segment ("could not find file" for
    // the next one, or an invalid record where the WAL ends): the records it printed
    // before are what counts. Any other failure with nothing printed is an error, not
    // "no transaction".
    const int status = child.wait();
    const std::string records = read_file(spec.stdout_file);
    if (!exited_successfully(status) && records.find("rmgr: ") == std::string::npos) {
        const std::string& err = child.stderr_text();
        const bool end_of_wal = err.find("could not find file") != std::string::npos ||
                                err.find("invalid record length") != std::string::npos ||
                                err.find("could not find a valid record") != std::string::npos;
        if (!end_of_wal) {
            throw Error(ErrorKind::kInvalidArgument,
                        "pg_waldump could not read " + segment_name + " (" +
                            describe_wait_status(status) + "): " + err,
                        "Check that " + pg_waldump_path +
                            " is PostgreSQL 15's and the segment "
                            "is intact (infra_ext_ctl verify --deep).");
        }
    }
    return newest_transaction_time_in(records);
}

}  // namespace infra::core
