// network_set_test.cpp: tests NetworkSet (src/core/network_set.*): upsert/find/remove,
// most-specific matching, expiry (match ignores expired entries, remove_expired drops
// them), IPv6 ranges, ::/0, the capacity limit, replacing an existing network,
// for_each, and a randomized comparison of match() against a brute-force linear scan.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/ip_address.hpp"
#include "core/network_set.hpp"
#include "test_printers.hpp"

namespace infra::core {
namespace {

constexpr int64_t kNowUs = 800'000'000LL * 1000000;

Network net(const std::string& text) {
    auto parsed = Network::parse(text);
    EXPECT_TRUE(parsed.has_value()) << text;
    return parsed.value_or(Network{});
}

IpAddress ip(const std::string& text) {
    auto parsed = IpAddress::parse(text);
    EXPECT_TRUE(parsed.has_value()) << text;
    return parsed.value_or(IpAddress{});
}

NetworkEntry entry_for(const Network& n, int64_t expires_us = kNever, int64_t created_us = 1) {
    NetworkEntry e{};
    e.address = n.address;
    e.prefix = n.prefix;
    e.expires_us = expires_us;
    e.created_us = created_us;
    return e;
}

Network network_of(const NetworkEntry& e) {
    return Network{e.address, e.prefix};
}

struct Set {
    explicit Set(uint32_t capacity, uint64_t seed = 99)
        : words((NetworkSet::bytes_needed(capacity) + 7) / 8, 0xa5a5a5a5a5a5a5a5ULL),
          set(NetworkSet::format(words.data(), capacity, seed)) {}
    std::vector<uint64_t> words;
    NetworkSet set;
};

// The matched network, as text, or "none".
std::string matched(const NetworkSet& set, const std::string& address, int64_t now = kNowUs) {
    const NetworkEntry* e = set.match(ip(address), now);
    return e ? network_of(*e).to_string() : "none";
}

TEST(NetworkSet, FormatAndAttach) {
    Set s(100);
    EXPECT_EQ(s.set.capacity(), 100u);
    EXPECT_EQ(s.set.size(), 0u);
    EXPECT_EQ(s.set.bytes(), NetworkSet::bytes_needed(100));
    EXPECT_EQ(s.set.match(ip("10.0.0.1"), kNowUs), nullptr);
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.0.0.0/8"))));
    NetworkSet other = NetworkSet::attach(s.words.data());
    EXPECT_EQ(other.size(), 1u);
    EXPECT_EQ(other.capacity(), 100u);
    EXPECT_NE(other.find(net("10.0.0.0/8")), nullptr);
}

TEST(NetworkSet, UpsertFindRemove) {
    Set s(10);
    Network n = net("192.168.0.0/16");
    EXPECT_EQ(s.set.find(n), nullptr);
    NetworkEntry e = entry_for(n, kNowUs + 1000, 77);
    e.source = static_cast<uint8_t>(BlockSource::kAuto);
    e.offence = 2;
    e.pending_persist = 1;
    ASSERT_TRUE(s.set.upsert(e));
    EXPECT_EQ(s.set.size(), 1u);
    const NetworkEntry* found = s.set.find(n);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->in_use, 1);
    EXPECT_EQ(network_of(*found), n);
    EXPECT_EQ(found->expires_us, kNowUs + 1000);
    EXPECT_EQ(found->created_us, 77);
    EXPECT_EQ(found->source, static_cast<uint8_t>(BlockSource::kAuto));
    EXPECT_EQ(found->offence, 2);
    EXPECT_EQ(found->pending_persist, 1);
    // A network with the same address but another prefix is a different network.
    EXPECT_EQ(s.set.find(net("192.168.0.0/24")), nullptr);
    EXPECT_EQ(s.set.find(net("192.168.0.0/15")), nullptr);

    // find() returns a mutable entry.
    s.set.find(n)->pending_persist = 0;
    EXPECT_EQ(s.set.find(n)->pending_persist, 0);

