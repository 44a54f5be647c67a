// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the EIF library and the eif tool, printed as TAP.
 *
 *   eif_test [PATH_TO_eif_BINARY]
 *
 * Library tests: the CRC check value, SHA-384 and PCR constants, the two
 * toy images of spec/eif.md byte for byte (length, header, CRC, SHA-256,
 * PCR0..2), the rejection of corrupted images and the reader interface
 * the QEMU device uses (an image in larger memory, failing reads, bounded
 * section reads, the first error). With the binary path the
 * command line tool is tested too (build -> describe round trip, exit
 * codes); without it those tests are reported as skipped.
 * Exit status: 0 if every test passed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cbor.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "eif_file.h"

/* ---- spec/eif.md vectors ---------------------------------------------- */

#define SHA384_EMPTY \
	"38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"
#define PCR_EMPTY \
	"21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a"

#define TOY_KERNEL	"kernel-image"
#define TOY_CMDLINE	"console=ttyS0"
#define TOY_RAMDISK0	"ramdisk-0"
#define TOY_RAMDISK1	"ramdisk-1"
#define TOY_A_METADATA \
	"{\"ImageName\":\"test\",\"ImageVersion\":\"1.0\",\"BuildMetadata\":" \
	"{\"BuildTime\":\"2024-01-01T00:00:00+00:00\",\"BuildTool\":\"eif_build\"," \
	"\"BuildToolVersion\":\"0.0.0\",\"OperatingSystem\":\"OS\"," \
	"\"KernelVersion\":\"kernel\"},\"DockerInfo\":null,\"CustomMetadata\":null}"
#define TOY_A_LEN	889
#define TOY_A_CRC	0xF2781E10u
#define TOY_A_SHA256 \
	"8c018787bc860dc0093bfe8fc3138c755ef430a539458d078cf54a4010405e7c"
#define TOY_A_PCR0 \
	"85b50446e0335a268401b4c872cfa4126da69d08a98c80a1ebb028b5f56e03afb30da66d82d9d2586c018cd698e23595"
#define TOY_A_PCR1 \
	"d7904c33008a0b6fa4af48c623454588a8e6dfdc8ed60afda8655cafa8366898b529ad57aa4c754d9b83409f0ddfbc53"
#define TOY_A_PCR2 \
	"477d0d0cb358b7247e9ae8612e986ef62afa94db440b44ed44b2ebe70b79d993e6da6df0e36a999f172cdd3fa1ad1c93"
#define TOY_B_LEN	632
#define TOY_B_CRC	0xA82C11F3u
#define TOY_B_SHA256 \
	"c3468e95b10cc1d9b54ca68e147e166390af6970bdd67d8456e8acb26d3787ec"
#define TOY_B_PREFIX \
	"2e656966" "0004" "0000" "0000000000000000" "0000000000000000" "0000" \
	"0004" "0000000000000224" "000000000000023c"

/* §2.4 item 3: signature section with a 59-byte dummy certificate. */
#define SPEC_CERT	"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define SPEC_COSE	"\xd2\x84\x44\xa1\x01\x38\x22\xa0\x40\x40"
#define SPEC_SIG_PREFIX	"81a273" "7369676e696e675f6365727469666963617465" "983b182d"

/*
 * A self-signed P-384 certificate made for these tests with
 * "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384"; its
 * SHA-384 fingerprint (openssl x509 -fingerprint -sha384) is e91c0110...
 * and TEST_CERT_PCR8 = SHA-384(0^48 || fingerprint), computed apart.
 */
#define TEST_CERT \
	"-----BEGIN CERTIFICATE-----\n" \
	"MIIBujCCAUCgAwIBAgIUVH95B6Aqvc/R3pA6FsUif8+wCFIwCgYIKoZIzj0EAwIw\n" \
	"EzERMA8GA1UEAwwIZWlmLXRlc3QwIBcNMjYxMTI5MTM1MzU2WhgPMjEyNjExMDUx\n" \
	"MzUzNTZaMBMxETAPBgNVBAMMCGVpZi10ZXN0MHYwEAYHKoZIzj0CAQYFK4EEACID\n" \
	"YgAEpgQF4z/HURRd3t55Ew7hH3cl2kGEOkqxTOdLvy0vIhLXr1tniZncsBx6Uq76\n" \
	"oLs8wmIN/+j5QzfeE/cc33WCIW/js8guaef+QLNkdj01xqbLLU0s69YsGMwe6ohh\n" \
	"WAB8o1MwUTAdBgNVHQ4EFgQUU7wuUk9TgMNKxKeKCmDM9vUM++8wHwYDVR0jBBgw\n" \
	"FoAUU7wuUk9TgMNKxKeKCmDM9vUM++8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjO\n" \
	"PQQDAgNoADBlAjEA4cUBKEqbZqluxlaZK+J8lGVb8uSTSM8jXCpFdC3A+CfEs3k0\n" \
	"F/MJ3Pi4EUyJPaPGAjB3uOSyg0ymoxJitxMnBt4VwNR2cQAJPHCVPu0+Tj0WKFAS\n" \
	"ypbywINwoiYWr6mWGWg=\n" \
	"-----END CERTIFICATE-----\n"
#define TEST_CERT_PCR8 \
	"0616d960b3567311cb3ace59add7a69020f260ef05775dfb93bd67ad24e59d85ade9de4c40b5d60141f758d9b6b54192"

/* ---- helpers ---------------------------------------------------------- */

static char diag_buf[4096];
static size_t diag_len;

__attribute__((format(printf, 1, 2)))
static void diag(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (diag_len >= sizeof(diag_buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(diag_buf + diag_len, sizeof(diag_buf) - diag_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		diag_len += (size_t)n;
	if (diag_len > sizeof(diag_buf) - 2)
		diag_len = sizeof(diag_buf) - 2;
	diag_buf[diag_len++] = '\n';
	diag_buf[diag_len] = '\0';
}

static int expect_u64(const char *what, unsigned long long got,
		      unsigned long long want)
{
	if (got == want)
		return 0;
	diag("%s: got %llu (0x%llx), expected %llu (0x%llx)", what, got, got,
	     want, want);
	return 1;
}

static int expect_hex(const char *what, const uint8_t *p, size_t n,
		      const char *want)
{
	char hex[2 * 128 + 1];

	eif_hex(p, n, hex);
	if (!strcmp(hex, want))
		return 0;
	diag("%s: got %s", what, hex);
	diag("%s: expected %s", what, want);
	return 1;
}

static int expect_str(const char *what, const char *got, const char *want)
{
	if (got && !strcmp(got, want))
		return 0;
	diag("%s: got \"%s\"", what, got ? got : "(null)");
	diag("%s: expected \"%s\"", what, want);
	return 1;
}

static void sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
	unsigned int len;

	if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL))
		memset(out, 0, 32);
}

static const char *error_names(unsigned int e)
{
	static const char *const names[] = {
		"SHORT", "MAGIC", "VERSION", "NUM_SECTIONS", "BOUNDS", "SIZE",
		"LAYOUT", "SEC_FLAGS", "SEC_TYPE", "SEC_SET", "CRC", "SIGNATURE",
		"INTERNAL", "READ",
	};
	static char buf[256];
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (e & (1u << i)) {
			if (buf[0])
				strcat(buf, "|");
			strcat(buf, names[i]);
		}
	return buf[0] ? buf : "none";
}

static struct eif_image chk;

static void diag_messages(const struct eif_image *img)
{
	unsigned int i;

	for (i = 0; i < img->nerr; i++)
		diag("  error: %s", img->err[i]);
	for (i = 0; i < img->nwarn; i++)
		diag("  warning: %s", img->warn[i]);
}

/* eif_check() must report exactly the error classes in want. */
static int expect_errors(const char *what, const uint8_t *buf, size_t len,
			 unsigned int want)
{
	int rc = eif_check(buf, len, &chk);
	char got[256];

	if (chk.errors == want && rc == (want ? 1 : 0))
		return 0;
	snprintf(got, sizeof(got), "%s", error_names(chk.errors));
	diag("%s: errors %s (rc %d), expected %s", what, got, rc,
	     error_names(want));
	diag_messages(&chk);
	return 1;
}

/* ---- toy images ------------------------------------------------------- */

static uint8_t *toy_a, *toy_b;
static size_t toy_a_len, toy_b_len;
static char *toy_a_md;

static const struct eif_metadata toy_a_meta = {
	.image_name = "test",
	.image_version = "1.0",
	.build_time = "2024-01-01T00:00:00+00:00",
	.build_tool = "eif_build",
	.build_tool_version = "0.0.0",
	.operating_system = "OS",
	.kernel_version = "kernel",
};

#define SEC(t, s) { t, (const uint8_t *)(s), sizeof(s) - 1 }

static int build_toys(void)
{
	struct eif_build_section a[5] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		{ EIF_SEC_METADATA, NULL, 0 },
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK1),
	};
	const struct eif_build_section b[4] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, "{}"),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
	};
	struct eif_build_params pa = {
		.version = 4, .default_mem = 1073741824, .default_cpus = 2,
		.nsec = 5, .sec = a,
	};
	struct eif_build_params pb = { .version = 4, .nsec = 4, .sec = b };

	toy_a_md = eif_metadata_json(&toy_a_meta);
	if (!toy_a_md)
		return -1;
	a[2].data = (const uint8_t *)toy_a_md;
	a[2].len = strlen(toy_a_md);
	if (eif_build(&pa, &toy_a, &toy_a_len) ||
	    eif_build(&pb, &toy_b, &toy_b_len))
		return -1;
	return 0;
}

/* A private copy of toy A. */
static uint8_t *dup_a(void)
{
	uint8_t *p = malloc(toy_a_len + 64);

	if (!p)
		abort();
	memcpy(p, toy_a, toy_a_len);
	return p;
}

/* Offset of section i's header in toy A. */
static size_t a_sec(unsigned int i)
{
	static const size_t off[] = { 548, 572, 597, 847, 868 };

	return off[i];
}

