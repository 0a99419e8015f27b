/* Unit tests of haul's pure modules (src/cli/): the server-sent-events parser fed
 * in every split, the configuration file and the precedence of the settings, the
 * figures and times of the output, job ids. The commands themselves are tested
 * against real daemons by tests/integration/test_27_cli.sh. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_api.h"
#include "cli_conf.h"
#include "cli_fmt.h"
#include "cli_sse.h"

/* ---- SSE ---- */

struct got {
	int n;
	char ids[16][SSE_ID_MAX + 1];
	char types[16][SSE_EVENT_MAX + 1];
	char data[16][256];
	int stop_at;   /* answer 1 (stop) at this event, 0 never */
};

static int collect(void *ctx, const struct sse_event *ev)
{
	struct got *g = ctx;

	if (g->n < 16) {
		snprintf(g->ids[g->n], sizeof(g->ids[0]), "%s", ev->id);
		snprintf(g->types[g->n], sizeof(g->types[0]), "%s", ev->type);
		snprintf(g->data[g->n], sizeof(g->data[0]), "%s", ev->data);
	}
	g->n++;
	return g->stop_at && g->n == g->stop_at ? 1 : 0;
}

static const char stream[] =
	"\xEF\xBB\xBFretry: 2000\n: hauld events after 0\n\n"
	"id: 1\r\nevent: state\r\ndata: {\"a\":1}\r\n\r\n"
	"id: 2\revent: phase\rdata: one\rdata:two\r\r"
	": keep-alive\n\n"
	"data: no id or type\n\n"
	"id: 3\nevent: log\ndata\n\n";

static void check_stream(const struct got *g, const struct sse_parser *p)
{
	ck_assert_int_eq(g->n, 4);
	ck_assert_str_eq(g->ids[0], "1");
	ck_assert_str_eq(g->types[0], "state");
	ck_assert_str_eq(g->data[0], "{\"a\":1}");
	ck_assert_str_eq(g->types[1], "phase");
	ck_assert_str_eq(g->data[1], "one\ntwo");
	/* An event without an id keeps the last one; without a type it is "message". */
	ck_assert_str_eq(g->ids[2], "2");
	ck_assert_str_eq(g->types[2], "message");
	ck_assert_str_eq(g->data[2], "no id or type");
	ck_assert_str_eq(g->ids[3], "3");
	ck_assert_str_eq(g->data[3], "");
	ck_assert_str_eq(p->last_id, "3");
	ck_assert_int_eq(p->retry_ms, 2000);
}

START_TEST(test_sse_whole)
{
	struct got g = { 0 };
	struct sse_parser p;

	ck_assert_int_eq(sse_init(&p, 1024, collect, &g), 0);
	ck_assert_int_eq(sse_feed(&p, stream, strlen(stream)), 0);
	check_stream(&g, &p);
	sse_release(&p);
}
END_TEST

/* The same stream cut at every byte, and fed a byte at a time: a CR at the end of
 * one piece and its LF at the start of the next are one line end. */
START_TEST(test_sse_every_split)
{
	size_t n = strlen(stream);

	for (size_t cut = 0; cut <= n; cut++) {
		struct got g = { 0 };
		struct sse_parser p;

		ck_assert_int_eq(sse_init(&p, 1024, collect, &g), 0);
		ck_assert_int_eq(sse_feed(&p, stream, cut), 0);
		ck_assert_int_eq(sse_feed(&p, stream + cut, n - cut), 0);
		check_stream(&g, &p);
		sse_release(&p);
	}
	{
		struct got g = { 0 };
		struct sse_parser p;

		ck_assert_int_eq(sse_init(&p, 1024, collect, &g), 0);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(sse_feed(&p, stream + i, 1), 0);
		check_stream(&g, &p);
		sse_release(&p);
	}
}
END_TEST

