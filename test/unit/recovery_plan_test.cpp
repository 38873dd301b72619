// recovery_plan_test.cpp: the point-in-time recovery plan (src/core/recovery_plan.*), on
// ArchiveScan values built directly (no directory scan):
//  - the refusals: target in the future, no base backup, target at or before the oldest
//    backup's end, unknown id, a requested backup that ended at or after the target;
//  - the choice of base backup (newest ended strictly before the target, or the one asked
//    for);
//  - the WAL walk: the segment holding the target (archived at or after it, at least the
//    stop segment), archive_reaches, holes listed (at most 100, all counted), holes after
//    the target ignored, an archive behind the target or without the first segment;
//  - timelines: promotion after the backup, a switch inside the start segment, chains of
//    three, siblings branched before the backup (a note, and an explicit
//    recovery_target_timeline), a timeline born after the target (not followed), gaps
//    in history numbering, segments of other branches; the reach by transactions;
//  - the other problems (unreadable files, system identifier, segment size);
//  - the steps and the script for plain and every tar compression, the script run for real
//    with sh against a fake pg_ctl in directories whose names hold spaces and quotes, the
//    restore_command run through sh, a plan with problems whose script exits 1 first;
//  - shell and postgresql.conf quoting; the JSON; timestamps typed by users (many valid
//    and invalid forms) and their formatting round trips.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/recovery_plan.hpp"
#include "core/wal_names.hpp"
#include "refusal.hpp"
#include "test_files.hpp"

namespace infra::core {

namespace {

using nlohmann::json;
using test::refusal;

constexpr uint64_t kSeg = kDefaultWalSegmentSize;
constexpr int64_t kSecond = 1000000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
// 2026-11-29T00:00:00Z
constexpr int64_t kT0 = 1795910400LL * kSecond;
constexpr uint64_t kSysid = 7311234567890123456ull;

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// Checks that text holds every one of parts.
void expect_contains_all(const std::string& text, const std::vector<std::string>& parts) {
    for (const std::string& part : parts) {
        EXPECT_TRUE(contains(text, part)) << "no \"" << part << "\" in:\n" << text;
    }
}

std::string seg_name(uint32_t timeline, uint64_t segno) {
    return wal_segment_name(timeline, segno, kSeg);
}

ArchivedWalFile segment(uint32_t timeline, uint64_t segno, int64_t mtime_unix_us) {
    ArchivedWalFile f;
    f.name = seg_name(timeline, segno);
    f.parsed.kind = WalFileKind::kSegment;
    f.parsed.timeline = timeline;
    f.parsed.segno = segno;
    f.stored_bytes = f.original_bytes = static_cast<int64_t>(kSeg);
    f.mtime_unix_us = mtime_unix_us;
    return f;
}

// Segment n archived n minutes after kT0.
ArchivedWalFile seg_at_minute(uint32_t timeline, uint64_t segno) {
    return segment(timeline, segno, kT0 + static_cast<int64_t>(segno) * kMinute);
}

std::vector<ArchivedWalFile> segs(uint32_t timeline, uint64_t from, uint64_t to) {
    std::vector<ArchivedWalFile> out;
    for (uint64_t s = from; s <= to; ++s) out.push_back(seg_at_minute(timeline, s));
    return out;
}

// An ArchiveScan as scan_wal_archive would return it: segments sorted by (segno,
// timeline), one .history entry per history.
ArchiveScan make_archive(std::vector<ArchivedWalFile> segments,
                         std::map<uint32_t, std::vector<TimelineSwitch>> histories = {}) {
    ArchiveScan scan;
    scan.dir = "/var/lib/postgresql/15/wal_archive";
    std::sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) {
        return std::tie(a.parsed.segno, a.parsed.timeline) <
               std::tie(b.parsed.segno, b.parsed.timeline);
    });
    scan.segments = std::move(segments);
    for (const auto& entry : histories) {
        ArchivedWalFile f;
        f.name = history_file_name(entry.first);
        f.parsed.kind = WalFileKind::kHistory;
        f.parsed.timeline = entry.first;
        scan.history_files.push_back(f);
    }
    scan.histories = std::move(histories);
    return scan;
}

std::vector<ArchivedWalFile> concat(std::vector<ArchivedWalFile> a,
                                    const std::vector<ArchivedWalFile>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// Base backup `id` on `timeline`, from start segment start_segno to stop segment
// stop_segno, ended at stop_time.
BaseBackupInfo backup(int64_t id, uint32_t timeline, uint64_t start_segno, uint64_t stop_segno,
                      int64_t stop_time) {
    BaseBackupInfo b;
    b.id = id;
    b.label = "base backup " + std::to_string(id);
    b.path = "/var/lib/postgresql/15/base_backups/" + std::to_string(id) + "-20261129T000000Z";
    b.format = "plain";
    b.compression = "none";
    b.timeline = timeline;
    b.start_lsn = start_segno * kSeg + 0x28;
    b.stop_lsn = stop_segno * kSeg + 0x138;
    b.start_time_unix_us = stop_time - 30 * kSecond;
    b.stop_time_unix_us = stop_time;
    b.system_identifier = kSysid;
    b.pg_version_num = 150010;
    b.wal_segment_size = kSeg;
    b.bytes = 1 << 30;
    b.verified_by = "pg_verifybackup";
    return b;
}

PlanRequest request_at(int64_t target) {
    PlanRequest r;
    r.target_time_unix_us = target;
    r.now_unix_us = kT0 + 24 * kHour;  // 2026-11-30T00:00:00Z
    r.archive_dir = "/var/lib/postgresql/15/wal_archive";
    r.base_backup_root = "/var/lib/postgresql/15/base_backups";
    return r;
}

// The default scenario: backup 1 on timeline 1 from segment 2 to 3, ended at minute 3.
BaseBackupInfo default_backup() {
    return backup(1, 1, 2, 3, kT0 + 3 * kMinute);
}

std::vector<std::string> codes(const RecoveryPlan& plan) {
    std::vector<std::string> out;
    for (const PlanProblem& p : plan.problems) out.push_back(p.code);
    return out;
}

// ---------------------------------------------------------------------------------------
// Refusals

TEST(PlanRefusals, RefusesATargetInTheFuture) {
    PlanRequest r = request_at(kT0 + 24 * kHour + 1);
    const std::string message =
        refusal([&] { plan_recovery({default_backup()}, make_archive(segs(1, 2, 10)), r); });
    EXPECT_TRUE(contains(message,
                         "the target time 2026-11-30T00:00:00.000001Z is in the "
                         "future (now is 2026-11-30T00:00:00Z)"))
        << message;
    // The target may be now itself.
    r.target_time_unix_us = r.now_unix_us;
    EXPECT_NO_THROW(plan_recovery({default_backup()}, make_archive(segs(1, 2, 10)), r));
}

TEST(PlanRefusals, RefusesWhenThereIsNoBaseBackup) {
    const std::string message =
        refusal([&] { plan_recovery({}, make_archive(segs(1, 2, 10)), request_at(kT0 + kHour)); });
    EXPECT_TRUE(contains(message,
                         "no base backup exists in /var/lib/postgresql/15/base_backups; "
                         "take one with SELECT infra.create_base_backup(wait => true)"))
        << message;
}

TEST(PlanRefusals, RefusesATargetAtOrBeforeTheOldestBackupsEnd) {
    const std::vector<BaseBackupInfo> backups = {backup(5, 1, 20, 21, kT0 + 2 * kHour),
                                                 backup(4, 1, 2, 3, kT0 + kHour)};
    for (int64_t target : {kT0 + kHour, kT0 + kHour - 1, kT0}) {
        const std::string message = refusal(
            [&] { plan_recovery(backups, make_archive(segs(1, 2, 10)), request_at(target)); });
        EXPECT_TRUE(contains(message,
                             "the oldest base backup (id 4) ended at "
                             "2026-11-29T01:00:00Z; a point in time before that "
                             "cannot be recovered"))
            << message;
    }
}

TEST(PlanRefusals, RefusesAnUnknownBaseBackupId) {
    PlanRequest r = request_at(kT0 + kHour);
    r.base_backup_id = 9;
    const std::vector<BaseBackupInfo> backups = {default_backup(),
                                                 backup(2, 1, 5, 6, kT0 + 6 * kMinute)};
    const std::string message =
        refusal([&] { plan_recovery(backups, make_archive(segs(1, 2, 10)), r); });
    expect_contains_all(message, {"there is no base backup with id 9", "(ids: 1, 2)"});
}

TEST(PlanRefusals, RefusesARequestedBackupThatEndedAtOrAfterTheTarget) {
    const std::vector<BaseBackupInfo> backups = {default_backup(),
                                                 backup(2, 1, 5, 6, kT0 + 6 * kMinute)};
    for (int64_t target : {kT0 + 6 * kMinute, kT0 + 5 * kMinute}) {
        PlanRequest r = request_at(target);
        r.base_backup_id = 2;
        try {
            plan_recovery(backups, make_archive(segs(1, 2, 10)), r);
            ADD_FAILURE() << "no error";
        } catch (const Error& e) {
            EXPECT_TRUE(contains(e.what(),
                                 "base backup 2 ended at 2026-11-29T00:06:00Z, not "
                                 "before the target time"))
                << e.what();
            EXPECT_TRUE(contains(e.hint(), "the newest such is id 1")) << e.hint();
        }
    }
}

TEST(PlanRefusals, RefusesPathsWithLineBreaks) {
    PlanRequest r = request_at(kT0 + 5 * kMinute);
    r.pgdata = "/var/lib/postgresql/15/main\nrm -rf /";
    const std::string message =
        refusal([&] { plan_recovery({default_backup()}, make_archive(segs(1, 2, 10)), r); });
    EXPECT_TRUE(contains(message, "line break")) << message;
}

// ---------------------------------------------------------------------------------------
// Choosing the base backup

TEST(PlanBaseBackup, ChoosesTheNewestThatEndedStrictlyBeforeTheTarget) {
    const std::vector<BaseBackupInfo> backups = {backup(3, 1, 8, 8, kT0 + 8 * kMinute),
                                                 default_backup(),
                                                 backup(2, 1, 5, 5, kT0 + 5 * kMinute)};
    const ArchiveScan archive = make_archive(segs(1, 2, 20));
    EXPECT_EQ(plan_recovery(backups, archive, request_at(kT0 + 7 * kMinute)).base_backup.id, 2);
    EXPECT_EQ(plan_recovery(backups, archive, request_at(kT0 + 8 * kMinute + 1)).base_backup.id, 3);
    // A backup that ended exactly at the target is not usable for it.
    EXPECT_EQ(plan_recovery(backups, archive, request_at(kT0 + 8 * kMinute)).base_backup.id, 2);
    EXPECT_EQ(plan_recovery(backups, archive, request_at(kT0 + 5 * kMinute)).base_backup.id, 1);
}

TEST(PlanBaseBackup, UsesTheRequestedBackup) {
    const std::vector<BaseBackupInfo> backups = {default_backup(),
                                                 backup(2, 1, 5, 5, kT0 + 5 * kMinute)};
    PlanRequest r = request_at(kT0 + 9 * kMinute + 30 * kSecond);
    r.base_backup_id = 1;
    const RecoveryPlan plan = plan_recovery(backups, make_archive(segs(1, 2, 20)), r);
    EXPECT_EQ(plan.base_backup.id, 1);
    EXPECT_EQ(plan.base_backup.path, default_backup().path);
    EXPECT_EQ(plan.first_segment, seg_name(1, 2));
    EXPECT_EQ(plan.last_segment, seg_name(1, 10));
    EXPECT_EQ(plan.segments_needed, 9u);
}

// ---------------------------------------------------------------------------------------
// The WAL walk on one timeline

TEST(PlanWal, CompleteArchiveReachesTheTarget) {
    const int64_t target = kT0 + 6 * kMinute + 30 * kSecond;
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, make_archive(segs(1, 2, 10)), request_at(target));
    EXPECT_TRUE(plan.ok);
    EXPECT_TRUE(plan.problems.empty());
    EXPECT_EQ(plan.target_time_unix_us, target);
    EXPECT_EQ(plan.timelines, std::vector<uint32_t>{1});
    EXPECT_EQ(plan.first_segment, "000000010000000000000002");
    // Segment 7, archived at minute 7, is the first archived at or after the target.
    EXPECT_EQ(plan.last_segment, "000000010000000000000007");
    EXPECT_EQ(plan.segments_needed, 6u);
    EXPECT_TRUE(plan.missing_segments.empty());
    EXPECT_EQ(plan.missing_count, 0u);
    // The run without a gap goes on past the target, to segment 10.
    EXPECT_EQ(plan.archive_reaches_unix_us, kT0 + 10 * kMinute);
    EXPECT_EQ(plan.archive_reaches_segment, "00000001000000000000000A");
}

