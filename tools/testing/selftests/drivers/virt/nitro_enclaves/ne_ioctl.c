// SPDX-License-Identifier: GPL-2.0
/*
 * Nitro Enclaves ioctl suite: every ioctl's success path and every error
 * row of the ABI (NE_ERR_* by name, EFAULT, EIO, ENOTTY, device errors),
 * poll(), the ne_cpus pool rules, and device faults through the test BAR.
 *
 * Runs in the project's VM (4 CPUs, pool "2,3" = one core of 2 threads).
 * Every fixture's teardown checks that hugepages, online CPUs, the pool and
 * the device's slots / vCPUs / memory are back to their value at setup.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NE_BAD_PTR	((void *)8)

/* ------------------------------------------------------------------ */
/* enclave: one enclave in INIT state, created in setup.              */
/* ------------------------------------------------------------------ */

#define NE_MAX_EXTRA	4

FIXTURE(enclave) {
	struct ne_env env;
	int efd;
	uint64_t uid;
	int extra[NE_MAX_EXTRA];	/* more enclave fds, closed in teardown */
};

FIXTURE_SETUP(enclave)
{
	int i, ret;

	for (i = 0; i < NE_MAX_EXTRA; i++)
		self->extra[i] = -1;
	self->efd = -1;
	ret = ne_env_setup(&self->env);
	ASSERT_EQ(0, ret) TH_LOG("environment setup: %s", strerror(-ret));
	self->efd = ne_create_vm(self->env.dev, &self->uid);
	ASSERT_LE(0, self->efd) TH_LOG("NE_CREATE_VM: %s",
				       ne_err_name(self->efd));
}

FIXTURE_TEARDOWN(enclave)
{
	int i;

	if (self->efd >= 0)
		close(self->efd);
	for (i = 0; i < NE_MAX_EXTRA; i++)
		if (self->extra[i] >= 0)
			close(self->extra[i]);
	ne_env_teardown(_metadata, &self->env);
}

/*
 * Setup and teardown of the fixtures that hold one enclave in INIT and
 * nothing else (region_args, start_cid, stray_reply).
 */
static void one_enclave_setup(struct __test_metadata *_metadata,
			      struct ne_env *env, int *efd, uint64_t *uid)
{
	ASSERT_EQ(0, ne_env_setup(env));
	*efd = ne_create_vm(env->dev, uid);
	ASSERT_LE(0, *efd);
}

static void one_enclave_teardown(struct __test_metadata *_metadata,
				 struct ne_env *env, int efd)
{
	close(efd);
	ne_env_teardown(_metadata, env);
}

/* Ready: 64 MiB and the pool's first core as vCPUs. */
static int enclave_ready(struct ne_env *env, int efd)
{
	return ne_make_ready(env, efd, NE_MIN_MEM, 2);
}

/* Ready and started with an automatic CID. */
static int enclave_start(struct ne_env *env, int efd, uint64_t *cid)
{
	int ret = enclave_ready(env, efd);

	if (ret)
		return ret;
	return ne_start(efd, 0, cid);
}

/* --- NE_CREATE_VM (the setup already did one) --- */

TEST_F(enclave, create_vm_gives_cloexec_ne_vm_fd_and_slot)
{
	char link[64], target[64] = "";
	ssize_t n;

	/* A non-zero opaque slot uid, an O_CLOEXEC anon inode "ne-vm". */
	EXPECT_NE(0, self->uid);
	EXPECT_EQ(FD_CLOEXEC, fcntl(self->efd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_RDWR, fcntl(self->efd, F_GETFL) & O_ACCMODE);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", self->efd);
	n = readlink(link, target, sizeof(target) - 1);
	ASSERT_LT(0, n);
	target[n] = '\0';
	EXPECT_STREQ("anon_inode:ne-vm", target);
	if (self->env.have_tb)
		EXPECT_EQ(self->env.base.tb.live_slots + 1,
			  ne_tb_read32(&self->env.tb, NE_TB_LIVE_SLOTS));
}

TEST_F(enclave, create_vm_twice_gives_distinct_slots)
{
	uint64_t uid2 = 0;

	/* A process may own several enclaves, each with its own slot. */
	self->extra[0] = ne_create_vm(self->env.dev, &uid2);
	ASSERT_LE(0, self->extra[0]);
	EXPECT_NE(self->uid, uid2);
	EXPECT_NE(0, uid2);
}

TEST_F(enclave, create_vm_survives_misc_fd_close)
{
	uint64_t off = 0;

	/* The enclave fd is independent of the misc fd. */
	close(self->env.dev);
	self->env.dev = -1;
	EXPECT_OK(ne_image_info(self->efd, NE_EIF_IMAGE, &off));
	EXPECT_OK(enclave_ready(&self->env, self->efd));
}

TEST_F(enclave, create_vm_bad_uid_pointer_efault_leaks_nothing)
{
	int probe, probe2;

	/* EFAULT, no fd installed, no slot left (teardown checks slots). */
	probe = dup(0);
	ASSERT_LE(0, probe);
	close(probe);
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->env.dev, NE_CREATE_VM, NE_BAD_PTR));
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->env.dev, NE_CREATE_VM, NULL));
	probe2 = dup(0);
	EXPECT_EQ(probe, probe2) TH_LOG("an fd was installed despite EFAULT");
	close(probe2);
}

TEST_F(enclave, create_vm_when_pool_core_taken_fails)
{
	uint64_t uid2;

	/* The only core is reserved by the first enclave's vCPU. */
	if (self->env.pool_n > 2)
		SKIP(return, "pool has more than one core");
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	EXPECT_ERRNO(NE_ERR_NO_CPUS_AVAIL_IN_POOL,
		     ne_create_vm(self->env.dev, &uid2));
}

TEST_F(enclave, create_vm_slot_alloc_failure_returns_device_rc)
{
	uint64_t uid2 = 0;
	int probe, probe2;

	/* SLOT_ALLOC rc -ENOSPC reaches user space; no fd, no slot left. */
	NE_NEED_TB(&self->env);
	probe = dup(0);
	close(probe);
	ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_ALLOC, -ENOSPC);
	EXPECT_ERRNO(ENOSPC, ne_create_vm(self->env.dev, &uid2));
	EXPECT_EQ(self->env.base.tb.live_slots + 1,
		  ne_tb_read32(&self->env.tb, NE_TB_LIVE_SLOTS));
	probe2 = dup(0);
	EXPECT_EQ(probe, probe2);
	close(probe2);
	/* The next command works. */
	self->extra[0] = ne_create_vm(self->env.dev, &uid2);
	EXPECT_LE(0, self->extra[0]);
}

/* --- wrong fd, unknown commands --- */

TEST_F(enclave, enclave_ioctls_on_misc_fd_enotty)
{
	uint32_t id = 0;
	struct ne_image_load_info ili = { .flags = NE_EIF_IMAGE };
	struct ne_user_memory_region r = { 0 };
	struct ne_enclave_start_info si = { 0 };

	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->env.dev, NE_ADD_VCPU, &id));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->env.dev, NE_GET_IMAGE_LOAD_INFO, &ili));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->env.dev, NE_SET_USER_MEMORY_REGION, &r));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->env.dev, NE_START_ENCLAVE, &si));
}

TEST_F(enclave, create_vm_on_enclave_fd_enotty)
{
	uint64_t uid;

	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->efd, NE_CREATE_VM, &uid));
}

TEST_F(enclave, unknown_commands_enotty)
{
	uint64_t buf[4] = { 0 };

	/* Unused NE numbers, wrong sizes/directions, KVM's range. */
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->env.dev, _IO(0xAE, 0x20), buf));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->env.dev, _IOR(0xAE, 0x25, __u64), buf));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->env.dev, _IOR(0xAE, 0x01, __u64), buf));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->efd, _IOWR(0xAE, 0x21, __u64), buf));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->efd, _IOWR(0xAE, 0x3f, __u64), buf));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->efd, _IO(0xAE, 0x24), buf));
	EXPECT_ERRNO(ENOTTY, ne_ioctl(self->efd, 0, buf));
}

