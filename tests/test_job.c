/* test_job.c: the job record, its names and its JSON form. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "util.h"

/* A job with every field set, as a finished failed migration would have it. */
static void fill_job(struct job *j)
{
	job_init(j);
	strcpy(j->id, "0b6f1c1e-7a39-4d4b-9a53-2f6a1c2e9d10");
	strcpy(j->type, "pid");
	j->role = JOB_SOURCE;
	j->pid = 4242;
	strcpy(j->to, "10.0.0.2:7070");
	strcpy(j->mode, "live");
	strcpy(j->strategy, "iterative");
	j->options = strdup("{\"max_iterations\":3,\"tcp\":true}");
	j->state = JOB_FAILED;
	strcpy(j->phase, "restore");
	j->created_at = 1795645784123;   /* 2026-11-25T22:29:44.123Z */
	j->started_at = 1795645785000;
	j->finished_at = 1795645786001;
	j->result_pid = 777;
	strcpy(j->err_code, "restore_failed");
	strcpy(j->err_msg, "criu restore exited with 1");
	strcpy(j->err_phase, "restore");
	strcpy(j->err_where, "source");
	j->stats.downtime_ms = 120;
	j->stats.frozen_ms = 80;
	j->stats.total_ms = 1001;
	j->stats.bytes = 1 << 20;
	j->stats.bytes_raw = 4 << 20;
	strcpy(j->stats.compression, "zstd");
	strcpy(j->stats.restore_pages, "lazy");
	j->stats.pages_written = 256;
}

static void check_keys(json_t *o, const char *const *keys, size_t n)
{
	size_t i;

	ck_assert_ptr_nonnull(o);
	ck_assert(json_is_object(o));
	ck_assert_uint_eq(json_object_size(o), n);
	for (i = 0; i < n; i++)
		ck_assert_msg(json_object_get(o, keys[i]), "missing key %s", keys[i]);
}

static const char *const top_keys[] = {
	"id", "type", "role", "pid", "command", "container", "to", "mode", "strategy", "strategy_reason",
	"options", "state", "phase",
	"created_at", "started_at", "finished_at", "result", "error", "stats", "webhook",
};
static const char *const stats_keys[] = {
	"downtime_ms", "frozen_ms", "total_ms", "restore_ms", "bytes", "pages_written",
	"lazy_pages", "lazy_pages_left", "iterations", "bytes_raw", "compress_ratio",
	"compression", "restore_pages",
};
static const char *const iter_keys[] = {
	"index", "kind", "frozen_ms", "memdump_ms", "memwrite_ms", "pages_scanned",
	"pages_skipped", "pages_written", "bytes", "duration_ms",
};
static const char *const error_keys[] = { "code", "message", "phase", "process_at" };

START_TEST(test_init_release)
{
	struct job j;

	memset(&j, 0x5a, sizeof(j));
	job_init(&j);
	ck_assert_str_eq(j.id, "");
	ck_assert_ptr_null(j.options);
	ck_assert_int_eq(j.state, JOB_QUEUED);
	ck_assert_int_eq(j.stats.downtime_ms, -1);
	ck_assert_int_eq(j.stats.pages_written, -1);
	ck_assert_int_eq(j.result_pid, 0);
	job_release(&j);
	job_release(&j);
	job_init(NULL);
	job_release(NULL);
}
END_TEST

START_TEST(test_copy)
{
	struct job a, b;

	fill_job(&a);
	ck_assert_int_eq(job_copy(&b, &a), 0);
	ck_assert_str_eq(b.id, a.id);
	ck_assert_ptr_ne(b.options, a.options);
	ck_assert_str_eq(b.options, a.options);
	ck_assert_int_eq(b.stats.bytes, a.stats.bytes);
	job_release(&b);

	free(a.options);
	a.options = NULL;
	ck_assert_int_eq(job_copy(&b, &a), 0);
	ck_assert_ptr_null(b.options);

	ck_assert_int_eq(job_copy(NULL, &a), -EINVAL);
	ck_assert_int_eq(job_copy(&b, NULL), -EINVAL);
	ck_assert_int_eq(job_copy(&a, &a), -EINVAL);
	job_release(&a);
}
END_TEST

