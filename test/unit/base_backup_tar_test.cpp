// base_backup_tar_test.cpp: tar-format base backups (src/core/base_backup_tar.*) built in
// real mkdtemp directories with libarchive's writer, shaped like PostgreSQL 15's
// pg_basebackup -Ft -X stream --manifest-checksums=CRC32C output (base.tar[.gz|.lz4|.zst],
// pg_wal.tar[...], backup_manifest with PostgreSQL's checksum rules).
// Check: a good backup passes with every compression (also with an uncompressed pg_wal.tar
// beside a compressed base.tar, and with no external program on PATH); the CRC32C text
// PostgreSQL writes (pinned to a value from a real backup); SHA256 and NONE checksums and
// an unsupported algorithm; a changed byte, a wrong size, a missing file, an extra file
// (each named); the paths pg_verifybackup ignores; Encoded-Path; a tablespace tar; the
// manifest checksum (a changed digit, an edited entry, the checksum taken over the wrong
// span); missing, wrong-sized and boundary WAL segments, 16 MiB and 1 MiB segments;
// truncated and misnamed compressed tars; missing or duplicated tars; an unsafe entry name;
// the cap of 100 problems; what throws (no directory, no manifest) and what is a problem
// (a manifest that is not JSON).
// Extract: contents, modes (capped at 0600/0700), mtimes and the byte count with every
// compression; pg_wal.tar placed in pgdata/pg_wal; internal symbolic and hard links kept;
// refusal (naming the entry, leaving pgdata empty) of "..", absolute paths, symbolic links
// leading outside, writing through a symbolic link, hard links leaving pgdata, FIFOs, a
// truncated tar; refusal of a non-empty or missing pgdata and of tablespace tars.
#include <gtest/gtest.h>

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <utility>
#include <string>
#include <vector>

#include "core/base_backup_tar.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/sha256.hpp"
#include "core/wal_archive.hpp"
#include "refusal.hpp"
#include "test_files.hpp"

namespace infra::core {
namespace {

namespace fs = std::filesystem;
using infra::test::mode_of;
using infra::test::random_bytes;
using infra::test::refusal;

constexpr int64_t kMtime = 1795000000;  // 2026-11-18
constexpr size_t kSmallSegment = 1024 * 1024;
constexpr size_t kDefaultSegment = 16 * 1024 * 1024;

enum class Compression { kNone, kGzip, kLz4, kZstd };
const Compression kAllCompressions[] = {Compression::kNone, Compression::kGzip, Compression::kLz4,
                                        Compression::kZstd};

const char* tar_suffix(Compression compression) {
    switch (compression) {
        case Compression::kNone:
            return ".tar";
        case Compression::kGzip:
            return ".tar.gz";
        case Compression::kLz4:
            return ".tar.lz4";
        case Compression::kZstd:
            return ".tar.zst";
    }
    return "?";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string joined(const std::vector<std::string>& problems) {
    std::string all;
    for (const std::string& p : problems) all += p + "\n";
    return all;
}

// The problem of a check that must fail with exactly one problem ("" after reporting a test
// failure otherwise).
std::string only_problem(const TarCheckResult& r) {
    EXPECT_FALSE(r.ok);
    if (r.problems.size() != 1) {
        ADD_FAILURE() << r.problems.size() << " problems, not 1:\n" << joined(r.problems);
        return "";
    }
    return r.problems[0];
}

// ---- writing tars ----

struct TarEntry {
    std::string name;
    std::string data;
    unsigned type = AE_IFREG;
    mode_t perm = 0600;
    std::string link;  // a symbolic link's target, or a hard link's target entry
    bool hardlink = false;
};

TarEntry file_entry(const std::string& name, const std::string& data, mode_t perm = 0600) {
    return TarEntry{name, data, AE_IFREG, perm, "", false};
}
TarEntry dir_entry(const std::string& name, mode_t perm = 0700) {
    return TarEntry{name, "", AE_IFDIR, perm, "", false};
}
TarEntry symlink_entry(const std::string& name, const std::string& target) {
    return TarEntry{name, "", AE_IFLNK, 0777, target, false};
}
TarEntry hardlink_entry(const std::string& name, const std::string& target) {
    return TarEntry{name, "", AE_IFREG, 0600, target, true};
}

void add_filter(archive* writer, Compression compression) {
    switch (compression) {
        case Compression::kNone:
            ASSERT_EQ(archive_write_add_filter_none(writer), ARCHIVE_OK);
            break;
        case Compression::kGzip:
            ASSERT_EQ(archive_write_add_filter_gzip(writer), ARCHIVE_OK);
            break;
        case Compression::kLz4:
            ASSERT_EQ(archive_write_add_filter_lz4(writer), ARCHIVE_OK);
            break;
        case Compression::kZstd:
            ASSERT_EQ(archive_write_add_filter_zstd(writer), ARCHIVE_OK);
            break;
    }
}

void write_tar(const std::string& path, Compression compression,
               const std::vector<TarEntry>& entries) {
    archive* writer = archive_write_new();
    ASSERT_EQ(archive_write_set_format_pax_restricted(writer), ARCHIVE_OK);
    add_filter(writer, compression);
    ASSERT_EQ(archive_write_open_filename(writer, path.c_str()), ARCHIVE_OK);
    for (const TarEntry& e : entries) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, e.name.c_str());
        archive_entry_set_filetype(entry, e.type);
        archive_entry_set_perm(entry, e.perm);
        archive_entry_set_mtime(entry, kMtime, 0);
        if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.link.c_str());
        if (e.hardlink) archive_entry_set_hardlink(entry, e.link.c_str());
        const bool has_data = e.type == AE_IFREG && !e.hardlink;
        archive_entry_set_size(entry, has_data ? static_cast<int64_t>(e.data.size()) : 0);
        ASSERT_EQ(archive_write_header(writer, entry), ARCHIVE_OK) << archive_error_string(writer);
        if (has_data && !e.data.empty()) {
            ASSERT_EQ(archive_write_data(writer, e.data.data(), e.data.size()),
                      static_cast<la_ssize_t>(e.data.size()));
        }
        archive_entry_free(entry);
    }
    ASSERT_EQ(archive_write_close(writer), ARCHIVE_OK);
    archive_write_free(writer);
}

