/* engine.c: the job queue, the worker pool, the peer listener and recovery at start.
 * The migration protocol itself is in mig_source.c and mig_dest.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "util.h"
#include "webhook.h"

__attribute__((format(printf, 6, 0)))
static void ev_add(struct engine *e, const struct job *j, const char *kind, json_t *data,
		   const char *level, const char *fmt, va_list ap)
{
	struct job_event evt = { 0 };

	vsnprintf(evt.message, sizeof(evt.message), fmt, ap);
	snprintf(evt.job_id, sizeof(evt.job_id), "%s", j->id);
	snprintf(evt.level, sizeof(evt.level), "%s", level);
	snprintf(evt.phase, sizeof(evt.phase), "%s", j->phase);
	snprintf(evt.state, sizeof(evt.state), "%s", job_state_name(j->state));
	snprintf(evt.kind, sizeof(evt.kind), "%s", kind);
	evt.data = data ? json_dumps(data, JSON_COMPACT) : NULL;
	json_decref(data);
	store_event_add(e->store, &evt);
	free(evt.data);
	if (strcmp(level, "info") == 0)
		log_info("job %.8s (%s): %s", j->id, job_role_name(j->role), evt.message);
	else
		log_warnx("job %.8s (%s): %s", j->id, job_role_name(j->role), evt.message);
}

void ev(struct engine *e, const struct job *j, const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ev_add(e, j, "log", NULL, level, fmt, ap);
	va_end(ap);
}

void ev_kind(struct engine *e, const struct job *j, const char *kind, json_t *data,
	     const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ev_add(e, j, kind, data, level, fmt, ap);
	va_end(ap);
}

void job_phase(struct engine *e, struct job *j, const char *phase)
{
	snprintf(j->phase, sizeof(j->phase), "%s", phase);
	store_job_update(e->store, j);
	ev_kind(e, j, "phase", NULL, "info", "phase %s", phase);
}

/* Keep the store bounded: the newest cfg.retain_jobs finished jobs stay. Cheap
 * enough to run at every job's end (an index walk of retain_jobs entries). */
static void jobs_prune(struct engine *e)
{
	int n;

	if (e->cfg.retain_jobs <= 0)
		return;
	n = store_prune(e->store, e->cfg.retain_jobs);
	if (n > 0)
		log_info("store: removed %d finished jobs beyond the newest %d", n,
			 e->cfg.retain_jobs);
}

void job_finish(struct engine *e, struct job *j, enum job_state st, const char *code,
		const char *where, const char *fmt, ...)
{
	char msg[JOB_MSG_LEN] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j->state = st;
	j->finished_at = time_now_ms();
	if (j->started_at)
		j->stats.total_ms = j->finished_at - j->started_at;
	if (code) {
		snprintf(j->err_code, sizeof(j->err_code), "%s", code);
		snprintf(j->err_msg, sizeof(j->err_msg), "%s", msg);
		snprintf(j->err_phase, sizeof(j->err_phase), "%s", j->phase);
		snprintf(j->err_where, sizeof(j->err_where), "%s", where ? where : "unknown");
	}
	snprintf(j->phase, sizeof(j->phase), "%s", PH_DONE);
	if (j->callback_url[0])
		snprintf(j->webhook_state, sizeof(j->webhook_state), "pending");
	/* The outcome is on the disk before anyone is told of it. */
	store_job_update_durable(e->store, j);
	metrics_job_finished(j);
	/* The last state event carries the final job: a stream's reader learns the
	 * outcome without another request. */
	ev_kind(e, j, "state", job_to_json(j, NULL, 0), st == JOB_SUCCEEDED ? "info" : "error",
		"%s: %s", job_state_name(st), msg);
	if (j->callback_url[0])
		webhook_queue(e->cfg.webhooks, j->id);
	jobs_prune(e);
}

