#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build and install these selftests the way kernel CI does: lay the driver,
# our UAPI header and this directory into a scratch copy of the parts of
# Debian's linux-source-6.1 that the kselftest build uses, then
#
#   make -C tools/testing/selftests TARGETS=drivers/virt/nitro_enclaves \
#        install INSTALL_PATH=DEST/install
#
#   ksft_install.sh DEST [MAKE-VARIABLE=VALUE]...   e.g. LLVM=1, O=DIR,
#                                                   CROSS_COMPILE=aarch64-linux-gnu-
#
# DEST/tree is the scratch tree (made anew), DEST/install the installed
# tree: run_kselftest.sh, kselftest/, kselftest-list.txt and
# drivers/virt/nitro_enclaves/ with the programs, config and settings.
# The tree's usr/include (KHDR_INCLUDES) holds Linux 6.1's own
# linux/nitro_enclaves.h, as `make headers` would; the build must take
# ours, and this script checks that it does.
#
# The pieces of the kernel source are extracted once from
# /usr/src/linux-source-6.1.tar.xz into $NE_CACHE/ksft-linux-source-6.1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../../../../.." && pwd)
NE_CACHE=${NE_CACHE:-/var/cache/nitro-enclaves}
TARBALL=${NE_KSFT_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
SRC=$NE_CACHE/ksft-linux-source-6.1
T=drivers/virt/nitro_enclaves
PIECES=(Makefile scripts/subarch.include tools/testing/selftests/Makefile
	tools/testing/selftests/lib.mk tools/testing/selftests/kselftest.h
	tools/testing/selftests/kselftest_harness.h
	tools/testing/selftests/run_kselftest.sh
	tools/testing/selftests/kselftest include/uapi/linux/nitro_enclaves.h)

die() { echo "ksft_install.sh: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: ksft_install.sh DEST [VAR=VALUE]..."
DEST=$(mkdir -p "$1" && cd "$1" && pwd)
shift

extract() {
	local p missing=()
	for p in "${PIECES[@]}"; do
		[[ -e $SRC/$p ]] || missing+=("linux-source-6.1/$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	[[ -f $TARBALL ]] || die "no $TARBALL (make deps installs linux-source-6.1)"
	echo "# extracting ${#missing[@]} pieces of $TARBALL into $SRC" >&2
	mkdir -p "$SRC.tmp"
	tar -xJf "$TARBALL" -C "$SRC.tmp" --strip-components=1 "${missing[@]}"
	mkdir -p "$SRC"
	cp -a "$SRC.tmp/." "$SRC/"
	rm -rf "$SRC.tmp"
}

lay_tree() {
	local tree=$DEST/tree
	rm -rf "$tree" "$DEST/install"
	mkdir -p "$tree"
	cp -a "$SRC/." "$tree/"
	# What `make headers` would put there: Linux 6.1's copy of the header.
	mkdir -p "$tree/usr/include/linux"
	cp "$SRC/include/uapi/linux/nitro_enclaves.h" "$tree/usr/include/linux/"
	# The driver, our UAPI header and the selftests, as a patch would.
	mkdir -p "$tree/$T" "$tree/tools/testing/selftests/$T"
	cp -a "$ROOT/$T/." "$tree/$T/"
	cp "$ROOT/include/uapi/linux/nitro_enclaves.h" "$tree/include/uapi/linux/"
	cp -a "$HERE/." "$tree/tools/testing/selftests/$T/"
	echo "$tree"
}

extract
tree=$(lay_tree)
make -C "$tree/tools/testing/selftests" TARGETS="$T" "$@" \
	install INSTALL_PATH="$DEST/install"
# The header the build resolves: ours, not the tree's usr/include copy.
hdr=$(make -s -C "$tree/tools/testing/selftests/$T" "$@" \
	KHDR_INCLUDES="-isystem $tree/usr/include" OUTPUT="$DEST/check" \
	print-uapi-header)
[[ $hdr == "$DEST/check/ne-include/linux/nitro_enclaves.h" ]] ||
	die "the build takes $hdr, not this project's UAPI header"
echo "# linux/nitro_enclaves.h resolves to $hdr (ours, before $tree/usr/include)"
grep -qx "$T:ne_smoke" "$DEST/install/kselftest-list.txt" ||
	die "kselftest-list.txt lacks $T:ne_smoke"
echo "# installed into $DEST/install: $(grep -c "^$T:" "$DEST/install/kselftest-list.txt") tests"
