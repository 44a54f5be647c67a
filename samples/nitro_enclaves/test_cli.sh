#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The sample launcher's command line, on the host: no device is opened, so
# this runs anywhere (TAP):
#
#   test_cli.sh NE_IOCTL_SAMPLE
#
# --help prints the usage on stdout and exits 0; --version prints
# "ne_ioctl_sample VERSION" and exits 0; a bad command line exits 2 with the
# usage on stderr and nothing on stdout; without /dev/nitro_enclaves a
# launch is a runtime failure, exit 1.

bin=$1
[ -x "$bin" ] || { echo "usage: $0 NE_IOCTL_SAMPLE" >&2; exit 2; }
tmp=$(mktemp -d /tmp/ne-sample-cli.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
# expect NAME STATUS STREAM ARGS...: STREAM is where the output must be
# (stdout: only stdout; stderr: only stderr).
expect() {
	name=$1 want=$2 streams=$3
	shift 3
	n=$((n + 1))
	"$bin" "$@" > "$tmp/out" 2> "$tmp/err"
	got=$?
	why=
	[ "$got" = "$want" ] || why="exit $got, want $want"
	case $streams in
	stdout)	[ -s "$tmp/out" ] && [ ! -s "$tmp/err" ] ||
			why="$why${why:+; }want output on stdout only" ;;
	stderr)	[ ! -s "$tmp/out" ] && grep -q '^Usage:' "$tmp/err" ||
			why="$why${why:+; }want the usage on stderr only" ;;
	esac
	if [ -z "$why" ]; then
		echo "ok $n - ne_ioctl_sample $*: $name"
	else
		echo "not ok $n - ne_ioctl_sample $*: $name"
		echo "# $why"
		sed 's/^/# stderr: /' "$tmp/err" | head -3
		failed=$((failed + 1))
	fi
}

echo "TAP version 13"
echo "1..15"
expect "usage on stdout" 0 stdout --help
expect "usage on stdout" 0 stdout -h
expect "version on stdout" 0 stdout --version
expect "version on stdout" 0 stdout -V
n=$((n + 1))
if "$bin" --version | grep -qE '^ne_ioctl_sample [0-9]+\.[0-9]+'; then
	echo "ok $n - --version names the project version"
else
	echo "not ok $n - --version names the project version"
	failed=$((failed + 1))
fi
expect "no image" 2 stderr
expect "two images" 2 stderr a.eif b.eif
expect "unknown option" 2 stderr --frobnicate a.eif
expect "--memory 0" 2 stderr --memory 0 a.eif
expect "--memory not a number" 2 stderr --memory lots a.eif
expect "--vcpus 0" 2 stderr --vcpus 0 a.eif
expect "bad --cpu-ids" 2 stderr --cpu-ids 1,,x a.eif
expect "--name without a value" 2 stderr a.eif --name
expect "--attach-console without --debug" 2 stderr --attach-console a.eif
if [ -e /dev/nitro_enclaves ]; then
	n=$((n + 1))
	echo "ok $n - no device: runtime failure exits 1 # SKIP /dev/nitro_enclaves exists"
else
	expect "no device: runtime failure exits 1" 1 - --time 0 a.eif
fi
[ "$failed" = 0 ] || echo "# $failed of $n failed"
[ "$failed" = 0 ]