START_TEST(test_sse_stop_and_reset)
{
	static const char two[] = "id: 7\ndata: a\n\nid: 8\ndata: b\n\n";
	static const char half[] = "id: 9\ndata: never dispatched";
	struct got g = { .stop_at = 1 };
	struct sse_parser p;

	ck_assert_int_eq(sse_init(&p, 1024, collect, &g), 0);
	/* The callback's answer stops the feed at its event. */
	ck_assert_int_eq(sse_feed(&p, two, strlen(two)), 1);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(p.last_id, "7");
	/* A connection that broke in the middle of an event: its id does not count. */
	g.stop_at = 0;
	sse_reset_stream(&p);
	ck_assert_int_eq(sse_feed(&p, half, strlen(half)), 0);
	ck_assert_str_eq(p.last_id, "7");
	sse_reset_stream(&p);
	ck_assert_int_eq(sse_feed(&p, "data: c\n\n", 9), 0);
	ck_assert_int_eq(g.n, 2);
	ck_assert_str_eq(g.ids[1], "7");
	ck_assert_str_eq(g.data[1], "c");
	sse_release(&p);
}
END_TEST

START_TEST(test_sse_bounds)
{
	struct got g = { 0 };
	struct sse_parser p;
	char line[200], id[100];

	ck_assert_int_eq(sse_init(&p, 64, collect, &g), 0);
	memset(line, 'x', sizeof(line));
	ck_assert_int_eq(sse_feed(&p, "data: ", 6), 0);
	ck_assert_int_eq(sse_feed(&p, line, sizeof(line)), -1);
	ck_assert_ptr_nonnull(strstr(p.err, "longer than 64"));
	sse_release(&p);

	/* An event of many short data lines is bounded too (4 x the line). */
	ck_assert_int_eq(sse_init(&p, 64, collect, &g), 0);
	for (int i = 0; i < 40 && sse_feed(&p, "data: 0123456789\n", 17) == 0; i++)
		;
	ck_assert_ptr_nonnull(strstr(p.err, "more than 256 bytes"));
	sse_release(&p);

	ck_assert_int_eq(sse_init(&p, 1024, collect, &g), 0);
	memset(id, '1', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	ck_assert_int_eq(sse_feed(&p, "id: ", 4), 0);
	ck_assert_int_eq(sse_feed(&p, id, strlen(id)), 0);
	ck_assert_int_eq(sse_feed(&p, "\n", 1), -1);
	ck_assert_int_eq(g.n, 0);
	/* A retry that is not a number is ignored. */
	sse_reset_stream(&p);
	ck_assert_int_eq(sse_feed(&p, "retry: 1x\n\n", 11), 0);
	ck_assert_int_eq(p.retry_ms, -1);
	sse_release(&p);
}
END_TEST

/* ---- configuration ---- */

START_TEST(test_conf_parse)
{
	struct conf cf = { 0 };
	char err[256];

	ck_assert_int_eq(conf_parse(&cf, "# haul\n\n  api = http://h:1  # the lab\n"
				    "token_file=tok\ncacert = ~/ca.pem\r\n", "/etc/hauld", "/root",
				    err, sizeof(err)), 0);
	ck_assert_str_eq(cf.api, "http://h:1");
	ck_assert_str_eq(cf.token_file, "/etc/hauld/tok");
	ck_assert_str_eq(cf.cacert, "/root/ca.pem");
	conf_release(&cf);

	ck_assert_int_eq(conf_parse(&cf, "api = a\napi = b\n", NULL, NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "line 2: 'api' is set twice");
	conf_release(&cf);
	ck_assert_int_eq(conf_parse(&cf, "\nurl = x\n", NULL, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "line 2: unknown key 'url'"));
	conf_release(&cf);
	ck_assert_int_eq(conf_parse(&cf, "api\n", NULL, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "expected 'key = value'"));
	conf_release(&cf);
	ck_assert_int_eq(conf_parse(&cf, "token_file =\n", NULL, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "has no value"));
	conf_release(&cf);
	/* A '#' inside a value is kept; one after a blank begins a comment. */
	ck_assert_int_eq(conf_parse(&cf, "api = http://h/#x\n", NULL, NULL, err, sizeof(err)), 0);
	ck_assert_str_eq(cf.api, "http://h/#x");
	conf_release(&cf);
}
END_TEST

static char tmpdir[64];

static void write_file(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_conf_load_and_token)
{
	char cfg[128], tok[128], bad[128], home[128], err[512], *t = NULL;
	struct conf cf = { 0 };

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cli.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	write_file("tok", "0123456789abcdef\r\nsecond line\n", tok, sizeof(tok));
	write_file("bad", "has a blank\n", bad, sizeof(bad));
	write_file("haul.conf", "api = https://x:9\ntoken_file = tok\n", cfg, sizeof(cfg));
	ck_assert_int_eq(conf_read_token(tok, &t, err, sizeof(err)), 0);
	ck_assert_str_eq(t, "0123456789abcdef");
	free(t);
	ck_assert_int_eq(conf_read_token(bad, &t, err, sizeof(err)), -1);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(conf_read_token("/nonexistent/tok", &t, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));

	/* HAUL_CONFIG's file must exist; its relative paths are beside it. */
	ck_assert_int_eq(conf_load(&cf, cfg, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_str_eq(cf.path, cfg);
	ck_assert_str_eq(cf.token_file, tok);
	conf_release(&cf);
	ck_assert_int_eq(conf_load(&cf, "/nonexistent/haul.conf", NULL, NULL, err, sizeof(err)), -1);
	conf_release(&cf);
	/* Otherwise XDG_CONFIG_HOME/haul/config, found when it exists. */
	snprintf(home, sizeof(home), "%s/haul", tmpdir);
	ck_assert_int_eq(mkdir(home, 0700), 0);
	write_file("haul/config", "api = http://xdg:1\n", cfg, sizeof(cfg));
	ck_assert_int_eq(conf_load(&cf, NULL, "/nonexistent", tmpdir, err, sizeof(err)), 0);
	ck_assert_str_eq(cf.api, "http://xdg:1");
	conf_release(&cf);
	unlink(cfg);
	rmdir(home);
	unlink(tok);
	unlink(bad);
	snprintf(cfg, sizeof(cfg), "%s/haul.conf", tmpdir);
	unlink(cfg);
	rmdir(tmpdir);
}
END_TEST

START_TEST(test_conf_precedence)
{
	struct conf_src flags = { 0 }, env = { .api = "http://env:1/", .token = "envtoken" },
			file = { .api = "http://file:1", .token_file = "/nonexistent" };
	struct cli c = { 0 };
	char err[256];

	/* The environment over the file; the file's token file is then not read. */
	ck_assert_int_eq(conf_resolve(&c, &flags, &env, &file, err, sizeof(err)), 0);
	ck_assert_str_eq(c.api, "http://env:1");
	ck_assert_str_eq(c.token, "envtoken");
	cli_release(&c);
	/* A flag over the environment. */
	flags.api = "https://flag:2";
	ck_assert_int_eq(conf_resolve(&c, &flags, &env, &file, err, sizeof(err)), 0);
	ck_assert_str_eq(c.api, "https://flag:2");
	cli_release(&c);
	/* Nothing set anywhere: the default, and no token. */
	ck_assert_int_eq(conf_resolve(&c, NULL, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_str_eq(c.api, CONF_DEFAULT_API);
	ck_assert_ptr_null(c.token);
	cli_release(&c);
	/* The file's token file, when nothing above names a token. */
	env.token = NULL;
	ck_assert_int_eq(conf_resolve(&c, &flags, &env, &file, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent"));
	cli_release(&c);
	env.token = "has blank";
	ck_assert_int_eq(conf_resolve(&c, &flags, &env, &file, err, sizeof(err)), -1);
	cli_release(&c);
}
END_TEST

START_TEST(test_conf_url)
{
	char err[256], *u = NULL;

	ck_assert_int_eq(conf_check_url("http://127.0.0.1:8420//", &u, err, sizeof(err)), 0);
	ck_assert_str_eq(u, "http://127.0.0.1:8420");
	free(u);
	ck_assert_int_eq(conf_check_url("https://h/prefix", &u, err, sizeof(err)), 0);
	ck_assert_str_eq(u, "https://h/prefix");
	free(u);
	ck_assert_int_eq(conf_check_url("127.0.0.1:8420", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_check_url("http://", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_check_url("http://h/?a=1", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_check_url("http://h\r\nX: y", &u, err, sizeof(err)), -1);
	ck_assert_ptr_null(u);
}
END_TEST

/* ---- output ---- */

START_TEST(test_fmt)
{
	char b[64];
	int64_t ms;

	fmt_bytes(b, sizeof(b), 512);
	ck_assert_str_eq(b, "512 B");
	fmt_bytes(b, sizeof(b), 16923620);
	ck_assert_str_eq(b, "16.1 MiB");
	fmt_bytes(b, sizeof(b), 3LL << 30);
	ck_assert_str_eq(b, "3.00 GiB");
	fmt_ms(b, sizeof(b), 94);
	ck_assert_str_eq(b, "94 ms");
	fmt_ms(b, sizeof(b), 1234);
	ck_assert_str_eq(b, "1.23 s");
	fmt_ms(b, sizeof(b), 125000);
	ck_assert_str_eq(b, "2 min 05 s");
	fmt_age(b, sizeof(b), 7200);
	ck_assert_str_eq(b, "2h");
	ck_assert_int_eq(ts_parse_ms("1970-01-01T00:00:01.5Z", &ms), 0);
	ck_assert_int_eq(ms, 1500);
	ck_assert_int_eq(ts_parse_ms("2026-11-25T22:29:44.123Z", &ms), 0);
	ck_assert_int_eq(ms, 1795645784123LL);
	ck_assert_int_eq(ts_parse_ms("2026-11-25T22:29:44Z", &ms), 0);
	ck_assert_int_eq(ts_parse_ms("2026-11-25 22:29:44Z", &ms), -1);
	ck_assert_int_eq(ts_parse_ms("2026-11-25T22:29:44.123+01:00", &ms), -1);
	fmt_safe(b, sizeof(b), "ok\x1b[31mred\r");
	ck_assert_str_eq(b, "ok?[31mred?");
}
END_TEST

START_TEST(test_jpath)
{
	json_t *o = json_loads("{\"error\":{\"code\":\"x\",\"n\":3},\"s\":null}", 0, NULL);
	int64_t v = 0;

	ck_assert_str_eq(jstr(o, "error.code", "-"), "x");
	ck_assert_str_eq(jstr(o, "error.none", "-"), "-");
	ck_assert_str_eq(jstr(o, "s", "-"), "-");
	ck_assert_str_eq(jstr(o, "error.code.deeper", "-"), "-");
	ck_assert_int_eq(jint(o, "error.n", &v), 0);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(jint(o, "error.code", &v), -1);
	json_decref(o);
}
END_TEST

START_TEST(test_table)
{
	static const char *const head[] = { "ID", "STATE" };
	static const char *const row[] = { "6f1c", "succeeded" };
	char *buf = NULL;
	size_t len = 0;
	struct table t;
	FILE *f;

	ck_assert_int_eq(table_init(&t, 2, head), 0);
	ck_assert_int_eq(table_add(&t, row), 0);
	f = open_memstream(&buf, &len);
	table_print(&t, f);
	fclose(f);
	ck_assert_str_eq(buf, "ID    STATE\n6f1c  succeeded\n");
	free(buf);
	table_release(&t);
}
END_TEST

START_TEST(test_ids)
{
	char id[JOB_ID_LEN + 1], other[JOB_ID_LEN + 1];

	ck_assert(job_id_valid("6f1c2d3e-8a41-4c55-9d1e-0b7f3a2c9e10"));
	ck_assert(!job_id_valid("6F1C2D3E-8A41-4C55-9D1E-0B7F3A2C9E10"));
	ck_assert(!job_id_valid("6f1c2d3e-8a41-4c55-9d1e-0b7f3a2c9e1"));
	ck_assert(!job_id_valid("6f1c2d3e08a41-4c55-9d1e-0b7f3a2c9e10"));
	ck_assert(!job_id_valid(NULL));
	ck_assert_int_eq(uuid_random(id), 0);
	ck_assert_int_eq(uuid_random(other), 0);
	ck_assert(job_id_valid(id));
	ck_assert_str_ne(id, other);
	ck_assert_int_eq(id[14], '4');
	ck_assert(strchr("89ab", id[19]) != NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_sse_whole);
	tcase_add_test(tc, test_sse_every_split);
	tcase_add_test(tc, test_sse_stop_and_reset);
	tcase_add_test(tc, test_sse_bounds);
	tcase_add_test(tc, test_conf_parse);
	tcase_add_test(tc, test_conf_load_and_token);
	tcase_add_test(tc, test_conf_precedence);
	tcase_add_test(tc, test_conf_url);
	tcase_add_test(tc, test_fmt);
	tcase_add_test(tc, test_jpath);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_ids);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
