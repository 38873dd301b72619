// retention_test.cpp: tests the cleanup job's removal plan (src/core/retention.*): the
// newest keep_<kind> succeeded daily/weekly/monthly backups are kept, succeeded manual
// and in-progress backups are never touched, failed and cancelled ones (manual too) are
// removed, the
// newest succeeded backup overall survives any policy, ties are broken by id, the plan
// is ordered newest first and does not depend on the input order; errors for a negative
// policy or a duplicated id; and a randomized property test of all of these rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/retention.hpp"

namespace infra::core {
namespace {

using K = BackupKind;
using S = BackupStatus;

constexpr int64_t kDay = 86400;
constexpr int64_t kT0 = 1'750'000'000;

BackupRecord backup(int64_t id, K kind, S status, int64_t finished_at, int64_t bytes = 1000) {
    BackupRecord b;
    b.id = id;
    b.kind = kind;
    b.status = status;
    b.finished_at = finished_at;
    b.bytes = bytes;
    return b;
}

std::vector<int64_t> ids_of(const std::vector<Removal>& plan) {
    std::vector<int64_t> ids;
    for (const Removal& r : plan) ids.push_back(r.id);
    return ids;
}

std::map<int64_t, std::string> reasons_of(const std::vector<Removal>& plan) {
    std::map<int64_t, std::string> reasons;
    for (const Removal& r : plan) reasons[r.id] = r.reason;
    return reasons;
}

// `count` succeeded backups of one kind, one a day, ids first_id.., oldest first.
std::vector<BackupRecord> series(K kind, int count, int64_t first_id, int64_t start = kT0) {
    std::vector<BackupRecord> out;
    for (int i = 0; i < count; ++i) {
        out.push_back(backup(first_id + i, kind, S::kSucceeded, start + i * kDay));
    }
    return out;
}

std::vector<BackupRecord> concat(std::vector<BackupRecord> a, const std::vector<BackupRecord>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST(Retention, EmptyInputGivesAnEmptyPlan) {
    EXPECT_TRUE(plan_retention({}, RetentionPolicy{}).empty());
}

TEST(Retention, DefaultPolicyKeepsTheNewestOfEachKind) {
    RetentionPolicy policy;  // 7 / 4 / 12
    std::vector<BackupRecord> all = concat(
        concat(series(K::kDaily, 10, 1), series(K::kWeekly, 6, 101)), series(K::kMonthly, 14, 201));
    std::vector<Removal> plan = plan_retention(all, policy);
    // Newest first: monthly 202 and 201 finished on days 1 and 0, as did daily 2/1 and
    // weekly 102/101; at equal times the larger id comes first.
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{3, 202, 102, 2, 201, 101, 1}));
    std::map<int64_t, std::string> reasons = reasons_of(plan);
    EXPECT_EQ(reasons[1], "daily: keeping the newest 7");
    EXPECT_EQ(reasons[3], "daily: keeping the newest 7");
    EXPECT_EQ(reasons[101], "weekly: keeping the newest 4");
    EXPECT_EQ(reasons[201], "monthly: keeping the newest 12");
}

TEST(Retention, FewerBackupsThanThePolicyKeepsAll) {
    std::vector<BackupRecord> all = concat(series(K::kDaily, 7, 1), series(K::kWeekly, 2, 101));
    EXPECT_TRUE(plan_retention(all, RetentionPolicy{}).empty());
}

TEST(Retention, SucceededManualBackupsAreNeverRemovedFailedOnesAre) {
    std::vector<BackupRecord> all = series(K::kManual, 40, 1);
    RetentionPolicy none{0, 0, 0};
    EXPECT_TRUE(plan_retention(all, none).empty());
    EXPECT_TRUE(plan_retention(all, RetentionPolicy{}).empty());
    // A failed or cancelled manual backup left only partial files: cleanup removes them.
    all.push_back(backup(100, K::kManual, S::kFailed, kT0));
    all.push_back(backup(101, K::kManual, S::kCancelled, kT0));
    std::vector<Removal> plan = plan_retention(all, none);
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{101, 100}));
    EXPECT_EQ(reasons_of(plan)[100], "failed backup");
    EXPECT_EQ(reasons_of(plan)[101], "cancelled backup");
}

