/*
 * Nitro Enclaves PCI device model
 *
 * An emulated stand-in for the AWS Nitro Enclaves PCI device: the BAR 3
 * command interface a hypervisor exposes to the parent VM, a slot table
 * that behaves like the hypervisor's, and an optional test-control BAR.
 * The protocol is described in Documentation/virt/ne_pci_device.rst of
 * the Nitro Enclaves driver project.
 *
 * What a command does to the slot table, and its reply, is decided by
 * nitro_enclaves_core.c, which uses no QEMU device types so that it can be
 * fuzzed on its own; this file gives it guest RAM, the CPU count and the
 * slots' boot life through NeCoreOps, and keeps the registers, the reply
 * queue and its timers, MSI-X, the emulated boot, the test BAR and the QOM
 * properties.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/log.h"
#include "qemu/error-report.h"
#include "qemu/bswap.h"
#include "qemu/timer.h"
#include "qemu/bitops.h"
#include "qemu/module.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "block/aio.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qom/object.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "hw/boards.h"
#include "hw/pci/pci.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/ne-vsock.h"
#include "sysemu/hostmem.h"
#include "migration/vmstate.h"
#include "trace.h"
#include "eif_format.h"
#include "nitro_enclaves_core.h"
#include "nitro_enclaves_vm.h"

OBJECT_DECLARE_SIMPLE_TYPE(NitroEnclavesState, NITRO_ENCLAVES_PCI)

#define NE_PCI_VENDOR_ID            0x1d0f
#define NE_PCI_DEVICE_ID            0xe4c1

/* BARs */
#define NE_MSIX_BAR                 0
#define NE_MSIX_VECTORS             2
#define NE_VEC_REPLY                0
#define NE_VEC_EVENT                1
#define NE_REGS_BAR                 3
#define NE_REGS_SIZE                0x1000
#define NE_TB_BAR                   4
#define NE_TB_SIZE                  0x1000

/* BAR 3 registers */
#define NE_ENABLE                   0x000
#define NE_ENABLE_OFF               0
#define NE_ENABLE_ON                1
#define NE_VERSION                  0x002
#define NE_VERSION_MAX              1
#define NE_COMMAND                  0x004
#define NE_EVTCNT                   0x00c
#define NE_EVTCNT_REPLY_SHIFT       0
#define NE_EVTCNT_EVENT_SHIFT       16
#define NE_SEND_DATA                0x010
#define NE_RECV_DATA                0x100

/* Time a write of 0 to NE_ENABLE takes to settle */
#define NE_DISABLE_SETTLE_NS        (1 * SCALE_MS)

/* BAR 4 test-control registers */
#define NE_TB_MAGIC                 0x000
#define NE_TB_MAGIC_VALUE           0x4e455442
#define NE_TB_VERSION               0x004
#define NE_TB_VERSION_VALUE         1
#define NE_TB_SLOT                  0x008
#define NE_TB_ACTION                0x010
#define NE_TB_ACTION_EXIT           1
#define NE_TB_ACTION_EVENTS         2
#define NE_TB_ACTION_RESET          3
#define NE_TB_ACTION_CONSOLE        4
#define NE_TB_STATUS                0x014
#define NE_TB_FAIL_CMD              0x018
#define NE_TB_FAIL_RC               0x01c
#define NE_TB_REPLY_MODE            0x020
#define NE_TB_REPLY_NORMAL          0
#define NE_TB_REPLY_DROP            1
#define NE_TB_REPLY_LATE            2
#define NE_TB_REPLY_TWICE           3
#define NE_TB_DELAY_MS              0x024
#define NE_TB_DELAY_MS_DEFAULT      100
#define NE_TB_EVENTS                0x028
#define NE_TB_EVENTS_MAX            0xffff      /* one EVTCNT wrap */
#define NE_TB_ERR_UID_ZERO          0x02c
#define NE_TB_REPLY_CMD             0x030
#define NE_TB_CONSOLE_FILL          0x034
#define NE_TB_CONSOLE_FILL_MAX      (1 * MiB)
#define NE_TB_CMD_COUNT             0x040
#define NE_TB_LIVE_SLOTS            0x080
#define NE_TB_VCPUS                 0x084
#define NE_TB_MEM_BYTES             0x088
#define NE_TB_MEM_RANGES            0x090
#define NE_TB_EVENT_COUNT           0x094
/* Enclave image and boot of the slot in NE_TB_SLOT (0: last started) */
#define NE_TB_IMAGE_STATUS          0x0c0
#define NE_TB_BOOT_STATE            0x0c4
#define NE_TB_BOOT_STATE_MASK       0xff
#define NE_TB_BOOT_REASON_SHIFT     8
#define NE_TB_IMAGE_SIZE            0x0c8
#define NE_TB_CONSOLE_LEN           0x0d0
#define NE_TB_PCRS                  0x100       /* PCR0, PCR1, PCR2 */
#define NE_TB_CONSOLE               0x800
#define NE_TB_CONSOLE_SIZE          0x800

/*
 * Enclave Image Format: the launcher copies the image to byte 8 MiB of
 * the enclave memory (the slot's ranges in the order added, as one
 * space). It is parsed, checked and measured by the EIF library of
 * tools/eif (eif_format.c, laid next to this file by the build), the same
 * code as "eif describe", with the image ending where its last section
 * ends.
 */
#define NE_EIF_OFFSET               (8 * MiB)
#define NE_EIF_CMDLINE_SHOWN        200         /* console shows this much */

#define NE_PCR_SIZE                 EIF_PCR_SIZE        /* SHA-384 */
#define NE_NR_PCRS                  EIF_NUM_PCRS

/* Image status (NE_TB_IMAGE_STATUS, QOM image-status) */
enum {
    NE_IMG_NONE = 0,        /* not checked: eif-check=off, or no slot */
    NE_IMG_VALID = 1,
    NE_IMG_NO_ROOM = 2,     /* memory ends before the header does */
    NE_IMG_MAGIC = 3,
    NE_IMG_VERSION = 4,
    NE_IMG_TABLE = 5,       /* section table: count, entries, layout, bounds */
    NE_IMG_SECTIONS = 6,    /* section types, flags, counts, order */
    NE_IMG_CRC = 7,
    NE_IMG_READ = 8,        /* enclave memory could not be read */
    NE_IMG_MAX,
};

/* Boot state (NE_TB_BOOT_STATE bits 0-7, QOM boot-state) */
enum {
    NE_BOOT_NONE = 0,       /* not started with eif-check=on */
    NE_BOOT_WAIT = 1,       /* boot-delay-ms running */
    NE_BOOT_CONNECT = 2,    /* heartbeat connection requested */
    NE_BOOT_ECHO = 3,       /* 0xb7 sent, waiting for the echo */
    NE_BOOT_UP = 4,         /* heartbeat done: the enclave runs */
    NE_BOOT_CRASHING = 5,   /* failed; exits after crash-delay-ms */
    NE_BOOT_CRASHED = 6,    /* exited: STOPPED + event */
    NE_BOOT_STOPPED = 7,    /* stopped (ENCLAVE_STOP, exit hook) mid-boot */
    NE_BOOT_MEASURING = 8,  /* the image is checked off the vCPU thread */
    NE_BOOT_VM = 9,         /* enclave-vm=on: the image runs in a VM */
    NE_BOOT_VM_EXITED = 10, /* that VM ended by itself: STOPPED + event */
    NE_BOOT_MAX,
};

/* Why the boot failed (NE_TB_BOOT_STATE bits 8-15) */
enum {
    NE_CRASH_NONE = 0,
    NE_CRASH_IMAGE = 1,     /* the image is invalid */
    NE_CRASH_NO_VSOCK = 2,  /* no ne-vsock device to connect through */
    NE_CRASH_REFUSED = 3,   /* nobody listens on CID 3 port 9000 */
    NE_CRASH_TIMEOUT = 4,   /* no connection or no echo in time */
    NE_CRASH_BAD_ECHO = 5,  /* the echo was not 0xb7 */
    NE_CRASH_CLOSED = 6,    /* the parent closed before echoing */
    NE_CRASH_VM_START = 7,  /* the enclave VM could not be started */
    NE_CRASH_MAX,
};

/*
 * The debug console, as on Nitro: a stream on CID 0 port 10000 + the
 * enclave's CID (32-bit sum), debug mode only. A reader gets the last
 * NE_CONSOLE_LOG_MAX bytes first, then what comes, until the enclave ends.
 */
#define NE_CONSOLE_CID              0
#define NE_CONSOLE_PORT_BASE        10000
#define NE_CONSOLE_LOG_MAX          (64 * KiB)
#define NE_CONSOLE_READERS_MAX      4

#define NE_HEARTBEAT_CID            3
#define NE_HEARTBEAT_PORT           9000
#define NE_HEARTBEAT_VALUE          0xb7
#define NE_SRC_PORT_FIRST           1024

/* Replies waiting for their due time */
#define NE_REPLY_QUEUE_LEN          32

typedef struct NeImage {
    uint32_t status;            /* NE_IMG_* */
    uint64_t size;              /* header to the end of the last section */
    uint8_t pcr[NE_NR_PCRS][NE_PCR_SIZE];
} NeImage;

typedef struct NeBoot NeBoot;

/* A connection to the debug console; freed when it ends. */
typedef struct NeConsoleReader {
    NeBoot *boot;
    NEVsockConn *conn;
    QLIST_ENTRY(NeConsoleReader) next;
} NeConsoleReader;

/*
 * An image check on a thread of its own: reading and hashing a large
 * image takes seconds, which must not stall a vCPU or the main loop. The
 * job reads guest memory through its own copy of the slot's ranges, so
 * the slot may be freed meanwhile; it holds a reference on the device.
 * Only the main loop (with the BQL) touches @boot, which the boot clears
 * when it is cancelled: the result is then dropped.
 */
typedef struct NeImageJob {
    NitroEnclavesState *dev;
    NeBoot *boot;
    QemuThread thread;
    GArray *mem;                /* NeMemRange, copied from the slot */
    uint64_t mem_size;
    bool debug;
    bool boot_vm;               /* enclave-vm=on: extract the boot files */
    int copy_fd;                /* the image as read, with boot_vm */
    uint64_t copied;            /* bytes of the image in copy_fd */
    NeVmBootFiles files;
    NeImage image;
    GString *console;           /* what the image check printed */
    char *error;                /* the first rule the image broke */
} NeImageJob;

