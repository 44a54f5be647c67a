// SPDX-License-Identifier: GPL-2.0
/*
 * ne_bench - launch-path benchmark of the Nitro Enclaves driver.
 *
 * Launches enclaves the way launchers do and times each phase:
 * NE_CREATE_VM, memory (all NE_SET_USER_MEMORY_REGION calls), vCPUs,
 * NE_START_ENCLAVE and close. For every launch it reports the device
 * commands of each type (test-control BAR counters of the emulated device)
 * and the number of physically contiguous extents of the memory, counted
 * in registration order from /proc/self/pagemap: the fewest SLOT_ADD_MEM
 * commands a driver that keeps the enclave's memory order can send.
 *
 * Memory styles:
 *   nitro-cli   one mmap and one ioctl per 2 MiB page, registered in the
 *               order mmap returned them (as nitro-cli does);
 *   one-region  one 2 MiB-page hugetlb mapping, one ioctl;
 *   1g-pages    one mapping of 1 GiB pages, one ioctl.
 *
 * The extents of 2 MiB-page memory depend on the order in which the
 * kernel's hugetlb free list hands out pages ("pool order"): the list is
 * LIFO, so it depends on how pages were last freed; a fresh pool hands
 * out descending addresses. The bench sets it explicitly: it takes the
 * pages a launch will get and gives them back sorted, so that they come
 * out in ascending (best case) or descending (worst case) order. Memory is
 * faulted in before the timed phases (page zeroing is not driver work)
 * and unmapped in reverse order afterwards, which keeps the pool order.
 * The memory of a case is faulted in once and reused by every repetition,
 * and by the per-page variant of the case (debugfs legacy_per_page_mem), which
 * thus runs on exactly the same pages.
 *
 *   ne_bench [--sizes MIB,...] [--reps N] [--parallel N,...]
 *            [--parallel-mib MIB] [--no-legacy] [--parallel-only]
 *   ne_bench --check [--pool-as-is] [--sizes MIB,...]
 *   ne_bench --kmem
 *
 * --check prints TAP: a launch in every style and pool order must send no
 * more SLOT_ADD_MEM commands than the memory has extents. With
 * --pool-as-is it runs one nitro-cli-style launch per size on the pool
 * in the order the kernel hands it out (not sorted by the bench): what a
 * launcher gets after, e.g., nitro-enclaves-allocator ordered the pool.
 *
 * --kmem prints the kernel memory a driver keeps per GiB of enclave
 * memory once it is registered, with 2 MiB and with 1 GiB pages: the net
 * of the kmem:kmalloc/kfree and kmem:mm_page_alloc/mm_page_free events of
 * this process during NE_SET_USER_MEMORY_REGION (tracefs), so it measures
 * any driver the same way, whatever it charges to memory cgroups. Slab
 * objects are counted by their kmalloc size; pages (vmalloc, and slab
 * refills) separately.
 *
 * Needs root, /dev/nitro_enclaves, a configured CPU pool (ne_cpus) with
 * free cores, and free hugepages. Command counts need the test BAR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

#define SZ_2M			(2UL << 20)
#define SZ_1G			(1UL << 30)
#define MIB			(1UL << 20)

#define NE_DEV			"/dev/nitro_enclaves"
#define LEGACY_PARAM		"/sys/kernel/debug/nitro_enclaves/legacy_per_page_mem"
#define HP_2M_DIR		"/sys/kernel/mm/hugepages/hugepages-2048kB"
#define HP_1G_DIR		"/sys/kernel/mm/hugepages/hugepages-1048576kB"

#define CMD_ENCLAVE_START	1
#define CMD_ENCLAVE_STOP	3
#define CMD_SLOT_ALLOC		4
#define CMD_SLOT_FREE		5
#define CMD_SLOT_ADD_MEM	6
#define CMD_SLOT_ADD_VCPU	7
#define CMD_SLOT_INFO		10

#define NR_VCPUS		2

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif
#define MAX_REPS		15
#define MAX_LIST		8

enum style { STYLE_NITRO_CLI, STYLE_ONE_REGION, STYLE_1G };
enum order { ORDER_ANY, ORDER_ASC, ORDER_DESC };
enum phase { PH_CREATE, PH_MEM, PH_VCPU, PH_START, PH_CLOSE, NR_PHASES };

static const char *const style_name[] = { "nitro-cli", "one-region", "1g-pages" };
static const char *const order_name[] = { "as-is", "asc", "desc" };
static const char *const phase_name[] = { "create", "memory", "vcpus", "start", "close" };

struct bench_case {
	enum style style;
	enum order order;
	unsigned long mib;
	bool legacy;		/* debugfs legacy_per_page_mem on */
};

/* One launch: its memory and what it measured. */
struct launch {
	void **addr;		/* regions, in registration order */
	size_t *len;
	size_t pagesz;
	unsigned int nr;
	long extents;		/* physically contiguous, in order */
	double ms[NR_PHASES];
	uint32_t cmd[NE_TB_NR_CMD_TYPES];
	int err;		/* -errno of the failing step, or 0 */
	const char *err_step;
};

static struct ne_test_bar tb;
static bool have_tb;
static int pagemap_fd = -1;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	if (buf[0] == 'Y')
		return 1;
	if (buf[0] == 'N')
		return 0;
	return strtol(buf, NULL, 0);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

