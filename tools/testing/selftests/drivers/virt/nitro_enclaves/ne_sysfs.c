// SPDX-License-Identifier: GPL-2.0
/*
 * Status attributes of the misc device (/sys/class/misc/nitro_enclaves,
 * Documentation/ABI/testing/sysfs-class-misc-nitro_enclaves), read before,
 * during and after an enclave's life, and the ne_cpus teardown they show:
 * an empty write removes the pool (CPUs online again, attributes empty)
 * and is refused while an enclave exists.
 *
 * Expected values come from ne_cpus, the CPU topology in sysfs and, when
 * the emulated device's test BAR is there, its live-slot and vCPU
 * counters. Runs in the "main" VM (pool "2,3": one core of 2 threads);
 * NE_MEM_REGIONS names the device's mem-regions property (default 256).
 *
 * The pool_param tests check the ne_cpus parameter itself: a pool CPU
 * that goes offline behind the setup checks fails the write with EINVAL
 * (never a short write), and ne_cpus= given at load is applied by module
 * init, so a load that fails leaves the pool CPUs online. They unload and
 * reload the driver from $NE_KO (default /opt/ne/nitro_enclaves.ko, the
 * runner's copy) and skip without it.
 */
#define _GNU_SOURCE
#include <dirent.h>

#include "kselftest_harness.h"
#include "ne_test_util.h"

static const char *const ne_attrs[] = {
	"pool_cpus", "pool_free_cores", "pool_numa_node", "enclaves",
	"max_mem_regions", "quarantined_slots",
};

/* Threads per core, from CPU 0's sibling list (CPU 0 is always online). */
static int threads_per_core(void)
{
	char buf[64];
	int cpus[NE_MAX_CPUS];
	int n;

	if (ne_read_file("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list",
			 buf, sizeof(buf)) < 0)
		return -1;
	n = ne_parse_cpulist(buf, cpus, NE_MAX_CPUS);
	return n > 0 ? n : -1;
}

/* NUMA node of @cpu, from its nodeN link (present while offline too). */
static int cpu_node(int cpu)
{
	char path[96];
	struct dirent *de;
	int node = -1;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d", cpu);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, "node", 4) &&
		    de->d_name[4] >= '0' && de->d_name[4] <= '9') {
			node = atoi(de->d_name + 4);
			break;
		}
	}
	closedir(d);
	return node;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : def;
}

/* What the attributes must show at one point of the test. */
struct expect {
	const char *cpus;	/* cpu-list of the pool, "" for none */
	long free_cores;
	long node;
	long enclaves;
};

FIXTURE(pool_status) {
	struct ne_env env;
	struct ne_kmsg kmsg;
	int efd[2];
	int threads;
	int node;
	long cores;
	long mem_regions;
	char pool[512];		/* ne_cpus at setup */
};

FIXTURE_SETUP(pool_status)
{
	int ret;

	self->efd[0] = self->efd[1] = -1;
	self->kmsg.fd = -1;
	ret = ne_env_setup(&self->env);
	ASSERT_EQ(0, ret) TH_LOG("environment setup: %s", strerror(-ret));
	ASSERT_EQ(0, ne_kmsg_open(&self->kmsg));
	ASSERT_EQ(0, ne_pool_get(self->pool, sizeof(self->pool)));
	self->threads = threads_per_core();
	ASSERT_LT(0, self->threads);
	ASSERT_LT(0, self->env.pool_n);
	self->cores = self->env.pool_n / self->threads;
	self->node = cpu_node(self->env.pool[0]);
	self->mem_regions = env_long("NE_MEM_REGIONS", 256);
}

FIXTURE_TEARDOWN(pool_status)
{
	int i;

	for (i = 0; i < 2; i++)
		if (self->efd[i] >= 0)
			close(self->efd[i]);
	EXPECT_EQ(0, ne_pool_reset());
	ne_kmsg_close(&self->kmsg);
	ne_env_teardown(_metadata, &self->env);
}

/* Compare two cpu-lists as sets ("2,3" equals "2-3"). */
static bool same_cpus(const char *a, const char *b)
{
	int ca[NE_MAX_CPUS], cb[NE_MAX_CPUS];
	int na = ne_parse_cpulist(a, ca, NE_MAX_CPUS);
	int nb = ne_parse_cpulist(b, cb, NE_MAX_CPUS);
	int i, j;

	if (na < 0 || na != nb)
		return false;
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb && cb[j] != ca[i]; j++)
			;
		if (j == nb)
			return false;
	}
	return true;
}

