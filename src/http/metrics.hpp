// metrics.hpp: infra_httpd's own Prometheus metrics — requests by route and status,
// latency histograms by route, guard verdicts and the statements that carried the guard's
// checks — in the text exposition format.
// Thread-safe: every update and the rendering take one mutex (updates are a few
// additions; rendering copies nothing big).
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace infra::http {

class Metrics {
  public:
    static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                        0.1,   0.25,   0.5,   1.0,  2.5,   5.0};

    // One finished request: its route pattern ("/api/infrastructure/ddos/ip/:ip", or
    // "unmatched"), status and duration.
    void observe(const std::string& route, int status, double seconds);
    // One guard verdict ("ok", "blocked", "rate_limit_minute", ...).
    void count_verdict(const std::string& reason);

    // One statement that carried `checks` guard checks (batched: guard_batcher.hpp).
    void count_guard_statement(std::size_t checks);

    // The metrics above in Prometheus text format (infra_http_*, infra_guard_*).
    std::string render() const;

  private:
    struct Histogram {
        std::array<unsigned long long, kBuckets.size()> buckets{};
        unsigned long long count = 0;
        double sum = 0;
    };
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, unsigned long long> requests_;
    std::map<std::string, Histogram> latency_;
    std::map<std::string, unsigned long long> verdicts_;
    unsigned long long guard_statements_ = 0;
    unsigned long long guard_statement_checks_ = 0;
};

// A label value escaped for the exposition format (\\, \" and \n).
std::string prometheus_label(const std::string& value);

}  // namespace infra::http
