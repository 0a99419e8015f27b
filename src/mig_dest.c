/* mig_dest.c: the destination side: serve a peer's control and memory connections,
 * restore, and resolve what a restart left behind. The destination never lets a
 * restored copy run before the source has released its own (commit). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "precopy.h"
#include "log.h"
#include "proc.h"
#include "util.h"

static struct dst_job *dst_find_locked(struct engine *e, const char *id)
{
	for (struct dst_job *d = e->incoming; d; d = d->next)
		if (strcmp(d->job.id, id) == 0)
			return d;
	return NULL;
}

/* Take a restored job that no connection serves (it waits for a verdict) out of the
 * list; whoever takes it owns it. NULL when there is none. */
static struct dst_job *dst_take(struct engine *e, const char *id)
{
	struct dst_job **p, *dj = NULL;

	pthread_mutex_lock(&e->lock);
	for (p = &e->incoming; *p; p = &(*p)->next) {
		if (strcmp((*p)->job.id, id) == 0 && (*p)->restored && !(*p)->finished &&
		    (*p)->ctl_fd < 0) {
			dj = *p;
			*p = dj->next;
			break;
		}
	}
	pthread_mutex_unlock(&e->lock);
	return dj;
}

static void dst_unlink(struct engine *e, struct dst_job *dj)
{
	pthread_mutex_lock(&e->lock);
	for (struct dst_job **p = &e->incoming; *p; p = &(*p)->next) {
		if (*p == dj) {
			*p = dj->next;
			break;
		}
	}
	pthread_mutex_unlock(&e->lock);
}

static void dst_free(struct dst_job *dj)
{
	if (!dj)
		return;
	if (dj->d.images_fd >= 0)
		close(dj->d.images_fd);
	if (dj->d.work_fd >= 0)
		close(dj->d.work_fd);
	relay_finish(dj->relay, 0, NULL, 0);
	if (dj->d.mem_fd >= 0)
		close(dj->d.mem_fd);
	peer_conn_release(&dj->mem);
	json_decref(dj->d.facts);
	pthread_cond_destroy(&dj->cond);
	job_release(&dj->job);
	free(dj);
}

static struct dst_job *dst_new(void)
{
	struct dst_job *dj = calloc(1, sizeof(*dj));

	if (!dj)
		return NULL;
	job_init(&dj->job);
	dj->job.role = JOB_DESTINATION;
	dj->d.job = &dj->job;
	dj->d.images_fd = dj->d.work_fd = dj->d.mem_fd = -1;
	dj->d.page_server = dj->d.restored = dj->d.lazy_pages = dj->d.ns_init = -1;
	dj->ctl_fd = -1;
	criu_watch_init(&dj->criu);
	peer_conn_init(&dj->mem, -1, 0);
	pthread_cond_init(&dj->cond, NULL);
	return dj;
}

/* The restored roots are our children (CRIU's rst_sibling): one thread reaps them
 * all as they end (a thread a process, for the process's whole life, was a
 * thread too many once hundreds had arrived). The list grows as needed. */
static pthread_mutex_t reap_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t *reap_pids;
static size_t reap_n, reap_cap;
static bool reap_running;

static void *reaper_main(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&reap_mu);
		for (size_t i = 0; i < reap_n;) {
			int st = 0;
			pid_t pid = reap_pids[i];
			pid_t ret = waitpid(pid, &st, WNOHANG);

			if (ret == 0 || (ret < 0 && errno == EINTR)) {
				i++;
				continue;
			}
			reap_pids[i] = reap_pids[--reap_n];
			child_untrack(pid);
			if (ret < 0)
				log_warnx("restored process %d ended: %s", pid, strerror(errno));
			else
				log_info("restored process %d ended (%s %d)", pid,
					 WIFEXITED(st) ? "exit status" : "signal",
					 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		}
		pthread_mutex_unlock(&reap_mu);
		usleep(200 * 1000);
	}
	return NULL;
}

static void reap_later(pid_t pid)
{
	pthread_t t;

	child_track(pid);
	pthread_mutex_lock(&reap_mu);
	if (reap_n == reap_cap) {
		size_t cap = reap_cap ? reap_cap * 2 : 64;
		pid_t *tmp = reallocarray(reap_pids, cap, sizeof(*tmp));

		if (!tmp) {
			pthread_mutex_unlock(&reap_mu);
			log_warnx("no memory to reap pid %d later", pid);
			return;
		}
		reap_pids = tmp;
		reap_cap = cap;
	}
	reap_pids[reap_n++] = pid;
	if (!reap_running && pthread_create(&t, NULL, reaper_main, NULL) == 0) {
		pthread_detach(t);
		reap_running = true;
	}
	pthread_mutex_unlock(&reap_mu);
}

static int parse_opts(const json_t *o, struct criu_opts *co, bool *new_pidns)
{
	const char *k;
	json_t *v;

	if (o && !json_is_object(o))
		return -EPROTO;
	json_object_foreach((json_t *)o, k, v) {
		if (!json_is_boolean(v))
			continue;
		if (strcmp(k, "tcp_established") == 0)
			co->tcp_established = json_is_true(v);
		else if (strcmp(k, "shell_job") == 0)
			co->shell_job = json_is_true(v);
		else if (strcmp(k, "file_locks") == 0)
			co->file_locks = json_is_true(v);
		else if (strcmp(k, "ext_unix_sk") == 0)
			co->ext_unix_sk = json_is_true(v);
		else if (strcmp(k, "new_pidns") == 0)
			*new_pidns = json_is_true(v);
	}
	return 0;
}

#define CPUINFO_MAX_FILES 4
#define CPUINFO_MAX_BYTES (1 << 20)

/* `criu cpuinfo check` of a source's cpuinfo image, remembering the images it
 * accepted: the same source asks again with the same bytes. */
static int cpuinfo_check(struct engine *e, const char *dir, char *err, size_t errlen)
{
	char path[1200], *img = NULL;
	size_t len = 0;
	int ret, i;

	snprintf(path, sizeof(path), "%s/cpuinfo.img", dir);
	if (file_read_all(path, 1 << 20, &img, &len) < 0)
		return criu_cpuinfo_check(dir, err, errlen);
	pthread_mutex_lock(&e->cpuinfo_lock);
	for (i = 0; i < CPUINFO_CACHE; i++)
		if (e->cpuinfo_ok[i] && e->cpuinfo_ok_len[i] == len &&
		    memcmp(e->cpuinfo_ok[i], img, len) == 0)
			break;
	pthread_mutex_unlock(&e->cpuinfo_lock);
	if (i < CPUINFO_CACHE) {
		free(img);
		return 0;
	}
	ret = criu_cpuinfo_check(dir, err, errlen);
	if (ret == 0) {
		pthread_mutex_lock(&e->cpuinfo_lock);
		/* Oldest out: shift down, newest at the end. */
		free(e->cpuinfo_ok[0]);
		memmove(e->cpuinfo_ok, e->cpuinfo_ok + 1,
			(CPUINFO_CACHE - 1) * sizeof(e->cpuinfo_ok[0]));
		memmove(e->cpuinfo_ok_len, e->cpuinfo_ok_len + 1,
			(CPUINFO_CACHE - 1) * sizeof(e->cpuinfo_ok_len[0]));
		e->cpuinfo_ok[CPUINFO_CACHE - 1] = img;
		e->cpuinfo_ok_len[CPUINFO_CACHE - 1] = len;
		img = NULL;
		pthread_mutex_unlock(&e->cpuinfo_lock);
	}
	free(img);
	return ret;
}

/* CRIU images are readable by the same major version at least as new. */
static int versions_compatible(int src, int dst)
{
	return src / 10000 == dst / 10000 && dst >= src;
}

/* prepare's "compress": missing (a source without compression) or "none", or a
 * codec this build decodes; anything else is refused. The job records the
 * choice; the memory connection compresses when it is the codec. */
static int compress_agree(json_t *v, struct job *j)
{
	const char *c = v ? json_string_value(v) : "none";

	if (c && strcmp(c, "none") == 0)
		snprintf(j->stats.compression, sizeof(j->stats.compression), "none");
	else if (zframe_codec_known(c))
		snprintf(j->stats.compression, sizeof(j->stats.compression), "%s", ZFRAME_CODEC);
	else
		return -1;
	return 0;
}

/* Restoring lazily from the images here (options.restore_pages): the restore leaves
 * each page a lazy-pages daemon can give for later, and the copy runs as soon as its
 * other state is back; the daemon reads the pages from the images this host already
 * holds in full (no network) and fills the memory while the copy runs, a page at
 * once where the copy touches one first. The images stay whole until the fill has
 * ended. Should the daemon fail, the copy, which may have read zeroes where a page
 * was missing, is killed and restored again from the same images, every page before
 * it runs (refill()): the process goes back to the state it was moved in. "auto"
 * restores lazily from FILL_AUTO_MIN of memory on, where the restore's filling of
 * fresh memory is the larger part of the downtime. */
#define FILL_AUTO_MIN  (64LL << 20)

