// guarded_server_test.cpp: GuardedServer (src/http/guarded_server.*) over real sockets.
// Each test starts a server in-process on 127.0.0.1 (ephemeral port) with routes GET
// /hello, POST /echo (streams its body with a ContentReader and answers its length),
// POST /ignore (never reads its body), GET /slow (1.5 s), GET /peer (the peer address
// and the REMOTE_ADDR header) and an on_headers guard answering 403 to "X-Block", and
// talks to it with raw sockets. Covered:
//  - a GET; three requests on one keep-alive connection; two pipelined in one write;
//  - on_headers' 403: answered, connection closed, the body (itself a request) never
//    parsed, whether it arrives later or in the same write; the route never runs;
//  - Content-Length above max_body_bytes: 413 within 1 s with the body never sent, close;
//  - chunked bodies: below the limit received whole (and the connection kept); above it
//    413 and close with the route having seen at most the limit; a chunk size above the
//    limit refused before its data;
//  - framing: CL + TE, two CL, "gzip, chunked", a percent-encoded "chunked", a bare LF
//    header line -> 400; a POST without length has an empty body; each connection closed;
//  - a body the route did not read is not parsed as a next request (and its response
//    says Connection: close); a body still incomplete at body_deadline -> 408 and close;
//  - a header dripping one byte per 300 ms cut at the 1 s header deadline, unanswered;
//    an idle keep-alive connection closed after keep_alive_idle; headers above
//    max_header_bytes -> 431;
//  - a client's "REMOTE_ADDR: 6.6.6.6" changes neither on_headers' peer nor the header;
//  - stop_gracefully() with three /slow in progress: all 200, new connections refused,
//    listen() returns, requests_in_progress() back to 0;
//  - 50 concurrent keep-alive connections (max_connections 64) all served, twice;
//  - SO_REUSEADDR without SO_REUSEPORT: a second server cannot bind the same port;
//  - a GET /fast head above max_header_bytes -> 431, one with a header line of 8193
//    bytes -> 400 and a close, one of 8192 not refused (with a lane: handed to the
//    threads, which answer as they do without one).
// Each of those runs twice: with threads only, and with connections starting on a fast
// lane (set_fast_route("/fast")) that hands them to the threads. With a lane, also:
//  - GET /fast answered by the lane (204, its headers, Keep-Alive; a 403 with a body),
//    three in a row and two pipelined, in order; on_headers never called for them;
//  - requests arriving while the handler runs go to it together as the next batch;
//  - a fast request followed by another in one write: the lane answers the first, the
//    threads the second, and the connection stays with the threads;
//  - a request the handler leaves unanswered is served by the threads (on_headers runs);
//  - HTTP/1.0, a query, a percent-encoded path or header, Content-Length, Connection:
//    close -> the threads answer;
//  - the keep-alive count's last answer says "Connection: close" and the lane closes;
//  - a half-sent head is cut without an answer at the header deadline;
//  - stop_gracefully() closes idle lane connections at once and listen() returns;
//  - a request pipelined behind an answer not yet all written (8 MiB) is answered once it
//    is, also when the client closed its side after sending it;
//  - another request arriving in the same pass as fast ones is answered by the threads
//    while the handler still holds the fast ones;
//  - a client sending requests without reading its answers costs (almost) no CPU while
//    it does not read, and has all of them answered once it does;
//  - at most max_open_connections are held open (on the lanes, queued for a thread, on
//    a thread): beyond, a new connection is closed at once and counted; the count goes
//    back to 0 when the clients leave, and new connections are served again;
//  - a head dripping in behind an answered one is answered once complete.
#include "http/guarded_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace infra::http {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::size_t count_of(const std::string& text, const std::string& part) {
    std::size_t count = 0;
    for (auto pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) {
        ++count;
    }
    return count;
}

milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

struct RawResponse {
    int status = 0;
    std::string head;  // status line and headers
    std::string body;
};

// A plain TCP client: connect, send bytes, read responses or until the server closes.
class RawConnection {
  public:
    explicit RawConnection(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<uint16_t>(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            connect_errno_ = errno;
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~RawConnection() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    bool connected() const { return fd_ >= 0; }
    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
    int connect_errno() const { return connect_errno_; }

    bool send_all(const std::string& bytes) {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }

    // One response (headers and a Content-Length body); nullopt on close or timeout.
    std::optional<RawResponse> read_response(milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            if (auto response = take_response()) return response;
            if (!receive_some(deadline)) return std::nullopt;
        }
    }

    // Everything until the server closes (EOF or reset); closed is false on timeout.
    struct Rest {
        std::string data;
        bool closed = false;
    };
    Rest read_until_close(milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (receive_some(deadline)) {
        }
        Rest rest{pending_, closed_};
        pending_.clear();
        return rest;
    }

  private:
    // Reads what is there; false on close, error or deadline.
    bool receive_some(Clock::time_point deadline) {
        if (closed_) return false;
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
        char buffer[8192];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n <= 0) {
            closed_ = true;
            return false;
        }
        pending_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }

    std::optional<RawResponse> take_response() {
        const auto head_end = pending_.find("\r\n\r\n");
        if (head_end == std::string::npos) return std::nullopt;
        RawResponse response;
        response.head = pending_.substr(0, head_end + 2);
        std::size_t length = 0;
        std::string lower = response.head;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const auto length_at = lower.find("\r\ncontent-length:");
        if (length_at != std::string::npos) {
            length = std::stoul(lower.substr(length_at + 17));
        }
        if (pending_.size() < head_end + 4 + length) return std::nullopt;
        response.body = pending_.substr(head_end + 4, length);
        if (response.head.size() > 12) response.status = std::stoi(response.head.substr(9, 3));
        pending_.erase(0, head_end + 4 + length);
        return response;
    }

    int fd_ = -1;
    int connect_errno_ = 0;
    std::string pending_;
    bool closed_ = false;
};

const std::string kGetHello = "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n";

std::string chunk(const std::string& data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + data + "\r\n";
}

std::string post_head(const std::string& path, const std::string& framing_headers) {
    return "POST " + path + " HTTP/1.1\r\nHost: test\r\n" + framing_headers + "\r\n";
}

// Parameter: whether connections start on a fast lane (set_fast_route("/fast")); every
// test above then runs both ways, its requests being handed from the lane to the threads.
class GuardedServerTest : public ::testing::TestWithParam<bool> {
  protected:
    static GuardedServerOptions test_options() {
        GuardedServerOptions options;
        options.max_body_bytes = 1024;
        options.header_deadline = milliseconds{1000};
        options.body_deadline = milliseconds{2000};
        options.keep_alive_idle = milliseconds{1000};
        options.shutdown_grace = milliseconds{5000};
        options.max_header_bytes = 4096;
        options.fast_lanes = 2;  // with set_fast_route (the default is 1): two lanes at once
        return options;
    }

    void start(const GuardedServerOptions& options = test_options(),
               const std::function<void(GuardedServer&)>& configure = {}) {
        server_ = std::make_unique<GuardedServer>(options);
        add_routes(*server_);
        if (GetParam()) add_fast_route(*server_);
        if (configure) configure(*server_);
        port_ = server_->bind_to_any_port("127.0.0.1");
        ASSERT_GT(port_, 0);
        GuardedServer* server = server_.get();
        listen_result_ =
            std::async(std::launch::async, [server] { return server->listen_after_bind(); });
        const auto deadline = Clock::now() + milliseconds{2000};
        while (!server_->is_running() && Clock::now() < deadline) {
            std::this_thread::sleep_for(milliseconds{5});
        }
        ASSERT_TRUE(server_->is_running());
    }

    void SetUp() override { start(); }

    void TearDown() override {
        if (!server_) return;
        hold_fast(false);  // a failed test may leave the lane in the handler
        server_->stop_gracefully();
        if (listen_result_.valid()) {
            EXPECT_EQ(listen_result_.wait_for(std::chrono::seconds{5}), std::future_status::ready);
        }
        server_.reset();
    }

