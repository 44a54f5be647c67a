#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side of the real-boot test, run by ne-vm --host-hook: follows the
# guest's "enclave-test: STEP" lines and checks the processes of the enclave
# VMs, the children of the test VM's QEMU. TAP lines go to $NE_HOOK_TAP.
#
#   NE_HOOK_MODE=boot  while the enclave fd is closed mid-boot: the VM
#                      process existed, and is gone within 10 s after;
#                      then QMP device_del of the NE device (id ne0)
#                      while an enclave runs: its VM gone within 10 s
#   NE_HOOK_MODE=kill  once an enclave runs: note its VM processes in
#                      $NE_HOOK_TAP.pids and kill -9 the test VM's QEMU
#                      (ne-vm ends this hook then: enclave_test.sh checks
#                      that the noted processes go away)
set -uo pipefail

HOOK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HOOK_DIR/lib.sh"

nr=0
fails=0
tap() {	# tap 0|1 TEXT
	nr=$((nr + 1))
	if [[ $1 == 0 ]]; then
		echo "ok $nr hook: $2" >> "$NE_HOOK_TAP"
	else
		echo "not ok $nr hook: $2" >> "$NE_HOOK_TAP"
		fails=$((fails + 1))
	fi
}

wait_console() {	# wait_console TEXT SEC
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -aq "enclave-test: $1" "$NE_VM_CONSOLE" && return 0
		sleep 0.1
	done
	return 1
}

# One QMP command: qmp NAME [KEY=VALUE...] (string values), through
# tools/testing/ne_qmp.py. Fails if QEMU answers an error.
qmp() {
	python3 - "$HOOK_DIR/.." "$NE_QMP_SOCK" "$@" <<'EOF'
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import ne_qmp  # noqa: E402

r = ne_qmp.Qmp(sys.argv[2], None).cmd(
    sys.argv[3], **dict(a.split("=", 1) for a in sys.argv[4:]))
sys.exit(1 if "error" in r else 0)
EOF
}

# Wait for the guest's STEP, then the enclave VMs (the children of the
# test VM's QEMU) are in pids; one must run.
enclave_vms() {	# enclave_vms STEP SEC TEXT
	if ! wait_console "$1" "$2"; then
		tap 1 "the guest reached the $1 step"
		exit 1
	fi
	read -ra pids <<< "$(pgrep -P "$qpid" | tr '\n' ' ')"
	[[ ${#pids[@]} -gt 0 ]]
	tap $? "$3"
}

# The test VM's QEMU (not the timeout command that started it).
qemu_pid() {
	local p
	for p in $(pgrep -f -- "unix:$NE_QMP_SOCK"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == qemu* ]] && echo "$p"
	done | head -n1
}

: > "$NE_HOOK_TAP"
qpid=
for ((i = 0; i < 100 && ${#qpid} == 0; i++)); do
	qpid=$(qemu_pid)
	sleep 0.1
done
if [[ -z $qpid ]]; then
	tap 1 "the test VM's QEMU process found"
	exit 1
fi

case ${NE_HOOK_MODE:-boot} in
boot)
	if ! wait_console close-while-booting 1200; then
		tap 1 "the guest reached the close-while-booting step"
		exit 1
	fi
	seen=
	for ((i = 0; i < 600; i++)); do
		seen+=" $(pgrep -P "$qpid" | tr '\n' ' ')"
		grep -aq "enclave-test: closed" "$NE_VM_CONSOLE" && break
		sleep 0.1
	done
	read -ra pids <<< "$seen"
	[[ ${#pids[@]} -gt 0 ]]
	tap $? "the enclave VM process ran while the enclave booted"
	gone_within 10 "${pids[@]}"
	tap $? "closing the enclave fd while it boots leaves no enclave VM process"

	enclave_vms unplug 1200 "an enclave VM process runs before the unplug"
	qmp device_del id=ne0
	tap $? "QMP device_del of the NE device"
	gone_within 10 "${pids[@]}"
	tap $? "unplugging the NE device leaves no enclave VM process"
	;;
kill)
	enclave_vms running 600 "an enclave VM process runs"
	echo "${pids[*]}" > "$NE_HOOK_TAP.pids"
	kill -9 "$qpid"
	;;
esac
[[ $fails == 0 ]]
