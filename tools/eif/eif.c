// SPDX-License-Identifier: GPL-2.0
/*
 * eif: build and describe Enclave Image Format (EIF) files.
 *
 *   eif build --kernel K --cmdline S --ramdisk R [--ramdisk R2]...
 *             [--metadata JSON] [--arch x86_64|aarch64] -o OUT
 *   eif describe [--json] FILE
 *
 * Exit status: 0 success / valid image, 1 invalid image, 2 usage or I/O
 * error. See README.rst.
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

#include "eif_file.h"

#define EIF_TOOL_NAME		"eif"
#define EIF_TOOL_VERSION	"0.1.0"

#define EXIT_VALID	0
#define EXIT_INVALID	1
#define EXIT_USAGE	2

/* The builder's section order: kernel, cmdline, metadata, ramdisks. */
#define MAX_RAMDISKS	(EIF_MAX_SECTIONS - 3)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eif build --kernel FILE --cmdline STRING --ramdisk FILE [--ramdisk FILE]...\n"
		"                 [--metadata JSON_FILE] [--arch x86_64|aarch64] -o OUT\n"
		"                 [--name S] [--version S] [--build-time S] [--build-tool S]\n"
		"                 [--build-tool-version S] [--img-os S] [--img-kernel S]\n"
		"                 [--default-mem BYTES] [--default-cpus N]\n"
		"       eif describe [--json] FILE\n"
		"       eif help\n"
		"exit status: 0 ok/valid, 1 invalid image, 2 usage or I/O error\n");
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
	int c, ret = EXIT_USAGE;

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
			return EXIT_VALID;
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
		ret = EXIT_INVALID;
		goto out;
	}
	if (write_file(output, img, imglen))
		goto out;
	printf("output: %s (%zu bytes)\n", output, imglen);
	print_pcrs(stdout, chk);
	ret = EXIT_VALID;
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

static void describe_json(const char *path, const struct eif_image *img)
{
	const struct eif_header *h = &img->hdr;
	const struct eif_section *s;
	char hex[2 * EIF_PCR_SIZE + 1];
	unsigned int i, n;

	printf("{\"File\":");
	print_json_str(stdout, path);
	printf(",\"FileSize\":%llu", (unsigned long long)img->len);
	if (!(img->errors & EIF_E_SHORT)) {
		printf(",\"EifVersion\":%u,\"Flags\":%u,\"Arch\":\"%s\"",
		       h->version, h->flags, arch_name(h->flags));
		printf(",\"DefaultMemory\":%" PRIu64 ",\"DefaultCpus\":%" PRIu64,
		       h->default_mem, h->default_cpus);
		printf(",\"NumSections\":%u,\"Sections\":[", h->num_sections);
		n = h->num_sections > EIF_MAX_SECTIONS ? 0 : h->num_sections;
		for (i = 0; i < n; i++) {
			printf("%s{\"Index\":%u", i ? "," : "", i);
			if (i < img->nsec)
				printf(",\"Type\":%u,\"TypeName\":\"%s\"",
				       img->sec[i].type,
				       eif_section_name(img->sec[i].type));
			printf(",\"Offset\":%" PRIu64 ",\"Size\":%" PRIu64 "}",
			       h->section_offsets[i], h->section_sizes[i]);
		}
		printf("]");
		s = find_section(img, EIF_SEC_CMDLINE);
		if (s) {
			printf(",\"Cmdline\":");
			print_json_bytes(stdout, s->data, s->size);
		}
		s = find_section(img, EIF_SEC_METADATA);
		if (s) {
			printf(",\"RawMetadata\":");
			print_json_bytes(stdout, s->data, s->size);
		}
		printf(",\"CheckCRC\":%s,\"StoredCRC\":\"0x%08x\",\"ComputedCRC\":\"0x%08x\"",
		       img->crc_ok ? "true" : "false", h->crc32,
		       img->crc_computed);
	}
	if (img->pcrs_valid) {
		printf(",\"Measurements\":{\"HashAlgorithm\":\"SHA384\"");
		for (i = 0; i < EIF_NUM_PCRS; i++) {
			eif_hex(img->pcr[i], EIF_PCR_SIZE, hex);
			printf(",\"PCR%u\":\"%s\"", i, hex);
		}
		if (img->has_pcr8) {
			eif_hex(img->pcr8, EIF_PCR_SIZE, hex);
			printf(",\"PCR8\":\"%s\"", hex);
		}
		printf("}");
	}
	if (!(img->errors & EIF_E_SHORT))
		printf(",\"IsSigned\":%s",
		       find_section(img, EIF_SEC_SIGNATURE) ? "true" : "false");
	printf(",\"Valid\":%s,\"Warnings\":[", img->errors ? "false" : "true");
	for (i = 0; i < img->nwarn; i++) {
		if (i)
			putchar(',');
		print_json_str(stdout, img->warn[i]);
	}
	printf("],\"Errors\":[");
	for (i = 0; i < img->nerr; i++) {
		if (i)
			putchar(',');
		print_json_str(stdout, img->err[i]);
	}
	printf("]}\n");
}

static int cmd_describe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct eif_image *img;
	uint8_t *buf;
	size_t len;
	bool json = false;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_VALID;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (read_file(argv[optind], &buf, &len, 0))
		return EXIT_USAGE;
	img = malloc(sizeof(*img));
	if (!img) {
		fprintf(stderr, "eif: out of memory\n");
		free(buf);
		return EXIT_USAGE;
	}
	ret = eif_check(buf, len, img) ? EXIT_INVALID : EXIT_VALID;
	if (img->errors & EIF_E_INTERNAL)
		ret = EXIT_USAGE;
	if (json)
		describe_json(argv[optind], img);
	else
		describe_text(argv[optind], img);
	if (ret == EXIT_INVALID)
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
		return EXIT_VALID;
	}
	fprintf(stderr, "eif: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
