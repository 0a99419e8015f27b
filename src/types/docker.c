/* docker.c: migration type "docker": a container of the Docker engine, moved through
 * its Engine API (v1.41, over its unix socket) so that the destination's Docker owns
 * it afterwards.
 *
 * Source: the engine checkpoints the container into the job's images directory and
 * stops it (its CRIU images plus runc's descriptors.json); what the container wrote
 * into its own file system goes along as tars of the changed paths and a list of the
 * deleted ones. Destination: before the source stops anything, the same container is
 * created from the source's configuration and image; then the checkpoint is placed
 * in that container's own checkpoint directory (Docker restores from nowhere else),
 * the file system changes are put into it, it is started from the checkpoint and
 * paused at once, and the commit unpauses it. A failure before the commit removes
 * the destination's container and starts the source's again from its checkpoint. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ctr.h"
#include "ctr_type.h"
#include "log.h"
#include "peer.h"
#include "util.h"

#define API            "/v1.41"
#define CHANGES_MAX    4096          /* paths of a writable layer hauld replays */
#define FACTS_MAX      (48 * 1024)   /* the configuration must fit a peer message */
#define ROOTFS_LIST    "hauld-rootfs.json"
#define HAULD_PREFIX   "hauld-"

static const char *sock(void)
{
	return ctr_config()->docker_sock;
}

/* The checkpoint's name in a container's own checkpoint directory. */
static void cp_name(const struct job *j, char *out, size_t len)
{
	snprintf(out, len, "hauld-%.8s", j->id);
}

/* GET API path into r; -errno with err when there is no answer. */
static int get(const char *path, struct ctr_reply *r, char *err, size_t len)
{
	return ctr_call(sock(), "GET", path, NULL, CTR_CALL_MS, r, err, len);
}

/* The inspect of container name, running; else -1 with the sentence in err and the
 * API error in *ae. */
static int inspect_running(const char *name, struct ctr_reply *r, enum api_err *ae,
			   char *err, size_t len)
{
	char path[160], why[256];
	const json_t *state;

	snprintf(path, sizeof(path), API "/containers/%s/json", name);
	*ae = AE_BAD_VALUE;
	if (get(path, r, why, sizeof(why)) < 0) {
		snprintf(err, len, "the Docker engine at %s does not answer (%s): start it, or "
			 "point hauld at it with --docker-host", sock(), why);
		return -1;
	}
	if (r->status == 404) {
		*ae = AE_NOT_FOUND;
		snprintf(err, len, "no Docker container %s at %s", name, sock());
		return -1;
	}
	if (r->status != 200 || !json_is_object(r->json)) {
		snprintf(err, len, "Docker at %s: %s", sock(), ctr_reply_error(r, why, sizeof(why)));
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

/* The mounts of an inspect that do not move with the container and are not declared
 * shared, as a sentence in out; 0 when there is none. */
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
						dst, type, name ? name : src ? src : "?");
		n++;
	}
	return (int)n;
}

static int docker_validate(const json_t *body, struct job *j, struct mig_problem *p)
{
	struct ctr_reply r;
	struct ctr_opts o;
	char name[80], err[512], blocking[300];
	enum api_err ae;
	int ret = 0;

	if (ctr_target_field(body, name, sizeof(name), p) < 0)
		return -1;
	if (!sock()[0])
		return ctr_problem(p, AE_BAD_VALUE, "the Docker engine is not configured: start "
				   "hauld with --docker-host unix:///PATH");
	if (inspect_running(name, &r, &ae, err, sizeof(err)) < 0) {
		ctr_reply_release(&r);
		return ctr_problem(p, ae, "%s", err);
	}
	ctr_opts_parse(j, &o);
	if (o.tcp_established || o.file_locks) {
		/* Docker's checkpoint API takes neither. */
		ret = ctr_problem(p, AE_BAD_VALUE, "Docker's checkpoint has no option for %s: "
				  "let the container's connections close (or its locks go) first, "
				  "or run it with Podman", o.tcp_established ? "established TCP "
				  "connections" : "file locks");
		snprintf(p->field, sizeof(p->field), "options.%s",
			 o.tcp_established ? "tcp_established" : "file_locks");
	} else if (mounts_blocking(r.json, &o, blocking, sizeof(blocking)) > 0)
		ret = ctr_problem(p, AE_BAD_VALUE, "container %s has mounts that do not move with "
				  "it: %s; when both hosts see them the same, declare them in "
				  "options.shared_paths (their source paths or volume names)", name,
				  blocking);
	snprintf(j->container_id, sizeof(j->container_id), "%s",
		 json_string_value(json_object_get(r.json, "Id")) ?: "");
	{
		/* Docker names its containers "/NAME". */
		const char *n = json_string_value(json_object_get(r.json, "Name"));

		if (!n || !n[0])
			n = name;
		snprintf(j->container_name, sizeof(j->container_name), "%s", n + (n[0] == '/'));
	}
	snprintf(j->target, sizeof(j->target), "%s", j->container_id);
	j->pid = (int)json_integer_value(json_object_get(json_object_get(r.json, "State"), "Pid"));
	ctr_opts_release(&o);
	ctr_reply_release(&r);
	return ret;
}

