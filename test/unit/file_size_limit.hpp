// file_size_limit.hpp: a unit-test tool for real write errors without a full disk.
#pragma once

#include <signal.h>
#include <sys/resource.h>

namespace infra::test {

// Sets RLIMIT_FSIZE and ignores SIGXFSZ for one scope, so that writing past the limit
// fails with EFBIG instead of killing the process.
class ScopedFileSizeLimit {
  public:
    explicit ScopedFileSizeLimit(rlim_t bytes) {
        ok_ = ::getrlimit(RLIMIT_FSIZE, &old_limit_) == 0;
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        ok_ = ok_ && ::sigaction(SIGXFSZ, &ignore, &old_action_) == 0;
        struct rlimit limit = old_limit_;
        limit.rlim_cur = bytes;
        ok_ = ok_ && ::setrlimit(RLIMIT_FSIZE, &limit) == 0;
    }
    ~ScopedFileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &old_limit_);
        ::sigaction(SIGXFSZ, &old_action_, nullptr);
    }
    bool ok() const { return ok_; }

  private:
    bool ok_ = false;
    struct rlimit old_limit_ {};
    struct sigaction old_action_ {};
};

}  // namespace infra::test