// ---- writing backup_manifest as PostgreSQL does ----

// PostgreSQL writes the final CRC-32C value's bytes in (little-endian) memory order.
std::string pg_crc32c_text(const std::string& data) {
    const uint32_t crc = crc32c(data.data(), data.size());
    char text[9];
    std::snprintf(text, sizeof text, "%02x%02x%02x%02x", crc & 0xff, (crc >> 8) & 0xff,
                  (crc >> 16) & 0xff, (crc >> 24) & 0xff);
    return text;
}

std::string hex_encode(const std::string& bytes) {
    static const char kDigits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char c : bytes) {
        hex += kDigits[c >> 4];
        hex += kDigits[c & 15];
    }
    return hex;
}

struct ManifestEntry {
    std::string path;
    int64_t size = 0;
    std::string algorithm = "CRC32C";  // "" for none (no algorithm fields)
    std::string checksum;
    bool encoded = false;
};

std::string manifest_line(const ManifestEntry& f) {
    std::string line = "{ ";
    line += f.encoded ? "\"Encoded-Path\": \"" + hex_encode(f.path) + "\""
                      : "\"Path\": \"" + f.path + "\"";
    line += ", \"Size\": " + std::to_string(f.size) +
            ", \"Last-Modified\": \"2026-11-18 09:46:40 GMT\"";
    if (!f.algorithm.empty()) {
        line += ", \"Checksum-Algorithm\": \"" + f.algorithm + "\", \"Checksum\": \"" + f.checksum +
                "\"";
    }
    return line + " }";
}

// Everything up to the checksum line, which PostgreSQL's checksum covers.
std::string manifest_body(const std::vector<ManifestEntry>& files,
                          const std::vector<std::string>& wal_ranges) {
    std::string text = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n";
    for (size_t i = 0; i < files.size(); ++i) {
        text += manifest_line(files[i]) + (i + 1 < files.size() ? ",\n" : "\n");
    }
    text += "],\n\"WAL-Ranges\": [\n";
    for (size_t i = 0; i < wal_ranges.size(); ++i) {
        text += wal_ranges[i] + (i + 1 < wal_ranges.size() ? ",\n" : "\n");
    }
    return text + "],\n";
}

std::string with_checksum(const std::string& body, const std::string& checksum) {
    return body + "\"Manifest-Checksum\": \"" + checksum + "\"}\n";
}

std::string wal_range(const std::string& start, const std::string& end, int timeline = 1) {
    return "{ \"Timeline\": " + std::to_string(timeline) + ", \"Start-LSN\": \"" + start +
           "\", \"End-LSN\": \"" + end + "\" }";
}

std::string normalized(const std::string& name) {
    return name.rfind("./", 0) == 0 ? name.substr(2) : name;
}

// The manifest pg_basebackup writes for these base.tar entries: every regular file but
// those under pg_wal/.
std::vector<ManifestEntry> manifest_of(const std::vector<TarEntry>& base) {
    std::vector<ManifestEntry> files;
    for (const TarEntry& e : base) {
        const std::string path = normalized(e.name);
        if (e.type != AE_IFREG || e.hardlink || path.rfind("pg_wal/", 0) == 0) continue;
        files.push_back(
            {path, static_cast<int64_t>(e.data.size()), "CRC32C", pg_crc32c_text(e.data), false});
    }
    return files;
}

// A 1 MiB (by default) WAL segment: a page-header-like start, then zeros.
std::string segment_bytes(size_t size = kSmallSegment) {
    std::string s(size, '\0');
    const std::string head = random_bytes(512, size);
    s.replace(0, head.size(), head);
    return s;
}

struct Backup {
    std::vector<TarEntry> base;
    std::vector<TarEntry> wal;
    std::vector<ManifestEntry> files;  // the manifest's Files
    std::vector<std::string> wal_ranges;
    Compression base_compression = Compression::kNone;
    Compression wal_compression = Compression::kNone;
    std::vector<TarEntry> tablespace;  // written as 16385.tar when not empty
};

// The bytes of the standard backup's files.
const std::string kPgControl = random_bytes(8192, 1);
const std::string kPgClass = random_bytes(3 * 8192, 2);
const std::string kBackupLabel =
    "START WAL LOCATION: 0/2000028 (file 000000010000000000000020)\n"
    "CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n";

// A small backup in pg_basebackup's layout: 1 MiB WAL segments, WAL range 0/2000028 to
// 0/2000100 (segment 0x20 on timeline 1).
Backup standard_backup(Compression base_compression = Compression::kNone,
                       Compression wal_compression = Compression::kNone) {
    Backup b;
    b.base = {file_entry("backup_label", kBackupLabel),
              file_entry("tablespace_map", ""),
              dir_entry("pg_stat/"),
              file_entry("PG_VERSION", "15\n"),
              dir_entry("global/", 0755),
              file_entry("global/pg_control", kPgControl),
              dir_entry("base/"),
              dir_entry("base/1/"),
              file_entry("base/1/1259", kPgClass, 0644),
              file_entry("base/1/PG_VERSION", "15\n", 0400),
              dir_entry("pg_wal/"),
              dir_entry("./pg_wal/archive_status/"),
              file_entry("postgresql.auto.conf", "# Do not edit this file manually!\n")};
    b.wal = {file_entry("000000010000000000000020", segment_bytes())};
    b.files = manifest_of(b.base);
    b.wal_ranges = {wal_range("0/2000028", "0/2000100")};
    b.base_compression = base_compression;
    b.wal_compression = wal_compression;
    return b;
}

// Replaces dir/backup_manifest with text (write_file_durably never overwrites a file).
void replace_manifest(const std::string& dir, const std::string& text) {
    remove_tree(dir + "/backup_manifest");
    write_file_durably(dir + "/backup_manifest", text);
}

