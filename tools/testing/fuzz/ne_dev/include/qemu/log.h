/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's "qemu/log.h": qemu_log_mask() formats its message
 * (so that a bad format or argument shows under the sanitizers) and counts
 * the guest errors, which the harness checks.
 */
#ifndef NE_FUZZ_QEMU_LOG_H
#define NE_FUZZ_QEMU_LOG_H

#include <stdarg.h>
#include <stdio.h>

#define LOG_GUEST_ERROR		(1 << 11)

/* Guest errors logged so far (fuzz_ne_dev.c) */
extern unsigned int ne_fuzz_guest_errors;

static inline void __attribute__((format(printf, 2, 3)))
qemu_log_mask(int mask, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (mask == LOG_GUEST_ERROR)
		ne_fuzz_guest_errors++;
}

#endif