/* --- NE_ADD_VCPU --- */

TEST_F(enclave, add_vcpu_auto_picks_whole_core_then_pool_empty)
{
	uint32_t a = 0, b = 0, c = 0;

	/* Auto-pick takes the lowest thread of the first free core, then its sibling. */
	if (self->env.pool_n > 2)
		SKIP(return, "pool has more than one core");
	ASSERT_OK(ne_add_vcpu(self->efd, &a));
	EXPECT_EQ(self->env.pool[0], (int)a);
	ASSERT_OK(ne_add_vcpu(self->efd, &b));
	EXPECT_EQ(self->env.pool[1], (int)b);
	EXPECT_ERRNO(NE_ERR_NO_CPUS_AVAIL_IN_POOL, ne_add_vcpu(self->efd, &c));
	if (self->env.have_tb)
		EXPECT_EQ(self->env.base.tb.vcpus + 2,
			  ne_tb_read32(&self->env.tb, NE_TB_VCPUS));
}

TEST_F(enclave, add_vcpu_explicit_ids_in_any_order)
{
	uint32_t id = self->env.pool[1];

	/* The id comes back unchanged. */
	ASSERT_OK(ne_add_vcpu(self->efd, &id));
	EXPECT_EQ(self->env.pool[1], (int)id);
	EXPECT_OK(ne_add_vcpu_id(self->efd, self->env.pool[0]));
}

TEST_F(enclave, add_vcpu_mixed_auto_fills_reserved_sibling)
{
	uint32_t id = 0;

	/* Explicit second thread first; auto then picks its sibling. */
	ASSERT_OK(ne_add_vcpu_id(self->efd, self->env.pool[1]));
	ASSERT_OK(ne_add_vcpu(self->efd, &id));
	EXPECT_EQ(self->env.pool[0], (int)id);
}

TEST_F(enclave, add_vcpu_twice_already_used)
{
	ASSERT_OK(ne_add_vcpu_id(self->efd, self->env.pool[0]));
	EXPECT_ERRNO(NE_ERR_VCPU_ALREADY_USED,
		     ne_add_vcpu_id(self->efd, self->env.pool[0]));
}

TEST_F(enclave, add_vcpu_not_in_pool)
{
	/* CPU 1 is online, CPU 0's sibling: never a pool CPU. */
	EXPECT_ERRNO(NE_ERR_VCPU_NOT_IN_CPU_POOL, ne_add_vcpu_id(self->efd, 1));
}

TEST_F(enclave, add_vcpu_held_by_other_enclave_not_in_pool)
{
	uint64_t uid2;

	/* Enclave 2 reserves the core; its threads are not ours to take. */
	self->extra[0] = ne_create_vm(self->env.dev, &uid2);
	ASSERT_LE(0, self->extra[0]);
	ASSERT_OK(ne_add_vcpu_id(self->extra[0], self->env.pool[0]));
	EXPECT_ERRNO(NE_ERR_VCPU_NOT_IN_CPU_POOL,
		     ne_add_vcpu_id(self->efd, self->env.pool[1]));
	EXPECT_ERRNO(NE_ERR_VCPU_NOT_IN_CPU_POOL,
		     ne_add_vcpu_id(self->efd, self->env.pool[0]));
}

TEST_F(enclave, add_vcpu_id_out_of_range_invalid_vcpu)
{
	ASSERT_LT(0, self->env.nr_cpu_ids);
	EXPECT_ERRNO(NE_ERR_INVALID_VCPU,
		     ne_add_vcpu_id(self->efd, self->env.nr_cpu_ids));
	EXPECT_ERRNO(NE_ERR_INVALID_VCPU, ne_add_vcpu_id(self->efd, 4096));
	EXPECT_ERRNO(NE_ERR_INVALID_VCPU, ne_add_vcpu_id(self->efd, 0xffffffff));
}

TEST_F(enclave, add_vcpu_invalid_cpu_core_unreachable)
{
	/*
	 * NE_ERR_VCPU_INVALID_CPU_CORE (258) needs a CPU whose core index is
	 * beyond the enclave's snapshot of the pool. The snapshot is taken at
	 * NE_CREATE_VM and ne_cpus cannot change while any enclave exists
	 * (EPERM, tested in cpu_pool), so no user input reaches this code.
	 */
	SKIP(return, "NE_ERR_VCPU_INVALID_CPU_CORE unreachable: pool is frozen while enclaves exist");
}

TEST_F(enclave, add_vcpu_bad_pointer_efault)
{
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->efd, NE_ADD_VCPU, NULL));
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->efd, NE_ADD_VCPU, NE_BAD_PTR));
}

/* --- another process: fork and SCM_RIGHTS --- */

static int child_image_info(void *p)
{
	struct ne_child_args *a = p;
	uint64_t off = 0;
	int ret = ne_image_info(a->efd, NE_EIF_IMAGE, &off);

	return ret ? ret : (off == NE_EIF_OFFSET ? 0 : -ERANGE);
}

TEST_F(enclave, forked_child_add_vcpu_and_memory_eio)
{
	struct ne_child_args a = { .efd = self->efd, .vcpu = self->env.pool[0] };

	/* Inherited fd, other mm: EIO for the two mm-checked ioctls only. */
	a.mem = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);
	ASSERT_NE(NULL, a.mem);
	EXPECT_ERRNO(EIO, ne_in_child(ne_child_add_vcpu, &a));
	EXPECT_ERRNO(EIO, ne_in_child(ne_child_add_mem, &a));
	EXPECT_OK(ne_in_child(child_image_info, &a));
	/* The creator still can. */
	EXPECT_OK(ne_add_mem(self->efd, a.mem, SZ_2M));
}

static int child_start(void *p)
{
	struct ne_child_args *a = p;
	uint64_t cid = 0;

	return ne_start(a->efd, 0, &cid);
}

TEST_F(enclave, forked_child_may_start)
{
	struct ne_child_args a = { .efd = self->efd };

	/* NE_START_ENCLAVE has no mm check (spec 2.6). */
	ASSERT_OK(enclave_ready(&self->env, self->efd));
	EXPECT_OK(ne_in_child(child_start, &a));
	EXPECT_ERRNO(NE_ERR_NOT_IN_INIT_STATE, ne_start(self->efd, 0, NULL));
}

/* Child: close the inherited enclave fd, receive it again, try both. */
static int child_scm(void *p)
{
	struct ne_child_args *a = p;
	int fd, r1, r2;

	close(a->efd);
	fd = ne_recv_fd(a->sock);
	if (fd < 0)
		return -EPROTO;
	r1 = ne_add_vcpu_id(fd, a->vcpu);
	r2 = ne_add_mem(fd, a->mem, SZ_2M);
	close(fd);
	if (r1 != -EIO)
		return r1 ? r1 : -EEXIST;
	return r2 ? r2 : -EEXIST;
}

TEST_F(enclave, fd_passed_by_scm_rights_eio)
{
	struct ne_child_args a = { .vcpu = self->env.pool[0] };
	int sv[2];

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	a.mem = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);
	ASSERT_NE(NULL, a.mem);
	a.efd = self->efd;
	a.sock = sv[1];
	/* The message is queued before the child reads it. */
	ASSERT_EQ(0, ne_send_fd(sv[0], self->efd));
	EXPECT_ERRNO(EIO, ne_in_child(child_scm, &a));
	close(sv[0]);
	close(sv[1]);
	EXPECT_OK(ne_add_mem(self->efd, a.mem, SZ_2M));
}

/* --- NE_GET_IMAGE_LOAD_INFO --- */

TEST_F(enclave, image_info_eif_offset_8m)
{
	uint64_t off = 0;

	EXPECT_OK(ne_image_info(self->efd, NE_EIF_IMAGE, &off));
	EXPECT_EQ(NE_EIF_OFFSET, off);
}

