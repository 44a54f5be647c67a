// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the Nitro Enclaves memory logic: region checks, overlap,
 * counting physical ranges within a region and across registrations, and
 * building them again from the pages.
 * The module also holds the other NE suites (ne_*_test.c).
 */

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/io.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nitro_enclaves.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include "ne_mem.h"

#define M2 SZ_2M

struct ne_overlap_case {
	const char *name;
	u64 start_a, size_a, start_b, size_b;
	bool overlap;
};

static const struct ne_overlap_case ne_overlap_cases[] = {
	{ "disjoint_before", 0, M2, 2 * M2, M2, false },
	{ "adjacent_is_not_overlap", 0, M2, M2, M2, false },
	{ "adjacent_reversed", M2, M2, 0, M2, false },
	{ "same_range", M2, M2, M2, M2, true },
	{ "one_byte_shared", 0, M2 + 1, M2, M2, true },
	{ "contained", 0, 8 * M2, 2 * M2, M2, true },
	{ "containing", 2 * M2, M2, 0, 8 * M2, true },
	{ "high_addresses", 0x7fffffe00000ULL - M2, M2, 0x7fffffe00000ULL, M2, false },
};

static void ne_overlap_desc(const struct ne_overlap_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_overlap, ne_overlap_cases, ne_overlap_desc);

/* Overlap is symmetric; half-open ranges that only touch do not overlap. */
static void ne_mem_test_overlap(struct kunit *test)
{
	const struct ne_overlap_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, ne_mem_regions_overlap(c->start_a, c->size_a,
						     c->start_b, c->size_b),
			c->overlap);
	KUNIT_EXPECT_EQ(test, ne_mem_regions_overlap(c->start_b, c->size_b,
						     c->start_a, c->size_a),
			c->overlap);
}

/* One step of counting a run: add (start, size), expect the count after. */
struct ne_count_step {
	u64 start, size;
	unsigned int nr;	/* ranges after the step */
	u64 end;		/* end of the last range after the step */
};

struct ne_count_case {
	const char *name;
	bool merge;
	struct ne_count_step steps[4];
	unsigned int nr_steps;
};

static const struct ne_count_case ne_count_cases[] = {
	{ "first_range", true, { { 4 * M2, M2, 1, 5 * M2 } }, 1 },
	{ "adjacent_pages_merge", true, {
		{ 4 * M2, M2, 1, 5 * M2 },
		{ 5 * M2, M2, 1, 6 * M2 },
		{ 6 * M2, 2 * M2, 1, 8 * M2 } }, 3 },
	{ "gap_starts_a_range", true, {
		{ 4 * M2, M2, 1, 5 * M2 },
		{ 6 * M2, M2, 2, 7 * M2 } }, 2 },
	/* Only the last range is extended: order of the enclave's memory. */
	{ "preceding_page_does_not_merge", true, {
		{ 4 * M2, M2, 1, 5 * M2 },
		{ 3 * M2, M2, 2, 4 * M2 } }, 2 },
	{ "gigantic_page", true, {
		{ SZ_1G, SZ_1G, 1, 2ULL * SZ_1G },
		{ 2ULL * SZ_1G, M2, 1, 2ULL * SZ_1G + M2 } }, 2 },
	{ "no_merge_counts_every_page", false, {
		{ 4 * M2, M2, 1, 5 * M2 },
		{ 5 * M2, M2, 2, 6 * M2 },
		{ 6 * M2, M2, 3, 7 * M2 } }, 3 },
};

static void ne_count_desc(const struct ne_count_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_count, ne_count_cases, ne_count_desc);

/* Each step's range count and end follow the merge rule; size adds up. */
static void ne_mem_test_count_range(struct kunit *test)
{
	const struct ne_count_case *c = test->param_value;
	struct ne_range_count count = { };
	u64 size = 0;
	unsigned int i;

	for (i = 0; i < c->nr_steps; i++) {
		const struct ne_count_step *s = &c->steps[i];

		ne_mem_count_range(&count, s->start, s->size, c->merge);
		size += s->size;
		KUNIT_EXPECT_EQ_MSG(test, count.nr, s->nr, "step %u", i);
		KUNIT_EXPECT_EQ_MSG(test, count.end, s->end, "step %u", i);
		KUNIT_EXPECT_EQ_MSG(test, count.size, size, "step %u", i);
	}
	KUNIT_EXPECT_EQ(test, count.first, c->steps[0].start);
}