void write_manifest(const std::string& dir, const Backup& b) {
    const std::string body = manifest_body(b.files, b.wal_ranges);
    replace_manifest(dir, with_checksum(body, sha256_hex(body)));
}

void write_backup(const std::string& dir, const Backup& b) {
    write_tar(dir + "/base" + tar_suffix(b.base_compression), b.base_compression, b.base);
    write_tar(dir + "/pg_wal" + tar_suffix(b.wal_compression), b.wal_compression, b.wal);
    if (!b.tablespace.empty()) write_tar(dir + "/16385.tar", Compression::kNone, b.tablespace);
    write_manifest(dir, b);
}

ManifestEntry* find_file(Backup& b, const std::string& path) {
    for (ManifestEntry& f : b.files) {
        if (f.path == path) return &f;
    }
    ADD_FAILURE() << path << " not in the manifest";
    return nullptr;
}

TarEntry* find_entry(std::vector<TarEntry>& entries, const std::string& name) {
    for (TarEntry& e : entries) {
        if (e.name == name) return &e;
    }
    ADD_FAILURE() << name << " not in the tar";
    return nullptr;
}

void remove_entry(std::vector<TarEntry>& entries, const std::string& name) {
    for (auto it = entries.begin(); it != entries.end(); ++it) {
        if (it->name == name) {
            entries.erase(it);
            return;
        }
    }
    ADD_FAILURE() << name << " not in the tar";
}

// The number of regular files the standard backup's check matches (postgresql.auto.conf
// is ignored, as pg_verifybackup ignores it).
constexpr int64_t kStandardFilesChecked = 6;
const int64_t kStandardBytesChecked =
    static_cast<int64_t>(kBackupLabel.size() + 0 + 3 + kPgControl.size() + kPgClass.size() + 3);

// A fresh mkdtemp directory with backup/ and pgdata/ (both empty), removed at the end.
class BaseBackupTarTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(::mkdir(backup_.c_str(), 0700), 0);
        ASSERT_EQ(::mkdir(pgdata_.c_str(), 0700), 0);
    }

    TarCheckResult check(const Backup& b) {
        write_backup(backup_, b);
        return check_tar_base_backup(backup_);
    }

    // The problems of checking b, which must not pass.
    std::string problems_of(const Backup& b) {
        const TarCheckResult r = check(b);
        EXPECT_FALSE(r.ok);
        EXPECT_FALSE(r.problems.empty());
        return joined(r.problems);
    }

    // Extracting b must be refused; returns the message. pgdata must be left empty.
    std::string extract_refusal(const Backup& b) {
        write_backup(backup_, b);
        const std::string message = refusal([&] { extract_tar_base_backup(backup_, pgdata_); });
        EXPECT_TRUE(list_directory(pgdata_).empty()) << "pgdata left non-empty: " << message;
        return message;
    }

    const infra::test::TempDir tmp_{"base_backup_tar_test"};
    const std::string dir_ = tmp_.path();
    const std::string backup_ = dir_ + "/backup";
    const std::string pgdata_ = dir_ + "/pgdata";
};

// ---- check ----

TEST_F(BaseBackupTarTest, AGoodBackupPassesWithEveryCompressionAndNoExternalProgram) {
    const char* old_path = ::getenv("PATH");
    const std::string saved = old_path != nullptr ? old_path : "";
    ::setenv("PATH", "/nonexistent", 1);  // a "zstd -d" fallback would fail
    for (Compression base : kAllCompressions) {
        // PostgreSQL 15 compresses pg_wal.tar only with gzip: test both layouts.
        for (Compression wal : {Compression::kNone, base}) {
            remove_tree(backup_);
            ASSERT_EQ(::mkdir(backup_.c_str(), 0700), 0);
            const TarCheckResult r = check(standard_backup(base, wal));
            EXPECT_TRUE(r.ok) << tar_suffix(base) << "/" << tar_suffix(wal) << "\n"
                              << joined(r.problems);
            EXPECT_TRUE(r.problems.empty());
            EXPECT_EQ(r.files_checked, kStandardFilesChecked);
            EXPECT_EQ(r.bytes_checked, kStandardBytesChecked);
            EXPECT_EQ(r.wal_segments, 1);
        }
    }
    ::setenv("PATH", saved.c_str(), 1);
}

TEST_F(BaseBackupTarTest, Crc32cIsReadInPostgresByteOrder) {
    // From a real PostgreSQL 15 backup: PG_VERSION "15\n" is listed with "8a744722"
    // (crc32c = 0x2247748a).
    Backup b = standard_backup();
    ASSERT_EQ(find_file(b, "PG_VERSION")->checksum, "8a744722");
    EXPECT_TRUE(check(b).ok);

    find_file(b, "PG_VERSION")->checksum = "2247748a";  // %08x of the value: wrong
    EXPECT_TRUE(contains(problems_of(b), "PG_VERSION: checksum mismatch"));
}

TEST_F(BaseBackupTarTest, UpperCaseChecksumDigitsAreAccepted) {
    Backup b = standard_backup();
    find_file(b, "PG_VERSION")->checksum = "8A744722";
    EXPECT_TRUE(check(b).ok);
}

TEST_F(BaseBackupTarTest, AChangedByteIsAChecksumProblemNamingTheFile) {
    Backup b = standard_backup(Compression::kZstd);
    find_entry(b.base, "base/1/1259")->data[8192 + 17] ^= 0x20;
    const TarCheckResult r = check(b);
    const std::string problem = only_problem(r);
    EXPECT_TRUE(contains(problem, "base/1/1259: checksum mismatch")) << problem;
    EXPECT_EQ(r.files_checked, kStandardFilesChecked - 1);
    EXPECT_EQ(r.bytes_checked, kStandardBytesChecked - static_cast<int64_t>(kPgClass.size()));
}

