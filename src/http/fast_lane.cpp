// fast_lane.cpp: see fast_lane.hpp.
#include "http/fast_lane.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "http/fast_request.hpp"
#include "http/reason_phrase.hpp"

namespace infra::http {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kMaxEvents = 256;
constexpr milliseconds kSweepInterval{100};

bool safe_header(const std::string& name, const std::string& value) {
    if (name.empty()) return false;
    for (const char c : name) {
        if (c == ':' || c == ' ' || c == '\r' || c == '\n') return false;
    }
    return value.find_first_of("\r\n") == std::string::npos;
}

// An answer as cpp-httplib writes one (its headers sorted by name).
void append_answer(std::string& out, const FastLaneRequest& request, bool last,
                   const std::string& keep_alive) {
    httplib::Headers headers = request.response_headers;
    headers.erase("Content-Length");
    headers.erase("Content-Type");
    headers.erase("Connection");
    headers.erase("Keep-Alive");
    headers.emplace("Content-Length", std::to_string(request.body.size()));
    if (!request.body.empty()) headers.emplace("Content-Type", request.content_type);
    if (last) {
        headers.emplace("Connection", "close");
    } else {
        headers.emplace("Keep-Alive", keep_alive);
    }
    out += "HTTP/1.1 ";
    out += std::to_string(request.status);
    out += ' ';
    out += reason_phrase(request.status);
    out += "\r\n";
    for (const auto& [name, value] : headers) {
        if (!safe_header(name, value)) continue;
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += "\r\n";
    out += request.body;
}

std::string peer_of(int sock) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(sock, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "";
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
        ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    } else if (address.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            ::inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
        } else {
            ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
        }
    }
    return text;
}

void set_blocking(int sock, bool blocking) {
    const int flags = ::fcntl(sock, F_GETFL, 0);
    if (flags < 0) return;
    ::fcntl(sock, F_SETFL, blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK));
}

}  // namespace

struct FastLane::Connection {
    int sock = -1;
    std::string peer;
    std::string in;   // read, not yet answered
    std::string out;  // answers not yet written
    std::size_t served = 0;
    Clock::time_point since;         // accepted, or the last answer written
    Clock::time_point head_started;  // the first byte of the head being read
    Clock::time_point out_since;     // when out became non-empty
    bool peer_closed = false;
    bool dead = false;
    bool close_after_flush = false;
    bool hand_off = false;
    unsigned watched_events = EPOLLIN | EPOLLRDHUP;
    bool again = false;     // complete requests left for the next pass
    bool deferred = false;  // in holds bytes not examined because an answer was unwritten
    FastRequestScan scan;   // how far the head at the start of in has been examined
};

