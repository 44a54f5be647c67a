// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The Nitro Enclaves driver authors.
 *
 * Nitro Enclaves PCI transport: probe and remove, the enable handshake,
 * the command mailbox and the two MSI-X vectors. This is the only file
 * that touches the device registers; what a command means to an enclave
 * is its caller's business (ne_enclave.c).
 */

#include <kunit/visibility.h>
#include <linux/atomic.h>
#include <linux/bitfield.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/iopoll.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/lockdep.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/nitro_enclaves.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "ne_enclave.h"
#include "ne_misc_dev.h"
#include "ne_pci_dev.h"

#define NE_DEFAULT_TIMEOUT_MSECS	120000
#define NE_DISABLE_POLL_MSECS		10

/*
 * When the misc side asks for it (a SLOT_INFO query failed, or a slot is
 * held back until the device confirms it is freed), the event work runs
 * again after 100 ms, 200 ms, ... 1.6 s, then every 30 s until it no
 * longer asks. A device event runs it at once in any case.
 */
#define NE_EVENT_RETRY_MSECS		100
#define NE_EVENT_RETRIES		5
#define NE_EVENT_SLOW_RETRY_MSECS	30000

/* Registers end with the reply area; the BAR must cover it. */
#define NE_BAR_MIN_SIZE			(NE_RECV_DATA + NE_RECV_DATA_SIZE)

static unsigned int cmd_timeout_ms = NE_DEFAULT_TIMEOUT_MSECS;

/*
 * The misc device has a fixed name (/dev/nitro_enclaves, which launchers
 * expect), so one NE device is driven at a time; a parent VM has one.
 * Set while a device is bound, so a second one is refused cleanly.
 */
static atomic_t ne_pci_dev_bound = ATOMIC_INIT(0);

static int ne_cmd_timeout_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;
	int rc;

	rc = kstrtouint(val, 0, &ms);
	if (rc)
		return rc;
	if (!ms)
		return -EINVAL;

	WRITE_ONCE(*(unsigned int *)kp->arg, ms);

	return 0;
}

static const struct kernel_param_ops ne_cmd_timeout_ops = {
	.set = ne_cmd_timeout_set,
	.get = param_get_uint,
};

/* Set at load only; debugfs has a runtime knob for tests and debugging. */
module_param_cb(cmd_timeout_ms, &ne_cmd_timeout_ops, &cmd_timeout_ms, 0444);
MODULE_PARM_DESC(cmd_timeout_ms,
		 "Time in ms the device has to answer a command or to settle a disable (default 120000, min 1; set at load)");

static int ne_cmd_timeout_debugfs_get(void *data, u64 *val)
{
	*val = READ_ONCE(cmd_timeout_ms);

	return 0;
}

