/* cmd_migrate.c: haul migrate, and following a job to its end (see cmd.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_api.h"
#include "cli_fmt.h"
#include "cli_follow.h"
#include "cli_job.h"
#include "cli_progress.h"
#include "cmd.h"

#define PID_MAX_LIMIT 4194304   /* the kernel's largest pid_max */
#define KEY_MAX       200       /* the API's bound on an Idempotency-Key */

enum {
	OPT_TO = 1,
	OPT_TYPE,
	OPT_MODE,
	OPT_OPTION,
	OPT_WAIT,
	OPT_CALLBACK,
	OPT_KEY,
};

static const struct option migrate_opts[] = {
	{ "to",              required_argument, NULL, OPT_TO },
	{ "type",            required_argument, NULL, OPT_TYPE },
	{ "mode",            required_argument, NULL, OPT_MODE },
	{ "option",          required_argument, NULL, OPT_OPTION },
	{ "wait",            no_argument,       NULL, OPT_WAIT },
	{ "callback-url",    required_argument, NULL, OPT_CALLBACK },
	{ "idempotency-key", required_argument, NULL, OPT_KEY },
	{ NULL, 0, NULL, 0 },
};

struct migrate_args {
	const char *to, *type, *mode, *callback, *key;
	bool wait;
	json_t *options;   /* owned */
};

/* --option KEY=VALUE: VALUE as JSON when it is JSON, else as a string; a KEY given
 * again makes (or extends) a list, for shared_paths. */
static int add_option(struct migrate_args *m, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[65];
	json_t *v, *old, *list;
	size_t n;

	n = eq ? (size_t)(eq - arg) : 0;
	if (!eq || n == 0 || n >= sizeof(key) || strspn(arg, "abcdefghijklmnopqrstuvwxyz"
							 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n)
		return cli_usage("migrate", "--option %.80s: expected KEY=VALUE, KEY of letters, "
				 "digits and '_'", arg);
	memcpy(key, arg, n);
	key[n] = '\0';
	v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (!v)
		v = json_string(eq + 1);
	if (!v)
		return cli_usage("migrate", "--option %s: the value is not valid UTF-8", key);
	old = json_object_get(m->options, key);
	if (!old)
		return json_object_set_new(m->options, key, v) == 0 ? HX_OK : HX_API;
	if (json_is_array(old))
		return json_array_append_new(old, v) == 0 ? HX_OK : HX_API;
	list = json_array();
	json_array_append(list, old);
	json_array_append_new(list, v);
	return json_object_set_new(m->options, key, list) == 0 ? HX_OK : HX_API;
}

static bool printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	}
	return true;
}

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++) {
		if (strcmp(s, *list) == 0)
			return true;
	}
	return false;
}

static const char *const types[] = { "pid", "docker", "podman", "runc", NULL };
static const char *const modes[] = { "live", "lazy", NULL };

static int migrate_opt(void *ctx, int code, const char *arg)
{
	struct migrate_args *m = ctx;

	switch (code) {
	case OPT_TO:
		m->to = arg;
		return HX_OK;
	case OPT_TYPE:
		m->type = arg;
		if (!one_of(arg, types))
			return cli_usage("migrate", "--type %.40s: pid, docker, podman or runc", arg);
		return HX_OK;
	case OPT_MODE:
		m->mode = arg;
		if (!one_of(arg, modes))
			return cli_usage("migrate", "--mode %.40s: live or lazy", arg);
		return HX_OK;
	case OPT_OPTION:
		return add_option(m, arg);
	case OPT_WAIT:
		m->wait = true;
		return HX_OK;
	case OPT_CALLBACK:
		m->callback = arg;
		return HX_OK;
	case OPT_KEY:
		m->key = arg;
		if (!printable(arg, KEY_MAX))
			return cli_usage("migrate", "--idempotency-key: 1 to 200 printable ASCII "
					 "characters");
		return HX_OK;
	default:
		return HX_USAGE;
	}
}

/* The request's body from the target and the flags; *out: you own it. */
static int migrate_body(struct migrate_args *m, const char *target, char **out)
{
	bool digits = target[0] && strspn(target, "0123456789") == strlen(target);
	const char *type = m->type;
	json_t *body;
	long pid = 0;

	if (!type && !digits)
		return cli_usage("migrate", "'%.64s' is not a pid; a container needs its engine: "
				 "add --type docker, podman or runc", target);
	if (!type)
		type = "pid";
	if (strcmp(type, "pid") == 0 && parse_int(target, 1, PID_MAX_LIMIT, &pid) < 0)
		return cli_usage("migrate", "'%.64s' is not a pid (1 to %d)", target, PID_MAX_LIMIT);
	body = json_object();
	json_object_set_new(body, "type", json_string(type));
	if (pid > 0)
		json_object_set_new(body, "pid", json_integer(pid));
	else
		json_object_set_new(body, "container", json_string(target));
	json_object_set_new(body, "to", json_string(m->to));
	if (m->mode)
		json_object_set_new(body, "mode", json_string(m->mode));
	if (json_object_size(m->options) > 0)
		json_object_set(body, "options", m->options);
	if (m->callback)
		json_object_set_new(body, "callback_url", json_string(m->callback));
	*out = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(body);
	if (!*out)
		return cli_usage("migrate", "a flag's value is not valid UTF-8");
	return HX_OK;
}

