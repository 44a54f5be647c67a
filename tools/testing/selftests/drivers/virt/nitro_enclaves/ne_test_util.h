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
 * Include after kselftest_harness.h (the EXPECT/ASSERT macros use it).
 * The functions are in ne_test_util.c, linked into every program.
 */
#ifndef NE_TEST_UTIL_H
#define NE_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
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

struct __test_metadata;

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

const char *ne_err_name(long err);
long ne_ioctl(int fd, unsigned long cmd, void *arg);

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

int ne_create_vm(int dev, uint64_t *uid);
int ne_add_vcpu(int efd, uint32_t *id);
int ne_add_vcpu_id(int efd, uint32_t id);

/* NE_ADD_VCPU of @cpu on @efd in a thread of its own: ne_add_vcpu_thread(). */
struct ne_vcpu_adder {
	int efd;
	uint32_t cpu;
	int ret;		/* ne_add_vcpu_id()'s result once joined */
};

void *ne_add_vcpu_thread(void *p);
int ne_image_info(int efd, uint64_t flags, uint64_t *offset);
int ne_set_mem(int efd, uint64_t flags, uint64_t addr, uint64_t size);
int ne_add_mem(int efd, void *addr, uint64_t size);
int ne_start(int efd, uint64_t flags, uint64_t *cid);
int ne_poll(int fd, int timeout_ms);
uint64_t ne_now_ms(void);

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

void *ne_waiter_thread(void *p);

/* ---- sysfs ---- */

int ne_read_file(const char *path, char *buf, size_t len);
int ne_write_file(const char *path, const char *s);
long ne_read_long(const char *path);
void ne_chomp(char *s);
int ne_pool_get(char *buf, size_t len);
int ne_pool_set(const char *list);
int ne_pool_set_without_cap(void *list);

/*
 * ---- the admin's pool and NE_TEST_POOL ----
 *
 * By default the tests change neither ne_cpus nor CPU online states: they
 * use the pool that is configured, and a test that would change it skips
 * (NE_NEED_POOL_CHANGE()). NE_TEST_POOL=<cpulist> lets the tests set that
 * pool and change it; then ne_pool_guard_start() records ne_cpus, the
 * online CPUs and cmd_timeout_ms, and puts them back when the program
 * ends: at exit, on SIGINT/SIGTERM/SIGHUP (after killing the running
 * test), and, if the program is killed outright, from a guardian process
 * that waits for every process of the program to go.
 */
const char *ne_test_pool(void);
bool ne_pool_may_change(void);
const char *ne_pool_default(void);
int ne_pool_ensure(void);
int ne_pool_reset(void);
int ne_pool_guard_start(const char *prog);
void ne_pool_guard_exit(void);

#define NE_NEED_POOL_CHANGE() do {					\
	if (!ne_pool_may_change())					\
		SKIP(return, "changes ne_cpus or CPU online states: "	\
		     "set NE_TEST_POOL=<cpulist> to allow it");		\
} while (0)

int ne_parse_cpulist(const char *s, int *cpus, int max);
int ne_cpu_is_online(int cpu);
int ne_nr_cpu_ids(void);
long ne_hp_free(unsigned long pagesz);
long ne_timeout_get(void);
int ne_timeout_set(long ms);
void ne_cpu_set_online(int cpu, int on);

/* ---- PCI removal and rescan of the device ---- */

bool ne_wait_path(const char *path, bool present, int ms);
int ne_pci_remove(const char *bdf);
int ne_pci_rescan(int ms);
int ne_reset_device(const char *bdf, int gone_ms);

/* ---- passing file descriptors over a unix socket ---- */

int ne_send_fd(int sock, int fd);
int ne_recv_fd(int sock);

/* ---- status attributes of the misc device (NE_SYSFS_DIR) ---- */

int ne_attr_get(const char *name, char *buf, size_t len);
long ne_attr_long(const char *name);
bool ne_wait_attr(const char *name, long val, int ms);

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