static int ne_cmd_timeout_debugfs_set(void *data, u64 val)
{
	if (!val || val > UINT_MAX)
		return -EINVAL;

	WRITE_ONCE(cmd_timeout_ms, val);

	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(ne_cmd_timeout_fops, ne_cmd_timeout_debugfs_get,
			 ne_cmd_timeout_debugfs_set, "%llu\n");

/**
 * ne_pci_dev_debugfs_init() - Add the transport's debug knobs.
 * @dir:	The driver's debugfs directory.
 *
 * cmd_timeout_ms: the reply timeout, changeable at runtime (1 or more).
 * Commands already waiting keep the timeout they started with.
 *
 * Context: Process context (module init).
 */
void ne_pci_dev_debugfs_init(struct dentry *dir)
{
	debugfs_create_file_unsafe("cmd_timeout_ms", 0600, dir, NULL,
				   &ne_cmd_timeout_fops);
}

/*
 * Size of each command's request: the device reads exactly this much of
 * NE_SEND_DATA, so a caller passing anything else has a bug.
 */
static const size_t ne_cmd_req_size[MAX_CMD] = {
	[ENCLAVE_START]		= sizeof(struct enclave_start_req),
	[ENCLAVE_GET_SLOT]	= sizeof(struct enclave_get_slot_req),
	[ENCLAVE_STOP]		= sizeof(struct enclave_stop_req),
	[SLOT_ALLOC]		= sizeof(struct slot_alloc_req),
	[SLOT_FREE]		= sizeof(struct slot_free_req),
	[SLOT_ADD_MEM]		= sizeof(struct slot_add_mem_req),
	[SLOT_ADD_VCPU]		= sizeof(struct slot_add_vcpu_req),
	[SLOT_COUNT]		= sizeof(struct slot_count_req),
	[NEXT_SLOT]		= sizeof(struct next_slot_req),
	[SLOT_INFO]		= sizeof(struct slot_info_req),
	[SLOT_ADD_BULK_VCPUS]	= sizeof(struct slot_add_bulk_vcpus_req),
};

static const char * const ne_cmd_name[MAX_CMD] = {
	[INVALID_CMD]		= "INVALID_CMD",
	[ENCLAVE_START]		= "ENCLAVE_START",
	[ENCLAVE_GET_SLOT]	= "ENCLAVE_GET_SLOT",
	[ENCLAVE_STOP]		= "ENCLAVE_STOP",
	[SLOT_ALLOC]		= "SLOT_ALLOC",
	[SLOT_FREE]		= "SLOT_FREE",
	[SLOT_ADD_MEM]		= "SLOT_ADD_MEM",
	[SLOT_ADD_VCPU]		= "SLOT_ADD_VCPU",
	[SLOT_COUNT]		= "SLOT_COUNT",
	[NEXT_SLOT]		= "NEXT_SLOT",
	[SLOT_INFO]		= "SLOT_INFO",
	[SLOT_ADD_BULK_VCPUS]	= "SLOT_ADD_BULK_VCPUS",
};

static u8 ne_read8(struct ne_pci_dev *ndev, u32 reg)
{
	return ioread8(ndev->iomem_base + reg);
}

static u16 ne_read16(struct ne_pci_dev *ndev, u32 reg)
{
	return ioread16(ndev->iomem_base + reg);
}

static u32 ne_read32(struct ne_pci_dev *ndev, u32 reg)
{
	return ioread32(ndev->iomem_base + reg);
}

static void ne_write8(struct ne_pci_dev *ndev, u32 reg, u8 val)
{
	iowrite8(val, ndev->iomem_base + reg);
}

static void ne_write16(struct ne_pci_dev *ndev, u32 reg, u16 val)
{
	iowrite16(val, ndev->iomem_base + reg);
}

static void ne_write32(struct ne_pci_dev *ndev, u32 reg, u32 val)
{
	iowrite32(val, ndev->iomem_base + reg);
}

static u16 ne_reply_count(u32 evtcnt)
{
	return FIELD_GET(NE_EVTCNT_REPLY_MASK, evtcnt);
}

/*
 * True when a reply register reads all ones because the device is no
 * longer there (surprise removal), rather than by chance.
 */
static bool ne_pci_dev_gone(struct ne_pci_dev *ndev, u32 val, u32 all_ones)
{
	return val == all_ones && !pci_device_is_present(ndev->pdev);
}

/*
 * Requests that carry a slot uid in their first 8 bytes, which a
 * successful reply echoes. NEXT_SLOT also carries one, but its reply
 * names the following slot instead.
 */
static bool ne_cmd_echoes_uid(enum ne_pci_dev_cmd_type type)
{
	switch (type) {
	case ENCLAVE_START:
	case ENCLAVE_STOP:
	case SLOT_FREE:
	case SLOT_ADD_MEM:
	case SLOT_ADD_VCPU:
	case SLOT_INFO:
	case SLOT_ADD_BULK_VCPUS:
		return true;
	default:
		return false;
	}
}

/*
 * Whether the reply area read between reply counter values @count and
 * @count_after answers the command of @type for slot @uid, submitted when
 * the counter was @window_start: the counter moved by exactly one and not
 * again during the copy, and a successful reply echoes the uid if the
 * command has one (see ne_cmd_wait_reply()). A failed reply (@reply_rc
 * negative) is taken on the counter alone: nothing promises that a device
 * echoes the uid when it refuses a command, and one that zeroes it must
 * not turn every refusal into a timeout.
 */
VISIBLE_IF_KUNIT bool ne_cmd_reply_is_ours(enum ne_pci_dev_cmd_type type,
					   u64 uid, u16 window_start,
					   u16 count, u16 count_after,
					   u64 reply_uid, s32 reply_rc)
{
	if ((u16)(count - window_start) != 1 || count_after != count)
		return false;

	return reply_rc < 0 || !ne_cmd_echoes_uid(type) || reply_uid == uid;
}
EXPORT_SYMBOL_IF_KUNIT(ne_cmd_reply_is_ours);

/* Wake-up condition of a command waiter: a reply interrupt, or removal. */
static bool ne_cmd_irq_came(struct ne_pci_dev *ndev, int irqs)
{
	return READ_ONCE(ndev->removed) ||
	       atomic_read(&ndev->reply_irqs) != irqs;
}

/*
 * ne_cmd_wait_count() - Wait until the reply counter moves away from @from.
 *
 * Waiters sleep until a reply interrupt comes and only then read
 * NE_EVTCNT: a register read costs a trip to the device, and the reply
 * may take long. @irqs is the interrupt count sampled before the last
 * look at the counter; it is updated before each new look, so that an
 * interrupt that comes after a look always ends the next sleep. At
 * @deadline the counter is read once more, for a reply whose interrupt
 * was lost.
 *
 * Return: the new reply count; -ETIMEDOUT at @deadline; -ENODEV if the
 * device was removed or went away; -EINTR if @killable and a fatal
 * signal came.
 */
static int ne_cmd_wait_count(struct ne_pci_dev *ndev, u16 from, int *irqs,
			     unsigned long deadline, bool killable)
{
	u32 evtcnt;
	long left;

	for (;;) {
		left = max_t(long, (long)(deadline - jiffies), 0);
		/*
		 * TASK_IDLE when not killable: not interruptible (the
		 * mailbox must stay in step with the device) and not
		 * reported as a hung task during the long default timeout.
		 */
		if (killable)
			left = wait_event_killable_timeout(ndev->cmd_wq,
							   ne_cmd_irq_came(ndev, *irqs),
							   left);
		else
			left = wait_event_idle_timeout(ndev->cmd_wq,
						       ne_cmd_irq_came(ndev, *irqs),
						       left);
		if (left < 0)
			return -EINTR;
		if (READ_ONCE(ndev->removed))
			return -ENODEV;

		*irqs = atomic_read(&ndev->reply_irqs);
		evtcnt = ne_read32(ndev, NE_EVTCNT);
		if (ne_pci_dev_gone(ndev, evtcnt, U32_MAX))
			return -ENODEV;
		if (ne_reply_count(evtcnt) != from)
			return ne_reply_count(evtcnt);
		if (!left)
			return -ETIMEDOUT;
	}
}

/*
 * ne_cmd_lock() - Take the mailbox (@ndev->cmd_lock).
 *
 * A command holds the mailbox for up to twice cmd_timeout_ms, 240 s by
 * default, so its waiters do not sleep in the mutex, where the hung task
 * detector reports them after 120 s. They sleep on @ndev->cmd_free_wq:
 * killably, or in TASK_IDLE for callers that must reach the device
 * (release, the event work, removal).
 *
 * Return: 0, or -EINTR if @killable and a fatal signal came first.
 */
static int ne_cmd_lock(struct ne_pci_dev *ndev, bool killable)
{
	if (!killable) {
		wait_event_idle(ndev->cmd_free_wq,
				mutex_trylock(&ndev->cmd_lock));
		return 0;
	}

	if (wait_event_killable(ndev->cmd_free_wq,
				mutex_trylock(&ndev->cmd_lock)))
		return -EINTR;

	return 0;
}

static void ne_cmd_unlock(struct ne_pci_dev *ndev)
{
	mutex_unlock(&ndev->cmd_lock);
	wake_up(&ndev->cmd_free_wq);
}

/*
 * ne_cmd_owe_reply() - Remember that a timed-out command's reply may come.
 *
 * The device gets one more timeout period to deliver it; the next command
 * waits for it before using the mailbox.
 */
static void ne_cmd_owe_reply(struct ne_pci_dev *ndev, u16 count)
{
	lockdep_assert_held(&ndev->cmd_lock);

	ndev->reply_owed = true;
	ndev->owed_count = count;
	ndev->reply_seen = count;
	ndev->owed_deadline = jiffies +
			      msecs_to_jiffies(READ_ONCE(cmd_timeout_ms));
}

/*
 * ne_cmd_drain_owed_reply() - Let the reply of a timed-out command arrive.
 *
 * Without a sequence number in the replies, a late reply that lands while
 * the next command waits cannot be told apart from that command's own if
 * both are about the same slot. So the mailbox stays idle until the owed
 * reply has come (the reply counter moved) or its deadline has passed; a
 * reply that came is then absorbed by the next command's counter snapshot.
 *
 * Return: 0, or -EINTR if @killable and a fatal signal ended the wait.
 * A device that is gone ends the wait too; the command finds out.
 */
static int ne_cmd_drain_owed_reply(struct ne_pci_dev *ndev, bool killable)
{
	int irqs, rc;
	u32 evtcnt;

	lockdep_assert_held(&ndev->cmd_lock);

	if (!ndev->reply_owed)
		return 0;

	if (time_after_eq(jiffies, ndev->owed_deadline)) {
		ndev->reply_owed = false;
		return 0;
	}

	irqs = atomic_read(&ndev->reply_irqs);
	evtcnt = ne_read32(ndev, NE_EVTCNT);
	if (ne_reply_count(evtcnt) != ndev->owed_count) {
		ndev->reply_owed = false;
		return 0;
	}

	rc = ne_cmd_wait_count(ndev, ndev->owed_count, &irqs,
			       ndev->owed_deadline, killable);
	/* Killed: the reply is still owed to the next command. */
	if (rc == -EINTR)
		return rc;

	ndev->reply_owed = false;
	if (rc == -ETIMEDOUT)
		dev_warn_ratelimited(&ndev->pdev->dev,
				     "late reply never came, taking it as lost\n");

	return 0;
}

/*
 * ne_cmd_wait_reply() - Wait for the reply to the command just submitted.
 *
 * Replies are told apart by the reply counter: the window opens at the
 * value read just before the doorbell, and our reply is the one that
 * moves it by exactly one. Two more checks guard against a stray reply
 * (one that arrives after its command timed out, or a duplicate):
 *
 * - if the counter moved by more than one, or moved again while the
 *   reply was being copied, the reply area cannot be attributed; it is
 *   dropped and the window restarts at the latest count;
 * - for commands whose request carries a slot uid, a successful reply
 *   must echo that uid; one naming another slot is dropped the same way.
 *   A failed reply is taken on the counter alone, whatever uid it names.
 *
 * In addition, ne_cmd_drain_owed_reply() keeps the mailbox idle after a
 * timeout until the late reply has come, for up to one more timeout.
 * @irqs is the reply interrupt count sampled before the window opened.
 *
 * Limitation: a stray reply that moves the counter by exactly one before
 * ours arrives is still taken for ours when the command has no uid to
 * echo (SLOT_ALLOC, SLOT_COUNT, ENCLAVE_GET_SLOT, NEXT_SLOT), when it
 * answered an earlier command about the same slot, or when it is a
 * failure. That needs a reply later than twice the timeout, or a device
 * that answers one command twice. Our own reply then becomes a stray for
 * a later command. Conversely, when our reply and a stray land in the
 * same window, ours is dropped and the command fails with -ETIMEDOUT even
 * though the device may have run it. A device sequence number in the
 * reply would close both gaps; this one has none.
 */
static int ne_cmd_wait_reply(struct ne_pci_dev *ndev,
			     enum ne_pci_dev_cmd_type type, u64 uid,
			     u16 window_start, int irqs,
			     struct ne_pci_dev_cmd_reply *reply)
{
	unsigned long deadline;
	u16 count, count_after;
	int rc;

	deadline = jiffies + msecs_to_jiffies(READ_ONCE(cmd_timeout_ms));

	for (;;) {
		rc = ne_cmd_wait_count(ndev, window_start, &irqs, deadline,
				       false);
		if (rc == -ETIMEDOUT)
			ne_cmd_owe_reply(ndev, window_start);
		if (rc < 0)
			return rc;
		count = rc;

		memcpy_fromio(reply, ndev->iomem_base + NE_RECV_DATA,
			      sizeof(*reply));
		count_after = ne_reply_count(ne_read32(ndev, NE_EVTCNT));
		ndev->reply_seen = count_after;

		if (ne_cmd_reply_is_ours(type, uid, window_start, count,
					 count_after, reply->slot_uid, reply->rc))
			return 0;

		dev_warn_ratelimited(&ndev->pdev->dev,
				     "%s: ignoring stray reply (counter %u -> %u, rc %d, slot uid %llu, expected %llu)\n",
				     ne_cmd_name[type], window_start,
				     count_after, reply->rc, reply->slot_uid, uid);
		window_start = count_after;

		/* A device that keeps replying must not keep us here. */
		if (time_after_eq(jiffies, deadline)) {
			ne_cmd_owe_reply(ndev, window_start);
			return -ETIMEDOUT;
		}
	}
}

/*
 * The errno a failure reaches callers with: a device rc below -MAX_ERRNO
 * would not read as an error in user space, so it becomes -EIO.
 */
VISIBLE_IF_KUNIT int ne_cmd_errno(int rc)
{
	return rc < -MAX_ERRNO ? -EIO : rc;
}
EXPORT_SYMBOL_IF_KUNIT(ne_cmd_errno);

VISIBLE_IF_KUNIT int ne_cmd_check_args(enum ne_pci_dev_cmd_type type,
				       const void *req, size_t req_size,
				       struct ne_pci_dev_cmd_reply *reply)
{
	if (!reply)
		return -EINVAL;

	memset(reply, 0, sizeof(*reply));

	if (type <= INVALID_CMD || type >= MAX_CMD || !req ||
	    req_size > NE_SEND_DATA_SIZE || req_size != ne_cmd_req_size[type])
		return -EINVAL;

	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(ne_cmd_check_args);

/*
 * One line per failed command: which command (and slot), why it failed,
 * what that means to the caller and, for a known refusal, what to do.
 */
static void ne_cmd_log_failure(struct ne_pci_dev *ndev,
			       enum ne_pci_dev_cmd_type type, u64 uid, int rc,
			       const struct ne_cmd_failure *f)
{
	static const struct ne_cmd_failure none = { };
	const char *effect;

	if (!f)
		f = &none;
	effect = f->effect ? f->effect : "the request fails";
	struct device *dev = &ndev->pdev->dev;
	char what[48];

	if (ne_cmd_echoes_uid(type))
		snprintf(what, sizeof(what), "%s for slot %#llx",
			 ne_cmd_name[type], uid);
	else
		strscpy(what, ne_cmd_name[type], sizeof(what));

	if (rc == -ETIMEDOUT)
		dev_err_ratelimited(dev, "%s: no reply from the device within %u ms: %s; if the host is only slow, raise nitro_enclaves.cmd_timeout_ms\n",
				    what, READ_ONCE(cmd_timeout_ms), effect);
	else if (rc == -ENODEV)
		dev_err_ratelimited(dev, "%s: the NE device was removed: %s; close the enclave\n",
				    what, effect);
	else if (rc < -MAX_ERRNO)
		dev_err_ratelimited(dev, "%s: the device refused the command with rc %d, which is no errno (reported as -EIO): %s\n",
				    what, rc, effect);
	else if (f->fix && rc == f->rc)
		dev_err_ratelimited(dev, "%s: the device refused the command (rc %d): %s; %s\n",
				    what, rc, effect, f->fix);
	else
		dev_err_ratelimited(dev, "%s: the device refused the command (rc %d): %s\n",
				    what, rc, effect);
}

/**
 * ne_pci_dev_cmd() - Run one command on the device and wait for its reply.
 * @ndev:	The NE PCI device.
 * @type:	Command type.
 * @req:	Request, exactly the size of the command's request struct.
 * @req_size:	Size of @req in bytes.
 * @reply:	Filled with the device's reply.
 * @killable:	Let a fatal signal end the wait for the mailbox (another
 *		command running, or the reply of a timed-out one still
 *		owed). For system calls that return to user space; not for
 *		release or workers, which must reach the device.
 * @why:	What a failure means to the caller, for the log line; NULL
 *		for none.
 *
 * Failures are logged here (rate limited): one line with the command's
 * name and slot, the cause and @why, so callers need not log them again;
 * not when a fatal signal ended the wait. On any failure @reply is zeroed.
 *
 * Context: Process context. Takes and releases @ndev->cmd_lock, so it may
 * be called with @ndev->enclaves_lock or an enclave lock held.
 * Sleeps up to the cmd_timeout_ms module parameter for the reply, after
 * up to one more such period if the previous command timed out and its
 * reply is still owed. Once the command is sent, the wait for its reply
 * is not interruptible: the mailbox must stay in step with the device.
 * Return:
 * * 0 - the device ran the command; @reply holds its answer.
 * * -EINVAL - bad @type, @req, @req_size or @reply.
 * * -ENODEV - the device is removed or went away, also while waiting.
 * * -ETIMEDOUT - no reply within cmd_timeout_ms.
 * * -EINTR - @killable and a fatal signal came before the command was
 *   sent.
 * * The negative rc of the reply, if the device refused the command;
 *   -EIO if that rc is below -MAX_ERRNO.
 *
 * ne_pci_dev_cmd_maybe_done() tells which of these failures may still
 * have let the command take effect.
 */
int ne_pci_dev_cmd(struct ne_pci_dev *ndev, enum ne_pci_dev_cmd_type type,
		   const void *req, size_t req_size,
		   struct ne_pci_dev_cmd_reply *reply, bool killable,
		   const struct ne_cmd_failure *why)
{
	struct device *dev = &ndev->pdev->dev;
	u16 window_start;
	u32 evtcnt;
	u64 uid = 0;
	int irqs, rc;

	rc = ne_cmd_check_args(type, req, req_size, reply);
	if (rc) {
		dev_err_ratelimited(dev, "invalid command %d (size %zu): a driver bug, please report it\n",
				    type, req_size);
		return rc;
	}

	if (ne_cmd_echoes_uid(type))
		memcpy(&uid, req, sizeof(uid));

	if (ne_cmd_lock(ndev, killable))
		return -EINTR;

	rc = ne_cmd_drain_owed_reply(ndev, killable);
	if (rc)
		goto unlock;

	if (READ_ONCE(ndev->removed)) {
		rc = -ENODEV;
		goto unlock;
	}

	/* Sampled first: a reply interrupt after the counter read counts. */
	irqs = atomic_read(&ndev->reply_irqs);
	evtcnt = ne_read32(ndev, NE_EVTCNT);
	if (ne_pci_dev_gone(ndev, evtcnt, U32_MAX)) {
		rc = -ENODEV;
		goto unlock;
	}

	window_start = ne_reply_count(evtcnt);
	if (window_start != ndev->reply_seen) {
		dev_warn_ratelimited(dev, "%u stray replies between commands\n",
				     (u16)(window_start - ndev->reply_seen));
		ndev->reply_seen = window_start;
	}

	memcpy_toio(ndev->iomem_base + NE_SEND_DATA, req, req_size);
	ne_write32(ndev, NE_COMMAND, type);

	rc = ne_cmd_wait_reply(ndev, type, uid, window_start, irqs, reply);
	if (!rc && reply->rc < 0)
		rc = reply->rc;

unlock:
	ne_cmd_unlock(ndev);

	if (rc) {
		/* A killed caller needs no explanation. */
		if (rc != -EINTR)
			ne_cmd_log_failure(ndev, type, uid, rc, why);
		memset(reply, 0, sizeof(*reply));
	}

	return ne_cmd_errno(rc);
}

static void ne_pci_dev_release(struct kref *kref)
{
	struct ne_pci_dev *ndev = container_of(kref, struct ne_pci_dev, kref);

	mutex_destroy(&ndev->cmd_lock);
	pci_dev_put(ndev->pdev);
	kfree(ndev);
}

/**
 * ne_pci_dev_get() - Take a reference on the device state.
 * @ndev:	The NE PCI device; the caller must already hold a reference
 *		or otherwise know it is alive.
 *
 * Context: Any context.
 */
void ne_pci_dev_get(struct ne_pci_dev *ndev)
{
	kref_get(&ndev->kref);
}

/**
 * ne_pci_dev_put() - Drop a reference on the device state.
 * @ndev:	The NE PCI device.
 *
 * The last reference frees @ndev. The bound driver's reference is dropped
 * at the end of remove, so the last put never comes before remove.
 *
 * Context: Any context.
 */
void ne_pci_dev_put(struct ne_pci_dev *ndev)
{
	kref_put(&ndev->kref, ne_pci_dev_release);
}

static irqreturn_t ne_reply_irq(int irq, void *data)
{
	struct ne_pci_dev *ndev = data;

	/* The waiter reads the reply counter itself, once woken. */
	atomic_inc(&ndev->reply_irqs);
	wake_up(&ndev->cmd_wq);

	return IRQ_HANDLED;
}

static irqreturn_t ne_event_irq(int irq, void *data)
{
	struct ne_pci_dev *ndev = data;

	/* A new event also cuts short the wait of a pending retry. */
	mod_delayed_work(ndev->event_wq, &ndev->event_work, 0);

	return IRQ_HANDLED;
}

static void ne_event_work(struct work_struct *work)
{
	struct ne_pci_dev *ndev = container_of(to_delayed_work(work),
					       struct ne_pci_dev, event_work);
	unsigned long delay;

	/* Pairs with smp_store_release() in ne_pci_probe(). */
	if (!smp_load_acquire(&ndev->misc_ready))
		return;

	if (!ne_enclave_handle_event(ndev)) {
		ndev->event_retries = 0;
		return;
	}

	if (ndev->event_retries < NE_EVENT_RETRIES) {
		delay = msecs_to_jiffies(NE_EVENT_RETRY_MSECS <<
					 ndev->event_retries);
		ndev->event_retries++;
	} else {
		delay = msecs_to_jiffies(NE_EVENT_SLOW_RETRY_MSECS);
	}
	queue_delayed_work(ndev->event_wq, &ndev->event_work, delay);
}

/**
 * ne_pci_dev_retry_later() - Have the misc side called again in a while.
 * @ndev:	The NE PCI device.
 *
 * Queues the event work (which calls ne_enclave_handle_event()) to run
 * after the slow retry period, unless it is already queued. For state the
 * misc side wants to ask the device about again without waiting for the
 * next device event.
 *
 * Context: Any context.
 */
void ne_pci_dev_retry_later(struct ne_pci_dev *ndev)
{
	queue_delayed_work(ndev->event_wq, &ndev->event_work,
			   msecs_to_jiffies(NE_EVENT_SLOW_RETRY_MSECS));
}

/*
 * ne_pci_dev_disable() - Turn the device off and wait for it to settle.
 *
 * Polls NE_ENABLE every 10 ms for up to cmd_timeout_ms. A device that does
 * not settle is logged; a device that is gone ends the wait at once.
 *
 * Return: true if the device reads back off, i.e. it confirmed the
 * disable; false if it did not settle in time or is gone.
 */
static bool ne_pci_dev_disable(struct ne_pci_dev *ndev)
{
	u64 budget_us = (u64)READ_ONCE(cmd_timeout_ms) * USEC_PER_MSEC;
	u8 state;

	ne_write8(ndev, NE_ENABLE, NE_ENABLE_OFF);

	read_poll_timeout(ne_read8, state,
			  state == NE_ENABLE_OFF ||
			  ne_pci_dev_gone(ndev, state, U8_MAX),
			  NE_DISABLE_POLL_MSECS * USEC_PER_MSEC, budget_us,
			  false, ndev, NE_ENABLE);
	if (state == NE_ENABLE_OFF)
		return true;

	if (ne_pci_dev_gone(ndev, state, U8_MAX))
		dev_err(&ndev->pdev->dev, "device gone before it confirmed the disable\n");
	else
		dev_err(&ndev->pdev->dev, "device still enabled after %u ms (0x%x)\n",
			READ_ONCE(cmd_timeout_ms), state);

	return false;
}

/*
 * ne_pci_dev_enable() - Agree on the protocol version and turn the device on.
 */
static int ne_pci_dev_enable(struct ne_pci_dev *ndev)
{
	struct device *dev = &ndev->pdev->dev;
	u16 version;
	u8 state;

	ne_write16(ndev, NE_VERSION, NE_VERSION_MAX);
	version = ne_read16(ndev, NE_VERSION);
	if (version != NE_VERSION_MAX) {
		dev_err(dev, "device refused version %u (reads %u)\n",
			NE_VERSION_MAX, version);
		return -EIO;
	}

	ne_write8(ndev, NE_ENABLE, NE_ENABLE_ON);
	state = ne_read8(ndev, NE_ENABLE);
	if (state != NE_ENABLE_ON) {
		dev_err(dev, "device did not turn on (reads 0x%x)\n", state);
		return -EIO;
	}

	return 0;
}

static int ne_pci_map_bar(struct ne_pci_dev *ndev)
{
	struct pci_dev *pdev = ndev->pdev;

	if (!(pci_resource_flags(pdev, PCI_BAR_NE) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, PCI_BAR_NE) < NE_BAR_MIN_SIZE) {
		dev_err(&pdev->dev, "BAR %d is not a memory BAR of %u bytes\n",
			PCI_BAR_NE, NE_BAR_MIN_SIZE);
		return -ENODEV;
	}

	ndev->iomem_base = pci_iomap(pdev, PCI_BAR_NE, 0);
	if (!ndev->iomem_base) {
		dev_err(&pdev->dev, "cannot map BAR %d\n", PCI_BAR_NE);
		return -ENOMEM;
	}

	return 0;
}

static int ne_pci_alloc_vectors(struct pci_dev *pdev)
{
	int nvec, rc;

	nvec = pci_msix_vec_count(pdev);
	if (nvec < 0) {
		dev_err(&pdev->dev, "no MSI-X capability (%d)\n", nvec);
		return nvec;
	}
	if (nvec <= NE_VEC_EVENT) {
		dev_err(&pdev->dev, "%d MSI-X vectors, need %d\n", nvec,
			NE_VEC_EVENT + 1);
		return -ENODEV;
	}

	rc = pci_alloc_irq_vectors(pdev, nvec, nvec, PCI_IRQ_MSIX);
	if (rc < 0) {
		dev_err(&pdev->dev, "cannot allocate %d MSI-X vectors (%d)\n",
			nvec, rc);
		return rc;
	}

	return 0;
}

static int ne_pci_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ne_pci_dev *ndev;
	int rc;

	if (atomic_cmpxchg(&ne_pci_dev_bound, 0, 1)) {
		dev_err(&pdev->dev, "another NE device is bound, only one is supported\n");
		return -EBUSY;
	}

	ndev = kzalloc(sizeof(*ndev), GFP_KERNEL);
	if (!ndev) {
		rc = -ENOMEM;
		goto err_unbind_instance;
	}

	kref_init(&ndev->kref);
	/* Enclaves may log through @ndev after the device is gone. */
	ndev->pdev = pci_dev_get(pdev);
	mutex_init(&ndev->cmd_lock);
	init_waitqueue_head(&ndev->cmd_wq);
	init_waitqueue_head(&ndev->cmd_free_wq);
	INIT_DELAYED_WORK(&ndev->event_work, ne_event_work);

	rc = pci_enable_device(pdev);
	if (rc) {
		dev_err(&pdev->dev, "cannot enable PCI device (%d)\n", rc);
		goto err_free_ndev;
	}

	/* Without bus mastering the MSI-X messages are dropped too. */
	pci_set_master(pdev);

	/*
	 * Only the register BAR is claimed (exclusively: not even root may
	 * map it). The MSI-X BAR is handled by the PCI core; any other BAR
	 * stays mappable through sysfs, which a claimed BAR is not with
	 * IO_STRICT_DEVMEM.
	 */
	rc = pci_request_selected_regions_exclusive(pdev, BIT(PCI_BAR_NE),
						    "nitro_enclaves");
	if (rc) {
		dev_err(&pdev->dev, "cannot request BAR %d (%d)\n", PCI_BAR_NE,
			rc);
		goto err_disable_device;
	}

	rc = ne_pci_map_bar(ndev);
	if (rc)
		goto err_release_regions;

	rc = ne_pci_alloc_vectors(pdev);
	if (rc)
		goto err_iounmap;

	ndev->event_wq = alloc_ordered_workqueue("ne_pci_dev_wq", 0);
	if (!ndev->event_wq) {
		rc = -ENOMEM;
		goto err_free_vectors;
	}

	rc = request_irq(pci_irq_vector(pdev, NE_VEC_REPLY), ne_reply_irq, 0,
			 "enclave_cmd", ndev);
	if (rc) {
		dev_err(&pdev->dev, "cannot request reply IRQ (%d)\n", rc);
		goto err_destroy_wq;
	}

	rc = request_irq(pci_irq_vector(pdev, NE_VEC_EVENT), ne_event_irq, 0,
			 "enclave_evt", ndev);
	if (rc) {
		dev_err(&pdev->dev, "cannot request event IRQ (%d)\n", rc);
		goto err_free_reply_irq;
	}

	/* Start from a clean device, whatever a previous driver left. */
	ne_pci_dev_disable(ndev);

	rc = ne_pci_dev_enable(ndev);
	if (rc)
		goto err_disable_ne;

	ndev->reply_seen = ne_reply_count(ne_read32(ndev, NE_EVTCNT));

	pci_set_drvdata(pdev, ndev);

	rc = ne_misc_dev_register(ndev);
	if (rc) {
		dev_err(&pdev->dev, "cannot register misc device (%d)\n", rc);
		goto err_clear_drvdata;
	}

	/* Pairs with smp_load_acquire() in ne_event_work(). */
	smp_store_release(&ndev->misc_ready, true);

	return 0;

err_clear_drvdata:
	pci_set_drvdata(pdev, NULL);
err_disable_ne:
	ne_pci_dev_disable(ndev);
	free_irq(pci_irq_vector(pdev, NE_VEC_EVENT), ndev);
err_free_reply_irq:
	free_irq(pci_irq_vector(pdev, NE_VEC_REPLY), ndev);
err_destroy_wq:
	destroy_workqueue(ndev->event_wq);
err_free_vectors:
	pci_free_irq_vectors(pdev);
err_iounmap:
	pci_iounmap(pdev, ndev->iomem_base);
err_release_regions:
	pci_release_selected_regions(pdev, BIT(PCI_BAR_NE));
err_disable_device:
	pci_disable_device(pdev);
err_free_ndev:
	ne_pci_dev_put(ndev);
err_unbind_instance:
	atomic_set(&ne_pci_dev_bound, 0);
	return rc;
}

/*
 * ne_pci_teardown() - Undo probe; shared by remove and shutdown.
 *
 * The misc device goes first so no new opener arrives. Commands in flight
 * are woken and fail with -ENODEV, later ones fail at once. The device is
 * then disabled, and the misc side learns whether it confirmed that: only
 * then may the memory and CPUs of its enclaves be given back. Enclaves
 * that are still open keep their reference on @ndev and are told the
 * device is gone. A device that has already disappeared is not touched.
 */
static void ne_pci_teardown(struct pci_dev *pdev)
{
	struct ne_pci_dev *ndev = pci_get_drvdata(pdev);
	bool settled = false;

	if (!ndev)
		return;
	pci_set_drvdata(pdev, NULL);

	ne_misc_dev_unregister(ndev);

	WRITE_ONCE(ndev->removed, true);
	wake_up(&ndev->cmd_wq);
	/* Wait for the command in flight, if any, to give up. */
	ne_cmd_lock(ndev, false);
	ne_cmd_unlock(ndev);

	if (pci_device_is_present(pdev))
		settled = ne_pci_dev_disable(ndev);

	/* Before the workqueue goes: the misc side stops queueing on it. */
	ne_enclave_device_gone(ndev, settled);

	free_irq(pci_irq_vector(pdev, NE_VEC_EVENT), ndev);
	free_irq(pci_irq_vector(pdev, NE_VEC_REPLY), ndev);
	/* Waits for a running event work item; its commands fail -ENODEV. */
	cancel_delayed_work_sync(&ndev->event_work);
	destroy_workqueue(ndev->event_wq);
	pci_free_irq_vectors(pdev);
	pci_iounmap(pdev, ndev->iomem_base);
	pci_release_selected_regions(pdev, BIT(PCI_BAR_NE));
	pci_disable_device(pdev);
	ne_pci_dev_put(ndev);
	atomic_set(&ne_pci_dev_bound, 0);
}

static void ne_pci_remove(struct pci_dev *pdev)
{
	ne_pci_teardown(pdev);
}

static void ne_pci_shutdown(struct pci_dev *pdev)
{
	ne_pci_teardown(pdev);
}

static const struct pci_device_id ne_pci_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_AMAZON, PCI_DEVICE_ID_NE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, ne_pci_ids);

struct pci_driver ne_pci_driver = {
	.name		= "nitro_enclaves",
	.id_table	= ne_pci_ids,
	.probe		= ne_pci_probe,
	.remove		= ne_pci_remove,
	.shutdown	= ne_pci_shutdown,
};
