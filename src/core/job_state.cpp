// job_state.cpp: the job state machine's transition table.
#include "core/job_state.hpp"

#include "core/errors.hpp"

namespace infra::core {

namespace {
constexpr JobState kAllStates[] = {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                                   JobState::kFailed, JobState::kCancelled};
}

const char* job_state_name(JobState state) {
    switch (state) {
        case JobState::kQueued:
            return "queued";
        case JobState::kRunning:
            return "running";
        case JobState::kSucceeded:
            return "succeeded";
        case JobState::kFailed:
            return "failed";
        case JobState::kCancelled:
            return "cancelled";
    }
    return "queued";
}

const char* job_event_name(JobEvent event) {
    switch (event) {
        case JobEvent::kStart:
            return "start";
        case JobEvent::kFinish:
            return "finish";
        case JobEvent::kFail:
            return "fail";
        case JobEvent::kCancel:
            return "cancel";
    }
    return "start";
}

JobState job_state_from_name(const std::string& name) {
    for (JobState s : kAllStates) {
        if (name == job_state_name(s)) return s;
    }
    throw Error(ErrorKind::kInvalidArgument, "invalid job state \"" + name + "\"",
                "Use one of queued, running, succeeded, failed, cancelled.");
}

bool is_final(JobState state) {
    return state == JobState::kSucceeded || state == JobState::kFailed ||
           state == JobState::kCancelled;
}

std::optional<JobState> next_state(JobState from, JobEvent event) {
    switch (from) {
        case JobState::kQueued:
            if (event == JobEvent::kStart) return JobState::kRunning;
            if (event == JobEvent::kFail) return JobState::kFailed;
            if (event == JobEvent::kCancel) return JobState::kCancelled;
            return std::nullopt;
        case JobState::kRunning:
            if (event == JobEvent::kFinish) return JobState::kSucceeded;
            if (event == JobEvent::kFail) return JobState::kFailed;
            if (event == JobEvent::kCancel) return JobState::kCancelled;
            return std::nullopt;
        case JobState::kSucceeded:
        case JobState::kFailed:
        case JobState::kCancelled:
            return std::nullopt;
    }
    return std::nullopt;
}

JobState transition(JobState from, JobEvent event) {
    std::optional<JobState> to = next_state(from, event);
    if (!to) {
        throw Error(
            ErrorKind::kConflict,
            std::string("job cannot ") + job_event_name(event) + ": it is " + job_state_name(from),
            is_final(from) ? "A finished job does not change any more; start a new one."
                           : "Wait for the job to reach the state this needs.");
    }
    return *to;
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
