/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The Nitro Enclaves driver authors.
 */

#ifndef _NE_PCI_DEV_H_
#define _NE_PCI_DEV_H_

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/build_bug.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

/**
 * DOC: Nitro Enclaves (NE) PCI device
 *
 * The device exposes a small register file in BAR 3 and two MSI-X
 * vectors. The driver runs one command at a time: it writes a request to
 * NE_SEND_DATA and the command type to NE_COMMAND; the device writes the
 * reply to NE_RECV_DATA, increments the reply counter in NE_EVTCNT and
 * raises vector NE_VEC_REPLY. Out-of-band enclave state changes raise
 * vector NE_VEC_EVENT. Requests and replies are little-endian; the driver
 * lays them out in CPU order, which is correct on the little-endian x86
 * and arm64 systems the device exists on.
 */

#ifndef PCI_VENDOR_ID_AMAZON
#define PCI_VENDOR_ID_AMAZON		0x1d0f
#endif
#define PCI_DEVICE_ID_NE		0xe4c1

/* The BAR holding the registers below. */
#define PCI_BAR_NE			3

/* 8 bit, RW: device on (1) or off (0); reads report the current state. */
#define NE_ENABLE			0x0000
#define  NE_ENABLE_OFF			0x00
#define  NE_ENABLE_ON			0x01

/* 16 bit, RW: wanted protocol version; reads the version the device chose. */
#define NE_VERSION			0x0002
#define  NE_VERSION_MAX			0x0001

/* 32 bit, WO: doorbell, the command type to run on NE_SEND_DATA. */
#define NE_COMMAND			0x0004

/* 32 bit, RO: reply and event counters, each wrapping at 16 bits. */
#define NE_EVTCNT			0x000c
#define  NE_EVTCNT_REPLY_MASK		GENMASK(15, 0)
#define  NE_EVTCNT_EVENT_MASK		GENMASK(31, 16)

/* 240 bytes, RW: request payload. */
#define NE_SEND_DATA			0x0010
#define  NE_SEND_DATA_SIZE		240

/* 240 bytes, RO: reply payload. */
#define NE_RECV_DATA			0x0100
#define  NE_RECV_DATA_SIZE		240

/* MSI-X vectors. */
#define NE_VEC_REPLY			0
#define NE_VEC_EVENT			1

/**
 * enum ne_pci_dev_cmd_type - Command types written to NE_COMMAND.
 * @INVALID_CMD:		Not a command.
 * @ENCLAVE_START:		Start the enclave of a slot.
 * @ENCLAVE_GET_SLOT:		Find the slot holding a CID.
 * @ENCLAVE_STOP:		Stop the enclave of a slot.
 * @SLOT_ALLOC:			Allocate a slot.
 * @SLOT_FREE:			Free a slot and everything it holds.
 * @SLOT_ADD_MEM:		Add a physical memory range to a slot.
 * @SLOT_ADD_VCPU:		Add one vCPU, by CPU id, to a slot.
 * @SLOT_COUNT:			Count the slots.
 * @NEXT_SLOT:			Find the slot following a given uid.
 * @SLOT_INFO:			Query state and resources of a slot.
 * @SLOT_ADD_BULK_VCPUS:	Add a number of vCPUs without ids to a slot.
 * @MAX_CMD:			Upper bound (exclusive) of the types.
 */
enum ne_pci_dev_cmd_type {
	INVALID_CMD = 0,
	ENCLAVE_START = 1,
	ENCLAVE_GET_SLOT,
	ENCLAVE_STOP,
	SLOT_ALLOC,
	SLOT_FREE,
	SLOT_ADD_MEM,
	SLOT_ADD_VCPU,
	SLOT_COUNT,
	NEXT_SLOT,
	SLOT_INFO,
	SLOT_ADD_BULK_VCPUS,
	MAX_CMD,
};

