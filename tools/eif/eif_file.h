/* SPDX-License-Identifier: GPL-2.0 */
/*
 * EIF files in memory, for the eif tool: the whole-file check (the shared
 * parser of eif_format.h plus the signature and nitro-cli's metadata
 * rules), serialization, the signature section and PCR8.
 */
#ifndef EIF_FILE_H
#define EIF_FILE_H

#include "eif_format.h"

/*
 * CRC of a packed image: bytes 0..543 then 548..len-1. For an image whose
 * sections follow each other from offset 548 up to the end of the file this
 * equals the per-section coverage of the format. len must be >= 548.
 */
uint32_t eif_image_crc(const uint8_t *buf, size_t len);
/* Recompute the CRC of a packed image and store it at offset 544. */
void eif_seal(uint8_t *buf, size_t len);

/*
 * Validate buf (an entire EIF file) and fill img: header, sections, CRC,
 * messages and, when the section list is usable, PCR0..2 (and PCR8 if the
 * image is signed). sec[].data points into buf for the sections inside it.
 * Returns 0 if the image is valid (img->errors == 0), 1 otherwise.
 */
int eif_check(const uint8_t *buf, size_t len, struct eif_image *img);

struct cbor_item_t;
struct json_object;

/*
 * Bounded CBOR decoding (libcbor) for the signature section and what it
 * carries. libcbor 0.8 allocates a definite array or map for the count its
 * head declares and builds and frees nested items recursively, so before
 * cbor_load() sees the input a pass over its heads rejects: more than
 * EIF_CBOR_MAX_SIZE bytes, nesting deeper than EIF_CBOR_MAX_DEPTH,
 * indefinite lengths, and an array or map that declares more items than
 * bytes remain. Bytes after the first item are ignored. Returns the item
 * (cbor_decref() it), or NULL with *why set.
 */
#define EIF_CBOR_MAX_SIZE	(2 * EIF_SIGNATURE_MAX_SIZE)
#define EIF_CBOR_MAX_DEPTH	16
struct cbor_item_t *eif_cbor_load(const uint8_t *data, size_t len,
				  const char **why);

/*
 * Signature section (CBOR): an array of at least one map; entry 0 holds
 * "signing_certificate" as an array of byte-sized unsigned integers (the
 * PEM text). Sets *cert (malloc()ed) and *cert_len and returns 0, or
 * returns -1 with *why set to a reason.
 */
int eif_signature_certificate(const uint8_t *data, size_t len,
			      uint8_t **cert, size_t *cert_len,
			      const char **why);

/*
 * Any byte-array field of entry 0 of the signature section, by name
 * ("signing_certificate", "signature": the serialized COSE_Sign1).
 * Same contract as eif_signature_certificate().
 */
int eif_signature_field(const uint8_t *data, size_t len, const char *key,
			uint8_t **out, size_t *out_len, const char **why);

/*
 * A COSE_Sign1 (RFC 8152), tagged 18 or not: [protected, unprotected,
 * payload, signature] with the "alg" (label 1) of the protected header.
 * The pointers point into root, which eif_cose_sign1_free() releases.
 */
struct eif_cose_sign1 {
	struct cbor_item_t *root;
	const uint8_t *protected_hdr;
	size_t protected_len;
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *signature;
	size_t signature_len;
	int64_t alg;
};

/* Returns 0, or -1 with *why set (and nothing to free). */
int eif_cose_sign1_decode(const uint8_t *data, size_t len,
			  struct eif_cose_sign1 *c, const char **why);
void eif_cose_sign1_free(struct eif_cose_sign1 *c);

/*
 * The Sig_structure a COSE_Sign1 signs, CBOR-encoded:
 * ["Signature1", protected, h'', payload]. Returns a malloc()ed buffer and
 * sets *len, or NULL.
 */
uint8_t *eif_cose_sig_structure(const struct eif_cose_sign1 *c, size_t *len);

/*
 * The payload of an EIF signature, {"register_index": i,
 * "register_value": [48 bytes]}: sets *index and value and returns 0, or
 * returns -1.
 */
int eif_cose_pcr_payload(const struct eif_cose_sign1 *c, uint64_t *index,
			 uint8_t value[EIF_PCR_SIZE]);

/*
 * PCR8 of a PEM certificate: SHA-384(0^48 || SHA-384(DER)). Returns 0, or
 * -1 if the text is not a PEM X.509 certificate.
 */
int eif_certificate_pcr(const uint8_t *pem, size_t len,
			uint8_t pcr[EIF_PCR_SIZE]);

/* One section to serialize. */
struct eif_build_section {
	uint16_t type;
	const uint8_t *data;
	size_t len;
};

struct eif_build_params {
	uint16_t version;
	uint16_t flags;
	uint64_t default_mem;
	uint64_t default_cpus;
	unsigned int nsec;
	const struct eif_build_section *sec;	/* in file order */
};

/*
 * Serialize: header, then the sections packed in the given order, then the
 * CRC. *out is malloc()ed. Returns 0, or -1 (errno EINVAL if nsec is 0 or
 * more than 32, EOVERFLOW, ENOMEM).
 */
int eif_build(const struct eif_build_params *p, uint8_t **out, size_t *outlen);

/*
 * Parse one JSON value (json-c, strict, UTF-8 checked, nesting at most
 * EIF_JSON_MAX_DEPTH) that fills text[0..len) but for white space. Numbers
 * that are not finite or not written as JSON writes them (json-c accepts
 * NaN, "1.", "-.5") are rejected too, since nitro-cli could not read them
 * back. Returns 0 and *obj (NULL for null; json_object_put() it), or -1
 * with *why set.
 */
#define EIF_JSON_MAX_DEPTH	64
int eif_json_parse(const void *text, size_t len, struct json_object **obj,
		   const char **why);

/* Fields of the metadata JSON the AWS builder writes (all strings UTF-8). */
struct eif_metadata {
	const char *image_name;
	const char *image_version;
	const char *build_time;
	const char *build_tool;
	const char *build_tool_version;
	const char *operating_system;
	const char *kernel_version;
	const char *docker_info;	/* JSON text, NULL = null */
	const char *custom;		/* JSON text, NULL = null */
};

/*
 * Compact metadata JSON, keys in the builder's order:
 * {"ImageName":..,"ImageVersion":..,"BuildMetadata":{"BuildTime":..,
 * "BuildTool":..,"BuildToolVersion":..,"OperatingSystem":..,
 * "KernelVersion":..},"DockerInfo":..,"CustomMetadata":..}.
 * docker_info and custom are JSON text, written compact. Returns a
 * malloc()ed string, or NULL (out of memory, or docker_info or custom is
 * not JSON).
 */
char *eif_metadata_json(const struct eif_metadata *m);

#endif /* EIF_FILE_H */
