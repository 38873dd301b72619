// job_state_test.cpp: the job state machine (src/core/job_state.*): every allowed edge,
// every refused one with its message, final states that never move, and name round trips.
#include <gtest/gtest.h>

#include <map>
#include <utility>

#include "core/errors.hpp"
#include "core/job_state.hpp"

namespace infra::core {
namespace {

using S = JobState;
using E = JobEvent;

const S kStates[] = {S::kQueued, S::kRunning, S::kSucceeded, S::kFailed, S::kCancelled};
const E kEvents[] = {E::kStart, E::kFinish, E::kFail, E::kCancel};

TEST(JobState, ExactlyTheDocumentedEdgesExist) {
    const std::map<std::pair<S, E>, S> allowed = {
        {{S::kQueued, E::kStart}, S::kRunning},    {{S::kQueued, E::kFail}, S::kFailed},
        {{S::kQueued, E::kCancel}, S::kCancelled}, {{S::kRunning, E::kFinish}, S::kSucceeded},
        {{S::kRunning, E::kFail}, S::kFailed},     {{S::kRunning, E::kCancel}, S::kCancelled},
    };
    int edges = 0;
    for (S from : kStates) {
        for (E event : kEvents) {
            auto it = allowed.find({from, event});
            std::optional<S> to = next_state(from, event);
            if (it == allowed.end()) {
                EXPECT_FALSE(to.has_value())
                    << job_state_name(from) << " --" << job_event_name(event) << "--> ?";
            } else {
                ASSERT_TRUE(to.has_value()) << job_state_name(from) << " " << job_event_name(event);
                EXPECT_EQ(*to, it->second);
                EXPECT_EQ(transition(from, event), it->second);
                ++edges;
            }
        }
    }
    EXPECT_EQ(edges, 6);
}

TEST(JobState, FinalStatesNeverMove) {
    for (S from : {S::kSucceeded, S::kFailed, S::kCancelled}) {
        EXPECT_TRUE(is_final(from));
        for (E event : kEvents) EXPECT_FALSE(next_state(from, event).has_value());
    }
    EXPECT_FALSE(is_final(S::kQueued));
    EXPECT_FALSE(is_final(S::kRunning));
}

TEST(JobState, RefusedTransitionSaysWhatAndWhy) {
    try {
        transition(S::kCancelled, E::kFinish);
        FAIL() << "finishing a cancelled job must be refused";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kConflict);
        EXPECT_STREQ(e.what(), "job cannot finish: it is cancelled");
        EXPECT_EQ(e.hint(), "A finished job does not change any more; start a new one.");
    }
    try {
        transition(S::kQueued, E::kFinish);
        FAIL() << "a queued job cannot finish without running";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "job cannot finish: it is queued");
        EXPECT_EQ(e.hint(), "Wait for the job to reach the state this needs.");
    }
}

TEST(JobState, NamesRoundTripAndUnknownNamesAreRefused) {
    for (S s : kStates) EXPECT_EQ(job_state_from_name(job_state_name(s)), s);
    try {
        job_state_from_name("done");
        FAIL() << "unknown state names must be refused";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_STREQ(e.what(), "invalid job state \"done\"");
    }
}

}  // namespace
}  // namespace infra::core
