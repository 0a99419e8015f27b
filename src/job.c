/* job.c: the job record, its names and its JSON form (see job.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "util.h"

static const char *const state_names[] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
};

static const char *const role_names[] = {
	[JOB_SOURCE] = "source",
	[JOB_DESTINATION] = "destination",
};

void job_init(struct job *j)
{
	if (!j)
		return;
	memset(j, 0, sizeof(*j));
	j->role = JOB_SOURCE;
	j->state = JOB_QUEUED;
	j->stats.downtime_ms = -1;
	j->stats.frozen_ms = -1;
	j->stats.total_ms = -1;
	j->stats.restore_ms = -1;
	j->stats.bytes = -1;
	j->stats.bytes_raw = -1;
	j->stats.pages_written = -1;
	j->stats.lazy_pages = -1;
	j->stats.lazy_pages_left = -1;
}

void job_release(struct job *j)
{
	if (!j)
		return;
	free(j->options);
	j->options = NULL;
}

int job_copy(struct job *dst, const struct job *src)
{
	if (!dst || !src || dst == src)
		return -EINVAL;
	*dst = *src;
	dst->options = NULL;
	if (src->options) {
		dst->options = strdup(src->options);
		if (!dst->options)
			return -ENOMEM;
	}
	return 0;
}

const char *job_state_name(enum job_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return "unknown";
	return state_names[s];
}

int job_state_parse(const char *s, enum job_state *out)
{
	size_t i;

	if (!s || !out)
		return -EINVAL;
	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum job_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *job_role_name(enum job_role r)
{
	if ((unsigned)r >= sizeof(role_names) / sizeof(role_names[0]))
		return "unknown";
	return role_names[r];
}

int job_state_final(enum job_state s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED;
}

/* A JSON string from a fixed-size field. The field may have been cut in the middle
 * of a UTF-8 sequence, or filled from a process's output; jansson refuses invalid
 * UTF-8, and one bad byte must not make the whole job unshowable, so such bytes
 * become '?'. */
static json_t *text_json(const char *s, size_t cap)
{
	size_t i, len = strnlen(s, cap);
	json_t *v;
	char *tmp;

	v = json_stringn(s, len);
	if (v)
		return v;
	tmp = malloc(len + 1);
	if (!tmp)
		return NULL;
	for (i = 0; i < len; i++)
		tmp[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	tmp[len] = '\0';
	v = json_stringn(tmp, len);
	free(tmp);
	return v;
}

/* As text_json, but null for "" (fields not filled in yet). */
static json_t *text_json_or_null(const char *s, size_t cap)
{
	return s[0] ? text_json(s, cap) : json_null();
}

static json_t *time_json(int64_t ms)
{
	char buf[32];

	if (ms <= 0)
		return json_null();
	time_rfc3339(ms, buf, sizeof(buf));
	return json_string(buf);
}

/* Statistics use -1 for "unknown"; the API shows that as null. */
static json_t *stat_json(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

/* Bytes on the wire per byte CRIU produced, to 3 decimals; null when unknown. */
static json_t *ratio_json(int64_t wire, int64_t raw)
{
	if (wire < 0 || raw <= 0)
		return json_null();
	return json_real((double)(wire * 1000 / raw) / 1000.0);
}

static json_t *options_json(const char *text)
{
	json_t *o;

	if (!text)
		return json_object();
	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return json_object();
	}
	return o;
}

json_t *job_iter_to_json(const struct job_iter *it)
{
	/* "o" steals each reference, and json_pack releases them all on failure. */
	return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "index", it->index,
			 "kind", text_json(it->kind, sizeof(it->kind)),
			 "frozen_ms", stat_json(it->frozen_ms),
			 "memdump_ms", stat_json(it->memdump_ms),
			 "memwrite_ms", stat_json(it->memwrite_ms),
			 "pages_scanned", stat_json(it->pages_scanned),
			 "pages_skipped", stat_json(it->pages_skipped),
			 "pages_written", stat_json(it->pages_written),
			 "bytes", stat_json(it->bytes),
			 "duration_ms", stat_json(it->duration_ms));
}

