// base_backup_tar.cpp: checking and extracting tar-format base backups
// (base_backup_tar.hpp), read with libarchive. No shared state.
//
// Facts this file relies on, confirmed against PostgreSQL 15's pg_basebackup -Ft -X stream
// --manifest-checksums=CRC32C (plain, -Z gzip, -Z lz4, -Z zstd) and pg_verifybackup:
// - data_dir holds base.tar[.gz|.lz4|.zst], pg_wal.tar[...] and backup_manifest; with
//   -Z lz4 or -Z zstd PostgreSQL 15 leaves pg_wal.tar uncompressed (only gzip compresses
//   it), so each tar's compression is taken from its own name. A tablespace comes as
//   <oid>.tar[...], whose entries the manifest lists as "pg_tblspc/<oid>/<entry>".
// - Entry names have no leading "./" except "./pg_wal/archive_status/"; both forms are
//   accepted. base.tar also holds "tablespace_map" (listed in the manifest, 0 bytes).
// - A CRC32C "Checksum" is the 4 bytes of the final CRC-32C value in the server's
//   (little-endian) byte order, in hex: crc32c("15\n") = 0x2247748a is written
//   "8a744722".
// - "Manifest-Checksum" is the SHA-256 of the manifest's bytes up to and including its
//   next-to-last newline (the manifest ends with a newline; the checksum line is last).
//
// Only the one decompression filter a file's name asks for is registered, and only when
// libarchive has it built in (ARCHIVE_OK; ARCHIVE_WARN would mean it runs an external
// program such as "zstd -d"), so no external program is ever run and a file that is not
// compressed the way its name says is refused.
#include "core/base_backup_tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/sha256.hpp"
#include "core/unique_fd.hpp"
#include "core/wal_archive.hpp"
#include "core/wal_names.hpp"

namespace infra::core {

namespace {

using Json = nlohmann::json;

constexpr size_t kMaxProblems = 100;
constexpr size_t kReadBlockBytes = 64 * 1024;
constexpr size_t kGrowingReadBytes = 1024 * 1024;
constexpr uint64_t kMaxWalRangeSegments = uint64_t{1} << 20;
constexpr mode_t kDirectoryMode = 0700;
constexpr mode_t kMaxFileMode = 0600;
constexpr size_t kSegmentNameLength = 24;

constexpr const char* kDamagedHint =
    "The backup is damaged or incomplete: take a new base backup, or use another copy of "
    "this one.";
constexpr const char* kUnsafeEntryHint =
    "pg_basebackup never writes such an entry: the tar file was not made by pg_basebackup or "
    "has been tampered with. Do not restore from it.";
constexpr const char* kLayoutHint =
    "Pass the directory pg_basebackup -Ft wrote: it holds base.tar (optionally .gz, .lz4 or "
    ".zst), pg_wal.tar and backup_manifest.";
constexpr const char* kFilterHint =
    "Install a libarchive built with zlib, liblz4 and libzstd (Debian's libarchive13 is); "
    "infra_ext does not run external decompression programs.";

// Paths pg_verifybackup skips both ways (pg_basebackup -R rewrites postgresql.auto.conf and
// adds standby.signal; WAL is checked separately).
const char* const kIgnoredPaths[] = {"backup_manifest", "pg_wal", "postgresql.auto.conf",
                                     "recovery.signal", "standby.signal"};

// ---- the problem list ----

class ProblemList {
  public:
    void add(std::string problem) {
        ++count_;
        if (list_.size() < kMaxProblems) list_.push_back(std::move(problem));
    }
    bool empty() const { return count_ == 0; }
    // At most kMaxProblems entries; when some were left out, the last says how many.
    std::vector<std::string> take() {
        if (count_ > kMaxProblems) {
            list_.back() =
                std::to_string(count_ - (kMaxProblems - 1)) + " more problems not listed";
        }
        return std::move(list_);
    }

