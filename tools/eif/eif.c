// SPDX-License-Identifier: GPL-2.0
/*
 * eif: build and describe Enclave Image Format (EIF) files.
 *
 *   eif build --kernel K --cmdline S --ramdisk R [--ramdisk R2]...
 *             [--metadata JSON] [--arch x86_64|aarch64] -o OUT
 *   eif describe [--json [--details]] FILE
 *   eif --version | --help
 *
 * Output is shaped like nitro-cli's: "build" prints build-enclave's JSON,
 * "describe --json" describe-eif's. Exit status: 0 success (a valid
 * image), 1 failure (an invalid image, a file that cannot be read or
 * written), 2 usage error. See README.rst.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "eif_file.h"

#define EIF_TOOL_NAME		"eif"
#ifndef EIF_TOOL_VERSION
#define EIF_TOOL_VERSION	"0.1.0"
#endif

#define EXIT_OK		0
#define EXIT_FAIL	1	/* invalid image, I/O error, internal error */
#define EXIT_USAGE	2	/* bad command line */

/* What nitro-cli prints as HashAlgorithm (Rust's debug form of its hasher). */
#define NITRO_CLI_HASH_ALGORITHM	"Sha384 { ... }"

/* The builder's section order: kernel, cmdline, metadata, ramdisks. */
#define MAX_RAMDISKS	(EIF_MAX_SECTIONS - 3)

#define NE_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eif build --kernel FILE --cmdline STRING --ramdisk FILE [--ramdisk FILE]...\n"
		"                 [--metadata JSON_FILE] [--arch x86_64|aarch64] -o OUT\n"
		"                 [--name S] [--version S] [--build-time S] [--build-tool S]\n"
		"                 [--build-tool-version S] [--img-os S] [--img-kernel S]\n"
		"                 [--default-mem BYTES] [--default-cpus N]\n"
		"       eif describe [--json [--details]] FILE\n"
		"       eif --version\n"
		"       eif --help | help\n"
		"\n"
		"build writes an Enclave Image File and prints its measurements as\n"
		"nitro-cli build-enclave does (JSON on stdout); describe checks one and\n"
		"prints it, with --json as nitro-cli describe-eif does (--details adds\n"
		"a \"Details\" object: sections, errors, warnings).\n"
		"\n"
		"exit status: 0 success (valid image), 1 failure (invalid image,\n"
		"unreadable or unwritable file), 2 usage error\n");
}

static int read_file(const char *path, uint8_t **out, size_t *outlen,
		     size_t max)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "eif: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, ncap);

			if (!nb) {
				fprintf(stderr, "eif: %s: out of memory\n", path);
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (max && len > max) {
			fprintf(stderr, "eif: %s: larger than %zu bytes\n",
				path, max);
			goto fail;
		}
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "eif: %s: read error\n", path);
		goto fail;
	}
	fclose(f);
	*out = buf;
	*outlen = len;
	return 0;
fail:
	free(buf);
	fclose(f);
	return -1;
}

/* Write to a temporary file next to path, then rename over it. */
static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	size_t tlen = strlen(path) + 32;
	char *tmp = malloc(tlen);
	FILE *f;

	if (!tmp) {
		fprintf(stderr, "eif: out of memory\n");
		return -1;
	}
	snprintf(tmp, tlen, "%s.tmp%ld", path, (long)getpid());
	f = fopen(tmp, "wb");
	if (!f) {
		fprintf(stderr, "eif: %s: %s\n", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fwrite(buf, 1, len, f) != len || fflush(f) || ferror(f)) {
		fprintf(stderr, "eif: %s: write error: %s\n", tmp,
			strerror(errno));
		fclose(f);
		goto fail;
	}
	if (fclose(f)) {
		fprintf(stderr, "eif: %s: %s\n", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, path)) {
		fprintf(stderr, "eif: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	return -1;
}

/*
 * Minimal JSON validator that also compacts: whitespace outside strings is
 * dropped, everything else is copied. Used for --metadata.
 */
struct json {
	const char *p, *end;
	char *out;
	size_t n;
	const char *err;
};

static void json_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static void json_put(struct json *j, char c)
{
	j->out[j->n++] = c;
}

static int json_fail(struct json *j, const char *msg)
{
	if (!j->err)
		j->err = msg;
	return -1;
}

static int json_digits(struct json *j)
{
	int n = 0;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		json_put(j, *j->p++);
		n++;
	}
	return n;
}

static int json_value(struct json *j, int depth);

static int json_string(struct json *j)
{
	json_put(j, *j->p++);	/* opening quote */
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p;

		if (c < 0x20)
			return json_fail(j, "control character in string");
		json_put(j, *j->p++);
		if (c == '"')
			return 0;
		if (c != '\\')
			continue;
		if (j->p >= j->end)
			break;
		c = (unsigned char)*j->p;
		if (c == 'u') {
			int i;

			json_put(j, *j->p++);
			for (i = 0; i < 4; i++) {
				if (j->p >= j->end ||
				    !strchr("0123456789abcdefABCDEF", *j->p) ||
				    !*j->p)
					return json_fail(j, "bad \\u escape");
				json_put(j, *j->p++);
			}
		} else if (strchr("\"\\/bfnrt", c) && c) {
			json_put(j, *j->p++);
		} else {
			return json_fail(j, "bad escape in string");
		}
	}
	return json_fail(j, "unterminated string");
}

