/* criu.c: CRIU through its RPC protocol (swrk): dump, restore, version and feature
 * detection; also the spawn helpers and child_wait the other criu*.c files share
 * (src/criu_int.h). CRIU's command line is in criu_cli.c, its image files in
 * criu_images.c. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

/* Only the protocol buffers of CRIU's RPC, which libcriu exports; none of its
 * process-global API. */
#include <rpc.pb-c.h>

#include "criu.h"
#include "criu_int.h"
#include "log.h"
#include "util.h"

#define RPC_MAX_MSG      (64 * 1024)

char criu_bin[256] = "/usr/local/sbin/criu";
const char *const criu_log_names[CRIU_LOG_COUNT] = { "dump.log", "pre-dump.log",
						     "page-server.log", "restore.log",
						     "lazy-pages.log" };
int criu_log_level = 2;

const char *criu_path(void)
{
	return criu_bin;
}

void criu_log_level_set(int level)
{
	if (level >= 0 && level <= 4)
		criu_log_level = level;
}

/* The children hauld waits for by pid: every process spawn_env starts, and the
 * restored roots the destination reaps. Anything else that ends as our zombie was
 * left by CRIU (criu_reap_strays). */
#define KIDS_MAX 1024
static pthread_mutex_t kids_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t kids[KIDS_MAX];
static size_t n_kids;

void child_track(pid_t pid)
{
	pthread_mutex_lock(&kids_lock);
	if (n_kids < KIDS_MAX)
		kids[n_kids++] = pid;
	else
		log_warnx("more than %d children to wait for; pid %d is not tracked", KIDS_MAX,
			  (int)pid);
	pthread_mutex_unlock(&kids_lock);
}

void child_untrack(pid_t pid)
{
	pthread_mutex_lock(&kids_lock);
	for (size_t i = 0; i < n_kids; i++) {
		if (kids[i] == pid) {
			kids[i] = kids[--n_kids];
			break;
		}
	}
	pthread_mutex_unlock(&kids_lock);
}

static bool child_tracked(pid_t pid)
{
	bool found = false;

	pthread_mutex_lock(&kids_lock);
	for (size_t i = 0; i < n_kids && !found; i++)
		found = kids[i] == pid;
	pthread_mutex_unlock(&kids_lock);
	return found;
}

/* 1 when pid is a zombie. */
static int is_zombie(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

void criu_reap_strays(void)
{
	char path[64], buf[4096];
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		ssize_t n;
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		for (char *p = buf, *end; *p; p = end) {
			long pid = strtol(p, &end, 10);
			int st;

			if (end == p)
				break;
			if (pid <= 0 || child_tracked((pid_t)pid) || !is_zombie((pid_t)pid))
				continue;
			if (waitpid((pid_t)pid, &st, WNOHANG) == pid)
				log_info("reaped pid %ld, which a failed restore left", pid);
		}
	}
	closedir(d);
}

/* fork+exec argv with stdio on /dev/null (stderr to err_fd when >= 0) and the fds in
 * keep inherited. Only async-signal-safe calls between fork and exec. */
int spawn_env(char *const argv[], char *const envp[], const int *keep, int n_keep,
	      int out_fd, pid_t *pid)
{
	sigset_t all;
	pid_t p;

	p = fork();
	if (p < 0)
		return -errno;
	if (p == 0) {
		int null = open("/dev/null", O_RDWR);

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (null >= 0) {
			dup2(null, 0);
			dup2(out_fd >= 0 ? out_fd : null, 1);
			dup2(out_fd >= 0 ? out_fd : null, 2);
		}
		/* Nothing of the daemon's but what keep names reaches the program, even
		 * a descriptor some library opened without close-on-exec. */
		if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
			for (int fd = 3; fd < 65536; fd++)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
		for (int i = 0; i < n_keep; i++)
			fcntl(keep[i], F_SETFD, 0);
		if (envp)
			execve(argv[0], argv, envp);
		else
			execv(argv[0], argv);
		_exit(127);
	}
	child_track(p);
	*pid = p;
	return 0;
}

int spawn(char *const argv[], const int *keep, int n_keep, int out_fd, pid_t *pid)
{
	return spawn_env(argv, NULL, keep, n_keep, out_fd, pid);
}

