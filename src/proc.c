/* proc.c: process facts from /proc. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

#define PF_KTHREAD 0x00200000

/* Fields of /proc/PID/stat after the command name, which may hold spaces and
 * parentheses: field 3 (state) is fields[0]. */
static int stat_fields(pid_t pid, char *buf, size_t len, char **after)
{
	char path[64];
	char *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	end = strrchr(buf, ')');
	if (!end || end[1] != ' ')
		return -EPROTO;
	*after = end + 2;
	return 0;
}

/* The n-th space-separated field (0 = state) of what stat_fields returned. */
static const char *field(char *s, int n)
{
	while (n-- > 0) {
		s = strchr(s, ' ');
		if (!s)
			return NULL;
		s++;
	}
	return s;
}

int proc_start_time(pid_t pid, uint64_t *ticks)
{
	char buf[1024], *rest;
	const char *f;
	int ret = stat_fields(pid, buf, sizeof(buf), &rest);

	if (ret < 0)
		return ret;
	f = field(rest, 19);   /* field 22 */
	if (!f)
		return -EPROTO;
	*ticks = strtoull(f, NULL, 10);
	return 0;
}

int proc_alive(pid_t pid)
{
	char buf[1024], *rest;

	if (pid <= 0 || stat_fields(pid, buf, sizeof(buf), &rest) < 0)
		return 0;
	return rest[0] != 'Z' && rest[0] != 'X';
}

int proc_same(pid_t pid, uint64_t ticks)
{
	uint64_t now;

	return proc_alive(pid) && proc_start_time(pid, &now) == 0 && now == ticks;
}

int proc_is_kthread(pid_t pid)
{
	char buf[1024], *rest;
	const char *f;

	if (pid == 2)
		return 1;
	if (stat_fields(pid, buf, sizeof(buf), &rest) < 0)
		return 0;
	f = field(rest, 1);   /* ppid */
	if (f && atoi(f) == 2)
		return 1;
	f = field(rest, 6);   /* flags */
	return f && (strtoul(f, NULL, 10) & PF_KTHREAD);
}

int proc_in_my_pidns(pid_t pid)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	if (stat(path, &a) < 0 || stat("/proc/self/ns/pid", &b) < 0)
		return 0;
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* Append the pids listed in one children file to out. The file is read to its end:
 * a task may have more children than one read returns, and a read may end inside
 * a number, which must not be taken for a (different) pid. */
static int read_children(int fd, pid_t *out, size_t max, size_t *n)
{
	char buf[4096], *p, *tok_end;
	size_t have = 0;
	ssize_t len;

	for (;;) {
		if (have >= sizeof(buf) - 1)
			return -EPROTO;     /* one token longer than the buffer: not a pid */
		do {
			len = read(fd, buf + have, sizeof(buf) - 1 - have);
		} while (len < 0 && errno == EINTR);
		if (len < 0)
			return -errno;
		have += (size_t)len;
		buf[have] = '\0';
		for (p = buf;;) {
			p += strspn(p, " \n");
			tok_end = p + strspn(p, "0123456789");
			/* No digits, or a number the next read may continue. */
			if (tok_end == p || (*tok_end == '\0' && len > 0))
				break;
			if (*n >= max)
				return -E2BIG;
			out[(*n)++] = (pid_t)strtol(p, NULL, 10);
			p = tok_end;
		}
		if (len == 0)
			return 0;
		have = strlen(p);
		memmove(buf, p, have + 1);
	}
}

/* Append the children of every thread of pid to out. */
static int children(pid_t pid, pid_t *out, size_t max, size_t *n)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char cpath[128];
		int fd, ret;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		fd = open(cpath, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ret = read_children(fd, out, max, n);
		close(fd);
		if (ret == -E2BIG) {
			closedir(d);
			return ret;
		}
	}
	closedir(d);
	return 0;
}

int proc_tree(pid_t pid, pid_t *out, size_t max, size_t *n)
{
	int ret;

	*n = 0;
	if (!proc_alive(pid))
		return -ESRCH;
	if (max == 0)
		return -E2BIG;
	out[(*n)++] = pid;
	/* Breadth first: out doubles as the queue. */
	for (size_t i = 0; i < *n; i++) {
		ret = children(out[i], out, max, n);
		if (ret == -E2BIG)
			return ret;
	}
	return 0;
}

int proc_tree_signal(pid_t pid, int sig)
{
	pid_t *pids = calloc(PROC_TREE_MAX, sizeof(*pids));
	size_t n = 0;
	int ret;

	if (!pids)
		return -ENOMEM;
	ret = proc_tree(pid, pids, PROC_TREE_MAX, &n);
	for (size_t i = 0; i < n; i++)
		if (kill(pids[i], sig) < 0 && errno != ESRCH && ret == 0)
			ret = -errno;
	free(pids);
	return ret;
}

const char *proc_unmovable(pid_t pid)
{
	pid_t self = getpid();

	if (pid <= 0)
		return "pid must be a positive integer";
	if (!proc_alive(pid))
		return "no such process";
	if (pid == 1)
		return "pid 1 is the host's init and cannot be migrated";
	if (proc_is_kthread(pid))
		return "kernel threads cannot be migrated";
	/* Neither hauld itself nor any of its ancestors: freezing them would freeze us. */
	for (pid_t p = self; p > 1;) {
		char buf[1024], *rest;
		const char *f;

		if (p == pid)
			return p == self ? "hauld cannot migrate itself" :
					   "pid is an ancestor of hauld";
		if (stat_fields(p, buf, sizeof(buf), &rest) < 0 || !(f = field(rest, 1)))
			break;
		p = (pid_t)atoi(f);
	}
	return NULL;
}
