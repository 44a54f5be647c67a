/*
 * ne-vsock: what the guest's packets do, without QEMU
 *
 * The part of ne-vsock.c that reads guest-written bytes and decides what
 * follows: the packet header, the length checks of tx packets and rx
 * buffers, the checks of a relay's messages (written by another guest),
 * and the stream state machine with its credit accounting. It
 * uses no QEMU types, so that tools/testing/fuzz/ne_vsock builds it
 * outside QEMU (with a stand-in qemu/osdep.h) and feeds it arbitrary
 * packets. ne-vsock.c does the I/O: virtqueues, the connection table,
 * queueing packets and calling the owners.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_NE_VSOCK_PROTO_H
#define HW_VIRTIO_NE_VSOCK_PROTO_H

/* struct virtio_vsock_hdr on the wire: 44 bytes, little-endian */
#define NE_VSOCK_HDR_SIZE       44

/* Our receive window: what the guest may send before we say we consumed. */
#define NE_VSOCK_BUF_ALLOC      (256 * 1024)

/* Values of the virtio-vsock specification */
#define NE_VSOCK_TYPE_STREAM    1
#define NE_VSOCK_OP_INVALID         0
#define NE_VSOCK_OP_REQUEST         1
#define NE_VSOCK_OP_RESPONSE        2
#define NE_VSOCK_OP_RST             3
#define NE_VSOCK_OP_SHUTDOWN        4
#define NE_VSOCK_OP_RW              5
#define NE_VSOCK_OP_CREDIT_UPDATE   6
#define NE_VSOCK_OP_CREDIT_REQUEST  7

typedef struct NEVsockHdr {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
} NEVsockHdr;

typedef enum NEVsockState {
    NE_VSOCK_CONNECTING,        /* REQUEST sent, no answer yet */
    NE_VSOCK_CONNECTED,
    NE_VSOCK_DEAD,              /* refused, closed, or its device is gone */
} NEVsockState;

/* Stream state and credit of one connection */
typedef struct NEVsockProto {
    NEVsockState state;
    /* peer -> guest */
    uint32_t tx_cnt;            /* bytes sent to the guest */
    uint32_t peer_buf_alloc;    /* the guest's window ... */
    uint32_t peer_fwd_cnt;      /* ... and what it has consumed */
    bool credit_requested;
    /* guest -> peer */
    uint32_t fwd_cnt;           /* bytes received and consumed */
    uint32_t last_fwd_cnt;      /* fwd_cnt last told to the guest */
} NEVsockProto;

/* Why a tx packet is dropped */
typedef enum NEVsockTxError {
    NE_VSOCK_TX_OK,
    NE_VSOCK_TX_SHORT,          /* smaller than the header */
    NE_VSOCK_TX_BAD_LEN,        /* hdr.len past the packet or our window */
} NEVsockTxError;

/* What a guest packet makes the device do, in this order */
enum {
    NE_VSOCK_ACT_RST = 1 << 0,          /* queue RST for the tuple */
    NE_VSOCK_ACT_END = 1 << 1,          /* end it: refused or closed */
    NE_VSOCK_ACT_CONNECTED = 1 << 2,    /* state CONNECTED, owner told last */
    NE_VSOCK_ACT_CREDIT = 1 << 3,       /* queue CREDIT_UPDATE */
    NE_VSOCK_ACT_FLUSH = 1 << 4,        /* send what the credit allows */
    NE_VSOCK_ACT_RECV = 1 << 5,         /* hand the payload to the owner */
};

/* Guest mistakes that ne_vsock_proto_guest_pkt() reports */
typedef enum NEVsockProtoError {
    NE_VSOCK_ERR_NONE,
    NE_VSOCK_ERR_TYPE,          /* not a stream packet */
    NE_VSOCK_ERR_OP_CONNECTING, /* neither RESPONSE nor RST while connecting */
    NE_VSOCK_ERR_OP,            /* unknown op on a connection */
    NE_VSOCK_ERR_CREDIT,        /* data beyond the window we gave */
} NEVsockProtoError;

