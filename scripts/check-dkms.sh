#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check's "dkms" stage (TAP): the packaging works, without modifying
# the machine.
#
#  1-2  `dkms add` / `dkms build -k $KVER` of the sources `make dkms-source`
#       lays out, built by Debian's dkms against the installed
#       linux-headers-$KVER. dkms runs in a private mount namespace whose
#       /etc/dkms/framework.conf points its trees (and the MOK signing key
#       it would create) into a temp dir (scripts/ne-dkms.sh), so /usr/src,
#       /var/lib/dkms and /lib/modules are never written.
#  3    dkms.conf is current: no CLEAN, DEST_MODULE_LOCATION under /kernel,
#       BUILD_EXCLUSIVE_ARCH/CONFIG set; dkms skips another architecture
#       (exit 77) instead of building.
#  4    `dkms install --no-depmod` into the temp install tree puts the
#       module in updates/dkms: Debian's dkms ignores DEST_MODULE_LOCATION.
#  5    `dkms remove --all` leaves nothing, here or on the host.
#  6-8  `make install INSTALL_MOD_PATH=<scratch root>`: the module lands in
#       lib/modules/$KVER/updates, and with a stand-in for the kernel's own
#       kernel/drivers/virt/nitro_enclaves/nitro_enclaves.ko (Debian's 6.12
#       and Amazon Linux kernels ship one) modprobe and modinfo resolve
#       nitro_enclaves to ours.
set -uo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"
# shellcheck source=ne-dkms.sh
source "$NE_ROOT/scripts/ne-dkms.sh"
cd "$NE_ROOT" || exit 1

MOD=nitro_enclaves
VERSION=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ne-dkms.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=ne-tap.sh
source "$NE_ROOT/scripts/ne-tap.sh"

echo "1..8"
echo "# dkms $(dpkg-query -W -f='${Version}' dkms 2>/dev/null), $MOD $VERSION, kernel $KVER"

# Nothing of ours must exist before, so "unchanged" below means something.
before=$(ls -d /usr/src/$MOD-* /var/lib/dkms/$MOD /lib/modules/*/updates/dkms/$MOD.ko* 2>/dev/null)

make --no-print-directory -s dkms-source DKMS_SOURCE_TREE="$TMP/src" > /dev/null
rc=0
dkms_private "$TMP" dkms add -m $MOD -v "$VERSION" 2>&1 | sed 's/^/# /'
rc=${PIPESTATUS[0]}
if [[ $rc -eq 0 ]]; then
	dkms_private "$TMP" dkms build -m $MOD -v "$VERSION" -k "$KVER" 2>&1 | sed 's/^/# /'
	rc=${PIPESTATUS[0]}
fi
[[ $rc -eq 0 ]] || sed 's/^/# make.log: /' "$TMP"/dkms/$MOD/"$VERSION"/build/make.log 2>/dev/null
tap $rc "dkms add + dkms build -k $KVER (Debian's dkms, installed headers)"

built=$(ls "$TMP/dkms/$MOD/$VERSION/$KVER"/*/module/$MOD.ko* 2>/dev/null | head -n1)
vermagic=$( [[ -n $built ]] && modinfo -F vermagic "$built" | cut -d' ' -f1)
echo "# built: ${built:-none} (vermagic ${vermagic:-?})"
[[ $vermagic == "$KVER" ]]
tap $? "dkms built $MOD.ko for $KVER"

conf_ok=1
grep -q '^CLEAN=' dkms.conf && { echo "# dkms.conf: CLEAN is deprecated"; conf_ok=; }
grep -q '^DEST_MODULE_LOCATION\[0\]="/kernel/' dkms.conf ||
	{ echo "# dkms.conf: DEST_MODULE_LOCATION is not under /kernel"; conf_ok=; }
grep -q '^BUILD_EXCLUSIVE_ARCH=' dkms.conf && grep -q '^BUILD_EXCLUSIVE_CONFIG=' dkms.conf ||
	{ echo "# dkms.conf: no BUILD_EXCLUSIVE_ARCH or BUILD_EXCLUSIVE_CONFIG"; conf_ok=; }
dkms_private "$TMP" dkms build -m $MOD -v "$VERSION" -k "$KVER" -a ppc64le > "$TMP/excl.log" 2>&1
rc=$?
echo "# dkms build -a ppc64le: exit $rc: $(grep -o 'includes a BUILD_EXCLUSIVE directive' "$TMP/excl.log")"
[[ -n $conf_ok && $rc -eq 77 ]]
tap $? "dkms.conf: no CLEAN, /kernel location, BUILD_EXCLUSIVE_*; ppc64le skipped (77)"

mkdir -p "$TMP/install/$KVER"
dkms_private "$TMP" dkms install --no-depmod -m $MOD -v "$VERSION" -k "$KVER" 2>&1 | sed 's/^/# /'
rc=${PIPESTATUS[0]}
[[ $rc -eq 0 && -f $TMP/install/$KVER/updates/dkms/$MOD.ko ]]
tap $? "dkms install puts $KVER/updates/dkms/$MOD.ko (dkms ignores DEST_MODULE_LOCATION)"

dkms_private "$TMP" dkms remove --no-depmod -m $MOD -v "$VERSION" --all 2>&1 | sed 's/^/# /'
rc=${PIPESTATUS[0]}
left=$(ls "$TMP/dkms/$MOD" 2>/dev/null)
after=$(ls -d /usr/src/$MOD-* /var/lib/dkms/$MOD /lib/modules/*/updates/dkms/$MOD.ko* 2>/dev/null)
echo "# dkms tree after remove: ${left:-empty}; host before: ${before:-nothing}, after: ${after:-nothing}"
[[ $rc -eq 0 && -z $left && $before == "$after" ]]
tap $? "dkms remove --all; /usr/src, /var/lib/dkms, /lib/modules untouched"

# make install into a scratch root seeded like the kernel's own tree.
root=$TMP/root
mdir=$root/lib/modules/$KVER
mkdir -p "$mdir/kernel/drivers/virt/nitro_enclaves"
for f in modules.order modules.builtin modules.builtin.modinfo; do
	[[ -f $NE_KERNEL_DIR/lib/modules/$KVER/$f ]] && cp "$NE_KERNEL_DIR/lib/modules/$KVER/$f" "$mdir/"
done
make --no-print-directory modules > /dev/null 2>&1
cp drivers/virt/nitro_enclaves/$MOD.ko "$mdir/kernel/drivers/virt/nitro_enclaves/"
make --no-print-directory install INSTALL_MOD_PATH="$root" 2>&1 | sed 's/^/# /'
rc=${PIPESTATUS[0]}
[[ $rc -eq 0 && -f $mdir/updates/$MOD.ko ]]
tap $? "make install INSTALL_MOD_PATH=<scratch> puts lib/modules/$KVER/updates/$MOD.ko"

out=$(modprobe -d "$root" -S "$KVER" -n -v $MOD 2>&1)
echo "# modprobe -n -v: $out"
grep -q "insmod $mdir/updates/$MOD.ko" <<< "$out"
tap $? "modprobe -d <scratch> -S $KVER finds updates/$MOD.ko, not the kernel's"

out=$(modinfo -b "$root" -k "$KVER" -n $MOD 2>&1)
echo "# modinfo -n: $out"
[[ $out == "$mdir/updates/$MOD.ko" ]]
tap $? "modinfo -b <scratch> -k $KVER resolves to updates/$MOD.ko"

[[ $FAILED -eq 0 ]]
