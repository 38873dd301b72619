// retention.cpp: the cleanup job's removal plan (rules in retention.hpp).
#include "core/retention.hpp"

#include <algorithm>
#include <unordered_set>

#include "core/errors.hpp"

namespace infra::core {

namespace {

// Newest first: later finished_at, then larger id.
bool newer(const BackupRecord& a, const BackupRecord& b) {
    if (a.finished_at != b.finished_at) return a.finished_at > b.finished_at;
    return a.id > b.id;
}

void check_keep(int value, const char* name) {
    if (value < 0) {
        throw Error(ErrorKind::kInvalidArgument,
                    std::string(name) + " must not be negative (got " + std::to_string(value) + ")",
                    std::string("Set ") + name +
                        " to the number of backups of that kind to keep, or 0 to keep none.");
    }
}

std::string keep_reason(const char* kind, int keep) {
    if (keep == 0) {
        return std::string(kind) + ": keep_" + kind + " is 0, so no " + kind + " backups are kept";
    }
    return std::string(kind) + ": keeping the newest " + std::to_string(keep);
}

}  // namespace

const char* backup_kind_name(BackupKind kind) {
    switch (kind) {
        case BackupKind::kDaily:
            return "daily";
        case BackupKind::kWeekly:
            return "weekly";
        case BackupKind::kMonthly:
            return "monthly";
        case BackupKind::kManual:
            return "manual";
    }
    return "manual";
}

const char* backup_status_name(BackupStatus status) {
    switch (status) {
        case BackupStatus::kQueued:
            return "queued";
        case BackupStatus::kRunning:
            return "running";
        case BackupStatus::kSucceeded:
            return "succeeded";
        case BackupStatus::kFailed:
            return "failed";
        case BackupStatus::kCancelled:
            return "cancelled";
    }
    return "queued";
}

BackupKind backup_kind_from_name(const std::string& name) {
    for (BackupKind k :
         {BackupKind::kDaily, BackupKind::kWeekly, BackupKind::kMonthly, BackupKind::kManual}) {
        if (name == backup_kind_name(k)) return k;
    }
    throw Error(ErrorKind::kInvalidArgument, "invalid backup kind \"" + name + "\"",
                "Use one of daily, weekly, monthly, manual.");
}

BackupStatus backup_status_from_name(const std::string& name) {
    for (BackupStatus s : {BackupStatus::kQueued, BackupStatus::kRunning, BackupStatus::kSucceeded,
                           BackupStatus::kFailed, BackupStatus::kCancelled}) {
        if (name == backup_status_name(s)) return s;
    }
    throw Error(ErrorKind::kInvalidArgument, "invalid backup status \"" + name + "\"",
                "Use one of queued, running, succeeded, failed, cancelled.");
}

std::vector<Removal> plan_retention(const std::vector<BackupRecord>& backups,
                                    const RetentionPolicy& policy) {
    check_keep(policy.keep_daily, "keep_daily");
    check_keep(policy.keep_weekly, "keep_weekly");
    check_keep(policy.keep_monthly, "keep_monthly");

    std::vector<BackupRecord> sorted = backups;
    std::sort(sorted.begin(), sorted.end(), newer);
    std::unordered_set<int64_t> ids;
    for (const BackupRecord& b : sorted) {
        if (!ids.insert(b.id).second) {
            throw Error(ErrorKind::kInvalidArgument,
                        "backup id " + std::to_string(b.id) + " appears more than once",
                        "Pass each backup of the catalog exactly once.");
        }
    }

    // Rule 3: the newest succeeded backup of any kind.
    const BackupRecord* newest_succeeded = nullptr;
    for (const BackupRecord& b : sorted) {
        if (b.status == BackupStatus::kSucceeded) {
            newest_succeeded = &b;
            break;
        }
    }

    std::vector<Removal> plan;
    int kept[3] = {0, 0, 0};  // succeeded daily, weekly, monthly seen so far, newest first
    const int keep[3] = {policy.keep_daily, policy.keep_weekly, policy.keep_monthly};
    for (const BackupRecord& b : sorted) {
        if (b.status == BackupStatus::kQueued || b.status == BackupStatus::kRunning) continue;
        if (b.status == BackupStatus::kFailed) {
            plan.push_back({b.id, "failed backup"});
            continue;
        }
        if (b.status == BackupStatus::kCancelled) {
            plan.push_back({b.id, "cancelled backup"});
            continue;
        }
        if (b.kind == BackupKind::kManual) continue;  // removed only by delete_backup()
        int k = static_cast<int>(b.kind);             // kDaily, kWeekly, kMonthly = 0, 1, 2
        if (kept[k] < keep[k] || &b == newest_succeeded) {
            ++kept[k];  // the newest succeeded one counts towards its kind's quota
        } else {
            plan.push_back({b.id, keep_reason(backup_kind_name(b.kind), keep[k])});
        }
    }
    return plan;
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
