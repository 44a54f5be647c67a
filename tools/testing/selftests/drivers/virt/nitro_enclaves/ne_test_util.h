/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers for the Nitro Enclaves kselftests: ioctl wrappers that
 * return -errno, NE_ERR names, a timed waiter thread, sysfs access
 * (ne_cpus, hugepages, CPU online state, the misc device's status
 * attributes), PCI removal and rescan of the device, hugetlb mappings
 * that teardown unmaps, the resource baseline that every fixture's
 * teardown compares against, fixture setup and teardown steps, kernel
 * log (/dev/kmsg) checks and the main() of the test binaries.
 *
 * Include after kselftest_harness.h (the EXPECT/ASSERT helpers use it).
 */
#ifndef NE_TEST_UTIL_H
#define NE_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/nitro_enclaves.h>

#include "ne_test_bar.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT		26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB		(21 << MAP_HUGE_SHIFT)
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB		(30 << MAP_HUGE_SHIFT)
#endif

#define NE_DEV_PATH		"/dev/nitro_enclaves"
#define NE_PARAM_DIR		"/sys/module/nitro_enclaves/parameters"
#define NE_CPUS_PATH		NE_PARAM_DIR "/ne_cpus"
#define NE_TIMEOUT_PARAM	NE_PARAM_DIR "/cmd_timeout_ms"
/* The runtime knob: the parameter can only be set at load. */
#define NE_DEBUGFS_DIR		"/sys/kernel/debug/nitro_enclaves"
#define NE_TIMEOUT_PATH		NE_DEBUGFS_DIR "/cmd_timeout_ms"
#define NE_HP_2M_DIR		"/sys/kernel/mm/hugepages/hugepages-2048kB"
#define NE_HP_1G_DIR		"/sys/kernel/mm/hugepages/hugepages-1048576kB"
#define NE_CPU_ONLINE_PATH	"/sys/devices/system/cpu/online"
#define NE_SYSFS_DIR		"/sys/class/misc/nitro_enclaves"
#define NE_DEFAULT_POOL		"2,3"

#define SZ_2M			(2UL << 20)
#define SZ_1G			(1UL << 30)
#define NE_MIN_MEM		(64UL << 20)
#define NE_EIF_OFFSET		(8UL << 20)

/* Device command types (Documentation/virt/ne_pci_device.rst). */
#define NE_CMD_ENCLAVE_START	1
#define NE_CMD_ENCLAVE_STOP	3
#define NE_CMD_SLOT_ALLOC	4
#define NE_CMD_SLOT_FREE	5
#define NE_CMD_SLOT_ADD_MEM	6
#define NE_CMD_SLOT_ADD_VCPU	7
#define NE_CMD_SLOT_INFO	10

#define NE_MAX_CPUS		64
#define NE_MAX_MAPS		600

static inline const char *ne_err_name(long err)
{
	static const char *const names[] = {
		[NE_ERR_VCPU_ALREADY_USED - 256] = "NE_ERR_VCPU_ALREADY_USED",
		[NE_ERR_VCPU_NOT_IN_CPU_POOL - 256] = "NE_ERR_VCPU_NOT_IN_CPU_POOL",
		[NE_ERR_VCPU_INVALID_CPU_CORE - 256] = "NE_ERR_VCPU_INVALID_CPU_CORE",
		[NE_ERR_INVALID_MEM_REGION_SIZE - 256] = "NE_ERR_INVALID_MEM_REGION_SIZE",
		[NE_ERR_INVALID_MEM_REGION_ADDR - 256] = "NE_ERR_INVALID_MEM_REGION_ADDR",
		[NE_ERR_UNALIGNED_MEM_REGION_ADDR - 256] = "NE_ERR_UNALIGNED_MEM_REGION_ADDR",
		[NE_ERR_MEM_REGION_ALREADY_USED - 256] = "NE_ERR_MEM_REGION_ALREADY_USED",
		[NE_ERR_MEM_NOT_HUGE_PAGE - 256] = "NE_ERR_MEM_NOT_HUGE_PAGE",
		[NE_ERR_MEM_DIFFERENT_NUMA_NODE - 256] = "NE_ERR_MEM_DIFFERENT_NUMA_NODE",
		[NE_ERR_MEM_MAX_REGIONS - 256] = "NE_ERR_MEM_MAX_REGIONS",
		[NE_ERR_NO_MEM_REGIONS_ADDED - 256] = "NE_ERR_NO_MEM_REGIONS_ADDED",
		[NE_ERR_NO_VCPUS_ADDED - 256] = "NE_ERR_NO_VCPUS_ADDED",
		[NE_ERR_ENCLAVE_MEM_MIN_SIZE - 256] = "NE_ERR_ENCLAVE_MEM_MIN_SIZE",
		[NE_ERR_FULL_CORES_NOT_USED - 256] = "NE_ERR_FULL_CORES_NOT_USED",
		[NE_ERR_NOT_IN_INIT_STATE - 256] = "NE_ERR_NOT_IN_INIT_STATE",
		[NE_ERR_INVALID_VCPU - 256] = "NE_ERR_INVALID_VCPU",
		[NE_ERR_NO_CPUS_AVAIL_IN_POOL - 256] = "NE_ERR_NO_CPUS_AVAIL_IN_POOL",
		[NE_ERR_INVALID_PAGE_SIZE - 256] = "NE_ERR_INVALID_PAGE_SIZE",
		[NE_ERR_INVALID_FLAG_VALUE - 256] = "NE_ERR_INVALID_FLAG_VALUE",
		[NE_ERR_INVALID_ENCLAVE_CID - 256] = "NE_ERR_INVALID_ENCLAVE_CID",
	};
	static char buf[4][48];
	static int next;
	char *b;

	if (err < 0)
		err = -err;
	if (err >= 256 && err < 256 + (long)(sizeof(names) / sizeof(names[0])) &&
	    names[err - 256])
		return names[err - 256];
	b = buf[next++ & 3];
	if (err == 0)
		snprintf(b, sizeof(buf[0]), "success");
	else
		snprintf(b, sizeof(buf[0]), "%s", strerror((int)err));
	return b;
}

