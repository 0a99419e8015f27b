# hauld build. `make` builds build/hauld with warnings as errors.
#   make test        unit tests (libcheck), then the integration tests (real CRIU, root)
#   make unit        unit tests only
#   make asan        unit tests under ASan/UBSan
#   make valgrind    unit tests under valgrind
#   make bench       benchmarks (see docs/BENCHMARKS.md)
#   make V=1         show the compiler command lines
CC      ?= cc
B       ?= build
PKGS    := libmicrohttpd jansson sqlite3 libcrypto uuid
CRIU_PC := PKG_CONFIG_PATH=/usr/local/lib/pkgconfig:/usr/local/lib/x86_64-linux-gnu/pkgconfig:$$PKG_CONFIG_PATH
OPTFLAGS ?= -O2 -g
SANFLAGS ?=
CFLAGS   = $(OPTFLAGS) $(SANFLAGS)
# -Wno-format-truncation: messages are cut to their buffers on purpose; paths are
# checked for length where they are built.
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter \
           -Wno-format-truncation \
           -Wstrict-prototypes -Wmissing-prototypes -D_GNU_SOURCE -Iinclude -I$(B) \
           $(shell pkg-config --cflags $(PKGS)) $(shell $(CRIU_PC) pkg-config --cflags criu) \
           -pthread -MMD -MP
LDLIBS  += $(SANFLAGS) $(shell pkg-config --libs $(PKGS)) $(shell $(CRIU_PC) pkg-config --libs criu) \
           -Wl,-rpath,/usr/local/lib/x86_64-linux-gnu -pthread
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS  += -DHAULD_VERSION=\"$(VERSION)\"

SRCS    := $(wildcard src/*.c)
OBJS    := $(SRCS:src/%.c=$(B)/%.o) $(B)/schema.o
LIBOBJS := $(filter-out $(B)/main.o,$(OBJS))
TESTS   := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
TOOLS   := $(B)/workload

all: $(B)/hauld $(TOOLS)

Q       := $(if $(V),,@)

$(B)/hauld: $(OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/%.o: src/%.c | $(B)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The schema migrations in db/ are compiled into the binary so hauld runs from anywhere.
$(B)/schema.c: $(sort $(wildcard db/*.sql)) scripts/embed-schema.sh | $(B)
	sh scripts/embed-schema.sh $(sort $(wildcard db/*.sql)) > $@
$(B)/schema.o: $(B)/schema.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/%.c $(LIBOBJS) | $(B)/tests
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs check)

$(B)/workload: tests/workload.c | $(B)
	$(CC) -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

$(B) $(B)/tests:
	mkdir -p $@

unit: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t; done

test: all unit
	bash tests/integration/run.sh

ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# The unit tests under ASan/UBSan; `make asan-build` builds hauld itself that way,
# and BUILD=$$PWD/build-asan bash tests/integration/run.sh runs the integration
# tests against it.
asan:
	$(MAKE) B=build-asan OPTFLAGS="-O1 -g" SANFLAGS="$(ASAN_FLAGS)" unit

asan-build:
	$(MAKE) B=build-asan OPTFLAGS="-O1 -g" SANFLAGS="$(ASAN_FLAGS)" all

valgrind: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== valgrind $$t"; CK_FORK=no valgrind -q --error-exitcode=1 \
		--leak-check=full --errors-for-leak-kinds=definite $$t; done

bench: all
	bash tests/bench/run.sh

clean:
	rm -rf build build-asan

.PHONY: all unit test asan asan-build valgrind bench clean
-include $(OBJS:.o=.d)
