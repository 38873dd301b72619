// wal_archive_test.cpp: the WAL archive container (src/core/wal_archive.*) in real mkdtemp
// directories: CRC-32C vectors (software and SSE4.2 paths, incremental use), round trips
// of a 16 MiB WAL-like segment and of small files with every compression, the exact header
// bytes, idempotent re-archiving (same inode and mtime) and refusal of different contents,
// corrupt or truncated payloads and headers, file-name rules, missing files and
// directories, write errors (RLIMIT_FSIZE, permission denied), and the absence of
// temporary files after success and after failure.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/wal_archive.hpp"
#include "unprivileged.hpp"
#include "refusal.hpp"
#include "file_size_limit.hpp"
#include "test_files.hpp"

namespace infra::core {

// Defined in wal_archive.cpp for these tests (not part of wal_archive.hpp).
namespace wal_archive_internal {
uint32_t crc32c_software(const void* data, size_t size, uint32_t previous);
bool crc32c_hardware_available();
uint32_t crc32c_hardware(const void* data, size_t size, uint32_t previous);
}  // namespace wal_archive_internal

namespace {

namespace fs = std::filesystem;
namespace internal = wal_archive_internal;

constexpr size_t kSegmentSize = 16 * 1024 * 1024;
constexpr size_t kPageSize = 8192;
constexpr size_t kHeaderSize = 32;
constexpr size_t kChunk = 1024 * 1024;  // the module's read size; sizes around it are tested
const char kSegmentName[] = "000000010000000000000003";
const WalCompression kAllCompressions[] = {WalCompression::kOff, WalCompression::kZstd,
                                           WalCompression::kLz4};

// A 16 MiB segment shaped like real WAL after a segment switch: the first quarter holds
// pages with a page header, random bytes (full-page images, hard to compress) and
// repeated tuple text; the rest is the zero tail.
std::string wal_like_segment(uint64_t seed) {
    std::string s(kSegmentSize, '\0');
    std::mt19937_64 rng(seed);
    const std::string tuple = "INSERT INTO accounts VALUES (42, 'alice', 1000.00);";
    for (size_t page = 0; page < kSegmentSize / kPageSize / 4; ++page) {
        char* p = &s[page * kPageSize];
        const uint64_t header[3] = {0x0000000100000000ull | 0xD110u, page * kPageSize, seed};
        std::memcpy(p, header, sizeof header);
        size_t at = sizeof header;
        const size_t random_len = 1024 + rng() % 3072;
        for (size_t end = at + random_len; at + 8 <= end; at += 8) {
            const uint64_t v = rng();
            std::memcpy(p + at, &v, 8);
        }
        while (at + tuple.size() <= kPageSize) {
            std::memcpy(p + at, tuple.data(), tuple.size());
            at += tuple.size();
        }
    }
    return s;
}

uint32_t le32(const std::string& s, size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

uint64_t le64(const std::string& s, size_t at) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

void set_le32(std::string& s, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Recomputes the header CRC after a test edited the header on purpose.
void reseal_header(std::string& container) {
    set_le32(container, 28, crc32c(container.data(), 28));
}

using infra::test::refusal;

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

using infra::test::exists;
using infra::test::file_contents;
using infra::test::random_bytes;
using infra::test::same_bytes;
using infra::test::ScopedFileSizeLimit;
using infra::test::write_file;

// A fresh directory from mkdtemp(3) with archive/, src/ and out/ inside, removed with its
// contents at the end of the test.
class WalArchiveTest : public ::testing::Test {
  protected:
    void SetUp() override {
        fs::create_directories(archive_);
        fs::create_directories(src_);
        fs::create_directories(out_);
    }

    // Writes bytes as src/<name> and archives it; returns the outcome.
    ArchiveOutcome archive(const std::string& name, const std::string& bytes,
                           WalCompression compression, int zstd_level = 1) {
        const std::string source = src_ + "/" + name;
        write_file(source, bytes);
        return archive_wal_file(source, name, archive_, compression, zstd_level);
    }

    // Restores name into out/<name>; returns the restored bytes.
    std::string restore(const std::string& name) {
        const std::string dest = out_ + "/" + name;
        EXPECT_EQ(restore_wal_file(archive_, name, dest), RestoreOutcome::kRestored);
        return file_contents(dest);
    }

    const infra::test::TempDir tmp_{"wal_archive_test"};
    const std::string dir_ = tmp_.path();
    const std::string archive_ = dir_ + "/archive";
    const std::string src_ = dir_ + "/src";
    const std::string out_ = dir_ + "/out";
};

// ---- CRC-32C ----

TEST(Crc32c, KnownVectors) {
    const std::string check = "123456789";
    EXPECT_EQ(crc32c(check.data(), check.size()), 0xE3069283u);
    EXPECT_EQ(crc32c(nullptr, 0), 0u);
    EXPECT_EQ(crc32c(nullptr, 0, 0x12345678u), 0x12345678u);
    const std::string fox = "The quick brown fox jumps over the lazy dog";
    EXPECT_EQ(crc32c(fox.data(), fox.size()), 0x22620404u);
    // RFC 3720 (iSCSI) appendix B.4.
    std::string zeros(32, '\0'), ones(32, '\xff'), up(32, '\0'), down(32, '\0');
    for (int i = 0; i < 32; ++i) {
        up[i] = static_cast<char>(i);
        down[i] = static_cast<char>(31 - i);
    }
    EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
    EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
    EXPECT_EQ(crc32c(up.data(), 32), 0x46DD794Eu);
    EXPECT_EQ(crc32c(down.data(), 32), 0x113FDB5Cu);
    for (auto fn : {&internal::crc32c_software, &internal::crc32c_hardware}) {
        EXPECT_EQ(fn(check.data(), check.size(), 0), 0xE3069283u);
        EXPECT_EQ(fn(zeros.data(), 32, 0), 0x8A9136AAu);
        EXPECT_EQ(fn(up.data(), 32, 0), 0x46DD794Eu);
    }
}

TEST(Crc32c, IncrementalUseThroughPreviousEqualsOneCall) {
    const std::string check = "123456789";
    for (size_t split = 0; split <= check.size(); ++split) {
        const uint32_t first = crc32c(check.data(), split);
        EXPECT_EQ(crc32c(check.data() + split, check.size() - split, first), 0xE3069283u)
            << "split at " << split;
    }
    const std::string big = random_bytes(3 * kChunk + 13, 7);
    const uint32_t whole = crc32c(big.data(), big.size());
    std::mt19937_64 rng(8);
    for (int round = 0; round < 20; ++round) {
        uint32_t crc = 0;
        for (size_t at = 0; at < big.size();) {
            const size_t n = std::min<size_t>(big.size() - at, rng() % 300000);
            crc = crc32c(big.data() + at, n, crc);
            at += n;
        }
        EXPECT_EQ(crc, whole);
    }
    EXPECT_EQ(internal::crc32c_software(big.data() + 5, big.size() - 5,
                                        internal::crc32c_software(big.data(), 5, 0)),
              whole);
}

TEST(Crc32c, SoftwareAndHardwarePathsAgree) {
#if defined(__x86_64__)
    // Every x86-64 CPU since 2008 has SSE4.2; the hardware path must really be tested.
    ASSERT_TRUE(internal::crc32c_hardware_available());
#endif
    const std::string buf = random_bytes(70000, 11);
    std::mt19937_64 rng(12);
    // Every small size at every alignment, then random slices with random previous values.
    for (size_t offset = 0; offset < 16; ++offset) {
        for (size_t size = 0; size <= 80; ++size) {
            ASSERT_EQ(internal::crc32c_software(buf.data() + offset, size, 0),
                      internal::crc32c_hardware(buf.data() + offset, size, 0))
                << "offset " << offset << " size " << size;
        }
    }
    for (int round = 0; round < 2000; ++round) {
        const size_t offset = rng() % 64;
        const size_t size = rng() % (buf.size() - offset);
        const auto previous = static_cast<uint32_t>(rng());
        const uint32_t sw = internal::crc32c_software(buf.data() + offset, size, previous);
        ASSERT_EQ(sw, internal::crc32c_hardware(buf.data() + offset, size, previous))
            << "offset " << offset << " size " << size;
        ASSERT_EQ(sw, crc32c(buf.data() + offset, size, previous));
    }
    const std::string segment = wal_like_segment(3);
    EXPECT_EQ(internal::crc32c_software(segment.data(), segment.size(), 0),
              internal::crc32c_hardware(segment.data(), segment.size(), 0));
}

// ---- names ----

TEST(WalArchiveNames, CompressionNamesRoundTrip) {
    for (WalCompression c : kAllCompressions) {
        EXPECT_EQ(wal_compression_from_name(wal_compression_name(c)), c);
    }
    EXPECT_STREQ(wal_compression_name(WalCompression::kOff), "off");
    EXPECT_STREQ(wal_compression_name(WalCompression::kZstd), "zstd");
    EXPECT_STREQ(wal_compression_name(WalCompression::kLz4), "lz4");
    for (const char* bad : {"", "gzip", "ZSTD", "zstd ", "none"}) {
        EXPECT_EQ(refusal([&] { wal_compression_from_name(bad); }),
                  std::string("invalid WAL compression \"") + bad + "\"");
    }
    EXPECT_TRUE(contains(refusal([] { wal_compression_name(static_cast<WalCompression>(7)); }),
                         "invalid WAL compression code 7"));
}

// ---- round trips ----

TEST_F(WalArchiveTest, RoundTripsA16MiBSegmentWithEveryCompression) {
    const std::string segment = wal_like_segment(1);
    for (WalCompression c : kAllCompressions) {
        SCOPED_TRACE(wal_compression_name(c));
        const std::string name = std::string(kSegmentName) + "." + wal_compression_name(c);
        const ArchiveOutcome outcome = archive(name, segment, c);
        EXPECT_FALSE(outcome.already_archived);
        EXPECT_EQ(outcome.original_bytes, static_cast<int64_t>(kSegmentSize));
        EXPECT_EQ(outcome.stored_bytes, static_cast<int64_t>(fs::file_size(archive_ + "/" + name)));
        if (c == WalCompression::kOff) {
            EXPECT_EQ(outcome.stored_bytes, static_cast<int64_t>(kSegmentSize + kHeaderSize));
        } else {
            // A quarter of records, half of them random: well under half the size.
            EXPECT_LT(outcome.stored_bytes, static_cast<int64_t>(kSegmentSize / 2));
        }
        EXPECT_TRUE(same_bytes(restore(name), segment));
        const ArchivedFileInfo info = read_archived_file_info(archive_ + "/" + name);
        EXPECT_EQ(info.compression, c);
        EXPECT_EQ(info.original_bytes, static_cast<int64_t>(kSegmentSize));
        EXPECT_EQ(info.crc32c, crc32c(segment.data(), segment.size()));
        EXPECT_EQ(info.stored_bytes, outcome.stored_bytes);
    }
}

TEST_F(WalArchiveTest, RoundTripsSmallFilesAndSizesAroundTheReadChunk) {
    const std::string history =
        "1\t0/3000060\tno recovery target specified\n"
        "2\t0/5000000\tbefore 2024-05-01 12:00:00+00\n";
    const std::vector<std::pair<std::string, std::string>> files = {
        {"00000003.history", history},
        {"empty", ""},
        {"one", "x"},
        {"000000010000000000000002.00000028.backup", "START WAL LOCATION: 0/2000028\n"},
        {"chunk_minus_1", random_bytes(kChunk - 1, 21)},
        {"chunk", random_bytes(kChunk, 22)},
        {"chunk_plus_1", random_bytes(kChunk + 1, 23)},
        {"two_chunks", std::string(2 * kChunk, 'a')},
    };
    for (WalCompression c : kAllCompressions) {
        for (const auto& [base, bytes] : files) {
            const std::string name = base + "." + wal_compression_name(c);
            SCOPED_TRACE(name);
            const ArchiveOutcome outcome = archive(name, bytes, c);
            EXPECT_FALSE(outcome.already_archived);
            EXPECT_EQ(outcome.original_bytes, static_cast<int64_t>(bytes.size()));
            EXPECT_EQ(outcome.stored_bytes,
                      static_cast<int64_t>(fs::file_size(archive_ + "/" + name)));
            EXPECT_TRUE(same_bytes(restore(name), bytes));
        }
    }
}

TEST_F(WalArchiveTest, CompressionStoresCompressibleDataInLessSpace) {
    const std::string segment = wal_like_segment(2);
    const int64_t off = archive("off", segment, WalCompression::kOff).stored_bytes;
    const int64_t zstd = archive("zstd", segment, WalCompression::kZstd).stored_bytes;
    const int64_t zstd9 = archive("zstd9", segment, WalCompression::kZstd, 9).stored_bytes;
    const int64_t lz4 = archive("lz4", segment, WalCompression::kLz4).stored_bytes;
    EXPECT_EQ(off, static_cast<int64_t>(kSegmentSize + kHeaderSize));
    EXPECT_LT(zstd, off / 4);
    EXPECT_LT(lz4, off / 4);
    EXPECT_LE(zstd9, zstd);
    // Random bytes do not compress; the container still round-trips them.
    const std::string noise = random_bytes(256 * 1024, 5);
    for (WalCompression c : {WalCompression::kZstd, WalCompression::kLz4}) {
        const std::string name = std::string("noise.") + wal_compression_name(c);
        const ArchiveOutcome outcome = archive(name, noise, c);
        EXPECT_LT(outcome.stored_bytes, static_cast<int64_t>(noise.size() + 4096)) << name;
        EXPECT_TRUE(same_bytes(restore(name), noise)) << name;
    }
}

TEST_F(WalArchiveTest, HeaderFieldsAreExact) {
    const std::string data = random_bytes(100000, 31) + std::string(100000, '\0');
    const uint32_t data_crc = crc32c(data.data(), data.size());
    for (WalCompression c : kAllCompressions) {
        SCOPED_TRACE(wal_compression_name(c));
        const std::string name = std::string("h.") + wal_compression_name(c);
        archive(name, data, c);
        const std::string stored = file_contents(archive_ + "/" + name);
        ASSERT_GE(stored.size(), kHeaderSize);
        EXPECT_EQ(stored.substr(0, 8), std::string("IXWAL01\n"));
        EXPECT_EQ(static_cast<unsigned char>(stored[8]), static_cast<unsigned char>(c));
        EXPECT_EQ(stored.substr(9, 7), std::string(7, '\0'));
        EXPECT_EQ(le64(stored, 16), data.size());
        EXPECT_EQ(le32(stored, 24), data_crc);
        EXPECT_EQ(le32(stored, 28), crc32c(stored.data(), 28));
        const std::string payload = stored.substr(kHeaderSize);
        switch (c) {
            case WalCompression::kOff:
                EXPECT_TRUE(same_bytes(payload, data));
                break;
            case WalCompression::kZstd:
                EXPECT_EQ(payload.substr(0, 4), std::string("\x28\xB5\x2F\xFD", 4));
                break;
            case WalCompression::kLz4:
                EXPECT_EQ(payload.substr(0, 4), std::string("\x04\x22\x4D\x18", 4));
                break;
        }
    }
    // An empty file is a header alone.
    archive("empty", "", WalCompression::kOff);
    const std::string empty = file_contents(archive_ + "/empty");
    EXPECT_EQ(empty.size(), kHeaderSize);
    EXPECT_EQ(le64(empty, 16), 0u);
    EXPECT_EQ(le32(empty, 24), 0u);
}

TEST_F(WalArchiveTest, FilesAreCreatedWithMode0600) {
    archive(kSegmentName, "abc", WalCompression::kOff);
    struct stat st;
    ASSERT_EQ(::stat((archive_ + "/" + kSegmentName).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
}

// ---- idempotency ----

TEST_F(WalArchiveTest, ReArchivingTheSameBytesSucceedsWithoutWriting) {
    const std::string segment = wal_like_segment(4);
    for (WalCompression c : kAllCompressions) {
        SCOPED_TRACE(wal_compression_name(c));
        const std::string name = std::string(kSegmentName) + "." + wal_compression_name(c);
        const ArchiveOutcome first = archive(name, segment, c);
        const std::string path = archive_ + "/" + name;
        const std::string stored = file_contents(path);
        struct stat before;
        ASSERT_EQ(::stat(path.c_str(), &before), 0);
        // Same compression, then the others: the same original bytes count as archived.
        for (WalCompression again : kAllCompressions) {
            const ArchiveOutcome second =
                archive_wal_file(src_ + "/" + name, name, archive_, again);
            EXPECT_TRUE(second.already_archived);
            EXPECT_EQ(second.original_bytes, static_cast<int64_t>(kSegmentSize));
            EXPECT_EQ(second.stored_bytes, first.stored_bytes);
        }
        struct stat after;
        ASSERT_EQ(::stat(path.c_str(), &after), 0);
        EXPECT_EQ(after.st_ino, before.st_ino);
        EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
        EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
        EXPECT_TRUE(same_bytes(file_contents(path), stored));
    }
    EXPECT_EQ(list_directory(archive_).size(), 3u);
}

TEST_F(WalArchiveTest, ReArchivingAnEmptyFileIsIdempotentToo) {
    EXPECT_FALSE(archive("00000002.history", "", WalCompression::kZstd).already_archived);
    EXPECT_TRUE(archive("00000002.history", "", WalCompression::kZstd).already_archived);
    EXPECT_TRUE(archive("00000002.history", "", WalCompression::kLz4).already_archived);
}

TEST_F(WalArchiveTest, DifferentBytesUnderAnArchivedNameAreRefusedAndTheCopyKept) {
    const std::string segment = wal_like_segment(5);
    for (WalCompression c : kAllCompressions) {
        SCOPED_TRACE(wal_compression_name(c));
        const std::string name = std::string(kSegmentName) + "." + wal_compression_name(c);
        const std::string path = archive_ + "/" + name;
        archive(name, segment, c);
        const std::string stored = file_contents(path);

        std::string one_byte = segment;
        one_byte[kSegmentSize - 3] ^= 0x01;  // same size, same header size field
        std::string message = refusal([&] { archive(name, one_byte, c); });
        EXPECT_TRUE(
            contains(message, "archive file " + path + " already exists with different contents"))
            << message;
        EXPECT_TRUE(contains(message, std::to_string(kSegmentSize - 3))) << message;

        message = refusal([&] { archive(name, segment.substr(0, kSegmentSize - 1), c); });
        EXPECT_TRUE(
            contains(message, "archive file " + path + " already exists with different contents"))
            << message;

        EXPECT_TRUE(same_bytes(file_contents(path), stored));
        EXPECT_TRUE(same_bytes(restore(name), segment));
    }
    EXPECT_EQ(list_directory(archive_).size(), 3u);
}

TEST_F(WalArchiveTest, AnExistingFileThatIsNoContainerIsKept) {
    const std::string path = archive_ + "/" + kSegmentName;
    const std::string plain = "a plain copy made by cp, longer than a container header";
    write_file(path, plain);
    const std::string message =
        refusal([&] { archive(kSegmentName, "wal", WalCompression::kOff); });
    EXPECT_EQ(message,
              "archive file " + path + " is not an infra_ext WAL archive file (no IXWAL01 header)");
    EXPECT_EQ(file_contents(path), plain);
    EXPECT_EQ(list_directory(archive_), std::vector<std::string>{kSegmentName});
}

TEST_F(WalArchiveTest, AnArchivedCopyWhoseDataCrcIsWrongIsNotTakenAsArchived) {
    archive(kSegmentName, "some wal bytes", WalCompression::kOff);
    const std::string path = archive_ + "/" + kSegmentName;
    std::string stored = file_contents(path);
    set_le32(stored, 24, le32(stored, 24) ^ 1u);
    reseal_header(stored);
    write_file(path, stored);
    const std::string message =
        refusal([&] { archive(kSegmentName, "some wal bytes", WalCompression::kOff); });
    EXPECT_TRUE(contains(message, "archive file " + path + " is corrupt: CRC-32C mismatch"))
        << message;
    EXPECT_EQ(file_contents(path), stored);
}

// ---- corruption ----

TEST_F(WalArchiveTest, ACorruptPayloadByteFailsTheRestoreAndCreatesNoDestination) {
    const std::string segment = wal_like_segment(6);
    for (WalCompression c : kAllCompressions) {
        SCOPED_TRACE(wal_compression_name(c));
        const std::string name = std::string(kSegmentName) + "." + wal_compression_name(c);
        const std::string path = archive_ + "/" + name;
        archive(name, segment, c);
        std::string stored = file_contents(path);
        stored[kHeaderSize + (stored.size() - kHeaderSize) / 3] ^= 0x40;
        write_file(path, stored);
        const std::string dest = out_ + "/" + name;
        const std::string message = refusal([&] { restore_wal_file(archive_, name, dest); });
        EXPECT_TRUE(contains(message, "archive file " + path + " is corrupt: ")) << message;
        if (c == WalCompression::kOff) {
            EXPECT_TRUE(contains(message, "is corrupt: CRC-32C mismatch")) << message;
        }
        EXPECT_FALSE(exists(dest));
        EXPECT_TRUE(list_directory(out_).empty());
        // The header itself is fine.
        EXPECT_EQ(read_archived_file_info(path).original_bytes, static_cast<int64_t>(kSegmentSize));
    }
}

TEST_F(WalArchiveTest, AFailedRestoreLeavesAnExistingDestinationAlone) {
    archive(kSegmentName, "good bytes", WalCompression::kOff);
    const std::string path = archive_ + "/" + kSegmentName;
    std::string stored = file_contents(path);
    stored[kHeaderSize] ^= 0x01;
    write_file(path, stored);
    const std::string dest = out_ + "/RECOVERYXLOG";
    write_file(dest, "previous contents");
    const std::string message = refusal([&] { restore_wal_file(archive_, kSegmentName, dest); });
    EXPECT_TRUE(contains(message, "is corrupt: CRC-32C mismatch")) << message;
    EXPECT_EQ(file_contents(dest), "previous contents");
    EXPECT_EQ(list_directory(out_), std::vector<std::string>{"RECOVERYXLOG"});
}

TEST_F(WalArchiveTest, CorruptHeadersAreReportedClearly) {
    const std::string bytes = random_bytes(5000, 41);
    archive("base", bytes, WalCompression::kOff);
    const std::string good = file_contents(archive_ + "/base");

    struct Case {
        std::string name;
        std::function<void(std::string&)> edit;
        std::string expected;
    };
    const std::vector<Case> cases = {
        {"size_field", [](std::string& s) { s[17] ^= 0x01; },
         "is corrupt: header CRC-32C mismatch"},
        {"crc_field", [](std::string& s) { s[25] ^= 0x80; }, "is corrupt: header CRC-32C mismatch"},
        {"header_crc", [](std::string& s) { s[31] ^= 0x02; },
         "is corrupt: header CRC-32C mismatch"},
        {"magic", [](std::string& s) { s[0] = 'X'; },
         "is not an infra_ext WAL archive file (no IXWAL01 header)"},
        {"truncated_header", [](std::string& s) { s.resize(20); },
         "is corrupt: it is truncated (20 bytes, shorter than the 32-byte header)"},
        {"tiny", [](std::string& s) { s.resize(3); },
         "is not an infra_ext WAL archive file (3 bytes"},
        {"empty", [](std::string& s) { s.clear(); },
         "is not an infra_ext WAL archive file (0 bytes"},
        {"compression_code",
         [](std::string& s) {
             s[8] = 9;
             reseal_header(s);
         },
         "uses unknown compression code 9"},
        {"reserved",
         [](std::string& s) {
             s[12] = 1;
             reseal_header(s);
         },
         "is corrupt: reserved header bytes are not zero"},
        {"payload_truncated", [](std::string& s) { s.pop_back(); },
         "is corrupt: its size (5031 bytes) does not match the 5000 uncompressed bytes"},
        {"payload_extended", [](std::string& s) { s.push_back('!'); },
         "is corrupt: its size (5033 bytes) does not match the 5000 uncompressed bytes"},
    };
    for (const Case& k : cases) {
        SCOPED_TRACE(k.name);
        std::string stored = good;
        k.edit(stored);
        const std::string path = archive_ + "/" + k.name;
        write_file(path, stored);
        const std::string prefix = "archive file " + path + " ";
        std::string message = refusal([&] { read_archived_file_info(path); });
        EXPECT_TRUE(contains(message, prefix + k.expected)) << message;
        const std::string dest = out_ + "/" + k.name;
        message = refusal([&] { restore_wal_file(archive_, k.name, dest); });
        EXPECT_TRUE(contains(message, prefix + k.expected)) << message;
        EXPECT_FALSE(exists(dest));
    }
    EXPECT_TRUE(list_directory(out_).empty());
}

TEST_F(WalArchiveTest, TruncatedOrExtendedCompressedPayloadsAreReported) {
    const std::string segment = wal_like_segment(7);
    for (WalCompression c : {WalCompression::kZstd, WalCompression::kLz4}) {
        SCOPED_TRACE(wal_compression_name(c));
        const std::string name = std::string("x.") + wal_compression_name(c);
        const std::string path = archive_ + "/" + name;
        archive(name, segment, c);
        const std::string good = file_contents(path);
        const std::string dest = out_ + "/" + name;

        write_file(path, good.substr(0, good.size() - 7));
        std::string message = refusal([&] { restore_wal_file(archive_, name, dest); });
        EXPECT_TRUE(contains(message, "archive file " + path + " is corrupt: ")) << message;

        write_file(path, good + "trailing");
        message = refusal([&] { restore_wal_file(archive_, name, dest); });
        EXPECT_TRUE(contains(message, "archive file " + path + " is corrupt: ")) << message;

        // A header announcing more bytes than the frame holds.
        std::string longer = good;
        longer[16] = static_cast<char>(longer[16] + 1);
        reseal_header(longer);
        write_file(path, longer);
        message = refusal([&] { restore_wal_file(archive_, name, dest); });
        EXPECT_TRUE(contains(message, "archive file " + path + " is corrupt: ")) << message;

        EXPECT_FALSE(exists(dest));
        EXPECT_TRUE(list_directory(out_).empty());
        write_file(path, good);
        EXPECT_TRUE(same_bytes(restore(name), segment));
        fs::remove(dest);
    }
}

TEST_F(WalArchiveTest, AnAbsurdSizeInACompressedHeaderIsReportedAsCorruptionNotAsAFullDisk) {
    // Restoring reserves the destination's size up front, but only up to 1 GiB: a header
    // (with a valid header CRC) announcing 1 TiB gets the corruption message once decoding
    // finds the frame shorter, not "could not reserve" for a terabyte.
    const std::string segment = wal_like_segment(8);
    for (WalCompression c : {WalCompression::kZstd, WalCompression::kLz4}) {
        SCOPED_TRACE(wal_compression_name(c));
        const std::string name = std::string("huge.") + wal_compression_name(c);
        const std::string path = archive_ + "/" + name;
        archive(name, segment, c);
        std::string stored = file_contents(path);
        set_le32(stored, 16, 0);
        set_le32(stored, 20, 256);  // 256 << 32 = 1 TiB
        reseal_header(stored);
        write_file(path, stored);
        const std::string dest = out_ + "/" + name;
        const std::string message = refusal([&] { restore_wal_file(archive_, name, dest); });
        EXPECT_TRUE(contains(message, "archive file " + path + " is corrupt: ")) << message;
        EXPECT_FALSE(contains(message, "reserve")) << message;
        EXPECT_FALSE(exists(dest));
        EXPECT_TRUE(list_directory(out_).empty());
    }
}

TEST_F(WalArchiveTest, AnUncompressedContainerIsStoredWithItsExactSize) {
    // Archiving reserves header + source size before writing (FALLOC_FL_KEEP_SIZE): the
    // file's size is still only what was written, for every size around the chunk size.
    for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{1} << 20, (size_t{1} << 20) + 1,
                        size_t{3} << 20}) {
        SCOPED_TRACE(size);
        const std::string name = "exact." + std::to_string(size);
        const std::string bytes = random_bytes(size, 77);
        archive(name, bytes, WalCompression::kOff);
        EXPECT_EQ(fs::file_size(archive_ + "/" + name), size + 32);
        EXPECT_TRUE(same_bytes(restore(name), bytes));
        fs::remove(out_ + "/" + name);
    }
}

// ---- missing files, names, directories ----

TEST_F(WalArchiveTest, AFileNotInTheArchiveIsReportedAsSuch) {
    const std::string dest = out_ + "/RECOVERYXLOG";
    EXPECT_EQ(restore_wal_file(archive_, kSegmentName, dest), RestoreOutcome::kNotInArchive);
    EXPECT_EQ(restore_wal_file(archive_ + "/", "00000002.history", dest),
              RestoreOutcome::kNotInArchive);
    EXPECT_FALSE(exists(dest));
    EXPECT_TRUE(list_directory(out_).empty());
}

TEST_F(WalArchiveTest, AMissingArchiveDirectoryIsAnErrorNotAMissingFile) {
    const std::string missing = dir_ + "/no_such_archive";
    EXPECT_EQ(refusal([&] { restore_wal_file(missing, kSegmentName, out_ + "/x"); }),
              "could not open archive directory " + missing + ": No such file or directory");
    write_file(dir_ + "/plain_file", "x");
    EXPECT_EQ(refusal([&] { restore_wal_file(dir_ + "/plain_file", kSegmentName, out_ + "/x"); }),
              "could not open " + dir_ + "/plain_file/" + kSegmentName + ": Not a directory");
    EXPECT_TRUE(contains(refusal([&] { restore_wal_file("", kSegmentName, out_ + "/x"); }),
                         "no WAL archive directory"));
    write_file(src_ + "/s", "x");
    EXPECT_TRUE(contains(
        refusal([&] { archive_wal_file(src_ + "/s", kSegmentName, "", WalCompression::kOff); }),
        "no WAL archive directory"));
    EXPECT_TRUE(list_directory(out_).empty());
}

TEST_F(WalArchiveTest, BadFileNamesAreRefused) {
    write_file(src_ + "/s", "wal");
    const std::vector<std::string> bad = {"",
                                          ".",
                                          "..",
                                          "a/b",
                                          "/abs",
                                          ".hidden",
                                          "..x",
                                          "dir/",
                                          std::string(300, 'a'),
                                          std::string(256, 'b'),
                                          std::string("a\0b", 3)};
    for (const std::string& name : bad) {
        SCOPED_TRACE(name.size() > 20 ? std::to_string(name.size()) + " bytes" : name);
        std::string message =
            refusal([&] { archive_wal_file(src_ + "/s", name, archive_, WalCompression::kOff); });
        EXPECT_TRUE(contains(message, "invalid archive file name")) << message;
        message = refusal([&] { restore_wal_file(archive_, name, out_ + "/x"); });
        EXPECT_TRUE(contains(message, "invalid archive file name")) << message;
    }
    EXPECT_TRUE(list_directory(archive_).empty());
    EXPECT_TRUE(list_directory(out_).empty());
    EXPECT_TRUE(list_directory(dir_).size() == 3u);  // archive, out, src: nothing escaped
}

TEST_F(WalArchiveTest, A255ByteNameRoundTrips) {
    const std::string name = std::string(255, 'w');
    const std::string bytes = random_bytes(3000, 51);
    for (WalCompression c : kAllCompressions) {
        SCOPED_TRACE(wal_compression_name(c));
        fs::remove_all(archive_);
        fs::create_directories(archive_);
        EXPECT_FALSE(archive(name, bytes, c).already_archived);
        EXPECT_EQ(list_directory(archive_), std::vector<std::string>{name});
        EXPECT_TRUE(same_bytes(restore(name), bytes));
        EXPECT_TRUE(archive(name, bytes, c).already_archived);
    }
}

TEST_F(WalArchiveTest, ZstdLevelsOutsideOneToNineteenAreRefused) {
    write_file(src_ + "/s", "wal bytes");
    for (int level : {0, -1, 20, 22}) {
        EXPECT_EQ(refusal([&] {
                      archive_wal_file(src_ + "/s", kSegmentName, archive_, WalCompression::kZstd,
                                       level);
                  }),
                  "invalid zstd level " + std::to_string(level) + ": it must be between 1 and 19");
    }
    // The level only matters for zstd.
    EXPECT_FALSE(
        archive_wal_file(src_ + "/s", "a", archive_, WalCompression::kLz4, 0).already_archived);
    const std::string text = std::string(200000, 'q') + random_bytes(1000, 3);
    EXPECT_FALSE(archive("b", text, WalCompression::kZstd, 19).already_archived);
    EXPECT_EQ(restore("b"), text);
    EXPECT_EQ(refusal([&] {
                  archive_wal_file(src_ + "/s", "c", archive_, static_cast<WalCompression>(3));
              }),
              "invalid WAL compression code 3");
    EXPECT_EQ(list_directory(archive_), (std::vector<std::string>{"a", "b"}));
}

// ---- no temporary files, atomic results ----

TEST_F(WalArchiveTest, NoTemporaryFilesRemainAfterSuccess) {
    const std::string segment = wal_like_segment(8);
    for (WalCompression c : kAllCompressions) {
        archive(std::string("seg.") + wal_compression_name(c), segment, c);
        archive(std::string("seg.") + wal_compression_name(c), segment, c);  // idempotent path
    }
    EXPECT_EQ(list_directory(archive_),
              (std::vector<std::string>{"seg.lz4", "seg.off", "seg.zstd"}));
    for (WalCompression c : kAllCompressions)
        restore(std::string("seg.") + wal_compression_name(c));
    EXPECT_EQ(list_directory(out_), (std::vector<std::string>{"seg.lz4", "seg.off", "seg.zstd"}));
}

TEST_F(WalArchiveTest, NoTemporaryFilesRemainAfterFailures) {
    const std::string missing_dir = dir_ + "/missing";
    write_file(src_ + "/s", "wal bytes");
    std::string message = refusal(
        [&] { archive_wal_file(src_ + "/s", kSegmentName, missing_dir, WalCompression::kZstd); });
    EXPECT_TRUE(contains(message, "could not create " + missing_dir + "/" + kSegmentName + ".tmp." +
                                      std::to_string(::getpid()) + "."))
        << message;
    EXPECT_TRUE(contains(message, ": No such file or directory")) << message;
    EXPECT_FALSE(exists(missing_dir));

    message = refusal(
        [&] { archive_wal_file(src_ + "/none", kSegmentName, archive_, WalCompression::kOff); });
    EXPECT_EQ(message, "could not open " + src_ + "/none: No such file or directory");

    message =
        refusal([&] { archive_wal_file(src_, kSegmentName, archive_, WalCompression::kLz4); });
    EXPECT_EQ(message, "could not archive " + src_ + ": it is not a regular file");
    EXPECT_TRUE(list_directory(archive_).empty());

    // Restoring into a directory that does not exist.
    archive(kSegmentName, "wal bytes", WalCompression::kOff);
    message = refusal([&] { restore_wal_file(archive_, kSegmentName, dir_ + "/nodir/x"); });
    EXPECT_TRUE(contains(message, "could not create " + dir_ + "/nodir/x.tmp.")) << message;
    // Restoring onto a directory: the rename fails, the temporary file goes.
    fs::create_directories(out_ + "/taken");
    message = refusal([&] { restore_wal_file(archive_, kSegmentName, out_ + "/taken"); });
    EXPECT_TRUE(contains(message, "could not rename " + out_ + "/taken.tmp.")) << message;
    EXPECT_EQ(list_directory(out_), std::vector<std::string>{"taken"});
    EXPECT_EQ(list_directory(archive_), std::vector<std::string>{kSegmentName});
}

TEST_F(WalArchiveTest, AWriteErrorMidwayRemovesTheTemporaryFile) {
    const std::string segment = wal_like_segment(9);
    write_file(src_ + "/seg", segment);
    for (WalCompression c : kAllCompressions) {
        SCOPED_TRACE(wal_compression_name(c));
        std::string message;
        {
            // Small enough that even the compressed segment does not fit.
            ScopedFileSizeLimit limit(64 * 1024);
            ASSERT_TRUE(limit.ok());
            message = refusal([&] { archive_wal_file(src_ + "/seg", kSegmentName, archive_, c); });
        }
        EXPECT_TRUE(contains(message, "could not write " + archive_ + "/" + kSegmentName + ".tmp."))
            << message;
        EXPECT_TRUE(contains(message, ": File too large")) << message;
        EXPECT_TRUE(list_directory(archive_).empty());
    }
    // The same for a restore: no destination, no temporary file.
    archive(kSegmentName, segment, WalCompression::kLz4);
    std::string message;
    {
        ScopedFileSizeLimit limit(1024 * 1024);
        ASSERT_TRUE(limit.ok());
        message =
            refusal([&] { restore_wal_file(archive_, kSegmentName, out_ + "/RECOVERYXLOG"); });
    }
    EXPECT_TRUE(contains(message, "could not write " + out_ + "/RECOVERYXLOG.tmp.")) << message;
    EXPECT_TRUE(list_directory(out_).empty());
}

TEST_F(WalArchiveTest, AnUnwritableArchiveDirectoryIsReportedWithTheReason) {
    write_file(src_ + "/s", "wal bytes");
    ASSERT_EQ(::chmod(archive_.c_str(), 0500), 0);
    const std::string message = infra::test::as_unprivileged(dir_, [&] {
        return refusal(
            [&] { archive_wal_file(src_ + "/s", kSegmentName, archive_, WalCompression::kOff); });
    });
    EXPECT_TRUE(contains(message, "could not create " + archive_ + "/" + kSegmentName + ".tmp."))
        << message;
    EXPECT_TRUE(contains(message, ": Permission denied")) << message;
    ::chmod(archive_.c_str(), 0700);
    EXPECT_TRUE(list_directory(archive_).empty());
}

TEST_F(WalArchiveTest, RestoreReplacesTheDestinationAtomically) {
    const std::string segment = wal_like_segment(10);
    archive(kSegmentName, segment, WalCompression::kZstd);
    const std::string dest = out_ + "/RECOVERYXLOG";
    write_file(dest, "an older segment");
    struct stat before;
    ASSERT_EQ(::stat(dest.c_str(), &before), 0);
    EXPECT_EQ(restore_wal_file(archive_, kSegmentName, dest), RestoreOutcome::kRestored);
    struct stat after;
    ASSERT_EQ(::stat(dest.c_str(), &after), 0);
    EXPECT_NE(after.st_ino, before.st_ino);  // a new file renamed over it, not rewritten
    EXPECT_EQ(after.st_mode & 07777, 0600u);
    EXPECT_TRUE(same_bytes(file_contents(dest), segment));
    EXPECT_EQ(list_directory(out_), std::vector<std::string>{"RECOVERYXLOG"});
    // The archived copy is untouched by restoring.
    EXPECT_TRUE(
        archive_wal_file(src_ + "/" + kSegmentName, kSegmentName, archive_, WalCompression::kOff)
            .already_archived);
}

// As restore_command (kForRestoreCommand): the same bytes and the same atomic rename over
// the destination, only without the fsyncs PostgreSQL does itself.
TEST_F(WalArchiveTest, RestoreForRestoreCommandIsAtomicToo) {
    for (WalCompression c : {WalCompression::kOff, WalCompression::kZstd, WalCompression::kLz4}) {
        const std::string name =
            std::string("00000001000000000000000") + static_cast<char>('A' + static_cast<int>(c));
        const std::string segment = wal_like_segment(20 + static_cast<int>(c));
        archive(name, segment, c);
        const std::string dest = out_ + "/RECOVERYXLOG";
        write_file(dest, "an older segment");
        struct stat before;
        ASSERT_EQ(::stat(dest.c_str(), &before), 0);
        EXPECT_EQ(restore_wal_file(archive_, name, dest, RestoreDurability::kForRestoreCommand),
                  RestoreOutcome::kRestored);
        struct stat after;
        ASSERT_EQ(::stat(dest.c_str(), &after), 0);
        EXPECT_NE(after.st_ino, before.st_ino);
        EXPECT_TRUE(same_bytes(file_contents(dest), segment));
        EXPECT_EQ(list_directory(out_), std::vector<std::string>{"RECOVERYXLOG"});
    }
}

TEST_F(WalArchiveTest, ReadArchivedFileInfoOfAMissingFileNamesIt) {
    const std::string path = archive_ + "/" + kSegmentName;
    EXPECT_EQ(refusal([&] { read_archived_file_info(path); }),
              "could not open " + path + ": No such file or directory");
}

}  // namespace
}  // namespace infra::core
