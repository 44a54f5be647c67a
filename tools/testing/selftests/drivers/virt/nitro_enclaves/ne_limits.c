// SPDX-License-Identifier: GPL-2.0
/*
 * Device limits: the per-slot range limit the device reports at SLOT_ALLOC
 * (NE_ERR_MEM_MAX_REGIONS) and the device's slot count (CREATE_VM passes
 * SLOT_ALLOC's -ENOSPC through). Run in a VM whose device has small limits
 * and say so in the environment:
 *   --ne-opts mem-regions=4,max-slots=4  with  NE_MEM_REGIONS=4 NE_MAX_SLOTS=4
 * (defaults 256 and 8, the model's defaults).
 * NE_ERR_MEM_DIFFERENT_NUMA_NODE needs a second NUMA node with memory
 * (QEMU -numa); without one that test skips.
 *
 * Both NE_ERR codes must also log their line (cause and fix) in the kernel
 * log, read from /dev/kmsg as in ne_diag, and the misc device's
 * max_mem_regions attribute must show the device's limit.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "ne_test_util.h"

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : def;
}

FIXTURE(limits) {
	struct ne_env env;
	struct ne_kmsg kmsg;
	int efd[64];
	char needle[256];
};

FIXTURE_SETUP(limits)
{
	int i;

	for (i = 0; i < 64; i++)
		self->efd[i] = -1;
	self->kmsg.fd = -1;
	ASSERT_EQ(0, ne_env_setup(&self->env));
	ASSERT_EQ(0, ne_kmsg_open(&self->kmsg));
}

FIXTURE_TEARDOWN(limits)
{
	int i;

	for (i = 0; i < 64; i++)
		if (self->efd[i] >= 0)
			close(self->efd[i]);
	ne_kmsg_close(&self->kmsg);
	ne_env_teardown(_metadata, &self->env);
}

TEST_F(limits, more_ranges_than_device_limit)
{
	long limit = env_long("NE_MEM_REGIONS", 256);
	uint64_t uid;
	char *p;
	long i;
	int ret = 0;

	/*
	 * Every other 2 MiB page of one mapping, one region each: no two are
	 * virtually adjacent, and hugepages handed out in order are not
	 * physically adjacent either, so each region is one range.
	 */
	NE_NEED_HUGEPAGES(SZ_2M, 2 * (limit + 1));
	self->efd[0] = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, self->efd[0]);
	p = ne_map_huge(&self->env.maps, 2 * (limit + 1) * SZ_2M, SZ_2M);
	ASSERT_NE(NULL, p);
	memset(p, 0, 2 * (limit + 1) * SZ_2M);	/* fault in, in order */
	for (i = 0; i < limit; i++) {
		ret = ne_add_mem(self->efd[0], p + 2 * i * SZ_2M, SZ_2M);
		if (ret)
			break;
	}
	if (ret)
		TH_LOG("region %ld of %ld", i, limit);
	EXPECT_OK(ret);
	snprintf(self->needle, sizeof(self->needle),
		 "NE_SET_USER_MEMORY_REGION: %ld + 1 memory ranges exceed the device's limit of %ld: use fewer, larger or contiguous regions",
		 limit, limit);
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_MEM_MAX_REGIONS,
		      ne_add_mem(self->efd[0], p + 2 * limit * SZ_2M, SZ_2M),
		      self->needle);
	/* The misc device shows the limit the device reported. */
	if (!access(NE_SYSFS_DIR "/max_mem_regions", F_OK))
		EXPECT_EQ(limit, ne_attr_long("max_mem_regions"));
	/* The device holds the accepted ranges now or gets them at start. */
	if (self->env.have_tb) {
		uint64_t held = ne_tb_read64(&self->env.tb, NE_TB_MEM_BYTES) -
				self->env.base.tb.mem_bytes;

		EXPECT_TRUE(held == 0 || held == (uint64_t)limit * SZ_2M)
			TH_LOG("device holds %llu bytes", (unsigned long long)held);
	}
	/* The refused page was not kept: free count unchanged by the refusal. */
	EXPECT_EQ(self->env.base.hp2m_free - 2 * (limit + 1), ne_hp_free(SZ_2M));
}

TEST_F(limits, more_enclaves_than_device_slots)
{
	long slots = env_long("NE_MAX_SLOTS", 8);
	uint64_t uid;
	long i;

	/* Never-started enclaves need no vCPUs: only slots run out. */
	ASSERT_GE(63, slots);
	if (self->env.have_tb)
		slots -= ne_tb_read32(&self->env.tb, NE_TB_LIVE_SLOTS);
	for (i = 0; i < slots; i++) {
		self->efd[i] = ne_create_vm(self->env.dev, &uid);
		ASSERT_LE(0, self->efd[i]) TH_LOG("enclave %ld: %s", i,
						  ne_err_name(self->efd[i]));
	}
	EXPECT_ERRNO(ENOSPC, ne_create_vm(self->env.dev, &uid));
	/* Closing one frees a slot. */
	close(self->efd[0]);
	self->efd[0] = ne_create_vm(self->env.dev, &uid);
	EXPECT_LE(0, self->efd[0]);
}

/* ------------------------------------------------------------------ */
/* NUMA: needs a 2-node VM (separate run), else SKIP.                  */
/* ------------------------------------------------------------------ */

TEST_F(limits, memory_on_other_numa_node)
{
	unsigned long mask = 0;
	char path[128], buf[64];
	int node = -1, i;
	long pool_node;
	uint64_t uid;
	char *p;

	/* Find a node other than the pool's (pool CPU 1's sibling node). */
	for (i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", i);
		if (ne_read_file(path, buf, sizeof(buf)) < 0)
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpu%d",
			 i, self->env.pool[0]);
		if (access(path, F_OK)) {
			node = i;
			break;
		}
	}
	if (node < 0)
		SKIP(return, "needs a 2-node VM (run with -numa, see run_vm_tests.sh)");
	snprintf(path, sizeof(path),
		 "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages",
		 node);
	if (ne_read_long(path) < 1)
		SKIP(return, "no free 2M hugepage on node %d", node);
	self->efd[0] = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, self->efd[0]);
	p = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);
	ASSERT_NE(NULL, p);
	mask = 1UL << node;
	ASSERT_EQ(0, syscall(SYS_mbind, p, SZ_2M, 2 /* MPOL_BIND */, &mask,
			     sizeof(mask) * 8, 0));
	/* The pool's node: the status attribute, else the first node. */
	pool_node = ne_attr_long("pool_numa_node");
	if (pool_node == LONG_MIN)
		pool_node = 0;
	snprintf(self->needle, sizeof(self->needle),
		 "NE_SET_USER_MEMORY_REGION: memory at %#llx is on NUMA node %d but the CPU pool is on node %ld: use hugepages of node %ld (/sys/devices/system/node/node%ld/hugepages/)",
		 (unsigned long long)(uintptr_t)p, node, pool_node, pool_node,
		 pool_node);
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_MEM_DIFFERENT_NUMA_NODE,
		      ne_add_mem(self->efd[0], p, SZ_2M), self->needle);
}

int main(int argc, char **argv)
{
	return ne_test_main(argc, argv);
}
