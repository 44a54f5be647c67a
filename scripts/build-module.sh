#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the driver against another kernel's headers, out of the source
# tree, and fail on any compiler or modpost warning:
#
#   scripts/build-module.sh KDIR OUTDIR [MAKE_ARG]...
#
# The driver sources and include/uapi are copied (same layout) into
# OUTDIR/src, so the in-tree build (make modules, against $KDIR) is never
# touched; the module ends up as OUTDIR/nitro_enclaves.ko. W=1 is on.
# MAKE_ARGs go to make, e.g. ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-
# (Debian's headers packages set both already). Prints TAP: one result.
set -uo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

kdir=${1:?usage: $0 KDIR OUTDIR [MAKE_ARG]...}
out=${2:?usage: $0 KDIR OUTDIR [MAKE_ARG]...}
mkdir -p "$out" && out=$(cd "$out" && pwd)
shift 2
src=$out/src
mdir=$src/drivers/virt/nitro_enclaves
name="module builds W=1 warning-free against $(basename "$kdir")"

echo "1..1"
mkdir -p "$mdir" "$src/include"
rm -f "$out/nitro_enclaves.ko"
# Only the sources: build products of the in-tree build stay behind.
# -p: unchanged files keep their mtime, so make rebuilds only what changed.
cp -p "$NE_ROOT"/drivers/virt/nitro_enclaves/{Makefile,Kconfig,*.c,*.h} "$mdir/"
rm -rf "$src/include/uapi"
cp -rp "$NE_ROOT/include/uapi" "$src/include/"

log=$out/build.log
make -C "$kdir" M="$mdir" CONFIG_NITRO_ENCLAVES=m W=1 -j2 "$@" modules 2>&1 | tee "$log" | sed 's/^/# /'
rc=${PIPESTATUS[0]}
warnings=$(grep -ciE 'warning:' "$log")
if [[ $rc -eq 0 && $warnings -eq 0 && -f $mdir/nitro_enclaves.ko ]]; then
	cp "$mdir/nitro_enclaves.ko" "$out/"
	echo "# $(modinfo -F vermagic "$out/nitro_enclaves.ko")"
	echo "ok 1 $name"
else
	echo "not ok 1 $name (exit $rc, $warnings warnings)"
	# The next run must compile (and warn) again, not reuse these objects.
	rm -f "$mdir"/*.o "$mdir"/*.ko
	exit 1
fi
