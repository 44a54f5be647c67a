// SPDX-License-Identifier: GPL-2.0
/*
 * ne_fuzz - seeded, reproducible ioctl fuzzer for /dev/nitro_enclaves and
 * enclave fds.
 *
 *   ne_fuzz [--calls N] [--seed S] [--time SEC] [--check-every N] [-v]
 *
 * Issues random sequences of the NE ioctls (and unknown ones) on the device
 * fd and on up to NE_FUZZ_FDS enclave fds, with valid, random and hostile
 * arguments: bad and kernel pointers, huge and zero sizes, unaligned
 * addresses, non-hugetlb and freed (unmapped) memory, random flags, CIDs and
 * vCPU ids, calls from forked children (another mm) and releases from them,
 * polls, dups, and enclave exits through the test BAR when present. The
 * seed is printed first; the same seed and call count replay the same
 * sequence of calls (results may differ only through timing). --calls counts
 * the main loop's calls (ioctls and polls); the forked children's calls are
 * counted apart, through a shared counter, and reported beside it.
 *
 * Invariants, checked as it goes: an ioctl returns 0 or -1 (or an fd for
 * NE_CREATE_VM); an error is one the ABI documents (no ETIMEDOUT, ...);
 * obviously invalid arguments never succeed; every --check-every calls and
 * at the end, with every enclave closed and every mapping gone, hugepages,
 * online CPUs, the pool and the device's slots/vCPUs/memory are back to
 * their values at start. Prints TAP (1 result); exit 0 if clean.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NE_FUZZ_FDS	6
#define NE_FUZZ_MAPS	12
#define NE_FUZZ_CHILDREN 4

static uint64_t rng_state;
static bool verbose;
static unsigned long violations;
static unsigned long calls;
/* Calls made by forked children, added by each child as it exits. */
static unsigned long *child_calls;
static unsigned long errno_hist[512];
static unsigned long ok_hist[8];

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int percent)
{
	return rnd_below(100) < percent;
}

struct map {
	void *addr;
	size_t len;
	bool huge;
	bool freed;	/* unmapped, then kept PROT_NONE so it is never reused */
};

struct fuzz {
	int dev;
	int efd[NE_FUZZ_FDS];
	uint64_t uid[NE_FUZZ_FDS];
	struct map maps[NE_FUZZ_MAPS];
	pid_t children[NE_FUZZ_CHILDREN];
	struct ne_test_bar tb;
	bool have_tb;
	int pool[NE_MAX_CPUS];
	int pool_n;
	struct ne_baseline base;
};

