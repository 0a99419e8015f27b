/* test_proc.c: process facts from /proc, checked against real processes the test
 * forks: itself, live, zombie and reaped children, a small tree (with a grandchild
 * forked by a second thread), kernel threads. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

/* A child that sleeps until killed. It drops the SIGTERM handler it inherits from
 * libcheck's runner, which would signal the whole process group. */
static pid_t sleeper(void)
{
	int fds[2];
	char c;
	pid_t p;

	ck_assert_int_eq(pipe(fds), 0);
	p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		close(fds[0]);
		if (write(fds[1], "r", 1) != 1)
			_exit(1);
		close(fds[1]);
		for (;;)
			pause();
	}
	/* Return once the handlers are reset. */
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return p;
}

/* A child that exits at once, not reaped yet. exec rather than _exit: under
 * valgrind the child would report the heap it inherited as lost. */
static pid_t quitter(void)
{
	pid_t p = fork();

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(0);
	}
	return p;
}

/* Wait until p has exited, leaving it a zombie. */
static void wait_zombie(pid_t p)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)p, &si, WEXITED | WNOWAIT) < 0)
		ck_assert_int_eq(errno, EINTR);
	ck_assert_int_eq(si.si_pid, p);
}

static int reap(pid_t p)
{
	int status = 0;
	pid_t r;

	while ((r = waitpid(p, &status, 0)) < 0 && errno == EINTR)
		;
	ck_assert_int_eq(r, p);
	return status;
}

/* The pid of a process that has exited and been reaped. */
static pid_t gone_pid(void)
{
	pid_t p = quitter();

	reap(p);
	return p;
}

/* Some kernel thread other than kthreadd: a child of pid 2, or 0 when none is seen
 * (a PID namespace without kernel threads). */
static pid_t some_kthread(void)
{
	char buf[256];
	FILE *f = fopen("/proc/2/task/2/children", "r");
	pid_t kt = 0;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			kt = (pid_t)atoi(buf);
		fclose(f);
	}
	return kt;
}

static int contains(const pid_t *a, size_t n, pid_t p)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == p)
			return 1;
	return 0;
}

START_TEST(test_self)
{
	uint64_t t = 0, t2 = 0;

	ck_assert_int_eq(proc_start_time(getpid(), &t), 0);
	ck_assert_uint_gt(t, 0);
	ck_assert_int_eq(proc_start_time(getpid(), &t2), 0);
	ck_assert_uint_eq(t, t2);
	ck_assert_int_eq(proc_alive(getpid()), 1);
	ck_assert_int_eq(proc_same(getpid(), t), 1);
	ck_assert_int_eq(proc_same(getpid(), t + 1), 0);
	ck_assert_int_eq(proc_same(getpid(), 0), 0);
	ck_assert_int_eq(proc_in_my_pidns(getpid()), 1);
	ck_assert_int_eq(proc_is_kthread(getpid()), 0);
	/* Our parent started no later than us. */
	ck_assert_int_eq(proc_start_time(getppid(), &t2), 0);
	ck_assert_uint_le(t2, t);
}
END_TEST

START_TEST(test_bad_pids)
{
	uint64_t t = 12345;
	pid_t gone = gone_pid();

	ck_assert_int_eq(proc_alive(0), 0);
	ck_assert_int_eq(proc_alive(-1), 0);
	ck_assert_int_eq(proc_alive(-5), 0);
	ck_assert_int_eq(proc_alive(gone), 0);
	ck_assert_int_eq(proc_alive(99999999), 0);
	ck_assert_int_eq(proc_start_time(gone, &t), -ESRCH);
	ck_assert_int_eq(proc_start_time(99999999, &t), -ESRCH);
	ck_assert_int_eq(proc_start_time(-5, &t), -ESRCH);
	ck_assert_uint_eq(t, 12345);   /* untouched on failure */
	ck_assert_int_eq(proc_same(gone, 0), 0);
	ck_assert_int_eq(proc_same(0, 0), 0);
	ck_assert_int_eq(proc_is_kthread(gone), 0);
	ck_assert_int_eq(proc_is_kthread(0), 0);
	ck_assert_int_eq(proc_is_kthread(-5), 0);
	ck_assert_int_eq(proc_in_my_pidns(gone), 0);
}
END_TEST

