// tree_copy.cpp: see tree_copy.hpp.
#include "core/tree_copy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "core/errors.hpp"
#include "core/file_util.hpp"
#include "core/unique_fd.hpp"

namespace infra::core {

namespace {

void copy_contents(int in, int out, const std::string& from, const std::string& to, int64_t size,
                   TreeCopyResult* result) {
    int64_t left = size;
    bool use_copy_range = true;
    std::vector<char> buffer;
    while (left > 0) {
        if (use_copy_range) {
            ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, static_cast<size_t>(left), 0);
            if (n > 0) {
                left -= n;
                continue;
            }
            if (n == 0) break;  // end of the source before its size: refused below
            if (errno == EINTR) continue;
            if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
                throw_file_error("copy to", to, errno);
            }
            use_copy_range = false;
            buffer.resize(1 << 20);
        }
        ssize_t got = ::read(in, buffer.data(), buffer.size());
        if (got < 0) {
            if (errno == EINTR) continue;
            throw_file_error("read", from, errno);
        }
        if (got == 0) break;
        for (ssize_t done = 0; done < got;) {
            ssize_t put = ::write(out, buffer.data() + done, static_cast<size_t>(got - done));
            if (put < 0) {
                if (errno == EINTR) continue;
                throw_file_error("write", to, errno);
            }
            done += put;
        }
        left -= got;
    }
    if (left > 0) {
        throw Error(ErrorKind::kInvalidArgument,
                    "could not copy " + from + ": it ended " + std::to_string(left) +
                        " bytes before its size (" + std::to_string(size) +
                        "); it changed while it was copied",
                    "A base backup must not change while it is restored; check what writes to it.");
    }
    result->bytes += size;
}

struct CopyContext {
    TreeCopyResult* result;
    bool fsync;
};

void copy_file(const std::string& from, const std::string& to, mode_t mode, CopyContext& ctx) {
    TreeCopyResult* result = ctx.result;
    UniqueFd in(open_retrying(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (in.get() < 0) throw_file_error("open", from, errno);
    struct stat st;
    if (::fstat(in.get(), &st) != 0) throw_file_error("stat", from, errno);
    UniqueFd out(open_retrying(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777));
    if (out.get() < 0) throw_file_error("create", to, errno);
    copy_contents(in.get(), out.get(), from, to, st.st_size, result);
    if (::fchmod(out.get(), mode & 07777) != 0) throw_file_error("set the mode of", to, errno);
    if (ctx.fsync && ::fsync(out.get()) != 0) throw_file_error("fsync", to, errno);
    result->files += 1;
}

void copy_entry(const std::string& from, const std::string& to, CopyContext& ctx);

// The directory is made 0700 and gets its own mode only once its contents are in: a
// read-only source directory (0500) would otherwise refuse its own entries to a non-root
// user. mkdir without accepting EEXIST, as files use O_EXCL: the destination was empty,
// so anything already there was put there by someone else (perhaps a symlink).
void copy_directory(const std::string& from, const std::string& to, mode_t mode, CopyContext& ctx) {
    if (::mkdir(to.c_str(), 0700) != 0) throw_file_error("create directory", to, errno);
    for (const std::string& name : list_directory(from)) {
        copy_entry(from + "/" + name, to + "/" + name, ctx);
    }
    UniqueFd dir(open_retrying(to.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dir.get() < 0) throw_file_error("open directory", to, errno);
    if (::fchmod(dir.get(), mode & 07777) != 0) throw_file_error("set the mode of", to, errno);
    if (ctx.fsync && ::fsync(dir.get()) != 0) throw_file_error("fsync", to, errno);
}

void copy_entry(const std::string& from, const std::string& to, CopyContext& ctx) {
    struct stat st;
    if (::lstat(from.c_str(), &st) != 0) throw_file_error("stat", from, errno);
    if (S_ISDIR(st.st_mode)) {
        copy_directory(from, to, st.st_mode, ctx);
    } else if (S_ISREG(st.st_mode)) {
        copy_file(from, to, st.st_mode, ctx);
    } else if (S_ISLNK(st.st_mode)) {
        std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
        ssize_t n = ::readlink(from.c_str(), target.data(), target.size());
        if (n < 0) throw_file_error("read the link", from, errno);
        if (::symlink(std::string(target.data(), static_cast<size_t>(n)).c_str(), to.c_str()) != 0)
            throw_file_error("create the link", to, errno);
    } else {
        throw Error(ErrorKind::kInvalidArgument,
                    "cannot copy " + from + ": it is not a file, directory or symbolic link",
                    "A base backup holds only those; remove the odd entry from the copy source.");
    }
}

}  // namespace

TreeCopyResult copy_tree(const std::string& from, const std::string& to, Durability durability) {
    struct stat st;
    if (::stat(from.c_str(), &st) != 0) throw_file_error("open", from, errno);
    if (!S_ISDIR(st.st_mode)) {
        throw Error(ErrorKind::kInvalidArgument, "cannot copy " + from + ": not a directory",
                    "Pass the base backup's data directory.");
    }
    if (::lstat(to.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode) || !list_directory(to).empty()) {
            throw Error(ErrorKind::kInvalidArgument,
                        "cannot copy into " + to + ": it exists and is not an empty directory",
                        "Choose a new directory, or move the existing one aside first.");
        }
    }
    if (to.compare(0, from.size() + 1, from + "/") == 0) {
        throw Error(ErrorKind::kInvalidArgument,
                    "cannot copy " + from + " into " + to + ", which is inside it",
                    "Choose a destination outside the directory being copied.");
    }
    make_private_directory(to);
    TreeCopyResult result;
    CopyContext ctx{&result, durability == Durability::kFsyncEverything};
    for (const std::string& name : list_directory(from)) {
        copy_entry(from + "/" + name, to + "/" + name, ctx);
    }
    if (ctx.fsync) fsync_path(to);
    return result;
}

}  // namespace infra::core
