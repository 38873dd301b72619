// archive_module.cpp: infra_ext as PostgreSQL 15's archive module
// (archive_library = 'infra_ext').
//
// The archiver process (forked from the postmaster, which already ran _PG_init through
// shared_preload_libraries) resolves _PG_archive_module_init and calls
// archive_file_cb for every WAL segment, .history and .backup file. The work is
// core::archive_wal_file (durable, idempotent; see wal_archive.hpp) into
// infra.wal_archive_dir, compressed per infra.wal_compression.
//
// Errors: in PG15 an ERROR in the archiver becomes a FATAL restart of the archiver.
// Nothing here may raise one: core errors are C++ exceptions caught below, the message
// is copied to a fixed buffer, every C++ frame has unwound, and only then is it logged
// as a WARNING and false returned — the WAL stays in pg_wal and the archiver retries.
// Shared state: a failure's reason is recorded for infra.wal_archive_stats() through
// wal_monitor_record_failure (its lock rules are in wal_monitor.hpp).
#include <sys/stat.h>

#include <cstring>
#include <string>
#include <type_traits>

#include "core/file_util.hpp"
#include "core/wal_archive.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"
#include "pg/wal_monitor.hpp"

extern "C" {
#include "postmaster/pgarch.h"
}

namespace infra::pg {

namespace {

bool archive_configured() {
    return true;  // an empty infra.wal_archive_dir means the default beside the data directory
}

bool archive_one_file(const char* file, const char* path) {
    char failure[1024];
    failure[0] = '\0';
    bool already = false;
    try {
        // The default directory is created on first use; a configured one must exist
        // (a missing mount point must not silently fill the wrong file system).
        if (setting_wal_archive_dir == nullptr || setting_wal_archive_dir[0] == '\0') {
            struct stat st;
            if (stat(wal_archive_dir().c_str(), &st) != 0)
                core::make_private_directory(wal_archive_dir());
        }
        core::ArchiveOutcome outcome = core::archive_wal_file(
            path, file, wal_archive_dir(),
            static_cast<core::WalCompression>(setting_wal_compression), setting_wal_zstd_level);
        already = outcome.already_archived;
    } catch (const std::exception& e) {
        strlcpy(failure, e.what(), sizeof failure);
    } catch (...) {
        strlcpy(failure, "unknown error", sizeof failure);
    }
    if (failure[0] != '\0') {
        wal_monitor_record_failure(file, failure);
        ereport(WARNING, (errmsg("infra_ext could not archive \"%s\": %s", file, failure),
                          errhint("The file stays in pg_wal and archiving is retried; fix "
                                  "infra.wal_archive_dir (or free space) and it catches up.")));
        return false;
    }
    if (already) {
        ereport(LOG,
                (errmsg("infra_ext: \"%s\" was already archived with identical contents", file)));
    }
    return true;
}

}  // namespace

}  // namespace infra::pg

extern "C" {

PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks* cb);
static_assert(std::is_same_v<decltype(&_PG_archive_module_init), ArchiveModuleInit>,
              "_PG_archive_module_init must have the type the archiver looks up");

void _PG_archive_module_init(ArchiveModuleCallbacks* cb) {
    cb->check_configured_cb = infra::pg::archive_configured;
    cb->archive_file_cb = infra::pg::archive_one_file;
    cb->shutdown_cb = nullptr;
}

}  // extern "C"
