// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The Nitro Enclaves driver authors.
 *
 * Nitro Enclaves enclave objects: NE_CREATE_VM's enclave file, its ioctls,
 * poll and release, the quarantine of slots the device did not confirm
 * freed, and the fan-out of device events to the enclaves. Memory pinning
 * lives in ne_mem.c and the CPU pool in ne_cpu_pool.c; only this file
 * touches enclave ioctl argument pointers.
 *
 * Launch path: NE_SET_USER_MEMORY_REGION validates and pins a region and
 * counts the physical ranges its pages add to the enclave's, merged across
 * regions, in registration order; NE_START_ENCLAVE builds the ranges from
 * the pinned pages and sends them (one SLOT_ADD_MEM per physically
 * contiguous extent), then ENCLAVE_START. A SLOT_ADD_MEM
 * failure therefore surfaces from NE_START_ENCLAVE, with the enclave still
 * in init state; a retry sends only the ranges the device has not accepted.
 * The legacy_per_page_mem debug knob restores one command per huge page at
 * registration time, for comparison.
 *
 * Locking:
 * - &ne_pci_dev.enclaves_lock protects the device's enclave list, the
 *   quarantine and the range limit SLOT_ALLOC last reported. It is never
 *   held while a device command runs or memory is pinned: create takes it
 *   to link a ready enclave, release to unlink it, the event worker to
 *   take references on the running enclaves, device removal to mark them
 *   gone (without commands), the status attributes to count and read.
 * - &ne_enclave.lock serialises everything about one enclave, including
 *   its pinning and the commands of its ioctls and release; other
 *   enclaves are not held up. Ioctls take it killably; poll() does not
 *   take it; the event worker try-locks it to start a SLOT_INFO, sends
 *   the command without it (&ne_enclave.info_busy keeps release from
 *   freeing the slot meanwhile) and takes it briefly to apply the answer.
 * - Order: enclaves_lock, then an enclave's lock (removal only), then the
 *   CPU pool mutex or the device command lock. The command lock is one
 *   per device (one mailbox) and is held only for one command.
 */

#include <kunit/visibility.h>
#include <linux/anon_inodes.h>
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/nitro_enclaves.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vm_sockets.h>

#include "ne_cpu_pool.h"
#include "ne_enclave.h"
#include "ne_mem.h"
#include "ne_pci_dev.h"

#define CREATE_TRACE_POINTS
#include "ne_trace.h"

/*
 * Debug knob (debugfs legacy_per_page_mem): send one SLOT_ADD_MEM per huge
 * page at NE_SET_USER_MEMORY_REGION, as Linux did before 5.17, instead of
 * merged ranges at start; for comparisons. Read at NE_CREATE_VM.
 */
static bool legacy_per_page_mem;

/**
 * ne_enclave_debugfs_init() - Add the enclave side's debug knobs.
 * @dir:	The driver's debugfs directory.
 *
 * legacy_per_page_mem (Y/N): enclaves created from then on send one
 * SLOT_ADD_MEM per huge page at registration, for comparisons.
 *
 * Context: Process context (module init).
 */
void ne_enclave_debugfs_init(struct dentry *dir)
{
	debugfs_create_bool("legacy_per_page_mem", 0600, dir,
			    &legacy_per_page_mem);
}

static struct device *ne_dev(struct ne_pci_dev *ndev)
{
	return &ndev->pdev->dev;
}

/* What each failed command means here, for the transport's log line. */
static const struct ne_cmd_failure ne_cmd_failures[MAX_CMD] = {
	[ENCLAVE_START] = {
		"NE_START_ENCLAVE fails, the enclave stays in init state",
		-EADDRINUSE, "the CID is in use: ask for another one or for 0",
	},
	[ENCLAVE_STOP] = {
		"the enclave may still run; SLOT_FREE follows and must succeed before its memory and CPUs are given back",
	},
	[SLOT_ALLOC] = {
		"NE_CREATE_VM fails",
		-ENOSPC, "every slot of the device is taken: close an enclave",
	},
	[SLOT_FREE] = {
		"unless the device no longer knows the slot (-ENOENT), its memory and CPUs are held back until the device confirms",
	},
	[SLOT_ADD_MEM] = {
		"the memory is refused, the enclave stays in init state",
		-EEXIST, "another enclave owns that memory: use other hugepages",
	},
	[SLOT_ADD_VCPU] = {
		"NE_ADD_VCPU fails",
		-EEXIST, "another enclave uses that CPU: pick a free one",
	},
	[SLOT_INFO] = {
		"the enclave's state is asked again shortly, so an exit may be reported late",
	},
};

/*
 * Durations reported by tracepoints: the clock is read only while the
 * tracepoint is on, so that a launch pays nothing for them otherwise. A
 * span that began before the tracepoint was turned on reports 0.
 */
static u64 ne_span_start(bool traced)
{
	return traced ? ktime_get_ns() : 0;
}

static u64 ne_span_ns(u64 t0)
{
	return t0 ? ktime_get_ns() - t0 : 0;
}

/*
 * Send a command about @slot_uid and trace it. Ioctls pass @killable: a
 * fatal signal then ends the wait for the mailbox (-EINTR, nothing sent).
 */
static int ne_enclave_cmd(struct ne_pci_dev *ndev, u64 slot_uid,
			  enum ne_pci_dev_cmd_type type, const void *req,
			  size_t req_size, struct ne_pci_dev_cmd_reply *reply,
			  bool killable)
{
	u64 t0 = ne_span_start(trace_ne_cmd_enabled());
	int rc;

	rc = ne_pci_dev_cmd(ndev, type, req, req_size, reply, killable,
			    &ne_cmd_failures[type]);
	trace_ne_cmd(type, slot_uid, rc, ne_span_ns(t0));

	return rc;
}

