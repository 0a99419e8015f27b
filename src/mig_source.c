/* mig_source.c: the source side of a migration, and its recovery after a restart.
 *
 * control:  prepare(+cpuinfo) -> ok | restore -> ok{pid} | commit -> ok  (or abort)
 * memory:   attach -> ok, then CRIU's page-server stream, then the image files
 *
 * The tree stays frozen inside CRIU's post-dump notification (hold()) until the
 * destination has restored it, stopped; only then does CRIU kill the source copy,
 * and only then does the destination let its copy run (commit). Any failure before
 * that makes CRIU resume the source and the destination discard what it has. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <sys/socket.h>

#include "criu_diag.h"
#include "engine_int.h"
#include "precopy.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "util.h"

struct src_run {
	struct engine *e;
	struct job *job;
	struct src_active *act;
	const struct mig_ops *ops;
	struct peer_conn ctl, mem;
	struct mig_src m;
	int64_t t_dump;          /* monotonic ms when the final dump began */
	int64_t t_dump_end;      /* and when CRIU returned */
	int64_t dump_bytes0;     /* bytes sent before the final dump */
	int64_t predump_pages;   /* pages written by the pre-dumps */
	bool restored;           /* the destination holds a restored, stopped copy */
	bool prepared;           /* the destination has a job of this id: its logs */
	const char *fail_code;
	char fail_msg[JOB_MSG_LEN];
	struct precopy_policy policy;
	enum strategy strategy;
	int n_iters;             /* pre-dumps done */
	int64_t lazy_sent0;      /* bytes sent on the memory socket when it began */
	struct relay *relay;     /* CRIU's stream on the memory connection, while one runs */
	int64_t last_progress;   /* monotonic ms of the last progress update stored */
	int64_t last_progress_ev;  /* and of the last progress event */
	int64_t max_frozen_ms;   /* options.max_frozen_ms */
	int compress;            /* options.compress: 0 off, else the zframe_mode */
	bool compress_agreed;    /* the destination agreed: the memory connection
	                            compresses */
	char images_dir[1024], work_dir[1024], job_dir[1024];
};

static void fail(struct src_run *r, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct src_run *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (r->fail_code)
		return;      /* the first reason is the one that matters */
	r->fail_code = code;
	va_start(ap, fmt);
	vsnprintf(r->fail_msg, sizeof(r->fail_msg), fmt, ap);
	va_end(ap);
}

/* The watchdog let the frozen tree go (engine.c): say so, before any other reason
 * the cut connections produce. True when it did. */
static bool frozen_expired(struct src_run *r)
{
	if (!r->act->frozen_expired)
		return false;
	fail(r, "frozen_too_long", "the tree stayed frozen for max_frozen_ms (%lld ms) without "
	     "the destination having restored it, so the migration gave up and let it run on; "
	     "raise options.max_frozen_ms for a tree this large or a link this slow",
	     (long long)r->max_frozen_ms);
	return true;
}

/* A destination's error code that may go into our job as it is: one of CRIU's causes
 * (criu_diag.h), or one of the checks of the destination's preflight and engine; a
 * static string, NULL for any other (the peer chooses no code of ours). */
static const char *peer_code_known(const char *code)
{
	static const char *const dest_codes[] = {
		"pids_in_use", "image_missing", "container_exists", "engine_unavailable",
	};
	const char *c = criu_diag_known(code);

	for (size_t i = 0; !c && code && i < ARRAY_SIZE(dest_codes); i++)
		if (strcmp(code, dest_codes[i]) == 0)
			c = dest_codes[i];
	return c;
}

static const char *peer_err(int ret)
{
	switch (ret) {
	case -EACCES: return "authentication with the peer failed (check the shared secret)";
	case -ETIMEDOUT: return "the peer did not answer in time";
	case -EPIPE: case -ECONNRESET: return "the peer closed the connection";
	case -EHOSTUNREACH: case -ENETUNREACH:
		return "the peer's host is unreachable";
	case -EPROTO: case -EMSGSIZE: return "the peer broke the protocol";
	default: return strerror(-ret);
	}
}

/* Open and authenticate one channel to the destination. */
static int connect_channel(struct src_run *r, struct peer_conn *c, const char *channel)
{
	int fd = peer_connect(r->job->to, r->e->cfg.peer_timeout_ms);
	int ret;

	if (fd < 0) {
		metrics_peer_failure("connect");
		fail(r, "peer_unreachable", "cannot connect to %s: %s", r->job->to, strerror(-fd));
		return fd;
	}
	peer_conn_init(c, fd, r->e->cfg.peer_timeout_ms);
	ret = peer_auth_client(c, r->e->cfg.secret, r->e->cfg.secret_len, channel);
	if (ret < 0)
		metrics_peer_failure("handshake");
	if (ret == -ENOMSG)
		fail(r, "peer_not_hauld", "%s accepted the connection but did not greet as a hauld "
		     "peer within %d s: \"to\" must name the destination's peer port "
		     "(its --peer-listen, 8421 by default), not its API or another service",
		     r->job->to, PEER_GREET_MS / 1000);
	else if (ret == -ELOOP)
		fail(r, "self_migration", "\"to\" (%s) reaches this daemon itself: name the peer "
		     "port of the destination host's hauld", r->job->to);
	else if (ret < 0)
		fail(r, ret == -EACCES ? "peer_auth_failed" : "peer_protocol", "%s channel to %s: %s",
		     channel, r->job->to, peer_err(ret));
	return ret;
}

/* Wait for a reply with "ok": true; *reply_out (may be NULL) gets it. */
static int expect_ok(struct src_run *r, struct peer_conn *c, int timeout_ms, const char *code,
		     json_t **reply_out)
{
	json_t *reply = NULL;
	int saved = c->timeout_ms;
	int ret;

	c->timeout_ms = timeout_ms;
	ret = peer_recv_json(c, &reply);
	c->timeout_ms = saved;
	if (ret < 0) {
		/* A cancel may have cut the connection (abortable()), or the watchdog. */
		frozen_expired(r);
		if (r->act->cancel)
			fail(r, "cancelled", "cancelled while waiting for the destination");
		fail(r, code, "waiting for the destination: %s", peer_err(ret));
		return ret;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *why = json_string_value(json_object_get(reply, "error"));
		const char *known = peer_code_known(json_string_value(json_object_get(reply,
										      "code")));

		/* The destination's own diagnosis, when it is one hauld knows: a peer's
		 * reply never puts a code of its choosing into our job. */
		fail(r, known ? known : code, "destination: %s", why ? why : "refused");
		json_decref(reply);
		return -ECANCELED;
	}
	if (reply_out)
		*reply_out = reply;
	else
		json_decref(reply);
	return 0;
}

