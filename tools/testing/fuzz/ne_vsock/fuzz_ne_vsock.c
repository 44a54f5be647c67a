// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness of the guest packet path of the ne-vsock device
 * (tools/qemu/hw/virtio/ne-vsock-proto.c, built here outside QEMU).
 *
 * The input is a list of events that a model of the device carries out
 * the way ne-vsock.c does, with a table of up to MAX_CONNS connections and
 * the guest at CID 3:
 *
 *   0 guest packet: route(1) op(1) size(3, LE) header(44): the header
 *     bytes are decoded as the device decodes a tx buffer of @size bytes;
 *     route bits make it hit the model (bit 0: src CID 3, bit 1: the
 *     tuple of connection (route >> 5) % 4, bit 2: stream type, bit 3:
 *     op = op % 9, bit 4: hdr.len = size - 44, bit 7: to a listener,
 *     CID 0 port 10000 + op % 4; listeners are on 10000..10002);
 *   1 peer connects: cid(1) port(1) guest port(1);
 *   2 peer sends: conn(1) bytes(2, LE);
 *   3 guest posts an rx buffer: room(2, LE) left(2, LE);
 *   4 peer closes: conn(1);
 *   5 relay message: route(1) size(3, LE) bytes(size, at most
 *     RELAY_MSG_MAX): checked as a relay checks what its socket gives
 *     (route bit 0: dst CID 3, bit 1: src CID 16, bit 2: hdr.len =
 *     size - 44, bit 3: the enclave side's relay, any peer CID).
 *
 * Missing bytes at the end read as 0. Invariants of the protocol (what an
 * action may follow, credit never overdrawn, counters consistent) abort
 * when broken, which libFuzzer reports as a crash.
 */
#include "qemu/osdep.h"

#include <stdio.h>
#include <stdlib.h>

#include "ne-vsock-proto.h"
#include "../fuzz_check.h"

#define GUEST_CID	3
#define MAX_CONNS	4
#define PKT_MAX		(64 * 1024)
#define SENDBUF_MAX	(4 * 1024 * 1024)
#define RELAY_PEER_CID	16
/* Emulated services: CID 0, ports LISTEN_PORT .. LISTEN_PORT + 2 */
#define LISTEN_CID	0
#define LISTEN_PORT	10000
#define NR_LISTENERS	3
/* Past the largest message a relay takes, so that "too big" is reached */
#define RELAY_MSG_MAX	(NE_VSOCK_HDR_SIZE + NE_VSOCK_RELAY_PAYLOAD_MAX + 16)

struct conn {
	bool used;
	uint64_t peer_cid;
	uint32_t peer_port;
	uint32_t guest_port;
	NEVsockProto proto;
	size_t pending;		/* accepted from the peer, not yet sent */
	bool orphan;
	bool shutdown_sent;
};

struct model {
	struct conn conns[MAX_CONNS];
	unsigned long queued;	/* packets queued for the guest */
};

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t in_u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t in_u16(struct input *in)
{
	uint16_t lo = in_u8(in);

	return (uint16_t)(lo | in_u8(in) << 8);
}

static uint32_t in_u24(struct input *in)
{
	uint32_t lo = in_u16(in);

	return lo | (uint32_t)in_u8(in) << 16;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static struct conn *lookup(struct model *m, const NEVsockHdr *h)
{
	unsigned int i;

	for (i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &m->conns[i];

		if (c->used && c->peer_cid == h->dst_cid &&
		    c->peer_port == h->dst_port && c->guest_port == h->src_port)
			return c;
	}
	return NULL;
}

/* A packet for the guest that carries the connection's credit. */
static void queue_credit_pkt(struct model *m, struct conn *c)
{
	uint32_t fwd = ne_vsock_proto_credit_sent(&c->proto);

	check(fwd == c->proto.fwd_cnt && c->proto.last_fwd_cnt == fwd);
	m->queued++;
}

/* ne_vsock_conn_flush(). */
static void flush(struct model *m, struct conn *c)
{
	if (c->proto.state != NE_VSOCK_CONNECTED)
		return;
	while (c->pending) {
		bool was_requested = c->proto.credit_requested, ask;
		uint32_t before = c->proto.tx_cnt;
		size_t n = ne_vsock_proto_take_credit(&c->proto, c->pending,
						      PKT_MAX, &ask);

		if (!n) {
			check(c->proto.tx_cnt == before);
			check(!ask || !was_requested);
			check(c->proto.credit_requested);
			if (ask)
				queue_credit_pkt(m, c);
			return;
		}
		check(!ask);
		check(n <= c->pending && n <= PKT_MAX);
		check((uint32_t)(c->proto.tx_cnt - before) == n);
		/* Never more in flight than the guest's window. */
		check((uint32_t)(c->proto.tx_cnt - c->proto.peer_fwd_cnt) <=
		      c->proto.peer_buf_alloc);
		queue_credit_pkt(m, c);
		c->pending -= n;
	}
	if (c->orphan && !c->shutdown_sent) {
		c->shutdown_sent = true;
		queue_credit_pkt(m, c);
	}
}

static void conn_end(struct conn *c)
{
	memset(c, 0, sizeof(*c));
}

/* A free table entry for the tuple of guest packet @h, or NULL: full. */
static struct conn *conn_new(struct model *m, const NEVsockHdr *h)
{
	unsigned int i;

	for (i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &m->conns[i];

		if (c->used)
			continue;
		memset(c, 0, sizeof(*c));
		c->used = true;
		c->peer_cid = h->dst_cid;
		c->peer_port = h->dst_port;
		c->guest_port = h->src_port;
		return c;
	}
	return NULL;
}

/*
 * ne_vsock_accept(): a packet to a listener's tuple without a connection.
 * False if it is no request (or nobody listens): then no_conn decides.
 */
static bool accept_conn(struct model *m, const NEVsockHdr *h)
{
	NEVsockProto p;
	struct conn *c;

	memset(&p, 0x5a, sizeof(p));
	if (h->dst_cid != LISTEN_CID || h->dst_port - LISTEN_PORT >= NR_LISTENERS)
		return false;
	if (!ne_vsock_proto_accept(&p, h)) {
		check(h->type != NE_VSOCK_TYPE_STREAM ||
		      h->op != NE_VSOCK_OP_REQUEST);
		/* Untouched */
		check(p.tx_cnt == 0x5a5a5a5a && p.fwd_cnt == 0x5a5a5a5a);
		return false;
	}
	check(h->type == NE_VSOCK_TYPE_STREAM && h->op == NE_VSOCK_OP_REQUEST);
	check(p.state == NE_VSOCK_CONNECTING && !p.credit_requested);
	check(p.peer_buf_alloc == h->buf_alloc && p.peer_fwd_cnt == h->fwd_cnt);
	check(!p.tx_cnt && !p.fwd_cnt && !p.last_fwd_cnt);
	c = conn_new(m, h);
	if (!c) {
		m->queued++;	/* the owner refused it: RST */
		return true;
	}
	c->proto = p;
	queue_credit_pkt(m, c);		/* RESPONSE */
	c->proto.state = NE_VSOCK_CONNECTED;
	/* The service's greeting, as the debug console's backlog */
	c->pending = h->src_port % 70000;
	flush(m, c);
	return true;
}

/* ne_vsock_tx_process() + ne_vsock_handle_guest_pkt(). */
static void guest_packet(struct model *m, struct input *in)
{
	uint8_t route = in_u8(in), op = in_u8(in), raw[NE_VSOCK_HDR_SIZE];
	size_t size = in_u24(in);
	NEVsockProto before;
	NEVsockProtoError err;
	NEVsockHdr h;
	struct conn *c;
	unsigned int i, act;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = in_u8(in);
	if (route & 1)
		put_le(raw, GUEST_CID, 8);
	c = &m->conns[(route >> 5) % MAX_CONNS];
	if ((route & 2) && c->used) {
		put_le(raw + 8, c->peer_cid, 8);
		put_le(raw + 20, c->peer_port, 4);
		put_le(raw + 16, c->guest_port, 4);
	}
	if (route & 4)
		put_le(raw + 28, NE_VSOCK_TYPE_STREAM, 2);
	if (route & 8)
		put_le(raw + 30, op % 9, 2);
	if ((route & 16) && size >= NE_VSOCK_HDR_SIZE)
		put_le(raw + 24, size - NE_VSOCK_HDR_SIZE, 4);
	if (route & 128) {
		put_le(raw + 8, LISTEN_CID, 8);
		put_le(raw + 20, LISTEN_PORT + op % 4, 4);
	}

	ne_vsock_hdr_decode(&h, raw);
	{
		uint8_t again[NE_VSOCK_HDR_SIZE];

		/* Encoding gives back the bytes that were decoded. */
		ne_vsock_hdr_encode(again, &h);
		check(!memcmp(again, raw, sizeof(raw)));
	}
	check(h.src_cid == get_le(raw, 8) && h.dst_cid == get_le(raw + 8, 8));
	check(h.src_port == get_le(raw + 16, 4) &&
	      h.dst_port == get_le(raw + 20, 4) && h.len == get_le(raw + 24, 4));
	check(h.type == get_le(raw + 28, 2) && h.op == get_le(raw + 30, 2));
	check(h.flags == get_le(raw + 32, 4) &&
	      h.buf_alloc == get_le(raw + 36, 4) &&
	      h.fwd_cnt == get_le(raw + 40, 4));
	switch (ne_vsock_tx_check(size, &h)) {
	case NE_VSOCK_TX_SHORT:
		check(size < NE_VSOCK_HDR_SIZE);
		return;
	case NE_VSOCK_TX_BAD_LEN:
		check(size >= NE_VSOCK_HDR_SIZE);
		check(h.len > size - NE_VSOCK_HDR_SIZE ||
		      h.len > NE_VSOCK_BUF_ALLOC);
		return;
	case NE_VSOCK_TX_OK:
		check(size >= NE_VSOCK_HDR_SIZE &&
		      h.len <= size - NE_VSOCK_HDR_SIZE &&
		      h.len <= NE_VSOCK_BUF_ALLOC);
		break;
	default:
		check(0);
	}

	if (h.src_cid != GUEST_CID)
		return;		/* logged and dropped */
	c = lookup(m, &h);
	if (!c && accept_conn(m, &h))
		return;
	if (!c) {
		act = ne_vsock_proto_no_conn(&h);
		check(act == (h.op == NE_VSOCK_OP_RST ? 0 : NE_VSOCK_ACT_RST));
		if (act)
			m->queued++;
		return;
	}

	before = c->proto;
	act = ne_vsock_proto_guest_pkt(&c->proto, &h, h.len, &err);
	check(!(act & ~0x3fu));
	check(err <= NE_VSOCK_ERR_CREDIT);
	check(c->proto.state == before.state);
	check(c->proto.tx_cnt == before.tx_cnt);
	if (err == NE_VSOCK_ERR_TYPE || err == NE_VSOCK_ERR_OP ||
	    err == NE_VSOCK_ERR_OP_CONNECTING)
		check(act == (NE_VSOCK_ACT_RST | NE_VSOCK_ACT_END));
	if (err == NE_VSOCK_ERR_TYPE) {
		check(!memcmp(&c->proto, &before, sizeof(before)));
	} else {
		check(c->proto.peer_buf_alloc == h.buf_alloc);
		check(c->proto.peer_fwd_cnt == h.fwd_cnt);
	}
	if (act & NE_VSOCK_ACT_RST)
		m->queued++;
	if (act & NE_VSOCK_ACT_END) {
		check(!(act & ~(NE_VSOCK_ACT_RST | NE_VSOCK_ACT_END)));
		conn_end(c);
		return;
	}
	if (act & NE_VSOCK_ACT_CONNECTED) {
		check(before.state == NE_VSOCK_CONNECTING);
		check(h.op == NE_VSOCK_OP_RESPONSE);
		c->proto.state = NE_VSOCK_CONNECTED;
	} else {
		check(before.state == NE_VSOCK_CONNECTED);
	}
	if (act & NE_VSOCK_ACT_RECV)
		check(h.len && h.op == NE_VSOCK_OP_RW);
	if (h.op == NE_VSOCK_OP_RW && before.state == NE_VSOCK_CONNECTED) {
		check(c->proto.fwd_cnt == before.fwd_cnt + h.len);
		/* Beyond the window we gave, and only then, is an error. */
		check((err == NE_VSOCK_ERR_CREDIT) ==
		      ((uint32_t)(before.fwd_cnt + h.len - before.last_fwd_cnt) >
		       NE_VSOCK_BUF_ALLOC));
	} else {
		check(c->proto.fwd_cnt == before.fwd_cnt);
		check(err != NE_VSOCK_ERR_CREDIT);
	}
	if (act & NE_VSOCK_ACT_CREDIT)
		queue_credit_pkt(m, c);
	/* What we owe the guest stays below our window after an update. */
	check((act & NE_VSOCK_ACT_CREDIT) || err == NE_VSOCK_ERR_CREDIT ||
	      (uint32_t)(c->proto.fwd_cnt - c->proto.last_fwd_cnt) <=
	      NE_VSOCK_BUF_ALLOC);
	if (act & NE_VSOCK_ACT_FLUSH)
		flush(m, c);
}

/* ne_vsock_do_connect(): REQUEST sent, CONNECTING. */
static void peer_connect(struct model *m, struct input *in)
{
	NEVsockHdr key = { 0 };
	struct conn *c;

	key.dst_cid = 4 + in_u8(in) % 4;
	key.dst_port = 1024 + in_u8(in) % 4;
	key.src_port = 9000 + in_u8(in) % 4;
	if (lookup(m, &key))
		return;		/* "already connected" */
	c = conn_new(m, &key);
	if (!c)
		return;
	c->proto.state = NE_VSOCK_CONNECTING;
	queue_credit_pkt(m, c);
}

/* ne_vsock_send(). */
static void peer_send(struct model *m, struct input *in)
{
	struct conn *c = &m->conns[in_u8(in) % MAX_CONNS];
	size_t n = in_u16(in);

	if (!c->used || c->orphan || c->pending + n > SENDBUF_MAX)
		return;
	c->pending += n;
	flush(m, c);
}

/* ne_vsock_rx_flush(): one rx buffer for the packet at the head. */
static void rx_buffer(struct input *in)
{
	size_t room = in_u16(in), left = in_u16(in), n = SIZE_MAX;

	if (!ne_vsock_rx_fit(room, left, &n)) {
		check(room <= NE_VSOCK_HDR_SIZE && n == SIZE_MAX);
		return;
	}
	check(room > NE_VSOCK_HDR_SIZE);
	check(n <= left && n <= room - NE_VSOCK_HDR_SIZE);
	check(n == left || n == room - NE_VSOCK_HDR_SIZE);
}

/* ne_vsock_close(). */
static void peer_close(struct model *m, struct input *in)
{
	struct conn *c = &m->conns[in_u8(in) % MAX_CONNS];

	if (!c->used)
		return;
	if (c->proto.state == NE_VSOCK_CONNECTING) {
		m->queued++;	/* RST */
		conn_end(c);
		return;
	}
	c->orphan = true;
	flush(m, c);
}

/* ne_vsock_relay_to_guest(): a message from a relay's socket. */
static void relay_message(struct input *in)
{
	static uint8_t msg[RELAY_MSG_MAX];
	uint8_t route = in_u8(in);
	size_t size = in_u24(in), i;
	bool any = route & 8;
	NEVsockHdr h;

	if (size > RELAY_MSG_MAX)
		size = RELAY_MSG_MAX;
	for (i = 0; i < size; i++)
		msg[i] = in_u8(in);
	if (size >= NE_VSOCK_HDR_SIZE) {
		if (route & 1)
			put_le(msg + 8, GUEST_CID, 8);
		if (route & 2)
			put_le(msg, RELAY_PEER_CID, 8);
		if (route & 4)
			put_le(msg + 24, size - NE_VSOCK_HDR_SIZE, 4);
	}

	switch (ne_vsock_relay_check(msg, size, GUEST_CID, RELAY_PEER_CID, any,
				     &h)) {
	case NE_VSOCK_RELAY_SHORT:
		check(size < NE_VSOCK_HDR_SIZE);
		return;
	case NE_VSOCK_RELAY_BIG:
		check(size > NE_VSOCK_HDR_SIZE + NE_VSOCK_RELAY_PAYLOAD_MAX);
		return;
	case NE_VSOCK_RELAY_BAD_LEN:
		check(size >= NE_VSOCK_HDR_SIZE &&
		      size - NE_VSOCK_HDR_SIZE <= NE_VSOCK_RELAY_PAYLOAD_MAX);
		check(h.len != size - NE_VSOCK_HDR_SIZE);
		return;
	case NE_VSOCK_RELAY_DST:
		check(h.len == size - NE_VSOCK_HDR_SIZE);
		check(h.dst_cid != GUEST_CID);
		return;
	case NE_VSOCK_RELAY_SRC:
		check(h.len == size - NE_VSOCK_HDR_SIZE && h.dst_cid == GUEST_CID);
		check(any ? h.src_cid == GUEST_CID : h.src_cid != RELAY_PEER_CID);
		return;
	case NE_VSOCK_RELAY_OK:
		/* What the guest gets: a whole packet between the right CIDs */
		check(size >= NE_VSOCK_HDR_SIZE);
		check(h.len == size - NE_VSOCK_HDR_SIZE &&
		      h.len <= NE_VSOCK_RELAY_PAYLOAD_MAX);
		check(h.dst_cid == GUEST_CID && get_le(msg + 8, 8) == GUEST_CID);
		check(any ? h.src_cid != GUEST_CID : h.src_cid == RELAY_PEER_CID);
		return;
	default:
		check(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct model m;

	memset(&m, 0, sizeof(m));
	while (in.left) {
		switch (in_u8(&in) % 6) {
		case 0:
			guest_packet(&m, &in);
			break;
		case 1:
			peer_connect(&m, &in);
			break;
		case 2:
			peer_send(&m, &in);
			break;
		case 3:
			rx_buffer(&in);
			break;
		case 4:
			peer_close(&m, &in);
			break;
		case 5:
			relay_message(&in);
			break;
		}
	}
	return 0;
}
