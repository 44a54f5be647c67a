// SPDX-License-Identifier: GPL-2.0
/*
 * Diagnostics: every NE_ERR code the driver returns, and the plain errnos
 * a user can get from the ioctls and from ne_cpus writes, come with one
 * kernel log line that names the cause and the fix
 * (Documentation/virt/ne_overview.rst, "Diagnostics"). Each test provokes
 * one cause and asserts, through /dev/kmsg, that its line was logged
 * during the call.
 *
 * Rate limiting: the driver's lines are rate limited per call site (10
 * per 5 s). Each test hits a call site at most a few times, and the
 * needle is specific to the case (ioctl name, CPU id, address, flags), so
 * a line logged for another case cannot match. When a call site is still
 * in a suppressed burst from earlier tests, NE_EXPECT_LOG waits out the
 * interval and provokes the error once more.
 *
 * Runs in the "main" VM (pool "2,3"). NE_ERR_MEM_DIFFERENT_NUMA_NODE and
 * NE_ERR_MEM_MAX_REGIONS need their own VM and are checked by ne_limits;
 * NE_ERR_VCPU_INVALID_CPU_CORE is never returned (the pool cannot change
 * while an enclave exists).
 */
#define _GNU_SOURCE

#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NE_BAD_PTR	((void *)8)

FIXTURE(diag) {
	struct ne_env env;
	struct ne_kmsg kmsg;
	int efd;
	int efd2;
	uint64_t uid;
	char needle[256];
};

FIXTURE_SETUP(diag)
{
	int ret;

	self->efd = self->efd2 = -1;
	self->kmsg.fd = -1;
	ret = ne_env_setup(&self->env);
	ASSERT_EQ(0, ret) TH_LOG("environment setup: %s", strerror(-ret));
	ASSERT_LE(2, self->env.pool_n);
	ret = ne_kmsg_open(&self->kmsg);
	ASSERT_EQ(0, ret) TH_LOG("/dev/kmsg: %s", strerror(-ret));
	self->efd = ne_create_vm(self->env.dev, &self->uid);
	ASSERT_LE(0, self->efd) TH_LOG("NE_CREATE_VM: %s", ne_err_name(self->efd));
}

FIXTURE_TEARDOWN(diag)
{
	if (self->efd >= 0)
		close(self->efd);
	if (self->efd2 >= 0)
		close(self->efd2);
	ne_kmsg_close(&self->kmsg);
	EXPECT_EQ(0, ne_pool_reset());
	ne_env_teardown(_metadata, &self->env);
}

#define NEEDLE(fmt, ...) \
	(snprintf(self->needle, sizeof(self->needle), fmt, ##__VA_ARGS__), \
	 self->needle)

static uint64_t uptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* --- NE_CREATE_VM --- */

TEST_F(diag, create_vm_all_pool_cores_held_272)
{
	uint64_t uid;

	/* Every core is reserved (the pool of the main VM has one). */
	if (self->env.pool_n > 2)
		SKIP(return, "pool has more than one core");
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NO_CPUS_AVAIL_IN_POOL,
		      ne_create_vm(self->env.dev, &uid),
		      "NE_CREATE_VM: every core of the CPU pool (1) is held by an enclave: close an enclave, or enlarge ne_cpus while no enclave exists");
}

TEST_F(diag, create_vm_without_pool_272)
{
	uint64_t uid;

	NE_NEED_POOL_CHANGE();

	close(self->efd);
	self->efd = -1;
	ASSERT_EQ(0, ne_pool_set("\n"));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NO_CPUS_AVAIL_IN_POOL,
		      ne_create_vm(self->env.dev, &uid),
		      "NE_CREATE_VM: no CPU pool is configured: write a cpu-list of whole cores to /sys/module/nitro_enclaves/parameters/ne_cpus");
}

TEST_F(diag, create_vm_bad_pointer_efault)
{
	NE_EXPECT_LOG(&self->kmsg, EFAULT,
		      ne_ioctl(self->env.dev, NE_CREATE_VM, NULL),
		      "NE_CREATE_VM: cannot write the slot uid, the enclave is dropped: pass a valid pointer to a __u64");
}

TEST_F(diag, create_vm_device_refusal)
{
	uint64_t uid;

	NE_NEED_TB(&self->env);
	NE_EXPECT_LOG(&self->kmsg, ENOSPC,
		      (ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_ALLOC, -ENOSPC),
		       ne_create_vm(self->env.dev, &uid)),
		      "SLOT_ALLOC: the device refused the command (rc -28): NE_CREATE_VM fails; every slot of the device is taken: close an enclave");
}