    void add_routes(GuardedServer& server) {
        server.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("hello", "text/plain");
        });
        server.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
            std::this_thread::sleep_for(milliseconds{1500});
            res.set_content("slow", "text/plain");
        });
        server.Get("/peer", [](const httplib::Request& req, httplib::Response& res) {
            res.set_content(req.remote_addr + "|" + req.get_header_value("REMOTE_ADDR"),
                            "text/plain");
        });
        server.Post("/echo", [this](const httplib::Request&, httplib::Response& res,
                                    const httplib::ContentReader& reader) {
            ++echo_calls_;
            std::size_t total = 0;
            const bool whole = reader([&](const char*, std::size_t size) {
                total += size;
                return true;
            });
            std::size_t seen = echo_max_seen_.load();
            while (total > seen && !echo_max_seen_.compare_exchange_weak(seen, total)) {
            }
            res.status = whole ? 200 : 400;
            res.set_content(std::to_string(total), "text/plain");
        });
        server.Post("/ignore", [](const httplib::Request&, httplib::Response& res,
                                  const httplib::ContentReader&) {
            res.set_content("ignored", "text/plain");
        });
        server.on_headers = [this](const httplib::Request& req,
                                   const std::string& peer) -> std::optional<EarlyResponse> {
            {
                std::lock_guard<std::mutex> lock(peers_mutex_);
                peers_seen_.push_back(peer);
            }
            if (!req.has_header("X-Block")) return std::nullopt;
            EarlyResponse blocked;
            blocked.status = 403;
            blocked.body = "{\"error\":\"blocked\"}";
            return blocked;
        };
    }

    static constexpr std::size_t kBigBody = std::size_t{8} << 20;

    // GET /fast on the lane: 204 with X-Lane: <requests in its batch>, X-Peer and X-Seen
    // (its X-Test header; "X-Test: big" gets a 8 MiB body); a request with "X-Unanswered"
    // is left to the thread path, where GET /fast answers 200 "threads". fast_hold_ makes
    // the handler wait (batches grow), except for the first fast_released_ batches.
    void add_fast_route(GuardedServer& server) {
        server.Get("/fast", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("threads", "text/plain");
        });
        server.set_fast_route("/fast", [this](std::vector<FastLaneRequest>& requests) {
            {
                std::unique_lock<std::mutex> lock(fast_mutex_);
                fast_batches_.push_back(requests.size());
                const std::size_t index = fast_batches_.size();
                fast_changed_.notify_all();
                fast_changed_.wait(lock, [&] { return !fast_hold_ || index <= fast_released_; });
            }
            for (FastLaneRequest& r : requests) {
                std::string seen;
                bool unanswered = false;
                for (const auto& [name, value] : r.headers) {
                    if (name == "X-Test") seen = value;
                    if (name == "X-Unanswered") unanswered = true;
                }
                if (unanswered) continue;
                r.answered = true;
                r.status = 204;
                r.response_headers.emplace("X-Lane", std::to_string(requests.size()));
                r.response_headers.emplace("X-Peer", r.peer);
                r.response_headers.emplace("X-Seen", seen);
                if (seen == "with-body") {
                    r.status = 403;
                    r.body = "{\"no\":1}";
                }
                if (seen == "big") r.body.assign(kBigBody, 'x');  // more than a socket buffers
            }
        });
    }

    void hold_fast(bool hold) {
        std::lock_guard<std::mutex> lock(fast_mutex_);
        fast_hold_ = hold;
        fast_changed_.notify_all();
    }

    // With fast_hold_: lets the first count batches go, holds the later ones.
    void release_fast_batches(std::size_t count) {
        std::lock_guard<std::mutex> lock(fast_mutex_);
        fast_released_ = count;
        fast_changed_.notify_all();
    }

    // Waits (up to 2 s) until the handler has been called count times.
    bool wait_for_fast_batches(std::size_t count) {
        std::unique_lock<std::mutex> lock(fast_mutex_);
        return fast_changed_.wait_for(lock, std::chrono::seconds{2},
                                      [&] { return fast_batches_.size() >= count; });
    }

    std::vector<std::size_t> fast_batches() {
        std::lock_guard<std::mutex> lock(fast_mutex_);
        return fast_batches_;
    }

    // Sends request, expects one response with status and then the server's close.
    void expect_answer_and_close(const std::string& request, int status) {
        RawConnection client(port_);
        ASSERT_TRUE(client.connected());
        ASSERT_TRUE(client.send_all(request));
        const auto response = client.read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << request;
        EXPECT_EQ(response->status, status) << request << "\n" << response->head;
        EXPECT_NE(response->head.find("Connection: close"), std::string::npos) << request;
        const auto rest = client.read_until_close(milliseconds{2000});
        EXPECT_TRUE(rest.closed) << request;
        EXPECT_EQ(rest.data, "") << request;
    }

    std::unique_ptr<GuardedServer> server_;
    int port_ = 0;
    std::future<bool> listen_result_;
    std::atomic<int> echo_calls_{0};
    std::atomic<std::size_t> echo_max_seen_{0};
    std::mutex peers_mutex_;
    std::vector<std::string> peers_seen_;
    std::mutex fast_mutex_;
    std::condition_variable fast_changed_;
    std::vector<std::size_t> fast_batches_;
    bool fast_hold_ = false;
    std::size_t fast_released_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Transport, GuardedServerTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                             return info.param ? "FastLane" : "ThreadsOnly";
                         });

TEST_P(GuardedServerTest, ServesGetAndKeepsTheConnectionAliveForThreeRequests) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(client.send_all(kGetHello)) << "request " << i;
        const auto response = client.read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << "request " << i;
        EXPECT_EQ(response->status, 200);
        EXPECT_EQ(response->body, "hello");
        EXPECT_EQ(response->head.find("Connection: close"), std::string::npos);
    }
    const auto rest = client.read_until_close(milliseconds{200});
    EXPECT_FALSE(rest.closed);

    // Two requests in one write: the second is not lost with the first's read buffer.
    ASSERT_TRUE(client.send_all(kGetHello + kGetHello));
    for (int i = 0; i < 2; ++i) {
        const auto response = client.read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << "pipelined " << i;
        EXPECT_EQ(response->body, "hello");
    }
}

TEST_P(GuardedServerTest, OnHeadersRefusalClosesAndNeverParsesTheBody) {
    const std::string smuggled = kGetHello;
    const std::string head = post_head(
        "/echo", "X-Block: yes\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n");
    for (const bool same_write : {false, true}) {
        RawConnection client(port_);
        ASSERT_TRUE(client.connected());
        if (same_write) {
            ASSERT_TRUE(client.send_all(head + smuggled));
        } else {
            ASSERT_TRUE(client.send_all(head));
            std::this_thread::sleep_for(milliseconds{100});
            client.send_all(smuggled);  // may fail once the server has closed
        }
        const auto rest = client.read_until_close(milliseconds{3000});
        EXPECT_TRUE(rest.closed) << "same write: " << same_write;
        EXPECT_EQ(rest.data.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << rest.data;
        EXPECT_EQ(count_of(rest.data, "HTTP/1.1 "), 1u) << rest.data;
        EXPECT_EQ(rest.data.find("hello"), std::string::npos) << rest.data;
        EXPECT_NE(rest.data.find("{\"error\":\"blocked\"}"), std::string::npos) << rest.data;
    }
    EXPECT_EQ(echo_calls_.load(), 0);
}

TEST_P(GuardedServerTest, ContentLengthAboveTheLimitIsRefusedBeforeTheBody) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    const auto started = Clock::now();
    ASSERT_TRUE(client.send_all(post_head("/echo", "Content-Length: 100000000\r\n")));
    const auto response = client.read_response(milliseconds{1000});
    ASSERT_TRUE(response.has_value());
    EXPECT_LT(since(started).count(), 1000);
    EXPECT_EQ(response->status, 413);
    EXPECT_NE(response->head.find("Connection: close"), std::string::npos);
    const auto rest = client.read_until_close(milliseconds{1000});
    EXPECT_TRUE(rest.closed);
    EXPECT_EQ(rest.data, "");
    EXPECT_EQ(echo_calls_.load(), 0);
}