/* Check every attribute against @e; @what names the point of the test. */
static void expect_attrs(struct __test_metadata *_metadata,
			 FIXTURE_DATA(pool_status) *self, const char *what,
			 const struct expect *e)
{
	char cpus[512];
	long v;

	ASSERT_EQ(0, ne_attr_get("pool_cpus", cpus, sizeof(cpus)));
	EXPECT_TRUE(same_cpus(e->cpus, cpus))
		TH_LOG("%s: pool_cpus \"%s\", expected \"%s\"", what, cpus, e->cpus);
	/* The canonical form: ranges, no blanks. */
	EXPECT_EQ(NULL, strpbrk(cpus, " \t"));

	v = ne_attr_long("pool_free_cores");
	EXPECT_EQ(e->free_cores, v) TH_LOG("%s: pool_free_cores", what);
	v = ne_attr_long("pool_numa_node");
	EXPECT_EQ(e->node, v) TH_LOG("%s: pool_numa_node", what);
	v = ne_attr_long("enclaves");
	EXPECT_EQ(e->enclaves, v) TH_LOG("%s: enclaves", what);

	/* The device holds one slot per enclave. */
	if (self->env.have_tb)
		EXPECT_EQ(self->env.base.tb.live_slots + e->enclaves,
			  ne_tb_read32(&self->env.tb, NE_TB_LIVE_SLOTS))
			TH_LOG("%s: device live slots", what);

	/* Known once a slot was allocated since probe, then fixed. */
	v = ne_attr_long("max_mem_regions");
	if (e->enclaves) {
		EXPECT_EQ(self->mem_regions, v) TH_LOG("%s: max_mem_regions", what);
	} else {
		EXPECT_TRUE(v == 0 || v == self->mem_regions)
			TH_LOG("%s: max_mem_regions %ld", what, v);
	}
}

TEST_F(pool_status, attributes_are_read_only)
{
	char path[128];
	struct stat st;
	size_t i;

	/* Five files, mode 0444, no store method: writes fail even as root. */
	for (i = 0; i < sizeof(ne_attrs) / sizeof(ne_attrs[0]); i++) {
		snprintf(path, sizeof(path), NE_SYSFS_DIR "/%s", ne_attrs[i]);
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_EQ(0444, st.st_mode & 07777) TH_LOG("%s mode %o", path,
							  st.st_mode & 07777);
		EXPECT_ERRNO(EACCES, ne_write_file(path, "1"));
	}
}

TEST_F(pool_status, values_before_during_after_enclave)
{
	struct expect idle = {
		.cpus = self->pool, .free_cores = self->cores,
		.node = self->node, .enclaves = 0,
	};
	struct expect e = idle;
	uint64_t uid;
	uint32_t id = 0;

	expect_attrs(_metadata, self, "before", &idle);

	/* NE_CREATE_VM takes a slot but no core. */
	self->efd[0] = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, self->efd[0]);
	e.enclaves = 1;
	expect_attrs(_metadata, self, "created", &e);

	/* A second enclave counts too; closing it counts it out. */
	self->efd[1] = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, self->efd[1]);
	e.enclaves = 2;
	expect_attrs(_metadata, self, "two created", &e);
	close(self->efd[1]);
	self->efd[1] = -1;
	e.enclaves = 1;
	expect_attrs(_metadata, self, "one closed", &e);

	/* The first vCPU reserves a whole core. */
	ASSERT_OK(ne_add_vcpu(self->efd[0], &id));
	e.free_cores = self->cores - 1;
	expect_attrs(_metadata, self, "vCPU added", &e);

	/* Running: the same, and the device holds the core's threads. */
	ASSERT_OK(ne_make_ready(&self->env, self->efd[0], NE_MIN_MEM,
				self->threads - 1));
	ASSERT_OK(ne_start(self->efd[0], 0, NULL));
	expect_attrs(_metadata, self, "running", &e);
	if (self->env.have_tb)
		EXPECT_EQ(self->env.base.tb.vcpus + self->threads,
			  ne_tb_read32(&self->env.tb, NE_TB_VCPUS));

	/* Released: everything back. */
	close(self->efd[0]);
	self->efd[0] = -1;
	expect_attrs(_metadata, self, "after close", &idle);
}

