/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Enclave Image Format (EIF): the one parser of the project. It reads the
 * image through a callback, so the same code checks a file in memory (the
 * eif tool) and an image in enclave memory (the QEMU device model, which
 * compiles this file in: see tools/qemu/README.rst). It parses, validates,
 * measures (PCR0..2) and reads sections; writing images, the signature and
 * the whole-file check of the tool are in eif_file.h.
 *
 * Layout (all integers big-endian):
 *   [header 548 B][section header 12 B][data] ... [section header 12 B][data]
 *
 * The CRC is CRC-32/ISO-HDLC (zlib crc32) over header bytes 0..543 and then
 * every section header and its data in file order. PCRn is
 * SHA-384(0^48 || SHA-384(measured bytes)), computed with OpenSSL.
 *
 * Every size and offset comes from the image and is checked against the
 * reader's size before it is used; the read callback is only ever asked
 * for bytes inside [0, size).
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

/* Error classes, as bits of eif_image.errors. */
enum eif_error {
	EIF_E_SHORT	   = 1u << 0,	/* shorter than the 548-byte header */
	EIF_E_MAGIC	   = 1u << 1,	/* magic is not ".eif" */
	EIF_E_VERSION	   = 1u << 2,	/* version outside 2..4 */
	EIF_E_NUM_SECTIONS = 1u << 3,	/* num_sections outside 2..32 */
	EIF_E_BOUNDS	   = 1u << 4,	/* a section lies (partly) outside the image */
	EIF_E_SIZE	   = 1u << 5,	/* section header size != size in table */
	EIF_E_LAYOUT	   = 1u << 6,	/* gap, overlap, trailing bytes, unused table entry set */
	EIF_E_SEC_FLAGS	   = 1u << 7,	/* section header flags != 0 */
	EIF_E_SEC_TYPE	   = 1u << 8,	/* type 0, >= 6, or newer than the version */
	EIF_E_SEC_SET	   = 1u << 9,	/* wrong number/order of kernel, cmdline, ramdisk, ... */
	EIF_E_CRC	   = 1u << 10,	/* stored CRC != computed CRC */
	EIF_E_SIGNATURE	   = 1u << 11,	/* signature section/certificate unreadable */
	EIF_E_INTERNAL	   = 1u << 12,	/* out of memory or crypto failure */
	EIF_E_READ	   = 1u << 13,	/* the read callback failed */
};

/* Errors that make the section list unusable for measurements. */
#define EIF_E_STRUCTURE	(EIF_E_SHORT | EIF_E_NUM_SECTIONS | EIF_E_BOUNDS | \
			 EIF_E_SIZE | EIF_E_READ)

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
	uint64_t offset;	/* image offset of the section header (table) */
	uint64_t size;		/* data size from the section header */
	bool in_bounds;		/* header and data lie inside the image */
	const uint8_t *data;	/* set by eif_check() only, NULL if outside */
};

#define EIF_MAX_MSGS	16
#define EIF_MSG_LEN	160

struct eif_image {
	struct eif_header hdr;		/* valid unless EIF_E_SHORT or EIF_E_READ */
	uint64_t len;			/* bytes the reader offered */
	uint64_t end;			/* where the last section read ends */
	unsigned int nsec;		/* sections whose header was read */
	bool walked;			/* every section of the table was read */
	struct eif_section sec[EIF_MAX_SECTIONS];
	uint32_t crc_computed;
	bool crc_ok;
	bool pcrs_valid;		/* false if the layout was unusable */
	uint8_t pcr[EIF_NUM_PCRS][EIF_PCR_SIZE];
	uint32_t sections_crc;		/* CRC as eif_measure() read it */
	bool has_pcr8;			/* signed image, certificate readable */
	uint8_t pcr8[EIF_PCR_SIZE];
	unsigned int errors;		/* EIF_E_* bits */
	unsigned int first_error;	/* the EIF_E_* bit found first, or 0 */
	unsigned int nerr, nwarn;
	char err[EIF_MAX_MSGS][EIF_MSG_LEN];
	char warn[EIF_MAX_MSGS][EIF_MSG_LEN];
};

