/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's "qemu/osdep.h" when tools/qemu/hw/virtio/
 * ne-vsock-proto.c is built outside QEMU by the fuzz harness: the standard
 * headers and the one QEMU macro that file uses.
 */
#ifndef NE_FUZZ_QEMU_OSDEP_H
#define NE_FUZZ_QEMU_OSDEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MIN(a, b)	((a) < (b) ? (a) : (b))

#endif