TEST_F(BaseBackupTarTest, Sha256ChecksumsAreVerified) {
    Backup b = standard_backup();
    for (ManifestEntry& f : b.files) {
        f.algorithm = "SHA256";
        f.checksum = sha256_hex(find_entry(b.base, f.path)->data);
    }
    EXPECT_TRUE(check(b).ok);
    find_entry(b.base, "global/pg_control")->data[5] ^= 1;
    const std::string p = problems_of(b);
    EXPECT_TRUE(contains(p, "global/pg_control: checksum mismatch")) << p;
}

TEST_F(BaseBackupTarTest, WithoutChecksumsOnlySizesAreCompared) {
    Backup b = standard_backup();
    for (ManifestEntry& f : b.files) f.algorithm = "";
    find_entry(b.base, "global/pg_control")->data[5] ^= 1;
    const TarCheckResult r = check(b);
    EXPECT_TRUE(r.ok) << joined(r.problems);
    EXPECT_EQ(r.files_checked, kStandardFilesChecked);
}

TEST_F(BaseBackupTarTest, AnUnsupportedChecksumAlgorithmIsAProblem) {
    Backup b = standard_backup();
    find_file(b, "global/pg_control")->algorithm = "SHA512";
    find_file(b, "global/pg_control")->checksum = std::string(128, 'a');
    const std::string problems = problems_of(b);
    EXPECT_TRUE(contains(problems, "global/pg_control: checksum algorithm SHA512 is not supported"))
        << problems;
}

TEST_F(BaseBackupTarTest, AWrongSizeIsAProblemNamingBothSizes) {
    Backup b = standard_backup(Compression::kGzip);
    find_entry(b.base, "global/pg_control")->data += "x";
    const std::string problems = problems_of(b);
    EXPECT_TRUE(contains(problems,
                         "global/pg_control: size 8193 in base.tar.gz, 8192 in the "
                         "manifest"))
        << problems;
}

TEST_F(BaseBackupTarTest, AFileMissingFromTheTarIsAProblem) {
    Backup b = standard_backup(Compression::kLz4);
    remove_entry(b.base, "global/pg_control");
    EXPECT_EQ(only_problem(check(b)),
              "global/pg_control: in the manifest but missing from base.tar");
}

TEST_F(BaseBackupTarTest, AFileNotInTheManifestIsAProblem) {
    Backup b = standard_backup();
    b.base.push_back(file_entry("base/1/99999", "extra"));
    EXPECT_EQ(only_problem(check(b)), "base/1/99999: in base.tar but not in the manifest");
}

TEST_F(BaseBackupTarTest, PathsPgVerifybackupIgnoresAreIgnored) {
    Backup b = standard_backup();
    // pg_basebackup -R rewrites postgresql.auto.conf and adds standby.signal.
    find_entry(b.base, "postgresql.auto.conf")->data += "primary_conninfo = 'host=x'\n";
    b.base.push_back(file_entry("standby.signal", ""));
    b.base.push_back(file_entry("recovery.signal", ""));
    b.base.push_back(file_entry("pg_wal/000000010000000000000001", "old"));
    const TarCheckResult r = check(b);
    EXPECT_TRUE(r.ok) << joined(r.problems);
    EXPECT_EQ(r.files_checked, kStandardFilesChecked);
}

TEST_F(BaseBackupTarTest, EncodedPathsAreDecoded) {
    Backup b = standard_backup();
    const std::string odd_name = "base/1/odd\x01name";
    b.base.push_back(file_entry(odd_name, "odd"));
    b.files.push_back({odd_name, 3, "CRC32C", pg_crc32c_text("odd"), true});
    const TarCheckResult r = check(b);
    EXPECT_TRUE(r.ok) << joined(r.problems);
    EXPECT_EQ(r.files_checked, kStandardFilesChecked + 1);
}

TEST_F(BaseBackupTarTest, ATablespaceTarIsCheckedUnderPgTblspc) {
    Backup b = standard_backup();
    const std::string data = random_bytes(8192, 3);
    b.tablespace = {dir_entry("PG_15_202209061/"), dir_entry("PG_15_202209061/5/"),
                    file_entry("PG_15_202209061/5/16391", data)};
    b.files.push_back(
        {"pg_tblspc/16385/PG_15_202209061/5/16391", 8192, "CRC32C", pg_crc32c_text(data), false});
    b.files.push_back(
        {"pg_tblspc/16385/PG_15_202209061/5/16392", 1, "CRC32C", pg_crc32c_text("x"), false});
    const TarCheckResult r = check(b);
    EXPECT_EQ(r.files_checked, kStandardFilesChecked + 1);
    ASSERT_EQ(r.problems.size(), 1u) << joined(r.problems);
    EXPECT_EQ(r.problems[0],
              "pg_tblspc/16385/PG_15_202209061/5/16392: in the manifest but missing from "
              "16385.tar");
}

TEST_F(BaseBackupTarTest, AChangedManifestChecksumDigitIsAProblem) {
    const Backup b = standard_backup();
    write_backup(backup_, b);
    const std::string body = manifest_body(b.files, b.wal_ranges);
    std::string checksum = sha256_hex(body);
    checksum[10] = checksum[10] == '0' ? '1' : '0';
    replace_manifest(backup_, with_checksum(body, checksum));
    EXPECT_TRUE(contains(only_problem(check_tar_base_backup(backup_)),
                         "backup_manifest: manifest checksum mismatch"));
}

TEST_F(BaseBackupTarTest, AnEditedManifestEntryBreaksTheManifestChecksum) {
    Backup b = standard_backup();
    write_backup(backup_, b);
    // Someone "fixes" a checksum in the manifest without recomputing the manifest checksum.
    std::string text = read_file(backup_ + "/backup_manifest");
    const std::string listed = find_file(b, "global/pg_control")->checksum;
    const std::string replacement = listed == "00000000" ? "11111111" : "00000000";
    text.replace(text.find(listed), listed.size(), replacement);
    replace_manifest(backup_, text);
    const std::string problems = joined(check_tar_base_backup(backup_).problems);
    EXPECT_TRUE(contains(problems, "manifest checksum mismatch")) << problems;
    EXPECT_TRUE(contains(problems, "global/pg_control: checksum mismatch")) << problems;
}