/* --- wrong fd, unknown command --- */

TEST_F(diag, unknown_ioctls_enotty)
{
	uint64_t buf[4] = { 0 };

	NE_EXPECT_LOG(&self->kmsg, ENOTTY,
		      ne_ioctl(self->env.dev, NE_ADD_VCPU, buf),
		      NEEDLE("unknown ioctl %#x on /dev/nitro_enclaves: only NE_CREATE_VM works here",
			     (unsigned int)NE_ADD_VCPU));
	NE_EXPECT_LOG(&self->kmsg, ENOTTY,
		      ne_ioctl(self->efd, NE_CREATE_VM, buf),
		      NEEDLE("unknown ioctl %#x on an enclave fd: use NE_ADD_VCPU, NE_GET_IMAGE_LOAD_INFO",
			     (unsigned int)NE_CREATE_VM));
}

/* --- NE_ADD_VCPU --- */

TEST_F(diag, add_vcpu_already_used_256)
{
	int cpu = self->env.pool[0];

	ASSERT_OK(ne_add_vcpu_id(self->efd, cpu));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_VCPU_ALREADY_USED,
		      ne_add_vcpu_id(self->efd, cpu),
		      NEEDLE("NE_ADD_VCPU: CPU %d is already a vCPU of this enclave: add each CPU once",
			     cpu));
}

TEST_F(diag, add_vcpu_outside_pool_257)
{
	/* CPU 1 is CPU 0's sibling: never in the pool. */
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_VCPU_NOT_IN_CPU_POOL,
		      ne_add_vcpu_id(self->efd, 1),
		      "NE_ADD_VCPU: CPU 1 is not in the CPU pool: use a CPU listed in ne_cpus, or 0 to let the driver pick");
}

TEST_F(diag, add_vcpu_core_of_other_enclave_257)
{
	uint64_t uid;
	int cpu = self->env.pool[1];

	self->efd2 = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, self->efd2);
	ASSERT_OK(ne_add_vcpu_id(self->efd2, self->env.pool[0]));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_VCPU_NOT_IN_CPU_POOL,
		      ne_add_vcpu_id(self->efd, cpu),
		      NEEDLE("NE_ADD_VCPU: CPU %d is in the CPU pool but another enclave holds its core: use a CPU of a free core (see pool_free_cores), or close that enclave",
			     cpu));
}

TEST_F(diag, add_vcpu_out_of_range_271)
{
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_INVALID_VCPU,
		      ne_add_vcpu_id(self->efd, 4096),
		      NEEDLE("NE_ADD_VCPU: vCPU id 4096 is beyond the last possible CPU %d: use a CPU listed in ne_cpus, or 0 to let the driver pick",
			     self->env.nr_cpu_ids - 1));
}

TEST_F(diag, add_vcpu_auto_pick_pool_empty_272)
{
	/* Both threads of the only core, then nothing left to pick. */
	if (self->env.pool_n > 2)
		SKIP(return, "pool has more than one core");
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NO_CPUS_AVAIL_IN_POOL,
		      ne_add_vcpu_id(self->efd, 0),
		      "NE_ADD_VCPU: no free core left in the CPU pool for vCPU id 0 (pick any): close an enclave, or add cores to ne_cpus while no enclave exists");
}

TEST_F(diag, add_vcpu_bad_pointer_efault)
{
	NE_EXPECT_LOG(&self->kmsg, EFAULT,
		      ne_ioctl(self->efd, NE_ADD_VCPU, NE_BAD_PTR),
		      "NE_ADD_VCPU: cannot read the vCPU id: pass a valid pointer to a __u32");
}

TEST_F(diag, other_process_eio)
{
	struct ne_child_args a = { .efd = self->efd, .vcpu = self->env.pool[0] };

	a.mem = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);
	ASSERT_NE(NULL, a.mem);
	NE_EXPECT_LOG(&self->kmsg, EIO, ne_in_child(ne_child_add_vcpu, &a),
		      "NE_ADD_VCPU: the caller did not create the enclave: set it up from the process that did");
	NE_EXPECT_LOG(&self->kmsg, EIO, ne_in_child(ne_child_add_mem, &a),
		      "NE_SET_USER_MEMORY_REGION: the caller did not create the enclave: set it up from the process that did");
}

