// SPDX-License-Identifier: GPL-2.0
/*
 * Surprise removal of the NE PCI device while an enclave is in INIT, is
 * RUNNING, has a command in flight (its reply dropped by the device), or
 * has a poller waiting; then the device comes back and a new enclave
 * launches.
 *
 * By default the guest removes the device itself (sysfs remove, then PCI
 * rescan). With NE_REMOVAL_QMP=1 the host does it, as a hot unplug: the
 * test prints "ne-removal: device_del" / "ne-removal: device_add addr=N"
 * on the console and ne_removal_qmp.py (ne-vm --host-hook) sends
 * device_del / device_add with the same id, bus and slot over QMP.
 *
 * After the removal: every ioctl on the enclave fd fails with ENODEV,
 * poll reports POLLHUP, the waiting command and the waiting poller return
 * promptly, close frees the pages and the core; after the return: the
 * device holds no slot and an enclave launches.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kselftest_harness.h"
#include "ne_test_util.h"

enum ne_rm_state { NE_RM_INIT, NE_RM_RUNNING, NE_RM_CMD_IN_FLIGHT, NE_RM_POLLER };

static bool use_qmp(void)
{
	const char *v = getenv("NE_REMOVAL_QMP");

	return v && *v && strcmp(v, "0");
}

static int remove_device(const char *bdf)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (use_qmp()) {
		printf("ne-removal: device_del\n");
		fflush(stdout);
	} else {
		int ret = ne_pci_remove(bdf);

		if (ret)
			return ret;
	}
	return ne_wait_path(path, false, 30000) ? 0 : -ETIMEDOUT;
}

static int restore_device(const char *bdf)
{
	unsigned int dom, bus, slot, fn;

	if (use_qmp() && sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) == 4) {
		int tries;

		for (tries = 0; tries < 2; tries++) {
			printf("ne-removal: device_add addr=%#x\n", slot);
			fflush(stdout);
			if (ne_wait_path(NE_DEV_PATH, true, 20000))
				return 0;
		}
	}
	/* sysfs mode, or the hot plug did not probe by itself. */
	return ne_pci_rescan(20000);
}

FIXTURE(removal) {
	struct ne_env env;
	int efd;
	uint64_t uid;
	char bdf[64];
	bool removed;
	/* Set by the waiting thread. */
	int thread_ret;
	uint64_t thread_ms;
};

FIXTURE_VARIANT(removal) {
	enum ne_rm_state state;
};

FIXTURE_VARIANT_ADD(removal, init) { .state = NE_RM_INIT };
FIXTURE_VARIANT_ADD(removal, running) { .state = NE_RM_RUNNING };
FIXTURE_VARIANT_ADD(removal, cmd_in_flight) { .state = NE_RM_CMD_IN_FLIGHT };
FIXTURE_VARIANT_ADD(removal, poller_waiting) { .state = NE_RM_POLLER };

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
		EXPECT_EQ(0, restore_device(self->bdf));
	ne_env_reopen_tb(&self->env);
	ne_env_teardown(_metadata, &self->env);
}

TEST_F_TIMEOUT(removal, remove_then_device_returns, 120)
{
	struct ne_waiter w = { .ret = 1 };
	uint64_t cid = 0, uid, t_removed = 0;
	pthread_t t;
	uint32_t id = 0;
	char *spare;
	int rev, efd2;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, NE_MIN_MEM / SZ_2M + 1);
	spare = ne_map_huge(&self->env.maps, SZ_2M, SZ_2M);
	ASSERT_NE(NULL, spare);
	ne_create_ready(_metadata, &self->env, &self->efd, &self->uid);
	if (variant->state == NE_RM_RUNNING || variant->state == NE_RM_POLLER)
		ASSERT_OK(ne_start(self->efd, 0, &cid));
	if (variant->state == NE_RM_CMD_IN_FLIGHT) {
		/* The start's first command waits for a reply that never comes. */
		ASSERT_EQ(0, ne_env_timeout(&self->env, 30000));
		ne_tb_reply_mode(&self->env.tb, NE_TB_REPLY_DROP, 0);
	}
	/* The BAR mapping must go before the device does. */
	ne_env_close_tb(&self->env);
	if (variant->state == NE_RM_CMD_IN_FLIGHT || variant->state == NE_RM_POLLER) {
		w.fd = self->efd;
		w.how = variant->state == NE_RM_POLLER ? NE_WAIT_POLL : NE_WAIT_START;
		w.timeout_ms = 30000;
		ASSERT_EQ(0, pthread_create(&t, NULL, ne_waiter_thread, &w));
		usleep(1000 * 1000);
		EXPECT_EQ(1, w.ret) TH_LOG("the waiter returned before the removal");
	}

	self->removed = true;
	ASSERT_EQ(0, remove_device(self->bdf));
	t_removed = ne_now_ms();
	EXPECT_TRUE(ne_wait_path(NE_DEV_PATH, false, 5000));

	if (variant->state == NE_RM_CMD_IN_FLIGHT || variant->state == NE_RM_POLLER) {
		pthread_join(t, NULL);
		TH_LOG("waiter returned %d, %llu ms after the removal", w.ret,
		       (unsigned long long)(ne_now_ms() - t_removed));
		if (w.how == NE_WAIT_POLL) {
			EXPECT_EQ(POLLHUP, w.ret & POLLHUP) TH_LOG("revents 0x%x", w.ret);
		} else {
			EXPECT_ERRNO(ENODEV, w.ret);
		}
		/* Woken by the removal, not by a timeout. */
		EXPECT_GT(15000, w.ms);
	}

	/* ioctls: ENODEV; poll: POLLHUP. */
	EXPECT_ERRNO(ENODEV, ne_add_vcpu(self->efd, &id));
	EXPECT_ERRNO(ENODEV, ne_add_mem(self->efd, spare, SZ_2M));
	EXPECT_ERRNO(ENODEV, ne_start(self->efd, 0, NULL));
	rev = ne_poll(self->efd, 1000);
	EXPECT_EQ(POLLHUP, rev & POLLHUP) TH_LOG("revents 0x%x", rev);
	EXPECT_ERRNO(ENODEV, ne_create_vm(self->env.dev, &uid));

	close(self->efd);
	self->efd = -1;
	ne_unmap_all(&self->env.maps);
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
	close(self->env.dev);
	self->env.dev = -1;

	/* The device comes back; a new enclave launches. */
	ASSERT_EQ(0, restore_device(self->bdf));
	ne_env_reopen(_metadata, &self->env);
	efd2 = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, efd2);
	EXPECT_OK(ne_make_ready(&self->env, efd2, NE_MIN_MEM, 2));
	EXPECT_OK(ne_start(efd2, 0, &cid));
	close(efd2);
	ne_unmap_all(&self->env.maps);
}

int main(int argc, char **argv)
{
	return ne_test_main_needs(argc, argv, NE_NEEDS_TB);
}
