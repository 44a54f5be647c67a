/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Enclave Image Format (EIF): parse, validate, checksum, measure and
 * serialize. Everything works on byte buffers in memory; no file I/O.
 *
 * Layout (all integers big-endian):
 *   [header 548 B][section header 12 B][data] ... [section header 12 B][data]
 *
 * The CRC is CRC-32/ISO-HDLC (zlib crc32) over header bytes 0..543 and then
 * every section header and its data in file order. PCRn is
 * SHA-384(0^48 || SHA-384(measured bytes)).
 */
#ifndef EIF_FORMAT_H
#define EIF_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EIF_MAGIC		"\x2e\x65\x69\x66"	/* ".eif" */
#define EIF_MAGIC_LEN		4
#define EIF_HDR_SIZE		548
#define EIF_SEC_HDR_SIZE	12
#define EIF_CRC_OFFSET		544
#define EIF_MAX_SECTIONS	32
#define EIF_MIN_SECTIONS	2
#define EIF_VERSION_MIN		2
#define EIF_VERSION_CURRENT	4
#define EIF_FLAG_ARCH_ARM64	0x0001
#define EIF_SIGNATURE_MAX_SIZE	32768
#define EIF_METADATA_CUSTOM_MAX	4096
#define EIF_PCR_SIZE		48	/* SHA-384 */
#define EIF_NUM_PCRS		3	/* PCR0, PCR1, PCR2 */

/* Defaults written by the AWS builder. */
#define EIF_DEFAULT_MEM		(1ULL << 30)
#define EIF_DEFAULT_CPUS	2

enum eif_section_type {
	EIF_SEC_INVALID = 0,
	EIF_SEC_KERNEL = 1,
	EIF_SEC_CMDLINE = 2,
	EIF_SEC_RAMDISK = 3,
	EIF_SEC_SIGNATURE = 4,
	EIF_SEC_METADATA = 5,
};

/* Error classes found by eif_check(), as bits of eif_image.errors. */
enum eif_error {
	EIF_E_SHORT	   = 1u << 0,	/* file shorter than the 548-byte header */
	EIF_E_MAGIC	   = 1u << 1,	/* magic is not ".eif" */
	EIF_E_VERSION	   = 1u << 2,	/* version outside 2..4 */
	EIF_E_NUM_SECTIONS = 1u << 3,	/* num_sections outside 2..32 */
	EIF_E_BOUNDS	   = 1u << 4,	/* a section lies (partly) outside the file */
	EIF_E_SIZE	   = 1u << 5,	/* section header size != size in table */
	EIF_E_LAYOUT	   = 1u << 6,	/* gap, overlap, trailing bytes, unused table entry set */
	EIF_E_SEC_FLAGS	   = 1u << 7,	/* section header flags != 0 */
	EIF_E_SEC_TYPE	   = 1u << 8,	/* type 0, >= 6, or newer than the version */
	EIF_E_SEC_SET	   = 1u << 9,	/* wrong number/order of kernel, cmdline, ramdisk, ... */
	EIF_E_CRC	   = 1u << 10,	/* stored CRC != computed CRC */
	EIF_E_SIGNATURE	   = 1u << 11,	/* signature section/certificate unreadable */
	EIF_E_INTERNAL	   = 1u << 12,	/* out of memory or crypto failure */
};

/* Errors that make the section list unusable for measurements. */
#define EIF_E_STRUCTURE	(EIF_E_SHORT | EIF_E_NUM_SECTIONS | EIF_E_BOUNDS | \
			 EIF_E_SIZE)

struct eif_header {
	uint8_t magic[EIF_MAGIC_LEN];
	uint16_t version;
	uint16_t flags;
	uint64_t default_mem;
	uint64_t default_cpus;
	uint16_t reserved;
	uint16_t num_sections;
	uint64_t section_offsets[EIF_MAX_SECTIONS];
	uint64_t section_sizes[EIF_MAX_SECTIONS];
	uint32_t unused;
	uint32_t crc32;
};

struct eif_section {
	uint16_t type;		/* from the section header */
	uint16_t flags;		/* from the section header */
	uint64_t offset;	/* file offset of the section header (table) */
	uint64_t size;		/* data size from the section header */
	const uint8_t *data;	/* into the checked buffer, NULL if outside */
};