/*
 * What the device keeps for a slot besides the core's NeSlot: the emulated
 * boot (eif-check=on). NeSlot.boot points here.
 */
struct NeBoot {
    NitroEnclavesState *dev;
    NeSlot *slot;
    NeImage image;
    NeImageJob *job;            /* while NE_BOOT_MEASURING */
    uint8_t boot_state;         /* NE_BOOT_* */
    uint8_t crash_reason;       /* NE_CRASH_* */
    QEMUTimer *boot_timer;
    int64_t deadline_ns;
    NEVsockConn *conn;
    bool hb_connected;          /* set by the vsock callbacks */
    bool hb_refused;
    bool hb_closed;
    bool hb_got;
    uint8_t hb_byte;
    GString *console;           /* debug mode only: the first 2 KiB */
    /* Debug console on vsock: listening from start to the enclave's end */
    NEVsockListener *con_listener;
    GByteArray *con_log;        /* the last NE_CONSOLE_LOG_MAX bytes */
    QLIST_HEAD(, NeConsoleReader) con_readers;
    unsigned nr_con_readers;
    NeVm *vm;                   /* NE_BOOT_VM */
    NEVsockRelay *relay;        /* the VM's vsock, with vm */
    int log_fd;                 /* enclave-log, with vm */
};

typedef struct NePendingReply {
    int64_t due_ns;
    uint64_t seq;               /* keeps equal due times in order */
    uint32_t type;
    uint8_t data[NE_REPLY_SIZE];
} NePendingReply;

struct NitroEnclavesState {
    PCIDevice pdev;
    MemoryRegion mmio;
    MemoryRegion tb_mmio;

    QEMUTimer reply_timer;
    QEMUTimer settle_timer;

    /* Properties (max-slots and mem-regions are in core) */
    uint32_t reply_latency_us;
    bool test_hooks;
    bool eif_check;
    bool enclave_vm;
    char *enclave_log;
    uint32_t boot_delay_ms;
    uint32_t heartbeat_timeout_ms;
    uint32_t crash_delay_ms;
    bool err_uid_zero;          /* reset value of core.tb_err_uid_zero */

    /* Commands, slot table, limits and the hooks on commands */
    NeCore core;

    /* BAR 3 (core.enabled: commands run) */
    bool settling;              /* NE_ENABLE reads 1 until the timer fires */
    uint16_t version;
    uint16_t reply_counter;
    uint16_t event_counter;
    uint8_t send_data[NE_DATA_SIZE];
    uint8_t recv_data[NE_DATA_SIZE];

    /* Replies not yet delivered, in no particular order */
    NePendingReply pending[NE_REPLY_QUEUE_LEN];
    uint32_t nr_pending;
    uint64_t reply_seq;

    /* Test-control state (BAR 4 and QOM properties) */
    uint64_t tb_slot;
    int32_t tb_status;
    uint32_t tb_reply_mode;
    uint32_t tb_reply_cmd;      /* 0: tb_reply_mode hits any command */
    uint32_t tb_console_fill;   /* bytes NE_TB_ACTION_CONSOLE prints */
    uint32_t tb_delay_ms;
    uint32_t tb_events;
    uint32_t tb_event_count;

    /* The slot started last (QOM pcr0..2, image-status, boot-state) */
    uint64_t last_uid;
    NeImage last_image;
    uint8_t last_boot_state;
    uint8_t last_crash_reason;
    uint32_t next_src_port;
};

/* Interrupts: MSI-X only, and only while the guest has it enabled. */

static void ne_notify(NitroEnclavesState *s, unsigned vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (msix_enabled(pdev)) {
        msix_notify(pdev, vector);
    }
}

static void ne_raise_event(NitroEnclavesState *s)
{
    s->event_counter++;
    s->tb_event_count++;
    trace_nitro_enclaves_event(s->event_counter);
    ne_notify(s, NE_VEC_EVENT);
}

/* Enclave image check and measurement (eif-check=on) */

static const char *const ne_img_names[NE_IMG_MAX] = {
    [NE_IMG_NONE] = "none",
    [NE_IMG_VALID] = "valid",
    [NE_IMG_NO_ROOM] = "no-room",
    [NE_IMG_MAGIC] = "bad-magic",
    [NE_IMG_VERSION] = "bad-version",
    [NE_IMG_TABLE] = "bad-section-table",
    [NE_IMG_SECTIONS] = "bad-sections",
    [NE_IMG_CRC] = "bad-crc",
    [NE_IMG_READ] = "read-error",
};

static const char *const ne_boot_names[NE_BOOT_MAX] = {
    [NE_BOOT_NONE] = "none",
    [NE_BOOT_WAIT] = "booting",
    [NE_BOOT_CONNECT] = "connecting",
    [NE_BOOT_ECHO] = "heartbeat-sent",
    [NE_BOOT_UP] = "running",
    [NE_BOOT_CRASHING] = "crashing",
    [NE_BOOT_CRASHED] = "crashed",
    [NE_BOOT_STOPPED] = "stopped",
    [NE_BOOT_MEASURING] = "measuring",
    [NE_BOOT_VM] = "vm-running",
    [NE_BOOT_VM_EXITED] = "vm-exited",
};

static const char *const ne_crash_names[NE_CRASH_MAX] = {
    [NE_CRASH_NONE] = "none",
    [NE_CRASH_IMAGE] = "invalid image",
    [NE_CRASH_NO_VSOCK] = "no ne-vsock device",
    [NE_CRASH_REFUSED] = "connection refused (no listener on CID 3 port 9000)",
    [NE_CRASH_TIMEOUT] = "heartbeat timed out",
    [NE_CRASH_BAD_ECHO] = "wrong heartbeat echo",
    [NE_CRASH_CLOSED] = "parent closed the heartbeat connection",
    [NE_CRASH_VM_START] = "the enclave VM did not start",
};

/* Debug console: the test BAR shows its start, vsock readers all of it. */

static void ne_console_reader_free(NeConsoleReader *r)
{
    QLIST_REMOVE(r, next);
    r->boot->nr_con_readers--;
    ne_vsock_close(r->conn);
    g_free(r);
}

/* The parent hung up. */
static void ne_console_closed(void *opaque)
{
    ne_console_reader_free(opaque);
}

/* Read-only: what the parent writes is dropped, as on Nitro. */
static const NEVsockPeerOps ne_console_ops = {
    .closed = ne_console_closed,
};

static void *ne_console_accept(void *opaque, NEVsockConn *c)
{
    NeBoot *b = opaque;
    NeConsoleReader *r;

    if (b->nr_con_readers >= NE_CONSOLE_READERS_MAX) {
        qemu_log_mask(LOG_GUEST_ERROR, "nitro-enclaves: slot %" PRIu64
                      ": console has %u readers, one more refused\n",
                      b->slot->uid, b->nr_con_readers);
        return NULL;
    }
    r = g_new0(NeConsoleReader, 1);
    r->boot = b;
    r->conn = c;
    QLIST_INSERT_HEAD(&b->con_readers, r, next);
    b->nr_con_readers++;
    /* At most NE_CONSOLE_LOG_MAX bytes: below what a connection holds */
    ne_vsock_send(c, b->con_log->data, b->con_log->len);
    return r;
}

/* Debug mode: the parent may read the console from now on. */
static void ne_console_listen(NeBoot *b)
{
    uint32_t port = (uint32_t)(NE_CONSOLE_PORT_BASE + b->slot->cid);
    Error *err = NULL;

    b->con_listener = ne_vsock_listen(NE_CONSOLE_CID, port,
                                      ne_console_accept, &ne_console_ops, b,
                                      &err);
    if (!b->con_listener) {
        qemu_log_mask(LOG_GUEST_ERROR, "nitro-enclaves: slot %" PRIu64
                      ": no debug console: %s\n", b->slot->uid,
                      error_get_pretty(err));
        error_free(err);
    }
}

/* The enclave is over: readers get what is left, then the end of stream. */
static void ne_console_end(NeBoot *b)
{
    ne_vsock_unlisten(b->con_listener);
    b->con_listener = NULL;
    while (!QLIST_EMPTY(&b->con_readers)) {
        ne_console_reader_free(QLIST_FIRST(&b->con_readers));
    }
}

static void ne_console_write(NeBoot *b, const void *buf, size_t len)
{
    NeConsoleReader *r, *next;
    int ret;

    if (!(b->slot->flags & NE_START_DEBUG)) {
        return;
    }
    if (b->console->len < NE_TB_CONSOLE_SIZE) {
        g_string_append_len(b->console, buf,
                            MIN(len, NE_TB_CONSOLE_SIZE - b->console->len));
    }
    if (len >= NE_CONSOLE_LOG_MAX) {
        g_byte_array_set_size(b->con_log, 0);
        g_byte_array_append(b->con_log, (const uint8_t *)buf + len -
                            NE_CONSOLE_LOG_MAX, NE_CONSOLE_LOG_MAX);
    } else {
        if (b->con_log->len + len > NE_CONSOLE_LOG_MAX) {
            g_byte_array_remove_range(b->con_log, 0, b->con_log->len + len -
                                      NE_CONSOLE_LOG_MAX);
        }
        g_byte_array_append(b->con_log, buf, len);
    }
    QLIST_FOREACH_SAFE(r, &b->con_readers, next, next) {
        ret = ne_vsock_send(r->conn, buf, len);
        if (ret < 0) {
            /* It gets what it was sent, then the end: no silent gap. */
            qemu_log_mask(LOG_GUEST_ERROR, "nitro-enclaves: slot %" PRIu64
                          ": console reader dropped: %s\n", b->slot->uid,
                          strerror(-ret));
            ne_console_reader_free(r);
        }
    }
}

/* Debug mode keeps what the enclave would print on its console. */
G_GNUC_PRINTF(2, 3)
static void ne_console(NeBoot *b, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    if (!(b->slot->flags & NE_START_DEBUG)) {
        return;
    }
    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ne_console_write(b, text, strlen(text));
}

