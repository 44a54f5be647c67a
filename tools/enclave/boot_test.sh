#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot test of an enclave image (scripts/build-enclave-eif.sh) without the
# NE device: the kernel and the ramdisks of the image, taken out of the
# EIF, boot in a microvm of our QEMU with an ne-vsock-device (CID 16).
# Nothing listens on CID 3 there, so the enclave must get as far as the
# heartbeat, fail it with one clear console line, and end the VM (reboot,
# which -no-reboot turns into QEMU's exit). A second image, whose /init
# is boot_test_init (init.c's steps without the heartbeat), then shows
# the rest: /env and /cmd, the root and its mounts, the command, its exit
# status, the end. Output: TAP; exit 4 (skip) when QEMU, our device or
# the kernel is missing.
#
#   tools/enclave/boot_test.sh
#
# QEMU: $NE_QEMU, else $NE_BUILD/qemu-system-x86_64 (scripts/build-qemu.sh).
# NE_BOOT_TIMEOUT (seconds, default 30; a boot takes 6 to 13) bounds the
# VM's run.
#
# Under TCG on a loaded host, Debian's kernel often fails to calibrate its
# TSC against the PIT (the microvm has no HPET or ACPI PM timer); it then
# gets no tick and stalls before /init (about half of the boots at a load
# of 3 to 4 on 2 cores). So the test appends tsc_early_khz=<the host's TSC
# rate> to the image's command line (under TCG the guest's TSC runs at the
# host's): 4 of 4 boots under the same load got through. Kernel and
# ramdisks are the image's. NE_BOOT_APPEND replaces what is appended
# (empty: the image's command line alone); NE_MICROVM the -M value.
#
# The VM also gets an i8042, for the command line's reboot=k (Firecracker
# keeps a minimal one for the same reason): without it the kernel's
# keyboard-controller reset does nothing, it falls back to jumping to the
# firmware's reset vector, and the guest either triple-faults (QEMU exits
# 1.6 s after "reboot: machine restart") or boots again behind
# -no-reboot's back (seen once in 8 boots: QEMU never exited). With it
# the reset is immediate (15 ms) and -no-reboot turns it into QEMU's exit.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/ne-env.sh
source "$HERE/../../scripts/ne-env.sh"

QEMU=${NE_QEMU:-$NE_BUILD/qemu-system-x86_64}
TIMEOUT=${NE_BOOT_TIMEOUT:-30}
MACHINE=${NE_MICROVM:-microvm,acpi=on}
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

# image NAME ARGS...: build an image with build-enclave-eif.sh ARGS and
# take its kernel, command line and ramdisks out of it into $tmp (so what
# boots is what was measured).
image() {
	local name=$1 eif type off size
	shift
	rm -f "$tmp/kernel" "$tmp/initrd"
	eif=$("$NE_ROOT/scripts/build-enclave-eif.sh" "$@" 2>"$tmp/build.err")
	ok $? "$name: the image builds"
	if [[ ! -f $eif ]]; then
		sed 's/^/# /' "$tmp/build.err"
		return 1
	fi
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
	ok $? "$name: kernel, command line and ramdisks read from the image"
	[[ -z $append ]] || cmdline="$cmdline $append"
}

# boot: one run of the VM. Each console line gets the seconds since QEMU
# started (stamped as it arrives, with bash's clock: no process per line).
boot() {
	start=$EPOCHREALTIME
	timeout "$TIMEOUT" "$QEMU" -M "$MACHINE" -accel tcg -cpu max -smp 2 \
		-m 512M -nodefaults -no-reboot -display none -serial stdio \
		-L /usr/share/qemu -kernel "$tmp/kernel" -initrd "$tmp/initrd" \
		-append "$cmdline" -device ne-vsock-device,guest-cid=16 \
		-device i8042 < /dev/null 2>&1 |
		while IFS= read -r line; do
			printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"
		done > "$tmp/stamped"
	rc=${PIPESTATUS[0]}
	end=$EPOCHREALTIME
	awk -v s="$start" '{ t = $1 - s; sub(/^[^ ]* /, ""); printf "%.2f %s\n", t, $0 }' \
		"$tmp/stamped" > "$tmp/console.times"
	sed 's/^[0-9.]* //' "$tmp/console.times" > "$tmp/console"
}

