/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Access to the test-control BAR of the emulated NE PCI device
 * (Documentation/virt/ne_pci_device.rst, "Test-control BAR").
 *
 * Only the QEMU model has this BAR. ne_tb_open() reports its absence with
 * -ENOENT so that tests can SKIP on a real device.
 */
#ifndef NE_TEST_BAR_H
#define NE_TEST_BAR_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NE_PCI_VENDOR		0x1d0f
#define NE_PCI_DEVICE		0xe4c1
#define NE_TB_BAR		4
#define NE_TB_SIZE		4096

#define NE_TB_MAGIC		0x000
#define   NE_TB_MAGIC_VALUE	0x4e455442
#define NE_TB_VERSION		0x004
#define NE_TB_SLOT		0x008
#define NE_TB_ACTION		0x010
#define   NE_TB_ACTION_EXIT	1
#define   NE_TB_ACTION_EVENTS	2
#define   NE_TB_ACTION_RESET	3
#define NE_TB_STATUS		0x014
#define NE_TB_FAIL_CMD		0x018
#define NE_TB_FAIL_RC		0x01c
#define NE_TB_REPLY_MODE	0x020
#define   NE_TB_REPLY_NORMAL	0
#define   NE_TB_REPLY_DROP	1
#define   NE_TB_REPLY_LATE	2
#define   NE_TB_REPLY_TWICE	3
#define NE_TB_DELAY_MS		0x024
#define NE_TB_EVENTS		0x028
#define NE_TB_ERR_UID_ZERO	0x02c
#define NE_TB_REPLY_CMD		0x030
#define NE_TB_CMD_COUNT		0x040
#define   NE_TB_NR_CMD_TYPES	12
#define NE_TB_LIVE_SLOTS	0x080
#define NE_TB_VCPUS		0x084
#define NE_TB_MEM_BYTES		0x088
#define NE_TB_MEM_RANGES	0x090
#define NE_TB_EVENT_COUNT	0x094

struct ne_test_bar {
	int fd;
	volatile uint8_t *regs;
	char bdf[64];
};

struct ne_tb_counters {
	uint32_t cmd[NE_TB_NR_CMD_TYPES];
	uint32_t live_slots;
	uint32_t vcpus;
	uint32_t mem_ranges;
	uint32_t event_count;
	uint64_t mem_bytes;
};

static inline unsigned long ne_tb_sysfs_hex(const char *dev, const char *attr)
{
	char path[512], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dev, attr);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strtoul(buf, NULL, 16);
}

/*
 * ne_tb_find() - find the first 1d0f:e4c1 PCI function.
 * Return: 0 with @bdf filled, or -ENODEV.
 */