static int parse_list(const char *s, unsigned long *out, int max)
{
	int n = 0;
	char *end;

	while (*s && n < max) {
		out[n++] = strtoul(s, &end, 10);
		if (end == s)
			return -1;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Physical frame of the page at @p, or 0 if unknown. */
static uint64_t pfn_of(void *p)
{
	uint64_t e = 0;
	off_t off = (off_t)((uintptr_t)p / 4096) * 8;

	if (pread(pagemap_fd, &e, sizeof(e), off) != sizeof(e))
		return 0;
	if (!(e & (1ULL << 63)))
		return 0;
	return e & ((1ULL << 55) - 1);
}

static void *map_huge(size_t len, size_t pagesz)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
		       (pagesz == SZ_1G ? MAP_HUGE_1GB : MAP_HUGE_2MB), -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct pfn_idx {
	uint64_t pfn;
	unsigned long idx;
};

static int cmp_pfn(const void *a, const void *b)
{
	const struct pfn_idx *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/*
 * Make the next @nr 2 MiB pages the free list hands out come in @want
 * physical order: take @nr pages from the list, then give them back one by
 * one sorted by address, highest first for ascending order (the list is
 * LIFO). "asc" is thus the best case for merging, "desc" the worst (and
 * the order of a freshly allocated pool). Return: 0 or -1.
 */
static int pool_prepare(enum order want, unsigned long nr)
{
	struct pfn_idx *pi;
	unsigned long i;
	char *p;

	if (want == ORDER_ANY)
		return 0;
	p = map_huge(nr * SZ_2M, SZ_2M);
	pi = calloc(nr, sizeof(*pi));
	if (!p || !pi) {
		if (p)
			munmap(p, nr * SZ_2M);
		free(pi);
		return -1;
	}
	for (i = 0; i < nr; i++) {
		p[i * SZ_2M] = 1;
		pi[i].pfn = pfn_of(p + i * SZ_2M);
		pi[i].idx = i;
	}
	qsort(pi, nr, sizeof(*pi), cmp_pfn);
	for (i = 0; i < nr; i++) {
		unsigned long k = want == ORDER_ASC ? nr - 1 - i : i;

		munmap(p + pi[k].idx * SZ_2M, SZ_2M);
	}
	free(pi);
	return 0;
}

static void launch_free(struct launch *l)
{
	unsigned int i;
	size_t off;

	/* Reverse order of faulting: the free list ends up as it was. */
	for (i = l->nr; i-- > 0;) {
		for (off = l->len[i]; off > 0; off -= l->pagesz)
			munmap((char *)l->addr[i] + off - l->pagesz, l->pagesz);
	}
	free(l->addr);
	free(l->len);
	l->addr = NULL;
	l->len = NULL;
	l->nr = 0;
}

/*
 * Map and fault in the memory of a launch, in registration order, and
 * count its extents. Return: 0, or -ENOMEM if hugepages ran out.
 */
static int launch_memory(struct launch *l, const struct bench_case *c)
{
	size_t size = c->mib * MIB;
	uint64_t prev = 0, pfn;
	unsigned int i;
	size_t off;

	memset(l, 0, sizeof(*l));
	l->pagesz = c->style == STYLE_1G ? SZ_1G : SZ_2M;
	size = (size + l->pagesz - 1) / l->pagesz * l->pagesz;
	l->nr = c->style == STYLE_NITRO_CLI ? size / SZ_2M : 1;
	l->addr = calloc(l->nr, sizeof(*l->addr));
	l->len = calloc(l->nr, sizeof(*l->len));
	if (!l->addr || !l->len)
		return -ENOMEM;

	for (i = 0; i < l->nr; i++) {
		l->len[i] = size / l->nr;
		l->addr[i] = map_huge(l->len[i], l->pagesz);
		if (!l->addr[i]) {
			l->nr = i;
			launch_free(l);
			return -ENOMEM;
		}
	}

	for (i = 0; i < l->nr; i++) {
		for (off = 0; off < l->len[i]; off += l->pagesz) {
			char *p = (char *)l->addr[i] + off;

			*(volatile char *)p = 1;
			pfn = pfn_of(p);
			if (!prev || pfn != prev + l->pagesz / 4096)
				l->extents++;
			prev = pfn;
		}
	}
	return 0;
}

#define STEP(step, call) do {					\
	long __r = (call);					\
	if (__r < 0) {						\
		l->err = -errno;				\
		l->err_step = step;				\
		goto out;					\
	}							\
} while (0)

/* The timed part: create, memory, vCPUs, start, close. */
static void launch_run(struct launch *l, int dev)
{
	struct ne_enclave_start_info start = {};
	struct ne_tb_counters before, after;
	uint64_t slot_uid;
	unsigned int i;
	double t;
	int efd = -1;

	if (have_tb)
		ne_tb_counters(&tb, &before);

	t = now_ms();
	STEP("NE_CREATE_VM", efd = ioctl(dev, NE_CREATE_VM, &slot_uid));
	l->ms[PH_CREATE] = now_ms() - t;

	t = now_ms();
	for (i = 0; i < l->nr; i++) {
		struct ne_user_memory_region r = {
			.flags = NE_DEFAULT_MEMORY_REGION,
			.memory_size = l->len[i],
			.userspace_addr = (uintptr_t)l->addr[i],
		};

		STEP("NE_SET_USER_MEMORY_REGION",
		     ioctl(efd, NE_SET_USER_MEMORY_REGION, &r));
	}
	l->ms[PH_MEM] = now_ms() - t;

	t = now_ms();
	for (i = 0; i < NR_VCPUS; i++) {
		uint32_t id = 0;

		STEP("NE_ADD_VCPU", ioctl(efd, NE_ADD_VCPU, &id));
	}
	l->ms[PH_VCPU] = now_ms() - t;

	t = now_ms();
	STEP("NE_START_ENCLAVE", ioctl(efd, NE_START_ENCLAVE, &start));
	l->ms[PH_START] = now_ms() - t;

out:
	if (efd >= 0) {
		t = now_ms();
		close(efd);
		l->ms[PH_CLOSE] = now_ms() - t;
	}
	if (have_tb) {
		ne_tb_counters(&tb, &after);
		for (i = 0; i < NE_TB_NR_CMD_TYPES; i++)
			l->cmd[i] = after.cmd[i] - before.cmd[i];
	}
}

static int set_legacy(bool on)
{
	if (access(LEGACY_PARAM, F_OK))
		return on ? -ENOENT : 0;
	return write_str(LEGACY_PARAM, on ? "1" : "0");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat2 {
	double min, med;
};

static struct stat2 stats(const double *v, int n)
{
	double s[MAX_REPS];
	struct stat2 r = { 0, 0 };

	if (n <= 0)
		return r;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	r.min = s[0];
	r.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	return r;
}

/* Aggregated result of one case. */
struct case_result {
	int reps;
	double ms[NR_PHASES + 1][MAX_REPS];	/* + mem+start */
	long extents_max;
	uint32_t cmd_max[NE_TB_NR_CMD_TYPES];
	int err;
	const char *err_step;
};

static void case_name(const struct bench_case *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", style_name[c->style],
		 c->style == STYLE_1G ? "" : " pool=",
		 c->style == STYLE_1G ? "" : order_name[c->order],
		 c->legacy ? " per-page" : "");
}

/* Add the launch just run (or its failure) to @res. */
static void result_add(struct case_result *res, const struct launch *l)
{
	int i;

	if (l->err) {
		res->err = l->err;
		res->err_step = l->err_step;
		return;
	}
	for (i = 0; i < NR_PHASES; i++)
		res->ms[i][res->reps] = l->ms[i];
	res->ms[NR_PHASES][res->reps] = l->ms[PH_MEM] + l->ms[PH_START];
	res->extents_max = l->extents;
	for (i = 0; i < NE_TB_NR_CMD_TYPES; i++)
		if (l->cmd[i] > res->cmd_max[i])
			res->cmd_max[i] = l->cmd[i];
	res->reps++;
}

/* Run @c @reps times on the memory of @l (mapped and faulted in). */
static int run_case(const struct bench_case *c, struct launch *l, int reps,
		    int dev, struct case_result *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	if (set_legacy(c->legacy)) {
		res->err = -ENOENT;
		res->err_step = "legacy_per_page_mem";
		return -1;
	}
	for (r = 0; r < reps && !res->err; r++) {
		l->err = 0;
		memset(l->ms, 0, sizeof(l->ms));
		launch_run(l, dev);
		result_add(res, l);
	}
	set_legacy(false);
	return res->err ? -1 : 0;
}

static void print_header(void)
{
	int i;

	printf("%-28s %5s %4s %7s %7s %5s %4s %5s %4s %4s",
	       "case", "MiB", "reps", "extents", "ADD_MEM", "ALLOC", "VCPU",
	       "START", "STOP", "FREE");
	for (i = 0; i < NR_PHASES; i++)
		printf(" %15s", phase_name[i]);
	printf(" %15s\n", "memory+start");
}

/* Return: 1 if the case failed, else 0. */
static int print_row(const struct bench_case *c, const struct case_result *res)
{
	char name[64];
	struct stat2 s;
	int i;

	case_name(c, name, sizeof(name));
	if (!res->reps) {
		printf("%-28s %5lu  not run: %s: %s\n", name, c->mib,
		       res->err_step, strerror(-res->err));
		return 1;
	}
	printf("%-28s %5lu %4d %7ld", name,
	       c->style == STYLE_1G ? (c->mib * MIB + SZ_1G - 1) / SZ_1G * 1024 : c->mib,
	       res->reps, res->extents_max);
	if (have_tb)
		printf(" %7u %5u %4u %5u %4u %4u", res->cmd_max[CMD_SLOT_ADD_MEM],
		       res->cmd_max[CMD_SLOT_ALLOC], res->cmd_max[CMD_SLOT_ADD_VCPU],
		       res->cmd_max[CMD_ENCLAVE_START], res->cmd_max[CMD_ENCLAVE_STOP],
		       res->cmd_max[CMD_SLOT_FREE]);
	else
		printf(" %7s %5s %4s %5s %4s %4s", "?", "?", "?", "?", "?", "?");
	for (i = 0; i <= NR_PHASES; i++) {
		s = stats(res->ms[i], res->reps);
		printf(" %7.1f/%7.1f", s.med, s.min);
	}
	if (res->err)
		printf("  (stopped after %d: %s: %s)", res->reps, res->err_step,
		       strerror(-res->err));
	printf("\n");
	return res->err ? 1 : 0;
}

/* TAP line of a check: SLOT_ADD_MEM within the extents. Return: 1 if not. */
static int check_row(const struct bench_case *c, const struct case_result *res,
		     int n)
{
	uint32_t add_mem = res->cmd_max[CMD_SLOT_ADD_MEM];
	char name[64];

	case_name(c, name, sizeof(name));
	if (!res->reps) {
		printf("not ok %d %s %lu MiB: %s: %s\n", n, name, c->mib,
		       res->err_step, strerror(-res->err));
		return 1;
	}
	if (!have_tb) {
		printf("ok %d %s %lu MiB # SKIP no test-control BAR\n", n, name,
		       c->mib);
		return 0;
	}
	if (!add_mem || add_mem > res->extents_max) {
		printf("not ok %d %s %lu MiB: %u SLOT_ADD_MEM for %ld extents\n",
		       n, name, c->mib, add_mem, res->extents_max);
		return 1;
	}
	printf("ok %d %s %lu MiB: %u SLOT_ADD_MEM for %ld extents (memory+start %.1f ms)\n",
	       n, name, c->mib, add_mem, res->extents_max,
	       stats(res->ms[NR_PHASES], res->reps).med);
	return 0;
}

/*
 * Run the cases @c[0..@n) (same style, size and pool order) on one set
 * of memory, printing a row each (or a TAP line each in check mode).
 * Return: number of failed cases.
 */
static int run_group(const struct bench_case *c, int n, int reps, int dev,
		     bool check, int *tap)
{
	struct case_result res;
	struct launch l;
	int i, rc, failed = 0;

	memset(&res, 0, sizeof(res));
	rc = 0;
	if (c->style != STYLE_1G &&
	    pool_prepare(c->order, c->mib * MIB / SZ_2M)) {
		res.err = -EAGAIN;
		res.err_step = "pool order";
		rc = -1;
	} else if (launch_memory(&l, c)) {
		res.err = -ENOMEM;
		res.err_step = "hugepages";
		rc = -1;
	}
	for (i = 0; i < n; i++) {
		if (!rc)
			run_case(&c[i], &l, reps, dev, &res);
		if (check)
			failed += check_row(&c[i], &res, ++*tap);
		else
			failed += print_row(&c[i], &res);
	}
	if (!rc)
		launch_free(&l);
	return failed;
}

/* ---- parallel launches ---- */

/*
 * @n processes each launch a @mib one-region enclave at the same moment,
 * @reps rounds. Memory is faulted in once, one process after the other,
 * before the first round. Return: rounds run; @total and @per_launch
 * (mean of the processes) per round.
 */
static int run_parallel(int n, unsigned long mib, int reps, int dev,
			double *total, double *per_launch)
{
	struct bench_case c = { STYLE_ONE_REGION, ORDER_ANY, mib, false };
	int go[MAX_LIST][2], done[2], r, i, status, rounds = 0;
	pid_t pid[MAX_LIST];
	double *shared, t0;
	char b;

	shared = mmap(NULL, sizeof(double) * MAX_REPS * MAX_LIST,
		      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED || pipe(done))
		return 0;

	/* One start pipe per child: each reads only its own go byte. */
	for (i = 0; i < n; i++) {
		if (pipe(go[i]))
			return 0;
		pid[i] = fork();
		if (pid[i] < 0) {
			close(go[i][0]);
			close(go[i][1]);
			n = i;
			reps = 0;
			break;
		}
		if (pid[i] == 0) {
			struct launch l;
			bool ok = !launch_memory(&l, &c);

			b = ok ? 0 : 1;
			if (write(done[1], &b, 1) != 1 || !ok)
				_exit(1);
			for (r = 0; r < reps; r++) {
				if (read(go[i][0], &b, 1) != 1 || b)
					break;
				l.err = 0;
				t0 = now_ms();
				launch_run(&l, dev);
				shared[r * MAX_LIST + i] = now_ms() - t0;
				b = l.err ? 1 : 0;
				if (write(done[1], &b, 1) != 1)
					break;
			}
			launch_free(&l);
			_exit(0);
		}
		/* One at a time: this child's memory is faulted in first. */
		if (read(done[0], &b, 1) != 1 || b) {
			n = i + 1;
			reps = 0;
			break;
		}
	}

	for (r = 0; r < reps; r++) {
		bool failed = false;

		b = 0;
		t0 = now_ms();
		for (i = 0; i < n; i++)
			if (write(go[i][1], &b, 1) != 1)
				failed = true;
		for (i = 0; i < n; i++)
			if (read(done[0], &b, 1) != 1 || b)
				failed = true;
		total[r] = now_ms() - t0;
		if (failed)
			break;
		per_launch[r] = 0;
		for (i = 0; i < n; i++)
			per_launch[r] += shared[r * MAX_LIST + i] / n;
		rounds++;
	}
	/* Stop the children: a non-zero byte ends their loop. */
	b = 1;
	for (i = 0; i < n; i++) {
		if (write(go[i][1], &b, 1) != 1)
			kill(pid[i], SIGKILL);
		waitpid(pid[i], &status, 0);
		close(go[i][0]);
		close(go[i][1]);
	}
	close(done[0]);
	close(done[1]);
	munmap(shared, sizeof(double) * MAX_REPS * MAX_LIST);
	return rounds;
}

/* ---- side by side with another driver ---- */

#define NE_MODULE		"nitro_enclaves"
#define NE_CPUS_PARAM		"/sys/module/" NE_MODULE "/parameters/ne_cpus"
#define NR_DRIVERS		2

/*
 * Load the module at @path and give it the CPU pool @cpus. Return: 0 or
 * -errno (nothing stays loaded then).
 */
static int drv_load(const char *path, const char *cpus)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		rc = -errno;
	close(fd);
	if (rc)
		return rc;
	rc = write_str(NE_CPUS_PARAM, cpus);
	if (rc)
		syscall(SYS_delete_module, NE_MODULE, O_NONBLOCK);
	return rc;
}

static int drv_unload(void)
{
	return syscall(SYS_delete_module, NE_MODULE, O_NONBLOCK) ? -errno : 0;
}

/*
 * Where the reply interrupt is handled decides how a command waiter wakes
 * up: on its own CPU, or through an IPI from another one, which under TCG
 * costs a host thread wake-up per command. Which CPU a freshly loaded
 * driver's vectors land on is chance, so the comparison fixes it: the
 * bench runs on @bench_cpu and every MSI-X vector of the NE device is
 * steered there. Return: 0 or -errno.
 */
static int bench_cpu = -1;

static int steer_irqs(void)
{
	char bdf[64], path[320], cpu[16];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (bench_cpu < 0)
		return 0;
	if (ne_tb_find(bdf, sizeof(bdf)))
		return -ENODEV;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/msi_irqs", bdf);
	d = opendir(path);
	if (!d)
		return -errno;
	snprintf(cpu, sizeof(cpu), "%d", bench_cpu);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/irq/%s/smp_affinity_list",
			 de->d_name);
		if (write_str(path, cpu))
			rc = -EIO;
	}
	closedir(d);
	return rc;
}

