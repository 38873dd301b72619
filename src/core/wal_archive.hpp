// wal_archive.hpp: how infra_ext stores WAL files in its archive, and gets them back.
//
// Every archived file (WAL segment, .history, .backup, .partial) is stored under its own
// name in the archive directory, as a small container:
//
//   offset  size  field
//   0       8     magic "IXWAL01\n"
//   8       1     compression: 0 off, 1 zstd, 2 lz4 (frame format)
//   9       7     reserved, zero
//   16      8     original size in bytes (little endian)
//   24      4     CRC-32C of the original bytes (little endian)
//   28      4     CRC-32C of bytes 0..27 (the header itself)
//   32      ...   payload: the original bytes, or their zstd / lz4 frame
//
// Archiving is durable and idempotent (the PG15 archive-module contract; see
// ../shared notes on basic_archive):
//  - the container is written to a unique temporary name in the archive directory
//    ("<name>.tmp.<pid>.<counter>"), fsynced, renamed to <name>, and the directory
//    fsynced: a crash never leaves a truncated file under the final name;
//  - if <name> already exists and holds the same original bytes (same size and CRC-32C,
//    then a byte comparison of the decoded content), archiving succeeds again without
//    writing (the server may have crashed after archiving but before marking the file
//    done); if it holds different bytes, archiving fails and the existing file is kept.
// Restoring decodes, checks size and CRC-32C, and writes the destination atomically
// (temporary name in the destination directory, fsync, rename).
// Every failure throws core::Error(kInvalidArgument) naming the file and the reason.
// No shared state.
#pragma once

#include <cstdint>
#include <string>

namespace infra::core {

enum class WalCompression { kOff = 0, kZstd = 1, kLz4 = 2 };

// "off", "zstd", "lz4" and back (Error(kInvalidArgument) for anything else).
const char* wal_compression_name(WalCompression c);
WalCompression wal_compression_from_name(const std::string& name);

struct ArchiveOutcome {
    bool already_archived = false;  // an identical copy was there; nothing written
    int64_t original_bytes = 0;
    int64_t stored_bytes = 0;  // size of the container in the archive
};

// Archives the file at source_path as archive_dir/file_name. file_name must be one path
// component without '/', not "." or "..", not starting with '.', and at most 255 bytes.
// zstd_level is used for kZstd (1-19; 1 is fast and about as small as pgBackRest's
// default zst level 3 on WAL).
ArchiveOutcome archive_wal_file(const std::string& source_path, const std::string& file_name,
                                const std::string& archive_dir, WalCompression compression,
                                int zstd_level = 1);

// What restore_wal_file did.
enum class RestoreOutcome { kRestored, kNotInArchive };

// kDurable fsyncs the restored file and its directory. kForRestoreCommand does not:
// PostgreSQL itself makes a file restore_command fetched durable when it keeps it
// (KeepFileRestoredFromArchive: durable_rename), and after a crash recovery simply runs
// restore_command again, so an fsync here would be paid twice per segment.
enum class RestoreDurability { kDurable, kForRestoreCommand };

// Restores archive_dir/file_name into dest_path (decoded and verified), atomically
// (temporary name, rename). kNotInArchive when the archive has no such file; throws when
// it exists but cannot be read, is not a valid container, or fails its size or CRC check.
RestoreOutcome restore_wal_file(const std::string& archive_dir, const std::string& file_name,
                                const std::string& dest_path,
                                RestoreDurability durability = RestoreDurability::kDurable);

// Reads the whole archived file at path, decodes it and checks its size and CRC-32C;
// returns the original bytes (for small files: .history, .backup). Throws when invalid.
std::string read_archived_file(const std::string& path);

// Reads and checks a container's header (not the payload). Throws when invalid.
struct ArchivedFileInfo {
    WalCompression compression = WalCompression::kOff;
    int64_t original_bytes = 0;
    uint32_t crc32c = 0;
    int64_t stored_bytes = 0;
};
ArchivedFileInfo read_archived_file_info(const std::string& path);

// CRC-32C (Castagnoli), as used by PostgreSQL and iSCSI: crc32c("123456789") =
// 0xE3069283. Uses the SSE4.2 instruction when the CPU has it.
uint32_t crc32c(const void* data, size_t size, uint32_t previous = 0);

}  // namespace infra::core
