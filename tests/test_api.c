/* test_api.c: the REST API's routes and validation, driven through api_handle and
 * api_parse_migration with no sockets and no engine, on a real store in a temporary
 * directory. Every error reply is checked for its status, its code, a message and
 * the field it names. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "http.h"
#include "job.h"
#include "store.h"
#include "util.h"

static char tmpdir[64];
static char dbpath[128];
static struct store *st;
static struct api api;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/hauld-test-api-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/hauld.db", tmpdir);
	st = NULL;
	ck_assert_int_eq(store_open(dbpath, &st), 0);
	ck_assert_ptr_nonnull(st);
	memset(&api, 0, sizeof(api));
	api.store = st;
	api.engine = NULL;
	api.www_dir = NULL;
}

static void teardown(void)
{
	char p[160];

	store_free(st);
	st = NULL;
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	unlink(dbpath);
	rmdir(tmpdir);
}

/* ---- helpers ---- */

/* Answer one request; the caller releases reply->body. */
static void call(const char *method, const char *path, const struct http_query_param *q,
		 size_t nq, const char *body, struct http_reply *reply)
{
	struct http_request req = {
		.method = method, .path = path, .query = q, .n_query = nq,
		.body = body, .body_len = body ? strlen(body) : 0, .remote = "127.0.0.1",
		.content_type = "application/json",
	};

	memset(reply, 0, sizeof(*reply));
	api_handle(&api, &req, reply);
}

/* One request with the headers the guard reads. */
static void call_as(const char *method, const char *path, const char *body, const char *ctype,
		    const char *host, const char *origin, const char *auth, struct http_reply *reply)
{
	struct http_request req = {
		.method = method, .path = path, .body = body, .body_len = body ? strlen(body) : 0,
		.remote = "127.0.0.1", .content_type = ctype, .host = host, .origin = origin,
		.authorization = auth,
	};

	memset(reply, 0, sizeof(*reply));
	api_handle(&api, &req, reply);
}

/* The reply is the error {status, code} naming field (NULL: "field" is null), with a
 * message a person can read. */
static void check_error(const struct http_reply *r, int status, const char *code,
			const char *field)
{
	json_t *err, *v;

	ck_assert_int_eq(r->status, status);
	ck_assert_ptr_nonnull(r->body);
	err = json_object_get(r->body, "error");
	ck_assert(json_is_object(err));
	v = json_object_get(err, "code");
	ck_assert(json_is_string(v));
	ck_assert_str_eq(json_string_value(v), code);
	v = json_object_get(err, "message");
	ck_assert(json_is_string(v));
	ck_assert_int_gt(strlen(json_string_value(v)), 0);
	v = json_object_get(err, "field");
	ck_assert_ptr_nonnull(v);
	if (field) {
		ck_assert_msg(json_is_string(v), "field should be \"%s\"", field);
		ck_assert_str_eq(json_string_value(v), field);
	} else {
		ck_assert(json_is_null(v));
	}
}

/* api_parse_migration on body must fail with this error. */
static void parse_fails(const char *body, int status, const char *code, const char *field)
{
	struct http_reply r;
	struct job j;
	int ret;

	memset(&r, 0, sizeof(r));
	job_init(&j);
	ret = api_parse_migration(body, body ? strlen(body) : 0, &j, &r);
	ck_assert_msg(ret == -1, "accepted: %s", body ? body : "(null)");
	check_error(&r, status, code, field);
	json_decref(r.body);
	job_release(&j);
}

/* The same through POST /migrations: validation answers before the missing engine
 * is noticed. */
static void post_fails(const char *body, int status, const char *code, const char *field)
{
	struct http_reply r;

	call("POST", "/migrations", NULL, 0, body, &r);
	check_error(&r, status, code, field);
	json_decref(r.body);
}

/* A child that sleeps until killed; the caller calls reap(). It runs another
 * program than this one: a fork of the test binary would count as a hauld (the
 * same executable as the caller), which must never be frozen. */
static pid_t sleeper(void)
{
	pid_t p = fork();
	char path[64];

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		execl("/bin/sleep", "sleep", "1000", (char *)NULL);
		_exit(127);
	}
	/* Wait for the exec, so that the caller sees the new program. */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)p);
	for (int i = 0; i < 500; i++) {
		char comm[32] = "";
		FILE *f = fopen(path, "r");

		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (strncmp(comm, "sleep", 5) == 0)
			break;
		usleep(10 * 1000);
	}
	return p;
}

static void reap(pid_t p)
{
	int status;

	kill(p, SIGKILL);
	while (waitpid(p, &status, 0) < 0 && errno == EINTR)
		;
}

/* The pid of a child that has exited and been reaped: no such process. */
static pid_t gone_pid(void)
{
	int status;
	pid_t p = fork();

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		/* exec rather than _exit: under valgrind the child would report the
		 * parent's heap, which it inherited, as lost. */
		execl("/bin/true", "true", (char *)NULL);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(p, &status, 0), p);
	return p;
}

static void insert_job(struct job *j, int pid, const char *phase)
{
	job_init(j);
	uuid_new(j->id);
	snprintf(j->type, sizeof(j->type), "pid");
	j->role = JOB_SOURCE;
	j->pid = pid;
	snprintf(j->to, sizeof(j->to), "10.0.0.2:8421");
	snprintf(j->mode, sizeof(j->mode), "live");
	snprintf(j->phase, sizeof(j->phase), "%s", phase);
	j->created_at = time_now_ms();
	ck_assert_int_eq(store_job_insert(st, j), 0);
	ck_assert_int_gt(j->seq, 0);
}

/* ---- api_parse_migration ---- */

