// SPDX-License-Identifier: GPL-2.0
/*
 * init for an enclave image: the first process of the enclave's kernel,
 * from the bootstrap ramdisk. It follows the protocol of the Nitro
 * Enclaves init (see README.rst):
 *
 *   1. mount devtmpfs on /dev and use /dev/console for 0, 1 and 2;
 *   2. load the modules named in /modules.list (our extension, for stock
 *      kernels whose virtio and vsock are modules), then /nsm.ko if there;
 *   3. heartbeat: connect AF_VSOCK to CID 3 port 9000, send 0xB7 and read
 *      it back;
 *   4. read /env and /cmd (one entry per line), chroot into /rootfs, mount
 *      what a program expects there (/dev, /proc, /sys, /run, /tmp, ...);
 *   5. run the command with that environment, reap children until it
 *      exits, then sync and reboot (which ends the enclave).
 *
 * Any failure prints one "init: ..." line on the console and reboots.
 *
 * The parsing of /cmd, /env and /modules.list lives in small functions
 * without side effects: test_init.c includes this file with
 * NE_INIT_TEST defined to test them on the host. boot_test_init.c
 * includes it with NE_INIT_NO_MAIN, to boot steps 4 and 5 in a VM that
 * has no parent to answer the heartbeat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define NE_PARENT_CID		3
#define NE_HEARTBEAT_PORT	9000
#define NE_HEARTBEAT		0xB7

/* Bounds on what init reads from the ramdisks. */
#define CONF_MAX_BYTES		(1024 * 1024)	/* whole /cmd or /env */
#define CONF_MAX_ENTRIES	1024		/* lines of /cmd or /env */
#define CONF_MAX_LINE		131072		/* kernel's MAX_ARG_STRLEN */
#define MODULES_MAX		64
#define ERR_LEN			256

/* The PATH the command is looked up in (as the Nitro init does). */
#define DEFAULT_PATH		"/sbin:/usr/sbin:/bin:/usr/bin"

/*
 * Split buf (len bytes, modified in place; room for len + 1) into lines:
 * each line is one entry, without its '\n'; a last line without '\n'
 * counts too, so "a\nb" and "a\nb\n" both give {"a", "b"}, and an empty
 * buffer gives no entry.
 * An empty line is an entry "" (an empty argument is a valid argument).
 * Entries go to out[0..n-1] and out[n] = NULL; out has room for max + 1.
 * Returns n, or -1 with a reason in err: a NUL byte (a C string cannot
 * hold it), a line longer than CONF_MAX_LINE - 1, more than max lines.
 */
static int conf_split(char *buf, size_t len, char **out, size_t max,
		      char *err, size_t errlen)
{
	size_t n = 0, start = 0;

	if (memchr(buf, '\0', len)) {
		snprintf(err, errlen, "contains a NUL byte at offset %zu",
			 (size_t)((char *)memchr(buf, '\0', len) - buf));
		return -1;
	}
	while (start < len) {
		char *nl = memchr(buf + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - buf) : len;

		if (end - start >= CONF_MAX_LINE) {
			snprintf(err, errlen, "line %zu is longer than %d bytes",
				 n + 1, CONF_MAX_LINE - 1);
			return -1;
		}
		if (n == max) {
			snprintf(err, errlen, "has more than %zu lines", max);
			return -1;
		}
		buf[end] = '\0';	/* the '\n', or the byte after the data */
		out[n++] = buf + start;
		start = end + 1;
	}
	out[n] = NULL;
	return (int)n;
}

/*
 * /modules.list: one module file per line, relative to / or absolute;
 * blank lines and lines starting with '#' are skipped. Same bounds as
 * conf_split, at most max modules. Returns the number of modules.
 */
static int modules_split(char *buf, size_t len, char **out, size_t max,
			 char *err, size_t errlen)
{
	char *lines[CONF_MAX_ENTRIES + 1];
	int nlines, i, n = 0;

	nlines = conf_split(buf, len, lines, CONF_MAX_ENTRIES, err, errlen);
	if (nlines < 0)
		return -1;
	for (i = 0; i < nlines; i++) {
		const char *s = lines[i];

		if (s[0] == '\0' || s[0] == '#')
			continue;
		if ((size_t)n == max) {
			snprintf(err, errlen, "names more than %zu modules", max);
			return -1;
		}
		out[n++] = lines[i];
	}
	out[n] = NULL;
	return n;
}

/*
 * Read a whole file of at most max bytes into a fresh buffer, NUL
 * terminated (one byte more than *len). Returns the buffer, or NULL with
 * errno set: ENOENT and the like from open, EFBIG if it is larger.
 */
