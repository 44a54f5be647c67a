// SPDX-License-Identifier: GPL-2.0
/*
 * Device faults through the test-control BAR of the emulated NE device, for
 * every command the driver sends during an enclave's life: the device
 * answers with a failure rc, drops the reply (the driver times out), sends
 * it late (after the timeout) or twice. Plus spurious events and an event
 * storm during launches.
 *
 * After each fault: the ioctl that sent the command returned what
 * Documentation/virt/ne_overview.rst says, the enclave fd still closes,
 * nothing is leaked (hugepages, pool CPUs, the device's slots, vCPUs and
 * memory; see NE_EXPECT_BASELINE) and the next enclave launches normally.
 *
 * Faults after which the device itself keeps a slot (it refused to stop or
 * free one, or allocated one whose reply the driver never took) are marked
 * device_keeps_slot: the host side must still be back, the device must
 * show the extra slot, and the test resets the device (remove + rescan)
 * before the next launch and the device-side baseline check.
 *
 * Needs the test-control BAR (QEMU's test-hooks=on); SKIPs without it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NE_CMD_SLOT_COUNT	8
/* Long enough that a loaded TCG guest's timer does not lag past a late reply. */
#define NE_FAULT_TIMEOUT_MS	1000
#define NE_FAULT_RC		(-E2BIG)

enum ne_fault_mode { NE_FAULT_RC_FAIL, NE_FAULT_DROP, NE_FAULT_LATE, NE_FAULT_TWICE };

/* Arm the fault for the next command of @cmd (rc) or the next reply. */
static void arm(struct ne_test_bar *tb, uint32_t cmd, enum ne_fault_mode mode)
{
	switch (mode) {
	case NE_FAULT_RC_FAIL:
		ne_tb_fail_next(tb, cmd, NE_FAULT_RC);
		break;
	case NE_FAULT_DROP:
		ne_tb_reply_mode(tb, NE_TB_REPLY_DROP, 0);
		break;
	case NE_FAULT_LATE:
		/* Later than the timeout, earlier than timeout + drain. */
		ne_tb_reply_mode(tb, NE_TB_REPLY_LATE, NE_FAULT_TIMEOUT_MS * 3 / 2);
		break;
	case NE_FAULT_TWICE:
		ne_tb_reply_mode(tb, NE_TB_REPLY_TWICE, 50);
		break;
	}
}

/*
 * Let a duplicate reply land before the next command: one that lands
 * while a command waits makes both replies unattributable and that
 * command time out (the protocol has no reply sequence number).
 */
static void settle(bool faulted, enum ne_fault_mode mode)
{
	if (faulted && mode == NE_FAULT_TWICE)
		usleep(500 * 1000);
}

/* What the ioctl that sent the faulty command returns. */
static int expected_ret(enum ne_fault_mode mode)
{
	switch (mode) {
	case NE_FAULT_RC_FAIL:
		return NE_FAULT_RC;
	case NE_FAULT_DROP:
	case NE_FAULT_LATE:
		return -ETIMEDOUT;
	default:
		return 0;
	}
}

/* One normal launch: create, memory, 2 vCPUs, start, close. */
static int launch_once(struct ne_env *env, struct __test_metadata *_metadata)
{
	uint64_t uid = 0, cid = 0;
	int efd, ret;

	efd = ne_create_vm(env->dev, &uid);
	if (efd < 0)
		return efd;
	ret = ne_make_ready(env, efd, NE_MIN_MEM, 2);
	if (!ret)
		ret = ne_start(efd, 0, &cid);
	if (ret)
		TH_LOG("launch: %s", ne_err_name(ret));
	close(efd);
	ne_unmap_all(&env->maps);
	return ret;
}

FIXTURE(fault) {
	struct ne_env env;
	int efd;
	uint64_t uid;
	char bdf[64];
};

FIXTURE_VARIANT(fault) {
	uint32_t cmd;
	enum ne_fault_mode mode;
	bool device_keeps_slot;
};

