// SPDX-License-Identifier: GPL-2.0
/*
 * Enclave Image Format (EIF): parse, validate, checksum, measure and
 * serialize. See eif_format.h and README.rst.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
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

uint32_t eif_image_crc(const uint8_t *buf, size_t len)
{
	uint32_t crc = eif_crc32(0, buf, EIF_CRC_OFFSET);

	return eif_crc32(crc, buf + EIF_HDR_SIZE, len - EIF_HDR_SIZE);
}

void eif_seal(uint8_t *buf, size_t len)
{
	eif_put_be32(buf + EIF_CRC_OFFSET, eif_image_crc(buf, len));
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

__attribute__((format(printf, 4, 5)))
static void add_msg(struct eif_image *img, bool warn, unsigned int bit,
		    const char *fmt, ...)
{
	char (*msgs)[EIF_MSG_LEN] = warn ? img->warn : img->err;
	unsigned int *n = warn ? &img->nwarn : &img->nerr;
	va_list ap;

	img->errors |= bit;
	if (*n >= EIF_MAX_MSGS)
		return;
	if (*n == EIF_MAX_MSGS - 1) {
		snprintf(msgs[*n], EIF_MSG_LEN, "(further messages not shown)");
		(*n)++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msgs[*n], EIF_MSG_LEN, fmt, ap);
	va_end(ap);
	(*n)++;
}

#define add_err(img, bit, ...)	add_msg(img, false, bit, __VA_ARGS__)
#define add_warn(img, ...)	add_msg(img, true, 0, __VA_ARGS__)

static bool contains(const uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; n <= len && i <= len - n; i++)
		if (!memcmp(p + i, s, n))
			return true;
	return false;
}

static bool known_version(uint16_t v)
{
	return v >= EIF_VERSION_MIN && v <= EIF_VERSION_CURRENT;
}

/* Walk the section table; returns true if every section was read. */
static bool check_sections(const uint8_t *buf, struct eif_image *img)
{
	const struct eif_header *h = &img->hdr;
	uint64_t len = img->len, expected = EIF_HDR_SIZE;
	unsigned int i;

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
			return false;
		}
		s->offset = off;
		s->type = eif_get_be16(buf + off);
		s->flags = eif_get_be16(buf + off + 2);
		s->size = eif_get_be64(buf + off + 4);
		img->nsec = i + 1;

		if (s->size != size) {
			add_err(img, EIF_E_SIZE,
				"section %u: size %llu in section header differs from %llu in the header table",
				i, (unsigned long long)s->size,
				(unsigned long long)size);
			return false;
		}
		if (size > len - off - EIF_SEC_HDR_SIZE) {
			add_err(img, EIF_E_BOUNDS,
				"section %u (%s): data [%llu, +%llu) runs past the end of the file (%llu bytes)",
				i, eif_section_name(s->type),
				(unsigned long long)(off + EIF_SEC_HDR_SIZE),
				(unsigned long long)size,
				(unsigned long long)len);
			return false;
		}
		s->data = buf + off + EIF_SEC_HDR_SIZE;
		expected = off + EIF_SEC_HDR_SIZE + size;

		if (s->flags)
			add_err(img, EIF_E_SEC_FLAGS,
				"section %u: section header flags 0x%04x, must be 0",
				i, s->flags);
		if (s->type == EIF_SEC_INVALID || s->type > EIF_SEC_METADATA)
			add_err(img, EIF_E_SEC_TYPE,
				"section %u: %s section type %u",
				i, s->type ? "unknown" : "invalid", s->type);
		else if (!known_version(h->version))
			; /* reported once already */
		else if (s->type == EIF_SEC_SIGNATURE && h->version < 3)
			add_err(img, EIF_E_SEC_TYPE,
				"section %u: signature section in a version %u image (needs >= 3)",
				i, h->version);
		else if (s->type == EIF_SEC_METADATA && h->version < 4)
			add_err(img, EIF_E_SEC_TYPE,
				"section %u: metadata section in a version %u image (needs >= 4)",
				i, h->version);
	}
	if (len > expected)
		add_err(img, EIF_E_LAYOUT,
			"%llu bytes of trailing data after the last section (ends at %llu)",
			(unsigned long long)(len - expected),
			(unsigned long long)expected);
	return true;
}