static int json_number(struct json *j)
{
	if (*j->p == '-')
		json_put(j, *j->p++);
	if (j->p < j->end && *j->p == '0')
		json_put(j, *j->p++);
	else if (!json_digits(j))
		return json_fail(j, "bad number");
	if (j->p < j->end && *j->p == '.') {
		json_put(j, *j->p++);
		if (!json_digits(j))
			return json_fail(j, "bad number");
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		json_put(j, *j->p++);
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			json_put(j, *j->p++);
		if (!json_digits(j))
			return json_fail(j, "bad number");
	}
	return 0;
}

static int json_container(struct json *j, int depth, char close)
{
	json_put(j, *j->p++);
	json_ws(j);
	if (j->p < j->end && *j->p == close) {
		json_put(j, *j->p++);
		return 0;
	}
	for (;;) {
		json_ws(j);
		if (close == '}') {
			if (j->p >= j->end || *j->p != '"')
				return json_fail(j, "expected a string key");
			if (json_string(j))
				return -1;
			json_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return json_fail(j, "expected ':'");
			json_put(j, *j->p++);
		}
		if (json_value(j, depth + 1))
			return -1;
		json_ws(j);
		if (j->p >= j->end)
			return json_fail(j, "unexpected end");
		if (*j->p == close) {
			json_put(j, *j->p++);
			return 0;
		}
		if (*j->p != ',')
			return json_fail(j, "expected ',' or end of container");
		json_put(j, *j->p++);
	}
}

static int json_value(struct json *j, int depth)
{
	static const char *const lits[] = { "true", "false", "null" };
	unsigned int i;

	if (depth > 64)
		return json_fail(j, "nested too deeply");
	json_ws(j);
	if (j->p >= j->end)
		return json_fail(j, "unexpected end");
	switch (*j->p) {
	case '{':
		return json_container(j, depth, '}');
	case '[':
		return json_container(j, depth, ']');
	case '"':
		return json_string(j);
	}
	if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
		return json_number(j);
	for (i = 0; i < 3; i++) {
		size_t n = strlen(lits[i]);

		if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, lits[i], n)) {
			memcpy(j->out + j->n, lits[i], n);
			j->n += n;
			j->p += n;
			return 0;
		}
	}
	return json_fail(j, "unexpected character");
}