void fault_point(struct engine *e, const char *point)
{
	const char *f = e->fault;

	if (!f)
		return;
	/* "pause:POINT" holds the job there for FAULT_PAUSE_MS, so that a test can act
	 * (cancel, kill a daemon) in a phase that is otherwise too short to hit. */
	if (strncmp(f, "pause:", 6) == 0 && strncmp(point, "pause:", 6) == 0 &&
	    strcmp(f, point) == 0) {
		const char *ms_env = getenv("HAULD_FAULT_MS");
		long ms = FAULT_PAUSE_MS;

		if (ms_env && parse_long(ms_env, 1, 600000, &ms) < 0)
			ms = FAULT_PAUSE_MS;
		log_warnx("fault injection: pausing %ld ms at %s", ms, point);
		usleep((useconds_t)ms * 1000);
		return;
	}
	if (strcmp(f, point) == 0) {
		log_warnx("fault injection: exiting at %s", point);
		_exit(99);
	}
}

bool fault_fail(struct engine *e, const char *point)
{
	/* "fail:POINT" makes the step at POINT report a failure, for the paths that
	 * no real input reaches on demand (a store write refused, say). */
	if (!e->fault || strncmp(e->fault, "fail:", 5) != 0 || strcmp(e->fault + 5, point) != 0)
		return false;
	log_warnx("fault injection: failing %s", point);
	return true;
}

json_t *reply_error(const char *code, const char *fmt, ...)
{
	char msg[JOB_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "code", code, "error", msg);
}

int job_dirs(struct engine *e, const char *id, char *images, char *work, size_t len)
{
	int ret;

	if (!uuid_valid(id))
		return -EINVAL;
	if ((size_t)snprintf(images, len, "%s/jobs/%s/images", e->cfg.data_dir, id) >= len ||
	    (size_t)snprintf(work, len, "%s/jobs/%s/work", e->cfg.data_dir, id) >= len)
		return -ENAMETOOLONG;
	ret = mkdir_p(images, 0700);
	if (ret == 0)
		ret = mkdir_p(work, 0700);
	return ret;
}

bool job_option(const struct job *j, const char *key)
{
	json_t *o = j->options ? json_loads(j->options, 0, NULL) : NULL;
	bool v = json_is_true(json_object_get(o, key));

	json_decref(o);
	return v;
}

const char *job_option_str(const struct job *j, const char *key, char *buf, size_t len)
{
	json_t *o = j->options ? json_loads(j->options, 0, NULL) : NULL;
	const char *v = json_string_value(json_object_get(o, key));

	if (v && strlen(v) < len)
		snprintf(buf, len, "%s", v);
	else
		v = NULL;
	json_decref(o);
	return v ? buf : NULL;
}

/* Keep at most LOGS_KEEP jobs' CRIU logs: remove the oldest directories. */
static void logs_prune(const char *dir)
{
	struct { char name[JOB_ID_LEN]; time_t mtime; } *ents = NULL, *tmp;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[1100];
		struct stat st;

		if (!uuid_valid(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(ents, cap * sizeof(*ents));
			if (!tmp)
				break;
			ents = tmp;
		}
		snprintf(ents[n].name, sizeof(ents[n].name), "%s", de->d_name);
		ents[n++].mtime = st.st_mtime;
	}
	closedir(d);
	while (n > LOGS_KEEP) {
		size_t oldest = 0;
		char path[1100];

		for (size_t i = 1; i < n; i++)
			if (ents[i].mtime < ents[oldest].mtime)
				oldest = i;
		snprintf(path, sizeof(path), "%s/%s", dir, ents[oldest].name);
		rm_rf(path);
		ents[oldest] = ents[--n];
	}
	free(ents);
}

