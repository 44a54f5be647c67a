// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the Nitro Enclaves command transport logic: argument
 * checks of a command, whether a reply belongs to the command waiting
 * (reply counter window, slot uid echo of successful replies) and the
 * errno a refusal is reported with.
 */

#include <kunit/test.h>
#include <linux/err.h>
#include <linux/limits.h>
#include <linux/string.h>

#include "ne_pci_dev.h"

struct ne_reply_case {
	const char *name;
	enum ne_pci_dev_cmd_type type;
	u64 uid;
	u16 window_start, count, count_after;
	u64 reply_uid;
	s32 reply_rc;
	bool ours;
};

static const struct ne_reply_case ne_reply_cases[] = {
	{ "next_reply", SLOT_INFO, 7, 10, 11, 11, 7, 0, true },
	{ "counter_wraps", SLOT_INFO, 7, 0xffff, 0, 0, 7, 0, true },
	{ "no_reply_yet", SLOT_INFO, 7, 10, 10, 10, 7, 0, false },
	/* A late reply and ours in one window: neither can be attributed. */
	{ "two_replies", SLOT_INFO, 7, 10, 12, 12, 7, 0, false },
	{ "moved_during_copy", SLOT_INFO, 7, 10, 11, 12, 7, 0, false },
	{ "other_slot", SLOT_INFO, 7, 10, 11, 11, 8, 0, false },
	{ "stop_other_slot", ENCLAVE_STOP, 7, 10, 11, 11, 8, 0, false },
	{ "free_same_slot", SLOT_FREE, 7, 10, 11, 11, 7, 0, true },
	{ "add_mem_other_slot", SLOT_ADD_MEM, 7, 10, 11, 11, 0, 0, false },
	{ "start_same_slot", ENCLAVE_START, 7, 10, 11, 11, 7, 0, true },
	{ "vcpu_other_slot", SLOT_ADD_VCPU, 7, 10, 11, 11, 9, 0, false },
	{ "bulk_vcpus_other_slot", SLOT_ADD_BULK_VCPUS, 7, 10, 11, 11, 9, 0, false },
	/* Commands without a uid to echo: the counter alone decides. */
	{ "alloc_any_uid", SLOT_ALLOC, 0, 10, 11, 11, 42, 0, true },
	{ "count_any_uid", SLOT_COUNT, 0, 10, 11, 11, 42, 0, true },
	{ "next_slot_names_next", NEXT_SLOT, 7, 10, 11, 11, 8, 0, true },
	{ "get_slot_any_uid", ENCLAVE_GET_SLOT, 0, 10, 11, 11, 5, 0, true },
	{ "alloc_two_replies", SLOT_ALLOC, 0, 10, 12, 12, 42, 0, false },
	/* A refusal is taken on the counter alone: its uid may be zeroed. */
	{ "refusal_uid_zero", SLOT_FREE, 7, 10, 11, 11, 0, -ENOENT, true },
	{ "refusal_other_uid", SLOT_ADD_VCPU, 7, 10, 11, 11, 9, -EBUSY, true },
	{ "refusal_two_replies", SLOT_FREE, 7, 10, 12, 12, 0, -ENOENT, false },
	{ "refusal_moved_during_copy", SLOT_INFO, 7, 10, 11, 12, 7, -EIO, false },
	{ "success_uid_zero", SLOT_FREE, 7, 10, 11, 11, 0, 0, false },
	{ "positive_rc_other_uid", SLOT_INFO, 7, 10, 11, 11, 8, 1, false },
};

static void ne_reply_desc(const struct ne_reply_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_reply, ne_reply_cases, ne_reply_desc);

/*
 * A reply is ours when the counter moved by one, and, for a success, the
 * uid is echoed.
 */
static void ne_pci_dev_test_reply_is_ours(struct kunit *test)
{
	const struct ne_reply_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, ne_cmd_reply_is_ours(c->type, c->uid, c->window_start,
						   c->count, c->count_after,
						   c->reply_uid, c->reply_rc),
			c->ours);
}

struct ne_args_case {
	const char *name;
	enum ne_pci_dev_cmd_type type;
	size_t size;
	bool null_req;
	bool null_reply;
	int rc;
};

static const struct ne_args_case ne_args_cases[] = {
	{ "slot_alloc", SLOT_ALLOC, sizeof(struct slot_alloc_req), false, false, 0 },
	{ "slot_add_mem", SLOT_ADD_MEM, sizeof(struct slot_add_mem_req), false, false, 0 },
	{ "bulk_vcpus", SLOT_ADD_BULK_VCPUS, sizeof(struct slot_add_bulk_vcpus_req),
	  false, false, 0 },
	{ "invalid_cmd", INVALID_CMD, 8, false, false, -EINVAL },
	{ "max_cmd", MAX_CMD, 8, false, false, -EINVAL },
	{ "wrong_size", SLOT_ADD_MEM, sizeof(struct slot_add_mem_req) + 1,
	  false, false, -EINVAL },
	{ "too_big", SLOT_INFO, NE_SEND_DATA_SIZE + 1, false, false, -EINVAL },
	{ "null_req", SLOT_INFO, sizeof(struct slot_info_req), true, false, -EINVAL },
	{ "null_reply", SLOT_INFO, sizeof(struct slot_info_req), false, true, -EINVAL },
};

static void ne_args_desc(const struct ne_args_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ne_args, ne_args_cases, ne_args_desc);

/* Bad types and sizes never reach the mailbox; the reply is cleared. */
static void ne_pci_dev_test_check_args(struct kunit *test)
{
	const struct ne_args_case *c = test->param_value;
	struct ne_pci_dev_cmd_reply reply;
	u8 req[NE_SEND_DATA_SIZE + 1] = { };

	memset(&reply, 0xa5, sizeof(reply));
	KUNIT_EXPECT_EQ(test, ne_cmd_check_args(c->type, c->null_req ? NULL : req,
						c->size, c->null_reply ? NULL : &reply),
			c->rc);
	if (!c->null_reply)
		KUNIT_EXPECT_EQ(test, reply.rc, 0);
}

/* Refusals outside the errno range become -EIO; others pass unchanged. */
static void ne_pci_dev_test_errno(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, ne_cmd_errno(0), 0);
	KUNIT_EXPECT_EQ(test, ne_cmd_errno(-ENOENT), -ENOENT);
	KUNIT_EXPECT_EQ(test, ne_cmd_errno(-MAX_ERRNO), -MAX_ERRNO);
	KUNIT_EXPECT_EQ(test, ne_cmd_errno(-MAX_ERRNO - 1), -EIO);
	KUNIT_EXPECT_EQ(test, ne_cmd_errno(S32_MIN), -EIO);
}

static struct kunit_case ne_pci_dev_test_cases[] = {
	KUNIT_CASE_PARAM(ne_pci_dev_test_reply_is_ours, ne_reply_gen_params),
	KUNIT_CASE_PARAM(ne_pci_dev_test_check_args, ne_args_gen_params),
	KUNIT_CASE(ne_pci_dev_test_errno),
	{}
};

static struct kunit_suite ne_pci_dev_test_suite = {
	.name = "nitro_enclaves_pci_dev",
	.test_cases = ne_pci_dev_test_cases,
};

kunit_test_suites(&ne_pci_dev_test_suite);
