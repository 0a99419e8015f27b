/* test_apierror.c: the error table and the error body builder. */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "apierror.h"

/* The table as the header documents it; a change to either must show here. */
static const struct {
	enum api_err e;
	int status;
	const char *code;
} expected[] = {
	{ AE_BAD_JSON, 400, "invalid_json" },
	{ AE_BAD_TYPE, 400, "invalid_type" },
	{ AE_MISSING_FIELD, 400, "missing_field" },
	{ AE_UNKNOWN_FIELD, 400, "unknown_field" },
	{ AE_BAD_VALUE, 422, "invalid_value" },
	{ AE_BAD_PID, 422, "invalid_pid" },
	{ AE_KEY_REUSED, 422, "idempotency_key_reused" },
	{ AE_BAD_QUERY, 400, "invalid_query" },
	{ AE_UNAUTHORIZED, 401, "unauthorized" },
	{ AE_FORBIDDEN, 403, "forbidden" },
	{ AE_NOT_FOUND, 404, "not_found" },
	{ AE_METHOD, 405, "method_not_allowed" },
	{ AE_CONFLICT, 409, "conflict" },
	{ AE_TOO_LARGE, 413, "body_too_large" },
	{ AE_URI_TOO_LONG, 414, "uri_too_long" },
	{ AE_UNSUPPORTED_MEDIA, 415, "unsupported_media_type" },
	{ AE_HEADERS_TOO_LARGE, 431, "headers_too_large" },
	{ AE_INTERNAL, 500, "internal" },
	{ AE_UNAVAILABLE, 503, "unavailable" },
};

START_TEST(test_table_complete)
{
	int e, i;

	ck_assert_int_eq(sizeof(expected) / sizeof(expected[0]), AE__COUNT);
	for (e = 0; e < AE__COUNT; e++) {
		ck_assert_int_ge(api_err_status((enum api_err)e), 400);
		ck_assert_int_le(api_err_status((enum api_err)e), 599);
		ck_assert_ptr_nonnull(api_err_code((enum api_err)e));
		ck_assert_int_gt(strlen(api_err_code((enum api_err)e)), 0);
		/* Codes are the stable machine vocabulary: no two alike. */
		for (i = 0; i < e; i++)
			ck_assert_str_ne(api_err_code((enum api_err)e),
					 api_err_code((enum api_err)i));
	}
	for (i = 0; i < AE__COUNT; i++) {
		ck_assert_int_eq(api_err_status(expected[i].e), expected[i].status);
		ck_assert_str_eq(api_err_code(expected[i].e), expected[i].code);
	}
}
END_TEST

START_TEST(test_out_of_range)
{
	ck_assert_int_eq(api_err_status(AE__COUNT), 500);
	ck_assert_str_eq(api_err_code(AE__COUNT), "internal");
	ck_assert_int_eq(api_err_status((enum api_err)-1), 500);
	ck_assert_str_eq(api_err_code((enum api_err)1000), "internal");
}
END_TEST

/* The error object of a reply, checked for the documented shape. */
static json_t *error_of(const struct http_reply *reply)
{
	json_t *err;

	ck_assert(json_is_object(reply->body));
	ck_assert_uint_eq(json_object_size(reply->body), 1);
	err = json_object_get(reply->body, "error");
	ck_assert(json_is_object(err));
	ck_assert_uint_eq(json_object_size(err), 3);
	ck_assert(json_is_string(json_object_get(err, "code")));
	ck_assert(json_is_string(json_object_get(err, "message")));
	return err;
}

START_TEST(test_body_shape)
{
	struct http_reply reply;
	json_t *err;

	memset(&reply, 0, sizeof(reply));
	api_error(&reply, AE_MISSING_FIELD, "pid", "Field %s is required (%d).", "pid", 42);
	ck_assert_int_eq(reply.status, 400);
	err = error_of(&reply);
	ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "missing_field");
	ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
			 "Field pid is required (42).");
	ck_assert_str_eq(json_string_value(json_object_get(err, "field")), "pid");
	json_decref(reply.body);
}
END_TEST