void job_dirs_remove(struct engine *e, const struct job *j)
{
	char path[1024], from[1200], to[1200];
	bool moved = false;

	if (!uuid_valid(j->id) || job_option(j, "keep_images"))
		return;
	/* The images go; CRIU's logs stay for GET /migrations/ID/logs, since the
	 * job's errors point at them. */
	snprintf(path, sizeof(path), "%s/logs/%s", e->cfg.data_dir, j->id);
	for (size_t i = 0; i < CRIU_LOG_COUNT; i++) {
		snprintf(from, sizeof(from), "%s/jobs/%s/work/%s", e->cfg.data_dir, j->id,
			 criu_log_names[i]);
		snprintf(to, sizeof(to), "%s/%s", path, criu_log_names[i]);
		if (access(from, F_OK) == 0 && mkdir_p(path, 0700) == 0 && rename(from, to) == 0)
			moved = true;
	}
	if (moved) {
		snprintf(to, sizeof(to), "%s/logs", e->cfg.data_dir);
		logs_prune(to);
	}
	snprintf(path, sizeof(path), "%s/jobs/%s", e->cfg.data_dir, j->id);
	rm_rf(path);
}

int job_log_path(struct engine *e, const char *id, const char *name, char *path, size_t len)
{
	/* The work directory first: job_dirs_remove renames from there to logs/, so a
	 * log being moved is found in one of the two. */
	snprintf(path, len, "%s/jobs/%s/work/%s", e->cfg.data_dir, id, name);
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(path, len, "%s/logs/%s/%s", e->cfg.data_dir, id, name);
	return access(path, R_OK) == 0 ? 0 : -ENOENT;
}

