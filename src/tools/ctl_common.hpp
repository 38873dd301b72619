// ctl_common.hpp: what infra_ext_ctl's commands share — exit codes, the usage error,
// option parsing, and loading a recovery plan from the archive and base-backup
// directories (the same core::plan_recovery the server's infra.recovery_plan() runs).
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/recovery_plan.hpp"

namespace infra::ctl {

// Exit codes (documented in --help and docs/pitr.md).
constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;        // archive-get: the file is not in the archive
constexpr int kExitUsage = 2;           // unknown command or option, missing or malformed argument
constexpr int kExitFailure = 3;         // I/O error, corrupt file, unexpected state
constexpr int kExitRefused = 4;         // the plan or check found problems; nothing was changed
constexpr int kExitRecoveryFailed = 5;  // restore --start: the server did not finish recovery

// A mistake in the command line: main prints it with the command's help, exit 2.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A refusal after checking (exit 4), e.g. a plan with a gap or a non-empty PGDATA.
class Refused : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct ParsedArgs {
    std::map<std::string, std::string> values;  // "--archive" -> "/x"
    std::set<std::string> flags;                // "--start"
    std::vector<std::string> positional;
    bool help = false;

    bool has(const std::string& option) const { return values.count(option) != 0; }
    std::string value(const std::string& option, const std::string& fallback = "") const;
    // The value, or a UsageError saying the option is required.
    std::string required(const std::string& option) const;
};

// Parses "--name VALUE", "--name=VALUE" for value_options and "--name" for
// flag_options; "-h"/"--help" set help. Anything else starting with "-" is a UsageError.
ParsedArgs parse_args(const std::vector<std::string>& args,
                      const std::set<std::string>& value_options,
                      const std::set<std::string>& flag_options);

// A positive integer option ("--port 5433"), or a UsageError naming it.
int positive_int(const std::string& option, const std::string& text);

// The recovery plan for the options --archive, --base-backups, --target-time,
// --base-backup ID|latest, --pgdata and --port (core::plan_recovery; throws
// core::Error for plans that cannot be made, UsageError for malformed options).
core::RecoveryPlan load_plan(const ParsedArgs& args, const std::string& bindir);

// The directory this program lives in (where the server binaries are, once installed).
std::string own_directory();
std::string own_path();

// PostgreSQL's programs: --bindir, else this program's directory when pg_ctl is there
// (installed beside the server), else /usr/lib/postgresql/15/bin.
std::string postgres_bindir(const ParsedArgs& args);

// Prints a plan for people: the base backup, the WAL range, and each problem.
void print_plan_summary(const core::RecoveryPlan& plan);

}  // namespace infra::ctl
