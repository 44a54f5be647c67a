// SPDX-License-Identifier: GPL-2.0
/*
 * Guest side of the ne-vsock device test (QEMU's emulated virtio-vsock
 * whose far side is the emulated enclaves). Run in the test VM with the
 * host hook qmp-hook.py, which plays the emulated peer through the
 * device's test-connect QOM property:
 *
 *   scripts/ne-vm run --add build/ne_vsock_test \
 *       --host-hook tools/testing/ne_vsock_test/qmp-hook.py -- ./ne_vsock_test
 *
 * Each step prints a "ne-vsock-test: ..." line the hook waits for. The
 * guest checks what it sees (TAP); the hook checks the peer's side and
 * sends its verdict back over vsock at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define PARENT_CID	3
#define PEER_CID	5
#define BULK_LEN	(1 << 20)

static int test_nr, failures;

static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++test_nr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("ne-vsock-test: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int vsock_socket(void)
{
	return socket(AF_VSOCK, SOCK_STREAM, 0);
}

static int listen_on(unsigned int port)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = PARENT_CID,
		.svm_port = port,
	};
	int fd = vsock_socket();

	if (fd < 0) {
		perror("socket");
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 1) < 0) {
		fprintf(stderr, "bind/listen %u:%u: %s\n", PARENT_CID, port,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Accept one connection within @ms; its peer CID goes to @cid. */
static int accept_within(int lfd, int ms, unsigned int *cid)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct sockaddr_vm addr;
	socklen_t len = sizeof(addr);
	int fd;

	if (poll(&p, 1, ms) != 1)
		return -1;
	fd = accept(lfd, (struct sockaddr *)&addr, &len);
	if (fd >= 0)
		*cid = addr.svm_cid;
	return fd;
}

static void set_rcvtimeo(int fd, int sec)
{
	struct timeval tv = { .tv_sec = sec };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

static void test_local_cid(void)
{
	unsigned int cid = 0;
	int fd = open("/dev/vsock", O_RDONLY);
	int rc = fd < 0 ? -1 : ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);

	tap(rc == 0 && cid == PARENT_CID, "local CID is %u (want %u)", cid,
	    PARENT_CID);
	if (fd >= 0)
		close(fd);
}

/* Nobody is behind these CIDs: the device must reset the connection. */
static void test_connect_refused(unsigned int cid, unsigned int port)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = cid,
		.svm_port = port,
	};
	int fd = vsock_socket();
	int rc, err;

	rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	err = errno;
	tap(rc < 0 && (err == ECONNRESET || err == ECONNREFUSED),
	    "connect to CID %u port %u fails: %s", cid, port,
	    rc < 0 ? strerror(err) : "connected");
	close(fd);
}

/* The peer connects from CID 5, sends 0xB7, wants it back, then closes. */
static void test_heartbeat(void)
{
	unsigned int cid = 0;
	uint8_t b = 0;
	int lfd, fd;
	ssize_t n;

	lfd = listen_on(9000);
	tap(lfd >= 0, "listen on CID %u port 9000", PARENT_CID);
	if (lfd < 0)
		return;
	say("listening 9000");
	fd = accept_within(lfd, 60000, &cid);
	tap(fd >= 0, "the emulated peer connected");
	if (fd < 0)
		goto out;
	tap(cid == PEER_CID, "its CID is %u (want %u)", cid, PEER_CID);
	set_rcvtimeo(fd, 30);
	n = read(fd, &b, 1);
	tap(n == 1 && b == 0xb7, "received 0x%02x (%zd bytes)", b, n);
	tap(write(fd, &b, 1) == 1, "echoed it");
	n = read(fd, &b, 1);
	tap(n == 0, "then the peer closed (read returned %zd)", n);
	close(fd);
out:
	close(lfd);
}

/* 1 MiB each way: more than either side's window, so credit must flow. */
static void test_bulk(void)
{
	static uint8_t buf[65536];
	size_t total = 0, bad = 0;
	unsigned int cid = 0;
	int lfd, fd;
	ssize_t n;

	lfd = listen_on(9001);
	if (lfd < 0) {
		tap(0, "listen on port 9001");
		return;
	}
	say("listening 9001");
	fd = accept_within(lfd, 60000, &cid);
	tap(fd >= 0, "bulk: the peer connected");
	if (fd < 0)
		goto out;
	set_rcvtimeo(fd, 60);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != (uint8_t)(((total + i) * 7 + 1) % 251))
				bad++;
		total += n;
		if (write_all(fd, buf, n) < 0)
			break;
	}
	tap(total == BULK_LEN && !bad && n == 0,
	    "bulk: received and echoed %zu bytes (want %d), %zu wrong, end %zd",
	    total, BULK_LEN, bad, n);
	close(fd);
