/* test_criu_diag.c: CRIU's failure lines (as CRIU 4.2.1 wrote them on this kernel,
 * reproduced by hand: see each case) map to the codes and sentences an operator
 * reads; lines the table does not know, and CRIU's harmless start-up error, map to
 * nothing; a peer's code is taken only when the table knows it. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu_diag.h"
#include "util.h"

#define NOISE "(00.000012) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for " \
	      "self: Operation not permitted\n"

struct diag_case {
	const char *log;
	const char *code;
	const char *says[3];      /* substrings of the sentence */
};

static const struct diag_case cases[] = {
	{ NOISE "     1: Error (criu/sk-inet.c:1059): inet: Can't bind inet socket (id 18): "
	  "Address already in use\n     1: Error (criu/files.c:1221): Unable to open fd=3 "
	  "id=0x12\nError (criu/cr-restore.c:2331): Restoring FAILED.\n",
	  "port_in_use", { "taken at the destination", "stop what listens" } },
	{ NOISE "     1: Error (criu/sk-inet.c:1059): inet: Can't bind inet socket (id 18): "
	  "Cannot assign requested address\n",
	  "address_unavailable", { "0.0.0.0", "does not have" } },
	{ NOISE "(00.02) Error (criu/cr-dump.c:1528): A session leader of 16728(1) is outside "
	  "of its pid namespace\n(00.03) Error (criu/cr-dump.c:1975): Dumping FAILED.\n",
	  "session_leader_outside", { "setsid", "shell_job" } },
	{ NOISE "Error (criu/pstree.c:304): The root process 17698 is not a session leader. "
	  "Consider using --shell-job option\n",
	  "session_leader_outside", { "setsid" } },
	{ NOISE "17694: Error (criu/cr-restore.c:1382): Requested sid 27250 doesn't match "
	  "inherited 32571\n", "session_mismatch", { "setsid" } },
	{ NOISE "Error (criu/cr-restore.c:1237): Can't fork for 19937: File exists\n"
	  "Error (criu/cr-restore.c:2331): Restoring FAILED.\n",
	  "pids_in_use", { "own PID namespace", "new_pidns" } },
	{ NOISE "pie: 1: Error (criu/pie/parasite.c:634): Can't create a directory (-13)\n"
	  "Error (criu/parasite-syscall.c:280): Can't get /proc fd\n"
	  "Error (criu/cr-dump.c:1494): Can't get proc fd (pid: 5)\n",
	  "unprivileged_task", { "/proc", "as root" } },
	{ NOISE "Error (criu/cr-dump.c:389): Can't get rlimit 0: Operation not permitted\n"
	  "Error (criu/cr-dump.c:1584): Dump core (pid: 24156) failed with -1\n",
	  "no_cap_sys_resource", { "CAP_SYS_RESOURCE", "as root" } },
	{ NOISE "Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using "
	  "--tcp-established option.\nError (criu/cr-dump.c:1545): Dump files (pid: 24358) "
	  "failed with -1\n", "tcp_established", { "options.tcp_established" } },
	{ NOISE "     1: Error (criu/sk-inet.c:912): inet: Connected TCP socket in image\n",
	  "tcp_established", { "options.tcp_established" } },
	{ NOISE "Error (criu/mount.c:753): mnt: 87:./tmp/cx/d2/exec/netns/default doesn't have "
	  "a proper root mount\n", "external_mount", { "mount namespace" } },
	{ NOISE "Error (criu/mount.c:1100): mnt: Mount 89 ./run/netns has unreachable sharing. "
	  "Try --enable-external-masters.\n", "external_mount", { "nsenter --net" } },
	{ NOISE "Error (criu/files-reg.c:1790): Can't lookup mount=24 for fd=0 "
	  "path=/dev/null\n", "external_mount", { "(/dev/null)" } },
	{ NOISE "(00.029894) Error (criu/files-ext.c:94): Can't dump file 3 of that type [600] "
	  "(anon anon_inode:[perf_event])\n(00.029912) Error (criu/cr-dump.c:1545): Dump "
	  "files (pid: 31256) failed with -1\n",
	  "unsupported_file", { "(fd 3: anon_inode:[perf_event])", "close it" } },
	{ NOISE "pie: 1: Error (criu/pie/parasite.c:588): send_fds failed (-22)\n",
	  "unsupported_file", { "io_uring" } },
	{ NOISE "Error (criu/files-reg.c:1031): Can't dump ghost file /tmp/cf/w9/big.bin of "
	  "3002368 size, increase limit\n", "ghost_too_big", { "(/tmp/cf/w9/big.bin)" } },
	{ NOISE "     1: Error (criu/files-reg.c:2353): Can't open file tmp/cf/x/y on restore: "
	  "No such file or directory\n     1: Error (criu/files-reg.c:2267): Can't open "
	  "file tmp/cf/x/y: No such file or directory\n",
	  "file_missing", { "(/tmp/cf/x/y)", "same paths" } },
	{ NOISE "     1: Error (criu/files-reg.c:2175): File tmp/cf/w9/grow.txt has bad size "
	  "11 (expect 6)\n", "file_changed", { "(/tmp/cf/w9/grow.txt)" } },
};

