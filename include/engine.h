/* engine.h: runs migrations. Source jobs come from the API (engine_submit) and run on
 * a bounded pool of worker threads; destination jobs come from peers over the peer
 * listener. Every state change goes to the store first, so a restarted daemon finds
 * each job and resolves what was in flight (engine_start). */
#ifndef HAULD_ENGINE_H
#define HAULD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include "criu.h"
#include "job.h"
#include "store.h"

struct engine_config {
	const char *data_dir;        /* jobs/<id>/ lives here */
	int workers;                 /* source migrations at once; more wait queued */
	const void *secret;          /* the shared peer secret */
	size_t secret_len;
	const char *peer_listen;     /* "ADDR:PORT" to accept peers on (port 0: any) */
	int peer_timeout_ms;         /* every wait on a peer */
	int retain_jobs;             /* finished jobs kept in the store (0: all) */
	const struct criu_info *criu;
	const char *self_exe;        /* this binary: CRIU's action script in lazy mode */
	struct webhooks *webhooks;   /* where ended jobs with a callback_url go, or NULL */
};

struct engine;

/* Create the engine; nothing runs yet. *out is owned by the caller (engine_free). */
int engine_new(const struct engine_config *cfg, struct store *st, struct engine **out);
/* Listen for peers, resolve the jobs a previous run left unfinished, start the
 * workers. *peer_port gets the real peer port. */
int engine_start(struct engine *e, int *peer_port);
/* Stop accepting work, finish or hand back what runs, free. false when a peer
 * thread was still inside a step (a restore may take minutes): then the engine is
 * left to it, and the store it uses must not be freed either; the process is
 * about to exit. NULL is harmless (true). */
bool engine_free(struct engine *e);

#define SUBMIT_KEY_MAX  200   /* bytes of an Idempotency-Key */
#define SUBMIT_HASH_LEN 64    /* hex SHA-256 of the request */

/* The Idempotency-Key of a POST and the hash of its request; prior gets the job a
 * key already names. */
struct submit_key {
	const char *key;
	char hash[SUBMIT_HASH_LEN + 1];
	char prior[JOB_ID_LEN];
};

/* Store j (state queued) and queue it. -EBUSY when the same target is being
 * migrated. With key (may be NULL): -EEXIST when the key was used with the same
 * hash (key->prior names that job), -EKEYREJECTED when with another. */
int engine_submit(struct engine *e, struct job *j, struct submit_key *key);
/* Ask a job to stop; -ENOENT unknown, -EALREADY finished, -EBUSY past the point of
 * no return (the destination runs the process). */
int engine_cancel(struct engine *e, const char *id, char *why, size_t whylen);

/* true when to ("HOST:PORT", numeric host) is this daemon's own peer listener: a
 * local address it listens on, and its peer port. */
bool engine_peer_is_self(struct engine *e, const char *to);

const struct criu_info *engine_criu(const struct engine *e);
/* Counts for health and metrics. */
void engine_counts(struct engine *e, int *queued, int *running, int *incoming);

#endif
