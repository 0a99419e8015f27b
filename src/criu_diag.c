/* criu_diag.c: the one table of CRIU failures hauld explains (include/criu_diag.h).
 * Each row names a stable code, the text of CRIU's log line that tells the cause,
 * and how to say it to the operator, cause first and then what to do. The lines are
 * CRIU 4.2's (its pr_err and pr_perror calls); a line CRIU words differently in
 * another version simply is not recognised, and the failure keeps CRIU's words. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "criu.h"
#include "criu_diag.h"
#include "util.h"

#define LOG_MAX (16 << 20)   /* CRIU logs at -v4 of a large tree stay below this */

struct diag_rule {
	const char *code;
	const char *needle;       /* in the line */
	const char *also;         /* and this too, or NULL */
	/* Write the sentence for line; the rule's text when NULL. */
	void (*say)(const struct diag_rule *rule, const char *line,
		    const struct criu_diag_ctx *ctx, char *out, size_t len);
	const char *text;
	/* say_with_detail: the detail is the line's text between from and upto (the
	 * line's end when NULL), a path when path is set (CRIU's restore names paths
	 * without their leading '/'). */
	const char *from, *upto;
	bool path;
};

/* The detail of a rule's line (see struct diag_rule). */
static void detail_of(const struct diag_rule *r, const char *line, char *out, size_t len)
{
	const char *p = r->from ? strstr(line, r->from) : NULL;
	const char *q;
	size_t n;

	out[0] = '\0';
	if (!p)
		return;
	p += strlen(r->from);
	q = r->upto ? strstr(p, r->upto) : NULL;
	n = q ? (size_t)(q - p) : strcspn(p, "\n");
	snprintf(out, len, "%s%.*s", r->path && *p != '/' ? "/" : "", (int)n, p);
}