FastLane::FastLane(FastLaneOptions options, FastLaneHandler handler, HandOff hand_off,
                   Closed closed, const std::atomic<bool>& stopping, int wake_fd)
    : options_(std::move(options)),
      keep_alive_header_(
          "timeout=" + std::to_string((options_.keep_alive_idle.count() + 999) / 1000) +
          ", max=" + std::to_string(options_.max_requests)),
      handler_(std::move(handler)),
      hand_off_(std::move(hand_off)),
      closed_(std::move(closed)),
      stopping_(stopping),
      wake_fd_(wake_fd) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || event_fd_ < 0) {
        const int saved = errno;
        if (epoll_fd_ >= 0) ::close(epoll_fd_);
        if (event_fd_ >= 0) ::close(event_fd_);
        throw std::system_error(saved, std::generic_category(), "FastLane: epoll/eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &event_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev);
    ev.data.ptr = &wake_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    thread_ = std::thread([this] { run(); });
}

FastLane::~FastLane() {
    stop();
    ::close(epoll_fd_);
    ::close(event_fd_);
}

void FastLane::stop() {
    stop_requested_ = true;
    const std::uint64_t one = 1;
    if (::write(event_fd_, &one, sizeof one) < 0) {
        // EAGAIN only: the lane wakes anyway.
    }
    if (thread_.joinable()) thread_.join();
}

void FastLane::adopt(int sock) {
    {
        std::lock_guard<std::mutex> lock(incoming_mutex_);
        incoming_.push_back(sock);
    }
    const std::uint64_t one = 1;
    if (::write(event_fd_, &one, sizeof one) < 0) {
        // EAGAIN only (the counter is already non-zero): the lane wakes anyway.
    }
}

void FastLane::take_new_connections() {
    std::uint64_t count = 0;
    if (::read(event_fd_, &count, sizeof count) < 0) {
        // EAGAIN: nothing signalled.
    }
    std::vector<int> socks;
    {
        std::lock_guard<std::mutex> lock(incoming_mutex_);
        socks.swap(incoming_);
    }
    const auto now = Clock::now();
    for (const int sock : socks) {
        auto* conn = new Connection;
        conn->sock = sock;
        conn->peer = peer_of(sock);
        conn->since = now;
        connections_.insert(conn);
        if (stopping_ || stop_requested_) {
            hand_off_connection(*conn);  // accepted before the stop: the library serves it
            continue;
        }
        set_blocking(sock, false);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.ptr = conn;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sock, &ev) != 0) close_connection(*conn);
    }
}

void FastLane::read_from(Connection& conn) {
    const std::size_t cap = read_capacity();
    char chunk[kReadChunk];
    while (conn.in.size() < cap) {
        const ssize_t n = ::recv(conn.sock, chunk, sizeof chunk, 0);
        if (n > 0) {
            if (conn.in.empty()) conn.head_started = Clock::now();
            conn.in.append(chunk, static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < sizeof chunk) return;
            continue;
        }
        if (n == 0) {
            conn.peer_closed = true;
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) conn.dead = true;
        return;
    }
}

// Parses the complete requests of every ready connection, hands off (and removes from
// ready) those whose next request is not a fast one, has the handler answer the rest all
// at once, and queues the answers.
void FastLane::serve_ready(std::vector<Connection*>& ready) {
    std::vector<FastLaneRequest> batch;
    std::vector<std::pair<Connection*, std::size_t>> owners;  // and the head's length
    std::vector<Connection*> leaving;  // handed off with no request in this batch
    const bool stopping = stopping_;
    const FastRequestLimits limits{options_.max_header_bytes, CPPHTTPLIB_HEADER_MAX_LENGTH};
    for (Connection* conn : ready) {
        conn->again = false;
        if (conn->dead || conn->hand_off || conn->close_after_flush) continue;
        if (!conn->out.empty()) {
            // Answers in order: what it sent meanwhile waits until they are written.
            conn->deferred = true;
            continue;
        }
        conn->deferred = false;
        std::size_t offset = 0;
        std::size_t count = 0;
        for (;;) {
            if (batch.size() >= options_.max_batch) {
                conn->again = offset < conn->in.size();
                break;
            }
            const std::string_view rest = std::string_view(conn->in).substr(offset);
            if (rest.empty()) break;
            // A head the library would refuse (431, 400) is "other": the thread path answers.
            // A head dripping in is examined from where the last pass stopped, not again
            // from its start. The scan of an incomplete head behind answered ones is kept
            // too: once their heads are erased from in (below), it is at in's start.
            FastRequestScan scan = offset == 0 ? conn->scan : FastRequestScan{};
            FastRequestHead head = parse_fast_request(rest, options_.path, limits, &scan);
            conn->scan = head.kind == FastRequestHead::Kind::kIncomplete ? scan : FastRequestScan{};
            if (head.kind == FastRequestHead::Kind::kOther) {
                conn->hand_off = true;
                if (count == 0) leaving.push_back(conn);
                break;
            }
            if (head.kind == FastRequestHead::Kind::kIncomplete) break;
            FastLaneRequest request;
            request.peer = conn->peer;
            request.headers = std::move(head.headers);
            batch.push_back(std::move(request));
            owners.emplace_back(conn, head.length);
            offset += head.length;
            ++count;
            // The last request of the connection (or of the lane) ends its pass.
            if (conn->served + count >= options_.max_requests || stopping) break;
        }
    }
    // Before the handler (a database round trip): connections with nothing in the batch
    // go to the thread path now, so that their requests do not wait for it.
    if (!leaving.empty()) {
        std::sort(leaving.begin(), leaving.end());
        const auto is_leaving = [&](Connection* conn) {
            return std::binary_search(leaving.begin(), leaving.end(), conn);
        };
        ready.erase(std::remove_if(ready.begin(), ready.end(), is_leaving), ready.end());
        for (Connection* conn : leaving) hand_off_connection(*conn);  // deletes it
    }
    if (!batch.empty()) {
        try {
            handler_(batch);
        } catch (...) {
            for (FastLaneRequest& r : batch) r.answered = false;
        }
    }
    std::unordered_set<Connection*> handed;  // connections with an unanswered request
    for (std::size_t i = 0; i < batch.size(); ++i) {
        Connection& conn = *owners[i].first;
        if (handed.count(&conn)) continue;
        if (!batch[i].answered) {
            conn.hand_off = true;  // this request and the rest go to the library's path
            conn.again = false;
            handed.insert(&conn);
            continue;
        }
        const bool last = ++conn.served >= options_.max_requests || stopping;
        if (conn.out.empty()) conn.out_since = Clock::now();
        append_answer(conn.out, batch[i], last, keep_alive_header_);
        conn.in.erase(0, owners[i].second);
        if (!conn.in.empty()) conn.head_started = Clock::now();
        if (last) {
            conn.close_after_flush = true;
            conn.again = false;
        }
    }
}

