#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Real enclaves in the emulator (enclave-vm=on): the test VM's driver and
# the sample launcher start enclave images that really boot in a sibling
# microvm, with vsock between the two VMs. TAP on stdout.
#
#   tools/testing/ne_enclave_test/enclave_test.sh
#
# Run "boot" (guest.sh boot, hook.sh): the heartbeat comes from the image's
# init; 64 MiB each way between a parent and an enclave application, to a
# listener on each side; the application's exit, a power-off and a kernel
# panic each end the enclave (POLLHUP); closing the enclave fd while it
# boots leaves no enclave VM process; a corrupted image is a crash; the
# debug console streams on CID 0 port 10000 + CID (--attach-console);
# unplugging the NE device (QMP device_del) ends a running enclave's VM.
# Run "kill": kill -9 of the test VM's QEMU leaves no enclave VM process.
#
# The enclave console is kept in $NE_BUILD/enclave-test/<run>.enclave.log.
# Exit status: 0 all passed, 1 a failure, 4 skipped (no QEMU or kernel).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../../scripts/ne-env.sh
source "$HERE/../../../scripts/ne-env.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=../../../scripts/ne-tap.sh
source "$NE_ROOT/scripts/ne-tap.sh"

OUT=$NE_BUILD/enclave-test
NE_VM=$NE_ROOT/scripts/ne-vm
BYTES=67108864

skip_all() {
	echo "1..0 # SKIP $1"
	exit 4
}

die() {
	tap 1 "$1"
	exit 1
}

# TAP lines of a log ("ok N TEXT", "not ok N TEXT"), renumbered here.
collect() {	# collect PREFIX FILE
	local line
	while IFS= read -r line; do
		case $line in
		"ok "*) tap 0 "$1: ${line#ok [0-9]* }" ;;
		"not ok "*) tap 1 "$1: ${line#not ok [0-9]* }" ;;
		"# "*) echo "$line" ;;
		esac
	done < <(tr -d '\r' < "$2" | grep -a -E '^(ok|not ok) [0-9]+ |^# ')
}

build() {
	local eif=$NE_ROOT/scripts/build-enclave-eif.sh pipe
	make -s -C "$NE_ROOT/tools/testing/ne_vsock_pipe" O="$NE_BUILD" >&2 ||
		die "build: ne_vsock_pipe"
	make -s -C "$NE_ROOT/samples/nitro_enclaves" O="$NE_BUILD/samples" >&2 ||
		die "build: the sample launcher"
	pipe=$NE_BUILD/ne_vsock_pipe
	"$eif" --cmd "/bin/sh /app.sh" --env "NE_TEST_BYTES=$BYTES" \
		--env PATH=/bin --add "$HERE/app.sh:app.sh" \
		--add "$pipe:bin/ne_vsock_pipe" -o "$OUT/app.eif" >&2 ||
		die "build: the application image"
	"$eif" --cmd "/bin/poweroff -f" -o "$OUT/poweroff.eif" >&2 ||
		die "build: the power-off image"
	printf '%s\n' /bin/sh -c "echo c > /proc/sysrq-trigger" \
		> "$OUT/panic.cmd"
	"$eif" --cmd-file "$OUT/panic.cmd" --cmdline-append panic=1 \
		-o "$OUT/panic.eif" >&2 ||
		die "build: the panic image"
	# The VM's limit is 1983 bytes of the image's command line.
	"$eif" --cmd /bin/true --cmdline-append "$(printf 'x%.0s' {1..2000})" \
		-o "$OUT/longcmd.eif" >&2 || die "build: the long-cmdline image"
	"$eif" --cmd /bin/true --kernel "$pipe" --no-modules \
		-o "$OUT/badkernel.eif" >&2 || die "build: the bad-kernel image"
}

# One test VM run: guest.sh MODE with the hook in MODE.
vm_run() {	# vm_run MODE
	local mode=$1 rc=0
	rm -f "$OUT/$mode.enclave.log" "$OUT/$mode.hook.tap.pids"
	NE_HOOK_MODE=$mode NE_HOOK_TAP=$OUT/$mode.hook.tap \
	NE_VM_LOG=$OUT/$mode.log \
	"$NE_VM" run --ne-opts "enclave-vm=on,enclave-log=$OUT/$mode.enclave.log" \
		--add "$HERE/guest.sh" --add "$NE_BUILD/samples/ne_ioctl_sample" \
		--add "$NE_BUILD/ne_vsock_pipe" --add "$OUT/app.eif" \
		--add "$OUT/poweroff.eif" --add "$OUT/panic.eif" \
		--add "$OUT/longcmd.eif" --add "$OUT/badkernel.eif" \
		--qemu-arg -d --qemu-arg guest_errors \
		--host-hook "$HERE/hook.sh" --timeout 1200 \
		-- ./guest.sh "$mode" > /dev/null 2> "$OUT/$mode.err" || rc=$?
	collect "$mode" "$OUT/$mode.log"
	collect "$mode" "$OUT/$mode.hook.tap"
	if [[ $mode == boot ]]; then
		# Why those two crashed: the device's log, the VM's error.
		grep -aq "cannot boot the enclave image: command line of" \
			"$OUT/$mode.log"
		tap $? "$mode: the long command line is refused as such"
		grep -aq "ne-enclave-.*: .*kernel\|Error loading" "$OUT/$mode.log"
		tap $? "$mode: the enclave VM said why it could not boot"
	fi
	if [[ $mode == kill ]]; then
		# The hook killed QEMU: ne-vm reports that as 124 (QEMU
		# killed) or 125 (no exit marker).
		local pids=()
		read -ra pids < "$OUT/kill.hook.tap.pids" 2>/dev/null
		[[ ${#pids[@]} -gt 0 ]] && gone_within 2 "${pids[@]}"
		tap $? "kill: kill -9 of the test VM's QEMU leaves no enclave VM process"
		[[ $rc == 124 || $rc == 125 ]] && return
	elif [[ $rc == 0 || $rc == 1 ]]; then
		return
	fi
	sed 's/^/# /' "$OUT/$mode.err"
	tap 1 "$mode: ne-vm exited $rc (see $OUT/$mode.log)"
}

main() {
	local qemu=${NE_QEMU:-$NE_BUILD/qemu-system-x86_64}

	[[ -x $qemu ]] || skip_all "no QEMU at $qemu (make qemu)"
	[[ -f $NE_KERNEL_DIR/boot/vmlinuz-$KVER ]] ||
		skip_all "no guest kernel (scripts/ne-vm fetches it)"
	mkdir -p "$OUT"
	echo "TAP version 13"
	build
	vm_run boot
	vm_run kill
	echo "1..$N"
	[[ $FAILED == 0 ]]
}

main "$@"
