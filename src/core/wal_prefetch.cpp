// wal_prefetch.cpp: restore_command's read-ahead spool (see wal_prefetch.hpp for the
// design, the files in the spool and the locking rules).
#include "core/wal_prefetch.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/unique_fd.hpp"
#include "core/wal_archive.hpp"
#include "core/wal_names.hpp"

namespace infra::core {

namespace {

constexpr const char* kLockName = "lock";
constexpr const char* kLastName = "last";
constexpr size_t kReadChunk = size_t{1} << 20;

std::string in_dir(const std::string& dir, const std::string& name) {
    return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

// The newest segment recovery asked for, or "" when spool/last is absent or unreadable.
std::string read_last(const std::string& spool_dir) {
    UniqueFd fd(open_retrying(in_dir(spool_dir, kLastName).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return {};
    char buf[64];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return {};
    std::string text(buf, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
    return text;
}

// True when path's contents have exactly `size` bytes and this CRC-32C.
bool contents_match(const std::string& path, int64_t size, uint32_t crc) {
    UniqueFd fd(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return false;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != size) return false;
    std::unique_ptr<char[]> buf(new char[kReadChunk]);
    uint32_t actual = 0;
    int64_t total = 0;
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf.get(), kReadChunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) break;
        actual = crc32c(buf.get(), static_cast<size_t>(n), actual);
        total += n;
    }
    return total == size && actual == crc;
}

// One pass over the window after `after`: removes spool entries outside it, then decodes
// each missing segment newer than the newest requested one, stopping at the first one
// the archive does not hold. Returns the number decoded.
int fill_window(const std::string& spool_dir, const std::string& archive_dir,
                const std::string& after, uint64_t segment_size, int depth) {
    const std::vector<std::string> window = prefetch_window(after, segment_size, depth);
    for (const std::string& name : list_directory(spool_dir)) {
        if (name == kLockName || name == kLastName) continue;
        bool wanted = false;
        for (const std::string& w : window) wanted = wanted || w == name;
        // Temporary files are leftovers: only a lock holder writes them, and that is us.
        if (!wanted) (void)::unlink(in_dir(spool_dir, name).c_str());
    }
    int decoded = 0;
    for (const std::string& name : window) {
        // Segment names of one timeline sort like their numbers.
        const std::string last = read_last(spool_dir);
        if (last.size() == name.size() && last.compare(0, 8, name, 0, 8) == 0 && name <= last) {
            continue;  // recovery has already asked for it
        }
        const std::string spooled = in_dir(spool_dir, name);
        if (exists(spooled)) continue;
        if (restore_wal_file(archive_dir, name, spooled, RestoreDurability::kForRestoreCommand) ==
            RestoreOutcome::kNotInArchive) {
            break;  // the archive ends here (for now)
        }
        ++decoded;
    }
    return decoded;
}

}  // namespace

std::string prefetch_spool_dir(const std::string& dest_path) {
    const size_t slash = dest_path.rfind('/');
    const std::string dir = slash == std::string::npos ? std::string(".")
                            : slash == 0               ? std::string("/")
                                                       : dest_path.substr(0, slash);
    return in_dir(dir, ".infra_ext_prefetch");
}

std::vector<std::string> prefetch_window(const std::string& segment_name, uint64_t segment_size,
                                         int depth) {
    check_wal_segment_size(segment_size);
    const WalFileName parsed = parse_wal_file_name(segment_name, segment_size);
    if (parsed.kind != WalFileKind::kSegment) {
        throw Error(ErrorKind::kInvalidArgument,
                    "\"" + segment_name + "\" is not a WAL segment name",
                    "Read-ahead follows WAL segments only.");
    }
    std::vector<std::string> names;
    for (int k = 1; k <= depth; ++k) {
        names.push_back(wal_segment_name(parsed.timeline, parsed.segno + static_cast<uint64_t>(k),
                                         segment_size));
    }
    return names;
}

bool take_prefetched(const std::string& spool_dir, const std::string& archive_dir,
                     const std::string& file_name, const std::string& dest_path) {
    const std::string spooled = in_dir(spool_dir, file_name);
    if (!exists(spooled)) return false;
    ArchivedFileInfo info;
    try {
        info = read_archived_file_info(in_dir(archive_dir, file_name));
    } catch (const Error&) {
        return false;  // not (or no longer readable) in the archive: decide as without a spool
    }
    if (!contents_match(spooled, info.original_bytes, info.crc32c)) {
        (void)::unlink(spooled.c_str());
        return false;
    }
    return ::rename(spooled.c_str(), dest_path.c_str()) == 0;
}

bool note_requested(const std::string& spool_dir, const std::string& segment_name) {
    if (::mkdir(spool_dir.c_str(), 0700) != 0 && errno != EEXIST) return false;
    const std::string last = in_dir(spool_dir, kLastName);
    const std::string tmp = last + ".tmp." + std::to_string(static_cast<long long>(::getpid()));
    UniqueFd fd(open_retrying(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return false;
    const std::string text = segment_name + "\n";
    const bool written =
        ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (!written || ::rename(tmp.c_str(), last.c_str()) != 0) {
        (void)::unlink(tmp.c_str());
        return false;
    }
    return true;
}

SpoolLock& SpoolLock::operator=(SpoolLock&& other) noexcept {
    if (this != &other) {
        release();
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

SpoolLock::~SpoolLock() {
    release();
}

void SpoolLock::release() {
    if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
    fd_ = -1;
}

SpoolLock SpoolLock::try_acquire(const std::string& spool_dir) {
    if (::mkdir(spool_dir.c_str(), 0700) != 0 && errno != EEXIST) return SpoolLock();
    const int fd =
        open_retrying(in_dir(spool_dir, kLockName).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return SpoolLock();
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        ::close(fd);
        return SpoolLock();
    }
    return SpoolLock(fd);
}

int run_prefetcher(SpoolLock lock, const std::string& spool_dir, const std::string& archive_dir,
                   const std::string& after, uint64_t segment_size, int depth) {
    int decoded = 0;
    std::string from = after;
    while (lock.held()) {
        const std::string last = read_last(spool_dir);
        if (!last.empty() && last.size() == from.size() && last > from) from = last;
        decoded += fill_window(spool_dir, archive_dir, from, segment_size, depth);
        lock.release();
        // archive-get writes spool/last before it tries the lock: a request that came
        // while the lock was held is seen here, and its window is filled in turn.
        const std::string now = read_last(spool_dir);
        if (now.empty() || now == from || now.size() != from.size() || now < from) break;
        lock = SpoolLock::try_acquire(spool_dir);
    }
    return decoded;
}

void clear_spool(const std::string& spool_dir) {
    if (!exists(spool_dir)) return;
    const int fd = open_retrying(in_dir(spool_dir, kLockName).c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    remove_tree(spool_dir);
    if (fd >= 0) ::close(fd);
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
