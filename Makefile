# autocircuit — short entry points around CMake/CTest.
#   make run    install Debian build deps if missing, build, run the main job (demo)
#   make test   install deps, build with -Werror, run all tests, then again under ASan+UBSan
#   make check  quick: build and run the tests once (no sanitizer pass)
#   make bench  build and run the benchmarks
#   make deps   install the Debian packages the project needs (apt-get; needs root)

BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
# OpenBLAS picks slow AVX2 kernels on AVX-512 machines unless told before the process
# starts; the CLI re-executes itself with this set, and every make target exports it.
export OPENBLAS_CORETYPE ?= SkylakeX
export OMP_WAIT_POLICY ?= passive

DEB_PACKAGES = build-essential cmake pkg-config libopenblas-openmp-dev libjansson-dev \
               libpcre2-dev libcmocka-dev

.PHONY: all deps build build-asan run test check test-asan bench clean install

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
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

test: check test-asan

bench: build
	./scripts/bench.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
