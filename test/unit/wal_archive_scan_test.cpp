// wal_archive_scan_test.cpp: scanning a WAL archive directory (src/core/wal_archive_scan.*)
// and reading whole archived files (read_archived_file in src/core/wal_archive.*), on real
// archives written by archive_wal_file in mkdtemp directories (small fake segments: the
// container does not check sizes). Covers: sorting by (segno, timeline); sizes, mtimes
// (set with utimensat) and byte totals; .history / .backup / .partial classification and
// decoded histories; temporary and foreign entries; corrupt containers and undecodable
// histories listed as unreadable, not thrown; other segment sizes; missing or non-directory
// archive paths; gaps per timeline (listing cap, counts), missing_segments over a range,
// last_contiguous_segno, find_segment; read_archived_file round trips with every
// compression, a flipped payload byte, truncation, a non-container and a missing file.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/wal_archive.hpp"
#include "core/wal_archive_scan.hpp"
#include "core/wal_names.hpp"
#include "refusal.hpp"
#include "test_files.hpp"

namespace infra::core {
namespace {

namespace fs = std::filesystem;
using infra::test::file_contents;
using infra::test::random_bytes;
using infra::test::refusal;
using infra::test::write_file;

constexpr uint64_t k16MB = 16 * 1024 * 1024;
constexpr uint64_t k1GB = 1024 * 1024 * 1024;
constexpr size_t kHeaderSize = 32;
const WalCompression kAllCompressions[] = {WalCompression::kOff, WalCompression::kZstd,
                                           WalCompression::kLz4};

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// Bytes that compress well but are not all alike.
std::string fake_segment(size_t n, uint64_t seed) {
    std::string s(n, '\0');
    const std::string text = "INSERT INTO t VALUES (" + std::to_string(seed) + ");";
    for (size_t i = 0; i + text.size() <= n / 2; i += text.size()) s.replace(i, text.size(), text);
    return s;
}

// (timeline, segno) of each segment in scan order.
std::vector<std::pair<uint32_t, uint64_t>> segment_keys(const ArchiveScan& scan) {
    std::vector<std::pair<uint32_t, uint64_t>> keys;
    for (const ArchivedWalFile& f : scan.segments) {
        keys.emplace_back(f.parsed.timeline, f.parsed.segno);
    }
    return keys;
}

std::vector<std::string> names_of(const std::vector<ArchivedWalFile>& files) {
    std::vector<std::string> names;
    for (const ArchivedWalFile& f : files) names.push_back(f.name);
    return names;
}

// A fresh mkdtemp directory with archive/ and src/ inside, removed at the end.
class WalArchiveScanTest : public ::testing::Test {
  protected:
    void SetUp() override {
        fs::create_directories(archive_);
        fs::create_directories(src_);
    }

    // Writes bytes as src/<name> and archives it under name.
    ArchiveOutcome archive(const std::string& name, const std::string& bytes,
                           WalCompression compression = WalCompression::kOff) {
        const std::string source = src_ + "/" + name;
        write_file(source, bytes);
        return archive_wal_file(source, name, archive_, compression);
    }

    // Archives a small fake segment (timeline, segno) with 16 MB naming.
    void archive_segment(uint32_t timeline, uint64_t segno,
                         WalCompression compression = WalCompression::kOff) {
        archive(wal_segment_name(timeline, segno, k16MB), fake_segment(4096, segno), compression);
    }

    // Writes a file straight into the archive directory (not a container).
    void put_raw(const std::string& name, const std::string& bytes) {
        write_file(archive_ + "/" + name, bytes);
    }

    void set_mtime(const std::string& name, time_t seconds, long nanoseconds) {
        const struct timespec times[2] = {{seconds, nanoseconds}, {seconds, nanoseconds}};
        ASSERT_EQ(::utimensat(AT_FDCWD, (archive_ + "/" + name).c_str(), times, 0), 0) << name;
    }

