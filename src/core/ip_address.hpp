// ip_address.hpp: addresses and networks in one 128-bit space.
//
// Every IPv4 address is stored as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so
// "10.0.0.1", "::ffff:10.0.0.1" and the network "10.0.0.0/8" (= ::ffff:10.0.0.0/104)
// compare, hash and match as one thing. Pure value types: no locking, no PostgreSQL.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace infra::core {

// A 16-byte address in network byte order; IPv4 is kept IPv4-mapped.
struct IpAddress {
    std::array<uint8_t, 16> bytes;  // trivial, so entries holding it can live in shared memory

    static IpAddress from_v4(const uint8_t v4[4]);
    static IpAddress from_v6(const uint8_t v6[16]);  // maps ::ffff:a.b.c.d stays mapped
    // Parses "a.b.c.d" or an IPv6 literal; nullopt when malformed.
    static std::optional<IpAddress> parse(const std::string& text);

    bool is_v4() const;  // true for the IPv4-mapped range ::ffff:0:0/96
    // Keeps the first `prefix` bits (0..128) and zeroes the rest.
    IpAddress masked(int prefix) const;
    // "10.0.0.1" for IPv4, the RFC 5952 form for IPv6.
    std::string to_string() const;

    bool operator==(const IpAddress& other) const { return bytes == other.bytes; }
    bool operator!=(const IpAddress& other) const { return !(*this == other); }
};

// A network: address with all host bits zero, plus a prefix length in the 128-bit space.
struct Network {
    IpAddress address;
    uint8_t prefix = 128;  // 0..128; an IPv4 /n is stored as 96 + n

    // Builds a network from an address and a prefix written in its own family
    // (IPv4 /0..32, IPv6 /0..128). Host bits are cleared.
    static Network of(const IpAddress& address, int family_prefix);
    // Builds a network from a prefix counted in 128 bits (an IPv6 literal's prefix,
    // including ::ffff:a.b.c.d/n). Host bits are cleared.
    static Network of_v6(const IpAddress& address, int prefix);
    // Parses "a.b.c.d/n", "x::/n" or a bare address (a host route).
    static std::optional<Network> parse(const std::string& text);

    bool contains(const IpAddress& ip) const { return ip.masked(prefix) == address; }
    bool contains(const Network& other) const {
        return other.prefix >= prefix && contains(other.address);
    }
    bool is_host() const { return prefix == 128; }
    // The prefix length in the network's own family (e.g. 24 for an IPv4 /24).
    int family_prefix() const { return address.is_v4() && prefix >= 96 ? prefix - 96 : prefix; }
    // "10.0.0.0/8", "2001:db8::/32", "10.0.0.1/32".
    std::string to_string() const;

    bool operator==(const Network& other) const {
        return prefix == other.prefix && address == other.address;
    }
};

// The key the request guard counts under: IPv4 addresses one by one, IPv6 clients by
// their /ipv6_prefix (so rotating inside a /64 does not evade the limits).
Network client_key(const IpAddress& ip, int ipv6_prefix);

}  // namespace infra::core
