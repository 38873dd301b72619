// tracked_table.cpp: layout, lookup, LRU and eviction of the tracked-client table.
#include "core/tracked_table.hpp"

#include <cstring>

#include "core/hash.hpp"

namespace infra::core {

namespace {
constexpr uint16_t kNil = 0xFFFF;
constexpr uint64_t kMagic = 0x696e6672615f7467ULL;  // "infra_tg"

size_t align8(size_t n) {
    return (n + 7) & ~size_t{7};
}

uint32_t next_pow2(uint32_t n) {
    uint32_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

uint32_t per_partition(uint32_t max_ips, uint32_t partitions) {
    uint32_t per = (max_ips + partitions - 1) / partitions;
    return per == 0 ? 1 : per;
}

uint32_t index_slots_for(uint32_t per) {
    return next_pow2(per + per / 2 + 1);
}

size_t partition_stride(uint32_t per) {
    return align8(sizeof(PartitionHeader) + per * sizeof(TrackedIp) +
                  index_slots_for(per) * sizeof(uint16_t));
}

int log2_of(uint32_t pow2) {
    int bits = 0;
    while ((1u << bits) < pow2) ++bits;
    return bits;
}
}  // namespace

struct TrackedTable::TableHeader {
    uint64_t magic;
    uint64_t seed;
    uint32_t partitions;
    uint32_t partition_bits;
    uint32_t per_partition;
    uint32_t index_slots;
    uint64_t stride;
    uint64_t total_bytes;
};

uint32_t TrackedTable::partitions_for(uint32_t max_ips) {
    uint32_t p = 1;
    // Enough partitions to spread lock traffic, but at least ~512 entries each so
    // that the per-partition LRU stays close to a global one.
    while (p < kMaxPartitions && per_partition(max_ips, p * 2) >= 512) p *= 2;
    while (p < kMaxPartitions && per_partition(max_ips, p) > kMaxPerPartition) p *= 2;
    return p;
}

size_t TrackedTable::bytes_needed(uint32_t max_ips) {
    uint32_t p = partitions_for(max_ips);
    return align8(sizeof(TableHeader)) + p * partition_stride(per_partition(max_ips, p));
}

TrackedTable TrackedTable::format(void* memory, uint32_t max_ips, uint64_t seed) {
    auto* table = static_cast<TableHeader*>(memory);
    uint32_t p = partitions_for(max_ips);
    uint32_t per = per_partition(max_ips, p);
    std::memset(memory, 0, bytes_needed(max_ips));
    table->magic = kMagic;
    table->seed = seed;
    table->partitions = p;
    table->partition_bits = static_cast<uint32_t>(log2_of(p));
    table->per_partition = per;
    table->index_slots = index_slots_for(per);
    table->stride = partition_stride(per);
    table->total_bytes = bytes_needed(max_ips);
    TrackedTable view(table);
    for (uint32_t i = 0; i < p; ++i) {
        PartitionHeader& h = view.header(i);
        h.capacity = per;
        h.index_mask = table->index_slots - 1;
        h.lru_head = h.lru_tail = kNil;
        TrackedIp* e = view.entries(i);
        for (uint32_t j = 0; j < per; ++j) e[j].lru_next = j + 1 < per ? j + 1 : kNil;
        h.free_head = 0;
        uint16_t* idx = view.index(i);
        for (uint32_t s = 0; s < table->index_slots; ++s) idx[s] = kNil;
    }
    return view;
}

TrackedTable TrackedTable::attach(void* memory) {
    return TrackedTable(static_cast<TableHeader*>(memory));
}

uint32_t TrackedTable::partitions() const {
    return table_->partitions;
}
uint32_t TrackedTable::capacity() const {
    return table_->partitions * table_->per_partition;
}
size_t TrackedTable::bytes() const {
    return table_->total_bytes;
}

uint64_t TrackedTable::hash(const IpAddress& key) const {
    return hash_address(key, table_->seed);
}

uint32_t TrackedTable::partition_of(uint64_t hash) const {
    if (table_->partition_bits == 0) return 0;
    return static_cast<uint32_t>(hash >> (64 - table_->partition_bits));
}

PartitionHeader& TrackedTable::header(uint32_t partition) const {
    char* base = reinterpret_cast<char*>(table_) + align8(sizeof(TableHeader));
    return *reinterpret_cast<PartitionHeader*>(base + partition * table_->stride);
}

TrackedIp* TrackedTable::entries(uint32_t partition) const {
    return reinterpret_cast<TrackedIp*>(reinterpret_cast<char*>(&header(partition)) +
                                        sizeof(PartitionHeader));
}

uint16_t* TrackedTable::index(uint32_t partition) const {
    return reinterpret_cast<uint16_t*>(entries(partition) + table_->per_partition);
}

uint32_t TrackedTable::find_slot(uint32_t partition, uint64_t hash, const IpAddress& key) const {
    const uint16_t* idx = index(partition);
    const TrackedIp* e = entries(partition);
    uint32_t mask = header(partition).index_mask;
    for (uint32_t slot = static_cast<uint32_t>(hash) & mask;; slot = (slot + 1) & mask) {
        uint16_t n = idx[slot];
        if (n == kNil || e[n].key == key) return slot;
    }
}

const TrackedIp* TrackedTable::find(uint32_t partition, uint64_t hash, const IpAddress& key) const {
    uint16_t n = index(partition)[find_slot(partition, hash, key)];
    return n == kNil ? nullptr : &entries(partition)[n];
}

TrackedIp* TrackedTable::find(uint32_t partition, uint64_t hash, const IpAddress& key) {
    uint16_t n = index(partition)[find_slot(partition, hash, key)];
    return n == kNil ? nullptr : &entries(partition)[n];
}

void TrackedTable::lru_unlink(uint32_t partition, uint16_t n) {
    PartitionHeader& h = header(partition);
    TrackedIp* e = entries(partition);
    if (e[n].lru_prev != kNil) {
        e[e[n].lru_prev].lru_next = e[n].lru_next;
    } else {
        h.lru_head = e[n].lru_next;
    }
    if (e[n].lru_next != kNil) {
        e[e[n].lru_next].lru_prev = e[n].lru_prev;
    } else {
        h.lru_tail = e[n].lru_prev;
    }
    e[n].lru_prev = e[n].lru_next = kNil;
}

void TrackedTable::lru_push_front(uint32_t partition, uint16_t n) {
    PartitionHeader& h = header(partition);
    TrackedIp* e = entries(partition);
    e[n].lru_prev = kNil;
    e[n].lru_next = h.lru_head;
    if (h.lru_head != kNil) e[h.lru_head].lru_prev = n;
    h.lru_head = n;
    if (h.lru_tail == kNil) h.lru_tail = n;
}

uint16_t TrackedTable::choose_victim(uint32_t partition, uint32_t now_s) const {
    const PartitionHeader& h = header(partition);
    const TrackedIp* e = entries(partition);
    for (uint16_t n = h.lru_tail; n != kNil; n = e[n].lru_prev) {
        if (e[n].block_until_s <= now_s) return n;
    }
    return h.lru_tail;  // everything is blocked: the block list still holds the blocks
}

// Removes index slot `slot` and shifts the following probe chain back into the hole.
void TrackedTable::erase_slot(uint32_t partition, uint32_t slot) {
    uint16_t* idx = index(partition);
    const TrackedIp* e = entries(partition);
    uint32_t mask = header(partition).index_mask;
    uint32_t hole = slot;
    for (uint32_t next = (hole + 1) & mask; idx[next] != kNil; next = (next + 1) & mask) {
        uint32_t home = static_cast<uint32_t>(hash(e[idx[next]].key)) & mask;
        // Move the entry back if its home is not cyclically within (hole, next].
        bool home_in_range =
            hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
        if (!home_in_range) {
            idx[hole] = idx[next];
            hole = next;
        }
    }
    idx[hole] = kNil;
}

bool TrackedTable::remove(uint32_t partition, uint64_t hash, const IpAddress& key) {
    uint32_t slot = find_slot(partition, hash, key);
    uint16_t n = index(partition)[slot];
    if (n == kNil) return false;
    erase_slot(partition, slot);
    lru_unlink(partition, n);
    PartitionHeader& h = header(partition);
    TrackedIp* e = entries(partition);
    e[n].in_use = 0;
    e[n].lru_next = h.free_head;
    h.free_head = n;
    --h.count;
    return true;
}

TrackedIp* TrackedTable::find_or_insert(uint32_t partition, uint64_t hash, const IpAddress& key,
                                        uint32_t now_s, bool* inserted) {
    uint32_t slot = find_slot(partition, hash, key);
    uint16_t* idx = index(partition);
    TrackedIp* e = entries(partition);
    PartitionHeader& h = header(partition);
    uint16_t n = idx[slot];
    if (n != kNil) {
        if (h.lru_head != n) {
            lru_unlink(partition, n);
            lru_push_front(partition, n);
        }
        *inserted = false;
        return &e[n];
    }
    if (h.free_head == kNil) {
        uint16_t victim = choose_victim(partition, now_s);
        remove(partition, this->hash(e[victim].key), e[victim].key);
        ++h.evictions;
        slot = find_slot(partition, hash, key);  // the removal may have shifted the chain
    }
    n = h.free_head;
    h.free_head = e[n].lru_next;
    init_tracked(e[n], key, now_s);
    e[n].lru_prev = e[n].lru_next = kNil;
    lru_push_front(partition, n);
    idx[slot] = n;
    ++h.count;
    *inserted = true;
    return &e[n];
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
