#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: every stage in order, each logged to build/check/<stage>.log
# and streamed, each timed. Results are counted from TAP lines at column 0
# ("ok N", "ok N ... # SKIP", "not ok N"); a stage that prints no TAP counts
# as one test, ok if it exited 0. A stage that failed without printing a
# "not ok" line counts one more failure. The last line is the summary:
#   N passed, N failed, N skipped
# and the exit status is non-zero if anything failed.
#
# NE_CHECK_STAGES="vm-lspci vm-runner" runs only the stages named (for
# debugging; CI runs them all); a name that is no stage of this run is an
# error (exit 2), before anything runs. Presets, usable among the names:
#   quick   deps, qemu, modules, static-checks, selftests, sample and the
#           main run of vm-tests (make check-quick)
# NE_VM_RUNS: the runs of run_vm_tests.sh in vm-tests (default: its own;
# "main" in the quick preset).
#
# Each stage starts with "=== [i/N] name", the time elapsed and an estimate
# of the time left, from the stage times of the last run that ran them
# (kept in $NE_CACHE/check-times, so that a fresh clone has them too).
set -uo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"
cd "$NE_ROOT" || exit 1

LOGDIR=${NE_CHECK_LOGDIR:-$NE_BUILD/check}
NE_VM=$NE_ROOT/scripts/ne-vm
PASSED=0 FAILED=0 SKIPPED=0
TIMES=()
FAILS=()	# "stage: not ok line", recalled above the summary
NE_ID=1d0f:e4c1
WANTED=		# NE_CHECK_STAGES, presets expanded (expand_wanted)
QUICK="deps check-ux qemu modules static-checks selftests ksft-install sample vm-tests"
PLANNING=1	# stages() only lists the stages (PLAN), running none
PLAN=()		# every stage of this configuration, in order
SELECTED=()	# the stages this run runs, in order
STAGE_I=0
LAST_RC=0	# exit status of the last stage run
T0=$SECONDS
# "name secs" of the last run of each stage; written back at the end.
TIMES_FILE=$NE_CACHE/check-times
[[ -w $NE_CACHE ]] || TIMES_FILE=$LOGDIR/check-times
declare -A LAST=() NOW=()

mkdir -p "$LOGDIR"

# A result line printed by check.sh itself.
result() {	# ok|not-ok description
	if [[ $1 == ok ]]; then
		echo "ok - $2"
		PASSED=$((PASSED + 1))
	else
		echo "not ok - $2"
		FAILED=$((FAILED + 1))
		FAILS+=("$2")
	fi
}

# Count the TAP results of one stage's log; print a result line of our own
# when the stage had no TAP or failed silently.
count_results() {	# stage log rc
	local stage=$1 log=$2 rc=$3 ok skip notok
	ok=$(tr -d '\r' < "$log" | grep -cE '^ok [0-9]+')
	skip=$(tr -d '\r' < "$log" | grep -ciE '^ok [0-9]+.*#[[:space:]]*skip')
	notok=$(tr -d '\r' < "$log" | grep -cE '^not ok [0-9]+')
	if [[ $((ok + notok)) -eq 0 ]]; then
		if [[ $rc -eq 0 ]]; then
			result ok "$stage"
		else
			result not-ok "$stage (exit $rc, see $log)"
		fi
		return
	fi
	PASSED=$((PASSED + ok - skip))
	SKIPPED=$((SKIPPED + skip))
	FAILED=$((FAILED + notok))
	mapfile -t -O "${#FAILS[@]}" FAILS < <(tr -d '\r' < "$log" |
		sed -n "s/^not ok [0-9]* */$stage: /p")
	echo "# $stage: $((ok - skip)) passed, $notok failed, $skip skipped"
	if [[ $rc -ne 0 && $notok -eq 0 ]]; then
		result not-ok "$stage (exit $rc with no failed test, see $log)"
	fi
}

# Is stage NAME selected by NE_CHECK_STAGES (presets expanded)?
selected() {	# name
	[[ -z ${NE_CHECK_STAGES:-} || " $WANTED " == *" $1 "* ]]
}

