// child_process.hpp: runs an external program (pg_dump, pg_restore, pg_basebackup)
// the way a background worker needs it run.
//
//  - fork + execv, never a shell: arguments are passed as they are.
//  - Between fork and exec the child calls only async-signal-safe functions: it gets its
//    own process group (so the whole tree can be signalled), asks to receive SIGTERM if
//    its parent dies (Linux PR_SET_PDEATHSIG), unblocks every signal and resets the
//    dispositions a PostgreSQL worker changes (SIGPIPE ignored, handlers installed),
//    wires stdin to /dev/null and stdout/stderr to pipes or a file, closes every other
//    descriptor, and execs. If exec fails, the errno reaches the parent through a
//    close-on-exec pipe, so spawn() throws "cannot run <program>: <errno text>" instead
//    of the caller seeing a mysterious exit code 127.
//  - The parent side is non-blocking: stdout_fd()/stderr_fd() can go into poll() or
//    PostgreSQL's WaitLatchOrSocket; read_stderr() keeps the last bytes of stderr (the
//    part that says what went wrong) within a fixed bound; try_reap() never blocks.
//  - The destructor of a child still running kills its process group and reaps it, so
//    no process outlives the object that owns it.
// No locking: one ChildProcess belongs to one thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace infra::core {

struct ChildSpec {
    std::string program;            // absolute path of the executable
    std::vector<std::string> args;  // argv[1..]; argv[0] is program itself
    // Extra environment entries "NAME=value" added to (or replacing in) the parent's.
    std::vector<std::string> env;
    // stdout: captured through a pipe when empty, otherwise written to this file
    // (created with mode 0600, truncated).
    std::string stdout_file;
    size_t stderr_limit = 64 * 1024;  // bytes of stderr kept (the last ones)
};

class ChildProcess {
  public:
    // Starts the program. Throws Error(kInvalidArgument) when it cannot be started.
    static ChildProcess spawn(const ChildSpec& spec);

    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    pid_t pid() const { return pid_; }
    int stdout_fd() const { return stdout_fd_; }  // -1 when stdout goes to a file or is closed
    int stderr_fd() const { return stderr_fd_; }  // -1 once closed

    // Reads what stdout has ready into buf (non-blocking). Returns bytes read, 0 at end
    // of output (the descriptor is then closed), or -1 when nothing is ready yet.
    long read_stdout(char* buf, size_t size);
    // Reads what stderr has ready, keeping the last stderr_limit bytes.
    void read_stderr();
    const std::string& stderr_text() const { return stderr_; }

    // Reaps the child if it has exited; its wait status when it has.
    std::optional<int> try_reap();
    // Blocks until the child exits (draining stderr meanwhile); its wait status.
    int wait();
    // Signals the child's whole process group.
    void signal_group(int signo);
    bool running() const { return pid_ > 0 && !status_.has_value(); }

  private:
    ChildProcess() = default;
    void close_fds();

    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    int stderr_fd_ = -1;
    size_t stderr_limit_ = 0;
    std::string stderr_;
    std::optional<int> status_;
};

// "exited with code 2", "was terminated by signal 9 (Killed)".
std::string describe_wait_status(int status);
// True when the status says the program exited with code 0.
bool exited_successfully(int status);

}  // namespace infra::core
