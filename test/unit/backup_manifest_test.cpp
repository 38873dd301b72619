// backup_manifest_test.cpp: the backup manifest (src/core/backup_manifest.*): the exact
// JSON printed, round trips, every validation rule of manifest_from_json (with exact
// messages), row-count comparison, and the file checks against real mkdtemp directories
// (a flipped byte, a truncated, missing, extra or replaced file, directory-format dumps).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backup_manifest.hpp"
#include "core/errors.hpp"
#include "core/sha256.hpp"
#include "unprivileged.hpp"
#include "refusal.hpp"
#include "test_files.hpp"

namespace infra::core {

// Printers, so that a failed EXPECT_EQ shows the values.
inline bool operator==(const RowCountMismatch& a, const RowCountMismatch& b) {
    return a.table == b.table && a.expected == b.expected && a.actual == b.actual;
}
inline void PrintTo(const RowCountMismatch& m, std::ostream* os) {
    *os << "{" << m.table << ", expected "
        << (m.expected ? std::to_string(*m.expected) : std::string("none")) << ", actual "
        << (m.actual ? std::to_string(*m.actual) : std::string("none")) << "}";
}
inline bool operator==(const FileProblem& a, const FileProblem& b) {
    return a.name == b.name && a.problem == b.problem;
}
inline void PrintTo(const FileProblem& p, std::ostream* os) {
    *os << "{" << p.name << ": " << p.problem << "}";
}

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kHashA = sha256_hex("a");
const std::string kHashB = sha256_hex("b");

using infra::test::refusal;

std::string parse_refusal(const std::string& text) {
    return refusal([&] { manifest_from_json(text); });
}
std::string doc_refusal(const json& doc) {
    return parse_refusal(doc.dump());
}

BackupManifest sample_manifest() {
    BackupManifest m;
    m.server_version = "15.20";
    m.system_identifier = "7301234567890123456";
    m.database = "app";
    m.format = "custom";
    m.started_at = "2026-11-28T03:00:00Z";
    m.finished_at = "2026-11-28T03:02:10Z";
    m.files = {{"app.dump", 123, kHashA}};
    m.tables = {{"public.accounts", 5000000}, {"public.\"Odd name\"", 0}};
    return m;
}

// A valid manifest as a JSON document, for tests to break one piece of.
json valid_doc() {
    return json::parse(manifest_to_json(sample_manifest()));
}

void expect_same(const BackupManifest& a, const BackupManifest& b) {
    EXPECT_EQ(a.manifest_version, b.manifest_version);
    EXPECT_EQ(a.server_version, b.server_version);
    EXPECT_EQ(a.system_identifier, b.system_identifier);
    EXPECT_EQ(a.database, b.database);
    EXPECT_EQ(a.format, b.format);
    EXPECT_EQ(a.started_at, b.started_at);
    EXPECT_EQ(a.finished_at, b.finished_at);
    ASSERT_EQ(a.files.size(), b.files.size());
    for (size_t i = 0; i < a.files.size(); ++i) {
        EXPECT_EQ(a.files[i].name, b.files[i].name) << i;
        EXPECT_EQ(a.files[i].bytes, b.files[i].bytes) << i;
        EXPECT_EQ(a.files[i].sha256, b.files[i].sha256) << i;
    }
    ASSERT_EQ(a.tables.size(), b.tables.size());
    for (size_t i = 0; i < a.tables.size(); ++i) {
        EXPECT_EQ(a.tables[i].table, b.tables[i].table) << i;
        EXPECT_EQ(a.tables[i].rows, b.tables[i].rows) << i;
    }
}

// ---- manifest_to_json ----

TEST(BackupManifestJson, PrintsKeysInOrderWithTwoSpaceIndent) {
    BackupManifest m = sample_manifest();
    m.tables = {{"public.accounts", 5000000}};
    const std::string expected = R"({
  "manifest_version": 1,
  "server_version": "15.20",
  "system_identifier": "7301234567890123456",
  "database": "app",
  "format": "custom",
  "started_at": "2026-11-28T03:00:00Z",
  "finished_at": "2026-11-28T03:02:10Z",
  "files": [
    {
      "name": "app.dump",
      "bytes": 123,
      "sha256": ")" + kHashA + R"("
    }
  ],
  "tables": [
    {
      "table": "public.accounts",
      "rows": 5000000
    }
  ]
}
)";
    EXPECT_EQ(manifest_to_json(m), expected);
}

