#!/usr/bin/env bash
# Tests/check_install.sh — checks `make install` and `make uninstall` as a C user would see them:
#   - into a scratch DESTDIR (PREFIX /opt/humanloop) and into a scratch PREFIX without DESTDIR:
#     lib/libhumanloop.so.<version> (a real file), the libhumanloop.so.0.2 soname link to it, the
#     libhumanloop.so development link, include/humanloop.h, lib/pkgconfig/humanloop.pc, bin/hl;
#   - no RPATH/RUNPATH in the installed library; the installed hl carries exactly the RUNPATH
#     $ORIGIN/../lib (and no RPATH), so it runs from any prefix;
#   - with a clean environment (env -i: PATH only, and PKG_CONFIG_PATH to build), no
#     LD_LIBRARY_PATH and no ldconfig: the installed hl --version runs and loads the installed
#     library; a C program built with README.md's line (## Install: `cc app.c $(pkg-config
#     --cflags --libs humanloop) -Wl,-rpath,$(pkg-config --variable=libdir humanloop)`) runs,
#     loads the installed library and sees the header's version;
#   - ldconfig: never run for a DESTDIR install; a missing or failing ldconfig (LDCONFIG=...) does
#     not fail make install or make uninstall;
#   - the test server: share/humanloop/hl_test_server.py (Tests/server's) and bin/hl-test-server,
#     which runs it with python3: `hl-test-server --port 0` prints PORT=<n> and answers a POST
#     /v4/completion (curl, 127.0.0.1), and stops on SIGTERM;
#   - make uninstall removes every installed file.
# Needs build/lib/libhumanloop.so.0.2 and build/bin/hl (make test-install builds them), patchelf,
# pkg-config, readelf, cc, python3, curl. Prints PASS/FAIL lines; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
MAKE="${MAKE:-make}"
LIB=build/lib/libhumanloop.so.0.2
fail=0
# (No `cmd | grep -q` below: with pipefail, grep -q leaving early can fail the pipeline.)
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi; }

major=$(sed -n 's/^#define HL_VERSION_MAJOR  *\([0-9][0-9]*\).*/\1/p' include/humanloop.h)
minor=$(sed -n 's/^#define HL_VERSION_MINOR  *\([0-9][0-9]*\).*/\1/p' include/humanloop.h)
patch=$(sed -n 's/^#define HL_VERSION_PATCH  *\([0-9][0-9]*\).*/\1/p' include/humanloop.h)
version="$major.$minor.$patch"
realname="libhumanloop.so.$version"

if [[ ! -f "$LIB" || ! -x build/bin/hl ]]; then
    echo "FAIL $LIB and build/bin/hl are needed (make lib build/bin/hl)"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hl-install-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/app.c" <<'C'
#include <stdio.h>
#include <humanloop.h>
int main(void) {
    printf("%s\n", hl_version());
    if (hl_version_num() != HL_VERSION_NUM) {
        fprintf(stderr, "hl_version_num() %06x != HL_VERSION_NUM %06x\n", (unsigned)hl_version_num(),
                (unsigned)HL_VERSION_NUM);
        return 1;
    }
    return 0;
}
C

# run_make LOG TARGET VAR=... : the library is a prerequisite of test-install and already built;
# -o keeps this inner make from ever trying to rebuild it.
run_make() {
    local log="$1"; shift
    if ! "$MAKE" --no-print-directory -o "$LIB" "$@" >"$log" 2>&1; then
        sed 's/^/    /' "$log"
        return 1
    fi
}

