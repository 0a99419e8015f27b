/* api.c: routes and validation of the REST API. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "api.h"
#include "apierror.h"
#include "candidates.h"
#include "log.h"
#include "metrics.h"
#include "migration.h"
#include "precopy.h"
#include "util.h"

#define LIST_DEFAULT   50
#define LIST_MAX       500
#define EVENTS_MAX     1000
#define LOG_TAIL       (64 * 1024)   /* bytes of each CRIU log in GET .../logs */
#define WAIT_MAX_S     300           /* ?wait= at most */
#define SSE_MAX_S      3600          /* an event stream ends after this; clients resume */
#define SSE_HEARTBEAT_MS 15000       /* a comment line when nothing happens */
#define SSE_RETRY_MS   2000          /* the reconnect delay told to EventSource */
#define SSE_BATCH      50            /* events read from the store at once */
#define CAND_DEFAULT   100           /* process trees in GET /candidates */
#define CTR_LIST_MAX   200           /* containers of each engine there */
#define PEERS_JOBS     200           /* recent jobs /healthz reads for its peers */
#define PEERS_MAX      16            /* peers it shows */

/* Every option a migration may carry, one row each: CRIU's options of the same
 * names, keep_images (leave the job's directories on both hosts), new_pidns (restore
 * into a fresh PID namespace at the destination, as criu-ns does), the pre-copy
 * policy (see precopy.h for the defaults), the frozen-time bound, and the options of
 * containers: keep_source (leave the source's stopped container after a success),
 * transfer_image (send the image when the destination lacks it), shared_paths
 * (mounts that both hosts see, so they need not travel), and compress (the page
 * stream and image files between the daemons: "auto", the default, "on", "off"), and
 * restore_pages (how the destination puts the memory back: "auto", "eager", "lazy";
 * see mig_dest.c). */
enum option_kind { OPT_BOOL, OPT_INT, OPT_PATHS, OPT_ENUM };

#define OPT_PATHS_MAX  64      /* entries of a path list */
#define OPT_PATH_LEN   255

/* The values of an OPT_ENUM option, NULL-terminated. */
static const char *const compress_values[] = { "auto", "on", "off", NULL };
static const char *const restore_pages_values[] = { "auto", "eager", "lazy", NULL };

static const struct option_spec {
	const char *name;
	enum option_kind kind;
	long min, max;
	const char *const *values;     /* OPT_ENUM */
} option_table[] = {
	{ "tcp_established", OPT_BOOL, 0, 0, NULL },
	{ "shell_job", OPT_BOOL, 0, 0, NULL },
	{ "file_locks", OPT_BOOL, 0, 0, NULL },
	{ "ext_unix_sk", OPT_BOOL, 0, 0, NULL },
	{ "keep_images", OPT_BOOL, 0, 0, NULL },
	{ "new_pidns", OPT_BOOL, 0, 0, NULL },
	{ "max_iterations", OPT_INT, 0, PRECOPY_ITERATIONS_CAP, NULL },
	{ "precopy_min_pages", OPT_INT, 0, 1L << 30, NULL },
	{ "precopy_max_growth_pct", OPT_INT, 0, 1000, NULL },
	{ "max_frozen_ms", OPT_INT, 100, 24L * 60 * 60 * 1000, NULL },
	{ "keep_source", OPT_BOOL, 0, 0, NULL },
	{ "transfer_image", OPT_BOOL, 0, 0, NULL },
	{ "shared_paths", OPT_PATHS, 0, 0, NULL },
	{ "compress", OPT_ENUM, 0, 0, compress_values },
	{ "restore_pages", OPT_ENUM, 0, 0, restore_pages_values },
};

/* An OPT_ENUM option's value: one of spec->values. */
static int enum_ok(const struct option_spec *spec, const json_t *v, const char *field,
		   struct http_reply *reply)
{
	const char *s = json_string_value(v);
	char list[128] = "";
	size_t i;

	for (i = 0; s && spec->values[i]; i++)
		if (strcmp(s, spec->values[i]) == 0)
			return 0;
	for (i = 0; spec->values[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
			 i ? ", " : "", spec->values[i]);
	api_error(reply, s ? AE_BAD_VALUE : AE_BAD_TYPE, field, "\"%s\" must be one of %s",
		  field, list);
	return -1;
}

/* A list of paths (or volume names): at most OPT_PATHS_MAX strings, each 1 to
 * OPT_PATH_LEN bytes of printable ASCII. */
static int paths_ok(const json_t *v, const char *field, struct http_reply *reply)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v)) {
		api_error(reply, AE_BAD_TYPE, field, "\"%s\" must be an array of paths", field);
		return -1;
	}
	if (json_array_size(v) > OPT_PATHS_MAX) {
		api_error(reply, AE_BAD_VALUE, field, "\"%s\" holds at most %d paths", field,
			  OPT_PATHS_MAX);
		return -1;
	}
	json_array_foreach(v, i, e) {
		const char *p = json_string_value(e);
		size_t n = p ? strlen(p) : 0;

		if (!p) {
			api_error(reply, AE_BAD_TYPE, field, "\"%s\" must hold strings", field);
			return -1;
		}
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)p[k] < 0x20 || (unsigned char)p[k] > 0x7e)
				n = 0;
		if (n == 0 || n > OPT_PATH_LEN) {
			api_error(reply, AE_BAD_VALUE, field, "each entry of \"%s\" must be 1 to "
				  "%d printable ASCII characters", field, OPT_PATH_LEN);
			return -1;
		}
	}
	return 0;
}

static const char *const modes[] = { "live", "lazy" };

