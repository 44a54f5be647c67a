// SPDX-License-Identifier: GPL-2.0
/*
 * Nitro Enclaves smoke test (the driver's acceptance test, run first):
 * the module is bound, the node is right, an enclave runs, exits through
 * the test BAR and is cleaned up; surprise removal of the PCI device with
 * an enclave open (INIT and RUNNING) and rescan; module unload onlines the
 * pool CPUs and a reload binds again.
 *
 * The runner loads the module before and unloads it after the binaries.
 * The module file for the reload test is $NE_KO (default
 * /opt/ne/nitro_enclaves.ko).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NE_DRV_DIR	"/sys/bus/pci/drivers/nitro_enclaves"

static const char *ne_ko_path(void)
{
	const char *p = getenv("NE_KO");

	return p && *p ? p : "/opt/ne/nitro_enclaves.ko";
}

FIXTURE(smoke) {
	struct ne_env env;
	int efd;
	uint64_t uid;
};

FIXTURE_SETUP(smoke)
{
	int ret;

	self->efd = -1;
	ret = ne_env_setup(&self->env);
	ASSERT_EQ(0, ret) TH_LOG("setup (pool, %s): %s", NE_DEV_PATH,
				 strerror(-ret));
}

FIXTURE_TEARDOWN(smoke)
{
	if (self->efd >= 0)
		close(self->efd);
	ne_env_teardown(_metadata, &self->env);
}

TEST_F(smoke, module_bound_and_node_0660)
{
	char path[512];
	struct stat st;

	ASSERT_EQ(0, access("/sys/module/nitro_enclaves", F_OK));
	ASSERT_EQ(0, ne_tb_find(self->env.tb.bdf, sizeof(self->env.tb.bdf)))
		TH_LOG("no 1d0f:e4c1 PCI function");
	snprintf(path, sizeof(path), NE_DRV_DIR "/%s", self->env.tb.bdf);
	EXPECT_EQ(0, access(path, F_OK)) TH_LOG("%s not bound to nitro_enclaves",
						self->env.tb.bdf);
	ASSERT_EQ(0, stat(NE_DEV_PATH, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0660, st.st_mode & 07777) TH_LOG("mode %o", st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(10, major(st.st_rdev)) TH_LOG("not a misc device");
	ASSERT_EQ(0, stat(NE_CPUS_PATH, &st));
	EXPECT_EQ(0644, st.st_mode & 07777);
	/* The timeout is set at load; debugfs has the runtime knob. */
	ASSERT_EQ(0, stat(NE_TIMEOUT_PARAM, &st)) TH_LOG("no cmd_timeout_ms parameter");
	EXPECT_EQ(0444, st.st_mode & 07777);
	EXPECT_NE(0, ne_write_file(NE_TIMEOUT_PARAM, "1000"));
	if (!stat(NE_TIMEOUT_PATH, &st)) {
		EXPECT_EQ(0600, st.st_mode & 07777);
	} else {
		TH_LOG("no %s (debugfs not mounted?)", NE_TIMEOUT_PATH);
	}
	if (!self->env.have_tb)
		TH_LOG("note: no test BAR, the remaining smoke tests will skip");
}

TEST_F(smoke, pool_2_3_offlines_core_1)
{
	char buf[64];

	NE_NEED_POOL_CHANGE();

	ASSERT_EQ(0, ne_pool_set("2,3\n"));
	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ("2,3", buf);
	EXPECT_EQ(0, ne_cpu_is_online(2));
	EXPECT_EQ(0, ne_cpu_is_online(3));
	EXPECT_EQ(1, ne_cpu_is_online(1));
	ASSERT_EQ(0, ne_pool_set(ne_pool_default()));
}

/* A 64 MiB, 2-vCPU enclave from 2 MiB pages, started. */
static int launch(struct ne_env *env, int *efd, uint64_t *uid, uint64_t *cid)
{
	int ret;

	*efd = ne_create_vm(env->dev, uid);
	if (*efd < 0)
		return *efd;
	ret = ne_make_ready(env, *efd, NE_MIN_MEM, 2);
	if (ret)
		return ret;
	*cid = 0;
	return ne_start(*efd, 0, cid);
}

