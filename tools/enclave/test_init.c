// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side tests of the enclave init's parsing of /cmd, /env and
 * /modules.list. It includes init.c itself (without its main), so what
 * is tested is the code that boots. Output: TAP.
 */
#define NE_INIT_TEST
#include "init.c"

static int ntest, nfail;

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	ntest++;
	if (!cond)
		nfail++;
	printf("%sok %d - ", cond ? "" : "not ", ntest);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Split a copy of s (len bytes) with conf_split, at most max entries. */
static int split(const char *s, size_t len, size_t max, char **out,
		 char *err)
{
	static char buf[4 * CONF_MAX_LINE];

	memcpy(buf, s, len);
	err[0] = '\0';
	return conf_split(buf, len, out, max, err, ERR_LEN);
}

static void test_split(void)
{
	char *v[CONF_MAX_ENTRIES + 1], err[ERR_LEN];
	static char big[2 * CONF_MAX_LINE];
	int n;

	n = split("", 0, 8, v, err);
	ok(n == 0 && v[0] == NULL, "empty file: no entry");
	n = split("/bin/sh", 7, 8, v, err);
	ok(n == 1 && !strcmp(v[0], "/bin/sh") && !v[1],
	   "one line without a trailing newline");
	n = split("/bin/sh\n", 8, 8, v, err);
	ok(n == 1 && !strcmp(v[0], "/bin/sh") && !v[1],
	   "one line with a trailing newline");
	n = split("echo\nhello world\n", 17, 8, v, err);
	ok(n == 2 && !strcmp(v[0], "echo") && !strcmp(v[1], "hello world"),
	   "one entry per line, spaces kept");
	n = split("a\nb", 3, 8, v, err);
	ok(n == 2 && !strcmp(v[1], "b"), "last line without newline counts");
	n = split("echo\n\nx\n", 8, 8, v, err);
	ok(n == 3 && !strcmp(v[1], "") && !strcmp(v[2], "x"),
	   "an empty line is an empty entry");
	n = split("\n", 1, 8, v, err);
	ok(n == 1 && !strcmp(v[0], "") && !v[1], "a lone newline: one empty entry");
	n = split("A=1\r\n", 5, 8, v, err);
	ok(n == 1 && !strcmp(v[0], "A=1\r"), "CR is data, not a separator");
	n = split("a\0b\n", 4, 8, v, err);
	ok(n == -1 && strstr(err, "NUL byte at offset 1"),
	   "NUL byte refused: %s", err);

	memset(big, 'x', sizeof(big));
	big[CONF_MAX_LINE - 1] = '\n';
	n = split(big, CONF_MAX_LINE, 8, v, err);
	ok(n == 1 && strlen(v[0]) == CONF_MAX_LINE - 1,
	   "a line of %d bytes is accepted", CONF_MAX_LINE - 1);
	memset(big, 'x', sizeof(big));
	n = split(big, CONF_MAX_LINE, 8, v, err);
	ok(n == -1 && strstr(err, "line 1 is longer than"),
	   "over-long last line refused: %s", err);
	memcpy(big, "a\n", 2);
	big[CONF_MAX_LINE + 2] = '\n';
	n = split(big, CONF_MAX_LINE + 3, 8, v, err);
	ok(n == -1 && strstr(err, "line 2 is longer than"),
	   "over-long line in the middle refused: %s", err);

	n = split("1\n2\n3\n", 6, 3, v, err);
	ok(n == 3 && !v[3], "exactly the maximum number of lines");
	n = split("1\n2\n3\n4", 7, 3, v, err);
	ok(n == -1 && strstr(err, "more than 3 lines"),
	   "one line too many refused: %s", err);
	n = split("1\n2\n3\n\n", 7, 3, v, err);
	ok(n == -1, "a trailing empty line counts as a line");
}

