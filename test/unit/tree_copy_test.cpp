// tree_copy_test.cpp: copy_tree (src/core/tree_copy.*) in real mkdtemp directories: a
// PostgreSQL-like tree with nested and empty directories copied exactly (types, modes,
// contents, symlink targets; the source left as it was), empty files, a 20 MiB file of
// pseudo-random bytes (also copied across file systems, from /dev/shm, when there is one),
// file and directory modes kept whatever the umask, the destination root made 0700 (new or
// an existing empty directory), symlinks with relative, absolute, long and dangling targets
// recreated and never followed (also ones pointing at a directory or at a FIFO outside the
// tree), the result's file and byte counts, refusals with clear messages (destination
// non-empty, a file, a symlink, its parent missing; source missing or not a directory; a
// FIFO or a socket in the source, named) that write nothing, and read-only source
// directories copied by an unprivileged user.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/tree_copy.hpp"
#include "refusal.hpp"
#include "test_files.hpp"
#include "unprivileged.hpp"

namespace infra::core {
namespace {

namespace fs = std::filesystem;
using infra::test::exists;
using infra::test::mode_of;
using infra::test::random_bytes;
using infra::test::refusal;
using infra::test::same_bytes;
using infra::test::ScopedUmask;

constexpr size_t kMiB = 1024 * 1024;
const char kOddEntryReason[] = ": it is not a file, directory or symbolic link";

bool is_symlink(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::string link_target(const std::string& path) {
    std::vector<char> buf(8192);
    const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    EXPECT_GE(n, 0) << path;
    return n < 0 ? std::string() : std::string(buf.data(), static_cast<size_t>(n));
}

// The bytes of a file; a symbolic link at path is a test failure (O_NOFOLLOW), so a copy
// made as a link is caught.
std::string get(const std::string& path) {
    std::string out;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    EXPECT_GE(fd, 0) << path;
    if (fd < 0) return out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    EXPECT_EQ(n, 0) << path;
    ::close(fd);
    return out;
}

// Creates a new file (O_EXCL: never one already there) holding bytes, with exactly the
// given mode.
void put(const std::string& path, const std::string& bytes, mode_t mode = 0600) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
    for (size_t done = 0; done < bytes.size();) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        ASSERT_GT(n, 0) << path;
        done += static_cast<size_t>(n);
    }
    ASSERT_EQ(::fchmod(fd, mode), 0) << path;
    ASSERT_EQ(::close(fd), 0) << path;
}

// Creates a directory with exactly the given mode (set after creation, so the umask and
// the order in which contents are added do not matter when running as root).
void make_dir(const std::string& path, mode_t mode = 0700) {
    ASSERT_EQ(::mkdir(path.c_str(), 0700), 0) << path << ": " << std::strerror(errno);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

void make_link(const std::string& target, const std::string& path) {
    ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0) << path << ": " << std::strerror(errno);
}

// Everything under root (not root itself), never following a symlink: relative path ->
// type, mode and contents (files: size and a hash; links: the target).
std::map<std::string, std::string> listing(const std::string& root) {
    std::map<std::string, std::string> entries;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string path = it->path().string();
        const std::string relative = path.substr(root.size() + 1);
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0) {
            entries[relative] = "unstattable";
            continue;
        }
        char mode[16];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        if (S_ISDIR(st.st_mode)) {
            entries[relative] = std::string("dir ") + mode;
        } else if (S_ISREG(st.st_mode)) {
            const std::string bytes = get(path);
            entries[relative] = std::string("file ") + mode + " size " +
                                std::to_string(bytes.size()) + " hash " +
                                std::to_string(std::hash<std::string>()(bytes));
        } else if (S_ISLNK(st.st_mode)) {
            entries[relative] = "link -> " + link_target(path);
        } else {
            entries[relative] = std::string("other ") + mode;
        }
    }
    EXPECT_FALSE(ec) << root << ": " << ec.message();
    return entries;
}

// A fresh directory from mkdtemp(3) holding base/ (the source, mode 0700) and, once a test
// makes it, restored/ (the destination); removed with its contents at the end.
class TreeCopyTest : public ::testing::Test {
  protected:
    void SetUp() override { make_dir(src_, 0700); }

    std::string in_src(const std::string& relative) const { return src_ + "/" + relative; }
    std::string in_out(const std::string& relative) const { return out_ + "/" + relative; }