    EXPECT_FALSE(s.set.remove(net("192.168.0.0/24")));
    EXPECT_TRUE(s.set.remove(n));
    EXPECT_FALSE(s.set.remove(n));
    EXPECT_EQ(s.set.find(n), nullptr);
    EXPECT_EQ(s.set.size(), 0u);
    EXPECT_EQ(s.set.match(ip("192.168.1.1"), kNowUs), nullptr);
}

TEST(NetworkSet, MatchReturnsMostSpecific) {
    Set s(10);
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.0.0.0/8"))));
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.1.0.0/16"))));
    EXPECT_EQ(matched(s.set, "10.1.2.3"), "10.1.0.0/16");
    EXPECT_EQ(matched(s.set, "10.2.0.1"), "10.0.0.0/8");
    EXPECT_EQ(matched(s.set, "::ffff:10.1.2.3"), "10.1.0.0/16");
    EXPECT_EQ(matched(s.set, "11.0.0.1"), "none");
    EXPECT_EQ(matched(s.set, "2001:db8::1"), "none");

    ASSERT_TRUE(s.set.upsert(entry_for(net("10.1.2.3"))));
    EXPECT_EQ(matched(s.set, "10.1.2.3"), "10.1.2.3/32");
    EXPECT_EQ(matched(s.set, "10.1.2.4"), "10.1.0.0/16");

    // Insertion order does not matter.
    Set r(10);
    ASSERT_TRUE(r.set.upsert(entry_for(net("10.1.0.0/16"))));
    ASSERT_TRUE(r.set.upsert(entry_for(net("10.0.0.0/8"))));
    EXPECT_EQ(matched(r.set, "10.1.2.3"), "10.1.0.0/16");
    EXPECT_EQ(matched(r.set, "10.2.0.1"), "10.0.0.0/8");
}

TEST(NetworkSet, ExpiredEntriesDoNotMatch) {
    Set s(10);
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.0.0.0/8"))));                 // permanent
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.1.0.0/16"), kNowUs)));        // expires now
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.1.2.0/24"), kNowUs + 1)));    // 1 us left
    ASSERT_TRUE(s.set.upsert(entry_for(net("172.16.0.0/12"), kNowUs - 1)));  // expired
    EXPECT_EQ(matched(s.set, "10.1.2.3"), "10.1.2.0/24");
    EXPECT_EQ(matched(s.set, "10.1.2.3", kNowUs + 1), "10.0.0.0/8");  // /24 and /16 over
    EXPECT_EQ(matched(s.set, "10.1.9.9"), "10.0.0.0/8");              // /16 expires_us <= now
    EXPECT_EQ(matched(s.set, "10.1.9.9", kNowUs - 1), "10.1.0.0/16");
    EXPECT_EQ(matched(s.set, "172.16.0.1"), "none");
    EXPECT_EQ(matched(s.set, "172.16.0.1", kNowUs - 2), "172.16.0.0/12");

    EXPECT_EQ(s.set.remove_expired(kNowUs), 2u);
    EXPECT_EQ(s.set.size(), 2u);
    EXPECT_EQ(s.set.find(net("10.1.0.0/16")), nullptr);
    EXPECT_EQ(s.set.find(net("172.16.0.0/12")), nullptr);
    EXPECT_NE(s.set.find(net("10.0.0.0/8")), nullptr);
    EXPECT_NE(s.set.find(net("10.1.2.0/24")), nullptr);
    EXPECT_EQ(s.set.remove_expired(kNowUs), 0u);
    EXPECT_EQ(s.set.remove_expired(kNowUs + 1), 1u);
    EXPECT_EQ(s.set.remove_expired(INT64_MAX - 1), 0u);  // permanent entries never expire
    EXPECT_EQ(s.set.size(), 1u);
    EXPECT_EQ(matched(s.set, "10.1.2.3", INT64_MAX - 1), "10.0.0.0/8");
}

TEST(NetworkSet, Ipv6RangeMatches) {
    Set s(10);
    ASSERT_TRUE(s.set.upsert(entry_for(net("2001:db8:1:2::/64"))));
    EXPECT_EQ(matched(s.set, "2001:db8:1:2::1"), "2001:db8:1:2::/64");
    EXPECT_EQ(matched(s.set, "2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
    EXPECT_EQ(matched(s.set, "2001:db8:1:3::1"), "none");
    EXPECT_EQ(matched(s.set, "10.0.0.1"), "none");
    ASSERT_TRUE(s.set.upsert(entry_for(net("2001:db8::/32"))));
    EXPECT_EQ(matched(s.set, "2001:db8:1:3::1"), "2001:db8::/32");
    EXPECT_EQ(matched(s.set, "2001:db8:1:2::1"), "2001:db8:1:2::/64");
    EXPECT_EQ(matched(s.set, "2001:db9::1"), "none");
}

TEST(NetworkSet, PrefixZeroMatchesEverything) {
    Set s(10);
    ASSERT_TRUE(s.set.upsert(entry_for(net("::/0"))));
    EXPECT_EQ(matched(s.set, "10.0.0.1"), "::/0");
    EXPECT_EQ(matched(s.set, "0.0.0.0"), "::/0");
    EXPECT_EQ(matched(s.set, "255.255.255.255"), "::/0");
    EXPECT_EQ(matched(s.set, "::"), "::/0");
    EXPECT_EQ(matched(s.set, "2001:db8::1"), "::/0");
    EXPECT_EQ(matched(s.set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "::/0");
    // More specific entries still win over it.
    ASSERT_TRUE(s.set.upsert(entry_for(net("0.0.0.0/0"))));
    EXPECT_EQ(matched(s.set, "10.0.0.1"), "0.0.0.0/0");
    EXPECT_EQ(matched(s.set, "2001:db8::1"), "::/0");
}

TEST(NetworkSet, FullSetRefusesNewNetworksAndChangesNothing) {
    Set s(3);
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.0.0.0/8"))));
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.1.0.0/16"))));
    ASSERT_TRUE(s.set.upsert(entry_for(net("2001:db8::/32"))));
    EXPECT_FALSE(s.set.upsert(entry_for(net("192.168.0.0/16"))));
    EXPECT_FALSE(s.set.upsert(entry_for(net("10.1.2.0/24"))));
    EXPECT_EQ(s.set.size(), 3u);
    EXPECT_EQ(s.set.find(net("192.168.0.0/16")), nullptr);
    EXPECT_EQ(matched(s.set, "192.168.1.1"), "none");
    EXPECT_EQ(matched(s.set, "10.1.2.3"), "10.1.0.0/16");  // the /24 was not added
    int visited = 0;
    s.set.for_each([&](const NetworkEntry&) { ++visited; });
    EXPECT_EQ(visited, 3);
    // Replacing an existing network still works when full.
    EXPECT_TRUE(s.set.upsert(entry_for(net("10.0.0.0/8"), kNowUs + 5)));
    EXPECT_EQ(s.set.find(net("10.0.0.0/8"))->expires_us, kNowUs + 5);
    // After a removal there is room again.
    EXPECT_TRUE(s.set.remove(net("10.1.0.0/16")));
    EXPECT_TRUE(s.set.upsert(entry_for(net("192.168.0.0/16"))));
    EXPECT_EQ(s.set.size(), 3u);
}

TEST(NetworkSet, UpsertReplacesWithoutCountingTwice) {
    Set s(5);
    Network n = net("10.0.0.0/8");
    ASSERT_TRUE(s.set.upsert(entry_for(n, kNowUs + 100, 1)));
    NetworkEntry replacement = entry_for(n, kNever, 2);
    replacement.source = static_cast<uint8_t>(BlockSource::kAuto);
    ASSERT_TRUE(s.set.upsert(replacement));
    EXPECT_EQ(s.set.size(), 1u);
    const NetworkEntry* e = s.set.find(n);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->expires_us, kNever);
    EXPECT_EQ(e->created_us, 2);
    EXPECT_EQ(e->source, static_cast<uint8_t>(BlockSource::kAuto));
    // One remove is enough: it was stored once (and the prefix count is right, so the
    // set matches nothing afterwards).
    EXPECT_TRUE(s.set.remove(n));
    EXPECT_EQ(s.set.size(), 0u);
    EXPECT_EQ(s.set.find(n), nullptr);
    EXPECT_EQ(matched(s.set, "10.0.0.1"), "none");
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(s.set.upsert(entry_for(net("10." + std::to_string(i) + ".0.0/16"))));
    }
    EXPECT_FALSE(s.set.upsert(entry_for(net("11.0.0.0/16"))));
}

TEST(NetworkSet, ForEachVisitsAll) {
    Set s(100);
    std::set<std::string> expected;
    for (int i = 0; i < 60; ++i) {
        std::string text = "10." + std::to_string(i) + ".0.0/16";
        if (i % 3 == 0) text = "2001:db8:" + std::to_string(i) + "::/48";
        ASSERT_TRUE(s.set.upsert(entry_for(net(text))));
        expected.insert(net(text).to_string());
    }
    std::set<std::string> seen;
    int visits = 0;
    s.set.for_each([&](const NetworkEntry& e) {
        ++visits;
        EXPECT_EQ(e.in_use, 1);
        seen.insert(network_of(e).to_string());
    });
    EXPECT_EQ(visits, 60);
    EXPECT_EQ(seen, expected);

    s.set.for_each_mutable([](NetworkEntry& e) { e.expires_us = kNowUs; });
    EXPECT_EQ(matched(s.set, "10.5.0.1"), "none");
    EXPECT_EQ(s.set.remove_expired(kNowUs), 60u);
    EXPECT_EQ(s.set.size(), 0u);
    visits = 0;
    s.set.for_each([&](const NetworkEntry&) { ++visits; });
    EXPECT_EQ(visits, 0);
}

TEST(NetworkSet, ClearEmptiesTheSet) {
    Set s(10);
    ASSERT_TRUE(s.set.upsert(entry_for(net("10.0.0.0/8"))));
    ASSERT_TRUE(s.set.upsert(entry_for(net("::/0"))));
    s.set.clear();
    EXPECT_EQ(s.set.size(), 0u);
    EXPECT_EQ(matched(s.set, "10.0.0.1"), "none");
    EXPECT_EQ(s.set.find(net("10.0.0.0/8")), nullptr);
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(s.set.upsert(entry_for(net("10." + std::to_string(i) + ".0.0/16"))));
    }
}

// A random network: IPv4 or IPv6, with a prefix drawn from a few popular lengths or
// uniformly (very short ones, down to ::/0, rarely), over a small address space so that networks
// nest and collide.
Network random_network(std::mt19937_64& rng) {
    uint8_t bytes[16] = {};
    bool v4 = rng() % 2 == 0;
    int family_prefix;
    if (v4) {
        const int popular[] = {8, 16, 24, 32, 32, 32};
        family_prefix = rng() % 3 ? popular[rng() % 6] : static_cast<int>(8 + rng() % 25);
        if (rng() % 100 == 0) family_prefix = static_cast<int>(rng() % 8);  // rare and huge
        uint8_t a[4] = {static_cast<uint8_t>(10 + rng() % 2), static_cast<uint8_t>(rng() % 4),
                        static_cast<uint8_t>(rng() % 8), static_cast<uint8_t>(rng() % 16)};
        return Network::of(IpAddress::from_v4(a), family_prefix);
    }
    const int popular[] = {32, 48, 56, 64, 64, 128};
    family_prefix = rng() % 3 ? popular[rng() % 6] : static_cast<int>(16 + rng() % 113);
    if (rng() % 100 == 0) family_prefix = static_cast<int>(rng() % 16);  // rare, incl. ::/0
    bytes[0] = 0x20;
    bytes[1] = static_cast<uint8_t>(rng() % 2);
    bytes[3] = static_cast<uint8_t>(rng() % 4);
    bytes[5] = static_cast<uint8_t>(rng() % 4);
    bytes[7] = static_cast<uint8_t>(rng() % 8);
    bytes[15] = static_cast<uint8_t>(rng() % 4);
    return Network::of(IpAddress::from_v6(bytes), family_prefix);
}

IpAddress random_address(std::mt19937_64& rng) {
    if (rng() % 2 == 0) {
        uint8_t a[4] = {static_cast<uint8_t>(9 + rng() % 4), static_cast<uint8_t>(rng() % 5),
                        static_cast<uint8_t>(rng() % 9), static_cast<uint8_t>(rng() % 17)};
        return IpAddress::from_v4(a);
    }
    uint8_t b[16] = {};
    b[0] = 0x20;
    b[1] = static_cast<uint8_t>(rng() % 3);
    b[3] = static_cast<uint8_t>(rng() % 5);
    b[5] = static_cast<uint8_t>(rng() % 5);
    b[7] = static_cast<uint8_t>(rng() % 9);
    b[15] = static_cast<uint8_t>(rng() % 5);
    return IpAddress::from_v6(b);
}

TEST(NetworkSet, RandomizedAgainstLinearScan) {
    int64_t found = 0, not_found = 0, refused_full = 0, removed_total = 0;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        SCOPED_TRACE(testing::Message() << "seed " << seed);
        std::mt19937_64 rng(seed);
        const uint32_t capacity = seed % 2 ? 3000 : 200;  // small sets fill up
        Set s(capacity, seed);
        // Oracle: (prefix, address bytes) -> expires_us.
        std::map<std::pair<int, std::array<uint8_t, 16>>, int64_t> oracle;
        int64_t now = kNowUs;

        auto brute_force = [&](const IpAddress& a, int64_t at) -> std::pair<bool, Network> {
            const Network* best = nullptr;
            Network winner{};
            for (const auto& [k, expires] : oracle) {
                Network candidate{IpAddress{k.second}, static_cast<uint8_t>(k.first)};
                if (expires <= at || !candidate.contains(a)) continue;
                if (!best || candidate.prefix > winner.prefix) {
                    winner = candidate;
                    best = &winner;
                }
            }
            return {best != nullptr, winner};
        };

        for (int step = 0; step < 6000; ++step) {
            now += static_cast<int64_t>(rng() % 1000);
            int op = static_cast<int>(rng() % 20);
            if (op < 9) {
                Network n = random_network(rng);
                int64_t expires =
                    rng() % 4 == 0 ? kNever : now + static_cast<int64_t>(rng() % 200000);
                bool full = oracle.size() >= capacity;
                bool present = oracle.count({n.prefix, n.address.bytes}) != 0;
                bool ok = s.set.upsert(entry_for(n, expires));
                ASSERT_EQ(ok, present || !full);
                refused_full += !ok;
                if (ok) oracle[{n.prefix, n.address.bytes}] = expires;
            } else if (op < 13) {
                Network n = random_network(rng);
                bool removed = s.set.remove(n);
                ASSERT_EQ(removed, oracle.erase({n.prefix, n.address.bytes}) == 1) << n.to_string();
                removed_total += removed;
            } else if (op == 13) {
                uint32_t expected = 0;
                for (auto it = oracle.begin(); it != oracle.end();) {
                    if (it->second <= now) {
                        it = oracle.erase(it);
                        ++expected;
                    } else {
                        ++it;
                    }
                }
                ASSERT_EQ(s.set.remove_expired(now), expected);
            } else {
                IpAddress a = random_address(rng);
                int64_t at = now + static_cast<int64_t>(rng() % 100000);
                auto [any, want] = brute_force(a, at);
                const NetworkEntry* got = s.set.match(a, at);
                ASSERT_EQ(got != nullptr, any) << a.to_string();
                ++(got ? found : not_found);
                if (got) {
                    ASSERT_EQ(network_of(*got), want) << a.to_string();
                    ASSERT_GT(got->expires_us, at);
                }
            }
            ASSERT_EQ(s.set.size(), oracle.size());
        }
        // Every stored network is findable, and for_each sees exactly the oracle.
        size_t visited = 0;
        s.set.for_each([&](const NetworkEntry& e) {
            ++visited;
            auto it = oracle.find({e.prefix, e.address.bytes});
            ASSERT_NE(it, oracle.end()) << network_of(e).to_string();
            EXPECT_EQ(e.expires_us, it->second);
        });
        EXPECT_EQ(visited, oracle.size());
        for (const auto& [k, expires] : oracle) {
            const NetworkEntry* e =
                s.set.find(Network{IpAddress{k.second}, static_cast<uint8_t>(k.first)});
            ASSERT_NE(e, nullptr);
            EXPECT_EQ(e->expires_us, expires);
        }
    }
    // The random mix must exercise hits, misses, removals and a full set.
    EXPECT_GT(found, 1000);
    EXPECT_GT(not_found, 1000);
    EXPECT_GT(removed_total, 100);
    EXPECT_GT(refused_full, 100);
    RecordProperty("found", std::to_string(found));
    RecordProperty("not_found", std::to_string(not_found));
    RecordProperty("removed", std::to_string(removed_total));
    RecordProperty("refused_full", std::to_string(refused_full));
}

