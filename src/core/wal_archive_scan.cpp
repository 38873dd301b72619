// wal_archive_scan.cpp: what an infra_ext WAL archive directory holds
// (wal_archive_scan.hpp). One listing, then per entry one stat and one header read (the
// whole container for the tiny .history files); the gap queries then work on the
// segment list sorted by (segno, timeline). No shared state.
//
// Every entry lands in exactly one list: segments / history / backup / partial files when
// its name is valid and its container (and, for .history, its content) is readable,
// unreadable_files when the name is valid but the file is not, temporary_files or
// foreign_files otherwise. An entry removed between the listing and its read (retention
// cleaning up concurrently) is left out.
#include "core/wal_archive_scan.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <tuple>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/wal_archive.hpp"

namespace infra::core {

namespace {

const std::string kTemporaryMarker = ".tmp.";

std::string join(const std::string& dir, const std::string& name) {
    if (!dir.empty() && dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

// Throws unless dir is an existing directory.
void check_archive_directory(const std::string& dir) {
    if (dir.empty()) {
        throw Error(ErrorKind::kInvalidArgument, "no WAL archive directory was given",
                    "Set infra.wal_archive_dir to the archive directory.");
    }
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) {
        const int err = errno;
        throw Error(ErrorKind::kInvalidArgument,
                    "could not scan WAL archive directory " + dir + ": " + errno_text(err),
                    err == ENOENT ? "Check infra.wal_archive_dir and that the archive's file "
                                    "system is mounted."
                                  : file_error_hint(err));
    }
    if (!S_ISDIR(st.st_mode)) {
        throw Error(ErrorKind::kInvalidArgument,
                    "could not scan WAL archive directory " + dir + ": it is not a directory",
                    "Check infra.wal_archive_dir: it must name the archive directory.");
    }
}

// "<archive name>.tmp.<anything>": what archive_wal_file writes before its rename.
bool is_temporary_name(const std::string& name, uint64_t segment_size) {
    const size_t marker = name.find(kTemporaryMarker);
    return marker != std::string::npos &&
           parse_wal_file_name(name.substr(0, marker), segment_size).kind != WalFileKind::kOther;
}

int64_t mtime_unix_us(const struct stat& st) {
    return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
}

// False once path has been removed (so a failure to read it is no news).
bool still_exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

std::vector<ArchivedWalFile>& list_of_kind(ArchiveScan& scan, WalFileKind kind) {
    switch (kind) {
        case WalFileKind::kSegment:
            return scan.segments;
        case WalFileKind::kHistory:
            return scan.history_files;
        case WalFileKind::kBackupHistory:
            return scan.backup_history_files;
        case WalFileKind::kPartial:
            return scan.partial_files;
        case WalFileKind::kOther:
            break;
    }
    throw Error(ErrorKind::kInternal, "wal_archive_scan: list_of_kind called for kOther");
}

// Reads the archive file `name` (a valid archive name) into scan.
void add_archive_file(ArchiveScan& scan, const std::string& name, const WalFileName& parsed) {
    const std::string path = join(scan.dir, name);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        const int err = errno;
        if (err == ENOENT) return;  // removed since the listing
        scan.unreadable_files.push_back(name + ": could not stat " + path + ": " + errno_text(err));
        return;
    }
    ArchivedWalFile file;
    file.name = name;
    file.parsed = parsed;
    file.mtime_unix_us = mtime_unix_us(st);
    try {
        if (parsed.kind == WalFileKind::kHistory) {
            const std::string content = read_archived_file(path);
            scan.histories[parsed.timeline] = parse_timeline_history(content);
            file.original_bytes = static_cast<int64_t>(content.size());
            file.stored_bytes = static_cast<int64_t>(st.st_size);
        } else {
            const ArchivedFileInfo info = read_archived_file_info(path);
            file.original_bytes = info.original_bytes;
            file.stored_bytes = info.stored_bytes;
        }
    } catch (const Error& e) {
        if (still_exists(path)) scan.unreadable_files.push_back(name + ": " + e.what());
        return;
    }
    scan.stored_bytes += file.stored_bytes;
    scan.original_bytes += file.original_bytes;
    list_of_kind(scan, parsed.kind).push_back(std::move(file));
}

bool by_segno_then_timeline(const ArchivedWalFile& a, const ArchivedWalFile& b) {
    return std::tie(a.parsed.segno, a.parsed.timeline) <
           std::tie(b.parsed.segno, b.parsed.timeline);
}

bool by_name(const ArchivedWalFile& a, const ArchivedWalFile& b) {
    return a.name < b.name;
}

// The first segment whose segno is at least segno.
std::vector<ArchivedWalFile>::const_iterator first_segment_from(const ArchiveScan& scan,
                                                                uint64_t segno) {
    return std::lower_bound(
        scan.segments.begin(), scan.segments.end(), segno,
        [](const ArchivedWalFile& file, uint64_t value) { return file.parsed.segno < value; });
}

// Collects missing segment numbers: at most max_listed listed, all counted.
class MissingList {
  public:
    explicit MissingList(size_t max_listed) : max_listed_(max_listed) {}

