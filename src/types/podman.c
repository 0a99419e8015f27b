/* podman.c: migration type "podman": a container of Podman, moved through its libpod
 * API (v4, over the socket of `podman system service`) so that the destination's
 * Podman owns it afterwards, with the same id, name and log.
 *
 * Source: the engine checkpoints the container and exports the checkpoint as one
 * archive (CRIU's images, the container's configuration, its writable layer and its
 * log), which hauld writes into the job's images directory; the container is then
 * stopped, its checkpoint kept by Podman. Destination: the archive is imported and
 * restored, and the container paused at once until the commit unpauses it. A failure
 * before the commit removes the destination's container and restores the source's
 * from its kept checkpoint. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu_diag.h"
#include "ctr.h"
#include "ctr_type.h"
#include "log.h"
#include "util.h"

#define API       "/v4.0.0/libpod"
#define ARCHIVE   "checkpoint.tar"

static const char *sock(void)
{
	return ctr_config()->podman_sock;
}

static int get(const char *path, struct ctr_reply *r, char *err, size_t len)
{
	return ctr_call(sock(), "GET", path, NULL, CTR_CALL_MS, r, err, len);
}

/* The inspect of container name, running; else -1 with the sentence in err and the
 * API error in *ae. */
static int inspect_running(const char *name, struct ctr_reply *r, enum api_err *ae,
			   char *err, size_t len)
{
	char path[160], why[300];
	const json_t *state;

	snprintf(path, sizeof(path), API "/containers/%s/json", name);
	*ae = AE_BAD_VALUE;
	if (get(path, r, why, sizeof(why)) < 0) {
		snprintf(err, len, "the Podman service at %s does not answer (%s): start it (podman "
			 "system service), or point hauld at it with --podman-host", sock(), why);
		return -1;
	}
	if (r->status == 404) {
		*ae = AE_NOT_FOUND;
		snprintf(err, len, "no Podman container %s at %s", name, sock());
		return -1;
	}
	if (r->status != 200 || !json_is_object(r->json)) {
		snprintf(err, len, "Podman at %s: %s", sock(), ctr_reply_error(r, why, sizeof(why)));
		return -1;
	}
	state = json_object_get(r->json, "State");
	if (!json_is_true(json_object_get(state, "Running")) ||
	    json_is_true(json_object_get(state, "Paused"))) {
		snprintf(err, len, "container %s is not running (it is %s): only a running "
			 "container can move", name,
			 json_string_value(json_object_get(state, "Status")) ?: "stopped");
		return -1;
	}
	return 0;
}

static int mounts_blocking(const json_t *inspect, const struct ctr_opts *o, char *out,
			   size_t len)
{
	const json_t *mounts = json_object_get(inspect, "Mounts");
	size_t i, off = 0, n = 0;
	json_t *mt;

	out[0] = '\0';
	json_array_foreach(mounts, i, mt) {
		const char *type = json_string_value(json_object_get(mt, "Type")) ?: "mount";
		const char *src = json_string_value(json_object_get(mt, "Source"));
		const char *name = json_string_value(json_object_get(mt, "Name"));
		const char *dst = json_string_value(json_object_get(mt, "Destination")) ?: "?";

		if (ctr_opts_shared(o, src) || ctr_opts_shared(o, name))
			continue;
		if (off < len)
			off += (size_t)snprintf(out + off, len - off, "%s%s (%s %s)", n ? ", " : "",
						dst, type, name && name[0] ? name : src ? src : "?");
		n++;
	}
	return (int)n;
}

