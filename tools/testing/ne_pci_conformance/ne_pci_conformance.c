// SPDX-License-Identifier: GPL-2.0
/*
 * Conformance test of the NE PCI device (Documentation/virt/ne_pci_device.rst)
 * that needs no driver: it maps BAR 3 and the test-control BAR through
 * sysfs and drives every command by polling the reply counter in
 * NE_EVTCNT (MSI-X stays disabled). Output is TAP.
 *
 * Run it as root in a guest with "-device nitro-enclaves-pci,test-hooks=on"
 * and no nitro_enclaves driver bound. Tests of the test hooks SKIP without
 * the test BAR. With --qmp it runs the handshake and one test that needs
 * qmp-hook.py on the host (see README in this directory). With --eif (a
 * device with eif-check=on, 5 free 2 MiB hugepages) it checks the image
 * check, PCRs, boot failure and cancellation with the spec's toy image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ne_test_bar.h"

/* BAR 3 */
#define NE_BAR			3
#define NE_BAR_SIZE		4096
#define NE_ENABLE		0x000
#define NE_VERSION		0x002
#define NE_COMMAND		0x004
#define NE_EVTCNT		0x00c
#define NE_SEND_DATA		0x010
#define NE_RECV_DATA		0x100
#define NE_DATA_SIZE		240

enum {
	INVALID_CMD,
	ENCLAVE_START,
	ENCLAVE_GET_SLOT,
	ENCLAVE_STOP,
	SLOT_ALLOC,
	SLOT_FREE,
	SLOT_ADD_MEM,
	SLOT_ADD_VCPU,
	SLOT_COUNT,
	NEXT_SLOT,
	SLOT_INFO,
	SLOT_ADD_BULK_VCPUS,
	MAX_CMD,
};

#define STATE_INIT		0
#define STATE_RUNNING		2
#define STATE_STOPPED		0xffff

#define MiB			(1024ULL * 1024)
#define GiB			(1024 * MiB)
#define CHUNK			(2 * MiB)

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#define REPLY_TIMEOUT_MS	3000
#define NR_TESTS		62
#define NR_TESTS_QMP		10
#define NR_TESTS_EIF		15
#define QMP_WAIT_MS		120000
/* test_memory_toggle(): QEMU 7.2 unpatched crashed in 6 of 6 such runs */
#define TOGGLE_MS		10000
#define TOGGLE_READERS		2

struct reply {
	int32_t rc;
	uint64_t slot_uid;
	uint64_t enclave_cid;
	uint64_t slot_count;
	uint64_t mem_regions;
	uint64_t mem_size;
	uint64_t nr_vcpus;
	uint64_t flags;
	uint16_t state;
};

static volatile uint8_t *regs;
static struct ne_test_bar tb;
static bool have_tb;
static char bdf[64];
static long ncpus;
static uint64_t mem_regions_max;	/* from SLOT_ALLOC */

/* RAM layout seen in /proc/iomem */
static uint64_t ram_base;		/* 1 GiB of usable chunks from here */
static uint64_t ram_edge;		/* end of RAM below 4 GiB, 2 MiB aligned */

/* TAP */

static int test_nr;
static int tests_failed;
static bool cur_ok;
static char cur_diag[1024];

static void begin(void)
{
	cur_ok = true;
	cur_diag[0] = '\0';
}

static void fail(const char *fmt, ...)
{
	size_t len = strlen(cur_diag);
	va_list ap;

	cur_ok = false;
	if (len > sizeof(cur_diag) - 128)
		return;
	va_start(ap, fmt);
	len += snprintf(cur_diag + len, sizeof(cur_diag) - len, "# ");
	len += vsnprintf(cur_diag + len, sizeof(cur_diag) - len, fmt, ap);
	snprintf(cur_diag + len, sizeof(cur_diag) - len, "\n");
	va_end(ap);
}

static void end(const char *name)
{
	test_nr++;
	if (!cur_ok)
		tests_failed++;
	printf("%sok %d - %s\n", cur_ok ? "" : "not ", test_nr, name);
	if (!cur_ok)
		fputs(cur_diag, stdout);
	fflush(stdout);
}

static void skip(const char *name, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++test_nr, name, why);
	fflush(stdout);
}

#define EXPECT(what, got, want) do {					\
	uint64_t __g = (uint64_t)(got), __w = (uint64_t)(want);		\
	if (__g != __w)							\
		fail("%s: got %" PRId64 " (0x%" PRIx64 "), expected %"	\
		     PRId64 " (0x%" PRIx64 ")", what, (int64_t)__g, __g,	\
		     (int64_t)__w, __w);				\
} while (0)

#define EXPECT_RC(what, got, want) do {					\
	int __g = (got), __w = (want);					\
	if (__g != __w)							\
		fail("%s: rc %d (%s), expected %d (%s)", what, __g,	\
		     strerror(-__g), __w, strerror(-__w));		\
} while (0)

/* Registers */

static uint8_t rd8(unsigned int off)
{
	return *(volatile uint8_t *)(regs + off);
}

static uint16_t rd16(unsigned int off)
{
	return *(volatile uint16_t *)(regs + off);
}

static uint32_t rd32(unsigned int off)
{
	return *(volatile uint32_t *)(regs + off);
}

static uint64_t rd64(unsigned int off)
{
	return *(volatile uint64_t *)(regs + off);
}

static void wr8(unsigned int off, uint8_t v)
{
	*(volatile uint8_t *)(regs + off) = v;
}

static void wr16(unsigned int off, uint16_t v)
{
	*(volatile uint16_t *)(regs + off) = v;
}

static void wr32(unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)(regs + off) = v;
}

static void wr64(unsigned int off, uint64_t v)
{
	*(volatile uint64_t *)(regs + off) = v;
}

static uint16_t reply_counter(void)
{
	return rd32(NE_EVTCNT) & 0xffff;
}

static uint16_t event_counter(void)
{
	return rd32(NE_EVTCNT) >> 16;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void sleep_ms(unsigned int ms)
{
	usleep(ms * 1000);
}

/* Wait until the reply counter is @target; return false on timeout. */
static bool wait_counter(uint16_t target, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (reply_counter() != target) {
		if (now_ms() > deadline)
			return false;
		usleep(200);
	}
	return true;
}

static void read_reply(struct reply *r)
{
	r->rc = (int32_t)rd32(NE_RECV_DATA + 0);
	r->slot_uid = rd64(NE_RECV_DATA + 8);
	r->enclave_cid = rd64(NE_RECV_DATA + 16);
	r->slot_count = rd64(NE_RECV_DATA + 24);
	r->mem_regions = rd64(NE_RECV_DATA + 32);
	r->mem_size = rd64(NE_RECV_DATA + 40);
	r->nr_vcpus = rd64(NE_RECV_DATA + 48);
	r->flags = rd64(NE_RECV_DATA + 56);
	r->state = rd16(NE_RECV_DATA + 64);
}

static void ring(uint32_t type, const void *req, size_t len)
{
	const uint8_t *p = req;
	size_t i;

	for (i = 0; i < len; i++)
		wr8(NE_SEND_DATA + i, p[i]);
	wr32(NE_COMMAND, type);
}

/*
 * Run one command and wait for its reply.
 * Return: the reply's rc, or -ETIMEDOUT (no reply: @r is zeroed).
 */
static int cmd(uint32_t type, const void *req, size_t len, struct reply *r)
{
	struct reply dummy;
	uint16_t before = reply_counter();

	if (!r)
		r = &dummy;
	memset(r, 0, sizeof(*r));
	ring(type, req, len);
	if (!wait_counter((uint16_t)(before + 1), REPLY_TIMEOUT_MS))
		return -ETIMEDOUT;
	read_reply(r);
	return r->rc;
}

/* Command wrappers */

static int slot_alloc(uint64_t *uid)
{
	uint8_t req = 0;
	struct reply r;
	int rc = cmd(SLOT_ALLOC, &req, 1, &r);

	*uid = r.slot_uid;
	if (!rc)
		mem_regions_max = r.mem_regions;
	return rc;
}

static int slot_free(uint64_t uid)
{
	return cmd(SLOT_FREE, &uid, 8, NULL);
}

static int add_mem(uint64_t uid, uint64_t paddr, uint64_t size)
{
	uint64_t req[3] = { uid, paddr, size };

	return cmd(SLOT_ADD_MEM, req, sizeof(req), NULL);
}

static int add_vcpu(uint64_t uid, uint32_t id)
{
	struct {
		uint64_t uid;
		uint32_t id;
		uint8_t pad[4];
	} req = { uid, id, { 0 } };

	return cmd(SLOT_ADD_VCPU, &req, sizeof(req), NULL);
}

static int add_bulk(uint64_t uid, uint64_t nr)
{
	uint64_t req[2] = { uid, nr };

	return cmd(SLOT_ADD_BULK_VCPUS, req, sizeof(req), NULL);
}

static int start(uint64_t uid, uint64_t cid, uint64_t flags, uint64_t *out)
{
	uint64_t req[3] = { uid, cid, flags };
	struct reply r;
	int rc = cmd(ENCLAVE_START, req, sizeof(req), &r);

	if (out)
		*out = r.enclave_cid;
	if (r.slot_uid != uid)
		fail("ENCLAVE_START reply: slot_uid %" PRIu64 ", expected %"
		     PRIu64, r.slot_uid, uid);
	return rc;
}

static int stop(uint64_t uid)
{
	return cmd(ENCLAVE_STOP, &uid, 8, NULL);
}

static int info(uint64_t uid, struct reply *r)
{
	return cmd(SLOT_INFO, &uid, 8, r);
}

static int get_slot(uint64_t cid, uint64_t *uid)
{
	struct reply r;
	int rc = cmd(ENCLAVE_GET_SLOT, &cid, 8, &r);

	*uid = r.slot_uid;
	return rc;
}

static int next_slot(uint64_t uid, uint64_t *next)
{
	struct reply r;
	int rc = cmd(NEXT_SLOT, &uid, 8, &r);

	*next = r.slot_uid;
	return rc;
}

static int64_t slot_count(void)
{
	uint8_t req = 0;
	struct reply r;
	int rc = cmd(SLOT_COUNT, &req, 1, &r);

	return rc ? rc : (int64_t)r.slot_count;
}

static uint16_t slot_state(uint64_t uid)
{
	struct reply r;

	if (info(uid, &r))
		return 0x1234;	/* not a state */
	return r.state;
}

/* Free every slot the device has, stopping running ones. */
static void free_all_slots(void)
{
	uint64_t uid = 0, next;

	while (!next_slot(0, &next) && next) {
		uid = next;
		if (slot_state(uid) == STATE_RUNNING)
			stop(uid);
		if (slot_free(uid))
			break;
	}
}

/* A slot in INIT with one 2 MiB range (chunk @chunk of ram_base), vCPUs. */
static int make_slot(uint64_t *uid, unsigned int chunk, int vcpu_id)
{
	int rc = slot_alloc(uid);

	if (!rc)
		rc = add_mem(*uid, ram_base + chunk * CHUNK, CHUNK);
	if (!rc)
		rc = vcpu_id >= 0 ? add_vcpu(*uid, vcpu_id) : add_bulk(*uid, 1);
	return rc;
}

/* Setup */

static int find_ram(void)
{
	FILE *f = fopen("/proc/iomem", "r");
	uint64_t best_lo = 0, best_hi = 0, edge = 0;
	char line[256];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;

		/* top-level entries only */
		if (line[0] == ' ' || !strstr(line, "System RAM"))
			continue;
		if (sscanf(line, "%llx-%llx", &lo, &hi) != 2)
			continue;
		if (hi - lo > best_hi - best_lo) {
			best_lo = lo;
			best_hi = hi;
		}
		if (hi < 4 * GiB && hi + 1 > edge)
			edge = hi + 1;
	}
	fclose(f);
	if (best_hi == 0)
		return -ENOENT;	/* no permission to read addresses? */
	/* 1 GiB of 2 MiB chunks, from the middle of the largest RAM range */
	ram_base = (best_lo + (best_hi - best_lo) / 4 + CHUNK - 1) & ~(CHUNK - 1);
	if (best_lo + 0x40000000ULL + GiB <= best_hi &&
	    best_lo <= 0x40000000ULL)
		ram_base = 0x40000000ULL;
	if (ram_base + GiB > best_hi)
		return -ENOSPC;
	ram_edge = (edge + CHUNK - 1) & ~(CHUNK - 1);
	return 0;
}

static int sysfs_write(const char *attr, const char *val)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int map_bar3(void)
{
	char path[256];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d",
		 bdf, NE_BAR);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return -errno;
	p = mmap(NULL, NE_BAR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	regs = p;
	return 0;
}

static bool driver_bound(void)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	return lstat(path, &st) == 0;
}

/* Tests: device, registers and handshake */