TEST_P(GuardedServerTest, ChunkedBodyBelowTheLimitArrivesWholeAndKeepsTheConnection) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    const std::string part(100, 'x');
    ASSERT_TRUE(client.send_all(post_head("/echo", "Transfer-Encoding: chunked\r\n") + chunk(part) +
                                chunk(part) + chunk(part) + "0\r\n\r\n"));
    const auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "300");

    ASSERT_TRUE(client.send_all(kGetHello));
    const auto next = client.read_response(milliseconds{2000});
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->body, "hello");
}

TEST_P(GuardedServerTest, ChunkedBodyAboveTheLimitIsCutWith413) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    std::string body;
    for (int i = 0; i < 10; ++i) body += chunk(std::string(512, 'y'));
    body += "0\r\n\r\n";
    ASSERT_TRUE(client.send_all(post_head("/echo", "Transfer-Encoding: chunked\r\n") + body));
    const auto rest = client.read_until_close(milliseconds{3000});
    EXPECT_TRUE(rest.closed);
    EXPECT_EQ(rest.data.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0), 0u) << rest.data;
    EXPECT_EQ(count_of(rest.data, "HTTP/1.1 "), 1u) << rest.data;
    EXPECT_EQ(echo_calls_.load(), 1);
    EXPECT_GT(echo_max_seen_.load(), 0u);
    EXPECT_LE(echo_max_seen_.load(), 1024u);
}

TEST_P(GuardedServerTest, ChunkSizeAboveTheLimitIsRefusedBeforeItsData) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    const auto started = Clock::now();
    ASSERT_TRUE(
        client.send_all(post_head("/echo", "Transfer-Encoding: chunked\r\n") + "100000\r\n"));
    const auto response = client.read_response(milliseconds{1000});
    ASSERT_TRUE(response.has_value());
    EXPECT_LT(since(started).count(), 1000);
    EXPECT_EQ(response->status, 413);
    EXPECT_TRUE(client.read_until_close(milliseconds{1000}).closed);
    EXPECT_EQ(echo_max_seen_.load(), 0u);
}

TEST_P(GuardedServerTest, AmbiguousFramingIsRefused) {
    expect_answer_and_close(
        post_head("/echo", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n",
        400);
    expect_answer_and_close(
        post_head("/echo", "Content-Length: 5\r\nContent-Length: 5\r\n") + "hello", 400);
    expect_answer_and_close(
        post_head("/echo", "Transfer-Encoding: gzip, chunked\r\n") + "0\r\n\r\n", 400);
    // The library percent-decodes header values: "%63hunked" would become "chunked".
    expect_answer_and_close(post_head("/echo", "Transfer-Encoding: %63hunked\r\n") + "0\r\n\r\n",
                            400);
    // The library silently skips a line ending in a bare LF (a proxy might not).
    expect_answer_and_close(post_head("/echo", "Transfer-Encoding: chunked\n") + "0\r\n\r\n", 400);
    expect_answer_and_close(post_head("/echo", "Content-Length: -1\r\n"), 400);
    EXPECT_EQ(echo_calls_.load(), 0);
}

// Without Content-Length or Transfer-Encoding a request has no body (RFC 9112 6.3): the
// route runs at once with an empty body instead of waiting for the client to close.
TEST_P(GuardedServerTest, APostWithoutLengthHasAnEmptyBody) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(post_head("/echo", "")));
    const auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200) << response->head;
    EXPECT_EQ(response->body, "0");
    EXPECT_EQ(echo_calls_.load(), 1);
}

TEST_P(GuardedServerTest, UnreadBodyIsNotParsedAsTheNextRequest) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    const std::string smuggled = kGetHello;
    ASSERT_TRUE(client.send_all(
        post_head("/ignore", "Content-Length: " + std::to_string(smuggled.size()) + "\r\n") +
        smuggled));
    const auto rest = client.read_until_close(milliseconds{3000});
    EXPECT_TRUE(rest.closed);
    EXPECT_EQ(rest.data.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << rest.data;
    EXPECT_NE(rest.data.find("ignored"), std::string::npos) << rest.data;
    EXPECT_NE(rest.data.find("Connection: close\r\n"), std::string::npos) << rest.data;
    EXPECT_EQ(rest.data.find("Keep-Alive"), std::string::npos) << rest.data;
    EXPECT_EQ(count_of(rest.data, "HTTP/1.1 "), 1u) << rest.data;
}

TEST_P(GuardedServerTest, SlowHeadersAreCutAtTheDeadlineWithoutAnAnswer) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    const std::string request = "GET /hello HTTP/1.1\r\nHost: test\r\nX-Slow: 1\r\n\r\n";
    const auto started = Clock::now();
    std::string received;
    bool closed = false;
    for (std::size_t i = 0; i < request.size() && !closed; ++i) {
        if (!client.send_all(request.substr(i, 1))) {
            closed = true;
            break;
        }
        const auto rest = client.read_until_close(milliseconds{300});
        received += rest.data;
        closed = rest.closed;
    }
    const auto elapsed = since(started);
    EXPECT_TRUE(closed);
    EXPECT_EQ(received, "");
    EXPECT_GE(elapsed.count(), 900);
    EXPECT_LT(elapsed.count(), 2500);
}

