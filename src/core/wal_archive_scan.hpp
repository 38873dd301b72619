// wal_archive_scan.hpp: what an infra_ext WAL archive directory holds, read offline (by
// infra_ext_ctl, the WAL monitor and infra.wal_archive_stats()/recovery_plan()).
//
// scan_wal_archive lists the directory once, reads each container's 32-byte header (not
// its payload; see wal_archive.hpp) and decodes every .history file (they are tiny), so
// a scan costs one open and one small read per file. No shared state; safe to run while
// the archiver adds files (a file renamed in after the listing is simply not seen).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/wal_names.hpp"

namespace infra::core {

struct ArchivedWalFile {
    std::string name;
    WalFileName parsed;
    int64_t stored_bytes = 0;    // the container's size on disk
    int64_t original_bytes = 0;  // from the header
    int64_t mtime_unix_us = 0;   // when it was archived (the file's mtime)
};

struct ArchiveScan {
    std::string dir;
    uint64_t segment_size = kDefaultWalSegmentSize;
    // WAL segments, sorted by (segno, timeline).
    std::vector<ArchivedWalFile> segments;
    // .history, .backup and .partial files, sorted by name.
    std::vector<ArchivedWalFile> history_files, backup_history_files, partial_files;
    // Names of leftover temporary files ("<name>.tmp.<pid>.<n>": an archiver that was
    // killed mid-write), and of other entries that are not archive files at all.
    std::vector<std::string> temporary_files, foreign_files;
    // "name: reason" for files with a valid name whose header is not a valid container
    // (or a .history file that cannot be decoded or parsed).
    std::vector<std::string> unreadable_files;
    // Decoded timeline histories, by the timeline each .history file belongs to.
    std::map<uint32_t, std::vector<TimelineSwitch>> histories;
    int64_t stored_bytes = 0, original_bytes = 0;  // over every valid archive file
};

// Scans dir (segment_size is needed to interpret segment numbers). Throws
// Error(kInvalidArgument) when dir does not exist or cannot be listed, naming it and
// the reason.
ArchiveScan scan_wal_archive(const std::string& dir,
                             uint64_t segment_size = kDefaultWalSegmentSize);

// The segments of one timeline: first and last segment number present, how many, and
// which numbers between first and last are missing (at most `max_listed` of them
// listed; missing_count counts all).
struct TimelineSegments {
    uint32_t timeline = 0;
    uint64_t first_segno = 0, last_segno = 0;
    size_t count = 0;
    std::vector<uint64_t> missing;
    size_t missing_count = 0;
};
std::vector<TimelineSegments> segments_by_timeline(const ArchiveScan& scan,
                                                   size_t max_listed = 100);

// The segment numbers in [from_segno, to_segno] (inclusive) that are absent on
// `timeline`, at most max_listed of them; *missing_count (if given) counts all.
std::vector<uint64_t> missing_segments(const ArchiveScan& scan, uint32_t timeline,
                                       uint64_t from_segno, uint64_t to_segno,
                                       size_t max_listed = 100, size_t* missing_count = nullptr);

// The newest segment number on `timeline` such that every segment from from_segno up
// to it is present; from_segno - 1 when from_segno itself is missing.
uint64_t last_contiguous_segno(const ArchiveScan& scan, uint32_t timeline, uint64_t from_segno);

// The archived segment (timeline, segno), or nullptr.
const ArchivedWalFile* find_segment(const ArchiveScan& scan, uint32_t timeline, uint64_t segno);

}  // namespace infra::core