static char *read_small_file(const char *path, size_t max, size_t *len)
{
	char *buf;
	size_t got = 0;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(max + 2);
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		ssize_t r = read(fd, buf + got, max + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
fail:
	e = errno;
	close(fd);
	free(buf);
	errno = e;
	return NULL;
}

/*
 * Read and split /cmd or /env into a NULL-terminated array (the strings
 * point into one buffer that is never freed: it lives until exec).
 * Returns the number of entries, or -1 with the reason in err.
 */
static int read_conf(const char *path, char ***out, char *err, size_t errlen)
{
	char reason[ERR_LEN];
	size_t len;
	char *buf;
	int n;

	buf = read_small_file(path, CONF_MAX_BYTES, &len);
	if (!buf) {
		if (errno == EFBIG)
			snprintf(err, errlen, "%s is larger than %d bytes", path,
				 CONF_MAX_BYTES);
		else
			snprintf(err, errlen, "cannot read %s: %s", path,
				 strerror(errno));
		return -1;
	}
	*out = calloc(CONF_MAX_ENTRIES + 1, sizeof(char *));
	if (!*out) {
		snprintf(err, errlen, "cannot read %s: %s", path,
			 strerror(ENOMEM));
		free(buf);
		return -1;
	}
	n = conf_split(buf, len, *out, CONF_MAX_ENTRIES, reason,
		       sizeof(reason));
	if (n < 0) {
		snprintf(err, errlen, "%s %s", path, reason);
		free(*out);
		free(buf);
		return -1;
	}
	return n;
}

#ifndef NE_INIT_TEST

/*
 * Print "init: <message>" on the console (stderr once it is set up), in
 * one write so that kernel messages do not cut the line.
 */
static void say(const char *fmt, ...)
{
	char line[ERR_LEN * 2] = "init: ";
	size_t n = strlen(line), room = sizeof(line) - n - 1;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(line + n, room, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	n += (size_t)r < room ? (size_t)r : room - 1;
	line[n++] = '\n';
	(void)!write(2, line, n);
}

/* The end of the enclave: with reboot=k and the VM's -no-reboot. */
static void __attribute__((noreturn)) finish(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	say("reboot: %s", strerror(errno));
	for (;;)
		pause();
}

#define fail(...) do { say(__VA_ARGS__); finish(); } while (0)

static void mount_or_fail(const char *src, const char *dir, const char *type,
			  unsigned long flags, const char *data, int busy_ok)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		fail("cannot create %s: %s", dir, strerror(errno));
	if (mount(src, dir, type, flags, data) < 0 &&
	    !(busy_ok && errno == EBUSY))
		fail("cannot mount %s on %s: %s", type, dir, strerror(errno));
}

static void setup_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd < 0)
		fail("cannot open /dev/console: %s", strerror(errno));
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

/* Load one module file, then remove it (it is not needed any more). */
static int load_module(const char *path, int must_exist)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (!must_exist && errno == ENOENT)
			return 0;
		fail("cannot open module %s: %s", path, strerror(errno));
	}
	if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
		fail("cannot load module %s: %s", path, strerror(errno));
	close(fd);
	unlink(path);
	return 1;
}

static void load_modules(void)
{
	char *mods[MODULES_MAX + 1], reason[ERR_LEN];
	size_t len;
	char *buf;
	int i, n;

	buf = read_small_file("/modules.list", CONF_MAX_BYTES, &len);
	if (buf) {
		n = modules_split(buf, len, mods, MODULES_MAX, reason,
				  sizeof(reason));
		if (n < 0)
			fail("/modules.list %s", reason);
		for (i = 0; i < n; i++)
			load_module(mods[i], 1);
		say("loaded %d modules from /modules.list", n);
		free(buf);
	} else if (errno != ENOENT) {
		fail("cannot read /modules.list: %s", strerror(errno));
	}
	/* The Nitro Secure Module driver, when the image ships it. */
	if (load_module("/nsm.ko", 0))
		say("loaded /nsm.ko");
}

static void heartbeat(void)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = NE_PARENT_CID,
		.svm_port = NE_HEARTBEAT_PORT,
	};
	unsigned char b = NE_HEARTBEAT;
	unsigned int cid;
	ssize_t r;
	int fd;

	/* The vsock device: without it, connect would only say ENODEV. */
	fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
		fail("heartbeat: no vsock device (/dev/vsock): %s",
		     strerror(errno));
	close(fd);
	if (cid == VMADDR_CID_ANY)
		fail("heartbeat: no vsock transport (no virtio-vsock device?)");
	say("vsock: local CID %u", cid);

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("heartbeat: no vsock socket: %s", strerror(errno));
	say("heartbeat: connecting to CID %d port %d", NE_PARENT_CID,
	    NE_HEARTBEAT_PORT);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("heartbeat: cannot connect to CID %d port %d: %s",
		     NE_PARENT_CID, NE_HEARTBEAT_PORT, strerror(errno));
	if (write(fd, &b, 1) != 1)
		fail("heartbeat: cannot send: %s", strerror(errno));
	do
		r = read(fd, &b, 1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		fail("heartbeat: no answer: %s", strerror(errno));
	if (r == 0)
		fail("heartbeat: the parent closed the connection");
	if (b != NE_HEARTBEAT)
		fail("heartbeat: the parent answered 0x%02x, not 0x%02x", b,
		     NE_HEARTBEAT);
	close(fd);
	say("heartbeat: ok");
}

