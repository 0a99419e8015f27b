/* migration.h: migration types behind one table of operations. The engine drives the
 * protocol (connect, authenticate, prepare, transfer, restore, commit or roll back);
 * a type says what it moves and how to check a request, checkpoint at the source
 * and restore at the destination. Each type is one file in src/types/ with a struct
 * mig_ops, listed in mig_types[] (src/migration.c):
 *
 *   pid     a process tree, moved with CRIU by hauld itself (src/types/pid.c)
 *   docker  a container of the Docker engine, through its Engine API
 *   podman  a container of Podman, through its libpod API
 *   runc    a container of runc, through its command line
 *
 * The hold contract, for every type: from the checkpoint until hold() returns, the
 * source keeps what it needs to run the process again (CRIU's frozen tree, or the
 * engine's checkpoint of a container it stopped); when hold() returns nonzero the
 * type makes it run at the source again before src_checkpoint returns. At the
 * destination the restored copy does not run (stopped, or the engine's pause) until
 * dst_resume. */
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
	const char *job_dir;         /* jobs/<id>, holding images and work */
	int (*released)(struct mig_src *m);
	void (*progress)(struct mig_src *m, int64_t pages_left, int64_t pages_total);
	void *engine_ctx;
	struct criu_watch *criu_watch; /* for the dump's CRIU (criu.h), or NULL */
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
	bool fill;                   /* live, restore_pages lazy: the restore leaves the
	                                memory to a lazy-pages daemon reading the local
	                                images (lazy_pages), which fills it while the
	                                copy runs */
	bool new_pidns;              /* restore into a fresh PID namespace */
	bool keep_images;            /* the job's keep_images: leave the images whole */
	bool restored_is_child;      /* the restored root is ours to reap */
	pid_t ns_init;               /* new_pidns: that namespace's init, or -1 */
	pid_t lazy_pages;            /* criu lazy-pages child, or -1 */
	struct criu_opts copts;
	bool same_netns;             /* the source's daemon runs in our network namespace */
	char data_dir[512];          /* this daemon's data directory */
	char ctr_path[512];          /* a container type's own path (runc: the bundle) */
	json_t *facts;               /* the source's facts (borrowed from the engine) */
	/* Set by the engine: told the root pid as soon as CRIU names it, while the
	 * restore still runs (types that restore through CRIU's RPC call it). */
	void (*rooted)(struct mig_dst *d, pid_t root, const char *stage);
	void *engine_ctx;
	struct criu_watch *criu_watch; /* for the restore's CRIU, or NULL */
	bool want_image;             /* dst_check: send the image first (transfer_image) */
	char err[512];
	const char *err_code;        /* the code of err when known (criu_diag.h), else NULL */
};