# "about 12 min left": the last run's times of the stages from index I on.
estimate() {	# i
	local left=0 unknown=0 name
	for name in "${SELECTED[@]:$1}"; do
		if [[ -n ${LAST[$name]:-} ]]; then
			left=$((left + LAST[$name]))
		else
			unknown=$((unknown + 1))
		fi
	done
	if [[ $unknown -eq $(( ${#SELECTED[@]} - $1 )) ]]; then
		echo "no estimate: no earlier run of these stages"
	elif [[ $unknown -gt 0 ]]; then
		echo "about $(( (left + 59) / 60 )) min left, $unknown stage(s) never timed"
	else
		echo "about $(( (left + 59) / 60 )) min left by the last run"
	fi
}

stage() {	# name command...
	local name=$1 log=$LOGDIR/$1.log start rc ms secs
	shift
	if [[ -n $PLANNING ]]; then
		PLAN+=("$name")
		selected "$name" && SELECTED+=("$name")
		return 0
	fi
	selected "$name" || return 0
	echo
	echo "=== [$((STAGE_I + 1))/${#SELECTED[@]}] $name: $*"
	echo "=== elapsed $(( (SECONDS - T0) / 60 )) min $(( (SECONDS - T0) % 60 )) s, $(estimate "$STAGE_I")"
	STAGE_I=$((STAGE_I + 1))
	start=$(date +%s%N)
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	secs=$(printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)))
	NOW[$name]=$(( (ms + 500) / 1000 ))
	echo "=== $name: exit $rc, ${secs} s"
	TIMES+=("$(printf '%-20s %7s s  exit %d' "$name" "$secs" "$rc")")
	count_results "$name" "$log" "$rc"
	LAST_RC=$rc
}

# NE_CHECK_STAGES with the presets expanded, into WANTED; exit 2 on a name
# that is neither a preset nor a stage of this configuration.
expand_wanted() {
	local w bad=()
	WANTED=
	for w in ${NE_CHECK_STAGES:-}; do
		case $w in
		quick)	WANTED+=" $QUICK"
			NE_VM_RUNS=${NE_VM_RUNS:-main} ;;
		*)	WANTED+=" $w" ;;
		esac
	done
	for w in $WANTED; do
		[[ " ${PLAN[*]} " == *" $w "* ]] || bad+=("$w")
	done
	if [[ ${#bad[@]} -gt 0 ]]; then
		echo "check.sh: NE_CHECK_STAGES: no stage named: ${bad[*]}" >&2
		echo "check.sh: the stages are: ${PLAN[*]}; presets: quick" >&2
		exit 2
	fi
}

load_times() {
	local name secs
	[[ -r $TIMES_FILE ]] || return 0
	while read -r name secs; do
		[[ $secs =~ ^[0-9]+$ ]] && LAST[$name]=$secs
	done < "$TIMES_FILE"
}

# Keep the last time of every stage ever run, updated by this run.
save_times() {
	local name
	for name in "${!NOW[@]}"; do LAST[$name]=${NOW[$name]}; done
	for name in "${!LAST[@]}"; do
		echo "$name ${LAST[$name]}"
	done | sort > "$TIMES_FILE.tmp" && mv "$TIMES_FILE.tmp" "$TIMES_FILE"
}

make_target() {
	make --no-print-directory "$@"
}

# (b) The emulated device as the guest sees it.
vm_lspci() {
	local out rc=0 n=0
	out=$("$NE_VM" run --timeout 120 -- lspci -nvv -d "$NE_ID") || rc=$?
	echo "$out"
	out=$(tr -d '\r' <<< "$out")
	check_line() {	# regex description
		n=$((n + 1))
		if grep -qE "$1" <<< "$out"; then
			echo "ok $n lspci: $2"
		else
			echo "not ok $n lspci: $2"
		fi
	}
	check_line "^[0-9a-f:.]+ [0-9a-f]{4}: $NE_ID" "device $NE_ID present"
	check_line 'Region 3: Memory at [0-9a-f]+ .*\[size=4K\]' "BAR 3 is a 4K memory BAR"
	check_line 'MSI-X: Enable[+-] Count=2 ' "MSI-X with 2 vectors"
	n=$((n + 1))
	if [[ $rc -eq 0 ]]; then
		echo "ok $n lspci: runner exit 0"
	else
		echo "not ok $n lspci: runner exit $rc"
	fi
}

# (c) The runner reports the guest's status and catches kernel warnings.
vm_runner() {
	local rc
	echo "# guest 'exit 3' must make ne-vm exit 3"
	rc=0; "$NE_VM" run --timeout 120 -- sh -c 'exit 3' || rc=$?
	if [[ $rc -eq 3 ]]; then echo "ok 1 runner: exit status passed through"
	else echo "not ok 1 runner: exit status passed through (got $rc, want 3)"; fi

	echo "# a WARNING: in the guest kernel log must fail the run (exit 122)"
	rc=0; "$NE_VM" run --timeout 120 -- sh -c "echo 'WARNING: test' > /dev/kmsg" || rc=$?
	if [[ $rc -eq 122 ]]; then echo "ok 2 runner: kernel WARNING fails the run"
	else echo "not ok 2 runner: kernel WARNING fails the run (got $rc, want 122)"; fi

	echo "# a guest that hangs must be killed at --timeout (exit 124)"
	rc=0; "$NE_VM" run --timeout 15 -- sleep 1000 || rc=$?
	if [[ $rc -eq 124 ]]; then echo "ok 3 runner: hung guest times out"
	else echo "not ok 3 runner: hung guest times out (got $rc, want 124)"; fi

	local err=$NE_BUILD/check/vm-runner.err
	mkdir -p "${err%/*}"
	echo "# a kernel panic before the command ran: one more boot, then exit 125"
	rc=0; "$NE_VM" run --timeout 120 --append rdinit=/nonexistent -- true 2> "$err" || rc=$?
	sed 's/^/# /' "$err"
	if [[ $rc -eq 125 && $(grep -c "^ne-vm: RETRY" "$err") -eq 1 ]]
	then echo "ok 4 runner: boot panic is retried once"
	else echo "not ok 4 runner: boot panic is retried once (got $rc, want 125 and one RETRY)"; fi

	echo "# a kernel panic while the command runs: no retry, exit 125"
	rc=0; "$NE_VM" run --timeout 120 -- sh -c 'echo c > /proc/sysrq-trigger' 2> "$err" || rc=$?
	sed 's/^/# /' "$err"
	if [[ $rc -eq 125 ]] && ! grep -q "^ne-vm: RETRY" "$err"
	then echo "ok 5 runner: a panic after boot is not retried"
	else echo "not ok 5 runner: a panic after boot is not retried (got $rc, want 125 and no RETRY)"; fi

	echo "# a WARNING matching NE_VM_KNOWN_KMSG is listed, not counted"
	rc=0; NE_VM_KNOWN_KMSG='WARNING: known test' "$NE_VM" run --timeout 120 -- \
		sh -c "echo 'WARNING: known test' > /dev/kmsg" 2> "$err" || rc=$?
	sed 's/^/# /' "$err"
	if [[ $rc -eq 0 ]] && grep -q "^ne-vm: not counted, known: .*WARNING: known test" "$err"
	then echo "ok 6 runner: a known kernel issue is listed, not counted"
	else echo "not ok 6 runner: a known kernel issue is listed, not counted (got $rc)"; fi
}

# The device sits behind a pci-bridge here, so that the kernel can reset
# it (secondary bus reset) for the reset test; elsewhere it is on the root
# bus, which has no reset method for it.
vm_conformance() {
	# One TCG thread per vCPU, as QEMU runs by default: the memory
	# decoding toggle test needs vCPUs that really run in parallel.
	NE_VM_TCG_THREAD=multi "$NE_VM" run --no-ne-device \
		--qemu-arg -device --qemu-arg pci-bridge,id=br0,chassis_nr=1 \
		--qemu-arg -device \
		--qemu-arg nitro-enclaves-pci,id=ne0,test-hooks=on,bus=br0,addr=1 \
		--add "$NE_BUILD/ne_pci_conformance" -- ./ne_pci_conformance
}

# The same test driving the device's QOM controls from the host over QMP.
vm_conformance_qmp() {
	"$NE_VM" run --add "$NE_BUILD/ne_pci_conformance" --host-hook "$1" \
		-- ./ne_pci_conformance --qmp
}

# The emulated vsock (ne-vsock-pci): an emulated peer, driven over QMP,
# connects to the guest's listener and gets its echo, is refused, survives
# a device reset; the guest's own connects are reset.
vm_vsock() {
	local dir=$NE_ROOT/tools/testing/ne_vsock_test
	make -s -C "$dir" O="$NE_BUILD" || return 1
	"$NE_VM" run --no-ne-device --add "$NE_BUILD/ne_vsock_test" \
		--qemu-arg -device --qemu-arg ne-vsock-pci,id=vs0 \
		--host-hook "$dir/qmp-hook.py" -- ./ne_vsock_test
}

# The kernel matrix (scripts/ne-kernels.sh fetches, scripts/build-module.sh
# builds out of tree into $NE_BUILD/kernels/<kver>): Debian's
# bookworm-backports amd64 kernel (6.12) and Debian 12's arm64 kernel.
kernel_env() {	# bpo|arm64: set NE_K_* of a fetched kernel
	local env
	env=$(scripts/ne-kernels.sh env "$1") || return 1
	eval "$env"
}

module_for() {	# bpo|arm64 [make arg]...
	local flavour=$1
	shift
	kernel_env "$flavour" || return 1
	scripts/build-module.sh "$NE_K_KDIR" "$NE_BUILD/kernels/$NE_K_KVER" "$@"
}

# run_vm_tests.sh against kernel FLAVOUR, with ne-vm's NE_* set for it.
vm_tests_for() {	# bpo|arm64 run_vm_tests.sh [RUN]...
	kernel_env "$1" || return 1
	NE_VM_MODULE=$NE_BUILD/kernels/$NE_K_KVER/nitro_enclaves.ko \
	NE_VM_OPTS="--kernel $NE_K_IMAGE --modules $NE_K_MODULES" \
	NE_MAIN_ADMIN=0 "${@:2}"
}

# The debug kernel (make debug-kernel: KASAN, lockdep, kmemleak, KUnit),
# with the driver and its KUnit module built against it.
vm_tests_debug() {	# run_vm_tests.sh [RUN]...
	local env opts a
	env=$(scripts/build-debug-kernel.sh env) || return 1
	eval "$env"
	# NE_VM_OPTS is split at spaces: one --append per kernel argument.
	opts="--kernel $NE_DK_KERNEL --modules $NE_DK_MODULES"
	for a in $NE_DK_APPEND; do opts+=" --append $a"; done
	NE_VM_MODULE=$NE_DK_MODULE NE_KUNIT_MODULE=$NE_DK_KUNIT NE_KMEMLEAK=1 NE_MAIN_ADMIN=0 \
	NE_VM_TIMEOUT_SCALE=$NE_DK_TIMEOUT_SCALE NE_VM_KNOWN_KMSG=$NE_DK_KNOWN_KMSG \
	NE_VM_OPTS=$opts "$@"
}

# Static arm64 test binaries and sample, in $NE_BUILD/arm64.
arm64_tests() {
	make_target selftests sample NE_BUILD="$NE_BUILD/arm64" CC=aarch64-linux-gnu-gcc
}

vm_tests_arm64() {	# run_vm_tests.sh [RUN]...
	kernel_env arm64 || return 1
	NE_VM_ARCH=arm64 NE_VM_BUSYBOX=$NE_K_BUSYBOX \
	NE_SELFTEST_BIN=$NE_BUILD/arm64/selftests NE_KSFT_INSTALL= \
	NE_SAMPLE=$NE_BUILD/arm64/samples/ne_ioctl_sample \
		vm_tests_for arm64 "$@"
}

# Every stage, in order. Run twice: once to plan (PLANNING set: stage()
# only records names), once to run; so it must decide the same both times.
stages() {
	local ksft_dir=$NE_ROOT/tools/testing/selftests/drivers/virt/nitro_enclaves
	local run_vm_tests=$ksft_dir/run_vm_tests.sh
	local qmp_hook=$NE_ROOT/tools/testing/ne_pci_conformance/qmp-hook.py

	stage deps scripts/deps.sh
	stage check-ux scripts/check-ux.sh
	stage qemu make_target qemu
	stage modules make_target modules
	stage dkms scripts/check-dkms.sh
	# Both packages built, the module from the packaged DKMS sources: the
	# 6.1 guest's VM stages below load that one when this stage passed.
	stage packages scripts/check-packages.sh --no-vm
	if [[ -z $PLANNING && ${NOW[packages]+set} && $LAST_RC -eq 0 &&
	      -f $NE_BUILD/packages/nitro_enclaves.ko ]]; then
		export NE_VM_MODULE=$NE_BUILD/packages/nitro_enclaves.ko
		echo "# the VM stages of the $KVER guest load the DKMS-built $NE_VM_MODULE"
	fi
	stage static-checks make_target static-checks
	stage conformance make_target conformance
	stage selftests make_target selftests
	# The kselftest flow of a kernel tree: the driver and the selftests laid
	# into linux-source-6.1, built and installed with the standard targets;
	# the x86 VM runs below run that installed tree with run_kselftest.sh.
	stage ksft-install "$ksft_dir/ksft_install.sh" "$NE_BUILD/ksft" -j2
	if [[ -z $PLANNING && ${NOW[ksft-install]+set} && $LAST_RC -eq 0 ]]; then
		export NE_KSFT_INSTALL=$NE_BUILD/ksft/install
	fi
	# Installed programs on this host, which has no driver: all skip (4).
	stage host-skip "$ksft_dir/host_skip_check.sh" "$NE_BUILD/ksft/install"
	stage sample make_target sample
	stage sample-cli make_target -C samples/nitro_enclaves O="$NE_BUILD/samples" test
	stage eif make_target -C tools/eif O="$NE_BUILD/eif" test
	# The enclave image's init: its parsing of /env, /cmd, /modules.list.
	stage enclave-init make_target -C tools/enclave O="$NE_BUILD/enclave" test
	# libFuzzer on the guest-fed parsers: seeds and regressions replayed,
	# then NE_FUZZ_SECONDS (30) per target (long runs: make fuzz).
	stage fuzz make_target -C tools/testing/fuzz O="$NE_BUILD/fuzz" \
		FUZZ_SECONDS="${NE_FUZZ_SECONDS:-30}" check
	stage vm-conformance vm_conformance
	if [[ -f $qmp_hook ]]; then
		stage vm-conformance-qmp vm_conformance_qmp "$qmp_hook"
	fi
	stage vm-vsock vm_vsock
	# Two microvms whose ne-vsock devices relay to each other (the link
	# of an enclave VM): data both ways, resets, a killed enclave.
	# One 64 MiB run each way here (the default is three).
	stage vm-vsock-relay "$NE_ROOT/tools/testing/ne_vsock_relay/relay_test.sh" --runs 1
	# Real enclaves (enclave-vm=on): images that boot in a sibling microvm,
	# heartbeat from their init, vsock both ways, exits, no orphan VM.
	stage vm-enclave "$NE_ROOT/tools/testing/ne_enclave_test/enclave_test.sh"
	stage vm-lspci vm_lspci
	stage vm-runner vm_runner
	if [[ -x $run_vm_tests ]]; then
		# shellcheck disable=SC2086
		stage vm-tests "$run_vm_tests" ${NE_VM_RUNS:-}
	fi

	# Launch path: no more SLOT_ADD_MEM commands than contiguous extents.
	if [[ -x $NE_ROOT/scripts/bench.sh ]]; then
		stage vm-bench scripts/bench.sh --check
		# ... and no slower than Linux 6.1's own driver.
		stage vm-bench-linux scripts/bench.sh --compare --check
	fi
	# The allocator: its checks, and the pool it leaves merges.
	stage vm-allocator tools/ne-allocator/vm_test.sh --numa

	# The same suite on bookworm-backports' 6.12 kernel, but for the
	# faults run (225 s of this stage's 386 s on an empty cache): fault
	# injection, races and removal run on 6.1 and on the debug kernel
	# (KASAN, lockdep). All of it: NE_BPO_RUNS="main skips multi limits
	# faults boot".
	stage kernel-6.12 scripts/ne-kernels.sh fetch bpo
	stage module-6.12 module_for bpo
	if [[ -x $run_vm_tests ]]; then
		# shellcheck disable=SC2086
		stage vm-tests-6.12 vm_tests_for bpo "$run_vm_tests" ${NE_BPO_RUNS:-main skips multi limits boot}
	fi

	# arm64: QEMU's virt machine with the device, Debian's arm64 kernel.
	# arm64 under TCG runs faster than the x86 guest: main, multi and
	# limits take ~2 min here. The faults run is left out until its QMP
	# removal tests have a hotpluggable slot on virt (device_del: "Bus
	# 'pcie.0' does not support hotplugging"); all of it:
	# NE_ARM64_RUNS="main multi limits faults" (~7 min).
	stage qemu-aarch64 scripts/build-qemu.sh aarch64
	stage kernel-arm64 scripts/ne-kernels.sh fetch arm64
	stage module-arm64 module_for arm64 CROSS_COMPILE=aarch64-linux-gnu-
	stage selftests-arm64 arm64_tests
	if [[ -x $run_vm_tests ]]; then
		# shellcheck disable=SC2086
		stage vm-tests-arm64 vm_tests_arm64 "$run_vm_tests" ${NE_ARM64_RUNS:-main multi limits}
	fi

	# KUnit, the suite and kmemleak scans on the debug kernel (KASAN,
	# lockdep, kmemleak; ne-vm fails a run on any of their reports; every
	# run ends with a kmemleak scan). By default the KUnit suites (a run
	# of their own) and faults, the error paths, run there. The main run
	# (872 s under KASAN and single-threaded TCG on an empty cache on
	# 2026-12-08, the longest run of make check) runs on the 6.1, 6.12
	# and arm64 kernels, and on this one in make check-debug, as do
	# multi, limits (~3.3 min) and boot (~5 min): they came out to keep
	# make check within its time budget. NE_DEBUG_RUNS picks the runs
	# (make check-debug: all of them); NE_CHECK_DEBUG=0 skips these stages.
	if [[ ${NE_CHECK_DEBUG:-1} != 0 && -x $run_vm_tests ]]; then
		stage debug-kernel scripts/build-debug-kernel.sh
		# shellcheck disable=SC2086
		stage vm-tests-debug vm_tests_debug "$run_vm_tests" ${NE_DEBUG_RUNS:-kunit faults}
	fi
}

main() {
	local f line

	stages
	expand_wanted
	SELECTED=()
	PLAN=()
	stages		# again, to fill SELECTED with the presets expanded
	PLANNING=
	load_times
	stages
	save_times

	echo
	echo "=== stage times (logs in $LOGDIR)"
	printf '%s\n' "${TIMES[@]}"
	echo "total $((SECONDS - T0)) s"
	# The KUnit suites run first in the debug kernel's main run.
	f=$LOGDIR/vm-tests-debug.log
	if [[ "${TIMES[*]}" == *"vm-tests-debug "* && -f $f ]]; then
		echo "KUnit (vm-tests-debug): $(grep -cE '^ok [0-9]+ main/kunit_run: ' "$f") passed, $(grep -cE '^not ok [0-9]+ main/kunit_run: ' "$f") failed"
	fi
	# CI shows only the last lines: name what failed just above the count.
	if [[ ${#FAILS[@]} -gt 0 ]]; then
		echo "=== failed (${#FAILS[@]}):"
		for line in "${FAILS[@]:0:8}"; do echo "  ${line:0:200}"; done
		[[ ${#FAILS[@]} -gt 8 ]] && echo "  ... $(( ${#FAILS[@]} - 8 )) more in $LOGDIR"
	fi
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	[[ $FAILED -eq 0 ]]
}

main "$@"
