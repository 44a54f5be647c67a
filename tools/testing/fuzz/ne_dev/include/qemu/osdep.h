/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's "qemu/osdep.h" when tools/qemu/hw/misc/
 * nitro_enclaves_core.c is built outside QEMU by the fuzz harness: the
 * standard headers, GLib (GArray, g_new0) and the QEMU macros that file
 * uses.
 */
#ifndef NE_FUZZ_QEMU_OSDEP_H
#define NE_FUZZ_QEMU_OSDEP_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <glib.h>

#undef MIN
#define MIN(a, b)		((a) < (b) ? (a) : (b))
#define QEMU_IS_ALIGNED(n, m)	(((n) % (m)) == 0)

#endif