/* Return: the ioctl's non-negative result, or -errno. */
static inline long ne_ioctl(int fd, unsigned long cmd, void *arg)
{
	long ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

/*
 * EXPECT_ERRNO(expected, call) - @call returns -errno (ne_ioctl style);
 * it must be -@expected. Both sides are printed by name on failure.
 */
#define __NE_CHECK_ERRNO(is_assert, expected, call) do {		\
	long __ne_exp = -(long)(expected);					\
	long __ne_got = (call);						\
	if (__ne_got != __ne_exp)						\
		TH_LOG("%s: expected %s (%ld), got %s (%ld)", #call,	\
		       ne_err_name(__ne_exp), __ne_exp, ne_err_name(__ne_got), __ne_got); \
	if (is_assert) {						\
		ASSERT_EQ(__ne_exp, __ne_got);				\
	} else {							\
		EXPECT_EQ(__ne_exp, __ne_got);				\
	}								\
} while (0)
#define EXPECT_ERRNO(expected, call)	__NE_CHECK_ERRNO(0, expected, call)
#define ASSERT_ERRNO(expected, call)	__NE_CHECK_ERRNO(1, expected, call)
#define EXPECT_OK(call)			__NE_CHECK_ERRNO(0, 0, call)
#define ASSERT_OK(call)			__NE_CHECK_ERRNO(1, 0, call)

/* ---- ioctl wrappers: 0/fd on success, -errno on failure ---- */

static inline int ne_create_vm(int dev, uint64_t *uid)
{
	return (int)ne_ioctl(dev, NE_CREATE_VM, uid);
}

static inline int ne_add_vcpu(int efd, uint32_t *id)
{
	return (int)ne_ioctl(efd, NE_ADD_VCPU, id);
}

static inline int ne_add_vcpu_id(int efd, uint32_t id)
{
	return ne_add_vcpu(efd, &id);
}

/* NE_ADD_VCPU of @cpu on @efd in a thread of its own: ne_add_vcpu_thread(). */
struct ne_vcpu_adder {
	int efd;
	uint32_t cpu;
	int ret;		/* ne_add_vcpu_id()'s result once joined */
};

static inline void *ne_add_vcpu_thread(void *p)
{
	struct ne_vcpu_adder *a = p;

	a->ret = ne_add_vcpu_id(a->efd, a->cpu);
	return NULL;
}

static inline int ne_image_info(int efd, uint64_t flags, uint64_t *offset)
{
	struct ne_image_load_info info = { .flags = flags };
	int ret = (int)ne_ioctl(efd, NE_GET_IMAGE_LOAD_INFO, &info);

	if (!ret && offset)
		*offset = info.memory_offset;
	return ret;
}

static inline int ne_set_mem(int efd, uint64_t flags, uint64_t addr,
			     uint64_t size)
{
	struct ne_user_memory_region r = {
		.flags = flags,
		.memory_size = size,
		.userspace_addr = addr,
	};

	return (int)ne_ioctl(efd, NE_SET_USER_MEMORY_REGION, &r);
}

