// firewall.cpp: converting between PostgreSQL errors and C++ exceptions.
#include "pg/firewall.hpp"

#include <cstdio>
#include <cstring>
#include <new>

#include "core/errors.hpp"

namespace infra::pg {

namespace {
void copy_text(char* dest, size_t size, const char* text) {
    snprintf(dest, size, "%s", text ? text : "");
}

int sqlstate_code(const char* sqlstate) {
    return MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
}
}  // namespace

void throw_current_pg_error(MemoryContext context) {
    MemoryContextSwitchTo(context);
    ErrorData* data = CopyErrorData();
    FlushErrorState();
    PgError error(data->sqlerrcode, data->message ? data->message : "",
                  data->detail ? data->detail : "", data->hint ? data->hint : "");
    FreeErrorData(data);
    throw error;
}

void fill_report_from_current_exception(ErrorReport* report) noexcept {
    report->detail[0] = '\0';
    report->hint[0] = '\0';
    try {
        throw;
    } catch (const PgError& e) {
        report->sqlerrcode = e.sqlerrcode();
        copy_text(report->message, sizeof report->message, e.what());
        copy_text(report->detail, sizeof report->detail, e.detail().c_str());
        copy_text(report->hint, sizeof report->hint, e.hint().c_str());
    } catch (const core::Error& e) {
        report->sqlerrcode = sqlstate_code(core::sqlstate_of(e.kind()));
        copy_text(report->message, sizeof report->message, e.what());
        copy_text(report->hint, sizeof report->hint, e.hint().c_str());
    } catch (const std::bad_alloc&) {
        report->sqlerrcode = ERRCODE_OUT_OF_MEMORY;
        copy_text(report->message, sizeof report->message, "infra_ext: out of memory");
    } catch (const std::exception& e) {
        report->sqlerrcode = sqlstate_code(core::sqlstate_of(core::ErrorKind::kInternal));
        snprintf(report->message, sizeof report->message, "infra_ext internal error: %s", e.what());
        copy_text(report->hint, sizeof report->hint,
                  "This is a bug in infra_ext; please report it with the server log.");
    } catch (...) {
        report->sqlerrcode = sqlstate_code(core::sqlstate_of(core::ErrorKind::kInternal));
        copy_text(report->message, sizeof report->message,
                  "infra_ext internal error: unknown exception");
    }
}

void raise_report(const ErrorReport* report) {
    ereport(ERROR, (errcode(report->sqlerrcode), errmsg("%s", report->message),
                    report->detail[0] ? errdetail("%s", report->detail) : 0,
                    report->hint[0] ? errhint("%s", report->hint) : 0));
    pg_unreachable();
}

}  // namespace infra::pg