TEST_F(BaseBackupTarTest, TheManifestChecksumCoversTextUpToTheChecksumLineOnly) {
    const Backup b = standard_backup();
    write_backup(backup_, b);
    const std::string body = manifest_body(b.files, b.wal_ranges);
    // Over the whole text without the final line break, or without the last "\n" before
    // the checksum line: both differ from PostgreSQL's rule.
    for (const std::string& covered : {body.substr(0, body.size() - 1), body + "x"}) {
        replace_manifest(backup_, with_checksum(body, sha256_hex(covered)));
        EXPECT_FALSE(check_tar_base_backup(backup_).ok);
    }
    replace_manifest(backup_, with_checksum(body, sha256_hex(body)));
    EXPECT_TRUE(check_tar_base_backup(backup_).ok);
}

TEST_F(BaseBackupTarTest, AManifestWithoutItsFinalNewlineIsAProblem) {
    const Backup b = standard_backup();
    write_backup(backup_, b);
    const std::string body = manifest_body(b.files, b.wal_ranges);
    std::string text = with_checksum(body, sha256_hex(body));
    text.pop_back();
    replace_manifest(backup_, text);
    EXPECT_TRUE(contains(joined(check_tar_base_backup(backup_).problems), "newline"));
}

TEST_F(BaseBackupTarTest, AManifestThatIsNotJsonIsAProblem) {
    write_backup(backup_, standard_backup());
    replace_manifest(backup_, "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n");
    const TarCheckResult r = check_tar_base_backup(backup_);
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(contains(joined(r.problems), "backup_manifest: not valid JSON"))
        << joined(r.problems);
}

TEST_F(BaseBackupTarTest, AMissingDirectoryOrManifestThrows) {
    EXPECT_TRUE(contains(refusal([&] { check_tar_base_backup(dir_ + "/nope"); }), "/nope"));
    write_tar(backup_ + "/base.tar", Compression::kNone, standard_backup().base);
    EXPECT_TRUE(contains(refusal([&] { check_tar_base_backup(backup_); }), "backup_manifest"));
}

TEST_F(BaseBackupTarTest, AMissingWalSegmentIsAProblemNamingIt) {
    Backup b = standard_backup();
    // Three segments needed: 0x20, 0x21, 0x22 (1 MiB segments); 0x21 is missing.
    b.wal_ranges = {wal_range("0/2000028", "0/2200100")};
    b.wal = {file_entry("000000010000000000000020", segment_bytes()),
             file_entry("000000010000000000000022", segment_bytes())};
    const TarCheckResult r = check(b);
    EXPECT_EQ(r.wal_segments, 2);
    const std::string problem = only_problem(r);
    EXPECT_TRUE(contains(problem, "WAL segment 000000010000000000000021 is missing")) << problem;
}

TEST_F(BaseBackupTarTest, AnEmptyWalTarIsAProblem) {
    Backup b = standard_backup();
    b.wal.clear();
    // With no segment to take the size from, the default 16 MiB names the missing one.
    const std::string p = problems_of(b);
    EXPECT_TRUE(contains(p, "WAL segment 000000010000000000000002 is missing")) << p;
}

TEST_F(BaseBackupTarTest, AWalSegmentOnAnotherTimelineDoesNotCount) {
    Backup b = standard_backup();
    b.wal = {file_entry("000000020000000000000020", segment_bytes())};
    EXPECT_TRUE(contains(problems_of(b), "000000010000000000000020 is missing"));
}

TEST_F(BaseBackupTarTest, AnEndLsnOnASegmentBoundaryDoesNotNeedTheNextSegment) {
    Backup b = standard_backup();
    b.wal_ranges = {wal_range("0/2000028", "0/2100000")};  // ends exactly where 0x21 begins
    const TarCheckResult r = check(b);
    EXPECT_TRUE(r.ok) << joined(r.problems);
}

TEST_F(BaseBackupTarTest, SixteenMegabyteSegmentsAreNamedFromTheirSize) {
    Backup b = standard_backup(Compression::kZstd, Compression::kNone);
    b.wal = {file_entry("000000010000000000000002", segment_bytes(kDefaultSegment))};
    EXPECT_TRUE(check(b).ok);
    b.wal = {file_entry("000000010000000000000020", segment_bytes(kDefaultSegment))};
    EXPECT_TRUE(contains(problems_of(b), "000000010000000000000002 is missing"));
}

TEST_F(BaseBackupTarTest, AWalSegmentOfTheWrongSizeIsAProblem) {
    Backup b = standard_backup();
    b.wal = {file_entry("000000010000000000000020", segment_bytes()),
             file_entry("000000010000000000000021", segment_bytes().substr(0, 4096))};
    const std::string problems = problems_of(b);
    EXPECT_TRUE(contains(problems, "000000010000000000000021 has 4096 bytes")) << problems;
}

TEST_F(BaseBackupTarTest, ATruncatedCompressedTarIsAProblemNotACrash) {
    for (Compression c : kAllCompressions) {
        remove_tree(backup_);
        ASSERT_EQ(::mkdir(backup_.c_str(), 0700), 0);
        Backup b = standard_backup(c, c);
        write_backup(backup_, b);
        const std::string base = backup_ + "/base" + tar_suffix(c);
        const auto size = fs::file_size(base);
        fs::resize_file(base, size / 2);
        const TarCheckResult r = check_tar_base_backup(backup_);
        EXPECT_FALSE(r.ok) << tar_suffix(c);
        const std::string problems = joined(r.problems);
        EXPECT_TRUE(contains(problems, "cannot read " + base)) << problems;
        EXPECT_TRUE(contains(problems, "base.tar could not be read to its end")) << problems;
    }
}

