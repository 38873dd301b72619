// refusal.hpp: the unit tests' check that a call is refused with a clear error.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/errors.hpp"

namespace infra::test {

// The message of the Error(kInvalidArgument) that f must throw; its hint must not be empty.
inline std::string refusal(const std::function<void()>& f) {
    try {
        f();
        ADD_FAILURE() << "no error";
        return "(no error)";
    } catch (const core::Error& e) {
        EXPECT_EQ(e.kind(), core::ErrorKind::kInvalidArgument) << e.what();
        EXPECT_FALSE(e.hint().empty()) << e.what();
        return e.what();
    }
}

}  // namespace infra::test