static struct ne_enclave *ne_enclave_alloc(struct ne_pci_dev *ndev,
					   const struct ne_cpu_pool_info *pool)
{
	struct ne_enclave *ne;

	ne = kzalloc(sizeof(*ne), GFP_KERNEL_ACCOUNT);
	if (!ne)
		return NULL;

	ne->pool = *pool;
	ne->threads_per_core = ne_core_masks_alloc(pool->nr_cores,
						   GFP_KERNEL_ACCOUNT);
	if (!ne->threads_per_core)
		goto free_enclave;

	if (!zalloc_cpumask_var(&ne->vcpu_ids, GFP_KERNEL_ACCOUNT))
		goto free_core_masks;

	kref_init(&ne->ref);
	INIT_LIST_HEAD(&ne->node);
	INIT_LIST_HEAD(&ne->event_node);
	mutex_init(&ne->lock);
	INIT_LIST_HEAD(&ne->mem_regions);
	init_waitqueue_head(&ne->eventq);
	ne->state = NE_STATE_INIT;
	ne->ndev = ndev;
	ne_pci_dev_get(ndev);

	return ne;

free_core_masks:
	ne_core_masks_free(ne->threads_per_core, pool->nr_cores);
free_enclave:
	kfree(ne);
	return NULL;
}

/* Free an enclave that holds no pages and no cores any more. */
static void ne_enclave_free(struct ne_enclave *ne)
{
	struct ne_pci_dev *ndev = ne->ndev;

	free_cpumask_var(ne->vcpu_ids);
	ne_core_masks_free(ne->threads_per_core, ne->pool.nr_cores);
	mutex_destroy(&ne->lock);
	kfree(ne);
	ne_pci_dev_put(ndev);
}

static void ne_enclave_release_ref(struct kref *ref)
{
	ne_enclave_free(container_of(ref, struct ne_enclave, ref));
}

static void ne_enclave_put(struct ne_enclave *ne)
{
	kref_put(&ne->ref, ne_enclave_release_ref);
}

/* Unpin every region and give every reserved core back to the pool. */
static void ne_enclave_put_resources(struct ne_enclave *ne)
{
	struct ne_mem_region *region, *tmp;
	unsigned int core;

	list_for_each_entry_safe(region, tmp, &ne->mem_regions, node) {
		list_del(&region->node);
		ne_mem_region_free(region);
	}

	for (core = 0; core < ne->pool.nr_cores; core++) {
		if (cpumask_empty(ne->threads_per_core[core]))
			continue;
		ne_cpu_pool_release_core(core, ne->threads_per_core[core]);
		cpumask_clear(ne->threads_per_core[core]);
	}
}

/*
 * The device no longer holds anything of a closed enclave: give its pages
 * and cores back and drop the reference its file held.
 */
static void ne_enclave_give_back(struct ne_enclave *ne)
{
	mutex_lock(&ne->lock);
	ne_enclave_put_resources(ne);
	mutex_unlock(&ne->lock);

	ne_cpu_pool_enclave_put();
	ne_enclave_put(ne);
}

/*
 * Stop the enclave if it may run, then free its slot. The transport logs
 * a failure. Only a freed slot, or one the device no longer knows
 * (-ENOENT), means that the device holds none of the enclave's memory or
 * CPUs any more.
 *
 * Return: true if the device confirmed that the slot is gone.
 */
static bool ne_enclave_free_slot(struct ne_enclave *ne)
{
	struct ne_pci_dev *ndev = ne->ndev;
	struct ne_pci_dev_cmd_reply reply;
	struct enclave_stop_req stop_req = {};
	struct slot_free_req free_req = {};
	int rc;

	lockdep_assert_held(&ne->lock);

	if (ne->state != NE_STATE_STOPPED &&
	    (ne->state != NE_STATE_INIT || ne->start_unsure)) {
		stop_req.slot_uid = ne->slot_uid;
		rc = ne_enclave_cmd(ndev, ne->slot_uid, ENCLAVE_STOP, &stop_req,
				    sizeof(stop_req), &reply, false);
		if (!rc)
			WRITE_ONCE(ne->state, NE_STATE_STOPPED);
	}

	free_req.slot_uid = ne->slot_uid;
	rc = ne_enclave_cmd(ndev, ne->slot_uid, SLOT_FREE, &free_req,
			    sizeof(free_req), &reply, false);

	return !rc || rc == -ENOENT;
}

/*
 * ne_enclave_quarantine() - Hold a closed enclave's resources back.
 *
 * The device has not confirmed that it freed the slot, so it may still
 * map the pages into an enclave or run vCPUs on the cores: they stay
 * pinned and reserved, on &ne_pci_dev.quarantine, until SLOT_FREE is
 * confirmed on a retry (ne_enclave_retry_quarantine()) or the device is
 * removed after a confirmed disable (ne_misc_dev_device_gone()). Each
 * quarantined slot holds a module reference, so the module cannot be
 * unloaded while it holds such resources. A device that went away
 * without confirming its disable keeps them until reboot.
 */
static void ne_enclave_quarantine(struct ne_enclave *ne, u64 mem_size,
				  unsigned int nr_cpus)
{
	struct ne_pci_dev *ndev = ne->ndev;
	bool reset, gone;

	mutex_lock(&ndev->enclaves_lock);
	gone = ndev->gone;
	reset = ndev->reset_confirmed;
	if (!reset) {
		/* Logged first: once listed, a retry may free the enclave. */
		if (gone)
			dev_warn_ratelimited(ne_dev(ndev), "slot %#llx: the NE device went away without confirming that it stopped: %llu MiB stay pinned and %u pool CPUs reserved until reboot\n",
					     ne->slot_uid, mem_size >> 20, nr_cpus);
		else
			dev_warn_ratelimited(ne_dev(ndev), "slot %#llx: the device did not confirm that it freed the slot: %llu MiB stay pinned and %u pool CPUs reserved until it does (asked again on device events and every 30 s; see quarantined_slots)\n",
					     ne->slot_uid, mem_size >> 20, nr_cpus);
		list_add_tail(&ne->node, &ndev->quarantine);
		ndev->nr_quarantined++;
		__module_get(THIS_MODULE);
		if (!gone)
			ne_pci_dev_retry_later(ndev);
	}
	mutex_unlock(&ndev->enclaves_lock);

	if (reset)
		ne_enclave_give_back(ne);
}

