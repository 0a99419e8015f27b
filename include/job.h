/* job.h: a migration job as the store keeps it and the API shows it.
 * Times are milliseconds since the epoch, 0 when not reached yet; statistics
 * are -1 when unknown. */
#ifndef HAULD_JOB_H
#define HAULD_JOB_H

#include <stdint.h>
#include <jansson.h>

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED };
/* This host is the source (it was asked over the API) or the destination
 * (a peer asked it over the peer protocol). */
enum job_role { JOB_SOURCE, JOB_DESTINATION };

#define JOB_ID_LEN      37
#define JOB_URL_LEN     512
#define JOB_TYPE_LEN    16
#define JOB_TO_LEN      262
#define JOB_MODE_LEN    16
#define JOB_PHASE_LEN   24
#define JOB_CODE_LEN    40
#define JOB_MSG_LEN     512
#define JOB_STRAT_LEN   24
#define JOB_TARGET_LEN  80
#define JOB_CTR_LEN     80      /* a container id (64 hex digits) or name */
#define JOB_CMD_LEN     257     /* a command line as shown: 256 bytes */

struct job_stats {
	int64_t downtime_ms;   /* source frozen for the final dump -> tree runs at destination */
	int64_t frozen_ms;     /* CRIU's frozen_time of the final dump */
	int64_t total_ms;      /* started_at -> finished_at */
	int64_t restore_ms;    /* CRIU's restore_time at the destination */
	int64_t bytes;         /* bytes sent on the wire (pages, image files, messages) */
	int64_t bytes_raw;     /* CRIU's page stream and image files before compression */
	char compression[8];   /* the codec the daemons agreed on: "zstd" or "none"; ""
	                          before it was decided */
	int64_t pages_written; /* CRIU's pages_written, all iterations */
	int64_t lazy_pages;    /* lazy mode: pages left to the background transfer */
	int64_t lazy_pages_left; /* of those, not yet sent (estimated from the bytes sent) */
	char restore_pages[8]; /* how the destination put the memory back: "eager" (all
	                          of it before the process ran) or "lazy" (it ran at
	                          once, filled from the destination's images); "" before
	                          it was decided, and in mode lazy */
};

/* One dump iteration (a pre-dump or the final dump), from CRIU's stats-dump. */
struct job_iter {
	int index;             /* 0-based */
	char kind[12];         /* "pre-dump" or "dump" */
	int64_t frozen_ms, memdump_ms, memwrite_ms;
	int64_t pages_scanned, pages_skipped, pages_written;
	int64_t bytes;         /* bytes moved in this iteration (pages and images) */
	int64_t duration_ms;
};

struct job {
	int64_t seq;           /* store row order, assigned by store_job_insert */
	char id[JOB_ID_LEN];
	char type[JOB_TYPE_LEN];       /* "pid", "docker", "podman", "runc" */
	enum job_role role;
	int pid;                       /* root pid at the source (a container's init) */
	char target[JOB_TARGET_LEN];   /* what a source job moves, for the busy check: the
	                                  pid as text, or the container's id */
	char container_id[JOB_CTR_LEN];    /* the container at the source, "" for pid */
	char container_name[JOB_CTR_LEN];
	char command[JOB_CMD_LEN];     /* type pid: the root's command line at the source
	                                  (proc_cmdline), "" when unknown */
	char result_container[JOB_CTR_LEN]; /* its id at the destination, "" until then */
	uint64_t pid_start;            /* its start time (proc_start_time), 0 unknown */
	char to[JOB_TO_LEN];           /* destination "HOST:PORT" (source role) or peer address (destination role) */
	char mode[JOB_MODE_LEN];       /* "live" */
	char strategy[JOB_STRAT_LEN];  /* chosen strategy, "" until chosen */
	char strategy_reason[256];     /* why that strategy */
	char *options;                 /* JSON text of the options object, heap, may be NULL */
	enum job_state state;
	char phase[JOB_PHASE_LEN];
	int64_t created_at, started_at, finished_at;
	int result_pid;                /* root pid at the destination, 0 when none */
	uint64_t result_start;         /* at a destination: its start time, 0 unknown */
	char err_code[JOB_CODE_LEN];   /* "" when no error */
	char err_msg[JOB_MSG_LEN];
	char err_phase[JOB_PHASE_LEN];
	char err_where[16];            /* where the process runs after the failure:
	                                  "source", "destination" or "unknown" */
	struct job_stats stats;
	char callback_url[JOB_URL_LEN];  /* the webhook, "" when none */
	char webhook_state[12];        /* "", "pending", "delivered", "failed" */
	int webhook_attempts;
};

/* Set every field to its empty value (stats to -1). No allocation. */
void job_init(struct job *j);
/* Free the heap contents (options); the struct itself stays. */
void job_release(struct job *j);
/* Deep copy; dst must be released by the caller. */
int job_copy(struct job *dst, const struct job *src);

const char *job_state_name(enum job_state s);
int job_state_parse(const char *s, enum job_state *out);
const char *job_role_name(enum job_role r);
int job_state_final(enum job_state s);

/* One iteration as the API shows it. */
json_t *job_iter_to_json(const struct job_iter *it);
/* The job as the API shows it; iters may be NULL. Returns a new reference. */
json_t *job_to_json(const struct job *j, const struct job_iter *iters, size_t n_iters);

#endif