static void violation(const char *fmt, ...)
{
	va_list ap;

	violations++;
	printf("# VIOLATION at call %lu: ", calls);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Errors the NE ABI may return to a fuzzer (no fault injection). */
static bool errno_allowed(int e)
{
	if (e >= NE_ERR_VCPU_ALREADY_USED && e <= NE_ERR_INVALID_ENCLAVE_CID)
		return true;
	static const int allowed[] = {
		EINVAL, EFAULT, ENOMEM, ENOTTY, EBADF, ENOSPC, EPERM, EBUSY,
		EEXIST, E2BIG, ENODEV, EIO, EAGAIN, EINTR, EMFILE, EACCES,
		ENXIO, ERANGE,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(allowed); i++)
		if (e == allowed[i])
			return true;
	return false;
}

/* Account one call's result; return it as 0/fd or -errno. */
static long note(const char *what, long ret, bool must_fail)
{
	int e = ret < 0 ? errno : 0;

	calls++;
	if (ret < 0) {
		errno_hist[e < 512 ? e : 511]++;
		if (!errno_allowed(e))
			violation("%s: unexpected errno %d (%s)", what, e, ne_err_name(e));
		if (verbose)
			printf("# %lu %s -> %s\n", calls, what, ne_err_name(e));
		return -e;
	}
	ok_hist[0]++;
	if (must_fail)
		violation("%s: succeeded (%ld) with invalid arguments", what, ret);
	if (verbose)
		printf("# %lu %s -> %ld\n", calls, what, ret);
	return ret;
}

/* A pointer to the struct, or a hostile one. */
static void *hostile_ptr(void *good, bool *bad)
{
	*bad = true;
	switch (rnd_below(12)) {
	case 0:
		return NULL;
	case 1:
		return (void *)0xffff888000000000ULL;	/* kernel */
	case 2:
		return (void *)0xdead000000000000ULL;	/* non-canonical */
	case 3:
		return (void *)(uintptr_t)(rnd() & 0x7ffffffff000ULL);
	default:
		*bad = false;
		return good;
	}
}

static struct map *pick_map(struct fuzz *f, bool want_live)
{
	int i, start = (int)rnd_below(NE_FUZZ_MAPS);

	for (i = 0; i < NE_FUZZ_MAPS; i++) {
		struct map *m = &f->maps[(start + i) % NE_FUZZ_MAPS];

		if (m->addr && (!want_live || !m->freed))
			return m;
	}
	return NULL;
}

static void op_map(struct fuzz *f)
{
	struct map *m = &f->maps[rnd_below(NE_FUZZ_MAPS)];
	size_t len;

	if (m->addr && !m->freed) {
		/*
		 * Free the memory (pages pinned by an enclave stay pinned
		 * until it is released) but keep the range reserved without
		 * access, so that no later mapping makes the address valid.
		 */
		munmap(m->addr, m->len);
		if (mmap(m->addr, m->len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != m->addr) {
			m->addr = NULL;
			return;
		}
		m->freed = true;
		return;
	}
	if (m->addr)
		munmap(m->addr, m->len);
	m->huge = chance(80);
	/* Mostly small; sometimes the 64 MiB a start needs. */
	len = chance(15) ? NE_MIN_MEM : (1 + rnd_below(4)) * SZ_2M;
	m->addr = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS |
		       (m->huge ? MAP_HUGETLB | MAP_HUGE_2MB : 0), -1, 0);
	if (m->addr == MAP_FAILED) {
		m->addr = NULL;
		return;
	}
	m->len = len;
	m->freed = false;
}

/* An open enclave fd (its index in *@slot), or a stale fd number (-1). */
static int pick_efd(struct fuzz *f, int *slot)
{
	int i, start = (int)rnd_below(NE_FUZZ_FDS);

	if (slot)
		*slot = -1;
	for (i = 0; i < NE_FUZZ_FDS; i++) {
		int s = (start + i) % NE_FUZZ_FDS;

		if (f->efd[s] >= 0) {
			if (slot)
				*slot = s;
			return f->efd[s];
		}
	}
	/* None open: a closed or random fd number. */
	return chance(50) ? 1000 : (int)rnd_below(64);
}

static void op_create(struct fuzz *f)
{
	uint64_t uid = 0;
	bool bad;
	void *p = hostile_ptr(&uid, &bad);
	int s, free_slot = -1;
	long ret;

	for (s = 0; s < NE_FUZZ_FDS; s++)
		if (f->efd[s] < 0)
			free_slot = s;
	if (free_slot < 0)
		return;
	ret = note("NE_CREATE_VM", ioctl(f->dev, NE_CREATE_VM, p), false);
	if (ret >= 0) {
		if (bad)
			violation("NE_CREATE_VM succeeded with uid pointer %p", p);
		f->efd[free_slot] = (int)ret;
		f->uid[free_slot] = uid;
	}
}

static void op_close(struct fuzz *f)
{
	int s;

	pick_efd(f, &s);
	if (s < 0)
		return;
	close(f->efd[s]);
	f->efd[s] = -1;
}

static void op_vcpu(struct fuzz *f)
{
	uint32_t id;
	bool bad;
	void *p;
	int efd = pick_efd(f, NULL);

	switch (rnd_below(5)) {
	case 0:
		id = 0;		/* let the driver pick */
		break;
	case 1:
	case 2:
		id = f->pool_n ? f->pool[rnd_below(f->pool_n)] : 2;
		break;
	case 3:
		id = (uint32_t)rnd_below(8);
		break;
	default:
		id = (uint32_t)rnd();
		break;
	}
	p = hostile_ptr(&id, &bad);
	note("NE_ADD_VCPU", ioctl(efd, NE_ADD_VCPU, p), false);
}

static void op_image(struct fuzz *f)
{
	struct ne_image_load_info info = { .flags = chance(70) ? NE_EIF_IMAGE : rnd() };
	bool bad;
	void *p = hostile_ptr(&info, &bad);
	bool invalid = info.flags != NE_EIF_IMAGE && p == &info;

	note("NE_GET_IMAGE_LOAD_INFO", ioctl(pick_efd(f, NULL), NE_GET_IMAGE_LOAD_INFO, p),
	     invalid);
}

static void op_mem(struct fuzz *f)
{
	struct ne_user_memory_region r = { .flags = NE_DEFAULT_MEMORY_REGION };
	struct map *m = pick_map(f, !chance(15));
	bool bad, invalid = false;
	void *p;

	if (m) {
		r.userspace_addr = (uintptr_t)m->addr;
		r.memory_size = m->len;
		invalid = m->freed || !m->huge;
	} else {
		r.userspace_addr = rnd() & ~(SZ_2M - 1);
		r.memory_size = SZ_2M;
		invalid = true;
	}
	switch (rnd_below(12)) {
	case 0:
		r.userspace_addr += 4096;
		invalid = true;
		break;
	case 1:
		r.memory_size = 0;
		invalid = true;
		break;
	case 2:
		r.memory_size = rnd() | 1;
		invalid = true;
		break;
	case 3:
		r.memory_size = ~0ULL & ~(SZ_2M - 1);
		invalid = true;
		break;
	case 4:
		r.userspace_addr = 0xffff888000000000ULL;
		invalid = true;
		break;
	case 5:
		r.flags = rnd();
		invalid = r.flags >= NE_MEMORY_REGION_MAX_FLAG_VAL;
		break;
	case 6:
		if (m && m->len > SZ_2M)
			r.memory_size = m->len - SZ_2M;
		break;
	default:
		break;
	}
	p = hostile_ptr(&r, &bad);
	if (note("NE_SET_USER_MEMORY_REGION",
		 ioctl(pick_efd(f, NULL), NE_SET_USER_MEMORY_REGION, p),
		 invalid || bad) >= 0 && (invalid || bad))
		printf("# region %#llx + %#llx flags %#llx, struct at %p, map %s%s\n",
		       (unsigned long long)r.userspace_addr,
		       (unsigned long long)r.memory_size, (unsigned long long)r.flags, p,
		       m ? (m->huge ? "hugetlb" : "not hugetlb") : "none",
		       m && m->freed ? ", freed" : "");
}

static void op_start(struct fuzz *f)
{
	struct ne_enclave_start_info si = { 0 };
	bool bad;
	void *p;

	if (chance(30))
		si.flags = rnd_below(3);
	switch (rnd_below(6)) {
	case 0:
		si.enclave_cid = rnd();
		break;
	case 1:
		si.enclave_cid = rnd_below(8);
		break;
	case 2:
		si.enclave_cid = 100 + rnd_below(100000);
		break;
	default:
		break;
	}
	p = hostile_ptr(&si, &bad);
	note("NE_START_ENCLAVE", ioctl(pick_efd(f, NULL), NE_START_ENCLAVE, p), false);
}

static void op_random_ioctl(struct fuzz *f)
{
	static const unsigned long cmds[] = {
		NE_CREATE_VM, NE_ADD_VCPU, NE_GET_IMAGE_LOAD_INFO,
		NE_SET_USER_MEMORY_REGION, NE_START_ENCLAVE,
	};
	unsigned long cmd;
	int fd = chance(50) ? f->dev : pick_efd(f, NULL);
	uint64_t buf[8] = { rnd(), rnd(), rnd(), rnd() };
	bool bad;
	void *p = hostile_ptr(buf, &bad);
	long ret;

	if (chance(50))
		cmd = _IOC(rnd_below(4), 0xAE, 0x20 + rnd_below(16), rnd_below(64));
	else
		cmd = (unsigned long)rnd();
	/* Known commands on the wrong fd only; creating is op_create's job. */
	if (cmd == cmds[0] || (fd != f->dev && (cmd == cmds[1] || cmd == cmds[2] ||
						 cmd == cmds[3] || cmd == cmds[4])))
		return;
	ret = ioctl(fd, cmd, p);
	note("random ioctl", ret, false);
	if (ret >= 0 && fd == f->dev)
		violation("unknown ioctl %#lx on the device fd succeeded", cmd);
}

static void op_poll(struct fuzz *f)
{
	struct pollfd p = { .fd = pick_efd(f, NULL), .events = POLLIN | POLLHUP };

	calls++;
	poll(&p, 1, 0);
}

static void op_exit_slot(struct fuzz *f)
{
	int s;

	if (!f->have_tb)
		return;
	pick_efd(f, &s);
	if (s < 0)
		return;
	ne_tb_exit_slot(&f->tb, f->uid[s]);
}

static void op_dup(struct fuzz *f)
{
	int s, d;

	pick_efd(f, &s);
	if (s < 0)
		return;
	d = dup(f->efd[s]);
	if (d < 0)
		return;
	if (chance(50)) {
		/* Keep the dup, drop the original: the enclave lives on. */
		close(f->efd[s]);
		f->efd[s] = d;
	} else {
		close(d);
	}
}

static void reap_children(struct fuzz *f, bool wait_all)
{
	int i, status;

	for (i = 0; i < NE_FUZZ_CHILDREN; i++) {
		if (f->children[i] <= 0)
			continue;
		if (waitpid(f->children[i], &status, wait_all ? 0 : WNOHANG) > 0) {
			if (!WIFEXITED(status))
				violation("child %d died (status %#x)", f->children[i], status);
			else if (WEXITSTATUS(status))
				violation("child %d found %d violations", f->children[i],
					  WEXITSTATUS(status));
			f->children[i] = 0;
		}
	}
}

/* A forked child (another mm) works on the inherited fds, then exits. */
static void op_fork(struct fuzz *f)
{
	int i, slot = -1, n;
	pid_t pid;

	reap_children(f, false);
	for (i = 0; i < NE_FUZZ_CHILDREN; i++)
		if (f->children[i] <= 0)
			slot = i;
	if (slot < 0)
		return;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		unsigned long before = violations, calls0 = calls;

		rng_state ^= 0x5555;
		for (n = (int)rnd_below(20); n > 0; n--) {
			switch (rnd_below(5)) {
			case 0:
				op_vcpu(f);
				break;
			case 1:
				op_mem(f);
				break;
			case 2:
				op_start(f);
				break;
			case 3:
				op_image(f);
				break;
			default:
				op_poll(f);
				break;
			}
		}
		__atomic_fetch_add(child_calls, calls - calls0, __ATOMIC_RELAXED);
		_exit(violations - before > 250 ? 250 : (int)(violations - before));
	}
	f->children[slot] = pid;
	/* Sometimes the parent lets go first: the child's exit releases. */
	if (chance(30))
		op_close(f);
}