int child_wait(pid_t pid, int timeout_ms)
{
	int pfd, status, ret;
	struct pollfd p;

	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0 && timeout_ms >= 0) {
		/* No pidfd (a kernel before 5.3, a seccomp filter, valgrind): poll, so that
		 * the deadline holds all the same. */
		int64_t deadline = time_mono_ms() + timeout_ms;

		for (;;) {
			ret = waitpid(pid, &status, WNOHANG);
			if (ret == pid) {
				child_untrack(pid);
				return status;
			}
			if (ret < 0 && errno != EINTR) {
				ret = -errno;
				child_untrack(pid);
				return ret;
			}
			if (time_mono_ms() >= deadline) {
				log_warnx("child %d did not finish in %d ms, killing it", pid,
					  timeout_ms);
				kill(pid, SIGKILL);
				break;
			}
			usleep(10 * 1000);
		}
	}
	if (pfd >= 0 && timeout_ms >= 0) {
		p.fd = pfd;
		p.events = POLLIN;
		do {
			ret = poll(&p, 1, timeout_ms);
		} while (ret < 0 && errno == EINTR);
		if (ret == 0) {
			log_warnx("child %d did not finish in %d ms, killing it", pid, timeout_ms);
			kill(pid, SIGKILL);
		}
	}
	if (pfd >= 0)
		close(pfd);
	while ((ret = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	child_untrack(pid);
	if (ret < 0)
		return -errno;
	return status;
}

/* Run argv, capture up to outlen-1 bytes of its output; returns the exit status
 * (0..255), or -errno. The deadline covers the output too: a program that hangs,
 * or leaves a child holding the pipe, is killed at timeout_ms (-ETIMEDOUT). */
int run_capture(char *const argv[], char *out, size_t outlen, int timeout_ms)
{
	int pipefd[2], st, ret;
	int64_t deadline = time_mono_ms() + (timeout_ms >= 0 ? timeout_ms : 0);
	bool late = false;
	size_t used = 0;
	pid_t pid = -1;
	ssize_t n;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	ret = spawn(argv, NULL, 0, pipefd[1], &pid);
	close(pipefd[1]);
	if (ret < 0) {
		close(pipefd[0]);
		return ret;
	}
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		int64_t left = deadline - time_mono_ms();
		char tmp[4096];

		if (timeout_ms >= 0) {
			if (left <= 0) {
				late = true;
				break;
			}
			ret = poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
			if (ret < 0 && errno == EINTR)
				continue;
			if (ret == 0) {
				late = true;
				break;
			}
		}
		n = read(pipefd[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && used + 1 < outlen) {
			size_t k = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;

			memcpy(out + used, tmp, k);
			used += k;
		}
	}
	if (out && outlen)
		out[used] = '\0';
	close(pipefd[0]);
	if (late) {
		log_warnx("%s did not finish in %d ms, killing it", argv[0], timeout_ms);
		kill(pid, SIGKILL);
	}
	st = child_wait(pid, late ? 5000 : timeout_ms);
	if (late)
		return -ETIMEDOUT;
	if (st < 0)
		return st;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last line of CRIU's log that reports an error, to tell the operator why. */
void log_last_error(int dirfd, const char *name, char *err, size_t errlen)
{
	char *buf = NULL, *line, *best = NULL, *summary = NULL, *save = NULL;
	char path[64];
	size_t len;

	if (dirfd < 0 || !err || errlen == 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	if (file_read_all(path, 16 << 20, &buf, &len) < 0)
		return;
	/* The last error, but not the closing "Dumping FAILED." when a cause precedes
	 * it, nor the harmless RLIMIT_NOFILE one of CRIU's start. */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, "Error (") || strstr(line, "RLIMIT_NOFILE"))
			continue;
		if (strstr(line, " FAILED.")) {
			summary = line;
			continue;
		}
		best = line;
	}
	if (!best)
		best = summary;
	if (best) {
		char *msg = strstr(best, "): ");

		snprintf(err, errlen, "%s", msg ? msg + 3 : best);
	}
	free(buf);
}

static int swrk_start(int keep_fd, pid_t *pid, int *sk_out)
{
	int sks[2], keep[2], ret;
	char fdarg[16];
	char *argv[] = { criu_bin, "swrk", fdarg, NULL };

	if (socketpair(AF_LOCAL, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sks) < 0)
		return -errno;
	snprintf(fdarg, sizeof(fdarg), "%d", sks[1]);
	keep[0] = sks[1];
	keep[1] = keep_fd;
	ret = spawn(argv, keep, keep_fd >= 0 ? 2 : 1, -1, pid);
	close(sks[1]);
	if (ret < 0) {
		close(sks[0]);
		return ret;
	}
	*sk_out = sks[0];
	return 0;
}

