/*
 * Nitro Enclaves PCI device model: commands and the slot table
 *
 * The part of nitro_enclaves.c that decides what a command does: it
 * decodes the request the guest wrote, checks it against the slot table
 * and the limits, changes the table and builds the 72-byte reply, with
 * the uid echo and the test hooks that act on commands. It uses no QEMU
 * device types: what it needs from the machine (is a range guest RAM, how
 * many CPUs) and what it tells the device (a slot started, stops, goes)
 * pass through NeCoreOps, so that tools/testing/fuzz/ne_dev builds it
 * outside QEMU (with stand-ins for qemu/osdep.h, qemu/bswap.h, qemu/log.h
 * and trace.h) and feeds it arbitrary commands. nitro_enclaves.c keeps the
 * registers, the reply queue and its timers, MSI-X, the emulated boot,
 * the test BAR and the QOM properties.
 *
 * The protocol is described in Documentation/virt/ne_pci_device.rst of
 * the Nitro Enclaves driver project.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_MISC_NITRO_ENCLAVES_CORE_H
#define HW_MISC_NITRO_ENCLAVES_CORE_H

#define TYPE_NITRO_ENCLAVES_PCI "nitro-enclaves-pci"

/* Bytes of NE_SEND_DATA (the request) and NE_RECV_DATA */
#define NE_DATA_SIZE                240

/* Command types */
enum {
    NE_CMD_INVALID = 0,
    NE_CMD_ENCLAVE_START = 1,
    NE_CMD_ENCLAVE_GET_SLOT = 2,
    NE_CMD_ENCLAVE_STOP = 3,
    NE_CMD_SLOT_ALLOC = 4,
    NE_CMD_SLOT_FREE = 5,
    NE_CMD_SLOT_ADD_MEM = 6,
    NE_CMD_SLOT_ADD_VCPU = 7,
    NE_CMD_SLOT_COUNT = 8,
    NE_CMD_NEXT_SLOT = 9,
    NE_CMD_SLOT_INFO = 10,
    NE_CMD_SLOT_ADD_BULK_VCPUS = 11,
    NE_CMD_MAX = 12,
};

/* Reply layout (72 bytes) */
#define NE_REPLY_RC                 0
#define NE_REPLY_SLOT_UID           8
#define NE_REPLY_ENCLAVE_CID        16
#define NE_REPLY_SLOT_COUNT         24
#define NE_REPLY_MEM_REGIONS        32
#define NE_REPLY_MEM_SIZE           40
#define NE_REPLY_NR_VCPUS           48
#define NE_REPLY_FLAGS              56
#define NE_REPLY_STATE              64
#define NE_REPLY_SIZE               72

/* Slot states */
#define NE_STATE_INIT               0
#define NE_STATE_RUNNING            2
#define NE_STATE_STOPPED            0xffff

/* rc values: negated Linux errno numbers */
#define NE_ENOENT                   2
#define NE_EIO                      5
#define NE_E2BIG                    7
#define NE_EFAULT                   14
#define NE_EBUSY                    16
#define NE_EEXIST                   17
#define NE_EINVAL                   22
#define NE_ENOSPC                   28
#define NE_EOPNOTSUPP               95
#define NE_EADDRINUSE               98

/* Limits */
#define NE_MEM_ALIGN                (2 * 1024 * 1024)
#define NE_CID_FIRST_FREE           4
#define NE_CID_LIMIT                0xffffffffULL
#define NE_START_FLAGS_MAX          1
#define NE_START_DEBUG              1
#define NE_MAX_SLOTS_LIMIT          64

typedef struct NeMemRange {
    uint64_t paddr;
    uint64_t size;
} NeMemRange;

/* What the device's hypervisor keeps for one enclave */
typedef struct NeSlot {
    uint64_t uid;               /* non-zero, never reused */
    uint64_t cid;               /* 0 until started */
    uint64_t flags;             /* start flags */
    uint16_t state;             /* NE_STATE_* */
    GArray *mem;                /* NeMemRange, in the order added */
    uint64_t mem_size;          /* sum of the ranges' sizes */
    GArray *vcpu_ids;           /* uint32_t, held by this slot only */
    uint64_t bulk_vcpus;        /* vCPUs added without ids */
    void *boot;                 /* the device's own data for the slot */
} NeSlot;

/*
 * What the core asks of the device, and tells it. Every callback gets the
 * opaque pointer given to ne_core_init().
 */
typedef struct NeCoreOps {
    /* Is [paddr, paddr + size) guest RAM? The range does not wrap. */
    bool (*range_is_ram)(void *opaque, uint64_t paddr, uint64_t size);
    /* Number of CPUs of the machine: the bound of vCPU ids */
    unsigned int (*machine_cpus)(void *opaque);
    /* A slot was allocated: set up slot->boot. */
    void (*slot_new)(void *opaque, NeSlot *slot);
    /* ENCLAVE_START succeeded: the slot is RUNNING with its CID. */
    void (*slot_started)(void *opaque, NeSlot *slot);
    /* The slot is about to be STOPPED (ENCLAVE_STOP, exit hook). */
    void (*slot_stopping)(void *opaque, NeSlot *slot);
    /* The slot is about to be freed: stop and free slot->boot. */
    void (*slot_release)(void *opaque, NeSlot *slot);
} NeCoreOps;

typedef struct NeCore {
    const NeCoreOps *ops;
    void *opaque;

    /* Limits (device properties max-slots and mem-regions) */
    uint32_t max_slots;         /* 1..NE_MAX_SLOTS_LIMIT */
    uint32_t mem_regions;       /* ranges per slot, at least 1 */

    bool enabled;               /* NE_ENABLE: commands run */

    /* Slot table, in allocation order, so in uid order */
    NeSlot *slots[NE_MAX_SLOTS_LIMIT];
    uint32_t nr_slots;
    uint64_t next_uid;

    /* Test hooks on commands (test BAR and QOM properties) */
    uint32_t tb_fail_cmd;       /* the next command of this type fails */
    int32_t tb_fail_rc;         /* ... with this rc */
    uint32_t tb_cmd_count[NE_CMD_MAX];
    uint32_t tb_err_uid_zero;   /* 1: failed replies carry slot uid 0 */
} NeCore;

/* Set up an empty table; the limits are set by the caller. */
void ne_core_init(NeCore *c, const NeCoreOps *ops, void *opaque);

/*
 * Run command @type with the request @req (NE_DATA_SIZE bytes) and fill
 * @reply (NE_REPLY_SIZE bytes) with its rc, the fields it sets and the
 * uid echo. Returns the rc.
 */
int ne_core_command(NeCore *c, uint32_t type, const uint8_t *req,
                    uint8_t *reply);

/* Exit hook: the enclave of slot @uid exits (RUNNING -> STOPPED). */
int ne_core_exit(NeCore *c, uint64_t uid);

/* Free every slot (disable, reset, unrealize). */
void ne_core_free_all(NeCore *c);

NeSlot *ne_core_slot_find(NeCore *c, uint64_t uid);
uint64_t ne_core_slot_nr_vcpus(const NeSlot *slot);
void ne_core_slot_set_state(NeSlot *slot, uint16_t state);

/* Totals over all slots (test BAR) */
uint32_t ne_core_total_vcpus(NeCore *c);
uint64_t ne_core_total_mem_bytes(NeCore *c);
uint32_t ne_core_total_mem_ranges(NeCore *c);

const char *ne_core_cmd_name(uint32_t type);

#endif /* HW_MISC_NITRO_ENCLAVES_CORE_H */