/**
 * struct enclave_start_req - ENCLAVE_START request.
 * @slot_uid:		Slot of the enclave.
 * @enclave_cid:	Wanted vsock CID, 0 to let the device choose.
 * @flags:		Start mode (NE_ENCLAVE_*_MODE).
 */
struct enclave_start_req {
	u64 slot_uid;
	u64 enclave_cid;
	u64 flags;
};

/**
 * struct enclave_get_slot_req - ENCLAVE_GET_SLOT request.
 * @enclave_cid:	CID to look up.
 */
struct enclave_get_slot_req {
	u64 enclave_cid;
};

/**
 * struct enclave_stop_req - ENCLAVE_STOP request.
 * @slot_uid:	Slot of the enclave.
 */
struct enclave_stop_req {
	u64 slot_uid;
};

/**
 * struct slot_alloc_req - SLOT_ALLOC request.
 * @unused:	Must be zero.
 */
struct slot_alloc_req {
	u8 unused;
};

/**
 * struct slot_free_req - SLOT_FREE request.
 * @slot_uid:	Slot to free.
 */
struct slot_free_req {
	u64 slot_uid;
};

/**
 * struct slot_add_mem_req - SLOT_ADD_MEM request.
 * @slot_uid:	Slot to add the range to.
 * @paddr:	Physical start address, 2 MiB aligned.
 * @size:	Size in bytes, a multiple of 2 MiB.
 */
struct slot_add_mem_req {
	u64 slot_uid;
	u64 paddr;
	u64 size;
};

/**
 * struct slot_add_vcpu_req - SLOT_ADD_VCPU request.
 * @slot_uid:	Slot to add the vCPU to.
 * @vcpu_id:	CPU id of the vCPU.
 * @padding:	Must be zero.
 */
struct slot_add_vcpu_req {
	u64 slot_uid;
	u32 vcpu_id;
	u8 padding[4];
};

/**
 * struct slot_count_req - SLOT_COUNT request.
 * @unused:	Must be zero.
 */
struct slot_count_req {
	u8 unused;
};

/**
 * struct next_slot_req - NEXT_SLOT request.
 * @slot_uid:	Uid to continue after, 0 to start the walk.
 */
struct next_slot_req {
	u64 slot_uid;
};

/**
 * struct slot_info_req - SLOT_INFO request.
 * @slot_uid:	Slot to query.
 */
struct slot_info_req {
	u64 slot_uid;
};

/**
 * struct slot_add_bulk_vcpus_req - SLOT_ADD_BULK_VCPUS request.
 * @slot_uid:	Slot to add the vCPUs to.
 * @nr_vcpus:	Number of vCPUs to add.
 */
struct slot_add_bulk_vcpus_req {
	u64 slot_uid;
	u64 nr_vcpus;
};

/**
 * struct ne_pci_dev_cmd_reply - Reply to any command, read from NE_RECV_DATA.
 * @rc:		0 or a positive value on success, a negative errno on failure.
 * @padding0:	Unused.
 * @slot_uid:	Slot the command was about (see the command).
 * @enclave_cid:	CID of the enclave (ENCLAVE_START, SLOT_INFO).
 * @slot_count:	Number of slots (SLOT_COUNT).
 * @mem_regions:	Ranges a slot may hold (SLOT_ALLOC) or holds (SLOT_INFO).
 * @mem_size:	Bytes of memory the slot holds (SLOT_INFO).
 * @nr_vcpus:	vCPUs the slot holds (SLOT_INFO).
 * @flags:	Start flags of the slot (SLOT_INFO).
 * @state:	State of the slot (SLOT_INFO).
 * @padding1:	Unused.
 */
struct ne_pci_dev_cmd_reply {
	s32 rc;
	u8 padding0[4];
	u64 slot_uid;
	u64 enclave_cid;
	u64 slot_count;
	u64 mem_regions;
	u64 mem_size;
	u64 nr_vcpus;
	u64 flags;
	u16 state;
	u8 padding1[6];
};

