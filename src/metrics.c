/* metrics.c: counters and histograms of the daemon (see metrics.h). One lock; each
 * family is a small table of series keyed by their label text. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "util.h"

#define LABELS_LEN 200

/* Seconds; downtime and frozen time are mostly under a second, total time longer. */
static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
				  30, 60, 120, 300, 600 };
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct counter {
	char labels[LABELS_LEN];
	double v;
};

struct counters {
	const char *name, *help;
	struct counter s[METRICS_SERIES_MAX];
	size_t n;
};

struct hist {
	char labels[LABELS_LEN];
	uint64_t b[N_BUCKETS];   /* not cumulative; summed when written */
	uint64_t count;
	double sum;
};

struct hists {
	const char *name, *help;
	struct hist s[METRICS_SERIES_MAX];
	size_t n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t started_ms;

static struct counters migrations = { .name = "hauld_migrations_total",
	.help = "Migrations that ended, by type, mode, role (source or destination) and final state." };
static struct counters failures = { .name = "hauld_migration_failures_total",
	.help = "Failed migrations by error code (CRIU's failures have their own codes) and role." };
static struct counters bytes = { .name = "hauld_migration_bytes_total",
	.help = "Bytes a migration moved between the hosts, by role." };
static struct counters bytes_raw = { .name = "hauld_migration_bytes_raw_total",
	.help = "What CRIU's page stream and the image files weighed before compression, by role." };
static struct counters peer_failures = { .name = "hauld_peer_connection_failures_total",
	.help = "Peer connections that failed: connect (could not reach the peer) or handshake." };
static struct counters webhooks = { .name = "hauld_webhook_deliveries_total",
	.help = "Webhook deliveries by outcome: delivered, failed (gave up), or attempt_failed." };
static struct hists downtime = { .name = "hauld_migration_downtime_seconds",
	.help = "Downtime of succeeded migrations as the source measured it, by type." };
static struct hists frozen = { .name = "hauld_migration_frozen_seconds",
	.help = "Time the source tree was frozen in succeeded migrations, by type." };
static struct hists total = { .name = "hauld_migration_duration_seconds",
	.help = "Total time of migrations that ended at the source, by type and final state." };

/* Label values go between double quotes: \, " and line breaks are escaped, and
 * anything but printable ASCII becomes '?'. */
static void label_value(char *out, size_t len, const char *v)
{
	size_t o = 0;

	for (; *v && o + 3 < len; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '\\' || c == '"') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	out[o] = '\0';
}

/* Label text of pairs (name, value, ..., NULL). */
static void labels(char *out, size_t len, ...)
{
	char val[96];
	const char *k, *v;
	size_t o = 0;
	va_list ap;

	out[0] = '\0';
	va_start(ap, len);
	while ((k = va_arg(ap, const char *)) && (v = va_arg(ap, const char *))) {
		label_value(val, sizeof(val), v);
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s=\"%s\"",
				      o ? "," : "", k, val);
		if (o >= len) {
			out[len - 1] = '\0';
			break;
		}
	}
	va_end(ap);
}

/* Under mu. */
static void count(struct counters *c, const char *lab, double by)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->s[i].labels, lab) == 0)
			break;
	if (i == c->n) {
		if (c->n == METRICS_SERIES_MAX)
			return;
		snprintf(c->s[c->n++].labels, LABELS_LEN, "%s", lab);
	}
	c->s[i].v += by;
}

/* Under mu. */
static void observe(struct hists *h, const char *lab, double v)
{
	size_t i, b;

	for (i = 0; i < h->n; i++)
		if (strcmp(h->s[i].labels, lab) == 0)
			break;
	if (i == h->n) {
		if (h->n == METRICS_SERIES_MAX)
			return;
		memset(&h->s[i], 0, sizeof(h->s[i]));
		snprintf(h->s[h->n++].labels, LABELS_LEN, "%s", lab);
	}
	for (b = 0; b < N_BUCKETS; b++)
		if (v <= buckets[b]) {
			h->s[i].b[b]++;
			break;
		}
	h->s[i].count++;
	h->s[i].sum += v;
}

static void start_once(void)
{
	if (!started_ms)
		started_ms = time_now_ms();
}

