// wal_prefetch.hpp: read-ahead for restore_command (infra_ext_ctl archive-get --prefetch N).
//
// PostgreSQL asks restore_command for one WAL segment at a time and replays it before it
// asks for the next, so decoding a compressed segment (tens of ms for zstd) sits on the
// recovery's critical path. With read-ahead, archive-get hands PostgreSQL a segment that
// was decoded ahead of time when there is one, and keeps a background prefetcher decoding
// the next N segments of the timeline into a spool directory beside the destination
// (pg_wal/.infra_ext_prefetch), so decoding overlaps replay on another core.
//
// Safety: a spooled segment is handed over only when its size and CRC-32C match the
// archive's own header for that name, so a file torn by an operating-system crash or
// spooled from another archive is discarded and decoded again; spool files get their
// name only once complete (decoded to a temporary name, then renamed).
//
// Files in the spool: segment names, "lock" and "last" (the newest segment requested,
// written by archive-get so that a running prefetcher follows recovery forward).
// Locking: at most one prefetcher per spool, by flock(LOCK_EX) on spool/lock for its
// whole run; clear_spool takes the same lock (waiting) so that no prefetcher writes into
// a spool being removed. take_prefetched needs no lock: rename is atomic, and a
// prefetcher only ever adds complete files or removes ones outside its window.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infra::core {

// The spool for a restore_command destination: "<directory of dest>/.infra_ext_prefetch".
std::string prefetch_spool_dir(const std::string& dest_path);

// The names a prefetcher fills after segment_name: the next `depth` segments of its
// timeline. Throws Error(kInvalidArgument) unless segment_name is a WAL segment name valid
// for segment_size.
std::vector<std::string> prefetch_window(const std::string& segment_name, uint64_t segment_size,
                                         int depth);

// Moves spool/file_name to dest_path when it is there and its size and CRC-32C match
// archive_dir/file_name's header; returns true then. A spooled file that does not match
// is removed (false). False too when either file is absent.
bool take_prefetched(const std::string& spool_dir, const std::string& archive_dir,
                     const std::string& file_name, const std::string& dest_path);

// Records segment_name as the newest one recovery asked for (spool/last; creates the
// spool directory). Best effort: returns false when it could not.
bool note_requested(const std::string& spool_dir, const std::string& segment_name);

// A held spool lock; released by the destructor (or by the process ending).
class SpoolLock {
  public:
    SpoolLock() = default;
    SpoolLock(SpoolLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    SpoolLock& operator=(SpoolLock&& other) noexcept;
    SpoolLock(const SpoolLock&) = delete;
    SpoolLock& operator=(const SpoolLock&) = delete;
    ~SpoolLock();
    bool held() const { return fd_ >= 0; }
    void release();

    // The lock without waiting: not held() when another process holds it (or the spool
    // cannot be created).
    static SpoolLock try_acquire(const std::string& spool_dir);

  private:
    explicit SpoolLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

// The prefetcher's work, run under a held lock: repeatedly fills the window after the
// newest requested segment (spool/last, else `after`) with decoded segments, removing
// spool entries outside it, until the window is full or the archive ends. Then it
// releases the lock and, when spool/last moved meanwhile, takes it again and goes on.
// Returns the number of segments decoded. Throws on errors (the caller, a detached
// process, just ends: archive-get decodes what is missing itself).
int run_prefetcher(SpoolLock lock, const std::string& spool_dir, const std::string& archive_dir,
                   const std::string& after, uint64_t segment_size, int depth);

// Removes the spool directory and everything in it (waiting for a running prefetcher).
// Nothing happens when there is no spool.
void clear_spool(const std::string& spool_dir);

}  // namespace infra::core
