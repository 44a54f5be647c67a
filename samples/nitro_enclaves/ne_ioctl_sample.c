// SPDX-License-Identifier: GPL-2.0
/*
 * Nitro Enclaves sample launcher.
 *
 *   ne_ioctl_sample [options] <eif path>
 *   ne_ioctl_sample --help | --version
 *
 * Creates an enclave through /dev/nitro_enclaves, backs it with hugetlb
 * memory, copies the image to the offset the driver asks for, adds vCPUs,
 * waits (optionally) for the enclave's vsock heartbeat, keeps it running
 * for a while and terminates it by closing the enclave fd.
 *
 * With --attach-console (debug mode) it copies the enclave's console to
 * stdout while the enclave runs, as "nitro-cli run-enclave
 * --attach-console" does: a vsock stream from CID 0 (the hypervisor),
 * port 10000 + the enclave's CID.
 *
 * With --json it prints, once the enclave runs (after its heartbeat), what
 * "nitro-cli run-enclave" prints: one JSON object with EnclaveName,
 * EnclaveID, ProcessID, EnclaveCID, NumberOfCPUs, CPUIDs and MemoryMiB;
 * the progress lines then go to stderr.
 *
 * Exit status: 0 the enclave ran for the time asked, 1 a failure (device,
 * ioctl, memory, image, heartbeat, crash), 2 a bad command line.
 *
 * Before running: configure the CPU pool and reserve hugepages, e.g.
 *   echo 2,3 > /sys/module/nitro_enclaves/parameters/ne_cpus
 *   echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/nitro_enclaves.h>
#include <linux/vm_sockets.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT		26
#endif
#define NE_MAP_HUGE_2MB		(21 << MAP_HUGE_SHIFT)
#define NE_MAP_HUGE_1GB		(30 << MAP_HUGE_SHIFT)

#define NE_DEV_NAME		"/dev/nitro_enclaves"
#define NE_POLL_TIMEOUT_MS	(60 * 1000)
#define NE_DEFAULT_RUN_SEC	300
#define NE_DEFAULT_VCPUS	2
#define NE_DEFAULT_MEM_MIB	512
#define NE_MAX_VCPUS		64

/* Heartbeat: the enclave connects to the parent (CID 3) and sends 0xb7. */
#define NE_PARENT_CID		3
#define NE_HEARTBEAT_PORT	9000
#define NE_HEARTBEAT_VALUE	0xb7

/* Debug console: CID 0 (the hypervisor), port 10000 + the enclave's CID. */
#define NE_CONSOLE_CID		0
#define NE_CONSOLE_PORT_BASE	10000

#define NE_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* The project's version (dkms.conf), given by the Makefile. */
#ifndef NE_VERSION
#define NE_VERSION		"unknown"
#endif

#define EXIT_USAGE		2

/* EC2 sets the board asset tag to the instance ID (i-...). */
#define NE_ASSET_TAG		"/sys/devices/virtual/dmi/id/board_asset_tag"
#define NE_NO_INSTANCE_ID	"i-0000000000000000"

/* Progress messages: stdout, or stderr when stdout carries the JSON. */
static FILE *msg;

#define SZ_2M			(2ULL << 20)
#define SZ_1G			(1ULL << 30)

struct ne_err_info {
	int code;
	const char *name;
	const char *cause;
	const char *fix;
};

