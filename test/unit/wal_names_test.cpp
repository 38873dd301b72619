// wal_names_test.cpp: PostgreSQL's WAL names, LSNs and timeline history files
// (src/core/wal_names.*): segment-size checks; known segment names and round trips for
// 1 MB, 16 MB and 1 GB segments, including log-id boundaries and the largest segment
// number; classification of .history, .backup and .partial names; rejection of lower-case
// hex, wrong lengths, timeline 0, out-of-range segment parts and temporary names; LSN
// parsing and formatting (and every parse error); lsn_to_segno against known names;
// timeline history files with comments, blank lines, CRLF and free-text reasons, and
// malformed lines reported with their line number.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/wal_names.hpp"
#include "refusal.hpp"

namespace infra::core {
namespace {

using infra::test::refusal;

constexpr uint64_t kMB = 1024 * 1024;
constexpr uint64_t k16MB = 16 * kMB;
constexpr uint64_t k1GB = 1024 * kMB;
const uint64_t kAllSizes[] = {kMB, k16MB, k1GB};

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

::testing::AssertionResult is_other(const std::string& name, uint64_t segment_size) {
    const WalFileName parsed = parse_wal_file_name(name, segment_size);
    if (parsed.kind == WalFileKind::kOther) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "\"" << name << "\" parsed as kind " << static_cast<int>(parsed.kind) << ", timeline "
           << parsed.timeline << ", segno " << parsed.segno;
}

// ---- segment sizes ----

TEST(WalSegmentSize, AcceptsPowersOfTwoFrom1MBTo1GB) {
    for (uint64_t size = kMB; size <= k1GB; size *= 2) {
        EXPECT_NO_THROW(check_wal_segment_size(size)) << size;
    }
    EXPECT_EQ(kDefaultWalSegmentSize, k16MB);
}

TEST(WalSegmentSize, RefusesEverythingElseNamingTheSize) {
    for (uint64_t bad : {uint64_t{0}, uint64_t{1}, kMB / 2, kMB - 1, kMB + 1, 3 * kMB, k16MB + 1,
                         2 * k1GB, uint64_t{1} << 63, UINT64_MAX}) {
        const std::string message = refusal([&] { check_wal_segment_size(bad); });
        EXPECT_TRUE(contains(message, "invalid WAL segment size " + std::to_string(bad)))
            << message;
        EXPECT_TRUE(contains(message, "power of two from 1 MB to 1 GB")) << message;
    }
}

TEST(WalSegmentSize, EveryFunctionTakingOneChecksIt) {
    EXPECT_TRUE(contains(refusal([] { parse_wal_file_name("000000010000000000000001", 0); }),
                         "invalid WAL segment size 0"));
    EXPECT_TRUE(contains(refusal([] { wal_segment_name(1, 1, 3 * kMB); }),
                         "invalid WAL segment size 3145728"));
}

// ---- segment names ----

TEST(WalSegmentName, KnownNamesFor16MBSegments) {
    EXPECT_EQ(wal_segment_name(1, 1, k16MB), "000000010000000000000001");
    EXPECT_EQ(wal_segment_name(1, 0xFF, k16MB), "0000000100000000000000FF");
    // 256 segments per log id: 0x100 starts log id 1.
    EXPECT_EQ(wal_segment_name(1, 0x100, k16MB), "000000010000000100000000");
    EXPECT_EQ(wal_segment_name(1, 0x101, k16MB), "000000010000000100000001");
    EXPECT_EQ(wal_segment_name(1, 0xA * 256 + 0xFF, k16MB), "000000010000000A000000FF");
    EXPECT_EQ(wal_segment_name(0x1A, 0x16B3, k16MB), "0000001A00000016000000B3");
    EXPECT_EQ(wal_segment_name(0xFFFFFFFF, 0, k16MB), "FFFFFFFF0000000000000000");
    EXPECT_EQ(wal_segment_name(1, 1, kDefaultWalSegmentSize), "000000010000000000000001");
}

TEST(WalSegmentName, KnownNamesFor1MBAnd1GBSegments) {
    // 1 MB: 4096 segments per log id.
    EXPECT_EQ(wal_segment_name(1, 0xFFF, kMB), "000000010000000000000FFF");
    EXPECT_EQ(wal_segment_name(1, 0x1000, kMB), "000000010000000100000000");
    EXPECT_EQ(wal_segment_name(3, 0x2345, kMB), "000000030000000200000345");
    // 1 GB: 4 segments per log id.
    EXPECT_EQ(wal_segment_name(1, 3, k1GB), "000000010000000000000003");
    EXPECT_EQ(wal_segment_name(1, 4, k1GB), "000000010000000100000000");
    EXPECT_EQ(wal_segment_name(1, 5, k1GB), "000000010000000100000001");
    EXPECT_EQ(wal_segment_name(2, 0x2A, k1GB), "000000020000000A00000002");
}

TEST(WalSegmentName, RoundTripsThroughParseForEverySize) {
    for (uint64_t size : kAllSizes) {
        const uint64_t per_id = (uint64_t{1} << 32) / size;
        const uint64_t max_segno = (uint64_t{1} << 32) * per_id - 1;
        const std::vector<uint64_t> segnos = {
            0,          1,          per_id - 1,         per_id,
            per_id + 1, 2 * per_id, 12345 * per_id + 7, max_segno - 1,
            max_segno};
        for (uint32_t timeline : {1u, 2u, 0x10u, 0xFFFFFFFFu}) {
            for (uint64_t segno : segnos) {
                const std::string name = wal_segment_name(timeline, segno, size);
                SCOPED_TRACE(name + " size " + std::to_string(size));
                ASSERT_EQ(name.size(), 24u);
                const WalFileName parsed = parse_wal_file_name(name, size);
                EXPECT_EQ(parsed.kind, WalFileKind::kSegment);
                EXPECT_EQ(parsed.timeline, timeline);
                EXPECT_EQ(parsed.segno, segno);
            }
        }
        EXPECT_EQ(wal_segment_name(1, max_segno, size).substr(8, 8), "FFFFFFFF");
    }
}

TEST(WalSegmentName, RefusesTimelineZeroAndSegmentNumbersPastTheLastLogId) {
    EXPECT_TRUE(contains(refusal([] { wal_segment_name(0, 1, k16MB); }), "invalid timeline ID 0"));
    for (uint64_t size : kAllSizes) {
        const uint64_t first_too_big = (uint64_t{1} << 32) * ((uint64_t{1} << 32) / size);
        const std::string message = refusal([&] { wal_segment_name(1, first_too_big, size); });
        EXPECT_TRUE(contains(
            message, "WAL segment number " + std::to_string(first_too_big) + " is out of range"))
            << message;
        EXPECT_NO_THROW(wal_segment_name(1, first_too_big - 1, size));
    }
    EXPECT_TRUE(contains(refusal([] { wal_segment_name(1, UINT64_MAX, k16MB); }), "out of range"));
}

TEST(WalFileNameParse, SameNameMeansDifferentSegmentsForDifferentSizes) {
    const std::string name = "000000010000000100000003";
    EXPECT_EQ(parse_wal_file_name(name, kMB).segno, 0x1003u);
    EXPECT_EQ(parse_wal_file_name(name, k16MB).segno, 0x103u);
    EXPECT_EQ(parse_wal_file_name(name, k1GB).segno, 7u);
}

TEST(WalFileNameParse, SegmentPartMustBeBelowSegmentsPerLogId) {
    // 16 MB: 256 per id, so the last part is at most 0xFF.
    EXPECT_TRUE(is_other("000000010000000000000100", k16MB));
    EXPECT_TRUE(is_other("0000000100000000FFFFFFFF", k16MB));
    EXPECT_EQ(parse_wal_file_name("0000000100000000000000FF", k16MB).segno, 0xFFu);
    // The same part is fine with 1 MB segments (4096 per id) ...
    EXPECT_EQ(parse_wal_file_name("000000010000000000000100", kMB).kind, WalFileKind::kSegment);
    EXPECT_TRUE(is_other("000000010000000000001000", kMB));
    // ... and 1 GB segments allow only 0..3.
    EXPECT_EQ(parse_wal_file_name("000000010000000000000003", k1GB).kind, WalFileKind::kSegment);
    EXPECT_TRUE(is_other("000000010000000000000004", k1GB));
    EXPECT_TRUE(is_other("000000010000000000000004.partial", k1GB));
    EXPECT_TRUE(is_other("000000010000000000000004.00000028.backup", k1GB));
}

TEST(WalFileNameParse, RefusesMalformedSegmentNames) {
    for (const char* bad : {
             "",
             "00000001000000000000000a",            // lower-case hex
             "0000000a0000000000000001",            // lower-case timeline
             "00000001000000000000000",             // 23 characters
             "0000000100000000000000010",           // 25 characters
             "000000000000000000000001",            // timeline 0
             "00000001000000000000000G",            // not hex
             "00000001 000000000000001",            // a space
             "+00000010000000000000001",            // a sign
             "000000010000000000000001 ",           // trailing space
             " 000000010000000000000001",           // leading space
             "000000010000000000000001/",           // a path
             "x000000010000000000000001",           // a prefix
             "000000010000000000000003.tmp.123.4",  // an archiver's temporary file
             "000000010000000000000003.partial.tmp.9.1",
             "000000010000000000000003.gz",
             "000000010000000000000003.",
             "RECOVERYXLOG",
             "archive_status",
         }) {
        EXPECT_TRUE(is_other(bad, k16MB));
    }
    // A string with a NUL in it is no name either.
    EXPECT_TRUE(is_other(std::string("000000010000000000000001\0", 25), k16MB));
}

TEST(WalFileNameParse, KindOtherCarriesNoTimelineOrSegment) {
    const WalFileName parsed = parse_wal_file_name("000000010000000000000003.tmp.1.2", k16MB);
    EXPECT_EQ(parsed.kind, WalFileKind::kOther);
    EXPECT_EQ(parsed.timeline, 0u);
    EXPECT_EQ(parsed.segno, 0u);
}

// ---- history, backup history and partial names ----

TEST(WalFileNameParse, HistoryFiles) {
    EXPECT_EQ(history_file_name(2), "00000002.history");
    EXPECT_EQ(history_file_name(0x1A), "0000001A.history");
    EXPECT_EQ(history_file_name(0xFFFFFFFF), "FFFFFFFF.history");
    EXPECT_TRUE(contains(refusal([] { history_file_name(0); }), "invalid timeline ID 0"));
    for (uint32_t timeline : {1u, 2u, 0x1Au, 0xFFFFFFFFu}) {
        const WalFileName parsed = parse_wal_file_name(history_file_name(timeline), k16MB);
        EXPECT_EQ(parsed.kind, WalFileKind::kHistory);
        EXPECT_EQ(parsed.timeline, timeline);
        EXPECT_EQ(parsed.segno, 0u);
    }
    for (const char* bad :
         {"00000000.history", "0000001a.history", "0000002.history", "000000002.history",
          "00000002.HISTORY", "00000002.histor", "00000002history", ".history",
          "00000002.history.tmp.12.0", "000000010000000000000002.history"}) {
        EXPECT_TRUE(is_other(bad, k16MB));
    }
}

TEST(WalFileNameParse, BackupHistoryFiles) {
    const WalFileName parsed =
        parse_wal_file_name("000000010000000000000002.00000028.backup", k16MB);
    EXPECT_EQ(parsed.kind, WalFileKind::kBackupHistory);
    EXPECT_EQ(parsed.timeline, 1u);
    EXPECT_EQ(parsed.segno, 2u);
    const WalFileName later =
        parse_wal_file_name("000000030000000100000004.00FFFFFF.backup", k16MB);
    EXPECT_EQ(later.kind, WalFileKind::kBackupHistory);
    EXPECT_EQ(later.timeline, 3u);
    EXPECT_EQ(later.segno, 0x104u);
    for (const char* bad : {
             "000000010000000000000002.00000028.BACKUP",
             "000000010000000000000002.0000002a.backup",   // lower-case offset
             "000000010000000000000002.0000028.backup",    // 7-digit offset
             "000000010000000000000002.000000028.backup",  // 9-digit offset
             "000000010000000000000002.01000000.backup",   // offset 16 MB: past the segment
             "000000010000000000000002_00000028.backup",
             "000000010000000000000002.00000028.backup.tmp.1.1",
             "000000010000000000000002.00000028",
             "00000001000000000000002.00000028.backup",
         }) {
        EXPECT_TRUE(is_other(bad, k16MB));
    }
    // The offset's range follows the segment size.
    EXPECT_EQ(parse_wal_file_name("000000010000000000000002.01000000.backup", k1GB).kind,
              WalFileKind::kBackupHistory);
}

TEST(WalFileNameParse, PartialFiles) {
    const WalFileName parsed = parse_wal_file_name("000000020000000000000005.partial", k16MB);
    EXPECT_EQ(parsed.kind, WalFileKind::kPartial);
    EXPECT_EQ(parsed.timeline, 2u);
    EXPECT_EQ(parsed.segno, 5u);
    for (const char* bad :
         {"000000020000000000000005.PARTIAL", "000000020000000000000005.partia",
          "000000020000000000000005partial", "00000002000000000000005.partial",
          "00000002000000000000000g.partial", "000000000000000000000005.partial",
          "000000020000000000000005.partial.tmp.4.2", "000000020000000000000005.partial~"}) {
        EXPECT_TRUE(is_other(bad, k16MB));
    }
}

// ---- LSNs ----

TEST(Lsn, ParsesUpperAndLowerCase) {
    EXPECT_EQ(parse_lsn("16/B374D848"), 0x16B374D848ull);
    EXPECT_EQ(parse_lsn("16/b374d848"), 0x16B374D848ull);
    EXPECT_EQ(parse_lsn("0/0"), 0u);
    EXPECT_EQ(parse_lsn("0/3000028"), 0x3000028u);
    EXPECT_EQ(parse_lsn("00000001/00000000"), 0x100000000ull);
    EXPECT_EQ(parse_lsn("FFFFFFFF/FFFFFFFF"), UINT64_MAX);
    EXPECT_EQ(parse_lsn("1/0"), 0x100000000ull);
}

TEST(Lsn, FormatsLikePostgres) {
    EXPECT_EQ(format_lsn(0), "0/0");
    EXPECT_EQ(format_lsn(0x16B374D848ull), "16/B374D848");
    EXPECT_EQ(format_lsn(0x3000028), "0/3000028");
    EXPECT_EQ(format_lsn(0x100000000ull), "1/0");
    EXPECT_EQ(format_lsn(UINT64_MAX), "FFFFFFFF/FFFFFFFF");
    for (uint64_t lsn : {uint64_t{0}, uint64_t{1}, uint64_t{0xFFFFFFFF}, uint64_t{0x100000000},
                         uint64_t{0x123456789ABCDEF0}, UINT64_MAX}) {
        EXPECT_EQ(parse_lsn(format_lsn(lsn)), lsn) << format_lsn(lsn);
    }
}

TEST(Lsn, RefusesMalformedTextNamingIt) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "it is empty"},
        {"16", "it has no '/'"},
        {"16B374D848", "it has no '/'"},
        {"/1", "its first half is empty"},
        {"1/", "its second half is empty"},
        {"/", "its first half is empty"},
        {"123456789/0", "its first half has more than 8 hex digits"},
        {"0/123456789", "its second half has more than 8 hex digits"},
        {"000000001/0", "its first half has more than 8 hex digits"},
        {"1/2/3", "its second half is not hexadecimal"},
        {" 1/2", "its first half is not hexadecimal"},
        {"1/2 ", "its second half is not hexadecimal"},
        {"1 /2", "its first half is not hexadecimal"},
        {"0x1/2", "its first half is not hexadecimal"},
        {"-1/2", "its first half is not hexadecimal"},
        {"+1/2", "its first half is not hexadecimal"},
        {"G/1", "its first half is not hexadecimal"},
        {"1/2x", "its second half is not hexadecimal"},
        {"1\\2", "it has no '/'"},
    };
    for (const auto& [text, reason] : cases) {
        const std::string message = refusal([&] { parse_lsn(text); });
        EXPECT_EQ(message, "invalid LSN \"" + text + "\": " + reason);
    }
    // Control characters are shown escaped, so the whole text is seen.
    EXPECT_EQ(refusal([] { parse_lsn(std::string("1/2\0", 4)); }),
              "invalid LSN \"1/2\\x00\": its second half is not hexadecimal");
    EXPECT_EQ(refusal([] { parse_lsn("1/2\n"); }),
              "invalid LSN \"1/2\\x0A\": its second half is not hexadecimal");
    EXPECT_EQ(refusal([] { parse_lsn("\t1/2"); }),
              "invalid LSN \"\\t1/2\": its first half is not hexadecimal");
}

