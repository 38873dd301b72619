// child_process_test.cpp: running external programs (src/core/child_process.*): stdout
// captured through a pipe or written to a 0600 file, stderr kept within its bound, exit
// codes and signals described, exec failures reported with their errno text, the whole
// process group signalled, and no child left behind by the destructor.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/child_process.hpp"
#include "core/errors.hpp"
#include "test_files.hpp"

namespace infra::core {
namespace {

ChildSpec shell(const std::string& script) {
    ChildSpec spec;
    spec.program = "/bin/sh";
    spec.args = {"-c", script};
    return spec;
}

std::string read_all_stdout(ChildProcess& child) {
    std::string out;
    char buf[8192];
    for (;;) {
        long n = child.read_stdout(buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<size_t>(n));
        } else if (n == 0) {
            return out;
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
}

bool process_exists(pid_t pid) {
    return ::kill(pid, 0) == 0;
}

TEST(ChildProcess, CapturesStdoutAndExitCode) {
    ChildProcess child = ChildProcess::spawn(shell("printf 'hello\\nworld'"));
    EXPECT_EQ(read_all_stdout(child), "hello\nworld");
    int status = child.wait();
    EXPECT_TRUE(exited_successfully(status));
    EXPECT_EQ(describe_wait_status(status), "exited with code 0");
}

TEST(ChildProcess, ArgumentsArePassedWithoutAShell) {
    ChildSpec spec;
    spec.program = "/bin/echo";
    spec.args = {"a b", "$HOME", "'quoted'"};
    ChildProcess child = ChildProcess::spawn(spec);
    EXPECT_EQ(read_all_stdout(child), "a b $HOME 'quoted'\n");
    EXPECT_TRUE(exited_successfully(child.wait()));
}

TEST(ChildProcess, LargeOutputStreamsWithoutDeadlock) {
    ChildProcess child = ChildProcess::spawn(shell("head -c 10000000 /dev/zero"));
    EXPECT_EQ(read_all_stdout(child).size(), 10000000u);
    EXPECT_TRUE(exited_successfully(child.wait()));
}

TEST(ChildProcess, StderrAndFailureCodeAreReported) {
    ChildProcess child =
        ChildProcess::spawn(shell("echo 'pg_dump: error: no such table' >&2; exit 3"));
    int status = child.wait();
    EXPECT_FALSE(exited_successfully(status));
    EXPECT_EQ(describe_wait_status(status), "exited with code 3");
    EXPECT_EQ(child.stderr_text(), "pg_dump: error: no such table\n");
}

TEST(ChildProcess, StderrKeepsOnlyTheLastBytesWithinItsLimit) {
    ChildSpec spec = shell("i=0; while [ $i -lt 2000 ]; do echo line-$i >&2; i=$((i+1)); done");
    spec.stderr_limit = 100;
    ChildProcess child = ChildProcess::spawn(spec);
    child.wait();
    EXPECT_EQ(child.stderr_text().size(), 100u);
    EXPECT_NE(child.stderr_text().find("line-1999\n"), std::string::npos);
    EXPECT_EQ(child.stderr_text().find("line-0\n"), std::string::npos);
}

TEST(ChildProcess, StdoutCanGoToAPrivateFile) {
    const test::TempDir dir("infra_child");
    const std::string path = dir.file("out.dump");
    ChildSpec spec = shell("printf 'dump bytes'");
    spec.stdout_file = path;
    ChildProcess child = ChildProcess::spawn(spec);
    EXPECT_EQ(child.stdout_fd(), -1);
    EXPECT_TRUE(exited_successfully(child.wait()));
    EXPECT_EQ(test::file_contents(path), "dump bytes");
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ChildProcess, ExecFailureIsAnErrorWithItsErrnoText) {
    ChildSpec spec;
    spec.program = "/nonexistent/pg_dump";
    try {
        ChildProcess::spawn(spec);
        FAIL() << "spawning a missing program must throw";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_STREQ(e.what(), "cannot run /nonexistent/pg_dump: No such file or directory");
    }
    spec.program = "pg_dump";
    EXPECT_THROW(ChildProcess::spawn(spec), Error);  // relative paths are refused
    const test::TempDir dir("infra_child");
    const std::string not_executable = dir.file("pg_dump");
    // No execute bit for anyone, root included.
    test::write_file(not_executable, "#!/bin/sh\n", 0644);
    spec.program = not_executable;
    try {
        ChildProcess::spawn(spec);
        FAIL() << "spawning a non-executable file must throw";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "cannot run " + not_executable + ": Permission denied");
    }
    spec.program = "/bin/true";
    spec.stdout_file = "/nonexistent-dir/out";
    try {
        ChildProcess::spawn(spec);
        FAIL() << "an uncreatable stdout file must throw";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(),
                     "cannot run /bin/true: cannot create /nonexistent-dir/out: No such file or "
                     "directory");
    }
}

TEST(ChildProcess, EnvironmentEntriesAreAddedAndReplaced) {
    setenv("INFRA_CHILD_TEST", "parent", 1);
    ChildSpec spec = shell("echo \"$INFRA_CHILD_TEST $PGPASSFILE\"");
    spec.env = {"INFRA_CHILD_TEST=child", "PGPASSFILE=/dev/null"};
    ChildProcess child = ChildProcess::spawn(spec);
    EXPECT_EQ(read_all_stdout(child), "child /dev/null\n");
    child.wait();
    unsetenv("INFRA_CHILD_TEST");
}

TEST(ChildProcess, SignalReachesTheWholeProcessGroup) {
    // The shell starts a grandchild and prints its pid; signalling the group ends both.
    ChildProcess child = ChildProcess::spawn(shell("sleep 30 & echo $!; wait"));
    std::string line;
    char buf[64];
    while (line.find('\n') == std::string::npos) {
        long n = child.read_stdout(buf, sizeof buf);
        if (n > 0) line.append(buf, static_cast<size_t>(n));
        if (n < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ASSERT_NE(n, 0) << "the shell ended early";
    }
    pid_t grandchild = std::atoi(line.c_str());
    ASSERT_GT(grandchild, 0);
    EXPECT_TRUE(process_exists(grandchild));
    child.signal_group(SIGTERM);
    int status = child.wait();
    EXPECT_EQ(describe_wait_status(status), "was terminated by signal 15 (Terminated)");
    for (int i = 0; i < 200 && process_exists(grandchild); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_FALSE(process_exists(grandchild)) << "the grandchild survived the group signal";
}

TEST(ChildProcess, DestructorKillsAndReapsARunningChild) {
    pid_t pid;
    {
        ChildProcess child = ChildProcess::spawn(shell("sleep 30"));
        pid = child.pid();
        EXPECT_TRUE(child.running());
        EXPECT_FALSE(child.try_reap().has_value());
    }
    // Reaped: not even a zombie is left under this pid for us to wait for.
    EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
    EXPECT_FALSE(process_exists(pid));
}

TEST(ChildProcess, SignalsIgnoredByTheParentAreResetInTheChild) {
    // A PostgreSQL worker ignores SIGPIPE; pg_dump writing into a closed pipe must die
    // of it rather than loop on EPIPE. The child sees the default disposition.
    signal(SIGPIPE, SIG_IGN);
    ChildProcess child = ChildProcess::spawn(shell("kill -PIPE $$; sleep 5"));
    int status = child.wait();
    signal(SIGPIPE, SIG_DFL);
    EXPECT_EQ(describe_wait_status(status), "was terminated by signal 13 (Broken pipe)");
}

}  // namespace
}  // namespace infra::core
