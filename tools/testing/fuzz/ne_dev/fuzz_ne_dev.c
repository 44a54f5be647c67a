// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness of the NE PCI device's commands and slot table:
 * tools/qemu/hw/misc/nitro_enclaves_core.c, the part of the QEMU model
 * that decodes what the guest writes to NE_SEND_DATA and NE_COMMAND.
 *
 * Input: 4 bytes of machine (CPU count, max-slots, mem-regions, device
 * on and the uid-zero hook), then steps, each an op byte and its bytes:
 *
 *   0x00-0x7f  command type op & 0x0f (0..15: 12..15 are unknown) with a
 *              24-byte request; with op & 0x10 the request is aimed: its
 *              uid (or CID) names an existing slot, ADD_MEM's range lies
 *              near the fake RAM, ADD_VCPU's id near the CPU count
 *   0x80-0x9f  command with a raw 32-bit type and a 24-byte request
 *   0xa0-0xbf  exit hook on a slot (1 byte: which)
 *   0xc0-0xdf  device: enable, disable (frees every slot), flip the
 *              uid-zero hook, arm the fail hook (type byte, s32 rc)
 *   0xe0-0xff  command type op & 0x0f with an 8-byte request (uid only)
 *
 * Every command's rc is predicted from the table before it runs (the rules
 * of Documentation/virt/ne_pci_device.rst, written again here), its reply
 * is checked field by field, a failed command must leave the table as it
 * was, and after every step the table must hold: limits, unique uids,
 * CIDs, vCPU ids and non-overlapping RAM ranges, states and their fields,
 * totals, and one device-side boot record per slot.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "nitro_enclaves_core.h"
#include "../fuzz_check.h"

#define MIB		(1024ULL * 1024)
#define GIB		(1024 * MIB)
#define BOOT_MAGIC	0x6e65626f6f74ULL

unsigned int ne_fuzz_guest_errors;

/* NE_FUZZ_VERBOSE=1: print each command and its rc (to read a seed). */
static bool verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	verbose = getenv("NE_FUZZ_VERBOSE");
	return 0;
}

/* Fake machine: RAM at [0, 512 MiB) and [4 GiB, 4.5 GiB), N CPUs */
static const NeMemRange ram[] = {
	{ .paddr = 0, .size = 512 * MIB },
	{ .paddr = 4 * GIB, .size = 512 * MIB },
};

static unsigned int machine_cpus;

/* What the device keeps per slot: counted, so a leak or a stray shows. */
struct fake_boot {
	uint64_t magic;
	uint64_t uid;
	unsigned int started;
	unsigned int stopped;
};

static unsigned int live_boots, started_calls, stopping_calls;

static bool fake_range_is_ram(void *opaque, uint64_t paddr, uint64_t size)
{
	unsigned int i;

	check(size != 0 && paddr + size > paddr);
	for (i = 0; i < G_N_ELEMENTS(ram); i++)
		if (paddr >= ram[i].paddr &&
		    paddr + size <= ram[i].paddr + ram[i].size)
			return true;
	return false;
}

static unsigned int fake_machine_cpus(void *opaque)
{
	return machine_cpus;
}

static void fake_slot_new(void *opaque, NeSlot *slot)
{
	struct fake_boot *b = g_new0(struct fake_boot, 1);

	check(!slot->boot && slot->uid != 0);
	b->magic = BOOT_MAGIC;
	b->uid = slot->uid;
	slot->boot = b;
	live_boots++;
}

static void fake_slot_started(void *opaque, NeSlot *slot)
{
	struct fake_boot *b = slot->boot;

	check(b->magic == BOOT_MAGIC && b->uid == slot->uid);
	check(slot->state == NE_STATE_RUNNING && slot->cid != 0);
	check(!b->started);
	b->started++;
	started_calls++;
}

static void fake_slot_stopping(void *opaque, NeSlot *slot)
{
	struct fake_boot *b = slot->boot;

	check(b->magic == BOOT_MAGIC && b->uid == slot->uid);
	check(slot->state == NE_STATE_RUNNING && b->started && !b->stopped);
	b->stopped++;
	stopping_calls++;
}

static void fake_slot_release(void *opaque, NeSlot *slot)
{
	struct fake_boot *b = slot->boot;

	check(b->magic == BOOT_MAGIC && b->uid == slot->uid);
	b->magic = 0;
	g_free(b);
	slot->boot = NULL;
	live_boots--;
}

