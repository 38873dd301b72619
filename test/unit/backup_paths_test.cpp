// backup_paths_test.cpp: restore-by-path safety and backup file names
// (src/core/backup_paths.*). Every refusal is checked with its message in a real directory
// tree made with mkdtemp: "..", paths outside, symbolic links that leave the directory,
// prefix tricks, directories, FIFOs, missing files; then the accepted spellings, symbolic
// links that stay inside included, and the file-name rules.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/backup_paths.hpp"
#include "core/errors.hpp"
#include "test_files.hpp"

namespace infra::core {
namespace {

namespace fs = std::filesystem;

// The tree every resolve test works in (R = the canonical mkdtemp directory):
//   R/backups/                  the backup directory (D)
//     a.dump, a..b.dump         regular files
//     sub/inner.dump            a file one level down
//     latest.dump -> a.dump     relative symlink, stays inside
//     abs_link.dump -> D/a.dump absolute symlink, stays inside
//     sublink -> sub            directory symlink, stays inside
//     self -> .                 symlink to D itself
//     escape.dump -> ../outside/secret.dump     leaves D
//     escape_dir -> R/outside                   leaves D
//     dangling.dump -> R/outside/nothing.dump   leads nowhere
//     fifo                      a FIFO (opening it for reading would block)
//   R/outside/secret.dump       a file outside D
//   R/backups2/x.dump           a sibling whose name extends D's
//   R/dirlink -> backups        the backup directory reached through a symlink
class BackupPathsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::canonical(tmp_.path()).string();
        dir_ = root_ + "/backups";

        fs::create_directory(dir_);
        fs::create_directory(dir_ + "/sub");
        fs::create_directory(root_ + "/outside");
        fs::create_directory(root_ + "/backups2");
        touch(dir_ + "/a.dump");
        touch(dir_ + "/a..b.dump");
        touch(dir_ + "/sub/inner.dump");
        touch(root_ + "/outside/secret.dump");
        touch(root_ + "/backups2/x.dump");
        fs::create_symlink("a.dump", dir_ + "/latest.dump");
        fs::create_symlink(dir_ + "/a.dump", dir_ + "/abs_link.dump");
        fs::create_directory_symlink("sub", dir_ + "/sublink");
        fs::create_directory_symlink(".", dir_ + "/self");
        fs::create_symlink("../outside/secret.dump", dir_ + "/escape.dump");
        fs::create_directory_symlink(root_ + "/outside", dir_ + "/escape_dir");
        fs::create_symlink(root_ + "/outside/nothing.dump", dir_ + "/dangling.dump");
        fs::create_directory_symlink("backups", root_ + "/dirlink");
        ASSERT_EQ(::mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
    }

    static void touch(const std::string& path) { infra::test::write_file(path, "backup bytes\n"); }

    // The message of the Error(kInvalidArgument) that resolving must throw.
    static std::string refusal(const std::string& backup_dir, const std::string& requested) {
        try {
            const std::string accepted = resolve_backup_file(backup_dir, requested);
            ADD_FAILURE() << "accepted \"" << requested << "\" as " << accepted;
            return "(accepted)";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
            EXPECT_FALSE(e.hint().empty()) << e.what();
            return e.what();
        }
    }

    std::string refusal(const std::string& requested) const { return refusal(dir_, requested); }

