// sql_values.hpp: moving values between SQL-callable C functions and C++ (text and
// jsonb arguments and results), each conversion behind pg_call so a PostgreSQL error
// becomes a C++ exception (firewall.hpp). No state.
#pragma once

#include <string>

#include "pg/firewall.hpp"
#include "pg/pg_includes.hpp"

namespace infra::pg {

inline std::string text_arg(FunctionCallInfo fcinfo, int n) {
    return pg_call([&] { return std::string(TextDatumGetCString(PG_GETARG_DATUM(n))); });
}

inline Datum text_result(const std::string& value) {
    return pg_call([&] { return PointerGetDatum(cstring_to_text(value.c_str())); });
}

inline Datum jsonb_result(const std::string& value) {
    return pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(value.c_str())); });
}

inline std::string jsonb_arg(FunctionCallInfo fcinfo, int n) {
    return pg_call([&] {
        Jsonb* jb = PG_GETARG_JSONB_P(n);
        return std::string(JsonbToCString(nullptr, &jb->root, VARSIZE(jb)));
    });
}

}  // namespace infra::pg
