/* ctr_type.h: what the container types (docker.c, podman.c, runc.c) share: the
 * "container" field of a POST, their options, files moved between directories, and
 * CRIU's logs that an engine's error message points at. Private to src/types/;
 * functions return 0 or a negative errno, with a sentence in err where they take one. */
#ifndef HAULD_CTR_TYPE_H
#define HAULD_CTR_TYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "migration.h"

#define CTR_CALL_MS  (30 * 1000)           /* an inspect, a create, a pause */
#define CTR_LONG_MS  (60 * 60 * 1000)      /* a checkpoint or restore of many GiB */
#define CTR_ARCHIVE_MAX (64LL << 30)        /* a checkpoint archive */

/* The options of a container migration. */
struct ctr_opts {
	bool keep_source;         /* keep the stopped container at the source */
	bool tcp_established, file_locks;
	json_t *shared_paths;     /* array of strings, or NULL; owned */
};
void ctr_opts_parse(const struct job *j, struct ctr_opts *o);
/* options.transfer_image of the job. */
bool ctr_wants_image(const struct job *j);
void ctr_opts_release(struct ctr_opts *o);
/* true when a mount whose source is path (a host path or a volume name) is one of
 * options.shared_paths, or lies below one of them. */
bool ctr_opts_shared(const struct ctr_opts *o, const char *path);

/* The POST's "container" (a name or id): present, a string of 1..64 characters
 * [A-Za-z0-9][A-Za-z0-9_.-]*; copied into out. -1 with p set otherwise. */
int ctr_target_field(const json_t *body, char *out, size_t len, struct mig_problem *p);
/* true when s may be an engine's id of an image or container ("sha256:8f3c..."): 1 to
 * 100 characters [A-Za-z0-9:._-], so that it is never a path in a request. */
bool ctr_id_ok(const char *s);
/* Set p to err (the HTTP status), naming the field "container". Returns -1. */
int ctr_problem(struct mig_problem *p, enum api_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* GET /candidates: {"reachable": false, "why": why, "containers": [], ...}, and the
 * answer of a reachable engine from its list (an array of Docker's or Podman's
 * container summaries, or runc's `list --format json`), at most max entries, each
 * {"id", "name", "image", "state"} with strings cut to 255 bytes. New references. */
json_t *ctr_list_unreachable(const char *why);
json_t *ctr_list_json(const json_t *list, size_t max);

/* Link (or, across file systems, copy) every regular file of directory from into the
 * directory to (created, mode 0700), skipping names that start with skip (NULL:
 * none). */
int ctr_files_place(const char *from, const char *to, const char *skip);

/* An engine's error message that names a CRIU log ("path= /x/criu-dump.log",
 * "log file: /x/restore.log"): when that log tells a known cause, *code and err take
 * it (criu_diag_explain); otherwise unchanged. */
void ctr_explain_message(const char *message, const char **code, char *err, size_t errlen);

#endif