static inline int ne_add_mem(int efd, void *addr, uint64_t size)
{
	return ne_set_mem(efd, NE_DEFAULT_MEMORY_REGION,
			  (uint64_t)(uintptr_t)addr, size);
}

static inline int ne_start(int efd, uint64_t flags, uint64_t *cid)
{
	struct ne_enclave_start_info si = {
		.flags = flags,
		.enclave_cid = cid ? *cid : 0,
	};
	int ret = (int)ne_ioctl(efd, NE_START_ENCLAVE, &si);

	if (!ret && cid)
		*cid = si.enclave_cid;
	return ret;
}

/* Return: revents of a poll() on @fd with @timeout_ms, or -errno. */
static inline int ne_poll(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLHUP | POLLERR };
	int ret = poll(&p, 1, timeout_ms);

	if (ret < 0)
		return -errno;
	return ret ? p.revents : 0;
}

static inline uint64_t ne_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How an ne_waiter_thread() waits on its fd. */
enum ne_wait_how {
	NE_WAIT_POLL,		/* poll(): ret is revents */
	NE_WAIT_EPOLL,		/* epoll_wait() on an epoll fd: ret is events */
	NE_WAIT_START,		/* NE_START_ENCLAVE: ret is 0 or -errno */
};

struct ne_waiter {
	int fd;			/* the enclave fd, or the epoll fd */
	enum ne_wait_how how;
	int timeout_ms;		/* for NE_WAIT_POLL and NE_WAIT_EPOLL */
	int ret;		/* what the wait returned (-errno on error) */
	uint64_t ms;		/* how long it took */
};

/*
 * ne_waiter_thread() - thread function: wait on w->fd as w->how says, then
 * store the result and the time it took in @p (a struct ne_waiter).
 */
static inline void *ne_waiter_thread(void *p)
{
	struct ne_waiter *w = p;
	uint64_t t0 = ne_now_ms();
	struct epoll_event ev = { 0 };
	uint64_t cid = 0;
	int n;

	switch (w->how) {
	case NE_WAIT_POLL:
		w->ret = ne_poll(w->fd, w->timeout_ms);
		break;
	case NE_WAIT_EPOLL:
		n = epoll_wait(w->fd, &ev, 1, w->timeout_ms);
		w->ret = n == 1 ? (int)ev.events : (n < 0 ? -errno : 0);
		break;
	case NE_WAIT_START:
		w->ret = ne_start(w->fd, 0, &cid);
		break;
	}
	w->ms = ne_now_ms() - t0;
	return NULL;
}

/* ---- sysfs ---- */

/* Read a whole small file into @buf. Return: length or -errno. */
static inline int ne_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	buf[n] = '\0';
	return (int)n;
}

/* One write(2) of @s (as given, no newline added). Return: 0 or -errno. */
static inline int ne_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	return 0;
}

static inline long ne_read_long(const char *path)
{
	char buf[64];

	if (ne_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 0);
}

static inline void ne_chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* ne_cpus content without the trailing newline(s). */
static inline int ne_pool_get(char *buf, size_t len)
{
	int ret = ne_read_file(NE_CPUS_PATH, buf, len);

	if (ret >= 0)
		ne_chomp(buf);
	return ret < 0 ? ret : 0;
}

static inline int ne_pool_set(const char *list)
{
	return ne_write_file(NE_CPUS_PATH, list);
}

/*
 * For ne_in_child(): drop CAP_SYS_ADMIN, then write the cpu-list @list to
 * ne_cpus. Return: ne_pool_set()'s result, or -ECHILD if the capabilities
 * could not be changed.
 */
static inline int ne_pool_set_without_cap(void *list)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -ECHILD;
	data[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
	data[CAP_SYS_ADMIN / 32].permitted &= ~(1U << (CAP_SYS_ADMIN % 32));
	if (syscall(SYS_capset, &hdr, data))
		return -ECHILD;
	return ne_pool_set((const char *)list);
}

/* The pool the tests run with: $NE_POOL or "2,3". */
static inline const char *ne_pool_default(void)
{
	const char *p = getenv("NE_POOL");

	return p && *p ? p : NE_DEFAULT_POOL;
}

/* Make sure the default pool is configured (no enclave may exist). */
static inline int ne_pool_ensure(void)
{
	char cur[512];
	int ret = ne_pool_get(cur, sizeof(cur));

	if (ret)
		return ret;
	if (!strcmp(cur, ne_pool_default()))
		return 0;
	return ne_pool_set(ne_pool_default());
}

