// settings.cpp: definitions, ranges and units of infra_ext's GUCs.
//
// Each range is the validation: PostgreSQL refuses a value outside it with
//   ERROR: 0 is outside the valid range for parameter "infra.x" (1 .. 65535)
// at SET time, and logs and ignores it on a configuration reload.
#include "pg/settings.hpp"

#include "pg/pg_includes.hpp"

extern "C" {
#include "pgtime.h"
}

namespace infra::pg {

char* setting_database = nullptr;
int setting_max_tracked_ips = 100000;
int setting_max_blocks = 100000;
int setting_max_allowed = 10000;
int setting_keeper_resync_s = 60;
char* setting_backup_dir = nullptr;
char* setting_backup_databases = nullptr;
int setting_backup_format = kBackupFormatCustom;
int setting_backup_jobs = 2;
int setting_backup_lock_wait_ms = 60000;
char* setting_schedule_timezone = nullptr;
char* setting_wal_archive_dir = nullptr;
int setting_wal_compression = 1;  // zstd
int setting_wal_zstd_level = 3;
int setting_wal_monitor_interval_s = 60;
char* setting_base_backup_dir = nullptr;
int setting_base_backup_format = kBaseBackupPlain;
int setting_base_backup_compression = 0;

namespace {
// The guard's defaults are core::GuardSettings' (one place); GUCs hold them in the units
// PostgreSQL shows (bytes, minutes, seconds).
const core::GuardSettings kDefaults;
const int kDefaultMaxRequestSize = static_cast<int>(kDefaults.max_request_bytes);
const int kDefaultPerMinute = static_cast<int>(kDefaults.per_minute);
const int kDefaultPerHour = static_cast<int>(kDefaults.per_hour);
const int kDefaultBlockMinutes = static_cast<int>(kDefaults.block_duration_s / 60);
const int kDefaultMaxBlockMinutes = static_cast<int>(kDefaults.max_block_duration_s / 60);
const int kDefaultThreshold = static_cast<int>(kDefaults.suspicious_threshold);
const int kDefaultStrikeWindow = static_cast<int>(kDefaults.strike_window_s);

int max_request_size = kDefaultMaxRequestSize;
int per_minute = kDefaultPerMinute;
int per_hour = kDefaultPerHour;
int block_duration_min = kDefaultBlockMinutes;
int max_block_duration_min = kDefaultMaxBlockMinutes;
int suspicious_threshold = kDefaultThreshold;
int strike_window_s = kDefaultStrikeWindow;
int ipv6_prefix = kDefaults.ipv6_prefix;
int retention_daily = 7;
int retention_weekly = 4;
int retention_monthly = 12;
int base_backup_retention = 2;
int base_backup_max_rate_kb = 0;
// The HTTP request a statement runs for (set by infra_httpd with SET LOCAL; recorded in
// the audit log).
char* http_token = nullptr;
char* http_client = nullptr;
char* http_request_id = nullptr;

const struct config_enum_entry kBackupFormats[] = {
    {"custom", kBackupFormatCustom, false},
    {"directory", kBackupFormatDirectory, false},
    {nullptr, 0, false},
};

const struct config_enum_entry kWalCompressions[] = {
    {"off", 0, false},
    {"zstd", 1, false},
    {"lz4", 2, false},
    {nullptr, 0, false},
};

const struct config_enum_entry kBaseBackupFormats[] = {
    {"plain", kBaseBackupPlain, false},
    {"tar", kBaseBackupTar, false},
    {nullptr, 0, false},
};

const struct config_enum_entry kBaseBackupCompressions[] = {
    {"none", 0, false}, {"gzip", 1, false},  {"lz4", 2, false},
    {"zstd", 3, false}, {nullptr, 0, false},
};

// A directory beside the data directory: /var/lib/postgresql/15/main -> .../15/<name>.
std::string beside_data_directory(const char* name) {
    std::string data = DataDir;
    while (data.size() > 1 && data.back() == '/') data.pop_back();
    size_t slash = data.rfind('/');
    std::string parent = slash == std::string::npos || slash == 0 ? "/" : data.substr(0, slash);
    return parent + (parent == "/" ? "" : "/") + name;
}

bool check_backup_dir(char** value, void**, GucSource) {
    if (*value != nullptr && (*value)[0] != '\0' && (*value)[0] != '/') {
        GUC_check_errdetail("The directory must be an absolute path (or empty for the default).");
        return false;
    }
    return true;
}

bool check_max_rate(int* value, void**, GucSource) {
    if (*value != 0 && *value < 32) {
        GUC_check_errdetail("pg_basebackup accepts 32kB per second at least (or 0 for no limit).");
        return false;
    }
    return true;
}

bool check_schedule_timezone(char** value, void**, GucSource) {
    if (*value == nullptr || pg_tzset(*value) == nullptr) {
        GUC_check_errdetail("\"%s\" is not a time zone PostgreSQL knows (see pg_timezone_names).",
                            *value ? *value : "");
        return false;
    }
    return true;
}
}  // namespace

void define_settings() {
    DefineCustomStringVariable(
        "infra.database", "Database the infra launcher connects to and infra_ext lives in.",
        "CREATE EXTENSION infra_ext in this database; the launcher waits until it exists.",
        &setting_database, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.ddos_max_request_size", "Largest request body the guard allows.",
                            nullptr, &max_request_size, kDefaultMaxRequestSize, 1024,
                            1024 * 1024 * 1024, PGC_SIGHUP, GUC_UNIT_BYTE, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("infra.ddos_max_requests_per_minute",
                            "Requests one client may make in any 60 seconds.", nullptr, &per_minute,
                            kDefaultPerMinute, 1, static_cast<int>(core::kMaxPerMinute), PGC_SIGHUP,
                            0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.ddos_max_requests_per_hour",
                            "Requests one client may make in any 3600 seconds.", nullptr, &per_hour,
                            kDefaultPerHour, 1, static_cast<int>(core::kMaxPerHour), PGC_SIGHUP, 0,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.ddos_block_duration",
                            "Duration of a first automatic block, and of block_ip() without "
                            "a duration.",
                            nullptr, &block_duration_min, kDefaultBlockMinutes, 1, 365 * 24 * 60,
                            PGC_SIGHUP, GUC_UNIT_MIN, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.ddos_max_block_duration",
                            "Cap on automatic block durations, which double per offence.", nullptr,
                            &max_block_duration_min, kDefaultMaxBlockMinutes, 1, 10 * 365 * 24 * 60,
                            PGC_SIGHUP, GUC_UNIT_MIN, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.ddos_suspicious_threshold",
                            "Strikes within infra.ddos_strike_window that block a client.", nullptr,
                            &suspicious_threshold, kDefaultThreshold, 1,
                            static_cast<int>(core::kMaxStrikeThreshold), PGC_SIGHUP, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("infra.ddos_strike_window", "Window in which strikes add up.", nullptr,
                            &strike_window_s, kDefaultStrikeWindow, 10, 7 * 24 * 3600, PGC_SIGHUP,
                            GUC_UNIT_S, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "infra.ddos_ipv6_prefix", "IPv6 clients are counted per prefix of this length.", nullptr,
        &ipv6_prefix, kDefaults.ipv6_prefix, 16, 128, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.ddos_max_tracked_ips",
                            "Clients tracked in shared memory; least recently seen are evicted.",
                            nullptr, &setting_max_tracked_ips, 100000, 1000, 8000000,
                            PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "infra.ddos_max_blocks", "Blocked addresses and ranges held in shared memory.", nullptr,
        &setting_max_blocks, 100000, 100, 10000000, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.ddos_max_allowed",
                            "Allowlisted addresses and ranges held in shared memory.", nullptr,
                            &setting_max_allowed, 10000, 10, 1000000, PGC_POSTMASTER, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("infra.guard_resync_interval",
                            "How often the guard keeper reloads the lists from their tables.",
                            nullptr, &setting_keeper_resync_s, 60, 1, 3600, PGC_SIGHUP, GUC_UNIT_S,
                            nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "infra.backup_dir", "Directory logical backups are written to (absolute path).",
        "Empty means infra_backups beside the data directory. Created with mode 0700.",
        &setting_backup_dir, "", PGC_SIGHUP, 0, check_backup_dir, nullptr, nullptr);
    DefineCustomStringVariable(
        "infra.backup_databases", "Comma-separated databases each backup dumps.",
        "Empty means the database infra_ext is installed in.", &setting_backup_databases, "",
        PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomEnumVariable("infra.backup_format",
                             "pg_dump format of new backups: custom (-Fc) or directory (-Fd -j).",
                             nullptr, &setting_backup_format, kBackupFormatCustom, kBackupFormats,
                             PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "infra.backup_jobs", "Parallel jobs for directory-format dumps and for pg_restore.",
        nullptr, &setting_backup_jobs, 2, 1, 64, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.backup_lock_wait_timeout",
                            "pg_dump --lock-wait-timeout: give up instead of waiting for a lock.",
                            nullptr, &setting_backup_lock_wait_ms, 60000, 100, 24 * 3600 * 1000,
                            PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "infra.backup_retention_daily", "Newest successful daily backups cleanup keeps.", nullptr,
        &retention_daily, 7, 0, 10000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "infra.backup_retention_weekly", "Newest successful weekly backups cleanup keeps.", nullptr,
        &retention_weekly, 4, 0, 10000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "infra.backup_retention_monthly", "Newest successful monthly backups cleanup keeps.",
        nullptr, &retention_monthly, 12, 0, 10000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("infra.schedule_timezone",
                               "Time zone the schedules' cron expressions are read in.", nullptr,
                               &setting_schedule_timezone, "UTC", PGC_SIGHUP, 0,
                               check_schedule_timezone, nullptr, nullptr);
    DefineCustomStringVariable(
        "infra.wal_archive_dir", "Directory WAL is archived to (archive_library = 'infra_ext').",
        "Empty means infra_wal_archive beside the data directory. Must exist and be writable.",
        &setting_wal_archive_dir, "", PGC_SIGHUP, 0, check_backup_dir, nullptr, nullptr);
    DefineCustomEnumVariable(
        "infra.wal_compression", "Compression of archived WAL: off, zstd or lz4.", nullptr,
        &setting_wal_compression, 1, kWalCompressions, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("infra.wal_zstd_level", "zstd level of archived WAL.",
                            "3, as pgBackRest's zst: as small as its archive, and it keeps up.",
                            &setting_wal_zstd_level, 3, 1, 19, PGC_SIGHUP, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("infra.wal_monitor_interval",
                            "How often the WAL monitor samples the archiver and the archive.",
                            nullptr, &setting_wal_monitor_interval_s, 60, 5, 3600, PGC_SIGHUP,
                            GUC_UNIT_S, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "infra.base_backup_dir", "Directory base backups (pg_basebackup) are written to.",
        "Empty means infra_base_backups beside the data directory. Created with mode 0700.",
        &setting_base_backup_dir, "", PGC_SIGHUP, 0, check_backup_dir, nullptr, nullptr);
    DefineCustomIntVariable("infra.base_backup_retention",
                            "Newest successful base backups kept (older ones are removed, and "
                            "with them the WAL only they needed).",
                            nullptr, &base_backup_retention, 2, 1, 1000, PGC_SIGHUP, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("infra.base_backup_max_rate",
                            "pg_basebackup --max-rate: the most a base backup reads per second "
                            "(0 = no limit).",
                            "Limits the I/O a base backup takes from a busy server; 32kB at least.",
                            &base_backup_max_rate_kb, 0, 0, 1024 * 1024, PGC_SIGHUP, GUC_UNIT_KB,
                            check_max_rate, nullptr, nullptr);
    DefineCustomEnumVariable("infra.base_backup_format",
                             "Format of new base backups: plain (a data directory, checked by "
                             "pg_verifybackup) or tar.",
                             nullptr, &setting_base_backup_format, kBaseBackupPlain,
                             kBaseBackupFormats, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomEnumVariable("infra.base_backup_compression",
                             "Compression of tar base backups: none, gzip, lz4 or zstd.",
                             "Only with infra.base_backup_format = tar.",
                             &setting_base_backup_compression, 0, kBaseBackupCompressions,
                             PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "infra.http_token", "Label of the API token the current HTTP request came with.",
        "Set by infra_httpd with SET LOCAL; recorded in the audit log.", &http_token, "",
        PGC_USERSET, GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("infra.http_client", "Client address of the current HTTP request.",
                               "Set by infra_httpd with SET LOCAL; recorded in the audit log.",
                               &http_client, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, nullptr, nullptr,
                               nullptr);
    DefineCustomStringVariable("infra.http_request_id", "Id of the current HTTP request.",
                               "Set by infra_httpd with SET LOCAL; recorded in the audit log.",
                               &http_request_id, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, nullptr,
                               nullptr, nullptr);
    MarkGUCPrefixReserved("infra");
}

std::string backup_dir() {
    if (setting_backup_dir != nullptr && setting_backup_dir[0] != '\0') return setting_backup_dir;
    return beside_data_directory("infra_backups");
}

std::string wal_archive_dir() {
    if (setting_wal_archive_dir != nullptr && setting_wal_archive_dir[0] != '\0') {
        return setting_wal_archive_dir;
    }
    return beside_data_directory("infra_wal_archive");
}

std::string base_backup_dir() {
    if (setting_base_backup_dir != nullptr && setting_base_backup_dir[0] != '\0') {
        return setting_base_backup_dir;
    }
    return beside_data_directory("infra_base_backups");
}

core::GuardSettings guard_settings() {
    core::GuardSettings s;
    s.per_minute = static_cast<uint32_t>(per_minute);
    s.per_hour = static_cast<uint32_t>(per_hour);
    s.max_request_bytes = max_request_size;
    s.suspicious_threshold = static_cast<uint32_t>(suspicious_threshold);
    s.strike_window_s = static_cast<uint32_t>(strike_window_s);
    s.block_duration_s = static_cast<uint32_t>(block_duration_min) * 60u;
    s.max_block_duration_s = static_cast<uint32_t>(max_block_duration_min) * 60u;
    s.ipv6_prefix = ipv6_prefix;
    return s;
}

}  // namespace infra::pg
