// file_util_test.cpp: the durable file operations (src/core/file_util.*) in real mkdtemp
// directories: modes (0700 directories, 0600 files, whatever the umask), O_EXCL refusal of
// existing files and symlinks, short writes and a real write error (RLIMIT_FSIZE), errors
// naming the operation, the path and the reason, renames, symlink-safe tree removal and
// sizing, sorted listings, and disk space.
#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "unprivileged.hpp"
#include "refusal.hpp"
#include "file_size_limit.hpp"

namespace infra::core {
namespace {

namespace fs = std::filesystem;

// A fresh directory from mkdtemp(3), removed with its contents at the end of the test.
class FileUtilTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "file_util_test_XXXXXX").string();
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        ASSERT_NE(::mkdtemp(buf.data()), nullptr);
        dir_ = buf.data();
    }

    void TearDown() override {
        std::error_code ignored;
        // Make everything removable again whatever a test did to the modes.
        for (auto it = fs::recursive_directory_iterator(dir_, ignored);
             it != fs::recursive_directory_iterator(); it.increment(ignored)) {
            if (it->is_directory(ignored) && !it->is_symlink(ignored)) {
                ::chmod(it->path().c_str(), 0700);
            }
        }
        fs::remove_all(dir_, ignored);
    }

    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    static void put(const std::string& path, const std::string& bytes) {
        std::ofstream out(path, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        ASSERT_TRUE(out.good()) << path;
    }

    static std::string get(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

    static mode_t mode_of(const std::string& path) {
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0) {
            ADD_FAILURE() << "lstat " << path << ": " << errno_text(errno);
            return 0;
        }
        return st.st_mode & 07777;
    }

    static bool exists_no_follow(const std::string& path) {
        struct stat st;
        return ::lstat(path.c_str(), &st) == 0;
    }

    std::string dir_;
};

using infra::test::refusal;

// The message of the Error(kInternal) that f must throw.
std::string internal_error(const std::function<void()>& f) {
    try {
        f();
        ADD_FAILURE() << "no error";
        return "(no error)";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInternal) << e.what();
        return e.what();
    }
}

// Sets the umask for one scope.
class ScopedUmask {
  public:
    explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
    ~ScopedUmask() { ::umask(old_); }

  private:
    mode_t old_;
};

// Changes the working directory for one scope.
class ScopedChdir {
  public:
    explicit ScopedChdir(const std::string& dir) : old_(fs::current_path()) {
        fs::current_path(dir);
    }
    ~ScopedChdir() {
        std::error_code ignored;
        fs::current_path(old_, ignored);
    }

  private:
    fs::path old_;
};

std::string random_bytes(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (char& ch : s) ch = static_cast<char>(rng() & 0xff);
    return s;
}

// ---- errno_text ----

TEST(FileUtilErrnoText, KnownAndUnknownValues) {
    EXPECT_EQ(errno_text(ENOENT), "No such file or directory");
    EXPECT_EQ(errno_text(ENOSPC), "No space left on device");
    EXPECT_EQ(errno_text(EACCES), "Permission denied");
    EXPECT_EQ(errno_text(EEXIST), "File exists");
    const std::string unknown = errno_text(987654);
    EXPECT_FALSE(unknown.empty());
    EXPECT_NE(unknown.find("987654"), std::string::npos) << unknown;
}

TEST(FileUtilErrnoText, SameAnswersFromManyThreads) {
    const std::vector<int> codes = {ENOENT, ENOSPC, EACCES, EEXIST, EIO, ENOTDIR, EISDIR, 987654};
    std::vector<std::string> expected;
    for (int code : codes) expected.push_back(errno_text(code));
    std::vector<int> wrong(8, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                const size_t k = static_cast<size_t>(i + t) % codes.size();
                if (errno_text(codes[k]) != expected[k]) ++wrong[static_cast<size_t>(t)];
            }
        });
    }
    for (std::thread& th : threads) th.join();
    for (int w : wrong) EXPECT_EQ(w, 0);
}