/* ---- library tests ---------------------------------------------------- */

static int t_crc_check_value(void)
{
	return expect_u64("CRC-32(\"123456789\")",
			  eif_crc32(0, (const uint8_t *)"123456789", 9),
			  0xCBF43926u);
}

static int t_crc_incremental(void)
{
	uint32_t c = eif_crc32(0, (const uint8_t *)"1234", 4);

	c = eif_crc32(c, (const uint8_t *)"56789", 5);
	return expect_u64("CRC-32 in two parts", c, 0xCBF43926u);
}

static int t_sha384_empty(void)
{
	uint8_t d[EIF_PCR_SIZE];

	if (eif_sha384("", 0, d))
		return diag("eif_sha384 failed"), 1;
	return expect_hex("SHA-384(\"\")", d, sizeof(d), SHA384_EMPTY);
}

static int t_pcr_empty(void)
{
	uint8_t d[EIF_PCR_SIZE], pcr[EIF_PCR_SIZE];

	if (eif_sha384("", 0, d) || eif_pcr_from_digest(d, pcr))
		return diag("SHA-384 failed"), 1;
	return expect_hex("SHA-384(0^48 || SHA-384(\"\"))", pcr, sizeof(pcr),
			  PCR_EMPTY);
}

static int t_be_fields(void)
{
	uint8_t b[8];
	int f = 0;

	eif_put_be64(b, 0x0102030405060708ULL);
	f |= expect_hex("be64 bytes", b, 8, "0102030405060708");
	f |= expect_u64("be64", eif_get_be64(b), 0x0102030405060708ULL);
	eif_put_be32(b, 0xA82C11F3u);
	f |= expect_hex("be32 bytes", b, 4, "a82c11f3");
	eif_put_be16(b, 0x0224);
	f |= expect_hex("be16 bytes", b, 2, "0224");
	return f;
}

static int t_toy_a_metadata(void)
{
	int f = expect_str("metadata", toy_a_md, TOY_A_METADATA);

	return f | expect_u64("metadata length", strlen(toy_a_md), 238);
}

static int t_toy_a_layout(void)
{
	static const uint64_t off[] = { 548, 572, 597, 847, 868 };
	static const uint64_t size[] = { 12, 13, 238, 9, 9 };
	struct eif_header h;
	char what[64];
	unsigned int i;
	int f = 0;

	f |= expect_u64("length", toy_a_len, TOY_A_LEN);
	eif_parse_header(toy_a, &h);
	f |= expect_u64("version", h.version, 4);
	f |= expect_u64("flags", h.flags, 0);
	f |= expect_u64("default_mem", h.default_mem, 1073741824);
	f |= expect_u64("default_cpus", h.default_cpus, 2);
	f |= expect_u64("reserved", h.reserved, 0);
	f |= expect_u64("num_sections", h.num_sections, 5);
	f |= expect_u64("unused", h.unused, 0);
	for (i = 0; i < EIF_MAX_SECTIONS; i++) {
		snprintf(what, sizeof(what), "section_offsets[%u]", i);
		f |= expect_u64(what, h.section_offsets[i], i < 5 ? off[i] : 0);
		snprintf(what, sizeof(what), "section_sizes[%u]", i);
		f |= expect_u64(what, h.section_sizes[i], i < 5 ? size[i] : 0);
	}
	return f;
}

static int t_toy_a_crc(void)
{
	int f = expect_u64("stored eif_crc32",
			   eif_get_be32(toy_a + EIF_CRC_OFFSET), TOY_A_CRC);

	return f | expect_u64("computed CRC", eif_image_crc(toy_a, toy_a_len),
			      TOY_A_CRC);
}

static int t_toy_a_sha256(void)
{
	uint8_t d[32];

	sha256(toy_a, toy_a_len, d);
	return expect_hex("SHA-256(toy A)", d, 32, TOY_A_SHA256);
}

static int t_toy_a_valid(void)
{
	int f = expect_errors("toy A", toy_a, toy_a_len, 0);

	f |= expect_u64("warnings", chk.nwarn, 0);
	return f | expect_u64("pcrs_valid", chk.pcrs_valid, 1);
}

static int t_toy_a_pcr(unsigned int n, const char *want)
{
	char what[16];

	if (eif_check(toy_a, toy_a_len, &chk) || !chk.pcrs_valid) {
		diag("toy A did not check valid");
		diag_messages(&chk);
		return 1;
	}
	snprintf(what, sizeof(what), "PCR%u", n);
	return expect_hex(what, chk.pcr[n], EIF_PCR_SIZE, want);
}

static int t_toy_a_pcr0(void)
{
	return t_toy_a_pcr(0, TOY_A_PCR0);
}

static int t_toy_a_pcr1(void)
{
	return t_toy_a_pcr(1, TOY_A_PCR1);
}

static int t_toy_a_pcr2(void)
{
	return t_toy_a_pcr(2, TOY_A_PCR2);
}

/* PCR0 is one SHA-384 stream over kernel, cmdline and all ramdisks. */
static int t_pcr_recipe(void)
{
	static const char content[] = TOY_KERNEL TOY_CMDLINE TOY_RAMDISK0
				      TOY_RAMDISK1;
	uint8_t d[EIF_PCR_SIZE], pcr[EIF_PCR_SIZE];

	if (eif_sha384(content, sizeof(content) - 1, d) ||
	    eif_pcr_from_digest(d, pcr))
		return diag("SHA-384 failed"), 1;
	return expect_hex("SHA-384(0^48 || SHA-384(k||c||r0||r1))", pcr,
			  EIF_PCR_SIZE, TOY_A_PCR0);
}

static int t_toy_b_bytes(void)
{
	uint8_t d[32];
	int f = 0;

	f |= expect_u64("length", toy_b_len, TOY_B_LEN);
	f |= expect_hex("first 44 bytes", toy_b, 44, TOY_B_PREFIX);
	f |= expect_u64("stored eif_crc32",
			eif_get_be32(toy_b + EIF_CRC_OFFSET), TOY_B_CRC);
	sha256(toy_b, toy_b_len, d);
	return f | expect_hex("SHA-256(toy B)", d, 32, TOY_B_SHA256);
}

static int t_toy_b_pcrs(void)
{
	int f = expect_errors("toy B", toy_b, toy_b_len, 0);

	if (f || !chk.pcrs_valid)
		return 1;
	f |= expect_hex("PCR0", chk.pcr[0], EIF_PCR_SIZE, TOY_A_PCR1);
	f |= expect_hex("PCR1", chk.pcr[1], EIF_PCR_SIZE, TOY_A_PCR1);
	return f | expect_hex("PCR2", chk.pcr[2], EIF_PCR_SIZE, PCR_EMPTY);
}

static int t_toy_b_metadata_warning(void)
{
	eif_check(toy_b, toy_b_len, &chk);
	if (chk.nwarn == 1 && strstr(chk.warn[0], "ImageName"))
		return 0;
	diag("expected one warning about the {} metadata, got %u", chk.nwarn);
	diag_messages(&chk);
	return 1;
}

/* Metadata and section headers are not measured. */
static int t_pcr_ignores_metadata(void)
{
	struct eif_build_section s[4] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, "null"),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0 TOY_RAMDISK1),
	};
	struct eif_build_params p = { .version = 4, .nsec = 4, .sec = s };
	uint8_t *img;
	size_t len;
	int f;

	if (eif_build(&p, &img, &len))
		return diag("eif_build failed"), 1;
	f = expect_errors("image", img, len, 0);
	/* One ramdisk holding both: PCR0 as toy A, PCR1 differs, PCR2 empty. */
	f |= expect_hex("PCR0", chk.pcr[0], EIF_PCR_SIZE, TOY_A_PCR0);
	f |= expect_hex("PCR2", chk.pcr[2], EIF_PCR_SIZE, PCR_EMPTY);
	f |= expect_u64("warnings (null metadata is accepted)", chk.nwarn, 0);
	free(img);
	return f;
}

/* ---- corruption ------------------------------------------------------- */

static int t_bad_magic(void)
{
	uint8_t *p = dup_a();
	int f;

	p[0] = 'E';
	eif_seal(p, toy_a_len);
	f = expect_errors("magic 'Eeif'", p, toy_a_len, EIF_E_MAGIC);
	free(p);
	return f;
}

static int t_bad_crc_field(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be32(p + EIF_CRC_OFFSET, TOY_A_CRC ^ 1);
	f = expect_errors("stored CRC ^ 1", p, toy_a_len, EIF_E_CRC);
	free(p);
	return f;
}

/* Every single-byte change anywhere in the file is reported as a CRC error. */
static int t_flip_any_byte(void)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	uint8_t *p = dup_a();
	unsigned int m, bad = 0;
	size_t i;

	for (i = 0; i < toy_a_len; i++) {
		for (m = 0; m < sizeof(masks); m++) {
			p[i] ^= masks[m];
			eif_check(p, toy_a_len, &chk);
			if (!(chk.errors & EIF_E_CRC) || !chk.nerr) {
				if (!bad++)
					diag("byte %zu ^ 0x%02x: errors %s, no CRC error",
					     i, masks[m],
					     error_names(chk.errors));
			}
			p[i] ^= masks[m];
		}
	}
	free(p);
	if (bad)
		diag("%u of %zu flips not reported as CRC errors", bad,
		     toy_a_len * sizeof(masks));
	return bad != 0;
}

/* Flipping a byte of section data gives a CRC error and nothing else. */
static int t_flip_data_only_crc(void)
{
	uint8_t *p = dup_a();
	int f;

	p[a_sec(3) + EIF_SEC_HDR_SIZE + 2] ^= 0x20;
	f = expect_errors("ramdisk 0 byte 2 flipped", p, toy_a_len, EIF_E_CRC);
	free(p);
	return f;
}