TEST_F(pool_status, exited_enclave_holds_its_core_until_close)
{
	struct expect e = {
		.cpus = self->pool, .free_cores = self->cores - 1,
		.node = self->node, .enclaves = 1,
	};
	uint64_t uid;

	/* An enclave that exits on its own keeps slot and core until close. */
	NE_NEED_TB(&self->env);
	self->efd[0] = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, self->efd[0]);
	ASSERT_OK(ne_make_ready(&self->env, self->efd[0], NE_MIN_MEM,
				self->threads));
	ASSERT_OK(ne_start(self->efd[0], 0, NULL));
	ASSERT_EQ(0, ne_tb_exit_slot(&self->env.tb, uid));
	ASSERT_EQ(POLLHUP, ne_poll(self->efd[0], 2000) & POLLHUP);
	expect_attrs(_metadata, self, "exited", &e);
	close(self->efd[0]);
	self->efd[0] = -1;
	e.free_cores = self->cores;
	e.enclaves = 0;
	expect_attrs(_metadata, self, "closed", &e);
}

TEST_F(pool_status, empty_write_tears_pool_down_and_restore)
{
	struct expect none = { .cpus = "", .free_cores = 0, .node = -1 };
	struct expect back = {
		.cpus = self->pool, .free_cores = self->cores,
		.node = self->node,
	};
	char buf[512];
	uint64_t uid;
	int i;

	NE_NEED_POOL_CHANGE();

	/* An empty line removes the pool: CPUs online, attributes empty. */
	ASSERT_EQ(0, ne_pool_set("\n"));
	expect_attrs(_metadata, self, "no pool", &none);
	ASSERT_EQ(0, ne_attr_get("pool_cpus", buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
	for (i = 0; i < self->env.pool_n; i++)
		EXPECT_EQ(1, ne_cpu_is_online(self->env.pool[i]))
			TH_LOG("CPU %d should be online", self->env.pool[i]);
	EXPECT_ERRNO(NE_ERR_NO_CPUS_AVAIL_IN_POOL,
		     ne_create_vm(self->env.dev, &uid));
	/* A second empty write is a no-op. */
	EXPECT_EQ(0, ne_pool_set("\n"));
	expect_attrs(_metadata, self, "no pool again", &none);

	/* Restoring the pool brings everything back. */
	ASSERT_EQ(0, ne_pool_set(self->pool));
	expect_attrs(_metadata, self, "restored", &back);
	for (i = 0; i < self->env.pool_n; i++)
		EXPECT_EQ(0, ne_cpu_is_online(self->env.pool[i]))
			TH_LOG("CPU %d should be offline", self->env.pool[i]);
	self->efd[0] = ne_create_vm(self->env.dev, &uid);
	EXPECT_LE(0, self->efd[0]);
}

TEST_F(pool_status, pool_cpus_is_canonical)
{
	char list[64], buf[512];
	struct expect e = {
		.cpus = self->pool, .free_cores = self->cores,
		.node = self->node,
	};

	NE_NEED_POOL_CHANGE();

	/* ne_cpus shows the string as written; pool_cpus the set. */
	if (self->env.pool_n != 2 || self->env.pool[1] != self->env.pool[0] + 1)
		SKIP(return, "needs a pool of two consecutive CPUs");
	snprintf(list, sizeof(list), "%d,%d\n", self->env.pool[1],
		 self->env.pool[0]);
	ASSERT_EQ(0, ne_pool_set(list));
	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	list[strlen(list) - 1] = '\0';
	EXPECT_STREQ(list, buf);
	ASSERT_EQ(0, ne_attr_get("pool_cpus", buf, sizeof(buf)));
	snprintf(list, sizeof(list), "%d-%d", self->env.pool[0],
		 self->env.pool[1]);
	EXPECT_STREQ(list, buf);
	expect_attrs(_metadata, self, "reordered list", &e);
}

TEST_F(pool_status, empty_write_refused_while_enclave_holds_core)
{
	struct expect e = {
		.cpus = self->pool, .free_cores = self->cores - 1,
		.node = self->node, .enclaves = 1,
	};
	uint64_t uid;
	int i;

	NE_NEED_POOL_CHANGE();

	/* Refused (EPERM, spec section 3) with a log line naming the fix. */
	self->efd[0] = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, self->efd[0]);
	ASSERT_OK(ne_add_vcpu_id(self->efd[0], 0));
	NE_EXPECT_LOG(&self->kmsg, EPERM, ne_pool_set("\n"),
		      "ne_cpus: cannot change the CPU pool while 1 enclave(s) exist: close them first");
	/* Nothing changed. */
	expect_attrs(_metadata, self, "refused", &e);
	for (i = 0; i < self->env.pool_n; i++)
		EXPECT_EQ(0, ne_cpu_is_online(self->env.pool[i]));

	/* Once the enclave is closed the same write tears the pool down. */
	close(self->efd[0]);
	self->efd[0] = -1;
	EXPECT_EQ(0, ne_pool_set("\n"));
	e = (struct expect){ .cpus = "", .free_cores = 0, .node = -1 };
	expect_attrs(_metadata, self, "torn down", &e);
}

/* ------------------------------------------------------------------ */
/* The ne_cpus parameter: a CPU lost behind the checks, and module load */
/* ------------------------------------------------------------------ */

#define NE_CPU_DIR	"/sys/devices/system/cpu"
#define NE_MODULE_DIR	"/sys/module/nitro_enclaves"

static const char *ko_path(void)
{
	const char *p = getenv("NE_KO");

	return p && *p ? p : "/opt/ne/nitro_enclaves.ko";
}

/* Write @val to @cpu's sysfs file @name. Return: 0 or -errno. */
static int cpu_attr_set(int cpu, const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), NE_CPU_DIR "/cpu%d/%s", cpu, name);
	return ne_write_file(path, val);
}

