// ip_address_test.cpp: tests IpAddress and Network (src/core/ip_address.*): parsing of
// IPv4/IPv6 literals and networks, rejection of malformed text, IPv4-mapped IPv6
// equivalence, masking, containment, printing round trips and client_key (IPv4 kept
// whole, IPv6 grouped by its /64 or another configured prefix).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "test_printers.hpp"

namespace infra::core {
namespace {

IpAddress ip(const std::string& text) {
    auto parsed = IpAddress::parse(text);
    EXPECT_TRUE(parsed.has_value()) << "could not parse " << text;
    return parsed.value_or(IpAddress{});
}

Network net(const std::string& text) {
    auto parsed = Network::parse(text);
    EXPECT_TRUE(parsed.has_value()) << "could not parse " << text;
    return parsed.value_or(Network{});
}

TEST(IpAddress, ParsesIpv4AsMappedBytes) {
    IpAddress a = ip("10.1.2.3");
    const uint8_t expected[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
    for (int i = 0; i < 16; ++i) EXPECT_EQ(a.bytes[i], expected[i]) << "byte " << i;
    EXPECT_TRUE(a.is_v4());
    EXPECT_EQ(a.to_string(), "10.1.2.3");
}

TEST(IpAddress, ParsesIpv6) {
    IpAddress a = ip("2001:db8::1");
    const uint8_t expected[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    for (int i = 0; i < 16; ++i) EXPECT_EQ(a.bytes[i], expected[i]) << "byte " << i;
    EXPECT_FALSE(a.is_v4());
    EXPECT_EQ(a.to_string(), "2001:db8::1");
    EXPECT_FALSE(ip("::").is_v4());
    EXPECT_FALSE(ip("::1").is_v4());
}

TEST(IpAddress, FromV4AndFromV6AgreeWithParse) {
    const uint8_t v4[4] = {192, 168, 0, 1};
    EXPECT_EQ(IpAddress::from_v4(v4), ip("192.168.0.1"));
    const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    EXPECT_EQ(IpAddress::from_v6(v6), ip("2001:db8::7"));
}

TEST(IpAddress, RejectsMalformedText) {
    const std::vector<std::string> bad = {
        "300.1.1.1",        "1.2.3",       "",          "abc",      "1.2.3.4/33",
        "::/129",           "10.0.0.0/-1", "1.2.3.4.5", "1.2.3.4 ", " 1.2.3.4",
        "2001:db8:::1",     "12345::",     "::g",       "1.2.3.-4", "10.0.0.1/",
        "1:2:3:4:5:6:7:8:9"};
    for (const auto& text : bad) {
        EXPECT_FALSE(IpAddress::parse(text).has_value()) << "accepted \"" << text << "\"";
    }
}

TEST(Network, RejectsMalformedText) {
    const std::vector<std::string> bad = {
        "300.1.1.1",   "1.2.3",       "",          "abc",          "1.2.3.4/33",
        "::/129",      "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/x",
        "10.0.0.0/ 8", "10.0.0.0/+8", "::/1000",   "/8",           "10.0.0.0/0008"};
    for (const auto& text : bad) {
        EXPECT_FALSE(Network::parse(text).has_value()) << "accepted \"" << text << "\"";
    }
}

TEST(IpAddress, MappedIpv6EqualsIpv4) {
    IpAddress mapped = ip("::ffff:10.1.2.3");
    IpAddress plain = ip("10.1.2.3");
    EXPECT_EQ(mapped, plain);
    EXPECT_EQ(mapped.bytes, plain.bytes);
    EXPECT_TRUE(mapped.is_v4());
    EXPECT_EQ(mapped.to_string(), "10.1.2.3");
    // The hex spelling of the same mapped address is the same address too.
    EXPECT_EQ(ip("::ffff:a01:203"), plain);
    EXPECT_NE(ip("::10.1.2.3"), plain);  // IPv4-compatible, not mapped
}

TEST(IpAddress, Masking) {
    IpAddress a = ip("2001:db8:abcd:1234:5678:9abc:def0:1234");
    EXPECT_EQ(a.masked(128), a);
    EXPECT_EQ(a.masked(200), a);
    EXPECT_EQ(a.masked(64), ip("2001:db8:abcd:1234::"));
    EXPECT_EQ(a.masked(48), ip("2001:db8:abcd::"));
    EXPECT_EQ(a.masked(36), ip("2001:db8:a000::"));
    EXPECT_EQ(a.masked(1), ip("::"));
    EXPECT_EQ(a.masked(3), ip("2000::"));
    EXPECT_EQ(a.masked(0), ip("::"));
    EXPECT_EQ(a.masked(-5), ip("::"));

    IpAddress v4 = ip("10.255.129.7");
    EXPECT_EQ(v4.masked(96 + 8), ip("10.0.0.0"));
    EXPECT_EQ(v4.masked(96 + 17), ip("10.255.128.0"));
    EXPECT_EQ(v4.masked(96 + 32), v4);
    EXPECT_EQ(v4.masked(96), ip("0.0.0.0"));
    EXPECT_TRUE(v4.masked(96).is_v4());
    EXPECT_FALSE(v4.masked(95).is_v4());
}

TEST(Network, ParsesIpv4NetworkInto128BitSpace) {
    Network n = net("10.0.0.0/8");
    EXPECT_EQ(static_cast<int>(n.prefix), 104);
    EXPECT_EQ(n.family_prefix(), 8);
    EXPECT_EQ(n.address, ip("10.0.0.0"));
    EXPECT_FALSE(n.is_host());
    EXPECT_EQ(n.to_string(), "10.0.0.0/8");
}

TEST(Network, ClearsHostBits) {
    Network n = net("10.1.2.3/16");
    EXPECT_EQ(n.address, ip("10.1.0.0"));
    EXPECT_EQ(n.to_string(), "10.1.0.0/16");
    Network v6 = net("2001:db8::1/32");
    EXPECT_EQ(v6.address, ip("2001:db8::"));
    EXPECT_EQ(v6.prefix, 32);
    EXPECT_EQ(v6.to_string(), "2001:db8::/32");
}

TEST(Network, BareAddressIsAHostRoute) {
    Network n4 = net("10.0.0.1");
    EXPECT_TRUE(n4.is_host());
    EXPECT_EQ(n4.prefix, 128);
    EXPECT_EQ(n4.family_prefix(), 32);
    EXPECT_EQ(n4.to_string(), "10.0.0.1/32");
    Network n6 = net("2001:db8::1");
    EXPECT_TRUE(n6.is_host());
    EXPECT_EQ(n6.family_prefix(), 128);
    EXPECT_EQ(n6.to_string(), "2001:db8::1/128");
    EXPECT_EQ(net("10.0.0.1/32"), n4);
}

TEST(Network, PrefixBounds) {
    EXPECT_EQ(net("0.0.0.0/0").prefix, 96);
    EXPECT_EQ(net("0.0.0.0/0").family_prefix(), 0);
    EXPECT_EQ(net("1.2.3.4/32").prefix, 128);
    EXPECT_EQ(net("::/0").prefix, 0);
    EXPECT_EQ(net("::/0").family_prefix(), 0);
    EXPECT_EQ(net("::1/128").prefix, 128);
    EXPECT_EQ(net("10.0.0.0/08").prefix, 104);
}

TEST(Network, MappedIpv6NetworkEqualsIpv4Network) {
    // Written in IPv6 notation the prefix counts all 128 bits.
    EXPECT_EQ(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
    EXPECT_EQ(net("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
    EXPECT_EQ(net("::ffff:0:0/96"), net("0.0.0.0/0"));
    EXPECT_EQ(net("::ffff:10.1.2.3"), net("10.1.2.3/32"));
    EXPECT_EQ(net("::ffff:10.1.2.3/128"), net("10.1.2.3/32"));
    // A short IPv6 prefix over a mapped address is an IPv6 network, not an IPv4 one.
    EXPECT_EQ(static_cast<int>(net("::ffff:10.0.0.0/8").prefix), 8);
    EXPECT_EQ(net("::ffff:10.0.0.0/8").to_string(), "::/8");
    EXPECT_FALSE(Network::parse("::ffff:10.0.0.0/129").has_value());
}

TEST(Network, OfUsesTheFamilyPrefix) {
    Network v4 = Network::of(ip("192.168.77.9"), 24);
    EXPECT_EQ(v4.prefix, 120);
    EXPECT_EQ(v4.to_string(), "192.168.77.0/24");
    Network v6 = Network::of(ip("2001:db8::9"), 24);
    EXPECT_EQ(v6.prefix, 24);
    EXPECT_EQ(v6.to_string(), "2001:d00::/24");
}

TEST(Network, ContainsAddress) {
    Network n = net("10.0.0.0/8");
    EXPECT_TRUE(n.contains(ip("10.0.0.0")));
    EXPECT_TRUE(n.contains(ip("10.255.255.255")));
    EXPECT_TRUE(n.contains(ip("::ffff:10.9.9.9")));
    EXPECT_FALSE(n.contains(ip("11.0.0.0")));
    EXPECT_FALSE(n.contains(ip("9.255.255.255")));
    EXPECT_FALSE(n.contains(ip("a00::")));  // same leading byte, but IPv6

    Network v6 = net("2001:db8:1::/48");
    EXPECT_TRUE(v6.contains(ip("2001:db8:1::1")));
    EXPECT_TRUE(v6.contains(ip("2001:db8:1:ffff:ffff:ffff:ffff:ffff")));
    EXPECT_FALSE(v6.contains(ip("2001:db8:2::1")));

    Network all = net("::/0");
    EXPECT_TRUE(all.contains(ip("10.0.0.1")));
    EXPECT_TRUE(all.contains(ip("2001:db8::1")));

    Network all_v4 = net("0.0.0.0/0");
    EXPECT_TRUE(all_v4.contains(ip("1.2.3.4")));
    EXPECT_FALSE(all_v4.contains(ip("2001:db8::1")));

    Network host = net("10.0.0.1");
    EXPECT_TRUE(host.contains(ip("10.0.0.1")));
    EXPECT_FALSE(host.contains(ip("10.0.0.2")));
}

TEST(Network, ContainsNetwork) {
    Network n8 = net("10.0.0.0/8");
    Network n16 = net("10.1.0.0/16");
    EXPECT_TRUE(n8.contains(n16));
    EXPECT_FALSE(n16.contains(n8));
    EXPECT_TRUE(n8.contains(n8));
    EXPECT_FALSE(n8.contains(net("11.0.0.0/16")));
    EXPECT_FALSE(n16.contains(net("10.2.0.0/24")));
    EXPECT_TRUE(n16.contains(net("10.1.2.3")));
    EXPECT_TRUE(net("::/0").contains(n8));
    EXPECT_TRUE(net("2001:db8::/32").contains(net("2001:db8:1::/48")));
    EXPECT_FALSE(net("2001:db8:1::/48").contains(net("2001:db8::/32")));
}

TEST(IpAddress, ToStringRoundTrips) {
    const std::vector<std::string> texts = {
        "0.0.0.0",     "10.1.2.3",  "255.255.255.255",      "::",     "::1",
        "2001:db8::1", "fe80::1:2", "2001:db8:0:1:1:1:1:1", "ff02::2"};
    for (const auto& text : texts) {
        EXPECT_EQ(ip(text).to_string(), text);
        EXPECT_EQ(ip(ip(text).to_string()), ip(text));
    }
    // Non-canonical spellings print in RFC 5952 form.
    EXPECT_EQ(ip("2001:0DB8:0000:0000:0000:0000:0000:0001").to_string(), "2001:db8::1");
}

TEST(Network, ToStringRoundTrips) {
    const std::vector<std::string> texts = {
        "10.0.0.0/8", "10.1.0.0/16",   "192.168.1.128/25",  "0.0.0.0/0", "1.2.3.4/32",
        "::/0",       "2001:db8::/32", "2001:db8:1:2::/64", "::1/128"};
    for (const auto& text : texts) {
        Network n = net(text);
        EXPECT_EQ(n.to_string(), text);
        EXPECT_EQ(net(n.to_string()), n);
    }
}

TEST(ClientKey, Ipv4IsUnchanged) {
    IpAddress a = ip("203.0.113.77");
    for (int prefix : {0, 48, 64, 128}) {
        Network key = client_key(a, prefix);
        EXPECT_EQ(key.address, a);
        EXPECT_EQ(key.prefix, 128);
        EXPECT_EQ(key.to_string(), "203.0.113.77/32");
    }
    EXPECT_FALSE(client_key(ip("203.0.113.77"), 64) == client_key(ip("203.0.113.78"), 64));
}

TEST(ClientKey, Ipv6IsGroupedByPrefix64) {
    Network a = client_key(ip("2001:db8:1:2:aaaa::1"), 64);
    Network b = client_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 64);
    Network c = client_key(ip("2001:db8:1:3::1"), 64);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.address, b.address);
    EXPECT_FALSE(a == c);
    EXPECT_NE(a.address, c.address);
    EXPECT_EQ(a.prefix, 64);
    EXPECT_EQ(a.address, ip("2001:db8:1:2::"));
    EXPECT_EQ(a.to_string(), "2001:db8:1:2::/64");
}

TEST(ClientKey, Ipv6Prefix48) {
    Network a = client_key(ip("2001:db8:1:2::1"), 48);
    Network b = client_key(ip("2001:db8:1:ffff::9"), 48);
    Network c = client_key(ip("2001:db8:2::1"), 48);
    EXPECT_EQ(a, b);
    EXPECT_FALSE(a == c);
    EXPECT_EQ(a.prefix, 48);
    EXPECT_EQ(a.to_string(), "2001:db8:1::/48");
    // The same two addresses differ under /64.
    EXPECT_FALSE(client_key(ip("2001:db8:1:2::1"), 64) == client_key(ip("2001:db8:1:ffff::9"), 64));
}

TEST(ClientKey, Ipv6Prefix128KeepsTheWholeAddress) {
    EXPECT_FALSE(client_key(ip("2001:db8::1"), 128) == client_key(ip("2001:db8::2"), 128));
    EXPECT_EQ(client_key(ip("2001:db8::1"), 128).address, ip("2001:db8::1"));
}

}  // namespace
}  // namespace infra::core