/* Send msg (stolen) and wait for its "ok". */
static int call(struct src_run *r, struct peer_conn *c, json_t *msg, int timeout_ms,
		const char *code, json_t **reply_out)
{
	int ret = peer_send_json(c, msg);

	json_decref(msg);
	if (ret < 0) {
		fail(r, code, "%s", peer_err(ret));
		return ret;
	}
	return expect_ok(r, c, timeout_ms, code, reply_out);
}

/* Who we are, for the destination to tell whether it runs on this host, in this
 * network namespace (its diagnoses say so). New reference. */
static json_t *host_facts(void)
{
	char boot[64] = "", netns[64] = "";

	proc_host_ids(boot, sizeof(boot), netns, sizeof(netns));
	return json_pack("{s:s, s:s}", "boot_id", boot, "netns", netns);
}

/* options.transfer_image, and the destination lacks the image: the source's engine
 * saves it, and it goes over the control connection before anything stops. */
static int ship_image(struct src_run *r)
{
	char dir[1100];
	int64_t bytes = 0;
	int dfd, files = 0, ret;
	json_t *msg;

	if (!r->ops->src_image || !job_option(r->job, "transfer_image")) {
		fail(r, "image_missing", "the destination asked for the image, but this job does "
		     "not send it");
		return -EPROTO;
	}
	snprintf(dir, sizeof(dir), "%s/image", r->work_dir);
	rm_rf(dir);
	ret = mkdir_p(dir, 0700);
	if (ret == 0)
		ret = r->ops->src_image(&r->m, dir);
	if (ret < 0) {
		fail(r, "image_missing", "saving the image to send it: %s", r->m.err);
		rm_rf(dir);
		return ret;
	}
	msg = json_pack("{s:s}", "op", "image");
	ret = peer_send_json(&r->ctl, msg);
	json_decref(msg);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ret == 0)
		ret = dfd < 0 ? -errno : peer_send_dir(&r->ctl, dfd, &files, &bytes);
	if (dfd >= 0)
		close(dfd);
	rm_rf(dir);
	if (ret < 0) {
		fail(r, "transfer_failed", "sending the image: %s", peer_err(ret));
		return ret;
	}
	ev(r->e, r->job, "info", "sent the image (%lld bytes)", (long long)bytes);
	return expect_ok(r, &r->ctl, LONG_WAIT_MS, "preflight_failed", NULL);
}

/* The destination's answer to prepare says whether it compresses too: only an
 * echo of the codec does (an older destination ignores the key). */
static void compress_agree(struct src_run *r, json_t *reply)
{
	const char *c = json_string_value(json_object_get(reply, "compress"));

	r->compress_agreed = r->compress && zframe_codec_known(c);
	snprintf(r->job->stats.compression, sizeof(r->job->stats.compression), "%s",
		 r->compress_agreed ? ZFRAME_CODEC : "none");
	if (r->compress && !r->compress_agreed)
		ev(r->e, r->job, "info", "the destination does not compress (a hauld without "
		   "it): the pages and images go uncompressed");
}

static int preflight(struct src_run *r)
{
	const struct criu_info *ci = r->e->cfg.criu;
	char cpu_dir[1024];
	json_t *facts, *msg, *opts = NULL, *reply = NULL;
	int dfd, ret;

	if (!ci->check_ok) {
		fail(r, "criu_unavailable", "CRIU cannot run here: %s", ci->check_error);
		return -ENOTSUP;
	}
	/* This host's CPU does not change while hauld runs: dump its description once. */
	snprintf(cpu_dir, sizeof(cpu_dir), "%s/cpuinfo", r->e->cfg.data_dir);
	pthread_mutex_lock(&r->e->cpuinfo_lock);
	ret = r->e->cpuinfo_ready ? 0 : mkdir_p(cpu_dir, 0700);
	if (ret == 0 && !r->e->cpuinfo_ready)
		ret = criu_cpuinfo_dump(cpu_dir, r->m.err, sizeof(r->m.err));
	r->e->cpuinfo_ready = ret == 0;
	pthread_mutex_unlock(&r->e->cpuinfo_lock);
	if (ret < 0) {
		fail(r, "preflight_failed", "%s", r->m.err[0] ? r->m.err : strerror(-ret));
		return ret;
	}
	facts = json_object();
	ret = r->ops->src_facts(&r->m, facts);
	if (ret < 0) {
		json_decref(facts);
		fail(r, "preflight_failed", "%s", r->m.err);
		return ret;
	}
	if (r->job->options)
		opts = json_loads(r->job->options, 0, NULL);
	msg = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:i, s:s, s:s, s:o, s:o, s:o}", "op",
			"prepare", "job", r->job->id, "type", r->job->type, "mode", r->job->mode,
			"pid", r->job->pid, "source_port", r->e->peer_port,
			"strategy", r->job->strategy,
			"criu_version", ci->version, "criu_version_text", ci->version_text,
			"compress", r->compress ? ZFRAME_CODEC : "none",
			"facts", facts, "options", opts ? opts : json_object(),
			"host", host_facts());
	ret = peer_send_json(&r->ctl, msg);
	json_decref(msg);
	r->prepared = ret == 0;
	dfd = open(cpu_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ret == 0)
		ret = dfd < 0 ? -errno : peer_send_dir(&r->ctl, dfd, NULL, NULL);
	if (dfd >= 0)
		close(dfd);
	if (ret < 0) {
		fail(r, "peer_protocol", "sending the preflight facts: %s", peer_err(ret));
		return ret;
	}
	ret = expect_ok(r, &r->ctl, LONG_WAIT_MS, "preflight_failed", &reply);
	if (ret == 0)
		compress_agree(r, reply);
	if (ret == 0 && json_is_true(json_object_get(reply, "want_image")))
		ret = ship_image(r);
	json_decref(reply);
	return ret;
}

/* CRIU's stream over the memory connection for one CRIU call: m.mem_fd is the local
 * socket CRIU gets (start false: nothing moves before stream_go). */
static int stream_open(struct src_run *r, bool start)
{
	int ret = relay_open(&r->mem, start, &r->m.mem_fd, &r->relay);

	if (ret < 0)
		fail(r, "internal", "cannot relay the page stream: %s", strerror(-ret));
	return ret;
}

/* The stream has ended both ways (the destination's CRIU is done with it), or it
 * failed: then, when report, the job fails with why. Our copy of CRIU's socket
 * goes too. */
static int stream_end(struct src_run *r, bool report)
{
	char why[200];
	int ret;

	if (r->m.mem_fd >= 0)
		close(r->m.mem_fd);
	r->m.mem_fd = -1;
	if (!r->relay)
		return 0;
	ret = relay_finish(r->relay, r->e->cfg.peer_timeout_ms, why, sizeof(why));
	r->relay = NULL;
	/* The destination's word on why it stopped the stream says more than the
	 * broken pipe our CRIU saw: it goes first. */
	if (ret == -EREMOTEIO || (ret < 0 && report))
		fail(r, "transfer_failed", "the page stream failed%s: %s",
		     ret == -EREMOTEIO ? " at the destination" : "", why);
	return ret;
}