    int64_t size_on_disk(const std::string& name) const {
        return static_cast<int64_t>(fs::file_size(archive_ + "/" + name));
    }

    const infra::test::TempDir tmp_{"wal_archive_scan"};
    const std::string dir_ = tmp_.path();
    const std::string archive_ = dir_ + "/archive";
    const std::string src_ = dir_ + "/src";
};

// An archive with gaps on two timelines, for the query tests:
//   timeline 1: 1 2 3 . . 6 7 . . 10
//   timeline 2:               8 9 . 11
class WalArchiveGapsTest : public WalArchiveScanTest {
  protected:
    void SetUp() override {
        WalArchiveScanTest::SetUp();
        for (uint64_t segno : {1, 2, 3, 6, 7, 10}) archive_segment(1, segno);
        for (uint64_t segno : {8, 9, 11}) archive_segment(2, segno);
        scan_ = scan_wal_archive(archive_);
        ASSERT_EQ(scan_.segments.size(), 9u);
    }

    ArchiveScan scan_;
};

// ---- scanning ----

TEST_F(WalArchiveScanTest, AnEmptyArchiveScansToNothing) {
    const ArchiveScan scan = scan_wal_archive(archive_);
    EXPECT_EQ(scan.dir, archive_);
    EXPECT_EQ(scan.segment_size, k16MB);
    EXPECT_TRUE(scan.segments.empty());
    EXPECT_TRUE(scan.history_files.empty());
    EXPECT_TRUE(scan.backup_history_files.empty());
    EXPECT_TRUE(scan.partial_files.empty());
    EXPECT_TRUE(scan.temporary_files.empty());
    EXPECT_TRUE(scan.foreign_files.empty());
    EXPECT_TRUE(scan.unreadable_files.empty());
    EXPECT_TRUE(scan.histories.empty());
    EXPECT_EQ(scan.stored_bytes, 0);
    EXPECT_EQ(scan.original_bytes, 0);
    EXPECT_TRUE(segments_by_timeline(scan).empty());
}

TEST_F(WalArchiveScanTest, SegmentsAreSortedBySegnoThenTimelineNotByName) {
    // Name order would be 1/3, 1/5, 1/0x100, 2/2, 2/5.
    archive_segment(2, 5);
    archive_segment(1, 0x100);
    archive_segment(1, 5);
    archive_segment(2, 2);
    archive_segment(1, 3);
    const ArchiveScan scan = scan_wal_archive(archive_);
    const std::vector<std::pair<uint32_t, uint64_t>> expected = {
        {2, 2}, {1, 3}, {1, 5}, {2, 5}, {1, 0x100}};
    EXPECT_EQ(segment_keys(scan), expected);
    EXPECT_EQ(scan.segments.back().name, "000000010000000100000000");
    for (const ArchivedWalFile& f : scan.segments) {
        EXPECT_EQ(f.parsed.kind, WalFileKind::kSegment);
        EXPECT_EQ(f.name, wal_segment_name(f.parsed.timeline, f.parsed.segno, k16MB));
    }
}

TEST_F(WalArchiveScanTest, RecordsSizesMtimesAndByteTotals) {
    const std::string plain = wal_segment_name(1, 1, k16MB);
    const std::string packed = wal_segment_name(1, 2, k16MB);
    const std::string data = fake_segment(100000, 1);
    const ArchiveOutcome plain_outcome = archive(plain, data, WalCompression::kOff);
    const ArchiveOutcome packed_outcome = archive(packed, data, WalCompression::kZstd);
    set_mtime(plain, 1700000000, 123456789);
    set_mtime(packed, 1700000100, 999);
    const ArchiveScan scan = scan_wal_archive(archive_);
    ASSERT_EQ(scan.segments.size(), 2u);
    const ArchivedWalFile& a = scan.segments[0];
    const ArchivedWalFile& b = scan.segments[1];
    EXPECT_EQ(a.name, plain);
    EXPECT_EQ(a.original_bytes, 100000);
    EXPECT_EQ(a.stored_bytes, 100000 + static_cast<int64_t>(kHeaderSize));
    EXPECT_EQ(a.stored_bytes, size_on_disk(plain));
    EXPECT_EQ(a.mtime_unix_us, 1700000000123456);
    EXPECT_EQ(b.name, packed);
    EXPECT_EQ(b.original_bytes, 100000);
    EXPECT_EQ(b.stored_bytes, packed_outcome.stored_bytes);
    EXPECT_EQ(b.stored_bytes, size_on_disk(packed));
    EXPECT_LT(b.stored_bytes, a.stored_bytes / 2);
    EXPECT_EQ(b.mtime_unix_us, 1700000100000000);
    EXPECT_EQ(scan.original_bytes, 200000);
    EXPECT_EQ(scan.stored_bytes, plain_outcome.stored_bytes + packed_outcome.stored_bytes);
}

TEST_F(WalArchiveScanTest, MtimesBeforeTheEpochRoundDown) {
    const std::string name = wal_segment_name(1, 1, k16MB);
    archive(name, "x");
    set_mtime(name, -2, 500000000);  // 1.5 s before the epoch
    EXPECT_EQ(scan_wal_archive(archive_).segments.at(0).mtime_unix_us, -1500000);
}

TEST_F(WalArchiveScanTest, ClassifiesHistoryBackupAndPartialFiles) {
    const std::string history2 = "1\t0/3000158\tno recovery target specified\n";
    const std::string history3 = history2 + "2\t0/5000000\tbefore 2026-01-01 00:00:00+00\n";
    const std::string backup = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n";
    archive("00000003.history", history3, WalCompression::kZstd);
    archive("00000002.history", history2, WalCompression::kLz4);
    archive("000000010000000000000002.00000028.backup", backup);
    archive("000000020000000000000005.partial", fake_segment(5000, 5), WalCompression::kLz4);
    archive("000000010000000000000005.partial", fake_segment(5000, 6));
    archive_segment(1, 4);
    const ArchiveScan scan = scan_wal_archive(archive_);

    EXPECT_EQ(names_of(scan.history_files),
              (std::vector<std::string>{"00000002.history", "00000003.history"}));
    EXPECT_EQ(scan.history_files[0].parsed.kind, WalFileKind::kHistory);
    EXPECT_EQ(scan.history_files[0].parsed.timeline, 2u);
    EXPECT_EQ(scan.history_files[1].parsed.timeline, 3u);
    EXPECT_EQ(scan.history_files[1].original_bytes, static_cast<int64_t>(history3.size()));
    EXPECT_EQ(scan.history_files[1].stored_bytes, size_on_disk("00000003.history"));

    ASSERT_EQ(scan.backup_history_files.size(), 1u);
    const ArchivedWalFile& b = scan.backup_history_files[0];
    EXPECT_EQ(b.name, "000000010000000000000002.00000028.backup");
    EXPECT_EQ(b.parsed.kind, WalFileKind::kBackupHistory);
    EXPECT_EQ(b.parsed.timeline, 1u);
    EXPECT_EQ(b.parsed.segno, 2u);
    EXPECT_EQ(b.original_bytes, static_cast<int64_t>(backup.size()));

    EXPECT_EQ(names_of(scan.partial_files),
              (std::vector<std::string>{"000000010000000000000005.partial",
                                        "000000020000000000000005.partial"}));
    EXPECT_EQ(scan.partial_files[1].parsed.kind, WalFileKind::kPartial);
    EXPECT_EQ(scan.partial_files[1].parsed.timeline, 2u);
    EXPECT_EQ(scan.partial_files[1].parsed.segno, 5u);

    // Partial files are not segments: only 1/4 is.
    EXPECT_EQ(segment_keys(scan), (std::vector<std::pair<uint32_t, uint64_t>>{{1, 4}}));
    EXPECT_TRUE(scan.foreign_files.empty());
    EXPECT_TRUE(scan.unreadable_files.empty());

    // Every valid file counts in the totals.
    int64_t stored = 0;
    for (const auto& entry : fs::directory_iterator(archive_)) {
        stored += static_cast<int64_t>(entry.file_size());
    }
    EXPECT_EQ(scan.stored_bytes, stored);
    EXPECT_EQ(scan.original_bytes, static_cast<int64_t>(history2.size() + history3.size() +
                                                        backup.size() + 5000 + 5000 + 4096));
}

TEST_F(WalArchiveScanTest, DecodesTimelineHistories) {
    archive("00000002.history", "1\t0/3000158\tno recovery target specified\n");
    archive("00000003.history",
            "1\t0/3000158\tno recovery target specified\n"
            "\n"
            "2\t0/5000000\tat restore point \"x\"\n",
            WalCompression::kZstd);
    archive("00000005.history", "# only a comment\n", WalCompression::kLz4);
    const ArchiveScan scan = scan_wal_archive(archive_);
    ASSERT_EQ(scan.histories.size(), 3u);
    ASSERT_EQ(scan.histories.at(2).size(), 1u);
    EXPECT_EQ(scan.histories.at(2)[0].parent, 1u);
    EXPECT_EQ(scan.histories.at(2)[0].switch_lsn, 0x3000158u);
    ASSERT_EQ(scan.histories.at(3).size(), 2u);
    EXPECT_EQ(scan.histories.at(3)[0].parent, 1u);
    EXPECT_EQ(scan.histories.at(3)[1].parent, 2u);
    EXPECT_EQ(scan.histories.at(3)[1].switch_lsn, 0x5000000u);
    EXPECT_TRUE(scan.histories.at(5).empty());
    EXPECT_EQ(scan.histories.count(1), 0u);
}

TEST_F(WalArchiveScanTest, TemporaryAndForeignFilesAreListedApart) {
    archive_segment(1, 3);
    for (const char* temporary : {"000000010000000000000003.tmp.123.4", "00000002.history.tmp.9.0",
                                  "000000010000000000000005.partial.tmp.77.12",
                                  "000000010000000000000002.00000028.backup.tmp.1.1"}) {
        put_raw(temporary, "half-written");
    }
    for (const char* foreign :
         {"README", "000000010000000000000003.tmp", "garbage.tmp.1.2", "00000001000000000000000a",
          "00000001000000000000000a.tmp.1.2", "0000000100000000000003", "000000000000000000000001",
          "000000010000000000000003.gz", ".hidden"}) {
        put_raw(foreign, "not an archive file");
    }
    fs::create_directories(archive_ + "/archive_status");
    const ArchiveScan scan = scan_wal_archive(archive_);
    EXPECT_EQ(scan.temporary_files,
              (std::vector<std::string>{"000000010000000000000002.00000028.backup.tmp.1.1",
                                        "000000010000000000000003.tmp.123.4",
                                        "000000010000000000000005.partial.tmp.77.12",
                                        "00000002.history.tmp.9.0"}));
    EXPECT_EQ(scan.foreign_files,
              (std::vector<std::string>{
                  ".hidden", "000000000000000000000001", "000000010000000000000003.gz",
                  "000000010000000000000003.tmp", "00000001000000000000000a",
                  "00000001000000000000000a.tmp.1.2", "0000000100000000000003", "README",
                  "archive_status", "garbage.tmp.1.2"}));
    EXPECT_EQ(segment_keys(scan), (std::vector<std::pair<uint32_t, uint64_t>>{{1, 3}}));
    EXPECT_TRUE(scan.unreadable_files.empty());
    EXPECT_EQ(scan.stored_bytes, size_on_disk("000000010000000000000003"));
    EXPECT_EQ(scan.original_bytes, 4096);
}

TEST_F(WalArchiveScanTest, CorruptFilesAreListedAsUnreadableNotThrown) {
    archive_segment(1, 1);
    // Not a container at all.
    put_raw("000000010000000000000002", "raw WAL copied in by hand");
    // A container whose header was damaged.
    archive_segment(1, 3);
    {
        std::string bytes = file_contents(archive_ + "/000000010000000000000003");
        bytes[20] ^= 0x01;  // the original size: the header CRC no longer matches
        put_raw("000000010000000000000003", bytes);
    }
    // A truncated container (its header is intact, its size is not).
    archive_segment(1, 4);
    fs::resize_file(archive_ + "/000000010000000000000004", 100);
    // A directory with a segment's name.
    fs::create_directories(archive_ + "/000000010000000000000005");
    // A history file whose container is fine but whose content is not a history ...
    archive("00000002.history", "this is not a timeline history\n");
    // ... and one whose payload is damaged.
    archive("00000003.history", "1\t0/3000158\tno recovery target specified\n");
    {
        std::string bytes = file_contents(archive_ + "/00000003.history");
        bytes[kHeaderSize + 2] ^= 0x20;
        put_raw("00000003.history", bytes);
    }
    archive_segment(1, 6);

    ArchiveScan scan;
    ASSERT_NO_THROW(scan = scan_wal_archive(archive_));
    ASSERT_EQ(scan.unreadable_files.size(), 6u);
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"000000010000000000000002: ", "is not an infra_ext WAL archive file"},
        {"000000010000000000000003: ", "header CRC-32C mismatch"},
        {"000000010000000000000004: ", "does not match the 4096 uncompressed bytes"},
        {"000000010000000000000005: ", "is not a regular file"},
        {"00000002.history: ", "invalid timeline history: line 1"},
        {"00000003.history: ", "CRC-32C mismatch"},
    };
    for (size_t i = 0; i < expected.size(); ++i) {
        const std::string& entry = scan.unreadable_files[i];
        EXPECT_EQ(entry.rfind(expected[i].first, 0), 0u) << entry;
        EXPECT_TRUE(contains(entry, expected[i].second)) << entry;
    }
    // Unreadable files are in no other list, nor in the totals or histories.
    EXPECT_EQ(segment_keys(scan), (std::vector<std::pair<uint32_t, uint64_t>>{{1, 1}, {1, 6}}));
    EXPECT_TRUE(scan.history_files.empty());
    EXPECT_TRUE(scan.histories.empty());
    EXPECT_TRUE(scan.foreign_files.empty());
    EXPECT_EQ(scan.original_bytes, 2 * 4096);
    EXPECT_EQ(scan.stored_bytes, 2 * (4096 + static_cast<int64_t>(kHeaderSize)));
    // The gap left by the unreadable segments shows.
    EXPECT_EQ(last_contiguous_segno(scan, 1, 1), 1u);
}

