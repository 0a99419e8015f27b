/* test_ctr.c: the pieces of the container types that need no engine: the engine
 * address parser, percent-encoding, engines' error bodies, the "container" field, ids
 * that must never be paths, shared paths, and base64 (Docker's path stat header). A
 * request to a socket nobody listens on fails with a sentence, bounded. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctr.h"
#include "util.h"
#include "../src/types/ctr_type.h"

START_TEST(test_parse_host)
{
	char out[CTR_PATH_MAX];

	ck_assert_int_eq(ctr_parse_host("unix:///var/run/docker.sock", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/var/run/docker.sock");
	ck_assert_int_eq(ctr_parse_host("/run/podman/podman.sock", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/run/podman/podman.sock");
	ck_assert_int_eq(ctr_parse_host("tcp://10.0.0.1:2375", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(ctr_parse_host("unix://relative.sock", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(ctr_parse_host("", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(ctr_parse_host(NULL, out, sizeof(out)), -EINVAL);
	{
		char longp[300] = "unix:///";

		memset(longp + 8, 'a', 200);
		longp[208] = '\0';
		ck_assert_int_eq(ctr_parse_host(longp, out, sizeof(out)), -EINVAL);
	}
}
END_TEST

START_TEST(test_escape)
{
	char out[64];

	ck_assert_int_eq(ctr_escape("web-1_a.b~", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "web-1_a.b~");
	ck_assert_int_eq(ctr_escape("/data/a b?c&d", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "%2Fdata%2Fa%20b%3Fc%26d");
	ck_assert_int_eq(ctr_escape("\xff", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "%FF");
	ck_assert_int_eq(ctr_escape("abcd", out, 4), -ENAMETOOLONG);
	ck_assert_int_eq(ctr_escape("/", out, 3), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_reply_error)
{
	struct ctr_reply r = { .status = 500 };
	char buf[128];

	r.json = json_pack("{s:s}", "message", "No such container: web1\n");
	ck_assert_str_eq(ctr_reply_error(&r, buf, sizeof(buf)), "No such container: web1");
	json_decref(r.json);
	r.json = json_pack("{s:s, s:s}", "cause", "OCI runtime error", "message",
			   "runc: container with given ID already exists");
	ck_assert_str_eq(ctr_reply_error(&r, buf, sizeof(buf)),
			 "OCI runtime error: runc: container with given ID already exists");
	json_decref(r.json);
	r.json = NULL;
	r.body = "plain text\nsecond line";
	r.len = strlen(r.body);
	ck_assert_str_eq(ctr_reply_error(&r, buf, sizeof(buf)), "plain text");
	r.body = NULL;
	r.len = 0;
	ck_assert_str_eq(ctr_reply_error(&r, buf, sizeof(buf)), "HTTP status 500");
}
END_TEST

START_TEST(test_no_engine)
{
	struct ctr_reply r;
	char err[256];

	ck_assert_int_eq(ctr_call("", "GET", "/_ping", NULL, 1000, &r, err, sizeof(err)),
			 -ENOTCONN);
	ck_assert_ptr_nonnull(strstr(err, "not configured"));
	ck_assert_int_lt(ctr_call("/nonexistent/hauld-test.sock", "GET", "/_ping", NULL, 1000, &r,
				  err, sizeof(err)), 0);
	ck_assert(err[0] != '\0');
	ck_assert_int_eq(r.status, 0);
	ctr_reply_release(&r);
	ctr_reply_release(NULL);
}
END_TEST

START_TEST(test_id_ok)
{
	ck_assert(ctr_id_ok("sha256:8f3c9a"));
	ck_assert(ctr_id_ok("4aa78b8cf00d"));
	ck_assert(!ctr_id_ok(""));
	ck_assert(!ctr_id_ok(NULL));
	ck_assert(!ctr_id_ok("../../containers/x"));
	ck_assert(!ctr_id_ok("a?b=1"));
	ck_assert(!ctr_id_ok("a b"));
}
END_TEST

START_TEST(test_target_field)
{
	struct mig_problem p;
	char out[80];
	json_t *b;

	b = json_pack("{s:s}", "container", "web1");
	ck_assert_int_eq(ctr_target_field(b, out, sizeof(out), &p), 0);
	ck_assert_str_eq(out, "web1");
	json_decref(b);
	b = json_pack("{}");
	ck_assert_int_eq(ctr_target_field(b, out, sizeof(out), &p), -1);
	ck_assert_int_eq(p.err, AE_MISSING_FIELD);
	ck_assert_str_eq(p.field, "container");
	json_decref(b);
	b = json_pack("{s:s}", "container", "../etc");
	ck_assert_int_eq(ctr_target_field(b, out, sizeof(out), &p), -1);
	ck_assert_int_eq(p.err, AE_BAD_VALUE);
	json_decref(b);
	b = json_pack("{s:i}", "container", 5);
	ck_assert_int_eq(ctr_target_field(b, out, sizeof(out), &p), -1);
	ck_assert_int_eq(p.err, AE_BAD_TYPE);
	json_decref(b);
}
END_TEST

START_TEST(test_shared)
{
	struct ctr_opts o = { .shared_paths = json_pack("[s, s, s]", "/srv/data/", "vol1", "/") };

	ck_assert(ctr_opts_shared(&o, "/srv/data"));
	ck_assert(ctr_opts_shared(&o, "/srv/data/x"));
	ck_assert(ctr_opts_shared(&o, "vol1"));
	ck_assert(ctr_opts_shared(&o, "/anything"));      /* "/" shares all */
	json_decref(o.shared_paths);
	o.shared_paths = json_pack("[s]", "/srv/data");
	ck_assert(!ctr_opts_shared(&o, "/srv/database"));
	ck_assert(!ctr_opts_shared(&o, "/srv"));
	ck_assert(!ctr_opts_shared(&o, NULL));
	ctr_opts_release(&o);
	ck_assert(!ctr_opts_shared(&o, "/srv/data"));
}
END_TEST