/* Kinds of operation of the main loop, by the range its roll falls in. */
static const char *const op_names[] = {
	"create", "close", "vcpu", "image", "mem", "start", "ioctl", "poll",
	"map", "dup", "exit", "fork",
};

#define NR_OP_KINDS (sizeof(op_names) / sizeof(op_names[0]))

static unsigned long op_n[NR_OP_KINDS];
static unsigned long long op_us[NR_OP_KINDS];

static unsigned int op_kind(unsigned int roll)
{
	static const unsigned char first[NR_OP_KINDS] = {
		0, 10, 16, 28, 36, 52, 62, 78, 84, 90, 93, 95,
	};
	unsigned int k = NR_OP_KINDS - 1;

	while (roll < first[k])
		k--;
	return k;
}

static unsigned long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Close and unmap everything, then compare with the start. */
static void checkpoint(struct fuzz *f)
{
	struct ne_baseline now;
	int i;

	reap_children(f, true);
	for (i = 0; i < NE_FUZZ_FDS; i++) {
		if (f->efd[i] >= 0)
			close(f->efd[i]);
		f->efd[i] = -1;
	}
	for (i = 0; i < NE_FUZZ_MAPS; i++) {
		if (f->maps[i].addr)
			munmap(f->maps[i].addr, f->maps[i].len);
		memset(&f->maps[i], 0, sizeof(f->maps[i]));
	}
	ne_baseline_take(&now, f->have_tb ? &f->tb : NULL);
	if (now.hp2m_free != f->base.hp2m_free)
		violation("2M HugePages_Free %ld, baseline %ld", now.hp2m_free, f->base.hp2m_free);
	if (now.hp1g_free != f->base.hp1g_free)
		violation("1G HugePages_Free %ld, baseline %ld", now.hp1g_free, f->base.hp1g_free);
	if (strcmp(now.online, f->base.online))
		violation("online CPUs %s, baseline %s", now.online, f->base.online);
	if (strcmp(now.pool, f->base.pool))
		violation("ne_cpus %s, baseline %s", now.pool, f->base.pool);
	if (f->have_tb && (now.tb.live_slots != f->base.tb.live_slots ||
			   now.tb.vcpus != f->base.tb.vcpus ||
			   now.tb.mem_bytes != f->base.tb.mem_bytes))
		violation("device holds slots %u vcpus %u mem %llu, baseline %u %u %llu",
			  now.tb.live_slots, now.tb.vcpus,
			  (unsigned long long)now.tb.mem_bytes, f->base.tb.live_slots,
			  f->base.tb.vcpus, (unsigned long long)f->base.tb.mem_bytes);
}