START_TEST(test_invalid_json)
{
	parse_fails("{", 400, "invalid_json", NULL);
	parse_fails("{\"type\":\"pid\",}", 400, "invalid_json", NULL);
	parse_fails("nonsense", 400, "invalid_json", NULL);
	parse_fails("", 400, "invalid_json", NULL);
	parse_fails(NULL, 400, "invalid_json", NULL);
	post_fails("{", 400, "invalid_json", NULL);
	post_fails(NULL, 400, "invalid_json", NULL);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	parse_fails("{\"type\":\"pid\",\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\"}", 400,
		    "invalid_json", NULL);
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\","
		    "\"options\":{\"shell_job\":true,\"shell_job\":false}}", 400,
		    "invalid_json", NULL);
}
END_TEST

START_TEST(test_not_object)
{
	parse_fails("[]", 400, "invalid_type", NULL);
	parse_fails("[{\"type\":\"pid\"}]", 400, "invalid_type", NULL);
	parse_fails("\"pid\"", 400, "invalid_type", NULL);
	parse_fails("42", 400, "invalid_type", NULL);
	parse_fails("null", 400, "invalid_type", NULL);
	post_fails("[]", 400, "invalid_type", NULL);
}
END_TEST

START_TEST(test_unknown_field)
{
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"bogus\":1}", 400,
		    "unknown_field", "bogus");
	parse_fails("{\"dest\":\"h:1\"}", 400, "unknown_field", "dest");
	post_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"x\":null}", 400,
		   "unknown_field", "x");
}
END_TEST

START_TEST(test_missing_field)
{
	parse_fails("{}", 400, "missing_field", "type");
	parse_fails("{\"pid\":5,\"to\":\"h:1\"}", 400, "missing_field", "type");
	parse_fails("{\"type\":\"pid\",\"pid\":5}", 400, "missing_field", "to");
	parse_fails("{\"type\":\"pid\",\"to\":\"h:1\"}", 400, "missing_field", "pid");
	post_fails("{\"type\":\"pid\",\"to\":\"h:1\"}", 400, "missing_field", "pid");
}
END_TEST

START_TEST(test_wrong_types)
{
	parse_fails("{\"type\":\"pid\",\"pid\":\"12\",\"to\":\"h:1\"}", 400, "invalid_type", "pid");
	parse_fails("{\"type\":\"pid\",\"pid\":12.0,\"to\":\"h:1\"}", 400, "invalid_type", "pid");
	parse_fails("{\"type\":\"pid\",\"pid\":null,\"to\":\"h:1\"}", 400, "invalid_type", "pid");
	parse_fails("{\"type\":\"pid\",\"pid\":12,\"to\":5}", 400, "invalid_type", "to");
	parse_fails("{\"type\":\"pid\",\"pid\":12,\"to\":\"h:1\",\"mode\":1}", 400,
		    "invalid_type", "mode");
	parse_fails("{\"type\":\"pid\",\"pid\":12,\"to\":\"h:1\",\"options\":[]}", 400,
		    "invalid_type", "options");
	parse_fails("{\"type\":\"pid\",\"pid\":12,\"to\":\"h:1\",\"options\":true}", 400,
		    "invalid_type", "options");
	parse_fails("{\"type\":7,\"pid\":12,\"to\":\"h:1\"}", 400, "invalid_type", "type");
	post_fails("{\"type\":\"pid\",\"pid\":\"12\",\"to\":\"h:1\"}", 400, "invalid_type", "pid");
}
END_TEST

START_TEST(test_unknown_type)
{
	parse_fails("{\"type\":\"lxc\",\"pid\":5,\"to\":\"h:1\"}", 422, "invalid_value", "type");
	parse_fails("{\"type\":\"\",\"pid\":5,\"to\":\"h:1\"}", 422, "invalid_value", "type");
	parse_fails("{\"type\":\"PID\",\"pid\":5,\"to\":\"h:1\"}", 422, "invalid_value", "type");
}
END_TEST

/* Each type names its target by its own field, and a container type's mode is
 * checked before its engine is asked anything. */
/* Who may ask: a browser page on this host, a foreign Host (DNS rebinding), a form
 * post, and the bearer token when one is set. */