void metrics_job_finished(const struct job *j)
{
	const char *role = job_role_name(j->role), *state = job_state_name(j->state);
	char lab[LABELS_LEN];

	pthread_mutex_lock(&mu);
	start_once();
	labels(lab, sizeof(lab), "type", j->type, "mode", j->mode, "role", role, "state", state,
	       NULL);
	count(&migrations, lab, 1);
	if (j->err_code[0]) {
		labels(lab, sizeof(lab), "code", j->err_code, "role", role, NULL);
		count(&failures, lab, 1);
	}
	if (j->stats.bytes > 0) {
		labels(lab, sizeof(lab), "role", role, NULL);
		count(&bytes, lab, (double)j->stats.bytes);
	}
	if (j->stats.bytes_raw > 0) {
		labels(lab, sizeof(lab), "role", role, NULL);
		count(&bytes_raw, lab, (double)j->stats.bytes_raw);
	}
	if (j->role == JOB_SOURCE) {
		if (j->state == JOB_SUCCEEDED) {
			labels(lab, sizeof(lab), "type", j->type, NULL);
			if (j->stats.downtime_ms >= 0)
				observe(&downtime, lab, (double)j->stats.downtime_ms / 1000);
			if (j->stats.frozen_ms >= 0)
				observe(&frozen, lab, (double)j->stats.frozen_ms / 1000);
		}
		if (j->stats.total_ms >= 0) {
			labels(lab, sizeof(lab), "type", j->type, "state", state, NULL);
			observe(&total, lab, (double)j->stats.total_ms / 1000);
		}
	}
	pthread_mutex_unlock(&mu);
}

void metrics_peer_failure(const char *stage)
{
	char lab[LABELS_LEN];

	pthread_mutex_lock(&mu);
	start_once();
	labels(lab, sizeof(lab), "stage", stage, NULL);
	count(&peer_failures, lab, 1);
	pthread_mutex_unlock(&mu);
}

void metrics_webhook(const char *outcome)
{
	char lab[LABELS_LEN];

	pthread_mutex_lock(&mu);
	start_once();
	labels(lab, sizeof(lab), "outcome", outcome, NULL);
	count(&webhooks, lab, 1);
	pthread_mutex_unlock(&mu);
}

struct out {
	char *p;
	size_t len, cap;
	int err;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->err = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		char *tmp = realloc(o->p, o->cap * 2 + (size_t)n);

		if (!tmp) {
			o->err = 1;
			return;
		}
		o->p = tmp;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

static void put_counters(struct out *o, const struct counters *c)
{
	put(o, "# HELP %s %s\n# TYPE %s counter\n", c->name, c->help, c->name);
	for (size_t i = 0; i < c->n; i++)
		put(o, "%s{%s} %.17g\n", c->name, c->s[i].labels, c->s[i].v);
}

static void put_hists(struct out *o, const struct hists *h)
{
	put(o, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
	for (size_t i = 0; i < h->n; i++) {
		const struct hist *s = &h->s[i];
		uint64_t cum = 0;

		for (size_t b = 0; b < N_BUCKETS; b++) {
			cum += s->b[b];
			put(o, "%s_bucket{%s,le=\"%g\"} %llu\n", h->name, s->labels, buckets[b],
			    (unsigned long long)cum);
		}
		put(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", h->name, s->labels,
		    (unsigned long long)s->count);
		put(o, "%s_sum{%s} %.17g\n", h->name, s->labels, s->sum);
		put(o, "%s_count{%s} %llu\n", h->name, s->labels, (unsigned long long)s->count);
	}
}

char *metrics_render(const struct metrics_gauges *g)
{
	static const char *const roles[2] = { "source", "destination" };
	static const char *const states[2] = { "queued", "running" };
	struct out o = { .cap = 8192 };
	char v1[96], v2[96];

	o.p = malloc(o.cap);
	if (!o.p)
		return NULL;
	o.p[0] = '\0';
	label_value(v1, sizeof(v1), g->version ? g->version : "");
	label_value(v2, sizeof(v2), g->criu_version ? g->criu_version : "");
	pthread_mutex_lock(&mu);
	start_once();
	put(&o, "# HELP hauld_build_info The daemon's version and the CRIU it found.\n"
		"# TYPE hauld_build_info gauge\nhauld_build_info{version=\"%s\",criu=\"%s\"} 1\n",
	    v1, v2);
	put(&o, "# HELP hauld_start_time_seconds When this daemon started, in Unix time.\n"
		"# TYPE hauld_start_time_seconds gauge\nhauld_start_time_seconds %.3f\n",
	    (double)started_ms / 1000);
	put(&o, "# HELP hauld_migrations_in_flight Migrations queued or running, by role.\n"
		"# TYPE hauld_migrations_in_flight gauge\n");
	for (int r = 0; r < 2; r++)
		for (int s = 0; s < 2; s++)
			put(&o, "hauld_migrations_in_flight{role=\"%s\",state=\"%s\"} %d\n",
			    roles[r], states[s], g->in_flight[r][s]);
	put_counters(&o, &migrations);
	put_counters(&o, &failures);
	put_counters(&o, &bytes);
	put_counters(&o, &bytes_raw);
	put_counters(&o, &peer_failures);
	put_counters(&o, &webhooks);
	put_hists(&o, &downtime);
	put_hists(&o, &frozen);
	put_hists(&o, &total);
	pthread_mutex_unlock(&mu);
	if (o.err) {
		free(o.p);
		return NULL;
	}
	return o.p;
}

/* The start time is that of the first figure or scrape at the latest; main calls
 * this early so that it is the daemon's own. */
void metrics_init(void)
{
	pthread_mutex_lock(&mu);
	start_once();
	pthread_mutex_unlock(&mu);
}