static void test_setup(void)
{
	int rc;

	begin();
	rc = ne_tb_find(bdf, sizeof(bdf));
	if (rc) {
		printf("Bail out! no 1d0f:e4c1 device in /sys/bus/pci/devices\n");
		exit(1);
	}
	if (driver_bound()) {
		printf("Bail out! %s has a driver bound; unbind it first\n", bdf);
		exit(1);
	}
	rc = sysfs_write("enable", "1");
	if (rc)
		fail("enabling %s: %s", bdf, strerror(-rc));
	rc = map_bar3();
	if (rc) {
		printf("Bail out! cannot map BAR 3 of %s: %s\n", bdf,
		       strerror(-rc));
		exit(1);
	}
	EXPECT("class", ne_tb_sysfs_hex(bdf, "class"), 0x088000);
	end("device found, enabled, BAR 3 mapped");

	begin();
	rc = ne_tb_open(&tb);
	have_tb = rc == 0;
	if (rc == -ENOENT) {
		skip("test BAR mapped", "no test BAR (real device?)");
	} else {
		if (rc) {
			fail("ne_tb_open: %s", strerror(-rc));
		} else {
			EXPECT("NE_TB_MAGIC", ne_tb_read32(&tb, NE_TB_MAGIC),
			       NE_TB_MAGIC_VALUE);
			EXPECT("NE_TB_VERSION",
			       ne_tb_read32(&tb, NE_TB_VERSION), 1);
		}
		end("test BAR mapped, magic and version");
	}

	begin();
	rc = find_ram();
	if (rc)
		fail("no usable System RAM in /proc/iomem: %s", strerror(-rc));
	printf("# RAM chunks from 0x%" PRIx64 ", RAM below 4G ends at 0x%"
	       PRIx64 ", %ld CPUs\n", ram_base, ram_edge, ncpus);
	end("guest RAM layout");
	if (rc) {
		printf("Bail out! cannot pick memory ranges\n");
		exit(1);
	}
}

static void test_handshake(void)
{
	struct reply r;
	uint8_t req = 0, v;
	uint16_t before;
	int64_t t0, t1;
	int rc, i;

	/* Whatever state the device is in, turn it off. */
	begin();
	wr8(NE_ENABLE, 1);
	EXPECT("NE_ENABLE after writing 1", rd8(NE_ENABLE), 1);
	t0 = now_us();
	wr8(NE_ENABLE, 0);
	v = rd8(NE_ENABLE);
	t1 = now_us();
	/* The disable settles 1 ms later; a busy host may let that pass. */
	if (v != 1 && t1 - t0 < 1000)
		fail("NE_ENABLE %u %" PRId64 " us after writing 0, not 1 (settling)",
		     v, t1 - t0);
	for (i = 0; i < 1000 && rd8(NE_ENABLE) != 0; i++)
		sleep_ms(1);
	EXPECT("NE_ENABLE after the disable settled", rd8(NE_ENABLE), 0);
	end("disable settles to 0");

	begin();
	wr16(NE_VERSION, 2);
	EXPECT("NE_VERSION after writing 2", rd16(NE_VERSION), 0);
	wr16(NE_VERSION, 0x0101);
	EXPECT("NE_VERSION after writing 0x101", rd16(NE_VERSION), 0);
	wr16(NE_VERSION, 1);
	EXPECT("NE_VERSION after writing 1", rd16(NE_VERSION), 1);
	end("NE_VERSION selects 1 only");

	begin();
	before = reply_counter();
	rc = cmd(SLOT_ALLOC, &req, 1, &r);
	EXPECT_RC("SLOT_ALLOC while disabled", rc, -EIO);
	EXPECT("reply counter", reply_counter(), (uint16_t)(before + 1));
	EXPECT("slot_uid in the -EIO reply", r.slot_uid, 0);
	{
		uint64_t uid = 77;

		EXPECT_RC("SLOT_INFO while disabled",
			  cmd(SLOT_INFO, &uid, 8, &r), -EIO);
		EXPECT("slot_uid echoed in the -EIO reply", r.slot_uid, 77);
	}
	end("command while disabled gets -EIO");

	begin();
	wr8(NE_ENABLE, 1);
	EXPECT("NE_ENABLE after writing 1", rd8(NE_ENABLE), 1);
	EXPECT("SLOT_COUNT", slot_count(), 0);
	end("enable; the -EIO command did not run");
}

static void test_registers(void)
{
	uint64_t v;
	uint32_t evt;
	int i;

	begin();
	for (i = 0; i < 16; i++)
		wr8(NE_SEND_DATA + i, 0x10 + i);
	EXPECT("SEND_DATA[0..7] as u64", rd64(NE_SEND_DATA),
	       0x1716151413121110ULL);
	EXPECT("SEND_DATA[9..10] as u16", rd16(NE_SEND_DATA + 9), 0x1a19);
	wr32(NE_SEND_DATA + 4, 0xa1a2a3a4);
	EXPECT("SEND_DATA[4] after a u32 write", rd8(NE_SEND_DATA + 4), 0xa4);
	EXPECT("SEND_DATA[7] after a u32 write", rd8(NE_SEND_DATA + 7), 0xa1);
	wr64(NE_SEND_DATA + 232, 0x0102030405060708ULL);
	EXPECT("last SEND_DATA u64", rd64(NE_SEND_DATA + 232),
	       0x0102030405060708ULL);
	end("SEND_DATA is byte addressable, all access sizes");

	begin();
	v = rd64(NE_RECV_DATA + 8);
	wr64(NE_RECV_DATA + 8, ~v);
	EXPECT("RECV_DATA after a write", rd64(NE_RECV_DATA + 8), v);
	evt = rd32(NE_EVTCNT);
	wr32(NE_EVTCNT, evt + 0x10001);
	EXPECT("NE_EVTCNT after a write", rd32(NE_EVTCNT), evt);
	EXPECT("undefined 0x008", rd32(0x008), 0xffffffff);
	EXPECT("undefined 0x001", rd8(0x001), 0xff);
	EXPECT("undefined 0x1f0", rd64(0x1f0), ~0ULL);
	EXPECT("undefined 0xff8", rd64(0xff8), ~0ULL);
	wr32(0x1f0, 0);
	EXPECT("undefined 0x1f0 after a write", rd32(0x1f0), 0xffffffff);
	end("read-only and undefined registers");
}

/* Config space through sysfs */

static int cfg_rw(bool wr, void *buf, size_t len, off_t off)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, wr ? O_WRONLY : O_RDONLY);
	if (fd < 0)
		return -errno;
	n = wr ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static int find_cap(uint8_t id)
{
	uint8_t ptr = 0, hdr[2];
	uint16_t status = 0;
	int guard;

	if (cfg_rw(false, &status, 2, 0x06) || !(status & 0x10))
		return -ENOENT;
	cfg_rw(false, &ptr, 1, 0x34);
	for (guard = 0; ptr >= 0x40 && guard < 48; guard++) {
		if (cfg_rw(false, hdr, 2, ptr & ~3))
			return -EIO;
		if (hdr[0] == id)
			return ptr & ~3;
		ptr = hdr[1];
	}
	return -ENOENT;
}

/*
 * MSI-X, without taking interrupts: with the function masked, a notified
 * vector shows up as a pending bit in the PBA.
 */
static void test_msix(void)
{
	volatile uint64_t *pba = NULL;
	uint32_t table = 0, pbaoff = 0;
	uint16_t ctrl = 0, on;
	uint16_t before;
	uint8_t req = 0;
	char path[256];
	void *p;
	int cap, fd;

	begin();
	cap = find_cap(0x11);
	if (cap < 0) {
		fail("no MSI-X capability");
		end("MSI-X: 2 vectors in BAR 0; reply pends 0, event pends 1");
		return;
	}
	cfg_rw(false, &ctrl, 2, cap + 2);
	cfg_rw(false, &table, 4, cap + 4);
	cfg_rw(false, &pbaoff, 4, cap + 8);
	EXPECT("MSI-X table size", (ctrl & 0x7ff) + 1, 2);
	EXPECT("MSI-X table BIR", table & 7, 0);
	EXPECT("MSI-X PBA BIR", pbaoff & 7, 0);
	EXPECT("MSI-X enabled at start", !!(ctrl & 0x8000), 0);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	fd = open(path, O_RDWR | O_SYNC);
	p = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				       MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	if (p == MAP_FAILED) {
		fail("cannot map BAR 0: %s", strerror(errno));
		end("MSI-X: 2 vectors in BAR 0; reply pends 0, event pends 1");
		return;
	}
	pba = (volatile uint64_t *)((volatile uint8_t *)p + (pbaoff & ~7u));
	EXPECT("PBA before (MSI-X off: nothing pends)", *pba & 3, 0);

	on = ctrl | 0x8000 | 0x4000;	/* enable, function mask */
	cfg_rw(true, &on, 2, cap + 2);
	before = reply_counter();
	ring(SLOT_COUNT, &req, 1);
	if (!wait_counter((uint16_t)(before + 1), REPLY_TIMEOUT_MS))
		fail("no reply");
	EXPECT("PBA after a reply", *pba & 3, 1);
	if (have_tb) {
		ne_tb_raise_events(&tb, 1);
		EXPECT("PBA after an event", *pba & 3, 3);
	}
	cfg_rw(true, &ctrl, 2, cap + 2);
	munmap(p, 4096);
	end("MSI-X: 2 vectors in BAR 0; reply pends 0, event pends 1");
}

/* Tests: the happy path of all 11 commands */

