/* haul.c: the command-line client of hauld: the commands' table, the global
 * flags, the settings, and main. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_conf.h"
#include "cli_http.h"
#include "cmd.h"

enum {
	OPT_API = 1000,
	OPT_TOKEN_FILE,
	OPT_CACERT,
	OPT_JSON,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option global_opts[] = {
	{ "api",        required_argument, NULL, OPT_API },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "cacert",     required_argument, NULL, OPT_CACERT },
	{ "json",       no_argument,       NULL, OPT_JSON },
	{ "help",       no_argument,       NULL, OPT_HELP },
	{ "version",    no_argument,       NULL, OPT_VERSION },
};
#define N_GLOBAL (sizeof(global_opts) / sizeof(global_opts[0]))
#define OWN_MAX  16

struct command {
	const char *name;
	int (*run)(struct gflags *g, int argc, char **argv);
	const char *synopsis;
	const char *help;   /* the command's options and what it does */
};

static const struct command commands[] = {
	{ "migrate", cmd_migrate, "migrate PID|CONTAINER --to HOST:PORT [OPTIONS]",
	  "Starts moving a process tree (its root pid) or a container to the hauld whose\n"
	  "peer address is HOST:PORT, and prints the job's id.\n\n"
	  "  --to HOST:PORT         the destination's peer address (its --peer-listen)\n"
	  "  --type TYPE            pid (the default for a number), docker, podman, runc:\n"
	  "                         a container needs its engine named\n"
	  "  --mode MODE            live (the default) or lazy (post-copy)\n"
	  "  --option KEY=VALUE     an option of the API; VALUE is JSON (true, 8, [\"/srv\"])\n"
	  "                         or else a string; a KEY given twice makes a list\n"
	  "  --wait                 follow the job to its end, its progress on stderr, and\n"
	  "                         print the outcome: exit 0 only when it succeeded\n"
	  "  --callback-url URL     the daemon POSTs the final job there (a webhook)\n"
	  "  --idempotency-key KEY  the request's key (default: a random UUID)\n\n"
	  "The POST is sent again after a lost connection, a timeout or a 5xx answer (5\n"
	  "times at most), always under the same Idempotency-Key: it starts one job at\n"
	  "most. Ctrl-C under --wait stops following; the migration goes on." },
	{ "ls", cmd_ls, "ls [--limit N] [--state STATE]",
	  "Lists jobs, newest first.\n\n"
	  "  --limit N      at most N jobs (default 20, at most 10000)\n"
	  "  --state STATE  only those in STATE: queued, running, succeeded, failed,\n"
	  "                 cancelled (among the newest 10000)" },
	{ "show", cmd_show, "show ID",
	  "Shows one job. ID may be the beginning of a job's id when one job has it\n"
	  "(as for cancel, logs and watch --job)." },
	{ "cancel", cmd_cancel, "cancel ID [--wait]",
	  "Asks a source job to stop: it rolls back and the process runs on at the source.\n"
	  "Refused (409, exit status 3) once the destination runs the process, or when the\n"
	  "job has ended.\n\n"
	  "  --wait  follow the job to its end: exit 0 when it ended cancelled" },
	{ "logs", cmd_logs, "logs ID",
	  "Prints CRIU's logs of a job on this host (at the source, the destination's\n"
	  "too), each under a header with its host and name." },
	{ "watch", cmd_watch, "watch [--job ID]",
	  "Prints the daemon's events as they happen, one a line (one JSON object a line\n"
	  "with --json), until interrupted.\n\n"
	  "  --job ID  only this job's events, from its first" },
	{ "health", cmd_health, "health",
	  "Says what the daemon can do: CRIU, kernel features, strategies, jobs and\n"
	  "container engines. Exit status 1 when the daemon says it is degraded." },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char global_help[] =
	"Global options (before or after the command):\n"
	"  --api URL          hauld's API (default http://127.0.0.1:8420)\n"
	"  --token-file FILE  the API token is the first line of FILE\n"
	"  --cacert FILE      CA certificates for an https API\n"
	"  --json             print the API's JSON instead of text\n"
	"  -h, --help         this help ('haul --version': the version)\n"
	"Environment: HAUL_API, HAUL_TOKEN (the token itself), HAUL_TOKEN_FILE,\n"
	"HAUL_CACERT, HAUL_CONFIG (else ~/.config/haul/config, else /etc/hauld/haul.conf:\n"
	"lines 'api = URL', 'token_file = FILE', 'cacert = FILE'). A flag wins over the\n"
	"environment, which wins over the file.\n"
	"Exit status: 0 done, 1 the migration failed or was cancelled, 2 usage error,\n"
	"3 the API answered with an error, 4 the daemon could not be reached,\n"
	"130 interrupted while following. See haul(1).\n";

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

void cmd_help(FILE *f, const char *cmd)
{
	const struct command *c = cmd && cmd[0] ? find_command(cmd) : NULL;

	if (c) {
		fprintf(f, "usage: haul %s\n\n%s\n\n%s", c->synopsis, c->help, global_help);
		return;
	}
	fprintf(f, "usage: haul [GLOBAL OPTIONS] COMMAND [ARGS]\n\n"
	       "haul starts, follows and cancels hauld's live migrations of process trees and\n"
	       "containers.\n\nCommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  haul %s\n", commands[i].synopsis);
	fprintf(f, "\n'haul COMMAND --help' tells more of each.\n\n%s", global_help);
}

int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end = NULL;
	long v;

	if (!s || !s[0] || s[0] == '+' || s[0] == '-' || s[0] == ' ')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* A global flag into g; -1 when code is not one. */
static int global_opt(struct gflags *g, int code, const char *arg)
{
	switch (code) {
	case OPT_API:        g->api = arg; return 0;
	case OPT_TOKEN_FILE: g->token_file = arg; return 0;
	case OPT_CACERT:     g->cacert = arg; return 0;
	case OPT_JSON:       g->json = true; return 0;
	case OPT_HELP:       g->help = true; return 0;
	case OPT_VERSION:    g->version = true; return 0;
	default:             return -1;
	}
}

int cmd_parse(int argc, char **argv, const struct option *own, cmd_opt_fn on_opt, void *ctx,
	      struct gflags *g, int *first)
{
	struct option table[N_GLOBAL + OWN_MAX + 1];
	size_t n = 0;
	int code, rc;

	/* --version is haul's own, before any command (the last global row). */
	n = N_GLOBAL - 1;
	memcpy(table, global_opts, n * sizeof(global_opts[0]));
	for (size_t i = 0; own && own[i].name && n < N_GLOBAL + OWN_MAX; i++)
		table[n++] = own[i];
	memset(&table[n], 0, sizeof(table[n]));
	optind = 0;   /* GNU getopt: start afresh, argv[0] is the command */
	opterr = 0;
	while ((code = getopt_long(argc, argv, "h", table, NULL)) != -1) {
		if (code == 'h')
			code = OPT_HELP;
		if (global_opt(g, code, optarg) == 0)
			continue;
		if (code == '?' || code == ':') {
			if (optopt && optopt < 256 && optopt != '?')
				return cli_usage(argv[0], "-%c: unknown option, or its value is missing",
						 optopt);
			return cli_usage(argv[0], "%s: unknown option, or its value is missing",
					 argv[optind - 1]);
		}
		rc = on_opt ? on_opt(ctx, code, optarg) : HX_USAGE;
		if (rc != HX_OK)
			return rc;
	}
	*first = optind;
	return HX_OK;
}

int cmd_setup(const struct gflags *g, struct cli *c)
{
	struct conf_src flags = { .api = g->api, .token_file = g->token_file, .cacert = g->cacert };
	struct conf_src env = {
		.api = getenv("HAUL_API"),
		.token = getenv("HAUL_TOKEN"),
		.token_file = getenv("HAUL_TOKEN_FILE"),
		.cacert = getenv("HAUL_CACERT"),
	};
	struct conf_src file;
	struct conf cf = { 0 };
	const char *explicit = getenv("HAUL_CONFIG");
	char err[768];
	int rc = HX_OK;

	memset(c, 0, sizeof(*c));
	c->json = g->json;
	if (explicit && !explicit[0])
		explicit = NULL;
	if (conf_load(&cf, explicit, getenv("HOME"), getenv("XDG_CONFIG_HOME"), err,
		      sizeof(err)) < 0) {
		cli_msg("configuration: %s", err);
		rc = HX_USAGE;
		goto out;
	}
	file = (struct conf_src){ .api = cf.api, .token_file = cf.token_file, .cacert = cf.cacert };
	if (conf_resolve(c, &flags, &env, &file, err, sizeof(err)) < 0) {
		cli_msg("%s", err);
		rc = HX_USAGE;
	}
out:
	conf_release(&cf);
	return rc;
}

/* The global flags before the command. Returns HX_OK with *cmd_at the index of
 * the command in argv (argc when there is none), or HX_USAGE. */
static int parse_leading(int argc, char **argv, struct gflags *g, int *cmd_at)
{
	struct option table[N_GLOBAL + 1];
	int code;

	memcpy(table, global_opts, sizeof(global_opts));
	memset(&table[N_GLOBAL], 0, sizeof(table[N_GLOBAL]));
	opterr = 0;
	while ((code = getopt_long(argc, argv, "+h", table, NULL)) != -1) {
		if (code == 'h')
			code = OPT_HELP;
		if (global_opt(g, code, optarg) < 0)
			return cli_usage(NULL, "%s: unknown option, or its value is missing",
					 argv[optind - 1]);
	}
	*cmd_at = optind;
	return HX_OK;
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct gflags g = { 0 };
	int at = argc, rc;

	rc = parse_leading(argc, argv, &g, &at);
	if (rc != HX_OK)
		return rc;
	if (g.version) {
		printf("haul %s\n", HAULD_VERSION);
		return HX_OK;
	}
	if (at >= argc || strcmp(argv[at], "help") == 0) {
		if (at + 1 < argc && find_command(argv[at + 1])) {
			cmd_help(stdout, argv[at + 1]);
			return HX_OK;
		}
		/* Without a command, and without asking for help, it is a usage error. */
		cmd_help(g.help || at < argc ? stdout : stderr, "");
		return g.help || at < argc ? HX_OK : HX_USAGE;
	}
	if (strcmp(argv[at], "version") == 0) {
		printf("haul %s\n", HAULD_VERSION);
		return HX_OK;
	}
	cmd = find_command(argv[at]);
	if (!cmd)
		return cli_usage(NULL, "'%s' is not a command (migrate, ls, show, cancel, logs, "
				 "watch, health)", argv[at]);
	if (http_global_init() < 0) {
		cli_msg("libcurl could not be initialised");
		return HX_API;
	}
	rc = cmd->run(&g, argc - at, argv + at);
	http_global_cleanup();
	/* Output that did not reach its file (a full disk) must not pass for done. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_msg("cannot write the output: %s", strerror(errno));
		if (rc == HX_OK)
			rc = HX_API;
	}
	return rc;
}
