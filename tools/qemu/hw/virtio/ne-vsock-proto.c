/*
 * ne-vsock: what the guest's packets do, without QEMU
 *
 * See ne-vsock-proto.h. Everything here works on values the guest wrote:
 * lengths are checked before they are used, counters wrap as the
 * virtio-vsock specification says (32-bit, modulo 2^32).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "ne-vsock-proto.h"

static uint16_t ne_vsock_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t ne_vsock_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t ne_vsock_le64(const uint8_t *p)
{
    return ne_vsock_le32(p) | (uint64_t)ne_vsock_le32(p + 4) << 32;
}

void ne_vsock_hdr_decode(NEVsockHdr *h, const uint8_t *buf)
{
    h->src_cid = ne_vsock_le64(buf);
    h->dst_cid = ne_vsock_le64(buf + 8);
    h->src_port = ne_vsock_le32(buf + 16);
    h->dst_port = ne_vsock_le32(buf + 20);
    h->len = ne_vsock_le32(buf + 24);
    h->type = ne_vsock_le16(buf + 28);
    h->op = ne_vsock_le16(buf + 30);
    h->flags = ne_vsock_le32(buf + 32);
    h->buf_alloc = ne_vsock_le32(buf + 36);
    h->fwd_cnt = ne_vsock_le32(buf + 40);
}

static void ne_vsock_put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

void ne_vsock_hdr_encode(uint8_t *buf, const NEVsockHdr *h)
{
    ne_vsock_put_le(buf, h->src_cid, 8);
    ne_vsock_put_le(buf + 8, h->dst_cid, 8);
    ne_vsock_put_le(buf + 16, h->src_port, 4);
    ne_vsock_put_le(buf + 20, h->dst_port, 4);
    ne_vsock_put_le(buf + 24, h->len, 4);
    ne_vsock_put_le(buf + 28, h->type, 2);
    ne_vsock_put_le(buf + 30, h->op, 2);
    ne_vsock_put_le(buf + 32, h->flags, 4);
    ne_vsock_put_le(buf + 36, h->buf_alloc, 4);
    ne_vsock_put_le(buf + 40, h->fwd_cnt, 4);
}

NEVsockRelayError ne_vsock_relay_check(const uint8_t *msg, size_t size,
                                       uint64_t guest_cid, uint64_t peer_cid,
                                       bool any_peer, NEVsockHdr *h)
{
    if (size < NE_VSOCK_HDR_SIZE) {
        return NE_VSOCK_RELAY_SHORT;
    }
    if (size - NE_VSOCK_HDR_SIZE > NE_VSOCK_RELAY_PAYLOAD_MAX) {
        return NE_VSOCK_RELAY_BIG;
    }
    ne_vsock_hdr_decode(h, msg);
    if (h->len != size - NE_VSOCK_HDR_SIZE) {
        return NE_VSOCK_RELAY_BAD_LEN;
    }
    if (h->dst_cid != guest_cid) {
        return NE_VSOCK_RELAY_DST;
    }
    if (any_peer ? h->src_cid == guest_cid : h->src_cid != peer_cid) {
        return NE_VSOCK_RELAY_SRC;
    }
    return NE_VSOCK_RELAY_OK;
}

NEVsockTxError ne_vsock_tx_check(size_t size, const NEVsockHdr *h)
{
    if (size < NE_VSOCK_HDR_SIZE) {
        return NE_VSOCK_TX_SHORT;
    }
    if (h->len > size - NE_VSOCK_HDR_SIZE || h->len > NE_VSOCK_BUF_ALLOC) {
        return NE_VSOCK_TX_BAD_LEN;
    }
    return NE_VSOCK_TX_OK;
}

bool ne_vsock_rx_fit(size_t room, size_t left, size_t *n)
{
    if (room <= NE_VSOCK_HDR_SIZE) {
        return false;
    }
    *n = MIN(left, room - NE_VSOCK_HDR_SIZE);
    return true;
}

unsigned ne_vsock_proto_no_conn(const NEVsockHdr *h)
{
    /* Nobody here: refuse requests, reset anything else but a reset */
    return h->op == NE_VSOCK_OP_RST ? 0 : NE_VSOCK_ACT_RST;
}

