/* engine_int.h: what engine.c, mig_source.c and mig_dest.c share. Not a public
 * contract: the rest of hauld uses engine.h. */
#ifndef HAULD_ENGINE_INT_H
#define HAULD_ENGINE_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include "engine.h"
#include "migration.h"
#include "peer.h"
#include "relay.h"

#define ENGINE_MAX_QUEUE     1024   /* queued source jobs */
#define ENGINE_MAX_PEER_CONN 64     /* authenticated peer connections served at once */
/* Connections that have not authenticated yet have their own pool, so that whoever
 * reaches the peer port without the secret cannot take the places of real peers:
 * at most ENGINE_UNAUTH_PER_IP from one address, the whole handshake within
 * ENGINE_HANDSHAKE_MS. Filling the pool takes ENGINE_MAX_UNAUTH / PER_IP addresses
 * (a firewall in front of the peer port is what stops that; SECURITY.md). */
#define ENGINE_MAX_UNAUTH    128
#define ENGINE_UNAUTH_PER_IP 4
#define ENGINE_HANDSHAKE_MS  5000
#define ENGINE_MAX_WORKERS   64
#define CPUINFO_CACHE        8      /* source CPUs remembered as compatible */
#define LOGS_KEEP            256    /* jobs whose CRIU logs are kept in <data>/logs */
#define LONG_WAIT_MS         (60 * 60 * 1000)  /* a dump or restore of many GiB */
#define VERDICT_EVERY_MS     5000              /* a stopped copy asks its source */
#define VERDICT_FOR_MS       (24 * 60 * 60 * 1000)
#define FILL_SHUTDOWN_MS     (120 * 1000)      /* shutdown waits for copies filling */
#define FILL_WAIT_MS         (10 * 60 * 1000)  /* a job moving a copy still filling waits */
/* options.max_frozen_ms: how long a tree may stay frozen before the migration gives
 * up and resumes it. The default leaves a dump of several GiB over a slow link the
 * time it needs (16 GiB at 1 Gbit/s take about 2.5 minutes). */
#define MAX_FROZEN_DEFAULT_MS (10 * 60 * 1000)
#define WATCHDOG_TICK_MS      50
#define CRIU_HANG_GRACE_MS    15000  /* past a frozen deadline, before CRIU is killed */

/* Phases, as the API shows them. */
#define PH_QUEUED       "queued"
#define PH_CONNECTING   "connecting"
#define PH_PREFLIGHT    "preflight"
#define PH_PRECOPY      "precopy"
#define PH_DUMPING      "dumping"
#define PH_TRANSFERRING "transferring"
#define PH_RESTORING    "restoring"
#define PH_COMMITTING   "committing"
#define PH_RECEIVING    "receiving"
#define PH_RESTORED     "restored"
#define PH_LAZY         "lazy"
#define PH_FILLING      "filling"
#define PH_ROLLBACK     "rollback"
#define PH_DONE         "done"

/* A source job a worker runs now; cancel requests reach it here. */
struct src_active {
	char id[JOB_ID_LEN];
	volatile bool cancel;
	volatile bool committed;     /* the destination runs the process: no way back */
	/* The connection the worker waits on while a cancel may still win, else -1:
	 * the memory connection while CRIU streams pages over it, the control one while
	 * the destination restores. A cancel shuts it down, so that a dump stuck on a
	 * peer that stopped reading, or a restore that takes long, ends at once (and
	 * CRIU resumes the tree). */
	int abort_fd;
	/* While the tree is frozen and may still resume: when (monotonic ms) the engine's
	 * watchdog gives up on it (0: not frozen), and the connections it then shuts
	 * down, so that whatever the worker waits on (CRIU's page stream, the images,
	 * the destination's restore) fails and CRIU resumes the tree. */
	int64_t frozen_deadline;
	int frozen_fds[2];
	volatile bool frozen_expired;
	/* The job's CRIU, which the watchdog kills when it still holds the tree
	 * CRIU_HANG_GRACE_MS past the deadline: a CRIU that hangs (stopped, or stuck in
	 * the kernel) would otherwise keep the tree frozen for as long as it does. */
	struct criu_watch criu;
	bool criu_killed;
	struct src_active *next;
};

/* An incoming (destination) job. */
struct dst_job {
	struct job job;
	const struct mig_ops *ops;
	struct mig_dst d;
	int ctl_fd;                  /* its control connection, -1 when none */
	struct peer_conn mem;        /* its memory connection, once attached */
	struct relay *relay;         /* CRIU's stream on it, while one runs */
	uint64_t ctl_bytes, ctl_raw; /* the cpuinfo image that came on the control
	                                connection: on the wire, and its own size */
	bool mem_attached;
	bool mem_reserved;      /* a memory connection is answering its attach */
	bool restored, finished;
	/* While CRIU restores (restoring, under the engine's lock): its swrk, which the
	 * watchdog kills when the source has gone meanwhile, since a CRIU that hangs
	 * would otherwise hold the job and its copy until a restart. */
	struct criu_watch criu;
	bool restoring, criu_killed;
	int64_t source_gone_at;      /* when the watchdog saw the source go (0: not) */
	bool filling;                /* restore_pages lazy: committed, the copy runs and
	                                its memory fills in (fill_main) */
	int64_t fill_t0;             /* monotonic ms of the commit that let it run */
	struct engine *fill_engine;
	bool lazy_running;           /* after a restart in the lazy phase: the copy runs,
	                                and the source's verdict says whether every page
	                                had arrived (commit) or not (abort) */
	pthread_cond_t cond;         /* mem_attached changes */
	struct dst_job *next;
};