    const infra::test::TempDir tmp_{"backup_paths_test"};
    std::string root_;  // canonical
    std::string dir_;   // canonical backup directory
};

TEST_F(BackupPathsTest, EmptyAndNulRefused) {
    EXPECT_EQ(refusal(""), "the backup file path is empty");
    EXPECT_EQ(refusal(std::string("a.dump\0.txt", 11)), "the backup file path contains a NUL byte");
    EXPECT_EQ(refusal(std::string("\0", 1)), "the backup file path contains a NUL byte");
}

TEST_F(BackupPathsTest, DotDotComponentRefusedBeforeResolution) {
    // Even when the path would end up inside the directory.
    EXPECT_EQ(refusal("sub/../a.dump"),
              "the backup file path \"sub/../a.dump\" contains a \"..\" component; \"..\" is "
              "refused before the path is resolved");
    EXPECT_EQ(refusal("../outside/secret.dump"),
              "the backup file path \"../outside/secret.dump\" contains a \"..\" component; "
              "\"..\" is refused before the path is resolved");
    EXPECT_EQ(refusal(".."),
              "the backup file path \"..\" contains a \"..\" component; \"..\" is "
              "refused before the path is resolved");
    const std::string absolute = dir_ + "/../backups/a.dump";
    EXPECT_EQ(refusal(absolute), "the backup file path \"" + absolute +
                                     "\" contains a \"..\" component; \"..\" is refused before "
                                     "the path is resolved");
    // ".." inside a name is not a component.
    EXPECT_EQ(resolve_backup_file(dir_, "a..b.dump"), dir_ + "/a..b.dump");
}

TEST_F(BackupPathsTest, AbsolutePathOutsideRefused) {
    const std::string secret = root_ + "/outside/secret.dump";
    EXPECT_EQ(refusal(secret), "the backup file path \"" + secret +
                                   "\" is outside the backup directory \"" + dir_ + "\"");
    EXPECT_EQ(
        refusal("/etc/passwd"),
        "the backup file path \"/etc/passwd\" is outside the backup directory \"" + dir_ + "\"");
    EXPECT_EQ(refusal("/"),
              "the backup file path \"/\" is outside the backup directory \"" + dir_ + "\"");
    // Refused as outside whether or not the file exists: no existence oracle.
    EXPECT_EQ(refusal("/no/such/file.dump"),
              "the backup file path \"/no/such/file.dump\" is outside the backup directory \"" +
                  dir_ + "\"");
}

TEST_F(BackupPathsTest, PrefixTrickRefused) {
    const std::string sibling = root_ + "/backups2/x.dump";
    EXPECT_EQ(refusal(sibling), "the backup file path \"" + sibling +
                                    "\" is outside the backup directory \"" + dir_ + "\"");
    // The same with the backup directory given with a trailing slash.
    EXPECT_EQ(refusal(dir_ + "/", sibling), "the backup file path \"" + sibling +
                                                "\" is outside the backup directory \"" + dir_ +
                                                "/\"");
}

TEST_F(BackupPathsTest, SymlinkLeadingOutsideRefused) {
    const std::string secret = root_ + "/outside/secret.dump";
    EXPECT_EQ(refusal("escape.dump"),
              "the backup file path \"escape.dump\" leads outside the backup directory \"" + dir_ +
                  "\" through a symbolic link (it resolves to \"" + secret + "\")");
    EXPECT_EQ(refusal("escape_dir/secret.dump"),
              "the backup file path \"escape_dir/secret.dump\" leads outside the backup "
              "directory \"" +
                  dir_ + "\" through a symbolic link (it resolves to \"" + secret + "\")");
    // Spelled absolutely inside the directory, but through the same links.
    const std::string absolute = dir_ + "/escape_dir/secret.dump";
    EXPECT_EQ(refusal(absolute),
              "the backup file path \"" + absolute + "\" leads outside the backup directory \"" +
                  dir_ + "\" through a symbolic link (it resolves to \"" + secret + "\")");
}

TEST_F(BackupPathsTest, MissingFileAndDanglingSymlinkRefused) {
    EXPECT_EQ(refusal("missing.dump"),
              "the backup file \"missing.dump\" does not exist in the "
              "backup directory \"" +
                  dir_ + "\"");
    EXPECT_EQ(refusal("dangling.dump"),
              "the backup file \"dangling.dump\" does not exist in the "
              "backup directory \"" +
                  dir_ + "\"");
    EXPECT_EQ(refusal("a.dump/x"),
              "the backup file path \"a.dump/x\" cannot be resolved: Not a directory");
}

TEST_F(BackupPathsTest, BackupDirectoryItselfRefused) {
    for (const std::string& spelling : {std::string("."), std::string("./"), dir_, dir_ + "/",
                                        dir_ + "/.", std::string("self"), std::string("self/")}) {
        EXPECT_EQ(refusal(spelling), "the backup file path \"" + spelling +
                                         "\" names the backup directory itself, not a file in it");
    }
}

TEST_F(BackupPathsTest, DirectoriesAndSpecialFilesRefused) {
    EXPECT_EQ(refusal("sub"), "the backup file path \"sub\" is a directory, not a regular file");
    EXPECT_EQ(refusal("sublink"),
              "the backup file path \"sublink\" is a directory, not a regular file");
    EXPECT_EQ(refusal(dir_ + "/sub/"),
              "the backup file path \"" + dir_ + "/sub/\" is a directory, not a regular file");
    // Resolving never opens the file: a FIFO without a writer would block an open().
    EXPECT_EQ(refusal("fifo"), "the backup file path \"fifo\" is a FIFO, not a regular file");
}

TEST_F(BackupPathsTest, BadBackupDirectoryRefused) {
    EXPECT_EQ(refusal("", "a.dump"), "the backup directory is not set");
    EXPECT_EQ(refusal(std::string("/tmp\0x", 6), "a.dump"),
              "the backup directory path contains a NUL byte");
    const std::string missing = root_ + "/no_such_dir";
    EXPECT_EQ(refusal(missing, "a.dump"), "the backup directory \"" + missing +
                                              "\" cannot be resolved: No such file or directory");
    const std::string file = dir_ + "/a.dump";
    EXPECT_EQ(refusal(file, "x"), "the backup directory \"" + file + "\" is not a directory");
}

TEST_F(BackupPathsTest, RelativePathsResolveInsideTheDirectory) {
    EXPECT_EQ(resolve_backup_file(dir_, "a.dump"), dir_ + "/a.dump");
    EXPECT_EQ(resolve_backup_file(dir_, "./a.dump"), dir_ + "/a.dump");
    EXPECT_EQ(resolve_backup_file(dir_, "sub/inner.dump"), dir_ + "/sub/inner.dump");
    EXPECT_EQ(resolve_backup_file(dir_, "sub//./inner.dump"), dir_ + "/sub/inner.dump");
    EXPECT_EQ(resolve_backup_file(dir_ + "/", "a.dump"), dir_ + "/a.dump");
}

TEST_F(BackupPathsTest, AbsolutePathsInsideAccepted) {
    EXPECT_EQ(resolve_backup_file(dir_, dir_ + "/a.dump"), dir_ + "/a.dump");
    EXPECT_EQ(resolve_backup_file(dir_, dir_ + "//sub/./inner.dump"), dir_ + "/sub/inner.dump");
}

TEST_F(BackupPathsTest, SymlinksThatStayInsideAreFollowed) {
    EXPECT_EQ(resolve_backup_file(dir_, "latest.dump"), dir_ + "/a.dump");
    EXPECT_EQ(resolve_backup_file(dir_, "abs_link.dump"), dir_ + "/a.dump");
    EXPECT_EQ(resolve_backup_file(dir_, "sublink/inner.dump"), dir_ + "/sub/inner.dump");
    EXPECT_EQ(resolve_backup_file(dir_, "self/a.dump"), dir_ + "/a.dump");
    EXPECT_EQ(resolve_backup_file(dir_, dir_ + "/latest.dump"), dir_ + "/a.dump");
}

TEST_F(BackupPathsTest, BackupDirectoryGivenThroughASymlink) {
    const std::string link = root_ + "/dirlink";
    // Relative, absolute through the link, and absolute in canonical spelling: all give
    // the canonical path.
    EXPECT_EQ(resolve_backup_file(link, "a.dump"), dir_ + "/a.dump");
    EXPECT_EQ(resolve_backup_file(link, link + "/a.dump"), dir_ + "/a.dump");
    EXPECT_EQ(resolve_backup_file(link, dir_ + "/sub/inner.dump"), dir_ + "/sub/inner.dump");
    EXPECT_EQ(refusal(link, "escape.dump"),
              "the backup file path \"escape.dump\" leads outside the backup directory \"" + link +
                  "\" through a symbolic link (it resolves to \"" + root_ +
                  "/outside/secret.dump\")");
}

TEST_F(BackupPathsTest, UnreadableFileIsStillResolved) {
    // Only lstat/realpath are used: the file's own permissions do not matter.
    ASSERT_EQ(::chmod((dir_ + "/a.dump").c_str(), 0), 0);
    EXPECT_EQ(resolve_backup_file(dir_, "a.dump"), dir_ + "/a.dump");
}

// The message of the Error(kInvalidArgument) that backup_file_name must throw.
std::string name_refusal(const std::string& kind, int64_t id, const std::string& database,
                         const std::string& stamp) {
    try {
        const std::string name = backup_file_name(kind, id, database, stamp);
        ADD_FAILURE() << "accepted as " << name;
        return "(accepted)";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
        EXPECT_FALSE(e.hint().empty()) << e.what();
        return e.what();
    }
}

TEST(BackupFileName, ShapeForEachKind) {
    EXPECT_EQ(backup_file_name("manual", 42, "mydb", "20261128T121500Z"),
              "manual-000042-mydb-20261128T121500Z.dump");
    EXPECT_EQ(backup_file_name("daily", 1, "app_prod", "20260101T000000Z"),
              "daily-000001-app_prod-20260101T000000Z.dump");
    EXPECT_EQ(backup_file_name("weekly", 0, "x", "20241231T235959Z"),
              "weekly-000000-x-20241231T235959Z.dump");
    EXPECT_EQ(backup_file_name("monthly", 1234567, "my-db", "20240229T120000Z"),
              "monthly-1234567-my-db-20240229T120000Z.dump");
    EXPECT_EQ(backup_file_name("daily", INT64_MAX, "d", "20261128T121500Z"),
              "daily-9223372036854775807-d-20261128T121500Z.dump");
}

TEST(BackupFileName, DatabaseNameSanitised) {
    EXPECT_EQ(sanitize_database_for_file_name("my db/../x"), "my_db____x");
    EXPECT_EQ(sanitize_database_for_file_name(".hidden"), "_hidden");
    EXPECT_EQ(sanitize_database_for_file_name(std::string("a\0b", 3)), "a_b");
    // Every byte of a multi-byte UTF-8 character becomes one '_'.
    EXPECT_EQ(sanitize_database_for_file_name("caf\xc3\xa9"), "caf__");
    EXPECT_EQ(sanitize_database_for_file_name("Az09_-"), "Az09_-");
    // Capped at 63 bytes, after replacement.
    EXPECT_EQ(sanitize_database_for_file_name(std::string(100, 'x')), std::string(63, 'x'));
    EXPECT_EQ(sanitize_database_for_file_name(std::string(62, 'x') + "\xc3\xa9"),
              std::string(62, 'x') + "_");
    EXPECT_EQ(backup_file_name("manual", 7, "../../etc/passwd", "20261128T121500Z"),
              "manual-000007-______etc_passwd-20261128T121500Z.dump");
}

TEST(BackupFileName, AlwaysOneSafeComponent) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 500; ++i) {
        std::string database(1 + rng() % 100, '\0');
        for (char& ch : database) ch = static_cast<char>(rng() & 0xff);
        const std::string name = backup_file_name("daily", static_cast<int64_t>(rng() >> 1),
                                                  database, "20261128T121500Z");
        ASSERT_NE(name[0], '.');
        for (char ch : name) {
            const bool safe = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
            ASSERT_TRUE(safe) << "byte " << static_cast<int>(static_cast<unsigned char>(ch));
        }
    }
}