/* Validate and compact JSON text; returns a malloc()ed string or NULL. */
static char *json_compact(const uint8_t *text, size_t len, const char **err)
{
	struct json j = {
		.p = (const char *)text,
		.end = (const char *)text + len,
	};

	j.out = malloc(len + 1);
	if (!j.out) {
		*err = "out of memory";
		return NULL;
	}
	if (json_value(&j, 0) == 0) {
		json_ws(&j);
		if (j.p != j.end)
			json_fail(&j, "trailing characters after the value");
	}
	if (j.err) {
		*err = j.err;
		free(j.out);
		return NULL;
	}
	j.out[j.n] = '\0';
	return j.out;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*v = x;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* RFC 3339 UTC time of SOURCE_DATE_EPOCH, or of now. */
static void build_time_now(char *buf, size_t n)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;
	time_t t = time(NULL);
	struct tm tm;

	if (sde && !parse_u64(sde, &v))
		t = (time_t)v;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

/* Print bytes as a JSON string; bytes >= 0x80 become \u00XX. */
static void print_json_bytes(FILE *f, const uint8_t *p, size_t len)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void print_json_str(FILE *f, const char *s)
{
	print_json_bytes(f, (const uint8_t *)s, strlen(s));
}

static void print_pcrs(FILE *f, const struct eif_image *img)
{
	char hex[2 * EIF_PCR_SIZE + 1];
	unsigned int i;

	for (i = 0; i < EIF_NUM_PCRS; i++) {
		eif_hex(img->pcr[i], EIF_PCR_SIZE, hex);
		fprintf(f, "PCR%u: %s\n", i, hex);
	}
	if (img->has_pcr8) {
		eif_hex(img->pcr8, EIF_PCR_SIZE, hex);
		fprintf(f, "PCR8: %s\n", hex);
	}
}

/*
 * Indented JSON output, laid out as nitro-cli prints it (two spaces per
 * level, "key": value).
 */
struct jw {
	FILE *f;
	unsigned int depth;
	bool first;		/* no member yet in the innermost container */
};

static void jw_indent(struct jw *w)
{
	unsigned int i;

	fputc('\n', w->f);
	for (i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* Start the next member: a comma after the previous one, a new line. */
static void jw_next(struct jw *w)
{
	if (!w->first)
		fputc(',', w->f);
	w->first = false;
	jw_indent(w);
}

static void jw_key(struct jw *w, const char *key)
{
	jw_next(w);
	print_json_str(w->f, key);
	fputs(": ", w->f);
}

static void jw_open(struct jw *w, char c)
{
	fputc(c, w->f);
	w->depth++;
	w->first = true;
}

static void jw_close(struct jw *w, char c)
{
	w->depth--;
	if (!w->first)
		jw_indent(w);
	fputc(c, w->f);
	w->first = false;
}

static void jw_str(struct jw *w, const char *key, const char *val)
{
	jw_key(w, key);
	print_json_str(w->f, val);
}

static void jw_bool(struct jw *w, const char *key, bool val)
{
	jw_key(w, key);
	fputs(val ? "true" : "false", w->f);
}

static void jw_u64(struct jw *w, const char *key, uint64_t val)
{
	jw_key(w, key);
	fprintf(w->f, "%" PRIu64, val);
}

/* A member whose value is JSON text taken as it is (n bytes). */
static void jw_raw(struct jw *w, const char *key, size_t klen,
		   const char *val, size_t n)
{
	jw_next(w);
	fwrite(key, 1, klen, w->f);
	fputs(": ", w->f);
	fwrite(val, 1, n, w->f);
}

/* "Measurements": {"HashAlgorithm", "PCR0".."PCR2", "PCR8" if signed}. */
static void jw_measurements(struct jw *w, const struct eif_image *img)
{
	char hex[2 * EIF_PCR_SIZE + 1], key[8];
	unsigned int i;

	jw_key(w, "Measurements");
	jw_open(w, '{');
	jw_str(w, "HashAlgorithm", NITRO_CLI_HASH_ALGORITHM);
	for (i = 0; i < EIF_NUM_PCRS; i++) {
		eif_hex(img->pcr[i], EIF_PCR_SIZE, hex);
		snprintf(key, sizeof(key), "PCR%u", i);
		jw_str(w, key, hex);
	}
	if (img->has_pcr8) {
		eif_hex(img->pcr8, EIF_PCR_SIZE, hex);
		jw_str(w, "PCR8", hex);
	}
	jw_close(w, '}');
}

/* What nitro-cli build-enclave prints on stdout: {"Measurements": {...}}. */
static void print_build_json(FILE *f, const struct eif_image *img)
{
	struct jw w = { .f = f };

	jw_open(&w, '{');
	jw_measurements(&w, img);
	jw_close(&w, '}');
	fputc('\n', f);
}

enum {
	OPT_NAME = 0x100, OPT_VERSION, OPT_BUILD_TIME, OPT_BUILD_TOOL,
	OPT_BUILD_TOOL_VERSION, OPT_IMG_OS, OPT_IMG_KERNEL, OPT_MEM, OPT_CPUS,
};

static int cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "ramdisk", required_argument, NULL, 'r' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "arch", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "version", required_argument, NULL, OPT_VERSION },
		{ "build-time", required_argument, NULL, OPT_BUILD_TIME },
		{ "build-tool", required_argument, NULL, OPT_BUILD_TOOL },
		{ "build-tool-version", required_argument, NULL,
		  OPT_BUILD_TOOL_VERSION },
		{ "img-os", required_argument, NULL, OPT_IMG_OS },
		{ "img-kernel", required_argument, NULL, OPT_IMG_KERNEL },
		{ "default-mem", required_argument, NULL, OPT_MEM },
		{ "default-cpus", required_argument, NULL, OPT_CPUS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kernel = NULL, *cmdline = NULL, *metadata = NULL;
	const char *output = NULL, *ramdisk[MAX_RAMDISKS];
	struct eif_metadata md = {
		.image_version = "1.0",
		.build_tool = EIF_TOOL_NAME,
		.build_tool_version = EIF_TOOL_VERSION,
		.operating_system = "OS",
		.kernel_version = "kernel",
	};
	struct eif_build_params bp = {
		.version = EIF_VERSION_CURRENT,
		.default_mem = EIF_DEFAULT_MEM,
		.default_cpus = EIF_DEFAULT_CPUS,
	};
	struct eif_build_section sec[EIF_MAX_SECTIONS];
	uint8_t *file[MAX_RAMDISKS + 2] = { NULL };
	size_t flen[MAX_RAMDISKS + 2];
	unsigned int nramdisk = 0, nfile = 0, i;
	char build_time[64], *mdjson = NULL, *custom = NULL;
	uint8_t *img = NULL;
	size_t imglen;
	struct eif_image *chk = NULL;
	int c, ret = EXIT_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			kernel = optarg;
			break;
		case 'c':
			cmdline = optarg;
			break;
		case 'r':
			if (nramdisk == MAX_RAMDISKS) {
				fprintf(stderr, "eif: at most %u ramdisks\n",
					MAX_RAMDISKS);
				return EXIT_USAGE;
			}
			ramdisk[nramdisk++] = optarg;
			break;
		case 'm':
			metadata = optarg;
			break;
		case 'a':
			if (!strcmp(optarg, "x86_64")) {
				bp.flags = 0;
			} else if (!strcmp(optarg, "aarch64")) {
				bp.flags = EIF_FLAG_ARCH_ARM64;
			} else {
				fprintf(stderr, "eif: --arch must be x86_64 or aarch64\n");
				return EXIT_USAGE;
			}
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_NAME:
			md.image_name = optarg;
			break;
		case OPT_VERSION:
			md.image_version = optarg;
			break;
		case OPT_BUILD_TIME:
			md.build_time = optarg;
			break;
		case OPT_BUILD_TOOL:
			md.build_tool = optarg;
			break;
		case OPT_BUILD_TOOL_VERSION:
			md.build_tool_version = optarg;
			break;
		case OPT_IMG_OS:
			md.operating_system = optarg;
			break;
		case OPT_IMG_KERNEL:
			md.kernel_version = optarg;
			break;
		case OPT_MEM:
			if (parse_u64(optarg, &bp.default_mem)) {
				fprintf(stderr, "eif: bad --default-mem\n");
				return EXIT_USAGE;
			}
			break;
		case OPT_CPUS:
			if (parse_u64(optarg, &bp.default_cpus)) {
				fprintf(stderr, "eif: bad --default-cpus\n");
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !kernel || !cmdline || !nramdisk || !output) {
		fprintf(stderr, "eif build: --kernel, --cmdline, --ramdisk and -o are required\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	/* nitro-cli build-enclave's progress lines go to stderr, as here. */
	fprintf(stderr, "Start building the Enclave Image...\n");
	if (!md.image_name)
		md.image_name = base_name(kernel);
	if (!md.build_time) {
		build_time_now(build_time, sizeof(build_time));
		md.build_time = build_time;
	}

	if (metadata) {
		uint8_t *raw;
		size_t rawlen;
		const char *err = NULL;

		if (read_file(metadata, &raw, &rawlen,
			      EIF_METADATA_CUSTOM_MAX))
			goto out;
		custom = json_compact(raw, rawlen, &err);
		free(raw);
		if (!custom) {
			fprintf(stderr, "eif: %s: not valid JSON: %s\n",
				metadata, err);
			goto out;
		}
		md.custom = custom;
	}
	mdjson = eif_metadata_json(&md);
	if (!mdjson) {
		fprintf(stderr, "eif: out of memory\n");
		goto out;
	}

	if (read_file(kernel, &file[0], &flen[0], 0))
		goto out;
	nfile = 1;
	for (i = 0; i < nramdisk; i++, nfile++)
		if (read_file(ramdisk[i], &file[nfile], &flen[nfile], 0))
			goto out;

	sec[0] = (struct eif_build_section){ EIF_SEC_KERNEL, file[0], flen[0] };
	sec[1] = (struct eif_build_section){ EIF_SEC_CMDLINE,
		(const uint8_t *)cmdline, strlen(cmdline) };
	sec[2] = (struct eif_build_section){ EIF_SEC_METADATA,
		(const uint8_t *)mdjson, strlen(mdjson) };
	for (i = 0; i < nramdisk; i++)
		sec[3 + i] = (struct eif_build_section){ EIF_SEC_RAMDISK,
			file[1 + i], flen[1 + i] };
	bp.sec = sec;
	bp.nsec = 3 + nramdisk;
	if (eif_build(&bp, &img, &imglen)) {
		fprintf(stderr, "eif: build failed: %s\n", strerror(errno));
		goto out;
	}

	/* Check our own output before writing it. */
	chk = malloc(sizeof(*chk));
	if (!chk) {
		fprintf(stderr, "eif: out of memory\n");
		goto out;
	}
	if (eif_check(img, imglen, chk)) {
		for (i = 0; i < chk->nerr; i++)
			fprintf(stderr, "eif: internal error: built image invalid: %s\n",
				chk->err[i]);
		goto out;
	}
	if (write_file(output, img, imglen))
		goto out;
	fprintf(stderr, "Enclave Image successfully created.\n");
	print_build_json(stdout, chk);
	ret = EXIT_OK;
out:
	for (i = 0; i < nfile; i++)
		free(file[i]);
	free(chk);
	free(img);
	free(mdjson);
	free(custom);
	return ret;
}

/* Print bytes as a C-like quoted string, at most max bytes. */
static void print_quoted(FILE *f, const uint8_t *p, size_t len, size_t max)
{
	size_t i, n = len > max ? max : len;

	fputc('"', f);
	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
	if (len > n)
		fprintf(f, "... (%zu bytes)", len);
}

static const struct eif_section *find_section(const struct eif_image *img,
					      uint16_t type)
{
	unsigned int i;

	for (i = 0; i < img->nsec; i++)
		if (img->sec[i].type == type && img->sec[i].data)
			return &img->sec[i];
	return NULL;
}

static const char *arch_name(uint16_t flags)
{
	return (flags & EIF_FLAG_ARCH_ARM64) ? "aarch64" : "x86_64";
}

static void describe_text(const char *path, const struct eif_image *img)
{
	const struct eif_header *h = &img->hdr;
	const struct eif_section *s;
	unsigned int i, n;

	printf("file: %s (%llu bytes)\n", path,
	       (unsigned long long)img->len);
	if (!(img->errors & EIF_E_SHORT)) {
		printf("magic: %02x%02x%02x%02x\n", h->magic[0], h->magic[1],
		       h->magic[2], h->magic[3]);
		printf("version: %u\n", h->version);
		printf("flags: 0x%04x (arch %s)\n", h->flags,
		       arch_name(h->flags));
		printf("default_mem: %" PRIu64 " (%" PRIu64 " MiB)\n",
		       h->default_mem, h->default_mem >> 20);
		printf("default_cpus: %" PRIu64 "\n", h->default_cpus);
		printf("num_sections: %u\n", h->num_sections);
		n = h->num_sections > EIF_MAX_SECTIONS ? 0 : h->num_sections;
		if (n)
			printf("  %-3s %-10s %14s %14s\n", "#", "type",
			       "offset", "size");
		for (i = 0; i < n; i++) {
			char type[24] = "?";

			if (i < img->nsec)
				snprintf(type, sizeof(type), "%u %s",
					 img->sec[i].type,
					 eif_section_name(img->sec[i].type));
			printf("  %-3u %-10s %14" PRIu64 " %14" PRIu64 "\n", i,
			       type, h->section_offsets[i],
			       h->section_sizes[i]);
		}
		s = find_section(img, EIF_SEC_CMDLINE);
		if (s) {
			printf("cmdline: ");
			print_quoted(stdout, s->data, s->size, 4096);
			putchar('\n');
		}
		s = find_section(img, EIF_SEC_METADATA);
		if (s) {
			printf("metadata: ");
			print_quoted(stdout, s->data, s->size, 4096);
			putchar('\n');
		}
		s = find_section(img, EIF_SEC_SIGNATURE);
		if (s)
			printf("signature: %" PRIu64 " bytes (not verified)\n",
			       s->size);
		if (img->crc_ok)
			printf("CRC: ok (0x%08x)\n", h->crc32);
		else
			printf("CRC: mismatch (header 0x%08x, computed 0x%08x)\n",
			       h->crc32, img->crc_computed);
	}
	if (img->pcrs_valid)
		print_pcrs(stdout, img);
	else
		printf("PCRs: not computed (section layout unusable)\n");
	for (i = 0; i < img->nwarn; i++)
		printf("warning: %s\n", img->warn[i]);
	for (i = 0; i < img->nerr; i++)
		printf("error: %s\n", img->err[i]);
	printf("status: %s\n", img->errors ? "invalid" : "valid");
}

/* ---- describe --json: the shape of nitro-cli describe-eif ------------- */

/* One member of a JSON object, as raw text spans of the input. */
struct json_member {
	const char *key;	/* with its quotes */
	size_t klen;
	const char *val;
	size_t vlen;
};

#define JSON_MAX_MEMBERS	64

/*
 * Split the JSON object text[0..len) into its members. scratch must hold
 * len + 1 bytes. Returns the number of members, or -1 if the text is not
 * one valid JSON object (or has more than max members).
 */
static int json_members(const char *text, size_t len, struct json_member *m,
			int max, char *scratch)
{
	struct json j = { .p = text, .end = text + len, .out = scratch };
	int n = 0;

	json_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return -1;
	j.p++;
	json_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto end;
	}
	for (;;) {
		json_ws(&j);
		if (n == max || j.p >= j.end || *j.p != '"')
			return -1;
		m[n].key = j.p;
		if (json_string(&j))
			return -1;
		m[n].klen = j.p - m[n].key;
		json_ws(&j);
		if (j.p >= j.end || *j.p != ':')
			return -1;
		j.p++;
		json_ws(&j);
		m[n].val = j.p;
		if (json_value(&j, 1))
			return -1;
		m[n].vlen = j.p - m[n].val;
		n++;
		json_ws(&j);
		if (j.p < j.end && *j.p == ',') {
			j.p++;
			continue;
		}
		if (j.p < j.end && *j.p == '}') {
			j.p++;
			break;
		}
		return -1;
	}
end:
	json_ws(&j);
	return j.p == j.end ? n : -1;
}

static const struct json_member *json_get(const struct json_member *m, int n,
					  const char *key)
{
	size_t k = strlen(key);
	int i;

	for (i = 0; i < n; i++)
		if (m[i].klen == k + 2 && !memcmp(m[i].key + 1, key, k))
			return &m[i];
	return NULL;
}

static bool json_is(const struct json_member *m, char first)
{
	return m && m->vlen && m->val[0] == first;
}

static const char *const build_keys[] = {
	"BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem",
	"KernelVersion",
};

/*
 * "ImageName", "ImageVersion" and "Metadata" as nitro-cli prints them:
 * only for metadata with the five keys of the builder (null means none);
 * the custom metadata's members are merged into "Metadata".
 */
static void jw_metadata(struct jw *w, const struct eif_section *s)
{
	struct json_member top[JSON_MAX_MEMBERS], bm[JSON_MAX_MEMBERS];
	struct json_member cm[JSON_MAX_MEMBERS];
	const struct json_member *name, *version, *build, *docker, *custom, *v;
	char *scratch;
	int ntop, nbm, ncm = 0, i;
	unsigned int k;

	if (!s || !s->size)
		return;
	scratch = malloc(s->size + 1);
	if (!scratch)
		return;
	ntop = json_members((const char *)s->data, s->size, top,
			    JSON_MAX_MEMBERS, scratch);
	if (ntop < 0)
		goto out;
	name = json_get(top, ntop, "ImageName");
	version = json_get(top, ntop, "ImageVersion");
	build = json_get(top, ntop, "BuildMetadata");
	docker = json_get(top, ntop, "DockerInfo");
	custom = json_get(top, ntop, "CustomMetadata");
	if (!json_is(name, '"') || !json_is(version, '"') ||
	    !json_is(build, '{') || !docker || !custom)
		goto out;
	nbm = json_members(build->val, build->vlen, bm, JSON_MAX_MEMBERS,
			   scratch);
	if (nbm < 0)
		goto out;
	for (k = 0; k < NE_ARRAY_SIZE(build_keys); k++)
		if (!json_is(json_get(bm, nbm, build_keys[k]), '"'))
			goto out;
	if (json_is(custom, '{')) {
		ncm = json_members(custom->val, custom->vlen, cm,
				   JSON_MAX_MEMBERS, scratch);
		if (ncm < 0)
			goto out;
	}

	jw_raw(w, "\"ImageName\"", 11, name->val, name->vlen);
	jw_raw(w, "\"ImageVersion\"", 14, version->val, version->vlen);
	jw_key(w, "Metadata");
	jw_open(w, '{');
	for (k = 0; k < NE_ARRAY_SIZE(build_keys); k++) {
		v = json_get(bm, nbm, build_keys[k]);
		jw_raw(w, v->key, v->klen, v->val, v->vlen);
	}
	jw_raw(w, "\"DockerInfo\"", 12, docker->val, docker->vlen);
	for (i = 0; i < ncm; i++)
		jw_raw(w, cm[i].key, cm[i].klen, cm[i].val, cm[i].vlen);
	/* nitro-cli cannot print a custom value that is not an object. */
	if (!json_is(custom, '{') && !json_is(custom, 'n'))
		jw_raw(w, "\"CustomMetadata\"", 16, custom->val, custom->vlen);
	jw_close(w, '}');
out:
	free(scratch);
}

/* The certificate of the signature section, parsed; NULL if unusable. */
static X509 *signing_certificate(const struct eif_section *sig)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	const char *why;
	X509 *x = NULL;
	BIO *bio;

	if (eif_signature_certificate(sig->data, sig->size, &pem, &len, &why))
		return NULL;
	bio = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
	if (bio)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	free(pem);
	return x;
}

struct name_entry {
	char key[80];
	char *val;
};

static int name_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_entry *)a)->key,
		      ((const struct name_entry *)b)->key);
}