/*
 * Give back a quarantined enclave that the caller took off the quarantine
 * list. It counts as quarantined until its resources are back, so that
 * quarantined_slots reading 0 means that they are.
 */
static void ne_enclave_unquarantine(struct ne_enclave *ne)
{
	struct ne_pci_dev *ndev = ne->ndev;

	/* The enclave, and through it @ndev, outlives the give-back. */
	kref_get(&ne->ref);
	ne_enclave_give_back(ne);

	mutex_lock(&ndev->enclaves_lock);
	ndev->nr_quarantined--;
	mutex_unlock(&ndev->enclaves_lock);

	ne_enclave_put(ne);
	module_put(THIS_MODULE);
}

/* CPUs of the cores an enclave holds, for log lines. */
static unsigned int ne_enclave_nr_cpus(struct ne_enclave *ne)
{
	unsigned int core, nr = 0;

	for (core = 0; core < ne->pool.nr_cores; core++)
		nr += cpumask_weight(ne->threads_per_core[core]);

	return nr;
}

/*
 * Last close of an enclave file. The pinned pages and reserved cores are
 * given back only once the device has confirmed that it freed the slot,
 * or was reset; otherwise they are quarantined. When the device is gone no
 * command is sent at all. The enclave leaves the device's list first, so
 * the commands below hold up no other enclave; the event worker may still
 * hold a reference, but once @gone is set it starts no SLOT_INFO, and one
 * already in flight is waited for, in TASK_IDLE, before the slot is freed.
 */
static int ne_enclave_release(struct inode *inode, struct file *file)
{
	struct ne_enclave *ne = file->private_data;
	struct ne_pci_dev *ndev;
	bool freed = false, device_gone;
	unsigned int nr_cpus;
	u64 mem_size;

	/* Creation failed after the file was made: nothing to undo here. */
	if (!ne)
		return 0;

	ndev = ne->ndev;

	mutex_lock(&ndev->enclaves_lock);
	list_del_init(&ne->node);
	mutex_unlock(&ndev->enclaves_lock);

	/* From here on the event worker starts no SLOT_INFO for it. */
	mutex_lock(&ne->lock);
	device_gone = ne->gone;
	WRITE_ONCE(ne->gone, true);
	mutex_unlock(&ne->lock);

	/* One in flight must end before the slot is freed under it. */
	wait_event_idle(ne->eventq, !READ_ONCE(ne->info_busy));

	mutex_lock(&ne->lock);
	if (!device_gone)
		freed = ne_enclave_free_slot(ne);
	mem_size = ne->ranges.size;
	nr_cpus = ne_enclave_nr_cpus(ne);
	mutex_unlock(&ne->lock);

	mmdrop(ne->mm);

	if (freed)
		ne_enclave_give_back(ne);
	else
		ne_enclave_quarantine(ne, mem_size, nr_cpus);

	return 0;
}

static __poll_t ne_enclave_poll(struct file *file, poll_table *wait)
{
	struct ne_enclave *ne = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &ne->eventq, wait);

	/*
	 * No lock: the enclave lock may be held across pinning and device
	 * commands. has_event only ever goes from false to true, and is set
	 * before the wake-up that makes pollers look again.
	 */
	if (READ_ONCE(ne->has_event))
		mask = EPOLLHUP;

	return mask;
}

/*
 * Auto-pick: a spare thread of a held core, else the lowest free core.
 * *@new_core is the pool index of a core reserved for this vCPU, or -1.
 */
static int ne_enclave_pick_vcpu(struct ne_enclave *ne, u32 *vcpu_id,
				int *new_core)
{
	struct ne_pci_dev *ndev = ne->ndev;
	unsigned int core;
	unsigned int cpu;
	int rc;

	for (core = 0; core < ne->pool.nr_cores; core++) {
		for_each_cpu(cpu, ne->threads_per_core[core]) {
			if (!cpumask_test_cpu(cpu, ne->vcpu_ids)) {
				*vcpu_id = cpu;
				return 0;
			}
		}
	}

	rc = ne_cpu_pool_reserve_free_core(ne->threads_per_core);
	if (rc < 0) {
		dev_err_ratelimited(ne_dev(ndev), "NE_ADD_VCPU: no free core left in the CPU pool for vCPU id 0 (pick any): close an enclave, or add cores to ne_cpus while no enclave exists\n");
		return rc;
	}

	*vcpu_id = cpumask_first(ne->threads_per_core[rc]);
	*new_core = rc;

	return 0;
}

/*
 * Explicit id: a spare thread of a held core, else reserve its pool core.
 * *@new_core as for ne_enclave_pick_vcpu().
 */
static int ne_enclave_claim_vcpu(struct ne_enclave *ne, u32 vcpu_id,
				 int *new_core)
{
	struct ne_pci_dev *ndev = ne->ndev;
	unsigned int core;
	int rc;

	if (cpumask_test_cpu(vcpu_id, ne->vcpu_ids)) {
		dev_err_ratelimited(ne_dev(ndev), "NE_ADD_VCPU: CPU %u is already a vCPU of this enclave: add each CPU once\n",
				    vcpu_id);
		return -NE_ERR_VCPU_ALREADY_USED;
	}

	for (core = 0; core < ne->pool.nr_cores; core++) {
		if (cpumask_test_cpu(vcpu_id, ne->threads_per_core[core]))
			return 0;
	}

	rc = ne_cpu_pool_reserve_cpu_core(vcpu_id, ne->threads_per_core);
	if (rc < 0) {
		if (ne_cpu_pool_has_cpu(vcpu_id))
			dev_err_ratelimited(ne_dev(ndev), "NE_ADD_VCPU: CPU %u is in the CPU pool but another enclave holds its core: use a CPU of a free core (see pool_free_cores), or close that enclave\n",
					    vcpu_id);
		else
			dev_err_ratelimited(ne_dev(ndev), "NE_ADD_VCPU: CPU %u is not in the CPU pool: use a CPU listed in ne_cpus, or 0 to let the driver pick\n",
					    vcpu_id);
		return rc;
	}
	*new_core = rc;

	return 0;
}

