// wal_archive.cpp: the WAL archive container of wal_archive.hpp. Files are streamed in
// 1 MiB chunks (bounded memory whatever wal_segment_size is): read, CRC-32C (SSE4.2 when
// the CPU has it, else slicing-by-8 tables), optionally zstd / lz4-frame encoded, written
// to a unique temporary name, fsynced, renamed without replacing, directory fsynced.
// Restoring decodes in the same chunks and checks size and CRC-32C before the rename.
#include "core/wal_archive.hpp"

#include <fcntl.h>
#include <lz4frame.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zstd.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>  // renameat2 and RENAME_NOREPLACE (glibc with _GNU_SOURCE)
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/unique_fd.hpp"

namespace infra::core {

// Both CRC-32C implementations, whatever the CPU, for the unit tests (which declare them
// themselves; they are not part of the module's interface).
namespace wal_archive_internal {
uint32_t crc32c_software(const void* data, size_t size, uint32_t previous);
bool crc32c_hardware_available();
// The SSE4.2 implementation; only to be called when crc32c_hardware_available().
uint32_t crc32c_hardware(const void* data, size_t size, uint32_t previous);
}  // namespace wal_archive_internal

namespace {

constexpr char kMagic[8] = {'I', 'X', 'W', 'A', 'L', '0', '1', '\n'};
constexpr size_t kHeaderSize = 32;
constexpr size_t kHeaderCrcOffset = 28;  // the header CRC covers bytes 0..27
constexpr size_t kChunkSize = size_t{1} << 20;
// Restoring preallocates its destination only up to this size (the largest
// wal_segment_size).
constexpr int64_t kMaxPreallocatedRestore = int64_t{1} << 30;
// How much written data start_writeback lets gather before starting its writeback.
constexpr off_t kWritebackDistance = off_t{1} << 20;
constexpr size_t kMaxNameBytes = 255;
constexpr int kMinZstdLevel = 1;
constexpr int kMaxZstdLevel = 19;

constexpr const char* kCorruptHint =
    "The archived copy is damaged: restore the file from another copy of the archive, or take "
    "a new base backup so that this WAL is no longer needed.";
constexpr const char* kDifferentHint =
    "An archived WAL file is never overwritten. Another server may be archiving into the same "
    "directory: give each server its own archive directory, or move the old file away after "
    "checking that no backup needs it.";
constexpr const char* kNameHint =
    "Pass the file name as PostgreSQL gives it (%f), e.g. 000000010000000000000001.";

// ---- CRC-32C ----

constexpr uint32_t kCrc32cPolynomial = 0x82F63B78u;  // 0x1EDC6F41, bit-reflected

// t[0] is the classic byte table; t[k][i] is the CRC of byte i followed by k zero bytes,
// so eight table lookups advance the CRC by eight bytes at once (slicing-by-8).
struct Crc32cTables {
    uint32_t t[8][256];
};

constexpr Crc32cTables make_crc32c_tables() {
    Crc32cTables tables{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc >> 1) ^ ((0u - (crc & 1u)) & kCrc32cPolynomial);
        tables.t[0][i] = crc;
    }
    for (int k = 1; k < 8; ++k) {
        for (uint32_t i = 0; i < 256; ++i) {
            const uint32_t prev = tables.t[k - 1][i];
            tables.t[k][i] = (prev >> 8) ^ tables.t[0][prev & 0xffu];
        }
    }
    return tables;
}

constexpr Crc32cTables kCrc32cTables = make_crc32c_tables();

// The SSE4.2 path runs three independent CRCs over three consecutive blocks of this many
// bytes (the instruction's latency is three times its throughput), then joins them.
constexpr size_t kCrc32cBlock = 4096;

// Feeding n zero bytes to a CRC register is a linear map of the register; this table applies
// it for n = kCrc32cBlock, one lookup per register byte.
struct Crc32cShiftTable {
    uint32_t t[4][256];
};

// The GF(2) 32x32 matrix `op` (op[j] = image of bit j) applied to v.
constexpr uint32_t gf2_apply(const uint32_t (&op)[32], uint32_t v) {
    uint32_t out = 0;
    for (int j = 0; v != 0; ++j, v >>= 1) {
        if (v & 1u) out ^= op[j];
    }
    return out;
}

constexpr Crc32cShiftTable make_crc32c_shift_table() {
    // One zero byte, then squared until it covers kCrc32cBlock (a power of two) bytes.
    uint32_t op[32] = {};
    for (int j = 0; j < 32; ++j) {
        const uint32_t bit = 1u << j;
        op[j] = kCrc32cTables.t[0][bit & 0xffu] ^ (bit >> 8);
    }
    for (size_t bytes = 1; bytes < kCrc32cBlock; bytes *= 2) {
        uint32_t squared[32] = {};
        for (int j = 0; j < 32; ++j) squared[j] = gf2_apply(op, op[j]);
        for (int j = 0; j < 32; ++j) op[j] = squared[j];
    }
    Crc32cShiftTable table{};
    for (int k = 0; k < 4; ++k) {
        for (uint32_t i = 0; i < 256; ++i) table.t[k][i] = gf2_apply(op, i << (8 * k));
    }
    return table;
}

[[maybe_unused]] constexpr Crc32cShiftTable kCrc32cShift = make_crc32c_shift_table();

// The register after kCrc32cBlock zero bytes more.
[[maybe_unused]] inline uint32_t crc32c_shift_block(uint32_t crc) {
    const auto& t = kCrc32cShift.t;
    return t[0][crc & 0xffu] ^ t[1][(crc >> 8) & 0xffu] ^ t[2][(crc >> 16) & 0xffu] ^
           t[3][crc >> 24];
}

using Crc32cFunction = uint32_t (*)(const void*, size_t, uint32_t);

Crc32cFunction choose_crc32c() {
    return wal_archive_internal::crc32c_hardware_available()
               ? wal_archive_internal::crc32c_hardware
               : wal_archive_internal::crc32c_software;
}

// ---- little-endian fields ----

void put_le32(unsigned char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_le64(unsigned char* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint32_t get_le32(const unsigned char* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
uint64_t get_le64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

std::string hex32(uint32_t v) {
    char buf[11];
    std::snprintf(buf, sizeof buf, "0x%08X", v);
    return buf;
}

// ---- errors ----

// Error "archive file <path> is corrupt: <reason>".
[[noreturn]] void corrupt(const std::string& path, const std::string& reason) {
    throw Error(ErrorKind::kInvalidArgument, "archive file " + path + " is corrupt: " + reason,
                kCorruptHint);
}

[[noreturn]] void changed_while_archived(const std::string& path, int64_t before, int64_t now) {
    throw Error(ErrorKind::kInvalidArgument,
                "file " + path + " changed size while it was being archived (from " +
                    std::to_string(before) + " to at least " + std::to_string(now) + " bytes)",
                "A WAL file must not change once PostgreSQL hands it to the archiver; check "
                "that nothing else writes to it, then let the archiver retry.");
}

void check_file_name(const std::string& name) {
    const char* reason = nullptr;
    if (name.empty()) {
        reason = "it is empty";
    } else if (name.find('/') != std::string::npos) {
        reason = "it must be a single path component, without '/'";
    } else if (name.find('\0') != std::string::npos) {
        reason = "it contains a NUL byte";
    } else if (name[0] == '.') {
        reason = "it must not start with '.'";
    } else if (name.size() > kMaxNameBytes) {
        reason = "it is longer than 255 bytes";
    }
    if (reason != nullptr) {
        throw Error(ErrorKind::kInvalidArgument,
                    "invalid archive file name \"" + name + "\": " + reason, kNameHint);
    }
}

void check_archive_dir(const std::string& archive_dir) {
    if (archive_dir.empty()) {
        throw Error(ErrorKind::kInvalidArgument, "no WAL archive directory was given",
                    "Set infra.wal_archive_dir to the archive directory.");
    }
}

void check_compression(WalCompression compression, int zstd_level) {
    switch (compression) {
        case WalCompression::kOff:
        case WalCompression::kLz4:
            return;
        case WalCompression::kZstd:
            if (zstd_level < kMinZstdLevel || zstd_level > kMaxZstdLevel) {
                throw Error(ErrorKind::kInvalidArgument,
                            "invalid zstd level " + std::to_string(zstd_level) +
                                ": it must be between 1 and 19",
                            "Use 1 (fast, the default) up to 19 (smallest, much slower).");
            }
            return;
    }
    throw Error(ErrorKind::kInvalidArgument,
                "invalid WAL compression code " + std::to_string(static_cast<int>(compression)),
                "Use off, zstd or lz4.");
}

std::string join(const std::string& dir, const std::string& name) {
    if (!dir.empty() && dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

// ---- descriptors and files ----

// Reads up to size bytes, looping over short reads and EINTR; fewer only at end of file.
size_t read_full(int fd, void* buf, size_t size, const std::string& path) {
    auto* p = static_cast<char*>(buf);
    size_t done = 0;
    while (done < size) {
        const ssize_t got = ::read(fd, p + done, size - done);
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            throw_file_error("read", path, errno);
        }
        done += static_cast<size_t>(got);
    }
    return done;
}

struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
};
using ChunkBuffer = std::unique_ptr<char, FreeDeleter>;

// A buffer of kChunkSize bytes, left uninitialised, page-aligned: the kernel copies
// between the page cache and a buffer fastest when both are equally aligned (a buffer
// 16 bytes off a page boundary, as malloc returns a large block, made archiving a fifth
// more expensive in CPU; bench/README.md).
ChunkBuffer new_chunk() {
    ChunkBuffer buffer(static_cast<char*>(std::aligned_alloc(4096, kChunkSize)));
    if (!buffer) throw std::bad_alloc();
    return buffer;
}

// The chunk archiving reads the source into: one per thread, kept between calls (the
// archiver archives one file after another).
char* archive_read_buffer() {
    thread_local const ChunkBuffer buffer = new_chunk();
    return buffer.get();
}

// A new file "<dir_prefix><name>.tmp.<pid>.<counter>" (O_EXCL, mode 0600), removed by the
// destructor unless keep() was called after it was renamed. When <name> plus the suffix
// would exceed NAME_MAX, <name> is shortened in the temporary name only.
class TempFile {
  public:
    TempFile(const std::string& dir_prefix, const std::string& name) {
        static std::atomic<unsigned long long> counter{0};
        const std::string pid = std::to_string(static_cast<long long>(::getpid()));
        for (int attempt = 0;; ++attempt) {
            const std::string suffix = ".tmp." + pid + "." + std::to_string(counter++);
            const size_t keep = std::min(name.size(), kMaxNameBytes - suffix.size());
            path_ = dir_prefix + name.substr(0, keep) + suffix;
            fd_ = open_retrying(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd_ >= 0) break;
            // EEXIST: a leftover of a crashed process that had the same pid; next number.
            if (errno != EEXIST || attempt == 100) throw_file_error("create", path_, errno);
        }
        if (::fchmod(fd_, 0600) != 0) {
            const int err = errno;
            discard();
            throw_file_error("set the mode of", path_, err);
        }
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() {
        if (!kept_) discard();
    }

    const std::string& path() const { return path_; }

    void write_all(const void* data, size_t size) {
        const auto* p = static_cast<const char*>(data);
        while (size > 0) {
            const ssize_t put = ::write(fd_, p, size);
            if (put < 0) {
                if (errno == EINTR) continue;
                throw_file_error("write", path_, errno);
            }
            if (put == 0) throw_file_error("write", path_, ENOSPC);
            p += put;
            size -= static_cast<size_t>(put);
            written_ += put;
        }
        start_writeback();
    }

    void pwrite_all(const void* data, size_t size, off_t offset) {
        const auto* p = static_cast<const char*>(data);
        while (size > 0) {
            const ssize_t put = ::pwrite(fd_, p, size, offset);
            if (put < 0) {
                if (errno == EINTR) continue;
                throw_file_error("write", path_, errno);
            }
            if (put == 0) throw_file_error("write", path_, ENOSPC);
            p += put;
            size -= static_cast<size_t>(put);
            offset += put;
        }
    }

    // Reserves the blocks of the `bytes` the file is going to hold, in one request, before
    // they are written: the file system allocates them at once (one extent where it can)
    // instead of page by page at writeback, which takes about a fifth of archiving's CPU
    // time off (bench/README.md), and a file system without room for the file fails here,
    // before anything was written. FALLOC_FL_KEEP_SIZE: the size still grows only as data
    // is written, so a write cut short never leaves a file longer than its data. Where the
    // file system cannot preallocate, nothing is done.
    void preallocate(off_t bytes) {
#if defined(FALLOC_FL_KEEP_SIZE)
        int rc;
        do {
            rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, 0, bytes);
        } while (rc != 0 && errno == EINTR);
        if (rc == 0) return;
        const int err = errno;
        if (err == ENOSPC || err == EDQUOT || err == EFBIG || err == EIO) {
            throw_file_error(
                "reserve " + std::to_string(static_cast<long long>(bytes)) + " bytes for", path_,
                err);
        }
        // EOPNOTSUPP, ENOSYS, EINVAL...: this file system does not preallocate.
#else
        (void)bytes;
#endif
    }

    // fsync (unless sync is false) and close; a failed fsync is not retried (the file is
    // removed by the destructor).
    void sync_and_close(bool sync = true) {
        const int fd = fd_;
        fd_ = -1;
        if (sync && ::fsync(fd) != 0) {
            const int err = errno;
            ::close(fd);
            throw_file_error("fsync", path_, err);
        }
        if (::close(fd) != 0 && errno != EINTR) throw_file_error("close", path_, errno);
    }

    // The file has been renamed: nothing to remove any more.
    void keep() {
        kept_ = true;
    }

  private:
    // Asks the kernel to start writing what was written so far once kWritebackDistance
    // bytes have gathered, without waiting for it (as PostgreSQL's own file copies do):
    // the disk works while the next chunk is read and encoded, and the fsync at the end
    // waits only for the tail. Without it a 16 MiB segment is all written back inside
    // fsync, and archiving runs at a third of basic_archive's rate. Only a hint: errors
    // are ignored here because fsync reports them.
    void start_writeback() {
#if defined(SYNC_FILE_RANGE_WRITE)
        // Up to a page boundary only: the partly written last page is written again by
        // the next chunk (the 32-byte header shifts the payload off page alignment).
        const off_t end = written_ & ~off_t{4095};
        if (end - flushed_ < kWritebackDistance) return;
        (void)::sync_file_range(fd_, flushed_, end - flushed_, SYNC_FILE_RANGE_WRITE);
        flushed_ = end;
#endif
    }

    void discard() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        ::unlink(path_.c_str());
    }

    std::string path_;
    int fd_ = -1;
    bool kept_ = false;
    off_t written_ = 0;  // bytes written by write_all (sequentially from offset 0)
    off_t flushed_ = 0;  // bytes handed to start_writeback
};

// The file being archived, opened once and read sequentially.
class SourceFile {
  public:
    explicit SourceFile(const std::string& path)
        : path_(path), fd_(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (fd_.get() < 0) throw_file_error("open", path, errno);
        struct stat st;
        if (::fstat(fd_.get(), &st) != 0) throw_file_error("stat", path, errno);
        if (!S_ISREG(st.st_mode)) {
            throw Error(ErrorKind::kInvalidArgument,
                        "could not archive " + path + ": it is not a regular file",
                        "Archive WAL files only.");
        }
        size_ = static_cast<int64_t>(st.st_size);
        (void)::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    }

    const std::string& path() const { return path_; }
    int64_t size() const { return size_; }  // at open time

    // The next chunk (kChunkSize bytes, fewer only at the end); counts what was read and
    // fails when the file grows past its size at open time.
    size_t read_chunk(char* buf) {
        const size_t got = read_full(fd_.get(), buf, kChunkSize, path_);
        read_ += static_cast<int64_t>(got);
        if (read_ > size_) changed_while_archived(path_, size_, read_);
        return got;
    }

    // After the last chunk: fails when the file has shrunk.
    void check_complete() const {
        if (read_ != size_) changed_while_archived(path_, size_, read_);
    }

    void rewind() {
        if (::lseek(fd_.get(), 0, SEEK_SET) != 0) throw_file_error("seek in", path_, errno);
        read_ = 0;
    }

  private:
    std::string path_;
    UniqueFd fd_;
    int64_t size_ = 0;
    int64_t read_ = 0;
};

// ---- header ----

struct Header {
    unsigned char bytes[kHeaderSize];
};

Header encode_header(WalCompression compression, uint64_t original_bytes, uint32_t crc) {
    Header h{};
    std::memcpy(h.bytes, kMagic, sizeof kMagic);
    h.bytes[8] = static_cast<unsigned char>(compression);
    put_le64(h.bytes + 16, original_bytes);
    put_le32(h.bytes + 24, crc);
    put_le32(h.bytes + kHeaderCrcOffset, crc32c(h.bytes, kHeaderCrcOffset));
    return h;
}

// Checks a header read from path, whose size is file_bytes.
ArchivedFileInfo decode_header(const unsigned char* h, size_t header_bytes, int64_t file_bytes,
                               const std::string& path) {
    if (header_bytes < kHeaderSize) {
        if (header_bytes >= sizeof kMagic && std::memcmp(h, kMagic, sizeof kMagic) == 0) {
            corrupt(path, "it is truncated (" + std::to_string(file_bytes) +
                              " bytes, shorter than the 32-byte header)");
        }
        throw Error(ErrorKind::kInvalidArgument,
                    "archive file " + path + " is not an infra_ext WAL archive file (" +
                        std::to_string(file_bytes) + " bytes, no IXWAL01 header)",
                    "Only files written by infra_ext's archiver can be restored from its archive.");
    }
    if (std::memcmp(h, kMagic, sizeof kMagic) != 0) {
        throw Error(
            ErrorKind::kInvalidArgument,
            "archive file " + path + " is not an infra_ext WAL archive file (no IXWAL01 header)",
            "Only files written by infra_ext's archiver can be restored from its archive.");
    }
    const uint32_t stored_header_crc = get_le32(h + kHeaderCrcOffset);
    const uint32_t header_crc = crc32c(h, kHeaderCrcOffset);
    if (stored_header_crc != header_crc) {
        corrupt(path, "header CRC-32C mismatch (stored " + hex32(stored_header_crc) +
                          ", computed " + hex32(header_crc) + ")");
    }
    if (h[8] > static_cast<unsigned char>(WalCompression::kLz4)) {
        throw Error(
            ErrorKind::kInvalidArgument,
            "archive file " + path + " uses unknown compression code " + std::to_string(h[8]),
            "The file was written by a newer infra_ext; restore it with that version.");
    }
    for (size_t i = 9; i < 16; ++i) {
        if (h[i] != 0) corrupt(path, "reserved header bytes are not zero");
    }
    const uint64_t original = get_le64(h + 16);
    if (original > static_cast<uint64_t>(INT64_MAX)) {
        corrupt(path, "original size " + std::to_string(original) + " is out of range");
    }
    ArchivedFileInfo info;
    info.compression = static_cast<WalCompression>(h[8]);
    info.original_bytes = static_cast<int64_t>(original);
    info.crc32c = get_le32(h + 24);
    info.stored_bytes = file_bytes;
    if (info.compression == WalCompression::kOff &&
        file_bytes - static_cast<int64_t>(kHeaderSize) != info.original_bytes) {
        corrupt(path, "its size (" + std::to_string(file_bytes) + " bytes) does not match the " +
                          std::to_string(info.original_bytes) +
                          " uncompressed bytes its header announces");
    }
    return info;
}

// ---- reading a container ----

struct ZstdDCtxFree {
    void operator()(ZSTD_DCtx* ctx) const { ZSTD_freeDCtx(ctx); }
};
struct Lz4DCtxFree {
    void operator()(LZ4F_dctx* ctx) const { LZ4F_freeDecompressionContext(ctx); }
};

// An archived file opened for reading: the checked header, then the decoded bytes.
// Checks that fd (open on path) is a regular file with a valid container header, and
// returns the header; the file offset is left just after the header.
ArchivedFileInfo read_header(int fd, const std::string& path) {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw_file_error("stat", path, errno);
    if (!S_ISREG(st.st_mode)) {
        throw Error(ErrorKind::kInvalidArgument, "archive file " + path + " is not a regular file",
                    "Remove what is in the way in the archive directory.");
    }
    unsigned char h[kHeaderSize];
    const size_t got = read_full(fd, h, kHeaderSize, path);
    return decode_header(h, got, static_cast<int64_t>(st.st_size), path);
}

class ContainerReader {
  public:
    // Opens path; fails when it cannot be opened or its header is invalid.
    explicit ContainerReader(const std::string& path)
        : path_(path), fd_(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (fd_.get() < 0) throw_file_error("open", path, errno);
        init();
    }

    // Takes over fd, open on path; fails when the header is invalid.
    ContainerReader(const std::string& path, UniqueFd fd) : path_(path), fd_(std::move(fd)) {
        init();
    }

    const ArchivedFileInfo& info() const { return info_; }

    // Up to cap (> 0) decoded bytes into out; 0 once everything has been decoded, after
    // checking that the payload ended exactly where the header says.
    size_t read(char* out, size_t cap) {
        size_t n = 0;
        switch (info_.compression) {
            case WalCompression::kOff:
                n = read_stored(out, cap);
                break;
            case WalCompression::kZstd:
                n = read_zstd(out, cap);
                break;
            case WalCompression::kLz4:
                n = read_lz4(out, cap);
                break;
        }
        produced_ += static_cast<int64_t>(n);
        if (produced_ > info_.original_bytes) {
            corrupt(path_, "it decodes to more than the " + std::to_string(info_.original_bytes) +
                               " bytes its header announces");
        }
        if (n == 0 && produced_ != info_.original_bytes) {
            corrupt(path_, "it decodes to " + std::to_string(produced_) + " bytes, not the " +
                               std::to_string(info_.original_bytes) +
                               " bytes its header announces");
        }
        return n;
    }

    // Reads until size bytes or the end; returns how many.
    size_t read_exact(char* out, size_t size) {
        size_t done = 0;
        while (done < size) {
            const size_t n = read(out + done, size - done);
            if (n == 0) break;
            done += n;
        }
        return done;
    }

  private:
    // Checks the file and its header, and sets up the decoder.
    void init() {
        info_ = read_header(fd_.get(), path_);
        payload_left_ = info_.stored_bytes - static_cast<int64_t>(kHeaderSize);
        (void)::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
        if (info_.compression == WalCompression::kZstd) {
            zstd_.reset(ZSTD_createDCtx());
            if (!zstd_) decoder_failed("zstd", "out of memory");
        } else if (info_.compression == WalCompression::kLz4) {
            LZ4F_dctx* ctx = nullptr;
            const size_t rc = LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION);
            lz4_.reset(ctx);
            if (LZ4F_isError(rc)) decoder_failed("lz4", LZ4F_getErrorName(rc));
        }
        if (info_.compression != WalCompression::kOff) in_ = new_chunk();
    }

    [[noreturn]] void decoder_failed(const char* codec, const char* reason) const {
        throw Error(
            ErrorKind::kInvalidArgument,
            std::string("could not set up the ") + codec + " decoder for " + path_ + ": " + reason,
            "Try again; the system may be short of memory.");
    }

    size_t read_stored(char* out, size_t cap) {
        const size_t want = static_cast<size_t>(std::min<int64_t>(payload_left_, cap));
        const size_t got = read_full(fd_.get(), out, want, path_);
        if (got != want) corrupt(path_, "it was truncated while being read");
        payload_left_ -= static_cast<int64_t>(got);
        return got;
    }

    // Makes compressed input available; false when the payload has been read entirely.
    bool refill() {
        if (in_pos_ < in_len_) return true;
        if (payload_left_ == 0) return false;
        const size_t want = static_cast<size_t>(std::min<int64_t>(payload_left_, kChunkSize));
        in_len_ = read_full(fd_.get(), in_.get(), want, path_);
        in_pos_ = 0;
        if (in_len_ != want) corrupt(path_, "it was truncated while being read");
        payload_left_ -= static_cast<int64_t>(in_len_);
        return true;
    }

    // After the end of the frame: nothing may follow it.
    size_t finish_frame() {
        if (in_pos_ < in_len_ || payload_left_ > 0) {
            corrupt(path_, "data follows the end of the compressed frame");
        }
        return 0;
    }

    size_t read_zstd(char* out, size_t cap) {
        for (;;) {
            if (frame_done_) return finish_frame();
            const bool have_input = refill();
            ZSTD_inBuffer in{in_.get(), in_len_, in_pos_};
            ZSTD_outBuffer o{out, cap, 0};
            const size_t rc = ZSTD_decompressStream(zstd_.get(), &o, &in);
            if (ZSTD_isError(rc)) corrupt(path_, std::string("zstd: ") + ZSTD_getErrorName(rc));
            const bool progress = in.pos != in_pos_ || o.pos > 0;
            in_pos_ = in.pos;
            if (rc == 0) frame_done_ = true;
            if (o.pos > 0) return o.pos;
            if (!frame_done_ && (!have_input || !progress)) {
                corrupt(path_, "the compressed data is truncated");
            }
        }
    }

    size_t read_lz4(char* out, size_t cap) {
        for (;;) {
            if (frame_done_) return finish_frame();
            const bool have_input = refill();
            size_t out_size = cap;
            size_t in_size = in_len_ - in_pos_;
            const size_t rc =
                LZ4F_decompress(lz4_.get(), out, &out_size, in_.get() + in_pos_, &in_size, nullptr);
            if (LZ4F_isError(rc)) corrupt(path_, std::string("lz4: ") + LZ4F_getErrorName(rc));
            in_pos_ += in_size;
            if (rc == 0) frame_done_ = true;
            if (out_size > 0) return out_size;
            if (!frame_done_ && (!have_input || in_size == 0)) {
                corrupt(path_, "the compressed data is truncated");
            }
        }
    }

    std::string path_;
    UniqueFd fd_;
    ArchivedFileInfo info_;
    int64_t payload_left_ = 0;  // payload bytes not yet read from the file
    int64_t produced_ = 0;      // decoded bytes handed out
    ChunkBuffer in_;
    size_t in_pos_ = 0;
    size_t in_len_ = 0;
    bool frame_done_ = false;
    std::unique_ptr<ZSTD_DCtx, ZstdDCtxFree> zstd_;
    std::unique_ptr<LZ4F_dctx, Lz4DCtxFree> lz4_;
};

// ---- writing a container ----

struct ZstdCCtxFree {
    void operator()(ZSTD_CCtx* ctx) const { ZSTD_freeCCtx(ctx); }
};
struct Lz4CCtxFree {
    void operator()(LZ4F_cctx* ctx) const { LZ4F_freeCompressionContext(ctx); }
};

[[noreturn]] void compression_failed(const std::string& path, const char* codec,
                                     const char* reason) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string("could not compress ") + path + " with " + codec + ": " + reason,
                "Try again; if it keeps failing, set the WAL compression to off.");
}