static void usage(const char *prog)
{
	fprintf(stderr, "Usage: %s [--calls N] [--seed S] [--time SEC] [--check-every N] [-v]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long max_calls = 20000, check_every = 5000, next_check;
	uint64_t seed = 0, t0;
	long max_secs = 0;
	bool have_seed = false;
	unsigned long long t_op;
	unsigned int op;
	struct fuzz f;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			max_calls = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0), have_seed = true;
		else if (!strcmp(argv[i], "--time") && i + 1 < argc)
			max_secs = strtol(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--check-every") && i + 1 < argc)
			check_every = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "-v"))
			verbose = true;
		else
			usage(argv[0]);
	}
	if (!have_seed)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (ne_test_skip_reason(0))
		ne_test_skip(ne_test_skip_reason(0));
	if (ne_pool_guard_start(argv[0]))
		ne_test_skip("cannot record ne_cpus before changing it");
	rng_state = seed;

	ksft_print_header();
	ksft_set_plan(1);
	printf("# ne_fuzz: seed %llu, %lu calls, checkpoint every %lu (replay: ne_fuzz --calls %lu --seed %llu)\n",
	       (unsigned long long)seed, max_calls, check_every, max_calls,
	       (unsigned long long)seed);
	fflush(stdout);

	memset(&f, 0, sizeof(f));
	for (i = 0; i < NE_FUZZ_FDS; i++)
		f.efd[i] = -1;
	if (ne_pool_ensure())
		ksft_exit_fail_msg("cannot set up the CPU pool %s\n",
				   ne_pool_default());
	{
		char pool[512];

		if (!ne_pool_get(pool, sizeof(pool)))
			f.pool_n = ne_parse_cpulist(pool, f.pool, NE_MAX_CPUS);
	}
	f.dev = open(NE_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (f.dev < 0)
		ksft_exit_skip("%s: %s\n", NE_DEV_PATH, strerror(errno));
	f.have_tb = ne_tb_open(&f.tb) == 0;
	ne_baseline_take(&f.base, f.have_tb ? &f.tb : NULL);
	signal(SIGPIPE, SIG_IGN);
	child_calls = mmap(NULL, sizeof(*child_calls), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (child_calls == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));

	t0 = ne_now_ms();
	next_check = check_every;
	while (calls < max_calls) {
		if (max_secs && ne_now_ms() - t0 > (uint64_t)max_secs * 1000)
			break;
		op = rnd_below(100);
		t_op = now_us();
		switch (op) {
		case 0 ... 9:
			op_create(&f);
			break;
		case 10 ... 15:
			op_close(&f);
			break;
		case 16 ... 27:
			op_vcpu(&f);
			break;
		case 28 ... 35:
			op_image(&f);
			break;
		case 36 ... 51:
			op_mem(&f);
			break;
		case 52 ... 61:
			op_start(&f);
			break;
		case 62 ... 77:
			op_random_ioctl(&f);
			break;
		case 78 ... 83:
			op_poll(&f);
			break;
		case 84 ... 89:
			op_map(&f);
			break;
		case 90 ... 92:
			op_dup(&f);
			break;
		case 93 ... 94:
			op_exit_slot(&f);
			break;
		default:
			op_fork(&f);
			break;
		}
		op_us[op_kind(op)] += now_us() - t_op;
		op_n[op_kind(op)]++;
		if (calls >= next_check) {
			checkpoint(&f);
			next_check = calls + check_every;
			printf("# %lu calls (+%lu by children), %lu violations, %llu s\n",
			       calls, *child_calls, violations,
			       (unsigned long long)(ne_now_ms() - t0) / 1000);
			fflush(stdout);
		}
	}
	checkpoint(&f);
	printf("# ne_fuzz: seed %llu: %lu calls (+%lu by children) in %llu s, %lu succeeded, %lu violations\n",
	       (unsigned long long)seed, calls, *child_calls,
	       (unsigned long long)(ne_now_ms() - t0) / 1000, ok_hist[0], violations);
	/* Where the time went: slow kinds of operation limit the call rate. */
	printf("# time per operation (count, mean us):");
	for (i = 0; i < (int)NR_OP_KINDS; i++)
		printf(" %s=%lu,%llu", op_names[i], op_n[i],
		       op_n[i] ? (unsigned long long)(op_us[i] / op_n[i]) : 0ULL);
	printf("\n");
	printf("# errors:");
	for (i = 0; i < 512; i++)
		if (errno_hist[i])
			printf(" %s=%lu", ne_err_name(i), errno_hist[i]);
	printf("\n");
	if (f.have_tb)
		ne_tb_close(&f.tb);
	close(f.dev);
	if (violations)
		ksft_test_result_fail("ne_fuzz seed %llu: %lu violations in %lu calls\n",
				      (unsigned long long)seed, violations, calls);
	else
		ksft_test_result_pass("ne_fuzz seed %llu: %lu calls (+%lu by children), invariants held\n",
				      (unsigned long long)seed, calls, *child_calls);
	ksft_finished();
}
