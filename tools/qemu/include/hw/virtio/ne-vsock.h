/*
 * ne-vsock: emulated virtio-vsock device whose far side is the emulated
 * Nitro Enclaves of this QEMU process.
 *
 * The guest sees a stock virtio-vsock device (virtio device ID 19, guest
 * CID 3 by default); connections between it and the emulated enclaves are
 * carried entirely inside QEMU, no /dev/vhost-vsock is needed.
 *
 * This header is the interface other device models (the NE PCI model) use
 * to open a connection from an emulated peer to the guest, to accept the
 * guest's connections to an emulated service, and to link the guest with
 * an enclave VM (another QEMU process) through a relay.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_NE_VSOCK_H
#define HW_VIRTIO_NE_VSOCK_H

#define TYPE_NE_VSOCK "ne-vsock-device"
#define TYPE_NE_VSOCK_PCI "ne-vsock-pci"

/* The parent (the guest of this QEMU) has this CID unless configured. */
#define NE_VSOCK_DEFAULT_GUEST_CID 3

typedef struct NEVsockConn NEVsockConn;

typedef struct NEVsockPeerOps {
    /* The guest accepted the connection (it answered RESPONSE). */
    void (*connected)(void *opaque);
    /* RST before the connection was up: nobody listens, or it was reset. */
    void (*refused)(void *opaque);
    /* Data from the guest. */
    void (*recv)(void *opaque, const uint8_t *buf, size_t len);
    /* The guest shut the connection down or reset it after connecting. */
    void (*closed)(void *opaque);
} NEVsockPeerOps;

/*
 * Connect from (@src_cid, @src_port) to the guest's @dst_port.
 * Returns NULL with @errp set if no ne-vsock device exists (or the tuple
 * is already in use). Callbacks run with the BQL held, never from inside
 * this call. After refused() or closed() the connection is dead but must
 * still be released with ne_vsock_close().
 */
NEVsockConn *ne_vsock_connect(uint64_t src_cid, uint32_t src_port,
                              uint32_t dst_port, const NEVsockPeerOps *ops,
                              void *opaque, Error **errp);

/* Queue @len bytes for the guest. Returns 0 or -errno (-ENOTCONN, ...). */
int ne_vsock_send(NEVsockConn *c, const void *buf, size_t len);

/* Send SHUTDOWN/RST as needed and free @c; no callbacks after this. */
void ne_vsock_close(NEVsockConn *c);

typedef struct NEVsockListener NEVsockListener;

/*
 * A new connection from the guest to a listener: return the opaque that
 * the listener's NEVsockPeerOps get for @c, or NULL to refuse it (RST).
 * @c may be given data (ne_vsock_send) but not closed from here; once
 * accepted it is connected, the ops' connected() follows at once, and it
 * is released with ne_vsock_close() like any other.
 */
typedef void *NEVsockAcceptFn(void *opaque, NEVsockConn *c);

/*
 * Accept the guest's stream connections to (@cid, @port), an emulated
 * service (such as an enclave's debug console on CID 0). Connections
 * outlive their listener. Returns NULL with @errp set if someone listens
 * there already. Call with the BQL held.
 */
NEVsockListener *ne_vsock_listen(uint64_t cid, uint32_t port,
                                 NEVsockAcceptFn *accept,
                                 const NEVsockPeerOps *ops, void *opaque,
                                 Error **errp);

/* Stop accepting and free @l (NULL is a no-op). */
void ne_vsock_unlisten(NEVsockListener *l);

typedef struct NEVsockRelay NEVsockRelay;

/*
 * Route the guest's packets for @cid to @fd, a connected SOCK_SEQPACKET
 * socket, and deliver the packets read from it. One message is one
 * virtio-vsock packet: the 44-byte little-endian header, then hdr.len
 * (at most 64 KiB) payload bytes. Messages must come from @cid to the
 * guest's CID, or they are dropped; buf_alloc and fwd_cnt pass untouched,
 * so the far side's guest does the flow control. The far side is
 * typically an enclave VM whose ne-vsock-device has relay-fd set.
 *
 * Takes @fd, also on failure (it is closed then). Returns NULL with @errp
 * set if there is no ne-vsock device, @fd is not a SOCK_SEQPACKET socket,
 * @cid is reserved (0-2, >= 2^32 - 1), the guest's own, relayed already or
 * used by an emulated peer. While the relay exists, ne_vsock_connect()
 * refuses @cid. Call with the BQL held.
 */
NEVsockRelay *ne_vsock_relay_attach(uint64_t cid, int fd, Error **errp);

/*
 * Stop routing, close the fd and free @r (NULL is a no-op); the guest's
 * connections through the relay get RST. Also needed after the far side
 * hung up (the relay is dead then: the guest got RST already, and its
 * packets for the CID get RST) or after the ne-vsock device went away.
 */
void ne_vsock_relay_detach(NEVsockRelay *r);

#endif
