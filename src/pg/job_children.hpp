// job_children.hpp: what a job worker needs to run PostgreSQL's programs (pg_dump,
// pg_restore, psql, pg_basebackup, pg_verifybackup) against its own server: the
// connection parameters the owner put into the job's JSON, argument lists, and a loop
// that drives a child to its end while watching for cancellation and shutdown.
// Used only inside job worker processes (one thread; no shared state).
#pragma once

#include <poll.h>
#include <signal.h>

#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/child_process.hpp"
#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "pg/firewall.hpp"
#include "pg/pg_includes.hpp"

extern "C" {
#include "postmaster/interrupt.h"
#include "storage/pmsignal.h"
#include "storage/procsignal.h"
}

namespace infra::pg {

// Thrown when the job was asked to stop (SIGTERM: cancel_job, shutdown).
class Cancelled : public std::exception {
  public:
    const char* what() const noexcept override { return "cancelled"; }
};

// Exits on postmaster death, throws Cancelled on a shutdown request, reloads the
// configuration on SIGHUP.
void check_shutdown();

// "2026-11-28T12:34:56Z", now.
std::string now_iso();

struct Connection {
    std::string host, user, bindir, maintenance_db;
    int port = 5432;
    int lock_wait_timeout_ms = 60000;
};

// The "conn" object job_params_for_worker() added to the job's parameters.
Connection connection_from(const nlohmann::json& params);

// program (from the server's bin directory) with the connection options first.
core::ChildSpec child_spec(const Connection& conn, const std::string& program,
                           std::vector<std::string> args);

// psql running each statement with its own --command, in order, stopping at an error
// (unaligned, tuples only, tab-separated).
core::ChildSpec psql(const Connection& conn, const std::string& database,
                     const std::vector<std::string>& statements);
core::ChildSpec psql(const Connection& conn, const std::string& database, const std::string& sql);

// Runs a child to its end, passing its stdout to on_stdout (when piped), watching for
// cancellation; throws with the program's stderr when it fails.
template <typename OnStdout>
void drive_child(core::ChildProcess& child, const char* what, OnStdout&& on_stdout) {
    static char buffer[256 * 1024];
    for (;;) {
        // DROP DATABASE (run by our own psql child, among others) waits until every
        // backend has absorbed its barrier: absorb it while waiting for the child.
        if (ProcSignalBarrierPending) pg_call([] { ProcessProcSignalBarrier(); });
        if (ShutdownRequestPending || !PostmasterIsAlive()) {
            child.signal_group(SIGTERM);
            child.wait();
            check_shutdown();
        }
        struct pollfd fds[2];
        int n = 0;
        if (child.stdout_fd() >= 0) fds[n++] = {child.stdout_fd(), POLLIN, 0};
        if (child.stderr_fd() >= 0) fds[n++] = {child.stderr_fd(), POLLIN, 0};
        if (n == 0) break;
        int ready = poll(fds, n, 250);
        if (ready < 0 && errno != EINTR) {
            throw core::Error(core::ErrorKind::kInternal,
                              "poll failed: " + core::errno_text(errno));
        }
        for (;;) {
            long got = child.stdout_fd() >= 0 ? child.read_stdout(buffer, sizeof buffer) : -1;
            if (got <= 0) break;
            on_stdout(buffer, static_cast<size_t>(got));
        }
        child.read_stderr();
    }
    int status = child.wait();
    if (!core::exited_successfully(status)) {
        std::string err = child.stderr_text();
        while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
        throw core::Error(core::ErrorKind::kInvalidArgument,
                          std::string(what) + " failed (" + core::describe_wait_status(status) +
                              ")" + (err.empty() ? "" : ": " + err));
    }
}

template <typename OnStdout>
void run_child(const core::ChildSpec& spec, const char* what, OnStdout&& on_stdout) {
    core::ChildProcess child = core::ChildProcess::spawn(spec);
    drive_child(child, what, on_stdout);
}

// run_child without output, and collecting stdout.
void run_child_quietly(const core::ChildSpec& spec, const char* what);
std::string run_child_output(const core::ChildSpec& spec, const char* what);

}  // namespace infra::pg