/* Copy the last max bytes of from (whole lines) into a new file to. */
static int copy_tail(const char *from, const char *to, size_t max)
{
	char *buf = NULL;
	size_t len = 0, skip = 0;
	int fd, ret;

	ret = file_read_all(from, 64 << 20, &buf, &len);
	if (ret < 0)
		return ret;
	if (len > max) {
		skip = len - max;
		while (skip < len && buf[skip - 1] != '\n')
			skip++;
	}
	fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ret = fd < 0 ? -errno : write_full(fd, buf + skip, len - skip);
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

int job_logs_snapshot(struct engine *e, const char *id, size_t max, char *dir, size_t len)
{
	char from[1200], to[1400];
	int ret;

	if (!uuid_valid(id))
		return -EINVAL;
	snprintf(dir, len, "%s/tmp/logs-%s-%llx", e->cfg.data_dir, id,
		 (unsigned long long)time_mono_ms());
	ret = mkdir_p(dir, 0700);
	for (size_t i = 0; ret == 0 && i < CRIU_LOG_COUNT; i++) {
		if (job_log_path(e, id, criu_log_names[i], from, sizeof(from)) < 0)
			continue;
		snprintf(to, sizeof(to), "%s/%s", dir, criu_log_names[i]);
		ret = copy_tail(from, to, max);
		/* Moved to logs/ between the look and the read. */
		if (ret == -ENOENT && job_log_path(e, id, criu_log_names[i], from,
						   sizeof(from)) == 0)
			ret = copy_tail(from, to, max);
		if (ret == -ENOENT)
			ret = 0;
	}
	if (ret < 0)
		rm_rf(dir);
	return ret;
}

static void *worker_main(void *arg)
{
	struct engine *e = arg;

	for (;;) {
		char id[JOB_ID_LEN];
		struct src_active act = { .abort_fd = -1, .frozen_fds = { -1, -1 } };
		struct job j;

		pthread_mutex_lock(&e->lock);
		while (!e->stopping && e->q_len == 0)
			pthread_cond_wait(&e->cond, &e->lock);
		if (e->stopping) {
			pthread_mutex_unlock(&e->lock);
			return NULL;
		}
		memcpy(id, e->queue[e->q_head], JOB_ID_LEN);
		e->q_head = (e->q_head + 1) % ENGINE_MAX_QUEUE;
		e->q_len--;
		memcpy(act.id, id, JOB_ID_LEN);
		criu_watch_init(&act.criu);
		act.next = e->active;
		e->active = &act;
		pthread_mutex_unlock(&e->lock);

		if (store_job_get(e->store, id, &j) == 0) {
			if (j.state == JOB_QUEUED)
				source_run(e, &j, &act);
			job_release(&j);
		}

		pthread_mutex_lock(&e->lock);
		for (struct src_active **p = &e->active; *p; p = &(*p)->next) {
			if (*p == &act) {
				*p = act.next;
				break;
			}
		}
		pthread_mutex_unlock(&e->lock);
	}
}

static int queue_push(struct engine *e, const char *id)
{
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	if (e->q_len >= ENGINE_MAX_QUEUE) {
		ret = -ENOSPC;
	} else {
		memcpy(e->queue[(e->q_head + e->q_len) % ENGINE_MAX_QUEUE], id, JOB_ID_LEN);
		e->q_len++;
		pthread_cond_signal(&e->cond);
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

int engine_submit(struct engine *e, struct job *j, struct submit_key *key)
{
	static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;
	char hash[SUBMIT_HASH_LEN + 1];
	int ret;

	/* The checks and the insert are one step, so two POSTs for one pid (or with one
	 * Idempotency-Key) cannot both pass them. */
	pthread_mutex_lock(&submit_lock);
	if (key) {
		ret = store_idem_get(e->store, key->key, hash, sizeof(hash), key->prior);
		if (ret == 0) {
			pthread_mutex_unlock(&submit_lock);
			return strcmp(hash, key->hash) == 0 ? -EEXIST : -EKEYREJECTED;
		}
		if (ret != -ENOENT) {
			pthread_mutex_unlock(&submit_lock);
			return ret;
		}
	}
	if (!j->target[0])
		snprintf(j->target, sizeof(j->target), "%d", j->pid);
	if (store_target_busy(e->store, j->type, j->target)) {
		pthread_mutex_unlock(&submit_lock);
		return -EBUSY;
	}
	j->state = JOB_QUEUED;
	snprintf(j->phase, sizeof(j->phase), "%s", PH_QUEUED);
	j->created_at = time_now_ms();
	ret = store_job_insert_keyed(e->store, j, key ? key->key : NULL, key ? key->hash : NULL);
	pthread_mutex_unlock(&submit_lock);
	if (ret < 0)
		return ret;
	ev_kind(e, j, "state", NULL, "info", "queued: migrate pid %d to %s", j->pid, j->to);
	ret = queue_push(e, j->id);
	if (ret < 0)
		job_finish(e, j, JOB_FAILED, "queue_full", "source",
			   "too many queued migrations; the process was not touched");
	return 0;
}

/* Under e->lock. */
static void active_cancel(struct src_active *a)
{
	a->cancel = true;
	if (a->abort_fd >= 0)
		shutdown(a->abort_fd, SHUT_RDWR);
}

int engine_cancel(struct engine *e, const char *id, char *why, size_t whylen)
{
	struct src_active *a;
	struct job j;
	int ret;

	/* Under the engine lock a worker can neither take the job from the queue nor
	 * leave the active list, so the state read here is the state acted on. */
	pthread_mutex_lock(&e->lock);
	ret = store_job_get(e->store, id, &j);
	if (ret < 0)
		goto out;
	if (job_state_final(j.state)) {
		snprintf(why, whylen, "the migration has already ended (%s)", job_state_name(j.state));
		ret = -EALREADY;
		goto release;
	}
	if (j.role != JOB_SOURCE) {
		snprintf(why, whylen, "cancel a migration at its source host");
		ret = -EPERM;
		goto release;
	}
	for (a = e->active; a; a = a->next)
		if (strcmp(a->id, id) == 0)
			break;
	if (a && a->committed) {
		snprintf(why, whylen, "the destination has already restored the process; the "
			 "migration can no longer be undone");
		ret = -EBUSY;
	} else if (a) {
		active_cancel(a);
		ret = 0;
	} else if (j.state == JOB_QUEUED) {
		/* The worker skips jobs that are no longer queued. */
		job_finish(e, &j, JOB_CANCELLED, "cancelled", "source",
			   "cancelled before it started; the process was not touched");
		ret = 0;
	} else {
		snprintf(why, whylen, "the migration is being resolved after a restart");
		ret = -EBUSY;
	}
release:
	job_release(&j);
out:
	pthread_mutex_unlock(&e->lock);
	return ret;
}

/* The frozen-time bound of every running source job: a tree held frozen past its
 * deadline is let go by cutting the connections its worker waits on. */
static void *watchdog_main(void *arg)
{
	struct engine *e = arg;

	while (!__atomic_load_n(&e->stopping, __ATOMIC_SEQ_CST)) {
		int64_t now = time_mono_ms();

		pthread_mutex_lock(&e->lock);
		for (struct src_active *a = e->active; a; a = a->next) {
			/* Even once committed: CRIU is to kill the tree at once then. */
			if (a->frozen_deadline && !a->criu_killed &&
			    now >= a->frozen_deadline + CRIU_HANG_GRACE_MS &&
			    criu_watch_kill(&a->criu)) {
				a->criu_killed = true;
				log_warnx("job %.8s: CRIU still holds the tree %d s past its "
					  "max_frozen_ms: killed it, so that the tree runs on",
					  a->id, CRIU_HANG_GRACE_MS / 1000);
			}
			if (!a->frozen_deadline || a->committed || a->frozen_expired ||
			    now < a->frozen_deadline)
				continue;
			a->frozen_expired = true;
			for (int i = 0; i < 2; i++)
				if (a->frozen_fds[i] >= 0)
					shutdown(a->frozen_fds[i], SHUT_RDWR);
			log_warnx("job %.8s: frozen past its max_frozen_ms, letting it go", a->id);
		}
		/* A restore whose source has gone (it gave up, or its host did) gets
		 * CRIU_HANG_GRACE_MS to end on its own before its CRIU is killed. */
		for (struct dst_job *d = e->incoming; d; d = d->next) {
			struct pollfd p = { .fd = d->ctl_fd, .events = POLLRDHUP };

			if (!d->restoring || d->criu_killed || d->ctl_fd < 0)
				continue;
			if (!d->source_gone_at) {
				if (poll(&p, 1, 0) == 1 &&
				    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
					d->source_gone_at = now;
				continue;
			}
			if (now >= d->source_gone_at + CRIU_HANG_GRACE_MS &&
			    criu_watch_kill(&d->criu)) {
				d->criu_killed = true;
				log_warnx("job %.8s: the source went away %d s ago and CRIU still "
					  "restores: killed it", d->job.id, CRIU_HANG_GRACE_MS / 1000);
			}
		}
		pthread_mutex_unlock(&e->lock);
		usleep(WATCHDOG_TICK_MS * 1000);
	}
	return NULL;
}

/* One thread per peer connection: authenticate, then hand it to the destination
 * side. */
struct peer_arg {
	struct engine *e;
	int fd;
	int slot;              /* its place in e->unauth while it authenticates */
	char remote[64];
};

/* Under e->lock: the connection in slot has authenticated or failed; unlist it
 * before its fd may be closed. */
static void unauth_leave(struct engine *e, int slot, int fd)
{
	if (slot >= 0 && e->unauth[slot].fd == fd)
		e->unauth[slot].fd = -1;
}

/* Under e->lock: a place for a new unauthenticated connection from ip, or -1 to
 * refuse it: its address holds ENGINE_UNAUTH_PER_IP already, or the pool is full.
 * (Cutting the oldest instead would let a client that reconnects at once cut every
 * other handshake, a real peer's too.) */
static int unauth_enter(struct engine *e, int fd, const char *ip)
{
	int i, free_slot = -1, same = 0;

	for (i = 0; i < ENGINE_MAX_UNAUTH; i++) {
		struct unauth_slot *u = &e->unauth[i];

		if (u->fd < 0) {
			if (free_slot < 0)
				free_slot = i;
		} else if (strcmp(u->ip, ip) == 0) {
			same++;
		}
	}
	if (same >= ENGINE_UNAUTH_PER_IP || free_slot < 0)
		return -1;
	e->unauth[free_slot].fd = fd;
	snprintf(e->unauth[free_slot].ip, sizeof(e->unauth[free_slot].ip), "%s", ip);
	e->unauth[free_slot].since = time_mono_ms();
	return free_slot;
}

/* Under e->lock: count a connection turned away; a line every 10 s at most says how
 * many, and why the last one was. */
static void refused_note(struct engine *e, const char *why)
{
	int64_t now = time_mono_ms();

	e->refused++;
	if (e->refused_logged == 0 || now - e->refused_logged >= 10000) {
		log_warnx("peer connections turned away: %d since %s; the last: %s", e->refused,
			  e->refused_logged ? "the last such line" : "the start", why);
		e->refused = 0;
		e->refused_logged = now;
	}
}

static void *peer_conn_main(void *arg)
{
	struct peer_arg *pa = arg;
	struct engine *e = pa->e;
	char channel[PEER_NAME_MAX] = "";
	struct peer_conn c;
	bool over;
	int ret;

	peer_conn_init(&c, pa->fd, e->cfg.peer_timeout_ms);
	c.deadline = time_mono_ms() + ENGINE_HANDSHAKE_MS;
	ret = peer_auth_server(&c, e->cfg.secret, e->cfg.secret_len, channel);
	c.deadline = 0;
	pthread_mutex_lock(&e->lock);
	unauth_leave(e, pa->slot, pa->fd);
	over = ret == 0 && e->peer_authed >= ENGINE_MAX_PEER_CONN;
	if (ret == 0 && !over)
		e->peer_authed++;
	pthread_mutex_unlock(&e->lock);
	if (ret < 0) {
		char why[128];

		metrics_peer_failure("handshake");
		log_debug("peer %s: handshake failed: %s", pa->remote, strerror(-ret));
		snprintf(why, sizeof(why), "no handshake: the last from %s: %s", pa->remote,
			 ret == -EACCES ? "wrong secret" : strerror(-ret));
		pthread_mutex_lock(&e->lock);
		refused_note(e, why);
		pthread_mutex_unlock(&e->lock);
		peer_conn_release(&c);
	} else if (over) {
		log_warnx("peer %s: refused, %d peer connections are busy", pa->remote,
			  ENGINE_MAX_PEER_CONN);
		peer_conn_release(&c);
	} else {
		dest_serve(e, &c, channel, pa->remote);
		pthread_mutex_lock(&e->lock);
		e->peer_authed--;
		pthread_mutex_unlock(&e->lock);
	}
	pthread_mutex_lock(&e->lock);
	e->peer_conns--;
	pthread_mutex_unlock(&e->lock);
	free(pa);
	return NULL;
}

static void *listener_main(void *arg)
{
	struct engine *e = arg;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct pollfd p = { .fd = e->listen_fd, .events = POLLIN };
		struct peer_arg *pa;
		char host[48] = "?", serv[8] = "?";
		pthread_t t;
		int fd, slot = -1;

		if (poll(&p, 1, 200) <= 0) {
			if (__atomic_load_n(&e->stopping, __ATOMIC_SEQ_CST))
				return NULL;
			continue;
		}
		fd = accept4(e->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		peer_sock_tune(fd);
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		pa = calloc(1, sizeof(*pa));
		pthread_mutex_lock(&e->lock);
		if (!pa || e->stopping ||
		    e->peer_conns >= ENGINE_MAX_PEER_CONN + ENGINE_MAX_UNAUTH) {
			refused_note(e, "too many connections");
		} else if ((slot = unauth_enter(e, fd, host)) < 0) {
			refused_note(e, "too many handshakes at once (from its address, or in all)");
		} else {
			e->peer_conns++;
		}
		pthread_mutex_unlock(&e->lock);
		if (slot < 0) {
			free(pa);
			close(fd);
			continue;
		}
		pa->e = e;
		pa->fd = fd;
		pa->slot = slot;
		snprintf(pa->remote, sizeof(pa->remote), strchr(host, ':') ? "[%s]:%s" : "%s:%s",
			 host, serv);
		if (pthread_create(&t, NULL, peer_conn_main, pa) != 0) {
			pthread_mutex_lock(&e->lock);
			unauth_leave(e, slot, fd);
			e->peer_conns--;
			pthread_mutex_unlock(&e->lock);
			close(fd);
			free(pa);
			continue;
		}
		pthread_detach(t);
	}
}

static int listen_on(const char *hostport, int *port_out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], serv[8];
	int port, fd = -1, one = 1, ret;

	ret = hostport_parse(hostport, host, sizeof(host), &port, 1);
	if (ret < 0)
		return ret;
	snprintf(serv, sizeof(serv), "%d", port);
	ret = getaddrinfo(host, serv, &hints, &res);
	if (ret != 0 || !res)
		return -EADDRNOTAVAIL;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		ret = -errno;
		close(fd);
		fd = -1;
		goto out;
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						     ((struct sockaddr_in *)&ss)->sin_port);
	ret = fd;
out:
	freeaddrinfo(res);
	return ret;
}

int engine_new(const struct engine_config *cfg, struct store *st, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->queue = calloc(ENGINE_MAX_QUEUE, JOB_ID_LEN);
	for (int i = 0; i < ENGINE_MAX_UNAUTH; i++)
		e->unauth[i].fd = -1;
	if (!e->queue) {
		free(e);
		return -ENOMEM;
	}
	e->cfg = *cfg;
	if (e->cfg.workers < 1)
		e->cfg.workers = 1;
	if (e->cfg.workers > ENGINE_MAX_WORKERS)
		e->cfg.workers = ENGINE_MAX_WORKERS;
	if (e->cfg.peer_timeout_ms <= 0)
		e->cfg.peer_timeout_ms = 30000;
	e->store = st;
	e->listen_fd = -1;
	e->fault = getenv("HAULD_FAULT");
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->cpuinfo_lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	*out = e;
	return 0;
}

/* Jobs a previous run left queued or running: queued ones run again, the others are
 * resolved with the peer or rolled back. It runs beside the API, which must answer
 * at once even when a peer it has to ask is down. */
static void *engine_recover(void *arg)
{
	struct engine *e = arg;
	struct job *jobs = NULL;
	size_t n = 0;

	if (store_job_list_unfinished(e->store, &jobs, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];

		if (j->role == JOB_DESTINATION) {
			dest_recover(e, j);
		} else if (j->state == JOB_QUEUED) {
			ev(e, j, "info", "hauld restarted: queued again");
			if (queue_push(e, j->id) < 0)
				job_finish(e, j, JOB_FAILED, "queue_full", "source",
					   "too many queued migrations; the process was not touched");
		} else {
			source_recover(e, j);
		}
	}
	store_jobs_free(jobs, n);
	return NULL;
}

int engine_start(struct engine *e, int *peer_port)
{
	int ret = listen_on(e->cfg.peer_listen, peer_port);
	char tmp[1100];

	if (ret < 0)
		return ret;
	e->listen_fd = ret;
	e->peer_port = *peer_port;
	jobs_prune(e);
	/* Log snapshots for peers live only while they are sent. */
	snprintf(tmp, sizeof(tmp), "%s/tmp", e->cfg.data_dir);
	rm_rf(tmp);
	if (pthread_create(&e->listener, NULL, listener_main, e) != 0)
		return -EAGAIN;
	e->listener_started = true;
	if (pthread_create(&e->recovery, NULL, engine_recover, e) != 0)
		return -EAGAIN;
	e->recovery_started = true;
	if (pthread_create(&e->watchdog, NULL, watchdog_main, e) != 0)
		return -EAGAIN;
	e->watchdog_started = true;
	for (int i = 0; i < e->cfg.workers; i++) {
		if (pthread_create(&e->workers[i], NULL, worker_main, e) != 0)
			return -EAGAIN;
		e->n_workers++;
	}
	return 0;
}

bool engine_free(struct engine *e)
{
	if (!e)
		return true;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	for (struct src_active *a = e->active; a; a = a->next) {
		if (!a->committed)
			active_cancel(a);
		else
			/* Past the commit a job cannot go back, only end: in post-copy this
			 * host serves the pages the destination's copy still lacks, and
			 * leaving now would take them from the only running copy. */
			log_info("shutdown waits for job %s: it is past its commit (in "
				 "post-copy, the destination may still need pages from here)",
				 a->id);
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	for (int i = 0; i < e->n_workers; i++)
		pthread_join(e->workers[i], NULL);
	if (e->recovery_started)
		pthread_join(e->recovery, NULL);
	if (e->watchdog_started)
		pthread_join(e->watchdog, NULL);
	if (e->listener_started)
		pthread_join(e->listener, NULL);
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	dest_release_all(e);
	pthread_mutex_lock(&e->lock);
	if (e->peer_conns > 0) {
		/* A peer thread is still inside a step (a restore, say); the process is
		 * about to exit, so leave the engine to it rather than free under it. */
		int busy = e->peer_conns;

		pthread_mutex_unlock(&e->lock);
		log_warnx("%d peer connection(s) still busy at shutdown: their jobs are "
			  "recovered at the next start", busy);
		return false;
	}
	pthread_mutex_unlock(&e->lock);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->cpuinfo_lock);
	for (int i = 0; i < CPUINFO_CACHE; i++)
		free(e->cpuinfo_ok[i]);
	free(e->queue);
	free(e);
	return true;
}

/* 1 when the numeric address ai names this host: a socket can be bound to it. */
static int addr_is_local(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		return 0;
	ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
	close(fd);
	return ok;
}

bool engine_peer_is_self(struct engine *e, const char *to)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST };
	struct addrinfo *res = NULL;
	char host[256], lhost[256];
	int port, lport;
	bool wildcard, self = false;

	if (hostport_parse(to, host, sizeof(host), &port, 0) < 0 || port != e->peer_port ||
	    hostport_parse(e->cfg.peer_listen, lhost, sizeof(lhost), &lport, 1) < 0)
		return false;
	/* A name would need a lookup here; the peer handshake tells such a case apart
	 * (the greeting carries this daemon's instance id). */
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	wildcard = !lhost[0] || strcmp(lhost, "0.0.0.0") == 0 || strcmp(lhost, "::") == 0;
	for (struct addrinfo *ai = res; ai && !self; ai = ai->ai_next) {
		char name[64];

		if (!addr_is_local(ai))
			continue;
		if (wildcard) {
			self = true;
			continue;
		}
		self = getnameinfo(ai->ai_addr, ai->ai_addrlen, name, sizeof(name), NULL, 0,
				   NI_NUMERICHOST) == 0 && strcmp(name, lhost) == 0;
	}
	freeaddrinfo(res);
	return self;
}

const struct criu_info *engine_criu(const struct engine *e)
{
	return e->cfg.criu;
}

void engine_counts(struct engine *e, int *queued, int *running, int *incoming)
{
	int r = 0, in = 0;

	pthread_mutex_lock(&e->lock);
	*queued = (int)e->q_len;
	for (struct src_active *a = e->active; a; a = a->next)
		r++;
	for (struct dst_job *d = e->incoming; d; d = d->next)
		in++;
	pthread_mutex_unlock(&e->lock);
	*running = r;
	*incoming = in;
}