TEST(BackupManifestJson, EmptyListsPrintAsEmptyArrays) {
    BackupManifest m = sample_manifest();
    m.files.clear();
    m.tables.clear();
    const std::string text = manifest_to_json(m);
    EXPECT_NE(text.find("\"files\": [],"), std::string::npos) << text;
    EXPECT_NE(text.find("\"tables\": []"), std::string::npos) << text;
    expect_same(manifest_from_json(text), m);
}

TEST(BackupManifestJson, RoundTripsEveryField) {
    BackupManifest m = sample_manifest();
    m.format = "directory";
    m.database = "caf\xc3\xa9 \"quoted\" \\ db";  // UTF-8, quotes, backslash
    m.files = {{"toc.dat", 2048, kHashA},
               {"3001.dat.gz", 0, sha256_hex("")},
               {"sub/deeper/x.dat", std::numeric_limits<int64_t>::max(), kHashB},
               {"a..b.dat", 1, kHashB}};
    m.tables = {{"public.accounts", 5000000},
                {"s.\"we\"\"ird\"", 0},
                {"big.t", std::numeric_limits<int64_t>::max()}};
    const std::string text = manifest_to_json(m);
    const BackupManifest back = manifest_from_json(text);
    expect_same(back, m);
    EXPECT_EQ(manifest_to_json(back), text);
}

TEST(BackupManifestJson, RefusesToPrintInvalidUtf8) {
    BackupManifest m = sample_manifest();
    m.database = "latin1 caf\xe9";
    EXPECT_EQ(refusal([&] { manifest_to_json(m); }),
              "could not write the manifest: database is not valid UTF-8");
    m = sample_manifest();
    m.tables[1].table = "s.\xc0\xaf";  // overlong '/'
    EXPECT_EQ(refusal([&] { manifest_to_json(m); }),
              "could not write the manifest: tables[1].table is not valid UTF-8");
    m = sample_manifest();
    m.files[0].name = "\xed\xa0\x80.dump";  // a UTF-16 surrogate
    EXPECT_EQ(refusal([&] { manifest_to_json(m); }),
              "could not write the manifest: files[0].name is not valid UTF-8");
    m = sample_manifest();
    m.files[0].name = "x\xe2\x82";  // truncated sequence at the end
    EXPECT_EQ(refusal([&] { manifest_to_json(m); }),
              "could not write the manifest: files[0].name is not valid UTF-8");
    m.files[0].name = "\xf0\x9f\x98\x80.dump";  // a 4-byte character is fine
    EXPECT_EQ(manifest_from_json(manifest_to_json(m)).files[0].name, m.files[0].name);
}

// ---- manifest_from_json: structure ----

TEST(BackupManifestParse, NotJson) {
    EXPECT_EQ(parse_refusal(""),
              "the manifest is not valid JSON: parse error at line 1, column 1: syntax error "
              "while parsing value - unexpected end of input; expected '[', '{', or a literal");
    for (const char* text : {"{", "{\"manifest_version\": 1", "not json", "{} {}", "{},",
                             "{\"a\": 1,}", "/* comment */ {}", "\xff"}) {
        const std::string message = parse_refusal(text);
        EXPECT_EQ(
            message.rfind("the manifest is not valid JSON: parse error at line 1, column ", 0), 0u)
            << text << " -> " << message;
    }
    // The position is given: line 3 here.
    EXPECT_NE(parse_refusal("{\n\"a\": 1,\n  oops}").find("line 3"), std::string::npos);
}

