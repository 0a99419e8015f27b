/* fds.c: one process holding many kinds of file descriptor, for the integration
 * tests to migrate.
 *
 *   fds --status FILE --append PATH [--tick-ms T]
 *
 * It opens PATH with O_WRONLY|O_APPEND|O_CREAT once and keeps it open, and waits in
 * epoll on three descriptors:
 *
 *   a timerfd    periodic, every T ms (default 10);
 *   an eventfd   every timer read writes the number of expirations it returned;
 *   a signalfd   SIGUSR2 (and SIGTERM, SIGINT, SIGCHLD), all blocked, so they are
 *                delivered only through it.
 *
 * After every wake-up it rewrites FILE with one line:
 *
 *   ticks=T events=E appended=A signals=S errors=X rearms=R
 *
 * ticks     timer expirations read from the timerfd since start
 * events    the sum of the values read from the eventfd. The process is its only
 *           writer and every read drains it, so each read must return exactly
 *           ticks - events; a lost or doubled eventfd counter shows as an error,
 *           and events trails ticks by at most the last timer read.
 * appended  lines appended to PATH: line n is "seq=n\n", one for every 5 ticks
 *           (appended = ticks / 5 unless a write failed), each with a single write
 *           on the held descriptor. PATH therefore holds seq=1..seq=A, no gap and no
 *           duplicate, when nobody else writes it.
 * signals   SIGUSR2 signals read from the signalfd. Like any standard signal, several
 *           sent before the process reads them count once.
 * errors    an eventfd read that disagrees with ticks - events, a failed or short
 *           write (eventfd or PATH), a failed read, an unexpected epoll error. Never
 *           reset.
 * rearms    times the periodic timer was found disarmed and armed again. CRIU 4.2.1
 *           dumps a periodic timerfd whose expiration is pending (always the case
 *           once the frozen process has missed a tick) with it_value 0, and restores
 *           it with timerfd_settime(it_value 0), which disarms it: the process would
 *           see one last tick and then none. hauld's scripts/setup.sh builds CRIU
 *           with a fix (scripts/criu-patches/), so the tests expect 0 here; a CRIU
 *           without it shows one per restore. A healthy periodic timer never reads
 *           back it_value 0 from timerfd_gettime (the call forwards an expired one),
 *           so the process checks after every timer read and when epoll waits 1 s
 *           for nothing.
 *
 * The process is meant to be pid 1 of its own PID namespace
 * (`unshare -p -f setsid fds ...`), so it reaps every child it inherits. stdio
 * should be /dev/null: CRIU dumps open files, and the status file is opened and
 * closed for every write for the same reason. SIGTERM exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICKS_PER_LINE 5
#define MAX_LINES_PER_WAKE 64   /* a catch-up after a long stop is spread over wakes */
#define MAX_EVENTS     8

struct opts {
	long tick_ms;
	const char *status;
	const char *append;
};

struct state {
	int epfd, tfd, efd, sfd, afd;
	struct itimerspec period;
	uint64_t ticks, events, appended, signals, errors, rearms;
	int stop;
};

static int parse_num(const char *name, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "fds: --%s wants an integer in [%ld, %ld], got '%s'\n",
			name, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: fds --status FILE --append PATH [--tick-ms T]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "status", required_argument, NULL, 's' },
		{ "append", required_argument, NULL, 'a' },
		{ "tick-ms", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct opts){ .tick_ms = 10 };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->status = optarg;
			break;
		case 'a':
			o->append = optarg;
			break;
		case 't':
			if (parse_num("tick-ms", optarg, 1, 60000, &o->tick_ms) < 0)
				return -1;
			break;
		default:
			usage();
			return -1;
		}
	}
	if (optind != argc || !o->status || !o->append) {
		usage();
		return -1;
	}
	return 0;
}

