/*
 * ne-vsock: a virtio-vsock device whose far side lives inside QEMU
 *
 * The guest (the Nitro Enclaves parent VM, CID 3 by default) drives it with
 * the stock virtio vsock transport. The other ends of its connections are
 * the emulated enclaves of this QEMU process: a device model opens a
 * connection to the guest with ne_vsock_connect() (hw/virtio/ne-vsock.h)
 * and gets the guest's answers through callbacks. No host /dev/vhost-vsock
 * is involved.
 *
 * Packets follow the virtio-vsock stream protocol: REQUEST/RESPONSE open a
 * connection, RW carries data, SHUTDOWN/RST close it, CREDIT_UPDATE and
 * CREDIT_REQUEST move the flow-control window. Each side advertises its
 * receive buffer (buf_alloc) and how much it has consumed (fwd_cnt) in
 * every header and never sends more than the other side has room for.
 * Guest-initiated connections are refused (RST): the emulated peers only
 * ever connect out.
 *
 * Relays link the guest with the guest of another QEMU process (an enclave
 * VM) over a SOCK_SEQPACKET socket that carries raw virtio-vsock packets,
 * one per message (header, then hdr.len payload bytes, at most 64 KiB).
 * On the parent side, ne_vsock_relay_attach() routes one CID to a socket;
 * on the enclave side, relay-fd=<fd> sends every packet of the guest to
 * the socket, and the device has no emulated peers. Both sides check the
 * CIDs of what they forward and leave the credit fields alone: the two
 * guests flow-control each other. A full socket stops the tx queue until
 * it drains; packets waiting for rx buffers stop the reading.
 *
 * Test aids (QOM properties, host side over QMP): test-connect=<cid>:<port>
 * makes an emulated peer connect to the guest, send test-payload and record
 * what comes back (test-state, test-received, test-received-len,
 * test-echo-ok); test-close closes it. test-relay-cid=<cid> with
 * test-relay-fd=<fd> attaches a relay at realize, as the NE device would
 * (tools/testing/ne_vsock_relay).
 *
 * Copyright (c) 2026 The Nitro Enclaves emulator authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/iov.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/queue.h"
#include "qemu/units.h"
#include "qom/object.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/ne-vsock.h"
#include "migration/vmstate.h"
#include "sysemu/runstate.h"
#include "standard-headers/linux/virtio_ids.h"
#include "standard-headers/linux/virtio_vsock.h"
#include "trace.h"
#include "ne-vsock-proto.h"

OBJECT_DECLARE_SIMPLE_TYPE(NEVsock, NE_VSOCK)

#define NE_VSOCK_QUEUE_SIZE     128
/* Largest payload we queue in one RW packet (split again to rx buffers). */
#define NE_VSOCK_PKT_MAX        (64 * KiB)
/* Data a peer may have queued and not yet credited by the guest. */
#define NE_VSOCK_SENDBUF_MAX    (4 * MiB)
/* Packets waiting for rx buffers before we stop reading the tx queue. */
#define NE_VSOCK_RXQ_MAX        256
/* Source ports of the test peer. */
#define NE_VSOCK_TEST_PORT_BASE 40000
/* A relay stops reading its socket while this many packets wait. */
#define NE_VSOCK_RELAY_RXQ_PAUSE (NE_VSOCK_RXQ_MAX / 2)
/* Messages read from a relay in one go, so the guest gets its turn. */
#define NE_VSOCK_RELAY_RX_BATCH 32
/* Tuples a relay remembers, to reset them when its far side goes away. */
#define NE_VSOCK_RELAY_CONNS_MAX 4096
/* Bad messages a relay logs before it only counts them. */
#define NE_VSOCK_RELAY_LOG_MAX  16

/* ne-vsock-proto.c decodes with its own constants: they must agree. */
QEMU_BUILD_BUG_ON(NE_VSOCK_HDR_SIZE != sizeof(struct virtio_vsock_hdr));
QEMU_BUILD_BUG_ON(NE_VSOCK_TYPE_STREAM != VIRTIO_VSOCK_TYPE_STREAM);
QEMU_BUILD_BUG_ON(NE_VSOCK_OP_REQUEST != VIRTIO_VSOCK_OP_REQUEST);
QEMU_BUILD_BUG_ON(NE_VSOCK_OP_RESPONSE != VIRTIO_VSOCK_OP_RESPONSE);
QEMU_BUILD_BUG_ON(NE_VSOCK_OP_RST != VIRTIO_VSOCK_OP_RST);
QEMU_BUILD_BUG_ON(NE_VSOCK_OP_SHUTDOWN != VIRTIO_VSOCK_OP_SHUTDOWN);
QEMU_BUILD_BUG_ON(NE_VSOCK_OP_RW != VIRTIO_VSOCK_OP_RW);
QEMU_BUILD_BUG_ON(NE_VSOCK_OP_CREDIT_UPDATE != VIRTIO_VSOCK_OP_CREDIT_UPDATE);
QEMU_BUILD_BUG_ON(NE_VSOCK_OP_CREDIT_REQUEST !=
                  VIRTIO_VSOCK_OP_CREDIT_REQUEST);
QEMU_BUILD_BUG_ON(NE_VSOCK_RELAY_PAYLOAD_MAX != NE_VSOCK_PKT_MAX);

typedef struct NEVsockKey {
    uint64_t peer_cid;
    uint32_t peer_port;
    uint32_t guest_port;
} NEVsockKey;

struct NEVsockConn {
    NEVsock *dev;               /* NULL once the device is unrealized */
    NEVsockKey key;
    NEVsockProto proto;         /* state and credit (ne-vsock-proto.c) */
    /* The owner called ne_vsock_close(); we finish the close alone. */
    bool orphan;
    bool in_table;
    const NEVsockPeerOps *ops;
    void *opaque;
    QEMUBH *refuse_bh;          /* refusal without a ready guest driver */

    /* peer -> guest */
    GByteArray *sendbuf;        /* accepted by ne_vsock_send, not yet sent */
    bool shutdown_sent;

    /* Waiting for its refused/closed callback while dropping all. */
    bool dying;
    bool end_refused;
    QTAILQ_ENTRY(NEVsockConn) dying_next;
};

/* An emulated service: the guest's connections to (cid, port) end here */
struct NEVsockListener {
    uint64_t cid;
    uint32_t port;
    NEVsockAcceptFn *accept;
    const NEVsockPeerOps *ops;
    void *opaque;
    QLIST_ENTRY(NEVsockListener) next;
};

typedef struct NEVsockPkt {
    struct virtio_vsock_hdr hdr;    /* little-endian, len set on delivery */
    uint8_t *data;
    size_t len;
    size_t off;                 /* delivered so far (split across buffers) */
    QSIMPLEQ_ENTRY(NEVsockPkt) next;
} NEVsockPkt;

/*
 * A relay: the guest's packets for one CID (or, on the enclave side, for
 * every CID) go out over a SOCK_SEQPACKET socket as they are, and what
 * comes in is checked and given to the guest as it is. Credit fields pass
 * untouched: the guests at both ends flow-control each other.
 */
struct NEVsockRelay {
    NEVsock *dev;               /* NULL once the device is unrealized */
    uint64_t cid;               /* the far side's CID, unless any_cid */
    bool any_cid;               /* relay-fd: everything goes to the socket */
    bool owned;                 /* from a property: freed with the device */
    int fd;                     /* -1 once the relay is dead */
    bool read_paused;           /* packets wait for rx buffers */
    GByteArray *pending;        /* a message the socket had no room for */
    GHashTable *conns;          /* NEVsockKey tuples seen, reset on death */
    uint8_t *rxbuf;             /* one message from the socket */
    unsigned bad_msgs;
    QLIST_ENTRY(NEVsockRelay) next;
};

struct NEVsock {
    VirtIODevice parent_obj;

    /*
     * All three queues belong to QEMU (there is no vhost backend):
     * rx_vq:    device -> guest packets, into buffers the guest posts
     * tx_vq:    guest -> device packets
     * event_vq: device -> guest events (transport reset)
     */
    VirtQueue *rx_vq;
    VirtQueue *tx_vq;
    VirtQueue *event_vq;

    QEMUBH *rx_bh;
    QEMUBH *tx_bh;
    VMChangeStateEntry *vmstate;

    /* Connections by (peer cid, peer port, guest port). */
    GHashTable *conns;
    /* Packets for the guest, in order, waiting for rx buffers. */
    QSIMPLEQ_HEAD(, NEVsockPkt) rxq;
    unsigned rxq_len;
    bool tx_throttled;
    /* A relay's socket is full: the tx queue waits for it. */
    bool tx_blocked;

