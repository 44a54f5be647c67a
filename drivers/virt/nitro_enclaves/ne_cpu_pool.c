// SPDX-License-Identifier: GPL-2.0
/*
 * Nitro Enclaves CPU pool.
 *
 * The administrator hands whole CPU cores to enclaves by writing a cpu-list
 * to the ne_cpus module parameter. The listed CPUs are taken offline in the
 * parent VM and grouped into cores; an enclave reserves whole cores from the
 * pool and returns them when it is released. The CPUs are onlined again only
 * when the pool is torn down (next write, or module unload).
 *
 * ne_cpus= given at module load is only checked and recorded while the
 * parameters are parsed; module init sets the pool up (ne_cpu_pool_init()).
 * A load can still fail after the parameters (a later parameter is refused,
 * or init fails) and module exit then never runs: a pool set up during
 * parsing would keep its CPUs offline for good.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <kunit/visibility.h>
#include <linux/capability.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/nitro_enclaves.h>
#include <linux/numa.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/topology.h>

#include "ne_cpu_pool.h"

/* Size of the buffer that stores the ne_cpus string, NUL included. */
#define NE_CPUS_SIZE	(512)

/*
 * Serialises whatever changes the pool's CPUs: ne_cpus writes and module
 * unload. Only these take pool CPUs offline or online (remove_cpu() and
 * add_cpu(), which take the device hotplug lock), and they do it holding
 * this mutex but not ne_cpu_pool_mutex. Taken before ne_cpu_pool_mutex.
 * Statically initialised, like ne_cpu_pool_mutex.
 */
static DEFINE_MUTEX(ne_cpus_write_mutex);

/*
 * Whether a write to ne_cpus changes the pool. Set by ne_cpu_pool_init();
 * until then (while the module loads) a write is only checked for syntax
 * and recorded in ne_pool.cpus, for init to apply. Cleared again by
 * ne_cpu_pool_exit(), so that a write racing with unload, or with a failed
 * init, cannot set up a pool that nobody would tear down. Protected by
 * ne_cpus_write_mutex.
 */
static bool ne_cpus_live;

/*
 * Protects ne_pool; ne_pool.all_cpus changes only with ne_cpus_write_mutex
 * held too. Statically initialised because a module load parameter
 * (ne_cpus=...) is written before the module init function runs.
 * Innermost lock of the driver: callers may hold the device's enclaves_lock
 * and an enclave's lock when they call into this file. Never held across
 * CPU hotplug: device removal waits for the event work, which takes an
 * enclave's lock, while it holds locks that rank after the device hotplug
 * lock, so hotplug under this mutex would close a lock cycle.
 */
static DEFINE_MUTEX(ne_cpu_pool_mutex);

/**
 * struct ne_cpu_pool - The CPU pool, protected by ne_cpu_pool_mutex.
 * @all_cpus:               Every pool CPU, free or reserved by an enclave;
 *                          empty when no pool is configured.
 * @avail_threads_per_core: Array of @nr_cores masks; core i's threads that
 *                          are in the pool and not reserved by an enclave.
 *                          A core is always reserved as a whole, so a mask
 *                          is either full or empty.
 * @nr_cores:               Entries of @avail_threads_per_core; 0 when no
 *                          pool is configured.
 * @nr_threads_per_core:    SMT threads of each pool core.
 * @numa_node:              NUMA node of the pool CPUs.
 * @nr_enclaves:            Enclaves that exist (created and not yet
 *                          released); the pool cannot change while non-zero.
 * @cpus:                   The string last written to ne_cpus and accepted;
 *                          empty when no pool is configured. Before
 *                          module init, the value recorded for init to
 *                          apply (no pool is configured yet).
 */
struct ne_cpu_pool {
	struct cpumask all_cpus;
	cpumask_var_t *avail_threads_per_core;
	unsigned int nr_cores;
	unsigned int nr_threads_per_core;
	int numa_node;
	unsigned int nr_enclaves;
	char cpus[NE_CPUS_SIZE];
};

static struct ne_cpu_pool ne_pool = {
	.numa_node = NUMA_NO_NODE,
};

/**
 * ne_core_masks_free() - Free an array of per-core CPU masks.
 * @masks:	The array from ne_core_masks_alloc(), or NULL.
 * @nr:		How many of its masks were allocated.
 *
 * Context: Process context.
 */