/* Run on the lowest online CPU from now on; remember it for steer_irqs(). */
static int pin_bench(void)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set); cpu++)
		;
	if (cpu == CPU_SETSIZE)
		return -ENODEV;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -errno;
	bench_cpu = cpu;
	return 0;
}

/*
 * One launch of @l with the driver at @path loaded for it alone.
 *
 * The test BAR is not mapped while a driver is loaded: Linux's driver
 * claims all the device's BARs exclusively, which revokes user mappings
 * of them. Its counters are read before the load and after the unload.
 */
static void drv_launch(const char *path, const char *cpus, struct launch *l)
{
	struct ne_tb_counters before, after;
	bool counted = have_tb;
	unsigned int i;
	int dev, rc;

	l->err = 0;
	memset(l->ms, 0, sizeof(l->ms));
	memset(l->cmd, 0, sizeof(l->cmd));
	if (counted) {
		ne_tb_counters(&tb, &before);
		ne_tb_close(&tb);
		have_tb = false;
	}
	rc = drv_load(path, cpus);
	if (rc) {
		l->err = rc;
		l->err_step = "load the module";
		goto reopen;
	}
	rc = steer_irqs();
	if (rc) {
		drv_unload();
		l->err = rc;
		l->err_step = "steer the device's interrupts";
		goto reopen;
	}
	dev = open(NE_DEV, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		l->err = -errno;
		l->err_step = "open " NE_DEV;
	} else {
		launch_run(l, dev);
		close(dev);
	}
	rc = drv_unload();
	if (rc && !l->err) {
		l->err = rc;
		l->err_step = "unload the module";
	}
reopen:
	if (counted && ne_tb_open(&tb) == 0) {
		have_tb = true;
		ne_tb_counters(&tb, &after);
		for (i = 0; i < NE_TB_NR_CMD_TYPES; i++)
			l->cmd[i] = after.cmd[i] - before.cmd[i];
	}
}

