/* runc.c: migration type "runc": a container of runc, moved through runc's command
 * line (runc checkpoint / restore, which run CRIU themselves), so that the
 * destination's runc owns it afterwards under the same id.
 *
 * Source: runc checkpoints the container into the job's images directory, with the
 * job's work directory for CRIU's logs, and removes it; its bundle (config.json and
 * the root file system, which is all of the container's files) goes along as a tar,
 * unless options.shared_paths says both hosts see the bundle. Destination: the bundle
 * is unpacked under DATA_DIR/runc/<id> (or used where it is), runc restores the
 * container detached and it is paused at once until the commit resumes it. A failure
 * before the commit removes the destination's container and restores the source's
 * from the job's images. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criu.h"
#include "criu_diag.h"
#include "ctr.h"
#include "ctr_type.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

#define BUNDLE_TAR   "hauld-bundle.tar"
#define BUNDLE_PATH  "hauld-bundle-path"   /* in the work directory, for recovery */
#define RUNC_OUT     8192
#define RUNC_LIST_OUT (256 * 1024)         /* `runc list` of a few hundred containers */
#define TAR_MS       (30 * 60 * 1000)

/* Run runc (--root, --criu) with args; its output in out. The exit status or -errno. */
static int runc(const char *const *args, char *out, size_t outlen, int timeout_ms)
{
	const struct ctr_config *c = ctr_config();
	char *argv[32];
	size_t n = 0;

	argv[n++] = (char *)c->runc_bin;
	argv[n++] = "--root";
	argv[n++] = (char *)c->runc_root;
	argv[n++] = "--criu";
	argv[n++] = (char *)criu_path();
	for (size_t i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	return run_capture(argv, out, outlen, timeout_ms);
}

/* The first line of runc's output, for a message. */
static const char *first_line(char *out)
{
	out[strcspn(out, "\n")] = '\0';
	return out[0] ? out : "no output";
}

/* `runc state id` as JSON (new reference), or NULL when runc knows no such
 * container; *st gets runc's exit status. */
static json_t *state_of(const char *id, int *st, char *out, size_t outlen)
{
	const char *args[] = { "state", id, NULL };

	*st = runc(args, out, outlen, CTR_CALL_MS);
	return *st == 0 ? json_loads(out, 0, NULL) : NULL;
}

static bool configured(void)
{
	return ctr_config()->runc_root[0] && access(ctr_config()->runc_bin, X_OK) == 0;
}

/* The bind mounts of the bundle's config.json whose sources are outside the bundle
 * and not declared shared, as a sentence; 0 when none. */
static int mounts_blocking(const char *bundle, const struct ctr_opts *o, char *out,
			   size_t len)
{
	char path[600];
	size_t i, off = 0, n = 0;
	json_t *cfg, *mt;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	cfg = json_load_file(path, 0, NULL);
	json_array_foreach(json_object_get(cfg, "mounts"), i, mt) {
		const char *type = json_string_value(json_object_get(mt, "type")) ?: "";
		const char *src = json_string_value(json_object_get(mt, "source"));
		const char *dst = json_string_value(json_object_get(mt, "destination")) ?: "?";
		bool bind = strcmp(type, "bind") == 0;
		size_t k;
		json_t *opt;

		json_array_foreach(json_object_get(mt, "options"), k, opt)
			if (json_string_value(opt) && (strcmp(json_string_value(opt), "bind") == 0 ||
						       strcmp(json_string_value(opt), "rbind") == 0))
				bind = true;
		if (!bind || !src || ctr_opts_shared(o, src) ||
		    (strncmp(src, bundle, strlen(bundle)) == 0 && src[strlen(bundle)] == '/'))
			continue;
		if (off < len)
			off += (size_t)snprintf(out + off, len - off, "%s%s (bind %s)", n ? ", " : "",
						dst, src);
		n++;
	}
	json_decref(cfg);
	return (int)n;
}

static int runc_validate(const json_t *body, struct job *j, struct mig_problem *p)
{
	char id[80], out[RUNC_OUT], blocking[300];
	const char *status, *bundle;
	struct ctr_opts o;
	json_t *st;
	int rc, ret = 0;

	if (ctr_target_field(body, id, sizeof(id), p) < 0)
		return -1;
	if (!configured())
		return ctr_problem(p, AE_BAD_VALUE, "runc is not configured: install it (%s), and "
				   "start hauld with --runc-root DIR", ctr_config()->runc_bin);
	st = state_of(id, &rc, out, sizeof(out));
	if (!st && rc > 0)
		return ctr_problem(p, AE_NOT_FOUND, "no runc container %s in %s (%s)", id,
				   ctr_config()->runc_root, first_line(out));
	if (!st)
		return ctr_problem(p, AE_BAD_VALUE, "runc state %s failed: %s", id,
				   rc < 0 ? strerror(-rc) : first_line(out));
	status = json_string_value(json_object_get(st, "status")) ?: "?";
	bundle = json_string_value(json_object_get(st, "bundle"));
	if (strcmp(status, "running") != 0) {
		ret = ctr_problem(p, AE_BAD_VALUE, "container %s is not running (it is %s): only a "
				  "running container can move", id, status);
	} else if (!bundle || bundle[0] != '/') {
		ret = ctr_problem(p, AE_BAD_VALUE, "runc reports no bundle for container %s", id);
	} else {
		ctr_opts_parse(j, &o);
		if (mounts_blocking(bundle, &o, blocking, sizeof(blocking)) > 0)
			ret = ctr_problem(p, AE_BAD_VALUE, "container %s has mounts that do not move "
					  "with it: %s; when both hosts see them the same, declare "
					  "them in options.shared_paths", id, blocking);
		ctr_opts_release(&o);
	}
	snprintf(j->container_id, sizeof(j->container_id), "%s", id);
	snprintf(j->container_name, sizeof(j->container_name), "%s", id);
	snprintf(j->target, sizeof(j->target), "%s", id);
	j->pid = (int)json_integer_value(json_object_get(st, "pid"));
	json_decref(st);
	return ret;
}

/* The container runs; *bundle (len bytes, may be NULL) gets its bundle. */
static int running(const char *id, char *bundle, size_t len, char *err, size_t errlen,
		   int *pid)
{
	char out[RUNC_OUT];
	json_t *st;
	int rc, ret = 0;

	st = state_of(id, &rc, out, sizeof(out));
	if (!st) {
		snprintf(err, errlen, "runc has no container %s any more (%s)", id,
			 rc < 0 ? strerror(-rc) : first_line(out));
		return -ESRCH;
	}
	if (strcmp(json_string_value(json_object_get(st, "status")) ?: "", "running") != 0) {
		snprintf(err, errlen, "container %s is %s", id,
			 json_string_value(json_object_get(st, "status")) ?: "not running");
		ret = -ESRCH;
	}
	if (bundle)
		snprintf(bundle, len, "%s", json_string_value(json_object_get(st, "bundle")) ?: "");
	if (pid)
		*pid = (int)json_integer_value(json_object_get(st, "pid"));
	json_decref(st);
	return ret;
}

static int runc_src_begin(struct mig_src *m)
{
	int ret = running(m->job->container_id, NULL, 0, m->err, sizeof(m->err), &m->job->pid);

	if (ret < 0)
		m->err_code = "container_gone";
	return ret;
}

static bool runc_src_alive(struct mig_src *m)
{
	char err[256];

	return running(m->job->container_id, NULL, 0, err, sizeof(err), NULL) == 0;
}

static int runc_src_facts(struct mig_src *m, json_t *facts)
{
	char bundle[512];
	struct ctr_opts o;

	if (running(m->job->container_id, bundle, sizeof(bundle), m->err, sizeof(m->err),
		    NULL) < 0)
		return -ESRCH;
	ctr_opts_parse(m->job, &o);
	json_object_set_new(facts, "container", json_pack("{s:s}", "id", m->job->container_id));
	json_object_set_new(facts, "bundle", json_string(bundle));
	json_object_set_new(facts, "bundle_shared", json_boolean(ctr_opts_shared(&o, bundle)));
	ctr_opts_release(&o);
	return 0;
}

/* tar of the bundle into the images directory: the container's whole file system. */
static int bundle_pack(struct mig_src *m, const char *bundle)
{
	char file[1100], out[2048];
	char *argv[] = { "/bin/tar", "--numeric-owner", "--xattrs", "-C", (char *)bundle,
			 "-cpf", file, ".", NULL };
	int st;

	snprintf(file, sizeof(file), "%s/" BUNDLE_TAR, m->images_dir);
	st = run_capture(argv, out, sizeof(out), TAR_MS);
	if (st != 0) {
		snprintf(m->err, sizeof(m->err), "packing the bundle %s: %s", bundle,
			 st < 0 ? strerror(-st) : first_line(out));
		return -EIO;
	}
	return 0;
}

/* runc restore -d of id from images, with CRIU's log in work. */
static int restore(const char *id, const char *images, const char *work, const char *bundle,
		   const struct ctr_opts *o, char *err, size_t len)
{
	const char *args[16] = { "restore", "-d", "--image-path", images, "--work-path", work,
				 "--bundle", bundle };
	char out[RUNC_OUT];
	size_t n = 8;
	int st;

	if (o->tcp_established)
		args[n++] = "--tcp-established";
	if (o->file_locks)
		args[n++] = "--file-locks";
	args[n++] = id;
	args[n] = NULL;
	st = runc(args, out, sizeof(out), CTR_LONG_MS);
	if (st != 0) {
		snprintf(err, len, "runc restore failed: %s", st < 0 ? strerror(-st) : first_line(out));
		return -EIO;
	}
	return 0;
}

static int runc_src_checkpoint(struct mig_src *m)
{
	const char *args[16] = { "checkpoint", "--image-path", m->images_dir, "--work-path",
				 m->work_dir };
	char bundle[512], out[RUNC_OUT], rb[400];
	struct ctr_opts o;
	bool shared;
	size_t n = 5;
	int st, ret;

	if (running(m->job->container_id, bundle, sizeof(bundle), m->err, sizeof(m->err),
		    NULL) < 0)
		return -ESRCH;
	ctr_opts_parse(m->job, &o);
	shared = ctr_opts_shared(&o, bundle);
	if (o.tcp_established)
		args[n++] = "--tcp-established";
	if (o.file_locks)
		args[n++] = "--file-locks";
	args[n++] = m->job->container_id;
	args[n] = NULL;
	/* A restarted hauld finds the bundle here, runc having forgotten it. */
	{
		char file[1100];
		int fd;

		snprintf(file, sizeof(file), "%s/" BUNDLE_PATH, m->work_dir);
		fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			write_full(fd, bundle, strlen(bundle));
			close(fd);
		}
	}
	st = runc(args, out, sizeof(out), CTR_LONG_MS);
	if (st != 0) {
		snprintf(m->err, sizeof(m->err), "runc checkpoint failed: %s (dump.log is in the "
			 "job's logs)", st < 0 ? strerror(-st) : first_line(out));
		{
			struct criu_diag_ctx ctx = { .images_fd = m->images_fd };

			criu_diag_explain(m->work_fd, "dump.log", &ctx, &m->err_code, m->err,
					  sizeof(m->err));
		}
		/* CRIU resumed the container, unless runc went on to remove it. */
		if (!runc_src_alive(m) && access(m->images_dir, F_OK) == 0)
			restore(m->job->container_id, m->images_dir, m->work_dir, bundle, &o, rb,
				sizeof(rb));
		ctr_opts_release(&o);
		return -EIO;
	}
	/* runc removed the container; its files travel unless both hosts see them. */
	ret = shared ? 0 : bundle_pack(m, bundle);
	if (ret == 0 && m->hold(m) == 0) {
		ctr_opts_release(&o);
		return 0;
	}
	if (ret == 0)
		snprintf(m->err, sizeof(m->err), "the destination could not run it");
	if (restore(m->job->container_id, m->images_dir, m->work_dir, bundle, &o, rb,
		    sizeof(rb)) < 0) {
		size_t off = strlen(m->err);

		snprintf(m->err + off, sizeof(m->err) - off, "; and it could not be restored at "
			 "the source: %s", rb);
	}
	ctr_opts_release(&o);
	return ret < 0 ? ret : -ECANCELED;
}

