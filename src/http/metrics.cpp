// metrics.cpp: see metrics.hpp.
#include "http/metrics.hpp"

#include <cstdio>
#include <sstream>

namespace infra::http {

std::string prometheus_label(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

void Metrics::observe(const std::string& route, int status, double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++requests_[{route, status}];
    Histogram& h = latency_[route];
    for (size_t i = 0; i < kBuckets.size(); ++i) {
        if (seconds <= kBuckets[i]) ++h.buckets[i];
    }
    ++h.count;
    h.sum += seconds;
}

void Metrics::count_verdict(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++verdicts_[reason];
}

void Metrics::count_guard_statement(std::size_t checks) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++guard_statements_;
    guard_statement_checks_ += checks;
}

std::string Metrics::render() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::ostringstream out;
    out << "# HELP infra_http_requests_total HTTP requests by route and status.\n"
        << "# TYPE infra_http_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
        out << "infra_http_requests_total{route=\"" << prometheus_label(key.first) << "\",status=\""
            << key.second << "\"} " << n << "\n";
    }
    out << "# HELP infra_http_request_duration_seconds Time to answer a request, by route.\n"
        << "# TYPE infra_http_request_duration_seconds histogram\n";
    for (const auto& [route, h] : latency_) {
        const std::string label = prometheus_label(route);
        for (size_t i = 0; i < kBuckets.size(); ++i) {
            char le[32];
            std::snprintf(le, sizeof le, "%g", kBuckets[i]);
            out << "infra_http_request_duration_seconds_bucket{route=\"" << label << "\",le=\""
                << le << "\"} " << h.buckets[i] << "\n";
        }
        out << "infra_http_request_duration_seconds_bucket{route=\"" << label << "\",le=\"+Inf\"} "
            << h.count << "\n"
            << "infra_http_request_duration_seconds_sum{route=\"" << label << "\"} " << h.sum
            << "\n"
            << "infra_http_request_duration_seconds_count{route=\"" << label << "\"} " << h.count
            << "\n";
    }
    out << "# HELP infra_guard_verdicts_total Guard verdicts given to HTTP requests.\n"
        << "# TYPE infra_guard_verdicts_total counter\n";
    for (const auto& [reason, n] : verdicts_) {
        out << "infra_guard_verdicts_total{verdict=\"" << prometheus_label(reason) << "\"} " << n
            << "\n";
    }
    out << "# HELP infra_guard_statements_total Statements that carried guard checks.\n"
        << "# TYPE infra_guard_statements_total counter\n"
        << "infra_guard_statements_total " << guard_statements_ << "\n"
        << "# HELP infra_guard_statement_checks_total Guard checks those statements carried.\n"
        << "# TYPE infra_guard_statement_checks_total counter\n"
        << "infra_guard_statement_checks_total " << guard_statement_checks_ << "\n";
    return out.str();
}

}  // namespace infra::http