START_TEST(test_base64)
{
	unsigned char out[64];
	size_t n;

	ck_assert_int_eq(base64_decode("eyJtb2RlIjoyMTQ3NDg0MDAwfQ==", out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, 19);
	ck_assert(memcmp(out, "{\"mode\":2147484000}", 19) == 0);
	ck_assert_int_eq(base64_decode("YWJj", out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(base64_decode("YWI=", out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(base64_decode("YWJ", out, sizeof(out), &n), -EINVAL);
	ck_assert_int_eq(base64_decode("Y!Jj", out, sizeof(out), &n), -EINVAL);
	ck_assert_int_eq(base64_decode("YWJjYWJj", out, 2, &n), -E2BIG);
}
END_TEST

/* GET /candidates: Docker's, Podman's and runc's lists as one shape, bounded. */
START_TEST(test_list_json)
{
	json_t *docker = json_loads("[{\"Id\":\"4aa78b\",\"Names\":[\"/web1\"],\"Image\":\"nginx\","
				    "\"State\":\"running\"},{\"Names\":[\"/noid\"]},"
				    "{\"Id\":\"77bb\",\"Names\":[\"/web2\"],\"Image\":\"x\",\"State\":\"running\"}]",
				    0, NULL);
	json_t *runc = json_loads("[{\"id\":\"c1\",\"pid\":42,\"status\":\"running\"}]", 0, NULL);
	json_t *o, *c;

	ck_assert_ptr_nonnull(docker);
	o = ctr_list_json(docker, 10);
	ck_assert(json_is_true(json_object_get(o, "reachable")));
	ck_assert(json_is_null(json_object_get(o, "why")));
	c = json_object_get(o, "containers");
	/* The entry without an id is left out. */
	ck_assert_int_eq(json_array_size(c), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 0), "name")), "web1");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 0), "id")), "4aa78b");
	ck_assert(json_is_false(json_object_get(o, "truncated")));
	json_decref(o);

	o = ctr_list_json(docker, 1);
	ck_assert_int_eq(json_array_size(json_object_get(o, "containers")), 1);
	ck_assert(json_is_true(json_object_get(o, "truncated")));
	json_decref(o);

	o = ctr_list_json(runc, 10);
	c = json_array_get(json_object_get(o, "containers"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(c, "name")), "c1");
	ck_assert_str_eq(json_string_value(json_object_get(c, "state")), "running");
	ck_assert_str_eq(json_string_value(json_object_get(c, "image")), "");
	json_decref(o);

	/* runc prints "null" when it has no container. */
	o = ctr_list_json(NULL, 10);
	ck_assert_int_eq(json_array_size(json_object_get(o, "containers")), 0);
	json_decref(o);
	o = ctr_list_unreachable("not configured (--docker-host)");
	ck_assert(json_is_false(json_object_get(o, "reachable")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "why")), "not configured (--docker-host)");
	json_decref(o);
	json_decref(docker);
	json_decref(runc);
}
END_TEST

static Suite *ctr_suite(void)
{
	Suite *s = suite_create("ctr");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_host);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_reply_error);
	tcase_add_test(tc, test_no_engine);
	tcase_add_test(tc, test_id_ok);
	tcase_add_test(tc, test_target_field);
	tcase_add_test(tc, test_shared);
	tcase_add_test(tc, test_base64);
	tcase_add_test(tc, test_list_json);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	ctr_global_init();
	sr = srunner_create(ctr_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