/* "IssuerName": the issuer's attributes by long name, sorted, unique. */
static void jw_issuer(struct jw *w, X509 *x)
{
	const X509_NAME *name = X509_get_issuer_name(x);
	struct name_entry e[32];
	int i, j, n = 0, cnt = X509_NAME_entry_count(name);

	for (i = 0; i < cnt; i++) {
		const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
		unsigned char *utf8 = NULL;
		char key[80];

		OBJ_obj2txt(key, sizeof(key), X509_NAME_ENTRY_get_object(ne), 0);
		if (ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne)) < 0)
			continue;
		for (j = 0; j < n && strcmp(e[j].key, key); j++)
			;
		if (j < n) {			/* a later value replaces it */
			OPENSSL_free(e[j].val);
		} else if (n < (int)NE_ARRAY_SIZE(e)) {
			snprintf(e[n].key, sizeof(e[n].key), "%s", key);
			n++;
		} else {
			OPENSSL_free(utf8);
			continue;
		}
		e[j].val = (char *)utf8;
	}
	qsort(e, n, sizeof(e[0]), name_entry_cmp);
	jw_key(w, "IssuerName");
	jw_open(w, '{');
	for (i = 0; i < n; i++) {
		jw_str(w, e[i].key, e[i].val);
		OPENSSL_free(e[i].val);
	}
	jw_close(w, '}');
}