    uint64_t guest_cid;

    /* Relays, by far-side CID (attached by the NE device or properties) */
    QLIST_HEAD(, NEVsockRelay) relays;
    int32_t relay_fd;           /* enclave side: relay everything to it */
    uint64_t test_relay_cid;    /* test aid: a relay for this CID ... */
    int32_t test_relay_fd;      /* ... over this socket */

    /* Test peer */
    NEVsockConn *test_conn;
    char *test_target;
    char *test_payload_str;
    GByteArray *test_payload;
    GByteArray *test_received;
    uint64_t test_received_len;
    const char *test_state;
    uint32_t test_port;

    QLIST_ENTRY(NEVsock) next;
};

static QLIST_HEAD(, NEVsock) ne_vsock_devices =
    QLIST_HEAD_INITIALIZER(ne_vsock_devices);

/* Listeners serve the parent's device; they outlive any device. */
static QLIST_HEAD(, NEVsockListener) ne_vsock_listeners =
    QLIST_HEAD_INITIALIZER(ne_vsock_listeners);

static QTAILQ_HEAD(, NEVsockConn) ne_vsock_dying =
    QTAILQ_HEAD_INITIALIZER(ne_vsock_dying);

static const char *ne_vsock_op_name(uint16_t op)
{
    static const char *const names[] = {
        [VIRTIO_VSOCK_OP_INVALID] = "INVALID",
        [VIRTIO_VSOCK_OP_REQUEST] = "REQUEST",
        [VIRTIO_VSOCK_OP_RESPONSE] = "RESPONSE",
        [VIRTIO_VSOCK_OP_RST] = "RST",
        [VIRTIO_VSOCK_OP_SHUTDOWN] = "SHUTDOWN",
        [VIRTIO_VSOCK_OP_RW] = "RW",
        [VIRTIO_VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE",
        [VIRTIO_VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
    };

    return op < ARRAY_SIZE(names) ? names[op] : "?";
}

static guint ne_vsock_key_hash(gconstpointer p)
{
    const NEVsockKey *k = p;

    return g_int64_hash(&k->peer_cid) ^ (k->peer_port * 2654435761u) ^
           k->guest_port;
}

static gboolean ne_vsock_key_equal(gconstpointer a, gconstpointer b)
{
    const NEVsockKey *x = a, *y = b;

    return x->peer_cid == y->peer_cid && x->peer_port == y->peer_port &&
           x->guest_port == y->guest_port;
}

static bool ne_vsock_driver_ok(NEVsock *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    return vdev->status & VIRTIO_CONFIG_S_DRIVER_OK;
}

static bool ne_vsock_queues_usable(NEVsock *s, VirtQueue *vq)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    return ne_vsock_driver_ok(s) && vdev->vm_running &&
           virtio_queue_ready(vq);
}

/* Device -> guest */

static void ne_vsock_relays_resume(NEVsock *s);

static void ne_vsock_rx_flush(NEVsock *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    bool pushed = false;

    if (!ne_vsock_queues_usable(s, s->rx_vq)) {
        return;
    }

    while (!QSIMPLEQ_EMPTY(&s->rxq)) {
        NEVsockPkt *p = QSIMPLEQ_FIRST(&s->rxq);
        struct virtio_vsock_hdr hdr;
        VirtQueueElement *elem;
        size_t room, n;

        elem = virtqueue_pop(s->rx_vq, sizeof(VirtQueueElement));
        if (!elem) {
            trace_ne_vsock_rx_no_buffers(s->rxq_len);
            break;
        }
        room = iov_size(elem->in_sg, elem->in_num);
        if (elem->out_num || !ne_vsock_rx_fit(room, p->len - p->off, &n)) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "ne-vsock: rx buffer of %zu bytes is unusable\n",
                          room);
            virtqueue_push(s->rx_vq, elem, 0);
            g_free(elem);
            pushed = true;
            continue;
        }

        hdr = p->hdr;
        hdr.len = cpu_to_le32(n);
        iov_from_buf(elem->in_sg, elem->in_num, 0, &hdr, sizeof(hdr));
        iov_from_buf(elem->in_sg, elem->in_num, sizeof(hdr),
                     p->data + p->off, n);
        virtqueue_push(s->rx_vq, elem, sizeof(hdr) + n);
        g_free(elem);
        pushed = true;
        trace_ne_vsock_rx_pkt(le64_to_cpu(hdr.src_cid),
                              le32_to_cpu(hdr.src_port),
                              le64_to_cpu(hdr.dst_cid),
                              le32_to_cpu(hdr.dst_port),
                              ne_vsock_op_name(le16_to_cpu(hdr.op)), n,
                              le32_to_cpu(hdr.buf_alloc),
                              le32_to_cpu(hdr.fwd_cnt));

        p->off += n;
        if (p->off >= p->len) {
            QSIMPLEQ_REMOVE_HEAD(&s->rxq, next);
            s->rxq_len--;
            g_free(p->data);
            g_free(p);
        }
    }

    if (pushed) {
        virtio_notify(vdev, s->rx_vq);
    }
    if (s->tx_throttled && s->rxq_len < NE_VSOCK_RXQ_MAX) {
        s->tx_throttled = false;
        qemu_bh_schedule(s->tx_bh);
    }
    ne_vsock_relays_resume(s);
}

static void ne_vsock_rx_bh(void *opaque)
{
    ne_vsock_rx_flush(opaque);
}

static void ne_vsock_drop_rxq(NEVsock *s)
{
    NEVsockPkt *p;

    while ((p = QSIMPLEQ_FIRST(&s->rxq))) {
        QSIMPLEQ_REMOVE_HEAD(&s->rxq, next);
        g_free(p->data);
        g_free(p);
    }
    s->rxq_len = 0;
}

/*
 * Queue a packet for the guest. With @c, its credit (our window and what
 * we consumed) goes into the header; replies to unknown tuples carry none.
 * Delivery happens from a bottom half, so no caller sees a callback.
 */
static void ne_vsock_queue_pkt(NEVsock *s, NEVsockConn *c,
                               const NEVsockKey *k, uint16_t op,
                               uint32_t flags, const void *data, size_t len)
{
    NEVsockPkt *p = g_new0(NEVsockPkt, 1);

    p->hdr.src_cid = cpu_to_le64(k->peer_cid);
    p->hdr.dst_cid = cpu_to_le64(s->guest_cid);
    p->hdr.src_port = cpu_to_le32(k->peer_port);
    p->hdr.dst_port = cpu_to_le32(k->guest_port);
    p->hdr.type = cpu_to_le16(VIRTIO_VSOCK_TYPE_STREAM);
    p->hdr.op = cpu_to_le16(op);
    p->hdr.flags = cpu_to_le32(flags);
    if (c) {
        p->hdr.buf_alloc = cpu_to_le32(NE_VSOCK_BUF_ALLOC);
        p->hdr.fwd_cnt = cpu_to_le32(ne_vsock_proto_credit_sent(&c->proto));
    }
    if (len) {
        p->data = g_memdup2(data, len);
        p->len = len;
    }
    QSIMPLEQ_INSERT_TAIL(&s->rxq, p, next);
    s->rxq_len++;
    qemu_bh_schedule(s->rx_bh);
}