static int t_truncated(void)
{
	unsigned int bad = 0;
	size_t len;

	for (len = 0; len < toy_a_len; len++) {
		unsigned int want = len < EIF_HDR_SIZE ? EIF_E_SHORT :
							 EIF_E_BOUNDS;

		if (eif_check(toy_a, len, &chk) != 1 ||
		    !(chk.errors & want)) {
			if (!bad++)
				diag("length %zu: errors %s, expected %s", len,
				     error_names(chk.errors),
				     error_names(want));
		}
	}
	if (bad)
		diag("%u truncations not reported", bad);
	return bad != 0;
}

static int t_truncated_resealed(void)
{
	uint8_t *p = dup_a();
	int f;

	/* Cut the last ramdisk short and fix the CRC: still out of bounds. */
	eif_seal(p, toy_a_len - 1);
	f = expect_errors("last byte cut", p, toy_a_len - 1, EIF_E_BOUNDS);
	free(p);
	return f;
}

static int t_trailing_data(void)
{
	uint8_t *p = dup_a();
	int f;

	p[toy_a_len] = 0;
	eif_seal(p, toy_a_len + 1);
	f = expect_errors("one byte appended", p, toy_a_len + 1, EIF_E_LAYOUT);
	free(p);
	return f;
}

static int t_size_mismatch_sechdr(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be64(p + a_sec(3) + 4, 10);
	eif_seal(p, toy_a_len);
	f = expect_errors("ramdisk 0 section header size 10", p, toy_a_len,
			  EIF_E_SIZE);
	free(p);
	return f;
}

static int t_size_mismatch_table(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be64(p + 284 + 8 * 1, 12);	/* section_sizes[1] */
	eif_seal(p, toy_a_len);
	f = expect_errors("section_sizes[1] = 12", p, toy_a_len, EIF_E_SIZE);
	free(p);
	return f;
}

static int t_too_many_sections(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be16(p + 26, 33);
	eif_seal(p, toy_a_len);
	f = expect_errors("num_sections 33", p, toy_a_len, EIF_E_NUM_SECTIONS);
	eif_put_be16(p + 26, 0xffff);
	eif_seal(p, toy_a_len);
	f |= expect_errors("num_sections 65535", p, toy_a_len,
			   EIF_E_NUM_SECTIONS);
	free(p);
	return f;
}

static int t_too_few_sections(void)
{
	uint8_t *p = dup_a();
	int f;

	/* 4 of 5: the table entry 4 is now "unused" but not zero. */
	eif_put_be16(p + 26, 4);
	eif_seal(p, toy_a_len);
	f = expect_errors("num_sections 4", p, toy_a_len, EIF_E_LAYOUT);
	eif_put_be16(p + 26, 0);
	eif_seal(p, toy_a_len);
	f |= expect_errors("num_sections 0", p, toy_a_len,
			   EIF_E_NUM_SECTIONS | EIF_E_LAYOUT | EIF_E_SEC_SET);
	free(p);
	return f;
}

static int t_bad_version(void)
{
	static const uint16_t v[] = { 0, 1, 5, 0x0400, 0xffff };
	uint8_t *p = dup_a();
	char what[32];
	unsigned int i;
	int f = 0;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		eif_put_be16(p + 4, v[i]);
		eif_seal(p, toy_a_len);
		snprintf(what, sizeof(what), "version %u", v[i]);
		f |= expect_errors(what, p, toy_a_len, EIF_E_VERSION);
	}
	free(p);
	return f;
}

static int t_v3_metadata(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be16(p + 4, 3);
	eif_seal(p, toy_a_len);
	f = expect_errors("version 3 with metadata", p, toy_a_len,
			  EIF_E_SEC_TYPE);
	free(p);
	return f;
}

static int build_check(const char *what, uint16_t version,
		       const struct eif_build_section *s, unsigned int n,
		       unsigned int want)
{
	struct eif_build_params p = { .version = version, .nsec = n, .sec = s };
	uint8_t *img;
	size_t len;
	int f;

	if (eif_build(&p, &img, &len))
		return diag("%s: eif_build failed", what), 1;
	f = expect_errors(what, img, len, want);
	free(img);
	return f;
}

static int t_v3_without_metadata(void)
{
	const struct eif_build_section s[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
	};
	int f = build_check("v3 kernel+cmdline+ramdisk", 3, s, 3, 0);

	if (!f && chk.nwarn != 1) {
		diag("expected one warning (QEMU wants v4), got %u", chk.nwarn);
		f = 1;
	}
	return f;
}

static int t_v4_without_metadata(void)
{
	const struct eif_build_section s[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
	};

	return build_check("v4 without metadata", 4, s, 3, EIF_E_SEC_SET);
}

static int t_section_set(void)
{
	const struct eif_build_section no_ramdisk[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, "null"),
	};
	const struct eif_build_section ramdisk_first[] = {
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, "null"),
	};
	const struct eif_build_section two_kernels[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, "null"),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
	};
	const struct eif_build_section two_cmdlines[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, "null"),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
	};
	int f = 0;

	f |= build_check("no ramdisk", 4, no_ramdisk, 3, EIF_E_SEC_SET);
	f |= build_check("ramdisk first", 4, ramdisk_first, 4, EIF_E_SEC_SET);
	f |= build_check("two kernels", 4, two_kernels, 5, EIF_E_SEC_SET);
	f |= build_check("two cmdlines", 4, two_cmdlines, 5, EIF_E_SEC_SET);
	return f;
}

/* CBOR encoding as the AWS signer writes it (byte vectors as uint arrays). */
static size_t cbor_put_head(uint8_t *p, unsigned int major, uint64_t v)
{
	if (v < 24) {
		p[0] = (uint8_t)(major << 5 | v);
		return 1;
	}
	if (v < 256) {
		p[0] = (uint8_t)(major << 5 | 24);
		p[1] = (uint8_t)v;
		return 2;
	}
	p[0] = (uint8_t)(major << 5 | 25);
	eif_put_be16(p + 1, (uint16_t)v);
	return 3;
}

static size_t cbor_put_bytes_array(uint8_t *p, const char *s, size_t n)
{
	size_t o = cbor_put_head(p, 4, n), i;

	for (i = 0; i < n; i++)
		o += cbor_put_head(p + o, 0, (uint8_t)s[i]);
	return o;
}

static size_t cbor_put_text(uint8_t *p, const char *s)
{
	size_t o = cbor_put_head(p, 3, strlen(s));

	memcpy(p + o, s, strlen(s));
	return o + strlen(s);
}

/* array(1) of map(2) {signing_certificate: cert, signature: cose}. */
static size_t sig_section(uint8_t *p, const char *cert, size_t cert_len,
			  const char *cose, size_t cose_len, bool swapped)
{
	size_t o = 0;

	p[o++] = 0x81;
	p[o++] = 0xa2;
	if (swapped) {
		o += cbor_put_text(p + o, "signature");
		o += cbor_put_bytes_array(p + o, cose, cose_len);
	}
	o += cbor_put_text(p + o, "signing_certificate");
	o += cbor_put_bytes_array(p + o, cert, cert_len);
	if (!swapped) {
		o += cbor_put_text(p + o, "signature");
		o += cbor_put_bytes_array(p + o, cose, cose_len);
	}
	return o;
}

static uint8_t sig_buf[4096];
static size_t sig_len;

static int t_spec_signature_cbor(void)
{
	uint8_t *cert = NULL;
	size_t len = 0, i;
	const char *why = "";
	int f = 0;

	sig_len = sig_section(sig_buf, SPEC_CERT, 59, SPEC_COSE, 10, false);
	f |= expect_u64("certificate length", strlen(SPEC_CERT), 59);
	f |= expect_hex("signature section prefix", sig_buf,
			strlen(SPEC_SIG_PREFIX) / 2, SPEC_SIG_PREFIX);
	for (i = 0; i < 2; i++) {
		if (i)
			sig_len = sig_section(sig_buf, SPEC_CERT, 59, SPEC_COSE,
					      10, true);
		if (eif_signature_certificate(sig_buf, sig_len, &cert, &len,
					      &why)) {
			diag("decode (%s key order) failed: %s",
			     i ? "swapped" : "spec", why);
			f = 1;
			continue;
		}
		if (len != 59 || memcmp(cert, SPEC_CERT, 59)) {
			diag("decoded certificate differs (%zu bytes)", len);
			f = 1;
		}
		free(cert);
	}
	/* The dummy certificate is not a real one: no PCR8. */
	if (!eif_certificate_pcr((const uint8_t *)SPEC_CERT, 59,
				 (uint8_t[EIF_PCR_SIZE]){ 0 })) {
		diag("dummy PEM accepted as a certificate");
		f = 1;
	}
	return f;
}

static int t_signature_cbor_malformed(void)
{
	static const struct {
		const char *what, *bytes;
		size_t len;
	} bad[] = {
		{ "empty", "", 0 },
		{ "array(0)", "\x80", 1 },
		{ "map instead of array", "\xa0", 1 },
		{ "array of text", "\x81\x60", 2 },
		{ "truncated map", "\x81\xa2\x73signing_cert", 15 },
		{ "cert not an array", "\x81\xa1\x73signing_certificate\x41\x00", 23 },
		{ "cert element 256", "\x81\xa1\x73signing_certificate\x81\x19\x01\x00", 25 },
		{ "cert array too long", "\x81\xa1\x73signing_certificate\x9a\xff\xff\xff\xff", 26 },
		{ "no certificate key", "\x81\xa1\x69signature\x80", 13 },
		{ "indefinite array", "\x9f\xff", 2 },
	};
	uint8_t *cert = NULL;
	size_t len, i;
	const char *why;
	int f = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (!eif_signature_certificate((const uint8_t *)bad[i].bytes,
					       bad[i].len, &cert, &len, &why)) {
			diag("%s: accepted", bad[i].what);
			free(cert);
			f = 1;
		} else if (!why) {
			diag("%s: no reason given", bad[i].what);
			f = 1;
		}
	}
	return f;
}