TEST_F(enclave, image_info_bad_flags)
{
	EXPECT_ERRNO(NE_ERR_INVALID_FLAG_VALUE, ne_image_info(self->efd, 0, NULL));
	EXPECT_ERRNO(NE_ERR_INVALID_FLAG_VALUE,
		     ne_image_info(self->efd, NE_IMAGE_LOAD_MAX_FLAG_VAL, NULL));
	EXPECT_ERRNO(NE_ERR_INVALID_FLAG_VALUE, ne_image_info(self->efd, ~0ULL, NULL));
}

TEST_F(enclave, image_info_bad_pointer_efault)
{
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->efd, NE_GET_IMAGE_LOAD_INFO, NULL));
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->efd, NE_GET_IMAGE_LOAD_INFO, NE_BAD_PTR));
}

/* --- NE_SET_USER_MEMORY_REGION --- */

TEST_F(enclave, set_mem_2m_regions_accumulate)
{
	char *p = ne_map_huge(&self->env.maps, 8 * SZ_2M, SZ_2M);

	/* Separate non-overlapping regions, any order. */
	ASSERT_NE(NULL, p);
	EXPECT_OK(ne_add_mem(self->efd, p + 4 * SZ_2M, 4 * SZ_2M));
	EXPECT_OK(ne_add_mem(self->efd, p, SZ_2M));
	EXPECT_OK(ne_add_mem(self->efd, p + SZ_2M, 3 * SZ_2M));
	/* Pinned now (the device may get the memory now or at start). */
	EXPECT_EQ(self->env.base.hp2m_free - 8, ne_hp_free(SZ_2M));
}

TEST_F(enclave, set_mem_overlap_already_used)
{
	char *p = ne_map_huge(&self->env.maps, 4 * SZ_2M, SZ_2M);

	ASSERT_NE(NULL, p);
	ASSERT_OK(ne_add_mem(self->efd, p + SZ_2M, 2 * SZ_2M));
	EXPECT_ERRNO(NE_ERR_MEM_REGION_ALREADY_USED,
		     ne_add_mem(self->efd, p + SZ_2M, 2 * SZ_2M));
	EXPECT_ERRNO(NE_ERR_MEM_REGION_ALREADY_USED,
		     ne_add_mem(self->efd, p, 2 * SZ_2M));
	EXPECT_ERRNO(NE_ERR_MEM_REGION_ALREADY_USED,
		     ne_add_mem(self->efd, p + 2 * SZ_2M, 2 * SZ_2M));
	EXPECT_ERRNO(NE_ERR_MEM_REGION_ALREADY_USED,
		     ne_add_mem(self->efd, p, 4 * SZ_2M));
	/* Adjacent is not overlapping. */
	EXPECT_OK(ne_add_mem(self->efd, p, SZ_2M));
	EXPECT_OK(ne_add_mem(self->efd, p + 3 * SZ_2M, SZ_2M));
}

TEST_F(enclave, set_mem_normal_pages_not_huge)
{
	size_t len = 4 * SZ_2M;
	char *raw = ne_map_flags(&self->env.maps, len, 0), *p;

	ASSERT_NE(NULL, raw);
	p = (char *)(((uintptr_t)raw + SZ_2M - 1) & ~(SZ_2M - 1));
	madvise(p, SZ_2M, MADV_NOHUGEPAGE);
	memset(p, 1, SZ_2M);
	EXPECT_ERRNO(NE_ERR_MEM_NOT_HUGE_PAGE, ne_add_mem(self->efd, p, SZ_2M));
}

TEST_F(enclave, set_mem_thp_not_huge)
{
	size_t len = 4 * SZ_2M;
	char *raw = ne_map_flags(&self->env.maps, len, 0), *p;
	char thp[64] = "";

	ne_read_file("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	ASSERT_NE(NULL, raw);
	p = (char *)(((uintptr_t)raw + SZ_2M - 1) & ~(SZ_2M - 1));
	madvise(p, SZ_2M, MADV_HUGEPAGE);
	memset(p, 1, SZ_2M);
	if (!strstr(thp, "[never]"))
		TH_LOG("THP mode: %s", thp);
	/* A THP (if we got one) is not a hugetlbfs page. */
	EXPECT_ERRNO(NE_ERR_MEM_NOT_HUGE_PAGE, ne_add_mem(self->efd, p, SZ_2M));
}

TEST_F(enclave, set_mem_unmapped_address_efault)
{
	char *p = ne_map_huge(&self->env.maps, 2 * SZ_2M, SZ_2M);

	/* A valid, aligned user range with nothing mapped. */
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, munmap(p + SZ_2M, SZ_2M));
	EXPECT_ERRNO(EFAULT, ne_add_mem(self->efd, p + SZ_2M, SZ_2M));
	/* A partly mapped range fails and keeps nothing pinned. */
	EXPECT_ERRNO(EFAULT, ne_add_mem(self->efd, p, 2 * SZ_2M));
	EXPECT_EQ(self->env.base.hp2m_free - 1, ne_hp_free(SZ_2M));
	/* The mapped half is still usable. */
	EXPECT_OK(ne_add_mem(self->efd, p, SZ_2M));
}

TEST_F(enclave, set_mem_bad_pointer_efault)
{
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->efd, NE_SET_USER_MEMORY_REGION, NULL));
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->efd, NE_SET_USER_MEMORY_REGION, NE_BAD_PTR));
}

/*
 * One test for 1 GiB pages: the VM has one, and faulting it in (zeroing
 * 1 GiB) is slow under TCG.
 */
TEST_F_TIMEOUT(enclave, set_mem_1g_page_slices_refused_whole_page_starts, 150)
{
	char *p;

	NE_NEED_HUGEPAGES(SZ_1G, 1);
	p = ne_map_huge(&self->env.maps, SZ_1G, SZ_1G);
	ASSERT_NE(NULL, p);
	/* Regions are made of whole hugetlb pages (project rule). */
	EXPECT_ERRNO(NE_ERR_INVALID_PAGE_SIZE,
		     ne_add_mem(self->efd, p + SZ_2M, SZ_2M));
	EXPECT_ERRNO(NE_ERR_INVALID_PAGE_SIZE,
		     ne_add_mem(self->efd, p + SZ_1G - 4 * SZ_2M, 4 * SZ_2M));
	EXPECT_ERRNO(NE_ERR_INVALID_PAGE_SIZE, ne_add_mem(self->efd, p, SZ_2M));
	/* The whole page is accepted; 1 GiB is enough to start. */
	EXPECT_OK(ne_add_mem(self->efd, p, SZ_1G));
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	EXPECT_OK(ne_start(self->efd, 0, NULL));
	/* The device got it at start, as one range of 1 GiB. */
	if (self->env.have_tb)
		EXPECT_EQ(self->env.base.tb.mem_bytes + SZ_1G,
			  ne_tb_read64(&self->env.tb, NE_TB_MEM_BYTES));
}

/* Bad region arguments as a case table (checked before any pinning). */
FIXTURE(region_args) {
	struct ne_env env;
	int efd;
	uint64_t uid;
};

FIXTURE_VARIANT(region_args) {
	uint64_t flags;
	uint64_t size;
	uint64_t addr;		/* absolute address, if use_abs */
	int64_t offset;		/* else: offset into a valid 4 MiB mapping */
	bool use_abs;
	int expected;		/* positive errno */
};

FIXTURE_SETUP(region_args)
{
	one_enclave_setup(_metadata, &self->env, &self->efd, &self->uid);
}

FIXTURE_TEARDOWN(region_args)
{
	one_enclave_teardown(_metadata, &self->env, self->efd);
}

