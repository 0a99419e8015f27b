/* workload.c: the process tree the integration tests and benchmarks migrate.
 *
 *   workload --mib N --status FILE [--seed S] [--tick-ms T] [--dirty-mib-per-s R]
 *            [--children K] [--fill random|text|zeros]
 *   workload --print-checksum --mib N [--seed S] [--fill random|text|zeros]
 *
 * It fills N MiB of anonymous memory with pseudo-random words and then ticks forever.
 * --fill chooses what the words look like, for the compression tests: random (the
 * default, incompressible), text (8-byte words of English from a vocabulary of 32,
 * chosen by the same stream: a heap of strings compresses about as well) or zeros
 * (written, so the pages are real pages that CRIU dumps, not the zero page).
 * Every tick it counts, measures the wall-clock gap since the previous tick (a
 * migration shows as one long gap), checksums a slice of the region and rewrites the
 * status file FILE with one line:
 *
 *   counter=N checksum=HEX expected=HEX sum_at=N max_gap_ms=N last_gap_ms=N ticks=N
 *   mib=N passes=N tick_ms=N rewrites=N
 *
 * counter and ticks both count ticks (ticks is kept for the format's readers);
 * checksum is the result of the last complete pass over the region and sum_at the
 * counter value at which that pass began, so every word it covered was read at or after
 * tick sum_at. expected is the checksum of the content the region must hold.
 *
 * Memory is handled in 4 KiB blocks. Block b holds the xorshift64 stream seeded from
 * (S, b), each word XORed with a mask derived from the block's generation gen[b]
 * (0 at start). --dirty-mib-per-s rewrites blocks in turn: every word of the block
 * changes to the next generation's mask and gen[b] is incremented. The checksum
 * undoes the mask with gen[b] before hashing, so it stays equal to expected while
 * the bytes really change. A migration that loses a rewrite (a stale block, or a
 * generation table that does not match its blocks) therefore shows as a checksum
 * mismatch, which rewriting pages with identical bytes would hide.
 *
 * The process is meant to be pid 1 of its own PID namespace
 * (`unshare -p -f setsid workload ...`), so it reaps every child it inherits. stdio
 * should be /dev/null: CRIU dumps open files, and the status file is opened and
 * closed for every write for the same reason. SIGTERM exits 0. SIGUSR1 sets
 * max_gap_ms back to 0, so that after a migration it holds the gap that migration
 * caused and nothing earlier. */
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK         4096
#define BLOCK_WORDS   (BLOCK / 8)
#define MIB           (1024 * 1024)
#define PASS_MS       250     /* one checksum pass over the region takes this long */
#define CHILD_BUF     (256 * 1024)
#define FNV_OFFSET    0xcbf29ce484222325ULL
#define FNV_PRIME     0x100000001b3ULL
#define LANES         4

struct opts {
	long mib;
	uint64_t seed;
	long tick_ms;
	long dirty_mib_per_s;
	long children;
	const char *status;
	int print_checksum;
};

/* The running checksum: LANES independent FNV-style states so the multiplies of
 * neighbouring words do not wait for each other. */