// ---- make_private_directory ----

TEST_F(FileUtilTest, MakePrivateDirectoryIs0700WhateverTheUmask) {
    {
        ScopedUmask mask(0);  // mkdir(0777) would show here
        make_private_directory(path("open_umask"));
    }
    EXPECT_EQ(mode_of(path("open_umask")), 0700u);
    {
        ScopedUmask mask(0277);  // mkdir alone would give 0500
        make_private_directory(path("tight_umask"));
    }
    EXPECT_EQ(mode_of(path("tight_umask")), 0700u);
    EXPECT_TRUE(fs::is_directory(path("tight_umask")));
}

TEST_F(FileUtilTest, MakePrivateDirectoryAcceptsAndTightensAnExistingDirectory) {
    const std::string d = path("existing");
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(d.c_str(), 0755), 0);
    put(d + "/kept", "contents");
    make_private_directory(d);
    EXPECT_EQ(mode_of(d), 0700u);
    EXPECT_EQ(get(d + "/kept"), "contents");
    // Twice is fine; a trailing slash too.
    make_private_directory(d);
    make_private_directory(d + "/");
    EXPECT_EQ(mode_of(d), 0700u);
}

TEST_F(FileUtilTest, MakePrivateDirectoryTightensADirectoryItCannotRead) {
    const std::string d = path("write_only");
    ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(d.c_str(), 0300), 0);
    make_private_directory(d);
    EXPECT_EQ(mode_of(d), 0700u);
}

TEST_F(FileUtilTest, MakePrivateDirectoryRefusesAFile) {
    const std::string f = path("file");
    put(f, "x");
    ASSERT_EQ(::chmod(f.c_str(), 0644), 0);
    EXPECT_EQ(refusal([&] { make_private_directory(f); }),
              "could not create directory " + f + ": it exists and is not a directory");
    EXPECT_EQ(mode_of(f), 0644u);
    EXPECT_EQ(get(f), "x");
}

TEST_F(FileUtilTest, MakePrivateDirectoryRefusesASymlinkAndLeavesItsTargetAlone) {
    const std::string target = path("target");
    ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(target.c_str(), 0755), 0);
    const std::string link = path("link");
    fs::create_directory_symlink(target, link);
    EXPECT_EQ(refusal([&] { make_private_directory(link); }),
              "could not create directory " + link + ": it exists and is a symbolic link");
    EXPECT_EQ(mode_of(target), 0755u);  // not chmod-ed through the link
    const std::string dangling = path("dangling");
    fs::create_symlink(path("nothing"), dangling);
    EXPECT_EQ(refusal([&] { make_private_directory(dangling); }),
              "could not create directory " + dangling + ": it exists and is a symbolic link");
    EXPECT_FALSE(exists_no_follow(path("nothing")));
}

TEST_F(FileUtilTest, MakePrivateDirectoryWithMissingParentNamesPathAndReason) {
    const std::string d = path("missing/sub");
    EXPECT_EQ(refusal([&] { make_private_directory(d); }),
              "could not create directory " + d + ": No such file or directory");
    put(path("plain"), "x");
    EXPECT_EQ(refusal([&] { make_private_directory(path("plain/sub")); }),
              "could not create directory " + path("plain/sub") + ": Not a directory");
}

// ---- write_file_durably, OutputFile ----

TEST_F(FileUtilTest, WriteFileDurablyWritesContentsWithMode0600) {
    const std::string contents = std::string("binary\0bytes\n", 13) + random_bytes(100000, 1);
    {
        ScopedUmask mask(0);  // open(0666) would show here
        write_file_durably(path("a"), contents);
    }
    EXPECT_EQ(get(path("a")), contents);
    EXPECT_EQ(mode_of(path("a")), 0600u);
    {
        ScopedUmask mask(0277);  // open(0600) alone would give 0400
        write_file_durably(path("b"), "");
    }
    EXPECT_EQ(mode_of(path("b")), 0600u);
    EXPECT_EQ(fs::file_size(path("b")), 0u);
}