/* CBOR that libcbor could decode but eif_cbor_load() refuses first. */
static int t_cbor_bounds(void)
{
	static uint8_t buf[EIF_CBOR_MAX_SIZE + 2];
	static const struct {
		const char *what, *bytes;
		size_t len;
		const char *why;
	} bad[] = {
		{ "array(2^32-1) in 5 bytes", "\x9a\xff\xff\xff\xff\x00", 6,
		  "CBOR array or map longer than its input" },
		{ "array(2^64-1)", "\x9b\xff\xff\xff\xff\xff\xff\xff\xff\x00", 10,
		  "CBOR array or map longer than its input" },
		{ "map(2) with 3 bytes left", "\xa2\x00\x00\x00", 4,
		  "CBOR array or map longer than its input" },
		{ "map(2^63)", "\xbb\x80\x00\x00\x00\x00\x00\x00\x00\x00", 10,
		  "CBOR array or map longer than its input" },
		{ "indefinite array", "\x9f\x00\xff", 3,
		  "CBOR with indefinite lengths" },
		{ "indefinite byte string", "\x5f\x41\x00\xff", 4,
		  "CBOR with indefinite lengths" },
		{ "empty", "", 0, "truncated CBOR" },
		{ "truncated byte string", "\x45\x00", 2, "truncated CBOR" },
		{ "reserved additional information", "\x1c", 1,
		  "malformed CBOR" },
	};
	struct cbor_item_t *item;
	const char *why;
	size_t i;
	int f = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		item = eif_cbor_load((const uint8_t *)bad[i].bytes, bad[i].len,
				     &why);
		if (item) {
			diag("%s: accepted", bad[i].what);
			cbor_decref(&item);
			f = 1;
		} else {
			f |= expect_str(bad[i].what, why, bad[i].why);
		}
	}

	/* EIF_CBOR_MAX_DEPTH nested arrays decode, one more does not. */
	memset(buf, 0x81, EIF_CBOR_MAX_DEPTH);
	buf[EIF_CBOR_MAX_DEPTH] = 0x00;
	item = eif_cbor_load(buf, EIF_CBOR_MAX_DEPTH + 1, &why);
	if (!item) {
		diag("%u nested arrays rejected: %s", EIF_CBOR_MAX_DEPTH, why);
		f = 1;
	} else {
		cbor_decref(&item);
	}
	memset(buf, 0x81, EIF_CBOR_MAX_DEPTH + 1);
	buf[EIF_CBOR_MAX_DEPTH + 1] = 0x00;
	why = NULL;
	item = eif_cbor_load(buf, EIF_CBOR_MAX_DEPTH + 2, &why);
	if (item)
		cbor_decref(&item);
	f |= expect_str("too deep", why, "CBOR nested too deeply");

	/* Tags nest too. */
	memset(buf, 0xc1, EIF_CBOR_MAX_DEPTH + 1);
	buf[EIF_CBOR_MAX_DEPTH + 1] = 0x00;
	why = NULL;
	item = eif_cbor_load(buf, EIF_CBOR_MAX_DEPTH + 2, &why);
	if (item)
		cbor_decref(&item);
	f |= expect_str("tags too deep", why, "CBOR nested too deeply");

	/* A byte string of EIF_CBOR_MAX_SIZE bytes in all is fine, one more
	 * byte is not; bytes after the first item are ignored.
	 */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x5a;
	eif_put_be32(buf + 1, EIF_CBOR_MAX_SIZE - 5);
	item = eif_cbor_load(buf, EIF_CBOR_MAX_SIZE, &why);
	if (!item || cbor_bytestring_length(item) != EIF_CBOR_MAX_SIZE - 5) {
		diag("byte string of %u bytes in all rejected",
		     EIF_CBOR_MAX_SIZE);
		f = 1;
	}
	if (item)
		cbor_decref(&item);
	why = NULL;
	item = eif_cbor_load(buf, EIF_CBOR_MAX_SIZE + 1, &why);
	if (item)
		cbor_decref(&item);
	f |= expect_str("oversized", why, "CBOR larger than 64 KiB");

	/* The signature section goes through the same checks. */
	why = NULL;
	if (!eif_signature_certificate(buf, EIF_CBOR_MAX_SIZE + 1,
				       &(uint8_t *){ NULL },
				       &(size_t){ 0 }, &why)) {
		diag("oversized signature section accepted");
		f = 1;
	}
	return f | expect_str("oversized section", why,
			      "CBOR larger than 64 KiB");
}

/* A COSE_Sign1 as the AWS signer writes it, tagged or not. */
static size_t cose_sign1(uint8_t *p, bool tagged, const uint8_t *payload,
			 size_t payload_len)
{
	size_t o = 0;

	if (tagged)
		p[o++] = 0xd2;
	p[o++] = 0x84;
	p[o++] = 0x44;				/* protected: {1: -35} */
	memcpy(p + o, "\xa1\x01\x38\x22", 4);
	o += 4;
	p[o++] = 0xa0;				/* unprotected: {} */
	o += cbor_put_head(p + o, 2, payload_len);
	memcpy(p + o, payload, payload_len);
	o += payload_len;
	o += cbor_put_head(p + o, 2, 96);	/* signature */
	memset(p + o, 0x5a, 96);
	return o + 96;
}

/* {"register_index": index, "register_value": [value...]} */
static size_t pcr_payload(uint8_t *p, unsigned int index, const uint8_t *value,
			  size_t n)
{
	size_t o = 0;

	p[o++] = 0xa2;
	o += cbor_put_text(p + o, "register_index");
	o += cbor_put_head(p + o, 0, index);
	o += cbor_put_text(p + o, "register_value");
	o += cbor_put_bytes_array(p + o, (const char *)value, n);
	return o;
}

static int t_cose_sign1(void)
{
	static const struct {
		const char *what, *bytes;
		size_t len;
	} bad[] = {
		{ "not an array", "\xa0", 1 },
		{ "array of 3", "\x83\x40\xa0\x40", 4 },
		{ "other tag", "\xd3\x84\x40\xa0\x40\x40", 6 },
		{ "unprotected is not a map", "\x84\x43\xa1\x01\x26\x80\x40\x40", 8 },
		{ "protected is not a map", "\x84\x41\x80\xa0\x40\x40", 6 },
		{ "protected without alg", "\x84\x43\xa1\x04\x26\xa0\x40\x40", 8 },
		{ "alg not an integer", "\x84\x43\xa1\x01\x60\xa0\x40\x40", 8 },
		{ "protected is truncated CBOR", "\x84\x42\xa1\x01\xa0\x40\x40", 7 },
		{ "truncated", "\x84\x43\xa1\x01\x26\xa0\x40", 7 },
	};
	uint8_t payload[160], value[EIF_PCR_SIZE], got[EIF_PCR_SIZE];
	uint8_t cose[512], *tbs;
	struct eif_cose_sign1 c;
	const char *why;
	uint64_t index;
	size_t i, n, len;
	int f = 0, tagged;

	for (i = 0; i < EIF_PCR_SIZE; i++)
		value[i] = (uint8_t)(i * 7);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (!eif_cose_sign1_decode((const uint8_t *)bad[i].bytes,
					   bad[i].len, &c, &why)) {
			diag("%s: accepted", bad[i].what);
			eif_cose_sign1_free(&c);
			f = 1;
		} else if (!why) {
			diag("%s: no reason given", bad[i].what);
			f = 1;
		}
	}

	n = pcr_payload(payload, 0, value, EIF_PCR_SIZE);
	for (tagged = 0; tagged < 2; tagged++) {
		len = cose_sign1(cose, tagged, payload, n);
		if (eif_cose_sign1_decode(cose, len, &c, &why)) {
			diag("%s COSE_Sign1 rejected: %s",
			     tagged ? "tagged" : "untagged", why);
			f = 1;
			continue;
		}
		f |= expect_u64("alg", (uint64_t)-c.alg, 35);
		f |= expect_u64("signature length", c.signature_len, 96);
		if (eif_cose_pcr_payload(&c, &index, got) || index ||
		    memcmp(got, value, EIF_PCR_SIZE)) {
			diag("payload not read back");
			f = 1;
		}
		/* ["Signature1", h'a1013822', h'', payload] */
		tbs = eif_cose_sig_structure(&c, &len);
		if (!tbs || len != 1 + 11 + 5 + 1 + 2 + n ||
		    memcmp(tbs, "\x84\x6aSignature1\x44\xa1\x01\x38\x22\x40\x58",
			   19) || tbs[19] != n || memcmp(tbs + 20, payload, n)) {
			diag("Sig_structure differs (%zu bytes)", tbs ? len : 0);
			f = 1;
		}
		free(tbs);
		eif_cose_sign1_free(&c);
	}

	/* Payloads that name no PCR value. */
	for (i = 0; i < 3; i++) {
		uint8_t v[EIF_PCR_SIZE + 1];

		memcpy(v, value, EIF_PCR_SIZE);
		v[EIF_PCR_SIZE] = 0;
		if (i == 0)
			n = pcr_payload(payload, 0, v, EIF_PCR_SIZE - 1);
		else if (i == 1)
			n = pcr_payload(payload, 0, v, EIF_PCR_SIZE + 1);
		else
			n = cbor_put_text(payload, "register_index");
		len = cose_sign1(cose, true, payload, n);
		if (eif_cose_sign1_decode(cose, len, &c, &why)) {
			diag("payload case %zu: COSE_Sign1 rejected: %s", i, why);
			f = 1;
			continue;
		}
		if (!eif_cose_pcr_payload(&c, &index, got)) {
			diag("payload case %zu accepted", i);
			f = 1;
		}
		eif_cose_sign1_free(&c);
	}
	return f;
}

static int t_certificate_pcr8(void)
{
	uint8_t pcr[EIF_PCR_SIZE];

	if (eif_certificate_pcr((const uint8_t *)TEST_CERT, strlen(TEST_CERT),
				pcr))
		return diag("test certificate rejected"), 1;
	return expect_hex("PCR8", pcr, EIF_PCR_SIZE, TEST_CERT_PCR8);
}