/*
 * Across registrations: a region continuing the last unsent range extends
 * it; a sent range is final; the total size counts every byte once.
 */
static void ne_mem_test_ranges_add(struct kunit *test)
{
	struct ne_range_count c1 = { 2, 4 * M2, 10 * M2, 3 * M2 };
	struct ne_range_count c2 = { 2, 10 * M2, 21 * M2, 2 * M2 };
	struct ne_range_count c3 = { 1, 21 * M2, 22 * M2, M2 };
	struct ne_range_count none = { };
	struct ne_mem_ranges all = { };

	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &none, true), 0U);
	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &c1, true), 2U);
	ne_mem_ranges_add(&all, &c1, true);
	KUNIT_EXPECT_EQ(test, all.nr, 2U);
	KUNIT_EXPECT_EQ(test, all.size, 3ULL * M2);

	/* c2 starts where c1 ends: one range fewer, unless not merging. */
	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &c2, false), 2U);
	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &c2, true), 1U);
	ne_mem_ranges_add(&all, &c2, true);
	KUNIT_EXPECT_EQ(test, all.nr, 3U);
	KUNIT_EXPECT_EQ(test, all.end, 21ULL * M2);
	KUNIT_EXPECT_EQ(test, all.size, 5ULL * M2);

	/* An empty count changes nothing. */
	ne_mem_ranges_add(&all, &none, true);
	KUNIT_EXPECT_EQ(test, all.nr, 3U);
	KUNIT_EXPECT_EQ(test, all.end, 21ULL * M2);

	/* Once sent, the last range is final: c3 adds a range. */
	all.nr_sent = all.nr;
	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &c3, true), 1U);
	ne_mem_ranges_add(&all, &c3, true);
	KUNIT_EXPECT_EQ(test, all.nr, 4U);
	KUNIT_EXPECT_EQ(test, all.size, 6ULL * M2);
}

/*
 * The range walk runs on real pages: one physically contiguous block of
 * base pages (not a compound page, so each is 4 KiB), handed out in any
 * order to make regions with and without gaps. The walk does not care
 * that they are not huge.
 */
#define NE_TEST_ORDER	4
#define NE_TEST_REGIONS	4

struct ne_walk_ctx {
	struct page *base;
	struct list_head regions;
	struct ne_mem_ranges all;
	bool merge;
	struct ne_mem_region region[NE_TEST_REGIONS];
	struct page *pages[NE_TEST_REGIONS][3];
	unsigned int nr_regions;
};

static int ne_walk_pages_init(struct kunit_resource *res, void *context)
{
	res->data = alloc_pages(GFP_KERNEL, NE_TEST_ORDER);

	return res->data ? 0 : -ENOMEM;
}

static void ne_walk_pages_free(struct kunit_resource *res)
{
	__free_pages(res->data, NE_TEST_ORDER);
}

static struct ne_walk_ctx *ne_walk_init(struct kunit *test, bool merge)
{
	struct ne_walk_ctx *ctx;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->base = kunit_alloc_resource(test, ne_walk_pages_init,
					 ne_walk_pages_free, GFP_KERNEL, NULL);
	KUNIT_ASSERT_NOT_NULL(test, ctx->base);
	INIT_LIST_HEAD(&ctx->regions);
	ctx->merge = merge;

	return ctx;
}

/* Register a region of the pages base + @idx[0..@n), as add_mem does. */
static void ne_walk_add(struct kunit *test, struct ne_walk_ctx *ctx,
			const unsigned int *idx, unsigned int n)
{
	struct ne_mem_region *region = &ctx->region[ctx->nr_regions];
	struct ne_range_count count = { };
	unsigned int i;

	KUNIT_ASSERT_LT(test, ctx->nr_regions, NE_TEST_REGIONS);
	KUNIT_ASSERT_LE(test, n, ARRAY_SIZE(ctx->pages[0]));
	region->pages = ctx->pages[ctx->nr_regions++];
	for (i = 0; i < n; i++) {
		region->pages[i] = ctx->base + idx[i];
		ne_mem_count_range(&count, page_to_phys(region->pages[i]),
				   PAGE_SIZE, ctx->merge);
	}
	region->nr_pages = n;
	ne_mem_ranges_add(&ctx->all, &count, ctx->merge);
	list_add_tail(&region->node, &ctx->regions);
}