/* Let a cancel cut this connection while we wait on it (fd), or nothing (-1). */
static void abortable(struct src_run *r, int fd)
{
	pthread_mutex_lock(&r->e->lock);
	r->act->abort_fd = fd;
	pthread_mutex_unlock(&r->e->lock);
}

/* Arm the watchdog for a tree frozen until deadline (monotonic ms), or disarm it (0). */
static void frozen_watch(struct src_run *r, int64_t deadline)
{
	pthread_mutex_lock(&r->e->lock);
	r->act->frozen_deadline = deadline;
	r->act->frozen_fds[0] = deadline ? r->ctl.fd : -1;
	r->act->frozen_fds[1] = deadline ? r->mem.fd : -1;
	pthread_mutex_unlock(&r->e->lock);
}

/* CRIU's post-dump notification: the tree is frozen and its images complete. Move
 * the images, have the destination restore, and answer whether CRIU may release
 * (kill) the source copy. */
static int hold(struct mig_src *m)
{
	struct src_run *r = m->engine_ctx;
	json_t *msg, *reply = NULL;
	int files = 0, ret;
	int64_t bytes = 0;

	fault_point(r->e, "pause:frozen");
	/* CRIU's page stream has ended: the images and the answers follow on the same
	 * connection, and a cancel from here on is answered by resuming the tree. */
	abortable(r, -1);
	if (frozen_expired(r))
		return 1;
	if (r->act->cancel) {
		fail(r, "cancelled", "cancelled during the dump");
		return 1;
	}
	job_phase(r->e, r->job, PH_TRANSFERRING);
	fault_point(r->e, "pause:transferring");
	/* The pages have gone: their stream ends (CRIU keeps its socket until it
	 * exits), and the images follow on the same connection. In lazy mode the
	 * stream is yet to come. */
	if (!r->m.lazy && r->relay) {
		int fd = r->m.mem_fd;

		r->m.mem_fd = -1;     /* CRIU's, until it exits */
		ret = stream_end(r, true);
		r->m.mem_fd = fd;
		if (ret < 0) {
			frozen_expired(r);
			return 1;
		}
	}
	msg = json_pack("{s:s, s:b}", "op", "restore", "lazy", r->m.lazy);
	ret = peer_send_json(&r->ctl, msg);
	json_decref(msg);
	if (ret == 0)
		ret = peer_send_dir(&r->mem, r->m.images_fd, &files, &bytes);
	if (ret < 0) {
		frozen_expired(r);
		fail(r, "transfer_failed", "sending the images: %s", peer_err(ret));
		return 1;
	}
	ev(r->e, r->job, "info", "sent %d image files (%lld bytes)", files, (long long)bytes);
	if (r->m.lazy && r->relay)
		relay_go(r->relay);
	if (r->m.lazy) {
		/* The destination can restore only once CRIU serves the pages, which it
		 * does after this answer: the restore comes in lazy_released(). */
		if (expect_ok(r, &r->ctl, LONG_WAIT_MS, "transfer_failed", NULL) < 0)
			return 1;
		return r->act->cancel || frozen_expired(r) ? 1 : 0;
	}
	job_phase(r->e, r->job, PH_RESTORING);
	/* A cancel stops the wait for a restore that may take long, or hang: the tree
	 * resumes here, and a copy the destination still restores is removed there on
	 * the verdict it asks for (its answer finds the connection gone). */
	abortable(r, r->ctl.fd);
	ret = expect_ok(r, &r->ctl, LONG_WAIT_MS, "restore_failed", &reply);
	abortable(r, -1);
	if (ret < 0)
		return 1;
	r->restored = true;
	r->job->result_pid = (int)json_integer_value(json_object_get(reply, "pid"));
	r->job->stats.restore_ms = json_integer_value(json_object_get(reply, "restore_ms"));
	/* A container's id at the destination, when the engine gave it a new one. */
	{
		const char *c = json_string_value(json_object_get(reply, "container"));

		if (c && strlen(c) < sizeof(r->job->result_container) && r->job->container_id[0])
			snprintf(r->job->result_container, sizeof(r->job->result_container), "%s", c);
	}
	/* How the destination put the memory back, and why (older peers do not say). */
	{
		const char *rp = json_string_value(json_object_get(reply, "restore_pages"));
		const char *why = json_string_value(json_object_get(reply, "restore_reason"));

		if (rp && (strcmp(rp, "lazy") == 0 || strcmp(rp, "eager") == 0)) {
			snprintf(r->job->stats.restore_pages, sizeof(r->job->stats.restore_pages),
				 "%s", rp);
			ev(r->e, r->job, "info", "the destination restored with restore_pages %s: "
			   "%.300s", rp, why ? why : "");
		}
	}
	json_decref(reply);
	/* Recovery after a crash from here on needs to know the destination's pid, on
	 * the disk before CRIU kills the source copy: a record that cannot be made is
	 * a reason to keep the source (the destination's copy is discarded). */
	ret = fault_fail(r->e, "record_restored") ? -EIO
						   : store_job_update_durable(r->e->store, r->job);
	if (ret < 0) {
		fail(r, "internal", "cannot record the destination's copy (%s): the source "
		     "copy is kept", strerror(-ret));
		r->restored = false;
		return 1;
	}
	fault_point(r->e, "pause:restored");
	/* A destination whose daemon went away since (its copy survives it, stopped)
	 * gets no commit: the source copy is kept, and the destination removes its
	 * copy when it asks for the verdict. */
	if (!peer_conn_alive(&r->ctl)) {
		fail(r, "restore_failed", "the destination's daemon went away after it restored "
		     "the process: the source copy is kept, and the destination's stopped copy "
		     "is removed when that daemon is back and asks this host");
		r->restored = false;
		return 1;
	}
	/* Once we answer yes, CRIU kills the source copy: no cancel from here on. */
	pthread_mutex_lock(&r->e->lock);
	if (r->act->cancel || r->act->frozen_expired) {
		pthread_mutex_unlock(&r->e->lock);
		if (!frozen_expired(r))
			fail(r, "cancelled", "cancelled while the destination restored");
		return 1;
	}
	r->act->committed = true;
	pthread_mutex_unlock(&r->e->lock);
	return 0;
}

/* Tell the destination to run (commit) or discard (abort) its copy. A commit is
 * retried: the process exists only at the destination now. */