static int docker_src_begin(struct mig_src *m)
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

static bool docker_src_alive(struct mig_src *m)
{
	struct ctr_reply r;
	enum api_err ae;
	char err[256];
	bool alive = inspect_running(m->job->container_id, &r, &ae, err, sizeof(err)) == 0;

	ctr_reply_release(&r);
	return alive;
}

/* What the destination needs to create the same container: its configuration and
 * host configuration as the engine reports them, and its image. */
static int docker_src_facts(struct mig_src *m, json_t *facts)
{
	struct ctr_reply r;
	char path[160], why[256], *text;
	const json_t *cfg;
	size_t len;

	snprintf(path, sizeof(path), API "/containers/%s/json", m->job->container_id);
	if (get(path, &r, why, sizeof(why)) < 0 || r.status != 200) {
		snprintf(m->err, sizeof(m->err), "inspecting container %s: %s",
			 m->job->container_name, r.status ? ctr_reply_error(&r, why, sizeof(why)) :
			 why);
		ctr_reply_release(&r);
		return -EIO;
	}
	cfg = json_object_get(r.json, "Config");
	json_object_set_new(facts, "container", json_pack("{s:s, s:s}", "id",
							  m->job->container_id, "name",
							  m->job->container_name));
	json_object_set(facts, "image", json_object_get(r.json, "Image"));
	json_object_set(facts, "image_name", json_object_get(cfg, "Image"));
	json_object_set(facts, "config", (json_t *)cfg);
	json_object_set(facts, "host_config", json_object_get(r.json, "HostConfig"));
	ctr_reply_release(&r);
	text = json_dumps(facts, JSON_COMPACT);
	len = text ? strlen(text) : 0;
	free(text);
	if (len > FACTS_MAX) {
		snprintf(m->err, sizeof(m->err), "container %s's configuration is %zu bytes, more "
			 "than the %d a migration carries", m->job->container_name, len, FACTS_MAX);
		return -E2BIG;
	}
	return 0;
}

/* One changed path of the writable layer. */
struct change {
	char *path;
	int kind;             /* 0 modified, 1 added, 2 deleted */
};

static int change_cmp(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path, ((const struct change *)b)->path);
}

/* true when path lies below dir (dir itself excluded). */
static bool below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || (n == 1 && dir[0] == '/'));
}

/* The mode bits of a path in the container (GET /archive's header, HEAD), -1 when
 * unknown. Docker sends the stat as base64 JSON; only the directory bit matters. */
static int path_is_dir(const char *id, const char *path)
{
	char url[4200], esc[4096], err[128];
	unsigned char raw[1024];
	struct ctr_reply r;
	json_t *st;
	size_t n;
	int dir = -1;

	if (ctr_escape(path, esc, sizeof(esc)) < 0)
		return -1;
	snprintf(url, sizeof(url), API "/containers/%s/archive?path=%s", id, esc);
	if (ctr_call_hdr(sock(), "HEAD", url, "X-Docker-Container-Path-Stat", CTR_CALL_MS, &r,
			 err, sizeof(err)) == 0 && r.status == 200 &&
	    base64_decode(r.header, raw, sizeof(raw) - 1, &n) == 0) {
		raw[n] = '\0';
		st = json_loads((char *)raw, 0, NULL);
		/* Go's os.FileMode: ModeDir is the top bit. */
		if (json_is_integer(json_object_get(st, "mode")))
			dir = (json_integer_value(json_object_get(st, "mode")) >> 31) & 1;
		json_decref(st);
	}
	ctr_reply_release(&r);
	return dir;
}