TEST_F(FileUtilTest, WriteFileDurablyRefusesAnExistingFile) {
    const std::string f = path("exists");
    put(f, "old contents");
    ASSERT_EQ(::chmod(f.c_str(), 0644), 0);
    EXPECT_EQ(refusal([&] { write_file_durably(f, "new"); }),
              "could not create " + f + ": File exists");
    EXPECT_EQ(get(f), "old contents");
    EXPECT_EQ(mode_of(f), 0644u);
}

TEST_F(FileUtilTest, OutputFileRefusesAnExistingFileDirectoryOrSymlink) {
    const std::string f = path("exists");
    put(f, "old");
    EXPECT_EQ(refusal([&] { OutputFile out(f); }), "could not create " + f + ": File exists");
    EXPECT_EQ(get(f), "old");

    EXPECT_EQ(refusal([&] { OutputFile out(dir_); }), "could not create " + dir_ + ": File exists");

    // A symlink, even a dangling one, is not followed: its target is never created.
    const std::string link = path("link");
    fs::create_symlink(path("target"), link);
    EXPECT_EQ(refusal([&] { OutputFile out(link); }), "could not create " + link + ": File exists");
    EXPECT_FALSE(exists_no_follow(path("target")));
}

TEST_F(FileUtilTest, WritingIntoAMissingDirectoryNamesPathAndReason) {
    const std::string f = path("no_such_dir/db.dump");
    EXPECT_EQ(refusal([&] { write_file_durably(f, "x"); }),
              "could not create " + f + ": No such file or directory");
    EXPECT_EQ(refusal([&] { OutputFile out(f); }),
              "could not create " + f + ": No such file or directory");
    EXPECT_FALSE(exists_no_follow(path("no_such_dir")));
}

TEST_F(FileUtilTest, WritingIntoAReadOnlyDirectoryIsRefused) {
    const std::string d = path("ro");
    ASSERT_EQ(::mkdir(d.c_str(), 0500), 0);
    EXPECT_EQ(infra::test::as_unprivileged(
                  dir_, [&] { return refusal([&] { write_file_durably(d + "/x", "x"); }); }),
              "could not create " + d + "/x: Permission denied");
}

TEST_F(FileUtilTest, OutputFileWritesPiecesAndCountsBytes) {
    const std::string f = path("pieces.dump");
    const std::string big = random_bytes(3 * 1024 * 1024 + 17, 2);
    {
        OutputFile out(f);
        EXPECT_EQ(out.path(), f);
        EXPECT_EQ(out.bytes_written(), 0);
        EXPECT_EQ(mode_of(f), 0600u);
        out.write_all("head", 4);
        out.write_all(nullptr, 0);
        out.write_all(big.data(), big.size());
        out.write_all("tail", 4);
        EXPECT_EQ(out.bytes_written(), static_cast<int64_t>(big.size() + 8));
        out.finish();
        EXPECT_EQ(out.bytes_written(), static_cast<int64_t>(big.size() + 8));
    }
    EXPECT_EQ(get(f), "head" + big + "tail");
    EXPECT_EQ(mode_of(f), 0600u);
}

TEST_F(FileUtilTest, OutputFileUseAfterFinishIsABug) {
    const std::string f = path("once");
    OutputFile out(f);
    out.write_all("abc", 3);
    out.finish();
    const std::string w = internal_error([&] { out.write_all("d", 1); });
    EXPECT_NE(w.find(f), std::string::npos) << w;
    const std::string again = internal_error([&] { out.finish(); });
    EXPECT_NE(again.find(f), std::string::npos) << again;
    EXPECT_EQ(get(f), "abc");
}

TEST_F(FileUtilTest, OutputFileNotFinishedIsClosedButNeverDeleted) {
    const std::string f = path("unfinished");
    {
        OutputFile out(f);
        out.write_all("partial", 7);
    }
    EXPECT_EQ(get(f), "partial");
    EXPECT_EQ(mode_of(f), 0600u);
}