bool ne_vsock_proto_accept(NEVsockProto *p, const NEVsockHdr *h)
{
    if (h->type != NE_VSOCK_TYPE_STREAM || h->op != NE_VSOCK_OP_REQUEST) {
        return false;
    }
    memset(p, 0, sizeof(*p));
    p->state = NE_VSOCK_CONNECTING;
    p->peer_buf_alloc = h->buf_alloc;
    p->peer_fwd_cnt = h->fwd_cnt;
    return true;
}

/* RESPONSE or RST, nothing else, answers our REQUEST. */
static unsigned ne_vsock_proto_connecting(uint16_t op, NEVsockProtoError *err)
{
    switch (op) {
    case NE_VSOCK_OP_RESPONSE:
        return NE_VSOCK_ACT_CONNECTED | NE_VSOCK_ACT_FLUSH;
    case NE_VSOCK_OP_RST:
        return NE_VSOCK_ACT_END;
    default:
        *err = NE_VSOCK_ERR_OP_CONNECTING;
        return NE_VSOCK_ACT_RST | NE_VSOCK_ACT_END;
    }
}

/* Guest data: consumed at once, so the room goes back to the guest. */
static unsigned ne_vsock_proto_rw(NEVsockProto *p, uint32_t len,
                                  NEVsockProtoError *err)
{
    unsigned act = NE_VSOCK_ACT_FLUSH;

    if ((uint32_t)(p->fwd_cnt + len - p->last_fwd_cnt) > NE_VSOCK_BUF_ALLOC) {
        *err = NE_VSOCK_ERR_CREDIT;
    }
    p->fwd_cnt += len;
    if ((uint32_t)(p->fwd_cnt - p->last_fwd_cnt) >= NE_VSOCK_BUF_ALLOC / 2) {
        act |= NE_VSOCK_ACT_CREDIT;
    }
    if (len) {
        act |= NE_VSOCK_ACT_RECV;
    }
    return act;
}

unsigned ne_vsock_proto_guest_pkt(NEVsockProto *p, const NEVsockHdr *h,
                                  uint32_t len, NEVsockProtoError *err)
{
    *err = NE_VSOCK_ERR_NONE;
    if (h->type != NE_VSOCK_TYPE_STREAM) {
        *err = NE_VSOCK_ERR_TYPE;
        return NE_VSOCK_ACT_RST | NE_VSOCK_ACT_END;
    }

    /* Every header carries the guest's window. */
    if (h->buf_alloc != p->peer_buf_alloc || h->fwd_cnt != p->peer_fwd_cnt) {
        p->credit_requested = false;
    }
    p->peer_buf_alloc = h->buf_alloc;
    p->peer_fwd_cnt = h->fwd_cnt;

    if (p->state == NE_VSOCK_CONNECTING) {
        return ne_vsock_proto_connecting(h->op, err);
    }
    switch (h->op) {
    case NE_VSOCK_OP_RW:
        return ne_vsock_proto_rw(p, len, err);
    case NE_VSOCK_OP_CREDIT_UPDATE:
        return NE_VSOCK_ACT_FLUSH;
    case NE_VSOCK_OP_CREDIT_REQUEST:
        return NE_VSOCK_ACT_CREDIT | NE_VSOCK_ACT_FLUSH;
    case NE_VSOCK_OP_SHUTDOWN:
        /* The guest closes: finish with RST, as a host transport does */
        return NE_VSOCK_ACT_RST | NE_VSOCK_ACT_END;
    case NE_VSOCK_OP_RST:
        return NE_VSOCK_ACT_END;
    default:
        *err = NE_VSOCK_ERR_OP;
        return NE_VSOCK_ACT_RST | NE_VSOCK_ACT_END;
    }
}

size_t ne_vsock_proto_take_credit(NEVsockProto *p, size_t pending,
                                  size_t max, bool *ask)
{
    int64_t credit = (int64_t)p->peer_buf_alloc -
                     (uint32_t)(p->tx_cnt - p->peer_fwd_cnt);
    size_t n;

    *ask = false;
    if (credit <= 0) {
        if (pending && !p->credit_requested) {
            p->credit_requested = true;
            *ask = true;
        }
        return 0;
    }
    n = MIN(pending, MIN((uint64_t)credit, max));
    p->tx_cnt += n;
    return n;
}

uint32_t ne_vsock_proto_credit_sent(NEVsockProto *p)
{
    p->last_fwd_cnt = p->fwd_cnt;
    return p->fwd_cnt;
}
