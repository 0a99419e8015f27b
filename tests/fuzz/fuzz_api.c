/* fuzz_api.c: libFuzzer harness for the REST API's request handling: a POST
 * /migrations body as the daemon would get it (api_parse_migration, everything but
 * the engine), and the routing and checks of api_handle with the input split into
 * a path, a query and headers, against a real store in memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "apierror.h"
#include "job.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *st;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_reply reply;
	struct http_request req;
	struct http_query_param q[2];
	struct api a = { 0 };
	char *body, *path;
	struct job j;
	size_t cut;

	if (size > HTTP_MAX_BODY)
		return 0;
	if (!st && store_open(":memory:", &st) < 0)
		abort();
	body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	/* The body of a POST /migrations. */
	job_init(&j);
	memset(&reply, 0, sizeof(reply));
	api_parse_migration(body, size, &j, &reply);
	json_decref(reply.body);
	free(reply.text);
	job_release(&j);

	/* The first line as the path and a query value, the rest as the body, through
	 * the router with its access checks (loopback, no token). */
	cut = strcspn(body, "\n");
	path = strndup(body, cut);
	if (path) {
		memset(&req, 0, sizeof(req));
		memset(&reply, 0, sizeof(reply));
		q[0].key = "limit";
		q[0].value = path;
		q[1].key = "wait";
		q[1].value = path;
		req.method = (size & 1) ? "POST" : "GET";
		req.path = path[0] == '/' ? path : "/migrations";
		req.query = q;
		req.n_query = 2;
		req.body = cut < size ? body + cut + 1 : NULL;
		req.body_len = cut < size ? size - cut - 1 : 0;
		req.remote = "127.0.0.1";
		req.host = "127.0.0.1:8420";
		req.content_type = "application/json";
		req.idempotency_key = (size & 2) ? path : NULL;
		req.last_event_id = path;
		a.store = st;
		api_hosts_for(&a, "127.0.0.1");
		api_handle(&a, &req, &reply);
		json_decref(reply.body);
		free(reply.text);
		if (reply.stream.free)
			reply.stream.free(reply.stream.ctx);
		free(path);
	}
	free(body);
	return 0;
}
