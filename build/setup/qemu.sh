#!/usr/bin/env bash
# Make sure this machine runs arm64 (aarch64) programs and containers under emulation, for the
# linux/arm64 release binary (`make release`) and its tests. Quick no-op when it already does.
# As root on Debian/Ubuntu: install Debian's qemu-user-static and binfmt-support, mount
# binfmt_misc if it is not, and register qemu-aarch64 with binfmt's F flag (the kernel opens the
# emulator at registration, so arm64 containers need no emulator inside their root).
set -euo pipefail

ENTRY=/proc/sys/fs/binfmt_misc/qemu-aarch64

fail() { echo "qemu.sh: $*" >&2; exit 1; }

registered() {
    [ -r "$ENTRY" ] && grep -qx enabled "$ENTRY" && grep -q '^flags: .*F' "$ENTRY"
}

if registered && command -v qemu-aarch64-static >/dev/null 2>&1; then
    exit 0
fi

[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    || fail "arm64 emulation is needed (qemu-user-static, binfmt_misc with qemu-aarch64 registered); run this as root on Debian/Ubuntu to set it up."

if ! command -v qemu-aarch64-static >/dev/null 2>&1 || ! command -v update-binfmts >/dev/null 2>&1; then
    echo "qemu.sh: installing qemu-user-static and binfmt-support (apt)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        qemu-user-static binfmt-support >/dev/null
fi

if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
        || fail "cannot mount binfmt_misc at /proc/sys/fs/binfmt_misc (a container without privileges?)"
fi
# Debian's entry (/usr/share/binfmts/qemu-aarch64) has the F flag.
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
registered || fail "qemu-aarch64 is not registered with binfmt_misc: $(cat "$ENTRY" 2>/dev/null | tr '\n' ' ')"
echo "qemu.sh: arm64 programs run under $(qemu-aarch64-static --version | head -n 1)" >&2