static_assert(sizeof(struct enclave_start_req) == 24);
static_assert(sizeof(struct enclave_get_slot_req) == 8);
static_assert(sizeof(struct enclave_stop_req) == 8);
static_assert(sizeof(struct slot_alloc_req) == 1);
static_assert(sizeof(struct slot_free_req) == 8);
static_assert(sizeof(struct slot_add_mem_req) == 24);
static_assert(sizeof(struct slot_add_vcpu_req) == 16);
static_assert(sizeof(struct slot_count_req) == 1);
static_assert(sizeof(struct next_slot_req) == 8);
static_assert(sizeof(struct slot_info_req) == 8);
static_assert(sizeof(struct slot_add_bulk_vcpus_req) == 16);
static_assert(sizeof(struct ne_pci_dev_cmd_reply) == 72);
static_assert(sizeof(struct ne_pci_dev_cmd_reply) <= NE_RECV_DATA_SIZE);

/**
 * struct ne_pci_dev - State of one NE PCI device.
 * @kref:		References: the bound driver, every open misc device
 *			file and every enclave each hold one. The last put
 *			frees the struct.
 * @pdev:		The PCI device.
 * @iomem_base:		Mapping of BAR 3; only valid until remove.
 * @cmd_lock:		One command at a time in the mailbox. Held for a
 *			whole command (request, doorbell, wait, reply). Taken
 *			after @enclaves_lock and after an enclave's lock, only
 *			through ne_cmd_lock() and ne_cmd_unlock().
 * @cmd_free_wq:	Waiters for @cmd_lock sleep here (killably or in
 *			TASK_IDLE, not in the mutex); woken at each unlock.
 * @cmd_wq:		Command waiters sleep here; the reply interrupt and
 *			remove wake them.
 * @reply_irqs:		Reply interrupts so far. Waiters sleep until it moves
 *			rather than read NE_EVTCNT while they wait. Atomic.
 * @reply_seen:		Reply counter value (NE_EVTCNT bits 0-15) the last
 *			command ended with. Protected by @cmd_lock.
 * @reply_owed:		The last command timed out, so its reply may still
 *			come; the next command first waits for it, until
 *			@owed_deadline. Protected by @cmd_lock.
 * @owed_count:		Reply counter value when that command timed out.
 *			Protected by @cmd_lock.
 * @owed_deadline:	Time (jiffies) after which the owed reply is taken
 *			as lost. Protected by @cmd_lock.
 * @removed:		Set once at remove; commands then fail with -ENODEV.
 *			Written without lock (WRITE_ONCE) and followed by a
 *			wake-up of @cmd_wq; read with READ_ONCE.
 * @misc_ready:		Set (with release semantics) once the misc side is
 *			registered; the event work does nothing before that.
 * @event_wq:		Ordered workqueue ("ne_pci_dev_wq") running @event_work.
 * @event_work:		Queued by the event interrupt; calls
 *			ne_misc_dev_handle_event() and queues itself again,
 *			delayed, when that asks for a retry.
 * @event_retries:	Retries of @event_work so far; only @event_work
 *			touches it (the ordered workqueue runs one at a time).
 * @misc:		The /dev/nitro_enclaves misc device.
 * @enclaves_lock:	Protects @enclaves, @max_mem_regions, @quarantine and
 *			the members after it: held only to link, unlink or
 *			walk the lists and to read or set the others, never
 *			across a device command or pinning (see
 *			ne_enclave.c). Taken before an enclave's lock.
 * @enclaves:		The enclaves created through this device.
 * @max_mem_regions:	Physical ranges per slot the device reported at the
 *			last successful SLOT_ALLOC; 0 until the first one
 *			(the device tells it only then). Protected by
 *			@enclaves_lock.
 * @quarantine:		Closed enclaves whose slot the device has not
 *			confirmed freed: their memory stays pinned and their
 *			cores reserved until it does. Protected by
 *			@enclaves_lock.
 * @nr_quarantined:	Enclaves whose resources are held back: the entries of
 *			@quarantine and those being given back. Protected
 *			by @enclaves_lock.
 * @gone:		The misc side was told the device is gone; nothing is
 *			queued on @event_wq after that. Protected by
 *			@enclaves_lock.
 * @reset_confirmed:	At removal, the device confirmed its disable: it
 *			holds no enclave resources any more. Protected by
 *			@enclaves_lock.
 */
