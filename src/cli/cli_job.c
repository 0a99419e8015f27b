/* cli_job.c: jobs for people (see cli_job.h). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_fmt.h"
#include "cli_job.h"

bool job_state_final(const char *state)
{
	return state && (strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
			 strcmp(state, "cancelled") == 0);
}

void job_target(json_t *job, char *out, size_t len)
{
	const char *name = jstr(job, "container.name", NULL);
	int64_t pid;

	if (!name)
		name = jstr(job, "container.id", NULL);
	if (name)
		fmt_safe(out, len, name);
	else if (jint(job, "pid", &pid) == 0)
		snprintf(out, len, "%lld", (long long)pid);
	else
		snprintf(out, len, "-");
}

void job_result(json_t *job, char *out, size_t len)
{
	const char *ctr = jstr(job, "result.container", NULL);
	char safe[80];
	int64_t pid;

	if (jint(job, "result.pid", &pid) < 0) {
		snprintf(out, len, "-");
		return;
	}
	if (ctr) {
		fmt_safe(safe, sizeof(safe), ctr);
		snprintf(out, len, "container %.12s (pid %lld)", safe, (long long)pid);
	} else {
		snprintf(out, len, "pid %lld", (long long)pid);
	}
}

/* A duration or size field of stats, or "-". */
static void stat_ms(FILE *f, json_t *job, const char *key, const char *path)
{
	char b[32];
	int64_t v;

	if (jint(job, path, &v) < 0) {
		fmt_kv(f, key, "-");
		return;
	}
	fmt_ms(b, sizeof(b), v);
	fmt_kv(f, key, "%s", b);
}

static void print_iterations(FILE *f, json_t *job)
{
	json_t *its = jpath(job, "stats.iterations"), *it;
	char b[32], fr[32], d[32];
	size_t i;
	int64_t idx, pages, bytes, frozen, dur;

	if (json_array_size(its) == 0)
		return;
	fprintf(f, "iterations\n");
	json_array_foreach(its, i, it) {
		idx = pages = bytes = frozen = dur = -1;
		jint(it, "index", &idx);
		jint(it, "pages_written", &pages);
		jint(it, "bytes", &bytes);
		jint(it, "frozen_ms", &frozen);
		jint(it, "duration_ms", &dur);
		fmt_bytes(b, sizeof(b), bytes < 0 ? 0 : bytes);
		fmt_ms(fr, sizeof(fr), frozen);
		fmt_ms(d, sizeof(d), dur);
		fmt_kv(f, "", "%lld %-8s %lld pages  %s  frozen %s  took %s", (long long)idx,
		   jstr(it, "kind", "?"), (long long)pages, b, frozen < 0 ? "-" : fr,
		   dur < 0 ? "-" : d);
	}
}

static void print_error(FILE *f, json_t *job)
{
	if (!json_is_object(jpath(job, "error"))) {
		fmt_kv(f, "error", "-");
		return;
	}
	fmt_kv(f, "error", "%s (phase %s); the process is at: %s", jstr(job, "error.code", "?"),
	   jstr(job, "error.phase", "?"), jstr(job, "error.process_at", "unknown"));
	fmt_kv(f, "", "%s", jstr(job, "error.message", ""));
}

static void print_stats(FILE *f, json_t *job)
{
	char b[32];
	int64_t v, left;

	stat_ms(f, job, "downtime", "stats.downtime_ms");
	stat_ms(f, job, "frozen", "stats.frozen_ms");
	stat_ms(f, job, "total", "stats.total_ms");
	stat_ms(f, job, "restore", "stats.restore_ms");
	if (jint(job, "stats.bytes", &v) == 0) {
		fmt_bytes(b, sizeof(b), v);
		fmt_kv(f, "bytes", "%s (%lld)", b, (long long)v);
	} else {
		fmt_kv(f, "bytes", "-");
	}
	if (jint(job, "stats.bytes_raw", &v) == 0) {
		fmt_bytes(b, sizeof(b), v);
		fmt_kv(f, "from CRIU", "%s (%lld), compression %s", b, (long long)v,
		       jstr(job, "stats.compression", "-"));
	}
	if (jint(job, "stats.pages_written", &v) == 0)
		fmt_kv(f, "pages", "%lld", (long long)v);
	else
		fmt_kv(f, "pages", "-");
	if (strcmp(jstr(job, "stats.restore_pages", "-"), "-") != 0)
		fmt_kv(f, "restore pages", "%s", jstr(job, "stats.restore_pages", "-"));
	if (jint(job, "stats.lazy_pages", &v) == 0 && jint(job, "stats.lazy_pages_left", &left) == 0)
		fmt_kv(f, "lazy pages", "%lld of %lld %s", (long long)(v - left), (long long)v,
		       strcmp(jstr(job, "stats.restore_pages", "-"), "lazy") == 0 ? "filled in"
										 : "sent");
}

