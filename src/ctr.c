/* ctr.c: HTTP over a container engine's unix socket, with libcurl (include/ctr.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ctr.h"
#include "util.h"

static struct ctr_config config;

int ctr_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void ctr_configure(const struct ctr_config *cfg)
{
	config = *cfg;
}

const struct ctr_config *ctr_config(void)
{
	return &config;
}

int ctr_parse_host(const char *spec, char *out, size_t len)
{
	const char *path = spec;

	if (!spec)
		return -EINVAL;
	if (strncmp(spec, "unix://", 7) == 0)
		path = spec + 7;
	if (path[0] != '/' || strlen(path) >= len || strlen(path) >= CTR_PATH_MAX)
		return -EINVAL;
	snprintf(out, len, "%s", path);
	return 0;
}

void ctr_reply_release(struct ctr_reply *r)
{
	if (!r)
		return;
	json_decref(r->json);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

const char *ctr_reply_error(const struct ctr_reply *r, char *buf, size_t len)
{
	const char *msg = json_string_value(json_object_get(r->json, "message"));
	const char *cause = json_string_value(json_object_get(r->json, "cause"));

	if (msg && cause && !strstr(msg, cause))
		snprintf(buf, len, "%s: %s", cause, msg);
	else if (msg)
		snprintf(buf, len, "%s", msg);
	else if (r->body && r->len)
		snprintf(buf, len, "%.*s", (int)strcspn(r->body, "\n"), r->body);
	else
		snprintf(buf, len, "HTTP status %ld", r->status);
	/* Engines end their messages with a newline now and then. */
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

int ctr_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			if (o + 1 >= len)
				return -ENAMETOOLONG;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= len)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= len)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

/* What one transfer collects. */
struct xfer {
	char *buf;              /* the reply body kept in memory (errors, JSON) */
	size_t len, cap, max;
	bool overflow;
	int out_fd;             /* a 2xx body goes here when >= 0 */
	int64_t written, out_max;
	bool write_failed;
	int in_fd;              /* the request body comes from here when >= 0 */
	CURL *c;
	const char *want_hdr;
	char *hdr;
	size_t hdrlen;
};

static bool status_ok(CURL *c)
{
	long st = 0;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	return st >= 200 && st < 300;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->out_fd >= 0 && status_ok(x->c)) {
		if (x->written + (int64_t)len > x->out_max ||
		    write_full(x->out_fd, p, len) < 0) {
			x->write_failed = true;
			return 0;      /* ends the transfer */
		}
		x->written += (int64_t)len;
		return len;
	}
	if (x->len + len > x->max) {
		x->overflow = true;
		return 0;
	}
	if (x->len + len + 1 > x->cap) {
		size_t cap = (x->len + len + 1) * 2;
		char *tmp;

		if (cap > x->max + 1)
			cap = x->max + 1;
		tmp = realloc(x->buf, cap);
		if (!tmp)
			return 0;
		x->buf = tmp;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, len);
	x->len += len;
	x->buf[x->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, name = x->want_hdr ? strlen(x->want_hdr) : 0;

	if (name && len > name + 1 && strncasecmp(p, x->want_hdr, name) == 0 && p[name] == ':') {
		const char *v = p + name + 1;
		size_t vl = len - name - 1;

		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		snprintf(x->hdr, x->hdrlen, "%.*s", (int)vl, v);
	}
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	ssize_t got;

	do {
		got = read(x->in_fd, p, size * n);
	} while (got < 0 && errno == EINTR);
	return got < 0 ? CURL_READFUNC_ABORT : (size_t)got;
}

/* The one place a request is made; body_json or in_fd (or neither) is the body. */
static int request(const char *sock, const char *method, const char *path, const json_t *body_json,
		   int in_fd, const char *content_type, int out_fd, int64_t out_max,
		   int64_t *written, const char *want_hdr, int timeout_ms, struct ctr_reply *r,
		   char *err, size_t errlen)
{
	struct xfer x = { .max = CTR_MAX_JSON, .out_fd = out_fd, .out_max = out_max,
			  .in_fd = in_fd, .want_hdr = want_hdr, .hdr = r->header,
			  .hdrlen = sizeof(r->header) };
	struct curl_slist *hdrs = NULL;
	char url[2048], *payload = NULL, ctype[128];
	CURLcode rc;
	int ret = 0;
	CURL *c;

	memset(r, 0, sizeof(*r));
	if (!sock || !sock[0]) {
		snprintf(err, errlen, "the engine is not configured");
		return -ENOTCONN;
	}
	if ((size_t)snprintf(url, sizeof(url), "http://localhost%s", path) >= sizeof(url)) {
		snprintf(err, errlen, "request path too long");
		return -ENAMETOOLONG;
	}
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x.c = c;
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	/* A HEAD answer has headers only: without NOBODY libcurl waits for a body. */
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CTR_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	/* Engines answer local clients only: no proxy may take the request elsewhere. */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (body_json) {
		payload = json_dumps(body_json, JSON_COMPACT);
		if (!payload) {
			ret = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
	} else if (in_fd >= 0) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, ctype);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &x);
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (x.write_failed) {
		ret = -EIO;
		snprintf(err, errlen, "%s %s: writing the reply failed or passed %lld bytes",
			 method, path, (long long)out_max);
	} else if (x.overflow) {
		ret = -EMSGSIZE;
		snprintf(err, errlen, "%s %s: the reply is larger than %d bytes", method, path,
			 CTR_MAX_JSON);
	} else if (rc != CURLE_OK) {
		ret = rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
		      rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
		snprintf(err, errlen, "%s %s on %s: %s", method, path, sock, curl_easy_strerror(rc));
	}
	if (written)
		*written = x.written;
	r->body = x.buf;
	r->len = x.len;
	x.buf = NULL;
	if (r->body && r->len)
		r->json = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
out:
	free(x.buf);
	free(payload);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

int ctr_call(const char *sock, const char *method, const char *path, const json_t *body,
	     int timeout_ms, struct ctr_reply *r, char *err, size_t errlen)
{
	return request(sock, method, path, body, -1, NULL, -1, 0, NULL, NULL, timeout_ms, r,
		       err, errlen);
}

int ctr_call_hdr(const char *sock, const char *method, const char *path, const char *name,
		 int timeout_ms, struct ctr_reply *r, char *err, size_t errlen)
{
	return request(sock, method, path, NULL, -1, NULL, -1, 0, NULL, name, timeout_ms, r,
		       err, errlen);
}

int ctr_download(const char *sock, const char *method, const char *path, int fd, int64_t max,
		 int timeout_ms, int64_t *written, struct ctr_reply *r, char *err, size_t errlen)
{
	return request(sock, method, path, NULL, -1, NULL, fd, max, written, NULL, timeout_ms, r,
		       err, errlen);
}

int ctr_upload(const char *sock, const char *method, const char *path, const char *content_type,
	       int fd, int timeout_ms, struct ctr_reply *r, char *err, size_t errlen)
{
	return request(sock, method, path, NULL, fd, content_type, -1, 0, NULL, NULL, timeout_ms,
		       r, err, errlen);
}
