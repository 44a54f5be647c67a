/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Nitro Enclaves misc device (/dev/nitro_enclaves) and enclave objects.
 */

#ifndef _NE_MISC_DEV_H_
#define _NE_MISC_DEV_H_

#include <linux/cpumask.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "ne_cpu_pool.h"

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
 * @node:             Entry in &ne_pci_dev.enclaves; protected by
 *                    &ne_pci_dev.enclaves_lock.
 * @ndev:             Device holding the enclave's slot; the enclave holds a
 *                    reference on it until the end of release.
 * @slot_uid:         Device slot, from SLOT_ALLOC. Constant.
 * @max_mem_ranges:   Physical ranges the device accepts for the slot, from
 *                    SLOT_ALLOC. Constant.
 * @mm:               Address space of the creator (mmgrab()ed, only compared
 *                    with current->mm). Constant.
 * @pool:             CPU pool geometry snapshot taken at creation. Constant.
 * @lock:             Serialises the enclave ioctls, the event worker, device
 *                    removal and release; protects every member below. Taken
 *                    after &ne_pci_dev.enclaves_lock, before the CPU pool
 *                    mutex and the device command lock.
 * @threads_per_core: Array of @pool.nr_cores masks: the threads of each core
 *                    reserved from the pool for this enclave.
 * @vcpu_ids:         Threads added to the slot as vCPUs.
 * @nr_vcpus:         Weight of @vcpu_ids.
 * @mem_regions:      User regions accepted (&struct ne_mem_region), with
 *                    their pinned pages.
 * @nr_mem_ranges:    Physical ranges added to the slot.
 * @mem_size:         Bytes of memory added to the slot.
 * @state:            NE_STATE_* or the last state the device reported.
 * @has_event:        The enclave exited or the device went away; poll then
 *                    reports EPOLLHUP. Never cleared.
 * @gone:             The device was removed: the slot no longer exists and
 *                    no command is sent for the enclave any more.
 * @eventq:           Pollers wait here for @has_event.
 */
struct ne_enclave {
	struct list_head node;
	struct ne_pci_dev *ndev;
	u64 slot_uid;
	u64 max_mem_ranges;
	struct mm_struct *mm;
	struct ne_cpu_pool_info pool;

	struct mutex lock;		/* all members below */
	cpumask_var_t *threads_per_core;
	cpumask_var_t vcpu_ids;
	unsigned int nr_vcpus;
	struct list_head mem_regions;
	u64 nr_mem_ranges;
	u64 mem_size;
	u16 state;
	bool has_event;
	bool gone;
	wait_queue_head_t eventq;
};

/* Provided by ne_misc_dev.c, called by ne_pci_dev.c. */
int ne_misc_dev_register(struct ne_pci_dev *ndev);
void ne_misc_dev_unregister(struct ne_pci_dev *ndev);
void ne_misc_dev_handle_event(struct ne_pci_dev *ndev);
void ne_misc_dev_device_gone(struct ne_pci_dev *ndev);

#endif /* _NE_MISC_DEV_H_ */