START_TEST(test_guard)
{
	struct http_reply r;
	const char *body = "{\"type\":\"pid\",\"pid\":1,\"to\":\"h:1\"}";

	ck_assert(api_hosts_for(&api, "127.0.0.1"));
	call_as("GET", "/migrations", NULL, NULL, "127.0.0.1:8420", NULL, NULL, &r);
	ck_assert_int_ne(r.status, 403);
	json_decref(r.body);
	call_as("GET", "/migrations", NULL, NULL, "localhost:8420", NULL, NULL, &r);
	ck_assert_int_ne(r.status, 403);
	json_decref(r.body);
	call_as("GET", "/migrations", NULL, NULL, "evil.example:8420", NULL, NULL, &r);
	check_error(&r, 403, "forbidden", NULL);
	json_decref(r.body);
	/* A form post from a page: text/plain, or another origin. */
	call_as("POST", "/migrations", body, "text/plain", "127.0.0.1:8420", NULL, NULL, &r);
	check_error(&r, 415, "unsupported_media_type", NULL);
	json_decref(r.body);
	call_as("POST", "/migrations", body, "application/x-www-form-urlencoded", "127.0.0.1:8420",
		NULL, NULL, &r);
	check_error(&r, 415, "unsupported_media_type", NULL);
	json_decref(r.body);
	call_as("POST", "/migrations", body, "application/json", "127.0.0.1:8420",
		"http://evil.example", NULL, &r);
	check_error(&r, 403, "forbidden", NULL);
	json_decref(r.body);
	call_as("DELETE", "/migrations/00000000-0000-4000-8000-000000000001", NULL, NULL,
		"127.0.0.1:8420", "http://evil.example", NULL, &r);
	check_error(&r, 403, "forbidden", NULL);
	json_decref(r.body);
	call_as("POST", "/migrations", body, "application/json", "127.0.0.1:8420",
		"http://127.0.0.1.evil.example:8420", NULL, &r);
	check_error(&r, 403, "forbidden", NULL);
	json_decref(r.body);
	call_as("GET", "/migrations", NULL, NULL, "[::1]:8420", NULL, NULL, &r);
	ck_assert_int_ne(r.status, 403);
	json_decref(r.body);
	/* Its own page may. */
	call_as("POST", "/migrations", body, "application/json; charset=utf-8", "127.0.0.1:8420",
		"http://127.0.0.1:8420", NULL, &r);
	ck_assert_int_eq(r.status, 422);      /* pid 1: the guard let it through */
	json_decref(r.body);

	/* With a token: everything but /healthz and the dashboard's files needs it. */
	api.token = "s3cret-token-of-test";
	call_as("GET", "/migrations", NULL, NULL, "127.0.0.1:8420", NULL, NULL, &r);
	check_error(&r, 401, "unauthorized", NULL);
	ck_assert(r.www_authenticate);
	json_decref(r.body);
	call_as("GET", "/migrations", NULL, NULL, "127.0.0.1:8420", NULL, "Bearer s3cret-token-of-tes",
		&r);
	check_error(&r, 401, "unauthorized", NULL);
	json_decref(r.body);
	call_as("GET", "/migrations", NULL, NULL, "127.0.0.1:8420", NULL,
		"Bearer s3cret-token-of-testX", &r);
	check_error(&r, 401, "unauthorized", NULL);
	json_decref(r.body);
	call_as("GET", "/migrations", NULL, NULL, "127.0.0.1:8420", NULL,
		"Bearer s3cret-token-of-test", &r);
	ck_assert_int_ne(r.status, 401);
	json_decref(r.body);
	call_as("GET", "/healthz", NULL, NULL, "127.0.0.1:8420", NULL, NULL, &r);
	ck_assert_int_ne(r.status, 401);
	json_decref(r.body);
	call_as("DELETE", "/healthz", NULL, NULL, "127.0.0.1:8420", NULL, NULL, &r);
	check_error(&r, 401, "unauthorized", NULL);
	json_decref(r.body);
	api.token = NULL;
	/* Not loopback: any Host (the token guards). */
	ck_assert(!api_hosts_for(&api, "10.0.0.5"));
	call_as("GET", "/migrations", NULL, NULL, "hauld.example:8420", NULL, NULL, &r);
	ck_assert_int_ne(r.status, 403);
	json_decref(r.body);
	api.n_hosts = 0;
}
END_TEST

START_TEST(test_target_fields)
{
	parse_fails("{\"type\":\"runc\",\"pid\":5,\"to\":\"h:1\"}", 400, "unknown_field", "pid");
	parse_fails("{\"type\":\"pid\",\"container\":\"web1\",\"to\":\"h:1\"}", 400,
		    "unknown_field", "container");
	parse_fails("{\"type\":\"docker\",\"to\":\"h:1\"}", 400, "missing_field", "container");
	parse_fails("{\"type\":\"podman\",\"container\":7,\"to\":\"h:1\"}", 400, "invalid_type",
		    "container");
	parse_fails("{\"type\":\"docker\",\"container\":\"-x\",\"to\":\"h:1\"}", 422,
		    "invalid_value", "container");
	parse_fails("{\"type\":\"docker\",\"container\":\"a/../b\",\"to\":\"h:1\"}", 422,
		    "invalid_value", "container");
	parse_fails("{\"type\":\"docker\",\"container\":\"web1\",\"to\":\"h:1\","
		    "\"mode\":\"lazy\"}", 422, "invalid_value", "mode");
	parse_fails("{\"type\":\"docker\",\"container\":\"web1\",\"to\":\"h:1\","
		    "\"options\":{\"shared_paths\":\"/data\"}}", 400, "invalid_type",
		    "options.shared_paths");
	parse_fails("{\"type\":\"docker\",\"container\":\"web1\",\"to\":\"h:1\","
		    "\"options\":{\"shared_paths\":[\"\"]}}", 422, "invalid_value",
		    "options.shared_paths");
}
END_TEST

START_TEST(test_bad_to)
{
	static const char *const bad[] = {
		"nohost", "h:0", "h:99999", "", ":8421", "h:", "h:-1", "h:+1", "h:1x",
		"a:b:1", "bad host:1", "[::1]8421",
	};
	char body[600], host[301];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(body, sizeof(body), "{\"type\":\"pid\",\"pid\":5,\"to\":\"%s\"}", bad[i]);
		parse_fails(body, 422, "invalid_value", "to");
	}
	memset(host, 'a', 300);
	host[300] = '\0';
	snprintf(body, sizeof(body), "{\"type\":\"pid\",\"pid\":5,\"to\":\"%s:8421\"}", host);
	parse_fails(body, 422, "invalid_value", "to");
	post_fails(body, 422, "invalid_value", "to");
}
END_TEST

START_TEST(test_bad_mode)
{
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"mode\":\"warp\"}", 422,
		    "invalid_value", "mode");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"mode\":\"\"}", 422,
		    "invalid_value", "mode");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"mode\":\"LIVE\"}", 422,
		    "invalid_value", "mode");
}
END_TEST

START_TEST(test_bad_options)
{
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"x\":true}}", 400,
		    "unknown_field", "options.x");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\","
		    "\"options\":{\"shell_job\":true,\"lazy\":true}}", 400,
		    "unknown_field", "options.lazy");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"shell_job\":1}}",
		    400, "invalid_type", "options.shell_job");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\","
		    "\"options\":{\"tcp_established\":\"yes\"}}",
		    400, "invalid_type", "options.tcp_established");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"keep_images\":null}}",
		    400, "invalid_type", "options.keep_images");
	post_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"x\":true}}", 400,
		   "unknown_field", "options.x");
}
END_TEST

/* options.compress: "auto", "on" or "off", kept as given; anything else names the
 * field. */