static void test_happy_path(void)
{
	struct ne_tb_counters c0, c1;
	uint64_t a, b, cid_a, cid_b, u, n;
	struct reply r;
	int rc;

	if (have_tb)
		ne_tb_counters(&tb, &c0);

	begin();
	EXPECT("SLOT_COUNT", slot_count(), 0);
	rc = slot_alloc(&a);
	EXPECT_RC("SLOT_ALLOC", rc, 0);
	if (a == 0)
		fail("SLOT_ALLOC: slot_uid 0");
	if (mem_regions_max == 0)
		fail("SLOT_ALLOC: mem_regions 0");
	rc = slot_alloc(&b);
	EXPECT_RC("second SLOT_ALLOC", rc, 0);
	if (b == a || b == 0)
		fail("second SLOT_ALLOC: slot_uid %" PRIu64 " (first %" PRIu64
		     ")", b, a);
	EXPECT("SLOT_COUNT", slot_count(), 2);
	printf("# slots %" PRIu64 " and %" PRIu64 ", mem_regions %" PRIu64 "\n",
	       a, b, mem_regions_max);
	end("SLOT_ALLOC and SLOT_COUNT");

	begin();
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("slot_uid", r.slot_uid, a);
	EXPECT("state", r.state, STATE_INIT);
	EXPECT("enclave_cid", r.enclave_cid, 0);
	EXPECT("mem_regions", r.mem_regions, 0);
	EXPECT("mem_size", r.mem_size, 0);
	EXPECT("nr_vcpus", r.nr_vcpus, 0);
	EXPECT("flags", r.flags, 0);
	end("SLOT_INFO of a new slot");

	begin();
	EXPECT_RC("SLOT_ADD_MEM 64 MiB", add_mem(a, ram_base, 64 * MiB), 0);
	EXPECT_RC("SLOT_ADD_MEM 2 MiB",
		  add_mem(a, ram_base + 128 * MiB, CHUNK), 0);
	EXPECT_RC("SLOT_ADD_MEM slot b",
		  add_mem(b, ram_base + 256 * MiB, 4 * MiB), 0);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("mem_regions", r.mem_regions, 2);
	EXPECT("mem_size", r.mem_size, 66 * MiB);
	end("SLOT_ADD_MEM");

	begin();
	EXPECT_RC("SLOT_ADD_VCPU 1", add_vcpu(a, 1), 0);
	EXPECT_RC("SLOT_ADD_VCPU 0", add_vcpu(a, 0), 0);
	EXPECT_RC("SLOT_ADD_BULK_VCPUS 2", add_bulk(a, 2), 0);
	EXPECT_RC("SLOT_ADD_VCPU slot b", add_vcpu(b, 2), 0);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("nr_vcpus", r.nr_vcpus, 4);
	end("SLOT_ADD_VCPU and SLOT_ADD_BULK_VCPUS");

	if (have_tb) {
		begin();
		ne_tb_counters(&tb, &c1);
		EXPECT("live slots", c1.live_slots, c0.live_slots + 2);
		EXPECT("vcpus", c1.vcpus, c0.vcpus + 5);
		EXPECT("mem ranges", c1.mem_ranges, c0.mem_ranges + 3);
		EXPECT("mem bytes", c1.mem_bytes, c0.mem_bytes + 70 * MiB);
		EXPECT("SLOT_ALLOC count", c1.cmd[SLOT_ALLOC] - c0.cmd[SLOT_ALLOC], 2);
		EXPECT("SLOT_ADD_MEM count",
		       c1.cmd[SLOT_ADD_MEM] - c0.cmd[SLOT_ADD_MEM], 3);
		EXPECT("SLOT_ADD_VCPU count",
		       c1.cmd[SLOT_ADD_VCPU] - c0.cmd[SLOT_ADD_VCPU], 3);
		EXPECT("SLOT_ADD_BULK_VCPUS count",
		       c1.cmd[SLOT_ADD_BULK_VCPUS] - c0.cmd[SLOT_ADD_BULK_VCPUS], 1);
		EXPECT("SLOT_INFO count", c1.cmd[SLOT_INFO] - c0.cmd[SLOT_INFO], 3);
		EXPECT("SLOT_COUNT count", c1.cmd[SLOT_COUNT] - c0.cmd[SLOT_COUNT], 2);
		EXPECT("INVALID count", c1.cmd[0] - c0.cmd[0], 0);
		EXPECT("NE_TB_MEM_BYTES as one u64",
		       *(volatile uint64_t *)(tb.regs + NE_TB_MEM_BYTES),
		       c1.mem_bytes);
		end("test BAR counters follow the slots");
	} else {
		skip("test BAR counters follow the slots", "no test BAR");
	}

	begin();
	EXPECT_RC("ENCLAVE_START auto CID", start(a, 0, 1, &cid_a), 0);
	if (cid_a < 4)
		fail("auto CID %" PRIu64 " < 4", cid_a);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("state", r.state, STATE_RUNNING);
	EXPECT("enclave_cid", r.enclave_cid, cid_a);
	EXPECT("flags", r.flags, 1);
	EXPECT("nr_vcpus", r.nr_vcpus, 4);
	end("ENCLAVE_START assigns a CID >= 4");

	begin();
	EXPECT_RC("ENCLAVE_START CID 1000", start(b, 1000, 0, &cid_b), 0);
	EXPECT("echoed CID", cid_b, 1000);
	EXPECT("state", slot_state(b), STATE_RUNNING);
	end("ENCLAVE_START echoes a requested CID");

	begin();
	EXPECT_RC("ENCLAVE_GET_SLOT a", get_slot(cid_a, &u), 0);
	EXPECT("slot of CID a", u, a);
	EXPECT_RC("ENCLAVE_GET_SLOT b", get_slot(1000, &u), 0);
	EXPECT("slot of CID 1000", u, b);
	end("ENCLAVE_GET_SLOT finds slots by CID");

	begin();
	EXPECT_RC("NEXT_SLOT 0", next_slot(0, &n), 0);
	EXPECT("first slot", n, a < b ? a : b);
	EXPECT_RC("NEXT_SLOT first", next_slot(n, &n), 0);
	EXPECT("second slot", n, a < b ? b : a);
	EXPECT_RC("NEXT_SLOT second", next_slot(n, &n), -ENOENT);
	end("NEXT_SLOT enumerates in uid order");

	begin();
	EXPECT_RC("ENCLAVE_STOP a", stop(a), 0);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("state", r.state, STATE_STOPPED);
	EXPECT("enclave_cid held after stop", r.enclave_cid, cid_a);
	EXPECT("mem held after stop", r.mem_size, 66 * MiB);
	EXPECT_RC("ENCLAVE_GET_SLOT after stop", get_slot(cid_a, &u), 0);
	end("ENCLAVE_STOP: STOPPED, resources held");

	begin();
	EXPECT_RC("SLOT_FREE a", slot_free(a), 0);
	EXPECT_RC("SLOT_INFO of the freed slot", info(a, &r), -ENOENT);
	EXPECT_RC("ENCLAVE_GET_SLOT of its CID", get_slot(cid_a, &u), -ENOENT);
	EXPECT("SLOT_COUNT", slot_count(), 1);
	end("SLOT_FREE");

	begin();
	EXPECT_RC("ENCLAVE_STOP b", stop(b), 0);
	EXPECT_RC("SLOT_FREE b", slot_free(b), 0);
	EXPECT("SLOT_COUNT", slot_count(), 0);
	rc = make_slot(&a, 0, 1);
	EXPECT_RC("slot with the memory and vCPU of freed slots", rc, 0);
	EXPECT_RC("start it with CID 1000", start(a, 1000, 0, NULL), 0);
	EXPECT_RC("stop", stop(a), 0);
	EXPECT_RC("free", slot_free(a), 0);
	if (have_tb) {
		ne_tb_counters(&tb, &c1);
		EXPECT("live slots", c1.live_slots, 0);
		EXPECT("vcpus", c1.vcpus, 0);
		EXPECT("mem ranges", c1.mem_ranges, 0);
		EXPECT("mem bytes", c1.mem_bytes, 0);
	}
	end("freed memory, vCPUs and CIDs can be used again");
}

/* Tests: rejections, each with the state afterwards */

static void test_unknown(void)
{
	uint8_t req[8] = { 0 };
	uint64_t a, u, unknown = 0x7fffffff;
	uint16_t before;
	struct reply r;

	begin();
	before = reply_counter();
	EXPECT_RC("type 0", cmd(INVALID_CMD, req, 8, NULL), -EOPNOTSUPP);
	EXPECT_RC("type 12", cmd(MAX_CMD, req, 8, NULL), -EOPNOTSUPP);
	EXPECT_RC("type 0xffffffff", cmd(0xffffffff, req, 8, NULL),
		  -EOPNOTSUPP);
	EXPECT("replies", reply_counter(), (uint16_t)(before + 3));
	EXPECT("SLOT_COUNT", slot_count(), 0);
	end("unknown command types: -EOPNOTSUPP");

	begin();
	EXPECT_RC("ENCLAVE_START", start(unknown, 0, 0, NULL), -ENOENT);
	EXPECT_RC("ENCLAVE_STOP", stop(unknown), -ENOENT);
	EXPECT_RC("SLOT_FREE", slot_free(unknown), -ENOENT);
	EXPECT_RC("SLOT_ADD_MEM", add_mem(unknown, ram_base, CHUNK), -ENOENT);
	EXPECT_RC("SLOT_ADD_VCPU", add_vcpu(unknown, 0), -ENOENT);
	EXPECT_RC("SLOT_ADD_BULK_VCPUS", add_bulk(unknown, 1), -ENOENT);
	EXPECT_RC("SLOT_INFO", info(unknown, &r), -ENOENT);
	EXPECT_RC("SLOT_INFO of uid 0", info(0, &r), -ENOENT);
	EXPECT_RC("ENCLAVE_GET_SLOT", get_slot(4, &u), -ENOENT);
	EXPECT_RC("ENCLAVE_GET_SLOT CID 0", get_slot(0, &u), -ENOENT);
	EXPECT_RC("NEXT_SLOT of none", next_slot(0, &u), -ENOENT);
	EXPECT("SLOT_COUNT", slot_count(), 0);
	end("unknown slot or CID: -ENOENT");

	begin();
	{
		static const uint32_t echo[] = {
			ENCLAVE_START, ENCLAVE_STOP, SLOT_FREE, SLOT_ADD_MEM,
			SLOT_ADD_VCPU, SLOT_INFO, SLOT_ADD_BULK_VCPUS,
		};
		uint64_t req3[3] = { unknown, 0, 0 };
		char what[64];
		unsigned int i;

		for (i = 0; i < ARRAY_SIZE(echo); i++) {
			snprintf(what, sizeof(what), "command %u rc", echo[i]);
			EXPECT_RC(what, cmd(echo[i], req3, sizeof(req3), &r),
				  -ENOENT);
			snprintf(what, sizeof(what), "command %u slot_uid",
				 echo[i]);
			EXPECT(what, r.slot_uid, unknown);
		}
		EXPECT_RC("NEXT_SLOT", cmd(NEXT_SLOT, req3, 8, &r), -ENOENT);
		EXPECT("NEXT_SLOT slot_uid (none)", r.slot_uid, 0);
		EXPECT_RC("SLOT_ALLOC", slot_alloc(&a), 0);
		req3[0] = a;
		EXPECT_RC("ENCLAVE_START of an empty slot",
			  cmd(ENCLAVE_START, req3, sizeof(req3), &r), -EINVAL);
		EXPECT("ENCLAVE_START slot_uid", r.slot_uid, a);
		EXPECT_RC("SLOT_FREE", slot_free(a), 0);
	}
	end("failed replies echo the request's slot uid, NEXT_SLOT excepted");

	begin();
	EXPECT_RC("SLOT_ALLOC", slot_alloc(&a), 0);
	EXPECT_RC("ENCLAVE_GET_SLOT of an INIT slot (CID 0)", get_slot(0, &u),
		  -ENOENT);
	EXPECT_RC("NEXT_SLOT after the last", next_slot(a, &u), -ENOENT);
	EXPECT_RC("SLOT_FREE", slot_free(a), 0);
	end("ENCLAVE_GET_SLOT and NEXT_SLOT misses");
}

static void test_mem_rules(void)
{
	struct ne_tb_counters c0, c1;
	uint64_t a, b;
	struct reply r;
	uint64_t i;
	int rc;

	slot_alloc(&a);
	slot_alloc(&b);
	add_mem(a, ram_base, 4 * MiB);

	begin();
	EXPECT_RC("size 0", add_mem(a, ram_base + 64 * MiB, 0), -EINVAL);
	EXPECT_RC("paddr + 4 KiB", add_mem(a, ram_base + 64 * MiB + 4096, CHUNK),
		  -EINVAL);
	EXPECT_RC("paddr + 1 MiB", add_mem(a, ram_base + 65 * MiB, CHUNK),
		  -EINVAL);
	EXPECT_RC("size 1 MiB", add_mem(a, ram_base + 64 * MiB, MiB), -EINVAL);
	EXPECT_RC("size 3 MiB", add_mem(a, ram_base + 64 * MiB, 3 * MiB),
		  -EINVAL);
	EXPECT_RC("unaligned outside RAM", add_mem(a, 0xf0001000ULL, CHUNK),
		  -EINVAL);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("mem_regions", r.mem_regions, 1);
	EXPECT("mem_size", r.mem_size, 4 * MiB);
	end("SLOT_ADD_MEM zero or unaligned: -EINVAL");

	begin();
	EXPECT_RC("PCI hole 0xf0000000", add_mem(a, 0xf0000000ULL, CHUNK),
		  -EFAULT);
	EXPECT_RC("64 GiB", add_mem(a, 64 * GiB, CHUNK), -EFAULT);
	EXPECT_RC("last 2 MiB of the address space",
		  add_mem(a, 0xffffffffffe00000ULL, CHUNK), -EFAULT);
	EXPECT_RC("wraps", add_mem(a, 0xffffffffffe00000ULL, 4 * MiB),
		  -EFAULT);
	EXPECT_RC("huge size wraps", add_mem(a, ram_base,
					     0xfffffffffff00000ULL & ~(CHUNK - 1)),
		  -EFAULT);
	EXPECT_RC("straddles the end of low RAM",
		  add_mem(a, ram_edge - CHUNK, 2 * CHUNK), -EFAULT);
	EXPECT_RC("legacy VGA hole (first 2 MiB)", add_mem(a, 0, CHUNK),
		  -EFAULT);
	EXPECT_RC("last chunk of low RAM alone",
		  add_mem(a, ram_edge - CHUNK, CHUNK), 0);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("mem_regions", r.mem_regions, 2);
	EXPECT("mem_size", r.mem_size, 6 * MiB);
	end("SLOT_ADD_MEM outside guest RAM or wrapping: -EFAULT");

	begin();
	EXPECT_RC("same range, same slot", add_mem(a, ram_base, 4 * MiB),
		  -EEXIST);
	EXPECT_RC("inside, same slot", add_mem(a, ram_base + CHUNK, CHUNK),
		  -EEXIST);
	EXPECT_RC("same range, other slot", add_mem(b, ram_base, 4 * MiB),
		  -EEXIST);
	EXPECT_RC("overlaps the start, other slot",
		  add_mem(b, ram_base - CHUNK, 4 * MiB), -EEXIST);
	EXPECT_RC("overlaps the end, other slot",
		  add_mem(b, ram_base + CHUNK, 4 * MiB), -EEXIST);
	EXPECT_RC("covers it, other slot",
		  add_mem(b, ram_base - CHUNK, 8 * MiB), -EEXIST);
	EXPECT_RC("adjacent below, other slot",
		  add_mem(b, ram_base - CHUNK, CHUNK), 0);
	EXPECT_RC("adjacent above, same slot",
		  add_mem(a, ram_base + 4 * MiB, CHUNK), 0);
	EXPECT_RC("SLOT_INFO b", info(b, &r), 0);
	EXPECT("b mem_regions", r.mem_regions, 1);
	EXPECT_RC("SLOT_INFO a", info(a, &r), 0);
	EXPECT("a mem_regions", r.mem_regions, 3);
	end("SLOT_ADD_MEM overlapping any slot: -EEXIST");

	slot_free(a);
	slot_free(b);

	begin();
	rc = slot_alloc(&a);
	EXPECT_RC("SLOT_ALLOC", rc, 0);
	if (mem_regions_max == 0 || mem_regions_max > 512) {
		fail("mem_regions %" PRIu64 " > 512: too many to fill (mem-regions=N)",
		     mem_regions_max);
	} else {
		if (have_tb)
			ne_tb_counters(&tb, &c0);
		for (i = 0; i < mem_regions_max; i++) {
			rc = add_mem(a, ram_base + i * CHUNK, CHUNK);
			if (rc) {
				EXPECT_RC("filling", rc, 0);
				break;
			}
		}
		EXPECT_RC("one range too many",
			  add_mem(a, ram_base + i * CHUNK, CHUNK), -E2BIG);
		EXPECT_RC("overlap is checked before the limit",
			  add_mem(a, ram_base, CHUNK), -EEXIST);
		EXPECT_RC("SLOT_INFO", info(a, &r), 0);
		EXPECT("mem_regions", r.mem_regions, mem_regions_max);
		EXPECT("mem_size", r.mem_size, mem_regions_max * CHUNK);
		if (have_tb) {
			ne_tb_counters(&tb, &c1);
			EXPECT("test BAR mem ranges", c1.mem_ranges,
			       mem_regions_max);
			EXPECT("test BAR mem bytes", c1.mem_bytes,
			       mem_regions_max * CHUNK);
		}
		/* another slot still gets its own ranges */
		EXPECT_RC("SLOT_ALLOC b", slot_alloc(&b), 0);
		EXPECT_RC("b's first range",
			  add_mem(b, ram_base + i * CHUNK, CHUNK), 0);
		slot_free(b);
	}
	slot_free(a);
	end("SLOT_ADD_MEM beyond mem-regions: -E2BIG");
}

