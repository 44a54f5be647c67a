#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end test of the ne-vsock relay, without the NE device: two
# microvm QEMUs of our build, "parent" (guest CID 3, a relay for CID 16
# attached with the test-relay-cid/test-relay-fd test aid) and "enclave"
# (guest CID 16, relay-fd), linked by a SOCK_SEQPACKET socketpair. Both
# boot Debian's stock kernel with a busybox initramfs that loads the vsock
# modules and runs ne_vsock_pipe (tools/testing/ne_vsock_pipe).
#
#   tools/testing/ne_vsock_relay/relay_test.sh [--size BYTES] [--runs N]
#       [--conns K] [--trace PATTERN]...
#
# RELAY_TEST_KEEP=1 keeps the consoles (with the QEMUs' traces),
# RELAY_TEST_VERBOSE=1 echoes them.
#
# Prints TAP; exit 0 all passed, 1 a failure, 4 skipped (no QEMU build
# or guest kernel: scripts/build-qemu.sh, make deps). The orchestration
# (socketpair, consoles, the kill) is relay_test.py.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../../../scripts/ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/ne-env.sh"

skip() { echo "1..0 # SKIP $*"; exit 4; }

QEMU=${NE_QEMU:-$NE_BUILD/qemu-system-x86_64}
KERNEL=$NE_KERNEL_DIR/boot/vmlinuz-$KVER
MODDIR=$NE_KERNEL_DIR/lib/modules/$KVER/kernel
BUSYBOX=${NE_BUSYBOX:-/bin/busybox}

[[ -x $QEMU ]] || skip "no QEMU at $QEMU (scripts/build-qemu.sh)"
[[ -f $KERNEL ]] || skip "no guest kernel at $KERNEL"
[[ -f $MODDIR/net/vmw_vsock/vmw_vsock_virtio_transport.ko ]] ||
	skip "no vsock modules under $MODDIR (uncompressed .ko expected)"
[[ -x $BUSYBOX ]] || skip "no static busybox at $BUSYBOX"
command -v python3 >/dev/null || skip "no python3"

TMP=$(mktemp -d)
trap '[[ -n ${RELAY_TEST_KEEP:-} ]] || rm -rf "$TMP"' EXIT
make -s -C "$NE_ROOT/tools/testing/ne_vsock_pipe" O="$TMP" >&2

python3 "$(dirname "${BASH_SOURCE[0]}")/relay_test.py" --qemu "$QEMU" \
	--kernel "$KERNEL" --moddir "$MODDIR" --busybox "$BUSYBOX" \
	--pipe "$TMP/ne_vsock_pipe" --tmp "$TMP" "$@"
