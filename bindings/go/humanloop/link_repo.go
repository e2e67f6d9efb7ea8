//go:build !humanloop_pkgconfig

package humanloop

// Linking, default: the repository's build tree first (include/ and build/lib/ of the checkout this
// package sits in, with an rpath to build/lib so the program finds libhumanloop.so.0.2 when it
// runs), then the compiler's and linker's default directories (/usr/local/include and
// /usr/local/lib on Debian: what `make install` uses). Missing directories are ignored.
// Build with -tags humanloop_pkgconfig to take the flags from pkg-config instead
// (humanloop.pc, installed by `make install`; set PKG_CONFIG_PATH for another PREFIX).

// #cgo CFLAGS: -I${SRCDIR}/../../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../../build/lib -Wl,-rpath,${SRCDIR}/../../../build/lib -lhumanloop
import "C"