/*
 * Read @len bytes at @off of the slot's memory: its ranges in the order
 * they were added, as one space. Runs on the job's thread, without the
 * BQL: address_space_read() takes it for MMIO itself.
 */
static bool ne_slot_mem_read(NeImageJob *job, uint64_t off, void *buf,
                             uint64_t len)
{
    uint8_t *p = buf;
    uint32_t i;

    for (i = 0; i < job->mem->len && len; i++) {
        NeMemRange *r = &g_array_index(job->mem, NeMemRange, i);
        uint64_t n;

        if (off >= r->size) {
            off -= r->size;
            continue;
        }
        n = MIN(len, r->size - off);
        if (address_space_read(&address_space_memory, r->paddr + off,
                               MEMTXATTRS_UNSPECIFIED, p, n) != MEMTX_OK) {
            return false;
        }
        p += n;
        len -= n;
        off = 0;
    }
    return len == 0;
}

/* EIF library read callback: @off counts from the image start (8 MiB). */
static int ne_image_read(void *opaque, uint64_t off, void *buf, size_t len)
{
    NeImageJob *job = opaque;

    if (off > job->mem_size - NE_EIF_OFFSET ||
        len > job->mem_size - NE_EIF_OFFSET - off) {
        return -1;
    }
    return ne_slot_mem_read(job, NE_EIF_OFFSET + off, buf, len) ? 0 : -1;
}

/* The image status of the first rule the image broke. */
static uint32_t ne_image_status(unsigned int eif_error)
{
    switch (eif_error) {
    case 0:
        return NE_IMG_VALID;
    case EIF_E_SHORT:
        return NE_IMG_NO_ROOM;
    case EIF_E_MAGIC:
        return NE_IMG_MAGIC;
    case EIF_E_VERSION:
        return NE_IMG_VERSION;
    case EIF_E_NUM_SECTIONS:
    case EIF_E_BOUNDS:
    case EIF_E_SIZE:
    case EIF_E_LAYOUT:
        return NE_IMG_TABLE;
    case EIF_E_SEC_FLAGS:
    case EIF_E_SEC_TYPE:
    case EIF_E_SEC_SET:
        return NE_IMG_SECTIONS;
    case EIF_E_CRC:
        return NE_IMG_CRC;
    default:                    /* EIF_E_READ, EIF_E_INTERNAL */
        return NE_IMG_READ;
    }
}

/* What the enclave kernel would print first: the image and its cmdline. */
static void ne_image_console(NeImageJob *job, const struct eif_reader *r,
                             const struct eif_image *eif)
{
    uint8_t buf[NE_EIF_CMDLINE_SHOWN];
    int i = -1;
    uint64_t j, n;

    g_string_append_printf(job->console,
                           "eif: version %u, %u sections, %" PRIu64
                           " bytes\n", eif->hdr.version, eif->nsec,
                           eif->end);
    while ((i = eif_find_section(eif, EIF_SEC_CMDLINE, i + 1)) >= 0) {
        n = MIN(eif->sec[i].size, sizeof(buf));
        if (eif_section_read(r, eif, i, 0, buf, n)) {
            continue;
        }
        for (j = 0; j < n; j++) {
            if (buf[j] < 0x20 || buf[j] > 0x7e) {
                buf[j] = '?';
            }
        }
        g_string_append_printf(job->console, "Command line: %.*s\n",
                               (int)n, (char *)buf);
    }
}

/* Guest memory copied into the image copy at a time */
#define NE_IMAGE_COPY_CHUNK (1 * MiB)

/*
 * enclave-vm=on reads the image through a copy: every byte is read from
 * guest memory once, into copy_fd, and all reads, the measurement's and
 * the extraction's, are served from there. The parent may rewrite its
 * memory meanwhile; what boots is still what was measured.
 */
static int ne_image_copy_read(void *opaque, uint64_t off, void *buf,
                              size_t len)
{
    NeImageJob *job = opaque;
    uint64_t size = job->mem_size - NE_EIF_OFFSET;
    g_autofree uint8_t *chunk = NULL;
    uint64_t n;
    ssize_t done;

    if (job->copy_fd < 0 || off > size || len > size - off) {
        return -1;
    }
    while (job->copied < off + len) {
        /* Ahead of the reads, in chunks, as far as the memory goes. */
        n = MIN(NE_IMAGE_COPY_CHUNK, size - job->copied);
        if (!chunk) {
            chunk = g_malloc(NE_IMAGE_COPY_CHUNK);
        }
        if (ne_image_read(job, job->copied, chunk, n) ||
            pwrite(job->copy_fd, chunk, n, job->copied) != n) {
            return -1;
        }
        job->copied += n;
    }
    done = pread(job->copy_fd, buf, len, off);
    return done == len ? 0 : -1;
}

static void ne_image_job_done(void *opaque);

/*
 * Check and measure the image at 8 MiB of the slot's memory, on the job's
 * thread. Sizes and PCRs are reported when the section table and the
 * sections are valid (status valid or bad-crc).
 */
static void *ne_image_job_thread(void *opaque)
{
    NeImageJob *job = opaque;
    NeImage *img = &job->image;
    struct eif_reader r = {
        .read = job->boot_vm ? ne_image_copy_read : ne_image_read,
        .opaque = job,
        .size = job->mem_size - NE_EIF_OFFSET,
    };
    struct eif_image *eif = g_new(struct eif_image, 1);
    Error *err = NULL;

    rcu_register_thread();
    if (job->boot_vm) {
        job->copy_fd = ne_vm_anon_file(&err);
        if (job->copy_fd < 0) {
            /* Every read fails: the image is reported unreadable. */
            error_free(err);
            err = NULL;
        }
    }
    eif_verify(&r, 0, eif);
    img->status = ne_image_status(eif->first_error);
    if (img->status != NE_IMG_VALID) {
        job->error = g_strdup(eif->nerr ? eif->err[0] : "?");
    }
    if (img->status == NE_IMG_VALID || img->status == NE_IMG_CRC) {
        img->size = eif->end;
        memcpy(img->pcr, eif->pcr, sizeof(img->pcr));
        if (job->debug) {
            ne_image_console(job, &r, eif);
        }
    }
    if (job->boot_vm && img->status == NE_IMG_VALID &&
        !ne_vm_boot_files_extract(&r, eif, &job->files, &err)) {
        job->error = g_strdup(error_get_pretty(err));
        error_free(err);
    }
    g_free(eif);
    rcu_unregister_thread();

    aio_bh_schedule_oneshot(qemu_get_aio_context(), ne_image_job_done, job);
    return NULL;
}

/* Emulated boot: heartbeat to the parent, crash on failure */

/* The boot of slot @uid, or NULL when there is no such slot */
static NeBoot *ne_boot_find(NitroEnclavesState *s, uint64_t uid)
{
    NeSlot *slot = ne_core_slot_find(&s->core, uid);

    return slot ? slot->boot : NULL;
}

static void ne_boot_set(NeBoot *b, uint8_t state, uint8_t reason)
{
    NitroEnclavesState *s = b->dev;

    trace_nitro_enclaves_boot_state(b->slot->uid, b->boot_state, state,
                                    reason);
    b->boot_state = state;
    b->crash_reason = reason;
    if (b->slot->uid == s->last_uid) {
        s->last_boot_state = state;
        s->last_crash_reason = reason;
    }
}

static void ne_boot_close_conn(NeBoot *b)
{
    if (b->conn) {
        ne_vsock_close(b->conn);
        b->conn = NULL;
    }
}

static void ne_boot_crash(NeBoot *b, uint8_t reason)
{
    NitroEnclavesState *s = b->dev;

    ne_boot_close_conn(b);
    if (reason == NE_CRASH_IMAGE) {
        ne_console(b, "eif: invalid image: %s\n",
                   ne_img_names[b->image.status]);
    } else if (reason == NE_CRASH_VM_START) {
        ne_console(b, "enclave VM: %s\n", ne_crash_names[reason]);
    } else {
        ne_console(b, "init: heartbeat failed: %s\n",
                   ne_crash_names[reason]);
    }
    ne_console(b, "Kernel panic - not syncing: Attempted to kill init!\n");
    ne_boot_set(b, NE_BOOT_CRASHING, reason);
    timer_mod(b->boot_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
              (int64_t)s->crash_delay_ms * SCALE_MS);
}

/* Kill the enclave VM, if any, and cut its vsock. */
static void ne_boot_vm_end(NeBoot *b)
{
    if (b->vm) {
        ne_vm_stop(b->vm);
        b->vm = NULL;
    }
    if (b->relay) {
        ne_vsock_relay_detach(b->relay);
        b->relay = NULL;
    }
    if (b->log_fd >= 0) {
        close(b->log_fd);
        b->log_fd = -1;
    }
}

/* Stop everything the boot has going: ENCLAVE_STOP, exit hook, free. */
static void ne_boot_cancel(NeBoot *b)
{
    timer_del(b->boot_timer);
    ne_boot_close_conn(b);
    ne_boot_vm_end(b);
    ne_console_end(b);
    if (b->job) {
        /* The check runs on; its result is dropped. */
        b->job->boot = NULL;
        b->job = NULL;
    }
    switch (b->boot_state) {
    case NE_BOOT_MEASURING:
    case NE_BOOT_WAIT:
    case NE_BOOT_CONNECT:
    case NE_BOOT_ECHO:
    case NE_BOOT_CRASHING:
    case NE_BOOT_VM:
        ne_boot_set(b, NE_BOOT_STOPPED, b->crash_reason);
        break;
    default:
        break;
    }
}

