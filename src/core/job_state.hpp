// job_state.hpp: the state machine every job (backup, restore, verification, cleanup)
// follows, as pure data so that the glue can assert each transition.
//
//   queued ──start──▶ running ──finish──▶ succeeded
//     │                  │ └────fail────▶ failed
//     │                  └─────cancel───▶ cancelled
//     ├──────cancel─────────────────────▶ cancelled
//     └──────fail (could not start)─────▶ failed
//
// succeeded, failed and cancelled are final: nothing leaves them. A job left running or
// queued by a crash is repaired at launcher start with kFail ("the server stopped while
// the job was running") — the same edge, so no special state exists for it.
#pragma once

#include <optional>
#include <string>

namespace infra::core {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
enum class JobEvent { kStart, kFinish, kFail, kCancel };

const char* job_state_name(JobState state);  // "queued", "running", ...
const char* job_event_name(JobEvent event);  // "start", "finish", ...
// The inverse of job_state_name; throws Error(kInvalidArgument) for any other text.
JobState job_state_from_name(const std::string& name);

bool is_final(JobState state);

// The state after `event`, or nullopt when the machine does not allow it.
std::optional<JobState> next_state(JobState from, JobEvent event);

// Like next_state, but throws Error(kConflict) naming both when not allowed, e.g.
// "job cannot finish: it is cancelled".
JobState transition(JobState from, JobEvent event);

}  // namespace infra::core
