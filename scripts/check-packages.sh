#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check's "packages" stage (TAP): the Debian packages build, are
# lintian clean, and the DKMS package's sources build the module that the
# main VM run then loads. The machine is left as it was.
#
#   scripts/check-packages.sh [--no-vm]
#
#  1    the versions agree (scripts/check-version.sh)
#  2    scripts/build-deb.sh builds nitro-enclaves-dkms and
#       nitro-enclaves-utils (dpkg-buildpackage -us -uc -b in a clean copy
#       of the tree, DEB_BUILD_OPTIONS=nocheck: the eif stage runs eif's
#       tests) into $NE_BUILD/packages/deb
#  3    lintian: no error or warning (info tags are listed)
#  4-5  both unpacked (dpkg -x) into a throwaway root hold what they should;
#       the tools there run
#  6-7  the unpacked usr/src/nitro_enclaves-<version>, with its dkms.conf:
#       dkms add + install -k $KVER (no depmod) against the guest kernel's
#       headers, dkms' trees in a temp dir (scripts/ne-dkms.sh); the module
#       lands in updates/dkms, built for $KVER with MODULE_VERSION the
#       package's version. It is copied to $NE_BUILD/packages/nitro_enclaves.ko
#       (the "# module:" line says so).
#  8    unless --no-vm: the main run of run_vm_tests.sh in the test VM
#       with that module (NE_VM_MODULE); its own results are "# " lines.
set -uo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"
# shellcheck source=ne-dkms.sh
source "$NE_ROOT/scripts/ne-dkms.sh"
cd "$NE_ROOT" || exit 1

VM=1
case ${1:-} in
--no-vm) VM= ;;
'') ;;
*) echo "usage: $0 [--no-vm]" >&2; exit 2 ;;
esac

MOD=nitro_enclaves
OUT=$NE_BUILD/packages
DEBS=$OUT/deb
KO=$OUT/$MOD.ko
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ne-packages.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=ne-tap.sh
source "$NE_ROOT/scripts/ne-tap.sh"

comment() { sed 's/^/# /'; }

echo "1..$([[ -n $VM ]] && echo 8 || echo 7)"

scripts/check-version.sh 2>&1 | comment
tap "${PIPESTATUS[0]}" "dkms.conf, debian/changelog and MODULE_VERSION agree"
VERSION=$(scripts/check-version.sh --print)

# 2: the build, its log in the temp dir, shown when it fails.
rm -f "$KO"
DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
	scripts/build-deb.sh "$DEBS" > "$TMP/build.log" 2>&1
rc=$?
[[ $rc -eq 0 ]] || tail -n 40 "$TMP/build.log" | comment
DKMS_DEB=$DEBS/nitro-enclaves-dkms_${VERSION}_all.deb
UTILS_DEB=$(ls "$DEBS"/nitro-enclaves-utils_"${VERSION}"_*.deb 2>/dev/null | head -n1)
ls -l "$DKMS_DEB" "$UTILS_DEB" 2>&1 | comment
[[ $rc -eq 0 && -f $DKMS_DEB && -f $UTILS_DEB ]]
tap $? "dpkg-buildpackage -us -uc -b: nitro-enclaves-dkms, nitro-enclaves-utils $VERSION"

changes=$(ls "$DEBS"/nitro-enclaves_"${VERSION}"_*.changes 2>/dev/null | head -n1)
lintian -I --fail-on error,warning "${changes:-/nonexistent}" > "$TMP/lintian.log" 2>&1
rc=$?
comment < "$TMP/lintian.log"
tap $rc "lintian: no errors or warnings (overrides in debian/ say why)"

# 4-5: a throwaway root, never dpkg's database.
root=$TMP/root
for deb in "$DKMS_DEB" "$UTILS_DEB"; do
	[[ -f $deb ]] && dpkg -x "$deb" "$root"
