// SPDX-License-Identifier: GPL-2.0
/*
 * Enclave Image Format (EIF): parse, validate, measure and read sections
 * through a read callback. Shared by the eif tool and the QEMU device
 * model; see eif_format.h and README.rst.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "eif_format.h"

/* Header field offsets. */
#define OFF_MAGIC	0
#define OFF_VERSION	4
#define OFF_FLAGS	6
#define OFF_MEM		8
#define OFF_CPUS	16
#define OFF_RESERVED	24
#define OFF_NUM		26
#define OFF_OFFSETS	28
#define OFF_SIZES	284
#define OFF_UNUSED	540

_Static_assert(OFF_OFFSETS + 8 * EIF_MAX_SECTIONS == OFF_SIZES, "offsets");
_Static_assert(OFF_SIZES + 8 * EIF_MAX_SECTIONS == OFF_UNUSED, "sizes");
_Static_assert(OFF_UNUSED + 4 == EIF_CRC_OFFSET, "crc offset");
_Static_assert(EIF_CRC_OFFSET + 4 == EIF_HDR_SIZE, "header size");

uint16_t eif_get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t eif_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

uint64_t eif_get_be64(const uint8_t *p)
{
	return ((uint64_t)eif_get_be32(p) << 32) | eif_get_be32(p + 4);
}

void eif_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void eif_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void eif_put_be64(uint8_t *p, uint64_t v)
{
	eif_put_be32(p, (uint32_t)(v >> 32));
	eif_put_be32(p + 4, (uint32_t)v);
}

const char *eif_section_name(uint16_t type)
{
	switch (type) {
	case EIF_SEC_INVALID:
		return "invalid";
	case EIF_SEC_KERNEL:
		return "kernel";
	case EIF_SEC_CMDLINE:
		return "cmdline";
	case EIF_SEC_RAMDISK:
		return "ramdisk";
	case EIF_SEC_SIGNATURE:
		return "signature";
	case EIF_SEC_METADATA:
		return "metadata";
	default:
		return "unknown";
	}
}

void eif_parse_header(const uint8_t *buf, struct eif_header *hdr)
{
	unsigned int i;

	memcpy(hdr->magic, buf + OFF_MAGIC, EIF_MAGIC_LEN);
	hdr->version = eif_get_be16(buf + OFF_VERSION);
	hdr->flags = eif_get_be16(buf + OFF_FLAGS);
	hdr->default_mem = eif_get_be64(buf + OFF_MEM);
	hdr->default_cpus = eif_get_be64(buf + OFF_CPUS);
	hdr->reserved = eif_get_be16(buf + OFF_RESERVED);
	hdr->num_sections = eif_get_be16(buf + OFF_NUM);
	for (i = 0; i < EIF_MAX_SECTIONS; i++) {
		hdr->section_offsets[i] = eif_get_be64(buf + OFF_OFFSETS + 8 * i);
		hdr->section_sizes[i] = eif_get_be64(buf + OFF_SIZES + 8 * i);
	}
	hdr->unused = eif_get_be32(buf + OFF_UNUSED);
	hdr->crc32 = eif_get_be32(buf + EIF_CRC_OFFSET);
}

void eif_write_header(uint8_t *buf, const struct eif_header *hdr)
{
	unsigned int i;

	memcpy(buf + OFF_MAGIC, hdr->magic, EIF_MAGIC_LEN);
	eif_put_be16(buf + OFF_VERSION, hdr->version);
	eif_put_be16(buf + OFF_FLAGS, hdr->flags);
	eif_put_be64(buf + OFF_MEM, hdr->default_mem);
	eif_put_be64(buf + OFF_CPUS, hdr->default_cpus);
	eif_put_be16(buf + OFF_RESERVED, hdr->reserved);
	eif_put_be16(buf + OFF_NUM, hdr->num_sections);
	for (i = 0; i < EIF_MAX_SECTIONS; i++) {
		eif_put_be64(buf + OFF_OFFSETS + 8 * i, hdr->section_offsets[i]);
		eif_put_be64(buf + OFF_SIZES + 8 * i, hdr->section_sizes[i]);
	}
	eif_put_be32(buf + OFF_UNUSED, hdr->unused);
	eif_put_be32(buf + EIF_CRC_OFFSET, hdr->crc32);
}

