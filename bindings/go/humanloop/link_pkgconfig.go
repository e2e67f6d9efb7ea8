//go:build humanloop_pkgconfig

package humanloop

// Linking with -tags humanloop_pkgconfig: the flags of the installed library's humanloop.pc
// (`make install`; PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig for a PREFIX pkg-config does not search).
//
// The rpath: a program must find libhumanloop.so.0.2 when it runs, and a PREFIX outside the
// dynamic linker's directories (anything but /usr/local and /usr after ldconfig) is not
// searched. cgo expands no variable but ${SRCDIR} in #cgo lines, so the installed lib
// directory cannot be named here; give it at build time (cgo allows -Wl,-rpath,... by default):
//
//	CGO_LDFLAGS="-Wl,-rpath,$(pkg-config --variable=libdir humanloop)" go build -tags humanloop_pkgconfig
//
// (or LD_LIBRARY_PATH when the program runs). bindings/go/run_tests.sh builds against an
// installed library this way and runs the tests with a clean environment.

// #cgo pkg-config: humanloop
import "C"
