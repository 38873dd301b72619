// unprivileged.hpp: runs a piece of a unit test as an unprivileged user.
//
// Root ignores permission bits, so a test of "Permission denied" cannot run as root
// (CI runs the suite as root). as_unprivileged() hands the test's temporary tree to
// user nobody (65534), forks, drops to that user in the child, runs the body there and
// returns the string the body produced. When the process is not root, the body simply
// runs here. Nothing is skipped either way.
#pragma once

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

namespace infra::test {

constexpr uid_t kNobody = 65534;

inline std::string as_unprivileged(const std::string& tree,
                                   const std::function<std::string()>& body) {
    if (::geteuid() != 0) return body();
    namespace fs = std::filesystem;
    ::lchown(tree.c_str(), kNobody, kNobody);
    for (const auto& entry : fs::recursive_directory_iterator(tree)) {
        ::lchown(entry.path().c_str(), kNobody, kNobody);
    }
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        std::string out;
        if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
            out = "could not drop privileges";
        } else {
            out = body();
        }
        ssize_t ignored = ::write(fds[1], out.data(), out.size());
        (void)ignored;
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string result;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) result.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return result;
}

}  // namespace infra::test