/* Parse a cpu-list ("2,3", "2-7") into @cpus. Return: count or -EINVAL. */
static inline int ne_parse_cpulist(const char *s, int *cpus, int max)
{
	int n = 0;

	while (*s) {
		char *end;
		long a, b;

		while (*s == ',' || *s == ' ' || *s == '\n')
			s++;
		if (!*s)
			break;
		a = strtol(s, &end, 10);
		if (end == s)
			return -EINVAL;
		b = a;
		s = end;
		if (*s == '-') {
			b = strtol(s + 1, &end, 10);
			if (end == s + 1)
				return -EINVAL;
			s = end;
		}
		for (; a <= b && n < max; a++)
			cpus[n++] = (int)a;
	}
	return n;
}

static inline int ne_cpu_is_online(int cpu)
{
	char path[96];

	if (cpu == 0)
		return 1;
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online",
		 cpu);
	return ne_read_long(path) == 1;
}

/* nr_cpu_ids: last possible CPU + 1. */
static inline int ne_nr_cpu_ids(void)
{
	char buf[64];
	int cpus[NE_MAX_CPUS];
	int n;

	if (ne_read_file("/sys/devices/system/cpu/possible", buf, sizeof(buf)) < 0)
		return -1;
	n = ne_parse_cpulist(buf, cpus, NE_MAX_CPUS);
	return n > 0 ? cpus[n - 1] + 1 : -1;
}

static inline long ne_hp_free(unsigned long pagesz)
{
	return ne_read_long(pagesz == SZ_1G ? NE_HP_1G_DIR "/free_hugepages" :
			    NE_HP_2M_DIR "/free_hugepages");
}

static inline long ne_timeout_get(void)
{
	return ne_read_long(NE_TIMEOUT_PATH);
}

static inline int ne_timeout_set(long ms)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", ms);
	return ne_write_file(NE_TIMEOUT_PATH, buf);
}

/* Take CPU @cpu offline (@on 0) or bring it online (@on 1); errors ignored. */
static inline void ne_cpu_set_online(int cpu, int on)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	ne_write_file(path, on ? "1" : "0");
}

/* ---- PCI removal and rescan of the device ---- */

/* Wait up to @ms for @path to (dis)appear. Return: true if it did. */
static inline bool ne_wait_path(const char *path, bool present, int ms)
{
	while (ms > 0) {
		if ((access(path, F_OK) == 0) == present)
			return true;
		usleep(50 * 1000);
		ms -= 50;
	}
	return (access(path, F_OK) == 0) == present;
}

/* Remove PCI function @bdf through sysfs. Return: 0 or -errno. */
static inline int ne_pci_remove(const char *bdf)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", bdf);
	return ne_write_file(path, "1");
}

/*
 * Rescan the PCI bus and wait up to @ms for NE_DEV_PATH to come back.
 * Return: 0, the write's -errno, or -ETIMEDOUT.
 */
static inline int ne_pci_rescan(int ms)
{
	int ret = ne_write_file("/sys/bus/pci/rescan", "1");

	if (ret)
		return ret;
	return ne_wait_path(NE_DEV_PATH, true, ms) ? 0 : -ETIMEDOUT;
}

/*
 * Remove and rediscover the device at @bdf: the driver's probe resets it.
 * NE_DEV_PATH must go within @gone_ms (else -EBUSY) and come back within
 * 10 s. Return: 0 or -errno.
 */
static inline int ne_reset_device(const char *bdf, int gone_ms)
{
	int ret = ne_pci_remove(bdf);

	if (ret)
		return ret;
	if (!ne_wait_path(NE_DEV_PATH, false, gone_ms))
		return -EBUSY;
	return ne_pci_rescan(10000);
}

/* ---- passing file descriptors over a unix socket ---- */

/* Send @fd over @sock (SCM_RIGHTS). Return: 0 or -errno. */
static inline int ne_send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

/* Receive a file descriptor from @sock. Return: it, or -errno. */
static inline int ne_recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -errno;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -EBADMSG;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* ---- status attributes of the misc device (NE_SYSFS_DIR) ---- */

/* Read attribute @name, trailing newline removed. Return: 0 or -errno. */
static inline int ne_attr_get(const char *name, char *buf, size_t len)
{
	char path[128];
	int ret;

	snprintf(path, sizeof(path), NE_SYSFS_DIR "/%s", name);
	ret = ne_read_file(path, buf, len);
	if (ret < 0)
		return ret;
	ne_chomp(buf);
	return 0;
}

/* Attribute @name as a number; LONG_MIN if it cannot be read. */
static inline long ne_attr_long(const char *name)
{
	char buf[64], *end;
	long v;

	if (ne_attr_get(name, buf, sizeof(buf)) || !buf[0])
		return LONG_MIN;
	v = strtol(buf, &end, 10);
	return *end ? LONG_MIN : v;
}

