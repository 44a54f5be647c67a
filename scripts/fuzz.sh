#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the ioctl fuzzer (ne_fuzz) in the test VM, reproducibly:
#
#   scripts/fuzz.sh [--debug] [--calls N] [--seed S] [--timeout SEC]
#
# --debug boots the debug kernel (make debug-kernel: KASAN, lockdep,
# kmemleak) with the module built for it, and ends with a kmemleak scan.
# The seed is printed first (default: a fresh one); the same seed and call
# count replay the same call sequence. N counts the main loop's calls; the
# calls of its forked children are counted apart and printed beside it.
# Exit status: ne-vm's (0 = the fuzzer's invariants held and the guest
# kernel log is clean).
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

CALLS=1000000
SEED=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
TIMEOUT=86400
DEBUG=
while [[ $# -gt 0 ]]; do
	case $1 in
	--debug)	DEBUG=1; shift ;;
	--calls)	CALLS=${2:?}; shift 2 ;;
	--seed)		SEED=${2:?}; shift 2 ;;
	--timeout)	TIMEOUT=${2:?}; shift 2 ;;
	*)		sed -n '3,/^set/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2 ;;
	esac
done

make -s -C "$NE_ROOT" selftests
opts=()
leak=
if [[ -n $DEBUG ]]; then
	"$NE_ROOT/scripts/build-debug-kernel.sh"
	eval "$("$NE_ROOT/scripts/build-debug-kernel.sh" env)"
	export NE_VM_MODULE=${NE_DK_MODULE:?}
	export NE_VM_KNOWN_KMSG=${NE_DK_KNOWN_KMSG:?}
	opts=(--kernel "$NE_DK_KERNEL" --modules "$NE_DK_MODULES" --append "$NE_DK_APPEND")
	# shellcheck disable=SC2016 # expanded in the guest
	leak='k=/sys/kernel/debug/kmemleak; echo scan > $k; sleep 2; echo scan > $k; cat $k > /tmp/leaks; cat /tmp/leaks; [ -s /tmp/leaks ] && rc=1;'
fi
echo "fuzz: seed $SEED, $CALLS calls (replay: scripts/fuzz.sh ${DEBUG:+--debug }--calls $CALLS --seed $SEED)"
exec "$NE_ROOT/scripts/ne-vm" run "${opts[@]}" --add "$NE_BUILD/selftests/ne_fuzz" \
	--timeout "$TIMEOUT" -- sh -c "insmod nitro_enclaves.ko && NE_TEST_POOL=2,3 ne_fuzz --calls $CALLS --seed $SEED --check-every 50000; rc=\$?; $leak exit \$rc"
