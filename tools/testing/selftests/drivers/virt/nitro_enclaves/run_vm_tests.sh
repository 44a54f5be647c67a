#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the Nitro Enclaves kselftests and the sample launcher in test VMs
# (scripts/ne-vm) and print one TAP stream on stdout: every result line is
# renumbered as "ok N <run>/<binary>: <test>" so that counting lines that
# start with "ok"/"not ok" counts each test once. Everything else from the
# guest is passed through as "# " diagnostics.
#
#   run_vm_tests.sh [RUN]...     RUN: main multi limits faults kunit boot
#                                (default: all but kunit)
#
# Environment:
#   NE_SELFTEST_BIN  directory with the test binaries ($NE_BUILD/selftests;
#                    built there with this directory's Makefile if missing)
#   NE_SAMPLE        the static sample launcher ($NE_BUILD/samples/ne_ioctl_sample,
#                    else samples/nitro_enclaves/ne_ioctl_sample)
#   NE_VM            the VM runner (scripts/ne-vm)
#   NE_VM_LOGDIR     keep each run's console log here
#   NE_VM_OPTS       extra ne-vm options for every run, e.g. another kernel:
#                    "--kernel VMLINUZ --modules DIR" (with NE_VM_MODULE=
#                    the nitro_enclaves.ko built for it)
#   NE_KUNIT_MODULE  nitro_enclaves_kunit.ko for the kunit run (default: next
#                    to NE_VM_MODULE); the kernel needs CONFIG_KUNIT. When
#                    set, the main run runs the KUnit suites first (one
#                    boot less on the slow debug kernel)
#   NE_KMEMLEAK=1    end every run with a kmemleak scan that must find
#                    nothing (a debug kernel with CONFIG_DEBUG_KMEMLEAK);
#                    kmemleak's own periodic scan is turned off
#   NE_FUZZ_CALLS    calls of the bounded fuzz run in "faults" (10000),
#   NE_FUZZ_SEED     and its seed (default: a fresh one, printed)
#
# Exit status: 0 if every test passed or skipped, 1 otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../../../../.." && pwd)
# shellcheck source=/dev/null
source "$ROOT/scripts/ne-env.sh"

BIN=${NE_SELFTEST_BIN:-$NE_BUILD/selftests}
VM=${NE_VM:-$ROOT/scripts/ne-vm}
SAMPLE=${NE_SAMPLE:-}
LOGDIR=${NE_VM_LOGDIR:-}
read -ra VM_OPTS <<< "${NE_VM_OPTS:-}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ne-selftests.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

N=0		# results printed so far
FAILED=0
SKIPPED=0

say() { echo "# $*"; }

result() {	# result ok|not-ok description
	N=$((N + 1))
	if [[ $1 == ok ]]; then
		echo "ok $N $2"
		[[ $2 == *"# SKIP"* ]] && SKIPPED=$((SKIPPED + 1))
	else
		echo "not ok $N $2"
		FAILED=$((FAILED + 1))
	fi
}

find_sample() {
	local c
	for c in "$SAMPLE" "$NE_BUILD/samples/ne_ioctl_sample" \
		 "$ROOT/samples/nitro_enclaves/ne_ioctl_sample"; do
		[[ -n $c && -x $c ]] && { SAMPLE=$c; return 0; }
	done
	SAMPLE=
	return 1
}

build_tests() {
	local p missing=
	for p in $(make -s -C "$HERE" print-progs); do
		[[ -x $BIN/$p ]] || missing=1
	done
	[[ -z $missing ]] && return 0
	say "building the selftests into $BIN"
	make -s -C "$HERE" O="$BIN" >&2
}

