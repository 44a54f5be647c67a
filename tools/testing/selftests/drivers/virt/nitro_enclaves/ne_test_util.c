// SPDX-License-Identifier: GPL-2.0
/*
 * The Nitro Enclaves kselftest library: the functions that
 * ne_test_util.h declares, linked into every test program (see the
 * Makefile). Nothing here includes kselftest_harness.h: the helpers that
 * assert on a test stay in the header.
 */
#define _GNU_SOURCE
#include "ne_test_util.h"

const char *ne_err_name(long err)
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
long ne_ioctl(int fd, unsigned long cmd, void *arg)
{
	long ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

int ne_create_vm(int dev, uint64_t *uid)
{
	return (int)ne_ioctl(dev, NE_CREATE_VM, uid);
}

int ne_add_vcpu(int efd, uint32_t *id)
{
	return (int)ne_ioctl(efd, NE_ADD_VCPU, id);
}

int ne_add_vcpu_id(int efd, uint32_t id)
{
	return ne_add_vcpu(efd, &id);
}

void *ne_add_vcpu_thread(void *p)
{
	struct ne_vcpu_adder *a = p;

	a->ret = ne_add_vcpu_id(a->efd, a->cpu);
	return NULL;
}

int ne_image_info(int efd, uint64_t flags, uint64_t *offset)
{
	struct ne_image_load_info info = { .flags = flags };
	int ret = (int)ne_ioctl(efd, NE_GET_IMAGE_LOAD_INFO, &info);

	if (!ret && offset)
		*offset = info.memory_offset;
	return ret;
}

int ne_set_mem(int efd, uint64_t flags, uint64_t addr, uint64_t size)
{
	struct ne_user_memory_region r = {
		.flags = flags,
		.memory_size = size,
		.userspace_addr = addr,
	};

	return (int)ne_ioctl(efd, NE_SET_USER_MEMORY_REGION, &r);
}

int ne_add_mem(int efd, void *addr, uint64_t size)
{
	return ne_set_mem(efd, NE_DEFAULT_MEMORY_REGION,
			  (uint64_t)(uintptr_t)addr, size);
}

int ne_start(int efd, uint64_t flags, uint64_t *cid)
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
int ne_poll(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLHUP | POLLERR };
	int ret = poll(&p, 1, timeout_ms);

	if (ret < 0)
		return -errno;
	return ret ? p.revents : 0;
}

uint64_t ne_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * ne_waiter_thread() - thread function: wait on w->fd as w->how says, then
 * store the result and the time it took in @p (a struct ne_waiter).
 */
void *ne_waiter_thread(void *p)
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

/* Read a whole small file into @buf. Return: length or -errno. */
int ne_read_file(const char *path, char *buf, size_t len)
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
int ne_write_file(const char *path, const char *s)
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

long ne_read_long(const char *path)
{
	char buf[64];

	if (ne_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 0);
}

void ne_chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* ne_cpus content without the trailing newline(s). */
int ne_pool_get(char *buf, size_t len)
{
	int ret = ne_read_file(NE_CPUS_PATH, buf, len);

	if (ret >= 0)
		ne_chomp(buf);
	return ret < 0 ? ret : 0;
}

int ne_pool_set(const char *list)
{
	return ne_write_file(NE_CPUS_PATH, list);
}

/*
 * For ne_in_child(): drop CAP_SYS_ADMIN, then write the cpu-list @list to
 * ne_cpus. Return: ne_pool_set()'s result, or -ECHILD if the capabilities
 * could not be changed.
 */
int ne_pool_set_without_cap(void *list)
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

/* NE_TEST_POOL, or NULL when unset or empty. */
const char *ne_test_pool(void)
{
	const char *p = getenv("NE_TEST_POOL");

	return p && *p ? p : NULL;
}

bool ne_pool_may_change(void)
{
	return ne_test_pool() != NULL;
}

/*
 * The pool the tests run with: NE_TEST_POOL, or else the pool the admin
 * configured (read once per process; "" if there is none).
 */