TEST_F(BaseBackupTarTest, ATruncatedWalTarIsAProblem) {
    Backup b = standard_backup(Compression::kNone, Compression::kGzip);
    write_backup(backup_, b);
    const std::string wal = backup_ + "/pg_wal.tar.gz";
    fs::resize_file(wal, fs::file_size(wal) - 20);
    const std::string problems = joined(check_tar_base_backup(backup_).problems);
    EXPECT_TRUE(contains(problems, "cannot read " + wal)) << problems;
}

TEST_F(BaseBackupTarTest, ATarWhoseContentsDoNotMatchItsNameIsAProblem) {
    write_backup(backup_, standard_backup(Compression::kGzip));
    fs::rename(backup_ + "/base.tar.gz", backup_ + "/base.tar.zst");
    const std::string problems = joined(check_tar_base_backup(backup_).problems);
    EXPECT_TRUE(contains(problems, "base.tar.zst: its contents are not zstd")) << problems;
}

TEST_F(BaseBackupTarTest, MissingOrDuplicatedTarsAreProblems) {
    const Backup b = standard_backup();
    write_backup(backup_, b);
    write_tar(backup_ + "/base.tar.zst", Compression::kZstd, b.base);
    EXPECT_TRUE(contains(joined(check_tar_base_backup(backup_).problems),
                         "holds both base.tar and base.tar.zst"));
    remove_tree(backup_ + "/base.tar");
    remove_tree(backup_ + "/base.tar.zst");
    remove_tree(backup_ + "/pg_wal.tar");
    const std::string problems = joined(check_tar_base_backup(backup_).problems);
    EXPECT_TRUE(contains(problems, "base.tar: missing from " + backup_)) << problems;
    EXPECT_TRUE(contains(problems, "pg_wal.tar: missing from " + backup_)) << problems;
}

TEST_F(BaseBackupTarTest, AnUnsafeEntryNameIsAProblem) {
    Backup b = standard_backup();
    b.base.push_back(file_entry("../escape", "x"));
    const std::string problems = problems_of(b);
    EXPECT_TRUE(contains(problems, "entry \"../escape\" has a \"..\" component")) << problems;
}

TEST_F(BaseBackupTarTest, AtMostOneHundredProblemsAreListed) {
    Backup b = standard_backup();
    for (int i = 0; i < 150; ++i) b.base.push_back(file_entry("base/1/x" + std::to_string(i), ""));
    const TarCheckResult r = check(b);
    EXPECT_FALSE(r.ok);
    ASSERT_EQ(r.problems.size(), 100u);
    EXPECT_EQ(r.problems[0], "base/1/x0: in base.tar but not in the manifest");
    EXPECT_EQ(r.problems.back(), "51 more problems not listed");
}

// ---- extract ----

// ---- check while pg_basebackup writes: digest_growing_base_tar ----

// Writes `bytes` to path in pieces, as pg_basebackup does, after a delay (so the reader
// waits for the file to appear), stopping after `stop_after` bytes when it is smaller.
class SlowWriter {
  public:
    SlowWriter(std::string path, std::string bytes, size_t stop_after = std::string::npos)
        : thread_([this, path = std::move(path), bytes = std::move(bytes), stop_after] {
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
              std::ofstream out(path, std::ios::binary);
              const size_t end = std::min(stop_after, bytes.size());
              for (size_t at = 0; at < end; at += 4096) {
                  out.write(bytes.data() + at,
                            static_cast<std::streamsize>(std::min<size_t>(4096, end - at)));
                  out.flush();
                  std::this_thread::sleep_for(std::chrono::milliseconds(1));
              }
              out.close();
              running_ = false;
          }) {}
    ~SlowWriter() { thread_.join(); }
    std::function<bool()> running() {
        return [this] { return running_.load(); };
    }

  private:
    std::atomic<bool> running_{true};
    std::thread thread_;
};

// Writes b, then takes base.tar* away and gives back its bytes and path.
std::pair<std::string, std::string> take_base_tar(const std::string& dir, const Backup& b) {
    write_backup(dir, b);
    const std::string path = dir + "/base" + tar_suffix(b.base_compression);
    const std::string bytes = infra::test::file_contents(path);
    remove_tree(path);
    return {path, bytes};
}

TEST_F(BaseBackupTarTest, DigestsMadeWhileTheTarIsWrittenGiveTheSameCheck) {
    for (Compression c : kAllCompressions) {
        remove_tree(backup_);
        ASSERT_EQ(::mkdir(backup_.c_str(), 0700), 0);
        const auto [path, bytes] = take_base_tar(backup_, standard_backup(c));
        BaseTarDigests digests;
        {
            SlowWriter writer(path, bytes);
            digests = digest_growing_base_tar(path, writer.running());
        }
        EXPECT_TRUE(digests.complete) << tar_suffix(c) << ": " << digests.read_error;
        EXPECT_EQ(digests.entries.size(), static_cast<size_t>(kStandardFilesChecked));
        const TarCheckResult r = check_tar_base_backup(backup_, &digests);
        EXPECT_TRUE(r.ok) << tar_suffix(c) << "\n" << joined(r.problems);
        EXPECT_EQ(r.files_checked, kStandardFilesChecked);
        EXPECT_EQ(r.bytes_checked, kStandardBytesChecked);
        EXPECT_EQ(r.wal_segments, 1);
    }
}

TEST_F(BaseBackupTarTest, DigestsFindAChangedByte) {
    Backup b = standard_backup(Compression::kZstd);
    const std::string good = find_file(b, "base/1/1259")->checksum;
    find_entry(b.base, "base/1/1259")->data[100] ^= 0x01;
    b.files = manifest_of(b.base);
    find_file(b, "base/1/1259")->checksum = good;  // the manifest of the original bytes
    const auto [path, bytes] = take_base_tar(backup_, b);
    BaseTarDigests digests;
    {
        SlowWriter writer(path, bytes);
        digests = digest_growing_base_tar(path, writer.running());
    }
    const std::string p = only_problem(check_tar_base_backup(backup_, &digests));
    EXPECT_TRUE(contains(p, "base/1/1259: checksum mismatch")) << p;
}

