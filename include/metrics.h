/* metrics.h: the daemon's figures in the Prometheus text format (GET /metrics).
 * Counters count from this process's start (Prometheus takes a restart as a
 * reset); the gauges of jobs in flight are read from the store at each scrape. */
#ifndef HAULD_METRICS_H
#define HAULD_METRICS_H

#include <stddef.h>

#include "job.h"

#define METRICS_SERIES_MAX 128   /* series of one family; more are not counted */

/* Note the daemon's start time; call once early. */
void metrics_init(void);
/* A job has ended (any role): counts, times, bytes, its failure's code. */
void metrics_job_finished(const struct job *j);
/* A peer connection failed: stage "connect" (the source could not reach the peer)
 * or "handshake" (a connection came or went without a valid greeting). */
void metrics_peer_failure(const char *stage);
/* A webhook delivery ended: outcome "delivered" or "failed"; or one attempt failed. */
void metrics_webhook(const char *outcome);

struct metrics_gauges {
	int in_flight[2][2];         /* [source, destination][queued, running] */
	const char *version, *criu_version;
};

/* The text of every family, heap (free()); NULL when memory runs out. */
char *metrics_render(const struct metrics_gauges *g);

#endif