START_TEST(test_compress_option)
{
	static const char *const good[] = { "auto", "on", "off" };
	char body[160];
	pid_t child = sleeper();

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct http_reply r;
		struct job j;
		char want[40];

		memset(&r, 0, sizeof(r));
		job_init(&j);
		snprintf(body, sizeof(body), "{\"type\":\"pid\",\"pid\":%d,\"to\":\"127.0.0.1:9\","
			 "\"options\":{\"compress\":\"%s\"}}", (int)child, good[i]);
		ck_assert_int_eq(api_parse_migration(body, strlen(body), &j, &r), 0);
		snprintf(want, sizeof(want), "\"compress\":\"%s\"", good[i]);
		ck_assert_ptr_nonnull(strstr(j.options, want));
		json_decref(r.body);
		job_release(&j);
	}
	reap(child);
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"compress\":\"lz4\"}}",
		    422, "invalid_value", "options.compress");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"compress\":\"ON\"}}",
		    422, "invalid_value", "options.compress");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"compress\":true}}",
		    400, "invalid_type", "options.compress");
	parse_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"compress\":null}}",
		    400, "invalid_type", "options.compress");
	post_fails("{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{\"compress\":\"\"}}",
		   422, "invalid_value", "options.compress");
}
END_TEST

/* The pre-copy policy options are bounded integers. */
START_TEST(test_integer_options)
{
	static const struct { const char *opt; int status; const char *code; } bad[] = {
		{ "\"max_iterations\":65", 422, "invalid_value" },
		{ "\"max_iterations\":-1", 422, "invalid_value" },
		{ "\"max_iterations\":true", 400, "invalid_type" },
		{ "\"max_iterations\":1.5", 400, "invalid_type" },
		{ "\"max_iterations\":\"8\"", 400, "invalid_type" },
		{ "\"precopy_min_pages\":1073741825", 422, "invalid_value" },
		{ "\"precopy_min_pages\":-1", 422, "invalid_value" },
		{ "\"precopy_min_pages\":null", 400, "invalid_type" },
		{ "\"precopy_max_growth_pct\":1001", 422, "invalid_value" },
		{ "\"precopy_max_growth_pct\":-5", 422, "invalid_value" },
		{ "\"precopy_max_growth_pct\":99999999999999999", 422, "invalid_value" },
		{ "\"precopy_max_growth_pct\":false", 400, "invalid_type" },
	};
	char body[256], field[64];
	struct http_reply r;
	struct job j;
	pid_t child;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *q = strchr(bad[i].opt + 1, '"');

		snprintf(field, sizeof(field), "options.%.*s", (int)(q - bad[i].opt - 1),
			 bad[i].opt + 1);
		snprintf(body, sizeof(body),
			 "{\"type\":\"pid\",\"pid\":5,\"to\":\"h:1\",\"options\":{%s}}",
			 bad[i].opt);
		parse_fails(body, bad[i].status, bad[i].code, field);
	}

	/* The bounds are accepted. */
	child = sleeper();
	snprintf(body, sizeof(body),
		 "{\"type\":\"pid\",\"pid\":%d,\"to\":\"127.0.0.1:9\",\"options\":"
		 "{\"max_iterations\":0,\"precopy_min_pages\":1073741824,"
		 "\"precopy_max_growth_pct\":1000}}", (int)child);
	memset(&r, 0, sizeof(r));
	job_init(&j);
	ck_assert_int_eq(api_parse_migration(body, strlen(body), &j, &r), 0);
	ck_assert_ptr_null(r.body);
	ck_assert_str_eq(j.options, "{\"max_iterations\":0,\"precopy_max_growth_pct\":1000,"
			 "\"precopy_min_pages\":1073741824}");
	job_release(&j);
	snprintf(body, sizeof(body),
		 "{\"type\":\"pid\",\"pid\":%d,\"to\":\"127.0.0.1:9\",\"options\":"
		 "{\"max_iterations\":64,\"precopy_min_pages\":0,"
		 "\"precopy_max_growth_pct\":0}}", (int)child);
	memset(&r, 0, sizeof(r));
	job_init(&j);
	ck_assert_int_eq(api_parse_migration(body, strlen(body), &j, &r), 0);
	ck_assert_ptr_null(r.body);
	job_release(&j);
	reap(child);
}
END_TEST

static void pid_fails(long pid)
{
	char body[160];

	snprintf(body, sizeof(body), "{\"type\":\"pid\",\"pid\":%ld,\"to\":\"127.0.0.1:9\"}", pid);
	parse_fails(body, 422, "invalid_pid", "pid");
}

START_TEST(test_bad_pids)
{
	pid_fails(1);
	pid_fails(2);                 /* kthreadd */
	pid_fails(getpid());
	pid_fails(getppid());
	pid_fails(gone_pid());
	pid_fails(0);
	pid_fails(-5);
	pid_fails(99999999);
	pid_fails(4194305);
	post_fails("{\"type\":\"pid\",\"pid\":1,\"to\":\"127.0.0.1:9\"}", 422, "invalid_pid", "pid");
}
END_TEST

START_TEST(test_bad_pid_kthread_child)
{
	/* A kernel thread other than kthreadd: any child of pid 2. */
	char path[64], buf[4096];
	FILE *f;
	int kt = 0;

	snprintf(path, sizeof(path), "/proc/2/task/2/children");
	f = fopen(path, "r");
	if (f) {
		if (fgets(buf, sizeof(buf), f))
			kt = atoi(buf);
		fclose(f);
	}
	if (kt > 0)
		pid_fails(kt);
}
END_TEST

