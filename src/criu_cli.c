/* criu_cli.c: CRIU through its command line: the page server, cpuinfo, lazy
 * (post-copy) dump and lazy-pages, the action-script hook, and the restore into a
 * fresh PID namespace. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criu.h"
#include "criu_int.h"
#include "log.h"
#include "util.h"

int criu_page_server_spawn(const char *images_dir, const char *work_dir, int ps_fd,
			   pid_t *pid, char *err, size_t errlen)
{
	char fdarg[16], lvl[8];
	char *argv[] = { criu_bin, "page-server", "--images-dir", (char *)images_dir,
			 "--work-dir", (char *)work_dir, "--ps-socket", fdarg,
			 "-o", "page-server.log", lvl, NULL };
	int ret;

	snprintf(fdarg, sizeof(fdarg), "%d", ps_fd);
	snprintf(lvl, sizeof(lvl), "-v%d", criu_log_level);
	ret = spawn(argv, &ps_fd, 1, -1, pid);
	if (ret < 0)
		snprintf(err, errlen, "cannot start criu page-server: %s", strerror(-ret));
	return ret;
}

static int cpuinfo(const char *verb, const char *dir, char *err, size_t errlen)
{
	char out[1024];
	char *argv[] = { criu_bin, "cpuinfo", (char *)verb, "--images-dir", (char *)dir,
			 "-v1", NULL };
	int ret = run_capture(argv, out, sizeof(out), CRIU_CHECK_MS);

	if (ret == 0)
		return 0;
	out[strcspn(out, "\n")] = '\0';
	snprintf(err, errlen, "criu cpuinfo %s failed: %s", verb,
		 ret < 0 ? strerror(-ret) : out[0] ? out : "incompatible CPU");
	return ret < 0 ? ret : -EINVAL;
}

int criu_cpuinfo_dump(const char *dir, char *err, size_t errlen)
{
	return cpuinfo("dump", dir, err, errlen);
}

int criu_cpuinfo_check(const char *dir, char *err, size_t errlen)
{
	return cpuinfo("check", dir, err, errlen);
}

/* Append the command-line flags of the options to argv at n; returns the new n.
 * argv must have room for four more. */
static size_t opts_argv(const struct criu_opts *o, char **argv, size_t n)
{
	if (o->tcp_established)
		argv[n++] = "--tcp-established";
	if (o->shell_job)
		argv[n++] = "--shell-job";
	if (o->file_locks)
		argv[n++] = "--file-locks";
	if (o->ext_unix_sk)
		argv[n++] = "--ext-unix-sk";
	return n;
}

/* Lazy (post-copy) migration goes through CRIU's command line: its RPC ignores a
 * page-server socket when lazy pages are asked for. The post-dump hold then comes
 * through an action script, which is hauld itself (criu_hook_main). */
int criu_lazy_dump_spawn(const struct criu_lazy_dump_req *req, pid_t *pid, char *err,
			 size_t errlen)
{
	extern char **environ;
	char fdarg[16], pidarg[16], lvl[8], hookenv[128];
	char *argv[32], **envp = NULL;
	size_t n = 0, ne = 0;
	int ret;

	snprintf(fdarg, sizeof(fdarg), "%d", req->ps_fd);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)req->pid);
	snprintf(lvl, sizeof(lvl), "-v%d", criu_log_level);
	snprintf(hookenv, sizeof(hookenv), "HAULD_HOOK=%s", req->hook_name);
	argv[n++] = criu_bin;
	argv[n++] = "dump";
	argv[n++] = "-t";
	argv[n++] = pidarg;
	argv[n++] = "--images-dir";
	argv[n++] = (char *)req->images_dir;
	argv[n++] = "--work-dir";
	argv[n++] = (char *)req->work_dir;
	argv[n++] = "-o";
	argv[n++] = "dump.log";
	argv[n++] = lvl;
	argv[n++] = "--lazy-pages";
	argv[n++] = "--ps-socket";
	argv[n++] = fdarg;
	argv[n++] = "--action-script";
	argv[n++] = (char *)req->hook_path;
	n = opts_argv(&req->opts, argv, n);
	argv[n] = NULL;

	for (char **e = environ; *e; e++)
		ne++;
	envp = calloc(ne + 2, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < ne; i++)
		envp[i] = environ[i];
	envp[ne] = hookenv;
	ret = spawn_env(argv, envp, &req->ps_fd, 1, -1, pid);
	free(envp);
	if (ret < 0)
		snprintf(err, errlen, "cannot start criu dump: %s", strerror(-ret));
	return ret;
}