# server_answers COMMAND...: COMMAND --port 0 prints PORT=<n> (and nothing else on stdout), answers
# a POST /v4/completion on 127.0.0.1:<n> with the test server's default completion, and exits with
# status 0 on SIGTERM.
server_answers() {
    local out="$tmp/server.out" err="$tmp/server.err" port="" pid answer="" status=0
    "$@" --port 0 >"$out" 2>"$err" </dev/null &
    pid=$!
    for _ in $(seq 200); do
        port="$(sed -n 's/^PORT=\([0-9][0-9]*\)$/\1/p' "$out")"
        [[ -n "$port" ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z "$port" ]]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "    no PORT= line; stderr: $(cat "$err")"
        return 1
    fi
    answer="$(curl -sS --noproxy '*' -m 10 -H 'X-API-KEY: test-key' -H 'Content-Type: application/json' \
        -d '{"project":"p","model_config":{"model":"m","prompt_template":"{{q}}"}}' \
        "http://127.0.0.1:$port/v4/completion" 2>&1)" || status=1
    kill -TERM "$pid" 2>/dev/null || status=1
    wait "$pid" || status=1
    [[ "$answer" == *'"output":"Hello from the test server"'* ]] || { echo "    answer: $answer"; status=1; }
    [[ "$(cat "$out")" == "PORT=$port" ]] || { echo "    stdout: $(cat "$out")"; status=1; }
    return $status
}

# loads_installed PROGRAM LIBDIR: in a clean environment (env -i, PATH only) the dynamic loader
# resolves PROGRAM's libhumanloop.so.0.2 to LIBDIR's (hl's RUNPATH gives it as <prefix>/bin/../lib).
loads_installed() {
    local found
    found="$(env -i PATH="$PATH" ldd "$1" | sed -n 's/^[[:space:]]*libhumanloop\.so\.0\.2 => \(.*\) (0x[0-9a-f]*)$/\1/p')"
    [[ -n "$found" && "$(readlink -f "$found")" == "$(readlink -f "$2/libhumanloop.so.0.2")" ]] ||
        { echo "    $1 loads libhumanloop.so.0.2 from: ${found:-nowhere}"; return 1; }
}