static int runc_src_recover(struct mig_src *m)
{
	char file[1100], *bundle = NULL;
	struct ctr_opts o;
	size_t len;
	int ret;

	snprintf(file, sizeof(file), "%s/" BUNDLE_PATH, m->work_dir);
	if (file_read_all(file, 1024, &bundle, &len) < 0 || bundle[0] != '/') {
		free(bundle);
		snprintf(m->err, sizeof(m->err), "the job does not say where the bundle is");
		return -ENOENT;
	}
	ctr_opts_parse(m->job, &o);
	ret = restore(m->job->container_id, m->images_dir, m->work_dir, bundle, &o, m->err,
		      sizeof(m->err));
	ctr_opts_release(&o);
	free(bundle);
	return ret;
}

/* Where the destination's bundle is: the source's path when shared, else hauld's. */
static void bundle_here(struct mig_dst *d, char *out, size_t len)
{
	snprintf(out, len, "%s/runc/%s", d->data_dir, d->job->container_name);
}

static int runc_dst_check(struct mig_dst *d, const json_t *facts)
{
	const char *id = json_string_value(json_object_get(json_object_get(facts, "container"),
							"id"));
	const char *bundle = json_string_value(json_object_get(facts, "bundle"));
	bool shared = json_is_true(json_object_get(facts, "bundle_shared"));
	char out[RUNC_OUT], path[700], esc[100];
	json_t *st;
	int rc;

	if (!id || !bundle || bundle[0] != '/' || strlen(bundle) > 400 || strlen(id) > 64 ||
	    ctr_escape(id, esc, sizeof(esc)) < 0 || strcmp(esc, id) != 0 || id[0] == '.') {
		snprintf(d->err, sizeof(d->err), "malformed container facts from the source");
		return -EPROTO;
	}
	if (!configured()) {
		snprintf(d->err, sizeof(d->err), "runc is not configured at the destination "
			 "(%s, --runc-root)", ctr_config()->runc_bin);
		d->err_code = "engine_unavailable";
		return -ENOTCONN;
	}
	st = state_of(id, &rc, out, sizeof(out));
	if (st) {
		json_decref(st);
		snprintf(d->err, sizeof(d->err), "runc already has a container %s at the "
			 "destination (%s): remove it there", id, ctr_config()->runc_root);
		d->err_code = "container_exists";
		return -EEXIST;
	}
	snprintf(d->job->container_name, sizeof(d->job->container_name), "%s", id);
	snprintf(d->job->result_container, sizeof(d->job->result_container), "%s", id);
	if (shared) {
		snprintf(path, sizeof(path), "%s/config.json", bundle);
		if (access(path, R_OK) < 0) {
			snprintf(d->err, sizeof(d->err), "the bundle %s is declared shared, but the "
				 "destination does not see %s", bundle, path);
			d->err_code = "file_missing";
			return -ENOENT;
		}
		snprintf(d->ctr_path, sizeof(d->ctr_path), "%s", bundle);
	} else {
		bundle_here(d, d->ctr_path, sizeof(d->ctr_path));
	}
	return 0;
}