struct csum {
	uint64_t h[LANES];
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t gap_reset_requested;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		gap_reset_requested = 1;
	else
		stop_requested = 1;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t block_seed(uint64_t seed, uint64_t block)
{
	uint64_t s = splitmix64(seed ^ splitmix64(block));

	/* xorshift64 is stuck at zero forever. */
	return s ? s : 0x2545f4914f6cdd1dULL;
}

static uint64_t gen_mask(uint32_t gen)
{
	return gen ? splitmix64(0xa5a5a5a5a5a5a5a5ULL + gen) : 0;
}

enum fill { FILL_RANDOM, FILL_TEXT, FILL_ZEROS };
static enum fill fill_kind;

/* --fill text: 32 words of 8 bytes, spaces included. */
static const char text_words[32][9] = {
	"the     ", "process ", "memory  ", "moves   ", "between ", "hosts   ", "while   ",
	"it      ", "runs    ", "and     ", "a       ", "page    ", "of      ", "data    ",
	"is      ", "sent    ", "over    ", "link    ", "to      ", "another ", "host    ",
	"where   ", "restore ", "begins  ", "with    ", "its     ", "state   ", "intact  ",
	"when    ", "done,   ", "then    ", "again.  ",
};

/* The canonical content of block b, before any generation mask. */
static void block_fill(uint64_t *w, uint64_t seed, uint64_t b)
{
	uint64_t x = block_seed(seed, b);

	for (int i = 0; i < BLOCK_WORDS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (fill_kind == FILL_TEXT)
			memcpy(&w[i], text_words[x >> 59], 8);
		else
			w[i] = fill_kind == FILL_ZEROS ? 0 : x;
	}
}

static void csum_init(struct csum *c)
{
	for (int l = 0; l < LANES; l++)
		c->h[l] = FNV_OFFSET + (uint64_t)l;
}

/* The rotate carries high bits down before the multiply, which plain FNV over
 * 64-bit words lacks (there a flip in bit 63 only ever reaches bit 63). */
static inline uint64_t mix(uint64_t h, uint64_t w)
{
	return (((h << 23) | (h >> 41)) ^ w) * FNV_PRIME;
}

/* Hash one block's words, each XORed with mask (0 for canonical content). */
static void csum_block(struct csum *c, const uint64_t *w, uint64_t mask)
{
	uint64_t h0 = c->h[0], h1 = c->h[1], h2 = c->h[2], h3 = c->h[3];

	for (int i = 0; i < BLOCK_WORDS; i += LANES) {
		h0 = mix(h0, w[i] ^ mask);
		h1 = mix(h1, w[i + 1] ^ mask);
		h2 = mix(h2, w[i + 2] ^ mask);
		h3 = mix(h3, w[i + 3] ^ mask);
	}
	c->h[0] = h0;
	c->h[1] = h1;
	c->h[2] = h2;
	c->h[3] = h3;
}

static uint64_t csum_final(const struct csum *c)
{
	uint64_t h = FNV_OFFSET;

	for (int l = 0; l < LANES; l++)
		h = mix(h, c->h[l]);
	return h;
}

/* The checksum the region holds at start, computed from the PRNG alone. When mem is
 * not NULL the blocks are also written there. */
static uint64_t fill_region(uint64_t *mem, uint64_t nblocks, uint64_t seed)
{
	uint64_t buf[BLOCK_WORDS];
	struct csum c;

	csum_init(&c);
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t *w = mem ? mem + b * BLOCK_WORDS : buf;

		block_fill(w, seed, b);
		csum_block(&c, w, 0);
	}
	return csum_final(&c);
}

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	/* An interrupted sleep just makes a short tick; SIGTERM is seen right after. */
	nanosleep(&ts, NULL);
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

/* A child: a small touched buffer and a sleep loop, so the migrated thing is a tree
 * with memory of its own in every process. It dies with its parent. */