uint32_t eif_crc32(uint32_t crc, const uint8_t *p, size_t len)
{
	uLong c = crc;

	/* zlib's crc32() takes a uInt length: feed large buffers in pieces. */
	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}

int eif_sha384(const void *p, size_t len, uint8_t out[EIF_PCR_SIZE])
{
	unsigned int n = 0;

	if (!EVP_Digest(p, len, out, &n, EVP_sha384(), NULL) ||
	    n != EIF_PCR_SIZE)
		return -1;
	return 0;
}

int eif_pcr_from_digest(const uint8_t digest[EIF_PCR_SIZE],
			uint8_t pcr[EIF_PCR_SIZE])
{
	uint8_t in[2 * EIF_PCR_SIZE];

	memset(in, 0, EIF_PCR_SIZE);
	memcpy(in + EIF_PCR_SIZE, digest, EIF_PCR_SIZE);
	return eif_sha384(in, sizeof(in), pcr);
}

void eif_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int buf_read(void *opaque, uint64_t off, void *buf, size_t len)
{
	const struct eif_buf_reader *br = opaque;

	if (off > br->len || len > br->len - off)
		return -1;
	memcpy(buf, br->buf + off, len);
	return 0;
}

void eif_buf_reader_init(struct eif_buf_reader *br, const uint8_t *buf,
			 size_t len)
{
	br->buf = buf;
	br->len = len;
	br->r.read = buf_read;
	br->r.opaque = br;
	br->r.size = len;
}

/* Read [off, off + len) of the image, which the caller checked is inside. */
static int img_read(const struct eif_reader *r, uint64_t off, void *buf,
		    size_t len)
{
	if (off > r->size || len > r->size - off)
		return -1;
	return r->read(r->opaque, off, buf, len);
}

static void add_msg(struct eif_image *img, bool warn, unsigned int bit,
		    const char *fmt, va_list ap)
{
	char (*msgs)[EIF_MSG_LEN] = warn ? img->warn : img->err;
	unsigned int *n = warn ? &img->nwarn : &img->nerr;

	if (bit && !img->first_error)
		img->first_error = bit;
	img->errors |= bit;
	if (*n >= EIF_MAX_MSGS)
		return;
	if (*n == EIF_MAX_MSGS - 1) {
		snprintf(msgs[*n], EIF_MSG_LEN, "(further messages not shown)");
		(*n)++;
		return;
	}
	vsnprintf(msgs[*n], EIF_MSG_LEN, fmt, ap);
	(*n)++;
}

void eif_add_error(struct eif_image *img, unsigned int bit,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_msg(img, false, bit, fmt, ap);
	va_end(ap);
}

void eif_add_warning(struct eif_image *img, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_msg(img, true, 0, fmt, ap);
	va_end(ap);
}

#define add_err		eif_add_error
#define add_warn	eif_add_warning

static bool known_version(uint16_t v)
{
	return v >= EIF_VERSION_MIN && v <= EIF_VERSION_CURRENT;
}

