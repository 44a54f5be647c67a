#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The command line conventions of eif (TAP):
#
#   exit_codes.sh EIF_BINARY
#
# --help and help print the usage on stdout and exit 0; --version prints
# "eif VERSION" and exits 0; a bad command line exits 2 with the usage on
# stderr and nothing on stdout; a runtime failure (missing or invalid file)
# exits 1.

eif=$1
[ -x "$eif" ] || { echo "usage: $0 EIF_BINARY" >&2; exit 2; }
tmp=$(mktemp -d /tmp/eif-exit.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
printf kernel > "$tmp/k"
printf ramdisk > "$tmp/r"
printf 'not json' > "$tmp/bad.json"
head -c 100 /dev/zero > "$tmp/tiny.eif"

n=0
failed=0
# expect NAME STATUS STREAM-CHECK ARGS...: run eif ARGS in $tmp; STREAM-CHECK
# is "stdout" (usage or version on stdout, nothing on stderr), "stderr"
# (nothing on stdout, a message on stderr) or "-" (no check of the streams).
expect() {
	name=$1 want=$2 streams=$3
	shift 3
	n=$((n + 1))
	(cd "$tmp" && "$eif" "$@" > out 2> err)
	got=$?
	why=
	[ "$got" = "$want" ] || why="exit $got, want $want"
	case $streams in
	stdout)	[ -s "$tmp/out" ] && [ ! -s "$tmp/err" ] ||
			why="$why${why:+; }want output on stdout only" ;;
	stderr)	[ ! -s "$tmp/out" ] && [ -s "$tmp/err" ] ||
			why="$why${why:+; }want a message on stderr only" ;;
	esac
	if [ -z "$why" ]; then
		echo "ok $n - eif $*: $name"
	else
		echo "not ok $n - eif $*: $name"
		echo "# $why"
		sed 's/^/# stderr: /' "$tmp/err" | head -5
		failed=$((failed + 1))
	fi
}

echo "TAP version 13"
echo "1..17"
expect "usage on stdout" 0 stdout --help
expect "usage on stdout" 0 stdout help
expect "usage on stdout" 0 stdout build --help
expect "usage on stdout" 0 stdout describe --help
expect "version on stdout" 0 stdout --version
expect "no command is a usage error" 2 stderr
expect "unknown command" 2 stderr frobnicate
expect "unknown option" 2 stderr --frobnicate
expect "unknown build option" 2 stderr build --frobnicate
expect "build without --ramdisk" 2 stderr build --kernel k --cmdline x -o o.eif
expect "build --arch sparc" 2 stderr build --kernel k --cmdline x --ramdisk r --arch sparc -o o.eif
expect "describe without a file" 2 stderr describe
expect "describe --details without --json" 2 stderr describe --details x.eif
expect "describe of a missing file fails" 1 stderr describe missing.eif
expect "describe of an invalid image fails" 1 - describe tiny.eif
expect "build from a missing kernel fails" 1 stderr build --kernel nok --cmdline x --ramdisk r -o o.eif
expect "build with invalid --metadata JSON fails" 1 stderr build --kernel k --cmdline x --ramdisk r --metadata bad.json -o o.eif
[ "$failed" = 0 ] || echo "# $failed of $n failed"
[ "$failed" = 0 ]