/* An ASN1_TIME as OpenSSL prints it: "Nov 29 13:53:56 2026 GMT". */
static void jw_time(struct jw *w, const char *key, const ASN1_TIME *t)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char buf[64] = "";
	int n;

	if (bio && ASN1_TIME_print(bio, t)) {
		n = BIO_read(bio, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(bio);
	jw_str(w, key, buf);
}

/*
 * "SigningCertificate" as nitro-cli prints it: issuer, signature
 * algorithm (long name), validity, and the certificate's own signature
 * as upper-case hex bytes joined by ':'.
 */
static void jw_certificate(struct jw *w, X509 *x)
{
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	const ASN1_OBJECT *obj;
	char name[80], *hex, *p;
	int i, n;

	X509_get0_signature(&sig, &alg, x);
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	OBJ_obj2txt(name, sizeof(name), obj, 0);
	n = ASN1_STRING_length(sig);
	hex = malloc(3 * (size_t)n + 1);
	if (!hex)
		return;
	p = hex;
	*p = '\0';
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%02X", i ? ":" : "",
			     ASN1_STRING_get0_data(sig)[i]);
	jw_key(w, "SigningCertificate");
	jw_open(w, '{');
	jw_issuer(w, x);
	jw_str(w, "Algorithm", name);
	jw_time(w, "NotBefore", X509_get0_notBefore(x));
	jw_time(w, "NotAfter", X509_get0_notAfter(x));
	jw_str(w, "Signature", hex);
	jw_close(w, '}');
	free(hex);
}

