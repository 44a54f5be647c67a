/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The Nitro Enclaves driver authors.
 *
 * Nitro Enclaves enclave objects (ne_enclave.c).
 */

#ifndef _NE_ENCLAVE_H_
#define _NE_ENCLAVE_H_

#include <linux/cpumask.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "ne_cpu_pool.h"
#include "ne_mem.h"

struct ne_pci_dev;

/* Enclave states; a device may report other SLOT_INFO values. */
#define NE_STATE_INIT		(0)
#define NE_STATE_RUNNING	(2)
#define NE_STATE_STOPPED	(U16_MAX)

/* Where an EIF image must be placed in enclave memory. */
#define NE_EIF_LOAD_OFFSET	(8 * SZ_1M)

/* Memory an enclave needs at least before it can start. */
#define NE_MIN_ENCLAVE_MEM_SIZE	(64 * SZ_1M)

/* vsock CID of the parent VM, never an enclave's. */
#define NE_PARENT_VM_CID	(3)

/**
 * struct ne_enclave - An enclave, owned by its "ne-vm" file.
 * @ref:              References: the file (dropped at the end of release)
 *                    and the event worker while it looks at the enclave.
 *                    The last one frees the struct.
 * @node:             Entry in &ne_pci_dev.enclaves, and after release in
 *                    &ne_pci_dev.quarantine if the device did not confirm
 *                    that it freed the slot; protected by
 *                    &ne_pci_dev.enclaves_lock. Release unlinks it first.
 * @event_node:       Entry in the event worker's private snapshot of the
 *                    running enclaves; only the worker (one at a time, on
 *                    an ordered workqueue) uses it.
 * @ndev:             Device holding the enclave's slot; the enclave holds a
 *                    reference on it until it is freed.
 * @slot_uid:         Device slot, from SLOT_ALLOC. Constant.
 * @max_mem_ranges:   Physical ranges the device accepts for the slot, from
 *                    SLOT_ALLOC. Constant.
 * @per_page_mem:     legacy_per_page_mem at creation: send one SLOT_ADD_MEM
 *                    per huge page at NE_SET_USER_MEMORY_REGION instead of
 *                    merged ranges at NE_START_ENCLAVE. Constant.
 * @mm:               Address space of the creator (mmgrab()ed, only compared
 *                    with current->mm). Constant.
 * @pool:             CPU pool geometry snapshot taken at creation. Constant.
 * @lock:             Serialises the enclave ioctls, the event worker, device
 *                    removal and release; protects every member below. It
 *                    is held while the enclave's memory is pinned and while
 *                    a command of an ioctl or of release runs (not the
 *                    event worker's SLOT_INFO: see @info_busy), so it is
 *                    never taken with &ne_pci_dev.enclaves_lock held,
 *                    except by device removal, which sends no command; the
 *                    event worker try-locks it to start a SLOT_INFO and
 *                    holds it only briefly. Taken before the CPU
 *                    pool mutex and the device command lock.
 * @threads_per_core: Array of @pool.nr_cores masks: the threads of each core
 *                    reserved from the pool for this enclave.
 * @vcpu_ids:         Threads added to the slot as vCPUs.
 * @nr_vcpus:         Weight of @vcpu_ids.
 * @mem_regions:      User regions accepted (&struct ne_mem_region), in
 *                    registration order, with their pinned pages.
 * @ranges:           Counts of the physical ranges of all accepted regions,
 *                    merged across regions, in registration order; the
 *                    leading @ranges.nr_sent are on the device.
 * @state:            NE_STATE_* or the last state the device reported.
 *                    Also read without the lock by the event worker, to
 *                    skip enclaves that are not running, so written with
 *                    WRITE_ONCE().
 * @start_unsure:     ENCLAVE_START failed in a way that may have let the
 *                    enclave start (timeout): release stops it first.
 * @has_event:        The enclave exited or the device went away; poll then
 *                    reports EPOLLHUP. Never cleared. Also read without
 *                    the lock (poll), so written with WRITE_ONCE().
 * @gone:             The device was removed, or release has begun: the
 *                    event worker starts no command for the enclave any
 *                    more, and release sends none if the device was
 *                    removed. Also read without the lock, like @state.
 * @info_busy:        The event worker's SLOT_INFO for the enclave is in
 *                    flight; it runs without @lock. Release waits for it to
 *                    clear (in @eventq) before freeing the slot.
 * @eventq:           Pollers wait here for @has_event, release for
 *                    @info_busy to clear.
 */
struct ne_enclave {
	struct kref ref;
	struct list_head node;
	struct list_head event_node;
	struct ne_pci_dev *ndev;
	u64 slot_uid;
	u64 max_mem_ranges;
	bool per_page_mem;
	struct mm_struct *mm;
	struct ne_cpu_pool_info pool;

	struct mutex lock;		/* all members below */
	cpumask_var_t *threads_per_core;
	cpumask_var_t vcpu_ids;
	unsigned int nr_vcpus;
	struct list_head mem_regions;
	struct ne_mem_ranges ranges;
	u16 state;
	bool start_unsure;
	bool has_event;
	bool gone;
	bool info_busy;
	wait_queue_head_t eventq;
};

struct dentry;

/* Provided by ne_enclave.c. */
void ne_enclave_debugfs_init(struct dentry *dir);
long ne_enclave_create(struct ne_pci_dev *ndev, u64 __user *uarg);
bool ne_enclave_handle_event(struct ne_pci_dev *ndev);
void ne_enclave_device_gone(struct ne_pci_dev *ndev, bool reset_confirmed);

#if IS_ENABLED(CONFIG_KUNIT)
/* Exposed for the KUnit suite (ne_enclave_test.c) only. */
bool ne_enclave_cid_valid(u64 cid);
void ne_enclave_link(struct ne_pci_dev *ndev, struct ne_enclave *ne);
#endif

#endif /* _NE_ENCLAVE_H_ */
