// fast_request.hpp: recognises the one request shape GuardedServer's fast lane answers
// itself (fast_lane.hpp): "GET <path> HTTP/1.1" with no body, in plain, unambiguous bytes.
// Anything else — another path or method, a query, HTTP/1.0, a body header
// (Content-Length, Transfer-Encoding, Content-Encoding, Expect), a Connection header other
// than keep-alive, '%' anywhere (the library would percent-decode), a bare LF, a folded
// or malformed header line, control or non-ASCII bytes — is "other" and goes to the
// library's parser with every check of guarded_server.hpp. Pure; no shared state.
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

// Examines the start of buffer for a request to path (e.g. "/api/guard/check").
// kIncomplete: no blank line yet (the caller bounds how long it waits and how much).
FastRequestHead parse_fast_request(std::string_view buffer, std::string_view path);

// ASCII case-insensitive equality (header names).
bool equals_ignoring_case(std::string_view a, std::string_view b);

}  // namespace infra::http