/* ---- SignatureCheck: the COSE_Sign1 of the signature section --------- */

struct cose_rd {
	const uint8_t *p, *end;
};

static int cose_head(struct cose_rd *c, unsigned int *major, uint64_t *val)
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
		return -1;
	n = 1u << (ai - 24);
	if ((size_t)(c->end - c->p) < n)
		return -1;
	for (*val = 0, i = 0; i < n; i++)
		*val = (*val << 8) | *c->p++;
	return 0;
}

/* A byte string: its bytes stay in the input. */
static int cose_bstr(struct cose_rd *c, const uint8_t **p, size_t *n)
{
	unsigned int major;
	uint64_t len;

	if (cose_head(c, &major, &len) || major != 2 ||
	    len > (uint64_t)(c->end - c->p))
		return -1;
	*p = c->p;
	*n = len;
	c->p += len;
	return 0;
}

static int cose_skip(struct cose_rd *c, unsigned int depth)
{
	unsigned int major;
	uint64_t val, i;

	if (depth > 8 || cose_head(c, &major, &val))
		return -1;
	if (major == 2 || major == 3) {
		if (val > (uint64_t)(c->end - c->p))
			return -1;
		c->p += val;
	} else if (major == 4 || major == 5) {
		if (val > (uint64_t)(c->end - c->p))
			return -1;
		for (i = 0; i < (major == 5 ? 2 * val : val); i++)
			if (cose_skip(c, depth + 1))
				return -1;
	} else if (major == 6) {
		return cose_skip(c, depth + 1);
	}
	return 0;
}

