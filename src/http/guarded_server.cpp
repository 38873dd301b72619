// guarded_server.cpp: GuardedServer — cpp-httplib 0.11.4's Server with our own connection
// loop (process_and_close_socket), our own Stream over the socket and our own pool.
//
// How the pieces fit (see guarded_server.hpp for the behaviour):
//  - ConnectionPool: the TaskQueue; at most max_connections jobs (= connections) at once,
//    enqueue() blocks the library's accept loop while all are busy.
//  - ConnectionStream: one per connection (its read buffer survives keep-alive, so
//    pipelined bytes are not lost). It enforces the header deadline and size, the body
//    deadline, the body's framing (it hands the library no byte past the body's end and
//    never more payload than max_body_bytes), and it can answer a request itself and then
//    refuse all further reads and writes ("cut").
//  - The library's process_request() parses and routes one request. Its setup_request
//    hook runs after the headers are parsed and before any body byte is read: there the
//    framing checks and on_headers run; an early answer is written by the stream and the
//    hook throws EarlyAnswerWritten, which unwinds process_request so that no route runs.
// Shared state: GuardedServer's atomics and its set of open sockets (sockets_mutex_); the
// pool's queue (its mutex). Everything else belongs to one connection's thread.
#include "http/guarded_server.hpp"
#include "http/reason_phrase.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace infra::http {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kReadBufferBytes = 16 * 1024;
constexpr milliseconds kLingerTime{1000};      // drain after an answer that ends a connection
constexpr milliseconds kForcedStopWait{1000};  // after shutdown_grace and the sockets' shutdown
constexpr milliseconds kStopPollInterval{10};
constexpr std::size_t kKeepAliveMaxRequests = 1000;  // the library's default is 5
constexpr std::size_t kMaxChunkSizeDigits = 16;
constexpr std::size_t kMaxChunkExtensionBytes = 1024;

// Thrown by the setup_request hook after the stream wrote an early answer.
struct EarlyAnswerWritten {};

// ---------------------------------------------------------------------------------------
// Small helpers

int poll_timeout_ms(Clock::time_point deadline, milliseconds cap) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    const auto bounded = std::clamp(left, milliseconds{0}, cap);
    return static_cast<int>(bounded.count());
}

milliseconds to_milliseconds(time_t sec, time_t usec) {
    return milliseconds{static_cast<long long>(sec) * 1000 + static_cast<long long>(usec) / 1000};
}

// poll() on one descriptor (and optionally a second, "wake", descriptor), retrying EINTR
// until the deadline. Returns the revents of fd, 0 on timeout, -1 on error or wake.
int poll_socket(int fd, short events, Clock::time_point deadline, milliseconds cap,
                int wake_fd = -1) {
    for (;;) {
        pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
        const nfds_t count = wake_fd >= 0 ? 2 : 1;
        const int ready = ::poll(fds, count, poll_timeout_ms(deadline, cap));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return -1;
        if (ready == 0) return 0;
        if (count == 2 && fds[1].revents != 0) return -1;
        return fds[0].revents;
    }
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower_a = std::tolower(static_cast<unsigned char>(a[i]));
        const auto lower_b = std::tolower(static_cast<unsigned char>(b[i]));
        if (lower_a != lower_b) return false;
    }
    return true;
}

std::string_view trim_whitespace(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// RFC 9110 token (header field names).
bool is_token(std::string_view text) {
    if (text.empty()) return false;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u)) continue;
        if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
    }
    return true;
}

bool has_line_break(const std::string& text) {
    return text.find_first_of("\r\n") != std::string::npos;
}

// The guard's own answers: {"error":"<message>"} (messages are fixed ASCII, no escaping).
// The API's error shape, {"error": {"code", "message"}} (messages here are fixed texts
// without quotes or backslashes).
EarlyResponse guard_answer(int status, const std::string& message) {
    EarlyResponse answer;
    answer.status = status;
    answer.body = "{\"error\":{\"code\":\"http_" + std::to_string(status) + "\",\"message\":\"" +
                  message + "\"}}";
    return answer;
}

// A complete HTTP/1.1 response that ends the connection. Headers whose name or value
// could break the framing are left out, as are those this function sets itself.
std::string format_early_response(const EarlyResponse& answer, bool head_request) {
    const int status = answer.status >= 100 && answer.status <= 999 ? answer.status : 500;
    std::string text = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
    for (const auto& [name, value] : answer.headers) {
        if (!is_token(name) || has_line_break(value)) continue;
        if (iequals(name, "Content-Length") || iequals(name, "Connection") ||
            iequals(name, "Transfer-Encoding") || iequals(name, "Content-Type")) {
            continue;
        }
        text += name + ": " + value + "\r\n";
    }
    if (!answer.body.empty() && !has_line_break(answer.content_type)) {
        text += "Content-Type: " + answer.content_type + "\r\n";
    }
    text += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n";
    text += "Connection: close\r\n\r\n";
    if (!head_request) text += answer.body;
    return text;
}