TEST_F(smoke, enclave_runs_exits_and_is_freed)
{
	uint64_t cid = 0, t0;
	int rev, i;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, NE_MIN_MEM / SZ_2M);
	ASSERT_OK(launch(&self->env, &self->efd, &self->uid, &cid));
	EXPECT_LE(4, cid);
	EXPECT_EQ(self->env.base.tb.live_slots + 1,
		  ne_tb_read32(&self->env.tb, NE_TB_LIVE_SLOTS));
	EXPECT_EQ(NE_MIN_MEM, ne_tb_read64(&self->env.tb, NE_TB_MEM_BYTES) -
				  self->env.base.tb.mem_bytes);
	EXPECT_EQ(2, ne_tb_read32(&self->env.tb, NE_TB_VCPUS) -
			     self->env.base.tb.vcpus);
	EXPECT_EQ(0, ne_poll(self->efd, 0));

	/* Exit injected by the "hypervisor": EPOLLHUP within 1 s. */
	ASSERT_EQ(0, ne_tb_exit_slot(&self->env.tb, self->uid));
	t0 = ne_now_ms();
	rev = ne_poll(self->efd, 1000);
	EXPECT_EQ(POLLHUP, rev & POLLHUP) TH_LOG("revents 0x%x after %llu ms",
		rev, (unsigned long long)(ne_now_ms() - t0));

	close(self->efd);
	self->efd = -1;
	ne_unmap_all(&self->env.maps);
	EXPECT_EQ(self->env.base.tb.live_slots,
		  ne_tb_read32(&self->env.tb, NE_TB_LIVE_SLOTS));
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
	for (i = 0; i < self->env.pool_n; i++)
		EXPECT_EQ(0, ne_cpu_is_online(self->env.pool[i]));
}

/*
 * Release when the device refuses ENCLAVE_STOP or SLOT_FREE: the host's
 * pages and cores still come back. The device keeps the slot (and, with
 * it, the memory ranges and vCPU ids), so teardown resets the device.
 */
FIXTURE(release_fault) {
	struct ne_env env;
	int efd;
	uint64_t uid;
	char bdf[64];
};

FIXTURE_VARIANT(release_fault) {
	bool start;
	uint32_t fail_cmd;
};

FIXTURE_VARIANT_ADD(release_fault, init_slot_free_fails) {
	.start = false, .fail_cmd = NE_CMD_SLOT_FREE,
};
FIXTURE_VARIANT_ADD(release_fault, running_stop_fails) {
	.start = true, .fail_cmd = NE_CMD_ENCLAVE_STOP,
};
FIXTURE_VARIANT_ADD(release_fault, running_slot_free_fails) {
	.start = true, .fail_cmd = NE_CMD_SLOT_FREE,
};

FIXTURE_SETUP(release_fault)
{
	self->efd = -1;
	ne_env_setup_pci(_metadata, &self->env, self->bdf, sizeof(self->bdf));
}

FIXTURE_TEARDOWN(release_fault)
{
	bool reset = self->env.have_tb;

	if (self->efd >= 0)
		close(self->efd);
	ne_env_release(&self->env);
	ne_env_close_tb(&self->env);
	if (reset) {
		EXPECT_EQ(0, ne_reset_device(self->bdf, 2000));
		self->env.have_tb = ne_tb_open(&self->env.tb) == 0;
	}
	ne_env_check_baseline(_metadata, &self->env);
}

TEST_F_TIMEOUT(release_fault, pages_and_cores_come_back, 60)
{
	uint64_t cid = 0, uid2;
	int efd2;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, NE_MIN_MEM / SZ_2M);
	ne_create_ready(_metadata, &self->env, &self->efd, &self->uid);
	if (variant->start)
		ASSERT_OK(ne_start(self->efd, 0, &cid));
	ne_tb_fail_next(&self->env.tb, variant->fail_cmd, -EIO);
	close(self->efd);
	self->efd = -1;
	EXPECT_EQ(0, ne_tb_read32(&self->env.tb, NE_TB_FAIL_CMD))
		TH_LOG("release did not send the failing command");
	/*
	 * The device did not confirm the free: the pages stay pinned and
	 * the core reserved (quarantine) until it does.
	 */
	ne_unmap_all(&self->env.maps);
	EXPECT_EQ(1, ne_attr_long("quarantined_slots"));
	EXPECT_EQ(self->env.base.hp2m_free - (long)(NE_MIN_MEM / SZ_2M),
		  ne_hp_free(SZ_2M));
	/* A device event makes the driver ask again; now the device agrees. */
	EXPECT_EQ(0, ne_tb_raise_events(&self->env.tb, 1));
	EXPECT_TRUE(ne_wait_attr("quarantined_slots", 0, 5000));
	/* Host side: the pages are unpinned, the core is back in the pool. */
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
	efd2 = ne_create_vm(self->env.dev, &uid2);
	EXPECT_LE(0, efd2) TH_LOG("pool core not returned: %s", ne_err_name(efd2));
	if (efd2 >= 0) {
		/* The driver hands the core out (the device may refuse the id). */
		int ret = ne_add_vcpu_id(efd2, 0);

		EXPECT_NE(-NE_ERR_NO_CPUS_AVAIL_IN_POOL, ret);
		close(efd2);
	}
}

/* Surprise removal with an enclave fd open, then rescan. */
FIXTURE(removal) {
	struct ne_env env;
	int efd;
	uint64_t uid;
	char bdf[64];
	bool removed;
};

FIXTURE_VARIANT(removal) {
	bool start;
};

FIXTURE_VARIANT_ADD(removal, init) { .start = false };
FIXTURE_VARIANT_ADD(removal, running) { .start = true };

FIXTURE_SETUP(removal)
{
	self->efd = -1;
	ne_env_setup_pci(_metadata, &self->env, self->bdf, sizeof(self->bdf));
}