/* Commands of one launch, "ALLOC/ADD_MEM/ADD_VCPU/START/STOP/FREE/INFO". */
static void cmd_string(const struct case_result *res, char *buf, size_t len)
{
	if (!have_tb) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%u/%u/%u/%u/%u/%u/%u", res->cmd_max[CMD_SLOT_ALLOC],
		 res->cmd_max[CMD_SLOT_ADD_MEM], res->cmd_max[CMD_SLOT_ADD_VCPU],
		 res->cmd_max[CMD_ENCLAVE_START], res->cmd_max[CMD_ENCLAVE_STOP],
		 res->cmd_max[CMD_SLOT_FREE], res->cmd_max[CMD_SLOT_INFO]);
}

/*
 * Paired comparison of phase @ph (NR_PHASES: memory+start) over the reps
 * both drivers ran: the medians of the per-rep ratios @b / @a and of the
 * per-rep differences (ms). Pairing cancels the host's slow swings.
 */
struct paired {
	double ratio, diff;
};

static struct paired pair_stats(const struct case_result *a,
				const struct case_result *b, int ph)
{
	double ratio[MAX_REPS], diff[MAX_REPS];
	struct paired p;
	int r, n = a->reps < b->reps ? a->reps : b->reps;

	for (r = 0; r < n; r++) {
		ratio[r] = a->ms[ph][r] > 0 ? b->ms[ph][r] / a->ms[ph][r] : 1;
		diff[r] = b->ms[ph][r] - a->ms[ph][r];
	}
	p.ratio = stats(ratio, n).med;
	p.diff = stats(diff, n).med;
	return p;
}

