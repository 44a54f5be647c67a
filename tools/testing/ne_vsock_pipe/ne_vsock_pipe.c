// SPDX-License-Identifier: GPL-2.0
/*
 * ne_vsock_pipe: move a known byte stream over AF_VSOCK and check it.
 *
 *   ne_vsock_pipe [OPTIONS] listen PORT ACTION
 *   ne_vsock_pipe [OPTIONS] connect CID PORT ACTION
 *
 * ACTION, on each connection:
 *   send N   write N bytes of the pattern (byte i is (i * 7 + 1) % 251),
 *            half-close (shutdown SHUT_WR), then read the receiver's
 *            report and check that it counted and summed the same
 *   recv     read to EOF checking the pattern, print the byte count and
 *            checksum (FNV-1a, 32 bits), write the report back, close
 *   echo     write back what arrives, until EOF (a heartbeat peer)
 *   hold     write 0xb7, wait for it back, print "hold: up", then wait
 *            for the end of the connection; after EOF, one more write
 *            tells a reset (EPIPE: the peer is gone both ways; Linux
 *            reports a peer's RST to read() as EOF, not ECONNRESET)
 *            from a half-close
 *
 * OPTIONS:
 *   --conns K        K connections in parallel (listen: accepts K)
 *   --retry SEC      connect: retry refused/reset/timed out attempts
 *                    for SEC seconds
 *   --timeout SEC    give up (failure) after SEC seconds
 *   --expect-reset   hold: only a reset is success
 *
 * The report is 12 bytes: the byte count (le64), then the checksum
 * (le32). Exit status: 0 all connections ok, 1 a failure, 2 bad usage,
 * 4 skipped (no AF_VSOCK in this kernel).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define EXIT_SKIP	4
#define EXIT_USAGE	2
#define BUF_SIZE	(64 * 1024)
#define REPORT_SIZE	12
#define HOLD_BYTE	0xb7

enum action { ACT_SEND, ACT_RECV, ACT_ECHO, ACT_HOLD };

struct opts {
	unsigned int conns;
	unsigned int retry;
	unsigned int timeout;
	bool expect_reset;
	enum action action;
	uint64_t bytes;		/* send */
};

/* Running pattern position and checksum of one direction. */
struct stream {
	uint64_t count;
	uint32_t sum;
	unsigned int next;	/* pattern byte expected or written next */
};

static void stream_init(struct stream *st)
{
	st->count = 0;
	st->sum = 2166136261u;
	st->next = 1;
}

static uint8_t stream_byte(struct stream *st)
{
	uint8_t b = st->next;

	st->next = (st->next + 7) % 251;
	st->sum = (st->sum ^ b) * 16777619u;
	st->count++;
	return b;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mibps(uint64_t bytes, double secs)
{
	return secs > 0 ? bytes / secs / (1024 * 1024) : 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Read exactly @len bytes: 1 done, 0 EOF first, -1 error. */
static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		p += n;
		len -= n;
	}
	return 1;
}

/* The report: count (le64) at 0, checksum (le32) at 8. */
static void put_report(uint8_t *p, uint64_t count, uint32_t sum)
{
	count = htole64(count);
	sum = htole32(sum);
	memcpy(p, &count, sizeof(count));
	memcpy(p + 8, &sum, sizeof(sum));
}

static void get_report(const uint8_t *p, uint64_t *count, uint32_t *sum)
{
	memcpy(count, p, sizeof(*count));
	memcpy(sum, p + 8, sizeof(*sum));
	*count = le64toh(*count);
	*sum = le32toh(*sum);
}

static int do_send(int fd, unsigned int id, uint64_t total)
{
	static uint8_t buf[BUF_SIZE];
	uint8_t report[REPORT_SIZE];
	struct stream st;
	double t0 = now(), secs;
	uint64_t got_count;
	uint32_t got_sum;

	stream_init(&st);
	while (st.count < total) {
		size_t n = total - st.count < BUF_SIZE ? total - st.count : BUF_SIZE;

		for (size_t i = 0; i < n; i++)
			buf[i] = stream_byte(&st);
		if (write_all(fd, buf, n) < 0) {
			printf("send: conn %u: write after %llu bytes: %s\n", id,
			       (unsigned long long)(st.count - n), strerror(errno));
			return 1;
		}
	}
	if (shutdown(fd, SHUT_WR) < 0) {
		printf("send: conn %u: shutdown: %s\n", id, strerror(errno));
		return 1;
	}
	errno = 0;
	if (read_full(fd, report, sizeof(report)) != 1) {
		printf("send: conn %u: no report after the half-close: %s\n", id,
		       errno ? strerror(errno) : "EOF");
		return 1;
	}
	secs = now() - t0;
	get_report(report, &got_count, &got_sum);
	if (got_count != st.count || got_sum != st.sum) {
		printf("send: conn %u: sent %llu bytes checksum 0x%08x, peer got %llu checksum 0x%08x\n",
		       id, (unsigned long long)st.count, st.sum,
		       (unsigned long long)got_count, got_sum);
		return 1;
	}
	printf("send: conn %u: %llu bytes checksum 0x%08x in %.3f s, %.2f MiB/s, peer agrees\n",
	       id, (unsigned long long)st.count, st.sum, secs,
	       mibps(st.count, secs));
	return 0;
}