/* Every NE-specific error code: what it means and what to do about it. */
static const struct ne_err_info ne_errors[] = {
	{ NE_ERR_VCPU_ALREADY_USED, "NE_ERR_VCPU_ALREADY_USED",
	  "the vCPU id is already one of this enclave's vCPUs",
	  "list each CPU id once" },
	{ NE_ERR_VCPU_NOT_IN_CPU_POOL, "NE_ERR_VCPU_NOT_IN_CPU_POOL",
	  "the CPU is not in the NE CPU pool, or another enclave holds its core",
	  "use ids from ne_cpus that no enclave holds, or 0 to let the driver pick" },
	{ NE_ERR_VCPU_INVALID_CPU_CORE, "NE_ERR_VCPU_INVALID_CPU_CORE",
	  "the CPU's core is outside the pool known to this enclave",
	  "reconfigure ne_cpus while no enclave exists, then retry" },
	{ NE_ERR_INVALID_MEM_REGION_SIZE, "NE_ERR_INVALID_MEM_REGION_SIZE",
	  "the memory region size is zero or not a multiple of 2 MiB",
	  "use whole hugepages (2 MiB or 1 GiB)" },
	{ NE_ERR_INVALID_MEM_REGION_ADDR, "NE_ERR_INVALID_MEM_REGION_ADDR",
	  "the memory region is not a valid user address range",
	  "pass an address returned by mmap() and its mapped length" },
	{ NE_ERR_UNALIGNED_MEM_REGION_ADDR, "NE_ERR_UNALIGNED_MEM_REGION_ADDR",
	  "the memory region start is not 2 MiB aligned",
	  "map the memory with MAP_HUGETLB so it is hugepage aligned" },
	{ NE_ERR_MEM_REGION_ALREADY_USED, "NE_ERR_MEM_REGION_ALREADY_USED",
	  "the memory region overlaps one already given to this enclave",
	  "give each region once" },
	{ NE_ERR_MEM_NOT_HUGE_PAGE, "NE_ERR_MEM_NOT_HUGE_PAGE",
	  "the memory is not backed by hugetlbfs pages (normal or THP memory)",
	  "mmap with MAP_HUGETLB and reserve pages in /sys/kernel/mm/hugepages" },
	{ NE_ERR_MEM_DIFFERENT_NUMA_NODE, "NE_ERR_MEM_DIFFERENT_NUMA_NODE",
	  "the memory is on another NUMA node than the CPU pool",
	  "use hugepages of the pool's node (pool_numa_node), e.g. bound with mbind()" },
	{ NE_ERR_MEM_MAX_REGIONS, "NE_ERR_MEM_MAX_REGIONS",
	  "the enclave has reached the device's limit of memory regions",
	  "use fewer, larger regions (e.g. --1g); the limit is in max_mem_regions" },
	{ NE_ERR_NO_MEM_REGIONS_ADDED, "NE_ERR_NO_MEM_REGIONS_ADDED",
	  "the enclave was started without memory",
	  "add memory regions before starting" },
	{ NE_ERR_NO_VCPUS_ADDED, "NE_ERR_NO_VCPUS_ADDED",
	  "the enclave was started without vCPUs",
	  "add vCPUs before starting" },
	{ NE_ERR_ENCLAVE_MEM_MIN_SIZE, "NE_ERR_ENCLAVE_MEM_MIN_SIZE",
	  "the enclave has less than 64 MiB of memory",
	  "give it at least 64 MiB (--memory)" },
	{ NE_ERR_FULL_CORES_NOT_USED, "NE_ERR_FULL_CORES_NOT_USED",
	  "a core was only partly used: every thread of a core must be a vCPU",
	  "use an even vCPU count on SMT-2 hosts, or list all siblings" },
	{ NE_ERR_NOT_IN_INIT_STATE, "NE_ERR_NOT_IN_INIT_STATE",
	  "the enclave was already started (or has exited)",
	  "set an enclave up before NE_START_ENCLAVE; launch a new one to rerun" },
	{ NE_ERR_INVALID_VCPU, "NE_ERR_INVALID_VCPU",
	  "the vCPU id is beyond the CPUs this machine can have",
	  "use a CPU id from the pool" },
	{ NE_ERR_NO_CPUS_AVAIL_IN_POOL, "NE_ERR_NO_CPUS_AVAIL_IN_POOL",
	  "the NE CPU pool is empty or all its cores are in use",
	  "write whole cores to ne_cpus, or stop an enclave (see pool_free_cores)" },
	{ NE_ERR_INVALID_PAGE_SIZE, "NE_ERR_INVALID_PAGE_SIZE",
	  "the region does not consist of whole hugepages of a supported size",
	  "register whole 2 MiB or 1 GiB pages, starting at a page boundary" },
	{ NE_ERR_INVALID_FLAG_VALUE, "NE_ERR_INVALID_FLAG_VALUE",
	  "an unknown flag value was passed",
	  "use the flags defined in <linux/nitro_enclaves.h>" },
	{ NE_ERR_INVALID_ENCLAVE_CID, "NE_ERR_INVALID_ENCLAVE_CID",
	  "the CID is reserved (0-3 are special, 0xffffffff is 'any') or above 32 bits",
	  "pass 0 for an automatic CID, or a value from 4 to 0xfffffffe" },
};