/* Count and order of section types, and content warnings. */
static void check_section_set(struct eif_image *img)
{
	unsigned int i, nk = 0, nc = 0, nr = 0, ns = 0, nm = 0;
	static const char *const keys[] = {
		"\"ImageName\"", "\"ImageVersion\"", "\"BuildMetadata\"",
		"\"DockerInfo\"", "\"CustomMetadata\"",
	};

	for (i = 0; i < img->nsec; i++) {
		const struct eif_section *s = &img->sec[i];

		switch (s->type) {
		case EIF_SEC_KERNEL:
			nk++;
			break;
		case EIF_SEC_CMDLINE:
			nc++;
			break;
		case EIF_SEC_RAMDISK:
			if (!nk)
				add_err(img, EIF_E_SEC_SET,
					"section %u: ramdisk before the kernel section",
					i);
			nr++;
			break;
		case EIF_SEC_SIGNATURE:
			ns++;
			if (s->size > EIF_SIGNATURE_MAX_SIZE)
				add_err(img, EIF_E_SEC_SET,
					"section %u: signature of %llu bytes exceeds %u",
					i, (unsigned long long)s->size,
					EIF_SIGNATURE_MAX_SIZE);
			break;
		case EIF_SEC_METADATA: {
			unsigned int k;

			nm++;
			if (s->size == 4 && !memcmp(s->data, "null", 4))
				break;
			for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
				if (!contains(s->data, s->size, keys[k])) {
					add_warn(img,
						 "section %u: metadata lacks key %s; nitro-cli describe-eif would reject it",
						 i, keys[k]);
					break;
				}
			break;
		}
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

static void check_signature(struct eif_image *img);

int eif_check(const uint8_t *buf, size_t len, struct eif_image *img)
{
	const struct eif_header *h = &img->hdr;
	unsigned int i;
	bool walked = false;

	memset(img, 0, sizeof(*img));
	img->len = len;
	if (len < EIF_HDR_SIZE) {
		add_err(img, EIF_E_SHORT,
			"file is %zu bytes, shorter than the %u-byte header",
			len, EIF_HDR_SIZE);
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

	if (h->num_sections <= EIF_MAX_SECTIONS) {
		for (i = h->num_sections; i < EIF_MAX_SECTIONS; i++)
			if (h->section_offsets[i] || h->section_sizes[i]) {
				add_err(img, EIF_E_LAYOUT,
					"header table entry %u (beyond num_sections) is not zero",
					i);
				break;
			}
		walked = check_sections(buf, img);
		if (walked)
			check_section_set(img);
	}

	if (walked && !(img->errors & EIF_E_STRUCTURE)) {
		if (eif_measure(img))
			add_err(img, EIF_E_INTERNAL, "SHA-384 computation failed");
		else
			img->pcrs_valid = true;
		check_signature(img);
	}

	/* Last, so that a structural error is the first message. */
	img->crc_computed = eif_image_crc(buf, len);
	img->crc_ok = img->crc_computed == h->crc32;
	if (!img->crc_ok)
		add_err(img, EIF_E_CRC,
			"CRC mismatch: header says 0x%08x, computed 0x%08x",
			h->crc32, img->crc_computed);
	return img->errors ? 1 : 0;
}

int eif_measure(struct eif_image *img)
{
	EVP_MD_CTX *ctx[EIF_NUM_PCRS] = { NULL };
	uint8_t digest[EIF_PCR_SIZE];
	unsigned int i, n, nramdisk = 0;
	int ret = -1;

	for (i = 0; i < EIF_NUM_PCRS; i++) {
		ctx[i] = EVP_MD_CTX_new();
		if (!ctx[i] || !EVP_DigestInit_ex(ctx[i], EVP_sha384(), NULL))
			goto out;
	}
	for (i = 0; i < img->nsec; i++) {
		const struct eif_section *s = &img->sec[i];
		bool pcr1 = false, pcr2 = false;

		switch (s->type) {
		case EIF_SEC_KERNEL:
		case EIF_SEC_CMDLINE:
			pcr1 = true;
			break;
		case EIF_SEC_RAMDISK:
			if (nramdisk++ == 0)
				pcr1 = true;
			else
				pcr2 = true;
			break;
		default:
			continue;	/* metadata, signature: not measured */
		}
		if (!s->data)
			goto out;
		if (!EVP_DigestUpdate(ctx[0], s->data, s->size) ||
		    (pcr1 && !EVP_DigestUpdate(ctx[1], s->data, s->size)) ||
		    (pcr2 && !EVP_DigestUpdate(ctx[2], s->data, s->size)))
			goto out;
	}
	for (i = 0; i < EIF_NUM_PCRS; i++) {
		if (!EVP_DigestFinal_ex(ctx[i], digest, &n) ||
		    n != EIF_PCR_SIZE ||
		    eif_pcr_from_digest(digest, img->pcr[i]))
			goto out;
	}
	ret = 0;
out:
	for (i = 0; i < EIF_NUM_PCRS; i++)
		EVP_MD_CTX_free(ctx[i]);
	return ret;
}

/* Minimal CBOR reader: definite lengths only (that is what is written). */
struct cbor {
	const uint8_t *p, *end;
};

static int cbor_head(struct cbor *c, unsigned int *major, uint64_t *val)
{
	unsigned int ai, n, i;

	if (c->p >= c->end)
		return -1;
	*major = *c->p >> 5;
	ai = *c->p++ & 0x1f;
	if (ai < 24) {
		*val = ai;
		return 0;
	}
	if (ai > 27)
		return -1;	/* reserved or indefinite length */
	n = 1u << (ai - 24);
	if ((size_t)(c->end - c->p) < n)
		return -1;
	*val = 0;
	for (i = 0; i < n; i++)
		*val = (*val << 8) | *c->p++;
	return 0;
}

static int cbor_skip(struct cbor *c, unsigned int depth)
{
	unsigned int major;
	uint64_t val, i;

	if (depth > 16 || cbor_head(c, &major, &val))
		return -1;
	switch (major) {
	case 2:
	case 3:
		if (val > (uint64_t)(c->end - c->p))
			return -1;
		c->p += val;
		return 0;
	case 4:
	case 5:
		if (val > (uint64_t)(c->end - c->p))
			return -1;	/* every item takes at least a byte */
		if (major == 5)
			val *= 2;
		for (i = 0; i < val; i++)
			if (cbor_skip(c, depth + 1))
				return -1;
		return 0;
	case 6:
		return cbor_skip(c, depth + 1);
	default:	/* integers, simple values, floats */
		return 0;
	}
}

int eif_signature_certificate(const uint8_t *data, size_t len,
			      uint8_t **cert, size_t *cert_len,
			      const char **why)
{
	static const char key[] = "signing_certificate";
	struct cbor c = { data, data + len };
	unsigned int major;
	uint64_t n, entries, i, k;

	if (cbor_head(&c, &major, &n) || major != 4 || n < 1) {
		*why = "not a CBOR array with at least one entry";
		return -1;
	}
	if (cbor_head(&c, &major, &entries) || major != 5) {
		*why = "entry 0 is not a CBOR map";
		return -1;
	}
	for (i = 0; i < entries; i++) {
		if (cbor_head(&c, &major, &n) || major != 3 ||
		    n > (uint64_t)(c.end - c.p)) {
			*why = "map key is not a text string";
			return -1;
		}
		if (n != sizeof(key) - 1 || memcmp(c.p, key, n)) {
			c.p += n;
			if (cbor_skip(&c, 0)) {
				*why = "malformed CBOR";
				return -1;
			}
			continue;
		}
		c.p += n;
		if (cbor_head(&c, &major, &n) || major != 4 ||
		    n > (uint64_t)(c.end - c.p)) {
			*why = "signing_certificate is not an array";
			return -1;
		}
		*cert = malloc(n ? n : 1);
		if (!*cert) {
			*why = "out of memory";
			return -1;
		}
		for (k = 0; k < n; k++) {
			uint64_t b;

			if (cbor_head(&c, &major, &b) || major != 0 || b > 255) {
				free(*cert);
				*cert = NULL;
				*why = "signing_certificate holds a non-byte value";
				return -1;
			}
			(*cert)[k] = (uint8_t)b;
		}
		*cert_len = n;
		return 0;
	}
	*why = "no signing_certificate in entry 0";
	return -1;
}

int eif_certificate_pcr(const uint8_t *pem, size_t len,
			uint8_t pcr[EIF_PCR_SIZE])
{
	uint8_t digest[EIF_PCR_SIZE], *der = NULL;
	X509 *x = NULL;
	BIO *bio;
	int n, ret = -1;

	if (len > INT32_MAX)
		return -1;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return -1;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (x) {
		n = i2d_X509(x, &der);
		if (n > 0 && !eif_sha384(der, (size_t)n, digest) &&
		    !eif_pcr_from_digest(digest, pcr))
			ret = 0;
	}
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	return ret;
}

/* PCR8 from the signature section, if there is exactly one. */
static void check_signature(struct eif_image *img)
{
	const struct eif_section *sig = NULL;
	uint8_t *cert = NULL;
	size_t cert_len = 0;
	const char *why = NULL;
	unsigned int i;

	for (i = 0; i < img->nsec; i++) {
		if (img->sec[i].type != EIF_SEC_SIGNATURE)
			continue;
		if (sig)
			return;		/* already reported */
		sig = &img->sec[i];
	}
	if (!sig || !sig->data)
		return;
	if (eif_signature_certificate(sig->data, sig->size, &cert, &cert_len,
				      &why)) {
		add_err(img, EIF_E_SIGNATURE, "signature section: %s", why);
		return;
	}
	if (eif_certificate_pcr(cert, cert_len, img->pcr8))
		add_err(img, EIF_E_SIGNATURE,
			"signature section: signing_certificate is not a PEM X.509 certificate");
	else
		img->has_pcr8 = true;
	free(cert);
}

int eif_build(const struct eif_build_params *p, uint8_t **out, size_t *outlen)
{
	struct eif_header h;
	uint64_t total = EIF_HDR_SIZE;
	unsigned int i;
	uint8_t *buf;

	if (p->nsec == 0 || p->nsec > EIF_MAX_SECTIONS) {
		errno = EINVAL;
		return -1;
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, EIF_MAGIC, EIF_MAGIC_LEN);
	h.version = p->version;
	h.flags = p->flags;
	h.default_mem = p->default_mem;
	h.default_cpus = p->default_cpus;
	h.num_sections = (uint16_t)p->nsec;
	for (i = 0; i < p->nsec; i++) {
		uint64_t len = p->sec[i].len;

		if (len > SIZE_MAX - EIF_SEC_HDR_SIZE - total) {
			errno = EOVERFLOW;
			return -1;
		}
		h.section_offsets[i] = total;
		h.section_sizes[i] = len;
		total += EIF_SEC_HDR_SIZE + len;
	}
	buf = malloc(total);
	if (!buf)
		return -1;
	eif_write_header(buf, &h);
	for (i = 0; i < p->nsec; i++) {
		uint8_t *sh = buf + h.section_offsets[i];

		eif_put_be16(sh, p->sec[i].type);
		eif_put_be16(sh + 2, 0);
		eif_put_be64(sh + 4, p->sec[i].len);
		if (p->sec[i].len)
			memcpy(sh + EIF_SEC_HDR_SIZE, p->sec[i].data,
			       p->sec[i].len);
	}
	eif_seal(buf, total);
	*out = buf;
	*outlen = total;
	return 0;
}

/* A growing string. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->oom)
		return;
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;
		char *np;

		while (cap < sb->len + n + 1)
			cap *= 2;
		np = realloc(sb->p, cap);
		if (!np) {
			sb->oom = true;
			return;
		}
		sb->p = np;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void sb_str(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

/* A JSON string literal, escaped the way serde_json writes it. */
static void sb_json_string(struct sbuf *sb, const char *s)
{
	char esc[8];

	sb_add(sb, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '"':
			sb_str(sb, "\\\"");
			break;
		case '\\':
			sb_str(sb, "\\\\");
			break;
		case '\b':
			sb_str(sb, "\\b");
			break;
		case '\f':
			sb_str(sb, "\\f");
			break;
		case '\n':
			sb_str(sb, "\\n");
			break;
		case '\r':
			sb_str(sb, "\\r");
			break;
		case '\t':
			sb_str(sb, "\\t");
			break;
		default:
			if (c < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				sb_str(sb, esc);
			} else {
				sb_add(sb, (const char *)&c, 1);
			}
		}
	}
	sb_add(sb, "\"", 1);
}

char *eif_metadata_json(const struct eif_metadata *m)
{
	struct sbuf sb = { 0 };

	sb_str(&sb, "{\"ImageName\":");
	sb_json_string(&sb, m->image_name);
	sb_str(&sb, ",\"ImageVersion\":");
	sb_json_string(&sb, m->image_version);
	sb_str(&sb, ",\"BuildMetadata\":{\"BuildTime\":");
	sb_json_string(&sb, m->build_time);
	sb_str(&sb, ",\"BuildTool\":");
	sb_json_string(&sb, m->build_tool);
	sb_str(&sb, ",\"BuildToolVersion\":");
	sb_json_string(&sb, m->build_tool_version);
	sb_str(&sb, ",\"OperatingSystem\":");
	sb_json_string(&sb, m->operating_system);
	sb_str(&sb, ",\"KernelVersion\":");
	sb_json_string(&sb, m->kernel_version);
	sb_str(&sb, "},\"DockerInfo\":");
	sb_str(&sb, m->docker_info ? m->docker_info : "null");
	sb_str(&sb, ",\"CustomMetadata\":");
	sb_str(&sb, m->custom ? m->custom : "null");
	sb_str(&sb, "}");
	if (sb.oom) {
		free(sb.p);
		return NULL;
	}
	return sb.p;
}
