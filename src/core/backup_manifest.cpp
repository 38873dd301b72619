// backup_manifest.cpp: the backup manifest as JSON (nlohmann-json), its validation, and
// the checks verification makes against it (row counts, file sizes and SHA-256).
#include "core/backup_manifest.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/sha256.hpp"

namespace infra::core {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr int kManifestVersion = 1;
constexpr char kManifestFileName[] = "manifest.json";

const char kDamagedHint[] =
    "The manifest beside the backup is damaged or was not written by infra_ext; the backup "
    "cannot be verified against it.";
const char kWriteHint[] =
    "This is a bug in the code that filled in the manifest; please report it with the "
    "server log.";

std::string in_quotes(const std::string& s) {
    return "\"" + s + "\"";
}

[[noreturn]] void invalid(const std::string& message) {
    throw Error(ErrorKind::kInvalidArgument, "the manifest" + message, kDamagedHint);
}

// Whether s is well-formed UTF-8 (no overlong forms, no surrogates, nothing above
// U+10FFFF): what JSON text must be.
bool is_valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t extra;
        uint32_t code;
        uint32_t min;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1, code = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2, code = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3, code = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (s.size() - i <= extra) return false;
        for (size_t k = 1; k <= extra; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            code = (code << 6) | (cc & 0x3f);
        }
        if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
        i += extra + 1;
    }
    return true;
}

void require_utf8(const std::string& value, const std::string& field) {
    if (!is_valid_utf8(value)) {
        throw Error(ErrorKind::kInvalidArgument,
                    "could not write the manifest: " + field + " is not valid UTF-8", kWriteHint);
    }
}

// "a string", "an integer", ... for "must be X, not Y" messages.
const char* kind_of(const json& value) {
    switch (value.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::object:
            return "an object";
        case json::value_t::array:
            return "an array";
        case json::value_t::string:
            return "a string";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "an integer";
        case json::value_t::number_float:
            return "a fractional number";
        case json::value_t::binary:
            return "binary data";
        case json::value_t::discarded:
            break;
    }
    return "an unreadable value";
}

// The member `key` of object, which must exist. where is how messages name the object:
// "" for the manifest itself, "'s files[2]" for an element.
const json& member(const json& object, const std::string& where, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) invalid(where + " has no " + in_quotes(key));
    return *it;
}

// How messages name a member: "'s database", "'s files[2].bytes".
std::string field_name(const std::string& where, const char* key) {
    return where.empty() ? std::string("'s ") + key : where + "." + key;
}

std::string string_member(const json& object, const std::string& where, const char* key) {
    const json& value = member(object, where, key);
    if (!value.is_string()) {
        invalid(field_name(where, key) + " must be a string, not " + kind_of(value));
    }
    return value.get<std::string>();
}

int64_t integer_member(const json& object, const std::string& where, const char* key) {
    const json& value = member(object, where, key);
    if (value.is_number_unsigned()) {
        const auto u = value.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            invalid(field_name(where, key) + " is too large (" + std::to_string(u) + ")");
        }
        return static_cast<int64_t>(u);
    }
    if (value.is_number_integer()) return value.get<int64_t>();
    invalid(field_name(where, key) + " must be an integer, not " + kind_of(value));
}

const json& array_member(const json& object, const std::string& where, const char* key) {
    const json& value = member(object, where, key);
    if (!value.is_array()) {
        invalid(field_name(where, key) + " must be an array, not " + kind_of(value));
    }
    return value;
}

