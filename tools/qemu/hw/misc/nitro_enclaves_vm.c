/*
 * Nitro Enclaves emulated device: an enclave that boots in a VM of its own
 *
 * The enclave VM is a second process of this very binary: a microvm under
 * TCG with the slot's vCPUs and memory, booting the kernel, ramdisks and
 * command line of the image that was measured. It sees what a Nitro
 * enclave sees: a serial console and virtio-mmio devices, no PCI.
 *
 * The process never outlives this one: it asks the kernel for SIGKILL when
 * its parent dies (PR_SET_PDEATHSIG, set by the main thread, which lives
 * as long as the process), and ne_vm_stop() kills it. Its boot files are
 * unlinked before it starts and reach it as inherited descriptors.
 *
 * Copyright (c) 2026 The Nitro Enclaves emulator authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <glib-unix.h>
#include "qapi/error.h"
#include "qemu/datadir.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "hw/boards.h"
#include "qemu/units.h"
#include "trace.h"
#include "nitro_enclaves_vm.h"

#ifdef CONFIG_LINUX
#include <sys/prctl.h>
#endif

/* What a microvm loads from QEMU's data directories to boot a kernel */
static const char *const ne_vm_firmware[] = {
    "bios-microvm.bin",
    "linuxboot_dma.bin",
};

/* How long the TSC rate is measured for */
#define NE_VM_TSC_SAMPLE_US 20000

/* Console bytes taken from the VM at a time */
#define NE_VM_OUT_CHUNK 4096

struct NeVm {
    GPid pid;
    int out_fd;                 /* the VM's stdout: its serial console */
    NeVmExitFn *exited;         /* NULL once stopped */
    NeVmOutputFn *output;
    void *opaque;
};

/* What the child does between fork and exec: async-signal-safe only. */
typedef struct NeVmChildSetup {
    pid_t parent;
    int fds[3];
    int nr_fds;
} NeVmChildSetup;

void ne_vm_boot_files_init(NeVmBootFiles *f)
{
    f->kernel_fd = -1;
    f->initrd_fd = -1;
    f->cmdline = NULL;
}

void ne_vm_boot_files_clear(NeVmBootFiles *f)
{
    if (f->kernel_fd >= 0) {
        close(f->kernel_fd);
    }
    if (f->initrd_fd >= 0) {
        close(f->initrd_fd);
    }
    g_free(f->cmdline);
    ne_vm_boot_files_init(f);
}

int ne_vm_anon_file(Error **errp)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(),
                                             "ne-enclave-XXXXXX", NULL);
    int fd = mkostemp(path, O_CLOEXEC);

    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot create a file in %s",
                         g_get_tmp_dir());
        return -1;
    }
    unlink(path);
    return fd;
}

/* Append the data of section @idx to @fd. */
static bool ne_vm_copy_section(const struct eif_reader *r,
                               const struct eif_image *eif, unsigned int idx,
                               int fd, Error **errp)
{
    g_autofree uint8_t *buf = g_malloc(EIF_READ_CHUNK);
    uint64_t off, n;

    for (off = 0; off < eif->sec[idx].size; off += n) {
        n = MIN(eif->sec[idx].size - off, EIF_READ_CHUNK);
        if (eif_section_read(r, eif, idx, off, buf, n)) {
            error_setg(errp, "cannot read the %s section",
                       eif_section_name(eif->sec[idx].type));
            return false;
        }
        if (qemu_write_full(fd, buf, n) != n) {
            error_setg_errno(errp, errno, "cannot write the %s file",
                             eif_section_name(eif->sec[idx].type));
            return false;
        }
    }
    return true;
}

/*
 * The command line as the kernel gets it: printable ASCII, ending at the
 * first NUL (nitro-cli writes none, other tools one).
 */
static char *ne_vm_read_cmdline(const struct eif_reader *r,
                                const struct eif_image *eif, int idx,
                                Error **errp)
{
    uint64_t size = eif->sec[idx].size;
    g_autofree char *buf = NULL;
    uint64_t i;

    if (size >= NE_VM_CMDLINE_MAX) {
        error_setg(errp, "command line of %" PRIu64 " bytes, more than %d",
                   size, NE_VM_CMDLINE_MAX - 1);
        return NULL;
    }
    buf = g_malloc0(size + 1);
    if (eif_section_read(r, eif, idx, 0, buf, size)) {
        error_setg(errp, "cannot read the cmdline section");
        return NULL;
    }
    for (i = 0; i < size && buf[i]; i++) {
        if (buf[i] < 0x20 || buf[i] > 0x7e) {
            error_setg(errp, "command line byte %" PRIu64 " is 0x%02x",
                       i, (uint8_t)buf[i]);
            return NULL;
        }
    }
    return g_steal_pointer(&buf);
}