static int swrk_send(int sk, CriuReq *req)
{
	size_t len = criu_req__get_packed_size(req);
	uint8_t *buf;
	ssize_t n;
	int ret = 0;

	if (len > RPC_MAX_MSG)
		return -EMSGSIZE;
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	criu_req__pack(req, buf);
	n = send(sk, buf, len, MSG_NOSIGNAL);
	if (n != (ssize_t)len)
		ret = n < 0 ? -errno : -EIO;
	free(buf);
	return ret;
}

static int swrk_recv(int sk, CriuResp **resp)
{
	uint8_t *buf;
	struct pollfd p = { .fd = sk, .events = POLLIN };
	ssize_t n;
	int ret;

	do {
		ret = poll(&p, 1, CRIU_WAIT_MS);
	} while (ret < 0 && errno == EINTR);
	if (ret == 0)
		return -ETIMEDOUT;
	if (ret < 0)
		return -errno;
	buf = malloc(RPC_MAX_MSG);
	if (!buf)
		return -ENOMEM;
	do {
		n = recv(sk, buf, RPC_MAX_MSG, MSG_TRUNC);
	} while (n < 0 && errno == EINTR);
	if (n <= 0 || n > RPC_MAX_MSG) {
		ret = n == 0 ? -EPIPE : n < 0 ? -errno : -EMSGSIZE;
		free(buf);
		return ret;
	}
	*resp = criu_resp__unpack(NULL, (size_t)n, buf);
	free(buf);
	return *resp ? 0 : -EPROTO;
}

/* Answers one of CRIU's notifications (script names as in CRIU's action scripts,
 * pid the one it carries or 0): 0 for success. */
typedef int (*notify_fn)(const char *script, int pid, void *arg);

void criu_watch_init(struct criu_watch *w)
{
	pthread_mutex_init(&w->mu, NULL);
	w->pidfd = -1;
	w->pid = 0;
}

int criu_watch_kill(struct criu_watch *w)
{
	char path[64], *buf = NULL, *p, *end;
	size_t len;
	int ret = 0;

	pthread_mutex_lock(&w->mu);
	/* The pidfd holds the swrk process: while it answers, its pid and its
	 * children's (which it has not reaped: it is stuck) are theirs. */
	if (w->pidfd >= 0 && syscall(SYS_pidfd_send_signal, w->pidfd, 0, NULL, 0) == 0) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)w->pid, (int)w->pid);
		if (file_read_all(path, 4096, &buf, &len) == 0) {
			for (p = buf; *p; p = end) {
				long c = strtol(p, &end, 10);

				if (end == p)
					break;
				if (c > 1)
					kill((pid_t)c, SIGKILL);
			}
		}
		free(buf);
		syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
		ret = 1;
	}
	pthread_mutex_unlock(&w->mu);
	return ret;
}

static void watch_set(struct criu_watch *w, pid_t pid)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	w->pid = pid;
	pthread_mutex_unlock(&w->mu);
}

/* One request to a fresh swrk child, answering notifications on the way with notify
 * (NULL: always success). *resp_out gets the final answer (caller frees with
 * criu_resp__free_unpacked). watch, when set, holds the swrk process while
 * the call runs. */
static int swrk_call(CriuReq *req, int keep_fd, notify_fn notify, void *arg,
		     struct criu_watch *watch, CriuResp **resp_out)
{
	CriuResp *resp = NULL;
	pid_t pid = -1;
	int sk = -1, ret, st;

	*resp_out = NULL;
	ret = swrk_start(keep_fd, &pid, &sk);
	if (ret < 0)
		return ret;
	watch_set(watch, pid);
	ret = swrk_send(sk, req);
	while (ret == 0) {
		ret = swrk_recv(sk, &resp);
		if (ret < 0)
			break;
		if (resp->type == CRIU_REQ_TYPE__NOTIFY) {
			CriuReq ack = CRIU_REQ__INIT;
			const char *script = resp->notify && resp->notify->script ?
				resp->notify->script : "";

			ack.type = CRIU_REQ_TYPE__NOTIFY;
			ack.has_notify_success = true;
			ack.notify_success = true;
			if (notify)
				ack.notify_success = notify(script, resp->notify && resp->notify->has_pid ?
							    resp->notify->pid : 0, arg) == 0;
			criu_resp__free_unpacked(resp, NULL);
			resp = NULL;
			ret = swrk_send(sk, &ack);
			continue;
		}
		*resp_out = resp;
		break;
	}
	close(sk);
	st = child_wait(pid, CRIU_WAIT_MS);
	watch_set(watch, 0);
	if (ret == 0 && st < 0)
		ret = st;
	return ret;
}