TEST_F(WalArchiveScanTest, SegmentNumbersFollowTheSegmentSize) {
    archive("000000010000000100000003", "a");
    archive("000000010000000000000004", "b");                  // out of range for 1 GB segments
    archive("000000010000000000000002.01000000.backup", "c");  // offset 16 MB
    const ArchiveScan big = scan_wal_archive(archive_, k1GB);
    EXPECT_EQ(big.segment_size, k1GB);
    EXPECT_EQ(segment_keys(big), (std::vector<std::pair<uint32_t, uint64_t>>{{1, 7}}));
    EXPECT_EQ(big.foreign_files, (std::vector<std::string>{"000000010000000000000004"}));
    EXPECT_EQ(big.backup_history_files.size(), 1u);
    const ArchiveScan usual = scan_wal_archive(archive_);
    EXPECT_EQ(segment_keys(usual),
              (std::vector<std::pair<uint32_t, uint64_t>>{{1, 4}, {1, 0x103}}));
    EXPECT_EQ(usual.foreign_files,
              (std::vector<std::string>{"000000010000000000000002.01000000.backup"}));
    EXPECT_TRUE(contains(refusal([&] { scan_wal_archive(archive_, 12345); }),
                         "invalid WAL segment size 12345"));
}

TEST_F(WalArchiveScanTest, AMissingDirectoryIsAClearError) {
    const std::string missing = dir_ + "/no_such_archive";
    const std::string message = refusal([&] { scan_wal_archive(missing); });
    EXPECT_EQ(message,
              "could not scan WAL archive directory " + missing + ": No such file or directory");
    write_file(dir_ + "/plain_file", "x");
    EXPECT_EQ(
        refusal([&] { scan_wal_archive(dir_ + "/plain_file"); }),
        "could not scan WAL archive directory " + dir_ + "/plain_file: it is not a directory");
    EXPECT_TRUE(contains(refusal([] { scan_wal_archive(""); }), "no WAL archive directory"));
}