void zstd_check(size_t rc, const std::string& path) {
    if (ZSTD_isError(rc)) compression_failed(path, "zstd", ZSTD_getErrorName(rc));
}

void lz4_check(size_t rc, const std::string& path) {
    if (LZ4F_isError(rc)) compression_failed(path, "lz4", LZ4F_getErrorName(rc));
}

struct PayloadWritten {
    uint32_t crc = 0;
    int64_t original_bytes = 0;
    int64_t payload_bytes = 0;
};

// Streams the source into out (positioned after the header) in the given encoding.
PayloadWritten write_payload(SourceFile& src, TempFile& out, WalCompression compression,
                             int zstd_level) {
    PayloadWritten result;
    char* const in = archive_read_buffer();
    auto emit = [&](const void* data, size_t size) {
        out.write_all(data, size);
        result.payload_bytes += static_cast<int64_t>(size);
    };
    switch (compression) {
        case WalCompression::kOff: {
            for (;;) {
                const size_t n = src.read_chunk(in);
                result.crc = crc32c(in, n, result.crc);
                emit(in, n);
                if (n < kChunkSize) break;
            }
            break;
        }
        case WalCompression::kZstd: {
            std::unique_ptr<ZSTD_CCtx, ZstdCCtxFree> cctx(ZSTD_createCCtx());
            if (!cctx) compression_failed(src.path(), "zstd", "out of memory");
            zstd_check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, zstd_level),
                       src.path());
            zstd_check(ZSTD_CCtx_setPledgedSrcSize(cctx.get(), static_cast<uint64_t>(src.size())),
                       src.path());
            const size_t out_cap = ZSTD_compressBound(kChunkSize);
            std::unique_ptr<char[]> buf(new char[out_cap]);
            for (;;) {
                const size_t n = src.read_chunk(in);
                result.crc = crc32c(in, n, result.crc);
                const bool last = n < kChunkSize;
                if (last) src.check_complete();
                const ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
                ZSTD_inBuffer ib{in, n, 0};
                size_t rc;
                do {
                    ZSTD_outBuffer ob{buf.get(), out_cap, 0};
                    rc = ZSTD_compressStream2(cctx.get(), &ob, &ib, mode);
                    zstd_check(rc, src.path());
                    emit(buf.get(), ob.pos);
                } while (last ? rc != 0 : ib.pos < ib.size);
                if (last) break;
            }
            break;
        }
        case WalCompression::kLz4: {
            LZ4F_cctx* raw = nullptr;
            const size_t created = LZ4F_createCompressionContext(&raw, LZ4F_VERSION);
            std::unique_ptr<LZ4F_cctx, Lz4CCtxFree> cctx(raw);
            lz4_check(created, src.path());
            LZ4F_preferences_t prefs;
            std::memset(&prefs, 0, sizeof prefs);
            prefs.frameInfo.blockSizeID = LZ4F_max256KB;
            prefs.frameInfo.blockMode = LZ4F_blockLinked;
            prefs.frameInfo.contentSize = static_cast<unsigned long long>(src.size());
            const size_t out_cap = LZ4F_compressBound(kChunkSize, &prefs) + LZ4F_HEADER_SIZE_MAX;
            std::unique_ptr<char[]> buf(new char[out_cap]);
            size_t rc = LZ4F_compressBegin(cctx.get(), buf.get(), out_cap, &prefs);
            lz4_check(rc, src.path());
            emit(buf.get(), rc);
            for (;;) {
                const size_t n = src.read_chunk(in);
                result.crc = crc32c(in, n, result.crc);
                if (n > 0) {
                    rc = LZ4F_compressUpdate(cctx.get(), buf.get(), out_cap, in, n, nullptr);
                    lz4_check(rc, src.path());
                    emit(buf.get(), rc);
                }
                if (n < kChunkSize) break;
            }
            src.check_complete();
            rc = LZ4F_compressEnd(cctx.get(), buf.get(), out_cap, nullptr);
            lz4_check(rc, src.path());
            emit(buf.get(), rc);
            break;
        }
    }
    src.check_complete();
    result.original_bytes = src.size();
    return result;
}

