// SPDX-License-Identifier: GPL-2.0
/*
 * Several enclaves at once, from several threads. Needs a pool of at least
 * 3 cores: run in a VM with 8 CPUs and NE_TEST_POOL=2-7
 * (--qemu-arg -smp --qemu-arg 8,sockets=1,cores=4,threads=2).
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "kselftest_harness.h"
#include "ne_test_util.h"

#define NR_ENCLAVES	3

FIXTURE(multi) {
	struct ne_env env;
	int efd[8];
};

FIXTURE_SETUP(multi)
{
	int i;

	for (i = 0; i < 8; i++)
		self->efd[i] = -1;
	ASSERT_EQ(0, ne_env_setup(&self->env));
}

FIXTURE_TEARDOWN(multi)
{
	int i;

	for (i = 0; i < 8; i++)
		if (self->efd[i] >= 0)
			close(self->efd[i]);
	ne_env_teardown(_metadata, &self->env);
}

#define NEED_CORES(env, n) do {						\
	if ((env)->pool_n < 2 * (n))					\
		SKIP(return, "needs a pool of %d cores (VM with -smp 8, "	\
		     "NE_TEST_POOL=2-7), pool has %d CPUs", (n), (env)->pool_n); \
	NE_NEED_HUGEPAGES(SZ_2M, (n) * NE_MIN_MEM / SZ_2M);		\
} while (0)

struct worker {
	struct ne_env *env;
	pthread_barrier_t *bar;
	int efd;
	uint64_t uid;
	uint64_t cid;
	uint32_t vcpu[2];
	int err;		/* first failure, -errno */
	const char *step;
	int revents;
	struct ne_maps maps;
};

/* One thread: launch an enclave, wait for all, wait for its exit. */
static void *launch_thread(void *p)
{
	struct worker *w = p;
	void *mem;
	int i;

	w->step = "create";
	w->efd = ne_create_vm(w->env->dev, &w->uid);
	if (w->efd < 0) {
		w->err = w->efd;
		goto out;
	}
	w->step = "memory";
	mem = ne_map_huge(&w->maps, NE_MIN_MEM, SZ_2M);
	w->err = mem ? ne_add_mem(w->efd, mem, NE_MIN_MEM) : -ENOMEM;
	if (w->err)
		goto out;
	w->step = "vcpu";
	for (i = 0; i < 2 && !w->err; i++)
		w->err = ne_add_vcpu(w->efd, &w->vcpu[i]);
	if (w->err)
		goto out;
	w->step = "start";
	w->err = ne_start(w->efd, 0, &w->cid);
out:
	pthread_barrier_wait(w->bar);	/* all launched (or failed) */
	pthread_barrier_wait(w->bar);	/* main injected the exits */
	if (!w->err)
		w->revents = ne_poll(w->efd, 2000);
	return NULL;
}

