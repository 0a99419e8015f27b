/* ctr.h: the container engines hauld drives, and the HTTP client it drives Docker's
 * Engine API and Podman's libpod API with: HTTP/1.1 over the engine's unix socket,
 * through libcurl (CURLOPT_UNIX_SOCKET_PATH). runc has no API: its command line is
 * run by src/types/runc.c.
 *
 * Every call is bounded: CTR_CONNECT_MS to connect, its own timeout for the whole
 * exchange, and a reply body of at most CTR_MAX_JSON bytes (or the caller's bound for
 * a download). Functions return 0 or a negative errno, and leave a sentence in err
 * (errlen bytes) when they fail; an HTTP status that is not 2xx is not a failure of
 * the call: the caller reads r->status. Thread-safe once ctr_global_init has run. */
#ifndef HAULD_CTR_H
#define HAULD_CTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define CTR_CONNECT_MS   5000
#define CTR_MAX_JSON     (4 << 20)     /* an inspect with a large environment fits */
#define CTR_PATH_MAX     108           /* sun_path */

/* Where the engines are, read-only after start (main fills it from the command
 * line). An empty socket or root: that engine is not configured. */
struct ctr_config {
	char docker_sock[CTR_PATH_MAX];   /* --docker-host unix:///var/run/docker.sock */
	char podman_sock[CTR_PATH_MAX];   /* --podman-host unix:///run/podman/podman.sock */
	char runc_root[256];              /* --runc-root /run/runc */
	char runc_bin[256];               /* runc on the PATH, /usr/sbin/runc */
};

/* libcurl's global set-up; call once before threads start. */
int ctr_global_init(void);
void ctr_configure(const struct ctr_config *cfg);
const struct ctr_config *ctr_config(void);
/* "unix:///PATH" (or a plain absolute path) to PATH in out; -EINVAL otherwise. */
int ctr_parse_host(const char *spec, char *out, size_t len);

struct ctr_reply {
	long status;            /* HTTP status, 0 when there was no answer */
	json_t *json;           /* the body parsed, when it is JSON; NULL otherwise */
	char *body;             /* the raw body (NUL-terminated), may be NULL */
	size_t len;
	char header[256];       /* the value of the header asked for (ctr_call_hdr) */
};
void ctr_reply_release(struct ctr_reply *r);
/* The engine's sentence in an error reply: {"message": ...} (Docker) or
 * {"cause", "message"} (Podman), else the raw body, else the status. */
const char *ctr_reply_error(const struct ctr_reply *r, char *buf, size_t len);

/* One request with an optional JSON body (borrowed). */
int ctr_call(const char *sock, const char *method, const char *path, const json_t *body,
	     int timeout_ms, struct ctr_reply *r, char *err, size_t errlen);
/* The same, also keeping the value of reply header name in r->header. */
int ctr_call_hdr(const char *sock, const char *method, const char *path, const char *name,
		 int timeout_ms, struct ctr_reply *r, char *err, size_t errlen);
/* A request whose reply body (a checkpoint or image archive) is written to fd, at
 * most max bytes, when the status is 2xx; an error reply is kept in r as by
 * ctr_call. *written gets the bytes written. */
int ctr_download(const char *sock, const char *method, const char *path, int fd, int64_t max,
		 int timeout_ms, int64_t *written, struct ctr_reply *r, char *err, size_t errlen);
/* A request whose body is read from fd to its end (content_type, e.g.
 * application/x-tar); the reply as by ctr_call. */
int ctr_upload(const char *sock, const char *method, const char *path, const char *content_type,
	       int fd, int timeout_ms, struct ctr_reply *r, char *err, size_t errlen);

/* The percent-encoding of s for a query value or path segment, into out. */
int ctr_escape(const char *s, char *out, size_t len);

#endif