TEST(Retention, FailedAndCancelledAreRemovedAndDoNotCount) {
    std::vector<BackupRecord> all = series(K::kDaily, 7, 1);
    all.push_back(backup(50, K::kDaily, S::kFailed, kT0 + 30 * kDay));  // the newest
    all.push_back(backup(51, K::kWeekly, S::kCancelled, kT0 + 2 * kDay));
    all.push_back(backup(52, K::kMonthly, S::kFailed, kT0 - kDay));
    std::vector<Removal> plan = plan_retention(all, RetentionPolicy{});
    // The 7 succeeded dailies all stay: the failed one took no place among them.
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{50, 51, 52}));
    std::map<int64_t, std::string> reasons = reasons_of(plan);
    EXPECT_EQ(reasons[50], "failed backup");
    EXPECT_EQ(reasons[51], "cancelled backup");
    EXPECT_EQ(reasons[52], "failed backup");
}

TEST(Retention, QueuedAndRunningAreNeverTouchedAndDoNotCount) {
    std::vector<BackupRecord> all = series(K::kDaily, 3, 1);
    all.push_back(backup(10, K::kDaily, S::kRunning, 0));
    all.push_back(backup(11, K::kDaily, S::kQueued, 0));
    all.push_back(backup(12, K::kWeekly, S::kRunning, kT0 + 99 * kDay));
    RetentionPolicy policy{2, 0, 0};
    std::vector<Removal> plan = plan_retention(all, policy);
    EXPECT_EQ(ids_of(plan), std::vector<int64_t>{1});
    EXPECT_TRUE(
        plan_retention({backup(1, K::kDaily, S::kRunning, 0)}, RetentionPolicy{0, 0, 0}).empty());
}

TEST(Retention, NewestSucceededBackupSurvivesAnyPolicy) {
    std::vector<BackupRecord> all = concat(series(K::kDaily, 5, 1), series(K::kWeekly, 2, 101));
    // The newest succeeded is daily 5 (day 4).
    RetentionPolicy none{0, 0, 0};
    std::vector<Removal> plan = plan_retention(all, none);
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{4, 3, 102, 2, 101, 1}));
    EXPECT_EQ(reasons_of(plan)[4], "daily: keep_daily is 0, so no daily backups are kept");
    EXPECT_EQ(reasons_of(plan)[101], "weekly: keep_weekly is 0, so no weekly backups are kept");
    // A newer failed backup does not take its place.
    all.push_back(backup(9, K::kWeekly, S::kFailed, kT0 + 50 * kDay));
    plan = plan_retention(all, none);
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{9, 4, 3, 102, 2, 101, 1}));
    // keep_daily = 1: the newest daily is the one kept, and it is counted once.
    plan = plan_retention(all, RetentionPolicy{1, 0, 0});
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{9, 4, 3, 102, 2, 101, 1}));
    EXPECT_EQ(reasons_of(plan)[4], "daily: keeping the newest 1");
}

TEST(Retention, NewestOverallMayBeManual) {
    std::vector<BackupRecord> all = series(K::kDaily, 3, 1);
    all.push_back(backup(100, K::kManual, S::kSucceeded, kT0 + 10 * kDay));
    // The manual backup is the one that survives; every daily goes.
    EXPECT_EQ(ids_of(plan_retention(all, RetentionPolicy{0, 0, 0})),
              (std::vector<int64_t>{3, 2, 1}));
}

TEST(Retention, AllFailedInputRemovesEverything) {
    std::vector<BackupRecord> all;
    for (int i = 0; i < 6; ++i) {
        K kind = static_cast<K>(i % 4);
        all.push_back(backup(i + 1, kind, i % 2 ? S::kFailed : S::kCancelled, kT0 + i * kDay));
    }
    std::vector<Removal> plan = plan_retention(all, RetentionPolicy{});
    // No succeeded backup, so nothing is protected: the failed manual backup (id 4) goes too.
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{6, 5, 4, 3, 2, 1}));
}