/*
 * Walk from @pos and expect ranges of @exp[i][1] pages from base +
 * @exp[i][0], then the end. Returns the ranges walked.
 */
static unsigned int ne_walk_expect(struct kunit *test, struct ne_walk_ctx *ctx,
				   struct ne_mem_pos *pos,
				   const unsigned int (*exp)[2], unsigned int n)
{
	u64 base = page_to_phys(ctx->base);
	struct ne_phys_range range;
	unsigned int i = 0;

	while (ne_mem_next_range(&ctx->regions, ctx->merge, pos, &range)) {
		KUNIT_ASSERT_LT_MSG(test, i, n, "more ranges than expected");
		KUNIT_EXPECT_EQ_MSG(test, range.start,
				    base + exp[i][0] * PAGE_SIZE, "range %u", i);
		KUNIT_EXPECT_EQ_MSG(test, range.size,
				    (u64)exp[i][1] * PAGE_SIZE, "range %u", i);
		i++;
	}
	KUNIT_EXPECT_EQ(test, i, n);

	return i;
}

static const unsigned int ne_walk_r1[] = { 0, 1, 3 };
static const unsigned int ne_walk_r2[] = { 4, 6 };
static const unsigned int ne_walk_r3[] = { 7 };

/* Pages 0 1 3 | 4 6 | 7: gaps inside and between regions, and a join. */
static void ne_walk_add_r123(struct kunit *test, struct ne_walk_ctx *ctx)
{
	ne_walk_add(test, ctx, ne_walk_r1, ARRAY_SIZE(ne_walk_r1));
	ne_walk_add(test, ctx, ne_walk_r2, ARRAY_SIZE(ne_walk_r2));
	ne_walk_add(test, ctx, ne_walk_r3, ARRAY_SIZE(ne_walk_r3));
}

/* Merging, the walk rebuilds what the count said, across regions too. */
static void ne_mem_test_walk_merges(struct kunit *test)
{
	static const unsigned int exp[][2] = { { 0, 2 }, { 3, 2 }, { 6, 2 } };
	struct ne_walk_ctx *ctx = ne_walk_init(test, true);
	struct ne_mem_pos pos = { };

	ne_walk_add_r123(test, ctx);
	KUNIT_EXPECT_EQ(test, ctx->all.nr, 3U);
	KUNIT_EXPECT_EQ(test, ctx->all.size, 6ULL * PAGE_SIZE);
	ne_walk_expect(test, ctx, &pos, exp, ARRAY_SIZE(exp));
}

/* Without merging every page is a range, as counted. */
static void ne_mem_test_walk_per_page(struct kunit *test)
{
	static const unsigned int exp[][2] = {
		{ 0, 1 }, { 1, 1 }, { 3, 1 }, { 4, 1 }, { 6, 1 }, { 7, 1 },
	};
	struct ne_walk_ctx *ctx = ne_walk_init(test, false);
	struct ne_mem_pos pos = { };

	ne_walk_add_r123(test, ctx);
	KUNIT_EXPECT_EQ(test, ctx->all.nr, 6U);
	ne_walk_expect(test, ctx, &pos, exp, ARRAY_SIZE(exp));
}

/*
 * A walk resumes where the last one stopped; a region added after every
 * range was sent starts a range of its own, the next one merges into it.
 */
static void ne_mem_test_walk_resumes_after_sent(struct kunit *test)
{
	static const unsigned int r1[] = { 0, 1 }, r2[] = { 2 }, r3[] = { 3 };
	static const unsigned int exp_r1[][2] = { { 0, 2 } };
	static const unsigned int exp_r2[][2] = { { 2, 1 } };
	static const unsigned int exp_r3[][2] = { { 2, 2 } };
	struct ne_walk_ctx *ctx = ne_walk_init(test, true);
	struct ne_mem_pos pos = { };
	struct ne_phys_range range;

	/* Nothing registered: nothing to walk. */
	KUNIT_EXPECT_FALSE(test, ne_mem_next_range(&ctx->regions, true, &pos,
						   &range));

	ne_walk_add(test, ctx, r1, ARRAY_SIZE(r1));
	ctx->all.nr_sent = ne_walk_expect(test, ctx, &pos, exp_r1,
					  ARRAY_SIZE(exp_r1));
	ctx->all.sent_pos = pos;

	ne_walk_add(test, ctx, r2, ARRAY_SIZE(r2));
	KUNIT_EXPECT_EQ(test, ctx->all.nr, 2U);
	ne_walk_expect(test, ctx, &pos, exp_r2, ARRAY_SIZE(exp_r2));

	ne_walk_add(test, ctx, r3, ARRAY_SIZE(r3));
	KUNIT_EXPECT_EQ(test, ctx->all.nr, 2U);
	pos = ctx->all.sent_pos;
	ne_walk_expect(test, ctx, &pos, exp_r3, ARRAY_SIZE(exp_r3));
}

