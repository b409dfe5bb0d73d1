#!/bin/sh
# Checks that the Rust static library (or a single relocatable object) can
# be linked into a DragonFly kld and loaded by the kernel linker.
#
# usage: kmod/check-object.sh [ARCHIVE_OR_OBJECT]
#   default: target/x86_64-dragonfly-kernel/release/libhammer_io.a
#
# Environment:
#   DFLY_RELOC=pc32|native  pc32 (the default): the archive must contain no
#                     R_X86_64_PLT32, as `make kernel` rewrites them for
#                     kernels whose linker does not know that type; native:
#                     PLT32 is accepted too (only for kernels that handle it).
#   ALLOW_PLT32=1     same as DFLY_RELOC=native.
#   MAX_FRAME=N       largest acceptable stack frame in bytes (2048).
#   REQUIRE_EXPORTS=1 fail unless all symbols of io-exports.txt are defined
#                     globally (off by default while the port is written).
#   REFERENCE_DIR     folder with io-imports.txt and io-exports.txt
#                     (default: ../shared/reference next to the repository).
#   IO_IMPORTS, IO_EXPORTS  the two lists individually.
#   READELF, OBJDUMP, AR    tools (GNU binutils by default).
#
# Every check prints one PASS/FAIL line; the exit status is 1 if any failed,
# 2 if the checks could not run at all.

set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
input=${1:-$repo/target/x86_64-dragonfly-kernel/release/libhammer_io.a}
READELF=${READELF:-readelf}
OBJDUMP=${OBJDUMP:-objdump}
AR=${AR:-ar}
MAX_FRAME=${MAX_FRAME:-2048}
REQUIRE_EXPORTS=${REQUIRE_EXPORTS:-0}
DFLY_RELOC=${DFLY_RELOC:-pc32}
if [ "${ALLOW_PLT32:-0}" = 1 ]; then DFLY_RELOC=native; fi
REFERENCE_DIR=${REFERENCE_DIR:-$repo/../shared/reference}
IO_IMPORTS=${IO_IMPORTS:-$REFERENCE_DIR/io-imports.txt}
IO_EXPORTS=${IO_EXPORTS:-$REFERENCE_DIR/io-exports.txt}

# Symbols the kernel provides that hammer_io.c itself never imports but
# compiled Rust (and C) code calls for block copies and comparisons. There is
# deliberately no memcmp: the kernel only has an inline wrapper around bcmp.
KERNEL_MEM_FUNCS="memcpy memmove memset bcmp"

# Relocation types elf_reloc_internal() in sys/cpu/x86_64/misc/elf_machdep.c
# applies. Everything else makes kldload fail ("unexpected relocation type").
ACCEPTED_RELOCS="R_X86_64_PC32 R_X86_64_32 R_X86_64_32S R_X86_64_64"
case $DFLY_RELOC in
    pc32) ;;
    native) ACCEPTED_RELOCS="$ACCEPTED_RELOCS R_X86_64_PLT32" ;;
    *) echo "check-object: DFLY_RELOC must be pc32 or native, not '$DFLY_RELOC'" >&2; exit 2 ;;
esac

die() { echo "check-object: $*" >&2; exit 2; }

for t in "$READELF" "$OBJDUMP" "$AR" awk sort comm; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (run .ci/install-deps.sh)"
done
[ -f "$input" ] || die "$input does not exist (build it with 'make kernel')"

work=$(mktemp -d "${TMPDIR:-/tmp}/check-object.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$work"' EXIT INT TERM

# A clone without ../shared still has the two lists: bindings/symbols.rs
# carries them, and build.rs fails whenever they drift from the reference's.
symbols_rs_list() { # $1: IO_IMPORTS or IO_EXPORTS
    awk -v c="$1" '$0 ~ "pub const " c ":" { on = 1; next }
        on && /^\];/ { exit }
        on { gsub(/[",[:space:]]/, ""); if ($0 != "") print }' "$repo/bindings/symbols.rs"
}
for v in IO_IMPORTS IO_EXPORTS; do
    eval "f=\$$v"
    if [ ! -f "$f" ] && [ -f "$repo/bindings/symbols.rs" ]; then
        symbols_rs_list "$v" >"$work/$v.txt"
        echo "note: $f not found; using the $v list of bindings/symbols.rs"
        eval "$v=\$work/$v.txt"
    fi
done

# Unpack the archive so that every member can be inspected on its own; a
# plain object is its only member.
mkdir "$work/m"
magic=$(head -c 8 "$input" | od -An -c | tr -d ' \n')
case $magic in
    '!<arch>\n')
        kind=archive
        cp "$input" "$work/lib.a"
        (cd "$work/m" && "$AR" x ../lib.a) || die "cannot extract $input"
        ;;
    177ELF*)
        kind=object
        cp "$input" "$work/m/$(basename "$input")"
        ;;
    *) die "$input is neither an ar archive nor an ELF object" ;;