TEST_F_TIMEOUT(multi, enclaves_from_threads_run_and_exit_independently, 90)
{
	struct worker w[NR_ENCLAVES] = { 0 };
	pthread_t th[NR_ENCLAVES];
	pthread_barrier_t bar;
	uint64_t uid;
	int i, j;

	NEED_CORES(&self->env, NR_ENCLAVES);
	NE_NEED_TB(&self->env);
	pthread_barrier_init(&bar, NULL, NR_ENCLAVES + 1);
	for (i = 0; i < NR_ENCLAVES; i++) {
		w[i].env = &self->env;
		w[i].bar = &bar;
		w[i].efd = -1;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, launch_thread, &w[i]));
	}
	pthread_barrier_wait(&bar);
	for (i = 0; i < NR_ENCLAVES; i++) {
		self->efd[i] = w[i].efd;
		if (w[i].err)
			TH_LOG("enclave %d failed at %s", i, w[i].step);
		EXPECT_OK(w[i].err);
	}
	/* Distinct slots, CIDs and cores. */
	for (i = 0; i < NR_ENCLAVES; i++) {
		EXPECT_LE(4, w[i].cid);
		EXPECT_EQ(w[i].vcpu[0] ^ 1, w[i].vcpu[1]) TH_LOG("not one core");
		for (j = 0; j < i; j++) {
			EXPECT_NE(w[i].uid, w[j].uid);
			EXPECT_NE(w[i].cid, w[j].cid);
			EXPECT_NE(w[i].vcpu[0], w[j].vcpu[0]);
		}
	}
	EXPECT_EQ(self->env.base.tb.live_slots + NR_ENCLAVES,
		  ne_tb_read32(&self->env.tb, NE_TB_LIVE_SLOTS));
	/* Every core is taken now. */
	if (self->env.pool_n == 2 * NR_ENCLAVES)
		EXPECT_ERRNO(NE_ERR_NO_CPUS_AVAIL_IN_POOL,
			     ne_create_vm(self->env.dev, &uid));
	/* Only the middle one exits first. */
	EXPECT_EQ(0, ne_tb_exit_slot(&self->env.tb, w[1].uid));
	EXPECT_EQ(POLLHUP, ne_poll(w[1].efd, 2000) & POLLHUP);
	EXPECT_EQ(0, ne_poll(w[0].efd, 0));
	EXPECT_EQ(0, ne_poll(w[2].efd, 0));
	EXPECT_EQ(0, ne_tb_exit_slot(&self->env.tb, w[0].uid));
	EXPECT_EQ(0, ne_tb_exit_slot(&self->env.tb, w[2].uid));
	pthread_barrier_wait(&bar);
	for (i = 0; i < NR_ENCLAVES; i++) {
		pthread_join(th[i], NULL);
		if (!w[i].err)
			EXPECT_EQ(POLLHUP, w[i].revents & POLLHUP)
				TH_LOG("enclave %d revents 0x%x", i, w[i].revents);
	}
	for (i = 0; i < NR_ENCLAVES; i++) {
		if (self->efd[i] >= 0)
			close(self->efd[i]);
		self->efd[i] = -1;
		ne_unmap_all(&w[i].maps);
	}
	pthread_barrier_destroy(&bar);
}

TEST_F(multi, requested_cid_in_use_by_other_enclave)
{
	uint64_t uid, cid = 77;
	int i;

	NEED_CORES(&self->env, 2);
	for (i = 0; i < 2; i++)
		ne_create_ready(_metadata, &self->env, &self->efd[i], &uid);
	ASSERT_OK(ne_start(self->efd[0], 0, &cid));
	EXPECT_EQ(77, cid);
	/* The device refuses the duplicate; its rc reaches user space. */
	cid = 77;
	EXPECT_ERRNO(EADDRINUSE, ne_start(self->efd[1], 0, &cid));
	cid = 0;
	EXPECT_OK(ne_start(self->efd[1], 0, &cid));
	EXPECT_NE(77, cid);
}

TEST_F(multi, auto_cids_are_distinct_and_reused_after_close)
{
	uint64_t uid, cid[2] = { 0, 0 };
	int i;

	NEED_CORES(&self->env, 2);
	for (i = 0; i < 2; i++) {
		ne_create_ready(_metadata, &self->env, &self->efd[i], &uid);
		ASSERT_OK(ne_start(self->efd[i], 0, &cid[i]));
	}
	EXPECT_NE(cid[0], cid[1]);
}

TEST_F(multi, same_pages_in_two_running_enclaves_refused)
{
	uint64_t uid;
	char *p;
	int ret, i;

	/* The device refuses pages another slot holds (-EEXIST). */
	NEED_CORES(&self->env, 2);
	p = ne_map_huge(&self->env.maps, NE_MIN_MEM, SZ_2M);
	ASSERT_NE(NULL, p);
	for (i = 0; i < 2; i++) {
		self->efd[i] = ne_create_vm(self->env.dev, &uid);
		ASSERT_LE(0, self->efd[i]);
	}
	ASSERT_OK(ne_add_mem(self->efd[0], p, NE_MIN_MEM));
	ASSERT_OK(ne_add_vcpu_id(self->efd[0], 0));
	ASSERT_OK(ne_add_vcpu_id(self->efd[0], 0));
	ASSERT_OK(ne_start(self->efd[0], 0, NULL));
	ret = ne_add_mem(self->efd[1], p, NE_MIN_MEM);
	if (ret) {
		/* Sent at registration. */
		EXPECT_ERRNO(EEXIST, ret);
		return;
	}
	/* Sent at start. */
	ASSERT_OK(ne_add_vcpu_id(self->efd[1], 0));
	ASSERT_OK(ne_add_vcpu_id(self->efd[1], 0));
	EXPECT_ERRNO(EEXIST, ne_start(self->efd[1], 0, NULL));
}

