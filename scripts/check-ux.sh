#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check's "check-ux" stage (TAP): the front door behaves.
#   1  NE_CHECK_STAGES with an unknown name fails (exit 2) before any stage
#      runs, and names the culprit
#   2  a selection runs only what it names, with "[i/N]" progress and an
#      estimate line, and ends with the summary line
#   3  the quick preset expands to stages of this configuration
#   4  make help names every target of the Makefile
# The nested check.sh runs log into a temp dir, not build/check.
set -uo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"
cd "$NE_ROOT" || exit 1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ne-check-ux.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=ne-tap.sh
source "$NE_ROOT/scripts/ne-tap.sh"

# check.sh with its logs in $TMP; stdout+stderr to $TMP/out, rc echoed.
nested() {	# NE_CHECK_STAGES value
	local rc=0
	NE_CHECK_LOGDIR=$TMP/logs NE_CHECK_STAGES=$1 scripts/check.sh \
		> "$TMP/out" 2>&1 || rc=$?
	echo "$rc"
}

echo "TAP version 13"
echo "1..4"

rc=$(nested "sample no-such-stage")
[[ $rc -eq 2 ]] && grep -q "no stage named: no-such-stage" "$TMP/out" &&
	! grep -q "^=== \[" "$TMP/out"
tap $? "unknown stage name: exit 2 ($rc), named, nothing run" "$TMP/out"

rc=$(nested "sample")
[[ $rc -eq 0 ]] && grep -q "^=== \[1/1\] sample: " "$TMP/out" &&
	grep -qE "^=== elapsed [0-9]+ min [0-9]+ s, " "$TMP/out" &&
	[[ $(grep -c "^=== \[" "$TMP/out") -eq 1 ]] &&
	[[ $(tail -n1 "$TMP/out") == "1 passed, 0 failed, 0 skipped" ]]
tap $? "NE_CHECK_STAGES=sample: one stage, progress, summary (exit $rc)" "$TMP/out"

# The preset's names must all be stages (else "quick" would itself fail).
quick=$(sed -n 's/^QUICK="\(.*\)"$/\1/p' scripts/check.sh)
plan=$(NE_CHECK_STAGES=no-such-stage scripts/check.sh 2>&1 |
	sed -n 's/^check.sh: the stages are: \(.*\); presets:.*/\1/p')
missing=
for s in $quick; do
	[[ " $plan " == *" $s "* ]] || missing+=" $s"
done
[[ -n $quick && -n $plan && -z $missing ]]
tap $? "quick preset ($quick) names only stages${missing:+; not stages:$missing}"

make --no-print-directory help > "$TMP/help" 2>&1
missing=
while read -r t; do
	grep -qE "^  $t( |$)" "$TMP/help" || missing+=" $t"
done < <(grep -oE '^[a-zA-Z][a-zA-Z0-9_-]*:([^=]|$)' Makefile | cut -d: -f1)
[[ -z $missing ]]
tap $? "make help lists every target${missing:+; missing:$missing}"

[[ $FAILED -eq 0 ]]