TEST(BackupManifestParse, NotAnObject) {
    EXPECT_EQ(parse_refusal("[]"), "the manifest is not a JSON object (it is an array)");
    EXPECT_EQ(parse_refusal("\"manifest\""), "the manifest is not a JSON object (it is a string)");
    EXPECT_EQ(parse_refusal("1"), "the manifest is not a JSON object (it is an integer)");
    EXPECT_EQ(parse_refusal("null"), "the manifest is not a JSON object (it is null)");
}

TEST(BackupManifestParse, EveryTopLevelKeyIsRequired) {
    for (const char* key : {"manifest_version", "server_version", "system_identifier", "database",
                            "format", "started_at", "finished_at", "files", "tables"}) {
        json doc = valid_doc();
        doc.erase(key);
        EXPECT_EQ(doc_refusal(doc), std::string("the manifest has no \"") + key + "\"");
    }
}

TEST(BackupManifestParse, MistypedTopLevelKeys) {
    for (const char* key : {"server_version", "system_identifier", "database", "format",
                            "started_at", "finished_at"}) {
        json doc = valid_doc();
        doc[key] = 15;
        EXPECT_EQ(doc_refusal(doc),
                  std::string("the manifest's ") + key + " must be a string, not an integer");
        doc[key] = nullptr;
        EXPECT_EQ(doc_refusal(doc),
                  std::string("the manifest's ") + key + " must be a string, not null");
    }
    json doc = valid_doc();
    doc["manifest_version"] = "1";
    EXPECT_EQ(doc_refusal(doc), "the manifest's manifest_version must be an integer, not a string");
    doc["manifest_version"] = 1.0;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest's manifest_version must be an integer, not a fractional number");
    doc["manifest_version"] = true;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest's manifest_version must be an integer, not a boolean");

    doc = valid_doc();
    doc["files"] = json::object();
    EXPECT_EQ(doc_refusal(doc), "the manifest's files must be an array, not an object");
    doc = valid_doc();
    doc["tables"] = "none";
    EXPECT_EQ(doc_refusal(doc), "the manifest's tables must be an array, not a string");
}

TEST(BackupManifestParse, UnknownManifestVersion) {
    json doc = valid_doc();
    doc["manifest_version"] = 2;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest has manifest_version 2; this version of infra_ext reads "
              "manifest_version 1 only");
    doc["manifest_version"] = 0;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest has manifest_version 0; this version of infra_ext reads "
              "manifest_version 1 only");
    doc["manifest_version"] = -1;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest has manifest_version -1; this version of infra_ext reads "
              "manifest_version 1 only");
    doc["manifest_version"] = 4294967297ULL;  // 2^32 + 1: must not wrap to 1 in an int
    EXPECT_EQ(doc_refusal(doc),
              "the manifest has manifest_version 4294967297; this version of infra_ext reads "
              "manifest_version 1 only");
}

TEST(BackupManifestParse, FormatIsCustomOrDirectory) {
    json doc = valid_doc();
    for (const char* bad : {"tar", "Custom", "plain", "", "directory "}) {
        doc["format"] = bad;
        EXPECT_EQ(doc_refusal(doc), std::string("the manifest's format \"") + bad +
                                        "\" is neither \"custom\" nor \"directory\"");
    }
    doc["format"] = "directory";
    EXPECT_EQ(manifest_from_json(doc.dump()).format, "directory");
    doc["format"] = "custom";
    EXPECT_EQ(manifest_from_json(doc.dump()).format, "custom");
}