START_TEST(test_names)
{
	enum job_state s;
	int i;

	for (i = JOB_QUEUED; i <= JOB_CANCELLED; i++) {
		ck_assert_int_eq(job_state_parse(job_state_name(i), &s), 0);
		ck_assert_int_eq(s, i);
	}
	ck_assert_str_eq(job_state_name(JOB_SUCCEEDED), "succeeded");
	ck_assert_str_eq(job_state_name((enum job_state)99), "unknown");
	ck_assert_int_eq(job_state_parse("Running", &s), -EINVAL);
	ck_assert_int_eq(job_state_parse("", &s), -EINVAL);
	ck_assert_int_eq(job_state_parse(NULL, &s), -EINVAL);
	ck_assert_int_eq(job_state_parse("queued", NULL), -EINVAL);

	ck_assert_str_eq(job_role_name(JOB_SOURCE), "source");
	ck_assert_str_eq(job_role_name(JOB_DESTINATION), "destination");
	ck_assert_str_eq(job_role_name((enum job_role)7), "unknown");

	ck_assert(!job_state_final(JOB_QUEUED));
	ck_assert(!job_state_final(JOB_RUNNING));
	ck_assert(job_state_final(JOB_SUCCEEDED));
	ck_assert(job_state_final(JOB_FAILED));
	ck_assert(job_state_final(JOB_CANCELLED));
}
END_TEST

START_TEST(test_json_empty)
{
	struct job j;
	json_t *o, *stats;

	job_init(&j);
	strcpy(j.id, "x");
	o = job_to_json(&j, NULL, 0);
	check_keys(o, top_keys, ARRAY_SIZE(top_keys));
	ck_assert_str_eq(json_string_value(json_object_get(o, "role")), "source");
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "queued");
	ck_assert(json_is_null(json_object_get(o, "strategy")));
	ck_assert(json_is_string(json_object_get(o, "phase")));
	ck_assert(json_is_object(json_object_get(o, "options")));
	ck_assert_uint_eq(json_object_size(json_object_get(o, "options")), 0);
	ck_assert(json_is_null(json_object_get(o, "created_at")));
	ck_assert(json_is_null(json_object_get(o, "started_at")));
	ck_assert(json_is_null(json_object_get(o, "finished_at")));
	ck_assert(json_is_null(json_object_get(o, "result")));
	ck_assert(json_is_null(json_object_get(o, "error")));
	stats = json_object_get(o, "stats");
	check_keys(stats, stats_keys, ARRAY_SIZE(stats_keys));
	ck_assert(json_is_null(json_object_get(stats, "downtime_ms")));
	ck_assert(json_is_null(json_object_get(stats, "bytes")));
	ck_assert(json_is_null(json_object_get(stats, "bytes_raw")));
	ck_assert(json_is_null(json_object_get(stats, "compress_ratio")));
	ck_assert(json_is_null(json_object_get(stats, "compression")));
	ck_assert(json_is_null(json_object_get(stats, "restore_pages")));
	ck_assert(json_is_array(json_object_get(stats, "iterations")));
	ck_assert_uint_eq(json_array_size(json_object_get(stats, "iterations")), 0);
	json_decref(o);

	ck_assert_ptr_null(job_to_json(NULL, NULL, 0));
}
END_TEST

