/*
 * Nitro Enclaves emulated device: an enclave that boots in a VM of its own
 *
 * With enclave-vm=on, a started slot's image runs in a second QEMU process
 * (a microvm). This file owns that process and the files it boots from;
 * nitro_enclaves.c decides when to start and stop it.
 *
 * Copyright (c) 2026 The Nitro Enclaves emulator authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_MISC_NITRO_ENCLAVES_VM_H
#define HW_MISC_NITRO_ENCLAVES_VM_H

#include "eif_format.h"

/*
 * Longest EIF command line passed on: the x86 kernel takes 2048 bytes,
 * and the VM's platform parameters need some of them.
 */
#define NE_VM_CMDLINE_MAX (2048 - 64)

/*
 * What an enclave VM boots: the EIF's kernel, its ramdisks concatenated and
 * its command line. The files have no name (unlinked at once), so nothing
 * is left behind whatever happens to this process.
 */
typedef struct NeVmBootFiles {
    int kernel_fd;
    int initrd_fd;
    char *cmdline;
} NeVmBootFiles;

/* How to run one enclave VM */
typedef struct NeVmConfig {
    const char *qemu;           /* the emulator binary */
    uint64_t cid;
    uint64_t nr_vcpus;
    uint64_t mem_size;          /* bytes, a multiple of 1 MiB */
    int vsock_fd;               /* the enclave's end of the vsock relay */
} NeVmConfig;

typedef struct NeVm NeVm;

/* The VM's process ended: @status as waitpid() reports it. */
typedef void NeVmExitFn(void *opaque, int status);
/* The VM wrote @len bytes to its serial console. */
typedef void NeVmOutputFn(void *opaque, const char *buf, size_t len);

/*
 * A read-write file without a name, in the temporary directory: gone when
 * its last descriptor is closed. -1 and @errp if it cannot be created.
 */
int ne_vm_anon_file(Error **errp);

void ne_vm_boot_files_init(NeVmBootFiles *f);
void ne_vm_boot_files_clear(NeVmBootFiles *f);

/*
 * Write the kernel, the ramdisks and the command line of @eif, read
 * through @r, to @f. Runs on the image check's thread. False and @errp
 * when the image cannot boot or a file cannot be written.
 */
bool ne_vm_boot_files_extract(const struct eif_reader *r,
                              const struct eif_image *eif,
                              NeVmBootFiles *f, Error **errp);

/*
 * Can this process start enclave VMs: has it the microvm machine, and
 * does it find the firmware? Also measures the TSC rate the VMs get.
 */
bool ne_vm_firmware_found(Error **errp);

/*
 * Start the VM of @cfg booting @files. Main loop thread. The process dies
 * with this one (also on SIGKILL). @exited is called once, from the main
 * loop, unless ne_vm_stop() came first.
 */
NeVm *ne_vm_start(const NeVmConfig *cfg, const NeVmBootFiles *files,
                  NeVmExitFn *exited, NeVmOutputFn *output, void *opaque,
                  Error **errp);

/* Kill the VM. No callback runs after this; the process is reaped later. */
void ne_vm_stop(NeVm *vm);

/* The process id of a running VM (for tests and traces). */
int ne_vm_pid(const NeVm *vm);

#endif