const char *ne_pool_default(void)
{
	static char admin[512];
	static bool read_once;

	if (ne_test_pool())
		return ne_test_pool();
	if (!read_once && ne_pool_get(admin, sizeof(admin)))
		admin[0] = '\0';
	read_once = true;
	return admin;
}

/*
 * ne_pool_ensure() - make sure the tests' pool is configured: write
 * NE_TEST_POOL if it is set and differs (no enclave may exist); without
 * it, only check that a pool is configured.
 * Return: 0, -ENOSPC if there is no pool to use, or ne_pool_set()'s error.
 */
int ne_pool_ensure(void)
{
	char cur[512];
	int ret = ne_pool_get(cur, sizeof(cur));

	if (ret)
		return ret;
	if (!ne_test_pool())
		return cur[0] ? 0 : -ENOSPC;
	if (!strcmp(cur, ne_test_pool()))
		return 0;
	return ne_pool_set(ne_test_pool());
}

/*
 * ne_pool_reset() - for teardowns of tests that change the pool: write
 * NE_TEST_POOL back. Without NE_TEST_POOL such tests skip before changing
 * anything, so there is nothing to write. Return: 0 or -errno.
 */
int ne_pool_reset(void)
{
	return ne_test_pool() ? ne_pool_set(ne_test_pool()) : 0;
}

/* Parse a cpu-list ("2,3", "2-7") into @cpus. Return: count or -EINVAL. */
int ne_parse_cpulist(const char *s, int *cpus, int max)
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

int ne_cpu_is_online(int cpu)
{
	char path[96];

	if (cpu == 0)
		return 1;
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online",
		 cpu);
	return ne_read_long(path) == 1;
}

/* nr_cpu_ids: last possible CPU + 1. */
int ne_nr_cpu_ids(void)
{
	char buf[64];
	int cpus[NE_MAX_CPUS];
	int n;

	if (ne_read_file("/sys/devices/system/cpu/possible", buf, sizeof(buf)) < 0)
		return -1;
	n = ne_parse_cpulist(buf, cpus, NE_MAX_CPUS);
	return n > 0 ? cpus[n - 1] + 1 : -1;
}

long ne_hp_free(unsigned long pagesz)
{
	return ne_read_long(pagesz == SZ_1G ? NE_HP_1G_DIR "/free_hugepages" :
			    NE_HP_2M_DIR "/free_hugepages");
}

long ne_timeout_get(void)
{
	return ne_read_long(NE_TIMEOUT_PATH);
}

int ne_timeout_set(long ms)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", ms);
	return ne_write_file(NE_TIMEOUT_PATH, buf);
}

/* Take CPU @cpu offline (@on 0) or bring it online (@on 1); errors ignored. */
void ne_cpu_set_online(int cpu, int on)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	ne_write_file(path, on ? "1" : "0");
}

/* Wait up to @ms for @path to (dis)appear. Return: true if it did. */
bool ne_wait_path(const char *path, bool present, int ms)
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
int ne_pci_remove(const char *bdf)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", bdf);
	return ne_write_file(path, "1");
}

/*
 * Rescan the PCI bus and wait up to @ms for NE_DEV_PATH to come back.
 * Return: 0, the write's -errno, or -ETIMEDOUT.
 */
int ne_pci_rescan(int ms)
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
int ne_reset_device(const char *bdf, int gone_ms)
{
	int ret = ne_pci_remove(bdf);

	if (ret)
		return ret;
	if (!ne_wait_path(NE_DEV_PATH, false, gone_ms))
		return -EBUSY;
	return ne_pci_rescan(10000);
}

/* Send @fd over @sock (SCM_RIGHTS). Return: 0 or -errno. */
int ne_send_fd(int sock, int fd)
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
int ne_recv_fd(int sock)
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

/* Read attribute @name, trailing newline removed. Return: 0 or -errno. */
int ne_attr_get(const char *name, char *buf, size_t len)
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
long ne_attr_long(const char *name)
{
	char buf[64], *end;
	long v;

	if (ne_attr_get(name, buf, sizeof(buf)) || !buf[0])
		return LONG_MIN;
	v = strtol(buf, &end, 10);
	return *end ? LONG_MIN : v;
}

