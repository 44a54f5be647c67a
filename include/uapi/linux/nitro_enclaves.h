/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Copyright (C) 2026 The Nitro Enclaves driver authors.
 */

#ifndef _UAPI_LINUX_NITRO_ENCLAVES_H_
#define _UAPI_LINUX_NITRO_ENCLAVES_H_

#include <linux/types.h>

/**
 * DOC: Nitro Enclaves (NE) user space interface
 *
 * A launcher opens /dev/nitro_enclaves and issues NE_CREATE_VM, which
 * allocates an enclave slot in the device and returns a new enclave file
 * descriptor. The enclave is then set up through that descriptor: vCPUs
 * (NE_ADD_VCPU), the image placement (NE_GET_IMAGE_LOAD_INFO) and memory
 * backed by huge pages (NE_SET_USER_MEMORY_REGION). NE_START_ENCLAVE boots
 * it. poll() on the enclave descriptor reports EPOLLHUP once the enclave
 * has gone away; closing the last reference stops the enclave and frees
 * its slot.
 *
 * Failures are reported through errno. Besides the usual errno values the
 * ioctls use the NE_ERR_* codes below (256 and up), which strerror() does
 * not know. A negative status returned by the device is passed through as
 * it is.
 *
 * This header uses the _IO* macros but does not define them: include
 * <sys/ioctl.h> or <linux/ioctl.h> first.
 */

/* ioctl magic 0xAE, numbers 0x20 to 0x3F (0xAE is shared with KVM). */

/**
 * NE_CREATE_VM - Create an enclave and get its file descriptor.
 *
 * Issued on the /dev/nitro_enclaves descriptor. The argument points to a
 * __u64 that receives the slot uid the device gave to the new enclave.
 * The enclave takes its vCPUs from the CPU pool set through the ne_cpus
 * module parameter, so a pool with at least one free core is needed.
 *
 * Context: Process context. Sleeps while the device allocates the slot.
 * Return:
 * * The new enclave file descriptor (opened read-write, close-on-exec).
 * * -1 with errno set to:
 * * NE_ERR_NO_CPUS_AVAIL_IN_POOL - no pool, or every pool core is taken.
 * * EFAULT - the slot uid could not be written back; no descriptor is
 *   installed and the slot is released again.
 * * ENOMEM - out of memory.
 * * EMFILE, ENFILE - no descriptor or file available.
 * * ETIMEDOUT - the device did not answer in time.
 * * ENODEV - the device went away.
 * * another value - the status reported by the device.
 */
#define NE_CREATE_VM			_IOR(0xAE, 0x20, __u64)

/**
 * NE_ADD_VCPU - Give a CPU from the pool to the enclave as a vCPU.
 *
 * Issued on an enclave descriptor. The argument points to a __u32 CPU id.
 * 0 asks the driver to pick one: first a thread of a core the enclave
 * already holds, otherwise a thread of a free pool core. On success the id
 * actually used is written back. Whole cores are taken from the pool, and
 * every thread of a core the enclave holds must become a vCPU before the
 * enclave can start.
 *
 * Context: Process context. Sleeps while the device adds the vCPU.
 * Return:
 * * 0 on success.
 * * -1 with errno set to:
 * * NE_ERR_NOT_IN_INIT_STATE - the enclave was already started.
 * * NE_ERR_INVALID_VCPU - the id is beyond the CPUs the pool can hold.
 * * NE_ERR_VCPU_ALREADY_USED - the id is already a vCPU of this enclave.
 * * NE_ERR_VCPU_NOT_IN_CPU_POOL - the id is not a free CPU of the pool.
 * * NE_ERR_VCPU_INVALID_CPU_CORE - the id maps to no valid pool core.
 * * NE_ERR_NO_CPUS_AVAIL_IN_POOL - id 0 was given and no CPU is free.
 * * EIO - the caller is not the process that created the enclave.
 * * EFAULT - the argument could not be read or written back.
 * * ETIMEDOUT, ENODEV or the device's status - the device refused or
 *   did not answer.
 */
#define NE_ADD_VCPU			_IOWR(0xAE, 0x21, __u32)

/**
 * NE_GET_IMAGE_LOAD_INFO - Ask where the enclave image must be placed.
 *
 * Issued on an enclave descriptor with a &struct ne_image_load_info. The
 * caller sets @flags to the image type; the driver fills in the offset,
 * within the enclave memory, at which the image has to be written.
 *
 * Context: Process context. Does not talk to the device.
 * Return:
 * * 0 on success.
 * * -1 with errno set to:
 * * NE_ERR_NOT_IN_INIT_STATE - the enclave was already started.
 * * NE_ERR_INVALID_FLAG_VALUE - the image type is not supported.
 * * EFAULT - the argument could not be read or written back.
 */
#define NE_GET_IMAGE_LOAD_INFO		_IOWR(0xAE, 0x22, struct ne_image_load_info)