/* More than 20% and more than 0.5 ms above. */
static bool above(double ours, double base)
{
	return ours > base * 1.2 && ours - base > 0.5;
}

/*
 * Whether the second driver is slower than the first beyond noise. Noise
 * on a loaded TCG host only ever adds time, and comparing a driver with
 * itself this way gave paired median ratios from 0.88 to 1.43 over 15
 * reps, so one statistic alone is not enough: slower means above both at
 * best (the fastest reps) and at the median. One lucky rep of the other
 * driver made a run fail at best alone (2.44 vs 1.82 ms at best, 2.90 vs
 * 2.96 at the median, paired ratio 1.03).
 */
static bool slower(struct stat2 ours, struct stat2 base)
{
	return above(ours.min, base.min) && above(ours.med, base.med);
}

/*
 * Run case @c @reps times with each driver of @path on one set of memory,
 * alternating which driver goes first, and print a row (or, with @tap, a
 * TAP line: the second driver no slower than the first in memory+start
 * and close). Return: 1 if the case failed, else 0.
 */
static int compare_case(const struct bench_case *c, const char *const *path,
			const char *cpus, int reps, int *tap)
{
	struct case_result res[NR_DRIVERS];
	struct stat2 ms[NR_DRIVERS], cl[NR_DRIVERS];
	struct paired pms, pcl;
	char name[64], cmds[NR_DRIVERS][40];
	struct launch l;
	int r, k, d;

	memset(res, 0, sizeof(res));
	case_name(c, name, sizeof(name));
	if ((c->style != STYLE_1G && pool_prepare(c->order, c->mib * MIB / SZ_2M)) ||
	    launch_memory(&l, c)) {
		res[0].err = -ENOMEM;
		res[0].err_step = "hugepages";
		goto print;
	}
	for (r = 0; r < reps && !res[0].err && !res[1].err; r++) {
		for (k = 0; k < NR_DRIVERS; k++) {
			d = r % 2 ? NR_DRIVERS - 1 - k : k;
			drv_launch(path[d], cpus, &l);
			result_add(&res[d], &l);
		}
	}
	launch_free(&l);

print:
	for (d = 0; d < NR_DRIVERS; d++) {
		if (res[d].err) {
			if (tap)
				printf("not ok %d %s %lu MiB: driver %d: %s: %s\n",
				       ++*tap, name, c->mib, d + 1,
				       res[d].err_step, strerror(-res[d].err));
			else
				printf("%-24s %5lu  not run: driver %d: %s: %s\n",
				       name, c->mib, d + 1, res[d].err_step,
				       strerror(-res[d].err));
			return 1;
		}
		ms[d] = stats(res[d].ms[NR_PHASES], res[d].reps);
		cl[d] = stats(res[d].ms[PH_CLOSE], res[d].reps);
		cmd_string(&res[d], cmds[d], sizeof(cmds[d]));
	}
	pms = pair_stats(&res[0], &res[1], NR_PHASES);
	pcl = pair_stats(&res[0], &res[1], PH_CLOSE);
	if (tap) {
		bool bad = slower(ms[1], ms[0]);

		printf("%s %d %s %lu MiB: memory+start at best %.2f vs %.2f ms (median %.2f vs %.2f, paired ratio %.2f); close %.2f vs %.2f ms\n",
		       bad ? "not ok" : "ok", ++*tap, name, c->mib, ms[1].min,
		       ms[0].min, ms[1].med, ms[0].med, pms.ratio, cl[1].med,
		       cl[0].med);
		return bad;
	}
	printf("%-24s %5lu %7ld %19s %19s %7.2f %7.2f %5.2f %5.2f %7.2f %7.2f %5.2f\n",
	       name, c->mib, res[0].extents_max, cmds[0], cmds[1], ms[0].med,
	       ms[1].med, pms.ratio, ms[1].min / ms[0].min, cl[0].med,
	       cl[1].med, pcl.ratio);
	return 0;
}

