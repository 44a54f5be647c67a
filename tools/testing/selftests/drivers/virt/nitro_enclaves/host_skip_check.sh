#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# On a machine without the NE device or driver, every installed program
# of this collection must skip: exit 4 with a "1..0 # SKIP <reason>" plan,
# with and without NE_TEST_POOL. ne_abi_test is the exception: it checks
# the UAPI header at build time and needs nothing, so it must pass (0).
#
#   host_skip_check.sh INSTALL_PATH     (the kselftest install tree)
#
# Prints TAP, one line per program and setting; exit 0 if all are as
# expected, 1 if not, 4 if this machine has /dev/nitro_enclaves.
set -uo pipefail

COL=drivers/virt/nitro_enclaves
INST=${1:?usage: host_skip_check.sh INSTALL_PATH}
LIST=$INST/kselftest-list.txt
N=0
FAILED=0

if [[ -e /dev/nitro_enclaves ]]; then
	echo "1..0 # SKIP this machine has /dev/nitro_enclaves"
	exit 4
fi
[[ -r $LIST ]] || { echo "host_skip_check.sh: no $LIST" >&2; exit 1; }
mapfile -t PROGS < <(sed -n "s|^$COL:||p" "$LIST")
[[ ${#PROGS[@]} -gt 0 ]] || { echo "host_skip_check.sh: no $COL tests in $LIST" >&2; exit 1; }

echo "TAP version 13"
echo "1..$((2 * ${#PROGS[@]}))"
for pool in "" "2,3"; do
	for p in "${PROGS[@]}"; do
		want=4
		[[ $p == ne_abi_test ]] && want=0
		out=$(cd "$INST/$COL" && NE_TEST_POOL=$pool timeout 60 "./$p" 2>&1)
		rc=$?
		N=$((N + 1))
		desc="$p${pool:+ (NE_TEST_POOL=$pool)} exits $want"
		reason=$(sed -n 's/^1\.\.0 # SKIP //p' <<< "$out" | head -n 1)
		if [[ $rc -eq $want && ( $want -ne 4 || -n $reason ) ]]; then
			echo "ok $N $desc${reason:+: $reason}"
		else
			echo "not ok $N $desc: exit $rc${reason:+, reason: $reason}"
			tail -n 10 <<< "$out" | while IFS= read -r l; do echo "#   $l"; done
			FAILED=$((FAILED + 1))
		fi
	done
done
[[ $FAILED -eq 0 ]]
