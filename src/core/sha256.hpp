// sha256.hpp: streaming SHA-256 (FIPS 180-4), the checksum of every backup file.
//
// A backup job feeds the bytes of a dump to a Sha256 while they stream to disk, so the
// checksum costs no second read; verification recomputes it with sha256_file_hex().
//
//   Sha256 h;
//   h.update(chunk1, n1);
//   h.update(chunk2, n2);
//   std::string hex = h.hex_digest();  // 64 lowercase hex digits
//
// Life cycle: a Sha256 accepts update() until finish() or hex_digest() (which finishes)
// is called once. After that, update(), finish() and hex_digest() throw
// Error(kInternal) — a digest is taken exactly once, so a second call is a bug in the
// caller, not a value — until reset() starts a new message. Messages up to 2^61 - 1
// bytes are supported (the FIPS length field counts bits in 64 bits).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace infra::core {

class Sha256 {
  public:
    static constexpr size_t kDigestSize = 32;
    static constexpr size_t kBlockSize = 64;
    using Digest = std::array<uint8_t, kDigestSize>;

    Sha256() { reset(); }

    // Appends n bytes. data may be null when n is 0. Throws Error(kInternal) after finish().
    void update(const void* data, size_t n);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

    // Pads the message and returns the 32-byte digest. Throws Error(kInternal) if the
    // digest was already taken.
    Digest finish();

    // finish(), as 64 lowercase hex digits.
    std::string hex_digest();

    // Forgets everything: the object hashes a new, empty message.
    void reset();

  private:
    void compress(const uint8_t* blocks, size_t count);
    void refuse_if_finished(const char* operation) const;

    std::array<uint32_t, 8> state_;
    std::array<uint8_t, kBlockSize> buffer_;
    size_t buffered_ = 0;       // bytes in buffer_, always < kBlockSize between calls
    uint64_t total_bytes_ = 0;  // message length so far
    bool finished_ = false;
};

// 64 lowercase hex digits of a digest.
std::string to_hex(const Sha256::Digest& digest);

// The SHA-256 of bytes, as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

// The SHA-256 of a file's contents, read in 64 KiB chunks. Throws Error(kInvalidArgument)
// when the file cannot be opened or read, with the system's reason, e.g.
// "cannot read /x/y: No such file or directory".
std::string sha256_file_hex(const std::string& path);

}  // namespace infra::core
