/* tree.c: a multi-process tree for the integration tests to migrate.
 *
 *   tree --workers N --status FILE [--mib M] [--tick-ms T]
 *
 * The parent maps M MiB (default 8) of MAP_SHARED|MAP_ANONYMOUS memory, fills it
 * with a deterministic pattern, and forks N workers (1..16). Each worker has its own
 * pipe (parent -> worker) and unix SOCK_SEQPACKET socketpair (worker -> parent).
 * Every round (one every T ms, default 20) the parent sends the round number down
 * each pipe; the worker increments its counter slot in the shared region, checks a
 * rolling slice of the shared pattern against the pattern regenerated from the PRNG,
 * and answers (seq, counter, ok) on its socket. The parent checks each answer: the
 * seq is this round's, the counter is the previous one plus exactly one, the
 * worker's slot in the shared region holds that same counter (so the memory really
 * is still shared between the processes), and the slice was intact. The parent also
 * checks a slice of its own each round. Then it rewrites FILE with one line:
 *
 *   round=R workers=N alive=L answered=A errors=E pattern_ok=B pids=P1,P2,...
 *   counters=C1,C2,...
 *
 * round      rounds completed (the seq of the last token sent; starts at 1)
 * workers    N, the number of workers started
 * alive      workers not yet seen to exit (waitpid) or to close their socket
 * answered   workers whose answer for this round arrived and passed every check
 * errors     mismatches since start: a wrong seq or counter, a failed slice check,
 *            a shared slot that disagrees, a failed send, a short or missing answer
 *            (none within 5 s), a worker that died. It is never reset.
 * pattern_ok 1 while no slice check (a worker's or the parent's) has ever failed
 * pids       the workers' pids as the parent sees them (inside its PID namespace)
 * counters   each worker's last accepted counter; all equal round when all is well
 *
 * A healthy tree after any number of migrations shows answered=N errors=0
 * pattern_ok=1 and counters all equal to round.
 *
 * The process is meant to be pid 1 of its own PID namespace
 * (`unshare -p -f setsid tree ...`), so it reaps every child it inherits. stdio
 * should be /dev/null: CRIU dumps open files, and the status file is opened and
 * closed for every write for the same reason. SIGTERM exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK          4096
#define BLOCK_WORDS    (BLOCK / 8)
#define MIB            (1024 * 1024)
#define MAX_WORKERS    16
#define SLICE_BLOCKS   16      /* blocks checked per process per round (64 KiB) */
#define SLOT_STRIDE    8       /* words between counter slots: one cache line each */
#define POLL_STEP_MS   50
#define ANSWER_STEPS   100     /* POLL_STEP_MS steps: an answer is missing after 5 s */
#define SEED           0x7472656573656564ULL
#define FNV_OFFSET     0xcbf29ce484222325ULL
#define FNV_PRIME      0x100000001b3ULL

/* What a worker sends back for every token. */
struct answer {
	uint64_t seq;
	uint64_t counter;
	uint32_t ok;
	uint32_t index;
};

struct worker {
	pid_t pid;
	int to_fd;            /* parent's write end of the token pipe, -1 when dead */
	int from_fd;          /* parent's end of the socketpair, -1 when dead */
	uint64_t counter;     /* last accepted counter */
	int done;             /* this round's answer arrived */
	int good;             /* and passed every check */
};

struct opts {
	long workers;
	long mib;
	long tick_ms;
	const char *status;
};