FIXTURE_VARIANT_ADD(region_args, flags_1) {
	.flags = 1, .size = SZ_2M, .expected = NE_ERR_INVALID_FLAG_VALUE,
};
FIXTURE_VARIANT_ADD(region_args, flags_all_ones) {
	.flags = ~0ULL, .size = SZ_2M, .expected = NE_ERR_INVALID_FLAG_VALUE,
};
FIXTURE_VARIANT_ADD(region_args, size_zero) {
	.size = 0, .expected = NE_ERR_INVALID_MEM_REGION_SIZE,
};
FIXTURE_VARIANT_ADD(region_args, size_4k) {
	.size = 4096, .expected = NE_ERR_INVALID_MEM_REGION_SIZE,
};
FIXTURE_VARIANT_ADD(region_args, size_2m_plus_4k) {
	.size = SZ_2M + 4096, .expected = NE_ERR_INVALID_MEM_REGION_SIZE,
};
FIXTURE_VARIANT_ADD(region_args, size_1m) {
	.size = SZ_2M / 2, .expected = NE_ERR_INVALID_MEM_REGION_SIZE,
};
FIXTURE_VARIANT_ADD(region_args, addr_4k_misaligned) {
	.size = SZ_2M, .offset = 4096, .expected = NE_ERR_UNALIGNED_MEM_REGION_ADDR,
};
FIXTURE_VARIANT_ADD(region_args, addr_1m_misaligned) {
	.size = SZ_2M, .offset = SZ_2M / 2, .expected = NE_ERR_UNALIGNED_MEM_REGION_ADDR,
};
FIXTURE_VARIANT_ADD(region_args, size_checked_before_alignment) {
	.size = 4096, .offset = 4096, .expected = NE_ERR_INVALID_MEM_REGION_SIZE,
};
FIXTURE_VARIANT_ADD(region_args, addr_plus_size_wraps) {
	.use_abs = true, .addr = 0xffffffffffe00000ULL, .size = 2 * SZ_2M,
	.expected = NE_ERR_INVALID_MEM_REGION_ADDR,
};
FIXTURE_VARIANT_ADD(region_args, size_wraps_from_user_addr) {
	.use_abs = true, .addr = 0x200000ULL, .size = 0xfffffffffff00000ULL & ~(SZ_2M - 1),
	.expected = NE_ERR_INVALID_MEM_REGION_ADDR,
};
FIXTURE_VARIANT_ADD(region_args, kernel_address) {
	.use_abs = true, .addr = 0xffff888000000000ULL, .size = SZ_2M,
	.expected = NE_ERR_INVALID_MEM_REGION_ADDR,
};
/*
 * The end of the user address space of the test VMs: x86-64 with 4-level
 * paging (47 bits), arm64 with 48-bit VAs (Debian's arm64 kernel).
 */
#ifdef __aarch64__
#define NE_USER_TOP	0x0001000000000000ULL
#else
#define NE_USER_TOP	0x0000800000000000ULL
#endif
FIXTURE_VARIANT_ADD(region_args, non_canonical_address) {
	.use_abs = true, .addr = NE_USER_TOP, .size = SZ_2M,
	.expected = NE_ERR_INVALID_MEM_REGION_ADDR,
};
FIXTURE_VARIANT_ADD(region_args, crosses_top_of_user_space) {
	.use_abs = true, .addr = NE_USER_TOP - SZ_2M, .size = 2 * SZ_2M,
	.expected = NE_ERR_INVALID_MEM_REGION_ADDR,
};

TEST_F(region_args, rejected)
{
	char *p = ne_map_huge(&self->env.maps, 2 * SZ_2M, SZ_2M);
	uint64_t addr;

	ASSERT_NE(NULL, p);
	addr = variant->use_abs ? variant->addr :
		(uint64_t)(uintptr_t)p + variant->offset;
	EXPECT_ERRNO(variant->expected,
		     ne_set_mem(self->efd, variant->flags, addr, variant->size));
	/* Nothing was taken: the enclave still accepts the whole mapping. */
	EXPECT_OK(ne_add_mem(self->efd, p, 2 * SZ_2M));
}

/* --- NE_START_ENCLAVE --- */

TEST_F(enclave, start_auto_cid_at_least_4)
{
	uint64_t cid = 0;

	ASSERT_OK(enclave_start(&self->env, self->efd, &cid));
	EXPECT_LE(4, cid);
	EXPECT_GT(0xffffffffULL, cid);
}

TEST_F(enclave, start_requested_cid_returned)
{
	uint64_t cid = 0x1234;

	ASSERT_OK(enclave_ready(&self->env, self->efd));
	ASSERT_OK(ne_start(self->efd, 0, &cid));
	EXPECT_EQ(0x1234, cid);
}

TEST_F(enclave, start_highest_valid_cid)
{
	uint64_t cid = 0xfffffffeULL;

	ASSERT_OK(enclave_ready(&self->env, self->efd));
	ASSERT_OK(ne_start(self->efd, NE_ENCLAVE_DEBUG_MODE, &cid));
	EXPECT_EQ(0xfffffffeULL, cid);
}

TEST_F(enclave, start_without_memory_fails)
{
	/* Memory is checked before vCPUs. */
	EXPECT_ERRNO(NE_ERR_NO_MEM_REGIONS_ADDED, ne_start(self->efd, 0, NULL));
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	EXPECT_ERRNO(NE_ERR_NO_MEM_REGIONS_ADDED, ne_start(self->efd, 0, NULL));
}

TEST_F(enclave, start_below_64m_fails)
{
	char *p = ne_map_huge(&self->env.maps, NE_MIN_MEM, SZ_2M);

	ASSERT_NE(NULL, p);
	ASSERT_OK(ne_add_mem(self->efd, p, NE_MIN_MEM - SZ_2M));
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	EXPECT_ERRNO(NE_ERR_ENCLAVE_MEM_MIN_SIZE, ne_start(self->efd, 0, NULL));
	/* Exactly 64 MiB is enough. */
	ASSERT_OK(ne_add_mem(self->efd, p + NE_MIN_MEM - SZ_2M, SZ_2M));
	EXPECT_OK(ne_start(self->efd, 0, NULL));
}

TEST_F(enclave, start_without_vcpus_fails)
{
	ASSERT_OK(ne_make_ready(&self->env, self->efd, NE_MIN_MEM, 0));
	EXPECT_ERRNO(NE_ERR_NO_VCPUS_ADDED, ne_start(self->efd, 0, NULL));
}

TEST_F(enclave, start_half_core_fails)
{
	ASSERT_OK(ne_make_ready(&self->env, self->efd, NE_MIN_MEM, 1));
	EXPECT_ERRNO(NE_ERR_FULL_CORES_NOT_USED, ne_start(self->efd, 0, NULL));
	/* Completing the core fixes it. */
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	EXPECT_OK(ne_start(self->efd, 0, NULL));
}

TEST_F(enclave, start_half_core_explicit_id_fails)
{
	ASSERT_OK(ne_make_ready(&self->env, self->efd, NE_MIN_MEM, 0));
	ASSERT_OK(ne_add_vcpu_id(self->efd, self->env.pool[1]));
	EXPECT_ERRNO(NE_ERR_FULL_CORES_NOT_USED, ne_start(self->efd, 0, NULL));
}

TEST_F(enclave, start_bad_flags)
{
	uint64_t cid = 1;

	ASSERT_OK(enclave_ready(&self->env, self->efd));
	EXPECT_ERRNO(NE_ERR_INVALID_FLAG_VALUE,
		     ne_start(self->efd, NE_ENCLAVE_START_MAX_FLAG_VAL, NULL));
	EXPECT_ERRNO(NE_ERR_INVALID_FLAG_VALUE, ne_start(self->efd, ~0ULL, NULL));
	/* Flags are checked before the CID. */
	EXPECT_ERRNO(NE_ERR_INVALID_FLAG_VALUE, ne_start(self->efd, 2, &cid));
	/* Nothing changed: a good start still works. */
	EXPECT_OK(ne_start(self->efd, 0, NULL));
}

TEST_F(enclave, start_bad_pointer_efault)
{
	ASSERT_OK(enclave_ready(&self->env, self->efd));
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->efd, NE_START_ENCLAVE, NULL));
	EXPECT_ERRNO(EFAULT, ne_ioctl(self->efd, NE_START_ENCLAVE, NE_BAD_PTR));
	EXPECT_OK(ne_start(self->efd, 0, NULL));
}