FIXTURE_VARIANT_ADD(fault, slot_alloc_rc) {
	.cmd = NE_CMD_SLOT_ALLOC, .mode = NE_FAULT_RC_FAIL, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, slot_alloc_drop) {
	.cmd = NE_CMD_SLOT_ALLOC, .mode = NE_FAULT_DROP, .device_keeps_slot = true,
};
FIXTURE_VARIANT_ADD(fault, slot_alloc_late) {
	.cmd = NE_CMD_SLOT_ALLOC, .mode = NE_FAULT_LATE, .device_keeps_slot = true,
};
FIXTURE_VARIANT_ADD(fault, slot_alloc_twice) {
	.cmd = NE_CMD_SLOT_ALLOC, .mode = NE_FAULT_TWICE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, add_vcpu_rc) {
	.cmd = NE_CMD_SLOT_ADD_VCPU, .mode = NE_FAULT_RC_FAIL, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, add_vcpu_drop) {
	.cmd = NE_CMD_SLOT_ADD_VCPU, .mode = NE_FAULT_DROP, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, add_vcpu_late) {
	.cmd = NE_CMD_SLOT_ADD_VCPU, .mode = NE_FAULT_LATE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, add_vcpu_twice) {
	.cmd = NE_CMD_SLOT_ADD_VCPU, .mode = NE_FAULT_TWICE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, add_mem_rc) {
	.cmd = NE_CMD_SLOT_ADD_MEM, .mode = NE_FAULT_RC_FAIL, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, add_mem_drop) {
	.cmd = NE_CMD_SLOT_ADD_MEM, .mode = NE_FAULT_DROP, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, add_mem_late) {
	.cmd = NE_CMD_SLOT_ADD_MEM, .mode = NE_FAULT_LATE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, add_mem_twice) {
	.cmd = NE_CMD_SLOT_ADD_MEM, .mode = NE_FAULT_TWICE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, start_rc) {
	.cmd = NE_CMD_ENCLAVE_START, .mode = NE_FAULT_RC_FAIL, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, start_drop) {
	.cmd = NE_CMD_ENCLAVE_START, .mode = NE_FAULT_DROP, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, start_late) {
	.cmd = NE_CMD_ENCLAVE_START, .mode = NE_FAULT_LATE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, start_twice) {
	.cmd = NE_CMD_ENCLAVE_START, .mode = NE_FAULT_TWICE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, slot_info_rc) {
	.cmd = NE_CMD_SLOT_INFO, .mode = NE_FAULT_RC_FAIL, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, slot_info_drop) {
	.cmd = NE_CMD_SLOT_INFO, .mode = NE_FAULT_DROP, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, slot_info_late) {
	.cmd = NE_CMD_SLOT_INFO, .mode = NE_FAULT_LATE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, slot_info_twice) {
	.cmd = NE_CMD_SLOT_INFO, .mode = NE_FAULT_TWICE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, stop_rc) {
	.cmd = NE_CMD_ENCLAVE_STOP, .mode = NE_FAULT_RC_FAIL, .device_keeps_slot = true,
};
FIXTURE_VARIANT_ADD(fault, stop_drop) {
	.cmd = NE_CMD_ENCLAVE_STOP, .mode = NE_FAULT_DROP, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, stop_late) {
	.cmd = NE_CMD_ENCLAVE_STOP, .mode = NE_FAULT_LATE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, stop_twice) {
	.cmd = NE_CMD_ENCLAVE_STOP, .mode = NE_FAULT_TWICE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, slot_free_rc) {
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_RC_FAIL, .device_keeps_slot = true,
};
FIXTURE_VARIANT_ADD(fault, slot_free_drop) {
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_DROP, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, slot_free_late) {
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_LATE, .device_keeps_slot = false,
};
FIXTURE_VARIANT_ADD(fault, slot_free_twice) {
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_TWICE, .device_keeps_slot = false,
};

FIXTURE_SETUP(fault)
{
	self->efd = -1;
	ne_env_setup_pci(_metadata, &self->env, self->bdf, sizeof(self->bdf));
	if (self->env.have_tb)
		ASSERT_EQ(0, ne_env_timeout(&self->env, NE_FAULT_TIMEOUT_MS));
}

FIXTURE_TEARDOWN(fault)
{
	if (self->efd >= 0)
		close(self->efd);
	ne_env_teardown(_metadata, &self->env);
}

/* Commands of type @cmd the device has received. */
static uint32_t cmd_count(struct ne_test_bar *tb, uint32_t cmd)
{
	return ne_tb_read32(tb, NE_TB_CMD_COUNT + 4 * cmd);
}