static void test_vcpu_rules(void)
{
	uint64_t a, b;
	struct reply r;

	slot_alloc(&a);
	slot_alloc(&b);

	begin();
	EXPECT_RC("vCPU = CPU count", add_vcpu(a, ncpus), -EINVAL);
	EXPECT_RC("vCPU 4096", add_vcpu(a, 4096), -EINVAL);
	EXPECT_RC("vCPU 0xffffffff", add_vcpu(a, 0xffffffff), -EINVAL);
	EXPECT_RC("last vCPU", add_vcpu(a, ncpus - 1), 0);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("nr_vcpus", r.nr_vcpus, 1);
	end("SLOT_ADD_VCPU id >= CPU count: -EINVAL");

	begin();
	EXPECT_RC("same vCPU, same slot", add_vcpu(a, ncpus - 1), -EEXIST);
	EXPECT_RC("same vCPU, other slot", add_vcpu(b, ncpus - 1), -EEXIST);
	EXPECT_RC("SLOT_INFO b", info(b, &r), 0);
	EXPECT("b nr_vcpus", r.nr_vcpus, 0);
	EXPECT_RC("SLOT_INFO a", info(a, &r), 0);
	EXPECT("a nr_vcpus", r.nr_vcpus, 1);
	end("SLOT_ADD_VCPU id held by any slot: -EEXIST");

	begin();
	EXPECT_RC("0 vCPUs", add_bulk(a, 0), -EINVAL);
	EXPECT_RC("CPU count + 1", add_bulk(a, ncpus + 1), -EINVAL);
	EXPECT_RC("2^63", add_bulk(a, 1ULL << 63), -EINVAL);
	EXPECT_RC("CPU count", add_bulk(b, ncpus), 0);
	EXPECT_RC("SLOT_INFO b", info(b, &r), 0);
	EXPECT("b nr_vcpus", r.nr_vcpus, ncpus);
	EXPECT_RC("SLOT_INFO a", info(a, &r), 0);
	EXPECT("a nr_vcpus", r.nr_vcpus, 1);
	end("SLOT_ADD_BULK_VCPUS 0 or > CPU count: -EINVAL");

	slot_free(a);
	slot_free(b);
}

static void test_start_rules(void)
{
	uint64_t a, b, c, d, cid;
	struct reply r;

	begin();
	slot_alloc(&a);
	EXPECT_RC("no memory, no vCPU", start(a, 0, 0, NULL), -EINVAL);
	add_vcpu(a, 0);
	EXPECT_RC("no memory", start(a, 0, 0, NULL), -EINVAL);
	slot_alloc(&b);
	add_mem(b, ram_base, CHUNK);
	EXPECT_RC("no vCPU", start(b, 0, 0, NULL), -EINVAL);
	EXPECT("a state", slot_state(a), STATE_INIT);
	EXPECT("b state", slot_state(b), STATE_INIT);
	slot_free(a);
	slot_free(b);
	end("ENCLAVE_START without memory or vCPU: -EINVAL");

	begin();
	make_slot(&a, 0, 0);
	EXPECT_RC("flags 2", start(a, 0, 2, NULL), -EINVAL);
	EXPECT_RC("flags 1 << 63", start(a, 0, 1ULL << 63, NULL), -EINVAL);
	EXPECT_RC("CID 1", start(a, 1, 0, NULL), -EINVAL);
	EXPECT_RC("CID 2", start(a, 2, 0, NULL), -EINVAL);
	EXPECT_RC("CID 3", start(a, 3, 0, NULL), -EINVAL);
	EXPECT_RC("CID 0xffffffff", start(a, 0xffffffffULL, 0, NULL), -EINVAL);
	EXPECT_RC("CID 1 << 40", start(a, 1ULL << 40, 0, NULL), -EINVAL);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("state", r.state, STATE_INIT);
	EXPECT("enclave_cid", r.enclave_cid, 0);
	EXPECT_RC("CID 0xfffffffe", start(a, 0xfffffffeULL, 0, &cid), 0);
	EXPECT("echoed CID", cid, 0xfffffffeULL);
	end("ENCLAVE_START bad flags or reserved CID: -EINVAL");

	begin();
	EXPECT_RC("running", start(a, 0, 0, NULL), -EBUSY);
	EXPECT_RC("SLOT_ADD_MEM while running",
		  add_mem(a, ram_base + 16 * MiB, CHUNK), -EBUSY);
	EXPECT_RC("SLOT_ADD_VCPU while running", add_vcpu(a, 1), -EBUSY);
	EXPECT_RC("SLOT_ADD_BULK_VCPUS while running", add_bulk(a, 1), -EBUSY);
	EXPECT_RC("SLOT_FREE while running", slot_free(a), -EBUSY);
	EXPECT_RC("SLOT_INFO", info(a, &r), 0);
	EXPECT("state", r.state, STATE_RUNNING);
	EXPECT("mem_regions", r.mem_regions, 1);
	EXPECT("nr_vcpus", r.nr_vcpus, 1);
	EXPECT("SLOT_COUNT", slot_count(), 1);
	end("a running slot: START, ADD_*, FREE get -EBUSY");

	begin();
	EXPECT_RC("ENCLAVE_STOP", stop(a), 0);
	EXPECT_RC("ENCLAVE_STOP stopped", stop(a), -EINVAL);
	EXPECT_RC("ENCLAVE_START stopped", start(a, 0, 0, NULL), -EBUSY);
	EXPECT_RC("SLOT_ADD_MEM stopped", add_mem(a, ram_base + 16 * MiB,
						  CHUNK), -EBUSY);
	EXPECT("state", slot_state(a), STATE_STOPPED);
	make_slot(&b, 1, 1);
	EXPECT_RC("ENCLAVE_STOP of an INIT slot", stop(b), -EINVAL);
	EXPECT("state", slot_state(b), STATE_INIT);
	end("ENCLAVE_STOP of a slot not running: -EINVAL");

	begin();
	/* a (stopped) still holds 0xfffffffe */
	EXPECT_RC("CID of a stopped slot", start(b, 0xfffffffeULL, 0, NULL),
		  -EADDRINUSE);
	EXPECT("state", slot_state(b), STATE_INIT);
	EXPECT_RC("CID 5", start(b, 5, 0, &cid), 0);
	make_slot(&c, 2, 2);
	EXPECT_RC("CID of a running slot", start(c, 5, 0, NULL), -EADDRINUSE);
	EXPECT("state", slot_state(c), STATE_INIT);
	end("ENCLAVE_START with a CID in use: -EADDRINUSE");

	begin();
	EXPECT_RC("auto CID", start(c, 0, 0, &cid), 0);
	EXPECT("lowest free CID", cid, 4);
	make_slot(&d, 3, -1);
	EXPECT_RC("auto CID past 4 and 5", start(d, 0, 0, &cid), 0);
	EXPECT("lowest free CID", cid, 6);
	EXPECT_RC("GET_SLOT 6", get_slot(6, &cid), 0);
	EXPECT("slot of CID 6", cid, d);
	end("ENCLAVE_START auto CID is the lowest free >= 4");

	free_all_slots();
	begin();
	EXPECT("SLOT_COUNT", slot_count(), 0);
	end("cleanup");
}

static void test_max_slots(void)
{
	uint64_t uids[65], u;
	unsigned int n = 0, i;
	int rc = 0;

	begin();
	while (n < 65) {
		rc = slot_alloc(&uids[n]);
		if (rc)
			break;
		n++;
	}
	EXPECT_RC("SLOT_ALLOC past max-slots", rc, -ENOSPC);
	EXPECT("SLOT_COUNT", slot_count(), n);
	if (have_tb)
		EXPECT("test BAR live slots", ne_tb_read32(&tb, NE_TB_LIVE_SLOTS), n);
	printf("# max-slots is %u\n", n);
	if (n > 0) {
		EXPECT_RC("free one", slot_free(uids[0]), 0);
		EXPECT_RC("alloc again", slot_alloc(&u), 0);
		for (i = 1; i < n; i++)
			if (u == uids[i])
				fail("uid %" PRIu64 " reused", u);
		if (u == uids[0])
			fail("uid %" PRIu64 " reused", u);
		EXPECT_RC("full again", slot_alloc(&uids[0]), -ENOSPC);
		uids[0] = u;
	}
	for (i = 0; i < n; i++)
		slot_free(uids[i]);
	EXPECT("SLOT_COUNT", slot_count(), 0);
	end("SLOT_ALLOC with max-slots slots: -ENOSPC; uids not reused");
}

static void test_disable_frees(void)
{
	uint64_t a, b;
	int i;

	begin();
	make_slot(&a, 0, 0);
	make_slot(&b, 1, 1);
	start(a, 0, 0, NULL);
	wr8(NE_ENABLE, 0);
	for (i = 0; i < 1000 && rd8(NE_ENABLE) != 0; i++)
		sleep_ms(1);
	EXPECT("NE_ENABLE", rd8(NE_ENABLE), 0);
	if (have_tb)
		EXPECT("test BAR live slots", ne_tb_read32(&tb, NE_TB_LIVE_SLOTS), 0);
	EXPECT_RC("SLOT_COUNT while disabled", (int)slot_count(), -EIO);
	wr8(NE_ENABLE, 1);
	EXPECT("SLOT_COUNT after enable", slot_count(), 0);
	EXPECT_RC("SLOT_INFO of a slot from before", info(a, NULL), -ENOENT);
	EXPECT_RC("its memory is free", make_slot(&a, 0, 0), 0);
	slot_free(a);
	end("writing 0 to NE_ENABLE frees every slot");
}

/* Tests: the test hooks */

