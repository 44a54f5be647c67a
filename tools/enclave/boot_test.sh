#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot test of an enclave image (scripts/build-enclave-eif.sh) without the
# NE device: the kernel and the ramdisks of the image, taken out of the
# EIF, boot in a microvm of our QEMU with an ne-vsock-device (CID 16).
# Nothing listens on CID 3 there, so the enclave must get as far as the
# heartbeat, fail it with one clear console line, and end the VM (reboot,
# which -no-reboot turns into QEMU's exit). Output: TAP; exit 4 (skip)
# when QEMU, our device or the kernel is missing.
#
#   tools/enclave/boot_test.sh
#
# QEMU: $NE_QEMU, else $NE_BUILD/qemu-system-x86_64 (scripts/build-qemu.sh).
# NE_BOOT_TIMEOUT (seconds, default 60; a boot takes about 8) bounds the
# VM's run.
#
# Under TCG on a loaded host, Debian's kernel may fail to calibrate its
# TSC against the PIT (microvm has neither HPET nor ACPI PM timer) and then
# stall before /init; the test then fails on the timeout and says so.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/ne-env.sh
source "$HERE/../../scripts/ne-env.sh"

QEMU=${NE_QEMU:-$NE_BUILD/qemu-system-x86_64}
TIMEOUT=${NE_BOOT_TIMEOUT:-60}
EIF_TOOL=$NE_BUILD/eif/eif

skip() { echo "1..0 # SKIP $*"; exit 4; }

[[ -x $QEMU ]] || skip "no QEMU $QEMU (scripts/build-qemu.sh, or set NE_QEMU)"
"$QEMU" -device help 2>/dev/null | grep -q '"ne-vsock-device"' ||
	skip "$QEMU has no ne-vsock-device (not our build)"
[[ -f $NE_KERNEL_DIR/boot/vmlinuz-$KVER ]] ||
	skip "no guest kernel $NE_KERNEL_DIR/boot/vmlinuz-$KVER (scripts/ne-vm fetches it)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
ok() { # ok COND-STATUS DESCRIPTION
	n=$((n + 1))
	if [[ $1 == 0 ]]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
has() { grep -qF -- "$1" "$tmp/console"; }

eif=$("$NE_ROOT/scripts/build-enclave-eif.sh" --cmd 'echo not reached' \
	--env GREETING=hello 2>"$tmp/build.err")
ok $? "the image builds"
if [[ ! -f $eif ]]; then
	sed 's/^/# /' "$tmp/build.err"
	echo "1..$n"
	exit 1
fi

# Kernel and ramdisks out of the EIF: what boots is what was measured.
# A section's Offset is its 12-byte header; its data follows.
"$EIF_TOOL" describe --json --details "$eif" |
	jq -r '.Details.Sections[] | "\(.TypeName) \(.Offset) \(.Size)"' |
	while read -r type off size; do
		case $type in
		kernel) dst=$tmp/kernel ;;
		ramdisk) dst=$tmp/initrd ;;
		*) continue ;;
		esac
		tail -c +$((off + 13)) "$eif" | head -c "$size" >> "$dst"
	done
cmdline=$("$EIF_TOOL" describe --json --details "$eif" | jq -r .Details.Cmdline)
[[ -s $tmp/kernel && -s $tmp/initrd && -n $cmdline ]]
ok $? "kernel, command line and ramdisks read from the image"

# Each console line with the seconds since QEMU started (stamped as it
# arrives, with bash's clock: no process per line).
start=$EPOCHREALTIME
timeout "$TIMEOUT" "$QEMU" -M microvm,acpi=on -accel tcg -cpu max -smp 2 \
	-m 512M -nodefaults -no-reboot -display none -serial stdio \
	-L /usr/share/qemu -kernel "$tmp/kernel" -initrd "$tmp/initrd" \
	-append "$cmdline" -device ne-vsock-device,guest-cid=16 \
	< /dev/null 2>&1 |
	while IFS= read -r line; do
		printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"
	done > "$tmp/stamped"
rc=${PIPESTATUS[0]}
end=$EPOCHREALTIME
awk -v s="$start" '{ t = $1 - s; sub(/^[^ ]* /, ""); printf "%.2f %s\n", t, $0 }' \
	"$tmp/stamped" > "$tmp/console.times"
sed 's/^[0-9.]* //' "$tmp/console.times" > "$tmp/console"

ok "$rc" "QEMU exits by itself (status $rc; 124 is the ${TIMEOUT}s timeout)"
has 'Unknown kernel command line parameters "nomodules"'
ok $? "the kernel does not know \"nomodules\" (so modules still load)"
has "init: enclave init started"
ok $? "the kernel runs /init"
has "init: loaded 6 modules from /modules.list"
ok $? "the virtio and vsock modules load"
has "init: vsock: local CID 16"
ok $? "the vsock device appears with the VM's CID"
has "init: heartbeat: connecting to CID 3 port 9000"
ok $? "init tries the heartbeat"
grep -q '^init: heartbeat: cannot connect to CID 3 port 9000: ' "$tmp/console" ||
	grep -q '^init: heartbeat: no answer' "$tmp/console"
ok $? "the heartbeat fails with one clear line"
! grep -q '^init: running' "$tmp/console"
ok $? "nothing runs after a failed heartbeat"
has "reboot: Restarting system"
ok $? "the enclave ends by rebooting"
! grep -q -e 'Kernel panic' -e 'Attempted to kill init' "$tmp/console"
ok $? "no kernel panic"

# The console lines of init (seconds since QEMU started, line).
grep -E ' (init: |\[ *[0-9.]+\] (Run /init|reboot: Restarting))' \
	"$tmp/console.times" | sed 's/^/# /'
t=$(grep -m1 'init: heartbeat: connecting' "$tmp/console.times" | cut -d' ' -f1)
echo "# seconds from QEMU start to the heartbeat attempt: ${t:-none}"
awk -v s="$start" -v e="$end" \
	'BEGIN { printf "# seconds from QEMU start to its exit: %.2f\n", e - s }'
if ((failed)) && grep -q 'tsc: Unable to calibrate against PIT' "$tmp/console"; then
	echo "# the guest kernel could not calibrate its TSC against the PIT:"
	echo "# the host was too loaded for TCG (see the comment at the top)"
fi
if ((failed)); then
	echo "# console:"
	sed 's/^/#   /' "$tmp/console.times" | tail -n 40
fi
echo "1..$n"
((failed == 0))