static int finish_peer(struct src_run *r, const char *op)
{
	json_t *reply = NULL;
	int ret = -EPIPE;

	for (int attempt = 0; attempt < 5; attempt++) {
		if (r->ctl.fd < 0 && connect_channel(r, &r->ctl, "control") < 0) {
			peer_conn_release(&r->ctl);
			r->ctl.fd = -1;
			sleep(1u << attempt);
			continue;
		}
		ret = call(r, &r->ctl, json_pack("{s:s, s:s}", "op", op, "job", r->job->id),
			   r->e->cfg.peer_timeout_ms, "commit_failed", &reply);
		if (ret == 0 && json_integer_value(json_object_get(reply, "pid")) > 0)
			r->job->result_pid = (int)json_integer_value(json_object_get(reply, "pid"));
		json_decref(reply);
		reply = NULL;
		if (ret == 0 || ret == -ECANCELED || strcmp(op, "abort") == 0)
			return ret;
		peer_conn_release(&r->ctl);
		r->ctl.fd = -1;
	}
	return ret;
}

/* Bytes this job put on the wire. CRIU writes the pages straight into the memory
 * socket, so the kernel's count is the only complete one. */
static int64_t sock_sent(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return (int64_t)ti.tcpi_bytes_sent;
}

static int64_t bytes_sent(struct src_run *r)
{
	return sock_sent(r->ctl.fd) + sock_sent(r->mem.fd);
}

/* The job's byte counts at its end: on the wire, and what CRIU's stream and the
 * image files weighed before compression; with compression, an event says what
 * it did. */
static void stats_bytes(struct src_run *r)
{
	struct zframe_stats zs;
	struct job *j = r->job;

	j->stats.bytes = bytes_sent(r);
	j->stats.bytes_raw = (int64_t)(r->ctl.raw_sent + r->mem.raw_sent);
	if (!r->mem.z)
		return;
	zframe_stats(r->mem.z, &zs);
	if (zs.raw <= 0)
		return;
	ev(r->e, j, "info", "compression %s: %.1f MiB of pages and images went as %.1f MiB "
	   "(ratio %.3f), %lld of %lld frames compressed (%lld raw untried while the link "
	   "kept up), %lld ms of CPU compressing", ZFRAME_CODEC, zs.raw / 1048576.0,
	   zs.packed / 1048576.0, (double)zs.packed / (double)zs.raw, (long long)zs.frames_z,
	   (long long)(zs.frames_z + zs.frames_raw), (long long)zs.frames_idle,
	   (long long)(zs.pack_ns / 1000000));
}

/* Fill the CRIU fields of it from the stats-dump of the (pre-)dump that just ended,
 * which CRIU writes into its work directory. -ENOENT when there is none. */
static int iter_read_stats(struct src_run *r, struct job_iter *it)
{
	struct criu_stats st;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d/stats-dump", r->m.work_fd);
	if (criu_stats_read(path, &st) < 0 || !st.has_dump)
		return -ENOENT;
	it->frozen_ms = st.frozen_ms;
	it->memdump_ms = st.memdump_ms;
	it->memwrite_ms = st.memwrite_ms;
	it->pages_scanned = st.pages_scanned;
	it->pages_skipped = st.pages_skipped_parent;
	it->pages_written = st.pages_written;
	return 0;
}

static void read_dump_stats(struct src_run *r)
{
	struct job_iter it = { 0 };

	if (iter_read_stats(r, &it) < 0)
		return;
	/* In lazy mode CRIU's frozen_time is not measured (it reads as the time since
	 * boot); the tree stays frozen until its last page has left, that is until now. */
	if (r->m.lazy)
		it.frozen_ms = time_mono_ms() - r->t_dump;
	r->job->stats.frozen_ms = it.frozen_ms;
	r->job->stats.pages_written = r->predump_pages + it.pages_written;
	snprintf(it.kind, sizeof(it.kind), "dump");
	it.index = r->n_iters;
	it.bytes = bytes_sent(r) - r->dump_bytes0;
	it.duration_ms = time_mono_ms() - r->t_dump;
	store_iter_add(r->e->store, r->job->id, &it);
	ev_kind(r->e, r->job, "iteration", job_iter_to_json(&it), "info",
		"dump: %lld pages written, frozen %lld ms", (long long)it.pages_written,
		(long long)it.frozen_ms);
}

static void parse_options(struct src_run *r)
{
	json_t *o = r->job->options ? json_loads(r->job->options, 0, NULL) : NULL;

	r->m.copts.tcp_established = json_is_true(json_object_get(o, "tcp_established"));
	r->m.copts.shell_job = json_is_true(json_object_get(o, "shell_job"));
	r->m.copts.file_locks = json_is_true(json_object_get(o, "file_locks"));
	r->m.copts.ext_unix_sk = json_is_true(json_object_get(o, "ext_unix_sk"));
	r->max_frozen_ms = MAX_FROZEN_DEFAULT_MS;
	if (json_is_integer(json_object_get(o, "max_frozen_ms")))
		r->max_frozen_ms = json_integer_value(json_object_get(o, "max_frozen_ms"));
	precopy_policy_default(&r->policy);
	if (json_is_integer(json_object_get(o, "max_iterations")))
		r->policy.max_iterations = (int)json_integer_value(json_object_get(o, "max_iterations"));
	if (json_is_integer(json_object_get(o, "precopy_min_pages")))
		r->policy.min_pages = json_integer_value(json_object_get(o, "precopy_min_pages"));
	if (json_is_integer(json_object_get(o, "precopy_max_growth_pct")))
		r->policy.max_growth_pct =
			(int)json_integer_value(json_object_get(o, "precopy_max_growth_pct"));
	/* The default, "auto", tries and backs off where it does not pay. */
	{
		const char *c = json_string_value(json_object_get(o, "compress"));

		r->compress = c && strcmp(c, "off") == 0 ? 0 :
			c && strcmp(c, "on") == 0 ? ZFRAME_ON : ZFRAME_AUTO;
	}
	json_decref(o);
}

/* Ask the destination for a page server on the memory connection writing into dir,
 * whose parent is the previous iteration (NULL for none). */
static int pages_to(struct src_run *r, const char *dir, const char *parent)
{
	json_t *msg = json_pack("{s:s, s:s, s:s?}", "op", "pages", "dir", dir, "parent", parent);

	return call(r, &r->ctl, msg, LONG_WAIT_MS, "transfer_failed", NULL);
}

/* Iterative pre-copy: pre-dumps while the tree runs, each into its own directory at
 * both ends with the previous one as parent, until the stop rule says the final dump
 * will be small. Sets r->m.parent for the final dump. */