esac
ls "$work/m" >"$work/members"
nmembers=$(wc -l <"$work/members")
[ "$nmembers" -gt 0 ] || die "$input has no members"

# One pass of each tool over all members; the checks below only read these.
: >"$work/sections"; : >"$work/relocs"; : >"$work/syms"; : >"$work/disasm"
while IFS= read -r m; do
    f="$work/m/$m"
    "$READELF" -hW "$f" 2>/dev/null | grep -q 'Type:.*REL (Relocatable' ||
        { echo "$m: not a relocatable ELF object" >>"$work/notrel"; continue; }
    "$READELF" -SW "$f" | sed -n 's/^ *\[ *\([0-9]*\)\] */\1 /p' |
        awk -v m="$m" '{ print m, $0 }' >>"$work/sections"
    "$READELF" -rW "$f" | awk -v m="$m" '
        /^Relocation section/ { sec = $3; gsub(/\047/, "", sec) }
        $3 ~ /^R_X86_64_/ { print m, sec, $3, $5 }' >>"$work/relocs"
    # Symbol table rows: Num Value Size Type Bind Vis Ndx Name
    "$READELF" -sW "$f" | awk -v m="$m" '
        $1 ~ /^[0-9]+:$/ && NF >= 8 { print m, $4, $5, $6, $7, $8 }' >>"$work/syms"
    "$OBJDUMP" -d --no-show-raw-insn -M att "$f" |
        awk -v m="$m" '{ print m "\t" $0 }' >>"$work/disasm"
done <"$work/members"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
show() { sed 's/^/       /' "$@" | head -n 25; }

echo "check-object: $input ($kind, $nmembers member(s))"

# 0. Everything is an ELF relocatable object.
if [ -s "$work/notrel" 2>/dev/null ]; then
    fail "format: members that are not ELF relocatable objects:"; show "$work/notrel"
else
    pass "format: $nmembers ELF64 relocatable object(s)"
fi

# 1. No SIMD/MMX registers: the kernel does not save FPU state for its own
#    code, so touching them corrupts the interrupted user thread's registers.
grep -E '%([xyz]mm[0-9]|mm[0-7])' "$work/disasm" >"$work/simd"
ninsn=$(grep -c '^[^	]*	 *[0-9a-f]*:	' "$work/disasm")
if [ -s "$work/simd" ]; then
    fail "simd: $(wc -l <"$work/simd") instruction(s) use %xmm/%ymm/%zmm/%mm registers:"
    show "$work/simd"
else
    pass "simd: none of $ninsn instructions uses %xmm/%ymm/%zmm/%mm registers"
fi

# 2. No GOT: the kernel linker builds no global offset table.
awk '$3 ~ /GOT/' "$work/relocs" >"$work/got"
awk '$6 == "_GLOBAL_OFFSET_TABLE_"' "$work/syms" >>"$work/got"
if [ -s "$work/got" ]; then
    fail "got: GOT relocations or references (build with relocation-model=static):"
    show "$work/got"
else
    pass "got: no GOT/GOTPCREL relocation"
fi

# 3. Relocation types the kernel linker applies.
awk -v ok="$ACCEPTED_RELOCS" '
    BEGIN { n = split(ok, a, " "); for (i = 1; i <= n; i++) good[a[i]] = 1 }
    !($3 in good) { print }' "$work/relocs" >"$work/badrel"
nrel=$(wc -l <"$work/relocs")
if [ -s "$work/badrel" ]; then
    awk '{ print $3 }' "$work/badrel" | sort | uniq -c >"$work/badrel.sum"
    hint=""
    grep -q R_X86_64_PLT32 "$work/badrel" &&
        hint=" (PLT32: run 'make kernel' with DFLY_RELOC=pc32, or kmod/elfrel by hand)"
    fail "reloc-types: types outside {$ACCEPTED_RELOCS}$hint:"
    show "$work/badrel.sum"
else
    pass "reloc-types: all $nrel relocations in {$ACCEPTED_RELOCS}"
fi

