// test_files.hpp: the unit tests' real-file helpers: a private temporary directory removed
// at the end of its scope, reproducible pseudo-random bytes and a quiet comparison of large
// buffers, whole-file write and read, lstat-based existence and mode checks, and a scoped
// umask.
//
// The file helpers use plain iostreams, not src/core/file_util, so a test of the core's
// file code does not check that code with itself; only TempDir's cleanup uses
// core::remove_tree. No shared state: every TempDir is its own mkdtemp directory.
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "core/file_util.hpp"

namespace infra::test {

// $TMPDIR when it is set and not empty, else /tmp.
inline std::string temp_parent_directory() {
    const char* tmpdir = ::getenv("TMPDIR");
    return tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir : "/tmp";
}

// A fresh directory "<parent>/<prefix>_XXXXXX" made by mkdtemp(3) (mode 0700), removed with
// everything in it when the TempDir goes out of scope, whatever modes a test left on the
// directories inside (a failed removal is only reported on stderr). Throws
// std::runtime_error when mkdtemp fails.
class TempDir {
  public:
    explicit TempDir(const std::string& prefix,
                     const std::string& parent = temp_parent_directory()) {
        const std::string pattern = parent + "/" + prefix + "_XXXXXX";
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        if (::mkdtemp(buf.data()) == nullptr) {
            throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
        }
        path_ = buf.data();
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        make_directories_writable();
        try {
            core::remove_tree(path_);
        } catch (const std::exception& e) {
            std::cerr << "warning: test directory left behind: " << e.what() << "\n";
        }
    }

    const std::string& path() const { return path_; }
    // path()/name.
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    // A test may have made directories read-only (or unreadable) on purpose; without write
    // and search permission their contents could not be removed by a non-root user.
    void make_directories_writable() const {
        namespace fs = std::filesystem;
        std::error_code ignored;
        ::chmod(path_.c_str(), 0700);
        for (auto it = fs::recursive_directory_iterator(path_, ignored);
             it != fs::recursive_directory_iterator(); it.increment(ignored)) {
            if (it->is_directory(ignored) && !it->is_symlink(ignored)) {
                ::chmod(it->path().c_str(), 0700);
            }
        }
    }

    std::string path_;
};

// n pseudo-random bytes, the same for the same seed (hard to compress).
inline std::string random_bytes(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint64_t v = rng();
        std::memcpy(&s[i], &v, 8);
    }
    for (; i < n; ++i) s[i] = static_cast<char>(rng() & 0xff);
    return s;
}

// Compares large buffers without printing them: on a difference, the sizes and the first
// differing byte.
inline ::testing::AssertionResult same_bytes(const std::string& a, const std::string& b) {
    if (a == b) return ::testing::AssertionSuccess();
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return ::testing::AssertionFailure()
           << "sizes " << a.size() << " and " << b.size() << ", first difference at byte " << i;
}

// Creates or truncates path and writes bytes to it (the parent directory must exist).
inline void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    ASSERT_TRUE(out.good()) << "could not write " << path;
}

// The same, then sets exactly `mode` (whatever the umask).
inline void write_file(const std::string& path, const std::string& bytes, mode_t mode) {
    write_file(path, bytes);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << "could not chmod " << path;
}

// The whole content of a file; a file that cannot be opened is a test failure (and "").
inline std::string file_contents(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << "could not open " << path;
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Whether anything is at path, a dangling symbolic link included (lstat).
inline bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

// The permission bits of path, not following a symbolic link; a path that cannot be
// examined is a test failure (and 0).
inline mode_t mode_of(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
        ADD_FAILURE() << "lstat " << path << ": " << std::strerror(errno);
        return 0;
    }
    return st.st_mode & 07777;
}

// Sets the umask for one scope.
class ScopedUmask {
  public:
    explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
    ~ScopedUmask() { ::umask(old_); }
    ScopedUmask(const ScopedUmask&) = delete;
    ScopedUmask& operator=(const ScopedUmask&) = delete;

  private:
    mode_t old_;
};

}  // namespace infra::test
