// settings.hpp: infra_ext's GUCs (prefix "infra.", reserved).
//
// Values live in the plain globals below, which PostgreSQL's GUC machinery writes on
// startup and on SIGHUP in each process; nothing here is shared memory. The guard
// reads them through guard_settings() once per call.
#pragma once

#include <string>

#include "core/rate_limiter.hpp"

namespace infra::pg {

extern char* setting_database;       // infra.database (postmaster)
extern int setting_max_tracked_ips;  // infra.ddos_max_tracked_ips (postmaster)
extern int setting_max_blocks;       // infra.ddos_max_blocks (postmaster)
extern int setting_max_allowed;      // infra.ddos_max_allowed (postmaster)
extern int setting_keeper_resync_s;  // infra.guard_resync_interval

// Backups (all PGC_SIGHUP).
extern char* setting_backup_dir;        // infra.backup_dir ("" = <data_directory>/../infra_backups)
extern char* setting_backup_databases;  // infra.backup_databases ("" = infra.database)
extern int setting_backup_format;       // infra.backup_format: kBackupFormatCustom/Directory
extern int setting_backup_jobs;         // infra.backup_jobs
extern int setting_backup_lock_wait_ms;  // infra.backup_lock_wait_timeout
extern char* setting_schedule_timezone;  // infra.schedule_timezone
constexpr int kBackupFormatCustom = 0;
constexpr int kBackupFormatDirectory = 1;

// infra.backup_dir as an absolute path.
std::string backup_dir();

// WAL archiving (archive_library = 'infra_ext'; PGC_SIGHUP).
extern char* setting_wal_archive_dir;  // infra.wal_archive_dir ("" = beside the data directory)
extern int setting_wal_compression;    // infra.wal_compression: core::WalCompression values
extern int setting_wal_zstd_level;     // infra.wal_zstd_level

// infra.wal_archive_dir as an absolute path.
std::string wal_archive_dir();
extern int setting_wal_monitor_interval_s;  // infra.wal_monitor_interval

// Base backups (PGC_SIGHUP).
extern char* setting_base_backup_dir;        // infra.base_backup_dir ("" = beside the data dir)
extern int setting_base_backup_format;       // infra.base_backup_format: kBaseBackupPlain/Tar
extern int setting_base_backup_compression;  // infra.base_backup_compression (tar only)
constexpr int kBaseBackupPlain = 0;
constexpr int kBaseBackupTar = 1;
// infra.base_backup_compression values, as pg_basebackup --compress names them.
constexpr const char* kBaseBackupCompressionNames[] = {"none", "gzip", "lz4", "zstd"};

// infra.base_backup_dir as an absolute path.
std::string base_backup_dir();

// Defines every GUC; called once from _PG_init.
void define_settings();

// The guard's settings as they stand in this process now.
core::GuardSettings guard_settings();

}  // namespace infra::pg