/* true when the bundle's config.json gives the container a network namespace. */
static bool own_netns(const char *bundle)
{
	char path[600];
	size_t i;
	json_t *cfg, *ns;
	bool own = false;

	snprintf(path, sizeof(path), "%s/config.json", bundle);
	cfg = json_load_file(path, 0, NULL);
	json_array_foreach(json_object_get(json_object_get(cfg, "linux"), "namespaces"), i, ns)
		if (strcmp(json_string_value(json_object_get(ns, "type")) ?: "", "network") == 0)
			own = true;
	json_decref(cfg);
	return own;
}

static int runc_dst_restore(struct mig_dst *d)
{
	char tar[1100], out[2048], mine[600];
	char *argv[] = { "/bin/tar", "--numeric-owner", "--xattrs", "-C", d->ctr_path, "-xpf", tar,
			 NULL };
	struct ctr_opts o;
	int st, ret;

	bundle_here(d, mine, sizeof(mine));
	snprintf(tar, sizeof(tar), "%s/" BUNDLE_TAR, d->images_dir);
	if (strcmp(d->ctr_path, mine) == 0) {
		/* Ours alone: what an earlier move left there is no container's now. */
		rm_rf(mine);
		ret = mkdir_p(mine, 0700);
		st = ret < 0 ? ret : run_capture(argv, out, sizeof(out), TAR_MS);
		if (st != 0) {
			snprintf(d->err, sizeof(d->err), "unpacking the bundle into %s: %s", mine,
				 st < 0 ? strerror(-st) : first_line(out));
			return -EIO;
		}
	}
	/* Without a network namespace of its own, the container takes this host's ports. */
	if (!own_netns(d->ctr_path)) {
		ret = mig_dst_ports_free(d);
		if (ret < 0)
			return ret;
	}
	ctr_opts_parse(d->job, &o);
	ret = restore(d->job->result_container, d->images_dir, d->work_dir, d->ctr_path, &o,
		      d->err, sizeof(d->err));
	ctr_opts_release(&o);
	if (ret < 0) {
		struct criu_diag_ctx ctx = { .images_fd = d->images_fd, .same_netns = d->same_netns };

		criu_diag_explain(d->work_fd, "restore.log", &ctx, &d->err_code, d->err,
				  sizeof(d->err));
		return ret;
	}
	{
		const char *args[] = { "pause", d->job->result_container, NULL };

		st = runc(args, out, sizeof(out), CTR_CALL_MS);
		if (st != 0) {
			snprintf(d->err, sizeof(d->err), "runc pause failed: %s",
				 st < 0 ? strerror(-st) : first_line(out));
			return -EIO;
		}
	}
	{
		int pid = 0;
		char err[256];

		st = running(d->job->result_container, NULL, 0, err, sizeof(err), &pid);
		/* A paused container is "paused", not "running": take the pid anyway. */
		d->restored = pid > 0 ? pid : -1;
	}
	if (d->restored <= 0) {
		snprintf(d->err, sizeof(d->err), "the restored container has no process");
		return -ESRCH;
	}
	return 0;
}