# 4. Every relocation section must apply to a section the kernel linker
#    loads (PROGBITS/NOBITS): for any other target, link_elf_obj.c finds no
#    base address and panics the kernel ("lost base for relatab"). LLVM's
#    .eh_frame (type X86_64_UNWIND) with its .rela.eh_frame is the usual case.
awk '
    { key = $1 " " $2; type[key] = $4; name[key] = $3 }
    $4 == "RELA" || $4 == "REL" { rel[key] = $1 " " $(NF - 1) }
    END {
        for (k in rel) {
            split(rel[k], t, " ")
            tk = t[1] " " t[2]
            if (type[tk] != "PROGBITS" && type[tk] != "NOBITS")
                print t[1] ": " name[k] " applies to " name[tk] " (" type[tk] ")"
        }
    }' "$work/sections" | sort >"$work/badtarget"
awk '$4 == "X86_64_UNWIND" { print $1 ": " $3 " (X86_64_UNWIND)" }' \
    "$work/sections" >"$work/unwind"
if [ -s "$work/badtarget" ]; then
    fail "reloc-targets: relocation sections for sections the kernel does not load:"
    show "$work/badtarget"
else
    pass "reloc-targets: every relocation section applies to a loaded section"
fi
if [ -s "$work/unwind" ]; then
    echo "     note: unwind sections present (ignored by the kernel linker):"
    show "$work/unwind"
fi

# 5. Imports: symbols still undefined after the members resolve each other
#    must all be provided by the kernel or the rest of HAMMER.
awk '$5 != "UND" && ($3 == "GLOBAL" || $3 == "WEAK") { print $6 }' "$work/syms" |
    sed 's/@.*//' | sort -u >"$work/defined"
awk '$5 == "UND" && $6 != "" { print $6 }' "$work/syms" | sed 's/@.*//' |
    sort -u >"$work/undef.all"
comm -23 "$work/undef.all" "$work/defined" >"$work/imports"
if [ -f "$IO_IMPORTS" ]; then
    { tr -s ' \t' '\n\n' <"$IO_IMPORTS"; echo "$KERNEL_MEM_FUNCS" | tr ' ' '\n'; } |
        grep -v '^$' | sort -u >"$work/allowed"
    comm -23 "$work/imports" "$work/allowed" >"$work/extra"
    if [ -s "$work/extra" ]; then
        fail "imports: $(wc -l <"$work/extra") undefined symbol(s) outside io-imports.txt + {$KERNEL_MEM_FUNCS}:"
        show "$work/extra"
        grep -qx memcmp "$work/extra" &&
            echo "       (memcmp: the kernel has none; compare with a loop or bcmp)"
    else
        pass "imports: $(wc -l <"$work/imports") undefined symbol(s), all in io-imports.txt + {$KERNEL_MEM_FUNCS}"
    fi
else
    fail "imports: list $IO_IMPORTS not found (set REFERENCE_DIR or IO_IMPORTS)"
fi
if [ -s "$work/imports" ]; then
    echo "     imports: $(tr '\n' ' ' <"$work/imports")"
fi

# 6. Undefined weak symbols: the kernel linker refuses them outright.
awk '$5 == "UND" && $3 == "WEAK" && $6 != "" { print $1 ": " $6 }' "$work/syms" |
    sort -u >"$work/weakund"
if [ -s "$work/weakund" ]; then
    fail "weak-undefined: the kernel linker does not support undefined weak symbols:"
    show "$work/weakund"
else
    pass "weak-undefined: none"
fi

# 7. Stack frames. With frame pointers every function starts with
#    push %rbp; mov %rsp,%rbp; [push callee-saved...]; [sub $N,%rsp], so a
#    frame is 8 (return address) + 8 * pushes + N. Kernel stacks are a few
#    pages and HAMMER's callers already use part of it.
awk -F '\t' '
    function flush() {
        if (fn != "") {
            size = 8 + 8 * pushes + frame
            print size "\t" m "\t" fn (dyn ? " (also adjusts %rsp by a register)" : "")
        }
    }
    /^[^\t]*\t[0-9a-f]+ <.*>:$/ {
        flush()
        m = $1; fn = $2; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn)
        # compiler_builtins stack-probe helper: its page-sized %rsp steps
        # are probes, not a frame. The target uses inline probes, so it is
        # never called (see the note below).
        if (fn ~ /__rust_probestack$/) { fn = ""; next }
        pushes = 0; frame = 0; prologue = 1; dyn = 0
        next
    }
    fn == "" { next }
    {
        insn = $3
        for (i = 4; i <= NF; i++) insn = insn " " $i
        if (insn ~ /^push +%r/) { if (prologue) pushes++; next }
        if (insn ~ /^mov +%rsp,%rbp/) next
        prologue = 0
        if (insn ~ /^sub +\$0x[0-9a-f]+,%rsp/) {
            v = insn; sub(/^sub +\$0x/, "", v); sub(/,.*/, "", v)
            n = 0
            for (i = 1; i <= length(v); i++)
                n = n * 16 + index("0123456789abcdef", substr(v, i, 1)) - 1
            if (n > frame) frame = n
        } else if (insn ~ /^sub +%r[a-z0-9]+,%rsp/) {
            dyn = 1
        }
    }
    END { flush() }' "$work/disasm" | sort -t '	' -k1,1nr >"$work/frames"