    const infra::test::TempDir tmp_{"tree_copy_test"};
    const std::string dir_ = tmp_.path();
    const std::string src_ = dir_ + "/base";
    const std::string out_ = dir_ + "/restored";
};

// ---- What is copied ----

TEST_F(TreeCopyTest, CopiesANestedTreeExactlyAndLeavesTheSourceAlone) {
    put(in_src("PG_VERSION"), "15\n");
    const std::string label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n";
    put(in_src("backup_label"), label);
    make_dir(in_src("global"));
    put(in_src("global/pg_control"), random_bytes(8192, 1));
    put(in_src("global/1260"), random_bytes(16384, 2));
    make_dir(in_src("base"));
    make_dir(in_src("base/1"));
    put(in_src("base/1/1259"), random_bytes(3 * 8192, 3));
    put(in_src("base/1/1259_fsm"), random_bytes(24576, 4));
    put(in_src("base/1/pg_filenode.map"), random_bytes(512, 5));
    make_dir(in_src("base/5"));  // an empty database directory
    make_dir(in_src("pg_wal"));
    make_dir(in_src("pg_wal/archive_status"));  // empty, nested
    make_dir(in_src("pg_logical"));
    make_dir(in_src("pg_logical/a"));
    make_dir(in_src("pg_logical/a/b"));
    make_dir(in_src("pg_logical/a/b/c"));
    make_dir(in_src("pg_logical/a/b/c/d"));
    put(in_src("pg_logical/a/b/c/d/deep state"), "deep\n");
    put(in_src(".hidden"), "dot files too\n");
    const auto before = listing(src_);
    ASSERT_EQ(before.size(), 20u);

    const TreeCopyResult result = copy_tree(src_, out_);

    EXPECT_EQ(listing(out_), before);
    EXPECT_EQ(listing(src_), before);
    EXPECT_EQ(result.files, 9);
    EXPECT_EQ(result.bytes, static_cast<int64_t>(3 + label.size()) + 8192 + 16384 + 3 * 8192 +
                                24576 + 512 + 5 + 14);
    EXPECT_EQ(get(in_out("base/1/1259")), random_bytes(3 * 8192, 3));
}

TEST_F(TreeCopyTest, EmptyFilesAreCopiedAndCounted) {
    put(in_src("postmaster.opts"), "");
    make_dir(in_src("pg_notify"));
    put(in_src("pg_notify/0000"), "", 0640);
    put(in_src("standby.signal"), "");

    const TreeCopyResult result = copy_tree(src_, out_);

    EXPECT_EQ(result.files, 3);
    EXPECT_EQ(result.bytes, 0);
    for (const char* name : {"postmaster.opts", "pg_notify/0000", "standby.signal"}) {
        struct stat st;
        ASSERT_EQ(::lstat(in_out(name).c_str(), &st), 0) << name;
        EXPECT_TRUE(S_ISREG(st.st_mode)) << name;
        EXPECT_EQ(st.st_size, 0) << name;
    }
    EXPECT_EQ(mode_of(in_out("pg_notify/0000")), 0640u);
}

TEST_F(TreeCopyTest, LargeFileIsByteIdentical) {
    const std::string big = random_bytes(20 * kMiB + 12345, 7);  // not a multiple of 1 MiB
    make_dir(in_src("base"));
    put(in_src("base/16384.1"), big);
    put(in_src("small"), "x");

    const TreeCopyResult result = copy_tree(src_, out_);

    EXPECT_TRUE(same_bytes(get(in_out("base/16384.1")), big));
    EXPECT_EQ(get(in_out("small")), "x");
    EXPECT_EQ(result.files, 2);
    EXPECT_EQ(result.bytes, static_cast<int64_t>(big.size()) + 1);
}

