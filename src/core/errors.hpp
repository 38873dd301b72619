// errors.hpp: the one list of infra_ext's own error kinds.
//
// Every error the extension raises itself carries one of these kinds. Each kind has a
// stable SQLSTATE in class "IX" (reserved for infra_ext) so callers (the HTTP layer,
// scripts) can branch on the code, and a message that says what was wrong and a hint
// that says what to do.
#pragma once

#include <stdexcept>
#include <string>

namespace infra::core {

enum class ErrorKind {
    kInvalidArgument,    // IX001: a value the caller passed is malformed or out of range
    kNotLoaded,          // IX002: infra_ext is not in shared_preload_libraries
    kCapacityExhausted,  // IX003: a fixed-size shared table is full
    kConflict,           // IX004: the request contradicts existing state (e.g. allowlisted)
    kInternal,           // IX000: a bug; the message says where
};

// The SQLSTATE text for a kind ("IX001", ...).
const char* sqlstate_of(ErrorKind kind);

class Error : public std::runtime_error {
  public:
    Error(ErrorKind kind, std::string message, std::string hint = {})
        : std::runtime_error(std::move(message)), kind_(kind), hint_(std::move(hint)) {}
    ErrorKind kind() const { return kind_; }
    const std::string& hint() const { return hint_; }

  private:
    ErrorKind kind_;
    std::string hint_;
};

inline const char* sqlstate_of(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::kInvalidArgument:
            return "IX001";
        case ErrorKind::kNotLoaded:
            return "IX002";
        case ErrorKind::kCapacityExhausted:
            return "IX003";
        case ErrorKind::kConflict:
            return "IX004";
        case ErrorKind::kInternal:
            return "IX000";
    }
    return "IX000";
}

}  // namespace infra::core
