/* precopy.c: strategy choice and the pre-copy stop rule. */
#include <stdio.h>

#include "precopy.h"

void precopy_policy_default(struct precopy_policy *p)
{
	p->max_iterations = PRECOPY_MAX_ITERATIONS;
	p->min_pages = PRECOPY_MIN_PAGES;
	p->max_growth_pct = PRECOPY_MAX_GROWTH_PCT;
}

enum precopy_verdict precopy_next(const struct precopy_policy *p, const int64_t *pages_written,
				  size_t n)
{
	int64_t last, prev;

	if (n >= (size_t)(p->max_iterations > 0 ? p->max_iterations : 0))
		return PRECOPY_STOP_MAX;
	if (n == 0)
		return PRECOPY_CONTINUE;
	last = pages_written[n - 1];
	if (last <= p->min_pages)
		return PRECOPY_STOP_CONVERGED;
	if (n >= 2) {
		prev = pages_written[n - 2];
		/* last > prev * (1 + pct/100), in integers */
		if (last * 100 > prev * (100 + (int64_t)p->max_growth_pct))
			return PRECOPY_STOP_GROWING;
	}
	return PRECOPY_CONTINUE;
}

const char *precopy_verdict_text(enum precopy_verdict v)
{
	switch (v) {
	case PRECOPY_CONTINUE: return "another pre-dump";
	case PRECOPY_STOP_MAX: return "the iteration limit was reached";
	case PRECOPY_STOP_CONVERGED: return "the last pre-dump wrote few enough pages";
	case PRECOPY_STOP_GROWING: return "the tree dirtied memory faster than it was copied";
	}
	return "?";
}

enum strategy strategy_choose(bool mem_track, const struct precopy_policy *p, char *reason,
			      size_t len)
{
	if (!mem_track) {
		snprintf(reason, len, "the source kernel has no soft-dirty memory tracking, so "
			 "pre-copy cannot run: one dump streamed to the destination's page server");
		return STRATEGY_STOP_AND_COPY;
	}
	if (p->max_iterations <= 0) {
		snprintf(reason, len, "pre-copy disabled by max_iterations 0: one dump streamed "
			 "to the destination's page server");
		return STRATEGY_STOP_AND_COPY;
	}
	snprintf(reason, len, "the source kernel tracks dirty memory: up to %d pre-dumps while "
		 "the tree runs, then a final dump of what changed", p->max_iterations);
	return STRATEGY_PRECOPY;
}

const char *strategy_name(enum strategy s)
{
	return s == STRATEGY_PRECOPY ? "pre-copy" : "stop-and-copy";
}