/* Wait up to @ms for attribute @name to read @val. Return: whether it did. */
bool ne_wait_attr(const char *name, long val, int ms)
{
	uint64_t t0 = ne_now_ms();

	while (ne_attr_long(name) != val) {
		if (ne_now_ms() - t0 >= (uint64_t)ms)
			return false;
		usleep(20 * 1000);
	}
	return true;
}

void ne_baseline_take(struct ne_baseline *b, struct ne_test_bar *tb)
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

void *ne_map_flags(struct ne_maps *m, size_t len, int flags)
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
void *ne_map_huge(struct ne_maps *m, size_t len, size_t pagesz)
{
	return ne_map_flags(m, len, MAP_HUGETLB |
			    (pagesz == SZ_1G ? MAP_HUGE_1GB : MAP_HUGE_2MB));
}

void ne_unmap_all(struct ne_maps *m)
{
	while (m->n > 0) {
		m->n--;
		munmap(m->addr[m->n], m->len[m->n]);
	}
}

/*
 * ne_env_setup() - pool configured, device opened, test BAR mapped if it
 * exists, baseline taken. Return: 0 or -errno (the step that failed).
 */
int ne_env_setup(struct ne_env *env)
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
void ne_env_release(struct ne_env *env)
{
	ne_unmap_all(&env->maps);
	if (env->timeout_saved >= 0)
		ne_timeout_set(env->timeout_saved);
	env->timeout_saved = -1;
	if (env->dev >= 0)
		close(env->dev);
	env->dev = -1;
}

void ne_env_close_tb(struct ne_env *env)
{
	if (env->have_tb)
		ne_tb_close(&env->tb);
	env->have_tb = false;
}

/* Unmap the test BAR and map it again (the device went and came back). */
void ne_env_reopen_tb(struct ne_env *env)
{
	ne_env_close_tb(env);
	env->have_tb = ne_tb_open(&env->tb) == 0;
}

/* Lowering the device timeout for the rest of the test. */
int ne_env_timeout(struct ne_env *env, long ms)
{
	if (env->timeout_saved < 0)
		env->timeout_saved = ne_timeout_get();
	return ne_timeout_set(ms);
}

/*
 * ne_make_ready() - give @efd @mem bytes of 2 MiB hugepages (one region)
 * and @nr_vcpus auto-picked vCPUs. Return: 0 or the first -errno.
 */
int ne_make_ready(struct ne_env *env, int efd, size_t mem, int nr_vcpus)
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
 * ne_in_child() - run @fn in a forked child (another mm).
 * Return: what @fn returned there, or -ECHILD if the child died.
 */
int ne_in_child(int (*fn)(void *), void *arg)
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

/* For ne_in_child(): add vCPU a->vcpu to enclave a->efd. */
int ne_child_add_vcpu(void *p)
{
	struct ne_child_args *a = p;

	return ne_add_vcpu_id(a->efd, a->vcpu);
}

/* For ne_in_child(): add the 2 MiB page at a->mem to enclave a->efd. */
int ne_child_add_mem(void *p)
{
	struct ne_child_args *a = p;

	return ne_add_mem(a->efd, a->mem, SZ_2M);
}

/* Open /dev/kmsg for non-blocking reads from the end. Return: 0 or -errno. */
int ne_kmsg_open(struct ne_kmsg *k)
{
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	lseek(k->fd, 0, SEEK_END);
	return 0;
}