# The guest side: run each item between markers the host parses. Items are
# binaries in /opt/ne, or shell functions defined here that print TAP.
# shellcheck disable=SC2016 # expanded in the guest
GUEST_LIB='
echo 1 > /proc/sys/kernel/printk
ne_item() {
	echo "NE-TAP-BEGIN $1"
	"$@"
	echo "NE-TAP-END $1 rc=$?"
}
ne_tap1() {	# ne_tap1 NAME CMD...: one TAP result for CMD
	name=$1; shift
	echo "1..1"
	if "$@" > /tmp/out 2>&1; then echo "ok 1 $name"; else echo "not ok 1 $name"; fi
	sed "s/^/# /" /tmp/out
}
insmod_ne() { ne_tap1 "insmod nitro_enclaves.ko" insmod /opt/ne/nitro_enclaves.ko; }
rmmod_ne() { ne_tap1 "rmmod nitro_enclaves (pool CPUs back online)" sh -c "rmmod nitro_enclaves && grep -qx \"\$(cat /sys/devices/system/cpu/possible)\" /sys/devices/system/cpu/online"; }
# KUnit suites of nitro_enclaves_kunit.ko, one TAP line per case.
kunit_run() {
	if ! [ -f /opt/ne/nitro_enclaves_kunit.ko ]; then
		echo "1..0 # SKIP no nitro_enclaves_kunit.ko (debug kernel only)"; return 0
	fi
	if ! [ -d /sys/kernel/debug/kunit ]; then
		echo "1..0 # SKIP kernel without CONFIG_KUNIT_DEBUGFS"; return 0
	fi
	insmod /opt/ne/nitro_enclaves_kunit.ko || { echo "1..1"; echo "not ok 1 insmod nitro_enclaves_kunit.ko"; return 1; }
	n=0
	for r in /sys/kernel/debug/kunit/nitro_enclaves*/results; do
		s=${r%/results}; s=${s##*/}
		sed "s/^/# [$s] /" "$r"
		awk -v s="$s" -v n="$n" '\''/^    (not )?ok [0-9]+ /{ st = ($1 == "not") ? "not ok" : "ok"; sub(/^ *(not )?ok [0-9]+ (- )?/, ""); n++; print st, n, s "." $0 } END { print "NE-KUNIT-N", n }'\'' "$r" > /tmp/k
		grep -v NE-KUNIT-N /tmp/k
		n=$(sed -n "s/NE-KUNIT-N //p" /tmp/k)
	done
	echo "1..$n"
	rmmod nitro_enclaves_kunit
}
# Scan only when asked: under TCG the automatic scan (60 s after boot, then
# every 10 min) takes a vCPU from the tests for a minute or more.
kmemleak_manual() {
	k=/sys/kernel/debug/kmemleak
	if [ -w $k ]; then echo scan=off > $k; fi
}
# Two scans (the first may not see recent frees); any report fails.
kmemleak_check() {
	k=/sys/kernel/debug/kmemleak
	if ! [ -w $k ]; then echo "1..0 # SKIP no kmemleak"; return 0; fi
	echo "1..1"
	echo scan > $k; sleep 2; echo scan > $k
	cat $k > /tmp/leaks
	if [ -s /tmp/leaks ]; then
		sed "s/^/# /" /tmp/leaks | head -100
		echo "not ok 1 kmemleak: no unreferenced objects"
	else
		echo "ok 1 kmemleak: no unreferenced objects"
	fi
}
sample_check() {
	echo "1..1"
	head -c 3000000 /dev/urandom > /tmp/dummy.eif
	echo 2,3 > /sys/module/nitro_enclaves/parameters/ne_cpus
	before=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	ne_ioctl_sample --no-heartbeat --memory 128 --time 1 /tmp/dummy.eif > /tmp/out 2>&1
	rc=$?
	after=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	sed "s/^/# /" /tmp/out
	ok=1
	[ $rc -eq 0 ] || { echo "# sample exited $rc"; ok=0; }
	for want in "Enclave fd" "vCPU" "Enclave started, CID" "closed"; do
		grep -q "$want" /tmp/out || { echo "# sample output lacks \"$want\""; ok=0; }
	done
	[ "$before" = "$after" ] || { echo "# hugepages free $before before, $after after"; ok=0; }
	# Explicit vCPU ids, debug mode, a requested CID.
	ne_ioctl_sample --no-heartbeat --memory 64 --cpu-ids 2,3 --debug --cid 77 --time 0 \
		/tmp/dummy.eif > /tmp/out 2>&1 || { echo "# second run failed"; ok=0; }
	sed "s/^/# /" /tmp/out
	grep -q "CID 77 (debug mode)" /tmp/out || { echo "# no \"CID 77 (debug mode)\""; ok=0; }
	if [ $ok = 1 ]; then echo "ok 1 ne_ioctl_sample launches and closes an enclave"
	else echo "not ok 1 ne_ioctl_sample launches and closes an enclave"; fi
	# The error table: a start with no memory names the NE_ERR code.
	echo "# --- expected failure: 1 vCPU of a 2-thread core ---"
	ne_ioctl_sample --no-heartbeat --memory 64 --vcpus 1 --time 0 /tmp/dummy.eif 2>&1 | sed "s/^/# /"
}
'

# run_vm NAME GUEST_SCRIPT [ne-vm options]...
run_vm() {
	local name=$1 script=$2 log t0 rc
	shift 2
	log=$TMP/$name.log
	say "=== VM run '$name': $*"
	t0=$(date +%s)
	[[ -n ${NE_KMEMLEAK:-} ]] && script="kmemleak_manual
$script
ne_item kmemleak_check"
	"$VM" run "${VM_OPTS[@]}" "$@" -- sh -c "$GUEST_LIB
$script" > "$log" 2> "$TMP/$name.err"
	rc=$?
	say "VM run '$name' took $(( $(date +%s) - t0 )) s, ne-vm exit $rc"
	[[ -n $LOGDIR ]] && mkdir -p "$LOGDIR" && cp "$log" "$LOGDIR/$name.log"
	parse_log "$name" "$log"
	if [[ $rc -ne 0 ]]; then
		sed 's/^/# /' "$TMP/$name.err"
		result not-ok "$name/vm: ne-vm exited $rc (122: bad kernel log, 124: timeout, 125: crash)"
	fi
}

# Renumber the TAP of each item in the console log; check plans.
parse_log() {
	local name=$1 log=$2 line item='' plan=0 seen=0 bad=0 test='' rest
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		NE-TAP-BEGIN\ *)
			# A marker lost in garbled output loses no result silently.
			[[ -n $item ]] && result not-ok "$name/$item: no end marker before the next item"
			item=${line#NE-TAP-BEGIN }; plan=0; seen=0; bad=0; test=''
			continue ;;
		NE-TAP-END\ *)
			local rc=${line##*rc=} end=${line#NE-TAP-END }
			end=${end% rc=*}
			if [[ $end != "$item" ]]; then
				result not-ok "$name/$end: end marker without its begin marker, results not counted"
			elif [[ $seen -lt $plan ]]; then
				result not-ok "$name/$item: only $seen of $plan results (exit $rc${test:+, last started: $test})"
			elif [[ $rc != 0 && $rc != 4 && $bad -eq 0 ]]; then
				result not-ok "$name/$item: exited $rc"
			fi
			item=''
			continue ;;
		esac
		if [[ -z $item ]]; then
			echo "# $line"
			continue
		fi
		if [[ $line =~ ^1\.\.0\ *#\ *[Ss][Kk][Ii][Pp]\ *(.*)$ ]]; then
			result ok "$name/$item # SKIP ${BASH_REMATCH[1]}"
			echo "# [$item] $line"
		elif [[ $line =~ ^1\.\.([0-9]+) ]]; then
			plan=${BASH_REMATCH[1]}
			echo "# [$item] $line"
		elif [[ $line =~ ^#\ +RUN\ +([^ ]+) ]]; then
			test=${BASH_REMATCH[1]}
			echo "# [$item] $line"
		elif [[ $line =~ ^(not\ )?ok\ [0-9]+\ ?(.*)$ ]]; then
			seen=$((seen + 1))
			rest=${BASH_REMATCH[2]}
			[[ $rest == "# "* && -n $test ]] && rest="$test $rest"
			if [[ -n ${BASH_REMATCH[1]} ]]; then
				bad=$((bad + 1))
				result not-ok "$name/$item: $rest"
			else
				result ok "$name/$item: $rest"
			fi
		else
			echo "# [$item] $line"
		fi
	done < "$log"
	if [[ -n $item ]]; then
		result not-ok "$name/$item: no end marker (guest crashed or timed out after $seen of $plan results${test:+, last started: $test})"
	fi
}

run_main() {
	local adds=() p s=''
	if [[ -n ${NE_KUNIT_MODULE:-} ]]; then
		[[ -f $NE_KUNIT_MODULE ]] && adds+=(--add "$NE_KUNIT_MODULE")
		s+="ne_item kunit_run
"
	fi
	for p in ne_abi_test ne_smoke ne_ioctl ne_sysfs ne_diag; do
		[[ -x $BIN/$p ]] && adds+=(--add "$BIN/$p") && s+="ne_item $p
"
	done
	if find_sample; then
		adds+=(--add "$SAMPLE")
		s+="ne_item sample_check
"
	else
		result ok "main/sample: ne_ioctl_sample # SKIP not built"
	fi
	run_vm main "ne_item insmod_ne
$s
ne_item rmmod_ne" "${adds[@]}" --timeout 300
}

run_multi() {
	run_vm multi "ne_item insmod_ne
export NE_POOL=2-7
ne_item ne_multi
ne_item rmmod_ne" --add "$BIN/ne_multi" --timeout 240 \
		--qemu-arg -smp --qemu-arg 8,sockets=1,cores=4,threads=2
}

run_limits() {
	# Small device limits, and a second NUMA node (memory only) for
	# NE_ERR_MEM_DIFFERENT_NUMA_NODE.
	run_vm limits "ne_item insmod_ne
export NE_MEM_REGIONS=4 NE_MAX_SLOTS=4
ne_item ne_limits
ne_item rmmod_ne" --add "$BIN/ne_limits" --timeout 120 \
		--ne-opts mem-regions=4,max-slots=4 \
		--qemu-arg -object --qemu-arg memory-backend-ram,id=m0,size=2G \
		--qemu-arg -object --qemu-arg memory-backend-ram,id=m1,size=2G \
		--qemu-arg -numa --qemu-arg node,nodeid=0,cpus=0-3,memdev=m0 \
		--qemu-arg -numa --qemu-arg node,nodeid=1,memdev=m1
}

# Device faults, surprise removal (sysfs in the guest, then device_del/
# device_add from the host over QMP), races and a bounded fuzz run. The
# fault tests get two pool cores: some of them need a running enclave and
# a second one beside it.
run_faults() {
	local fuzz=(ne_fuzz --calls "${NE_FUZZ_CALLS:-10000}")
	[[ -n ${NE_FUZZ_SEED:-} ]] && fuzz+=(--seed "$NE_FUZZ_SEED")
	run_vm faults "ne_removal_qmp() { NE_REMOVAL_QMP=1 ne_removal; }
ne_faults() { NE_POOL=2-5 /opt/ne/ne_faults; }
ne_item insmod_ne
ne_item ne_faults
ne_item ne_removal
ne_item ne_removal_qmp
ne_item ne_races
ne_item ${fuzz[*]}
ne_item rmmod_ne" --add "$BIN/ne_faults" --add "$BIN/ne_races" \
		--add "$BIN/ne_fuzz" --add "$BIN/ne_removal" \
		--host-hook "$HERE/ne_removal_qmp.py" --timeout 1800 \
		--qemu-arg -smp --qemu-arg 6,sockets=1,cores=3,threads=2
}

run_kunit() {
	local ko=${NE_KUNIT_MODULE:-$(dirname "${NE_VM_MODULE:-$ROOT/drivers/virt/nitro_enclaves/nitro_enclaves.ko}")/nitro_enclaves_kunit.ko}
	local adds=()
	[[ -f $ko ]] && adds=(--add "$ko")
	run_vm kunit "ne_item insmod_ne
ne_item kunit_run
ne_item rmmod_ne" "${adds[@]}" --timeout 120
}

# Enclave boot: the device checks and measures the demo EIF and the
# emulated enclave sends its heartbeat through ne-vsock-pci (eif-check=on).
# ne_boot, then the sample's full flow: a good image boots, a corrupted one
# is reported as a crash.
run_boot() {
	local eif vsock=()
	if ! eif=$("$ROOT/scripts/build-demo-eif.sh" 2> "$TMP/eif.err"); then
		sed 's/^/# /' "$TMP/eif.err"
		result not-ok "boot/demo-eif: scripts/build-demo-eif.sh failed"
		return
	fi
	grep -q ne-vsock-pci "$VM" || vsock=(--qemu-arg -device --qemu-arg ne-vsock-pci)
	find_sample || { result not-ok "boot: no ne_ioctl_sample"; return; }
	# The device's own image tests (no driver bound), when built.
	local conf=$NE_BUILD/ne_pci_conformance conf_item=''
	if [[ -x $conf ]]; then
		vsock+=(--add "$conf")
		conf_item='ne_item ne_pci_conformance --eif'
	fi
	# shellcheck disable=SC2016 # expanded in the guest
	run_vm boot 'sample_boot() {
	echo "1..2"
	echo 2,3 > /sys/module/nitro_enclaves/parameters/ne_cpus
	ne_ioctl_sample --memory 64 --time 1 demo.eif > /tmp/out 2>&1; rc=$?
	sed "s/^/# /" /tmp/out
	if [ $rc = 0 ] && grep -q "enclave booted" /tmp/out; then echo "ok 1 sample: heartbeat, enclave booted"; else echo "not ok 1 sample: heartbeat, enclave booted (exit $rc)"; fi
	cp demo.eif /tmp/bad.eif
	printf "\\001" | dd of=/tmp/bad.eif bs=1 seek=541 conv=notrunc 2>/dev/null
	ne_ioctl_sample --memory 64 --time 1 /tmp/bad.eif > /tmp/out 2>&1; rc=$?
	sed "s/^/# /" /tmp/out
	if [ $rc != 0 ] && grep -q "crashed before its heartbeat" /tmp/out; then echo "ok 2 sample: corrupted image reported as a crash"; else echo "not ok 2 sample: corrupted image reported as a crash (exit $rc)"; fi
}
modprobe virtio_pci; modprobe vmw_vsock_virtio_transport
ne_item insmod_ne
ne_item ne_boot
ne_item sample_boot
ne_item rmmod_ne
'"$conf_item" --add "$BIN/ne_boot" --add "$SAMPLE" --add "$eif" \
		--add "$NE_BUILD/demo.eif.describe" --ne-opts eif-check=on \
		"${vsock[@]}" --timeout 300
}

main() {
	local runs=("$@") r t0
	[[ ${#runs[@]} -gt 0 ]] || runs=(main multi limits faults boot)
	echo "TAP version 13"
	t0=$(date +%s)
	if ! build_tests; then
		result not-ok "build: selftests did not build"
	fi
	for r in "${runs[@]}"; do
		case $r in
		main|multi|limits|faults|kunit|boot) "run_$r" ;;
		*) echo "run_vm_tests.sh: unknown run '$r'" >&2; exit 2 ;;
		esac
	done
	echo "1..$N"
	say "selftests: $((N - FAILED - SKIPPED)) passed, $FAILED failed, $SKIPPED skipped; VM time $(( $(date +%s) - t0 )) s"
	[[ $FAILED -eq 0 ]]
}

main "$@"