TEST_P(GuardedServerTest, IdleKeepAliveConnectionIsClosed) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(kGetHello));
    ASSERT_TRUE(client.read_response(milliseconds{2000}).has_value());
    const auto idle_since = Clock::now();
    const auto rest = client.read_until_close(milliseconds{3000});
    EXPECT_TRUE(rest.closed);
    EXPECT_EQ(rest.data, "");
    EXPECT_GE(since(idle_since).count(), 800);
    EXPECT_LT(since(idle_since).count(), 2500);
}

TEST_P(GuardedServerTest, BodyNotCompleteAtTheBodyDeadlineGets408) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(post_head("/echo", "Content-Length: 100\r\n") + "only ten b"));
    const auto started = Clock::now();
    const auto rest = client.read_until_close(milliseconds{4000});
    EXPECT_TRUE(rest.closed);
    EXPECT_EQ(rest.data.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << rest.data;
    EXPECT_EQ(count_of(rest.data, "HTTP/1.1 "), 1u) << rest.data;
    EXPECT_GE(since(started).count(), 1800);  // body_deadline is 2 s
    EXPECT_LT(since(started).count(), 3500);
    EXPECT_EQ(echo_max_seen_.load(), 10u);
}

TEST_P(GuardedServerTest, HeadersAboveTheLimitAreRefusedWith431) {
    const std::string big(5000, 'h');  // max_header_bytes is 4096; one line stays < 8 KiB
    expect_answer_and_close("GET /hello HTTP/1.1\r\nX-Big: " + big + "\r\n\r\n", 431);
}

TEST_P(GuardedServerTest, RemoteAddrHeaderDoesNotChangeThePeer) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(
        "GET /peer HTTP/1.1\r\nHost: test\r\nREMOTE_ADDR: 6.6.6.6\r\nREMOTE_PORT: 1\r\n\r\n"));
    const auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, "127.0.0.1|127.0.0.1");
    std::lock_guard<std::mutex> lock(peers_mutex_);
    ASSERT_EQ(peers_seen_.size(), 1u);
    EXPECT_EQ(peers_seen_.front(), "127.0.0.1");
}

TEST_P(GuardedServerTest, StopGracefullyFinishesRequestsInProgress) {
    std::vector<std::future<std::optional<RawResponse>>> slow;
    for (int i = 0; i < 3; ++i) {
        slow.push_back(std::async(std::launch::async, [port = port_] {
            RawConnection client(port);
            if (!client.connected() || !client.send_all("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")) {
                return std::optional<RawResponse>{};
            }
            return client.read_response(milliseconds{5000});
        }));
    }
    const auto deadline = Clock::now() + milliseconds{1000};
    while (server_->requests_in_progress() < 3 && Clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds{5});
    }
    ASSERT_EQ(server_->requests_in_progress(), 3u);

    auto stopper = std::async(std::launch::async, [this] { server_->stop_gracefully(); });
    std::this_thread::sleep_for(milliseconds{200});
    {
        RawConnection late(port_);
        EXPECT_FALSE(late.connected());
        EXPECT_EQ(late.connect_errno(), ECONNREFUSED);
    }
    EXPECT_EQ(server_->requests_in_progress(), 3u);  // /slow takes 1.5 s
    EXPECT_EQ(stopper.wait_for(milliseconds{0}), std::future_status::timeout);

    ASSERT_EQ(stopper.wait_for(std::chrono::seconds{5}), std::future_status::ready);
    EXPECT_EQ(server_->requests_in_progress(), 0u);
    EXPECT_FALSE(server_->is_running());
    ASSERT_EQ(listen_result_.wait_for(milliseconds{100}), std::future_status::ready);
    EXPECT_TRUE(listen_result_.get());
    for (auto& result : slow) {
        ASSERT_EQ(result.wait_for(milliseconds{500}), std::future_status::ready);
        const auto response = result.get();
        ASSERT_TRUE(response.has_value());
        EXPECT_EQ(response->status, 200);
        EXPECT_EQ(response->body, "slow");
        EXPECT_NE(response->head.find("Connection: close"), std::string::npos);
    }
    RawConnection after(port_);
    EXPECT_FALSE(after.connected());
}

TEST_P(GuardedServerTest, FiftyConcurrentKeepAliveConnectionsAreAllServed) {
    std::vector<std::unique_ptr<RawConnection>> clients;
    for (int i = 0; i < 50; ++i) {
        clients.push_back(std::make_unique<RawConnection>(port_));
        ASSERT_TRUE(clients.back()->connected()) << "connection " << i;
    }
    for (int round = 0; round < 2; ++round) {
        for (auto& client : clients) ASSERT_TRUE(client->send_all(kGetHello));
        int served = 0;
        for (auto& client : clients) {
            const auto response = client->read_response(milliseconds{3000});
            if (response && response->status == 200 && response->body == "hello") ++served;
        }
        EXPECT_EQ(served, 50) << "round " << round;
    }
}

TEST_P(GuardedServerTest, SecondServerCannotBindTheSamePort) {
    GuardedServer second(test_options());
    EXPECT_FALSE(second.bind_to_port("127.0.0.1", port_));
    // The first one still answers.
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(kGetHello));
    const auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
}

