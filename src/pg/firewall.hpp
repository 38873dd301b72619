// firewall.hpp: the two error firewalls between C++ and PostgreSQL (DESIGN.md rule 2).
//
//  1. PostgreSQL -> C++: every SQL-callable function, trigger, background-worker duty
//     and callback enters C++ through run_firewalled(). It catches every C++ exception,
//     copies the message into fixed buffers, lets all C++ frames unwind, and only then
//     raises ereport(ERROR) with infra_ext's SQLSTATE (class IX) or the original one.
//  2. C++ -> PostgreSQL: a call into a PostgreSQL function that may ereport(ERROR) from
//     a frame that holds C++ objects goes through pg_call(). It catches the longjmp with
//     sigsetjmp, restores the error stack and memory context, and throws PgError.
//     The lambda given to pg_call must itself hold only trivially destructible locals.
//
// Hot paths (check_request) call LWLockAcquire and friends directly: their frames hold
// only trivially destructible values (static_asserts in guard_sql.cpp), so a longjmp
// across them destroys nothing.
#pragma once

#include <setjmp.h>

#include <exception>
#include <string>
#include <type_traits>

#include "pg/pg_includes.hpp"

namespace infra::pg {

// A PostgreSQL error caught by pg_call, carried as a C++ exception.
class PgError : public std::exception {
  public:
    PgError(int sqlerrcode, std::string message, std::string detail, std::string hint)
        : sqlerrcode_(sqlerrcode),
          message_(std::move(message)),
          detail_(std::move(detail)),
          hint_(std::move(hint)) {}
    const char* what() const noexcept override { return message_.c_str(); }
    int sqlerrcode() const { return sqlerrcode_; }
    const std::string& detail() const { return detail_; }
    const std::string& hint() const { return hint_; }

  private:
    int sqlerrcode_;
    std::string message_, detail_, hint_;
};

// Copies the current PostgreSQL error into a PgError, clears it, and throws.
[[noreturn]] void throw_current_pg_error(MemoryContext context);

template <typename Fn>
auto pg_call(Fn&& fn) -> decltype(fn()) {
    MemoryContext context = CurrentMemoryContext;
    sigjmp_buf* saved_stack = PG_exception_stack;
    ErrorContextCallback* saved_context_stack = error_context_stack;
    sigjmp_buf jump;
    if (sigsetjmp(jump, 0) != 0) {
        PG_exception_stack = saved_stack;
        error_context_stack = saved_context_stack;
        throw_current_pg_error(context);
    }
    PG_exception_stack = &jump;
    if constexpr (std::is_void_v<decltype(fn())>) {
        fn();
        PG_exception_stack = saved_stack;
        error_context_stack = saved_context_stack;
    } else {
        auto result = fn();
        PG_exception_stack = saved_stack;
        error_context_stack = saved_context_stack;
        return result;
    }
}

// Fixed-size copy of an error, so that raising it needs no C++ object alive.
struct ErrorReport {
    int sqlerrcode;
    char message[1024];
    char detail[1024];
    char hint[512];
};

void fill_report_from_current_exception(ErrorReport* report) noexcept;
[[noreturn]] void raise_report(const ErrorReport* report);

// Firewall 1. Runs body; any C++ exception becomes ereport(ERROR) after unwinding.
template <typename Fn>
auto run_firewalled(Fn&& body) -> decltype(body()) {
    ErrorReport report;
    bool failed = false;
    if constexpr (std::is_void_v<decltype(body())>) {
        try {
            body();
        } catch (...) {
            fill_report_from_current_exception(&report);
            failed = true;
        }
        if (failed) raise_report(&report);
    } else {
        decltype(body()) result{};
        try {
            result = body();
        } catch (...) {
            fill_report_from_current_exception(&report);
            failed = true;
        }
        if (failed) raise_report(&report);
        return result;
    }
}

// Declares the C entry point `name` of an SQL function and routes it through the
// firewall to `impl(FunctionCallInfo)`.
#define INFRA_SQL_FUNCTION(name, impl)                                               \
    extern "C" {                                                                     \
    PG_FUNCTION_INFO_V1(name);                                                       \
    Datum name(PG_FUNCTION_ARGS) {                                                   \
        return ::infra::pg::run_firewalled([&]() -> Datum { return impl(fcinfo); }); \
    }                                                                                \
    }

}  // namespace infra::pg