bool is_sha256_hex(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// The rules for a file name in a manifest: relative, '/'-separated, normalized (no empty,
// "." or ".." component), no NUL byte. Returns what is wrong, or "" when nothing is.
std::string file_name_problem(const std::string& name) {
    if (name.empty()) return "is empty";
    if (name.find('\0') != std::string::npos) return "contains a NUL byte";
    if (name[0] == '/') return "is absolute";
    bool odd_component = false;
    size_t start = 0;
    for (;;) {
        const size_t slash = name.find('/', start);
        const std::string part =
            name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (part == "..") return "contains a \"..\" component";
        if (part.empty() || part == ".") odd_component = true;
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    if (odd_component) return "contains an empty or \".\" component";
    return "";
}

ManifestFile parse_file(const json& entry, size_t index) {
    const std::string where = "'s files[" + std::to_string(index) + "]";
    if (!entry.is_object()) invalid(where + " must be an object, not " + kind_of(entry));
    ManifestFile file;
    file.name = string_member(entry, where, "name");
    const std::string problem = file_name_problem(file.name);
    if (!problem.empty()) {
        if (file.name.empty() || file.name.find('\0') != std::string::npos) {
            invalid(where + ".name " + problem);
        }
        invalid("'s file name " + in_quotes(file.name) + " " + problem);
    }
    file.bytes = integer_member(entry, where, "bytes");
    if (file.bytes < 0) {
        invalid("'s file " + in_quotes(file.name) + " has a negative size (" +
                std::to_string(file.bytes) + ")");
    }
    file.sha256 = string_member(entry, where, "sha256");
    if (!is_sha256_hex(file.sha256)) {
        invalid("'s file " + in_quotes(file.name) +
                " has a sha256 that is not 64 lowercase hex digits");
    }
    return file;
}

TableRowCount parse_table(const json& entry, size_t index) {
    const std::string where = "'s tables[" + std::to_string(index) + "]";
    if (!entry.is_object()) invalid(where + " must be an object, not " + kind_of(entry));
    TableRowCount table;
    table.table = string_member(entry, where, "table");
    if (table.table.empty()) invalid(where + ".table is empty");
    table.rows = integer_member(entry, where, "rows");
    if (table.rows < 0) {
        invalid("'s table " + in_quotes(table.table) + " has a negative row count (" +
                std::to_string(table.rows) + ")");
    }
    return table;
}

// The regular files (and anything else that is not a directory) under dir, as names
// relative to the top with '/' between components; prefix is dir's own relative name.
void collect_names(const std::string& dir, const std::string& prefix,
                   std::vector<std::string>* names) {
    for (const std::string& name : list_directory(dir)) {
        const std::string path = dir + "/" + name;
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            collect_names(path, prefix + name + "/", names);
        } else {
            names->push_back(prefix + name);
        }
    }
}

}  // namespace

std::string manifest_to_json(const BackupManifest& manifest) {
    require_utf8(manifest.server_version, "server_version");
    require_utf8(manifest.system_identifier, "system_identifier");
    require_utf8(manifest.database, "database");
    require_utf8(manifest.format, "format");
    require_utf8(manifest.started_at, "started_at");
    require_utf8(manifest.finished_at, "finished_at");

    ordered_json doc = ordered_json::object();
    doc["manifest_version"] = manifest.manifest_version;
    doc["server_version"] = manifest.server_version;
    doc["system_identifier"] = manifest.system_identifier;
    doc["database"] = manifest.database;
    doc["format"] = manifest.format;
    doc["started_at"] = manifest.started_at;
    doc["finished_at"] = manifest.finished_at;

    ordered_json files = ordered_json::array();
    for (size_t i = 0; i < manifest.files.size(); ++i) {
        const ManifestFile& file = manifest.files[i];
        require_utf8(file.name, "files[" + std::to_string(i) + "].name");
        require_utf8(file.sha256, "files[" + std::to_string(i) + "].sha256");
        ordered_json entry = ordered_json::object();
        entry["name"] = file.name;
        entry["bytes"] = file.bytes;
        entry["sha256"] = file.sha256;
        files.push_back(std::move(entry));
    }
    doc["files"] = std::move(files);

    ordered_json tables = ordered_json::array();
    for (size_t i = 0; i < manifest.tables.size(); ++i) {
        const TableRowCount& table = manifest.tables[i];
        require_utf8(table.table, "tables[" + std::to_string(i) + "].table");
        ordered_json entry = ordered_json::object();
        entry["table"] = table.table;
        entry["rows"] = table.rows;
        tables.push_back(std::move(entry));
    }
    doc["tables"] = std::move(tables);

    return doc.dump(2) + "\n";
}

