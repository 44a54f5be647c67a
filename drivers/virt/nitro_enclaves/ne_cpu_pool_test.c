// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the Nitro Enclaves CPU pool rules: blank values, the
 * cpu-list checks and the core indexing. The checks read the real
 * topology and never offline a CPU; the topology-dependent cases expect
 * CPUs 0-1 and 2-3 to be the two threads of two cores, and are skipped on
 * other topologies.
 */

#include <kunit/test.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/topology.h>

#include "ne_cpu_pool.h"

struct ne_blank_case {
	const char *name;
	const char *val;
	bool blank;
};

static const struct ne_blank_case ne_blank_cases[] = {
	{ "null", NULL, true },
	{ "empty", "", true },
	{ "newline", "\n", true },
	{ "newline_spaces_tabs", "\n \t", true },
	{ "cpu_list", "2-3", false },
	{ "leading_space", " 2", false },
	{ "cpu_list_newline", "2,3\n", false },
};

static void ne_blank_desc(const struct ne_blank_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_blank, ne_blank_cases, ne_blank_desc);

/* Only whitespace (or nothing) tears the pool down. */
static void ne_cpu_pool_test_blank(struct kunit *test)
{
	const struct ne_blank_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, ne_cpus_is_blank(c->val), c->blank);
}

/* Skip unless CPUs 0-3 are online as cores {0,1} and {2,3}. */
static void ne_cpu_pool_need_2x2(struct kunit *test)
{
	unsigned int cpu;

	if (nr_cpu_ids < 4)
		kunit_skip(test, "needs 4 CPUs");
	for (cpu = 0; cpu < 4; cpu++) {
		if (!cpu_online(cpu))
			kunit_skip(test, "CPU %u is offline (a pool is set?)", cpu);
		if (cpumask_weight(topology_sibling_cpumask(cpu)) != 2 ||
		    !cpumask_test_cpu(cpu ^ 1, topology_sibling_cpumask(cpu)))
			kunit_skip(test, "needs cores {0,1} and {2,3}");
	}
}

struct ne_pool_case {
	const char *name;
	const char *list;
	int rc;
};

static const struct ne_pool_case ne_pool_cases[] = {
	{ "cpu0_stays_with_parent", "0", -EINVAL },
	{ "sibling_of_cpu0", "1", -EINVAL },
	{ "core0_whole", "0-1", -EINVAL },
	{ "half_core", "2", -EINVAL },
	{ "other_half_core", "3", -EINVAL },
	{ "full_core", "2-3", 0 },
	{ "full_core_listed", "3,2", 0 },
	{ "everything", "0-3", -EINVAL },
};

static void ne_pool_desc(const struct ne_pool_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_pool, ne_pool_cases, ne_pool_desc);

/* CPU 0 and its siblings stay with the parent; only full cores go. */
static void ne_cpu_pool_test_check_cpus(struct kunit *test)
{
	const struct ne_pool_case *c = test->param_value;
	cpumask_var_t cpus;
	int node = NUMA_NO_NODE;

	ne_cpu_pool_need_2x2(test);
	KUNIT_ASSERT_TRUE(test, zalloc_cpumask_var(&cpus, GFP_KERNEL));
	KUNIT_ASSERT_EQ(test, cpulist_parse(c->list, cpus), 0);
	KUNIT_EXPECT_EQ(test, ne_cpu_pool_check_cpus(cpus, &node), c->rc);
	if (!c->rc)
		KUNIT_EXPECT_EQ(test, node, cpu_to_node(2));
	free_cpumask_var(cpus);
}

/*
 * Core indexing: the pool has nr_cpu_ids / threads core slots, cores are
 * numbered in the order of their lowest CPU, and a pool with more cores
 * than slots is refused.
 */
static void ne_cpu_pool_test_index_cores(struct kunit *test)
{
	cpumask_var_t cpus;
	cpumask_var_t masks[2];
	unsigned int i;

	ne_cpu_pool_need_2x2(test);
	KUNIT_ASSERT_TRUE(test, zalloc_cpumask_var(&cpus, GFP_KERNEL));
	for (i = 0; i < ARRAY_SIZE(masks); i++)
		KUNIT_ASSERT_TRUE(test, zalloc_cpumask_var(&masks[i], GFP_KERNEL));

	KUNIT_ASSERT_EQ(test, cpulist_parse("2-3", cpus), 0);
	KUNIT_EXPECT_EQ(test, ne_cpu_pool_index_cores(cpus, masks, 2), 0);
	KUNIT_EXPECT_EQ(test, cpumask_weight(masks[0]), 2U);
	KUNIT_EXPECT_TRUE(test, cpumask_test_cpu(2, masks[0]));
	KUNIT_EXPECT_TRUE(test, cpumask_test_cpu(3, masks[0]));
	KUNIT_EXPECT_TRUE(test, cpumask_empty(masks[1]));

	/* No core slot at all: refused, not overflowed. */
	KUNIT_EXPECT_EQ(test, ne_cpu_pool_index_cores(cpus, masks, 0), -EINVAL);

	for (i = 0; i < ARRAY_SIZE(masks); i++)
		free_cpumask_var(masks[i]);
	free_cpumask_var(cpus);
}

static struct kunit_case ne_cpu_pool_test_cases[] = {
	KUNIT_CASE_PARAM(ne_cpu_pool_test_blank, ne_blank_gen_params),
	KUNIT_CASE_PARAM(ne_cpu_pool_test_check_cpus, ne_pool_gen_params),
	KUNIT_CASE(ne_cpu_pool_test_index_cores),
	{}
};

static struct kunit_suite ne_cpu_pool_test_suite = {
	.name = "nitro_enclaves_cpu_pool",
	.test_cases = ne_cpu_pool_test_cases,
};

kunit_test_suites(&ne_cpu_pool_test_suite);
