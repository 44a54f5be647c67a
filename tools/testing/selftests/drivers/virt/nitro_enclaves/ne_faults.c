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
 * Faults after which the device itself keeps a slot (it allocated one whose
 * reply the driver never took) are marked device_keeps_slot: the host side
 * must still be back, the device must show the extra slot, and the test
 * resets the device (remove + rescan) before the next launch and the
 * device-side baseline check.
 *
 * Faults after which the driver cannot know that the device freed the slot
 * (ENCLAVE_STOP or SLOT_FREE refused, SLOT_FREE's reply lost or late) are
 * marked quarantined: after close, the enclave's hugepages must still be
 * pinned and its core out of the pool (quarantined_slots 1), and they must
 * come back once a device event makes the driver ask again and the device
 * confirms.
 *
 * Variants with uid_zero run with the device's err-uid-zero hook on: its
 * failed replies carry slot uid 0, as a real device may send them. The
 * faulted call must still return the device's error, and quickly. The
 * reply hooks are aimed at the faulted command's type (NE_TB_REPLY_CMD).
 *
 * Needs the test-control BAR (QEMU's test-hooks=on); SKIPs without it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NE_CMD_SLOT_COUNT	8
/* Long enough that a loaded TCG guest's timer does not lag past a late reply. */
#define NE_FAULT_TIMEOUT_MS	1000
#define NE_FAULT_RC		(-E2BIG)
/* A refusal must be seen well within the timeout. */
#define NE_FAULT_FAST_MS	(NE_FAULT_TIMEOUT_MS / 2)
/* An rc below -MAX_ERRNO (4095), which must reach user space as EIO. */
#define NE_FAULT_RC_NOT_ERRNO	(-5000)

enum ne_fault_mode { NE_FAULT_RC_FAIL, NE_FAULT_DROP, NE_FAULT_LATE, NE_FAULT_TWICE };

/* Arm the fault for the next command of @cmd, or for its reply. */
static void arm(struct ne_test_bar *tb, uint32_t cmd, enum ne_fault_mode mode,
		int32_t rc)
{
	switch (mode) {
	case NE_FAULT_RC_FAIL:
		ne_tb_fail_next(tb, cmd, rc ? rc : NE_FAULT_RC);
		break;
	case NE_FAULT_DROP:
		ne_tb_reply_mode_cmd(tb, cmd, NE_TB_REPLY_DROP, 0);
		break;
	case NE_FAULT_LATE:
		/* Later than the timeout, earlier than timeout + drain. */
		ne_tb_reply_mode_cmd(tb, cmd, NE_TB_REPLY_LATE,
				     NE_FAULT_TIMEOUT_MS * 3 / 2);
		break;
	case NE_FAULT_TWICE:
		ne_tb_reply_mode_cmd(tb, cmd, NE_TB_REPLY_TWICE, 50);
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
static int expected_ret(enum ne_fault_mode mode, int32_t rc)
{
	switch (mode) {
	case NE_FAULT_RC_FAIL:
		if (rc == NE_FAULT_RC_NOT_ERRNO)
			return -EIO;
		return rc ? rc : NE_FAULT_RC;
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
	int32_t rc;		/* NE_FAULT_RC_FAIL: injected rc, 0: NE_FAULT_RC */
	bool uid_zero;		/* failed replies carry slot uid 0 */
	bool quarantined;	/* release cannot confirm the free */
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
	.cmd = NE_CMD_ENCLAVE_STOP, .mode = NE_FAULT_RC_FAIL, .quarantined = true,
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
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_RC_FAIL, .quarantined = true,
};
FIXTURE_VARIANT_ADD(fault, slot_free_drop) {
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_DROP, .quarantined = true,
};
FIXTURE_VARIANT_ADD(fault, slot_free_late) {
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_LATE, .quarantined = true,
};
FIXTURE_VARIANT_ADD(fault, slot_free_twice) {
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_TWICE, .device_keeps_slot = false,
};

FIXTURE_VARIANT_ADD(fault, add_vcpu_rc_not_errno) {
	.cmd = NE_CMD_SLOT_ADD_VCPU, .mode = NE_FAULT_RC_FAIL,
	.rc = NE_FAULT_RC_NOT_ERRNO,
};
FIXTURE_VARIANT_ADD(fault, add_vcpu_rc_uid0) {
	.cmd = NE_CMD_SLOT_ADD_VCPU, .mode = NE_FAULT_RC_FAIL, .uid_zero = true,
};
FIXTURE_VARIANT_ADD(fault, add_mem_rc_uid0) {
	.cmd = NE_CMD_SLOT_ADD_MEM, .mode = NE_FAULT_RC_FAIL, .uid_zero = true,
};
FIXTURE_VARIANT_ADD(fault, start_rc_uid0) {
	.cmd = NE_CMD_ENCLAVE_START, .mode = NE_FAULT_RC_FAIL, .uid_zero = true,
};
FIXTURE_VARIANT_ADD(fault, slot_info_rc_uid0) {
	.cmd = NE_CMD_SLOT_INFO, .mode = NE_FAULT_RC_FAIL, .uid_zero = true,
};
FIXTURE_VARIANT_ADD(fault, stop_rc_uid0) {
	.cmd = NE_CMD_ENCLAVE_STOP, .mode = NE_FAULT_RC_FAIL, .uid_zero = true,
	.quarantined = true,
};
FIXTURE_VARIANT_ADD(fault, slot_free_rc_uid0) {
	.cmd = NE_CMD_SLOT_FREE, .mode = NE_FAULT_RC_FAIL, .uid_zero = true,
	.quarantined = true,
};

FIXTURE_SETUP(fault)
{
	self->efd = -1;
	ne_env_setup_pci(_metadata, &self->env, self->bdf, sizeof(self->bdf));
	if (self->env.have_tb) {
		ASSERT_EQ(0, ne_env_timeout(&self->env, NE_FAULT_TIMEOUT_MS));
		ne_tb_err_uid_zero(&self->env.tb, variant->uid_zero);
	}
}

FIXTURE_TEARDOWN(fault)
{
	if (self->efd >= 0)
		close(self->efd);
	if (self->env.have_tb)
		ne_tb_err_uid_zero(&self->env.tb, false);
	EXPECT_EQ(0, ne_attr_long("quarantined_slots"));
	ne_env_teardown(_metadata, &self->env);
}

/*
 * The hugepages and the core of a quarantined enclave stay taken after
 * close; a device event makes the driver ask again, and once the device
 * confirms, both come back.
 */
static void check_quarantine(struct __test_metadata *_metadata,
			     FIXTURE_DATA(fault) *self)
{
	long held = NE_MIN_MEM / SZ_2M;

	EXPECT_EQ(1, ne_attr_long("quarantined_slots"));
	EXPECT_EQ(self->env.base.hp2m_free - held, ne_hp_free(SZ_2M))
		TH_LOG("the quarantined enclave's hugepages were given back");
	EXPECT_EQ(self->env.base.free_cores - 1, ne_attr_long("pool_free_cores"))
		TH_LOG("the quarantined enclave's core went back to the pool");

	EXPECT_EQ(0, ne_tb_raise_events(&self->env.tb, 1));
	EXPECT_TRUE(ne_wait_attr("quarantined_slots", 0,
				 3 * NE_FAULT_TIMEOUT_MS + 5000))
		TH_LOG("still quarantined after a device event");
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
	EXPECT_EQ(self->env.base.free_cores, ne_attr_long("pool_free_cores"));
}

/* Commands of type @cmd the device has received. */
static uint32_t cmd_count(struct ne_test_bar *tb, uint32_t cmd)
{
	return ne_tb_read32(tb, NE_TB_CMD_COUNT + 4 * cmd);
}

TEST_F_TIMEOUT(fault, launch_with_fault_then_launch_again, 90)
{
	struct ne_test_bar *tb = &self->env.tb;
	int want = expected_ret(variant->mode, variant->rc);
	bool fast = variant->mode == NE_FAULT_RC_FAIL;
	uint64_t cid = 0, t0;
	uint32_t before, after;
	void *mem;
	int ret;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, 2 * NE_MIN_MEM / SZ_2M);
	if (ne_timeout_get() < 0)
		SKIP(return, "no debugfs cmd_timeout_ms knob");

	/* SLOT_ALLOC: NE_CREATE_VM. */
	if (variant->cmd == NE_CMD_SLOT_ALLOC)
		arm(tb, variant->cmd, variant->mode, variant->rc);
	before = cmd_count(tb, NE_CMD_SLOT_ALLOC);
	t0 = ne_now_ms();
	ret = ne_create_vm(self->env.dev, &self->uid);
	settle(variant->cmd == NE_CMD_SLOT_ALLOC, variant->mode);
	if (variant->cmd == NE_CMD_SLOT_ALLOC) {
		EXPECT_EQ(before + 1, cmd_count(tb, NE_CMD_SLOT_ALLOC));
		if (fast)
			EXPECT_GT(NE_FAULT_FAST_MS, ne_now_ms() - t0);
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
		arm(tb, variant->cmd, variant->mode, variant->rc);
	t0 = ne_now_ms();
	ret = ne_add_vcpu_id(self->efd, self->env.pool[0]);
	settle(variant->cmd == NE_CMD_SLOT_ADD_VCPU, variant->mode);
	if (variant->cmd == NE_CMD_SLOT_ADD_VCPU) {
		EXPECT_EQ(want, ret) TH_LOG("add vcpu: %s", ne_err_name(ret));
		if (fast) {
			TH_LOG("refused NE_ADD_VCPU took %llu ms",
			       (unsigned long long)(ne_now_ms() - t0));
			EXPECT_GT(100, ne_now_ms() - t0);
		}
		/*
		 * A refused vCPU's core goes back to the pool at once; after a
		 * timeout the device may hold the vCPU, so it stays until close.
		 */
		if (ret)
			EXPECT_EQ(self->env.base.free_cores - (fast ? 0 : 1),
				  ne_attr_long("pool_free_cores"));
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
		arm(tb, variant->cmd, variant->mode, variant->rc);
	before = cmd_count(tb, NE_CMD_SLOT_ADD_MEM);
	ret = ne_add_mem(self->efd, mem, NE_MIN_MEM);
	if (variant->cmd == NE_CMD_SLOT_ADD_MEM && (ret || cmd_count(tb, NE_CMD_SLOT_ADD_MEM) != before)) {
		EXPECT_EQ(want, ret) TH_LOG("add mem: %s", ne_err_name(ret));
		goto close_fd;
	}
	ASSERT_OK(ret);
	/* The reply hooks are aimed at ENCLAVE_START, past the SLOT_ADD_MEMs. */
	if (variant->cmd == NE_CMD_ENCLAVE_START)
		arm(tb, variant->cmd, variant->mode, variant->rc);
	t0 = ne_now_ms();
	ret = ne_start(self->efd, 0, &cid);
	if (fast && (variant->cmd == NE_CMD_SLOT_ADD_MEM ||
		     variant->cmd == NE_CMD_ENCLAVE_START))
		EXPECT_GT(NE_FAULT_FAST_MS, ne_now_ms() - t0);
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
		arm(tb, variant->cmd, variant->mode, variant->rc);
		before = cmd_count(tb, NE_CMD_SLOT_INFO);
		EXPECT_EQ(0, ne_tb_exit_slot(tb, self->uid));
		t0 = ne_now_ms();
		ret = ne_poll(self->efd, 3 * NE_FAULT_TIMEOUT_MS + 5000);
		EXPECT_LT(0, ret) TH_LOG("poll after exit: %d", ret);
		/* Refused, then asked again 100 ms later: not a timeout. */
		if (fast)
			EXPECT_GT(NE_FAULT_TIMEOUT_MS, ne_now_ms() - t0);
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
	arm(tb, variant->cmd, variant->mode, variant->rc);
	before = cmd_count(tb, variant->cmd);
	t0 = ne_now_ms();
	close(self->efd);
	self->efd = -1;
	if (fast)
		EXPECT_GT(NE_FAULT_FAST_MS, ne_now_ms() - t0);
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
	EXPECT_EQ(NE_TB_REPLY_NORMAL, ne_tb_read32(tb, NE_TB_REPLY_MODE));
	ne_tb_fail_next(tb, 0, 0);
	ne_tb_reply_mode_cmd(tb, 0, NE_TB_REPLY_NORMAL, 0);
	if (variant->quarantined)
		check_quarantine(_metadata, self);
	else
		EXPECT_EQ(0, ne_attr_long("quarantined_slots"));
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

/*
 * A quarantined enclave pins its module; a device reset that the device
 * confirms (remove + rescan) gives its memory and core back.
 */
FIXTURE(quarantine) {
	struct ne_env env;
	char bdf[64];
};

FIXTURE_SETUP(quarantine)
{
	ne_env_setup_pci(_metadata, &self->env, self->bdf, sizeof(self->bdf));
}

FIXTURE_TEARDOWN(quarantine)
{
	ne_env_teardown(_metadata, &self->env);
}

#define NE_MODULE_REFCNT	"/sys/module/nitro_enclaves/refcnt"

TEST_F_TIMEOUT(quarantine, released_by_confirmed_device_reset, 90)
{
	long refcnt;
	uint64_t uid = 0, cid = 0;
	int efd;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, NE_MIN_MEM / SZ_2M);
	refcnt = ne_read_long(NE_MODULE_REFCNT);
	ASSERT_LE(0, refcnt);

	ne_create_ready(_metadata, &self->env, &efd, &uid);
	ASSERT_OK(ne_start(efd, 0, &cid));
	ne_tb_fail_next(&self->env.tb, NE_CMD_SLOT_FREE, -EIO);
	close(efd);
	ne_unmap_all(&self->env.maps);

	EXPECT_EQ(1, ne_attr_long("quarantined_slots"));
	EXPECT_EQ(self->env.base.hp2m_free - (long)(NE_MIN_MEM / SZ_2M),
		  ne_hp_free(SZ_2M));
	EXPECT_EQ(self->env.base.free_cores - 1, ne_attr_long("pool_free_cores"));
	/* rmmod must fail while the module holds quarantined resources. */
	EXPECT_EQ(refcnt + 1, ne_read_long(NE_MODULE_REFCNT));

	/* No device event in between: only the reset gives them back. */
	ne_env_close_tb(&self->env);
	close(self->env.dev);
	self->env.dev = -1;
	ASSERT_EQ(0, ne_reset_device(self->bdf, 5000));
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
	ne_env_reopen(_metadata, &self->env);
	/* The same files are open as at the start: the same references. */
	EXPECT_EQ(refcnt, ne_read_long(NE_MODULE_REFCNT));
	EXPECT_EQ(0, ne_attr_long("quarantined_slots"));
	EXPECT_EQ(self->env.base.free_cores, ne_attr_long("pool_free_cores"));
}

/*
 * Nothing one launcher does holds up another enclave, or poll(): neither
 * a command the device is slow to answer, nor pinning memory that a
 * userfaultfd handler never supplies.
 */
FIXTURE(stall) {
	struct ne_env env;
};

FIXTURE_SETUP(stall)
{
	ASSERT_EQ(0, ne_env_setup(&self->env));
	if (self->env.have_tb)
		ASSERT_EQ(0, ne_env_timeout(&self->env, 5000));
}

FIXTURE_TEARDOWN(stall)
{
	if (self->env.have_tb)
		ne_tb_reply_mode_cmd(&self->env.tb, 0, NE_TB_REPLY_NORMAL, 0);
	ne_env_teardown(_metadata, &self->env);
}

TEST_F_TIMEOUT(stall, poll_beside_slow_command, 60)
{
	struct ne_vcpu_adder a = { .cpu = (uint32_t)self->env.pool[0] };
	uint64_t uid = 0, t0, ms;
	pthread_t t;
	int ret;

	NE_NEED_TB(&self->env);
	a.efd = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, a.efd);

	/* SLOT_ADD_VCPU answered after 2 s, within the 5 s timeout. */
	ne_tb_reply_mode_cmd(&self->env.tb, NE_CMD_SLOT_ADD_VCPU,
			     NE_TB_REPLY_LATE, 2000);
	ASSERT_EQ(0, pthread_create(&t, NULL, ne_add_vcpu_thread, &a));
	usleep(300 * 1000);
	t0 = ne_now_ms();
	ret = ne_poll(a.efd, 100);
	ms = ne_now_ms() - t0;
	TH_LOG("poll(100 ms) beside a 2 s command took %llu ms",
	       (unsigned long long)ms);
	EXPECT_EQ(0, ret);
	EXPECT_GT(200, ms);
	pthread_join(t, NULL);
	EXPECT_EQ(0, a.ret) TH_LOG("add vcpu: %s", ne_err_name(a.ret));
	close(a.efd);
}

struct stalled_pin {
	int efd;
	void *addr;
	size_t len;
	int ret;		/* 1 while pinning, then its result (__atomic) */
};

static void *stalled_pin_thread(void *p)
{
	struct stalled_pin *sp = p;

	__atomic_store_n(&sp->ret, ne_add_mem(sp->efd, sp->addr, sp->len),
			 __ATOMIC_RELAXED);
	return NULL;
}

/* Start pinning @sp in @t; wait a little. Return: whether it still runs. */
static bool pin_stalls(struct stalled_pin *sp, pthread_t *t)
{
	__atomic_store_n(&sp->ret, 1, __ATOMIC_RELAXED);
	if (pthread_create(t, NULL, stalled_pin_thread, sp))
		return false;
	usleep(200 * 1000);
	return __atomic_load_n(&sp->ret, __ATOMIC_RELAXED) == 1;
}

/*
 * An enclave exits while a newer one (first in the device's list) is stuck
 * pinning memory under its lock: a userfaultfd-registered region that no
 * handler supplies where the kernel waits for it (6.1 fails a long-term
 * pin of such memory at once), else 1 GiB of hugepages never touched,
 * which the pin faults in and zeroes.
 */
TEST_F_TIMEOUT(stall, exit_seen_beside_stalled_pin, 120)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct stalled_pin sp = { .len = NE_MIN_MEM };
	uint64_t uid = 0, uid2 = 0, cid = 0, t0, ms;
	const char *how = "userfaultfd";
	int efd, uffd, ret;
	bool pinning;
	pthread_t t;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, (NE_MIN_MEM + SZ_1G) / SZ_2M);
	/* The running enclave takes a core; the stalled one needs another. */
	if (self->env.base.free_cores < 2)
		SKIP(return, "needs two free pool cores, %ld free",
		     self->env.base.free_cores);

	/* A running enclave, whose exit is to be seen... */
	ne_create_ready(_metadata, &self->env, &efd, &uid);
	ASSERT_OK(ne_start(efd, 0, &cid));

	/* ...beside a newer one stuck pinning memory. */
	sp.efd = ne_create_vm(self->env.dev, &uid2);
	ASSERT_LE(0, sp.efd);
	sp.addr = ne_map_huge(&self->env.maps, sp.len, SZ_2M);
	ASSERT_NE(NULL, sp.addr);
	uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
	reg.range.start = (uintptr_t)sp.addr;
	reg.range.len = sp.len;
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    ioctl(uffd, UFFDIO_REGISTER, &reg) || !pin_stalls(&sp, &t)) {
		if (uffd >= 0) {
			if (__atomic_load_n(&sp.ret, __ATOMIC_RELAXED) != 1)
				pthread_join(t, NULL);
			close(uffd);
			uffd = -1;
		}
		/* Refused and nothing kept: the enclave takes another region. */
		how = "fresh hugepages";
		sp.len = SZ_1G;
		sp.addr = ne_map_huge(&self->env.maps, sp.len, SZ_2M);
		ASSERT_NE(NULL, sp.addr);
		if (!pin_stalls(&sp, &t)) {
			pthread_join(t, NULL);
			SKIP(goto out, "pinning 1 GiB took less than 200 ms");
		}
	}

	EXPECT_EQ(0, ne_tb_exit_slot(&self->env.tb, uid));
	t0 = ne_now_ms();
	ret = ne_poll(efd, 5000);
	ms = ne_now_ms() - t0;
	pinning = __atomic_load_n(&sp.ret, __ATOMIC_RELAXED) == 1;
	TH_LOG("EPOLLHUP beside a pin stalled by %s took %llu ms%s", how,
	       (unsigned long long)ms, pinning ? ", the pin still running" : "");
	EXPECT_LT(0, ret);
	EXPECT_GT(1000, ms);
	/* Seen while the other enclave's lock was still held. */
	EXPECT_TRUE(pinning);

	/*
	 * Closing the userfaultfd ends the stall (the fault is retried
	 * without it). Either way the pin's result does not matter here:
	 * 1 GiB of scattered pages may exceed the device's range limit.
	 */
	if (uffd >= 0) {
		close(uffd);
		uffd = -1;
	}
	pthread_join(t, NULL);
out:
	close(sp.efd);
	close(efd);
	ne_unmap_all(&self->env.maps);
}

/*
 * After a command timed out, the next one waits for its late reply (up
 * to one more timeout) before it uses the mailbox; a killed caller does
 * not. The child passes its enclave fd to the parent, so that its exit
 * does not release the enclave (which must wait for the mailbox).
 */
TEST_F_TIMEOUT(stall, killed_waiting_for_owed_reply, 60)
{
	uint64_t uid = 0, t0, ms;
	int sv[2], efd0, efd1, status;
	char go = 1;
	pid_t pid;

	NE_NEED_TB(&self->env);
	/* The parent's timed-out vCPU keeps its core; the child needs one. */
	if (self->env.base.free_cores < 2)
		SKIP(return, "needs two free pool cores, %ld free",
		     self->env.base.free_cores);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	efd0 = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, efd0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(sv[0]);
		efd1 = ne_create_vm(self->env.dev, &uid);
		if (efd1 < 0 || ne_send_fd(sv[1], efd1) || read(sv[1], &go, 1) != 1)
			_exit(1);
		ne_add_vcpu_id(efd1, 0);
		_exit(0);
	}
	close(sv[1]);
	efd1 = ne_recv_fd(sv[0]);
	ASSERT_LE(0, efd1);

	/* A lost reply: ETIMEDOUT after 5 s, and owed for up to 5 s more. */
	ne_tb_reply_mode_cmd(&self->env.tb, NE_CMD_SLOT_ADD_VCPU,
			     NE_TB_REPLY_DROP, 0);
	EXPECT_ERRNO(ETIMEDOUT, ne_add_vcpu_id(efd0, self->env.pool[0]));
	ASSERT_EQ(1, write(sv[0], &go, 1));
	usleep(300 * 1000);
	t0 = ne_now_ms();
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ms = ne_now_ms() - t0;
	TH_LOG("killed %llu ms after SIGKILL", (unsigned long long)ms);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_GT(1000, ms);
	close(sv[0]);
	close(efd1);
	close(efd0);
}

/*
 * A killed launcher does not wait behind a slow device command: a call
 * queued behind one (on the same enclave's lock, or on the device's
 * mailbox for another enclave) ends at once on SIGKILL. The child's
 * thread A waits 2.5 s for SLOT_ADD_VCPU's reply; its thread B calls in
 * behind it and reports its tid. After the kill, B must be gone while
 * A still waits for the device.
 */
struct killed_child {
	int efd_a, efd_b;
	uint32_t cpu_a, cpu_b;
	int pipe_w;
};

static void *killed_child_a(void *p)
{
	struct killed_child *k = p;

	ne_add_vcpu_id(k->efd_a, k->cpu_a);
	return NULL;
}

static void *killed_child_b(void *p)
{
	struct killed_child *k = p;
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (write(k->pipe_w, &tid, sizeof(tid)) != sizeof(tid))
		return NULL;
	ne_add_vcpu_id(k->efd_b, k->cpu_b);
	return NULL;
}

/* State letter of a thread in /proc, 0 if it is gone. */
static char thread_state(pid_t pid, pid_t tid)
{
	char path[64], buf[256], *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	if (ne_read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

static void killed_behind_slow_command(struct __test_metadata *_metadata,
				       struct ne_env *env, bool same_enclave)
{
	struct killed_child k = { .cpu_a = (uint32_t)env->pool[0] };
	uint64_t uid = 0, t0;
	pthread_t ta, tb;
	int fds[2], status;
	pid_t pid, tid = 0;
	char state;

	NE_NEED_TB(env);
	if (!same_enclave && env->base.free_cores < 2)
		SKIP(return, "needs two free pool cores, %ld free",
		     env->base.free_cores);
	ASSERT_EQ(0, pipe(fds));
	ne_tb_reply_mode_cmd(&env->tb, NE_CMD_SLOT_ADD_VCPU, NE_TB_REPLY_LATE,
			     2500);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(fds[0]);
		k.pipe_w = fds[1];
		k.efd_a = ne_create_vm(env->dev, &uid);
		k.efd_b = same_enclave ? k.efd_a : ne_create_vm(env->dev, &uid);
		/* B: the spare thread of A's core, or any free core. */
		k.cpu_b = same_enclave ? (uint32_t)env->pool[1] : 0;
		if (k.efd_a < 0 || k.efd_b < 0)
			_exit(1);
		if (pthread_create(&ta, NULL, killed_child_a, &k))
			_exit(1);
		usleep(300 * 1000);
		if (pthread_create(&tb, NULL, killed_child_b, &k))
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ASSERT_EQ(sizeof(tid), read(fds[0], &tid, sizeof(tid)));
	close(fds[0]);
	usleep(300 * 1000);
	state = thread_state(pid, tid);
	EXPECT_EQ('D', state) TH_LOG("B is not waiting behind A (state %c)",
				     state ? state : '-');

	t0 = ne_now_ms();
	kill(pid, SIGKILL);
	usleep(300 * 1000);
	state = thread_state(pid, tid);
	EXPECT_TRUE(state == 0 || state == 'Z' || state == 'X')
		TH_LOG("B still waits (state %c) %llu ms after SIGKILL",
		       state, (unsigned long long)(ne_now_ms() - t0));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F_TIMEOUT(stall, killed_behind_slow_command_same_enclave, 60)
{
	killed_behind_slow_command(_metadata, &self->env, true);
}

TEST_F_TIMEOUT(stall, killed_behind_slow_command_other_enclave, 60)
{
	killed_behind_slow_command(_metadata, &self->env, false);
}

/*
 * A release that must wait for the mailbox behind another enclave's slow
 * command waits in TASK_IDLE ("I"), not in "D": it cannot be killed (it
 * must free the slot), and a "D" wait longer than 120 s, which a command
 * can take with the default timeout, is reported as a hung task.
 */
struct idle_closer {
	int efd;
	pid_t tid;		/* __atomic */
	int ret;
};

static void *idle_closer_thread(void *p)
{
	struct idle_closer *c = p;

	__atomic_store_n(&c->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
	c->ret = close(c->efd);
	return NULL;
}

/* Close @c->efd on a thread; 300 ms later it must wait in state I. */
static void close_expect_idle(struct __test_metadata *_metadata,
			      struct idle_closer *c)
{
	pthread_t tc;
	char state;

	ASSERT_EQ(0, pthread_create(&tc, NULL, idle_closer_thread, c));
	usleep(300 * 1000);
	state = thread_state(getpid(), __atomic_load_n(&c->tid, __ATOMIC_RELAXED));
	EXPECT_EQ('I', state) TH_LOG("the release waits in state %c",
				     state ? state : '-');
	pthread_join(tc, NULL);
}

TEST_F_TIMEOUT(stall, release_behind_slow_command_waits_idle, 60)
{
	struct ne_vcpu_adder a = { .cpu = (uint32_t)self->env.pool[0] };
	struct idle_closer c = { .ret = 1 };
	pthread_t ta;
	uint64_t uid = 0;

	NE_NEED_TB(&self->env);
	if (self->env.base.free_cores < 2)
		SKIP(return, "needs two free pool cores, %ld free",
		     self->env.base.free_cores);
	a.efd = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, a.efd);
	c.efd = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, c.efd);

	ne_tb_reply_mode_cmd(&self->env.tb, NE_CMD_SLOT_ADD_VCPU,
			     NE_TB_REPLY_LATE, 2500);
	ASSERT_EQ(0, pthread_create(&ta, NULL, ne_add_vcpu_thread, &a));
	usleep(300 * 1000);
	close_expect_idle(_metadata, &c);
	pthread_join(ta, NULL);
	EXPECT_EQ(0, c.ret);
	EXPECT_EQ(0, a.ret) TH_LOG("add vcpu: %s", ne_err_name(a.ret));
	close(a.efd);
}

/*
 * The release of a running enclave whose SLOT_INFO the event worker is
 * waiting for waits in TASK_IDLE too: the worker holds no lock of the
 * enclave across the command.
 */
TEST_F_TIMEOUT(stall, release_behind_event_slot_info_waits_idle, 60)
{
	struct idle_closer c = { .ret = 1 };
	struct ne_tb_counters before, after;
	uint64_t uid = 0;

	NE_NEED_TB(&self->env);
	c.efd = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, c.efd);
	ASSERT_OK(ne_make_ready(&self->env, c.efd, NE_MIN_MEM, 2));
	ASSERT_OK(ne_start(c.efd, 0, NULL));

	ne_tb_counters(&self->env.tb, &before);
	ne_tb_reply_mode_cmd(&self->env.tb, NE_CMD_SLOT_INFO,
			     NE_TB_REPLY_LATE, 2500);
	ASSERT_EQ(0, ne_tb_raise_events(&self->env.tb, 1));
	usleep(300 * 1000);
	ne_tb_counters(&self->env.tb, &after);
	ASSERT_EQ(before.cmd[NE_CMD_SLOT_INFO] + 1, after.cmd[NE_CMD_SLOT_INFO])
		TH_LOG("the event worker did not ask SLOT_INFO");

	close_expect_idle(_metadata, &c);
	EXPECT_EQ(0, c.ret);
	/* The slot was freed after the SLOT_INFO, not under it. */
	ne_tb_counters(&self->env.tb, &after);
	EXPECT_EQ(before.cmd[NE_CMD_SLOT_FREE] + 1, after.cmd[NE_CMD_SLOT_FREE]);
	EXPECT_EQ(self->env.base.tb.live_slots, after.live_slots);
}

int main(int argc, char **argv)
{
	return ne_test_main_needs(argc, argv, NE_NEEDS_TB);
}
