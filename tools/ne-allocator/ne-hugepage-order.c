// SPDX-License-Identifier: GPL-2.0
/*
 * ne-hugepage-order - put a NUMA node's free hugepages in ascending
 * physical order, for nitro-enclaves-allocator.
 *
 *   ne-hugepage-order [--dry-run] NODE SIZE_KB
 *
 * The kernel keeps one free list per hugepage size and node, and hands
 * pages out from its head; a freed page goes back to the head (Linux 6.1,
 * mm/hugetlb.c: enqueue_huge_page() list_move()s to the head,
 * dequeue_huge_page_node_exact() takes the first usable entry). A pool
 * freshly grown through nr_hugepages hands out descending addresses, so a
 * launcher that maps one hugepage per region (as nitro-cli does) gets no
 * two pages the driver can merge.
 *
 * This helper takes every free page of that size on NODE (one mapping,
 * bound to the node, faulted in page by page), reads each page's frame
 * from /proc/self/pagemap, and unmaps them one by one from the highest
 * address down: the lowest page is freed last, so it is at the head of
 * the list, and the next allocations come out ascending. It prints how
 * many pages it ordered and how many physically contiguous runs they form
 * (the fewest ranges a launch of all of them can be sent in).
 *
 * --dry-run maps nothing: it prints the number of free pages only.
 *
 * Exit status: 0 done, 1 failed (nothing is left mapped: the pages are
 * free again, in whatever order was reached), 2 bad usage. Needs root
 * (pagemap shows frames only to CAP_SYS_ADMIN).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SYSFS_NODE	"/sys/devices/system/node"
#define PAGEMAP		"/proc/self/pagemap"
#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT	26
#endif
#define MPOL_BIND_MODE	2		/* MPOL_BIND, <linux/mempolicy.h> */
#define MAX_NODES	1024

struct hp {
	uint64_t pfn;
	char *addr;
};

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

static void usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: ne-hugepage-order [--dry-run] NODE SIZE_KB\n"
		"Reorders the free SIZE_KB hugepages of NUMA node NODE so that they are\n"
		"handed out in ascending physical order (see nitro-enclaves-allocator).\n");
	exit(rc);
}

static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

static long read_count(const char *path)
{
	char buf[32] = "";
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* Bind this process's future allocations to @node. Return: 0 or -errno. */
static int bind_node(unsigned long node)
{
	unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
	const unsigned long bits = 8 * sizeof(unsigned long);

	if (node >= MAX_NODES)
		return -EINVAL;
	mask[node / bits] = 1UL << (node % bits);
	if (syscall(SYS_set_mempolicy, MPOL_BIND_MODE, mask, MAX_NODES + 1))
		return -errno;
	return 0;
}

/* Physical frame of the page mapped at @addr, or 0 if not known. */
static uint64_t frame_of(int pagemap, const void *addr)
{
	off_t off = (off_t)((uintptr_t)addr / (uintptr_t)sysconf(_SC_PAGESIZE)) * 8;
	uint64_t e = 0;

	if (pread(pagemap, &e, sizeof(e), off) != (ssize_t)sizeof(e))
		return 0;
	return e & PM_PRESENT ? e & PM_PFN_MASK : 0;
}

static int cmp_frame(const void *a, const void *b)
{
	const struct hp *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/*
 * Fault in the @nr pages of @size bytes at @base, recording their frames
 * in @hp. Return: pages faulted in (all of them, or fewer if the kernel
 * had no page left on the node: SIGBUS).
 */
static unsigned long fault_in(char *base, unsigned long nr, size_t size,
			      int pagemap, struct hp *hp)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	volatile unsigned long i = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1) == 0) {
		for (; i < nr; i++) {
			hp[i].addr = base + i * size;
			*(volatile char *)hp[i].addr = 0;
			hp[i].pfn = frame_of(pagemap, hp[i].addr);
		}
	}
	sigaction(SIGBUS, &old, NULL);
	return i;
}

/* Runs of physically contiguous pages in @hp[0..@nr), sorted. */
static unsigned long count_runs(const struct hp *hp, unsigned long nr,
				size_t size)
{
	uint64_t step = size / (uint64_t)sysconf(_SC_PAGESIZE);
	unsigned long i, runs = nr ? 1 : 0;

	for (i = 1; i < nr; i++)
		if (hp[i].pfn != hp[i - 1].pfn + step)
			runs++;
	return runs;
}

static int order_pages(unsigned long node, unsigned long size_kb, long nr)
{
	size_t size = (size_t)size_kb << 10;
	unsigned long got, i, shift = 0;
	struct hp *hp;
	int pagemap, rc;
	char *base;

	while ((1UL << shift) < size)
		shift++;
	pagemap = open(PAGEMAP, O_RDONLY | O_CLOEXEC);
	if (pagemap < 0) {
		fprintf(stderr, "ne-hugepage-order: %s: %s\n", PAGEMAP, strerror(errno));
		return 1;
	}
	rc = bind_node(node);
	if (rc) {
		fprintf(stderr, "ne-hugepage-order: cannot bind to node %lu: %s\n",
			node, strerror(-rc));
		return 1;
	}
	hp = calloc(nr, sizeof(*hp));
	base = mmap(NULL, nr * size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
		    (int)(shift << MAP_HUGE_SHIFT), -1, 0);
	if (!hp || base == MAP_FAILED) {
		fprintf(stderr, "ne-hugepage-order: cannot map %ld pages of %lu kB: %s (pages reserved by other mappings cannot be ordered)\n",
			nr, size_kb, strerror(errno));
		free(hp);
		return 1;
	}

	got = fault_in(base, nr, size, pagemap, hp);
	rc = 0;
	for (i = 0; i < got && !rc; i++)
		if (!hp[i].pfn)
			rc = 1;
	if (got < (unsigned long)nr || rc) {
		fprintf(stderr, "ne-hugepage-order: %s\n", rc ?
			"no page frames in " PAGEMAP " (run as root)" :
			"the node ran out of free pages while they were taken");
		munmap(base, nr * size);
		free(hp);
		return 1;
	}

	/* Highest first: the lowest page ends up at the head of the list. */
	qsort(hp, got, sizeof(*hp), cmp_frame);
	for (i = got; i-- > 0;)
		munmap(hp[i].addr, size);

	printf("node %lu: %lu free %lu kB pages ordered lowest first, %lu contiguous run(s)\n",
	       node, got, size_kb, count_runs(hp, got, size));
	free(hp);
	close(pagemap);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long node, size_kb;
	int dry = 0, a = 1;
	char path[256];
	long nr;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		usage(stdout, 0);
	if (argc > 1 && !strcmp(argv[1], "--dry-run")) {
		dry = 1;
		a++;
	}
	if (argc - a != 2 || parse_ulong(argv[a], &node) ||
	    parse_ulong(argv[a + 1], &size_kb) || size_kb < 4 ||
	    (size_kb & (size_kb - 1)))
		usage(stderr, 2);

	snprintf(path, sizeof(path), SYSFS_NODE "/node%lu/hugepages/hugepages-%lukB/free_hugepages",
		 node, size_kb);
	nr = read_count(path);
	if (nr < 0) {
		fprintf(stderr, "ne-hugepage-order: cannot read %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	if (dry || nr == 0) {
		printf("node %lu: %ld free %lu kB pages%s\n", node, nr, size_kb,
		       dry && nr ? " (not ordered: dry run)" : "");
		return 0;
	}
	return order_pages(node, size_kb, nr);
}