static int ne_enclave_add_vcpu(struct ne_enclave *ne, u32 *vcpu_id)
{
	struct ne_pci_dev *ndev = ne->ndev;
	struct slot_add_vcpu_req req = {};
	struct ne_pci_dev_cmd_reply reply;
	int new_core = -1;
	int rc;

	lockdep_assert_held(&ne->lock);

	if (ne->gone) {
		dev_err_ratelimited(ne_dev(ndev), "NE_ADD_VCPU: the NE device of this enclave was removed: close the enclave\n");
		return -ENODEV;
	}

	if (ne->state != NE_STATE_INIT) {
		dev_err_ratelimited(ne_dev(ndev), "NE_ADD_VCPU: the enclave was already started (state %u): add vCPUs before NE_START_ENCLAVE\n",
				    ne->state);
		return -NE_ERR_NOT_IN_INIT_STATE;
	}

	if (*vcpu_id >= ne->pool.nr_cores * ne->pool.nr_threads_per_core) {
		dev_err_ratelimited(ne_dev(ndev), "NE_ADD_VCPU: vCPU id %u is beyond the last possible CPU %u: use a CPU listed in ne_cpus, or 0 to let the driver pick\n",
				    *vcpu_id,
				    ne->pool.nr_cores * ne->pool.nr_threads_per_core - 1);
		return -NE_ERR_INVALID_VCPU;
	}

	if (*vcpu_id)
		rc = ne_enclave_claim_vcpu(ne, *vcpu_id, &new_core);
	else
		rc = ne_enclave_pick_vcpu(ne, vcpu_id, &new_core);
	if (rc)
		return rc;

	if (current->mm != ne->mm) {
		dev_err_ratelimited(ne_dev(ndev), "NE_ADD_VCPU: the caller did not create the enclave: set it up from the process that did (not after fork() or fd passing)\n");
		rc = -EIO;
		goto put_new_core;
	}

	req.slot_uid = ne->slot_uid;
	req.vcpu_id = *vcpu_id;
	rc = ne_enclave_cmd(ndev, ne->slot_uid, SLOT_ADD_VCPU, &req,
			    sizeof(req), &reply, true);
	/* The device may have taken the vCPU after all: release decides. */
	if (ne_pci_dev_cmd_maybe_done(rc))
		return rc;
	if (rc)
		goto put_new_core;

	cpumask_set_cpu(*vcpu_id, ne->vcpu_ids);
	ne->nr_vcpus++;

	return 0;

put_new_core:
	/* A core reserved for this vCPU goes back to the pool. */
	if (new_core >= 0) {
		ne_cpu_pool_release_core(new_core, ne->threads_per_core[new_core]);
		cpumask_clear(ne->threads_per_core[new_core]);
	}
	return rc;
}

static long ne_ioctl_add_vcpu(struct ne_enclave *ne, u32 __user *uarg)
{
	u32 vcpu_id;
	int rc;

	if (copy_from_user(&vcpu_id, uarg, sizeof(vcpu_id))) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_ADD_VCPU: cannot read the vCPU id: pass a valid pointer to a __u32\n");
		return -EFAULT;
	}

	/* A fatal signal ends the wait for another call of this enclave. */
	if (mutex_lock_killable(&ne->lock))
		return -EINTR;
	rc = ne_enclave_add_vcpu(ne, &vcpu_id);
	mutex_unlock(&ne->lock);
	if (rc)
		return rc;

	if (copy_to_user(uarg, &vcpu_id, sizeof(vcpu_id))) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_ADD_VCPU: vCPU %u was added but its id cannot be written back: pass a writable pointer\n",
				    vcpu_id);
		return -EFAULT;
	}

	return 0;
}

static long ne_ioctl_get_image_load_info(struct ne_enclave *ne,
					 struct ne_image_load_info __user *uarg)
{
	struct ne_image_load_info info;
	bool gone;
	u16 state;

	if (copy_from_user(&info, uarg, sizeof(info))) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_GET_IMAGE_LOAD_INFO: cannot read the argument: pass a valid pointer to struct ne_image_load_info\n");
		return -EFAULT;
	}

	if (mutex_lock_killable(&ne->lock))
		return -EINTR;
	state = ne->state;
	gone = ne->gone;
	mutex_unlock(&ne->lock);

	if (gone) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_GET_IMAGE_LOAD_INFO: the NE device of this enclave was removed: close the enclave\n");
		return -ENODEV;
	}

	if (state != NE_STATE_INIT) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_GET_IMAGE_LOAD_INFO: the enclave was already started (state %u): load the image before NE_START_ENCLAVE\n",
				    state);
		return -NE_ERR_NOT_IN_INIT_STATE;
	}

	if (info.flags != NE_EIF_IMAGE) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_GET_IMAGE_LOAD_INFO: unknown image type %#llx: set flags to NE_EIF_IMAGE (1)\n",
				    info.flags);
		return -NE_ERR_INVALID_FLAG_VALUE;
	}

	info.memory_offset = NE_EIF_LOAD_OFFSET;

	if (copy_to_user(uarg, &info, sizeof(info))) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_GET_IMAGE_LOAD_INFO: cannot write the result back: pass a writable pointer\n");
		return -EFAULT;
	}

	return 0;
}

/*
 * Send the ranges the device does not hold yet, in order. Stops at the
 * first failure; the ranges sent so far stay sent, so a retry goes on
 * from there.
 */
static int ne_enclave_send_ranges(struct ne_enclave *ne)
{
	struct ne_mem_ranges *all = &ne->ranges;
	struct ne_pci_dev *ndev = ne->ndev;
	struct slot_add_mem_req req = {};
	struct ne_pci_dev_cmd_reply reply;
	unsigned int pending = all->nr - all->nr_sent;
	u64 t0 = ne_span_start(trace_ne_mem_send_enabled());
	struct ne_mem_pos pos = all->sent_pos;
	struct ne_phys_range range;
	int rc = 0;

	lockdep_assert_held(&ne->lock);

	req.slot_uid = ne->slot_uid;

	while (ne_mem_next_range(&ne->mem_regions, !ne->per_page_mem, &pos,
				 &range)) {
		req.paddr = range.start;
		req.size = range.size;

		rc = ne_enclave_cmd(ndev, ne->slot_uid, SLOT_ADD_MEM, &req,
				    sizeof(req), &reply, true);
		if (rc)
			break;

		all->sent_pos = pos;
		all->sent_size += range.size;
		all->nr_sent++;
	}

	trace_ne_mem_send(ne->slot_uid, pending,
			  pending - (all->nr - all->nr_sent), rc,
			  ne_span_ns(t0));

	return rc;
}

