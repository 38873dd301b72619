// test_printers.hpp: GoogleTest printers for the core's value types, so a failed
// EXPECT_EQ on an address or network shows "10.0.0.0/8" rather than raw bytes.
#pragma once

#include <ostream>

#include "core/ip_address.hpp"

namespace infra::core {

inline void PrintTo(const IpAddress& ip, std::ostream* os) {
    *os << ip.to_string();
}
inline void PrintTo(const Network& network, std::ostream* os) {
    *os << network.to_string() << " (prefix " << static_cast<int>(network.prefix) << ")";
}

}  // namespace infra::core