static int precopy(struct src_run *r, char *last, size_t lastlen)
{
	int64_t written[PRECOPY_ITERATIONS_CAP];
	char dir[16], prev[16] = "", path[1100], parent[24];
	enum precopy_verdict v;
	size_t n = 0;
	int ret;

	while ((v = precopy_next(&r->policy, written, n)) == PRECOPY_CONTINUE &&
	       n < PRECOPY_ITERATIONS_CAP) {
		struct job_iter it = { .index = (int)n };
		int64_t t0 = time_mono_ms(), b0 = bytes_sent(r);

		if (r->act->cancel) {
			fail(r, "cancelled", "cancelled during pre-copy");
			return -ECANCELED;
		}
		snprintf(dir, sizeof(dir), "pre-%zu", n);
		snprintf(path, sizeof(path), "%s/jobs/%s/%s", r->e->cfg.data_dir, r->job->id, dir);
		ret = mkdir_p(path, 0700);
		if (ret == 0)
			ret = pages_to(r, dir, prev[0] ? prev : NULL);
		if (ret < 0) {
			if (r->act->cancel)
				fail(r, "cancelled", "cancelled during pre-copy");
			fail(r, "transfer_failed", "pre-dump %zu: %s", n, strerror(-ret));
			return ret;
		}
		r->m.iter_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		snprintf(parent, sizeof(parent), "../%s", prev);
		r->m.parent = prev[0] ? parent : NULL;
		ret = r->m.iter_fd < 0 ? -errno : stream_open(r, true);
		if (ret == 0)
			ret = r->ops->src_predump(&r->m);
		if (r->m.iter_fd >= 0)
			close(r->m.iter_fd);
		r->m.iter_fd = -1;
		if (ret == 0 && stream_end(r, true) < 0)
			return -EIO;
		if (ret < 0) {
			stream_end(r, false);
			if (r->act->cancel)
				fail(r, "cancelled", "cancelled during pre-copy");
			fail(r, r->m.err_code ? r->m.err_code : "predump_failed", "%s", r->m.err);
			return ret;
		}
		iter_read_stats(r, &it);
		snprintf(it.kind, sizeof(it.kind), "pre-dump");
		it.bytes = bytes_sent(r) - b0;
		it.duration_ms = time_mono_ms() - t0;
		store_iter_add(r->e->store, r->job->id, &it);
		written[n++] = it.pages_written;
		r->predump_pages += it.pages_written > 0 ? it.pages_written : 0;
		ev_kind(r->e, r->job, "iteration", job_iter_to_json(&it), "info",
			"pre-dump %zu wrote %lld pages", n - 1, (long long)it.pages_written);
		snprintf(prev, sizeof(prev), "%s", dir);
	}
	ev(r->e, r->job, "info", "pre-copy ends after %zu pre-dumps: %s", n,
	   precopy_verdict_text(v));
	snprintf(last, lastlen, "%s", prev);
	r->n_iters = (int)n;
	return 0;
}

static int finish_peer(struct src_run *r, const char *op);

/* Lazy mode: CRIU serves the pages now, and keeps the source frozen until every page
 * has gone. Have the destination restore; a failure here makes the type end CRIU, which
 * lets the source run on. */
static int lazy_released(struct mig_src *m)
{
	struct src_run *r = m->engine_ctx;
	json_t *reply = NULL;
	int ret;

	/* A cancel that came before this point still wins: ending CRIU resumes the
	 * source. From here the destination may run the process. */
	pthread_mutex_lock(&r->e->lock);
	if (r->act->cancel || r->act->frozen_expired) {
		pthread_mutex_unlock(&r->e->lock);
		if (!frozen_expired(r))
			fail(r, "cancelled", "cancelled before the destination restored");
		return -ECANCELED;
	}
	r->act->committed = true;
	pthread_mutex_unlock(&r->e->lock);
	job_phase(r->e, r->job, PH_RESTORING);
	ret = call(r, &r->ctl, json_pack("{s:s}", "op", "restore_lazy"), LONG_WAIT_MS,
		   "restore_failed", &reply);
	if (ret < 0)
		return ret;
	r->restored = true;
	r->job->result_pid = (int)json_integer_value(json_object_get(reply, "pid"));
	r->job->stats.restore_ms = json_integer_value(json_object_get(reply, "restore_ms"));
	r->job->stats.downtime_ms = time_mono_ms() - r->t_dump;
	json_decref(reply);
	/* The source copy is killed next: where the process runs must be on the disk. */
	if (store_job_update_durable(r->e->store, r->job) < 0)
		log_warnx("job %.8s: the record of the copy at %s could not be written to "
			  "the disk", r->job->id, r->job->to);
	r->lazy_sent0 = sock_sent(r->mem.fd);
	job_phase(r->e, r->job, PH_LAZY);
	ev(r->e, r->job, "info", "runs at %s as pid %d; pages follow", r->job->to,
	   r->job->result_pid);
	return 0;
}

static void lazy_progress(struct mig_src *m, int64_t left, int64_t total)
{
	struct src_run *r = m->engine_ctx;
	int64_t now = time_mono_ms(), sent;

	if (now - r->last_progress < 500)
		return;
	r->last_progress = now;
	/* The pages go out of CRIU straight into the socket: what the kernel counts as
	 * sent since then, in pages, is what has left. */
	sent = (sock_sent(r->mem.fd) - r->lazy_sent0) / 4096;
	if (left < 0)
		left = total > sent ? total - sent : 0;
	r->job->stats.lazy_pages = total;
	r->job->stats.lazy_pages_left = left;
	store_job_update(r->e->store, r->job);
	/* An event a second at most: a stream shows the progress, the log stays small. */
	if (now - r->last_progress_ev >= 1000 || left == 0) {
		r->last_progress_ev = now;
		ev_kind(r->e, r->job, "progress", json_pack("{s:I, s:I}", "lazy_pages",
			(json_int_t)total, "lazy_pages_left", (json_int_t)left), "info",
			"lazy pages: %lld of %lld sent", (long long)(total - left), (long long)total);
	}
}

/* The destination's CRIU logs of this job, into <data>/logs/<id>/destination, so
 * that GET /migrations/ID/logs here answers for both hosts. Best effort and bounded:
 * the job's outcome does not wait on a destination that is gone. */
static void fetch_peer_logs(struct src_run *r)
{
	struct peer_conn c;
	char dir[1100];
	json_t *reply = NULL;
	int fd, dfd = -1, files = 0, ret;

	if (!r->prepared)
		return;
	fd = peer_connect(r->job->to, PEER_LOGS_MS);
	if (fd < 0) {
		ev(r->e, r->job, "warn", "the destination's CRIU logs are not here: cannot "
		   "connect to %s (%s)", r->job->to, strerror(-fd));
		return;
	}
	peer_conn_init(&c, fd, PEER_LOGS_MS);
	snprintf(dir, sizeof(dir), "%s/logs/%s/destination", r->e->cfg.data_dir, r->job->id);
	ret = peer_auth_client(&c, r->e->cfg.secret, r->e->cfg.secret_len, "control");
	if (ret == 0) {
		json_t *msg = json_pack("{s:s, s:s}", "op", "logs", "job", r->job->id);

		ret = peer_send_json(&c, msg);
		json_decref(msg);
	}
	if (ret == 0)
		ret = peer_recv_json(&c, &reply);
	if (ret == 0 && !json_is_true(json_object_get(reply, "ok")))
		ret = -ENOENT;
	if (ret == 0) {
		rm_rf(dir);
		ret = mkdir_p(dir, 0700);
	}
	if (ret == 0) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = dfd < 0 ? -errno : peer_recv_dir(&c, dfd, &files, NULL);
	}
	if (ret < 0)
		ev(r->e, r->job, "warn", "the destination's CRIU logs are not here: %s",
		   peer_err(ret));
	else if (files > 0)
		ev(r->e, r->job, "info", "fetched %d CRIU logs of the destination", files);
	if (dfd >= 0)
		close(dfd);
	json_decref(reply);
	peer_conn_release(&c);
}

