# lunagrad: `make` builds in-tree, `make test` runs the busted suite against it.
# `make test` and `make demo` first run `make deps`, which installs missing Debian
# packages with apt-get when run as root (and prints the apt-get line otherwise).

CC      ?= gcc
CFLAGS  ?= -O3 -g
WARN    := -std=c11 -Wall -Wextra -Wno-unknown-pragmas
DEFS    := -D_DEFAULT_SOURCE -Isrc
PKGS    := lua5.4 openblas
INCS    := $(shell pkg-config --cflags $(PKGS) 2>/dev/null || echo -I/usr/include/lua5.4)
LIBS    := -lopenblas -lz -lm
OMP     := -fopenmp

CORE_DIRS := core ops kernels io da lua
SRCS    := $(filter-out src/lua/env.c src/lua/readline.c,$(foreach d,$(CORE_DIRS),$(wildcard src/$(d)/*.c)))
HDRS    := $(wildcard src/*.h $(foreach d,$(CORE_DIRS),src/$(d)/*.h src/$(d)/*.def))
BUILD   ?= build
OUT     := $(BUILD)/lunagrad/core.so
ENV_OUT := $(BUILD)/lunagrad/env.so
# The REPL's line editing (bin/lunagrad): GNU readline when its headers are there,
# otherwise the module still handles Ctrl-C and the REPL reads with io.read.
RL_OUT  := $(BUILD)/lunagrad/readline.so
RL_FLAGS:= $(if $(wildcard /usr/include/readline/readline.h),-DLG_HAVE_READLINE,)
RL_LIBS := $(if $(wildcard /usr/include/readline/readline.h),-lreadline,)
SPECS   ?= spec
ASAN_OUT:= $(BUILD)-asan/lunagrad/core.so

DEB_PACKAGES := lua5.4 liblua5.4-dev libopenblas-dev lua-busted pkg-config zlib1g-dev libstb-dev libreadline-dev tmux

# lunagrad.distributed's MPI backend (src/dist/mpi.c -> build/lunagrad/distributed_mpi.so):
# built only where mpicc is (Debian: libopenmpi-dev, installed by `make deps`); the
# rest of lunagrad builds and runs without MPI. MPI_DEB_PACKAGES=  skips installing it.
MPI_DEB_PACKAGES ?= libopenmpi-dev openmpi-bin
MPICC   ?= $(shell command -v mpicc 2>/dev/null)
MPI_OUT := $(BUILD)/lunagrad/distributed_mpi.so

BUSTED  := busted --lua=lua5.4
LUAENV  := LUA_PATH='lua/?.lua;lua/?/init.lua;spec/?.lua;;' LUA_CPATH='$(BUILD)/?.so;;'

.PHONY: all deps test test-portable sanitize demo data bench fuzz soak clean

all: $(OUT) $(ENV_OUT) $(RL_OUT)

$(RL_OUT): src/lua/readline.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(DEFS) $(RL_FLAGS) -fPIC -shared $(INCS) -o $@ $< $(RL_LIBS)

all: $(if $(MPICC),$(MPI_OUT))

$(MPI_OUT): src/dist/mpi.c src/lg.h src/lua/c_api.h Makefile
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) $(WARN) $(DEFS) -fPIC -shared $(INCS) -o $@ $< -ldl

# Data-parallel scaling (docs/distributed.md): W3-style MLP-DANN at global batch 128,
# 1 process, then 2 MPI ranks (1 thread each).
.PHONY: bench-dist
bench-dist: deps
	@$(MAKE) --no-print-directory all
	$(LUAENV) lua5.4 src/dist/bench.lua
	$(LUAENV) OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 --oversubscribe lua5.4 src/dist/bench.lua

$(ENV_OUT): src/lua/env.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(DEFS) -fPIC -shared $(INCS) -o $@ $<

$(OUT): $(SRCS) $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(DEFS) $(OMP) -fPIC -shared $(INCS) -o $@ $(SRCS) $(LIBS)

$(BUILD)-asan/lunagrad/env.so: src/lua/env.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(DEFS) -fPIC -shared $(INCS) -o $@ $<

$(BUILD)-asan/lunagrad/readline.so: src/lua/readline.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) $(DEFS) $(RL_FLAGS) -fPIC -shared $(INCS) -o $@ $< $(RL_LIBS)

$(ASAN_OUT): $(SRCS) $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
	  $(WARN) $(DEFS) $(OMP) -fPIC -shared $(INCS) -o $@ $(SRCS) $(LIBS)

deps:
	@missing=""; for p in $(DEB_PACKAGES) $(MPI_DEB_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "missing Debian packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# The suite on the native ISA path (the best kernels the CPU runs; kernels.h),
# whatever LUNAGRAD_ISA says in the caller's environment.
test: deps
	@$(MAKE) --no-print-directory all
	LUNAGRAD_ISA= LUNAGRAD_AVX512= $(LUAENV) $(BUSTED) $(SPECS)

# The suite on the other paths (CI runs each one the machine can execute):
# test-avx2, lunagrad's AVX2 + FMA kernels (fails on a CPU without them);
# test-generic, no kernel of ours: float32 products and conv2d on im2col +
# OpenBLAS, as on CPUs without AVX2 (test-portable is its old name).
.PHONY: test-avx2 test-generic
test-avx2: deps
	@$(MAKE) --no-print-directory all
	@LUNAGRAD_ISA=avx2 $(LUAENV) lua5.4 -e 'if require("lunagrad").config().isa ~= "avx2" then os.exit(1) end' \
	  || { echo "test-avx2: this CPU cannot run the avx2 path"; exit 1; }
	LUNAGRAD_ISA=avx2 $(LUAENV) $(BUSTED) $(SPECS)

test-generic: deps
	@$(MAKE) --no-print-directory all
	LUNAGRAD_ISA=generic $(LUAENV) $(BUSTED) $(SPECS)

test-portable: test-generic

# The suite against a core built with AddressSanitizer + UBSan (the MPI spec is left
# pending there: mpirun's processes would run under the preloaded ASan runtime). lua5.4 itself is
# not instrumented, so the ASan runtime is preloaded; any report fails the run.
sanitize: deps
	@$(MAKE) --no-print-directory $(ASAN_OUT) $(BUILD)-asan/lunagrad/env.so $(BUILD)-asan/lunagrad/readline.so
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LUNAGRAD_NO_MPI=1 LUA_PATH='lua/?.lua;lua/?/init.lua;spec/?.lua;;' LUA_CPATH='$(BUILD)-asan/?.so;;' $(BUSTED) $(SPECS)

demo: deps
	@$(MAKE) --no-print-directory all
	$(LUAENV) lua5.4 examples/two_moons_dann.lua

# Fetches MNIST digits and natural photos, builds the MNIST-M cache under data/.
data: deps
	@$(MAKE) --no-print-directory all
	$(LUAENV) lua5.4 tools/make_data.lua

# Lua vs PyTorch on the same workloads, interleaved; prints one table (bench/README.md).
bench: deps
	@$(MAKE) --no-print-directory all
	$(LUAENV) lua5.4 bench/run.lua $(BENCH_ARGS)

# libFuzzer targets (clang, ASan+UBSan) for the safetensors and IDX readers and
# tensor-from-table construction; FUZZ_SECONDS each (fuzz/run.sh).
FUZZ_SECONDS ?= 60
FUZZ_DEB_PACKAGES := clang libclang-rt-14-dev
fuzz: deps
	@missing=""; for p in $(FUZZ_DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "missing Debian packages; run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi
	bash fuzz/run.sh $(FUZZ_SECONDS)

# 10,000 DANN training steps without collectgarbage(): live bytes and RSS stay flat.
soak: deps
	@$(MAKE) --no-print-directory all
	$(LUAENV) lua5.4 tools/soak.lua

# also what `luarocks make` leaves (its builtin backend compiles in place): src/**/*.o, lunagrad/*.so
clean:
	rm -rf build build-asan fuzz/out lunagrad
	find src -name '*.o' -delete