TEST_F(BaseBackupTarTest, AWriterThatStopsHalfwayLeavesBaseTarUnread) {
    const auto [path, bytes] = take_base_tar(backup_, standard_backup(Compression::kZstd));
    BaseTarDigests digests;
    {
        SlowWriter writer(path, bytes, bytes.size() / 2);
        digests = digest_growing_base_tar(path, writer.running());
    }
    EXPECT_FALSE(digests.complete);
    EXPECT_TRUE(contains(digests.read_error, "cannot read " + path)) << digests.read_error;
    const TarCheckResult r = check_tar_base_backup(backup_, &digests);
    EXPECT_FALSE(r.ok);
    const std::string p = joined(r.problems);
    EXPECT_TRUE(contains(p, "base.tar could not be read to its end")) << p;
}

TEST_F(BaseBackupTarTest, NoTarAndNoWriterIsAReadErrorNotAWait) {
    const BaseTarDigests digests =
        digest_growing_base_tar(backup_ + "/base.tar.zst", [] { return false; });
    EXPECT_FALSE(digests.complete);
    EXPECT_TRUE(contains(digests.read_error, "base.tar.zst")) << digests.read_error;
    const BaseTarDigests other = digest_growing_base_tar(backup_ + "/x.tar", [] { return false; });
    EXPECT_TRUE(contains(other.read_error, "not a base.tar name")) << other.read_error;
}

TEST_F(BaseBackupTarTest, DigestsAreUsedOnlyForTheirOwnTarAndForCrc32cManifests) {
    Backup b = standard_backup(Compression::kGzip);
    const auto [path, bytes] = take_base_tar(backup_, b);
    BaseTarDigests digests;
    {
        SlowWriter writer(path, bytes);
        digests = digest_growing_base_tar(path, writer.running());
    }
    ASSERT_TRUE(digests.complete) << digests.read_error;
    BaseTarDigests wrong = digests;
    for (auto& entry : wrong.entries) entry.crc32c ^= 1;
    // Used: the wrong digests make every checked file a mismatch.
    EXPECT_FALSE(check_tar_base_backup(backup_, &wrong).ok);
    // Not used for another file name: base.tar.gz is read again.
    wrong.tar_name = "base.tar.zst";
    EXPECT_TRUE(check_tar_base_backup(backup_, &wrong).ok);
    // Not used when the manifest has SHA-256 checksums (a digest cannot answer them).
    wrong.tar_name = digests.tar_name;
    for (ManifestEntry& f : b.files) {
        f.algorithm = "SHA256";
        f.checksum = sha256_hex(find_entry(b.base, f.path)->data);
    }
    write_manifest(backup_, b);
    const TarCheckResult r = check_tar_base_backup(backup_, &wrong);
    EXPECT_TRUE(r.ok) << joined(r.problems);
}

TEST_F(BaseBackupTarTest, ExtractWritesFilesModesAndWalWithEveryCompression) {
    for (Compression c : kAllCompressions) {
        remove_tree(backup_);
        remove_tree(pgdata_);
        ASSERT_EQ(::mkdir(backup_.c_str(), 0700), 0);
        ASSERT_EQ(::mkdir(pgdata_.c_str(), 0700), 0);
        Backup b = standard_backup(c, c == Compression::kGzip ? c : Compression::kNone);
        write_backup(backup_, b);
        const int64_t bytes = extract_tar_base_backup(backup_, pgdata_);
        int64_t expected = 0;
        for (const TarEntry& e : b.base) expected += static_cast<int64_t>(e.data.size());
        for (const TarEntry& e : b.wal) expected += static_cast<int64_t>(e.data.size());
        EXPECT_EQ(bytes, expected) << tar_suffix(c);

        EXPECT_EQ(read_file(pgdata_ + "/backup_label"), kBackupLabel);
        EXPECT_EQ(read_file(pgdata_ + "/global/pg_control"), kPgControl);
        EXPECT_EQ(read_file(pgdata_ + "/base/1/1259"), kPgClass);
        EXPECT_EQ(read_file(pgdata_ + "/tablespace_map"), "");
        EXPECT_EQ(read_file(pgdata_ + "/pg_wal/000000010000000000000020"), b.wal[0].data);
        EXPECT_TRUE(fs::is_directory(pgdata_ + "/pg_wal/archive_status"));
        EXPECT_TRUE(fs::is_directory(pgdata_ + "/pg_stat"));

        EXPECT_EQ(mode_of(pgdata_ + "/PG_VERSION"), 0600u);
        EXPECT_EQ(mode_of(pgdata_ + "/base/1/1259"), 0600u);        // 0644 in the tar
        EXPECT_EQ(mode_of(pgdata_ + "/base/1/PG_VERSION"), 0400u);  // kept
        EXPECT_EQ(mode_of(pgdata_ + "/global"), 0700u);             // 0755 in the tar
        EXPECT_EQ(mode_of(pgdata_ + "/pg_wal/000000010000000000000020"), 0600u);
        struct stat st;
        ASSERT_EQ(::stat((pgdata_ + "/global/pg_control").c_str(), &st), 0);
        EXPECT_EQ(st.st_mtime, kMtime);
    }
}

TEST_F(BaseBackupTarTest, ExtractCreatesMissingParentsAndPgWal) {
    Backup b = standard_backup();
    b.base = {file_entry("base/1/1259", kPgClass)};  // no directory entries at all
    write_backup(backup_, b);
    extract_tar_base_backup(backup_, pgdata_);
    EXPECT_EQ(read_file(pgdata_ + "/base/1/1259"), kPgClass);
    EXPECT_EQ(mode_of(pgdata_ + "/base/1"), 0700u);
    EXPECT_EQ(read_file(pgdata_ + "/pg_wal/000000010000000000000020"), b.wal[0].data);
}