void ne_kmsg_close(struct ne_kmsg *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

/* Forget everything logged so far: later reads see only new records. */
void ne_kmsg_mark(struct ne_kmsg *k)
{
	lseek(k->fd, 0, SEEK_END);
}

/*
 * ne_kmsg_find() - Read every record logged since the mark (or the last
 * read) and look for one whose text contains @needle; the first match is
 * copied to @line. Return: 1 if found, 0 if not, -errno.
 */
int ne_kmsg_find(struct ne_kmsg *k, const char *needle, char *line, size_t len)
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

/* Whether "fixture[.variant].test" is a word of the list @only. */
bool ne_test_listed(const char *only, const char *name)
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

/* ---- putting the admin's state back (NE_TEST_POOL) ---- */

/* What ne_pool_guard_start() recorded. */
static struct {
	char pool[512];		/* ne_cpus */
	char online[256];	/* /sys/devices/system/cpu/online */
	long timeout_ms;	/* cmd_timeout_ms, or -1 if unreadable */
	const char *prog;	/* for messages */
	pid_t owner;		/* the program's first process */
	int fd;			/* write end of the guardian's pipe */
} ne_saved = { .fd = -1 };

static bool ne_cpu_listed(const int *cpus, int n, int cpu)
{
	int i;

	for (i = 0; i < n; i++)
		if (cpus[i] == cpu)
			return true;
	return false;
}

/*
 * ne_saved_restore() - write the recorded ne_cpus back, retrying for up to
 * @wait_ms while an enclave still holds a core (EPERM), then the online
 * state of every other CPU and cmd_timeout_ms. Writes only what differs.
 * Return: 0, or the first -errno.
 */
static int ne_saved_restore(int wait_ms)
{
	int online[NE_MAX_CPUS], pool[NE_MAX_CPUS], n_on, n_pool, cpu, max;
	uint64_t deadline = ne_now_ms() + wait_ms;
	char cur[512];
	int ret = 0, err;

	for (;;) {
		err = ne_pool_get(cur, sizeof(cur));
		if (err || !strcmp(cur, ne_saved.pool))
			break;
		err = ne_pool_set(ne_saved.pool[0] ? ne_saved.pool : "\n");
		if (err != -EPERM || ne_now_ms() > deadline)
			break;
		usleep(100 * 1000);
	}
	if (err) {
		fprintf(stderr, "# %s: cannot put ne_cpus \"%s\" back: %s\n",
			ne_saved.prog, ne_saved.pool, strerror(-err));
		ret = err;
	}
	n_on = ne_parse_cpulist(ne_saved.online, online, NE_MAX_CPUS);
	n_pool = ne_parse_cpulist(ne_saved.pool, pool, NE_MAX_CPUS);
	max = ne_nr_cpu_ids();
	for (cpu = 1; n_on > 0 && cpu < max; cpu++) {
		bool want = ne_cpu_listed(online, n_on, cpu);

		if (ne_cpu_listed(pool, n_pool, cpu) ||
		    want == (ne_cpu_is_online(cpu) == 1))
			continue;
		ne_cpu_set_online(cpu, want);
		if (want != (ne_cpu_is_online(cpu) == 1)) {
			fprintf(stderr, "# %s: cannot put CPU %d back %s\n",
				ne_saved.prog, cpu, want ? "online" : "offline");
			ret = ret ?: -EIO;
		}
	}
	if (ne_saved.timeout_ms >= 0 && ne_timeout_get() != ne_saved.timeout_ms)
		ne_timeout_set(ne_saved.timeout_ms);
	return ret;
}

/*
 * The guardian: a grandchild in a session of its own, so that the signal
 * that kills the program's process group does not reach it. Every process
 * of the program holds the pipe's write end; EOF without the owner's
 * "done" byte means they are all gone without putting the state back.
 */
static void ne_guardian(int rfd)
{
	char c;
	ssize_t n;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	do {
		n = read(rfd, &c, 1);
	} while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0);
	fprintf(stderr, "# %s: killed; putting ne_cpus \"%s\" and online CPUs \"%s\" back\n",
		ne_saved.prog, ne_saved.pool, ne_saved.online);
	_exit(ne_saved_restore(60 * 1000) ? 1 : 0);
}

/*
 * ne_pool_guard_start() - with NE_TEST_POOL set, record what the tests may
 * change and make sure it is put back (see ne_test_util.h). Call once, in
 * main() before the first test. Return: 0, or -errno if the state cannot
 * be recorded or the guardian cannot be started.
 */
