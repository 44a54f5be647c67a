#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the seed corpora of the fuzz harnesses (eif, ne_vsock, ne_dev).

The seeds are checked in; this script says how they were made and remakes
them (python3 make_seeds.py). The EIF seeds are small valid images of
each kind the format allows; the ne-vsock seeds are event lists (see
ne_vsock/fuzz_ne_vsock.c) that walk a connection through its states; the
ne_dev seeds are command lists (see ne_dev/fuzz_ne_dev.c): a full launch,
the error of every rule, the hooks, and full tables.
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# The test certificate of tools/eif/tests/eif_test.c (self-signed P-384).
TEST_CERT = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBujCCAUCgAwIBAgIUVH95B6Aqvc/R3pA6FsUif8+wCFIwCgYIKoZIzj0EAwIw\n"
    "EzERMA8GA1UEAwwIZWlmLXRlc3QwIBcNMjYxMTI5MTM1MzU2WhgPMjEyNjExMDUx\n"
    "MzUzNTZaMBMxETAPBgNVBAMMCGVpZi10ZXN0MHYwEAYHKoZIzj0CAQYFK4EEACID\n"
    "YgAEpgQF4z/HURRd3t55Ew7hH3cl2kGEOkqxTOdLvy0vIhLXr1tniZncsBx6Uq76\n"
    "oLs8wmIN/+j5QzfeE/cc33WCIW/js8guaef+QLNkdj01xqbLLU0s69YsGMwe6ohh\n"
    "WAB8o1MwUTAdBgNVHQ4EFgQUU7wuUk9TgMNKxKeKCmDM9vUM++8wHwYDVR0jBBgw\n"
    "FoAUU7wuUk9TgMNKxKeKCmDM9vUM++8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjO\n"
    "PQQDAgNoADBlAjEA4cUBKEqbZqluxlaZK+J8lGVb8uSTSM8jXCpFdC3A+CfEs3k0\n"
    "F/MJ3Pi4EUyJPaPGAjB3uOSyg0ymoxJitxMnBt4VwNR2cQAJPHCVPu0+Tj0WKFAS\n"
    "ypbywINwoiYWr6mWGWg=\n"
    "-----END CERTIFICATE-----\n"
).encode()

KERNEL, CMDLINE, RAMDISK, SIGNATURE, METADATA = 1, 2, 3, 4, 5
METADATA_JSON = (b'{"ImageName":"seed","ImageVersion":"1.0","BuildMetadata":'
                 b'{"BuildTime":"2024-01-01T00:00:00+00:00","BuildTool":"eif",'
                 b'"BuildToolVersion":"0.1.0","OperatingSystem":"OS",'
                 b'"KernelVersion":"kernel"},"DockerInfo":null,'
                 b'"CustomMetadata":null}')


def eif(version, sections, flags=0):
    """An image with sections [(type, data)] packed from byte 548."""
    offsets, sizes, body, pos = [], [], b"", 548
    for typ, data in sections:
        offsets.append(pos)
        sizes.append(len(data))
        body += struct.pack(">HHQ", typ, 0, len(data)) + data
        pos += 12 + len(data)
    pad = [0] * (32 - len(sections))
    hdr = b".eif" + struct.pack(">HHQQHH", version, flags, 1 << 30, 2, 0,
                                len(sections))
    hdr += struct.pack(">32Q", *(offsets + pad))
    hdr += struct.pack(">32Q", *(sizes + pad))
    hdr += struct.pack(">I", 0)
    crc = zlib.crc32(body, zlib.crc32(hdr))
    return hdr + struct.pack(">I", crc) + body


def cbor_head(major, v):
    if v < 24:
        return bytes([major << 5 | v])
    if v < 256:
        return bytes([major << 5 | 24, v])
    return bytes([major << 5 | 25]) + struct.pack(">H", v)


def cbor_bytes_array(data):
    return cbor_head(4, len(data)) + b"".join(cbor_head(0, b) for b in data)


def cbor_text(s):
    return cbor_head(3, len(s)) + s.encode()


def signature(cert):
    cose = b"\xd2\x84\x44\xa1\x01\x38\x22\xa0\x40\x40"
    return (b"\x81\xa2" + cbor_text("signing_certificate") +
            cbor_bytes_array(cert) + cbor_text("signature") +
            cbor_bytes_array(cose))