/* Why this job cannot restore lazily here; NULL when it can. */
static const char *fill_impossible(struct engine *e, struct dst_job *dj, char *buf, size_t len)
{
	if (dj->d.lazy)
		return "mode lazy already restores on demand, from the source";
	if (!dj->ops->lazy)
		return "a container's engine restores all of its memory before it runs";
	if (dj->d.new_pidns)
		return "new_pidns restores through CRIU's command line, which hauld does not "
		       "give lazy pages";
	if (strcmp(dj->job.strategy, "pre-copy") == 0)
		return "the pages are spread over the pre-copy's iterations";
	if (criu_lazy_ready(e->cfg.criu, buf, len) < 0)
		return buf;
	return NULL;
}

static bool fill_forced_unavailable(struct engine *e, struct dst_job *dj, char *err,
				    size_t errlen)
{
	char opt[8], why[200];
	const char *no;

	if (!job_option_str(&dj->job, "restore_pages", opt, sizeof(opt)) ||
	    strcmp(opt, "lazy") != 0)
		return false;
	no = fill_impossible(e, dj, why, sizeof(why));
	if (no)
		snprintf(err, errlen, "this destination cannot: %s; use \"auto\" or \"eager\"",
			 no);
	return no != NULL;
}

/* Decide how this restore puts the memory back; the reason goes to the job's events
 * and to the source in the answer (reason). */
static void fill_choose(struct engine *e, struct dst_job *dj, char *reason, size_t len)
{
	char opt[8] = "auto", why[200];
	const char *no;
	int64_t pages = 0;

	dj->d.fill = false;
	if (dj->d.lazy)
		return;
	job_option_str(&dj->job, "restore_pages", opt, sizeof(opt));
	no = fill_impossible(e, dj, why, sizeof(why));
	if (!no && criu_lazy_pages_count(dj->d.images_fd, &pages) < 0)
		no = "the images' page maps could not be read";
	if (strcmp(opt, "eager") == 0)
		snprintf(reason, len, "options.restore_pages is \"eager\"");
	else if (no)
		snprintf(reason, len, "every page before it runs: %s", no);
	else if (strcmp(opt, "lazy") != 0 && pages * 4096 < FILL_AUTO_MIN)
		snprintf(reason, len, "every page before it runs: %lld MiB can be lazy, below "
			 "the %lld MiB from which auto restores lazily", (long long)(pages >> 8),
			 FILL_AUTO_MIN >> 20);
	else
		dj->d.fill = true;
	if (dj->d.fill) {
		snprintf(reason, len, "it runs as soon as its other state is back, and %lld MiB "
			 "of its memory fill in from the images here while it runs",
			 (long long)(pages >> 8));
		dj->job.stats.lazy_pages = dj->job.stats.lazy_pages_left = pages;
	}
	snprintf(dj->job.stats.restore_pages, sizeof(dj->job.stats.restore_pages), "%s",
		 dj->d.fill ? "lazy" : "eager");
}

