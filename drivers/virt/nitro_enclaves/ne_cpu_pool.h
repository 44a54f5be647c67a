/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Nitro Enclaves CPU pool: the ne_cpus parameter and core bookkeeping.
 */

#ifndef _NE_CPU_POOL_H_
#define _NE_CPU_POOL_H_

#include <linux/cpumask.h>
#include <linux/types.h>

/**
 * struct ne_cpu_pool_info - Snapshot of the pool geometry for one enclave.
 * @nr_cores:            Number of core slots of the pool
 *                       (nr_cpu_ids / @nr_threads_per_core).
 * @nr_threads_per_core: SMT threads of every pool core.
 * @numa_node:           NUMA node of every pool CPU; enclave memory must be
 *                       on it.
 *
 * The geometry cannot change while an enclave exists, so the snapshot taken
 * at enclave creation stays valid for the enclave's lifetime.
 */
struct ne_cpu_pool_info {
	unsigned int nr_cores;
	unsigned int nr_threads_per_core;
	int numa_node;
};

/**
 * struct ne_cpu_pool_status - What the pool looks like at one moment.
 * @nr_cores:      Cores in the pool, free or reserved; 0 without a pool.
 * @nr_free_cores: Pool cores that no enclave holds.
 * @numa_node:     NUMA node of the pool CPUs, NUMA_NO_NODE without a pool.
 */
struct ne_cpu_pool_status {
	unsigned int nr_cores;
	unsigned int nr_free_cores;
	int numa_node;
};

cpumask_var_t *ne_core_masks_alloc(unsigned int nr, gfp_t gfp);
void ne_core_masks_free(cpumask_var_t *masks, unsigned int nr);
int ne_cpu_pool_enclave_get(struct ne_cpu_pool_info *info);
void ne_cpu_pool_enclave_put(void);
int ne_cpu_pool_reserve_free_core(cpumask_var_t *threads_per_core);
int ne_cpu_pool_reserve_cpu_core(unsigned int cpu,
				 cpumask_var_t *threads_per_core);
void ne_cpu_pool_release_core(unsigned int core, const struct cpumask *threads);
bool ne_cpu_pool_has_cpu(unsigned int cpu);
void ne_cpu_pool_get_status(struct ne_cpu_pool_status *status,
			    struct cpumask *cpus);
int ne_cpu_pool_init(void);
void ne_cpu_pool_exit(void);

#if IS_ENABLED(CONFIG_KUNIT)
/* Exposed for the KUnit suite (ne_cpu_pool_test.c) only. */
int ne_cpu_pool_check_cpus(const struct cpumask *cpus, int *node);
int ne_cpu_pool_index_cores(const struct cpumask *cpus, cpumask_var_t *masks,
			    unsigned int nr_cores);
bool ne_cpus_is_blank(const char *val);
#endif

#endif /* _NE_CPU_POOL_H_ */
