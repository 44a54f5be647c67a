/*
 * Nitro Enclaves PCI device model: commands and the slot table
 *
 * See nitro_enclaves_core.h for what belongs here and what does not.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "trace.h"
#include "nitro_enclaves_core.h"

static const char *const ne_cmd_names[NE_CMD_MAX] = {
    [NE_CMD_INVALID] = "INVALID",
    [NE_CMD_ENCLAVE_START] = "ENCLAVE_START",
    [NE_CMD_ENCLAVE_GET_SLOT] = "ENCLAVE_GET_SLOT",
    [NE_CMD_ENCLAVE_STOP] = "ENCLAVE_STOP",
    [NE_CMD_SLOT_ALLOC] = "SLOT_ALLOC",
    [NE_CMD_SLOT_FREE] = "SLOT_FREE",
    [NE_CMD_SLOT_ADD_MEM] = "SLOT_ADD_MEM",
    [NE_CMD_SLOT_ADD_VCPU] = "SLOT_ADD_VCPU",
    [NE_CMD_SLOT_COUNT] = "SLOT_COUNT",
    [NE_CMD_NEXT_SLOT] = "NEXT_SLOT",
    [NE_CMD_SLOT_INFO] = "SLOT_INFO",
    [NE_CMD_SLOT_ADD_BULK_VCPUS] = "SLOT_ADD_BULK_VCPUS",
};

const char *ne_core_cmd_name(uint32_t type)
{
    return type < NE_CMD_MAX ? ne_cmd_names[type] : "unknown";
}

void ne_core_init(NeCore *c, const NeCoreOps *ops, void *opaque)
{
    c->ops = ops;
    c->opaque = opaque;
    c->nr_slots = 0;
    c->next_uid = 1;
}

/* Slot table */

NeSlot *ne_core_slot_find(NeCore *c, uint64_t uid)
{
    uint32_t i;

    for (i = 0; i < c->nr_slots; i++) {
        if (c->slots[i]->uid == uid) {
            return c->slots[i];
        }
    }
    return NULL;
}

static NeSlot *ne_slot_find_cid(NeCore *c, uint64_t cid)
{
    uint32_t i;

    for (i = 0; i < c->nr_slots; i++) {
        if (c->slots[i]->cid != 0 && c->slots[i]->cid == cid) {
            return c->slots[i];
        }
    }
    return NULL;
}

uint64_t ne_core_slot_nr_vcpus(const NeSlot *slot)
{
    return slot->vcpu_ids->len + slot->bulk_vcpus;
}

void ne_core_slot_set_state(NeSlot *slot, uint16_t state)
{
    trace_nitro_enclaves_slot_state(slot->uid, slot->state, state);
    slot->state = state;
}

static void ne_slot_free(NeCore *c, uint32_t index)
{
    NeSlot *slot = c->slots[index];

    trace_nitro_enclaves_slot_release(slot->uid);
    c->ops->slot_release(c->opaque, slot);
    g_array_free(slot->mem, true);
    g_array_free(slot->vcpu_ids, true);
    g_free(slot);
    c->nr_slots--;
    memmove(&c->slots[index], &c->slots[index + 1],
            (c->nr_slots - index) * sizeof(c->slots[0]));
    c->slots[c->nr_slots] = NULL;
}

void ne_core_free_all(NeCore *c)
{
    while (c->nr_slots) {
        ne_slot_free(c, c->nr_slots - 1);
    }
}

uint32_t ne_core_total_vcpus(NeCore *c)
{
    uint64_t n = 0;
    uint32_t i;

    for (i = 0; i < c->nr_slots; i++) {
        n += ne_core_slot_nr_vcpus(c->slots[i]);
    }
    return MIN(n, UINT32_MAX);
}

uint64_t ne_core_total_mem_bytes(NeCore *c)
{
    uint64_t n = 0;
    uint32_t i;

    for (i = 0; i < c->nr_slots; i++) {
        n += c->slots[i]->mem_size;
    }
    return n;
}