TEST(PlanWal, ASegmentArchivedExactlyAtTheTargetHoldsIt) {
    const RecoveryPlan plan = plan_recovery({default_backup()}, make_archive(segs(1, 2, 10)),
                                            request_at(kT0 + 6 * kMinute));
    EXPECT_EQ(plan.last_segment, seg_name(1, 6));
    EXPECT_EQ(plan.segments_needed, 5u);
}

TEST(PlanWal, NeedsAtLeastTheStopSegment) {
    // Every segment was archived late (after the target): the walk still goes up to the
    // segment of the backup's stop LSN.
    std::vector<ArchivedWalFile> late;
    for (uint64_t s = 2; s <= 9; ++s) late.push_back(segment(1, s, kT0 + kHour + s));
    const BaseBackupInfo b = backup(1, 1, 2, 5, kT0 + 3 * kMinute);
    const RecoveryPlan plan = plan_recovery({b}, make_archive(late), request_at(kT0 + 4 * kMinute));
    EXPECT_TRUE(plan.ok);
    EXPECT_EQ(plan.last_segment, seg_name(1, 5));
    EXPECT_EQ(plan.segments_needed, 4u);
}

TEST(PlanWal, ArchiveBehindTheTarget) {
    const int64_t target = kT0 + 20 * kMinute;
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, make_archive(segs(1, 2, 6)), request_at(target));
    EXPECT_FALSE(plan.ok);
    EXPECT_EQ(codes(plan), std::vector<std::string>{"archive_behind_target"});
    const std::string& message = plan.problems[0].message;
    expect_contains_all(message,
                        {"the archive reaches 2026-11-29T00:06:00Z", "000000010000000000000006",
                         "the target 2026-11-29T00:20:00Z is later: archive the "
                         "current WAL (SELECT pg_switch_wal() on the server) or wait "
                         "for archive_timeout, or choose an earlier target"});
    EXPECT_EQ(plan.last_segment, "");
    EXPECT_EQ(plan.segments_needed, 0u);
    EXPECT_EQ(plan.archive_reaches_unix_us, kT0 + 6 * kMinute);
    EXPECT_EQ(plan.archive_reaches_segment, seg_name(1, 6));
    EXPECT_TRUE(plan.missing_segments.empty());
}

TEST(PlanWal, ArchiveWithoutTheFirstSegmentAndNothingAfter) {
    const RecoveryPlan plan = plan_recovery({default_backup()}, make_archive(segs(1, 0, 1)),
                                            request_at(kT0 + 20 * kMinute));
    EXPECT_EQ(codes(plan), std::vector<std::string>{"archive_behind_target"});
    EXPECT_TRUE(contains(plan.problems[0].message, "holds no WAL"));
    EXPECT_TRUE(contains(plan.problems[0].message, seg_name(1, 2)));
    EXPECT_EQ(plan.archive_reaches_unix_us, 0);
    EXPECT_EQ(plan.archive_reaches_segment, "");
    EXPECT_EQ(plan.first_segment, seg_name(1, 2));
}

TEST(PlanWal, HolesBeforeTheTargetAreListedAndHolesAfterItIgnored) {
    // Present: 2 3 _ 5 6 _ 8 9 10 11 12 _ 14; the target is in 11.
    std::vector<ArchivedWalFile> files;
    for (uint64_t s : {2, 3, 5, 6, 8, 9, 10, 11, 12, 14}) files.push_back(seg_at_minute(1, s));
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, make_archive(files), request_at(kT0 + 10 * kMinute + 1));
    EXPECT_FALSE(plan.ok);
    EXPECT_EQ(codes(plan), std::vector<std::string>{"missing_segments"});
    EXPECT_EQ(plan.missing_segments, (std::vector<std::string>{seg_name(1, 4), seg_name(1, 7)}));
    EXPECT_EQ(plan.missing_count, 2u);
    const std::string& message = plan.problems[0].message;
    expect_contains_all(message, {"2 WAL segment(s)",
                                  "the first 000000010000000000000004: recovery would stop there",
                                  "the archive reaches 2026-11-29T00:03:00Z"});
    EXPECT_FALSE(contains(message, "even the newest")) << message;
    EXPECT_EQ(plan.last_segment, seg_name(1, 11));
    EXPECT_EQ(plan.segments_needed, 10u);
    EXPECT_EQ(plan.archive_reaches_unix_us, kT0 + 3 * kMinute);
    EXPECT_EQ(plan.archive_reaches_segment, seg_name(1, 3));
}