// Heads the library refuses get the same answer when they look like fast requests: the
// lane hands them to the thread path instead of answering them.
TEST_P(GuardedServerTest, AFastLookingHeadAboveTheHeaderLimitGets431EitherWay) {
    expect_answer_and_close(
        "GET /fast HTTP/1.1\r\nHost: t\r\nX-Pad: " + std::string(6000, 'a') + "\r\n\r\n", 431);
}

TEST_P(GuardedServerTest, AFastLookingHeaderLineAbove8KiBGets400EitherWay) {
    TearDown();
    GuardedServerOptions options = test_options();
    options.max_header_bytes = 64 << 10;
    start(options);
    const auto head_with_line = [](std::size_t line_bytes) {  // with its CRLF
        const std::string name = "X-Pad: ";
        return "GET /fast HTTP/1.1\r\nHost: t\r\n" + name +
               std::string(line_bytes - 2 - name.size(), 'a') + "\r\n\r\n";
    };
    // One byte more than cpp-httplib's CPPHTTPLIB_HEADER_MAX_LENGTH: the library's 400
    // (without "Connection: close", but the connection ends) both ways.
    RawConnection refused(port_);
    ASSERT_TRUE(refused.send_all(head_with_line(8193)));
    const auto rest = refused.read_until_close(milliseconds{2000});
    EXPECT_TRUE(rest.closed);
    EXPECT_EQ(rest.data.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << rest.data.substr(0, 200);
    EXPECT_EQ(count_of(rest.data, "HTTP/1.1 "), 1u);
    // At the limit: not refused (the lane answers it; without a lane there is no /fast).
    RawConnection client(port_);
    ASSERT_TRUE(client.send_all(head_with_line(8192)));
    const auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, GetParam() ? 204 : 404);
}

}  // namespace
}  // namespace infra::http

namespace infra::http {
namespace {

// ---- the fast lane itself (only with a lane) --------------------------------------------

// The same fixture, instantiated with a lane only: these tests are about the lane.
class FastLaneTest : public GuardedServerTest {};
INSTANTIATE_TEST_SUITE_P(Transport, FastLaneTest, ::testing::Values(true),
                         [](const ::testing::TestParamInfo<bool>&) { return "FastLane"; });

const std::string kGetFast = "GET /fast HTTP/1.1\r\nHost: test\r\n\r\n";

std::string get_fast(const std::string& tag) {
    return "GET /fast HTTP/1.1\r\nHost: test\r\nX-Test: " + tag + "\r\n\r\n";
}

TEST_P(FastLaneTest, FastRequestsAreAnsweredOnTheLaneKeptAliveAndPipelined) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(client.send_all(get_fast(std::to_string(i))));
        const auto response = client.read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << i;
        EXPECT_EQ(response->status, 204);
        EXPECT_NE(response->head.find("X-Seen: " + std::to_string(i) + "\r\n"), std::string::npos);
        EXPECT_NE(response->head.find("X-Peer: 127.0.0.1\r\n"), std::string::npos);
        EXPECT_NE(response->head.find("Content-Length: 0\r\n"), std::string::npos);
        EXPECT_NE(response->head.find("Keep-Alive: timeout=1, max=1000\r\n"), std::string::npos);
        EXPECT_EQ(response->head.find("Connection:"), std::string::npos);
    }
    ASSERT_TRUE(client.send_all(get_fast("a") + get_fast("b")));
    for (const char* tag : {"a", "b"}) {
        const auto response = client.read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << tag;
        EXPECT_EQ(response->status, 204);
        EXPECT_NE(response->head.find(std::string("X-Seen: ") + tag + "\r\n"), std::string::npos);
    }
    ASSERT_TRUE(client.send_all(get_fast("with-body") + get_fast("c")));
    auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 403);
    EXPECT_EQ(response->body, "{\"no\":1}");
    EXPECT_NE(response->head.find("Content-Type: application/json\r\n"), std::string::npos);
    response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 204);
    EXPECT_EQ(response->body, "");
    std::lock_guard<std::mutex> lock(peers_mutex_);
    EXPECT_TRUE(peers_seen_.empty()) << "on_headers never sees what the lane answers";
}

TEST_P(FastLaneTest, FastRequestsArrivingTogetherShareABatch) {
    hold_fast(true);
    std::vector<std::unique_ptr<RawConnection>> clients;
    for (int i = 0; i < 12; ++i) {
        clients.push_back(std::make_unique<RawConnection>(port_));
        ASSERT_TRUE(clients.back()->connected());
        ASSERT_TRUE(clients.back()->send_all(get_fast(std::to_string(i))));
        if (i == 1) std::this_thread::sleep_for(milliseconds{100});  // both lanes hold one
    }
    std::this_thread::sleep_for(milliseconds{200});
    hold_fast(false);
    for (int i = 0; i < 12; ++i) {
        const auto response =
            clients[static_cast<std::size_t>(i)]->read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << i;
        EXPECT_EQ(response->status, 204);
        EXPECT_NE(response->head.find("X-Seen: " + std::to_string(i) + "\r\n"), std::string::npos);
    }
    std::size_t largest = 0, total = 0;
    for (const std::size_t n : fast_batches()) {
        largest = std::max(largest, n);
        total += n;
    }
    EXPECT_EQ(total, 12u);
    EXPECT_GE(largest, 4u) << "requests queued behind a running batch go together";
}