/* Checks of one section that need only its header (and what precedes it). */
static void check_section_type(struct eif_image *img, unsigned int i,
			       unsigned int nkernel)
{
	const struct eif_section *s = &img->sec[i];
	uint16_t version = img->hdr.version;

	if (s->flags)
		add_err(img, EIF_E_SEC_FLAGS,
			"section %u: section header flags 0x%04x, must be 0",
			i, s->flags);
	if (s->type == EIF_SEC_INVALID || s->type > EIF_SEC_METADATA)
		add_err(img, EIF_E_SEC_TYPE,
			"section %u: %s section type %u",
			i, s->type ? "unknown" : "invalid", s->type);
	else if (!known_version(version))
		; /* reported once already */
	else if (s->type == EIF_SEC_SIGNATURE && version < 3)
		add_err(img, EIF_E_SEC_TYPE,
			"section %u: signature section in a version %u image (needs >= 3)",
			i, version);
	else if (s->type == EIF_SEC_METADATA && version < 4)
		add_err(img, EIF_E_SEC_TYPE,
			"section %u: metadata section in a version %u image (needs >= 4)",
			i, version);

	if (s->type == EIF_SEC_RAMDISK && !nkernel)
		add_err(img, EIF_E_SEC_SET,
			"section %u: ramdisk before the kernel section", i);
	if (s->type == EIF_SEC_SIGNATURE && s->size > EIF_SIGNATURE_MAX_SIZE)
		add_err(img, EIF_E_SEC_SET,
			"section %u: signature of %llu bytes exceeds %u",
			i, (unsigned long long)s->size,
			EIF_SIGNATURE_MAX_SIZE);
}

/*
 * Walk the section table. Stops at the first section whose header or data
 * is not inside the image or cannot be read (an EIF_E_STRUCTURE error).
 */
static void check_sections(const struct eif_reader *r, unsigned int flags,
			   struct eif_image *img)
{
	const struct eif_header *h = &img->hdr;
	uint64_t len = r->size, expected = EIF_HDR_SIZE;
	uint8_t sh[EIF_SEC_HDR_SIZE];
	unsigned int i, nkernel = 0;

	for (i = 0; i < h->num_sections; i++) {
		struct eif_section *s = &img->sec[i];
		uint64_t off = h->section_offsets[i];
		uint64_t size = h->section_sizes[i];

		if (off < expected)
			add_err(img, EIF_E_LAYOUT,
				"section %u: offset %llu overlaps what precedes it (expected %llu)",
				i, (unsigned long long)off,
				(unsigned long long)expected);
		else if (off > expected)
			add_err(img, EIF_E_LAYOUT,
				"section %u: offset %llu leaves a gap of %llu bytes (expected %llu)",
				i, (unsigned long long)off,
				(unsigned long long)(off - expected),
				(unsigned long long)expected);

		if (off > len || len - off < EIF_SEC_HDR_SIZE) {
			add_err(img, EIF_E_BOUNDS,
				"section %u: header at offset %llu is past the end of the file (%llu bytes)",
				i, (unsigned long long)off,
				(unsigned long long)len);
			return;
		}
		if (img_read(r, off, sh, sizeof(sh))) {
			add_err(img, EIF_E_READ,
				"section %u: header at offset %llu cannot be read",
				i, (unsigned long long)off);
			return;
		}
		s->offset = off;
		s->type = eif_get_be16(sh);
		s->flags = eif_get_be16(sh + 2);
		s->size = eif_get_be64(sh + 4);
		img->nsec = i + 1;

		if (s->size != size) {
			add_err(img, EIF_E_SIZE,
				"section %u: size %llu in section header differs from %llu in the header table",
				i, (unsigned long long)s->size,
				(unsigned long long)size);
			return;
		}
		if (size > len - off - EIF_SEC_HDR_SIZE) {
			add_err(img, EIF_E_BOUNDS,
				"section %u (%s): data [%llu, +%llu) runs past the end of the file (%llu bytes)",
				i, eif_section_name(s->type),
				(unsigned long long)(off + EIF_SEC_HDR_SIZE),
				(unsigned long long)size,
				(unsigned long long)len);
			return;
		}
		s->in_bounds = true;
		expected = off + EIF_SEC_HDR_SIZE + size;
		img->end = expected;

		check_section_type(img, i, nkernel);
		if (s->type == EIF_SEC_KERNEL)
			nkernel++;
	}
	img->walked = true;
	if ((flags & EIF_WHOLE) && len > expected)
		add_err(img, EIF_E_LAYOUT,
			"%llu bytes of trailing data after the last section (ends at %llu)",
			(unsigned long long)(len - expected),
			(unsigned long long)expected);
}

