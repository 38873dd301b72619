// wal_prefetch_test.cpp: restore_command's read-ahead spool (src/core/wal_prefetch.*) on
// real archives in mkdtemp directories, with 1 MiB segments (the smallest size PostgreSQL
// allows) so that whole windows stay small: the window's names (across a log boundary,
// per segment size), hand-over of a verified spooled copy and refusal of a torn, short or
// foreign one, the prefetcher filling its window, stopping where the archive ends,
// removing what lies outside the window and skipping what recovery already asked for,
// one prefetcher per spool, and removal of the spool.
#include "core/wal_prefetch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/wal_archive.hpp"
#include "core/wal_names.hpp"
#include "test_files.hpp"

namespace infra::core {
namespace {

using test::exists;
using test::file_contents;
using test::random_bytes;
using test::same_bytes;
using test::TempDir;
using test::write_file;

constexpr uint64_t kSmallSegment = 1024 * 1024;

std::string segment(uint64_t segno, uint32_t timeline = 1) {
    return wal_segment_name(timeline, segno, kSmallSegment);
}

// An archive holding segments first..last (zstd) of timeline 1, their bytes kept.
struct Archive {
    TempDir root{"wal_prefetch"};
    std::string dir = root.path() + "/archive";
    std::string pg_wal = root.path() + "/pg_wal";
    std::string spool = prefetch_spool_dir(root.path() + "/pg_wal/RECOVERYXLOG");
    std::vector<std::string> originals;

