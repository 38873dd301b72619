// quiet_thread.hpp: starting a helper thread inside a PostgreSQL process (the archiver,
// a job worker) that never runs a signal handler. PostgreSQL's handlers set flags and
// latches that only its main thread may act on; a thread created with every signal
// blocked inherits that mask, so every signal is delivered to the main thread. The
// calling thread's own mask is restored before returning. The thread must run core code
// only (no palloc, no elog, no PostgreSQL state). No shared state here.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <utility>

namespace infra::core {

template <typename Function>
std::thread start_quiet_thread(Function&& body) {
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    struct RestoreMask {
        const sigset_t* mask;
        ~RestoreMask() { pthread_sigmask(SIG_SETMASK, mask, nullptr); }
    } restore{&previous};
    return std::thread(std::forward<Function>(body));
}

}  // namespace infra::core