TEST(BackupManifestParse, UnknownKeysAndEmptyListsAreAccepted) {
    json doc = valid_doc();
    doc["comment"] = "written by a newer minor version";
    doc["files"][0]["compression"] = 6;
    doc["tables"][0]["note"] = nullptr;
    const BackupManifest m = manifest_from_json(doc.dump());
    expect_same(m, sample_manifest());
    doc["files"] = json::array();
    doc["tables"] = json::array();
    const BackupManifest empty = manifest_from_json(doc.dump());
    EXPECT_TRUE(empty.files.empty());
    EXPECT_TRUE(empty.tables.empty());
}

// ---- manifest_from_json: files ----

TEST(BackupManifestParse, FileEntriesMustBeObjectsWithEveryKey) {
    json doc = valid_doc();
    doc["files"].push_back("b.dump");
    EXPECT_EQ(doc_refusal(doc), "the manifest's files[1] must be an object, not a string");
    for (const char* key : {"name", "bytes", "sha256"}) {
        json d = valid_doc();
        d["files"][0].erase(key);
        EXPECT_EQ(doc_refusal(d), std::string("the manifest's files[0] has no \"") + key + "\"");
    }
    doc = valid_doc();
    doc["files"][0]["name"] = 7;
    EXPECT_EQ(doc_refusal(doc), "the manifest's files[0].name must be a string, not an integer");
    doc = valid_doc();
    doc["files"][0]["bytes"] = "123";
    EXPECT_EQ(doc_refusal(doc), "the manifest's files[0].bytes must be an integer, not a string");
    doc["files"][0]["bytes"] = 123.5;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest's files[0].bytes must be an integer, not a fractional number");
    doc = valid_doc();
    doc["files"][0]["sha256"] = json::array();
    EXPECT_EQ(doc_refusal(doc), "the manifest's files[0].sha256 must be a string, not an array");
}

TEST(BackupManifestParse, FileNamesAreRelativeNormalizedAndWithoutDotDot) {
    const auto with_name = [](const std::string& name) {
        json doc = valid_doc();
        doc["files"][0]["name"] = name;
        return doc;
    };
    EXPECT_EQ(doc_refusal(with_name("")), "the manifest's files[0].name is empty");
    EXPECT_EQ(doc_refusal(with_name(std::string("a\0b", 3))),
              "the manifest's files[0].name contains a NUL byte");
    EXPECT_EQ(doc_refusal(with_name("/etc/passwd")),
              "the manifest's file name \"/etc/passwd\" is absolute");
    EXPECT_EQ(doc_refusal(with_name("/")), "the manifest's file name \"/\" is absolute");
    for (const char* name : {"..", "../x", "a/../b", "a/..", "sub/../../etc/passwd"}) {
        EXPECT_EQ(doc_refusal(with_name(name)), std::string("the manifest's file name \"") + name +
                                                    "\" contains a \"..\" component");
    }
    for (const char* name : {".", "./a", "a//b", "a/", "a/./b"}) {
        EXPECT_EQ(doc_refusal(with_name(name)), std::string("the manifest's file name \"") + name +
                                                    "\" contains an empty or \".\" component");
    }
    // ".." inside a component is an ordinary name.
    for (const char* name : {"a..b.dump", "..a", "a..", "sub/...", ".hidden", "dir/3001.dat.gz"}) {
        EXPECT_EQ(manifest_from_json(with_name(name).dump()).files[0].name, name);
    }
}

TEST(BackupManifestParse, DuplicateFileRefused) {
    json doc = valid_doc();
    doc["files"].push_back({{"name", "b.dump"}, {"bytes", 1}, {"sha256", kHashB}});
    doc["files"].push_back({{"name", "app.dump"}, {"bytes", 5}, {"sha256", kHashB}});
    EXPECT_EQ(doc_refusal(doc), "the manifest lists the file \"app.dump\" twice");
}

