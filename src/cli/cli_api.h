/* cli_api.h: hauld's API as haul's commands use it: a request whose answer must
 * be a JSON object, the report of anything else, POST /migrations with retries,
 * and job ids given in full or by their beginning.
 *
 * Functions return an exit status (cli.h): HX_OK, or the status of the error they
 * have already reported on stderr. */
#ifndef HAUL_CLI_API_H
#define HAUL_CLI_API_H

#include <stdbool.h>

#include <jansson.h>

#include "cli.h"
#include "cli_http.h"

#define JOB_ID_LEN 36           /* a canonical UUID */
#define POST_ATTEMPTS 5         /* the first POST and four retries */

/* Sends rq. A 2xx answer whose body is a JSON object gives *out (you own it);
 * anything else is reported (api_report). *status gets the HTTP status (0 when
 * there was no answer) when status is not NULL. */
int api_call(const struct cli *c, const struct http_req *rq, json_t **out, long *status);

/* GET path into *out, as api_call. */
int api_get(const struct cli *c, const char *path, json_t **out);

/* Reports what rs says went wrong with rq: for an error answer
 * "haul: METHOD PATH: 404 not_found: MESSAGE (field F)" and, under --json, the
 * body on stdout; for no answer the reason and what to check. Returns HX_API,
 * HX_UNREACHABLE or HX_INTERRUPTED. */
int api_report(const struct cli *c, const struct http_req *rq, const struct http_resp *rs);

/* POST /migrations with body under Idempotency-Key key, sent again (the same bytes,
 * the same key) after a failure to connect, a timeout, a broken connection or a 5xx
 * answer, POST_ATTEMPTS times at most with a growing pause. *job: the job (you own
 * it); *replayed: the daemon answered Idempotent-Replayed (the key had started
 * that job before). */
int api_post_migration(const struct cli *c, const char *body, const char *key, json_t **job,
		       bool *replayed);

/* Whether s is a canonical lower-case UUID. */
bool job_id_valid(const char *s);

/* arg is a job id, or the beginning of one that a single job of the daemon's list
 * has: its full id into out (JOB_ID_LEN + 1 bytes). An ambiguous beginning is a
 * usage error, one that no job has an API error. */
int api_resolve_id(const struct cli *c, const char *arg, char *out);

/* A fresh random (version 4) UUID into out (JOB_ID_LEN + 1 bytes); 0, or -1 when
 * the kernel gave no random bytes. */
int uuid_random(char *out);

#endif