/* The container's changes to its image's file system, into the images directory: a
 * tar of each top-most added or changed file or directory (hauld-rootfs-N.tar, to be
 * put into its parent directory at the destination) and the list of them and of the
 * deleted paths (hauld-rootfs.json). The container is stopped: nothing changes. */
static int rootfs_collect(struct mig_src *m)
{
	char path[200], url[4200], esc[4096], why[256], name[64], file[1100];
	struct change *ch = NULL;
	json_t *puts = json_array(), *dels = json_array(), *list = NULL;
	const char *kept = NULL;
	struct ctr_reply r;
	size_t n = 0, i;
	int ret = 0, k = 0;
	json_t *v;

	snprintf(path, sizeof(path), API "/containers/%s/changes", m->job->container_id);
	if (get(path, &r, why, sizeof(why)) < 0 || r.status != 200) {
		snprintf(m->err, sizeof(m->err), "listing the container's file system changes: %s",
			 r.status ? ctr_reply_error(&r, why, sizeof(why)) : why);
		ret = -EIO;
		goto out;
	}
	if (json_array_size(r.json) > CHANGES_MAX) {
		snprintf(m->err, sizeof(m->err), "the container changed %zu paths of its file "
			 "system, more than the %d hauld moves: keep its data in a shared "
			 "volume (options.shared_paths)", json_array_size(r.json), CHANGES_MAX);
		ret = -E2BIG;
		goto out;
	}
	ch = calloc(json_array_size(r.json) + 1, sizeof(*ch));
	if (!ch || !puts || !dels) {
		snprintf(m->err, sizeof(m->err), "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	json_array_foreach(r.json, i, v) {
		const char *p = json_string_value(json_object_get(v, "Path"));

		if (!p || p[0] != '/' || strlen(p) >= 4000)
			continue;
		ch[n].path = strdup(p);
		ch[n].kind = (int)json_integer_value(json_object_get(v, "Kind"));
		if (ch[n].path)
			n++;
	}
	qsort(ch, n, sizeof(*ch), change_cmp);
	for (i = 0; i < n && ret == 0; i++) {
		int fd;

		if (kept && below(ch[i].path, kept))
			continue;      /* inside a directory that goes whole */
		if (ch[i].kind == 2) {
			json_array_append_new(dels, json_string(ch[i].path));
			kept = ch[i].path;
			continue;
		}
		/* A changed directory is listed for its children, which are listed too. */
		if (ch[i].kind == 0 && path_is_dir(m->job->container_id, ch[i].path) == 1)
			continue;
		if (ctr_escape(ch[i].path, esc, sizeof(esc)) < 0)
			continue;
		snprintf(name, sizeof(name), HAULD_PREFIX "rootfs-%d.tar", k++);
		snprintf(file, sizeof(file), "%s/%s", m->images_dir, name);
		snprintf(url, sizeof(url), API "/containers/%s/archive?path=%s",
			 m->job->container_id, esc);
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = -errno;
			break;
		}
		ctr_reply_release(&r);
		ret = ctr_download(sock(), "GET", url, fd, CTR_ARCHIVE_MAX, CTR_LONG_MS, NULL, &r,
				   why, sizeof(why));
		close(fd);
		if (ret == 0 && r.status != 200) {
			ctr_reply_error(&r, why, sizeof(why));
			ret = -EIO;
		}
		if (ret < 0) {
			snprintf(m->err, sizeof(m->err), "copying %s out of the container: %s",
				 ch[i].path, why);
			break;
		}
		{
			char dir[4000];
			char *slash;

			snprintf(dir, sizeof(dir), "%s", ch[i].path);
			slash = strrchr(dir, '/');
			if (slash == dir)
				slash[1] = '\0';
			else if (slash)
				*slash = '\0';
			json_array_append_new(puts, json_pack("{s:s, s:s}", "dir", dir, "tar", name));
		}
		kept = ch[i].path;
	}
	if (ret == 0) {
		int fd;
		char *text;

		list = json_pack("{s:O, s:O}", "put", puts, "deleted", dels);
		text = json_dumps(list, JSON_COMPACT);
		snprintf(file, sizeof(file), "%s/" ROOTFS_LIST, m->images_dir);
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ret = fd < 0 || !text ? -EIO : write_full(fd, text, strlen(text));
		if (fd >= 0)
			close(fd);
		free(text);
		if (ret < 0)
			snprintf(m->err, sizeof(m->err), "writing the list of file system changes");
	}
out:
	for (i = 0; ch && i < n; i++)
		free(ch[i].path);
	free(ch);
	json_decref(list);
	json_decref(puts);
	json_decref(dels);
	ctr_reply_release(&r);
	return ret;
}

