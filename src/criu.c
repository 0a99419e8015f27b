/* criu.c: CRIU through its RPC protocol (swrk) and its command line. */
#include <dirent.h>
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criu.h>
#include <rpc.pb-c.h>

#include "criu.h"
#include "log.h"
#include "util.h"

#define RPC_MAX_MSG      (64 * 1024)
#define CRIU_WAIT_MS     (30 * 60 * 1000)  /* a dump of many GiB may take minutes */
#define CRIU_CHECK_MS    (60 * 1000)

static char criu_bin[256] = "/usr/local/sbin/criu";
static int criu_log_level = 2;

const char *criu_path(void)
{
	return criu_bin;
}

void criu_set_log_level(int level)
{
	if (level >= 0 && level <= 4)
		criu_log_level = level;
}

/* fork+exec argv with stdio on /dev/null (stderr to err_fd when >= 0) and the fds in
 * keep inherited. Only async-signal-safe calls between fork and exec. */
static int spawn_env(char *const argv[], char *const envp[], const int *keep, int n_keep,
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
		for (int i = 0; i < n_keep; i++)
			fcntl(keep[i], F_SETFD, 0);
		if (envp)
			execve(argv[0], argv, envp);
		else
			execv(argv[0], argv);
		_exit(127);
	}
	*pid = p;
	return 0;
}

static int spawn(char *const argv[], const int *keep, int n_keep, int out_fd, pid_t *pid)
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
			if (ret == pid)
				return status;
			if (ret < 0 && errno != EINTR)
				return -errno;
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
	if (ret < 0)
		return -errno;
	return status;
}

/* Run argv, capture up to outlen-1 bytes of its output; returns the exit status
 * (0..255), or -errno. */