/*
 * Whether the scheduler runs @cpu: /sys/devices/system/cpu/online is the
 * kernel's online mask, while cpuN/online is the CPU device's own flag.
 */
static bool cpu_in_online_mask(int cpu)
{
	int cpus[NE_MAX_CPUS];
	char buf[128];
	int i, n;

	if (ne_read_file(NE_CPU_ONLINE_PATH, buf, sizeof(buf)) < 0)
		return false;
	n = ne_parse_cpulist(buf, cpus, NE_MAX_CPUS);
	for (i = 0; i < n; i++)
		if (cpus[i] == cpu)
			return true;
	return false;
}

/*
 * One write(2) of @list to ne_cpus. Return: 0 if all of it was taken,
 * -errno, or the byte count of a short write (what a positive value
 * returned by the parameter's set callback becomes).
 */
static int pool_write(const char *list)
{
	size_t len = strlen(list);
	ssize_t n;
	int fd;

	fd = open(NE_CPUS_PATH, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, list, len);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : (int)n;
}

static bool module_loaded(void)
{
	return access(NE_MODULE_DIR, F_OK) == 0;
}

/* finit_module(2) of @ko with @params. Return: 0 or -errno. */
static int module_load(int ko, const char *params)
{
	return syscall(SYS_finit_module, ko, params, 0) ? -errno : 0;
}

FIXTURE(pool_param) {
	struct ne_env env;
	struct ne_kmsg kmsg;
	int ko;			/* the module file, -1 if absent */
	int odd_cpu;		/* CPU to make consistent again, or -1 */
	char pool[512];		/* ne_cpus at setup */
	char params[600];
	char needle[256];
};

FIXTURE_SETUP(pool_param)
{
	self->ko = -1;
	self->odd_cpu = -1;
	self->kmsg.fd = -1;
	ASSERT_EQ(0, ne_env_setup(&self->env));
	ASSERT_EQ(0, ne_kmsg_open(&self->kmsg));
	ASSERT_EQ(0, ne_pool_get(self->pool, sizeof(self->pool)));
	ASSERT_LT(0, self->env.pool_n);
	self->ko = open(ko_path(), O_RDONLY | O_CLOEXEC);
}