TEST_F_TIMEOUT(fault, launch_with_fault_then_launch_again, 90)
{
	struct ne_test_bar *tb = &self->env.tb;
	int want = expected_ret(variant->mode);
	uint64_t cid = 0;
	uint32_t before, after;
	void *mem;
	int ret;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, 2 * NE_MIN_MEM / SZ_2M);
	if (ne_timeout_get() < 0)
		SKIP(return, "no cmd_timeout_ms parameter");

	/* SLOT_ALLOC: NE_CREATE_VM. */
	if (variant->cmd == NE_CMD_SLOT_ALLOC)
		arm(tb, variant->cmd, variant->mode);
	before = cmd_count(tb, NE_CMD_SLOT_ALLOC);
	ret = ne_create_vm(self->env.dev, &self->uid);
	settle(variant->cmd == NE_CMD_SLOT_ALLOC, variant->mode);
	if (variant->cmd == NE_CMD_SLOT_ALLOC) {
		EXPECT_EQ(before + 1, cmd_count(tb, NE_CMD_SLOT_ALLOC));
		if (want) {
			EXPECT_EQ(want, ret < 0 ? ret : 0)
				TH_LOG("create: %s", ne_err_name(ret));
			if (ret >= 0)
				close(ret);
			goto next;
		}
	}
	ASSERT_LE(0, ret) TH_LOG("create: %s", ne_err_name(ret));
	self->efd = ret;

	/* SLOT_ADD_VCPU: NE_ADD_VCPU, the first of the two. */
	if (variant->cmd == NE_CMD_SLOT_ADD_VCPU)
		arm(tb, variant->cmd, variant->mode);
	ret = ne_add_vcpu_id(self->efd, self->env.pool[0]);
	settle(variant->cmd == NE_CMD_SLOT_ADD_VCPU, variant->mode);
	if (variant->cmd == NE_CMD_SLOT_ADD_VCPU) {
		EXPECT_EQ(want, ret) TH_LOG("add vcpu: %s", ne_err_name(ret));
		/* After a timeout the device holds the vCPU; either way close. */
		goto close_fd;
	}
	ASSERT_OK(ret);
	ASSERT_OK(ne_add_vcpu_id(self->efd, self->env.pool[1]));

	/*
	 * SLOT_ADD_MEM: sent at registration or at start (the driver may
	 * defer it). The next reply is the first SLOT_ADD_MEM's either way.
	 */
	mem = ne_map_huge(&self->env.maps, NE_MIN_MEM, SZ_2M);
	ASSERT_NE(NULL, mem);
	if (variant->cmd == NE_CMD_SLOT_ADD_MEM)
		arm(tb, variant->cmd, variant->mode);
	before = cmd_count(tb, NE_CMD_SLOT_ADD_MEM);
	ret = ne_add_mem(self->efd, mem, NE_MIN_MEM);
	if (variant->cmd == NE_CMD_SLOT_ADD_MEM && (ret || cmd_count(tb, NE_CMD_SLOT_ADD_MEM) != before)) {
		EXPECT_EQ(want, ret) TH_LOG("add mem: %s", ne_err_name(ret));
		goto close_fd;
	}
	ASSERT_OK(ret);
	if (variant->cmd == NE_CMD_ENCLAVE_START) {
		/*
		 * The reply hooks act on the next reply, whatever its
		 * command: with memory deferred to the start, that is
		 * SLOT_ADD_MEM's, not ENCLAVE_START's.
		 */
		if (variant->mode != NE_FAULT_RC_FAIL &&
		    cmd_count(tb, NE_CMD_SLOT_ADD_MEM) == before)
			SKIP(goto close_fd, "memory is sent at start: the reply hooks cannot single out ENCLAVE_START");
		arm(tb, variant->cmd, variant->mode);
	}
	ret = ne_start(self->efd, 0, &cid);
	if (variant->cmd == NE_CMD_SLOT_ADD_MEM || variant->cmd == NE_CMD_ENCLAVE_START) {
		/*
		 * A duplicate SLOT_ADD_MEM reply may land while the start's
		 * next command waits: then neither reply can be attributed
		 * and that command times out (a documented limit of the
		 * protocol, which has no reply sequence number).
		 */
		if (variant->mode == NE_FAULT_TWICE && ret == -ETIMEDOUT)
			TH_LOG("duplicate reply hit the next command's window: ETIMEDOUT");
		else
			EXPECT_EQ(want, ret) TH_LOG("start: %s", ne_err_name(ret));
		goto close_fd;
	}
	ASSERT_OK(ret);

	if (variant->cmd == NE_CMD_SLOT_INFO) {
		/*
		 * The event worker asks SLOT_INFO about running enclaves. If
		 * the query fails (rc, no reply, a late one), the worker asks
		 * again 100 ms later, then 200 ms, ...: the exit is still seen.
		 */
		arm(tb, variant->cmd, variant->mode);
		before = cmd_count(tb, NE_CMD_SLOT_INFO);
		EXPECT_EQ(0, ne_tb_exit_slot(tb, self->uid));
		ret = ne_poll(self->efd, 3 * NE_FAULT_TIMEOUT_MS + 5000);
		EXPECT_LT(0, ret) TH_LOG("poll after exit: %d", ret);
		after = cmd_count(tb, NE_CMD_SLOT_INFO);
		if (variant->mode == NE_FAULT_TWICE) {
			EXPECT_EQ(before + 1, after);
		} else {
			EXPECT_LE(before + 2, after)
				TH_LOG("no SLOT_INFO retry (%u -> %u)", before, after);
		}
		goto close_fd;
	}

	/* ENCLAVE_STOP and SLOT_FREE: sent by the release of a running enclave. */
	if (variant->cmd != NE_CMD_ENCLAVE_STOP && variant->cmd != NE_CMD_SLOT_FREE)
		goto close_fd;
	arm(tb, variant->cmd, variant->mode);
	before = cmd_count(tb, variant->cmd);
	close(self->efd);
	self->efd = -1;
	EXPECT_EQ(before + 1, cmd_count(tb, variant->cmd))
		TH_LOG("release did not send the command");
	goto next;