static void test_hook_exit(void)
{
	struct ne_tb_counters c0, c1;
	uint16_t ev;
	uint64_t a, b;

	begin();
	make_slot(&a, 0, 0);
	make_slot(&b, 1, 1);
	start(a, 0, 0, NULL);
	ev = event_counter();
	ne_tb_counters(&tb, &c0);
	EXPECT_RC("exit", ne_tb_exit_slot(&tb, a), 0);
	EXPECT("NE_TB_STATUS", (int32_t)ne_tb_read32(&tb, NE_TB_STATUS), 0);
	EXPECT("state", slot_state(a), STATE_STOPPED);
	EXPECT("EVTCNT event counter", event_counter(), (uint16_t)(ev + 1));
	ne_tb_counters(&tb, &c1);
	EXPECT("NE_TB_EVENT_COUNT", c1.event_count, c0.event_count + 1);
	EXPECT("live slots", c1.live_slots, 2);
	EXPECT_RC("SLOT_FREE after the exit", slot_free(a), 0);
	end("exit hook: RUNNING -> STOPPED, event counter + 1");

	begin();
	ev = event_counter();
	EXPECT_RC("exit of an INIT slot", ne_tb_exit_slot(&tb, b), -EINVAL);
	EXPECT_RC("exit of an unknown slot", ne_tb_exit_slot(&tb, 0x7fffffff),
		  -ENOENT);
	EXPECT_RC("exit of a freed slot", ne_tb_exit_slot(&tb, a), -ENOENT);
	EXPECT("state", slot_state(b), STATE_INIT);
	EXPECT("EVTCNT event counter", event_counter(), ev);
	start(b, 0, 0, NULL);
	stop(b);
	EXPECT("ENCLAVE_STOP raises no event", event_counter(), ev);
	EXPECT_RC("exit of a STOPPED slot", ne_tb_exit_slot(&tb, b), -EINVAL);
	slot_free(b);
	end("exit hook on a slot not running: -EINVAL / -ENOENT, no event");

	begin();
	ne_tb_write64(&tb, NE_TB_SLOT, 0x1122334455667788ULL);
	EXPECT("NE_TB_SLOT as u64",
	       *(volatile uint64_t *)(tb.regs + NE_TB_SLOT),
	       0x1122334455667788ULL);
	*(volatile uint64_t *)(tb.regs + NE_TB_SLOT) = 0x8877665544332211ULL;
	EXPECT("NE_TB_SLOT low half", ne_tb_read32(&tb, NE_TB_SLOT),
	       0x44332211);
	EXPECT("NE_TB_SLOT high half", ne_tb_read32(&tb, NE_TB_SLOT + 4),
	       0x88776655);
	ne_tb_write32(&tb, NE_TB_ACTION, 99);
	EXPECT("NE_TB_STATUS of an unknown action",
	       (int32_t)ne_tb_read32(&tb, NE_TB_STATUS), -EINVAL);
	ne_tb_write32(&tb, NE_TB_MAGIC, 0);
	EXPECT("NE_TB_MAGIC after a write", ne_tb_read32(&tb, NE_TB_MAGIC),
	       NE_TB_MAGIC_VALUE);
	EXPECT("undefined 0x0a0", ne_tb_read32(&tb, 0x0a0), 0xffffffff);
	end("test BAR registers");
}

static void test_hook_fail(void)
{
	struct ne_tb_counters c0, c1;
	uint8_t req = 0;
	struct reply r;
	uint64_t a;

	begin();
	ne_tb_counters(&tb, &c0);
	ne_tb_fail_next(&tb, SLOT_ALLOC, -123);
	EXPECT("NE_TB_FAIL_CMD armed", ne_tb_read32(&tb, NE_TB_FAIL_CMD),
	       SLOT_ALLOC);
	EXPECT("NE_TB_FAIL_RC", (int32_t)ne_tb_read32(&tb, NE_TB_FAIL_RC), -123);
	EXPECT_RC("SLOT_COUNT is not the armed type", (int)slot_count(), 0);
	EXPECT_RC("armed SLOT_ALLOC", cmd(SLOT_ALLOC, &req, 1, &r), -123);
	EXPECT("slot_uid in the failed reply", r.slot_uid, 0);
	EXPECT("NE_TB_FAIL_CMD after", ne_tb_read32(&tb, NE_TB_FAIL_CMD), 0);
	ne_tb_counters(&tb, &c1);
	EXPECT("live slots (not run)", c1.live_slots, c0.live_slots);
	EXPECT("SLOT_ALLOC counted", c1.cmd[SLOT_ALLOC],
	       c0.cmd[SLOT_ALLOC] + 1);
	EXPECT_RC("next SLOT_ALLOC (one-shot)", slot_alloc(&a), 0);
	EXPECT("SLOT_COUNT", slot_count(), 1);
	end("fail-next-cmd: rc R once, command not run");

	begin();
	ne_tb_fail_next(&tb, SLOT_FREE, -EIO);
	EXPECT_RC("armed SLOT_FREE", cmd(SLOT_FREE, &a, 8, &r), -EIO);
	EXPECT("slot_uid echoed by the failed SLOT_FREE", r.slot_uid, a);
	EXPECT("SLOT_COUNT (not freed)", slot_count(), 1);
	EXPECT_RC("SLOT_FREE again", slot_free(a), 0);
	ne_tb_fail_next(&tb, 42, -7);
	EXPECT_RC("unknown type 42 armed", cmd(42, &req, 1, NULL), -7);
	EXPECT_RC("unknown type 42 again", cmd(42, &req, 1, NULL), -EOPNOTSUPP);
	end("fail-next-cmd on other types");
}

static void test_hook_replies(void)
{
	struct ne_tb_counters c0, c1;
	uint8_t req = 0;
	struct reply r;
	uint16_t before;
	int64_t t0, t1;
	bool early;
	uint64_t a;

	begin();
	ne_tb_counters(&tb, &c0);
	ne_tb_reply_mode(&tb, NE_TB_REPLY_DROP, 100);
	before = reply_counter();
	ring(SLOT_ALLOC, &req, 1);
	EXPECT("NE_TB_REPLY_MODE after use", ne_tb_read32(&tb, NE_TB_REPLY_MODE),
	       0);
	if (wait_counter((uint16_t)(before + 1), 300))
		fail("a dropped reply arrived");
	EXPECT("reply counter", reply_counter(), before);
	ne_tb_counters(&tb, &c1);
	EXPECT("live slots (the command ran)", c1.live_slots, c0.live_slots + 1);
	EXPECT("SLOT_COUNT (next reply is normal)", slot_count(), 1);
	free_all_slots();
	EXPECT("SLOT_COUNT after cleanup", slot_count(), 0);
	end("drop: no reply within 300 ms, command ran, one-shot");

	begin();
	ne_tb_reply_mode(&tb, NE_TB_REPLY_LATE, 400);
	EXPECT("NE_TB_DELAY_MS", ne_tb_read32(&tb, NE_TB_DELAY_MS), 400);
	before = reply_counter();
	t0 = now_ms();
	ring(SLOT_COUNT, &req, 1);
	early = wait_counter((uint16_t)(before + 1), 200);
	if (early)
		fail("late reply came after %" PRId64 " ms (< 200)",
		     now_ms() - t0);
	if (!early && !wait_counter((uint16_t)(before + 1), 5000))
		fail("late reply never came");
	t1 = now_ms();
	read_reply(&r);
	EXPECT_RC("late reply", r.rc, 0);
	EXPECT("late reply counter", reply_counter(), (uint16_t)(before + 1));
	printf("# late reply after %" PRId64 " ms\n", t1 - t0);
	EXPECT("SLOT_COUNT (next reply is normal)", slot_count(), 0);
	end("late: reply arrives after the delay, not before");

	begin();
	slot_alloc(&a);
	ne_tb_reply_mode(&tb, NE_TB_REPLY_TWICE, 150);
	before = reply_counter();
	EXPECT_RC("SLOT_INFO (first copy)", info(a, &r), 0);
	EXPECT("first copy slot_uid", r.slot_uid, a);
	memset(&r, 0, sizeof(r));
	if (!wait_counter((uint16_t)(before + 2), 5000))
		fail("second copy never came");
	read_reply(&r);
	EXPECT_RC("second copy rc", r.rc, 0);
	EXPECT("second copy slot_uid", r.slot_uid, a);
	sleep_ms(300);
	EXPECT("reply counter", reply_counter(), (uint16_t)(before + 2));
	EXPECT("SLOT_COUNT (next reply is normal)", slot_count(), 1);
	EXPECT("reply counter", reply_counter(), (uint16_t)(before + 3));
	slot_free(a);
	ne_tb_write32(&tb, NE_TB_DELAY_MS, 100);
	end("twice: reply counter + 2, same reply");

	begin();
	ne_tb_write32(&tb, NE_TB_REPLY_MODE, 7);
	EXPECT("NE_TB_REPLY_MODE after writing 7",
	       ne_tb_read32(&tb, NE_TB_REPLY_MODE), 0);
	end("invalid reply mode is ignored");
}

/* rc < 0 replies with slot uid 0 (NE_TB_ERR_UID_ZERO); other replies as usual */
static void test_hook_err_uid_zero(void)
{
	uint64_t unknown = 0x7fffffff, uid = 77, a, next;
	uint64_t req[3];
	struct reply r;

	begin();
	EXPECT("NE_TB_ERR_UID_ZERO (err-uid-zero=off)",
	       ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 0);
	EXPECT_RC("off: SLOT_FREE of an unknown slot",
		  cmd(SLOT_FREE, &unknown, 8, &r), -ENOENT);
	EXPECT("off: its slot_uid (echoed)", r.slot_uid, unknown);
	EXPECT_RC("slot", slot_alloc(&a), 0);

	ne_tb_err_uid_zero(&tb, true);
	EXPECT("NE_TB_ERR_UID_ZERO", ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 1);
	EXPECT_RC("on: SLOT_FREE of an unknown slot",
		  cmd(SLOT_FREE, &unknown, 8, &r), -ENOENT);
	EXPECT("on: its slot_uid", r.slot_uid, 0);
	req[0] = a;
	req[1] = 0;
	req[2] = 0;
	EXPECT_RC("on: ENCLAVE_START without memory",
		  cmd(ENCLAVE_START, req, sizeof(req), &r), -EINVAL);
	EXPECT("on: its slot_uid", r.slot_uid, 0);
	ne_tb_fail_next(&tb, SLOT_INFO, -EIO);
	EXPECT_RC("on: SLOT_INFO failed by the hook", cmd(SLOT_INFO, &a, 8, &r),
		  -EIO);
	EXPECT("on: its slot_uid", r.slot_uid, 0);
	ne_tb_fail_next(&tb, SLOT_INFO, 5);
	EXPECT_RC("on: SLOT_INFO given rc 5 by the hook",
		  cmd(SLOT_INFO, &a, 8, &r), 5);
	EXPECT("on: its slot_uid (rc not negative: echoed)", r.slot_uid, a);
	EXPECT_RC("on: SLOT_INFO", cmd(SLOT_INFO, &a, 8, &r), 0);
	EXPECT("on: SLOT_INFO slot_uid", r.slot_uid, a);
	req[1] = ram_base;
	req[2] = CHUNK;
	EXPECT_RC("on: SLOT_ADD_MEM", cmd(SLOT_ADD_MEM, req, sizeof(req), &r), 0);
	EXPECT("on: SLOT_ADD_MEM slot_uid", r.slot_uid, a);
	EXPECT_RC("on: NEXT_SLOT", next_slot(0, &next), 0);
	EXPECT("on: NEXT_SLOT slot_uid", next, a);
	EXPECT_RC("on: SLOT_FREE", cmd(SLOT_FREE, &a, 8, &r), 0);
	EXPECT("on: SLOT_FREE slot_uid", r.slot_uid, a);

	/* -EIO from a device that is off (no slot left to free). */
	wr8(NE_ENABLE, 0);
	EXPECT_RC("on: SLOT_INFO while disabled", cmd(SLOT_INFO, &uid, 8, &r),
		  -EIO);
	EXPECT("on: its slot_uid", r.slot_uid, 0);
	wr8(NE_ENABLE, 1);
	EXPECT("NE_ENABLE after writing 1", rd8(NE_ENABLE), 1);

	ne_tb_err_uid_zero(&tb, false);
	EXPECT("NE_TB_ERR_UID_ZERO", ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 0);
	EXPECT_RC("off again: SLOT_FREE of an unknown slot",
		  cmd(SLOT_FREE, &unknown, 8, &r), -ENOENT);
	EXPECT("off again: its slot_uid (echoed)", r.slot_uid, unknown);
	EXPECT("SLOT_COUNT", slot_count(), 0);
	end("err-uid-zero: failed replies carry slot uid 0, others their uid");
}

