// guarded_server.hpp: infra_httpd's HTTP transport — Debian's cpp-httplib 0.11.4 with
// its own connection loop, so that the request guard can act before a body is read.
//
// What cpp-httplib 0.11.4 does not do by itself, and this adds (see docs/http.md):
//  - a pre-body hook: after the request line and headers, before any body byte is read,
//    on_headers() may answer (403 blocked, 429 limited, 413 too large, 401, 400 bad
//    framing); the connection is then closed with a lingering close (shutdown(SHUT_WR),
//    a short drain) so the client reads the answer instead of a reset;
//  - a body limit that also holds for chunked bodies: bodies are counted as they stream
//    and cut with 413 (and a close) at max_body_bytes;
//  - ambiguous framing refused (request smuggling): Content-Length together with
//    Transfer-Encoding, two Content-Length headers, a Transfer-Encoding other than
//    exactly "chunked" -> 400; a POST/PUT/PATCH without either -> 411;
//  - a deadline for the request line and headers (slow clients), and for the body;
//  - the peer address from the socket only (never a header);
//  - graceful shutdown: stop() stops accepting, lets requests in progress finish, and
//    closes idle keep-alive connections; the pool is sized for the connections allowed
//    so none waits unserved;
//  - SO_REUSEADDR (not the library's SO_REUSEPORT, which hides a second instance) and
//    TCP_NODELAY.
// Threads: one pool thread per open connection (cpp-httplib's model); the hooks run on
// those threads and must be thread-safe. No other shared state.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

namespace infra::http {

struct GuardedServerOptions {
    std::size_t max_connections = 64;         // pool threads; more connections wait in accept
    std::size_t max_body_bytes = 10 << 20;    // 413 above (Content-Length or streamed chunked)
    std::chrono::milliseconds header_deadline{10000};  // request line + headers
    std::chrono::milliseconds body_deadline{30000};    // the whole body
    std::chrono::milliseconds keep_alive_idle{5000};   // idle keep-alive connection closed
    std::chrono::milliseconds shutdown_grace{10000};   // stop(): longest wait for requests
};

// A decision taken from the request line and headers alone.
struct EarlyResponse {
    int status = 0;
    httplib::Headers headers;
    std::string body;
    std::string content_type = "application/json";
};

class GuardedServer : public httplib::Server {
  public:
    explicit GuardedServer(GuardedServerOptions options);

    // Called once per request after the headers, before any body byte is read, with the
    // peer's address (from the socket). A value answers the request without reading
    // its body and closes the connection; nullopt lets it proceed to the routes.
    // The request's Content-Length (if any) is already known to be <= max_body_bytes.
    std::function<std::optional<EarlyResponse>(const httplib::Request&, const std::string& peer)>
        on_headers;

    // Stops accepting, waits (up to shutdown_grace) for requests in progress to finish,
    // closes idle connections. Safe to call from any thread except a handler's; returns
    // once listen() may return.
    void stop_gracefully();

    // Requests being handled now (for /metrics and the tests).
    std::size_t requests_in_progress() const;

  private:
    bool process_and_close_socket(socket_t sock) override;

    GuardedServerOptions options_;
    std::atomic<std::size_t> in_progress_{0};
    std::atomic<bool> stopping_{false};
};

}  // namespace infra::http
