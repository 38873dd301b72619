// ip_address.cpp: parsing, masking and printing of IpAddress and Network.
#include "core/ip_address.hpp"

#include <arpa/inet.h>

#include <cstdlib>
#include <cstring>

namespace infra::core {

namespace {
constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

IpAddress IpAddress::from_v4(const uint8_t v4[4]) {
    IpAddress ip;
    std::memcpy(ip.bytes.data(), kMappedPrefix, 12);
    std::memcpy(ip.bytes.data() + 12, v4, 4);
    return ip;
}

IpAddress IpAddress::from_v6(const uint8_t v6[16]) {
    IpAddress ip;
    std::memcpy(ip.bytes.data(), v6, 16);
    return ip;
}

std::optional<IpAddress> IpAddress::parse(const std::string& text) {
    uint8_t buf[16];
    if (inet_pton(AF_INET, text.c_str(), buf) == 1) return from_v4(buf);
    if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return from_v6(buf);
    return std::nullopt;
}

bool IpAddress::is_v4() const {
    return std::memcmp(bytes.data(), kMappedPrefix, 12) == 0;
}

IpAddress IpAddress::masked(int prefix) const {
    IpAddress out = *this;
    if (prefix >= 128) return out;
    if (prefix < 0) prefix = 0;
    int full = prefix / 8;
    int rest = prefix % 8;
    if (rest != 0) {
        out.bytes[full] &= static_cast<uint8_t>(0xff << (8 - rest));
        ++full;
    }
    for (int i = full; i < 16; ++i) out.bytes[i] = 0;
    return out;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    if (is_v4()) {
        inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
    } else {
        inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    }
    return buf;
}

Network Network::of(const IpAddress& address, int family_prefix) {
    int prefix = address.is_v4() ? 96 + family_prefix : family_prefix;
    if (prefix < 0) prefix = 0;
    if (prefix > 128) prefix = 128;
    return Network{address.masked(prefix), static_cast<uint8_t>(prefix)};
}

Network Network::of_v6(const IpAddress& address, int prefix) {
    if (prefix < 0) prefix = 0;
    if (prefix > 128) prefix = 128;
    return Network{address.masked(prefix), static_cast<uint8_t>(prefix)};
}

std::optional<Network> Network::parse(const std::string& text) {
    auto slash = text.find('/');
    std::string address = text.substr(0, slash);
    auto ip = IpAddress::parse(address);
    if (!ip) return std::nullopt;
    // The prefix counts bits of the notation the address is written in: an IPv6
    // literal (even "::ffff:a.b.c.d") takes an IPv6 prefix, /0..128.
    bool v6_text = address.find(':') != std::string::npos;
    int max = v6_text ? 128 : 32;
    int family_prefix = max;
    if (slash != std::string::npos) {
        std::string digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3 ||
            digits.find_first_not_of("0123456789") != std::string::npos) {
            return std::nullopt;
        }
        family_prefix = std::atoi(digits.c_str());
        if (family_prefix > max) return std::nullopt;
    }
    if (v6_text) return Network{ip->masked(family_prefix), static_cast<uint8_t>(family_prefix)};
    return of(*ip, family_prefix);
}

std::string Network::to_string() const {
    return address.to_string() + "/" + std::to_string(family_prefix());
}

Network client_key(const IpAddress& ip, int ipv6_prefix) {
    if (ip.is_v4()) return Network{ip, 128};
    return Network::of(ip, ipv6_prefix);
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