uint32_t ne_core_total_mem_ranges(NeCore *c)
{
    uint32_t n = 0;
    uint32_t i;

    for (i = 0; i < c->nr_slots; i++) {
        n += c->slots[i]->mem->len;
    }
    return n;
}

static bool ne_range_overlaps(NeCore *c, uint64_t paddr, uint64_t size)
{
    uint32_t i, j;

    for (i = 0; i < c->nr_slots; i++) {
        GArray *mem = c->slots[i]->mem;

        for (j = 0; j < mem->len; j++) {
            NeMemRange *r = &g_array_index(mem, NeMemRange, j);

            /* Neither range wraps, so the ends can be compared. */
            if (paddr < r->paddr + r->size && r->paddr < paddr + size) {
                return true;
            }
        }
    }
    return false;
}

static bool ne_vcpu_held(NeCore *c, uint32_t id)
{
    uint32_t i, j;

    for (i = 0; i < c->nr_slots; i++) {
        GArray *ids = c->slots[i]->vcpu_ids;

        for (j = 0; j < ids->len; j++) {
            if (g_array_index(ids, uint32_t, j) == id) {
                return true;
            }
        }
    }
    return false;
}

/* Exit hook (test BAR, QOM exit-slot): the enclave exits by itself. */
int ne_core_exit(NeCore *c, uint64_t uid)
{
    NeSlot *slot = ne_core_slot_find(c, uid);
    int rc = 0;

    if (!slot) {
        rc = -NE_ENOENT;
    } else if (slot->state != NE_STATE_RUNNING) {
        rc = -NE_EINVAL;
    }
    trace_nitro_enclaves_tb_exit(uid, rc);
    if (rc) {
        return rc;
    }
    c->ops->slot_stopping(c->opaque, slot);
    ne_core_slot_set_state(slot, NE_STATE_STOPPED);
    return 0;
}

/* Commands: each reads its request from @req and fills @reply. */

static int ne_cmd_enclave_start(NeCore *c, const uint8_t *req,
                                uint8_t *reply)
{
    uint64_t uid = ldq_le_p(req);
    uint64_t cid = ldq_le_p(req + 8);
    uint64_t flags = ldq_le_p(req + 16);
    NeSlot *slot = ne_core_slot_find(c, uid);
    NeSlot *holder;
    int rc = 0;

    if (!slot) {
        rc = -NE_ENOENT;
    } else if (slot->state != NE_STATE_INIT) {
        rc = -NE_EBUSY;
    } else if (slot->mem->len == 0 || ne_core_slot_nr_vcpus(slot) == 0) {
        rc = -NE_EINVAL;
    } else if (flags > NE_START_FLAGS_MAX) {
        rc = -NE_EINVAL;
    } else if ((cid != 0 && cid < NE_CID_FIRST_FREE) || cid >= NE_CID_LIMIT) {
        rc = -NE_EINVAL;
    } else if (cid != 0) {
        holder = ne_slot_find_cid(c, cid);
        if (holder && holder != slot) {
            rc = -NE_EADDRINUSE;
        }
    } else {
        /* At most 64 slots hold a CID: a free one is always found. */
        for (cid = NE_CID_FIRST_FREE; ne_slot_find_cid(c, cid); cid++) {
            continue;
        }
    }
    trace_nitro_enclaves_enclave_start(uid, ldq_le_p(req + 8), flags, cid,
                                       rc);
    if (rc) {
        return rc;
    }

    slot->cid = cid;
    slot->flags = flags;
    ne_core_slot_set_state(slot, NE_STATE_RUNNING);
    c->ops->slot_started(c->opaque, slot);
    stq_le_p(reply + NE_REPLY_SLOT_UID, uid);
    stq_le_p(reply + NE_REPLY_ENCLAVE_CID, cid);
    return 0;
}