FIXTURE_TEARDOWN(pool_param)
{
	char cur[512];
	int i, cpu;

	/* Down for the scheduler too, then online through its online file. */
	if (self->odd_cpu >= 0) {
		cpu_attr_set(self->odd_cpu, "hotplug/target", "0");
		EXPECT_EQ(0, cpu_attr_set(self->odd_cpu, "online", "1"));
	}
	/* A test that unloaded the driver loads it again. */
	if (!module_loaded() && self->ko >= 0)
		EXPECT_EQ(0, module_load(self->ko, ""));
	if (self->ko >= 0)
		close(self->ko);
	EXPECT_TRUE(ne_wait_path(NE_DEV_PATH, true, 5000));
	/* Without a pool no pool CPU may be offline (a failed load did that). */
	if (!ne_pool_get(cur, sizeof(cur)) && !cur[0]) {
		for (i = 0; i < self->env.pool_n; i++) {
			cpu = self->env.pool[i];
			if (ne_cpu_is_online(cpu))
				continue;
			TH_LOG("CPU %d offline without a pool: onlining it", cpu);
			ne_cpu_set_online(cpu, 1);
		}
	}
	if (ne_pool_get(cur, sizeof(cur)) || strcmp(cur, self->pool))
		EXPECT_EQ(0, ne_pool_set(self->pool));
	ne_kmsg_close(&self->kmsg);
	ne_env_release(&self->env);
	ne_env_reopen_tb(&self->env);
	ne_env_check_baseline(_metadata, &self->env);
}

#define NEED_MODULE_FILE() do {						\
	if (self->ko < 0)						\
		SKIP(return, "module file %s not found (set NE_KO)",	\
		     ko_path());					\
} while (0)

/* Unload the driver; the fixture's device fd and test BAR go first. */
static void unload(struct __test_metadata *_metadata,
		   FIXTURE_DATA(pool_param) *self)
{
	int i;

	ne_env_close_tb(&self->env);
	close(self->env.dev);
	self->env.dev = -1;
	ASSERT_EQ(0, syscall(SYS_delete_module, "nitro_enclaves", O_NONBLOCK))
		TH_LOG("rmmod: %s", strerror(errno));
	for (i = 0; i < self->env.pool_n; i++) {
		ASSERT_EQ(1, ne_cpu_is_online(self->env.pool[i]))
			TH_LOG("CPU %d offline after rmmod", self->env.pool[i]);
	}
}

/* Every pool CPU is online (@what: after which step). */
static void expect_pool_cpus_online(struct __test_metadata *_metadata,
				    FIXTURE_DATA(pool_param) *self,
				    const char *what)
{
	int i;

	for (i = 0; i < self->env.pool_n; i++) {
		EXPECT_EQ(1, ne_cpu_is_online(self->env.pool[i]))
			TH_LOG("%s: CPU %d is offline", what, self->env.pool[i]);
	}
}