void ne_baseline_take(struct ne_baseline *b, struct ne_test_bar *tb);

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

void *ne_map_flags(struct ne_maps *m, size_t len, int flags);
void *ne_map_huge(struct ne_maps *m, size_t len, size_t pagesz);
void ne_unmap_all(struct ne_maps *m);

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

int ne_env_setup(struct ne_env *env);
void ne_env_release(struct ne_env *env);
void ne_env_close_tb(struct ne_env *env);
void ne_env_reopen_tb(struct ne_env *env);

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

int ne_env_timeout(struct ne_env *env, long ms);
int ne_make_ready(struct ne_env *env, int efd, size_t mem, int nr_vcpus);
int ne_in_child(int (*fn)(void *), void *arg);

/* Arguments of the ne_child_*() calls that ne_in_child() runs. */
struct ne_child_args {
	int efd;		/* enclave fd, inherited from the parent */
	int sock;		/* socket for SCM_RIGHTS, if any */
	void *mem;		/* a 2 MiB hugetlb page */
	uint32_t vcpu;		/* vCPU id */
};

int ne_child_add_vcpu(void *p);
int ne_child_add_mem(void *p);

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

int ne_kmsg_open(struct ne_kmsg *k);
void ne_kmsg_close(struct ne_kmsg *k);
void ne_kmsg_mark(struct ne_kmsg *k);
int ne_kmsg_find(struct ne_kmsg *k, const char *needle, char *line, size_t len);

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

bool ne_test_listed(const char *only, const char *name);

/* What ne_test_skip_reason() checks besides device, driver, pool, memory. */
#define NE_NEEDS_TB		0x1	/* the test-control BAR */
#define NE_NEEDS_VSOCK		0x2	/* AF_VSOCK sockets */

const char *ne_test_skip_reason(unsigned int needs);

/*
 * ---- in the program itself ----
 *
 * These assert through the harness on the running test, or walk its
 * list of tests. kselftest_harness.h of Linux 6.1 defines global symbols,
 * so only the program (not the library) may include it: these stay here.
 */
#ifdef __KSELFTEST_HARNESS_H

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
/* SIGINT/SIGTERM/SIGHUP: end the running test, put the state back, die. */
static inline void ne_test_on_signal(int sig)
{
	struct __test_metadata *t = __active_test;

	if (t && t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	ne_pool_guard_exit();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * ne_test_skip() - the program's plan "1..0 # SKIP @why", exit 4. For
 * programs not on the harness too.
 */
static inline void ne_test_skip(const char *why)
{
	ksft_print_header();
	ksft_exit_skip("%s\n", why);
}

/*
 * ne_test_main_needs() - the main() of a test binary: skip it (exit 4)
 * when ne_test_skip_reason(@needs) names what is missing; with
 * NE_TEST_POOL, start the guard that puts the pool back; run every test
 * of the harness, or those that NE_TEST_ONLY names.
 */
static inline int ne_test_main_needs(int argc, char **argv,
				     unsigned int needs)
{
	const char *only = getenv("NE_TEST_ONLY");
	const char *why = ne_test_skip_reason(needs);
	int ret;

	if (why)
		ne_test_skip(why);
	ret = ne_pool_guard_start(argv[0]);
	if (ret) {
		ksft_print_header();
		ksft_exit_fail_msg("cannot record ne_cpus before changing it: %s\n",
				   strerror(-ret));
	}
	if (ne_pool_may_change()) {
		signal(SIGINT, ne_test_on_signal);
		signal(SIGTERM, ne_test_on_signal);
		signal(SIGHUP, ne_test_on_signal);
	}
	if (only && *only)
		return ne_test_run_only(only);
	return test_harness_run(argc, argv);
}

static inline int ne_test_main(int argc, char **argv)
{
	return ne_test_main_needs(argc, argv, 0);
}

#endif /* __KSELFTEST_HARNESS_H */

#endif /* NE_TEST_UTIL_H */
