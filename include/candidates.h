/* candidates.h: what this host could migrate, for GET /candidates and the dashboard's
 * form. Read-only and bounded: one pass over /proc of at most CAND_SCAN_MAX
 * processes, the pid rules (proc_unmovable) asked only of the trees shown. */
#ifndef HAULD_CANDIDATES_H
#define HAULD_CANDIDATES_H

#include <stddef.h>
#include <jansson.h>

#define CAND_MAX        500      /* process trees in one answer at most */
#define CAND_SCAN_MAX   32768    /* processes read from /proc at most */
#define CAND_CMD_MAX    256      /* bytes of a command line shown */

/* The process trees a person would migrate: every session leader (a process whose
 * session id is its pid: a daemon, a shell, a program started with setsid) but pid 1
 * and kernel threads, newest first, at most
 * limit (1..CAND_MAX). {"processes": [{"pid", "comm", "command", "rss_bytes",
 * "tasks", "own_pidns", "movable", "why"}], "truncated": bool}; criu_bin as for
 * proc_unmovable (may be NULL). New reference, NULL when out of memory. */
json_t *candidates_processes(size_t limit, const char *criu_bin);

#endif