static int t_signed_image(void)
{
	const struct eif_build_section s[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, TOY_A_METADATA),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK1),
		{ EIF_SEC_SIGNATURE, sig_buf, 0 },
	};
	struct eif_build_section t[6];
	int f;

	memcpy(t, s, sizeof(s));
	sig_len = sig_section(sig_buf, TEST_CERT, strlen(TEST_CERT),
			      SPEC_COSE, 10, false);
	t[5].len = sig_len;
	f = build_check("toy A + signature", 4, t, 6, 0);
	f |= expect_u64("has_pcr8", chk.has_pcr8, 1);
	f |= expect_hex("PCR0", chk.pcr[0], EIF_PCR_SIZE, TOY_A_PCR0);
	f |= expect_hex("PCR1", chk.pcr[1], EIF_PCR_SIZE, TOY_A_PCR1);
	f |= expect_hex("PCR2", chk.pcr[2], EIF_PCR_SIZE, TOY_A_PCR2);
	f |= expect_hex("PCR8", chk.pcr8, EIF_PCR_SIZE, TEST_CERT_PCR8);

	/* The spec's dummy certificate decodes but is no certificate. */
	sig_len = sig_section(sig_buf, SPEC_CERT, 59, SPEC_COSE, 10, false);
	t[5].len = sig_len;
	f |= build_check("signature with dummy certificate", 4, t, 6,
			 EIF_E_SIGNATURE);
	t[5].data = (const uint8_t *)"\x81\xa2";
	t[5].len = 2;
	f |= build_check("truncated signature CBOR", 4, t, 6, EIF_E_SIGNATURE);
	return f;
}

static int t_signature(void)
{
	static uint8_t big[EIF_SIGNATURE_MAX_SIZE + 1];
	struct eif_build_section signed_img[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, "null"),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
		{ EIF_SEC_SIGNATURE, sig_buf, 0 },
	};
	struct eif_build_section two_sigs[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
		{ EIF_SEC_SIGNATURE, sig_buf, 0 },
		{ EIF_SEC_SIGNATURE, sig_buf, 0 },
	};
	const struct eif_build_section big_sig[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
		{ EIF_SEC_SIGNATURE, big, sizeof(big) },
	};
	int f = 0;

	sig_len = sig_section(sig_buf, TEST_CERT, strlen(TEST_CERT),
			      SPEC_COSE, 10, false);
	signed_img[4].len = two_sigs[3].len = two_sigs[4].len = sig_len;
	memcpy(big, sig_buf, sig_len);
	f |= build_check("v4 signed", 4, signed_img, 5, 0);
	/* The signature is not part of PCR0..2. */
	f |= expect_hex("PCR0 of signed image", chk.pcr[0], EIF_PCR_SIZE,
			TOY_A_PCR1);
	f |= build_check("v3 signed, no metadata", 3, two_sigs, 4, 0);
	f |= build_check("v2 signed", 2, two_sigs, 4, EIF_E_SEC_TYPE);
	f |= build_check("v3 two signatures", 3, two_sigs, 5, EIF_E_SEC_SET);
	f |= build_check("v3 signature > 32768 bytes", 3, big_sig, 4,
			 EIF_E_SEC_SET);
	return f;
}

static int t_section_type(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be16(p + a_sec(4), 6);
	eif_seal(p, toy_a_len);
	f = expect_errors("type 6", p, toy_a_len, EIF_E_SEC_TYPE);
	eif_put_be16(p + a_sec(4), 0);
	eif_seal(p, toy_a_len);
	f |= expect_errors("type 0", p, toy_a_len, EIF_E_SEC_TYPE);
	free(p);
	return f;
}

static int t_section_flags(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be16(p + a_sec(1) + 2, 1);
	eif_seal(p, toy_a_len);
	f = expect_errors("cmdline flags 1", p, toy_a_len, EIF_E_SEC_FLAGS);
	free(p);
	return f;
}

static int t_offset_outside(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be64(p + 28 + 8 * 4, 1ULL << 40);	/* section_offsets[4] */
	eif_seal(p, toy_a_len);
	f = expect_errors("section_offsets[4] = 2^40", p, toy_a_len,
			  EIF_E_LAYOUT | EIF_E_BOUNDS);
	eif_put_be64(p + 28 + 8 * 4, UINT64_MAX - 4);
	eif_seal(p, toy_a_len);
	f |= expect_errors("section_offsets[4] = 2^64-5", p, toy_a_len,
			   EIF_E_LAYOUT | EIF_E_BOUNDS);
	free(p);
	return f;
}

static int t_size_overflow(void)
{
	uint8_t *p = dup_a();
	int f;

	/* Both sizes agree but point far past the end (no wrap-around). */
	eif_put_be64(p + 284 + 8 * 4, UINT64_MAX);
	eif_put_be64(p + a_sec(4) + 4, UINT64_MAX);
	eif_seal(p, toy_a_len);
	f = expect_errors("size 2^64-1", p, toy_a_len, EIF_E_BOUNDS);
	free(p);
	return f;
}

static int t_overlap(void)
{
	uint8_t *p = dup_a();
	int f;

	/* Section 1's table offset points into the kernel data. */
	eif_put_be64(p + 28 + 8 * 1, 556);
	eif_seal(p, toy_a_len);
	eif_check(p, toy_a_len, &chk);
	f = !(chk.errors & EIF_E_LAYOUT) || !chk.nerr;
	if (f) {
		diag("offset 556 for section 1: errors %s, expected LAYOUT",
		     error_names(chk.errors));
		diag_messages(&chk);
	}
	free(p);
	return f;
}

static int t_unused_entry(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be64(p + 284 + 8 * 31, 1);	/* section_sizes[31] */
	eif_seal(p, toy_a_len);
	f = expect_errors("section_sizes[31] = 1", p, toy_a_len, EIF_E_LAYOUT);
	free(p);
	return f;
}

static int t_aarch64(void)
{
	uint8_t *p = dup_a();
	int f;

	eif_put_be16(p + 6, EIF_FLAG_ARCH_ARM64);
	eif_seal(p, toy_a_len);
	f = expect_errors("flags 1 (aarch64)", p, toy_a_len, 0);
	f |= expect_hex("PCR0 unchanged", chk.pcr[0], EIF_PCR_SIZE, TOY_A_PCR0);
	free(p);
	return f;
}

static int t_build_limits(void)
{
	struct eif_build_section s[EIF_MAX_SECTIONS + 1];
	struct eif_build_params p = { .version = 4, .sec = s };
	uint8_t *img = NULL;
	size_t len;
	int f = 0;

	memset(s, 0, sizeof(s));
	p.nsec = 0;
	if (!eif_build(&p, &img, &len)) {
		diag("0 sections accepted");
		f = 1;
	}
	p.nsec = EIF_MAX_SECTIONS + 1;
	if (!eif_build(&p, &img, &len)) {
		diag("33 sections accepted");
		f = 1;
	}
	free(img);
	return f;
}

static int t_metadata_escaping(void)
{
	struct eif_metadata m = toy_a_meta;
	char *s;
	int f;

	m.image_name = "a\"b\\c\nd\x01";
	m.custom = "{\"k\":[1,2]}";
	s = eif_metadata_json(&m);
	f = !s || !strstr(s, "\"ImageName\":\"a\\\"b\\\\c\\nd\\u0001\"") ||
	    !strstr(s, ",\"CustomMetadata\":{\"k\":[1,2]}}");
	if (f)
		diag("got %s", s ? s : "(null)");
	free(s);
	return f;
}

static int t_json_parse(void)
{
	static const char *const bad[] = {
		"", " ", "{\"a\": [1, 2,]}", "{\"a\":1} x", "'a'", "NaN",
		"[Infinity]", "[1.]", "[-.5]", "[1e400]", "{\"a\":\"\xff\"}",
		"/* comment */ {}", "[1] [2]", "{\"a\" 1}", "\"unterminated",
	};
	static const struct {
		const char *in, *out;
	} good[] = {
		{ " { \"a\" : [ 1, 2.5e3, -0.5E-2, true, null ] }\n",
		  "{\"a\":[1,2.5e3,-0.5E-2,true,null]}" },
		{ "\"x/y\\u0001\"", "\"x/y\\u0001\"" },
		{ "42", "42" },
		{ "[]", "[]" },
	};
	char deep[2 * EIF_JSON_MAX_DEPTH + 8];
	struct json_object *o;
	const char *why;
	size_t i;
	int f = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (!eif_json_parse(bad[i], strlen(bad[i]), &o, &why)) {
			diag("\"%s\": accepted", bad[i]);
			json_object_put(o);
			f = 1;
		} else if (!why) {
			diag("\"%s\": no reason given", bad[i]);
			f = 1;
		}
	}
	why = NULL;
	if (!eif_json_parse("{}\0{}", 5, &o, &why)) {
		diag("NUL byte accepted");
		json_object_put(o);
		f = 1;
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (eif_json_parse(good[i].in, strlen(good[i].in), &o, &why)) {
			diag("\"%s\": rejected: %s", good[i].in, why);
			f = 1;
			continue;
		}
		f |= expect_str(good[i].in, json_object_to_json_string_ext(o,
				JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE), good[i].out);
		json_object_put(o);
	}
	o = (struct json_object *)1;
	if (eif_json_parse("null", 4, &o, &why) || o) {
		diag("null is not read as NULL");
		f = 1;
	}

	/* EIF_JSON_MAX_DEPTH nested arrays are fine, one more is not. */
	for (i = 0; i < EIF_JSON_MAX_DEPTH; i++) {
		deep[i] = '[';
		deep[EIF_JSON_MAX_DEPTH + i] = ']';
	}
	if (eif_json_parse(deep, 2 * EIF_JSON_MAX_DEPTH, &o, &why)) {
		diag("%d nested arrays rejected: %s", EIF_JSON_MAX_DEPTH, why);
		f = 1;
	} else {
		json_object_put(o);
	}
	memmove(deep + 1, deep, 2 * EIF_JSON_MAX_DEPTH);
	deep[0] = '[';
	deep[2 * EIF_JSON_MAX_DEPTH + 1] = ']';
	if (!eif_json_parse(deep, 2 * EIF_JSON_MAX_DEPTH + 2, &o, &why)) {
		diag("%d nested arrays accepted", EIF_JSON_MAX_DEPTH + 1);
		json_object_put(o);
		f = 1;
	}
	return f;
}

