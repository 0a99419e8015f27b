/* cli_sse.h: a parser of server-sent events (text/event-stream), as the HTML
 * standard defines them: lines end in LF, CRLF or CR, a blank line dispatches the
 * event, "field: value" sets id, event, data (data lines joined by LF) or retry,
 * lines that begin with ':' are comments. It is fed the bytes as they arrive, in
 * pieces of any size, and holds at most max_line bytes of one line and
 * 4 * max_line of one event's data: a longer line or event is an error, so that
 * a broken or hostile stream cannot grow it without bound. */
#ifndef HAUL_CLI_SSE_H
#define HAUL_CLI_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define SSE_ID_MAX    64  /* an event id longer than this is refused */
#define SSE_EVENT_MAX 64  /* so is an event type */

struct sse_event {
	const char *id;    /* the last event id after this event ("" when none) */
	const char *type;  /* the event type, "message" when the stream named none */
	const char *data;  /* NUL-terminated */
	size_t data_len;
};

/* Called once per event; returns 0 to go on, anything else to stop feeding (the
 * value comes back from sse_feed). The event is only valid during the call. */
typedef int (*sse_cb)(void *ctx, const struct sse_event *ev);

struct sse_parser {
	sse_cb cb;
	void *ctx;
	size_t max_line;
	char *line;                    /* the line being read, max_line + 1 bytes */
	size_t line_len;
	char *data;                    /* the event's data so far */
	size_t data_len, data_cap;
	bool has_data;
	char type[SSE_EVENT_MAX + 1];
	char pending_id[SSE_ID_MAX + 1]; /* the id field of the event being read */
	char last_id[SSE_ID_MAX + 1];    /* the id of the last dispatched event */
	long retry_ms;                 /* the last retry field, -1 when none came */
	bool after_cr;                 /* the last byte ended a line with CR */
	bool started;                  /* past a leading byte order mark */
	char err[128];
};

/* 0, or -1 when out of memory. The callback may be changed later. */
int sse_init(struct sse_parser *p, size_t max_line, sse_cb cb, void *ctx);
void sse_release(struct sse_parser *p);

/* Forgets a half-read line and event (the connection broke), keeping last_id and
 * retry_ms for the reconnection. */
void sse_reset_stream(struct sse_parser *p);

/* Feeds n bytes. Returns 0, the callback's nonzero answer (feeding stopped there),
 * or -1 with p->err for a line or event over the bounds. */
int sse_feed(struct sse_parser *p, const char *buf, size_t n);

#endif
