/* cli_follow.c: the event stream, followed across reconnections (see cli_follow.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli_api.h"
#include "cli_follow.h"
#include "cli_http.h"

/* One follow_run's state, shared by the stream's callbacks. */
struct follower {
	struct follow *f;
	struct sse_parser sse;
	long events;       /* events handed to on_event so far */
	char err[256];     /* why an event was refused, "" otherwise */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_sse_event(void *ctx, const struct sse_event *ev)
{
	struct follower *x = ctx;
	json_t *o;
	int rc;

	o = json_loadb(ev->data, ev->data_len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		snprintf(x->err, sizeof(x->err), "event %s of the stream is not a JSON object",
			 ev->id[0] ? ev->id : "(no id)");
		return -1;
	}
	snprintf(x->f->last_id, sizeof(x->f->last_id), "%s", ev->id);
	x->events++;
	rc = x->f->on_event(x->f->ctx, o);
	json_decref(o);
	return rc == FOLLOW_DONE ? 1 : 0;
}

static int follow_sink(void *ctx, const char *data, size_t len)
{
	struct follower *x = ctx;
	int rc = sse_feed(&x->sse, data, len);

	if (rc == 0)
		return SINK_MORE;
	return rc > 0 ? SINK_STOP : SINK_ERROR;
}

static const char *follow_sink_err(void *ctx)
{
	struct follower *x = ctx;

	return x->err[0] ? x->err : x->sse.err;
}

static void follow_note(struct follow *f, const char *what, long pause_ms)
{
	if (f->before_note)
		f->before_note(f->ctx);
	if (pause_ms > 0)
		cli_msg("%s; following again in %.1f s", what, (double)pause_ms / 1000);
	else
		cli_msg("%s; following again", what);
}

/* The pause before the next attempt after fails failures in a row. */
static long follow_pause_ms(long server_retry, int fails)
{
	long base = server_retry >= 100 && server_retry <= 10000 ? server_retry : 500, p;

	if (fails <= 0)
		return 0;
	p = base << (fails > 6 ? 5 : fails - 1);
	return p > 10000 ? 10000 : p;
}

/* One connection: its outcome in rs (the caller releases it). Returns the
 * http_do result. */
static int follow_connect(const struct cli *c, struct follower *x, struct http_req *rq,
			  char *path, size_t pathlen, struct http_resp *rs)
{
	struct follow *f = x->f;

	if (f->job)
		snprintf(path, pathlen, "/events?job=%s", f->job);
	else
		snprintf(path, pathlen, "/events");
	memset(rq, 0, sizeof(*rq));
	rq->method = "GET";
	rq->path = path;
	rq->last_event_id = f->last_id[0] ? f->last_id : NULL;
	rq->sink = follow_sink;
	rq->sink_err = follow_sink_err;
	rq->sink_ctx = x;
	rq->tick = f->tick;
	rq->tick_ctx = f->ctx;
	sse_reset_stream(&x->sse);
	x->err[0] = '\0';
	return http_do(c, rq, rs);
}

/* What one connection's outcome means for the loop. */
enum verdict {
	V_DONE,   /* on_event said FOLLOW_DONE */
	V_AGAIN,  /* connect again (*fails counted, why said) */
	V_STOP,   /* give up with *status, reported */
};

static enum verdict follow_judge(const struct cli *c, struct follower *x,
				 const struct http_req *rq, const struct http_resp *rs, int rc,
				 long events_before, int64_t t0, int *fails, char *why, size_t whylen,
				 int *status)
{
	if (rs->stopped)
		return V_DONE;
	if (rs->fail == HF_INTERRUPTED || cli_interrupted) {
		*status = HX_INTERRUPTED;
		return V_STOP;
	}
	if (rs->fail == HF_PROTOCOL) {
		*status = api_report(c, rq, rs);
		return V_STOP;
	}
	if (rs->streamed) {
		/* A stream that opened and ended: the daemon's timeout, a restart, a
		 * broken connection. One that gave nothing at once counts as a failure,
		 * so that a server that hangs up at once is not asked in a tight loop. */
		if (x->events > events_before || mono_ms() - t0 >= 1000)
			*fails = 0;
		else
			(*fails)++;
		snprintf(why, whylen, "the event stream ended%s%s", rc < 0 ? ": " : "",
			 rc < 0 ? rs->err : "");
		return V_AGAIN;
	}
	if (rc == 0 && rs->status >= 500) {
		(*fails)++;
		snprintf(why, whylen, "GET %s answered %ld", rq->path, rs->status);
		return V_AGAIN;
	}
	if (rc == 0 && rs->status == 200) {
		cli_msg("GET %s: the answer is not an event stream", rq->path);
		*status = HX_API;
		return V_STOP;
	}
	if (rc == 0) {
		*status = api_report(c, rq, rs);   /* 401, 404, ...: asking again will not help */
		return V_STOP;
	}
	(*fails)++;
	snprintf(why, whylen, "cannot reach hauld at %s", rs->err);
	return V_AGAIN;
}

int follow_run(const struct cli *c, struct follow *f)
{
	struct follower x = { .f = f };
	struct http_req rq;
	struct http_resp rs = { 0 };
	char path[128], why[700];
	int fails = 0, rc, status = HX_OK;
	enum verdict v;
	long events_before, pause;
	int64_t t0;

	if (sse_init(&x.sse, FOLLOW_LINE_MAX, on_sse_event, &x) < 0) {
		cli_msg("out of memory");
		return HX_API;
	}
	for (;;) {
		events_before = x.events;
		t0 = mono_ms();
		rc = follow_connect(c, &x, &rq, path, sizeof(path), &rs);
		v = follow_judge(c, &x, &rq, &rs, rc, events_before, t0, &fails, why, sizeof(why),
				 &status);
		if (v != V_AGAIN)
			break;
		if (fails >= FOLLOW_MAX_FAILS) {
			if (f->before_note)
				f->before_note(f->ctx);
			status = rs.streamed ? HX_API : api_report(c, &rq, &rs);
			cli_msg("gave up following after %d failures in a row", fails);
			break;
		}
		pause = follow_pause_ms(x.sse.retry_ms, fails);
		if (fails > 0 || rc < 0)
			follow_note(f, why, pause);
		http_resp_release(&rs);
		if (cli_sleep_ms(pause) < 0) {
			status = HX_INTERRUPTED;
			break;
		}
	}
	http_resp_release(&rs);
	sse_release(&x.sse);
	return status;
}
