// SPDX-License-Identifier: GPL-2.0
/*
 * Compile-time check of the Nitro Enclaves UAPI against the ABI contract:
 * every ioctl number, struct size and field offset, flag and NE_ERR code.
 * Build it against this tree's header (-I include/uapi first); if it
 * compiles, the ABI matches. Running it prints one TAP line.
 */

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include <linux/nitro_enclaves.h>

#define ABI_VALUE(name, value) \
	static_assert((unsigned long)(name) == (unsigned long)(value), \
		       #name " != " #value)

#define ABI_SIZE(type, size) \
	static_assert(sizeof(type) == (size), #type " not " #size " bytes")

#define ABI_OFFSET(type, field, off) \
	static_assert(offsetof(type, field) == (off), \
		       #type "." #field " not at " #off)

#define ABI_FIELD_SIZE(type, field, size) \
	static_assert(sizeof(((type *)0)->field) == (size), \
		       #type "." #field " not " #size " bytes")

/* ioctls: magic 0xAE, numbers 0x20-0x24, generic _IOC encoding. */
ABI_VALUE(NE_CREATE_VM, 0x8008AE20);
ABI_VALUE(NE_ADD_VCPU, 0xC004AE21);
ABI_VALUE(NE_GET_IMAGE_LOAD_INFO, 0xC010AE22);
ABI_VALUE(NE_SET_USER_MEMORY_REGION, 0x4018AE23);
ABI_VALUE(NE_START_ENCLAVE, 0xC010AE24);

/* struct ne_image_load_info: 16 bytes. */
ABI_SIZE(struct ne_image_load_info, 16);
ABI_OFFSET(struct ne_image_load_info, flags, 0);
ABI_FIELD_SIZE(struct ne_image_load_info, flags, 8);
ABI_OFFSET(struct ne_image_load_info, memory_offset, 8);
ABI_FIELD_SIZE(struct ne_image_load_info, memory_offset, 8);

/* struct ne_user_memory_region: 24 bytes. */
ABI_SIZE(struct ne_user_memory_region, 24);
ABI_OFFSET(struct ne_user_memory_region, flags, 0);
ABI_FIELD_SIZE(struct ne_user_memory_region, flags, 8);
ABI_OFFSET(struct ne_user_memory_region, memory_size, 8);
ABI_FIELD_SIZE(struct ne_user_memory_region, memory_size, 8);
ABI_OFFSET(struct ne_user_memory_region, userspace_addr, 16);
ABI_FIELD_SIZE(struct ne_user_memory_region, userspace_addr, 8);

/* struct ne_enclave_start_info: 16 bytes. */
ABI_SIZE(struct ne_enclave_start_info, 16);
ABI_OFFSET(struct ne_enclave_start_info, flags, 0);
ABI_FIELD_SIZE(struct ne_enclave_start_info, flags, 8);
ABI_OFFSET(struct ne_enclave_start_info, enclave_cid, 8);
ABI_FIELD_SIZE(struct ne_enclave_start_info, enclave_cid, 8);

/* Flags. */
ABI_VALUE(NE_EIF_IMAGE, 0x01);
ABI_VALUE(NE_IMAGE_LOAD_MAX_FLAG_VAL, 0x02);
ABI_VALUE(NE_DEFAULT_MEMORY_REGION, 0x00);
ABI_VALUE(NE_MEMORY_REGION_MAX_FLAG_VAL, 0x01);
ABI_VALUE(NE_ENCLAVE_PRODUCTION_MODE, 0x00);
ABI_VALUE(NE_ENCLAVE_DEBUG_MODE, 0x01);
ABI_VALUE(NE_ENCLAVE_START_MAX_FLAG_VAL, 0x02);

/* NE specific error codes. */
ABI_VALUE(NE_ERR_VCPU_ALREADY_USED, 256);
ABI_VALUE(NE_ERR_VCPU_NOT_IN_CPU_POOL, 257);
ABI_VALUE(NE_ERR_VCPU_INVALID_CPU_CORE, 258);
ABI_VALUE(NE_ERR_INVALID_MEM_REGION_SIZE, 259);
ABI_VALUE(NE_ERR_INVALID_MEM_REGION_ADDR, 260);
ABI_VALUE(NE_ERR_UNALIGNED_MEM_REGION_ADDR, 261);
ABI_VALUE(NE_ERR_MEM_REGION_ALREADY_USED, 262);
ABI_VALUE(NE_ERR_MEM_NOT_HUGE_PAGE, 263);
ABI_VALUE(NE_ERR_MEM_DIFFERENT_NUMA_NODE, 264);
ABI_VALUE(NE_ERR_MEM_MAX_REGIONS, 265);
ABI_VALUE(NE_ERR_NO_MEM_REGIONS_ADDED, 266);
ABI_VALUE(NE_ERR_NO_VCPUS_ADDED, 267);
ABI_VALUE(NE_ERR_ENCLAVE_MEM_MIN_SIZE, 268);
ABI_VALUE(NE_ERR_FULL_CORES_NOT_USED, 269);
ABI_VALUE(NE_ERR_NOT_IN_INIT_STATE, 270);
ABI_VALUE(NE_ERR_INVALID_VCPU, 271);
ABI_VALUE(NE_ERR_NO_CPUS_AVAIL_IN_POOL, 272);
ABI_VALUE(NE_ERR_INVALID_PAGE_SIZE, 273);
ABI_VALUE(NE_ERR_INVALID_FLAG_VALUE, 274);
ABI_VALUE(NE_ERR_INVALID_ENCLAVE_CID, 275);

int main(void)
{
	printf("TAP version 13\n");
	printf("1..1\n");
	printf("ok 1 - abi\n");
	return 0;
}