START_TEST(test_field_null)
{
	struct http_reply reply;
	json_t *err;
	char *text;

	memset(&reply, 0, sizeof(reply));
	api_error(&reply, AE_NOT_FOUND, NULL, "No migration %s.", "abc");
	ck_assert_int_eq(reply.status, 404);
	err = error_of(&reply);
	ck_assert(json_is_null(json_object_get(err, "field")));
	/* The wire form as clients see it. */
	text = json_dumps(reply.body, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(text, "{\"error\":{\"code\":\"not_found\",\"field\":null,"
			       "\"message\":\"No migration abc.\"}}");
	free(text);
	json_decref(reply.body);
}
END_TEST

START_TEST(test_replaces_reply)
{
	struct http_reply reply;
	json_t *old;

	memset(&reply, 0, sizeof(reply));
	reply.status = 200;
	reply.body = json_pack("{s:s}", "ok", "yes");
	old = json_incref(reply.body);
	snprintf(reply.location, sizeof(reply.location), "/x");
	snprintf(reply.file, sizeof(reply.file), "/tmp/x");
	reply.content_type = "text/html";

	api_error(&reply, AE_CONFLICT, NULL, "Busy.");
	ck_assert_int_eq(reply.status, 409);
	/* The old body lost the reply's reference: only ours is left. */
	ck_assert_int_eq(old->refcount, 1);
	json_decref(old);
	ck_assert_str_eq(reply.location, "");
	ck_assert_str_eq(reply.file, "");
	ck_assert_ptr_null(reply.content_type);
	error_of(&reply);

	/* A second error replaces the first without leaking it (valgrind). */
	api_error(&reply, AE_UNAVAILABLE, NULL, "Later.");
	ck_assert_int_eq(reply.status, 503);
	ck_assert_str_eq(json_string_value(json_object_get(error_of(&reply), "code")),
			 "unavailable");
	json_decref(reply.body);
}
END_TEST

START_TEST(test_message_bounded)
{
	struct http_reply reply;
	const char *msg;
	char *big;
	size_t i;

	big = malloc(10000);
	ck_assert_ptr_nonnull(big);
	/* Two-byte UTF-8 characters, so the cut can fall inside one. */
	for (i = 0; i + 2 < 10000; i += 2) {
		big[i] = (char)0xC3;
		big[i + 1] = (char)0xA9;
	}
	big[i] = '\0';
	memset(&reply, 0, sizeof(reply));
	api_error(&reply, AE_BAD_VALUE, NULL, "%s", big);
	msg = json_string_value(json_object_get(error_of(&reply), "message"));
	ck_assert_ptr_nonnull(msg);
	ck_assert_int_lt(strlen(msg), 1024);
	ck_assert_int_gt(strlen(msg), 100);
	/* Still the text we gave, cut on a character boundary. */
	ck_assert(strncmp(msg, "\xC3\xA9\xC3\xA9", 4) == 0);
	ck_assert_int_eq(strlen(msg) % 2, 0);
	json_decref(reply.body);
	free(big);
}
END_TEST

START_TEST(test_bad_utf8)
{
	struct http_reply reply;
	json_t *err;

	/* Text from a request may be any bytes; the body must still be built. */
	memset(&reply, 0, sizeof(reply));
	api_error(&reply, AE_UNKNOWN_FIELD, "k\xff\xfe", "Unknown field %s.", "k\xff\xfe");
	err = error_of(&reply);
	ck_assert_str_eq(json_string_value(json_object_get(err, "field")), "k??");
	ck_assert_str_eq(json_string_value(json_object_get(err, "message")), "Unknown field k??.");
	json_decref(reply.body);
}
END_TEST

START_TEST(test_null_args)
{
	struct http_reply reply;
	const char *msg;

	api_error(NULL, AE_INTERNAL, NULL, "nobody hears this");

	/* An empty message is replaced by the code, never left empty. */
	memset(&reply, 0, sizeof(reply));
	api_error(&reply, AE_INTERNAL, NULL, "%s", "");
	msg = json_string_value(json_object_get(error_of(&reply), "message"));
	ck_assert_str_eq(msg, "internal");
	json_decref(reply.body);

	memset(&reply, 0, sizeof(reply));
	api_error(&reply, AE__COUNT, NULL, "bad enum");
	ck_assert_int_eq(reply.status, 500);
	json_decref(reply.body);
}
END_TEST

static Suite *apierror_suite(void)
{
	Suite *s = suite_create("apierror");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_table_complete);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_body_shape);
	tcase_add_test(tc, test_field_null);
	tcase_add_test(tc, test_replaces_reply);
	tcase_add_test(tc, test_message_bounded);
	tcase_add_test(tc, test_bad_utf8);
	tcase_add_test(tc, test_null_args);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(apierror_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