/* Wait up to @ms for attribute @name to read @val. Return: whether it did. */
static inline bool ne_wait_attr(const char *name, long val, int ms)
{
	uint64_t t0 = ne_now_ms();

	while (ne_attr_long(name) != val) {
		if (ne_now_ms() - t0 >= (uint64_t)ms)
			return false;
		usleep(20 * 1000);
	}
	return true;
}

/* ---- resource baseline ---- */

struct ne_baseline {
	long hp2m_free;
	long hp1g_free;
	long free_cores;		/* pool_free_cores */
	char online[128];
	char pool[512];
	bool have_tb;
	struct ne_tb_counters tb;
};

static inline void ne_baseline_take(struct ne_baseline *b,
				    struct ne_test_bar *tb)
{
	memset(b, 0, sizeof(*b));
	b->hp2m_free = ne_hp_free(SZ_2M);
	b->hp1g_free = ne_hp_free(SZ_1G);
	b->free_cores = ne_attr_long("pool_free_cores");
	ne_read_file(NE_CPU_ONLINE_PATH, b->online, sizeof(b->online));
	ne_chomp(b->online);
	ne_pool_get(b->pool, sizeof(b->pool));
	b->have_tb = tb && tb->regs;
	if (b->have_tb)
		ne_tb_counters(tb, &b->tb);
}

/*
 * Everything a test may take must be back: hugepages of both sizes, the
 * pool's free cores, the online CPU set, the pool string, and the device's
 * live slots, vCPUs and memory. Call after closing every enclave fd and unmapping every region.
 */
#define NE_EXPECT_BASELINE(base, tbp) do {				\
	struct ne_baseline __now;					\
	ne_baseline_take(&__now, (tbp));				\
	if (__now.hp2m_free != (base)->hp2m_free)			\
		TH_LOG("leak: 2M HugePages_Free %ld, baseline %ld",	\
		       __now.hp2m_free, (base)->hp2m_free);		\
	EXPECT_EQ((base)->hp2m_free, __now.hp2m_free);			\
	if (__now.hp1g_free != (base)->hp1g_free)			\
		TH_LOG("leak: 1G HugePages_Free %ld, baseline %ld",	\
		       __now.hp1g_free, (base)->hp1g_free);		\
	EXPECT_EQ((base)->hp1g_free, __now.hp1g_free);			\
	if (__now.free_cores != (base)->free_cores)			\
		TH_LOG("leak: pool_free_cores %ld, baseline %ld",	\
		       __now.free_cores, (base)->free_cores);		\
	EXPECT_EQ((base)->free_cores, __now.free_cores);		\
	if (strcmp(__now.online, (base)->online))			\
		TH_LOG("online CPUs \"%s\", baseline \"%s\"",		\
		       __now.online, (base)->online);			\
	EXPECT_STREQ((base)->online, __now.online);			\
	if (strcmp(__now.pool, (base)->pool))				\
		TH_LOG("ne_cpus \"%s\", baseline \"%s\"",		\
		       __now.pool, (base)->pool);			\
	EXPECT_STREQ((base)->pool, __now.pool);				\
	if ((base)->have_tb && __now.have_tb) {				\
		if (__now.tb.live_slots != (base)->tb.live_slots ||	\
		    __now.tb.vcpus != (base)->tb.vcpus ||		\
		    __now.tb.mem_bytes != (base)->tb.mem_bytes)		\
			TH_LOG("device holds slots %u vcpus %u mem %llu,"	\
			       " baseline %u %u %llu",			\
			       __now.tb.live_slots, __now.tb.vcpus,	\
			       (unsigned long long)__now.tb.mem_bytes,	\
			       (base)->tb.live_slots, (base)->tb.vcpus,	\
			       (unsigned long long)(base)->tb.mem_bytes); \
		EXPECT_EQ((base)->tb.live_slots, __now.tb.live_slots);	\
		EXPECT_EQ((base)->tb.vcpus, __now.tb.vcpus);		\
		EXPECT_EQ((base)->tb.mem_bytes, __now.tb.mem_bytes);	\
	}								\
} while (0)

/* ---- hugetlb mappings, remembered so that teardown unmaps them ---- */

struct ne_maps {
	int n;
	void *addr[NE_MAX_MAPS];
	size_t len[NE_MAX_MAPS];
};

static inline void *ne_map_flags(struct ne_maps *m, size_t len, int flags)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (m->n < NE_MAX_MAPS) {
		m->addr[m->n] = p;
		m->len[m->n++] = len;
	}
	return p;
}

