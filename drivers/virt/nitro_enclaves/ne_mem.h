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
 * struct ne_range_count - The physical ranges of a run of huge pages,
 *                         counted but not stored.
 * @nr:    Ranges: pages that continue the previous page physically are
 *         merged into its range when merging, else each page is one.
 * @first: Physical start of the first page.
 * @end:   Physical end of the last page.
 * @size:  Bytes in all pages.
 */
struct ne_range_count {
	unsigned int nr;
	u64 first;
	u64 end;
	u64 size;
};

/**
 * struct ne_mem_pos - A position in an enclave's memory: a huge page of a
 *                     region.
 * @region: The region, or NULL for the first page of the first region.
 * @page:   Index into @region's pages; may equal its page count, which
 *          means the first page of the next region.
 */
struct ne_mem_pos {
	struct ne_mem_region *region;
	unsigned long page;
};

/**
 * struct ne_mem_ranges - The physical ranges of an enclave, in the order
 *                        the device must receive them.
 * @nr:         Ranges the regions registered so far make.
 * @nr_sent:    Leading ranges the device has accepted (SLOT_ADD_MEM). A
 *              sent range is final: nothing is merged into it any more.
 * @size:       Bytes in all ranges.
 * @sent_size:  Bytes in the first @nr_sent ranges.
 * @end:        Physical end of the last range, to merge the next region
 *              into it.
 * @sent_pos:   First page not sent yet: the unsent ranges are built again
 *              from the regions' pages, starting here, when sent.
 *
 * Only counts are kept, never the ranges themselves: the regions' page
 * arrays already say where every page is. The caller serialises all
 * access (the enclave lock).
 */
struct ne_mem_ranges {
	unsigned int nr;
	unsigned int nr_sent;
	u64 size;
	u64 sent_size;
	u64 end;
	struct ne_mem_pos sent_pos;
};

bool ne_mem_regions_overlap(u64 start_a, u64 size_a, u64 start_b, u64 size_b);
void ne_mem_count_range(struct ne_range_count *count, u64 start, u64 size,
			bool merge);
int ne_mem_region_check(struct device *dev, u64 userspace_addr,
			u64 memory_size, const struct list_head *regions);
int ne_mem_region_pin(struct device *dev, u64 userspace_addr, u64 memory_size,
		      int numa_node, bool merge, struct ne_mem_region **region,
		      struct ne_range_count *count);
void ne_mem_region_free(struct ne_mem_region *region);
unsigned int ne_mem_ranges_needed(const struct ne_mem_ranges *all,
				  const struct ne_range_count *count,
				  bool merge);
void ne_mem_ranges_add(struct ne_mem_ranges *all,
		       const struct ne_range_count *count, bool merge);
bool ne_mem_next_range(const struct list_head *regions, bool merge,
		       struct ne_mem_pos *pos, struct ne_phys_range *range);

#endif /* _NE_MEM_H_ */