// Between two file systems copy_file_range may refuse (EXDEV) and the read/write loop
// copies instead; whichever path is taken, the bytes must be the same.
TEST_F(TreeCopyTest, LargeFileIsByteIdenticalAcrossFileSystems) {
    struct stat shm, tmp;
    if (::stat("/dev/shm", &shm) != 0 || !S_ISDIR(shm.st_mode) || ::stat(dir_.c_str(), &tmp) != 0 ||
        shm.st_dev == tmp.st_dev) {
        GTEST_SKIP() << "no /dev/shm on another file system than " << dir_;
    }
    const std::string big = random_bytes(5 * kMiB + 3, 8);  // the fallback reads 1 MiB at a time
    TreeCopyResult result;
    std::string error;
    {
        const infra::test::TempDir shm_src("tree_copy_test", "/dev/shm");
        put(shm_src.file("16385"), big);
        put(shm_src.file("tiny"), "abc", 0640);
        try {
            result = copy_tree(shm_src.path(), out_);
        } catch (const Error& e) {
            error = e.what();
        }
    }  // the source is removed before the copy is checked

    EXPECT_EQ(error, "");
    EXPECT_TRUE(same_bytes(get(in_out("16385")), big));
    EXPECT_EQ(get(in_out("tiny")), "abc");
    EXPECT_EQ(mode_of(in_out("tiny")), 0640u);
    EXPECT_EQ(result.files, 2);
    EXPECT_EQ(result.bytes, static_cast<int64_t>(big.size()) + 3);
}

TEST_F(TreeCopyTest, FileAndDirectoryModesAreKeptWhateverTheUmask) {
    make_dir(in_src("open"), 0755);
    make_dir(in_src("group"), 0750);
    make_dir(in_src("group/private"), 0700);
    make_dir(in_src("traverse_only"), 0711);  // empty
    make_dir(in_src("read_only"), 0700);
    put(in_src("read_only/inside"), "ro dir content", 0640);
    ASSERT_EQ(::chmod(in_src("read_only").c_str(), 0500), 0);
    put(in_src("owner_rw"), "a", 0600);
    put(in_src("group/group_read"), "bb", 0640);
    put(in_src("group/private/owner_read_only"), "ccc", 0400);
    put(in_src("open/world_read"), "dddd", 0644);
    put(in_src("open/script"), "#!/bin/sh\n", 0750);

    TreeCopyResult result;
    {
        ScopedUmask mask(0077);  // would turn 0640 into 0600 and 0755 into 0700
        result = copy_tree(src_, out_);
    }

    EXPECT_EQ(mode_of(in_out("open")), 0755u);
    EXPECT_EQ(mode_of(in_out("group")), 0750u);
    EXPECT_EQ(mode_of(in_out("group/private")), 0700u);
    EXPECT_EQ(mode_of(in_out("traverse_only")), 0711u);
    EXPECT_EQ(mode_of(in_out("read_only")), 0500u);
    EXPECT_EQ(mode_of(in_out("read_only/inside")), 0640u);
    EXPECT_EQ(mode_of(in_out("owner_rw")), 0600u);
    EXPECT_EQ(mode_of(in_out("group/group_read")), 0640u);
    EXPECT_EQ(mode_of(in_out("group/private/owner_read_only")), 0400u);
    EXPECT_EQ(mode_of(in_out("open/world_read")), 0644u);
    EXPECT_EQ(mode_of(in_out("open/script")), 0750u);
    EXPECT_EQ(get(in_out("group/private/owner_read_only")), "ccc");
    EXPECT_EQ(get(in_out("read_only/inside")), "ro dir content");
    EXPECT_EQ(result.files, 6);
    EXPECT_EQ(result.bytes, 14 + 1 + 2 + 3 + 4 + 10);
}

// Root ignores permission bits, so this runs the copy as user nobody: a directory the
// source has read-only (0500, 0555) must still receive its contents in the copy.
TEST_F(TreeCopyTest, ReadOnlyDirectoriesAreCopiedByAnUnprivilegedUser) {
    make_dir(in_src("global"), 0700);
    put(in_src("global/pg_control"), random_bytes(8192, 9), 0600);
    put(in_src("global/read_only"), "r", 0400);
    make_dir(in_src("base"), 0700);
    make_dir(in_src("base/1"), 0700);
    put(in_src("base/1/112"), "tuple", 0400);
    ASSERT_EQ(::chmod(in_src("base/1").c_str(), 0500), 0);
    ASSERT_EQ(::chmod(in_src("base").c_str(), 0555), 0);
    ASSERT_EQ(::chmod(in_src("global").c_str(), 0500), 0);
    const auto before = listing(src_);

    const std::string outcome = infra::test::as_unprivileged(dir_, [&] {
        try {
            const TreeCopyResult r = copy_tree(src_, out_);
            return "copied " + std::to_string(r.files) + " files, " + std::to_string(r.bytes) +
                   " bytes";
        } catch (const Error& e) {
            return std::string(e.what());
        }
    });

    EXPECT_EQ(outcome, "copied 3 files, 8198 bytes");
    EXPECT_EQ(listing(out_), before);
    EXPECT_EQ(mode_of(in_out("global")), 0500u);
    EXPECT_EQ(mode_of(in_out("base")), 0555u);
    EXPECT_EQ(mode_of(in_out("base/1")), 0500u);
}