/*
 * ne_bench --compare BASE.ko,THIS.ko --cpus LIST: the same launches with
 * two drivers, loaded in turn. In check mode only the like-with-like
 * cases, where both drivers can send the same commands: one ioctl per
 * page on the pool as allocated (descending), one region on a sorted one.
 */
static int compare_mode(const char *const *path, const char *cpus,
			const unsigned long *sizes, int nsizes, int reps,
			bool check)
{
	static const struct bench_case all[] = {
		{ STYLE_NITRO_CLI, ORDER_DESC, 0, false },
		{ STYLE_ONE_REGION, ORDER_ASC, 0, false },
		/* Not like with like: only the first two are checked. */
		{ STYLE_NITRO_CLI, ORDER_ASC, 0, false },
		{ STYLE_ONE_REGION, ORDER_DESC, 0, false },
	};
	int ncases = check ? 2 : ARRAY_SIZE(all), tap = 0, failed = 0, i, s;

	if (access(NE_CPUS_PARAM, F_OK) == 0) {
		printf("%sne_bench: %s is loaded already; --compare loads each driver itself\n",
		       check ? "1..0 # SKIP " : "", NE_MODULE);
		return check ? 4 : 1;
	}
	/* The pool CPUs go offline at each load: pick among the others. */
	if (pin_bench()) {
		printf("%sne_bench: cannot pin to a CPU: %s\n",
		       check ? "1..0 # SKIP " : "", strerror(errno));
		return check ? 4 : 1;
	}
	if (check) {
		printf("TAP version 13\n1..%d\n", nsizes * 2);
	} else {
		printf("# ne_bench --compare: driver 1 %s, driver 2 %s; %d reps each, alternating which goes first\n",
		       path[0], path[1], reps);
		printf("# the bench and the device's interrupts on CPU %d\n",
		       bench_cpu);
		printf("# m+s: memory + start, close: ms, medians; ratio: median over the reps of\n"
		       "# driver 2 / driver 1, each rep running both back to back; best: ratio of the\n"
		       "# fastest reps (lower is better)\n");
		printf("# commands per launch: ALLOC/ADD_MEM/ADD_VCPU/START/STOP/FREE/INFO\n");
		printf("%-24s %5s %7s %19s %19s %7s %7s %5s %5s %7s %7s %5s\n", "case",
		       "MiB", "extents", "commands 1", "commands 2", "m+s 1",
		       "m+s 2", "ratio", "best", "close 1", "close 2", "ratio");
	}
	for (i = 0; i < nsizes; i++) {
		for (s = 0; s < ncases; s++) {
			struct bench_case c = all[s];

			c.mib = sizes[i];
			failed += compare_case(&c, path, cpus, reps,
					       check ? &tap : NULL);
		}
	}
	return failed ? 1 : 0;
}

/* ---- main ---- */

#define TRACEFS			"/sys/kernel/tracing"
#define KMEM_MAX_PTRS		65536

/* Net bytes allocated by the events in the trace buffer. */
struct kmem_net {
	long kmalloc;
	long pages;
};

static int trace_set(const char *file, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	return write_str(path, val);
}

/* Empty the trace buffer: opening "trace" with O_TRUNC does; a write does not. */
static int trace_clear(void)
{
	int fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int kmem_trace(bool on)
{
	static const char *const ev[] = {
		"events/kmem/kmalloc/enable", "events/kmem/kfree/enable",
		"events/kmem/mm_page_alloc/enable",
		"events/kmem/mm_page_free/enable",
	};
	char pid[32];
	unsigned int i;
	int rc = 0;

	if (on) {
		snprintf(pid, sizeof(pid), "%d", getpid());
		rc |= trace_set("tracing_on", "0");
		rc |= trace_set("set_event_pid", pid);
		rc |= trace_set("options/hash-ptr", "0");
		rc |= trace_set("buffer_size_kb", "8192");
		rc |= trace_clear();
	}
	for (i = 0; i < ARRAY_SIZE(ev); i++)
		rc |= trace_set(ev[i], on ? "1" : "0");
	rc |= trace_set("tracing_on", on ? "1" : "0");
	return rc;
}

/* Allocations still live in the trace so far, by pointer or by pfn. */
struct kmem_live {
	unsigned long key[KMEM_MAX_PTRS];
	long bytes[KMEM_MAX_PTRS];
	int n;
};

/* Record an allocation. Return: its size, or 0 if the table is full. */
static long kmem_alloc(struct kmem_live *l, unsigned long key, long bytes)
{
	if (l->n >= KMEM_MAX_PTRS)
		return 0;
	l->key[l->n] = key;
	l->bytes[l->n++] = bytes;
	return bytes;
}

/* Match a free with its live allocation. Return: its size, or 0. */
static long kmem_free(struct kmem_live *l, unsigned long key)
{
	long bytes;
	int i;

	/* Newest first: a free usually follows its allocation closely. */
	for (i = l->n - 1; i >= 0; i--) {
		if (l->key[i] == key && l->bytes[i]) {
			bytes = l->bytes[i];
			l->bytes[i] = 0;
			return bytes;
		}
	}
	return 0;
}

/* Net of the allocations and frees since kmem_trace(true). */
static int kmem_collect(struct kmem_net *net)
{
	static struct kmem_live objs, pages;
	unsigned long p;
	char line[512];
	int order;
	long b;
	FILE *f;

	f = fopen(TRACEFS "/trace", "r");
	if (!f)
		return -errno;
	memset(net, 0, sizeof(*net));
	objs.n = 0;
	pages.n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *k = strstr(line, " kmalloc: "), *fr = strstr(line, " kfree: ");
		char *pa = strstr(line, " mm_page_alloc: ");
		char *pf = strstr(line, " mm_page_free: ");
		char *x;

		if (k && (x = strstr(k, " ptr=")) &&
		    sscanf(x, " ptr=%lx", &p) == 1 &&
		    (x = strstr(k, " bytes_alloc=")) &&
		    sscanf(x, " bytes_alloc=%ld", &b) == 1)
			net->kmalloc += kmem_alloc(&objs, p, b);
		else if (fr && (x = strstr(fr, " ptr=")) &&
			 sscanf(x, " ptr=%lx", &p) == 1)
			net->kmalloc -= kmem_free(&objs, p);
		else if (pa && (x = strstr(pa, " pfn=")) &&
			 sscanf(x, " pfn=%lx order=%d", &p, &order) == 2)
			net->pages += kmem_alloc(&pages, p, 4096L << order);
		else if (pf && (x = strstr(pf, " pfn=")) &&
			 sscanf(x, " pfn=%lx", &p) == 1)
			net->pages -= kmem_free(&pages, p);
	}
	fclose(f);
	return 0;
}