struct mig_ops {
	const char *type;
	/* The POST field that names what moves: "pid", or "container". */
	const char *target_field;
	/* The checkpoint streams its pages to a page server at the destination (the
	 * engine asks for one before each dump: dst_receive); without it, everything
	 * travels as the files hold() sends. */
	bool page_stream;
	/* Mode lazy (post-copy) is possible (dst_lazy_start, dst_lazy_wait). */
	bool lazy;
	/* A type without a page stream runs stop-and-copy through its engine: why, for
	 * the job's strategy_reason. */
	const char *strategy_reason;
	/* API: check the type's fields of a POST body and fill j (its pid, target and
	 * container fields); -1 with p set when wrong. May ask the type's engine. */
	int (*validate)(const json_t *body, struct job *j, struct mig_problem *p);
	/* Source, when the job starts: the target still exists and may move now.
	 * -errno with m->err (and m->err_code) when not. */
	int (*src_begin)(struct mig_src *m);
	/* Source: whether the process runs at the source (after a rollback). */
	bool (*src_alive)(struct mig_src *m);
	/* Source, after the commit: remove what is left of the process here (NULL: CRIU
	 * already did). Best effort; a failure is reported in m->err and is not the
	 * job's. */
	int (*src_release)(struct mig_src *m);
	/* Source, after a restart of hauld in the middle of a job whose checkpoint had
	 * stopped the process: run it again from the job's images (m->images_dir).
	 * NULL for types whose checkpoint never outlives hauld (CRIU resumed the tree). */
	int (*src_recover)(struct mig_src *m);
	/* Source: facts the destination checks before anything moves (adds to facts). */
	int (*src_facts)(struct mig_src *m, json_t *facts);
	/* Source: one pre-copy iteration into m->iter_fd while the tree runs (NULL when
	 * the type cannot pre-copy). */
	int (*src_predump)(struct mig_src *m);
	/* Source: checkpoint, calling m->hold(m) while the source can still resume. 0
	 * when the source has been released (the destination runs the process), -errno
	 * with m->err otherwise, after making the process run at the source again. */
	int (*src_checkpoint)(struct mig_src *m);
	/* Destination: check the source's facts, and prepare what can be before the
	 * source stops the process (a container created from its configuration, say);
	 * -errno with d->err when incompatible. */
	int (*dst_check)(struct mig_dst *d, const json_t *facts);
	/* Source, options.transfer_image and a destination without the image: write the
	 * image as the engine saves it into dir. Destination: load what arrived in dir,
	 * and do what dst_check left for when the image is there. NULL: no image. */
	int (*src_image)(struct mig_src *m, const char *dir);
	int (*dst_image)(struct mig_dst *d, const char *dir);
	/* Destination, page_stream types: start receiving one iteration's pages on
	 * d->mem_fd into dir, and wait until that stream has ended. */
	int (*dst_receive)(struct mig_dst *d, const char *dir);
	int (*dst_received)(struct mig_dst *d, int timeout_ms);
	/* Destination: restore from d->images_dir, leaving the copy stopped (or paused)
	 * in mode live; sets d->restored. */
	int (*dst_restore)(struct mig_dst *d);
	/* Destination: let the restored copy run (commit) or remove it and everything
	 * prepared for it (abort). Both must also work after a restart of hauld, from
	 * the job's stored fields alone. */
	int (*dst_resume)(struct mig_dst *d);
	/* Destination, lazy mode: start pulling pages on d->mem_fd (before the restore),
	 * and wait until every page has arrived. */
	int (*dst_lazy_start)(struct mig_dst *d);
	int (*dst_lazy_wait)(struct mig_dst *d, int timeout_ms);
	int (*dst_discard)(struct mig_dst *d);
	/* GET /healthz: this type's engine as this host sees it (where, reachable, its
	 * version, whether it can checkpoint, and why not). New reference; NULL when
	 * the type has no engine. Bounded: a second or two at most. */
	json_t *(*health)(void);
	/* GET /candidates: the containers this type's engine runs now, at most max, as
	 * {"reachable", "why", "containers": [{"id", "name", "image", "state"}],
	 * "truncated"}. New reference; NULL for a type that moves no container. Bounded
	 * like health(). */
	json_t *(*containers)(size_t max);
};

extern const struct mig_ops mig_pid_ops, mig_docker_ops, mig_podman_ops, mig_runc_ops;

/* The operations for a type name, or NULL. */
const struct mig_ops *mig_ops_find(const char *type);
/* The known type names, quoted and comma-separated, for messages. */
const char *mig_type_names(void);
/* Destination, before a restore into this host's network namespace: every port the
 * images' tree listens on (TCP) or is bound to (UDP) can be taken here; else -errno
 * with d->err naming the port (and whether both daemons share one network
 * namespace) and d->err_code port_in_use or address_unavailable. */
int mig_dst_ports_free(struct mig_dst *d);
/* {"docker": {...}, "podman": {...}, "runc": {...}}: each type's health(). New
 * reference. */
json_t *mig_engines_health(void);
/* {"docker": {...}, ...}: each container type's containers(max). New reference. */
json_t *mig_engines_containers(size_t max);

#endif