/* The shared region: block 0 holds the counter slots, blocks 1.. the pattern. */
struct region {
	uint64_t *mem;
	uint64_t nblocks;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The canonical content of pattern block b: an xorshift64 stream seeded from b. */
static void block_fill(uint64_t *w, uint64_t b)
{
	uint64_t x = splitmix64(SEED ^ splitmix64(b));

	/* xorshift64 is stuck at zero forever. */
	if (x == 0)
		x = 0x2545f4914f6cdd1dULL;
	for (int i = 0; i < BLOCK_WORDS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

static uint64_t block_hash(const uint64_t *w)
{
	uint64_t h = FNV_OFFSET;

	for (int i = 0; i < BLOCK_WORDS; i++)
		h = (((h << 23) | (h >> 41)) ^ w[i]) * FNV_PRIME;
	return h;
}

static volatile uint64_t *slot(const struct region *r, long index)
{
	return (volatile uint64_t *)r->mem + index * SLOT_STRIDE;
}

/* Check SLICE_BLOCKS pattern blocks from *cursor on against the PRNG, moving the
 * cursor on so that every process covers the whole region over time. Returns 1
 * when they all match. */
static int check_slice(const struct region *r, uint64_t *cursor)
{
	uint64_t want[BLOCK_WORDS];
	uint64_t npattern = r->nblocks - 1;
	int ok = 1;

	for (int i = 0; i < SLICE_BLOCKS; i++) {
		uint64_t b = 1 + *cursor;

		block_fill(want, b);
		if (block_hash(want) != block_hash(r->mem + b * BLOCK_WORDS))
			ok = 0;
		*cursor = (*cursor + 1) % npattern;
	}
	return ok;
}

static int region_create(struct region *r, long mib)
{
	r->nblocks = (uint64_t)mib * (MIB / BLOCK);
	r->mem = mmap(NULL, r->nblocks * BLOCK, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->mem == MAP_FAILED)
		return -1;
	/* Block 0 (the slots) is already zero. */
	for (uint64_t b = 1; b < r->nblocks; b++)
		block_fill(r->mem + b * BLOCK_WORDS, b);
	return 0;
}

/* Read exactly len bytes, retrying on EINTR; 0 on EOF or error. */
static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

/* A worker: wait for a token, count, check, answer, until the pipe closes (the
 * parent is gone) or a write fails. It dies with its parent. */
static void worker_main(const struct region *r, long index, long nworkers, int in_fd,
			int out_fd, pid_t parent)
{
	uint64_t cursor = (uint64_t)index * (r->nblocks - 1) / (uint64_t)nworkers;
	uint64_t seq;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The parent may have died before the prctl took effect. */
	if (getppid() != parent)
		_exit(0);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	while (read_full(in_fd, &seq, sizeof(seq))) {
		struct answer a = { .seq = seq, .index = (uint32_t)index };

		*slot(r, index) += 1;
		a.counter = *slot(r, index);
		a.ok = (uint32_t)check_slice(r, &cursor);
		if (send(out_fd, &a, sizeof(a), MSG_NOSIGNAL) != (ssize_t)sizeof(a))
			_exit(1);
	}
	_exit(0);
}

/* In a new worker: close the parent's ends of the n earlier workers, so that each
 * end has one holder and a dead process shows as EOF on the other side. */
static void close_others(const struct worker *w, long n)
{
	for (long i = 0; i < n; i++) {
		if (w[i].to_fd >= 0)
			close(w[i].to_fd);
		if (w[i].from_fd >= 0)
			close(w[i].from_fd);
	}
}

/* Create worker i's pipe and socketpair and fork it. The parent keeps the pipe's
 * write end and one socket; the worker the pipe's read end and the other. */
static int spawn(struct worker *w, long i, long n, const struct region *r)
{
	int p[2], s[2];
	pid_t self = getpid(), pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[1]);
		close(s[0]);
		close_others(w, i);
		worker_main(r, i, n, p[0], s[1], self);
	}
	close(p[0]);
	close(s[1]);
	/* A stuck worker must not block the parent once its pipe is full. */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	w[i] = (struct worker){ .pid = pid, .to_fd = p[1], .from_fd = s[0] };
	return 0;
}

static void worker_drop(struct worker *w)
{
	if (w->to_fd >= 0)
		close(w->to_fd);
	if (w->from_fd >= 0)
		close(w->from_fd);
	w->to_fd = w->from_fd = -1;
}

/* Reap every exited child; a worker among them is dropped and counted. */
static void reap(struct worker *w, long n, uint64_t *errors)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		for (long i = 0; i < n; i++) {
			if (w[i].pid == pid && w[i].to_fd >= 0) {
				worker_drop(&w[i]);
				(*errors)++;
			}
		}
	}
}