void describe_address(const sockaddr_storage& address, std::string& ip, int& port) {
    char text[INET6_ADDRSTRLEN] = "";
    port = -1;
    if (address.ss_family == AF_INET) {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
        ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
        port = ntohs(v4.sin_port);
    } else if (address.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
        if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
            ::inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof text);
        } else {
            ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
        }
        port = ntohs(v6.sin6_port);
    }
    ip = text;
}

// ---------------------------------------------------------------------------------------
// Body framing, decided from the raw header block (what a proxy in front of us saw, not
// the library's percent-decoded values).

struct BodyFraming {
    enum class Kind { kNone, kLength, kChunked };
    Kind kind = Kind::kNone;
    std::uint64_t length = 0;

    bool has_body() const { return kind == Kind::kChunked || length > 0; }
};

struct FramingDecision {
    BodyFraming framing;
    std::optional<EarlyResponse> refusal;
};

FramingDecision refuse(int status, const std::string& message) {
    return FramingDecision{BodyFraming{}, guard_answer(status, message)};
}

// Content-Length digits; nullopt if not a number, the type's maximum if it overflows.
std::optional<std::uint64_t> parse_content_length(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (kMax - digit) / 10) return kMax;
        value = value * 10 + digit;
    }
    return value;
}

struct RawFramingHeaders {
    std::vector<std::string_view> content_lengths;
    std::vector<std::string_view> transfer_encodings;
};

// Checks every header line of the raw block (request line first, ending with the empty
// line) and collects the framing headers' values. Returns a refusal for a malformed line.
std::optional<EarlyResponse> scan_raw_headers(std::string_view raw, RawFramingHeaders& out) {
    std::size_t pos = raw.find('\n');
    if (pos == std::string_view::npos) return guard_answer(400, "malformed request line");
    ++pos;
    while (pos < raw.size()) {
        const std::size_t end = raw.find('\n', pos);
        if (end == std::string_view::npos || end == pos || raw[end - 1] != '\r') {
            return guard_answer(400, "a header line does not end with CRLF");
        }
        const std::string_view line = raw.substr(pos, end - 1 - pos);
        pos = end + 1;
        if (line.empty()) break;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
            return guard_answer(400, "malformed header line");
        }
        if (line.find('\r') != std::string_view::npos) {
            return guard_answer(400, "a header line contains a bare CR");
        }
        const std::string_view name = line.substr(0, colon);
        const std::string_view value = trim_whitespace(line.substr(colon + 1));
        if (iequals(name, "Content-Length")) out.content_lengths.push_back(value);
        if (iequals(name, "Transfer-Encoding")) out.transfer_encodings.push_back(value);
    }
    return std::nullopt;
}

bool method_requires_length(const std::string& method) {
    return method == "POST" || method == "PUT" || method == "PATCH";
}

FramingDecision decide_framing(std::string_view raw_headers, const httplib::Request& req,
                               std::uint64_t max_body_bytes) {
    RawFramingHeaders raw;
    if (auto malformed = scan_raw_headers(raw_headers, raw)) {
        return FramingDecision{BodyFraming{}, std::move(malformed)};
    }
    const auto& lengths = raw.content_lengths;
    const auto& encodings = raw.transfer_encodings;
    if (!lengths.empty() && !encodings.empty()) {
        return refuse(400, "Content-Length together with Transfer-Encoding");
    }
    if (lengths.size() > 1) return refuse(400, "more than one Content-Length");
    if (encodings.size() > 1) return refuse(400, "more than one Transfer-Encoding");

    BodyFraming framing;
    if (encodings.size() == 1) {
        if (!iequals(encodings.front(), "chunked")) {
            return refuse(400, "Transfer-Encoding other than chunked");
        }
        framing.kind = BodyFraming::Kind::kChunked;
    } else if (lengths.size() == 1) {
        const auto length = parse_content_length(lengths.front());
        if (!length) return refuse(400, "Content-Length is not a number");
        if (*length > max_body_bytes) return refuse(413, "request body too large");
        framing.kind = BodyFraming::Kind::kLength;
        framing.length = *length;
    } else if (method_requires_length(req.method)) {
        // A request without Content-Length or Transfer-Encoding has no body (RFC 9112
        // 6.3): curl -X POST and many clients send a bodiless POST this way. The library
        // would read until the client closes; it is given an empty body instead.
        framing.kind = BodyFraming::Kind::kLength;
        framing.length = 0;
    }

    // The library would inflate a gzip/deflate/br body past max_body_bytes.
    if (framing.has_body() && req.has_header("Content-Encoding") &&
        !iequals(req.get_header_value("Content-Encoding"), "identity")) {
        return refuse(415, "request bodies with a Content-Encoding are not accepted");
    }
    return FramingDecision{framing, std::nullopt};
}

