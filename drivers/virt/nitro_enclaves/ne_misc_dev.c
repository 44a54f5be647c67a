// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The Nitro Enclaves driver authors.
 *
 * Nitro Enclaves misc device and module: /dev/nitro_enclaves, whose one
 * ioctl, NE_CREATE_VM, makes an enclave (ne_enclave.c); its read-only
 * status attributes; module init and exit.
 */

#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nitro_enclaves.h>
#include <linux/sysfs.h>

#include "ne_cpu_pool.h"
#include "ne_enclave.h"
#include "ne_misc_dev.h"
#include "ne_pci_dev.h"

static struct ne_pci_dev *ne_misc_to_ndev(struct file *file)
{
	return container_of(file->private_data, struct ne_pci_dev, misc);
}

/*
 * An open misc file holds a device reference: the struct outlives
 * misc_deregister() as long as such a file is open.
 */
static int ne_misc_open(struct inode *inode, struct file *file)
{
	ne_pci_dev_get(ne_misc_to_ndev(file));

	return 0;
}

static int ne_misc_release(struct inode *inode, struct file *file)
{
	ne_pci_dev_put(ne_misc_to_ndev(file));

	return 0;
}

static long ne_misc_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct ne_pci_dev *ndev = ne_misc_to_ndev(file);

	switch (cmd) {
	case NE_CREATE_VM:
		return ne_enclave_create(ndev, (u64 __user *)arg);
	default:
		dev_err_ratelimited(&ndev->pdev->dev, "unknown ioctl %#x on /dev/nitro_enclaves: only NE_CREATE_VM works here, the other NE ioctls go to the enclave fd (64-bit callers only)\n",
				    cmd);
		return -ENOTTY;
	}
}

static const struct file_operations ne_misc_fops = {
	.owner = THIS_MODULE,
	.llseek = noop_llseek,
	.open = ne_misc_open,
	.release = ne_misc_release,
	.unlocked_ioctl = ne_misc_ioctl,
};

/*
 * Read-only status attributes of the misc device, in
 * /sys/class/misc/nitro_enclaves/ (Documentation/ABI/testing/
 * sysfs-class-misc-nitro_enclaves). They are created and removed with the
 * misc device itself, so a show function always finds its ne_pci_dev
 * alive (misc_deregister() waits for running show calls). Each show
 * takes one lock: the CPU pool mutex for the pool attributes, the
 * device's enclaves_lock for the others. They show counts and the pool
 * that ne_cpus already shows, never slot uids, CIDs or addresses.
 */
static struct ne_pci_dev *ne_sysfs_to_ndev(struct device *dev)
{
	struct miscdevice *misc = dev_get_drvdata(dev);

	return container_of(misc, struct ne_pci_dev, misc);
}

static ssize_t pool_cpus_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct ne_cpu_pool_status status;
	cpumask_var_t cpus;
	ssize_t len;

	if (!zalloc_cpumask_var(&cpus, GFP_KERNEL))
		return -ENOMEM;

	ne_cpu_pool_get_status(&status, cpus);
	len = sysfs_emit(buf, "%*pbl\n", cpumask_pr_args(cpus));
	free_cpumask_var(cpus);

	return len;
}
static DEVICE_ATTR_RO(pool_cpus);

static ssize_t pool_free_cores_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct ne_cpu_pool_status status;

	ne_cpu_pool_get_status(&status, NULL);

	return sysfs_emit(buf, "%u\n", status.nr_free_cores);
}
static DEVICE_ATTR_RO(pool_free_cores);

static ssize_t pool_numa_node_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct ne_cpu_pool_status status;

	ne_cpu_pool_get_status(&status, NULL);

	return sysfs_emit(buf, "%d\n", status.numa_node);
}
static DEVICE_ATTR_RO(pool_numa_node);

static ssize_t enclaves_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	struct ne_pci_dev *ndev = ne_sysfs_to_ndev(dev);
	unsigned int nr = 0;
	struct ne_enclave *ne;

	mutex_lock(&ndev->enclaves_lock);
	list_for_each_entry(ne, &ndev->enclaves, node)
		nr++;
	mutex_unlock(&ndev->enclaves_lock);

	return sysfs_emit(buf, "%u\n", nr);
}
static DEVICE_ATTR_RO(enclaves);