/*
 * Pin a region and add its physical ranges to the enclave's. The
 * max-regions rule applies to the merged ranges of all regions so far: a
 * region that would take them past the device's limit is refused and
 * nothing of it is kept.
 */
static int ne_enclave_add_mem(struct ne_enclave *ne,
			      const struct ne_user_memory_region *mem)
{
	struct ne_pci_dev *ndev = ne->ndev;
	bool merge = !ne->per_page_mem;
	struct ne_mem_region *region;
	struct ne_range_count count;
	unsigned int added;
	u64 t0;
	int rc;

	lockdep_assert_held(&ne->lock);

	if (ne->gone) {
		dev_err_ratelimited(ne_dev(ndev), "NE_SET_USER_MEMORY_REGION: the NE device of this enclave was removed: close the enclave\n");
		return -ENODEV;
	}

	if (ne->state != NE_STATE_INIT) {
		dev_err_ratelimited(ne_dev(ndev), "NE_SET_USER_MEMORY_REGION: the enclave was already started (state %u): add memory before NE_START_ENCLAVE\n",
				    ne->state);
		return -NE_ERR_NOT_IN_INIT_STATE;
	}

	if (current->mm != ne->mm) {
		dev_err_ratelimited(ne_dev(ndev), "NE_SET_USER_MEMORY_REGION: the caller did not create the enclave: set it up from the process that did (not after fork() or fd passing)\n");
		return -EIO;
	}

	rc = ne_mem_region_check(ne_dev(ndev), mem->userspace_addr,
				 mem->memory_size, &ne->mem_regions);
	if (rc)
		return rc;

	t0 = ne_span_start(trace_ne_mem_pin_enabled());
	rc = ne_mem_region_pin(ne_dev(ndev), mem->userspace_addr,
			       mem->memory_size, ne->pool.numa_node,
			       merge, &region, &count);
	trace_ne_mem_pin(ne->slot_uid, mem->userspace_addr, mem->memory_size,
			 rc ? 0 : count.nr, rc, ne_span_ns(t0));
	if (rc)
		return rc;

	added = ne_mem_ranges_needed(&ne->ranges, &count, merge);
	if ((u64)ne->ranges.nr + added > ne->max_mem_ranges) {
		dev_err_ratelimited(ne_dev(ndev), "NE_SET_USER_MEMORY_REGION: %u + %u memory ranges exceed the device's limit of %llu: use fewer, larger or contiguous regions (e.g. 1 GiB pages)\n",
				    ne->ranges.nr, added, ne->max_mem_ranges);
		ne_mem_region_free(region);
		return -NE_ERR_MEM_MAX_REGIONS;
	}

	ne_mem_ranges_add(&ne->ranges, &count, merge);
	trace_ne_mem_merge(ne->slot_uid, count.nr, added, ne->ranges.nr,
			   ne->ranges.nr_sent, ne->ranges.size);

	/* From here on the pages stay pinned until release. */
	list_add_tail(&region->node, &ne->mem_regions);

	if (ne->per_page_mem)
		return ne_enclave_send_ranges(ne);

	return 0;
}

static long ne_ioctl_set_user_memory_region(struct ne_enclave *ne,
					    struct ne_user_memory_region __user *uarg)
{
	struct ne_user_memory_region mem;
	int rc;

	if (copy_from_user(&mem, uarg, sizeof(mem))) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_SET_USER_MEMORY_REGION: cannot read the argument: pass a valid pointer to struct ne_user_memory_region\n");
		return -EFAULT;
	}

	if (mem.flags >= NE_MEMORY_REGION_MAX_FLAG_VAL) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_SET_USER_MEMORY_REGION: unknown flags %#llx: set flags to NE_DEFAULT_MEMORY_REGION (0)\n",
				    mem.flags);
		return -NE_ERR_INVALID_FLAG_VALUE;
	}

	/* A fatal signal ends the wait for another call of this enclave. */
	if (mutex_lock_killable(&ne->lock))
		return -EINTR;
	rc = ne_enclave_add_mem(ne, &mem);
	mutex_unlock(&ne->lock);

	return rc;
}

/*
 * Put a new enclave, its slot allocated, on the device's list. Only this
 * takes the list lock: SLOT_ALLOC ran without it. If the device went away
 * meanwhile, ne_enclave_device_gone() did not see the enclave: it is cut
 * off here instead, with an event for its pollers (EPOLLHUP).
 */
VISIBLE_IF_KUNIT void ne_enclave_link(struct ne_pci_dev *ndev,
				      struct ne_enclave *ne)
{
	mutex_lock(&ndev->enclaves_lock);
	if (ndev->gone) {
		ne->gone = true;
		ne->has_event = true;
	}
	list_add(&ne->node, &ndev->enclaves);
	ndev->max_mem_regions = ne->max_mem_ranges;
	mutex_unlock(&ndev->enclaves_lock);
}
EXPORT_SYMBOL_IF_KUNIT(ne_enclave_link);

/* Whether a CID may be asked for: 0 (device chooses) or a plain CID. */
VISIBLE_IF_KUNIT bool ne_enclave_cid_valid(u64 cid)
{
	if (cid == VMADDR_CID_LOCAL || cid == VMADDR_CID_HOST ||
	    cid == NE_PARENT_VM_CID || cid == VMADDR_CID_ANY)
		return false;

	return cid <= U32_MAX;
}
EXPORT_SYMBOL_IF_KUNIT(ne_enclave_cid_valid);

/*
 * A thread of a held core that was not added as a vCPU, or nr_cpu_ids if
 * every held core is fully used.
 */