TEST_F(enclave, start_device_failure_stays_init_and_retries)
{
	uint64_t cid = 0;

	/* ENCLAVE_START rc reaches user space; the enclave stays in INIT. */
	NE_NEED_TB(&self->env);
	ASSERT_OK(enclave_ready(&self->env, self->efd));
	ne_tb_fail_next(&self->env.tb, NE_CMD_ENCLAVE_START, -EADDRINUSE);
	EXPECT_ERRNO(EADDRINUSE, ne_start(self->efd, 0, &cid));
	EXPECT_OK(ne_image_info(self->efd, NE_EIF_IMAGE, NULL));
	EXPECT_OK(ne_start(self->efd, 0, &cid));
	EXPECT_LE(4, cid);
}

TEST_F(enclave, start_failure_then_more_memory_sends_only_that)
{
	char *p = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);
	struct ne_tb_counters before, after;

	/*
	 * The failed start sent all memory registered so far; a region added
	 * before the retry is all the retry sends, as one more range.
	 */
	NE_NEED_TB(&self->env);
	ASSERT_NE(NULL, p);
	ASSERT_OK(enclave_ready(&self->env, self->efd));
	ne_tb_fail_next(&self->env.tb, NE_CMD_ENCLAVE_START, -EADDRINUSE);
	EXPECT_ERRNO(EADDRINUSE, ne_start(self->efd, 0, NULL));
	ASSERT_OK(ne_add_mem(self->efd, p, SZ_2M));
	ne_tb_counters(&self->env.tb, &before);
	EXPECT_EQ(self->env.base.tb.mem_bytes + NE_MIN_MEM, before.mem_bytes);
	EXPECT_OK(ne_start(self->efd, 0, NULL));
	ne_tb_counters(&self->env.tb, &after);
	EXPECT_EQ(before.cmd[NE_CMD_SLOT_ADD_MEM] + 1,
		  after.cmd[NE_CMD_SLOT_ADD_MEM]);
	EXPECT_EQ(before.mem_ranges + 1, after.mem_ranges);
	EXPECT_EQ(before.mem_bytes + SZ_2M, after.mem_bytes);
}

TEST_F(enclave, after_start_every_ioctl_not_in_init_state)
{
	char *p = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);
	uint32_t id = 0;

	ASSERT_NE(NULL, p);
	ASSERT_OK(enclave_start(&self->env, self->efd, NULL));
	EXPECT_ERRNO(NE_ERR_NOT_IN_INIT_STATE, ne_add_vcpu(self->efd, &id));
	EXPECT_ERRNO(NE_ERR_NOT_IN_INIT_STATE,
		     ne_image_info(self->efd, NE_EIF_IMAGE, NULL));
	EXPECT_ERRNO(NE_ERR_NOT_IN_INIT_STATE, ne_add_mem(self->efd, p, SZ_2M));
	EXPECT_ERRNO(NE_ERR_NOT_IN_INIT_STATE, ne_start(self->efd, 0, NULL));
	/* Check order: image info checks state before flags ... */
	EXPECT_ERRNO(NE_ERR_NOT_IN_INIT_STATE, ne_image_info(self->efd, 0, NULL));
	/* ... the other two check flags (and CID) first. */
	EXPECT_ERRNO(NE_ERR_INVALID_FLAG_VALUE, ne_set_mem(self->efd, 1,
			(uintptr_t)p, SZ_2M));
	EXPECT_ERRNO(NE_ERR_INVALID_FLAG_VALUE, ne_start(self->efd, 2, NULL));
	{
		uint64_t cid = 3;

		EXPECT_ERRNO(NE_ERR_INVALID_ENCLAVE_CID, ne_start(self->efd, 0, &cid));
	}
}

/* Close *@efd; the device's command counters just before and after. */
static void close_counted(struct ne_env *env, int *efd,
			  struct ne_tb_counters *before,
			  struct ne_tb_counters *after)
{
	ne_tb_counters(&env->tb, before);
	close(*efd);
	*efd = -1;
	ne_tb_counters(&env->tb, after);
}

TEST_F(enclave, close_running_enclave_stops_and_frees_slot)
{
	struct ne_tb_counters before, after;

	NE_NEED_TB(&self->env);
	ASSERT_OK(enclave_start(&self->env, self->efd, NULL));
	close_counted(&self->env, &self->efd, &before, &after);
	EXPECT_EQ(before.cmd[NE_CMD_ENCLAVE_STOP] + 1, after.cmd[NE_CMD_ENCLAVE_STOP]);
	EXPECT_EQ(before.cmd[NE_CMD_SLOT_FREE] + 1, after.cmd[NE_CMD_SLOT_FREE]);
}

TEST_F(enclave, close_never_started_enclave_only_frees_slot)
{
	struct ne_tb_counters before, after;

	NE_NEED_TB(&self->env);
	ASSERT_OK(enclave_ready(&self->env, self->efd));
	close_counted(&self->env, &self->efd, &before, &after);
	EXPECT_EQ(before.cmd[NE_CMD_ENCLAVE_STOP], after.cmd[NE_CMD_ENCLAVE_STOP]);
	EXPECT_EQ(before.cmd[NE_CMD_SLOT_FREE] + 1, after.cmd[NE_CMD_SLOT_FREE]);
}

/* CIDs refused by the driver, as a case table. */
FIXTURE(start_cid) {
	struct ne_env env;
	int efd;
	uint64_t uid;
};

FIXTURE_VARIANT(start_cid) {
	uint64_t cid;
};

FIXTURE_VARIANT_ADD(start_cid, cid_1_local) { .cid = 1 };
FIXTURE_VARIANT_ADD(start_cid, cid_2_host) { .cid = 2 };
FIXTURE_VARIANT_ADD(start_cid, cid_3_parent) { .cid = 3 };
FIXTURE_VARIANT_ADD(start_cid, cid_any_ffffffff) { .cid = 0xffffffffULL };
FIXTURE_VARIANT_ADD(start_cid, cid_over_32_bits) { .cid = 0x100000000ULL };
FIXTURE_VARIANT_ADD(start_cid, cid_over_32_bits_low_ok) { .cid = 0x100000010ULL };
FIXTURE_VARIANT_ADD(start_cid, cid_all_ones) { .cid = ~0ULL };

FIXTURE_SETUP(start_cid)
{
	one_enclave_setup(_metadata, &self->env, &self->efd, &self->uid);
}

FIXTURE_TEARDOWN(start_cid)
{
	one_enclave_teardown(_metadata, &self->env, self->efd);
}

TEST_F(start_cid, refused_before_state_checks)
{
	uint64_t cid = variant->cid;

	/* The CID is checked before the (empty) enclave's state. */
	EXPECT_ERRNO(NE_ERR_INVALID_ENCLAVE_CID, ne_start(self->efd, 0, &cid));
	cid = variant->cid;
	EXPECT_ERRNO(NE_ERR_INVALID_ENCLAVE_CID,
		     ne_start(self->efd, NE_ENCLAVE_DEBUG_MODE, &cid));
}

/* --- poll --- */

TEST_F(enclave, poll_running_enclave_no_hup)
{
	ASSERT_OK(enclave_start(&self->env, self->efd, NULL));
	EXPECT_EQ(0, ne_poll(self->efd, 300));
}

TEST_F(enclave, poll_init_enclave_no_hup)
{
	EXPECT_EQ(0, ne_poll(self->efd, 100));
}