static void ne_vsock_send_rst(NEVsock *s, const NEVsockKey *k)
{
    ne_vsock_queue_pkt(s, NULL, k, VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
}

/* Connections */

static void ne_vsock_conn_set_state(NEVsockConn *c, NEVsockState state)
{
    static const char *const names[] = {
        [NE_VSOCK_CONNECTING] = "connecting",
        [NE_VSOCK_CONNECTED] = "connected",
        [NE_VSOCK_DEAD] = "dead",
    };

    trace_ne_vsock_conn_state(c->key.peer_cid, c->key.peer_port,
                              c->key.guest_port, names[state]);
    c->proto.state = state;
}

static void ne_vsock_conn_unlink(NEVsockConn *c)
{
    if (c->in_table) {
        g_hash_table_remove(c->dev->conns, &c->key);
        c->in_table = false;
    }
    if (c->refuse_bh) {
        qemu_bh_delete(c->refuse_bh);
        c->refuse_bh = NULL;
    }
    if (c->dying) {
        QTAILQ_REMOVE(&ne_vsock_dying, c, dying_next);
        c->dying = false;
    }
}

static void ne_vsock_conn_free(NEVsockConn *c)
{
    ne_vsock_conn_unlink(c);
    g_byte_array_unref(c->sendbuf);
    g_free(c);
}

static void ne_vsock_conn_notify_end(NEVsockConn *c, bool refused)
{
    if (refused) {
        if (c->ops->refused) {
            c->ops->refused(c->opaque);
        }
    } else if (c->ops->closed) {
        c->ops->closed(c->opaque);
    }
}

/*
 * The connection is over (refused, reset, shut down by the guest): take it
 * out of the table and tell its owner, or free it if the owner is gone.
 * The callback comes last: the owner may close @c from inside it.
 */
static void ne_vsock_conn_end(NEVsockConn *c)
{
    bool refused = c->proto.state == NE_VSOCK_CONNECTING;

    ne_vsock_conn_unlink(c);
    g_byte_array_set_size(c->sendbuf, 0);
    ne_vsock_conn_set_state(c, NE_VSOCK_DEAD);
    if (c->orphan) {
        ne_vsock_conn_free(c);
        return;
    }
    ne_vsock_conn_notify_end(c, refused);
}

static void ne_vsock_conn_refuse_bh(void *opaque)
{
    NEVsockConn *c = opaque;

    ne_vsock_conn_end(c);
}

static void ne_vsock_conn_credit_update(NEVsockConn *c)
{
    ne_vsock_queue_pkt(c->dev, c, &c->key, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0,
                       NULL, 0);
}

/* Send what the guest has room for; after an orphan's last byte, SHUTDOWN. */
static void ne_vsock_conn_flush(NEVsockConn *c)
{
    if (c->proto.state != NE_VSOCK_CONNECTED) {
        return;
    }

    while (c->sendbuf->len) {
        bool ask;
        size_t n = ne_vsock_proto_take_credit(&c->proto, c->sendbuf->len,
                                              NE_VSOCK_PKT_MAX, &ask);

        if (!n) {
            if (ask) {
                ne_vsock_queue_pkt(c->dev, c, &c->key,
                                   VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0,
                                   NULL, 0);
            }
            trace_ne_vsock_no_credit(c->key.peer_cid, c->key.peer_port,
                                     c->key.guest_port, c->sendbuf->len);
            return;
        }
        ne_vsock_queue_pkt(c->dev, c, &c->key, VIRTIO_VSOCK_OP_RW, 0,
                           c->sendbuf->data, n);
        g_byte_array_remove_range(c->sendbuf, 0, n);
    }

    if (c->orphan && !c->shutdown_sent) {
        c->shutdown_sent = true;
        ne_vsock_queue_pkt(c->dev, c, &c->key, VIRTIO_VSOCK_OP_SHUTDOWN,
                           VIRTIO_VSOCK_SHUTDOWN_RCV |
                           VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0);
    }
}

/* Relays */

static void ne_vsock_relay_readable(void *opaque);
static void ne_vsock_relay_writable(void *opaque);

static NEVsockRelay *ne_vsock_relay_find(NEVsock *s, uint64_t cid)
{
    NEVsockRelay *r;

    QLIST_FOREACH(r, &s->relays, next) {
        if (r->any_cid || r->cid == cid) {
            return r;
        }
    }
    return NULL;
}

/* Poll for what the relay waits for: room to send, or messages to read. */
static void ne_vsock_relay_update_fd(NEVsockRelay *r)
{
    if (r->fd < 0) {
        return;
    }
    qemu_set_fd_handler(r->fd,
                        r->read_paused ? NULL : ne_vsock_relay_readable,
                        r->pending ? ne_vsock_relay_writable : NULL, r);
}

/* Remember the tuple of a packet through @r until an RST ends it. */
static void ne_vsock_relay_track(NEVsockRelay *r, const NEVsockKey *k,
                                 uint16_t op)
{
    if (op == VIRTIO_VSOCK_OP_RST) {
        g_hash_table_remove(r->conns, k);
        return;
    }
    if (g_hash_table_contains(r->conns, k)) {
        return;
    }
    if (g_hash_table_size(r->conns) >= NE_VSOCK_RELAY_CONNS_MAX) {
        trace_ne_vsock_relay_track_full(r->cid);
        return;
    }
    g_hash_table_add(r->conns, g_memdup2(k, sizeof(*k)));
}

/* Best effort: tell the far side that the guest dropped @k. */
static void ne_vsock_relay_send_peer_rst(NEVsockRelay *r, const NEVsockKey *k)
{
    uint8_t raw[NE_VSOCK_HDR_SIZE];
    NEVsockHdr h = {
        .src_cid = r->dev->guest_cid,
        .dst_cid = k->peer_cid,
        .src_port = k->guest_port,
        .dst_port = k->peer_port,
        .type = VIRTIO_VSOCK_TYPE_STREAM,
        .op = VIRTIO_VSOCK_OP_RST,
    };

    ne_vsock_hdr_encode(raw, &h);
    if (send(r->fd, raw, sizeof(raw), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        trace_ne_vsock_relay_peer_rst_lost(r->cid, k->peer_port,
                                           k->guest_port);
    }
}

/*
 * The far side is gone (hang-up, socket error, detach, unrealize): close
 * the socket and reset the guest's connections through it, if the device
 * is still there. Packets to the relay's CID get RST from now on.
 */
static void ne_vsock_relay_kill(NEVsockRelay *r, const char *why)
{
    GHashTableIter iter;
    gpointer key;

    if (r->fd < 0) {
        return;
    }
    trace_ne_vsock_relay_dead(r->cid, why, g_hash_table_size(r->conns));
    qemu_set_fd_handler(r->fd, NULL, NULL, NULL);
    close(r->fd);
    r->fd = -1;
    r->read_paused = false;

    if (r->dev) {
        g_hash_table_iter_init(&iter, r->conns);
        while (g_hash_table_iter_next(&iter, &key, NULL)) {
            ne_vsock_send_rst(r->dev, key);
        }
        if (r->pending) {
            r->dev->tx_blocked = false;
            qemu_bh_schedule(r->dev->tx_bh);
        }
    }
    if (r->pending) {
        g_byte_array_unref(r->pending);
        r->pending = NULL;
    }
    g_hash_table_remove_all(r->conns);
}

/* Room in the socket again: send the waiting message, then the tx queue. */
static void ne_vsock_relay_writable(void *opaque)
{
    NEVsockRelay *r = opaque;
    ssize_t n;

    n = send(r->fd, r->pending->data, r->pending->len,
             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n < 0) {
        ne_vsock_relay_kill(r, "send failed");
        return;
    }
    g_byte_array_unref(r->pending);
    r->pending = NULL;
    ne_vsock_relay_update_fd(r);
    trace_ne_vsock_relay_unblocked(r->cid);
    r->dev->tx_blocked = false;
    qemu_bh_schedule(r->dev->tx_bh);
}

/*
 * A guest packet for the relay's far side (its src_cid is checked). A
 * full socket keeps the packet and stops the tx queue until it drains.
 */
static void ne_vsock_relay_from_guest(NEVsock *s, NEVsockRelay *r,
                                      const NEVsockHdr *h,
                                      const uint8_t *data, uint32_t len)
{
    NEVsockKey key = {
        .peer_cid = h->dst_cid,
        .peer_port = h->dst_port,
        .guest_port = h->src_port,
    };
    uint8_t raw[NE_VSOCK_HDR_SIZE];
    NEVsockHdr out = *h;
    struct iovec iov[2] = {
        { .iov_base = raw, .iov_len = sizeof(raw) },
        { .iov_base = (void *)data, .iov_len = len },
    };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
    ssize_t n;

    if (r->fd < 0) {
        if (h->op != VIRTIO_VSOCK_OP_RST) {
            ne_vsock_send_rst(s, &key);
        }
        return;
    }
    if (len > NE_VSOCK_RELAY_PAYLOAD_MAX) {
        qemu_log_mask(LOG_GUEST_ERROR, "ne-vsock: %u bytes in one packet "
                      "to CID %" PRIu64 ", at most %u relayed\n", len,
                      h->dst_cid, NE_VSOCK_RELAY_PAYLOAD_MAX);
        ne_vsock_send_rst(s, &key);
        ne_vsock_relay_send_peer_rst(r, &key);
        g_hash_table_remove(r->conns, &key);
        return;
    }

    out.len = len;
    ne_vsock_hdr_encode(raw, &out);
    ne_vsock_relay_track(r, &key, h->op);
    do {
        n = sendmsg(r->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        r->pending = g_byte_array_sized_new(sizeof(raw) + len);
        g_byte_array_append(r->pending, raw, sizeof(raw));
        g_byte_array_append(r->pending, data, len);
        s->tx_blocked = true;
        trace_ne_vsock_relay_blocked(r->cid, r->pending->len);
        ne_vsock_relay_update_fd(r);
        return;
    }
    ne_vsock_relay_kill(r, "send failed");
}

static const char *ne_vsock_relay_error_name(NEVsockRelayError err)
{
    static const char *const names[] = {
        [NE_VSOCK_RELAY_OK] = "ok",
        [NE_VSOCK_RELAY_SHORT] = "shorter than a header",
        [NE_VSOCK_RELAY_BIG] = "too big",
        [NE_VSOCK_RELAY_BAD_LEN] = "len is not the payload size",
        [NE_VSOCK_RELAY_DST] = "not for this guest",
        [NE_VSOCK_RELAY_SRC] = "from a CID the far side may not use",
    };

    return names[err];
}

/* A message from the far side: checked, then queued for the guest as is. */
static void ne_vsock_relay_to_guest(NEVsockRelay *r, size_t size)
{
    NEVsock *s = r->dev;
    NEVsockHdr h = { 0 };
    NEVsockRelayError err;
    NEVsockKey key;
    NEVsockPkt *p;

    err = ne_vsock_relay_check(r->rxbuf, size, s->guest_cid, r->cid,
                               r->any_cid, &h);
    if (err != NE_VSOCK_RELAY_OK) {
        trace_ne_vsock_relay_bad_msg(r->cid, ne_vsock_relay_error_name(err),
                                     size, h.src_cid, h.dst_cid);
        /* The far side is another guest: log, but not without end */
        if (r->bad_msgs < NE_VSOCK_RELAY_LOG_MAX) {
            qemu_log_mask(LOG_GUEST_ERROR, "ne-vsock: relay message of %zu "
                          "bytes from CID %" PRIu64 " to %" PRIu64
                          " dropped: %s%s\n", size, h.src_cid, h.dst_cid,
                          ne_vsock_relay_error_name(err),
                          r->bad_msgs + 1 == NE_VSOCK_RELAY_LOG_MAX ?
                          " (no more logged)" : "");
        }
        r->bad_msgs++;
        return;
    }

    trace_ne_vsock_relay_msg(h.src_cid, h.src_port, h.dst_cid, h.dst_port,
                             ne_vsock_op_name(h.op), h.len);
    key = (NEVsockKey) {
        .peer_cid = h.src_cid,
        .peer_port = h.src_port,
        .guest_port = h.dst_port,
    };
    ne_vsock_relay_track(r, &key, h.op);

    p = g_new0(NEVsockPkt, 1);
    memcpy(&p->hdr, r->rxbuf, sizeof(p->hdr));
    if (h.len) {
        p->data = g_memdup2(r->rxbuf + NE_VSOCK_HDR_SIZE, h.len);
        p->len = h.len;
    }
    QSIMPLEQ_INSERT_TAIL(&s->rxq, p, next);
    s->rxq_len++;
    qemu_bh_schedule(s->rx_bh);
}

/* Messages to read: take a batch, unless the guest is behind. */
static void ne_vsock_relay_readable(void *opaque)
{
    NEVsockRelay *r = opaque;
    struct iovec iov = {
        .iov_base = r->rxbuf,
        .iov_len = NE_VSOCK_HDR_SIZE + NE_VSOCK_RELAY_PAYLOAD_MAX,
    };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    for (int i = 0; i < NE_VSOCK_RELAY_RX_BATCH; i++) {
        if (r->dev->rxq_len >= NE_VSOCK_RELAY_RXQ_PAUSE) {
            trace_ne_vsock_relay_read_paused(r->cid, r->dev->rxq_len);
            r->read_paused = true;
            ne_vsock_relay_update_fd(r);
            return;
        }
        /* MSG_TRUNC: the size of the whole message, even past iov_len */
        n = recvmsg(r->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            /* A SOCK_SEQPACKET read of 0 is the hang-up */
            ne_vsock_relay_kill(r, n ? "recv failed" : "hang-up");
            return;
        }
        ne_vsock_relay_to_guest(r, n);
    }
}

/* rx buffers freed room: relays that paused read again. */
static void ne_vsock_relays_resume(NEVsock *s)
{
    NEVsockRelay *r;

    if (s->rxq_len >= NE_VSOCK_RELAY_RXQ_PAUSE) {
        return;
    }
    QLIST_FOREACH(r, &s->relays, next) {
        if (r->read_paused && r->fd >= 0) {
            trace_ne_vsock_relay_read_resumed(r->cid);
            r->read_paused = false;
            ne_vsock_relay_update_fd(r);
        }
    }
}

/*
 * The guest was reset: it forgot its connections, so a packet it sent
 * before is stale and the far sides hear RST for what it had open.
 */
static void ne_vsock_relays_reset(NEVsock *s)
{
    GHashTableIter iter;
    gpointer key;
    NEVsockRelay *r;

    s->tx_blocked = false;
    QLIST_FOREACH(r, &s->relays, next) {
        if (r->fd < 0) {
            continue;
        }
        if (r->pending) {
            g_byte_array_unref(r->pending);
            r->pending = NULL;
            ne_vsock_relay_update_fd(r);
        }
        g_hash_table_iter_init(&iter, r->conns);
        while (g_hash_table_iter_next(&iter, &key, NULL)) {
            ne_vsock_relay_send_peer_rst(r, key);
        }
        g_hash_table_remove_all(r->conns);
    }
    ne_vsock_relays_resume(s);
}

/* Can @fd relay for @cid (@any_cid: every CID) on @s? */
static bool ne_vsock_relay_check_new(NEVsock *s, uint64_t cid, bool any_cid,
                                     int fd, Error **errp)
{
    int type;
    socklen_t len = sizeof(type);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        error_setg_errno(errp, errno, "relay fd %d is not a socket", fd);
        return false;
    }
    if (type != SOCK_SEQPACKET) {
        error_setg(errp, "relay fd %d is not a SOCK_SEQPACKET socket", fd);
        return false;
    }
    if (any_cid) {
        return true;
    }
    if (cid <= 2 || cid >= UINT32_MAX) {
        error_setg(errp, "CID %" PRIu64 " is reserved", cid);
        return false;
    }
    if (cid == s->guest_cid) {
        error_setg(errp, "CID %" PRIu64 " is the guest's own", cid);
        return false;
    }
    if (s->relay_fd >= 0) {
        error_setg(errp, "the device relays every CID to relay-fd");
        return false;
    }
    if (ne_vsock_relay_find(s, cid)) {
        error_setg(errp, "CID %" PRIu64 " already has a relay", cid);
        return false;
    }
    if (s->conns) {
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, s->conns);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            if (((NEVsockConn *)value)->key.peer_cid == cid) {
                error_setg(errp, "CID %" PRIu64 " is an emulated peer's",
                           cid);
                return false;
            }
        }
    }
    return true;
}

