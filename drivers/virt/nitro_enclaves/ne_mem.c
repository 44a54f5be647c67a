// SPDX-License-Identifier: GPL-2.0
/*
 * Nitro Enclaves memory regions.
 *
 * A region given by NE_SET_USER_MEMORY_REGION is pinned as a whole, checked
 * to consist of whole hugetlb pages on the pool's NUMA node, and turned into
 * a short list of physically contiguous ranges for SLOT_ADD_MEM. The pages
 * stay pinned until the enclave is released. Nothing here touches user
 * pointers other than through the pinning call, nor the device.
 */

#include <kunit/visibility.h>
#include <linux/device.h>
#include <linux/hugetlb.h>
#include <linux/io.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/nitro_enclaves.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ne_mem.h"

/**
 * ne_mem_regions_overlap() - Whether two virtual ranges intersect.
 * @start_a: Start of the first range.
 * @size_a:  Size of the first range, non-zero.
 * @start_b: Start of the second range.
 * @size_b:  Size of the second range, non-zero.
 *
 * The ranges are half-open and must not wrap around.
 *
 * Context: Any context.
 * Return: true if [@start_a, @start_a + @size_a) and
 * [@start_b, @start_b + @size_b) share at least one byte.
 */
bool ne_mem_regions_overlap(u64 start_a, u64 size_a, u64 start_b, u64 size_b)
{
	return start_a < start_b + size_b && start_b < start_a + size_a;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_regions_overlap);

/**
 * ne_mem_merge_phys_range() - Append a physical range, merging if adjacent.
 * @phys:  Ranges built so far.
 * @start: Physical start address, 2 MiB aligned.
 * @size:  Length in bytes, a non-zero multiple of 2 MiB.
 *
 * The new range is merged only into the last range, and only if it starts
 * exactly where that range ends; otherwise it is appended. On failure @phys
 * is left unchanged.
 *
 * Context: Any context.
 * Return:
 * * 0 on success.
 * * -EINVAL if @start or @size is not 2 MiB aligned, or @size is 0.
 * * -ENOMEM if a new range is needed and @phys is full.
 */
int ne_mem_merge_phys_range(struct ne_phys_ranges *phys, u64 start, u64 size)
{
	struct ne_phys_range *last;

	if (!size || !IS_ALIGNED(start, NE_MIN_MEM_REGION_SIZE) ||
	    !IS_ALIGNED(size, NE_MIN_MEM_REGION_SIZE))
		return -EINVAL;

	if (phys->nr) {
		last = &phys->ranges[phys->nr - 1];
		if (last->start + last->size == start) {
			last->size += size;
			return 0;
		}
	}

	if (phys->nr >= phys->capacity)
		return -ENOMEM;

	phys->ranges[phys->nr].start = start;
	phys->ranges[phys->nr].size = size;
	phys->nr++;

	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_merge_phys_range);

/**
 * ne_mem_region_check() - Validate a region before pinning it.
 * @dev:            Device to log against.
 * @userspace_addr: Start address in the caller's address space.
 * @memory_size:    Size in bytes.
 * @regions:        Regions already accepted for the enclave
 *                  (&struct ne_mem_region list).
 *
 * Checks, in this order: size, alignment, address range, overlap. A size of
 * 0 is refused as an invalid size (the upstream driver fails it with
 * -ENOMEM from its bookkeeping instead).
 *
 * Context: Process context; the caller holds the enclave lock that protects
 * @regions.
 * Return:
 * * 0 if the region may be pinned.
 * * -NE_ERR_INVALID_MEM_REGION_SIZE if @memory_size is 0 or not a multiple
 *   of 2 MiB.
 * * -NE_ERR_UNALIGNED_MEM_REGION_ADDR if @userspace_addr is not 2 MiB
 *   aligned.
 * * -NE_ERR_INVALID_MEM_REGION_ADDR if the range wraps or is not a user
 *   range.
 * * -NE_ERR_MEM_REGION_ALREADY_USED if it overlaps an accepted region.
 */