static int ne_cmd_enclave_get_slot(NeCore *c, const uint8_t *req,
                                   uint8_t *reply)
{
    uint64_t cid = ldq_le_p(req);
    NeSlot *slot = ne_slot_find_cid(c, cid);

    trace_nitro_enclaves_enclave_get_slot(cid, slot ? slot->uid : 0);
    if (!slot) {
        return -NE_ENOENT;
    }
    stq_le_p(reply + NE_REPLY_SLOT_UID, slot->uid);
    return 0;
}

static int ne_cmd_enclave_stop(NeCore *c, const uint8_t *req, uint8_t *reply)
{
    uint64_t uid = ldq_le_p(req);
    NeSlot *slot = ne_core_slot_find(c, uid);
    int rc = 0;

    if (!slot) {
        rc = -NE_ENOENT;
    } else if (slot->state != NE_STATE_RUNNING) {
        rc = -NE_EINVAL;
    }
    trace_nitro_enclaves_enclave_stop(uid, rc);
    if (rc) {
        return rc;
    }

    c->ops->slot_stopping(c->opaque, slot);
    ne_core_slot_set_state(slot, NE_STATE_STOPPED);
    stq_le_p(reply + NE_REPLY_SLOT_UID, uid);
    return 0;
}

static int ne_cmd_slot_alloc(NeCore *c, const uint8_t *req, uint8_t *reply)
{
    NeSlot *slot;

    if (c->nr_slots >= c->max_slots) {
        trace_nitro_enclaves_slot_alloc(0, -NE_ENOSPC);
        return -NE_ENOSPC;
    }

    slot = g_new0(NeSlot, 1);
    slot->uid = c->next_uid++;
    slot->state = NE_STATE_INIT;
    slot->mem = g_array_new(false, false, sizeof(NeMemRange));
    slot->vcpu_ids = g_array_new(false, false, sizeof(uint32_t));
    c->ops->slot_new(c->opaque, slot);
    c->slots[c->nr_slots++] = slot;
    trace_nitro_enclaves_slot_alloc(slot->uid, 0);

    stq_le_p(reply + NE_REPLY_SLOT_UID, slot->uid);
    stq_le_p(reply + NE_REPLY_MEM_REGIONS, c->mem_regions);
    return 0;
}

static int ne_cmd_slot_free(NeCore *c, const uint8_t *req, uint8_t *reply)
{
    uint64_t uid = ldq_le_p(req);
    uint32_t i;
    int rc = -NE_ENOENT;

    for (i = 0; i < c->nr_slots; i++) {
        if (c->slots[i]->uid == uid) {
            rc = c->slots[i]->state == NE_STATE_RUNNING ? -NE_EBUSY : 0;
            break;
        }
    }
    trace_nitro_enclaves_slot_free(uid, rc);
    if (rc) {
        return rc;
    }

    ne_slot_free(c, i);
    stq_le_p(reply + NE_REPLY_SLOT_UID, uid);
    return 0;
}

static int ne_cmd_slot_add_mem(NeCore *c, const uint8_t *req, uint8_t *reply)
{
    uint64_t uid = ldq_le_p(req);
    uint64_t paddr = ldq_le_p(req + 8);
    uint64_t size = ldq_le_p(req + 16);
    NeSlot *slot = ne_core_slot_find(c, uid);
    NeMemRange range = { .paddr = paddr, .size = size };
    int rc = 0;

    if (!slot) {
        rc = -NE_ENOENT;
    } else if (slot->state != NE_STATE_INIT) {
        rc = -NE_EBUSY;
    } else if (size == 0 || !QEMU_IS_ALIGNED(paddr, NE_MEM_ALIGN) ||
               !QEMU_IS_ALIGNED(size, NE_MEM_ALIGN)) {
        rc = -NE_EINVAL;
    } else if (paddr + size < paddr ||
               !c->ops->range_is_ram(c->opaque, paddr, size)) {
        rc = -NE_EFAULT;
    } else if (ne_range_overlaps(c, paddr, size)) {
        rc = -NE_EEXIST;
    } else if (slot->mem->len >= c->mem_regions) {
        rc = -NE_E2BIG;
    }
    trace_nitro_enclaves_slot_add_mem(uid, paddr, size, rc);
    if (rc) {
        return rc;
    }

    g_array_append_val(slot->mem, range);
    slot->mem_size += size;
    stq_le_p(reply + NE_REPLY_SLOT_UID, uid);
    return 0;
}

