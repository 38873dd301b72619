// tracked_table.hpp: the fixed-size table of tracked clients, laid out in one block
// of (shared) memory.
//
// The table is split into P partitions (a power of two, up to 128), chosen by the
// high bits of a seeded hash of the key. Each partition is self-contained: a header,
// an array of TrackedIp entries, a linear-probing index of uint16 entry numbers, and
// an LRU list threaded through the entries. When a partition is full, inserting a new
// key evicts its least recently seen entry that is not under an automatic block (or,
// if every entry is blocked, the least recently seen one) and counts the eviction.
// Memory never grows and an insert never fails.
//
// Locking: this class does none. The caller holds partition i's lock, exclusively
// for find_or_insert/remove and at least shared for the read-only calls, and never
// holds two partition locks at once (src/pg/guard_state.cpp owns the locks).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/ip_address.hpp"
#include "core/rate_limiter.hpp"

namespace infra::core {

struct PartitionHeader {
    uint32_t capacity;
    uint32_t count;
    uint32_t index_mask;
    uint16_t lru_head;   // most recently seen
    uint16_t lru_tail;   // least recently seen
    uint16_t free_head;  // free entries, linked through lru_next
    uint16_t pad[3];
    uint64_t evictions;
    uint64_t verdicts[kReasonCount];
};

class TrackedTable {
  public:
    static constexpr uint32_t kMaxPartitions = 128;
    static constexpr uint32_t kMaxPerPartition = 65534;
    static constexpr uint32_t kMaxTrackedIps = kMaxPartitions * kMaxPerPartition;

    // Partition count and total bytes for a table of at least max_ips entries.
    static uint32_t partitions_for(uint32_t max_ips);
    static size_t bytes_needed(uint32_t max_ips);

    // Lays out an empty table in `memory` (bytes_needed(max_ips) bytes, 8-aligned).
    static TrackedTable format(void* memory, uint32_t max_ips, uint64_t seed);
    // Uses a table another process formatted.
    static TrackedTable attach(void* memory);

    uint32_t partitions() const;
    uint32_t capacity() const;  // total entries over all partitions
    size_t bytes() const;
    uint64_t hash(const IpAddress& key) const;
    uint32_t partition_of(uint64_t hash) const;

    // Exclusive lock on the partition held. Returns the entry for key, inserting a
    // fresh one (and evicting if needed) when absent; the entry becomes most recent.
    TrackedIp* find_or_insert(uint32_t partition, uint64_t hash, const IpAddress& key,
                              uint32_t now_s, bool* inserted);
    // Shared lock held. nullptr when the key is not tracked.
    const TrackedIp* find(uint32_t partition, uint64_t hash, const IpAddress& key) const;
    TrackedIp* find(uint32_t partition, uint64_t hash, const IpAddress& key);
    // Exclusive lock held. Forgets the key; false when it was not tracked.
    bool remove(uint32_t partition, uint64_t hash, const IpAddress& key);

    PartitionHeader& header(uint32_t partition) const;
    // Entry slots of a partition; in_use tells which are live.
    TrackedIp* entries(uint32_t partition) const;

  private:
    struct TableHeader;
    explicit TrackedTable(TableHeader* table) : table_(table) {}
    uint16_t* index(uint32_t partition) const;
    uint32_t find_slot(uint32_t partition, uint64_t hash, const IpAddress& key) const;
    void lru_unlink(uint32_t partition, uint16_t entry);
    void lru_push_front(uint32_t partition, uint16_t entry);
    uint16_t choose_victim(uint32_t partition, uint32_t now_s) const;
    void erase_slot(uint32_t partition, uint32_t slot);

    TableHeader* table_;
};

}  // namespace infra::core