TEST_F(enclave, poll_hup_after_injected_exit)
{
	uint64_t t0;
	uint32_t id = 0;
	int rev;

	NE_NEED_TB(&self->env);
	ASSERT_OK(enclave_start(&self->env, self->efd, NULL));
	ASSERT_EQ(0, ne_tb_exit_slot(&self->env.tb, self->uid));
	t0 = ne_now_ms();
	rev = ne_poll(self->efd, 2000);
	EXPECT_EQ(POLLHUP, rev & POLLHUP) TH_LOG("revents 0x%x", rev);
	EXPECT_GT(1000, ne_now_ms() - t0);
	/* No EPOLLIN/EPOLLERR, and HUP sticks. */
	EXPECT_EQ(0, rev & (POLLIN | POLLERR));
	EXPECT_EQ(POLLHUP, ne_poll(self->efd, 0) & POLLHUP);
	/* The enclave is no longer in INIT. */
	EXPECT_ERRNO(NE_ERR_NOT_IN_INIT_STATE, ne_add_vcpu(self->efd, &id));
}

TEST_F(enclave, close_exited_enclave_only_frees_slot)
{
	struct ne_tb_counters before, after;

	NE_NEED_TB(&self->env);
	ASSERT_OK(enclave_start(&self->env, self->efd, NULL));
	ASSERT_EQ(0, ne_tb_exit_slot(&self->env.tb, self->uid));
	ASSERT_EQ(POLLHUP, ne_poll(self->efd, 2000) & POLLHUP);
	close_counted(&self->env, &self->efd, &before, &after);
	EXPECT_EQ(before.cmd[NE_CMD_ENCLAVE_STOP], after.cmd[NE_CMD_ENCLAVE_STOP]);
	EXPECT_EQ(before.cmd[NE_CMD_SLOT_FREE] + 1, after.cmd[NE_CMD_SLOT_FREE]);
}

TEST_F(enclave, spurious_events_no_hup)
{
	NE_NEED_TB(&self->env);
	ASSERT_OK(enclave_start(&self->env, self->efd, NULL));
	ASSERT_EQ(0, ne_tb_raise_events(&self->env.tb, 5));
	EXPECT_EQ(0, ne_poll(self->efd, 300));
}

TEST_F(enclave, never_started_enclave_never_reports_exit)
{
	uint64_t uid2;

	/* An INIT enclave next to one that exits: only the exited one hangs up. */
	NE_NEED_TB(&self->env);
	self->extra[0] = ne_create_vm(self->env.dev, &uid2);
	ASSERT_LE(0, self->extra[0]);
	ASSERT_OK(enclave_start(&self->env, self->efd, NULL));
	EXPECT_EQ(-EINVAL, ne_tb_exit_slot(&self->env.tb, uid2));
	ASSERT_EQ(0, ne_tb_raise_events(&self->env.tb, 3));
	ASSERT_EQ(0, ne_tb_exit_slot(&self->env.tb, self->uid));
	EXPECT_EQ(POLLHUP, ne_poll(self->efd, 2000) & POLLHUP);
	EXPECT_EQ(0, ne_poll(self->extra[0], 300));
}

TEST_F(enclave, several_pollers_and_epoll_all_see_hup)
{
	struct ne_waiter w[4];
	pthread_t th[4];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLHUP };
	int i, epfd;

	NE_NEED_TB(&self->env);
	ASSERT_OK(enclave_start(&self->env, self->efd, NULL));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, epfd);
	ASSERT_EQ(0, epoll_ctl(epfd, EPOLL_CTL_ADD, self->efd, &ev));
	for (i = 0; i < 4; i++) {
		w[i] = (struct ne_waiter){
			.fd = i == 3 ? epfd : self->efd,
			.how = i == 3 ? NE_WAIT_EPOLL : NE_WAIT_POLL,
			.timeout_ms = 5000,
		};
		ASSERT_EQ(0, pthread_create(&th[i], NULL, ne_waiter_thread, &w[i]));
	}
	usleep(300 * 1000);
	ASSERT_EQ(0, ne_tb_exit_slot(&self->env.tb, self->uid));
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(POLLHUP, w[i].ret & POLLHUP)
			TH_LOG("poller %d revents 0x%x", i, w[i].ret);
		EXPECT_GT(2000, w[i].ms) TH_LOG("poller %d woke after %llu ms",
						i, (unsigned long long)w[i].ms);
	}
	close(epfd);
}

/* --- device faults through the test BAR --- */

TEST_F(enclave, dropped_reply_times_out_and_next_command_works)
{
	uint64_t t0, ms;
	int ret;

	/* A lost reply: ETIMEDOUT after cmd_timeout_ms, then normal service. */
	NE_NEED_TB(&self->env);
	if (ne_timeout_get() < 0)
		SKIP(return, "no debugfs cmd_timeout_ms knob");
	ASSERT_EQ(0, ne_env_timeout(&self->env, 500));
	ne_tb_reply_mode(&self->env.tb, NE_TB_REPLY_DROP, 0);
	t0 = ne_now_ms();
	ret = ne_add_vcpu_id(self->efd, self->env.pool[0]);
	ms = ne_now_ms() - t0;
	EXPECT_ERRNO(ETIMEDOUT, ret);
	EXPECT_LE(400, ms);
	EXPECT_GT(5000, ms);
	/* The device did run it (the slot holds that vCPU): the sibling works. */
	EXPECT_OK(ne_add_vcpu_id(self->efd, self->env.pool[1]));
	EXPECT_OK(ne_image_info(self->efd, NE_EIF_IMAGE, NULL));
}

TEST_F(enclave, add_mem_device_failure_passed_through)
{
	char *p = ne_map_huge(&self->env.maps, NE_MIN_MEM, SZ_2M);
	int ret;

	/*
	 * A SLOT_ADD_MEM failure reaches user space: from the registration
	 * if the driver sends memory at once, else from NE_START_ENCLAVE,
	 * which then leaves the enclave in init state for a retry.
	 */
	NE_NEED_TB(&self->env);
	ASSERT_NE(NULL, p);
	ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_ADD_MEM, -EFAULT);
	ret = ne_add_mem(self->efd, p, NE_MIN_MEM);
	if (ret) {
		EXPECT_ERRNO(EFAULT, ret);
		return;
	}
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	ASSERT_OK(ne_add_vcpu_id(self->efd, 0));
	EXPECT_ERRNO(EFAULT, ne_start(self->efd, 0, NULL));
	EXPECT_OK(ne_image_info(self->efd, NE_EIF_IMAGE, NULL));
	EXPECT_OK(ne_start(self->efd, 0, NULL));
	if (self->env.have_tb)
		EXPECT_EQ(self->env.base.tb.mem_bytes + NE_MIN_MEM,
			  ne_tb_read64(&self->env.tb, NE_TB_MEM_BYTES));
}

TEST_F(enclave, add_vcpu_device_failure_passed_through)
{
	NE_NEED_TB(&self->env);
	ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_ADD_VCPU, -EEXIST);
	EXPECT_ERRNO(EEXIST, ne_add_vcpu_id(self->efd, self->env.pool[0]));
	/* The refused vCPU's core went back to the pool, whole. */
	EXPECT_EQ(self->env.base.free_cores, ne_attr_long("pool_free_cores"));
	/* The same id can be claimed again. */
	EXPECT_OK(ne_add_vcpu_id(self->efd, self->env.pool[0]));
}

/* ------------------------------------------------------------------ */
/* cpu_pool: no enclave; ne_cpus rules. Teardown restores the pool.    */
/* ------------------------------------------------------------------ */

FIXTURE(cpu_pool) {
	struct ne_env env;
	int offlined;		/* a CPU the test took offline, or -1 */
};

FIXTURE_SETUP(cpu_pool)
{
	self->offlined = -1;
	ASSERT_EQ(0, ne_env_setup(&self->env));
	ASSERT_LE(2, self->env.pool_n);
}

FIXTURE_TEARDOWN(cpu_pool)
{
	if (self->offlined >= 0)
		ne_cpu_set_online(self->offlined, 1);
	EXPECT_EQ(0, ne_pool_reset());
	ne_env_teardown(_metadata, &self->env);
}

static void expect_pool_cpus(struct __test_metadata *_metadata,
			     struct ne_env *env, int online)
{
	int i;