static const NeCoreOps fake_ops = {
	.range_is_ram = fake_range_is_ram,
	.machine_cpus = fake_machine_cpus,
	.slot_new = fake_slot_new,
	.slot_started = fake_slot_started,
	.slot_stopping = fake_slot_stopping,
	.slot_release = fake_slot_release,
};

/* Little-endian helpers of our own */
static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++, v >>= 8)
		p[i] = v;
}

/* The input, consumed front to back; reads past the end give zeros. */
struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t take8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static void take(struct input *in, uint8_t *buf, size_t n)
{
	while (n--)
		*buf++ = take8(in);
}

/* Table lookups, written apart from the core's */

static NeSlot *find_uid(NeCore *c, uint64_t uid)
{
	uint32_t i;

	for (i = 0; i < c->nr_slots; i++)
		if (c->slots[i]->uid == uid)
			return c->slots[i];
	return NULL;
}

static NeSlot *find_cid(NeCore *c, uint64_t cid)
{
	uint32_t i;

	if (cid == 0)
		return NULL;
	for (i = 0; i < c->nr_slots; i++)
		if (c->slots[i]->cid == cid)
			return c->slots[i];
	return NULL;
}

static bool mem_taken(NeCore *c, uint64_t paddr, uint64_t size)
{
	uint32_t i, j;

	for (i = 0; i < c->nr_slots; i++) {
		GArray *mem = c->slots[i]->mem;

		for (j = 0; j < mem->len; j++) {
			NeMemRange *r = &g_array_index(mem, NeMemRange, j);

			if (!(paddr + size <= r->paddr ||
			      r->paddr + r->size <= paddr))
				return true;
		}
	}
	return false;
}

static bool vcpu_taken(NeCore *c, uint32_t id)
{
	uint32_t i, j;

	for (i = 0; i < c->nr_slots; i++) {
		GArray *ids = c->slots[i]->vcpu_ids;

		for (j = 0; j < ids->len; j++)
			if (g_array_index(ids, uint32_t, j) == id)
				return true;
	}
	return false;
}

static uint64_t lowest_free_cid(NeCore *c)
{
	uint64_t cid = NE_CID_FIRST_FREE;

	while (find_cid(c, cid))
		cid++;
	return cid;
}

static uint64_t nr_vcpus(const NeSlot *s)
{
	return s->vcpu_ids->len + s->bulk_vcpus;
}

/* A digest of everything in the table, to see that it did not change. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

static uint64_t table_digest(NeCore *c)
{
	uint64_t h = mix(c->nr_slots, c->next_uid);
	uint32_t i, j;

	for (i = 0; i < c->nr_slots; i++) {
		NeSlot *s = c->slots[i];

		h = mix(h, s->uid);
		h = mix(h, s->cid);
		h = mix(h, s->flags);
		h = mix(h, s->state);
		h = mix(h, s->mem_size);
		h = mix(h, s->bulk_vcpus);
		for (j = 0; j < s->mem->len; j++) {
			h = mix(h, g_array_index(s->mem, NeMemRange, j).paddr);
			h = mix(h, g_array_index(s->mem, NeMemRange, j).size);
		}
		for (j = 0; j < s->vcpu_ids->len; j++)
			h = mix(h, g_array_index(s->vcpu_ids, uint32_t, j));
	}
	return h;
}

/* The rc the rules give @type on the table as it is. */
static int expected_rc(NeCore *c, uint32_t type, const uint8_t *req)
{
	uint64_t uid = get64(req), a = get64(req + 8), b = get64(req + 16);
	NeSlot *s = find_uid(c, uid);

	switch (type) {
	case NE_CMD_ENCLAVE_START:
		if (!s)
			return -NE_ENOENT;
		if (s->state != NE_STATE_INIT)
			return -NE_EBUSY;
		if (!s->mem->len || !nr_vcpus(s) || b > 1)
			return -NE_EINVAL;
		if ((a && a < 4) || a >= 0xffffffffULL)
			return -NE_EINVAL;
		return find_cid(c, a) ? -NE_EADDRINUSE : 0;
	case NE_CMD_ENCLAVE_GET_SLOT:
		return find_cid(c, uid) ? 0 : -NE_ENOENT;
	case NE_CMD_ENCLAVE_STOP:
		if (!s)
			return -NE_ENOENT;
		return s->state == NE_STATE_RUNNING ? 0 : -NE_EINVAL;
	case NE_CMD_SLOT_ALLOC:
		return c->nr_slots < c->max_slots ? 0 : -NE_ENOSPC;
	case NE_CMD_SLOT_FREE:
		if (!s)
			return -NE_ENOENT;
		return s->state == NE_STATE_RUNNING ? -NE_EBUSY : 0;
	case NE_CMD_SLOT_ADD_MEM:
		if (!s)
			return -NE_ENOENT;
		if (s->state != NE_STATE_INIT)
			return -NE_EBUSY;
		if (!b || a % (2 * MIB) || b % (2 * MIB))
			return -NE_EINVAL;
		if (a + b < a || !fake_range_is_ram(NULL, a, b))
			return -NE_EFAULT;
		if (mem_taken(c, a, b))
			return -NE_EEXIST;
		return s->mem->len < c->mem_regions ? 0 : -NE_E2BIG;
	case NE_CMD_SLOT_ADD_VCPU:
		if (!s)
			return -NE_ENOENT;
		if (s->state != NE_STATE_INIT)
			return -NE_EBUSY;
		if ((uint32_t)a >= machine_cpus)
			return -NE_EINVAL;
		return vcpu_taken(c, (uint32_t)a) ? -NE_EEXIST : 0;
	case NE_CMD_SLOT_COUNT:
		return 0;
	case NE_CMD_NEXT_SLOT:
		return c->nr_slots && c->slots[c->nr_slots - 1]->uid > uid ?
		       0 : -NE_ENOENT;
	case NE_CMD_SLOT_INFO:
		return s ? 0 : -NE_ENOENT;
	case NE_CMD_SLOT_ADD_BULK_VCPUS:
		if (!s)
			return -NE_ENOENT;
		if (s->state != NE_STATE_INIT)
			return -NE_EBUSY;
		return a && a <= machine_cpus ? 0 : -NE_EINVAL;
	default:
		return -NE_EOPNOTSUPP;
	}
}

