// file_util_test.cpp: the durable file operations (src/core/file_util.*) in real mkdtemp
// directories: modes (0700 directories, 0600 files, whatever the umask), O_EXCL refusal of
// existing files and symlinks, short writes and a real write error (RLIMIT_FSIZE), errors
// naming the operation, the path and the reason, renames, symlink-safe tree removal and
// sizing, sorted listings, and disk space.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "unprivileged.hpp"
#include "refusal.hpp"
#include "file_size_limit.hpp"
#include "test_files.hpp"

namespace infra::core {
namespace {

namespace fs = std::filesystem;

// A fresh directory from mkdtemp(3), removed with its contents at the end of the test.
class FileUtilTest : public ::testing::Test {
  protected:
    std::string path(const std::string& name) const { return tmp_.file(name); }

    const infra::test::TempDir tmp_{"file_util_test"};
    const std::string dir_ = tmp_.path();
};

using infra::test::exists;
using infra::test::file_contents;
using infra::test::mode_of;
using infra::test::random_bytes;
using infra::test::refusal;
using infra::test::ScopedUmask;
using infra::test::write_file;

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
    write_file(d + "/kept", "contents");
    make_private_directory(d);
    EXPECT_EQ(mode_of(d), 0700u);
    EXPECT_EQ(file_contents(d + "/kept"), "contents");
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
    write_file(f, "x");
    ASSERT_EQ(::chmod(f.c_str(), 0644), 0);
    EXPECT_EQ(refusal([&] { make_private_directory(f); }),
              "could not create directory " + f + ": it exists and is not a directory");
    EXPECT_EQ(mode_of(f), 0644u);
    EXPECT_EQ(file_contents(f), "x");
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
    EXPECT_FALSE(exists(path("nothing")));
}

TEST_F(FileUtilTest, MakePrivateDirectoryWithMissingParentNamesPathAndReason) {
    const std::string d = path("missing/sub");
    EXPECT_EQ(refusal([&] { make_private_directory(d); }),
              "could not create directory " + d + ": No such file or directory");
    write_file(path("plain"), "x");
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
    EXPECT_EQ(file_contents(path("a")), contents);
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
    write_file(f, "old contents");
    ASSERT_EQ(::chmod(f.c_str(), 0644), 0);
    EXPECT_EQ(refusal([&] { write_file_durably(f, "new"); }),
              "could not create " + f + ": File exists");
    EXPECT_EQ(file_contents(f), "old contents");
    EXPECT_EQ(mode_of(f), 0644u);
}

TEST_F(FileUtilTest, OutputFileRefusesAnExistingFileDirectoryOrSymlink) {
    const std::string f = path("exists");
    write_file(f, "old");
    EXPECT_EQ(refusal([&] { OutputFile out(f); }), "could not create " + f + ": File exists");
    EXPECT_EQ(file_contents(f), "old");

    EXPECT_EQ(refusal([&] { OutputFile out(dir_); }), "could not create " + dir_ + ": File exists");

    // A symlink, even a dangling one, is not followed: its target is never created.
    const std::string link = path("link");
    fs::create_symlink(path("target"), link);
    EXPECT_EQ(refusal([&] { OutputFile out(link); }), "could not create " + link + ": File exists");
    EXPECT_FALSE(exists(path("target")));
}

TEST_F(FileUtilTest, WritingIntoAMissingDirectoryNamesPathAndReason) {
    const std::string f = path("no_such_dir/db.dump");
    EXPECT_EQ(refusal([&] { write_file_durably(f, "x"); }),
              "could not create " + f + ": No such file or directory");
    EXPECT_EQ(refusal([&] { OutputFile out(f); }),
              "could not create " + f + ": No such file or directory");
    EXPECT_FALSE(exists(path("no_such_dir")));
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
    EXPECT_EQ(file_contents(f), "head" + big + "tail");
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
    EXPECT_EQ(file_contents(f), "abc");
}

TEST_F(FileUtilTest, OutputFileNotFinishedIsClosedButNeverDeleted) {
    const std::string f = path("unfinished");
    {
        OutputFile out(f);
        out.write_all("partial", 7);
    }
    EXPECT_EQ(file_contents(f), "partial");
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
    EXPECT_EQ(file_contents(f), data.substr(0, 10000));

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
    write_file(path("r"), contents);
    EXPECT_EQ(read_file(path("r")), contents);
    write_file(path("empty"), "");
    EXPECT_EQ(read_file(path("empty")), "");
    write_file(path("exact"), std::string(65536, 'q'));
    EXPECT_EQ(read_file(path("exact")), std::string(65536, 'q'));
}

TEST_F(FileUtilTest, ReadFileErrorsNamePathAndReason) {
    EXPECT_EQ(refusal([&] { read_file(path("missing")); }),
              "could not open " + path("missing") + ": No such file or directory");
    EXPECT_EQ(refusal([&] { read_file(dir_); }), "could not read " + dir_ + ": Is a directory");
}

// ---- fsync_path, durable_rename ----

TEST_F(FileUtilTest, FsyncPathAcceptsFilesAndDirectories) {
    write_file(path("f"), "x");
    fsync_path(path("f"));
    fsync_path(dir_);
    EXPECT_EQ(refusal([&] { fsync_path(path("missing")); }),
              "could not open " + path("missing") + ": No such file or directory");
}

TEST_F(FileUtilTest, DurableRenameMovesFilesAndDirectories) {
    write_file_durably(path("x.tmp"), "dump bytes");
    durable_rename(path("x.tmp"), path("x.dump"));
    EXPECT_FALSE(exists(path("x.tmp")));
    EXPECT_EQ(file_contents(path("x.dump")), "dump bytes");

    make_private_directory(path("b.partial"));
    write_file_durably(path("b.partial/toc.dat"), "toc");
    make_private_directory(path("final"));
    durable_rename(path("b.partial"), path("final/b"));
    EXPECT_FALSE(exists(path("b.partial")));
    EXPECT_EQ(file_contents(path("final/b/toc.dat")), "toc");
    EXPECT_EQ(mode_of(path("final/b")), 0700u);

    // Replaces an existing file, as rename(2) does.
    write_file(path("new"), "new");
    write_file(path("old"), "old");
    durable_rename(path("new"), path("old"));
    EXPECT_EQ(file_contents(path("old")), "new");
}

TEST_F(FileUtilTest, DurableRenameOfRelativeNamesSyncsTheWorkingDirectory) {
    write_file(path("rel.tmp"), "r");
    ScopedChdir in(dir_);
    durable_rename("rel.tmp", "rel.dump");
    EXPECT_EQ(file_contents(path("rel.dump")), "r");
}

TEST_F(FileUtilTest, DurableRenameErrorsNameBothPathsAndReason) {
    EXPECT_EQ(refusal([&] { durable_rename(path("missing"), path("to")); }),
              "could not rename " + path("missing") + " to " + path("to") +
                  ": No such file or directory");
    write_file(path("from"), "x");
    EXPECT_EQ(refusal([&] { durable_rename(path("from"), path("no_dir/to")); }),
              "could not rename " + path("from") + " to " + path("no_dir/to") +
                  ": No such file or directory");
    EXPECT_EQ(file_contents(path("from")), "x");
    make_private_directory(path("full_dir"));
    write_file(path("full_dir/inside"), "y");
    EXPECT_EQ(refusal([&] { durable_rename(path("from"), path("full_dir")); }),
              "could not rename " + path("from") + " to " + path("full_dir") + ": Is a directory");
}

// ---- remove_tree ----

TEST_F(FileUtilTest, RemoveTreeRemovesANestedTree) {
    const std::string t = path("tree");
    fs::create_directories(t + "/a/b/c");
    fs::create_directories(t + "/empty");
    write_file(t + "/top", "1");
    write_file(t + "/a/mid", "2");
    write_file(t + "/a/b/c/deep", "3");
    ASSERT_EQ(::mkfifo((t + "/a/fifo").c_str(), 0600), 0);
    fs::create_symlink("top", t + "/a/b/link_in");
    remove_tree(t);
    EXPECT_FALSE(exists(t));
    EXPECT_TRUE(fs::is_directory(dir_));
}

TEST_F(FileUtilTest, RemoveTreeNeverFollowsASymlinkOut) {
    const std::string outside = path("outside");
    fs::create_directories(outside + "/sub");
    write_file(outside + "/precious", "keep me");
    write_file(outside + "/sub/also", "keep me too");
    const std::string t = path("tree");
    fs::create_directories(t + "/inner");
    fs::create_directory_symlink(outside, t + "/dir_link");
    fs::create_directory_symlink(outside, t + "/inner/dir_link");
    fs::create_symlink(outside + "/precious", t + "/file_link");
    fs::create_symlink(path("nothing"), t + "/dangling");

    remove_tree(t);
    EXPECT_FALSE(exists(t));
    EXPECT_EQ(file_contents(outside + "/precious"), "keep me");
    EXPECT_EQ(file_contents(outside + "/sub/also"), "keep me too");
}

TEST_F(FileUtilTest, RemoveTreeOfASymlinkRemovesTheLinkOnly) {
    const std::string outside = path("outside");
    fs::create_directories(outside);
    write_file(outside + "/precious", "keep me");
    const std::string link = path("link");
    fs::create_directory_symlink(outside, link);
    remove_tree(link + "/");  // a trailing slash must not lead into the target
    EXPECT_FALSE(exists(link));
    EXPECT_EQ(file_contents(outside + "/precious"), "keep me");

    fs::create_directory_symlink(outside, link);
    remove_tree(link);
    EXPECT_FALSE(exists(link));
    EXPECT_EQ(file_contents(outside + "/precious"), "keep me");
}

TEST_F(FileUtilTest, RemoveTreeOfAFileOrAMissingPath) {
    write_file(path("f"), "x");
    remove_tree(path("f"));
    EXPECT_FALSE(exists(path("f")));
    remove_tree(path("f"));  // missing now: not an error
    remove_tree(path("never/was/here"));
}

TEST_F(FileUtilTest, RemoveTreeErrorsNamePathAndReason) {
    write_file(path("plain"), "x");
    EXPECT_EQ(refusal([&] { remove_tree(path("plain/below")); }),
              "could not remove " + path("plain/below") + ": Not a directory");
    EXPECT_EQ(file_contents(path("plain")), "x");
    EXPECT_EQ(refusal([] { remove_tree(""); }), "could not remove a path that is empty");
    EXPECT_EQ(refusal([] { remove_tree("/"); }), "refusing to remove the root directory /");
    EXPECT_EQ(refusal([] { remove_tree("//"); }), "refusing to remove the root directory /");
}

TEST_F(FileUtilTest, RemoveTreeInsideAReadOnlyDirectoryNamesTheEntry) {
    const std::string t = path("tree");
    fs::create_directories(t + "/locked");
    write_file(t + "/locked/f", "x");
    ASSERT_EQ(::chmod((t + "/locked").c_str(), 0500), 0);
    EXPECT_EQ(infra::test::as_unprivileged(dir_, [&] { return refusal([&] { remove_tree(t); }); }),
              "could not remove " + t + "/locked/f: Permission denied");
    ::chmod((t + "/locked").c_str(), 0700);  // so that TearDown can remove it
}

// ---- tree_bytes ----

TEST_F(FileUtilTest, TreeBytesCountsRegularFilesOnly) {
    const std::string outside = path("outside");
    fs::create_directories(outside);
    write_file(outside + "/big", std::string(100000, 'b'));
    const std::string t = path("tree");
    fs::create_directories(t + "/a/b");
    fs::create_directories(t + "/empty");
    write_file(t + "/one", std::string(10, '1'));
    write_file(t + "/a/two", std::string(200, '2'));
    write_file(t + "/a/b/three", std::string(3000, '3'));
    write_file(t + "/a/b/zero", "");
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
        write_file(d + "/" + name, "x");
    }
    fs::create_symlink("a", d + "/z_link");
    EXPECT_EQ(list_directory(d), (std::vector<std::string>{".hidden", "B", "a", "a.dump", "b.dump",
                                                           "manifest.json", "sub", "z_link"}));
    EXPECT_EQ(list_directory(d + "/sub"), std::vector<std::string>{});
}

TEST_F(FileUtilTest, ListDirectoryErrorsNamePathAndReason) {
    EXPECT_EQ(refusal([&] { list_directory(path("missing")); }),
              "could not open directory " + path("missing") + ": No such file or directory");
    write_file(path("file"), "x");
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
    write_file(path("f"), "x");
    EXPECT_EQ(disk_space(path("f")).total_bytes, space.total_bytes);
    EXPECT_EQ(refusal([&] { disk_space(path("missing")); }),
              "could not get the disk space of " + path("missing") + ": No such file or directory");
}

}  // namespace
}  // namespace infra::core