static inline int ne_tb_find(char *bdf, size_t len)
{
	struct dirent *de;
	DIR *d = opendir("/sys/bus/pci/devices");
	int ret = -ENODEV;

	if (!d)
		return -ENODEV;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (ne_tb_sysfs_hex(de->d_name, "vendor") == NE_PCI_VENDOR &&
		    ne_tb_sysfs_hex(de->d_name, "device") == NE_PCI_DEVICE) {
			snprintf(bdf, len, "%.63s", de->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

/*
 * ne_tb_open() - map the test-control BAR of the NE device.
 * Return: 0; -ENODEV without an NE device; -ENOENT without a test BAR
 * (a real device); another -errno if mapping fails.
 */
static inline int ne_tb_open(struct ne_test_bar *tb)
{
	char path[512];
	void *p;
	int ret;

	memset(tb, 0, sizeof(*tb));
	tb->fd = -1;
	ret = ne_tb_find(tb->bdf, sizeof(tb->bdf));
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d",
		 tb->bdf, NE_TB_BAR);
	tb->fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (tb->fd < 0)
		return -ENOENT;
	p = mmap(NULL, NE_TB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 tb->fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		close(tb->fd);
		tb->fd = -1;
		return ret;
	}
	tb->regs = p;
	if (*(volatile uint32_t *)(tb->regs + NE_TB_MAGIC) != NE_TB_MAGIC_VALUE) {
		munmap((void *)tb->regs, NE_TB_SIZE);
		close(tb->fd);
		tb->regs = NULL;
		tb->fd = -1;
		return -ENOENT;
	}
	return 0;
}

static inline void ne_tb_close(struct ne_test_bar *tb)
{
	if (tb->regs)
		munmap((void *)tb->regs, NE_TB_SIZE);
	if (tb->fd >= 0)
		close(tb->fd);
	tb->regs = NULL;
	tb->fd = -1;
}

static inline uint32_t ne_tb_read32(struct ne_test_bar *tb, unsigned int off)
{
	return *(volatile uint32_t *)(tb->regs + off);
}

static inline void ne_tb_write32(struct ne_test_bar *tb, unsigned int off,
				 uint32_t val)
{
	*(volatile uint32_t *)(tb->regs + off) = val;
}

static inline uint64_t ne_tb_read64(struct ne_test_bar *tb, unsigned int off)
{
	uint64_t lo = ne_tb_read32(tb, off);

	return lo | (uint64_t)ne_tb_read32(tb, off + 4) << 32;
}

static inline void ne_tb_write64(struct ne_test_bar *tb, unsigned int off,
				 uint64_t val)
{
	ne_tb_write32(tb, off, (uint32_t)val);
	ne_tb_write32(tb, off + 4, (uint32_t)(val >> 32));
}

/* Make a running slot exit. Return: 0, -ENOENT or -EINVAL (model status). */
static inline int ne_tb_exit_slot(struct ne_test_bar *tb, uint64_t slot_uid)
{
	ne_tb_write64(tb, NE_TB_SLOT, slot_uid);
	ne_tb_write32(tb, NE_TB_ACTION, NE_TB_ACTION_EXIT);
	return (int32_t)ne_tb_read32(tb, NE_TB_STATUS);
}

/* Raise @n spurious events. Return: the action status (0). */
static inline int ne_tb_raise_events(struct ne_test_bar *tb, uint32_t n)
{
	ne_tb_write32(tb, NE_TB_EVENTS, n);
	ne_tb_write32(tb, NE_TB_ACTION, NE_TB_ACTION_EVENTS);
	return (int32_t)ne_tb_read32(tb, NE_TB_STATUS);
}

/* Make the next command of @type fail with @rc (one-shot). */
static inline void ne_tb_fail_next(struct ne_test_bar *tb, uint32_t type,
				   int32_t rc)
{
	ne_tb_write32(tb, NE_TB_FAIL_RC, (uint32_t)rc);
	ne_tb_write32(tb, NE_TB_FAIL_CMD, type);
}

/* Apply @mode (NE_TB_REPLY_*) to the next reply, with @delay_ms. */
static inline void ne_tb_reply_mode(struct ne_test_bar *tb, uint32_t mode,
				    uint32_t delay_ms)
{
	ne_tb_write32(tb, NE_TB_DELAY_MS, delay_ms);
	ne_tb_write32(tb, NE_TB_REPLY_MODE, mode);
}

/*
 * Apply @mode to the next reply to a command of type @cmd (1..11; 0: to
 * the next reply, whatever its command). Replies to other commands are
 * delivered normally until then.
 */
static inline void ne_tb_reply_mode_cmd(struct ne_test_bar *tb, uint32_t cmd,
					uint32_t mode, uint32_t delay_ms)
{
	ne_tb_write32(tb, NE_TB_DELAY_MS, delay_ms);
	ne_tb_write32(tb, NE_TB_REPLY_CMD, cmd);
	ne_tb_write32(tb, NE_TB_REPLY_MODE, mode);
}

/* @on: every failed reply (rc < 0) carries slot uid 0, as on some devices. */
static inline void ne_tb_err_uid_zero(struct ne_test_bar *tb, bool on)
{
	ne_tb_write32(tb, NE_TB_ERR_UID_ZERO, on ? 1 : 0);
}

static inline void ne_tb_counters(struct ne_test_bar *tb,
				  struct ne_tb_counters *c)
{
	int i;

	for (i = 0; i < NE_TB_NR_CMD_TYPES; i++)
		c->cmd[i] = ne_tb_read32(tb, NE_TB_CMD_COUNT + 4 * i);
	c->live_slots = ne_tb_read32(tb, NE_TB_LIVE_SLOTS);
	c->vcpus = ne_tb_read32(tb, NE_TB_VCPUS);
	c->mem_ranges = ne_tb_read32(tb, NE_TB_MEM_RANGES);
	c->event_count = ne_tb_read32(tb, NE_TB_EVENT_COUNT);
	c->mem_bytes = ne_tb_read64(tb, NE_TB_MEM_BYTES);
}

#endif /* NE_TEST_BAR_H */