/* vsock callbacks record what happened; the timer acts on it. */
static void ne_hb_kick(NeBoot *b)
{
    timer_mod(b->boot_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
}

static void ne_hb_connected(void *opaque)
{
    NeBoot *b = opaque;

    b->hb_connected = true;
    ne_hb_kick(b);
}

static void ne_hb_refused(void *opaque)
{
    NeBoot *b = opaque;

    b->hb_refused = true;
    ne_hb_kick(b);
}

static void ne_hb_recv(void *opaque, const uint8_t *buf, size_t len)
{
    NeBoot *b = opaque;

    if (len && !b->hb_got) {
        b->hb_got = true;
        b->hb_byte = buf[0];
    }
    ne_hb_kick(b);
}

static void ne_hb_closed(void *opaque)
{
    NeBoot *b = opaque;

    b->hb_closed = true;
    ne_hb_kick(b);
}

static const NEVsockPeerOps ne_hb_ops = {
    .connected = ne_hb_connected,
    .refused = ne_hb_refused,
    .recv = ne_hb_recv,
    .closed = ne_hb_closed,
};

/* The enclave's init connects to the parent. */
static void ne_boot_connect(NeBoot *b, int64_t now)
{
    NitroEnclavesState *s = b->dev;
    Error *err = NULL;
    uint32_t port = s->next_src_port++;

    if (s->next_src_port < NE_SRC_PORT_FIRST) {
        s->next_src_port = NE_SRC_PORT_FIRST;
    }
    b->hb_connected = b->hb_refused = b->hb_closed = false;
    b->hb_got = false;
    ne_console(b, "init: heartbeat to CID %u port %u\n",
               NE_HEARTBEAT_CID, NE_HEARTBEAT_PORT);
    b->conn = ne_vsock_connect(b->slot->cid, port, NE_HEARTBEAT_PORT,
                               &ne_hb_ops, b, &err);
    if (!b->conn) {
        qemu_log_mask(LOG_GUEST_ERROR, "nitro-enclaves: slot %" PRIu64
                      ": heartbeat: %s\n", b->slot->uid,
                      error_get_pretty(err));
        error_free(err);
        ne_boot_crash(b, NE_CRASH_NO_VSOCK);
        return;
    }
    ne_boot_set(b, NE_BOOT_CONNECT, NE_CRASH_NONE);
    b->deadline_ns = now + (int64_t)s->heartbeat_timeout_ms * SCALE_MS;
    timer_mod(b->boot_timer, b->deadline_ns);
}

static void ne_boot_timer_cb(void *opaque)
{
    NeBoot *b = opaque;
    NitroEnclavesState *s = b->dev;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    uint8_t hb = NE_HEARTBEAT_VALUE;

    switch (b->boot_state) {
    case NE_BOOT_WAIT:
        ne_boot_connect(b, now);
        break;
    case NE_BOOT_CONNECT:
        if (b->hb_refused || b->hb_closed) {
            ne_boot_crash(b, NE_CRASH_REFUSED);
            break;
        }
        if (!b->hb_connected) {
            if (now >= b->deadline_ns) {
                ne_boot_crash(b, NE_CRASH_TIMEOUT);
            } else {
                timer_mod(b->boot_timer, b->deadline_ns);
            }
            break;
        }
        if (ne_vsock_send(b->conn, &hb, 1) < 0) {
            ne_boot_crash(b, NE_CRASH_CLOSED);
            break;
        }
        ne_boot_set(b, NE_BOOT_ECHO, NE_CRASH_NONE);
        b->deadline_ns = now + (int64_t)s->heartbeat_timeout_ms * SCALE_MS;
        /* fall through: the echo may be in already */
    case NE_BOOT_ECHO:
        if (b->hb_got) {
            if (b->hb_byte != NE_HEARTBEAT_VALUE) {
                ne_boot_crash(b, NE_CRASH_BAD_ECHO);
                break;
            }
            /* init closes the socket and goes on: the enclave is up. */
            ne_boot_close_conn(b);
            ne_console(b, "init: heartbeat acknowledged, enclave "
                       "running\n");
            ne_boot_set(b, NE_BOOT_UP, NE_CRASH_NONE);
        } else if (b->hb_closed || b->hb_refused) {
            ne_boot_crash(b, NE_CRASH_CLOSED);
        } else if (now >= b->deadline_ns) {
            ne_boot_crash(b, NE_CRASH_TIMEOUT);
        } else {
            timer_mod(b->boot_timer, b->deadline_ns);
        }
        break;
    case NE_BOOT_CRASHING:
        /* The enclave exits as the exit hook makes it: STOPPED + event. */
        ne_boot_set(b, NE_BOOT_CRASHED, b->crash_reason);
        ne_console_end(b);
        if (b->slot->state == NE_STATE_RUNNING) {
            ne_core_slot_set_state(b->slot, NE_STATE_STOPPED);
            ne_raise_event(s);
        }
        break;
    default:
        break;
    }
}

/* The enclave VM's serial console: debug mode shows it, enclave-log keeps it */
static void ne_boot_vm_output(void *opaque, const char *buf, size_t len)
{
    NeBoot *b = opaque;

    ne_console_write(b, buf, len);
    if (b->log_fd >= 0 && qemu_write_full(b->log_fd, buf, len) != len) {
        close(b->log_fd);
        b->log_fd = -1;
    }
}

/* The enclave VM ended by itself (poweroff, reboot, panic, crash). */
static void ne_boot_vm_exited(void *opaque, int status)
{
    NeBoot *b = opaque;
    NitroEnclavesState *s = b->dev;

    b->vm = NULL;
    ne_boot_vm_end(b);
    ne_console(b, "enclave VM: exited (%s %d)\n",
               WIFSIGNALED(status) ? "signal" : "status",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    ne_console_end(b);
    ne_boot_set(b, NE_BOOT_VM_EXITED, NE_CRASH_NONE);
    if (b->slot->state == NE_STATE_RUNNING) {
        ne_core_slot_set_state(b->slot, NE_STATE_STOPPED);
        ne_raise_event(s);
    }
}

/* enclave-vm=on: boot @files in a VM, its vsock linked to the parent's. */
static void ne_boot_vm_start(NeBoot *b, const NeVmBootFiles *files)
{
    NitroEnclavesState *s = b->dev;
    NeVmConfig cfg = {
        .qemu = "/proc/self/exe",
        .cid = b->slot->cid,
        .nr_vcpus = ne_core_slot_nr_vcpus(b->slot),
        .mem_size = b->slot->mem_size,
    };
    uint8_t reason = NE_CRASH_VM_START;
    Error *err = NULL;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
        error_setg_errno(&err, errno, "cannot create the vsock socket");
        goto err_crash;
    }
    /* The relay takes sv[0], also when it fails. */
    b->relay = ne_vsock_relay_attach(b->slot->cid, sv[0], &err);
    if (!b->relay) {
        close(sv[1]);
        reason = NE_CRASH_NO_VSOCK;
        goto err_crash;
    }
    if (s->enclave_log) {
        b->log_fd = qemu_open_old(s->enclave_log,
                                  O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (b->log_fd < 0) {
            warn_report("nitro-enclaves: enclave-log %s: %s",
                        s->enclave_log, strerror(errno));
        }
    }
    cfg.vsock_fd = sv[1];
    b->vm = ne_vm_start(&cfg, files, ne_boot_vm_exited, ne_boot_vm_output,
                        b, &err);
    close(sv[1]);
    if (!b->vm) {
        ne_boot_vm_end(b);
        goto err_crash;
    }
    ne_console(b, "enclave VM: process %d\n", ne_vm_pid(b->vm));
    ne_boot_set(b, NE_BOOT_VM, NE_CRASH_NONE);
    return;

err_crash:
    qemu_log_mask(LOG_GUEST_ERROR, "nitro-enclaves: slot %" PRIu64
                  ": enclave VM: %s\n", b->slot->uid,
                  error_get_pretty(err));
    error_free(err);
    ne_boot_crash(b, reason);
}

/*
 * The image is checked (@img): boot, or crash on an invalid image. With
 * enclave-vm=on, @files holds what to boot (no kernel file: it could not
 * be extracted).
 */
static void ne_boot_checked(NeBoot *b, const NeImage *img,
                            const NeVmBootFiles *files)
{
    NitroEnclavesState *s = b->dev;

    b->image = *img;
    if (b->slot->uid == s->last_uid) {
        s->last_image = *img;
    }
    trace_nitro_enclaves_image(b->slot->uid, img->status, img->size);
    if (img->status != NE_IMG_VALID) {
        ne_boot_crash(b, NE_CRASH_IMAGE);
        return;
    }
    if (s->enclave_vm) {
        if (files->kernel_fd < 0) {
            ne_boot_crash(b, NE_CRASH_VM_START);
        } else {
            ne_boot_vm_start(b, files);
        }
        return;
    }
    ne_boot_set(b, NE_BOOT_WAIT, NE_CRASH_NONE);
    timer_mod(b->boot_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
              (int64_t)s->boot_delay_ms * SCALE_MS);
}

/* Main loop, with the BQL: the job's thread has finished. */
static void ne_image_job_done(void *opaque)
{
    NeImageJob *job = opaque;

    qemu_thread_join(&job->thread);
    if (job->boot) {
        NeBoot *b = job->boot;

        b->job = NULL;
        if (job->error) {
            qemu_log_mask(LOG_GUEST_ERROR, "nitro-enclaves: slot %" PRIu64
                          ": %s: %s\n", b->slot->uid,
                          job->image.status == NE_IMG_VALID ?
                          "cannot boot the enclave image" :
                          "invalid enclave image", job->error);
        }
        ne_console(b, "%s", job->console->str);
        ne_boot_checked(b, &job->image, &job->files);
    }
    /* A started VM has its own descriptors of the files by now. */
    ne_vm_boot_files_clear(&job->files);
    if (job->copy_fd >= 0) {
        close(job->copy_fd);
    }
    object_unref(OBJECT(job->dev));
    g_array_unref(job->mem);
    g_string_free(job->console, true);
    g_free(job->error);
    g_free(job);
}

/* ENCLAVE_START succeeded: check the image off this thread, then boot. */
static void ne_slot_started(void *opaque, NeSlot *slot)
{
    NitroEnclavesState *s = opaque;
    NeBoot *b = slot->boot;
    NeImage no_room = { .status = NE_IMG_NO_ROOM };
    NeImageJob *job;

    s->last_uid = slot->uid;
    memset(&s->last_image, 0, sizeof(s->last_image));
    s->last_boot_state = NE_BOOT_NONE;
    s->last_crash_reason = NE_CRASH_NONE;
    if (!s->eif_check && !s->enclave_vm) {
        return;
    }
    if (slot->flags & NE_START_DEBUG) {
        ne_console_listen(b);
    }

    ne_console(b, "Nitro Enclaves emulated enclave: CID %" PRIu64
               ", %" PRIu64 " vCPUs, %" PRIu64 " MiB\n", slot->cid,
               ne_core_slot_nr_vcpus(slot), slot->mem_size / MiB);
    if (slot->mem_size < NE_EIF_OFFSET) {
        qemu_log_mask(LOG_GUEST_ERROR, "nitro-enclaves: slot %" PRIu64
                      ": memory ends before the image\n", slot->uid);
        ne_boot_checked(b, &no_room, NULL);
        return;
    }

    job = g_new0(NeImageJob, 1);
    job->dev = s;
    object_ref(OBJECT(s));
    job->boot = b;
    job->mem = g_array_sized_new(false, false, sizeof(NeMemRange),
                                 slot->mem->len);
    g_array_append_vals(job->mem, slot->mem->data, slot->mem->len);
    job->mem_size = slot->mem_size;
    job->debug = slot->flags & NE_START_DEBUG;
    job->boot_vm = s->enclave_vm;
    job->copy_fd = -1;
    ne_vm_boot_files_init(&job->files);
    job->console = g_string_new(NULL);
    b->job = job;
    ne_boot_set(b, NE_BOOT_MEASURING, NE_CRASH_NONE);
    qemu_thread_create(&job->thread, "ne-eif-check", ne_image_job_thread,
                       job, QEMU_THREAD_JOINABLE);
}

/* Slot lifetime, as the core reports it */

static void ne_slot_new(void *opaque, NeSlot *slot)
{
    NeBoot *b = g_new0(NeBoot, 1);

    b->dev = opaque;
    b->slot = slot;
    b->boot_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, ne_boot_timer_cb, b);
    b->console = g_string_new(NULL);
    b->con_log = g_byte_array_new();
    QLIST_INIT(&b->con_readers);
    b->log_fd = -1;
    slot->boot = b;
}

/* ENCLAVE_STOP or the exit hook: the boot stops where it is. */
static void ne_slot_stopping(void *opaque, NeSlot *slot)
{
    ne_boot_cancel(slot->boot);
}

static void ne_slot_release(void *opaque, NeSlot *slot)
{
    NeBoot *b = slot->boot;

    ne_boot_cancel(b);
    timer_free(b->boot_timer);
    g_string_free(b->console, true);
    g_byte_array_unref(b->con_log);
    g_free(b);
    slot->boot = NULL;
}

static unsigned int ne_machine_cpus(void *opaque)
{
    MachineState *ms = MACHINE(qdev_get_machine());

    return ms->smp.cpus;
}

/* Is [paddr, paddr + size) guest RAM in the system address space? */
static bool ne_range_is_ram(void *opaque, uint64_t paddr, uint64_t size)
{
    while (size) {
        MemoryRegionSection sec = memory_region_find(get_system_memory(),
                                                     paddr, size);
        uint64_t len;
        bool ok;

        if (!sec.mr) {
            return false;
        }
        len = int128_get64(sec.size);
        /*
         * Guest RAM is what memory backends provide: video RAM, ROMs and
         * RAM-backed BARs are mapped there too but are not the guest's.
         */
        ok = sec.offset_within_address_space == paddr && len > 0 &&
             len <= size && memory_region_is_ram(sec.mr) &&
             !memory_region_is_rom(sec.mr) && sec.mr->owner &&
             object_dynamic_cast(sec.mr->owner, TYPE_MEMORY_BACKEND);
        memory_region_unref(sec.mr);
        if (!ok) {
            return false;
        }
        paddr += len;
        size -= len;
    }
    return true;
}


static const NeCoreOps ne_core_ops = {
    .range_is_ram = ne_range_is_ram,
    .machine_cpus = ne_machine_cpus,
    .slot_new = ne_slot_new,
    .slot_started = ne_slot_started,
    .slot_stopping = ne_slot_stopping,
    .slot_release = ne_slot_release,
};

/* Reply queue */

static void ne_reply_timer_update(NitroEnclavesState *s)
{
    int64_t first = INT64_MAX;
    uint32_t i;

    for (i = 0; i < s->nr_pending; i++) {
        first = MIN(first, s->pending[i].due_ns);
    }
    if (s->nr_pending) {
        timer_mod(&s->reply_timer, first);
    } else {
        timer_del(&s->reply_timer);
    }
}

/* Index of the reply to deliver next. */
static uint32_t ne_reply_first(NitroEnclavesState *s)
{
    uint32_t i, first = 0;

    for (i = 1; i < s->nr_pending; i++) {
        NePendingReply *p = &s->pending[i], *f = &s->pending[first];

        if (p->due_ns < f->due_ns ||
            (p->due_ns == f->due_ns && p->seq < f->seq)) {
            first = i;
        }
    }
    return first;
}

/* Write one reply to NE_RECV_DATA, count it, then notify vector 0. */
static void ne_reply_deliver(NitroEnclavesState *s, uint32_t index)
{
    NePendingReply p = s->pending[index];

    s->nr_pending--;
    s->pending[index] = s->pending[s->nr_pending];

    memset(s->recv_data, 0, sizeof(s->recv_data));
    memcpy(s->recv_data, p.data, NE_REPLY_SIZE);
    s->reply_counter++;
    trace_nitro_enclaves_reply_deliver(p.type, (int32_t)ldl_le_p(p.data),
                                       s->reply_counter);
    ne_notify(s, NE_VEC_REPLY);
}

static void ne_reply_timer_cb(void *opaque)
{
    NitroEnclavesState *s = opaque;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);

    while (s->nr_pending) {
        uint32_t i = ne_reply_first(s);

        if (s->pending[i].due_ns > now) {
            break;
        }
        ne_reply_deliver(s, i);
    }
    ne_reply_timer_update(s);
}

