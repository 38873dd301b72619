// base_backup_info_test.cpp: the base backup description (src/core/base_backup_info.*):
// the exact JSON written (keys, LSN text, UTC times with microseconds, the system
// identifier as a decimal string beyond 2^63), round trips, the refusal of every missing
// key and of malformed or inconsistent values (format, compression, timeline, LSNs, times,
// segment size, system identifier, id, bytes), reading a description from a real
// directory, and listing a real base-backup root: sorted by stop time, dot-directories
// and plain files ignored, directories without or with a broken description skipped and
// reported, a missing root refused.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base_backup_info.hpp"
#include "core/errors.hpp"
#include "refusal.hpp"
#include "test_files.hpp"

namespace infra::core {
namespace {

using nlohmann::json;
using test::refusal;
using test::TempDir;
using test::write_file;

// 2026-11-29T03:04:05Z
constexpr int64_t kStartUs = 1795921445LL * 1000000 + 123456;

BaseBackupInfo sample_info() {
    BaseBackupInfo info;
    info.id = 42;
    info.label = "nightly \"base\" backup";
    info.format = "tar";
    info.compression = "zstd";
    info.timeline = 3;
    info.start_lsn = 0x16B374D848ull;
    info.stop_lsn = 0x16B5000000ull;
    info.start_time_unix_us = kStartUs;
    info.stop_time_unix_us = kStartUs + 61 * 1000000LL + 1;
    info.system_identifier = 18446744073709551000ull;  // above 2^63
    info.pg_version_num = 150010;
    info.wal_segment_size = 16ull * 1024 * 1024;
    info.bytes = 123456789012LL;
    info.verified_by = "infra_ext tar check";
    return info;
}

json sample_json() {
    return json::parse(base_backup_info_to_json(sample_info()));
}

void expect_same(const BaseBackupInfo& a, const BaseBackupInfo& b) {
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.label, b.label);
    EXPECT_EQ(a.format, b.format);
    EXPECT_EQ(a.compression, b.compression);
    EXPECT_EQ(a.timeline, b.timeline);
    EXPECT_EQ(a.start_lsn, b.start_lsn);
    EXPECT_EQ(a.stop_lsn, b.stop_lsn);
    EXPECT_EQ(a.start_time_unix_us, b.start_time_unix_us);
    EXPECT_EQ(a.stop_time_unix_us, b.stop_time_unix_us);
    EXPECT_EQ(a.system_identifier, b.system_identifier);
    EXPECT_EQ(a.pg_version_num, b.pg_version_num);
    EXPECT_EQ(a.wal_segment_size, b.wal_segment_size);
    EXPECT_EQ(a.bytes, b.bytes);
    EXPECT_EQ(a.verified_by, b.verified_by);
}

// The refusal message for the sample with one key replaced (or removed when value is
// discarded).
std::string refusal_with(const char* key, const json& value) {
    json j = sample_json();
    if (value.is_discarded()) {
        j.erase(key);
    } else {
        j[key] = value;
    }
    return refusal([&] { base_backup_info_from_json(j.dump()); });
}

TEST(BaseBackupInfoJson, WritesEveryKeyInItsDocumentedForm) {
    const json j = sample_json();
    EXPECT_EQ(j.size(), 14u) << j.dump();
    EXPECT_EQ(j.at("id"), 42);
    EXPECT_EQ(j.at("label"), "nightly \"base\" backup");
    EXPECT_EQ(j.at("format"), "tar");
    EXPECT_EQ(j.at("compression"), "zstd");
    EXPECT_EQ(j.at("timeline"), 3);
    EXPECT_EQ(j.at("start_lsn"), "16/B374D848");
    EXPECT_EQ(j.at("stop_lsn"), "16/B5000000");
    EXPECT_EQ(j.at("start_time"), "2026-11-29T03:04:05.123456Z");
    EXPECT_EQ(j.at("stop_time"), "2026-11-29T03:05:06.123457Z");
    EXPECT_EQ(j.at("system_identifier"), "18446744073709551000");
    EXPECT_EQ(j.at("pg_version_num"), 150010);
    EXPECT_EQ(j.at("wal_segment_size"), 16777216);
    EXPECT_EQ(j.at("bytes"), 123456789012LL);
    EXPECT_EQ(j.at("verified_by"), "infra_ext tar check");
    EXPECT_FALSE(j.contains("path"));
}

TEST(BaseBackupInfoJson, WritesWholeSecondsWithSixZeroDigits) {
    BaseBackupInfo info = sample_info();
    info.start_time_unix_us = 0;
    info.stop_time_unix_us = 951782400LL * 1000000;  // 2000-02-29
    const json j = json::parse(base_backup_info_to_json(info));
    EXPECT_EQ(j.at("start_time"), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(j.at("stop_time"), "2000-02-29T00:00:00.000000Z");
}

TEST(BaseBackupInfoJson, RoundTripsEveryField) {
    expect_same(base_backup_info_from_json(base_backup_info_to_json(sample_info())), sample_info());

    BaseBackupInfo plain = sample_info();
    plain.format = "plain";
    plain.compression = "none";
    plain.label.clear();
    plain.start_lsn = plain.stop_lsn = 0xFFFFFFFF00000000ull;
    plain.start_time_unix_us = plain.stop_time_unix_us;
    plain.system_identifier = 0;
    plain.wal_segment_size = 1024ull * 1024 * 1024;
    plain.bytes = 0;
    plain.verified_by = "pg_verifybackup";
    const BaseBackupInfo back = base_backup_info_from_json(base_backup_info_to_json(plain));
    expect_same(back, plain);
    EXPECT_TRUE(back.path.empty());
}

TEST(BaseBackupInfoJson, AcceptsEveryCompressionOfTarAndTimesWithShorterFractions) {
    for (const char* compression : {"none", "gzip", "lz4", "zstd"}) {
        json j = sample_json();
        j["compression"] = compression;
        EXPECT_EQ(base_backup_info_from_json(j.dump()).compression, compression);
    }
    json j = sample_json();
    j["start_time"] = "2026-11-29T03:04:05Z";
    j["stop_time"] = "2026-11-29T03:04:05.5Z";
    const BaseBackupInfo info = base_backup_info_from_json(j.dump());
    EXPECT_EQ(info.start_time_unix_us, 1795921445LL * 1000000);
    EXPECT_EQ(info.stop_time_unix_us, 1795921445LL * 1000000 + 500000);
}

TEST(BaseBackupInfoJson, RefusesEachMissingKeyByName) {
    for (const char* key : {"id", "label", "format", "compression", "timeline", "start_lsn",
                            "stop_lsn", "start_time", "stop_time", "system_identifier",
                            "pg_version_num", "wal_segment_size", "bytes", "verified_by"}) {
        const std::string message = refusal_with(key, json(json::value_t::discarded));
        EXPECT_NE(message.find(std::string("\"") + key + "\" is missing"), std::string::npos)
            << message;
    }
}

TEST(BaseBackupInfoJson, RefusesTextThatIsNotAJsonObject) {
    EXPECT_NE(refusal([] { base_backup_info_from_json("{\"id\": 1,"); }).find("not valid JSON"),
              std::string::npos);
    EXPECT_NE(refusal([] { base_backup_info_from_json(""); }).find("not valid JSON"),
              std::string::npos);
    EXPECT_NE(refusal([] { base_backup_info_from_json("[1, 2]"); }).find("not a JSON object"),
              std::string::npos);
}

struct BadValue {
    const char* key;
    json value;
    const char* expected_text;
};

TEST(BaseBackupInfoJson, RefusesMalformedValuesNamingTheKey) {
    const std::vector<BadValue> cases = {
        {"id", 0, "an integer from 1"},
        {"id", -5, "an integer from 1"},
        {"id", "42", "an integer from 1"},
        {"id", 4.5, "an integer from 1"},
        {"label", 7, "a string"},
        {"format", "zip", "one of \"plain\", \"tar\""},
        {"format", "TAR", "one of"},
        {"compression", "bzip2", "one of \"none\", \"gzip\", \"lz4\", \"zstd\""},
        {"timeline", 0, "an integer from 1 to 4294967295"},
        {"timeline", 4294967296LL, "an integer from 1 to 4294967295"},
        {"timeline", -1, "an integer from 1"},
        {"timeline", "3", "an integer"},
        {"start_lsn", "16B374D848", "an LSN"},
        {"start_lsn", "1/2/3", "an LSN"},
        {"stop_lsn", 5, "a string"},
        {"start_time", "2026-11-29 03:04:05Z", "a UTC time"},
        {"start_time", "2026-11-29T03:04:05+00", "a UTC time"},
        {"start_time", "2026-02-29T03:04:05Z", "a UTC time"},  // 2026 is not a leap year
        {"start_time", "2026-11-29T24:00:00Z", "a UTC time"},
        {"start_time", "2026-11-29T03:04:05.1234567Z", "a UTC time"},
        {"stop_time", "2026-11-29T03:04:05.Z", "a UTC time"},
        {"stop_time", "", "a UTC time"},
        {"system_identifier", 7311234567890123456ull, "a string"},
        {"system_identifier", "73112a", "a decimal string"},
        {"system_identifier", "-1", "a decimal string"},
        {"system_identifier", "", "a decimal string"},
        {"system_identifier", "18446744073709551616", "a decimal string"},  // 2^64
        {"pg_version_num", 0, "an integer from 1"},
        {"wal_segment_size", 0, "an integer from 1"},
        {"wal_segment_size", 3 * 1024 * 1024, "wal_segment_size"},
        {"wal_segment_size", 512 * 1024, "wal_segment_size"},
        {"bytes", -1, "an integer from 0"},
        {"verified_by", json::array(), "a string"},
    };
    for (const BadValue& bad : cases) {
        const std::string message = refusal_with(bad.key, bad.value);
        EXPECT_NE(message.find(bad.key), std::string::npos) << bad.key << ": " << message;
        EXPECT_NE(message.find(bad.expected_text), std::string::npos)
            << bad.key << " = " << bad.value.dump() << ": " << message;
    }
}

TEST(BaseBackupInfoJson, RefusesInconsistentValues) {
    json j = sample_json();
    j["format"] = "plain";
    j["compression"] = "gzip";
    EXPECT_NE(refusal([&] { base_backup_info_from_json(j.dump()); }).find("format is \"plain\""),
              std::string::npos);

    j = sample_json();
    j["stop_lsn"] = "16/B374D847";
    EXPECT_NE(refusal([&] {
                  base_backup_info_from_json(j.dump());
              }).find("stop_lsn 16/B374D847 is before start_lsn 16/B374D848"),
              std::string::npos);

    j = sample_json();
    j["stop_time"] = "2026-11-29T03:04:05.123455Z";
    EXPECT_NE(refusal([&] { base_backup_info_from_json(j.dump()); })
                  .find("stop_time 2026-11-29T03:04:05.123455Z is before start_time "
                        "2026-11-29T03:04:05.123456Z"),
              std::string::npos);
}

// Makes root/name holding a description of `info` (or of `text` when given).
void make_backup_dir(const std::string& root, const std::string& name, const BaseBackupInfo& info,
                     const char* text = nullptr) {
    const std::string dir = root + "/" + name;
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0) << dir;
    ASSERT_EQ(::mkdir((dir + "/" + kBaseBackupDataDir).c_str(), 0700), 0) << dir;
    write_file(dir + "/" + kBaseBackupInfoFile,
               text != nullptr ? std::string(text) : base_backup_info_to_json(info));
}

BaseBackupInfo info_with(int64_t id, int64_t stop_time_us) {
    BaseBackupInfo info = sample_info();
    info.id = id;
    info.start_time_unix_us = stop_time_us - 1000000;
    info.stop_time_unix_us = stop_time_us;
    return info;
}

TEST(ReadBaseBackupInfo, ReadsTheDescriptionAndSetsThePath) {
    const TempDir root("base_backup_info_test");
    make_backup_dir(root.path(), "42-20261129T030405Z", sample_info());
    const std::string dir = root.path() + "/42-20261129T030405Z";
    const BaseBackupInfo info = read_base_backup_info(dir);
    expect_same(info, sample_info());
    EXPECT_EQ(info.path, dir);
}

TEST(ReadBaseBackupInfo, RefusesAMissingDescriptionNamingTheFile) {
    const TempDir root("base_backup_info_test");
    const std::string message = refusal([&] { read_base_backup_info(root.path()); });
    EXPECT_NE(message.find(root.path() + "/infra_base_backup.json is missing"), std::string::npos)
        << message;
    EXPECT_NE(message.find("not a usable base backup"), std::string::npos) << message;
}

TEST(ReadBaseBackupInfo, RefusesAnInvalidDescriptionNamingTheFileAndTheKey) {
    const TempDir root("base_backup_info_test");
    json j = sample_json();
    j.erase("stop_lsn");
    make_backup_dir(root.path(), "7-x", sample_info(), j.dump().c_str());
    const std::string dir = root.path() + "/7-x";
    const std::string message = refusal([&] { read_base_backup_info(dir); });
    EXPECT_NE(message.find(dir + "/infra_base_backup.json: key \"stop_lsn\" is missing"),
              std::string::npos)
        << message;
}

TEST(ListBaseBackups, SortsByStopTimeAndReportsUnusableDirectories) {
    const TempDir root("base_backup_info_test");
    const int64_t t0 = kStartUs;
    // Names sort the other way round from stop times, so the order must come from them.
    make_backup_dir(root.path(), "1-a", info_with(1, t0 + 3000000));
    make_backup_dir(root.path(), "2-b", info_with(2, t0 + 1000000));
    make_backup_dir(root.path(), "3-c", info_with(3, t0 + 2000000));
    make_backup_dir(root.path(), ".4-d.partial", info_with(4, t0));  // being taken: ignored
    ASSERT_EQ(::mkdir((root.path() + "/5-no-description").c_str(), 0700), 0);
    make_backup_dir(root.path(), "6-broken", sample_info(), "{ not json");
    write_file(root.path() + "/notes.txt", "a plain file is not a base backup");

    std::vector<std::string> skipped;
    const std::vector<BaseBackupInfo> backups = list_base_backups(root.path(), &skipped);
    ASSERT_EQ(backups.size(), 3u);
    EXPECT_EQ(backups[0].id, 2);
    EXPECT_EQ(backups[1].id, 3);
    EXPECT_EQ(backups[2].id, 1);
    EXPECT_EQ(backups[0].path, root.path() + "/2-b");
    EXPECT_EQ(backups[2].path, root.path() + "/1-a");

    ASSERT_EQ(skipped.size(), 2u);
    EXPECT_EQ(skipped[0].rfind("5-no-description: ", 0), 0u) << skipped[0];
    EXPECT_NE(skipped[0].find("infra_base_backup.json is missing"), std::string::npos);
    EXPECT_EQ(skipped[1].rfind("6-broken: ", 0), 0u) << skipped[1];
    EXPECT_NE(skipped[1].find("not valid JSON"), std::string::npos) << skipped[1];

    // Without a skipped list the same backups come back.
    EXPECT_EQ(list_base_backups(root.path()).size(), 3u);
}

TEST(ListBaseBackups, BreaksStopTimeTiesById) {
    const TempDir root("base_backup_info_test");
    make_backup_dir(root.path(), "9-x", info_with(9, kStartUs));
    make_backup_dir(root.path(), "8-y", info_with(8, kStartUs));
    const std::vector<BaseBackupInfo> backups = list_base_backups(root.path());
    ASSERT_EQ(backups.size(), 2u);
    EXPECT_EQ(backups[0].id, 8);
    EXPECT_EQ(backups[1].id, 9);
}

TEST(ListBaseBackups, ReturnsNothingForAnEmptyRoot) {
    const TempDir root("base_backup_info_test");
    std::vector<std::string> skipped;
    EXPECT_TRUE(list_base_backups(root.path(), &skipped).empty());
    EXPECT_TRUE(skipped.empty());
}

TEST(ListBaseBackups, RefusesARootThatCannotBeListed) {
    const TempDir root("base_backup_info_test");
    const std::string missing = root.path() + "/no-such-dir";
    const std::string message = refusal([&] { list_base_backups(missing); });
    EXPECT_NE(message.find(missing), std::string::npos) << message;
    write_file(root.path() + "/file", "x");
    EXPECT_NE(refusal([&] { list_base_backups(root.path() + "/file"); }).find("/file"),
              std::string::npos);
}

TEST(BaseBackupIdInName, ReadsTheLeadingIdOfBaseBackupDirectoryNames) {
    EXPECT_EQ(base_backup_id_in_name("41-20261129T030405Z"), 41);
    EXPECT_EQ(base_backup_id_in_name(".42-20261129T030405Z.partial"), 42);
    EXPECT_EQ(base_backup_id_in_name(".43-20261129T030405Z.expired"), 43);
    EXPECT_EQ(base_backup_id_in_name("007-x"), 7);
    EXPECT_EQ(base_backup_id_in_name("123456789012345678-x"), 123456789012345678);
    for (const char* other : {"", ".", "-3", "12", "x-1", "12x-1", ".-1", "..5-x",
                              "1234567890123456789-x", "infra_base_backup.json"}) {
        EXPECT_EQ(base_backup_id_in_name(other), 0) << '"' << other << '"';
    }
}

TEST(HighestBaseBackupId, TakesDirectoryNamesAndDescriptionsIntoAccount) {
    const TempDir root("base_backup_info_test");
    EXPECT_EQ(highest_base_backup_id(root.path()), 0);
    make_backup_dir(root.path(), "3-a", info_with(3, kStartUs));
    EXPECT_EQ(highest_base_backup_id(root.path()), 3);
    // Leftovers of a base backup being taken or removed count too.
    ASSERT_EQ(::mkdir((root.path() + "/.9-b.partial").c_str(), 0700), 0);
    EXPECT_EQ(highest_base_backup_id(root.path()), 9);
    ASSERT_EQ(::mkdir((root.path() + "/.11-c.expired").c_str(), 0700), 0);
    EXPECT_EQ(highest_base_backup_id(root.path()), 11);
    // A description's id counts whatever its directory is called.
    make_backup_dir(root.path(), "renamed", info_with(20, kStartUs + 1));
    EXPECT_EQ(highest_base_backup_id(root.path()), 20);
    // Other files do not.
    write_file(root.path() + "/99.txt", "x");
    EXPECT_EQ(highest_base_backup_id(root.path()), 20);
    EXPECT_FALSE(refusal([&] { highest_base_backup_id(root.path() + "/missing"); }).empty());
}

}  // namespace
}  // namespace infra::core
