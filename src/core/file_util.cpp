// file_util.cpp: durable POSIX file operations for backups (private directories, O_EXCL
// files written in full and fsynced, durable renames, symlink-safe tree removal).
#include "core/file_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/errors.hpp"
#include "core/unique_fd.hpp"

namespace infra::core {

namespace {

constexpr size_t kReadChunkSize = 64 * 1024;

// strerror_r comes in two flavours: XSI (returns int, fills buf) and GNU (returns a
// pointer that may or may not be buf). Overloads pick the right reading of either.
[[maybe_unused]] const char* strerror_result(int ret, const char* buf) {
    return ret == 0 ? buf : nullptr;
}
[[maybe_unused]] const char* strerror_result(const char* ret, const char* /*buf*/) {
    return ret;
}

// Closes a descriptor when the scope ends, whichever way it ends.

struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

int openat_retrying(int dirfd, const char* name, int flags) {
    int fd;
    do {
        fd = ::openat(dirfd, name, flags);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

// The directory that holds path, textually: "/a/b" -> "/a", "b" -> ".", "/b" -> "/",
// "/a//b/" -> "/a".
std::string parent_directory(const std::string& path) {
    size_t end = path.size();
    while (end > 1 && path[end - 1] == '/') --end;  // trailing slashes
    const size_t slash = path.rfind('/', end - 1);
    if (slash == std::string::npos) return ".";
    size_t parent_end = slash;
    while (parent_end > 0 && path[parent_end - 1] == '/') --parent_end;
    return parent_end == 0 ? "/" : path.substr(0, parent_end);
}

// path without trailing slashes ("/" stays "/"), so that lstat() looks at a symlink
// itself and not at the directory it points to.
std::string without_trailing_slashes(const std::string& path) {
    size_t end = path.size();
    while (end > 1 && path[end - 1] == '/') --end;
    return path.substr(0, end);
}

std::string join(const std::string& dir, const std::string& name) {
    if (!dir.empty() && dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

// The names in an open directory stream, without "." and ".."; display_path names the
// directory in errors.
std::vector<std::string> read_names(DIR* dir, const std::string& display_path) {
    std::vector<std::string> names;
    for (;;) {
        errno = 0;
        const struct dirent* entry = ::readdir(dir);
        if (entry == nullptr) {
            if (errno != 0) throw_file_error("read directory", display_path, errno);
            break;
        }
        if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        names.emplace_back(entry->d_name);
    }
    return names;
}

// Opens the directory `name` inside dirfd (or the path itself when dirfd is AT_FDCWD)
// without following a symlink, as a DIR stream.
DirPtr open_directory_nofollow(int dirfd, const std::string& name,
                               const std::string& display_path) {
    UniqueFd fd(
        openat_retrying(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) throw_file_error("open directory", display_path, errno);
    DIR* dir = ::fdopendir(fd.get());
    if (dir == nullptr) throw_file_error("open directory", display_path, errno);
    fd.release();
    return DirPtr(dir);
}

// Removes everything inside the directory open as dir; display_path names it in errors.
void remove_directory_contents(DIR* dir, const std::string& display_path) {
    const int dirfd = ::dirfd(dir);
    for (const std::string& name : read_names(dir, display_path)) {
        const std::string child = join(display_path, name);
        struct stat st;
        if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;  // removed meanwhile
            throw_file_error("stat", child, errno);
        }
        if (S_ISDIR(st.st_mode)) {
            DirPtr sub = open_directory_nofollow(dirfd, name, child);
            remove_directory_contents(sub.get(), child);
            sub.reset();
            if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
                throw_file_error("remove directory", child, errno);
            }
        } else if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
            throw_file_error("remove", child, errno);
        }
    }
}

// Sum of the sizes of the regular files inside the directory open as dir.
int64_t directory_bytes(DIR* dir, const std::string& display_path) {
    const int dirfd = ::dirfd(dir);
    int64_t total = 0;
    for (const std::string& name : read_names(dir, display_path)) {
        const std::string child = join(display_path, name);
        struct stat st;
        if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            throw_file_error("stat", child, errno);
        if (S_ISREG(st.st_mode)) {
            total += static_cast<int64_t>(st.st_size);
        } else if (S_ISDIR(st.st_mode)) {
            DirPtr sub = open_directory_nofollow(dirfd, name, child);
            total += directory_bytes(sub.get(), child);
        }
    }
    return total;
}

}  // namespace

std::string errno_text(int errnum) {
    char buf[256];
    buf[0] = '\0';
    const char* text = strerror_result(::strerror_r(errnum, buf, sizeof buf), buf);
    if (text == nullptr || *text == '\0') return "Unknown error " + std::to_string(errnum);
    return text;
}

std::string file_error_hint(int err) {
    switch (err) {
        case ENOSPC:
        case EDQUOT:
        case EFBIG:
            return "Free space on the file system (or raise the quota) and try again.";
        case EACCES:
        case EPERM:
        case EROFS:
            return "Check that the operating-system user that runs the server may read and "
                   "write the path and that the file system is not read-only.";
        case ENOENT:
        case ENOTDIR:
            return "Check that the path and every directory above it exist.";
        case EEXIST:
            return "Remove the existing file or choose another name; existing files are never "
                   "overwritten.";
        case EIO:
            return "The storage reported an I/O error; check the system log and the disk.";
        default:
            return "Check the path, its permissions and the file system that holds it.";
    }
}

void throw_file_error(const std::string& operation, const std::string& path, int err) {
    throw Error(ErrorKind::kInvalidArgument,
                "could not " + operation + " " + path + ": " + errno_text(err),
                file_error_hint(err));
}

void make_private_directory(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        throw_file_error("create directory", path, errno);
    }
    // Whether just made (the umask may have taken bits away) or already there, open it
    // without following a symlink and set the mode on what was opened.
    UniqueFd fd(open_retrying(without_trailing_slashes(path).c_str(),
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() >= 0) {
        if (::fchmod(fd.get(), 0700) != 0) throw_file_error("set the mode of", path, errno);
        return;
    }
    const int open_err = errno;
    struct stat st;
    if (::lstat(without_trailing_slashes(path).c_str(), &st) != 0) {
        throw_file_error("open directory", path, open_err);
    }
    if (!S_ISDIR(st.st_mode)) {
        const char* what = S_ISLNK(st.st_mode) ? "it exists and is a symbolic link"
                                               : "it exists and is not a directory";
        throw Error(ErrorKind::kInvalidArgument, "could not create directory " + path + ": " + what,
                    "Remove or rename what is in the way, or choose another directory.");
    }
    // A directory that cannot be opened for reading (mode 0300, say): lstat has just
    // shown it is no symlink, so set the mode by name.
    if (::chmod(path.c_str(), 0700) != 0) throw_file_error("set the mode of", path, errno);
}

void fsync_path(const std::string& path) {
    UniqueFd fd(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw_file_error("open", path, errno);
    if (::fsync(fd.get()) != 0) throw_file_error("fsync", path, errno);
}

void durable_rename(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
        const int err = errno;
        throw Error(ErrorKind::kInvalidArgument,
                    "could not rename " + from + " to " + to + ": " + errno_text(err),
                    file_error_hint(err));
    }
    fsync_path(parent_directory(to));
}

void remove_tree(const std::string& path) {
    if (path.empty()) {
        throw Error(ErrorKind::kInvalidArgument, "could not remove a path that is empty",
                    "Name the file or directory to remove.");
    }
    const std::string target = without_trailing_slashes(path);
    if (target == "/") {
        throw Error(ErrorKind::kInvalidArgument, "refusing to remove the root directory /",
                    "Name the file or directory to remove.");
    }
    struct stat st;
    if (::lstat(target.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        throw_file_error("remove", path, errno);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlink(target.c_str()) != 0 && errno != ENOENT)
            throw_file_error("remove", path, errno);
        return;
    }
    {
        DirPtr dir = open_directory_nofollow(AT_FDCWD, target, path);
        remove_directory_contents(dir.get(), target);
    }
    if (::rmdir(target.c_str()) != 0 && errno != ENOENT)
        throw_file_error("remove directory", path, errno);
}

int64_t tree_bytes(const std::string& path) {
    const std::string target = without_trailing_slashes(path);
    struct stat st;
    if (::lstat(target.c_str(), &st) != 0) throw_file_error("stat", path, errno);
    if (S_ISREG(st.st_mode)) return static_cast<int64_t>(st.st_size);
    if (!S_ISDIR(st.st_mode)) return 0;
    DirPtr dir = open_directory_nofollow(AT_FDCWD, target, path);
    return directory_bytes(dir.get(), target);
}

std::vector<std::string> list_directory(const std::string& path) {
    DirPtr dir(::opendir(path.c_str()));
    if (!dir) throw_file_error("open directory", path, errno);
    std::vector<std::string> names = read_names(dir.get(), path);
    std::sort(names.begin(), names.end());
    return names;
}

DiskSpace disk_space(const std::string& path) {
    struct statvfs vfs;
    int rc;
    do {
        rc = ::statvfs(path.c_str(), &vfs);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) throw_file_error("get the disk space of", path, errno);
    DiskSpace space;
    const auto unit = static_cast<int64_t>(vfs.f_frsize != 0 ? vfs.f_frsize : vfs.f_bsize);
    space.free_bytes = static_cast<int64_t>(vfs.f_bavail) * unit;
    space.total_bytes = static_cast<int64_t>(vfs.f_blocks) * unit;
    return space;
}

void write_file_durably(const std::string& path, const std::string& contents) {
    OutputFile out(path);
    out.write_all(contents.data(), contents.size());
    out.finish();
}

std::string read_file(const std::string& path) {
    UniqueFd fd(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw_file_error("open", path, errno);
    std::string contents;
    std::unique_ptr<char[]> chunk(new char[kReadChunkSize]);
    for (;;) {
        const ssize_t got = ::read(fd.get(), chunk.get(), kReadChunkSize);
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            throw_file_error("read", path, errno);
        }
        contents.append(chunk.get(), static_cast<size_t>(got));
    }
    return contents;
}

OutputFile::OutputFile(const std::string& path) : path_(path) {
    fd_ = open_retrying(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) throw_file_error("create", path, errno);
    // The umask may have taken bits away from 0600; the mode is 0600 whatever it is.
    if (::fchmod(fd_, 0600) != 0) {
        const int err = errno;
        ::close(fd_);
        fd_ = -1;
        throw_file_error("set the mode of", path, err);
    }
}

OutputFile::~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
}

void OutputFile::write_all(const void* data, size_t size) {
    if (fd_ < 0) {
        throw Error(ErrorKind::kInternal,
                    "OutputFile::write_all() called for " + path_ + " after finish()",
                    "This is a bug in infra_ext; please report it with the server log.");
    }
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t put = ::write(fd_, p, size);
        if (put < 0) {
            if (errno == EINTR) continue;
            throw_file_error("write", path_, errno);
        }
        if (put == 0) {
            // Not expected for a regular file; do not spin.
            throw Error(ErrorKind::kInvalidArgument,
                        "could not write " + path_ + ": the system accepted no bytes",
                        file_error_hint(ENOSPC));
        }
        p += put;
        size -= static_cast<size_t>(put);
        bytes_ += put;
    }
}

void OutputFile::finish() {
    if (fd_ < 0) {
        throw Error(ErrorKind::kInternal, "OutputFile::finish() called twice for " + path_,
                    "This is a bug in infra_ext; please report it with the server log.");
    }
    const int fd = fd_;
    fd_ = -1;  // closed below whatever happens; a failed fsync must not be retried
    if (::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        throw_file_error("fsync", path_, err);
    }
    if (::close(fd) != 0 && errno != EINTR) throw_file_error("close", path_, errno);
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