static unsigned int ne_enclave_unused_thread(struct ne_enclave *ne)
{
	unsigned int core;
	unsigned int cpu;

	for (core = 0; core < ne->pool.nr_cores; core++) {
		for_each_cpu(cpu, ne->threads_per_core[core]) {
			if (!cpumask_test_cpu(cpu, ne->vcpu_ids))
				return cpu;
		}
	}

	return nr_cpu_ids;
}

static int ne_enclave_start(struct ne_enclave *ne,
			    struct ne_enclave_start_info *info)
{
	struct ne_pci_dev *ndev = ne->ndev;
	struct enclave_start_req req = {};
	struct ne_pci_dev_cmd_reply reply;
	unsigned int unused;
	int rc;

	lockdep_assert_held(&ne->lock);

	if (ne->gone) {
		dev_err_ratelimited(ne_dev(ndev), "NE_START_ENCLAVE: the NE device of this enclave was removed: close the enclave\n");
		return -ENODEV;
	}

	if (ne->state != NE_STATE_INIT) {
		dev_err_ratelimited(ne_dev(ndev), "NE_START_ENCLAVE: the enclave was already started (state %u): start a new enclave to run it again\n",
				    ne->state);
		return -NE_ERR_NOT_IN_INIT_STATE;
	}

	if (!ne->ranges.nr) {
		dev_err_ratelimited(ne_dev(ndev), "NE_START_ENCLAVE: no memory was added: add hugepage memory with NE_SET_USER_MEMORY_REGION first\n");
		return -NE_ERR_NO_MEM_REGIONS_ADDED;
	}

	if (ne->ranges.size < NE_MIN_ENCLAVE_MEM_SIZE) {
		dev_err_ratelimited(ne_dev(ndev), "NE_START_ENCLAVE: the enclave has %llu MiB of memory, it needs at least %u MiB: add more memory\n",
				    ne->ranges.size >> 20,
				    NE_MIN_ENCLAVE_MEM_SIZE >> 20);
		return -NE_ERR_ENCLAVE_MEM_MIN_SIZE;
	}

	if (!ne->nr_vcpus) {
		dev_err_ratelimited(ne_dev(ndev), "NE_START_ENCLAVE: no vCPU was added: add vCPUs with NE_ADD_VCPU first\n");
		return -NE_ERR_NO_VCPUS_ADDED;
	}

	unused = ne_enclave_unused_thread(ne);
	if (unused < nr_cpu_ids) {
		dev_err_ratelimited(ne_dev(ndev), "NE_START_ENCLAVE: CPU %u shares a core with a vCPU but is not one: add all threads of each core used (an even vCPU count on 2-thread cores)\n",
				    unused);
		return -NE_ERR_FULL_CORES_NOT_USED;
	}

	/* Memory goes to the device now, merged; a failure keeps INIT. */
	rc = ne_enclave_send_ranges(ne);
	if (rc)
		return rc;

	req.slot_uid = ne->slot_uid;
	req.enclave_cid = info->enclave_cid;
	req.flags = info->flags;
	rc = ne_enclave_cmd(ndev, ne->slot_uid, ENCLAVE_START, &req,
			    sizeof(req), &reply, true);
	if (rc) {
		/* The enclave may run: release stops it before freeing. */
		if (ne_pci_dev_cmd_maybe_done(rc))
			ne->start_unsure = true;
		return rc;
	}

	WRITE_ONCE(ne->state, NE_STATE_RUNNING);
	info->enclave_cid = reply.enclave_cid;

	return 0;
}

static long ne_ioctl_start_enclave(struct ne_enclave *ne,
				   struct ne_enclave_start_info __user *uarg)
{
	struct ne_enclave_start_info info;
	int rc;

	if (copy_from_user(&info, uarg, sizeof(info))) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_START_ENCLAVE: cannot read the argument: pass a valid pointer to struct ne_enclave_start_info\n");
		return -EFAULT;
	}

	if (info.flags >= NE_ENCLAVE_START_MAX_FLAG_VAL) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_START_ENCLAVE: unknown flags %#llx: use 0 (production) or NE_ENCLAVE_DEBUG_MODE (1)\n",
				    info.flags);
		return -NE_ERR_INVALID_FLAG_VALUE;
	}

	if (!ne_enclave_cid_valid(info.enclave_cid)) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_START_ENCLAVE: CID %llu is reserved or too large: pass 0 to let the device choose, or a CID from 4 to 4294967294\n",
				    info.enclave_cid);
		return -NE_ERR_INVALID_ENCLAVE_CID;
	}

	/* A fatal signal ends the wait for another call of this enclave. */
	if (mutex_lock_killable(&ne->lock))
		return -EINTR;
	rc = ne_enclave_start(ne, &info);
	mutex_unlock(&ne->lock);
	if (rc)
		return rc;

	if (copy_to_user(uarg, &info, sizeof(info))) {
		dev_err_ratelimited(ne_dev(ne->ndev), "NE_START_ENCLAVE: the enclave runs but its CID cannot be written back: pass a writable pointer; close the enclave fd to stop it\n");
		return -EFAULT;
	}

	return 0;
}

static long ne_enclave_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	struct ne_enclave *ne = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case NE_ADD_VCPU:
		return ne_ioctl_add_vcpu(ne, uarg);
	case NE_GET_IMAGE_LOAD_INFO:
		return ne_ioctl_get_image_load_info(ne, uarg);
	case NE_SET_USER_MEMORY_REGION:
		return ne_ioctl_set_user_memory_region(ne, uarg);
	case NE_START_ENCLAVE:
		return ne_ioctl_start_enclave(ne, uarg);
	default:
		dev_err_ratelimited(ne_dev(ne->ndev), "unknown ioctl %#x on an enclave fd: use NE_ADD_VCPU, NE_GET_IMAGE_LOAD_INFO, NE_SET_USER_MEMORY_REGION or NE_START_ENCLAVE here (64-bit callers only)\n",
				    cmd);
		return -ENOTTY;
	}
}

static const struct file_operations ne_enclave_fops = {
	.owner = THIS_MODULE,
	.llseek = noop_llseek,
	.poll = ne_enclave_poll,
	.unlocked_ioctl = ne_enclave_ioctl,
	.release = ne_enclave_release,
};