TEST_F(diag, add_vcpu_device_refusal)
{
	int cpu = self->env.pool[0];

	NE_NEED_TB(&self->env);
	NE_EXPECT_LOG(&self->kmsg, EEXIST,
		      (ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_ADD_VCPU, -EEXIST),
		       ne_add_vcpu_id(self->efd, cpu)),
		      NEEDLE("SLOT_ADD_VCPU for slot %#llx: the device refused the command (rc -17): NE_ADD_VCPU fails; another enclave uses that CPU: pick a free one",
			     (unsigned long long)self->uid));
}

static int add_vcpu_dropped_reply(struct ne_env *env, int efd, int *next)
{
	/* Each try uses the other thread: the device ran the first one. */
	ne_tb_reply_mode(&env->tb, NE_TB_REPLY_DROP, 0);
	return ne_add_vcpu_id(efd, env->pool[(*next)++ % 2]);
}

TEST_F_TIMEOUT(diag, add_vcpu_device_timeout, 60)
{
	int next = 0;

	NE_NEED_TB(&self->env);
	if (ne_timeout_get() < 0)
		SKIP(return, "no debugfs cmd_timeout_ms knob");
	ASSERT_EQ(0, ne_env_timeout(&self->env, 500));
	NE_EXPECT_LOG(&self->kmsg, ETIMEDOUT,
		      add_vcpu_dropped_reply(&self->env, self->efd, &next),
		      NEEDLE("SLOT_ADD_VCPU for slot %#llx: no reply from the device within 500 ms: NE_ADD_VCPU fails; if the host is only slow, raise nitro_enclaves.cmd_timeout_ms",
			     (unsigned long long)self->uid));
}

/* --- NE_GET_IMAGE_LOAD_INFO --- */

TEST_F(diag, image_info_bad_flags_274)
{
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_INVALID_FLAG_VALUE,
		      ne_image_info(self->efd, 0, NULL),
		      "NE_GET_IMAGE_LOAD_INFO: unknown image type 0x0: set flags to NE_EIF_IMAGE (1)");
}

TEST_F(diag, image_info_bad_pointer_efault)
{
	NE_EXPECT_LOG(&self->kmsg, EFAULT,
		      ne_ioctl(self->efd, NE_GET_IMAGE_LOAD_INFO, NULL),
		      "NE_GET_IMAGE_LOAD_INFO: cannot read the argument: pass a valid pointer to struct ne_image_load_info");
}

/* --- NE_SET_USER_MEMORY_REGION --- */

TEST_F(diag, set_mem_bad_flags_274)
{
	char *p = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);

	ASSERT_NE(NULL, p);
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_INVALID_FLAG_VALUE,
		      ne_set_mem(self->efd, 1, uptr(p), SZ_2M),
		      "NE_SET_USER_MEMORY_REGION: unknown flags 0x1: set flags to NE_DEFAULT_MEMORY_REGION (0)");
}

TEST_F(diag, set_mem_bad_size_259)
{
	char *p = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);

	ASSERT_NE(NULL, p);
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_INVALID_MEM_REGION_SIZE,
		      ne_set_mem(self->efd, 0, uptr(p), 4096),
		      "NE_SET_USER_MEMORY_REGION: size 0x1000 is not a non-zero multiple of 2 MiB: register whole hugepages");
}

TEST_F(diag, set_mem_kernel_address_260)
{
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_INVALID_MEM_REGION_ADDR,
		      ne_set_mem(self->efd, 0, 0xffff888000000000ULL, SZ_2M),
		      "NE_SET_USER_MEMORY_REGION: 0xffff888000000000 + 0x200000 is not a valid user address range: pass an address and length that mmap() returned");
}

TEST_F(diag, set_mem_unaligned_261)
{
	char *p = ne_map_huge(&self->env.maps, 2 * SZ_2M, SZ_2M);

	ASSERT_NE(NULL, p);
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_UNALIGNED_MEM_REGION_ADDR,
		      ne_set_mem(self->efd, 0, uptr(p + 4096), SZ_2M),
		      NEEDLE("NE_SET_USER_MEMORY_REGION: address %#llx is not 2 MiB aligned: pass the start of a hugetlb mapping",
			     (unsigned long long)uptr(p + 4096)));
}