static void test_modules(void)
{
	char *v[MODULES_MAX + 1], err[ERR_LEN];
	static char buf[64 * (MODULES_MAX + 2)];
	const char *s;
	size_t len;
	int n, i;

	s = "# load order\nvirtio_ring.ko\n\nvirtio.ko\n#x.ko\n/lib/vsock.ko";
	strcpy(buf, s);
	n = modules_split(buf, strlen(s), v, MODULES_MAX, err, sizeof(err));
	ok(n == 3 && !strcmp(v[0], "virtio_ring.ko") &&
	   !strcmp(v[1], "virtio.ko") && !strcmp(v[2], "/lib/vsock.ko") &&
	   !v[3], "modules.list: comments and blank lines skipped, order kept");
	n = modules_split(buf, 0, v, MODULES_MAX, err, sizeof(err));
	ok(n == 0 && !v[0], "modules.list: empty file, no module");

	len = 0;
	for (i = 0; i <= MODULES_MAX; i++)
		len += (size_t)sprintf(buf + len, "m%d.ko\n", i);
	n = modules_split(buf, len, v, MODULES_MAX, err, sizeof(err));
	ok(n == -1 && strstr(err, "more than 64 modules"),
	   "modules.list: too many modules refused: %s", err);
	strcpy(buf, "a.ko\0b.ko");
	n = modules_split(buf, 9, v, MODULES_MAX, err, sizeof(err));
	ok(n == -1 && strstr(err, "NUL byte"),
	   "modules.list: NUL byte refused: %s", err);
}

static char *tmpfile_with(const char *data, size_t len)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/test_init.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror("test_init: temporary file");
		exit(1);
	}
	close(fd);
	return path;
}

static void test_read_conf(void)
{
	char err[ERR_LEN * 2], **v, *path, *big;
	const char *s;
	int n;

	n = read_conf("/nonexistent/cmd", &v, err, sizeof(err));
	ok(n == -1 && !strcmp(err, "cannot read /nonexistent/cmd: "
			      "No such file or directory"),
	   "missing file: %s", err);

	path = tmpfile_with("", 0);
	n = read_conf(path, &v, err, sizeof(err));
	ok(n == 0 && v[0] == NULL, "empty file: no entry");
	unlink(path);

	s = "PATH=/bin\nHOME=/\nX=a b";
	path = tmpfile_with(s, strlen(s));
	n = read_conf(path, &v, err, sizeof(err));
	ok(n == 3 && !strcmp(v[0], "PATH=/bin") && !strcmp(v[2], "X=a b") &&
	   !v[3], "env file without trailing newline");
	unlink(path);

	big = malloc(CONF_MAX_BYTES + 1);
	memset(big, '\n', CONF_MAX_BYTES + 1);
	path = tmpfile_with(big, CONF_MAX_BYTES + 1);
	n = read_conf(path, &v, err, sizeof(err));
	ok(n == -1 && strstr(err, "is larger than 1048576 bytes"),
	   "file over %d bytes refused: %s", CONF_MAX_BYTES, err);
	unlink(path);

	path = tmpfile_with(big, CONF_MAX_ENTRIES + 1);
	n = read_conf(path, &v, err, sizeof(err));
	ok(n == -1 && strstr(err, "has more than 1024 lines"),
	   "%d lines refused: %s", CONF_MAX_ENTRIES + 1, err);
	unlink(path);

	path = tmpfile_with(big, CONF_MAX_ENTRIES);
	n = read_conf(path, &v, err, sizeof(err));
	ok(n == CONF_MAX_ENTRIES && !v[n], "%d empty lines accepted",
	   CONF_MAX_ENTRIES);
	unlink(path);
	free(big);

	path = tmpfile_with("a\0b", 3);
	n = read_conf(path, &v, err, sizeof(err));
	ok(n == -1 && strstr(err, " contains a NUL byte at offset 1"),
	   "the reason names the file: %s", err);
	unlink(path);
}

int main(void)
{
	test_split();
	test_modules();
	test_read_conf();
	printf("1..%d\n", ntest);
	if (nfail)
		printf("# %d of %d failed\n", nfail, ntest);
	return nfail ? 1 : 0;
}
