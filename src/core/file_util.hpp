// file_util.hpp: the durable file operations backup jobs are built from (POSIX only).
//
// A backup is written as files in a private ".partial" directory; each file is fsynced,
// the directory is fsynced, renamed to its final name, and the parent directory is
// fsynced. Every failure throws core::Error(kInvalidArgument) whose message names the
// operation, the path and the system's reason, e.g.
//   "could not write /backups/x.partial/db.dump: No space left on device"
// so a failed job's error says what really happened.
// No shared state; an OutputFile belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace infra::core {

// strerror text for an errno value (thread-safe).
std::string errno_text(int errnum);

// The hint for a failed file operation, chosen by the system's reason (no space,
// permissions, a missing path, an I/O error, ...).
std::string file_error_hint(int errnum);

// Throws Error(kInvalidArgument) "could not <operation> <path>: <reason>" with that hint.
[[noreturn]] void throw_file_error(const std::string& operation, const std::string& path,
                                   int errnum);

// Creates a directory with mode 0700. An existing directory is accepted and its mode
// set to 0700; an existing non-directory is an error.
void make_private_directory(const std::string& path);

// Opens path (file or directory) read-only and fsyncs it.
void fsync_path(const std::string& path);

// rename(from, to), then fsync of the directory that holds `to`.
void durable_rename(const std::string& from, const std::string& to);

// Removes path and, if it is a directory, everything under it, never following a
// symlink (a symlink is removed, not its target). A missing path is not an error.
void remove_tree(const std::string& path);

// Total size in bytes of the regular files at or under path (symlinks not followed).
int64_t tree_bytes(const std::string& path);

// Names in a directory (without "." and ".."), sorted.
std::vector<std::string> list_directory(const std::string& path);

struct DiskSpace {
    int64_t free_bytes = 0;  // available to an unprivileged writer (f_bavail)
    int64_t total_bytes = 0;
};
// statvfs of the file system that holds path.
DiskSpace disk_space(const std::string& path);

// Creates path (O_EXCL, mode 0600), writes contents, fsyncs, closes.
void write_file_durably(const std::string& path, const std::string& contents);

// Reads a whole file (errors name the path and reason).
std::string read_file(const std::string& path);

// A new file opened for writing with O_CREAT | O_EXCL, mode 0600. write_all() loops over
// short writes and EINTR and throws on any error (ENOSPC included); finish() fsyncs and
// closes. The destructor closes (without fsync) a file not finished; it never deletes.
class OutputFile {
  public:
    explicit OutputFile(const std::string& path);
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    ~OutputFile();
    void write_all(const void* data, size_t size);
    void finish();
    int64_t bytes_written() const { return bytes_; }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    int fd_ = -1;
    int64_t bytes_ = 0;
};

}  // namespace infra::core
