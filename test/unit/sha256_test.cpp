// sha256_test.cpp: streaming SHA-256 (src/core/sha256.*): the FIPS 180-2 / RFC 6234 test
// vectors, digests of messages around the padding boundaries, streaming in random chunks
// against one-shot hashing, file digests and their errors, and the once-only digest rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/sha256.hpp"
#include "test_files.hpp"

namespace infra::core {
namespace {

using test::random_bytes;
using test::TempDir;
using test::write_file;

TEST(Sha256, FipsAndRfcVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // 448 bits: exactly 56 bytes, so the length field needs a second block.
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // 896 bits: two blocks of message.
    EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                         "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, OneMillionA) {
    const std::string million(1000000, 'a');
    const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    EXPECT_EQ(sha256_hex(million), expected);

    Sha256 byte_by_byte;
    for (char ch : million) byte_by_byte.update(&ch, 1);
    EXPECT_EQ(byte_by_byte.hex_digest(), expected);

    Sha256 in_thousands;
    for (int i = 0; i < 1000; ++i) in_thousands.update(million.data() + 1000 * i, 1000);
    EXPECT_EQ(in_thousands.hex_digest(), expected);
}

// Messages of 'a' whose lengths sit on either side of the padding boundaries (55 bytes
// is the longest that pads within one block). Expected values from coreutils sha256sum.
TEST(Sha256, PaddingBoundaries) {
    const std::pair<size_t, const char*> cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
    };
    for (const auto& [length, expected] : cases) {
        EXPECT_EQ(sha256_hex(std::string(length, 'a')), expected) << length << " bytes";
    }
}

TEST(Sha256, StreamingInRandomChunksEqualsOneShot) {
    std::mt19937_64 rng(20261128);
    std::vector<size_t> lengths = {0,  1,   54,  55,  56,  57,  63,   64,
                                   65, 119, 120, 127, 128, 129, 10000};
    std::uniform_int_distribution<size_t> any_length(0, 10000);
    for (int i = 0; i < 300; ++i) lengths.push_back(any_length(rng));

    for (size_t length : lengths) {
        const std::string message = random_bytes(length, rng());
        const std::string one_shot = sha256_hex(message);

        // Small chunks (0..70 bytes, so buffered partial blocks are common) and, now and
        // then, a large one that covers many whole blocks at once.
        for (int split = 0; split < 4; ++split) {
            Sha256 h;
            size_t pos = 0;
            while (pos < message.size()) {
                size_t chunk = (rng() % 8 == 0) ? rng() % 3000 : rng() % 71;
                chunk = std::min(chunk, message.size() - pos);
                h.update(message.data() + pos, chunk);
                pos += chunk;
            }
            h.update(nullptr, 0);
            ASSERT_EQ(h.hex_digest(), one_shot) << "length " << length << ", split " << split;
        }
    }
}

TEST(Sha256, DigestBytesMatchHexAndStringViewOverload) {
    Sha256 h;
    h.update(std::string_view("ab"));
    h.update(std::string_view("c"));
    const Sha256::Digest digest = h.finish();
    EXPECT_EQ(digest[0], 0xba);
    EXPECT_EQ(digest[31], 0xad);
    EXPECT_EQ(to_hex(digest), sha256_hex("abc"));
}

TEST(Sha256, FileDigestEqualsInMemoryDigest) {
    const TempDir dir("sha256_test");
    std::mt19937_64 rng(42);
    // Sizes around the 64 KiB read chunk, and one spanning several chunks.
    for (size_t size :
         {size_t{0}, size_t{1}, size_t{65535}, size_t{65536}, size_t{65537}, size_t{300001}}) {
        const std::string bytes = random_bytes(size, rng());
        const std::string path = dir.file("data_" + std::to_string(size));
        write_file(path, bytes);
        EXPECT_EQ(sha256_file_hex(path), sha256_hex(bytes)) << size << " bytes";
    }
}

TEST(Sha256, MissingFileThrowsWithErrnoText) {
    const TempDir dir("sha256_test");
    const std::string path = dir.file("no_such.dump");
    try {
        sha256_file_hex(path);
        FAIL() << "a missing file must throw";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_EQ(std::string(e.what()), "cannot read " + path + ": No such file or directory");
        EXPECT_FALSE(e.hint().empty());
    }
}

TEST(Sha256, DirectoryAndEmptyPathThrow) {
    const TempDir dir("sha256_test");
    try {
        sha256_file_hex(dir.path());
        FAIL() << "a directory must throw";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_EQ(std::string(e.what()), "cannot read " + dir.path() + ": Is a directory");
    }
    try {
        sha256_file_hex("");
        FAIL() << "an empty path must throw";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_STREQ(e.what(), "cannot read a file with an empty path");
    }
}

TEST(Sha256, DigestIsTakenOnceThenResetStartsOver) {
    Sha256 h;
    h.update("abc", 3);
    EXPECT_EQ(h.hex_digest(), sha256_hex("abc"));

    try {
        h.finish();
        FAIL() << "finish() twice must be refused";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInternal);
        EXPECT_STREQ(e.what(), "Sha256::finish() called after the digest was taken");
        EXPECT_FALSE(e.hint().empty());
    }
    try {
        h.update("d", 1);
        FAIL() << "update() after finish() must be refused";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInternal);
        EXPECT_STREQ(e.what(), "Sha256::update() called after the digest was taken");
    }
    EXPECT_THROW(h.hex_digest(), Error);
    EXPECT_THROW(h.update(nullptr, 0), Error);

    h.reset();
    h.update("ab", 2);
    h.update("c", 1);
    EXPECT_EQ(h.hex_digest(), sha256_hex("abc"));
}

}  // namespace
}  // namespace infra::core