bool ne_vm_boot_files_extract(const struct eif_reader *r,
                              const struct eif_image *eif,
                              NeVmBootFiles *f, Error **errp)
{
    int kernel = eif_find_section(eif, EIF_SEC_KERNEL, 0);
    int cmdline = eif_find_section(eif, EIF_SEC_CMDLINE, 0);
    int i;

    if (kernel < 0 || cmdline < 0 ||
        eif_find_section(eif, EIF_SEC_RAMDISK, 0) < 0) {
        error_setg(errp, "the image lacks a kernel, cmdline or ramdisk");
        return false;
    }
    f->cmdline = ne_vm_read_cmdline(r, eif, cmdline, errp);
    if (!f->cmdline) {
        goto err_clear;
    }
    f->kernel_fd = ne_vm_anon_file(errp);
    if (f->kernel_fd < 0 ||
        !ne_vm_copy_section(r, eif, kernel, f->kernel_fd, errp)) {
        goto err_clear;
    }
    /* One initrd: the ramdisks concatenated, as the Nitro loader does. */
    f->initrd_fd = ne_vm_anon_file(errp);
    if (f->initrd_fd < 0) {
        goto err_clear;
    }
    i = -1;
    while ((i = eif_find_section(eif, EIF_SEC_RAMDISK, i + 1)) >= 0) {
        if (!ne_vm_copy_section(r, eif, i, f->initrd_fd, errp)) {
            goto err_clear;
        }
    }
    return true;

err_clear:
    ne_vm_boot_files_clear(f);
    return false;
}