TEST_P(FastLaneTest, AnotherRequestMovesTheConnectionToTheThreadsForGood) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(kGetFast));
    auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 204);
    // A fast request and another one in the same write: the first answered by the lane,
    // the second by the threads, in order.
    ASSERT_TRUE(client.send_all(kGetFast + kGetHello));
    response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 204);
    response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, "hello");
    ASSERT_TRUE(client.send_all(kGetFast));
    response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "threads") << "the connection stays with the threads";
}

TEST_P(FastLaneTest, AnUnansweredFastRequestIsServedByTheThreads) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(get_fast("1") + "GET /fast HTTP/1.1\r\nX-Unanswered: 1\r\n\r\n"));
    auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 204);
    response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, "threads");
    std::lock_guard<std::mutex> lock(peers_mutex_);
    EXPECT_EQ(peers_seen_.size(), 1u) << "the guard (on_headers) ran for it";
}

TEST_P(FastLaneTest, OtherShapesOfTheFastPathGoToTheThreads) {
    for (const std::string& request : {
             std::string("GET /fast HTTP/1.0\r\nHost: test\r\n\r\n"),
             std::string("GET /fast?x=1 HTTP/1.1\r\nHost: test\r\n\r\n"),
             std::string("GET /fas%74 HTTP/1.1\r\nHost: test\r\n\r\n"),
             std::string("GET /fast HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n"),
             std::string("GET /fast HTTP/1.1\r\nHost: test\r\nX-Test: %41\r\n\r\n"),
             std::string("GET /fast HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
         }) {
        RawConnection client(port_);
        ASSERT_TRUE(client.connected());
        ASSERT_TRUE(client.send_all(request));
        const auto response = client.read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << request;
        EXPECT_EQ(response->status, 200) << request;
        EXPECT_EQ(response->body, "threads") << request;
    }
    EXPECT_TRUE(fast_batches().empty());
}

TEST_P(FastLaneTest, TheLastRequestOfAConnectionSaysClose) {
    TearDown();
    start(test_options(), [](GuardedServer& server) { server.set_keep_alive_max_count(3); });
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(client.send_all(kGetFast));
        const auto response = client.read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << i;
        EXPECT_EQ(response->status, 204);
        EXPECT_EQ(response->head.find("Connection: close") != std::string::npos, i == 2) << i;
    }
    const auto rest = client.read_until_close(milliseconds{2000});
    EXPECT_TRUE(rest.closed);
    EXPECT_EQ(rest.data, "");
}

TEST_P(FastLaneTest, AHalfSentFastHeadIsCutAtTheHeaderDeadline) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    const auto start = Clock::now();
    ASSERT_TRUE(client.send_all("GET /fast HTTP/1.1\r\nHost: te"));
    const auto rest = client.read_until_close(milliseconds{3000});
    EXPECT_TRUE(rest.closed);
    EXPECT_EQ(rest.data, "");
    EXPECT_GE(since(start), milliseconds{900});
    EXPECT_LE(since(start), milliseconds{1800});
}

TEST_P(FastLaneTest, StopClosesIdleLaneConnectionsAndListenReturns) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(kGetFast));
    ASSERT_TRUE(client.read_response(milliseconds{2000}).has_value());
    const auto start = Clock::now();
    server_->stop_gracefully();
    EXPECT_EQ(listen_result_.wait_for(std::chrono::seconds{2}), std::future_status::ready);
    const auto rest = client.read_until_close(milliseconds{2000});
    EXPECT_TRUE(rest.closed);
    EXPECT_LE(since(start), milliseconds{1000});
}

// A request pipelined behind an answer the lane could not write at once (8 MiB) is served
// once that answer is out, also when the client has closed its side after sending it.
TEST_P(FastLaneTest, ARequestBehindAnUnwrittenAnswerIsServedOnceItIsWritten) {
    for (const bool half_close : {false, true}) {
        RawConnection client(port_);
        ASSERT_TRUE(client.connected());
        ASSERT_TRUE(client.send_all(get_fast("big")));
        std::this_thread::sleep_for(milliseconds{200});  // answer queued, not all written
        ASSERT_TRUE(client.send_all(get_fast("after")));
        if (half_close) client.shutdown_write();
        std::this_thread::sleep_for(milliseconds{200});  // read by the lane meanwhile
        const auto first = client.read_response(milliseconds{3000});
        ASSERT_TRUE(first.has_value()) << half_close;
        EXPECT_EQ(first->body.size(), kBigBody);
        const auto second = client.read_response(milliseconds{2000});
        ASSERT_TRUE(second.has_value()) << "half close: " << half_close;
        EXPECT_EQ(second->status, 204);
        EXPECT_NE(second->head.find("X-Seen: after\r\n"), std::string::npos);
        if (half_close) {
            EXPECT_TRUE(client.read_until_close(milliseconds{2000}).closed);
        }
    }
}