static void ne_reply_queue(NitroEnclavesState *s, uint32_t type,
                           const uint8_t *data, int64_t due_ns)
{
    NePendingReply *p;

    if (s->nr_pending == NE_REPLY_QUEUE_LEN) {
        /* The guest outran the latency: hand out the oldest reply early. */
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: %u replies pending, delivering one early\n",
                      TYPE_NITRO_ENCLAVES_PCI, NE_REPLY_QUEUE_LEN);
        ne_reply_deliver(s, ne_reply_first(s));
    }
    p = &s->pending[s->nr_pending++];
    p->due_ns = due_ns;
    p->seq = s->reply_seq++;
    p->type = type;
    memcpy(p->data, data, NE_REPLY_SIZE);
    ne_reply_timer_update(s);
}

/* Queue a command's reply as the test hooks say. */
static void ne_reply_post(NitroEnclavesState *s, uint32_t type,
                          const uint8_t *data)
{
    int64_t due = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                  (int64_t)s->reply_latency_us * SCALE_US;
    int64_t delay = (int64_t)s->tb_delay_ms * SCALE_MS;
    uint32_t mode = s->tb_reply_mode;

    if (mode != NE_TB_REPLY_NORMAL && s->tb_reply_cmd != 0 &&
        s->tb_reply_cmd != type) {
        /* The mode is aimed at another command: it waits for that one. */
        trace_nitro_enclaves_reply_mode_held(type, mode, s->tb_reply_cmd);
        mode = NE_TB_REPLY_NORMAL;
    } else if (mode != NE_TB_REPLY_NORMAL) {
        /* One-shot: the mode and its aim are used up together. */
        s->tb_reply_mode = NE_TB_REPLY_NORMAL;
        s->tb_reply_cmd = 0;
    }
    trace_nitro_enclaves_reply_post(type, (int32_t)ldl_le_p(data), mode);

    switch (mode) {
    case NE_TB_REPLY_DROP:
        break;
    case NE_TB_REPLY_LATE:
        ne_reply_queue(s, type, data, due + delay);
        break;
    case NE_TB_REPLY_TWICE:
        ne_reply_queue(s, type, data, due);
        ne_reply_queue(s, type, data, due + delay);
        break;
    default:
        ne_reply_queue(s, type, data, due);
        break;
    }

    /*
     * A reply due now arrives before the doorbell write returns, in the
     * vCPU thread, behind any older reply that is also due: the timer would
     * add a hop through the main loop, a host scheduling delay.
     */
    if (due <= qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL)) {
        ne_reply_timer_cb(s);
    }
}

/*
 * Requests that name a slot: their replies echo its uid, failures included,
 * so that a driver can tell its reply from a stray one. NEXT_SLOT's uid is
 * a cursor: its reply names the following slot instead.
 */
/* Doorbell: run the command now, queue its reply. */
static void ne_command(NitroEnclavesState *s, uint32_t type)
{
    uint8_t reply[NE_REPLY_SIZE];

    ne_core_command(&s->core, type, s->send_data, reply);
    ne_reply_post(s, type, reply);
}

/* Enable, disable and reset */

static void ne_settle_timer_cb(void *opaque)
{
    NitroEnclavesState *s = opaque;

    s->settling = false;
    trace_nitro_enclaves_disable_settled();
}

static void ne_write_enable(NitroEnclavesState *s, uint8_t val)
{
    switch (val) {
    case NE_ENABLE_ON:
        timer_del(&s->settle_timer);
        s->settling = false;
        s->core.enabled = true;
        trace_nitro_enclaves_enable(1);
        break;
    case NE_ENABLE_OFF:
        if (s->core.enabled || s->settling) {
            /* Stop and free every slot, then report "on" for a while. */
            ne_core_free_all(&s->core);
            s->core.enabled = false;
            s->settling = true;
            timer_mod(&s->settle_timer,
                      qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                      NE_DISABLE_SETTLE_NS);
        }
        trace_nitro_enclaves_enable(0);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "%s: NE_ENABLE: invalid value %u\n",
                      TYPE_NITRO_ENCLAVES_PCI, val);
        break;
    }
}

static void ne_write_version(NitroEnclavesState *s, uint16_t val)
{
    s->version = val == NE_VERSION_MAX ? NE_VERSION_MAX : 0;
    trace_nitro_enclaves_version(val, s->version);
}

static void ne_tb_reset_settings(NitroEnclavesState *s);