/*
 * Print why @what failed: the NE_ERR table, else strerror(). The causes
 * and fixes agree with the driver's log lines (Documentation/virt/
 * ne_overview.rst, "Diagnostics"), which add the details: CPU ids,
 * addresses, NUMA nodes. pool_* and max_mem_regions are the status files
 * in /sys/class/misc/nitro_enclaves.
 */
static void ne_report(const char *what, int err)
{
	bool ioctl = !strncmp(what, "NE_", 3);
	size_t i;

	for (i = 0; i < NE_ARRAY_SIZE(ne_errors); i++) {
		if (ne_errors[i].code != err)
			continue;
		fprintf(stderr, "Error: %s failed: %s (%d): %s.\n  Fix: %s.\n",
			what, ne_errors[i].name, err, ne_errors[i].cause,
			ne_errors[i].fix);
		fprintf(stderr, "  Details: the driver's line in the kernel log (dmesg).\n");
		return;
	}
	fprintf(stderr, "Error: %s failed: %s (%d)\n", what, strerror(err), err);
	if (ioctl)
		fprintf(stderr, "  Details: the driver's line in the kernel log (dmesg).\n");
	if (err == ENOENT && !strcmp(what, "open " NE_DEV_NAME))
		fprintf(stderr, "  Fix: load nitro_enclaves on an NE-capable instance.\n");
	if (err == ENOMEM && strstr(what, "mmap"))
		fprintf(stderr, "  Fix: reserve more hugepages (/sys/kernel/mm/hugepages/*/nr_hugepages).\n");
	if (err == ETIMEDOUT && strstr(what, "heartbeat"))
		fprintf(stderr, "  Fix: check the image's init, or run with --no-heartbeat.\n");
	if ((err == ECONNRESET || err == ECONNREFUSED) && strstr(what, "console"))
		fprintf(stderr, "  Fix: only a debug-mode enclave has a console, while it runs (on the emulated device: with eif-check=on or enclave-vm=on).\n");
}

struct options {
	bool json;
	const char *name;
	unsigned long long mem_mib;
	bool huge_1g;
	int nr_vcpus;
	uint32_t vcpu_ids[NE_MAX_VCPUS];
	int nr_vcpu_ids;
	bool debug;
	unsigned long long cid;
	bool heartbeat;
	bool console;
	unsigned int run_sec;
	const char *eif;
};

struct region {
	void *addr;
	size_t size;
};

struct enclave {
	int fd;
	uint64_t slot_uid;
	uint64_t cid;
	struct region *regions;
	size_t nr_regions;
	int stop_pipe[2];
	pthread_t poller;
	bool poller_started;
	bool exited;		/* set by the poll thread (atomic access) */
	uint32_t cpu_ids[NE_MAX_VCPUS];	/* as the driver returned them */
	int nr_cpus;
	int console_fd;		/* --attach-console, until its end */
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [options] <eif path>\n"
		"  -m, --memory MIB     enclave memory in MiB (default %d)\n"
		"  -g, --1g             back memory with 1 GiB pages instead of 2 MiB\n"
		"  -c, --vcpus N        number of vCPUs, picked by the driver (default %d)\n"
		"  -C, --cpu-ids LIST   explicit vCPU ids, e.g. 2,3 (overrides --vcpus)\n"
		"  -d, --debug          start in debug mode\n"
		"  -i, --cid CID        requested enclave CID (default 0: automatic)\n"
		"  -n, --no-heartbeat   do not wait for the enclave's vsock heartbeat\n"
		"  -a, --attach-console copy the enclave's console to stdout while it\n"
		"                       runs (needs --debug)\n"
		"  -t, --time SEC       keep the enclave running SEC seconds (default %d)\n"
		"  -j, --json           once started, print the enclave as JSON on stdout,\n"
		"                       like nitro-cli run-enclave (progress to stderr)\n"
		"  -N, --name NAME      EnclaveName in the JSON (default: the image file\n"
		"                       name without .eif)\n"
		"  -h, --help           this text\n"
		"  -V, --version        the version\n"
		"Exit status: 0 the enclave ran for the time asked, 1 failure,\n"
		"2 bad command line.\n",
		prog, NE_DEFAULT_MEM_MIB, NE_DEFAULT_VCPUS, NE_DEFAULT_RUN_SEC);
}