START_TEST(test_valid_request)
{
	struct http_reply r;
	struct job j;
	char body[256];
	pid_t child = sleeper();
	int ret;

	snprintf(body, sizeof(body),
		 "{\"type\":\"pid\",\"pid\":%d,\"to\":\"127.0.0.1:9\"}", (int)child);
	memset(&r, 0, sizeof(r));
	job_init(&j);
	ret = api_parse_migration(body, strlen(body), &j, &r);
	ck_assert_msg(ret == 0, "rejected: %s",
		      r.body ? json_dumps(r.body, 0) : "(no body)");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_null(r.body);
	ck_assert_str_eq(j.type, "pid");
	ck_assert_int_eq(j.pid, child);
	ck_assert_str_eq(j.to, "127.0.0.1:9");
	ck_assert_str_eq(j.mode, "live");   /* the default */
	ck_assert_ptr_null(j.options);
	job_release(&j);

	/* Every field, options canonicalised (compact, sorted keys). */
	snprintf(body, sizeof(body),
		 "{\"options\":{\"tcp_established\":false,\"shell_job\":true},"
		 "\"mode\":\"live\",\"to\":\"host-b.example:8421\",\"pid\":%d,\"type\":\"pid\"}",
		 (int)child);
	memset(&r, 0, sizeof(r));
	job_init(&j);
	ck_assert_int_eq(api_parse_migration(body, strlen(body), &j, &r), 0);
	ck_assert_ptr_null(r.body);
	ck_assert_int_eq(j.pid, child);
	ck_assert_str_eq(j.to, "host-b.example:8421");
	ck_assert_str_eq(j.mode, "live");
	ck_assert_ptr_nonnull(j.options);
	ck_assert_str_eq(j.options, "{\"shell_job\":true,\"tcp_established\":false}");
	job_release(&j);

	/* A valid request with no engine: 503, nothing stored. */
	call("POST", "/migrations", NULL, 0, body, &r);
	check_error(&r, 503, "unavailable", NULL);
	json_decref(r.body);

	reap(child);
	/* The same request once the child is gone. */
	pid_fails(child);
}
END_TEST

/* ---- routes ---- */

START_TEST(test_not_found)
{
	struct http_reply r;
	char path[128], id[37];

	uuid_new(id);
	snprintf(path, sizeof(path), "/migrations/%s", id);
	call("GET", path, NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);

	snprintf(path, sizeof(path), "/migrations/%s/events", id);
	call("GET", path, NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);

	call("GET", "/migrations/not-a-uuid", NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);

	call("GET", "/migrations/", NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);

	/* An id far longer than a uuid. */
	call("GET", "/migrations/0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
	     NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);

	/* Upper case is not the canonical form. */
	snprintf(path, sizeof(path), "/migrations/%s", "6F1C0000-0000-4000-8000-000000000000");
	call("GET", path, NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);

	snprintf(path, sizeof(path), "/migrations/%s/nope", id);
	call("GET", path, NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);

	/* No dashboard directory: every other GET is 404, other methods too. */
	call("GET", "/", NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);
	call("GET", "/index.html", NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);
	call("POST", "/elsewhere", NULL, 0, "{}", &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);

	/* DELETE with no engine: nothing can be cancelled. */
	snprintf(path, sizeof(path), "/migrations/%s", id);
	call("DELETE", path, NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);
}
END_TEST

START_TEST(test_methods)
{
	struct http_reply r;
	struct job j;
	char path[128];

	call("PUT", "/migrations", NULL, 0, "{}", &r);
	check_error(&r, 405, "method_not_allowed", NULL);
	json_decref(r.body);
	call("DELETE", "/migrations", NULL, 0, NULL, &r);
	check_error(&r, 405, "method_not_allowed", NULL);
	json_decref(r.body);
	call("DELETE", "/healthz", NULL, 0, NULL, &r);
	check_error(&r, 405, "method_not_allowed", NULL);
	json_decref(r.body);
	call("POST", "/healthz", NULL, 0, "{}", &r);
	check_error(&r, 405, "method_not_allowed", NULL);
	json_decref(r.body);

	insert_job(&j, 4242, "queued");
	snprintf(path, sizeof(path), "/migrations/%s", j.id);
	call("PUT", path, NULL, 0, "{}", &r);
	check_error(&r, 405, "method_not_allowed", NULL);
	json_decref(r.body);
	snprintf(path, sizeof(path), "/migrations/%s/events", j.id);
	call("POST", path, NULL, 0, "{}", &r);
	check_error(&r, 405, "method_not_allowed", NULL);
	json_decref(r.body);
	job_release(&j);
}
END_TEST

static json_t *list(const char *limit, const char *before, struct http_reply *r)
{
	struct http_query_param q[2];
	size_t n = 0;

	if (limit)
		q[n++] = (struct http_query_param){ "limit", limit };
	if (before)
		q[n++] = (struct http_query_param){ "before", before };
	call("GET", "/migrations", q, n, NULL, r);
	return r->body;
}

static const char *list_id(json_t *body, size_t i)
{
	json_t *arr = json_object_get(body, "migrations");

	ck_assert(json_is_array(arr));
	return json_string_value(json_object_get(json_array_get(arr, i), "id"));
}

