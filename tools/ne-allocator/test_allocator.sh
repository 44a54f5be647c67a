#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash
#
# TAP tests of nitro-enclaves-allocator, run as root in the test VM (busybox
# sh) by vm_test.sh: the command itself, not its systemd unit.
#
#   sh test_allocator.sh
#
# Expects in its own directory: nitro-enclaves-allocator, ne-hugepage-order,
# nitro_enclaves.ko (loaded if the module is not), and ne_bench for the
# bench cases. The VM must start with no 2 MiB hugepages reserved
# (NE_VM_HUGEPAGES=0), 4 CPUs as 2 cores of 2 threads, and at least
# 2 GiB free on the node of CPUs 2-3 (the node the pool goes to).
#
# Environment: TIMING (print the uptime at each step), EXPECT_NODE (a
# VM of two nodes: the node cpu_count must choose, one test more; the
# node the tests use is otherwise that of CPU 2), MAX_ADD_MEM (the most SLOT_ADD_MEM commands a 2 GiB
# nitro-cli-style launch may send after the allocator; default 16).
#
# Exit status: 0 if every test passed, 1 otherwise.

# Lists of words are split on purpose:
# shellcheck disable=SC2086

cd "$(dirname "$0")" || exit 1
ALLOC=./nitro-enclaves-allocator
SYS=/sys/devices/system
PARAM=/sys/module/nitro_enclaves/parameters/ne_cpus
CONF=/tmp/allocator.conf
MAX_ADD_MEM=${MAX_ADD_MEM:-16}
NR_TESTS=26
[ -n "${EXPECT_NODE:-}" ] && NR_TESTS=27

N=0
FAILED=0
OUT=
RC=

say() { printf '%s\n' "$*"; }

# With TIMING set, the guest's uptime at each step.
stamp() { [ -z "${TIMING:-}" ] || say "# uptime $(cut -d' ' -f1 /proc/uptime) $*"; }

ok() {	# CONDITION-STATUS DESCRIPTION
	N=$((N + 1))
	stamp
	if [ "$1" -eq 0 ]; then
		say "ok $N $2"
	else
		say "not ok $N $2"
		FAILED=$((FAILED + 1))
		[ -z "$OUT" ] || printf '%s\n' "$OUT" | sed 's/^/# /'
	fi
}

# Run the allocator with config text $1 and options "$@"; set OUT and RC.
alloc() {
	printf '%s\n' "$1" > "$CONF"
	shift
	OUT=$($ALLOC -c "$CONF" "$@" 2>&1)
	RC=$?
}

has() { printf '%s\n' "$OUT" | grep -q -- "$1"; }

# ok if the last run exited $1 and said something matching $2.
expect() {	# RC PATTERN DESCRIPTION
	[ "$RC" -eq "$1" ] && has "$2"
	ok $? "$3 (exit $RC)"
}

pages() {	# NODE SIZE_KB
	cat "$SYS/node/node$1/hugepages/hugepages-$2kB/nr_hugepages"
}

pool() { tr -d '\n' < "$PARAM"; }

# Words of a cpu-list, for comparing pools however they are written.
cpus() {
	printf '%s\n' "$1" | tr ',' '\n' | awk -F- 'NF { for (c = $1; c <= (NF > 1 ? $2 : $1); c++) printf "%d ", c }'
}

# Nothing reserved anywhere, no pool.
reset_all() {
	local d
	echo > "$PARAM"
	for d in "$SYS"/node/node*/hugepages/hugepages-*kB; do
		echo 0 > "$d/nr_hugepages"
	done
}

