// retention.hpp: which backups the cleanup job removes.
//
// plan_retention() takes every backup the catalog knows and the retention policy and
// returns the removal plan: one entry per backup whose files are to be deleted, with the
// reason the admin page and the audit log show. Rules, in order of precedence:
//  1. queued and running backups are never touched (a job is still writing them);
//  2. failed and cancelled backups are removed, manual ones included ("failed backup",
//     "cancelled backup"): their files are partial and restore nothing;
//  3. succeeded manual backups are never removed by cleanup: an operator made them and
//     removes them with delete_backup();
//  4. the single newest succeeded backup overall (any kind, manual included) is never
//     removed, whatever the policy, so one restorable backup always survives;
//  5. of the succeeded backups of each kind daily/weekly/monthly, the newest keep_<kind>
//     are kept and the rest removed ("daily: keeping the newest 7"); 0 keeps none of
//     that kind (except by rule 4).
// "Newest" orders by finished_at, then by id (the larger id is newer). The plan is in
// that order too, newest first, so equal inputs give equal plans.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infra::core {

enum class BackupKind { kDaily, kWeekly, kMonthly, kManual };
enum class BackupStatus { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

// "daily", "weekly", "monthly", "manual" / "queued", "running", "succeeded", "failed",
// "cancelled": the text stored in the catalog.
const char* backup_kind_name(BackupKind kind);
const char* backup_status_name(BackupStatus status);
// The inverse; throws Error(kInvalidArgument) for any other text.
BackupKind backup_kind_from_name(const std::string& name);
BackupStatus backup_status_from_name(const std::string& name);

struct BackupRecord {
    int64_t id = 0;
    BackupKind kind = BackupKind::kDaily;
    BackupStatus status = BackupStatus::kQueued;
    int64_t finished_at = 0;  // Unix seconds; ignored for queued/running
    int64_t bytes = 0;
};

struct RetentionPolicy {
    int keep_daily = 7;
    int keep_weekly = 4;
    int keep_monthly = 12;
};

struct Removal {
    int64_t id = 0;
    std::string reason;
};

// The removal plan (see the rules above). Throws Error(kInvalidArgument) for a negative
// keep_* value or an id that appears twice.
std::vector<Removal> plan_retention(const std::vector<BackupRecord>& backups,
                                    const RetentionPolicy& policy);

}  // namespace infra::core
