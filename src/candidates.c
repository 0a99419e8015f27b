/* candidates.c: the process trees of this host, for GET /candidates. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "candidates.h"
#include "proc.h"
#include "util.h"

#define PF_KTHREAD_FLAG 0x00200000u   /* include/linux/sched.h */
#define ANCESTRY_MAX    128           /* levels walked up from a process */

struct entry {
	pid_t pid, ppid, sid;
	uint64_t start;          /* clock ticks since boot */
	uint64_t rss_pages;
	unsigned flags;
	int cand;                /* its index in the candidates, or -1 */
};

struct cand {
	size_t entry;
	size_t tasks;
	bool movable;
	char why[256];
};

/* One /proc/PID/stat into e; -1 when it cannot be read (the process went away). */
static int entry_read(pid_t pid, struct entry *e)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0, rss = 0;
	unsigned flags = 0;
	int ppid = 0, sid = 0, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: the fields start after
	 * the last ')'. Fields 3.. are: state ppid pgrp session tty tpgid flags
	 * minflt cminflt majflt cmajflt utime stime cutime cstime priority nice
	 * num_threads itrealvalue starttime vsize rss. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d %*d %d %*d %*d %u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu %*u %llu", &ppid, &sid, &flags, &start, &rss) != 5)
		return -1;
	e->pid = pid;
	e->ppid = ppid;
	e->sid = sid;
	e->flags = flags;
	e->start = start;
	e->rss_pages = rss;
	e->cand = -1;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static struct entry *entry_find(struct entry *v, size_t n, pid_t pid)
{
	struct entry key = { .pid = pid };

	return bsearch(&key, v, n, sizeof(*v), entry_cmp);
}

/* Every process of /proc, at most max, sorted by pid. */
static size_t scan(struct entry *v, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t n = 0;
	long pid;

	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]) ||
		    parse_long(de->d_name, 1, 4194304, &pid) < 0)
			continue;
		if (entry_read((pid_t)pid, &v[n]) == 0)
			n++;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), entry_cmp);
	return n;
}

/* The name in /proc/PID/comm (at most 15 bytes), printable. */
static void comm_of(pid_t pid, char *out, size_t len)
{
	proc_comm(pid, out, len);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
}

/* Whether pid is pid 1 of a PID namespace of its own (the last NSpid is 1), which
 * lets the destination give the tree its pids back whatever runs there. */
static bool own_pidns(pid_t pid)
{
	char path[64], *buf = NULL, *line, *last;
	bool own = false;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (file_read_all(path, 16384, &buf, &len) < 0)
		return false;
	line = strstr(buf, "\nNSpid:");
	if (line) {
		line[strcspn(line + 1, "\n") + 1] = '\0';
		last = strrchr(line, '\t');
		own = last && last != strchr(line, '\t') && strcmp(last + 1, "1") == 0;
	}
	free(buf);
	return own;
}

static int cand_cmp(const void *a, const void *b, void *entries)
{
	const struct entry *v = entries;
	const struct cand *x = a, *y = b;
	uint64_t sx = v[x->entry].start, sy = v[y->entry].start;

	return (sx < sy) - (sx > sy);
}

json_t *candidates_processes(size_t limit, const char *criu_bin)
{
	struct entry *v = NULL;
	struct cand *c = NULL;
	size_t n, nc = 0, shown;
	long page = sysconf(_SC_PAGESIZE);
	json_t *arr = NULL, *o = NULL;

	if (limit < 1 || limit > CAND_MAX)
		limit = CAND_MAX;
	v = calloc(CAND_SCAN_MAX, sizeof(*v));
	c = calloc(CAND_MAX, sizeof(*c));
	arr = json_array();
	if (!v || !c || !arr)
		goto out;
	n = scan(v, CAND_SCAN_MAX);
	/* The newest session leaders, at most CAND_MAX of them: sorted by start time
	 * first, so that the pid rules are asked only of those that may be shown. */
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &v[i];

		if (e->pid != e->sid || e->pid == 1 || e->pid == 2 || e->ppid == 2 ||
		    (e->flags & PF_KTHREAD_FLAG))
			continue;
		if (nc < CAND_MAX) {
			c[nc].entry = i;
			e->cand = (int)nc++;
			continue;
		}
		/* Full: replace the oldest, if this one is newer. */
		size_t old = 0;

		for (size_t k = 1; k < nc; k++)
			if (v[c[k].entry].start < v[c[old].entry].start)
				old = k;
		if (v[c[old].entry].start < e->start) {
			v[c[old].entry].cand = -1;
			c[old].entry = i;
			e->cand = (int)old;
		}
	}
	/* Each tree's size: every process counts for each candidate above it. */
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &v[i];

		for (int depth = 0; e && depth < ANCESTRY_MAX; depth++) {
			if (e->cand >= 0)
				c[e->cand].tasks++;
			e = e->ppid > 0 ? entry_find(v, n, e->ppid) : NULL;
		}
	}
	/* Newest first; the pid rules walk each tree, so only those shown are asked. */
	qsort_r(c, nc, sizeof(*c), cand_cmp, v);
	shown = nc < limit ? nc : limit;
	for (size_t k = 0; k < shown; k++)
		c[k].movable = proc_unmovable(v[c[k].entry].pid, criu_bin, c[k].why,
					      sizeof(c[k].why)) == 0;
	for (size_t k = 0; k < shown; k++) {
		const struct entry *e = &v[c[k].entry];
		char cmd[CAND_CMD_MAX + 1], comm[32];
		json_t *p;

		proc_cmdline(e->pid, cmd, sizeof(cmd));
		comm_of(e->pid, comm, sizeof(comm));
		p = json_pack("{s:i, s:s, s:s, s:I, s:I, s:b, s:b, s:s?}", "pid", (int)e->pid,
			      "comm", comm, "command", cmd,
			      "rss_bytes", (json_int_t)(e->rss_pages * (uint64_t)(page > 0 ? page : 4096)),
			      "tasks", (json_int_t)c[k].tasks, "own_pidns", own_pidns(e->pid),
			      "movable", c[k].movable, "why", c[k].movable ? NULL : c[k].why);
		if (p)
			json_array_append_new(arr, p);
	}
	o = json_pack("{s:O, s:b}", "processes", arr, "truncated", nc > shown);
out:
	json_decref(arr);
	free(c);
	free(v);
	return o;
}
