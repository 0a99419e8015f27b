/* pid.c: migration type "pid", a process tree named by its root pid, moved with
 * CRIU: the destination runs CRIU's page server on the memory connection, the source
 * dumps into it and holds the tree frozen until the destination has restored. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criu.h"
#include "criu_diag.h"
#include "log.h"
#include "migration.h"
#include "proc.h"
#include "util.h"

#define FILL_STALL_MS  (20 * 1000)

static int pid_validate(const json_t *body, struct job *j, struct mig_problem *p)
{
	const json_t *v = json_object_get(body, "pid");
	char why[200];

	if (!v) {
		p->err = AE_MISSING_FIELD;
		snprintf(p->field, sizeof(p->field), "pid");
		snprintf(p->message, sizeof(p->message), "\"pid\" is required for type \"pid\"");
		return -1;
	}
	if (!json_is_integer(v)) {
		p->err = AE_BAD_TYPE;
		snprintf(p->field, sizeof(p->field), "pid");
		snprintf(p->message, sizeof(p->message), "\"pid\" must be an integer");
		return -1;
	}
	if (json_integer_value(v) <= 0 || json_integer_value(v) > 4194304) {
		p->err = AE_BAD_PID;
		snprintf(p->field, sizeof(p->field), "pid");
		snprintf(p->message, sizeof(p->message), "\"pid\" must be between 1 and 4194304");
		return -1;
	}
	j->pid = (int)json_integer_value(v);
	snprintf(j->target, sizeof(j->target), "%d", j->pid);
	if (proc_unmovable(j->pid, criu_path(), why, sizeof(why)) < 0) {
		p->err = AE_BAD_PID;
		snprintf(p->field, sizeof(p->field), "pid");
		snprintf(p->message, sizeof(p->message), "%s", why);
		return -1;
	}
	proc_cmdline(j->pid, j->command, sizeof(j->command));
	return 0;
}

/* The destination must be able to give the tree its PIDs back: when the tree lives
 * in the host's PID namespace, its pids must be free there; a tree in a namespace of
 * its own only needs a fresh namespace. */
static int pid_src_facts(struct mig_src *m, json_t *facts)
{
	json_t *pids = json_array();
	pid_t *tree = NULL;
	size_t n = 0;
	int own_ns = !proc_in_my_pidns(m->job->pid);
	int ret = 0;

	if (!pids)
		return -ENOMEM;
	if (!own_ns) {
		tree = calloc(PROC_TREE_MAX, sizeof(*tree));
		if (!tree) {
			ret = -ENOMEM;
			goto out;
		}
		ret = proc_tree(m->job->pid, tree, PROC_TREE_MAX, &n);
		if (ret < 0) {
			snprintf(m->err, sizeof(m->err), "cannot list the tree of pid %d: %s",
				 m->job->pid, strerror(-ret));
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			json_array_append_new(pids, json_integer(tree[i]));
	}
	json_object_set_new(facts, "own_pidns", json_boolean(own_ns));
	/* For people only: the destination's job shows what it received. */
	json_object_set_new(facts, "command", json_string(m->job->command));
	json_object_set(facts, "pids", pids);
out:
	json_decref(pids);
	free(tree);
	return ret;
}

/* Say a failure of CRIU's in the operator's words when its log tells a known cause. */
static void src_explain(struct mig_src *m, const char *log)
{
	struct criu_diag_ctx ctx = { .images_fd = m->images_fd };

	criu_diag_explain(m->work_fd, log, &ctx, &m->err_code, m->err, sizeof(m->err));
}

static void dst_explain(struct mig_dst *d, const char *log)
{
	struct criu_diag_ctx ctx = { .images_fd = d->images_fd, .same_netns = d->same_netns };

	criu_diag_explain(d->work_fd, log, &ctx, &d->err_code, d->err, sizeof(d->err));
}

/* CRIU's post-dump callback, handed on to the engine's hold step. */
static int pid_hold(void *arg)
{
	struct mig_src *m = arg;

	return m->hold(m);
}

/* The hook's connections: only CRIU's action script, that is a root process that
 * descends from the dump's CRIU (CRIU runs it through sh), may speak, and it must
 * say its line within HOOK_READ_MS. Any other caller (the socket's name is
 * visible in /proc/net/unix to every local user) is refused before a byte is read.
 * Returns the line's length, or -1 for a caller to refuse. */
#define HOOK_READ_MS   2000
#define HOOK_DEPTH     4

static int hook_read(int c, pid_t criu, char *line, size_t len, char *who, size_t wholen)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	struct pollfd p = { .fd = c, .events = POLLIN };
	ssize_t k;
	int n;

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
		snprintf(who, wholen, "a caller whose credentials cannot be read");
		return -1;
	}
	if (cr.uid != 0 || !proc_descends(cr.pid, criu, HOOK_DEPTH)) {
		snprintf(who, wholen, "pid %d (uid %u), which is not CRIU's action script",
			 (int)cr.pid, (unsigned)cr.uid);
		return -1;
	}
	do {
		n = poll(&p, 1, HOOK_READ_MS);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		snprintf(who, wholen, "CRIU's action script, which said nothing in %d ms",
			 HOOK_READ_MS);
		return -1;
	}
	k = read(c, line, len - 1);
	line[k > 0 ? k : 0] = '\0';
	return k > 0 ? (int)k : -1;
}