TEST(BackupManifestParse, Sha256MustBe64LowercaseHexDigits) {
    std::string upper = kHashA;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ASSERT_NE(upper, kHashA);
    std::string non_hex = kHashA;
    non_hex[10] = 'g';
    for (const std::string& bad : {upper, kHashA.substr(0, 63), kHashA + "0", std::string(),
                                   non_hex, " " + kHashA.substr(1), "0x" + kHashA.substr(2)}) {
        json doc = valid_doc();
        doc["files"][0]["sha256"] = bad;
        EXPECT_EQ(doc_refusal(doc),
                  "the manifest's file \"app.dump\" has a sha256 that is not 64 lowercase hex "
                  "digits")
            << bad;
    }
}

TEST(BackupManifestParse, SizesAreNonNegativeInt64) {
    json doc = valid_doc();
    doc["files"][0]["bytes"] = -1;
    EXPECT_EQ(doc_refusal(doc), "the manifest's file \"app.dump\" has a negative size (-1)");
    doc["files"][0]["bytes"] = 9223372036854775808ULL;  // 2^63
    EXPECT_EQ(doc_refusal(doc), "the manifest's files[0].bytes is too large (9223372036854775808)");
    doc["files"][0]["bytes"] = 0;
    EXPECT_EQ(manifest_from_json(doc.dump()).files[0].bytes, 0);
    doc["files"][0]["bytes"] = 9223372036854775807LL;
    EXPECT_EQ(manifest_from_json(doc.dump()).files[0].bytes, std::numeric_limits<int64_t>::max());
    // A size written as 1e3 is a fractional number in JSON terms.
    std::string text = doc.dump();
    const std::string big = "9223372036854775807";
    text.replace(text.find(big), big.size(), "1e3");
    EXPECT_EQ(parse_refusal(text),
              "the manifest's files[0].bytes must be an integer, not a fractional number");
}

// ---- manifest_from_json: tables ----

TEST(BackupManifestParse, TableEntries) {
    json doc = valid_doc();
    doc["tables"].push_back(42);
    EXPECT_EQ(doc_refusal(doc), "the manifest's tables[2] must be an object, not an integer");
    for (const char* key : {"table", "rows"}) {
        json d = valid_doc();
        d["tables"][1].erase(key);
        EXPECT_EQ(doc_refusal(d), std::string("the manifest's tables[1] has no \"") + key + "\"");
    }
    doc = valid_doc();
    doc["tables"][0]["table"] = "";
    EXPECT_EQ(doc_refusal(doc), "the manifest's tables[0].table is empty");
    doc = valid_doc();
    doc["tables"][0]["table"] = json::array({"public", "accounts"});
    EXPECT_EQ(doc_refusal(doc), "the manifest's tables[0].table must be a string, not an array");
    doc = valid_doc();
    doc["tables"][0]["rows"] = -5;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest's table \"public.accounts\" has a negative row count (-5)");
    doc["tables"][0]["rows"] = 1.5;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest's tables[0].rows must be an integer, not a fractional number");
    doc["tables"][0]["rows"] = "5";
    EXPECT_EQ(doc_refusal(doc), "the manifest's tables[0].rows must be an integer, not a string");
    doc["tables"][0]["rows"] = 18446744073709551615ULL;
    EXPECT_EQ(doc_refusal(doc),
              "the manifest's tables[0].rows is too large (18446744073709551615)");
}

TEST(BackupManifestParse, DuplicateTableRefused) {
    json doc = valid_doc();
    doc["tables"].push_back({{"table", "public.accounts"}, {"rows", 5000000}});
    EXPECT_EQ(doc_refusal(doc), "the manifest lists the table \"public.accounts\" twice");
}

// ---- compare_row_counts ----

using Counts = std::vector<TableRowCount>;
using Mismatches = std::vector<RowCountMismatch>;

TEST(BackupManifestRowCounts, EqualCountsMatchInAnyOrder) {
    EXPECT_EQ(compare_row_counts({}, {}), Mismatches{});
    EXPECT_EQ(compare_row_counts({{"public.a", 1}, {"public.b", 0}, {"s.c", 7}},
                                 {{"s.c", 7}, {"public.a", 1}, {"public.b", 0}}),
              Mismatches{});
}