FIXTURE_TEARDOWN(removal)
{
	if (self->efd >= 0)
		close(self->efd);
	if (self->removed && access(NE_DEV_PATH, F_OK))
		EXPECT_EQ(0, ne_pci_rescan(10000));
	if (self->env.have_tb || self->removed)
		ne_env_reopen_tb(&self->env);
	ne_env_teardown(_metadata, &self->env);
}

TEST_F_TIMEOUT(removal, remove_with_enclave_open_then_rescan, 60)
{
	uint64_t cid = 0, uid;
	char *spare;
	uint32_t id = 0;
	int rev, efd2;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, NE_MIN_MEM / SZ_2M + 1);
	spare = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);
	ASSERT_NE(NULL, spare);
	ne_create_ready(_metadata, &self->env, &self->efd, &self->uid);
	if (variant->start)
		ASSERT_OK(ne_start(self->efd, 0, &cid));

	/* The BAR mappings go away with the device. */
	ne_env_close_tb(&self->env);
	self->removed = true;
	ASSERT_EQ(0, ne_pci_remove(self->bdf));
	EXPECT_TRUE(ne_wait_path(NE_DEV_PATH, false, 2000));

	/* ioctls: ENODEV; poll: EPOLLHUP. */
	EXPECT_ERRNO(ENODEV, ne_add_vcpu(self->efd, &id));
	EXPECT_ERRNO(ENODEV, ne_add_mem(self->efd, spare, SZ_2M));
	EXPECT_ERRNO(ENODEV, ne_image_info(self->efd, NE_EIF_IMAGE, NULL));
	EXPECT_ERRNO(ENODEV, ne_start(self->efd, 0, NULL));
	rev = ne_poll(self->efd, 1000);
	EXPECT_EQ(POLLHUP, rev & POLLHUP) TH_LOG("revents 0x%x", rev);
	/* The misc fd opened before removal fails too. */
	EXPECT_ERRNO(ENODEV, ne_create_vm(self->env.dev, &uid));

	/* close frees everything: hugepages back once unmapped. */
	close(self->efd);
	self->efd = -1;
	ne_unmap_all(&self->env.maps);
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
	/* With the core back in the pool, the old misc fd still refuses. */
	efd2 = ne_create_vm(self->env.dev, &uid);
	EXPECT_ERRNO(ENODEV, efd2 < 0 ? efd2 : 0);
	if (efd2 >= 0)
		close(efd2);
	close(self->env.dev);
	self->env.dev = -1;

	/* Rescan: the device comes back and a new enclave launches. */
	ASSERT_EQ(0, ne_pci_rescan(10000));
	ne_env_reopen(_metadata, &self->env);
	ASSERT_OK(launch(&self->env, &efd2, &uid, &cid));
	EXPECT_LE(4, cid);
	close(efd2);
}

/* Unload onlines the pool CPUs; reload binds the device again. Runs last. */
FIXTURE(module) {
	struct ne_env env;
};

FIXTURE_SETUP(module)
{
	ASSERT_EQ(0, ne_env_setup(&self->env));
}

FIXTURE_TEARDOWN(module)
{
	if (access(NE_DEV_PATH, F_OK) == 0)
		EXPECT_EQ(0, ne_pool_ensure());
	ne_env_release(&self->env);
	ne_env_reopen_tb(&self->env);
	ne_env_check_baseline(_metadata, &self->env);
}

TEST_F_TIMEOUT(module, unload_onlines_pool_and_reload_binds, 60)
{
	char bdf[64], path[256];
	int i, fd;

	NE_NEED_POOL_CHANGE();

	fd = open(ne_ko_path(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		SKIP(return, "module file %s not found (set NE_KO)", ne_ko_path());
	ne_env_close_tb(&self->env);
	close(self->env.dev);
	self->env.dev = -1;

	ASSERT_EQ(0, syscall(SYS_delete_module, "nitro_enclaves", O_NONBLOCK))
		TH_LOG("rmmod: %s", strerror(errno));
	for (i = 0; i < self->env.pool_n; i++)
		EXPECT_EQ(1, ne_cpu_is_online(self->env.pool[i]))
			TH_LOG("CPU %d still offline after unload", self->env.pool[i]);
	EXPECT_TRUE(ne_wait_path(NE_DEV_PATH, false, 2000));

	ASSERT_EQ(0, syscall(SYS_finit_module, fd, "", 0))
		TH_LOG("insmod %s: %s", ne_ko_path(), strerror(errno));
	close(fd);
	EXPECT_TRUE(ne_wait_path(NE_DEV_PATH, true, 5000));
	ASSERT_EQ(0, ne_tb_find(bdf, sizeof(bdf)));
	snprintf(path, sizeof(path), NE_DRV_DIR "/%s", bdf);
	EXPECT_EQ(0, access(path, F_OK)) TH_LOG("%s not bound after reload", bdf);
}

int main(int argc, char **argv)
{
	return ne_test_main(argc, argv);
}