/* How many sections of each type; the order was checked in the walk. */
static void check_section_set(struct eif_image *img)
{
	unsigned int i, nk = 0, nc = 0, nr = 0, ns = 0, nm = 0;

	for (i = 0; i < img->nsec; i++) {
		switch (img->sec[i].type) {
		case EIF_SEC_KERNEL:
			nk++;
			break;
		case EIF_SEC_CMDLINE:
			nc++;
			break;
		case EIF_SEC_RAMDISK:
			nr++;
			break;
		case EIF_SEC_SIGNATURE:
			ns++;
			break;
		case EIF_SEC_METADATA:
			nm++;
			break;
		}
	}
	if (nk != 1)
		add_err(img, EIF_E_SEC_SET,
			"%u kernel sections, need exactly 1", nk);
	if (nc != 1)
		add_err(img, EIF_E_SEC_SET,
			"%u cmdline sections, need exactly 1", nc);
	if (nr < 1)
		add_err(img, EIF_E_SEC_SET, "no ramdisk section, need at least 1");
	if (ns > 1)
		add_err(img, EIF_E_SEC_SET,
			"%u signature sections, at most 1 allowed", ns);
	if (!known_version(img->hdr.version))
		return;	/* the version decides what else is required */
	if (img->hdr.version >= 4 && nm != 1)
		add_err(img, EIF_E_SEC_SET,
			"%u metadata sections, a version %u image needs exactly 1",
			nm, img->hdr.version);
	else if (nm > 1)
		add_err(img, EIF_E_SEC_SET,
			"%u metadata sections, at most 1 allowed", nm);
}

int eif_parse(const struct eif_reader *r, unsigned int flags,
	      struct eif_image *img)
{
	const struct eif_header *h = &img->hdr;
	uint8_t buf[EIF_HDR_SIZE];
	unsigned int i;

	memset(img, 0, sizeof(*img));
	img->len = r->size;
	if (r->size < EIF_HDR_SIZE) {
		add_err(img, EIF_E_SHORT,
			"file is %llu bytes, shorter than the %u-byte header",
			(unsigned long long)r->size, EIF_HDR_SIZE);
		return 1;
	}
	if (img_read(r, 0, buf, sizeof(buf))) {
		add_err(img, EIF_E_READ, "the header cannot be read");
		return 1;
	}
	eif_parse_header(buf, &img->hdr);

	if (memcmp(h->magic, EIF_MAGIC, EIF_MAGIC_LEN))
		add_err(img, EIF_E_MAGIC,
			"bad magic %02x%02x%02x%02x, expected 2e656966 (\".eif\")",
			h->magic[0], h->magic[1], h->magic[2], h->magic[3]);

	if (!known_version(h->version))
		add_err(img, EIF_E_VERSION,
			"unsupported version %u (supported: %u..%u)",
			h->version, EIF_VERSION_MIN, EIF_VERSION_CURRENT);
	else if (h->version < EIF_VERSION_CURRENT)
		add_warn(img,
			 "version %u: QEMU's nitro-enclave machine accepts only version 4",
			 h->version);
	if (h->flags & ~EIF_FLAG_ARCH_ARM64)
		add_warn(img, "reserved header flag bits set (flags 0x%04x)",
			 h->flags);

	if (h->num_sections < EIF_MIN_SECTIONS ||
	    h->num_sections > EIF_MAX_SECTIONS)
		add_err(img, EIF_E_NUM_SECTIONS,
			"num_sections %u outside %u..%u",
			h->num_sections, EIF_MIN_SECTIONS, EIF_MAX_SECTIONS);
	if (h->num_sections > EIF_MAX_SECTIONS)
		return 1;