/* After ne_vsock_relay_check_new(): the relay takes @fd. */
static NEVsockRelay *ne_vsock_relay_new(NEVsock *s, uint64_t cid,
                                        bool any_cid, int fd, bool owned)
{
    NEVsockRelay *r = g_new0(NEVsockRelay, 1);

    r->dev = s;
    r->cid = cid;
    r->any_cid = any_cid;
    r->owned = owned;
    r->fd = fd;
    r->conns = g_hash_table_new_full(ne_vsock_key_hash, ne_vsock_key_equal,
                                     g_free, NULL);
    r->rxbuf = g_malloc(NE_VSOCK_HDR_SIZE + NE_VSOCK_RELAY_PAYLOAD_MAX);
    QLIST_INSERT_HEAD(&s->relays, r, next);
    trace_ne_vsock_relay_attach(cid, fd, any_cid);
    ne_vsock_relay_update_fd(r);
    return r;
}

static void ne_vsock_relay_free(NEVsockRelay *r)
{
    g_hash_table_destroy(r->conns);
    g_free(r->rxbuf);
    g_free(r);
}

/* The device that relays and hosts emulated peers: not an enclave's. */
static NEVsock *ne_vsock_parent_device(void)
{
    NEVsock *s;

    QLIST_FOREACH(s, &ne_vsock_devices, next) {
        if (s->relay_fd < 0) {
            return s;
        }
    }
    return NULL;
}