START_TEST(test_list)
{
	struct http_reply r;
	struct job j[3];
	json_t *body, *next;
	char cursor[32];

	/* Empty store. */
	body = list(NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(body, "migrations")), 0);
	ck_assert(json_is_null(json_object_get(body, "next")));
	json_decref(r.body);

	for (int i = 0; i < 3; i++)
		insert_job(&j[i], 1000 + i, "queued");

	/* Everything, newest first, no next page. */
	body = list(NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(body, "migrations")), 3);
	ck_assert_str_eq(list_id(body, 0), j[2].id);
	ck_assert_str_eq(list_id(body, 1), j[1].id);
	ck_assert_str_eq(list_id(body, 2), j[0].id);
	ck_assert(json_is_null(json_object_get(body, "next")));
	json_decref(r.body);

	/* Two per page: the cursor is the seq of the last one shown. */
	body = list("2", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(body, "migrations")), 2);
	ck_assert_str_eq(list_id(body, 0), j[2].id);
	ck_assert_str_eq(list_id(body, 1), j[1].id);
	next = json_object_get(body, "next");
	ck_assert(json_is_integer(next));
	ck_assert_int_eq(json_integer_value(next), j[1].seq);
	snprintf(cursor, sizeof(cursor), "%lld", (long long)json_integer_value(next));
	json_decref(r.body);

	body = list("2", cursor, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(body, "migrations")), 1);
	ck_assert_str_eq(list_id(body, 0), j[0].id);
	ck_assert(json_is_null(json_object_get(body, "next")));
	json_decref(r.body);

	/* A full last page still offers a cursor; the page after it is empty. */
	body = list("3", NULL, &r);
	ck_assert_int_eq(json_array_size(json_object_get(body, "migrations")), 3);
	next = json_object_get(body, "next");
	ck_assert(json_is_integer(next));
	ck_assert_int_eq(json_integer_value(next), j[0].seq);
	snprintf(cursor, sizeof(cursor), "%lld", (long long)json_integer_value(next));
	json_decref(r.body);
	body = list("3", cursor, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(body, "migrations")), 0);
	ck_assert(json_is_null(json_object_get(body, "next")));
	json_decref(r.body);

	for (int i = 0; i < 3; i++)
		job_release(&j[i]);
}
END_TEST

START_TEST(test_list_bad_query)
{
	static const char *const bad_limit[] = { "0", "abc", "-1", "501", "", " 5", "5 ", "+5",
						 "1e3", "99999999999999999999999" };
	struct http_reply r;

	for (size_t i = 0; i < ARRAY_SIZE(bad_limit); i++) {
		list(bad_limit[i], NULL, &r);
		check_error(&r, 400, "invalid_query", "limit");
		json_decref(r.body);
	}
	list(NULL, "abc", &r);
	check_error(&r, 400, "invalid_query", "before");
	json_decref(r.body);
	list(NULL, "0", &r);
	check_error(&r, 400, "invalid_query", "before");
	json_decref(r.body);
	/* The bounds themselves are accepted. */
	list("1", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	json_decref(r.body);
	list("500", "1", &r);
	ck_assert_int_eq(r.status, 200);
	json_decref(r.body);
}
END_TEST

START_TEST(test_get_job)
{
	struct http_reply r;
	struct job j;
	struct job_iter it;
	char path[128];
	json_t *b, *stats, *iters;

	insert_job(&j, 4242, "queued");
	snprintf(path, sizeof(path), "/migrations/%s", j.id);
	call("GET", path, NULL, 0, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	b = r.body;
	ck_assert(json_is_object(b));
	ck_assert_str_eq(json_string_value(json_object_get(b, "id")), j.id);
	ck_assert_str_eq(json_string_value(json_object_get(b, "type")), "pid");
	ck_assert_str_eq(json_string_value(json_object_get(b, "role")), "source");
	ck_assert_int_eq(json_integer_value(json_object_get(b, "pid")), 4242);
	ck_assert_str_eq(json_string_value(json_object_get(b, "to")), "10.0.0.2:8421");
	ck_assert_str_eq(json_string_value(json_object_get(b, "mode")), "live");
	ck_assert_str_eq(json_string_value(json_object_get(b, "state")), "queued");
	ck_assert_str_eq(json_string_value(json_object_get(b, "phase")), "queued");
	ck_assert(json_is_null(json_object_get(b, "strategy")));
	ck_assert(json_is_null(json_object_get(b, "strategy_reason")));
	ck_assert(json_is_object(json_object_get(b, "options")));
	ck_assert(json_is_string(json_object_get(b, "created_at")));
	ck_assert(json_is_null(json_object_get(b, "started_at")));
	ck_assert(json_is_null(json_object_get(b, "finished_at")));
	ck_assert(json_is_null(json_object_get(b, "result")));
	ck_assert(json_is_null(json_object_get(b, "error")));
	stats = json_object_get(b, "stats");
	ck_assert(json_is_object(stats));
	ck_assert(json_is_null(json_object_get(stats, "downtime_ms")));
	ck_assert_int_eq(json_array_size(json_object_get(stats, "iterations")), 0);
	json_decref(r.body);

	/* A finished job with an iteration shows its result, stats and iterations. */
	j.state = JOB_SUCCEEDED;
	snprintf(j.phase, sizeof(j.phase), "done");
	snprintf(j.strategy, sizeof(j.strategy), "stop-and-copy");
	snprintf(j.strategy_reason, sizeof(j.strategy_reason), "no soft-dirty tracking");
	j.started_at = j.created_at + 5;
	j.finished_at = j.created_at + 900;
	j.result_pid = 777;
	j.stats.downtime_ms = 120;
	j.stats.bytes = 4096;
	ck_assert_int_eq(store_job_update(st, &j), 0);
	memset(&it, 0, sizeof(it));
	it.index = 0;
	snprintf(it.kind, sizeof(it.kind), "dump");
	it.frozen_ms = 100;
	it.memdump_ms = it.memwrite_ms = it.pages_scanned = it.pages_skipped = -1;
	it.pages_written = 1;
	it.bytes = 4096;
	it.duration_ms = 110;
	ck_assert_int_eq(store_iter_add(st, j.id, &it), 0);

	call("GET", path, NULL, 0, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	b = r.body;
	ck_assert_str_eq(json_string_value(json_object_get(b, "state")), "succeeded");
	ck_assert_str_eq(json_string_value(json_object_get(b, "phase")), "done");
	ck_assert_str_eq(json_string_value(json_object_get(b, "strategy")), "stop-and-copy");
	ck_assert_str_eq(json_string_value(json_object_get(b, "strategy_reason")),
			 "no soft-dirty tracking");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(b, "result"), "pid")),
			 777);
	stats = json_object_get(b, "stats");
	ck_assert_int_eq(json_integer_value(json_object_get(stats, "downtime_ms")), 120);
	ck_assert_int_eq(json_integer_value(json_object_get(stats, "bytes")), 4096);
	iters = json_object_get(stats, "iterations");
	ck_assert_int_eq(json_array_size(iters), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(iters, 0), "kind")),
			 "dump");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(iters, 0),
							    "frozen_ms")), 100);
	ck_assert(json_is_null(json_object_get(json_array_get(iters, 0), "memdump_ms")));
	json_decref(r.body);
	job_release(&j);
}
END_TEST