// The library's pseudo-headers come after any a client sent under the same name; keep
// only the socket's values.
void replace_address_headers(httplib::Request& req) {
    for (const char* name : {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT"}) {
        req.headers.erase(name);
    }
    req.set_header("REMOTE_ADDR", req.remote_addr);
    req.set_header("REMOTE_PORT", std::to_string(req.remote_port));
    req.set_header("LOCAL_ADDR", req.local_addr);
    req.set_header("LOCAL_PORT", std::to_string(req.local_port));
}

// ---------------------------------------------------------------------------------------
// Follows a chunked body byte by byte as the library reads it: counts the payload, finds
// the body's end, refuses what the library would misparse (sizes like "0x5", bare LF,
// junk after a chunk's data, trailers).
class ChunkedBodyTracker {
  public:
    enum class Verdict { kAccepted, kMalformed, kTooLarge };

    void reset(std::uint64_t max_payload) {
        *this = ChunkedBodyTracker{};
        max_payload_ = max_payload;
    }

    bool complete() const { return state_ == State::kDone; }

    // Examines up to size bytes; accepted is how many of them belong to the body (fewer
    // when its end comes first). On kMalformed/kTooLarge nothing may be handed on.
    Verdict examine(const char* data, std::size_t size, std::size_t& accepted) {
        accepted = 0;
        while (accepted < size && state_ != State::kDone) {
            if (state_ == State::kData) {
                const auto take =
                    static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, size - accepted));
                chunk_left_ -= take;
                accepted += take;
                if (chunk_left_ == 0) state_ = State::kDataCr;
                continue;
            }
            const Verdict verdict = step(data[accepted]);
            if (verdict != Verdict::kAccepted) return verdict;
            ++accepted;
        }
        return Verdict::kAccepted;
    }

  private:
    enum class State { kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf, kEndCr, kEndLf, kDone };

    static int hex_value(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    Verdict step(char c) {
        switch (state_) {
            case State::kSize:
                return step_size(c);
            case State::kExtension:
                if (c == '\r') return end_size_line();
                if (c == '\n' || ++extension_bytes_ > kMaxChunkExtensionBytes) {
                    return Verdict::kMalformed;
                }
                return Verdict::kAccepted;
            case State::kSizeLf:
                if (c != '\n') return Verdict::kMalformed;
                chunk_left_ = chunk_size_;
                return enter(chunk_size_ == 0 ? State::kEndCr : State::kData);
            case State::kDataCr:
                return c == '\r' ? enter(State::kDataLf) : Verdict::kMalformed;
            case State::kDataLf:
                if (c != '\n') return Verdict::kMalformed;
                chunk_size_ = 0;
                size_digits_ = 0;
                extension_bytes_ = 0;
                return enter(State::kSize);
            case State::kEndCr:  // trailers are refused, as the library does
                return c == '\r' ? enter(State::kEndLf) : Verdict::kMalformed;
            case State::kEndLf:
                return c == '\n' ? enter(State::kDone) : Verdict::kMalformed;
            case State::kData:
            case State::kDone:
                break;
        }
        return Verdict::kMalformed;
    }

    Verdict step_size(char c) {
        const int digit = hex_value(c);
        if (digit >= 0) {
            if (++size_digits_ > kMaxChunkSizeDigits) return Verdict::kMalformed;
            chunk_size_ = chunk_size_ * 16 + static_cast<std::uint64_t>(digit);
            if (chunk_size_ > max_payload_ - payload_) return Verdict::kTooLarge;
            return Verdict::kAccepted;
        }
        if (size_digits_ == 0) return Verdict::kMalformed;
        if (c == ';') return enter(State::kExtension);
        if (c == '\r') return end_size_line();
        return Verdict::kMalformed;
    }

    Verdict end_size_line() {
        payload_ += chunk_size_;  // known to fit since step_size
        return enter(State::kSizeLf);
    }

    Verdict enter(State next) {
        state_ = next;
        return Verdict::kAccepted;
    }

    std::uint64_t max_payload_ = 0;
    std::uint64_t payload_ = 0;  // chunk sizes declared so far (<= max_payload_)
    std::uint64_t chunk_size_ = 0;
    std::uint64_t chunk_left_ = 0;
    std::size_t size_digits_ = 0;
    std::size_t extension_bytes_ = 0;
    State state_ = State::kSize;
};

// ---------------------------------------------------------------------------------------
// The connection's Stream.

struct StreamLimits {
    std::size_t max_header_bytes;
    std::uint64_t max_body_bytes;
    milliseconds body_deadline;
    milliseconds read_idle;   // longest wait for one read (the library's read timeout)
    milliseconds write_idle;  // longest wait for one write (the library's write timeout)
};