/* Ask the device for a slot and record it in the enclave. */
static int ne_enclave_alloc_slot(struct ne_enclave *ne)
{
	struct ne_pci_dev *ndev = ne->ndev;
	struct ne_pci_dev_cmd_reply reply;
	struct slot_alloc_req req = {};
	int rc;

	rc = ne_enclave_cmd(ndev, 0, SLOT_ALLOC, &req, sizeof(req), &reply,
			    true);
	if (rc)
		return rc;

	ne->slot_uid = reply.slot_uid;
	ne->max_mem_ranges = reply.mem_regions;

	return 0;
}

/**
 * ne_enclave_create() - NE_CREATE_VM: a new enclave and its file.
 * @ndev: The device to allocate the slot on.
 * @uarg: User pointer to the __u64 that receives the slot uid.
 *
 * Takes a pool reference (fails if no pool core is free), allocates a
 * device slot and returns a new "ne-vm" file descriptor that owns the
 * enclave; its release frees the slot.
 *
 * Context: Process context; sends SLOT_ALLOC (killably) and takes the
 * device's enclaves lock.
 * Return: the new file descriptor, or a negative errno or -NE_ERR_*:
 * -ENODEV if the device was removed, -NE_ERR_NO_CPUS_AVAIL_IN_POOL,
 * -ENOMEM, -EMFILE/-ENFILE, -EFAULT, or what SLOT_ALLOC failed with.
 */
long ne_enclave_create(struct ne_pci_dev *ndev, u64 __user *uarg)
{
	struct ne_cpu_pool_status status;
	struct ne_cpu_pool_info pool;
	struct ne_enclave *ne;
	struct file *file;
	u64 slot_uid;
	int fd;
	int rc;

	/* A misc file opened before the device was removed. */
	if (READ_ONCE(ndev->removed)) {
		dev_err_ratelimited(ne_dev(ndev), "NE_CREATE_VM: the NE device was removed: close this file and reopen /dev/nitro_enclaves once the device is back\n");
		return -ENODEV;
	}

	rc = ne_cpu_pool_enclave_get(&pool);
	if (rc) {
		ne_cpu_pool_get_status(&status, NULL);
		if (!status.nr_cores)
			dev_err_ratelimited(ne_dev(ndev), "NE_CREATE_VM: no CPU pool is configured: write a cpu-list of whole cores to /sys/module/nitro_enclaves/parameters/ne_cpus\n");
		else
			dev_err_ratelimited(ne_dev(ndev), "NE_CREATE_VM: every core of the CPU pool (%u) is held by an enclave: close an enclave, or enlarge ne_cpus while no enclave exists\n",
					    status.nr_cores);
		return rc;
	}

	ne = ne_enclave_alloc(ndev, &pool);
	if (!ne) {
		rc = -ENOMEM;
		goto put_pool;
	}

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		rc = fd;
		dev_err_ratelimited(ne_dev(ndev), "NE_CREATE_VM: no file descriptor left for the enclave (%d): close files or raise RLIMIT_NOFILE\n",
				    rc);
		goto free_enclave;
	}

	file = anon_inode_getfile("ne-vm", &ne_enclave_fops, ne, O_RDWR);
	if (IS_ERR(file)) {
		rc = PTR_ERR(file);
		dev_err_ratelimited(ne_dev(ndev), "NE_CREATE_VM: cannot create the enclave file (%d): check the system-wide file limit (fs.file-max) and free memory\n",
				    rc);
		goto put_fd;
	}

	rc = ne_enclave_alloc_slot(ne);
	if (rc)
		goto detach_file;

	ne->per_page_mem = READ_ONCE(legacy_per_page_mem);
	ne->mm = current->mm;
	mmgrab(ne->mm);
	slot_uid = ne->slot_uid;

	ne_enclave_link(ndev, ne);

	/* The file owns the enclave now: its release frees the slot. */
	if (copy_to_user(uarg, &slot_uid, sizeof(slot_uid))) {
		dev_err_ratelimited(ne_dev(ndev), "NE_CREATE_VM: cannot write the slot uid, the enclave is dropped: pass a valid pointer to a __u64\n");
		fput(file);
		put_unused_fd(fd);
		return -EFAULT;
	}

	fd_install(fd, file);

	return fd;

detach_file:
	/* Release must not find the enclave freed below. */
	file->private_data = NULL;
	fput(file);
put_fd:
	put_unused_fd(fd);
free_enclave:
	ne_enclave_free(ne);
put_pool:
	ne_cpu_pool_enclave_put();
	return rc;
}

/*
 * Ask the device about a running enclave; wake its pollers on a change.
 * The enclave lock is not held across SLOT_INFO, so that neither release
 * nor an ioctl waits for the command in D state; @info_busy stands for it
 * instead: release waits for it to clear before it frees the slot, and no
 * SLOT_INFO starts once release has marked the enclave gone. A lock held
 * by someone else right now makes the caller try again a little later.
 */
static int ne_enclave_refresh_state(struct ne_enclave *ne)
{
	struct ne_pci_dev *ndev = ne->ndev;
	struct ne_pci_dev_cmd_reply reply;
	struct slot_info_req req = {};
	bool wake;
	int rc;

	if (READ_ONCE(ne->gone) || READ_ONCE(ne->state) != NE_STATE_RUNNING)
		return 0;

	if (!mutex_trylock(&ne->lock))
		return -EAGAIN;
	if (ne->gone || ne->state != NE_STATE_RUNNING) {
		mutex_unlock(&ne->lock);
		return 0;
	}
	ne->info_busy = true;
	mutex_unlock(&ne->lock);

	req.slot_uid = ne->slot_uid;
	rc = ne_enclave_cmd(ndev, ne->slot_uid, SLOT_INFO, &req, sizeof(req),
			    &reply, false);

	/* Not held long by anyone now: release waits for @info_busy. */
	mutex_lock(&ne->lock);
	wake = ne->gone;
	if (!rc && ne->state == NE_STATE_RUNNING &&
	    reply.state != ne->state) {
		WRITE_ONCE(ne->state, reply.state);
		WRITE_ONCE(ne->has_event, true);
		wake = true;
	}
	WRITE_ONCE(ne->info_busy, false);
	mutex_unlock(&ne->lock);

	/* Pollers see the new state; a waiting release, that it may go on. */
	if (wake)
		wake_up(&ne->eventq);

	return rc;
}