int ne_pool_guard_start(const char *prog)
{
	int p[2], status;
	pid_t pid;

	if (!ne_test_pool() || ne_saved.owner)
		return 0;
	ne_saved.prog = prog;
	if (ne_pool_get(ne_saved.pool, sizeof(ne_saved.pool)) ||
	    ne_read_file(NE_CPU_ONLINE_PATH, ne_saved.online,
			 sizeof(ne_saved.online)) < 0)
		return -ENOENT;
	ne_chomp(ne_saved.online);
	ne_saved.timeout_ms = ne_timeout_get();
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[1]);
		if (fork() == 0)
			ne_guardian(p[0]);
		_exit(0);
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	ne_saved.fd = p[1];
	ne_saved.owner = getpid();
	atexit(ne_pool_guard_exit);
	return 0;
}

/*
 * ne_pool_guard_exit() - in the program's first process only: put the
 * recorded state back now (the tests' processes are gone), then release
 * the guardian; if something could not be put back (an enclave fd that a
 * test's orphan still holds), leave it to the guardian, which retries once
 * every process is gone. An atexit() handler; the signal handler of
 * ne_test_main() calls it too.
 */
void ne_pool_guard_exit(void)
{
	static const char done = 'd';

	if (ne_saved.fd < 0 || getpid() != ne_saved.owner)
		return;
	if (!ne_saved_restore(10 * 1000) && write(ne_saved.fd, &done, 1) != 1)
		fprintf(stderr, "# %s: guardian: %s\n", ne_saved.prog,
			strerror(errno));
	close(ne_saved.fd);
	ne_saved.fd = -1;
}

/* ---- what a program needs before its first test ---- */

static bool ne_have_vsock(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/*
 * ne_test_skip_reason() - why this program cannot run here: not root, no
 * NE device, the driver not loaded or not bound, no CPU pool to use (none
 * configured and NE_TEST_POOL unset), fewer than NE_MIN_MEM of free 2 MiB
 * hugepages, and, as @needs asks (NE_NEEDS_*), no test-control BAR or no
 * AF_VSOCK. Return: the reason, or NULL if the program can run.
 */
const char *ne_test_skip_reason(unsigned int needs)
{
	static char why[256];
	struct ne_test_bar tb;
	char bdf[64], pool[512];
	long free2m;

	if (geteuid() != 0)
		return "needs root (ne_cpus, /dev/nitro_enclaves, hugepages)";
	if (ne_tb_find(bdf, sizeof(bdf)))
		return "no NE PCI device 1d0f:e4c1 (an EC2 parent instance with enclaves enabled, or QEMU with the emulated device)";
	if (access("/sys/module/nitro_enclaves", F_OK))
		return "the nitro_enclaves driver is not loaded (modprobe nitro_enclaves)";
	if (access(NE_DEV_PATH, F_OK))
		return NE_DEV_PATH " is missing: the driver is not bound to the device";
	if (!ne_test_pool() && (ne_pool_get(pool, sizeof(pool)) || !pool[0]))
		return "no CPU pool: ne_cpus is empty; configure one (Documentation/virt/ne_overview.rst), or set NE_TEST_POOL=<cpulist> to let the tests set it";
	free2m = ne_hp_free(SZ_2M);
	if (free2m < (long)(NE_MIN_MEM / SZ_2M)) {
		snprintf(why, sizeof(why), "needs %lu free 2 MiB hugepages on the pool's node, %ld free",
			 NE_MIN_MEM / SZ_2M, free2m);
		return why;
	}
	if (needs & NE_NEEDS_TB) {
		if (ne_tb_open(&tb))
			return "no NE test-control BAR: the tests need the emulated device (test-hooks=on)";
		ne_tb_close(&tb);
	}
	if ((needs & NE_NEEDS_VSOCK) && !ne_have_vsock())
		return "no AF_VSOCK (vsock and its virtio transport not loaded)";
	return NULL;
}
