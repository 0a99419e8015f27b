/* cmd_jobs.c: haul ls, show, cancel and logs (see cmd.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_api.h"
#include "cli_fmt.h"
#include "cli_job.h"
#include "cmd.h"

#define LS_DEFAULT   20
#define LS_MAX       10000
#define LS_PAGE      500   /* the API's largest page */
#define LS_PAGES_MAX 20    /* --state looks through the newest 10,000 jobs */

/* ---- ls ---- */

enum { OPT_LIMIT = 1, OPT_STATE, OPT_WAIT };

static const struct option ls_opts[] = {
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "state", required_argument, NULL, OPT_STATE },
	{ NULL, 0, NULL, 0 },
};

struct ls_args {
	long limit;
	const char *state;
};

static int ls_opt(void *ctx, int code, const char *arg)
{
	struct ls_args *a = ctx;

	if (code == OPT_LIMIT) {
		if (parse_int(arg, 1, LS_MAX, &a->limit) < 0)
			return cli_usage("ls", "--limit %.40s: a number from 1 to %d", arg, LS_MAX);
		return HX_OK;
	}
	if (code == OPT_STATE) {
		if (strcmp(arg, "queued") && strcmp(arg, "running") && !job_state_final(arg))
			return cli_usage("ls", "--state %.40s: queued, running, succeeded, failed "
					 "or cancelled", arg);
		a->state = arg;
		return HX_OK;
	}
	return HX_USAGE;
}

/* The jobs to list into keep (an array), from as many pages as it takes. */
static int ls_collect(const struct cli *c, const struct ls_args *a, json_t *keep, int64_t *next)
{
	long page_size = a->state ? LS_PAGE : (a->limit < LS_PAGE ? a->limit : LS_PAGE);
	char path[96];
	json_t *page, *job;
	size_t i;
	int rc;

	*next = 0;
	for (int n = 0; n < LS_PAGES_MAX && (long)json_array_size(keep) < a->limit; n++) {
		if (*next > 0)
			snprintf(path, sizeof(path), "/migrations?limit=%ld&before=%lld", page_size,
				 (long long)*next);
		else
			snprintf(path, sizeof(path), "/migrations?limit=%ld", page_size);
		rc = api_get(c, path, &page);
		if (rc != HX_OK)
			return rc;
		json_array_foreach(json_object_get(page, "migrations"), i, job) {
			if ((long)json_array_size(keep) >= a->limit)
				break;
			if (!a->state || strcmp(jstr(job, "state", ""), a->state) == 0)
				json_array_append(keep, job);
		}
		if (jint(page, "next", next) < 0)
			*next = -1;
		json_decref(page);
		if (*next < 0)
			break;
	}
	return HX_OK;
}

/* One job as a row of the table: 0, or -1 when out of memory. */
static int ls_row(struct table *t, json_t *job)
{
	char id[9], target[80], down[32], age[16];
	const char *row[9];
	int64_t ms, created;

	snprintf(id, sizeof(id), "%s", jstr(job, "id", "?"));
	job_target(job, target, sizeof(target));
	if (jint(job, "stats.downtime_ms", &ms) == 0)
		fmt_ms(down, sizeof(down), ms);
	else
		snprintf(down, sizeof(down), "-");
	if (ts_parse_ms(jstr(job, "created_at", NULL), &created) == 0)
		fmt_age(age, sizeof(age), (now_ms() - created) / 1000);
	else
		snprintf(age, sizeof(age), "-");
	row[0] = id;
	row[1] = jstr(job, "type", "?");
	row[2] = jstr(job, "role", "?");
	row[3] = target;
	row[4] = jstr(job, "to", "-");
	row[5] = jstr(job, "state", "?");
	row[6] = jstr(job, "phase", "?");
	row[7] = down;
	row[8] = age;
	return table_add(t, row);
}

static int ls_table(json_t *jobs)
{
	static const char *const head[] = { "ID", "TYPE", "ROLE", "TARGET", "PEER", "STATE",
					    "PHASE", "DOWNTIME", "AGE" };
	struct table t;
	json_t *job;
	size_t i;
	int rc = HX_OK;

	if (json_array_size(jobs) == 0) {
		printf("no jobs\n");
		return HX_OK;
	}
	if (table_init(&t, 9, head) < 0)
		return HX_API;
	json_array_foreach(jobs, i, job) {
		if (ls_row(&t, job) < 0) {
			cli_msg("out of memory");
			rc = HX_API;
			break;
		}
	}
	if (rc == HX_OK)
		table_print(&t, stdout);
	table_release(&t);
	return rc;
}