/* The "alg" (label 1) of a protected header map: -7, -35 or -36. */
static int cose_alg(const uint8_t *p, size_t n, int64_t *alg)
{
	struct cose_rd c = { p, p + n };
	unsigned int major;
	uint64_t cnt, i, key;

	if (cose_head(&c, &major, &cnt) || major != 5)
		return -1;
	for (i = 0; i < cnt; i++) {
		if (cose_head(&c, &major, &key))
			return -1;
		if (major == 0 && key == 1) {
			if (cose_head(&c, &major, &key) || major != 1 ||
			    key > INT32_MAX)
				return -1;
			*alg = -1 - (int64_t)key;
			return 0;
		}
		if ((major != 0 && major != 1) || cose_skip(&c, 0))
			return -1;
	}
	return -1;
}

static size_t cose_put_head(uint8_t *p, unsigned int major, uint64_t v)
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
	if (v < 65536) {
		p[0] = (uint8_t)(major << 5 | 25);
		eif_put_be16(p + 1, (uint16_t)v);
		return 3;
	}
	p[0] = (uint8_t)(major << 5 | 26);
	eif_put_be32(p + 1, (uint32_t)v);
	return 5;
}

/* The payload a signature of PCR0 carries: {register_index: 0, register_value: [..]}. */
static size_t pcr0_payload(const uint8_t pcr0[EIF_PCR_SIZE], uint8_t *out)
{
	size_t o = 0;
	unsigned int i;

	o += cose_put_head(out + o, 5, 2);
	o += cose_put_head(out + o, 3, 14);
	memcpy(out + o, "register_index", 14);
	o += 14;
	o += cose_put_head(out + o, 0, 0);
	o += cose_put_head(out + o, 3, 14);
	memcpy(out + o, "register_value", 14);
	o += 14;
	o += cose_put_head(out + o, 4, EIF_PCR_SIZE);
	for (i = 0; i < EIF_PCR_SIZE; i++)
		o += cose_put_head(out + o, 0, pcr0[i]);
	return o;
}

