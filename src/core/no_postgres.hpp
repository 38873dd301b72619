// no_postgres.hpp: included last by every src/core .cpp file. The core is pure C++
// (DESIGN.md rule 1); if postgres.h sneaks into a core translation unit, this stops the
// build instead of letting PostgreSQL's longjmp-based errors into RAII code.
#pragma once
#ifdef PG_VERSION_NUM
#error "src/core must not include postgres.h: move the PostgreSQL-facing part to src/pg"
#endif