# check_tree NAME DESTDIR PREFIX: install, check, uninstall, check again.
check_tree() {
    local name="$1" destdir="$2" prefix="$3"
    local root="$destdir$prefix"
    local libdir="$root/lib"
    local pcdir="$libdir/pkgconfig"
    local files=("$libdir/$realname" "$libdir/libhumanloop.so.0.2" "$libdir/libhumanloop.so"
                 "$root/include/humanloop.h" "$pcdir/humanloop.pc" "$root/bin/hl"
                 "$root/bin/hl-test-server" "$root/share/humanloop/hl_test_server.py")
    local make_vars=("PREFIX=$prefix" "DESTDIR=$destdir")

    check "$name: make install" 'run_make "$tmp/install.log" install "${make_vars[@]}"'
    check "$name: $realname is a real file" '[[ -f "$libdir/$realname" && ! -L "$libdir/$realname" ]]'
    check "$name: libhumanloop.so.0.2 links to $realname" \
        '[[ -L "$libdir/libhumanloop.so.0.2" && "$(readlink "$libdir/libhumanloop.so.0.2")" == "$realname" ]]'
    check "$name: libhumanloop.so links to the library" \
        '[[ -L "$libdir/libhumanloop.so" && "$(readlink -f "$libdir/libhumanloop.so")" == "$(readlink -f "$libdir/$realname")" ]]'
    check "$name: include/humanloop.h" 'cmp -s include/humanloop.h "$root/include/humanloop.h"'
    check "$name: lib/pkgconfig/humanloop.pc" '[[ -f "$pcdir/humanloop.pc" ]]'
    check "$name: bin/hl is executable" '[[ -f "$root/bin/hl" && -x "$root/bin/hl" ]]'
    check "$name: humanloop.pc fields" \
        'grep -qx "prefix=$prefix" "$pcdir/humanloop.pc" &&
         grep -q "^libdir=" "$pcdir/humanloop.pc" && grep -q "^includedir=" "$pcdir/humanloop.pc" &&
         grep -qx "Version: $version" "$pcdir/humanloop.pc" &&
         grep -qx "Libs: -L\${libdir} -lhumanloop" "$pcdir/humanloop.pc" &&
         grep -qx "Cflags: -I\${includedir}" "$pcdir/humanloop.pc" &&
         grep -qx "Requires.private: libcurl jansson" "$pcdir/humanloop.pc"'
    check "$name: soname kept" 'grep -q "SONAME.*\[libhumanloop.so.0.2\]" <<<"$(readelf -d "$libdir/$realname")"'
    check "$name: no RPATH/RUNPATH in the installed library" '! grep -q -E "RPATH|RUNPATH" <<<"$(readelf -d "$libdir/$realname")"'
    # Every RPATH/RUNPATH entry of the installed hl, as "TAG value" lines: exactly one, the RUNPATH.
    check "$name: the installed hl carries exactly the RUNPATH \$ORIGIN/../lib (no RPATH)" \
        '[[ "$(readelf -d "$root/bin/hl" | sed -n "s/.*(\(RPATH\|RUNPATH\)) *Library r[a-z]*path: \[\(.*\)\]\$/\1 \2/p")" == "RUNPATH \$ORIGIN/../lib" ]]'
    if [[ -n "$destdir" ]]; then
        check "$name: no ldconfig for a DESTDIR install" '! grep -q "ldconfig" "$tmp/install.log"'
    fi

    # pkg-config: with a DESTDIR the .pc names the final prefix, so let pkg-config derive the
    # prefix from where the file is (--define-prefix).
    local pc=(env PKG_CONFIG_PATH="$pcdir" pkg-config)
    if [[ -n "$destdir" ]]; then pc+=(--define-prefix); fi
    check "$name: pkg-config --modversion" '[[ "$("${pc[@]}" --modversion humanloop)" == "$version" ]]'
    local flags=""
    flags="$("${pc[@]}" --cflags --libs humanloop 2>/dev/null)" || true
    check "$name: pkg-config names the installed directories" \
        '[[ " $flags " == *" -I$root/include "* && " $flags " == *" -L$libdir "* && " $flags " == *" -lhumanloop "* ]]'
    # A clean environment: PATH only (and PKG_CONFIG_PATH to build); no LD_LIBRARY_PATH, nothing
    # of the caller's.
    local clean=(env -i PATH="$PATH")
    local app_dir="$tmp/app-$name"
    rm -rf "$app_dir"
    mkdir -p "$app_dir"
    cp "$tmp/app.c" "$app_dir/app.c"
    if [[ -z "$destdir" ]]; then
        # README.md's line, run as written (a.out) in the clean environment.
        check "$name: README.md's line builds app.c: $readme_cc" \
            '(cd "$app_dir" && "${clean[@]}" PKG_CONFIG_PATH="$pcdir" bash -c "$readme_cc -std=c99 -Wall -Werror")'
    else
        # Staged: the rpath names the staged lib directory (pkg-config --define-prefix).
        check "$name: cc app.c \$(pkg-config --cflags --libs humanloop) -Wl,-rpath,\$(pkg-config --variable=libdir humanloop)" \
            '(cd "$app_dir" && "${clean[@]}" PKG_CONFIG_PATH="$pcdir" bash -c "cc -std=c99 -Wall -Werror app.c \$(pkg-config --define-prefix --cflags --libs humanloop) -Wl,-rpath,\$(pkg-config --define-prefix --variable=libdir humanloop)")'
    fi
    check "$name: the program runs (env -i) with the installed library and its version matches the header" \
        '[[ "$("${clean[@]}" "$app_dir/a.out")" == "$version" ]]'
    check "$name: the program loads the installed copy (env -i)" 'loads_installed "$app_dir/a.out" "$libdir"'
    check "$name: installed hl --version (env -i)" \
        '[[ "$("${clean[@]}" "$root/bin/hl" --version)" == "hl $version "* ]]'
    check "$name: installed hl loads the installed library (env -i)" 'loads_installed "$root/bin/hl" "$libdir"'

    check "$name: share/humanloop/hl_test_server.py is Tests/server's" \
        'cmp -s Tests/server/hl_test_server.py "$root/share/humanloop/hl_test_server.py"'
    check "$name: bin/hl-test-server is executable" '[[ -f "$root/bin/hl-test-server" && -x "$root/bin/hl-test-server" ]]'
    check "$name: hl-test-server runs $prefix/share/humanloop/hl_test_server.py with python3" \
        'grep -qF "python3 \"$prefix/share/humanloop/hl_test_server.py\"" "$root/bin/hl-test-server"'
    # With a DESTDIR the script names the final prefix: run a copy that names the staged one.
    local server_cmd="$root/bin/hl-test-server"
    if [[ -n "$destdir" ]]; then
        sed "s|$prefix/share/|$root/share/|" "$root/bin/hl-test-server" >"$tmp/hl-test-server.staged"
        chmod 755 "$tmp/hl-test-server.staged"
        server_cmd="$tmp/hl-test-server.staged"
    fi
    check "$name: hl-test-server --port 0 prints PORT= and answers POST /v4/completion (curl)" \
        'server_answers "$server_cmd"'

    check "$name: make uninstall" 'run_make "$tmp/uninstall.log" uninstall "${make_vars[@]}"'
    local left=""
    for f in "${files[@]}"; do
        if [[ -e "$f" || -L "$f" ]]; then left+=" $f"; fi
    done
    check "$name: every installed file removed" '[[ -z "$left" ]]'
    [[ -z "$left" ]] || echo "    left:$left"
    local others
    others="$(find "${destdir:-$prefix}" ! -type d 2>/dev/null || true)"
    check "$name: nothing else left behind" '[[ -z "$others" ]]'
    [[ -z "$others" ]] || echo "    left: $others"
    check "$name: make uninstall again is harmless" 'run_make "$tmp/uninstall2.log" uninstall "${make_vars[@]}"'
}