/* ECDSA check of the raw r||s signature over data, with the key of x. */
static bool ecdsa_verify(X509 *x, const EVP_MD *md, const uint8_t *sig,
			 size_t siglen, const uint8_t *data, size_t len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(siglen / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + siglen / 2, (int)(siglen / 2), NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	bool ok = false;
	int n;

	if (!es || !r || !s || !ctx || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	n = i2d_ECDSA_SIG(es, &der);
	ok = n > 0 &&
	     EVP_DigestVerifyInit(ctx, NULL, md, NULL, X509_get0_pubkey(x)) == 1 &&
	     EVP_DigestVerify(ctx, der, n, data, len) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ECDSA_SIG_free(es);
	return ok;
}

/*
 * nitro-cli's SignatureCheck: the COSE_Sign1 of entry 0 verifies with the
 * certificate's key, and its payload names PCR0 of this image.
 */
static bool signature_check(const struct eif_section *sec, X509 *x,
			    const uint8_t pcr0[EIF_PCR_SIZE])
{
	const uint8_t *prot, *payload, *sig;
	size_t nprot, npayload, nsig, half, o;
	uint8_t *cose = NULL, *tbs = NULL, want[160];
	struct cose_rd c;
	const EVP_MD *md;
	unsigned int major;
	uint64_t n;
	int64_t alg;
	const char *why;
	size_t len;
	bool ok = false;

	if (eif_signature_field(sec->data, sec->size, "signature", &cose, &len,
				&why))
		return false;
	c = (struct cose_rd){ cose, cose + len };
	if (c.p < c.end && *c.p == 0xd2)	/* tag 18, COSE_Sign1 */
		c.p++;
	if (cose_head(&c, &major, &n) || major != 4 || n != 4 ||
	    cose_bstr(&c, &prot, &nprot) || cose_skip(&c, 0) ||
	    cose_bstr(&c, &payload, &npayload) || cose_bstr(&c, &sig, &nsig) ||
	    cose_alg(prot, nprot, &alg))
		goto out;
	switch (alg) {
	case -7:
		md = EVP_sha256();
		half = 32;
		break;
	case -35:
		md = EVP_sha384();
		half = 48;
		break;
	case -36:
		md = EVP_sha512();
		half = 66;
		break;
	default:
		goto out;
	}
	if (nsig != 2 * half || npayload != pcr0_payload(pcr0, want) ||
	    memcmp(payload, want, npayload))
		goto out;
	/* Sig_structure: ["Signature1", protected, h'', payload] */
	tbs = malloc(32 + nprot + npayload);
	if (!tbs)
		goto out;
	o = cose_put_head(tbs, 4, 4);
	o += cose_put_head(tbs + o, 3, 10);
	memcpy(tbs + o, "Signature1", 10);
	o += 10;
	o += cose_put_head(tbs + o, 2, nprot);
	memcpy(tbs + o, prot, nprot);
	o += nprot;
	o += cose_put_head(tbs + o, 2, 0);
	o += cose_put_head(tbs + o, 2, npayload);
	memcpy(tbs + o, payload, npayload);
	o += npayload;
	ok = ecdsa_verify(x, md, sig, nsig, tbs, o);
out:
	free(tbs);
	free(cose);
	return ok;
}

static void describe_json(const char *path, const struct eif_image *img,
			  bool details)
{
	const struct eif_header *h = &img->hdr;
	const struct eif_section *s, *sig;
	bool hdr = !(img->errors & EIF_E_SHORT);
	struct jw w = { .f = stdout };
	X509 *x = NULL;
	unsigned int i, n;

	sig = find_section(img, EIF_SEC_SIGNATURE);
	if (sig)
		x = signing_certificate(sig);
	jw_open(&w, '{');
	if (hdr)
		jw_u64(&w, "EifVersion", h->version);
	if (img->pcrs_valid)
		jw_measurements(&w, img);
	jw_bool(&w, "IsSigned", sig != NULL);
	if (x)
		jw_certificate(&w, x);
	if (hdr)
		jw_bool(&w, "CheckCRC", img->crc_ok);
	if (sig)
		jw_bool(&w, "SignatureCheck", x && img->pcrs_valid &&
			signature_check(sig, x, img->pcr[0]));
	jw_metadata(&w, find_section(img, EIF_SEC_METADATA));
	if (!details)
		goto end;

	/* Ours alone: what the check found, section by section. */
	jw_key(&w, "Details");
	jw_open(&w, '{');
	jw_str(&w, "File", path);
	jw_u64(&w, "FileSize", img->len);
	if (hdr) {
		jw_u64(&w, "Flags", h->flags);
		jw_str(&w, "Arch", arch_name(h->flags));
		jw_u64(&w, "DefaultMemory", h->default_mem);
		jw_u64(&w, "DefaultCpus", h->default_cpus);
		jw_u64(&w, "NumSections", h->num_sections);
		jw_key(&w, "Sections");
		jw_open(&w, '[');
		n = h->num_sections > EIF_MAX_SECTIONS ? 0 : h->num_sections;
		for (i = 0; i < n; i++) {
			jw_next(&w);
			jw_open(&w, '{');
			jw_u64(&w, "Index", i);
			if (i < img->nsec) {
				jw_u64(&w, "Type", img->sec[i].type);
				jw_str(&w, "TypeName",
				       eif_section_name(img->sec[i].type));
			}
			jw_u64(&w, "Offset", h->section_offsets[i]);
			jw_u64(&w, "Size", h->section_sizes[i]);
			jw_close(&w, '}');
		}
		jw_close(&w, ']');
		s = find_section(img, EIF_SEC_CMDLINE);
		if (s) {
			jw_key(&w, "Cmdline");
			print_json_bytes(w.f, s->data, s->size);
		}
		jw_u64(&w, "StoredCRC", h->crc32);
		jw_u64(&w, "ComputedCRC", img->crc_computed);
	}
	jw_bool(&w, "Valid", !img->errors);
	jw_key(&w, "Warnings");
	jw_open(&w, '[');
	for (i = 0; i < img->nwarn; i++) {
		jw_next(&w);
		print_json_str(w.f, img->warn[i]);
	}
	jw_close(&w, ']');
	jw_key(&w, "Errors");
	jw_open(&w, '[');
	for (i = 0; i < img->nerr; i++) {
		jw_next(&w);
		print_json_str(w.f, img->err[i]);
	}
	jw_close(&w, ']');
	jw_close(&w, '}');
end:
	jw_close(&w, '}');
	fputc('\n', w.f);
	X509_free(x);
}

static int cmd_describe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "details", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct eif_image *img;
	uint8_t *buf;
	size_t len;
	bool json = false, details = false;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jdh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'd':
			details = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || (details && !json)) {
		if (details && !json)
			fprintf(stderr, "eif describe: --details needs --json\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (read_file(argv[optind], &buf, &len, 0))
		return EXIT_FAIL;
	img = malloc(sizeof(*img));
	if (!img) {
		fprintf(stderr, "eif: out of memory\n");
		free(buf);
		return EXIT_FAIL;
	}
	ret = eif_check(buf, len, img) ? EXIT_FAIL : EXIT_OK;
	if (json)
		describe_json(argv[optind], img, details);
	else
		describe_text(argv[optind], img);
	if (ret != EXIT_OK)
		fprintf(stderr, "eif: %s: invalid EIF image (%s)\n",
			argv[optind], img->nerr ? img->err[0] : "?");
	free(img);
	free(buf);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "build"))
		return cmd_build(argc - 1, argv + 1);
	if (!strcmp(argv[1], "describe"))
		return cmd_describe(argc - 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("%s %s\n", EIF_TOOL_NAME, EIF_TOOL_VERSION);
		return EXIT_OK;
	}
	fprintf(stderr, "eif: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
