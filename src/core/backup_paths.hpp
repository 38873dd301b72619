// backup_paths.hpp: the names backup files get, and the check that a path a caller asks
// to restore from (or verify, or delete) really is a backup file in the backup directory.
//
// Restore-by-path takes a path from an SQL or HTTP caller. resolve_backup_file() is the
// only way such a path reaches pg_restore: it accepts a path only if it names an existing
// regular file strictly inside the backup directory, and returns the canonical path to
// use from then on, so a later symlink swap cannot redirect a check made on another
// spelling. It only inspects the file system (lstat, realpath); it never opens the file,
// so a FIFO or device node cannot block or trigger anything.
#pragma once

#include <cstdint>
#include <string>

namespace infra::core {

// The canonical absolute path of the backup file `requested`, or Error(kInvalidArgument)
// saying why not. Rules, in the order they are checked:
//  - backup_dir must be non-empty, free of NUL bytes, and resolve to a directory (a
//    relative backup_dir is resolved against the process's working directory);
//  - requested must be non-empty and free of NUL bytes;
//  - no component of requested may be "..": refused before anything is resolved, even
//    when the path would land inside the directory;
//  - a relative requested is taken relative to backup_dir; an absolute one must be
//    spelled under backup_dir (as given or canonical) — anything else is refused as
//    outside without touching the file system, so the error never tells whether a
//    file elsewhere exists;
//  - the path must exist (a dangling symlink does not) and its canonical form must lie
//    strictly inside the canonical backup_dir: a symlink anywhere in the path that
//    leads outside is refused, one that stays inside is followed;
//  - it must not be backup_dir itself, and must be a regular file (not a directory,
//    FIFO, socket or device).
std::string resolve_backup_file(const std::string& backup_dir, const std::string& requested);

// The file name of a backup, e.g. "manual-000042-mydb-20261128T121500Z.dump":
//  - kind: daily, weekly, monthly or manual, else Error(kInvalidArgument);
//  - id: the backup's id, at least 6 digits, zero-padded; negative is Error(kInvalidArgument);
//  - database: every byte outside [A-Za-z0-9_-] becomes '_', then the result is cut to
//    63 bytes; an empty name is Error(kInvalidArgument);
//  - utc_stamp: the start time as "YYYYMMDDTHHMMSSZ" (a valid UTC date and time), else
//    Error(kInvalidArgument).
// The result contains only [A-Za-z0-9_.-], never starts with '.', and is one path
// component (no '/'), so joining it to the backup directory cannot leave it.
std::string backup_file_name(const std::string& kind, int64_t id, const std::string& database,
                             const std::string& utc_stamp);

// The sanitised database part of backup_file_name() (exposed for tests and listings).
std::string sanitize_database_for_file_name(const std::string& database);

}  // namespace infra::core
