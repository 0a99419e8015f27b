/* criu.h: everything hauld asks of CRIU. Dump and restore speak CRIU's RPC protocol
 * (criu_req/criu_resp from libcriu's rpc.pb-c.h) to a private `criu swrk` child per
 * call, because libcriu exposes neither a page-server socket nor post-dump
 * notifications and keeps its options in process-global state (src/criu.c). The page
 * server, cpuinfo, lazy dump and lazy-pages, the action-script hook and the restore into
 * a new PID namespace use CRIU's command line (src/criu_cli.c); the stats and pagemap
 * images are read in src/criu_images.c. Functions return 0 or a negative errno;
 * on failure err (errlen bytes) gets a sentence for the operator. All are thread-safe. */
#ifndef HAULD_CRIU_H
#define HAULD_CRIU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct criu_info {
	int version;            /* 40101 for 4.1.1, 0 when CRIU is unusable */
	char version_text[32];  /* "4.1.1" */
	bool check_ok;          /* `criu check` passed */
	char check_error[256];
	bool mem_track;         /* soft-dirty tracking: iterative pre-copy possible */
	bool lazy_pages;        /* userfaultfd: post-copy possible */
	char path[256];         /* the criu binary */
};

/* The names of the logs CRIU writes into a job's work directory, one per kind of
 * call (dump, pre-dump, page server, restore, lazy-pages). */
#define CRIU_LOG_COUNT 5
extern const char *const criu_log_names[CRIU_LOG_COUNT];

/* Find CRIU, run `criu check` and the feature checks. Slow (about a second):
 * call once at start. Never fails: what is missing is described in info. */
void criu_detect(struct criu_info *info);
/* The binary criu_detect found (default /usr/local/sbin/criu, else PATH). */
const char *criu_path(void);
/* CRIU's log level for every call (0-4, default 2: errors). */
void criu_log_level_set(int level);

/* Options a migration may set, mapped to CRIU's options of the same names. */
struct criu_opts {
	bool tcp_established, shell_job, file_locks, ext_unix_sk;
};

/* Called at CRIU's post-dump notification, while the tree is still frozen and its
 * images are complete. Return 0 to let CRIU finish the dump (the source tree is then
 * killed) or nonzero to make CRIU resume the tree. */
typedef int (*criu_post_dump_fn)(void *arg);

/* Who may stop a CRIU that hangs: the swrk process of a call in progress, published
 * by the call (a pidfd, so that a pid used again since is never signalled). */
struct criu_watch {
	pthread_mutex_t mu;
	int pidfd;              /* -1 when no call runs */
	pid_t pid;
};
void criu_watch_init(struct criu_watch *w);
/* SIGKILL the CRIU of the call in progress, and the processes it forked (the one
 * that holds the tree); 1 when there was one, 0 when none ran. A tree CRIU had
 * frozen runs on once its CRIU is gone (the kernel detaches it). */
int criu_watch_kill(struct criu_watch *w);

struct criu_dump_req {
	pid_t pid;
	bool pre_dump;          /* a pre-dump: memory only, the tree keeps running */
	bool track_mem;         /* start soft-dirty tracking for the next iteration */
	const char *parent;     /* previous iteration's images, relative to images_fd */
	int images_fd;          /* directory for the images */
	int work_fd;            /* directory for the log */
	int ps_fd;              /* connected socket to a page server, or -1 */
	struct criu_opts opts;
	criu_post_dump_fn post_dump;
	void *arg;
	struct criu_watch *watch;  /* or NULL */
};
int criu_rpc_dump(const struct criu_dump_req *req, char *err, size_t errlen);

struct criu_restore_req {
	int images_fd;
	int work_fd;
	bool leave_stopped;     /* every restored task stays stopped (SIGSTOP) */
	bool lazy_pages;        /* pages come later from a running `criu lazy-pages` */
	bool consume_pages;     /* punch each page out of the images once it is read */
	struct criu_opts opts;
	/* Called (when set) with the root pid as soon as CRIU names it, before the
	 * restore ends: a copy that exists must be known even if the caller dies
	 * before CRIU answers. */
	void (*on_root)(pid_t root, const char *stage, void *arg);
	void *arg;
	struct criu_watch *watch;  /* or NULL */
};
/* Restore the tree as a child of the calling process (CRIU's rst_sibling); *pid gets
 * the root pid. The caller must reap it. */
int criu_rpc_restore(const struct criu_restore_req *req, pid_t *pid, char *err, size_t errlen);

/* Restore into a fresh PID namespace, as criu-ns does, for a tree whose PIDs are
 * taken here: a small init of ours is pid 1 there and reaps the restored tree (which
 * is therefore not our child). *pid gets the root's pid as this host sees it, *init
 * the namespace's init. */
struct criu_restore_ns_req {
	const char *images_dir, *work_dir;
	bool leave_stopped;
	bool consume_pages;     /* as in criu_restore_req */
	struct criu_opts opts;
};
int criu_restore_new_pidns(const struct criu_restore_ns_req *req, pid_t *pid, pid_t *init,
			   char *err, size_t errlen);