/* NE_TB_REPLY_CMD: the reply mode waits for a reply to that command type. */
static void test_hook_reply_cmd(void)
{
	uint64_t req[3];
	struct reply r;
	uint16_t before;
	uint64_t a, b;

	begin();
	EXPECT("NE_TB_REPLY_CMD (default)", ne_tb_read32(&tb, NE_TB_REPLY_CMD), 0);
	EXPECT_RC("slot", make_slot(&a, 0, 0), 0);
	ne_tb_reply_mode_cmd(&tb, ENCLAVE_START, NE_TB_REPLY_DROP, 100);
	EXPECT("NE_TB_REPLY_CMD", ne_tb_read32(&tb, NE_TB_REPLY_CMD),
	       ENCLAVE_START);
	EXPECT_RC("SLOT_ADD_MEM before the start (normal reply)",
		  add_mem(a, ram_base + CHUNK, CHUNK), 0);
	EXPECT_RC("SLOT_INFO before the start (normal reply)", info(a, &r), 0);
	EXPECT("SLOT_INFO slot_uid", r.slot_uid, a);
	EXPECT("SLOT_COUNT before the start (normal reply)", slot_count(), 1);
	EXPECT("NE_TB_REPLY_MODE still armed",
	       ne_tb_read32(&tb, NE_TB_REPLY_MODE), NE_TB_REPLY_DROP);
	EXPECT("NE_TB_REPLY_CMD still set", ne_tb_read32(&tb, NE_TB_REPLY_CMD),
	       ENCLAVE_START);
	req[0] = a;
	req[1] = 0;
	req[2] = 0;
	before = reply_counter();
	ring(ENCLAVE_START, req, sizeof(req));
	if (wait_counter((uint16_t)(before + 1), 300))
		fail("the ENCLAVE_START reply arrived (not dropped)");
	EXPECT("reply counter", reply_counter(), before);
	EXPECT("NE_TB_REPLY_MODE after use",
	       ne_tb_read32(&tb, NE_TB_REPLY_MODE), 0);
	EXPECT("NE_TB_REPLY_CMD after use", ne_tb_read32(&tb, NE_TB_REPLY_CMD),
	       0);
	EXPECT("state (the start ran)", slot_state(a), STATE_RUNNING);
	EXPECT_RC("ENCLAVE_STOP (next reply is normal)", stop(a), 0);
	EXPECT_RC("SLOT_FREE", slot_free(a), 0);
	end("reply-cmd: a drop aimed at ENCLAVE_START spares the replies before it");

	begin();
	EXPECT_RC("slot", slot_alloc(&b), 0);
	ne_tb_reply_mode_cmd(&tb, SLOT_FREE, NE_TB_REPLY_TWICE, 150);
	before = reply_counter();
	EXPECT_RC("SLOT_INFO (normal reply)", info(b, NULL), 0);
	EXPECT_RC("SLOT_FREE of an unknown slot (first copy)",
		  slot_free(0x7fffffff), -ENOENT);
	if (!wait_counter((uint16_t)(before + 3), 5000))
		fail("second copy of the SLOT_FREE reply never came");
	read_reply(&r);
	EXPECT_RC("second copy rc", r.rc, -ENOENT);
	EXPECT("second copy slot_uid", r.slot_uid, 0x7fffffff);
	sleep_ms(300);
	EXPECT("reply counter (1 + 2 copies)", reply_counter(),
	       (uint16_t)(before + 3));
	EXPECT("NE_TB_REPLY_CMD after use", ne_tb_read32(&tb, NE_TB_REPLY_CMD),
	       0);
	EXPECT_RC("SLOT_FREE (next reply is normal)", slot_free(b), 0);
	EXPECT("reply counter", reply_counter(), (uint16_t)(before + 4));

	/* Without an armed mode, reply-cmd waits and changes nothing. */
	ne_tb_write32(&tb, NE_TB_REPLY_CMD, SLOT_COUNT);
	EXPECT("SLOT_COUNT with reply-cmd alone", slot_count(), 0);
	EXPECT("reply counter", reply_counter(), (uint16_t)(before + 5));
	EXPECT("NE_TB_REPLY_CMD kept", ne_tb_read32(&tb, NE_TB_REPLY_CMD),
	       SLOT_COUNT);
	ne_tb_write32(&tb, NE_TB_REPLY_CMD, 0);
	ne_tb_write32(&tb, NE_TB_DELAY_MS, 100);
	end("reply-cmd: twice aimed at SLOT_FREE, after another command");
}

static void test_hook_uid_cmd_invalid(void)
{
	begin();
	ne_tb_write32(&tb, NE_TB_REPLY_CMD, SLOT_INFO);
	ne_tb_write32(&tb, NE_TB_REPLY_CMD, MAX_CMD);
	EXPECT("NE_TB_REPLY_CMD after writing 12",
	       ne_tb_read32(&tb, NE_TB_REPLY_CMD), SLOT_INFO);
	ne_tb_write32(&tb, NE_TB_REPLY_CMD, 0xffffffff);
	EXPECT("NE_TB_REPLY_CMD after writing 0xffffffff",
	       ne_tb_read32(&tb, NE_TB_REPLY_CMD), SLOT_INFO);
	ne_tb_write32(&tb, NE_TB_REPLY_CMD, 0);
	EXPECT("NE_TB_REPLY_CMD after writing 0",
	       ne_tb_read32(&tb, NE_TB_REPLY_CMD), 0);
	ne_tb_err_uid_zero(&tb, true);
	ne_tb_write32(&tb, NE_TB_ERR_UID_ZERO, 2);
	EXPECT("NE_TB_ERR_UID_ZERO after writing 2",
	       ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 1);
	ne_tb_write32(&tb, NE_TB_ERR_UID_ZERO, 0x100);
	EXPECT("NE_TB_ERR_UID_ZERO after writing 0x100",
	       ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 1);
	ne_tb_err_uid_zero(&tb, false);
	EXPECT("NE_TB_ERR_UID_ZERO after writing 0",
	       ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 0);
	end("invalid reply-cmd and err-uid-zero values are ignored");

	begin();
	ne_tb_err_uid_zero(&tb, true);
	ne_tb_reply_mode_cmd(&tb, ENCLAVE_STOP, NE_TB_REPLY_DROP, 100);
	ne_tb_write32(&tb, NE_TB_ACTION, NE_TB_ACTION_RESET);
	EXPECT("NE_TB_ERR_UID_ZERO (back to err-uid-zero=off)",
	       ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 0);
	EXPECT("NE_TB_REPLY_CMD", ne_tb_read32(&tb, NE_TB_REPLY_CMD), 0);
	EXPECT("NE_TB_REPLY_MODE (aimed: disarmed)",
	       ne_tb_read32(&tb, NE_TB_REPLY_MODE), 0);
	ne_tb_reply_mode(&tb, NE_TB_REPLY_LATE, 100);
	ne_tb_write32(&tb, NE_TB_ACTION, NE_TB_ACTION_RESET);
	EXPECT("NE_TB_REPLY_MODE (not aimed: kept)",
	       ne_tb_read32(&tb, NE_TB_REPLY_MODE), NE_TB_REPLY_LATE);
	ne_tb_write32(&tb, NE_TB_REPLY_MODE, NE_TB_REPLY_NORMAL);
	EXPECT("SLOT_COUNT", slot_count(), 0);
	end("counter reset: err-uid-zero back to the property, reply-cmd 0");
}

static void test_hook_events_counters(void)
{
	struct ne_tb_counters c0, c1;
	uint16_t ev, rep;
	int i;

	begin();
	ev = event_counter();
	rep = reply_counter();
	ne_tb_counters(&tb, &c0);
	EXPECT_RC("raise 3", ne_tb_raise_events(&tb, 3), 0);
	EXPECT("EVTCNT event counter", event_counter(), (uint16_t)(ev + 3));
	EXPECT("EVTCNT reply counter", reply_counter(), rep);
	ne_tb_counters(&tb, &c1);
	EXPECT("NE_TB_EVENT_COUNT", c1.event_count, c0.event_count + 3);
	EXPECT("NE_TB_EVENTS", ne_tb_read32(&tb, NE_TB_EVENTS), 3);
	EXPECT_RC("raise 0", ne_tb_raise_events(&tb, 0), 0);
	EXPECT("EVTCNT event counter", event_counter(), (uint16_t)(ev + 3));
	EXPECT_RC("raise 65536", ne_tb_raise_events(&tb, 65536), -EINVAL);
	EXPECT("EVTCNT event counter", event_counter(), (uint16_t)(ev + 3));
	end("raise events: event counter + N");

	begin();
	slot_count();
	ne_tb_write32(&tb, NE_TB_ACTION, NE_TB_ACTION_RESET);
	EXPECT("NE_TB_STATUS", (int32_t)ne_tb_read32(&tb, NE_TB_STATUS), 0);
	ne_tb_counters(&tb, &c1);
	for (i = 0; i < NE_TB_NR_CMD_TYPES; i++)
		EXPECT("NE_TB_CMD_COUNT", c1.cmd[i], 0);
	EXPECT("NE_TB_EVENT_COUNT", c1.event_count, 0);
	EXPECT("EVTCNT event counter kept", event_counter(), (uint16_t)(ev + 3));
	slot_count();
	slot_count();
	ne_tb_counters(&tb, &c1);
	EXPECT("SLOT_COUNT count", c1.cmd[SLOT_COUNT], 2);
	end("counter reset zeroes command and event counts");
}

/*
 * --qmp: the host side (qmp-hook.py, run by "ne-vm --host-hook") checks the
 * QOM counters of a running slot, raises 2 events, arms a failure of
 * SLOT_COUNT with rc -5 and makes the slot exit, all over QMP.
 */
static void test_qmp(void)
{
	uint16_t ev;
	int64_t deadline;
	uint64_t a;

	begin();
	EXPECT_RC("slot", make_slot(&a, 0, 0), 0);
	EXPECT_RC("start", start(a, 0, 0, NULL), 0);
	ev = event_counter();
	printf("ne-qmp: ready uid=%" PRIu64 "\n", a);
	deadline = now_ms() + QMP_WAIT_MS;
	while (slot_state(a) == STATE_RUNNING && now_ms() < deadline)
		sleep_ms(50);
	EXPECT("state after the host's exit-slot", slot_state(a), STATE_STOPPED);
	EXPECT("EVTCNT event counter (2 raised + 1 exit)", event_counter(),
	       (uint16_t)(ev + 3));
	EXPECT_RC("SLOT_COUNT failed by the host", (int)slot_count(), -5);
	EXPECT("SLOT_COUNT (one-shot)", slot_count(), 1);
	EXPECT_RC("free", slot_free(a), 0);
	end("host-side controls over QMP");
}

/*
 * --qmp, continued: before its exit-slot the host set tb-err-uid-zero to 1
 * and aimed a late reply (delay-ms 300) at ENCLAVE_GET_SLOT, which the
 * test above never sends: the mode is still armed.
 */
static void test_qmp_reply_cmd(void)
{
	uint64_t unknown = 0x7fffffff, uid;
	struct reply r;
	int64_t t0, t;

	begin();
	EXPECT("NE_TB_ERR_UID_ZERO set by the host",
	       ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 1);
	EXPECT("NE_TB_REPLY_CMD set by the host",
	       ne_tb_read32(&tb, NE_TB_REPLY_CMD), ENCLAVE_GET_SLOT);
	EXPECT("NE_TB_REPLY_MODE still armed",
	       ne_tb_read32(&tb, NE_TB_REPLY_MODE), NE_TB_REPLY_LATE);
	t0 = now_ms();
	EXPECT_RC("ENCLAVE_GET_SLOT of a CID nobody holds",
		  get_slot(12345, &uid), -ENOENT);
	t = now_ms() - t0;
	if (t < 150)
		fail("ENCLAVE_GET_SLOT reply after %" PRId64 " ms (< 150)", t);
	EXPECT("NE_TB_REPLY_MODE after use",
	       ne_tb_read32(&tb, NE_TB_REPLY_MODE), 0);
	EXPECT("NE_TB_REPLY_CMD after use", ne_tb_read32(&tb, NE_TB_REPLY_CMD),
	       0);
	EXPECT_RC("SLOT_FREE of an unknown slot",
		  cmd(SLOT_FREE, &unknown, 8, &r), -ENOENT);
	EXPECT("its slot_uid", r.slot_uid, 0);
	ne_tb_err_uid_zero(&tb, false);
	EXPECT_RC("SLOT_FREE of an unknown slot, hook off",
		  cmd(SLOT_FREE, &unknown, 8, &r), -ENOENT);
	EXPECT("its slot_uid (echoed)", r.slot_uid, unknown);
	ne_tb_write32(&tb, NE_TB_DELAY_MS, 100);
	end("host-side reply-cmd and tb-err-uid-zero over QMP");
}

/*
 * A PCI reset needs a reset method: on the root bus this device has none;
 * behind a pci-bridge the kernel uses a secondary bus reset.
 */
/*
 * MMIO on other vCPUs while one toggles the function's memory decoding:
 * every toggle changes the machine's memory map. QEMU 7.2 with one TCG
 * thread per vCPU switched the other vCPUs' map under them, and this
 * crashed it (tools/qemu/tcg-commit-qemu-7.2.patch). Two readers, not
 * three: each read takes QEMU's big lock, and three starve the toggler.
 */
struct toggle_reader {
	pthread_t thread;
	int cpu;
	unsigned long reads;
};

static volatile bool toggle_stop;

static void *toggle_read(void *arg)
{
	struct toggle_reader *r = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(r->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!toggle_stop) {
		(void)rd16(NE_VERSION);
		r->reads++;
	}
	return NULL;
}

