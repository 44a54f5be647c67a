// SPDX-License-Identifier: GPL-2.0
/*
 * Races on the NE driver: threads closing, polling, starting and adding
 * memory and vCPUs on the same enclave fd at once; many enclaves created
 * and released in parallel while events (and enclave exits, with the test
 * BAR) arrive. Whatever interleaving happens, every call returns a
 * documented result, nothing hangs (the harness timeout), the kernel log
 * stays clean (the VM runner), and afterwards hugepages, pool CPUs and the
 * device's slots/vCPUs/memory are back to their baseline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NE_RACE_ROUNDS		12
#define NE_RACE_WORKERS		4
#define NE_RACE_LAUNCHES	6

static atomic_int bad_errors;

/* Results a racing call may legitimately see. */
static void check_ret(const char *what, int ret)
{
	if (ret >= 0)
		return;
	switch (-ret) {
	case EBADF: case EINVAL: case ENOMEM: case ENOSPC: case EBUSY:
	case EEXIST: case ENODEV:
		return;
	default:
		if (-ret >= NE_ERR_VCPU_ALREADY_USED &&
		    -ret <= NE_ERR_INVALID_ENCLAVE_CID)
			return;
	}
	fprintf(stderr, "# %s: unexpected %s (%d)\n", what, ne_err_name(ret), ret);
	atomic_fetch_add(&bad_errors, 1);
}

FIXTURE(races) {
	struct ne_env env;
};

FIXTURE_SETUP(races)
{
	atomic_store(&bad_errors, 0);
	ASSERT_EQ(0, ne_env_setup(&self->env));
}

FIXTURE_TEARDOWN(races)
{
	ne_env_teardown(_metadata, &self->env);
}

struct same_fd {
	struct ne_env *env;
	int efd;		/* closed by the closer thread */
	char *mem;		/* NE_MIN_MEM + 8 x 2 MiB */
	atomic_bool go;
	atomic_bool closed;
};

static void wait_go(struct same_fd *s)
{
	while (!atomic_load(&s->go))
		sched_yield();
}

static void *poller(void *arg)
{
	struct same_fd *s = arg;
	int i;

	wait_go(s);
	for (i = 0; i < 50 && !atomic_load(&s->closed); i++)
		ne_poll(s->efd, 2);
	return NULL;
}

static void *mem_adder(void *arg)
{
	struct same_fd *s = arg;
	int i;

	wait_go(s);
	check_ret("add_mem", ne_add_mem(s->efd, s->mem, NE_MIN_MEM));
	for (i = 0; i < 8; i++)
		check_ret("add_mem 2M", ne_add_mem(s->efd, s->mem + NE_MIN_MEM + i * SZ_2M,
						   SZ_2M));
	return NULL;
}

static void *vcpu_adder(void *arg)
{
	struct same_fd *s = arg;
	int i;

	wait_go(s);
	for (i = 0; i < s->env->pool_n && i < 2; i++)
		check_ret("add_vcpu", ne_add_vcpu_id(s->efd, s->env->pool[i]));
	return NULL;
}

static void *starter(void *arg)
{
	struct same_fd *s = arg;
	int i;

	wait_go(s);
	for (i = 0; i < 20; i++) {
		uint64_t cid = 0;
		int ret = ne_start(s->efd, 0, &cid);

		check_ret("start", ret);
		if (!ret)
			break;
		usleep(1000);
	}
	return NULL;
}

static void *closer(void *arg)
{
	struct same_fd *s = arg;

	wait_go(s);
	usleep((unsigned int)(rand() % 20000));
	atomic_store(&s->closed, true);
	close(s->efd);
	return NULL;
}

/* Close, poll, start, add memory and vCPUs on one enclave fd at once. */
TEST_F_TIMEOUT(races, same_fd_close_poll_start_add, 240)
{
	void *(*fns[])(void *) = { poller, poller, mem_adder, vcpu_adder,
				   starter, closer };
	pthread_t t[ARRAY_SIZE(fns)];
	struct same_fd s = { .env = &self->env };
	size_t len = NE_MIN_MEM + 8 * SZ_2M;
	unsigned int i, round;
	uint64_t uid;

	NE_NEED_HUGEPAGES(SZ_2M, len / SZ_2M);
	srand(1);
	for (round = 0; round < NE_RACE_ROUNDS; round++) {
		s.mem = ne_map_huge(&self->env.maps, len, SZ_2M);
		ASSERT_NE(NULL, s.mem);
		s.efd = ne_create_vm(self->env.dev, &uid);
		ASSERT_LE(0, s.efd) TH_LOG("create: %s", ne_err_name(s.efd));
		atomic_store(&s.go, false);
		atomic_store(&s.closed, false);
		for (i = 0; i < ARRAY_SIZE(fns); i++)
			ASSERT_EQ(0, pthread_create(&t[i], NULL, fns[i], &s));
		atomic_store(&s.go, true);
		for (i = 0; i < ARRAY_SIZE(fns); i++)
			pthread_join(t[i], NULL);
		ne_unmap_all(&self->env.maps);
		/* The enclave is gone: its pages and core are back. */
		EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M))
			TH_LOG("round %u", round);
	}
	EXPECT_EQ(0, atomic_load(&bad_errors));
}