// archive_dir/file_name exists: succeeds (after fsyncing it and the directory) when it
// holds exactly the source's bytes, fails otherwise. One pass over both files: the sizes
// first, then the bytes chunk by chunk, then the source's CRC-32C against the header's.
ArchiveOutcome check_existing_copy(SourceFile& src, const std::string& dest,
                                   const std::string& archive_dir) {
    ContainerReader existing(dest);
    const ArchivedFileInfo& info = existing.info();
    auto different = [&](const std::string& detail) {
        throw Error(
            ErrorKind::kInvalidArgument,
            "archive file " + dest + " already exists with different contents (" + detail + ")",
            kDifferentHint);
    };
    if (info.original_bytes != src.size()) {
        different("it holds " + std::to_string(info.original_bytes) + " bytes, " + src.path() +
                  " has " + std::to_string(src.size()));
    }
    ChunkBuffer ours = new_chunk();
    ChunkBuffer theirs = new_chunk();
    uint32_t crc = 0;
    int64_t offset = 0;
    for (;;) {
        const size_t n = src.read_chunk(ours.get());
        crc = crc32c(ours.get(), n, crc);
        const size_t m = existing.read_exact(theirs.get(), n);
        if (m != n || std::memcmp(ours.get(), theirs.get(), n) != 0) {
            size_t at = 0;
            while (at < m && ours.get()[at] == theirs.get()[at]) ++at;
            different("first difference at byte " + std::to_string(offset + at));
        }
        offset += static_cast<int64_t>(n);
        if (n < kChunkSize) break;
    }
    src.check_complete();
    if (existing.read(theirs.get(), 1) != 0) different("it is longer");
    if (crc != info.crc32c) {
        // Same bytes, but the header's CRC does not describe them: restoring would fail.
        corrupt(dest,
                "CRC-32C mismatch (header " + hex32(info.crc32c) + ", data " + hex32(crc) + ")");
    }
    fsync_path(dest);
    fsync_path(archive_dir);
    ArchiveOutcome outcome;
    outcome.already_archived = true;
    outcome.original_bytes = info.original_bytes;
    outcome.stored_bytes = info.stored_bytes;
    return outcome;
}