void FastLane::flush(Connection& conn) {
    while (!conn.out.empty() && !conn.dead) {
        const ssize_t n = ::send(conn.sock, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            conn.out.erase(0, static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            conn.dead = true;
        }
    }
}

// Reads only while it has room and owes no answer (backpressure: a client that does not
// read its answers is not read either, instead of waking the loop at once, again and
// again, for bytes it cannot take); writes while answers are unwritten. A peer that
// closed its side is not read again (its EOF would wake the loop forever).
void FastLane::update_interest(Connection& conn) {
    const bool want_input =
        !conn.peer_closed && conn.out.empty() && conn.in.size() < read_capacity();
    const unsigned events = (want_input ? unsigned{EPOLLIN | EPOLLRDHUP} : 0u) |
                            (conn.out.empty() ? 0u : unsigned{EPOLLOUT});
    if (conn.watched_events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &conn;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.sock, &ev);
    conn.watched_events = events;
}

std::size_t FastLane::read_capacity() const {
    return options_.max_header_bytes + kReadChunk;
}

// After a pass: write, then keep, close or hand off the connection. True when it stays
// and has complete requests for another pass (the caller schedules it).
bool FastLane::settle(Connection& conn) {
    flush(conn);
    if (conn.dead) {
        close_connection(conn);
        return false;
    }
    if (conn.hand_off) {
        hand_off_connection(conn);  // with whatever answers are still unwritten
        return false;
    }
    if (!conn.out.empty()) {
        // Its further requests are served once the answers are written (EPOLLOUT).
        if (conn.again) conn.deferred = true;
        conn.again = false;
        update_interest(conn);
        return false;
    }
    if (conn.close_after_flush) {
        close_connection(conn);
        return false;
    }
    // Everything written: requests that came in behind the answers (pipelined, perhaps
    // before the peer closed its side) are served in the next pass; level-triggered
    // EPOLLIN does not fire again for bytes already read.
    if (conn.deferred && !conn.in.empty()) conn.again = true;
    conn.deferred = false;
    if (conn.peer_closed && !conn.again) {
        close_connection(conn);
        return false;
    }
    update_interest(conn);
    if (conn.in.empty()) conn.since = Clock::now();
    return conn.again;
}

void FastLane::sweep(Clock::time_point now) {
    std::vector<Connection*> expired;
    for (Connection* conn : connections_) {
        if (!conn->out.empty()) {
            if (now - conn->out_since > options_.write_idle) expired.push_back(conn);
            continue;
        }
        if (conn->in.empty()) {
            const auto limit =
                conn->served == 0 ? options_.header_deadline : options_.keep_alive_idle;
            if (now - conn->since > limit) expired.push_back(conn);
        } else {
            const auto start = conn->served == 0 ? conn->since : conn->head_started;
            if (now - start > options_.header_deadline) expired.push_back(conn);
        }
    }
    for (Connection* conn : expired) close_connection(*conn);
}

void FastLane::close_connection(Connection& conn) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.sock, nullptr);
    ::shutdown(conn.sock, SHUT_RDWR);
    ::close(conn.sock);
    connections_.erase(&conn);
    delete &conn;
    if (closed_) closed_();
}