	for (i = h->num_sections; i < EIF_MAX_SECTIONS; i++)
		if (h->section_offsets[i] || h->section_sizes[i]) {
			add_err(img, EIF_E_LAYOUT,
				"header table entry %u (beyond num_sections) is not zero",
				i);
			break;
		}
	check_sections(r, flags, img);
	if (img->walked)
		check_section_set(img);
	return img->errors ? 1 : 0;
}

/* Feed [off, off + len) of the image to the CRC and the digests in mask. */
static int feed(const struct eif_reader *r, uint64_t off, uint64_t len,
		uint8_t *buf, uint32_t *crc, EVP_MD_CTX **ctx,
		unsigned int mask)
{
	unsigned int i;

	while (len) {
		size_t n = len < EIF_READ_CHUNK ? (size_t)len : EIF_READ_CHUNK;

		if (img_read(r, off, buf, n))
			return -1;
		if (crc)
			*crc = eif_crc32(*crc, buf, n);
		for (i = 0; i < EIF_NUM_PCRS; i++)
			if ((mask & (1u << i)) &&
			    !EVP_DigestUpdate(ctx[i], buf, n))
				return -2;
		off += n;
		len -= n;
	}
	return 0;
}

/* Which PCRs section i feeds (bit n: PCRn); 0 for unmeasured sections. */
static unsigned int pcr_mask(uint16_t type, unsigned int *nramdisk)
{
	switch (type) {
	case EIF_SEC_KERNEL:
	case EIF_SEC_CMDLINE:
		return 1u << 0 | 1u << 1;
	case EIF_SEC_RAMDISK:
		return (*nramdisk)++ ? (1u << 0 | 1u << 2) : (1u << 0 | 1u << 1);
	default:
		return 0;	/* metadata, signature: not measured */
	}
}

int eif_measure(const struct eif_reader *r, struct eif_image *img)
{
	EVP_MD_CTX *ctx[EIF_NUM_PCRS] = { NULL };
	uint8_t digest[EIF_PCR_SIZE], hdr[EIF_HDR_SIZE], *buf;
	unsigned int i, n, nramdisk = 0;
	uint32_t crc;
	int ret = -1, rc;

	img->pcrs_valid = false;
	if (img->errors & EIF_E_STRUCTURE) {
		add_err(img, EIF_E_INTERNAL, "measuring an unusable section list");
		return -1;
	}
	buf = malloc(EIF_READ_CHUNK);
	if (!buf) {
		add_err(img, EIF_E_INTERNAL, "out of memory");
		return -1;
	}
	for (i = 0; i < EIF_NUM_PCRS; i++) {
		ctx[i] = EVP_MD_CTX_new();
		if (!ctx[i] || !EVP_DigestInit_ex(ctx[i], EVP_sha384(), NULL))
			goto err_crypto;
	}
	/* The header as parsed (not read again): CRC of bytes 0..543. */
	eif_write_header(hdr, &img->hdr);
	crc = eif_crc32(0, hdr, EIF_CRC_OFFSET);
	for (i = 0; i < img->nsec; i++) {
		const struct eif_section *s = &img->sec[i];
		uint8_t sh[EIF_SEC_HDR_SIZE];

		if (!s->in_bounds) {
			add_err(img, EIF_E_INTERNAL,
				"section %u is outside the image", i);
			goto out;
		}
		/* The section header as parsed, not read again. */
		eif_put_be16(sh, s->type);
		eif_put_be16(sh + 2, s->flags);
		eif_put_be64(sh + 4, s->size);
		crc = eif_crc32(crc, sh, sizeof(sh));
		rc = feed(r, s->offset + EIF_SEC_HDR_SIZE, s->size, buf, &crc,
			  ctx, pcr_mask(s->type, &nramdisk));
		if (rc == -1)
			goto err_read;
		if (rc)
			goto err_crypto;
	}
	for (i = 0; i < EIF_NUM_PCRS; i++) {
		if (!EVP_DigestFinal_ex(ctx[i], digest, &n) ||
		    n != EIF_PCR_SIZE ||
		    eif_pcr_from_digest(digest, img->pcr[i]))
			goto err_crypto;
	}
	img->sections_crc = crc;
	img->pcrs_valid = true;
	ret = 0;
	goto out;

err_read:
	add_err(img, EIF_E_READ, "section data cannot be read");
	goto out;
err_crypto:
	add_err(img, EIF_E_INTERNAL, "SHA-384 computation failed");
out:
	for (i = 0; i < EIF_NUM_PCRS; i++)
		EVP_MD_CTX_free(ctx[i]);
	free(buf);
	if (ret)
		memset(img->pcr, 0, sizeof(img->pcr));
	return ret;
}