int ne_mem_region_check(struct device *dev, u64 userspace_addr,
			u64 memory_size, const struct list_head *regions)
{
	struct ne_mem_region *region;
	u64 end;

	if (!memory_size || !IS_ALIGNED(memory_size, NE_MIN_MEM_REGION_SIZE)) {
		dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: size %#llx is not a non-zero multiple of 2 MiB: register whole hugepages\n",
				    memory_size);
		return -NE_ERR_INVALID_MEM_REGION_SIZE;
	}

	if (!IS_ALIGNED(userspace_addr, NE_MIN_MEM_REGION_SIZE)) {
		dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: address %#llx is not 2 MiB aligned: pass the start of a hugetlb mapping (mmap() with MAP_HUGETLB)\n",
				    userspace_addr);
		return -NE_ERR_UNALIGNED_MEM_REGION_ADDR;
	}

	if (check_add_overflow(userspace_addr, memory_size, &end) ||
	    !access_ok(u64_to_user_ptr(userspace_addr), memory_size)) {
		dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: %#llx + %#llx is not a valid user address range: pass an address and length that mmap() returned\n",
				    userspace_addr, memory_size);
		return -NE_ERR_INVALID_MEM_REGION_ADDR;
	}

	list_for_each_entry(region, regions, node) {
		if (ne_mem_regions_overlap(userspace_addr, memory_size,
					   region->userspace_addr,
					   region->memory_size)) {
			dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: %#llx + %#llx overlaps a region already added to this enclave: add each region once\n",
					    userspace_addr, memory_size);
			return -NE_ERR_MEM_REGION_ALREADY_USED;
		}
	}

	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_region_check);

/* Append a range without merging; @phys has room for every huge page. */
static int ne_mem_add_phys_range(struct ne_phys_ranges *phys, u64 start,
				 u64 size)
{
	if (!size || !IS_ALIGNED(start, NE_MIN_MEM_REGION_SIZE) ||
	    !IS_ALIGNED(size, NE_MIN_MEM_REGION_SIZE))
		return -EINVAL;

	if (phys->nr >= phys->capacity)
		return -ENOMEM;

	phys->ranges[phys->nr].start = start;
	phys->ranges[phys->nr].size = size;
	phys->nr++;

	return 0;
}

/*
 * Check one pinned page: the head of a hugetlb page on @numa_node that
 * lies wholly before @end. A region that starts or ends inside a huge
 * page is refused rather than silently handing the whole huge page to the
 * enclave.
 */
static int ne_mem_check_page(struct device *dev, u64 addr, u64 end,
			     struct page *page, int numa_node)
{
	struct folio *folio = page_folio(page);

	if (!folio_test_hugetlb(folio)) {
		dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: memory at %#llx is not a hugetlb page: map it with MAP_HUGETLB (normal and transparent huge pages do not work)\n",
				    addr);
		return -NE_ERR_MEM_NOT_HUGE_PAGE;
	}

	if (page != folio_page(folio, 0) ||
	    !IS_ALIGNED(folio_size(folio), NE_MIN_MEM_REGION_SIZE) ||
	    folio_size(folio) > end - addr) {
		dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: memory at %#llx does not cover whole %lu KiB huge pages: register each huge page whole, from its start\n",
				    addr, folio_size(folio) >> 10);
		return -NE_ERR_INVALID_PAGE_SIZE;
	}

	if (folio_nid(folio) != numa_node) {
		dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: memory at %#llx is on NUMA node %d but the CPU pool is on node %d: use hugepages of node %d (/sys/devices/system/node/node%d/hugepages/)\n",
				    addr, folio_nid(folio), numa_node, numa_node,
				    numa_node);
		return -NE_ERR_MEM_DIFFERENT_NUMA_NODE;
	}

	return 0;
}

/*
 * Pin the region one huge page at a time, check each page and build the
 * physical ranges. Without @merge every huge page is a range of its own
 * (the pre-5.17 upstream behaviour, for comparison). On failure the pages
 * pinned so far stay recorded in @region for the caller to unpin.
 */
static int ne_mem_region_fill(struct device *dev, struct ne_mem_region *region,
			      int numa_node, bool merge,
			      struct ne_phys_ranges *phys)
{
	u64 end = region->userspace_addr + region->memory_size;
	u64 addr = region->userspace_addr;
	struct page *page;
	int rc;

	while (addr < end) {
		rc = pin_user_pages_fast(addr, 1, FOLL_WRITE | FOLL_LONGTERM,
					 &page);
		if (rc != 1) {
			dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: cannot pin the memory at %#llx (%d): map the whole range read-write first, with enough free hugepages\n",
					    addr, rc);
			return rc < 0 ? rc : -EFAULT;
		}
		region->pages[region->nr_pages++] = page;

		rc = ne_mem_check_page(dev, addr, end, page, numa_node);
		if (rc)
			return rc;