static int ne_cmd_slot_add_vcpu(NeCore *c, const uint8_t *req, uint8_t *reply)
{
    uint64_t uid = ldq_le_p(req);
    uint32_t id = ldl_le_p(req + 8);
    NeSlot *slot = ne_core_slot_find(c, uid);
    int rc = 0;

    if (!slot) {
        rc = -NE_ENOENT;
    } else if (slot->state != NE_STATE_INIT) {
        rc = -NE_EBUSY;
    } else if (id >= c->ops->machine_cpus(c->opaque)) {
        rc = -NE_EINVAL;
    } else if (ne_vcpu_held(c, id)) {
        rc = -NE_EEXIST;
    }
    trace_nitro_enclaves_slot_add_vcpu(uid, id, rc);
    if (rc) {
        return rc;
    }

    g_array_append_val(slot->vcpu_ids, id);
    stq_le_p(reply + NE_REPLY_SLOT_UID, uid);
    return 0;
}

static int ne_cmd_slot_count(NeCore *c, const uint8_t *req, uint8_t *reply)
{
    trace_nitro_enclaves_slot_count(c->nr_slots);
    stq_le_p(reply + NE_REPLY_SLOT_COUNT, c->nr_slots);
    return 0;
}

static int ne_cmd_next_slot(NeCore *c, const uint8_t *req, uint8_t *reply)
{
    uint64_t uid = ldq_le_p(req);
    uint64_t next = 0;
    uint32_t i;

    for (i = 0; i < c->nr_slots; i++) {
        uint64_t u = c->slots[i]->uid;

        if (u > uid && (next == 0 || u < next)) {
            next = u;
        }
    }
    trace_nitro_enclaves_next_slot(uid, next);
    if (!next) {
        return -NE_ENOENT;
    }
    stq_le_p(reply + NE_REPLY_SLOT_UID, next);
    return 0;
}

static int ne_cmd_slot_info(NeCore *c, const uint8_t *req, uint8_t *reply)
{
    uint64_t uid = ldq_le_p(req);
    NeSlot *slot = ne_core_slot_find(c, uid);

    trace_nitro_enclaves_slot_info(uid, slot ? slot->state : 0,
                                   slot ? 0 : -NE_ENOENT);
    if (!slot) {
        return -NE_ENOENT;
    }
    stq_le_p(reply + NE_REPLY_SLOT_UID, uid);
    stq_le_p(reply + NE_REPLY_ENCLAVE_CID, slot->cid);
    stq_le_p(reply + NE_REPLY_MEM_REGIONS, slot->mem->len);
    stq_le_p(reply + NE_REPLY_MEM_SIZE, slot->mem_size);
    stq_le_p(reply + NE_REPLY_NR_VCPUS, ne_core_slot_nr_vcpus(slot));
    stq_le_p(reply + NE_REPLY_FLAGS, slot->flags);
    stw_le_p(reply + NE_REPLY_STATE, slot->state);
    return 0;
}

static int ne_cmd_slot_add_bulk_vcpus(NeCore *c, const uint8_t *req,
                                      uint8_t *reply)
{
    uint64_t uid = ldq_le_p(req);
    uint64_t nr = ldq_le_p(req + 8);
    NeSlot *slot = ne_core_slot_find(c, uid);
    int rc = 0;

    if (!slot) {
        rc = -NE_ENOENT;
    } else if (slot->state != NE_STATE_INIT) {
        rc = -NE_EBUSY;
    } else if (nr == 0 || nr > c->ops->machine_cpus(c->opaque)) {
        rc = -NE_EINVAL;
    }
    trace_nitro_enclaves_slot_add_bulk_vcpus(uid, nr, rc);
    if (rc) {
        return rc;
    }

    slot->bulk_vcpus += nr;
    stq_le_p(reply + NE_REPLY_SLOT_UID, uid);
    return 0;
}