TEST_F(WalArchiveScanTest, ATrailingSlashOnTheDirectoryIsFine) {
    archive_segment(1, 1);
    const ArchiveScan scan = scan_wal_archive(archive_ + "/");
    ASSERT_EQ(scan.segments.size(), 1u);
    EXPECT_EQ(scan.segments[0].original_bytes, 4096);
    EXPECT_TRUE(scan.unreadable_files.empty());
}

// ---- gaps ----

TEST_F(WalArchiveGapsTest, SegmentsByTimelineCountsAndListsGaps) {
    const std::vector<TimelineSegments> timelines = segments_by_timeline(scan_);
    ASSERT_EQ(timelines.size(), 2u);
    const TimelineSegments& one = timelines[0];
    EXPECT_EQ(one.timeline, 1u);
    EXPECT_EQ(one.first_segno, 1u);
    EXPECT_EQ(one.last_segno, 10u);
    EXPECT_EQ(one.count, 6u);
    EXPECT_EQ(one.missing, (std::vector<uint64_t>{4, 5, 8, 9}));
    EXPECT_EQ(one.missing_count, 4u);
    const TimelineSegments& two = timelines[1];
    EXPECT_EQ(two.timeline, 2u);
    EXPECT_EQ(two.first_segno, 8u);
    EXPECT_EQ(two.last_segno, 11u);
    EXPECT_EQ(two.count, 3u);
    EXPECT_EQ(two.missing, (std::vector<uint64_t>{10}));
    EXPECT_EQ(two.missing_count, 1u);
}

