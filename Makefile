# Makefile: builds and installs the infra_ext PostgreSQL extension with PGXS, and runs
# its server-side tests (`make installcheck`: pg_regress, then TAP) against a temporary
# server that has infra_ext preloaded. Unit tests and tools are built by CMakeLists.txt.

EXTENSION = infra_ext
MODULE_big = infra_ext
DATA = sql/infra_ext--0.1.0.sql sql/infra_ext--0.1.0--0.2.0.sql sql/infra_ext--0.2.0--0.3.0.sql \
       sql/infra_ext--0.3.0--0.4.0.sql sql/infra_ext--0.4.0--0.5.0.sql

CORE_SOURCES := $(sort $(wildcard src/core/*.cpp))
GLUE_SOURCES := $(sort $(wildcard src/pg/*.cpp))
OBJS = $(CORE_SOURCES:.cpp=.o) $(GLUE_SOURCES:.cpp=.o)

REGRESS = $(sort $(notdir $(basename $(wildcard sql/foundation_*.sql)))) \
          $(sort $(notdir $(basename $(wildcard sql/guard_*.sql)))) \
          $(sort $(notdir $(basename $(wildcard sql/backup_*.sql)))) \
          $(sort $(notdir $(basename $(wildcard sql/pitr_*.sql)))) \
          $(sort $(notdir $(basename $(wildcard sql/http_*.sql))))
REGRESS_OPTS = --temp-instance=./tmp_check_regress --temp-config=test/regress.conf
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl
PROVE_FLAGS = --timer

PG_CONFIG ?= pg_config
PG_INCLUDE_SERVER := $(shell $(PG_CONFIG) --includedir-server)
# PostgreSQL's headers are C: include them as system headers so that -Werror applies
# to our code only.
PG_CPPFLAGS = -isystem $(PG_INCLUDE_SERVER) -Isrc
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-missing-field-initializers
SHLIB_LINK += -lstdc++ -lzstd -llz4 -larchive
# No LLVM bitcode: the JIT cannot inline C++ anyway, and clang would need the same flags.
override with_llvm = no

EXTRA_CLEAN = tmp_check_regress results regression.diffs regression.out

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on every header: the project is small and this is always right.
$(OBJS): $(wildcard src/core/*.hpp) $(wildcard src/pg/*.hpp)
