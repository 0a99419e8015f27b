/* test_config.c: unit tests for src/config.c (the option table, the file, the
 * command line and --help). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

static char tmpdir[64];
static char path[128];
static struct config cfg;
static char err[1024];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/hauld.conf", tmpdir);
	ck_assert_int_eq(config_init(&cfg), 0);
	err[0] = '\0';
}

static void teardown(void)
{
	config_release(&cfg);
	rm_rf(tmpdir);
}

/* Write the file at path with len bytes of content, mode 0644. */
static void write_conf_len(const char *content, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, content, len), 0);
	close(fd);
	ck_assert_int_eq(chmod(path, 0644), 0);
}

static void write_conf(const char *content)
{
	write_conf_len(content, strlen(content));
}

/* Load path, expecting failure ret, and an error that starts with "PATH:LINE: "
 * (line 0: "PATH: ") and contains what. */
static void expect_file_error(int ret, int line, const char *what)
{
	char prefix[192];

	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), ret);
	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "'%s' lacks '%s'", err,
		      prefix);
	ck_assert_msg(strstr(err, what) != NULL, "'%s' lacks '%s'", err, what);
}

static int parse(int argc, const char *const *args)
{
	char *argv[32];

	ck_assert_int_lt(argc, 32);
	for (int i = 0; i < argc; i++)
		argv[i] = (char *)args[i];
	argv[argc] = NULL;
	return config_parse_args(&cfg, argc, argv, err, sizeof(err));
}

START_TEST(test_defaults)
{
	ck_assert_str_eq(cfg.listen, "127.0.0.1:8420");
	ck_assert_str_eq(cfg.peer_listen, "0.0.0.0:8421");
	ck_assert_str_eq(cfg.data_dir, "./var");
	ck_assert_str_eq(cfg.docker_host, "unix:///var/run/docker.sock");
	ck_assert_str_eq(cfg.podman_host, "unix:///run/podman/podman.sock");
	ck_assert_str_eq(cfg.runc_root, "/run/runc");
	ck_assert_ptr_null(cfg.secret_file);
	ck_assert_ptr_null(cfg.www_dir);
	ck_assert_ptr_null(cfg.api_token_file);
	ck_assert_ptr_null(cfg.tls_cert);
	ck_assert_ptr_null(cfg.tls_key);
	ck_assert_ptr_null(cfg.webhook_key_file);
	ck_assert_ptr_null(cfg.config_file);
	ck_assert_int_eq(cfg.workers, 2);
	ck_assert_int_eq(cfg.criu_log_level, 2);
	ck_assert_int_eq(cfg.retain_jobs, 10000);
	ck_assert_int_eq(cfg.webhook_retry_s, 900);
	ck_assert(!cfg.verbose);
	config_release(&cfg);
	config_release(&cfg);   /* twice, and NULL, are harmless */
	config_release(NULL);
	ck_assert_int_eq(config_init(&cfg), 0);
}
END_TEST

START_TEST(test_keys)
{
	static const char *const want[] = {
		"listen", "peer-listen", "data-dir", "secret-file", "workers", "www",
		"peer-timeout", "criu-log-level", "retain-jobs", "docker-host", "podman-host",
		"runc-root",
		"api-token-file", "tls-cert", "tls-key", "webhook-key-file",
		"webhook-retry-for", "verbose",
	};
	size_t i;

	for (i = 0; config_key(i); i++) {
		ck_assert_uint_lt(i, ARRAY_SIZE(want));
		ck_assert_str_eq(config_key(i), want[i]);
	}
	ck_assert_uint_eq(i, ARRAY_SIZE(want));
}
END_TEST

