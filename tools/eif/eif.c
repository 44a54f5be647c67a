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

#include <json-c/json.h>
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

/* Compact JSON as the metadata section holds it: no spaces, '/' as is. */
#define JW_JSON_FLAGS \
	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

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
 * level, "key": value). Written here rather than by json-c, whose pretty
 * printer breaks the line inside an empty array or object ("Warnings": [
 * ]) and passes bytes >= 0x80 through as they are, where the Cmdline (any
 * bytes) needs \u00XX escapes to stay valid JSON.
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

/*
 * A member whose value json-c writes, compact (NULL is null). The key is
 * written by json-c too, as it escapes the metadata's keys and values the
 * same way.
 */
static void jw_json(struct jw *w, const char *key, struct json_object *val)
{
	struct json_object *k = json_object_new_string(key);

	jw_next(w);
	fputs(k ? json_object_to_json_string_ext(k, JW_JSON_FLAGS) : "\"\"",
	      w->f);
	fputs(": ", w->f);
	fputs(json_object_to_json_string_ext(val, JW_JSON_FLAGS), w->f);
	json_object_put(k);
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

		struct json_object *obj;

		if (read_file(metadata, &raw, &rawlen,
			      EIF_METADATA_CUSTOM_MAX))
			goto out;
		int bad = eif_json_parse(raw, rawlen, &obj, &err);

		free(raw);
		if (bad) {
			fprintf(stderr, "eif: %s: not valid JSON: %s\n",
				metadata, err);
			goto out;
		}
		custom = strdup(json_object_to_json_string_ext(obj,
							       JW_JSON_FLAGS));
		json_object_put(obj);
		if (!custom) {
			fprintf(stderr, "eif: out of memory\n");
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

static const char *const build_keys[] = {
	"BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem",
	"KernelVersion",
};

static bool json_member_is(struct json_object *o, const char *key,
			   enum json_type type, struct json_object **val)
{
	return json_object_object_get_ex(o, key, val) &&
	       json_object_is_type(*val, type);
}

/*
 * "ImageName", "ImageVersion" and "Metadata" as nitro-cli prints them:
 * only for metadata with the five keys of the builder (null means none);
 * the custom metadata's members are merged into "Metadata".
 */
static void jw_metadata(struct jw *w, const struct eif_section *s)
{
	struct json_object *md, *name, *version, *build, *docker, *custom, *v;
	const char *why;
	unsigned int k;

	if (!s || !s->size || eif_json_parse(s->data, s->size, &md, &why))
		return;
	if (!json_member_is(md, "ImageName", json_type_string, &name) ||
	    !json_member_is(md, "ImageVersion", json_type_string, &version) ||
	    !json_member_is(md, "BuildMetadata", json_type_object, &build) ||
	    !json_object_object_get_ex(md, "DockerInfo", &docker) ||
	    !json_object_object_get_ex(md, "CustomMetadata", &custom))
		goto out;
	for (k = 0; k < NE_ARRAY_SIZE(build_keys); k++)
		if (!json_member_is(build, build_keys[k], json_type_string, &v))
			goto out;

	jw_json(w, "ImageName", name);
	jw_json(w, "ImageVersion", version);
	jw_key(w, "Metadata");
	jw_open(w, '{');
	for (k = 0; k < NE_ARRAY_SIZE(build_keys); k++) {
		json_object_object_get_ex(build, build_keys[k], &v);
		jw_json(w, build_keys[k], v);
	}
	jw_json(w, "DockerInfo", docker);
	if (json_object_is_type(custom, json_type_object)) {
		json_object_object_foreach(custom, key, val)
			jw_json(w, key, val);
	} else if (custom) {
		/* nitro-cli prints custom metadata only as an object. */
		jw_json(w, "CustomMetadata", custom);
	}
	jw_close(w, '}');
out:
	json_object_put(md);
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
	uint8_t *cose = NULL, *tbs = NULL, value[EIF_PCR_SIZE];
	struct eif_cose_sign1 c;
	const EVP_MD *md;
	size_t len, half;
	uint64_t index;
	const char *why;
	bool ok = false;

	if (eif_signature_field(sec->data, sec->size, "signature", &cose, &len,
				&why))
		return false;
	if (eif_cose_sign1_decode(cose, len, &c, &why)) {
		free(cose);
		return false;
	}
	switch (c.alg) {
	case -7:	/* ES256 */
		md = EVP_sha256();
		half = 32;
		break;
	case -35:	/* ES384 */
		md = EVP_sha384();
		half = 48;
		break;
	case -36:	/* ES512 */
		md = EVP_sha512();
		half = 66;
		break;
	default:
		goto out;
	}
	if (c.signature_len != 2 * half ||
	    eif_cose_pcr_payload(&c, &index, value) || index != 0 ||
	    memcmp(value, pcr0, EIF_PCR_SIZE))
		goto out;
	tbs = eif_cose_sig_structure(&c, &len);
	ok = tbs && ecdsa_verify(x, md, c.signature, c.signature_len, tbs, len);
out:
	free(tbs);
	eif_cose_sign1_free(&c);
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
