// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the Nitro Enclaves enclave object: which CIDs an enclave
 * may ask for at start, and how a new enclave joins its device's list.
 */

#include <kunit/test.h>
#include <linux/limits.h>
#include <linux/string.h>
#include <linux/vm_sockets.h>

#include "ne_enclave.h"
#include "ne_pci_dev.h"

struct ne_cid_case {
	const char *name;
	u64 cid;
	bool valid;
};

static const struct ne_cid_case ne_cid_cases[] = {
	{ "zero_lets_device_choose", 0, true },
	{ "local", VMADDR_CID_LOCAL, false },
	{ "host", VMADDR_CID_HOST, false },
	{ "parent", NE_PARENT_VM_CID, false },
	{ "first_plain", 4, true },
	{ "large", 0x12345678, true },
	{ "u32_max_minus_one", U32_MAX - 1, true },
	{ "any", VMADDR_CID_ANY, false },
	{ "above_u32", (u64)U32_MAX + 1, false },
	{ "u64_max", U64_MAX, false },
};

static void ne_cid_desc(const struct ne_cid_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_cid, ne_cid_cases, ne_cid_desc);

/* The reserved CIDs and anything above 32 bits are refused. */
static void ne_enclave_test_cid(struct kunit *test)
{
	const struct ne_cid_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, ne_enclave_cid_valid(c->cid), c->valid);
}

/*
 * NE_CREATE_VM allocates the slot before it lists the enclave. A device
 * removed in between did not see the enclave when it cut the listed ones
 * off: linking must, or the enclave never reports EPOLLHUP.
 */
static void ne_enclave_test_link(struct kunit *test, bool device_gone)
{
	struct ne_pci_dev *ndev;
	struct ne_enclave *ne;

	ndev = kunit_kzalloc(test, sizeof(*ndev), GFP_KERNEL);
	ne = kunit_kzalloc(test, sizeof(*ne), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ndev);
	KUNIT_ASSERT_NOT_NULL(test, ne);
	mutex_init(&ndev->enclaves_lock);
	INIT_LIST_HEAD(&ndev->enclaves);
	ndev->gone = device_gone;
	ne->max_mem_ranges = 7;

	ne_enclave_link(ndev, ne);

	KUNIT_EXPECT_PTR_EQ(test, ndev->enclaves.next, &ne->node);
	KUNIT_EXPECT_EQ(test, ndev->max_mem_regions, 7ULL);
	KUNIT_EXPECT_EQ(test, ne->gone, device_gone);
	KUNIT_EXPECT_EQ(test, ne->has_event, device_gone);

	list_del(&ne->node);
	mutex_destroy(&ndev->enclaves_lock);
}

static void ne_enclave_test_link_live(struct kunit *test)
{
	ne_enclave_test_link(test, false);
}

static void ne_enclave_test_link_after_removal(struct kunit *test)
{
	ne_enclave_test_link(test, true);
}

static struct kunit_case ne_enclave_test_cases[] = {
	KUNIT_CASE_PARAM(ne_enclave_test_cid, ne_cid_gen_params),
	KUNIT_CASE(ne_enclave_test_link_live),
	KUNIT_CASE(ne_enclave_test_link_after_removal),
	{}
};

static struct kunit_suite ne_enclave_test_suite = {
	.name = "nitro_enclaves_enclave",
	.test_cases = ne_enclave_test_cases,
};

kunit_test_suites(&ne_enclave_test_suite);
