// ctl_verify.cpp: `infra_ext_ctl plan` (the recovery plan, for people or as JSON) and
// `infra_ext_ctl verify` (the archive's continuity per timeline, what each base backup
// can reach, and with --deep every archived file decoded and its CRC-32C checked).
#include <cstdio>
#include <string>
#include <vector>

#include "core/base_backup_info.hpp"
#include "core/errors.hpp"
#include "core/recovery_plan.hpp"
#include "core/wal_archive.hpp"
#include "core/wal_archive_scan.hpp"
#include "core/wal_names.hpp"
#include "tools/ctl_commands.hpp"
#include "tools/ctl_common.hpp"

namespace infra::ctl {

const char* const kPlanHelp =
    "Usage: infra_ext_ctl plan --archive DIR --base-backups DIR --target-time T\n"
    "                          [--base-backup ID|latest] [--pgdata DIR] [--port N] [--json]\n"
    "                          [--bindir DIR]\n"
    "\n"
    "Shows how to recover to T: the base backup (the newest that ended before T, or ID),\n"
    "the WAL needed and whether the archive holds all of it (naming any missing segment),\n"
    "the steps, and with --json the whole plan including a PostgreSQL 15 shell script.\n"
    "T needs a time zone: '2026-11-29 03:04:05+00', '2026-11-29T03:04:05.25Z'.\n"
    "\n"
    "Exit codes: 0 the plan is complete, 2 usage error, 3 failure (unreadable directory),\n"
    "4 refused (no usable base backup, target in the future, gaps, archive behind T).\n";

const char* const kRestoreHelp =
    "Usage: infra_ext_ctl restore --archive DIR --base-backups DIR --pgdata DIR\n"
    "                             --target-time T [--base-backup ID|latest] [--port N]\n"
    "                             [--start] [--replace] [--archive-mode keep|off]\n"
    "                             [--bindir DIR] [--log FILE] [--timeout SECONDS]\n"
    "                             [--config-file FILE]\n"
    "\n"
    "Point-in-time recovery with the server down. Plans it and refuses (exit 4, nothing\n"
    "changed) when the plan has problems, a server runs in PGDATA, or PGDATA is not\n"
    "empty (--replace moves it aside to PGDATA.before-restore-<time>; nothing is\n"
    "deleted). Then restores the base backup into PGDATA, appends restore_command\n"
    "(infra_ext_ctl archive-get), recovery_target_time, recovery_target_action = 'promote'\n"
    "and recovery_target_timeline = 'latest' to postgresql.auto.conf, and writes\n"
    "recovery.signal. Run it as the server's user (not root).\n"
    "\n"
    "Options:\n"
    "  --port N             the restored server's port (written to postgresql.auto.conf)\n"
    "  --archive-mode M     keep: archive as the base backup's settings say; off: no\n"
    "                       archiving (a copy beside the original must not archive into its\n"
    "                       archive). Default: keep with --replace, off otherwise\n"
    "  --start              start the server, wait until it has recovered and promoted, and\n"
    "                       report where recovery ended (server log: --log, default\n"
    "                       PGDATA/infra_ext_restore.log; --timeout, default 3600 s)\n"
    "  --bindir DIR         PostgreSQL's programs (default: this program's directory, or\n"
    "                       /usr/lib/postgresql/15/bin)\n"
    "  --config-file FILE   postgresql.conf for --start when the data directory has none\n"
    "                       (default: Debian's /etc/postgresql/15/<name>/postgresql.conf)\n"
    "\n"
    "Exit codes: 0 restored (and recovered, with --start), 2 usage error, 3 failure,\n"
    "4 refused (nothing changed), 5 the server did not finish recovery (its log is shown).\n";

const char* const kVerifyHelp =
    "Usage: infra_ext_ctl verify --archive DIR [--base-backups DIR] [--deep]\n"
    "\n"
    "Checks the WAL archive offline: segments per timeline, gaps (missing segments\n"
    "between the first and last of a timeline), unreadable headers, leftover temporary\n"
    "files; with --base-backups, whether the archive holds every segment from each base\n"
    "backup's start onwards; with --deep, decodes every file and checks its size and\n"
    "CRC-32C (reads the whole archive).\n"
    "\n"
    "Exit codes: 0 continuous and intact, 2 usage error, 3 failure (unreadable directory),\n"
    "4 problems found (listed).\n";

int run_plan(const std::vector<std::string>& raw) {
    ParsedArgs args = parse_args(raw,
                                 {"--archive", "--base-backups", "--target-time", "--base-backup",
                                  "--pgdata", "--port", "--bindir"},
                                 {"--json"});
    if (args.help) {
        std::fputs(kPlanHelp, stdout);
        return kExitOk;
    }
    if (!args.positional.empty()) throw UsageError("unexpected argument " + args.positional[0]);
    core::RecoveryPlan plan = load_plan(args, postgres_bindir(args));
    if (args.flags.count("--json")) {
        std::printf("%s\n", core::recovery_plan_to_json(plan).c_str());
    } else {
        print_plan_summary(plan);
        std::printf("\nsteps:\n");
        for (const std::string& step : plan.steps) std::printf("%s\n", step.c_str());
    }
    return plan.ok ? kExitOk : kExitRefused;
}

int run_verify(const std::vector<std::string>& raw) {
    ParsedArgs args = parse_args(raw, {"--archive", "--base-backups"}, {"--deep"});
    if (args.help) {
        std::fputs(kVerifyHelp, stdout);
        return kExitOk;
    }
    if (!args.positional.empty()) throw UsageError("unexpected argument " + args.positional[0]);
    const std::string archive_dir = args.required("--archive");
    std::vector<core::BaseBackupInfo> backups;
    if (args.has("--base-backups")) backups = core::list_base_backups(args.value("--base-backups"));
    const uint64_t segment_size =
        backups.empty() ? core::kDefaultWalSegmentSize : backups.back().wal_segment_size;
    core::ArchiveScan scan = core::scan_wal_archive(archive_dir, segment_size);

    size_t problems = 0;
    std::printf("archive %s: %zu segments, %lld bytes stored (%lld original)\n",
                archive_dir.c_str(), scan.segments.size(),
                static_cast<long long>(scan.stored_bytes),
                static_cast<long long>(scan.original_bytes));
    for (const core::TimelineSegments& t : core::segments_by_timeline(scan)) {
        std::printf("timeline %u: %s .. %s, %zu segments", t.timeline,
                    core::wal_segment_name(t.timeline, t.first_segno, segment_size).c_str(),
                    core::wal_segment_name(t.timeline, t.last_segno, segment_size).c_str(),
                    t.count);
        if (t.missing_count == 0) {
            std::printf(", continuous\n");
            continue;
        }
        problems += t.missing_count;
        std::printf(", %zu MISSING:", t.missing_count);
        for (uint64_t segno : t.missing) {
            std::printf(" %s", core::wal_segment_name(t.timeline, segno, segment_size).c_str());
        }
        std::printf("\n");
    }
    for (const std::string& u : scan.unreadable_files) {
        std::printf("UNREADABLE: %s\n", u.c_str());
        ++problems;
    }
    for (const std::string& name : scan.temporary_files) {
        std::printf(
            "note: leftover temporary file %s (an archiver stopped mid-write; "
            "infra.cleanup_wal_archive() removes it after an hour)\n",
            name.c_str());
    }
    for (const core::BaseBackupInfo& b : backups) {
        uint64_t from = core::lsn_to_segno(b.start_lsn, segment_size);
        uint64_t last = core::last_contiguous_segno(scan, b.timeline, from);
        uint64_t stop = core::lsn_to_segno(b.stop_lsn, segment_size);
        bool usable = last + 1 > stop;  // reaches at least the backup's end
        std::printf("base backup %lld (ended %s): WAL continuous from %s to %s%s\n",
                    static_cast<long long>(b.id),
                    core::format_timestamp_unix_us(b.stop_time_unix_us).c_str(),
                    core::wal_segment_name(b.timeline, from, segment_size).c_str(),
                    last + 1 > from ? core::wal_segment_name(b.timeline, last, segment_size).c_str()
                                    : "(nothing)",
                    usable ? "" : " — NOT RESTORABLE: the WAL up to its end is missing");
        if (!usable) ++problems;
    }
    if (args.flags.count("--deep")) {
        size_t checked = 0;
        for (const auto* list : {&scan.segments, &scan.history_files, &scan.backup_history_files,
                                 &scan.partial_files}) {
            for (const core::ArchivedWalFile& f : *list) {
                try {
                    core::read_archived_file(archive_dir + "/" + f.name);
                    ++checked;
                } catch (const core::Error& e) {
                    std::printf("CORRUPT: %s\n", e.what());
                    ++problems;
                }
            }
        }
        std::printf("deep check: %zu files decoded and their CRC-32C verified\n", checked);
    }
    if (problems > 0) {
        std::printf("%zu problem(s) found\n", problems);
        return kExitRefused;
    }
    std::printf("ok\n");
    return kExitOk;
}

}  // namespace infra::ctl
