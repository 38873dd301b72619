// backup_manifest.hpp: the JSON manifest written beside every logical backup, and the
// checks verification makes against it.
//
// The manifest says what the backup holds and how to prove it intact:
//   {
//     "manifest_version": 1,
//     "server_version": "15.20", "system_identifier": "7301...", "database": "app",
//     "format": "custom",                       // or "directory"
//     "started_at": "2026-11-28T03:00:00Z", "finished_at": "2026-11-28T03:02:10Z",
//     "files": [ {"name": "app.dump", "bytes": 123, "sha256": "<64 hex>"}, ... ],
//     "tables": [ {"table": "public.accounts", "rows": 5000000}, ... ]
//   }
// File names are relative to the backup directory and may contain '/' (a directory-format
// dump's files), never "..", never absolute. Row counts were taken in the snapshot the
// dump was taken in, so a restore of the backup must reproduce them exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace infra::core {

struct ManifestFile {
    std::string name;
    int64_t bytes = 0;
    std::string sha256;  // 64 lowercase hex digits
};

struct TableRowCount {
    std::string table;  // schema-qualified, as quote_ident prints it: public.accounts
    int64_t rows = 0;
};

struct BackupManifest {
    int manifest_version = 1;
    std::string server_version;
    std::string system_identifier;
    std::string database;
    std::string format;  // "custom" or "directory"
    std::string started_at;
    std::string finished_at;
    std::vector<ManifestFile> files;
    std::vector<TableRowCount> tables;
};

// Pretty-printed JSON (2-space indent), keys in the order shown above.
std::string manifest_to_json(const BackupManifest& manifest);

// Parses and validates a manifest. Throws Error(kInvalidArgument) saying what is wrong:
// not JSON, a missing or mistyped key, an unknown manifest_version, a format other than
// custom/directory, a file name that is empty, absolute or contains "..", a duplicate
// file or table, a sha256 that is not 64 lowercase hex digits, a negative size or count.
BackupManifest manifest_from_json(const std::string& text);

struct RowCountMismatch {
    std::string table;
    std::optional<int64_t> expected;  // nullopt: the table is not in the manifest
    std::optional<int64_t> actual;    // nullopt: the table is missing after restore
};

// Tables whose counts differ, or that appear on one side only, sorted by table name.
std::vector<RowCountMismatch> compare_row_counts(const std::vector<TableRowCount>& expected,
                                                 const std::vector<TableRowCount>& actual);

struct FileProblem {
    std::string name;
    std::string problem;  // "missing", "size 10 bytes, manifest says 12", "SHA-256 mismatch"
};

// Checks every file of the manifest under backup_dir (size first, then SHA-256) and
// reports each one that does not match; an empty result means every file is intact.
// Files present on disk but absent from the manifest are reported as "not in the
// manifest" (the manifest file itself, "manifest.json", is exempt).
std::vector<FileProblem> check_backup_files(const std::string& backup_dir,
                                            const BackupManifest& manifest);

}  // namespace infra::core
