// SPDX-License-Identifier: GPL-2.0
/*
 * EIF files in memory, for the eif tool: the whole-file check on top of
 * the shared parser (eif_format.c), the signature section and PCR8,
 * serialization and the metadata JSON. See eif_file.h and README.rst.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "eif_file.h"

uint32_t eif_image_crc(const uint8_t *buf, size_t len)
{
	uint32_t crc = eif_crc32(0, buf, EIF_CRC_OFFSET);

	return eif_crc32(crc, buf + EIF_HDR_SIZE, len - EIF_HDR_SIZE);
}

void eif_seal(uint8_t *buf, size_t len)
{
	eif_put_be32(buf + EIF_CRC_OFFSET, eif_image_crc(buf, len));
}

static bool contains(const uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; n <= len && i <= len - n; i++)
		if (!memcmp(p + i, s, n))
			return true;
	return false;
}

/* Metadata that nitro-cli describe-eif cannot read: a warning only. */
static void check_metadata(struct eif_image *img)
{
	static const char *const keys[] = {
		"\"ImageName\"", "\"ImageVersion\"", "\"BuildMetadata\"",
		"\"DockerInfo\"", "\"CustomMetadata\"",
	};
	unsigned int i, k;

	for (i = 0; i < img->nsec; i++) {
		const struct eif_section *s = &img->sec[i];

		if (s->type != EIF_SEC_METADATA || !s->data)
			continue;
		if (s->size == 4 && !memcmp(s->data, "null", 4))
			continue;
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (!contains(s->data, s->size, keys[k])) {
				eif_add_warning(img,
						"section %u: metadata lacks key %s; nitro-cli describe-eif would reject it",
						i, keys[k]);
				break;
			}
	}
}

static void check_signature(struct eif_image *img);

int eif_check(const uint8_t *buf, size_t len, struct eif_image *img)
{
	struct eif_buf_reader br;
	unsigned int i;

	eif_buf_reader_init(&br, buf, len);
	eif_parse(&br.r, EIF_WHOLE, img);
	if (img->errors & EIF_E_SHORT)
		return 1;
	for (i = 0; i < img->nsec; i++)
		if (img->sec[i].in_bounds)
			img->sec[i].data = buf + img->sec[i].offset +
					   EIF_SEC_HDR_SIZE;
	if (img->walked)
		check_metadata(img);
	if (!(img->errors & EIF_E_STRUCTURE)) {
		eif_measure(&br.r, img);
		check_signature(img);
	}
	/* Last, so that a structural error is the first message. */
	eif_check_crc(&br.r, EIF_WHOLE, img);
	return img->errors ? 1 : 0;
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

int eif_signature_field(const uint8_t *data, size_t len, const char *key,
			uint8_t **out, size_t *out_len, const char **why)
{
	static char msg[96];
	struct cbor c = { data, data + len };
	size_t klen = strlen(key);
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
		if (n != klen || memcmp(c.p, key, n)) {
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
			snprintf(msg, sizeof(msg), "%s is not an array", key);
			*why = msg;
			return -1;
		}
		*out = malloc(n ? n : 1);
		if (!*out) {
			*why = "out of memory";
			return -1;
		}
		for (k = 0; k < n; k++) {
			uint64_t b;

			if (cbor_head(&c, &major, &b) || major != 0 || b > 255) {
				free(*out);
				*out = NULL;
				snprintf(msg, sizeof(msg),
					 "%s holds a non-byte value", key);
				*why = msg;
				return -1;
			}
			(*out)[k] = (uint8_t)b;
		}
		*out_len = n;
		return 0;
	}
	snprintf(msg, sizeof(msg), "no %s in entry 0", key);
	*why = msg;
	return -1;
}

int eif_signature_certificate(const uint8_t *data, size_t len,
			      uint8_t **cert, size_t *cert_len,
			      const char **why)
{
	return eif_signature_field(data, len, "signing_certificate", cert,
				   cert_len, why);
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
		eif_add_error(img, EIF_E_SIGNATURE, "signature section: %s", why);
		return;
	}
	if (eif_certificate_pcr(cert, cert_len, img->pcr8))
		eif_add_error(img, EIF_E_SIGNATURE,
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