/* CRC of header bytes 0..543 and of everything from byte 548 on. */
static int whole_crc(const struct eif_reader *r, uint32_t *crc)
{
	uint8_t *buf = malloc(EIF_READ_CHUNK);
	int ret = -1;

	if (!buf)
		return -2;
	if (r->size >= EIF_HDR_SIZE && !img_read(r, 0, buf, EIF_CRC_OFFSET)) {
		*crc = eif_crc32(0, buf, EIF_CRC_OFFSET);
		ret = feed(r, EIF_HDR_SIZE, r->size - EIF_HDR_SIZE, buf, crc,
			   NULL, 0);
	}
	free(buf);
	return ret;
}

int eif_check_crc(const struct eif_reader *r, unsigned int flags,
		  struct eif_image *img)
{
	const struct eif_header *h = &img->hdr;
	int rc;

	img->crc_ok = false;
	if (img->errors & (EIF_E_SHORT | EIF_E_READ))
		return -1;	/* no header, or bytes we cannot read */
	if (flags & EIF_WHOLE) {
		rc = whole_crc(r, &img->crc_computed);
		if (rc) {
			add_err(img, rc == -1 ? EIF_E_READ : EIF_E_INTERNAL,
				"the image cannot be read for its CRC");
			return -1;
		}
	} else if (img->pcrs_valid) {
		img->crc_computed = img->sections_crc;
	} else {
		return -1;
	}
	img->crc_ok = img->crc_computed == h->crc32;
	if (!img->crc_ok) {
		add_err(img, EIF_E_CRC,
			"CRC mismatch: header says 0x%08x, computed 0x%08x",
			h->crc32, img->crc_computed);
		return -1;
	}
	return 0;
}

int eif_verify(const struct eif_reader *r, unsigned int flags,
	       struct eif_image *img)
{
	eif_parse(r, flags, img);
	if (!(img->errors & EIF_E_STRUCTURE))
		eif_measure(r, img);
	eif_check_crc(r, flags, img);
	return img->errors ? 1 : 0;
}

int eif_find_section(const struct eif_image *img, uint16_t type,
		     unsigned int from)
{
	unsigned int i;

	for (i = from; i < img->nsec && i < EIF_MAX_SECTIONS; i++)
		if (img->sec[i].type == type && img->sec[i].in_bounds)
			return (int)i;
	return -1;
}

int eif_section_read(const struct eif_reader *r, const struct eif_image *img,
		     unsigned int idx, uint64_t off, void *buf, size_t len)
{
	const struct eif_section *s;

	if (idx >= img->nsec || idx >= EIF_MAX_SECTIONS)
		return -1;
	s = &img->sec[idx];
	if (!s->in_bounds || off > s->size || len > s->size - off)
		return -1;
	/* in_bounds: offset + 12 + size <= r->size, so this cannot wrap. */
	return img_read(r, s->offset + EIF_SEC_HDR_SIZE + off, buf, len);
}