// rename(from, to) unless `to` exists (then false, nothing renamed). Atomic where the
// kernel and file system support RENAME_NOREPLACE; otherwise checked just before.
bool rename_no_replace(const std::string& from, const std::string& to) {
#if defined(RENAME_NOREPLACE)
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
        return true;
    }
    if (errno == EEXIST) return false;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
        const int err = errno;
        throw Error(ErrorKind::kInvalidArgument,
                    "could not rename " + from + " to " + to + ": " + errno_text(err),
                    file_error_hint(err));
    }
#endif
    struct stat st;
    if (::lstat(to.c_str(), &st) == 0) return false;
    if (::rename(from.c_str(), to.c_str()) != 0) {
        const int err = errno;
        throw Error(ErrorKind::kInvalidArgument,
                    "could not rename " + from + " to " + to + ": " + errno_text(err),
                    file_error_hint(err));
    }
    return true;
}

bool exists_no_follow(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT) return false;
    throw_file_error("stat", path, errno);
}

}  // namespace

namespace wal_archive_internal {

uint32_t crc32c_software(const void* data, size_t size, uint32_t previous) {
    const auto* p = static_cast<const unsigned char*>(data);
    const auto& t = kCrc32cTables.t;
    uint32_t crc = ~previous;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (size > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
        crc = t[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
        --size;
    }
    while (size >= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        word ^= crc;
        crc = t[7][word & 0xffu] ^ t[6][(word >> 8) & 0xffu] ^ t[5][(word >> 16) & 0xffu] ^
              t[4][(word >> 24) & 0xffu] ^ t[3][(word >> 32) & 0xffu] ^ t[2][(word >> 40) & 0xffu] ^
              t[1][(word >> 48) & 0xffu] ^ t[0][word >> 56];
        p += 8;
        size -= 8;
    }
#endif
    while (size > 0) {
        crc = t[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
        --size;
    }
    return ~crc;
}

#if defined(__x86_64__)

bool crc32c_hardware_available() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2"))) uint32_t crc32c_hardware(const void* data, size_t size,
                                                           uint32_t previous) {
    const auto* p = static_cast<const unsigned char*>(data);
    uint32_t crc = ~previous;
    while (size > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
        crc = _mm_crc32_u8(crc, *p++);
        --size;
    }
    // Three blocks at a time: registers a, b, c over blocks A, B, C (b and c from zero);
    // the register over A B C is then shift(shift(a) ^ b) ^ c, CRCs being linear.
    while (size >= 3 * kCrc32cBlock) {
        uint64_t a = crc, b = 0, c = 0;
        for (size_t i = 0; i < kCrc32cBlock; i += 8) {
            uint64_t wa, wb, wc;
            std::memcpy(&wa, p + i, 8);
            std::memcpy(&wb, p + kCrc32cBlock + i, 8);
            std::memcpy(&wc, p + 2 * kCrc32cBlock + i, 8);
            a = _mm_crc32_u64(a, wa);
            b = _mm_crc32_u64(b, wb);
            c = _mm_crc32_u64(c, wc);
        }
        crc = crc32c_shift_block(crc32c_shift_block(static_cast<uint32_t>(a)) ^
                                 static_cast<uint32_t>(b)) ^
              static_cast<uint32_t>(c);
        p += 3 * kCrc32cBlock;
        size -= 3 * kCrc32cBlock;
    }
    uint64_t crc64 = crc;
    while (size >= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        crc64 = _mm_crc32_u64(crc64, word);
        p += 8;
        size -= 8;
    }
    crc = static_cast<uint32_t>(crc64);
    while (size > 0) {
        crc = _mm_crc32_u8(crc, *p++);
        --size;
    }
    return ~crc;
}

#else

bool crc32c_hardware_available() {
    return false;
}

uint32_t crc32c_hardware(const void* data, size_t size, uint32_t previous) {
    return crc32c_software(data, size, previous);
}

#endif

}  // namespace wal_archive_internal

uint32_t crc32c(const void* data, size_t size, uint32_t previous) {
    static const Crc32cFunction implementation = choose_crc32c();
    return implementation(data, size, previous);
}

const char* wal_compression_name(WalCompression c) {
    switch (c) {
        case WalCompression::kOff:
            return "off";
        case WalCompression::kZstd:
            return "zstd";
        case WalCompression::kLz4:
            return "lz4";
    }
    throw Error(ErrorKind::kInvalidArgument,
                "invalid WAL compression code " + std::to_string(static_cast<int>(c)),
                "Use off, zstd or lz4.");
}

WalCompression wal_compression_from_name(const std::string& name) {
    if (name == "off") return WalCompression::kOff;
    if (name == "zstd") return WalCompression::kZstd;
    if (name == "lz4") return WalCompression::kLz4;
    throw Error(ErrorKind::kInvalidArgument, "invalid WAL compression \"" + name + "\"",
                "Use off, zstd or lz4.");
}

ArchiveOutcome archive_wal_file(const std::string& source_path, const std::string& file_name,
                                const std::string& archive_dir, WalCompression compression,
                                int zstd_level) {
    check_file_name(file_name);
    check_archive_dir(archive_dir);
    check_compression(compression, zstd_level);
    const std::string dest = join(archive_dir, file_name);
    SourceFile src(source_path);
    if (exists_no_follow(dest)) return check_existing_copy(src, dest, archive_dir);

    TempFile tmp(join(archive_dir, ""), file_name);
    // Uncompressed, the container's size is known before it is written.
    if (compression == WalCompression::kOff) {
        tmp.preallocate(static_cast<off_t>(kHeaderSize) + static_cast<off_t>(src.size()));
    }
    // The header's place first; its contents once the CRC is known.
    const unsigned char placeholder[kHeaderSize] = {};
    tmp.write_all(placeholder, kHeaderSize);
    const PayloadWritten payload = write_payload(src, tmp, compression, zstd_level);
    const Header header =
        encode_header(compression, static_cast<uint64_t>(payload.original_bytes), payload.crc);
    tmp.pwrite_all(header.bytes, kHeaderSize, 0);
    tmp.sync_and_close();
    if (!rename_no_replace(tmp.path(), dest)) {
        // Another archiver got there between the check above and the rename.
        src.rewind();
        return check_existing_copy(src, dest, archive_dir);
    }
    tmp.keep();
    fsync_path(archive_dir);
    ArchiveOutcome outcome;
    outcome.original_bytes = payload.original_bytes;
    outcome.stored_bytes = static_cast<int64_t>(kHeaderSize) + payload.payload_bytes;
    return outcome;
}

namespace {

// Decodes the whole payload into sink (chunk by chunk) and checks its CRC-32C; throws
// naming path when it does not match (the size is checked by the reader itself).
template <typename Sink>
void decode_checked(ContainerReader& reader, const std::string& path, Sink&& sink) {
    ChunkBuffer buf = new_chunk();
    uint32_t crc = 0;
    for (;;) {
        const size_t n = reader.read(buf.get(), kChunkSize);
        if (n == 0) break;
        crc = crc32c(buf.get(), n, crc);
        sink(buf.get(), n);
    }
    if (crc != reader.info().crc32c) {
        corrupt(path, "CRC-32C mismatch (header " + hex32(reader.info().crc32c) + ", data " +
                          hex32(crc) + ")");
    }
}

}  // namespace

RestoreOutcome restore_wal_file(const std::string& archive_dir, const std::string& file_name,
                                const std::string& dest_path, RestoreDurability durability) {
    check_file_name(file_name);
    check_archive_dir(archive_dir);
    const size_t slash = dest_path.rfind('/');
    const std::string dest_prefix =
        slash == std::string::npos ? std::string() : dest_path.substr(0, slash + 1);
    const std::string dest_name =
        slash == std::string::npos ? dest_path : dest_path.substr(slash + 1);
    if (dest_name.empty()) {
        throw Error(ErrorKind::kInvalidArgument,
                    "invalid restore destination \"" + dest_path + "\": it names no file",
                    "Pass the path PostgreSQL gives (%p), e.g. pg_wal/RECOVERYXLOG.");
    }
    const std::string path = join(archive_dir, file_name);
    UniqueFd fd(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        const int err = errno;
        if (err != ENOENT) throw_file_error("open", path, err);
        // Not in the archive; but a missing archive directory (unmounted, misconfigured)
        // is an error, not "no such WAL": recovery would end too early.
        struct stat st;
        if (::stat(archive_dir.c_str(), &st) != 0)
            throw_file_error("open archive directory", archive_dir, errno);
        if (!S_ISDIR(st.st_mode)) throw_file_error("open archive directory", archive_dir, ENOTDIR);
        return RestoreOutcome::kNotInArchive;
    }
    ContainerReader reader(path, std::move(fd));
    TempFile tmp(dest_prefix, dest_name);
    // The header's size is checked against the data only while decoding: reserve room
    // up to the largest WAL segment PostgreSQL allows (1 GiB), not whatever it claims.
    if (reader.info().original_bytes <= kMaxPreallocatedRestore) {
        tmp.preallocate(static_cast<off_t>(reader.info().original_bytes));
    }
    decode_checked(reader, path, [&](const char* data, size_t n) { tmp.write_all(data, n); });
    if (durability == RestoreDurability::kDurable) {
        tmp.sync_and_close();
        durable_rename(tmp.path(), dest_path);
    } else {
        tmp.sync_and_close(false);
        if (::rename(tmp.path().c_str(), dest_path.c_str()) != 0) {
            throw_file_error("rename", tmp.path() + " to " + dest_path, errno);
        }
    }
    tmp.keep();
    return RestoreOutcome::kRestored;
}

std::string read_archived_file(const std::string& path) {
    ContainerReader reader(path);
    std::string bytes;
    // The header's size is only trusted once decoded: reserve at most one chunk from it.
    bytes.reserve(static_cast<size_t>(
        std::min<int64_t>(reader.info().original_bytes, static_cast<int64_t>(kChunkSize))));
    decode_checked(reader, path, [&](const char* data, size_t n) { bytes.append(data, n); });
    return bytes;
}

ArchivedFileInfo read_archived_file_info(const std::string& path) {
    // The header only: no decoder and no buffer (archive scans read thousands of these).
    UniqueFd fd(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw_file_error("open", path, errno);
    return read_header(fd.get(), path);
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
