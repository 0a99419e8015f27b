/* http.h: the HTTP transport. It turns a libmicrohttpd request into a
 * struct http_request and a struct http_reply back into a response; handlers never
 * see microhttpd.h, so they can be tested without sockets. */
#ifndef HAULD_HTTP_H
#define HAULD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define HTTP_MAX_BODY   (64 * 1024)   /* larger bodies get 413 before they are read */
#define HTTP_MAX_QUERY  16            /* query parameters kept, the rest ignored */
/* A longer request target (path and query, as sent) is 414 uri_too_long, field
 * "url"; header names and values over this many bytes in all are 431
 * headers_too_large, field "headers". Both are answered before the handler runs,
 * as JSON, up to what libmicrohttpd holds of a request (see http.c). */
#define HTTP_MAX_URL     8192
#define HTTP_MAX_HEADERS (16 * 1024)

struct http_query_param {
	const char *key;
	const char *value;
};

struct http_request {
	const char *method;          /* "GET", "POST", ... */
	const char *path;            /* "/migrations/abc", no query string */
	const struct http_query_param *query;
	size_t n_query;
	const char *body;            /* raw body bytes, NUL-terminated, NULL when empty */
	size_t body_len;
	const char *remote;          /* peer address as text */
	/* Request headers the API's checks read; NULL when absent. */
	const char *authorization, *content_type, *origin, *host;
	const char *idempotency_key, *last_event_id;
};

/* Bytes a stream has ready to send. */
struct http_buf {
	char *data;
	size_t len, off, cap;
};

/* Append to b (at most HTTP_STREAM_BUF bytes pending); -ENOBUFS over, -ENOMEM. */
int http_buf_append(struct http_buf *b, const char *p, size_t n);
__attribute__((format(printf, 2, 3)))
int http_buf_printf(struct http_buf *b, const char *fmt, ...);

#define HTTP_STREAM_BUF  (1024 * 1024)
#define HTTP_MAX_STREAMS 192   /* open streams; more get 503 (of HTTP_MAX_CONNS) */

/* A body produced over time (a long poll, an event stream), without holding an
 * HTTP thread while it waits. fill appends what is ready to out and returns 1 when
 * more may come, 0 when the body is complete after out, -1 to drop the connection.
 * It is called again after http_notify, or once the monotonic clock reaches
 * *wake_at (ms; fill sets it, at most a minute ahead, now for "at once"), or when
 * the server stops (stopping true: end the body now). free releases ctx. */
struct http_stream {
	int (*fill)(void *ctx, struct http_buf *out, int64_t now_ms, bool stopping,
		    int64_t *wake_at);
	void (*free)(void *ctx);
	void *ctx;
};

struct http_reply {
	int status;                  /* HTTP status code */
	json_t *body;                /* JSON body, owned by the reply (stolen); NULL for none */
	char location[160];          /* Location header when not empty */
	/* Instead of a JSON body: a static file to send (path under the www dir,
	 * already checked by the handler) and its content type. */
	char file[512];
	const char *content_type;
	bool www_authenticate;       /* 401: ask for a bearer token */
	bool replayed;               /* Idempotent-Replayed: true */
	char *text;                  /* instead of JSON: this text (heap, the reply's) as
	                                content_type */
	/* Instead of a body now: a stream (status and content_type as given). The
	 * reply owns ctx from here; a stream refused (too many) is freed. */
	struct http_stream stream;
};

typedef void (*http_handler_fn)(void *ctx, const struct http_request *req,
				struct http_reply *reply);

struct http_server;

/* TLS for the server: the PEM texts of the certificate (chain) and its key. */
struct http_tls {
	const char *cert_pem, *key_pem;
};

/* Listen on addr:port (port 0 picks a free one, *bound_port gets the real port)
 * and serve with a small thread pool, over TLS when tls is not NULL. Returns NULL on
 * failure (logged). */
struct http_server *http_start(const char *addr, int port, const struct http_tls *tls,
			       http_handler_fn fn, void *ctx, int *bound_port);
/* Stop listening, finish requests in flight, free. NULL is harmless. */
void http_stop(struct http_server *srv);

/* Something the streams may be waiting for has happened: call their fill again.
 * Cheap, any thread. NULL is harmless. */
void http_notify(struct http_server *srv);

/* Value of query parameter key, or NULL. */
const char *http_query_get(const struct http_request *req, const char *key);

#endif