// Fill to capacity with thousands of networks and drain through remove_expired, which
// erases while scanning and must not skip entries that backward shifts move.
TEST(NetworkSet, RemoveExpiredAtFullLoad) {
    for (uint64_t seed = 1; seed <= 5; ++seed) {
        SCOPED_TRACE(testing::Message() << "seed " << seed);
        std::mt19937_64 rng(seed);
        const uint32_t capacity = 4096;  // 8192 slots: half full when full
        Set s(capacity, seed);
        std::map<std::pair<int, std::array<uint8_t, 16>>, int64_t> oracle;
        while (oracle.size() < capacity) {
            uint8_t a[4] = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                            static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
            Network n = Network::of(IpAddress::from_v4(a), 32);
            int64_t expires = kNowUs + static_cast<int64_t>(rng() % 10);
            if (!oracle.emplace(std::make_pair(n.prefix, n.address.bytes), expires).second)
                continue;
            ASSERT_TRUE(s.set.upsert(entry_for(n, expires)));
        }
        EXPECT_FALSE(s.set.upsert(entry_for(net("1.2.3.4/31"))));
        for (int64_t t = kNowUs; t < kNowUs + 10; ++t) {
            uint32_t expected = 0;
            for (auto it = oracle.begin(); it != oracle.end();) {
                if (it->second <= t) {
                    it = oracle.erase(it);
                    ++expected;
                } else {
                    ++it;
                }
            }
            ASSERT_EQ(s.set.remove_expired(t), expected) << t;
            ASSERT_EQ(s.set.size(), oracle.size());
            for (const auto& [k, expires] : oracle) {
                ASSERT_NE(s.set.find(Network{IpAddress{k.second}, static_cast<uint8_t>(k.first)}),
                          nullptr);
            }
        }
        EXPECT_EQ(s.set.size(), 0u);
    }
}

}  // namespace
}  // namespace infra::core