/**
 * NE_SET_USER_MEMORY_REGION - Give a range of the caller's memory to the
 *			       enclave.
 *
 * Issued on an enclave descriptor with a &struct ne_user_memory_region.
 * The range must be backed by huge pages (hugetlbfs) of a multiple of
 * 2 MiB, on the NUMA node of the CPU pool, and both its start and its size
 * must be multiples of 2 MiB, and it must cover whole huge pages. The
 * pages stay pinned until the enclave is released; the caller keeps its
 * mapping. The memory is handed to the device only by NE_START_ENCLAVE,
 * as physically contiguous ranges merged across all regions, in the
 * order the regions were given.
 *
 * Context: Process context. Sleeps while pinning pages; does not talk to
 * the device.
 * Return:
 * * 0 on success.
 * * -1 with errno set to:
 * * NE_ERR_INVALID_FLAG_VALUE - unknown region flags.
 * * NE_ERR_NOT_IN_INIT_STATE - the enclave was already started.
 * * NE_ERR_INVALID_MEM_REGION_SIZE - the size is not a multiple of 2 MiB.
 * * NE_ERR_UNALIGNED_MEM_REGION_ADDR - the start is not 2 MiB aligned.
 * * NE_ERR_INVALID_MEM_REGION_ADDR - the range is not valid user memory.
 * * NE_ERR_MEM_REGION_ALREADY_USED - the range overlaps one given before.
 * * NE_ERR_MEM_NOT_HUGE_PAGE - some memory is not a hugetlbfs page.
 * * NE_ERR_INVALID_PAGE_SIZE - a huge page is not a multiple of 2 MiB,
 *   or the range covers only part of a huge page.
 * * NE_ERR_MEM_DIFFERENT_NUMA_NODE - a page is on another NUMA node.
 * * NE_ERR_MEM_MAX_REGIONS - with this region, the merged ranges would be
 *   more than the device takes for one enclave.
 * * EIO - the caller is not the process that created the enclave.
 * * EFAULT - the argument could not be read, or a page could not be
 *   pinned (other pinning errors are passed through as well).
 * * ENOMEM - out of memory.
 * * EINVAL - a physical range is not 2 MiB aligned.
 * * ENODEV - the NE device was removed.
 *
 * A zero size fails with NE_ERR_INVALID_MEM_REGION_SIZE.
 */
#define NE_SET_USER_MEMORY_REGION	_IOW(0xAE, 0x23, struct ne_user_memory_region)

/**
 * NE_START_ENCLAVE - Start the enclave.
 *
 * Issued on an enclave descriptor with a &struct ne_enclave_start_info.
 * The enclave needs at least 64 MiB of memory and all threads of every
 * core it holds as vCPUs. On success the vsock CID the enclave got is
 * written back; from then on no more resources can be added. The memory
 * given with NE_SET_USER_MEMORY_REGION is sent to the device first; if
 * the device refuses part of it, the enclave stays in init state and a
 * later NE_START_ENCLAVE sends only what the device has not taken yet.
 *
 * Context: Process context. Sleeps while the device takes the memory and
 * starts the enclave.
 * Return:
 * * 0 on success.
 * * -1 with errno set to:
 * * NE_ERR_INVALID_FLAG_VALUE - unknown start flags.
 * * NE_ERR_INVALID_ENCLAVE_CID - a reserved or out of range CID.
 * * NE_ERR_NOT_IN_INIT_STATE - the enclave was already started.
 * * NE_ERR_NO_MEM_REGIONS_ADDED - no memory was added.
 * * NE_ERR_ENCLAVE_MEM_MIN_SIZE - less than 64 MiB of memory was added.
 * * NE_ERR_NO_VCPUS_ADDED - no vCPU was added.
 * * NE_ERR_FULL_CORES_NOT_USED - a thread of a held core is not a vCPU.
 * * EFAULT - the argument could not be read or written back (in the
 *   latter case the enclave is running).
 * * ETIMEDOUT, ENODEV or the device's status - the device refused or
 *   did not answer, when adding the memory or when starting.
 */
#define NE_START_ENCLAVE		_IOWR(0xAE, 0x24, struct ne_enclave_start_info)

/**
 * DOC: NE specific error codes
 *
 * These values are returned in errno by the ioctls above. They start at
 * 256 so they cannot be confused with the standard errno values.
 */