void ne_core_masks_free(cpumask_var_t *masks, unsigned int nr)
{
	unsigned int i;

	if (!masks)
		return;

	for (i = 0; i < nr; i++)
		free_cpumask_var(masks[i]);
	kfree(masks);
}

/**
 * ne_core_masks_alloc() - Allocate an array of empty per-core CPU masks.
 * @nr:		The number of masks (one per core).
 * @gfp:	Allocation flags for the array and the masks.
 *
 * Context: Process context; may sleep if @gfp allows.
 * Return: The array (free it with ne_core_masks_free(@masks, @nr)), or NULL
 * if memory ran out.
 */
cpumask_var_t *ne_core_masks_alloc(unsigned int nr, gfp_t gfp)
{
	cpumask_var_t *masks;
	unsigned int i;

	masks = kcalloc(nr, sizeof(*masks), gfp);
	if (!masks)
		return NULL;

	for (i = 0; i < nr; i++) {
		if (!zalloc_cpumask_var(&masks[i], gfp)) {
			ne_core_masks_free(masks, i);
			return NULL;
		}
	}

	return masks;
}

/*
 * Forget the pool, then online its CPUs; refused (-EPERM) while an enclave
 * exists, so every pool CPU is free. Once the pool is forgotten no enclave
 * can be created (no free core), so the CPUs are onlined without the pool
 * mutex.
 */
static int ne_cpu_pool_teardown(void)
{
	cpumask_var_t *masks;
	unsigned int nr_cores;
	unsigned int cpu;
	int rc;

	lockdep_assert_held(&ne_cpus_write_mutex);

	mutex_lock(&ne_cpu_pool_mutex);
	if (ne_pool.nr_enclaves) {
		pr_err_ratelimited("ne_cpus: cannot change the CPU pool while %u enclave(s) exist: close them first (see /sys/class/misc/nitro_enclaves/enclaves)\n",
				   ne_pool.nr_enclaves);
		mutex_unlock(&ne_cpu_pool_mutex);
		return -EPERM;
	}
	masks = ne_pool.avail_threads_per_core;
	nr_cores = ne_pool.nr_cores;
	ne_pool.avail_threads_per_core = NULL;
	ne_pool.nr_cores = 0;
	ne_pool.nr_threads_per_core = 0;
	ne_pool.numa_node = NUMA_NO_NODE;
	ne_pool.cpus[0] = '\0';
	mutex_unlock(&ne_cpu_pool_mutex);

	if (!nr_cores)
		return 0;

	for_each_cpu(cpu, &ne_pool.all_cpus) {
		rc = add_cpu(cpu);
		if (rc < 0)
			pr_err_ratelimited("ne_cpus: CPU %u left the pool but cannot be brought online (%d): online it by hand (echo 1 > /sys/devices/system/cpu/cpu%u/online)\n",
					   cpu, rc, cpu);
	}
	pr_info("ne_cpus: CPU pool %*pbl removed, its CPUs are back with the parent VM\n",
		cpumask_pr_args(&ne_pool.all_cpus));

	ne_core_masks_free(masks, nr_cores);
	mutex_lock(&ne_cpu_pool_mutex);
	cpumask_clear(&ne_pool.all_cpus);
	mutex_unlock(&ne_cpu_pool_mutex);

	return 0;
}

