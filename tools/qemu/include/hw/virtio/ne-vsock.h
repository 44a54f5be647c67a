/*
 * ne-vsock: emulated virtio-vsock device whose far side is the emulated
 * Nitro Enclaves of this QEMU process.
 *
 * The guest sees a stock virtio-vsock device (virtio device ID 19, guest
 * CID 3 by default); connections between it and the emulated enclaves are
 * carried entirely inside QEMU, no /dev/vhost-vsock is needed.
 *
 * This header is the interface other device models (the NE PCI model) use
 * to open a connection from an emulated peer to the guest.
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

#endif