# ne_bench's one nitro-cli-style launch of 2 GiB on the pool as the kernel
# hands it out. Sets OUT, RC and ADD_MEM (the SLOT_ADD_MEM commands).
bench() {
	stamp "bench start"
	OUT=$(./ne_bench --check --pool-as-is --sizes 2048 2>&1)
	RC=$?
	stamp "bench end"
	ADD_MEM=$(printf '%s\n' "$OUT" | sed -n 's/^ok .*: \([0-9]*\) SLOT_ADD_MEM for \([0-9]*\) extents.*/\1/p')
	EXTENTS=$(printf '%s\n' "$OUT" | sed -n 's/^ok .*: [0-9]* SLOT_ADD_MEM for \([0-9]*\) extents.*/\1/p')
	printf '%s\n' "$OUT" | sed 's/^/# ne_bench: /'
}

say "TAP version 13"
say "1..$NR_TESTS"

[ -e "$PARAM" ] || insmod ./nitro_enclaves.ko || {
	say "Bail out! cannot load nitro_enclaves.ko"
	exit 1
}
reset_all
NODE=${EXPECT_NODE:-$(basename "$(ls -d "$SYS"/cpu/cpu2/node* 2>/dev/null)" | sed 's/node//')}
NODE=${NODE:-0}
say "# nodes online: $(cat "$SYS/node/online"); the pool's node should be $NODE"

# ---- command line ----
OUT=$($ALLOC --help 2>/dev/null); RC=$?
expect 0 "^Usage: nitro-enclaves-allocator" "--help prints usage to stdout"
OUT=$($ALLOC --version 2>/dev/null); RC=$?
expect 0 "^nitro-enclaves-allocator [0-9]" "--version"
OUT=$($ALLOC --frobnicate 2>&1); RC=$?
expect 2 "unknown argument" "an unknown option is a usage error"
OUT=$($ALLOC -c /nonexistent.conf 2>&1); RC=$?
expect 3 "no such file" "a missing config file"

# ---- invalid config files ----
alloc "this is not yaml"
expect 3 "line 1: expected 'key: value'" "garbage"
alloc "memory_mib: 512
cpu_cores: 2"
expect 3 "unknown key 'cpu_cores'" "an unknown key"
alloc "memory_mib: 512
cpu_count: 2
cpu_pool: 2,3"
expect 3 "not both" "cpu_count and cpu_pool"
alloc "memory_mib: 513
cpu_count: 2"
expect 3 "multiple of 2" "memory_mib not a multiple of 2 MiB"
alloc "memory_mib: 512
cpu_pool: 2;3"
expect 3 "cpu-list" "cpu_pool not a cpu-list"

# ---- impossible configs ----
alloc "memory_mib: 1000000
cpu_count: 2"
expect 1 "1000000 MiB of memory" "too much memory"
[ "$(pages "$NODE" 2048)" -eq 0 ] && [ -z "$(pool)" ]
ok $? "too much memory reserves nothing and sets no pool"
alloc "memory_mib: 512
cpu_count: 4"
expect 1 "no NUMA node has 4 CPUs" "too many CPUs"
alloc "memory_mib: 512
cpu_count: 1"
expect 1 "not whole cores" "half a core"
alloc "memory_mib: 512
cpu_pool: 1"
expect 1 "CPU 0's core" "a sibling of CPU 0"
alloc "memory_mib: 512
cpu_pool: 2,3,64"
expect 1 "CPU 64 does not exist" "a CPU that does not exist"
alloc "memory_mib: 512
cpu_pool: 3"
expect 1 "list whole cores" "cpu_pool of half a core"

# ---- a valid config, twice ----
# (Small: ordering faults every free page in, and zeroing is slow in TCG.)
alloc "memory_mib: 64
cpu_count: 2"
say "$OUT" | sed 's/^/# /'
[ "$RC" -eq 0 ] && [ "$(cpus "$(pool)")" = "2 3 " ] &&
	[ "$(pages "$NODE" 2048)" -eq 32 ] && [ "$(pages "$NODE" 1048576)" -eq 0 ]