static int podman_validate(const json_t *body, struct job *j, struct mig_problem *p)
{
	struct ctr_reply r;
	struct ctr_opts o;
	char name[80], err[512], blocking[300];
	const char *n;
	enum api_err ae;
	int ret = 0;

	if (ctr_target_field(body, name, sizeof(name), p) < 0)
		return -1;
	if (!sock()[0])
		return ctr_problem(p, AE_BAD_VALUE, "Podman is not configured: start hauld with "
				   "--podman-host unix:///PATH");
	if (inspect_running(name, &r, &ae, err, sizeof(err)) < 0) {
		ctr_reply_release(&r);
		return ctr_problem(p, ae, "%s", err);
	}
	ctr_opts_parse(j, &o);
	if (mounts_blocking(r.json, &o, blocking, sizeof(blocking)) > 0)
		ret = ctr_problem(p, AE_BAD_VALUE, "container %s has mounts that do not move with "
				  "it: %s; when both hosts see them the same, declare them in "
				  "options.shared_paths (their source paths or volume names)", name,
				  blocking);
	n = json_string_value(json_object_get(r.json, "Name"));
	snprintf(j->container_id, sizeof(j->container_id), "%s",
		 json_string_value(json_object_get(r.json, "Id")) ?: "");
	snprintf(j->container_name, sizeof(j->container_name), "%s", n && n[0] ? n : name);
	snprintf(j->target, sizeof(j->target), "%s", j->container_id);
	j->pid = (int)json_integer_value(json_object_get(json_object_get(r.json, "State"), "Pid"));
	ctr_opts_release(&o);
	ctr_reply_release(&r);
	return ret;
}

static int podman_src_begin(struct mig_src *m)
{
	struct ctr_reply r;
	enum api_err ae;
	int ret = 0;

	if (inspect_running(m->job->container_id, &r, &ae, m->err, sizeof(m->err)) < 0) {
		m->err_code = "container_gone";
		ret = -ESRCH;
	} else {
		m->job->pid = (int)json_integer_value(
			json_object_get(json_object_get(r.json, "State"), "Pid"));
	}
	ctr_reply_release(&r);
	return ret;
}

static bool podman_src_alive(struct mig_src *m)
{
	struct ctr_reply r;
	enum api_err ae;
	char err[256];
	bool alive = inspect_running(m->job->container_id, &r, &ae, err, sizeof(err)) == 0;

	ctr_reply_release(&r);
	return alive;
}

/* The destination checks for the image and that the id is free there: the restored
 * container keeps its id. */
static int podman_src_facts(struct mig_src *m, json_t *facts)
{
	struct ctr_reply r;
	char path[160], why[256];

	snprintf(path, sizeof(path), API "/containers/%s/json", m->job->container_id);
	if (get(path, &r, why, sizeof(why)) < 0 || r.status != 200) {
		snprintf(m->err, sizeof(m->err), "inspecting container %s: %s",
			 m->job->container_name, r.status ? ctr_reply_error(&r, why, sizeof(why)) :
			 why);
		ctr_reply_release(&r);
		return -EIO;
	}
	json_object_set_new(facts, "container", json_pack("{s:s, s:s}", "id",
							  m->job->container_id, "name",
							  m->job->container_name));
	json_object_set(facts, "image", json_object_get(r.json, "Image"));
	json_object_set(facts, "image_name", json_object_get(r.json, "ImageName"));
	ctr_reply_release(&r);
	return 0;
}

/* CRIU's dump.log of a failed checkpoint is in the container's userdata directory
 * (its StaticDir): say its cause. */