TEST_F(diag, set_mem_overlap_262)
{
	char *p = ne_map_huge(&self->env.maps, 2 * SZ_2M, SZ_2M);

	ASSERT_NE(NULL, p);
	ASSERT_OK(ne_add_mem(self->efd, p, SZ_2M));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_MEM_REGION_ALREADY_USED,
		      ne_add_mem(self->efd, p, 2 * SZ_2M),
		      NEEDLE("NE_SET_USER_MEMORY_REGION: %#llx + 0x400000 overlaps a region already added to this enclave: add each region once",
			     (unsigned long long)uptr(p)));
}

TEST_F(diag, set_mem_not_hugetlb_263)
{
	char *raw = ne_map_flags(&self->env.maps, 4 * SZ_2M, 0), *p;

	ASSERT_NE(NULL, raw);
	p = (char *)(((uintptr_t)raw + SZ_2M - 1) & ~(SZ_2M - 1));
	memset(p, 1, SZ_2M);
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_MEM_NOT_HUGE_PAGE,
		      ne_add_mem(self->efd, p, SZ_2M),
		      NEEDLE("NE_SET_USER_MEMORY_REGION: memory at %#llx is not a hugetlb page: map it with MAP_HUGETLB",
			     (unsigned long long)uptr(p)));
}

TEST_F_TIMEOUT(diag, set_mem_part_of_1g_page_273, 150)
{
	char *p;

	/* One 2 MiB slice of a 1 GiB page (faulting it in is slow on TCG). */
	NE_NEED_HUGEPAGES(SZ_1G, 1);
	p = ne_map_huge(&self->env.maps, SZ_1G, SZ_1G);
	ASSERT_NE(NULL, p);
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_INVALID_PAGE_SIZE,
		      ne_add_mem(self->efd, p + SZ_2M, SZ_2M),
		      NEEDLE("NE_SET_USER_MEMORY_REGION: memory at %#llx does not cover whole 1048576 KiB huge pages: register each huge page whole, from its start",
			     (unsigned long long)uptr(p + SZ_2M)));
}

TEST_F(diag, set_mem_unmapped_efault)
{
	char *p = ne_map_huge(&self->env.maps, 2 * SZ_2M, SZ_2M);

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, munmap(p + SZ_2M, SZ_2M));
	NE_EXPECT_LOG(&self->kmsg, EFAULT,
		      ne_add_mem(self->efd, p + SZ_2M, SZ_2M),
		      NEEDLE("NE_SET_USER_MEMORY_REGION: cannot pin the memory at %#llx (-14): map the whole range read-write first",
			     (unsigned long long)uptr(p + SZ_2M)));
}

TEST_F(diag, set_mem_bad_pointer_efault)
{
	NE_EXPECT_LOG(&self->kmsg, EFAULT,
		      ne_ioctl(self->efd, NE_SET_USER_MEMORY_REGION, NULL),
		      "NE_SET_USER_MEMORY_REGION: cannot read the argument: pass a valid pointer to struct ne_user_memory_region");
}

/* --- NE_START_ENCLAVE --- */

TEST_F(diag, start_bad_flags_274)
{
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_INVALID_FLAG_VALUE,
		      ne_start(self->efd, 2, NULL),
		      "NE_START_ENCLAVE: unknown flags 0x2: use 0 (production) or NE_ENCLAVE_DEBUG_MODE (1)");
}

TEST_F(diag, start_parent_cid_275)
{
	uint64_t cid = 3;

	NE_EXPECT_LOG(&self->kmsg, NE_ERR_INVALID_ENCLAVE_CID,
		      ne_start(self->efd, 0, &cid),
		      "NE_START_ENCLAVE: CID 3 is reserved or too large: pass 0 to let the device choose, or a CID from 4 to 4294967294");
}

TEST_F(diag, start_without_memory_266)
{
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NO_MEM_REGIONS_ADDED,
		      ne_start(self->efd, 0, NULL),
		      "NE_START_ENCLAVE: no memory was added: add hugepage memory with NE_SET_USER_MEMORY_REGION first");
}

TEST_F(diag, start_without_vcpus_267)
{
	ASSERT_OK(ne_make_ready(&self->env, self->efd, NE_MIN_MEM, 0));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NO_VCPUS_ADDED,
		      ne_start(self->efd, 0, NULL),
		      "NE_START_ENCLAVE: no vCPU was added: add vCPUs with NE_ADD_VCPU first");
}

