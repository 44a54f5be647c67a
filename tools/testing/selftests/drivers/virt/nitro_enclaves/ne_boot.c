// SPDX-License-Identifier: GPL-2.0
/*
 * Enclave boot through the driver, on the emulated device with
 * eif-check=on (Documentation/virt/ne_pci_device.rst, "Enclave image and
 * boot"): a valid EIF boots (heartbeat on CID 3 port 9000, PCRs in the
 * test BAR equal to what `eif describe` printed on the host), a corrupted
 * byte anywhere makes the enclave crash (POLLHUP on the enclave fd), no
 * listener on port 9000 makes it crash too, and closing the enclave fd
 * during the boot stops it for good. A debug-mode enclave's console is
 * a stream on CID 0 port 10000 + its CID, as on Nitro; a production one
 * has none.
 *
 * Environment: NE_BOOT_EIF (default /opt/ne/demo.eif) and NE_BOOT_PCRS,
 * the host's `eif describe` output for it (default
 * /opt/ne/demo.eif.describe). SKIPs without the test BAR, without
 * eif-check=on, without AF_VSOCK or without the image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NE_TB_IMAGE_STATUS	0x0c0
#define NE_TB_BOOT_STATE	0x0c4
#define NE_TB_IMAGE_SIZE	0x0c8
#define NE_TB_CONSOLE_LEN	0x0d0
#define NE_TB_PCRS		0x100
#define NE_TB_CONSOLE		0x800
#define NE_TB_CONSOLE_FILL	0x034
#define NE_TB_ACTION_CONSOLE	4

#define IMG_NONE		0
#define IMG_VALID		1
#define BOOT_UP			4
#define BOOT_CRASHED		6
#define BOOT_MEASURING		8
#define CRASH_IMAGE		1
#define CRASH_REFUSED		3

#define PCR_SIZE		48
#define NR_PCRS			3
#define PARENT_CID		3
#define HB_PORT			9000
#define HB_VALUE		0xb7
#define WAIT_MS			30000
#define CONSOLE_CID		0	/* VMADDR_CID_HYPERVISOR */
#define CONSOLE_PORT_BASE	10000
#define CONSOLE_LOG_MAX		65536	/* what a new reader gets first */
#define CONSOLE_READERS_MAX	4
#define CONSOLE_SENDBUF_MAX	(4 << 20)	/* the device holds this much */

struct image {
	uint8_t *buf;
	size_t len;
	char pcr[NR_PCRS][2 * PCR_SIZE + 1];
};

static struct image img;

