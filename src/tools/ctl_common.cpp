// ctl_common.cpp: see ctl_common.hpp.
#include "tools/ctl_common.hpp"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstdio>

#include "core/base_backup_info.hpp"
#include "core/errors.hpp"
#include "core/wal_archive_scan.hpp"
#include "core/wal_names.hpp"
#include "core/wal_transaction_times.hpp"

namespace infra::ctl {

std::string ParsedArgs::value(const std::string& option, const std::string& fallback) const {
    auto it = values.find(option);
    return it == values.end() ? fallback : it->second;
}

std::string ParsedArgs::required(const std::string& option) const {
    auto it = values.find(option);
    if (it == values.end() || it->second.empty()) throw UsageError(option + " is required");
    return it->second;
}

ParsedArgs parse_args(const std::vector<std::string>& args,
                      const std::set<std::string>& value_options,
                      const std::set<std::string>& flag_options) {
    ParsedArgs out;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "-h" || arg == "--help") {
            out.help = true;
            continue;
        }
        if (arg.rfind("-", 0) != 0 || arg == "-") {
            out.positional.push_back(arg);
            continue;
        }
        std::string name = arg;
        std::string inline_value;
        bool has_inline = false;
        size_t eq = arg.find('=');
        if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            name = arg.substr(0, eq);
            inline_value = arg.substr(eq + 1);
            has_inline = true;
        }
        if (value_options.count(name)) {
            if (has_inline) {
                out.values[name] = inline_value;
            } else if (i + 1 < args.size()) {
                out.values[name] = args[++i];
            } else {
                throw UsageError(name + " needs a value");
            }
        } else if (flag_options.count(name) && !has_inline) {
            out.flags.insert(name);
        } else {
            throw UsageError("unknown option " + arg);
        }
    }
    return out;
}

int positive_int(const std::string& option, const std::string& text) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || v <= 0 || v > INT_MAX) {
        throw UsageError(option + " must be a positive whole number, not \"" + text + "\"");
    }
    return static_cast<int>(v);
}

std::string own_path() {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "infra_ext_ctl";
    return std::string(buf, static_cast<size_t>(n));
}

std::string own_directory() {
    std::string path = own_path();
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string postgres_bindir(const ParsedArgs& args) {
    if (args.has("--bindir")) return args.value("--bindir");
    struct stat st;
    if (::stat((own_directory() + "/pg_ctl").c_str(), &st) == 0) return own_directory();
    return "/usr/lib/postgresql/15/bin";
}

core::RecoveryPlan load_plan(const ParsedArgs& args, const std::string& bindir) {
    core::PlanRequest request;
    request.archive_dir = args.required("--archive");
    request.base_backup_root = args.required("--base-backups");
    try {
        request.target_time_unix_us = core::parse_timestamp_unix_us(args.required("--target-time"));
    } catch (const core::Error& e) {
        throw UsageError(std::string("--target-time: ") + e.what() +
                         (e.hint().empty() ? "" : " (" + e.hint() + ")"));
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    request.now_unix_us = static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
    std::string which = args.value("--base-backup", "latest");
    if (which != "latest") {
        char* end = nullptr;
        long long id = std::strtoll(which.c_str(), &end, 10);
        if (which.empty() || *end != '\0' || id <= 0) {
            throw UsageError("--base-backup must be a base backup id or \"latest\", not \"" +
                             which + "\"");
        }
        request.base_backup_id = id;
    }
    if (args.has("--pgdata")) request.pgdata = args.value("--pgdata");
    if (args.has("--port")) request.port = positive_int("--port", args.value("--port"));
    request.bindir = bindir;
    const std::string waldump = bindir + "/pg_waldump";
    // A failure reading WAL is this tool's failure (exit 3), not a refusal of the plan.
    request.newest_transaction_in = [&](const core::ArchivedWalFile& f) {
        try {
            return core::newest_transaction_time(request.archive_dir, f.name, waldump);
        } catch (const core::Error& e) {
            throw std::runtime_error(e.what());
        }
    };

    std::vector<core::BaseBackupInfo> backups = core::list_base_backups(request.base_backup_root);
    uint64_t segment_size =
        backups.empty() ? core::kDefaultWalSegmentSize : backups.back().wal_segment_size;
    core::ArchiveScan archive = core::scan_wal_archive(request.archive_dir, segment_size);
    try {
        return core::plan_recovery(backups, archive, request);
    } catch (const core::Error& e) {
        // A plan that cannot be made (target in the future, before every base backup, ...)
        // is a refusal, not a failure of this tool.
        throw Refused(std::string(e.what()) + (e.hint().empty() ? "" : "\nhint: " + e.hint()));
    }
}

void print_plan_summary(const core::RecoveryPlan& plan) {
    const core::BaseBackupInfo& b = plan.base_backup;
    std::printf("target time:   %s\n",
                core::format_timestamp_unix_us(plan.target_time_unix_us).c_str());
    std::printf("base backup:   %lld (%s, %s), ended %s, timeline %u, WAL from %s\n",
                static_cast<long long>(b.id), b.format.c_str(), b.path.c_str(),
                core::format_timestamp_unix_us(b.stop_time_unix_us).c_str(), b.timeline,
                plan.first_segment.c_str());
    if (plan.archive_reaches_unix_us > 0) {
        std::printf("archive reaches: %s (%s)\n",
                    core::format_timestamp_unix_us(plan.archive_reaches_unix_us).c_str(),
                    plan.archive_reaches_segment.c_str());
    }
    if (!plan.last_segment.empty()) {
        std::printf("WAL needed:    %s .. %s (%zu segments)\n", plan.first_segment.c_str(),
                    plan.last_segment.c_str(), plan.segments_needed);
    }
    for (const core::PlanProblem& p : plan.problems) {
        std::printf("PROBLEM (%s): %s\n", p.code.c_str(), p.message.c_str());
    }
    if (plan.missing_count > 0) {
        std::printf("missing segments (%zu):", plan.missing_count);
        for (const std::string& name : plan.missing_segments) std::printf(" %s", name.c_str());
        std::printf("\n");
    }
}

}  // namespace infra::ctl