struct engine {
	struct engine_config cfg;
	struct store *store;
	pthread_mutex_t lock;        /* everything below */
	pthread_cond_t cond;         /* queue and stop */
	char (*queue)[JOB_ID_LEN];
	size_t q_head, q_len;
	bool stopping;
	pthread_t workers[ENGINE_MAX_WORKERS];
	int n_workers;
	struct src_active *active;
	struct dst_job *incoming;
	struct dst_job *filling;     /* copies running here while their memory fills in */
	int peer_conns;              /* threads serving a peer connection */
	int fills;                   /* of them, copies filling their memory (mig_dest.c) */
	int peer_authed;             /* of them, past the handshake */
	struct unauth_slot {
		int fd;                  /* -1: free; open as long as it is listed */
		char ip[48];
		int64_t since;
	} unauth[ENGINE_MAX_UNAUTH];
	int64_t refused_logged;      /* when refusals were last logged, and how many */
	int refused;                 /* have come since */
	int listen_fd;
	int peer_port;               /* the port peers reach us on */
	pthread_t listener;
	bool listener_started;
	pthread_t recovery;
	bool recovery_started;
	pthread_t watchdog;          /* ends frozen holds past their deadline */
	bool watchdog_started;
	const char *fault;           /* HAULD_FAULT, for fault-injection tests */
	/* `criu cpuinfo dump` of this host, made once (source side), and the cpuinfo
	 * images of sources that `criu cpuinfo check` accepted here (destination). */
	pthread_mutex_t cpuinfo_lock;
	bool cpuinfo_ready;
	char *cpuinfo_ok[CPUINFO_CACHE];
	size_t cpuinfo_ok_len[CPUINFO_CACHE];
};

/* Append to the job's event log (and the daemon log), kind "log". */
void ev(struct engine *e, const struct job *j, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same with a kind ("state", "phase", "iteration", "progress", "webhook") and
 * what the event carries (data, stolen, may be NULL). */
void ev_kind(struct engine *e, const struct job *j, const char *kind, json_t *data,
	     const char *level, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Set the phase, store the job, log the event "phase: <phase>". */
void job_phase(struct engine *e, struct job *j, const char *phase);
/* Finish a job: state, error fields (code NULL for success), store. */
void job_finish(struct engine *e, struct job *j, enum job_state st, const char *code,
		const char *where, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Fault injection for tests, chosen by HAULD_FAULT: exit at once when it names this
 * point ("dest_exit:receive_images"), or pause there when point and HAULD_FAULT are
 * both "pause:NAME". */
#define FAULT_PAUSE_MS 3000
void fault_point(struct engine *e, const char *point);
bool fault_fail(struct engine *e, const char *point);

/* Job directories: <data>/jobs/<id>/{images,work}. */
int job_dirs(struct engine *e, const char *id, char *images, char *work, size_t len);
/* Remove them, unless the job's option keep_images is set; CRIU's logs move to
 * <data>/logs/<id>/ (the newest LOGS_KEEP jobs' logs are kept). */
void job_dirs_remove(struct engine *e, const struct job *j);
/* Where CRIU's log name of job id is now (its work directory while the job runs,
 * <data>/logs/<id>/ after it); -ENOENT when there is none. */
int job_log_path(struct engine *e, const char *id, const char *name, char *path, size_t len);
/* A fresh directory <data>/tmp/logs-<id>-... (dir, len bytes) holding the last max
 * bytes of each of the job's CRIU logs, for a peer to fetch; the caller removes it
 * (rm_rf). */
int job_logs_snapshot(struct engine *e, const char *id, size_t max, char *dir, size_t len);
#define PEER_LOG_TAIL   (64 * 1024)   /* bytes of each log a peer is sent */
#define PEER_LOGS_MS    5000          /* the wait for a peer's logs at a job's end */
/* A boolean option of the job ("keep_images", ...); false when absent. */
bool job_option(const struct job *j, const char *key);
/* A string option of the job, copied into buf; NULL when absent, not a string or
 * longer than len - 1. */
const char *job_option_str(const struct job *j, const char *key, char *buf, size_t len);

/* Run one source job to its end (mig_source.c). */
void source_run(struct engine *e, struct job *j, struct src_active *act);
/* Resolve a source job a previous run left in flight (mig_source.c). */
void source_recover(struct engine *e, struct job *j);
/* Serve one authenticated peer connection (mig_dest.c); takes ownership of c. */
void dest_serve(struct engine *e, struct peer_conn *c, const char *channel, const char *remote);
/* Resolve destination jobs a previous run left in flight (mig_dest.c). */
void dest_recover(struct engine *e, struct job *j);
/* True when pid is a copy restored here whose memory still fills in (its job's id
 * into job_id, JOB_ID_LEN bytes): it may not move on before that ends. */
bool dest_filling(struct engine *e, int pid, char *job_id);
/* Free what incoming jobs still hold at shutdown (mig_dest.c). */
void dest_release_all(struct engine *e);

/* A json reply {"ok":false,"code":code,"error":msg}. New reference. */
json_t *reply_error(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