/* Load the image and the PCRs the host printed. Return: NULL or why not. */
static const char *load_image(void)
{
	const char *eif = getenv("NE_BOOT_EIF") ?: "/opt/ne/demo.eif";
	const char *desc = getenv("NE_BOOT_PCRS") ?: "/opt/ne/demo.eif.describe";
	char line[512];
	struct stat st;
	int fd, i, found = 0;
	FILE *f;

	if (img.buf)
		return NULL;
	fd = open(eif, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		return "no image (NE_BOOT_EIF)";
	img.len = st.st_size;
	img.buf = malloc(img.len);
	if (!img.buf || read(fd, img.buf, img.len) != (ssize_t)img.len) {
		close(fd);
		return "cannot read the image";
	}
	close(fd);
	f = fopen(desc, "r");
	if (!f)
		return "no eif describe output (NE_BOOT_PCRS)";
	while (fgets(line, sizeof(line), f)) {
		for (i = 0; i < NR_PCRS; i++) {
			char key[8];

			snprintf(key, sizeof(key), "PCR%d: ", i);
			if (!strncmp(line, key, 6) &&
			    sscanf(line + 6, "%96s", img.pcr[i]) == 1)
				found |= 1 << i;
		}
	}
	fclose(f);
	return found == 7 ? NULL : "no PCR0..2 in the eif describe output";
}

/*
 * The image status of slot @uid once the device has checked the image,
 * which it does on a thread of its own (boot state "measuring" until
 * then). Leaves NE_TB_SLOT at @uid.
 */
static uint32_t image_status(struct ne_test_bar *tb, uint64_t uid)
{
	uint64_t deadline = ne_now_ms() + WAIT_MS;

	ne_tb_write64(tb, NE_TB_SLOT, uid);
	while ((ne_tb_read32(tb, NE_TB_BOOT_STATE) & 0xff) == BOOT_MEASURING &&
	       ne_now_ms() < deadline)
		usleep(1000);
	return ne_tb_read32(tb, NE_TB_IMAGE_STATUS);
}

static void tb_pcr_hex(struct ne_test_bar *tb, int n, char *out)
{
	int i;

	for (i = 0; i < PCR_SIZE; i++)
		sprintf(out + 2 * i, "%02x",
			tb->regs[NE_TB_PCRS + n * PCR_SIZE + i]);
}

static int hb_listen(void)
{
	struct sockaddr_vm a = {
		.svm_family = AF_VSOCK,
		.svm_cid = PARENT_CID,
		.svm_port = HB_PORT,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

struct launch {
	int efd;
	uint64_t uid;
	uint64_t cid;
	struct ne_maps maps;
};

/*
 * Create an enclave whose memory (2 MiB regions, registered one by one)
 * holds @len bytes of @buf at 8 MiB, with the pool's first core, and start
 * it with @flags.
 */
static int launch_flags(struct ne_env *env, struct launch *l,
			const uint8_t *buf, size_t len, uint64_t flags)
{
	size_t mem = NE_EIF_OFFSET + len, done = 0, off = 0;
	uint32_t id;
	int ret, i;

	memset(l, 0, sizeof(*l));
	mem = (mem + SZ_2M - 1) & ~(SZ_2M - 1);
	if (mem < NE_MIN_MEM)
		mem = NE_MIN_MEM;
	l->efd = ne_create_vm(env->dev, &l->uid);
	if (l->efd < 0)
		return -errno;
	for (off = 0; off < mem; off += SZ_2M) {
		uint8_t *p = ne_map_huge(&l->maps, SZ_2M, SZ_2M);

		if (!p)
			return -ENOMEM;
		memset(p, 0, SZ_2M);
		if (off + SZ_2M > NE_EIF_OFFSET && done < len) {
			size_t from = off < NE_EIF_OFFSET ? NE_EIF_OFFSET - off : 0;
			size_t n = SZ_2M - from;

			if (n > len - done)
				n = len - done;
			memcpy(p + from, buf + done, n);
			done += n;
		}
		ret = ne_add_mem(l->efd, p, SZ_2M);
		if (ret)
			return -errno;
	}
	for (i = 0; i < 2; i++) {
		id = 0;
		if (ne_add_vcpu(l->efd, &id))
			return -errno;
	}
	l->cid = 0;
	if (ne_start(l->efd, flags, &l->cid))
		return -errno;
	return 0;
}

/* Debug mode: the model keeps a console. */
static int launch(struct ne_env *env, struct launch *l, const uint8_t *buf,
		  size_t len)
{
	return launch_flags(env, l, buf, len, NE_ENCLAVE_DEBUG_MODE);
}

static void launch_close(struct launch *l)
{
	if (l->efd >= 0)
		close(l->efd);
	l->efd = -1;
	ne_unmap_all(&l->maps);
}

/* Print the model's console of the slot (debug mode). */
static void show_console(struct __test_metadata *_metadata,
			 struct ne_test_bar *tb, uint64_t uid)
{
	char con[2049];
	uint32_t n, i;

	ne_tb_write64(tb, NE_TB_SLOT, uid);
	n = ne_tb_read32(tb, NE_TB_CONSOLE_LEN);
	if (n > 2048)
		n = 2048;
	for (i = 0; i < n; i++)
		con[i] = tb->regs[NE_TB_CONSOLE + i];
	con[n] = '\0';
	TH_LOG("enclave console:\n%s", con);
}

/* Wait for the enclave's connection on @lfd; echo its byte. Return: byte or -errno. */
static int heartbeat(int lfd, int efd, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = lfd, .events = POLLIN },
		{ .fd = efd, .events = POLLIN | POLLHUP },
	};
	unsigned char b = 0;
	int n, fd;

	n = poll(p, 2, timeout_ms);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	if (!(p[0].revents & POLLIN))
		return -EPIPE;		/* the enclave exited first */
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return -errno;
	p[0].fd = fd;
	n = poll(p, 1, timeout_ms);
	if (n <= 0 || read(fd, &b, 1) != 1) {
		close(fd);
		return -EIO;
	}
	n = write(fd, &b, 1) == 1 ? b : -EIO;
	close(fd);
	return n;
}

static const char *env_skip(struct ne_env *env, int *lfd)
{
	const char *why;

	if (!env->have_tb)
		return "no test BAR (real device?)";
	why = load_image();
	if (why)
		return why;
	*lfd = hb_listen();
	if (*lfd < 0)
		return "no AF_VSOCK on CID 3 (ne-vsock-pci, vmw_vsock_virtio_transport)";
	return NULL;
}

FIXTURE(boot) {
	struct ne_env env;
	int lfd;
	const char *skip;
};

FIXTURE_SETUP(boot)
{
	self->lfd = -1;
	ASSERT_EQ(0, ne_env_setup(&self->env));
	self->skip = env_skip(&self->env, &self->lfd);
}

FIXTURE_TEARDOWN(boot)
{
	if (self->lfd >= 0)
		close(self->lfd);
	ne_env_release(&self->env);
	ne_env_close_tb(&self->env);
}

TEST_F(boot, valid_image_boots)
{
	struct ne_test_bar *tb = &self->env.tb;
	struct launch l;
	char hex[2 * PCR_SIZE + 1];
	uint32_t st;
	int i, b;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, launch(&self->env, &l, img.buf, img.len));
	st = image_status(tb, l.uid);
	if (st == IMG_NONE) {
		launch_close(&l);
		SKIP(return, "the device runs with eif-check=off");
	}
	EXPECT_EQ(IMG_VALID, st);
	EXPECT_EQ(img.len, ne_tb_read64(tb, NE_TB_IMAGE_SIZE));
	for (i = 0; i < NR_PCRS; i++) {
		tb_pcr_hex(tb, i, hex);
		TH_LOG("PCR%d device %s", i, hex);
		TH_LOG("PCR%d host   %s", i, img.pcr[i]);
		EXPECT_STREQ(img.pcr[i], hex);
	}
	b = heartbeat(self->lfd, l.efd, WAIT_MS);
	EXPECT_EQ(HB_VALUE, b);
	/* Up and running: no exit, boot state "running". */
	EXPECT_EQ(0, ne_poll(l.efd, 500));
	ne_tb_write64(tb, NE_TB_SLOT, l.uid);
	EXPECT_EQ(BOOT_UP, ne_tb_read32(tb, NE_TB_BOOT_STATE) & 0xff);
	show_console(_metadata, tb, l.uid);
	launch_close(&l);
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

TEST_F(boot, no_listener_crashes)
{
	struct ne_test_bar *tb = &self->env.tb;
	struct launch l;
	uint32_t st;
	int rev;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	close(self->lfd);
	self->lfd = -1;
	ASSERT_EQ(0, launch(&self->env, &l, img.buf, img.len));
	if (image_status(tb, l.uid) == IMG_NONE) {
		launch_close(&l);
		SKIP(return, "the device runs with eif-check=off");
	}
	rev = ne_poll(l.efd, WAIT_MS);
	EXPECT_TRUE(rev > 0 && (rev & POLLHUP));
	st = ne_tb_read32(tb, NE_TB_BOOT_STATE);
	EXPECT_EQ(BOOT_CRASHED, st & 0xff);
	EXPECT_EQ(CRASH_REFUSED, st >> 8);
	show_console(_metadata, tb, l.uid);
	launch_close(&l);
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

TEST_F(boot, close_during_boot)
{
	struct ne_test_bar *tb = &self->env.tb;
	struct pollfd p;
	struct launch l;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, launch(&self->env, &l, img.buf, img.len));
	/* STOP and SLOT_FREE before boot-delay-ms is over. */
	launch_close(&l);
	p = (struct pollfd){ .fd = self->lfd, .events = POLLIN };
	EXPECT_EQ(0, poll(&p, 1, 1500));
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

FIXTURE(corrupt) {
	struct ne_env env;
	int lfd;
	const char *skip;
};

FIXTURE_VARIANT(corrupt) {
	const char *where;
	long off;		/* < 0: from the end */
};

FIXTURE_VARIANT_ADD(corrupt, magic) { .where = "magic", .off = 1 };
FIXTURE_VARIANT_ADD(corrupt, num_sections) { .where = "num_sections", .off = 27 };
FIXTURE_VARIANT_ADD(corrupt, size_table) { .where = "section size table", .off = 291 };
FIXTURE_VARIANT_ADD(corrupt, crc) { .where = "stored CRC", .off = 546 };
FIXTURE_VARIANT_ADD(corrupt, kernel) { .where = "kernel section", .off = 4096 };
FIXTURE_VARIANT_ADD(corrupt, last_byte) { .where = "last ramdisk byte", .off = -1 };

FIXTURE_SETUP(corrupt)
{
	self->lfd = -1;
	ASSERT_EQ(0, ne_env_setup(&self->env));
	self->skip = env_skip(&self->env, &self->lfd);
}

FIXTURE_TEARDOWN(corrupt)
{
	if (self->lfd >= 0)
		close(self->lfd);
	ne_env_release(&self->env);
	ne_env_close_tb(&self->env);
}

TEST_F(corrupt, crashes)
{
	struct ne_test_bar *tb = &self->env.tb;
	struct pollfd p;
	struct launch l;
	size_t off;
	uint8_t *bad;
	uint32_t st;
	int rev;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	off = variant->off < 0 ? img.len + variant->off : (size_t)variant->off;
	bad = malloc(img.len);
	ASSERT_NE(NULL, bad);
	memcpy(bad, img.buf, img.len);
	bad[off] ^= 0x5a;
	TH_LOG("byte %zu (%s) changed", off, variant->where);
	ASSERT_EQ(0, launch(&self->env, &l, bad, img.len));
	free(bad);
	st = image_status(tb, l.uid);
	if (st == IMG_NONE) {
		launch_close(&l);
		SKIP(return, "the device runs with eif-check=off");
	}
	TH_LOG("image status %u", st);
	EXPECT_NE(IMG_VALID, st);
	rev = ne_poll(l.efd, WAIT_MS);
	EXPECT_TRUE(rev > 0 && (rev & POLLHUP));
	st = ne_tb_read32(tb, NE_TB_BOOT_STATE);
	EXPECT_EQ(BOOT_CRASHED, st & 0xff);
	EXPECT_EQ(CRASH_IMAGE, st >> 8);
	/* It never reached its init: nobody connected. */
	p = (struct pollfd){ .fd = self->lfd, .events = POLLIN };
	EXPECT_EQ(0, poll(&p, 1, 0));
	show_console(_metadata, tb, l.uid);
	launch_close(&l);
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

/* Connect to the debug console of enclave @cid. Return: fd or -errno. */
static int console_connect(uint64_t cid)
{
	struct sockaddr_vm a = {
		.svm_family = AF_VSOCK,
		.svm_cid = CONSOLE_CID,
		.svm_port = (uint32_t)(CONSOLE_PORT_BASE + cid),
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * Read @fd to its end into @buf (@max bytes, NUL added). Return: the byte
 * count, -ETIMEDOUT if the end is not there in @timeout_ms, -ENOSPC if
 * more than @max bytes came, or -errno.
 */
static ssize_t read_to_eof(int fd, char *buf, size_t max, int timeout_ms)
{
	uint64_t deadline = ne_now_ms() + timeout_ms;
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - ne_now_ms());
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -ETIMEDOUT;
		if (len == max)
			return -ENOSPC;
		n = read(fd, buf + len, max - len);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	return len;
}

/* Slot @uid prints @n bytes ('a'..'z' over and over). Return: TB status. */
static int32_t console_fill(struct ne_test_bar *tb, uint64_t uid, uint32_t n)
{
	ne_tb_write64(tb, NE_TB_SLOT, uid);
	ne_tb_write32(tb, NE_TB_CONSOLE_FILL, n);
	ne_tb_write32(tb, NE_TB_ACTION, NE_TB_ACTION_CONSOLE);
	return (int32_t)ne_tb_read32(tb, NE_TB_STATUS);
}

FIXTURE(console) {
	struct ne_env env;
	int lfd;
	const char *skip;
	char *buf;
	size_t max;
};

FIXTURE_SETUP(console)
{
	self->lfd = -1;
	self->max = CONSOLE_SENDBUF_MAX + (2 << 20);
	self->buf = malloc(self->max + 1);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, ne_env_setup(&self->env));
	self->skip = env_skip(&self->env, &self->lfd);
}

FIXTURE_TEARDOWN(console)
{
	if (self->lfd >= 0)
		close(self->lfd);
	free(self->buf);
	ne_env_release(&self->env);
	ne_env_close_tb(&self->env);
}

/* Launch with @flags and answer the heartbeat: the enclave is up. */
static int launch_up(struct ne_env *env, int lfd, struct launch *l,
		     uint64_t flags)
{
	int ret = launch_flags(env, l, img.buf, img.len, flags);

	if (ret)
		return ret;
	if (image_status(&env->tb, l->uid) == IMG_NONE)
		return -EOPNOTSUPP;
	return heartbeat(lfd, l->efd, WAIT_MS) == HB_VALUE ? 0 : -EIO;
}

/* In a console test: launch_up(), or SKIP without eif-check. */
#define LAUNCH_UP(l, flags) do {					\
	int __ret = launch_up(&self->env, self->lfd, (l), (flags));	\
									\
	if (__ret == -EOPNOTSUPP) {					\
		launch_close(l);					\
		SKIP(return, "the device runs with eif-check=off");	\
	}								\
	ASSERT_EQ(0, __ret);						\
} while (0)

TEST_F(console, debug_enclave_streams_its_console)
{
	struct ne_test_bar *tb = &self->env.tb;
	char want[64];
	struct launch l;
	ssize_t n;
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, launch(&self->env, &l, img.buf, img.len));
	/* Right after the start, before the image is checked: as launchers do */
	fd = console_connect(l.cid);
	ASSERT_LE(0, fd) TH_LOG("console connect: %s", strerror(-fd));
	if (image_status(tb, l.uid) == IMG_NONE) {
		close(fd);
		launch_close(&l);
		SKIP(return, "the device runs with eif-check=off");
	}
	EXPECT_EQ(HB_VALUE, heartbeat(self->lfd, l.efd, WAIT_MS));
	EXPECT_EQ(0, console_fill(tb, l.uid, 1000));
	/* Another enclave's console port is not this one's */
	EXPECT_GT(0, console_connect(l.cid + 1));
	launch_close(&l);
	n = read_to_eof(fd, self->buf, self->max, WAIT_MS);
	close(fd);
	ASSERT_LT(1000, n) TH_LOG("console read: %zd", n);
	TH_LOG("console: %zd bytes, begins:\n%.300s", n, self->buf);
	snprintf(want, sizeof(want), "emulated enclave: CID %llu,",
		 (unsigned long long)l.cid);
	EXPECT_NE(NULL, strstr(self->buf, want));
	EXPECT_NE(NULL, strstr(self->buf, "heartbeat acknowledged"));
	/* What it printed last, live, then the end of the stream */
	EXPECT_EQ(0, memcmp(self->buf + n - 1000, "abcdefghijklmnopqrstuvwxyz",
			    26));
	EXPECT_EQ('a' + 999 % 26, self->buf[n - 1]);
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

TEST_F(console, new_reader_gets_the_last_64k)
{
	struct ne_test_bar *tb = &self->env.tb;
	const uint32_t fill = 100000;
	struct launch l;
	ssize_t n;
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	LAUNCH_UP(&l, NE_ENCLAVE_DEBUG_MODE);
	EXPECT_EQ(0, console_fill(tb, l.uid, fill));
	fd = console_connect(l.cid);
	ASSERT_LE(0, fd) TH_LOG("console connect: %s", strerror(-fd));
	launch_close(&l);
	n = read_to_eof(fd, self->buf, self->max, WAIT_MS);
	close(fd);
	ASSERT_EQ(CONSOLE_LOG_MAX, n);
	EXPECT_EQ('a' + (fill - CONSOLE_LOG_MAX) % 26, self->buf[0]);
	EXPECT_EQ('a' + (fill - 1) % 26, self->buf[n - 1]);
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

TEST_F(console, production_enclave_has_none)
{
	struct ne_test_bar *tb = &self->env.tb;
	struct launch l;
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	LAUNCH_UP(&l, 0);
	fd = console_connect(l.cid);
	EXPECT_TRUE(fd == -ECONNRESET || fd == -ECONNREFUSED)
		TH_LOG("console connect: %d", fd);
	if (fd >= 0)
		close(fd);
	/* Nothing to print on, nor a slot that does not exist */
	EXPECT_EQ(-EINVAL, console_fill(tb, l.uid, 10));
	EXPECT_EQ(-EINVAL, console_fill(tb, l.uid, (1 << 20) + 1));
	launch_close(&l);
	EXPECT_EQ(-ENOENT, console_fill(tb, l.uid, 10));
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

TEST_F(console, readers_are_limited)
{
	struct ne_test_bar *tb = &self->env.tb;
	int fd[CONSOLE_READERS_MAX + 1], i;
	struct launch l;
	char c;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	LAUNCH_UP(&l, NE_ENCLAVE_DEBUG_MODE);
	for (i = 0; i < CONSOLE_READERS_MAX; i++) {
		fd[i] = console_connect(l.cid);
		ASSERT_LE(0, fd[i]) TH_LOG("reader %d: %s", i, strerror(-fd[i]));
	}
	fd[i] = console_connect(l.cid);
	EXPECT_TRUE(fd[i] == -ECONNRESET || fd[i] == -ECONNREFUSED)
		TH_LOG("one reader too many: %d", fd[i]);
	/* A reader that leaves makes room; the room is taken at once. */
	close(fd[0]);
	fd[0] = -1;
	for (i = 0; i < 50 && fd[0] < 0; i++) {
		usleep(20000);
		fd[0] = console_connect(l.cid);
	}
	EXPECT_LE(0, fd[0]);
	/* Writes to the console are dropped: it stays up. */
	if (fd[0] >= 0)
		EXPECT_EQ(5, write(fd[0], "hello", 5));
	EXPECT_EQ(0, console_fill(tb, l.uid, 1));
	if (fd[0] >= 0) {
		struct pollfd p = { .fd = fd[0], .events = POLLIN };

		/* The backlog, then the byte printed last */
		c = 0;
		EXPECT_EQ(1, poll(&p, 1, WAIT_MS));
		while (poll(&p, 1, 500) == 1 && read(fd[0], &c, 1) == 1)
			;
		EXPECT_EQ('a', c);
	}
	launch_close(&l);
	for (i = 0; i < CONSOLE_READERS_MAX; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

TEST_F(console, slow_reader_gets_the_end)
{
	struct ne_test_bar *tb = &self->env.tb;
	struct launch l;
	ssize_t n;
	int fd, i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	LAUNCH_UP(&l, NE_ENCLAVE_DEBUG_MODE);
	fd = console_connect(l.cid);
	ASSERT_LE(0, fd) TH_LOG("console connect: %s", strerror(-fd));
	/* Not read: 6 MiB is more than the device holds for a reader */
	for (i = 0; i < 6; i++)
		EXPECT_EQ(0, console_fill(tb, l.uid, 1 << 20));
	/* The stream ends while the enclave runs, without a gap before. */
	n = read_to_eof(fd, self->buf, self->max, WAIT_MS);
	close(fd);
	TH_LOG("the slow reader got %zd bytes", n);
	EXPECT_LE(CONSOLE_SENDBUF_MAX, n);
	EXPECT_GT(6 << 20, n);
	EXPECT_EQ(0, ne_poll(l.efd, 0));
	launch_close(&l);
	NE_EXPECT_BASELINE(&self->env.base, tb);
}

int main(int argc, char **argv)
{
	return ne_test_main_needs(argc, argv, NE_NEEDS_TB | NE_NEEDS_VSOCK);
}
