/* api.h: the REST API. api_handle routes a request (struct http_request), validates
 * it and answers with a struct http_reply; it never sees libmicrohttpd, so it can be
 * tested without sockets. */
#ifndef HAULD_API_H
#define HAULD_API_H

#include "engine.h"
#include "http.h"
#include "store.h"

#define API_HOSTS_MAX 8

struct api {
	struct store *store;
	struct engine *engine;     /* may be NULL in tests of validation alone */
	const char *www_dir;       /* the dashboard's files, or NULL */
	const char *data_dir;      /* for the jobs' CRIU logs, or NULL */
	/* Access: the bearer token every request but GET /healthz and the dashboard's
	 * files must carry (NULL: none asked); and, when the API listens on loopback
	 * only, the host names a request's Host (and Origin) may name, whatever the port
	 * (n_hosts 0: any, the token then guards). */
	const char *token;
	char hosts[API_HOSTS_MAX][300];
	size_t n_hosts;
	bool tls;                  /* origins are https:// */
};

/* Fill a->hosts for an API listening on host (numeric or a name): when host is a
 * loopback address, the names a local client uses for it; otherwise none. Returns
 * true when host is loopback. */
bool api_hosts_for(struct api *a, const char *host);

/* An http_handler_fn; ctx is a struct api. */
void api_handle(void *ctx, const struct http_request *req, struct http_reply *reply);

/* Check a POST /migrations body and fill j (job_init'ed by the caller); on error the
 * reply holds the 4xx answer and -1 is returned. Exposed for unit tests. */
int api_parse_migration(const char *body, size_t len, struct job *j, struct http_reply *reply);

#endif
