#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the Debian packages (debian/: nitro-enclaves-dkms and
# nitro-enclaves-utils) from a clean copy of the tree, so that neither the
# tree's build output nor the package build's ends up in the other:
#
#   scripts/build-deb.sh [--source] [OUTDIR]     (also: make deb)
#
# The copy, OUTDIR/nitro-enclaves-<version>, holds the files git knows of
# (tracked, and untracked but not ignored: uncommitted work is packaged,
# build/ is not); outside a git checkout, the tree less build/. There
# dpkg-buildpackage -us -uc -b (with --source: also the source package)
# leaves the .deb, .changes and .buildinfo files in OUTDIR (default
# $NE_BUILD/deb). Needs debhelper, dh-dkms, libssl-dev and zlib1g-dev
# (scripts/deps.sh installs them).
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

mode=-b
if [[ ${1:-} == --source ]]; then
	mode=
	shift
fi
out=$(mkdir -p "${1:-$NE_BUILD/deb}" && cd "${1:-$NE_BUILD/deb}" && pwd)
version=$("$NE_ROOT/scripts/check-version.sh" --print)
src=$out/nitro-enclaves-$version

# Only what an earlier run of this script left in OUTDIR goes.
rm -rf "$src"
rm -f "$out"/nitro-enclaves*_"$version"*.{deb,changes,buildinfo,dsc,tar.xz}
mkdir -p "$src"
cd "$NE_ROOT"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
	git ls-files -co --exclude-standard -z |
		while IFS= read -r -d '' f; do
			[[ -e $f ]] && printf '%s\0' "$f"
		done | cpio -pdm0 --quiet "$src"
else
	tar -cf - --exclude=./build --exclude=./debian/build . | tar -xf - -C "$src"
fi

cd "$src"
DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}"
export DEB_BUILD_OPTIONS
dpkg-buildpackage -us -uc $mode
ls -l "$out"/*_"$version"_*.deb