START_TEST(test_child_lifecycle)
{
	uint64_t t = 0, t2 = 0;
	pid_t c = sleeper();
	int status;

	ck_assert_int_eq(proc_start_time(c, &t), 0);
	ck_assert_int_eq(proc_alive(c), 1);
	ck_assert_int_eq(proc_same(c, t), 1);
	ck_assert_int_eq(proc_same(c, t + 1), 0);
	ck_assert_int_eq(proc_is_kthread(c), 0);
	ck_assert_int_eq(proc_in_my_pidns(c), 1);
	/* A child starts no earlier than its parent. */
	ck_assert_int_eq(proc_start_time(getpid(), &t2), 0);
	ck_assert_uint_ge(t, t2);

	/* Killed but not reaped: a zombie is not alive, and is not "the same". */
	ck_assert_int_eq(kill(c, SIGKILL), 0);
	wait_zombie(c);
	ck_assert_int_eq(proc_alive(c), 0);
	ck_assert_int_eq(proc_same(c, t), 0);

	status = reap(c);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(proc_alive(c), 0);
	ck_assert_int_eq(proc_same(c, t), 0);
	ck_assert_int_eq(proc_start_time(c, &t2), -ESRCH);
}
END_TEST

static const char *unmovable(pid_t pid, const char *criu_bin);

START_TEST(test_zombie)
{
	pid_t z = quitter();

	wait_zombie(z);
	ck_assert_int_eq(proc_alive(z), 0);
	ck_assert_ptr_nonnull(unmovable(z, NULL));
	{
		pid_t out[4];
		size_t n = 99;

		ck_assert_int_eq(proc_tree(z, out, 4, &n), -ESRCH);
		ck_assert_uint_eq(n, 0);
	}
	reap(z);
	ck_assert_int_eq(proc_alive(z), 0);
}
END_TEST

START_TEST(test_kthread)
{
	pid_t kt = some_kthread();

	ck_assert_int_eq(proc_is_kthread(2), 1);
	ck_assert_int_eq(proc_is_kthread(getpid()), 0);
	ck_assert_int_eq(proc_is_kthread(getppid()), 0);
	if (access("/proc/1/stat", R_OK) == 0)
		ck_assert_int_eq(proc_is_kthread(1), 0);
	if (kt > 0)
		ck_assert_int_eq(proc_is_kthread(kt), 1);
}
END_TEST

/* The tree: the test process -> child -> grandchild 1 (forked by the child's main
 * thread) and grandchild 2 (forked by a second thread of the child). The child
 * sends both pids and the second thread's tid through a pipe. */
struct tree_msg {
	pid_t gc1, gc2, tid;
};

static int tree_pipe = -1;

static void *second_thread(void *arg)
{
	struct tree_msg *m = arg;

	m->tid = (pid_t)syscall(SYS_gettid);
	m->gc2 = fork();
	if (m->gc2 == 0) {
		for (;;)
			pause();
	}
	if (write_full(tree_pipe, m, sizeof(*m)) < 0)
		_exit(1);
	for (;;)
		pause();
	return NULL;
}

static pid_t fork_tree(struct tree_msg *m)
{
	int fds[2];
	pid_t c;

	ck_assert_int_eq(pipe(fds), 0);
	c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		static struct tree_msg cm;
		pthread_t th;

		close(fds[0]);
		tree_pipe = fds[1];
		cm.gc1 = fork();
		if (cm.gc1 == 0) {
			for (;;)
				pause();
		}
		if (cm.gc1 < 0 || pthread_create(&th, NULL, second_thread, &cm) != 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read_full(fds[0], m, sizeof(*m)), 0);
	close(fds[0]);
	ck_assert_int_gt(m->gc1, 0);
	ck_assert_int_gt(m->gc2, 0);
	ck_assert_int_gt(m->tid, 0);
	return c;
}