static void opts_apply(CriuOpts *o, const struct criu_opts *co)
{
	o->has_log_level = true;
	o->log_level = criu_log_level;
	o->has_tcp_established = true;
	o->tcp_established = co->tcp_established;
	o->has_shell_job = true;
	o->shell_job = co->shell_job;
	o->has_file_locks = true;
	o->file_locks = co->file_locks;
	o->has_ext_unix_sk = true;
	o->ext_unix_sk = co->ext_unix_sk;
}

static void resp_error(CriuResp *resp, int ret, int work_fd, const char *what, const char *log,
		       char *err, size_t errlen)
{
	char detail[256] = "";

	/* The log's last error is the one that ended the run; cr_errmsg holds CRIU's
	 * first, which may be a harmless one from its start (RLIMIT_NOFILE). */
	log_last_error(work_fd, log, detail, sizeof(detail));
	if (!detail[0] && resp && resp->cr_errmsg && *resp->cr_errmsg &&
	    !strstr(resp->cr_errmsg, "RLIMIT_NOFILE"))
		snprintf(detail, sizeof(detail), "%s", resp->cr_errmsg);
	if (!detail[0] && resp && resp->has_cr_errno && resp->cr_errno)
		snprintf(detail, sizeof(detail), "%s", strerror(resp->cr_errno));
	if (!detail[0] && ret < 0)
		snprintf(detail, sizeof(detail), "%s", strerror(-ret));
	snprintf(err, errlen, "criu %s failed: %s (%s is in the job's logs)", what,
		 detail[0] ? detail : "no reason given", log);
}