static int do_recv(int fd, unsigned int id)
{
	static uint8_t buf[BUF_SIZE];
	uint8_t report[REPORT_SIZE];
	struct stream st;
	double t0 = now(), secs;
	ssize_t n;

	stream_init(&st);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			uint64_t at = st.count;
			uint8_t want = stream_byte(&st);

			if (buf[i] != want) {
				printf("recv: conn %u: byte %llu is 0x%02x, not 0x%02x\n",
				       id, (unsigned long long)at, buf[i], want);
				return 1;
			}
		}
	}
	if (n < 0) {
		printf("recv: conn %u: read after %llu bytes: %s\n", id,
		       (unsigned long long)st.count, strerror(errno));
		return 1;
	}
	secs = now() - t0;
	put_report(report, st.count, st.sum);
	if (write_all(fd, report, sizeof(report)) < 0) {
		printf("recv: conn %u: report: %s\n", id, strerror(errno));
		return 1;
	}
	printf("recv: conn %u: %llu bytes checksum 0x%08x in %.3f s, %.2f MiB/s\n",
	       id, (unsigned long long)st.count, st.sum, secs,
	       mibps(st.count, secs));
	return 0;
}

static int do_echo(int fd, unsigned int id)
{
	static uint8_t buf[BUF_SIZE];
	uint64_t count = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (write_all(fd, buf, n) < 0) {
			printf("echo: conn %u: write: %s\n", id, strerror(errno));
			return 1;
		}
		count += n;
	}
	if (n < 0) {
		printf("echo: conn %u: read after %llu bytes: %s\n", id,
		       (unsigned long long)count, strerror(errno));
		return 1;
	}
	printf("echo: conn %u: %llu bytes echoed\n", id,
	       (unsigned long long)count);
	return 0;
}

static int do_hold(int fd, unsigned int id, bool expect_reset)
{
	uint8_t b = HOLD_BYTE;
	int rc;

	if (write_all(fd, &b, 1) < 0 || read_full(fd, &b, 1) != 1 ||
	    b != HOLD_BYTE) {
		printf("hold: conn %u: no echo of 0x%02x\n", id, HOLD_BYTE);
		return 1;
	}
	printf("hold: conn %u: up\n", id);
	fflush(stdout);
	rc = read_full(fd, &b, 1);
	if (rc < 0 && errno == ECONNRESET) {
		printf("hold: conn %u: reset\n", id);
		return 0;
	}
	if (rc < 0) {
		printf("hold: conn %u: %s\n", id, strerror(errno));
		return 1;
	}
	if (rc) {
		printf("hold: conn %u: unexpected data\n", id);
		return 1;
	}
	if (write(fd, &b, 1) < 0 && (errno == EPIPE || errno == ECONNRESET)) {
		printf("hold: conn %u: reset (EOF, then %s)\n", id,
		       strerror(errno));
		return 0;
	}
	printf("hold: conn %u: EOF, the peer still reads\n", id);
	return expect_reset ? 1 : 0;
}

static int run_action(const struct opts *o, int fd, unsigned int id)
{
	switch (o->action) {
	case ACT_SEND:
		return do_send(fd, id, o->bytes);
	case ACT_RECV:
		return do_recv(fd, id);
	case ACT_ECHO:
		return do_echo(fd, id);
	case ACT_HOLD:
		return do_hold(fd, id, o->expect_reset);
	}
	return 1;
}

static int vsock_socket(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
		printf("skip: no AF_VSOCK: %s\n", strerror(errno));
		exit(EXIT_SKIP);
	}
	if (fd < 0) {
		printf("socket: %s\n", strerror(errno));
		exit(EXIT_FAILURE);
	}
	return fd;
}

/* A connected socket, or -1 once the retry time is over. */
static int connect_retry(unsigned int cid, unsigned int port,
			 unsigned int retry)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = cid,
		.svm_port = port,
	};
	double end = now() + retry;

	for (;;) {
		int fd = vsock_socket();

		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		close(fd);
		if ((errno != ECONNRESET && errno != ECONNREFUSED &&
		     errno != ETIMEDOUT && errno != EINTR) || now() >= end) {
			printf("connect %u:%u: %s\n", cid, port, strerror(errno));
			return -1;
		}
		usleep(100 * 1000);
	}
}

