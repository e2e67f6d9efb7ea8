# libhumanloop — build, test and run.
#   make deps          install the Debian packages needed to build and test (apt-get), and the
#                      Python test tools into a virtual environment, build/venv (stock Debian
#                      refuses pip installs into the system Python: PEP 668)
#   make               build build/lib/libhumanloop.so (release, Swift runtime linked statically)
#   make example       build the library and examples/complete, run it against the bundled test server
#   make test          every test suite: Swift, test server, the built library's ABI, C, C under
#                      valgrind, C under ThreadSanitizer, Python, Python under valgrind, and each
#                      fuzz harness for FUZZ_SECONDS (60)
#   make fuzz          run the fuzz harnesses (FUZZ_SECONDS each)
#   make bench         benchmarks and the soak check (not part of test)
SHELL := /bin/bash
SONAME := libhumanloop.so.0
LIBDIR := build/lib
LIB := $(LIBDIR)/$(SONAME)
SWIFT_SOURCES := $(shell find Sources -type f) Package.swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := libcurl4-openssl-dev libjansson-dev pkg-config valgrind make gcc g++ binutils openssl python3 python3-venv
# Python tools for the tests live in a virtual environment made from the system python3.
VENV := build/venv
PYTHON := $(VENV)/bin/python
PY_TOOLS := pytest wheel "setuptools>=61"

.PHONY: all lib deps venv example test test-swift test-c test-c-valgrind test-tsan test-python test-python-valgrind test-server test-library clean fuzz bench

all: lib

lib: $(LIB)

$(LIB): $(SWIFT_SOURCES) include/humanloop.h
	swift build -c release --product humanloop -Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
	  -Xlinker --version-script=$(CURDIR)/Sources/Humanloop/exports.map \
	  -Xlinker -soname=$(SONAME)
	mkdir -p $(LIBDIR)
	cp .build/release/libhumanloop.so $(LIB).tmp
	strip --strip-debug $(LIB).tmp
	mv $(LIB).tmp $(LIB)
	ln -sf $(SONAME) $(LIBDIR)/libhumanloop.so

deps:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES)
	$(MAKE) venv

venv: $(VENV)/.ready

$(VENV)/.ready:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_TOOLS)
	touch $@

build/examples/%: examples/%.c $(LIB) include/humanloop.h
	mkdir -p build/examples
	cc -std=c99 -Wall -Wextra -O2 -Iinclude $< -o $@ -L$(LIBDIR) -lhumanloop -Wl,-rpath,'$$ORIGIN/../lib'

example: build/examples/complete build/examples/stream
	bash examples/run-against-test-server.sh build/examples/complete

test: test-swift test-server test-library test-c test-c-valgrind test-tsan test-python test-python-valgrind fuzz

test-swift:
	swift test

test-server: $(VENV)/.ready
	$(PYTHON) -m pytest -q Tests/server

test-library: $(LIB)
	bash Tests/check_library.sh

test-c: $(LIB)
	bash Tests/c/run.sh

test-c-valgrind: $(LIB)
	VALGRIND=1 bash Tests/c/run.sh

# The library built with ThreadSanitizer, and the threaded C tests linked against it.
TSAN_LIBDIR := build/tsan/lib
# clang's TSan runtime intercepts libdispatch, so the test programs link the toolchain's copy.
SWIFT_LIBDIR := $(shell dirname "$$(command -v swift)")/../lib/swift/linux
test-tsan:
	swift build -c release --product humanloop --scratch-path .build-tsan -Xswiftc -sanitize=thread \
	  -Xswiftc -static-stdlib -Xlinker --version-script=$(CURDIR)/Sources/Humanloop/exports.map
	mkdir -p $(TSAN_LIBDIR)
	cp .build-tsan/release/libhumanloop.so $(TSAN_LIBDIR)/libhumanloop.so
	CC=clang HL_LIBDIR=$(TSAN_LIBDIR) HL_TEST_BUILD_DIR=build/tests/tsan HL_TEST_CFLAGS=-fsanitize=thread \
	  HL_TEST_LDFLAGS="-L$(SWIFT_LIBDIR) -ldispatch -lBlocksRuntime -Wl,-rpath,$(SWIFT_LIBDIR)" \
	  HL_STRESS_CALLS=$${HL_STRESS_CALLS:-2000} TSAN_OPTIONS="exitcode=66 suppressions=$(CURDIR)/Tests/c/tsan.supp $${TSAN_OPTIONS:-}" \
	  bash Tests/c/run.sh threads stress

test-python: $(LIB) $(VENV)/.ready
	$(PYTHON) -m pytest -q bindings/python/tests

bench: $(LIB)
	bash bench/run.sh all

test-python-valgrind: $(LIB) $(VENV)/.ready
	PYTHON=$(PYTHON) bash bindings/python/valgrind.sh

clean:
	rm -rf .build build

FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh
