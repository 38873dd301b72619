// client_address.cpp: see client_address.hpp.
#include "http/client_address.hpp"

#include <stdexcept>

namespace infra::http {

namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t comma = s.find(',', start);
        out.push_back(
            trim(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

}  // namespace

TrustedProxies TrustedProxies::parse(const std::string& list) {
    TrustedProxies out;
    if (trim(list).empty()) return out;
    for (const std::string& item : split_commas(list)) {
        std::optional<core::Network> net = core::Network::parse(item);
        if (!net) throw std::invalid_argument("not an address or CIDR range: \"" + item + "\"");
        out.networks_.push_back(*net);
    }
    return out;
}

bool TrustedProxies::contains(const core::IpAddress& ip) const {
    for (const core::Network& n : networks_) {
        if (n.contains(ip)) return true;
    }
    return false;
}

bool TrustedProxies::contains_text(const std::string& ip) const {
    std::optional<core::IpAddress> parsed = core::IpAddress::parse(ip);
    return parsed && contains(*parsed);
}

std::string client_address(const std::string& peer, const std::vector<std::string>& forwarded_for,
                           const TrustedProxies& trusted) {
    std::optional<core::IpAddress> peer_ip = core::IpAddress::parse(peer);
    if (!peer_ip || !trusted.contains(*peer_ip)) return peer;
    std::vector<std::string> hops;
    for (const std::string& header : forwarded_for) {
        for (const std::string& hop : split_commas(header)) hops.push_back(hop);
    }
    std::string chosen = peer;
    for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
        std::optional<core::IpAddress> ip = core::IpAddress::parse(*it);
        if (!ip) break;
        chosen = ip->to_string();
        if (!trusted.contains(*ip)) break;
    }
    return chosen;
}

}  // namespace infra::http