int cmd_ls(struct gflags *g, int argc, char **argv)
{
	struct ls_args a = { .limit = LS_DEFAULT };
	struct cli c = { 0 };
	json_t *jobs = NULL, *out;
	int64_t next = -1;
	int rc, first;

	rc = cmd_parse(argc, argv, ls_opts, ls_opt, &a, g, &first);
	if (rc != HX_OK || g->help) {
		if (rc == HX_OK)
			cmd_help(stdout, "ls");
		return rc;
	}
	if (first < argc)
		return cli_usage("ls", "ls takes no operand ('%.40s')", argv[first]);
	rc = cmd_setup(g, &c);
	if (rc != HX_OK)
		goto out;
	jobs = json_array();
	rc = ls_collect(&c, &a, jobs, &next);
	if (rc != HX_OK)
		goto out;
	if (c.json) {
		out = json_pack("{s:O, s:o}", "migrations", jobs,
				"next", next > 0 ? json_integer(next) : json_null());
		json_dumpf(out, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(out);
	} else {
		rc = ls_table(jobs);
	}
out:
	json_decref(jobs);
	cli_release(&c);
	return rc;
}

/* ---- show, cancel, logs: one job's ---- */

struct one_args {
	bool wait;
};

static int one_opt(void *ctx, int code, const char *arg)
{
	struct one_args *a = ctx;

	(void)arg;
	if (code == OPT_WAIT) {
		a->wait = true;
		return HX_OK;
	}
	return HX_USAGE;
}

static const struct option cancel_opts[] = {
	{ "wait", no_argument, NULL, OPT_WAIT },
	{ NULL, 0, NULL, 0 },
};

/* The common start of a one-job command: flags, the settings, the job's full id. */
static int one_job_setup(struct gflags *g, int argc, char **argv, const struct option *own,
			 struct one_args *a, struct cli *c, char *id)
{
	int rc, first;

	rc = cmd_parse(argc, argv, own, one_opt, a, g, &first);
	if (rc != HX_OK)
		return rc;
	if (g->help) {
		cmd_help(stdout, argv[0]);
		return -1;
	}
	if (first != argc - 1)
		return cli_usage(argv[0], first >= argc ? "which job? Give its ID (or the "
				 "beginning of it)" : "one job ID only");
	rc = cmd_setup(g, c);
	if (rc != HX_OK)
		return rc;
	return api_resolve_id(c, argv[first], id);
}

static void print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_COMPACT);
	fputc('\n', stdout);
}

int cmd_show(struct gflags *g, int argc, char **argv)
{
	struct one_args a = { 0 };
	struct cli c = { 0 };
	char id[JOB_ID_LEN + 1], path[64];
	json_t *job = NULL;
	int rc;

	rc = one_job_setup(g, argc, argv, NULL, &a, &c, id);
	if (rc == HX_OK) {
		snprintf(path, sizeof(path), "/migrations/%s", id);
		rc = api_get(&c, path, &job);
	}
	if (rc == HX_OK && c.json)
		print_json(job);
	else if (rc == HX_OK)
		job_print(stdout, job);
	json_decref(job);
	cli_release(&c);
	return rc < 0 ? HX_OK : rc;
}

static void cancel_say(json_t *job)
{
	char id[JOB_ID_LEN + 1], phase[32];

	fmt_safe(id, sizeof(id), jstr(job, "id", "?"));
	fmt_safe(phase, sizeof(phase), jstr(job, "phase", "?"));
	if (strcmp(jstr(job, "state", "?"), "cancelled") == 0)
		printf("job %s cancelled (it was still queued; the process was not touched)\n", id);
	else
		printf("job %s: cancel accepted in phase %s; it rolls back at its next step and "
		       "the process runs on at the source (haul show %.8s)\n", id, phase, id);
}

int cmd_cancel(struct gflags *g, int argc, char **argv)
{
	struct one_args a = { 0 };
	struct cli c = { 0 };
	char id[JOB_ID_LEN + 1], path[64];
	struct http_req rq = { .method = "DELETE", .path = path };
	json_t *job = NULL;
	int rc;

	rc = one_job_setup(g, argc, argv, cancel_opts, &a, &c, id);
	if (rc == HX_OK) {
		snprintf(path, sizeof(path), "/migrations/%s", id);
		rc = api_call(&c, &rq, &job, NULL);
	}
	if (rc == HX_OK && a.wait) {
		if (!c.json)
			cancel_say(job);
		/* What was asked is a cancel: that is the success here. */
		rc = follow_job(&c, id, jstr(job, "mode", "live"), "cancelled");
	} else if (rc == HX_OK && c.json) {
		print_json(job);
	} else if (rc == HX_OK) {
		cancel_say(job);
	}
	json_decref(job);
	cli_release(&c);
	return rc < 0 ? HX_OK : rc;
}

static void print_log(json_t *log)
{
	const char *text = jstr(log, "text", NULL);
	char name[80], host[32];
	int64_t size = -1;
	size_t len;

	fmt_safe(name, sizeof(name), jstr(log, "name", "?"));
	fmt_safe(host, sizeof(host), jstr(log, "host", "?"));
	jint(log, "size", &size);
	printf("==> %s: %s (%lld bytes", host, name, (long long)size);
	if (json_is_true(jpath(log, "truncated")) && text)
		printf(", the last %zu shown", strlen(text));
	printf(") <==\n");
	if (!text) {
		printf("(the log could not be read)\n");
		return;
	}
	/* The daemon shows what is not printable ASCII as '?' already; a daemon of
	 * another version may not. */
	len = strlen(text);
	fmt_write_text(stdout, text);
	if (len > 0 && text[len - 1] != '\n')
		fputc('\n', stdout);
}

int cmd_logs(struct gflags *g, int argc, char **argv)
{
	struct one_args a = { 0 };
	struct cli c = { 0 };
	char id[JOB_ID_LEN + 1], path[80];
	json_t *body = NULL, *logs, *log;
	size_t i;
	int rc;

	rc = one_job_setup(g, argc, argv, NULL, &a, &c, id);
	if (rc == HX_OK) {
		snprintf(path, sizeof(path), "/migrations/%s/logs", id);
		rc = api_get(&c, path, &body);
	}
	if (rc == HX_OK && c.json) {
		print_json(body);
	} else if (rc == HX_OK) {
		logs = json_object_get(body, "logs");
		if (json_array_size(logs) == 0)
			cli_msg("job %s left no CRIU log on this host", id);
		json_array_foreach(logs, i, log) {
			if (i > 0)
				fputc('\n', stdout);
			print_log(log);
		}
	}
	json_decref(body);
	cli_release(&c);
	return rc < 0 ? HX_OK : rc;
}