class ConnectionStream final : public httplib::Stream {
  public:
    ConnectionStream(socket_t sock, const StreamLimits& limits)
        : sock_(sock), limits_(limits), buffer_(kReadBufferBytes) {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        if (::getpeername(sock, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
            describe_address(address, peer_ip_, peer_port_);
        }
        address = {};
        length = sizeof address;
        if (::getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
            describe_address(address, local_ip_, local_port_);
        }
    }

    // Bytes already read from the socket by someone else (the fast lane), read first.
    void preload(const std::string& bytes) {
        if (bytes.size() > buffer_.size()) buffer_.resize(bytes.size());
        std::memcpy(buffer_.data(), bytes.data(), bytes.size());
        begin_ = 0;
        end_ = bytes.size();
    }

    // Waits until a request's first byte is here (or buffered). False on timeout, on the
    // wake descriptor, or on an error.
    bool wait_for_request(Clock::time_point deadline, int wake_fd) {
        if (buffered() > 0) return true;
        const auto cap = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        return poll_socket(sock_, POLLIN, deadline, std::max(cap, milliseconds{0}), wake_fd) > 0;
    }

    void begin_request(Clock::time_point header_deadline) {
        phase_ = Phase::kHeaders;
        deadline_ = header_deadline;
        raw_headers_.clear();
        framing_ = BodyFraming{};
        body_bytes_read_ = 0;
        body_started_ = false;
    }

    // The request line and headers as read (for the framing checks).
    std::string_view raw_headers() const { return raw_headers_; }

    void begin_body(const BodyFraming& framing) {
        phase_ = Phase::kBody;
        deadline_ = Clock::now() + limits_.body_deadline;
        framing_ = framing;
        body_bytes_read_ = 0;
        chunked_.reset(limits_.max_body_bytes);
        body_started_ = true;
    }

    bool body_started() const { return body_started_; }

    bool body_complete() const {
        switch (framing_.kind) {
            case BodyFraming::Kind::kNone:
                return true;
            case BodyFraming::Kind::kLength:
                return body_bytes_read_ == framing_.length;
            case BodyFraming::Kind::kChunked:
                return chunked_.complete();
        }
        return false;
    }

    // Writes a complete response that ends the connection, then refuses further I/O.
    void answer(const EarlyResponse& response, bool head_request) {
        if (cut_) return;
        const std::string text = format_early_response(response, head_request);
        std::size_t sent = 0;
        while (sent < text.size()) {
            const ssize_t n = write(text.data() + sent, text.size() - sent);
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        cut_ = true;
        answered_ = true;
    }

    bool answered() const { return answered_; }  // by the guard: close with a linger
    bool cut() const { return cut_; }

    bool is_readable() const override {
        if (cut_) return false;
        if (buffered() > 0) return true;
        return poll_socket(sock_, POLLIN, Clock::now() + limits_.read_idle, limits_.read_idle) > 0;
    }

    bool is_writable() const override {
        if (cut_) return false;
        return poll_socket(sock_, POLLOUT, Clock::now() + limits_.write_idle, limits_.write_idle) >
               0;
    }

    ssize_t read(char* ptr, size_t size) override {
        if (cut_) return -1;
        if (size == 0) return 0;
        return phase_ == Phase::kHeaders ? read_header_bytes(ptr, size)
                                         : read_body_bytes(ptr, size);
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (cut_) return -1;
        for (;;) {
            const auto deadline = Clock::now() + limits_.write_idle;
            if (poll_socket(sock_, POLLOUT, deadline, limits_.write_idle) <= 0) return -1;
            const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            return n;
        }
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        ip = peer_ip_;
        port = peer_port_;
    }

    void get_local_ip_and_port(std::string& ip, int& port) const override {
        ip = local_ip_;
        port = local_port_;
    }

    socket_t socket() const override { return sock_; }

  private:
    enum class Phase { kHeaders, kBody };
    enum class Fill { kData, kEof, kTimeout, kError };

    std::size_t buffered() const { return end_ - begin_; }

    Fill fill(Clock::time_point deadline) {
        if (buffered() > 0) return Fill::kData;
        begin_ = end_ = 0;
        for (;;) {
            const int ready = poll_socket(sock_, POLLIN, deadline, limits_.read_idle);
            if (ready == 0) return Fill::kTimeout;
            if (ready < 0) return Fill::kError;
            const ssize_t n = ::recv(sock_, buffer_.data(), buffer_.size(), 0);
            if (n > 0) {
                end_ = static_cast<std::size_t>(n);
                return Fill::kData;
            }
            if (n == 0) return Fill::kEof;
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return Fill::kError;
        }
    }

    ssize_t hand_on(char* ptr, std::size_t size) {
        std::memcpy(ptr, buffer_.data() + begin_, size);
        begin_ += size;
        return static_cast<ssize_t>(size);
    }

    ssize_t read_header_bytes(char* ptr, std::size_t size) {
        switch (fill(deadline_)) {
            case Fill::kData:
                break;
            case Fill::kEof:
                return 0;
            case Fill::kTimeout:
                cut_ = true;
                return -1;  // slow client: no answer
            case Fill::kError:
                return -1;
        }
        const std::size_t take = std::min(size, buffered());
        if (raw_headers_.size() + take > limits_.max_header_bytes) {
            answer(guard_answer(431, "request headers too large"), false);
            return -1;
        }
        raw_headers_.append(buffer_.data() + begin_, take);
        return hand_on(ptr, take);
    }

    ssize_t read_body_bytes(char* ptr, std::size_t size) {
        if (framing_.kind == BodyFraming::Kind::kNone || body_complete()) return 0;
        switch (fill(deadline_)) {
            case Fill::kData:
                break;
            case Fill::kEof:
                return 0;
            case Fill::kTimeout:
                answer(guard_answer(408, "request body not received in time"), false);
                return -1;
            case Fill::kError:
                return -1;
        }
        std::size_t take = std::min(size, buffered());
        if (framing_.kind == BodyFraming::Kind::kLength) {
            take = static_cast<std::size_t>(
                std::min<std::uint64_t>(take, framing_.length - body_bytes_read_));
        } else {
            const std::size_t offered = take;
            switch (chunked_.examine(buffer_.data() + begin_, offered, take)) {
                case ChunkedBodyTracker::Verdict::kAccepted:
                    break;
                case ChunkedBodyTracker::Verdict::kTooLarge:
                    answer(guard_answer(413, "request body too large"), false);
                    return -1;
                case ChunkedBodyTracker::Verdict::kMalformed:
                    answer(guard_answer(400, "malformed chunked body"), false);
                    return -1;
            }
        }
        body_bytes_read_ += take;
        return hand_on(ptr, take);
    }

    socket_t sock_;
    StreamLimits limits_;
    std::string peer_ip_;
    int peer_port_ = -1;
    std::string local_ip_;
    int local_port_ = -1;

    std::vector<char> buffer_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;

    Phase phase_ = Phase::kHeaders;
    Clock::time_point deadline_;
    std::string raw_headers_;
    BodyFraming framing_;
    std::uint64_t body_bytes_read_ = 0;  // on the wire, chunk framing included
    ChunkedBodyTracker chunked_;
    bool body_started_ = false;
    bool cut_ = false;
    bool answered_ = false;
};

// ---------------------------------------------------------------------------------------
// The TaskQueue: one thread per connection, at most max_threads; enqueue() (the accept
// loop) waits while all are busy, so extra connections wait in the listen backlog rather
// than accepted and unserved.
class ConnectionPool final : public httplib::TaskQueue {
  public:
    explicit ConnectionPool(std::size_t max_threads) : max_threads_(max_threads) {}
    ~ConnectionPool() override { shutdown(); }

    // With fast lanes the accept loop's job (process_and_close_socket) only hands the
    // socket to a lane: it runs right there, on the accept thread.
    void run_jobs_inline() { inline_ = true; }
    // Runs before shutdown() joins the threads (the lanes stop and hand off first).
    void before_shutdown(std::function<void()> hook) { before_shutdown_ = std::move(hook); }

    void enqueue(std::function<void()> job) override {
        if (inline_) {
            job();
            return;
        }
        std::unique_lock<std::mutex> lock(mutex_);
        slot_free_.wait(lock, [&] { return outstanding_ < max_threads_; });
        if (threads_.size() <= outstanding_ && !start_thread() && threads_.empty()) {
            lock.unlock();
            job();  // no thread at all: serve it here rather than never
            return;
        }
        ++outstanding_;
        jobs_.push_back(std::move(job));
        job_ready_.notify_one();
    }

    // A connection handed off by a lane: never blocks (the lane's thread must not); it
    // waits in the queue while all max_threads threads are busy.
    void submit(std::function<void()> job) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++outstanding_;
        jobs_.push_back(std::move(job));
        if (threads_.size() < max_threads_ && threads_.size() < outstanding_) start_thread();
        job_ready_.notify_one();
    }

    // Called by the library's accept thread (the only one that enqueues) after its loop.
    void shutdown() override {
        if (before_shutdown_) {
            auto hook = std::move(before_shutdown_);
            before_shutdown_ = nullptr;
            hook();
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            shutting_down_ = true;
        }
        job_ready_.notify_all();
        for (auto& thread : threads_) {
            if (thread.joinable()) thread.join();
        }
    }

  private:
    bool start_thread() {
        try {
            threads_.emplace_back([this] { work(); });
            return true;
        } catch (const std::system_error&) {
            return false;  // the job waits for a running thread
        }
    }

    void work() {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            job_ready_.wait(lock, [&] { return !jobs_.empty() || shutting_down_; });
            if (jobs_.empty()) return;
            std::function<void()> job = std::move(jobs_.front());
            jobs_.pop_front();
            lock.unlock();
            try {
                job();
            } catch (...) {
                // process_and_close_socket does not throw; nothing else runs here.
            }
            job = nullptr;
            lock.lock();
            --outstanding_;
            slot_free_.notify_one();
        }
    }

