/* config.c: the table of hauld's options, and the command line, the configuration
 * file and --help that it drives (the file's syntax is in config.h). */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ctr.h"
#include "util.h"

enum opt_kind {
	K_ADDR,    /* ADDR:PORT, port 0 allowed (the kernel picks one) */
	K_PATH,    /* a path, not empty, at most CONFIG_PATH_MAX bytes */
	K_SOCKET,  /* unix:///PATH of an engine's API socket, or "" for none */
	K_ABSDIR,  /* an absolute path of at most max bytes, or "" for none */
	K_LONG,    /* a decimal number in [min, max] */
	K_BOOL,    /* a flag on the command line; true or false in the file */
	K_CONFIG,  /* --config: the command line only */
	K_ACTION,  /* --help, --version: the command line only */
};

struct opt {
	const char *name;
	int shortopt;        /* 0 when it has none */
	enum opt_kind kind;
	size_t off;          /* of its field in struct config */
	long min, max;
	const char *def;     /* the default as text; NULL: none, or the help says it */
	const char *arg;     /* the value's name in --help */
	const char *help;
};

/* The order is --help's. */
static const struct opt opts[] = {
	{ "config", 0, K_CONFIG, offsetof(struct config, config_file), 0, 0, NULL, "FILE",
	  "read settings from FILE: KEY = VALUE lines, KEY the name of an option below "
	  "(options given here override them; default: none)" },
	{ "listen", 0, K_ADDR, offsetof(struct config, listen), 0, 0, "127.0.0.1:8420",
	  "ADDR:PORT", "the REST API; port 0 picks one" },
	{ "peer-listen", 0, K_ADDR, offsetof(struct config, peer_listen), 0, 0, "0.0.0.0:8421",
	  "ADDR:PORT", "the peer protocol; port 0 picks one" },
	{ "data-dir", 0, K_PATH, offsetof(struct config, data_dir), 0, 0, "./var", "DIR",
	  "the database, job files and CRIU logs, created 0700" },
	{ "secret-file", 0, K_PATH, offsetof(struct config, secret_file), 0, 0, NULL, "FILE",
	  "the peer secret every host shares (default: DATA_DIR/peer.secret, created 0600 "
	  "with random content when missing)" },
	{ "workers", 0, K_LONG, offsetof(struct config, workers), 1, 64, "2", "N",
	  "migrations run at once, 1-64; more are queued" },
	{ "www", 0, K_PATH, offsetof(struct config, www_dir), 0, 0, NULL, "DIR",
	  "the dashboard's files (default: PREFIX/share/hauld/www or PREFIX/www, PREFIX "
	  "the directory above the binary's, when present)" },
	{ "peer-timeout", 0, K_LONG, offsetof(struct config, peer_timeout_s), 5, 600, "30",
	  "SECONDS", "how long a peer may stay silent (an unanswered request, or a link "
	  "that drops everything) before its migration gives up, 5-600" },
	{ "criu-log-level", 0, K_LONG, offsetof(struct config, criu_log_level), 0, 4, "2",
	  "N", "CRIU's log level, 0-4" },
	{ "retain-jobs", 0, K_LONG, offsetof(struct config, retain_jobs), 0, 100000000,
	  "10000", "N", "finished jobs kept with their events, older ones are deleted; "
	  "0 keeps all" },
	{ "docker-host", 0, K_SOCKET, offsetof(struct config, docker_host), 0, 0,
	  "unix:///var/run/docker.sock", "unix:///PATH",
	  "the Docker engine's API socket; \"\" leaves Docker out" },
	{ "podman-host", 0, K_SOCKET, offsetof(struct config, podman_host), 0, 0,
	  "unix:///run/podman/podman.sock", "unix:///PATH",
	  "the Podman API socket (podman system service); \"\" leaves Podman out" },
	{ "runc-root", 0, K_ABSDIR, offsetof(struct config, runc_root), 0, 255, "/run/runc",
	  "DIR", "runc's state directory (runc --root); \"\" leaves runc out" },
	{ "api-token-file", 0, K_PATH, offsetof(struct config, api_token_file), 0, 0, NULL,
	  "FILE", "a bearer token (its first line, 16 bytes or more) that every API request "
	  "but GET /healthz and the dashboard's files must carry; required unless --listen "
	  "is loopback (default: none)" },
	{ "tls-cert", 0, K_PATH, offsetof(struct config, tls_cert), 0, 0, NULL, "FILE",
	  "serve the API over HTTPS with this PEM certificate, with --tls-key "
	  "(default: none)" },
	{ "tls-key", 0, K_PATH, offsetof(struct config, tls_key), 0, 0, NULL, "FILE",
	  "the PEM private key of --tls-cert (default: none)" },
	{ "webhook-key-file", 0, K_PATH, offsetof(struct config, webhook_key_file), 0, 0, NULL,
	  "FILE", "the key that signs webhook requests (default: DATA_DIR/webhook.key, "
	  "created 0600 when missing)" },
	{ "webhook-retry-for", 0, K_LONG, offsetof(struct config, webhook_retry_s), 1, 86400,
	  "900", "SECONDS", "how long a failing webhook is tried again after its job "
	  "ended, 1-86400" },
	{ "verbose", 'v', K_BOOL, offsetof(struct config, verbose), 0, 0, "false", NULL,
	  "debug logging" },
	{ "help", 'h', K_ACTION, 0, 0, 0, NULL, NULL, "this text" },
	{ "version", 'V', K_ACTION, 0, 0, 0, NULL, NULL, "print the version" },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const struct opt *opt_find(const char *name)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static bool opt_is_setting(const struct opt *o)
{
	return o->kind != K_CONFIG && o->kind != K_ACTION;
}

const char *config_key(size_t i)
{
	for (size_t k = 0; k < N_OPTS; k++) {
		if (!opt_is_setting(&opts[k]))
			continue;
		if (i-- == 0)
			return opts[k].name;
	}
	return NULL;
}

/* Where the option's value lives in c. */
static char **str_field(struct config *c, const struct opt *o)
{
	return (char **)(void *)((char *)c + o->off);
}

static long *long_field(struct config *c, const struct opt *o)
{
	return (long *)(void *)((char *)c + o->off);
}

static bool *bool_field(struct config *c, const struct opt *o)
{
	return (bool *)(void *)((char *)c + o->off);
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Whether value is acceptable text for o; err says why not. */
static int opt_check(const struct opt *o, const char *v, char *err, size_t errlen)
{
	char tmp[256];
	int port;
	size_t n = strlen(v);

	switch (o->kind) {
	case K_ADDR:
		if (hostport_parse(v, tmp, sizeof(tmp), &port, 1) < 0) {
			snprintf(err, errlen, "takes ADDR:PORT (a name or an IPv4 address, or an "
				 "IPv6 one in brackets, and a port 0-65535)");
			return -EINVAL;
		}
		return 0;
	case K_PATH:
		if (n == 0) {
			snprintf(err, errlen, "needs a value");
			return -EINVAL;
		}
		if (n > CONFIG_PATH_MAX) {
			snprintf(err, errlen, "takes a path of at most %d bytes", CONFIG_PATH_MAX);
			return -EINVAL;
		}
		return 0;
	case K_SOCKET:
		if (n > 0 && ctr_parse_host(v, tmp, sizeof(tmp)) < 0) {
			snprintf(err, errlen, "takes unix:///PATH (an absolute path of at most %d "
				 "bytes), or \"\" for none", CTR_PATH_MAX - 1);
			return -EINVAL;
		}
		return 0;
	case K_ABSDIR:
		if (n > 0 && (v[0] != '/' || n > (size_t)o->max)) {
			snprintf(err, errlen, "takes an absolute path of at most %ld bytes, or \"\" "
				 "for none", o->max);
			return -EINVAL;
		}
		return 0;
	case K_LONG: {
		long l;

		if (parse_long(v, o->min, o->max, &l) < 0) {
			snprintf(err, errlen, "takes a whole number from %ld to %ld", o->min,
				 o->max);
			return -EINVAL;
		}
		return 0;
	}
	case K_BOOL: {
		bool b;

		if (parse_bool(v, &b) < 0) {
			snprintf(err, errlen, "takes true or false");
			return -EINVAL;
		}
		return 0;
	}
	case K_CONFIG:
	case K_ACTION:
		break;
	}
	snprintf(err, errlen, "is an option of the command line only");
	return -ENOENT;
}

int config_set(struct config *c, const char *key, const char *value, char *err,
	       size_t errlen)
{
	const struct opt *o;
	char *copy;
	int ret;

	if (!c || !key || !value) {
		snprintf(err, errlen, "no key or no value");
		return -EINVAL;
	}
	o = opt_find(key);
	if (!o || !opt_is_setting(o)) {
		snprintf(err, errlen, o ? "is an option of the command line only" :
			 "is not an option of hauld (hauld --help lists them)");
		return -ENOENT;
	}
	ret = opt_check(o, value, err, errlen);
	if (ret < 0)
		return ret;
	switch (o->kind) {
	case K_LONG:
		return parse_long(value, o->min, o->max, long_field(c, o));
	case K_BOOL:
		return parse_bool(value, bool_field(c, o));
	default:
		copy = strdup(value);
		if (!copy) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		free(*str_field(c, o));
		*str_field(c, o) = copy;
		return 0;
	}
}

int config_init(struct config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_OPTS; i++) {
		if (!opts[i].def || !opt_is_setting(&opts[i]))
			continue;
		if (config_set(c, opts[i].name, opts[i].def, err, sizeof(err)) < 0) {
			config_release(c);
			return -ENOMEM;
		}
	}
	return 0;
}

void config_release(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < N_OPTS; i++) {
		switch (opts[i].kind) {
		case K_ADDR:
		case K_PATH:
		case K_SOCKET:
		case K_ABSDIR:
		case K_CONFIG:
			free(*str_field(c, &opts[i]));
			*str_field(c, &opts[i]) = NULL;
			break;
		default:
			break;
		}
	}
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Cut the blanks at both ends of s (in place). */
static char *trim(char *s)
{
	char *end;

	while (is_blank(*s))
		s++;
	end = s + strlen(s);
	while (end > s && is_blank(end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* One line of the file; set_on[i] is the line option i was set on, 0 when not
 * yet. err gets a message without the file's name and line. */
static int config_line(struct config *c, char *line, size_t lineno, size_t *set_on,
		       char *err, size_t errlen)
{
	char msg[256], *eq, *key, *value;
	const struct opt *o;
	size_t n, idx;
	int ret;

	line = trim(line);
	if (line[0] == '\0' || line[0] == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(err, errlen, "expected KEY = VALUE, or a comment starting with #");
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	if (key[0] == '\0') {
		snprintf(err, errlen, "no key before '='");
		return -EINVAL;
	}
	o = opt_find(key);
	if (!o) {
		snprintf(err, errlen, "unknown key '%.64s' (hauld --help lists the options)", key);
		return -ENOENT;
	}
	if (!opt_is_setting(o)) {
		snprintf(err, errlen, "'%s' is an option of the command line only", key);
		return -ENOENT;
	}
	n = strlen(value);
	if (n > 0 && (value[0] == '"' || value[0] == '\'')) {
		if (n < 2 || value[n - 1] != value[0]) {
			snprintf(err, errlen, "%s: the quote %c that opens the value does not "
				 "close it", key, value[0]);
			return -EINVAL;
		}
		value[n - 1] = '\0';
		value++;
	}
	idx = (size_t)(o - opts);
	if (set_on[idx]) {
		snprintf(err, errlen, "%s is set twice (first on line %zu)", key, set_on[idx]);
		return -EINVAL;
	}
	ret = config_set(c, key, value, msg, sizeof(msg));
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", key, msg);
		return ret;
	}
	set_on[idx] = lineno;
	return 0;
}

/* Refuse a file that someone other than root or hauld's own user could have
 * written: whoever writes it chooses what the daemon runs as root. */
static int file_trusted(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
		return -EFBIG;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: its group or others may write it (chmod go-w %s)",
			 path, path);
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %u, neither root nor the daemon's user",
			 path, (unsigned)st.st_uid);
		return -EPERM;
	}
	return 0;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	size_t set_on[N_OPTS] = { 0 };
	char msg[512], *buf = NULL, *line, *end, *nul;
	size_t len = 0, lineno = 0;
	int ret;

	if (!c || !path) {
		snprintf(err, errlen, "no configuration file");
		return -EINVAL;
	}
	ret = file_trusted(path, err, errlen);
	if (ret < 0)
		return ret;
	ret = file_read_all(path, CONFIG_FILE_MAX, &buf, &len);
	if (ret < 0) {
		if (ret == -EFBIG)
			snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	nul = memchr(buf, '\0', len);
	for (line = buf; line < buf + len; line = end + 1) {
		end = memchr(line, '\n', (size_t)(buf + len - line));
		if (!end)
			end = buf + len;   /* file_read_all put a NUL there */
		lineno++;
		if (nul && nul < end) {
			snprintf(err, errlen, "%s:%zu: a NUL byte", path, lineno);
			ret = -EINVAL;
			goto out;
		}
		if ((size_t)(end - line) > CONFIG_LINE_MAX) {
			snprintf(err, errlen, "%s:%zu: longer than %d bytes", path, lineno,
				 CONFIG_LINE_MAX);
			ret = -E2BIG;
			goto out;
		}
		*end = '\0';
		ret = config_line(c, line, lineno, set_on, msg, sizeof(msg));
		if (ret < 0) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, msg);
			goto out;
		}
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

int config_check(const struct config *c, char *err, size_t errlen)
{
	if (!c->tls_cert != !c->tls_key) {
		snprintf(err, errlen, "tls-cert and tls-key go together: give both or neither");
		return -EINVAL;
	}
	return 0;
}

/* One option given on the command line, applied after the file. */
struct given {
	const struct opt *o;
	const char *value;
};

/* getopt_long's tables from ours: each long option's val is 256 + its row. */
static void getopt_tables(struct option *lopts, char *shorts)
{
	size_t ns = 0;

	memset(lopts, 0, (N_OPTS + 1) * sizeof(*lopts));
	/* A leading ':' makes getopt report a missing value as ':' and print nothing. */
	shorts[ns++] = ':';
	for (size_t i = 0; i < N_OPTS; i++) {
		bool flag = opts[i].kind == K_BOOL || opts[i].kind == K_ACTION;

		lopts[i].name = opts[i].name;
		lopts[i].has_arg = flag ? no_argument : required_argument;
		lopts[i].val = 256 + (int)i;
		if (opts[i].shortopt) {
			shorts[ns++] = (char)opts[i].shortopt;
			if (!flag)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = '\0';
}

/* The sentence for getopt's '?' or ':' about argv[optind - 1]. optopt is the
 * letter of a short option, the val of a long one that lacks its value or got one
 * it does not take, and 0 for an unknown long one. */
static void getopt_error(int ch, char **argv, char *err, size_t errlen)
{
	if (optopt > 0 && optopt < 256)
		snprintf(err, errlen, ch == '?' ? "unknown option -%c (hauld --help lists them)" :
			 "-%c needs a value", optopt);
	else if (ch == ':')
		snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
	else if (optopt >= 256 && (size_t)(optopt - 256) < N_OPTS)
		snprintf(err, errlen, "--%s takes no value", opts[optopt - 256].name);
	else
		snprintf(err, errlen, "unknown option %s (hauld --help lists them)",
			 argv[optind - 1]);
}

int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	struct option lopts[N_OPTS + 1];
	char shorts[2 * N_OPTS + 2], msg[256];
	struct given *given = NULL;
	const char *config_path = NULL;
	size_t n_given = 0;
	int ch, ret;

	getopt_tables(lopts, shorts);
	given = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*given));
	if (!given) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	optind = 0;   /* 0, not 1: glibc then starts afresh */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shorts, lopts, NULL)) != -1) {
		const struct opt *o = NULL;

		if (ch == '?' || ch == ':') {
			getopt_error(ch, argv, err, errlen);
			ret = -EINVAL;
			goto out;
		}
		if (ch >= 256 && (size_t)(ch - 256) < N_OPTS) {
			o = &opts[ch - 256];
		} else {
			for (size_t i = 0; i < N_OPTS && !o; i++)
				if (opts[i].shortopt == ch)
					o = &opts[i];
		}
		if (!o) {
			snprintf(err, errlen, "unknown option");
			ret = -EINVAL;
			goto out;
		}
		if (o->kind == K_ACTION) {
			ret = strcmp(o->name, "help") == 0 ? CONFIG_HELP : CONFIG_VERSION;
			goto out;
		}
		if (o->kind == K_CONFIG) {
			if (config_path) {
				snprintf(err, errlen, "--config is given twice");
				ret = -EINVAL;
				goto out;
			}
			config_path = optarg;
			continue;
		}
		given[n_given].o = o;
		given[n_given].value = o->kind == K_BOOL ? "true" : optarg;
		n_given++;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument %s", argv[optind]);
		ret = -EINVAL;
		goto out;
	}

	if (config_path) {
		char *copy = strdup(config_path);

		if (!copy) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
		free(c->config_file);
		c->config_file = copy;
		ret = config_load_file(c, config_path, err, errlen);
		if (ret < 0)
			goto out;
	}
	for (size_t i = 0; i < n_given; i++) {
		ret = config_set(c, given[i].o->name, given[i].value, msg, sizeof(msg));
		if (ret < 0) {
			if (given[i].o->kind == K_BOOL)
				snprintf(err, errlen, "--%s: %s", given[i].o->name, msg);
			else
				snprintf(err, errlen, "--%s %s: %s", given[i].o->name,
					 given[i].value, msg);
			goto out;
		}
	}
	ret = config_check(c, err, errlen);
	if (ret == 0)
		ret = CONFIG_RUN;
