// base_backup_info.hpp: the description infra_ext writes beside each base backup, and
// the listing of a base-backup directory, read offline by infra_ext_ctl and by the
// extension (recovery_plan, WAL cleanup). No shared state.
//
// Layout of infra.base_backup_dir:
//   <root>/<id>-<YYYYMMDDTHHMMSSZ>/            one base backup
//       data/                                 pg_basebackup's output: a plain data
//                                             directory, or base.tar[.gz|.lz4|.zst] and
//                                             pg_wal.tar[...]; backup_manifest in both
//       infra_base_backup.json                this description, written last (fsynced)
//   <root>/.<id>-<stamp>.partial/             a base backup being taken (ignored)
// A directory without infra_base_backup.json is not a usable base backup.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infra::core {

constexpr const char* kBaseBackupInfoFile = "infra_base_backup.json";
constexpr const char* kBaseBackupDataDir = "data";

struct BaseBackupInfo {
    int64_t id = 0;
    std::string label;
    std::string path;         // the backup's directory (<root>/<id>-<stamp>); set by readers
    std::string format;       // "plain" | "tar"
    std::string compression;  // "none" | "gzip" | "lz4" | "zstd" (tar only; plain: "none")
    uint32_t timeline = 0;
    uint64_t start_lsn = 0, stop_lsn = 0;
    int64_t start_time_unix_us = 0;  // before pg_basebackup started (<= the real start)
    int64_t stop_time_unix_us = 0;   // after it finished (>= the real end of the backup)
    uint64_t system_identifier = 0;
    int pg_version_num = 0;  // e.g. 150010
    uint64_t wal_segment_size = 0;
    int64_t bytes = 0;        // size of data/ on disk
    std::string verified_by;  // "pg_verifybackup" | "infra_ext tar check"
};

// The file-name suffix pg_basebackup -Ft gives a tar for a compression: ".gz", ".lz4",
// ".zst", or "" for "none" (base.tar.zst, ...).
std::string tar_compression_suffix(const std::string& compression);

// JSON (the file's content) and back. from_json throws Error(kInvalidArgument) naming
// the missing or malformed key. LSNs are stored as "X/Y" text, times as ISO 8601 UTC
// with microseconds, the system identifier as a decimal string (it is a uint64).
std::string base_backup_info_to_json(const BaseBackupInfo& info);
BaseBackupInfo base_backup_info_from_json(const std::string& text);

// Reads <backup_dir>/infra_base_backup.json (path set to backup_dir). Throws
// Error(kInvalidArgument) when missing or invalid, naming the file.
BaseBackupInfo read_base_backup_info(const std::string& backup_dir);

// Every usable base backup under root (subdirectories not starting with '.' that hold a
// valid description), sorted by stop time, oldest first. Directories whose description
// is missing or invalid are skipped and reported in *skipped ("name: reason") when
// given. Throws Error(kInvalidArgument) when root cannot be listed.
std::vector<BaseBackupInfo> list_base_backups(const std::string& root,
                                              std::vector<std::string>* skipped = nullptr);

// The id a base-backup directory's name starts with: "<id>-<stamp>", and
// ".<id>-<stamp>.partial" / ".expired" while one is taken or removed (at most 18 digits,
// followed by '-'); 0 for any other name.
int64_t base_backup_id_in_name(const std::string& name);

// The highest base-backup id under root, from every directory name and every readable
// description (whatever its directory is called); 0 when there is none. New ids must
// continue past it. Throws Error(kInvalidArgument) when root cannot be listed.
int64_t highest_base_backup_id(const std::string& root);

}  // namespace infra::core
