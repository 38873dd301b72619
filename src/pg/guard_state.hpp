// guard_state.hpp: the request guard's shared memory and the locked operations on it.
//
// One shared-memory region ("infra_ext guard") holds a header, the tracked-client table
// (core::TrackedTable), the blocklist and the allowlist (core::NetworkSet).
//
// Locking rules (docs/guard.md):
//  - locks[0], the lists lock, guards both network sets, lists_generation and
//    keeper_latch. Shared for lookups, exclusive for changes.
//  - locks[1 + i] guards tracked-table partition i (entries, index, LRU, counters).
//    Exclusive for a verdict (it updates the windows), shared for reads.
//  - A process never holds two of these locks at once; nothing that can raise an
//    error or wait runs while one is held.
//  - Counters that several partitions feed (blocked verdicts, auto-block totals) are
//    pg_atomic_uint64 and need no lock.
#pragma once

#include <cstdint>
#include <vector>

#include "core/network_set.hpp"
#include "core/rate_limiter.hpp"
#include "core/tracked_table.hpp"

struct Latch;  // storage/latch.h

namespace infra::pg {

enum class ListKind { kBlock, kAllow };

// Registered as shmem_request_hook / shmem_startup_hook by _PG_init.
void guard_request_shmem();
void guard_startup_shmem();

// Raises IX002 with a hint when infra_ext was not preloaded.
void require_guard_loaded();

// One request's verdict; takes the locks it needs. Never raises.
core::Verdict guard_check(const core::IpAddress& ip, int64_t request_bytes, int64_t now_us,
                          int64_t* block_expires_us);

struct SuspicionResult {
    bool allowlisted = false;
    bool blocked = false;  // blocked after this report (by it or before)
    int64_t blocked_until_us = 0;
    uint32_t strikes = 0;
    core::AutoBlock auto_block;
};
SuspicionResult guard_report_suspicious(const core::IpAddress& ip, uint32_t weight, int64_t now_us);

// A consistent copy of what the guard knows about one address.
struct IpState {
    core::Network key;
    bool tracked = false;
    core::TrackedIp entry{};
    core::WindowCounts counts;
    int32_t retry_after_s = 0;
    bool blocked = false;
    core::NetworkEntry block{};
    bool allowlisted = false;
    core::NetworkEntry allow{};
};
IpState guard_ip_state(const core::IpAddress& ip, int64_t now_us);

struct TopIp {
    core::IpAddress key;
    uint32_t minute = 0;
    uint32_t hour = 0;
    uint32_t last_seen_s = 0;
};

struct GuardStats {
    uint64_t tracked = 0;
    uint64_t capacity = 0;
    uint64_t evictions = 0;
    uint64_t verdicts[core::kReasonCount] = {};
    uint64_t table_bytes = 0;
    uint32_t partitions = 0;
    uint32_t blocks = 0, block_capacity = 0, allows = 0, allow_capacity = 0;
    uint32_t pending_persist = 0;
    uint64_t auto_blocks = 0, auto_block_failures = 0, suspicious_reports = 0;
    uint64_t list_apply_failures = 0;
    bool lists_loaded = false;
    std::vector<TopIp> top;
};
GuardStats guard_stats(int64_t now_us, size_t top_n);

// --- the lists (used by list_sync.cpp and the keeper) ---

struct ListChange {
    ListKind list;
    bool remove;  // false = upsert
    core::NetworkEntry entry;
};

// Applies committed changes under the lists lock; returns how many failed (set full).
// `reload` (TRUNCATE) empties the sets and makes the next check load the tables.
uint32_t lists_apply(const std::vector<ListChange>& changes, bool reload);
bool lists_loaded();
uint64_t lists_generation();
// Installs rows read from the tables if the generation is still `seen_generation`;
// `replace` drops entries absent from the rows (keeping unpersisted automatic blocks).
// Returns false when the generation moved (the caller reads again).
bool lists_install(const std::vector<ListChange>& rows, uint64_t seen_generation, bool replace,
                   uint32_t* failures);
// Whether the set holds exactly this network; `pending` tells whether it is an
// automatic block not yet written to the table.
bool lists_contains(ListKind list, const core::Network& network, bool* pending);
// Whether the set can take `network` now (it is there already, or there is room).
bool lists_has_room(ListKind list, const core::Network& network, uint32_t* capacity);
std::vector<core::NetworkEntry> lists_pending_auto_blocks();
void lists_clear_pending(const core::Network& network, int64_t created_us);
uint32_t lists_remove_expired(int64_t now_us);
void lists_reset();
// After an unblock: the client's tracked entry forgets its automatic block, so new
// strikes count again (its offence count, which doubles the next block, stays).
void tracked_clear_block(
    const core::Network& network);  // the extension was dropped: forget everything

// Offence counts (which double automatic blocks) live in the tracked table; after a
// start or crash the keeper restores them once from the audit log's auto_block rows.
bool offences_seeded();
void mark_offences_seeded();
void tracked_seed_offences(const core::Network& network, uint8_t offences, int64_t now_us);

// The keeper registers its latch so that new automatic blocks wake it at once.
void keeper_attach_latch(Latch* latch);
void keeper_detach_latch();
void keeper_wake();

// Microseconds <-> seconds as stored in TrackedIp.
inline uint32_t to_seconds(int64_t us) {
    return static_cast<uint32_t>(us / 1000000);
}

}  // namespace infra::pg