		if (merge)
			rc = ne_mem_merge_phys_range(phys, page_to_phys(page),
						     page_size(page));
		else
			rc = ne_mem_add_phys_range(phys, page_to_phys(page),
						   page_size(page));
		if (rc) {
			dev_err_ratelimited(dev, "NE_SET_USER_MEMORY_REGION: memory at %#llx gives an unaligned physical range (%d): report this to the driver maintainers\n",
					    addr, rc);
			return rc;
		}

		addr += page_size(page);
	}

	return 0;
}

/**
 * ne_mem_region_pin() - Pin a validated region and build its physical ranges.
 * @dev:            Device to log against.
 * @userspace_addr: Start address in the current address space, checked by
 *                  ne_mem_region_check().
 * @memory_size:    Size in bytes, checked by ne_mem_region_check().
 * @numa_node:      NUMA node all backing pages must be on.
 * @merge:          Merge physically adjacent huge pages into one range;
 *                  false makes one range per huge page.
 * @region:         On success, the new region with its pinned pages; free
 *                  it with ne_mem_region_free().
 * @phys:           On success, the merged physical ranges; free them with
 *                  ne_mem_phys_ranges_free().
 *
 * The region is pinned huge page by huge page, which also faults in pages
 * not touched yet; the region keeps one page pointer per huge page. On
 * failure nothing stays pinned or allocated.
 *
 * Context: Process context, may sleep; the caller holds the enclave lock.
 * Return:
 * * 0 on success.
 * * -ENOMEM if the bookkeeping cannot be allocated.
 * * -EFAULT, or the pinning error, if the range cannot be pinned entirely.
 * * -NE_ERR_MEM_NOT_HUGE_PAGE, -NE_ERR_INVALID_PAGE_SIZE,
 *   -NE_ERR_MEM_DIFFERENT_NUMA_NODE if a backing page is unsuitable.
 * * -EINVAL if a physical range is not 2 MiB aligned.
 */
int ne_mem_region_pin(struct device *dev, u64 userspace_addr, u64 memory_size,
		      int numa_node, bool merge, struct ne_mem_region **region,
		      struct ne_phys_ranges *phys)
{
	unsigned long max_pages = memory_size / NE_MIN_MEM_REGION_SIZE;
	struct ne_mem_region *new;
	struct page **pages;
	int rc;

	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;

	/*
	 * At most one entry per 2 MiB; trimmed below for larger pages. A
	 * size no memory backs fails here or at the first unmapped page,
	 * quietly: user input must not fill the log.
	 */
	new->pages = kvmalloc_array(max_pages, sizeof(*new->pages),
				    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!new->pages) {
		rc = -ENOMEM;
		goto free_region;
	}

	phys->nr = 0;
	phys->capacity = max_pages;
	phys->ranges = kvmalloc_array(phys->capacity, sizeof(*phys->ranges),
				      GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!phys->ranges) {
		rc = -ENOMEM;
		goto free_pages_array;
	}

	new->userspace_addr = userspace_addr;
	new->memory_size = memory_size;

	rc = ne_mem_region_fill(dev, new, numa_node, merge, phys);
	if (rc)
		goto unpin_pages;

	if (new->nr_pages < max_pages) {
		pages = kvmalloc_array(new->nr_pages, sizeof(*pages),
				       GFP_KERNEL_ACCOUNT);
		if (pages) {
			memcpy(pages, new->pages,
			       new->nr_pages * sizeof(*pages));
			kvfree(new->pages);
			new->pages = pages;
		}
	}

	*region = new;

	return 0;

unpin_pages:
	unpin_user_pages(new->pages, new->nr_pages);
	ne_mem_phys_ranges_free(phys);
free_pages_array:
	kvfree(new->pages);
free_region:
	kfree(new);
	return rc;
}

/**
 * ne_mem_region_free() - Unpin a region's pages and free it.
 * @region: Region from ne_mem_region_pin(), already unlinked.
 *
 * Context: Process context, may sleep.
 */
void ne_mem_region_free(struct ne_mem_region *region)
{
	unpin_user_pages(region->pages, region->nr_pages);
	kvfree(region->pages);
	kfree(region);
}

/**
 * ne_mem_phys_ranges_free() - Free the range array of a &struct ne_phys_ranges.
 * @phys: Ranges from ne_mem_region_pin().
 *
 * Context: Process context, may sleep.
 */
void ne_mem_phys_ranges_free(struct ne_phys_ranges *phys)
{
	kvfree(phys->ranges);
	phys->ranges = NULL;
	phys->nr = 0;
	phys->capacity = 0;
}