	for (i = 0; i < env->pool_n; i++)
		EXPECT_EQ(online, ne_cpu_is_online(env->pool[i]))
			TH_LOG("CPU %d should be %s", env->pool[i],
			       online ? "online" : "offline");
}

TEST_F(cpu_pool, pool_cpus_offline_and_param_readable)
{
	char buf[512];

	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ(ne_pool_default(), buf);
	expect_pool_cpus(_metadata, &self->env, 0);
	EXPECT_TRUE(ne_cpu_is_online(1));
}

TEST_F(cpu_pool, empty_write_tears_down_and_succeeds)
{
	uint64_t uid;

	NE_NEED_POOL_CHANGE();

	/* Project rule: an empty list is a teardown, not an error. */
	EXPECT_EQ(0, ne_pool_set("\n"));
	expect_pool_cpus(_metadata, &self->env, 1);
	EXPECT_ERRNO(NE_ERR_NO_CPUS_AVAIL_IN_POOL, ne_create_vm(self->env.dev, &uid));
	EXPECT_EQ(0, ne_pool_reset());
	expect_pool_cpus(_metadata, &self->env, 0);
}

TEST_F(cpu_pool, rewrite_same_pool_and_range_syntax)
{
	char buf[64];

	NE_NEED_POOL_CHANGE();

	snprintf(buf, sizeof(buf), "%d-%d\n", self->env.pool[0], self->env.pool[1]);
	if (self->env.pool_n == 2)
		EXPECT_EQ(0, ne_pool_set(buf));
	expect_pool_cpus(_metadata, &self->env, 0);
	EXPECT_EQ(0, ne_pool_reset());
	expect_pool_cpus(_metadata, &self->env, 0);
}

TEST_F(cpu_pool, write_without_cap_sys_admin_eperm)
{
	EXPECT_ERRNO(EPERM, ne_in_child(ne_pool_set_without_cap,
					(void *)ne_pool_default()));
	EXPECT_ERRNO(EPERM, ne_in_child(ne_pool_set_without_cap, "\n"));
	/* The pool is untouched. */
	expect_pool_cpus(_metadata, &self->env, 0);
}

TEST_F(cpu_pool, write_while_enclave_exists_eperm)
{
	uint64_t uid;
	int efd = ne_create_vm(self->env.dev, &uid);
	char buf[512];

	/* Even a never-started enclave without vCPUs freezes the pool. */
	ASSERT_LE(0, efd);
	EXPECT_ERRNO(EPERM, ne_pool_set(ne_pool_default()));
	EXPECT_ERRNO(EPERM, ne_pool_set("\n"));
	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ(ne_pool_default(), buf);
	expect_pool_cpus(_metadata, &self->env, 0);
	close(efd);
	EXPECT_EQ(0, ne_pool_reset());
}

TEST_F(cpu_pool, list_longer_than_param_buffer_enospc)
{
	char buf[700], *p = buf;
	int i;

	/* A refused write tears the pool down. */
	NE_NEED_POOL_CHANGE();

	/* A valid list of 600+ bytes: set up, then refused as too long. */
	for (i = 0; i < self->env.pool_n && p < buf + 500; i++)
		p += sprintf(p, "%s%0300d", i ? "," : "", self->env.pool[i]);
	ASSERT_LE(512, p - buf);
	EXPECT_ERRNO(ENOSPC, ne_pool_set(buf));
	/* Nothing is left: empty pool, CPUs online. */
	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
	expect_pool_cpus(_metadata, &self->env, 1);
}

TEST_F(cpu_pool, offline_cpu_rejected)
{
	char buf[64];
	int cpu = self->env.pool[1];

	NE_NEED_POOL_CHANGE();

	/* Free the pool, take one of its CPUs offline by hand, reconfigure. */
	ASSERT_EQ(0, ne_pool_set("\n"));
	ne_cpu_set_online(cpu, 0);
	self->offlined = cpu;
	ASSERT_EQ(0, ne_cpu_is_online(cpu));
	snprintf(buf, sizeof(buf), "%d,%d", self->env.pool[0], cpu);
	EXPECT_ERRNO(EINVAL, ne_pool_set(buf));
	/* Nothing was offlined by the failed write. */
	EXPECT_EQ(1, ne_cpu_is_online(self->env.pool[0]));
	EXPECT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
}

/* Refused pool strings, as a case table. */
FIXTURE(pool_write) {
	struct ne_env env;
};

FIXTURE_VARIANT(pool_write) {
	const char *list;
	bool parse_error;	/* EINVAL or ERANGE from the cpulist parser */
};

FIXTURE_VARIANT_ADD(pool_write, cpu0_core) { .list = "0,1" };
FIXTURE_VARIANT_ADD(pool_write, cpu0_alone) { .list = "0" };
FIXTURE_VARIANT_ADD(pool_write, cpu0_sibling) { .list = "1" };
FIXTURE_VARIANT_ADD(pool_write, cpu0_with_pool) { .list = "0,2,3" };
FIXTURE_VARIANT_ADD(pool_write, sibling_of_cpu0_with_pool) { .list = "1-3" };
FIXTURE_VARIANT_ADD(pool_write, half_core_first) { .list = "2" };
FIXTURE_VARIANT_ADD(pool_write, half_core_second) { .list = "3\n" };
FIXTURE_VARIANT_ADD(pool_write, garbage) { .list = "garbage", .parse_error = true };
FIXTURE_VARIANT_ADD(pool_write, open_range) { .list = "2-", .parse_error = true };
FIXTURE_VARIANT_ADD(pool_write, reversed_range) { .list = "3-2", .parse_error = true };
FIXTURE_VARIANT_ADD(pool_write, negative) { .list = "-2", .parse_error = true };
FIXTURE_VARIANT_ADD(pool_write, beyond_nr_cpu_ids) { .list = "2,3,4095", .parse_error = true };
FIXTURE_VARIANT_ADD(pool_write, trailing_junk) { .list = "2,3x", .parse_error = true };

FIXTURE_SETUP(pool_write)
{
	ASSERT_EQ(0, ne_env_setup(&self->env));
}

FIXTURE_TEARDOWN(pool_write)
{
	EXPECT_EQ(0, ne_pool_reset());
	ne_env_teardown(_metadata, &self->env);
}

TEST_F(pool_write, refused_and_pool_cleared)
{
	char buf[512];
	int ret, i;

	NE_NEED_POOL_CHANGE();

	ret = ne_pool_set(variant->list);
	if (variant->parse_error) {
		EXPECT_TRUE(ret == -EINVAL || ret == -ERANGE)
			TH_LOG("\"%s\": got %s", variant->list, ne_err_name(ret));
	} else {
		EXPECT_ERRNO(EINVAL, ret);
	}
	/* A failed write leaves no pool and every former pool CPU online. */
	EXPECT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
	for (i = 0; i < self->env.pool_n; i++)
		EXPECT_EQ(1, ne_cpu_is_online(self->env.pool[i]));
	EXPECT_EQ(1, ne_cpu_is_online(1));
}

/* ------------------------------------------------------------------ */
/* stray_reply: replies that arrive late or twice. Last, because a      */
/* driver that gets confused may stay confused for later tests.         */
/* ------------------------------------------------------------------ */

FIXTURE(stray_reply) {
	struct ne_env env;
	int efd;
	uint64_t uid;
};

FIXTURE_SETUP(stray_reply)
{
	one_enclave_setup(_metadata, &self->env, &self->efd, &self->uid);
}

FIXTURE_TEARDOWN(stray_reply)
{
	one_enclave_teardown(_metadata, &self->env, self->efd);
}

