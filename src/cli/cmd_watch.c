/* cmd_watch.c: haul watch and haul health (see cmd.h). */
#include <stdio.h>
#include <string.h>

#include "cli_api.h"
#include "cli_fmt.h"
#include "cli_follow.h"
#include "cli_progress.h"
#include "cmd.h"

/* ---- watch ---- */

enum { OPT_JOB = 1 };

static const struct option watch_opts[] = {
	{ "job", required_argument, NULL, OPT_JOB },
	{ NULL, 0, NULL, 0 },
};

struct watch_args {
	const char *job;
	bool json;
};

static int watch_opt(void *ctx, int code, const char *arg)
{
	struct watch_args *a = ctx;

	if (code != OPT_JOB)
		return HX_USAGE;
	a->job = arg;
	return HX_OK;
}

static int watch_print(void *ctx, json_t *ev)
{
	struct watch_args *a = ctx;

	if (a->json) {
		json_dumpf(ev, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		fflush(stdout);
	} else {
		event_line(stdout, ev, 0);
	}
	return FOLLOW_MORE;
}

int cmd_watch(struct gflags *g, int argc, char **argv)
{
	struct watch_args a = { 0 };
	struct follow f = { .on_event = watch_print, .ctx = &a };
	struct cli c = { 0 };
	char id[JOB_ID_LEN + 1];
	int rc, first;

	rc = cmd_parse(argc, argv, watch_opts, watch_opt, &a, g, &first);
	if (rc != HX_OK || g->help) {
		if (rc == HX_OK)
			cmd_help(stdout, "watch");
		return rc;
	}
	if (first < argc)
		return cli_usage("watch", "watch takes no operand ('%.40s'); --job ID for one job",
				 argv[first]);
	rc = cmd_setup(g, &c);
	if (rc == HX_OK && a.job)
		rc = api_resolve_id(&c, a.job, id);
	if (rc == HX_OK) {
		a.json = c.json;
		f.job = a.job ? id : NULL;
		cli_catch_interrupts();
		rc = follow_run(&c, &f);
		/* Interrupting is how watch is meant to end. */
		if (rc == HX_INTERRUPTED)
			rc = HX_OK;
	}
	cli_release(&c);
	return rc;
}

/* ---- health ---- */

static void health_engine(json_t *health, const char *name)
{
	json_t *e = jpath(json_object_get(health, "engines"), name);
	const char *why = jstr(e, "why", NULL);

	if (!json_is_object(e))
		return;
	if (!json_is_true(json_object_get(e, "reachable")))
		fmt_kv(stdout, name, "not reachable: %s", why ? why : "it does not answer");
	else
		fmt_kv(stdout, name, "%s, checkpoint %s%s%s", jstr(e, "version", "?"),
		       json_is_true(json_object_get(e, "checkpoint")) ? "yes" : "no",
		       why ? ": " : "", why ? why : "");
}

static void health_print(const struct cli *c, json_t *h)
{
	int64_t q = 0, r = 0, in = 0, pipe = 0;

	jint(h, "jobs.queued", &q);
	jint(h, "jobs.running", &r);
	jint(h, "jobs.incoming", &in);
	jint(h, "features.pipe_max_size", &pipe);
	fmt_kv(stdout, "status", "%s", jstr(h, "status", "?"));
	fmt_kv(stdout, "api", "%s", c->api);
	fmt_kv(stdout, "hauld", "%s, kernel %s", jstr(h, "version", "?"), jstr(h, "kernel", "?"));
	if (json_is_true(jpath(h, "criu.check_ok")))
		fmt_kv(stdout, "criu", "%s (%s), criu check passed",
		       jstr(h, "criu.version_text", "?"), jstr(h, "criu.path", "?"));
	else
		fmt_kv(stdout, "criu", "%s (%s), criu check failed: %s",
		       jstr(h, "criu.version_text", "?"), jstr(h, "criu.path", "?"),
		       jstr(h, "criu.check_error", "no engine"));
	fmt_kv(stdout, "live", "%s: %s", jstr(h, "strategies.live", "?"),
	       jstr(h, "strategies.why", ""));
	fmt_kv(stdout, "lazy", "%s, fs.pipe-max-size %lld",
	       json_is_true(jpath(h, "features.lazy_pages")) ? "lazy pages available" :
							       "no lazy pages",
	       (long long)pipe);
	fmt_kv(stdout, "jobs", "%lld queued, %lld running, %lld incoming", (long long)q,
	       (long long)r, (long long)in);
	health_engine(h, "docker");
	health_engine(h, "podman");
	health_engine(h, "runc");
}

int cmd_health(struct gflags *g, int argc, char **argv)
{
	struct cli c = { 0 };
	json_t *h = NULL;
	int rc, first;

	rc = cmd_parse(argc, argv, NULL, NULL, NULL, g, &first);
	if (rc != HX_OK || g->help) {
		if (rc == HX_OK)
			cmd_help(stdout, "health");
		return rc;
	}
	if (first < argc)
		return cli_usage("health", "health takes no operand ('%.40s')", argv[first]);
	rc = cmd_setup(g, &c);
	if (rc == HX_OK)
		rc = api_get(&c, "/healthz", &h);
	if (rc == HX_OK) {
		if (c.json) {
			json_dumpf(h, stdout, JSON_COMPACT);
			fputc('\n', stdout);
		} else {
			health_print(&c, h);
		}
		if (strcmp(jstr(h, "status", ""), "ok") != 0)
			rc = HX_FAILED;
	}
	json_decref(h);
	cli_release(&c);
	return rc;
}