// A connection whose request is not a fast one leaves the lane before the handler runs:
// it does not wait for the database round trip of the fast requests it arrived with.
TEST_P(FastLaneTest, AnotherRequestDoesNotWaitForTheBatchItArrivedWith) {
    TearDown();
    GuardedServerOptions options = test_options();
    options.fast_lanes = 1;
    start(options);
    hold_fast(true);
    RawConnection first(port_);
    ASSERT_TRUE(first.send_all(get_fast("first")));
    ASSERT_TRUE(wait_for_fast_batches(1));  // the lane waits in the handler
    RawConnection other(port_);
    RawConnection fast(port_);
    ASSERT_TRUE(other.send_all(kGetHello));
    ASSERT_TRUE(fast.send_all(get_fast("second")));
    std::this_thread::sleep_for(milliseconds{200});  // both adopted, both readable
    release_fast_batches(1);  // one pass reads both; "second"'s batch is held
    ASSERT_TRUE(wait_for_fast_batches(2));
    const auto response = other.read_response(milliseconds{1000});
    ASSERT_TRUE(response.has_value()) << "GET /hello waited for the lane's handler";
    EXPECT_EQ(response->body, "hello");
    hold_fast(false);
    for (RawConnection* client : {&first, &fast}) {
        const auto answer = client->read_response(milliseconds{2000});
        ASSERT_TRUE(answer.has_value());
        EXPECT_EQ(answer->status, 204);
    }
}

double process_cpu_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1000.0 + static_cast<double>(now.tv_nsec) / 1e6;
}

// A client that sends requests but does not read the answers: the lane stops reading it
// (instead of being woken for it in a loop) and serves the rest once it reads again.
TEST_P(FastLaneTest, AClientThatDoesNotReadItsAnswersIsNotPolledInALoop) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all(get_fast("big")));
    std::this_thread::sleep_for(milliseconds{200});  // answer queued, not all written
    std::string more;
    std::size_t requests = 0;
    for (; more.size() < 40000; ++requests) more += get_fast("more");  // above the read cap
    ASSERT_TRUE(client.send_all(more));
    const double cpu_before = process_cpu_ms();
    std::this_thread::sleep_for(milliseconds{1000});
    EXPECT_LT(process_cpu_ms() - cpu_before, 200.0) << "CPU used while the client did not read";
    const auto big = client.read_response(milliseconds{3000});
    ASSERT_TRUE(big.has_value());
    EXPECT_EQ(big->body.size(), kBigBody);
    std::size_t answered = 0;
    while (answered < requests) {
        const auto response = client.read_response(milliseconds{2000});
        if (!response) break;
        EXPECT_EQ(response->status, 204);
        ++answered;
    }
    EXPECT_EQ(answered, requests);
}

// Connections the lane hands to busy threads queue, but no more than max_open_connections
// are held open: beyond it a new connection is closed at once (and counted), and once the
// open ones go new ones are served again.
TEST_P(FastLaneTest, ConnectionsAboveTheOpenCapAreClosedAtOnce) {
    TearDown();
    GuardedServerOptions options = test_options();
    options.max_connections = 4;
    options.max_open_connections = 8;
    options.header_deadline = milliseconds{5000};
    start(options);
    constexpr std::size_t kClients = 20;
    std::vector<std::unique_ptr<RawConnection>> clients;
    for (std::size_t i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<RawConnection>(port_));
        ASSERT_TRUE(clients.back()->connected()) << i;
        // Not a fast request, head unfinished: handed off; 4 threads wait, 4 queue.
        clients.back()->send_all("GET /hello HTTP/1.1\r\nHost: t\r\n");
    }
    std::this_thread::sleep_for(milliseconds{300});
    for (std::size_t i = 0; i < kClients; ++i) {
        const auto rest = clients[i]->read_until_close(milliseconds{50});
        EXPECT_EQ(rest.closed, i >= 8) << "connection " << i;
        EXPECT_EQ(rest.data, "") << "connection " << i;
    }
    EXPECT_EQ(server_->open_connections(), 8u);
    EXPECT_EQ(server_->connections_refused(), kClients - 8);

    clients.clear();
    const auto deadline = Clock::now() + milliseconds{3000};
    while (server_->open_connections() > 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds{10});
    }
    EXPECT_EQ(server_->open_connections(), 0u);
    RawConnection client(port_);
    ASSERT_TRUE(client.send_all(kGetHello));
    const auto response = client.read_response(milliseconds{2000});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, "hello");
    ASSERT_TRUE(client.send_all(kGetFast));
    const auto fast = client.read_response(milliseconds{2000});
    ASSERT_TRUE(fast.has_value());
    EXPECT_EQ(fast->body, "threads");
    EXPECT_EQ(server_->connections_refused(), kClients - 8);
}

// A head dripping in a few bytes at a time, behind one answered in the same read, is
// examined piece by piece (not from its start each time) and answered as a whole.
TEST_P(FastLaneTest, AHeadDrippingInBehindAnAnsweredOneIsServed) {
    RawConnection client(port_);
    ASSERT_TRUE(client.connected());
    const std::string drip = get_fast("drip");
    ASSERT_TRUE(client.send_all(get_fast("first") + drip.substr(0, 25)));
    for (std::size_t at = 25; at < drip.size(); at += 3) {
        std::this_thread::sleep_for(milliseconds{10});
        ASSERT_TRUE(client.send_all(drip.substr(at, 3)));
    }
    for (const char* tag : {"first", "drip"}) {
        const auto response = client.read_response(milliseconds{2000});
        ASSERT_TRUE(response.has_value()) << tag;
        EXPECT_EQ(response->status, 204) << tag;
        EXPECT_NE(response->head.find(std::string("X-Seen: ") + tag + "\r\n"), std::string::npos);
    }
}

}  // namespace
}  // namespace infra::http