static int parse_cpu_ids(const char *s, struct options *o)
{
	char *end;

	o->nr_vcpu_ids = 0;
	while (*s) {
		unsigned long v = strtoul(s, &end, 0);

		if (end == s || o->nr_vcpu_ids >= NE_MAX_VCPUS || v > UINT32_MAX)
			return -1;
		o->vcpu_ids[o->nr_vcpu_ids++] = (uint32_t)v;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return -1;
	}
	return o->nr_vcpu_ids ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "1g", no_argument, NULL, 'g' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "cpu-ids", required_argument, NULL, 'C' },
		{ "debug", no_argument, NULL, 'd' },
		{ "cid", required_argument, NULL, 'i' },
		{ "no-heartbeat", no_argument, NULL, 'n' },
		{ "attach-console", no_argument, NULL, 'a' },
		{ "time", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "name", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*o = (struct options){
		.mem_mib = NE_DEFAULT_MEM_MIB,
		.nr_vcpus = NE_DEFAULT_VCPUS,
		.heartbeat = true,
		.run_sec = NE_DEFAULT_RUN_SEC,
	};
	while ((c = getopt_long(argc, argv, "m:gc:C:di:nat:jN:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->mem_mib = strtoull(optarg, &end, 0);
			if (*end || !o->mem_mib)
				return -1;
			break;
		case 'g':
			o->huge_1g = true;
			break;
		case 'c':
			o->nr_vcpus = (int)strtol(optarg, &end, 0);
			if (*end || o->nr_vcpus < 1 || o->nr_vcpus > NE_MAX_VCPUS)
				return -1;
			break;
		case 'C':
			if (parse_cpu_ids(optarg, o))
				return -1;
			break;
		case 'd':
			o->debug = true;
			break;
		case 'i':
			o->cid = strtoull(optarg, &end, 0);
			if (*end)
				return -1;
			break;
		case 'n':
			o->heartbeat = false;
			break;
		case 'a':
			o->console = true;
			break;
		case 't':
			o->run_sec = (unsigned int)strtoul(optarg, &end, 0);
			if (*end)
				return -1;
			break;
		case 'j':
			o->json = true;
			break;
		case 'N':
			o->name = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(EXIT_SUCCESS);
		case 'V':
			printf("ne_ioctl_sample %s\n", NE_VERSION);
			exit(EXIT_SUCCESS);
		default:
			return -1;
		}
	}
	/* Exactly one positional argument, shorter than PATH_MAX. */
	if (optind != argc - 1 || strlen(argv[optind]) >= PATH_MAX)
		return -1;
	/* Production enclaves have no console. */
	if (o->console && !o->debug)
		return -1;
	o->eif = argv[optind];
	return 0;
}

/* Wait for the enclave's exit (POLLHUP) until told to stop. */
static void *poll_enclave(void *arg)
{
	struct enclave *e = arg;
	struct pollfd fds[2] = {
		{ .fd = e->fd, .events = POLLIN | POLLERR | POLLHUP },
		{ .fd = e->stop_pipe[0], .events = POLLIN },
	};

	for (;;) {
		int n = poll(fds, 2, NE_POLL_TIMEOUT_MS);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return NULL;
		}
		if (n == 0) {
			fprintf(msg, "Enclave fd poll: no event in %d s\n",
				NE_POLL_TIMEOUT_MS / 1000);
			continue;
		}
		if (fds[1].revents)
			return NULL;
		if (fds[0].revents & POLLHUP) {
			fprintf(msg, "Enclave exited (POLLHUP on the enclave fd)\n");
			__atomic_store_n(&e->exited, true, __ATOMIC_RELEASE);
			return NULL;
		}
		if (fds[0].revents & POLLNVAL)
			return NULL;
	}
}