static void send_tokens(struct worker *w, long n, uint64_t seq, uint64_t *errors)
{
	for (long i = 0; i < n; i++) {
		w[i].done = w[i].good = 0;
		if (w[i].to_fd < 0)
			continue;
		if (write(w[i].to_fd, &seq, sizeof(seq)) != (ssize_t)sizeof(seq)) {
			worker_drop(&w[i]);
			(*errors)++;
		}
	}
}

/* Check one answer from worker i. An unreadable socket (EOF: the worker is gone)
 * drops the worker. Every failed check counts one error. */
static void take_answer(struct worker *w, long i, const struct region *r, uint64_t seq,
			uint64_t *errors, int *pattern_ok)
{
	struct answer a;
	ssize_t n = recv(w[i].from_fd, &a, sizeof(a), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != (ssize_t)sizeof(a)) {
		worker_drop(&w[i]);
		(*errors)++;
		return;
	}
	if (a.seq != seq || a.index != (uint32_t)i) {
		/* A late answer to an earlier round: counted, and still waited for. */
		(*errors)++;
		return;
	}
	w[i].done = 1;
	w[i].good = 1;
	if (!a.ok) {
		*pattern_ok = 0;
		(*errors)++;
		w[i].good = 0;
	}
	if (a.counter != w[i].counter + 1 || *slot(r, i) != a.counter) {
		(*errors)++;
		w[i].good = 0;
	}
	w[i].counter = a.counter;
}

static long build_pollset(const struct worker *w, long n, struct pollfd *pfd, long *idx)
{
	long k = 0;

	for (long i = 0; i < n; i++) {
		if (w[i].from_fd < 0 || w[i].done)
			continue;
		pfd[k] = (struct pollfd){ .fd = w[i].from_fd, .events = POLLIN };
		idx[k++] = i;
	}
	return k;
}

/* Wait for this round's answers. The wait is many short polls rather than one long
 * one: after a restore the clock has jumped, and a restarted poll may return at
 * once, which must cost one step and not the whole wait. Returns the number of
 * workers that answered correctly. */