TEST(PlanWal, AHoleAfterTheTargetIsNoProblem) {
    std::vector<ArchivedWalFile> files = segs(1, 2, 8);
    files.push_back(seg_at_minute(1, 12));
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, make_archive(files), request_at(kT0 + 5 * kMinute));
    EXPECT_TRUE(plan.ok) << plan.problems.size();
    EXPECT_EQ(plan.last_segment, seg_name(1, 5));
    EXPECT_EQ(plan.archive_reaches_segment, seg_name(1, 8));
}

TEST(PlanWal, AHoleAndAnArchiveThatDoesNotReachTheTarget) {
    std::vector<ArchivedWalFile> files = {seg_at_minute(1, 2), seg_at_minute(1, 3),
                                          seg_at_minute(1, 6)};
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, make_archive(files), request_at(kT0 + 30 * kMinute));
    EXPECT_EQ(codes(plan), std::vector<std::string>{"missing_segments"});
    EXPECT_EQ(plan.missing_segments, (std::vector<std::string>{seg_name(1, 4), seg_name(1, 5)}));
    EXPECT_EQ(plan.missing_count, 2u);
    EXPECT_TRUE(contains(plan.problems[0].message,
                         "even the newest segment on the timeline "
                         "chain, 000000010000000000000006"))
        << plan.problems[0].message;
    EXPECT_EQ(plan.last_segment, "");
    EXPECT_EQ(plan.segments_needed, 0u);
}

TEST(PlanWal, TheFirstSegmentMissingWithLaterOnesPresent) {
    const RecoveryPlan plan = plan_recovery({default_backup()}, make_archive(segs(1, 3, 10)),
                                            request_at(kT0 + 5 * kMinute));
    EXPECT_EQ(codes(plan), std::vector<std::string>{"missing_segments"});
    EXPECT_EQ(plan.missing_segments, std::vector<std::string>{seg_name(1, 2)});
    EXPECT_TRUE(contains(plan.problems[0].message,
                         "does not hold the base backup's first "
                         "segment"));
    EXPECT_EQ(plan.archive_reaches_unix_us, 0);
    EXPECT_EQ(plan.archive_reaches_segment, "");
    EXPECT_EQ(plan.last_segment, seg_name(1, 5));
}

TEST(PlanWal, ListsAtMostOneHundredMissingSegmentsButCountsAll) {
    const std::vector<ArchivedWalFile> files = {seg_at_minute(1, 2), seg_at_minute(1, 300)};
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, make_archive(files), request_at(kT0 + 299 * kMinute));
    ASSERT_EQ(plan.missing_segments.size(), 100u);
    EXPECT_EQ(plan.missing_count, 297u);
    EXPECT_EQ(plan.missing_segments.front(), seg_name(1, 3));
    EXPECT_EQ(plan.missing_segments.back(), seg_name(1, 102));
    EXPECT_TRUE(contains(plan.problems[0].message, "297 WAL segment(s)"));
    EXPECT_EQ(plan.last_segment, seg_name(1, 300));
    EXPECT_EQ(plan.segments_needed, 299u);
}

TEST(PlanWal, SegmentsOfAnotherTimelineDoNotFillAHole) {
    // Timeline 2 has no history file: nothing says it continues timeline 1.
    const std::vector<ArchivedWalFile> files = concat({seg_at_minute(1, 2)}, segs(2, 3, 10));
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, make_archive(files), request_at(kT0 + 5 * kMinute));
    EXPECT_EQ(plan.timelines, std::vector<uint32_t>{1});
    EXPECT_EQ(codes(plan), std::vector<std::string>{"archive_behind_target"});
    EXPECT_EQ(plan.archive_reaches_segment, seg_name(1, 2));
}

// ---------------------------------------------------------------------------------------
// Timelines