static void child_main(pid_t parent, uint64_t seed, long index)
{
	uint64_t *buf;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The parent may have died before the prctl took effect. */
	if (getppid() != parent)
		_exit(0);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	buf = mmap(NULL, CHILD_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		_exit(1);
	for (uint64_t b = 0; b < CHILD_BUF / BLOCK; b++)
		block_fill(buf + b * BLOCK_WORDS, seed + 1 + (uint64_t)index, b);
	for (;;)
		sleep_ms(1000);
}

static int parse_num(const char *name, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "workload: --%s wants an integer in [%ld, %ld], got '%s'\n",
			name, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_seed(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-') {
		fprintf(stderr, "workload: --seed wants an unsigned integer, got '%s'\n", s);
		return -1;
	}
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: workload --mib N --status FILE [--seed S] [--tick-ms T]\n"
		"                [--dirty-mib-per-s R] [--children K] [--fill random|text|zeros]\n"
		"       workload --print-checksum --mib N [--seed S] [--fill random|text|zeros]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "status", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "tick-ms", required_argument, NULL, 't' },
		{ "dirty-mib-per-s", required_argument, NULL, 'd' },
		{ "children", required_argument, NULL, 'c' },
		{ "print-checksum", no_argument, NULL, 'p' },
		{ "fill", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct opts){ .seed = 1, .tick_ms = 10 };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if (parse_num("mib", optarg, 1, 1L << 20, &o->mib) < 0)
				return -1;
			break;
		case 's':
			o->status = optarg;
			break;
		case 'S':
			if (parse_seed(optarg, &o->seed) < 0)
				return -1;
			break;
		case 't':
			if (parse_num("tick-ms", optarg, 1, 60000, &o->tick_ms) < 0)
				return -1;
			break;
		case 'd':
			if (parse_num("dirty-mib-per-s", optarg, 0, 1L << 20, &o->dirty_mib_per_s) < 0)
				return -1;
			break;
		case 'c':
			if (parse_num("children", optarg, 0, 256, &o->children) < 0)
				return -1;
			break;
		case 'p':
			o->print_checksum = 1;
			break;
		case 'f':
			if (strcmp(optarg, "random") == 0) {
				fill_kind = FILL_RANDOM;
			} else if (strcmp(optarg, "text") == 0) {
				fill_kind = FILL_TEXT;
			} else if (strcmp(optarg, "zeros") == 0) {
				fill_kind = FILL_ZEROS;
			} else {
				fprintf(stderr, "workload: --fill wants random, text or zeros, "
					"got '%s'\n", optarg);
				return -1;
			}
			break;
		default:
			usage();
			return -1;
		}
	}
	if (optind != argc || o->mib == 0 || (!o->print_checksum && !o->status)) {
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

int main(int argc, char **argv)
{
	struct opts o;
	struct sigaction sa;
	uint64_t nblocks, *mem, expected, checksum;
	uint32_t *gen;
	char *status = NULL, *tmp = NULL;
	char line[512];
	pid_t *kids = NULL;
	uint64_t counter = 0, sum_at = 0, passes = 0, rewrites = 0;
	uint64_t pass_block = 0, pass_start = 0, pass_per_tick, dirty_cursor = 0;
	uint64_t dirty_budget = 0;    /* bytes owed to --dirty-mib-per-s, x1000 */
	int64_t prev, max_gap = 0, last_gap = 0;
	struct csum pass;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	nblocks = (uint64_t)o.mib * (MIB / BLOCK);

	if (o.print_checksum) {
		printf("%016" PRIx64 "\n", fill_region(NULL, nblocks, o.seed));
		return 0;
	}

	status = absolute_path(o.status);
	if (!status || asprintf(&tmp, "%s.tmp", status) < 0) {
		perror("workload: status path");
		return 1;
	}
	if (chdir("/") < 0) {
		perror("workload: chdir /");
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	/* Children come first so they do not share the region copy-on-write. */
	if (o.children > 0) {
		pid_t self = getpid();

		kids = calloc((size_t)o.children, sizeof(*kids));
		if (!kids)
			return 1;
		for (long i = 0; i < o.children; i++) {
			kids[i] = fork();
			if (kids[i] == 0)
				child_main(self, o.seed, i);
			if (kids[i] < 0) {
				perror("workload: fork");
				return 1;
			}
		}
	}

	mem = mmap(NULL, nblocks * BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	gen = calloc(nblocks, sizeof(*gen));
	if (mem == MAP_FAILED || !gen) {
		fprintf(stderr, "workload: cannot allocate %ld MiB\n", o.mib);
		return 1;
	}
	expected = fill_region(mem, nblocks, o.seed);

	/* The first pass is whole and synchronous, so the first status line already
	 * carries a checksum read from the region. */
	csum_init(&pass);
	for (uint64_t b = 0; b < nblocks; b++)
		csum_block(&pass, mem + b * BLOCK_WORDS, gen_mask(gen[b]));
	checksum = csum_final(&pass);
	passes = 1;
	sum_at = 1;     /* it counts as read at the first tick */
	csum_init(&pass);

	/* Later passes are spread over the ticks of PASS_MS, so checking the region
	 * does not itself show up as a gap. */
	pass_per_tick = (nblocks * (uint64_t)o.tick_ms + PASS_MS - 1) / PASS_MS;
	if (pass_per_tick == 0)
		pass_per_tick = 1;

	prev = realtime_ms();
	while (!stop_requested) {
		int64_t now;
		int n;

		counter++;
		now = realtime_ms();
		if (gap_reset_requested) {
			gap_reset_requested = 0;
			max_gap = 0;
		}
		if (counter > 1) {
			last_gap = now - prev;
			if (last_gap > max_gap)
				max_gap = last_gap;
		}
		prev = now;

		while (waitpid(-1, NULL, WNOHANG) > 0)
			;

		if (o.dirty_mib_per_s > 0) {
			dirty_budget += (uint64_t)o.dirty_mib_per_s * MIB * (uint64_t)o.tick_ms;
			while (dirty_budget >= (uint64_t)BLOCK * 1000) {
				uint64_t *w = mem + dirty_cursor * BLOCK_WORDS;
				uint64_t m = gen_mask(gen[dirty_cursor]) ^
					     gen_mask(gen[dirty_cursor] + 1);

				for (int i = 0; i < BLOCK_WORDS; i++)
					w[i] ^= m;
				gen[dirty_cursor]++;
				dirty_cursor = (dirty_cursor + 1) % nblocks;
				dirty_budget -= (uint64_t)BLOCK * 1000;
				rewrites++;
			}
		}

		if (pass_block == 0)
			pass_start = counter;
		for (uint64_t i = 0; i < pass_per_tick && pass_block < nblocks; i++, pass_block++)
			csum_block(&pass, mem + pass_block * BLOCK_WORDS, gen_mask(gen[pass_block]));
		if (pass_block == nblocks) {
			checksum = csum_final(&pass);
			sum_at = pass_start;
			passes++;
			pass_block = 0;
			csum_init(&pass);
		}

		n = snprintf(line, sizeof(line),
			     "counter=%" PRIu64 " checksum=%016" PRIx64 " expected=%016" PRIx64
			     " sum_at=%" PRIu64 " max_gap_ms=%" PRId64 " last_gap_ms=%" PRId64
			     " ticks=%" PRIu64 " mib=%ld passes=%" PRIu64 " tick_ms=%ld"
			     " rewrites=%" PRIu64 "\n",
			     counter, checksum, expected, sum_at, max_gap, last_gap, counter,
			     o.mib, passes, o.tick_ms, rewrites);
		if (n > 0 && (size_t)n < sizeof(line))
			write_status(status, tmp, line, (size_t)n);

		sleep_ms(o.tick_ms);
	}

	for (long i = 0; i < o.children; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	return 0;
}
