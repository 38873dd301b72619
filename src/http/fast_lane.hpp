// fast_lane.hpp: GuardedServer's fast lane — one thread with an epoll loop that owns idle
// keep-alive connections and answers, itself and in batches, the one hot request nginx's
// auth_request and load balancers send all the time (GET /api/guard/check, no body).
//
// Why: a thread per connection costs two context switches and a poll() per request; on
// two cores shared with the database that, not the database, was the limit (issue 5).
// Here one epoll_wait() returns every connection with a request, all of those requests go
// to the handler together (one database statement for their guard checks), and their
// answers are written back in the same pass.
//
// What it answers: only what parse_fast_request() calls fast (fast_request.hpp). At the
// first byte of anything else — or a head above max_header_bytes, or a request the
// handler leaves unanswered (e.g. the database failed) — the connection, with its unread
// bytes and any answer not yet sent, is handed off to the library's thread-per-connection
// path and all of guarded_server.hpp's checks, and never comes back. Deadlines: the first
// request's head within header_deadline of the accept, later ones within keep_alive_idle
// of the last answer (an unfinished head is cut without an answer, as the library path
// does); max_requests answers per connection, the last with "Connection: close".
// While the handler runs (a database round trip) the lane waits: requests arriving
// meanwhile go into the next batch. Connections of a pass whose next request is not a
// fast one are handed off before the handler runs, so they do not wait for it; but one
// accepted while the handler runs is read only after it returns (the handler must bound
// its own time, e.g. with a statement timeout).
//
// Threads and shared state: adopt() is called by the accept thread and hands the socket
// over through a mutex-protected list and an eventfd; everything else (the connections,
// their buffers) belongs to the lane's thread. `stopping` is read, never written. The
// handler runs on the lane's thread.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace infra::http {

// One request the fast lane serves, and the answer the handler gives it.
struct FastLaneRequest {
    std::string peer;                                          // the socket's peer address
    std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order

    bool answered = false;  // false: the library's path serves it (and the rest)
    int status = 204;
    httplib::Headers response_headers;
    std::string body;  // with content_type when not empty
    std::string content_type = "application/json";
};

// Answers a batch of requests (sets answered, status and headers on each it answers).
// Runs on the lane's thread; exceptions count as "none answered".
using FastLaneHandler = std::function<void(std::vector<FastLaneRequest>&)>;

struct FastLaneOptions {
    std::string path;  // "/api/guard/check"
    std::size_t max_header_bytes = 64 << 10;
    std::chrono::milliseconds header_deadline{10000};
    std::chrono::milliseconds keep_alive_idle{5000};
    std::chrono::milliseconds write_idle{5000};  // an unsent answer waits this long at most
    std::size_t max_requests = 1000;             // per connection
    std::size_t max_batch = 256;                 // requests per handler call
};

class FastLane {
  public:
    // A connection leaving the lane: its socket (blocking again), bytes read and not
    // answered, bytes of answers not yet written, how many requests it has had, and when
    // the header deadline of the request being read started (the accept for the first).
    using HandOff =
        std::function<void(int sock, std::string unread, std::string unsent, std::size_t served,
                           std::chrono::steady_clock::time_point head_start)>;

    // Called on the lane's thread after it closed a connection's socket itself (not for
    // one it handed off).
    using Closed = std::function<void()>;

    // wake_fd becomes readable when stopping turns true. Throws std::system_error when
    // epoll or the eventfd cannot be made.
    FastLane(FastLaneOptions options, FastLaneHandler handler, HandOff hand_off, Closed closed,
             const std::atomic<bool>& stopping, int wake_fd);
    ~FastLane();  // joins (call stop() before, once stopping is true)
    FastLane(const FastLane&) = delete;
    FastLane& operator=(const FastLane&) = delete;

    // Takes over an accepted socket (any thread).
    void adopt(int sock);

    // Ends the lane (at once if stopping is not yet true): it answers what it has read,
    // writes what it owes (within write_idle), closes its idle connections, hands off
    // those with a head half read, and ends; stop() waits for that. Idempotent.
    void stop();

  private:
    struct Connection;
    void run();
    void take_new_connections();
    void read_from(Connection& conn);
    void serve_ready(std::vector<Connection*>& ready);
    void flush(Connection& conn);
    bool settle(Connection& conn);
    void sweep(std::chrono::steady_clock::time_point now);
    void close_connection(Connection& conn);
    void hand_off_connection(Connection& conn);
    void update_interest(Connection& conn);
    std::size_t read_capacity() const;

    FastLaneOptions options_;
    std::string keep_alive_header_;  // "timeout=5, max=1000", from options_
    FastLaneHandler handler_;
    HandOff hand_off_;
    Closed closed_;
    const std::atomic<bool>& stopping_;
    int wake_fd_;
    int epoll_fd_ = -1;
    int event_fd_ = -1;
    std::atomic<bool> stop_requested_{false};

    std::mutex incoming_mutex_;
    std::vector<int> incoming_;  // adopted sockets not yet in the loop

    std::unordered_set<Connection*> connections_;  // the lane thread's
    std::thread thread_;
};

}  // namespace infra::http