static long collect(struct worker *w, long n, const struct region *r, uint64_t seq,
		    uint64_t *errors, int *pattern_ok)
{
	struct pollfd pfd[MAX_WORKERS];
	long idx[MAX_WORKERS], got = 0;
	int seen[MAX_WORKERS] = { 0 };   /* sent anything at all this round */

	for (int step = 0; step < ANSWER_STEPS && !stop_requested; step++) {
		long k = build_pollset(w, n, pfd, idx);

		if (k == 0)
			break;
		if (poll(pfd, (nfds_t)k, POLL_STEP_MS) <= 0)
			continue;
		for (long j = 0; j < k; j++) {
			if (pfd[j].revents) {
				take_answer(w, idx[j], r, seq, errors, pattern_ok);
				seen[idx[j]] = 1;
			}
		}
	}
	for (long i = 0; i < n; i++) {
		if (w[i].good)
			got++;
		else if (w[i].from_fd >= 0 && !seen[i])
			(*errors)++;   /* alive but silent for the whole wait */
	}
	return got;
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

/* Append ",V" (or "V" first) for each worker to buf at *off, bounded by size. */
static void append_list(char *buf, size_t size, size_t *off, const char *name,
			const struct worker *w, long n, int pids)
{
	int m = snprintf(buf + *off, size - *off, " %s=", name);

	if (m < 0 || (size_t)m >= size - *off)
		return;
	*off += (size_t)m;
	for (long i = 0; i < n; i++) {
		uint64_t v = pids ? (uint64_t)w[i].pid : w[i].counter;

		m = snprintf(buf + *off, size - *off, "%s%" PRIu64, i ? "," : "", v);
		if (m < 0 || (size_t)m >= size - *off)
			return;
		*off += (size_t)m;
	}
}

static void report(const char *status, const char *tmp, const struct worker *w, long n,
		   uint64_t round, long answered, uint64_t errors, int pattern_ok)
{
	char line[1024];
	size_t off;
	long alive = 0;
	int m;

	for (long i = 0; i < n; i++)
		alive += w[i].from_fd >= 0;
	m = snprintf(line, sizeof(line),
		     "round=%" PRIu64 " workers=%ld alive=%ld answered=%ld errors=%" PRIu64
		     " pattern_ok=%d",
		     round, n, alive, answered, errors, pattern_ok);
	if (m < 0 || (size_t)m >= sizeof(line))
		return;
	off = (size_t)m;
	append_list(line, sizeof(line), &off, "pids", w, n, 1);
	append_list(line, sizeof(line), &off, "counters", w, n, 0);
	if (off + 1 >= sizeof(line))
		return;
	line[off++] = '\n';
	write_status(status, tmp, line, off);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	/* An interrupted sleep just makes a short tick; SIGTERM is seen right after. */
	nanosleep(&ts, NULL);
}

static int parse_num(const char *name, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "tree: --%s wants an integer in [%ld, %ld], got '%s'\n",
			name, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: tree --workers N --status FILE [--mib M] [--tick-ms T]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "workers", required_argument, NULL, 'w' },
		{ "status", required_argument, NULL, 's' },
		{ "mib", required_argument, NULL, 'm' },
		{ "tick-ms", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct opts){ .mib = 8, .tick_ms = 20 };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			if (parse_num("workers", optarg, 1, MAX_WORKERS, &o->workers) < 0)
				return -1;
			break;
		case 's':
			o->status = optarg;
			break;
		case 'm':
			if (parse_num("mib", optarg, 1, 4096, &o->mib) < 0)
				return -1;
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
	if (optind != argc || o->workers == 0 || !o->status) {
		usage();
		return -1;
	}
	return 0;
}

/* The status path made absolute, so the process can live in "/". Heap, caller frees. */
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

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A dead worker's pipe must show as EPIPE, not kill the parent. */
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct region r;
	struct worker w[MAX_WORKERS];
	char *status = NULL, *tmp = NULL;
	uint64_t round = 0, errors = 0, cursor = 0;
	int pattern_ok = 1;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	status = absolute_path(o.status);
	if (!status || asprintf(&tmp, "%s.tmp", status) < 0) {
		perror("tree: status path");
		return 1;
	}
	if (chdir("/") < 0) {
		perror("tree: chdir /");
		return 1;
	}
	install_signals();
	if (region_create(&r, o.mib) < 0) {
		fprintf(stderr, "tree: cannot map %ld MiB\n", o.mib);
		return 1;
	}
	for (long i = 0; i < o.workers; i++)
		w[i] = (struct worker){ .to_fd = -1, .from_fd = -1 };
	for (long i = 0; i < o.workers; i++) {
		if (spawn(w, i, o.workers, &r) < 0) {
			perror("tree: worker");
			return 1;
		}
	}

	while (!stop_requested) {
		long answered;

		round++;
		reap(w, o.workers, &errors);
		send_tokens(w, o.workers, round, &errors);
		answered = collect(w, o.workers, &r, round, &errors, &pattern_ok);
		if (!check_slice(&r, &cursor)) {
			pattern_ok = 0;
			errors++;
		}
		report(status, tmp, w, o.workers, round, answered, errors, pattern_ok);
		sleep_ms(o.tick_ms);
	}

	for (long i = 0; i < o.workers; i++) {
		worker_drop(&w[i]);
		if (w[i].pid > 0)
			kill(w[i].pid, SIGKILL);
	}
	while (waitpid(-1, NULL, 0) > 0)
		;
	free(status);
	free(tmp);
	return 0;
}