static void nitro_enclaves_reset_hold(Object *obj)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);

    trace_nitro_enclaves_reset();
    ne_tb_reset_settings(s);
    timer_del(&s->settle_timer);
    timer_del(&s->reply_timer);
    ne_core_free_all(&s->core);
    s->nr_pending = 0;
    s->core.enabled = false;
    s->settling = false;
    s->version = 0;
    s->reply_counter = 0;
    s->event_counter = 0;
    memset(s->send_data, 0, sizeof(s->send_data));
    memset(s->recv_data, 0, sizeof(s->recv_data));
}

/*
 * Accesses of any size from 1 to 8 bytes, aligned or not, are taken apart
 * per register: a register takes the bytes of an access that fall inside
 * it, on top of @cur (its current value, or 0 for triggers).
 */
static bool ne_access_hits(hwaddr addr, unsigned size, uint64_t val,
                           hwaddr reg, unsigned width, uint64_t *cur)
{
    hwaddr lo = MAX(addr, reg);
    hwaddr hi = MIN(addr + size, reg + width);
    hwaddr b;

    if (lo >= hi) {
        return false;
    }
    for (b = lo; b < hi; b++) {
        unsigned in_reg = (b - reg) * 8;
        uint64_t byte = (val >> ((b - addr) * 8)) & 0xff;

        *cur = (*cur & ~(0xffULL << in_reg)) | (byte << in_reg);
    }
    return true;
}

/* BAR 3 */

static uint8_t ne_mmio_read_byte(NitroEnclavesState *s, hwaddr off)
{
    if (off == NE_ENABLE) {
        return s->core.enabled || s->settling ? NE_ENABLE_ON : NE_ENABLE_OFF;
    }
    if (off >= NE_VERSION && off < NE_VERSION + 2) {
        return s->version >> ((off - NE_VERSION) * 8);
    }
    if (off >= NE_COMMAND && off < NE_COMMAND + 4) {
        return 0;   /* write-only */
    }
    if (off >= NE_EVTCNT && off < NE_EVTCNT + 4) {
        uint32_t v = s->reply_counter << NE_EVTCNT_REPLY_SHIFT |
                     (uint32_t)s->event_counter << NE_EVTCNT_EVENT_SHIFT;

        return v >> ((off - NE_EVTCNT) * 8);
    }
    if (off >= NE_SEND_DATA && off < NE_SEND_DATA + NE_DATA_SIZE) {
        return s->send_data[off - NE_SEND_DATA];
    }
    if (off >= NE_RECV_DATA && off < NE_RECV_DATA + NE_DATA_SIZE) {
        return s->recv_data[off - NE_RECV_DATA];
    }
    return 0xff;    /* undefined */
}

static uint64_t ne_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    NitroEnclavesState *s = opaque;
    uint64_t val = 0;
    unsigned i;

    for (i = 0; i < size; i++) {
        val |= (uint64_t)ne_mmio_read_byte(s, addr + i) << (i * 8);
    }
    trace_nitro_enclaves_mmio_read(addr, size, val);
    return val;
}

static bool ne_mmio_byte_writable(hwaddr off)
{
    return off == NE_ENABLE ||
           (off >= NE_VERSION && off < NE_COMMAND + 4) ||
           (off >= NE_SEND_DATA && off < NE_SEND_DATA + NE_DATA_SIZE);
}

static void ne_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
    NitroEnclavesState *s = opaque;
    uint64_t v;
    unsigned i;

    trace_nitro_enclaves_mmio_write(addr, size, val);

    for (i = 0; i < size; i++) {
        hwaddr off = addr + i;

        if (!ne_mmio_byte_writable(off)) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "%s: write of 0x%" PRIx64 " (size %u) to 0x%"
                          HWADDR_PRIx " hits a read-only or undefined "
                          "offset, ignored\n", TYPE_NITRO_ENCLAVES_PCI,
                          val, size, addr);
            break;
        }
    }
    for (i = 0; i < size; i++) {
        hwaddr off = addr + i;

        if (off >= NE_SEND_DATA && off < NE_SEND_DATA + NE_DATA_SIZE) {
            s->send_data[off - NE_SEND_DATA] = val >> (i * 8);
        }
    }

    /* Registers with side effects, in offset order. */
    v = 0;
    if (ne_access_hits(addr, size, val, NE_ENABLE, 1, &v)) {
        ne_write_enable(s, v);
    }
    v = s->version;
    if (ne_access_hits(addr, size, val, NE_VERSION, 2, &v)) {
        ne_write_version(s, v);
    }
    v = 0;
    if (ne_access_hits(addr, size, val, NE_COMMAND, 4, &v)) {
        ne_command(s, v);
    }
}

static const MemoryRegionOps ne_mmio_ops = {
    .read = ne_mmio_read,
    .write = ne_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
};

/* Test hooks, shared by BAR 4 and the QOM properties */

static int ne_tb_exit(NitroEnclavesState *s, uint64_t uid)
{
    int rc = ne_core_exit(&s->core, uid);

    if (!rc) {
        ne_raise_event(s);
    }
    return rc;
}

static int ne_tb_raise_events(NitroEnclavesState *s, uint32_t n)
{
    uint32_t i;

    if (n > NE_TB_EVENTS_MAX) {
        return -NE_EINVAL;
    }
    trace_nitro_enclaves_tb_raise_events(n);
    for (i = 0; i < n; i++) {
        ne_raise_event(s);
    }
    return 0;
}

/* The slot in NE_TB_SLOT prints NE_TB_CONSOLE_FILL bytes on its console. */
static int ne_tb_console_fill(NitroEnclavesState *s)
{
    NeBoot *b = ne_boot_find(s, s->tb_slot);
    g_autofree char *text = NULL;
    uint32_t i;

    if (!b) {
        return -NE_ENOENT;
    }
    if (!(b->slot->flags & NE_START_DEBUG) ||
        s->tb_console_fill > NE_TB_CONSOLE_FILL_MAX) {
        return -NE_EINVAL;
    }
    text = g_malloc(s->tb_console_fill);
    for (i = 0; i < s->tb_console_fill; i++) {
        text[i] = 'a' + i % 26;
    }
    ne_console_write(b, text, s->tb_console_fill);
    return 0;
}

static void ne_tb_action(NitroEnclavesState *s, uint32_t action)
{
    switch (action) {
    case NE_TB_ACTION_EXIT:
        s->tb_status = ne_tb_exit(s, s->tb_slot);
        break;
    case NE_TB_ACTION_EVENTS:
        s->tb_status = ne_tb_raise_events(s, s->tb_events);
        if (s->tb_status) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "%s: NE_TB_EVENTS: %u events is more than %u\n",
                          TYPE_NITRO_ENCLAVES_PCI, s->tb_events,
                          NE_TB_EVENTS_MAX);
        }
        break;
    case NE_TB_ACTION_RESET:
        memset(s->core.tb_cmd_count, 0, sizeof(s->core.tb_cmd_count));
        s->tb_event_count = 0;
        s->tb_status = 0;
        trace_nitro_enclaves_tb_reset_counters();
        ne_tb_reset_settings(s);
        break;
    case NE_TB_ACTION_CONSOLE:
        s->tb_status = ne_tb_console_fill(s);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "%s: NE_TB_ACTION: unknown action %u\n",
                      TYPE_NITRO_ENCLAVES_PCI, action);
        s->tb_status = -NE_EINVAL;
        break;
    }
}

static bool ne_tb_set_reply_mode(NitroEnclavesState *s, uint32_t mode)
{
    if (mode > NE_TB_REPLY_TWICE) {
        return false;
    }
    s->tb_reply_mode = mode;
    return true;
}

/* 0 aims the reply mode at any command, 1..11 at that command type. */
static bool ne_tb_set_reply_cmd(NitroEnclavesState *s, uint32_t type)
{
    if (type >= NE_CMD_MAX) {
        return false;
    }
    s->tb_reply_cmd = type;
    trace_nitro_enclaves_tb_reply_cmd(type);
    return true;
}

static bool ne_tb_set_err_uid_zero(NitroEnclavesState *s, uint32_t on)
{
    if (on > 1) {
        return false;
    }
    s->core.tb_err_uid_zero = on;
    trace_nitro_enclaves_tb_err_uid_zero(on);
    return true;
}

/*
 * Settings that both resets put back: the uid hook to the err-uid-zero
 * property, the reply mode's aim to "any command". A mode still aimed at
 * a command is disarmed with it rather than let loose on every command.
 */
static void ne_tb_reset_settings(NitroEnclavesState *s)
{
    ne_tb_set_err_uid_zero(s, s->err_uid_zero);
    if (s->tb_reply_cmd != 0) {
        s->tb_reply_mode = NE_TB_REPLY_NORMAL;
        ne_tb_set_reply_cmd(s, 0);
    }
}

/* BAR 4 */

/* The image of the slot in NE_TB_SLOT; 0 names the last started one. */
static const NeImage *ne_tb_image(NitroEnclavesState *s)
{
    NeBoot *b;

    if (s->tb_slot == 0) {
        return &s->last_image;
    }
    b = ne_boot_find(s, s->tb_slot);
    return b ? &b->image : NULL;
}

static uint32_t ne_tb_boot_state(NitroEnclavesState *s)
{
    NeBoot *b = ne_boot_find(s, s->tb_slot);

    if (s->tb_slot == 0) {
        return s->last_boot_state |
               (uint32_t)s->last_crash_reason << NE_TB_BOOT_REASON_SHIFT;
    }
    if (!b) {
        return 0;
    }
    return b->boot_state |
           (uint32_t)b->crash_reason << NE_TB_BOOT_REASON_SHIFT;
}

static GString *ne_tb_console(NitroEnclavesState *s)
{
    NeBoot *b = ne_boot_find(s, s->tb_slot ? s->tb_slot : s->last_uid);

    return b ? b->console : NULL;
}

