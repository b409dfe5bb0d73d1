#!/bin/sh
# Emulates the hammer.ko link of kmod/Makefile on a non-DragonFly host and
# compares it with the module linked from the original C hammer_io.c.
#
# usage: SYSDIR=<dragonfly sys/> kmod/link-test.sh [ARCHIVE]
#   ARCHIVE defaults to target/x86_64-dragonfly-kernel/release/libhammer_io.a
#   and must have been built with SYSDIR set (`make kernel SYSDIR=...`).
#
# What it does:
#   1. compiles every HAMMER source of ${SYSDIR}/vfs/hammer with clang for
#      x86_64-unknown-dragonfly with the kernel's code-generation flags;
#   2. builds hammer_io_rs.o from the archive exactly as kmod/Makefile does;
#   3. links hammer_rs.ko (HAMMER + Rust) and hammer_c.ko (HAMMER + C
#      hammer_io.o) with `ld -r -d`, as bsd.kmod.mk does on x86_64;
#   4. checks: the Rust module leaves no HAMMER-internal symbol unresolved
#      that the C module resolves, imports nothing beyond the C module's
#      imports + {memcpy memmove memset bcmp}, defines each io-exports.txt
#      symbol once and globally; then runs check-object.sh over the whole
#      Rust module (relocations, GOT, SIMD, reloc targets) after rewriting
#      PLT32 (clang's C objects carry PLT32 too, which DragonFly's own
#      toolchain of that era did not emit).
#
# Environment: SYSDIR (required), CC (clang), LD (ld), OBJCOPY, READELF,
# REFERENCE_DIR / IO_EXPORTS as for check-object.sh, ELFREL (path of the
# elfrel binary; default target/release/elfrel, built by `make elfrel`).

set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
lib=${1:-$repo/target/x86_64-dragonfly-kernel/release/libhammer_io.a}
CC=${CC:-clang}
LD=${LD:-ld}
AR=${AR:-ar}
OBJCOPY=${OBJCOPY:-objcopy}
READELF=${READELF:-readelf}
ELFREL=${ELFREL:-$repo/target/release/elfrel}
REFERENCE_DIR=${REFERENCE_DIR:-$repo/../shared/reference}
IO_EXPORTS=${IO_EXPORTS:-$REFERENCE_DIR/io-exports.txt}
KERNEL_MEM_FUNCS="memcpy memmove memset bcmp"

die() { echo "link-test: $*" >&2; exit 2; }

[ -n "${SYSDIR:-}" ] || die "set SYSDIR to a DragonFly sys/ tree"
SYSDIR=$(cd "$SYSDIR" && pwd) || die "SYSDIR=$SYSDIR does not exist"
hammer=$SYSDIR/vfs/hammer
[ -f "$hammer/hammer.h" ] || die "$hammer/hammer.h not found: SYSDIR is not a DragonFly sys/ tree"
[ -f "$lib" ] || die "$lib not found (make kernel SYSDIR=$SYSDIR)"
[ -x "$ELFREL" ] || die "$ELFREL not found (make elfrel)"
[ -f "$IO_EXPORTS" ] || die "$IO_EXPORTS not found (set REFERENCE_DIR)"
for t in "$CC" "$LD" "$AR" "$OBJCOPY" "$READELF"; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (run .ci/install-deps.sh)"
done
if [ -f "$lib.info" ] && ! grep -q '^sysdir=.' "$lib.info"; then
    die "$lib was built without SYSDIR; rebuild with 'make kernel SYSDIR=$SYSDIR'"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/link-test.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$work"' EXIT INT TERM

