// network_set.hpp: a fixed-capacity set of networks (the blocklist or the allowlist)
// laid out in one block of (shared) memory, answering "which network contains this
// address?" without scanning.
//
// Networks are kept in an open-addressing hash table keyed by (masked address,
// prefix). A 129-bit map records which prefix lengths are present, so a lookup hashes
// the address once per present length, most specific first: 10,000 ranges of a
// handful of lengths cost a handful of probes, not 10,000 comparisons.
//
// Locking: none here. src/pg/guard_state.cpp guards both sets with one LWLock (shared
// for match/find, exclusive for changes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "core/ip_address.hpp"

namespace infra::core {

enum class BlockSource : uint8_t { kManual = 0, kAuto = 1 };

constexpr int64_t kNever = INT64_MAX;  // expires_us of a permanent entry

struct NetworkEntry {
    IpAddress address;
    uint8_t prefix;
    uint8_t in_use;
    uint8_t source;           // BlockSource
    uint8_t pending_persist;  // automatic block not yet written to the table
    uint8_t offence;          // for automatic blocks: 1 = first block of this client
    uint8_t pad[3];
    int64_t expires_us;  // kNever = permanent
    int64_t created_us;
};

class NetworkSet {
  public:
    static size_t bytes_needed(uint32_t capacity);
    static NetworkSet format(void* memory, uint32_t capacity, uint64_t seed);
    static NetworkSet attach(void* memory);

    uint32_t capacity() const;
    uint32_t size() const;
    size_t bytes() const;

    // The most specific unexpired network containing ip, or nullptr.
    const NetworkEntry* match(const IpAddress& ip, int64_t now_us) const;
    NetworkEntry* find(const Network& network);
    const NetworkEntry* find(const Network& network) const;
    // Adds or replaces; false (and nothing changed) when the set is full.
    bool upsert(const NetworkEntry& entry);
    bool remove(const Network& network);
    void clear();
    // Removes entries whose expires_us <= now_us; returns how many.
    uint32_t remove_expired(int64_t now_us);
    void for_each(const std::function<void(const NetworkEntry&)>& visit) const;
    void for_each_mutable(const std::function<void(NetworkEntry&)>& visit);

  private:
    struct SetHeader;
    explicit NetworkSet(SetHeader* header) : header_(header) {}
    NetworkEntry* slots() const;
    uint32_t home_of(const IpAddress& address, uint8_t prefix) const;
    uint32_t find_slot(const IpAddress& address, uint8_t prefix) const;
    void erase_slot(uint32_t slot);

    SetHeader* header_;
};

}  // namespace infra::core