/* What one follow_job holds while the events come. */
struct job_watch {
	const struct cli *c;
	struct progress progress;
	json_t *final;   /* the final state event's job, owned */
};

static int watch_event(void *ctx, json_t *ev)
{
	struct job_watch *w = ctx;
	json_t *data;

	progress_event(&w->progress, ev);
	if (strcmp(jstr(ev, "kind", ""), "state") != 0 || !job_state_final(jstr(ev, "state", NULL)))
		return FOLLOW_MORE;
	data = jpath(ev, "data");
	if (json_is_object(data))
		w->final = json_incref(data);
	return FOLLOW_DONE;
}

static void watch_tick(void *ctx)
{
	struct job_watch *w = ctx;

	progress_tick(&w->progress);
}

static void watch_before_note(void *ctx)
{
	struct job_watch *w = ctx;

	progress_clear(&w->progress);
}

static bool stderr_is_terminal(void)
{
	const char *term = getenv("TERM");

	return isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
}

int follow_job(const struct cli *c, const char *id, const char *mode, const char *want)
{
	struct job_watch w = { .c = c };
	struct follow f = { .job = id, .on_event = watch_event, .tick = watch_tick,
			    .before_note = watch_before_note, .ctx = &w };
	char path[64];
	json_t *job = NULL;
	int rc;

	cli_catch_interrupts();
	progress_init(&w.progress, stderr, stderr_is_terminal(), mode);
	rc = follow_run(c, &f);
	progress_clear(&w.progress);
	if (rc == HX_INTERRUPTED) {
		cli_msg("stopped following job %s; the migration goes on without haul "
			"(haul show %.8s, haul cancel %.8s)", id, id, id);
		return rc;
	}
	if (rc != HX_OK) {
		cli_msg("the migration may go on; haul show %.8s tells how it stands", id);
		json_decref(w.final);
		return rc;
	}
	/* The job as GET shows it has its iterations; the event's is the fallback. */
	snprintf(path, sizeof(path), "/migrations/%s", id);
	if (api_get(c, path, &job) != HX_OK || !job_state_final(jstr(job, "state", NULL))) {
		json_decref(job);
		job = w.final ? json_incref(w.final) : NULL;
	}
	json_decref(w.final);
	if (!job) {
		cli_msg("job %s ended, but the daemon did not say how: haul show %s", id, id);
		return HX_API;
	}
	if (c->json) {
		json_dumpf(job, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	} else {
		job_print_summary(stdout, job);
	}
	rc = strcmp(jstr(job, "state", ""), want) == 0 ? HX_OK : HX_FAILED;
	json_decref(job);
	return rc;
}

/* After the POST: the id, the job, or the whole story with --wait. */
static int migrate_report(const struct cli *c, const struct migrate_args *m, json_t *job,
			  bool replayed, const char *key)
{
	const char *id = jstr(job, "id", "");

	if (replayed && m->key)
		cli_msg("Idempotency-Key %s had started job %s already: this is that job, as it "
			"stands", key, id);
	else if (replayed)
		cli_msg("an earlier attempt had reached the daemon: job %s was started once", id);
	if (!m->wait) {
		if (c->json) {
			json_dumpf(job, stdout, JSON_COMPACT);
			fputc('\n', stdout);
		} else {
			printf("%s\n", id);
		}
		return HX_OK;
	}
	cli_msg("job %s accepted; following it (Ctrl-C stops following, not the migration)", id);
	return follow_job(c, id, jstr(job, "mode", "live"), "succeeded");
}

int cmd_migrate(struct gflags *g, int argc, char **argv)
{
	struct migrate_args m = { .options = json_object() };
	struct cli c = { 0 };
	char key[JOB_ID_LEN + 1], *body = NULL;
	json_t *job = NULL;
	bool replayed = false;
	int rc, first;

	rc = cmd_parse(argc, argv, migrate_opts, migrate_opt, &m, g, &first);
	if (rc != HX_OK || g->help) {
		if (rc == HX_OK)
			cmd_help(stdout, "migrate");
		goto out;
	}
	if (first != argc - 1) {
		rc = cli_usage("migrate", first >= argc ? "which process or container? Give a "
			       "PID or CONTAINER" : "one PID or CONTAINER only");
		goto out;
	}
	if (!m.to) {
		rc = cli_usage("migrate", "--to HOST:PORT is required: the destination hauld's "
			       "peer address (port 8421 by default)");
		goto out;
	}
	rc = migrate_body(&m, argv[first], &body);
	if (rc != HX_OK)
		goto out;
	if (!m.key && uuid_random(key) < 0) {
		cli_msg("no random bytes for an Idempotency-Key: give --idempotency-key");
		rc = HX_API;
		goto out;
	}
	rc = cmd_setup(g, &c);
	if (rc != HX_OK)
		goto out;
	rc = api_post_migration(&c, body, m.key ? m.key : key, &job, &replayed);
	if (rc == HX_OK)
		rc = migrate_report(&c, &m, job, replayed, m.key ? m.key : key);
out:
	json_decref(job);
	json_decref(m.options);
	free(body);
	cli_release(&c);
	return rc;
}