static int parse_options(const json_t *o, struct job *j, struct http_reply *reply)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o)) {
		api_error(reply, AE_BAD_TYPE, "options", "\"options\" must be an object");
		return -1;
	}
	json_object_foreach((json_t *)o, key, v) {
		const struct option_spec *spec = NULL;
		char field[80];

		snprintf(field, sizeof(field), "options.%.60s", key);
		for (size_t i = 0; i < ARRAY_SIZE(option_table); i++)
			if (strcmp(key, option_table[i].name) == 0)
				spec = &option_table[i];
		if (!spec) {
			api_error(reply, AE_UNKNOWN_FIELD, field, "unknown option \"%.60s\"", key);
			return -1;
		}
		if (spec->kind == OPT_PATHS) {
			if (paths_ok(v, field, reply) < 0)
				return -1;
			continue;
		}
		if (spec->kind == OPT_ENUM) {
			if (enum_ok(spec, v, field, reply) < 0)
				return -1;
			continue;
		}
		if (spec->kind == OPT_BOOL && !json_is_boolean(v)) {
			api_error(reply, AE_BAD_TYPE, field, "\"%s\" must be true or false", field);
			return -1;
		}
		if (spec->kind == OPT_INT && !json_is_integer(v)) {
			api_error(reply, AE_BAD_TYPE, field, "\"%s\" must be an integer", field);
			return -1;
		}
		if (spec->kind == OPT_INT && (json_integer_value(v) < spec->min ||
					      json_integer_value(v) > spec->max)) {
			api_error(reply, AE_BAD_VALUE, field, "\"%s\" must be from %ld to %ld",
				  field, spec->min, spec->max);
			return -1;
		}
	}
	j->options = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	return j->options ? 0 : -1;
}

/* "callback_url": an absolute http or https URL, kept as given. */
static int callback_parse(const json_t *v, struct job *j, struct http_reply *reply)
{
	char *scheme = NULL, *host = NULL;
	const char *url;
	CURLU *u;
	int ret = -1;

	if (!json_is_string(v)) {
		api_error(reply, AE_BAD_TYPE, "callback_url", "\"callback_url\" must be a string");
		return -1;
	}
	url = json_string_value(v);
	if (strlen(url) >= sizeof(j->callback_url) || strpbrk(url, " \t\r\n")) {
		api_error(reply, AE_BAD_VALUE, "callback_url", "\"callback_url\" must be a URL "
			  "of at most %zu bytes without spaces", sizeof(j->callback_url) - 1);
		return -1;
	}
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) || !host[0]) {
		api_error(reply, AE_BAD_VALUE, "callback_url", "\"callback_url\" must be an "
			  "absolute http:// or https:// URL");
		goto out;
	}
	snprintf(j->callback_url, sizeof(j->callback_url), "%s", url);
	ret = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

