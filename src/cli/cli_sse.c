/* cli_sse.c: the server-sent-events parser (see cli_sse.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_sse.h"

int sse_init(struct sse_parser *p, size_t max_line, sse_cb cb, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->line = malloc(max_line + 1);
	if (!p->line)
		return -1;
	p->max_line = max_line;
	p->cb = cb;
	p->ctx = ctx;
	p->retry_ms = -1;
	return 0;
}

void sse_release(struct sse_parser *p)
{
	if (!p)
		return;
	free(p->line);
	free(p->data);
	p->line = p->data = NULL;
}

void sse_reset_stream(struct sse_parser *p)
{
	p->line_len = 0;
	p->data_len = 0;
	p->type[0] = '\0';
	/* The id of an event that was never dispatched does not count. */
	memcpy(p->pending_id, p->last_id, sizeof(p->pending_id));
	p->after_cr = false;
	p->started = false;
}

static int sse_data_append(struct sse_parser *p, const char *v, size_t n)
{
	size_t need = p->data_len + n + 2, cap;
	char *tmp;

	if (need > 4 * p->max_line) {
		snprintf(p->err, sizeof(p->err), "an event holds more than %zu bytes of data",
			 4 * p->max_line);
		return -1;
	}
	if (need > p->data_cap) {
		cap = p->data_cap ? p->data_cap : 1024;
		while (cap < need)
			cap *= 2;
		tmp = realloc(p->data, cap);
		if (!tmp) {
			snprintf(p->err, sizeof(p->err), "out of memory");
			return -1;
		}
		p->data = tmp;
		p->data_cap = cap;
	}
	memcpy(p->data + p->data_len, v, n);
	p->data_len += n;
	p->data[p->data_len++] = '\n';
	p->data[p->data_len] = '\0';
	return 0;
}

/* The blank line: the event is complete. */
static int sse_dispatch(struct sse_parser *p)
{
	struct sse_event ev;
	int rc;

	memcpy(p->last_id, p->pending_id, sizeof(p->last_id));
	if (p->data_len == 0) {
		p->type[0] = '\0';
		return 0;
	}
	p->data[--p->data_len] = '\0';   /* the last data line's LF */
	ev.id = p->last_id;
	ev.type = p->type[0] ? p->type : "message";
	ev.data = p->data;
	ev.data_len = p->data_len;
	rc = p->cb ? p->cb(p->ctx, &ev) : 0;
	p->data_len = 0;
	p->type[0] = '\0';
	return rc;
}

/* Copies value (n bytes) into a field of size max + 1; -1 when it is longer. */
static int sse_copy(struct sse_parser *p, char *dst, size_t max, const char *name,
		    const char *v, size_t n)
{
	if (n > max) {
		snprintf(p->err, sizeof(p->err), "an event's %s is longer than %zu bytes", name, max);
		return -1;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int sse_field(struct sse_parser *p, char *line, size_t len)
{
	const char *value = "";
	char *colon;
	size_t vlen = 0, i;

	if (len == 0)
		return sse_dispatch(p);
	if (line[0] == ':')
		return 0;
	colon = memchr(line, ':', len);
	if (colon) {
		*colon = '\0';
		value = colon + 1;
		if (*value == ' ')
			value++;
		vlen = (size_t)(line + len - value);
	}
	if (strcmp(line, "data") == 0)
		return sse_data_append(p, value, vlen);
	if (strcmp(line, "event") == 0)
		return sse_copy(p, p->type, SSE_EVENT_MAX, "type", value, vlen);
	if (strcmp(line, "id") == 0) {
		if (memchr(value, '\0', vlen))
			return 0;   /* the standard ignores such an id */
		return sse_copy(p, p->pending_id, SSE_ID_MAX, "id", value, vlen);
	}
	if (strcmp(line, "retry") == 0 && vlen > 0 && vlen < 10) {
		for (i = 0; i < vlen; i++) {
			if (value[i] < '0' || value[i] > '9')
				return 0;
		}
		p->retry_ms = strtol(value, NULL, 10);
	}
	return 0;   /* other fields are ignored */
}

static int sse_line(struct sse_parser *p)
{
	char *line = p->line;
	size_t len = p->line_len;

	p->line_len = 0;
	line[len] = '\0';
	if (!p->started) {
		p->started = true;
		if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
			line += 3;
			len -= 3;
		}
	}
	return sse_field(p, line, len);
}

int sse_feed(struct sse_parser *p, const char *buf, size_t n)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		char c = buf[i];

		if (p->after_cr) {
			p->after_cr = false;
			if (c == '\n')
				continue;   /* CRLF is one line end */
		}
		if (c == '\r' || c == '\n') {
			p->after_cr = c == '\r';
			rc = sse_line(p);
			if (rc)
				return rc;
			continue;
		}
		if (p->line_len >= p->max_line) {
			snprintf(p->err, sizeof(p->err), "a line of the stream is longer than %zu bytes",
				 p->max_line);
			return -1;
		}
		p->line[p->line_len++] = c;
	}
	return 0;
}