void FastLane::hand_off_connection(Connection& conn) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.sock, nullptr);
    set_blocking(conn.sock, true);
    const int sock = conn.sock;
    std::string unread = std::move(conn.in);
    std::string unsent = std::move(conn.out);
    const std::size_t served = conn.served;
    const auto head_start =
        served == 0 ? conn.since : (unread.empty() ? Clock::now() : conn.head_started);
    connections_.erase(&conn);
    delete &conn;
    hand_off_(sock, std::move(unread), std::move(unsent), served, head_start);
}

void FastLane::run() {
    epoll_event events[kMaxEvents];
    std::vector<Connection*> ready;
    std::vector<Connection*> again;
    bool stop_seen = false;
    auto next_sweep = Clock::now() + kSweepInterval;
    for (;;) {
        const int timeout = again.empty() ? static_cast<int>(kSweepInterval.count()) : 0;
        const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, timeout);
        if (n < 0 && errno != EINTR) break;
        // Leftovers of the last pass, unless the sweep or the stop closed them since.
        ready.clear();
        for (Connection* conn : again) {
            if (connections_.count(conn)) ready.push_back(conn);
        }
        again.clear();
        for (int i = 0; i < n; ++i) {
            void* tag = events[i].data.ptr;
            if (tag == &event_fd_) {
                take_new_connections();
            } else if (tag == &wake_fd_) {
                stop_seen = true;
                ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, wake_fd_, nullptr);
            } else {
                auto* conn = static_cast<Connection*>(tag);
                if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                    read_from(*conn);
                }
                ready.push_back(conn);
            }
        }
        // A connection may appear twice (an event and a leftover): serve it once.
        std::sort(ready.begin(), ready.end());
        ready.erase(std::unique(ready.begin(), ready.end()), ready.end());
        serve_ready(ready);
        for (Connection* conn : ready) {
            if (settle(*conn)) again.push_back(conn);  // settle may delete it
        }

        const auto now = Clock::now();
        if (now >= next_sweep) {
            sweep(now);
            next_sweep = now + kSweepInterval;
        }
        if (stop_seen || stopping_ || stop_requested_) {
            stop_seen = true;
            take_new_connections();
            // Idle connections end; a head being read goes to the library's path (which
            // serves it with "Connection: close"); unwritten answers get write_idle.
            std::vector<Connection*> all(connections_.begin(), connections_.end());
            for (Connection* conn : all) {
                if (!conn->out.empty()) continue;
                if (conn->in.empty()) {
                    close_connection(*conn);
                } else {
                    conn->hand_off = true;
                    hand_off_connection(*conn);
                }
            }
            if (connections_.empty()) break;
        }
    }
    std::vector<Connection*> rest(connections_.begin(), connections_.end());
    for (Connection* conn : rest) close_connection(*conn);
}

}  // namespace infra::http