int criu_lazy_pages_spawn(const char *images_dir, const char *work_dir, int ps_fd, pid_t *pid,
			  char *err, size_t errlen)
{
	char fdarg[16], stfd[16], lvl[8], c;
	char *argv[16];
	int st[2], keep[2], ret, n = 0, nkeep = 0;
	struct pollfd p;

	if (pipe2(st, O_CLOEXEC) < 0)
		return -errno;
	snprintf(fdarg, sizeof(fdarg), "%d", ps_fd);
	snprintf(stfd, sizeof(stfd), "%d", st[1]);
	snprintf(lvl, sizeof(lvl), "-v%d", criu_log_level);
	argv[n++] = criu_bin;
	argv[n++] = "lazy-pages";
	/* Without a page server, the pages come from the images in images_dir. */
	if (ps_fd >= 0) {
		argv[n++] = "--page-server";
		argv[n++] = "--ps-socket";
		argv[n++] = fdarg;
		keep[nkeep++] = ps_fd;
	}
	argv[n++] = "--images-dir";
	argv[n++] = (char *)images_dir;
	argv[n++] = "--work-dir";
	argv[n++] = (char *)work_dir;
	argv[n++] = "--status-fd";
	argv[n++] = stfd;
	argv[n++] = "-o";
	argv[n++] = "lazy-pages.log";
	argv[n++] = lvl;
	argv[n] = NULL;
	keep[nkeep++] = st[1];
	ret = spawn(argv, keep, nkeep, -1, pid);
	close(st[1]);
	if (ret < 0) {
		close(st[0]);
		snprintf(err, errlen, "cannot start criu lazy-pages: %s", strerror(-ret));
		return ret;
	}
	/* The restore connects to its socket: wait until it says it listens. */
	p.fd = st[0];
	p.events = POLLIN;
	do {
		ret = poll(&p, 1, CRIU_CHECK_MS);
	} while (ret < 0 && errno == EINTR);
	if (ret <= 0 || read(st[0], &c, 1) != 1) {
		close(st[0]);
		kill(*pid, SIGKILL);
		child_wait(*pid, 5000);
		snprintf(err, errlen, "criu lazy-pages did not start (lazy-pages.log is in the "
			 "job's logs)");
		return -EIO;
	}
	close(st[0]);
	return 0;
}

/* The action script CRIU runs in lazy mode is hauld itself: it asks the daemon,
 * over the abstract unix socket named by HAULD_HOOK, what to answer. */
int criu_hook_listen(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(name) + 1 >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path + 1, name, strlen(name));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
						       1 + strlen(name))) < 0 ||
	    listen(fd, 4) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

int criu_hook_main(void)
{
	const char *action = getenv("CRTOOLS_SCRIPT_ACTION");
	const char *name = getenv("HAULD_HOOK");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char verdict = '1';
	int fd;

	if (!action || !name || strlen(name) + 1 >= sizeof(sa.sun_path))
		return 2;
	/* Only the post-dump answer matters; every other action succeeds. */
	if (strcmp(action, "post-dump") != 0)
		return 0;
	memcpy(sa.sun_path + 1, name, strlen(name));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
					  strlen(name))) < 0)
		return 1;
	if (write_full(fd, action, strlen(action)) < 0 || write_full(fd, "\n", 1) < 0 ||
	    read_full(fd, &verdict, 1) < 0)
		verdict = '1';
	close(fd);
	return verdict == '0' ? 0 : 1;
}

#define PIPE_MAX_PATH  "/proc/sys/fs/pipe-max-size"
#define PIPE_MAX_LAZY  (4 << 20)

int criu_lazy_ready(const struct criu_info *info, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len;
	long cur = 0;
	int fd;

	if (!info->lazy_pages) {
		snprintf(err, errlen, "this kernel or CRIU cannot do lazy pages (userfaultfd)");
		return -ENOTSUP;
	}
	if (file_read_all(PIPE_MAX_PATH, 32, &buf, &len) == 0)
		cur = atol(buf);
	free(buf);
	if (cur >= PIPE_MAX_LAZY)
		return 0;
	/* CRIU asks for a 4 MiB pipe when it serves lazy pages and, without
	 * CAP_SYS_RESOURCE, the kernel refuses pipes above this limit. */
	fd = open(PIPE_MAX_PATH, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		char val[16];
		int n = snprintf(val, sizeof(val), "%d", PIPE_MAX_LAZY);

		if (write(fd, val, (size_t)n) == n) {
			close(fd);
			log_info("raised fs.pipe-max-size from %ld to %d for lazy pages", cur,
				 PIPE_MAX_LAZY);
			return 0;
		}
		close(fd);
	}
	snprintf(err, errlen, "fs.pipe-max-size is %ld and could not be raised to %d, which "
		 "CRIU needs to serve lazy pages (sysctl -w fs.pipe-max-size=%d)", cur,
		 PIPE_MAX_LAZY, PIPE_MAX_LAZY);
	return -EPERM;
}