    const std::size_t max_threads_;
    std::mutex mutex_;
    std::condition_variable slot_free_;
    std::condition_variable job_ready_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> threads_;
    std::size_t outstanding_ = 0;  // queued + running
    bool shutting_down_ = false;
    bool inline_ = false;                    // set before the accept loop starts
    std::function<void()> before_shutdown_;  // the accept thread's
};

// The connection served on this thread (for the post-routing hook).
thread_local const ConnectionStream* t_connection = nullptr;

class CurrentConnection {
  public:
    explicit CurrentConnection(const ConnectionStream& conn) { t_connection = &conn; }
    ~CurrentConnection() { t_connection = nullptr; }
    CurrentConnection(const CurrentConnection&) = delete;
    CurrentConnection& operator=(const CurrentConnection&) = delete;
};

// Counts a request as in progress from its admission until process_request is left.
class InProgressCount {
  public:
    explicit InProgressCount(std::atomic<std::size_t>& count) : count_(count) {}
    ~InProgressCount() {
        if (counted_) --count_;
    }
    InProgressCount(const InProgressCount&) = delete;
    InProgressCount& operator=(const InProgressCount&) = delete;

    void start() {
        if (!counted_) ++count_;
        counted_ = true;
    }

  private:
    std::atomic<std::size_t>& count_;
    bool counted_ = false;
};