START_TEST(test_set_good)
{
	ck_assert_int_eq(config_set(&cfg, "listen", "[::1]:0", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.listen, "[::1]:0");
	ck_assert_int_eq(config_set(&cfg, "peer-listen", "10.0.0.1:65535", err, sizeof(err)), 0);
	ck_assert_int_eq(config_set(&cfg, "workers", "64", err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.workers, 64);
	ck_assert_int_eq(config_set(&cfg, "criu-log-level", "0", err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.criu_log_level, 0);
	ck_assert_int_eq(config_set(&cfg, "retain-jobs", "0", err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.retain_jobs, 0);
	ck_assert_int_eq(config_set(&cfg, "webhook-retry-for", "86400", err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.webhook_retry_s, 86400);
	ck_assert_int_eq(config_set(&cfg, "docker-host", "", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.docker_host, "");
	ck_assert_int_eq(config_set(&cfg, "podman-host", "unix:///p.sock", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.podman_host, "unix:///p.sock");
	ck_assert_int_eq(config_set(&cfg, "runc-root", "", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.runc_root, "");
	ck_assert_int_eq(config_set(&cfg, "secret-file", "/s", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.secret_file, "/s");
	ck_assert_int_eq(config_set(&cfg, "secret-file", "/t", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.secret_file, "/t");
	for (const char *const *v = (const char *const[]){ "true", "YES", "on", "1", NULL };
	     *v; v++) {
		cfg.verbose = false;
		ck_assert_int_eq(config_set(&cfg, "verbose", *v, err, sizeof(err)), 0);
		ck_assert(cfg.verbose);
	}
	for (const char *const *v = (const char *const[]){ "false", "No", "off", "0", NULL };
	     *v; v++) {
		cfg.verbose = true;
		ck_assert_int_eq(config_set(&cfg, "verbose", *v, err, sizeof(err)), 0);
		ck_assert(!cfg.verbose);
	}
}
END_TEST

START_TEST(test_set_bad)
{
	static const struct {
		const char *key, *value, *why;
	} bad[] = {
		{ "listen", "nohost", "ADDR:PORT" },
		{ "listen", "1.2.3.4:65536", "ADDR:PORT" },
		{ "peer-listen", "", "ADDR:PORT" },
		{ "workers", "0", "from 1 to 64" },
		{ "workers", "65", "from 1 to 64" },
		{ "workers", "2x", "from 1 to 64" },
		{ "workers", "", "from 1 to 64" },
		{ "criu-log-level", "5", "from 0 to 4" },
		{ "retain-jobs", "-1", "from 0 to 100000000" },
		{ "webhook-retry-for", "0", "from 1 to 86400" },
		{ "docker-host", "tcp://1.2.3.4:2375", "unix:///PATH" },
		{ "podman-host", "unix://relative", "unix:///PATH" },
		{ "runc-root", "relative", "absolute path" },
		{ "data-dir", "", "needs a value" },
		{ "api-token-file", "", "needs a value" },
		{ "verbose", "maybe", "true or false" },
	};
	char longpath[CONFIG_PATH_MAX + 2];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		ck_assert_msg(config_set(&cfg, bad[i].key, bad[i].value, err, sizeof(err)) ==
			      -EINVAL, "%s = '%s' was taken", bad[i].key, bad[i].value);
		ck_assert_msg(strstr(err, bad[i].why) != NULL, "%s: '%s' lacks '%s'",
			      bad[i].key, err, bad[i].why);
	}
	/* Nothing changed. */
	ck_assert_str_eq(cfg.listen, "127.0.0.1:8420");
	ck_assert_int_eq(cfg.workers, 2);
	ck_assert_str_eq(cfg.docker_host, "unix:///var/run/docker.sock");

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	ck_assert_int_eq(config_set(&cfg, "data-dir", longpath, err, sizeof(err)), -EINVAL);
	longpath[CONFIG_PATH_MAX] = '\0';
	ck_assert_int_eq(config_set(&cfg, "data-dir", longpath, err, sizeof(err)), 0);

	ck_assert_int_eq(config_set(&cfg, "nope", "1", err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(config_set(&cfg, "config", "/x", err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(config_set(&cfg, "help", "1", err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(config_set(&cfg, "version", "1", err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(config_set(&cfg, NULL, "1", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(config_set(&cfg, "workers", NULL, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(config_set(NULL, "workers", "1", err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_file_good)
{
	write_conf("# hauld.conf\n"
		   "\n"
		   "   \t\n"
		   "  # an indented comment\n"
		   "listen = 127.0.0.1:0\n"
		   "peer-listen=127.0.0.1:9\n"
		   "\tworkers\t=\t5\t\n"
		   "docker-host =\n"
		   "podman-host = \"\"\n"
		   "runc-root = '/run/my runc'\n"
		   "data-dir = /var/lib/h#1\n"
		   "secret-file = \" /with spaces \"\n"
		   "verbose = yes\n"
		   "retain-jobs = 7\r\n"
		   "criu-log-level = 4");   /* no final newline */
	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:0");
	ck_assert_str_eq(cfg.peer_listen, "127.0.0.1:9");
	ck_assert_int_eq(cfg.workers, 5);
	ck_assert_str_eq(cfg.docker_host, "");
	ck_assert_str_eq(cfg.podman_host, "");
	ck_assert_str_eq(cfg.runc_root, "/run/my runc");
	ck_assert_str_eq(cfg.data_dir, "/var/lib/h#1");
	ck_assert_str_eq(cfg.secret_file, " /with spaces ");
	ck_assert(cfg.verbose);
	ck_assert_int_eq(cfg.retain_jobs, 7);
	ck_assert_int_eq(cfg.criu_log_level, 4);
	/* Untouched keys keep their defaults. */
	ck_assert_int_eq(cfg.webhook_retry_s, 900);
	ck_assert_ptr_null(cfg.api_token_file);
}
END_TEST

START_TEST(test_file_empty)
{
	write_conf("");
	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:8420");
}
END_TEST

START_TEST(test_file_errors)
{
	write_conf("workers = 3\nbogus = 1\n");
	expect_file_error(-ENOENT, 2, "unknown key 'bogus'");
	write_conf("# x\n\nworkers 3\n");
	expect_file_error(-EINVAL, 3, "expected KEY = VALUE");
	write_conf("workers = 99\n");
	expect_file_error(-EINVAL, 1, "workers: takes a whole number from 1 to 64");
	write_conf("listen = here\n");
	expect_file_error(-EINVAL, 1, "listen: takes ADDR:PORT");
	write_conf("workers = 3\n\nworkers = 4\n");
	expect_file_error(-EINVAL, 3, "set twice (first on line 1)");
	write_conf("= 3\n");
	expect_file_error(-EINVAL, 1, "no key");
	write_conf("config = /etc/other.conf\n");
	expect_file_error(-ENOENT, 1, "command line only");
	write_conf("help = true\n");
	expect_file_error(-ENOENT, 1, "command line only");
	write_conf("tls-cert = \"/x\n");
	expect_file_error(-EINVAL, 1, "does not close");
	write_conf("tls-cert = \"\n");
	expect_file_error(-EINVAL, 1, "does not close");
	write_conf("tls-cert = '/x\"\n");
	expect_file_error(-EINVAL, 1, "does not close");
	write_conf("data-dir =\n");
	expect_file_error(-EINVAL, 1, "data-dir: needs a value");
	write_conf("workers = 3 # three\n");
	expect_file_error(-EINVAL, 1, "workers: takes a whole number");
	write_conf_len("workers = 3\nwww = a\0b\n", 20);
	expect_file_error(-EINVAL, 2, "NUL");
}
END_TEST

START_TEST(test_file_bounds)
{
	size_t n = 12 + CONFIG_LINE_MAX + 1;   /* "workers = 2\n", then a line one too long */
	char *big = malloc(CONFIG_FILE_MAX + 2);

	ck_assert_ptr_nonnull(big);
	/* A line of exactly CONFIG_LINE_MAX bytes is read; one more byte is not. */
	memcpy(big, "# ", 2);
	memset(big + 2, 'x', CONFIG_LINE_MAX - 2);
	big[CONFIG_LINE_MAX] = '\n';
	write_conf_len(big, CONFIG_LINE_MAX + 1);
	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), 0);
	memcpy(big, "workers = 2\n# ", 14);
	memset(big + 14, 'x', n - 14);
	write_conf_len(big, n);
	expect_file_error(-E2BIG, 2, "longer than 4096 bytes");

	memset(big, '\n', CONFIG_FILE_MAX + 1);
	write_conf_len(big, CONFIG_FILE_MAX);
	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), 0);
	write_conf_len(big, CONFIG_FILE_MAX + 1);
	expect_file_error(-EFBIG, 0, "larger than 65536 bytes");
	free(big);
}
END_TEST

START_TEST(test_file_access)
{
	char dir[128];

	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, path));
	write_conf("workers = 3\n");
	ck_assert_int_eq(chmod(path, 0664), 0);
	expect_file_error(-EPERM, 0, "group or others may write it");
	ck_assert_int_eq(chmod(path, 0646), 0);
	expect_file_error(-EPERM, 0, "group or others may write it");
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.workers, 3);
	snprintf(dir, sizeof(dir), "%s", tmpdir);
	ck_assert_int_eq(config_load_file(&cfg, dir, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	ck_assert_int_eq(config_load_file(&cfg, NULL, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_args_override_file)
{
	write_conf("workers = 3\nlisten = 127.0.0.1:1\nverbose = false\ndocker-host = \n");
	{
		const char *const a[] = { "hauld", "--workers", "7", "--config", path,
					  "--verbose", "--listen=127.0.0.1:2" };

		ck_assert_int_eq(parse(7, a), CONFIG_RUN);
	}
	ck_assert_int_eq(cfg.workers, 7);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:2");
	ck_assert(cfg.verbose);
	ck_assert_str_eq(cfg.docker_host, "");     /* from the file */
	ck_assert_str_eq(cfg.config_file, path);
}
END_TEST

START_TEST(test_args_without_file)
{
	const char *const a[] = { "hauld", "-v", "--docker-host", "", "--data-dir", "/d" };

	ck_assert_int_eq(parse(6, a), CONFIG_RUN);
	ck_assert(cfg.verbose);
	ck_assert_str_eq(cfg.docker_host, "");
	ck_assert_str_eq(cfg.data_dir, "/d");
	ck_assert_ptr_null(cfg.config_file);
	ck_assert_int_eq(parse(1, a), CONFIG_RUN);
}
END_TEST

START_TEST(test_args_actions)
{
	const char *const h[] = { "hauld", "--workers", "3", "--help" };
	const char *const hs[] = { "hauld", "-h" };
	const char *const v[] = { "hauld", "--version" };
	const char *const vs[] = { "hauld", "-V", "--bogus" };
	/* An action does not read the file: --help works with a broken one. */
	const char *const hf[] = { "hauld", "--config", "/nonexistent.conf", "-h" };

	ck_assert_int_eq(parse(4, h), CONFIG_HELP);
	ck_assert_int_eq(parse(2, hs), CONFIG_HELP);
	ck_assert_int_eq(parse(2, v), CONFIG_VERSION);
	ck_assert_int_eq(parse(3, vs), CONFIG_VERSION);
	ck_assert_int_eq(parse(4, hf), CONFIG_HELP);
}
END_TEST

START_TEST(test_args_errors)
{
	static const struct {
		int argc;
		const char *argv[4];
		const char *why;
	} bad[] = {
		{ 2, { "hauld", "--bogus" }, "unknown option --bogus" },
		{ 2, { "hauld", "-x" }, "unknown option -x" },
		{ 2, { "hauld", "--listen" }, "--listen needs a value" },
		{ 2, { "hauld", "--verbose=yes" }, "--verbose takes no value" },
		{ 3, { "hauld", "--workers", "0" }, "--workers 0: takes a whole number" },
		{ 2, { "hauld", "stray" }, "unexpected argument stray" },
		{ 3, { "hauld", "--tls-cert", "/c" }, "tls-cert and tls-key go together" },
		{ 3, { "hauld", "--config", "/nonexistent.conf" }, "/nonexistent.conf" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		ck_assert_int_lt(parse(bad[i].argc, bad[i].argv), 0);
		ck_assert_msg(strstr(err, bad[i].why) != NULL, "'%s' lacks '%s'", err,
			      bad[i].why);
	}
}
END_TEST

START_TEST(test_args_config_twice)
{
	write_conf("workers = 3\n");
	{
		const char *const a[] = { "hauld", "--config", path, "--config", path };

		ck_assert_int_eq(parse(5, a), -EINVAL);
	}
	ck_assert_ptr_nonnull(strstr(err, "twice"));
}
END_TEST

START_TEST(test_args_file_error_names_line)
{
	char want[192];

	write_conf("workers = 3\n\nretain-jobs = lots\n");
	{
		const char *const a[] = { "hauld", "--config", path, "--workers", "4" };

		ck_assert_int_eq(parse(5, a), -EINVAL);
	}
	snprintf(want, sizeof(want), "%s:3: retain-jobs: ", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s'", err);
}
END_TEST

START_TEST(test_usage)
{
	char *text = NULL, want[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	config_usage(f);
	fclose(f);
	for (size_t i = 0; config_key(i); i++) {
		snprintf(want, sizeof(want), "--%s", config_key(i));
		ck_assert_msg(strstr(text, want) != NULL, "--help lacks %s", want);
	}
	ck_assert_ptr_nonnull(strstr(text, "--config FILE"));
	ck_assert_ptr_nonnull(strstr(text, "-h, --help"));
	ck_assert_ptr_nonnull(strstr(text, "-V, --version"));
	ck_assert_ptr_nonnull(strstr(text, "(default: 127.0.0.1:8420)"));
	ck_assert_ptr_nonnull(strstr(text, "(default: unix:///run/podman/podman.sock)"));
	ck_assert_ptr_nonnull(strstr(text, "(default: 10000)"));
	/* Every line fits in 80 columns. */
	for (char *l = text; *l;) {
		size_t n = strcspn(l, "\n");

		ck_assert_msg(n < 80, "line of %zu columns: %.*s", n, (int)n, l);
		l += n + (l[n] == '\n');
	}
	free(text);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_set_good);
	tcase_add_test(tc, test_set_bad);
	tcase_add_test(tc, test_file_good);
	tcase_add_test(tc, test_file_empty);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_file_bounds);
	tcase_add_test(tc, test_file_access);
	tcase_add_test(tc, test_args_override_file);
	tcase_add_test(tc, test_args_without_file);
	tcase_add_test(tc, test_args_actions);
	tcase_add_test(tc, test_args_errors);
	tcase_add_test(tc, test_args_config_twice);
	tcase_add_test(tc, test_args_file_error_names_line);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