done
missing=
for f in usr/src/$MOD-$VERSION/dkms.conf usr/src/$MOD-$VERSION/Kbuild \
	usr/src/$MOD-$VERSION/drivers/virt/nitro_enclaves/ne_misc_dev.c \
	usr/src/$MOD-$VERSION/include/uapi/linux/nitro_enclaves.h \
	usr/bin/eif usr/bin/ne-ioctl-sample usr/sbin/nitro-enclaves-allocator \
	usr/libexec/nitro-enclaves/ne-hugepage-order \
	etc/nitro_enclaves/allocator.conf etc/modprobe.d/nitro-enclaves.conf \
	lib/systemd/system/nitro-enclaves-allocator.service \
	lib/udev/rules.d/60-nitro-enclaves.rules \
	usr/share/man/man1/eif.1.gz usr/share/man/man1/ne-ioctl-sample.1.gz \
	usr/share/man/man8/nitro-enclaves-allocator.8.gz; do
	[[ -e $root/$f ]] || missing="$missing $f"
done
echo "# missing:${missing:- nothing}"
grep -q 'GROUP="ne", MODE="0660"' "$root/lib/udev/rules.d/60-nitro-enclaves.rules" 2>/dev/null
rule=$?
[[ -z $missing && $rule -eq 0 ]]
tap $? "dpkg -x: the module's sources, the tools, the config, unit, udev rule and man pages"

# Each binary runs (its libraries resolve) and prints its version: the
# package's for the launcher and the allocator; eif has its own.
rc=0
while read -r bin want; do
	out=$("$root/$bin" --version 2>&1 | head -n1)
	echo "# $bin --version: $out"
	[[ $out == *" "$want ]] || rc=1
done <<-EOF
	usr/bin/eif [0-9]*
	usr/bin/ne-ioctl-sample $VERSION
	usr/sbin/nitro-enclaves-allocator $VERSION
EOF
tap $rc "the unpacked eif, ne-ioctl-sample and nitro-enclaves-allocator run (--version)"

# 6-7: the packaged sources, as dkms on a user's machine builds them.
mkdir -p "$TMP/dkms-trees/install/$KVER"
export NE_DKMS_SOURCE_TREE=$root/usr/src
{
	dkms_private "$TMP/dkms-trees" dkms add -m $MOD -v "$VERSION" &&
	dkms_private "$TMP/dkms-trees" dkms install --no-depmod -m $MOD -v "$VERSION" -k "$KVER"
} > "$TMP/dkms.log" 2>&1
rc=$?
comment < "$TMP/dkms.log"
[[ $rc -eq 0 ]] || comment < "$TMP/dkms-trees/dkms/$MOD/$VERSION/build/make.log" 2>/dev/null
tap $rc "dkms add + install -k $KVER of the packaged sources (dkms $(dpkg-query -W -f='${Version}' dkms 2>/dev/null))"

built=$TMP/dkms-trees/install/$KVER/updates/dkms/$MOD.ko
vermagic=$(modinfo -F vermagic "$built" 2>/dev/null | cut -d' ' -f1)
modver=$(modinfo -F version "$built" 2>/dev/null)
echo "# installed: ${built#"$TMP"/dkms-trees/install/} (vermagic ${vermagic:-?}, version ${modver:-?})"
rc=1
if [[ $vermagic == "$KVER" && $modver == "$VERSION" ]]; then
	mkdir -p "$OUT" && cp "$built" "$KO" && rc=0
fi
echo "# module: $KO"
tap $rc "the module is in updates/dkms, built for $KVER, version $VERSION"

if [[ -n $VM ]]; then
	if [[ -f $KO ]]; then
		NE_VM_MODULE=$KO \
			tools/testing/selftests/drivers/virt/nitro_enclaves/run_vm_tests.sh main 2>&1 | comment
		rc=${PIPESTATUS[0]}
	else
		echo "# no module to load"
		rc=1
	fi
	tap "$rc" "the main VM run with the DKMS-built module"
fi

[[ $FAILED -eq 0 ]]
