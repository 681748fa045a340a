# autocircuit — short entry points around CMake/CTest.
#   make run    install Debian build deps if missing, build, run the main job (demo)
#   make test   install deps, build with -Werror, run all tests, then again under ASan+UBSan,
#               then a short run of every fuzz harness (when clang with libFuzzer is available)
#   make check  quick: build and run the tests once (no sanitizer pass)
#   make bench  build and run the benchmarks
#   make deps   install the Debian packages the project needs (apt-get; needs root)
#   make fuzz   build the libFuzzer harnesses (clang) and run each for FUZZ_SECONDS
#   make valgrind / make coverage   the test suite under memcheck / line coverage of src/

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60
# the short run of every harness that `make test` (and so CI) ends with
FUZZ_SMOKE_SECONDS ?= 20
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
# OpenBLAS picks slow AVX2 kernels on AVX-512 machines unless told before the process
# starts; the CLI re-executes itself with this set, and every make target exports it.
export OPENBLAS_CORETYPE ?= SkylakeX
export OMP_WAIT_POLICY ?= passive

DEB_PACKAGES = build-essential cmake pkg-config libopenblas-openmp-dev libjansson-dev \
               libpcre2-dev libcmocka-dev
# clang with libFuzzer and its OpenMP runtime: for the fuzz harnesses only
FUZZ_DEB_PACKAGES = clang libclang-rt-dev libomp-dev

.PHONY: all deps build build-asan run test check test-asan bench clean install \
        fuzz-deps build-fuzz fuzz fuzz-smoke fuzz-corpus valgrind coverage

all: build

deps: PKGS = $(DEB_PACKAGES)
fuzz-deps: PKGS = $(FUZZ_DEB_PACKAGES)
deps fuzz-deps:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_ASAN)/CMakeCache.txt:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DAC_SANITIZE=ON $(CMAKE_ARGS)

build-asan: deps $(BUILD_ASAN)/CMakeCache.txt
	cmake --build $(BUILD_ASAN) -j $(JOBS)

run: build
	./scripts/run-default.sh $(BUILD)

check: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS) -E '^test_slow_'

test: check test-asan fuzz-smoke

bench: build
	./scripts/bench.sh $(BUILD)

install: build
	cmake --install $(BUILD)

# ---- fuzzing (docs/reliability.md) ----
$(BUILD_FUZZ)/CMakeCache.txt:
	cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DAC_FUZZ=ON $(CMAKE_ARGS)

build-fuzz: deps fuzz-deps $(BUILD_FUZZ)/CMakeCache.txt
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers

fuzz: build-fuzz
	./scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# Part of `make test`: every harness for FUZZ_SMOKE_SECONDS, when clang with libFuzzer
# can be had (installed by fuzz-deps); skipped with a notice otherwise.
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz-deps || echo "fuzz smoke: could not install $(FUZZ_DEB_PACKAGES)"
	@if ./scripts/have-libfuzzer.sh; then \
	  $(MAKE) --no-print-directory build-fuzz && ./scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SMOKE_SECONDS); \
	else echo "fuzz smoke: skipped (no clang with libFuzzer)"; fi

# Regenerate the seed corpora fuzz/corpus/ from generated valid files.
fuzz-corpus: build
	cmake --build $(BUILD) --target fuzz_gen_corpus
	$(BUILD)/fuzz_gen_corpus fuzz/corpus

valgrind: deps
	./scripts/valgrind.sh build-valgrind

coverage: deps
	./scripts/coverage.sh build-coverage

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) build-valgrind build-coverage
