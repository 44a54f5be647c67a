#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the demo Enclave Image File for `make demo` and the boot selftests:
#
#   kernel   Debian's vmlinuz of the guest kernel ($NE_KERNEL_DIR/boot)
#   ramdisk  a cpio (newc) with the static busybox of busybox-static and
#            an /init script
#   cmdline  the AWS x86_64 enclave command line
#
# built with our EIF tool (tools/eif, built into $NE_BUILD/eif). The image
# is reproducible (fixed build time and file dates) and cached in
# $NE_CACHE/demo-eif/<hash>.eif, hash = sha256 of its inputs and of this
# script; $NE_BUILD/demo.eif links to it and $NE_BUILD/demo.eif.describe
# holds `eif describe` of it.
#
#   scripts/build-demo-eif.sh          prints the path of the image
#
# The emulated device checks and measures the image but does not run it:
# its "boot" is the heartbeat the model sends itself (see
# Documentation/virt/ne_pci_device.rst). The /init here is what a real
# enclave would run; busybox has no vsock client, so it only prints.
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

KERNEL=${NE_DEMO_KERNEL:-$NE_KERNEL_DIR/boot/vmlinuz-$KVER}
BUSYBOX=${NE_DEMO_BUSYBOX:-/bin/busybox}
CMDLINE="reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on"
EIF_TOOL=$NE_BUILD/eif/eif
OUT_DIR=$NE_CACHE/demo-eif

die() { echo "demo-eif: error: $*" >&2; exit 1; }

[[ -f $KERNEL ]] || die "no guest kernel $KERNEL (scripts/ne-vm fetches it)"
[[ -x $BUSYBOX ]] || die "no static busybox $BUSYBOX (package busybox-static)"

make -s -C "$NE_ROOT/tools/eif" O="$NE_BUILD/eif" >&2 || die "tools/eif did not build"

hash=$( {
	sha256sum "$KERNEL" "$BUSYBOX" "${BASH_SOURCE[0]}"
	echo "$CMDLINE"
	sha256sum "$EIF_TOOL" | cut -d' ' -f1
} | sha256sum | cut -c1-16)
eif=$OUT_DIR/$hash.eif

if [[ ! -f $eif ]]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	root=$tmp/root
	mkdir -p "$root"/{bin,dev,proc,sys}
	install -m 755 "$BUSYBOX" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	cat > "$root/init" <<-'EOF'
	#!/bin/sh
	# Demo enclave init: a real enclave's init would now connect to
	# CID 3 port 9000, send 0xb7 and wait for the echo.
	/bin/busybox mount -t proc proc /proc
	/bin/busybox mount -t sysfs sys /sys
	echo "demo enclave: hello from $(/bin/busybox uname -r)"
	exec /bin/busybox sh
	EOF
	chmod 755 "$root/init"
	find "$root" -exec touch -h -d @0 {} +
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet \
		--reproducible -R 0:0) > "$tmp/ramdisk.cpio"
	mkdir -p "$OUT_DIR"
	SOURCE_DATE_EPOCH=0 "$EIF_TOOL" build --kernel "$KERNEL" \
		--cmdline "$CMDLINE" --ramdisk "$tmp/ramdisk.cpio" \
		--name ne-demo --version 1.0 --img-kernel "$KVER" \
		-o "$tmp/demo.eif" >&2 || die "eif build failed"
	mv "$tmp/demo.eif" "$eif"
fi
ln -sfn "$eif" "$NE_BUILD/demo.eif"
"$EIF_TOOL" describe "$eif" > "$NE_BUILD/demo.eif.describe" ||
	die "eif describe says the demo image is invalid"
echo "$NE_BUILD/demo.eif"