TEST(Lsn, SegmentOfAnLsnMatchesPostgresWalFileName) {
    // pg_walfile_name('16/B374D848') on timeline 1 with 16 MB segments.
    EXPECT_EQ(wal_segment_name(1, lsn_to_segno(parse_lsn("16/B374D848"), k16MB), k16MB),
              "0000000100000016000000B3");
    EXPECT_EQ(lsn_to_segno(parse_lsn("0/3000028"), k16MB), 3u);
    EXPECT_EQ(lsn_to_segno(parse_lsn("0/2FFFFFF"), k16MB), 2u);
    EXPECT_EQ(lsn_to_segno(parse_lsn("1/0"), k16MB), 0x100u);
    EXPECT_EQ(lsn_to_segno(parse_lsn("1/0"), k1GB), 4u);
    EXPECT_EQ(wal_segment_name(1, lsn_to_segno(parse_lsn("16/B374D848"), k1GB), k1GB),
              "000000010000001600000002");
}

// ---- timeline history files ----

// (parent timeline, switch LSN) of each entry of a history file, in order.
using Switches = std::vector<std::pair<uint32_t, uint64_t>>;
Switches switches_in(const std::string& content) {
    Switches switches;
    for (const TimelineSwitch& s : parse_timeline_history(content)) {
        switches.emplace_back(s.parent, s.switch_lsn);
    }
    return switches;
}