/* The ne_cpus checks that need no allocation, in their documented order. */
VISIBLE_IF_KUNIT int ne_cpu_pool_check_cpus(const struct cpumask *cpus,
					    int *node)
{
	unsigned int cpu;
	unsigned int sibling;
	unsigned int nr_threads;

	for_each_cpu(cpu, cpus) {
		if (!cpu_online(cpu)) {
			pr_err_ratelimited("ne_cpus: CPU %u is offline: bring it online first (echo 1 > /sys/devices/system/cpu/cpu%u/online)\n",
					   cpu, cpu);
			return -EINVAL;
		}
	}

	*node = cpu_to_node(cpumask_first(cpus));
	if (*node < 0) {
		pr_err_ratelimited("ne_cpus: CPU %u has no NUMA node: list CPUs that belong to a NUMA node\n",
				   cpumask_first(cpus));
		return -EINVAL;
	}
	for_each_cpu(cpu, cpus) {
		if (cpu_to_node(cpu) != *node) {
			pr_err_ratelimited("ne_cpus: CPU %u is on NUMA node %d, CPU %u on node %d: list CPUs of one node only (see /sys/devices/system/node/node%d/cpulist)\n",
					   cpumask_first(cpus), *node, cpu,
					   cpu_to_node(cpu), *node);
			return -EINVAL;
		}
	}

	if (cpumask_test_cpu(0, cpus)) {
		pr_err_ratelimited("ne_cpus: CPU 0 is listed: leave CPU 0 and its siblings to the parent VM\n");
		return -EINVAL;
	}

	for_each_cpu(sibling, topology_sibling_cpumask(0)) {
		if (cpumask_test_cpu(sibling, cpus)) {
			pr_err_ratelimited("ne_cpus: CPU %u is a sibling of CPU 0: leave CPU 0's core to the parent VM\n",
					   sibling);
			return -EINVAL;
		}
	}

	nr_threads = cpumask_weight(topology_sibling_cpumask(cpumask_first(cpus)));
	for_each_cpu(cpu, cpus) {
		for_each_cpu(sibling, topology_sibling_cpumask(cpu)) {
			if (!cpumask_test_cpu(sibling, cpus)) {
				pr_err_ratelimited("ne_cpus: CPU %u is listed but its sibling CPU %u is not: list whole cores (see /sys/devices/system/cpu/cpu%u/topology/thread_siblings_list)\n",
						   cpu, sibling, cpu);
				return -EINVAL;
			}
		}
		if (cpumask_weight(topology_sibling_cpumask(cpu)) != nr_threads) {
			pr_err_ratelimited("ne_cpus: CPU %u's core has %u threads, CPU %u's has %u: list cores with the same number of threads\n",
					   cpu,
					   cpumask_weight(topology_sibling_cpumask(cpu)),
					   cpumask_first(cpus), nr_threads);
			return -EINVAL;
		}
	}

	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(ne_cpu_pool_check_cpus);

/*
 * Fill the per-core masks. Cores are numbered sequentially in the order of
 * their lowest CPU, by walking the sibling masks, so sparse topology core
 * ids do not matter.
 */
VISIBLE_IF_KUNIT int ne_cpu_pool_index_cores(const struct cpumask *cpus,
					     cpumask_var_t *masks,
					     unsigned int nr_cores)
{
	unsigned int core = 0;
	unsigned int cpu;

	for_each_cpu(cpu, cpus) {
		if (cpumask_first_and(topology_sibling_cpumask(cpu), cpus) != cpu)
			continue;
		if (core >= nr_cores) {
			pr_err_ratelimited("ne_cpus: more than %u cores in the list: report this CPU topology to the driver maintainers\n",
					   nr_cores);
			return -EINVAL;
		}
		cpumask_and(masks[core], topology_sibling_cpumask(cpu), cpus);
		core++;
	}

	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(ne_cpu_pool_index_cores);

/*
 * Offline every CPU of @cpus, or none: on failure the CPUs this call took
 * offline are brought back online, and the error is returned.
 *
 * remove_cpu() returns 1, not an error, when the CPU's device is already
 * offline. The checks refused offline CPUs (the third check), so this
 * one went offline since then, behind the driver's back: a write to its
 * online file racing with this one, or an earlier hotplug/target write
 * that left the device offline while the CPU runs again. Either way the
 * CPU is not the pool's to give: whoever took it offline may bring it back
 * at any time, or it may still be running. It fails the write as if it
 * had been offline at the check (-EINVAL), with nothing left offline by
 * this call. A positive value must never reach the parameter's set
 * callback either: sysfs would return it as a byte count (a short write).
 */
static int ne_cpu_pool_offline_cpus(const struct cpumask *cpus)
{
	unsigned int failed;
	unsigned int cpu;
	int online_rc;
	int rc;

	for_each_cpu(failed, cpus) {
		rc = remove_cpu(failed);
		if (rc)
			goto online_cpus;
	}

	return 0;

online_cpus:
	if (rc > 0) {
		pr_err_ratelimited("ne_cpus: CPU %u went offline while the pool was being set up: bring it online (echo 1 > /sys/devices/system/cpu/cpu%u/online), then write ne_cpus again\n",
				   failed, failed);
		rc = -EINVAL;
	} else {
		pr_err_ratelimited("ne_cpus: cannot take CPU %u offline (%d): make sure it can be hot-unplugged (echo 0 > /sys/devices/system/cpu/cpu%u/online), then write ne_cpus again\n",
				   failed, rc, failed);
	}
	for_each_cpu(cpu, cpus) {
		if (cpu == failed)
			break;
		online_rc = add_cpu(cpu);
		if (online_rc < 0)
			pr_err_ratelimited("ne_cpus: CPU %u cannot be brought back online (%d): online it by hand (echo 1 > /sys/devices/system/cpu/cpu%u/online)\n",
					   cpu, online_rc, cpu);
	}

	return rc;
}

/* The first two ne_cpus checks: @val is a cpu-list naming a CPU or more. */
static int ne_cpu_pool_parse(const char *val, struct cpumask *cpus)
{
	int rc;

	rc = cpulist_parse(val, cpus);
	if (rc) {
		if (rc == -ERANGE)
			pr_err_ratelimited("ne_cpus: the cpu-list names a CPU above %u, the last possible one: list existing CPUs only\n",
					   nr_cpu_ids - 1);
		else
			pr_err_ratelimited("ne_cpus: the value is not a cpu-list (%d): write CPU numbers and ranges, e.g. 2,3 or 2-5\n",
					   rc);
		return rc;
	}

	if (cpumask_empty(cpus)) {
		pr_err_ratelimited("ne_cpus: the cpu-list names no CPU: list CPUs, or write an empty line to remove the pool\n");
		return -EINVAL;
	}

	return 0;
}

/* The value is stored with the pool: it must fit in ne_pool.cpus. */
static int ne_cpus_check_len(const char *val)
{
	if (strlen(val) < NE_CPUS_SIZE)
		return 0;

	pr_err_ratelimited("ne_cpus: the value is longer than %d bytes: write ranges (2-7) instead of single CPUs\n",
			   NE_CPUS_SIZE - 1);
	return -ENOSPC;
}

/*
 * Build a pool from a cpu-list, offline its CPUs, then install it; the
 * current pool must be empty. The pool mutex is only taken to install.
 */
static int ne_cpu_pool_setup(const char *val)
{
	unsigned int nr_threads;
	unsigned int nr_cores;
	cpumask_var_t *masks;
	cpumask_var_t cpus;
	int node;
	int rc;

	lockdep_assert_held(&ne_cpus_write_mutex);

	if (!zalloc_cpumask_var(&cpus, GFP_KERNEL))
		return -ENOMEM;

	rc = ne_cpu_pool_parse(val, cpus);
	if (rc)
		goto free_cpus;

	rc = ne_cpu_pool_check_cpus(cpus, &node);
	if (rc)
		goto free_cpus;

	nr_threads = cpumask_weight(topology_sibling_cpumask(cpumask_first(cpus)));
	nr_cores = nr_cpu_ids / nr_threads;
	masks = ne_core_masks_alloc(nr_cores, GFP_KERNEL);
	if (!masks) {
		rc = -ENOMEM;
		goto free_cpus;
	}

	rc = ne_cpu_pool_index_cores(cpus, masks, nr_cores);
	if (rc)
		goto free_masks;

	/*
	 * The string is stored with the pool. One that does not fit fails
	 * after the checks, as if the pool had been set up and torn down.
	 */
	rc = ne_cpus_check_len(val);
	if (rc)
		goto free_masks;

	rc = ne_cpu_pool_offline_cpus(cpus);
	if (rc)
		goto free_masks;

	mutex_lock(&ne_cpu_pool_mutex);
	cpumask_copy(&ne_pool.all_cpus, cpus);
	ne_pool.avail_threads_per_core = masks;
	ne_pool.nr_cores = nr_cores;
	ne_pool.nr_threads_per_core = nr_threads;
	ne_pool.numa_node = node;
	strscpy(ne_pool.cpus, val, sizeof(ne_pool.cpus));
	mutex_unlock(&ne_cpu_pool_mutex);
	pr_info("ne_cpus: CPU pool %*pbl set up on NUMA node %d, its CPUs are offline in the parent VM\n",
		cpumask_pr_args(cpus), node);
	free_cpumask_var(cpus);

	return 0;

free_masks:
	ne_core_masks_free(masks, nr_cores);
free_cpus:
	free_cpumask_var(cpus);
	return rc;
}

VISIBLE_IF_KUNIT bool ne_cpus_is_blank(const char *val)
{
	if (!val)
		return true;

	while (*val && isspace(*val))
		val++;

	return *val == '\0';
}
EXPORT_SYMBOL_IF_KUNIT(ne_cpus_is_blank);

/*
 * Before module init: check that @val is a cpu-list that fits, and record
 * it for ne_cpu_pool_init(). The CPU checks wait for init, where they meet
 * the CPUs as they are then. Like a write after load, a blank value leaves
 * nothing to set up and a refused one leaves nothing recorded.
 */
static int ne_cpus_record(const char *val)
{
	cpumask_var_t cpus;
	int rc;

	lockdep_assert_held(&ne_cpus_write_mutex);

	mutex_lock(&ne_cpu_pool_mutex);
	ne_pool.cpus[0] = '\0';
	mutex_unlock(&ne_cpu_pool_mutex);

	if (ne_cpus_is_blank(val))
		return 0;

	if (!zalloc_cpumask_var(&cpus, GFP_KERNEL))
		return -ENOMEM;
	rc = ne_cpu_pool_parse(val, cpus);
	free_cpumask_var(cpus);
	if (!rc)
		rc = ne_cpus_check_len(val);
	if (rc)
		return rc;

	mutex_lock(&ne_cpu_pool_mutex);
	strscpy(ne_pool.cpus, val, sizeof(ne_pool.cpus));
	mutex_unlock(&ne_cpu_pool_mutex);

	return 0;
}

/*
 * Write handler of ne_cpus. Unlike the upstream driver, a blank value tears
 * the pool down and succeeds. A failed setup leaves no pool (the previous
 * one is not restored). Before module init the value is only recorded.
 */
static int ne_cpus_set(const char *val, const struct kernel_param *kp)
{
	int rc = 0;

	/*
	 * Built in, ne_cpus= on the kernel command line is parsed before the
	 * allocator and the secondary CPUs are up: nothing can be set then.
	 * User space, and so any module load, only runs once the system is
	 * running.
	 */
	if (system_state < SYSTEM_RUNNING) {
		pr_err("ne_cpus: cannot be set on the kernel command line: write it after boot, or give it as a module option (modprobe nitro_enclaves ne_cpus=...)\n");
		return -EINVAL;
	}

	if (!capable(CAP_SYS_ADMIN)) {
		pr_err_ratelimited("ne_cpus: changing the CPU pool needs CAP_SYS_ADMIN: write it as root\n");
		return -EPERM;
	}

	mutex_lock(&ne_cpus_write_mutex);

	if (!ne_cpus_live) {
		rc = ne_cpus_record(val);
		goto unlock;
	}

	/* Without a pool no enclave can be created until the new one is in. */
	rc = ne_cpu_pool_teardown();
	if (rc || ne_cpus_is_blank(val))
		goto unlock;

	rc = ne_cpu_pool_setup(val);

unlock:
	mutex_unlock(&ne_cpus_write_mutex);
	return rc;
}

static int ne_cpus_get(char *buffer, const struct kernel_param *kp)
{
	int len;

	mutex_lock(&ne_cpu_pool_mutex);
	len = scnprintf(buffer, PAGE_SIZE, "%s\n", ne_pool.cpus);
	mutex_unlock(&ne_cpu_pool_mutex);

	return len;
}

static const struct kernel_param_ops ne_cpus_ops = {
	.set = ne_cpus_set,
	.get = ne_cpus_get,
};

module_param_cb(ne_cpus, &ne_cpus_ops, NULL, 0644);
MODULE_PARM_DESC(ne_cpus, "<cpu-list> - CPU pool used for Nitro Enclaves");

/**
 * ne_cpu_pool_enclave_get() - Account a new enclave and snapshot the pool.
 * @info: Filled with the pool geometry on success.
 *
 * While at least one enclave is accounted, ne_cpus cannot be written.
 * Balanced by ne_cpu_pool_enclave_put().
 *
 * Context: Process context. Takes the pool mutex.
 * Return:
 * * 0 on success.
 * * -NE_ERR_NO_CPUS_AVAIL_IN_POOL if no pool core is free (or no pool is
 *   configured).
 */
int ne_cpu_pool_enclave_get(struct ne_cpu_pool_info *info)
{
	unsigned int core;
	int rc = -NE_ERR_NO_CPUS_AVAIL_IN_POOL;

	mutex_lock(&ne_cpu_pool_mutex);

	for (core = 0; core < ne_pool.nr_cores; core++) {
		if (!cpumask_empty(ne_pool.avail_threads_per_core[core])) {
			rc = 0;
			break;
		}
	}

	if (!rc) {
		info->nr_cores = ne_pool.nr_cores;
		info->nr_threads_per_core = ne_pool.nr_threads_per_core;
		info->numa_node = ne_pool.numa_node;
		ne_pool.nr_enclaves++;
	}

	mutex_unlock(&ne_cpu_pool_mutex);

	return rc;
}

/**
 * ne_cpu_pool_enclave_put() - Drop the accounting of an enclave.
 *
 * The enclave must have returned all its cores first.
 *
 * Context: Process context. Takes the pool mutex.
 */
void ne_cpu_pool_enclave_put(void)
{
	mutex_lock(&ne_cpu_pool_mutex);
	if (!WARN_ON_ONCE(!ne_pool.nr_enclaves))
		ne_pool.nr_enclaves--;
	mutex_unlock(&ne_cpu_pool_mutex);
}

/* Move all threads of @core from the pool to the enclave's mask. */
static void ne_cpu_pool_take_core(unsigned int core,
				  cpumask_var_t *threads_per_core)
{
	lockdep_assert_held(&ne_cpu_pool_mutex);

	cpumask_copy(threads_per_core[core],
		     ne_pool.avail_threads_per_core[core]);
	cpumask_clear(ne_pool.avail_threads_per_core[core]);
}

/**
 * ne_cpu_pool_reserve_free_core() - Reserve the lowest-index free core.
 * @threads_per_core: The enclave's per-core masks, one per pool core (as
 *                    many as &ne_cpu_pool_info.nr_cores); the threads of
 *                    the reserved core are copied into its entry.
 *
 * Context: Process context. Takes the pool mutex.
 * Return:
 * * The index of the reserved core.
 * * -NE_ERR_NO_CPUS_AVAIL_IN_POOL if every pool core is taken.
 */
int ne_cpu_pool_reserve_free_core(cpumask_var_t *threads_per_core)
{
	unsigned int core;
	int rc = -NE_ERR_NO_CPUS_AVAIL_IN_POOL;

	mutex_lock(&ne_cpu_pool_mutex);

	for (core = 0; core < ne_pool.nr_cores; core++) {
		if (!cpumask_empty(ne_pool.avail_threads_per_core[core])) {
			ne_cpu_pool_take_core(core, threads_per_core);
			rc = core;
			break;
		}
	}

	mutex_unlock(&ne_cpu_pool_mutex);

	return rc;
}

/**
 * ne_cpu_pool_reserve_cpu_core() - Reserve the free core that contains a CPU.
 * @cpu:              Linux CPU id.
 * @threads_per_core: The enclave's per-core masks, one per pool core (as
 *                    many as &ne_cpu_pool_info.nr_cores); the threads of
 *                    the reserved core are copied into its entry.
 *
 * Context: Process context. Takes the pool mutex.
 * Return:
 * * The index of the reserved core.
 * * -NE_ERR_VCPU_NOT_IN_CPU_POOL if no free pool core contains @cpu.
 */
int ne_cpu_pool_reserve_cpu_core(unsigned int cpu,
				 cpumask_var_t *threads_per_core)
{
	unsigned int core;
	int rc = -NE_ERR_VCPU_NOT_IN_CPU_POOL;

	if (cpu >= nr_cpu_ids)
		return rc;

	mutex_lock(&ne_cpu_pool_mutex);

	for (core = 0; core < ne_pool.nr_cores; core++) {
		if (cpumask_test_cpu(cpu, ne_pool.avail_threads_per_core[core])) {
			ne_cpu_pool_take_core(core, threads_per_core);
			rc = core;
			break;
		}
	}

	mutex_unlock(&ne_cpu_pool_mutex);

	return rc;
}

/**
 * ne_cpu_pool_release_core() - Give a reserved core back to the pool.
 * @core:    Index returned when the core was reserved.
 * @threads: The threads that were reserved with it.
 *
 * The CPUs stay offline; they are onlined when the pool is torn down.
 *
 * Context: Process context. Takes the pool mutex.
 */
void ne_cpu_pool_release_core(unsigned int core, const struct cpumask *threads)
{
	mutex_lock(&ne_cpu_pool_mutex);
	if (!WARN_ON_ONCE(core >= ne_pool.nr_cores))
		cpumask_or(ne_pool.avail_threads_per_core[core],
			   ne_pool.avail_threads_per_core[core], threads);
	mutex_unlock(&ne_cpu_pool_mutex);
}

/**
 * ne_cpu_pool_get_status() - Describe the pool as it is now.
 * @status: Filled with the pool's core counts and NUMA node.
 * @cpus:   If not NULL, set to every pool CPU, free or reserved.
 *
 * A consistent snapshot: everything is read under the pool mutex.
 *
 * Context: Process context. Takes the pool mutex.
 */
void ne_cpu_pool_get_status(struct ne_cpu_pool_status *status,
			    struct cpumask *cpus)
{
	unsigned int core;

	memset(status, 0, sizeof(*status));

	mutex_lock(&ne_cpu_pool_mutex);

	for (core = 0; core < ne_pool.nr_cores; core++) {
		if (!cpumask_empty(ne_pool.avail_threads_per_core[core]))
			status->nr_free_cores++;
	}
	if (ne_pool.nr_threads_per_core)
		status->nr_cores = cpumask_weight(&ne_pool.all_cpus) /
				   ne_pool.nr_threads_per_core;
	status->numa_node = ne_pool.numa_node;
	if (cpus)
		cpumask_copy(cpus, &ne_pool.all_cpus);

	mutex_unlock(&ne_cpu_pool_mutex);
}

/**
 * ne_cpu_pool_has_cpu() - Whether a CPU belongs to the pool.
 * @cpu: Linux CPU id.
 *
 * Context: Process context. Takes the pool mutex.
 * Return: true if @cpu is a pool CPU, free or reserved by an enclave.
 */
bool ne_cpu_pool_has_cpu(unsigned int cpu)
{
	bool ret;

	if (cpu >= nr_cpu_ids)
		return false;

	mutex_lock(&ne_cpu_pool_mutex);
	ret = cpumask_test_cpu(cpu, &ne_pool.all_cpus);
	mutex_unlock(&ne_cpu_pool_mutex);

	return ret;
}

/**
 * ne_cpu_pool_init() - Set up the pool given at module load.
 *
 * Applies the value recorded while the module parameters were parsed (or
 * written to ne_cpus before init), with the checks of a write after load,
 * and from then on lets ne_cpus writes change the pool. A pool that cannot
 * be set up fails the load with the error the same write after load would
 * return, so that a wrong modprobe option is seen at once; nothing is left
 * offline then. Balanced by ne_cpu_pool_exit(), also when a later step of
 * module init fails.
 *
 * Context: Process context (module init). Takes the ne_cpus write mutex,
 * then the pool mutex for short sections; may offline CPUs.
 * Return:
 * * 0 on success, also when no pool was given.
 * * -ENOMEM if memory ran out.
 * * Otherwise the error of the failed setup check or CPU offlining
 *   (-EINVAL for a CPU the pool cannot take).
 */
int ne_cpu_pool_init(void)
{
	char *val = NULL;
	int rc = 0;

	mutex_lock(&ne_cpus_write_mutex);

	/* Only ne_cpus writers, excluded here, change the recorded value. */
	if (ne_pool.cpus[0]) {
		val = kstrdup(ne_pool.cpus, GFP_KERNEL);
		/* Setup stores the value again once the pool is in. */
		mutex_lock(&ne_cpu_pool_mutex);
		ne_pool.cpus[0] = '\0';
		mutex_unlock(&ne_cpu_pool_mutex);
		rc = val ? ne_cpu_pool_setup(val) : -ENOMEM;
	}

	if (rc)
		pr_err("ne_cpus: cannot set up the CPU pool given at module load (%d), so the module is not loaded: correct ne_cpus= (e.g. in /etc/modprobe.d/), or load without it and write the pool afterwards\n",
		       rc);
	else
		ne_cpus_live = true;

	mutex_unlock(&ne_cpus_write_mutex);
	kfree(val);

	return rc;
}

/**
 * ne_cpu_pool_exit() - Tear the pool down at module unload.
 *
 * Onlines every pool CPU; later ne_cpus writes are only recorded again.
 * No enclave can exist any more: each enclave file holds a reference on
 * the module, and a failed module init creates none.
 *
 * Context: Process context. Takes the ne_cpus write mutex, then the pool
 * mutex for short sections; onlines CPUs.
 */
void ne_cpu_pool_exit(void)
{
	mutex_lock(&ne_cpus_write_mutex);
	WARN_ON_ONCE(ne_cpu_pool_teardown());
	ne_cpus_live = false;
	mutex_unlock(&ne_cpus_write_mutex);
}