static void explain_dump(struct mig_src *m)
{
	char path[160], why[128];
	struct ctr_reply r;
	const char *dir;
	int fd;

	snprintf(path, sizeof(path), API "/containers/%s/json", m->job->container_id);
	if (get(path, &r, why, sizeof(why)) == 0 && r.status == 200 &&
	    (dir = json_string_value(json_object_get(r.json, "StaticDir"))) && dir[0] == '/' &&
	    (fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		criu_diag_explain(fd, "dump.log", NULL, &m->err_code, m->err, sizeof(m->err));
		close(fd);
	}
	ctr_reply_release(&r);
}

/* Restore container id at this host from the checkpoint Podman kept of it. */
static int restore_in_place(const char *id, char *err, size_t len)
{
	char path[200], why[400];
	struct ctr_reply r;
	int ret;

	snprintf(path, sizeof(path), API "/containers/%s/restore", id);
	ret = ctr_call(sock(), "POST", path, NULL, CTR_LONG_MS, &r, why, sizeof(why));
	if (ret == 0 && r.status != 200) {
		snprintf(err, len, "%s", ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(err, len, "%s", why);
	}
	ctr_reply_release(&r);
	return ret;
}

static int podman_src_checkpoint(struct mig_src *m)
{
	char path[300], file[1100], why[600], rb[500];
	struct ctr_opts o;
	struct ctr_reply r;
	int64_t written = 0;
	int fd, ret;

	ctr_opts_parse(m->job, &o);
	snprintf(path, sizeof(path), API "/containers/%s/checkpoint?export=true%s%s",
		 m->job->container_id, o.tcp_established ? "&tcpEstablished=true" : "",
		 o.file_locks ? "&fileLocks=true" : "");
	ctr_opts_release(&o);
	snprintf(file, sizeof(file), "%s/" ARCHIVE, m->images_dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(m->err, sizeof(m->err), "cannot create %s: %s", file, strerror(errno));
		return -errno;
	}
	/* The archive streams as Podman writes it; on failure the body is an error. */
	ret = ctr_download(sock(), "POST", path, fd, CTR_ARCHIVE_MAX, CTR_LONG_MS, &written, &r,
			   why, sizeof(why));
	close(fd);
	if (ret == 0 && r.status != 200) {
		snprintf(m->err, sizeof(m->err), "Podman could not checkpoint container %s: %s",
			 m->job->container_name, ctr_reply_error(&r, why, sizeof(why)));
		explain_dump(m);
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(m->err, sizeof(m->err), "checkpointing container %s: %s",
			 m->job->container_name, why);
	}
	ctr_reply_release(&r);
	if (ret < 0) {
		/* An archive cut short may still have stopped the container. */
		if (!podman_src_alive(m) && written > 0)
			restore_in_place(m->job->container_id, rb, sizeof(rb));
		return ret;
	}
	if (m->hold(m) == 0)
		return 0;
	if (restore_in_place(m->job->container_id, rb, sizeof(rb)) < 0) {
		size_t off = strlen(m->err);

		snprintf(m->err + off, sizeof(m->err) - off, "%sit could not be restored at the "
			 "source from its checkpoint: %s", off ? "; and " : "", rb);
	}
	return -ECANCELED;
}

static int podman_src_recover(struct mig_src *m)
{
	return restore_in_place(m->job->container_id, m->err, sizeof(m->err));
}

static int podman_src_release(struct mig_src *m)
{
	char path[200], why[256];
	struct ctr_opts o;
	struct ctr_reply r;
	int ret = 0;

	ctr_opts_parse(m->job, &o);
	if (!o.keep_source) {
		snprintf(path, sizeof(path), API "/containers/%s?force=true", m->job->container_id);
		ret = ctr_call(sock(), "DELETE", path, NULL, CTR_CALL_MS, &r, why, sizeof(why));
		if (ret == 0 && r.status != 200 && r.status != 204 && r.status != 404) {
			snprintf(m->err, sizeof(m->err), "removing the source's container: %s",
				 ctr_reply_error(&r, why, sizeof(why)));
			ret = -EIO;
		} else if (ret < 0) {
			snprintf(m->err, sizeof(m->err), "removing the source's container: %s", why);
		}
		ctr_reply_release(&r);
	}
	ctr_opts_release(&o);
	return ret;
}

static int podman_src_image(struct mig_src *m, const char *dir)
{
	char path[600], file[1200], why[400], esc[300];
	struct ctr_reply r;
	const char *img, *name;
	int fd, ret;

	snprintf(path, sizeof(path), API "/containers/%s/json", m->job->container_id);
	if (get(path, &r, why, sizeof(why)) < 0 || r.status != 200 ||
	    !ctr_id_ok(img = json_string_value(json_object_get(r.json, "Image")))) {
		snprintf(m->err, sizeof(m->err), "inspecting the container: %s", why);
		ctr_reply_release(&r);
		return -EIO;
	}
	/* By its name, which the archive then carries: the restore looks the image up
	 * by the name the container was made from. */
	name = json_string_value(json_object_get(r.json, "ImageName"));
	if (name && ctr_escape(name, esc, sizeof(esc)) == 0)
		snprintf(path, sizeof(path), API "/images/%s/get?format=docker-archive", esc);
	else
		snprintf(path, sizeof(path), API "/images/%s/get?format=docker-archive", img);
	ctr_reply_release(&r);
	snprintf(file, sizeof(file), "%s/image.tar", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(m->err, sizeof(m->err), "%s: %s", file, strerror(errno));
		return -errno;
	}
	ret = ctr_download(sock(), "GET", path, fd, CTR_ARCHIVE_MAX, CTR_LONG_MS, NULL, &r, why,
			   sizeof(why));
	close(fd);
	if (ret == 0 && r.status != 200) {
		snprintf(m->err, sizeof(m->err), "Podman could not save the image: %s",
			 ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(m->err, sizeof(m->err), "saving the image: %s", why);
	}
	ctr_reply_release(&r);
	return ret;
}

static int podman_dst_image(struct mig_dst *d, const char *dir)
{
	const char *image = json_string_value(json_object_get(d->facts, "image"));
	char file[1200], path[300], why[400];
	struct ctr_reply r;
	int fd, ret;

	snprintf(file, sizeof(file), "%s/image.tar", dir);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(d->err, sizeof(d->err), "the image did not arrive");
		return -ENOENT;
	}
	ret = ctr_upload(sock(), "POST", API "/images/load", "application/x-tar", fd, CTR_LONG_MS,
			 &r, why, sizeof(why));
	close(fd);
	if (ret == 0 && r.status != 200) {
		snprintf(d->err, sizeof(d->err), "Podman could not load the image: %s",
			 ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(d->err, sizeof(d->err), "loading the image: %s", why);
	}
	ctr_reply_release(&r);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), API "/images/%s/exists", image ?: "-");
	ret = get(path, &r, why, sizeof(why)) == 0 && r.status == 204 ? 0 : -ENOENT;
	ctr_reply_release(&r);
	if (ret < 0) {
		snprintf(d->err, sizeof(d->err), "the image the source sent is not image %s",
			 image ?: "?");
		d->err_code = "image_missing";
	}
	return ret;
}

static int podman_dst_check(struct mig_dst *d, const json_t *facts)
{
	const json_t *ctr = json_object_get(facts, "container");
	const char *id = json_string_value(json_object_get(ctr, "id"));
	const char *name = json_string_value(json_object_get(ctr, "name"));
	const char *image = json_string_value(json_object_get(facts, "image"));
	const char *image_name = json_string_value(json_object_get(facts, "image_name"));
	char path[300], why[300], esc[200];
	struct ctr_reply r;

	if (!id || !name || !ctr_id_ok(image) || !ctr_id_ok(id) ||
	    ctr_escape(name, esc, sizeof(esc)) < 0) {
		snprintf(d->err, sizeof(d->err), "malformed container facts from the source");
		return -EPROTO;
	}
	if (!sock()[0]) {
		snprintf(d->err, sizeof(d->err), "no Podman service is configured at the "
			 "destination (--podman-host)");
		d->err_code = "engine_unavailable";
		return -ENOTCONN;
	}
	if (get(API "/_ping", &r, why, sizeof(why)) < 0 || r.status != 200) {
		snprintf(d->err, sizeof(d->err), "the destination's Podman at %s does not answer: %s",
			 sock(), r.status ? ctr_reply_error(&r, why, sizeof(why)) : why);
		d->err_code = "engine_unavailable";
		ctr_reply_release(&r);
		return -ENOTCONN;
	}
	ctr_reply_release(&r);
	/* Without the image, the restore would try a registry. */
	snprintf(path, sizeof(path), API "/images/%s/exists", image);
	if (get(path, &r, why, sizeof(why)) < 0 || r.status != 204) {
		ctr_reply_release(&r);
		if (!ctr_wants_image(d->job)) {
			snprintf(d->err, sizeof(d->err), "image %s (%s) is not at the destination's "
				 "Podman: load it there first (podman save | podman load), or set "
				 "options.transfer_image", image_name ?: "?", image);
			d->err_code = "image_missing";
			return -ENOENT;
		}
		d->want_image = true;
	}
	ctr_reply_release(&r);
	snprintf(path, sizeof(path), API "/containers/%s/exists", id);
	if (get(path, &r, why, sizeof(why)) == 0 && r.status == 204) {
		snprintf(d->err, sizeof(d->err), "a container with the id %.12s already exists at "
			 "the destination (a restored container keeps its id): remove it there",
			 id);
		d->err_code = "container_exists";
		ctr_reply_release(&r);
		return -EEXIST;
	}
	ctr_reply_release(&r);
	snprintf(path, sizeof(path), API "/containers/%s/exists", esc);
	if (get(path, &r, why, sizeof(why)) == 0 && r.status == 204) {
		snprintf(d->err, sizeof(d->err), "a container named %s already exists at the "
			 "destination: remove or rename it there", name);
		d->err_code = "container_exists";
		ctr_reply_release(&r);
		return -EEXIST;
	}
	ctr_reply_release(&r);
	/* The id it will have; dst_discard removes whatever a failed import left. */
	snprintf(d->job->result_container, sizeof(d->job->result_container), "%s", id);
	snprintf(d->job->container_name, sizeof(d->job->container_name), "%s", name);
	return 0;
}

static int pause_ctr(const char *id, bool pause, char *err, size_t len)
{
	char path[200], why[300];
	struct ctr_reply r;
	int ret;

	snprintf(path, sizeof(path), API "/containers/%s/%s", id, pause ? "pause" : "unpause");
	ret = ctr_call(sock(), "POST", path, NULL, CTR_CALL_MS, &r, why, sizeof(why));
	if (ret == 0 && r.status != 204) {
		snprintf(err, len, "%s: %s", pause ? "pausing" : "unpausing",
			 ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(err, len, "%s: %s", pause ? "pausing" : "unpausing", why);
	}
	ctr_reply_release(&r);
	return ret;
}

static int podman_dst_restore(struct mig_dst *d)
{
	char file[1100], path[300], why[600];
	struct ctr_opts o;
	struct ctr_reply r;
	int fd, ret;

	snprintf(file, sizeof(file), "%s/" ARCHIVE, d->images_dir);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(d->err, sizeof(d->err), "the checkpoint archive did not arrive");
		return -ENOENT;
	}
	ctr_opts_parse(d->job, &o);
	snprintf(path, sizeof(path), API "/containers/import/restore?import=true%s%s",
		 o.tcp_established ? "&tcpEstablished=true" : "",
		 o.file_locks ? "&fileLocks=true" : "");
	ctr_opts_release(&o);
	ret = ctr_upload(sock(), "POST", path, "application/x-tar", fd, CTR_LONG_MS, &r, why,
			 sizeof(why));
	close(fd);
	if (ret == 0 && r.status != 200) {
		snprintf(d->err, sizeof(d->err), "Podman could not restore the container: %s",
			 ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(d->err, sizeof(d->err), "restoring the container: %s", why);
	}
	ctr_reply_release(&r);
	if (ret < 0) {
		/* CRIU's restore.log is in the half-made container's userdata. */
		snprintf(path, sizeof(path), API "/containers/%s/json", d->job->result_container);
		if (get(path, &r, why, sizeof(why)) == 0 && r.status == 200) {
			const char *dir = json_string_value(json_object_get(r.json, "StaticDir"));
			int dfd = dir && dir[0] == '/' ?
				  open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

			if (dfd >= 0) {
				struct criu_diag_ctx ctx = { .images_fd = -1,
							     .same_netns = d->same_netns };

				criu_diag_explain(dfd, "restore.log", &ctx, &d->err_code, d->err,
						  sizeof(d->err));
				close(dfd);
			}
		}
		ctr_reply_release(&r);
		return ret;
	}
	ret = pause_ctr(d->job->result_container, true, d->err, sizeof(d->err));
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), API "/containers/%s/json", d->job->result_container);
	if (get(path, &r, why, sizeof(why)) == 0 && r.status == 200)
		d->restored = (pid_t)json_integer_value(json_object_get(json_object_get(r.json,
										 "State"), "Pid"));
	ctr_reply_release(&r);
	if (d->restored <= 0) {
		snprintf(d->err, sizeof(d->err), "the restored container has no process");
		return -ESRCH;
	}
	return 0;
}

