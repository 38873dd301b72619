// guard_state.cpp: creation of the guard's shared memory and every locked operation on
// it. See guard_state.hpp for the locking rules; each function here takes and releases
// its lock itself and never calls anything that can raise while holding it.
#include "pg/guard_state.hpp"

#include <algorithm>
#include <cstring>

#include "core/errors.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "port/atomics.h"
}

namespace infra::pg {

namespace {

constexpr const char* kTrancheName = "infra_ext guard";
constexpr const char* kRegionName = "infra_ext guard";

struct GuardShared {
    LWLockPadded* locks;  // [0] lists, [1 + i] tracked partition i
    uint32_t partitions;
    pg_atomic_uint32 lists_loaded;
    pg_atomic_uint32 pending_hint;     // set when an automatic block may await the keeper
    pg_atomic_uint32 offences_seeded;  // the keeper restored offence counts after start
    // Entries in both lists together, published under the exclusive lists lock: a check
    // skips the lists lock entirely while both lists are empty.
    pg_atomic_uint32 list_entries;
    uint64_t lists_generation;  // lists lock
    Latch* keeper_latch;        // lists lock
    pg_atomic_uint64 blocked_verdicts;
    pg_atomic_uint64 allowlisted_verdicts;
    pg_atomic_uint64 auto_blocks;
    pg_atomic_uint64 auto_block_failures;
    pg_atomic_uint64 suspicious_reports;
    pg_atomic_uint64 list_apply_failures;
    Size table_offset;
    Size blocks_offset;
    Size allows_offset;
};

GuardShared* shared = nullptr;  // this process's pointer into shared memory

Size header_size() {
    return MAXALIGN(sizeof(GuardShared));
}

Size region_size() {
    return header_size() + MAXALIGN(core::TrackedTable::bytes_needed(setting_max_tracked_ips)) +
           MAXALIGN(core::NetworkSet::bytes_needed(setting_max_blocks)) +
           MAXALIGN(core::NetworkSet::bytes_needed(setting_max_allowed));
}

char* base() {
    return reinterpret_cast<char*>(shared);
}
core::TrackedTable table() {
    return core::TrackedTable::attach(base() + shared->table_offset);
}
core::NetworkSet blocks() {
    return core::NetworkSet::attach(base() + shared->blocks_offset);
}
core::NetworkSet allows() {
    return core::NetworkSet::attach(base() + shared->allows_offset);
}
core::NetworkSet list_of(ListKind kind) {
    return kind == ListKind::kBlock ? blocks() : allows();
}

LWLock* lists_lock() {
    return &shared->locks[0].lock;
}
LWLock* partition_lock(uint32_t partition) {
    return &shared->locks[1 + partition].lock;
}

// Releases the lists lock held exclusively, publishing the new entry count first.
void release_lists_exclusive() {
    pg_atomic_write_u32(&shared->list_entries, blocks().size() + allows().size());
    LWLockRelease(lists_lock());
}

// Runs visit(entry, partition header) on the client's tracked entry — inserted (evicting
// if needed) when absent — under its partition's exclusive lock. visit must not raise.
template <typename Visit>
void with_tracked_entry(const core::Network& key, int64_t now_us, Visit visit) {
    core::TrackedTable t = table();
    uint64_t hash = t.hash(key.address);
    uint32_t partition = t.partition_of(hash);
    bool inserted = false;
    LWLockAcquire(partition_lock(partition), LW_EXCLUSIVE);
    core::TrackedIp* entry =
        t.find_or_insert(partition, hash, key.address, to_seconds(now_us), &inserted);
    visit(*entry, t.header(partition));
    LWLockRelease(partition_lock(partition));
}

// Whether `network` is the key the guard counts a client under (an IPv4 address, or
// an IPv6 prefix of infra.ddos_ipv6_prefix bits).
bool is_client_key(const core::Network& network, const core::GuardSettings& settings) {
    return network.address.is_v4() ? network.prefix == 128 : network.prefix == settings.ipv6_prefix;
}

// Puts an automatic block into the blocklist; never shortens a longer block.
void add_auto_block(const core::Network& network, const core::AutoBlock& block, int64_t now_us) {
    core::NetworkEntry entry{};
    entry.address = network.address;
    entry.prefix = network.prefix;
    entry.source = static_cast<uint8_t>(core::BlockSource::kAuto);
    entry.pending_persist = 1;
    entry.offence = block.offence;
    entry.created_us = now_us;
    entry.expires_us = now_us + static_cast<int64_t>(block.duration_s) * 1000000;
    bool stored = true;
    LWLockAcquire(lists_lock(), LW_EXCLUSIVE);
    core::NetworkSet set = blocks();
    core::NetworkEntry* existing = set.find(network);
    if (existing == nullptr || existing->expires_us < entry.expires_us) {
        stored = set.upsert(entry);
        ++shared->lists_generation;
    }
    Latch* latch = shared->keeper_latch;
    release_lists_exclusive();
    pg_atomic_write_u32(&shared->pending_hint, 1);
    pg_atomic_fetch_add_u64(stored ? &shared->auto_blocks : &shared->auto_block_failures, 1);
    if (latch != nullptr) SetLatch(latch);
}

}  // namespace

void guard_request_shmem() {
    RequestAddinShmemSpace(region_size());
    RequestNamedLWLockTranche(kTrancheName,
                              1 + core::TrackedTable::partitions_for(setting_max_tracked_ips));
}

void guard_startup_shmem() {
    shared = nullptr;  // a crash restart re-runs this in the postmaster with fresh memory
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    auto* region = static_cast<GuardShared*>(ShmemInitStruct(kRegionName, region_size(), &found));
    if (!found) {
        std::memset(region, 0, header_size());
        region->locks = GetNamedLWLockTranche(kTrancheName);
        region->partitions = core::TrackedTable::partitions_for(setting_max_tracked_ips);
        pg_atomic_init_u32(&region->lists_loaded, 0);
        pg_atomic_init_u32(&region->pending_hint, 0);
        pg_atomic_init_u32(&region->offences_seeded, 0);
        pg_atomic_init_u32(&region->list_entries, 0);
        for (pg_atomic_uint64* counter :
             {&region->blocked_verdicts, &region->allowlisted_verdicts, &region->auto_blocks,
              &region->auto_block_failures, &region->suspicious_reports,
              &region->list_apply_failures}) {
            pg_atomic_init_u64(counter, 0);
        }
        uint64_t seed = 0;
        if (!pg_strong_random(&seed, sizeof seed)) seed = static_cast<uint64_t>(MyStartTime);
        region->table_offset = header_size();
        region->blocks_offset = region->table_offset +
                                MAXALIGN(core::TrackedTable::bytes_needed(setting_max_tracked_ips));
        region->allows_offset =
            region->blocks_offset + MAXALIGN(core::NetworkSet::bytes_needed(setting_max_blocks));
        char* start = reinterpret_cast<char*>(region);
        core::TrackedTable::format(start + region->table_offset, setting_max_tracked_ips, seed);
        core::NetworkSet::format(start + region->blocks_offset, setting_max_blocks, seed ^ 1);
        core::NetworkSet::format(start + region->allows_offset, setting_max_allowed, seed ^ 2);
    }
    LWLockRelease(AddinShmemInitLock);
    shared = region;
}

void require_guard_loaded() {
    if (shared == nullptr) {
        throw core::Error(core::ErrorKind::kNotLoaded,
                          "infra_ext is not loaded through shared_preload_libraries",
                          "Add infra_ext to shared_preload_libraries in postgresql.conf and "
                          "restart the server.");
    }
}

core::Verdict guard_check(const core::IpAddress& ip, int64_t request_bytes, int64_t now_us,
                          int64_t* block_expires_us) {
    core::GuardSettings settings = guard_settings();
    core::Verdict verdict;

    bool allowlisted = false;
    bool blocked = false;
    if (pg_atomic_read_u32(&shared->list_entries) != 0) {
        LWLockAcquire(lists_lock(), LW_SHARED);
        allowlisted = allows().match(ip, now_us) != nullptr;
        const core::NetworkEntry* block = allowlisted ? nullptr : blocks().match(ip, now_us);
        if (block != nullptr) {
            blocked = true;
            *block_expires_us = block->expires_us;
        }
        LWLockRelease(lists_lock());
    }

    if (allowlisted || blocked) {
        verdict.allowed = allowlisted;
        verdict.reason = allowlisted ? core::Reason::kAllowlisted : core::Reason::kBlocked;
        pg_atomic_fetch_add_u64(
            allowlisted ? &shared->allowlisted_verdicts : &shared->blocked_verdicts, 1);
        return verdict;
    }

    core::Network key = core::client_key(ip, settings.ipv6_prefix);
    with_tracked_entry(key, now_us, [&](core::TrackedIp& entry, core::PartitionHeader& header) {
        verdict = core::admit(entry, now_us, request_bytes, settings);
        ++header.verdicts[static_cast<int>(verdict.reason)];
    });

    if (verdict.auto_block.triggered) add_auto_block(key, verdict.auto_block, now_us);
    return verdict;
}

SuspicionResult guard_report_suspicious(const core::IpAddress& ip, uint32_t weight,
                                        int64_t now_us) {
    core::GuardSettings settings = guard_settings();
    SuspicionResult result;
    pg_atomic_fetch_add_u64(&shared->suspicious_reports, 1);

    LWLockAcquire(lists_lock(), LW_SHARED);
    result.allowlisted = allows().match(ip, now_us) != nullptr;
    LWLockRelease(lists_lock());
    if (result.allowlisted) return result;  // never auto-blocked

    core::Network key = core::client_key(ip, settings.ipv6_prefix);
    with_tracked_entry(key, now_us, [&](core::TrackedIp& entry, core::PartitionHeader&) {
        result.auto_block = core::add_strikes(entry, to_seconds(now_us), weight, settings);
        result.strikes = core::counts_at(entry, to_seconds(now_us), settings).strikes;
    });

    if (result.auto_block.triggered) add_auto_block(key, result.auto_block, now_us);

    LWLockAcquire(lists_lock(), LW_SHARED);
    const core::NetworkEntry* block = blocks().match(ip, now_us);
    if (block != nullptr) {
        result.blocked = true;
        result.blocked_until_us = block->expires_us;
    }
    LWLockRelease(lists_lock());
    return result;
}

IpState guard_ip_state(const core::IpAddress& ip, int64_t now_us) {
    core::GuardSettings settings = guard_settings();
    IpState state;
    state.key = core::client_key(ip, settings.ipv6_prefix);

    LWLockAcquire(lists_lock(), LW_SHARED);
    if (const core::NetworkEntry* allow = allows().match(ip, now_us)) {
        state.allowlisted = true;
        state.allow = *allow;
    }
    if (const core::NetworkEntry* block = blocks().match(ip, now_us)) {
        state.blocked = true;
        state.block = *block;
    }
    LWLockRelease(lists_lock());

    core::TrackedTable t = table();
    uint64_t hash = t.hash(state.key.address);
    uint32_t partition = t.partition_of(hash);
    LWLockAcquire(partition_lock(partition), LW_SHARED);
    if (const core::TrackedIp* entry = t.find(partition, hash, state.key.address)) {
        state.tracked = true;
        state.entry = *entry;
    }
    LWLockRelease(partition_lock(partition));
    if (state.tracked) {
        state.counts = core::counts_at(state.entry, to_seconds(now_us), settings);
        state.retry_after_s = core::retry_after(state.entry, now_us, settings);
    }
    return state;
}

GuardStats guard_stats(int64_t now_us, size_t top_n) {
    core::GuardSettings settings = guard_settings();
    GuardStats stats;
    core::TrackedTable t = table();
    stats.partitions = t.partitions();
    stats.capacity = t.capacity();
    stats.table_bytes = t.bytes();
    uint32_t now_s = to_seconds(now_us);
    auto busier = [](const TopIp& a, const TopIp& b) {
        return a.hour != b.hour ? a.hour > b.hour : a.minute > b.minute;
    };
    for (uint32_t p = 0; p < t.partitions(); ++p) {
        LWLockAcquire(partition_lock(p), LW_SHARED);
        const core::PartitionHeader& h = t.header(p);
        stats.tracked += h.count;
        stats.evictions += h.evictions;
        for (int r = 0; r < core::kReasonCount; ++r) stats.verdicts[r] += h.verdicts[r];
        const core::TrackedIp* e = t.entries(p);
        for (uint32_t i = 0; i < h.capacity; ++i) {
            if (!e[i].in_use) continue;
            core::WindowCounts c = core::counts_at(e[i], now_s, settings);
            if (c.hour == 0) continue;
            TopIp candidate{e[i].key, c.minute, c.hour, e[i].last_seen_s};
            if (stats.top.size() < top_n) {
                stats.top.push_back(candidate);
                std::push_heap(stats.top.begin(), stats.top.end(), busier);
            } else if (top_n > 0 && busier(candidate, stats.top.front())) {
                std::pop_heap(stats.top.begin(), stats.top.end(), busier);
                stats.top.back() = candidate;
                std::push_heap(stats.top.begin(), stats.top.end(), busier);
            }
        }
        LWLockRelease(partition_lock(p));
    }
    std::sort(stats.top.begin(), stats.top.end(), busier);
    stats.verdicts[static_cast<int>(core::Reason::kBlocked)] +=
        pg_atomic_read_u64(&shared->blocked_verdicts);
    stats.verdicts[static_cast<int>(core::Reason::kAllowlisted)] +=
        pg_atomic_read_u64(&shared->allowlisted_verdicts);
    stats.auto_blocks = pg_atomic_read_u64(&shared->auto_blocks);
    stats.auto_block_failures = pg_atomic_read_u64(&shared->auto_block_failures);
    stats.suspicious_reports = pg_atomic_read_u64(&shared->suspicious_reports);
    stats.list_apply_failures = pg_atomic_read_u64(&shared->list_apply_failures);
    stats.lists_loaded = pg_atomic_read_u32(&shared->lists_loaded) != 0;

    LWLockAcquire(lists_lock(), LW_SHARED);
    stats.blocks = blocks().size();
    stats.block_capacity = blocks().capacity();
    stats.allows = allows().size();
    stats.allow_capacity = allows().capacity();
    blocks().for_each(
        [&](const core::NetworkEntry& e) { stats.pending_persist += e.pending_persist; });
    LWLockRelease(lists_lock());
    return stats;
}

namespace {

// Empties both sets but for automatic blocks the keeper has not yet written down.
// Lists lock held exclusively.
void clear_all_but_pending() {
    core::NetworkSet set = blocks();
    std::vector<core::Network> drop;
    set.for_each([&](const core::NetworkEntry& e) {
        if (!e.pending_persist) drop.push_back(core::Network{e.address, e.prefix});
    });
    for (const core::Network& n : drop) set.remove(n);
    allows().clear();
}

}  // namespace

uint32_t lists_apply(const std::vector<ListChange>& changes, bool reload) {
    uint32_t failures = 0;
    LWLockAcquire(lists_lock(), LW_EXCLUSIVE);
    if (reload) clear_all_but_pending();  // the next check loads the tables afresh
    for (const ListChange& change : changes) {
        core::NetworkSet set = list_of(change.list);
        core::Network network{change.entry.address, change.entry.prefix};
        if (change.remove) {
            set.remove(network);
        } else if (!set.upsert(change.entry)) {
            ++failures;
        }
    }
    ++shared->lists_generation;
    if (reload || failures > 0) pg_atomic_write_u32(&shared->lists_loaded, 0);
    Latch* latch = shared->keeper_latch;
    release_lists_exclusive();
    if (failures > 0) {
        pg_atomic_fetch_add_u64(&shared->list_apply_failures, failures);
        if (latch != nullptr) SetLatch(latch);
    }
    return failures;
}

bool lists_loaded() {
    return pg_atomic_read_u32(&shared->lists_loaded) != 0;
}

uint64_t lists_generation() {
    LWLockAcquire(lists_lock(), LW_SHARED);
    uint64_t generation = shared->lists_generation;
    LWLockRelease(lists_lock());
    return generation;
}

bool lists_install(const std::vector<ListChange>& rows, uint64_t seen_generation, bool replace,
                   uint32_t* failures) {
    *failures = 0;
    LWLockAcquire(lists_lock(), LW_EXCLUSIVE);
    if (!replace && pg_atomic_read_u32(&shared->lists_loaded) != 0) {
        release_lists_exclusive();
        return true;  // another process loaded them meanwhile
    }
    if (shared->lists_generation != seen_generation) {
        release_lists_exclusive();
        return false;
    }
    if (replace) {
        std::vector<core::NetworkEntry> pending;
        blocks().for_each([&](const core::NetworkEntry& e) {
            if (e.pending_persist) pending.push_back(e);
        });
        blocks().clear();
        allows().clear();
        for (const core::NetworkEntry& e : pending) blocks().upsert(e);
        if (!pending.empty()) pg_atomic_write_u32(&shared->pending_hint, 1);
    }
    for (const ListChange& row : rows) {
        core::NetworkSet set = list_of(row.list);
        core::NetworkEntry* existing = set.find(core::Network{row.entry.address, row.entry.prefix});
        if (existing != nullptr && existing->pending_persist &&
            existing->expires_us > row.entry.expires_us) {
            continue;  // an unpersisted, longer automatic block wins until the keeper writes it
        }
        if (!set.upsert(row.entry)) ++*failures;
    }
    ++shared->lists_generation;
    pg_atomic_write_u32(&shared->lists_loaded, 1);
    release_lists_exclusive();
    return true;
}

bool lists_contains(ListKind list, const core::Network& network, bool* pending) {
    LWLockAcquire(lists_lock(), LW_SHARED);
    const core::NetworkEntry* e = list_of(list).find(network);
    bool present = e != nullptr;
    *pending = present && e->pending_persist;
    LWLockRelease(lists_lock());
    return present;
}

bool lists_has_room(ListKind list, const core::Network& network, uint32_t* capacity) {
    LWLockAcquire(lists_lock(), LW_SHARED);
    core::NetworkSet set = list_of(list);
    *capacity = set.capacity();
    bool room = set.find(network) != nullptr || set.size() < set.capacity();
    LWLockRelease(lists_lock());
    return room;
}

std::vector<core::NetworkEntry> lists_pending_auto_blocks() {
    std::vector<core::NetworkEntry> pending;
    // The scan walks the whole set, so it runs only after an automatic block was made.
    if (pg_atomic_exchange_u32(&shared->pending_hint, 0) == 0) return pending;
    LWLockAcquire(lists_lock(), LW_SHARED);
    blocks().for_each([&](const core::NetworkEntry& e) {
        if (e.pending_persist) pending.push_back(e);
    });
    LWLockRelease(lists_lock());
    return pending;
}

void lists_clear_pending(const core::Network& network, int64_t created_us) {
    LWLockAcquire(lists_lock(), LW_EXCLUSIVE);
    core::NetworkEntry* e = blocks().find(network);
    if (e != nullptr && e->created_us == created_us) e->pending_persist = 0;
    release_lists_exclusive();
}

uint32_t lists_remove_expired(int64_t now_us) {
    LWLockAcquire(lists_lock(), LW_EXCLUSIVE);
    uint32_t removed = blocks().remove_expired(now_us) + allows().remove_expired(now_us);
    if (removed > 0) ++shared->lists_generation;
    release_lists_exclusive();
    return removed;
}

void lists_reset() {
    LWLockAcquire(lists_lock(), LW_EXCLUSIVE);
    blocks().clear();
    allows().clear();
    ++shared->lists_generation;
    pg_atomic_write_u32(&shared->lists_loaded, 0);
    release_lists_exclusive();
}

void tracked_clear_block(const core::Network& network) {
    if (!is_client_key(network, guard_settings())) return;
    core::TrackedTable t = table();
    uint64_t hash = t.hash(network.address);
    uint32_t partition = t.partition_of(hash);
    LWLockAcquire(partition_lock(partition), LW_EXCLUSIVE);
    if (core::TrackedIp* entry = t.find(partition, hash, network.address)) {
        entry->block_until_s = 0;  // strikes count again; offences (escalation) stay
    }
    LWLockRelease(partition_lock(partition));
}

bool offences_seeded() {
    return pg_atomic_read_u32(&shared->offences_seeded) != 0;
}

void mark_offences_seeded() {
    pg_atomic_write_u32(&shared->offences_seeded, 1);
}

void tracked_seed_offences(const core::Network& network, uint8_t offences, int64_t now_us) {
    if (offences == 0 || !is_client_key(network, guard_settings())) return;
    with_tracked_entry(network, now_us, [&](core::TrackedIp& entry, core::PartitionHeader&) {
        if (entry.offences < offences) entry.offences = offences;
    });
}

void keeper_attach_latch(Latch* latch) {
    LWLockAcquire(lists_lock(), LW_EXCLUSIVE);
    shared->keeper_latch = latch;
    release_lists_exclusive();
}

void keeper_detach_latch() {
    if (shared == nullptr) return;
    LWLockAcquire(lists_lock(), LW_EXCLUSIVE);
    shared->keeper_latch = nullptr;
    release_lists_exclusive();
}

void keeper_wake() {
    LWLockAcquire(lists_lock(), LW_SHARED);
    Latch* latch = shared->keeper_latch;
    LWLockRelease(lists_lock());
    if (latch != nullptr) SetLatch(latch);
}

}  // namespace infra::pg