/* What a program expects to find mounted in its root. */
static void setup_rootfs_mounts(void)
{
	const unsigned long nse = MS_NODEV | MS_NOSUID | MS_NOEXEC;
	static const char *const links[][2] = {
		{ "/dev/fd", "/proc/self/fd" },
		{ "/dev/stdin", "/proc/self/fd/0" },
		{ "/dev/stdout", "/proc/self/fd/1" },
		{ "/dev/stderr", "/proc/self/fd/2" },
	};
	size_t i;

	mount_or_fail("dev", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL, 1);
	mount_or_fail("proc", "/proc", "proc", nse, NULL, 0);
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][1], links[i][0]) < 0 && errno != EEXIST)
			fail("cannot link %s: %s", links[i][0], strerror(errno));
	mount_or_fail("tmpfs", "/run", "tmpfs", nse, "mode=0755", 0);
	mount_or_fail("tmpfs", "/tmp", "tmpfs", nse, NULL, 0);
	mount_or_fail("shm", "/dev/shm", "tmpfs", nse, NULL, 0);
	mount_or_fail("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		      NULL, 0);
	mount_or_fail("sysfs", "/sys", "sysfs", nse, NULL, 0);
	mount_or_fail("cgroup_root", "/sys/fs/cgroup", "tmpfs", nse,
		      "mode=0755", 0);
}

/* One cgroup (v1) hierarchy per enabled controller of /proc/cgroups. */
static void setup_cgroups(void)
{
	char line[256], name[64], dir[sizeof("/sys/fs/cgroup/") + 64];
	int hier, groups, enabled;
	FILE *f = fopen("/proc/cgroups", "re");

	if (!f)
		fail("cannot read /proc/cgroups: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		if (sscanf(line, "%63s %d %d %d", name, &hier, &groups,
			   &enabled) != 4)
			fail("cannot parse /proc/cgroups line: %s", line);
		if (!enabled)
			continue;
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s", name);
		mount_or_fail(name, dir, "cgroup", MS_NODEV | MS_NOSUID |
			      MS_NOEXEC, name, 0);
	}
	fclose(f);
}

static pid_t launch(char **cmd, char **env)
{
	static char *default_env[] = { "PATH=" DEFAULT_PATH, NULL };
	sigset_t all;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		fail("cannot fork: %s", strerror(errno));
	if (pid > 0)
		return pid;
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	setsid();
	/* execvpe looks the command up in init's own PATH. */
	setenv("PATH", DEFAULT_PATH, 1);
	execvpe(cmd[0], cmd, env[0] ? env : default_env);
	say("cannot run %s: %s", cmd[0], strerror(errno));
	_exit(127);
}

static void reap_until(pid_t child)
{
	int status;
	pid_t pid;

	for (;;) {
		pid = wait(&status);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			fail("wait: %s", strerror(errno));
		if (pid != child)
			continue;
		if (WIFEXITED(status))
			say("command exited with status %d",
			    WEXITSTATUS(status));
		else
			say("command killed by signal %d", WTERMSIG(status));
		return;
	}
}

/* Steps 1 and 2: the console and the modules. */
static void start(void)
{
	sigset_t all;

	/* init takes no signal; SIGCHLD still ends wait(). */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	/* Module and config paths are relative to the ramdisk's root. */
	if (chdir("/") < 0)
		_exit(1);

	mount_or_fail("dev", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL, 1);
	setup_console();
	say("enclave init started");
	load_modules();
}

/* Steps 4 to 6: /env and /cmd, the root, the command, the end. */
static void __attribute__((noreturn)) run_command(void)
{
	char err[ERR_LEN * 2], **cmd, **env;

	if (read_conf("/env", &env, err, sizeof(err)) < 0)
		fail("%s", err);
	if (read_conf("/cmd", &cmd, err, sizeof(err)) < 0)
		fail("%s", err);
	if (!cmd[0])
		fail("/cmd is empty: nothing to run");
	unlink("/env");
	unlink("/cmd");

	if (chdir("/rootfs") < 0 || chroot("/rootfs") < 0 || chdir("/") < 0)
		fail("cannot enter /rootfs: %s", strerror(errno));
	setup_rootfs_mounts();
	setup_cgroups();

	say("running %s", cmd[0]);
	reap_until(launch(cmd, env));
	finish();
}

/* boot_test_init.c has its own main (see there). */
#ifndef NE_INIT_NO_MAIN
int main(void)
{
	start();
	heartbeat();
	run_command();
}
#endif

#endif /* NE_INIT_TEST */
