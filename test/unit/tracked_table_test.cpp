// tracked_table_test.cpp: tests TrackedTable (src/core/tracked_table.*): formatting
// and attaching in caller-provided memory, partition sizing, the <= 128 bytes per
// tracked IP budget, find_or_insert/find/remove, LRU eviction (skipping entries under
// an automatic block), a 1,000,000-key flood into a small table, backward-shift
// deletion keeping probe chains intact, and a randomized comparison against a
// std::map + LRU-list model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <list>
#include <map>
#include <random>
#include <vector>

#include "core/ip_address.hpp"
#include "core/rate_limiter.hpp"
#include "core/tracked_table.hpp"
#include "test_printers.hpp"

namespace infra::core {
namespace {

constexpr uint32_t kNow = 800'000'000u;

// Owns 8-aligned memory of exactly bytes_needed(max_ips) bytes.
struct Memory {
    explicit Memory(uint32_t max_ips)
        : words((TrackedTable::bytes_needed(max_ips) + 7) / 8, 0xdeadbeefdeadbeefULL) {}
    void* data() { return words.data(); }
    std::vector<uint64_t> words;
};

// Key number i as an IPv4 address (i < 2^32) or, for variety, an IPv6 address.
IpAddress key(uint64_t i) {
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
    if (i % 3 == 0) {
        for (int b = 0; b < 8; ++b) v6[8 + b] = static_cast<uint8_t>(i >> (8 * b));
        return IpAddress::from_v6(v6);
    }
    uint8_t v4[4] = {static_cast<uint8_t>(i >> 24), static_cast<uint8_t>(i >> 16),
                     static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    return IpAddress::from_v4(v4);
}

struct Table {
    explicit Table(uint32_t max_ips, uint64_t seed = 42)
        : memory(max_ips), table(TrackedTable::format(memory.data(), max_ips, seed)) {}

    TrackedIp* insert(const IpAddress& k, uint32_t now = kNow, bool* inserted = nullptr) {
        bool dummy;
        uint64_t h = table.hash(k);
        return table.find_or_insert(table.partition_of(h), h, k, now, inserted ? inserted : &dummy);
    }
    const TrackedIp* find(const IpAddress& k) const {
        uint64_t h = table.hash(k);
        return static_cast<const TrackedTable&>(table).find(table.partition_of(h), h, k);
    }
    bool remove(const IpAddress& k) {
        uint64_t h = table.hash(k);
        return table.remove(table.partition_of(h), h, k);
    }
    uint64_t evictions() const {
        uint64_t total = 0;
        for (uint32_t p = 0; p < table.partitions(); ++p) total += table.header(p).evictions;
        return total;
    }
    uint64_t count() const {
        uint64_t total = 0;
        for (uint32_t p = 0; p < table.partitions(); ++p) total += table.header(p).count;
        return total;
    }

    Memory memory;
    TrackedTable table;
};

bool is_pow2(uint32_t n) {
    return n != 0 && (n & (n - 1)) == 0;
}

TEST(TrackedTable, PartitionsFor) {
    EXPECT_EQ(TrackedTable::partitions_for(1), 1u);
    EXPECT_EQ(TrackedTable::partitions_for(1000), 1u);
    EXPECT_EQ(TrackedTable::partitions_for(1022), 1u);
    EXPECT_EQ(TrackedTable::partitions_for(1024), 2u);
    EXPECT_EQ(TrackedTable::partitions_for(100000), 128u);
    EXPECT_EQ(TrackedTable::partitions_for(4000000), 128u);
    EXPECT_EQ(TrackedTable::partitions_for(TrackedTable::kMaxTrackedIps), 128u);
    for (uint32_t max_ips : {1u, 2u, 511u, 512u, 1000u, 1024u, 5000u, 65535u, 70001u, 513u * 128u,
                             100000u, 1000000u, 4000000u, 8000000u, TrackedTable::kMaxTrackedIps}) {
        uint32_t p = TrackedTable::partitions_for(max_ips);
        EXPECT_TRUE(is_pow2(p)) << max_ips;
        EXPECT_LE(p, TrackedTable::kMaxPartitions) << max_ips;
        // Partitions hold at least ~512 entries unless there is only one.
        uint32_t per = (max_ips + p - 1) / p;
        if (p > 1) {
            EXPECT_GE(per, 512u) << max_ips;
        }
        EXPECT_LE(per, TrackedTable::kMaxPerPartition) << max_ips;
    }
}

TEST(TrackedTable, FormatAndAttach) {
    for (uint32_t max_ips : {1u, 7u, 1000u, 5000u, 70001u}) {
        SCOPED_TRACE(max_ips);
        Memory memory(max_ips);
        TrackedTable t = TrackedTable::format(memory.data(), max_ips, 7);
        EXPECT_EQ(t.partitions(), TrackedTable::partitions_for(max_ips));
        EXPECT_GE(t.capacity(), max_ips);
        EXPECT_LT(t.capacity(), max_ips + t.partitions());
        EXPECT_EQ(t.bytes(), TrackedTable::bytes_needed(max_ips));
        uint32_t total_capacity = 0;
        for (uint32_t p = 0; p < t.partitions(); ++p) {
            EXPECT_EQ(t.header(p).count, 0u);
            EXPECT_EQ(t.header(p).evictions, 0u);
            total_capacity += t.header(p).capacity;
        }
        EXPECT_EQ(total_capacity, t.capacity());

        // Another "process" attaching to the same memory sees the same table.
        IpAddress k = key(12345);
        uint64_t h = t.hash(k);
        bool inserted = false;
        TrackedIp* e = t.find_or_insert(t.partition_of(h), h, k, kNow, &inserted);
        ASSERT_NE(e, nullptr);
        EXPECT_TRUE(inserted);
        e->block_until_s = 99;
        TrackedTable other = TrackedTable::attach(memory.data());
        EXPECT_EQ(other.partitions(), t.partitions());
        EXPECT_EQ(other.capacity(), t.capacity());
        EXPECT_EQ(other.hash(k), h);
        const TrackedIp* seen = other.find(other.partition_of(h), h, k);
        ASSERT_NE(seen, nullptr);
        EXPECT_EQ(seen->block_until_s, 99u);
        EXPECT_EQ(seen, e);
    }
}

TEST(TrackedTable, HashDependsOnSeedAndPartitionIsInRange) {
    Memory m1(100000), m2(100000);
    TrackedTable a = TrackedTable::format(m1.data(), 100000, 1);
    TrackedTable b = TrackedTable::format(m2.data(), 100000, 2);
    int same = 0;
    std::vector<uint32_t> per_partition(a.partitions());
    for (uint64_t i = 0; i < 10000; ++i) {
        uint64_t h = a.hash(key(i));
        same += h == b.hash(key(i));
        ASSERT_LT(a.partition_of(h), a.partitions());
        ++per_partition[a.partition_of(h)];
    }
    EXPECT_EQ(same, 0);
    // 10000 keys over 128 partitions: every partition gets some.
    for (uint32_t n : per_partition) EXPECT_GT(n, 20u);
}

TEST(TrackedTable, AtMost128BytesPerTrackedIp) {
    for (uint32_t max_ips : {1000u, 100000u, 1000000u, 4000000u, 70001u, 513u * 128u, 8000000u}) {
        size_t bytes = TrackedTable::bytes_needed(max_ips);
        uint32_t p = TrackedTable::partitions_for(max_ips);
        uint32_t capacity = p * ((max_ips + p - 1) / p);
        EXPECT_LE(static_cast<double>(bytes) / capacity, 128.0) << max_ips;
        EXPECT_LE(static_cast<double>(bytes) / max_ips, 128.0) << max_ips;
    }
    // And for the ones small enough to format here, on a real table.
    for (uint32_t max_ips : {1000u, 100000u, 70001u, 513u * 128u}) {
        Memory memory(max_ips);
        TrackedTable t = TrackedTable::format(memory.data(), max_ips, 1);
        EXPECT_LE(static_cast<double>(t.bytes()) / t.capacity(), 128.0) << max_ips;
        EXPECT_GE(t.capacity(), max_ips);
    }
}

TEST(TrackedTable, FindOrInsertInsertsThenFinds) {
    Table t(1000);
    IpAddress k = *IpAddress::parse("203.0.113.9");
    EXPECT_EQ(t.find(k), nullptr);
    bool inserted = false;
    TrackedIp* e = t.insert(k, kNow, &inserted);
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(inserted);
    EXPECT_EQ(e->key, k);
    EXPECT_EQ(e->in_use, 1);
    EXPECT_EQ(e->first_seen_s, kNow);
    EXPECT_EQ(t.count(), 1u);

    e->offences = 3;  // state survives a second lookup
    TrackedIp* again = t.insert(k, kNow + 5, &inserted);
    EXPECT_FALSE(inserted);
    EXPECT_EQ(again, e);
    EXPECT_EQ(again->offences, 3);
    EXPECT_EQ(again->first_seen_s, kNow);
    EXPECT_EQ(t.find(k), e);
    EXPECT_EQ(t.count(), 1u);
    EXPECT_EQ(t.find(*IpAddress::parse("203.0.113.10")), nullptr);
}

TEST(TrackedTable, LruEvictsLeastRecentlySeen) {
    Table t(500);
    ASSERT_EQ(t.table.partitions(), 1u);
    const uint32_t n = t.table.capacity();
    ASSERT_EQ(n, 500u);
    for (uint32_t i = 0; i < n; ++i) t.insert(key(i), kNow + i);
    EXPECT_EQ(t.count(), n);
    EXPECT_EQ(t.evictions(), 0u);
    t.insert(key(0), kNow + n);  // key 0 becomes the most recent

    bool inserted = false;
    t.insert(key(n), kNow + n + 1, &inserted);
    EXPECT_TRUE(inserted);
    EXPECT_EQ(t.table.header(0).evictions, 1u);
    EXPECT_EQ(t.count(), n);
    EXPECT_EQ(t.find(key(1)), nullptr);  // least recently seen
    EXPECT_NE(t.find(key(0)), nullptr);
    EXPECT_NE(t.find(key(n)), nullptr);
    for (uint32_t i = 2; i < n; ++i) EXPECT_NE(t.find(key(i)), nullptr) << i;

    // The next victims follow the order of last sight: 2, 3, ...
    t.insert(key(n + 1), kNow + n + 2);
    EXPECT_EQ(t.find(key(2)), nullptr);
    EXPECT_NE(t.find(key(3)), nullptr);
    EXPECT_EQ(t.table.header(0).evictions, 2u);
}

TEST(TrackedTable, EvictionSkipsBlockedEntries) {
    Table t(100);
    const uint32_t n = t.table.capacity();
    for (uint32_t i = 0; i < n; ++i) t.insert(key(i), kNow);
    // Touch 0..3 so the LRU order, tail first, is 4, 5, 6, ..., n-1, 0, 1, 2, 3.
    for (uint32_t i = 0; i < 4; ++i) t.insert(key(i), kNow)->block_until_s = kNow + 3600;
    // find() does not change the order. Key 4 is blocked until kNow + 1; key 5's block
    // ends at kNow, so it is no longer protected at kNow.
    const_cast<TrackedIp*>(t.find(key(4)))->block_until_s = kNow + 1;
    const_cast<TrackedIp*>(t.find(key(5)))->block_until_s = kNow;

    t.insert(key(1000), kNow);
    EXPECT_NE(t.find(key(4)), nullptr);  // blocked: skipped
    EXPECT_EQ(t.find(key(5)), nullptr);  // block over: evicted
    EXPECT_EQ(t.table.header(0).evictions, 1u);

    // Once key 4's block has run out it is the next victim.
    t.insert(key(1001), kNow + 1);
    EXPECT_EQ(t.find(key(4)), nullptr);
    EXPECT_NE(t.find(key(6)), nullptr);
    EXPECT_EQ(t.table.header(0).evictions, 2u);
    for (uint32_t i = 0; i < 4; ++i) EXPECT_NE(t.find(key(i)), nullptr) << i;
}

TEST(TrackedTable, AllBlockedEvictsLruTail) {
    Table t(50);
    const uint32_t n = t.table.capacity();
    for (uint32_t i = 0; i < n; ++i) t.insert(key(i), kNow)->block_until_s = kNow + 3600;
    bool inserted = false;
    TrackedIp* e = t.insert(key(n), kNow, &inserted);
    EXPECT_TRUE(inserted);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->block_until_s, 0u);  // a fresh entry
    EXPECT_EQ(t.find(key(0)), nullptr);
    for (uint32_t i = 1; i <= n; ++i) EXPECT_NE(t.find(key(i)), nullptr) << i;
    EXPECT_EQ(t.table.header(0).evictions, 1u);
}

TEST(TrackedTable, FloodOfDistinctKeysNeverFails) {
    Table t(1000);
    ASSERT_EQ(t.table.partitions(), 1u);
    const uint32_t capacity = t.table.capacity();
    constexpr uint32_t kFlood = 1000000;
    for (uint32_t i = 0; i < kFlood; ++i) {
        bool inserted = false;
        TrackedIp* e = t.insert(key(i), kNow + i / 1000, &inserted);
        ASSERT_NE(e, nullptr) << i;
        ASSERT_TRUE(inserted) << i;
        ASSERT_EQ(e->key, key(i));
        ASSERT_LE(t.table.header(0).count, capacity);
    }
    EXPECT_EQ(t.table.header(0).count, capacity);
    EXPECT_EQ(t.table.header(0).evictions, kFlood - capacity);
    // The survivors are exactly the last `capacity` keys.
    for (uint32_t i = kFlood - capacity; i < kFlood; ++i) EXPECT_NE(t.find(key(i)), nullptr) << i;
    EXPECT_EQ(t.find(key(kFlood - capacity - 1)), nullptr);
}

TEST(TrackedTable, FloodIntoPartitionedTable) {
    Table t(5000);
    ASSERT_GT(t.table.partitions(), 1u);
    for (uint32_t i = 0; i < 200000; ++i) ASSERT_NE(t.insert(key(i), kNow), nullptr);
    EXPECT_LE(t.count(), t.table.capacity());
    EXPECT_EQ(t.count() + t.evictions(), 200000u);
    for (uint32_t p = 0; p < t.table.partitions(); ++p) {
        EXPECT_EQ(t.table.header(p).count, t.table.header(p).capacity) << p;
    }
}

TEST(TrackedTable, RemoveKeepsProbeChainsIntact) {
    // 682 entries fill 2/3 of a 1024-slot index: long probe chains. 4000 spreads over
    // four partitions.
    for (uint32_t max_ips : {682u, 1000u, 4000u}) {
        for (uint64_t seed : {1u, 2u, 3u}) {
            SCOPED_TRACE(testing::Message() << "max_ips " << max_ips << ", seed " << seed);
            Table t(max_ips, seed);
            const uint32_t n = t.table.capacity();
            // Fill every partition exactly to capacity.
            std::vector<uint64_t> keys;
            for (uint64_t k = 1000000; keys.size() < n; k += 7919) {
                uint32_t p = t.table.partition_of(t.table.hash(key(k)));
                if (t.table.header(p).count == t.table.header(p).capacity) continue;
                t.insert(key(k));
                keys.push_back(k);
            }
            ASSERT_EQ(t.evictions(), 0u);
            ASSERT_EQ(t.count(), n);

            std::mt19937_64 rng(seed);
            std::shuffle(keys.begin(), keys.end(), rng);
            const size_t half = keys.size() / 2;
            for (size_t i = 0; i < half; ++i) EXPECT_TRUE(t.remove(key(keys[i])));
            for (size_t i = 0; i < half; ++i) EXPECT_FALSE(t.remove(key(keys[i])));  // gone
            EXPECT_EQ(t.count(), n - half);
            for (size_t i = 0; i < half; ++i) EXPECT_EQ(t.find(key(keys[i])), nullptr);
            for (size_t i = half; i < keys.size(); ++i) {
                const TrackedIp* e = t.find(key(keys[i]));
                ASSERT_NE(e, nullptr) << "lost key " << keys[i];
                EXPECT_EQ(e->key, key(keys[i]));
            }
            // Freed entries are reused without evicting anyone.
            for (size_t i = 0; i < half; ++i) t.insert(key(keys[i]));
            EXPECT_EQ(t.evictions(), 0u);
            EXPECT_EQ(t.count(), n);
            for (uint64_t k : keys) EXPECT_NE(t.find(key(k)), nullptr) << k;
        }
    }
}

// Model: key -> block_until_s, plus an LRU list (front = most recent) per partition.
TEST(TrackedTable, RandomizedAgainstModel) {
    for (uint64_t seed = 1; seed <= 10; ++seed) {
        SCOPED_TRACE(testing::Message() << "seed " << seed);
        std::mt19937_64 rng(seed);
        Table t(seed % 2 ? 37 : 1100, seed);  // one partition, or two
        const uint32_t partitions = t.table.partitions();
        std::vector<std::list<uint64_t>> lru(partitions);
        std::map<uint64_t, uint32_t> model;  // key -> block_until_s
        uint64_t model_evictions = 0;
        uint32_t now = kNow;
        const uint64_t universe = t.table.capacity() * 3ULL;

        auto part_of = [&](uint64_t k) { return t.table.partition_of(t.table.hash(key(k))); };
        auto touch = [&](uint64_t k) {
            auto& l = lru[part_of(k)];
            l.remove(k);
            l.push_front(k);
        };

        for (int step = 0; step < 10000; ++step) {
            now += static_cast<uint32_t>(rng() % 3);
            uint64_t k = rng() % universe;
            uint32_t p = part_of(k);
            int op = static_cast<int>(rng() % 10);
            if (op < 6) {  // find_or_insert
                bool inserted = false;
                TrackedIp* e = t.insert(key(k), now, &inserted);
                ASSERT_NE(e, nullptr);
                bool present = model.count(k) != 0;
                ASSERT_EQ(inserted, !present) << "key " << k;
                if (!present) {
                    if (lru[p].size() == t.table.header(p).capacity) {
                        // Victim: least recent not blocked at `now`, else the tail.
                        uint64_t victim = lru[p].back();
                        for (auto it = lru[p].rbegin(); it != lru[p].rend(); ++it) {
                            if (model[*it] <= now) {
                                victim = *it;
                                break;
                            }
                        }
                        lru[p].remove(victim);
                        model.erase(victim);
                        ++model_evictions;
                        ASSERT_EQ(t.find(key(victim)), nullptr) << "victim " << victim;
                    }
                    model[k] = 0;
                }
                touch(k);
                if (rng() % 8 == 0) {  // sometimes put the client under a block
                    e->block_until_s = now + static_cast<uint32_t>(rng() % 50);
                    model[k] = e->block_until_s;
                }
            } else if (op < 8) {  // remove
                bool removed = t.remove(key(k));
                ASSERT_EQ(removed, model.erase(k) == 1) << "key " << k;
                lru[p].remove(k);
            } else {  // find
                const TrackedIp* e = t.find(key(k));
                ASSERT_EQ(e != nullptr, model.count(k) == 1) << "key " << k;
                if (e) {
                    EXPECT_EQ(e->key, key(k));
                    EXPECT_EQ(e->block_until_s, model[k]);
                }
            }
            ASSERT_EQ(t.count(), model.size());
            ASSERT_EQ(t.evictions(), model_evictions);
        }
        for (const auto& [k, until] : model) {
            const TrackedIp* e = t.find(key(k));
            ASSERT_NE(e, nullptr) << k;
            EXPECT_EQ(e->block_until_s, until);
        }
        // The table's own LRU lists match the model's, head to tail.
        for (uint32_t p = 0; p < partitions; ++p) {
            const TrackedIp* entries = t.table.entries(p);
            std::vector<IpAddress> walked;
            for (uint16_t n = t.table.header(p).lru_head; n != 0xFFFF; n = entries[n].lru_next) {
                walked.push_back(entries[n].key);
                ASSERT_LE(walked.size(), t.table.header(p).capacity);
            }
            ASSERT_EQ(walked.size(), lru[p].size());
            size_t i = 0;
            for (uint64_t k : lru[p]) EXPECT_EQ(walked[i++], key(k));
        }
    }
}

}  // namespace
}  // namespace infra::core