/* The engine's DockerRootDir, where a container's own checkpoints live. */
static int root_dir(char *out, size_t len, char *err, size_t errlen)
{
	struct ctr_reply r;
	const char *dir;
	int ret = -EIO;

	if (get(API "/info", &r, err, errlen) == 0 && r.status == 200 &&
	    (dir = json_string_value(json_object_get(r.json, "DockerRootDir"))) && dir[0] == '/') {
		snprintf(out, len, "%s", dir);
		ret = 0;
	} else if (r.status) {
		char why[300];

		snprintf(err, errlen, "GET /info: %s", ctr_reply_error(&r, why, sizeof(why)));
	}
	ctr_reply_release(&r);
	return ret;
}

/* Start container id from the checkpoint files in dir: placed in its own checkpoint
 * directory first, which is the only one Docker restores from. */
static int start_from(const char *id, const char *dir, const char *cp, char *err, size_t len)
{
	char root[512], to[1200], path[300], why[400];
	struct ctr_reply r;
	int ret;

	ret = root_dir(root, sizeof(root), err, len);
	if (ret < 0)
		return ret;
	snprintf(to, sizeof(to), "%s/containers/%s/checkpoints/%s", root, id, cp);
	rm_rf(to);
	ret = ctr_files_place(dir, to, HAULD_PREFIX);
	if (ret < 0) {
		snprintf(err, len, "placing the checkpoint in %s: %s", to, strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), API "/containers/%s/start?checkpoint=%s", id, cp);
	ret = ctr_call(sock(), "POST", path, NULL, CTR_LONG_MS, &r, why, sizeof(why));
	if (ret == 0 && r.status != 204 && r.status != 304) {
		snprintf(err, len, "Docker could not start the container from its checkpoint: %s",
			 ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(err, len, "starting the container from its checkpoint: %s", why);
	}
	ctr_reply_release(&r);
	/* Docker keeps a checkpoint until it is deleted; the images are the job's. */
	snprintf(path, sizeof(path), API "/containers/%s/checkpoints/%s", id, cp);
	ctr_call(sock(), "DELETE", path, NULL, CTR_CALL_MS, &r, why, sizeof(why));
	ctr_reply_release(&r);
	if (ret < 0)
		rm_rf(to);
	return ret;
}

static int docker_src_checkpoint(struct mig_src *m)
{
	struct ctr_opts o;
	struct ctr_reply r;
	char path[1200], why[600], rb[600];
	json_t *body;
	int ret;

	/* Into the job's own directory (Docker makes jobs/<id>/ckpt, and refuses one that
	 * exists), then next to the rest of what hold() sends. */
	ctr_opts_parse(m->job, &o);
	body = json_pack("{s:s, s:s, s:b}", "CheckpointID", "ckpt", "CheckpointDir", m->job_dir,
			 "Exit", 1);
	snprintf(path, sizeof(path), API "/containers/%s/checkpoints", m->job->container_id);
	ret = ctr_call(sock(), "POST", path, body, CTR_LONG_MS, &r, why, sizeof(why));
	json_decref(body);
	if (ret == 0 && r.status != 201 && r.status != 200 && r.status != 204) {
		snprintf(m->err, sizeof(m->err), "Docker could not checkpoint container %s: %s",
			 m->job->container_name, ctr_reply_error(&r, why, sizeof(why)));
		ctr_explain_message(ctr_reply_error(&r, why, sizeof(why)), &m->err_code, m->err,
				    sizeof(m->err));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(m->err, sizeof(m->err), "checkpointing container %s: %s",
			 m->job->container_name, why);
	}
	ctr_reply_release(&r);
	ctr_opts_release(&o);
	if (ret < 0)
		return ret;      /* the container still runs: CRIU resumed it */

	snprintf(path, sizeof(path), "%s/ckpt", m->job_dir);
	ret = ctr_files_place(path, m->images_dir, NULL);
	if (ret < 0)
		snprintf(m->err, sizeof(m->err), "moving the checkpoint into the job's images: %s",
			 strerror(-ret));
	rm_rf(path);
	if (ret == 0)
		ret = rootfs_collect(m);
	if (ret == 0 && m->hold(m) == 0)
		return 0;
	/* The engine stopped the container: it runs again from its own checkpoint. */
	if (ret == 0)
		snprintf(m->err, sizeof(m->err), "the destination could not run it");
	if (start_from(m->job->container_id, m->images_dir, "hauld-rollback", rb,
		       sizeof(rb)) < 0) {
		size_t off = strlen(m->err);

		snprintf(m->err + off, sizeof(m->err) - off, "; and it could not be started again "
			 "at the source from its checkpoint: %s", rb);
	}
	return ret < 0 ? ret : -ECANCELED;
}

static int docker_src_recover(struct mig_src *m)
{
	return start_from(m->job->container_id, m->images_dir, "hauld-rollback", m->err,
			  sizeof(m->err));
}

static int docker_src_release(struct mig_src *m)
{
	struct ctr_opts o;
	struct ctr_reply r;
	char path[200], why[256];
	int ret = 0;

	ctr_opts_parse(m->job, &o);
	if (!o.keep_source) {
		snprintf(path, sizeof(path), API "/containers/%s?force=true", m->job->container_id);
		ret = ctr_call(sock(), "DELETE", path, NULL, CTR_CALL_MS, &r, why, sizeof(why));
		if (ret == 0 && r.status != 204 && r.status != 404) {
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

/* Create, not start, the source's container here from its configuration and host
 * configuration, by its image's id (its name may mean another image here). */
static int create(struct mig_dst *d)
{
	const json_t *facts = d->facts;
	const char *image = json_string_value(json_object_get(facts, "image"));
	const char *name = json_string_value(json_object_get(json_object_get(facts, "container"),
							  "name"));
	char path[300], why[400], esc[200];
	struct ctr_reply r;
	json_t *body;
	int ret;

	if (!image || !name || ctr_escape(name, esc, sizeof(esc)) < 0)
		return -EPROTO;
	body = json_deep_copy(json_object_get(facts, "config"));
	json_object_set_new(body, "Image", json_string(image));
	json_object_set(body, "HostConfig", json_object_get(facts, "host_config"));
	snprintf(path, sizeof(path), API "/containers/create?name=%s", esc);
	ret = ctr_call(sock(), "POST", path, body, CTR_CALL_MS, &r, why, sizeof(why));
	json_decref(body);
	if (ret == 0 && (r.status != 201 || !json_string_value(json_object_get(r.json, "Id")))) {
		snprintf(d->err, sizeof(d->err), "Docker could not create the container at the "
			 "destination: %s", ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(d->err, sizeof(d->err), "creating the container: %s", why);
	} else {
		snprintf(d->job->result_container, sizeof(d->job->result_container), "%s",
			 json_string_value(json_object_get(r.json, "Id")));
		snprintf(d->job->container_name, sizeof(d->job->container_name), "%s", name);
	}
	ctr_reply_release(&r);
	return ret;
}

/* Destination: the engine is there, in experimental mode (Docker restores
 * checkpoints only then), the image is there, the name is free; then the container
 * is created, not started. */
static int docker_dst_check(struct mig_dst *d, const json_t *facts)
{
	const char *image = json_string_value(json_object_get(facts, "image"));
	const char *image_name = json_string_value(json_object_get(facts, "image_name"));
	const char *name = json_string_value(json_object_get(json_object_get(facts, "container"),
							  "name"));
	const json_t *cfg = json_object_get(facts, "config");
	char path[400], why[400], esc[200];
	struct ctr_reply r;
	int ret;

	/* A peer's facts go into request paths: the image id must be one, not a path. */
	if (!image || !name || !json_is_object(cfg) || strlen(name) > 64 ||
	    ctr_escape(name, esc, sizeof(esc)) < 0 || !ctr_id_ok(image)) {
		snprintf(d->err, sizeof(d->err), "malformed container facts from the source");
		return -EPROTO;
	}
	if (!sock()[0]) {
		snprintf(d->err, sizeof(d->err), "no Docker engine is configured at the "
			 "destination (--docker-host)");
		d->err_code = "engine_unavailable";
		return -ENOTCONN;
	}
	if (get(API "/info", &r, why, sizeof(why)) < 0 || r.status != 200) {
		snprintf(d->err, sizeof(d->err), "the destination's Docker at %s does not answer: %s",
			 sock(), r.status ? ctr_reply_error(&r, why, sizeof(why)) : why);
		d->err_code = "engine_unavailable";
		ctr_reply_release(&r);
		return -ENOTCONN;
	}
	if (!json_is_true(json_object_get(r.json, "ExperimentalBuild"))) {
		snprintf(d->err, sizeof(d->err), "the destination's Docker does not run in "
			 "experimental mode, without which it restores no checkpoint: set "
			 "\"experimental\": true in its daemon.json");
		d->err_code = "engine_unavailable";
		ctr_reply_release(&r);
		return -ENOTSUP;
	}
	ctr_reply_release(&r);
	snprintf(path, sizeof(path), API "/containers/%s/json", esc);
	if (get(path, &r, why, sizeof(why)) == 0 && r.status == 200) {
		snprintf(d->err, sizeof(d->err), "a container named %s already exists at the "
			 "destination: remove or rename it there", name);
		d->err_code = "container_exists";
		ctr_reply_release(&r);
		return -EEXIST;
	}
	ctr_reply_release(&r);
	snprintf(path, sizeof(path), API "/images/%s/json", image);
	ret = get(path, &r, why, sizeof(why)) == 0 && r.status == 200 ? 0 : -ENOENT;
	ctr_reply_release(&r);
	if (ret == 0)
		return create(d);
	if (ctr_wants_image(d->job)) {
		/* The source sends it before it stops anything; create() follows. */
		d->want_image = true;
		return 0;
	}
	snprintf(d->err, sizeof(d->err), "image %s (%s) is not at the destination's Docker: "
		 "load it there first (docker save | docker load), or set "
		 "options.transfer_image", image_name ?: "?", image);
	d->err_code = "image_missing";
	return -ENOENT;
}

static int docker_src_image(struct mig_src *m, const char *dir)
{
	char path[300], file[1200], why[400], esc[200];
	struct ctr_reply r;
	int fd, ret;

	/* By name when the container's image still has it (docker load keeps tags), by
	 * id otherwise. */
	snprintf(path, sizeof(path), API "/containers/%s/json", m->job->container_id);
	if (get(path, &r, why, sizeof(why)) < 0 || r.status != 200) {
		snprintf(m->err, sizeof(m->err), "inspecting the container: %s", why);
		ctr_reply_release(&r);
		return -EIO;
	}
	if (ctr_escape(json_string_value(json_object_get(r.json, "Image")) ?: "", esc,
		       sizeof(esc)) < 0) {
		ctr_reply_release(&r);
		return -EINVAL;
	}
	ctr_reply_release(&r);
	snprintf(path, sizeof(path), API "/images/get?names=%s", esc);
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
		snprintf(m->err, sizeof(m->err), "Docker could not save the image: %s",
			 ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(m->err, sizeof(m->err), "saving the image: %s", why);
	}
	ctr_reply_release(&r);
	return ret;
}

static int docker_dst_image(struct mig_dst *d, const char *dir)
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
	ret = ctr_upload(sock(), "POST", API "/images/load?quiet=1", "application/x-tar", fd,
			 CTR_LONG_MS, &r, why, sizeof(why));
	close(fd);
	if (ret == 0 && r.status != 200) {
		snprintf(d->err, sizeof(d->err), "Docker could not load the image: %s",
			 ctr_reply_error(&r, why, sizeof(why)));
		ret = -EIO;
	} else if (ret < 0) {
		snprintf(d->err, sizeof(d->err), "loading the image: %s", why);
	}
	ctr_reply_release(&r);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), API "/images/%s/json", image ?: "-");
	if (get(path, &r, why, sizeof(why)) < 0 || r.status != 200) {
		snprintf(d->err, sizeof(d->err), "the image the source sent is not image %s",
			 image ?: "?");
		d->err_code = "image_missing";
		ctr_reply_release(&r);
		return -ENOENT;
	}
	ctr_reply_release(&r);
	return create(d);
}

/* Deleted paths come back as overlay whiteouts (a 0:0 character device) in the
 * created container's upper directory: Docker's API can add files, not remove them. */
static int whiteouts(struct mig_dst *d, const json_t *dels)
{
	char path[200], why[256], file[4600];
	const char *upper;
	struct ctr_reply r;
	size_t i;
	json_t *v;
	int ret = 0;

	if (json_array_size(dels) == 0)
		return 0;
	snprintf(path, sizeof(path), API "/containers/%s/json", d->job->result_container);
	if (get(path, &r, why, sizeof(why)) < 0 || r.status != 200)
		ret = -EIO;
	upper = json_string_value(json_object_get(json_object_get(json_object_get(
			r.json, "GraphDriver"), "Data"), "UpperDir"));
	if (ret == 0 && (!upper || upper[0] != '/' ||
			 strcmp(json_string_value(json_object_get(json_object_get(
				 r.json, "GraphDriver"), "Name")) ?: "", "overlay2") != 0)) {
		snprintf(d->err, sizeof(d->err), "the container deleted files of its image, and "
			 "the destination's Docker does not use overlay2, where hauld can delete "
			 "them too");
		ret = -ENOTSUP;
	}
	json_array_foreach(dels, i, v) {
		const char *p = json_string_value(v);
		char *slash;

		if (ret < 0)
			break;
		if (!p || p[0] != '/' || strstr(p, "/../") || strlen(p) > 4000)
			continue;
		snprintf(file, sizeof(file), "%s%s", upper, p);
		slash = strrchr(file, '/');
		*slash = '\0';
		mkdir_p(file, 0755);
		*slash = '/';
		rm_rf(file);
		if (mknod(file, S_IFCHR | 0600, makedev(0, 0)) < 0) {
			snprintf(d->err, sizeof(d->err), "deleting %s in the container: %s", p,
				 strerror(errno));
			ret = -errno;
		}
	}
	ctr_reply_release(&r);
	return ret;
}

/* Put the source's file system changes into the created container. */
static int rootfs_apply(struct mig_dst *d)
{
	char file[1100], url[4300], esc[4096], why[400], *text = NULL;
	const json_t *puts, *dels;
	struct ctr_reply r;
	size_t len, i;
	json_t *list, *v;
	int ret = 0;

	snprintf(file, sizeof(file), "%s/" ROOTFS_LIST, d->images_dir);
	if (file_read_all(file, 4 << 20, &text, &len) < 0)
		return 0;      /* nothing changed */
	list = json_loadb(text, len, 0, NULL);
	free(text);
	puts = json_object_get(list, "put");
	dels = json_object_get(list, "deleted");
	json_array_foreach(puts, i, v) {
		const char *dir = json_string_value(json_object_get(v, "dir"));
		const char *tar = json_string_value(json_object_get(v, "tar"));
		int fd;

		if (!dir || !tar || dir[0] != '/' || !peer_name_ok(tar) ||
		    strncmp(tar, HAULD_PREFIX "rootfs-", 13) != 0 ||
		    ctr_escape(dir, esc, sizeof(esc)) < 0) {
			snprintf(d->err, sizeof(d->err), "malformed list of file system changes");
			ret = -EPROTO;
			break;
		}
		snprintf(file, sizeof(file), "%s/%s", d->images_dir, tar);
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			snprintf(d->err, sizeof(d->err), "%s is missing", tar);
			break;
		}
		snprintf(url, sizeof(url), API "/containers/%s/archive?path=%s",
			 d->job->result_container, esc);
		ret = ctr_upload(sock(), "PUT", url, "application/x-tar", fd, CTR_LONG_MS, &r, why,
				 sizeof(why));
		close(fd);
		if (ret == 0 && r.status != 200) {
			snprintf(d->err, sizeof(d->err), "putting the container's files into %s: %s",
				 dir, ctr_reply_error(&r, why, sizeof(why)));
			ret = -EIO;
		} else if (ret < 0) {
			snprintf(d->err, sizeof(d->err), "putting the container's files: %s", why);
		}
		ctr_reply_release(&r);
		if (ret < 0)
			break;
	}
	if (ret == 0 && !json_is_array(dels) && dels) {
		snprintf(d->err, sizeof(d->err), "malformed list of file system changes");
		ret = -EPROTO;
	}
	if (ret == 0)
		ret = whiteouts(d, dels);
	json_decref(list);
	return ret;
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

static int docker_dst_restore(struct mig_dst *d)
{
	char cp[32], path[200], why[256];
	struct ctr_reply r;
	int ret;

	if (!d->job->result_container[0]) {
		snprintf(d->err, sizeof(d->err), "no container was created for the restore");
		return -ENOENT;
	}
	/* On the host's network the container takes this host's ports. */
	if (strcmp(json_string_value(json_object_get(json_object_get(d->facts, "host_config"),
						      "NetworkMode")) ?: "", "host") == 0) {
		ret = mig_dst_ports_free(d);
		if (ret < 0)
			return ret;
	}
	ret = rootfs_apply(d);
	if (ret < 0)
		return ret;
	cp_name(d->job, cp, sizeof(cp));
	ret = start_from(d->job->result_container, d->images_dir, cp, d->err, sizeof(d->err));
	if (ret < 0) {
		ctr_explain_message(d->err, &d->err_code, d->err, sizeof(d->err));
		return ret;
	}
	/* It runs: hold it until the source commits. */
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

static int docker_dst_resume(struct mig_dst *d)
{
	return pause_ctr(d->job->result_container, false, d->err, sizeof(d->err));
}

static int docker_dst_discard(struct mig_dst *d)
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

static json_t *docker_health(void)
{
	struct ctr_reply r;
	char why[300];
	json_t *o;
	bool exp;

	if (!sock()[0])
		return json_pack("{s:n, s:b, s:b, s:s}", "host", "reachable", 0, "checkpoint", 0,
				 "why", "not configured (--docker-host)");
	if (ctr_call(sock(), "GET", API "/info", NULL, HEALTH_MS, &r, why, sizeof(why)) < 0 ||
	    r.status != 200) {
		if (r.status)
			ctr_reply_error(&r, why, sizeof(why));
		o = json_pack("{s:s, s:b, s:b, s:s}", "host", sock(), "reachable", 0,
			      "checkpoint", 0, "why", why);
		ctr_reply_release(&r);
		return o;
	}
	exp = json_is_true(json_object_get(r.json, "ExperimentalBuild"));
	o = json_pack("{s:s, s:b, s:s?, s:b, s:s?, s:b, s:s?}", "host", sock(), "reachable", 1,
		      "version", json_string_value(json_object_get(r.json, "ServerVersion")),
		      "experimental", exp,
		      "runtime", json_string_value(json_object_get(r.json, "DefaultRuntime")),
		      "checkpoint", exp,
		      "why", exp ? NULL : "Docker checkpoints only in experimental mode: set "
				       "\"experimental\": true in its daemon.json");
	ctr_reply_release(&r);
	return o;
}

/* The running containers (the list's default), for the form of the dashboard. */
static json_t *docker_containers(size_t max)
{
	struct ctr_reply r;
	char why[300];
	json_t *o;

	if (!sock()[0])
		return ctr_list_unreachable("not configured (--docker-host)");
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

const struct mig_ops mig_docker_ops = {
	.type = "docker",
	.strategy_reason = "Docker checkpoints the container into files and stops it; they "
			   "travel with its file system changes, and the destination's Docker "
			   "restores it into a container made from the same configuration",
	.target_field = "container",
	.page_stream = false,
	.lazy = false,
	.validate = docker_validate,
	.src_begin = docker_src_begin,
	.src_alive = docker_src_alive,
	.src_release = docker_src_release,
	.src_recover = docker_src_recover,
	.src_facts = docker_src_facts,
	.src_checkpoint = docker_src_checkpoint,
	.src_image = docker_src_image,
	.dst_image = docker_dst_image,
	.dst_check = docker_dst_check,
	.dst_restore = docker_dst_restore,
	.dst_resume = docker_dst_resume,
	.dst_discard = docker_dst_discard,
	.health = docker_health,
	.containers = docker_containers,
};