    // The segments first..last (inclusive, first <= last) are missing.
    void add(uint64_t first, uint64_t last) {
        for (uint64_t s = first; listed_.size() < max_listed_; ++s) {
            listed_.push_back(s);
            if (s == last) break;
        }
        const uint64_t span_minus_one = last - first;
        const size_t room = SIZE_MAX - count_;
        count_ = span_minus_one >= room ? SIZE_MAX : count_ + span_minus_one + 1;
    }

    std::vector<uint64_t>& listed() { return listed_; }
    size_t count() const { return count_; }

  private:
    size_t max_listed_;
    std::vector<uint64_t> listed_;
    size_t count_ = 0;
};

}  // namespace

ArchiveScan scan_wal_archive(const std::string& dir, uint64_t segment_size) {
    check_wal_segment_size(segment_size);
    check_archive_directory(dir);
    ArchiveScan scan;
    scan.dir = dir;
    scan.segment_size = segment_size;
    for (const std::string& name : list_directory(dir)) {
        const WalFileName parsed = parse_wal_file_name(name, segment_size);
        if (parsed.kind != WalFileKind::kOther) {
            add_archive_file(scan, name, parsed);
        } else if (is_temporary_name(name, segment_size)) {
            scan.temporary_files.push_back(name);
        } else {
            scan.foreign_files.push_back(name);
        }
    }
    std::sort(scan.segments.begin(), scan.segments.end(), by_segno_then_timeline);
    for (auto* files : {&scan.history_files, &scan.backup_history_files, &scan.partial_files}) {
        std::sort(files->begin(), files->end(), by_name);
    }
    for (auto* names : {&scan.temporary_files, &scan.foreign_files, &scan.unreadable_files}) {
        std::sort(names->begin(), names->end());
    }
    return scan;
}

std::vector<TimelineSegments> segments_by_timeline(const ArchiveScan& scan, size_t max_listed) {
    struct Building {
        TimelineSegments segments;
        MissingList missing;
    };
    std::map<uint32_t, Building> timelines;
    // scan.segments is sorted by segno, so each timeline's segments come in order.
    for (const ArchivedWalFile& file : scan.segments) {
        const uint32_t timeline = file.parsed.timeline;
        const uint64_t segno = file.parsed.segno;
        auto [it, inserted] =
            timelines.try_emplace(timeline, Building{{}, MissingList(max_listed)});
        TimelineSegments& t = it->second.segments;
        if (inserted) {
            t.timeline = timeline;
            t.first_segno = segno;
        } else if (segno > t.last_segno + 1) {
            it->second.missing.add(t.last_segno + 1, segno - 1);
        }
        t.last_segno = segno;
        ++t.count;
    }
    std::vector<TimelineSegments> result;
    result.reserve(timelines.size());
    for (auto& [timeline, building] : timelines) {
        building.segments.missing = std::move(building.missing.listed());
        building.segments.missing_count = building.missing.count();
        result.push_back(std::move(building.segments));
    }
    return result;
}

std::vector<uint64_t> missing_segments(const ArchiveScan& scan, uint32_t timeline,
                                       uint64_t from_segno, uint64_t to_segno, size_t max_listed,
                                       size_t* missing_count) {
    MissingList missing(max_listed);
    if (from_segno <= to_segno) {
        uint64_t next = from_segno;  // the first segment number not yet accounted for
        bool done = false;
        for (auto it = first_segment_from(scan, from_segno);
             it != scan.segments.end() && it->parsed.segno <= to_segno; ++it) {
            if (it->parsed.timeline != timeline) continue;
            if (it->parsed.segno > next) missing.add(next, it->parsed.segno - 1);
            if (it->parsed.segno == to_segno) done = true;
            next = it->parsed.segno + 1;
        }
        if (!done) missing.add(next, to_segno);
    }
    if (missing_count != nullptr) *missing_count = missing.count();
    return std::move(missing.listed());
}

uint64_t last_contiguous_segno(const ArchiveScan& scan, uint32_t timeline, uint64_t from_segno) {
    uint64_t next = from_segno;  // the first segment number not yet found present
    for (auto it = first_segment_from(scan, from_segno); it != scan.segments.end(); ++it) {
        if (it->parsed.segno > next) break;
        if (it->parsed.timeline == timeline && it->parsed.segno == next) ++next;
    }
    return next - 1;
}

const ArchivedWalFile* find_segment(const ArchiveScan& scan, uint32_t timeline, uint64_t segno) {
    auto it = first_segment_from(scan, segno);
    for (; it != scan.segments.end() && it->parsed.segno == segno; ++it) {
        if (it->parsed.timeline == timeline) return &*it;
    }
    return nullptr;
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