/*
 * Where the image comes from. read() copies @len bytes at offset @off of
 * the image into @buf and returns 0, or -1 if they cannot be read. The
 * library only asks for bytes inside [0, size) and never for more than
 * EIF_READ_CHUNK bytes at a time.
 */
struct eif_reader {
	int (*read)(void *opaque, uint64_t off, void *buf, size_t len);
	void *opaque;
	uint64_t size;
};

#define EIF_READ_CHUNK	(64 * 1024)

/* A reader over a buffer in memory (opaque is the eif_buf_reader). */
struct eif_buf_reader {
	struct eif_reader r;
	const uint8_t *buf;
	size_t len;
};

void eif_buf_reader_init(struct eif_buf_reader *br, const uint8_t *buf,
			 size_t len);

/* Flags of eif_parse() and eif_verify(). */
#define EIF_WHOLE	(1u << 0)	/* the image is exactly r->size bytes */

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

/* SHA-384 of len bytes; returns 0 or -1 on a crypto library failure. */
int eif_sha384(const void *p, size_t len, uint8_t out[EIF_PCR_SIZE]);
/* PCR value after one extend of a zero register: SHA-384(0^48 || digest). */
int eif_pcr_from_digest(const uint8_t digest[EIF_PCR_SIZE],
			uint8_t pcr[EIF_PCR_SIZE]);

/* Lowercase hex of n bytes into out (2n + 1 chars). */
void eif_hex(const uint8_t *p, size_t n, char *out);

/* Record an error (class @bit) or a warning in img, with a message. */
__attribute__((format(printf, 3, 4)))
void eif_add_error(struct eif_image *img, unsigned int bit,
		   const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void eif_add_warning(struct eif_image *img, const char *fmt, ...);

/*
 * Read the header and walk the section table: header fields, section
 * bounds, sizes, packing, flags, types and their counts and order. With
 * EIF_WHOLE bytes after the last section are an error; without it the
 * image ends where its last section ends (img->end). Errors are recorded
 * in img in the order found (img->first_error is the first). Returns 0 if
 * no error was found, 1 otherwise.
 */
int eif_parse(const struct eif_reader *r, unsigned int flags,
	      struct eif_image *img);

/*
 * One pass over the data of the sections that eif_parse() found, in file
 * order: PCR0..2 (kernel and cmdline feed PCR0 and PCR1, the first ramdisk
 * PCR0 and PCR1, every later ramdisk PCR0 and PCR2; other sections are not
 * measured) and img->sections_crc (header bytes 0..543, then each section
 * header and its data). Needs a section list without EIF_E_STRUCTURE
 * errors. Sets pcrs_valid and returns 0, or records EIF_E_READ or
 * EIF_E_INTERNAL and returns -1.
 */
int eif_measure(const struct eif_reader *r, struct eif_image *img);

/*
 * Compare the stored CRC with the computed one and record EIF_E_CRC if
 * they differ. With EIF_WHOLE the CRC covers header bytes 0..543 and every
 * byte from 548 to r->size; without it, it is img->sections_crc, and
 * nothing is compared unless eif_measure() succeeded. Returns 0 if the
 * CRC matched, -1 otherwise.
 */
int eif_check_crc(const struct eif_reader *r, unsigned int flags,
		  struct eif_image *img);

/*
 * eif_parse(), then eif_measure() if the section list is usable, then
 * eif_check_crc(). Returns 0 if the image is valid, 1 otherwise.
 */
int eif_verify(const struct eif_reader *r, unsigned int flags,
	       struct eif_image *img);

/* Index of the first section of @type at or after @from, or -1. */
int eif_find_section(const struct eif_image *img, uint16_t type,
		     unsigned int from);

/*
 * Extract: copy @len bytes at @off of the data of section @idx (which
 * eif_parse() found inside the image) into @buf. Returns 0, or -1 if the
 * section or the range does not exist or the read fails.
 */
int eif_section_read(const struct eif_reader *r, const struct eif_image *img,
		     unsigned int idx, uint64_t off, void *buf, size_t len);

#endif /* EIF_FORMAT_H */
