// sha256.cpp: SHA-256 as specified in FIPS 180-4 §6.2, processing whole 64-byte blocks
// straight from the caller's buffer; only a partial block at either end is copied.
#include "core/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include "core/errors.hpp"

namespace infra::core {

namespace {

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the
// first 64 primes.
constexpr uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// FIPS 180-4 §5.3.3: the first 32 bits of the fractional parts of the square roots of
// the first 8 primes.
constexpr std::array<uint32_t, 8> kInitialState = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

constexpr size_t kFileChunkSize = 64 * 1024;

inline uint32_t rotr(uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}
inline uint32_t big_sigma0(uint32_t x) {
    return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22);
}
inline uint32_t big_sigma1(uint32_t x) {
    return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25);
}
inline uint32_t small_sigma0(uint32_t x) {
    return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3);
}
inline uint32_t small_sigma1(uint32_t x) {
    return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10);
}
inline uint32_t choose(uint32_t x, uint32_t y, uint32_t z) {
    return z ^ (x & (y ^ z));
}
inline uint32_t majority(uint32_t x, uint32_t y, uint32_t z) {
    return (x & y) | (z & (x | y));
}

inline uint32_t load_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

inline void store_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

// One round of §6.2.2 step 3. Instead of shifting the eight working variables, the
// caller rotates the argument order: the new `a` is written into h and the new `e` into
// d, and the next round is called with (h, a, b, c, d, e, f, g).
inline void one_round(uint32_t a, uint32_t b, uint32_t c, uint32_t& d, uint32_t e, uint32_t f,
                      uint32_t g, uint32_t& h, uint32_t k_plus_w) {
    const uint32_t t1 = h + big_sigma1(e) + choose(e, f, g) + k_plus_w;
    const uint32_t t2 = big_sigma0(a) + majority(a, b, c);
    d += t1;
    h = t1 + t2;
}

}  // namespace

void Sha256::reset() {
    state_ = kInitialState;
    buffered_ = 0;
    total_bytes_ = 0;
    finished_ = false;
}

void Sha256::refuse_if_finished(const char* operation) const {
    if (finished_) {
        throw Error(ErrorKind::kInternal,
                    std::string("Sha256::") + operation + " called after the digest was taken",
                    "Take a digest once per message; call reset() or use a new Sha256 to hash "
                    "another message.");
    }
}

void Sha256::compress(const uint8_t* blocks, size_t count) {
    uint32_t w[64];
    for (; count > 0; --count, blocks += kBlockSize) {
        for (int t = 0; t < 16; ++t) w[t] = load_be32(blocks + 4 * t);
        for (int t = 16; t < 64; ++t) {
            w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];
        }

        uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
        uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
        for (int t = 0; t < 64; t += 8) {
            one_round(a, b, c, d, e, f, g, h, kRoundConstants[t + 0] + w[t + 0]);
            one_round(h, a, b, c, d, e, f, g, kRoundConstants[t + 1] + w[t + 1]);
            one_round(g, h, a, b, c, d, e, f, kRoundConstants[t + 2] + w[t + 2]);
            one_round(f, g, h, a, b, c, d, e, kRoundConstants[t + 3] + w[t + 3]);
            one_round(e, f, g, h, a, b, c, d, kRoundConstants[t + 4] + w[t + 4]);
            one_round(d, e, f, g, h, a, b, c, kRoundConstants[t + 5] + w[t + 5]);
            one_round(c, d, e, f, g, h, a, b, kRoundConstants[t + 6] + w[t + 6]);
            one_round(b, c, d, e, f, g, h, a, kRoundConstants[t + 7] + w[t + 7]);
        }
        state_[0] += a;
        state_[1] += b;
        state_[2] += c;
        state_[3] += d;
        state_[4] += e;
        state_[5] += f;
        state_[6] += g;
        state_[7] += h;
    }
}

void Sha256::update(const void* data, size_t n) {
    refuse_if_finished("update()");
    if (n == 0) return;
    const auto* in = static_cast<const uint8_t*>(data);
    total_bytes_ += n;

    if (buffered_ > 0) {
        const size_t take = std::min(n, kBlockSize - buffered_);
        std::memcpy(buffer_.data() + buffered_, in, take);
        buffered_ += take;
        in += take;
        n -= take;
        if (buffered_ < kBlockSize) return;
        compress(buffer_.data(), 1);
        buffered_ = 0;
    }

    const size_t whole_blocks = n / kBlockSize;
    if (whole_blocks > 0) {
        compress(in, whole_blocks);
        in += whole_blocks * kBlockSize;
        n -= whole_blocks * kBlockSize;
    }

    if (n > 0) {
        std::memcpy(buffer_.data(), in, n);
        buffered_ = n;
    }
}

Sha256::Digest Sha256::finish() {
    refuse_if_finished("finish()");

    // §5.1.1: a 1 bit, zeros up to 56 bytes mod 64, then the length in bits (64 bits,
    // big-endian). When fewer than 9 bytes are left in the block, the padding spills
    // into a second block.
    const uint64_t total_bits = total_bytes_ * 8;
    buffer_[buffered_++] = 0x80;
    if (buffered_ > kBlockSize - 8) {
        std::memset(buffer_.data() + buffered_, 0, kBlockSize - buffered_);
        compress(buffer_.data(), 1);
        buffered_ = 0;
    }
    std::memset(buffer_.data() + buffered_, 0, kBlockSize - 8 - buffered_);
    store_be32(buffer_.data() + 56, static_cast<uint32_t>(total_bits >> 32));
    store_be32(buffer_.data() + 60, static_cast<uint32_t>(total_bits));
    compress(buffer_.data(), 1);
    buffered_ = 0;
    finished_ = true;

    Digest digest;
    for (size_t i = 0; i < state_.size(); ++i) store_be32(digest.data() + 4 * i, state_[i]);
    return digest;
}

std::string Sha256::hex_digest() {
    return to_hex(finish());
}

std::string to_hex(const Sha256::Digest& digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex(2 * digest.size(), '0');
    for (size_t i = 0; i < digest.size(); ++i) {
        hex[2 * i] = kDigits[digest[i] >> 4];
        hex[2 * i + 1] = kDigits[digest[i] & 0x0f];
    }
    return hex;
}

std::string sha256_hex(std::string_view bytes) {
    Sha256 h;
    h.update(bytes.data(), bytes.size());
    return h.hex_digest();
}

namespace {

// Closes the descriptor when the reading scope ends, whichever way it ends.
class FileDescriptor {
  public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

[[noreturn]] void throw_cannot_read(const std::string& path, int err) {
    throw Error(ErrorKind::kInvalidArgument,
                "cannot read " + path + ": " + std::generic_category().message(err),
                "Check that the file exists, is a regular file, and is readable by the "
                "operating-system user that runs the server.");
}

}  // namespace

std::string sha256_file_hex(const std::string& path) {
    if (path.empty()) {
        throw Error(ErrorKind::kInvalidArgument, "cannot read a file with an empty path",
                    "Pass the path of the file to checksum.");
    }
    int fd;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) throw_cannot_read(path, errno);
    FileDescriptor file(fd);

    std::unique_ptr<uint8_t[]> chunk(new uint8_t[kFileChunkSize]);
    Sha256 h;
    for (;;) {
        const ssize_t got = ::read(file.get(), chunk.get(), kFileChunkSize);
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            throw_cannot_read(path, errno);
        }
        h.update(chunk.get(), static_cast<size_t>(got));
    }
    return h.hex_digest();
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
