/* cli.c: messages, interrupts and the settings' lifetime (see cli.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

volatile sig_atomic_t cli_interrupted;

void cli_release(struct cli *c)
{
	if (!c)
		return;
	free(c->api);
	if (c->token) {
		/* The token should not linger in freed memory. */
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->cacert);
	c->api = c->token = c->cacert = NULL;
}

static void on_interrupt(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

void cli_catch_interrupts(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int cli_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (!cli_interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return cli_interrupted ? -1 : 0;
}

void cli_msg(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("haul: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("haul: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'haul %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return HX_USAGE;
}