static void test_memory_toggle(void)
{
	const char *name = "MMIO on 2 vCPUs while a third toggles memory decoding";
	struct toggle_reader r[TOGGLE_READERS];
	unsigned long toggles = 0;
	uint16_t cmd = 0, off;
	int64_t end_ms;
	int fd, i, n;
	cpu_set_t set;
	char path[256];

	n = ncpus - 1 < TOGGLE_READERS ? ncpus - 1 : TOGGLE_READERS;
	if (n < 1) {
		skip(name, "one CPU");
		return;
	}
	begin();
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &cmd, 2, 4) != 2 || !(cmd & 2)) {
		fail("reading the command register: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		end(name);
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	toggle_stop = false;
	for (i = 0; i < n; i++) {
		r[i].cpu = i + 1;
		r[i].reads = 0;
		if (pthread_create(&r[i].thread, NULL, toggle_read, &r[i])) {
			fail("pthread_create");
			n = i;
			break;
		}
	}
	off = cmd & ~2;
	end_ms = now_ms() + TOGGLE_MS;
	while (now_ms() < end_ms) {
		if (pwrite(fd, &off, 2, 4) != 2 || pwrite(fd, &cmd, 2, 4) != 2) {
			fail("writing the command register: %s", strerror(errno));
			break;
		}
		toggles++;
	}
	toggle_stop = true;
	for (i = 0; i < n; i++) {
		pthread_join(r[i].thread, NULL);
		if (!r[i].reads)
			fail("the reader on CPU %d never ran", r[i].cpu);
	}
	pwrite(fd, &cmd, 2, 4);
	close(fd);
	CPU_ZERO(&set);
	for (i = 0; i < ncpus && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
	printf("# %lu toggles in %d ms, reads %lu/%lu\n", toggles, TOGGLE_MS,
	       r[0].reads, n > 1 ? r[1].reads : 0);
	EXPECT("toggles", toggles > 0, 1);
	EXPECT("NE_VERSION after", rd16(NE_VERSION), 1);
	end(name);
}

static void test_pci_reset(void)
{
	const char *name = "PCI reset: slots gone, device off, registers zeroed";
	uint64_t a, b, c;
	char path[256];
	uint8_t req = 0;
	struct stat st;
	int i;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", bdf);
	if (stat(path, &st)) {
		skip(name, "no reset method (put the device behind a pci-bridge)");
		return;
	}

	begin();
	make_slot(&a, 0, 0);
	start(a, 0, 0, NULL);
	make_slot(&b, 1, 1);
	if (have_tb) {
		ne_tb_reply_mode(&tb, NE_TB_REPLY_LATE, 300);
		ne_tb_err_uid_zero(&tb, true);
	}
	ring(SLOT_COUNT, &req, 1);	/* its reply is still pending */
	if (have_tb)
		ne_tb_write32(&tb, NE_TB_REPLY_CMD, SLOT_INFO);
	EXPECT_RC("write 1 to reset", sysfs_write("reset", "1"), 0);
	EXPECT("NE_ENABLE", rd8(NE_ENABLE), 0);
	EXPECT("NE_VERSION", rd16(NE_VERSION), 0);
	EXPECT("NE_EVTCNT", rd32(NE_EVTCNT), 0);
	for (i = 0; i < NE_DATA_SIZE; i += 8) {
		EXPECT("SEND_DATA", rd64(NE_SEND_DATA + i), 0);
		EXPECT("RECV_DATA", rd64(NE_RECV_DATA + i), 0);
	}
	if (have_tb) {
		EXPECT("test BAR live slots", ne_tb_read32(&tb, NE_TB_LIVE_SLOTS), 0);
		EXPECT("test BAR vcpus", ne_tb_read32(&tb, NE_TB_VCPUS), 0);
		EXPECT("test BAR mem bytes", ne_tb_read64(&tb, NE_TB_MEM_BYTES), 0);
		EXPECT("NE_TB_ERR_UID_ZERO (back to err-uid-zero=off)",
		       ne_tb_read32(&tb, NE_TB_ERR_UID_ZERO), 0);
		EXPECT("NE_TB_REPLY_CMD", ne_tb_read32(&tb, NE_TB_REPLY_CMD), 0);
		sleep_ms(500);
		EXPECT("NE_EVTCNT after the late reply's time (discarded)",
		       rd32(NE_EVTCNT), 0);
		ne_tb_write32(&tb, NE_TB_DELAY_MS, 100);
	}
	EXPECT_RC("SLOT_COUNT before enabling", (int)slot_count(), -EIO);
	wr16(NE_VERSION, 1);
	wr8(NE_ENABLE, 1);
	EXPECT("NE_VERSION", rd16(NE_VERSION), 1);
	EXPECT("SLOT_COUNT after enabling", slot_count(), 0);
	EXPECT_RC("SLOT_INFO of a slot from before", info(a, NULL), -ENOENT);
	EXPECT_RC("its memory and vCPU are free", make_slot(&c, 0, 0), 0);
	if (c <= b)
		fail("uid %" PRIu64 " after the reset is not above %" PRIu64, c, b);
	slot_free(c);
	end(name);
}

/* Tests: enclave image check and boot (device with eif-check=on) */

#define NE_TB_IMAGE_STATUS	0x0c0
#define NE_TB_BOOT_STATE	0x0c4
#define NE_TB_IMAGE_SIZE	0x0c8
#define NE_TB_CONSOLE_LEN	0x0d0
#define NE_TB_PCRS		0x100
#define NE_TB_CONSOLE		0x800

#define EIF_OFFSET		(8 * MiB)
#define EIF_PAGES		5	/* 8 MiB before the image, then it */
#define TOY_LEN			632
#define TOY_CRC			0xa82c11f3

enum { IMG_NONE, IMG_VALID, IMG_NO_ROOM, IMG_MAGIC, IMG_VERSION, IMG_TABLE,
       IMG_SECTIONS, IMG_CRC };
enum { BOOT_NONE, BOOT_WAIT, BOOT_CONNECT, BOOT_ECHO, BOOT_UP, BOOT_CRASHING,
       BOOT_CRASHED, BOOT_STOPPED, BOOT_MEASURING };
#define CRASH_IMAGE		1

/* Spec toy image B: one ramdisk, "{}" metadata. */
static const char toy_pcr01[] =
	"d7904c33008a0b6fa4af48c623454588a8e6dfdc8ed60afda8655cafa8366898b529ad57aa4c754d9b83409f0ddfbc53";
static const char toy_pcr2[] =
	"21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";

static uint8_t *eif_pages;		/* EIF_PAGES hugepages, mapped */
static uint64_t eif_paddr[EIF_PAGES];

static void put_be(uint8_t *p, uint64_t v, int n)
{
	while (n--) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static uint32_t crc32_iso(uint32_t crc, const uint8_t *p, size_t n)
{
	int k;

	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
	}
	return ~crc;
}

/*
 * The spec's toy image B; with @ramdisk_size, its ramdisk holds that many
 * zero bytes instead of "ramdisk-0" and the CRC is left 0 (a large image
 * that the device reads and hashes whole, then finds bad-crc).
 */
static void toy_image_sized(uint8_t *img, uint64_t ramdisk_size)
{
	static const struct { uint16_t type; const char *data; } sec[] = {
		{ 1, "kernel-image" }, { 2, "console=ttyS0" }, { 5, "{}" },
		{ 3, "ramdisk-0" },
	};
	size_t pos = 548;
	unsigned int i;

	memset(img, 0, TOY_LEN);
	memcpy(img, ".eif", 4);
	put_be(img + 4, 4, 2);
	put_be(img + 26, ARRAY_SIZE(sec), 2);
	for (i = 0; i < ARRAY_SIZE(sec); i++) {
		uint64_t n = strlen(sec[i].data);

		if (ramdisk_size && sec[i].type == 3)
			n = ramdisk_size;
		else
			memcpy(img + pos + 12, sec[i].data, n);
		put_be(img + 28 + 8 * i, pos, 8);
		put_be(img + 284 + 8 * i, n, 8);
		put_be(img + pos, sec[i].type, 2);
		put_be(img + pos + 4, n, 8);
		pos += 12 + n;
	}
	if (!ramdisk_size)
		put_be(img + 544, crc32_iso(crc32_iso(0, img, 544), img + 548,
					    TOY_LEN - 548), 4);
}

static void toy_image(uint8_t *img)
{
	toy_image_sized(img, 0);
}

/* Physical address of the page at @va (root reads PFNs from pagemap). */
static uint64_t virt_to_phys(void *va)
{
	uint64_t e = 0;
	long psz = sysconf(_SC_PAGESIZE);
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, 8, (uintptr_t)va / psz * 8) != 8)
		e = 0;
	close(fd);
	if (!(e & (1ULL << 63)) || !(e & ((1ULL << 55) - 1)))
		return 0;
	return (e & ((1ULL << 55) - 1)) * psz + (uintptr_t)va % psz;
}

/* Hugepages whose physical addresses the image slots use. */
static int eif_pages_get(void)
{
	int i;

	eif_pages = mmap(NULL, EIF_PAGES * CHUNK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			 MAP_POPULATE | MAP_LOCKED, -1, 0);
	if (eif_pages == MAP_FAILED) {
		eif_pages = NULL;
		return -errno;
	}
	for (i = 0; i < EIF_PAGES; i++) {
		eif_pages[i * CHUNK] = 0;
		eif_paddr[i] = virt_to_phys(eif_pages + i * CHUNK);
		if (!eif_paddr[i] || eif_paddr[i] % CHUNK)
			return -EFAULT;
	}
	return 0;
}

/*
 * A started slot whose memory holds @img at 8 MiB: the pages are added in
 * reverse order, so the image is in the page mapped first (added last).
 * With @pages < EIF_PAGES the memory is too small.
 */
static int eif_start(const uint8_t *img, size_t len, int pages,
		     uint64_t *uid, uint64_t *cid)
{
	int rc, i;

	memset(eif_pages, 0, EIF_PAGES * CHUNK);
	memcpy(eif_pages, img, len);
	rc = slot_alloc(uid);
	for (i = pages - 1; !rc && i >= 0; i--)
		rc = add_mem(*uid, eif_paddr[i], CHUNK);
	if (!rc)
		rc = add_vcpu(*uid, 1);
	if (!rc)
		rc = start(*uid, 0, 1, cid);
	return rc;
}

static uint32_t tb_slot_reg(uint64_t uid, unsigned int reg)
{
	ne_tb_write64(&tb, NE_TB_SLOT, uid);
	return ne_tb_read32(&tb, reg);
}

/*
 * The boot state of @uid once the device has checked its image, which it
 * does off the vCPU thread ("measuring" until then); 0xff on timeout.
 */
static uint32_t measured(uint64_t uid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint32_t st;

	while (((st = tb_slot_reg(uid, NE_TB_BOOT_STATE)) & 0xff) ==
	       BOOT_MEASURING) {
		if (now_ms() > deadline)
			return 0xff;
		usleep(1000);
	}
	return st;
}

/* Wait until the event counter moves past @ev; return false on timeout. */
static bool wait_event(uint16_t ev, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (event_counter() == ev) {
		if (now_ms() > deadline)
			return false;
		usleep(1000);
	}
	return true;
}

static void pcr_hex(uint64_t uid, int n, char *out)
{
	int i;

	ne_tb_write64(&tb, NE_TB_SLOT, uid);
	for (i = 0; i < 48; i++)
		sprintf(out + 2 * i, "%02x", tb.regs[NE_TB_PCRS + 48 * n + i]);
}

static void console_text(uint64_t uid, char *out, size_t len)
{
	uint32_t n = tb_slot_reg(uid, NE_TB_CONSOLE_LEN), i;

	for (i = 0; i < n && i < len - 1; i++)
		out[i] = tb.regs[NE_TB_CONSOLE + i];
	out[i] = '\0';
}

static void test_eif_off(void)
{
	uint64_t a;

	begin();
	EXPECT_RC("slot", make_slot(&a, 40, 1), 0);
	EXPECT_RC("ENCLAVE_START", start(a, 0, 1, NULL), 0);
	EXPECT("image status", tb_slot_reg(a, NE_TB_IMAGE_STATUS), IMG_NONE);
	EXPECT("boot state", tb_slot_reg(a, NE_TB_BOOT_STATE), BOOT_NONE);
	EXPECT("PCR window", tb_slot_reg(a, NE_TB_PCRS), 0);
	EXPECT("console", tb_slot_reg(a, NE_TB_CONSOLE_LEN), 0);
	EXPECT("last started: image status",
	       tb_slot_reg(0, NE_TB_IMAGE_STATUS), IMG_NONE);
	EXPECT("state", slot_state(a), STATE_RUNNING);
	stop(a);
	slot_free(a);
	end("eif-check=off: image registers read 0, the slot stays RUNNING");
}