def eif_seeds():
    k, c = (KERNEL, b"kernel-image"), (CMDLINE, b"console=ttyS0")
    r0, r1 = (RAMDISK, b"ramdisk-0"), (RAMDISK, b"ramdisk-1")
    md = (METADATA, METADATA_JSON)
    return {
        "v4-two-ramdisks.eif": eif(4, [k, c, md, r0, r1]),
        "v4-empty-metadata.eif": eif(4, [k, c, (METADATA, b"{}"), r0]),
        "v4-null-metadata-aarch64.eif": eif(4, [k, c, (METADATA, b"null"), r0],
                                            flags=1),
        "v3-no-metadata.eif": eif(3, [k, c, r0]),
        "v2-three-ramdisks.eif": eif(2, [k, c, r0, r1, (RAMDISK, b"")]),
        "v4-signed.eif": eif(4, [k, c, md, r0,
                                 (SIGNATURE, signature(TEST_CERT))]),
        "v4-bad-crc.eif": eif(4, [k, c, md, r0])[:544] + b"\0\0\0\0" +
        eif(4, [k, c, md, r0])[548:],
        "header-only.bin": eif(4, [k, c, md, r0])[:548],
    }


GUEST_CID = 3


def vsock_hdr(src_cid, dst_cid, src_port, dst_port, length, typ, op,
              buf_alloc=65536, fwd_cnt=0):
    return struct.pack("<QQIIIHHIII", src_cid, dst_cid, src_port, dst_port,
                       length, typ, op, 0, buf_alloc, fwd_cnt)


# Events of fuzz_ne_vsock.c.
def size24(n):
    return struct.pack("<I", n)[:3]


def connect(cid=0, port=0, gport=0):
    return bytes([1, cid, port, gport])


def guest(conn, op, length=0, buf_alloc=65536, fwd_cnt=0):
    """A stream packet from the guest on connection slot conn (routed)."""
    route = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | (conn << 5 & 0x60)
    hdr = vsock_hdr(GUEST_CID, 0, 0, 0, 0, 1, op, buf_alloc, fwd_cnt)
    return bytes([0, route, op]) + size24(44 + length) + hdr


def to_listener(op, gport, buf_alloc=65536):
    """A packet from guest port gport to the listener on CID 0 port 10001."""
    route = 0x01 | 0x04 | 0x08 | 0x10 | 0x80
    hdr = vsock_hdr(GUEST_CID, 0, gport, 0, 0, 1, op, buf_alloc)
    return bytes([0, route, op]) + size24(44) + hdr


def raw_guest(hdr, size, route=0):
    return bytes([0, route, 0]) + size24(size) + hdr


def send(conn, n):
    return bytes([2, conn]) + struct.pack("<H", n)


def rx(room, left):
    return bytes([3]) + struct.pack("<HH", room, left)


def close(conn):
    return bytes([4, conn])


def relay(msg, route=0):
    """A message from a relay's socket (routing off unless asked)."""
    return bytes([5, route]) + size24(len(msg)) + msg


ENCLAVE_CID = 16
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = range(1, 8)