/* Lazy mode after CRIU's end: it served every page (the destination's copy has
 * them all), or it failed during the lazy phase. */
static void end_lazy(struct src_run *r, int ret)
{
	struct job *j = r->job;
	int rep;

	/* Called once the destination runs the copy (lazy_released): the source copy
	 * is gone, and the destination's word decides, since it knows whether every
	 * page arrived. CRIU's exit status does not (a lazy-pages daemon that dies
	 * mid-transfer may look like one that finished). */
	rep = expect_ok(r, &r->ctl, r->e->cfg.peer_timeout_ms, "lazy_failed", NULL);
	stats_bytes(r);
	fetch_peer_logs(r);
	if (rep == 0) {
		j->stats.lazy_pages_left = 0;
		if (ret != 0)
			ev(r->e, j, "warn", "CRIU at the source reported a failure (%s), but the "
			   "destination has every page", r->m.err);
		job_finish(r->e, j, JOB_SUCCEEDED, NULL, NULL, "runs at %s as pid %d, every "
			   "page arrived", j->to, j->result_pid);
	} else if (rep == -ECANCELED) {
		/* The destination said so, and killed a copy whose pages did not all
		 * arrive. */
		j->result_pid = 0;
		job_finish(r->e, j, JOB_FAILED, "lazy_failed", "unknown", "the lazy phase "
			   "failed: %s (CRIU at the source: %s). The source copy ended when the "
			   "destination's began to run: the process is lost", r->fail_msg,
			   ret == 0 ? "no error" : r->m.err);
	} else {
		job_finish(r->e, j, JOB_FAILED, "lazy_failed", "unknown", "the destination did "
			   "not report the end of the lazy phase (%s; CRIU at the source: %s); "
			   "its job at %s tells whether every page arrived and the copy (pid %d) "
			   "runs", r->fail_msg, ret == 0 ? "no error" : r->m.err, j->to,
			   j->result_pid);
	}
}

/* Live mode: CRIU has killed the source copy; let the destination's run. */
static void end_commit(struct src_run *r)
{
	struct job *j = r->job;
	int ret;

	fault_point(r->e, "pause:released");
	job_phase(r->e, j, PH_COMMITTING);
	ret = finish_peer(r, "commit");
	fault_point(r->e, "pause:committed");
	/* From CRIU's freeze (its frozen time ends when it killed the source copy) to
	 * the commit that lets the destination's copy run; without CRIU's figure, from
	 * the start of the dump. */
	/* An engine's checkpoint stops the container and hold() runs after it: the
	 * whole time since the checkpoint began. */
	j->stats.downtime_ms = j->stats.frozen_ms >= 0 && r->ops->page_stream ?
		j->stats.frozen_ms + time_mono_ms() - r->t_dump_end :
		time_mono_ms() - r->t_dump;
	stats_bytes(r);
	fetch_peer_logs(r);
	if (r->ops->src_release && ret == 0 && r->ops->src_release(&r->m) < 0)
		ev(r->e, j, "warn", "the destination runs it, but what is left here could not be "
		   "removed: %s", r->m.err);
	if (ret < 0)
		job_finish(r->e, j, JOB_FAILED, "commit_unconfirmed", "destination",
			   "the destination restored the process (pid %d) and the source copy "
			   "is gone, but the commit was not confirmed: %s; the copy at %s stays "
			   "stopped and asks this host for the verdict (commit) until it gets it",
			   j->result_pid, r->fail_msg, j->to);
	else
		job_finish(r->e, j, JOB_SUCCEEDED, NULL, NULL, "runs at %s as pid %d", j->to,
			   j->result_pid);
}

/* Rollback: CRIU resumed the source (or never froze it); the destination discards
 * what it received. */
static void rollback(struct src_run *r)
{
	struct job *j = r->job;
	const char *code = r->fail_code ? r->fail_code : "internal";
	enum job_state st;

	if (r->ctl.fd >= 0 && strcmp(j->phase, PH_CONNECTING) != 0) {
		char phase[JOB_PHASE_LEN];

		/* The error names the phase that failed, not the rollback. */
		memcpy(phase, j->phase, sizeof(phase));
		job_phase(r->e, j, PH_ROLLBACK);
		call(r, &r->ctl, json_pack("{s:s, s:s}", "op", "abort", "job", j->id),
		     r->e->cfg.peer_timeout_ms, "peer_protocol", NULL);
		memcpy(j->phase, phase, sizeof(phase));
	}
	stats_bytes(r);
	j->result_pid = 0;       /* a copy the destination restored is gone now */
	fetch_peer_logs(r);
	/* A cancel ends cancelled even when the process went meanwhile: the error's
	 * process_at and message say that. */
	st = strcmp(code, "cancelled") == 0 ? JOB_CANCELLED : JOB_FAILED;
	if (r->ops && r->ops->src_alive(&r->m) && r->m.job->container_name[0])
		job_finish(r->e, j, st, code, "source", "%s; the container %s keeps running at the "
			   "source", r->fail_msg, j->container_name);
	else if (r->ops && r->ops->src_alive(&r->m))
		job_finish(r->e, j, st, code, "source", "%s; the process keeps running at the source "
			   "(pid %d)", r->fail_msg, j->pid);
	else if (r->m.job->container_name[0])
		job_finish(r->e, j, st, code, "unknown", "%s; the container %s does not "
			   "run at the source (%s)", r->fail_msg, j->container_name,
			   r->m.err[0] ? r->m.err : "it is gone");
	else
		job_finish(r->e, j, st, code, "unknown",
			   "%s; the source process (pid %d) is gone", r->fail_msg, j->pid);
}

