/* cli_follow.h: following hauld's event stream (GET /events) for as long as the
 * caller wants, across broken connections and daemon restarts: each reconnection
 * sends Last-Event-ID, so that no event is lost or repeated. A stream that ends
 * is opened again at once; a daemon that cannot be reached is asked again after
 * the stream's retry interval (0.5 s until it has said one), then twice as long
 * each time up to 10 s, FOLLOW_MAX_FAILS times in a row at most. */
#ifndef HAUL_CLI_FOLLOW_H
#define HAUL_CLI_FOLLOW_H

#include <jansson.h>

#include "cli.h"
#include "cli_sse.h"

#define FOLLOW_MAX_FAILS 10         /* about a minute without the daemon */
#define FOLLOW_LINE_MAX  (256 * 1024)

/* What on_event answers. */
enum { FOLLOW_MORE = 0, FOLLOW_DONE = 1 };

struct follow {
	const char *job;                /* only this job's events (from its first), or NULL: all, from now */
	char last_id[SSE_ID_MAX + 1];   /* the last event received; "" before the first */
	/* Each event as the stream carries it (the API's event object, borrowed). */
	int (*on_event)(void *ctx, json_t *ev);
	/* About once a second while nothing arrives; may be NULL. */
	void (*tick)(void *ctx);
	/* Before haul prints a note of its own (a reconnection); may be NULL. */
	void (*before_note)(void *ctx);
	void *ctx;
};

/* Follows until on_event answers FOLLOW_DONE (HX_OK), an interrupt
 * (HX_INTERRUPTED), an error answer such as 401 or 404 (HX_API, reported), or
 * FOLLOW_MAX_FAILS failures in a row (HX_UNREACHABLE or HX_API, reported). */
int follow_run(const struct cli *c, struct follow *f);

#endif
