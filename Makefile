# Convenience wrapper around CMake/CTest. `make help` lists the targets.
BUILD      ?= build
ASAN_BUILD ?= build-asan
ARM_BUILD  ?= build-aarch64
PORTABLE_BUILD ?= build-portable
JOBS       ?= $(shell nproc)

.PHONY: all build test test-release test-asan test-aarch64 test-portable demo fixtures clean help

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLAWNET_WERROR=ON
	cmake --build $(BUILD) -j $(JOBS)

# Everything CI runs: the release build's tests (slow V4-Flash-width test included), then the
# C tests again under AddressSanitizer + UndefinedBehaviorSanitizer (slow ones excluded), then
# the core's kernel tests built without SIMD and cross-built for aarch64 (NEON) under qemu-user.
# On x86-64 hosts only: an arm64 host runs the NEON kernels natively in test-release.
CROSS_TESTS := $(if $(filter x86_64,$(shell uname -m)),test-aarch64)
test: test-release test-asan test-portable $(CROSS_TESTS)

test-release: build
	ctest --test-dir $(BUILD) --output-on-failure

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCLAWNET_SANITIZE=ON -DCLAWNET_WERROR=ON -DCLAWNET_SLOW_TESTS=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -LE slow

# The dependency-free core (base, tensor, GGUF reader) cross-built for aarch64 with Debian's
# gcc-aarch64-linux-gnu, its tests run by qemu-aarch64 (docs/arm.md): once on qemu's default CPU
# ("max": NEON and the dot-product instructions), once as a Cortex-A53 (armv8.0: NEON only);
# test_q8_activations checks that the 8-bit-activation dots take SDOT on the first, not the second.
test-aarch64:
	cmake -S . -B $(ARM_BUILD) -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCLAWNET_CORE_ONLY=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLAWNET_WERROR=ON
	cmake --build $(ARM_BUILD) -j $(JOBS)
	CLAWNET_TEST_Q8_KERNEL=neon-sdot ctest --test-dir $(ARM_BUILD) --output-on-failure
	QEMU_CPU=cortex-a53 CLAWNET_TEST_Q8_KERNEL=neon ctest --test-dir $(ARM_BUILD) --output-on-failure

# The same tests on this machine with the SIMD kernels compiled out: the scalar fallback that
# cn_matmul takes on CPUs without AVX2+FMA.
test-portable:
	cmake -S . -B $(PORTABLE_BUILD) -DCLAWNET_CORE_ONLY=ON -DCLAWNET_SIMD=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLAWNET_WERROR=ON
	cmake --build $(PORTABLE_BUILD) -j $(JOBS)
	ctest --test-dir $(PORTABLE_BUILD) --output-on-failure

# Generates 20 token ids from the small committed checkpoint.
# The first run: hk-tiny continues a sentence in each language, then an interactive chat.
demo: build
	bash scripts/demo.sh ./$(BUILD)/clawnet

# Regenerates every fixture from its oracle (torch, transformers, gguf: scripts/requirements-oracle.txt).
# The GGUF fixture is converted from tests/fixtures/tiny, so it comes after the oracle script.
ORACLE_PYTHON ?= python3
fixtures:
	$(ORACLE_PYTHON) scripts/make_oracle_fixtures.py --out tests/fixtures
	$(ORACLE_PYTHON) scripts/make_element_fixtures.py tests/fixtures/elements
	$(ORACLE_PYTHON) scripts/make_gguf_fixture.py
	$(ORACLE_PYTHON) scripts/make_kquant_fixtures.py

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(ARM_BUILD) $(PORTABLE_BUILD)

help:
	@echo "make build | test | test-release | test-asan | test-aarch64 | test-portable | demo | fixtures | clean"