def vsock_seeds():
    return {
        "heartbeat.bin": connect() + guest(0, RESPONSE) + send(0, 1) +
        guest(0, RW, 1) + close(0) + guest(0, RST),
        "refused.bin": connect() + guest(0, RST),
        "credit-stall.bin": connect(1, 1, 1) + guest(0, RESPONSE, buf_alloc=100) +
        send(0, 300) + guest(0, CREDIT_UPDATE, buf_alloc=100, fwd_cnt=100) +
        guest(0, CREDIT_REQUEST, buf_alloc=1000, fwd_cnt=100) +
        guest(0, SHUTDOWN),
        "window.bin": connect() + guest(0, RESPONSE) +
        b"".join(guest(0, RW, 60000) for _ in range(5)) + guest(0, RST),
        "unknown-tuple.bin": raw_guest(vsock_hdr(GUEST_CID, 2, 1, 2, 0, 1,
                                                 REQUEST), 44, route=0),
        "bad-lengths.bin": raw_guest(b"\0" * 44, 20) +
        raw_guest(vsock_hdr(GUEST_CID, 4, 1, 2, 100, 1, RW), 50),
        "wrong-type.bin": connect() + bytes([0, 0x01 | 0x02 | 0x08 | 0x10, RW]) +
        size24(44) + vsock_hdr(GUEST_CID, 0, 0, 0, 0, 2, RW),
        "beyond-credit.bin": connect() + guest(0, RESPONSE) +
        guest(0, RW, 100000) + guest(0, RW, 200000) + guest(0, RST),
        "rx-buffers.bin": rx(44, 10) + rx(45, 10) + rx(4096, 65535) + rx(0, 0),
        # accepted (greeting sent), data, close; not a request; a full
        # table refuses
        "listener.bin": to_listener(REQUEST, 1024, buf_alloc=100) +
        guest(0, CREDIT_UPDATE, buf_alloc=5000) + rx(4096, 1000) +
        to_listener(RW, 2000) +
        b"".join(to_listener(REQUEST, 1025 + i) for i in range(4)) +
        guest(0, SHUTDOWN),
        "two-conns.bin": connect(0, 0, 0) + connect(1, 2, 3) +
        guest(1, RESPONSE) + guest(0, RW) + send(1, 65535) + close(1) +
        close(0),
        # a good packet each way, then each reason to drop one
        "relay.bin": relay(vsock_hdr(ENCLAVE_CID, GUEST_CID, 9000, 1024, 10,
                                     1, RW) + bytes(10)) +
        relay(vsock_hdr(5, GUEST_CID, 9000, 1024, 0, 1, REQUEST), route=8) +
        relay(bytes(20)) +
        relay(vsock_hdr(ENCLAVE_CID, GUEST_CID, 1, 2, 5, 1, RW) + bytes(4)) +
        relay(vsock_hdr(ENCLAVE_CID, 4, 1, 2, 0, 1, RST)) +
        relay(vsock_hdr(7, GUEST_CID, 1, 2, 0, 1, RST)) +
        relay(vsock_hdr(GUEST_CID, GUEST_CID, 1, 2, 0, 1, RST), route=8) +
        # too big: the missing payload at the end of the input reads as 0
        bytes([5, 0]) + size24(44 + 65537) +
        vsock_hdr(ENCLAVE_CID, GUEST_CID, 1, 2, 65537, 1, RW),
    }


# ne_dev: command types and steps of ne_dev/fuzz_ne_dev.c
(START, GET_SLOT, STOP, ALLOC, FREE, ADD_MEM, ADD_VCPU, COUNT, NEXT, INFO,
 BULK) = range(1, 12)
MIB = 1 << 20


def cmd(t, a=0, b=0, c=0):
    """Command type t (0..15) with a 24-byte request of three u64."""
    return bytes([t]) + struct.pack("<QQQ", a, b, c)


def raw_cmd(t, a=0, b=0, c=0):
    return b"\x80" + struct.pack("<IQQQ", t, a, b, c)


def aimed(t, b0=0, b8=0, b16=0):
    req = bytearray(24)
    req[0], req[8], req[16] = b0, b8, b16
    return bytes([0x10 | t]) + bytes(req)


def exit_hook(sel):
    return bytes([0xa0, sel])


ENABLE, DISABLE, FLIP_UID_ZERO = b"\xc0", b"\xc1", b"\xc2"


def fail_next(t, rc):
    return b"\xc3" + bytes([t]) + struct.pack("<i", rc)


def machine(cpus=4, slots=4, regions=4, off=False, uid_zero=False):
    return bytes([cpus - 1, slots - 1, regions - 1,
                  (1 if off else 0) | (2 if uid_zero else 0)])


def launch(uid, paddr, cpu):
    return (cmd(ALLOC) + cmd(ADD_MEM, uid, paddr, 16 * MIB) +
            cmd(ADD_VCPU, uid, cpu) + cmd(BULK, uid, 1) + cmd(START, uid))


