#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Static checks of the driver, printed as TAP (one line per check):
#   - the module builds against $KDIR with W=1 and sparse (C=2), and no
#     warning or error points into our sources;
#   - the external build picked up this tree's UAPI header, not the copy
#     shipped with the kernel headers;
#   - checkpatch.pl --strict is clean on every driver .c/.h and on both
#     nitro_enclaves.h headers;
#   - kernel-doc -none is silent on the same files;
#   - the compile-time ABI test builds (and runs) against include/uapi.
#
#   scripts/static-checks.sh        (also: part of make check)
#
# checkpatch.pl and kernel-doc come from $NE_CACHE/linux-source-6.1/scripts,
# which "make deps" extracts. The module is built in a temporary copy of
# the sources, so the working tree is left alone. Exit status: 0 when
# every check passed, 1 otherwise. NE_STATIC_KEEP=1 keeps the build copy.
set -uo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

DRV=drivers/virt/nitro_enclaves
ABI_TEST=tools/testing/selftests/drivers/virt/nitro_enclaves/ne_abi_test.c
KSCRIPTS=$NE_CACHE/linux-source-6.1/scripts
CHECKPATCH=$KSCRIPTS/checkpatch.pl
KERNELDOC=$KSCRIPTS/kernel-doc

N=0
FAILED=0
TMP=$(mktemp -d /tmp/ne-static.XXXXXX)

cleanup() {
	if [[ -n ${NE_STATIC_KEEP:-} ]]; then
		echo "# build copy kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

# tap_result OK NAME [DIAGNOSTIC FILE]
tap_result() {
	N=$((N + 1))
	if [[ $1 == 0 ]]; then
		echo "ok $N - $2"
	else
		echo "not ok $N - $2"
		FAILED=$((FAILED + 1))
		[[ -n ${3:-} && -s $3 ]] && sed 's/^/# /' "$3"
	fi
	return 0
}

# Our sources, relative to NE_ROOT (not the *.mod.c an in-place build makes).
our_files() {
	(cd "$NE_ROOT" && ls $DRV/*.c $DRV/*.h include/linux/nitro_enclaves.h \
		include/uapi/linux/nitro_enclaves.h 2>/dev/null) | grep -v '\.mod\.c$'
}

check_build() {
	local log=$TMP/build.log diag=$TMP/build.diag rc
	local copy=$TMP/src

	mkdir -p "$copy/$DRV" "$copy/include"
	cp -a "$NE_ROOT/$DRV/." "$copy/$DRV/"
	cp -a "$NE_ROOT/include/." "$copy/include/"
	# Stale objects from a build in the working tree would hide warnings.
	find "$copy/$DRV" \( -name '*.o' -o -name '*.ko' -o -name '*.mod*' \
		-o -name '.*.cmd' -o -name modules.order -o -name Module.symvers \) \
		-delete

	make -C "$KDIR" M="$copy/$DRV" CONFIG_NITRO_ENCLAVES=m W=1 C=2 -j2 \
		modules >"$log" 2>&1
	rc=$?

	# Warnings and errors located in our copy, and modpost's findings.
	grep -E "^$copy/[^:]+:[0-9]+(:[0-9]+)?: (warning|error)|WARNING: modpost" \
		"$log" >"$diag"
	if [[ $rc -ne 0 ]]; then
		echo "make failed with status $rc" >>"$diag"
		tail -n 20 "$log" >>"$diag"
	fi
	[[ $rc -eq 0 && ! -s $diag ]]
	tap_result $? "w1-sparse (module builds with W=1 C=2, no warnings in our files)" "$diag"

	check_uapi_origin "$copy"
}

# The external build must compile against include/uapi of this tree.
check_uapi_origin() {
	local copy=$1 cmd=$1/$DRV/.ne_pci_dev.o.cmd diag=$TMP/uapi.diag

	if [[ ! -f $cmd ]]; then
		echo "no $cmd (build failed?)" >"$diag"
		tap_result 1 "uapi-header-origin" "$diag"
		return
	fi
	grep -o '[^ ]*/linux/nitro_enclaves\.h' "$cmd" | sort -u >"$diag"
	grep -q "^$copy/$DRV/\.\./\.\./\.\./include/uapi/linux/nitro_enclaves\.h$" "$diag" &&
		! grep -q "^$KDIR\|^/usr/src/" "$diag"
	tap_result $? "uapi-header-origin (this tree's include/uapi, not $KDIR's)" "$diag"
}

check_checkpatch() {
	local f out=$TMP/checkpatch.out

	for f in $(our_files); do
		if [[ ! -x $CHECKPATCH ]]; then
			echo "missing $CHECKPATCH: run make deps" >"$out"
			tap_result 1 "checkpatch $f" "$out"
			continue
		fi
		(cd "$NE_ROOT" && "$CHECKPATCH" --strict --no-tree --no-summary \
			--show-types --terse -f "$f") >"$out" 2>&1
		# --terse: one line per finding, nothing when clean.
		[[ ! -s $out ]]
		tap_result $? "checkpatch $f" "$out"
	done
}

check_kerneldoc() {
	local f out=$TMP/kerneldoc.out

	for f in $(our_files); do
		if [[ ! -x $KERNELDOC ]]; then
			echo "missing $KERNELDOC: run make deps" >"$out"
			tap_result 1 "kernel-doc $f" "$out"
			continue
		fi
		(cd "$NE_ROOT" && "$KERNELDOC" -none "$f") >"$out" 2>&1
		[[ ! -s $out ]]
		tap_result $? "kernel-doc $f" "$out"
	done
}

check_abi_test() {
	local out=$TMP/abi.out bin=$TMP/ne_abi_test

	(cd "$NE_ROOT" && gcc -std=gnu11 -Wall -Wextra -Werror \
		-I include/uapi -o "$bin" "$ABI_TEST") >"$out" 2>&1 &&
		"$bin" >>"$out" 2>&1 && grep -q '^ok 1 - abi$' "$out"
	tap_result $? "abi-test ($ABI_TEST)" "$out"
}

echo "TAP version 13"
check_build
check_checkpatch
check_kerneldoc
check_abi_test
echo "1..$N"
echo "# static checks: $((N - FAILED)) passed, $FAILED failed"

[[ $FAILED -eq 0 ]]