void source_run(struct engine *e, struct job *j, struct src_active *act)
{
	struct src_run r = { .e = e, .job = j, .act = act };
	char images[1024], work[1024], last[16] = "", final_parent[24];
	bool criu_killed;
	int ret;

	peer_conn_init(&r.ctl, -1, e->cfg.peer_timeout_ms);
	peer_conn_init(&r.mem, -1, e->cfg.peer_timeout_ms);
	r.m.images_fd = r.m.work_fd = r.m.mem_fd = r.m.iter_fd = -1;
	r.m.lazy = strcmp(j->mode, "lazy") == 0;
	r.m.self_exe = e->cfg.self_exe;
	r.m.released = lazy_released;
	r.m.progress = lazy_progress;
	r.m.job = j;
	r.m.hold = hold;
	r.m.engine_ctx = &r;
	r.m.criu_watch = &act->criu;
	r.ops = mig_ops_find(j->type);

	j->state = JOB_RUNNING;
	j->started_at = time_now_ms();
	parse_options(&r);
	if (r.m.lazy) {
		r.strategy = STRATEGY_STOP_AND_COPY;
		snprintf(j->strategy, sizeof(j->strategy), "post-copy");
		snprintf(j->strategy_reason, sizeof(j->strategy_reason), "mode lazy: the "
			 "destination restores at once and pulls the pages through userfaultfd; "
			 "until the last page has arrived the process needs both hosts");
	} else if (r.ops && !r.ops->page_stream) {
		r.strategy = STRATEGY_STOP_AND_COPY;
		snprintf(j->strategy, sizeof(j->strategy), "%s", strategy_name(r.strategy));
		snprintf(j->strategy_reason, sizeof(j->strategy_reason), "%s",
			 r.ops->strategy_reason);
	} else {
		r.strategy = strategy_choose(e->cfg.criu->mem_track, &r.policy,
					     j->strategy_reason, sizeof(j->strategy_reason));
		snprintf(j->strategy, sizeof(j->strategy), "%s", strategy_name(r.strategy));
	}
	store_job_update(e->store, j);
	ev_kind(e, j, "state", NULL, "info", "running: strategy %s: %s", j->strategy,
		j->strategy_reason);
	job_phase(e, j, PH_CONNECTING);

	if (!r.ops) {
		fail(&r, "bad_type", "unknown migration type %s", j->type);
		goto out;
	}
	if (r.ops->src_begin(&r.m) < 0) {
		fail(&r, r.m.err_code ? r.m.err_code : "process_gone", "%s", r.m.err);
		goto out;
	}
	store_job_update(e->store, j);
	/* A copy restored here whose memory still fills in moves on once it is whole. */
	{
		int64_t until = time_mono_ms() + FILL_WAIT_MS;
		char fid[JOB_ID_LEN];
		bool said = false;

		while (dest_filling(e, j->pid, fid) && !act->cancel && time_mono_ms() < until) {
			if (!said)
				ev(e, j, "info", "waits until the memory of pid %d, restored here by "
				   "job %s, has filled in", j->pid, fid);
			said = true;
			usleep(100 * 1000);
		}
		if (dest_filling(e, j->pid, fid)) {
			if (act->cancel)
				fail(&r, "cancelled", "cancelled while pid %d still filled its memory "
				     "in here", j->pid);
			else
				fail(&r, "still_filling", "pid %d, restored here by job %s, was still "
				     "filling its memory in after %d s: try again once that job has "
				     "ended", j->pid, fid, FILL_WAIT_MS / 1000);
			goto out;
		}
	}
	if (r.m.lazy && criu_lazy_ready(e->cfg.criu, r.m.err, sizeof(r.m.err)) < 0) {
		fail(&r, "lazy_unavailable", "lazy mode: %s", r.m.err);
		goto out;
	}
	ret = job_dirs(e, j->id, images, work, sizeof(images));
	snprintf(r.images_dir, sizeof(r.images_dir), "%s", images);
	snprintf(r.work_dir, sizeof(r.work_dir), "%s", work);
	r.m.images_dir = r.images_dir;
	r.m.work_dir = r.work_dir;
	snprintf(r.job_dir, sizeof(r.job_dir), "%s/jobs/%s", e->cfg.data_dir, j->id);
	r.m.job_dir = r.job_dir;
	if (ret < 0) {
		fail(&r, "internal", "cannot create the job directory: %s", strerror(-ret));
		goto out;
	}
	r.m.images_fd = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r.m.work_fd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.m.images_fd < 0 || r.m.work_fd < 0) {
		fail(&r, "internal", "cannot open the job directory: %s", strerror(errno));
		goto out;
	}
	if (connect_channel(&r, &r.ctl, "control") < 0)
		goto out;
	if (act->cancel) {
		fail(&r, "cancelled", "cancelled before the dump");
		goto out;
	}
	job_phase(e, j, PH_PREFLIGHT);
	fault_point(e, "pause:preflight");
	if (preflight(&r) < 0)
		goto out;
	if (connect_channel(&r, &r.mem, "memory") < 0)
		goto out;
	if (r.compress_agreed && peer_compress_enable(&r.mem, (enum zframe_mode)r.compress) < 0) {
		fail(&r, "internal", "cannot compress: out of memory");
		goto out;
	}
	if (call(&r, &r.mem, json_pack("{s:s, s:s}", "op", "attach", "job", j->id),
		 e->cfg.peer_timeout_ms, "peer_protocol", NULL) < 0)
		goto out;
	fault_point(e, "pause:attached");
	if (act->cancel) {
		fail(&r, "cancelled", "cancelled before the dump");
		goto out;
	}
	abortable(&r, r.m.lazy ? -1 : r.mem.fd);
	if (r.strategy == STRATEGY_PRECOPY) {
		job_phase(e, j, PH_PRECOPY);
		if (precopy(&r, last, sizeof(last)) < 0)
			goto out;
		snprintf(final_parent, sizeof(final_parent), "../%s", last);
		r.m.parent = last[0] ? final_parent : NULL;
		r.m.track_mem = true;
	}
	/* In lazy mode the pages stay at the source until asked for; a type without a
	 * page stream sends everything in hold(). */
	if (r.ops->page_stream && !r.m.lazy && pages_to(&r, "images", last[0] ? last : NULL) < 0)
		goto out;
	if (act->cancel) {
		/* Do not freeze the tree only to find the memory connection cut. */
		fail(&r, "cancelled", "cancelled before the dump");
		goto out;
	}
	/* The final dump's stream: in lazy mode it waits for the images to go first. */
	if (r.ops->page_stream && stream_open(&r, !r.m.lazy) < 0)
		goto out;
	job_phase(e, j, PH_DUMPING);
	r.t_dump = time_mono_ms();
	r.dump_bytes0 = bytes_sent(&r);
	frozen_watch(&r, r.t_dump + r.max_frozen_ms);
	ret = r.ops->src_checkpoint(&r.m);
	frozen_watch(&r, 0);
	pthread_mutex_lock(&e->lock);
	criu_killed = act->criu_killed;
	pthread_mutex_unlock(&e->lock);
	if (ret < 0 && criu_killed)
		snprintf(r.m.err, sizeof(r.m.err), "CRIU still held the tree %d s past "
			 "max_frozen_ms (%lld ms) and was killed, so that the tree runs on: it "
			 "hung (dump.log is in the job's logs)", CRIU_HANG_GRACE_MS / 1000,
			 (long long)r.max_frozen_ms);
	r.t_dump_end = time_mono_ms();
	abortable(&r, -1);
	read_dump_stats(&r);
	/* A stream the destination gave up on explains a dump that failed. */
	if (ret < 0 && !r.restored)
		stream_end(&r, false);
	if (ret < 0 && !r.restored)
		frozen_expired(&r);
	if (ret < 0 && !r.restored && act->cancel)
		fail(&r, "cancelled", "cancelled during the dump: its page stream was cut and "
		     "CRIU stopped (%s)", r.m.err);
	if (ret < 0 && !r.restored)
		fail(&r, r.m.err_code ? r.m.err_code : "dump_failed", "%s", r.m.err);
	if (!r.m.lazy && r.restored && ret < 0 && proc_same(j->pid, r.m.pid_start)) {
		/* CRIU failed after the destination restored, and the source copy runs:
		 * keep that one. */
		fail(&r, "dump_failed", "%s", r.m.err);
		r.restored = false;
	}
	/* What is left of the stream (all of it, when the dump failed before the hold).
	 * A failure of its own matters only when nothing else failed first. */
	if (stream_end(&r, ret == 0 && !r.restored) < 0 && ret == 0 && !r.restored)
		goto out;
	if (r.restored && r.m.lazy) {
		end_lazy(&r, ret);
		goto cleanup;
	}
	if (r.restored) {
		end_commit(&r);
		goto cleanup;
	}