/* Whether @start can extend the last range of @all: unsent and adjacent. */
static bool ne_mem_ranges_extends(const struct ne_mem_ranges *all, u64 start)
{
	const struct ne_phys_range *last;

	if (all->nr <= all->nr_sent)
		return false;

	last = &all->ranges[all->nr - 1];

	return last->start + last->size == start;
}

/**
 * ne_mem_ranges_needed() - Ranges a region would add to an enclave.
 * @all:  The enclave's ranges so far.
 * @phys: The region's ranges, from ne_mem_region_pin().
 *
 * Context: Any context; the caller serialises access to @all.
 * Return: how many entries @all grows by if @phys is appended: the
 * region's range count, less one if its first range extends the last
 * unsent range of @all.
 */
unsigned int ne_mem_ranges_needed(const struct ne_mem_ranges *all,
				  const struct ne_phys_ranges *phys)
{
	if (!phys->nr)
		return 0;

	if (ne_mem_ranges_extends(all, phys->ranges[0].start))
		return phys->nr - 1;

	return phys->nr;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_ranges_needed);

/* Make room for @nr entries in @all. */
static int ne_mem_ranges_reserve(struct ne_mem_ranges *all, unsigned int nr)
{
	struct ne_phys_range *ranges;
	unsigned int capacity;

	if (nr <= all->capacity)
		return 0;

	capacity = max3(nr, 2 * all->capacity, 16U);
	ranges = kvmalloc_array(capacity, sizeof(*ranges), GFP_KERNEL_ACCOUNT);
	if (!ranges)
		return -ENOMEM;

	if (all->nr)
		memcpy(ranges, all->ranges, all->nr * sizeof(*ranges));
	kvfree(all->ranges);
	all->ranges = ranges;
	all->capacity = capacity;

	return 0;
}

/**
 * ne_mem_ranges_append() - Append a region's ranges to an enclave's.
 * @all:  The enclave's ranges, in registration order.
 * @phys: The region's ranges, from ne_mem_region_pin().
 *
 * The first range of @phys is merged into the last range of @all if that
 * one is not sent yet and @phys continues it physically; the others are
 * appended in order. The order of the enclave's memory is kept: a range
 * is never merged with one that precedes it physically, nor with a range
 * other than the last. On failure @all is unchanged.
 *
 * Context: Process context, may sleep; the caller serialises access to
 * @all.
 * Return: 0 on success, or -ENOMEM if @all cannot grow.
 */
int ne_mem_ranges_append(struct ne_mem_ranges *all,
			 const struct ne_phys_ranges *phys)
{
	unsigned int i = 0;
	int rc;

	rc = ne_mem_ranges_reserve(all, all->nr +
				   ne_mem_ranges_needed(all, phys));
	if (rc)
		return rc;

	if (phys->nr && ne_mem_ranges_extends(all, phys->ranges[0].start)) {
		all->ranges[all->nr - 1].size += phys->ranges[0].size;
		all->size += phys->ranges[0].size;
		i = 1;
	}

	for (; i < phys->nr; i++) {
		all->ranges[all->nr++] = phys->ranges[i];
		all->size += phys->ranges[i].size;
	}

	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_ranges_append);

/**
 * ne_mem_ranges_forget_sent() - Drop the array once the device has it all.
 * @all: The enclave's ranges; every one sent (@all->nr_sent == @all->nr).
 *
 * A started enclave takes no more memory and nothing looks its ranges up
 * again, so only the totals are kept: the array is freed and the counts
 * go to zero, while @all->size and @all->sent_size stay. A later append
 * would start a new array. Does nothing if a range is still unsent.
 *
 * Context: Process context, may sleep; the caller serialises access to
 * @all.
 */
void ne_mem_ranges_forget_sent(struct ne_mem_ranges *all)
{
	if (all->nr_sent != all->nr)
		return;

	kvfree(all->ranges);
	all->ranges = NULL;
	all->capacity = 0;
	all->nr = 0;
	all->nr_sent = 0;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_ranges_forget_sent);

/**
 * ne_mem_ranges_free() - Free an enclave's range array.
 * @all: The enclave's ranges.
 *
 * Context: Process context, may sleep.
 */
void ne_mem_ranges_free(struct ne_mem_ranges *all)
{
	kvfree(all->ranges);
	memset(all, 0, sizeof(*all));
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_ranges_free);