struct churn {
	struct ne_env *env;
	int iterations;
	int err;
	int done;
};

/* Launch and close enclaves in a loop, reusing one faulted-in mapping. */
static void *churn_thread(void *p)
{
	struct churn *c = p;
	struct ne_maps maps = { 0 };
	void *mem = ne_map_huge(&maps, NE_MIN_MEM, SZ_2M);
	int i;

	if (!mem) {
		c->err = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < c->iterations && !c->err; i++) {
		uint64_t uid, cid = 0;
		uint32_t id = 0;
		int efd = ne_create_vm(c->env->dev, &uid);

		if (efd == -NE_ERR_NO_CPUS_AVAIL_IN_POOL) {
			usleep(1000);
			continue;
		}
		if (efd < 0) {
			c->err = efd;
			break;
		}
		c->err = ne_add_mem(efd, mem, NE_MIN_MEM);
		if (!c->err)
			c->err = ne_add_vcpu(efd, &id);
		/* Another thread may have taken the last core meanwhile. */
		if (c->err == -NE_ERR_NO_CPUS_AVAIL_IN_POOL)
			c->err = 0;
		else if (!c->err)
			c->err = ne_add_vcpu_id(efd, 0);
		if (!c->err && id)
			c->err = ne_start(efd, 0, &cid);
		close(efd);
		c->done++;
	}
	ne_unmap_all(&maps);
	return NULL;
}

TEST_F_TIMEOUT(multi, create_start_close_churn_from_threads, 120)
{
	struct churn c[4];
	pthread_t th[4];
	int i;

	/* Four threads, three cores: some rounds find the pool empty. */
	NEED_CORES(&self->env, 2);
	NE_NEED_HUGEPAGES(SZ_2M, 4 * NE_MIN_MEM / SZ_2M);
	for (i = 0; i < 4; i++) {
		c[i] = (struct churn){ .env = &self->env, .iterations = 5 };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, churn_thread, &c[i]));
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (c[i].err)
			TH_LOG("thread %d after %d rounds", i, c[i].done);
		EXPECT_OK(c[i].err);
	}
}

struct same_fd {
	int efd;
	void *mem;
	int nr;
	int err;
};

static void *add_mem_thread(void *p)
{
	struct same_fd *s = p;
	int i;

	for (i = 0; i < s->nr && !s->err; i++)
		s->err = ne_add_mem(s->efd, (char *)s->mem + i * SZ_2M, SZ_2M);
	return NULL;
}

TEST_F(multi, concurrent_ioctls_on_one_enclave)
{
	struct same_fd s[2];
	pthread_t th[2];
	uint64_t uid, cid = 0;
	char *mem;
	int i;

	/* Two threads add memory to one enclave while a third adds vCPUs. */
	NEED_CORES(&self->env, 1);
	self->efd[0] = ne_create_vm(self->env.dev, &uid);
	ASSERT_LE(0, self->efd[0]);
	mem = ne_map_huge(&self->env.maps, NE_MIN_MEM, SZ_2M);
	ASSERT_NE(NULL, mem);
	for (i = 0; i < 2; i++) {
		s[i] = (struct same_fd){ .efd = self->efd[0],
			.mem = mem + i * NE_MIN_MEM / 2, .nr = NE_MIN_MEM / SZ_2M / 2 };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, add_mem_thread, &s[i]));
	}
	EXPECT_OK(ne_add_vcpu_id(self->efd[0], 0));
	EXPECT_OK(ne_add_vcpu_id(self->efd[0], 0));
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		EXPECT_OK(s[i].err);
	}
	EXPECT_OK(ne_start(self->efd[0], 0, &cid));
	if (self->env.have_tb)
		EXPECT_EQ(NE_MIN_MEM, ne_tb_read64(&self->env.tb, NE_TB_MEM_BYTES) -
					      self->env.base.tb.mem_bytes);
}

int main(int argc, char **argv)
{
	return ne_test_main(argc, argv);
}
