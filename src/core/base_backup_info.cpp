// base_backup_info.cpp: the infra_base_backup.json description of a base backup (to and
// from JSON, with every field validated on reading) and the listing of a base-backup
// directory. No shared state.
#include "core/base_backup_info.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/civil_time.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/wal_names.hpp"

namespace infra::core {

namespace {

using json = nlohmann::ordered_json;  // the file's keys in a fixed order

constexpr int64_t kMicrosPerSecond = 1000000;

const char kFileHint[] =
    "the description is written by infra_ext when a base backup completes; a directory "
    "without a valid one is not a usable base backup (take a new one with SELECT "
    "infra.create_base_backup(wait => true))";

[[noreturn]] void throw_invalid(const std::string& message) {
    throw Error(ErrorKind::kInvalidArgument, message, kFileHint);
}

// "2026-11-29T03:04:05.123456Z": always with six fraction digits, so the file says how
// precise the times are.
std::string format_time_with_micros(int64_t unix_us) {
    int64_t seconds = unix_us / kMicrosPerSecond;
    int64_t micros = unix_us % kMicrosPerSecond;
    if (micros < 0) {
        micros += kMicrosPerSecond;
        --seconds;
    }
    const CivilTime c = civil_from_seconds(seconds);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", c.year, c.month, c.day,
                  c.hour, c.minute, c.second, static_cast<int>(micros));
    return buf;
}

bool read_digits(const std::string& text, size_t at, size_t count, int* value) {
    if (at + count > text.size()) return false;
    int v = 0;
    for (size_t i = at; i < at + count; ++i) {
        if (text[i] < '0' || text[i] > '9') return false;
        v = v * 10 + (text[i] - '0');
    }
    *value = v;
    return true;
}

// Reads exactly "YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z" (what format_time_with_micros writes, or
// the same without fraction); false for anything else or an impossible date.
bool parse_time_with_micros(const std::string& text, int64_t* unix_us) {
    CivilTime c;
    if (!read_digits(text, 0, 4, &c.year) || text.size() < 20 || text[4] != '-' ||
        !read_digits(text, 5, 2, &c.month) || text[7] != '-' || !read_digits(text, 8, 2, &c.day) ||
        text[10] != 'T' || !read_digits(text, 11, 2, &c.hour) || text[13] != ':' ||
        !read_digits(text, 14, 2, &c.minute) || text[16] != ':' ||
        !read_digits(text, 17, 2, &c.second)) {
        return false;
    }
    if (!is_valid(c)) return false;
    size_t at = 19;
    int64_t micros = 0;
    if (text[at] == '.') {
        size_t digits = 0;
        for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++digits) {
            micros = micros * 10 + (text[at] - '0');
        }
        if (digits == 0 || digits > 6) return false;
        for (; digits < 6; ++digits) micros *= 10;
    }
    if (at + 1 != text.size() || text[at] != 'Z') return false;
    *unix_us = civil_to_seconds(c) * kMicrosPerSecond + micros;
    return true;
}

const json& required(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) throw_invalid(std::string("key \"") + key + "\" is missing");
    return *it;
}

[[noreturn]] void throw_malformed(const char* key, const json& value, const std::string& want) {
    throw_invalid(std::string("key \"") + key + "\" is " + value.dump() + ", expected " + want);
}

std::string required_string(const json& object, const char* key) {
    const json& value = required(object, key);
    if (!value.is_string()) throw_malformed(key, value, "a string");
    return value.get<std::string>();
}

int64_t required_integer(const json& object, const char* key, int64_t min, int64_t max) {
    const json& value = required(object, key);
    bool in_range = false;
    int64_t result = 0;
    if (value.is_number_unsigned()) {
        const uint64_t u = value.get<uint64_t>();
        in_range = u <= static_cast<uint64_t>(max);
        result = static_cast<int64_t>(u);
        in_range = in_range && result >= min;
    } else if (value.is_number_integer()) {
        result = value.get<int64_t>();
        in_range = result >= min && result <= max;
    }
    if (!in_range) {
        throw_malformed(key, value,
                        "an integer from " + std::to_string(min) + " to " + std::to_string(max));
    }
    return result;
}

uint64_t required_lsn(const json& object, const char* key) {
    const std::string text = required_string(object, key);
    try {
        return parse_lsn(text);
    } catch (const Error&) {
        throw_malformed(key, json(text), "an LSN such as \"16/B374D848\"");
    }
}

int64_t required_time(const json& object, const char* key) {
    const std::string text = required_string(object, key);
    int64_t unix_us = 0;
    if (!parse_time_with_micros(text, &unix_us)) {
        throw_malformed(key, json(text), "a UTC time such as \"2026-11-29T03:04:05.123456Z\"");
    }
    return unix_us;
}

uint64_t required_system_identifier(const json& object, const char* key) {
    const std::string text = required_string(object, key);
    uint64_t value = 0;
    bool valid = !text.empty() && text.size() <= 20;
    for (char ch : text) {
        if (!valid) break;
        if (ch < '0' || ch > '9') {
            valid = false;
            break;
        }
        const uint64_t digit = static_cast<uint64_t>(ch - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
            valid = false;
            break;
        }
        value = value * 10 + digit;
    }
    if (!valid) throw_malformed(key, json(text), "a decimal string of a 64-bit unsigned number");
    return value;
}

std::string required_choice(const json& object, const char* key,
                            std::initializer_list<const char*> choices) {
    const std::string text = required_string(object, key);
    std::string listed;
    for (const char* choice : choices) {
        if (text == choice) return text;
        listed += listed.empty() ? "" : ", ";
        listed += std::string("\"") + choice + "\"";
    }
    throw_malformed(key, json(text), "one of " + listed);
}

