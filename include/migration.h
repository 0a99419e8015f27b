/* migration.h: migration types behind one table of operations. The engine drives the
 * protocol (connect, authenticate, prepare, transfer, restore, commit or roll back);
 * a type says how to check a request, checkpoint at the source and restore at the
 * destination. A new type (runc, docker, podman) is one new file with a struct
 * mig_ops and a line in mig_types[]. */
#ifndef HAULD_MIGRATION_H
#define HAULD_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "apierror.h"
#include "criu.h"
#include "job.h"

/* What was wrong with a request, for the API to answer. */
struct mig_problem {
	enum api_err err;
	char field[64];
	char message[256];
};

/* Source side of one running job, as a type sees it. */
struct mig_src {
	struct job *job;
	int images_fd, work_fd;      /* jobs/<id>/images and jobs/<id>/work */
	int mem_fd;                  /* the memory connection, for CRIU's page server */
	int iter_fd;                 /* a pre-dump's own image directory */
	const char *parent;          /* the previous iteration's images, relative to the
	                                directory being written ("../pre-0"), or NULL */
	bool track_mem;              /* pre-copy: keep tracking dirty memory */
	uint64_t pid_start;          /* start time of job->pid when the job started */
	struct criu_opts copts;
	/* Set by the engine: the type calls hold() while the tree is frozen with complete
	 * images. It moves the images, has the destination restore and returns 0 when the
	 * source may be released, nonzero when it must resume. */
	int (*hold)(struct mig_src *m);
	/* Lazy mode: the type calls released() once it has answered hold() with 0 and
	 * CRIU serves the remaining pages (the engine commits: the destination copy runs),
	 * then progress() now and then until every page has gone. */
	bool lazy;
	const char *images_dir, *work_dir, *self_exe;
	int (*released)(struct mig_src *m);
	void (*progress)(struct mig_src *m, int64_t pages_left, int64_t pages_total);
	void *engine_ctx;
	char err[512];               /* why the type's step failed */
	const char *err_code;        /* and its code when known (criu_diag.h), else NULL */
};

/* Destination side of one incoming job. */
struct mig_dst {
	struct job *job;
	char images_dir[512], work_dir[512];
	int images_fd, work_fd;
	int mem_fd;
	pid_t page_server;           /* criu page-server child, or -1 */
	pid_t restored;              /* restored root pid, or -1 */
	bool lazy;                   /* post-copy: pages arrive after the restore */
	bool new_pidns;              /* restore into a fresh PID namespace */
	bool keep_images;            /* the job's keep_images: leave the images whole */
	bool restored_is_child;      /* the restored root is ours to reap */
	pid_t ns_init;               /* new_pidns: that namespace's init, or -1 */
	pid_t lazy_pages;            /* criu lazy-pages child, or -1 */
	struct criu_opts copts;
	bool same_netns;             /* the source's daemon runs in our network namespace */
	char err[512];
	const char *err_code;        /* the code of err when known (criu_diag.h), else NULL */
};

struct mig_ops {
	const char *type;
	/* API: check the type's fields of a POST body and fill j; -1 with p set when wrong. */
	int (*validate)(const json_t *body, struct job *j, struct mig_problem *p);
	/* Source: facts the destination checks before anything moves (adds to facts). */
	int (*src_facts)(struct mig_src *m, json_t *facts);
	/* Source: one pre-copy iteration into m->iter_fd while the tree runs (NULL when
	 * the type cannot pre-copy). */
	int (*src_predump)(struct mig_src *m);
	/* Source: checkpoint, calling m->hold(m) while frozen. 0 when the source has been
	 * released (the destination runs the process), -errno with m->err otherwise. */
	int (*src_checkpoint)(struct mig_src *m);
	/* Destination: check the source's facts; -errno with d->err when incompatible. */
	int (*dst_check)(struct mig_dst *d, const json_t *facts);
	/* Destination: start receiving one iteration's pages on d->mem_fd into dir. */
	int (*dst_receive)(struct mig_dst *d, const char *dir);
	/* Destination: wait until the page stream has ended. */
	int (*dst_received)(struct mig_dst *d, int timeout_ms);
	/* Destination: restore, leaving the tree stopped; sets d->restored. */
	int (*dst_restore)(struct mig_dst *d);
	/* Destination: let the restored tree run (commit) or remove it (abort). */
	int (*dst_resume)(struct mig_dst *d);
	/* Destination, lazy mode: start pulling pages on d->mem_fd (before the restore),
	 * and wait until every page has arrived. */
	int (*dst_lazy_start)(struct mig_dst *d);
	int (*dst_lazy_wait)(struct mig_dst *d, int timeout_ms);
	int (*dst_discard)(struct mig_dst *d);
};

extern const struct mig_ops mig_pid_ops;

/* The operations for a type name, or NULL. */
const struct mig_ops *mig_ops_find(const char *type);

#endif