TEST(BackupManifestRowCounts, DifferingCounts) {
    EXPECT_EQ(compare_row_counts({{"public.a", 100}, {"public.b", 5}},
                                 {{"public.a", 99}, {"public.b", 5}}),
              (Mismatches{{"public.a", 100, 99}}));
    EXPECT_EQ(compare_row_counts({{"public.a", 0}}, {{"public.a", 1}}),
              (Mismatches{{"public.a", 0, 1}}));
}

TEST(BackupManifestRowCounts, TablesOnOneSideOnly) {
    // Missing after restore: actual is nullopt.
    EXPECT_EQ(compare_row_counts({{"public.a", 3}, {"public.gone", 10}}, {{"public.a", 3}}),
              (Mismatches{{"public.gone", 10, std::nullopt}}));
    // Not in the manifest: expected is nullopt.
    EXPECT_EQ(compare_row_counts({{"public.a", 3}}, {{"public.a", 3}, {"public.new", 0}}),
              (Mismatches{{"public.new", std::nullopt, 0}}));
    EXPECT_EQ(compare_row_counts({{"public.a", 3}}, {}),
              (Mismatches{{"public.a", 3, std::nullopt}}));
    EXPECT_EQ(compare_row_counts({}, {{"public.a", 3}}),
              (Mismatches{{"public.a", std::nullopt, 3}}));
}

TEST(BackupManifestRowCounts, SortedByTableName) {
    const Counts expected = {
        {"z.t", 1}, {"public.same", 4}, {"b.only_expected", 2}, {"a.t", 10}, {"m.t", 5}};
    const Counts actual = {{"m.t", 6},  {"public.same", 4}, {"c.only_actual", 8},
                           {"a.t", 11}, {"z.t", 1},         {"A.upper", 0}};
    EXPECT_EQ(compare_row_counts(expected, actual),
              (Mismatches{{"A.upper", std::nullopt, 0},
                          {"a.t", 10, 11},
                          {"b.only_expected", 2, std::nullopt},
                          {"c.only_actual", std::nullopt, 8},
                          {"m.t", 5, 6}}));
}

TEST(BackupManifestRowCounts, DuplicatesAreRefused) {
    EXPECT_EQ(refusal([] {
                  compare_row_counts({{"public.a", 1}, {"public.a", 1}}, {});
              }),
              "the table \"public.a\" appears twice in the expected row counts");
    EXPECT_EQ(refusal([] {
                  compare_row_counts({}, {{"public.a", 1}, {"public.a", 2}});
              }),
              "the table \"public.a\" appears twice in the actual row counts");
}

// ---- check_backup_files ----

class BackupManifestFilesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        manifest_ = sample_manifest();
        manifest_.files.clear();
    }

    // Writes a file under dir_ and adds it to manifest_.
    void add(const std::string& name, const std::string& bytes) {
        put(name, bytes);
        manifest_.files.push_back({name, static_cast<int64_t>(bytes.size()), sha256_hex(bytes)});
    }

    // Writes dir_/name, making the directories it needs.
    void put(const std::string& name, const std::string& bytes) {
        const fs::path p = fs::path(dir_) / name;
        fs::create_directories(p.parent_path());
        infra::test::write_file(p.string(), bytes);
    }

    // A dump-like file of n bytes.
    static std::string content(size_t n, char seed) {
        std::string s(n, '\0');
        for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 31 + (i >> 7));
        return s;
    }

    std::vector<FileProblem> check() const { return check_backup_files(dir_, manifest_); }

    const infra::test::TempDir tmp_{"backup_manifest_test"};
    const std::string dir_ = tmp_.path();
    BackupManifest manifest_;
};

using Problems = std::vector<FileProblem>;