TEST_F(pool_param, cpu_offlined_behind_the_checks_fails_einval)
{
	int cpu = self->env.pool[self->env.pool_n - 1];
	char buf[512], target[32];
	long online_state;
	int ret;

	NE_NEED_POOL_CHANGE();

	/*
	 * remove_cpu() returns 1 for a CPU whose device is already offline.
	 * Reach it without a race: offline the pool's last CPU through its
	 * online file, then run it again through hotplug/target, which does
	 * not clear the device's offline flag. The checks see it online, the
	 * offlining finds it offline after the first CPUs went.
	 */
	if (self->env.pool_n < 2)
		SKIP(return, "needs a pool of two CPUs or more");
	if (access(NE_CPU_DIR "/cpu0/hotplug/state", R_OK) ||
	    access(NE_CPU_DIR "/cpu0/hotplug/target", W_OK))
		SKIP(return, "no writable %s/cpuN/hotplug/target", NE_CPU_DIR);
	online_state = ne_read_long(NE_CPU_DIR "/cpu0/hotplug/state");
	ASSERT_LT(0, online_state);
	snprintf(target, sizeof(target), "%ld", online_state);

	ASSERT_EQ(0, ne_pool_set("\n"));
	self->odd_cpu = cpu;
	ASSERT_EQ(0, cpu_attr_set(cpu, "online", "0"));
	ASSERT_EQ(0, cpu_attr_set(cpu, "hotplug/target", target));
	ASSERT_TRUE(cpu_in_online_mask(cpu)) TH_LOG("CPU %d not running", cpu);
	if (ne_cpu_is_online(cpu))
		SKIP(return, "cpu%d/online follows hotplug/target on this kernel",
		     cpu);

	/* Refused like a CPU offline at the checks: EINVAL, no short write. */
	snprintf(self->needle, sizeof(self->needle),
		 "ne_cpus: CPU %d went offline while the pool was being set up",
		 cpu);
	ne_kmsg_mark(&self->kmsg);
	ret = pool_write(self->pool);
	if (ret > 0)
		TH_LOG("short write: %d of %zu bytes taken", ret,
		       strlen(self->pool));
	EXPECT_EQ(-EINVAL, ret);
	EXPECT_EQ(1, ne_kmsg_find(&self->kmsg, self->needle, buf, sizeof(buf)))
		TH_LOG("no kernel log line containing \"%s\"", self->needle);

	/* No pool; the CPUs taken offline before it are back online. */
	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
	ASSERT_EQ(0, ne_attr_get("pool_cpus", buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
	EXPECT_EQ(1, ne_cpu_is_online(self->env.pool[0]));
}

TEST_F_TIMEOUT(pool_param, load_failing_after_ne_cpus_leaves_cpus_online, 60)
{
	char buf[512];

	NE_NEED_POOL_CHANGE();

	NEED_MODULE_FILE();
	unload(_metadata, self);

	/* ne_cpus= is parsed first, then cmd_timeout_ms=0 fails the load. */
	snprintf(self->params, sizeof(self->params),
		 "ne_cpus=%s cmd_timeout_ms=0", self->pool);
	EXPECT_EQ(-EINVAL, module_load(self->ko, self->params))
		TH_LOG("insmod %s %s", ko_path(), self->params);
	EXPECT_FALSE(module_loaded());
	expect_pool_cpus_online(_metadata, self, "failed load");

	/* A normal load afterwards binds the device, and the pool works. */
	ASSERT_EQ(0, module_load(self->ko, ""));
	EXPECT_TRUE(ne_wait_path(NE_DEV_PATH, true, 5000));
	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
	EXPECT_EQ(0, pool_write(self->pool));
}

TEST_F_TIMEOUT(pool_param, load_with_ne_cpus_sets_pool_up, 60)
{
	char buf[512];
	int i;

	NE_NEED_POOL_CHANGE();

	NEED_MODULE_FILE();
	unload(_metadata, self);

	/* Applied by module init: offline, shown, usable once loaded. */
	snprintf(self->params, sizeof(self->params), "ne_cpus=%s", self->pool);
	ASSERT_EQ(0, module_load(self->ko, self->params));
	EXPECT_TRUE(ne_wait_path(NE_DEV_PATH, true, 5000));
	ASSERT_EQ(0, ne_pool_get(buf, sizeof(buf)));
	EXPECT_STREQ(self->pool, buf);
	for (i = 0; i < self->env.pool_n; i++) {
		EXPECT_EQ(0, ne_cpu_is_online(self->env.pool[i]))
			TH_LOG("CPU %d should be offline", self->env.pool[i]);
	}
	EXPECT_LT(0, ne_attr_long("pool_free_cores"));
}

TEST_F_TIMEOUT(pool_param, load_with_refused_ne_cpus_fails_with_log_line, 60)
{
	NE_NEED_POOL_CHANGE();
	NEED_MODULE_FILE();
	unload(_metadata, self);

	/* Refused as a write after load would be, with the check's line... */
	NE_EXPECT_LOG(&self->kmsg, EINVAL, module_load(self->ko, "ne_cpus=0"),
		      "ne_cpus: CPU 0 is listed: leave CPU 0 and its siblings to the parent VM");
	/* ...and one line saying why the module did not load. */
	NE_EXPECT_LOG(&self->kmsg, EINVAL, module_load(self->ko, "ne_cpus=0"),
		      "ne_cpus: cannot set up the CPU pool given at module load");
	EXPECT_FALSE(module_loaded());
	expect_pool_cpus_online(_metadata, self, "refused load");
}

int main(int argc, char **argv)
{
	if (!ne_test_skip_reason(0) && access(NE_SYSFS_DIR "/enclaves", F_OK))
		ne_test_skip(NE_SYSFS_DIR "/enclaves not present (a driver without status attributes)");
	return ne_test_main(argc, argv);
}
