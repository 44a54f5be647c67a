#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The project has one version, PACKAGE_VERSION in dkms.conf (the Makefile
# reads it from there). Two other places must repeat it: the latest entry
# of debian/changelog (a native package, so the whole version) and
# MODULE_VERSION() in the driver. Prints the three; exits 1 unless they
# agree. Run by debian/rules before a package build and by
# scripts/check-packages.sh.
#
#   scripts/check-version.sh          check
#   scripts/check-version.sh --print  print the version only
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

dkms=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)
mod=$(sed -n 's/^MODULE_VERSION("\(.*\)");$/\1/p' \
	drivers/virt/nitro_enclaves/ne_misc_dev.c)

if [[ ${1:-} == --print ]]; then
	echo "$dkms"
	exit 0
fi

echo "dkms.conf PACKAGE_VERSION: ${dkms:-none}"
echo "debian/changelog:          ${deb:-none}"
echo "MODULE_VERSION (driver):   ${mod:-none}"
if [[ -z $dkms || $deb != "$dkms" || $mod != "$dkms" ]]; then
	echo "check-version: the versions differ: set all three to one version" >&2
	exit 1
fi