# README.md's build line (## Install), run as written by check_tree.
readme_cc="$(sed -n '/^## Install/,/^## /p' README.md | grep -m1 '^cc app\.c ' || true)"
check "README.md's ## Install shows a cc app.c line with an rpath from pkg-config" \
    '[[ "$readme_cc" == *"\$(pkg-config --cflags --libs humanloop)"* && "$readme_cc" == *"-Wl,-rpath,\$(pkg-config --variable=libdir humanloop)"* ]]'

check_tree "DESTDIR" "$tmp/stage" /opt/humanloop
check_tree "PREFIX" "" "$tmp/prefix"

# A file of someone else's in the same directories is left alone by make uninstall.
mkdir -p "$tmp/common/lib"
echo keep >"$tmp/common/lib/libother.so.1"
check "uninstall leaves other files" \
    'run_make "$tmp/i.log" install PREFIX="$tmp/common" && run_make "$tmp/u.log" uninstall PREFIX="$tmp/common" &&
     [[ -f "$tmp/common/lib/libother.so.1" ]] && [[ -z "$(find "$tmp/common" ! -type d ! -name libother.so.1)" ]]'

# ldconfig missing or failing: a note, not a failed install or uninstall (no DESTDIR, so it is tried).
for ldc in /nonexistent/ldconfig false; do
    check "LDCONFIG=$ldc: make install and make uninstall still succeed" \
        'run_make "$tmp/ldc-i.log" install PREFIX="$tmp/ldc" LDCONFIG="$ldc" &&
         grep -q "^note: " "$tmp/ldc-i.log" && "$tmp/ldc/bin/hl" --version >/dev/null &&
         run_make "$tmp/ldc-u.log" uninstall PREFIX="$tmp/ldc" LDCONFIG="$ldc" && [[ ! -e "$tmp/ldc/bin/hl" ]]'
done
exit $fail