close_fd:
	close(self->efd);
	self->efd = -1;
next:
	ne_unmap_all(&self->env.maps);
	/* Make sure a late or second reply has come before going on. */
	if (variant->mode != NE_FAULT_RC_FAIL)
		usleep(2 * NE_FAULT_TIMEOUT_MS * 1000);
	/* Nothing armed stays behind for the next launch. */
	EXPECT_EQ(0, ne_tb_read32(tb, NE_TB_FAIL_CMD));
	ne_tb_fail_next(tb, 0, 0);
	ne_tb_reply_mode(tb, NE_TB_REPLY_NORMAL, 0);
	/* Host side is back even when the device keeps a slot. */
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
	if (variant->device_keeps_slot) {
		/*
		 * The kept slot holds the vCPU ids the next launch wants:
		 * reset the device (remove + rescan), then reopen it.
		 */
		EXPECT_NE(self->env.base.tb.live_slots,
			  ne_tb_read32(tb, NE_TB_LIVE_SLOTS));
		ne_env_close_tb(&self->env);
		close(self->env.dev);
		ASSERT_EQ(0, ne_reset_device(self->bdf, 5000));
		self->env.have_tb = ne_tb_open(&self->env.tb) == 0;
		ASSERT_TRUE(self->env.have_tb);
		self->env.dev = open(NE_DEV_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, self->env.dev);
	}
	EXPECT_EQ(0, launch_once(&self->env, _metadata));
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
}

/* Spurious events and an event storm (>= 10k) while enclaves launch. */
FIXTURE(events) {
	struct ne_env env;
};

FIXTURE_SETUP(events)
{
	ASSERT_EQ(0, ne_env_setup(&self->env));
}

FIXTURE_TEARDOWN(events)
{
	ne_env_teardown(_metadata, &self->env);
}

TEST_F(events, spurious_events_do_not_wake_or_change_an_enclave)
{
	uint64_t uid = 0, cid = 0;
	int efd, efd2;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, NE_MIN_MEM / SZ_2M);
	/* One enclave in INIT, one RUNNING: neither reports an event. */
	efd = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, efd);
	ne_create_ready(_metadata, &self->env, &efd2, &uid);
	ASSERT_OK(ne_start(efd2, 0, &cid));
	EXPECT_EQ(0, ne_tb_raise_events(&self->env.tb, 100));
	EXPECT_EQ(0, ne_poll(efd, 500));
	EXPECT_EQ(0, ne_poll(efd2, 500));
	/* The enclave still works: a real exit is seen. */
	EXPECT_EQ(0, ne_tb_exit_slot(&self->env.tb, uid));
	EXPECT_LT(0, ne_poll(efd2, 5000));
	close(efd);
	close(efd2);
	ne_unmap_all(&self->env.maps);
}

struct storm {
	struct ne_test_bar *tb;
	bool stop;		/* __atomic */
	unsigned long raised;
};

static void *storm_thread(void *arg)
{
	struct storm *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		if (ne_tb_raise_events(s->tb, 500))
			break;
		s->raised += 500;
		usleep(1000);
	}
	return NULL;
}

TEST_F_TIMEOUT(events, storm_during_launches, 180)
{
	struct storm s = { .tb = &self->env.tb };
	uint32_t events_before;
	pthread_t t;
	int i, failed = 0;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, NE_MIN_MEM / SZ_2M);
	events_before = ne_tb_read32(&self->env.tb, NE_TB_EVENT_COUNT);
	ASSERT_EQ(0, pthread_create(&t, NULL, storm_thread, &s));
	/* Launch until both >= 10 launches and >= 10000 events happened. */
	for (i = 0; i < 200 && (i < 10 || s.raised < 10000); i++) {
		if (launch_once(&self->env, _metadata))
			failed++;
	}
	__atomic_store_n(&s.stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	TH_LOG("%d launches, %lu events raised, device counted %u",
	       i, s.raised,
	       ne_tb_read32(&self->env.tb, NE_TB_EVENT_COUNT) - events_before);
	EXPECT_EQ(0, failed);
	EXPECT_LE(10000, s.raised);
	/* After the storm a launch is still normal. */
	EXPECT_EQ(0, launch_once(&self->env, _metadata));
}

int main(int argc, char **argv)
{
	return ne_test_main(argc, argv);
}