NEVsockRelay *ne_vsock_relay_attach(uint64_t cid, int fd, Error **errp)
{
    NEVsock *s = ne_vsock_parent_device();

    if (!s) {
        error_setg(errp, "no %s device", TYPE_NE_VSOCK_PCI);
        close(fd);
        return NULL;
    }
    if (!ne_vsock_relay_check_new(s, cid, false, fd, errp)) {
        close(fd);
        return NULL;
    }
    return ne_vsock_relay_new(s, cid, false, fd, false);
}

void ne_vsock_relay_detach(NEVsockRelay *r)
{
    if (!r) {
        return;
    }
    trace_ne_vsock_relay_detach(r->cid);
    ne_vsock_relay_kill(r, "detached");
    if (r->dev) {
        QLIST_REMOVE(r, next);
    }
    ne_vsock_relay_free(r);
}

/* Unrealize: relays stop; the NE device's handles stay valid to detach. */
static void ne_vsock_relays_drop(NEVsock *s)
{
    NEVsockRelay *r;

    while ((r = QLIST_FIRST(&s->relays))) {
        QLIST_REMOVE(r, next);
        r->dev = NULL;
        ne_vsock_relay_kill(r, "device gone");
        if (r->owned) {
            ne_vsock_relay_free(r);
        }
    }
    s->tx_blocked = false;
}

/* A connection in the table, CONNECTING: the caller sends what follows. */
static NEVsockConn *ne_vsock_conn_new(NEVsock *s, const NEVsockKey *key,
                                      const NEVsockPeerOps *ops, void *opaque)
{
    NEVsockConn *c = g_new0(NEVsockConn, 1);

    c->dev = s;
    c->key = *key;
    c->ops = ops;
    c->opaque = opaque;
    c->sendbuf = g_byte_array_new();
    c->proto.state = NE_VSOCK_CONNECTING;
    g_hash_table_insert(s->conns, &c->key, c);
    c->in_table = true;
    return c;
}

static NEVsockConn *ne_vsock_do_connect(NEVsock *s, uint64_t src_cid,
                                        uint32_t src_port, uint32_t dst_port,
                                        const NEVsockPeerOps *ops,
                                        void *opaque, Error **errp)
{
    NEVsockKey key = {
        .peer_cid = src_cid,
        .peer_port = src_port,
        .guest_port = dst_port,
    };
    NEVsockConn *c;

    if (src_cid == s->guest_cid) {
        error_setg(errp, "CID %" PRIu64 " is the guest's own", src_cid);
        return NULL;
    }
    if (ne_vsock_relay_find(s, src_cid)) {
        error_setg(errp, "CID %" PRIu64 " is served by a relay", src_cid);
        return NULL;
    }
    if (g_hash_table_contains(s->conns, &key)) {
        error_setg(errp, "vsock %" PRIu64 ":%" PRIu32 " -> %" PRIu32
                   " is already connected", src_cid, src_port, dst_port);
        return NULL;
    }

    c = ne_vsock_conn_new(s, &key, ops, opaque);
    trace_ne_vsock_connect(src_cid, src_port, dst_port,
                           ne_vsock_driver_ok(s));

    if (!ne_vsock_driver_ok(s)) {
        /* No driver, no listener: refused, but not from inside this call */
        c->refuse_bh = qemu_bh_new_guarded(ne_vsock_conn_refuse_bh, c,
                                           &DEVICE(s)->mem_reentrancy_guard);
        qemu_bh_schedule(c->refuse_bh);
    } else {
        ne_vsock_queue_pkt(s, c, &c->key, VIRTIO_VSOCK_OP_REQUEST, 0,
                           NULL, 0);
    }
    return c;
}

NEVsockConn *ne_vsock_connect(uint64_t src_cid, uint32_t src_port,
                              uint32_t dst_port, const NEVsockPeerOps *ops,
                              void *opaque, Error **errp)
{
    NEVsock *s = ne_vsock_parent_device();

    if (!s) {
        error_setg(errp, "no %s device", TYPE_NE_VSOCK_PCI);
        return NULL;
    }
    return ne_vsock_do_connect(s, src_cid, src_port, dst_port, ops, opaque,
                               errp);
}

static NEVsockListener *ne_vsock_listener_find(uint64_t cid, uint32_t port)
{
    NEVsockListener *l;

    QLIST_FOREACH(l, &ne_vsock_listeners, next) {
        if (l->cid == cid && l->port == port) {
            return l;
        }
    }
    return NULL;
}

NEVsockListener *ne_vsock_listen(uint64_t cid, uint32_t port,
                                 NEVsockAcceptFn *accept,
                                 const NEVsockPeerOps *ops, void *opaque,
                                 Error **errp)
{
    NEVsockListener *l;

    if (ne_vsock_listener_find(cid, port)) {
        error_setg(errp, "vsock %" PRIu64 ":%" PRIu32 " has a listener",
                   cid, port);
        return NULL;
    }
    l = g_new0(NEVsockListener, 1);
    l->cid = cid;
    l->port = port;
    l->accept = accept;
    l->ops = ops;
    l->opaque = opaque;
    QLIST_INSERT_HEAD(&ne_vsock_listeners, l, next);
    trace_ne_vsock_listen(cid, port, true);
    return l;
}

void ne_vsock_unlisten(NEVsockListener *l)
{
    if (!l) {
        return;
    }
    trace_ne_vsock_listen(l->cid, l->port, false);
    QLIST_REMOVE(l, next);
    g_free(l);
}

/*
 * A guest packet to @key, which has no connection: a REQUEST to a
 * listener is its owner's to accept. False if nobody listens there or
 * the packet asks for no connection.
 */
static bool ne_vsock_accept(NEVsock *s, const NEVsockKey *key,
                            const NEVsockHdr *h)
{
    NEVsockListener *l;
    NEVsockProto proto;
    NEVsockConn *c;
    void *opaque;

    l = ne_vsock_listener_find(key->peer_cid, key->peer_port);
    if (!l || !ne_vsock_proto_accept(&proto, h)) {
        return false;
    }
    c = ne_vsock_conn_new(s, key, l->ops, NULL);
    c->proto = proto;
    opaque = l->accept(l->opaque, c);
    trace_ne_vsock_accept(key->peer_cid, key->peer_port, key->guest_port,
                          opaque != NULL);
    if (!opaque) {
        ne_vsock_conn_free(c);
        ne_vsock_send_rst(s, key);
        return true;
    }
    c->opaque = opaque;
    ne_vsock_queue_pkt(s, c, key, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
    ne_vsock_conn_set_state(c, NE_VSOCK_CONNECTED);
    ne_vsock_conn_flush(c);
    if (c->ops->connected) {
        c->ops->connected(opaque);
    }
    return true;
}

int ne_vsock_send(NEVsockConn *c, const void *buf, size_t len)
{
    if (!c->dev || c->orphan ||
        (c->proto.state != NE_VSOCK_CONNECTING &&
         c->proto.state != NE_VSOCK_CONNECTED)) {
        return -ENOTCONN;
    }
    if (c->sendbuf->len + len > NE_VSOCK_SENDBUF_MAX) {
        return -ENOBUFS;
    }
    trace_ne_vsock_send(c->key.peer_cid, c->key.peer_port, c->key.guest_port,
                        len);
    g_byte_array_append(c->sendbuf, buf, len);
    ne_vsock_conn_flush(c);
    return 0;
}

void ne_vsock_close(NEVsockConn *c)
{
    if (!c) {
        return;
    }
    trace_ne_vsock_close(c->key.peer_cid, c->key.peer_port,
                         c->key.guest_port, c->proto.state);

    if (!c->dev || c->proto.state == NE_VSOCK_DEAD) {
        ne_vsock_conn_free(c);
        return;
    }
    if (c->proto.state == NE_VSOCK_CONNECTING) {
        /* A RESPONSE may be on its way: the RST after our REQUEST undoes it */
        if (!c->refuse_bh) {
            ne_vsock_send_rst(c->dev, &c->key);
        }
        ne_vsock_conn_free(c);
        return;
    }

    /*
     * Connected: what was accepted by ne_vsock_send still goes out, then
     * SHUTDOWN; the connection stays in the table until the guest's RST.
     */
    c->orphan = true;
    c->ops = NULL;
    c->opaque = NULL;
    ne_vsock_conn_flush(c);
}

/*
 * Drop every connection (device reset or unrealize). Owners hear refused
 * or closed; with @detach they can only free their handle afterwards.
 */
static void ne_vsock_drop_all(NEVsock *s, bool detach)
{
    GHashTableIter iter;
    gpointer value;
    NEVsockConn *c;

    trace_ne_vsock_drop_all(g_hash_table_size(s->conns), detach);
    ne_vsock_drop_rxq(s);

    /* First all are dead, so that callbacks see a consistent picture. */
    g_hash_table_iter_init(&iter, s->conns);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        c = value;
        g_hash_table_iter_remove(&iter);
        c->in_table = false;
        if (c->refuse_bh) {
            qemu_bh_delete(c->refuse_bh);
            c->refuse_bh = NULL;
        }
        c->end_refused = c->proto.state == NE_VSOCK_CONNECTING;
        g_byte_array_set_size(c->sendbuf, 0);
        ne_vsock_conn_set_state(c, NE_VSOCK_DEAD);
        if (detach) {
            c->dev = NULL;
        }
        if (c->orphan) {
            ne_vsock_conn_free(c);
            continue;
        }
        QTAILQ_INSERT_TAIL(&ne_vsock_dying, c, dying_next);
        c->dying = true;
    }

    /* Owners may close other dying connections from their callbacks. */
    while ((c = QTAILQ_FIRST(&ne_vsock_dying))) {
        QTAILQ_REMOVE(&ne_vsock_dying, c, dying_next);
        c->dying = false;
        ne_vsock_conn_notify_end(c, c->end_refused);
    }
}