struct churn {
	struct ne_env *env;
	atomic_bool stop;
	atomic_int launches;
	atomic_int started;
	pthread_mutex_t map_lock;
};

static void *launcher(void *arg)
{
	struct churn *c = arg;
	int i;

	for (i = 0; i < NE_RACE_LAUNCHES; i++) {
		uint64_t uid = 0, cid = 0;
		uint32_t id = 0;
		void *mem;
		int efd, ret;

		atomic_fetch_add(&c->launches, 1);
		efd = ne_create_vm(c->env->dev, &uid);
		check_ret("create", efd);
		if (efd < 0)
			continue;
		mem = mmap(NULL, NE_MIN_MEM, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
			   -1, 0);
		if (mem != MAP_FAILED) {
			ret = ne_add_mem(efd, mem, NE_MIN_MEM);
			check_ret("add_mem", ret);
			/* Whole cores: two threads of whatever core we get. */
			ret = ne_add_vcpu(efd, &id);
			check_ret("add_vcpu", ret);
			if (!ret) {
				id = 0;
				check_ret("add_vcpu 2", ne_add_vcpu(efd, &id));
			}
			ret = ne_start(efd, 0, &cid);
			check_ret("start", ret);
			if (!ret) {
				atomic_fetch_add(&c->started, 1);
				ne_poll(efd, 5);
			}
		}
		close(efd);
		if (mem != MAP_FAILED)
			munmap(mem, NE_MIN_MEM);
	}
	return NULL;
}

static void *eventer(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		ne_tb_raise_events(&c->env->tb, 200);
		usleep(2000);
	}
	return NULL;
}

/* Parallel create/launch/release cycles while events keep arriving. */
TEST_F_TIMEOUT(races, parallel_launches_with_events, 300)
{
	struct churn c = { .env = &self->env };
	pthread_t w[NE_RACE_WORKERS], ev;
	unsigned int i;

	NE_NEED_HUGEPAGES(SZ_2M, NE_RACE_WORKERS * NE_MIN_MEM / SZ_2M);
	if (self->env.have_tb)
		ASSERT_EQ(0, pthread_create(&ev, NULL, eventer, &c));
	for (i = 0; i < NE_RACE_WORKERS; i++)
		ASSERT_EQ(0, pthread_create(&w[i], NULL, launcher, &c));
	for (i = 0; i < NE_RACE_WORKERS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&c.stop, true);
	if (self->env.have_tb)
		pthread_join(ev, NULL);
	TH_LOG("%d attempts, %d started", atomic_load(&c.launches),
	       atomic_load(&c.started));
	EXPECT_EQ(NE_RACE_WORKERS * NE_RACE_LAUNCHES, atomic_load(&c.launches));
	EXPECT_LT(0, atomic_load(&c.started));
	EXPECT_EQ(0, atomic_load(&bad_errors));
}

/* Enclave exits (device side) racing with the release of the same enclave. */
TEST_F_TIMEOUT(races, exit_event_races_release, 180)
{
	unsigned int round;

	NE_NEED_TB(&self->env);
	NE_NEED_HUGEPAGES(SZ_2M, NE_MIN_MEM / SZ_2M);
	for (round = 0; round < NE_RACE_ROUNDS; round++) {
		uint64_t uid = 0, cid = 0;
		int efd;

		ne_create_ready(_metadata, &self->env, &efd, &uid);
		ASSERT_OK(ne_start(efd, 0, &cid));
		ne_tb_exit_slot(&self->env.tb, uid);
		if (round & 1)
			ne_tb_raise_events(&self->env.tb, 50);
		close(efd);
		ne_unmap_all(&self->env.maps);
	}
	EXPECT_EQ(self->env.base.hp2m_free, ne_hp_free(SZ_2M));
}

int main(int argc, char **argv)
{
	return ne_test_main(argc, argv);
}