TEST_F_TIMEOUT(stray_reply, late_reply_not_taken_for_next_command, 60)
{
	char *p = ne_map_huge(&self->env.maps, 2 * SZ_2M, SZ_2M);

	/*
	 * Command 1 times out at 1 s; its reply comes at 1.5 s, while
	 * command 2 (reply due at ~1.8 s, rc -E2BIG) is waiting. The stale
	 * rc 0 must not be taken for command 2's reply.
	 */
	NE_NEED_TB(&self->env);
	ASSERT_NE(NULL, p);
	if (ne_timeout_get() < 0)
		SKIP(return, "no debugfs cmd_timeout_ms knob");
	ASSERT_EQ(0, ne_env_timeout(&self->env, 1000));
	ne_tb_reply_mode(&self->env.tb, NE_TB_REPLY_LATE, 1500);
	EXPECT_ERRNO(ETIMEDOUT, ne_add_vcpu_id(self->efd, self->env.pool[0]));
	/* Command 2 is a vCPU too: memory commands wait for the start. */
	ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_ADD_VCPU, -E2BIG);
	ne_tb_reply_mode(&self->env.tb, NE_TB_REPLY_LATE, 800);
	EXPECT_ERRNO(E2BIG, ne_add_vcpu_id(self->efd, self->env.pool[1]));
	EXPECT_OK(ne_add_vcpu_id(self->efd, self->env.pool[1]));
	EXPECT_OK(ne_add_mem(self->efd, p, SZ_2M));
}

TEST_F(stray_reply, duplicate_reply_between_commands_ignored)
{
	char *p = ne_map_huge(&self->env.maps, 2 * SZ_2M, SZ_2M);

	/*
	 * A second copy of reply 1 arrives while no command is pending; the
	 * next command must get its own reply (rc -E2BIG), not the copy.
	 */
	NE_NEED_TB(&self->env);
	ASSERT_NE(NULL, p);
	/* vCPU commands: memory commands wait for the start. */
	ne_tb_reply_mode(&self->env.tb, NE_TB_REPLY_TWICE, 100);
	EXPECT_OK(ne_add_vcpu_id(self->efd, self->env.pool[0]));
	usleep(400 * 1000);
	ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_ADD_VCPU, -E2BIG);
	EXPECT_ERRNO(E2BIG, ne_add_vcpu_id(self->efd, self->env.pool[1]));
	EXPECT_OK(ne_add_mem(self->efd, p, SZ_2M));
	EXPECT_OK(ne_image_info(self->efd, NE_EIF_IMAGE, NULL));
}

/* ------------------------------------------------------------------ */
/* reply_irq: reply interrupts lost, or early. The reply vector (0) is  */
/* masked in the MSI-X table behind the kernel's back: the device then  */
/* only sets its pending bit, which fires when the vector is unmasked.  */
/* ------------------------------------------------------------------ */

#define PCI_CAP_PTR		0x34
#define PCI_CAP_ID_MSIX		0x11
#define MSIX_ENTRY_SIZE		16
#define MSIX_ENTRY_CTRL		12
#define NE_VEC_REPLY		0

struct msix_vec {
	volatile uint32_t *ctrl;	/* vector control word of the entry */
	void *map;
	size_t map_len;
};

/*
 * Map the vector control word of MSI-X entry @vec of the PCI device @bdf,
 * found through its MSI-X capability. Return: 0 or -errno.
 */
static int msix_vec_map(const char *bdf, unsigned int vec, struct msix_vec *m)
{
	uint8_t cfg[256];
	uint32_t table;
	unsigned int pos, hops;
	char path[256];
	long page = sysconf(_SC_PAGESIZE);
	off_t off, base;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, cfg, sizeof(cfg), 0) != sizeof(cfg)) {
		close(fd);
		return -EIO;
	}
	close(fd);

	pos = cfg[PCI_CAP_PTR] & ~3u;
	for (hops = 0; pos && hops < 48; hops++) {
		if (cfg[pos] == PCI_CAP_ID_MSIX)
			break;
		pos = cfg[pos + 1] & ~3u;
	}
	if (!pos || hops == 48)
		return -ENOENT;
	memcpy(&table, &cfg[pos + 4], sizeof(table));

	off = (table & ~7u) + vec * MSIX_ENTRY_SIZE + MSIX_ENTRY_CTRL;
	base = off & ~(off_t)(page - 1);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%u",
		 bdf, table & 7);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	m->map_len = page;
	m->map = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      fd, base);
	close(fd);
	if (m->map == MAP_FAILED)
		return -errno;
	m->ctrl = (volatile uint32_t *)((char *)m->map + (off - base));
	return 0;
}

static void msix_vec_mask(struct msix_vec *m, bool masked)
{
	*m->ctrl = masked ? (*m->ctrl | 1) : (*m->ctrl & ~1u);
}

FIXTURE(reply_irq) {
	struct ne_env env;
	struct msix_vec vec;
	bool mapped;
	int efd;
	uint64_t uid;
};

FIXTURE_SETUP(reply_irq)
{
	int ret;

	self->mapped = false;
	one_enclave_setup(_metadata, &self->env, &self->efd, &self->uid);
	NE_NEED_TB(&self->env);
	if (ne_timeout_get() < 0)
		SKIP(return, "no debugfs cmd_timeout_ms knob");
	ret = msix_vec_map(self->env.tb.bdf, NE_VEC_REPLY, &self->vec);
	if (ret)
		SKIP(return, "cannot map the MSI-X table: %s", strerror(-ret));
	self->mapped = true;
}

FIXTURE_TEARDOWN(reply_irq)
{
	if (self->mapped) {
		msix_vec_mask(&self->vec, false);
		munmap(self->vec.map, self->vec.map_len);
	}
	if (self->env.have_tb)
		ne_tb_reply_mode(&self->env.tb, NE_TB_REPLY_NORMAL, 0);
	one_enclave_teardown(_metadata, &self->env, self->efd);
}

/* The reply came but its interrupt did not: it is found at the deadline. */
TEST_F_TIMEOUT(reply_irq, reply_without_interrupt_taken_at_deadline, 60)
{
	uint64_t t0, ms;

	ASSERT_EQ(0, ne_env_timeout(&self->env, 600));
	msix_vec_mask(&self->vec, true);
	t0 = ne_now_ms();
	EXPECT_OK(ne_add_vcpu_id(self->efd, self->env.pool[0]));
	ms = ne_now_ms() - t0;
	msix_vec_mask(&self->vec, false);
	TH_LOG("NE_ADD_VCPU without a reply interrupt took %llu ms",
	       (unsigned long long)ms);
	EXPECT_LE(550, ms);
	EXPECT_GT(3000, ms);

	/* The pending interrupt fired at unmask; the next command is normal. */
	t0 = ne_now_ms();
	EXPECT_OK(ne_add_vcpu_id(self->efd, self->env.pool[1]));
	EXPECT_GT(400, ne_now_ms() - t0);
}

/*
 * An interrupt that comes before the reply (here the pending one of the
 * previous command, fired by the unmask) wakes the waiter, which must go
 * on waiting rather than take the reply area it finds.
 */
TEST_F_TIMEOUT(reply_irq, interrupt_before_reply_keeps_waiting, 60)
{
	struct ne_vcpu_adder a = {
		.efd = self->efd, .cpu = (uint32_t)self->env.pool[1],
	};
	uint64_t t0, ms;
	pthread_t t;

	/* Leaves the reply vector's pending bit set. */
	ASSERT_EQ(0, ne_env_timeout(&self->env, 300));
	msix_vec_mask(&self->vec, true);
	EXPECT_OK(ne_add_vcpu_id(self->efd, self->env.pool[0]));

	ASSERT_EQ(0, ne_timeout_set(5000));
	ne_tb_reply_mode(&self->env.tb, NE_TB_REPLY_LATE, 1000);
	t0 = ne_now_ms();
	ASSERT_EQ(0, pthread_create(&t, NULL, ne_add_vcpu_thread, &a));
	usleep(200 * 1000);
	msix_vec_mask(&self->vec, false);
	pthread_join(t, NULL);
	ms = ne_now_ms() - t0;
	TH_LOG("NE_ADD_VCPU woken early by an interrupt took %llu ms",
	       (unsigned long long)ms);
	EXPECT_OK(a.ret);
	EXPECT_LE(900, ms);
}

int main(int argc, char **argv)
{
	return ne_test_main(argc, argv);
}