/* The port of the inet socket CRIU names by its file id ("(id 5)"), or 0. */
static int socket_port(const char *line, const struct criu_diag_ctx *ctx, char *addr,
		       size_t alen)
{
	struct criu_inet_port ports[64];
	const char *p = strstr(line, "(id ");
	size_t n = 0;
	long id;

	addr[0] = '\0';
	if (!p || !ctx || ctx->images_fd < 0)
		return 0;
	id = strtol(p + 4, NULL, 10);
	if (criu_inet_ports(ctx->images_fd, ports, ARRAY_SIZE(ports), &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (ports[i].id == (uint32_t)id) {
			snprintf(addr, alen, "%s", ports[i].addr);
			return ports[i].port;
		}
	}
	return 0;
}

static void say_port_in_use(const struct diag_rule *rule, const char *line,
			    const struct criu_diag_ctx *ctx, char *out, size_t len)
{
	char addr[48], what[96];
	int port = socket_port(line, ctx, addr, sizeof(addr));

	if (port)
		snprintf(what, sizeof(what), "port %d", port);
	else
		snprintf(what, sizeof(what), "a port the process listens on");
	if (ctx && ctx->same_netns)
		snprintf(out, len, "%s is taken at the destination, because source and "
			 "destination are one network namespace: two daemons on one machine "
			 "are one host to a program that listens on a port (the frozen source "
			 "still holds it). Run each daemon in its own network namespace, or "
			 "migrate to another host", what);
	else
		snprintf(out, len, "%s is already taken at the destination: stop what listens "
			 "on it there, or migrate to a host where it is free", what);
	(void)rule;
}

static void say_addr_missing(const struct diag_rule *rule, const char *line,
			     const struct criu_diag_ctx *ctx, char *out, size_t len)
{
	char addr[48];
	int port = socket_port(line, ctx, addr, sizeof(addr));

	if (port)
		snprintf(out, len, "the process listens on %s port %d, and the destination has "
			 "no address %s: let the program listen on all addresses (0.0.0.0 or "
			 "::), or give the destination that address", addr, port, addr);
	else
		snprintf(out, len, "the process is bound to an address the destination does not "
			 "have: let the program listen on all addresses (0.0.0.0 or ::), or give "
			 "the destination that address");
	(void)rule;
}

/* A rule whose sentence names what CRIU's line says after the needle: its text holds
 * "{}" where that goes (a marker, not a format: the text is no printf format). */
static void say_with_detail(const struct diag_rule *rule, const char *line,
			    const struct criu_diag_ctx *ctx, char *out, size_t len)
{
	const char *mark = strstr(rule->text, "{}");
	char detail[160];

	detail_of(rule, line, detail, sizeof(detail));
	if (!mark)
		snprintf(out, len, "%s", rule->text);
	else
		snprintf(out, len, "%.*s%s%s", (int)(mark - rule->text), rule->text, detail,
			 mark + 2);
	(void)ctx;
}

/* "Can't dump file 3 of that type [600] (anon anon_inode:[perf_event])": the fd and
 * what it is. */
static void say_unsupported(const struct diag_rule *rule, const char *line,
			    const struct criu_diag_ctx *ctx, char *out, size_t len)
{
	const char *p = strstr(line, "Can't dump file ");
	const char *what = p ? strchr(p, '(') : NULL;
	long fd = p ? strtol(p + 16, NULL, 10) : -1;
	int n = what ? (int)strcspn(what + 1, ")") : 0;
	const char *sp = what ? memchr(what + 1, ' ', (size_t)n) : NULL;

	if (sp) {
		n -= (int)(sp + 1 - (what + 1));
		what = sp;
	}
	snprintf(out, len, "the process holds a kind of file descriptor CRIU cannot "
		 "checkpoint (fd %ld: %.*s): close it before the migration", fd, what ? n : 1,
		 what ? what + 1 : "?");
	(void)rule;
	(void)ctx;
}

static const struct diag_rule rules[] = {
	/* Restore: a listening or bound socket's port. */
	{ "port_in_use", "Can't bind inet socket", "Address already in use",
	  say_port_in_use, NULL, NULL, NULL, false },
	{ "address_unavailable", "Can't bind inet socket", "Cannot assign requested address",
	  say_addr_missing, NULL, NULL, NULL, false },
	/* Dump: the tree's sessions and PID namespace. */
	{ "session_leader_outside", "is outside of its pid namespace", NULL, NULL,
	  "the process is not the leader of its own session, and its session leader is "
	  "outside its PID namespace, so CRIU cannot dump the session: start the program "
	  "with setsid (unshare -p -f setsid PROGRAM), or set options.shell_job for a "
	  "program started from a terminal", NULL, NULL, false },
	{ "session_leader_outside", "is not a session leader", NULL, NULL,
	  "the process is not the leader of its own session: start the program with setsid "
	  "(unshare -p -f setsid PROGRAM), or set options.shell_job for a program started "
	  "from a terminal", NULL, NULL, false },
	{ "session_mismatch", "doesn't match inherited", NULL, NULL,
	  "the process was dumped with options.shell_job and belongs to a session that the "
	  "destination's restore does not have: start the program with setsid instead, so "
	  "that it takes its own session along", NULL, NULL, false },
	/* Restore: the tree's PIDs. */
	{ "pids_in_use", "Can't fork for", "File exists", NULL,
	  "a PID of the tree is taken at the destination: run the program in its own PID "
	  "namespace (unshare -p -f setsid PROGRAM), or set options.new_pidns", NULL, NULL, false },
	/* Dump: tasks of another user. */
	{ "unprivileged_task", "Can't get /proc fd", NULL, NULL,
	  "a task of the tree runs as another user than root in a PID namespace whose /proc "
	  "is the host's, which CRIU cannot dump: run the program as root, or in a container "
	  "(its own PID and mount namespaces) through its engine", NULL, NULL, false },
	{ "unprivileged_task", "whose /proc doesn't belong to it", NULL, NULL,
	  "a task of the tree runs as another user than root in a PID namespace whose /proc "
	  "is the host's, which CRIU cannot dump: run the program as root, or in a container "
	  "(its own PID and mount namespaces) through its engine", NULL, NULL, false },
	{ "no_cap_sys_resource", "Can't get rlimit", "Operation not permitted", NULL,
	  "a task of the tree runs as another user or group than root's, and root on this "
	  "host lacks CAP_SYS_RESOURCE, which CRIU needs to read that task's resource limits "
	  "(common in virtual machines and sandboxes that withhold it): run the program as "
	  "root, or hauld on a host whose root has CAP_SYS_RESOURCE", NULL, NULL, false },
	/* Connections and files. */
	{ "tcp_established", "consider using --tcp-established", NULL, NULL,
	  "the process has an established TCP connection: set options.tcp_established to "
	  "move it with its connections (their other ends must reach the destination at "
	  "the same address), or let the connections close first", NULL, NULL, false },
	{ "tcp_established", "Connected TCP socket in image", NULL, NULL,
	  "the images hold an established TCP connection, and the restore was not asked to "
	  "restore connections: set options.tcp_established", NULL, NULL, false },
	{ "external_mount", "doesn't have a proper root mount", NULL, NULL,
	  "the process runs in a mount namespace of its own whose mounts CRIU cannot dump "
	  "as they are (their root is outside it): run it in the host's mount namespace, or "
	  "as a container through its engine", NULL, NULL, false },
	{ "external_mount", "has unreachable sharing", NULL, NULL,
	  "the process runs in a mount namespace whose mounts share events with mounts "
	  "outside it (as ip netns exec makes one): start it with nsenter --net instead, or "
	  "as a container through its engine", NULL, NULL, false },
	{ "external_mount", "Can't lookup mount=", NULL, say_with_detail,
	  "the process has a file open on a mount that its mount namespace does not hold "
	  "({}): open its files inside the namespace it runs in, or run it as a container "
	  "through its engine", "path=", NULL, false },
	{ "unsupported_file", "of that type", NULL, say_unsupported, NULL, NULL, NULL, false },
	{ "unsupported_file", "send_fds failed", NULL, NULL,
	  "the process holds a file descriptor that cannot be passed to CRIU (an io_uring "
	  "instance does this): close it before the migration", NULL, NULL, false },
	{ "ghost_too_big", "Can't dump ghost file", NULL, say_with_detail,
	  "the process holds a deleted file larger than CRIU copies into the images ({}): "
	  "close it, or keep the file's name until the migration is over",
	  "ghost file ", " of ", true },
	/* Restore: files the process has open. */
	{ "file_missing", "on restore", "No such file or directory", say_with_detail,
	  "a file the process has open is missing at the destination ({}): both hosts "
	  "must see the same files at the same paths (shared storage)",
	  "Can't open file ", " on restore", true },
	{ "file_changed", "has bad size", NULL, say_with_detail,
	  "a file the process has open changed size between the dump and the restore ({}): "
	  "nothing may write to the process's files while it moves",
	  "File ", " has bad size", true },
};

const char *criu_diag_known(const char *code)
{
	for (size_t i = 0; code && i < ARRAY_SIZE(rules); i++)
		if (strcmp(rules[i].code, code) == 0)
			return rules[i].code;
	return NULL;
}

/* The rule that knows line, or NULL. */
static const struct diag_rule *rule_of(const char *line)
{
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		if (strstr(line, rules[i].needle) &&
		    (!rules[i].also || strstr(line, rules[i].also)))
			return &rules[i];
	return NULL;
}

int criu_diag_text(const char *text, size_t len, const struct criu_diag_ctx *ctx,
		   struct criu_diag *d)
{
	const char *p = text, *end = text + len;

	memset(d, 0, sizeof(*d));
	while (text && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const struct diag_rule *r;
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1),
			 p);
		p += n + 1;
		if (!strstr(line, "Error (") && !strstr(line, "Warn ("))
			continue;
		r = rule_of(line);
		if (!r)
			continue;
		d->code = r->code;
		if (r->say)
			r->say(r, line, ctx, d->text, sizeof(d->text));
		else
			snprintf(d->text, sizeof(d->text), "%s", r->text);
		{
			const char *msg = strstr(line, "): ");

			snprintf(d->line, sizeof(d->line), "%s", msg ? msg + 3 : line);
		}
		return 0;
	}
	return -ENOENT;
}

int criu_diag_log(int dirfd, const char *name, const struct criu_diag_ctx *ctx,
		  struct criu_diag *d)
{
	char path[64 + 256], *buf = NULL;
	size_t len = 0;
	int ret;

	memset(d, 0, sizeof(*d));
	if (dirfd < 0 || !name)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	if (file_read_all(path, LOG_MAX, &buf, &len) < 0)
		return -ENOENT;
	ret = criu_diag_text(buf, len, ctx, d);
	free(buf);
	return ret;
}

void criu_diag_explain(int dirfd, const char *name, const struct criu_diag_ctx *ctx,
		       const char **code, char *err, size_t errlen)
{
	struct criu_diag d;

	if (criu_diag_log(dirfd, name, ctx, &d) < 0)
		return;
	/* CRIU's line that told the cause, rather than its last (often a summary). */
	snprintf(err, errlen, "%s (CRIU: %s; %s is in the job's logs)", d.text, d.line, name);
	*code = d.code;
}