static void ne_vm_child_setup(gpointer opaque)
{
    const NeVmChildSetup *cs = opaque;
    sigset_t none;
    int i;

#ifdef CONFIG_LINUX
    /* Die with the device's process, even when it is killed. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL)) {
        _exit(127);
    }
#endif
    /* ... and do not start when it is gone already. */
    if (getppid() != cs->parent) {
        _exit(127);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (i = 0; i < cs->nr_fds; i++) {
        if (fcntl(cs->fds[i], F_SETFD, 0) < 0) {
            _exit(127);
        }
    }
}

static void ne_vm_out_close(NeVm *vm)
{
    if (vm->out_fd >= 0) {
        qemu_set_fd_handler(vm->out_fd, NULL, NULL, NULL);
        close(vm->out_fd);
        vm->out_fd = -1;
    }
}

/* Take what the console wrote; the VM must never block on it. */
static void ne_vm_out_read(void *opaque)
{
    NeVm *vm = opaque;
    char buf[NE_VM_OUT_CHUNK];
    ssize_t n;

    for (;;) {
        n = read(vm->out_fd, buf, sizeof(buf));
        if (n > 0) {
            if (vm->output) {
                vm->output(vm->opaque, buf, n);
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0 || errno != EAGAIN) {
            ne_vm_out_close(vm);
        }
        return;
    }
}

static void ne_vm_child_exited(GPid pid, gint status, gpointer opaque)
{
    NeVm *vm = opaque;

    trace_nitro_enclaves_vm_exit(pid, status);
    g_spawn_close_pid(pid);
    if (vm->exited) {
        /* What the console printed last comes before the exit. */
        if (vm->out_fd >= 0) {
            ne_vm_out_read(vm);
        }
        vm->exited(vm->opaque, status);
    }
    ne_vm_out_close(vm);
    g_free(vm);
}

/* What every enclave VM is */
static const char *const ne_vm_fixed_args[] = {
    "-M", "microvm,acpi=on",
    "-accel", "tcg",
    "-cpu", "max",
    "-nodefaults", "-no-user-config", "-no-reboot",
    "-display", "none",
    /* The keyboard controller's reset: what reboot=k uses. */
    "-device", "i8042",
    /* The console, which ne_vm_out_read() takes */
    "-serial", "stdio",
};

G_GNUC_PRINTF(2, 3)
static void ne_vm_arg(GPtrArray *argv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(argv, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/*
 * The directories holding the firmware, in search order, as -L options of
 * the VM: it finds them where this process does.
 */
static bool ne_vm_add_datadirs(GPtrArray *argv, Error **errp)
{
    g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func(g_free);
    unsigned int i, j;

    for (i = 0; i < ARRAY_SIZE(ne_vm_firmware); i++) {
        g_autofree char *path = qemu_find_file(QEMU_FILE_TYPE_BIOS,
                                               ne_vm_firmware[i]);
        char *dir;

        if (!path) {
            error_setg(errp, "firmware %s not found", ne_vm_firmware[i]);
            return false;
        }
        dir = g_path_get_dirname(path);
        for (j = 0; j < dirs->len && strcmp(dirs->pdata[j], dir); j++) {
            continue;
        }
        if (j < dirs->len) {
            g_free(dir);
            continue;
        }
        g_ptr_array_add(dirs, dir);
        if (argv) {
            ne_vm_arg(argv, "-L");
            ne_vm_arg(argv, "%s", dir);
        }
    }
    return true;
}

/*
 * Under TCG a guest's TSC runs at the rate of the host's cycle counter,
 * which the microvm has nothing to calibrate against: no HPET, no PM
 * timer, and its PIT calibration fails whenever the host is busy. The
 * guest then waits for a timer tick that never comes. So the VM is told
 * the rate, measured here once, as a platform parameter on its command
 * line (where microvm puts its own, too). A Nitro enclave has kvm-clock.
 */
static uint64_t ne_vm_tsc_khz(void)
{
    static uint64_t khz;
    int64_t t0, t1, c0, c1;

    if (!khz) {
        t0 = get_clock();
        c0 = cpu_get_host_ticks();
        g_usleep(NE_VM_TSC_SAMPLE_US);
        t1 = get_clock();
        c1 = cpu_get_host_ticks();
        khz = MAX(1, muldiv64(c1 - c0, 1000000, t1 - t0));
    }
    return khz;
}

bool ne_vm_firmware_found(Error **errp)
{
    if (!object_class_by_name(MACHINE_TYPE_NAME("microvm"))) {
        error_setg(errp, "this QEMU has no microvm machine");
        return false;
    }
    ne_vm_tsc_khz();
    return ne_vm_add_datadirs(NULL, errp);
}

NeVm *ne_vm_start(const NeVmConfig *cfg, const NeVmBootFiles *files,
                  NeVmExitFn *exited, NeVmOutputFn *output, void *opaque,
                  Error **errp)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    NeVmChildSetup cs = { .parent = getpid() };
    GError *gerr = NULL;
    unsigned int i;
    NeVm *vm;
    GPid pid;
    int out;

#ifndef CONFIG_LINUX
    error_setg(errp, "enclave VMs need a Linux host");
    return NULL;
#endif
    /* The program, then its name: what its messages start with. */
    ne_vm_arg(argv, "%s", cfg->qemu);
    ne_vm_arg(argv, "ne-enclave-%" PRIu64, cfg->cid);
    if (!ne_vm_add_datadirs(argv, errp)) {
        return NULL;
    }
    for (i = 0; i < ARRAY_SIZE(ne_vm_fixed_args); i++) {
        ne_vm_arg(argv, "%s", ne_vm_fixed_args[i]);
    }
    ne_vm_arg(argv, "-name");
    ne_vm_arg(argv, "ne-enclave-%" PRIu64 ",process=ne-enclave-%" PRIu64,
              cfg->cid, cfg->cid);
    ne_vm_arg(argv, "-smp");
    ne_vm_arg(argv, "%" PRIu64, cfg->nr_vcpus);
    ne_vm_arg(argv, "-m");
    ne_vm_arg(argv, "%" PRIu64 "M", cfg->mem_size / MiB);
    ne_vm_arg(argv, "-kernel");
    ne_vm_arg(argv, "/dev/fd/%d", files->kernel_fd);
    ne_vm_arg(argv, "-initrd");
    ne_vm_arg(argv, "/dev/fd/%d", files->initrd_fd);
    ne_vm_arg(argv, "-append");
    ne_vm_arg(argv, "%s tsc_early_khz=%" PRIu64, files->cmdline,
              ne_vm_tsc_khz());
    cs.fds[cs.nr_fds++] = files->kernel_fd;
    cs.fds[cs.nr_fds++] = files->initrd_fd;
    if (cfg->vsock_fd >= 0) {
        ne_vm_arg(argv, "-device");
        ne_vm_arg(argv, "ne-vsock-device,guest-cid=%" PRIu64 ",relay-fd=%d",
                  cfg->cid, cfg->vsock_fd);
        cs.fds[cs.nr_fds++] = cfg->vsock_fd;
    }
    g_ptr_array_add(argv, NULL);

    if (!g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL,
                                  G_SPAWN_DO_NOT_REAP_CHILD |
                                  G_SPAWN_FILE_AND_ARGV_ZERO,
                                  ne_vm_child_setup, &cs, &pid, NULL, &out,
                                  NULL, &gerr)) {
        error_setg(errp, "cannot start %s: %s", cfg->qemu, gerr->message);
        g_error_free(gerr);
        return NULL;
    }
    trace_nitro_enclaves_vm_start(pid, cfg->cid, cfg->nr_vcpus,
                                  cfg->mem_size);

    vm = g_new0(NeVm, 1);
    vm->pid = pid;
    vm->out_fd = out;
    vm->exited = exited;
    vm->output = output;
    vm->opaque = opaque;
    g_unix_set_fd_nonblocking(out, true, NULL);
    qemu_set_fd_handler(out, ne_vm_out_read, NULL, vm);
    g_child_watch_add(pid, ne_vm_child_exited, vm);
    return vm;
}

void ne_vm_stop(NeVm *vm)
{
    trace_nitro_enclaves_vm_stop(vm->pid);
    vm->exited = NULL;
    vm->output = NULL;
    ne_vm_out_close(vm);
    /* Reaped, and @vm freed, by ne_vm_child_exited(). */
    kill(vm->pid, SIGKILL);
}

int ne_vm_pid(const NeVm *vm)
{
    return vm->pid;
}
