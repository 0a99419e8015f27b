/* test_util.c: unit tests for src/util.c. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char tmpdir[64];

/* tmpdir "/" rel into buf, which must hold it. */
static char *tpath(char *buf, size_t len, const char *rel)
{
	int n = snprintf(buf, len, "%s/%s", tmpdir, rel);

	ck_assert(n > 0 && (size_t)n < len);
	return buf;
}

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_util.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	rm_rf(tmpdir);
}

static void write_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, content, strlen(content)), 0);
	close(fd);
}

START_TEST(test_hostport_good)
{
	char host[64];
	int port = -1;

	ck_assert_int_eq(hostport_parse("example.com:80", host, sizeof(host), &port, 0), 0);
	ck_assert_str_eq(host, "example.com");
	ck_assert_int_eq(port, 80);
	ck_assert_int_eq(hostport_parse("1.2.3.4:65535", host, sizeof(host), &port, 0), 0);
	ck_assert_str_eq(host, "1.2.3.4");
	ck_assert_int_eq(port, 65535);
	ck_assert_int_eq(hostport_parse("[::1]:9000", host, sizeof(host), &port, 0), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 9000);
	ck_assert_int_eq(hostport_parse("[fe80::1:2.3.4.5]:1", host, sizeof(host), &port, 0), 0);
	ck_assert_str_eq(host, "fe80::1:2.3.4.5");
	ck_assert_int_eq(port, 1);
	ck_assert_int_eq(hostport_parse("my-host.local:0", host, sizeof(host), &port, 1), 0);
	ck_assert_str_eq(host, "my-host.local");
	ck_assert_int_eq(port, 0);
}
END_TEST

START_TEST(test_hostport_bad)
{
	static const char *bad[] = {
		"", ":80", "host", "host:", "host:0", "host:65536", "host:-1", "host:80x",
		"host: 80", "host:+80", "ho st:80", "host/x:80", "::1:80", "[::1]", "[::1]80",
		"[]:80", "[::g]:80", "[::1:80", "a:b:80", "host:99999999999999999999",
	};
	char host[64];
	int port = 42;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(hostport_parse(bad[i], host, sizeof(host), &port, 0) < 0,
			      "accepted \"%s\"", bad[i]);
		ck_assert_int_eq(port, 42);
	}
	ck_assert_int_lt(hostport_parse(NULL, host, sizeof(host), &port, 0), 0);
	ck_assert_int_lt(hostport_parse("h:1", NULL, sizeof(host), &port, 0), 0);
	ck_assert_int_lt(hostport_parse("h:1", host, 0, &port, 0), 0);
	ck_assert_int_lt(hostport_parse("h:1", host, sizeof(host), NULL, 0), 0);
}
END_TEST

START_TEST(test_hostport_length)
{
	char host[8];
	int port;

	/* hostlen-1 characters fit, one more does not. */
	ck_assert_int_eq(hostport_parse("abcdefg:1", host, sizeof(host), &port, 0), 0);
	ck_assert_str_eq(host, "abcdefg");
	ck_assert_int_eq(hostport_parse("abcdefgh:1", host, sizeof(host), &port, 0),
			 -ENAMETOOLONG);
	ck_assert_int_eq(hostport_parse("[1:2:3:4:5]:1", host, sizeof(host), &port, 0),
			 -ENAMETOOLONG);
}
END_TEST