def ne_dev_seeds():
    return {
        "launch.bin": machine() + launch(1, 0, 0) + cmd(GET_SLOT, 4) +
        cmd(INFO, 1) + cmd(COUNT) + cmd(NEXT, 0) + cmd(NEXT, 1) +
        cmd(STOP, 1) + cmd(FREE, 1) + cmd(COUNT),
        "two-enclaves.bin": machine() + launch(1, 0, 0) +
        launch(2, 4096 * MIB, 1) + cmd(START, 1) + exit_hook(1) +
        exit_hook(1) + cmd(FREE, 2) + cmd(FREE, 1) + cmd(STOP, 1),
        "dup-mem.bin": machine() + cmd(ALLOC) + cmd(ALLOC) +
        cmd(ADD_MEM, 1, 0, 4 * MIB) + cmd(ADD_MEM, 2, 2 * MIB, 4 * MIB) +
        cmd(ADD_MEM, 1, 0, 4 * MIB) + cmd(ADD_MEM, 2, 4 * MIB, 2 * MIB),
        "mem-errors.bin": machine(regions=2) + cmd(ALLOC) +
        cmd(ADD_MEM, 9, 0, 2 * MIB) + cmd(ADD_MEM, 1, 0, 0) +
        cmd(ADD_MEM, 1, MIB, 2 * MIB) + cmd(ADD_MEM, 1, 0, 3 * MIB) +
        cmd(ADD_MEM, 1, (1 << 64) - 2 * MIB, 4 * MIB) +
        cmd(ADD_MEM, 1, 1024 * MIB, 2 * MIB) +
        cmd(ADD_MEM, 1, 510 * MIB, 4 * MIB) +
        cmd(ADD_MEM, 1, 0, 2 * MIB) + cmd(ADD_MEM, 1, 2 * MIB, 2 * MIB) +
        cmd(ADD_MEM, 1, 4 * MIB, 2 * MIB),
        "vcpu-errors.bin": machine(cpus=2) + cmd(ALLOC) + cmd(ALLOC) +
        cmd(ADD_VCPU, 1, 2) + cmd(ADD_VCPU, 1, 0xffffffff) +
        cmd(ADD_VCPU, 1, 1) + cmd(ADD_VCPU, 2, 1) + cmd(BULK, 2, 0) +
        cmd(BULK, 2, 3) + cmd(BULK, 2, 2) + cmd(ADD_VCPU, 7, 0),
        "start-errors.bin": machine() + cmd(START, 1) + cmd(ALLOC) +
        cmd(START, 1) + cmd(ADD_MEM, 1, 0, 2 * MIB) + cmd(START, 1) +
        cmd(ADD_VCPU, 1, 0) + cmd(START, 1, 0, 2) + cmd(START, 1, 3) +
        cmd(START, 1, 0xffffffff) + launch(2, 16 * MIB, 1) +
        cmd(START, 1, 4) + cmd(START, 1, 5) + cmd(START, 1) +
        cmd(ADD_MEM, 1, 64 * MIB, 2 * MIB) + cmd(ADD_VCPU, 1, 2) +
        cmd(FREE, 1) + cmd(STOP, 3) + cmd(INFO, 3) + cmd(GET_SLOT, 9),
        "full-table.bin": machine(slots=2) + cmd(ALLOC) + cmd(ALLOC) +
        cmd(ALLOC) + cmd(NEXT, 2) + cmd(FREE, 1) + cmd(ALLOC) +
        cmd(NEXT, 0) + cmd(NEXT, 2),
        "unknown-types.bin": machine() + cmd(0) + cmd(12) + cmd(15) +
        raw_cmd(0xdeadbeef, 1) + raw_cmd(NEXT, 0) + b"\xe0" + bytes(8),
        "hooks.bin": machine(off=True) + cmd(ALLOC) + ENABLE +
        fail_next(ALLOC, -12) + cmd(ALLOC) + cmd(ALLOC) +
        fail_next(INFO, 0) + cmd(INFO, 1) + FLIP_UID_ZERO +
        cmd(INFO, 5) + fail_next(FREE, 7) + cmd(FREE, 1) + FLIP_UID_ZERO +
        cmd(FREE, 5) + DISABLE + cmd(COUNT) + ENABLE + cmd(COUNT),
        "aimed.bin": machine(cpus=8, slots=8, regions=8) + aimed(ALLOC) +
        aimed(ADD_MEM, 0, 3, 2) + aimed(ADD_MEM, 0, 0x83, 4) +
        aimed(ADD_VCPU, 0, 5) + aimed(BULK, 0, 2) + aimed(START, 0, 0) +
        aimed(GET_SLOT) + aimed(INFO) + aimed(STOP) + aimed(FREE),
    }


def write(subdir, seeds):
    d = os.path.join(HERE, subdir, "corpus")
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        print(f"{subdir}/corpus/{name}: {len(data)} bytes")


if __name__ == "__main__":
    write("eif", eif_seeds())
    write("ne_vsock", vsock_seeds())
    write("ne_dev", ne_dev_seeds())