  private:
    std::vector<std::string> list_;
    size_t count_ = 0;
};

// ---- small text helpers ----

bool starts_with(const std::string& text, const std::string& prefix) {
    return text.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool all_digits(const std::string& text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::string> hex_decode(const std::string& hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::string bytes;
    for (size_t i = 0; i < hex.size(); i += 2) {
        const int high = hex_value(hex[i]), low = hex_value(hex[i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        bytes.push_back(static_cast<char>(high * 16 + low));
    }
    return bytes;
}

// PostgreSQL's text for a CRC32C checksum: the value's bytes in little-endian order.
std::string pg_crc32c_hex(uint32_t crc) {
    char text[9];
    std::snprintf(text, sizeof text, "%02x%02x%02x%02x", crc & 0xffu, (crc >> 8) & 0xffu,
                  (crc >> 16) & 0xffu, (crc >> 24) & 0xffu);
    return text;
}

bool is_segment_name(const std::string& name) {
    return name.size() == kSegmentNameLength && std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
           });
}

// ---- entry paths ----

// The path's components without "" and "." ("./pg_wal/x/" -> {"pg_wal", "x"}).
std::vector<std::string> path_components(const std::string& path) {
    std::vector<std::string> parts;
    size_t begin = 0;
    while (begin <= path.size()) {
        size_t end = path.find('/', begin);
        if (end == std::string::npos) end = path.size();
        std::string part = path.substr(begin, end - begin);
        if (!part.empty() && part != ".") parts.push_back(std::move(part));
        begin = end + 1;
    }
    return parts;
}

std::string join(const std::vector<std::string>& parts, size_t count) {
    std::string path;
    for (size_t i = 0; i < count && i < parts.size(); ++i) {
        if (i > 0) path += '/';
        path += parts[i];
    }
    return path;
}

std::string join(const std::vector<std::string>& parts) {
    return join(parts, parts.size());
}

// An entry's name as a normalized relative path; throws when it is absolute or has "..".
std::string safe_entry_path(const std::string& tar_name, const std::string& name) {
    if (!name.empty() && name[0] == '/') {
        throw Error(ErrorKind::kInvalidArgument,
                    tar_name + ": entry \"" + name + "\" has an absolute path", kUnsafeEntryHint);
    }
    const std::vector<std::string> parts = path_components(name);
    if (std::find(parts.begin(), parts.end(), "..") != parts.end()) {
        throw Error(ErrorKind::kInvalidArgument,
                    tar_name + ": entry \"" + name + "\" has a \"..\" component", kUnsafeEntryHint);
    }
    return join(parts);
}

// Where symlink `link_path` (relative to the root) pointing at `target` leads, relative to
// the root; nullopt when that is outside the root (absolute, or too many "..").
std::optional<std::string> resolve_link_target(const std::string& link_path,
                                               const std::string& target) {
    if (target.empty() || target[0] == '/') return std::nullopt;
    std::vector<std::string> resolved = path_components(link_path);
    if (!resolved.empty()) resolved.pop_back();  // the link's own directory
    for (const std::string& part : path_components(target)) {
        if (part != "..") {
            resolved.push_back(part);
        } else if (resolved.empty()) {
            return std::nullopt;
        } else {
            resolved.pop_back();
        }
    }
    return join(resolved);
}

bool is_ignored_path(const std::string& path) {
    for (const char* ignored : kIgnoredPaths) {
        const std::string prefix = ignored;
        if (path == prefix || starts_with(path, prefix + "/")) return true;
    }
    return false;
}

// ---- the tar files of a backup directory ----

enum class TarCompression { kNone, kGzip, kLz4, kZstd };

struct TarFile {
    std::string name;  // "base.tar.zst"
    std::string path;
    TarCompression compression = TarCompression::kNone;
};

struct TarSuffix {
    const char* suffix;
    TarCompression compression;
};
const TarSuffix kTarSuffixes[] = {{".tar", TarCompression::kNone},
                                  {".tar.gz", TarCompression::kGzip},
                                  {".tar.lz4", TarCompression::kLz4},
                                  {".tar.zst", TarCompression::kZstd}};

// data_dir's tar files by stem ("base", "pg_wal", "16385").
std::map<std::string, std::vector<TarFile>> list_tar_files(const std::string& data_dir) {
    std::map<std::string, std::vector<TarFile>> tars;
    for (const std::string& name : list_directory(data_dir)) {
        for (const TarSuffix& suffix : kTarSuffixes) {
            if (!ends_with(name, suffix.suffix) || name.size() == strlen(suffix.suffix)) continue;
            const std::string stem = name.substr(0, name.size() - strlen(suffix.suffix));
            tars[stem].push_back(TarFile{name, data_dir + "/" + name, suffix.compression});
        }
    }
    return tars;
}

// The one tar of `stem`; nullopt plus a problem when there is none or more than one.
std::optional<TarFile> the_tar(const std::map<std::string, std::vector<TarFile>>& tars,
                               const std::string& stem, const std::string& data_dir,
                               std::string* problem) {
    const auto it = tars.find(stem);
    if (it == tars.end()) {
        *problem = stem + ".tar: missing from " + data_dir;
        return std::nullopt;
    }
    if (it->second.size() > 1) {
        *problem = stem + ".tar: " + data_dir + " holds both " + it->second[0].name + " and " +
                   it->second[1].name;
        return std::nullopt;
    }
    return it->second[0];
}

// ---- reading a tar with libarchive ----

const char* compression_name(TarCompression compression) {
    switch (compression) {
        case TarCompression::kNone:
            return "uncompressed";
        case TarCompression::kGzip:
            return "gzip";
        case TarCompression::kLz4:
            return "lz4";
        case TarCompression::kZstd:
            return "zstd";
    }
    return "?";
}

int filter_code(TarCompression compression) {
    switch (compression) {
        case TarCompression::kNone:
            return ARCHIVE_FILTER_NONE;
        case TarCompression::kGzip:
            return ARCHIVE_FILTER_GZIP;
        case TarCompression::kLz4:
            return ARCHIVE_FILTER_LZ4;
        case TarCompression::kZstd:
            return ARCHIVE_FILTER_ZSTD;
    }
    return ARCHIVE_FILTER_NONE;
}

// The compression a file's first bytes announce (kNone when none of the three magics).
TarCompression sniff_compression(const std::string& path) {
    UniqueFd fd(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw_file_error("open", path, errno);
    unsigned char magic[4] = {};
    ssize_t got;
    do {
        got = ::read(fd.get(), magic, sizeof magic);
    } while (got < 0 && errno == EINTR);
    if (got < 0) throw_file_error("read", path, errno);
    if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return TarCompression::kGzip;
    if (got == 4 && magic[0] == 0x04 && magic[1] == 0x22 && magic[2] == 0x4d && magic[3] == 0x18) {
        return TarCompression::kLz4;
    }
    if (got == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
        return TarCompression::kZstd;
    }
    return TarCompression::kNone;
}

// ARCHIVE_OK only when libarchive decompresses it itself (ARCHIVE_WARN: external program).
int register_filter(archive* reader, TarCompression compression) {
    switch (compression) {
        case TarCompression::kNone:
            return ARCHIVE_OK;
        case TarCompression::kGzip:
            return archive_read_support_filter_gzip(reader);
        case TarCompression::kLz4:
            return archive_read_support_filter_lz4(reader);
        case TarCompression::kZstd:
            return archive_read_support_filter_zstd(reader);
    }
    return ARCHIVE_FATAL;
}

// One tar file read from start to end. Every failure throws Error(kInvalidArgument)
// naming the file.
class TarReader {
  public:
    explicit TarReader(const TarFile& file) : file_(file) {
        if (sniff_compression(file.path) != file.compression) not_as_named();
        open([&](archive* reader) {
            return archive_read_open_filename(reader, file.path.c_str(), kReadBlockBytes);
        });
    }
    // Reads from source (archive_read_open's callback) instead of the file; the file's
    // name says what compression to expect.
    TarReader(const TarFile& file, void* source, archive_read_callback* read_callback)
        : file_(file) {
        open([&](archive* reader) {
            return archive_read_open(reader, source, nullptr, read_callback, nullptr);
        });
    }
    ~TarReader() { archive_read_free(reader_); }
    TarReader(const TarReader&) = delete;
    TarReader& operator=(const TarReader&) = delete;

    // The next entry, or nullptr at the end of the archive.
    archive_entry* next() {
        archive_entry* entry = nullptr;
        const int status = archive_read_next_header(reader_, &entry);
        if (status == ARCHIVE_EOF) return nullptr;
        if (status != ARCHIVE_OK && status != ARCHIVE_WARN) fail();
        return entry;
    }

    // Feeds the current entry's data to consume in order (holes of sparse entries as zeros).
    void read_data(archive_entry* entry, const std::function<void(const char*, size_t)>& consume) {
        int64_t position = 0;
        for (;;) {
            const void* block = nullptr;
            size_t size = 0;
            la_int64_t offset = 0;
            const int status = archive_read_data_block(reader_, &block, &size, &offset);
            if (status == ARCHIVE_EOF) break;
            if (status != ARCHIVE_OK && status != ARCHIVE_WARN) fail();
            if (offset < position) fail_with("data blocks out of order");
            feed_zeros(offset - position, consume);
            consume(static_cast<const char*>(block), size);
            position = offset + static_cast<int64_t>(size);
        }
        if (archive_entry_sparse_count(entry) > 0 && position < archive_entry_size(entry)) {
            feed_zeros(archive_entry_size(entry) - position, consume);
        }
    }

    const TarFile& file() const { return file_; }

  private:
    // Sets up reader_ for the file's compression and the tar format, and opens it with
    // open_with (libarchive's archive_read_open*, given the reader).
    void open(const std::function<int(archive*)>& open_with) {
        reader_ = archive_read_new();
        if (reader_ == nullptr) throw Error(ErrorKind::kInternal, "archive_read_new failed");
        if (register_filter(reader_, file_.compression) != ARCHIVE_OK) {
            archive_read_free(reader_);
            throw Error(ErrorKind::kInvalidArgument,
                        "cannot read " + file_.path + ": this libarchive has no built-in " +
                            compression_name(file_.compression) + " decompression",
                        kFilterHint);
        }
        archive_read_support_format_tar(reader_);
        if (open_with(reader_) != ARCHIVE_OK) {
            const char* error = archive_error_string(reader_);
            const std::string reason = error != nullptr ? error : "unknown libarchive error";
            archive_read_free(reader_);
            throw Error(ErrorKind::kInvalidArgument, "cannot read " + file_.path + ": " + reason,
                        kDamagedHint);
        }
        if (archive_filter_code(reader_, 0) != filter_code(file_.compression)) {
            archive_read_free(reader_);
            not_as_named();
        }
    }

    [[noreturn]] void not_as_named() {
        throw Error(ErrorKind::kInvalidArgument,
                    "cannot read " + file_.path + ": its contents are not " +
                        compression_name(file_.compression) + " as its name says",
                    kDamagedHint);
    }

    static void feed_zeros(int64_t count, const std::function<void(const char*, size_t)>& consume) {
        static const char kZeros[kReadBlockBytes] = {};
        while (count > 0) {
            const size_t n = static_cast<size_t>(std::min<int64_t>(count, sizeof kZeros));
            consume(kZeros, n);
            count -= static_cast<int64_t>(n);
        }
    }

    [[noreturn]] void fail() {
        const char* reason = archive_error_string(reader_);
        fail_with(reason != nullptr ? reason : "unknown libarchive error");
    }

    [[noreturn]] void fail_with(const std::string& reason) {
        throw Error(ErrorKind::kInvalidArgument, "cannot read " + file_.path + ": " + reason,
                    kDamagedHint);
    }

    TarFile file_;
    archive* reader_ = nullptr;
};

std::string entry_name(archive_entry* entry) {
    const char* name = archive_entry_pathname(entry);
    return name != nullptr ? name : "";
}

// ---- backup_manifest ----

enum class ChecksumAlgorithm { kNone, kCrc32c, kSha256, kUnsupported };

struct PgManifestFile {
    int64_t size = 0;
    ChecksumAlgorithm algorithm = ChecksumAlgorithm::kNone;
    std::string algorithm_name;
    std::string checksum;  // lower-case hex
    bool found = false;
};

struct PgWalRange {
    uint32_t timeline = 0;
    uint64_t start_lsn = 0;
    uint64_t end_lsn = 0;
    std::string start_text, end_text;
};

struct PgManifest {
    std::map<std::string, PgManifestFile> files;
    std::vector<PgWalRange> wal_ranges;
};

// PostgreSQL's rule (parse_manifest.c): the SHA-256 of everything up to and including the
// next-to-last newline; the manifest must end with a newline.
void check_manifest_checksum(const std::string& text, const Json& manifest, ProblemList* problems) {
    const auto listed = manifest.find("Manifest-Checksum");
    if (listed == manifest.end() || !listed->is_string()) {
        problems->add("backup_manifest: no Manifest-Checksum");
        return;
    }
    const size_t last_newline = text.rfind('\n');
    if (last_newline != text.size() - 1 || last_newline == 0 ||
        text.rfind('\n', last_newline - 1) == std::string::npos) {
        problems->add("backup_manifest: does not end with a newline-terminated checksum line");
        return;
    }
    const size_t covered = text.rfind('\n', last_newline - 1) + 1;
    const std::string actual = sha256_hex(std::string_view(text).substr(0, covered));
    if (lower(listed->get<std::string>()) != actual) {
        problems->add("backup_manifest: manifest checksum mismatch (the manifest says " +
                      listed->get<std::string>() + ", its contents have " + actual + ")");
    }
}

ChecksumAlgorithm algorithm_of(const std::string& name) {
    if (name == "NONE") return ChecksumAlgorithm::kNone;
    if (name == "CRC32C") return ChecksumAlgorithm::kCrc32c;
    if (name == "SHA256") return ChecksumAlgorithm::kSha256;
    return ChecksumAlgorithm::kUnsupported;
}

// One "Files" element; nullopt plus a problem when it is malformed.
std::optional<std::pair<std::string, PgManifestFile>> parse_manifest_file(const Json& item,
                                                                          size_t index,
                                                                          ProblemList* problems) {
    const std::string where = "backup_manifest: Files[" + std::to_string(index) + "]";
    if (!item.is_object()) {
        problems->add(where + " is not an object");
        return std::nullopt;
    }
    std::string path;
    if (item.contains("Path") && item["Path"].is_string()) {
        path = item["Path"].get<std::string>();
    } else if (item.contains("Encoded-Path") && item["Encoded-Path"].is_string()) {
        const auto decoded = hex_decode(item["Encoded-Path"].get<std::string>());
        if (!decoded) {
            problems->add(where + ": Encoded-Path is not hexadecimal");
            return std::nullopt;
        }
        path = *decoded;
    } else {
        problems->add(where + " has no Path");
        return std::nullopt;
    }
    const auto size = item.find("Size");
    if (size == item.end() || !size->is_number_unsigned()) {
        problems->add(path + ": no valid Size in backup_manifest");
        return std::nullopt;
    }
    PgManifestFile file;
    file.size = size->get<int64_t>();
    if (item.contains("Checksum-Algorithm")) {
        if (!item["Checksum-Algorithm"].is_string() || !item.contains("Checksum") ||
            !item["Checksum"].is_string()) {
            problems->add(path + ": malformed checksum in backup_manifest");
            return std::nullopt;
        }
        file.algorithm_name = item["Checksum-Algorithm"].get<std::string>();
        file.algorithm = algorithm_of(file.algorithm_name);
        file.checksum = lower(item["Checksum"].get<std::string>());
    }
    return std::make_pair(path, file);
}

std::optional<PgWalRange> parse_wal_range(const Json& item, size_t index, ProblemList* problems) {
    const std::string where = "backup_manifest: WAL-Ranges[" + std::to_string(index) + "]";
    if (!item.is_object() || !item.contains("Timeline") || !item["Timeline"].is_number_unsigned() ||
        !item.contains("Start-LSN") || !item["Start-LSN"].is_string() ||
        !item.contains("End-LSN") || !item["End-LSN"].is_string()) {
        problems->add(where + " is malformed");
        return std::nullopt;
    }
    PgWalRange range;
    const uint64_t timeline = item["Timeline"].get<uint64_t>();
    range.start_text = item["Start-LSN"].get<std::string>();
    range.end_text = item["End-LSN"].get<std::string>();
    try {
        range.start_lsn = parse_lsn(range.start_text);
        range.end_lsn = parse_lsn(range.end_text);
    } catch (const Error& e) {
        problems->add(where + ": " + e.what());
        return std::nullopt;
    }
    if (timeline == 0 || timeline > UINT32_MAX || range.end_lsn < range.start_lsn) {
        problems->add(where + " has an invalid timeline or an end before its start");
        return std::nullopt;
    }
    range.timeline = static_cast<uint32_t>(timeline);
    return range;
}

// The manifest, or nullopt plus problems when it is not a usable manifest.
std::optional<PgManifest> parse_manifest(const std::string& text, ProblemList* problems) {
    Json json;
    try {
        json = Json::parse(text);
    } catch (const Json::exception& e) {
        problems->add(std::string("backup_manifest: not valid JSON: ") + e.what());
        return std::nullopt;
    }
    if (!json.is_object()) {
        problems->add("backup_manifest: not a JSON object");
        return std::nullopt;
    }
    check_manifest_checksum(text, json, problems);
    const auto version = json.find("PostgreSQL-Backup-Manifest-Version");
    if (version == json.end() || !version->is_number_unsigned() ||
        (version->get<uint64_t>() != 1 && version->get<uint64_t>() != 2)) {
        problems->add("backup_manifest: not a PostgreSQL backup manifest of version 1 or 2");
        return std::nullopt;
    }
    const auto files = json.find("Files");
    const auto ranges = json.find("WAL-Ranges");
    if (files == json.end() || !files->is_array() || ranges == json.end() || !ranges->is_array()) {
        problems->add("backup_manifest: no Files or WAL-Ranges array");
        return std::nullopt;
    }
    PgManifest manifest;
    for (size_t i = 0; i < files->size(); ++i) {
        auto file = parse_manifest_file((*files)[i], i, problems);
        if (file && !manifest.files.emplace(file->first, file->second).second) {
            problems->add(file->first + ": listed twice in backup_manifest");
        }
    }
    for (size_t i = 0; i < ranges->size(); ++i) {
        if (auto range = parse_wal_range((*ranges)[i], i, problems)) {
            manifest.wal_ranges.push_back(*range);
        }
    }
    if (manifest.wal_ranges.empty()) problems->add("backup_manifest: no WAL range");
    return manifest;
}

// ---- checking ----

class FileChecksum {
  public:
    explicit FileChecksum(ChecksumAlgorithm algorithm) : algorithm_(algorithm) {}
    void update(const char* data, size_t size) {
        if (algorithm_ == ChecksumAlgorithm::kCrc32c) crc_ = crc32c(data, size, crc_);
        if (algorithm_ == ChecksumAlgorithm::kSha256) sha_.update(data, size);
    }
    // Once: the SHA-256 digest can be taken only once.
    std::string hex() {
        if (algorithm_ == ChecksumAlgorithm::kCrc32c) return pg_crc32c_hex(crc_);
        if (algorithm_ == ChecksumAlgorithm::kSha256) return sha_.hex_digest();
        return "";
    }

  private:
    ChecksumAlgorithm algorithm_;
    uint32_t crc_ = 0;
    Sha256 sha_;
};

struct CheckState {
    PgManifest manifest;
    TarCheckResult result;
    ProblemList problems;
    std::set<std::string> unread_tars;  // stems of data tars not read to the end
};

// Checks one regular entry of a data tar (base.tar or a tablespace tar) against the
// manifest; checksum_of(algorithm) gives the entry's checksum in the manifest's hex form
// (called only when the size matches and the algorithm is supported).
void check_listed_entry(const std::string& tar_name, const std::string& path, int64_t size,
                        const std::function<std::string(ChecksumAlgorithm)>& checksum_of,
                        CheckState* state) {
    const auto listed = state->manifest.files.find(path);
    if (listed == state->manifest.files.end()) {
        state->problems.add(path + ": in " + tar_name + " but not in the manifest");
        return;
    }
    PgManifestFile& file = listed->second;
    if (file.found) {
        state->problems.add(path + ": in " + tar_name + " twice");
        return;
    }
    file.found = true;
    if (size != file.size) {
        state->problems.add(path + ": size " + std::to_string(size) + " in " + tar_name + ", " +
                            std::to_string(file.size) + " in the manifest");
        return;
    }
    if (file.algorithm == ChecksumAlgorithm::kUnsupported) {
        state->problems.add(path + ": checksum algorithm " + file.algorithm_name +
                            " is not supported (only CRC32C, SHA256 and NONE)");
        return;
    }
    const std::string actual = checksum_of(file.algorithm);
    if (file.algorithm != ChecksumAlgorithm::kNone && actual != file.checksum) {
        state->problems.add(path + ": checksum mismatch (" + file.algorithm_name + " " +
                            file.checksum + " in the manifest, " + actual + " in " + tar_name +
                            ")");
        return;
    }
    ++state->result.files_checked;
    state->result.bytes_checked += size;
}

void check_data_file(TarReader& reader, archive_entry* entry, const std::string& path,
                     CheckState* state) {
    check_listed_entry(
        reader.file().name, path, archive_entry_size(entry),
        [&](ChecksumAlgorithm algorithm) {
            FileChecksum checksum(algorithm);
            reader.read_data(entry, [&](const char* data, size_t n) { checksum.update(data, n); });
            return checksum.hex();
        },
        state);
}

// base.tar's entries from digests made while it was written (CRC32C only).
void check_digested_base_tar(const BaseTarDigests& digests, CheckState* state) {
    for (const std::string& problem : digests.problems) state->problems.add(problem);
    for (const BaseTarDigests::Entry& entry : digests.entries) {
        check_listed_entry(
            digests.tar_name, entry.path, entry.size,
            [&](ChecksumAlgorithm algorithm) {
                return algorithm == ChecksumAlgorithm::kCrc32c ? pg_crc32c_hex(entry.crc32c)
                                                               : std::string();
            },
            state);
    }
    if (!digests.complete) {
        state->problems.add(digests.read_error);
        state->unread_tars.insert("base");
    }
}

// True when every checksum the manifest lists can be compared with a CRC-32C digest.
bool manifest_needs_only_crc32c(const PgManifest& manifest) {
    for (const auto& [path, file] : manifest.files) {
        if (file.algorithm != ChecksumAlgorithm::kCrc32c &&
            file.algorithm != ChecksumAlgorithm::kNone) {
            return false;
        }
    }
    return true;
}

// Checks base.tar (stem "base", prefix "") or a tablespace tar (stem "<oid>", prefix
// "pg_tblspc/<oid>/").
void check_data_tar(const TarFile& tar, const std::string& stem, const std::string& prefix,
                    CheckState* state) {
    try {
        TarReader reader(tar);
        while (archive_entry* entry = reader.next()) {
            const std::string name = entry_name(entry);
            std::string path;
            try {
                path = prefix + safe_entry_path(tar.name, name);
            } catch (const Error& e) {
                state->problems.add(e.what());
                continue;
            }
            if (archive_entry_filetype(entry) != AE_IFREG) continue;
            if (archive_entry_hardlink(entry) != nullptr) {
                state->problems.add(path + ": a hard link in " + tar.name);
                continue;
            }
            if (prefix.empty() && is_ignored_path(path)) continue;
            check_data_file(reader, entry, path, state);
        }
    } catch (const Error& e) {
        state->problems.add(e.what());
        state->unread_tars.insert(stem);
    }
}

// "pg_tblspc/<oid>/..." paths belong to <oid>.tar, everything else to base.tar.
std::string tar_stem_of(const std::string& path) {
    const std::string prefix = "pg_tblspc/";
    if (!starts_with(path, prefix)) return "base";
    const size_t slash = path.find('/', prefix.size());
    if (slash == std::string::npos) return "base";
    const std::string oid = path.substr(prefix.size(), slash - prefix.size());
    return all_digits(oid) ? oid : "base";
}

// Files of a tar that could not be read to its end (or is missing) are counted, not listed.
void report_missing_files(CheckState* state) {
    std::map<std::string, int64_t> unchecked;  // by tar stem
    for (const auto& [path, file] : state->manifest.files) {
        if (file.found || is_ignored_path(path)) continue;
        const std::string stem = tar_stem_of(path);
        if (state->unread_tars.count(stem) != 0) {
            ++unchecked[stem];
        } else {
            state->problems.add(path + ": in the manifest but missing from " + stem + ".tar");
        }
    }
    for (const auto& [stem, count] : unchecked) {
        state->problems.add(std::to_string(count) + " files of the manifest not checked: " + stem +
                            ".tar could not be read to its end");
    }
}

struct WalTarEntry {
    std::string name;
    int64_t size = 0;
};

std::vector<WalTarEntry> read_wal_tar_entries(const TarFile& tar, ProblemList* problems) {
    std::vector<WalTarEntry> entries;
    try {
        TarReader reader(tar);
        while (archive_entry* entry = reader.next()) {
            if (archive_entry_filetype(entry) != AE_IFREG) continue;
            const std::string name = entry_name(entry);
            const std::vector<std::string> parts = path_components(name);
            entries.push_back({join(parts), archive_entry_size(entry)});
            // Reading the data makes libarchive notice a truncated or corrupt stream.
            reader.read_data(entry, [](const char*, size_t) {});
        }
    } catch (const Error& e) {
        problems->add(e.what());
    }
    return entries;
}

// The segment size the segments in pg_wal.tar have (they are all full-sized).
uint64_t wal_segment_size_of(const std::vector<WalTarEntry>& entries, const std::string& tar_name,
                             ProblemList* problems) {
    for (const WalTarEntry& entry : entries) {
        if (!is_segment_name(entry.name)) continue;
        try {
            check_wal_segment_size(static_cast<uint64_t>(entry.size));
            return static_cast<uint64_t>(entry.size);
        } catch (const Error&) {
            problems->add(tar_name + ": WAL segment " + entry.name + " has " +
                          std::to_string(entry.size) + " bytes, not a WAL segment size");
            return kDefaultWalSegmentSize;
        }
    }
    return kDefaultWalSegmentSize;
}

void check_wal_tar(const TarFile& tar, CheckState* state) {
    const std::vector<WalTarEntry> entries = read_wal_tar_entries(tar, &state->problems);
    const uint64_t segment_size = wal_segment_size_of(entries, tar.name, &state->problems);
    std::set<std::string> segments;
    for (const WalTarEntry& entry : entries) {
        if (parse_wal_file_name(entry.name, segment_size).kind != WalFileKind::kSegment) continue;
        if (static_cast<uint64_t>(entry.size) != segment_size) {
            state->problems.add(tar.name + ": WAL segment " + entry.name + " has " +
                                std::to_string(entry.size) + " bytes, not " +
                                std::to_string(segment_size));
            continue;
        }
        segments.insert(entry.name);
    }
    state->result.wal_segments = static_cast<int64_t>(segments.size());
    for (const PgWalRange& range : state->manifest.wal_ranges) {
        const uint64_t first = lsn_to_segno(range.start_lsn, segment_size);
        // The end LSN points just past the last record: a segment starting there is not needed.
        const uint64_t last =
            std::max(first, lsn_to_segno(range.end_lsn > 0 ? range.end_lsn - 1 : 0, segment_size));
        if (last - first >= kMaxWalRangeSegments) {
            state->problems.add("backup_manifest: WAL range " + range.start_text + " to " +
                                range.end_text + " is implausibly long");
            continue;
        }
        for (uint64_t segno = first; segno <= last; ++segno) {
            const std::string name = wal_segment_name(range.timeline, segno, segment_size);
            if (segments.count(name) == 0) {
                state->problems.add(tar.name + ": WAL segment " + name +
                                    " is missing (the backup "
                                    "needs WAL from " +
                                    range.start_text + " to " + range.end_text + " on timeline " +
                                    std::to_string(range.timeline) + ")");
            }
        }
    }
}

void require_directory(const std::string& path, const char* what) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) throw_file_error("read", path, errno);
    if (!S_ISDIR(st.st_mode)) {
        throw Error(ErrorKind::kInvalidArgument,
                    std::string(what) + " " + path + " is not a directory", kLayoutHint);
    }
}

// ---- extraction ----

class Extractor {
  public:
    explicit Extractor(const std::string& pgdata) : pgdata_(pgdata) {}

    // Extracts every entry of tar under root_prefix ("" or "pg_wal/"); returns data bytes.
    int64_t extract(const TarFile& tar, const std::string& root_prefix) {
        TarReader reader(tar);
        int64_t bytes = 0;
        while (archive_entry* entry = reader.next()) {
            bytes += extract_entry(reader, entry, root_prefix);
        }
        return bytes;
    }

    // Creates directory `path` (relative to pgdata) and its parents, mode 0700.
    void make_directory(const std::string& tar_name, const std::string& path) {
        const std::vector<std::string> parts = path_components(path);
        for (size_t i = 1; i <= parts.size(); ++i) ensure_directory(tar_name, path, join(parts, i));
    }

    // fsyncs every directory created, then pgdata.
    void sync_directories() {
        for (auto it = created_directories_.rbegin(); it != created_directories_.rend(); ++it) {
            fsync_path(*it);
        }
        fsync_path(pgdata_);
    }

    // Removes what was created (pgdata was empty).
    void remove_created() noexcept {
        for (const std::string& name : created_top_level_) {
            try {
                remove_tree(pgdata_ + "/" + name);
            } catch (...) {
            }
        }
    }

  private:
    int64_t extract_entry(TarReader& reader, archive_entry* entry, const std::string& prefix) {
        const std::string& tar_name = reader.file().name;
        const std::string name = entry_name(entry);
        const std::string relative = safe_entry_path(tar_name, name);
        if (relative.empty()) {
            if (archive_entry_filetype(entry) == AE_IFDIR) return 0;  // "./": pgdata itself
            throw Error(ErrorKind::kInvalidArgument,
                        tar_name + ": entry \"" + name + "\" has an empty path", kUnsafeEntryHint);
        }
        const std::string path = prefix + relative;
        if (const char* hardlink = archive_entry_hardlink(entry)) {
            make_hard_link(tar_name, path, prefix + safe_entry_path(tar_name, hardlink));
            return 0;
        }
        switch (archive_entry_filetype(entry)) {
            case AE_IFDIR:
                make_directory(tar_name, path);
                return 0;
            case AE_IFREG:
                return write_file(reader, entry, path);
            case AE_IFLNK:
                make_symlink(tar_name, path, archive_entry_symlink(entry));
                return 0;
            default:
                throw Error(ErrorKind::kInvalidArgument,
                            tar_name + ": entry \"" + name +
                                "\" is not a file, directory or link (a device, FIFO or socket)",
                            kUnsafeEntryHint);
        }
    }

    std::string full(const std::string& path) const { return pgdata_ + "/" + path; }

    void remember_created(const std::string& path) {
        created_top_level_.insert(path_components(path).front());
    }

    // Makes sure `dir` (relative) is a real directory, creating it; never through a symlink.
    void ensure_directory(const std::string& tar_name, const std::string& entry_path,
                          const std::string& dir) {
        struct stat st;
        if (::lstat(full(dir).c_str(), &st) == 0) {
            if (S_ISDIR(st.st_mode)) return;
            throw Error(ErrorKind::kInvalidArgument,
                        tar_name + ": entry \"" + entry_path + "\" would be written through " +
                            (S_ISLNK(st.st_mode) ? "the symbolic link " : "the non-directory ") +
                            dir,
                        kUnsafeEntryHint);
        }
        if (errno != ENOENT) throw_file_error("read", full(dir), errno);
        if (::mkdir(full(dir).c_str(), kDirectoryMode) != 0) {
            throw_file_error("create directory", full(dir), errno);
        }
        if (::chmod(full(dir).c_str(), kDirectoryMode) != 0) {
            throw_file_error("set the mode of", full(dir), errno);
        }
        remember_created(dir);
        created_directories_.push_back(full(dir));
    }

    void make_parent_directories(const std::string& tar_name, const std::string& path) {
        const std::vector<std::string> parts = path_components(path);
        for (size_t i = 1; i < parts.size(); ++i) ensure_directory(tar_name, path, join(parts, i));
    }

    int64_t write_file(TarReader& reader, archive_entry* entry, const std::string& path) {
        make_parent_directories(reader.file().name, path);
        const std::string target = full(path);
        const mode_t mode = archive_entry_perm(entry) & kMaxFileMode;
        UniqueFd fd(open_retrying(target.c_str(),
                                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
        if (fd.get() < 0) throw_file_error("create", target, errno);
        remember_created(path);
        int64_t bytes = 0;
        reader.read_data(entry, [&](const char* data, size_t size) {
            write_all(fd.get(), target, data, size);
            bytes += static_cast<int64_t>(size);
        });
        if (::fchmod(fd.get(), mode) != 0) throw_file_error("set the mode of", target, errno);
        const struct timespec times[2] = {{archive_entry_mtime(entry), 0},
                                          {archive_entry_mtime(entry), 0}};
        if (::futimens(fd.get(), times) != 0) {
            throw_file_error("set the modification time of", target, errno);
        }
        if (::fsync(fd.get()) != 0) throw_file_error("fsync", target, errno);
        if (::close(fd.release()) != 0) throw_file_error("close", target, errno);
        return bytes;
    }

    static void write_all(int fd, const std::string& path, const char* data, size_t size) {
        while (size > 0) {
            const ssize_t written = ::write(fd, data, size);
            if (written < 0) {
                if (errno == EINTR) continue;
                throw_file_error("write", path, errno);
            }
            data += written;
            size -= static_cast<size_t>(written);
        }
    }

    void make_symlink(const std::string& tar_name, const std::string& path, const char* target) {
        const std::string text = target != nullptr ? target : "";
        if (!resolve_link_target(path, text)) {
            throw Error(ErrorKind::kInvalidArgument,
                        tar_name + ": symbolic link \"" + path + "\" -> \"" + text +
                            "\" points outside the data directory (a tablespace link?)",
                        kUnsafeEntryHint);
        }
        make_parent_directories(tar_name, path);
        if (::symlink(text.c_str(), full(path).c_str()) != 0) {
            throw_file_error("create symbolic link", full(path), errno);
        }
        remember_created(path);
    }

    void make_hard_link(const std::string& tar_name, const std::string& path,
                        const std::string& target) {
        make_parent_directories(tar_name, path);
        make_parent_directories(tar_name, target);
        if (::link(full(target).c_str(), full(path).c_str()) != 0) {
            throw_file_error("create hard link", full(path), errno);
        }
        remember_created(path);
    }

    std::string pgdata_;
    std::vector<std::string> created_directories_;
    std::set<std::string> created_top_level_;
};

}  // namespace

TarCheckResult check_tar_base_backup(const std::string& data_dir) {
    return check_tar_base_backup(data_dir, nullptr);
}

TarCheckResult check_tar_base_backup(const std::string& data_dir,
                                     const BaseTarDigests* base_digests) {
    require_directory(data_dir, "the backup directory");
    const std::string manifest_text = read_file(data_dir + "/backup_manifest");
    CheckState state;
    std::optional<PgManifest> manifest = parse_manifest(manifest_text, &state.problems);
    if (manifest) {
        state.manifest = std::move(*manifest);
        const auto tars = list_tar_files(data_dir);
        std::string problem;
        if (const auto base = the_tar(tars, "base", data_dir, &problem)) {
            if (base_digests != nullptr && base_digests->tar_name == base->name &&
                manifest_needs_only_crc32c(state.manifest)) {
                check_digested_base_tar(*base_digests, &state);
            } else {
                check_data_tar(*base, "base", "", &state);
            }
        } else {
            state.problems.add(problem);
            state.unread_tars.insert("base");
        }
        for (const auto& [stem, files] : tars) {
            if (!all_digits(stem)) continue;
            if (const auto tablespace = the_tar(tars, stem, data_dir, &problem)) {
                check_data_tar(*tablespace, stem, "pg_tblspc/" + stem + "/", &state);
            } else {
                state.problems.add(problem);
                state.unread_tars.insert(stem);
            }
        }
        report_missing_files(&state);
        if (const auto wal = the_tar(tars, "pg_wal", data_dir, &problem)) {
            check_wal_tar(*wal, &state);
        } else {
            state.problems.add(problem);
        }
    }
    state.result.ok = state.problems.empty();
    state.result.problems = state.problems.take();
    return state.result;
}

namespace {

// archive_read_open's source for a file another process is still appending to.
struct GrowingFile {
    int fd = -1;
    const std::function<bool()>* writer_running = nullptr;
    bool writer_done = false;
    std::unique_ptr<char[]> buffer{new char[kGrowingReadBytes]};
};

la_ssize_t read_growing(archive* reader, void* client, const void** buffer) {
    auto* file = static_cast<GrowingFile*>(client);
    for (;;) {
        const ssize_t n = ::read(file->fd, file->buffer.get(), kGrowingReadBytes);
        if (n > 0) {
            *buffer = file->buffer.get();
            return n;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            archive_set_error(reader, errno, "read: %s", errno_text(errno).c_str());
            return ARCHIVE_FATAL;
        }
        if (file->writer_done) return 0;  // the end, read after the writer ended
        // At the current end: once the writer has ended, read once more to the real end.
        if (!(*file->writer_running)()) {
            file->writer_done = true;
            continue;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

}  // namespace

BaseTarDigests digest_growing_base_tar(const std::string& path,
                                       const std::function<bool()>& writer_running) {
    BaseTarDigests digests;
    const size_t slash = path.rfind('/');
    digests.tar_name = slash == std::string::npos ? path : path.substr(slash + 1);
    std::optional<TarFile> tar;
    for (const TarSuffix& suffix : kTarSuffixes) {
        if (digests.tar_name == std::string("base") + suffix.suffix) {
            tar = TarFile{digests.tar_name, path, suffix.compression};
        }
    }
    if (!tar) {
        digests.read_error = path + ": not a base.tar name";
        return digests;
    }
    GrowingFile file;
    file.writer_running = &writer_running;
    for (;;) {
        file.fd = open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (file.fd >= 0) break;
        if (errno != ENOENT || !writer_running()) {
            // Once more: the writer may have made it just before it ended.
            file.fd = open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (file.fd >= 0) break;
            digests.read_error = "cannot read " + path + ": " + errno_text(errno);
            return digests;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const UniqueFd owner(file.fd);
    try {
        TarReader reader(*tar, &file, read_growing);
        while (archive_entry* entry = reader.next()) {
            std::string entry_path;
            try {
                entry_path = safe_entry_path(tar->name, entry_name(entry));
            } catch (const Error& e) {
                digests.problems.push_back(e.what());
                continue;
            }
            if (archive_entry_filetype(entry) != AE_IFREG) continue;
            if (archive_entry_hardlink(entry) != nullptr) {
                digests.problems.push_back(entry_path + ": a hard link in " + tar->name);
                continue;
            }
            if (is_ignored_path(entry_path)) continue;
            uint32_t crc = 0;
            reader.read_data(entry,
                             [&](const char* data, size_t n) { crc = crc32c(data, n, crc); });
            digests.entries.push_back({entry_path, archive_entry_size(entry), crc});
        }
        digests.complete = true;
    } catch (const Error& e) {
        digests.read_error = e.what();
    }
    return digests;
}

int64_t extract_tar_base_backup(const std::string& data_dir, const std::string& pgdata) {
    require_directory(data_dir, "the backup directory");
    const auto tars = list_tar_files(data_dir);
    for (const auto& [stem, files] : tars) {
        if (all_digits(stem)) {
            throw Error(ErrorKind::kInvalidArgument,
                        "the base backup in " + data_dir + " has a tablespace (" + files[0].name +
                            "); restoring tablespaces is not supported yet",
                        "Restore this backup by hand: extract base.tar into the data directory "
                        "and each <oid>.tar into the location tablespace_map gives for it.");
        }
    }
    std::string problem;
    const auto base = the_tar(tars, "base", data_dir, &problem);
    if (!base) throw Error(ErrorKind::kInvalidArgument, problem, kLayoutHint);
    const auto wal = the_tar(tars, "pg_wal", data_dir, &problem);
    if (!wal) throw Error(ErrorKind::kInvalidArgument, problem, kLayoutHint);
    require_directory(pgdata, "the data directory");
    if (!list_directory(pgdata).empty()) {
        throw Error(ErrorKind::kInvalidArgument, "the data directory " + pgdata + " is not empty",
                    "Restore into a new, empty directory, or empty this one first.");
    }
    Extractor extractor(pgdata);
    try {
        int64_t bytes = extractor.extract(*base, "");
        extractor.make_directory(wal->name, "pg_wal");
        bytes += extractor.extract(*wal, "pg_wal/");
        extractor.sync_directories();
        return bytes;
    } catch (...) {
        extractor.remove_created();
        throw;
    }
}

}  // namespace infra::core
