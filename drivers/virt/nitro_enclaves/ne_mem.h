/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Nitro Enclaves memory: pinning hugetlb-backed user regions and merging
 * their physical pages into ranges for the device.
 */

#ifndef _NE_MEM_H_
#define _NE_MEM_H_

#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/sizes.h>
#include <linux/types.h>

/* Size and alignment granule of regions, pages and physical ranges. */
#define NE_MIN_MEM_REGION_SIZE	(SZ_2M)

/**
 * struct ne_mem_region - A user memory region accepted for an enclave.
 * @node:           Entry in the enclave's region list.
 * @userspace_addr: Start of the region in the creator's address space.
 * @memory_size:    Size of the region in bytes.
 * @pages:          Pinned huge pages backing the region, by their head
 *                  page, in address order; they stay pinned until the
 *                  enclave's resources are given back.
 * @nr_pages:       Entries of @pages: huge pages of the region.
 */
struct ne_mem_region {
	struct list_head node;
	u64 userspace_addr;
	u64 memory_size;
	struct page **pages;
	unsigned long nr_pages;
};

/**
 * struct ne_phys_range - A physically contiguous range of enclave memory.
 * @start: Physical start address.
 * @size:  Length in bytes.
 */
struct ne_phys_range {
	u64 start;
	u64 size;
};

/**
 * struct ne_phys_ranges - Physical ranges built from one region.
 * @ranges:   Array of @capacity entries, the first @nr used.
 * @nr:       Ranges in use.
 * @capacity: Entries allocated.
 */
struct ne_phys_ranges {
	struct ne_phys_range *ranges;
	unsigned int nr;
	unsigned int capacity;
};

/**
 * struct ne_mem_ranges - All physical ranges of an enclave, in the order
 *                        the device must receive them.
 * @ranges:   Array of @capacity entries, the first @nr used. Entry i
 *            follows entry i - 1 in the enclave's memory.
 * @nr:       Ranges built from the regions registered so far.
 * @nr_sent:  Leading ranges the device has accepted (SLOT_ADD_MEM). They
 *            are never merged into again: a sent range is final.
 * @capacity: Entries allocated; grows on demand.
 * @size:     Bytes in all ranges, also those that
 *            ne_mem_ranges_forget_sent() dropped.
 * @sent_size: Bytes in the first @nr_sent ranges.
 *
 * Regions are merged across registrations: a region whose first page
 * starts where the last, not yet sent, range ends extends that range.
 * The caller serialises all access (the enclave lock).
 */
struct ne_mem_ranges {
	struct ne_phys_range *ranges;
	unsigned int nr;
	unsigned int nr_sent;
	unsigned int capacity;
	u64 size;
	u64 sent_size;
};

bool ne_mem_regions_overlap(u64 start_a, u64 size_a, u64 start_b, u64 size_b);
int ne_mem_merge_phys_range(struct ne_phys_ranges *phys, u64 start, u64 size);
int ne_mem_region_check(struct device *dev, u64 userspace_addr,
			u64 memory_size, const struct list_head *regions);
int ne_mem_region_pin(struct device *dev, u64 userspace_addr, u64 memory_size,
		      int numa_node, bool merge, struct ne_mem_region **region,
		      struct ne_phys_ranges *phys);
void ne_mem_region_free(struct ne_mem_region *region);
void ne_mem_phys_ranges_free(struct ne_phys_ranges *phys);
unsigned int ne_mem_ranges_needed(const struct ne_mem_ranges *all,
				  const struct ne_phys_ranges *phys);
int ne_mem_ranges_append(struct ne_mem_ranges *all,
			 const struct ne_phys_ranges *phys);
void ne_mem_ranges_forget_sent(struct ne_mem_ranges *all);
void ne_mem_ranges_free(struct ne_mem_ranges *all);

#endif /* _NE_MEM_H_ */
