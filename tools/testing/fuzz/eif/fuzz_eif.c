// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness of the EIF library (tools/eif/eif_format.c, the parser
 * the QEMU device model shares, and eif_file.c): the input is an image.
 *
 * 1. eif_check(), as "eif describe" runs it: the whole file, the signature
 *    section, PCR0..2 and PCR8, then every section read back through
 *    eif_section_read() and compared with the bytes of the input.
 * 2. eif_verify() without EIF_WHOLE, as the device runs it on enclave
 *    memory (the image ends at its last section), over the input followed
 *    by 64 zero bytes: a valid file must stay valid, with the same PCRs
 *    and the same end.
 * 3. eif_verify() again with a reader that fails past the middle of the
 *    input: a read error is reported, never a valid image that needed
 *    the missing bytes.
 *
 * Any broken invariant aborts, which libFuzzer reports as a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eif_file.h"
#include "../fuzz_check.h"

#define TAIL	64

struct failing_reader {
	struct eif_buf_reader br;
	uint64_t fail_at;
	uint64_t max_end;	/* end of the furthest read that succeeded */
};

static int failing_read(void *opaque, uint64_t off, void *buf, size_t len)
{
	struct failing_reader *f = opaque;

	check(len <= EIF_READ_CHUNK);
	check(off <= f->br.len && len <= f->br.len - off);
	if (off + len > f->fail_at)
		return -1;
	if (off + len > f->max_end)
		f->max_end = off + len;
	memcpy(buf, f->br.buf + off, len);
	return 0;
}

/* Properties every result has, valid or not. */
static void check_image(const struct eif_image *img)
{
	unsigned int i;

	check(img->nerr <= EIF_MAX_MSGS && img->nwarn <= EIF_MAX_MSGS);
	check(!img->errors == !img->nerr);
	check(!img->errors == !img->first_error);
	check(!img->first_error || (img->errors & img->first_error));
	check(img->nsec <= EIF_MAX_SECTIONS);
	for (i = 0; i < img->nsec; i++) {
		const struct eif_section *s = &img->sec[i];

		if (!s->in_bounds)
			continue;
		check(s->offset <= img->len &&
		      img->len - s->offset >= EIF_SEC_HDR_SIZE &&
		      s->size <= img->len - s->offset - EIF_SEC_HDR_SIZE);
	}
	if (!img->errors)
		check(img->pcrs_valid && img->crc_ok && img->walked);
}

/* Extract every section and compare it with the file's bytes. */
static void check_sections(const struct eif_reader *r,
			   const struct eif_image *img, const uint8_t *data)
{
	static uint8_t buf[4096];
	unsigned int i;
	int idx;

	for (i = 0; i < img->nsec; i++) {
		const struct eif_section *s = &img->sec[i];
		size_t n = s->size < sizeof(buf) ? (size_t)s->size : sizeof(buf);

		if (!s->in_bounds) {
			check(eif_section_read(r, img, i, 0, buf, 0) == -1);
			continue;
		}
		check(s->data == data + s->offset + EIF_SEC_HDR_SIZE);
		check(!eif_section_read(r, img, i, 0, buf, n));
		check(!memcmp(buf, s->data, n));
		/* The last byte, and one past it. */
		if (s->size) {
			check(!eif_section_read(r, img, i, s->size - 1, buf, 1));
			check(buf[0] == s->data[s->size - 1]);
		}
		check(eif_section_read(r, img, i, s->size, buf, 1) == -1);
		check(eif_section_read(r, img, i, UINT64_MAX, buf, 2) == -1);
	}
	check(eif_section_read(r, img, img->nsec, 0, buf, 0) == -1);
	idx = eif_find_section(img, EIF_SEC_KERNEL, 0);
	check(idx < 0 || img->sec[idx].type == EIF_SEC_KERNEL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct eif_image whole, open, failed;
	struct eif_buf_reader br;
	struct failing_reader fr;
	uint8_t *mem;
	int rc;

	/* 1. The tool. */
	rc = eif_check(data, size, &whole);
	check(rc == (whole.errors ? 1 : 0));
	check_image(&whole);
	eif_buf_reader_init(&br, data, size);
	check_sections(&br.r, &whole, data);

	/* 2. The device: the image in a larger memory. */
	mem = malloc(size + TAIL);
	if (!mem)
		return 0;
	memcpy(mem, data, size);
	memset(mem + size, 0, TAIL);
	eif_buf_reader_init(&br, mem, size + TAIL);
	rc = eif_verify(&br.r, 0, &open);
	check(rc == (open.errors ? 1 : 0));
	check_image(&open);
	if (!whole.errors) {
		check(!open.errors);
		check(open.end == size);
		check(!memcmp(open.pcr, whole.pcr, sizeof(open.pcr)));
		check(open.crc_computed == whole.crc_computed);
	}

	/* 3. Reads fail from the middle of the input on. */
	eif_buf_reader_init(&fr.br, mem, size + TAIL);
	fr.br.r.read = failing_read;
	fr.br.r.opaque = &fr;
	fr.fail_at = size / 2;
	fr.max_end = 0;
	rc = eif_verify(&fr.br.r, 0, &failed);
	check_image(&failed);
	if (!rc)
		check(failed.end <= fr.fail_at);
	if (!open.errors && open.end > fr.fail_at)
		check(failed.errors & EIF_E_READ);
	free(mem);
	return 0;
}
