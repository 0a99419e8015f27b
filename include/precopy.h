/* precopy.h: the choice of strategy and the stop rule of iterative pre-copy, as pure
 * functions of the kernel's features, the options and the statistics so far, so
 * that they can be tested without a kernel that tracks memory. */
#ifndef HAULD_PRECOPY_H
#define HAULD_PRECOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* P.Haul's defaults: at most 8 pre-dumps; stop when one writes 64 pages or fewer,
 * or writes more than 10 % more than the one before (the tree dirties memory faster
 * than we copy it). */
#define PRECOPY_MAX_ITERATIONS  8
#define PRECOPY_MIN_PAGES       64
#define PRECOPY_MAX_GROWTH_PCT  10
#define PRECOPY_ITERATIONS_CAP  64     /* the most an operator may ask for */

struct precopy_policy {
	int max_iterations;      /* pre-dumps at most; 0 disables pre-copy */
	int64_t min_pages;       /* converged when a pre-dump writes this few pages */
	int max_growth_pct;      /* diverging when it writes this much more than before */
};

enum precopy_verdict {
	PRECOPY_CONTINUE,
	PRECOPY_STOP_MAX,        /* max_iterations reached */
	PRECOPY_STOP_CONVERGED,  /* the last pre-dump wrote min_pages or fewer */
	PRECOPY_STOP_GROWING,    /* the last pre-dump grew by more than max_growth_pct */
};

void precopy_policy_default(struct precopy_policy *p);

/* After n pre-dumps that wrote pages_written[0..n-1] pages: another one, or the final
 * dump? n == 0 asks whether to start at all. */
enum precopy_verdict precopy_next(const struct precopy_policy *p, const int64_t *pages_written,
				  size_t n);
const char *precopy_verdict_text(enum precopy_verdict v);

enum strategy { STRATEGY_STOP_AND_COPY, STRATEGY_PRECOPY };

/* What mode "live" runs as, given whether the source kernel tracks dirty memory and
 * the policy; reason (len bytes) says why, for the job record. */
enum strategy strategy_choose(bool mem_track, const struct precopy_policy *p, char *reason,
			      size_t len);
const char *strategy_name(enum strategy s);

#endif