START_TEST(test_tree)
{
	struct tree_msg m;
	pid_t out[PROC_TREE_MAX];
	size_t n = 0;
	pid_t c;
	int status;

	/* Grandchildren whose parent dies come to us, so the test can reap them. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	c = fork_tree(&m);

	/* Rooted at the test: all 4, root first. */
	ck_assert_int_eq(proc_tree(getpid(), out, PROC_TREE_MAX, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(out[0], getpid());
	ck_assert(contains(out, n, c));
	ck_assert(contains(out, n, m.gc1));
	ck_assert(contains(out, n, m.gc2));
	ck_assert(!contains(out, n, m.tid));    /* threads are not processes */

	/* Rooted at the child: 3, breadth first. */
	ck_assert_int_eq(proc_tree(c, out, PROC_TREE_MAX, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(out[0], c);
	ck_assert(contains(out, n, m.gc1));
	ck_assert(contains(out, n, m.gc2));

	/* A leaf is a tree of one. */
	ck_assert_int_eq(proc_tree(m.gc1, out, PROC_TREE_MAX, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0], m.gc1);

	/* Bounded output. */
	ck_assert_int_eq(proc_tree(c, out, 2, &n), -E2BIG);
	ck_assert_uint_le(n, 2);
	ck_assert_int_eq(proc_tree(c, out, 1, &n), -E2BIG);
	ck_assert_int_eq(proc_tree(c, out, 0, &n), -E2BIG);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(proc_tree(c, out, 3, &n), 0);
	ck_assert_uint_eq(n, 3);

	/* Kill the tree: every member dies of SIGKILL, the test does not. */
	ck_assert_int_eq(proc_tree_signal(c, SIGKILL), 0);
	status = reap(c);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	status = reap(m.gc1);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	status = reap(m.gc2);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert_int_eq(proc_alive(c), 0);
	ck_assert_int_eq(proc_alive(m.gc1), 0);
	ck_assert_int_eq(proc_alive(m.gc2), 0);

	/* Nothing left to signal. */
	ck_assert_int_eq(proc_tree_signal(c, SIGKILL), -ESRCH);
	ck_assert_int_eq(proc_tree(c, out, PROC_TREE_MAX, &n), -ESRCH);
	ck_assert_uint_eq(n, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}
END_TEST

/* More children than one read of a children file returns (about 4 KiB): every pid
 * must be listed whole, none cut into a different, unrelated pid. */
#define MANY 1000

START_TEST(test_tree_many_children)
{
	static pid_t kids[MANY], out[PROC_TREE_MAX];
	size_t n = 0;
	int fds[2], status;
	pid_t c;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(pipe(fds), 0);
	c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		close(fds[0]);
		for (int i = 0; i < MANY; i++) {
			kids[i] = fork();
			if (kids[i] == 0) {
				for (;;)
					pause();
			}
			if (kids[i] < 0)
				_exit(1);
		}
		if (write_full(fds[1], kids, sizeof(kids)) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read_full(fds[0], kids, sizeof(kids)), 0);
	close(fds[0]);

	ck_assert_int_eq(proc_tree(c, out, PROC_TREE_MAX, &n), 0);
	ck_assert_uint_eq(n, MANY + 1);
	ck_assert_int_eq(out[0], c);
	for (int i = 0; i < MANY; i++)
		ck_assert_msg(contains(out, n, kids[i]), "pid %d missing", kids[i]);

	ck_assert_int_eq(proc_tree_signal(c, SIGKILL), 0);
	status = reap(c);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (int i = 0; i < MANY; i++) {
		status = reap(kids[i]);
		ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}
END_TEST

START_TEST(test_tree_signal_other)
{
	pid_t c = sleeper();
	int status;

	/* A signal 0 probe touches nothing; SIGTERM ends a plain sleeper. */
	ck_assert_int_eq(proc_tree_signal(c, 0), 0);
	ck_assert_int_eq(proc_alive(c), 1);
	ck_assert_int_eq(proc_tree_signal(c, SIGTERM), 0);
	status = reap(c);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}
END_TEST

/* proc_unmovable's verdict and sentence for pid; NULL when it may move. */
static const char *unmovable(pid_t pid, const char *criu_bin)
{
	static char why[256];

	why[0] = '\0';
	if (proc_unmovable(pid, criu_bin, why, sizeof(why)) == 0) {
		ck_assert_str_eq(why, "");
		return NULL;
	}
	ck_assert(why[0] != '\0');
	return why;
}

START_TEST(test_unmovable)
{
	pid_t c = sleeper(), kt = some_kthread();
	pid_t gone = gone_pid();
	const char *why;

	why = unmovable(1, NULL);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "init"));
	ck_assert_ptr_nonnull(unmovable(2, NULL));
	if (kt > 0)
		ck_assert_ptr_nonnull(unmovable(kt, NULL));
	why = unmovable(getpid(), NULL);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "itself"));
	why = unmovable(getppid(), NULL);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "ancestor"));
	why = unmovable(gone, NULL);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "no such process"));
	ck_assert_ptr_nonnull(unmovable(0, NULL));
	ck_assert_ptr_nonnull(unmovable(-5, NULL));
	ck_assert_ptr_nonnull(unmovable(99999999, NULL));

	/* A fork of this program runs the same file as "hauld" (the test binary
	 * here), so it must not move: a forked hauld is still hauld. */
	why = unmovable(c, NULL);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "a hauld daemon"));
	kill(c, SIGKILL);
	reap(c);
	ck_assert_ptr_nonnull(unmovable(c, NULL));
}
END_TEST