# The include layout a module build sees: the @/machine/cpu links of
# kmod.mk, forwarding headers for <machine/X.h> that only exist under cpu/
# (kern.fwd.mk), a few <X.h> that live in sys/, and -- since there is no
# userland tree beside SYSDIR here -- a stand-in <stdint.h>.
inc=$work/inc
mkdir -p "$inc/fwd/machine"
ln -s "$SYSDIR" "$inc/@"
ln -s "$SYSDIR/platform/pc64/include" "$inc/machine"
ln -s "$SYSDIR/platform/pc64" "$inc/machine_base"
ln -s "$SYSDIR/cpu/x86_64/include" "$inc/cpu"
ln -s "$SYSDIR/cpu/x86_64" "$inc/cpu_base"
for h in "$SYSDIR"/cpu/x86_64/include/*.h; do
    n=$(basename "$h")
    printf '#include <cpu/%s>\n' "$n" >"$inc/fwd/machine/$n"
done
for n in aio.h errno.h fcntl.h linker_set.h poll.h syslog.h termios.h ucontext.h; do
    printf '#include <sys/%s>\n' "$n" >"$inc/fwd/$n"
done
: >"$inc/opt_ktr.h"
{
    echo '#ifndef _STDINT_H_'
    echo '#define _STDINT_H_'
    echo '#include <sys/cdefs.h>'
    echo '#include <machine/stdint.h>'
    for w in 8 16 32 64; do
        for k in int int_least int_fast; do
            echo "typedef __${k}${w}_t ${k}${w}_t;"
            echo "typedef __u${k}${w}_t u${k}${w}_t;"
        done
    done
    echo 'typedef __intptr_t intptr_t; typedef __uintptr_t uintptr_t;'
    echo 'typedef __intmax_t intmax_t; typedef __uintmax_t uintmax_t;'
    echo '#include <machine/int_limits.h>'
    echo '#include <sys/stdint.h>'
    echo '#endif'
} >"$inc/fwd/stdint.h"

# Code generation as in platform/pc64/conf/kern.mk and kmod.mk.
CFLAGS="--target=x86_64-unknown-dragonfly -nostdinc -ffreestanding -std=gnu99
 -D_KERNEL -DKLD_MODULE -O2 -fno-common -fno-stack-protector
 -mcmodel=kernel -mno-red-zone -mno-mmx -mno-sse -mno-sse2 -mno-sse3 -mno-avx
 -msoft-float -fno-asynchronous-unwind-tables -fno-omit-frame-pointer -w
 -I$inc -I$inc/@ -I$inc/fwd -I$hammer"

# The SRCS list of sys/vfs/hammer/Makefile (same as kmod/Makefile).
SRCS=$(awk '/^SRCS=/ { on = 1 } on { print; if ($0 !~ /\\$/) exit }' "$here/Makefile" |
    tr -s ' \t\\' '\n\n\n' | grep '\.c$' | tr '\n' ' ')
[ -n "$SRCS" ] || die "cannot read SRCS from kmod/Makefile"

mkdir "$work/c"
pids=""
for s in $SRCS hammer_io.c; do
    "$CC" $CFLAGS -c "$hammer/$s" -o "$work/c/${s%.c}.o" 2>"$work/c/${s%.c}.err" &
    pids="$pids $!"
done
ok=1
for p in $pids; do wait "$p" || ok=0; done
if [ "$ok" = 0 ]; then
    cat "$work"/c/*.err | head -n 30 >&2
    die "compiling the HAMMER sources failed"
fi
c_objs=""
for s in $SRCS; do c_objs="$c_objs $work/c/${s%.c}.o"; done

# hammer_io_rs.o, as kmod/Makefile builds it.
mkdir "$work/rustobj"
(cd "$work/rustobj" && "$AR" x "$lib") || die "cannot extract $lib"
set -- "$work"/rustobj/hammer_io-*.o
[ -f "$1" ] || die "$lib has no hammer_io-*.o member"
"$LD" -r -o "$work/hammer_io_rs.o" "$@" "$lib" || die "ld -r of the Rust objects failed"
"$OBJCOPY" --localize-hidden "$work/hammer_io_rs.o" || die "objcopy --localize-hidden failed"

# shellcheck disable=SC2086
"$LD" -r -d -o "$work/hammer_rs.ko" $c_objs "$work/hammer_io_rs.o" || die "linking hammer_rs.ko failed"
# shellcheck disable=SC2086
"$LD" -r -d -o "$work/hammer_c.ko" $c_objs "$work/c/hammer_io.o" || die "linking hammer_c.ko failed"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

undefined() { "$READELF" -sW "$1" | awk '$7 == "UND" && $8 != "" { print $8 }' | sort -u; }
undefined "$work/hammer_c.ko" >"$work/und_c"
undefined "$work/hammer_rs.ko" >"$work/und_rs"
{ cat "$work/und_c"; echo "$KERNEL_MEM_FUNCS" | tr ' ' '\n'; } | sort -u >"$work/allowed"
comm -23 "$work/und_rs" "$work/allowed" >"$work/extra"
comm -23 "$work/und_c" "$work/und_rs" >"$work/dropped"

echo "link-test: $(echo $SRCS | wc -w) HAMMER sources + $(basename "$lib") (SYSDIR=$SYSDIR)"
if [ -s "$work/extra" ]; then
    fail "imports: hammer_rs.ko needs symbols hammer_c.ko does not: $(tr '\n' ' ' <"$work/extra")"
else
    pass "imports: hammer_rs.ko imports $(wc -l <"$work/und_rs") symbols, all imported by hammer_c.ko or in {$KERNEL_MEM_FUNCS}"
fi
[ -s "$work/dropped" ] &&
    echo "     note: imported by the C module only: $(tr '\n' ' ' <"$work/dropped")"

tr -s ' \t' '\n\n' <"$IO_EXPORTS" | grep -v '^$' | sort -u >"$work/exports"
comm -12 "$work/exports" "$work/und_rs" >"$work/unresolved"
if [ -s "$work/unresolved" ]; then
    fail "resolved: hammer_io symbols left undefined in hammer_rs.ko: $(tr '\n' ' ' <"$work/unresolved")"
else
    pass "resolved: no io-exports.txt symbol is undefined in hammer_rs.ko"
fi

"$READELF" -sW "$work/hammer_rs.ko" |
    awk '$7 != "UND" && $5 == "GLOBAL" { print $8 }' | sort >"$work/globals"
bad=""
while IFS= read -r s; do
    n=$(grep -cx "$s" "$work/globals")
    [ "$n" = 1 ] || bad="$bad $s($n)"
done <"$work/exports"
if [ -n "$bad" ]; then
    fail "exports: not defined exactly once as GLOBAL:$bad"
else
    pass "exports: all $(wc -l <"$work/exports") io-exports.txt symbols defined once, globally"
fi

# Whole-module object checks. Imports were compared above; stack frames of
# the C code are not ours to judge.
"$ELFREL" "$work/hammer_rs.ko" >/dev/null || die "elfrel failed on hammer_rs.ko"
IO_IMPORTS=$work/allowed MAX_FRAME=1000000 DFLY_RELOC=pc32 REQUIRE_EXPORTS=1 \
    IO_EXPORTS="$IO_EXPORTS" sh "$here/check-object.sh" "$work/hammer_rs.ko" >"$work/check.out" 2>&1
if grep -q '^FAIL' "$work/check.out"; then
    fail "module: check-object.sh on hammer_rs.ko:"
    grep '^FAIL' -A3 "$work/check.out" | sed 's/^/       /'
else
    pass "module: check-object.sh passes on hammer_rs.ko ($(grep -c '^PASS' "$work/check.out") checks)"
fi
printf '     sizes: hammer_c.ko %s bytes, hammer_rs.ko %s bytes, hammer_io_rs.o %s bytes\n' \
    "$(wc -c <"$work/hammer_c.ko")" "$(wc -c <"$work/hammer_rs.ko")" "$(wc -c <"$work/hammer_io_rs.o")"

echo "link-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