static int alloc_memory(struct enclave *e, const struct options *o)
{
	size_t page = o->huge_1g ? SZ_1G : SZ_2M;
	unsigned long long bytes = o->mem_mib << 20;
	size_t i;

	e->nr_regions = (bytes + page - 1) / page;
	e->regions = calloc(e->nr_regions, sizeof(*e->regions));
	if (!e->regions)
		return -ENOMEM;
	for (i = 0; i < e->nr_regions; i++) {
		void *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			       (o->huge_1g ? NE_MAP_HUGE_1GB : NE_MAP_HUGE_2MB),
			       -1, 0);

		if (p == MAP_FAILED) {
			int err = errno;

			ne_report(o->huge_1g ? "mmap of a 1 GiB hugepage" :
				  "mmap of a 2 MiB hugepage", err);
			e->nr_regions = i;
			return -err;
		}
		e->regions[i] = (struct region){ .addr = p, .size = page };
	}
	fprintf(msg, "Allocated %zu regions of %zu MiB (%llu MiB)\n", e->nr_regions,
		page >> 20, (unsigned long long)(e->nr_regions * page) >> 20);
	return 0;
}

static void free_memory(struct enclave *e)
{
	size_t i;

	for (i = 0; i < e->nr_regions; i++)
		munmap(e->regions[i].addr, e->regions[i].size);
	free(e->regions);
	e->regions = NULL;
	e->nr_regions = 0;
}

/*
 * Copy the image to the offset the driver gives, counting through the
 * regions in the order they will be registered.
 */
static int load_image(struct enclave *e, const char *path)
{
	struct ne_image_load_info info = { .flags = NE_EIF_IMAGE };
	uint64_t total = 0, pos = 0, copied = 0;
	struct stat st;
	size_t i;
	void *img;
	int fd;

	for (i = 0; i < e->nr_regions; i++)
		total += e->regions[i].size;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		ne_report("open of the enclave image", errno);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (ioctl(e->fd, NE_GET_IMAGE_LOAD_INFO, &info) < 0) {
		ne_report("NE_GET_IMAGE_LOAD_INFO", errno);
		close(fd);
		return -1;
	}
	fprintf(msg, "Image %s: %lld bytes, load offset 0x%llx\n", path,
		(long long)st.st_size, (unsigned long long)info.memory_offset);
	if ((uint64_t)st.st_size + info.memory_offset > total) {
		fprintf(stderr,
			"Error: image (%lld bytes at offset %llu) does not fit in %llu bytes of memory\n",
			(long long)st.st_size, (unsigned long long)info.memory_offset,
			(unsigned long long)total);
		close(fd);
		return -1;
	}
	if (!st.st_size) {
		close(fd);
		return 0;
	}
	img = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED) {
		ne_report("mmap of the enclave image", errno);
		return -1;
	}
	for (i = 0; i < e->nr_regions && copied < (uint64_t)st.st_size; i++) {
		uint64_t start = pos, end = pos + e->regions[i].size;
		uint64_t from, n;

		pos = end;
		if (end <= info.memory_offset)
			continue;
		from = start < info.memory_offset ? info.memory_offset - start : 0;
		n = e->regions[i].size - from;
		if (n > st.st_size - copied)
			n = st.st_size - copied;
		memcpy((char *)e->regions[i].addr + from, (char *)img + copied, n);
		copied += n;
	}
	munmap(img, st.st_size);
	fprintf(msg, "Image copied into enclave memory\n");
	return 0;
}

static int add_memory(struct enclave *e)
{
	size_t i;

	for (i = 0; i < e->nr_regions; i++) {
		struct ne_user_memory_region r = {
			.flags = NE_DEFAULT_MEMORY_REGION,
			.memory_size = e->regions[i].size,
			.userspace_addr = (uintptr_t)e->regions[i].addr,
		};

		if (ioctl(e->fd, NE_SET_USER_MEMORY_REGION, &r) < 0) {
			char what[64];

			snprintf(what, sizeof(what), "NE_SET_USER_MEMORY_REGION #%zu", i);
			ne_report(what, errno);
			return -1;
		}
	}
	fprintf(msg, "Added %zu memory regions to the enclave\n", e->nr_regions);
	return 0;
}