/* Guest -> device */

static void ne_vsock_log_guest_error(NEVsockProtoError err,
                                     const NEVsockHdr *h, uint32_t len)
{
    switch (err) {
    case NE_VSOCK_ERR_NONE:
        break;
    case NE_VSOCK_ERR_TYPE:
        qemu_log_mask(LOG_GUEST_ERROR, "ne-vsock: packet type %u on a "
                      "stream connection\n", h->type);
        break;
    case NE_VSOCK_ERR_OP_CONNECTING:
        qemu_log_mask(LOG_GUEST_ERROR, "ne-vsock: %s while connecting\n",
                      ne_vsock_op_name(h->op));
        break;
    case NE_VSOCK_ERR_OP:
        qemu_log_mask(LOG_GUEST_ERROR, "ne-vsock: %s on a connection\n",
                      ne_vsock_op_name(h->op));
        break;
    case NE_VSOCK_ERR_CREDIT:
        qemu_log_mask(LOG_GUEST_ERROR, "ne-vsock: guest sent %u bytes "
                      "beyond its credit\n", len);
        break;
    }
}

/*
 * A packet from the guest: ne-vsock-proto.c decides, we act in the order
 * of the NE_VSOCK_ACT_* bits. Owners' callbacks come last.
 */
static void ne_vsock_handle_guest_pkt(NEVsock *s, const NEVsockHdr *h,
                                      const uint8_t *data, uint32_t len)
{
    NEVsockKey key = {
        .peer_cid = h->dst_cid,
        .peer_port = h->dst_port,
        .guest_port = h->src_port,
    };
    NEVsockProtoError err;
    NEVsockRelay *r;
    NEVsockConn *c;
    unsigned act;

    trace_ne_vsock_tx_pkt(h->src_cid, key.guest_port, key.peer_cid,
                          key.peer_port, ne_vsock_op_name(h->op), len,
                          h->buf_alloc, h->fwd_cnt);

    if (h->src_cid != s->guest_cid) {
        qemu_log_mask(LOG_GUEST_ERROR, "ne-vsock: packet from CID %" PRIu64
                      ", the guest is %" PRIu64 "\n", h->src_cid,
                      s->guest_cid);
        return;
    }

    r = ne_vsock_relay_find(s, h->dst_cid);
    if (r) {
        ne_vsock_relay_from_guest(s, r, h, data, len);
        return;
    }

    c = g_hash_table_lookup(s->conns, &key);
    if (!c) {
        if (ne_vsock_accept(s, &key, h)) {
            return;
        }
        if (ne_vsock_proto_no_conn(h) & NE_VSOCK_ACT_RST) {
            trace_ne_vsock_no_conn(key.peer_cid, key.peer_port,
                                   key.guest_port, ne_vsock_op_name(h->op));
            ne_vsock_send_rst(s, &key);
        }
        return;
    }

    act = ne_vsock_proto_guest_pkt(&c->proto, h, len, &err);
    ne_vsock_log_guest_error(err, h, len);
    if (act & NE_VSOCK_ACT_RST) {
        ne_vsock_send_rst(s, &key);
    }
    if (act & NE_VSOCK_ACT_END) {
        ne_vsock_conn_end(c);
        return;
    }
    if (act & NE_VSOCK_ACT_CONNECTED) {
        ne_vsock_conn_set_state(c, NE_VSOCK_CONNECTED);
    }
    if (act & NE_VSOCK_ACT_CREDIT) {
        ne_vsock_conn_credit_update(c);
    }
    if (act & NE_VSOCK_ACT_FLUSH) {
        ne_vsock_conn_flush(c);
    }
    if ((act & NE_VSOCK_ACT_CONNECTED) && c->ops->connected) {
        c->ops->connected(c->opaque);
    }
    if ((act & NE_VSOCK_ACT_RECV) && !c->orphan && c->ops->recv) {
        c->ops->recv(c->opaque, data, len);
    }
}

static void ne_vsock_tx_process(NEVsock *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    bool pushed = false;

    if (!ne_vsock_queues_usable(s, s->tx_vq)) {
        return;
    }

    for (;;) {
        uint8_t raw[NE_VSOCK_HDR_SIZE];
        NEVsockHdr hdr = { 0 };
        NEVsockTxError bad;
        VirtQueueElement *elem;
        uint8_t *data = NULL;
        size_t size;
        uint32_t len = 0;

        if (s->tx_blocked) {
            /* A relay's socket is full; it schedules us when it drains */
            break;
        }
        if (s->rxq_len >= NE_VSOCK_RXQ_MAX) {
            /* Replies pile up: wait for the guest to take them. */
            s->tx_throttled = true;
            trace_ne_vsock_tx_throttled(s->rxq_len);
            break;
        }
        elem = virtqueue_pop(s->tx_vq, sizeof(VirtQueueElement));
        if (!elem) {
            break;
        }

        size = iov_size(elem->out_sg, elem->out_num);
        if (size >= sizeof(raw)) {
            iov_to_buf(elem->out_sg, elem->out_num, 0, raw, sizeof(raw));
            ne_vsock_hdr_decode(&hdr, raw);
        }
        bad = ne_vsock_tx_check(size, &hdr);
        if (bad == NE_VSOCK_TX_SHORT) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "ne-vsock: tx packet of %zu bytes\n", size);
        } else if (bad == NE_VSOCK_TX_BAD_LEN) {
            qemu_log_mask(LOG_GUEST_ERROR, "ne-vsock: tx packet says %u "
                          "bytes, carries %zu\n", hdr.len,
                          size - sizeof(raw));
        } else if (hdr.len) {
            len = hdr.len;
            data = g_malloc(len);
            iov_to_buf(elem->out_sg, elem->out_num, sizeof(raw), data, len);
        }
        virtqueue_push(s->tx_vq, elem, 0);
        g_free(elem);
        pushed = true;
        if (bad == NE_VSOCK_TX_OK) {
            /* May run owners' callbacks; they cannot unrealize us. */
            ne_vsock_handle_guest_pkt(s, &hdr, data, len);
        }
        g_free(data);
    }

    if (pushed) {
        virtio_notify(vdev, s->tx_vq);
    }
}

static void ne_vsock_tx_bh(void *opaque)
{
    ne_vsock_tx_process(opaque);
}

static void ne_vsock_handle_rx(VirtIODevice *vdev, VirtQueue *vq)
{
    /* New rx buffers: deliver what waits for them. */
    ne_vsock_rx_flush(NE_VSOCK(vdev));
}

static void ne_vsock_handle_tx(VirtIODevice *vdev, VirtQueue *vq)
{
    ne_vsock_tx_process(NE_VSOCK(vdev));
}

static void ne_vsock_handle_event(VirtIODevice *vdev, VirtQueue *vq)
{
    /* Event buffers stay with us until an event needs one. */
}

/* Test peer */

static void ne_vsock_test_connected(void *opaque)
{
    NEVsock *s = opaque;

    s->test_state = "connected";
    if (s->test_payload->len) {
        ne_vsock_send(s->test_conn, s->test_payload->data,
                      s->test_payload->len);
    }
}

