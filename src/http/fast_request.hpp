// fast_request.hpp: recognises the one request shape GuardedServer's fast lane answers
// itself (fast_lane.hpp): "GET <path> HTTP/1.1" with no body, in plain, unambiguous bytes.
// Anything else — another path or method, a query, HTTP/1.0, a body header
// (Content-Length, Transfer-Encoding, Content-Encoding, Expect), a Connection header other
// than keep-alive, '%' anywhere (the library would percent-decode), a bare LF, a folded
// or malformed header line, control or non-ASCII bytes, a head or line above the
// library's limits — is "other" and goes to the library's parser with every check of
// guarded_server.hpp. Pure; no shared state (the scan state is the caller's).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infra::http {

struct FastRequestHead {
    enum class Kind { kIncomplete, kFast, kOther };
    Kind kind = Kind::kIncomplete;
    std::size_t length = 0;  // bytes of the request line and headers, the blank line included
    std::vector<std::pair<std::string, std::string>> headers;  // names as sent, values trimmed
};

// What the library's parser refuses (431 or 400), so never fast: a head (request line,
// headers, blank line) above max_head_bytes, one line (with its CRLF) above max_line_bytes.
struct FastRequestLimits {
    std::size_t max_head_bytes = 64 << 10;
    std::size_t max_line_bytes = 8192;  // cpp-httplib's CPPHTTPLIB_HEADER_MAX_LENGTH
};

// How far an incomplete head has been examined: the caller keeps it between calls on the
// same buffer while bytes are appended (and starts from {} when the buffer's start
// changes), so a head arriving byte by byte is not scanned again from its start each time.
struct FastRequestScan {
    std::size_t examined = 0;    // bytes seen: no blank line, no bare LF, no line too long
    std::size_t line_start = 0;  // where the line being read starts
};

// Examines the start of buffer for a request to path (e.g. "/api/guard/check").
// kIncomplete: no blank line yet (the caller bounds how long it waits); kOther as soon as
// the head is known to exceed a limit. scan: see FastRequestScan (nullptr: from the start).
FastRequestHead parse_fast_request(std::string_view buffer, std::string_view path,
                                   const FastRequestLimits& limits = {},
                                   FastRequestScan* scan = nullptr);

// ASCII case-insensitive equality (header names).
bool equals_ignoring_case(std::string_view a, std::string_view b);

}  // namespace infra::http