ok $? "64 MiB and 2 CPUs: 32 pages of 2 MiB on node $NODE, pool 2-3 (ne_cpus '$(pool)')"
has "^order: node $NODE: 32 free 2048 kB pages ordered"
ok $? "the free pages were ordered"
alloc "memory_mib: 64
cpu_count: 2"
expect 0 "^changed: nothing$" "the same config again changes nothing"
alloc "memory_mib: 64
cpu_pool: 2-3"
expect 0 "^changed: nothing$" "the same pool as cpu_pool changes nothing"
alloc "memory_mib: 1024
cpu_count: 2" --dry-run
[ "$RC" -eq 0 ] && has "changed: nothing (dry run)" && [ "$(pages "$NODE" 2048)" -eq 32 ]
ok $? "--dry-run changes nothing (exit $RC)"
OUT=$($ALLOC --release 2>&1); RC=$?
[ "$RC" -eq 0 ] && [ -z "$(pool)" ] && [ "$(pages "$NODE" 2048)" -eq 0 ]
ok $? "--release empties the pool and the node's hugepages (exit $RC)"

# ---- the bench: plain reservation against the allocator, same pages ----
if ! [ -x ./ne_bench ]; then
	for _ in 1 2 3 4; do
		N=$((N + 1)); say "ok $N # SKIP no ne_bench"
	done
elif ! grep -q pool-as-is ./ne_bench; then
	# The acceptance figure needs a launch on the pool as it is.
	OUT=
	for _ in 1 2 3; do
		ok 1 "ne_bench has no --pool-as-is: cannot launch on the pool as the kernel hands it out"
	done
	N=$((N + 1)); say "ok $N # SKIP 2 GiB with 1 GiB pages allowed (no ne_bench --pool-as-is)"
else
	echo 1024 > "$SYS/node/node$NODE/hugepages/hugepages-2048kB/nr_hugepages"
	stamp "1024 pages reserved"
	echo 2,3 > "$PARAM"
	stamp "pool set"
	bench
	PLAIN=$ADD_MEM
	[ "$RC" -eq 0 ] && [ -n "$PLAIN" ] && [ "$PLAIN" -gt "$MAX_ADD_MEM" ]
	ok $? "plain nr_hugepages=1024: a nitro-cli-style 2 GiB launch sends ${PLAIN:-?} SLOT_ADD_MEM (${EXTENTS:-?} extents; more than $MAX_ADD_MEM)"

	alloc "memory_mib: 2048
cpu_pool: 2,3" --no-1g
	say "$OUT" | sed 's/^/# /'
	expect 0 "^order: node $NODE: 1024 free 2048 kB pages ordered" "the allocator keeps the 1024 pages and orders them"
	bench
	[ "$RC" -eq 0 ] && [ -n "$ADD_MEM" ] && [ "$ADD_MEM" -le "$MAX_ADD_MEM" ]
	ok $? "after the allocator: the same launch sends ${ADD_MEM:-?} SLOT_ADD_MEM (${EXTENTS:-?} extents; at most $MAX_ADD_MEM, plain: ${PLAIN:-?})"

	# With 1 GiB pages allowed: 2 MiB pages make up what the kernel
	# cannot give in 1 GiB pages at run time.
	alloc "memory_mib: 2048
cpu_pool: 2,3"
	say "$OUT" | sed 's/^/# /'
	expect 0 "^hugepages: node $NODE holds 2048 MiB" "2 GiB with 1 GiB pages allowed"
fi

# ---- two nodes: cpu_count picks the node of the free cores ----
if [ -n "${EXPECT_NODE:-}" ]; then
	reset_all
	alloc "memory_mib: 64
cpu_count: 2"
	[ "$RC" -eq 0 ] && has "^node: $EXPECT_NODE, CPUs 2,3" &&
		[ "$(pages "$EXPECT_NODE" 2048)" -eq 32 ]
	ok $? "cpu_count 2 chooses node $EXPECT_NODE and reserves there (exit $RC)"
fi

reset_all
say "# $FAILED of $N failed"
[ "$FAILED" -eq 0 ]