/* The host pid of the child of init whose pid inside init's namespace is nspid. */
static pid_t host_pid_of(pid_t init, pid_t nspid)
{
	char path[64], buf[4096], *line;
	pid_t kids[256];
	size_t n = 0;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)init, (int)init);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[len > 0 ? len : 0] = '\0';
	for (char *p = buf, *end; n < ARRAY_SIZE(kids); p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		kids[n++] = (pid_t)v;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/status", (int)kids[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[len > 0 ? len : 0] = '\0';
		line = strstr(buf, "\nNSpid:");
		if (line) {
			char *eol = strchr(line + 1, '\n'), *last;

			if (eol)
				*eol = '\0';
			last = strrchr(line, '\t');
			if (last && atoi(last + 1) == nspid)
				return kids[i];
		}
	}
	return -1;
}

int criu_restore_new_pidns(const struct criu_restore_ns_req *req, pid_t *pid, pid_t *init,
			   char *err, size_t errlen)
{
	char lvl[8], pidfile[600], *buf = NULL;
	char *argv[24];
	int pin[2] = { -1, -1 }, pst[2] = { -1, -1 }, st = -1, ret = 0;
	size_t n = 0, len;
	pid_t child, ipid = -1;
	struct pollfd p;

	snprintf(lvl, sizeof(lvl), "-v%d", criu_log_level);
	argv[n++] = criu_bin;
	argv[n++] = "restore";
	argv[n++] = "--images-dir";
	argv[n++] = (char *)req->images_dir;
	argv[n++] = "--work-dir";
	argv[n++] = (char *)req->work_dir;
	argv[n++] = "-o";
	argv[n++] = "restore.log";
	argv[n++] = lvl;
	argv[n++] = "--restore-detached";
	argv[n++] = "--pidfile";
	argv[n++] = "restore.pid";
	if (req->leave_stopped)
		argv[n++] = "--leave-stopped";
	if (req->consume_pages)
		argv[n++] = "--auto-dedup";
	n = opts_argv(&req->opts, argv, n);
	argv[n] = NULL;

	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pst, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	/* As criu-ns does: a fresh PID and mount namespace whose init (pid 1) mounts its
	 * own /proc, runs CRIU, and then stays as the reaper of the restored tree, which
	 * CRIU leaves to it when it detaches. Only async-signal-safe calls after fork. */
	child = fork();
	if (child < 0) {
		ret = -errno;
		goto out;
	}
	if (child == 0) {
		sigset_t none;
		pid_t i, c;
		int s, null;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0)
			_exit(126);
		i = fork();
		if (i < 0)
			_exit(125);
		if (i > 0) {
			(void)!write(pin[1], &i, sizeof(i));
			_exit(0);
		}
		/* This init outlives the restore: it must hold none of the daemon's
		 * descriptors (sockets, the database), only its status pipe, as fd 3. */
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		if (dup2(pst[1], 3) < 0)
			_exit(123);
		syscall(SYS_close_range, 4, ~0U, 0);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			_exit(124);
		c = fork();
		if (c == 0) {
			close(3);
			execv(argv[0], argv);
			_exit(127);
		}
		for (;;) {
			pid_t w = waitpid(-1, &s, 0);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				_exit(0);
			if (w == c) {
				(void)!write(3, &s, sizeof(s));
				close(3);
			}
		}
	}
	child_track(child);
	close(pin[1]);
	close(pst[1]);
	pin[1] = pst[1] = -1;
	child_wait(child, CRIU_CHECK_MS);
	if (read_full(pin[0], &ipid, sizeof(ipid)) < 0 || ipid <= 0) {
		ret = -ECHILD;
		snprintf(err, errlen, "cannot create a PID namespace for the restore");
		goto out;
	}
	p.fd = pst[0];
	p.events = POLLIN;
	if (poll(&p, 1, CRIU_WAIT_MS) <= 0 || read_full(pst[0], &st, sizeof(st)) < 0 ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char detail[256] = "";
		int wfd = open(req->work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		log_last_error(wfd, "restore.log", detail, sizeof(detail));
		if (wfd >= 0)
			close(wfd);
		snprintf(err, errlen, "criu restore failed: %s (restore.log is in the job's logs)",
			 detail[0] ? detail : "no reason given");
		kill(ipid, SIGKILL);
		ret = -ECANCELED;
		goto out;
	}
	snprintf(pidfile, sizeof(pidfile), "%s/restore.pid", req->work_dir);
	if (file_read_all(pidfile, 32, &buf, &len) < 0 ||
	    (*pid = host_pid_of(ipid, (pid_t)atoi(buf))) <= 0) {
		snprintf(err, errlen, "restored, but cannot find the restored root's pid");
		kill(ipid, SIGKILL);
		ret = -ESRCH;
		goto out;
	}
	*init = ipid;
out:
	free(buf);
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pst[i] >= 0)
			close(pst[i]);
	}
	return ret;
}