struct ne_check_case {
	const char *name;
	u64 addr, size;
	int rc;
};

#define NE_TEST_BASE 0x40000000ULL	/* an accepted region: base .. +4M */

static const struct ne_check_case ne_check_cases[] = {
	{ "ok_after_existing", NE_TEST_BASE + 2 * M2, M2, 0 },
	{ "ok_before_existing", NE_TEST_BASE - M2, M2, 0 },
	{ "zero_size", NE_TEST_BASE + 8 * M2, 0, -NE_ERR_INVALID_MEM_REGION_SIZE },
	{ "size_not_2m_multiple", NE_TEST_BASE + 8 * M2, M2 + SZ_4K,
	  -NE_ERR_INVALID_MEM_REGION_SIZE },
	{ "unaligned_address", NE_TEST_BASE + 8 * M2 + SZ_4K, M2,
	  -NE_ERR_UNALIGNED_MEM_REGION_ADDR },
	{ "wraps_around", 0xffffffffffe00000ULL, 2 * M2,
	  -NE_ERR_INVALID_MEM_REGION_ADDR },
	{ "kernel_address", 0xffff888000000000ULL, M2,
	  -NE_ERR_INVALID_MEM_REGION_ADDR },
	{ "beyond_task_size", 1ULL << 56, M2, -NE_ERR_INVALID_MEM_REGION_ADDR },
	{ "overlaps_existing", NE_TEST_BASE + M2, 2 * M2,
	  -NE_ERR_MEM_REGION_ALREADY_USED },
	{ "contains_existing", NE_TEST_BASE - M2, 4 * M2,
	  -NE_ERR_MEM_REGION_ALREADY_USED },
};

static void ne_check_desc(const struct ne_check_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_check, ne_check_cases, ne_check_desc);

/* Size, then alignment, then address range, then overlap. */
static void ne_mem_test_region_check(struct kunit *test)
{
	const struct ne_check_case *c = test->param_value;
	struct ne_mem_region existing = {
		.userspace_addr = NE_TEST_BASE,
		.memory_size = 2 * M2,
	};
	LIST_HEAD(regions);

	list_add(&existing.node, &regions);
	KUNIT_EXPECT_EQ(test, ne_mem_region_check(NULL, c->addr, c->size, &regions),
			c->rc);
}

static struct kunit_case ne_mem_test_cases[] = {
	KUNIT_CASE_PARAM(ne_mem_test_overlap, ne_overlap_gen_params),
	KUNIT_CASE_PARAM(ne_mem_test_count_range, ne_count_gen_params),
	KUNIT_CASE(ne_mem_test_ranges_add),
	KUNIT_CASE(ne_mem_test_walk_merges),
	KUNIT_CASE(ne_mem_test_walk_per_page),
	KUNIT_CASE(ne_mem_test_walk_resumes_after_sent),
	KUNIT_CASE_PARAM(ne_mem_test_region_check, ne_check_gen_params),
	{}
};

static struct kunit_suite ne_mem_test_suite = {
	.name = "nitro_enclaves_mem",
	.test_cases = ne_mem_test_cases,
};

kunit_test_suites(&ne_mem_test_suite);

/*
 * MODULE_IMPORT_NS() wants a bare name before Linux 6.13 and a string
 * from then on; the modinfo tag it expands to is the same in both.
 */
MODULE_INFO(import_ns, "EXPORTED_FOR_KUNIT_TESTING");
MODULE_DESCRIPTION("KUnit tests for the Nitro Enclaves driver");
MODULE_LICENSE("GPL");