TEST(BackupFileName, InvalidKindIdDatabaseOrStampRefused) {
    const std::string stamp = "20261128T121500Z";
    EXPECT_EQ(name_refusal("hourly", 1, "db", stamp), "invalid backup kind \"hourly\"");
    EXPECT_EQ(name_refusal("Daily", 1, "db", stamp), "invalid backup kind \"Daily\"");
    EXPECT_EQ(name_refusal("", 1, "db", stamp), "invalid backup kind \"\"");
    EXPECT_EQ(name_refusal("daily", -1, "db", stamp), "invalid backup id -1: ids are not negative");
    EXPECT_EQ(name_refusal("daily", 1, "", stamp), "the database name of a backup is empty");
    const std::vector<std::string> bad_stamps = {
        "",
        "2026-11-28T12:15:00Z",
        "20261128T121500",
        "20261128t121500Z",
        "20261128T121500z",
        "20261328T121500Z",  // month 13
        "20260230T121500Z",  // 30 February
        "20250229T121500Z",  // 2025 is not a leap year
        "20261128T241500Z",
        "20261128T126000Z",
        "20261128T121560Z",
        "2026112xT121500Z",
        "20261128T121500Z/",
    };
    for (const std::string& bad : bad_stamps) {
        EXPECT_EQ(name_refusal("daily", 1, "db", bad),
                  "invalid UTC time stamp \"" + bad + "\" for a backup file name");
    }
}

}  // namespace
}  // namespace infra::core
