// hash.hpp: a seeded 64-bit hash of a 16-byte address.
//
// The seed is drawn at random when shared memory is created, so a client cannot pick
// addresses that all land in one partition or one probe chain. Not cryptographic;
// it only has to spread keys an attacker cannot predict the seed for.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/ip_address.hpp"

namespace infra::core {

inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

inline uint64_t hash_address(const IpAddress& ip, uint64_t seed, uint64_t extra = 0) {
    uint64_t hi, lo;
    std::memcpy(&hi, ip.bytes.data(), 8);
    std::memcpy(&lo, ip.bytes.data() + 8, 8);
    uint64_t h = mix64(seed ^ hi);
    h = mix64(h ^ lo ^ 0x9e3779b97f4a7c15ULL);
    return mix64(h ^ extra);
}

}  // namespace infra::core