/*
 * Ask the device again to free the slots of quarantined enclaves; give
 * back the resources of each one it confirms.
 * Return: true if some enclave is still quarantined.
 */
static bool ne_enclave_retry_quarantine(struct ne_pci_dev *ndev)
{
	struct ne_enclave *ne, *tmp;
	LIST_HEAD(snapshot);
	bool freed, mine, left;

	mutex_lock(&ndev->enclaves_lock);
	if (!ndev->gone) {
		list_for_each_entry(ne, &ndev->quarantine, node) {
			kref_get(&ne->ref);
			list_add_tail(&ne->event_node, &snapshot);
		}
	}
	mutex_unlock(&ndev->enclaves_lock);

	list_for_each_entry_safe(ne, tmp, &snapshot, event_node) {
		list_del_init(&ne->event_node);

		mutex_lock(&ne->lock);
		freed = ne_enclave_free_slot(ne);
		mutex_unlock(&ne->lock);

		/* Device removal may have taken it off the list meanwhile. */
		mine = false;
		if (freed) {
			mutex_lock(&ndev->enclaves_lock);
			if (!list_empty(&ne->node)) {
				list_del_init(&ne->node);
				mine = true;
			}
			mutex_unlock(&ndev->enclaves_lock);
		}

		if (mine) {
			dev_info_ratelimited(ne_dev(ndev), "slot %#llx: the device confirmed that it freed the slot: its memory and CPUs are given back\n",
					     ne->slot_uid);
			ne_enclave_unquarantine(ne);
		}
		ne_enclave_put(ne);
	}

	mutex_lock(&ndev->enclaves_lock);
	left = !ndev->gone && !list_empty(&ndev->quarantine);
	mutex_unlock(&ndev->enclaves_lock);

	return left;
}

/**
 * ne_enclave_handle_event() - Refresh the state of running enclaves.
 * @ndev: The device that raised the event.
 *
 * Asks the device with SLOT_INFO about every running enclave. An enclave
 * whose reported state differs gets the new state and wakes its pollers,
 * who see EPOLLHUP. If SLOT_INFO fails the enclave is left as it is, and
 * the caller is told to ask again later: the event may have been its exit.
 * Then asks again to free the slots of quarantined enclaves.
 *
 * The enclave list is only held to take a reference on each running
 * enclave; the commands are sent afterwards, without any lock held, so
 * creating and releasing enclaves does not wait for them. The lock of an
 * enclave that is not running is never taken: it may be held for long
 * while its memory is pinned. That of a running one is only try-locked;
 * if it is busy, the caller is told to ask again.
 *
 * Context: Process context: the event work item, of which only one runs
 * at a time (ordered workqueue). Takes the enclaves lock, then each
 * enclave's lock separately, and sends device commands.
 *
 * Return: true if a SLOT_INFO failed for another reason than the device
 * being gone, so that a later call may see a change this one missed, or
 * if an enclave is still quarantined; false otherwise.
 */
bool ne_enclave_handle_event(struct ne_pci_dev *ndev)
{
	struct ne_enclave *ne, *tmp;
	LIST_HEAD(snapshot);
	bool retry = false;
	int rc;

	mutex_lock(&ndev->enclaves_lock);
	list_for_each_entry(ne, &ndev->enclaves, node) {
		if (READ_ONCE(ne->state) != NE_STATE_RUNNING ||
		    READ_ONCE(ne->gone))
			continue;
		kref_get(&ne->ref);
		list_add_tail(&ne->event_node, &snapshot);
	}
	mutex_unlock(&ndev->enclaves_lock);

	list_for_each_entry_safe(ne, tmp, &snapshot, event_node) {
		list_del_init(&ne->event_node);
		rc = ne_enclave_refresh_state(ne);
		if (rc && rc != -ENODEV)
			retry = true;
		ne_enclave_put(ne);
	}

	if (ne_enclave_retry_quarantine(ndev))
		retry = true;

	return retry;
}

/**
 * ne_enclave_device_gone() - Cut every enclave off a removed device.
 * @ndev:		The device being removed; commands to it already fail.
 * @reset_confirmed:	The device confirmed its disable, so it holds no
 *			enclave's memory or CPUs any more.
 *
 * Marks every enclave gone and wakes its pollers (EPOLLHUP). Later ioctls
 * that need the device fail with -ENODEV, and release sends no command.
 * With @reset_confirmed, quarantined enclaves get their resources back
 * now and open ones at release; without it, they keep them until reboot.
 * Nothing is queued on the device's workqueue after this.
 *
 * Context: Process context. Takes the enclaves lock and each enclave's lock.
 */
void ne_enclave_device_gone(struct ne_pci_dev *ndev, bool reset_confirmed)
{
	struct ne_enclave *ne, *tmp;
	LIST_HEAD(freed);

	mutex_lock(&ndev->enclaves_lock);

	ndev->gone = true;
	ndev->reset_confirmed = reset_confirmed;

	list_for_each_entry(ne, &ndev->enclaves, node) {
		mutex_lock(&ne->lock);
		WRITE_ONCE(ne->gone, true);
		WRITE_ONCE(ne->has_event, true);
		wake_up_interruptible(&ne->eventq);
		mutex_unlock(&ne->lock);
	}

	if (reset_confirmed) {
		list_splice_init(&ndev->quarantine, &freed);
	} else {
		list_for_each_entry(ne, &ndev->quarantine, node)
			dev_warn_ratelimited(ne_dev(ndev), "slot %#llx: the NE device went away without confirming that it stopped: the slot's memory stays pinned and its pool CPUs reserved until reboot\n",
					     ne->slot_uid);
	}

	mutex_unlock(&ndev->enclaves_lock);

	list_for_each_entry_safe(ne, tmp, &freed, node) {
		list_del_init(&ne->node);
		ne_enclave_unquarantine(ne);
	}
}
