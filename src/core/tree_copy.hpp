// tree_copy.hpp: copying a plain base backup into a new data directory (infra_ext_ctl
// restore). No shared state.
#pragma once

#include <cstdint>
#include <string>

namespace infra::core {

struct TreeCopyResult {
    int64_t files = 0;
    int64_t bytes = 0;
};

// Copies the tree at from into to (which must not exist, or be an empty directory):
// directories keep their modes (to itself gets 0700), regular files are copied with
// copy_file_range (falling back to read/write) keeping their modes and fsynced (unless
// kLeaveToCaller), and
// symbolic links are recreated as they are. Anything else (devices, sockets, FIFOs) is
// refused. Throws Error(kInvalidArgument) naming the file and the reason; what was
// copied before a failure stays (the caller decides what to do with a half copy).
// kLeaveToCaller skips every fsync, for a caller that makes the whole tree durable
// itself: PostgreSQL fsyncs a data directory restored from a base backup when it
// starts (SyncDataDirectory, since its pg_control does not say "shut down"), so a
// restore that is followed by a start need not pay for it twice.
enum class Durability { kFsyncEverything, kLeaveToCaller };
TreeCopyResult copy_tree(const std::string& from, const std::string& to,
                         Durability durability = Durability::kFsyncEverything);

}  // namespace infra::core