/* A metadata section that is not JSON is a warning, as a missing key is. */
static int t_metadata_not_json(void)
{
	const struct eif_build_section s[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, "{\"ImageName\": [1,]}"),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
	};
	int f = build_check("metadata that is not JSON", 4, s, 4, 0);

	f |= expect_u64("warnings", chk.nwarn, 1);
	if (chk.nwarn && !strstr(chk.warn[0], "metadata is not JSON")) {
		diag("warning: %s", chk.warn[0]);
		f = 1;
	}
	return f;
}

/* ---- the reader interface (what the QEMU device uses) ----------------- */

/* A buffer reader whose reads fail once they touch byte fail_at or later. */
struct failing_reader {
	struct eif_buf_reader br;
	uint64_t fail_at;
};

static int failing_read(void *opaque, uint64_t off, void *buf, size_t len)
{
	struct failing_reader *f = opaque;

	if (off + len > f->fail_at)
		return -1;
	memcpy(buf, f->br.buf + off, len);
	return 0;
}

static void failing_reader_init(struct failing_reader *f, const uint8_t *buf,
				size_t len, uint64_t fail_at)
{
	eif_buf_reader_init(&f->br, buf, len);
	f->br.r.read = failing_read;
	f->br.r.opaque = f;
	f->fail_at = fail_at;
}

static int t_reader_open_image(void)
{
	uint8_t *p = dup_a();
	struct eif_buf_reader br;
	int f = 0;

	/* The image in a larger memory, as the device sees it. */
	memset(p + toy_a_len, 0, 64);
	eif_buf_reader_init(&br, p, toy_a_len + 64);
	f |= expect_u64("eif_verify", eif_verify(&br.r, 0, &chk), 0);
	f |= expect_u64("errors", chk.errors, 0);
	f |= expect_u64("end", chk.end, toy_a_len);
	f |= expect_u64("crc_ok", chk.crc_ok, 1);
	f |= expect_u64("crc_computed", chk.crc_computed, TOY_A_CRC);
	f |= expect_hex("PCR0", chk.pcr[0], EIF_PCR_SIZE, TOY_A_PCR0);
	f |= expect_hex("PCR1", chk.pcr[1], EIF_PCR_SIZE, TOY_A_PCR1);
	f |= expect_hex("PCR2", chk.pcr[2], EIF_PCR_SIZE, TOY_A_PCR2);
	/* The same bytes as a whole file: the zeros are trailing data. */
	f |= expect_u64("EIF_WHOLE", eif_verify(&br.r, EIF_WHOLE, &chk), 1);
	f |= expect_u64("EIF_WHOLE errors", chk.errors,
			EIF_E_LAYOUT | EIF_E_CRC);
	/* Open mode compares the CRC the sections gave. */
	p[a_sec(3) + EIF_SEC_HDR_SIZE] ^= 1;
	f |= expect_u64("flipped ramdisk byte", eif_verify(&br.r, 0, &chk), 1);
	f |= expect_u64("flipped ramdisk byte: errors", chk.errors, EIF_E_CRC);
	f |= expect_u64("flipped ramdisk byte: pcrs_valid", chk.pcrs_valid, 1);
	free(p);
	return f;
}

/* Wherever the reads start to fail, the result is a read error. */
static int t_reader_failures(void)
{
	struct failing_reader fr;
	unsigned int bad = 0;
	uint64_t k;

	for (k = 0; k < toy_a_len; k++) {
		failing_reader_init(&fr, toy_a, toy_a_len, k);
		if (eif_verify(&fr.br.r, 0, &chk) != 1 ||
		    chk.errors != EIF_E_READ || chk.first_error != EIF_E_READ ||
		    chk.pcrs_valid || chk.crc_ok) {
			if (!bad++) {
				diag("reads fail from byte %llu: errors %s, first %s",
				     (unsigned long long)k,
				     error_names(chk.errors),
				     error_names(chk.first_error));
				diag_messages(&chk);
			}
		}
	}
	/* The same as a whole file: the CRC reads everything once more. */
	for (k = 0; k < toy_a_len; k++) {
		failing_reader_init(&fr, toy_a, toy_a_len, k);
		if (eif_verify(&fr.br.r, EIF_WHOLE, &chk) != 1 ||
		    chk.errors != EIF_E_READ || chk.crc_ok) {
			if (!bad++)
				diag("EIF_WHOLE, reads fail from byte %llu: errors %s",
				     (unsigned long long)k,
				     error_names(chk.errors));
		}
	}
	/* Everything readable: valid. */
	failing_reader_init(&fr, toy_a, toy_a_len, toy_a_len);
	if (eif_verify(&fr.br.r, 0, &chk) ||
	    eif_verify(&fr.br.r, EIF_WHOLE, &chk)) {
		diag("all bytes readable: errors %s", error_names(chk.errors));
		bad++;
	}
	return bad != 0;
}

static int t_section_read(void)
{
	struct eif_buf_reader br;
	char buf[32] = "";
	int f = 0;

	eif_buf_reader_init(&br, toy_a, toy_a_len);
	eif_parse(&br.r, EIF_WHOLE, &chk);
	f |= expect_u64("kernel", eif_section_read(&br.r, &chk, 0, 0, buf,
						   strlen(TOY_KERNEL)), 0);
	if (memcmp(buf, TOY_KERNEL, strlen(TOY_KERNEL)))
		f = 1, diag("kernel section reads \"%.12s\"", buf);
	f |= expect_u64("last ramdisk byte",
			eif_section_read(&br.r, &chk, 4, 8, buf, 1), 0);
	f |= expect_u64("its value", (uint8_t)buf[0], '1');
	f |= expect_u64("empty read at the end",
			eif_section_read(&br.r, &chk, 4, 9, buf, 0), 0);
	f |= expect_u64("one byte past the end",
			(unsigned int)eif_section_read(&br.r, &chk, 4, 9, buf, 1),
			(unsigned int)-1);
	f |= expect_u64("offset 2^64-1",
			(unsigned int)eif_section_read(&br.r, &chk, 4, UINT64_MAX,
						       buf, 2),
			(unsigned int)-1);
	f |= expect_u64("length SIZE_MAX",
			(unsigned int)eif_section_read(&br.r, &chk, 0, 1, buf,
						       SIZE_MAX),
			(unsigned int)-1);
	f |= expect_u64("section 5 of 5",
			(unsigned int)eif_section_read(&br.r, &chk, 5, 0, buf, 0),
			(unsigned int)-1);
	f |= expect_u64("section 1000",
			(unsigned int)eif_section_read(&br.r, &chk, 1000, 0, buf, 0),
			(unsigned int)-1);
	f |= expect_u64("first ramdisk", (unsigned int)eif_find_section(&chk,
			EIF_SEC_RAMDISK, 0), 3);
	f |= expect_u64("next ramdisk", (unsigned int)eif_find_section(&chk,
			EIF_SEC_RAMDISK, 4), 4);
	f |= expect_u64("no more ramdisks", (unsigned int)eif_find_section(&chk,
			EIF_SEC_RAMDISK, 5), (unsigned int)-1);
	f |= expect_u64("no signature", (unsigned int)eif_find_section(&chk,
			EIF_SEC_SIGNATURE, 0), (unsigned int)-1);

	/* The last ramdisk cut short: its header was read, its data is not there. */
	eif_buf_reader_init(&br, toy_a, toy_a_len - 1);
	eif_parse(&br.r, EIF_WHOLE, &chk);
	f |= expect_u64("cut: sections read", chk.nsec, 5);
	f |= expect_u64("cut: last section in bounds", chk.sec[4].in_bounds, 0);
	f |= expect_u64("cut: read of it",
			(unsigned int)eif_section_read(&br.r, &chk, 4, 0, buf, 0),
			(unsigned int)-1);
	f |= expect_u64("cut: find it", (unsigned int)eif_find_section(&chk,
			EIF_SEC_RAMDISK, 4), (unsigned int)-1);
	/* Measuring it anyway is refused. */
	f |= expect_u64("cut: eif_measure", (unsigned int)eif_measure(&br.r, &chk),
			(unsigned int)-1);
	f |= expect_u64("cut: INTERNAL", !!(chk.errors & EIF_E_INTERNAL), 1);
	return f;
}

/*
 * The first rule an image breaks, in the order of the checks: the QEMU
 * device reports only that one (its image status).
 */
