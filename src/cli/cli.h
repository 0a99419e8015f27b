/* cli.h: what every part of haul, hauld's command-line client, shares: the exit
 * statuses, the settings of one run, interrupts, and messages to the user.
 *
 * haul keeps to itself: it links libcurl and jansson, nothing of the daemon. */
#ifndef HAUL_CLI_H
#define HAUL_CLI_H

#include <signal.h>
#include <stdbool.h>

#ifndef HAULD_VERSION
#define HAULD_VERSION "0.0.0"
#endif

/* The exit statuses, as haul(1) documents them. A script tells "the migration did
 * not happen" (1) from "haul could not ask" (3, 4) and from "haul was used wrongly"
 * (2). */
enum {
	HX_OK = 0,            /* done; migrate --wait: the job succeeded */
	HX_FAILED = 1,        /* the migration failed or was cancelled; health: degraded */
	HX_USAGE = 2,         /* the command line, environment or configuration is wrong */
	HX_API = 3,           /* the daemon answered with an error, or with something unreadable */
	HX_UNREACHABLE = 4,   /* no answer from the daemon */
	HX_INTERRUPTED = 130, /* SIGINT or SIGTERM while following a job (128 + SIGINT) */
};

/* The settings of one run, resolved from flags, environment and configuration. */
struct cli {
	char *api;    /* the API's base URL without a trailing '/'; owned */
	char *token;  /* the bearer token, or NULL for none; owned */
	char *cacert; /* a CA bundle for https, or NULL for the system's; owned */
	bool json;    /* print the API's JSON instead of text */
};

void cli_release(struct cli *c);

/* Set by SIGINT and SIGTERM once cli_catch_interrupts has run; every wait of haul
 * (a transfer, a back-off) looks at it and gives up. */
extern volatile sig_atomic_t cli_interrupted;

/* Installs the handlers, without SA_RESTART so that a blocked poll returns. Only the
 * commands that follow a stream call it; the others keep the default (die). */
void cli_catch_interrupts(void);

/* Sleeps ms milliseconds, or less when interrupted. Returns -1 when interrupted. */
int cli_sleep_ms(long ms);

/* "haul: MESSAGE\n" on stderr. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a usage error ("haul: MESSAGE" and a pointer to --help) and returns
 * HX_USAGE, so that callers can write `return cli_usage(...)`. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
