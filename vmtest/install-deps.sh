#!/bin/sh
# Installs what the vmtest stand-in integration test needs on a Debian host:
# QEMU, a Debian kernel (the stand-in guest) and a static busybox (its userland).
# Safe to run again: apt-get only installs what is missing. Needs root.
set -eu

PKGS="qemu-system-x86 linux-image-cloud-amd64 busybox-static"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "vmtest/install-deps.sh: all present ($PKGS)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi

echo "vmtest/install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# --no-install-recommends keeps the kernel package from pulling firmware and
# the qemu package from pulling GUI bits; the test boots with -nographic.
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
