/* test_sdnotify.c: unit tests for src/sdnotify.c, against real datagram sockets. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"
#include "util.h"

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_sdnotify.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	unsetenv("NOTIFY_SOCKET");
	sdnotify_init();
	rm_rf(tmpdir);
}

/* A datagram socket bound to name ("@x" is abstract); returns its fd. */
static int listener(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(n, sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

START_TEST(test_path_socket)
{
	char name[128];
	int fd;

	snprintf(name, sizeof(name), "%s/notify", tmpdir);
	fd = listener(name);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	ck_assert_int_eq(sdnotify_init(), 1);
	/* Gone from the environment, so children do not inherit it. */
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	ck_assert_int_eq(sdnotify("READY=1\nSTATUS=up"), 0);
	expect_datagram(fd, "READY=1\nSTATUS=up");
	ck_assert_int_eq(sdnotify("STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	ck_assert_int_eq(sdnotify(NULL), 0);
	close(fd);
	/* The socket went away: the send fails and says so. */
	unlink(name);
	ck_assert_int_lt(sdnotify("READY=1"), 0);
}
END_TEST

START_TEST(test_abstract_socket)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "@hauld-test-%d", (int)getpid());
	fd = listener(name);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	ck_assert_int_eq(sdnotify_init(), 1);
	ck_assert_int_eq(sdnotify("READY=1"), 0);
	expect_datagram(fd, "READY=1");
	close(fd);
}
END_TEST

START_TEST(test_none)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(sdnotify_init(), 0);
	ck_assert_int_eq(sdnotify("READY=1"), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(sdnotify_init(), 0);
	ck_assert_int_eq(sdnotify("READY=1"), 0);
}
END_TEST

START_TEST(test_unusable)
{
	char longname[200];

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "vsock:2:1234", 1), 0);
	ck_assert_int_eq(sdnotify_init(), -EINVAL);
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	ck_assert_int_eq(sdnotify("READY=1"), 0);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", longname, 1), 0);
	ck_assert_int_eq(sdnotify_init(), -EINVAL);
	ck_assert_int_eq(sdnotify("READY=1"), 0);
}
END_TEST

static Suite *sdnotify_suite(void)
{
	Suite *s = suite_create("sdnotify");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_path_socket);
	tcase_add_test(tc, test_abstract_socket);
	tcase_add_test(tc, test_none);
	tcase_add_test(tc, test_unusable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sdnotify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