START_TEST(test_json_full)
{
	struct job_iter it[2];
	struct job j;
	json_t *o, *e, *stats, *arr, *i1;

	fill_job(&j);
	memset(it, 0, sizeof(it));
	it[0].index = 0;
	strcpy(it[0].kind, "pre-dump");
	it[0].frozen_ms = 5;
	it[0].memdump_ms = 3;
	it[0].memwrite_ms = 2;
	it[0].pages_scanned = 1000;
	it[0].pages_skipped = 0;
	it[0].pages_written = 1000;
	it[0].bytes = 4096000;
	it[0].duration_ms = 40;
	it[1] = it[0];
	it[1].index = 1;
	strcpy(it[1].kind, "dump");
	it[1].memdump_ms = -1;

	o = job_to_json(&j, it, 2);
	check_keys(o, top_keys, ARRAY_SIZE(top_keys));
	ck_assert_str_eq(json_string_value(json_object_get(o, "id")), j.id);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "pid")), 4242);
	ck_assert_str_eq(json_string_value(json_object_get(o, "to")), "10.0.0.2:7070");
	ck_assert_str_eq(json_string_value(json_object_get(o, "strategy")), "iterative");
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(o, "created_at")),
			 "2026-11-25T22:29:44.123Z");
	ck_assert_str_eq(json_string_value(json_object_get(o, "finished_at")),
			 "2026-11-25T22:29:46.001Z");
	ck_assert_int_eq(json_integer_value(json_object_get(
		json_object_get(o, "options"), "max_iterations")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(
		json_object_get(o, "result"), "pid")), 777);

	e = json_object_get(o, "error");
	check_keys(e, error_keys, ARRAY_SIZE(error_keys));
	ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "restore_failed");
	ck_assert_str_eq(json_string_value(json_object_get(e, "phase")), "restore");
	ck_assert_str_eq(json_string_value(json_object_get(e, "process_at")), "source");

	stats = json_object_get(o, "stats");
	check_keys(stats, stats_keys, ARRAY_SIZE(stats_keys));
	ck_assert_int_eq(json_integer_value(json_object_get(stats, "downtime_ms")), 120);
	ck_assert_int_eq(json_integer_value(json_object_get(stats, "bytes_raw")), 4 << 20);
	ck_assert(json_real_value(json_object_get(stats, "compress_ratio")) == 0.25);
	ck_assert_str_eq(json_string_value(json_object_get(stats, "compression")), "zstd");
	ck_assert_str_eq(json_string_value(json_object_get(stats, "restore_pages")), "lazy");
	ck_assert(json_is_null(json_object_get(stats, "restore_ms")));
	arr = json_object_get(stats, "iterations");
	ck_assert_uint_eq(json_array_size(arr), 2);
	i1 = json_array_get(arr, 1);
	check_keys(i1, iter_keys, ARRAY_SIZE(iter_keys));
	ck_assert_int_eq(json_integer_value(json_object_get(i1, "index")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(i1, "kind")), "dump");
	ck_assert(json_is_null(json_object_get(i1, "memdump_ms")));
	ck_assert_int_eq(json_integer_value(json_object_get(i1, "bytes")), 4096000);
	json_decref(o);
	job_release(&j);
}
END_TEST

START_TEST(test_json_edges)
{
	struct job j;
	json_t *o, *e;

	fill_job(&j);
	/* No result pid: result is null even when everything else is set. */
	j.result_pid = 0;
	j.err_where[0] = '\0';
	/* Bytes that are not UTF-8 must not make the job unshowable. */
	strcpy(j.err_msg, "bad \xff\xfe byte");
	free(j.options);
	j.options = strdup("not json");
	o = job_to_json(&j, NULL, 0);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_is_null(json_object_get(o, "result")));
	e = json_object_get(o, "error");
	ck_assert_str_eq(json_string_value(json_object_get(e, "message")), "bad ?? byte");
	ck_assert(json_is_null(json_object_get(e, "process_at")));
	ck_assert_uint_eq(json_object_size(json_object_get(o, "options")), 0);
	json_decref(o);

	/* Options that are JSON but not an object show as {} too. */
	free(j.options);
	j.options = strdup("[1,2]");
	o = job_to_json(&j, NULL, 0);
	ck_assert(json_is_object(json_object_get(o, "options")));
	ck_assert_uint_eq(json_object_size(json_object_get(o, "options")), 0);
	json_decref(o);

	/* A field with no terminator is shown up to its size, never past it. */
	memset(j.mode, 'm', sizeof(j.mode));
	j.err_code[0] = '\0';
	j.role = JOB_DESTINATION;
	o = job_to_json(&j, NULL, 0);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(o, "mode"))), JOB_MODE_LEN);
	ck_assert(json_is_null(json_object_get(o, "error")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "role")), "destination");
	json_decref(o);
	job_release(&j);
}
END_TEST

static Suite *job_suite(void)
{
	Suite *s = suite_create("job");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_init_release);
	tcase_add_test(tc, test_copy);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_json_empty);
	tcase_add_test(tc, test_json_full);
	tcase_add_test(tc, test_json_edges);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(job_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