static int podman_dst_resume(struct mig_dst *d)
{
	return pause_ctr(d->job->result_container, false, d->err, sizeof(d->err));
}

static int podman_dst_discard(struct mig_dst *d)
{
	char path[200], why[256];
	struct ctr_reply r;

	if (!d->job->result_container[0] || !sock()[0])
		return 0;
	snprintf(path, sizeof(path), API "/containers/%s?force=true", d->job->result_container);
	ctr_call(sock(), "DELETE", path, NULL, CTR_CALL_MS, &r, why, sizeof(why));
	ctr_reply_release(&r);
	return 0;
}

#define HEALTH_MS 2000

static json_t *podman_health(void)
{
	const json_t *rt;
	const char *name, *ver;
	struct ctr_reply r;
	char why[300];
	json_t *o;
	bool can;

	if (!sock()[0])
		return json_pack("{s:n, s:b, s:b, s:s}", "host", "reachable", 0, "checkpoint", 0,
				 "why", "not configured (--podman-host)");
	if (ctr_call(sock(), "GET", API "/info", NULL, HEALTH_MS, &r, why, sizeof(why)) < 0 ||
	    r.status != 200) {
		if (r.status)
			ctr_reply_error(&r, why, sizeof(why));
		o = json_pack("{s:s, s:b, s:b, s:s}", "host", sock(), "reachable", 0,
			      "checkpoint", 0, "why", why);
		ctr_reply_release(&r);
		return o;
	}
	rt = json_object_get(json_object_get(r.json, "host"), "ociRuntime");
	name = json_string_value(json_object_get(rt, "name")) ?: "";
	ver = json_string_value(json_object_get(rt, "version")) ?: "";
	/* runc checkpoints with CRIU; crun only when built with it (Debian's is not). */
	can = strcmp(name, "runc") == 0 || strstr(ver, "+CRIU");
	o = json_pack("{s:s, s:b, s:s?, s:s, s:b, s:s?}", "host", sock(), "reachable", 1,
		      "version", json_string_value(json_object_get(json_object_get(r.json,
							"version"), "Version")),
		      "runtime", name, "checkpoint", can,
		      "why", can ? NULL : "its OCI runtime has no CRIU support: set runtime = "
					  "\"runc\" in containers.conf");
	ctr_reply_release(&r);
	return o;
}