/* Wait up to ms for CRIU (pid, its pidfd pfd, -1 when there is none) or the hook
 * socket lfd; sets *criu_done when CRIU has ended. Returns poll's answer for lfd. */
static int hook_wait(int lfd, int pfd, pid_t pid, int ms, bool *criu_done)
{
	struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = pfd, .events = POLLIN } };
	int n;

	/* Without a pidfd (an old kernel, or no fd left), look at CRIU four times a
	 * second instead of waiting for it without end. */
	if (pfd < 0 && (ms < 0 || ms > 250))
		ms = 250;
	n = poll(p, pfd >= 0 ? 2 : 1, ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	if (pfd >= 0 && p[1].revents)
		*criu_done = true;
	if (pfd < 0 && !proc_alive(pid))
		*criu_done = true;   /* a zombie is not alive: child_wait reaps it */
	return p[0].revents ? 1 : 0;
}

/* Post-copy at the source: CRIU's dump serves the lazy pages on the memory
 * connection after the post-dump action, which it asks of hauld (the hook). */
static int pid_src_checkpoint_lazy(struct mig_src *m)
{
	struct criu_lazy_dump_req req = {
		.pid = m->job->pid,
		.images_dir = m->images_dir,
		.work_dir = m->work_dir,
		.ps_fd = m->mem_fd,
		.opts = m->copts,
		.hook_path = m->self_exe,
	};
	char name[64];
	int lfd, pfd = -1, ret, st;
	bool released = false;
	int64_t total = 0;
	pid_t pid = -1;

	/* Not the job's id, which the API shows: a name no one can guess ahead. */
	{
		unsigned char raw[16];
		char hex[33];

		if (random_bytes(raw, sizeof(raw)) < 0) {
			snprintf(m->err, sizeof(m->err), "no random bytes for CRIU's hook");
			return -EIO;
		}
		hex_encode(raw, sizeof(raw), hex);
		snprintf(name, sizeof(name), "hauld-hook-%s", hex);
	}
	req.hook_name = name;
	lfd = criu_hook_listen(name);
	if (lfd < 0) {
		snprintf(m->err, sizeof(m->err), "cannot listen for CRIU's hook: %s", strerror(-lfd));
		return lfd;
	}
	ret = criu_lazy_dump_spawn(&req, &pid, m->err, sizeof(m->err));
	if (ret < 0)
		goto out;
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		bool criu_done = false;
		int n = hook_wait(lfd, pfd, pid, released ? 250 : -1, &criu_done);

		if (n < 0 || criu_done)
			break;       /* CRIU has ended */
		if (n > 0) {
			char line[64] = "", who[128], verdict;
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c < 0)
				continue;
			if (hook_read(c, pid, line, sizeof(line), who, sizeof(who)) < 0) {
				log_warnx("job %.8s: refused a connection to CRIU's hook from %s",
					  m->job->id, who);
				close(c);
				continue;
			}
			verdict = strncmp(line, "post-dump", 9) == 0 && m->hold(m) != 0 ? '1' : '0';
			write_full(c, &verdict, 1);
			close(c);
			if (verdict == '0' && strncmp(line, "post-dump", 9) == 0) {
				released = true;
				criu_lazy_pages_count(m->images_fd, &total);
				if (m->released(m) < 0) {
					/* Without its CRIU the frozen tree is detached and runs
					 * on at the source: the rollback of post-copy. */
					kill(pid, SIGKILL);
					ret = -ECANCELED;
					break;
				}
				/* The copy runs at the destination now: end the frozen
				 * source copy at once. CRIU serves the pages from its page
				 * pipes, which hold their own references to them; left
				 * alive, the tree would be resumed by CRIU if the lazy
				 * phase failed, beside the copy that runs. */
				proc_tree_signal(m->job->pid, SIGKILL);
			}
		}
		if (released)
			m->progress(m, -1, total);
	}
	st = child_wait(pid, -1);
	if (ret < 0) {
		snprintf(m->err, sizeof(m->err), "the destination could not restore; the source "
			 "runs on");
	} else if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(m->err, sizeof(m->err), "criu dump --lazy-pages failed (exit status %d; "
			 "dump.log is in the job's logs)", st);
		src_explain(m, "dump.log");
		ret = -ECANCELED;
	}
