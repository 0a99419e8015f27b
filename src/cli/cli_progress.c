/* cli_progress.c: the progress line and the plain event lines (see cli_progress.h). */
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli_fmt.h"
#include "cli_progress.h"

#define BAR_WIDTH 20

/* The phases a source job passes, in order, for the bar's steps. */
static const char *const live_phases[] = { "connecting", "preflight", "precopy", "dumping",
					   "transferring", "restoring", "committing", NULL };
static const char *const lazy_phases[] = { "connecting", "preflight", "dumping",
					   "transferring", "restoring", "lazy", NULL };

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_init(struct progress *p, FILE *f, bool tty, const char *mode)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->tty = tty;
	p->lazy = mode && strcmp(mode, "lazy") == 0;
	snprintf(p->state, sizeof(p->state), "queued");
	snprintf(p->phase, sizeof(p->phase), "queued");
	p->lazy_total = -1;
	p->lazy_left = -1;
	p->start_mono = mono_ms();
}

/* The terminal's width, 80 when it does not say. */
static int term_width(FILE *f)
{
	struct winsize ws;

	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* The part of the way done, for the bar; *step is the phase's number (1 for the
 * first, 0 while queued), *of how many there are. A phase outside the list
 * (rollback) keeps the last number. */
static double progress_fraction(struct progress *p, int *step, int *of)
{
	const char *const *list = p->lazy ? lazy_phases : live_phases;
	int n, i = -1;

	for (n = 0; list[n]; n++) {
		if (strcmp(list[n], p->phase) == 0)
			i = n;
	}
	*of = n;
	if (strcmp(p->phase, "done") == 0)
		i = n;
	if (i < 0) {
		*step = p->last_step;
		return p->last_step > 0 ? (double)(p->last_step - 1) / n : 0;
	}
	*step = p->last_step = i < n ? i + 1 : n;
	if (p->lazy && strcmp(p->phase, "lazy") == 0 && p->lazy_total > 0)
		return (i + (double)(p->lazy_total - p->lazy_left) / (double)p->lazy_total) / n;
	return (double)i / n;
}

static void progress_draw(struct progress *p)
{
	static const char spinner[] = "|/-\\";
	char line[512], bar[BAR_WIDTH + 1], figures[160], b[32], t[32];
	int step, of, filled, width;
	double frac = progress_fraction(p, &step, &of);
	size_t len;

	filled = (int)(frac * BAR_WIDTH + 0.5);
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < filled ? '#' : '-';
	bar[BAR_WIDTH] = '\0';
	figures[0] = '\0';
	if (p->iterations > 0) {
		fmt_bytes(b, sizeof(b), p->bytes);
		snprintf(figures, sizeof(figures), "  %s  %lld pages", b, (long long)p->pages);
	}
	if (p->lazy_total >= 0) {
		len = strlen(figures);
		snprintf(figures + len, sizeof(figures) - len, "  lazy pages %lld/%lld",
			 (long long)(p->lazy_total - p->lazy_left), (long long)p->lazy_total);
	}
	fmt_ms(t, sizeof(t), mono_ms() - p->start_mono);
	snprintf(line, sizeof(line), "%c %-12s [%s] %d/%d%s  %s", spinner[p->spin++ % 4], p->phase,
		 bar, step, of, figures, t);
	/* A line wider than the terminal would wrap, and \r would not go back over it. */
	width = term_width(p->f);
	if ((int)strlen(line) >= width)
		line[width - 1] = '\0';
	fprintf(p->f, "\r%s\033[K", line);
	fflush(p->f);
	p->drawn = true;
	p->last_draw = mono_ms();
}

void progress_clear(struct progress *p)
{
	if (!p->tty || !p->drawn)
		return;
	fputs("\r\033[K", p->f);
	fflush(p->f);
	p->drawn = false;
}

void progress_tick(struct progress *p)
{
	if (p->tty && mono_ms() - p->last_draw >= 250)
		progress_draw(p);
}

/* What the event says besides its kind: the phase for a phase event, the
 * daemon's sentence (and the bytes of an iteration) for the others. */
static void event_text(json_t *ev, char *out, size_t len)
{
	const char *kind = jstr(ev, "kind", ""), *level = jstr(ev, "level", "info");
	char msg[600], b[32];
	int64_t bytes;

	if (strcmp(kind, "phase") == 0)
		fmt_safe(msg, sizeof(msg), jstr(ev, "phase", "?"));
	else
		fmt_safe(msg, sizeof(msg), jstr(ev, "message", ""));
	if (strcmp(kind, "iteration") == 0 && jint(ev, "data.bytes", &bytes) == 0) {
		fmt_bytes(b, sizeof(b), bytes);
		snprintf(out, len, "%s (%s)", msg, b);
	} else {
		snprintf(out, len, "%s%s", strcmp(level, "warn") == 0 ? "warning: " :
			 strcmp(level, "error") == 0 ? "error: " : "", msg);
	}
}

void event_line(FILE *f, json_t *ev, int64_t t0_ms)
{
	const char *kind = jstr(ev, "kind", "log");
	char text[700], safe_kind[32], ts[40], job[9];
	int64_t at;

	event_text(ev, text, sizeof(text));
	fmt_safe(safe_kind, sizeof(safe_kind), kind);
	if (t0_ms > 0 && ts_parse_ms(jstr(ev, "ts", NULL), &at) == 0) {
		fprintf(f, "  %+8.3fs  %-9s  %s\n", (double)(at - t0_ms) / 1000, safe_kind, text);
	} else {
		fmt_safe(ts, sizeof(ts), jstr(ev, "ts", "-"));
		fmt_safe(job, sizeof(job), jstr(ev, "job", "-"));
		fprintf(f, "%s  %s  %-9s  %s\n", ts, job, safe_kind, text);
	}
	fflush(f);
}

void progress_event(struct progress *p, json_t *ev)
{
	const char *kind = jstr(ev, "kind", ""), *level = jstr(ev, "level", "info");
	int64_t v;

	if (p->first_ts == 0 && ts_parse_ms(jstr(ev, "ts", NULL), &v) == 0)
		p->first_ts = v;
	if (jstr(ev, "state", NULL))
		fmt_safe(p->state, sizeof(p->state), jstr(ev, "state", NULL));
	if (jstr(ev, "phase", NULL))
		fmt_safe(p->phase, sizeof(p->phase), jstr(ev, "phase", NULL));
	if (strcmp(kind, "iteration") == 0) {
		p->iterations++;
		if (jint(ev, "data.bytes", &v) == 0)
			p->bytes += v;
		if (jint(ev, "data.pages_written", &v) == 0)
			p->pages += v;
	} else if (strcmp(kind, "progress") == 0) {
		if (jint(ev, "data.lazy_pages", &v) == 0)
			p->lazy_total = v;
		if (jint(ev, "data.lazy_pages_left", &v) == 0)
			p->lazy_left = v;
	}
	if (!p->tty) {
		event_line(p->f, ev, p->first_ts);
		return;
	}
	/* On a terminal the line says the rest; what went wrong stays above it. */
	if (strcmp(level, "info") != 0) {
		progress_clear(p);
		event_line(p->f, ev, p->first_ts);
	}
	progress_draw(p);
}