void close_socket(socket_t sock) {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
}

// shutdown(SHUT_WR), then read and drop what the client still sends (for at most
// kLingerTime) so that closing does not reset the connection before it read our answer.
void linger_before_close(socket_t sock) {
    ::shutdown(sock, SHUT_WR);
    const auto deadline = Clock::now() + kLingerTime;
    char scratch[4096];
    while (poll_socket(sock, POLLIN, deadline, kLingerTime) > 0) {
        const ssize_t n = ::recv(sock, scratch, sizeof scratch, 0);
        if (n == 0) break;
        if (n < 0 && errno != EINTR && errno != EAGAIN) break;
    }
}

// The setup_request hook: after the headers, before the body. Either lets the request go
// on to the routes (the stream switched to its body) or writes an early answer and throws.
void admit_request(ConnectionStream& conn, httplib::Request& req, std::uint64_t max_body_bytes,
                   const GuardedServer::HeadersHook& on_headers) {
    replace_address_headers(req);
    FramingDecision decision = decide_framing(conn.raw_headers(), req, max_body_bytes);
    if (!decision.refusal && on_headers) {
        try {
            decision.refusal = on_headers(req, req.remote_addr);
        } catch (...) {
            decision.refusal = guard_answer(500, "request guard failed");
        }
    }
    if (decision.refusal) {
        conn.answer(*decision.refusal, req.method == "HEAD");
        throw EarlyAnswerWritten{};
    }
    conn.begin_body(decision.framing);
}

enum class ConnectionEnd { kKeepAlive, kClose, kLinger };

// What follows a request: ok is process_request's result, closing whether the request or
// the keep-alive count asked to end the connection.
ConnectionEnd after_request(const ConnectionStream& conn, bool ok, bool closing) {
    if (conn.answered()) return ConnectionEnd::kLinger;
    if (!ok || conn.cut()) return ConnectionEnd::kClose;
    // A request the library answered itself (400/414/416 before the hook), or a body the
    // route left unread: what follows is not a next request.
    if (!conn.body_started() || !conn.body_complete()) return ConnectionEnd::kLinger;
    return closing ? ConnectionEnd::kClose : ConnectionEnd::kKeepAlive;
}

void require_positive(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("GuardedServerOptions: ") + what);
}

}  // namespace

// ---------------------------------------------------------------------------------------

GuardedServer::GuardedServer(GuardedServerOptions options) : options_(std::move(options)) {
    require_positive(options_.max_connections > 0, "max_connections must be at least 1");
    require_positive(options_.max_header_bytes > 0, "max_header_bytes must be at least 1");
    require_positive(options_.header_deadline.count() > 0, "header_deadline must be positive");
    require_positive(options_.body_deadline.count() > 0, "body_deadline must be positive");
    require_positive(options_.keep_alive_idle.count() > 0, "keep_alive_idle must be positive");
    require_positive(options_.shutdown_grace.count() >= 0, "shutdown_grace must not be negative");
    max_open_connections_ = options_.max_open_connections != 0
                                ? options_.max_open_connections
                                : std::max<std::size_t>(1024, 16 * options_.max_connections);
    if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
        throw std::system_error(errno, std::generic_category(),
                                "GuardedServer: cannot create its wake-up pipe");
    }

    new_task_queue = [this] { return make_connection_pool(); };
    set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    set_tcp_nodelay(true);
    const auto idle_seconds = (options_.keep_alive_idle.count() + 999) / 1000;
    set_keep_alive_timeout(static_cast<time_t>(idle_seconds));  // advertised in Keep-Alive:
    set_keep_alive_max_count(kKeepAliveMaxRequests);
    set_payload_max_length(options_.max_body_bytes);
    httplib::Server::set_post_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) {
            finish_response_headers(req, res);
        });
}