TEST(PlanTimelines, FollowsAPromotionAfterTheBackup) {
    // Timeline 2 began at 0/5000100 (in segment 5). The old primary went on writing
    // timeline 1's segments 5 and 6: they are not on the chain.
    const std::vector<ArchivedWalFile> files = concat(concat(segs(1, 2, 6), segs(2, 5, 9)), {});
    const ArchiveScan archive = make_archive(files, {{2, {{1, 0x5000100}}}});
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, archive, request_at(kT0 + 7 * kMinute + 1));
    EXPECT_TRUE(plan.ok);
    EXPECT_EQ(plan.timelines, (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(plan.first_segment, seg_name(1, 2));
    EXPECT_EQ(plan.last_segment, seg_name(2, 8));
    EXPECT_EQ(plan.archive_reaches_segment, seg_name(2, 9));
    EXPECT_TRUE(contains(plan.script, "recovery_target_timeline = 'latest'"));

    // Without timeline 2's segment 6, the hole is named on timeline 2 even though
    // timeline 1's segment 6 exists.
    std::vector<ArchivedWalFile> holed;
    for (const ArchivedWalFile& f : files) {
        if (!(f.parsed.timeline == 2 && f.parsed.segno == 6)) holed.push_back(f);
    }
    const RecoveryPlan with_hole =
        plan_recovery({default_backup()}, make_archive(holed, {{2, {{1, 0x5000100}}}}),
                      request_at(kT0 + 7 * kMinute + 1));
    EXPECT_EQ(with_hole.missing_segments, std::vector<std::string>{seg_name(2, 6)});
    EXPECT_EQ(with_hole.archive_reaches_segment, seg_name(2, 5));
}

// A restore to minute 4 created timeline 2 at minute 20 (its history file archived
// then); timeline 1 went on to minute 9 first. A later plan for minute 6 must stay on
// timeline 1 (timeline 2 holds only WAL written after minute 20, so following it would
// stop at the branch and lose minutes 4-6), naming it because 'latest' would pick 2.
TEST(PlanTimelines, ATimelineBornAfterTheTargetIsNotFollowed) {
    std::vector<ArchivedWalFile> later = segs(2, 4, 9);
    for (ArchivedWalFile& f : later) f.mtime_unix_us += 20 * kMinute;
    ArchiveScan archive = make_archive(concat(segs(1, 2, 9), later), {{2, {{1, 0x4000100}}}});
    archive.history_files[0].mtime_unix_us = kT0 + 20 * kMinute;

    const RecoveryPlan before =
        plan_recovery({default_backup()}, archive, request_at(kT0 + 6 * kMinute + 1));
    EXPECT_TRUE(before.ok) << (before.problems.empty() ? "" : before.problems[0].message);
    EXPECT_EQ(before.timelines, (std::vector<uint32_t>{1}));
    EXPECT_EQ(before.recovery_target_timeline, "1");
    EXPECT_TRUE(contains(before.script, "recovery_target_timeline = '1'")) << before.script;

    const RecoveryPlan after =
        plan_recovery({default_backup()}, archive, request_at(kT0 + 25 * kMinute + 1));
    EXPECT_EQ(after.timelines, (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(after.recovery_target_timeline, "latest");
}

TEST(PlanTimelines, ASwitchInsideTheStartSegmentStartsOnTheNewTimeline) {
    const ArchiveScan archive =
        make_archive(concat(segs(1, 2, 2), segs(2, 2, 6)), {{2, {{1, 2 * kSeg + 0x1000}}}});
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, archive, request_at(kT0 + 5 * kMinute));
    EXPECT_TRUE(plan.ok);
    EXPECT_EQ(plan.timelines, (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(plan.first_segment, seg_name(2, 2));
}

TEST(PlanTimelines, ASwitchMustComeAfterTheBackupsStartLsn) {
    const uint64_t start_lsn = default_backup().start_lsn;
    const std::vector<ArchivedWalFile> files = concat(segs(1, 2, 6), segs(2, 2, 6));
    // Timeline 1 ended exactly where the backup started: the backup is not on its way.
    const RecoveryPlan at_start =
        plan_recovery({default_backup()}, make_archive(files, {{2, {{1, start_lsn}}}}),
                      request_at(kT0 + 5 * kMinute));
    EXPECT_EQ(at_start.timelines, std::vector<uint32_t>{1});
    EXPECT_TRUE(at_start.ok);
    EXPECT_EQ(at_start.notes.size(), 1u);
    EXPECT_EQ(at_start.recovery_target_timeline, "1");
    // One byte later it is.
    const RecoveryPlan after_start =
        plan_recovery({default_backup()}, make_archive(files, {{2, {{1, start_lsn + 1}}}}),
                      request_at(kT0 + 5 * kMinute));
    EXPECT_EQ(after_start.timelines, (std::vector<uint32_t>{1, 2}));
    EXPECT_TRUE(after_start.ok);
}

TEST(PlanTimelines, FollowsAChainOfThree) {
    const ArchiveScan archive =
        make_archive(concat(concat(segs(1, 2, 3), segs(2, 4, 6)), segs(3, 7, 9)),
                     {{2, {{1, 0x4000000}}}, {3, {{1, 0x4000000}, {2, 0x7000000}}}});
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, archive, request_at(kT0 + 8 * kMinute));
    EXPECT_TRUE(plan.ok);
    EXPECT_EQ(plan.timelines, (std::vector<uint32_t>{1, 2, 3}));
    EXPECT_EQ(plan.last_segment, seg_name(3, 8));
    EXPECT_EQ(plan.segments_needed, 7u);
    EXPECT_EQ(plan.archive_reaches_segment, seg_name(3, 9));
    EXPECT_TRUE(contains(plan.script, "recovery_target_timeline = 'latest'"));
}

TEST(PlanTimelines, ASiblingThatBranchedBeforeTheBackupIsNotFollowed) {
    // Timeline 2 branched from 1 at segment 1, before the backup started (segment 2):
    // the backup's timeline 1 went on. Timeline 3 branched from 1 at segment 4: followed.
    const ArchiveScan archive = make_archive(concat(segs(1, 2, 3), segs(3, 4, 8)),
                                             {{2, {{1, 0x1000000}}}, {3, {{1, 0x4000000}}}});
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, archive, request_at(kT0 + 6 * kMinute));
    EXPECT_TRUE(plan.ok);
    EXPECT_EQ(plan.timelines, (std::vector<uint32_t>{1, 3}));
    EXPECT_EQ(plan.last_segment, seg_name(3, 6));
    EXPECT_TRUE(contains(plan.script, "recovery_target_timeline = 'latest'"));
}

TEST(PlanTimelines, TheNewestTimelineNotDescendingFromTheBackupIsANote) {
    // The backup was taken on timeline 2 (segment 6 onwards); timeline 3 branched from 1
    // at segment 4, so it is not a child of the backup's history.
    const BaseBackupInfo b = backup(1, 2, 6, 6, kT0 + 6 * kMinute);
    const ArchiveScan archive = make_archive(concat(segs(2, 5, 10), segs(3, 4, 12)),
                                             {{2, {{1, 0x5000100}}}, {3, {{1, 0x4000000}}}});
    const RecoveryPlan plan = plan_recovery({b}, archive, request_at(kT0 + 8 * kMinute));
    EXPECT_TRUE(plan.ok);
    ASSERT_EQ(plan.notes.size(), 1u);
    const std::string& message = plan.notes[0];
    expect_contains_all(message,
                        {"the newest timeline in the archive, 3, does not descend from "
                         "base backup 1's timeline 2",
                         "recovery will follow timeline 2", "recovery_target_timeline = '2'"});
    EXPECT_EQ(plan.timelines, std::vector<uint32_t>{2});
    EXPECT_EQ(plan.last_segment, seg_name(2, 8));
    // The script names the timeline explicitly: 'latest' would fail.
    EXPECT_TRUE(contains(plan.script, "recovery_target_timeline = '2'\n"));
    EXPECT_FALSE(contains(plan.script, "recovery_target_timeline = 'latest'"));
}

TEST(PlanTimelines, ATimelineThatBranchedFromTheBackupsTimelineBeforeItsStart) {
    // Backup on timeline 1 from segment 6; timeline 2 left timeline 1 at segment 5.
    const BaseBackupInfo b = backup(1, 1, 6, 6, kT0 + 6 * kMinute);
    const ArchiveScan archive =
        make_archive(concat(segs(1, 5, 10), segs(2, 5, 12)), {{2, {{1, 0x5000000}}}});
    const RecoveryPlan plan = plan_recovery({b}, archive, request_at(kT0 + 8 * kMinute));
    EXPECT_TRUE(plan.ok);
    EXPECT_EQ(plan.notes.size(), 1u);
    EXPECT_EQ(plan.timelines, std::vector<uint32_t>{1});
    EXPECT_EQ(plan.last_segment, seg_name(1, 8));
    EXPECT_TRUE(contains(plan.script, "recovery_target_timeline = '1'\n"));
}

TEST(PlanTimelines, AGapInHistoryNumbersNeedsAnExplicitTimeline) {
    // 00000002.history is absent: PostgreSQL's 'latest' would stop probing at 2 and stay
    // on timeline 1, so the plan names timeline 3.
    const ArchiveScan archive =
        make_archive(concat(segs(1, 2, 3), segs(3, 4, 8)), {{3, {{1, 0x4000000}}}});
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, archive, request_at(kT0 + 6 * kMinute));
    EXPECT_TRUE(plan.ok);
    EXPECT_EQ(plan.timelines, (std::vector<uint32_t>{1, 3}));
    EXPECT_TRUE(contains(plan.script, "recovery_target_timeline = '3'\n"));
}

// ---------------------------------------------------------------------------------------
// Other problems

TEST(PlanProblems, NamesUnreadableFiles) {
    ArchiveScan archive = make_archive(segs(1, 2, 10));
    for (int i = 0; i < 7; ++i) {
        archive.unreadable_files.push_back("0000000100000001000000" + std::to_string(10 + i) +
                                           ": bad magic");
    }
    const RecoveryPlan plan =
        plan_recovery({default_backup()}, archive, request_at(kT0 + 5 * kMinute));
    EXPECT_FALSE(plan.ok);
    EXPECT_EQ(codes(plan), std::vector<std::string>{"unreadable_files"});
    const std::string& message = plan.problems[0].message;
    expect_contains_all(message, {"7 file(s)", "000000010000000100000010: bad magic",
                                  "000000010000000100000014: bad magic", "and 2 more"});
    EXPECT_FALSE(contains(message, "000000010000000100000015")) << message;
}

TEST(PlanProblems, ABackupOfAnotherDatabaseSystem) {
    BaseBackupInfo newer = backup(2, 1, 8, 8, kT0 + 8 * kMinute);
    newer.system_identifier = kSysid + 1;
    const RecoveryPlan plan = plan_recovery({default_backup(), newer}, make_archive(segs(1, 2, 10)),
                                            request_at(kT0 + 5 * kMinute));
    EXPECT_EQ(plan.base_backup.id, 1);
    EXPECT_EQ(codes(plan), std::vector<std::string>{"system_identifier"});
    EXPECT_TRUE(contains(plan.problems[0].message, std::to_string(kSysid + 1)));
    // The newest backup itself has no such problem.
    EXPECT_TRUE(plan_recovery({default_backup(), newer}, make_archive(segs(1, 2, 10)),
                              request_at(kT0 + 9 * kMinute))
                    .ok);
}

TEST(PlanProblems, AnArchiveReadWithAnotherSegmentSize) {
    BaseBackupInfo b = default_backup();
    b.wal_segment_size = 64ull * 1024 * 1024;
    const RecoveryPlan plan =
        plan_recovery({b}, make_archive(segs(1, 2, 10)), request_at(kT0 + 5 * kMinute));
    EXPECT_EQ(codes(plan), std::vector<std::string>{"wal_segment_size"});
}

// ---------------------------------------------------------------------------------------
// Steps and script

RecoveryPlan good_plan(const BaseBackupInfo& b, PlanRequest r) {
    return plan_recovery({b}, make_archive(segs(1, 2, 10)), r);
}

TEST(PlanSteps, PlainBackupStepsInOrder) {
    PlanRequest r = request_at(kT0 + 6 * kMinute + 30 * kSecond + 250000);
    r.port = 5433;
    r.now_unix_us = kT0 + 12 * kHour + 34 * kMinute + 56 * kSecond;
    const RecoveryPlan plan = good_plan(default_backup(), r);
    ASSERT_TRUE(plan.ok);
    ASSERT_EQ(plan.steps.size(), 10u);
    const std::string pgdata = "/var/lib/postgresql/15/main";
    const std::string bin = "/usr/lib/postgresql/15/bin";
    EXPECT_TRUE(contains(plan.steps[0], bin + "/pg_ctl -D " + pgdata + " stop -m fast"))
        << plan.steps[0];
    EXPECT_TRUE(contains(plan.steps[0], "systemctl stop postgresql@15-main")) << plan.steps[0];
    EXPECT_TRUE(
        contains(plan.steps[1], "mv " + pgdata + " " + pgdata + ".before-pitr-20261129T123456"))
        << plan.steps[1];
    EXPECT_TRUE(contains(plan.steps[2], "cp -a " + default_backup().path + "/data " + pgdata +
                                            " && chmod 700 " + pgdata))
        << plan.steps[2];
    EXPECT_TRUE(contains(plan.steps[3], "rm -f " + pgdata + "/postmaster.pid")) << plan.steps[3];
    EXPECT_TRUE(contains(plan.steps[4], pgdata + "/postgresql.auto.conf")) << plan.steps[4];
    EXPECT_TRUE(
        contains(plan.steps[4], "restore_command = '" + bin +
                                    "/infra_ext_ctl archive-get --archive "
                                    "/var/lib/postgresql/15/wal_archive --prefetch 4 %f \"%p\"'"))
        << plan.steps[4];
    EXPECT_TRUE(contains(plan.steps[4], "recovery_target_time = '2026-11-29 00:06:30.250000+00'"))
        << plan.steps[4];
    EXPECT_TRUE(contains(plan.steps[4], "recovery_target_action = 'promote'")) << plan.steps[4];
    EXPECT_TRUE(contains(plan.steps[4], "recovery_target_timeline = 'latest'")) << plan.steps[4];
    EXPECT_TRUE(contains(plan.steps[5], "touch " + pgdata + "/recovery.signal")) << plan.steps[5];
    EXPECT_TRUE(contains(plan.steps[6], bin + "/pg_ctl -D " + pgdata +
                                            " -l /var/lib/postgresql/15/pitr-restore.log"))
        << plan.steps[6];
    // Debian keeps postgresql.conf in /etc/postgresql/15/main.
    EXPECT_TRUE(contains(plan.steps[6],
                         " -o '-c config_file=/etc/postgresql/15/main/"
                         "postgresql.conf' -W start"))
        << plan.steps[6];
    EXPECT_TRUE(contains(plan.script,
                         "if [ -f /etc/postgresql/15/main/postgresql.conf ]; then\n"
                         "    \"$BIN/pg_ctl\" -D \"$PGDATA\" -l \"$LOG\" -o '-c "
                         "config_file=/etc/postgresql/15/main/postgresql.conf' -W "
                         "start\n"))
        << plan.script;
    for (const char* text :
         {"tail -f /var/lib/postgresql/15/pitr-restore.log", "starting point-in-time recovery to",
          "restored log file", "recovery stopping before", "archive recovery complete",
          "/usr/lib/postgresql/15/bin/psql -p 5433 -c 'SELECT "
          "pg_is_in_recovery(), pg_last_wal_replay_lsn(), "
          "pg_last_xact_replay_timestamp()'"}) {
        EXPECT_TRUE(contains(plan.steps[7], text)) << text << "\n" << plan.steps[7];
    }
    EXPECT_TRUE(contains(plan.steps[8], "SELECT infra.create_base_backup(wait => true)"))
        << plan.steps[8];
    EXPECT_TRUE(
        contains(plan.steps[9], bin +
                                    "/infra_ext_ctl restore --archive "
                                    "/var/lib/postgresql/15/wal_archive --base-backups "
                                    "/var/lib/postgresql/15/base_backups --pgdata " +
                                    pgdata +
                                    " --target-time 2026-11-29T00:06:30.250000Z --base-backup 1 "
                                    "--start"))
        << plan.steps[9];
    for (size_t i = 0; i < 9; ++i) {
        EXPECT_EQ(plan.steps[i].rfind(std::to_string(i + 1) + ". ", 0), 0u) << plan.steps[i];
    }
}

TEST(PlanSteps, NoSystemdUnitOutsideDebiansLayout) {
    PlanRequest r = request_at(kT0 + 5 * kMinute);
    r.pgdata = "/srv/pg data";
    const RecoveryPlan plan = good_plan(default_backup(), r);
    EXPECT_FALSE(contains(plan.steps[0], "systemctl")) << plan.steps[0];
    EXPECT_TRUE(contains(plan.steps[0], "-D '/srv/pg data' stop")) << plan.steps[0];
    EXPECT_TRUE(contains(plan.steps[6], "-l /srv/pitr-restore.log -W start")) << plan.steps[6];
    EXPECT_FALSE(contains(plan.steps[6], "config_file")) << plan.steps[6];
    EXPECT_FALSE(contains(plan.script, "config_file")) << plan.script;
}

// pg_basebackup (PostgreSQL 15) compresses pg_wal.tar only with gzip; with lz4 or zstd
// client compression it writes a plain pg_wal.tar beside base.tar.lz4/.zst.
TEST(PlanSteps, TarBackupsForEveryCompression) {
    struct Case {
        const char* compression;
        const char* tar;
        const char* suffix;
        const char* wal_tar;
        const char* wal_suffix;
    };
    for (const Case& c :
         {Case{"none", "tar -xf ", "", "tar -xf ", ""},
          Case{"gzip", "tar -xzf ", ".gz", "tar -xzf ", ".gz"},
          Case{"lz4", "tar --use-compress-program=lz4 -xf ", ".lz4", "tar -xf ", ""},
          Case{"zstd", "tar --use-compress-program=zstd -xf ", ".zst", "tar -xf ", ""}}) {
        BaseBackupInfo b = default_backup();
        b.format = "tar";
        b.compression = c.compression;
        const RecoveryPlan plan = good_plan(b, request_at(kT0 + 5 * kMinute));
        const std::string data = b.path + "/data";
        const std::string pgdata = "/var/lib/postgresql/15/main";
        const std::string expected =
            "mkdir -m 700 " + pgdata + " && " + c.tar + data + "/base.tar" + c.suffix + " -C " +
            pgdata + " && mkdir -p " + pgdata + "/pg_wal && " + c.wal_tar + data + "/pg_wal.tar" +
            c.wal_suffix + " -C " + pgdata + "/pg_wal && chmod 700 " + pgdata;
        EXPECT_TRUE(contains(plan.steps[2], expected)) << c.compression << "\n" << plan.steps[2];
        EXPECT_TRUE(contains(plan.script, std::string(c.tar) + "\"$BACKUP\"/data/base.tar" +
                                              c.suffix + " -C \"$PGDATA\"\n"))
            << plan.script;
        EXPECT_FALSE(contains(plan.script, "cp -a")) << plan.script;
    }
}

TEST(PlanScript, AGoodPlansScriptStartsWithSetEuAndItsVariables) {
    const RecoveryPlan plan = good_plan(default_backup(), request_at(kT0 + 5 * kMinute));
    const std::string& s = plan.script;
    EXPECT_EQ(s.rfind("#!/bin/sh\n", 0), 0u);
    const size_t set_eu = s.find("\nset -eu\n");
    ASSERT_NE(set_eu, std::string::npos) << s;
    EXPECT_GT(s.find("exit 1"), set_eu) << s;  // only the guards, after set -eu
    EXPECT_FALSE(contains(s, "PROBLEMS")) << s;
    for (const std::string& line : std::vector<std::string>{
             "PGDATA=/var/lib/postgresql/15/main\n", "BIN=/usr/lib/postgresql/15/bin\n",
             "ARCHIVE=/var/lib/postgresql/15/wal_archive\n",
             "BACKUP=" + default_backup().path + "\n",
             std::string("cp -a \"$BACKUP\"/data \"$PGDATA\"\n"),
             std::string("touch \"$PGDATA/recovery.signal\"\n"),
             std::string("recovery_target_action = 'promote'\n")}) {
        EXPECT_TRUE(contains(s, line)) << line << "\n" << s;
        EXPECT_GT(s.find(line), set_eu) << line;
    }
    EXPECT_FALSE(contains(s, "recovery.conf")) << s;
}

TEST(PlanScript, APlanWithProblemsExitsBeforeAnyAction) {
    const RecoveryPlan plan = plan_recovery({default_backup()}, make_archive(segs(1, 2, 6)),
                                            request_at(kT0 + 20 * kMinute));
    ASSERT_FALSE(plan.ok);
    const std::string& s = plan.script;
    const size_t exit_at = s.find("exit 1\n");
    ASSERT_NE(exit_at, std::string::npos);
    EXPECT_LT(exit_at, s.find("set -eu"));
    EXPECT_LT(exit_at, s.find("pg_ctl"));
    EXPECT_LT(exit_at, s.find("mv "));
    EXPECT_TRUE(contains(s.substr(0, exit_at), "# THIS PLAN HAS PROBLEMS")) << s;
    EXPECT_TRUE(contains(s.substr(0, exit_at), "#   - archive_behind_target: the archive reaches"))
        << s;
}

// ----- running the script for real

using test::exists;
using test::TempDir;
using test::write_file;

void make_dir(const std::string& path) {
    ASSERT_EQ(::mkdir(path.c_str(), 0755), 0) << path;
}

// Runs `sh -c command` and returns its exit status; stdout+stderr go to *output.
int run_shell(const std::string& command, std::string* output) {
    const std::string full = "(" + command + ") 2>&1";
    FILE* pipe = ::popen(full.c_str(), "r");
    if (pipe == nullptr) return -1;
    char buf[4096];
    size_t n;
    output->clear();
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output->append(buf, n);
    const int status = ::pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A tree whose every name holds a space and a single quote:
//   R/bin dir's/pg_ctl         fake: logs its arguments, "status" says "not running" (3)
//                              unless R/running exists
//   R/tools/id                 fake `id` printing 1000 (CI runs as root; the script
//                              refuses root)
//   R/backups/1-it's x/data/   the base backup (plain: PG_VERSION, postmaster.pid; tar:
//                              base.tar and pg_wal.tar)
//   R/wal archive/             the archive
//   R/pg data/it's main/       the current data directory (OLD_FILE)
struct ScriptTree {
    const TempDir root{"recovery_plan_test"};
    std::string bin, tools, backup, archive, parent, pgdata;

    ScriptTree() {
        const std::string& r = root.path();
        bin = r + "/bin dir's";
        tools = r + "/tools";
        backup = r + "/backups/1-it's x";
        archive = r + "/wal archive";
        parent = r + "/pg data";
        pgdata = parent + "/it's main";
        for (const std::string& d :
             {bin, tools, r + "/backups", backup, backup + "/data", archive, parent, pgdata}) {
            make_dir(d);
        }
        write_file(bin + "/pg_ctl",
                   "#!/bin/sh\n"
                   "printf '%s|' \"$@\" >> \"" +
                       r +
                       "/pg_ctl.log\"\n"
                       "echo >> \"" +
                       r +
                       "/pg_ctl.log\"\n"
                       "if [ \"$3\" = status ] && [ ! -e \"" +
                       r +
                       "/running\" ]; then exit 3; fi\n"
                       "exit 0\n",
                   0755);
        write_file(tools + "/id", "#!/bin/sh\necho 1000\n", 0755);
        write_file(pgdata + "/OLD_FILE", "old");
    }

    PlanRequest request() const {
        PlanRequest r = request_at(kT0 + 5 * kMinute);
        r.pgdata = pgdata;
        r.bindir = bin;
        r.archive_dir = archive;
        r.base_backup_root = root.path() + "/backups";
        return r;
    }

    BaseBackupInfo backup_info(const std::string& format) const {
        BaseBackupInfo b = default_backup();
        b.path = backup;
        b.format = format;
        return b;
    }

    int run(const std::string& script, std::string* output) const {
        write_file(root.path() + "/pitr.sh", script, 0755);
        return run_shell(
            "PATH=" + shell_quote(tools) + ":$PATH sh " + shell_quote(root.path() + "/pitr.sh"),
            output);
    }

    std::string pg_ctl_log() const { return read_file(root.path() + "/pg_ctl.log"); }

    // The data directory set aside by the script (exactly one).
    std::vector<std::string> set_aside() const {
        std::vector<std::string> found;
        for (const std::string& name : list_directory(parent)) {
            if (name.rfind("it's main.before-pitr-", 0) == 0) found.push_back(name);
        }
        return found;
    }
};

void expect_recovered_layout(const ScriptTree& t, const RecoveryPlan& plan) {
    EXPECT_TRUE(exists(t.pgdata + "/PG_VERSION"));
    EXPECT_FALSE(exists(t.pgdata + "/OLD_FILE"));
    EXPECT_FALSE(exists(t.pgdata + "/postmaster.pid"));
    EXPECT_TRUE(exists(t.pgdata + "/recovery.signal"));
    struct stat st;
    ASSERT_EQ(::stat(t.pgdata.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    const std::vector<std::string> aside = t.set_aside();
    ASSERT_EQ(aside.size(), 1u);
    EXPECT_TRUE(exists(t.parent + "/" + aside[0] + "/OLD_FILE"));

    const std::string conf = read_file(t.pgdata + "/postgresql.auto.conf");
    EXPECT_EQ(conf.rfind("# kept from the backup\n", 0), 0u) << conf;  // appended, not replaced
    // The paths hold single quotes: doubled for postgresql.conf inside shell quoting.
    const std::string restore = restore_command(t.bin, t.archive);
    EXPECT_TRUE(contains(conf, "restore_command = " + conf_quote(restore) + "\n")) << conf;
    EXPECT_TRUE(contains(conf, "recovery_target_time = '2026-11-29 00:05:00+00'\n")) << conf;
    EXPECT_TRUE(contains(conf, "recovery_target_action = 'promote'\n")) << conf;
    EXPECT_TRUE(contains(conf, "recovery_target_timeline = 'latest'\n")) << conf;
    EXPECT_EQ(plan.base_backup.path, t.backup);

    const std::string log = t.pg_ctl_log();
    EXPECT_TRUE(contains(log, "-D|" + t.pgdata + "|status|")) << log;
    EXPECT_TRUE(contains(log, "-D|" + t.pgdata + "|-l|" + t.parent + "/pitr-restore.log|-W|start|"))
        << log;
}

TEST(PlanScriptRun, RestoresAPlainBackupIntoPathsWithQuotesAndSpaces) {
    ScriptTree t;
    write_file(t.backup + "/data/PG_VERSION", "15\n");
    write_file(t.backup + "/data/postmaster.pid", "12345\n");
    write_file(t.backup + "/data/postgresql.auto.conf", "# kept from the backup\n");
    write_file(t.root.path() + "/running", "");  // the fake server "runs": it is stopped
    const RecoveryPlan plan =
        plan_recovery({t.backup_info("plain")}, make_archive(segs(1, 2, 10)), t.request());
    ASSERT_TRUE(plan.ok);
    std::string output;
    ASSERT_EQ(t.run(plan.script, &output), 0) << output << "\n" << plan.script;
    expect_recovered_layout(t, plan);
    EXPECT_TRUE(contains(t.pg_ctl_log(), "-D|" + t.pgdata + "|stop|-m|fast|"));
    EXPECT_TRUE(contains(output, "tail -f")) << output;
}

TEST(PlanScriptRun, RestoresATarBackup) {
    ScriptTree t;
    const std::string staging = t.root.path() + "/staging";
    make_dir(staging);
    make_dir(staging + "/pg_wal");
    write_file(staging + "/PG_VERSION", "15\n");
    write_file(staging + "/postgresql.auto.conf", "# kept from the backup\n");
    make_dir(t.root.path() + "/walstage");
    write_file(t.root.path() + "/walstage/" + seg_name(1, 2), "wal");
    std::string output;
    ASSERT_EQ(run_shell("tar -cf " + shell_quote(t.backup + "/data/base.tar") + " -C " +
                            shell_quote(staging) + " . && tar -cf " +
                            shell_quote(t.backup + "/data/pg_wal.tar") + " -C " +
                            shell_quote(t.root.path() + "/walstage") + " .",
                        &output),
              0)
        << output;
    BaseBackupInfo b = t.backup_info("tar");
    const RecoveryPlan plan = plan_recovery({b}, make_archive(segs(1, 2, 10)), t.request());
    ASSERT_TRUE(plan.ok);
    ASSERT_EQ(t.run(plan.script, &output), 0) << output << "\n" << plan.script;
    expect_recovered_layout(t, plan);
    EXPECT_TRUE(exists(t.pgdata + "/pg_wal/" + seg_name(1, 2)));
    EXPECT_FALSE(contains(t.pg_ctl_log(), "stop"));  // the server was not running
}

TEST(PlanScriptRun, TheScriptOfAPlanWithProblemsChangesNothing) {
    ScriptTree t;
    write_file(t.backup + "/data/PG_VERSION", "15\n");
    const RecoveryPlan plan =
        plan_recovery({t.backup_info("plain")}, make_archive(segs(1, 2, 3)), t.request());
    ASSERT_FALSE(plan.ok);
    std::string output;
    EXPECT_EQ(t.run(plan.script, &output), 1) << output;
    EXPECT_TRUE(contains(output, "this recovery plan has problems")) << output;
    EXPECT_TRUE(contains(output, "archive_behind_target")) << output;
    EXPECT_TRUE(exists(t.pgdata + "/OLD_FILE"));
    EXPECT_TRUE(t.set_aside().empty());
    EXPECT_FALSE(exists(t.root.path() + "/pg_ctl.log"));
}

TEST(PlanScriptRun, RefusesToRunAsRoot) {
    ScriptTree t;
    write_file(t.tools + "/id", "#!/bin/sh\necho 0\n", 0755);
    write_file(t.backup + "/data/PG_VERSION", "15\n");
    const RecoveryPlan plan =
        plan_recovery({t.backup_info("plain")}, make_archive(segs(1, 2, 10)), t.request());
    std::string output;
    EXPECT_EQ(t.run(plan.script, &output), 1) << output;
    EXPECT_TRUE(contains(output, "not as root")) << output;
    EXPECT_TRUE(exists(t.pgdata + "/OLD_FILE"));
}

// ---------------------------------------------------------------------------------------
// Quoting

// What sh makes of a quoted word.
std::string shell_word_value(const std::string& quoted) {
    std::string output;
    EXPECT_EQ(run_shell("printf '%s' " + quoted, &output), 0) << quoted;
    return output;
}

TEST(Quoting, ShellQuoteLeavesSafeWordsAndQuotesTheRest) {
    EXPECT_EQ(shell_quote("/var/lib/postgresql/15/main"), "/var/lib/postgresql/15/main");
    EXPECT_EQ(shell_quote("a-b_c.d,e:f=g+h@i%j"), "a-b_c.d,e:f=g+h@i%j");
    EXPECT_EQ(shell_quote(""), "''");
    EXPECT_EQ(shell_quote("/srv/pg data"), "'/srv/pg data'");
    EXPECT_EQ(shell_quote("/srv/it's here"), "'/srv/it'\\''s here'");
    EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
}

TEST(Quoting, ShellQuotedWordsReadBackExactlyInSh) {
    for (const std::string& text :
         {std::string("/srv/it's a \"dir\" with spaces"), std::string("''"),
          std::string("$(touch /tmp/recovery_plan_test_pwned) `x` ${y} \\ * ? ~ # ; & | < >"),
          std::string("tab\there"), std::string("-n"), std::string("'")}) {
        EXPECT_EQ(shell_word_value(shell_quote(text)), text) << text;
    }
    EXPECT_FALSE(exists("/tmp/recovery_plan_test_pwned"));
}

TEST(Quoting, ConfQuoteDoublesQuotesAndBackslashes) {
    EXPECT_EQ(conf_quote("latest"), "'latest'");
    EXPECT_EQ(conf_quote("it's"), "'it''s'");
    EXPECT_EQ(conf_quote("a\\b"), "'a\\\\b'");
    EXPECT_EQ(conf_quote(""), "''");
}

TEST(Quoting, RestoreCommandRunsInShWithTheRightArguments) {
    const TempDir root("recovery_plan_test");
    const std::string bin = root.path() + "/bin it's 100%";
    const std::string archive = root.path() + "/wal \"archive\" %f";
    make_dir(bin);
    write_file(bin + "/infra_ext_ctl", "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n",
               0755);
    const std::string command = restore_command(bin, archive);
    // PostgreSQL's substitution: %f -> file name, %p -> path, %% -> %.
    std::string substituted;
    for (size_t i = 0; i < command.size(); ++i) {
        if (command[i] == '%' && i + 1 < command.size()) {
            const char next = command[++i];
            if (next == 'f') {
                substituted += "000000010000000000000002";
            } else if (next == 'p') {
                substituted += "pg_wal/RECOVERYXLOG";
            } else {
                substituted += next;
            }
        } else {
            substituted += command[i];
        }
    }
    std::string output;
    ASSERT_EQ(run_shell(substituted, &output), 0) << command << "\n" << output;
    EXPECT_EQ(output,
              "[archive-get]\n[--archive]\n[" + archive +
                  "]\n[--prefetch]\n[4]\n[000000010000000000000002]\n[pg_wal/RECOVERYXLOG]\n")
        << command;
}

// ---------------------------------------------------------------------------------------
// JSON

TEST(PlanJson, HoldsEveryDocumentedKey) {
    BaseBackupInfo b = default_backup();
    b.system_identifier = 18446744073709551000ull;
    const RecoveryPlan plan =
        plan_recovery({b}, make_archive(segs(1, 2, 10)), request_at(kT0 + 6 * kMinute + 500000));
    const json j = json::parse(recovery_plan_to_json(plan));
    EXPECT_EQ(j.at("ok"), true);
    EXPECT_TRUE(j.at("problems").is_array() && j.at("problems").empty());
    EXPECT_EQ(j.at("target_time"), "2026-11-29T00:06:00.500000Z");
    const json& bb = j.at("base_backup");
    EXPECT_EQ(bb.at("id"), 1);
    EXPECT_EQ(bb.at("label"), "base backup 1");
    EXPECT_EQ(bb.at("path"), b.path);
    EXPECT_EQ(bb.at("format"), "plain");
    EXPECT_EQ(bb.at("compression"), "none");
    EXPECT_EQ(bb.at("timeline"), 1);
    EXPECT_EQ(bb.at("start_lsn"), "0/2000028");
    EXPECT_EQ(bb.at("stop_lsn"), "0/3000138");
    EXPECT_EQ(bb.at("start_time"), "2026-11-29T00:02:30Z");
    EXPECT_EQ(bb.at("stop_time"), "2026-11-29T00:03:00Z");
    EXPECT_EQ(bb.at("system_identifier"), "18446744073709551000");
    const json& wal = j.at("wal");
    EXPECT_EQ(wal.at("timelines"), json::array({1}));
    EXPECT_EQ(wal.at("first_segment"), seg_name(1, 2));
    EXPECT_EQ(wal.at("last_segment"), seg_name(1, 7));
    EXPECT_EQ(wal.at("segments_needed"), 6);
    EXPECT_EQ(j.at("missing_segments"), json::array());
    EXPECT_EQ(j.at("missing_count"), 0);
    EXPECT_EQ(j.at("archive_reaches"), "2026-11-29T00:10:00Z");
    EXPECT_EQ(j.at("archive_reaches_segment"), seg_name(1, 10));
    EXPECT_EQ(j.at("steps").size(), plan.steps.size());
    EXPECT_EQ(j.at("script"), plan.script);
}

TEST(PlanJson, UnknownValuesAreNullAndProblemsListed) {
    const RecoveryPlan plan = plan_recovery({default_backup()}, make_archive(segs(1, 3, 4)),
                                            request_at(kT0 + 20 * kMinute));
    const json j = json::parse(recovery_plan_to_json(plan));
    EXPECT_EQ(j.at("ok"), false);
    ASSERT_EQ(j.at("problems").size(), 1u);
    EXPECT_EQ(j.at("problems")[0].at("code"), "missing_segments");
    EXPECT_EQ(j.at("problems")[0].at("message"), plan.problems[0].message);
    EXPECT_TRUE(j.at("wal").at("last_segment").is_null());
    EXPECT_EQ(j.at("wal").at("segments_needed"), 0);
    EXPECT_TRUE(j.at("archive_reaches").is_null());
    EXPECT_TRUE(j.at("archive_reaches_segment").is_null());
    EXPECT_EQ(j.at("missing_segments"), json::array({seg_name(1, 2)}));
    EXPECT_EQ(j.at("missing_count"), 1);
}

// ---------------------------------------------------------------------------------------
// Timestamps

constexpr int64_t kBase = 1795921445LL * kSecond;  // 2026-11-29T03:04:05Z

TEST(Timestamps, ParsesEveryDocumentedForm) {
    const std::vector<std::pair<std::string, int64_t>> cases = {
        {"2026-11-29 03:04:05Z", kBase},
        {"2026-11-29T03:04:05Z", kBase},
        {"2026-11-29t03:04:05z", kBase},
        {"2026-11-29T03:04:05.123456Z", kBase + 123456},
        {"2026-11-29 03:04:05.5Z", kBase + 500000},
        {"2026-11-29 03:04:05.000001+00", kBase + 1},
        {"2026-11-29 03:04:05 UTC", kBase},
        {"2026-11-29 03:04:05utc", kBase},
        {"2026-11-29 03:04:05+00", kBase},
        {"2026-11-29 03:04:05+00:00", kBase},
        {"2026-11-29 03:04:05-00", kBase},
        {"2026-11-29 04:04:05+01", kBase},
        {"2026-11-29 04:04:05 +01", kBase},
        {"2026-11-29 08:34:05+05:30", kBase},
        {"2026-11-29 08:34:05+0530", kBase},
        {"2026-11-28 21:34:05-05:30", kBase},
        {"2026-11-28 21:34:05-0530", kBase},
        {"2026-11-28 12:04:05-15", kBase},
        {"2026-11-29 03:04Z", kBase - 5 * kSecond},
        {"2026-11-29 03:04+00", kBase - 5 * kSecond},
        {"  2026-11-29 03:04:05Z \t", kBase},
        {"2026-11-29Z", 1795910400LL * kSecond},
        {"2026-11-29 UTC", 1795910400LL * kSecond},
        {"2026-11-29+01", 1795910400LL * kSecond - kHour},
        {"2024-02-29 00:00Z", 1709164800LL * kSecond},
        {"2000-02-29 00:00:00Z", 951782400LL * kSecond},
        {"1970-01-01Z", 0},
        {"2038-01-19 03:14:08Z", 2147483648LL * kSecond},
        {"9999-12-31 23:59:59.999999Z", 253402300799LL * kSecond + 999999},
    };
    for (const auto& [text, expected] : cases) {
        try {
            EXPECT_EQ(parse_timestamp_unix_us(text), expected) << text;
        } catch (const Error& e) {
            ADD_FAILURE() << text << ": " << e.what();
        }
    }
}

TEST(Timestamps, UsesTheDefaultOffsetOnlyWithoutAZone) {
    EXPECT_EQ(parse_timestamp_unix_us("2026-11-29 03:04:05", 0), kBase);
    EXPECT_EQ(parse_timestamp_unix_us("2026-11-29 04:04:05", 3600), kBase);
    EXPECT_EQ(parse_timestamp_unix_us("2026-11-29 02:04:05", -3600), kBase);
    EXPECT_EQ(parse_timestamp_unix_us("2026-11-29", 3600), 1795910400LL * kSecond - kHour);
    EXPECT_EQ(parse_timestamp_unix_us("2026-11-29 03:04:05Z", 3600), kBase);
    EXPECT_EQ(parse_timestamp_unix_us("2026-11-29 05:04:05+02", -7200), kBase);
}

TEST(Timestamps, RefusesATimestampWithoutAZone) {
    for (const std::string text : {"2026-11-29 03:04:05", "2026-11-29", "2026-11-29T03:04"}) {
        const std::string message = refusal([&] { parse_timestamp_unix_us(text); });
        EXPECT_TRUE(contains(message, "\"" + text + "\"")) << message;
        EXPECT_TRUE(contains(message, "add a time zone, e.g. \"" + text + "+00\"")) << message;
    }
}

TEST(Timestamps, RefusesMalformedAndOutOfRangeText) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "empty"},
        {"   ", "empty"},
        {"yesterday", "4-digit year"},
        {"26-11-29Z", "4-digit year"},
        {"20261-11-29Z", "4-digit year"},
        {"2026/11/29 03:04:05Z", "'-' after the year"},
        {"2026-1-29Z", "2-digit month"},
        {"2026-11-9Z", "2-digit day"},
        {"2026-13-01Z", "month 13 is out of range"},
        {"2026-00-10Z", "month 0 is out of range"},
        {"2026-11-00Z", "day 0 of 2026-11 is out of range"},
        {"2026-02-29Z", "day 29 of 2026-02 is out of range"},
        {"2100-02-29Z", "day 29 of 2100-02 is out of range"},
        {"2026-04-31Z", "day 31 of 2026-04 is out of range"},
        {"2026-11-29 24:00Z", "hour 24 is out of range"},
        {"2026-11-29 23:60Z", "minute 60 is out of range"},
        {"2026-11-29 23:59:60Z", "second 60 is out of range"},
        {"1969-12-31 23:59:59Z", "year 1969"},
        {"0999-01-01Z", "year 999"},
        {"2026-11-29 3:04:05Z", "2-digit hour"},
        {"2026-11-29 03Z", "':' after the hour"},
        {"2026-11-29 03:4Z", "2-digit minutes"},
        {"2026-11-29 03:04:5Z", "2-digit seconds"},
        {"2026-11-29 03:04:05.Z", "digits after '.'"},
        {"2026-11-29 03:04:05.1234567Z", "more than 6 digits"},
        {"2026-11-29 03:04:05 CET", "unknown time zone \"CET\""},
        {"2026-11-29 03:04:05 Europe/Paris", "unknown time zone"},
        {"2026-11-29 03:04:05+16", "out of range (-15:59 to +15:59)"},
        {"2026-11-29 03:04:05+05:60", "out of range"},
        {"2026-11-29 03:04:05+5", "expected a zone"},
        {"2026-11-29 03:04:05+123", "expected a zone"},
        {"2026-11-29 03:04:05+12345", "expected a zone"},
        {"2026-11-29 03:04:05+01:0", "zone minutes"},
        {"2026-11-29 03:04:05+01:00:00", "unexpected \":00\""},
        {"2026-11-29 03:04:05Zjunk", "unknown time zone"},
        {"2026-11-29 03:04:05Z Z", "unknown time zone"},
        {"2026-11-29T", "unknown time zone \"T\""},
        {"2026-11-29  03:04:05Z", "unknown time zone"},
    };
    for (const auto& [text, reason] : cases) {
        const std::string message = refusal([&] { parse_timestamp_unix_us(text, 0); });
        EXPECT_TRUE(contains(message, "\"" + text + "\"")) << text << ": " << message;
        EXPECT_TRUE(contains(message, reason)) << text << ": " << message;
    }
}

TEST(Timestamps, FormatsWithAndWithoutFraction) {
    EXPECT_EQ(format_timestamp_unix_us(kBase), "2026-11-29T03:04:05Z");
    EXPECT_EQ(format_timestamp_unix_us(kBase + 123456), "2026-11-29T03:04:05.123456Z");
    EXPECT_EQ(format_timestamp_unix_us(kBase + 1), "2026-11-29T03:04:05.000001Z");
    EXPECT_EQ(format_timestamp_unix_us(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(postgres_timestamp_unix_us(kBase + 123456), "2026-11-29 03:04:05.123456+00");
    EXPECT_EQ(postgres_timestamp_unix_us(kBase), "2026-11-29 03:04:05+00");
    EXPECT_EQ(postgres_timestamp_unix_us(951782400LL * kSecond + 999999),
              "2000-02-29 00:00:00.999999+00");
}

TEST(Timestamps, FormattedTimesParseBackExactly) {
    std::mt19937_64 rng(20261129);
    std::vector<int64_t> samples = {
        0, 1, 999999, kBase, 951782400LL * kSecond - 1, 253402300799LL * kSecond + 999999};
    for (int i = 0; i < 2000; ++i) {
        samples.push_back(static_cast<int64_t>(rng() % (253402300800ull * 1000000)));
    }
    for (int64_t us : samples) {
        EXPECT_EQ(parse_timestamp_unix_us(format_timestamp_unix_us(us)), us) << us;
        EXPECT_EQ(parse_timestamp_unix_us(postgres_timestamp_unix_us(us)), us) << us;
    }
}

}  // namespace
// With newest_transaction_in (pg_waldump in production), the archive's reach is its
// newest transaction end: a target at or after it is refused, one before it is fine,
// and no transaction in the newest segments makes the reach unknown (a problem, not a
// guess from archive times).
TEST(PlanReach, MeasuredByTheNewestArchivedTransaction) {
    const ArchiveScan archive = make_archive(segs(1, 2, 9));
    std::vector<std::string> asked;
    PlanRequest request = request_at(kT0 + 6 * kMinute);
    request.newest_transaction_in = [&](const ArchivedWalFile& f) -> std::optional<int64_t> {
        asked.push_back(f.name);
        if (f.parsed.segno == 8) return kT0 + 7 * kMinute;  // segment 9 holds none
        return std::nullopt;
    };
    const RecoveryPlan fine = plan_recovery({default_backup()}, archive, request);
    EXPECT_TRUE(fine.ok);
    EXPECT_EQ(fine.archive_reaches_by, "transaction");
    EXPECT_EQ(fine.archive_reaches_unix_us, kT0 + 7 * kMinute);
    EXPECT_EQ(fine.archive_reaches_segment, seg_name(1, 8));
    EXPECT_EQ(asked, (std::vector<std::string>{seg_name(1, 9), seg_name(1, 8)}));

    request.target_time_unix_us = kT0 + 7 * kMinute;  // not before the last commit
    const RecoveryPlan behind = plan_recovery({default_backup()}, archive, request);
    EXPECT_FALSE(behind.ok);
    ASSERT_EQ(behind.problems.size(), 1u);
    EXPECT_EQ(behind.problems[0].code, "archive_behind_target");
    EXPECT_TRUE(contains(behind.problems[0].message, "newest transaction"));

    request.target_time_unix_us = kT0 + 6 * kMinute;
    request.newest_transaction_in = [](const ArchivedWalFile&) -> std::optional<int64_t> {
        return std::nullopt;
    };
    const RecoveryPlan unknown = plan_recovery({default_backup()}, archive, request);
    EXPECT_FALSE(unknown.ok);
    ASSERT_EQ(unknown.problems.size(), 1u);
    EXPECT_EQ(unknown.problems[0].code, "archive_reach_unknown");
}

}  // namespace infra::core