/* "prepare": check what the source says against this host, create the job. */
static struct dst_job *prepare(struct engine *e, struct peer_conn *c, json_t *msg,
			       const char *remote, json_t **reply)
{
	const struct criu_info *ci = e->cfg.criu;
	const char *id = json_string_value(json_object_get(msg, "job"));
	const char *type = json_string_value(json_object_get(msg, "type"));
	const char *mode = json_string_value(json_object_get(msg, "mode"));
	json_t *facts = json_object_get(msg, "facts");
	json_t *opts = json_object_get(msg, "options");
	int src_ver = (int)json_integer_value(json_object_get(msg, "criu_version"));
	json_t *compress = json_object_get(msg, "compress");
	struct dst_job *dj = NULL;
	struct job existing;
	char cpu_dir[1100];
	int dfd = -1, ret;

	if (!id || !uuid_valid(id) || !type || !mode || !json_is_object(facts)) {
		*reply = reply_error("bad_request", "prepare: malformed message");
		return NULL;
	}
	/* What the job record shows comes from the peer: only known values go in. */
	if (!mig_ops_find(type) || (strcmp(mode, "live") != 0 && strcmp(mode, "lazy") != 0)) {
		*reply = reply_error("bad_request", "prepare: unknown type or mode");
		return NULL;
	}
	if (store_job_get(e->store, id, &existing) == 0) {
		job_release(&existing);
		*reply = reply_error("duplicate", "job %s is already known here", id);
		return NULL;
	}
	dj = dst_new();
	if (!dj) {
		*reply = reply_error("internal", "out of memory");
		return NULL;
	}
	dj->ops = mig_ops_find(type);
	dj->d.lazy = strcmp(mode, "lazy") == 0;
	snprintf(dj->job.id, sizeof(dj->job.id), "%s", id);
	snprintf(dj->job.type, sizeof(dj->job.type), "%s", type);
	snprintf(dj->job.mode, sizeof(dj->job.mode), "%s", mode);
	/* Where the source's daemon listens: its host as we see it, and the port it
	 * says, so that a stopped copy can ask it for a verdict later. */
	{
		json_int_t port = json_integer_value(json_object_get(msg, "source_port"));
		const char *colon = strrchr(remote, ':');
		int hostlen = colon ? (int)(colon - remote) : (int)strlen(remote);

		if (port > 0 && port < 65536)
			snprintf(dj->job.to, sizeof(dj->job.to), "%.*s:%d", hostlen, remote,
				 (int)port);
		else
			snprintf(dj->job.to, sizeof(dj->job.to), "%s", remote);
	}
	{
		const char *strat = json_string_value(json_object_get(msg, "strategy"));

		if (strat && (strcmp(strat, "stop-and-copy") == 0 || strcmp(strat, "pre-copy") == 0 ||
			      strcmp(strat, "post-copy") == 0))
			snprintf(dj->job.strategy, sizeof(dj->job.strategy), "%s", strat);
	}
	dj->job.pid = (int)json_integer_value(json_object_get(msg, "pid"));
	dj->job.state = JOB_RUNNING;
	snprintf(dj->job.phase, sizeof(dj->job.phase), "%s", PH_PREFLIGHT);
	dj->job.created_at = dj->job.started_at = time_now_ms();
	if (opts)
		dj->job.options = json_dumps(opts, JSON_COMPACT);
	dj->d.keep_images = job_option(&dj->job, "keep_images");
	snprintf(dj->d.data_dir, sizeof(dj->d.data_dir), "%s", e->cfg.data_dir);
	dj->d.facts = json_incref(facts);
	{
		json_t *host = json_object_get(msg, "host");
		const char *boot = json_string_value(json_object_get(host, "boot_id"));
		const char *net = json_string_value(json_object_get(host, "netns"));
		char my_boot[64], my_net[64];

		proc_host_ids(my_boot, sizeof(my_boot), my_net, sizeof(my_net));
		dj->d.same_netns = boot && net && my_boot[0] && my_net[0] &&
				   strcmp(boot, my_boot) == 0 && strcmp(net, my_net) == 0;
	}
	if (store_job_insert(e->store, &dj->job) < 0) {
		*reply = reply_error("internal", "cannot store the job");
		dst_free(dj);
		return NULL;
	}
	ev_kind(e, &dj->job, "state", NULL, "info", "running: incoming migration from %s", remote);

	ret = job_dirs(e, id, dj->d.images_dir, dj->d.work_dir, sizeof(dj->d.images_dir));
	snprintf(cpu_dir, sizeof(cpu_dir), "%s/cpuinfo", dj->d.work_dir);
	if (ret == 0)
		ret = mkdir_p(cpu_dir, 0700);
	if (ret == 0) {
		dj->d.images_fd = open(dj->d.images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		dj->d.work_fd = open(dj->d.work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		dfd = open(cpu_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dj->d.images_fd < 0 || dj->d.work_fd < 0 || dfd < 0)
			ret = -errno;
	}
	/* One small image (a few KiB): a peer cannot make us write more before any
	 * check. */
	if (ret == 0) {
		uint64_t b0 = c->bytes_received, r0 = c->raw_received;

		ret = peer_recv_dir_max(c, dfd, CPUINFO_MAX_FILES, CPUINFO_MAX_BYTES, NULL, NULL);
		dj->ctl_bytes = c->bytes_received - b0;
		dj->ctl_raw = c->raw_received - r0;
	}
	if (dfd >= 0)
		close(dfd);
	if (ret < 0)
		*reply = reply_error("preflight_failed", "receiving the cpuinfo image: %s",
				     strerror(-ret));
	else if (!dj->ops)
		*reply = reply_error("preflight_failed", "unknown migration type %s", type);
	else if (parse_opts(opts, &dj->d.copts, &dj->d.new_pidns) < 0)
		*reply = reply_error("preflight_failed", "malformed options");
	else if (dj->d.new_pidns && dj->d.lazy)
		*reply = reply_error("preflight_failed", "new_pidns cannot be combined with "
				     "mode lazy");
	else if (!ci->check_ok)
		*reply = reply_error("preflight_failed", "CRIU cannot run at the destination: %s",
				     ci->check_error);
	else if (!versions_compatible(src_ver, ci->version))
		*reply = reply_error("preflight_failed", "CRIU versions are incompatible: source "
				     "%d, destination %d (need the same major version, destination "
				     "not older)", src_ver, ci->version);
	else if (cpuinfo_check(e, cpu_dir, dj->d.err, sizeof(dj->d.err)) < 0)
		*reply = reply_error("preflight_failed", "CPU not compatible: %s", dj->d.err);
	else if (strcmp(mode, "lazy") == 0 && criu_lazy_ready(ci, dj->d.err, sizeof(dj->d.err)) < 0)
		*reply = reply_error("preflight_failed", "lazy mode: %s", dj->d.err);
	else if (compress_agree(compress, &dj->job) < 0)
		*reply = reply_error("preflight_failed", "unknown compression \"%.40s\": this "
				     "destination knows \"" ZFRAME_CODEC "\" and \"none\" (upgrade "
				     "it, or migrate with options.compress \"off\")",
				     json_is_string(compress) ? json_string_value(compress) :
				     "(not a string)");
	else if (fill_forced_unavailable(e, dj, dj->d.err, sizeof(dj->d.err)))
		*reply = reply_error("preflight_failed", "options.restore_pages \"lazy\": %s",
				     dj->d.err);
	else if (dj->ops->dst_check(&dj->d, facts) < 0)
		*reply = reply_error(dj->d.err_code ? dj->d.err_code : "preflight_failed", "%s",
				     dj->d.err);
	else
		*reply = json_pack("{s:b, s:i, s:b, s:s?}", "ok", 1, "criu_version", ci->version,
				   "want_image", dj->d.want_image, "compress",
				   strcmp(dj->job.stats.compression, "none") ? ZFRAME_CODEC : NULL);
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		/* The destination's job keeps the reason's own code, as the source's does. */
		job_finish(e, &dj->job, JOB_FAILED,
			   json_string_value(json_object_get(*reply, "code")) ?: "preflight_failed",
			   "source", "%s", json_string_value(json_object_get(*reply, "error")));
		job_dirs_remove(e, &dj->job);
		dst_free(dj);
		return NULL;
	}
	pthread_mutex_lock(&e->lock);
	dj->next = e->incoming;
	e->incoming = dj;
	pthread_mutex_unlock(&e->lock);
	job_phase(e, &dj->job, PH_RECEIVING);
	return dj;
}

/* After a successful restore that began at t0: reap the tree when it is ours, and
 * record its pid and CRIU's restore time (our own measure when CRIU has none). */
/* CRIU named the root of the copy it restores: on the disk before CRIU goes on, so
 * that a restart of ours in the middle of the restore finds a copy that CRIU may
 * still finish (it is our child, and outlives us). */
struct rooted_ctx {
	struct engine *e;
	struct dst_job *dj;
};

static void dest_rooted(struct mig_dst *d, pid_t root, const char *stage)
{
	struct rooted_ctx *rc = d->engine_ctx;
	struct job *j = &rc->dj->job;

	if (j->result_pid == root) {
		/* The restore is complete; CRIU waits for our answer to let it go. */
		if (strcmp(stage, "post-restore") == 0)
			fault_point(rc->e, "pause:dest_rooted");
		return;
	}
	j->result_pid = root;
	if (proc_start_time(root, &j->result_start) < 0)
		j->result_start = 0;
	if (store_job_update_durable(rc->e->store, j) < 0)
		log_warnx("job %.8s: cannot record the pid %d CRIU restores", j->id, root);
}

/* Kill a copy CRIU made, every task of its tree (the root of a PID namespace takes
 * the namespace with it). */
static void kill_copy(pid_t root)
{
	proc_tree_signal(root, SIGKILL);
	kill(root, SIGKILL);
}

/* Run the type's restore with dest_rooted watching; on failure nothing of the
 * copy is left (CRIU killed what it had made), and the record says so. */
static int dst_restore_watched(struct engine *e, struct dst_job *dj)
{
	struct rooted_ctx rc = { .e = e, .dj = dj };
	int ret;

	dj->d.rooted = dest_rooted;
	dj->d.engine_ctx = &rc;
	dj->d.criu_watch = &dj->criu;
	pthread_mutex_lock(&e->lock);
	dj->restoring = true;
	pthread_mutex_unlock(&e->lock);
	ret = dj->ops->dst_restore(&dj->d);
	pthread_mutex_lock(&e->lock);
	dj->restoring = false;
	if (ret < 0 && dj->criu_killed)
		snprintf(dj->d.err, sizeof(dj->d.err), "the source went away while CRIU "
			 "restored, and CRIU did not finish within %d s of it: it was killed",
			 CRIU_HANG_GRACE_MS / 1000);
	pthread_mutex_unlock(&e->lock);
	dj->d.rooted = NULL;
	dj->d.engine_ctx = NULL;
	dj->d.criu_watch = NULL;
	if (ret < 0 && dj->job.result_pid > 0 &&
	    proc_same(dj->job.result_pid, dj->job.result_start)) {
		/* CRIU went (killed, or crashed) after it had made the copy: its tasks,
		 * let go, would run beside the source's. */
		kill_copy(dj->job.result_pid);
		reap_later(dj->job.result_pid);
		ev(e, &dj->job, "warn", "removed pid %d, the copy CRIU had made before it failed",
		   dj->job.result_pid);
	}
	if (ret < 0) {
		dj->job.result_pid = 0;
		dj->job.result_start = 0;
	}
	return ret;
}

static void restored(struct dst_job *dj, int64_t t0)
{
	struct criu_stats st;
	char path[600];

	if (dj->d.restored_is_child)
		reap_later(dj->d.restored);
	dj->restored = true;
	dj->job.result_pid = dj->d.restored;
	/* With its start time, a restart can tell our copy from a later user of its pid. */
	if (proc_start_time(dj->d.restored, &dj->job.result_start) < 0)
		dj->job.result_start = 0;
	snprintf(path, sizeof(path), "%s/stats-restore", dj->d.work_dir);
	if (criu_stats_read(path, &st) == 0 && st.has_restore)
		dj->job.stats.restore_ms = st.restore_ms;
	if (dj->job.stats.restore_ms < 0)
		dj->job.stats.restore_ms = time_mono_ms() - t0;
}

/* 1 when name is "images" or "pre-N" (N < PRECOPY_ITERATIONS_CAP). */
static int iter_dir_ok(const char *name)
{
	long n;

	if (!name)
		return 0;
	if (strcmp(name, "images") == 0)
		return 1;
	return strncmp(name, "pre-", 4) == 0 &&
	       parse_long(name + 4, 0, PRECOPY_ITERATIONS_CAP - 1, &n) == 0;
}

/* CRIU's stream at this end over the memory connection (dj->d.mem_fd its local
 * socket, for the type's CRIU to take over; closed here once handed on). */
static int stream_open(struct dst_job *dj)
{
	int ret;

	if (dj->relay)
		return -EBUSY;
	ret = relay_open(&dj->mem, true, &dj->d.mem_fd, &dj->relay);
	if (ret < 0)
		snprintf(dj->d.err, sizeof(dj->d.err), "cannot relay the page stream: %s",
			 strerror(-ret));
	return ret;
}

static void stream_handed(struct dst_job *dj)
{
	if (dj->d.mem_fd >= 0)
		close(dj->d.mem_fd);
	dj->d.mem_fd = -1;
}

/* The stream of the last iteration has ended: its CRIU is done (dst_received) and
 * both ends have said so; the memory connection is in step again. */
static int stream_end(struct engine *e, struct dst_job *dj)
{
	int ret = 0;

	if (dj->ops->dst_received && dj->ops->dst_received(&dj->d, LONG_WAIT_MS) < 0)
		ret = -EIO;
	if (dj->relay) {
		char why[200];
		int r = relay_finish(dj->relay, e->cfg.peer_timeout_ms, why, sizeof(why));

		dj->relay = NULL;
		if (r < 0) {
			snprintf(dj->d.err, sizeof(dj->d.err), "the page stream failed: %s", why);
			ret = r;
		}
	}
	return ret;
}

/* "pages": start a page server on the memory connection for one iteration, into
 * <job>/<dir>, whose "parent" link names the previous iteration. CRIU's page server
 * only reads until the dump says it is over, so the answer that follows on the
 * memory connection cannot mix with its stream. */
static json_t *pages(struct engine *e, struct dst_job *dj, const json_t *msg)
{
	const char *dir = json_string_value(json_object_get(msg, "dir"));
	const char *parent = json_string_value(json_object_get(msg, "parent"));
	char path[1100], link[80];
	struct timespec ts;
	int ret;

	if (!iter_dir_ok(dir) || (parent && (!iter_dir_ok(parent) ||
					    strcmp(parent, "images") == 0)))
		return reply_error("bad_request", "pages: malformed directory names");
	if (!dj->ops->page_stream)
		return reply_error("bad_request", "pages: type %s has no page stream", dj->job.type);
	pthread_mutex_lock(&e->lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += e->cfg.peer_timeout_ms / 1000;
	/* A wakeup is only a hint: wait again until attached or the time is up. */
	ret = 0;
	while (!dj->mem_attached && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&dj->cond, &e->lock, &ts);
	ret = dj->mem_attached ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&e->lock);
	if (ret < 0)
		return reply_error("transfer_failed", "no memory connection arrived");
	/* The previous iteration's page server must have finished its directory. */
	if (stream_end(e, dj) < 0)
		return reply_error("transfer_failed", "%s", dj->d.err);
	snprintf(path, sizeof(path), "%s/../%s", dj->d.images_dir, dir);
	ret = mkdir_p(path, 0700);
	if (ret == 0 && parent) {
		char lpath[1200];

		snprintf(link, sizeof(link), "../%s", parent);
		snprintf(lpath, sizeof(lpath), "%s/parent", path);
		if (symlink(link, lpath) < 0 && errno != EEXIST)
			ret = -errno;
	}
	if (ret < 0)
		return reply_error("transfer_failed", "cannot prepare %s: %s", dir, strerror(-ret));
	if (stream_open(dj) < 0)
		return reply_error("transfer_failed", "%s", dj->d.err);
	ret = dj->ops->dst_receive(&dj->d, path);
	stream_handed(dj);
	if (ret < 0)
		return reply_error("transfer_failed", "%s", dj->d.err);
	return json_pack("{s:b}", "ok", 1);
}

/* "image": the image the source's engine saved, on this control connection, for
 * the destination's engine to load (options.transfer_image). */
static json_t *image(struct engine *e, struct dst_job *dj, struct peer_conn *c)
{
	char dir[1100];
	int dfd, ret;

	if (!dj->d.want_image || !dj->ops->dst_image)
		return reply_error("bad_request", "image: no image was asked for");
	snprintf(dir, sizeof(dir), "%s/image", dj->d.work_dir);
	rm_rf(dir);
	ret = mkdir_p(dir, 0700);
	dfd = ret == 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	ret = dfd < 0 ? -errno : peer_recv_dir(c, dfd, NULL, NULL);
	if (dfd >= 0)
		close(dfd);
	if (ret < 0) {
		rm_rf(dir);
		return reply_error("transfer_failed", "receiving the image: %s", strerror(-ret));
	}
	ev(e, &dj->job, "info", "loading the image the source sent");
	ret = dj->ops->dst_image(&dj->d, dir);
	rm_rf(dir);
	if (ret < 0)
		return reply_error(dj->d.err_code ? dj->d.err_code : "preflight_failed", "%s",
				   dj->d.err);
	dj->d.want_image = false;
	store_job_update(e->store, &dj->job);
	return json_pack("{s:b}", "ok", 1);
}

/* The job's byte counts: what came of CRIU's page stream and image files (framing
 * included), and what that was before compression. */
static void count_bytes(struct dst_job *dj)
{
	dj->job.stats.bytes = (int64_t)(dj->mem.bytes_received + dj->ctl_bytes);
	dj->job.stats.bytes_raw = (int64_t)(dj->mem.raw_received + dj->ctl_raw);
}

/* "restore": the page stream has ended; take the image files, restore stopped. */
static json_t *restore(struct engine *e, struct dst_job *dj)
{
	int64_t t0 = time_mono_ms(), bytes = 0;
	int files = 0, ret;
	char reason[300];

	if (!dj->mem_attached)
		return reply_error("transfer_failed", "no memory connection attached");
	if (dj->d.want_image)
		return reply_error("bad_request", "restore: the image has not arrived");
	if (stream_end(e, dj) < 0)
		return reply_error("transfer_failed", "%s", dj->d.err);
	fault_point(e, "dest_exit:receive_images");
	ret = peer_recv_dir(&dj->mem, dj->d.images_fd, &files, &bytes);
	count_bytes(dj);
	if (ret < 0)
		return reply_error("transfer_failed", "receiving the images: %s", strerror(-ret));
	ev(e, &dj->job, "info", "received %d image files (%lld bytes)", files, (long long)bytes);
	if (dj->d.lazy) {
		/* The pages come on demand now, over a stream of their own. */
		if (stream_open(dj) < 0)
			return reply_error("transfer_failed", "%s", dj->d.err);
		ret = dj->ops->dst_lazy_start(&dj->d);
		stream_handed(dj);
		if (ret < 0)
			return reply_error("transfer_failed", "%s", dj->d.err);
		return json_pack("{s:b}", "ok", 1);
	}
	fill_choose(e, dj, reason, sizeof(reason));
	ev(e, &dj->job, "info", "restore_pages %s: %s", dj->job.stats.restore_pages, reason);
	job_phase(e, &dj->job, PH_RESTORING);
	fault_point(e, "dest_exit:restore");
	fault_point(e, "pause:dest_restore");
	ret = dst_restore_watched(e, dj);
	if (ret < 0)
		return reply_error(dj->d.err_code ? dj->d.err_code : "restore_failed", "%s",
				   dj->d.err);
	restored(dj, t0);
	snprintf(dj->job.phase, sizeof(dj->job.phase), "%s", PH_RESTORED);
	/* After this answer the source may kill its copy: ours, and where it is, must
	 * be on the disk first, or a restart here could not find it. */
	if (fault_fail(e, "dest_record_restored") ||
	    store_job_update_durable(e->store, &dj->job) < 0) {
		dj->ops->dst_discard(&dj->d);
		dj->job.result_pid = 0;
		dj->restored = false;
		return reply_error("restore_failed", "the restored copy could not be recorded "
				   "here; it was discarded");
	}
	ev_kind(e, &dj->job, "phase", NULL, "info", "phase %s", PH_RESTORED);
	ev(e, &dj->job, "info", "restored as pid %d, stopped until the source commits",
	   dj->d.restored);
	fault_point(e, "pause:dest_restored");
	return json_pack("{s:b, s:i, s:I, s:s?, s:s, s:s}", "ok", 1, "pid", dj->d.restored,
			 "restore_ms", (json_int_t)dj->job.stats.restore_ms, "container",
			 dj->job.result_container[0] ? dj->job.result_container : NULL,
			 "restore_pages", dj->job.stats.restore_pages, "restore_reason", reason);
}

/* "restore_lazy": the source serves the pages now; restore, running, and stay until
 * every page has arrived. The answer goes out on c before that wait; NULL is
 * returned. The caller unlinks dj and frees it. */
static json_t *restore_lazy(struct engine *e, struct dst_job *dj, struct peer_conn *c)
{
	int64_t t0 = time_mono_ms();
	int ret;
	json_t *reply;

	job_phase(e, &dj->job, PH_RESTORING);
	if (dst_restore_watched(e, dj) < 0) {
		const char *code = dj->d.err_code ? dj->d.err_code : "restore_failed";

		reply = reply_error(code, "%s", dj->d.err);
		dj->ops->dst_discard(&dj->d);
		job_finish(e, &dj->job, JOB_FAILED, code, "source", "%s", dj->d.err);
		job_dirs_remove(e, &dj->job);
		return reply;
	}
	restored(dj, t0);
	reply = json_pack("{s:b, s:i, s:I}", "ok", 1, "pid", dj->d.restored,
			  "restore_ms", (json_int_t)dj->job.stats.restore_ms);
	peer_send_json(c, reply);
	json_decref(reply);
	job_phase(e, &dj->job, PH_LAZY);
	ret = dj->ops->dst_lazy_wait(&dj->d, LONG_WAIT_MS);
	if (dj->relay) {
		char why[200];
		int r = relay_finish(dj->relay, e->cfg.peer_timeout_ms, why, sizeof(why));

		dj->relay = NULL;
		count_bytes(dj);
		if (r < 0 && ret == 0) {
			snprintf(dj->d.err, sizeof(dj->d.err), "the page stream failed: %s", why);
			ret = r;
		}
	}
	if (ret < 0) {
		/* Without its lazy-pages daemon the copy would read zeroes where its
		 * missing pages were: it must not run on. */
		dj->ops->dst_discard(&dj->d);
		reply = reply_error("lazy_failed", "not all pages arrived (%s); the copy "
				    "restored there (pid %d) was killed", dj->d.err,
				    dj->d.restored);
		dj->job.result_pid = 0;
		job_finish(e, &dj->job, JOB_FAILED, "lazy_failed", "unknown",
			   "not all pages arrived (%s); the copy restored here (pid %d) was "
			   "killed: the process is lost", dj->d.err, dj->d.restored);
	} else {
		reply = json_pack("{s:b, s:i}", "ok", 1, "pid", dj->d.restored);
		job_finish(e, &dj->job, JOB_SUCCEEDED, NULL, NULL, "runs here as pid %d, every "
			   "page arrived", dj->d.restored);
	}
	/* The second answer to restore_lazy: how the lazy phase ended. The source
	 * cannot tell from its CRIU, whose page server takes the lazy-pages daemon's
	 * end of connection for a finished transfer, crash or not. */
	peer_send_json(c, reply);
	json_decref(reply);
	dj->finished = true;
	job_dirs_remove(e, &dj->job);
	return NULL;
}

/* commit or abort: the end of an incoming job. The caller has unlinked dj, and
 * removes its files (after answering: the process may be running already). */
static json_t *finish(struct engine *e, struct dst_job *dj, const char *op)
{
	json_t *reply;

	if (dj->lazy_running) {
		if (strcmp(op, "commit") == 0) {
			job_finish(e, &dj->job, JOB_SUCCEEDED, NULL, NULL, "runs here as pid %d "
				   "(the source's job says every page arrived)", dj->d.restored);
			reply = json_pack("{s:b, s:i}", "ok", 1, "pid", dj->d.restored);
		} else {
			/* Its lazy-pages daemon went with our restart: where a page is missing
			 * it would read zeroes. */
			dj->ops->dst_discard(&dj->d);
			dj->job.result_pid = 0;
			job_finish(e, &dj->job, JOB_FAILED, "lazy_failed", "unknown",
				   "hauld restarted here during the lazy phase and the source does "
				   "not say that every page arrived: the copy (pid %d) was killed, "
				   "the process is lost", dj->d.restored);
			reply = json_pack("{s:b}", "ok", 1);
		}
		dj->finished = true;
		return reply;
	}
	if (strcmp(op, "commit") == 0) {
		if (!dj->restored) {
			/* The job is over either way: nothing may be left running for it. */
			dj->ops->dst_discard(&dj->d);
			job_finish(e, &dj->job, JOB_FAILED, "peer_protocol", "source", "the source "
				   "asked to commit before anything was restored here; nothing of it "
				   "runs here");
			dj->finished = true;
			return reply_error("not_restored", "nothing restored to commit");
		}
		if (dj->ops->dst_resume(&dj->d) < 0) {
			reply = reply_error("resume_failed", "%s", dj->d.err);
			job_finish(e, &dj->job, JOB_FAILED, "resume_failed", "destination", "%s",
				   dj->d.err);
		} else if (dj->d.fill) {
			/* It runs; its job ends when its memory is all there (fill_main). */
			reply = json_pack("{s:b, s:i}", "ok", 1, "pid", dj->d.restored);
			dj->filling = true;
			dj->fill_t0 = time_mono_ms();
			job_phase(e, &dj->job, PH_FILLING);
			return reply;
		} else {
			reply = json_pack("{s:b, s:i}", "ok", 1, "pid", dj->d.restored);
			job_finish(e, &dj->job, JOB_SUCCEEDED, NULL, NULL, "runs here as pid %d",
				   dj->d.restored);
		}
	} else {
		dj->ops->dst_discard(&dj->d);
		dj->job.result_pid = 0;
		reply = json_pack("{s:b}", "ok", 1);
		job_finish(e, &dj->job, JOB_FAILED, "aborted", "source",
			   "the source rolled back; the process runs at the source");
	}
	dj->finished = true;
	return reply;
}

/* One request to the source's daemon of a job (its peer address, source), on a
 * control connection of its own; the answer in *reply. 0 or -errno. */
static int source_call(struct engine *e, const char *source, json_t *msg, json_t **reply)
{
	struct peer_conn c;
	int fd, ret;

	*reply = NULL;
	fd = peer_connect(source, e->cfg.peer_timeout_ms);
	if (fd < 0) {
		json_decref(msg);
		return fd;
	}
	peer_conn_init(&c, fd, e->cfg.peer_timeout_ms);
	ret = peer_auth_client(&c, e->cfg.secret, e->cfg.secret_len, "control");
	if (ret == 0)
		ret = peer_send_json(&c, msg);
	if (ret == 0)
		ret = peer_recv_json(&c, reply);
	json_decref(msg);
	peer_conn_release(&c);
	return ret;
}

/* A copy restored again here runs under a pid of its own: tell the source, whose
 * job shows where the process runs (best effort; our job has it either way). */
static void tell_source_pid(struct engine *e, struct job *j, int old)
{
	json_t *reply = NULL;
	int ret = source_call(e, j->to, json_pack("{s:s, s:s, s:i}", "op", "moved", "job", j->id,
						  "pid", j->result_pid), &reply);

	if (ret == 0 && !json_is_true(json_object_get(reply, "ok")))
		ret = -EPROTO;
	if (ret < 0)
		ev(e, j, "warn", "could not tell the source (%s) that pid %d is now pid %d: %s; "
		   "its job still names pid %d", j->to, old, j->result_pid,
		   json_string_value(json_object_get(reply, "error")) ?: strerror(-ret), old);
	json_decref(reply);
}

/* "moved": a destination restored the process of one of our succeeded jobs again
 * (its lazy fill failed) and says its new pid. Only the job's destination host may
 * say so. */
static json_t *moved(struct engine *e, const json_t *msg, const char *remote)
{
	const char *id = json_string_value(json_object_get(msg, "job"));
	json_int_t pid = json_integer_value(json_object_get(msg, "pid"));
	const char *rc = strrchr(remote, ':'), *tc;
	char host[JOB_TO_LEN];
	bool same = false;
	struct job j;
	json_t *reply;

	if (!id || !uuid_valid(id) || pid <= 0 || pid > 4194304)
		return reply_error("bad_request", "moved: malformed job id or pid");
	if (store_job_get(e->store, id, &j) < 0)
		return reply_error("unknown_job", "job %s is not known here", id);
	tc = strrchr(j.to, ':');
	snprintf(host, sizeof(host), "%.*s", tc ? (int)(tc - j.to) : (int)strlen(j.to), j.to);
	if (rc) {
		char from[JOB_TO_LEN];
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL, *a;

		snprintf(from, sizeof(from), "%.*s", (int)(rc - remote), remote);
		same = strcmp(from, host) == 0;
		if (!same && getaddrinfo(host, NULL, &hints, &ai) == 0) {
			for (a = ai; a && !same; a = a->ai_next) {
				char num[64];

				if (getnameinfo(a->ai_addr, a->ai_addrlen, num, sizeof(num), NULL, 0,
						NI_NUMERICHOST) == 0)
					same = strcmp(num, from) == 0;
			}
			freeaddrinfo(ai);
		}
	}
	if (j.role != JOB_SOURCE || j.state != JOB_SUCCEEDED || !same) {
		reply = reply_error("conflict", "job %s did not move to %s", id, remote);
	} else {
		ev(e, &j, "warn", "the destination restored the process again from its images "
		   "(its lazy fill failed): it runs there as pid %d now, no longer %d",
		   (int)pid, j.result_pid);
		j.result_pid = (int)pid;
		reply = store_job_update(e->store, &j) < 0 ?
			reply_error("internal", "cannot record the pid") :
			json_pack("{s:b}", "ok", 1);
	}
	job_release(&j);
	return reply;
}

/* The copy filled lazily failed to get its memory (the lazy-pages daemon failed):
 * it may have read zeroes where a page was missing, so it must not run on. Kill it
 * and restore it again from the same images, every page before it runs: the process
 * goes back to the state it was moved in. 0 when it runs again. */
static int refill(struct engine *e, struct dst_job *dj, const char *why, bool run)
{
	pid_t old = dj->d.restored;
	int64_t t0;
	int ret;

	ev(e, &dj->job, "warn", "%s: pid %d, which may have read zeroes where its memory "
	   "was not filled yet, is killed and restored again from the images here, every "
	   "page before it runs; it goes back to the state it was moved in", why, old);
	if (!proc_same(old, dj->job.result_start))
		dj->d.restored = -1;          /* gone already: its pid may be another's */
	dj->ops->dst_discard(&dj->d);
	/* Its pids must be free again, for a tree in this host's PID namespace. */
	for (int i = 0; i < 500 && old > 0 && proc_same(old, dj->job.result_start); i++)
		usleep(10 * 1000);
	dj->d.restored = -1;
	dj->d.fill = false;
	dj->job.result_pid = 0;
	dj->job.result_start = 0;
	snprintf(dj->job.stats.restore_pages, sizeof(dj->job.stats.restore_pages), "eager");
	store_job_update(e->store, &dj->job);
	t0 = time_mono_ms();
	ret = dst_restore_watched(e, dj);
	if (ret == 0) {
		restored(dj, t0);
		if (store_job_update_durable(e->store, &dj->job) < 0)
			log_warnx("job %.8s: cannot record the copy restored again", dj->job.id);
		if (run)
			ret = dj->ops->dst_resume(&dj->d);
	}
	return ret;
}

/* A lazily restored copy runs: wait until its memory is all there, and end its job.
 * True when its images are to stay (for a restore by hand). */
static bool fill_run(struct engine *e, struct dst_job *dj)
{
	pid_t old = dj->d.restored;
	bool alive;
	int ret;

	if (fault_fail(e, "fill") && dj->d.lazy_pages > 0)
		kill(dj->d.lazy_pages, SIGKILL);    /* the daemon dying in the middle */
	fault_point(e, "pause:filling");
	ret = dj->ops->dst_lazy_wait(&dj->d, LONG_WAIT_MS);
	/* A copy that ended meanwhile (killed, or done) while the daemon did its work
	 * is not brought back: the daemon lets a process go that exits in the middle
	 * of its fill, and exits 0. */
	alive = proc_same(old, dj->job.result_start);
	if (ret == 0)
		dj->job.stats.lazy_pages_left = 0;
	if (ret == 0 && alive) {
		job_finish(e, &dj->job, JOB_SUCCEEDED, NULL, NULL, "runs here as pid %d; its "
			   "memory filled in from the images here within %lld ms of it running",
			   old, (long long)(time_mono_ms() - dj->fill_t0));
	} else if (ret == 0) {
		job_finish(e, &dj->job, JOB_SUCCEEDED, NULL, NULL, "ran here as pid %d, which "
			   "has ended since (%lld ms after it began to run)", old,
			   (long long)(time_mono_ms() - dj->fill_t0));
	} else if (refill(e, dj, dj->d.err, true) == 0) {
		/* Gone or not: a copy that reads zeroes where its pages are missing
		 * mostly crashes on them (seen here: SIGSEGV within 0.2 s). */
		tell_source_pid(e, &dj->job, old);
		job_finish(e, &dj->job, JOB_SUCCEEDED, NULL, NULL, "runs here as pid %d, restored "
			   "a second time from the images here after its memory could not be "
			   "filled in lazily; what it did in between is undone",
			   dj->d.restored);
	} else {
		dj->ops->dst_discard(&dj->d);
		dj->job.result_pid = 0;
		job_finish(e, &dj->job, JOB_FAILED, "fill_failed", "unknown", "its memory could "
			   "not be filled in lazily, and restoring it again from the images failed "
			   "(%s): the images are kept in %s for a restore by hand", dj->d.err,
			   dj->d.images_dir);
		return true;
	}
	return false;
}

/* The end of a fill: off the list of copies filling, its files, and dj. */
static void fill_end(struct engine *e, struct dst_job *dj, bool keep)
{
	pthread_mutex_lock(&e->lock);
	for (struct dst_job **p = &e->filling; *p; p = &(*p)->next)
		if (*p == dj) {
			*p = dj->next;
			break;
		}
	pthread_mutex_unlock(&e->lock);
	dj->finished = true;
	if (!keep)
		job_dirs_remove(e, &dj->job);
	dst_free(dj);
}

static void *fill_main(void *arg)
{
	struct dst_job *dj = arg;
	struct engine *e = dj->fill_engine;

	fill_end(e, dj, fill_run(e, dj));
	pthread_mutex_lock(&e->lock);
	e->peer_conns--;
	e->fills--;
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

bool dest_filling(struct engine *e, int pid, char *job_id)
{
	bool found = false;

	pthread_mutex_lock(&e->lock);
	for (struct dst_job *dj = e->filling; dj && !found; dj = dj->next)
		if (dj->d.restored == pid) {
			found = true;
			memcpy(job_id, dj->job.id, JOB_ID_LEN);
		}
	pthread_mutex_unlock(&e->lock);
	return found;
}

/* The end of finish(): a copy still filling goes on in a thread of its own, counted
 * with the peer connections (shutdown waits for it) and listed in e->filling (a
 * migration of it away from here waits for its end); else the job's files go. */
static void finish_done(struct engine *e, struct dst_job *dj)
{
	pthread_t t;

	if (dj->filling) {
		dj->fill_engine = e;
		pthread_mutex_lock(&e->lock);
		dj->next = e->filling;
		e->filling = dj;
		e->peer_conns++;
		e->fills++;
		pthread_mutex_unlock(&e->lock);
		if (pthread_create(&t, NULL, fill_main, dj) == 0) {
			pthread_detach(t);
			return;
		}
		pthread_mutex_lock(&e->lock);
		e->peer_conns--;
		e->fills--;
		pthread_mutex_unlock(&e->lock);
		fill_end(e, dj, fill_run(e, dj));
		return;
	}
	job_dirs_remove(e, &dj->job);
	dst_free(dj);
}

/* A control message naming a job this host restored earlier (the source reconnects
 * to commit or abort after losing us, or after a restart of either side). */
static json_t *resolve(struct engine *e, const char *op, const char *id)
{
	struct dst_job *dj;
	struct job j;
	json_t *reply;

	if (!id || !uuid_valid(id))
		return reply_error("bad_request", "%s: malformed job id", op);
	dj = dst_take(e, id);
	if (dj) {
		reply = finish(e, dj, op);
		finish_done(e, dj);
		return reply;
	}
	if (store_job_get(e->store, id, &j) < 0)
		return reply_error("unknown_job", "job %s is not known here", id);
	/* Idempotent: a commit that was already applied answers ok again. */
	if (strcmp(op, "commit") == 0 && j.state == JOB_SUCCEEDED)
		reply = json_pack("{s:b, s:i}", "ok", 1, "pid", j.result_pid);
	else if (strcmp(op, "abort") == 0 && j.state != JOB_SUCCEEDED)
		reply = json_pack("{s:b}", "ok", 1);
	else
		reply = reply_error("conflict", "job %s is %s here", id, job_state_name(j.state));
	job_release(&j);
	return reply;
}

/* "verdict", asked by a destination that holds a stopped copy of a job we were the
 * source of: commit when our copy is gone for good, abort when it runs here, wait
 * while a worker of ours still decides. */
static json_t *verdict(struct engine *e, const char *id)
{
	const char *v = "unknown";
	struct job j;

	if (!id || !uuid_valid(id))
		return reply_error("bad_request", "verdict: malformed job id");
	if (store_job_get(e->store, id, &j) < 0)
		return json_pack("{s:b, s:s}", "ok", 1, "verdict", v);
	if (j.role != JOB_SOURCE)
		v = "unknown";
	else if (j.state == JOB_SUCCEEDED || strcmp(j.err_where, "destination") == 0)
		v = "commit";
	else if (job_state_final(j.state))
		v = "abort";
	else
		v = "wait";
	if (j.role == JOB_SOURCE && strcmp(v, "wait") != 0)
		ev(e, &j, "info", "the destination asked for a verdict on its stopped copy: %s", v);
	job_release(&j);
	return json_pack("{s:b, s:s}", "ok", 1, "verdict", v);
}

/* A restored, stopped copy whose source went away: ask the source's daemon, every
 * few seconds, whether to run it or remove it, unless a reconnecting source decides
 * first. */
static void await_verdict(struct engine *e, const char *id, const char *source)
{
	int64_t end = time_mono_ms() + VERDICT_FOR_MS;

	while (time_mono_ms() < end) {
		json_t *reply = NULL;
		const char *v = NULL;
		struct dst_job *dj;

		for (int i = 0; i < VERDICT_EVERY_MS / 100; i++) {
			if (__atomic_load_n(&e->stopping, __ATOMIC_SEQ_CST))
				return;
			usleep(100 * 1000);
		}
		pthread_mutex_lock(&e->lock);
		dj = dst_find_locked(e, id);
		pthread_mutex_unlock(&e->lock);
		if (!dj)
			return;       /* decided by a reconnecting source */
		if (source_call(e, source, json_pack("{s:s, s:s}", "op", "verdict", "job", id),
				&reply) == 0)
			v = json_string_value(json_object_get(reply, "verdict"));
		if (v && (strcmp(v, "commit") == 0 || strcmp(v, "abort") == 0)) {
			dj = dst_take(e, id);
			if (dj) {
				ev(e, &dj->job, "warn", "the source's verdict: %s", v);
				json_decref(finish(e, dj, v));
				finish_done(e, dj);
			}
			json_decref(reply);
			return;
		}
		json_decref(reply);
	}
}

/* "logs": the end of each CRIU log of a job this host took part in, for the other
 * host's GET /migrations/ID/logs. The answer, then the files (at most PEER_LOG_TAIL
 * bytes each) as a file transfer. Returns the send's result. */
static int serve_logs(struct engine *e, struct peer_conn *c, const char *id)
{
	char dir[1200];
	json_t *reply;
	struct job j;
	int dfd, ret;

	if (!id || !uuid_valid(id) || store_job_get(e->store, id, &j) < 0) {
		reply = reply_error("unknown_job", "no migration with that id here");
		ret = peer_send_json(c, reply);
		json_decref(reply);
		return ret;
	}
	job_release(&j);
	if (job_logs_snapshot(e, id, PEER_LOG_TAIL, dir, sizeof(dir)) < 0) {
		reply = reply_error("internal", "cannot read the job's logs");
		ret = peer_send_json(c, reply);
		json_decref(reply);
		return ret;
	}
	reply = json_pack("{s:b}", "ok", 1);
	ret = peer_send_json(c, reply);
	json_decref(reply);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ret == 0)
		ret = dfd < 0 ? -errno : peer_send_dir(c, dfd, NULL, NULL);
	if (dfd >= 0)
		close(dfd);
	rm_rf(dir);
	return ret;
}

static void serve_control(struct engine *e, struct peer_conn *c, const char *remote)
{
	struct dst_job *dj = NULL, *done = NULL;
	json_t *msg = NULL, *reply = NULL;
	int ret;

	for (;;) {
		const char *op;

		/* Between steps the source may be dumping for a long time; a peer that
		 * vanishes is noticed by TCP keepalive, one that exits by EOF. */
		c->timeout_ms = dj ? LONG_WAIT_MS : e->cfg.peer_timeout_ms;
		ret = peer_recv_json(c, &msg);
		if (ret < 0)
			break;
		op = json_string_value(json_object_get(msg, "op"));
		if (!op)
			op = "";
		if (!dj && strcmp(op, "prepare") == 0) {
			dj = prepare(e, c, msg, remote, &reply);
			if (dj)
				dj->ctl_fd = c->fd;
		} else if (dj && strcmp(op, "pages") == 0) {
			reply = pages(e, dj, msg);
		} else if (dj && strcmp(op, "image") == 0) {
			reply = image(e, dj, c);
		} else if (dj && dj->d.lazy && strcmp(op, "restore_lazy") == 0) {
			/* Listed until every page has arrived: /healthz counts it. */
			reply = restore_lazy(e, dj, c);
			dst_unlink(e, dj);
			dst_free(dj);
			dj = NULL;
		} else if (dj && strcmp(op, "restore") == 0) {
			reply = restore(e, dj);
		} else if (dj && (strcmp(op, "commit") == 0 || strcmp(op, "abort") == 0)) {
			dst_unlink(e, dj);
			reply = finish(e, dj, op);
			done = dj;
			dj = NULL;
		} else if (!dj && (strcmp(op, "commit") == 0 || strcmp(op, "abort") == 0)) {
			reply = resolve(e, op, json_string_value(json_object_get(msg, "job")));
		} else if (!dj && strcmp(op, "moved") == 0) {
			reply = moved(e, msg, remote);
		} else if (!dj && strcmp(op, "verdict") == 0) {
			reply = verdict(e, json_string_value(json_object_get(msg, "job")));
		} else if (!dj && strcmp(op, "logs") == 0) {
			if (serve_logs(e, c, json_string_value(json_object_get(msg, "job"))) < 0) {
				json_decref(msg);
				msg = NULL;
				break;
			}
		} else {
			reply = reply_error("bad_request", "unexpected operation \"%.32s\"", op);
		}
		json_decref(msg);
		msg = NULL;
		ret = reply ? peer_send_json(c, reply) : 0;
		if (done) {
			finish_done(e, done);
			done = NULL;
		}
		if (dj && !dj->restored && !json_is_true(json_object_get(reply, "ok"))) {
			/* A failed step ends the job here; the source resumes its copy. */
			dst_unlink(e, dj);
			dj->ops->dst_discard(&dj->d);
			job_finish(e, &dj->job, JOB_FAILED,
				   json_string_value(json_object_get(reply, "code")), "source", "%s",
				   json_string_value(json_object_get(reply, "error")));
			job_dirs_remove(e, &dj->job);
			dst_free(dj);
			dj = NULL;
		}
		json_decref(reply);
		reply = NULL;
		if (ret < 0)
			break;
	}
	if (dj) {
		if (dj->restored) {
			/* The source may already have released its copy: ours stays stopped
			 * until the source reconnects to commit or abort. */
			ev(e, &dj->job, "warn", "lost the source after the restore; pid %d stays "
			   "stopped until the source commits or aborts", dj->d.restored);
			char id[JOB_ID_LEN], source[JOB_TO_LEN];

			memcpy(id, dj->job.id, sizeof(id));
			memcpy(source, dj->job.to, sizeof(source));
			relay_finish(dj->relay, 0, NULL, 0);
			dj->relay = NULL;
			pthread_mutex_lock(&e->lock);
			peer_conn_release(&dj->mem);
			dj->ctl_fd = -1;
			pthread_mutex_unlock(&e->lock);
			peer_conn_release(c);
			await_verdict(e, id, source);
			return;
		} else {
			dst_unlink(e, dj);
			dj->ops->dst_discard(&dj->d);
			job_finish(e, &dj->job, JOB_FAILED, "source_lost", "source",
				   "the source went away before the restore (%s); nothing runs here",
				   strerror(-ret));
			job_dirs_remove(e, &dj->job);
			dst_free(dj);
		}
	}
	peer_conn_release(c);
}

/* The memory connection of a prepared job. It is answered before the job gets it
 * (its page server then owns the stream), and the job is looked up again after
 * that answer: an abort may have ended it meanwhile. */
static void serve_memory(struct engine *e, struct peer_conn *c)
{
	char id[JOB_ID_LEN] = "";
	const char *jid;
	struct dst_job *dj;
	json_t *msg = NULL, *reply;
	bool ok, compress = false;

	if (peer_recv_json(c, &msg) < 0) {
		peer_conn_release(c);
		return;
	}
	jid = json_string_value(json_object_get(msg, "job"));
	if (jid && uuid_valid(jid) &&
	    strcmp(json_string_value(json_object_get(msg, "op")) ?: "", "attach") == 0)
		snprintf(id, sizeof(id), "%s", jid);
	json_decref(msg);
	pthread_mutex_lock(&e->lock);
	dj = id[0] ? dst_find_locked(e, id) : NULL;
	ok = dj && !dj->mem_attached && !dj->mem_reserved && !dj->restored;
	if (ok)
		dj->mem_reserved = true;
	if (ok)
		compress = strcmp(dj->job.stats.compression, ZFRAME_CODEC) == 0;
	pthread_mutex_unlock(&e->lock);
	/* Agreed in prepare: from here on this connection compresses, both ways. What
	 * this side sends is little (the page server's answers, lazy-pages' requests),
	 * so AUTO's back-off suits it. */
	if (ok && compress && peer_compress_enable(c, ZFRAME_AUTO) < 0)
		ok = false;
	reply = ok ? json_pack("{s:b}", "ok", 1)
		   : reply_error("unknown_job", "no prepared migration with that id");
	if (peer_send_json(c, reply) < 0)
		ok = false;
	json_decref(reply);
	if (ok) {
		pthread_mutex_lock(&e->lock);
		dj = dst_find_locked(e, id);
		if (dj && dj->mem_reserved && !dj->mem_attached) {
			peer_conn_move(&dj->mem, c);
			dj->mem.timeout_ms = e->cfg.peer_timeout_ms;
			dj->mem_attached = true;
			pthread_cond_broadcast(&dj->cond);
		}
		pthread_mutex_unlock(&e->lock);
	}
	peer_conn_release(c);
}

void dest_serve(struct engine *e, struct peer_conn *c, const char *channel, const char *remote)
{
	if (strcmp(channel, "control") == 0) {
		serve_control(e, c, remote);
	} else if (strcmp(channel, "memory") == 0) {
		serve_memory(e, c);
	} else {
		log_warnx("peer %s: unknown channel %.16s", remote, channel);
		peer_conn_release(c);
	}
}

struct verdict_arg {
	struct engine *e;
	char id[JOB_ID_LEN], source[JOB_TO_LEN];
};

static void *verdict_main(void *arg)
{
	struct verdict_arg *va = arg;

	await_verdict(va->e, va->id, va->source);
	pthread_mutex_lock(&va->e->lock);
	va->e->peer_conns--;
	pthread_mutex_unlock(&va->e->lock);
	free(va);
	return NULL;
}

/* After a restart, a stopped copy has no connection to wait on: ask from a thread of
 * its own, counted with the peer connections so that shutdown waits for it. */
static void verdict_later(struct engine *e, const struct job *j)
{
	struct verdict_arg *va = calloc(1, sizeof(*va));
	pthread_t t;

	if (!va)
		return;
	va->e = e;
	memcpy(va->id, j->id, sizeof(va->id));
	memcpy(va->source, j->to, sizeof(va->source));
	pthread_mutex_lock(&e->lock);
	e->peer_conns++;
	pthread_mutex_unlock(&e->lock);
	if (pthread_create(&t, NULL, verdict_main, va) != 0) {
		pthread_mutex_lock(&e->lock);
		e->peer_conns--;
		pthread_mutex_unlock(&e->lock);
		free(va);
		return;
	}
	pthread_detach(t);
}

/* After a restart, a copy restored lazily (stopped, or running and filling): its
 * lazy-pages daemon is not ours any more, and nothing tells whether it did or will
 * fill every page. Restore it again from the images, every page first; a stopped one
 * stays stopped for the source's verdict. 0 when that was done (the job is handled). */
static int recover_refill(struct engine *e, struct job *j)
{
	bool running = strcmp(j->phase, PH_FILLING) == 0;
	struct dst_job *dj = dst_new();
	int ret = -ENOMEM;

	if (!dj || job_copy(&dj->job, j) < 0)
		goto fail;
	dj->ops = mig_ops_find(j->type);
	dj->d.restored = j->result_pid;       /* killed on any failure below */
	snprintf(dj->d.data_dir, sizeof(dj->d.data_dir), "%s", e->cfg.data_dir);
	ret = job_dirs(e, j->id, dj->d.images_dir, dj->d.work_dir, sizeof(dj->d.images_dir));
	if (ret < 0 || !dj->ops)
		goto fail;
	dj->d.images_fd = open(dj->d.images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dj->d.work_fd = open(dj->d.work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dj->d.images_fd < 0 || dj->d.work_fd < 0) {
		ret = -errno;
		goto fail;
	}
	if (running && faccessat(dj->d.images_fd, "inventory.img", F_OK, 0) < 0) {
		/* The images go only once the fill has ended: the record of that end is
		 * what was lost (a full disk, say), not the copy's memory. */
		job_dirs_remove(e, &dj->job);
		job_finish(e, j, JOB_SUCCEEDED, NULL, NULL, "runs here as pid %d; its memory had "
			   "filled in from the images here", j->result_pid);
		dst_free(dj);
		return 0;
	}
	{
		json_t *o = j->options ? json_loads(j->options, 0, NULL) : NULL;

		dj->d.keep_images = json_is_true(json_object_get(o, "keep_images"));
		ret = parse_opts(o, &dj->d.copts, &dj->d.new_pidns);
		json_decref(o);
		if (ret < 0)
			goto fail;
	}
	ret = refill(e, dj, running ? "hauld restarted here while the copy's memory filled in"
				    : "hauld restarted here while the copy restored lazily waited "
				      "for the source's commit", running);
	if (ret < 0)
		goto fail;
	if (running) {
		tell_source_pid(e, &dj->job, j->result_pid);
		job_finish(e, &dj->job, JOB_SUCCEEDED, NULL, NULL, "runs here as pid %d, restored "
			   "a second time from the images here after a restart of hauld during "
			   "its lazy fill; what it did in between is undone", dj->d.restored);
		job_dirs_remove(e, &dj->job);
		dst_free(dj);
		return 0;
	}
	dj->restored = true;
	snprintf(dj->job.phase, sizeof(dj->job.phase), "%s", PH_RESTORED);
	store_job_update_durable(e->store, &dj->job);
	pthread_mutex_lock(&e->lock);
	dj->next = e->incoming;
	e->incoming = dj;
	pthread_mutex_unlock(&e->lock);
	ev(e, &dj->job, "warn", "hauld restarted; pid %d, restored again, stays stopped until "
	   "the source commits or aborts", dj->d.restored);
	verdict_later(e, &dj->job);
	return 0;
fail:
	if (dj) {
		/* Without a way to restore it again, a copy whose memory may be
		 * incomplete does not run on. */
		if (dj->ops && dj->d.restored > 0)
			dj->ops->dst_discard(&dj->d);
		snprintf(j->stats.restore_pages, sizeof(j->stats.restore_pages), "%s",
			 dj->job.stats.restore_pages);
		j->result_pid = 0;
		job_finish(e, j, JOB_FAILED, "fill_failed", "unknown", "hauld restarted here "
			   "during a lazy restore, and restoring the process again from the images "
			   "failed (%s): the images are kept in %s/jobs/%s for a restore by hand",
			   dj->d.err[0] ? dj->d.err : strerror(-ret), e->cfg.data_dir, j->id);
		dst_free(dj);
	}
	return ret;
}

void dest_recover(struct engine *e, struct job *j)
{
	struct dst_job *dj;

	/* Our copy, not a process that took its pid since: with a start time recorded,
	 * it must match (jobs stored before it was recorded trust the pid alone). */
	bool ours = j->result_pid > 0 && (j->result_start ? proc_same(j->result_pid, j->result_start)
						      : proc_alive(j->result_pid));

	if (strcmp(j->phase, PH_RESTORED) == 0 && j->result_pid > 0 && !ours)
		ev(e, j, "warn", "pid %d is not the copy restored here any more (it ended, and "
		   "another process may use its number): it is left alone", j->result_pid);
	if (strcmp(j->phase, PH_RESTORING) == 0 && ours) {
		/* CRIU was restoring it when we went: the source, which never heard
		 * that it was restored, runs its own copy again. */
		kill_copy(j->result_pid);
		job_dirs_remove(e, j);
		ev(e, j, "warn", "removed pid %d, the copy CRIU was restoring when hauld "
		   "stopped", j->result_pid);
		j->result_pid = 0;
		if (strcmp(j->mode, "lazy") == 0)
			/* Post-copy restores after the source's copy has ended, and the
			 * pages it lacked came through our lazy-pages daemon. */
			job_finish(e, j, JOB_FAILED, "lazy_failed", "unknown", "the destination "
				   "restarted while CRIU restored the process in lazy mode; the "
				   "copy, which could not get its pages, was removed: the process "
				   "is lost");
		else
			job_finish(e, j, JOB_FAILED, "daemon_restarted", "source", "the "
				   "destination restarted while CRIU restored the process; the copy "
				   "it had made was removed, nothing runs here");
		return;
	}
	if (strcmp(j->stats.restore_pages, "lazy") == 0 && ours &&
	    (strcmp(j->phase, PH_RESTORED) == 0 || strcmp(j->phase, PH_FILLING) == 0)) {
		recover_refill(e, j);
		return;
	}
	if (strcmp(j->phase, PH_FILLING) == 0) {
		/* The copy ran, and is gone: it ended on its own, or was killed. */
		j->result_pid = 0;
		job_finish(e, j, JOB_FAILED, "fill_failed", "unknown", "hauld restarted here "
			   "while the copy's memory filled in, and the copy is gone: it ran here "
			   "and ended; the images are kept in %s/jobs/%s", e->cfg.data_dir, j->id);
		return;
	}
	if (strcmp(j->phase, PH_LAZY) == 0 && !ours) {
		job_dirs_remove(e, j);
		j->result_pid = 0;
		job_finish(e, j, JOB_FAILED, "lazy_failed", "unknown", "hauld restarted here "
			   "during the lazy phase and the copy restored here is gone: the process "
			   "is lost");
		return;
	}
	if ((strcmp(j->phase, PH_RESTORED) == 0 || strcmp(j->phase, PH_LAZY) == 0) && ours) {
		/* A stopped copy waits for the source's verdict; one that ran in the lazy
		 * phase too, which tells whether every page arrived. */
		dj = dst_new();
		if (dj && job_copy(&dj->job, j) == 0) {
			dj->ops = mig_ops_find(j->type);
			snprintf(dj->d.data_dir, sizeof(dj->d.data_dir), "%s", e->cfg.data_dir);
			dj->d.restored = j->result_pid;
			dj->restored = true;
			dj->lazy_running = strcmp(j->phase, PH_LAZY) == 0;
			if (dj->ops) {
				pthread_mutex_lock(&e->lock);
				dj->next = e->incoming;
				e->incoming = dj;
				pthread_mutex_unlock(&e->lock);
				if (dj->lazy_running)
					ev(e, j, "warn", "hauld restarted during the lazy phase; pid %d "
					   "runs on until the source says whether every page arrived",
					   j->result_pid);
				else
					ev(e, j, "warn", "hauld restarted; pid %d stays stopped until "
					   "the source commits or aborts", j->result_pid);
				verdict_later(e, j);
				return;
			}
		}
		dst_free(dj);
	}
	job_dirs_remove(e, j);
	job_finish(e, j, JOB_FAILED, "daemon_restarted", "source",
		   "the destination restarted during phase %s before anything ran here; "
		   "nothing runs here", j->phase);
}

void dest_release_all(struct engine *e)
{
	struct dst_job *dj, *waiting = NULL;

	/* Wake the threads that serve incoming jobs: each ends its job (a restored copy
	 * stays stopped, waiting for the source's verdict after our restart). */
	pthread_mutex_lock(&e->lock);
	for (dj = e->incoming; dj; dj = dj->next)
		if (dj->ctl_fd >= 0)
			shutdown(dj->ctl_fd, SHUT_RDWR);
	pthread_mutex_unlock(&e->lock);
	/* A copy still filling its memory from the images here is waited for longer:
	 * a restart in the middle would restore it again from its images. */
	for (int i = 0; i < FILL_SHUTDOWN_MS / 10; i++) {
		pthread_mutex_lock(&e->lock);
		bool busy = e->peer_conns > 0, filling = e->fills > 0;
		pthread_mutex_unlock(&e->lock);
		if (!busy || (i >= 300 && !filling))
			break;
		if (i == 300)
			log_info("waiting for %d copies to fill their memory", e->fills);
		usleep(10000);
	}
	pthread_mutex_lock(&e->lock);
	for (struct dst_job **p = &e->incoming; *p;) {
		dj = *p;
		if (dj->restored && dj->ctl_fd < 0) {
			*p = dj->next;
			dj->next = waiting;
			waiting = dj;
		} else {
			p = &dj->next;
		}
	}
	pthread_mutex_unlock(&e->lock);
	/* What is left has no thread: jobs waiting for a verdict. Their rows say where
	 * they stand. */
	while (waiting) {
		dj = waiting->next;
		dst_free(waiting);
		waiting = dj;
	}
}