TEST_F(BackupManifestFilesTest, IntactCustomFormatBackup) {
    add("app.dump", content(200000, 'a'));
    put("manifest.json", manifest_to_json(manifest_));  // exempt
    EXPECT_EQ(check(), Problems{});
}

TEST_F(BackupManifestFilesTest, IntactDirectoryFormatBackupWithSubdirectories) {
    manifest_.format = "directory";
    add("app/toc.dat", content(5000, 't'));
    add("app/3001.dat.gz", content(70000, 'x'));
    add("app/3002.dat.gz", "");
    add("app/deeper/nested.dat", content(10, 'n'));
    add("top.dat", content(1, 'o'));
    fs::create_directories(dir_ + "/empty_dir");  // a directory holds no bytes to check
    put("manifest.json", manifest_to_json(manifest_));
    EXPECT_EQ(check(), Problems{});
}

TEST_F(BackupManifestFilesTest, EmptyManifestOfAnEmptyDirectory) {
    EXPECT_EQ(check(), Problems{});
    put("manifest.json", "{}");
    EXPECT_EQ(check(), Problems{});
}

TEST_F(BackupManifestFilesTest, OneFlippedByteIsASha256Mismatch) {
    const std::string bytes = content(100000, 'f');
    add("app.dump", bytes);
    add("other.dump", content(300, 'o'));
    for (size_t pos : {size_t{0}, size_t{65535}, size_t{65536}, bytes.size() - 1}) {
        std::string flipped = bytes;
        flipped[pos] = static_cast<char>(flipped[pos] ^ 0x01);
        put("app.dump", flipped);
        EXPECT_EQ(check(), (Problems{{"app.dump", "SHA-256 mismatch"}})) << pos;
    }
    put("app.dump", bytes);
    EXPECT_EQ(check(), Problems{});
}

TEST_F(BackupManifestFilesTest, TruncatedOrGrownFileIsASizeMismatch) {
    const std::string bytes = content(12, 't');
    add("app.dump", bytes);
    put("app.dump", bytes.substr(0, 10));
    EXPECT_EQ(check(), (Problems{{"app.dump", "size 10 bytes, manifest says 12"}}));
    put("app.dump", "");
    EXPECT_EQ(check(), (Problems{{"app.dump", "size 0 bytes, manifest says 12"}}));
    put("app.dump", bytes + "x");
    EXPECT_EQ(check(), (Problems{{"app.dump", "size 13 bytes, manifest says 12"}}));
}

TEST_F(BackupManifestFilesTest, MissingFile) {
    add("app.dump", content(50, 'm'));
    add("sub/part.dat", content(60, 'p'));
    fs::remove(dir_ + "/app.dump");
    EXPECT_EQ(check(), (Problems{{"app.dump", "missing"}}));
    fs::remove_all(dir_ + "/sub");
    EXPECT_EQ(check(), (Problems{{"app.dump", "missing"}, {"sub/part.dat", "missing"}}));
    // A component that is a file rather than a directory: still missing.
    put("sub", "not a directory");
    EXPECT_EQ(check(), (Problems{{"app.dump", "missing"},
                                 {"sub", "not in the manifest"},
                                 {"sub/part.dat", "missing"}}));
}

TEST_F(BackupManifestFilesTest, ExtraFilesAreNotInTheManifest) {
    add("app.dump", content(50, 'e'));
    put("manifest.json", manifest_to_json(manifest_));
    put("stray.tmp", "x");
    put("dir/inner/extra.dat", "y");
    put("dir/manifest.json", "only the top-level manifest.json is exempt");
    EXPECT_EQ(check(), (Problems{{"dir/inner/extra.dat", "not in the manifest"},
                                 {"dir/manifest.json", "not in the manifest"},
                                 {"stray.tmp", "not in the manifest"}}));
}

