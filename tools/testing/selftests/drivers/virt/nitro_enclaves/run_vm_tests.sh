#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the Nitro Enclaves kselftests and the sample launcher in test VMs
# (scripts/ne-vm) and print one TAP stream on stdout: every result line is
# renumbered as "ok N <run>/<binary>: <test>" so that counting lines that
# start with "ok"/"not ok" counts each test once. Everything else from the
# guest is passed through as "# " diagnostics.
#
#   run_vm_tests.sh [RUN]...     RUN: main skips multi limits faults kunit boot
#                                (default: all but kunit)
#
# Environment:
#   NE_SELFTEST_BIN  directory with the test binaries ($NE_BUILD/selftests;
#                    built there with this directory's Makefile if missing)
#   NE_KSFT_INSTALL  the installed kselftest tree that the main run runs
#                    with run_kselftest.sh (ksft_install.sh DIR makes one in
#                    DIR/install; default: made under $NE_BUILD/ksft, or
#                    $NE_BUILD/ksft-arm64 with NE_VM_ARCH=arm64)
#   NE_MAIN_ADMIN=0  leave out the first pass of the main run (the admin's
#                    pool without NE_TEST_POOL), e.g. on slow kernels
#
# The main run boots with 6 CPUs (3 cores of 2 threads) and runs the
# installed tree twice: first as on an admin's parent instance (ne_cpus=4,5
# configured, hugepages reserved, no NE_TEST_POOL), checking afterwards that
# ne_cpus, nr_hugepages of both sizes and the online CPUs are unchanged;
# then with NE_TEST_POOL=2,3, which lets the pool tests run, and checks
# the admin's state again (every program puts it back).
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