static bool echoes_uid(uint32_t type)
{
	return type == NE_CMD_ENCLAVE_START || type == NE_CMD_ENCLAVE_STOP ||
	       type == NE_CMD_SLOT_FREE || type == NE_CMD_SLOT_ADD_MEM ||
	       type == NE_CMD_SLOT_ADD_VCPU || type == NE_CMD_SLOT_INFO ||
	       type == NE_CMD_SLOT_ADD_BULK_VCPUS;
}

/* Every reply field that @type does not set is zero. */
static void check_zero_except(const uint8_t *reply, unsigned int keep)
{
	unsigned int off;

	check(get64(reply) >> 32 == 0);	/* padding after rc */
	for (off = 8; off < NE_REPLY_SIZE; off += 8)
		if (!(keep & (1u << (off / 8))))
			check(get64(reply + off) == 0);
}

#define F(off)	(1u << ((off) / 8))

/* Run one command and check its rc, its reply and what it did. */
static void run_command(NeCore *c, uint32_t type, const uint8_t *req)
{
	uint8_t reply[NE_REPLY_SIZE];
	uint64_t uid = get64(req), before = table_digest(c);
	uint32_t nr = c->nr_slots, fail_cmd = c->tb_fail_cmd;
	int32_t fail_rc = c->tb_fail_rc;
	uint64_t next_uid = c->next_uid;
	uint64_t free_cid = type == NE_CMD_ENCLAVE_START ? lowest_free_cid(c) : 0;
	unsigned int errors = ne_fuzz_guest_errors, started = started_calls;
	unsigned int stopping = stopping_calls, boots = live_boots;
	uint32_t count = type < NE_CMD_MAX ? c->tb_cmd_count[type] : 0;
	NeSlot *s = find_uid(c, uid), *holder = find_cid(c, uid);
	uint64_t mem_len = s ? s->mem->len : 0, mem_size = s ? s->mem_size : 0;
	uint64_t ids = s ? s->vcpu_ids->len : 0, bulk = s ? s->bulk_vcpus : 0;
	bool hooked = c->enabled && fail_cmd != 0 && fail_cmd == type;
	int want, rc;

	if (!c->enabled)
		want = -NE_EIO;
	else if (hooked)
		want = fail_rc;
	else
		want = expected_rc(c, type, req);

	rc = ne_core_command(c, type, req, reply);
	if (verbose)
		fprintf(stderr, "command %u (%s) %#" PRIx64 " %#" PRIx64
			" %#" PRIx64 ": rc %d\n", type, ne_core_cmd_name(type),
			uid, get64(req + 8), get64(req + 16), rc);

	check(rc == want);
	check((int32_t)get64(reply) == rc);
	if (type < NE_CMD_MAX)
		check(c->tb_cmd_count[type] == count + 1);
	check(hooked ? c->tb_fail_cmd == 0 : c->tb_fail_cmd == fail_cmd);
	/* The device off and unknown types are the guest errors logged. */
	if (!c->enabled || (!hooked && (type == 0 || type >= NE_CMD_MAX)))
		check(ne_fuzz_guest_errors == errors + 1);
	else
		check(ne_fuzz_guest_errors == errors);

	/* The uid echo, and nothing else, when no command ran or it failed */
	if (rc != 0 || hooked) {
		uint64_t echo = echoes_uid(type) ? uid : 0;

		if (rc < 0 && c->tb_err_uid_zero)
			echo = 0;
		check(get64(reply + NE_REPLY_SLOT_UID) == echo);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID));
		check(table_digest(c) == before);
		check(started_calls == started && stopping_calls == stopping);
		check(live_boots == boots);
		return;
	}

	switch (type) {
	case NE_CMD_ENCLAVE_START:
		check(get64(reply + NE_REPLY_SLOT_UID) == uid);
		check(get64(reply + NE_REPLY_ENCLAVE_CID) ==
		      (get64(req + 8) ? get64(req + 8) : free_cid));
		check_zero_except(reply, F(NE_REPLY_SLOT_UID) |
				  F(NE_REPLY_ENCLAVE_CID));
		check(s->state == NE_STATE_RUNNING && s->flags == get64(req + 16));
		check(s->cid == get64(reply + NE_REPLY_ENCLAVE_CID));
		check(started_calls == started + 1);
		break;
	case NE_CMD_ENCLAVE_GET_SLOT:
		check(get64(reply + NE_REPLY_SLOT_UID) == holder->uid);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID));
		check(table_digest(c) == before);
		break;
	case NE_CMD_ENCLAVE_STOP:
		check(get64(reply + NE_REPLY_SLOT_UID) == uid);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID));
		check(s->state == NE_STATE_STOPPED);
		check(stopping_calls == stopping + 1);
		break;
	case NE_CMD_SLOT_ALLOC:
		check(get64(reply + NE_REPLY_SLOT_UID) == next_uid);
		check(get64(reply + NE_REPLY_MEM_REGIONS) == c->mem_regions);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID) |
				  F(NE_REPLY_MEM_REGIONS));
		check(c->nr_slots == nr + 1 && c->next_uid == next_uid + 1);
		s = c->slots[nr];
		check(s->uid == next_uid && s->state == NE_STATE_INIT);
		check(!s->mem->len && !s->vcpu_ids->len && !s->bulk_vcpus);
		check(live_boots == boots + 1);
		break;
	case NE_CMD_SLOT_FREE:
		check(get64(reply + NE_REPLY_SLOT_UID) == uid);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID));
		check(c->nr_slots == nr - 1 && !find_uid(c, uid));
		check(live_boots == boots - 1);
		break;
	case NE_CMD_SLOT_ADD_MEM:
		check(get64(reply + NE_REPLY_SLOT_UID) == uid);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID));
		check(s->mem->len == mem_len + 1);
		check(s->mem_size == mem_size + get64(req + 16));
		break;
	case NE_CMD_SLOT_ADD_VCPU:
		check(get64(reply + NE_REPLY_SLOT_UID) == uid);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID));
		check(s->vcpu_ids->len == ids + 1);
		check(g_array_index(s->vcpu_ids, uint32_t, ids) ==
		      (uint32_t)get64(req + 8));
		break;
	case NE_CMD_SLOT_COUNT:
		check(get64(reply + NE_REPLY_SLOT_COUNT) == nr);
		check_zero_except(reply, F(NE_REPLY_SLOT_COUNT));
		check(table_digest(c) == before);
		break;
	case NE_CMD_NEXT_SLOT: {
		uint64_t next = get64(reply + NE_REPLY_SLOT_UID);
		uint32_t i;

		check(next > uid && find_uid(c, next));
		for (i = 0; i < c->nr_slots; i++)
			check(c->slots[i]->uid <= uid || c->slots[i]->uid >= next);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID));
		check(table_digest(c) == before);
		break;
	}
	case NE_CMD_SLOT_INFO:
		check(get64(reply + NE_REPLY_SLOT_UID) == uid);
		check(get64(reply + NE_REPLY_ENCLAVE_CID) == s->cid);
		check(get64(reply + NE_REPLY_MEM_REGIONS) == s->mem->len);
		check(get64(reply + NE_REPLY_MEM_SIZE) == s->mem_size);
		check(get64(reply + NE_REPLY_NR_VCPUS) == nr_vcpus(s));
		check(get64(reply + NE_REPLY_FLAGS) == s->flags);
		check(get64(reply + NE_REPLY_STATE) == s->state);
		check(get64(reply + NE_REPLY_SLOT_COUNT) == 0);
		check(table_digest(c) == before);
		break;
	case NE_CMD_SLOT_ADD_BULK_VCPUS:
		check(get64(reply + NE_REPLY_SLOT_UID) == uid);
		check_zero_except(reply, F(NE_REPLY_SLOT_UID));
		check(s->bulk_vcpus == bulk + get64(req + 8));
		break;
	default:
		check(0);
	}
}