/*
 * Register @gib GiB of @pagesz hugepages (faulted in first) in a new
 * enclave, one region, and print what the driver kept for it: once
 * registered, and once the enclave runs (2 vCPUs added, started).
 */
static int kmem_case(int dev, size_t pagesz, unsigned long gib)
{
	struct ne_user_memory_region mem = { .flags = NE_DEFAULT_MEMORY_REGION };
	struct ne_enclave_start_info start = { 0 };
	const char *name = pagesz == SZ_1G ? "1 GiB" : "2 MiB";
	size_t len = gib * SZ_1G, off;
	struct kmem_net reg, run;
	uint64_t uid = 0;
	uint32_t vcpu;
	int efd, rc, i;
	char *p;

	p = map_huge(len, pagesz);
	if (!p) {
		printf("%-6s %4lu GiB  not run (no %s hugepages)\n", name, gib,
		       pagesz == SZ_1G ? "1G" : "2M");
		return 0;
	}
	for (off = 0; off < len; off += pagesz)
		p[off] = 1;
	efd = ioctl(dev, NE_CREATE_VM, &uid);
	if (efd < 0) {
		rc = -errno;
		goto unmap;
	}
	mem.userspace_addr = (uintptr_t)p;
	mem.memory_size = len;
	rc = kmem_trace(true);
	if (!rc)
		rc = ioctl(efd, NE_SET_USER_MEMORY_REGION, &mem) ? -errno : 0;
	/* Reading the buffer allocates too: not while recording. */
	if (!rc)
		rc = trace_set("tracing_on", "0");
	if (!rc)
		rc = kmem_collect(&reg);
	if (!rc)
		rc = trace_set("tracing_on", "1");
	for (i = 0; !rc && i < NR_VCPUS; i++) {
		vcpu = 0;
		rc = ioctl(efd, NE_ADD_VCPU, &vcpu) ? -errno : 0;
	}
	if (!rc)
		rc = ioctl(efd, NE_START_ENCLAVE, &start) ? -errno : 0;
	kmem_trace(false);
	if (!rc)
		rc = kmem_collect(&run);
	if (!rc)
		printf("%-6s %4lu GiB %12ld %12ld %12ld %12ld\n", name, gib,
		       reg.kmalloc / (long)gib, reg.pages / (long)gib,
		       run.kmalloc / (long)gib, run.pages / (long)gib);
	close(efd);
unmap:
	munmap(p, len);
	if (rc)
		printf("# kmem: %s pages: %s\n", name, strerror(-rc));
	return rc ? 1 : 0;
}

static int kmem_mode(int dev)
{
	long gib2m = read_long(HP_2M_DIR "/free_hugepages") * SZ_2M / SZ_1G;
	long gib1g = read_long(HP_1G_DIR "/free_hugepages");
	int rc = 0;

	if (access(TRACEFS "/trace", F_OK) &&
	    mount("nodev", TRACEFS, "tracefs", 0, NULL)) {
		printf("# kmem: no tracefs at %s: %s\n", TRACEFS, strerror(errno));
		return 1;
	}
	printf("# kernel memory a driver keeps per GiB of enclave memory, in bytes: net of the\n"
	       "# kmalloc/kfree and page alloc/free events of this process from the region's\n"
	       "# registration on (pages: vmalloc, large kmalloc and new slabs; a kmalloc of more\n"
	       "# than 8 KiB shows in both columns)\n");
	printf("%-6s %8s %12s %12s %12s %12s\n", "pages", "region", "reg-kmalloc",
	       "reg-pages", "run-kmalloc", "run-pages");
	if (gib2m >= 2)
		rc |= kmem_case(dev, SZ_2M, gib2m > 4 ? 4 : gib2m - 1);
	if (gib1g >= 1)
		rc |= kmem_case(dev, SZ_1G, gib1g > 2 ? 2 : gib1g);
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ne_bench [--sizes MIB,...] [--reps N] [--parallel N,...] [--parallel-mib MIB] [--no-legacy] [--parallel-only]\n"
		"       ne_bench --check [--pool-as-is] [--sizes MIB,...]\n"
		"       ne_bench --kmem\n"
		"       ne_bench --compare BASE.ko,THIS.ko --cpus LIST [--check] [--sizes MIB,...] [--reps N]\n");
	exit(2);
}