static int add_vcpus(struct enclave *e, const struct options *o)
{
	int n = o->nr_vcpu_ids ? o->nr_vcpu_ids : o->nr_vcpus;
	int i;

	for (i = 0; i < n; i++) {
		uint32_t id = o->nr_vcpu_ids ? o->vcpu_ids[i] : 0;

		if (ioctl(e->fd, NE_ADD_VCPU, &id) < 0) {
			ne_report("NE_ADD_VCPU", errno);
			return -1;
		}
		e->cpu_ids[e->nr_cpus++] = id;
		fprintf(msg, "Added vCPU %u to the enclave\n", id);
	}
	return 0;
}

/* Listen on the parent's CID before the enclave starts. */
static int heartbeat_listen(void)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = NE_PARENT_CID,
		.svm_port = NE_HEARTBEAT_PORT,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		ne_report("vsock socket for the heartbeat", errno);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 1)) {
		ne_report("vsock bind/listen for the heartbeat (CID 3, port 9000)", errno);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Wait until @fd is readable, watching the enclave fd too: an enclave that
 * crashes while booting shows up there as POLLHUP.
 * Return: 0, -ETIMEDOUT, -EPIPE (the enclave exited) or -errno.
 */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int heartbeat_poll(struct enclave *e, int fd, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = e->fd, .events = POLLIN | POLLHUP },
		};
		int64_t left = deadline_ms - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(p, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[1].revents & (POLLHUP | POLLERR))
			return -EPIPE;
		if (p[0].revents)
			return 0;
	}
}

static void heartbeat_crashed(struct enclave *e, const char *when)
{
	__atomic_store_n(&e->exited, true, __ATOMIC_RELEASE);
	fprintf(stderr,
		"Error: enclave CID %llu crashed %s: POLLHUP on the enclave fd.\n"
		"  Cause: the image is invalid, or its init could not reach CID %d port %d.\n",
		(unsigned long long)e->cid, when, NE_PARENT_CID, NE_HEARTBEAT_PORT);
}

/* Accept the enclave's connection, read 0xb7, echo it. */
static int heartbeat_wait(struct enclave *e, int lfd)
{
	int64_t deadline = now_ms() + NE_POLL_TIMEOUT_MS;
	unsigned char b = 0;
	int fd, ret;

	ret = heartbeat_poll(e, lfd, deadline);
	if (ret == -EPIPE) {
		heartbeat_crashed(e, "before its heartbeat");
		return -1;
	}
	if (ret) {
		ne_report("waiting for the heartbeat", -ret);
		return -1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		ne_report("accept of the heartbeat connection", errno);
		return -1;
	}
	ret = heartbeat_poll(e, fd, deadline);
	if (ret == -EPIPE) {
		heartbeat_crashed(e, "during its heartbeat");
		close(fd);
		return -1;
	}
	if (ret || read(fd, &b, 1) != 1 || b != NE_HEARTBEAT_VALUE) {
		fprintf(stderr, "Error: bad heartbeat byte 0x%02x (want 0x%02x)\n",
			b, NE_HEARTBEAT_VALUE);
		close(fd);
		return -1;
	}
	ret = write(fd, &b, 1) == 1 ? 0 : -1;
	close(fd);
	if (!ret)
		fprintf(msg, "Heartbeat 0x%02x received from CID %llu and echoed: enclave booted\n",
			b, (unsigned long long)e->cid);
	return ret;
}

/* Connect to the enclave's debug console. Return: 0 or -1 (reported). */
static int console_connect(struct enclave *e)
{
	struct sockaddr_vm a = {
		.svm_family = AF_VSOCK,
		.svm_cid = NE_CONSOLE_CID,
		.svm_port = (unsigned int)(NE_CONSOLE_PORT_BASE + e->cid),
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		ne_report("vsock socket for the console", errno);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		ne_report("vsock connect to the console (CID 0, port 10000 + CID)",
			  errno);
		close(fd);
		return -1;
	}
	e->console_fd = fd;
	return 0;
}