static void ne_vsock_test_refused(void *opaque)
{
    NEVsock *s = opaque;

    s->test_state = "refused";
    ne_vsock_close(s->test_conn);
    s->test_conn = NULL;
}

static void ne_vsock_test_recv(void *opaque, const uint8_t *buf, size_t len)
{
    NEVsock *s = opaque;

    s->test_received_len += len;
    if (s->test_received->len < s->test_payload->len) {
        g_byte_array_append(s->test_received, buf,
                            MIN(len, s->test_payload->len -
                                     s->test_received->len));
    }
    if (s->test_received_len >= s->test_payload->len) {
        /* Everything came back: close, like an enclave after its echo */
        s->test_state = "done";
        ne_vsock_close(s->test_conn);
        s->test_conn = NULL;
    }
}

static void ne_vsock_test_closed(void *opaque)
{
    NEVsock *s = opaque;

    s->test_state = "closed";
    ne_vsock_close(s->test_conn);
    s->test_conn = NULL;
}

static const NEVsockPeerOps ne_vsock_test_ops = {
    .connected = ne_vsock_test_connected,
    .refused = ne_vsock_test_refused,
    .recv = ne_vsock_test_recv,
    .closed = ne_vsock_test_closed,
};

static void ne_vsock_test_stop(NEVsock *s, const char *state)
{
    ne_vsock_close(s->test_conn);
    s->test_conn = NULL;
    s->test_state = state;
}

static char *ne_vsock_get_test_connect(Object *obj, Error **errp)
{
    NEVsock *s = NE_VSOCK(obj);

    return g_strdup(s->test_target ? s->test_target : "");
}

/* "<cid>:<port>": connect from <cid> to the guest's <port>. */
static void ne_vsock_set_test_connect(Object *obj, const char *value,
                                      Error **errp)
{
    NEVsock *s = NE_VSOCK(obj);
    const char *end;
    uint64_t cid, port;
    NEVsockConn *c;

    if (qemu_strtou64(value, &end, 0, &cid) < 0 || *end != ':' ||
        qemu_strtou64(end + 1, NULL, 0, &port) < 0 || port > UINT32_MAX) {
        error_setg(errp, "test-connect wants <cid>:<port>, not '%s'", value);
        return;
    }
    if (!DEVICE(s)->realized) {
        error_setg(errp, "the device is not realized");
        return;
    }

    ne_vsock_test_stop(s, "idle");
    g_byte_array_set_size(s->test_received, 0);
    s->test_received_len = 0;
    g_free(s->test_target);
    s->test_target = g_strdup(value);

    c = ne_vsock_do_connect(s, cid, NE_VSOCK_TEST_PORT_BASE + s->test_port++,
                         port, &ne_vsock_test_ops, s, errp);
    if (!c) {
        s->test_state = "error";
        return;
    }
    s->test_conn = c;
    s->test_state = "connecting";
}

static char *ne_vsock_get_test_payload(Object *obj, Error **errp)
{
    return g_strdup(NE_VSOCK(obj)->test_payload_str);
}

/*
 * The bytes the test peer sends once connected: hex ("b7", "0102ff") or
 * "pattern:<n>", n bytes of (i * 7 + 1) mod 251.
 */
static void ne_vsock_set_test_payload(Object *obj, const char *value,
                                      Error **errp)
{
    NEVsock *s = NE_VSOCK(obj);
    GByteArray *b = g_byte_array_new();
    uint64_t n;

    if (strstart(value, "pattern:", NULL)) {
        if (qemu_strtou64(value + 8, NULL, 0, &n) < 0 ||
            n > NE_VSOCK_SENDBUF_MAX) {
            error_setg(errp, "pattern length must be at most %" PRId64,
                       (int64_t)NE_VSOCK_SENDBUF_MAX);
            g_byte_array_unref(b);
            return;
        }
        g_byte_array_set_size(b, n);
        for (uint64_t i = 0; i < n; i++) {
            b->data[i] = (i * 7 + 1) % 251;
        }
    } else {
        size_t len = strlen(value);

        for (size_t i = 0; i < len; i += 2) {
            if (i + 1 == len || !g_ascii_isxdigit(value[i]) ||
                !g_ascii_isxdigit(value[i + 1])) {
                error_setg(errp, "test-payload wants hex bytes or "
                           "pattern:<n>, not '%s'", value);
                g_byte_array_unref(b);
                return;
            }
            g_byte_array_append(b, (uint8_t[]){
                g_ascii_xdigit_value(value[i]) << 4 |
                g_ascii_xdigit_value(value[i + 1]) }, 1);
        }
    }
    g_byte_array_unref(s->test_payload);
    s->test_payload = b;
    g_free(s->test_payload_str);
    s->test_payload_str = g_strdup(value);
}

static char *ne_vsock_get_test_state(Object *obj, Error **errp)
{
    return g_strdup(NE_VSOCK(obj)->test_state);
}

/* What came back, in hex (the first 64 bytes). */
static char *ne_vsock_get_test_received(Object *obj, Error **errp)
{
    NEVsock *s = NE_VSOCK(obj);
    GString *str = g_string_new(NULL);

    for (guint i = 0; i < s->test_received->len && i < 64; i++) {
        g_string_append_printf(str, "%02x", s->test_received->data[i]);
    }
    return g_string_free(str, false);
}

static bool ne_vsock_get_test_echo_ok(Object *obj, Error **errp)
{
    NEVsock *s = NE_VSOCK(obj);

    return s->test_received_len == s->test_payload->len &&
           !memcmp(s->test_received->data, s->test_payload->data,
                   s->test_payload->len);
}

static bool ne_vsock_get_test_close(Object *obj, Error **errp)
{
    return false;
}

static void ne_vsock_set_test_close(Object *obj, bool value, Error **errp)
{
    NEVsock *s = NE_VSOCK(obj);

    if (value && s->test_conn) {
        ne_vsock_test_stop(s, "idle");
    }
}

/* Device plumbing */

static uint64_t ne_vsock_get_features(VirtIODevice *vdev, uint64_t features,
                                      Error **errp)
{
    /* Stream sockets only: no VIRTIO_VSOCK_F_SEQPACKET. */
    return features;
}

static void ne_vsock_get_config(VirtIODevice *vdev, uint8_t *config)
{
    NEVsock *s = NE_VSOCK(vdev);
    struct virtio_vsock_config cfg = {};

    stq_le_p(&cfg.guest_cid, s->guest_cid);
    memcpy(config, &cfg, sizeof(cfg));
}

static void ne_vsock_set_status(VirtIODevice *vdev, uint8_t status)
{
    NEVsock *s = NE_VSOCK(vdev);

    trace_ne_vsock_set_status(status);
    if (status & VIRTIO_CONFIG_S_DRIVER_OK) {
        /* vdev->status is updated after this returns: work from BHs */
        qemu_bh_schedule(s->rx_bh);
        qemu_bh_schedule(s->tx_bh);
    }
}

static void ne_vsock_reset(VirtIODevice *vdev)
{
    NEVsock *s = NE_VSOCK(vdev);

    trace_ne_vsock_reset();
    s->tx_throttled = false;
    ne_vsock_drop_all(s, false);
    ne_vsock_relays_reset(s);
}

static void ne_vsock_vm_state_change(void *opaque, bool running,
                                     RunState state)
{
    NEVsock *s = opaque;

    if (running) {
        qemu_bh_schedule(s->rx_bh);
        qemu_bh_schedule(s->tx_bh);
    }
}