#define EIF_MAX_MSGS	16
#define EIF_MSG_LEN	160

struct eif_image {
	struct eif_header hdr;		/* valid unless EIF_E_SHORT */
	size_t len;			/* buffer length */
	unsigned int nsec;		/* sections whose header was read */
	struct eif_section sec[EIF_MAX_SECTIONS];
	uint32_t crc_computed;
	bool crc_ok;
	bool pcrs_valid;		/* false if the layout was unusable */
	uint8_t pcr[EIF_NUM_PCRS][EIF_PCR_SIZE];
	bool has_pcr8;			/* signed image, certificate readable */
	uint8_t pcr8[EIF_PCR_SIZE];
	unsigned int errors;		/* EIF_E_* bits */
	unsigned int nerr, nwarn;
	char err[EIF_MAX_MSGS][EIF_MSG_LEN];
	char warn[EIF_MAX_MSGS][EIF_MSG_LEN];
};

/* Big-endian accessors. */
uint16_t eif_get_be16(const uint8_t *p);
uint32_t eif_get_be32(const uint8_t *p);
uint64_t eif_get_be64(const uint8_t *p);
void eif_put_be16(uint8_t *p, uint16_t v);
void eif_put_be32(uint8_t *p, uint32_t v);
void eif_put_be64(uint8_t *p, uint64_t v);

/* Name of a section type ("kernel", ...), "invalid" or "unknown". */
const char *eif_section_name(uint16_t type);

/* Decode the 548-byte header at buf (no checks). */
void eif_parse_header(const uint8_t *buf, struct eif_header *hdr);
/* Encode hdr into 548 bytes at buf, crc32 field included as given. */
void eif_write_header(uint8_t *buf, const struct eif_header *hdr);

/* CRC-32/ISO-HDLC (zlib crc32) of len bytes, continuing from crc (0 to start). */
uint32_t eif_crc32(uint32_t crc, const uint8_t *p, size_t len);
/*
 * CRC of a packed image: bytes 0..543 then 548..len-1. For an image whose
 * sections follow each other from offset 548 up to the end of the file this
 * equals the per-section coverage of the format. len must be >= 548.
 */
uint32_t eif_image_crc(const uint8_t *buf, size_t len);
/* Recompute the CRC of a packed image and store it at offset 544. */
void eif_seal(uint8_t *buf, size_t len);

/* SHA-384 of len bytes; returns 0 or -1 on a crypto library failure. */
int eif_sha384(const void *p, size_t len, uint8_t out[EIF_PCR_SIZE]);
/* PCR value after one extend of a zero register: SHA-384(0^48 || digest). */
int eif_pcr_from_digest(const uint8_t digest[EIF_PCR_SIZE],
			uint8_t pcr[EIF_PCR_SIZE]);

/*
 * Validate buf (an entire EIF file) and fill img: header, sections, CRC,
 * messages and, when the section list is usable, PCR0..2 (and PCR8 if the
 * image is signed). Returns 0 if the
 * image is valid (img->errors == 0), 1 otherwise.
 */
int eif_check(const uint8_t *buf, size_t len, struct eif_image *img);

/*
 * Compute PCR0..2 over the img->nsec sections of a checked image, in file
 * order: kernel and cmdline feed PCR0 and PCR1, the first ramdisk PCR0 and
 * PCR1, every later ramdisk PCR0 and PCR2; other sections are not
 * measured. Returns 0 or -1 on a crypto failure.
 */
int eif_measure(struct eif_image *img);

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
 * PCR8 of a PEM certificate: SHA-384(0^48 || SHA-384(DER)). Returns 0, or
 * -1 if the text is not a PEM X.509 certificate.
 */
int eif_certificate_pcr(const uint8_t *pem, size_t len,
			uint8_t pcr[EIF_PCR_SIZE]);

/* Lowercase hex of n bytes into out (2n + 1 chars). */
void eif_hex(const uint8_t *p, size_t n, char *out);

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
 * docker_info and custom are inserted verbatim (the caller passes compact,
 * valid JSON). Returns a malloc()ed string or NULL.
 */
char *eif_metadata_json(const struct eif_metadata *m);

#endif /* EIF_FORMAT_H */
