// backup_paths.cpp: backup file names, and resolving a requested backup path safely
// (lexical checks first, then realpath + lstat; the file itself is never opened).
#include "core/backup_paths.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <system_error>
#include <vector>

#include "core/civil_time.hpp"
#include "core/errors.hpp"
#include "core/retention.hpp"

namespace infra::core {

namespace {

constexpr size_t kMaxDatabasePartLength = 63;  // NAMEDATALEN - 1
constexpr int kMinIdDigits = 6;

const char kOutsideHint[] =
    "Restore only from files in the backup directory (infra.backup_dir); copy or move the "
    "file there first.";
const char kNameAFileHint[] =
    "Name a backup file in the backup directory by its file name, or by its absolute path.";

std::string quoted(const std::string& s) {
    return "\"" + s + "\"";
}

std::string reason(int err) {
    return std::generic_category().message(err);
}

bool contains_nul(const std::string& s) {
    return s.find('\0') != std::string::npos;
}

// The non-empty components of a '/'-separated path ("a//b/" -> a, b).
std::vector<std::string> components(const std::string& path) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        if (end > start) parts.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

bool has_dot_dot_component(const std::string& path) {
    for (const std::string& part : components(path)) {
        if (part == "..") return true;
    }
    return false;
}

// An absolute path with repeated slashes, "." components and a trailing slash removed,
// purely textually ("/b//./x/" -> "/b/x"). ".." is kept as it is (never resolved here).
std::string lexically_normal_absolute(const std::string& path) {
    std::string out;
    for (const std::string& part : components(path)) {
        if (part == ".") continue;
        out += '/';
        out += part;
    }
    return out.empty() ? "/" : out;
}

// Whether path is dir or below it, component-wise: "/b/backups2" is not below "/b/backups".
bool is_at_or_below(const std::string& dir, const std::string& path) {
    if (path == dir) return true;
    if (dir == "/") return !path.empty() && path[0] == '/';
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
           path[dir.size()] == '/';
}

// realpath(3) into a std::string; on failure returns false with errno in *err.
bool canonicalize(const std::string& path, std::string* out, int* err) {
    struct FreeDeleter {
        void operator()(char* p) const { std::free(p); }
    };
    std::unique_ptr<char, FreeDeleter> resolved(::realpath(path.c_str(), nullptr));
    if (!resolved) {
        *err = errno;
        return false;
    }
    *out = resolved.get();
    return true;
}

const char* file_type_name(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISLNK(mode)) return "a symbolic link";
    return "not a regular file";
}

// The canonical backup directory, or Error saying what is wrong with the setting.
std::string canonical_backup_dir(const std::string& backup_dir) {
    const char* hint = "Set infra.backup_dir to an existing directory that holds the backups.";
    if (backup_dir.empty()) {
        throw Error(ErrorKind::kInvalidArgument, "the backup directory is not set", hint);
    }
    if (contains_nul(backup_dir)) {
        throw Error(ErrorKind::kInvalidArgument, "the backup directory path contains a NUL byte",
                    hint);
    }
    std::string canonical;
    int err = 0;
    if (!canonicalize(backup_dir, &canonical, &err)) {
        throw Error(
            ErrorKind::kInvalidArgument,
            "the backup directory " + quoted(backup_dir) + " cannot be resolved: " + reason(err),
            hint);
    }
    struct stat st;
    if (::lstat(canonical.c_str(), &st) != 0) {
        const int lstat_err = errno;
        throw Error(ErrorKind::kInvalidArgument,
                    "the backup directory " + quoted(backup_dir) +
                        " cannot be examined: " + reason(lstat_err),
                    hint);
    }
    if (!S_ISDIR(st.st_mode)) {
        throw Error(ErrorKind::kInvalidArgument,
                    "the backup directory " + quoted(backup_dir) + " is not a directory", hint);
    }
    return canonical;
}

}  // namespace