    Archive(uint64_t first, uint64_t last) {
        make_private_directory(dir);
        make_private_directory(pg_wal);
        make_private_directory(root.path() + "/source");
        originals.resize(last + 1);
        for (uint64_t s = first; s <= last; ++s) {
            originals[s] = random_bytes(kSmallSegment, s);
            const std::string source = root.path() + "/source/" + segment(s);
            write_file(source, originals[s]);
            archive_wal_file(source, segment(s), dir, WalCompression::kZstd, 3);
        }
    }
    std::vector<std::string> spooled() const {
        std::vector<std::string> names;
        for (const std::string& n : list_directory(spool)) {
            if (n != "lock" && n != "last") names.push_back(n);
        }
        return names;
    }
    int prefetch(uint64_t after, int depth) {
        SpoolLock lock = SpoolLock::try_acquire(spool);
        EXPECT_TRUE(lock.held());
        return run_prefetcher(std::move(lock), spool, dir, segment(after), kSmallSegment, depth);
    }
};

TEST(WalPrefetchWindow, IsTheNextSegmentsOfTheTimelineAcrossALogBoundary) {
    const uint64_t sixteen = 16 * 1024 * 1024;
    EXPECT_EQ(prefetch_window("0000000200000003000000FE", sixteen, 3),
              (std::vector<std::string>{"0000000200000003000000FF", "000000020000000400000000",
                                        "000000020000000400000001"}));
    // 1 MiB segments: 4096 per log id.
    EXPECT_EQ(prefetch_window("000000010000000000000FFF", kSmallSegment, 1),
              (std::vector<std::string>{"000000010000000100000000"}));
    EXPECT_TRUE(prefetch_window("000000010000000000000001", sixteen, 0).empty());
}

TEST(WalPrefetchWindow, RefusesNamesThatAreNotSegments) {
    for (const char* name : {"00000002.history", "000000010000000000000001.partial",
                             "000000010000000000000001.00000028.backup", "RECOVERYXLOG"}) {
        EXPECT_THROW(prefetch_window(name, kSmallSegment, 2), Error) << name;
    }
    EXPECT_THROW(prefetch_window("000000010000000000000001", 3000, 2), Error);
}

TEST(WalPrefetchSpool, LivesBesideTheDestination) {
    EXPECT_EQ(prefetch_spool_dir("pg_wal/RECOVERYXLOG"), "pg_wal/.infra_ext_prefetch");
    EXPECT_EQ(prefetch_spool_dir("/d/pg_wal/RECOVERYXLOG"), "/d/pg_wal/.infra_ext_prefetch");
    EXPECT_EQ(prefetch_spool_dir("RECOVERYXLOG"), "./.infra_ext_prefetch");
}

TEST(WalPrefetchTake, HandsOverAVerifiedCopyAndRemovesItFromTheSpool) {
    Archive a(1, 3);
    EXPECT_EQ(a.prefetch(1, 2), 2);
    ASSERT_EQ(a.spooled(), (std::vector<std::string>{segment(2), segment(3)}));
    const std::string dest = a.pg_wal + "/RECOVERYXLOG";
    ASSERT_TRUE(take_prefetched(a.spool, a.dir, segment(2), dest));
    EXPECT_TRUE(same_bytes(file_contents(dest), a.originals[2]));
    EXPECT_EQ(a.spooled(), (std::vector<std::string>{segment(3)}));
    // Asked again: nothing spooled for it any more.
    EXPECT_FALSE(take_prefetched(a.spool, a.dir, segment(2), dest));
}

TEST(WalPrefetchTake, RefusesAndRemovesATornCopy) {
    Archive a(1, 2);
    a.prefetch(1, 1);
    const std::string spooled = a.spool + "/" + segment(2);
    std::string bytes = file_contents(spooled);
    bytes[kSmallSegment / 2] ^= 0x01;
    write_file(spooled, bytes);
    const std::string dest = a.pg_wal + "/RECOVERYXLOG";
    EXPECT_FALSE(take_prefetched(a.spool, a.dir, segment(2), dest));
    EXPECT_FALSE(exists(spooled));
    EXPECT_FALSE(exists(dest));
}

TEST(WalPrefetchTake, RefusesAShortCopyAndOneFromAnotherArchive) {
    Archive a(1, 2);
    a.prefetch(1, 1);
    const std::string spooled = a.spool + "/" + segment(2);
    write_file(spooled, a.originals[2].substr(0, kSmallSegment - 8192));  // torn tail
    EXPECT_FALSE(take_prefetched(a.spool, a.dir, segment(2), a.pg_wal + "/RECOVERYXLOG"));
    EXPECT_FALSE(exists(spooled));
    // Same name, same size, other bytes (left by a restore from another archive).
    write_file(spooled, random_bytes(kSmallSegment, 99));
    EXPECT_FALSE(take_prefetched(a.spool, a.dir, segment(2), a.pg_wal + "/RECOVERYXLOG"));
    EXPECT_FALSE(exists(a.pg_wal + "/RECOVERYXLOG"));
}

TEST(WalPrefetchTake, NeedsTheFileInTheArchive) {
    Archive a(1, 2);
    a.prefetch(1, 1);
    remove_tree(a.dir + "/" + segment(2));
    EXPECT_FALSE(take_prefetched(a.spool, a.dir, segment(2), a.pg_wal + "/RECOVERYXLOG"));
    EXPECT_FALSE(exists(a.pg_wal + "/RECOVERYXLOG"));
    EXPECT_FALSE(take_prefetched(a.spool, a.dir, segment(7), a.pg_wal + "/RECOVERYXLOG"));
}

TEST(WalPrefetcher, StopsWhereTheArchiveEndsAndSpoolsExactBytes) {
    Archive a(1, 5);
    EXPECT_EQ(a.prefetch(2, 8), 3);
    ASSERT_EQ(a.spooled(), (std::vector<std::string>{segment(3), segment(4), segment(5)}));
    for (uint64_t s = 3; s <= 5; ++s) {
        EXPECT_TRUE(same_bytes(file_contents(a.spool + "/" + segment(s)), a.originals[s]));
    }
    // Run again: the window is full, nothing is decoded twice.
    EXPECT_EQ(a.prefetch(2, 8), 0);
}

TEST(WalPrefetcher, RemovesWhatLiesOutsideItsWindow) {
    Archive a(1, 6);
    a.prefetch(1, 2);
    write_file(a.spool + "/" + segment(5) + ".tmp.123.0", "leftover of a killed prefetcher");
    write_file(a.spool + "/" + segment(4, 2), "another timeline");
    a.prefetch(3, 2);
    EXPECT_EQ(a.spooled(), (std::vector<std::string>{segment(4), segment(5)}));
}

TEST(WalPrefetcher, SkipsWhatRecoveryAlreadyAskedForAndFollowsIt) {
    Archive a(1, 8);
    ASSERT_TRUE(note_requested(a.spool, segment(4)));
    EXPECT_EQ(a.prefetch(2, 2), 2);  // from 4 on, not from 2
    EXPECT_EQ(a.spooled(), (std::vector<std::string>{segment(5), segment(6)}));
}

TEST(WalPrefetcher, OnlyOneRunsPerSpool) {
    Archive a(1, 3);
    SpoolLock first = SpoolLock::try_acquire(a.spool);
    ASSERT_TRUE(first.held());
    EXPECT_FALSE(SpoolLock::try_acquire(a.spool).held());
    first.release();
    EXPECT_TRUE(SpoolLock::try_acquire(a.spool).held());
}

TEST(WalPrefetcher, ClearSpoolRemovesItAllAndAcceptsNoSpool) {
    Archive a(1, 3);
    a.prefetch(1, 2);
    ASSERT_TRUE(exists(a.spool));
    clear_spool(a.spool);
    EXPECT_FALSE(exists(a.spool));
    clear_spool(a.spool);  // none: nothing to do
    EXPECT_FALSE(exists(a.spool));
    // The archive itself is untouched.
    EXPECT_EQ(list_directory(a.dir).size(), 3u);
}

}  // namespace
}  // namespace infra::core
