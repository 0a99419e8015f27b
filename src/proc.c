/* proc.c: process facts from /proc. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
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

pid_t proc_ppid(pid_t pid)
{
	char buf[1024], *rest;
	const char *f;
	int ret = stat_fields(pid, buf, sizeof(buf), &rest);

	if (ret < 0)
		return ret;
	f = field(rest, 1);
	return f ? (pid_t)atoi(f) : -EPROTO;
}

bool proc_descends(pid_t pid, pid_t ancestor, int max_depth)
{
	for (int i = 0; i < max_depth && pid > 1; i++) {
		pid = proc_ppid(pid);
		if (pid == ancestor)
			return true;
	}
	return false;
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

/* 1 when p is the calling process or one of its ancestors. */
static int is_self_or_ancestor(pid_t p)
{
	for (pid_t a = getpid(); a > 1;) {
		char buf[1024], *rest;
		const char *f;

		if (a == p)
			return 1;
		if (stat_fields(a, buf, sizeof(buf), &rest) < 0 || !(f = field(rest, 1)))
			break;
		a = (pid_t)atoi(f);
	}
	return 0;
}

/* 1 when pid runs the program at path (the same file, wherever it was started
 * from). */
static int runs_file(pid_t pid, const struct stat *prog)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	return prog->st_ino && stat(path, &st) == 0 && st.st_dev == prog->st_dev &&
	       st.st_ino == prog->st_ino;
}

void proc_comm(pid_t pid, char *out, size_t len)
{
	char path[64];
	ssize_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, out, len - 1);
		close(fd);
	}
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static int has_comm(pid_t pid, const char *name)
{
	char comm[32];

	proc_comm(pid, comm, sizeof(comm));
	return comm[0] && strcmp(comm, name) == 0;
}

/* Why one task of the tree rooted at root must not be frozen, or NULL. */
static const char *member_unmovable(pid_t p, const struct stat *self_exe,
				    const struct stat *criu_exe)
{
	if (p == getpid())
		return "hauld itself";
	if (is_self_or_ancestor(p))
		return "an ancestor of hauld";
	if (runs_file(p, self_exe) || has_comm(p, "hauld"))
		return "a hauld daemon";
	if (runs_file(p, criu_exe) || has_comm(p, "criu"))
		return "a CRIU process";
	return NULL;
}

int proc_unmovable(pid_t pid, const char *criu_bin, char *why, size_t len)
{
	struct stat self_exe = { 0 }, criu_exe = { 0 };
	pid_t *tree = NULL;
	const char *what;
	size_t n = 0;
	int ret;

	if (pid <= 0) {
		snprintf(why, len, "pid %d: a pid must be a positive integer", (int)pid);
		return -1;
	}
	if (!proc_alive(pid)) {
		snprintf(why, len, "pid %d: no such process", (int)pid);
		return -1;
	}
	if (pid == 1) {
		snprintf(why, len, "pid 1 is the host's init and cannot be migrated");
		return -1;
	}
	if (proc_is_kthread(pid)) {
		snprintf(why, len, "pid %d is a kernel thread; kernel threads cannot be migrated",
			 (int)pid);
		return -1;
	}
	/* Freezing hauld, its ancestors, another hauld or a CRIU would freeze the
	 * migration itself, or the daemon that serves others: every task of the tree
	 * is checked, since CRIU freezes them all. */
	stat("/proc/self/exe", &self_exe);
	if (criu_bin)
		stat(criu_bin, &criu_exe);
	tree = calloc(PROC_TREE_MAX, sizeof(*tree));
	if (!tree) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	ret = proc_tree(pid, tree, PROC_TREE_MAX, &n);
	if (ret == -E2BIG) {
		snprintf(why, len, "the tree of pid %d has more than %d tasks", (int)pid,
			 PROC_TREE_MAX);
		free(tree);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		what = member_unmovable(tree[i], &self_exe, &criu_exe);
		if (!what)
			continue;
		if (tree[i] == pid)
			snprintf(why, len, "pid %d is %s, which must never be frozen", (int)pid,
				 what);
		else
			snprintf(why, len, "the tree of pid %d contains pid %d, %s, which must "
				 "never be frozen (CRIU freezes every task of the tree)", (int)pid,
				 (int)tree[i], what);
		free(tree);
		return -1;
	}
	free(tree);
	return 0;
}

void proc_host_ids(char *boot_id, size_t blen, char *netns, size_t nlen)
{
	char *buf = NULL;
	size_t len;
	ssize_t n;

	boot_id[0] = netns[0] = '\0';
	if (file_read_all("/proc/sys/kernel/random/boot_id", 64, &buf, &len) == 0) {
		snprintf(boot_id, blen, "%.*s", (int)strcspn(buf, "\n"), buf);
		free(buf);
	}
	n = readlink("/proc/self/ns/net", netns, nlen - 1);
	netns[n > 0 ? n : 0] = '\0';
}

void proc_cmdline(pid_t pid, char *out, size_t len)
{
	char path[64];
	ssize_t n = 0;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, out, len - 1);
		close(fd);
	}
	if (n < 0)
		n = 0;
	while (n > 0 && out[n - 1] == '\0')
		n--;
	out[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = ' ';
		else if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	if ((size_t)n == len - 1 && len > 4)
		memcpy(out + len - 4, "...", 4);
}