/* Wait for the children; the status is 1 if one of them failed. */
static int wait_children(unsigned int n)
{
	int status, rc = 0;

	while (n--) {
		if (wait(&status) < 0)
			return 1;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			rc = 1;
	}
	return rc;
}

static void report_total(const struct opts *o, double t0, int rc)
{
	double secs = now() - t0;
	uint64_t bytes = o->bytes * o->conns;

	if (o->action != ACT_SEND || rc)
		return;
	printf("total: %u conns, %llu bytes in %.3f s, %.2f MiB/s\n", o->conns,
	       (unsigned long long)bytes, secs, mibps(bytes, secs));
}

static int run_connect(const struct opts *o, unsigned int cid,
		       unsigned int port)
{
	double t0 = now();
	int rc;

	for (unsigned int i = 0; i < o->conns; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			printf("fork: %s\n", strerror(errno));
			return 1;
		}
		if (!pid) {
			int fd;

			if (o->timeout)
				alarm(o->timeout);
			fd = connect_retry(cid, port, o->retry);

			fflush(stdout);
			exit(fd < 0 ? 1 : run_action(o, fd, i));
		}
	}
	rc = wait_children(o->conns);
	report_total(o, t0, rc);
	return rc;
}

static int run_listen(const struct opts *o, unsigned int port)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = port,
	};
	int lfd = vsock_socket();
	double t0 = 0;
	int rc;

	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, o->conns) < 0) {
		printf("listen on port %u: %s\n", port, strerror(errno));
		return 1;
	}
	printf("listen: port %u ready\n", port);
	fflush(stdout);
	for (unsigned int i = 0; i < o->conns; i++) {
		struct sockaddr_vm peer;
		socklen_t len = sizeof(peer);
		int fd = accept(lfd, (struct sockaddr *)&peer, &len);
		pid_t pid;

		if (fd < 0) {
			printf("accept: %s\n", strerror(errno));
			return 1;
		}
		if (!i)
			t0 = now();
		pid = fork();
		if (pid < 0) {
			printf("fork: %s\n", strerror(errno));
			return 1;
		}
		if (!pid) {
			if (o->timeout)
				alarm(o->timeout);
			close(lfd);
			exit(run_action(o, fd, i));
		}
		close(fd);
	}
	close(lfd);
	rc = wait_children(o->conns);
	report_total(o, t0, rc);
	return rc;
}

static unsigned long parse_num(const char *s, const char *what,
			       unsigned long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > max) {
		fprintf(stderr, "ne_vsock_pipe: bad %s '%s'\n", what, s);
		exit(EXIT_USAGE);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ne_vsock_pipe [--conns K] [--retry SEC] [--timeout SEC] [--expect-reset]\n"
		"                     {listen PORT | connect CID PORT} {send N | recv | echo | hold}\n");
	exit(EXIT_USAGE);
}

/* Parse ACTION at argv[0]; returns the arguments it used. */
static int parse_action(struct opts *o, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[0], "send")) {
		o->action = ACT_SEND;
		o->bytes = parse_num(argv[1], "byte count", ~0ul);
		return 2;
	}
	if (argc < 1)
		usage();
	if (!strcmp(argv[0], "recv"))
		o->action = ACT_RECV;
	else if (!strcmp(argv[0], "echo"))
		o->action = ACT_ECHO;
	else if (!strcmp(argv[0], "hold"))
		o->action = ACT_HOLD;
	else
		usage();
	return 1;
}

int main(int argc, char **argv)
{
	struct opts o = { .conns = 1 };
	unsigned int cid = 0, port;
	bool listening;
	int i = 1, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--expect-reset")) {
			o.expect_reset = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--conns"))
			o.conns = parse_num(argv[++i], "connection count", 256);
		else if (!strcmp(argv[i], "--retry"))
			o.retry = parse_num(argv[++i], "retry time", 86400);
		else if (!strcmp(argv[i], "--timeout"))
			o.timeout = parse_num(argv[++i], "timeout", 86400);
		else
			usage();
	}
	if (!o.conns || i >= argc)
		usage();
	listening = !strcmp(argv[i], "listen");
	if (!listening && strcmp(argv[i], "connect"))
		usage();
	i++;
	if (!listening) {
		if (i >= argc)
			usage();
		cid = parse_num(argv[i++], "CID", UINT32_MAX);
	}
	if (i >= argc)
		usage();
	port = parse_num(argv[i++], "port", UINT32_MAX);
	i += parse_action(&o, argc - i, argv + i);
	if (i != argc)
		usage();

	signal(SIGPIPE, SIG_IGN);
	/* Each process sets its own: fork() does not pass alarms on */
	if (o.timeout)
		alarm(o.timeout);
	rc = listening ? run_listen(&o, port) : run_connect(&o, cid, port);
	return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}
