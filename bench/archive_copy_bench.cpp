// archive_copy_bench.cpp: the WAL archive module's copy alone, without PostgreSQL, side
// by side with the copy basic_archive does (PostgreSQL 15's basic_archive_file:
// stat, copy_file into "archtemp.<name>.<pid>.<ms>" with 64 KiB reads and writes and
// sync_file_range every 1 MiB, then durable_rename: fsync, rename, fsync, fsync of the
// directory). Both archive the same 16 MiB files (random bytes, created once and kept
// in the page cache) into an emptied directory on the same file system; methods
// interleaved, order rotated every round. Reports per round the segments per second
// and this process's CPU time per segment (kernel writeback threads not included).
// It is how the drain's CPU costs were found (bench/README.md, WAL archive section).
//
// Usage: build/archive_copy_bench DIR [segments, default 64] [rounds, default 5]
//        (DIR: a scratch directory on the file system to measure; it is created and
//        its "src" and "dest" subdirectories are reused and emptied).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/wal_archive.hpp"

namespace {

namespace fs = std::filesystem;
constexpr size_t kSegmentBytes = size_t{16} << 20;

double seconds_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void check(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

void fsync_path(const std::string& path, int flags) {
    const int fd = open(path.c_str(), flags);
    check(fd >= 0, "open " + path);
    check(fsync(fd) == 0, "fsync " + path);
    close(fd);
}

// What PostgreSQL 15's basic_archive does for one file (see the header comment).
void basic_archive_copy(const std::string& source, const std::string& dir,
                        const std::string& name) {
    const std::string dest = dir + "/" + name;
    struct stat st;
    check(stat(dest.c_str(), &st) != 0, "already there: " + dest);
    const std::string temp = dir + "/archtemp." + name + "." + std::to_string(getpid()) + "." +
                             std::to_string(static_cast<long long>(seconds_now() * 1000));
    const int in = open(source.c_str(), O_RDONLY);
    check(in >= 0, "open " + source);
    const int out = open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    check(out >= 0, "create " + temp);
    static char buffer[64 * 1024];
    off_t offset = 0;
    off_t flushed = 0;
    for (;;) {
        if (offset - flushed >= (1 << 20)) {
            sync_file_range(out, flushed, offset - flushed, SYNC_FILE_RANGE_WRITE);
            flushed = offset;
        }
        const ssize_t n = read(in, buffer, sizeof buffer);
        check(n >= 0, "read " + source);
        if (n == 0) break;
        check(write(out, buffer, static_cast<size_t>(n)) == n, "write " + temp);
        offset += n;
    }
    if (offset > flushed) sync_file_range(out, flushed, offset - flushed, SYNC_FILE_RANGE_WRITE);
    close(in);
    close(out);
    fsync_path(temp, O_RDWR);  // durable_rename: the old name first,
    check(rename(temp.c_str(), dest.c_str()) == 0, "rename " + temp);
    fsync_path(dest, O_RDWR);  // then the new name and its directory
    fsync_path(dir, O_RDONLY);
}

std::string segment_name(int i) {
    char name[32];
    std::snprintf(name, sizeof name, "0000000100000000%08X", i);
    return name;
}

void make_sources(const std::string& dir, int count) {
    fs::create_directories(dir);
    std::mt19937_64 random(1);
    std::vector<uint64_t> words(kSegmentBytes / sizeof(uint64_t));
    for (int i = 0; i < count; ++i) {
        const std::string path = dir + "/" + segment_name(i);
        std::error_code ec;
        if (fs::file_size(path, ec) == kSegmentBytes) continue;
        for (uint64_t& w : words) w = random();
        const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        check(fd >= 0, "create " + path);
        check(write(fd, words.data(), kSegmentBytes) == static_cast<ssize_t>(kSegmentBytes),
              "write " + path);
        close(fd);
    }
    // Into the page cache, as the archiver finds WAL just written.
    for (int i = 0; i < count; ++i) {
        const int fd = open((dir + "/" + segment_name(i)).c_str(), O_RDONLY);
        static char buffer[1 << 20];
        while (read(fd, buffer, sizeof buffer) > 0) {
        }
        close(fd);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DIR [segments] [rounds]\n", argv[0]);
        return 2;
    }
    const std::string root = argv[1];
    const int segments = argc > 2 ? std::atoi(argv[2]) : 64;
    const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
    const std::string sources = root + "/src";
    const std::string dest = root + "/dest";
    try {
        make_sources(sources, segments);
        std::vector<std::string> methods = {"infra_off", "basic"};
        for (int round = 1; round <= rounds; ++round) {
            for (size_t k = 0; k < methods.size(); ++k) {
                const std::string& method = methods[(k + static_cast<size_t>(round)) % 2];
                fs::remove_all(dest);
                fs::create_directories(dest);
                sync();
                const double t0 = seconds_now();
                const double c0 = cpu_seconds();
                for (int i = 0; i < segments; ++i) {
                    const std::string name = segment_name(i);
                    if (method == "basic") {
                        basic_archive_copy(sources + "/" + name, dest, name);
                    } else {
                        infra::core::archive_wal_file(sources + "/" + name, name, dest,
                                                      infra::core::WalCompression::kOff);
                    }
                }
                const double wall = seconds_now() - t0;
                const double cpu = cpu_seconds() - c0;
                std::printf("round %d %-9s %6.1f segments/s  CPU %.2f ms/segment\n", round,
                            method.c_str(), segments / wall, cpu * 1000 / segments);
                std::fflush(stdout);
            }
        }
        fs::remove_all(dest);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "archive_copy_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