static int runc_dst_resume(struct mig_dst *d)
{
	const char *args[] = { "resume", d->job->result_container, NULL };
	char out[RUNC_OUT];
	int st = runc(args, out, sizeof(out), CTR_CALL_MS);

	if (st != 0) {
		snprintf(d->err, sizeof(d->err), "runc resume failed: %s",
			 st < 0 ? strerror(-st) : first_line(out));
		return -EIO;
	}
	return 0;
}

static int runc_dst_discard(struct mig_dst *d)
{
	const char *kill_args[] = { "kill", d->job->result_container, "KILL", NULL };
	const char *del_args[] = { "delete", "--force", d->job->result_container, NULL };
	char out[RUNC_OUT], mine[600];

	if (!d->job->result_container[0] || !configured())
		return 0;
	runc(kill_args, out, sizeof(out), CTR_CALL_MS);
	runc(del_args, out, sizeof(out), CTR_CALL_MS);
	/* hauld's own copy of the bundle, if it made one (never a shared one). */
	bundle_here(d, mine, sizeof(mine));
	rm_rf(mine);
	return 0;
}

static json_t *runc_health(void)
{
	char *argv[] = { (char *)ctr_config()->runc_bin, "--version", NULL };
	char out[512] = "", ver[64] = "";
	int st;

	if (!ctr_config()->runc_root[0])
		return json_pack("{s:n, s:b, s:b, s:s}", "root", "reachable", 0, "checkpoint", 0,
				 "why", "not configured (--runc-root)");
	st = access(argv[0], X_OK) == 0 ? run_capture(argv, out, sizeof(out), 2000) : -ENOENT;
	if (st != 0)
		return json_pack("{s:s, s:s, s:b, s:b, s:s}", "root", ctr_config()->runc_root,
				 "binary", argv[0], "reachable", 0, "checkpoint", 0,
				 "why", st < 0 ? strerror(-st) : "runc --version failed");
	sscanf(out, "runc version %63s", ver);
	return json_pack("{s:s, s:s, s:b, s:s, s:b}", "root", ctr_config()->runc_root,
			 "binary", argv[0], "reachable", 1, "version", ver, "checkpoint", 1);
}