TEST(Retention, TiesAreBrokenByIdLargerIsNewer) {
    std::vector<BackupRecord> all = {
        backup(5, K::kDaily, S::kSucceeded, kT0),
        backup(9, K::kDaily, S::kSucceeded, kT0),
        backup(7, K::kDaily, S::kSucceeded, kT0),
        backup(8, K::kWeekly, S::kSucceeded, kT0),
    };
    std::vector<Removal> plan = plan_retention(all, RetentionPolicy{1, 0, 0});
    // Newest overall is daily 9 (largest id at the latest time): kept as the one daily.
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{8, 7, 5}));
    plan = plan_retention(all, RetentionPolicy{0, 1, 0});
    EXPECT_EQ(ids_of(plan), (std::vector<int64_t>{7, 5}));  // 9 protected, 8 kept
}

TEST(Retention, PlanDoesNotDependOnInputOrder) {
    std::vector<BackupRecord> all =
        concat(concat(series(K::kDaily, 12, 1, kT0), series(K::kWeekly, 8, 50, kT0 + kDay / 2)),
               series(K::kMonthly, 3, 90, kT0));
    all.push_back(backup(99, K::kDaily, S::kFailed, kT0 + 3 * kDay));
    std::vector<Removal> reference = plan_retention(all, RetentionPolicy{3, 2, 1});
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20; ++i) {
        std::shuffle(all.begin(), all.end(), rng);
        std::vector<Removal> plan = plan_retention(all, RetentionPolicy{3, 2, 1});
        ASSERT_EQ(ids_of(plan), ids_of(reference));
        ASSERT_EQ(reasons_of(plan), reasons_of(reference));
    }
}

TEST(Retention, RejectsNegativePolicyAndDuplicateIds) {
    try {
        plan_retention({}, RetentionPolicy{-1, 4, 12});
        FAIL() << "accepted keep_daily = -1";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_STREQ(e.what(), "keep_daily must not be negative (got -1)");
        EXPECT_EQ(e.hint(),
                  "Set keep_daily to the number of backups of that kind to keep, or 0 to keep "
                  "none.");
    }
    EXPECT_THROW(plan_retention({}, RetentionPolicy{7, -2, 12}), Error);
    EXPECT_THROW(plan_retention({}, RetentionPolicy{7, 4, -3}), Error);
    try {
        plan_retention(
            {backup(3, K::kDaily, S::kSucceeded, kT0), backup(3, K::kWeekly, S::kFailed, kT0 + 1)},
            RetentionPolicy{});
        FAIL() << "accepted a duplicate id";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_STREQ(e.what(), "backup id 3 appears more than once");
    }
}

TEST(Retention, KindAndStatusNames) {
    for (K k : {K::kDaily, K::kWeekly, K::kMonthly, K::kManual}) {
        EXPECT_EQ(backup_kind_from_name(backup_kind_name(k)), k);
    }
    for (S s : {S::kQueued, S::kRunning, S::kSucceeded, S::kFailed, S::kCancelled}) {
        EXPECT_EQ(backup_status_from_name(backup_status_name(s)), s);
    }
    EXPECT_STREQ(backup_kind_name(K::kMonthly), "monthly");
    EXPECT_STREQ(backup_status_name(S::kCancelled), "cancelled");
    try {
        backup_kind_from_name("hourly");
        FAIL() << "accepted hourly";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "invalid backup kind \"hourly\"");
        EXPECT_EQ(e.hint(), "Use one of daily, weekly, monthly, manual.");
    }
    EXPECT_THROW(backup_status_from_name("Succeeded"), Error);
}

