/* http.h: the HTTP transport. It turns a libmicrohttpd request into a
 * struct http_request and a struct http_reply back into a response; handlers never
 * see microhttpd.h, so they can be tested without sockets. */
#ifndef HAULD_HTTP_H
#define HAULD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define HTTP_MAX_BODY   (64 * 1024)   /* larger bodies get 413 before they are read */
#define HTTP_MAX_QUERY  16            /* query parameters kept, the rest ignored */

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

struct http_reply {
	int status;                  /* HTTP status code */
	json_t *body;                /* JSON body, owned by the reply (stolen); NULL for none */
	char location[160];          /* Location header when not empty */
	/* Instead of a JSON body: a static file to send (path under the www dir,
	 * already checked by the handler) and its content type. */
	char file[512];
	const char *content_type;
	bool www_authenticate;       /* 401: ask for a bearer token */
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

/* Value of query parameter key, or NULL. */
const char *http_query_get(const struct http_request *req, const char *key);

#endif