/* 1 when one of the n tasks in out is named comm (it has run its program: a task
 * the shell forked is named "sh" until its exec). */
static int tree_has_comm(const pid_t *out, size_t n, const char *comm)
{
	for (size_t i = 0; i < n; i++) {
		char path[64], name[64] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)out[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
		if (strcmp(name, comm) == 0)
			return 1;
	}
	return 0;
}

/* /bin/sh -c cmd as a child; returns once its tree has want tasks, one of them
 * named comm when that is given. */
static pid_t shell_tree(const char *cmd, size_t want, const char *comm)
{
	pid_t out[8], p = fork();
	size_t n = 0;

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		signal(SIGTERM, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (proc_tree(p, out, 8, &n) == 0 && n >= want &&
		    (!comm || tree_has_comm(out, n, comm)))
			break;
		usleep(10 * 1000);
	}
	ck_assert_uint_ge(n, want);
	return p;
}

/* A tree that holds a task that runs a program named like a daemon that must never
 * be frozen is refused as a whole, and the sentence names the task; a tree of
 * plain programs may move. */
START_TEST(test_unmovable_member)
{
	static const char *const names[] = { "hauld", "criu", "sleep" };
	char dir[64] = "/tmp/hauld-test-proc-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char link[128], cmd[256], pidtxt[32];
		const char *why;
		pid_t parent;

		snprintf(link, sizeof(link), "%s/%s", dir, names[i]);
		ck_assert_int_eq(symlink("/bin/sleep", link), 0);
		snprintf(cmd, sizeof(cmd), "%s 1000 & wait", link);
		parent = shell_tree(cmd, 2, names[i]);
		why = unmovable(parent, NULL);
		if (i == 2) {
			ck_assert_msg(why == NULL, "refused: %s", why);
		} else {
			ck_assert_ptr_nonnull(why);
			ck_assert_ptr_nonnull(strstr(why, i == 0 ? "a hauld daemon" :
						     "a CRIU process"));
			ck_assert_ptr_nonnull(strstr(why, "contains pid"));
			snprintf(pidtxt, sizeof(pidtxt), "tree of pid %d", (int)parent);
			ck_assert_ptr_nonnull(strstr(why, pidtxt));
		}
		/* The program named as CRIU's binary is refused by what it runs, whatever
		 * its name. */
		if (i == 2)
			ck_assert_ptr_nonnull(strstr(unmovable(parent, "/bin/sleep"), "CRIU"));
		proc_tree_signal(parent, SIGKILL);
		reap(parent);
		unlink(link);
	}
	rmdir(dir);
}
END_TEST

static Suite *proc_suite(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("proc");

	tcase_set_timeout(tc, 60);   /* a thousand forks under valgrind */
	tcase_add_test(tc, test_self);
	tcase_add_test(tc, test_bad_pids);
	tcase_add_test(tc, test_child_lifecycle);
	tcase_add_test(tc, test_zombie);
	tcase_add_test(tc, test_kthread);
	tcase_add_test(tc, test_tree);
	tcase_add_test(tc, test_tree_many_children);
	tcase_add_test(tc, test_tree_signal_other);
	tcase_add_test(tc, test_unmovable);
	tcase_add_test(tc, test_unmovable_member);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