static void ne_vsock_device_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    NEVsock *s = NE_VSOCK(dev);
    NEVsock *other;

    if (s->guest_cid <= 2 || s->guest_cid >= UINT32_MAX) {
        error_setg(errp, "guest-cid %" PRIu64 " is reserved", s->guest_cid);
        return;
    }
    QLIST_FOREACH(other, &ne_vsock_devices, next) {
        if (other->guest_cid == s->guest_cid) {
            error_setg(errp, "guest-cid %" PRIu64 " is already in use",
                       s->guest_cid);
            return;
        }
    }
    if (s->relay_fd >= 0 && s->test_relay_fd >= 0) {
        error_setg(errp, "relay-fd relays every CID: no test-relay-fd");
        return;
    }
    if (s->relay_fd >= 0 &&
        !ne_vsock_relay_check_new(s, 0, true, s->relay_fd, errp)) {
        return;
    }
    if (s->test_relay_fd >= 0 &&
        !ne_vsock_relay_check_new(s, s->test_relay_cid, false,
                                  s->test_relay_fd, errp)) {
        return;
    }

    virtio_init(vdev, VIRTIO_ID_VSOCK, sizeof(struct virtio_vsock_config));
    s->rx_vq = virtio_add_queue(vdev, NE_VSOCK_QUEUE_SIZE, ne_vsock_handle_rx);
    s->tx_vq = virtio_add_queue(vdev, NE_VSOCK_QUEUE_SIZE, ne_vsock_handle_tx);
    s->event_vq = virtio_add_queue(vdev, NE_VSOCK_QUEUE_SIZE,
                                   ne_vsock_handle_event);

    s->rx_bh = qemu_bh_new_guarded(ne_vsock_rx_bh, s,
                                   &DEVICE(s)->mem_reentrancy_guard);
    s->tx_bh = qemu_bh_new_guarded(ne_vsock_tx_bh, s,
                                   &DEVICE(s)->mem_reentrancy_guard);
    s->vmstate = qemu_add_vm_change_state_handler(ne_vsock_vm_state_change,
                                                  s);
    s->conns = g_hash_table_new(ne_vsock_key_hash, ne_vsock_key_equal);
    QSIMPLEQ_INIT(&s->rxq);
    QLIST_INSERT_HEAD(&ne_vsock_devices, s, next);

    /* The relay takes the fd: it is closed when the device goes */
    if (s->relay_fd >= 0) {
        ne_vsock_relay_new(s, 0, true, s->relay_fd, true);
    } else if (s->test_relay_fd >= 0) {
        ne_vsock_relay_new(s, s->test_relay_cid, false, s->test_relay_fd,
                           true);
    }
}

static void ne_vsock_device_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    NEVsock *s = NE_VSOCK(dev);

    /* Gone for new connections first, then for the existing ones. */
    QLIST_REMOVE(s, next);
    ne_vsock_test_stop(s, "idle");
    ne_vsock_relays_drop(s);
    ne_vsock_drop_all(s, true);
    g_hash_table_destroy(s->conns);

    qemu_del_vm_change_state_handler(s->vmstate);
    qemu_bh_delete(s->tx_bh);
    qemu_bh_delete(s->rx_bh);
    virtio_delete_queue(s->event_vq);
    virtio_delete_queue(s->tx_vq);
    virtio_delete_queue(s->rx_vq);
    virtio_cleanup(vdev);
}

static void ne_vsock_instance_init(Object *obj)
{
    NEVsock *s = NE_VSOCK(obj);

    s->test_payload_str = g_strdup("b7");
    s->test_payload = g_byte_array_new();
    g_byte_array_append(s->test_payload, (uint8_t[]){ 0xb7 }, 1);
    s->test_received = g_byte_array_new();
    s->test_state = "idle";
    object_property_add_uint64_ptr(obj, "test-received-len",
                                   &s->test_received_len, OBJ_PROP_FLAG_READ);
}

static void ne_vsock_instance_finalize(Object *obj)
{
    NEVsock *s = NE_VSOCK(obj);

    g_free(s->test_target);
    g_free(s->test_payload_str);
    g_byte_array_unref(s->test_payload);
    g_byte_array_unref(s->test_received);
}

static const VMStateDescription vmstate_ne_vsock = {
    .name = "ne-vsock",
    /* Connections live in QEMU and in the emulated peers: not migrated */
    .unmigratable = 1,
};

static Property ne_vsock_properties[] = {
    DEFINE_PROP_UINT64("guest-cid", NEVsock, guest_cid,
                       NE_VSOCK_DEFAULT_GUEST_CID),
    DEFINE_PROP_INT32("relay-fd", NEVsock, relay_fd, -1),
    DEFINE_PROP_UINT64("test-relay-cid", NEVsock, test_relay_cid, 0),
    DEFINE_PROP_INT32("test-relay-fd", NEVsock, test_relay_fd, -1),
    DEFINE_PROP_END_OF_LIST(),
};

static void ne_vsock_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    device_class_set_props(dc, ne_vsock_properties);
    dc->vmsd = &vmstate_ne_vsock;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    vdc->realize = ne_vsock_device_realize;
    vdc->unrealize = ne_vsock_device_unrealize;
    vdc->get_features = ne_vsock_get_features;
    vdc->get_config = ne_vsock_get_config;
    vdc->set_status = ne_vsock_set_status;
    vdc->reset = ne_vsock_reset;

    object_class_property_add_str(klass, "test-connect",
                                  ne_vsock_get_test_connect,
                                  ne_vsock_set_test_connect);
    object_class_property_set_description(klass, "test-connect",
        "<cid>:<port>: an emulated peer connects to the guest's port, "
        "sends test-payload and records what comes back");
    object_class_property_add_str(klass, "test-payload",
                                  ne_vsock_get_test_payload,
                                  ne_vsock_set_test_payload);
    object_class_property_add_str(klass, "test-state",
                                  ne_vsock_get_test_state, NULL);
    object_class_property_add_str(klass, "test-received",
                                  ne_vsock_get_test_received, NULL);
    object_class_property_add_bool(klass, "test-echo-ok",
                                   ne_vsock_get_test_echo_ok, NULL);
    object_class_property_add_bool(klass, "test-close",
                                   ne_vsock_get_test_close,
                                   ne_vsock_set_test_close);
}

static const TypeInfo ne_vsock_info = {
    .name = TYPE_NE_VSOCK,
    .parent = TYPE_VIRTIO_DEVICE,
    .instance_size = sizeof(NEVsock),
    .instance_init = ne_vsock_instance_init,
    .instance_finalize = ne_vsock_instance_finalize,
    .class_init = ne_vsock_class_init,
};

/* ne-vsock-pci: the device behind a virtio-pci proxy (modern only) */

#define TYPE_NE_VSOCK_PCI_BASE "ne-vsock-pci-base"
OBJECT_DECLARE_SIMPLE_TYPE(NEVsockPCI, NE_VSOCK_PCI_BASE)

struct NEVsockPCI {
    VirtIOPCIProxy parent_obj;
    NEVsock vdev;
};

static Property ne_vsock_pci_properties[] = {
    DEFINE_PROP_UINT32("vectors", VirtIOPCIProxy, nvectors, 3),
    DEFINE_PROP_END_OF_LIST(),
};

static void ne_vsock_pci_realize(VirtIOPCIProxy *vpci_dev, Error **errp)
{
    NEVsockPCI *dev = NE_VSOCK_PCI_BASE(vpci_dev);

    virtio_pci_force_virtio_1(vpci_dev);
    qdev_realize(DEVICE(&dev->vdev), BUS(&vpci_dev->bus), errp);
}

static void ne_vsock_pci_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioPCIClass *k = VIRTIO_PCI_CLASS(klass);
    PCIDeviceClass *pcidev_k = PCI_DEVICE_CLASS(klass);

    k->realize = ne_vsock_pci_realize;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    device_class_set_props(dc, ne_vsock_pci_properties);
    pcidev_k->vendor_id = PCI_VENDOR_ID_REDHAT_QUMRANET;
    pcidev_k->device_id = PCI_DEVICE_ID_VIRTIO_VSOCK;
    pcidev_k->revision = 0x00;
    pcidev_k->class_id = PCI_CLASS_COMMUNICATION_OTHER;
}

static void ne_vsock_pci_instance_init(Object *obj)
{
    NEVsockPCI *dev = NE_VSOCK_PCI_BASE(obj);
    static const char *const test_props[] = {
        "test-connect", "test-payload", "test-state", "test-received",
        "test-received-len", "test-echo-ok", "test-close",
    };

    virtio_instance_init_common(obj, &dev->vdev, sizeof(dev->vdev),
                                TYPE_NE_VSOCK);
    /* qdev properties are aliased already; the test controls too */
    for (size_t i = 0; i < ARRAY_SIZE(test_props); i++) {
        object_property_add_alias(obj, test_props[i], OBJECT(&dev->vdev),
                                  test_props[i]);
    }
}

static const VirtioPCIDeviceTypeInfo ne_vsock_pci_info = {
    .base_name = TYPE_NE_VSOCK_PCI_BASE,
    .generic_name = TYPE_NE_VSOCK_PCI,
    .instance_size = sizeof(NEVsockPCI),
    .instance_init = ne_vsock_pci_instance_init,
    .class_init = ne_vsock_pci_class_init,
};

static void ne_vsock_register_types(void)
{
    type_register_static(&ne_vsock_info);
    virtio_pci_types_register(&ne_vsock_pci_info);
}

type_init(ne_vsock_register_types)