out:
	if (pfd >= 0)
		close(pfd);
	close(lfd);
	return ret;
}

static int pid_src_checkpoint(struct mig_src *m)
{
	struct criu_dump_req req = {
		.pid = m->job->pid,
		.track_mem = m->track_mem,
		.parent = m->parent,
		.images_fd = m->images_fd,
		.work_fd = m->work_fd,
		.ps_fd = m->mem_fd,
		.opts = m->copts,
		.post_dump = pid_hold,
		.arg = m,
		.watch = m->criu_watch,
	};

	int ret;

	if (m->lazy)
		return pid_src_checkpoint_lazy(m);
	ret = criu_rpc_dump(&req, m->err, sizeof(m->err));
	if (ret < 0)
		src_explain(m, "dump.log");
	return ret;
}

static int pid_src_predump(struct mig_src *m)
{
	struct criu_dump_req req = {
		.pid = m->job->pid,
		.pre_dump = true,
		.track_mem = true,
		.parent = m->parent,
		.images_fd = m->iter_fd,
		.work_fd = m->work_fd,
		.ps_fd = m->mem_fd,
		.opts = m->copts,
	};
	int ret = criu_rpc_dump(&req, m->err, sizeof(m->err));

	if (ret < 0)
		src_explain(m, "pre-dump.log");
	return ret;
}

static int pid_dst_check(struct mig_dst *d, const json_t *facts)
{
	const json_t *pids = json_object_get(facts, "pids");
	const char *cmd = json_string_value(json_object_get(facts, "command"));
	size_t i;
	json_t *v;

	/* Shown as the source said it, if it is the text a source sends. */
	if (cmd && strlen(cmd) < sizeof(d->job->command)) {
		for (i = 0; cmd[i] && cmd[i] >= 0x20 && cmd[i] <= 0x7e; i++)
			;
		if (!cmd[i])
			snprintf(d->job->command, sizeof(d->job->command), "%s", cmd);
	}
	if (json_is_true(json_object_get(facts, "own_pidns")) || d->new_pidns)
		return 0;
	if (!json_is_array(pids) || json_array_size(pids) > PROC_TREE_MAX) {
		snprintf(d->err, sizeof(d->err), "malformed pid list from the source");
		return -EPROTO;
	}
	json_array_foreach(pids, i, v) {
		json_int_t pid = json_integer_value(v);

		if (!json_is_integer(v) || pid <= 0) {
			snprintf(d->err, sizeof(d->err), "malformed pid list from the source");
			return -EPROTO;
		}
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
			snprintf(d->err, sizeof(d->err),
				 "pid %lld of the tree is in use at the destination: run the "
				 "program in its own PID namespace (unshare -p -f setsid PROGRAM), "
				 "or set options.new_pidns", (long long)pid);
			d->err_code = "pids_in_use";
			return -EEXIST;
		}
	}
	return 0;
}

