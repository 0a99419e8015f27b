/* webhook.h: a job's callback_url gets the final job as JSON once it ends, signed
 * with the daemon's webhook key, retried with backoff for a bounded time. Every
 * attempt and its outcome is an event of the job (kind "webhook"); the delivery's
 * state is in the job (webhook_state, webhook_attempts), so a restart goes on with
 * the deliveries that were pending.
 *
 * A request carries:
 *   Content-Type: application/json
 *   X-Hauld-Event: migration.finished
 *   X-Hauld-Delivery: JOB-ID
 *   X-Hauld-Attempt: N
 *   X-Hauld-Signature: t=UNIX-SECONDS,v1=HEX
 * where HEX is HMAC-SHA256 with the key over "UNIX-SECONDS." followed by the body. */
#ifndef HAULD_WEBHOOK_H
#define HAULD_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define WEBHOOK_QUEUE_MAX   256    /* deliveries waiting; more fail at once */
#define WEBHOOK_ATTEMPT_S   10     /* one attempt, connection and answer */
#define WEBHOOK_BACKOFF_MAX 60     /* seconds between attempts at most */

struct webhook_config {
	const void *key;            /* the HMAC key */
	size_t key_len;
	int max_s;                  /* give up this long after the job ended */
	int first_backoff_ms;       /* wait before the second attempt, doubled after */
};

struct webhooks;

/* Start the delivery thread; the deliveries the store says are pending are taken
 * up again. */
int webhooks_start(struct store *s, const struct webhook_config *cfg, struct webhooks **out);
/* Deliver job id's final state (its callback_url is in the store). NULL harmless. */
void webhook_queue(struct webhooks *w, const char *job_id);
/* Stop: an attempt in flight is cut at once; pending deliveries stay pending in the
 * store for the next start. NULL is harmless. */
void webhooks_stop(struct webhooks *w);

/* The signature header's value for body at time t (seconds), into out (at least
 * WEBHOOK_SIG_LEN bytes). Exposed for tests. */
#define WEBHOOK_SIG_LEN 96
int webhook_sign(const void *key, size_t key_len, int64_t t, const char *body, size_t len,
		 char *out, size_t outlen);

#endif