START_TEST(test_diag_cases)
{
	const struct diag_case *c = &cases[_i];
	struct criu_diag d;

	ck_assert_int_eq(criu_diag_text(c->log, strlen(c->log), NULL, &d), 0);
	ck_assert_str_eq(d.code, c->code);
	for (size_t k = 0; k < ARRAY_SIZE(c->says) && c->says[k]; k++)
		ck_assert_msg(strstr(d.text, c->says[k]), "case %d: '%s' not in '%s'", _i,
			      c->says[k], d.text);
	ck_assert(d.line[0] != '\0');
	ck_assert_ptr_null(strstr(d.line, "Error ("));
	ck_assert_ptr_eq(criu_diag_known(c->code), d.code);
}
END_TEST

START_TEST(test_diag_unknown)
{
	static const char *const logs[] = {
		"",
		NOISE,
		NOISE "Error (criu/cr-dump.c:1975): Dumping FAILED.\n",
		NOISE "(00.1) Error (criu/page-xfer.c:1) page-xfer: Can't send PSI 4132 to "
		"server: Broken pipe\n",
		/* A known phrase outside an error line is only CRIU talking. */
		"(00.1) inet: Connected TCP socket, consider using --tcp-established option.\n",
	};
	struct criu_diag d;

	for (size_t i = 0; i < ARRAY_SIZE(logs); i++) {
		ck_assert_int_eq(criu_diag_text(logs[i], strlen(logs[i]), NULL, &d), -ENOENT);
		ck_assert_ptr_null(d.code);
	}
	ck_assert_int_eq(criu_diag_text(NULL, 0, NULL, &d), -ENOENT);
}
END_TEST

/* The first known cause decides, not the last line. */
START_TEST(test_diag_first_cause)
{
	const char *log = NOISE
		"Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using "
		"--tcp-established option.\n"
		"Error (criu/files-ext.c:94): Can't dump file 3 of that type [600] (x)\n";
	struct criu_diag d;

	ck_assert_int_eq(criu_diag_text(log, strlen(log), NULL, &d), 0);
	ck_assert_str_eq(d.code, "tcp_established");
}
END_TEST

/* The same network namespace at both ends says why the port is taken. */
START_TEST(test_diag_same_netns)
{
	const char *log = "1: Error (criu/sk-inet.c:1059): inet: Can't bind inet socket "
			  "(id 18): Address already in use\n";
	struct criu_diag_ctx ctx = { .images_fd = -1, .same_netns = true };
	struct criu_diag d;

	ck_assert_int_eq(criu_diag_text(log, strlen(log), &ctx, &d), 0);
	ck_assert_str_eq(d.code, "port_in_use");
	ck_assert_ptr_nonnull(strstr(d.text, "one network namespace"));
}
END_TEST

/* explain: from a log file, the sentence first and hauld's own words after it. */
START_TEST(test_diag_explain)
{
	char dir[64] = "/tmp/hauld-test-diag-XXXXXX", path[128];
	char err[512] = "criu dump failed: inet: Connected TCP socket (dump.log is in the "
			"job's logs)";
	const char *code = "dump_failed";
	const char *log = cases[8].log;
	int fd, dfd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dump.log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, log, strlen(log)), 0);
	close(fd);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	criu_diag_explain(dfd, "restore.log", NULL, &code, err, sizeof(err));
	ck_assert_str_eq(code, "dump_failed");        /* no such log: unchanged */
	criu_diag_explain(dfd, "dump.log", NULL, &code, err, sizeof(err));
	ck_assert_str_eq(code, "tcp_established");
	ck_assert_ptr_eq(strstr(err, "the process has an established TCP connection"), err);
	ck_assert_ptr_nonnull(strstr(err, "(CRIU: inet: Connected TCP socket, consider using "
				      "--tcp-established option.; dump.log is in the job's logs)"));
	close(dfd);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_diag_known)
{
	ck_assert_ptr_null(criu_diag_known(NULL));
	ck_assert_ptr_null(criu_diag_known(""));
	ck_assert_ptr_null(criu_diag_known("restore_failed"));
	ck_assert_ptr_null(criu_diag_known("port_in_use; rm -rf /"));
	ck_assert_str_eq(criu_diag_known("port_in_use"), "port_in_use");
}
END_TEST

static Suite *diag_suite(void)
{
	Suite *s = suite_create("criu_diag");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_diag_cases, 0, (int)ARRAY_SIZE(cases));
	tcase_add_test(tc, test_diag_unknown);
	tcase_add_test(tc, test_diag_first_cause);
	tcase_add_test(tc, test_diag_same_netns);
	tcase_add_test(tc, test_diag_explain);
	tcase_add_test(tc, test_diag_known);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(diag_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