START_TEST(test_parse_long)
{
	long v = 7;

	ck_assert_int_eq(parse_long("0", 0, 10, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(parse_long("10", 0, 10, &v), 0);
	ck_assert_int_eq(v, 10);
	ck_assert_int_eq(parse_long("-5", -5, 5, &v), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(parse_long("9223372036854775807", 0, LONG_MAX, &v), 0);
	ck_assert(v == LONG_MAX);
	v = 7;
	ck_assert_int_eq(parse_long("11", 0, 10, &v), -ERANGE);
	ck_assert_int_eq(parse_long("-6", -5, 5, &v), -ERANGE);
	ck_assert_int_eq(parse_long("9223372036854775808", 0, LONG_MAX, &v), -ERANGE);
	ck_assert_int_eq(parse_long("-99999999999999999999", LONG_MIN, 0, &v), -ERANGE);
	ck_assert_int_eq(parse_long("", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long("-", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long(" 1", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long("1 ", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long("+1", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long("1a", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long("0x1", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long("abc", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long(NULL, 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_long("1", 0, 10, NULL), -EINVAL);
	ck_assert_int_eq(parse_long("1", 10, 0, &v), -EINVAL);
	ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(test_mkdir_rm)
{
	char p[PATH_MAX], q[PATH_MAX], outside[PATH_MAX], link[PATH_MAX];
	struct stat st;

	tpath(p, sizeof(p), "a/b//c/");
	ck_assert_int_eq(mkdir_p(p, 0755), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(mkdir_p(p, 0755), 0); /* again: not an error */

	tpath(q, sizeof(q), "a/file");
	write_file(q, "x");
	tpath(q, sizeof(q), "a/file/sub");
	ck_assert_int_eq(mkdir_p(q, 0755), -ENOTDIR);
	tpath(q, sizeof(q), "a/file");
	ck_assert_int_eq(mkdir_p(q, 0755), -ENOTDIR);
	ck_assert_int_eq(mkdir_p("", 0755), -EINVAL);

	/* A symlink inside the tree is removed, not followed. */
	tpath(outside, sizeof(outside), "outside");
	ck_assert_int_eq(mkdir_p(outside, 0755), 0);
	tpath(q, sizeof(q), "outside/keep");
	write_file(q, "keep");
	tpath(link, sizeof(link), "a/b/link");
	ck_assert_int_eq(symlink(outside, link), 0);
	tpath(q, sizeof(q), "a/b/c/f");
	write_file(q, "data");

	tpath(p, sizeof(p), "a");
	ck_assert_int_eq(rm_rf(p), 0);
	ck_assert_int_eq(lstat(p, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	tpath(q, sizeof(q), "outside/keep");
	ck_assert_int_eq(stat(q, &st), 0);
	ck_assert_int_eq(rm_rf(p), 0); /* absent: not an error */

	/* A plain file is removed too. */
	ck_assert_int_eq(rm_rf(q), 0);
	ck_assert_int_eq(stat(q, &st), -1);
	ck_assert_int_eq(rm_rf(""), -EINVAL);
}
END_TEST

START_TEST(test_rfc3339)
{
	char buf[32];

	time_rfc3339(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	time_rfc3339(1764109784123LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2025-11-25T22:29:44.123Z");
	time_rfc3339(951782400007LL, buf, sizeof(buf)); /* a leap day */
	ck_assert_str_eq(buf, "2000-02-29T00:00:00.007Z");
	time_rfc3339(-1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
	/* A short buffer is cut and still terminated. */
	time_rfc3339(0, buf, 5);
	ck_assert_str_eq(buf, "1970");
}
END_TEST

START_TEST(test_time)
{
	int64_t a, b;

	ck_assert(time_now_ms() > 1600000000000LL);
	a = time_mono_ms();
	usleep(20000);
	b = time_mono_ms();
	ck_assert(b - a >= 19);
}
END_TEST

START_TEST(test_uuid)
{
	char a[37], b[37];

	uuid_new(a);
	uuid_new(b);
	ck_assert_int_eq(strlen(a), 36);
	ck_assert(uuid_valid(a));
	ck_assert(uuid_valid(b));
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(a[14], '4');
	ck_assert(uuid_valid("123e4567-e89b-42d3-a456-426614174000"));
	ck_assert(!uuid_valid("123E4567-e89b-42d3-a456-426614174000"));
	ck_assert(!uuid_valid("123e4567-e89b-42d3-a456-42661417400"));
	ck_assert(!uuid_valid("123e4567-e89b-42d3-a456-4266141740000"));
	ck_assert(!uuid_valid("123e4567ae89b-42d3-a456-426614174000"));
	ck_assert(!uuid_valid("123e4567-e89b-42d3-a456-42661417400g"));
	ck_assert(!uuid_valid("../../../etc/passwd"));
	ck_assert(!uuid_valid(""));
	ck_assert(!uuid_valid(NULL));
}
END_TEST

START_TEST(test_hex_random)
{
	unsigned char in[4] = { 0x00, 0x9f, 0xa0, 0xff }, r1[32], r2[32];
	char out[9];

	hex_encode(in, sizeof(in), out);
	ck_assert_str_eq(out, "009fa0ff");
	hex_encode(in, 0, out);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(random_bytes(r1, sizeof(r1)), 0);
	ck_assert_int_eq(random_bytes(r2, sizeof(r2)), 0);
	ck_assert(memcmp(r1, r2, sizeof(r1)) != 0);
}
END_TEST

START_TEST(test_file_read_all)
{
	char p[PATH_MAX], *buf = NULL;
	size_t len = 99;

	tpath(p, sizeof(p), "f");
	write_file(p, "hello");
	ck_assert_int_eq(file_read_all(p, 5, &buf, &len), 0);
	ck_assert_str_eq(buf, "hello");
	ck_assert_int_eq(len, 5);
	free(buf);
	buf = NULL;
	ck_assert_int_eq(file_read_all(p, 4, &buf, &len), -EFBIG);
	ck_assert_ptr_null(buf);

	tpath(p, sizeof(p), "empty");
	write_file(p, "");
	ck_assert_int_eq(file_read_all(p, 0, &buf, &len), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(len, 0);
	free(buf);

	tpath(p, sizeof(p), "missing");
	ck_assert_int_eq(file_read_all(p, 10, &buf, &len), -ENOENT);
	ck_assert_int_eq(file_read_all(NULL, 10, &buf, &len), -EINVAL);
}
END_TEST

START_TEST(test_file_read_all_big)
{
	char p[PATH_MAX], *big, *buf = NULL;
	size_t n = 100000, len = 0;

	big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'z', n);
	big[n] = '\0';
	tpath(p, sizeof(p), "big");
	write_file(p, big);
	ck_assert_int_eq(file_read_all(p, n, &buf, &len), 0);
	ck_assert_int_eq(len, n);
	ck_assert(memcmp(buf, big, n) == 0);
	ck_assert_int_eq(buf[n], '\0');
	free(buf);
	ck_assert_int_eq(file_read_all(p, n - 1, &buf, &len), -EFBIG);
	free(big);
}
END_TEST

START_TEST(test_read_write_full)
{
	int p[2];
	char buf[6];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write_full(p[1], "abcdef", 6), 0);
	ck_assert_int_eq(read_full(p[0], buf, 6), 0);
	ck_assert(memcmp(buf, "abcdef", 6) == 0);
	ck_assert_int_eq(write_full(p[1], "abc", 3), 0);
	close(p[1]);
	ck_assert_int_eq(read_full(p[0], buf, 6), -EPIPE);
	close(p[0]);
	ck_assert_int_eq(read_full(-1, buf, 1), -EBADF);
	ck_assert_int_eq(write_full(-1, buf, 1), -EBADF);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hostport_good);
	tcase_add_test(tc, test_hostport_bad);
	tcase_add_test(tc, test_hostport_length);
	tcase_add_test(tc, test_parse_long);
	tcase_add_test(tc, test_mkdir_rm);
	tcase_add_test(tc, test_rfc3339);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_uuid);
	tcase_add_test(tc, test_hex_random);
	tcase_add_test(tc, test_file_read_all);
	tcase_add_test(tc, test_file_read_all_big);
	tcase_add_test(tc, test_read_write_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
