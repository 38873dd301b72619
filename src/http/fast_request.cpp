// fast_request.cpp: see fast_request.hpp.
#include "http/fast_request.hpp"

#include <algorithm>
#include <cstring>

namespace infra::http {

namespace {

bool is_token_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
    return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Visible ASCII, space and tab only.
bool is_plain_value(std::string_view v) {
    for (const char c : v) {
        const auto u = static_cast<unsigned char>(c);
        if (u == '\t') continue;
        if (u < 0x20 || u >= 0x7f || c == '%') return false;
    }
    return true;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

FastRequestHead other() {
    FastRequestHead head;
    head.kind = FastRequestHead::Kind::kOther;
    return head;
}

}  // namespace

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

FastRequestHead parse_fast_request(std::string_view buffer, std::string_view path,
                                   const FastRequestLimits& limits, FastRequestScan* scan) {
    // The request line, as soon as it is all there (so that other requests leave early).
    const std::string expected = "GET " + std::string(path) + " HTTP/1.1\r\n";
    const std::size_t compare = std::min(buffer.size(), expected.size());
    if (buffer.compare(0, compare, expected, 0, compare) != 0) return other();
    if (buffer.size() < expected.size()) return FastRequestHead{};

    // Line by line from where the last call stopped, up to the blank line.
    FastRequestScan from_start;
    FastRequestScan& state = scan != nullptr ? *scan : from_start;
    if (state.examined < expected.size()) state = {expected.size(), expected.size()};
    std::size_t end = std::string_view::npos;  // the head's length, once complete
    for (std::size_t lf = buffer.find('\n', state.examined); lf != std::string_view::npos;
         lf = buffer.find('\n', lf + 1)) {
        // A bare LF ends a line for the library: never wait on what it would parse.
        if (buffer[lf - 1] != '\r') return other();
        const std::size_t line_bytes = lf + 1 - state.line_start;
        if (line_bytes > limits.max_line_bytes) return other();
        state.line_start = lf + 1;
        if (line_bytes == 2) {
            end = lf + 1;
            break;
        }
    }
    if (end == std::string_view::npos) {
        state.examined = buffer.size();
        // Known to end up above a limit (at least one more byte is needed).
        if (buffer.size() >= limits.max_head_bytes ||
            buffer.size() - state.line_start >= limits.max_line_bytes) {
            return other();
        }
        return FastRequestHead{};
    }
    if (end > limits.max_head_bytes) return other();

    FastRequestHead head;
    head.length = end;
    std::size_t pos = expected.size();
    while (pos < end - 2) {
        const std::size_t eol = buffer.find("\r\n", pos);
        const std::string_view line = buffer.substr(pos, eol - pos);
        pos = eol + 2;
        if (line.find('\n') != std::string_view::npos) return other();  // a bare LF
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return other();
        const std::string_view name = line.substr(0, colon);
        for (const char c : name) {
            if (!is_token_char(c) || c == '%') return other();
        }
        const std::string_view value = trim(line.substr(colon + 1));
        if (!is_plain_value(line.substr(colon + 1))) return other();
        if (equals_ignoring_case(name, "Content-Length") ||
            equals_ignoring_case(name, "Transfer-Encoding") ||
            equals_ignoring_case(name, "Content-Encoding") ||
            equals_ignoring_case(name, "Expect")) {
            return other();
        }
        if (equals_ignoring_case(name, "Connection") &&
            !equals_ignoring_case(value, "keep-alive")) {
            return other();
        }
        head.headers.emplace_back(std::string(name), std::string(value));
    }
    head.kind = FastRequestHead::Kind::kFast;
    return head;
}

}  // namespace infra::http