out:
	free(given);
	return ret;
}

/* Joins two words that must stay on one line ("default: VALUE"). */
#define NBSP '\x01'

/* The words of text, from column 28 on, wrapped before column 80 and continued at
 * column 28. */
static void usage_words(FILE *f, const char *text)
{
	const size_t indent = 28, width = 79;
	const char *p = text;
	size_t col = indent;
	bool first = true;

	while (*p) {
		size_t w = strcspn(p, " ");

		if (!first && col + 1 + w > width) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		for (size_t i = 0; i < w; i++)
			fputc(p[i] == NBSP ? ' ' : p[i], f);
		col += w;
		p += w;
		first = false;
		while (*p == ' ')
			p++;
	}
}

void config_usage(FILE *f)
{
	fputs("usage: hauld [options]\n"
	      "Live-migrate Linux process trees and containers between hosts with CRIU.\n\n", f);
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		char head[64], text[512];
		int n;

		if (o->shortopt)
			n = snprintf(head, sizeof(head), "  -%c, --%s", o->shortopt, o->name);
		else
			n = snprintf(head, sizeof(head), "  --%s %s", o->name, o->arg);
		fputs(head, f);
		if (n >= 27) {
			fputc('\n', f);
			n = 0;
		}
		fprintf(f, "%*s", 28 - n, "");
		if (o->def && o->kind != K_BOOL)
			snprintf(text, sizeof(text), "%s (default:%c%s)", o->help, NBSP, o->def);
		else
			snprintf(text, sizeof(text), "%s", o->help);
		usage_words(f, text);
		fputc('\n', f);
	}
	fputs("\nEvery option but --config, --help and --version can be set in the file as\n"
	      "KEY = VALUE, KEY its long name (verbose = true); see hauld(8).\n", f);
}
