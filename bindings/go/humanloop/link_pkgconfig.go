//go:build humanloop_pkgconfig

package humanloop

// Linking with -tags humanloop_pkgconfig: the flags of the installed library's humanloop.pc
// (`make install`; PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig for a PREFIX pkg-config does not search).
// An installed library outside the dynamic linker's default directories also needs an rpath
// (CGO_LDFLAGS=-Wl,-rpath,$PREFIX/lib) or LD_LIBRARY_PATH at run time.

// #cgo pkg-config: humanloop
import "C"