int api_parse_migration(const char *body, size_t len, struct job *j, struct http_reply *reply)
{
	static const char *const fields[] = { "type", "pid", "container", "to", "mode",
					      "options", "callback_url" };
	const struct mig_ops *ops;
	struct mig_problem prob = { 0 };
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *key, *s;
	char host[256];
	int port, ret = -1;

	if (!body || len == 0) {
		api_error(reply, AE_BAD_JSON, NULL, "a JSON body is required");
		return -1;
	}
	/* JSON_DECODE_ANY: a scalar body is valid JSON (RFC 8259), just not an object;
	 * the check below says so instead of calling it invalid JSON. */
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		api_error(reply, AE_BAD_JSON, NULL, "invalid JSON at line %d column %d: %s",
			  jerr.line, jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		api_error(reply, AE_BAD_TYPE, NULL, "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, v) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(fields); i++)
			if (strcmp(key, fields[i]) == 0)
				break;
		if (i == ARRAY_SIZE(fields)) {
			api_error(reply, AE_UNKNOWN_FIELD, key, "unknown field \"%.60s\"", key);
			goto out;
		}
	}
	v = json_object_get(root, "type");
	if (!v) {
		api_error(reply, AE_MISSING_FIELD, "type", "\"type\" is required (%s)",
			  mig_type_names());
		goto out;
	}
	if (!json_is_string(v)) {
		api_error(reply, AE_BAD_TYPE, "type", "\"type\" must be a string");
		goto out;
	}
	ops = mig_ops_find(json_string_value(v));
	if (!ops) {
		api_error(reply, AE_BAD_VALUE, "type", "unknown migration type; known: %s",
			  mig_type_names());
		goto out;
	}
	snprintf(j->type, sizeof(j->type), "%s", ops->type);
	/* Each type names what it moves by one field: a pid, or a container. */
	{
		const char *other = strcmp(ops->target_field, "pid") == 0 ? "container" : "pid";

		if (json_object_get(root, other)) {
			api_error(reply, AE_UNKNOWN_FIELD, other, "\"%s\" is not a field of type "
				  "\"%s\", which takes \"%s\"", other, ops->type,
				  ops->target_field);
			goto out;
		}
	}

	v = json_object_get(root, "to");
	if (!v) {
		api_error(reply, AE_MISSING_FIELD, "to", "\"to\" is required (\"HOST:PORT\")");
		goto out;
	}
	if (!json_is_string(v)) {
		api_error(reply, AE_BAD_TYPE, "to", "\"to\" must be a string \"HOST:PORT\"");
		goto out;
	}
	s = json_string_value(v);
	if (strlen(s) >= sizeof(j->to) || hostport_parse(s, host, sizeof(host), &port, 0) < 0) {
		api_error(reply, AE_BAD_VALUE, "to",
			  "\"to\" must be HOST:PORT with a port from 1 to 65535");
		goto out;
	}
	snprintf(j->to, sizeof(j->to), "%s", s);

	v = json_object_get(root, "mode");
	snprintf(j->mode, sizeof(j->mode), "live");
	if (v) {
		size_t i;

		if (!json_is_string(v)) {
			api_error(reply, AE_BAD_TYPE, "mode", "\"mode\" must be a string");
			goto out;
		}
		for (i = 0; i < ARRAY_SIZE(modes); i++)
			if (strcmp(json_string_value(v), modes[i]) == 0)
				break;
		if (i == ARRAY_SIZE(modes)) {
			api_error(reply, AE_BAD_VALUE, "mode", "\"mode\" must be \"live\" or \"lazy\"");
			goto out;
		}
		snprintf(j->mode, sizeof(j->mode), "%s", modes[i]);
	}
	if (strcmp(j->mode, "lazy") == 0 && !ops->lazy) {
		api_error(reply, AE_BAD_VALUE, "mode", "type \"%s\" cannot migrate in mode "
			  "\"lazy\": its engine has no post-copy restore; use \"live\"", ops->type);
		goto out;
	}
	v = json_object_get(root, "options");
	if (v && parse_options(v, j, reply) < 0)
		goto out;
	v = json_object_get(root, "callback_url");
	if (v && callback_parse(v, j, reply) < 0)
		goto out;
	if (strcmp(j->mode, "lazy") == 0 &&
	    json_is_true(json_object_get(json_object_get(root, "options"), "new_pidns"))) {
		api_error(reply, AE_BAD_VALUE, "options.new_pidns",
			  "new_pidns cannot be combined with mode \"lazy\"");
		goto out;
	}
	{
		const char *rp = json_string_value(json_object_get(json_object_get(root,
								 "options"), "restore_pages"));

		if (rp && strcmp(rp, "lazy") == 0 && (strcmp(j->mode, "lazy") == 0 ||
						       !ops->lazy)) {
			api_error(reply, AE_BAD_VALUE, "options.restore_pages", "restore_pages "
				  "\"lazy\" restores a pid migration of mode \"live\" lazily "
				  "from the destination's images; %s", !ops->lazy ?
				  "a container's engine restores all of its memory first" :
				  "mode \"lazy\" already restores on demand, from the source");
			goto out;
		}
		if (rp && strcmp(rp, "lazy") == 0 && json_is_true(json_object_get(
			    json_object_get(root, "options"), "new_pidns"))) {
			api_error(reply, AE_BAD_VALUE, "options.restore_pages", "restore_pages "
				  "\"lazy\" cannot be combined with new_pidns");
			goto out;
		}
	}
	if (ops->validate(root, j, &prob) < 0) {
		api_error(reply, prob.err, prob.field, "%s", prob.message);
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

/* An Idempotency-Key is 1 to SUBMIT_KEY_MAX printable ASCII characters. */
static bool idem_key_valid(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > SUBMIT_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (k[i] < 0x20 || k[i] > 0x7e)
			return false;
	return true;
}

/* The request a key stands for: SHA-256 of the body as canonical JSON (keys sorted,
 * no spaces), so that a retry that orders its fields otherwise is the same request. */
static int request_hash(const char *body, size_t len, char out[SUBMIT_HASH_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	json_t *root;
	char *text;
	int ret = -1;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	text = root ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
	if (text && EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) == 1 &&
	    mdlen * 2 == SUBMIT_HASH_LEN) {
		for (unsigned int i = 0; i < mdlen; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
		ret = 0;
	}
	free(text);
	json_decref(root);
	return ret;
}

static void post_migration(struct api *a, const struct http_request *req, struct http_reply *reply)
{
	struct submit_key key, *kp = NULL;
	struct job j;
	int ret;

	job_init(&j);
	if (req->idempotency_key) {
		char hash[SUBMIT_HASH_LEN + 1];

		if (!idem_key_valid(req->idempotency_key)) {
			api_error(reply, AE_BAD_VALUE, "Idempotency-Key", "the Idempotency-Key "
				  "header must be 1 to %d printable ASCII characters",
				  SUBMIT_KEY_MAX);
			goto out;
		}
		/* A key seen before answers for its job first: the request was checked
		 * then, and what it checked (the pid, say) may have moved since. */
		memset(&key, 0, sizeof(key));
		key.key = req->idempotency_key;
		if (req->body && request_hash(req->body, req->body_len, key.hash) == 0) {
			kp = &key;
			if (store_idem_get(a->store, key.key, hash, sizeof(hash), key.prior) == 0) {
				ret = strcmp(hash, key.hash) == 0 ? -EEXIST : -EKEYREJECTED;
				goto answered;
			}
		}
	}
	if (api_parse_migration(req->body, req->body_len, &j, reply) < 0)
		goto out;
	if (!a->engine) {
		api_error(reply, AE_UNAVAILABLE, NULL, "the migration engine is not running");
		goto out;
	}
	if (engine_peer_is_self(a->engine, j.to)) {
		api_error(reply, AE_BAD_VALUE, "to", "\"to\" (%s) is this daemon's own peer address: "
			  "name the peer port of the destination host's hauld", j.to);
		goto out;
	}
	if (strcmp(j.mode, "lazy") == 0) {
		char why[256];

		if (criu_lazy_ready(engine_criu(a->engine), why, sizeof(why)) < 0) {
			api_error(reply, AE_BAD_VALUE, "mode", "lazy mode is not possible here: %s",
				  why);
			goto out;
		}
	}
	j.role = JOB_SOURCE;
	uuid_new(j.id);
	ret = engine_submit(a->engine, &j, kp);
answered:
	if (ret == -EEXIST) {
		/* A retry: the job this key started, as it stands now. */
		job_release(&j);
		job_init(&j);
		if (store_job_get(a->store, key.prior, &j) < 0) {
			api_error(reply, AE_INTERNAL, NULL, "cannot read the job of this key");
			goto out;
		}
		reply->replayed = true;
	} else if (ret == -EKEYREJECTED) {
		api_error(reply, AE_KEY_REUSED, "Idempotency-Key", "this Idempotency-Key started "
			  "migration %s with another request; use a new key for a new request",
			  key.prior);
		goto out;
	} else if (ret == -EBUSY && j.container_id[0]) {
		api_error(reply, AE_CONFLICT, "container", "container %s is already being migrated",
			  j.container_name[0] ? j.container_name : j.container_id);
		goto out;
	} else if (ret == -EBUSY) {
		api_error(reply, AE_CONFLICT, "pid", "pid %d is already being migrated", j.pid);
		goto out;
	} else if (ret < 0) {
		api_error(reply, AE_INTERNAL, NULL, "cannot store the job: %s", strerror(-ret));
		goto out;
	}
	reply->status = 202;
	snprintf(reply->location, sizeof(reply->location), "/migrations/%s", j.id);
	reply->body = job_to_json(&j, NULL, 0);
out:
	job_release(&j);
}

/* Read job id into j (release it), or answer 404 and return -1. */
static int job_load(struct api *a, const char *id, struct job *j, struct http_reply *reply)
{
	if (!uuid_valid(id) || store_job_get(a->store, id, j) < 0) {
		api_error(reply, AE_NOT_FOUND, NULL, "no migration with id \"%.40s\"", id);
		return -1;
	}
	return 0;
}

static int migration_wait(struct api *a, const struct job *j, const struct http_request *req,
			  struct http_reply *reply);

static void get_migration(struct api *a, const char *id, const struct http_request *req,
			  struct http_reply *reply)
{
	struct job_iter *iters = NULL;
	size_t n = 0;
	struct job j;

	if (job_load(a, id, &j, reply) < 0)
		return;
	if (req && migration_wait(a, &j, req, reply) != 0) {
		job_release(&j);
		return;
	}
	store_iter_list(a->store, id, &iters, &n);
	reply->status = 200;
	reply->body = job_to_json(&j, iters, n);
	free(iters);
	job_release(&j);
}

/* A bounded integer query parameter; def when absent. */
static int query_long(const struct http_request *req, const char *key, long min, long max,
		      long def, long *out, struct http_reply *reply)
{
	const char *v = http_query_get(req, key);

	*out = def;
	if (!v)
		return 0;
	if (parse_long(v, min, max, out) < 0) {
		api_error(reply, AE_BAD_QUERY, key, "\"%s\" must be an integer from %ld to %ld",
			  key, min, max);
		return -1;
	}
	return 0;
}

static void list_migrations(struct api *a, const struct http_request *req,
			    struct http_reply *reply)
{
	const char *state = http_query_get(req, "state"), *type = http_query_get(req, "type");
	struct job *jobs = NULL;
	size_t n = 0;
	long limit, before;
	enum job_state st;
	json_t *arr;

	if (query_long(req, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit, reply) < 0 ||
	    query_long(req, "before", 1, INT64_MAX / 2, 0, &before, reply) < 0)
		return;
	if (state && job_state_parse(state, &st) < 0) {
		api_error(reply, AE_BAD_QUERY, "state", "\"state\" must be queued, running, "
			  "succeeded, failed or cancelled");
		return;
	}
	if (type && !mig_ops_find(type)) {
		api_error(reply, AE_BAD_QUERY, "type", "\"type\" must be a migration type: %s",
			  mig_type_names());
		return;
	}
	if (store_job_list_where(a->store, before, (int)limit, state ? job_state_name(st) : NULL,
				 type ? mig_ops_find(type)->type : NULL, &jobs, &n) < 0) {
		api_error(reply, AE_INTERNAL, NULL, "cannot read the jobs");
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, job_to_json(&jobs[i], NULL, 0));
	reply->status = 200;
	reply->body = json_pack("{s:o, s:o}", "migrations", arr, "next",
				n == (size_t)limit ? json_integer(jobs[n - 1].seq) : json_null());
	store_jobs_free(jobs, n);
}

/* One event as the API shows it, in GET .../events and the event stream. */
static json_t *event_json(const struct job_event *e)
{
	json_t *data = e->data ? json_loads(e->data, 0, NULL) : NULL;
	char ts[32];

	time_rfc3339(e->ts, ts, sizeof(ts));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:o}",
			 "id", (json_int_t)e->id, "job", e->job_id, "ts", ts,
			 "kind", e->kind[0] ? e->kind : "log", "level", e->level,
			 "state", e->state[0] ? e->state : NULL, "phase", e->phase,
			 "message", e->message, "data", data ? data : json_null());
}

static void list_events(struct api *a, const char *id, const struct http_request *req,
			struct http_reply *reply)
{
	struct job_event *evs = NULL;
	size_t n = 0;
	long after, limit;
	json_t *arr;
	struct job j;

	if (job_load(a, id, &j, reply) < 0)
		return;
	job_release(&j);
	if (query_long(req, "after", 0, INT64_MAX / 2, 0, &after, reply) < 0 ||
	    query_long(req, "limit", 1, EVENTS_MAX, EVENTS_MAX, &limit, reply) < 0)
		return;
	if (store_event_list(a->store, id, after, (int)limit, &evs, &n) < 0) {
		api_error(reply, AE_INTERNAL, NULL, "cannot read the events");
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, event_json(&evs[i]));
	reply->status = 200;
	reply->body = json_pack("{s:o}", "events", arr);
	store_events_free(evs, n);
}

/* ---- GET /events: every job's events as server-sent events ---- */

struct sse {
	struct api *a;
	int64_t cursor;          /* the last event id sent */
	char job[JOB_ID_LEN];    /* only this job's, when not "" */
	int64_t next_beat;       /* monotonic ms of the next keep-alive comment */
	int64_t end_at;          /* the stream ends here; the client resumes */
	bool started;
};

static int sse_fill(void *ctx, struct http_buf *out, int64_t now, bool stopping, int64_t *wake_at)
{
	struct sse *x = ctx;
	struct job_event *evs = NULL;
	size_t n = 0, i;
	bool wrote = false;

	if (!x->started) {
		/* How long a reconnecting EventSource waits; and a first line, so that
		 * the client (and any proxy) sees the stream open at once. */
		if (http_buf_printf(out, "retry: %d\n: hauld events after %lld\n\n", SSE_RETRY_MS,
				    (long long)x->cursor) < 0)
			return -1;
		x->started = true;
	}
	if (stopping || now >= x->end_at)
		return 0;
	if (store_event_since(x->a->store, x->cursor, x->job[0] ? x->job : NULL, SSE_BATCH, &evs,
			      &n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		json_t *o = event_json(&evs[i]);
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		int rc;

		json_decref(o);
		if (!text)
			break;
		/* Compact JSON has no line break, so one data line holds it. */
		rc = http_buf_printf(out, "id: %lld\nevent: %s\ndata: %s\n\n",
				     (long long)evs[i].id, evs[i].kind[0] ? evs[i].kind : "log",
				     text);
		free(text);
		if (rc < 0)
			break;   /* the buffer is full: the rest comes next time */
		x->cursor = evs[i].id;
		wrote = true;
	}
	store_events_free(evs, n);
	if (wrote || now >= x->next_beat) {
		if (!wrote && http_buf_printf(out, ": keep-alive\n\n") < 0)
			return -1;
		x->next_beat = now + SSE_HEARTBEAT_MS;
	}
	*wake_at = i < n || n == SSE_BATCH ? now : x->next_beat < x->end_at ? x->next_beat
									      : x->end_at;
	return 1;
}

static void stream_ctx_free(void *ctx)
{
	free(ctx);
}

static void event_stream(struct api *a, const struct http_request *req, struct http_reply *reply)
{
	const char *job = http_query_get(req, "job");
	struct sse *x;
	long after = -1, secs;
	struct job j;

	if (job) {
		if (job_load(a, job, &j, reply) < 0)
			return;
		job_release(&j);
	}
	if (req->last_event_id && req->last_event_id[0]) {
		if (parse_long(req->last_event_id, 0, INT64_MAX / 2, &after) < 0) {
			api_error(reply, AE_BAD_VALUE, "Last-Event-ID", "the Last-Event-ID header "
				  "must be an event id (an integer)");
			return;
		}
	} else if (query_long(req, "after", 0, INT64_MAX / 2, -1, &after, reply) < 0) {
		return;
	}
	if (query_long(req, "timeout", 1, SSE_MAX_S, SSE_MAX_S, &secs, reply) < 0)
		return;
	x = calloc(1, sizeof(*x));
	if (!x) {
		api_error(reply, AE_INTERNAL, NULL, "out of memory");
		return;
	}
	x->a = a;
	/* Without a cursor: a job's whole story, or from now for every job. */
	x->cursor = after >= 0 ? after : job ? 0 : store_event_last(a->store);
	if (x->cursor < 0)
		x->cursor = 0;
	if (job)
		snprintf(x->job, sizeof(x->job), "%s", job);
	x->end_at = time_mono_ms() + secs * 1000;
	x->next_beat = time_mono_ms() + SSE_HEARTBEAT_MS;
	reply->status = 200;
	reply->content_type = "text/event-stream";
	reply->stream.fill = sse_fill;
	reply->stream.free = stream_ctx_free;
	reply->stream.ctx = x;
}

/* ---- GET /migrations/ID?wait=SECONDS: answer at a change or at the time ---- */

struct waiter {
	struct api *a;
	char id[JOB_ID_LEN];
	char state[16];
	char phase[JOB_PHASE_LEN];
	int64_t deadline;
};

/* Whether j differs from what the waiter knows, or cannot change any more. */
static bool job_moved(const struct job *j, const char *state, const char *phase)
{
	return job_state_final(j->state) || strcmp(job_state_name(j->state), state) != 0 ||
	       (phase[0] && strcmp(j->phase, phase) != 0);
}

static int wait_fill(void *ctx, struct http_buf *out, int64_t now, bool stopping, int64_t *wake_at)
{
	struct waiter *w = ctx;
	struct job_iter *iters = NULL;
	size_t n = 0;
	json_t *o;
	char *text;
	struct job j;
	int rc;

	if (store_job_get(w->a->store, w->id, &j) < 0)
		return -1;   /* gone (pruned): nothing true can be answered */
	if (!stopping && now < w->deadline && !job_moved(&j, w->state, w->phase)) {
		job_release(&j);
		*wake_at = w->deadline;
		return 1;
	}
	store_iter_list(w->a->store, w->id, &iters, &n);
	o = job_to_json(&j, iters, n);
	free(iters);
	job_release(&j);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return -1;
	rc = http_buf_append(out, text, strlen(text));
	free(text);
	return rc < 0 ? -1 : 0;
}

/* ?wait=SECONDS, with the state and phase the client knows (default: the job's
 * now). Returns 1 when the reply is a wait, 0 to answer at once, -1 on error. */
static int migration_wait(struct api *a, const struct job *j, const struct http_request *req,
			  struct http_reply *reply)
{
	const char *state = http_query_get(req, "state"), *phase = http_query_get(req, "phase");
	enum job_state st;
	struct waiter *w;
	long secs;

	if (query_long(req, "wait", 0, WAIT_MAX_S, 0, &secs, reply) < 0)
		return -1;
	if (state && job_state_parse(state, &st) < 0) {
		api_error(reply, AE_BAD_QUERY, "state", "\"state\" must be queued, running, "
			  "succeeded, failed or cancelled");
		return -1;
	}
	if (phase && strlen(phase) >= JOB_PHASE_LEN) {
		api_error(reply, AE_BAD_QUERY, "phase", "\"phase\" is too long");
		return -1;
	}
	if (secs == 0 || job_moved(j, state ? state : job_state_name(j->state), phase ? phase : ""))
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w) {
		api_error(reply, AE_INTERNAL, NULL, "out of memory");
		return -1;
	}
	w->a = a;
	snprintf(w->id, sizeof(w->id), "%s", j->id);
	snprintf(w->state, sizeof(w->state), "%s", state ? state : job_state_name(j->state));
	snprintf(w->phase, sizeof(w->phase), "%s", phase ? phase : j->phase);
	w->deadline = time_mono_ms() + secs * 1000;
	reply->status = 200;
	reply->content_type = "application/json";
	reply->stream.fill = wait_fill;
	reply->stream.free = stream_ctx_free;
	reply->stream.ctx = w;
	return 1;
}

/* ---- GET /metrics ---- */

static void metrics(struct api *a, struct http_reply *reply)
{
	const struct criu_info *ci = a->engine ? engine_criu(a->engine) : NULL;
	struct metrics_gauges g = { .version = HAULD_VERSION };

	if (ci)
		g.criu_version = ci->version_text;
	if (store_job_counts(a->store, g.in_flight) < 0) {
		api_error(reply, AE_INTERNAL, NULL, "cannot count the jobs");
		return;
	}
	reply->text = metrics_render(&g);
	if (!reply->text) {
		api_error(reply, AE_INTERNAL, NULL, "out of memory");
		return;
	}
	reply->status = 200;
	reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The end of one CRIU log as JSON text: at most LOG_TAIL bytes, whole lines, other
 * bytes than printable ASCII, tab and newline shown as '?'. */
static json_t *log_json(const char *path, const char *name)
{
	char *buf, *start;
	size_t len = 0, skip = 0;
	struct stat st;
	off_t from;
	ssize_t n;
	json_t *o;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	/* Only the tail is read, one byte more to tell whether it starts a line. */
	from = st.st_size > LOG_TAIL ? st.st_size - LOG_TAIL - 1 : 0;
	buf = malloc(LOG_TAIL + 2);
	if (!buf) {
		close(fd);
		return NULL;
	}
	while (len < LOG_TAIL + 1 &&
	       (n = pread(fd, buf + len, LOG_TAIL + 1 - len, from + (off_t)len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	if (from > 0) {
		/* Whole lines: drop what precedes the first line break. */
		skip = 1;
		while (skip < len && buf[skip - 1] != '\n')
			skip++;
	}
	start = buf + skip;
	for (char *c = start; c < buf + len; c++)
		if ((*c < 0x20 && *c != '\n' && *c != '\t') || (unsigned char)*c > 0x7e)
			*c = '?';
	o = json_pack("{s:s, s:I, s:b, s:s#}", "name", name, "size", (json_int_t)st.st_size,
		      "truncated", from > 0 || skip > 0, "text", start, (int)(len - skip));
	free(buf);
	return o;
}

/* Append the logs found in dir (or, when absent there, in alt; may be NULL) to arr,
 * each marked with the host that wrote it. */
static void logs_from(json_t *arr, const char *dir, const char *alt, const char *host)
{
	for (size_t i = 0; i < CRIU_LOG_COUNT; i++) {
		char path[1200];
		json_t *o;

		snprintf(path, sizeof(path), "%s/%s", dir, criu_log_names[i]);
		o = log_json(path, criu_log_names[i]);
		if (!o && alt) {
			snprintf(path, sizeof(path), "%s/%s", alt, criu_log_names[i]);
			o = log_json(path, criu_log_names[i]);
		}
		if (!o)
			continue;
		json_object_set_new(o, "host", json_string(host));
		json_array_append_new(arr, o);
	}
}

static void job_logs(struct api *a, const char *id, struct http_reply *reply)
{
	char dir[1100], alt[1100];
	json_t *arr;
	struct job j;
	bool source;

	if (job_load(a, id, &j, reply) < 0)
		return;
	source = j.role == JOB_SOURCE;
	job_release(&j);
	arr = json_array();
	if (a->data_dir) {
		/* This host's logs moved to logs/ID when the job's files went; they are
		 * still in jobs/ID/work while it runs or when it keeps its images. The
		 * other host's were fetched over the peer link when the job ended. */
		snprintf(dir, sizeof(dir), "%s/logs/%s", a->data_dir, id);
		snprintf(alt, sizeof(alt), "%s/jobs/%s/work", a->data_dir, id);
		logs_from(arr, dir, alt, source ? "source" : "destination");
		if (source) {
			snprintf(dir, sizeof(dir), "%s/logs/%s/destination", a->data_dir, id);
			logs_from(arr, dir, NULL, "destination");
		}
	}
	reply->status = 200;
	reply->body = json_pack("{s:o}", "logs", arr);
}

static void cancel_migration(struct api *a, const char *id, struct http_reply *reply)
{
	char why[256] = "";
	int ret;

	if (!uuid_valid(id) || !a->engine) {
		api_error(reply, AE_NOT_FOUND, NULL, "no migration with id \"%.40s\"", id);
		return;
	}
	ret = engine_cancel(a->engine, id, why, sizeof(why));
	if (ret == -ENOENT) {
		api_error(reply, AE_NOT_FOUND, NULL, "no migration with id \"%.40s\"", id);
		return;
	}
	if (ret < 0) {
		api_error(reply, AE_CONFLICT, NULL, "cannot cancel: %s", why);
		return;
	}
	get_migration(a, id, NULL, reply);
	if (reply->status == 200)
		reply->status = 202;
}

/* ---- GET /candidates: what the form of the dashboard offers to migrate ---- */

static void candidates(struct api *a, const struct http_request *req, struct http_reply *reply)
{
	const struct criu_info *ci = a->engine ? engine_criu(a->engine) : NULL;
	json_t *o;
	long limit;

	if (query_long(req, "limit", 1, CAND_MAX, CAND_DEFAULT, &limit, reply) < 0)
		return;
	o = candidates_processes((size_t)limit, ci && ci->path[0] ? ci->path : NULL);
	if (!o) {
		api_error(reply, AE_INTERNAL, NULL, "out of memory");
		return;
	}
	json_object_set_new(o, "containers", mig_engines_containers(CTR_LIST_MAX));
	reply->status = 200;
	reply->body = o;
}

/* The peers of the newest PEERS_JOBS jobs, newest first: each address once, with
 * when it was last seen (its newest job's creation), how many of those jobs went
 * there and came from there, and the state of its last job. */
static json_t *recent_peers(struct api *a)
{
	struct job *jobs = NULL;
	json_t *arr = json_array(), *p = NULL;
	size_t n = 0;

	if (!arr || store_job_list(a->store, 0, PEERS_JOBS, &jobs, &n) < 0)
		return arr;
	for (size_t i = 0; i < n; i++) {
		const struct job *j = &jobs[i];
		const char *key = j->role == JOB_SOURCE ? "sent" : "received";
		char ts[32];
		size_t k;

		if (!j->to[0])
			continue;
		json_array_foreach(arr, k, p)
			if (strcmp(json_string_value(json_object_get(p, "address")), j->to) == 0)
				break;
		if (k < json_array_size(arr)) {
			json_object_set_new(p, key, json_integer(json_integer_value(
						json_object_get(p, key)) + 1));
			continue;
		}
		if (json_array_size(arr) >= PEERS_MAX)
			continue;
		time_rfc3339(j->created_at, ts, sizeof(ts));
		p = json_pack("{s:s, s:s, s:s, s:i, s:i}", "address", j->to, "last_seen", ts,
			      "last_state", job_state_name(j->state),
			      "sent", j->role == JOB_SOURCE, "received", j->role != JOB_SOURCE);
		if (p)
			json_array_append_new(arr, p);
	}
	store_jobs_free(jobs, n);
	return arr;
}

static bool token_ok(const char *want, const char *auth);

/* peers only for a request that may read the jobs (the token, when one is asked):
 * /healthz itself is open. */
static void health(struct api *a, const struct http_request *req, struct http_reply *reply)
{
	const struct criu_info *ci = a->engine ? engine_criu(a->engine) : NULL;
	int queued = 0, running = 0, incoming = 0;
	char pipe_max[32] = "";
	char *buf = NULL;
	size_t len;
	struct utsname u;
	struct precopy_policy policy;
	enum strategy live;
	char why[256];

	precopy_policy_default(&policy);
	live = strategy_choose(ci && ci->mem_track, &policy, why, sizeof(why));
	if (a->engine)
		engine_counts(a->engine, &queued, &running, &incoming);
	if (file_read_all("/proc/sys/fs/pipe-max-size", 31, &buf, &len) == 0) {
		snprintf(pipe_max, sizeof(pipe_max), "%s", buf);
		pipe_max[strcspn(pipe_max, "\n")] = '\0';
	}
	free(buf);
	uname(&u);
	reply->status = 200;
	reply->body = json_pack(
		"{s:s, s:s, s:s, s:{s:i, s:s, s:s, s:b, s:s?}, s:{s:b, s:b, s:I}, "
		"s:{s:s, s:s}, s:{s:i, s:i, s:i}}",
		"status", ci && ci->check_ok ? "ok" : "degraded",
		"version", HAULD_VERSION,
		"kernel", u.release,
		"criu", "version", ci ? ci->version : 0,
		"version_text", ci ? ci->version_text : "",
		"path", ci ? ci->path : "",
		"check_ok", ci && ci->check_ok,
		"check_error", ci && ci->check_error[0] ? ci->check_error : NULL,
		"features", "mem_track", ci && ci->mem_track, "lazy_pages", ci && ci->lazy_pages,
		"pipe_max_size", (json_int_t)atoll(pipe_max),
		"strategies", "live", strategy_name(live),
		"why", why,
		"jobs", "queued", queued, "running", running, "incoming", incoming);
	if (reply->body) {
		json_object_set_new(reply->body, "engines", mig_engines_health());
		if (!a->token || token_ok(a->token, req->authorization))
			json_object_set_new(reply->body, "peers", recent_peers(a));
	}
}

static void static_file(struct api *a, const char *path, struct http_reply *reply)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript" },
		{ ".css", "text/css" }, { ".svg", "image/svg+xml" }, { ".json", "application/json" },
	};
	/* The chart library, as scripts/setup.sh installed it (npm ci in www/vendor) and
	 * make install copies it: fixed names to fixed files, nothing else below DIR. */
	static const struct { const char *path, *file, *type; } vendor[] = {
		{ "/vendor/uPlot.iife.min.js", "vendor/node_modules/uplot/dist/uPlot.iife.min.js",
		  "text/javascript" },
		{ "/vendor/uPlot.min.css", "vendor/node_modules/uplot/dist/uPlot.min.css",
		  "text/css" },
	};
	const char *name = strcmp(path, "/") == 0 ? "index.html" : path + 1;
	const char *dot = strrchr(name, '.');
	struct stat st;

	for (size_t i = 0; a->www_dir && i < ARRAY_SIZE(vendor); i++) {
		if (strcmp(path, vendor[i].path) != 0)
			continue;
		snprintf(reply->file, sizeof(reply->file), "%s/%s", a->www_dir, vendor[i].file);
		if (stat(reply->file, &st) < 0 || !S_ISREG(st.st_mode))
			break;
		reply->status = 200;
		reply->content_type = vendor[i].type;
		return;
	}
	if (!a->www_dir || strstr(name, "..") || strchr(name, '/') || !dot) {
		api_error(reply, AE_NOT_FOUND, NULL, "no such resource");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (strcmp(dot, types[i].ext) == 0) {
			snprintf(reply->file, sizeof(reply->file), "%s/%s", a->www_dir, name);
			if (stat(reply->file, &st) < 0 || !S_ISREG(st.st_mode))
				break;
			reply->status = 200;
			reply->content_type = types[i].type;
			return;
		}
	}
	api_error(reply, AE_NOT_FOUND, NULL, "no such resource");
}

/* HEAD is GET without the body, which libmicrohttpd leaves out itself. */
static int method_is(const struct http_request *req, const char *m)
{
	return strcmp(req->method, m) == 0 ||
	       (strcmp(m, "GET") == 0 && strcmp(req->method, "HEAD") == 0);
}

bool api_hosts_for(struct api *a, const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	bool loop;

	a->n_hosts = 0;
	loop = strcmp(host, "localhost") == 0 ||
	       (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
	       (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
	if (!loop)
		return false;
	snprintf(a->hosts[a->n_hosts++], sizeof(a->hosts[0]), "%s", host);
	snprintf(a->hosts[a->n_hosts++], sizeof(a->hosts[0]), "localhost");
	snprintf(a->hosts[a->n_hosts++], sizeof(a->hosts[0]), "127.0.0.1");
	snprintf(a->hosts[a->n_hosts++], sizeof(a->hosts[0]), "::1");
	return true;
}

/* The host part of a Host header or of an origin's authority: "[::1]:8420" is
 * "::1", "localhost:8420" is "localhost". */
static void host_part(const char *v, char *out, size_t len)
{
	const char *end;

	out[0] = '\0';
	if (!v)
		return;
	if (v[0] == '[') {
		end = strchr(v, ']');
		if (end)
			snprintf(out, len, "%.*s", (int)(end - v - 1), v + 1);
		return;
	}
	end = strchr(v, ':');
	snprintf(out, len, "%.*s", end ? (int)(end - v) : (int)strlen(v), v);
}

static bool host_is_ours(const struct api *a, const char *host)
{
	char h[300];

	if (a->n_hosts == 0)
		return true;
	host_part(host, h, sizeof(h));
	for (size_t i = 0; h[0] && i < a->n_hosts; i++)
		if (strcasecmp(h, a->hosts[i]) == 0)
			return true;
	return false;
}

/* Constant time, so that the token cannot be guessed byte by byte from timings. */
static bool token_ok(const char *want, const char *auth)
{
	size_t n = strlen(want), m;
	unsigned char diff = 0;

	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	auth += 7;
	m = strlen(auth);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(want[i] ^ (i < m ? auth[i] : 0));
	return diff == 0 && m == n;
}

/* Who may ask, before anything is routed. A web page in any browser on this host
 * can reach a loopback port: a Host that is not ours is a DNS rebinding, an Origin
 * that is not ours a cross-site request, and a state-changing request must be JSON
 * (which a form cannot send without the browser asking first). Then the token, for
 * all but /healthz and the dashboard's own files (the page asks for the token). */
static int guard(struct api *a, const struct http_request *req, struct http_reply *reply)
{
	bool changes = !method_is(req, "GET") && !method_is(req, "HEAD");
	bool open_route = (strcmp(req->path, "/healthz") == 0 && method_is(req, "GET")) ||
			  (method_is(req, "GET") && strncmp(req->path, "/migrations", 11) != 0 &&
			   strcmp(req->path, "/events") != 0 && strcmp(req->path, "/metrics") != 0 &&
			   strcmp(req->path, "/candidates") != 0);

	if (!host_is_ours(a, req->host)) {
		api_error(reply, AE_FORBIDDEN, NULL, "Host \"%.80s\" is not this daemon's: it "
			  "answers on its own address only", req->host ? req->host : "");
		return -1;
	}
	if (req->origin && changes) {
		const char *scheme = a->tls ? "https://" : "http://";
		bool ok = strncasecmp(req->origin, scheme, strlen(scheme)) == 0;

		/* Loopback: one of our names. Otherwise the page's origin is the host it
		 * was served from, the request's Host. */
		if (ok && a->n_hosts)
			ok = host_is_ours(a, req->origin + strlen(scheme));
		else if (ok)
			ok = req->host && strcasecmp(req->origin + strlen(scheme), req->host) == 0;
		if (!ok) {
			api_error(reply, AE_FORBIDDEN, NULL, "a request from %.80s, another origin, "
				  "may not change anything here", req->origin);
			return -1;
		}
	}
	if (changes && req->body_len > 0 &&
	    (!req->content_type || strncasecmp(req->content_type, "application/json", 16) != 0 ||
	     (req->content_type[16] && req->content_type[16] != ';' && req->content_type[16] != ' '))) {
		api_error(reply, AE_UNSUPPORTED_MEDIA, NULL, "a request that changes something must "
			  "be sent as Content-Type: application/json");
		return -1;
	}
	if (a->token && !open_route && !token_ok(a->token, req->authorization)) {
		api_error(reply, AE_UNAUTHORIZED, NULL, "%s: send Authorization: Bearer TOKEN, the "
			  "token of --api-token-file", req->authorization ? "wrong token" :
			  "this API needs a token");
		reply->www_authenticate = true;
		return -1;
	}
	return 0;
}

void api_handle(void *ctx, const struct http_request *req, struct http_reply *reply)
{
	struct api *a = ctx;
	const char *p = req->path;
	const char *rest;

	if (guard(a, req, reply) < 0)
		return;

	if (strcmp(p, "/healthz") == 0) {
		if (method_is(req, "GET"))
			health(a, req, reply);
		else
			api_error(reply, AE_METHOD, NULL, "/healthz allows GET");
	} else if (strcmp(p, "/events") == 0) {
		if (method_is(req, "GET"))
			event_stream(a, req, reply);
		else
			api_error(reply, AE_METHOD, NULL, "/events allows GET");
	} else if (strcmp(p, "/candidates") == 0) {
		if (method_is(req, "GET"))
			candidates(a, req, reply);
		else
			api_error(reply, AE_METHOD, NULL, "/candidates allows GET");
	} else if (strcmp(p, "/metrics") == 0) {
		if (method_is(req, "GET"))
			metrics(a, reply);
		else
			api_error(reply, AE_METHOD, NULL, "/metrics allows GET");
	} else if (strcmp(p, "/migrations") == 0) {
		if (method_is(req, "POST"))
			post_migration(a, req, reply);
		else if (method_is(req, "GET"))
			list_migrations(a, req, reply);
		else
			api_error(reply, AE_METHOD, NULL, "/migrations allows GET and POST");
	} else if (strncmp(p, "/migrations/", 12) == 0) {
		char id[JOB_ID_LEN + 1] = "";
		size_t idlen;

		rest = p + 12;
		idlen = strcspn(rest, "/");
		if (idlen < sizeof(id))
			memcpy(id, rest, idlen);
		rest += idlen;
		if (strcmp(rest, "") == 0) {
			if (method_is(req, "GET"))
				get_migration(a, id, req, reply);
			else if (method_is(req, "DELETE"))
				cancel_migration(a, id, reply);
			else
				api_error(reply, AE_METHOD, NULL, "a migration allows GET and DELETE");
		} else if (strcmp(rest, "/logs") == 0) {
			if (method_is(req, "GET"))
				job_logs(a, id, reply);
			else
				api_error(reply, AE_METHOD, NULL, "logs allow GET");
		} else if (strcmp(rest, "/events") == 0) {
			if (method_is(req, "GET"))
				list_events(a, id, req, reply);
			else
				api_error(reply, AE_METHOD, NULL, "events allow GET");
		} else {
			api_error(reply, AE_NOT_FOUND, NULL, "no such resource");
		}
	} else if (method_is(req, "GET")) {
		static_file(a, p, reply);
	} else {
		api_error(reply, AE_NOT_FOUND, NULL, "no such resource");
	}
}