static uint64_t ne_tb_reg_value(NitroEnclavesState *s, hwaddr reg)
{
    const NeImage *img = ne_tb_image(s);
    GString *con;

    if (reg >= NE_TB_CMD_COUNT && reg < NE_TB_CMD_COUNT + 4 * NE_CMD_MAX) {
        return s->core.tb_cmd_count[(reg - NE_TB_CMD_COUNT) / 4];
    }
    if (reg >= NE_TB_PCRS && reg < NE_TB_PCRS + NE_NR_PCRS * NE_PCR_SIZE) {
        return img ? ldl_le_p(&img->pcr[0][0] + (reg - NE_TB_PCRS)) : 0;
    }
    if (reg >= NE_TB_CONSOLE && reg < NE_TB_CONSOLE + NE_TB_CONSOLE_SIZE) {
        uint8_t w[4] = { 0 };
        unsigned i;

        con = ne_tb_console(s);
        for (i = 0; con && i < 4; i++) {
            if (reg - NE_TB_CONSOLE + i < con->len) {
                w[i] = con->str[reg - NE_TB_CONSOLE + i];
            }
        }
        return ldl_le_p(w);
    }
    switch (reg) {
    case NE_TB_MAGIC:
        return NE_TB_MAGIC_VALUE;
    case NE_TB_VERSION:
        return NE_TB_VERSION_VALUE;
    case NE_TB_SLOT:
        return s->tb_slot;
    case NE_TB_SLOT + 4:
        return s->tb_slot >> 32;
    case NE_TB_ACTION:
        return 0;   /* write-only */
    case NE_TB_STATUS:
        return (uint32_t)s->tb_status;
    case NE_TB_FAIL_CMD:
        return s->core.tb_fail_cmd;
    case NE_TB_FAIL_RC:
        return (uint32_t)s->core.tb_fail_rc;
    case NE_TB_REPLY_MODE:
        return s->tb_reply_mode;
    case NE_TB_DELAY_MS:
        return s->tb_delay_ms;
    case NE_TB_EVENTS:
        return s->tb_events;
    case NE_TB_ERR_UID_ZERO:
        return s->core.tb_err_uid_zero;
    case NE_TB_REPLY_CMD:
        return s->tb_reply_cmd;
    case NE_TB_CONSOLE_FILL:
        return s->tb_console_fill;
    case NE_TB_LIVE_SLOTS:
        return s->core.nr_slots;
    case NE_TB_VCPUS:
        return ne_core_total_vcpus(&s->core);
    case NE_TB_MEM_BYTES:
        return (uint32_t)ne_core_total_mem_bytes(&s->core);
    case NE_TB_MEM_BYTES + 4:
        return ne_core_total_mem_bytes(&s->core) >> 32;
    case NE_TB_MEM_RANGES:
        return ne_core_total_mem_ranges(&s->core);
    case NE_TB_EVENT_COUNT:
        return s->tb_event_count;
    case NE_TB_IMAGE_STATUS:
        return img ? img->status : NE_IMG_NONE;
    case NE_TB_BOOT_STATE:
        return ne_tb_boot_state(s);
    case NE_TB_IMAGE_SIZE:
        return img ? (uint32_t)img->size : 0;
    case NE_TB_IMAGE_SIZE + 4:
        return img ? img->size >> 32 : 0;
    case NE_TB_CONSOLE_LEN:
        con = ne_tb_console(s);
        return con ? con->len : 0;
    default:
        return UINT32_MAX;  /* undefined */
    }
}

static uint64_t ne_tb_read(void *opaque, hwaddr addr, unsigned size)
{
    NitroEnclavesState *s = opaque;
    uint64_t val = 0;
    unsigned i;

    /* Every register is made of 32-bit words. */
    for (i = 0; i < size; i++) {
        hwaddr b = addr + i;
        uint32_t word = ne_tb_reg_value(s, b & ~3ULL);

        val |= (uint64_t)((word >> ((b & 3) * 8)) & 0xff) << (i * 8);
    }
    trace_nitro_enclaves_tb_read(addr, size, val);
    return val;
}

static bool ne_tb_word_writable(hwaddr word)
{
    switch (word) {
    case NE_TB_SLOT:
    case NE_TB_SLOT + 4:
    case NE_TB_ACTION:
    case NE_TB_FAIL_CMD:
    case NE_TB_FAIL_RC:
    case NE_TB_REPLY_MODE:
    case NE_TB_DELAY_MS:
    case NE_TB_EVENTS:
    case NE_TB_ERR_UID_ZERO:
    case NE_TB_REPLY_CMD:
    case NE_TB_CONSOLE_FILL:
        return true;
    default:
        return false;
    }
}

static void ne_tb_write(void *opaque, hwaddr addr, uint64_t val,
                        unsigned size)
{
    NitroEnclavesState *s = opaque;
    uint64_t v;
    unsigned i;

    trace_nitro_enclaves_tb_write(addr, size, val);

    for (i = 0; i < size; i++) {
        if (!ne_tb_word_writable((addr + i) & ~3ULL)) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "%s: test BAR write of 0x%" PRIx64 " (size %u) to 0x%"
                          HWADDR_PRIx " hits a read-only or undefined "
                          "offset, ignored\n", TYPE_NITRO_ENCLAVES_PCI,
                          val, size, addr);
            break;
        }
    }

    v = s->tb_slot;
    if (ne_access_hits(addr, size, val, NE_TB_SLOT, 8, &v)) {
        s->tb_slot = v;
    }
    v = s->core.tb_fail_rc;
    v = (uint32_t)v;
    if (ne_access_hits(addr, size, val, NE_TB_FAIL_RC, 4, &v)) {
        s->core.tb_fail_rc = (int32_t)v;
    }
    v = s->core.tb_fail_cmd;
    if (ne_access_hits(addr, size, val, NE_TB_FAIL_CMD, 4, &v)) {
        s->core.tb_fail_cmd = v;
        trace_nitro_enclaves_tb_fail_cmd(s->core.tb_fail_cmd,
                                         s->core.tb_fail_rc);
    }
    v = s->tb_delay_ms;
    if (ne_access_hits(addr, size, val, NE_TB_DELAY_MS, 4, &v)) {
        s->tb_delay_ms = v;
    }
    v = s->tb_reply_cmd;
    if (ne_access_hits(addr, size, val, NE_TB_REPLY_CMD, 4, &v)) {
        if (!ne_tb_set_reply_cmd(s, v)) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "%s: NE_TB_REPLY_CMD: invalid command type %" PRIu64
                          "\n", TYPE_NITRO_ENCLAVES_PCI, v);
        }
    }
    v = s->tb_reply_mode;
    if (ne_access_hits(addr, size, val, NE_TB_REPLY_MODE, 4, &v)) {
        if (!ne_tb_set_reply_mode(s, v)) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "%s: NE_TB_REPLY_MODE: invalid mode %" PRIu64 "\n",
                          TYPE_NITRO_ENCLAVES_PCI, v);
        }
    }
    v = s->tb_events;
    if (ne_access_hits(addr, size, val, NE_TB_EVENTS, 4, &v)) {
        s->tb_events = v;
    }
    v = s->tb_console_fill;
    if (ne_access_hits(addr, size, val, NE_TB_CONSOLE_FILL, 4, &v)) {
        s->tb_console_fill = v;
    }
    v = s->core.tb_err_uid_zero;
    if (ne_access_hits(addr, size, val, NE_TB_ERR_UID_ZERO, 4, &v)) {
        if (!ne_tb_set_err_uid_zero(s, v)) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "%s: NE_TB_ERR_UID_ZERO: invalid value %" PRIu64
                          " (0 or 1)\n", TYPE_NITRO_ENCLAVES_PCI, v);
        }
    }
    v = 0;
    if (ne_access_hits(addr, size, val, NE_TB_ACTION, 4, &v)) {
        ne_tb_action(s, v);
    }
}

static const MemoryRegionOps ne_tb_ops = {
    .read = ne_tb_read,
    .write = ne_tb_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
};

/* QOM properties for the host side (qom-set / qom-get over QMP) */

/* Triggers need the device's PCI state, which exists once realized. */
static bool ne_prop_check_realized(Object *obj, const char *name,
                                   Error **errp)
{
    if (!DEVICE(obj)->realized) {
        error_setg(errp, "'%s' works on a realized device only", name);
        return false;
    }
    return true;
}

static void ne_prop_set_exit_slot(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);
    uint64_t uid;

    if (!ne_prop_check_realized(obj, name, errp) ||
        !visit_type_uint64(v, name, &uid, errp)) {
        return;
    }
    s->tb_slot = uid;
    s->tb_status = ne_tb_exit(s, uid);
    if (s->tb_status == -NE_ENOENT) {
        error_setg(errp, "no slot with uid %" PRIu64, uid);
    } else if (s->tb_status) {
        error_setg(errp, "slot %" PRIu64 " is not running", uid);
    }
}

static void ne_prop_set_raise_events(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);
    uint32_t n;

    if (!ne_prop_check_realized(obj, name, errp) ||
        !visit_type_uint32(v, name, &n, errp)) {
        return;
    }
    s->tb_events = n;
    s->tb_status = ne_tb_raise_events(s, n);
    if (s->tb_status) {
        error_setg(errp, "raise-events is at most %u", NE_TB_EVENTS_MAX);
    }
}

/*
 * The test controls read and written over QMP are the test BAR's registers
 * of the same name: opaque is the register's offset.
 */
static void ne_prop_get_reg(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);
    hwaddr reg = (uintptr_t)opaque;
    uint64_t val64;
    uint32_t val32;
    int32_t rc;

    if (reg == NE_TB_MEM_BYTES) {
        val64 = ne_core_total_mem_bytes(&s->core);
        visit_type_uint64(v, name, &val64, errp);
    } else if (reg == NE_TB_FAIL_RC) {
        rc = s->core.tb_fail_rc;
        visit_type_int32(v, name, &rc, errp);
    } else {
        val32 = ne_tb_reg_value(s, reg);
        visit_type_uint32(v, name, &val32, errp);
    }
}