// ---- The destination root ----

TEST_F(TreeCopyTest, NewDestinationRootIsMadePrivate) {
    ASSERT_EQ(::chmod(src_.c_str(), 0755), 0);
    put(in_src("PG_VERSION"), "15\n");

    {
        ScopedUmask mask(0);  // mkdir(0777) or a copied 0755 would show here
        copy_tree(src_, out_);
    }

    EXPECT_EQ(mode_of(out_), 0700u);
    EXPECT_EQ(get(in_out("PG_VERSION")), "15\n");
    EXPECT_EQ(mode_of(src_), 0755u);
}

TEST_F(TreeCopyTest, ExistingEmptyDestinationIsAcceptedAndMadePrivate) {
    make_dir(out_, 0775);
    put(in_src("PG_VERSION"), "15\n", 0600);

    const TreeCopyResult result = copy_tree(src_, out_);

    EXPECT_EQ(mode_of(out_), 0700u);
    EXPECT_EQ(get(in_out("PG_VERSION")), "15\n");
    EXPECT_EQ(result.files, 1);
    EXPECT_EQ(result.bytes, 3);
}

TEST_F(TreeCopyTest, EmptySourceGivesAnEmptyPrivateDestination) {
    const TreeCopyResult result = copy_tree(src_, out_);

    EXPECT_EQ(result.files, 0);
    EXPECT_EQ(result.bytes, 0);
    EXPECT_EQ(mode_of(out_), 0700u);
    EXPECT_TRUE(listing(out_).empty());
}

// ---- Symbolic links ----

TEST_F(TreeCopyTest, SymlinksAreRecreatedWithTheSameTargetAndNotFollowed) {
    const std::string elsewhere = dir_ + "/elsewhere";
    make_dir(elsewhere, 0755);
    put(elsewhere + "/000000010000000000000002", random_bytes(4096, 10));
    make_dir(elsewhere + "/archive_status");
    ASSERT_EQ(::mkfifo((elsewhere + "/fifo").c_str(), 0600), 0);
    const auto elsewhere_before = listing(elsewhere);

    put(in_src("PG_VERSION"), "15\n");
    make_dir(in_src("pg_tblspc"));
    const std::string long_target = std::string(300, 'x') + "/" + std::string(300, 'y');
    const std::map<std::string, std::string> links = {
        {"relative_inside", "PG_VERSION"},
        {"relative_outside", "../elsewhere/000000010000000000000002"},
        {"absolute_file", elsewhere + "/000000010000000000000002"},
        {"pg_wal", elsewhere},  // a directory: must not be descended into
        {"to_a_fifo", elsewhere + "/fifo"},
        {"dangling_relative", "no/such/file"},
        {"dangling_absolute", dir_ + "/no_such_directory/x"},
        {"long", long_target},
        {"pg_tblspc/16400", "../../elsewhere"},
    };
    for (const auto& [name, target] : links) make_link(target, in_src(name));

    const TreeCopyResult result = copy_tree(src_, out_);

    for (const auto& [name, target] : links) {
        EXPECT_TRUE(is_symlink(in_out(name))) << name;
        EXPECT_EQ(link_target(in_out(name)), target) << name;
    }
    EXPECT_EQ(listing(out_), listing(src_));
    EXPECT_EQ(listing(elsewhere), elsewhere_before);
    EXPECT_EQ(result.files, 1);  // PG_VERSION only: nothing behind a link is counted
    EXPECT_EQ(result.bytes, 3);
}

// ---- Refusals ----

TEST_F(TreeCopyTest, NonEmptyDestinationIsRefusedAndLeftAlone) {
    put(in_src("PG_VERSION"), "15\n");
    make_dir(out_, 0755);
    put(in_out("PG_VERSION"), "14\n", 0644);
    put(in_out("postmaster.pid"), "4242\n", 0600);
    const auto before = listing(out_);

    EXPECT_EQ(refusal([&] { copy_tree(src_, out_); }),
              "cannot copy into " + out_ + ": it exists and is not an empty directory");

    EXPECT_EQ(listing(out_), before);
    EXPECT_EQ(mode_of(out_), 0755u);
}

