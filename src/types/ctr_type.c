/* ctr_type.c: what the container types share (src/types/ctr_type.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criu_diag.h"
#include "ctr_type.h"
#include "util.h"

void ctr_opts_parse(const struct job *j, struct ctr_opts *o)
{
	json_t *opts = j->options ? json_loads(j->options, 0, NULL) : NULL;

	memset(o, 0, sizeof(*o));
	o->keep_source = json_is_true(json_object_get(opts, "keep_source"));
	o->tcp_established = json_is_true(json_object_get(opts, "tcp_established"));
	o->file_locks = json_is_true(json_object_get(opts, "file_locks"));
	o->shared_paths = json_incref(json_object_get(opts, "shared_paths"));
	json_decref(opts);
}

bool ctr_wants_image(const struct job *j)
{
	json_t *opts = j->options ? json_loads(j->options, 0, NULL) : NULL;
	bool v = json_is_true(json_object_get(opts, "transfer_image"));

	json_decref(opts);
	return v;
}

void ctr_opts_release(struct ctr_opts *o)
{
	json_decref(o->shared_paths);
	o->shared_paths = NULL;
}

bool ctr_opts_shared(const struct ctr_opts *o, const char *path)
{
	size_t i;
	json_t *v;

	if (!path)
		return false;
	json_array_foreach(o->shared_paths, i, v) {
		const char *s = json_string_value(v);
		size_t n = s ? strlen(s) : 0;

		while (n > 1 && s[n - 1] == '/')
			n--;
		if (n && strncmp(path, s, n) == 0 && (path[n] == '\0' || path[n] == '/' ||
						      (n == 1 && s[0] == '/')))
			return true;
	}
	return false;
}

bool ctr_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 100)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == ':' || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int ctr_problem(struct mig_problem *p, enum api_err err, const char *fmt, ...)
{
	va_list ap;

	p->err = err;
	snprintf(p->field, sizeof(p->field), "container");
	va_start(ap, fmt);
	vsnprintf(p->message, sizeof(p->message), fmt, ap);
	va_end(ap);
	return -1;
}

int ctr_target_field(const json_t *body, char *out, size_t len, struct mig_problem *p)
{
	const json_t *v = json_object_get(body, "container");
	const char *s;
	size_t n;

	if (!v)
		return ctr_problem(p, AE_MISSING_FIELD, "\"container\" (a name or id) is required "
				   "for this type");
	if (!json_is_string(v))
		return ctr_problem(p, AE_BAD_TYPE, "\"container\" must be a string");
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || n > 64 || n >= len)
		return ctr_problem(p, AE_BAD_VALUE, "\"container\" must be 1 to 64 characters");
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return ctr_problem(p, AE_BAD_VALUE, "\"container\" must be a container name "
					   "or id: letters, digits and _ . - (not first)");
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* Copy one file's bytes (the fallback where link() cannot cross file systems). */
static int copy_file(int from_dir, const char *name, int to_dir)
{
	char buf[1 << 16];
	int in, out, ret = 0;
	ssize_t n;

	in = openat(from_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return -errno;
	out = openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if ((ret = write_full(out, buf, (size_t)n)) < 0)
			break;
	if (n < 0)
		ret = -errno;
	close(in);
	if (close(out) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

int ctr_files_place(const char *from, const char *to, const char *skip)
{
	int fd = -1, tfd = -1, ret;
	struct dirent *de;
	DIR *d = NULL;

	ret = mkdir_p(to, 0700);
	if (ret < 0)
		return ret;
	tfd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0 || fd < 0) {
		ret = -errno;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		ret = -errno;
		goto out;
	}
	fd = -1;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || (skip && strncmp(de->d_name, skip, strlen(skip)) == 0))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (linkat(dirfd(d), de->d_name, tfd, de->d_name, 0) == 0)
			continue;
		if (errno != EXDEV && errno != EPERM) {
			ret = -errno;
			break;
		}
		ret = copy_file(dirfd(d), de->d_name, tfd);
		if (ret < 0)
			break;
	}
out:
	if (d)
		closedir(d);
	if (fd >= 0)
		close(fd);
	if (tfd >= 0)
		close(tfd);
	return ret;
}

void ctr_explain_message(const char *message, const char **code, char *err, size_t errlen)
{
	static const char *const marks[] = { "path= ", "log file: ", "path=" };
	char path[1024], *slash;
	int dfd;

	if (!message)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
		const char *p = strstr(message, marks[i]);
		size_t n;

		if (!p)
			continue;
		p += strlen(marks[i]);
		n = strcspn(p, " :\n\"");
		if (n == 0 || n >= sizeof(path) || p[0] != '/')
			continue;
		memcpy(path, p, n);
		path[n] = '\0';
		slash = strrchr(path, '/');
		if (!slash || !strstr(slash, ".log"))
			continue;
		*slash = '\0';
		dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		criu_diag_explain(dfd, slash + 1, NULL, code, err, errlen);
		close(dfd);
		return;
	}
}

/* A string of an engine's answer for the API: at most 255 bytes, "" when absent. */
static json_t *short_string(const json_t *v)
{
	const char *s = json_string_value(v);

	return json_stringn(s ? s : "", s ? strnlen(s, 255) : 0);
}

json_t *ctr_list_unreachable(const char *why)
{
	return json_pack("{s:b, s:s, s:[], s:b}", "reachable", 0, "why", why, "containers",
			 "truncated", 0);
}

json_t *ctr_list_json(const json_t *list, size_t max)
{
	json_t *arr = json_array(), *c;
	size_t i;

	json_array_foreach(list, i, c) {
		const json_t *names = json_object_get(c, "Names");
		const json_t *id = json_object_get(c, "Id") ?: json_object_get(c, "id");
		const json_t *name = json_array_get(names, 0) ?: id;
		const char *n = json_string_value(name);
		json_t *name_s, *o;

		if (i >= max || !arr)
			break;
		if (!json_is_string(id))
			continue;
		/* Docker names a container "/web"; the API takes "web". */
		name_s = n && n[0] == '/' ? json_stringn(n + 1, strnlen(n + 1, 255))
					  : short_string(name);
		o = json_pack("{s:o, s:o, s:o, s:o}", "id", short_string(id), "name", name_s,
			      "image", short_string(json_object_get(c, "Image")),
			      "state", short_string(json_object_get(c, "State") ?:
						    json_object_get(c, "status")));
		if (o)
			json_array_append_new(arr, o);
	}
	return json_pack("{s:b, s:n, s:o, s:b}", "reachable", 1, "why", "containers",
			 arr ? arr : json_array(), "truncated", json_array_size(list) > max);
}
