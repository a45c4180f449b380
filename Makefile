# Convenience wrapper around CMake/CTest. `make help` lists the targets.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all build test test-release test-asan demo fixtures clean help

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLAWNET_WERROR=ON
	cmake --build $(BUILD) -j $(JOBS)

# Everything CI runs: the release build's tests (slow V4-Flash-width test included), then the
# C tests again under AddressSanitizer + UndefinedBehaviorSanitizer (slow ones excluded).
test: test-release test-asan

test-release: build
	ctest --test-dir $(BUILD) --output-on-failure

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCLAWNET_SANITIZE=ON -DCLAWNET_WERROR=ON -DCLAWNET_SLOW_TESTS=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -LE slow

# Generates 20 token ids from the small committed checkpoint.
demo: build
	./$(BUILD)/clawnet run -m tests/fixtures/tiny --ids "0 15 27" -n 20

# Regenerates every fixture from its oracle (torch, transformers, gguf: scripts/requirements-oracle.txt).
# The GGUF fixture is converted from tests/fixtures/tiny, so it comes after the oracle script.
ORACLE_PYTHON ?= python3
fixtures:
	$(ORACLE_PYTHON) scripts/make_oracle_fixtures.py --out tests/fixtures
	$(ORACLE_PYTHON) scripts/make_element_fixtures.py tests/fixtures/elements
	$(ORACLE_PYTHON) scripts/make_gguf_fixture.py
	$(ORACLE_PYTHON) scripts/make_kquant_fixtures.py

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

help:
	@echo "make build | test | test-release | test-asan | demo | fixtures | clean"