TEST_F(WalArchiveGapsTest, SegmentsByTimelineCapsTheListButCountsEverything) {
    const std::vector<TimelineSegments> capped = segments_by_timeline(scan_, 3);
    ASSERT_EQ(capped.size(), 2u);
    EXPECT_EQ(capped[0].missing, (std::vector<uint64_t>{4, 5, 8}));
    EXPECT_EQ(capped[0].missing_count, 4u);
    const std::vector<TimelineSegments> none = segments_by_timeline(scan_, 0);
    EXPECT_TRUE(none[0].missing.empty());
    EXPECT_EQ(none[0].missing_count, 4u);
    EXPECT_TRUE(none[1].missing.empty());
    EXPECT_EQ(none[1].missing_count, 1u);
}

TEST_F(WalArchiveScanTest, AHugeGapIsCountedWithoutListingIt) {
    archive_segment(1, 1);
    archive_segment(1, 1000000000);
    const ArchiveScan scan = scan_wal_archive(archive_);
    const std::vector<TimelineSegments> timelines = segments_by_timeline(scan, 2);
    ASSERT_EQ(timelines.size(), 1u);
    EXPECT_EQ(timelines[0].missing, (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(timelines[0].missing_count, 999999998u);
    size_t count = 0;
    EXPECT_EQ(missing_segments(scan, 1, 0, 2000000000, 1, &count), (std::vector<uint64_t>{0}));
    EXPECT_EQ(count, 2000000001u - 2u);
}

TEST_F(WalArchiveGapsTest, MissingSegmentsOverARange) {
    size_t count = 99;
    EXPECT_EQ(missing_segments(scan_, 1, 0, 12, 100, &count),
              (std::vector<uint64_t>{0, 4, 5, 8, 9, 11, 12}));
    EXPECT_EQ(count, 7u);
    EXPECT_EQ(missing_segments(scan_, 1, 0, 12, 2, &count), (std::vector<uint64_t>{0, 4}));
    EXPECT_EQ(count, 7u);
    EXPECT_EQ(missing_segments(scan_, 1, 1, 3, 100, &count), std::vector<uint64_t>{});
    EXPECT_EQ(count, 0u);
    EXPECT_EQ(missing_segments(scan_, 1, 5, 5, 100, &count), (std::vector<uint64_t>{5}));
    EXPECT_EQ(count, 1u);
    EXPECT_EQ(missing_segments(scan_, 1, 3, 7, 100, &count), (std::vector<uint64_t>{4, 5}));
    EXPECT_EQ(count, 2u);
    // Segments of another timeline do not fill the gaps.
    EXPECT_EQ(missing_segments(scan_, 2, 6, 12, 100, &count),
              (std::vector<uint64_t>{6, 7, 10, 12}));
    EXPECT_EQ(count, 4u);
    EXPECT_EQ(missing_segments(scan_, 3, 1, 4, 100, &count), (std::vector<uint64_t>{1, 2, 3, 4}));
    EXPECT_EQ(count, 4u);
    // An empty range; and no count pointer.
    EXPECT_EQ(missing_segments(scan_, 1, 5, 4, 100, &count), std::vector<uint64_t>{});
    EXPECT_EQ(count, 0u);
    EXPECT_EQ(missing_segments(scan_, 1, 9, 10), (std::vector<uint64_t>{9}));
}

TEST_F(WalArchiveGapsTest, LastContiguousSegno) {
    EXPECT_EQ(last_contiguous_segno(scan_, 1, 1), 3u);
    EXPECT_EQ(last_contiguous_segno(scan_, 1, 2), 3u);
    EXPECT_EQ(last_contiguous_segno(scan_, 1, 6), 7u);
    EXPECT_EQ(last_contiguous_segno(scan_, 1, 10), 10u);
    // The first one missing: from - 1.
    EXPECT_EQ(last_contiguous_segno(scan_, 1, 4), 3u);
    EXPECT_EQ(last_contiguous_segno(scan_, 1, 8), 7u);
    EXPECT_EQ(last_contiguous_segno(scan_, 1, 11), 10u);
    EXPECT_EQ(last_contiguous_segno(scan_, 1, 500), 499u);
    // Timeline 2's 8 and 9 do not continue timeline 1, nor does timeline 1's 10 fill 2's gap.
    EXPECT_EQ(last_contiguous_segno(scan_, 2, 8), 9u);
    EXPECT_EQ(last_contiguous_segno(scan_, 2, 1), 0u);
    EXPECT_EQ(last_contiguous_segno(scan_, 2, 11), 11u);
    EXPECT_EQ(last_contiguous_segno(scan_, 3, 5), 4u);
}

TEST_F(WalArchiveScanTest, LastContiguousSegnoSkipsOtherTimelinesAtTheSameSegno) {
    for (uint64_t segno : {1, 2, 3, 4}) archive_segment(2, segno);
    for (uint64_t segno : {2, 3}) archive_segment(1, segno);
    archive_segment(3, 3);
    const ArchiveScan scan = scan_wal_archive(archive_);
    EXPECT_EQ(last_contiguous_segno(scan, 2, 1), 4u);
    EXPECT_EQ(last_contiguous_segno(scan, 1, 2), 3u);
    EXPECT_EQ(last_contiguous_segno(scan, 3, 3), 3u);
}

TEST_F(WalArchiveGapsTest, FindSegment) {
    const ArchivedWalFile* found = find_segment(scan_, 1, 6);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->name, "000000010000000000000006");
    EXPECT_EQ(found->parsed.timeline, 1u);
    EXPECT_EQ(found->parsed.segno, 6u);
    const ArchivedWalFile* other = find_segment(scan_, 2, 9);
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(other->name, "000000020000000000000009");
    EXPECT_EQ(find_segment(scan_, 1, 4), nullptr);   // a gap
    EXPECT_EQ(find_segment(scan_, 1, 8), nullptr);   // only on timeline 2
    EXPECT_EQ(find_segment(scan_, 2, 10), nullptr);  // only on timeline 1
    EXPECT_EQ(find_segment(scan_, 1, 0), nullptr);
    EXPECT_EQ(find_segment(scan_, 1, 1000), nullptr);
    EXPECT_EQ(find_segment(scan_, 3, 1), nullptr);
}

// ---- read_archived_file ----

TEST_F(WalArchiveScanTest, ReadArchivedFileRoundTripsWithEveryCompression) {
    const std::vector<std::pair<std::string, std::string>> files = {
        {"00000002.history", "1\t0/3000158\tno recovery target specified\n"},
        {"empty", ""},
        {"binary", random_bytes(70000, 3)},
        {"three_chunks", fake_segment(3 * 1024 * 1024 + 17, 4)},
    };
    for (WalCompression c : kAllCompressions) {
        for (const auto& [base, bytes] : files) {
            const std::string name = base + "." + wal_compression_name(c);
            SCOPED_TRACE(name);
            archive(name, bytes, c);
            const std::string read = read_archived_file(archive_ + "/" + name);
            EXPECT_EQ(read.size(), bytes.size());
            EXPECT_TRUE(read == bytes);
        }
    }
}

TEST_F(WalArchiveScanTest, ReadArchivedFileRefusesAFlippedPayloadByte) {
    const std::string data = fake_segment(20000, 9) + random_bytes(5000, 10);
    for (WalCompression c : kAllCompressions) {
        const std::string name = std::string("flipped.") + wal_compression_name(c);
        SCOPED_TRACE(name);
        archive(name, data, c);
        const std::string path = archive_ + "/" + name;
        std::string bytes = file_contents(path);
        ASSERT_GT(bytes.size(), kHeaderSize + 100);
        // A byte in the middle of the payload, then one near its start.
        for (size_t at : {kHeaderSize + (bytes.size() - kHeaderSize) / 2, kHeaderSize + 7}) {
            std::string damaged = bytes;
            damaged[at] ^= 0x10;
            write_file(path, damaged);
            const std::string message = refusal([&] { read_archived_file(path); });
            EXPECT_TRUE(contains(message, "archive file " + path + " is corrupt")) << message;
        }
        write_file(path, bytes);
        EXPECT_TRUE(read_archived_file(path) == data);
    }
    // Stored uncompressed, a flipped byte can only be caught by the CRC.
    const std::string path = archive_ + "/flipped.off";
    std::string damaged = file_contents(path);
    damaged[kHeaderSize + 1] ^= 0x01;
    write_file(path, damaged);
    EXPECT_TRUE(contains(refusal([&] { read_archived_file(path); }), "CRC-32C mismatch (header "));
}

TEST_F(WalArchiveScanTest, ReadArchivedFileRefusesTruncatedAndForeignFiles) {
    archive("t", fake_segment(10000, 1), WalCompression::kZstd);
    const std::string path = archive_ + "/t";
    fs::resize_file(path, fs::file_size(path) - 5);
    EXPECT_TRUE(contains(refusal([&] { read_archived_file(path); }), "is corrupt"));
    put_raw("plain", "1\t0/3000158\tno recovery target specified\n");
    EXPECT_TRUE(contains(refusal([&] { read_archived_file(archive_ + "/plain"); }),
                         "is not an infra_ext WAL archive file"));
}

TEST_F(WalArchiveScanTest, ReadArchivedFileOfAMissingFileNamesIt) {
    const std::string path = archive_ + "/00000009.history";
    EXPECT_EQ(refusal([&] { read_archived_file(path); }),
              "could not open " + path + ": No such file or directory");
}

}  // namespace
}  // namespace infra::core