/*
 * Copy what the console has to stdout, waiting up to @timeout_ms for it.
 * Return: true if it copied something; its end (or an error) closes it.
 */
static bool console_copy(struct enclave *e, int timeout_ms)
{
	struct pollfd p = { .fd = e->console_fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	n = read(e->console_fd, buf, sizeof(buf));
	if (n > 0 && fwrite(buf, 1, n, stdout) == (size_t)n) {
		fflush(stdout);
		return true;
	}
	if (n < 0)
		fprintf(stderr, "Warning: console: %s\n", strerror(errno));
	close(e->console_fd);
	e->console_fd = -1;
	return false;
}

/* The enclave exited: the console's last words, up to its end. */
static void console_drain(struct enclave *e)
{
	while (e->console_fd >= 0 && console_copy(e, 2000))
		;
}

static int start_enclave(struct enclave *e, const struct options *o)
{
	struct ne_enclave_start_info si = {
		.flags = o->debug ? NE_ENCLAVE_DEBUG_MODE : NE_ENCLAVE_PRODUCTION_MODE,
		.enclave_cid = o->cid,
	};
	int lfd = -1, ret = 0;

	if (o->heartbeat) {
		lfd = heartbeat_listen();
		if (lfd < 0)
			return -1;
	}
	if (ioctl(e->fd, NE_START_ENCLAVE, &si) < 0) {
		ne_report("NE_START_ENCLAVE", errno);
		ret = -1;
		goto out;
	}
	e->cid = si.enclave_cid;
	fprintf(msg, "Enclave started, CID %llu (%s mode)\n",
		(unsigned long long)si.enclave_cid, o->debug ? "debug" : "production");
	/* From the start, as the boot prints; read once the heartbeat is in */
	if (o->console && console_connect(e)) {
		ret = -1;
		goto out;
	}
	if (o->heartbeat)
		ret = heartbeat_wait(e, lfd);
	if (ret && __atomic_load_n(&e->exited, __ATOMIC_ACQUIRE))
		console_drain(e);
out:
	if (lfd >= 0)
		close(lfd);
	return ret;
}

/*
 * The enclave ID as nitro-cli forms it: the instance ID, "-enc", the slot
 * uid in hex. The instance ID is the board asset tag, which EC2 sets to it;
 * elsewhere (e.g. a QEMU guest) i-0000000000000000, nitro-cli's value when
 * the file is missing.
 */
static void enclave_id(const struct enclave *e, char *buf, size_t n)
{
	char tag[64] = "", *p, *q;
	FILE *f = fopen(NE_ASSET_TAG, "re");

	if (f) {
		if (!fgets(tag, sizeof(tag), f))
			tag[0] = '\0';
		fclose(f);
	}
	for (p = q = tag; *p; p++)	/* nitro-cli drops all whitespace */
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			*q++ = *p;
	*q = '\0';
	if (strncmp(tag, "i-", 2) || !tag[2])
		snprintf(tag, sizeof(tag), "%s", NE_NO_INSTANCE_ID);
	snprintf(buf, n, "%s-enc%llx", tag, (unsigned long long)e->slot_uid);
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/*
 * What "nitro-cli run-enclave" prints once the enclave runs, with the same
 * names and types. EnclaveName defaults to the image's file name without
 * ".eif", as there; MemoryMiB is the memory actually given (whole pages).
 */
static void print_run_json(const struct enclave *e, const struct options *o)
{
	const char *base = strrchr(o->eif, '/');
	char name[PATH_MAX], id[96];
	size_t len, i;

	base = base ? base + 1 : o->eif;
	snprintf(name, sizeof(name), "%s", o->name ? o->name : base);
	len = strlen(name);
	if (!o->name && len > 4 && !strcmp(name + len - 4, ".eif"))
		name[len - 4] = '\0';
	enclave_id(e, id, sizeof(id));
	printf("{\n  \"EnclaveName\": ");
	print_json_string(name);
	printf(",\n  \"EnclaveID\": ");
	print_json_string(id);
	printf(",\n  \"ProcessID\": %ld,\n  \"EnclaveCID\": %llu,\n"
	       "  \"NumberOfCPUs\": %d,\n  \"CPUIDs\": [",
	       (long)getpid(), (unsigned long long)e->cid, e->nr_cpus);
	for (i = 0; i < (size_t)e->nr_cpus; i++)
		printf("%s\n    %u", i ? "," : "", e->cpu_ids[i]);
	printf("%s],\n  \"MemoryMiB\": %llu\n}\n", e->nr_cpus ? "\n  " : "",
	       (unsigned long long)(e->nr_regions * e->regions[0].size) >> 20);
	fflush(stdout);
}

/*
 * Sleep up to @sec seconds, returning early if the enclave exits.
 * Return: 0, or -1 if the enclave exited (crashed) on its own.
 */
static int keep_running(struct enclave *e, unsigned int sec)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
	int64_t end = now_ms() + sec * 1000LL;

	fprintf(msg, "Enclave running; terminating in %u s\n", sec);
	while (!__atomic_load_n(&e->exited, __ATOMIC_ACQUIRE) && now_ms() < end) {
		if (e->console_fd >= 0)
			console_copy(e, 100);
		else
			nanosleep(&ts, NULL);
	}
	if (!__atomic_load_n(&e->exited, __ATOMIC_ACQUIRE))
		return 0;
	console_drain(e);
	fprintf(stderr, "Error: enclave CID %llu exited on its own while running (its application ended, or it crashed)\n",
		(unsigned long long)e->cid);
	return -1;
}

static void close_enclave(struct enclave *e)
{
	if (e->poller_started) {
		if (write(e->stop_pipe[1], "x", 1) != 1)
			perror("write");
		pthread_join(e->poller, NULL);
		e->poller_started = false;
	}
	if (e->fd >= 0) {
		close(e->fd);
		fprintf(msg,
			"Enclave fd closed: the enclave is terminated and its resources freed\n");
	}
	e->fd = -1;
	if (e->console_fd >= 0)
		close(e->console_fd);
	e->console_fd = -1;
	free_memory(e);
	close(e->stop_pipe[0]);
	close(e->stop_pipe[1]);
}

int main(int argc, char **argv)
{
	struct enclave e = { .fd = -1, .stop_pipe = { -1, -1 }, .console_fd = -1 };
	struct options o;
	int dev, ret;

	if (parse_args(argc, argv, &o)) {
		usage(stderr, argv[0]);
		return EXIT_USAGE;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	msg = o.json ? stderr : stdout;

	dev = open(NE_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		ne_report("open " NE_DEV_NAME, errno);
		return EXIT_FAILURE;
	}
	e.fd = ioctl(dev, NE_CREATE_VM, &e.slot_uid);
	ret = e.fd < 0 ? errno : 0;
	close(dev);
	if (e.fd < 0) {
		ne_report("NE_CREATE_VM", ret);
		return EXIT_FAILURE;
	}
	fprintf(msg, "Enclave fd %d, slot uid 0x%llx\n", e.fd,
		(unsigned long long)e.slot_uid);

	if (pipe2(e.stop_pipe, O_CLOEXEC) ||
	    pthread_create(&e.poller, NULL, poll_enclave, &e)) {
		fprintf(stderr, "Error: cannot start the enclave poll thread\n");
		close(e.fd);
		return EXIT_FAILURE;
	}
	e.poller_started = true;

	ret = alloc_memory(&e, &o);
	if (!ret)
		ret = load_image(&e, o.eif);
	if (!ret)
		ret = add_memory(&e);
	if (!ret)
		ret = add_vcpus(&e, &o);
	if (!ret)
		ret = start_enclave(&e, &o);
	if (!ret && o.json)
		print_run_json(&e, &o);
	if (!ret)
		ret = keep_running(&e, o.run_sec);
	close_enclave(&e);
	return ret ? EXIT_FAILURE : EXIT_SUCCESS;
}
