// child_process.cpp: fork/exec with pipes, process groups and exec-failure reporting.
#include "core/child_process.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "core/errors.hpp"

extern char** environ;

namespace infra::core {

namespace {

std::string errno_text(int err) {
    return std::strerror(err);
}

void close_if_open(int* fd) {
    if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
    }
}

// The parent's environment with spec.env entries replacing or adding to it.
std::vector<std::string> merged_environment(const std::vector<std::string>& overrides) {
    std::vector<std::string> merged;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string entry = *e;
        std::string name = entry.substr(0, entry.find('='));
        bool replaced = false;
        for (const std::string& o : overrides) {
            if (o.compare(0, name.size() + 1, name + "=") == 0) replaced = true;
        }
        if (!replaced) merged.push_back(entry);
    }
    merged.insert(merged.end(), overrides.begin(), overrides.end());
    return merged;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (std::string& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Child side, between fork and exec: async-signal-safe calls only, then _exit.
[[noreturn]] void exec_child(const char* program, char* const* argv, char* const* envp, int in_fd,
                             int out_fd, int err_fd, int report_fd, pid_t parent) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);  // fails harmlessly for some
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) {
        int err = errno;
        (void)!write(report_fd, &err, sizeof err);
        _exit(127);
    }
    // Every other descriptor closes at exec (report_fd too, which tells the parent
    // that exec succeeded).
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        struct rlimit limit;
        int max_fd =
            getrlimit(RLIMIT_NOFILE, &limit) == 0 ? static_cast<int>(limit.rlim_cur) : 1024;
        for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    execve(program, argv, envp);
    int err = errno;
    (void)!write(report_fd, &err, sizeof err);
    _exit(127);
}

}  // namespace

ChildProcess ChildProcess::spawn(const ChildSpec& spec) {
    if (spec.program.empty() || spec.program[0] != '/') {
        throw Error(ErrorKind::kInvalidArgument,
                    "cannot run \"" + spec.program + "\": the program must be an absolute path",
                    "Pass the full path of the executable.");
    }
    // argv[0] is the full path: PostgreSQL programs (pg_dumpall) find their siblings through it.
    std::vector<std::string> argv_strings{spec.program};
    argv_strings.insert(argv_strings.end(), spec.args.begin(), spec.args.end());
    std::vector<std::string> env_strings = merged_environment(spec.env);
    std::vector<char*> argv = pointers(argv_strings);
    std::vector<char*> envp = pointers(env_strings);

    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    int report_pipe[2] = {-1, -1};
    int out_file = -1;
    int dev_null = -1;
    auto close_all = [&] {
        for (int* fd : {&out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1], &report_pipe[0],
                        &report_pipe[1], &out_file, &dev_null}) {
            close_if_open(fd);
        }
    };
    auto fail = [&](const std::string& what) {
        int err = errno;
        close_all();
        throw Error(ErrorKind::kInvalidArgument,
                    "cannot run " + spec.program + ": " + what + ": " + errno_text(err));
    };
    if (pipe2(err_pipe, O_CLOEXEC) != 0 || pipe2(report_pipe, O_CLOEXEC) != 0) fail("pipe");
    if (spec.stdout_file.empty()) {
        if (pipe2(out_pipe, O_CLOEXEC) != 0) fail("pipe");
    } else {
        out_file = ::open(spec.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out_file < 0) fail("cannot create " + spec.stdout_file);
    }
    dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (dev_null < 0) fail("cannot open /dev/null");

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        exec_child(spec.program.c_str(), argv.data(), envp.data(), dev_null,
                   out_file >= 0 ? out_file : out_pipe[1], err_pipe[1], report_pipe[1], parent);
    }
    setpgid(pid, pid);  // also here: no window in which signal_group() misses the child

    close_if_open(&out_pipe[1]);
    close_if_open(&err_pipe[1]);
    close_if_open(&report_pipe[1]);
    close_if_open(&out_file);
    close_if_open(&dev_null);

    int child_errno = 0;
    ssize_t got;
    do {
        got = ::read(report_pipe[0], &child_errno, sizeof child_errno);
    } while (got < 0 && errno == EINTR);
    close_if_open(&report_pipe[0]);
    if (got == static_cast<ssize_t>(sizeof child_errno)) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        close_all();
        throw Error(ErrorKind::kInvalidArgument,
                    "cannot run " + spec.program + ": " + errno_text(child_errno),
                    "Check that the program exists and is executable by the server's user.");
    }

    ChildProcess child;
    child.pid_ = pid;
    child.stdout_fd_ = out_pipe[0];
    child.stderr_fd_ = err_pipe[0];
    child.stderr_limit_ = spec.stderr_limit;
    for (int fd : {child.stdout_fd_, child.stderr_fd_}) {
        if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept {
    *this = std::move(other);
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        pid_ = other.pid_;
        stdout_fd_ = other.stdout_fd_;
        stderr_fd_ = other.stderr_fd_;
        stderr_limit_ = other.stderr_limit_;
        stderr_ = std::move(other.stderr_);
        status_ = other.status_;
        other.pid_ = -1;
        other.stdout_fd_ = other.stderr_fd_ = -1;
        other.status_.reset();
    }
    return *this;
}

ChildProcess::~ChildProcess() {
    if (running()) {
        signal_group(SIGKILL);
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    close_fds();
}

void ChildProcess::close_fds() {
    close_if_open(&stdout_fd_);
    close_if_open(&stderr_fd_);
}

long ChildProcess::read_stdout(char* buf, size_t size) {
    if (stdout_fd_ < 0) return 0;
    ssize_t n = ::read(stdout_fd_, buf, size);
    if (n > 0) return n;
    if (n == 0) {
        close_if_open(&stdout_fd_);
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return -1;
    close_if_open(&stdout_fd_);
    return 0;
}

void ChildProcess::read_stderr() {
    char buf[4096];
    while (stderr_fd_ >= 0) {
        ssize_t n = ::read(stderr_fd_, buf, sizeof buf);
        if (n > 0) {
            stderr_.append(buf, static_cast<size_t>(n));
            if (stderr_.size() > stderr_limit_) stderr_.erase(0, stderr_.size() - stderr_limit_);
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            close_if_open(&stderr_fd_);
        } else if (errno != EINTR) {
            return;  // nothing more ready now
        }
    }
}

std::optional<int> ChildProcess::try_reap() {
    if (status_ || pid_ <= 0) return status_;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) status_ = status;
    return status_;
}

int ChildProcess::wait() {
    char discard[65536];
    while (!try_reap()) {
        struct pollfd fds[2];
        int n = 0;
        if (stderr_fd_ >= 0) fds[n++] = {stderr_fd_, POLLIN, 0};
        if (stdout_fd_ >= 0) fds[n++] = {stdout_fd_, POLLIN, 0};
        poll(fds, static_cast<nfds_t>(n), 50);
        read_stderr();
        while (read_stdout(discard, sizeof discard) > 0) {
        }
    }
    read_stderr();
    return *status_;
}

void ChildProcess::signal_group(int signo) {
    if (running()) ::kill(-pid_, signo);
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        int signo = WTERMSIG(status);
        const char* name = strsignal(signo);
        return "was terminated by signal " + std::to_string(signo) + " (" +
               (name ? name : "unknown") + ")";
    }
    return "ended with wait status " + std::to_string(status);
}

bool exited_successfully(int status) {
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace infra::core

#include "core/no_postgres.hpp"  // keep last: the core never sees postgres.h