struct ne_pci_dev {
	struct kref kref;
	struct pci_dev *pdev;
	void __iomem *iomem_base;
	/* transport (ne_pci_dev.c) */
	struct mutex cmd_lock;		/* one command at a time in the mailbox */
	wait_queue_head_t cmd_free_wq;
	wait_queue_head_t cmd_wq;
	atomic_t reply_irqs;
	u16 reply_seen;
	bool reply_owed;
	u16 owed_count;
	unsigned long owed_deadline;
	bool removed;
	bool misc_ready;
	struct workqueue_struct *event_wq;
	struct delayed_work event_work;
	unsigned int event_retries;
	/* misc device and enclaves (ne_misc_dev.c, ne_enclave.c) */
	struct miscdevice misc;
	struct mutex enclaves_lock;	/* enclaves, quarantine and below */
	struct list_head enclaves;
	u64 max_mem_regions;
	struct list_head quarantine;
	unsigned int nr_quarantined;
	bool gone;
	bool reset_confirmed;
};

/**
 * struct ne_cmd_failure - What a failed command means to its caller.
 * @effect: What fails or is left behind, for any failure.
 * @rc:     A refusal the device is known to give (negative errno), or 0.
 * @fix:    What to do about a refusal with @rc.
 */
struct ne_cmd_failure {
	const char *effect;
	int rc;
	const char *fix;
};

struct dentry;

/* Provided by ne_pci_dev.c. */
int ne_pci_dev_cmd(struct ne_pci_dev *ndev, enum ne_pci_dev_cmd_type type,
		   const void *req, size_t req_size,
		   struct ne_pci_dev_cmd_reply *reply, bool killable,
		   const struct ne_cmd_failure *why);
void ne_pci_dev_retry_later(struct ne_pci_dev *ndev);
void ne_pci_dev_debugfs_init(struct dentry *dir);
void ne_pci_dev_get(struct ne_pci_dev *ndev);
void ne_pci_dev_put(struct ne_pci_dev *ndev);

#if IS_ENABLED(CONFIG_KUNIT)
/* Exposed for the KUnit suite (ne_pci_dev_test.c) only. */
bool ne_cmd_reply_is_ours(enum ne_pci_dev_cmd_type type, u64 uid,
			  u16 window_start, u16 count, u16 count_after,
			  u64 reply_uid, s32 reply_rc);
int ne_cmd_errno(int rc);
int ne_cmd_check_args(enum ne_pci_dev_cmd_type type, const void *req,
		      size_t req_size, struct ne_pci_dev_cmd_reply *reply);
#endif

/**
 * ne_pci_dev_cmd_maybe_done() - Whether a failed command may still have run.
 * @rc:	What ne_pci_dev_cmd() returned.
 *
 * After a timeout or device removal the device may have carried out the
 * command without the driver seeing its reply; after any other failure
 * (a refusal by the device, or a request the driver never sent, as after
 * -EINTR) it did not. Callers that hand out resources on the strength of a command use
 * this to decide whether they may take them back.
 *
 * Return: true if the device may have acted on the command.
 */
static inline bool ne_pci_dev_cmd_maybe_done(int rc)
{
	return rc == -ETIMEDOUT || rc == -ENODEV;
}

extern struct pci_driver ne_pci_driver;

#endif /* _NE_PCI_DEV_H_ */