static int check_mode(const unsigned long *sizes, int nsizes, int dev,
		      bool as_is)
{
	static const struct bench_case styles[] = {
		{ STYLE_NITRO_CLI, ORDER_DESC, 0, false },
		{ STYLE_NITRO_CLI, ORDER_ASC, 0, false },
		{ STYLE_ONE_REGION, ORDER_DESC, 0, false },
		{ STYLE_ONE_REGION, ORDER_ASC, 0, false },
	};
	static const struct bench_case pool_as_is[] = {
		{ STYLE_NITRO_CLI, ORDER_ANY, 0, false },
	};
	const struct bench_case *cases = as_is ? pool_as_is : styles;
	int ncases = as_is ? ARRAY_SIZE(pool_as_is) : ARRAY_SIZE(styles);
	int n = 0, failed = 0, s, i;

	printf("TAP version 13\n1..%d\n", nsizes * ncases);
	for (i = 0; i < nsizes; i++) {
		for (s = 0; s < ncases; s++) {
			struct bench_case c = cases[s];

			c.mib = sizes[i];
			failed += run_group(&c, 1, 1, dev, true, &n);
		}
	}
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "parallel-mib", required_argument, NULL, 'm' },
		{ "no-legacy", no_argument, NULL, 'L' },
		{ "parallel-only", no_argument, NULL, 'P' },
		{ "check", no_argument, NULL, 'c' },
		{ "pool-as-is", no_argument, NULL, 'A' },
		{ "kmem", no_argument, NULL, 'k' },
		{ "compare", required_argument, NULL, 'C' },
		{ "cpus", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long sizes[MAX_LIST] = { 512, 2048 };
	unsigned long par[MAX_LIST] = { 1, 2, 4 };
	unsigned long par_mib = 512;
	int nsizes = 2, npar = 3, reps = 3;
	bool legacy = true, check = false, cases = true, kmem = false;
	bool as_is = false;
	const char *drivers[NR_DRIVERS] = { NULL, NULL }, *cpus = NULL;
	char *comma;
	int dev, opt, i, j, rc = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			nsizes = parse_list(optarg, sizes, MAX_LIST);
			if (nsizes <= 0)
				usage();
			break;
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > MAX_REPS)
				usage();
			break;
		case 'p':
			npar = parse_list(optarg, par, MAX_LIST);
			if (npar < 0)
				usage();
			break;
		case 'm':
			par_mib = strtoul(optarg, NULL, 10);
			break;
		case 'L':
			legacy = false;
			break;
		case 'P':
			cases = false;
			break;
		case 'c':
			check = true;
			break;
		case 'A':
			as_is = true;
			break;
		case 'k':
			kmem = true;
			break;
		case 'C':
			comma = strchr(optarg, ',');
			if (!comma || comma == optarg || !comma[1])
				usage();
			*comma = '\0';
			drivers[0] = optarg;
			drivers[1] = comma + 1;
			break;
		case 'u':
			cpus = optarg;
			break;
		default:
			usage();
		}
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (drivers[0]) {
		if (!cpus || pagemap_fd < 0)
			usage();
		have_tb = ne_tb_open(&tb) == 0;
		return compare_mode(drivers, cpus, sizes, nsizes, reps, check);
	}
	dev = open(NE_DEV, O_RDWR | O_CLOEXEC);
	if (dev < 0 || pagemap_fd < 0) {
		printf("%sne_bench: cannot open %s or pagemap: %s\n",
		       check ? "1..0 # SKIP " : "", NE_DEV, strerror(errno));
		return check ? 4 : 1;
	}
	have_tb = ne_tb_open(&tb) == 0;

	if (check)
		return check_mode(sizes, nsizes, dev, as_is);
	if (kmem)
		return kmem_mode(dev);

	printf("# ne_bench: %d reps per case; times in ms as median/min; commands per launch (max over reps)\n",
	       reps);
	printf("# extents: physically contiguous runs of the memory in registration order (pagemap)\n");
	printf("# hugepages free: 2M %ld, 1G %ld; legacy_per_page_mem %s\n",
	       read_long(HP_2M_DIR "/free_hugepages"),
	       read_long(HP_1G_DIR "/free_hugepages"),
	       access(LEGACY_PARAM, F_OK) ? "absent" : "present");
	if (cases)
		print_header();
	for (i = 0; cases && i < nsizes; i++) {
		const struct bench_case groups[][2] = {
			{ { STYLE_NITRO_CLI, ORDER_DESC, sizes[i], false } },
			{ { STYLE_ONE_REGION, ORDER_DESC, sizes[i], false } },
			{ { STYLE_NITRO_CLI, ORDER_ASC, sizes[i], false },
			  { STYLE_NITRO_CLI, ORDER_ASC, sizes[i], true } },
			{ { STYLE_ONE_REGION, ORDER_ASC, sizes[i], false } },
			{ { STYLE_1G, ORDER_ANY, sizes[i], false } },
		};
		int n;

		for (j = 0; j < (int)ARRAY_SIZE(groups); j++) {
			n = groups[j][1].mib && legacy ? 2 : 1;
			if (run_group(groups[j], n, reps, dev, false, NULL))
				rc = 1;
		}
	}

	printf("\n%-28s %5s %15s %15s\n", "parallel one-region", "MiB",
	       "total", "per-launch");
	for (i = 0; i < npar; i++) {
		double total[MAX_REPS], per[MAX_REPS];
		struct stat2 st, sp;
		int ok = 0;

		if (par[i] < 1 || par[i] > MAX_LIST)
			continue;
		if (!pool_prepare(ORDER_ASC, par[i] * par_mib * MIB / SZ_2M))
			ok = run_parallel(par[i], par_mib, reps, dev, total, per);
		if (!ok) {
			printf("N=%-26lu %5lu  not run (launch failed)\n", par[i],
			       par_mib);
			rc = 1;
			continue;
		}
		st = stats(total, ok);
		sp = stats(per, ok);
		printf("N=%-26lu %5lu %7.1f/%7.1f %7.1f/%7.1f%s\n", par[i],
		       par_mib, st.med, st.min, sp.med, sp.min,
		       ok < reps ? "  (a round failed)" : "");
	}

	return rc;
}