/* Start `criu page-server` on an already connected socket, writing into
 * images_dir; *pid gets the child, which exits when the dumping side disconnects. */
int criu_page_server_spawn(const char *images_dir, const char *work_dir, int ps_fd,
			   pid_t *pid, char *err, size_t errlen);

/* `criu cpuinfo dump` into dir, and `criu cpuinfo check` of the image in dir. */
int criu_cpuinfo_dump(const char *dir, char *err, size_t errlen);
int criu_cpuinfo_check(const char *dir, char *err, size_t errlen);

/* Post-copy. The source dumps with --lazy-pages through CRIU's command line, serving
 * the lazy pages on ps_fd after the post-dump action, which CRIU asks of hook_path
 * (hauld itself, see criu_hook_main) with HAULD_HOOK=hook_name in its environment. */
struct criu_lazy_dump_req {
	pid_t pid;
	const char *images_dir, *work_dir;
	int ps_fd;
	struct criu_opts opts;
	const char *hook_path, *hook_name;
};
int criu_lazy_dump_spawn(const struct criu_lazy_dump_req *req, pid_t *pid, char *err,
			 size_t errlen);
/* At the destination: `criu lazy-pages` pulling pages over ps_fd; returns once it
 * listens for the restore (run criu_rpc_restore with lazy_pages in the same work_dir). */
int criu_lazy_pages_spawn(const char *images_dir, const char *work_dir, int ps_fd, pid_t *pid,
			  char *err, size_t errlen);
/* 0 when this host can serve or receive lazy pages: CRIU's lazy_pages feature, and
 * fs.pipe-max-size of at least 4 MiB (raised here when it is lower and we may). */
int criu_lazy_ready(const struct criu_info *info, char *err, size_t errlen);
/* Pages flagged lazy in the pagemap images of a dump. */
int criu_lazy_pages_count(int images_fd, int64_t *pages);
/* Before a lazy restore from local images: the pages holding each address space's
 * arguments and environment lose the lazy flag in the pagemap images (entries split
 * where needed, each file replaced whole), so that CRIU restores them at once and
 * /proc/PID/cmdline reads right from the start. The pages so made eager in *pages. */
int criu_pagemap_args_eager(int images_fd, int64_t *pages);
/* The daemon's end of the action-script hook: a listening abstract unix socket named
 * name; each connection sends "ACTION\n" and wants one byte, '0' to go on. */
int criu_hook_listen(const char *name);
/* Run as CRIU's action script (CRTOOLS_SCRIPT_ACTION and HAULD_HOOK set): ask the
 * daemon and return the exit code for CRIU. */
int criu_hook_main(void);

/* CRIU's statistics files (stats-dump, stats-restore), times in milliseconds. */
struct criu_stats {
	bool has_dump, has_restore;
	int64_t freezing_ms, frozen_ms, memdump_ms, memwrite_ms;
	int64_t pages_scanned, pages_skipped_parent, pages_written, pages_lazy;
	int64_t forking_ms, restore_ms, pages_restored;
};
/* Parse a stats image from memory (the protobuf stats_entry after CRIU's two magics
 * and the length), or from a file. -EPROTO when malformed. */
int criu_stats_parse(const void *buf, size_t len, struct criu_stats *st);
int criu_stats_read(const char *path, struct criu_stats *st);

/* An inet socket of a dumped tree that holds a local port: listening (TCP) or bound
 * (UDP), from the images' files.img. */
struct criu_inet_port {
	uint32_t id;            /* CRIU's file id ("Can't bind inet socket (id N)") */
	int family;             /* AF_INET, AF_INET6 */
	int type;               /* SOCK_STREAM, SOCK_DGRAM */
	int port;
	char addr[48];          /* the local address, "0.0.0.0" or "::" for any */
	bool listening;
};
/* The inet sockets of the images in images_fd that hold a local port, at most max
 * into out; *n gets how many. -ENOENT without files.img, -EPROTO when malformed. */
int criu_inet_ports(int images_fd, struct criu_inet_port *out, size_t max, size_t *n);
/* 0 when the local port of p could be taken here now (a probe socket binds it, with
 * SO_REUSEADDR as CRIU's restore does); -errno of the bind otherwise (-EADDRINUSE,
 * -EADDRNOTAVAIL). */
int criu_inet_port_free(const struct criu_inet_port *p);

/* Wait for a child with a deadline; kills it (SIGKILL) when the deadline passes.
 * Returns its wait status, or -errno. timeout_ms < 0: no deadline. */
int child_wait(pid_t pid, int timeout_ms);
/* Children waited for by pid are tracked (spawned ones by the spawn helpers, and
 * child_wait forgets them); a restored root that hauld reaps itself is tracked by
 * its reaper. criu_reap_strays reaps every zombie child that is not tracked: the
 * tasks a failed restore (rst_sibling) leaves. */
void child_track(pid_t pid);
void child_untrack(pid_t pid);
void criu_reap_strays(void);

#endif
