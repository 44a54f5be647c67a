#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Launch-path benchmark: run ne_bench in the test VM and print its table.
#
#   scripts/bench.sh [--check] [-- NE_BENCH_ARGS...]
#
# Without --check (make bench): a larger VM (8 GiB, 10 CPUs = 5 cores of
# 2 threads, pool 2-9, 1400 2 MiB hugepages, 2 of 1 GiB, mem-regions=2048
# so that per-page launches of 2 GiB fit) runs ne_bench with its default
# cases: 512 MiB and 2 GiB, nitro-cli style (pool in descending and in
# ascending order, the latter also with the debugfs knob
# legacy_per_page_mem on), one-region style (both pool orders) and 1 GiB
# pages, 3 reps each; then 1, 2 and 4
# parallel launches. Only the table is printed. It takes about 30 minutes
# on a loaded 2-core host.
#
# With --check (a make check stage): the default test VM runs
# "ne_bench --check --sizes 128" and the TAP it prints: a launch must send
# no more SLOT_ADD_MEM commands than its memory has physically contiguous
# extents, in either memory style.
#
# With --compare (make bench-linux; --compare --check is a make check
# stage): Linux 6.1's own driver, built by scripts/build-linux-ne.sh from
# Debian's linux-source-6.1, against this one. The default test VM runs
# "ne_bench --compare" once with instant device replies and once with
# replies after 1 ms (reply-latency-us=1000): the same launches with each
# driver loaded in turn on the same pages, alternating which goes first,
# 512 MiB, 15 reps (7 with --check). Without --check it prints the
# side-by-side table of both runs (about 4 minutes); with --check, TAP for
# the like-with-like cases (nitro-cli style on the pool as allocated, one
# region on a sorted pool): this driver's memory+start no slower than
# Linux's beyond noise (see slower() in ne_bench.c).
#
# Environment: NE_SELFTEST_BIN (where ne_bench is built, default
# $NE_BUILD/selftests), NE_VM_HUGEPAGES, NE_BENCH_TIMEOUT (seconds, full
# run; default 1800), NE_BENCH_NE_OPTS (more NE device properties for the
# full run, e.g. reply-latency-us=1000 for a slower device), NE_VM_MODULE
# (see scripts/ne-vm). Exit status: that of ne_bench, or ne-vm's when the
# VM failed.
set -uo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

SELFTESTS=$NE_ROOT/tools/testing/selftests/drivers/virt/nitro_enclaves
BIN=${NE_SELFTEST_BIN:-$NE_BUILD/selftests}
CHECK=
COMPARE=
ARGS=()

while [[ $# -gt 0 ]]; do
	case $1 in
	--check) CHECK=1; shift ;;
	--compare) COMPARE=1; shift ;;
	--) shift; ARGS=("$@"); break ;;
	*) echo "usage: $0 [--check] [--compare] [-- NE_BENCH_ARGS...]" >&2; exit 2 ;;
	esac
done

make -s -C "$SELFTESTS" O="$BIN" "$BIN/ne_bench" >&2 || exit 1

# The guest: load the driver, set the pool, run the bench between markers.
guest_script() {	# pool
	cat <<-EOF
	echo 1 > /proc/sys/kernel/printk
	insmod /opt/ne/nitro_enclaves.ko || exit 1
	echo $1 > /sys/module/nitro_enclaves/parameters/ne_cpus || exit 1
	echo 2 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages 2>/dev/null
	echo NE-BENCH-BEGIN
	./ne_bench $(printf '%q ' "$@")
	rc=\$?
	echo NE-BENCH-END
	rmmod nitro_enclaves
	exit \$rc
	EOF
}

# Print the bench's output from a VM log; keep the log if rc is not 0.
bench_output() {	# log rc
	tr -d '\r' < "$1" | sed -n '/^NE-BENCH-BEGIN/,/^NE-BENCH-END/{/^NE-BENCH-/d;p}'
	if [[ $2 -ne 0 ]]; then
		echo "# bench.sh: exit $2; last lines of the VM log ($1, kept):"
		tr -d '\r' < "$1" | tail -n 30 | sed 's/^/# /'
	else
		rm -f "$1"
	fi
}

# Both drivers side by side, with instant and with 1 ms device replies.
compare() {
	local linux_ko dir log rc=0 one us
	linux_ko=$("$NE_ROOT/scripts/build-linux-ne.sh") || exit 1
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ne-bench.XXXXXX")
	# Its own name in the guest: both modules are called nitro_enclaves.
	cp "$linux_ko" "$dir/linux_nitro_enclaves.ko"
	if [[ ${#ARGS[@]} -eq 0 && -n $CHECK ]]; then
		ARGS=(--sizes 512 --reps 7)
	elif [[ ${#ARGS[@]} -eq 0 ]]; then
		ARGS=(--sizes 512 --reps 15)
	fi
	[[ -n $CHECK ]] && ARGS=(--check "${ARGS[@]}")
	for us in 0 1000; do
		log=$(mktemp "${TMPDIR:-/tmp}/ne-bench.XXXXXX.log")
		echo "# device replies after $us us"
		"$NE_ROOT/scripts/ne-vm" run --add "$BIN/ne_bench" \
			--add "$dir/linux_nitro_enclaves.ko" \
			--timeout "${NE_BENCH_TIMEOUT:-900}" \
			--ne-opts "reply-latency-us=$us" \
			-- sh -c "$(compare_script)" > "$log" 2>&1
		one=$?
		bench_output "$log" "$one"
		[[ $one -eq 0 ]] || rc=$one
	done
	rm -rf "$dir"
	exit "$rc"
}

compare_script() {
	cat <<-EOF
	echo 1 > /proc/sys/kernel/printk
	echo NE-BENCH-BEGIN
	./ne_bench --compare linux_nitro_enclaves.ko,nitro_enclaves.ko --cpus 2,3 $(printf '%q ' "${ARGS[@]}")
	rc=\$?
	echo NE-BENCH-END
	exit \$rc
	EOF
}

[[ -z $COMPARE ]] || compare

LOG=$(mktemp "${TMPDIR:-/tmp}/ne-bench.XXXXXX.log")

if [[ -n $CHECK ]]; then
	[[ ${#ARGS[@]} -gt 0 ]] || ARGS=(--sizes 128)
	"$NE_ROOT/scripts/ne-vm" run --add "$BIN/ne_bench" --timeout 300 \
		-- sh -c "$(guest_script 2,3 --check "${ARGS[@]}")" > "$LOG" 2>&1
	rc=$?
else
	NE_VM_HUGEPAGES=${NE_VM_HUGEPAGES:-1400} \
	"$NE_ROOT/scripts/ne-vm" run --add "$BIN/ne_bench" \
		--timeout "${NE_BENCH_TIMEOUT:-1800}" \
		--ne-opts "mem-regions=2048${NE_BENCH_NE_OPTS:+,$NE_BENCH_NE_OPTS}" \
		--qemu-arg -m --qemu-arg 8G \
		--qemu-arg -smp --qemu-arg 10,sockets=1,cores=5,threads=2 \
		-- sh -c "$(guest_script 2-9 "${ARGS[@]}")" > "$LOG" 2>&1
	rc=$?
fi

bench_output "$LOG" "$rc"
exit "$rc"