TEST(TimelineHistory, ParsesWhatPostgresWrites) {
    // As PostgreSQL 15 writes 00000003.history: decimal parent, LSN, reason.
    const std::string content =
        "1\t0/3000158\tno recovery target specified\n"
        "\n"
        "2\t0/5000000\tat restore point \"before upgrade\"\n";
    EXPECT_EQ(switches_in(content), (Switches{{1, 0x3000158}, {2, 0x5000000}}));
}

TEST(TimelineHistory, SkipsCommentsAndBlankLinesAndAcceptsAnyWhitespace) {
    const std::string content =
        "# written by hand\n"
        "   \n"
        "  # indented comment\n"
        "1 0/3000158 reason with   several words\r\n"
        "\t\n"
        "  10   1A/B374D848\n"  // no reason, spaces, a parent above 9
        "4294967295\tFFFFFFFF/FFFFFFFF\tlast\ttab-separated\treason";  // no final newline
    EXPECT_EQ(switches_in(content),
              (Switches{{1, 0x3000158}, {10, 0x1AB374D848}, {0xFFFFFFFF, UINT64_MAX}}));
}

TEST(TimelineHistory, EmptyOrCommentOnlyContentHasNoEntries) {
    EXPECT_TRUE(parse_timeline_history("").empty());
    EXPECT_TRUE(parse_timeline_history("\n\n").empty());
    EXPECT_TRUE(parse_timeline_history("# nothing yet\n").empty());
}

