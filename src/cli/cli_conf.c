/* cli_conf.c: configuration file, environment and flags (see cli_conf.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_conf.h"

void conf_release(struct conf *cf)
{
	if (!cf)
		return;
	free(cf->path);
	free(cf->api);
	free(cf->token_file);
	free(cf->cacert);
	memset(cf, 0, sizeof(*cf));
}

/* A path from the file as it is meant: "~/x" below home, "x" below dir. */
static char *conf_path(const char *value, const char *dir, const char *home)
{
	char *out = NULL;

	if (value[0] == '~' && value[1] == '/' && home && home[0]) {
		if (asprintf(&out, "%s/%s", home, value + 2) < 0)
			return NULL;
		return out;
	}
	if (value[0] != '/' && dir && dir[0]) {
		if (asprintf(&out, "%s/%s", dir, value) < 0)
			return NULL;
		return out;
	}
	return strdup(value);
}

/* Cuts a comment ('#' first or after a blank) and the blanks around the line. */
static char *conf_trim(char *line)
{
	char *end, *p;

	for (p = line; *p; p++) {
		if (*p == '#' && (p == line || *(p - 1) == ' ' || *(p - 1) == '\t')) {
			*p = '\0';
			break;
		}
	}
	while (*line == ' ' || *line == '\t')
		line++;
	end = line + strlen(line);
	while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return line;
}

/* One "key = value" line into cf. */
static int conf_line(struct conf *cf, char *line, int n, const char *dir, const char *home,
		     char *err, size_t errlen)
{
	char *eq, *key, *value, **slot;
	bool is_path;

	line = conf_trim(line);
	if (!line[0])
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(err, errlen, "line %d: expected 'key = value', got '%.60s'", n, line);
		return -1;
	}
	*eq = '\0';
	key = conf_trim(line);
	value = conf_trim(eq + 1);
	if (strcmp(key, "api") == 0) {
		slot = &cf->api;
		is_path = false;
	} else if (strcmp(key, "token_file") == 0) {
		slot = &cf->token_file;
		is_path = true;
	} else if (strcmp(key, "cacert") == 0) {
		slot = &cf->cacert;
		is_path = true;
	} else {
		snprintf(err, errlen, "line %d: unknown key '%.60s' (known: api, token_file, cacert)",
			 n, key);
		return -1;
	}
	if (*slot) {
		snprintf(err, errlen, "line %d: '%s' is set twice", n, key);
		return -1;
	}
	if (!value[0]) {
		snprintf(err, errlen, "line %d: '%s' has no value", n, key);
		return -1;
	}
	*slot = is_path ? conf_path(value, dir, home) : strdup(value);
	if (!*slot) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int conf_parse(struct conf *cf, const char *text, const char *dir, const char *home, char *err,
	       size_t errlen)
{
	char *copy, *line, *next;
	int n = 0, rc = 0;

	copy = strdup(text);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (line = copy; line && rc == 0; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		rc = conf_line(cf, line, ++n, dir, home, err, errlen);
	}
	free(copy);
	return rc;
}

/* Reads at most max bytes of path into a NUL-terminated buffer you own, or NULL
 * with errno. A longer file is EFBIG, unless cut: then its first max bytes. */
