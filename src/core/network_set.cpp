// network_set.cpp: hash table of networks with a per-prefix-length lookup.
#include "core/network_set.hpp"

#include <cstring>

#include "core/hash.hpp"

namespace infra::core {

namespace {
size_t align8(size_t n) {
    return (n + 7) & ~size_t{7};
}

uint32_t slots_for(uint32_t capacity) {
    uint32_t slots = 4;
    while (slots < capacity * 2) slots <<= 1;  // load factor <= 0.5
    return slots;
}
}  // namespace

struct NetworkSet::SetHeader {
    uint32_t capacity;
    uint32_t count;
    uint32_t slot_count;
    uint32_t pad;
    uint64_t seed;
    uint64_t total_bytes;
    uint32_t per_prefix[129];  // how many entries have each prefix length
    uint32_t pad2;
};

size_t NetworkSet::bytes_needed(uint32_t capacity) {
    return align8(sizeof(SetHeader)) + slots_for(capacity) * sizeof(NetworkEntry);
}

NetworkSet NetworkSet::format(void* memory, uint32_t capacity, uint64_t seed) {
    std::memset(memory, 0, bytes_needed(capacity));
    auto* header = static_cast<SetHeader*>(memory);
    header->capacity = capacity;
    header->slot_count = slots_for(capacity);
    header->seed = seed;
    header->total_bytes = bytes_needed(capacity);
    return NetworkSet(header);
}

NetworkSet NetworkSet::attach(void* memory) {
    return NetworkSet(static_cast<SetHeader*>(memory));
}

uint32_t NetworkSet::capacity() const {
    return header_->capacity;
}
uint32_t NetworkSet::size() const {
    return header_->count;
}
size_t NetworkSet::bytes() const {
    return header_->total_bytes;
}

NetworkEntry* NetworkSet::slots() const {
    return reinterpret_cast<NetworkEntry*>(reinterpret_cast<char*>(header_) +
                                           align8(sizeof(SetHeader)));
}

uint32_t NetworkSet::home_of(const IpAddress& address, uint8_t prefix) const {
    return static_cast<uint32_t>(hash_address(address, header_->seed, prefix)) &
           (header_->slot_count - 1);
}

uint32_t NetworkSet::find_slot(const IpAddress& address, uint8_t prefix) const {
    const NetworkEntry* s = slots();
    uint32_t mask = header_->slot_count - 1;
    for (uint32_t i = home_of(address, prefix);; i = (i + 1) & mask) {
        if (!s[i].in_use || (s[i].prefix == prefix && s[i].address == address)) return i;
    }
}

const NetworkEntry* NetworkSet::match(const IpAddress& ip, int64_t now_us) const {
    if (header_->count == 0) return nullptr;
    const NetworkEntry* s = slots();
    for (int prefix = 128; prefix >= 0; --prefix) {
        if (header_->per_prefix[prefix] == 0) continue;
        IpAddress masked = ip.masked(prefix);
        const NetworkEntry& e = s[find_slot(masked, static_cast<uint8_t>(prefix))];
        if (e.in_use && e.expires_us > now_us) return &e;
    }
    return nullptr;
}

NetworkEntry* NetworkSet::find(const Network& network) {
    NetworkEntry& e = slots()[find_slot(network.address, network.prefix)];
    return e.in_use ? &e : nullptr;
}

const NetworkEntry* NetworkSet::find(const Network& network) const {
    const NetworkEntry& e = slots()[find_slot(network.address, network.prefix)];
    return e.in_use ? &e : nullptr;
}

bool NetworkSet::upsert(const NetworkEntry& entry) {
    NetworkEntry& slot = slots()[find_slot(entry.address, entry.prefix)];
    if (!slot.in_use) {
        if (header_->count >= header_->capacity) return false;
        ++header_->count;
        ++header_->per_prefix[entry.prefix];
    }
    slot = entry;
    slot.in_use = 1;
    return true;
}

void NetworkSet::erase_slot(uint32_t slot) {
    NetworkEntry* s = slots();
    uint32_t mask = header_->slot_count - 1;
    --header_->count;
    --header_->per_prefix[s[slot].prefix];
    uint32_t hole = slot;
    for (uint32_t next = (hole + 1) & mask; s[next].in_use; next = (next + 1) & mask) {
        uint32_t home = home_of(s[next].address, s[next].prefix);
        bool home_in_range =
            hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
        if (!home_in_range) {
            s[hole] = s[next];
            hole = next;
        }
    }
    std::memset(&s[hole], 0, sizeof(NetworkEntry));
}

bool NetworkSet::remove(const Network& network) {
    uint32_t slot = find_slot(network.address, network.prefix);
    if (!slots()[slot].in_use) return false;
    erase_slot(slot);
    return true;
}

void NetworkSet::clear() {
    std::memset(slots(), 0, header_->slot_count * sizeof(NetworkEntry));
    header_->count = 0;
    std::memset(header_->per_prefix, 0, sizeof header_->per_prefix);
}

uint32_t NetworkSet::remove_expired(int64_t now_us) {
    uint32_t removed = 0;
    NetworkEntry* s = slots();
    // Erasing shifts later entries back into the hole, so re-examine the same slot.
    for (uint32_t i = 0; i < header_->slot_count;) {
        if (s[i].in_use && s[i].expires_us <= now_us) {
            erase_slot(i);
            ++removed;
        } else {
            ++i;
        }
    }
    return removed;
}

void NetworkSet::for_each(const std::function<void(const NetworkEntry&)>& visit) const {
    const NetworkEntry* s = slots();
    for (uint32_t i = 0; i < header_->slot_count; ++i) {
        if (s[i].in_use) visit(s[i]);
    }
}

void NetworkSet::for_each_mutable(const std::function<void(NetworkEntry&)>& visit) {
    NetworkEntry* s = slots();
    for (uint32_t i = 0; i < header_->slot_count; ++i) {
        if (s[i].in_use) visit(s[i]);
    }
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