static ssize_t max_mem_regions_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct ne_pci_dev *ndev = ne_sysfs_to_ndev(dev);
	u64 max;

	mutex_lock(&ndev->enclaves_lock);
	max = ndev->max_mem_regions;
	mutex_unlock(&ndev->enclaves_lock);

	return sysfs_emit(buf, "%llu\n", max);
}
static DEVICE_ATTR_RO(max_mem_regions);

static ssize_t quarantined_slots_show(struct device *dev,
				      struct device_attribute *attr, char *buf)
{
	struct ne_pci_dev *ndev = ne_sysfs_to_ndev(dev);
	unsigned int nr;

	mutex_lock(&ndev->enclaves_lock);
	nr = ndev->nr_quarantined;
	mutex_unlock(&ndev->enclaves_lock);

	return sysfs_emit(buf, "%u\n", nr);
}
static DEVICE_ATTR_RO(quarantined_slots);

static struct attribute *ne_misc_attrs[] = {
	&dev_attr_pool_cpus.attr,
	&dev_attr_pool_free_cores.attr,
	&dev_attr_pool_numa_node.attr,
	&dev_attr_enclaves.attr,
	&dev_attr_max_mem_regions.attr,
	&dev_attr_quarantined_slots.attr,
	NULL,
};
ATTRIBUTE_GROUPS(ne_misc);

/**
 * ne_misc_dev_register() - Create /dev/nitro_enclaves for a device.
 * @ndev: The device; its pdev is set.
 *
 * Initialises the enclave list and its lock, then registers the misc
 * device together with its status attributes, which thus appear at once
 * with it. Called last in probe: user space can call in from then on.
 *
 * Context: Process context.
 * Return: 0 on success, or the negative error of misc_register().
 */
int ne_misc_dev_register(struct ne_pci_dev *ndev)
{
	int rc;

	mutex_init(&ndev->enclaves_lock);
	INIT_LIST_HEAD(&ndev->enclaves);
	INIT_LIST_HEAD(&ndev->quarantine);

	ndev->misc.minor = MISC_DYNAMIC_MINOR;
	ndev->misc.name = "nitro_enclaves";
	ndev->misc.fops = &ne_misc_fops;
	ndev->misc.mode = 0660;
	ndev->misc.parent = &ndev->pdev->dev;
	ndev->misc.groups = ne_misc_groups;

	rc = misc_register(&ndev->misc);
	if (rc)
		dev_err(&ndev->pdev->dev, "Cannot register the misc device (%d)\n",
			rc);

	return rc;
}

/**
 * ne_misc_dev_unregister() - Remove /dev/nitro_enclaves.
 * @ndev: The device.
 *
 * No new file can be opened afterwards; open files and enclaves keep their
 * device references. Called first in remove and shutdown.
 *
 * Context: Process context.
 */
void ne_misc_dev_unregister(struct ne_pci_dev *ndev)
{
	misc_deregister(&ndev->misc);
}

/* The driver's debug knobs: /sys/kernel/debug/nitro_enclaves/. */
static struct dentry *ne_debugfs_dir;

/*
 * The pool given at load (ne_cpus=) is set up first and torn down again if
 * the driver cannot register: module exit does not run after a failed init.
 */
static int __init ne_init(void)
{
	int rc;

	rc = ne_cpu_pool_init();
	if (rc)
		return rc;

	ne_debugfs_dir = debugfs_create_dir("nitro_enclaves", NULL);
	ne_pci_dev_debugfs_init(ne_debugfs_dir);
	ne_enclave_debugfs_init(ne_debugfs_dir);

	rc = pci_register_driver(&ne_pci_driver);
	if (rc) {
		debugfs_remove(ne_debugfs_dir);
		ne_cpu_pool_exit();
	}

	return rc;
}

static void __exit ne_exit(void)
{
	pci_unregister_driver(&ne_pci_driver);
	debugfs_remove(ne_debugfs_dir);
	ne_cpu_pool_exit();
}

module_init(ne_init);
module_exit(ne_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Nitro Enclaves Driver");
/* PACKAGE_VERSION in dkms.conf; scripts/check-version.sh compares them. */
MODULE_VERSION("1.0.0");
