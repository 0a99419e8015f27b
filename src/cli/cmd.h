/* cmd.h: haul's commands and what they share: the global flags, which may come
 * before or after the command's name, and the settings they resolve to.
 *
 * A command is int cmd_NAME(struct gflags *g, int argc, char **argv), argv[0]
 * its name; it returns the exit status (cli.h). */
#ifndef HAUL_CMD_H
#define HAUL_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

/* The global flags as given on the command line; NULL or false when absent. */
struct gflags {
	const char *api;
	const char *token_file;
	const char *cacert;
	bool json;
	bool help;
	bool version;
};

/* A command's own option: code is the value getopt_long returns for it. */
typedef int (*cmd_opt_fn)(void *ctx, int code, const char *arg);

/* Parses argv (argv[0] the command) for the global flags and the command's own
 * (own: a getopt_long table ending with a zero row, may be NULL; each is handed to
 * on_opt). Operands may come between options. Returns HX_OK with *first the
 * index of the first operand, or HX_USAGE (reported). */
int cmd_parse(int argc, char **argv, const struct option *own, cmd_opt_fn on_opt, void *ctx,
	      struct gflags *g, int *first);

/* Resolves the settings (flags, environment, configuration file) into c, which
 * the caller releases. HX_OK, or HX_USAGE (reported). */
int cmd_setup(const struct gflags *g, struct cli *c);

/* Prints the usage of cmd ("" for haul's own) to f. */
void cmd_help(FILE *f, const char *cmd);

/* Parses a decimal integer from lo to hi with nothing after it. 0, or -1. */
int parse_int(const char *s, long lo, long hi, long *out);

int cmd_migrate(struct gflags *g, int argc, char **argv);
int cmd_ls(struct gflags *g, int argc, char **argv);
int cmd_show(struct gflags *g, int argc, char **argv);
int cmd_cancel(struct gflags *g, int argc, char **argv);
int cmd_logs(struct gflags *g, int argc, char **argv);
int cmd_watch(struct gflags *g, int argc, char **argv);
int cmd_health(struct gflags *g, int argc, char **argv);

/* Follows job id's events until it ends (migrate --wait, cancel --wait), showing
 * its progress on stderr, and prints its outcome on stdout: the summary, or the
 * final job under --json. mode: the job's, for the progress line. Returns HX_OK
 * when the job ended in state want, HX_FAILED when it ended otherwise,
 * HX_INTERRUPTED, or an error's status. */
int follow_job(const struct cli *c, const char *id, const char *mode, const char *want);

#endif