TEST_F(diag, start_below_64m_268)
{
	ASSERT_OK(ne_make_ready(&self->env, self->efd, SZ_2M, 2));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_ENCLAVE_MEM_MIN_SIZE,
		      ne_start(self->efd, 0, NULL),
		      "NE_START_ENCLAVE: the enclave has 2 MiB of memory, it needs at least 64 MiB: add more memory");
}

TEST_F(diag, start_half_core_269)
{
	/* Auto-pick takes the core's first thread; its sibling is missing. */
	ASSERT_OK(ne_make_ready(&self->env, self->efd, NE_MIN_MEM, 1));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_FULL_CORES_NOT_USED,
		      ne_start(self->efd, 0, NULL),
		      NEEDLE("NE_START_ENCLAVE: CPU %d shares a core with a vCPU but is not one: add all threads of each core used",
			     self->env.pool[1]));
}

TEST_F(diag, start_bad_pointer_efault)
{
	NE_EXPECT_LOG(&self->kmsg, EFAULT,
		      ne_ioctl(self->efd, NE_START_ENCLAVE, NULL),
		      "NE_START_ENCLAVE: cannot read the argument: pass a valid pointer to struct ne_enclave_start_info");
}

TEST_F(diag, start_device_refusal)
{
	uint64_t cid = 0;

	NE_NEED_TB(&self->env);
	ASSERT_OK(ne_make_ready(&self->env, self->efd, NE_MIN_MEM, 2));
	NE_EXPECT_LOG(&self->kmsg, EADDRINUSE,
		      (ne_tb_fail_next(&self->env.tb, NE_CMD_ENCLAVE_START, -EADDRINUSE),
		       ne_start(self->efd, 0, &cid)),
		      NEEDLE("ENCLAVE_START for slot %#llx: the device refused the command (rc -98): NE_START_ENCLAVE fails, the enclave stays in init state; the CID is in use: ask for another one or for 0",
			     (unsigned long long)self->uid));
}

TEST_F(diag, start_memory_refused_by_device)
{
	NE_NEED_TB(&self->env);
	ASSERT_OK(ne_make_ready(&self->env, self->efd, NE_MIN_MEM, 2));
	NE_EXPECT_LOG(&self->kmsg, EEXIST,
		      (ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_ADD_MEM, -EEXIST),
		       ne_start(self->efd, 0, NULL)),
		      NEEDLE("SLOT_ADD_MEM for slot %#llx: the device refused the command (rc -17): the memory is refused, the enclave stays in init state; another enclave owns that memory: use other hugepages",
			     (unsigned long long)self->uid));
}

/* After the start every set-up ioctl is refused, each with its line. */
TEST_F(diag, after_start_not_in_init_state_270)
{
	char *p = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);

	ASSERT_NE(NULL, p);
	ASSERT_OK(ne_make_ready(&self->env, self->efd, NE_MIN_MEM, 2));
	ASSERT_OK(ne_start(self->efd, 0, NULL));
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NOT_IN_INIT_STATE,
		      ne_add_vcpu_id(self->efd, 0),
		      "NE_ADD_VCPU: the enclave was already started (state 2): add vCPUs before NE_START_ENCLAVE");
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NOT_IN_INIT_STATE,
		      ne_image_info(self->efd, NE_EIF_IMAGE, NULL),
		      "NE_GET_IMAGE_LOAD_INFO: the enclave was already started (state 2): load the image before NE_START_ENCLAVE");
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NOT_IN_INIT_STATE,
		      ne_add_mem(self->efd, p, SZ_2M),
		      "NE_SET_USER_MEMORY_REGION: the enclave was already started (state 2): add memory before NE_START_ENCLAVE");
	NE_EXPECT_LOG(&self->kmsg, NE_ERR_NOT_IN_INIT_STATE,
		      ne_start(self->efd, 0, NULL),
		      "NE_START_ENCLAVE: the enclave was already started (state 2): start a new enclave to run it again");
}

/* ------------------------------------------------------------------ */
/* ne_cpus writes: each refusal, as a case table.                      */
/* ------------------------------------------------------------------ */

FIXTURE(pool_diag) {
	struct ne_env env;
	struct ne_kmsg kmsg;
	int offlined;
	char needle[256];
};

FIXTURE_VARIANT(pool_diag) {
	const char *list;	/* NULL: built by the test */
	int expected;		/* positive errno */
	const char *needle;
};