static void test_eif(void)
{
	uint8_t img[TOY_LEN], bad[TOY_LEN];
	static const struct { int off; uint8_t val; uint32_t status; } c[] = {
		{ 0, 0x2f, IMG_MAGIC }, { 5, 5, IMG_VERSION },
		{ 27, 33, IMG_TABLE }, { 27, 3, IMG_TABLE },
		{ 300, 1, IMG_TABLE }, { 560, 'K', IMG_CRC },
		{ 541, 1, IMG_CRC }, { 547, 0, IMG_CRC },
		{ 572, 9, IMG_SECTIONS }, { TOY_LEN - 1, '1', IMG_CRC },
	};
	char hex[97], con[2048];
	uint64_t a, cid;
	uint16_t ev;
	uint32_t st;
	unsigned int i;
	int rc;

	toy_image(img);
	begin();
	EXPECT("toy image CRC", (uint32_t)img[544] << 24 | img[545] << 16 |
	       img[546] << 8 | img[547], TOY_CRC);
	rc = eif_pages_get();
	if (rc) {
		fail("5 hugepages with physical addresses: %s", strerror(-rc));
		end("eif: toy image at 8 MiB: valid, PCRs of the spec");
		printf("Bail out! no hugepages for the image tests\n");
		exit(1);
	}
	ev = event_counter();
	EXPECT_RC("ENCLAVE_START", eif_start(img, TOY_LEN, EIF_PAGES, &a, &cid), 0);
	measured(a, 5000);
	if (tb_slot_reg(a, NE_TB_IMAGE_STATUS) == IMG_NONE) {
		printf("Bail out! the device runs with eif-check=off\n");
		exit(1);
	}
	EXPECT("image status", tb_slot_reg(a, NE_TB_IMAGE_STATUS), IMG_VALID);
	EXPECT("image size", tb_slot_reg(a, NE_TB_IMAGE_SIZE), TOY_LEN);
	for (i = 0; i < 3; i++) {
		pcr_hex(a, i, hex);
		if (strcmp(hex, i < 2 ? toy_pcr01 : toy_pcr2))
			fail("PCR%u %s, expected %s", i, hex,
			     i < 2 ? toy_pcr01 : toy_pcr2);
	}
	pcr_hex(0, 0, hex);
	if (strcmp(hex, toy_pcr01))
		fail("PCR0 of the last started slot (NE_TB_SLOT 0): %s", hex);
	end("eif: toy image at 8 MiB (5th range): valid, size and PCRs of the spec");

	/* Nobody listens (no driver, no listener): the enclave crashes. */
	begin();
	if (!wait_event(ev, 10000))
		fail("no event within 10 s");
	EXPECT("state", slot_state(a), STATE_STOPPED);
	st = tb_slot_reg(a, NE_TB_BOOT_STATE);
	EXPECT("boot state", st & 0xff, BOOT_CRASHED);
	if ((st >> 8) < 2 || (st >> 8) > 4)
		fail("crash reason %u, expected 2..4 (no vsock, refused, timeout)",
		     st >> 8);
	console_text(a, con, sizeof(con));
	if (!strstr(con, "Command line: console=ttyS0") ||
	    !strstr(con, "heartbeat failed"))
		fail("console lacks the command line or the failure: %s", con);
	printf("# crash reason %u; console:\n# %s\n", st >> 8, con);
	EXPECT_RC("SLOT_FREE", slot_free(a), 0);
	end("eif: boot without a heartbeat listener: crash, STOPPED + event, debug console");

	begin();
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		memcpy(bad, img, TOY_LEN);
		bad[c[i].off] = c[i].val;
		ev = event_counter();
		EXPECT_RC("ENCLAVE_START", eif_start(bad, TOY_LEN, EIF_PAGES,
						     &a, NULL), 0);
		measured(a, 5000);
		st = tb_slot_reg(a, NE_TB_IMAGE_STATUS);
		if (st != c[i].status)
			fail("byte %d = 0x%02x: image status %u, expected %u",
			     c[i].off, c[i].val, st, c[i].status);
		if (!wait_event(ev, 5000))
			fail("byte %d: no event", c[i].off);
		st = tb_slot_reg(a, NE_TB_BOOT_STATE);
		if (st != (BOOT_CRASHED | CRASH_IMAGE << 8))
			fail("byte %d: boot state 0x%x", c[i].off, st);
		EXPECT("state", slot_state(a), STATE_STOPPED);
		slot_free(a);
	}
	end("eif: corrupted images: status says why, crash with reason 1");

	begin();
	EXPECT_RC("ENCLAVE_START", eif_start(img, TOY_LEN, 4, &a, NULL), 0);
	measured(a, 5000);
	EXPECT("8 MiB of memory", tb_slot_reg(a, NE_TB_IMAGE_STATUS),
	       IMG_NO_ROOM);
	stop(a);
	slot_free(a);
	end("eif: memory ends at 8 MiB: no-room");

	begin();
	ev = event_counter();
	EXPECT_RC("ENCLAVE_START", eif_start(img, TOY_LEN, EIF_PAGES, &a, NULL), 0);
	EXPECT("boot state", measured(a, 5000), BOOT_WAIT);
	EXPECT_RC("ENCLAVE_STOP", stop(a), 0);
	EXPECT("boot state", tb_slot_reg(a, NE_TB_BOOT_STATE), BOOT_STOPPED);
	EXPECT_RC("SLOT_FREE", slot_free(a), 0);
	memcpy(bad, img, TOY_LEN);
	bad[0] = 0;
	EXPECT_RC("ENCLAVE_START", eif_start(bad, TOY_LEN, EIF_PAGES, &a, NULL), 0);
	EXPECT("crashing", measured(a, 5000) & 0xff, BOOT_CRASHING);
	EXPECT_RC("exit hook", ne_tb_exit_slot(&tb, a), 0);
	EXPECT("boot state", tb_slot_reg(a, NE_TB_BOOT_STATE) & 0xff,
	       BOOT_STOPPED);
	EXPECT_RC("SLOT_FREE", slot_free(a), 0);
	free_all_slots();
	usleep(1500 * 1000);
	EXPECT("events: only the exit hook's", event_counter(), (uint16_t)(ev + 1));
	end("eif: ENCLAVE_STOP, exit hook and SLOT_FREE during the boot: no later event");
}

#define BIG_PAGES	132		/* 8 MiB, then a 256 MiB image */
#define BIG_RAMDISK	(256 * MiB - 1024)

/*
 * A slot whose memory is @mem, BIG_PAGES hugepages in order, started;
 * *@start_ms: how long ENCLAVE_START took.
 */
static int big_start(uint8_t *mem, uint64_t *uid, int64_t *start_ms)
{
	uint64_t paddr;
	int64_t t0;
	int i, rc;

	rc = slot_alloc(uid);
	for (i = 0; !rc && i < BIG_PAGES; i++) {
		paddr = virt_to_phys(mem + (size_t)i * CHUNK);
		rc = paddr ? add_mem(*uid, paddr, CHUNK) : -EFAULT;
	}
	if (!rc)
		rc = add_vcpu(*uid, 1);
	t0 = now_ms();
	if (!rc)
		rc = start(*uid, 0, 1, NULL);
	*start_ms = now_ms() - t0;
	return rc;
}

/*
 * The device reads and hashes an image on a thread of its own: a 256 MiB
 * image keeps neither the vCPU that wrote the doorbell nor the others
 * waiting. ENCLAVE_START returns with the boot state "measuring"; a slot
 * stopped and freed meanwhile drops the result (no boot, no event); one
 * left alone gets its image status (bad-crc: the CRC is not filled in),
 * crashes and exits.
 */
static void test_eif_big(void)
{
	uint64_t a;
	int64_t t0, ms;
	uint8_t *mem;
	uint16_t ev;
	uint32_t st;

	begin();
	mem = mmap(NULL, (size_t)BIG_PAGES * CHUNK, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE,
		   -1, 0);
	if (mem == MAP_FAILED) {
		fail("%d hugepages: %s", BIG_PAGES, strerror(errno));
		end("eif: a 256 MiB image is measured off the vCPU thread");
		end("eif: a 256 MiB image stopped while measured: dropped");
		return;
	}
	toy_image_sized(mem + EIF_OFFSET, BIG_RAMDISK);
	ev = event_counter();
	EXPECT_RC("ENCLAVE_START", big_start(mem, &a, &ms), 0);
	EXPECT("boot state right after ENCLAVE_START",
	       tb_slot_reg(a, NE_TB_BOOT_STATE), BOOT_MEASURING);
	EXPECT("image status while measuring",
	       tb_slot_reg(a, NE_TB_IMAGE_STATUS), IMG_NONE);
	t0 = now_ms();
	st = measured(a, 60000);
	printf("# 256 MiB image: ENCLAVE_START took %lld ms, the check "
	       "ended %lld ms later\n", (long long)ms,
	       (long long)(now_ms() - t0));
	EXPECT("boot state once measured", st, BOOT_CRASHING | CRASH_IMAGE << 8);
	EXPECT("image status", tb_slot_reg(a, NE_TB_IMAGE_STATUS), IMG_CRC);
	EXPECT("image size", tb_slot_reg(a, NE_TB_IMAGE_SIZE),
	       (uint32_t)(TOY_LEN - 9 + BIG_RAMDISK));
	if (!wait_event(ev, 10000))
		fail("no exit event within 10 s");
	EXPECT_RC("SLOT_FREE", slot_free(a), 0);
	end("eif: a 256 MiB image is measured off the vCPU thread");

	begin();
	ev = event_counter();
	EXPECT_RC("ENCLAVE_START", big_start(mem, &a, &ms), 0);
	EXPECT("boot state", tb_slot_reg(a, NE_TB_BOOT_STATE), BOOT_MEASURING);
	EXPECT_RC("ENCLAVE_STOP", stop(a), 0);
	EXPECT("boot state", tb_slot_reg(a, NE_TB_BOOT_STATE), BOOT_STOPPED);
	EXPECT_RC("SLOT_FREE", slot_free(a), 0);
	/* Long enough for the check to end and a crash to be reported. */
	usleep(3000 * 1000);
	EXPECT("events", event_counter(), ev);
	EXPECT_RC("a new slot", make_slot(&a, 0, 0), 0);
	slot_free(a);
	end("eif: a 256 MiB image stopped while measured: dropped");
	munmap(mem, (size_t)BIG_PAGES * CHUNK);
}

static void cleanup(void)
{
	begin();
	free_all_slots();
	EXPECT("SLOT_COUNT", slot_count(), 0);
	if (have_tb)
		EXPECT("test BAR live slots", ne_tb_read32(&tb, NE_TB_LIVE_SLOTS),
		       0);
	end("every slot freed");
}

int main(int argc, char **argv)
{
	bool qmp = argc > 1 && !strcmp(argv[1], "--qmp");
	bool eif = argc > 1 && !strcmp(argv[1], "--eif");
	int plan = qmp ? NR_TESTS_QMP : eif ? NR_TESTS_EIF : NR_TESTS;
	static const char *const hooks[] = {
		"exit hook: RUNNING -> STOPPED, event counter + 1",
		"exit hook on a slot not running: -EINVAL / -ENOENT, no event",
		"test BAR registers",
		"fail-next-cmd: rc R once, command not run",
		"fail-next-cmd on other types",
		"drop: no reply within 300 ms, command ran, one-shot",
		"late: reply arrives after the delay, not before",
		"twice: reply counter + 2, same reply",
		"invalid reply mode is ignored",
		"err-uid-zero: failed replies carry slot uid 0, others their uid",
		"reply-cmd: a drop aimed at ENCLAVE_START spares the replies before it",
		"reply-cmd: twice aimed at SLOT_FREE, after another command",
		"invalid reply-cmd and err-uid-zero values are ignored",
		"counter reset: err-uid-zero back to the property, reply-cmd 0",
		"raise events: event counter + N",
		"counter reset zeroes command and event counts",
		"eif-check=off: image registers read 0, the slot stays RUNNING",
	};
	unsigned int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ncpus = sysconf(_SC_NPROCESSORS_CONF);
	printf("TAP version 13\n");
	if (argc > 1 && !qmp && !eif) {
		fprintf(stderr, "usage: %s [--qmp|--eif]\n", argv[0]);
		return 2;
	}
	printf("1..%d\n", plan);

	test_setup();
	test_handshake();
	if (qmp) {
		if (have_tb) {
			test_qmp();
			test_qmp_reply_cmd();
		} else {
			skip("host-side controls over QMP", "no test BAR");
			skip("host-side reply-cmd and tb-err-uid-zero over QMP",
			     "no test BAR");
		}
		goto out;
	}
	if (eif) {
		if (!have_tb) {
			printf("Bail out! --eif needs the test BAR\n");
			return 1;
		}
		test_eif();
		test_eif_big();
		goto out;
	}
	test_registers();
	test_msix();
	test_happy_path();
	test_unknown();
	test_mem_rules();
	test_vcpu_rules();
	test_start_rules();
	test_max_slots();
	test_disable_frees();
	if (have_tb) {
		test_hook_exit();
		test_hook_fail();
		test_hook_replies();
		test_hook_err_uid_zero();
		test_hook_reply_cmd();
		test_hook_uid_cmd_invalid();
		test_hook_events_counters();
		test_eif_off();
	} else {
		for (i = 0; i < ARRAY_SIZE(hooks); i++)
			skip(hooks[i], "no test BAR");
	}
	test_memory_toggle();
	test_pci_reset();
out:
	cleanup();

	if (test_nr != plan)
		printf("# planned %d tests, ran %d\n", plan, test_nr);
	printf("# %d of %d tests failed\n", tests_failed, test_nr);
	ne_tb_close(&tb);
	return tests_failed || test_nr != plan ? 1 : 0;
}
