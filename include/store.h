/* store.h: the SQLite store (WAL) of jobs, their iterations and their event log.
 * One connection behind one mutex: every call is thread-safe and each state change
 * is one transaction. Every SQL statement lives in store.c, prepared once.
 * Returns 0 or a negative errno (-ENOENT when a row does not exist, -EIO for SQLite
 * errors, which are logged). */
#ifndef HAULD_STORE_H
#define HAULD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "job.h"

struct store;

#define EVENT_MSG_LEN 512

struct job_event {
	int64_t id;            /* increasing across all jobs */
	char job_id[JOB_ID_LEN];
	int64_t ts;            /* ms since epoch */
	char level[8];         /* "info", "warn", "error" */
	char phase[JOB_PHASE_LEN];
	char message[EVENT_MSG_LEN];
	char state[16];        /* the job's state when the event happened */
	char kind[16];         /* "state", "phase", "iteration", "progress", "webhook",
	                          "log" ("" is "log" when added) */
	char *data;            /* JSON text the event carries, or NULL; the caller's when
	                          added, heap in what the lists return */
};

/* Open (creating when missing) the database at path, set WAL and a busy timeout,
 * and apply the schema migrations not applied yet. *out is owned by the caller. */
int store_open(const char *path, struct store **out);
void store_free(struct store *s);
/* Highest schema version applied. */
int store_schema_version(struct store *s);

/* Insert a new job; sets j->seq. -EEXIST when the id exists. */
int store_job_insert(struct store *s, struct job *j);
/* The same, with the Idempotency-Key (and body hash) of the POST that made j, in one
 * transaction (-EIO when the key exists). */
int store_job_insert_keyed(struct store *s, struct job *j, const char *key, const char *hash);
/* Write every mutable field of an existing job. */
int store_job_update(struct store *s, const struct job *j);
/* The same, on the disk before it returns (the WAL synced): for the writes that
 * decide where a process lives, made before the step they record. */
int store_job_update_durable(struct store *s, const struct job *j);
/* Read one job into out (job_init'ed by the callee; release it with job_release). */
int store_job_get(struct store *s, const char *id, struct job *out);
/* Newest first: jobs with seq < before (before <= 0: from the newest), at most limit.
 * *out is a heap array the caller frees with store_jobs_free. */
int store_job_list(struct store *s, int64_t before, int limit, struct job **out, size_t *n);
/* The same, only jobs in state and of type (each NULL: any). */
int store_job_list_where(struct store *s, int64_t before, int limit, const char *state,
			 const char *type, struct job **out, size_t *n);
/* Jobs whose state is queued or running, oldest first (for recovery at start). */
int store_job_list_unfinished(struct store *s, struct job **out, size_t *n);
void store_jobs_free(struct job *jobs, size_t n);
/* 1 when a job of role source and state queued/running moves target (struct job's
 * target) of type, else 0. */
int store_target_busy(struct store *s, const char *type, const char *target);
/* Delete the finished jobs (succeeded, failed, cancelled) beyond the keep newest of
 * them, with their iterations and events; jobs in flight are never touched. Returns
 * how many were deleted, or -errno. */
int store_prune(struct store *s, int keep);

int store_iter_add(struct store *s, const char *job_id, const struct job_iter *it);
int store_iter_list(struct store *s, const char *job_id, struct job_iter **out, size_t *n);

/* Events kept per job: past it only state changes are, after one event saying so. */
#define STORE_MAX_EVENTS_PER_JOB 10000
/* Another bound than STORE_MAX_EVENTS_PER_JOB, 1 or more (for the tests). */
void store_set_event_limit(struct store *s, int limit);

/* Append to a job's event log; sets ev->id and ev->ts when ev->ts is 0. A job that
 * has STORE_MAX_EVENTS_PER_JOB (or the limit set) events keeps only its "state" events: the others
 * return -ENOSPC, and the first of them is replaced by a warning saying so. */
int store_event_add(struct store *s, struct job_event *ev);
/* Events of one job with id > after, oldest first, at most limit. Heap array, free(). */
int store_event_list(struct store *s, const char *job_id, int64_t after, int limit,
		     struct job_event **out, size_t *n);

/* Call fn(ctx, id) after each event is added (outside the store's lock, on the
 * adding thread), or no more when fn is NULL. Set before the threads start. */
void store_set_event_hook(struct store *s, void (*fn)(void *ctx, int64_t id), void *ctx);
/* Free an array the event lists returned. */
void store_events_free(struct job_event *evs, size_t n);
/* Every job's events with id > after (or only job_id's, when not NULL), oldest
 * first, at most limit: the event stream's source. Heap array, free(). */
int store_event_since(struct store *s, int64_t after, const char *job_id, int limit,
		      struct job_event **out, size_t *n);
/* The newest event's id (0 when none), or -errno. */
int64_t store_event_last(struct store *s);

/* Idempotency keys of POST /migrations: the body hash and job of key (-ENOENT when
 * unknown). A key is stored with its job (store_job_insert_keyed) and goes with it. */
int store_idem_get(struct store *s, const char *key, char *hash, size_t hlen, char *job_id);

/* The jobs whose webhook is still to be delivered, oldest first, at most max.
 * *ids is a heap array (free()). */
int store_webhook_pending(struct store *s, int max, char (**ids)[JOB_ID_LEN], size_t *n);
/* Jobs in flight: counts[0 source, 1 destination][0 queued, 1 running]. */
int store_job_counts(struct store *s, int counts[2][2]);

#endif