static int dump_notify(const char *script, int pid, void *arg)
{
	const struct criu_dump_req *req = arg;
	int off = 0, on = 1;

	(void)pid;
	/* CRIU corks the page-server socket when it connects and, on a socket it was
	 * handed, never closes it: its final "close" message then waits out the cork's
	 * 200 ms timer while the tree is frozen. query-ext-files is the first
	 * notification after the connect, so uncork there; CRIU sends pages in large
	 * splices, which need no corking. */
	if (strcmp(script, "query-ext-files") == 0 && req->ps_fd >= 0) {
		setsockopt(req->ps_fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
		setsockopt(req->ps_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
	if (strcmp(script, "post-dump") == 0 && req->post_dump)
		return req->post_dump(req->arg);
	return 0;
}

int criu_rpc_dump(const struct criu_dump_req *req, char *err, size_t errlen)
{
	CriuReq r = CRIU_REQ__INIT;
	CriuOpts o = CRIU_OPTS__INIT;
	CriuPageServerInfo ps = CRIU_PAGE_SERVER_INFO__INIT;
	CriuResp *resp = NULL;
	int ret;

	r.type = req->pre_dump ? CRIU_REQ_TYPE__PRE_DUMP : CRIU_REQ_TYPE__DUMP;
	r.opts = &o;
	if (req->track_mem) {
		o.has_track_mem = true;
		o.track_mem = true;
	}
	if (req->parent && req->parent[0])
		o.parent_img = (char *)req->parent;
	o.has_pid = true;
	o.pid = req->pid;
	o.images_dir_fd = req->images_fd;
	o.has_work_dir_fd = true;
	o.work_dir_fd = req->work_fd;
	o.log_file = req->pre_dump ? "pre-dump.log" : "dump.log";
	o.has_notify_scripts = true;
	o.notify_scripts = true;
	opts_apply(&o, &req->opts);
	if (req->ps_fd >= 0) {
		ps.has_fd = true;
		ps.fd = req->ps_fd;
		o.ps = &ps;
	}
	ret = swrk_call(&r, req->ps_fd, dump_notify, (void *)req, req->watch, &resp);
	if (ret == 0 && (!resp || !resp->success))
		ret = -ECANCELED;
	if (ret < 0)
		resp_error(resp, ret, req->work_fd, req->pre_dump ? "pre-dump" : "dump",
			   req->pre_dump ? "pre-dump.log" : "dump.log", err, errlen);
	if (resp)
		criu_resp__free_unpacked(resp, NULL);
	return ret;
}

/* CRIU names the root of the tree it restores in its setup-namespaces and
 * post-restore notifications. */
struct restore_watch {
	const struct criu_restore_req *req;
};

static int restore_notify(const char *script, int pid, void *arg)
{
	struct restore_watch *w = arg;

	if (pid > 0 && w->req->on_root)
		w->req->on_root(pid, script, w->req->arg);
	return 0;
}

int criu_rpc_restore(const struct criu_restore_req *req, pid_t *pid, char *err, size_t errlen)
{
	struct restore_watch w = { .req = req };
	CriuReq r = CRIU_REQ__INIT;
	CriuOpts o = CRIU_OPTS__INIT;
	CriuResp *resp = NULL;
	int ret;

	r.type = CRIU_REQ_TYPE__RESTORE;
	r.opts = &o;
	o.images_dir_fd = req->images_fd;
	o.has_work_dir_fd = true;
	o.work_dir_fd = req->work_fd;
	o.log_file = "restore.log";
	o.has_rst_sibling = true;
	o.rst_sibling = true;
	o.has_leave_stopped = true;
	o.leave_stopped = req->leave_stopped;
	if (req->lazy_pages) {
		o.has_lazy_pages = true;
		o.lazy_pages = true;
	}
	if (req->consume_pages) {
		o.has_auto_dedup = true;
		o.auto_dedup = true;
	}
	opts_apply(&o, &req->opts);
	if (req->on_root) {
		o.has_notify_scripts = true;
		o.notify_scripts = true;
	}
	ret = swrk_call(&r, -1, req->on_root ? restore_notify : NULL, &w, req->watch, &resp);
	if (ret == 0 && (!resp || !resp->success || !resp->restore))
		ret = -ECANCELED;
	if (ret == 0) {
		*pid = resp->restore->pid;
	} else {
		resp_error(resp, ret, req->work_fd, "restore", "restore.log", err, errlen);
		/* The tasks CRIU had created as our children (rst_sibling) and killed. */
		criu_reap_strays();
	}
	if (resp)
		criu_resp__free_unpacked(resp, NULL);
	return ret;
}

static void detect_features(struct criu_info *info)
{
	CriuReq r = CRIU_REQ__INIT;
	CriuFeatures f = CRIU_FEATURES__INIT;
	CriuResp *resp = NULL;

	r.type = CRIU_REQ_TYPE__VERSION;
	if (swrk_call(&r, -1, NULL, NULL, NULL, &resp) == 0 && resp && resp->success && resp->version) {
		info->version = resp->version->major_number * 10000 +
				resp->version->minor_number * 100 +
				(resp->version->has_sublevel ? resp->version->sublevel : 0);
		snprintf(info->version_text, sizeof(info->version_text), "%d.%d.%d",
			 resp->version->major_number, resp->version->minor_number,
			 resp->version->has_sublevel ? resp->version->sublevel : 0);
	}
	if (resp)
		criu_resp__free_unpacked(resp, NULL);
	resp = NULL;

	r.type = CRIU_REQ_TYPE__FEATURE_CHECK;
	r.features = &f;
	f.has_mem_track = f.mem_track = true;
	f.has_lazy_pages = f.lazy_pages = true;
	if (swrk_call(&r, -1, NULL, NULL, NULL, &resp) == 0 && resp && resp->features) {
		info->mem_track = resp->features->has_mem_track && resp->features->mem_track;
		info->lazy_pages = resp->features->has_lazy_pages && resp->features->lazy_pages;
	}
	if (resp)
		criu_resp__free_unpacked(resp, NULL);
}

void criu_detect(struct criu_info *info)
{
	static const char *const candidates[] = { "/usr/local/sbin/criu", "/usr/sbin/criu",
						   "/usr/local/bin/criu", "/usr/bin/criu" };
	char out[4096];
	char *argv[] = { criu_bin, "check", NULL };
	int ret;

	memset(info, 0, sizeof(*info));
	for (size_t i = 0; i < ARRAY_SIZE(candidates); i++) {
		if (access(candidates[i], X_OK) == 0) {
			snprintf(criu_bin, sizeof(criu_bin), "%s", candidates[i]);
			break;
		}
	}
	snprintf(info->path, sizeof(info->path), "%s", criu_bin);
	if (access(criu_bin, X_OK) < 0) {
		snprintf(info->check_error, sizeof(info->check_error),
			 "criu not found (run scripts/setup.sh)");
		return;
	}
	ret = run_capture(argv, out, sizeof(out), CRIU_CHECK_MS);
	info->check_ok = ret == 0;
	if (!info->check_ok) {
		char *line = out, *save = NULL, *tok;

		/* Keep the first error line; the RLIMIT warning is harmless here. */
		for (tok = strtok_r(line, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save))
			if (strstr(tok, "rror") && !strstr(tok, "RLIMIT_NOFILE"))
				break;
		snprintf(info->check_error, sizeof(info->check_error), "criu check failed: %s",
			 tok ? tok : ret < 0 ? strerror(-ret) : "unknown reason");
	}
	detect_features(info);
}
