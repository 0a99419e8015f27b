/* cli_progress.h: what a person sees while a job runs. On a terminal, one line
 * redrawn in place: the phase, a bar of the phases passed (of the pages sent in
 * the lazy phase), bytes and pages of the dump iterations, lazy pages, the time;
 * warnings as lines of their own above it. Elsewhere (a file, a pipe) one plain
 * line per event, which a log or a script can read. */
#ifndef HAUL_CLI_PROGRESS_H
#define HAUL_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct progress {
	FILE *f;
	bool tty;
	bool lazy;            /* mode lazy: its phases, and pages to count */
	char state[16];
	char phase[32];
	int64_t first_ts;     /* the first event's time stamp (ms), 0 before it */
	int64_t start_mono;   /* when following began (monotonic ms) */
	int64_t bytes;        /* of the iterations so far */
	int64_t pages;
	int iterations;
	int64_t lazy_total;   /* -1 until a progress event came */
	int64_t lazy_left;
	int last_step;        /* the number of the last phase in the list */
	bool drawn;           /* the line is on the terminal */
	int64_t last_draw;
	unsigned spin;
};

/* tty: redraw one line on f; otherwise plain lines. mode: the job's ("live",
 * "lazy"). */
void progress_init(struct progress *p, FILE *f, bool tty, const char *mode);

/* One event of the job (the API's event object). */
void progress_event(struct progress *p, json_t *ev);

/* Redraws the clock, at most a few times a second (terminal only). */
void progress_tick(struct progress *p);

/* Erases the line from the terminal, before other output. */
void progress_clear(struct progress *p);

/* One event as a plain line: "+1.234s  phase      dumping" with the time from
 * t0_ms (an event time stamp), or, when t0_ms is 0, the event's own time stamp
 * and its job's id (haul watch). */
void event_line(FILE *f, json_t *ev, int64_t t0_ms);

#endif