typedef int (*NeCmdFn)(NeCore *c, const uint8_t *req, uint8_t *reply);

static const NeCmdFn ne_cmd_fns[NE_CMD_MAX] = {
    [NE_CMD_ENCLAVE_START] = ne_cmd_enclave_start,
    [NE_CMD_ENCLAVE_GET_SLOT] = ne_cmd_enclave_get_slot,
    [NE_CMD_ENCLAVE_STOP] = ne_cmd_enclave_stop,
    [NE_CMD_SLOT_ALLOC] = ne_cmd_slot_alloc,
    [NE_CMD_SLOT_FREE] = ne_cmd_slot_free,
    [NE_CMD_SLOT_ADD_MEM] = ne_cmd_slot_add_mem,
    [NE_CMD_SLOT_ADD_VCPU] = ne_cmd_slot_add_vcpu,
    [NE_CMD_SLOT_COUNT] = ne_cmd_slot_count,
    [NE_CMD_NEXT_SLOT] = ne_cmd_next_slot,
    [NE_CMD_SLOT_INFO] = ne_cmd_slot_info,
    [NE_CMD_SLOT_ADD_BULK_VCPUS] = ne_cmd_slot_add_bulk_vcpus,
};

/*
 * Requests that name a slot: their replies echo its uid, failures included,
 * so that a driver can tell its reply from a stray one. NEXT_SLOT's uid is
 * a cursor: its reply names the following slot instead.
 */
static bool ne_cmd_echoes_uid(uint32_t type)
{
    switch (type) {
    case NE_CMD_ENCLAVE_START:
    case NE_CMD_ENCLAVE_STOP:
    case NE_CMD_SLOT_FREE:
    case NE_CMD_SLOT_ADD_MEM:
    case NE_CMD_SLOT_ADD_VCPU:
    case NE_CMD_SLOT_INFO:
    case NE_CMD_SLOT_ADD_BULK_VCPUS:
        return true;
    default:
        return false;
    }
}

int ne_core_command(NeCore *c, uint32_t type, const uint8_t *req,
                    uint8_t *reply)
{
    int rc;

    memset(reply, 0, NE_REPLY_SIZE);
    trace_nitro_enclaves_command(type, ne_core_cmd_name(type), c->enabled);
    if (type < NE_CMD_MAX) {
        c->tb_cmd_count[type]++;
    }

    if (!c->enabled) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: command %u (%s) while the device is off\n",
                      TYPE_NITRO_ENCLAVES_PCI, type, ne_core_cmd_name(type));
        rc = -NE_EIO;
    } else if (c->tb_fail_cmd != 0 && c->tb_fail_cmd == type) {
        rc = c->tb_fail_rc;
        c->tb_fail_cmd = 0;
        trace_nitro_enclaves_command_failed(type, rc);
    } else if (type < NE_CMD_MAX && ne_cmd_fns[type]) {
        rc = ne_cmd_fns[type](c, req, reply);
    } else {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: unknown command %u\n",
                      TYPE_NITRO_ENCLAVES_PCI, type);
        rc = -NE_EOPNOTSUPP;
    }

    if (rc) {
        /* A failed command reports its rc and the uid it was about. */
        memset(reply, 0, NE_REPLY_SIZE);
    }
    if (ne_cmd_echoes_uid(type)) {
        stq_le_p(reply + NE_REPLY_SLOT_UID, ldq_le_p(req));
    }
    if (rc < 0 && c->tb_err_uid_zero) {
        /* Test hook: a device that leaves the uid out of its failures. */
        trace_nitro_enclaves_reply_uid_zeroed(type, rc);
        stq_le_p(reply + NE_REPLY_SLOT_UID, 0);
    }
    stl_le_p(reply + NE_REPLY_RC, rc);
    return rc;
}