static void ne_prop_set_reg(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);
    hwaddr reg = (uintptr_t)opaque;
    uint32_t val;
    int32_t rc;

    if (reg == NE_TB_FAIL_RC) {
        if (visit_type_int32(v, name, &rc, errp)) {
            s->core.tb_fail_rc = rc;
        }
        return;
    }
    if (!visit_type_uint32(v, name, &val, errp)) {
        return;
    }
    switch (reg) {
    case NE_TB_FAIL_CMD:
        s->core.tb_fail_cmd = val;
        trace_nitro_enclaves_tb_fail_cmd(s->core.tb_fail_cmd,
                                         s->core.tb_fail_rc);
        break;
    case NE_TB_REPLY_MODE:
        if (!ne_tb_set_reply_mode(s, val)) {
            error_setg(errp, "reply-mode must be 0 (normal), 1 (drop), "
                       "2 (late) or 3 (twice)");
        }
        break;
    case NE_TB_REPLY_CMD:
        if (!ne_tb_set_reply_cmd(s, val)) {
            error_setg(errp, "reply-cmd must be 0 (any command) or a "
                       "command type from 1 to %d", NE_CMD_MAX - 1);
        }
        break;
    case NE_TB_ERR_UID_ZERO:
        if (!ne_tb_set_err_uid_zero(s, val)) {
            error_setg(errp, "tb-err-uid-zero must be 0 or 1");
        }
        break;
    default:
        g_assert_not_reached();
    }
}

static void ne_class_add_reg(ObjectClass *klass, const char *name,
                             const char *type, hwaddr reg, bool writable)
{
    object_class_property_add(klass, name, type, ne_prop_get_reg,
                              writable ? ne_prop_set_reg : NULL, NULL,
                              (void *)(uintptr_t)reg);
}

/* The slot started last: PCRs, image status, boot state, console. */
static char *ne_prop_get_pcr(Object *obj, Error **errp, unsigned n)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);
    GString *hex = g_string_new(NULL);
    unsigned i;

    if (s->last_image.status == NE_IMG_NONE) {
        return g_string_free(hex, false);
    }
    for (i = 0; i < NE_PCR_SIZE; i++) {
        g_string_append_printf(hex, "%02x", s->last_image.pcr[n][i]);
    }
    return g_string_free(hex, false);
}

static char *ne_prop_get_pcr0(Object *obj, Error **errp)
{
    return ne_prop_get_pcr(obj, errp, 0);
}

static char *ne_prop_get_pcr1(Object *obj, Error **errp)
{
    return ne_prop_get_pcr(obj, errp, 1);
}

static char *ne_prop_get_pcr2(Object *obj, Error **errp)
{
    return ne_prop_get_pcr(obj, errp, 2);
}

static char *ne_prop_get_image_status(Object *obj, Error **errp)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);

    return g_strdup(ne_img_names[s->last_image.status]);
}

static char *ne_prop_get_boot_state(Object *obj, Error **errp)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);

    if (s->last_crash_reason != NE_CRASH_NONE) {
        return g_strdup_printf("%s: %s", ne_boot_names[s->last_boot_state],
                               ne_crash_names[s->last_crash_reason]);
    }
    return g_strdup(ne_boot_names[s->last_boot_state]);
}

static char *ne_prop_get_console(Object *obj, Error **errp)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);
    NeBoot *b = ne_boot_find(s, s->last_uid);

    return g_strdup(b ? b->console->str : "");
}

/* Realize, exit and type registration */

static void nitro_enclaves_realize(PCIDevice *pdev, Error **errp)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(pdev);

    if (s->core.max_slots < 1 || s->core.max_slots > NE_MAX_SLOTS_LIMIT) {
        error_setg(errp, "max-slots must be between 1 and %d",
                   NE_MAX_SLOTS_LIMIT);
        return;
    }
    if (s->core.mem_regions < 1) {
        error_setg(errp, "mem-regions must be at least 1");
        return;
    }
    if (s->enclave_vm && !ne_vm_firmware_found(errp)) {
        error_prepend(errp, "enclave-vm=on: ");
        return;
    }

    if (msix_init_exclusive_bar(pdev, NE_MSIX_VECTORS, NE_MSIX_BAR, errp)) {
        return;
    }
    /* Without this, msix_notify() drops the message. */
    msix_vector_use(pdev, NE_VEC_REPLY);
    msix_vector_use(pdev, NE_VEC_EVENT);

    timer_init_ns(&s->reply_timer, QEMU_CLOCK_VIRTUAL, ne_reply_timer_cb, s);
    timer_init_ns(&s->settle_timer, QEMU_CLOCK_VIRTUAL, ne_settle_timer_cb, s);

    memory_region_init_io(&s->mmio, OBJECT(s), &ne_mmio_ops, s,
                          "nitro-enclaves-mmio", NE_REGS_SIZE);
    pci_register_bar(pdev, NE_REGS_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->mmio);

    s->core.tb_err_uid_zero = s->err_uid_zero;

    if (s->test_hooks) {
        memory_region_init_io(&s->tb_mmio, OBJECT(s), &ne_tb_ops, s,
                              "nitro-enclaves-test", NE_TB_SIZE);
        pci_register_bar(pdev, NE_TB_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY,
                         &s->tb_mmio);
    }
}

static void nitro_enclaves_exit(PCIDevice *pdev)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(pdev);

    timer_del(&s->settle_timer);
    timer_del(&s->reply_timer);
    ne_core_free_all(&s->core);
    s->nr_pending = 0;
    msix_unuse_all_vectors(pdev);
    msix_uninit_exclusive_bar(pdev);
}

static void nitro_enclaves_instance_init(Object *obj)
{
    NitroEnclavesState *s = NITRO_ENCLAVES_PCI(obj);

    ne_core_init(&s->core, &ne_core_ops, s);
    s->next_src_port = NE_SRC_PORT_FIRST;
    s->tb_delay_ms = NE_TB_DELAY_MS_DEFAULT;
    object_property_add_uint32_ptr(obj, "delay-ms", &s->tb_delay_ms,
                                   OBJ_PROP_FLAG_READWRITE);
}

static const VMStateDescription vmstate_nitro_enclaves = {
    .name = TYPE_NITRO_ENCLAVES_PCI,
    .unmigratable = 1,
};

static Property nitro_enclaves_properties[] = {
    DEFINE_PROP_UINT32("max-slots", NitroEnclavesState, core.max_slots, 8),
    DEFINE_PROP_UINT32("mem-regions", NitroEnclavesState,
                       core.mem_regions, 256),
    DEFINE_PROP_UINT32("reply-latency-us", NitroEnclavesState,
                       reply_latency_us, 0),
    DEFINE_PROP_BOOL("test-hooks", NitroEnclavesState, test_hooks, false),
    DEFINE_PROP_BOOL("eif-check", NitroEnclavesState, eif_check, false),
    DEFINE_PROP_BOOL("enclave-vm", NitroEnclavesState, enclave_vm, false),
    DEFINE_PROP_STRING("enclave-log", NitroEnclavesState, enclave_log),
    DEFINE_PROP_UINT32("boot-delay-ms", NitroEnclavesState, boot_delay_ms,
                       200),
    DEFINE_PROP_UINT32("heartbeat-timeout-ms", NitroEnclavesState,
                       heartbeat_timeout_ms, 5000),
    DEFINE_PROP_UINT32("crash-delay-ms", NitroEnclavesState, crash_delay_ms,
                       100),
    DEFINE_PROP_BOOL("err-uid-zero", NitroEnclavesState, err_uid_zero, false),
    DEFINE_PROP_END_OF_LIST(),
};

static void nitro_enclaves_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = nitro_enclaves_realize;
    k->exit = nitro_enclaves_exit;
    k->vendor_id = NE_PCI_VENDOR_ID;
    k->device_id = NE_PCI_DEVICE_ID;
    k->revision = 0;
    k->class_id = PCI_CLASS_SYSTEM_OTHER;
    dc->desc = "AWS Nitro Enclaves PCI device (emulated)";
    rc->phases.hold = nitro_enclaves_reset_hold;
    dc->vmsd = &vmstate_nitro_enclaves;
    device_class_set_props(dc, nitro_enclaves_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);

    /* Host-side test controls */
    object_class_property_add(klass, "exit-slot", "uint64", NULL,
                              ne_prop_set_exit_slot, NULL, NULL);
    object_class_property_add(klass, "raise-events", "uint32", NULL,
                              ne_prop_set_raise_events, NULL, NULL);
    ne_class_add_reg(klass, "fail-cmd", "uint32", NE_TB_FAIL_CMD, true);
    ne_class_add_reg(klass, "fail-rc", "int32", NE_TB_FAIL_RC, true);
    ne_class_add_reg(klass, "reply-mode", "uint32", NE_TB_REPLY_MODE, true);
    ne_class_add_reg(klass, "reply-cmd", "uint32", NE_TB_REPLY_CMD, true);
    /* The register; the device property err-uid-zero is its reset value. */
    ne_class_add_reg(klass, "tb-err-uid-zero", "uint32", NE_TB_ERR_UID_ZERO,
                     true);
    ne_class_add_reg(klass, "live-slots", "uint32", NE_TB_LIVE_SLOTS, false);
    ne_class_add_reg(klass, "vcpus", "uint32", NE_TB_VCPUS, false);
    ne_class_add_reg(klass, "mem-bytes", "uint64", NE_TB_MEM_BYTES, false);
    ne_class_add_reg(klass, "mem-ranges", "uint32", NE_TB_MEM_RANGES, false);
    ne_class_add_reg(klass, "event-count", "uint32", NE_TB_EVENT_COUNT,
                     false);
    object_class_property_add_str(klass, "pcr0", ne_prop_get_pcr0, NULL);
    object_class_property_add_str(klass, "pcr1", ne_prop_get_pcr1, NULL);
    object_class_property_add_str(klass, "pcr2", ne_prop_get_pcr2, NULL);
    object_class_property_add_str(klass, "image-status",
                                  ne_prop_get_image_status, NULL);
    object_class_property_add_str(klass, "boot-state",
                                  ne_prop_get_boot_state, NULL);
    object_class_property_add_str(klass, "console", ne_prop_get_console,
                                  NULL);
}

static void nitro_enclaves_register_types(void)
{
    static InterfaceInfo interfaces[] = {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    };
    static const TypeInfo nitro_enclaves_info = {
        .name          = TYPE_NITRO_ENCLAVES_PCI,
        .parent        = TYPE_PCI_DEVICE,
        .instance_size = sizeof(NitroEnclavesState),
        .instance_init = nitro_enclaves_instance_init,
        .class_init    = nitro_enclaves_class_init,
        .interfaces    = interfaces,
    };

    type_register_static(&nitro_enclaves_info);
}

type_init(nitro_enclaves_register_types)