/* The running containers (the list's default), for the form of the dashboard. */
static json_t *podman_containers(size_t max)
{
	struct ctr_reply r;
	char why[300];
	json_t *o;

	if (!sock()[0])
		return ctr_list_unreachable("not configured (--podman-host)");
	if (ctr_call(sock(), "GET", API "/containers/json", NULL, HEALTH_MS, &r, why, sizeof(why)) < 0 ||
	    r.status != 200 || !json_is_array(r.json)) {
		if (r.status)
			ctr_reply_error(&r, why, sizeof(why));
		o = ctr_list_unreachable(why);
	} else {
		o = ctr_list_json(r.json, max);
	}
	ctr_reply_release(&r);
	return o;
}

const struct mig_ops mig_podman_ops = {
	.type = "podman",
	.strategy_reason = "Podman checkpoints the container into one archive (memory, "
			   "configuration, file system changes, log) and stops it; the archive "
			   "travels and the destination's Podman restores the container from it",
	.target_field = "container",
	.page_stream = false,
	.lazy = false,
	.validate = podman_validate,
	.src_begin = podman_src_begin,
	.src_alive = podman_src_alive,
	.src_release = podman_src_release,
	.src_recover = podman_src_recover,
	.src_facts = podman_src_facts,
	.src_checkpoint = podman_src_checkpoint,
	.src_image = podman_src_image,
	.dst_image = podman_dst_image,
	.dst_check = podman_dst_check,
	.dst_restore = podman_dst_restore,
	.dst_resume = podman_dst_resume,
	.dst_discard = podman_dst_discard,
	.health = podman_health,
	.containers = podman_containers,
};