# The installed kselftest tree for the main run, as a tarball for ne-vm.
ksft_tarball() {
	local inst=${NE_KSFT_INSTALL:-} dest=$NE_BUILD/ksft cross=()
	if [[ ${NE_VM_ARCH:-x86_64} == arm64 ]]; then
		dest=$NE_BUILD/ksft-arm64
		cross=(CROSS_COMPILE=aarch64-linux-gnu-)
	fi
	if [[ -z $inst ]]; then
		say "installing the kselftests through a kernel tree into $dest"
		"$HERE/ksft_install.sh" "$dest" -j2 "${cross[@]}" > "$TMP/ksft.log" 2>&1 || {
			sed 's/^/# /' "$TMP/ksft.log" | tail -40
			return 1
		}
		inst=$dest/install
	fi
	[[ -x $inst/run_kselftest.sh ]] || { say "no run_kselftest.sh in $inst"; return 1; }
	tar -C "$inst" -cf "$TMP/ksft.tar" .
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
# The installed kselftest tree: run_kselftest.sh with its arguments.
# busybox timeout has no --foreground, which kselftest/runner.sh passes;
# runner.sh writes the output of the programs to /dev/stdout, which devtmpfs
# lacks.
ksft_setup() {
	mkdir -p /opt/ne/ksft && tar -xf /opt/ne/ksft.tar -C /opt/ne/ksft || return 1
	[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
	rm -f /usr/bin/timeout
	printf "#!/bin/sh\n[ \"\$1\" = --foreground ] && shift\nbusybox timeout \"\$@\"; rc=\$?\n[ \$rc = 143 ] && rc=124\nexit \$rc\n" > /usr/bin/timeout
	chmod 755 /usr/bin/timeout
}
ne_ksft() {	# ne_ksft PART ARGS...: one run of run_kselftest.sh
	part=$1; shift
	echo "NE-KSFT-BEGIN $part"
	(cd /opt/ne/ksft && ./run_kselftest.sh "$@")
	echo "NE-KSFT-END $part rc=$?"
}
# skip_reason DESC WORDS: ne_smoke skips (exit 4) with a reason naming WORDS.
skip_reason() {
	echo "1..1"
	skip_expect 1 "$1" "$2" /opt/ne/ksft/drivers/virt/nitro_enclaves/ne_smoke
}
# skip_expect N DESC WORDS PROGRAM: TAP line N, ok if PROGRAM (run in its
# directory) exits 4 with a reason naming WORDS.
skip_expect() {
	(cd "${4%/*}" && "$4") > /tmp/out 2>&1; rc=$?
	sed "s/^/# /" /tmp/out
	if [ $rc = 4 ] && grep -q "SKIP.*$3" /tmp/out; then echo "ok $1 $2"
	else echo "not ok $1 $2 (exit $rc)"; fi
}
# ne_boot needs AF_VSOCK: with vsock neither loaded nor loadable (module
# autoloading pointed at nothing for the check) it must skip.
vsock_skip_reason() {
	if [ -d /sys/module/vsock ]; then
		echo "1..0 # SKIP vsock is loaded or built in"; return 0
	fi
	m=$(cat /proc/sys/kernel/modprobe)
	echo /nonexistent/modprobe > /proc/sys/kernel/modprobe
	echo "1..1"
	export NE_TEST_POOL=2,3
	skip_expect 1 "without AF_VSOCK ne_boot skips" "no AF_VSOCK" \
		/opt/ne/ksft/drivers/virt/nitro_enclaves/ne_boot
	unset NE_TEST_POOL
	echo "$m" > /proc/sys/kernel/modprobe
}
# The device unbound from the driver (no /dev/nitro_enclaves): the programs
# skip; bound again, the misc device is back.
unbound_skip_reason() {
	d=/sys/bus/pci/drivers/nitro_enclaves
	echo "1..2"
	bdf=$(ls $d | grep "^0000:" | head -n 1)
	[ -n "$bdf" ] && echo "$bdf" > $d/unbind
	skip_expect 1 "with the device unbound the programs skip" "not bound" /opt/ne/ne_smoke
	[ -n "$bdf" ] && echo "$bdf" > $d/bind
	if [ -c /dev/nitro_enclaves ]; then echo "ok 2 bound again, /dev/nitro_enclaves is back"
	else echo "not ok 2 bound again, /dev/nitro_enclaves is back"; fi
}
# With no free 2 MiB hugepages (and a pool to use) the programs skip;
# the reservation is put back.
hp_skip_reason() {
	h=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	n=$(cat $h)
	echo 0 > $h
	export NE_TEST_POOL=2,3
	skip_reason "without free 2 MiB hugepages the programs skip" "free 2 MiB hugepages"
	unset NE_TEST_POOL
	echo "$n" > $h
	[ "$(cat $h)" = "$n" ] || echo "# nr_hugepages $(cat $h), not $n again"
}
# What an admin configures: a pool on other CPUs than the tests default
# (2,3), 2 MiB pages reserved at run time (1 GiB at boot).
admin_pool() {
	ne_tap1 "admin: ne_cpus=4,5 and 700 2M hugepages" sh -c "echo 4,5 > /sys/module/nitro_enclaves/parameters/ne_cpus && echo 700 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
	admin_state > /tmp/admin.state
	sed "s/^/# /" /tmp/admin.state
}
admin_state() {
	echo "ne_cpus=$(cat /sys/module/nitro_enclaves/parameters/ne_cpus)"
	echo "online=$(cat /sys/devices/system/cpu/online)"
	for h in /sys/kernel/mm/hugepages/hugepages-*; do
		echo "${h##*/}=$(cat $h/nr_hugepages) free=$(cat $h/free_hugepages)"
	done
}
admin_check() {	# admin_check WHEN
	admin_state > /tmp/admin.now
	if cmp -s /tmp/admin.state /tmp/admin.now; then
		echo "1..1"; echo "ok 1 admin state unchanged $1"
	else
		echo "1..1"; diff /tmp/admin.state /tmp/admin.now | sed "s/^/# /"
		echo "not ok 1 admin state unchanged $1"
	fi
}
# KUnit suites of nitro_enclaves_kunit.ko. They run when it loads and log
# their KTAP; with a KTAP header logged first, the kernel log from there
# on is a KTAP document. It goes to the host verbatim between NE-KTAP-BEGIN
# and NE-KTAP-END, for kunit.py to parse there (ktap_to_tap). Not the
# debugfs results: 6.1 keeps only the last row of a parameterised case.
kunit_run() {
	if ! [ -f /opt/ne/nitro_enclaves_kunit.ko ]; then
		echo "1..0 # SKIP no nitro_enclaves_kunit.ko (debug kernel only)"; return 0
	fi
	echo "ne: kunit_run" > /dev/kmsg
	echo "KTAP version 1" > /dev/kmsg
	insmod /opt/ne/nitro_enclaves_kunit.ko || { echo "1..1"; echo "not ok 1 insmod nitro_enclaves_kunit.ko"; return 1; }
	rmmod nitro_enclaves_kunit
	echo NE-KTAP-BEGIN
	dmesg | sed -n "/] ne: kunit_run\$/,\$p"
	echo NE-KTAP-END
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
	echo "1..3"
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
	# --json: nitro-cli run-enclave'"'"'s object on stdout, steps on stderr.
	ne_ioctl_sample --json --no-heartbeat --memory 64 --cpu-ids 2,3 --cid 77 \
		--name t1 --time 0 /tmp/dummy.eif > /tmp/json 2> /tmp/err
	rc=$?
	sed "s/^/# /" /tmp/json
	ok=1
	[ $rc = 0 ] || { echo "# sample --json exited $rc"; ok=0; }
	grep -q "^Enclave started, CID 77" /tmp/err || { echo "# no start line on stderr"; ok=0; }
	for re in '"'"'^{$'"'"' '"'"'^  "EnclaveName": "t1",$'"'"' \
		'"'"'^  "EnclaveID": "i-[0-9a-f]*-enc[0-9a-f]*",$'"'"' '"'"'^  "ProcessID": [0-9][0-9]*,$'"'"' \
		'"'"'^  "EnclaveCID": 77,$'"'"' '"'"'^  "NumberOfCPUs": 2,$'"'"' '"'"'^  "CPUIDs": \[$'"'"' \
		'"'"'^    2,$'"'"' '"'"'^    3$'"'"' '"'"'^  \],$'"'"' '"'"'^  "MemoryMiB": 64$'"'"' '"'"'^}$'"'"'; do
		grep -q "$re" /tmp/json || { echo "# no line $re"; ok=0; }
	done
	[ "$(wc -l < /tmp/json)" = 12 ] || { echo "# not 12 lines"; ok=0; }
	if [ $ok = 1 ]; then echo "ok 2 ne_ioctl_sample --json prints run-enclave'"'"'s object"
	else echo "not ok 2 ne_ioctl_sample --json prints run-enclave'"'"'s object"; fi
	# --attach-console without a console (eif-check=off: nothing serves
	# CID 0): a failure that says so, and the enclave is closed.
	before=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	ne_ioctl_sample --no-heartbeat --memory 64 --debug --attach-console \
		--time 0 /tmp/dummy.eif > /tmp/out 2>&1
	rc=$?
	after=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	sed "s/^/# /" /tmp/out
	ok=1
	[ $rc = 1 ] || { echo "# sample exited $rc, want 1"; ok=0; }
	grep -q "^Error: vsock .* console" /tmp/out || { echo "# no console error"; ok=0; }
	grep -q "Enclave fd closed" /tmp/out || { echo "# the enclave was not closed"; ok=0; }
	[ "$before" = "$after" ] || { echo "# hugepages free $before before, $after after"; ok=0; }
	if [ $ok = 1 ]; then echo "ok 3 ne_ioctl_sample --attach-console: no console is a clear failure"
	else echo "not ok 3 ne_ioctl_sample --attach-console: no console is a clear failure"; fi
}
'

# ktap_to_tap LOG: LOG with the KTAP documents of each guest item (its
# NE-KTAP-BEGIN ... NE-KTAP-END blocks) replaced by the TAP that kunit.py
# parse makes of them (scripts/kunit-run.sh parse: one line per case).
ktap_to_tap() {
	local line inside='' docs=()
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		NE-KTAP-BEGIN)
			docs+=("$TMP/ktap.${#docs[@]}")
			: > "${docs[-1]}"
			inside=1
			continue ;;
		NE-KTAP-END)
			inside=''
			continue ;;
		esac
		if [[ -n $inside ]]; then
			printf '%s\n' "$line" >> "${docs[-1]}"
			continue
		fi
		if [[ ${#docs[@]} -gt 0 ]]; then
			"$ROOT/scripts/kunit-run.sh" parse "${docs[@]}"
			docs=()
		fi
		printf '%s\n' "$line"
	done < "$1"
	[[ ${#docs[@]} -eq 0 ]] || "$ROOT/scripts/kunit-run.sh" parse "${docs[@]}"
}

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
	ktap_to_tap "$log" > "$log.tap"
	parse_log "$name" "$log.tap"
	if [[ $rc -ne 0 ]]; then
		sed 's/^/# /' "$TMP/$name.err"
		result not-ok "$name/vm: ne-vm exited $rc (122: bad kernel log, 124: timeout, 125: crash)"
	fi
}

# run_kselftest.sh's TAP: an outer line per program ("ok N selftests:
# DIR: PROG"), the program's own TAP before it, prefixed with "# ".
# State in the caller's locals: ksft (the part), prog, pplan, pseen, pbad,
# pskip, oplan, oseen.
ksft_prog_end() {	# ksft_prog_end ok|not-ok REST-OF-OUTER-LINE
	local label="$name-$ksft" why=${2#*# }
	[[ $2 == *"# "* ]] || why=''
	if [[ -n $pskip ]]; then
		result ok "$label/$prog # SKIP $pskip"
	elif [[ $pseen -lt $pplan ]]; then
		result not-ok "$label/$prog: only $pseen of $pplan results ($why${test:+, last started: $test})"
	elif [[ $1 == not-ok && $pbad -eq 0 ]]; then
		result not-ok "$label/$prog: $why"
	elif [[ $1 == ok && $pplan -eq 0 && $pseen -eq 0 ]]; then
		result ok "$label/$prog${why:+ # $why}"
	fi
	prog=''; pplan=0; pseen=0; pbad=0; pskip=''; test=''
}

ksft_line() {	# ksft_line LINE: one line inside an NE-KSFT block
	local l=$1 rest
	local re_outer='^(not )?ok [0-9]+ selftests: [^:]+: [^ ]+ ?(.*)$'
	if [[ $l =~ ^#\ selftests:\ [^:]+:\ (.+)$ ]]; then
		prog=${BASH_REMATCH[1]}; pplan=0; pseen=0; pbad=0; pskip=''; test=''
		echo "# [$ksft] $l"
	elif [[ $l =~ ^1\.\.([0-9]+) ]]; then
		oplan=${BASH_REMATCH[1]}
		echo "# [$ksft] $l"
	elif [[ -n $prog && $l =~ $re_outer ]]; then
		oseen=$((oseen + 1))
		if [[ -n ${BASH_REMATCH[1]} ]]; then
			ksft_prog_end not-ok "${BASH_REMATCH[2]}"
		else
			ksft_prog_end ok "${BASH_REMATCH[2]}"
		fi
	elif [[ -z $prog ]]; then
		echo "# [$ksft] $l"
	elif [[ $l =~ ^#\ 1\.\.0\ *#\ *[Ss][Kk][Ii][Pp]\ *(.*)$ ]]; then
		pskip=${BASH_REMATCH[1]:-skipped}
		echo "# [$ksft/$prog] $l"
	elif [[ $l =~ ^#\ 1\.\.([0-9]+) ]]; then
		pplan=${BASH_REMATCH[1]}
		echo "# [$ksft/$prog] $l"
	elif [[ $l =~ ^#\ #\ +RUN\ +([^ ]+) ]]; then
		test=${BASH_REMATCH[1]}
		echo "# [$ksft/$prog] $l"
	elif [[ $l =~ ^#\ (not\ )?ok\ [0-9]+\ ?(.*)$ ]]; then
		pseen=$((pseen + 1))
		rest=${BASH_REMATCH[2]}
		rest=${rest#- }
		[[ $rest == "# "* && -n $test ]] && rest="$test $rest"
		if [[ -n ${BASH_REMATCH[1]} ]]; then
			pbad=$((pbad + 1))
			result not-ok "$name-$ksft/$prog: $rest"
		else
			result ok "$name-$ksft/$prog: $rest"
		fi
	else
		echo "# [$ksft/$prog] $l"
	fi
}

# Renumber the TAP of each item in the console log; check plans.
parse_log() {
	local name=$1 log=$2 line item='' plan=0 seen=0 bad=0 test='' rest
	local ksft='' prog='' pplan=0 pseen=0 pbad=0 pskip='' oplan=0 oseen=0
	while IFS= read -r line; do
		line=${line%$'\r'}
		if [[ -n $ksft ]]; then
			if [[ $line == "NE-KSFT-END $ksft "* ]]; then
				[[ -n $prog ]] && ksft_prog_end not-ok "# no result line (guest output cut?)"
				[[ $oseen -lt $oplan || $oplan -eq 0 ]] &&
					result not-ok "$name-$ksft: run_kselftest.sh gave $oseen of $oplan results (${line##* })"
				ksft=''
			else
				ksft_line "$line"
			fi
			continue
		fi
		case $line in
		NE-KSFT-BEGIN\ *)
			ksft=${line#NE-KSFT-BEGIN }; prog=''; oplan=0; oseen=0
			continue ;;
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
	if [[ -n $ksft ]]; then
		result not-ok "$name-$ksft: no end marker (guest crashed or timed out${prog:+ in $prog}${test:+, last started: $test})"
	fi
	if [[ -n $item ]]; then
		result not-ok "$name/$item: no end marker (guest crashed or timed out after $seen of $plan results${test:+, last started: $test})"
	fi
}

# The tests of the main run, from the installed tree (kselftest-list.txt).
MAIN_TESTS="ne_abi_test ne_smoke ne_ioctl ne_sysfs ne_diag"

run_main() {
	local adds=() s='' t sel=''
	if [[ -n ${NE_KUNIT_MODULE:-} ]]; then
		[[ -f $NE_KUNIT_MODULE ]] && adds+=(--add "$NE_KUNIT_MODULE")
		s+="ne_item kunit_run
"
	fi
	if ! ksft_tarball; then
		result not-ok "main: the installed kselftest tree (ksft_install.sh) failed"
		return
	fi
	adds+=(--add "$TMP/ksft.tar")
	for t in $MAIN_TESTS; do
		sel+=" -t drivers/virt/nitro_enclaves:$t"
	done
	local admin="ne_item admin_pool
ne_ksft admin $sel
ne_item admin_check 'after the suite without NE_TEST_POOL'
"
	[[ ${NE_MAIN_ADMIN:-1} == 0 ]] && admin="ne_item admin_pool
"
	if find_sample; then
		adds+=(--add "$SAMPLE")
	else
		result ok "main/sample: ne_ioctl_sample # SKIP not built"
	fi
	run_vm main "ksft_setup
ne_item skip_reason 'without the driver the programs skip' 'driver is not loaded'
ne_item insmod_ne
ne_item skip_reason 'without a pool or NE_TEST_POOL the programs skip' 'no CPU pool'
ne_item hp_skip_reason
ne_item vsock_skip_reason
$s
${admin}export NE_TEST_POOL=2,3
ne_ksft pool $sel -t drivers/virt/nitro_enclaves:ne_pool_restore.sh
unset NE_TEST_POOL
ne_item admin_check 'after the suite with NE_TEST_POOL=2,3'
${SAMPLE:+ne_item sample_check
}ne_item rmmod_ne" "${adds[@]}" --timeout 600 \
		--qemu-arg -smp --qemu-arg 6,sockets=1,cores=3,threads=2
}

# Skip reasons no other run reaches: a device without the test-control
# BAR (test-hooks=off), the driver unbound from the device.
run_skips() {
	run_vm skips "export NE_TEST_POOL=2,3
skip_no_tb() { echo 1..1; skip_expect 1 'without the test-control BAR ne_faults skips' 'no NE test-control BAR' /opt/ne/ne_faults; }
ne_item insmod_ne
ne_item skip_no_tb
ne_item unbound_skip_reason
ne_item rmmod_ne" --add "$BIN/ne_faults" --add "$BIN/ne_smoke" \
		--ne-opts test-hooks=off --timeout 180
}

run_multi() {
	run_vm multi "ne_item insmod_ne
export NE_TEST_POOL=2-7
ne_item ne_multi
ne_item rmmod_ne" --add "$BIN/ne_multi" --timeout 240 \
		--qemu-arg -smp --qemu-arg 8,sockets=1,cores=4,threads=2
}

run_limits() {
	# Small device limits, and a second NUMA node (memory only) for
	# NE_ERR_MEM_DIFFERENT_NUMA_NODE.
	run_vm limits "ne_item insmod_ne
export NE_MEM_REGIONS=4 NE_MAX_SLOTS=4 NE_TEST_POOL=2,3
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
	run_vm faults "export NE_TEST_POOL=2,3
ne_removal_qmp() { NE_REMOVAL_QMP=1 ne_removal; }
ne_faults() { NE_TEST_POOL=2-5 /opt/ne/ne_faults; }
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

# On the debug kernel (timeouts scaled by 3) the boot, the suites and the
# two kmemleak scans at the end took more than 360 s under single-threaded
# TCG (2026-12-08): 300 s, so 900 s there.
run_kunit() {
	local ko=${NE_KUNIT_MODULE:-$(dirname "${NE_VM_MODULE:-$ROOT/drivers/virt/nitro_enclaves/nitro_enclaves.ko}")/nitro_enclaves_kunit.ko}
	local adds=()
	[[ -f $ko ]] && adds=(--add "$ko")
	run_vm kunit "ne_item insmod_ne
ne_item kunit_run
ne_item rmmod_ne" "${adds[@]}" --timeout 300
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
export NE_TEST_POOL=2,3
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
	[[ ${#runs[@]} -gt 0 ]] || runs=(main skips multi limits faults boot)
	echo "TAP version 13"
	t0=$(date +%s)
	if ! build_tests; then
		result not-ok "build: selftests did not build"
	fi
	for r in "${runs[@]}"; do
		case $r in
		main|skips|multi|limits|faults|kunit|boot) "run_$r" ;;
		*) echo "run_vm_tests.sh: unknown run '$r'" >&2; exit 2 ;;
		esac
	done
	echo "1..$N"
	say "selftests: $((N - FAILED - SKIPPED)) passed, $FAILED failed, $SKIPPED skipped; VM time $(( $(date +%s) - t0 )) s"
	[[ $FAILED -eq 0 ]]
}

main "$@"
