/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's "qemu/bswap.h": the little-endian loads and stores
 * of nitro_enclaves_core.c, byte by byte, whatever the host.
 */
#ifndef NE_FUZZ_QEMU_BSWAP_H
#define NE_FUZZ_QEMU_BSWAP_H

static inline uint64_t ne_fuzz_ld_le(const void *p, unsigned int n)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	while (n--)
		v = v << 8 | b[n];
	return v;
}

static inline void ne_fuzz_st_le(void *p, uint64_t v, unsigned int n)
{
	uint8_t *b = p;
	unsigned int i;

	for (i = 0; i < n; i++, v >>= 8)
		b[i] = v;
}

static inline uint64_t ldq_le_p(const void *p) { return ne_fuzz_ld_le(p, 8); }
static inline int ldl_le_p(const void *p) { return ne_fuzz_ld_le(p, 4); }
static inline void stq_le_p(void *p, uint64_t v) { ne_fuzz_st_le(p, v, 8); }
static inline void stl_le_p(void *p, uint32_t v) { ne_fuzz_st_le(p, v, 4); }
static inline void stw_le_p(void *p, uint16_t v) { ne_fuzz_st_le(p, v, 2); }

#endif