static int pid_dst_receive(struct mig_dst *d, const char *dir)
{
	return criu_page_server_spawn(dir, d->work_dir, d->mem_fd, &d->page_server,
				      d->err, sizeof(d->err));
}

static int pid_dst_received(struct mig_dst *d, int timeout_ms)
{
	int st;

	if (d->page_server <= 0)
		return 0;
	st = child_wait(d->page_server, timeout_ms);
	d->page_server = -1;
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(d->err, sizeof(d->err), "criu page-server failed (status %d; "
			 "page-server.log is in the job's logs)", st);
		dst_explain(d, "page-server.log");
		return -EIO;
	}
	return 0;
}

static void pid_rooted(pid_t root, const char *stage, void *arg)
{
	struct mig_dst *d = arg;

	d->rooted(d, root, stage);
}

static int pid_dst_restore(struct mig_dst *d)
{
	struct criu_restore_req req = {
		.images_fd = d->images_fd,
		.work_fd = d->work_fd,
		.leave_stopped = true,
		.lazy_pages = d->lazy,
		.opts = d->copts,
		.on_root = d->rooted ? pid_rooted : NULL,
		.arg = d,
		.watch = d->criu_watch,
	};
	pid_t pid = -1;
	int ret;

	ret = mig_dst_ports_free(d);
	if (ret < 0)
		return ret;
	/* Post-copy restores only once the source has released the tree and serves its
	 * pages, so there is nothing to hold stopped. */
	req.leave_stopped = !d->lazy;
	/* The images are read once and removed after the job: let CRIU punch out each
	 * page it has read, so that the page cache they fill is given back while the
	 * restore allocates the process's memory, instead of both being held at once. */
	req.consume_pages = !d->lazy && !d->keep_images;
	if (d->fill) {
		int64_t eager = 0;

		/* The copy's memory comes after the restore, from a lazy-pages daemon
		 * reading these images: they stay whole until it is done. Its command
		 * line and environment are read from outside (ps): those pages first. */
		if (criu_pagemap_args_eager(d->images_fd, &eager) < 0)
			log_warnx("cannot restore the arguments' pages first: /proc/PID/cmdline "
				  "may read empty while the memory fills in");
		ret = criu_lazy_pages_spawn(d->images_dir, d->work_dir, -1, &d->lazy_pages,
					    d->err, sizeof(d->err));
		if (ret < 0)
			return ret;
		req.lazy_pages = true;
		req.consume_pages = false;
	}
	if (d->new_pidns) {
		struct criu_restore_ns_req nreq = {
			.images_dir = d->images_dir,
			.work_dir = d->work_dir,
			.leave_stopped = req.leave_stopped,
			.consume_pages = req.consume_pages,
			.opts = d->copts,
		};

		ret = criu_restore_new_pidns(&nreq, &pid, &d->ns_init, d->err, sizeof(d->err));
		d->restored_is_child = false;
	} else {
		ret = criu_rpc_restore(&req, &pid, d->err, sizeof(d->err));
		d->restored_is_child = true;
	}

	if (ret == 0)
		d->restored = pid;
	else
		dst_explain(d, "restore.log");
	return ret;
}

static int pid_dst_resume(struct mig_dst *d)
{
	int ret = proc_tree_signal(d->restored, SIGCONT);

	if (ret < 0)
		snprintf(d->err, sizeof(d->err), "cannot resume pid %d: %s", d->restored,
			 strerror(-ret));
	return ret;
}

static int pid_dst_lazy_start(struct mig_dst *d)
{
	return criu_lazy_pages_spawn(d->images_dir, d->work_dir, d->mem_fd, &d->lazy_pages,
				     d->err, sizeof(d->err));
}