START_TEST(test_events)
{
	struct http_reply r;
	struct http_query_param q[2];
	struct job j;
	struct job_event ev[2];
	char path[128], after[32];
	json_t *arr, *e;

	insert_job(&j, 4242, "queued");
	snprintf(path, sizeof(path), "/migrations/%s/events", j.id);

	call("GET", path, NULL, 0, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r.body, "events")), 0);
	json_decref(r.body);

	for (int i = 0; i < 2; i++) {
		memset(&ev[i], 0, sizeof(ev[i]));
		snprintf(ev[i].job_id, sizeof(ev[i].job_id), "%s", j.id);
		snprintf(ev[i].level, sizeof(ev[i].level), i ? "warn" : "info");
		snprintf(ev[i].phase, sizeof(ev[i].phase), i ? "connecting" : "queued");
		snprintf(ev[i].message, sizeof(ev[i].message), "event %d", i);
		ck_assert_int_eq(store_event_add(st, &ev[i]), 0);
	}

	call("GET", path, NULL, 0, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	arr = json_object_get(r.body, "events");
	ck_assert(json_is_array(arr));
	ck_assert_int_eq(json_array_size(arr), 2);
	e = json_array_get(arr, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "id")), ev[0].id);
	ck_assert(json_is_string(json_object_get(e, "ts")));
	ck_assert_str_eq(json_string_value(json_object_get(e, "level")), "info");
	ck_assert_str_eq(json_string_value(json_object_get(e, "phase")), "queued");
	ck_assert_str_eq(json_string_value(json_object_get(e, "message")), "event 0");
	e = json_array_get(arr, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "id")), ev[1].id);
	ck_assert_str_eq(json_string_value(json_object_get(e, "level")), "warn");
	json_decref(r.body);

	/* after= is a cursor; limit= bounds the page. */
	snprintf(after, sizeof(after), "%lld", (long long)ev[0].id);
	q[0] = (struct http_query_param){ "after", after };
	call("GET", path, q, 1, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	arr = json_object_get(r.body, "events");
	ck_assert_int_eq(json_array_size(arr), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "message")),
			 "event 1");
	json_decref(r.body);

	q[0] = (struct http_query_param){ "limit", "1" };
	call("GET", path, q, 1, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r.body, "events")), 1);
	json_decref(r.body);

	q[0] = (struct http_query_param){ "after", "x" };
	call("GET", path, q, 1, NULL, &r);
	check_error(&r, 400, "invalid_query", "after");
	json_decref(r.body);
	q[0] = (struct http_query_param){ "limit", "0" };
	call("GET", path, q, 1, NULL, &r);
	check_error(&r, 400, "invalid_query", "limit");
	json_decref(r.body);
	q[0] = (struct http_query_param){ "limit", "1001" };
	call("GET", path, q, 1, NULL, &r);
	check_error(&r, 400, "invalid_query", "limit");
	json_decref(r.body);
	job_release(&j);
}
END_TEST

/* GET /migrations?state=&type=: only the jobs asked for; bad values name the field. */
START_TEST(test_list_filters)
{
	struct http_query_param q[2];
	struct http_reply r;
	struct job j[3];

	for (int i = 0; i < 3; i++)
		insert_job(&j[i], 2000 + i, "queued");
	j[1].state = JOB_FAILED;
	ck_assert_int_eq(store_job_update(st, &j[1]), 0);

	q[0] = (struct http_query_param){ "state", "failed" };
	call("GET", "/migrations", q, 1, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r.body, "migrations")), 1);
	ck_assert_str_eq(list_id(r.body, 0), j[1].id);
	json_decref(r.body);

	q[0] = (struct http_query_param){ "state", "queued" };
	q[1] = (struct http_query_param){ "type", "pid" };
	call("GET", "/migrations", q, 2, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r.body, "migrations")), 2);
	json_decref(r.body);

	q[0] = (struct http_query_param){ "type", "docker" };
	call("GET", "/migrations", q, 1, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r.body, "migrations")), 0);
	json_decref(r.body);

	q[0] = (struct http_query_param){ "state", "done" };
	call("GET", "/migrations", q, 1, NULL, &r);
	check_error(&r, 400, "invalid_query", "state");
	json_decref(r.body);
	q[0] = (struct http_query_param){ "type", "lxc" };
	call("GET", "/migrations", q, 1, NULL, &r);
	check_error(&r, 400, "invalid_query", "type");
	json_decref(r.body);
	for (int i = 0; i < 3; i++)
		job_release(&j[i]);
}
END_TEST

/* GET /candidates: a sleeper of our own in a session of its own is listed with its
 * command line; the limit is bounded; only GET; the token guards it. */
static pid_t session_sleeper(void)
{
	pid_t p = fork();
	char path[64];

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		setsid();
		execl("/bin/sleep", "sleep", "1001", (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)p);
	for (int i = 0; i < 500; i++) {
		char line[64] = "";
		FILE *f = fopen(path, "r");

		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = '\0';
			fclose(f);
		}
		if (strncmp(line, "sleep", 5) == 0)
			break;
		usleep(10 * 1000);
	}
	return p;
}