TEST(TimelineHistory, MalformedLinesAreReportedWithTheirNumber) {
    const std::string good = "1\t0/3000158\tno recovery target specified\n";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"abc\t0/1\tx\n", "line 1 (\"abc\\t0/1\\tx\") does not start with a timeline ID"},
        {good + "x2\t0/5000000\tr\n", "line 2 (\"x2\\t0/5000000\\tr\") does not start"},
        {good + "0\t0/5000000\tr\n", "line 2 (\"0\\t0/5000000\\tr\") does not start"},
        {good + "-2\t0/5000000\n", "line 2 (\"-2\\t0/5000000\") does not start"},
        {good + "4294967296\t0/5000000\n", "line 2 (\"4294967296\\t0/5000000\") does not start"},
        {good + "2\n", "line 2 (\"2\") has no switch LSN"},
        {good + "2   \n", "line 2 (\"2   \") has no switch LSN"},
        {good + "2\t0-5000000\tr\n", "line 2 (\"2\\t0-5000000\\tr\") has an invalid LSN"},
        {good + "2\t0/5000000junk\n", "has an invalid LSN \"0/5000000junk\": its second half"},
        {good + "2\t123456789/0\n", "has an invalid LSN \"123456789/0\""},
        {good + "2,0/5000000\n", "line 2 (\"2,0/5000000\") does not start"},
        // Comments and blank lines count.
        {"# c\n\n" + good + "\n# c\nbad\n", "line 6 (\"bad\")"},
        // Timeline IDs increase, as PostgreSQL requires.
        {good + "1\t0/5000000\tr\n", "line 2 (\"1\\t0/5000000\\tr\") does not follow timeline 1"},
        {"3\t0/1\n2\t0/2\n", "line 2 (\"2\\t0/2\") does not follow timeline 3"},
    };
    for (const auto& [content, expected] : cases) {
        const std::string message = refusal([&] { parse_timeline_history(content); });
        EXPECT_TRUE(contains(message, expected)) << message;
        EXPECT_EQ(message.rfind("invalid timeline history: line ", 0), 0u) << message;
    }
}

TEST(TimelineHistory, ALongMalformedLineIsShortenedInTheMessage) {
    const std::string line = std::string(500, 'z');
    const std::string message = refusal([&] { parse_timeline_history(line); });
    EXPECT_TRUE(contains(message, "line 1 (\"" + std::string(80, 'z') + "\"...)")) << message;
    EXPECT_LT(message.size(), 250u);
}

TEST(TimelineHistory, CarriageReturnIsNotPartOfTheQuotedLine) {
    const std::string message = refusal([] { parse_timeline_history("bad\r\n"); });
    EXPECT_TRUE(contains(message, "line 1 (\"bad\")")) << message;
}

}  // namespace
}  // namespace infra::core
