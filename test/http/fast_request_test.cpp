// fast_request_test.cpp: parse_fast_request (src/http/fast_request.*), which decides what
// the fast lane may answer itself. Covered: the plain shape with headers (names as sent,
// values trimmed); a head not complete yet; every shape that must go to the library
// instead (another path, method or version, a query, body and Connection headers, '%',
// bare LF — also before the head is complete —, folded or nameless lines, control bytes);
// a second request behind the first is left for later; heads and lines above the
// library's limits are other (also before they are complete); a scan resumed byte by
// byte judges every prefix as a fresh parse does, having examined each byte once.
#include "http/fast_request.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace infra::http {
namespace {

using Kind = FastRequestHead::Kind;
constexpr const char* kPath = "/api/guard/check";

Kind kind_of(const std::string& bytes) {
    return parse_fast_request(bytes, kPath).kind;
}

TEST(FastRequestTest, ThePlainShapeIsFast) {
    const std::string head =
        "GET /api/guard/check HTTP/1.1\r\nHost: x\r\nX-Forwarded-For:  10.1.2.3 , 10.0.0.1\t\r\n"
        "x-original-content-length: 42\r\n\r\n";
    const FastRequestHead parsed = parse_fast_request(head + "GET /next", kPath);
    ASSERT_EQ(parsed.kind, Kind::kFast);
    EXPECT_EQ(parsed.length, head.size());
    ASSERT_EQ(parsed.headers.size(), 3u);
    EXPECT_EQ(parsed.headers[1].first, "X-Forwarded-For");
    EXPECT_EQ(parsed.headers[1].second, "10.1.2.3 , 10.0.0.1");
    EXPECT_EQ(parsed.headers[2].first, "x-original-content-length");
    EXPECT_EQ(kind_of("GET /api/guard/check HTTP/1.1\r\n\r\n"), Kind::kFast);
    EXPECT_EQ(kind_of("GET /api/guard/check HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n"),
              Kind::kFast);
}

TEST(FastRequestTest, AHeadNotCompleteYetIsIncomplete) {
    EXPECT_EQ(kind_of(""), Kind::kIncomplete);
    EXPECT_EQ(kind_of("GET /api/gu"), Kind::kIncomplete);
    EXPECT_EQ(kind_of("GET /api/guard/check HTTP/1.1\r\nHost: x\r\n"), Kind::kIncomplete);
}

TEST(FastRequestTest, EverythingElseGoesToTheLibrary) {
    for (const char* bytes : {
             "POST /api/guard/check HTTP/1.1\r\n\r\n",
             "HEAD /api/guard/check HTTP/1.1\r\n\r\n",
             "GET /api/guard/check HTTP/1.0\r\n\r\n",
             "GET /api/guard/check?x=1 HTTP/1.1\r\n\r\n",
             "GET /api/guard/checkx HTTP/1.1\r\n\r\n",
             "GET /api/guard/%63heck HTTP/1.1\r\n\r\n",
             "GET /api/infrastructure/ddos/stats HTTP/1.1\r\n\r\n",
             "GET /b",  // decided at the first differing byte
             "GET /api/guard/check HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nContent-Encoding: gzip\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nConnection: close\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nX-Forwarded-For: 10.0.0.%31\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nX-%41: 1\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nHost: x\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nHost: x\n",  // bare LF, head not complete
             "GET /api/guard/check HTTP/1.1\r\n folded: x\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\n: nameless\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nno colon\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nX: a\rb\r\n\r\n",
             "GET /api/guard/check HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n",
         }) {
        EXPECT_EQ(kind_of(bytes), Kind::kOther) << bytes;
    }
}

// What the library refuses (431 above max_head_bytes, 400 for a line above 8192 bytes with
// its CRLF) is never fast: complete, and as soon as an incomplete head must exceed it.
TEST(FastRequestTest, HeadsAboveTheLibrarysLimitsAreOther) {
    const FastRequestLimits limits{200, 64};
    const std::string start = "GET /api/guard/check HTTP/1.1\r\n";
    const auto line = [](std::size_t bytes) {  // a header line of bytes with its CRLF
        return "X: " + std::string(bytes - 5, 'a') + "\r\n";
    };
    const auto kind = [&](const std::string& bytes) {
        return parse_fast_request(bytes, kPath, limits).kind;
    };
    EXPECT_EQ(kind(start + line(64) + "\r\n"), Kind::kFast);
    EXPECT_EQ(kind(start + line(65) + "\r\n"), Kind::kOther);
    EXPECT_EQ(kind(start + line(64).substr(0, 63)), Kind::kIncomplete);
    EXPECT_EQ(kind(start + line(65).substr(0, 64)), Kind::kOther);  // no CRLF yet, too long
    std::string exact = start;
    while (exact.size() + 60 + 2 <= 200) exact += line(60);
    exact += line(200 - 2 - exact.size()) + "\r\n";
    ASSERT_EQ(exact.size(), 200u);
    EXPECT_EQ(kind(exact), Kind::kFast);
    EXPECT_EQ(kind(exact.substr(0, 199)), Kind::kIncomplete);
    std::string above = exact;
    above.insert(above.size() - 4, "a");  // 201 bytes
    EXPECT_EQ(kind(above), Kind::kOther);
    EXPECT_EQ(kind(above.substr(0, 200)), Kind::kOther);  // incomplete at 200: more to come
}

// A head arriving a byte at a time, examined with a kept FastRequestScan, is judged as a
// fresh parse of the same bytes would judge it, at every step.
TEST(FastRequestTest, AResumedScanJudgesAsAFreshParse) {
    const FastRequestLimits limits{300, 40};
    for (const std::string& bytes : {
             std::string("GET /api/guard/check HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\nGET /n"),
             std::string("GET /api/guard/check HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n"),
             std::string("GET /api/guard/check HTTP/1.1\r\nX-Long: ") + std::string(40, 'a') +
                 "\r\n\r\n",
             std::string("GET /api/guard/check HTTP/1.1\r\n") + std::string(8, 'x') + "\r\r\n\r\n",
             std::string("GET /api/guard/check HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
         }) {
        FastRequestScan scan;
        for (std::size_t size = 0; size <= bytes.size(); ++size) {
            const std::string_view prefix(bytes.data(), size);
            const FastRequestHead fresh = parse_fast_request(prefix, kPath, limits);
            const FastRequestHead resumed = parse_fast_request(prefix, kPath, limits, &scan);
            ASSERT_EQ(resumed.kind, fresh.kind) << bytes << " at " << size;
            EXPECT_EQ(resumed.length, fresh.length) << bytes << " at " << size;
            if (fresh.kind != Kind::kIncomplete) break;
            // Each byte once: the request line is compared, the rest scanned as it comes.
            const std::size_t line = std::strlen("GET /api/guard/check HTTP/1.1\r\n");
            EXPECT_EQ(scan.examined, size < line ? 0 : size) << bytes << " at " << size;
        }
    }
}

TEST(FastRequestTest, HeaderNamesCompareWithoutCase) {
    EXPECT_TRUE(equals_ignoring_case("X-Forwarded-For", "x-forwarded-for"));
    EXPECT_FALSE(equals_ignoring_case("X-Forwarded-For", "X-Forwarded-Fo"));
    EXPECT_FALSE(equals_ignoring_case("a", "b"));
}

}  // namespace
}  // namespace infra::http