static int t_first_error(void)
{
	static const struct {
		const char *what;
		unsigned int off, width;
		uint64_t val;
		unsigned int off2, width2;
		uint64_t val2;
		unsigned int first;
	} c[] = {
		{ "magic, then version", 0, 1, 'E', 4, 2, 9, EIF_E_MAGIC },
		{ "version, then num_sections", 4, 2, 9, 26, 2, 40, EIF_E_VERSION },
		{ "num_sections 1", 26, 2, 1, 0, 0, 0, EIF_E_NUM_SECTIONS },
		{ "unused entry, then flags of section 0", 28 + 8 * 7, 8, 1,
		  548 + 2, 2, 1, EIF_E_LAYOUT },
		{ "flags of section 0, then offset of section 2", 548 + 2, 2, 1,
		  28 + 16, 8, 600, EIF_E_SEC_FLAGS },
		{ "ramdisk before the kernel, then offset of section 4",
		  548, 2, EIF_SEC_RAMDISK, 28 + 32, 8, 1, EIF_E_SEC_SET },
		{ "type of section 1, then size of section 4", 572, 2, 9,
		  284 + 32, 8, 1, EIF_E_SEC_TYPE },
		{ "size of section 2 in the table", 284 + 16, 8, 1, 0, 0, 0,
		  EIF_E_SIZE },
		{ "two kernels", 572, 2, EIF_SEC_KERNEL, 0, 0, 0, EIF_E_SEC_SET },
		{ "CRC only", 544, 1, 0, 0, 0, 0, EIF_E_CRC },
	};
	struct eif_buf_reader br;
	unsigned int i, k;
	int f = 0;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t *p = dup_a();

		for (k = 0; k < c[i].width; k++)
			p[c[i].off + k] = (uint8_t)(c[i].val >> 8 * (c[i].width - 1 - k));
		for (k = 0; k < c[i].width2; k++)
			p[c[i].off2 + k] = (uint8_t)(c[i].val2 >> 8 * (c[i].width2 - 1 - k));
		if (c[i].first != EIF_E_CRC)
			eif_seal(p, toy_a_len);
		memset(p + toy_a_len, 0, 64);
		eif_buf_reader_init(&br, p, toy_a_len + 64);
		eif_verify(&br.r, 0, &chk);
		if (chk.first_error != c[i].first) {
			diag("%s: first error %s, expected %s (all: %s)",
			     c[i].what, error_names(chk.first_error),
			     error_names(c[i].first), error_names(chk.errors));
			f = 1;
		}
		free(p);
	}
	return f;
}

/* ---- command line tool ------------------------------------------------ */

static const char *eif_bin;
static char tmpdir[] = "/tmp/eif-test.XXXXXX";
static char out_buf[16384];

/* Run "eif ARGS" in tmpdir; stdout to out_buf. Returns the exit status. */
__attribute__((format(printf, 1, 2)))
static int run(const char *fmt, ...)
{
	char args[1024], cmd[4096];
	va_list ap;
	FILE *f;
	size_t n;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s >out.txt 2>err.txt",
		 tmpdir, eif_bin, args);
	st = system(cmd);
	out_buf[0] = '\0';
	snprintf(cmd, sizeof(cmd), "%s/out.txt", tmpdir);
	f = fopen(cmd, "r");
	if (f) {
		n = fread(out_buf, 1, sizeof(out_buf) - 1, f);
		out_buf[n] = '\0';
		fclose(f);
	}
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int write_tmp(const char *name, const void *p, size_t n)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return (fclose(f) || !ok) ? -1 : 0;
}

static uint8_t *read_tmp(const char *name, size_t *len)
{
	static uint8_t buf[1 << 16];
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return buf;
}

static int expect_exit(const char *what, int got, int want)
{
	if (got == want)
		return 0;
	diag("%s: exit status %d, expected %d", what, got, want);
	diag("stdout: %.1000s", out_buf);
	return 1;
}

static int expect_output(const char *s)
{
	if (strstr(out_buf, s))
		return 0;
	diag("output lacks \"%s\"", s);
	diag("stdout: %.2000s", out_buf);
	return 1;
}

#define TOY_A_BUILD_ARGS \
	"build --kernel k --cmdline console=ttyS0 --ramdisk r0 --ramdisk r1 " \
	"--name test --version 1.0 --build-time 2024-01-01T00:00:00+00:00 " \
	"--build-tool eif_build --build-tool-version 0.0.0 --img-os OS " \
	"--img-kernel kernel"

static int t_cli_build_toy_a(void)
{
	uint8_t d[32], *p;
	size_t len = 0;
	int f;

	f = expect_exit("eif build", run(TOY_A_BUILD_ARGS " -o a.eif"), 0);
	if (f)
		return f;
	p = read_tmp("a.eif", &len);
	if (!p)
		return diag("a.eif not written"), 1;
	f |= expect_u64("a.eif length", len, TOY_A_LEN);
	sha256(p, len, d);
	f |= expect_hex("SHA-256(a.eif)", d, 32, TOY_A_SHA256);
	return f | expect_output("\"PCR0\": \"" TOY_A_PCR0 "\"");
}

static int t_cli_describe(void)
{
	int f = expect_exit("eif describe a.eif", run("describe a.eif"), 0);

	f |= expect_output("version: 4\n");
	f |= expect_output("num_sections: 5\n");
	f |= expect_output("  2   5 metadata            597            238\n");
	f |= expect_output("cmdline: \"console=ttyS0\"\n");
	f |= expect_output("CRC: ok (0xf2781e10)\n");
	f |= expect_output("PCR0: " TOY_A_PCR0 "\n");
	f |= expect_output("PCR1: " TOY_A_PCR1 "\n");
	f |= expect_output("PCR2: " TOY_A_PCR2 "\n");
	return f | expect_output("status: valid\n");
}

static int t_cli_describe_json(void)
{
	int f = expect_exit("eif describe --json --details",
			    run("describe --json --details a.eif"), 0);

	f |= expect_output("\n  \"EifVersion\": 4,\n");
	f |= expect_output("\n  \"CheckCRC\": true,\n");
	f |= expect_output("\n  \"ImageName\": \"test\",\n");
	f |= expect_output("\n    \"BuildTool\": \"eif_build\",\n");
	f |= expect_output("\"Index\": 3,\n        \"Type\": 3,\n        \"TypeName\": \"ramdisk\",\n        \"Offset\": 847,\n        \"Size\": 9\n");
	f |= expect_output("\"PCR0\": \"" TOY_A_PCR0 "\"");
	f |= expect_output("\"PCR1\": \"" TOY_A_PCR1 "\"");
	f |= expect_output("\"PCR2\": \"" TOY_A_PCR2 "\"");
	return f | expect_output("\"Valid\": true,");
}

static int t_cli_describe_corrupt(void)
{
	uint8_t *p = dup_a();
	int f;

	p[a_sec(0) + EIF_SEC_HDR_SIZE] ^= 1;
	if (write_tmp("bad.eif", p, toy_a_len)) {
		free(p);
		return diag("cannot write bad.eif"), 1;
	}
	free(p);
	f = expect_exit("describe bad.eif", run("describe bad.eif"), 1);
	f |= expect_output("CRC: mismatch (header 0xf2781e10, computed 0x");
	return f | expect_output("status: invalid\n");
}

static int t_cli_describe_truncated(void)
{
	int f = 0;

	if (write_tmp("short.eif", toy_a, 600) ||
	    write_tmp("tiny.eif", toy_a, 100))
		return diag("cannot write test files"), 1;
	f |= expect_exit("describe short.eif", run("describe short.eif"), 1);
	f |= expect_output("past the end of the file");
	f |= expect_exit("describe tiny.eif", run("describe tiny.eif"), 1);
	return f | expect_output("shorter than the 548-byte header");
}

static int t_cli_describe_toy_b(void)
{
	int f;

	if (write_tmp("b.eif", toy_b, toy_b_len))
		return diag("cannot write b.eif"), 1;
	f = expect_exit("describe b.eif", run("describe b.eif"), 0);
	f |= expect_output("CRC: ok (0xa82c11f3)\n");
	f |= expect_output("PCR2: " PCR_EMPTY "\n");
	return f | expect_output("warning: ");
}

static int t_cli_describe_signed(void)
{
	const struct eif_build_section sec[] = {
		SEC(EIF_SEC_KERNEL, TOY_KERNEL),
		SEC(EIF_SEC_CMDLINE, TOY_CMDLINE),
		SEC(EIF_SEC_METADATA, TOY_A_METADATA),
		SEC(EIF_SEC_RAMDISK, TOY_RAMDISK0),
		{ EIF_SEC_SIGNATURE, sig_buf, 0 },
	};
	struct eif_build_section t[5];
	struct eif_build_params p = { .version = 4, .nsec = 5, .sec = t };
	uint8_t *img;
	size_t len;
	int f;

	memcpy(t, sec, sizeof(sec));
	t[4].len = sig_section(sig_buf, TEST_CERT, strlen(TEST_CERT),
			       SPEC_COSE, 10, false);
	if (eif_build(&p, &img, &len))
		return diag("eif_build failed"), 1;
	f = write_tmp("signed.eif", img, len);
	free(img);
	if (f)
		return diag("cannot write signed.eif"), 1;
	f = expect_exit("describe signed.eif", run("describe signed.eif"), 0);
	f |= expect_output("PCR8: " TEST_CERT_PCR8 "\n");
	f |= expect_exit("describe --json signed.eif",
			 run("describe --json signed.eif"), 0);
	f |= expect_output("\"PCR8\": \"" TEST_CERT_PCR8 "\"");
	f |= expect_output("\"IssuerName\": {\n      \"commonName\": \"eif-test\"\n    },");
	/* The dummy COSE of the spec's vector does not verify. */
	f |= expect_output("\"SignatureCheck\": false,");
	return f | expect_output("\"IsSigned\": true");
}

static int t_cli_usage_errors(void)
{
	int f = 0;

	f |= expect_exit("describe missing file", run("describe nonexistent"), 1);
	f |= expect_exit("describe without file", run("describe"), 2);
	f |= expect_exit("unknown command", run("frobnicate"), 2);
	f |= expect_exit("build without ramdisk",
			 run("build --kernel k --cmdline x -o n.eif"), 2);
	f |= expect_exit("build with missing kernel",
			 run("build --kernel nok --cmdline x --ramdisk r0 -o n.eif"), 1);
	f |= expect_exit("build --arch sparc",
			 run("build --kernel k --cmdline x --ramdisk r0 --arch sparc -o n.eif"), 2);
	return f;
}

static int t_cli_custom_metadata(void)
{
	static const char md[] = "{ \"owner\" : \"ne team\",\n  \"tags\": [1, 2.5e3, true, null] }\n";
	int f;

	if (write_tmp("md.json", md, sizeof(md) - 1))
		return diag("cannot write md.json"), 1;
	f = expect_exit("build --metadata",
			run("build --kernel k --cmdline x --ramdisk r0 --metadata md.json -o m.eif"),
			0);
	f |= expect_exit("describe m.eif", run("describe m.eif"), 0);
	f |= expect_output("\\\"CustomMetadata\\\":{\\\"owner\\\":\\\"ne team\\\",\\\"tags\\\":[1,2.5e3,true,null]}}\"");
	f |= expect_output("\\\"ImageName\\\":\\\"k\\\",\\\"ImageVersion\\\":\\\"1.0\\\"");
	return f;
}