/* What a process has read so far (/proc/PID/io's rchar), -1 when unknown. */
static long long proc_rchar(pid_t pid)
{
	char path[40], line[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Until the lazy-pages daemon of a fill exits; one that reads nothing from the
 * images for FILL_STALL_MS while its copy runs has hung (or was stopped), and the
 * copy with it, at its next missing page: it is killed. */
static int fill_wait(struct mig_dst *d, int timeout_ms)
{
	int64_t start = time_mono_ms(), moved = start;
	long long last = -1;
	siginfo_t si;

	for (;;) {
		long long now_read;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)d->lazy_pages, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
		    errno != EINTR)
			break;
		if (si.si_pid == d->lazy_pages)
			break;
		now_read = proc_rchar(d->lazy_pages);
		if (now_read != last) {
			last = now_read;
			moved = time_mono_ms();
		}
		if (time_mono_ms() - moved >= FILL_STALL_MS ||
		    time_mono_ms() - start >= timeout_ms) {
			kill(d->lazy_pages, SIGKILL);
			child_wait(d->lazy_pages, 5000);
			snprintf(d->err, sizeof(d->err), "criu lazy-pages read nothing from the "
				 "images for %d s and was killed (lazy-pages.log is in the job's logs)",
				 FILL_STALL_MS / 1000);
			d->lazy_pages = -1;
			return -ETIMEDOUT;
		}
		usleep(50 * 1000);
	}
	return 1;
}

static int pid_dst_lazy_wait(struct mig_dst *d, int timeout_ms)
{
	int st;

	if (d->lazy_pages <= 0)
		return 0;
	if (d->fill && (st = fill_wait(d, timeout_ms)) < 0)
		return st;
	st = child_wait(d->lazy_pages, timeout_ms);
	d->lazy_pages = -1;
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(d->err, sizeof(d->err), "criu lazy-pages failed (status %d; "
			 "lazy-pages.log is in the job's logs)", st);
		dst_explain(d, "lazy-pages.log");
		return -EIO;
	}
	return 0;
}

static int pid_dst_discard(struct mig_dst *d)
{
	if (d->lazy_pages > 0) {
		kill(d->lazy_pages, SIGKILL);
		child_wait(d->lazy_pages, 5000);
		d->lazy_pages = -1;
	}
	if (d->page_server > 0) {
		kill(d->page_server, SIGKILL);
		child_wait(d->page_server, 5000);
		d->page_server = -1;
	}
	if (d->restored > 0) {
		/* Killing the root of a PID namespace ends every task in it; a tree in the
		 * host namespace is killed task by task. */
		proc_tree_signal(d->restored, SIGKILL);
		kill(d->restored, SIGKILL);
	}
	if (d->ns_init > 0)
		kill(d->ns_init, SIGKILL);
	return 0;
}

/* The tree may move now (it may have changed since the POST), and its root is the
 * process it was: its start time tells a reused pid apart. */
static int pid_src_begin(struct mig_src *m)
{
	char why[200];

	if (proc_unmovable(m->job->pid, criu_path(), why, sizeof(why)) < 0) {
		snprintf(m->err, sizeof(m->err), "%s", why);
		m->err_code = proc_alive(m->job->pid) ? "unmovable" : "process_gone";
		return -EPERM;
	}
	if (proc_start_time(m->job->pid, &m->pid_start) < 0) {
		snprintf(m->err, sizeof(m->err), "pid %d: no such process", m->job->pid);
		m->err_code = "process_gone";
		return -ESRCH;
	}
	m->job->pid_start = m->pid_start;
	return 0;
}

static bool pid_src_alive(struct mig_src *m)
{
	return m->pid_start ? proc_same(m->job->pid, m->pid_start) : proc_alive(m->job->pid);
}

const struct mig_ops mig_pid_ops = {
	.type = "pid",
	.target_field = "pid",
	.page_stream = true,
	.lazy = true,
	.validate = pid_validate,
	.src_begin = pid_src_begin,
	.src_alive = pid_src_alive,
	.src_facts = pid_src_facts,
	.src_predump = pid_src_predump,
	.src_checkpoint = pid_src_checkpoint,
	.dst_check = pid_dst_check,
	.dst_receive = pid_dst_receive,
	.dst_received = pid_dst_received,
	.dst_restore = pid_dst_restore,
	.dst_resume = pid_dst_resume,
	.dst_lazy_start = pid_dst_lazy_start,
	.dst_lazy_wait = pid_dst_lazy_wait,
	.dst_discard = pid_dst_discard,
};
