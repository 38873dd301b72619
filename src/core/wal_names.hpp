// wal_names.hpp: PostgreSQL's WAL file names, LSNs and timeline history files, as pure
// functions (no I/O, no shared state).
//
// A WAL segment is named TTTTTTTTXXXXXXXXYYYYYYYY (24 upper-case hex digits): timeline T,
// and the segment number split as segno / segments_per_id and segno % segments_per_id,
// where segments_per_id = 0x100000000 / segment_size (256 for 16 MB segments).
// Other archived names: "TTTTTTTT.history", "<segment>.XXXXXXXX.backup" (the backup
// history file, XXXXXXXX the start offset), "<segment>.partial".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infra::core {

constexpr uint64_t kDefaultWalSegmentSize = 16ull * 1024 * 1024;

// Throws Error(kInvalidArgument) unless size is a power of two from 1 MB to 1 GB.
void check_wal_segment_size(uint64_t segment_size);

enum class WalFileKind { kSegment, kHistory, kBackupHistory, kPartial, kOther };

struct WalFileName {
    WalFileKind kind = WalFileKind::kOther;
    uint32_t timeline = 0;  // all kinds but kOther
    uint64_t segno = 0;     // kSegment, kBackupHistory, kPartial
};

// Classifies an archive directory entry; kOther for anything that is not exactly one
// of the forms above (temporary files, lower-case hex, wrong lengths, timeline 0, a
// segment number out of range for segment_size).
WalFileName parse_wal_file_name(const std::string& name, uint64_t segment_size);

// "000000010000000A000000FF"
std::string wal_segment_name(uint32_t timeline, uint64_t segno, uint64_t segment_size);
// "00000002.history"
std::string history_file_name(uint32_t timeline);

// LSNs as PostgreSQL prints them: "16/B374D848" (upper or lower case hex, each half at
// most 8 digits). Throws Error(kInvalidArgument) naming the text otherwise.
uint64_t parse_lsn(const std::string& text);
std::string format_lsn(uint64_t lsn);  // "16/B374D848"
inline uint64_t lsn_to_segno(uint64_t lsn, uint64_t segment_size) {
    return lsn / segment_size;
}

// One line of a timeline history file: timeline `parent` ended at `switch_lsn`, where
// the file's own timeline (or a later entry's parent) begins.
struct TimelineSwitch {
    uint32_t parent = 0;
    uint64_t switch_lsn = 0;
};

// Parses the content of "TTTTTTTT.history" ("parentTLI<TAB>X/Y<TAB>reason" lines; blank
// lines and lines starting with '#' skipped). Entries stay in file order (oldest first).
// Throws Error(kInvalidArgument) on a malformed line, naming its number.
std::vector<TimelineSwitch> parse_timeline_history(const std::string& content);

}  // namespace infra::core