void GuardedServer::set_fast_route(std::string path, FastLaneHandler handler) {
    fast_path_ = std::move(path);
    fast_handler_ = std::move(handler);
}

// On the accept thread, when listen() starts.
httplib::TaskQueue* GuardedServer::make_connection_pool() {
    auto* pool = new ConnectionPool(options_.max_connections);
    if (!fast_handler_ || options_.fast_lanes == 0) return pool;
    FastLaneOptions lane_options;
    lane_options.path = fast_path_;
    lane_options.max_header_bytes = options_.max_header_bytes;
    lane_options.header_deadline = options_.header_deadline;
    lane_options.keep_alive_idle = options_.keep_alive_idle;
    lane_options.write_idle = to_milliseconds(write_timeout_sec_, write_timeout_usec_);
    lane_options.max_requests = std::max<std::size_t>(keep_alive_max_count_, 1);
    lanes_.clear();
    for (std::size_t i = 0; i < options_.fast_lanes; ++i) {
        lanes_.push_back(std::make_unique<FastLane>(
            lane_options, fast_handler_,
            [this, pool](int sock, std::string unread, std::string unsent, std::size_t served,
                         Clock::time_point head_start) {
                pool->submit([this, sock, unsent = std::move(unsent),
                              handed_off = HandedOff{std::move(unread), served, head_start}] {
                    serve_handed_off(sock, handed_off, unsent);
                });
            },
            [this] { connection_closed(); }, stopping_, wake_pipe_[0]));
    }
    pool->run_jobs_inline();
    pool->before_shutdown([this] {
        for (auto& lane : lanes_) lane->stop();
    });
    return pool;
}

GuardedServer& GuardedServer::set_post_routing_handler(Handler handler) {
    post_routing_handler_ = std::move(handler);
    return *this;
}

// Runs on the connection's thread after the library chose Connection/Keep-Alive and
// before it writes the headers.
void GuardedServer::finish_response_headers(const httplib::Request& req, httplib::Response& res) {
    if (post_routing_handler_) post_routing_handler_(req, res);
    const bool body_left = t_connection != nullptr && !t_connection->body_complete();
    if (!stopping_ && !body_left) return;
    res.headers.erase("Keep-Alive");
    res.headers.erase("Connection");
    res.set_header("Connection", "close");
}

GuardedServer::~GuardedServer() {
    for (int& fd : wake_pipe_) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
}

std::size_t GuardedServer::requests_in_progress() const {
    return in_progress_.load();
}

std::size_t GuardedServer::open_connections() const {
    return open_connections_.load();
}

std::size_t GuardedServer::connections_refused() const {
    return connections_refused_.load();
}

// Counts an accepted socket as open, unless max_open_connections already are (each holds
// a descriptor and buffers; without a cap a flood of connections the lanes hand to busy
// threads would queue without limit).
bool GuardedServer::admit_connection() {
    if (open_connections_.fetch_add(1) < max_open_connections_) return true;
    --open_connections_;
    ++connections_refused_;
    return false;
}

void GuardedServer::connection_closed() {
    --open_connections_;
}

bool GuardedServer::bind_to_port(const std::string& host, int port, int socket_flags) {
    if (!httplib::Server::bind_to_port(host, port, socket_flags)) return false;
    raise_listen_backlog();
    return true;
}

int GuardedServer::bind_to_any_port(const std::string& host, int socket_flags) {
    const int port = httplib::Server::bind_to_any_port(host, socket_flags);
    if (port > 0) raise_listen_backlog();
    return port;
}

bool GuardedServer::listen(const std::string& host, int port, int socket_flags) {
    return bind_to_port(host, port, socket_flags) && listen_after_bind();
}

// listen() again on a listening socket only changes its backlog (Linux).
void GuardedServer::raise_listen_backlog() {
    const socket_t listener = svr_sock_.load();
    if (listener != INVALID_SOCKET) ::listen(listener, SOMAXCONN);
}

void GuardedServer::stop_gracefully() {
    const auto grace_end = Clock::now() + options_.shutdown_grace;
    if (!stopping_.exchange(true)) {
        const char byte = 1;
        if (::write(wake_pipe_[1], &byte, 1) < 0) {
            // Only EAGAIN is possible (a full pipe is readable anyway).
        }
    }
    // What Server::stop() does, but also before listen() has started (stop() is then a
    // no-op and listen() would run on).
    const socket_t listener = svr_sock_.exchange(INVALID_SOCKET);
    if (listener != INVALID_SOCKET) close_socket(listener);

    if (wait_until_listen_ends(grace_end)) return;
    shut_down_open_sockets();
    wait_until_listen_ends(Clock::now() + kForcedStopWait);
}