static int run_capture(char *const argv[], char *out, size_t outlen, int timeout_ms)
{
	int pipefd[2], st, ret;
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
		char tmp[4096];

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
	st = child_wait(pid, timeout_ms);
	if (st < 0)
		return st;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last line of CRIU's log that reports an error, to tell the operator why. */
static void log_last_error(int dirfd, const char *name, char *err, size_t errlen)
{
	char *buf = NULL, *line, *best = NULL, *save = NULL;
	char path[64];
	size_t len;

	if (dirfd < 0 || !err || errlen == 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	if (file_read_all(path, 16 << 20, &buf, &len) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, "Error (") && !strstr(line, "RLIMIT_NOFILE"))
			best = line;
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

/* Answers one of CRIU's notifications (script names as in CRIU's action scripts):
 * 0 for success. */
typedef int (*notify_fn)(const char *script, void *arg);

/* One request to a fresh swrk child, answering notifications on the way with notify
 * (NULL: always success). *resp_out gets the final answer (caller frees with
 * criu_resp__free_unpacked). */
static int swrk_call(CriuReq *req, int keep_fd, notify_fn notify, void *arg,
		     CriuResp **resp_out)
{
	CriuResp *resp = NULL;
	pid_t pid = -1;
	int sk = -1, ret, st;

	*resp_out = NULL;
	ret = swrk_start(keep_fd, &pid, &sk);
	if (ret < 0)
		return ret;
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
				ack.notify_success = notify(script, arg) == 0;
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

	log_last_error(work_fd, log, detail, sizeof(detail));
	if (resp && resp->cr_errmsg && *resp->cr_errmsg)
		snprintf(detail, sizeof(detail), "%s", resp->cr_errmsg);
	if (!detail[0] && resp && resp->has_cr_errno && resp->cr_errno)
		snprintf(detail, sizeof(detail), "%s", strerror(resp->cr_errno));
	if (!detail[0] && ret < 0)
		snprintf(detail, sizeof(detail), "%s", strerror(-ret));
	snprintf(err, errlen, "criu %s failed: %s (log: %s)", what,
		 detail[0] ? detail : "no reason given", log);
}

static int dump_notify(const char *script, void *arg)
{
	const struct criu_dump_req *req = arg;
	int off = 0, on = 1;

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

int criu_dump(const struct criu_dump_req *req, char *err, size_t errlen)
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
	ret = swrk_call(&r, req->ps_fd, dump_notify, (void *)req, &resp);
	if (ret == 0 && (!resp || !resp->success))
		ret = -ECANCELED;
	if (ret < 0)
		resp_error(resp, ret, req->work_fd, req->pre_dump ? "pre-dump" : "dump",
			   req->pre_dump ? "pre-dump.log" : "dump.log", err, errlen);
	if (resp)
		criu_resp__free_unpacked(resp, NULL);
	return ret;
}

int criu_restore(const struct criu_restore_req *req, pid_t *pid, char *err, size_t errlen)
{
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
	opts_apply(&o, &req->opts);
	ret = swrk_call(&r, -1, NULL, NULL, &resp);
	if (ret == 0 && (!resp || !resp->success || !resp->restore))
		ret = -ECANCELED;
	if (ret == 0)
		*pid = resp->restore->pid;
	else
		resp_error(resp, ret, req->work_fd, "restore", "restore.log", err, errlen);
	if (resp)
		criu_resp__free_unpacked(resp, NULL);
	return ret;
}

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

static void detect_features(struct criu_info *info)
{
	CriuReq r = CRIU_REQ__INIT;
	CriuFeatures f = CRIU_FEATURES__INIT;
	CriuResp *resp = NULL;

	r.type = CRIU_REQ_TYPE__VERSION;
	if (swrk_call(&r, -1, NULL, NULL, &resp) == 0 && resp && resp->success && resp->version) {
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
	if (swrk_call(&r, -1, NULL, NULL, &resp) == 0 && resp && resp->features) {
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

/* Protocol buffers wire format, just enough for stats_entry. */
static int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -EPROTO;
		x |= (uint64_t)(**p & 0x7f) << shift;
		if (!(*(*p)++ & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EPROTO;
}

/* Walk the fields of one message: which is 0 for stats_entry, 1 for its
 * dump_stats_entry and 2 for its restore_stats_entry. Unknown fields are skipped. */
static int pb_walk(const uint8_t *p, const uint8_t *end, struct criu_stats *st, int which)
{
	uint64_t key, v;

	while (p < end) {
		if (pb_varint(&p, end, &key) < 0)
			return -EPROTO;
		switch (key & 7) {
		case 0:
			if (pb_varint(&p, end, &v) < 0)
				return -EPROTO;
			break;
		case 2:
			if (pb_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
				return -EPROTO;
			if (which == 0 && (key >> 3) == 1) {
				st->has_dump = true;
				if (pb_walk(p, p + v, st, 1) < 0)
					return -EPROTO;
			} else if (which == 0 && (key >> 3) == 2) {
				st->has_restore = true;
				if (pb_walk(p, p + v, st, 2) < 0)
					return -EPROTO;
			}
			p += v;
			continue;
		case 1:
			if (end - p < 8)
				return -EPROTO;
			p += 8;
			continue;
		case 5:
			if (end - p < 4)
				return -EPROTO;
			p += 4;
			continue;
		default:
			return -EPROTO;
		}
		if (which == 1) {
			switch (key >> 3) {
			case 1: st->freezing_ms = (int64_t)v / 1000; break;
			case 2: st->frozen_ms = (int64_t)v / 1000; break;
			case 3: st->memdump_ms = (int64_t)v / 1000; break;
			case 4: st->memwrite_ms = (int64_t)v / 1000; break;
			case 5: st->pages_scanned = (int64_t)v; break;
			case 6: st->pages_skipped_parent = (int64_t)v; break;
			case 7: st->pages_written = (int64_t)v; break;
			case 9: st->pages_lazy = (int64_t)v; break;
			default: break;
			}
		} else if (which == 2) {
			switch (key >> 3) {
			case 3: st->forking_ms = (int64_t)v / 1000; break;
			case 4: st->restore_ms = (int64_t)v / 1000; break;
			case 5: st->pages_restored = (int64_t)v; break;
			default: break;
			}
		}
	}
	return 0;
}

#define IMG_SERVICE_MAGIC 0x55105940u
#define STATS_MAGIC       0x57093306u

int criu_stats_parse(const void *buf, size_t len, struct criu_stats *st)
{
	const uint8_t *p = buf;
	uint32_t m[3];

	memset(st, 0, sizeof(*st));
	if (!buf || len < sizeof(m))
		return -EPROTO;
	memcpy(m, p, sizeof(m));
	if (m[0] != IMG_SERVICE_MAGIC || m[1] != STATS_MAGIC || m[2] > len - sizeof(m))
		return -EPROTO;
	return pb_walk(p + sizeof(m), p + sizeof(m) + m[2], st, 0);
}

int criu_stats_read(const char *path, struct criu_stats *st)
{
	char *buf = NULL;
	size_t len;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = file_read_all(path, 64 * 1024, &buf, &len);
	if (ret < 0)
		return ret;
	ret = criu_stats_parse(buf, len, st);
	free(buf);
	return ret;
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
	if (req->opts.tcp_established)
		argv[n++] = "--tcp-established";
	if (req->opts.shell_job)
		argv[n++] = "--shell-job";
	if (req->opts.file_locks)
		argv[n++] = "--file-locks";
	if (req->opts.ext_unix_sk)
		argv[n++] = "--ext-unix-sk";
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
	char *argv[] = { criu_bin, "lazy-pages", "--page-server", "--ps-socket", fdarg,
			 "--images-dir", (char *)images_dir, "--work-dir", (char *)work_dir,
			 "--status-fd", stfd, "-o", "lazy-pages.log", lvl, NULL };
	int st[2], keep[2], ret;
	struct pollfd p;

	if (pipe2(st, O_CLOEXEC) < 0)
		return -errno;
	snprintf(fdarg, sizeof(fdarg), "%d", ps_fd);
	snprintf(stfd, sizeof(stfd), "%d", st[1]);
	snprintf(lvl, sizeof(lvl), "-v%d", criu_log_level);
	keep[0] = ps_fd;
	keep[1] = st[1];
	ret = spawn(argv, keep, 2, -1, pid);
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
		snprintf(err, errlen, "criu lazy-pages did not start (log: %s/lazy-pages.log)",
			 work_dir);
		return -EIO;
	}
	close(st[0]);
	return 0;
}

#define IMG_COMMON_MAGIC 0x54564319u
#define PAGEMAP_MAGIC    0x56084025u
#define PE_LAZY          (1u << 1)

/* Sum the pages of one pagemap image's entries that are flagged lazy. */
static int pagemap_lazy(const uint8_t *p, size_t len, int64_t *pages)
{
	const uint8_t *end = p + len;
	uint32_t m[2], sz;
	bool head = true;

	if (len < sizeof(m))
		return -EPROTO;
	memcpy(m, p, sizeof(m));
	if (m[0] != IMG_COMMON_MAGIC || m[1] != PAGEMAP_MAGIC)
		return -EPROTO;
	p += sizeof(m);
	while (end - p >= 4) {
		const uint8_t *q, *qend;
		uint64_t key, v, nr = 0, flags = 0;

		memcpy(&sz, p, 4);
		p += 4;
		if (sz > (size_t)(end - p))
			return -EPROTO;
		q = p;
		qend = p + sz;
		p = qend;
		if (head) {      /* pagemap_head */
			head = false;
			continue;
		}
		while (q < qend) {
			if (pb_varint(&q, qend, &key) < 0 || (key & 7) != 0 ||
			    pb_varint(&q, qend, &v) < 0)
				return -EPROTO;
			if ((key >> 3) == 2)
				nr = v;
			else if ((key >> 3) == 4)
				flags = v;
		}
		if (flags & PE_LAZY)
			*pages += (int64_t)nr;
	}
	return 0;
}

int criu_lazy_pages_count(int images_fd, int64_t *pages)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	*pages = 0;
	fd = openat(images_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) && ret == 0) {
		char path[64 + 256], *buf = NULL;
		size_t len;

		if (strncmp(de->d_name, "pagemap-", 8) != 0 || strstr(de->d_name, "shmem"))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", images_fd, de->d_name);
		ret = file_read_all(path, 64 << 20, &buf, &len);
		if (ret == 0)
			ret = pagemap_lazy((const uint8_t *)buf, len, pages);
		free(buf);
	}
	closedir(d);
	return ret;
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
	if (req->opts.tcp_established)
		argv[n++] = "--tcp-established";
	if (req->opts.shell_job)
		argv[n++] = "--shell-job";
	if (req->opts.file_locks)
		argv[n++] = "--file-locks";
	if (req->opts.ext_unix_sk)
		argv[n++] = "--ext-unix-sk";
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
		snprintf(err, errlen, "criu restore failed: %s (log: restore.log)",
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