using infra::test::ScopedFileSizeLimit;

TEST_F(FileUtilTest, OutputFileWriteErrorNamesPathAndReasonAfterAShortWrite) {
    const std::string f = path("too_big.dump");
    const std::string data = random_bytes(25000, 3);
    std::string message;
    int64_t written = -1;
    {
        OutputFile out(f);
        ScopedFileSizeLimit limit(10000);
        ASSERT_TRUE(limit.ok());
        // The first write(2) is short (10000 bytes), the next fails with EFBIG.
        message = refusal([&] { out.write_all(data.data(), data.size()); });
        written = out.bytes_written();
    }
    EXPECT_EQ(message, "could not write " + f + ": File too large");
    EXPECT_EQ(written, 10000);
    EXPECT_EQ(get(f), data.substr(0, 10000));

    EXPECT_EQ(refusal([&] {
                  ScopedFileSizeLimit limit(100);
                  ASSERT_TRUE(limit.ok());
                  write_file_durably(path("small"), std::string(101, 'x'));
              }),
              "could not write " + path("small") + ": File too large");
}

// ---- read_file ----

TEST_F(FileUtilTest, ReadFileReturnsEveryByte) {
    const std::string contents = random_bytes(3 * 65536 + 5, 4);
    put(path("r"), contents);
    EXPECT_EQ(read_file(path("r")), contents);
    put(path("empty"), "");
    EXPECT_EQ(read_file(path("empty")), "");
    put(path("exact"), std::string(65536, 'q'));
    EXPECT_EQ(read_file(path("exact")), std::string(65536, 'q'));
}

TEST_F(FileUtilTest, ReadFileErrorsNamePathAndReason) {
    EXPECT_EQ(refusal([&] { read_file(path("missing")); }),
              "could not open " + path("missing") + ": No such file or directory");
    EXPECT_EQ(refusal([&] { read_file(dir_); }), "could not read " + dir_ + ": Is a directory");
}

// ---- fsync_path, durable_rename ----

TEST_F(FileUtilTest, FsyncPathAcceptsFilesAndDirectories) {
    put(path("f"), "x");
    fsync_path(path("f"));
    fsync_path(dir_);
    EXPECT_EQ(refusal([&] { fsync_path(path("missing")); }),
              "could not open " + path("missing") + ": No such file or directory");
}

TEST_F(FileUtilTest, DurableRenameMovesFilesAndDirectories) {
    write_file_durably(path("x.tmp"), "dump bytes");
    durable_rename(path("x.tmp"), path("x.dump"));
    EXPECT_FALSE(exists_no_follow(path("x.tmp")));
    EXPECT_EQ(get(path("x.dump")), "dump bytes");

    make_private_directory(path("b.partial"));
    write_file_durably(path("b.partial/toc.dat"), "toc");
    make_private_directory(path("final"));
    durable_rename(path("b.partial"), path("final/b"));
    EXPECT_FALSE(exists_no_follow(path("b.partial")));
    EXPECT_EQ(get(path("final/b/toc.dat")), "toc");
    EXPECT_EQ(mode_of(path("final/b")), 0700u);

    // Replaces an existing file, as rename(2) does.
    put(path("new"), "new");
    put(path("old"), "old");
    durable_rename(path("new"), path("old"));
    EXPECT_EQ(get(path("old")), "new");
}

TEST_F(FileUtilTest, DurableRenameOfRelativeNamesSyncsTheWorkingDirectory) {
    put(path("rel.tmp"), "r");
    ScopedChdir in(dir_);
    durable_rename("rel.tmp", "rel.dump");
    EXPECT_EQ(get(path("rel.dump")), "r");
}