/* A path made absolute, so the process can live in "/". Heap, caller frees. */
static char *absolute_path(const char *p)
{
	char cwd[PATH_MAX];
	char *out = NULL;

	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

static int watch(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* The signals of interest are blocked first, so none is lost between the mask and
 * the signalfd and none ever runs a default action. */
static int open_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int open_timerfd(const struct itimerspec *period)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd >= 0 && timerfd_settime(fd, 0, period, NULL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Arm the timer again if it reads back disarmed (see rearms above). */
static void check_timer(struct state *s)
{
	struct itimerspec cur;

	if (timerfd_gettime(s->tfd, &cur) < 0) {
		s->errors++;
		return;
	}
	if (cur.it_value.tv_sec || cur.it_value.tv_nsec)
		return;
	if (timerfd_settime(s->tfd, 0, &s->period, NULL) < 0)
		s->errors++;
	else
		s->rearms++;
}

static int setup(struct state *s, const struct opts *o, const char *append)
{
	*s = (struct state){ .epfd = -1 };
	s->period.it_interval.tv_sec = o->tick_ms / 1000;
	s->period.it_interval.tv_nsec = (o->tick_ms % 1000) * 1000000L;
	s->period.it_value = s->period.it_interval;
	s->afd = open(append, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	s->sfd = open_signalfd();
	s->tfd = open_timerfd(&s->period);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->afd < 0 || s->sfd < 0 || s->tfd < 0 || s->efd < 0 || s->epfd < 0)
		return -1;
	if (watch(s->epfd, s->tfd) < 0 || watch(s->epfd, s->efd) < 0 ||
	    watch(s->epfd, s->sfd) < 0)
		return -1;
	return 0;
}

/* Append the lines owed for the ticks so far: line n is due at tick 5n. */
static void append_lines(struct state *s)
{
	char line[32];

	for (int i = 0; i < MAX_LINES_PER_WAKE; i++) {
		uint64_t seq = s->appended + 1;
		int n;

		if (seq * TICKS_PER_LINE > s->ticks)
			return;
		n = snprintf(line, sizeof(line), "seq=%" PRIu64 "\n", seq);
		if (write(s->afd, line, (size_t)n) != n) {
			/* Retried on the next wake; a short write has already spoilt the file
			 * and the error says so. */
			s->errors++;
			return;
		}
		s->appended = seq;
	}
}

static void on_timer(struct state *s)
{
	uint64_t exp;
	ssize_t n = read(s->tfd, &exp, sizeof(exp));

	if (n < 0 && errno == EAGAIN)
		return;
	if (n != (ssize_t)sizeof(exp)) {
		s->errors++;
		return;
	}
	s->ticks += exp;
	if (write(s->efd, &exp, sizeof(exp)) != (ssize_t)sizeof(exp))
		s->errors++;
	append_lines(s);
	check_timer(s);
}

static void on_event(struct state *s)
{
	uint64_t v;
	ssize_t n = read(s->efd, &v, sizeof(v));

	if (n < 0 && errno == EAGAIN)
		return;
	if (n != (ssize_t)sizeof(v)) {
		s->errors++;
		return;
	}
	/* The read drained everything the timer side wrote and has not been read. */
	if (v != s->ticks - s->events)
		s->errors++;
	s->events += v;
}

static void on_signal(struct state *s)
{
	struct signalfd_siginfo si;

	/* Bounded by the number of signals that can be pending at once. */
	for (int i = 0; i < 64; i++) {
		ssize_t n = read(s->sfd, &si, sizeof(si));

		if (n < 0 && errno == EAGAIN)
			return;
		if (n != (ssize_t)sizeof(si)) {
			s->errors++;
			return;
		}
		if (si.ssi_signo == SIGUSR2)
			s->signals++;
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			s->stop = 1;
		/* SIGCHLD needs nothing here: every wake reaps. */
	}
}

static void dispatch(struct state *s, int fd)
{
	if (fd == s->tfd)
		on_timer(s);
	else if (fd == s->efd)
		on_event(s);
	else if (fd == s->sfd)
		on_signal(s);
}

static int write_status(const char *path, const char *tmp, const char *line, size_t len)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, line, len);
	if (close(fd) < 0 || n != (ssize_t)len)
		return -1;
	return rename(tmp, path);
}

static void report(const struct state *s, const char *status, const char *tmp)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "ticks=%" PRIu64 " events=%" PRIu64 " appended=%" PRIu64
			 " signals=%" PRIu64 " errors=%" PRIu64 " rearms=%" PRIu64 "\n",
			 s->ticks, s->events, s->appended, s->signals, s->errors, s->rearms);

	if (n > 0 && (size_t)n < sizeof(line))
		write_status(status, tmp, line, (size_t)n);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct state s;
	char *status, *append, *tmp = NULL;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	status = absolute_path(o.status);
	append = absolute_path(o.append);
	if (!status || !append || asprintf(&tmp, "%s.tmp", status) < 0) {
		perror("fds: path");
		return 1;
	}
	if (chdir("/") < 0) {
		perror("fds: chdir /");
		return 1;
	}
	if (setup(&s, &o, append) < 0) {
		perror("fds: setup");
		return 1;
	}
	report(&s, status, tmp);

	while (!s.stop) {
		struct epoll_event ev[MAX_EVENTS];
		int n = epoll_wait(s.epfd, ev, MAX_EVENTS, 1000);

		if (n < 0 && errno != EINTR) {
			struct timespec pause = { .tv_nsec = 10 * 1000000L };

			/* Counted, and paced, so a broken epoll cannot spin. */
			s.errors++;
			nanosleep(&pause, NULL);
		}
		if (n == 0)
			check_timer(&s);
		for (int i = 0; i < n; i++)
			dispatch(&s, ev[i].data.fd);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		report(&s, status, tmp);
	}
	free(status);
	free(append);
	free(tmp);
	return 0;
}