TEST_F(BackupManifestFilesTest, SymlinksAndDirectoriesAreNotRegularFiles) {
    const std::string bytes = content(40, 's');
    add("linked.dump", bytes);
    add("dir.dump", bytes);
    put("real.dump", bytes);
    fs::remove(dir_ + "/linked.dump");
    fs::create_symlink("real.dump", dir_ + "/linked.dump");
    fs::remove(dir_ + "/dir.dump");
    fs::create_directories(dir_ + "/dir.dump");
    manifest_.files.push_back({"real.dump", 40, sha256_hex(bytes)});
    EXPECT_EQ(check(), (Problems{{"dir.dump", "not a regular file"},
                                 {"linked.dump", "a symbolic link, not a regular file"}}));
}

TEST_F(BackupManifestFilesTest, EveryProblemAtOnceSortedByName) {
    add("a_missing.dat", content(5, '1'));
    add("b_truncated.dat", content(5, '2'));
    add("c_flipped.dat", content(5, '3'));
    add("d_intact.dat", content(5, '4'));
    fs::remove(dir_ + "/a_missing.dat");
    put("b_truncated.dat", "1234");
    std::string flipped = content(5, '3');
    flipped[2] = static_cast<char>(flipped[2] ^ 0x80);
    put("c_flipped.dat", flipped);
    put("0_extra.dat", "e");
    put("z/extra.dat", "e");
    EXPECT_EQ(check(), (Problems{{"0_extra.dat", "not in the manifest"},
                                 {"a_missing.dat", "missing"},
                                 {"b_truncated.dat", "size 4 bytes, manifest says 5"},
                                 {"c_flipped.dat", "SHA-256 mismatch"},
                                 {"z/extra.dat", "not in the manifest"}}));
}

TEST_F(BackupManifestFilesTest, AManifestRoundTripChecksTheSame) {
    add("app.dump", content(1000, 'r'));
    put("manifest.json", manifest_to_json(manifest_));
    const std::string text = infra::test::file_contents(dir_ + "/manifest.json");
    const BackupManifest read_back = manifest_from_json(text);
    EXPECT_EQ(check_backup_files(dir_, read_back), Problems{});
    put("app.dump", content(1000, 'R'));
    EXPECT_EQ(check_backup_files(dir_, read_back), (Problems{{"app.dump", "SHA-256 mismatch"}}));
}

TEST_F(BackupManifestFilesTest, MissingBackupDirectoryIsAnError) {
    const std::string missing = dir_ + "/nope";
    EXPECT_EQ(refusal([&] { check_backup_files(missing, manifest_); }),
              "could not open directory " + missing + ": No such file or directory");
}

TEST_F(BackupManifestFilesTest, NamesThatLeaveTheDirectoryAreRefused) {
    // manifest_from_json refuses these; a manifest built by hand must not reach outside.
    put("app.dump", "x");
    manifest_.files = {{"../outside.dump", 1, sha256_hex("x")}};
    EXPECT_EQ(refusal([&] { check(); }),
              "the manifest's file name \"../outside.dump\" contains a \"..\" component");
    manifest_.files = {{dir_ + "/app.dump", 1, sha256_hex("x")}};
    EXPECT_EQ(refusal([&] { check(); }),
              "the manifest's file name \"" + dir_ + "/app.dump\" is absolute");
}

TEST_F(BackupManifestFilesTest, UnreadableFileIsReportedWithItsReason) {
    add("app.dump", content(10, 'u'));
    ASSERT_EQ(::chmod((dir_ + "/app.dump").c_str(), 0), 0);
    std::string seen = infra::test::as_unprivileged(dir_, [&] {
        Problems problems = check();
        return problems.size() == 1 ? problems[0].name + ": " + problems[0].problem
                                    : "problems: " + std::to_string(problems.size());
    });
    EXPECT_EQ(seen, "app.dump: cannot read " + dir_ + "/app.dump: Permission denied");
}

}  // namespace
}  // namespace infra::core
