/* cli_http.h: one HTTP request to hauld's API through libcurl, bounded in size and
 * time. Every request carries the bearer token when there is one; a request with
 * a body is sent as application/json. Connecting may take 5 s, a request 30 s; a
 * stream has no total bound but ends when nothing, not even the daemon's
 * keep-alive comment (every 15 s), arrived for 45 s.
 *
 * Return convention: 0 when the daemon answered (any status, in rs->status), -1
 * when it did not, with rs->fail and a sentence in rs->err. */
#ifndef HAUL_CLI_HTTP_H
#define HAUL_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

#define HTTP_BODY_MAX       (16u << 20) /* the largest answer read */
#define HTTP_CONNECT_MS     5000
#define HTTP_REQUEST_MS     30000
#define HTTP_STREAM_IDLE_S  45          /* three missed keep-alives */

enum http_fail {
	HF_NONE = 0,
	HF_UNREACHABLE, /* no connection, no answer, or the connection broke */
	HF_PROTOCOL,    /* an answer haul cannot take: too large, a stream gone wrong */
	HF_INTERRUPTED, /* cli_interrupted was set */
};

/* What a stream's sink answers for each piece of the body. */
enum { SINK_MORE = 0, SINK_STOP = 1, SINK_ERROR = -1 };

struct http_req {
	const char *method;          /* "GET", "POST", "DELETE" */
	const char *path;            /* appended to the API's base URL: "/migrations?limit=5" */
	const char *body;            /* JSON, or NULL */
	const char *idempotency_key; /* header, or NULL */
	const char *last_event_id;   /* header, or NULL */
	/* A stream: a 200 text/event-stream answer goes piece by piece to sink
	 * (SINK_*) instead of rs->body, without a total time bound. On SINK_ERROR
	 * the sink leaves its sentence in sink_err. */
	int (*sink)(void *ctx, const char *data, size_t len);
	const char *(*sink_err)(void *ctx);
	void *sink_ctx;
	/* Called about once a second while waiting, and as data arrives (a
	 * progress display redraws its clock). May be NULL. */
	void (*tick)(void *ctx);
	void *tick_ctx;
};

struct http_resp {
	long status;          /* 0 when no answer came */
	char *body;           /* the answer's body, NUL-terminated; owned; never NULL after http_do */
	size_t len;
	char location[512];   /* Location header, or "" */
	bool replayed;        /* Idempotent-Replayed: true */
	bool streamed;        /* a stream was opened (200, text/event-stream) */
	bool stopped;         /* its sink said SINK_STOP */
	enum http_fail fail;
	bool retryable;       /* the failure may go away: refused, reset, timed out */
	char err[512];
};

/* Once per process, before and after everything else. */
int http_global_init(void);
void http_global_cleanup(void);

int http_do(const struct cli *c, const struct http_req *rq, struct http_resp *rs);

/* Frees rs->body; rs may be reused. */
void http_resp_release(struct http_resp *rs);

#endif
