#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the libFuzzer harnesses that this directory's Makefile builds.
#
#   fuzz.sh check|long BINDIR SECONDS RUNS TARGET...
#
# check: per target, replay the checked-in seeds (<target>/corpus) and crash
#   reproducers (<target>/regressions), each of which must run clean;
#   replay the seeds through BINDIR/fuzz_<target>_mutant (a planted bug,
#   see the Makefile), which must fail; then fuzz SECONDS seconds from the
#   seeds in a fresh corpus. TAP output.
# long:  per target, fuzz SECONDS seconds (and at most RUNS executions when
#   RUNS is not empty) with the corpus kept in BINDIR/corpus/<target>
#   across runs, and print libFuzzer's final statistics.
#
# One libFuzzer process at a time. A crash, timeout, leak or sanitizer
# report fails the run; libFuzzer writes the input to
# BINDIR/artifacts/<target>/. Once the bug is fixed, check that file in as
# <target>/regressions/<name> so that every check replays it. The full
# libFuzzer output is in BINDIR/logs/<target>-<mode>.log.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=$1 BIN_DIR=$2 SECONDS_PER_TARGET=$3 RUNS=$4
shift 4

N=0
FAILED=0

tap() {	# ok|not-ok description
	N=$((N + 1))
	if [[ $1 == ok ]]; then
		echo "ok $N - $2"
	else
		echo "not ok $N - $2"
		FAILED=$((FAILED + 1))
	fi
}

# "N runs, cov C, ft F, corpus U, E exec/s" from a libFuzzer log.
summary() {	# log
	local last runs eps
	last=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$1" | tail -n1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -n1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$1" | tail -n1)
	echo "${runs:-?} runs, $(sed -E 's/.*(cov: [0-9]+) (ft: [0-9]+) (corp: [0-9]+).*/\1, \2, \3/' <<< "${last:-}") units, ${eps:-?} exec/s"
}

# The end of a failed run's log, as TAP diagnostics.
show_failure() {	# log
	grep -E 'ERROR: |SUMMARY: |invariant broken|runtime error|Test unit written|#[0-9]+ in ' "$1" |
		head -n 40 | sed 's/^/# /'
}

fuzz_args() {	# target
	local dict=$HERE/$1/$1.dict args=(-print_final_stats=1 -timeout=10
		-rss_limit_mb=2048 "-artifact_prefix=$BIN_DIR/artifacts/$1/")
	[[ -f $dict ]] && args+=("-dict=$dict")
	printf '%s\n' "${args[@]}"
}

run_check() {	# target
	local t=$1 bin=$BIN_DIR/fuzz_$1 log=$BIN_DIR/logs/$1-check.log
	local work=$BIN_DIR/check-corpus/$1 inputs rc
	local -a files

	shopt -s nullglob
	files=("$HERE/$t/corpus/"* "$HERE/$t/regressions/"*)
	shopt -u nullglob
	inputs=$(find "$HERE/$t/regressions" -type f 2>/dev/null | wc -l)
	rc=0
	"$bin" "${files[@]}" > "$log.replay" 2>&1 || rc=$?
	if [[ $rc -eq 0 && ${#files[@]} -gt 0 ]]; then
		tap ok "fuzz_$t: ${#files[@]} seeds and regression inputs ($inputs regressions) replay clean"
	else
		show_failure "$log.replay"
		tap not-ok "fuzz_$t: seeds and regressions replay (exit $rc, ${#files[@]} inputs, see $log.replay)"
	fi

	# The harness must notice a planted bug.
	rc=0
	"$BIN_DIR/fuzz_${t}_mutant" "$HERE/$t/corpus/"* > "$log.mutant" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]] && grep -q 'invariant broken' "$log.mutant"; then
		tap ok "fuzz_$t: the seeds catch the planted bug ($(grep -m1 -o 'invariant broken: .*' "$log.mutant"))"
	else
		tap not-ok "fuzz_$t: the seeds run clean on the planted bug (exit $rc, see $log.mutant)"
	fi

	rm -rf "$work"
	fuzz_run "$t" "$work" "$log" check
	rm -rf "$work"
}

# Fuzz target $1 for SECONDS_PER_TARGET from corpus $2 (kept) and its
# seeds, logging to $3, and print a TAP line. Mode $4: "check", or "long"
# (with RUNS, the command line and libFuzzer's final statistics printed).
fuzz_run() {	# target work log mode
	local t=$1 work=$2 log=$3 mode=$4 bin=$BIN_DIR/fuzz_$1 args rc=0 start

	mkdir -p "$work" "$BIN_DIR/artifacts/$t"
	mapfile -t args < <(fuzz_args "$t")
	if [[ $mode == long ]]; then
		[[ -n $RUNS ]] && args+=("-runs=$RUNS")
		echo "fuzz_$t: $bin ${args[*]} -max_total_time=$SECONDS_PER_TARGET $work $HERE/$t/corpus"
	fi
	start=$SECONDS
	"$bin" "${args[@]}" -max_total_time="$SECONDS_PER_TARGET" \
		"$work" "$HERE/$t/corpus" > "$log" 2>&1 || rc=$?
	[[ $mode == long ]] &&
		grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::' "$log"
	if [[ $rc -eq 0 ]]; then
		tap ok "fuzz_$t: $((SECONDS - start)) s, $(summary "$log"), no crash"
	else
		show_failure "$log"
		tap not-ok "fuzz_$t: crash or sanitizer report after $((SECONDS - start)) s (exit $rc, inputs in $BIN_DIR/artifacts/$t, log $log)"
	fi
}

run_long() {	# target
	fuzz_run "$1" "$BIN_DIR/corpus/$1" "$BIN_DIR/logs/$1-long.log" long
}

mkdir -p "$BIN_DIR/logs"
echo "TAP version 13"
case $MODE in
check)
	echo "1..$(($# * 3))"
	for t in "$@"; do
		run_check "$t"
	done
	;;
long)
	echo "1..$#"
	for t in "$@"; do
		run_long "$t"
	done
	;;
*)
	echo "fuzz.sh: unknown mode '$MODE' (check or long)" >&2
	exit 2
	;;
esac
[[ $FAILED -eq 0 ]]
