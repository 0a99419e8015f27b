/* proc.h: facts about processes read from /proc. Return 0 or a negative errno. */
#ifndef HAULD_PROC_H
#define HAULD_PROC_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_TREE_MAX 4096   /* tasks in one tree we are willing to walk */

/* Start time of pid in clock ticks since boot (field 22 of /proc/PID/stat);
 * -ESRCH when it does not exist. A pid together with its start time names one
 * process even after the pid number is reused. */
int proc_start_time(pid_t pid, uint64_t *ticks);
/* 1 when pid exists and is not a zombie; 0 otherwise. */
int proc_alive(pid_t pid);
/* The parent of pid, or -errno. */
pid_t proc_ppid(pid_t pid);
/* true when ancestor is pid's parent, grandparent, ... up to max_depth levels. */
bool proc_descends(pid_t pid, pid_t ancestor, int max_depth);
/* 1 when pid is alive and still has this start time. */
int proc_same(pid_t pid, uint64_t ticks);
/* 1 when pid is a kernel thread (child of kthreadd, or PF_KTHREAD). */
int proc_is_kthread(pid_t pid);
/* 1 when pid lives in the PID namespace of the caller. */
int proc_in_my_pidns(pid_t pid);
/* The pids (threads excluded) of the tree rooted at pid, root first, at most max. */
int proc_tree(pid_t pid, pid_t *out, size_t max, size_t *n);
/* Send sig to every process of the tree rooted at pid. */
int proc_tree_signal(pid_t pid, int sig);
/* 0 when the tree rooted at pid may be migrated by us; -1 with a sentence in why
 * (len bytes) when it must not: pid does not exist, is pid 1 or a kernel thread, or
 * the tree holds hauld itself, an ancestor of hauld, any other hauld daemon, or a
 * CRIU process (criu_bin, or any task named "criu"; criu_bin may be NULL). */
int proc_unmovable(pid_t pid, const char *criu_bin, char *why, size_t len);

/* pid's name as in /proc/PID/comm, without its newline, cut to len - 1 bytes; ""
 * when it cannot be read. */
void proc_comm(pid_t pid, char *out, size_t len);

/* pid's command line, its arguments joined by spaces, other bytes than printable
 * ASCII shown as '?', cut to len - 1 bytes (ending in "..." when longer); "" when
 * it cannot be read (a kernel thread, a process gone). */
void proc_cmdline(pid_t pid, char *out, size_t len);

/* This host's boot id (/proc/sys/kernel/random/boot_id) and the calling process's
 * network namespace ("net:[INODE]"); "" for what cannot be read. Two daemons with
 * the same pair share one network namespace of one machine. */
void proc_host_ids(char *boot_id, size_t blen, char *netns, size_t nlen);

#endif