BackupManifest manifest_from_json(const std::string& text) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::parse_error& e) {
        // e.what() is "[json.exception.parse_error.101] parse error at line 1, ...".
        std::string what = e.what();
        const size_t bracket = what.find("] ");
        if (what.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) {
            what.erase(0, bracket + 2);
        }
        invalid(" is not valid JSON: " + what);
    }
    if (!doc.is_object())
        invalid(" is not a JSON object (it is " + std::string(kind_of(doc)) + ")");

    BackupManifest manifest;
    const int64_t version = integer_member(doc, "", "manifest_version");
    if (version != kManifestVersion) {
        invalid(" has manifest_version " + std::to_string(version) +
                "; this version of infra_ext reads manifest_version " +
                std::to_string(kManifestVersion) + " only");
    }
    manifest.manifest_version = static_cast<int>(version);
    manifest.server_version = string_member(doc, "", "server_version");
    manifest.system_identifier = string_member(doc, "", "system_identifier");
    manifest.database = string_member(doc, "", "database");
    manifest.format = string_member(doc, "", "format");
    if (manifest.format != "custom" && manifest.format != "directory") {
        invalid("'s format " + in_quotes(manifest.format) +
                " is neither \"custom\" nor \"directory\"");
    }
    manifest.started_at = string_member(doc, "", "started_at");
    manifest.finished_at = string_member(doc, "", "finished_at");

    const json& files = array_member(doc, "", "files");
    std::set<std::string> file_names;
    for (size_t i = 0; i < files.size(); ++i) {
        ManifestFile file = parse_file(files[i], i);
        if (!file_names.insert(file.name).second) {
            invalid(" lists the file " + in_quotes(file.name) + " twice");
        }
        manifest.files.push_back(std::move(file));
    }

    const json& tables = array_member(doc, "", "tables");
    std::set<std::string> table_names;
    for (size_t i = 0; i < tables.size(); ++i) {
        TableRowCount table = parse_table(tables[i], i);
        if (!table_names.insert(table.table).second) {
            invalid(" lists the table " + in_quotes(table.table) + " twice");
        }
        manifest.tables.push_back(std::move(table));
    }
    return manifest;
}

std::vector<RowCountMismatch> compare_row_counts(const std::vector<TableRowCount>& expected,
                                                 const std::vector<TableRowCount>& actual) {
    const auto by_name = [](const std::vector<TableRowCount>& counts, const char* side) {
        std::map<std::string, int64_t> map;
        for (const TableRowCount& count : counts) {
            if (!map.emplace(count.table, count.rows).second) {
                throw Error(ErrorKind::kInvalidArgument,
                            "the table " + in_quotes(count.table) + " appears twice in the " +
                                side + " row counts",
                            "Count each table once.");
            }
        }
        return map;
    };
    const std::map<std::string, int64_t> want = by_name(expected, "expected");
    const std::map<std::string, int64_t> got = by_name(actual, "actual");

    // Both maps are sorted: merge them.
    std::vector<RowCountMismatch> mismatches;
    auto w = want.begin();
    auto g = got.begin();
    while (w != want.end() || g != got.end()) {
        if (g == got.end() || (w != want.end() && w->first < g->first)) {
            mismatches.push_back({w->first, w->second, std::nullopt});
            ++w;
        } else if (w == want.end() || g->first < w->first) {
            mismatches.push_back({g->first, std::nullopt, g->second});
            ++g;
        } else {
            if (w->second != g->second) mismatches.push_back({w->first, w->second, g->second});
            ++w;
            ++g;
        }
    }
    return mismatches;
}

std::vector<FileProblem> check_backup_files(const std::string& backup_dir,
                                            const BackupManifest& manifest) {
    // Listing first: a backup directory that cannot be read is an error, not a list of
    // missing files.
    std::vector<std::string> on_disk;
    collect_names(backup_dir, "", &on_disk);

    std::vector<FileProblem> problems;
    std::set<std::string> listed;
    for (const ManifestFile& file : manifest.files) {
        const std::string name_problem = file_name_problem(file.name);
        if (!name_problem.empty()) {
            // manifest_from_json refuses such a name; never look outside backup_dir.
            throw Error(ErrorKind::kInvalidArgument,
                        "the manifest's file name " + in_quotes(file.name) + " " + name_problem,
                        kDamagedHint);
        }
        listed.insert(file.name);

        const std::string path = backup_dir + "/" + file.name;
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0) {
            const int err = errno;
            if (err == ENOENT || err == ENOTDIR) {
                problems.push_back({file.name, "missing"});
            } else {
                problems.push_back({file.name, "cannot be examined: " + errno_text(err)});
            }
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            problems.push_back({file.name, "a symbolic link, not a regular file"});
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            problems.push_back({file.name, "not a regular file"});
            continue;
        }
        if (static_cast<int64_t>(st.st_size) != file.bytes) {
            problems.push_back({file.name, "size " + std::to_string(st.st_size) +
                                               " bytes, manifest says " +
                                               std::to_string(file.bytes)});
            continue;
        }
        std::string digest;
        try {
            digest = sha256_file_hex(path);
        } catch (const Error& e) {
            problems.push_back({file.name, e.what()});
            continue;
        }
        if (digest != file.sha256) problems.push_back({file.name, "SHA-256 mismatch"});
    }

    for (const std::string& name : on_disk) {
        if (name == kManifestFileName || listed.count(name) != 0) continue;
        problems.push_back({name, "not in the manifest"});
    }

    std::stable_sort(problems.begin(), problems.end(),
                     [](const FileProblem& a, const FileProblem& b) { return a.name < b.name; });
    return problems;
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
