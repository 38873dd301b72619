// client_address.hpp: which address a request counts against. The socket peer, unless
// the peer is a trusted proxy: then the right-most address in X-Forwarded-For that is
// not itself a trusted proxy (each proxy appends the address it received from, so
// everything left of the first untrusted hop may be forged by the client). Pure; no
// shared state.
#pragma once

#include <string>
#include <vector>

#include "core/ip_address.hpp"

namespace infra::http {

class TrustedProxies {
  public:
    // "10.0.0.0/8,127.0.0.1" (empty: none). Throws std::invalid_argument naming a bad entry.
    static TrustedProxies parse(const std::string& list);
    bool contains(const core::IpAddress& ip) const;
    // The same for an address as text (false when it is not an address).
    bool contains_text(const std::string& ip) const;
    bool empty() const { return networks_.empty(); }

  private:
    std::vector<core::Network> networks_;
};

// The client address for a request from peer with the given X-Forwarded-For header
// values (all of them, in order; empty when absent). A malformed entry ends the walk:
// the address to its right (or the peer) is used.
std::string client_address(const std::string& peer, const std::vector<std::string>& forwarded_for,
                           const TrustedProxies& trusted);

}  // namespace infra::http