/* @len bytes of hugetlb memory with @pagesz pages (SZ_2M or SZ_1G). */
static inline void *ne_map_huge(struct ne_maps *m, size_t len, size_t pagesz)
{
	return ne_map_flags(m, len, MAP_HUGETLB |
			    (pagesz == SZ_1G ? MAP_HUGE_1GB : MAP_HUGE_2MB));
}

static inline void ne_unmap_all(struct ne_maps *m)
{
	while (m->n > 0) {
		m->n--;
		munmap(m->addr[m->n], m->len[m->n]);
	}
}

/* ---- per-test environment ---- */

struct ne_env {
	int dev;			/* /dev/nitro_enclaves */
	struct ne_test_bar tb;		/* mapped when have_tb */
	bool have_tb;
	int pool[NE_MAX_CPUS];		/* pool CPUs, ascending */
	int pool_n;
	int nr_cpu_ids;
	long timeout_saved;		/* cmd_timeout_ms to restore, or -1 */
	struct ne_baseline base;
	struct ne_maps maps;
};

/*
 * ne_env_setup() - pool configured, device opened, test BAR mapped if it
 * exists, baseline taken. Return: 0 or -errno (the step that failed).
 */
static inline int ne_env_setup(struct ne_env *env)
{
	char pool[512];
	int ret;

	env->dev = -1;
	env->timeout_saved = -1;
	env->maps.n = 0;
	env->have_tb = ne_tb_open(&env->tb) == 0;
	ret = ne_pool_ensure();
	if (ret)
		return ret;
	if (ne_pool_get(pool, sizeof(pool)))
		return -EIO;
	env->pool_n = ne_parse_cpulist(pool, env->pool, NE_MAX_CPUS);
	env->nr_cpu_ids = ne_nr_cpu_ids();
	env->dev = open(NE_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (env->dev < 0)
		return -errno;
	ne_baseline_take(&env->base, env->have_tb ? &env->tb : NULL);
	return 0;
}

/* Undo ne_env_setup() except the baseline check (done by the caller). */
static inline void ne_env_release(struct ne_env *env)
{
	ne_unmap_all(&env->maps);
	if (env->timeout_saved >= 0)
		ne_timeout_set(env->timeout_saved);
	env->timeout_saved = -1;
	if (env->dev >= 0)
		close(env->dev);
	env->dev = -1;
}

static inline void ne_env_close_tb(struct ne_env *env)
{
	if (env->have_tb)
		ne_tb_close(&env->tb);
	env->have_tb = false;
}

/* Unmap the test BAR and map it again (the device went and came back). */
static inline void ne_env_reopen_tb(struct ne_env *env)
{
	ne_env_close_tb(env);
	env->have_tb = ne_tb_open(&env->tb) == 0;
}

/*
 * ne_env_check_baseline() - NE_EXPECT_BASELINE() against the baseline of
 * @env (with the device's counters if the test BAR is mapped), then unmap
 * the test BAR.
 */
static inline void ne_env_check_baseline(struct __test_metadata *_metadata,
					 struct ne_env *env)
{
	NE_EXPECT_BASELINE(&env->base, env->have_tb ? &env->tb : NULL);
	ne_env_close_tb(env);
}

/*
 * ne_env_teardown() - the end of a fixture's teardown, once the test's own
 * enclave fds are closed: ne_env_release(), then ne_env_check_baseline().
 */
static inline void ne_env_teardown(struct __test_metadata *_metadata,
				   struct ne_env *env)
{
	ne_env_release(env);
	ne_env_check_baseline(_metadata, env);
}

/*
 * ne_env_setup_pci() - fixture setup of the tests that remove or reset the
 * device: ne_env_setup() and the device's PCI address in @bdf, asserted.
 */
static inline void ne_env_setup_pci(struct __test_metadata *_metadata,
				    struct ne_env *env, char *bdf, size_t len)
{
	ASSERT_EQ(0, ne_env_setup(env));
	ASSERT_EQ(0, ne_tb_find(bdf, len));
}

/*
 * ne_env_reopen() - once the device is back after a removal: map the test
 * BAR, expect that the device holds no slot, open the misc device again.
 */
static inline void ne_env_reopen(struct __test_metadata *_metadata,
				 struct ne_env *env)
{
	ASSERT_EQ(0, ne_tb_open(&env->tb));
	env->have_tb = true;
	EXPECT_EQ(0, ne_tb_read32(&env->tb, NE_TB_LIVE_SLOTS));
	env->dev = open(NE_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, env->dev);
}

/* Tests that drive the device through the test BAR call this first. */
#define NE_NEED_TB(env) do {						\
	if (!(env)->have_tb)						\
		SKIP(return, "no NE test-control BAR (real device or "	\
		     "test-hooks=off)");				\
} while (0)

