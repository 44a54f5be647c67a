#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build Linux's own Nitro Enclaves driver, as Debian's linux-source-6.1
# ships it, as an external module: the baseline that make bench measures
# this driver against. Its sources are never copied into this tree.
#
#   scripts/build-linux-ne.sh [KDIR]
#
# drivers/virt/nitro_enclaves is unpacked from /usr/src/linux-source-6.1.tar.xz
# (make deps installs it) into $NE_CACHE/linux-ne/<hash>/src and built
# there against KDIR (default: the guest kernel's headers); <hash> covers
# the linux-source version, the kernel release of KDIR and this script, so
# nothing is rebuilt while they stay the same. Prints the path of the
# module on stdout; build output goes to stderr.
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

kdir=${1:-$KDIR}
tarball=/usr/src/linux-source-6.1.tar.xz

die() { echo "build-linux-ne: error: $*" >&2; exit 1; }

[[ -f $tarball ]] || die "$tarball is missing (run: make deps)"
[[ -f $kdir/Makefile ]] || die "no kernel headers in $kdir (run: make deps)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
	die "linux-source-6.1 is not installed (run: make deps)"
krel=$(make -s -C "$kdir" kernelrelease 2>/dev/null) ||
	die "cannot tell the kernel release of $kdir"
hash=$(printf '%s\n' "$srcver" "$krel" | cat - "${BASH_SOURCE[0]}" |
	sha256sum | cut -c1-16)
dir=$NE_CACHE/linux-ne/$hash
ko=$dir/nitro_enclaves.ko

if [[ ! -f $ko ]]; then
	mkdir -p "$NE_CACHE/linux-ne"
	exec 9> "$dir.lock"
	flock 9
fi
if [[ ! -f $ko ]]; then
	rm -rf "$dir"
	mkdir -p "$dir/src"
	echo "build-linux-ne: unpacking Linux $srcver's driver into $dir/src" >&2
	tar -xJf "$tarball" -C "$dir/src" --strip-components=4 \
		linux-source-6.1/drivers/virt/nitro_enclaves
	# The module is built with the UAPI header of KDIR, which is the same
	# as the one of the source (both are 6.1).
	make -C "$kdir" M="$dir/src" CONFIG_NITRO_ENCLAVES=m -j2 modules >&2
	cp "$dir/src/nitro_enclaves.ko" "$ko.tmp"
	mv "$ko.tmp" "$ko"
fi
echo "$ko"