// For random catalogs and policies, every rule holds.
TEST(RetentionProperty, RulesHoldForRandomCatalogs) {
    std::mt19937_64 rng(424242);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int round = 0; round < 3000; ++round) {
        int n = uniform(0, 60);
        std::vector<BackupRecord> all;
        std::set<int64_t> used;
        for (int i = 0; i < n; ++i) {
            int64_t id;
            do id = uniform(1, 500);
            while (!used.insert(id).second);
            K kind = static_cast<K>(uniform(0, 3));
            int roll = uniform(0, 9);
            S status = roll < 6 ? S::kSucceeded : static_cast<S>(uniform(0, 4));
            // Few distinct times, so that ties are common.
            int64_t finished = kT0 + uniform(0, 40) * kDay / 2;
            all.push_back(backup(id, kind, status, finished));
        }
        RetentionPolicy policy{uniform(0, 10), uniform(0, 6), uniform(0, 14)};
        SCOPED_TRACE(testing::Message()
                     << "round " << round << ", " << n << " backups, keep " << policy.keep_daily
                     << "/" << policy.keep_weekly << "/" << policy.keep_monthly);
        std::vector<Removal> plan = plan_retention(all, policy);

        std::map<int64_t, const BackupRecord*> by_id;
        for (const BackupRecord& b : all) by_id[b.id] = &b;
        std::set<int64_t> removed;
        for (const Removal& r : plan) {
            ASSERT_TRUE(by_id.count(r.id)) << "unknown id " << r.id;
            ASSERT_TRUE(removed.insert(r.id).second) << "id " << r.id << " twice";
            ASSERT_FALSE(r.reason.empty());
        }
        auto newer = [](const BackupRecord* a, const BackupRecord* b) {
            return a->finished_at != b->finished_at ? a->finished_at > b->finished_at
                                                    : a->id > b->id;
        };
        // Ordered newest first.
        for (size_t i = 1; i < plan.size(); ++i) {
            ASSERT_TRUE(newer(by_id[plan[i - 1].id], by_id[plan[i].id]));
        }
        const BackupRecord* newest = nullptr;
        for (const BackupRecord& b : all) {
            if (b.status == S::kSucceeded && (newest == nullptr || newer(&b, newest))) newest = &b;
        }
        if (newest != nullptr) {
            ASSERT_EQ(removed.count(newest->id), 0u);
        }
        std::map<K, std::vector<const BackupRecord*>> succeeded;
        for (const BackupRecord& b : all) {
            bool gone = removed.count(b.id) > 0;
            if (b.status == S::kQueued || b.status == S::kRunning) {
                ASSERT_FALSE(gone) << "removed in-progress backup " << b.id;
            } else if (b.status == S::kFailed || b.status == S::kCancelled) {
                ASSERT_TRUE(gone) << "kept failed/cancelled backup " << b.id;
            } else if (b.kind == K::kManual) {
                ASSERT_FALSE(gone) << "removed succeeded manual backup " << b.id;
            } else {
                succeeded[b.kind].push_back(&b);
            }
        }
        const std::map<K, int> keep = {{K::kDaily, policy.keep_daily},
                                       {K::kWeekly, policy.keep_weekly},
                                       {K::kMonthly, policy.keep_monthly}};
        for (auto& [kind, list] : succeeded) {
            std::sort(list.begin(), list.end(), newer);
            int available = static_cast<int>(list.size());
            int kept = 0;
            for (const BackupRecord* b : list) kept += removed.count(b->id) == 0;
            bool has_newest = newest != nullptr && newest->kind == kind;
            int want = std::max(std::min(keep.at(kind), available), has_newest ? 1 : 0);
            ASSERT_EQ(kept, want) << backup_kind_name(kind);
            // The kept ones are the newest ones.
            for (int i = 0; i < available; ++i) {
                ASSERT_EQ(removed.count(list[i]->id) == 0, i < want) << list[i]->id;
            }
        }
        // Deterministic whatever the input order.
        std::shuffle(all.begin(), all.end(), rng);
        std::vector<Removal> again = plan_retention(all, policy);
        ASSERT_EQ(ids_of(again), ids_of(plan));
        ASSERT_EQ(reasons_of(again), reasons_of(plan));
    }
}

}  // namespace
}  // namespace infra::core