TEST_F(FileUtilTest, DurableRenameErrorsNameBothPathsAndReason) {
    EXPECT_EQ(refusal([&] { durable_rename(path("missing"), path("to")); }),
              "could not rename " + path("missing") + " to " + path("to") +
                  ": No such file or directory");
    put(path("from"), "x");
    EXPECT_EQ(refusal([&] { durable_rename(path("from"), path("no_dir/to")); }),
              "could not rename " + path("from") + " to " + path("no_dir/to") +
                  ": No such file or directory");
    EXPECT_EQ(get(path("from")), "x");
    make_private_directory(path("full_dir"));
    put(path("full_dir/inside"), "y");
    EXPECT_EQ(refusal([&] { durable_rename(path("from"), path("full_dir")); }),
              "could not rename " + path("from") + " to " + path("full_dir") + ": Is a directory");
}

// ---- remove_tree ----

TEST_F(FileUtilTest, RemoveTreeRemovesANestedTree) {
    const std::string t = path("tree");
    fs::create_directories(t + "/a/b/c");
    fs::create_directories(t + "/empty");
    put(t + "/top", "1");
    put(t + "/a/mid", "2");
    put(t + "/a/b/c/deep", "3");
    ASSERT_EQ(::mkfifo((t + "/a/fifo").c_str(), 0600), 0);
    fs::create_symlink("top", t + "/a/b/link_in");
    remove_tree(t);
    EXPECT_FALSE(exists_no_follow(t));
    EXPECT_TRUE(fs::is_directory(dir_));
}

TEST_F(FileUtilTest, RemoveTreeNeverFollowsASymlinkOut) {
    const std::string outside = path("outside");
    fs::create_directories(outside + "/sub");
    put(outside + "/precious", "keep me");
    put(outside + "/sub/also", "keep me too");
    const std::string t = path("tree");
    fs::create_directories(t + "/inner");
    fs::create_directory_symlink(outside, t + "/dir_link");
    fs::create_directory_symlink(outside, t + "/inner/dir_link");
    fs::create_symlink(outside + "/precious", t + "/file_link");
    fs::create_symlink(path("nothing"), t + "/dangling");

    remove_tree(t);
    EXPECT_FALSE(exists_no_follow(t));
    EXPECT_EQ(get(outside + "/precious"), "keep me");
    EXPECT_EQ(get(outside + "/sub/also"), "keep me too");
}

TEST_F(FileUtilTest, RemoveTreeOfASymlinkRemovesTheLinkOnly) {
    const std::string outside = path("outside");
    fs::create_directories(outside);
    put(outside + "/precious", "keep me");
    const std::string link = path("link");
    fs::create_directory_symlink(outside, link);
    remove_tree(link + "/");  // a trailing slash must not lead into the target
    EXPECT_FALSE(exists_no_follow(link));
    EXPECT_EQ(get(outside + "/precious"), "keep me");

    fs::create_directory_symlink(outside, link);
    remove_tree(link);
    EXPECT_FALSE(exists_no_follow(link));
    EXPECT_EQ(get(outside + "/precious"), "keep me");
}

TEST_F(FileUtilTest, RemoveTreeOfAFileOrAMissingPath) {
    put(path("f"), "x");
    remove_tree(path("f"));
    EXPECT_FALSE(exists_no_follow(path("f")));
    remove_tree(path("f"));  // missing now: not an error
    remove_tree(path("never/was/here"));
}

TEST_F(FileUtilTest, RemoveTreeErrorsNamePathAndReason) {
    put(path("plain"), "x");
    EXPECT_EQ(refusal([&] { remove_tree(path("plain/below")); }),
              "could not remove " + path("plain/below") + ": Not a directory");
    EXPECT_EQ(get(path("plain")), "x");
    EXPECT_EQ(refusal([] { remove_tree(""); }), "could not remove a path that is empty");
    EXPECT_EQ(refusal([] { remove_tree("/"); }), "refusing to remove the root directory /");
    EXPECT_EQ(refusal([] { remove_tree("//"); }), "refusing to remove the root directory /");
}

