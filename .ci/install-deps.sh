#!/bin/sh
# Installs the Debian packages the project's builds need, when missing:
#   rustc-web cargo-web rust-web-src  Debian's Rust (rustc/cargo 1.96 in
#                                     /usr/bin, rust-src under /usr/lib/rustlib)
#                                     used for the kernel target (-Z build-std)
#   libclang-dev clang llvm           bindgen's libclang, C compiler, LLVM tools
#   gcc libc6-dev binutils make       host C code (cc crate, reference C),
#                                     readelf/objdump/objcopy/ar, GNU make
# Idempotent, and silent when everything is already installed (pass -v for
# a one-line confirmation). Needs root or sudo when something is missing.
# Extra packages can be appended as arguments.
set -eu

verbose=0
if [ "${1:-}" = "-v" ]; then
    verbose=1
    shift
fi

PKGS="rustc-web cargo-web rust-web-src libclang-dev clang llvm gcc libc6-dev binutils make $*"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps.sh: not a Debian system; install by hand: Rust with rust-src" \
        "(for -Z build-std), libclang, clang, LLVM, a C compiler, binutils, GNU make" >&2
    exit 0
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    [ "$verbose" = 1 ] && echo "install-deps.sh: all present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
        { echo "install-deps.sh: need root to install:$missing" >&2; exit 1; }
    SUDO="sudo"
fi

echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps.sh: done"