std::string resolve_backup_file(const std::string& backup_dir, const std::string& requested) {
    const std::string dir = canonical_backup_dir(backup_dir);

    if (requested.empty()) {
        throw Error(ErrorKind::kInvalidArgument, "the backup file path is empty", kNameAFileHint);
    }
    if (contains_nul(requested)) {
        throw Error(ErrorKind::kInvalidArgument, "the backup file path contains a NUL byte",
                    kNameAFileHint);
    }
    if (has_dot_dot_component(requested)) {
        throw Error(ErrorKind::kInvalidArgument,
                    "the backup file path " + quoted(requested) +
                        " contains a \"..\" component; \"..\" is refused before the path is "
                        "resolved",
                    "Name the file without \"..\": by its file name in the backup directory, "
                    "or by its absolute path.");
    }

    std::string candidate;
    if (requested[0] == '/') {
        // Spelled outside the directory: refuse without asking the file system anything,
        // so the answer does not reveal whether some other file exists.
        const std::string spelled = lexically_normal_absolute(requested);
        const bool below_given =
            backup_dir[0] == '/' && is_at_or_below(lexically_normal_absolute(backup_dir), spelled);
        if (!below_given && !is_at_or_below(dir, spelled)) {
            throw Error(ErrorKind::kInvalidArgument,
                        "the backup file path " + quoted(requested) +
                            " is outside the backup directory " + quoted(backup_dir),
                        kOutsideHint);
        }
        candidate = requested;
    } else {
        candidate = (dir == "/" ? dir : dir + "/") + requested;
    }

    std::string resolved;
    int err = 0;
    if (!canonicalize(candidate, &resolved, &err)) {
        if (err == ENOENT) {
            throw Error(ErrorKind::kInvalidArgument,
                        "the backup file " + quoted(requested) +
                            " does not exist in the backup directory " + quoted(backup_dir),
                        "List the backups (or the backup directory) for the files that exist.");
        }
        throw Error(
            ErrorKind::kInvalidArgument,
            "the backup file path " + quoted(requested) + " cannot be resolved: " + reason(err),
            kNameAFileHint);
    }

    if (resolved == dir) {
        throw Error(ErrorKind::kInvalidArgument,
                    "the backup file path " + quoted(requested) +
                        " names the backup directory itself, not a file in it",
                    kNameAFileHint);
    }
    if (!is_at_or_below(dir, resolved)) {
        // ".." is refused and the spelling is inside, so only a symbolic link gets here.
        throw Error(ErrorKind::kInvalidArgument,
                    "the backup file path " + quoted(requested) +
                        " leads outside the backup "
                        "directory " +
                        quoted(backup_dir) +
                        " through a symbolic link (it "
                        "resolves to " +
                        quoted(resolved) + ")",
                    kOutsideHint);
    }

    struct stat st;
    if (::lstat(resolved.c_str(), &st) != 0) {
        const int lstat_err = errno;
        throw Error(
            ErrorKind::kInvalidArgument,
            "the backup file " + quoted(requested) + " cannot be examined: " + reason(lstat_err),
            kNameAFileHint);
    }
    if (!S_ISREG(st.st_mode)) {
        throw Error(
            ErrorKind::kInvalidArgument,
            "the backup file path " + quoted(requested) + " is " + file_type_name(st.st_mode) +
                ", not a regular file",
            S_ISDIR(st.st_mode) ? "Name a backup file inside that directory." : kNameAFileHint);
    }
    return resolved;
}

std::string sanitize_database_for_file_name(const std::string& database) {
    std::string out;
    out.reserve(std::min(database.size(), kMaxDatabasePartLength));
    for (char ch : database) {
        if (out.size() == kMaxDatabasePartLength) break;
        const bool safe = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        out += safe ? ch : '_';
    }
    return out;
}

namespace {

bool is_digit(char ch) {
    return ch >= '0' && ch <= '9';
}

int digits_value(const std::string& s, size_t pos, size_t count) {
    int value = 0;
    for (size_t i = pos; i < pos + count; ++i) value = value * 10 + (s[i] - '0');
    return value;
}

// Whether stamp is "YYYYMMDDTHHMMSSZ" naming a real date and time.
bool is_valid_utc_stamp(const std::string& stamp) {
    if (stamp.size() != 16 || stamp[8] != 'T' || stamp[15] != 'Z') return false;
    for (size_t i = 0; i < 15; ++i) {
        if (i != 8 && !is_digit(stamp[i])) return false;
    }
    CivilTime civil;
    civil.year = digits_value(stamp, 0, 4);
    civil.month = digits_value(stamp, 4, 2);
    civil.day = digits_value(stamp, 6, 2);
    civil.hour = digits_value(stamp, 9, 2);
    civil.minute = digits_value(stamp, 11, 2);
    civil.second = digits_value(stamp, 13, 2);
    return is_valid(civil);
}

}  // namespace

std::string backup_file_name(const std::string& kind, int64_t id, const std::string& database,
                             const std::string& utc_stamp) {
    backup_kind_from_name(kind);  // throws Error(kInvalidArgument) for any other kind
    if (id < 0) {
        throw Error(ErrorKind::kInvalidArgument,
                    "invalid backup id " + std::to_string(id) + ": ids are not negative",
                    "Pass the id the backup catalog assigned.");
    }
    if (database.empty()) {
        throw Error(ErrorKind::kInvalidArgument, "the database name of a backup is empty",
                    "Pass the name of the database being backed up.");
    }
    if (!is_valid_utc_stamp(utc_stamp)) {
        throw Error(ErrorKind::kInvalidArgument,
                    "invalid UTC time stamp " + quoted(utc_stamp) + " for a backup file name",
                    "Use the form YYYYMMDDTHHMMSSZ with a real date and time, e.g. "
                    "20261128T121500Z.");
    }

    std::string digits = std::to_string(id);
    if (digits.size() < static_cast<size_t>(kMinIdDigits)) {
        digits.insert(0, kMinIdDigits - digits.size(), '0');
    }
    return kind + "-" + digits + "-" + sanitize_database_for_file_name(database) + "-" + utc_stamp +
           ".dump";
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