static json_t *stats_to_json(const struct job_stats *st, const struct job_iter *iters,
			     size_t n_iters)
{
	json_t *arr = json_array();
	size_t i;

	if (!arr)
		return NULL;
	for (i = 0; iters && i < n_iters; i++) {
		if (json_array_append_new(arr, job_iter_to_json(&iters[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "downtime_ms", stat_json(st->downtime_ms),
			 "frozen_ms", stat_json(st->frozen_ms),
			 "total_ms", stat_json(st->total_ms),
			 "restore_ms", stat_json(st->restore_ms),
			 "bytes", stat_json(st->bytes),
			 "bytes_raw", stat_json(st->bytes_raw),
			 "compress_ratio", ratio_json(st->bytes, st->bytes_raw),
			 "compression", text_json_or_null(st->compression,
							  sizeof(st->compression)),
			 "pages_written", stat_json(st->pages_written),
			 "lazy_pages", stat_json(st->lazy_pages),
			 "lazy_pages_left", stat_json(st->lazy_pages_left),
			 "restore_pages", text_json_or_null(st->restore_pages,
							    sizeof(st->restore_pages)),
			 "iterations", arr);
}

static json_t *error_to_json(const struct job *j)
{
	if (!j->err_code[0])
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:o}",
			 "code", text_json(j->err_code, sizeof(j->err_code)),
			 "message", text_json(j->err_msg, sizeof(j->err_msg)),
			 "phase", text_json_or_null(j->err_phase, sizeof(j->err_phase)),
			 "process_at", text_json_or_null(j->err_where, sizeof(j->err_where)));
}

json_t *job_to_json(const struct job *j, const struct job_iter *iters, size_t n_iters)
{
	json_t *result, *container, *webhook;

	if (!j)
		return NULL;
	if (j->result_pid > 0 && j->result_container[0])
		result = json_pack("{s:i, s:o}", "pid", j->result_pid, "container",
				   text_json(j->result_container, sizeof(j->result_container)));
	else if (j->result_pid > 0)
		result = json_pack("{s:i}", "pid", j->result_pid);
	else
		result = json_null();
	/* A container's id and name at the source; null for a process tree. */
	if (j->container_id[0] || j->container_name[0])
		container = json_pack("{s:o, s:o}",
				      "id", text_json_or_null(j->container_id,
							     sizeof(j->container_id)),
				      "name", text_json_or_null(j->container_name,
							       sizeof(j->container_name)));
	else
		container = json_null();
	if (j->callback_url[0])
		webhook = json_pack("{s:o, s:o, s:i}",
				    "url", text_json(j->callback_url, sizeof(j->callback_url)),
				    "state", text_json_or_null(j->webhook_state,
							       sizeof(j->webhook_state)),
				    "attempts", j->webhook_attempts);
	else
		webhook = json_null();
	return json_pack("{s:o, s:o, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o,"
			 " s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "id", text_json(j->id, sizeof(j->id)),
			 "type", text_json(j->type, sizeof(j->type)),
			 "role", job_role_name(j->role),
			 "pid", j->pid,
			 "command", text_json_or_null(j->command, sizeof(j->command)),
			 "container", container,
			 "to", text_json(j->to, sizeof(j->to)),
			 "mode", text_json(j->mode, sizeof(j->mode)),
			 "strategy", text_json_or_null(j->strategy, sizeof(j->strategy)),
			 "strategy_reason", text_json_or_null(j->strategy_reason,
							      sizeof(j->strategy_reason)),
			 "options", options_json(j->options),
			 "state", job_state_name(j->state),
			 "phase", text_json(j->phase, sizeof(j->phase)),
			 "created_at", time_json(j->created_at),
			 "started_at", time_json(j->started_at),
			 "finished_at", time_json(j->finished_at),
			 "result", result,
			 "error", error_to_json(j),
			 "stats", stats_to_json(&j->stats, iters, n_iters),
			 "webhook", webhook);
}