static int t_cli_bad_metadata(void)
{
	static const char *const md[] = {
		"{\"a\": [1, 2,]}", "{\"a\": NaN}", "{\"a\": 1.}",
		"{\"a\": \"\xff\"}", "{} {}",
	};
	char path[256];
	unsigned int i;
	int f = 0;

	snprintf(path, sizeof(path), "%s/n.eif", tmpdir);
	for (i = 0; i < sizeof(md) / sizeof(md[0]); i++) {
		if (write_tmp("bad.json", md[i], strlen(md[i])))
			return diag("cannot write bad.json"), 1;
		f |= expect_exit(md[i],
				 run("build --kernel k --cmdline x --ramdisk r0 --metadata bad.json -o n.eif"),
				 1);
		if (access(path, F_OK) == 0) {
			diag("%s: n.eif was written", md[i]);
			f |= 1;
		}
	}
	return f;
}

static int t_cli_aarch64(void)
{
	int f = expect_exit("build --arch aarch64",
			    run("build --kernel k --cmdline x --ramdisk r0 --arch aarch64 -o arm.eif"),
			    0);

	f |= expect_exit("describe arm.eif", run("describe arm.eif"), 0);
	return f | expect_output("flags: 0x0001 (arch aarch64)\n");
}

static int t_cli_multi_ramdisk(void)
{
	int f = expect_exit("build with 3 ramdisks",
			    run("build --kernel k --cmdline x --ramdisk r0 --ramdisk r1 --ramdisk r0 -o r3.eif"),
			    0);

	f |= expect_exit("describe r3.eif", run("describe r3.eif"), 0);
	f |= expect_output("num_sections: 6\n");
	f |= expect_output("  5   3 ramdisk ");
	return f;
}

/* ---- runner ----------------------------------------------------------- */

struct test {
	const char *name;
	int (*fn)(void);
	bool cli;
};

static const struct test tests[] = {
	{ "CRC-32 check value of \"123456789\" is 0xcbf43926", t_crc_check_value, false },
	{ "CRC-32 can be computed in pieces", t_crc_incremental, false },
	{ "SHA-384 of empty input", t_sha384_empty, false },
	{ "PCR of empty content (SHA-384(0^48 || SHA-384(\"\")))", t_pcr_empty, false },
	{ "big-endian field encoding", t_be_fields, false },
	{ "toy A: 238-byte builder metadata JSON", t_toy_a_metadata, false },
	{ "toy A: length 889 and header fields", t_toy_a_layout, false },
	{ "toy A: eif_crc32 0xf2781e10", t_toy_a_crc, false },
	{ "toy A: SHA-256 of the file", t_toy_a_sha256, false },
	{ "toy A: validates with no error or warning", t_toy_a_valid, false },
	{ "toy A: PCR0", t_toy_a_pcr0, false },
	{ "toy A: PCR1", t_toy_a_pcr1, false },
	{ "toy A: PCR2", t_toy_a_pcr2, false },
	{ "PCR0 is one SHA-384 stream over kernel, cmdline, ramdisks", t_pcr_recipe, false },
	{ "toy B: length, first bytes, eif_crc32 0xa82c11f3, SHA-256", t_toy_b_bytes, false },
	{ "toy B: PCR0 = PCR1 = toy A PCR1, PCR2 = empty value", t_toy_b_pcrs, false },
	{ "toy B: {} metadata gives a warning, not an error", t_toy_b_metadata_warning, false },
	{ "metadata is not measured", t_pcr_ignores_metadata, false },
	{ "bad magic is rejected", t_bad_magic, false },
	{ "wrong stored CRC is rejected", t_bad_crc_field, false },
	{ "any single-byte change anywhere gives a CRC error", t_flip_any_byte, false },
	{ "a flipped data byte gives only a CRC error", t_flip_data_only_crc, false },
	{ "every truncation is rejected (short header / out of bounds)", t_truncated, false },
	{ "truncated image with recomputed CRC is rejected", t_truncated_resealed, false },
	{ "trailing data is rejected", t_trailing_data, false },
	{ "section header size != table size is rejected", t_size_mismatch_sechdr, false },
	{ "table size != section header size is rejected", t_size_mismatch_table, false },
	{ "more than 32 sections is rejected", t_too_many_sections, false },
	{ "num_sections below the sections present is rejected", t_too_few_sections, false },
	{ "unknown versions (0, 1, 5, ...) are rejected", t_bad_version, false },
	{ "metadata section in a version 3 image is rejected", t_v3_metadata, false },
	{ "version 3 image without metadata is valid", t_v3_without_metadata, false },
	{ "version 4 image without metadata is rejected", t_v4_without_metadata, false },
	{ "section count/order rules (ramdisk, kernel, cmdline)", t_section_set, false },
	{ "spec CBOR vector: signature section prefix and decoding", t_spec_signature_cbor, false },
	{ "malformed signature CBOR is rejected with a reason", t_signature_cbor_malformed, false },
	{ "CBOR: oversized, deep, indefinite or over-long input refused before libcbor", t_cbor_bounds, false },
	{ "COSE_Sign1: decoding, malformed input, Sig_structure, PCR payload", t_cose_sign1, false },
	{ "PCR8 of a certificate = SHA-384(0^48 || SHA-384(DER))", t_certificate_pcr8, false },
	{ "signed image: PCR0..2 unchanged, PCR8, bad signatures rejected", t_signed_image, false },
	{ "signature section rules (version, count, size)", t_signature, false },
	{ "section types 0 and 6 are rejected", t_section_type, false },
	{ "non-zero section header flags are rejected", t_section_flags, false },
	{ "section offset outside the file is rejected", t_offset_outside, false },
	{ "huge section size is rejected without overflow", t_size_overflow, false },
	{ "overlapping section offset is rejected", t_overlap, false },
	{ "non-zero unused table entry is rejected", t_unused_entry, false },
	{ "aarch64 flag is accepted and not measured", t_aarch64, false },
	{ "eif_build rejects 0 and 33 sections", t_build_limits, false },
	{ "metadata JSON string escaping", t_metadata_escaping, false },
	{ "JSON: malformed, lenient-json-c and too deep input rejected", t_json_parse, false },
	{ "metadata section that is not JSON gives a warning", t_metadata_not_json, false },
	{ "reader: an image in larger memory is valid, ends at its last section", t_reader_open_image, false },
	{ "reader: a read failing at any byte is a read error, never valid", t_reader_failures, false },
	{ "reader: section reads and lookups are bounded", t_section_read, false },
	{ "the first broken rule is reported first", t_first_error, false },
	{ "cli: build reproduces toy A byte for byte", t_cli_build_toy_a, true },
	{ "cli: describe prints header, sections, CRC ok, PCRs", t_cli_describe, true },
	{ "cli: describe --json --details", t_cli_describe_json, true },
	{ "cli: describe of a corrupted image exits 1 with CRC mismatch", t_cli_describe_corrupt, true },
	{ "cli: describe of truncated images exits 1", t_cli_describe_truncated, true },
	{ "cli: describe of toy B exits 0 with a warning", t_cli_describe_toy_b, true },
	{ "cli: describe of a signed image prints PCR8", t_cli_describe_signed, true },
	{ "cli: usage errors exit 2, I/O errors 1", t_cli_usage_errors, true },
	{ "cli: --metadata JSON is compacted into CustomMetadata", t_cli_custom_metadata, true },
	{ "cli: invalid --metadata JSON exits 1, no output file", t_cli_bad_metadata, true },
	{ "cli: --arch aarch64 sets header flag bit 0", t_cli_aarch64, true },
	{ "cli: three ramdisks", t_cli_multi_ramdisk, true },
};

int main(int argc, char **argv)
{
	unsigned int n = sizeof(tests) / sizeof(tests[0]), i, failed = 0;
	bool have_cli = false;
	char cmd[512];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%u\n", n);
	if (build_toys()) {
		printf("# could not build the toy images\n");
		for (i = 0; i < n; i++)
			printf("not ok %u - %s\n", i + 1, tests[i].name);
		return 1;
	}
	if (argc > 1) {
		eif_bin = argv[1];
		if (access(eif_bin, X_OK))
			printf("# %s is not executable\n", eif_bin);
		else if (!mkdtemp(tmpdir))
			printf("# mkdtemp failed\n");
		else if (write_tmp("k", TOY_KERNEL, strlen(TOY_KERNEL)) ||
			 write_tmp("r0", TOY_RAMDISK0, strlen(TOY_RAMDISK0)) ||
			 write_tmp("r1", TOY_RAMDISK1, strlen(TOY_RAMDISK1)))
			printf("# cannot write the toy inputs to %s\n", tmpdir);
		else
			have_cli = true;
	}
	for (i = 0; i < n; i++) {
		int f;

		if (tests[i].cli && !have_cli) {
			printf("ok %u - %s # SKIP no eif binary given\n", i + 1,
			       tests[i].name);
			continue;
		}
		diag_len = 0;
		diag_buf[0] = '\0';
		f = tests[i].fn();
		printf("%sok %u - %s\n", f ? "not " : "", i + 1, tests[i].name);
		if (f) {
			char *line = diag_buf, *nl;

			failed++;
			while (*line && (nl = strchr(line, '\n'))) {
				printf("# %.*s\n", (int)(nl - line), line);
				line = nl + 1;
			}
		}
	}
	if (have_cli) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			printf("# could not remove %s\n", tmpdir);
	}
	free(toy_a);
	free(toy_b);
	free(toy_a_md);
	if (failed)
		printf("# %u of %u tests failed\n", failed, n);
	return failed ? 1 : 0;
}