nfn=$(wc -l <"$work/frames")
if [ "$nfn" -eq 0 ]; then
    pass "stack: no functions"
else
    top=$(head -n 1 "$work/frames")
    size=$(echo "$top" | cut -f1)
    where=$(echo "$top" | cut -f3)
    awk -F '\t' -v max="$MAX_FRAME" '$1 > max || $3 ~ /by a register/' "$work/frames" >"$work/bigframes"
    if [ -s "$work/bigframes" ]; then
        fail "stack: frames above $MAX_FRAME bytes or of dynamic size (largest $size bytes in $where):"
        cut -f1,3 "$work/bigframes" | show
    else
        pass "stack: largest frame $size bytes (limit $MAX_FRAME) in $where; $nfn functions"
    fi
    echo "     largest frames:"
    head -n 5 "$work/frames" | cut -f1,3 | sed 's/^/       /'
fi

if awk '$5 == "UND" && $6 ~ /__rust_probestack$/' "$work/syms" | grep -q .; then
    fail "stack: code calls __rust_probestack (out-of-line probes); the target spec must use inline probes"
fi

# Informational: what the kernel linker will allocate. It loads every
# PROGBITS/NOBITS section, SHF_ALLOC or not, so non-alloc payloads such as
# LLVM bitcode (.llvmbc) would sit in kernel memory.
awk '($4 == "PROGBITS" || $4 == "NOBITS") {
        size = 0; hex = $7
        for (i = 1; i <= length(hex); i++)
            size = size * 16 + index("0123456789abcdef", substr(hex, i, 1)) - 1
        total += size
        flags = (NF == 12 ? $9 : "")
        if (flags !~ /A/ && size > 0) { na += size; names[$3] = 1 }
    }
    END {
        list = ""; for (n in names) list = list " " n
        printf "     loaded sections: %d bytes, %d of them not SHF_ALLOC%s\n", total, na, (list == "" ? "" : " (" substr(list, 2) ")")
    }' "$work/sections"
if awk '$3 == ".llvmbc" || $3 == ".llvmcmd"' "$work/sections" | grep -q .; then
    fail "bitcode: .llvmbc/.llvmcmd sections present ('make kernel' strips them; the kernel would load them)"
fi

# 8. Global symbols with default visibility: what the kld will offer the
#    rest of the kernel. Hidden ones stay internal to the module.
awk '$5 != "UND" && $3 == "GLOBAL" && $4 == "DEFAULT" { print $6 "\t" $2 "\t" $1 }' \
    "$work/syms" | sort -u >"$work/globals"
ours=$(grep -vc '	compiler_builtins-' "$work/globals")
builtins=$(grep -c '	compiler_builtins-' "$work/globals")
echo "     global symbols: $ours from the crate, $builtins from compiler_builtins"
grep -v '	compiler_builtins-' "$work/globals" | cut -f1,2 | head -n 60 |
    awk -F '\t' '{ printf "       %-44s %s\n", $1, $2 }'

# 9. The 37 exports of hammer_io.o, all global.
if [ -f "$IO_EXPORTS" ]; then
    cut -f1 "$work/globals" | sort -u >"$work/globalnames"
    tr -s ' \t' '\n\n' <"$IO_EXPORTS" | grep -v '^$' | sort -u >"$work/wanted"
    comm -23 "$work/wanted" "$work/globalnames" >"$work/missing"
    nwant=$(wc -l <"$work/wanted")
    nmiss=$(wc -l <"$work/missing")
    if [ "$nmiss" -eq 0 ]; then
        pass "exports: all $nwant symbols of io-exports.txt defined globally"
    elif [ "$REQUIRE_EXPORTS" = 1 ]; then
        fail "exports: $nmiss of $nwant io-exports.txt symbols not defined globally:"
        show "$work/missing"
    else
        echo "SKIP exports: $nmiss of $nwant io-exports.txt symbols not defined globally yet (REQUIRE_EXPORTS=1 makes this fatal)"
    fi
elif [ "$REQUIRE_EXPORTS" = 1 ]; then
    fail "exports: list $IO_EXPORTS not found (set REFERENCE_DIR or IO_EXPORTS)"
fi

echo "check-object: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