/* NE_ADD_VCPU: the CPU is already a vCPU of this enclave. */
#define NE_ERR_VCPU_ALREADY_USED		(256)
/* NE_ADD_VCPU: the CPU is not a free CPU of the pool. */
#define NE_ERR_VCPU_NOT_IN_CPU_POOL		(257)
/* NE_ADD_VCPU: the CPU belongs to no valid core of the pool. */
#define NE_ERR_VCPU_INVALID_CPU_CORE		(258)
/* NE_SET_USER_MEMORY_REGION: the size is not a multiple of 2 MiB. */
#define NE_ERR_INVALID_MEM_REGION_SIZE		(259)
/* NE_SET_USER_MEMORY_REGION: the range is not valid user memory. */
#define NE_ERR_INVALID_MEM_REGION_ADDR		(260)
/* NE_SET_USER_MEMORY_REGION: the start is not 2 MiB aligned. */
#define NE_ERR_UNALIGNED_MEM_REGION_ADDR	(261)
/* NE_SET_USER_MEMORY_REGION: the range overlaps one added before. */
#define NE_ERR_MEM_REGION_ALREADY_USED		(262)
/* NE_SET_USER_MEMORY_REGION: the memory is not backed by hugetlbfs. */
#define NE_ERR_MEM_NOT_HUGE_PAGE		(263)
/* NE_SET_USER_MEMORY_REGION: the memory is on another NUMA node. */
#define NE_ERR_MEM_DIFFERENT_NUMA_NODE		(264)
/* NE_SET_USER_MEMORY_REGION: the device takes no more ranges. */
#define NE_ERR_MEM_MAX_REGIONS			(265)
/* NE_START_ENCLAVE: no memory was added. */
#define NE_ERR_NO_MEM_REGIONS_ADDED		(266)
/* NE_START_ENCLAVE: no vCPU was added. */
#define NE_ERR_NO_VCPUS_ADDED			(267)
/* NE_START_ENCLAVE: less than the minimum memory was added. */
#define NE_ERR_ENCLAVE_MEM_MIN_SIZE		(268)
/* NE_START_ENCLAVE: a thread of a held core is not a vCPU. */
#define NE_ERR_FULL_CORES_NOT_USED		(269)
/* Enclave ioctls: the enclave is no longer being set up. */
#define NE_ERR_NOT_IN_INIT_STATE		(270)
/* NE_ADD_VCPU: the CPU id is out of range. */
#define NE_ERR_INVALID_VCPU			(271)
/* NE_CREATE_VM, NE_ADD_VCPU: the CPU pool has no free CPU. */
#define NE_ERR_NO_CPUS_AVAIL_IN_POOL		(272)
/* NE_SET_USER_MEMORY_REGION: a page is not a multiple of 2 MiB. */
#define NE_ERR_INVALID_PAGE_SIZE		(273)
/* NE_GET_IMAGE_LOAD_INFO, NE_SET_USER_MEMORY_REGION, NE_START_ENCLAVE. */
#define NE_ERR_INVALID_FLAG_VALUE		(274)
/* NE_START_ENCLAVE: the requested CID cannot be used. */
#define NE_ERR_INVALID_ENCLAVE_CID		(275)

/* Image types for &struct ne_image_load_info.flags. */

/* The image is in the Enclave Image Format (EIF). */
#define NE_EIF_IMAGE			(0x01)
/* Image types are below this value. */
#define NE_IMAGE_LOAD_MAX_FLAG_VAL	(0x02)

/**
 * struct ne_image_load_info - Where to place the enclave image.
 * @flags:		Image type, set by the caller (NE_EIF_IMAGE).
 * @memory_offset:	Offset in the enclave memory at which the image
 *			starts, set by the driver.
 */
struct ne_image_load_info {
	__u64	flags;
	__u64	memory_offset;
};

/* Region types for &struct ne_user_memory_region.flags. */

/* Memory for general use by the enclave. */
#define NE_DEFAULT_MEMORY_REGION	(0x00)
/* Region types are below this value. */
#define NE_MEMORY_REGION_MAX_FLAG_VAL	(0x01)

/**
 * struct ne_user_memory_region - A range of the caller's memory for the
 *				  enclave.
 * @flags:		Region type (NE_DEFAULT_MEMORY_REGION).
 * @memory_size:	Size in bytes, a multiple of 2 MiB.
 * @userspace_addr:	Start address in the caller, 2 MiB aligned.
 */
struct ne_user_memory_region {
	__u64	flags;
	__u64	memory_size;
	__u64	userspace_addr;
};

/* Start modes for &struct ne_enclave_start_info.flags. */

/* A production enclave: no console. */
#define NE_ENCLAVE_PRODUCTION_MODE	(0x00)
/* A debug enclave: its console can be read from the parent. */
#define NE_ENCLAVE_DEBUG_MODE		(0x01)
/* Start modes are below this value. */
#define NE_ENCLAVE_START_MAX_FLAG_VAL	(0x02)

/**
 * struct ne_enclave_start_info - How to start the enclave.
 * @flags:		Start mode, NE_ENCLAVE_PRODUCTION_MODE or
 *			NE_ENCLAVE_DEBUG_MODE.
 * @enclave_cid:	vsock CID wanted for the enclave, 0 to let the
 *			device choose; on success the CID the enclave got.
 */
struct ne_enclave_start_info {
	__u64	flags;
	__u64	enclave_cid;
};

#endif /* _UAPI_LINUX_NITRO_ENCLAVES_H_ */