TEST_F(BaseBackupTarTest, ExtractKeepsLinksThatStayInside) {
    Backup b = standard_backup();
    b.base.push_back(symlink_entry("base/1/link", "../../global/pg_control"));
    b.base.push_back(hardlink_entry("global/pg_control.hard", "global/pg_control"));
    write_backup(backup_, b);
    extract_tar_base_backup(backup_, pgdata_);
    EXPECT_EQ(fs::read_symlink(pgdata_ + "/base/1/link").string(), "../../global/pg_control");
    EXPECT_EQ(read_file(pgdata_ + "/base/1/link"), kPgControl);
    EXPECT_EQ(read_file(pgdata_ + "/global/pg_control.hard"), kPgControl);
}

TEST_F(BaseBackupTarTest, ExtractRefusesDotDot) {
    Backup b = standard_backup();
    b.base.push_back(file_entry("../x", "escape"));
    const std::string message = extract_refusal(b);
    EXPECT_TRUE(contains(message, "entry \"../x\"")) << message;
    EXPECT_FALSE(fs::exists(dir_ + "/x"));
}

TEST_F(BaseBackupTarTest, ExtractRefusesDotDotInsideAPath) {
    Backup b = standard_backup();
    b.base.push_back(file_entry("base/../../y", "escape"));
    EXPECT_TRUE(contains(extract_refusal(b), "entry \"base/../../y\""));
    EXPECT_FALSE(fs::exists(dir_ + "/y"));
}

TEST_F(BaseBackupTarTest, ExtractRefusesAbsolutePaths) {
    Backup b = standard_backup();
    const std::string target = dir_ + "/absolute";
    b.base.push_back(file_entry(target, "escape"));
    const std::string message = extract_refusal(b);
    EXPECT_TRUE(contains(message, "absolute path")) << message;
    EXPECT_TRUE(contains(message, target)) << message;
    EXPECT_FALSE(fs::exists(target));
}

TEST_F(BaseBackupTarTest, ExtractRefusesSymlinksLeadingOutside) {
    for (const std::string& target : {std::string("../../outside"), dir_, std::string("/etc")}) {
        remove_tree(backup_);
        ASSERT_EQ(::mkdir(backup_.c_str(), 0700), 0);
        Backup b = standard_backup();
        b.base.push_back(symlink_entry("base/evil", target));
        const std::string message = extract_refusal(b);
        EXPECT_TRUE(contains(message, "symbolic link \"base/evil\" -> \"" + target + "\""))
            << message;
    }
}

TEST_F(BaseBackupTarTest, ExtractRefusesSymlinksInPgWalLeadingOutside) {
    Backup b = standard_backup();
    b.wal.push_back(symlink_entry("evil", "../../outside"));  // from pgdata/pg_wal
    EXPECT_TRUE(contains(extract_refusal(b), "symbolic link \"pg_wal/evil\""));
}

TEST_F(BaseBackupTarTest, ExtractRefusesWritingThroughASymlink) {
    // "a" -> "." stays inside, but "a/b/l" -> "../../x" would then land outside pgdata.
    Backup b = standard_backup();
    b.base.push_back(symlink_entry("a", "."));
    b.base.push_back(symlink_entry("a/b/l", "../../x"));
    const std::string message = extract_refusal(b);
    EXPECT_TRUE(contains(message, "through the symbolic link a")) << message;
}

TEST_F(BaseBackupTarTest, ExtractRefusesHardLinksLeavingPgdata) {
    Backup b = standard_backup();
    b.base.push_back(hardlink_entry("base/h", "../../etc/passwd"));
    EXPECT_TRUE(contains(extract_refusal(b), "\"../../etc/passwd\" has a \"..\" component"));
}

TEST_F(BaseBackupTarTest, ExtractRefusesFifos) {
    Backup b = standard_backup();
    b.base.push_back(TarEntry{"base/fifo", "", AE_IFIFO, 0600, "", false});
    EXPECT_TRUE(contains(extract_refusal(b), "entry \"base/fifo\" is not a file"));
}

TEST_F(BaseBackupTarTest, ExtractRefusesANonEmptyOrMissingPgdata) {
    write_backup(backup_, standard_backup());
    write_file_durably(pgdata_ + "/PG_VERSION", "15\n");
    EXPECT_TRUE(
        contains(refusal([&] { extract_tar_base_backup(backup_, pgdata_); }), "is not empty"));
    EXPECT_EQ(read_file(pgdata_ + "/PG_VERSION"), "15\n");
    EXPECT_EQ(list_directory(pgdata_).size(), 1u);
    EXPECT_TRUE(contains(refusal([&] { extract_tar_base_backup(backup_, dir_ + "/none"); }),
                         dir_ + "/none"));
}

TEST_F(BaseBackupTarTest, ExtractRefusesTablespaceTars) {
    Backup b = standard_backup();
    b.tablespace = {dir_entry("PG_15_202209061/"), file_entry("PG_15_202209061/5/16391", "x")};
    const std::string message = extract_refusal(b);
    EXPECT_TRUE(contains(message, "16385.tar")) << message;
    EXPECT_TRUE(contains(message, "tablespaces is not supported")) << message;
}

TEST_F(BaseBackupTarTest, ExtractRefusesMissingTars) {
    write_backup(backup_, standard_backup());
    remove_tree(backup_ + "/pg_wal.tar");
    EXPECT_TRUE(contains(refusal([&] { extract_tar_base_backup(backup_, pgdata_); }),
                         "pg_wal.tar: missing"));
}

TEST_F(BaseBackupTarTest, ATruncatedTarFailsTheExtractAndLeavesPgdataEmpty) {
    for (Compression c : kAllCompressions) {
        remove_tree(backup_);
        ASSERT_EQ(::mkdir(backup_.c_str(), 0700), 0);
        write_backup(backup_, standard_backup(c, c));
        const std::string base = backup_ + "/base" + tar_suffix(c);
        fs::resize_file(base, fs::file_size(base) * 2 / 3);
        const std::string message = refusal([&] { extract_tar_base_backup(backup_, pgdata_); });
        EXPECT_TRUE(contains(message, "cannot read " + base)) << message;
        EXPECT_TRUE(list_directory(pgdata_).empty()) << tar_suffix(c);
    }
}

}  // namespace
}  // namespace infra::core
