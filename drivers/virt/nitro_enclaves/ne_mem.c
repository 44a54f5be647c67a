// SPDX-License-Identifier: GPL-2.0
/*
 * Nitro Enclaves memory regions.
 *
 * A region given by NE_SET_USER_MEMORY_REGION is pinned as a whole, checked
 * to consist of whole hugetlb pages on the pool's NUMA node, and its
 * physically contiguous ranges are counted. The ranges themselves are built
 * from the pinned pages only when they are sent (SLOT_ADD_MEM), so nothing
 * but one page pointer per huge page is kept. The pages stay pinned until
 * the enclave is released. Nothing here touches user
 * pointers other than through the pinning call, nor the device.
 */

#include <kunit/visibility.h>
#include <linux/device.h>
#include <linux/hugetlb.h>
#include <linux/io.h>
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
 * ne_mem_count_range() - Count one more huge page into a run's ranges.
 * @count: The run so far; all zero for an empty run.
 * @start: Physical start of the page.
 * @size:  Size of the page in bytes.
 * @merge: Whether a page that starts where the previous one ends joins
 *         its range; without it every page is a range of its own.
 *
 * Only the previous page is looked at: a page that precedes the run
 * physically starts a new range, so the enclave's memory keeps its order.
 *
 * Context: Any context.
 */
void ne_mem_count_range(struct ne_range_count *count, u64 start, u64 size,
			bool merge)
{
	if (!count->nr)
		count->first = start;
	if (!count->nr || !merge || count->end != start)
		count->nr++;
	count->end = start + size;
	count->size += size;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_count_range);

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
 * Pin the region one huge page at a time, check each page and count the
 * physical ranges it makes. On failure the pages pinned so far stay
 * recorded in @region for the caller to unpin.
 */
static int ne_mem_region_fill(struct device *dev, struct ne_mem_region *region,
			      int numa_node, bool merge,
			      struct ne_range_count *count)
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

		ne_mem_count_range(count, page_to_phys(page), page_size(page),
				   merge);
		addr += page_size(page);
	}

	return 0;
}

/**
 * ne_mem_region_pin() - Pin a validated region and count its physical ranges.
 * @dev:            Device to log against.
 * @userspace_addr: Start address in the current address space, checked by
 *                  ne_mem_region_check().
 * @memory_size:    Size in bytes, checked by ne_mem_region_check().
 * @numa_node:      NUMA node all backing pages must be on.
 * @merge:          Count physically adjacent huge pages as one range;
 *                  false counts one range per huge page.
 * @region:         On success, the new region with its pinned pages; free
 *                  it with ne_mem_region_free().
 * @count:          On success, the region's physical ranges, counted.
 *
 * The region is pinned huge page by huge page, which also faults in pages
 * not touched yet; the region keeps one page pointer per huge page. A
 * hugetlb page is naturally aligned, so every range starts and ends on a
 * 2 MiB boundary. On failure nothing stays pinned or allocated.
 *
 * Context: Process context, may sleep; the caller holds the enclave lock.
 * Return:
 * * 0 on success.
 * * -ENOMEM if the bookkeeping cannot be allocated.
 * * -EFAULT, or the pinning error, if the range cannot be pinned entirely.
 * * -NE_ERR_MEM_NOT_HUGE_PAGE, -NE_ERR_INVALID_PAGE_SIZE,
 *   -NE_ERR_MEM_DIFFERENT_NUMA_NODE if a backing page is unsuitable.
 */
int ne_mem_region_pin(struct device *dev, u64 userspace_addr, u64 memory_size,
		      int numa_node, bool merge, struct ne_mem_region **region,
		      struct ne_range_count *count)
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

	new->userspace_addr = userspace_addr;
	new->memory_size = memory_size;
	memset(count, 0, sizeof(*count));

	rc = ne_mem_region_fill(dev, new, numa_node, merge, count);
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
 * ne_mem_ranges_needed() - Ranges a region would add to an enclave.
 * @all:   The enclave's ranges so far.
 * @count: The region's ranges, from ne_mem_region_pin().
 * @merge: Whether the enclave merges adjacent pages.
 *
 * Context: Any context; the caller serialises access to @all.
 * Return: how many ranges @all grows by if the region is added: the
 * region's range count, less one if its first page continues the last
 * range of @all and that range is not sent yet.
 */
unsigned int ne_mem_ranges_needed(const struct ne_mem_ranges *all,
				  const struct ne_range_count *count,
				  bool merge)
{
	if (count->nr && merge && all->nr > all->nr_sent &&
	    all->end == count->first)
		return count->nr - 1;

	return count->nr;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_ranges_needed);

/**
 * ne_mem_ranges_add() - Count a region's ranges into the enclave's.
 * @all:   The enclave's ranges.
 * @count: The region's ranges, from ne_mem_region_pin().
 * @merge: Whether the enclave merges adjacent pages.
 *
 * The caller adds the region itself to the end of the enclave's region
 * list, which ne_mem_next_range() walks to build the ranges again.
 *
 * Context: Any context; the caller serialises access to @all.
 */
void ne_mem_ranges_add(struct ne_mem_ranges *all,
		       const struct ne_range_count *count, bool merge)
{
	if (!count->nr)
		return;

	all->nr += ne_mem_ranges_needed(all, count, merge);
	all->size += count->size;
	all->end = count->end;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_ranges_add);

/* The page at @pos, stepping over the ends of regions; false at the end. */
static bool ne_mem_pos_page(const struct list_head *regions,
			    struct ne_mem_pos *pos, struct page **page)
{
	struct ne_mem_region *region = pos->region;

	if (!region) {
		if (list_empty(regions))
			return false;
		region = list_first_entry(regions, struct ne_mem_region, node);
		pos->page = 0;
	}

	while (pos->page >= region->nr_pages) {
		if (list_is_last(&region->node, regions)) {
			pos->region = region;
			return false;
		}
		region = list_next_entry(region, node);
		pos->page = 0;
	}

	pos->region = region;
	*page = region->pages[pos->page];

	return true;
}

/**
 * ne_mem_next_range() - Build the next physical range of an enclave.
 * @regions: The enclave's regions (&struct ne_mem_region), in order.
 * @merge:   Merge physically adjacent pages, across regions too.
 * @pos:     Where the range starts; on return, the first page after it.
 * @range:   The range, on success.
 *
 * Walking from the first unsent page gives the same ranges that
 * ne_mem_ranges_add() counted: a page joins the range before it if it
 * starts where that range ends (and @merge is set), else it starts a new
 * one.
 *
 * Context: Any context; the caller serialises access to @regions.
 * Return: true if a range was built, false if @pos is at the end.
 */
bool ne_mem_next_range(const struct list_head *regions, bool merge,
		       struct ne_mem_pos *pos, struct ne_phys_range *range)
{
	struct page *page;

	if (!ne_mem_pos_page(regions, pos, &page))
		return false;

	range->start = page_to_phys(page);
	range->size = page_size(page);
	pos->page++;

	while (merge && ne_mem_pos_page(regions, pos, &page) &&
	       page_to_phys(page) == range->start + range->size) {
		range->size += page_size(page);
		pos->page++;
	}

	return true;
}
EXPORT_SYMBOL_IF_KUNIT(ne_mem_next_range);