/* Decode the 44 header bytes at @buf. */
void ne_vsock_hdr_decode(NEVsockHdr *h, const uint8_t *buf);

/* Encode @h into the 44 header bytes at @buf. */
void ne_vsock_hdr_encode(uint8_t *buf, const NEVsockHdr *h);

/*
 * Relays: raw packets between two ne-vsock devices over a SOCK_SEQPACKET
 * socket, one packet per message (the header, then hdr.len bytes).
 */
#define NE_VSOCK_RELAY_PAYLOAD_MAX  (64 * 1024)

/* Why a message from a relay is dropped */
typedef enum NEVsockRelayError {
    NE_VSOCK_RELAY_OK,
    NE_VSOCK_RELAY_SHORT,       /* smaller than the header */
    NE_VSOCK_RELAY_BIG,         /* payload over NE_VSOCK_RELAY_PAYLOAD_MAX */
    NE_VSOCK_RELAY_BAD_LEN,     /* hdr.len is not the payload's size */
    NE_VSOCK_RELAY_DST,         /* not for our guest */
    NE_VSOCK_RELAY_SRC,         /* from a CID the far side may not use */
} NEVsockRelayError;

/*
 * A message of @size bytes at @msg from the relay whose far side has
 * @peer_cid (any CID but @guest_cid if @any_peer), for the guest at
 * @guest_cid. *@h is decoded unless NE_VSOCK_RELAY_SHORT or _BIG is
 * returned; with NE_VSOCK_RELAY_OK its payload is the rest of the message.
 */
NEVsockRelayError ne_vsock_relay_check(const uint8_t *msg, size_t size,
                                       uint64_t guest_cid, uint64_t peer_cid,
                                       bool any_peer, NEVsockHdr *h);

/*
 * A tx packet of @size bytes (header included) whose header is @h: its
 * payload is h->len bytes right after the header, unless an error is
 * returned (h is not looked at for NE_VSOCK_TX_SHORT).
 */
NEVsockTxError ne_vsock_tx_check(size_t size, const NEVsockHdr *h);

/*
 * An rx buffer of @room bytes for a packet with @left payload bytes still
 * to deliver: false if the buffer cannot hold a header and a byte, else
 * true with *@n the payload bytes that go into it.
 */
bool ne_vsock_rx_fit(size_t room, size_t left, size_t *n);

/* Actions for a guest packet to a tuple without a connection. */
unsigned ne_vsock_proto_no_conn(const NEVsockHdr *h);

/*
 * A guest packet @h to a tuple without a connection where an emulated
 * service listens: true if it asks for a stream connection, and then @p
 * starts as its state (CONNECTING until the caller answers, with the
 * guest's window); false leaves @p alone, ne_vsock_proto_no_conn() says
 * what to do.
 */
bool ne_vsock_proto_accept(NEVsockProto *p, const NEVsockHdr *h);

/*
 * A guest packet @h with @len payload bytes for the connection @p (which
 * is CONNECTING or CONNECTED). Updates @p and returns the NE_VSOCK_ACT_*
 * bits the caller carries out; *@err says which guest mistake to log.
 * ACT_END leaves p->state for the caller to read (CONNECTING: refused).
 */
unsigned ne_vsock_proto_guest_pkt(NEVsockProto *p, const NEVsockHdr *h,
                                  uint32_t len, NEVsockProtoError *err);

/*
 * How many of @pending bytes go to the guest in the next RW packet, at
 * most @max: the caller sends exactly that many (tx_cnt counts them). 0
 * when the guest's window is full; then *@ask is true the first time, and
 * the caller sends CREDIT_REQUEST.
 */
size_t ne_vsock_proto_take_credit(NEVsockProto *p, size_t pending,
                                  size_t max, bool *ask);

/* A header to the guest carries fwd_cnt: it is now what the guest knows. */
uint32_t ne_vsock_proto_credit_sent(NEVsockProto *p);

#endif