static int range_cmp(const void *a, const void *b)
{
	const NeMemRange *x = a, *y = b;

	return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

/* What must hold between any two steps */
static void check_table(NeCore *c)
{
	/* 2 MiB units of RAM: at most that many ranges */
	static NeMemRange ranges[(512 * MIB / (2 * MIB)) * 2];
	uint64_t total_mem = 0, total_vcpus = 0, prev_uid = 0, held = 0;
	uint32_t total_ranges = 0, total_ids = 0, nr_ranges = 0, i, j;

	check(c->max_slots >= 1 && c->max_slots <= NE_MAX_SLOTS_LIMIT);
	check(c->nr_slots <= c->max_slots);
	check(live_boots == c->nr_slots);
	for (i = c->nr_slots; i < NE_MAX_SLOTS_LIMIT; i++)
		check(!c->slots[i]);

	for (i = 0; i < c->nr_slots; i++) {
		NeSlot *s = c->slots[i];
		struct fake_boot *b = s->boot;
		uint64_t size = 0;

		check(s && b);
		check(b->magic == BOOT_MAGIC && b->uid == s->uid);
		/* Allocation order is uid order; a uid is never reused. */
		check(s->uid > prev_uid && s->uid < c->next_uid);
		prev_uid = s->uid;

		switch (s->state) {
		case NE_STATE_INIT:
			check(s->cid == 0 && s->flags == 0 && !b->started);
			break;
		case NE_STATE_RUNNING:
		case NE_STATE_STOPPED:
			check(s->cid >= NE_CID_FIRST_FREE &&
			      s->cid < NE_CID_LIMIT);
			check(s->flags <= NE_START_FLAGS_MAX);
			check(s->mem->len > 0 && nr_vcpus(s) > 0);
			check(b->started == 1);
			check(b->stopped == (s->state == NE_STATE_STOPPED));
			break;
		default:
			check(0);
		}
		for (j = 0; j < i; j++)
			check(s->cid == 0 || c->slots[j]->cid != s->cid);

		check(s->mem->len <= c->mem_regions);
		for (j = 0; j < s->mem->len; j++) {
			NeMemRange *r = &g_array_index(s->mem, NeMemRange, j);

			check(r->size && r->paddr % (2 * MIB) == 0 &&
			      r->size % (2 * MIB) == 0);
			check(fake_range_is_ram(NULL, r->paddr, r->size));
			check(nr_ranges < G_N_ELEMENTS(ranges));
			ranges[nr_ranges++] = *r;
			size += r->size;
		}
		check(size == s->mem_size);
		total_mem += size;
		total_ranges += s->mem->len;

		for (j = 0; j < s->vcpu_ids->len; j++) {
			uint32_t id = g_array_index(s->vcpu_ids, uint32_t, j);

			/* Below the CPU count, and held once in all slots */
			check(id < machine_cpus && !(held & (1ULL << id)));
			held |= 1ULL << id;
		}
		total_ids += s->vcpu_ids->len;
		total_vcpus += nr_vcpus(s);
	}
	check(total_ids <= machine_cpus);
	/* No two ranges of any slots overlap. */
	qsort(ranges, nr_ranges, sizeof(ranges[0]), range_cmp);
	for (i = 1; i < nr_ranges; i++)
		check(ranges[i - 1].paddr + ranges[i - 1].size <= ranges[i].paddr);
	check(total_mem <= ram[0].size + ram[1].size);
	check(ne_core_total_mem_bytes(c) == total_mem);
	check(ne_core_total_mem_ranges(c) == total_ranges);
	check(ne_core_total_vcpus(c) == MIN(total_vcpus, UINT32_MAX));
}

/* An existing slot's uid picked by @sel, or @raw when there is none */
static uint64_t pick_uid(NeCore *c, uint8_t sel, uint64_t raw)
{
	return c->nr_slots ? c->slots[sel % c->nr_slots]->uid : raw;
}

/* Make an aimed request meet the early checks, so later ones are reached. */
static void aim(NeCore *c, uint32_t type, uint8_t *req)
{
	uint64_t uid = pick_uid(c, req[0], get64(req));
	NeSlot *s;

	switch (type) {
	case NE_CMD_ENCLAVE_GET_SLOT:
		s = c->nr_slots ? c->slots[req[0] % c->nr_slots] : NULL;
		put64(req, s ? s->cid : req[0]);
		return;
	case NE_CMD_SLOT_ADD_MEM:
		/* 2 MiB units around the RAM: inside, at the ends, past them */
		put64(req + 8, (req[8] & 0x80 ? 4 * GIB : 0) +
		      (uint64_t)(req[8] & 0x7f) * 4 * MIB);
		put64(req + 16, ((uint64_t)(req[16] & 0x3f) + 1) * 2 * MIB);
		break;
	case NE_CMD_SLOT_ADD_VCPU:
		put64(req + 8, req[8] % (machine_cpus + 2));
		break;
	case NE_CMD_SLOT_ADD_BULK_VCPUS:
		put64(req + 8, req[8] % (machine_cpus + 2));
		break;
	case NE_CMD_ENCLAVE_START:
		put64(req + 8, req[8] < 0xf0 ? req[8] % 12 : 0xffffffffULL -
		      (req[8] & 1));
		put64(req + 16, req[16] % 3);
		break;
	}
	put64(req, uid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { .p = data, .left = size };
	uint8_t req[NE_DATA_SIZE];
	NeCore *c = g_new0(NeCore, 1);
	unsigned int steps = 0;
	uint8_t cfg;

	machine_cpus = 1 + take8(&in) % 64;
	ne_core_init(c, &fake_ops, NULL);
	c->max_slots = 1 + take8(&in) % NE_MAX_SLOTS_LIMIT;
	c->mem_regions = 1 + take8(&in) % 8;
	cfg = take8(&in);
	c->enabled = !(cfg & 1);
	c->tb_err_uid_zero = !!(cfg & 2);
	live_boots = 0;
	started_calls = 0;
	stopping_calls = 0;
	/* NE_SEND_DATA keeps what earlier requests left beyond 24 bytes. */
	memset(req, 0, sizeof(req));
	check_table(c);

	while (in.left && steps++ < 512) {
		uint8_t op = take8(&in);
		uint32_t type;

		if (op < 0x80 || op >= 0xe0) {
			type = op & 0x0f;
			memset(req, 0, 24);
			take(&in, req, op >= 0xe0 ? 8 : 24);
			if (op < 0x80 && (op & 0x10))
				aim(c, type, req);
			run_command(c, type, req);
		} else if (op < 0xa0) {
			uint8_t t[4];

			take(&in, t, 4);
			type = t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24;
			take(&in, req, 24);
			run_command(c, type, req);
		} else if (op < 0xc0) {
			uint8_t sel = take8(&in);
			uint64_t uid = pick_uid(c, sel, sel);
			NeSlot *s = find_uid(c, uid);
			uint16_t state = s ? s->state : 0;
			unsigned int stopping = stopping_calls;
			int rc = ne_core_exit(c, uid);

			check(rc == (!s ? -NE_ENOENT :
				     state != NE_STATE_RUNNING ? -NE_EINVAL : 0));
			check(stopping_calls == stopping + !rc);
			check(!s || s->state ==
			      (rc ? state : NE_STATE_STOPPED));
		} else {
			switch (op & 3) {
			case 0:
				c->enabled = true;
				break;
			case 1:
				ne_core_free_all(c);
				check(c->nr_slots == 0 && live_boots == 0);
				c->enabled = false;
				break;
			case 2:
				c->tb_err_uid_zero = !c->tb_err_uid_zero;
				break;
			case 3: {
				uint8_t r[4];

				c->tb_fail_cmd = take8(&in) % 14;
				take(&in, r, 4);
				c->tb_fail_rc = (int32_t)(r[0] | r[1] << 8 |
					r[2] << 16 | (uint32_t)r[3] << 24);
				break;
			}
			}
		}
		check_table(c);
	}

	ne_core_free_all(c);
	check(c->nr_slots == 0 && live_boots == 0);
	g_free(c);
	return 0;
}