TEST_F(FileUtilTest, RemoveTreeInsideAReadOnlyDirectoryNamesTheEntry) {
    const std::string t = path("tree");
    fs::create_directories(t + "/locked");
    put(t + "/locked/f", "x");
    ASSERT_EQ(::chmod((t + "/locked").c_str(), 0500), 0);
    EXPECT_EQ(infra::test::as_unprivileged(dir_, [&] { return refusal([&] { remove_tree(t); }); }),
              "could not remove " + t + "/locked/f: Permission denied");
    ::chmod((t + "/locked").c_str(), 0700);  // so that TearDown can remove it
}

// ---- tree_bytes ----

TEST_F(FileUtilTest, TreeBytesCountsRegularFilesOnly) {
    const std::string outside = path("outside");
    fs::create_directories(outside);
    put(outside + "/big", std::string(100000, 'b'));
    const std::string t = path("tree");
    fs::create_directories(t + "/a/b");
    fs::create_directories(t + "/empty");
    put(t + "/one", std::string(10, '1'));
    put(t + "/a/two", std::string(200, '2'));
    put(t + "/a/b/three", std::string(3000, '3'));
    put(t + "/a/b/zero", "");
    fs::create_symlink(outside + "/big", t + "/file_link");
    fs::create_directory_symlink(outside, t + "/a/dir_link");
    ASSERT_EQ(::mkfifo((t + "/fifo").c_str(), 0600), 0);

    EXPECT_EQ(tree_bytes(t), 3210);
    EXPECT_EQ(tree_bytes(t + "/"), 3210);
    EXPECT_EQ(tree_bytes(t + "/a"), 3200);
    EXPECT_EQ(tree_bytes(t + "/a/b/three"), 3000);
    EXPECT_EQ(tree_bytes(t + "/empty"), 0);
    EXPECT_EQ(tree_bytes(t + "/file_link"), 0);  // the link, not the 100000-byte file
    EXPECT_EQ(tree_bytes(t + "/a/dir_link"), 0);
}

TEST_F(FileUtilTest, TreeBytesOfAMissingPathNamesIt) {
    EXPECT_EQ(refusal([&] { tree_bytes(path("missing")); }),
              "could not stat " + path("missing") + ": No such file or directory");
}

// ---- list_directory ----

TEST_F(FileUtilTest, ListDirectoryIsSortedWithoutDotEntries) {
    const std::string d = path("list");
    fs::create_directories(d + "/sub");
    for (const char* name : {"b.dump", "a.dump", "B", ".hidden", "a", "manifest.json"}) {
        put(d + "/" + name, "x");
    }
    fs::create_symlink("a", d + "/z_link");
    EXPECT_EQ(list_directory(d), (std::vector<std::string>{".hidden", "B", "a", "a.dump", "b.dump",
                                                           "manifest.json", "sub", "z_link"}));
    EXPECT_EQ(list_directory(d + "/sub"), std::vector<std::string>{});
}

TEST_F(FileUtilTest, ListDirectoryErrorsNamePathAndReason) {
    EXPECT_EQ(refusal([&] { list_directory(path("missing")); }),
              "could not open directory " + path("missing") + ": No such file or directory");
    put(path("file"), "x");
    EXPECT_EQ(refusal([&] { list_directory(path("file")); }),
              "could not open directory " + path("file") + ": Not a directory");
}

// ---- disk_space ----

TEST_F(FileUtilTest, DiskSpaceOfTheFileSystemThatHoldsAPath) {
    const DiskSpace space = disk_space(dir_);
    EXPECT_GT(space.total_bytes, 0);
    EXPECT_GE(space.free_bytes, 0);
    EXPECT_LE(space.free_bytes, space.total_bytes);
    struct statvfs vfs;
    ASSERT_EQ(::statvfs(dir_.c_str(), &vfs), 0);
    EXPECT_EQ(space.total_bytes,
              static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize));
    put(path("f"), "x");
    EXPECT_EQ(disk_space(path("f")).total_bytes, space.total_bytes);
    EXPECT_EQ(refusal([&] { disk_space(path("missing")); }),
              "could not get the disk space of " + path("missing") + ": No such file or directory");
}

}  // namespace
}  // namespace infra::core