#define NE_NEED_HUGEPAGES(pagesz, n) do {				\
	long __free = ne_hp_free(pagesz);				\
	if (__free < (long)(n))						\
		SKIP(return, "needs %ld free %s hugepages, %ld free",	\
		     (long)(n), (pagesz) == SZ_1G ? "1G" : "2M", __free); \
} while (0)

/* Lowering the device timeout for the rest of the test. */
static inline int ne_env_timeout(struct ne_env *env, long ms)
{
	if (env->timeout_saved < 0)
		env->timeout_saved = ne_timeout_get();
	return ne_timeout_set(ms);
}

/*
 * ne_make_ready() - give @efd @mem bytes of 2 MiB hugepages (one region)
 * and @nr_vcpus auto-picked vCPUs. Return: 0 or the first -errno.
 */
static inline int ne_make_ready(struct ne_env *env, int efd, size_t mem,
				int nr_vcpus)
{
	void *p = ne_map_huge(&env->maps, mem, SZ_2M);
	int ret, i;

	if (!p)
		return -ENOMEM;
	ret = ne_add_mem(efd, p, mem);
	if (ret)
		return ret;
	for (i = 0; i < nr_vcpus; i++) {
		uint32_t id = 0;

		ret = ne_add_vcpu(efd, &id);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * ne_create_ready() - create an enclave in *@efd (set before anything is
 * asserted, so that the teardown can close it) and make it ready with
 * ne_make_ready(): NE_MIN_MEM of 2 MiB pages and two vCPUs. Asserts both.
 */
static inline void ne_create_ready(struct __test_metadata *_metadata,
				   struct ne_env *env, int *efd, uint64_t *uid)
{
	*efd = ne_create_vm(env->dev, uid);
	ASSERT_LE(0, *efd);
	ASSERT_OK(ne_make_ready(env, *efd, NE_MIN_MEM, 2));
}

/*
 * ne_in_child() - run @fn in a forked child (another mm).
 * Return: what @fn returned there, or -ECHILD if the child died.
 */
static inline int ne_in_child(int (*fn)(void *), void *arg)
{
	int *res = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status, ret;
	pid_t pid;

	if (res == MAP_FAILED)
		return -errno;
	*res = -ECHILD;
	pid = fork();
	if (pid < 0) {
		munmap(res, sizeof(int));
		return -errno;
	}
	if (pid == 0) {
		*res = fn(arg);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		*res = -ECHILD;
	ret = *res;
	munmap(res, sizeof(int));
	return ret;
}

/* Arguments of the ne_child_*() calls that ne_in_child() runs. */
struct ne_child_args {
	int efd;		/* enclave fd, inherited from the parent */
	int sock;		/* socket for SCM_RIGHTS, if any */
	void *mem;		/* a 2 MiB hugetlb page */
	uint32_t vcpu;		/* vCPU id */
};

/* For ne_in_child(): add vCPU a->vcpu to enclave a->efd. */
static inline int ne_child_add_vcpu(void *p)
{
	struct ne_child_args *a = p;

	return ne_add_vcpu_id(a->efd, a->vcpu);
}

/* For ne_in_child(): add the 2 MiB page at a->mem to enclave a->efd. */
static inline int ne_child_add_mem(void *p)
{
	struct ne_child_args *a = p;

	return ne_add_mem(a->efd, a->mem, SZ_2M);
}

/* ---- kernel log ---- */

/*
 * The driver logs each error a user can get with dev_err_ratelimited() or
 * pr_err_ratelimited(): at most 10 lines per 5 s per call site. A test
 * that looks for a line may find its call site in a suppressed burst
 * (left by earlier tests that hit it many times); waiting this long
 * starts a new interval, in which the next line is printed.
 */
#define NE_RATELIMIT_WAIT_US	(5500 * 1000)

struct ne_kmsg {
	int fd;
};

/* Open /dev/kmsg for non-blocking reads from the end. Return: 0 or -errno. */
static inline int ne_kmsg_open(struct ne_kmsg *k)
{
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	lseek(k->fd, 0, SEEK_END);
	return 0;
}

static inline void ne_kmsg_close(struct ne_kmsg *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

/* Forget everything logged so far: later reads see only new records. */
static inline void ne_kmsg_mark(struct ne_kmsg *k)
{
	lseek(k->fd, 0, SEEK_END);
}

/*
 * ne_kmsg_find() - Read every record logged since the mark (or the last
 * read) and look for one whose text contains @needle; the first match is
 * copied to @line. Return: 1 if found, 0 if not, -errno.
 */
static inline int ne_kmsg_find(struct ne_kmsg *k, const char *needle,
			       char *line, size_t len)
{
	char rec[2048], *msg, *nl;
	int found = 0;
	ssize_t n;

	for (;;) {
		n = read(k->fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == EPIPE || errno == EINTR)
				continue;	/* overwritten records; go on */
			return -errno;
		}
		rec[n] = '\0';
		/* "prio,seq,usec,flags;text\n" then " KEY=value" lines */
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		if (!found && strstr(msg, needle)) {
			size_t l = strlen(msg);

			found = 1;
			if (l >= len)
				l = len - 1;
			memcpy(line, msg, l);
			line[l] = '\0';
		}
	}
	return found;
}

/*
 * NE_EXPECT_LOG(kmsg, expected, call, needle) - @call (which returns
 * -errno, like ne_ioctl()) fails with -@expected and the kernel logs a
 * line containing @needle meanwhile. If the line is missing, its call site
 * may be rate limited: wait NE_RATELIMIT_WAIT_US and try once more, so
 * @call must give the same result when repeated. The line found is
 * printed as a diagnostic.
 */
#define NE_EXPECT_LOG(kmsg, expected, call, needle) do {		\
	char __ne_line[1024] = "";					\
	int __ne_found = 0, __ne_try;					\
	for (__ne_try = 0; __ne_try < 2 && __ne_found != 1; __ne_try++) { \
		if (__ne_try)						\
			usleep(NE_RATELIMIT_WAIT_US);			\
		ne_kmsg_mark(kmsg);					\
		EXPECT_ERRNO(expected, call);				\
		__ne_found = ne_kmsg_find(kmsg, needle, __ne_line,	\
					  sizeof(__ne_line));		\
	}								\
	if (__ne_found == 1)						\
		TH_LOG("log: %s", __ne_line);				\
	else								\
		TH_LOG("%s: no kernel log line containing \"%s\"",	\
		       #call, (needle));				\
	EXPECT_EQ(1, __ne_found);					\
} while (0)

/* ---- main ---- */

/* Whether "fixture[.variant].test" is a word of the list @only. */
static inline bool ne_test_listed(const char *only, const char *name)
{
	size_t len = strlen(name);
	const char *p = only;

	while ((p = strstr(p, name))) {
		if ((p == only || p[-1] == ' ') && (!p[len] || p[len] == ' '))
			return true;
		p += len;
	}
	return false;
}

/*
 * ne_test_run_only() - run only the tests named in @only (space-separated
 * "fixture.variant.test" or "fixture.test"), like the -r option of later
 * kselftest harnesses, which the one of Linux 6.1 lacks.
 */
static inline int ne_test_run_only(const char *only)
{
	struct __fixture_variant_metadata no_variant = { .name = "" };
	struct __fixture_variant_metadata *v;
	struct __test_results *results;
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	unsigned int n = 0, pass = 0, pass_n = 0;
	char name[512];

	for (int run = 0; run < 2; run++) {
		if (run) {
			results = mmap(NULL, sizeof(*results),
				       PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			if (results == MAP_FAILED)
				return KSFT_FAIL;
			ksft_print_header();
			ksft_set_plan(n);
		}
		for (f = __fixture_list; f; f = f->next) {
			for (v = f->variant ?: &no_variant; v; v = v->next) {
				for (t = f->tests; t; t = t->next) {
					snprintf(name, sizeof(name), "%s%s%s.%s",
						 f->name, v->name[0] ? "." : "",
						 v->name, t->name);
					if (!ne_test_listed(only, name))
						continue;
					if (!run) {
						n++;
						continue;
					}
					t->results = results;
					__run_test(f, v, t);
					t->results = NULL;
					pass += t->passed;
					pass_n++;
				}
			}
		}
	}
	munmap(results, sizeof(*results));
	ksft_print_msg("%u / %u tests passed\n", pass, pass_n);
	ksft_exit(pass == pass_n);
	return KSFT_FAIL;
}

/*
 * ne_test_main() - the main() of a test binary: skip the whole binary when
 * NE_DEV_PATH is missing, else run every test of the harness, or those
 * that the environment variable NE_TEST_ONLY names.
 */
static inline int ne_test_main(int argc, char **argv)
{
	const char *only = getenv("NE_TEST_ONLY");

	if (access(NE_DEV_PATH, F_OK)) {
		ksft_print_header();
		ksft_exit_skip("%s not present (nitro_enclaves not loaded or no NE device)\n",
			       NE_DEV_PATH);
	}
	if (only && *only)
		return ne_test_run_only(only);
	return test_harness_run(argc, argv);
}

#endif /* NE_TEST_UTIL_H */