void check_consistency(const BaseBackupInfo& info) {
    if (info.format == "plain" && info.compression != "none") {
        throw_invalid("compression is \"" + info.compression +
                      "\" but format is \"plain\" (only tar base backups are compressed)");
    }
    if (info.stop_lsn < info.start_lsn) {
        throw_invalid("stop_lsn " + format_lsn(info.stop_lsn) + " is before start_lsn " +
                      format_lsn(info.start_lsn));
    }
    if (info.stop_time_unix_us < info.start_time_unix_us) {
        throw_invalid("stop_time " + format_time_with_micros(info.stop_time_unix_us) +
                      " is before start_time " + format_time_with_micros(info.start_time_unix_us));
    }
}

bool is_directory(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string tar_compression_suffix(const std::string& compression) {
    if (compression == "gzip") return ".gz";
    if (compression == "lz4") return ".lz4";
    if (compression == "zstd") return ".zst";
    return "";
}

std::string base_backup_info_to_json(const BaseBackupInfo& info) {
    json j = json::object();
    j["id"] = info.id;
    j["label"] = info.label;
    j["format"] = info.format;
    j["compression"] = info.compression;
    j["timeline"] = info.timeline;
    j["start_lsn"] = format_lsn(info.start_lsn);
    j["stop_lsn"] = format_lsn(info.stop_lsn);
    j["start_time"] = format_time_with_micros(info.start_time_unix_us);
    j["stop_time"] = format_time_with_micros(info.stop_time_unix_us);
    j["system_identifier"] = std::to_string(info.system_identifier);
    j["pg_version_num"] = info.pg_version_num;
    j["wal_segment_size"] = info.wal_segment_size;
    j["bytes"] = info.bytes;
    j["verified_by"] = info.verified_by;
    return j.dump(2) + "\n";
}

BaseBackupInfo base_backup_info_from_json(const std::string& text) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw_invalid(std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) throw_invalid("not a JSON object");
    BaseBackupInfo info;
    info.id = required_integer(j, "id", 1, std::numeric_limits<int64_t>::max());
    info.label = required_string(j, "label");
    info.format = required_choice(j, "format", {"plain", "tar"});
    info.compression = required_choice(j, "compression", {"none", "gzip", "lz4", "zstd"});
    info.timeline = static_cast<uint32_t>(required_integer(j, "timeline", 1, 0xFFFFFFFFll));
    info.start_lsn = required_lsn(j, "start_lsn");
    info.stop_lsn = required_lsn(j, "stop_lsn");
    info.start_time_unix_us = required_time(j, "start_time");
    info.stop_time_unix_us = required_time(j, "stop_time");
    info.system_identifier = required_system_identifier(j, "system_identifier");
    info.pg_version_num =
        static_cast<int>(required_integer(j, "pg_version_num", 1, std::numeric_limits<int>::max()));
    const int64_t segment_size =
        required_integer(j, "wal_segment_size", 1, std::numeric_limits<int64_t>::max());
    info.wal_segment_size = static_cast<uint64_t>(segment_size);
    try {
        check_wal_segment_size(info.wal_segment_size);
    } catch (const Error& e) {
        throw_invalid(std::string("key \"wal_segment_size\": ") + e.what());
    }
    info.bytes = required_integer(j, "bytes", 0, std::numeric_limits<int64_t>::max());
    info.verified_by = required_string(j, "verified_by");
    check_consistency(info);
    return info;
}

BaseBackupInfo read_base_backup_info(const std::string& backup_dir) {
    const std::string file = backup_dir + "/" + kBaseBackupInfoFile;
    struct stat st;
    if (::stat(file.c_str(), &st) != 0 && errno == ENOENT) {
        throw Error(ErrorKind::kInvalidArgument,
                    file + " is missing: " + backup_dir + " is not a usable base backup",
                    "a base backup that did not finish has no description; take a new one "
                    "with SELECT infra.create_base_backup(wait => true)");
    }
    const std::string text = read_file(file);
    BaseBackupInfo info;
    try {
        info = base_backup_info_from_json(text);
    } catch (const Error& e) {
        throw Error(ErrorKind::kInvalidArgument, file + ": " + e.what(), e.hint());
    }
    info.path = backup_dir;
    return info;
}

std::vector<BaseBackupInfo> list_base_backups(const std::string& root,
                                              std::vector<std::string>* skipped) {
    std::vector<BaseBackupInfo> backups;
    for (const std::string& name : list_directory(root)) {
        if (name.empty() || name[0] == '.') continue;
        const std::string dir = root + "/" + name;
        if (!is_directory(dir)) continue;
        try {
            backups.push_back(read_base_backup_info(dir));
        } catch (const Error& e) {
            if (skipped != nullptr) skipped->push_back(name + ": " + e.what());
        }
    }
    std::sort(backups.begin(), backups.end(), [](const BaseBackupInfo& a, const BaseBackupInfo& b) {
        return std::tie(a.stop_time_unix_us, a.id) < std::tie(b.stop_time_unix_us, b.id);
    });
    return backups;
}

int64_t base_backup_id_in_name(const std::string& name) {
    size_t at = !name.empty() && name[0] == '.' ? 1 : 0;
    const size_t digits_from = at;
    int64_t id = 0;
    for (; at < name.size() && at - digits_from < 18 && name[at] >= '0' && name[at] <= '9'; ++at) {
        id = id * 10 + (name[at] - '0');
    }
    return at > digits_from && at < name.size() && name[at] == '-' ? id : 0;
}

int64_t highest_base_backup_id(const std::string& root) {
    int64_t highest = 0;
    for (const std::string& name : list_directory(root)) {
        highest = std::max(highest, base_backup_id_in_name(name));
    }
    for (const BaseBackupInfo& b : list_base_backups(root)) highest = std::max(highest, b.id);
    return highest;
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