out:
	rollback(&r);
cleanup:
	peer_conn_release(&r.ctl);
	peer_conn_release(&r.mem);
	if (r.m.images_fd >= 0)
		close(r.m.images_fd);
	if (r.m.work_fd >= 0)
		close(r.m.work_fd);
	job_dirs_remove(e, j);
}

/* After a restart: the dump either never reached the hold (the source runs), or CRIU
 * lost us inside it and resumed the source, or we had released the source and the
 * destination holds the only copy. The source pid tells which. */
/* After a restart, a container that its engine had stopped for the checkpoint: the
 * destination runs it if it restored it (commit), else it runs here again from the
 * job's images. */
static void container_recover(struct src_run *r)
{
	struct job *j = r->job;
	char images[1024], work[1024];
	bool dumped = strcmp(j->phase, PH_CONNECTING) != 0 && strcmp(j->phase, PH_QUEUED) != 0 &&
		      strcmp(j->phase, PH_PREFLIGHT) != 0;

	snprintf(images, sizeof(images), "%s/jobs/%s/images", r->e->cfg.data_dir, j->id);
	snprintf(work, sizeof(work), "%s/jobs/%s/work", r->e->cfg.data_dir, j->id);
	r->m.job = j;
	r->m.images_dir = images;
	r->m.work_dir = work;
	r->m.images_fd = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r->m.work_fd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dumped && !r->ops->src_alive(&r->m) && finish_peer(r, "commit") == 0) {
		if (r->ops->src_release && r->ops->src_release(&r->m) < 0)
			ev(r->e, j, "warn", "%s", r->m.err);
		job_finish(r->e, j, JOB_SUCCEEDED, NULL, NULL, "container %s runs at %s "
			   "(committed after a restart)", j->container_name, j->to);
	} else {
		if (dumped)
			finish_peer(r, "abort");
		j->result_pid = 0;
		j->result_container[0] = '\0';
		if (!r->ops->src_alive(&r->m) && r->ops->src_recover &&
		    r->ops->src_recover(&r->m) < 0)
			ev(r->e, j, "error", "%s", r->m.err);
		if (r->ops->src_alive(&r->m))
			job_finish(r->e, j, JOB_FAILED, "daemon_restarted", "source", "hauld "
				   "restarted during phase %s; rolled back, the container %s runs at "
				   "the source", j->phase, j->container_name);
		else
			job_finish(r->e, j, JOB_FAILED, "daemon_restarted", "unknown", "hauld "
				   "restarted during phase %s, and the container %s runs neither "
				   "here nor at %s: %s", j->phase, j->container_name, j->to,
				   r->m.err[0] ? r->m.err : "its checkpoint is gone");
	}
	if (r->m.images_fd >= 0)
		close(r->m.images_fd);
	if (r->m.work_fd >= 0)
		close(r->m.work_fd);
}

void source_recover(struct engine *e, struct job *j)
{
	struct src_active act = { 0 };
	struct src_run r = { .e = e, .job = j, .act = &act };
	bool source_alive = j->pid_start ? proc_same(j->pid, j->pid_start) : proc_alive(j->pid);
	bool released = strcmp(j->phase, PH_COMMITTING) == 0 ||
			(strcmp(j->phase, PH_RESTORING) == 0 && !source_alive);
	int ret;

	peer_conn_init(&r.ctl, -1, e->cfg.peer_timeout_ms);
	peer_conn_init(&r.mem, -1, -1);
	ev(e, j, "warn", "hauld restarted during phase %s; resolving with %s", j->phase, j->to);
	r.ops = mig_ops_find(j->type);
	r.m.images_fd = r.m.work_fd = -1;
	if (r.ops && r.ops->src_recover) {
		container_recover(&r);
	} else if (released) {
		ret = finish_peer(&r, "commit");
		if (ret == 0)
			job_finish(e, j, JOB_SUCCEEDED, NULL, NULL, "runs at %s as pid %d "
				   "(committed after a restart)", j->to, j->result_pid);
		else
			job_finish(e, j, JOB_FAILED, "commit_unconfirmed", "destination",
				   "hauld restarted after the source copy was released; the "
				   "destination %s could not confirm its copy: %s", j->to, r.fail_msg);
	} else if (strcmp(j->phase, PH_LAZY) == 0) {
		/* The copy runs at the destination, and the pages it still lacked were
		 * served from this daemon (its relay), gone with it. No abort: a copy that
		 * had every page must not be killed for us. */
		job_finish(e, j, JOB_FAILED, "lazy_failed", "unknown", "hauld restarted during "
			   "the lazy phase: the source copy had ended when the destination's began "
			   "to run, and the pages the destination still lacked went with this "
			   "daemon, so unless every page had arrived the process is lost; the "
			   "job at %s says which (it kills a copy that lacks pages)", j->to);
	} else {
		/* Best effort: the destination may hold images or a stopped copy. */
		if (strcmp(j->phase, PH_CONNECTING) != 0 && strcmp(j->phase, PH_QUEUED) != 0)
			finish_peer(&r, "abort");
		j->result_pid = 0;
		if (source_alive)
			job_finish(e, j, JOB_FAILED, "daemon_restarted", "source",
				   "hauld restarted during phase %s; rolled back, the process keeps "
				   "running at the source (pid %d)", j->phase, j->pid);
		else
			job_finish(e, j, JOB_FAILED, "daemon_restarted", "unknown",
				   "hauld restarted during phase %s and the source process (pid %d) "
				   "is gone", j->phase, j->pid);
	}
	peer_conn_release(&r.ctl);
	job_dirs_remove(e, j);
}