START_TEST(test_candidates)
{
	struct http_query_param q[1];
	struct http_reply r;
	pid_t p = session_sleeper();
	json_t *procs, *e, *mine = NULL;
	size_t i;

	q[0] = (struct http_query_param){ "limit", "500" };
	call("GET", "/candidates", q, 1, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	procs = json_object_get(r.body, "processes");
	ck_assert(json_is_array(procs));
	ck_assert(json_is_boolean(json_object_get(r.body, "truncated")));
	ck_assert(json_is_object(json_object_get(r.body, "containers")));
	json_array_foreach(procs, i, e)
		if (json_integer_value(json_object_get(e, "pid")) == p)
			mine = e;
	ck_assert_ptr_nonnull(mine);
	ck_assert_str_eq(json_string_value(json_object_get(mine, "command")), "sleep 1001");
	ck_assert_str_eq(json_string_value(json_object_get(mine, "comm")), "sleep");
	ck_assert(json_is_true(json_object_get(mine, "movable")));
	ck_assert(json_is_null(json_object_get(mine, "why")));
	ck_assert_int_eq(json_integer_value(json_object_get(mine, "tasks")), 1);
	ck_assert_int_gt(json_integer_value(json_object_get(mine, "rss_bytes")), 0);
	json_decref(r.body);

	q[0] = (struct http_query_param){ "limit", "1" };
	call("GET", "/candidates", q, 1, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_le(json_array_size(json_object_get(r.body, "processes")), 1);
	json_decref(r.body);

	q[0] = (struct http_query_param){ "limit", "501" };
	call("GET", "/candidates", q, 1, NULL, &r);
	check_error(&r, 400, "invalid_query", "limit");
	json_decref(r.body);
	call("POST", "/candidates", NULL, 0, "{}", &r);
	check_error(&r, 405, "method_not_allowed", NULL);
	json_decref(r.body);

	api.token = "sesame";
	call_as("GET", "/candidates", NULL, NULL, NULL, NULL, NULL, &r);
	check_error(&r, 401, "unauthorized", NULL);
	json_decref(r.body);
	call_as("GET", "/candidates", NULL, NULL, NULL, NULL, "Bearer sesame", &r);
	ck_assert_int_eq(r.status, 200);
	json_decref(r.body);
	api.token = NULL;
	reap(p);
}
END_TEST

/* The chart library: its two fixed names are served from www/vendor's node_modules,
 * and nothing else below the directory. */
START_TEST(test_vendor_files)
{
	char dir[128], path[256];
	struct http_reply r;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/www", tmpdir);
	snprintf(path, sizeof(path), "mkdir -p %s/vendor/node_modules/uplot/dist", dir);
	ck_assert_int_eq(system(path), 0);
	snprintf(path, sizeof(path), "%s/vendor/node_modules/uplot/dist/uPlot.iife.min.js", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("var uPlot;\n", f);
	fclose(f);
	api.www_dir = dir;

	call("GET", "/vendor/uPlot.iife.min.js", NULL, 0, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.content_type, "text/javascript");
	ck_assert_str_eq(r.file, path);
	/* Not installed: 404, like any missing file. */
	call("GET", "/vendor/uPlot.min.css", NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);
	call("GET", "/vendor/node_modules/uplot/dist/uPlot.iife.min.js", NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);
	call("GET", "/vendor/../vendor/uPlot.iife.min.js", NULL, 0, NULL, &r);
	check_error(&r, 404, "not_found", NULL);
	json_decref(r.body);
	api.www_dir = NULL;
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

START_TEST(test_healthz)
{
	struct http_reply r;
	json_t *b, *criu, *jobs, *strat;

	call("GET", "/healthz", NULL, 0, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	b = r.body;
	ck_assert(json_is_object(b));
	ck_assert_str_eq(json_string_value(json_object_get(b, "status")), "degraded");
	ck_assert(json_is_string(json_object_get(b, "version")));
	ck_assert(json_is_string(json_object_get(b, "kernel")));
	criu = json_object_get(b, "criu");
	ck_assert(json_is_object(criu));
	ck_assert(json_is_false(json_object_get(criu, "check_ok")));
	ck_assert_int_eq(json_integer_value(json_object_get(criu, "version")), 0);
	ck_assert(json_is_object(json_object_get(b, "features")));
	/* No engine, so no CRIU facts: no memory tracking, stop-and-copy, and why. */
	ck_assert(json_is_false(json_object_get(json_object_get(b, "features"), "mem_track")));
	strat = json_object_get(b, "strategies");
	ck_assert(json_is_object(strat));
	ck_assert_str_eq(json_string_value(json_object_get(strat, "live")), "stop-and-copy");
	ck_assert(json_is_string(json_object_get(strat, "why")));
	ck_assert_int_gt(strlen(json_string_value(json_object_get(strat, "why"))), 0);
	jobs = json_object_get(b, "jobs");
	ck_assert(json_is_object(jobs));
	ck_assert_int_eq(json_integer_value(json_object_get(jobs, "queued")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(jobs, "running")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(jobs, "incoming")), 0);
	json_decref(r.body);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_invalid_json);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_not_object);
	tcase_add_test(tc, test_unknown_field);
	tcase_add_test(tc, test_missing_field);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_target_fields);
	tcase_add_test(tc, test_guard);
	tcase_add_test(tc, test_bad_to);
	tcase_add_test(tc, test_bad_mode);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_compress_option);
	tcase_add_test(tc, test_integer_options);
	tcase_add_test(tc, test_bad_pids);
	tcase_add_test(tc, test_bad_pid_kthread_child);
	tcase_add_test(tc, test_valid_request);
	suite_add_tcase(s, tc);

	tc = tcase_create("routes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_not_found);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_list_bad_query);
	tcase_add_test(tc, test_get_job);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_healthz);
	tcase_add_test(tc, test_list_filters);
	tcase_add_test(tc, test_candidates);
	tcase_add_test(tc, test_vendor_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(api_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