# ended NAME: the checks every boot ends with, and its console lines.
ended() {
	local name=$1 failed_before=$2
	has "reboot: Restarting system"
	ok $? "$name: the enclave ends by rebooting"
	ok "$rc" "$name: QEMU exits by itself (status $rc; 124: ${TIMEOUT}s timeout)"
	! grep -q -e 'Kernel panic' -e 'Attempted to kill init' "$tmp/console"
	ok $? "$name: no kernel panic"
	# init's console lines (seconds since QEMU started, line).
	grep -E ' (init: |cmd: |\[ *[0-9.]+\] (Run /init|reboot: Restarting))' \
		"$tmp/console.times" | sed 's/^/# /'
	awk -v s="$start" -v e="$end" \
		'BEGIN { printf "# seconds from QEMU start to its exit: %.2f\n", e - s }'
	((failed > failed_before)) || return 0
	if has 'tsc: Unable to calibrate against PIT'; then
		echo "# the guest kernel could not calibrate its TSC against the PIT"
		echo "# and stalled without a tick: see the comment at the top"
	fi
	echo "# console:"
	sed 's/^/#   /' "$tmp/console.times" | tail -n 40
}

tsc_khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
append=${NE_BOOT_APPEND-${tsc_khz:+tsc_early_khz=$tsc_khz}}
echo "# appended to the image's command line: ${append:-nothing}"

# 1. The real init, up to the heartbeat that nobody answers.
f=$failed
if image real --cmd 'echo not reached' --env GREETING=hello; then
	boot
	has 'Unknown kernel command line parameters "nomodules"'
	ok $? "real: the kernel does not know \"nomodules\" (so modules still load)"
	has "init: enclave init started"
	ok $? "real: the kernel runs /init"
	has "init: loaded 6 modules from /modules.list"
	ok $? "real: the virtio and vsock modules load"
	has "init: vsock: local CID 16"
	ok $? "real: the vsock device appears with the VM's CID"
	has "init: heartbeat: connecting to CID 3 port 9000"
	ok $? "real: init tries the heartbeat"
	grep -q '^init: heartbeat: cannot connect to CID 3 port 9000: ' "$tmp/console" ||
		grep -q '^init: heartbeat: no answer' "$tmp/console"
	ok $? "real: the heartbeat fails with one clear line"
	! grep -q '^init: running' "$tmp/console"
	ok $? "real: nothing runs after a failed heartbeat"
	ended real "$f"
	t=$(grep -m1 'init: heartbeat: connecting' "$tmp/console.times" | cut -d' ' -f1)
	echo "# seconds from QEMU start to the heartbeat attempt: ${t:-none}"
fi

# 2. The steps after the heartbeat, with boot_test_init (init.c without
# the heartbeat): /env and /cmd, the root and its mounts, the command and
# its status, the end. One /cmd line per argument: the script is one.
f=$failed
make -s -C "$HERE" O="$NE_BUILD/enclave" boot-test-init >&2
# shellcheck disable=SC2016 # expanded by the enclave's shell
{
	script='echo "cmd: GREETING=$GREETING"; echo "cmd: args $# [$0] [$1]";'
	script+=' while read -r _ dir type _; do echo "cmd: mount $dir $type"; done < /proc/mounts;'
	script+=' [ -L /dev/stdout ] && echo "cmd: /dev/stdout is a link";'
	script+=' [ -e /init ] || echo "cmd: no /init here"; exit 3'
}
printf '%s\n' /bin/sh -c "$script" sh 'one arg' > "$tmp/cmd"
if image after-heartbeat --init "$NE_BUILD/enclave/boot_test_init" \
	--cmd-file "$tmp/cmd" --env 'GREETING=hello world' --env 'X=1'; then
	boot
	has "init: TEST INIT: no heartbeat"
	ok $? "after-heartbeat: the test init runs"
	has "init: running /bin/sh"
	ok $? "after-heartbeat: /cmd read, the command started"
	has "cmd: GREETING=hello world"
	ok $? "after-heartbeat: the command has /env's environment"
	has "cmd: args 1 [sh] [one arg]"
	ok $? "after-heartbeat: one argument per /cmd line"
	for m in "/dev devtmpfs" "/proc proc" "/run tmpfs" "/tmp tmpfs" \
		 "/dev/shm tmpfs" "/dev/pts devpts" "/sys sysfs" \
		 "/sys/fs/cgroup tmpfs" "/sys/fs/cgroup/memory cgroup"; do
		has "cmd: mount $m"
		ok $? "after-heartbeat: $m mounted in the root"
	done
	has "cmd: no /init here"
	ok $? "after-heartbeat: the command's root is /rootfs"
	has "cmd: /dev/stdout is a link"
	ok $? "after-heartbeat: /dev/stdout and the other links"
	has "init: command exited with status 3"
	ok $? "after-heartbeat: init reports the command's exit status"
	ended after-heartbeat "$f"
fi

# 3. A command that does not exist: one clear line, and the VM ends.
f=$failed
if image no-command --init "$NE_BUILD/enclave/boot_test_init" \
	--cmd /no/such/program; then
	boot
	has "init: cannot run /no/such/program: No such file or directory"
	ok $? "no-command: one clear line"
	has "init: command exited with status 127"
	ok $? "no-command: status 127, as a shell gives"
	ended no-command "$f"
fi

echo "1..$n"
((failed == 0))
