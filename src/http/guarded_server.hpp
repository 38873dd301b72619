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
//    exactly "chunked" -> 400 (a request with neither has no body);
//  - a deadline for the request line and headers (slow clients; cut without an answer),
//    and for the body (408 and a close); a cap on the header bytes (431 and a close);
//  - a request body with a Content-Encoding (which the library would inflate past the
//    limit) -> 415; bytes of a body the route did not read never become a next request
//    (the connection is closed instead);
//  - the peer address from the socket only (never a header): req.remote_addr, and the
//    library's REMOTE_ADDR/REMOTE_PORT/LOCAL_ADDR/LOCAL_PORT pseudo-headers are replaced
//    with the socket's values (IPv4-mapped IPv6 peers are given as plain IPv4);
//  - graceful shutdown: stop_gracefully() stops accepting, lets requests in progress
//    finish, and closes idle keep-alive connections; the pool is sized for the connections
//    allowed so none waits unserved (accept waits while all its threads are busy);
//  - SO_REUSEADDR (not the library's SO_REUSEPORT, which hides a second instance) and
//    TCP_NODELAY.
// Threads: one pool thread per open connection (cpp-httplib's model); on_headers and the
// routes run on those threads and must be thread-safe. With set_fast_route(), connections
// start on fast_lanes epoll threads instead (fast_lane.hpp) and move to a pool thread at
// their first other request. Shared state: the counters below (atomics), the set of open
// connection sockets (under a mutex, for stop_gracefully) and the pool's job queue.
// Early answers (the guard's, on_headers') are written by this class and do not pass
// through the library's logger. A GuardedServer serves one listen() and is then spent.
#pragma once

#include <httplib.h>

#include "http/fast_lane.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <memory>

namespace infra::http {

struct GuardedServerOptions {
    std::size_t max_connections = 64;       // pool threads; more connections wait in accept
    std::size_t max_body_bytes = 10 << 20;  // 413 above (Content-Length or streamed chunked)
    std::chrono::milliseconds header_deadline{10000};  // request line + headers
    std::chrono::milliseconds body_deadline{30000};    // the whole body
    std::chrono::milliseconds keep_alive_idle{5000};   // idle keep-alive connection closed
    std::chrono::milliseconds shutdown_grace{10000};   // stop_gracefully(): longest wait
    std::size_t max_header_bytes = 64 << 10;           // request line + headers; 431 above
    std::size_t fast_lanes = 1;  // epoll threads for set_fast_route() (0: none)
    // Connections held open at once (on the lanes, queued for a thread, on a thread); one
    // accepted beyond it is closed at once. 0: max(1024, 16 x max_connections).
    std::size_t max_open_connections = 0;
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
    // Sets up the connection pool (max_connections threads, accept waits when all are
    // busy), SO_REUSEADDR, TCP_NODELAY and the keep-alive timeout. Throws
    // std::invalid_argument for a zero limit or deadline, std::system_error if no wake-up
    // pipe can be made.
    explicit GuardedServer(GuardedServerOptions options);
    ~GuardedServer() override;
    GuardedServer(const GuardedServer&) = delete;
    GuardedServer& operator=(const GuardedServer&) = delete;

    // Called once per request after the headers, before any body byte is read, with the
    // peer's address (from the socket). A value answers the request without reading
    // its body and closes the connection; nullopt lets it proceed to the routes.
    // The request's Content-Length (if any) is already known to be <= max_body_bytes.
    // Not called when the framing checks above already refused the request. If it throws,
    // the answer is a 500 (and the connection is closed).
    using HeadersHook = std::function<std::optional<EarlyResponse>(const httplib::Request&,
                                                                   const std::string& peer)>;
    HeadersHook on_headers;

    // Stops accepting, waits (up to shutdown_grace) for requests in progress to finish,
    // closes idle connections. Safe to call from any thread except a handler's; returns
    // once listen() may return. After shutdown_grace the open sockets are shut down (a
    // handler's body read or response write fails) and it waits one more second; a
    // handler that never returns still keeps listen() from returning.
    void stop_gracefully();

    // Serves "GET <path> HTTP/1.1" without a body on the fast lane (fast_lane.hpp):
    // connections are accepted into fast_lanes epoll threads, which answer such requests
    // in batches through handler; at anything else a connection moves to the thread path
    // above for good. Set before listen(). Without it every connection has its thread.
    // on_headers and the routes never see the requests the lane answers.
    void set_fast_route(std::string path, FastLaneHandler handler);

    // Requests being handled now by the thread path (for /metrics and the tests).
    std::size_t requests_in_progress() const;
    // Connections open now, and those closed at once because max_open_connections were
    // open (for /metrics and the tests).
    std::size_t open_connections() const;
    std::size_t connections_refused() const;

    // The library's, then the listen backlog raised from its compiled-in 5 to SOMAXCONN
    // (connections beyond max_connections wait there). They hide httplib::Server's
    // non-virtual versions: call them on a GuardedServer, not through a Server&.
    bool bind_to_port(const std::string& host, int port, int socket_flags = 0);
    int bind_to_any_port(const std::string& host, int socket_flags = 0);
    bool listen(const std::string& host, int port, int socket_flags = 0);

    // Hides httplib::Server's: the handler runs, then this class marks the response
    // "Connection: close" (no Keep-Alive) when the connection is about to end (stopping,
    // or a body the route left unread). Through a Server& the marking would be lost.
    GuardedServer& set_post_routing_handler(Handler handler);

  private:
    // The library's private virtual, called on a pool thread for each accepted socket.
    bool process_and_close_socket(socket_t sock) override;
    // A connection from a fast lane: its unread bytes, the requests it had and when the
    // header deadline of its next request started.
    struct HandedOff {
        std::string unread;
        std::size_t served = 0;
        std::chrono::steady_clock::time_point head_start;
    };
    void serve_connection(socket_t sock, const HandedOff* handed_off = nullptr);
    void serve_handed_off(socket_t sock, const HandedOff& handed_off, const std::string& unsent);
    bool admit_connection();
    void connection_closed();
    httplib::TaskQueue* make_connection_pool();
    void raise_listen_backlog();
    void finish_response_headers(const httplib::Request& req, httplib::Response& res);
    void register_socket(socket_t sock);
    void unregister_socket(socket_t sock);
    void shut_down_open_sockets();
    bool wait_until_listen_ends(std::chrono::steady_clock::time_point deadline) const;

    GuardedServerOptions options_;
    std::atomic<std::size_t> in_progress_{0};
    std::size_t max_open_connections_ = 0;  // options_'s, resolved
    std::atomic<std::size_t> open_connections_{0};
    std::atomic<std::size_t> connections_refused_{0};
    std::atomic<bool> stopping_{false};
    int wake_pipe_[2] = {-1, -1};  // readable once stopping: ends idle keep-alive waits
    std::mutex sockets_mutex_;
    std::set<socket_t> open_sockets_;
    Handler post_routing_handler_;  // the user's; set before listen()
    std::string fast_path_;         // set_fast_route(); set before listen()
    FastLaneHandler fast_handler_;
    // Made by make_connection_pool() on the accept thread, which alone adopts sockets
    // into them; stopped by the pool's shutdown() before its threads are joined.
    std::vector<std::unique_ptr<FastLane>> lanes_;
    std::size_t next_lane_ = 0;
};

}  // namespace infra::http
