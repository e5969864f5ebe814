# kyzmat — top-level build.
#
#   make            kyzmatd and kyzmat-smsc (build/)
#   make test       unit tests, fuzz-corpus replay, differential test, integration tests
#   make run        start kyzmat-smsc and kyzmatd on the embedded defaults
#                   (TLS=1: the SMPP link over TLS)
#   make bench      benchmarks (figures and ratios; never assertions)
#   make fuzz       build the libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make clean
#   SANITIZE=1      ASan+UBSan build (objects go to build-san/)
#   VALGRIND=1      with `make test`: unit tests, replays, kyzmatd and
#                   kyzmat-smsc run under valgrind (memcheck, leaks)
#
# Layout: base/*.c -> libkzbase.a (the floor: UTF-8, GSM 03.38, clocks,
# SHA-256, TLS contexts; includes nothing above it), smpp/*.c -> libkzsmpp.a (the
# protocol), menus/*.c -> libkzmenus.a, gateway/*.c -> libkzgw.a
# (gateway/main.c is kyzmatd's main).  smpp/sim/*.c -> libkzsim.a, the SMSC
# simulator (smpp/sim/cli.c is kyzmat-smsc's main): it uses smpp/ and base/
# and links only those and libevent; kyzmatd never links it.
# tests/unit/test_*.c are cmocka binaries linked against the libraries
# (those in SIM_TESTS also against libkzsim.a).  tests/fuzz/fuzz_*.c are
# fuzz targets; each is also linked with tests/fuzz/replay.c into a plain
# binary that replays tests/fuzz/corpus/<name>/ in `make test`.

CC      ?= cc
CLANG   ?= clang
SANITIZE ?= 0
VALGRIND ?= 0
ifeq ($(SANITIZE),1)
B       := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     ?= -O1 -g
else
B       := build
SANFLAGS :=
OPT     ?= -O2 -g
endif

WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla
DEFS    := -D_GNU_SOURCE
PKGS    := libevent libevent_openssl openssl hiredis sqlite3 libcurl libfyaml jansson libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -levent_pthreads
# -pthread: a reload loads its menu set on a worker thread (gateway/menuload)
CFLAGS  += $(WARN) $(DEFS) $(OPT) $(SANFLAGS) $(PKG_CFLAGS) -pthread -I.
LDFLAGS += $(SANFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -pthread

KANNEL_CFLAGS := -I/usr/include/kannel -I/usr/include/libxml2
KANNEL_LIBS   := -L/usr/lib/x86_64-linux-gnu/kannel -lgw -lgwlib -lssl -lcrypto \
                 -lxml2 -lpcreposix -lmariadb -lpthread -lm

BASE_SRC  := $(wildcard base/*.c)
SMPP_SRC  := $(wildcard smpp/*.c)
SIM_SRC   := $(filter-out smpp/sim/cli.c,$(wildcard smpp/sim/*.c))
MENUS_SRC := $(wildcard menus/*.c)
GW_SRC    := $(filter-out gateway/main.c,$(wildcard gateway/*.c))
BASE_OBJ  := $(BASE_SRC:%.c=$(B)/%.o)
SMPP_OBJ  := $(SMPP_SRC:%.c=$(B)/%.o)
SIM_OBJ   := $(SIM_SRC:%.c=$(B)/%.o)
MENUS_OBJ := $(MENUS_SRC:%.c=$(B)/%.o)
GW_OBJ    := $(GW_SRC:%.c=$(B)/%.o)
LIBS_A    := $(B)/libkzgw.a $(B)/libkzmenus.a $(B)/libkzsmpp.a $(B)/libkzbase.a
# kyzmat-smsc: the simulator, the protocol, the floor, libevent (and -lm).
SIM_A     := $(B)/libkzsim.a $(B)/libkzsmpp.a $(B)/libkzbase.a
SIM_LDLIBS := $(shell pkg-config --libs libevent libevent_openssl openssl 2>/dev/null) -lm
# Test binaries that exercise the simulator link its archive too.
SIM_TESTS := $(B)/tests/test_smsc $(B)/tests/test_sim $(B)/tests/test_outbox \
             $(B)/tests/replay_smsc $(B)/tests/test_esme_tls

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(B)/tests/replay_%)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(B)/fuzz/fuzz_%)
DIFF_BIN  := $(B)/tests/diff_kannel
BENCH_BIN := $(B)/bench/bench_pdu

.PHONY: all test unit run bench fuzz clean setup check-deps
all: $(B)/kyzmatd $(B)/kyzmat-smsc

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# One archive per folder: the objects are listed here, the recipe is the
# pattern rule's.
$(B)/libkzbase.a: $(BASE_OBJ)
$(B)/libkzsmpp.a: $(SMPP_OBJ)
$(B)/libkzsim.a: $(SIM_OBJ)
$(B)/libkzmenus.a: $(MENUS_OBJ)
$(B)/libkzgw.a: $(GW_OBJ)
$(B)/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/kyzmatd: $(B)/gateway/main.o $(LIBS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_A) $(LDLIBS)
$(B)/kyzmat-smsc: $(B)/smpp/sim/cli.o $(SIM_A)
	$(CC) $(LDFLAGS) -o $@ $< $(SIM_A) $(SIM_LDLIBS)

$(SIM_TESTS): $(B)/libkzsim.a
$(SIM_TESTS): TEST_A := $(B)/libkzsim.a

# A test binary is one compile and link: its own headers (fixtures, tables)
# are listed here so that changing one rebuilds the tests.
TEST_HDRS := $(wildcard tests/unit/*.h tests/fuzz/*.h)

$(B)/tests/test_%: tests/unit/test_%.c $(TEST_HDRS) $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_A) $(LIBS_A) $(LDLIBS) -lcmocka

$(B)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(TEST_HDRS) $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(TEST_A) $(LIBS_A) $(LDLIBS)

# libFuzzer targets: compiled with clang from source (not from the gcc .a),
# so instrumentation covers our code.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRCS := $(BASE_SRC) $(SMPP_SRC) $(SIM_SRC) $(MENUS_SRC) $(GW_SRC)
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRCS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS) $(LDLIBS)

# The two programs linked with Kannel's libgw (the differential test and
# the codec benchmark): its headers are not clean under our prototype and
# shadow warnings.
$(DIFF_BIN): tests/diff/diff_kannel.c tests/diff/kannel.h $(LIBS_A)
$(BENCH_BIN): bench/bench_pdu.c tests/diff/kannel.h tests/unit/pdu_build.h $(LIBS_A)
$(DIFF_BIN) $(BENCH_BIN):
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Wstrict-prototypes -Wmissing-prototypes -Wshadow,$(CFLAGS)) \
	  -Wno-unused-parameter $(KANNEL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS_A) $(KANNEL_LIBS) $(LDLIBS)

# The other benchmarks: bench/bench_NAME.c against our libraries.
BENCH_STORE   := $(B)/bench/bench_store
BENCH_DIALOGS := $(B)/bench/bench_dialogs
BENCH_API     := $(B)/bench/bench_api
BENCH_SMS     := $(B)/bench/bench_sms
$(BENCH_STORE) $(BENCH_DIALOGS) $(BENCH_API) $(BENCH_SMS): $(B)/bench/bench_%: bench/bench_%.c $(wildcard bench/*.h) $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS_A) $(LDLIBS)

unit: $(UNIT_BIN) $(REPLAY_BIN) $(DIFF_BIN)

test: check-deps all unit
	B=$(B) SANITIZE=$(SANITIZE) VALGRIND=$(VALGRIND) scripts/run-tests.sh

run: all
	B=$(B) scripts/run.sh

bench: all $(BENCH_BIN) $(BENCH_STORE) $(BENCH_DIALOGS) $(BENCH_API) $(BENCH_SMS)
	B=$(B) scripts/bench.sh

fuzz: $(FUZZ_BIN)
	B=$(B) scripts/fuzz.sh

setup:
	scripts/setup.sh

# The nevers of the layout, checked on every include (scripts/check-deps.sh).
check-deps:
	@scripts/check-deps.sh

clean:
	rm -rf build build-san

-include $(shell find $(B) -name '*.d' 2>/dev/null)
