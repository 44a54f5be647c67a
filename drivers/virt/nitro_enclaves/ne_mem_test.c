// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the Nitro Enclaves memory logic: region checks, overlap,
 * and merging physical ranges within a region and across registrations.
 * The module also holds the other NE suites (ne_*_test.c).
 */

#include <kunit/test.h>
#include <linux/list.h>
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

/* One step of building a region's ranges: add (start, size), expect rc/nr. */
struct ne_merge_step {
	u64 start, size;
	int rc;
	unsigned int nr;	/* ranges after the step */
	u64 last_size;		/* size of the last range after the step */
};

struct ne_merge_case {
	const char *name;
	unsigned int capacity;
	struct ne_merge_step steps[5];
	unsigned int nr_steps;
};

static const struct ne_merge_case ne_merge_cases[] = {
	{ "first_range", 4, { { 4 * M2, M2, 0, 1, M2 } }, 1 },
	{ "adjacent_pages_merge", 4, {
		{ 4 * M2, M2, 0, 1, M2 },
		{ 5 * M2, M2, 0, 1, 2 * M2 },
		{ 6 * M2, 2 * M2, 0, 1, 4 * M2 } }, 3 },
	{ "gap_appends", 4, {
		{ 4 * M2, M2, 0, 1, M2 },
		{ 6 * M2, M2, 0, 2, M2 } }, 2 },
	/* Only the last range is extended: order of the enclave's memory. */
	{ "preceding_page_does_not_merge", 4, {
		{ 4 * M2, M2, 0, 1, M2 },
		{ 3 * M2, M2, 0, 2, M2 } }, 2 },
	{ "full_but_adjacent_still_merges", 1, {
		{ 4 * M2, M2, 0, 1, M2 },
		{ 5 * M2, M2, 0, 1, 2 * M2 },
		{ 8 * M2, M2, -ENOMEM, 1, 2 * M2 } }, 3 },
	{ "zero_size", 4, { { 4 * M2, 0, -EINVAL, 0, 0 } }, 1 },
	{ "unaligned_start", 4, { { 4 * M2 + SZ_4K, M2, -EINVAL, 0, 0 } }, 1 },
	{ "unaligned_size", 4, { { 4 * M2, M2 + SZ_4K, -EINVAL, 0, 0 } }, 1 },
	{ "gigantic_page", 4, {
		{ SZ_1G, SZ_1G, 0, 1, SZ_1G },
		{ 2ULL * SZ_1G, M2, 0, 1, SZ_1G + M2 } }, 2 },
};

static void ne_merge_desc(const struct ne_merge_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_merge, ne_merge_cases, ne_merge_desc);

/* Each step's rc, range count and last range follow the merge rule. */
static void ne_mem_test_merge_phys_range(struct kunit *test)
{
	const struct ne_merge_case *c = test->param_value;
	struct ne_phys_ranges phys = { .capacity = c->capacity };
	unsigned int i;

	phys.ranges = kunit_kcalloc(test, c->capacity, sizeof(*phys.ranges),
				    GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, phys.ranges);

	for (i = 0; i < c->nr_steps; i++) {
		const struct ne_merge_step *s = &c->steps[i];

		KUNIT_EXPECT_EQ_MSG(test, ne_mem_merge_phys_range(&phys, s->start, s->size),
				    s->rc, "step %u", i);
		KUNIT_EXPECT_EQ_MSG(test, phys.nr, s->nr, "step %u", i);
		if (phys.nr)
			KUNIT_EXPECT_EQ_MSG(test, phys.ranges[phys.nr - 1].size,
					    s->last_size, "step %u", i);
	}
}

/*
 * Across registrations: a region continuing the last unsent range extends
 * it; a sent range is final; the total size counts every byte once.
 */