static char *read_small_file(const char *path, size_t max, bool cut, size_t *len)
{
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(max + 2);
	if (!buf)
		goto fail;
	while ((n = read(fd, buf + got, max + 1 - got)) > 0) {
		got += (size_t)n;
		if (got > max && cut) {
			got = max;
			break;
		}
		if (got > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	if (n < 0)
		goto fail;
	close(fd);
	buf[got] = '\0';
	if (len)
		*len = got;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

static int conf_read_file(struct conf *cf, const char *path, const char *home, char *err,
			  size_t errlen)
{
	char *text, *dir, *slash, sub[512];
	size_t len;
	int rc;

	text = read_small_file(path, CONF_FILE_MAX, false, &len);
	if (!text) {
		snprintf(err, errlen, "%s: %s", path,
			 errno == EFBIG ? "larger than 64 KiB, not a configuration file"
					: strerror(errno));
		return -1;
	}
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "%s: not a text file", path);
		free(text);
		return -1;
	}
	dir = strdup(path);
	cf->path = strdup(path);
	if (!dir || !cf->path) {
		free(dir);
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		strcpy(dir, ".");
	rc = conf_parse(cf, text, dir, home, sub, sizeof(sub));
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, sub);
	free(dir);
	free(text);
	return rc;
}

int conf_load(struct conf *cf, const char *explicit, const char *home, const char *xdg,
	      char *err, size_t errlen)
{
	char user[4096];

	if (explicit)
		return conf_read_file(cf, explicit, home, err, errlen);
	user[0] = '\0';
	if (xdg && xdg[0] == '/')
		snprintf(user, sizeof(user), "%s/haul/config", xdg);
	else if (home && home[0])
		snprintf(user, sizeof(user), "%s/.config/haul/config", home);
	if (user[0] && access(user, F_OK) == 0)
		return conf_read_file(cf, user, home, err, errlen);
	if (access(CONF_SYSTEM_PATH, F_OK) == 0)
		return conf_read_file(cf, CONF_SYSTEM_PATH, home, err, errlen);
	return 0;
}

int conf_read_token(const char *path, char **out, char *err, size_t errlen)
{
	char *text, *end;
	size_t len, i;

	*out = NULL;
	text = read_small_file(path, CONF_TOKEN_MAX + 2, true, &len);
	if (!text) {
		snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
		return -1;
	}
	end = strchr(text, '\n');
	if (end)
		*end = '\0';
	len = strlen(text);
	while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == ' ' || text[len - 1] == '\t'))
		text[--len] = '\0';
	if (len > CONF_TOKEN_MAX) {
		snprintf(err, errlen, "token file %s: the token is longer than 4096 bytes", path);
		explicit_bzero(text, len);
		free(text);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (text[i] < 0x21 || text[i] > 0x7e)
			break;
	}
	if (len == 0 || i < len) {
		snprintf(err, errlen, "token file %s: its first line must be the token, printable "
			 "characters without blanks", path);
		explicit_bzero(text, len);
		free(text);
		return -1;
	}
	*out = text;
	return 0;
}

int conf_check_url(const char *url, char **out, char *err, size_t errlen)
{
	const char *host;
	size_t len = strlen(url), i;

	*out = NULL;
	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else {
		snprintf(err, errlen, "the API URL '%.200s' must begin with http:// or https://", url);
		return -1;
	}
	if (!host[0] || host[0] == '/' || host[0] == ':') {
		snprintf(err, errlen, "the API URL '%.200s' has no host", url);
		return -1;
	}
	if (len > CONF_URL_MAX) {
		snprintf(err, errlen, "the API URL is longer than %d bytes", CONF_URL_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f || url[i] == '?' ||
		    url[i] == '#') {
			snprintf(err, errlen, "the API URL '%.200s' may not hold blanks, control "
				 "characters, a query or a fragment", url);
			return -1;
		}
	}
	while (len > 0 && url[len - 1] == '/')
		len--;
	*out = strndup(url, len);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* The first source, in order, that sets the field at offset off. */
static const char *first_set(const struct conf_src *const *srcs, size_t off)
{
	for (size_t i = 0; i < 3; i++) {
		const char *v;

		if (!srcs[i])
			continue;
		v = *(const char *const *)((const char *)srcs[i] + off);
		if (v && v[0])
			return v;
	}
	return NULL;
}

static int resolve_token(struct cli *c, const struct conf_src *const *srcs, char *err,
			 size_t errlen)
{
	for (size_t i = 0; i < 3; i++) {
		const struct conf_src *s = srcs[i];

		if (!s)
			continue;
		if (s->token && s->token[0]) {
			char *t = strdup(s->token), *p;

			if (!t) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			/* The same rules as a token file's line. */
			for (p = t; *p; p++) {
				if (*p < 0x21 || *p > 0x7e)
					break;
			}
			if (*p || strlen(t) > CONF_TOKEN_MAX) {
				snprintf(err, errlen, "HAUL_TOKEN must be printable characters "
					 "without blanks, at most 4096");
				free(t);
				return -1;
			}
			c->token = t;
			return 0;
		}
		if (s->token_file && s->token_file[0])
			return conf_read_token(s->token_file, &c->token, err, errlen);
	}
	return 0;
}

int conf_resolve(struct cli *c, const struct conf_src *flags, const struct conf_src *env,
		 const struct conf_src *file, char *err, size_t errlen)
{
	const struct conf_src *srcs[3] = { flags, env, file };
	const char *api, *cacert;

	api = first_set(srcs, offsetof(struct conf_src, api));
	if (conf_check_url(api ? api : CONF_DEFAULT_API, &c->api, err, errlen) < 0)
		return -1;
	cacert = first_set(srcs, offsetof(struct conf_src, cacert));
	if (cacert) {
		if (access(cacert, R_OK) < 0) {
			snprintf(err, errlen, "CA bundle %s: %s", cacert, strerror(errno));
			return -1;
		}
		c->cacert = strdup(cacert);
		if (!c->cacert) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return resolve_token(c, srcs, err, errlen);
}