/* `runc list`: every container under --runc-root, running or not (runc prints
 * "null" when there is none). */
static json_t *runc_containers(size_t max)
{
	const char *args[] = { "list", "--format", "json", NULL };
	char *out = NULL;
	json_t *list, *o;
	int st;

	if (!ctr_config()->runc_root[0])
		return ctr_list_unreachable("not configured (--runc-root)");
	if (!configured())
		return ctr_list_unreachable("runc is not installed");
	out = calloc(1, RUNC_LIST_OUT);
	if (!out)
		return ctr_list_unreachable("out of memory");
	st = runc(args, out, RUNC_LIST_OUT, 2000);
	list = st == 0 ? json_loads(out, JSON_DECODE_ANY, NULL) : NULL;
	if (st != 0)
		o = ctr_list_unreachable(st < 0 ? strerror(-st) : first_line(out));
	else
		o = ctr_list_json(json_is_array(list) ? list : NULL, max);
	json_decref(list);
	free(out);
	return o;
}

const struct mig_ops mig_runc_ops = {
	.type = "runc",
	.strategy_reason = "runc checkpoints the container into files with CRIU and removes "
			   "it; they travel with its bundle, and the destination's runc restores "
			   "it under the same id",
	.target_field = "container",
	.page_stream = false,
	.lazy = false,
	.validate = runc_validate,
	.src_begin = runc_src_begin,
	.src_alive = runc_src_alive,
	.src_facts = runc_src_facts,
	.src_recover = runc_src_recover,
	.src_checkpoint = runc_src_checkpoint,
	.dst_check = runc_dst_check,
	.dst_restore = runc_dst_restore,
	.dst_resume = runc_dst_resume,
	.dst_discard = runc_dst_discard,
	.health = runc_health,
	.containers = runc_containers,
};