static void ne_mem_test_ranges_append(struct kunit *test)
{
	struct ne_phys_range r1[] = { { 4 * M2, M2 }, { 8 * M2, 2 * M2 } };
	struct ne_phys_range r2[] = { { 10 * M2, M2 }, { 20 * M2, M2 } };
	struct ne_phys_range r3[] = { { 21 * M2, M2 } };
	struct ne_phys_ranges p1 = { r1, ARRAY_SIZE(r1), ARRAY_SIZE(r1) };
	struct ne_phys_ranges p2 = { r2, ARRAY_SIZE(r2), ARRAY_SIZE(r2) };
	struct ne_phys_ranges p3 = { r3, ARRAY_SIZE(r3), ARRAY_SIZE(r3) };
	struct ne_phys_ranges none = { NULL, 0, 0 };
	struct ne_mem_ranges all = { };

	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &none), 0U);
	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &p1), 2U);
	KUNIT_ASSERT_EQ(test, ne_mem_ranges_append(&all, &p1), 0);
	KUNIT_EXPECT_EQ(test, all.nr, 2U);
	KUNIT_EXPECT_EQ(test, all.size, 3ULL * M2);

	/* r2[0] continues r1[1]: one range fewer. */
	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &p2), 1U);
	KUNIT_ASSERT_EQ(test, ne_mem_ranges_append(&all, &p2), 0);
	KUNIT_EXPECT_EQ(test, all.nr, 3U);
	KUNIT_EXPECT_EQ(test, all.ranges[1].start, 8ULL * M2);
	KUNIT_EXPECT_EQ(test, all.ranges[1].size, 3ULL * M2);
	KUNIT_EXPECT_EQ(test, all.ranges[2].start, 20ULL * M2);
	KUNIT_EXPECT_EQ(test, all.size, 5ULL * M2);

	/* Once sent, the last range is final: r3 is appended, not merged. */
	all.nr_sent = all.nr;
	all.sent_size = all.size;
	KUNIT_EXPECT_EQ(test, ne_mem_ranges_needed(&all, &p3), 1U);
	KUNIT_ASSERT_EQ(test, ne_mem_ranges_append(&all, &p3), 0);
	KUNIT_EXPECT_EQ(test, all.nr, 4U);
	KUNIT_EXPECT_EQ(test, all.ranges[3].start, 21ULL * M2);
	KUNIT_EXPECT_EQ(test, all.size, 6ULL * M2);

	ne_mem_ranges_free(&all);
	KUNIT_EXPECT_EQ(test, all.nr, 0U);
	KUNIT_EXPECT_PTR_EQ(test, all.ranges, NULL);
}

/* Once all are sent, the array goes and the size stays; unsent, nothing. */
static void ne_mem_test_ranges_forget_sent(struct kunit *test)
{
	struct ne_phys_range r[] = { { 4 * M2, M2 }, { 8 * M2, 2 * M2 } };
	struct ne_phys_ranges p = { r, ARRAY_SIZE(r), ARRAY_SIZE(r) };
	struct ne_mem_ranges all = { };

	KUNIT_ASSERT_EQ(test, ne_mem_ranges_append(&all, &p), 0);
	all.nr_sent = 1;
	ne_mem_ranges_forget_sent(&all);
	KUNIT_EXPECT_EQ(test, all.nr, 2U);
	KUNIT_EXPECT_PTR_NE(test, all.ranges, NULL);

	all.nr_sent = all.nr;
	all.sent_size = all.size;
	ne_mem_ranges_forget_sent(&all);
	KUNIT_EXPECT_PTR_EQ(test, all.ranges, NULL);
	KUNIT_EXPECT_EQ(test, all.nr, 0U);
	KUNIT_EXPECT_EQ(test, all.capacity, 0U);
	KUNIT_EXPECT_EQ(test, all.size, 3ULL * M2);
	KUNIT_EXPECT_EQ(test, all.sent_size, 3ULL * M2);

	/* Appending after that starts a new array. */
	KUNIT_ASSERT_EQ(test, ne_mem_ranges_append(&all, &p), 0);
	KUNIT_EXPECT_EQ(test, all.nr, 2U);
	KUNIT_EXPECT_EQ(test, all.ranges[1].start, 8ULL * M2);
	ne_mem_ranges_free(&all);
}

/* The range array grows past its initial capacity without losing order. */
static void ne_mem_test_ranges_grow(struct kunit *test)
{
	struct ne_mem_ranges all = { };
	struct ne_phys_range r;
	struct ne_phys_ranges p = { &r, 1, 1 };
	unsigned int i;

	for (i = 0; i < 100; i++) {
		r.start = (u64)(2 * i) * M2;	/* never adjacent */
		r.size = M2;
		KUNIT_ASSERT_EQ(test, ne_mem_ranges_append(&all, &p), 0);
	}
	KUNIT_EXPECT_EQ(test, all.nr, 100U);
	KUNIT_EXPECT_GE(test, all.capacity, 100U);
	for (i = 0; i < 100; i++)
		KUNIT_EXPECT_EQ(test, all.ranges[i].start, (u64)(2 * i) * M2);
	ne_mem_ranges_free(&all);
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
	KUNIT_CASE_PARAM(ne_mem_test_merge_phys_range, ne_merge_gen_params),
	KUNIT_CASE(ne_mem_test_ranges_append),
	KUNIT_CASE(ne_mem_test_ranges_grow),
	KUNIT_CASE(ne_mem_test_ranges_forget_sent),
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