void job_print(FILE *f, json_t *job)
{
	const char *role = jstr(job, "role", "?");
	char target[128], result[160], *opts;

	job_target(job, target, sizeof(target));
	job_result(job, result, sizeof(result));
	fmt_kv(f, "job", "%s", jstr(job, "id", "?"));
	fmt_kv(f, "type", "%s, role %s", jstr(job, "type", "?"), role);
	fmt_kv(f, "target", "%s%s", json_is_object(jpath(job, "container")) ? "container " : "pid ",
	   target);
	fmt_kv(f, strcmp(role, "destination") == 0 ? "from" : "to", "%s", jstr(job, "to", "-"));
	fmt_kv(f, "mode", "%s, strategy %s", jstr(job, "mode", "?"), jstr(job, "strategy", "-"));
	fmt_kv(f, "state", "%s (phase %s)", jstr(job, "state", "?"), jstr(job, "phase", "?"));
	fmt_kv(f, "created", "%s", jstr(job, "created_at", "-"));
	fmt_kv(f, "started", "%s", jstr(job, "started_at", "-"));
	fmt_kv(f, "finished", "%s", jstr(job, "finished_at", "-"));
	fmt_kv(f, "result", "%s", result);
	print_error(f, job);
	print_stats(f, job);
	print_iterations(f, job);
	opts = json_dumps(jpath(job, "options"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	fmt_kv(f, "options", "%s", opts ? opts : "{}");
	free(opts);
	if (json_is_object(jpath(job, "webhook")))
		fmt_kv(f, "webhook", "%s: %s after %lld attempts", jstr(job, "webhook.url", "?"),
		   jstr(job, "webhook.state", "?"),
		   (long long)json_integer_value(jpath(job, "webhook.attempts")));
	if (jstr(job, "strategy_reason", NULL))
		fmt_kv(f, "why", "%s", jstr(job, "strategy_reason", ""));
}

void job_print_summary(FILE *f, json_t *job)
{
	const char *state = jstr(job, "state", "?");
	char b[32], result[160];
	int64_t v;

	fmt_kv(f, state, "job %s", jstr(job, "id", "?"));
	if (strcmp(state, "succeeded") != 0) {
		fmt_kv(f, "  error", "%s (phase %s)", jstr(job, "error.code", "?"),
		   jstr(job, "error.phase", "?"));
		fmt_kv(f, "  message", "%s", jstr(job, "error.message", "-"));
		fmt_kv(f, "  process at", "%s", jstr(job, "error.process_at", "unknown"));
		return;
	}
	job_result(job, result, sizeof(result));
	fmt_kv(f, "  runs at", "%s as %s", jstr(job, "to", "?"), result);
	if (jint(job, "stats.downtime_ms", &v) == 0) {
		fmt_ms(b, sizeof(b), v);
		fmt_kv(f, "  downtime", "%s", b);
	}
	if (jint(job, "stats.total_ms", &v) == 0) {
		fmt_ms(b, sizeof(b), v);
		fmt_kv(f, "  total", "%s", b);
	}
	if (jint(job, "stats.bytes", &v) == 0) {
		fmt_bytes(b, sizeof(b), v);
		fmt_kv(f, "  moved", "%s", b);
	}
}