FIXTURE_VARIANT_ADD(pool_diag, cpu0) {
	.list = "0,1", .expected = EINVAL,
	.needle = "ne_cpus: CPU 0 is listed: leave CPU 0 and its siblings to the parent VM",
};
FIXTURE_VARIANT_ADD(pool_diag, sibling_of_cpu0) {
	.list = "1", .expected = EINVAL,
	.needle = "ne_cpus: CPU 1 is a sibling of CPU 0: leave CPU 0's core to the parent VM",
};
FIXTURE_VARIANT_ADD(pool_diag, half_core) {
	.list = "2", .expected = EINVAL,
	.needle = "ne_cpus: CPU 2 is listed but its sibling CPU 3 is not: list whole cores (see /sys/devices/system/cpu/cpu2/topology/thread_siblings_list)",
};
FIXTURE_VARIANT_ADD(pool_diag, not_a_cpulist) {
	.list = "garbage", .expected = EINVAL,
	.needle = "ne_cpus: the value is not a cpu-list (-22): write CPU numbers and ranges, e.g. 2,3 or 2-5",
};
FIXTURE_VARIANT_ADD(pool_diag, beyond_last_cpu) {
	.list = "2,3,4095", .expected = ERANGE,
	.needle = "ne_cpus: the cpu-list names a CPU above",
};
FIXTURE_VARIANT_ADD(pool_diag, no_cpu_named) {
	.list = ",", .expected = EINVAL,
	.needle = "ne_cpus: the cpu-list names no CPU: list CPUs, or write an empty line to remove the pool",
};
FIXTURE_VARIANT_ADD(pool_diag, offline_cpu) {
	.list = NULL, .expected = EINVAL,
	.needle = "ne_cpus: CPU 3 is offline: bring it online first (echo 1 > /sys/devices/system/cpu/cpu3/online)",
};
FIXTURE_VARIANT_ADD(pool_diag, too_long) {
	.list = NULL, .expected = ENOSPC,
	.needle = "ne_cpus: the value is longer than 511 bytes: write ranges (2-7) instead of single CPUs",
};
FIXTURE_VARIANT_ADD(pool_diag, without_cap_sys_admin) {
	.list = NULL, .expected = EPERM,
	.needle = "ne_cpus: changing the CPU pool needs CAP_SYS_ADMIN: write it as root",
};

FIXTURE_SETUP(pool_diag)
{
	self->offlined = -1;
	self->kmsg.fd = -1;
	ASSERT_EQ(0, ne_env_setup(&self->env));
	ASSERT_EQ(0, ne_kmsg_open(&self->kmsg));
}

FIXTURE_TEARDOWN(pool_diag)
{
	if (self->offlined >= 0)
		ne_cpu_set_online(self->offlined, 1);
	ne_kmsg_close(&self->kmsg);
	EXPECT_EQ(0, ne_pool_reset());
	ne_env_teardown(_metadata, &self->env);
}

static int write_pool(const char *list, bool drop_cap)
{
	if (drop_cap)
		return ne_in_child(ne_pool_set_without_cap, (void *)list);
	return ne_pool_set(list);
}

TEST_F(pool_diag, refused_with_log_line)
{
	char list[700], *p = list;
	bool drop_cap = false;
	int i;

	NE_NEED_POOL_CHANGE();

	if (variant->list) {
		snprintf(list, sizeof(list), "%s", variant->list);
	} else if (variant->expected == EINVAL) {
		/* Free the pool, take its second CPU offline, ask for it. */
		if (self->env.pool_n != 2 || self->env.pool[1] != 3)
			SKIP(return, "needs the pool 2,3");
		ASSERT_EQ(0, ne_pool_set("\n"));
		ne_cpu_set_online(3, 0);
		self->offlined = 3;
		snprintf(list, sizeof(list), "2,3");
	} else if (variant->expected == ENOSPC) {
		/* A valid list made longer than 511 bytes with leading zeros. */
		for (i = 0; i < self->env.pool_n && p < list + 500; i++)
			p += sprintf(p, "%s%0300d", i ? "," : "", self->env.pool[i]);
		ASSERT_LE(512, p - list);
	} else {
		snprintf(list, sizeof(list), "%s", ne_pool_default());
		drop_cap = true;
	}
	NE_EXPECT_LOG(&self->kmsg, variant->expected, write_pool(list, drop_cap),
		      variant->needle);
}

int main(int argc, char **argv)
{
	return ne_test_main(argc, argv);
}
