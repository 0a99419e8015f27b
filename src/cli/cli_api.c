/* cli_api.c: requests to the API, their errors, retries and job ids (see cli_api.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cli_api.h"
#include "cli_fmt.h"

/* How far api_resolve_id looks for a prefix: the newest 10,000 jobs, the daemon's
 * default --retain-jobs. */
#define RESOLVE_PAGE  500
#define RESOLVE_PAGES 20

static void report_error_body(const struct cli *c, const struct http_req *rq,
			      const struct http_resp *rs)
{
	char msg[600], path[300];
	json_t *body = json_loadb(rs->body, rs->len, 0, NULL);
	const char *code = jstr(body, "error.code", NULL);
	const char *field = jstr(body, "error.field", NULL);

	fmt_safe(path, sizeof(path), rq->path);
	if (code) {
		fmt_safe(msg, sizeof(msg), jstr(body, "error.message", ""));
		fflush(stdout);
		fprintf(stderr, "haul: %s %s: %ld %s: %s", rq->method, path, rs->status, code, msg);
		if (field) {
			fmt_safe(msg, sizeof(msg), field);
			fprintf(stderr, " (field \"%s\")", msg);
		}
		fputc('\n', stderr);
		if (c->json) {
			json_dumpf(body, stdout, JSON_COMPACT);
			fputc('\n', stdout);
		}
	} else {
		/* Not hauld's error shape: a proxy, or another server on that port. */
		const char *nl = strchr(rs->body, '\n');
		int n = nl ? (int)(nl - rs->body) : (int)rs->len;

		snprintf(msg, sizeof(msg), "%.*s", n > 200 ? 200 : n, rs->body);
		fmt_safe(msg, sizeof(msg), msg);
		cli_msg("%s %s: HTTP %ld%s%s (is %s hauld's API?)", rq->method, path, rs->status,
			msg[0] ? ": " : "", msg, c->api);
	}
	if (rs->status == 401)
		cli_msg("the token comes from --token-file, HAUL_TOKEN, HAUL_TOKEN_FILE or "
			"token_file in the configuration%s", c->token ? "" : "; none was given");
	json_decref(body);
}

int api_report(const struct cli *c, const struct http_req *rq, const struct http_resp *rs)
{
	switch (rs->fail) {
	case HF_INTERRUPTED:
		return HX_INTERRUPTED;
	case HF_UNREACHABLE:
		cli_msg("cannot reach hauld at %s", rs->err);
		cli_msg("is hauld running there? The address comes from --api, HAUL_API or api "
			"in the configuration (default %s)", "http://127.0.0.1:8420");
		return HX_UNREACHABLE;
	case HF_PROTOCOL:
		cli_msg("%s", rs->err);
		return HX_API;
	case HF_NONE:
		break;
	}
	if (rs->status < 200 || rs->status > 299) {
		report_error_body(c, rq, rs);
		return HX_API;
	}
	cli_msg("%s %s: the answer (HTTP %ld) is not a JSON object", rq->method, rq->path,
		rs->status);
	return HX_API;
}

int api_call(const struct cli *c, const struct http_req *rq, json_t **out, long *status)
{
	struct http_resp rs;
	json_t *body = NULL;
	int rc;

	*out = NULL;
	rc = http_do(c, rq, &rs);
	if (status)
		*status = rs.status;
	if (rc == 0 && rs.status >= 200 && rs.status <= 299) {
		body = json_loadb(rs.body, rs.len, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(body)) {
			*out = body;
			http_resp_release(&rs);
			return HX_OK;
		}
		json_decref(body);
	}
	rc = api_report(c, rq, &rs);
	http_resp_release(&rs);
	return rc;
}

int api_get(const struct cli *c, const char *path, json_t **out)
{
	struct http_req rq = { .method = "GET", .path = path };

	return api_call(c, &rq, out, NULL);
}

/* A pause before attempt n (from 1): 0.5 s, 1 s, 2 s, 4 s, each +-25 %, so that
 * clients that failed together do not come back together. */
static long retry_pause_ms(int n)
{
	long base = 500L << (n - 1);
	unsigned short r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = 0x8000;
	return base * 3 / 4 + (long)((base / 2) * (r / 65535.0));
}

/* Whether a POST that got rs may be sent again under its key. */
static bool post_retryable(const struct http_resp *rs, int rc)
{
	if (rc < 0)
		return rs->fail == HF_UNREACHABLE && rs->retryable;
	return rs->status >= 500 && rs->status <= 599;
}

int api_post_migration(const struct cli *c, const char *body, const char *key, json_t **job,
		       bool *replayed)
{
	struct http_req rq = { .method = "POST", .path = "/migrations", .body = body,
			       .idempotency_key = key };
	struct http_resp rs;
	char why[600];
	json_t *j;
	long pause;
	int rc, n;

	*job = NULL;
	for (n = 1;; n++) {
		rc = http_do(c, &rq, &rs);
		if (n >= POST_ATTEMPTS || !post_retryable(&rs, rc))
			break;
		if (rc < 0)
			snprintf(why, sizeof(why), "%s", rs.err);
		else
			snprintf(why, sizeof(why), "HTTP %ld %s", rs.status,
				 rs.status == 503 ? "unavailable" : "server error");
		pause = retry_pause_ms(n);
		cli_msg("POST /migrations: %s; sending it again in %.1f s under the same "
			"Idempotency-Key (attempt %d of %d)", why, (double)pause / 1000, n + 1,
			POST_ATTEMPTS);
		http_resp_release(&rs);
		if (cli_sleep_ms(pause) < 0)
			return HX_INTERRUPTED;
	}
	if (rc == 0 && rs.status == 202) {
		j = json_loadb(rs.body, rs.len, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(j) && job_id_valid(jstr(j, "id", ""))) {
			*replayed = rs.replayed;
			*job = j;
			http_resp_release(&rs);
			return HX_OK;
		}
		json_decref(j);
		cli_msg("POST /migrations: 202 without a job in its body");
		http_resp_release(&rs);
		return HX_API;
	}
	rc = api_report(c, &rq, &rs);
	http_resp_release(&rs);
	return rc;
}

bool job_id_valid(const char *s)
{
	size_t i;

	if (!s || strlen(s) != JOB_ID_LEN)
		return false;
	for (i = 0; i < JOB_ID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char ch = s[i];

		if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	return true;
}

static bool id_prefix_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= JOB_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || s[i] == '-'))
			return false;
	}
	return true;
}

static bool id_seen(char found[][JOB_ID_LEN + 1], int count, const char *id)
{
	for (int k = 0; k < count && k < 5; k++) {
		if (strcmp(found[k], id) == 0)
			return true;
	}
	return false;
}

/* Looks for ids beginning with prefix in one page; adds them to found (the first
 * 5 kept, *count all of them). Returns the page's next cursor, or -1 at the end. */
static int64_t resolve_page(json_t *page, const char *prefix, char found[][JOB_ID_LEN + 1],
			    int *count)
{
	json_t *jobs = json_object_get(page, "migrations"), *job;
	size_t i, n = strlen(prefix);
	int64_t next = -1;

	json_array_foreach(jobs, i, job) {
		const char *id = jstr(job, "id", "");

		if (strncmp(id, prefix, n) != 0 || !job_id_valid(id) || id_seen(found, *count, id))
			continue;
		if (*count < 5)
			snprintf(found[*count], JOB_ID_LEN + 1, "%s", id);
		(*count)++;
	}
	if (jint(page, "next", &next) < 0)
		next = -1;
	return next;
}

int api_resolve_id(const struct cli *c, const char *arg, char *out)
{
	char found[5][JOB_ID_LEN + 1], path[96], safe[80];
	int count = 0, rc, pages;
	int64_t next = 0;
	json_t *page;

	if (job_id_valid(arg)) {
		snprintf(out, JOB_ID_LEN + 1, "%s", arg);
		return HX_OK;
	}
	fmt_safe(safe, sizeof(safe), arg);
	if (!id_prefix_valid(arg))
		return cli_usage(NULL, "'%s' is not a job id (a UUID in lower case, or its "
				 "beginning)", safe);
	for (pages = 0; pages < RESOLVE_PAGES && next >= 0; pages++) {
		if (next > 0)
			snprintf(path, sizeof(path), "/migrations?limit=%d&before=%lld", RESOLVE_PAGE,
				 (long long)next);
		else
			snprintf(path, sizeof(path), "/migrations?limit=%d", RESOLVE_PAGE);
		rc = api_get(c, path, &page);
		if (rc != HX_OK)
			return rc;
		next = resolve_page(page, arg, found, &count);
		json_decref(page);
	}
	if (count == 1) {
		snprintf(out, JOB_ID_LEN + 1, "%s", found[0]);
		return HX_OK;
	}
	if (count == 0) {
		cli_msg("no job's id begins with '%s' at %s", safe, c->api);
		return HX_API;
	}
	cli_msg("'%s' is the beginning of %d jobs' ids; give more of it:", safe, count);
	for (int k = 0; k < count && k < 5; k++)
		fprintf(stderr, "  %s\n", found[k]);
	return HX_USAGE;
}

int uuid_random(char *out)
{
	unsigned char b[16];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(b)) {
		n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* the RFC 4122 variant */
	snprintf(out, JOB_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}