out:
	close(lfd);
}

/* The virtio device bound to the vsock transport, e.g. "virtio1". */
static int vsock_virtio_dev(char *name, size_t size)
{
	const char *dir = "/sys/bus/virtio/drivers/vmw_vsock_virtio_transport";
	struct dirent *e;
	DIR *d = opendir(dir);
	int found = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strncmp(e->d_name, "virtio", 6)) {
			snprintf(name, size, "%s", e->d_name);
			found = 0;
			break;
		}
	}
	closedir(d);
	return found;
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	int rc = fd < 0 ? -1 : (int)write(fd, val, strlen(val));

	if (fd >= 0)
		close(fd);
	return rc < 0 ? -1 : 0;
}

/* Unbinding the driver resets the device: the peer must hear "closed". */
static void test_reset(void)
{
	const char *drv = "/sys/bus/virtio/drivers/vmw_vsock_virtio_transport";
	char dev[256], path[512];
	unsigned int cid = 0;
	uint8_t b = 0;
	int lfd, fd, rc;
	ssize_t n;

	if (vsock_virtio_dev(dev, sizeof(dev))) {
		tap(0, "reset: no virtio device bound to the vsock transport");
		return;
	}
	lfd = listen_on(9003);
	if (lfd < 0) {
		tap(0, "listen on port 9003");
		return;
	}
	say("listening 9003");
	fd = accept_within(lfd, 60000, &cid);
	tap(fd >= 0, "reset: the peer connected");
	if (fd < 0) {
		close(lfd);
		return;
	}
	set_rcvtimeo(fd, 30);
	n = read(fd, &b, 1);
	tap(n == 1, "reset: received its byte, not echoing");

	snprintf(path, sizeof(path), "%s/unbind", drv);
	rc = sysfs_write(path, dev);
	tap(rc == 0, "reset: unbound %s from the vsock transport", dev);
	n = read(fd, &b, 1);
	tap(n <= 0, "reset: the connection is gone (read %zd, %s)", n,
	    n < 0 ? strerror(errno) : "EOF");
	close(fd);
	close(lfd);
	say("reset done");

	snprintf(path, sizeof(path), "%s/bind", drv);
	rc = sysfs_write(path, dev);
	tap(rc == 0, "reset: bound %s again", dev);
}

/* The hook's verdict: it connects once more and sends 1 if all passed. */
static void test_verdict(void)
{
	unsigned int cid = 0;
	uint8_t b = 0;
	int lfd, fd;
	ssize_t n;

	lfd = listen_on(9100);
	if (lfd < 0) {
		tap(0, "listen on port 9100");
		return;
	}
	say("waiting for verdict");
	fd = accept_within(lfd, 120000, &cid);
	if (fd < 0) {
		tap(0, "host side: no verdict");
		close(lfd);
		return;
	}
	set_rcvtimeo(fd, 30);
	n = read(fd, &b, 1);
	if (n == 1)
		n = write(fd, &b, 1);
	tap(n == 1 && b == 1, "host side checks passed (verdict %u)", b);
	close(fd);
	close(lfd);
}

int main(void)
{
	int fd;

	printf("TAP version 13\n");
	/* No udev here: load the virtio PCI bus and the stock transport. */
	if (system("modprobe -a virtio_pci vmw_vsock_virtio_transport") != 0)
		fprintf(stderr, "modprobe virtio_pci vmw_vsock_virtio_transport failed\n");
	fd = vsock_socket();
	if (fd < 0) {
		printf("1..1\nnot ok 1 - AF_VSOCK: %s\n", strerror(errno));
		return 1;
	}
	close(fd);

	test_local_cid();
	test_connect_refused(2, 1234);
	test_connect_refused(PEER_CID, 9000);
	test_connect_refused(1234, 80);
	test_heartbeat();
	test_bulk();
	say("no listener on 9002");
	test_reset();
	test_verdict();

	printf("1..%d\n", test_nr);
	say("%d failure(s)", failures);
	return failures ? 1 : 0;
}
