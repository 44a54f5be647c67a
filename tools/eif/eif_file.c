// SPDX-License-Identifier: GPL-2.0
/*
 * EIF files in memory, for the eif tool: the whole-file check on top of
 * the shared parser (eif_format.c), the signature section and PCR8 (CBOR
 * and COSE through libcbor), serialization and the metadata JSON (json-c).
 * See eif_file.h and README.rst.
 */
#define _POSIX_C_SOURCE 200809L	/* strdup() */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <json-c/json.h>
#include <json-c/json_visit.h>
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

/* Metadata that nitro-cli describe-eif cannot read: a warning only. */
static void check_metadata(struct eif_image *img)
{
	static const char *const keys[] = {
		"ImageName", "ImageVersion", "BuildMetadata", "DockerInfo",
		"CustomMetadata",
	};
	struct json_object *md;
	const char *why;
	unsigned int i, k;

	for (i = 0; i < img->nsec; i++) {
		const struct eif_section *s = &img->sec[i];

		if (s->type != EIF_SEC_METADATA || !s->data)
			continue;
		if (eif_json_parse(s->data, s->size, &md, &why)) {
			eif_add_warning(img,
					"section %u: metadata is not JSON (%s); nitro-cli describe-eif would reject it",
					i, why);
			continue;
		}
		for (k = 0; md && k < sizeof(keys) / sizeof(keys[0]); k++)
			if (!json_object_object_get_ex(md, keys[k], NULL)) {
				eif_add_warning(img,
						"section %u: metadata lacks key \"%s\"; nitro-cli describe-eif would reject it",
						i, keys[k]);
				break;
			}
		json_object_put(md);
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

/* ---- CBOR (libcbor) ---------------------------------------------------- */

/* What the pass over the heads learns from one head. */
struct head_info {
	size_t items;		/* items that an array, map or tag opens */
	bool indefinite;
};

static void head_array(void *ctx, size_t n)
{
	((struct head_info *)ctx)->items = n;
}

static void head_map(void *ctx, size_t n)
{
	((struct head_info *)ctx)->items = n > SIZE_MAX / 2 ? SIZE_MAX : 2 * n;
}

static void head_tag(void *ctx, uint64_t tag)
{
	(void)tag;
	((struct head_info *)ctx)->items = 1;
}

static void head_indefinite(void *ctx)
{
	((struct head_info *)ctx)->indefinite = true;
}

/*
 * Walk the heads of the first item with libcbor's streaming decoder, which
 * builds nothing, and keep what cbor_load() will allocate bounded: returns
 * the length of the item, or 0 with *why set.
 */
static size_t heads_bounded(const uint8_t *data, size_t len, const char **why)
{
	struct cbor_callbacks cb = cbor_empty_callbacks;
	size_t todo[EIF_CBOR_MAX_DEPTH + 1], off = 0;
	unsigned int depth = 0;

	cb.array_start = head_array;
	cb.map_start = head_map;
	cb.tag = head_tag;
	cb.indef_array_start = head_indefinite;
	cb.indef_map_start = head_indefinite;
	cb.byte_string_start = head_indefinite;
	cb.string_start = head_indefinite;
	cb.indef_break = head_indefinite;
	if (len > EIF_CBOR_MAX_SIZE) {
		*why = "CBOR larger than 64 KiB";
		return 0;
	}
	todo[0] = 1;		/* the item itself */
	for (;;) {
		struct head_info h = { 0 };
		struct cbor_decoder_result r;

		if (off == len) {
			*why = "truncated CBOR";
			return 0;
		}
		r = cbor_stream_decode(data + off, len - off, &cb, &h);
		if (r.status == CBOR_DECODER_NEDATA) {
			*why = "truncated CBOR";
			return 0;
		}
		if (r.status != CBOR_DECODER_FINISHED) {
			*why = "malformed CBOR";
			return 0;
		}
		if (h.indefinite) {
			*why = "CBOR with indefinite lengths";
			return 0;
		}
		off += r.read;
		todo[depth]--;
		if (h.items) {
			/* Every item takes at least a byte. */
			if (h.items > len - off) {
				*why = "CBOR array or map longer than its input";
				return 0;
			}
			if (depth == EIF_CBOR_MAX_DEPTH) {
				*why = "CBOR nested too deeply";
				return 0;
			}
			todo[++depth] = h.items;
		}
		while (!todo[depth]) {
			if (!depth)
				return off;
			depth--;
		}
	}
}

struct cbor_item_t *eif_cbor_load(const uint8_t *data, size_t len,
				  const char **why)
{
	struct cbor_load_result r;
	cbor_item_t *item;
	size_t n = heads_bounded(data, len, why);

	if (!n)
		return NULL;
	item = cbor_load(data, n, &r);
	if (!item)
		*why = r.error.code == CBOR_ERR_MEMERROR ? "out of memory" :
							    "malformed CBOR";
	return item;
}

static bool text_is(const cbor_item_t *item, const char *s)
{
	size_t n = strlen(s);

	return cbor_isa_string(item) && cbor_string_length(item) == n &&
	       (!n || !memcmp(cbor_string_handle(item), s, n));
}

/*
 * A Vec<u8> as serde_cbor writes it, an array of unsigned integers below
 * 256, into out (cbor_array_size() bytes). Returns 0, or -1.
 */
static int byte_array(const cbor_item_t *array, uint8_t *out)
{
	cbor_item_t **v = cbor_array_handle(array);
	size_t i;

	for (i = 0; i < cbor_array_size(array); i++) {
		if (!cbor_isa_uint(v[i]) || cbor_get_int(v[i]) > 255)
			return -1;
		out[i] = (uint8_t)cbor_get_int(v[i]);
	}
	return 0;
}

int eif_signature_field(const uint8_t *data, size_t len, const char *key,
			uint8_t **out, size_t *out_len, const char **why)
{
	static char msg[96];
	cbor_item_t *root = eif_cbor_load(data, len, why);
	const cbor_item_t *entry, *val = NULL;
	struct cbor_pair *pairs;
	size_t i, n;
	int ret = -1;

	if (!root)
		return -1;
	if (!cbor_isa_array(root) || !cbor_array_size(root)) {
		*why = "not a CBOR array with at least one entry";
		goto out;
	}
	entry = cbor_array_handle(root)[0];
	if (!cbor_isa_map(entry)) {
		*why = "entry 0 is not a CBOR map";
		goto out;
	}
	pairs = cbor_map_handle(entry);
	for (i = 0; i < cbor_map_size(entry); i++) {
		if (!cbor_isa_string(pairs[i].key)) {
			*why = "map key is not a text string";
			goto out;
		}
		if (!val && text_is(pairs[i].key, key))
			val = pairs[i].value;
	}
	if (!val) {
		snprintf(msg, sizeof(msg), "no %s in entry 0", key);
		*why = msg;
		goto out;
	}
	if (!cbor_isa_array(val)) {
		snprintf(msg, sizeof(msg), "%s is not an array", key);
		*why = msg;
		goto out;
	}
	n = cbor_array_size(val);
	*out = malloc(n ? n : 1);
	if (!*out) {
		*why = "out of memory";
		goto out;
	}
	if (byte_array(val, *out)) {
		free(*out);
		*out = NULL;
		snprintf(msg, sizeof(msg), "%s holds a non-byte value", key);
		*why = msg;
		goto out;
	}
	*out_len = n;
	ret = 0;
out:
	cbor_decref(&root);
	return ret;
}

int eif_signature_certificate(const uint8_t *data, size_t len,
			      uint8_t **cert, size_t *cert_len,
			      const char **why)
{
	return eif_signature_field(data, len, "signing_certificate", cert,
				   cert_len, why);
}

/* ---- COSE_Sign1 (RFC 8152 section 4.2) --------------------------------- */

#define COSE_SIGN1_TAG		18
#define COSE_HEADER_ALG		1

int eif_cose_sign1_decode(const uint8_t *data, size_t len,
			  struct eif_cose_sign1 *c, const char **why)
{
	cbor_item_t *root, *arr, **v, *hdr = NULL;
	struct cbor_pair *p;
	size_t i, n;

	memset(c, 0, sizeof(*c));
	/*
	 * libcbor 0.8 decodes the one-byte form of tags 6..20 (0xc6..0xd4)
	 * as malformed input, so tag 18 written that way is dropped here.
	 */
	if (len && data[0] == 0xc0 + COSE_SIGN1_TAG) {
		data++;
		len--;
	}
	root = eif_cbor_load(data, len, why);
	if (!root)
		return -1;
	arr = root;
	if (cbor_isa_tag(root) && cbor_tag_value(root) == COSE_SIGN1_TAG)
		arr = cbor_move(cbor_tag_item(root));	/* borrowed */
	if (!cbor_isa_array(arr) || cbor_array_size(arr) != 4) {
		*why = "COSE_Sign1 is not an array of 4";
		goto fail;
	}
	v = cbor_array_handle(arr);
	if (!cbor_isa_bytestring(v[0]) || !cbor_isa_map(v[1]) ||
	    !cbor_isa_bytestring(v[2]) || !cbor_isa_bytestring(v[3])) {
		*why = "COSE_Sign1 is not [bstr, map, bstr, bstr]";
		goto fail;
	}
	c->protected_hdr = cbor_bytestring_handle(v[0]);
	c->protected_len = cbor_bytestring_length(v[0]);
	c->payload = cbor_bytestring_handle(v[2]);
	c->payload_len = cbor_bytestring_length(v[2]);
	c->signature = cbor_bytestring_handle(v[3]);
	c->signature_len = cbor_bytestring_length(v[3]);

	hdr = eif_cbor_load(c->protected_hdr, c->protected_len, why);
	if (!hdr)
		goto fail;
	n = cbor_isa_map(hdr) ? cbor_map_size(hdr) : 0;
	p = n ? cbor_map_handle(hdr) : NULL;
	for (i = 0; i < n; i++)
		if (cbor_isa_uint(p[i].key) &&
		    cbor_get_int(p[i].key) == COSE_HEADER_ALG)
			break;
	if (i == n || !cbor_isa_negint(p[i].value) ||
	    cbor_get_int(p[i].value) > INT32_MAX) {
		*why = "no \"alg\" in the protected header";
		goto fail;
	}
	/* A negative integer item holds -1 - value. */
	c->alg = -1 - (int64_t)cbor_get_int(p[i].value);
	cbor_decref(&hdr);
	c->root = root;
	return 0;
fail:
	if (hdr)
		cbor_decref(&hdr);
	cbor_decref(&root);
	memset(c, 0, sizeof(*c));
	return -1;
}

void eif_cose_sign1_free(struct eif_cose_sign1 *c)
{
	if (c->root)
		cbor_decref(&c->root);
	memset(c, 0, sizeof(*c));
}

uint8_t *eif_cose_sig_structure(const struct eif_cose_sign1 *c, size_t *len)
{
	static const uint8_t none[1];
	const uint8_t *prot = c->protected_len ? c->protected_hdr : none;
	const uint8_t *payload = c->payload_len ? c->payload : none;
	cbor_item_t *item[4] = {
		cbor_build_string("Signature1"),
		cbor_build_bytestring(prot, c->protected_len),
		cbor_build_bytestring(none, 0),		/* external_aad */
		cbor_build_bytestring(payload, c->payload_len),
	};
	cbor_item_t *tbs = cbor_new_definite_array(4);
	unsigned char *buf = NULL;
	size_t size, i;
	bool ok = tbs;

	for (i = 0; i < 4; i++) {
		ok = ok && item[i] && cbor_array_push(tbs, item[i]);
		if (item[i])
			cbor_decref(&item[i]);	/* the array holds its own */
	}
	*len = ok ? cbor_serialize_alloc(tbs, &buf, &size) : 0;
	if (tbs)
		cbor_decref(&tbs);
	if (!*len) {
		free(buf);
		return NULL;
	}
	return buf;
}

int eif_cose_pcr_payload(const struct eif_cose_sign1 *c, uint64_t *index,
			 uint8_t value[EIF_PCR_SIZE])
{
	const char *why;
	cbor_item_t *m = eif_cbor_load(c->payload, c->payload_len, &why);
	bool have_index = false, have_value = false;
	struct cbor_pair *p;
	size_t i;

	if (!m)
		return -1;
	p = cbor_isa_map(m) ? cbor_map_handle(m) : NULL;
	for (i = 0; p && i < cbor_map_size(m); i++) {
		const cbor_item_t *v = p[i].value;

		if (text_is(p[i].key, "register_index") &&
		    cbor_isa_uint(v)) {
			*index = cbor_get_int(v);
			have_index = true;
		} else if (text_is(p[i].key, "register_value") &&
			   cbor_isa_array(v) &&
			   cbor_array_size(v) == EIF_PCR_SIZE) {
			have_value = !byte_array(v, value);
		}
	}
	cbor_decref(&m);
	return have_index && have_value ? 0 : -1;
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

/* ---- JSON (json-c) ------------------------------------------------------ */

/*
 * json-c keeps the text of a number with a fraction or exponent as it was
 * written and accepts "1.", "-.5" and "01.5": accept JSON's grammar only.
 */
static bool json_number_text_ok(const char *t)
{
	const unsigned char *p = (const unsigned char *)t;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!isdigit(*p))
		return false;
	while (isdigit(*p))
		p++;
	if (*p == '.') {
		if (!isdigit(*++p))
			return false;
		while (isdigit(*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit(*p))
			return false;
		while (isdigit(*p))
			p++;
	}
	return !*p;
}

static int json_check_number(struct json_object *o, int flags,
			     struct json_object *parent, const char *key,
			     size_t *index, void *bad)
{
	(void)flags;
	(void)parent;
	(void)key;
	(void)index;
	if (json_object_is_type(o, json_type_double) &&
	    (!isfinite(json_object_get_double(o)) ||
	     !json_number_text_ok(json_object_get_string(o)))) {
		*(bool *)bad = true;
		return JSON_C_VISIT_RETURN_STOP;
	}
	return JSON_C_VISIT_RETURN_CONTINUE;
}

int eif_json_parse(const void *text, size_t len, struct json_object **obj,
		   const char **why)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error e;
	const char *err = NULL;
	bool bad = false;
	char *buf;

	*obj = NULL;
	if (len >= INT_MAX) {
		*why = "larger than 2 GiB";
		return -1;
	}
	/* The NUL ends a number or literal at the end of the text. */
	buf = malloc(len + 1);
	tok = json_tokener_new_ex(EIF_JSON_MAX_DEPTH);
	if (!buf || !tok) {
		free(buf);
		if (tok)
			json_tokener_free(tok);
		*why = "out of memory";
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)len + 1);
	e = json_tokener_get_error(tok);
	if (e != json_tokener_success)
		err = json_tokener_error_desc(e);
	else if (json_tokener_get_parse_end(tok) < len)
		err = "a NUL byte in the text";
	else if (o && !json_c_visit(o, 0, json_check_number, &bad) && bad)
		err = "a number that JSON cannot carry (NaN, Infinity, out of range or malformed)";
	json_tokener_free(tok);
	free(buf);
	if (err) {
		json_object_put(o);
		*why = err;
		return -1;
	}
	*obj = o;
	return 0;
}

static bool json_add(struct json_object *o, const char *key,
		     struct json_object *val)
{
	if (json_object_object_add(o, key, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}

static bool json_add_str(struct json_object *o, const char *key,
			 const char *val)
{
	struct json_object *s = json_object_new_string(val);

	return s && json_add(o, key, s);
}

char *eif_metadata_json(const struct eif_metadata *m)
{
	struct json_object *md = json_object_new_object();
	struct json_object *bm = json_object_new_object();
	struct json_object *docker = NULL, *custom = NULL;
	const char *why;
	char *out = NULL;
	bool ok;

	if (!md || !bm ||
	    (m->docker_info && eif_json_parse(m->docker_info,
					      strlen(m->docker_info), &docker,
					      &why)) ||
	    (m->custom && eif_json_parse(m->custom, strlen(m->custom), &custom,
					 &why))) {
		json_object_put(bm);
		json_object_put(docker);
		goto out;
	}
	ok = json_add_str(md, "ImageName", m->image_name) &&
	     json_add_str(md, "ImageVersion", m->image_version) &&
	     json_add_str(bm, "BuildTime", m->build_time) &&
	     json_add_str(bm, "BuildTool", m->build_tool) &&
	     json_add_str(bm, "BuildToolVersion", m->build_tool_version) &&
	     json_add_str(bm, "OperatingSystem", m->operating_system) &&
	     json_add_str(bm, "KernelVersion", m->kernel_version);
	/* From here on md owns bm, docker and custom, even on failure. */
	ok = json_add(md, "BuildMetadata", bm) && ok;
	ok = json_add(md, "DockerInfo", docker) && ok;
	ok = json_add(md, "CustomMetadata", custom) && ok;
	if (ok)
		out = strdup(json_object_to_json_string_ext(md,
				JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(md);
	return out;
}