TEST_F(TreeCopyTest, DestinationHoldingOnlyAnEmptyDirectoryIsNotEmpty) {
    put(in_src("PG_VERSION"), "15\n");
    make_dir(out_, 0755);
    make_dir(in_out("lost+found"), 0700);  // a fresh mount point

    EXPECT_EQ(refusal([&] { copy_tree(src_, out_); }),
              "cannot copy into " + out_ + ": it exists and is not an empty directory");

    EXPECT_EQ(listing(out_), (std::map<std::string, std::string>{{"lost+found", "dir 0700"}}));
    EXPECT_EQ(mode_of(out_), 0755u);
}

TEST_F(TreeCopyTest, DestinationThatIsAFileIsRefused) {
    put(in_src("PG_VERSION"), "15\n");
    put(out_, "not a directory\n", 0644);

    EXPECT_EQ(refusal([&] { copy_tree(src_, out_); }),
              "cannot copy into " + out_ + ": it exists and is not an empty directory");

    EXPECT_EQ(get(out_), "not a directory\n");
    EXPECT_EQ(mode_of(out_), 0644u);
}

// A symlink is not a directory, even one pointing at an empty directory: the copy must
// not end up somewhere other than the path it was given.
TEST_F(TreeCopyTest, DestinationThatIsASymlinkIsRefused) {
    put(in_src("PG_VERSION"), "15\n");
    const std::string empty_target = dir_ + "/empty_target";
    make_dir(empty_target, 0755);
    make_link(empty_target, out_);

    EXPECT_EQ(refusal([&] { copy_tree(src_, out_); }),
              "cannot copy into " + out_ + ": it exists and is not an empty directory");
    EXPECT_TRUE(listing(empty_target).empty());
    EXPECT_EQ(mode_of(empty_target), 0755u);

    const std::string dangling = dir_ + "/dangling";
    make_link(dir_ + "/would_be_created", dangling);
    EXPECT_EQ(refusal([&] { copy_tree(src_, dangling); }),
              "cannot copy into " + dangling + ": it exists and is not an empty directory");
    EXPECT_FALSE(exists(dir_ + "/would_be_created"));
}

TEST_F(TreeCopyTest, DestinationWithAMissingParentIsRefused) {
    put(in_src("PG_VERSION"), "15\n");
    const std::string to = dir_ + "/no_such_parent/data";

    EXPECT_EQ(refusal([&] { copy_tree(src_, to); }),
              "could not create directory " + to + ": No such file or directory");
    EXPECT_FALSE(exists(dir_ + "/no_such_parent"));
}

TEST_F(TreeCopyTest, MissingSourceIsRefused) {
    const std::string from = dir_ + "/no_such_backup";

    EXPECT_EQ(refusal([&] { copy_tree(from, out_); }),
              "could not open " + from + ": No such file or directory");
    EXPECT_FALSE(exists(out_));
}

TEST_F(TreeCopyTest, SourceThatIsNotADirectoryIsRefused) {
    const std::string from = dir_ + "/base.tar";
    put(from, "ustar");

    EXPECT_EQ(refusal([&] { copy_tree(from, out_); }), "cannot copy " + from + ": not a directory");
    EXPECT_FALSE(exists(out_));
}

TEST_F(TreeCopyTest, FifoInTheSourceIsRefusedNamingIt) {
    put(in_src("PG_VERSION"), "15\n");
    make_dir(in_src("base"));
    make_dir(in_src("base/1"));
    put(in_src("base/1/1259"), "heap");
    const std::string fifo = in_src("base/1/pipe");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);

    EXPECT_EQ(refusal([&] { copy_tree(src_, out_); }), "cannot copy " + fifo + kOddEntryReason);
    EXPECT_FALSE(exists(in_out("base/1/pipe")));
}

TEST_F(TreeCopyTest, SocketInTheSourceIsRefusedNamingIt) {
    put(in_src("PG_VERSION"), "15\n");
    const std::string socket_path = in_src(".s.PGSQL.5432");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    ASSERT_LT(socket_path.size(), sizeof address.sun_path);
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    ::close(fd);

    EXPECT_EQ(refusal([&] { copy_tree(src_, out_); }),
              "cannot copy " + socket_path + kOddEntryReason);
    EXPECT_FALSE(exists(in_out(".s.PGSQL.5432")));
}

}  // namespace
}  // namespace infra::core
