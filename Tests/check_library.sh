#!/usr/bin/env bash
# Tests/check_library.sh — checks the built shared library as a C user would see it:
#   - it is a real file named with the soname, with the libhumanloop.so link beside it;
#   - its dynamic symbol table defines exactly the hl_ functions that include/humanloop.h declares;
#   - it needs no Swift runtime or Foundation library at run time (the stdlib is linked in);
#   - the header compiles as C99 and as C++, and the version macros match hl_version() and
#     hl_version_num().
set -euo pipefail
cd "$(dirname "$0")/.."
lib=build/lib/libhumanloop.so
fail=0
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi; }

check "soname file and link" '[[ -f build/lib/libhumanloop.so.0.2 && ! -L build/lib/libhumanloop.so.0.2 && -L $lib ]]'
check "soname recorded" 'readelf -d $lib | grep -q "SONAME.*libhumanloop.so.0.2"'

declared=$(grep -o -E '\bhl_[a-z_]+\s*\(' include/humanloop.h | tr -d '( ' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(__bss_start|_edata|_end)$' | sort -u)
check "exports are exactly the header's functions" '[[ "$declared" == "$exported" ]]'
if [[ "$declared" != "$exported" ]]; then diff <(echo "$declared") <(echo "$exported") | head -20 || true; fi

needed=$(ldd "$lib")
check "no Swift runtime or Foundation needed" '! grep -q -E "libswift|Foundation|libdispatch|libBlocksRuntime" <<<"$needed"'
# The product card: JSON is converted with jansson at the boundary (NEEDED entry, not only ldd).
check "libjansson needed at run time (JSON at the boundary)" 'readelf -d "$lib" | grep -q "NEEDED.*libjansson"'
check "every needed library found" '! grep -q "not found" <<<"$needed"'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/v.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "humanloop.h"
int main(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", HL_VERSION_MAJOR, HL_VERSION_MINOR, HL_VERSION_PATCH);
    int number = (HL_VERSION_MAJOR << 16) | (HL_VERSION_MINOR << 8) | HL_VERSION_PATCH;
    return strcmp(hl_version(), HL_VERSION_STRING) == 0 && strcmp(expected, HL_VERSION_STRING) == 0 &&
                   HL_VERSION_NUM == number && hl_version_num() == HL_VERSION_NUM
               ? 0
               : 1;
}
C
check "header is C99 (-pedantic)" 'cc -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/v.c" -o "$tmp/v.o"'
check "version macros match hl_version() and hl_version_num()" 'cc "$tmp/v.o" -Lbuild/lib -lhumanloop -Wl,-rpath,$PWD/build/lib -o "$tmp/v" && "$tmp/v"'
printf '#include "humanloop.h"\nint main(void) { return hl_version_num() == HL_VERSION_NUM ? 0 : 1; }\n' >"$tmp/alone.c"
check "header stands alone (included first, nothing before it)" 'cc -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/alone.c" -o "$tmp/alone.o"'
cp "$tmp/v.c" "$tmp/v.cpp"
check "header compiles as C++" 'g++ -std=c++11 -Wall -Wextra -Werror -Iinclude -c "$tmp/v.cpp" -o "$tmp/vpp.o" && g++ "$tmp/vpp.o" -Lbuild/lib -lhumanloop -Wl,-rpath,$PWD/build/lib -o "$tmp/vpp" && "$tmp/vpp"'
exit $fail