bool GuardedServer::wait_until_listen_ends(Clock::time_point deadline) const {
    while (is_running()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(kStopPollInterval);
    }
    return true;
}

void GuardedServer::register_socket(socket_t sock) {
    std::lock_guard<std::mutex> lock(sockets_mutex_);
    open_sockets_.insert(sock);
}

// Before close(), so that shut_down_open_sockets never touches a reused descriptor.
void GuardedServer::unregister_socket(socket_t sock) {
    std::lock_guard<std::mutex> lock(sockets_mutex_);
    open_sockets_.erase(sock);
}

void GuardedServer::shut_down_open_sockets() {
    std::lock_guard<std::mutex> lock(sockets_mutex_);
    for (const socket_t sock : open_sockets_) ::shutdown(sock, SHUT_RDWR);
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
    if (!admit_connection()) {
        ::close(sock);  // at the cap: closed at once, unread
        return true;
    }
    if (!lanes_.empty()) {
        lanes_[next_lane_++ % lanes_.size()]->adopt(sock);  // the lane closes it
        return true;
    }
    register_socket(sock);
    try {
        serve_connection(sock);
    } catch (...) {
        // A failure inside the library (e.g. bad_alloc): the connection is dropped.
    }
    unregister_socket(sock);
    ::close(sock);
    connection_closed();
    return true;
}

// A connection from a fast lane: first the answers it had not written yet, then the
// keep-alive loop from its unread bytes on.
void GuardedServer::serve_handed_off(socket_t sock, const HandedOff& handed_off,
                                     const std::string& unsent) {
    register_socket(sock);
    try {
        const milliseconds write_idle = to_milliseconds(write_timeout_sec_, write_timeout_usec_);
        std::size_t sent = 0;
        while (sent < unsent.size()) {
            if (poll_socket(sock, POLLOUT, Clock::now() + write_idle, write_idle) <= 0) break;
            const ssize_t n =
                ::send(sock, unsent.data() + sent, unsent.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        if (sent == unsent.size()) serve_connection(sock, &handed_off);
    } catch (...) {
        // As in process_and_close_socket.
    }
    unregister_socket(sock);
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    connection_closed();
}

// The keep-alive loop: one process_request per request, until the connection must end.
void GuardedServer::serve_connection(socket_t sock, const HandedOff* handed_off) {
    int yes = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);

    const StreamLimits limits{options_.max_header_bytes, options_.max_body_bytes,
                              options_.body_deadline,
                              to_milliseconds(read_timeout_sec_, read_timeout_usec_),
                              to_milliseconds(write_timeout_sec_, write_timeout_usec_)};
    ConnectionStream conn(sock, limits);
    if (handed_off != nullptr) conn.preload(handed_off->unread);
    const CurrentConnection current(conn);
    const auto accepted_at = Clock::now();
    const std::size_t max_requests = std::max<std::size_t>(keep_alive_max_count_, 1);
    ConnectionEnd end = ConnectionEnd::kClose;

    const std::size_t served_before = handed_off != nullptr ? handed_off->served : 0;
    for (std::size_t served = served_before; served < max_requests; ++served) {
        Clock::time_point header_deadline = accepted_at + options_.header_deadline;
        if (handed_off != nullptr && served == served_before) {
            // The lane's clock goes on (a slow head gets no second deadline here).
            header_deadline = handed_off->head_start + options_.header_deadline;
            if (!conn.wait_for_request(header_deadline, -1)) break;
        } else if (served == 0) {
            // Accepted before a stop: still served, within the header deadline.
            if (!conn.wait_for_request(header_deadline, -1)) break;
        } else {
            if (stopping_) break;
            const auto idle_end = Clock::now() + options_.keep_alive_idle;
            if (!conn.wait_for_request(idle_end, wake_pipe_[0]) || stopping_) break;
            header_deadline = Clock::now() + options_.header_deadline;
        }

        const bool last = stopping_ || served + 1 == max_requests;
        conn.begin_request(header_deadline);
        InProgressCount in_progress(in_progress_);
        bool connection_closed = false;
        bool ok = false;
        try {
            ok = process_request(conn, last, connection_closed, [&](httplib::Request& req) {
                admit_request(conn, req, options_.max_body_bytes, on_headers);
                in_progress.start();
            });
        } catch (const EarlyAnswerWritten&) {
            ok = false;
        }
        end = after_request(conn, ok, connection_closed || last);
        if (end != ConnectionEnd::kKeepAlive) break;
    }

    if (end == ConnectionEnd::kLinger) linger_before_close(sock);
    ::shutdown(sock, SHUT_RDWR);
}

}  // namespace infra::http
