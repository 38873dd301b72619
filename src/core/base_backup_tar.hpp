// base_backup_tar.hpp: tar-format base backups (pg_basebackup -Ft, optionally compressed
// with gzip, lz4 or zstd), read with libarchive: checking them against pg_basebackup's
// backup_manifest (pg_verifybackup only reads plain format in PostgreSQL 15) and
// extracting them for a restore. No shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace infra::core {

struct TarCheckResult {
    bool ok = false;
    int64_t files_checked = 0;          // manifest entries found and matching
    int64_t bytes_checked = 0;          // their total size
    int64_t wal_segments = 0;           // WAL segments found in pg_wal.tar*
    std::vector<std::string> problems;  // "base/1/1259: checksum mismatch", at most 100
};

// Checks the tar base backup in data_dir (base.tar[.gz|.lz4|.zst] + pg_wal.tar[...] +
// backup_manifest): every file the manifest lists is in base.tar with the listed size
// and checksum (CRC32C, SHA256 or NONE; infra_ext asks pg_basebackup for CRC32C, and
// other algorithms are reported as a problem), every regular
// file in base.tar is in the manifest (except what pg_verifybackup ignores too:
// postgresql.auto.conf, standby.signal, recovery.signal, and pg_wal/), the manifest's
// own checksum matches, and pg_wal.tar holds every
// WAL segment from the manifest's WAL-Ranges start to end LSN. Problems are collected,
// not thrown; throws Error(kInvalidArgument) only when data_dir or the manifest
// cannot be read at all.
TarCheckResult check_tar_base_backup(const std::string& data_dir);

// What one reading of a base.tar* found: each regular file's size and CRC-32C. Made by
// digest_growing_base_tar while pg_basebackup is still writing the file, so that the
// check after pg_basebackup does not read and decompress it a second time (on two cores
// the reading overlaps the backup instead of following it).
struct BaseTarDigests {
    struct Entry {
        std::string path;
        int64_t size = 0;
        uint32_t crc32c = 0;
    };
    std::string tar_name;               // "base.tar.zst"
    std::vector<Entry> entries;         // regular files, in tar order
    std::vector<std::string> problems;  // unsafe entry names, hard links
    bool complete = false;              // read to its end
    std::string read_error;             // why not, when not complete
};

// Reads path (data_dir/base.tar, .tar.gz, .tar.lz4 or .tar.zst) while another process
// writes it: while writer_running() is true it waits for the file to appear and, at its
// current end, for more bytes (polling every 2 ms); once it is false it reads to the end.
// Never throws for what the file holds (read_error says why it is not complete).
BaseTarDigests digest_growing_base_tar(const std::string& path,
                                       const std::function<bool()>& writer_running);

// check_tar_base_backup, taking base.tar's contents from digests of that same file
// instead of reading it again when every checksum in the manifest is CRC32C or NONE
// (otherwise, or when the digests are of another file, base.tar is read as usual).
TarCheckResult check_tar_base_backup(const std::string& data_dir,
                                     const BaseTarDigests* base_digests);

// Extracts data_dir's base.tar* into pgdata and pg_wal.tar* into pgdata/pg_wal (both
// must exist and be empty), keeping file modes (directories 0700, files 0600 at most),
// refusing entries with absolute paths, "..", or links that leave pgdata (Error
// kInvalidArgument naming the entry). Tablespace tars (<oid>.tar*) are refused with a
// clear message (not supported yet). Every file is fsynced before returning. Returns
// the number of bytes written.
int64_t extract_tar_base_backup(const std::string& data_dir, const std::string& pgdata);

}  // namespace infra::core
