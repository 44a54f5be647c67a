#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run test_allocator.sh in the test VM (one boot) and print its TAP.
#
#   tools/ne-allocator/vm_test.sh [--numa]
#
# The VM is ne-vm's (4 GiB, CPUs 0-3 as 2 cores of 2 threads), booted
# with no 2 MiB hugepages reserved (NE_VM_HUGEPAGES=0; the test releases
# the one 1 GiB page ne-vm reserves) and the NE device taking up to 2048
# memory ranges per enclave (a 2 GiB launch on an unordered pool sends
# 1024). --numa makes it two NUMA nodes of one socket each, 6 GiB: node
# 0 = CPUs 0-1 (CPU 0's core), node 1 = CPUs 2-3; the pool and its
# memory must go to node 1.
#
# make check runs it with --numa (one boot tests both the node choice and
# the rest). Environment: NE_ALLOC_TIMING=1 (guest uptime at each
# step), NE_BENCH (an ne_bench with --pool-as-is; default: built
# from tools/testing/selftests/drivers/virt/nitro_enclaves into
# $NE_BUILD/ne-allocator), NE_VM_* (see scripts/ne-vm). Exit status: the
# test's (0 all passed, 1 a test failed), or ne-vm's when the VM failed.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../../scripts/ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/ne-env.sh"

SRC=$NE_ROOT/tools/ne-allocator
OUT=$NE_BUILD/ne-allocator
SELFTESTS=$NE_ROOT/tools/testing/selftests/drivers/virt/nitro_enclaves
QEMU_ARGS=()
GUEST_ENV="${NE_ALLOC_TIMING:+TIMING=1 }"

case ${1:-} in
'') ;;
--numa)
	# One socket per node: a socket across nodes makes the guest kernel
	# warn at boot (topology_sane: LLC siblings on different nodes).
	QEMU_ARGS+=(--qemu-arg -m --qemu-arg 6G
		    --qemu-arg -smp --qemu-arg "4,sockets=2,cores=1,threads=2")
	for n in 0 1; do
		QEMU_ARGS+=(--qemu-arg -object
			    --qemu-arg "memory-backend-ram,id=m$n,size=3G"
			    --qemu-arg -numa
			    --qemu-arg "node,nodeid=$n,cpus=$((2 * n))-$((2 * n + 1)),memdev=m$n")
	done
	GUEST_ENV+="EXPECT_NODE=1 " ;;
*) echo "usage: $0 [--numa]" >&2; exit 2 ;;
esac

make -s -C "$SRC" O="$OUT" >&2
BENCH=${NE_BENCH:-$OUT/ne_bench}
if [[ -z ${NE_BENCH:-} ]]; then
	make -s -C "$SELFTESTS" O="$OUT" "$OUT/ne_bench" >&2
fi

NE_VM_HUGEPAGES=0 "$NE_ROOT/scripts/ne-vm" run \
	--add "$SRC/nitro-enclaves-allocator" --add "$SRC/test_allocator.sh" \
	--add "$OUT/ne-hugepage-order" --add "$BENCH" \
	--ne-opts mem-regions=2048 "${QEMU_ARGS[@]}" --timeout 600 \
	-- sh -c "echo 1 > /proc/sys/kernel/printk; ${GUEST_ENV}sh ./test_allocator.sh"
