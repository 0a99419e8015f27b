/* Unit tests of the strategy choice and the pre-copy stop rule (precopy.c), over
 * synthetic statistics: this kernel cannot run pre-copy, so these pin its logic. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "precopy.h"

static struct precopy_policy defaults(void)
{
	struct precopy_policy p;

	precopy_policy_default(&p);
	return p;
}

START_TEST(test_defaults_follow_phaul)
{
	struct precopy_policy p = defaults();

	ck_assert_int_eq(p.max_iterations, 8);
	ck_assert_int_eq(p.min_pages, 64);
	ck_assert_int_eq(p.max_growth_pct, 10);
}
END_TEST

START_TEST(test_first_predump_always_runs)
{
	struct precopy_policy p = defaults();

	ck_assert_int_eq(precopy_next(&p, NULL, 0), PRECOPY_CONTINUE);
}
END_TEST

START_TEST(test_shrinking_continues)
{
	struct precopy_policy p = defaults();
	int64_t w[] = { 16384, 4000, 900 };

	ck_assert_int_eq(precopy_next(&p, w, 1), PRECOPY_CONTINUE);
	ck_assert_int_eq(precopy_next(&p, w, 2), PRECOPY_CONTINUE);
	ck_assert_int_eq(precopy_next(&p, w, 3), PRECOPY_CONTINUE);
}
END_TEST

START_TEST(test_converged_at_min_pages)
{
	struct precopy_policy p = defaults();
	int64_t at[] = { 16384, 64 };
	int64_t above[] = { 16384, 65 };

	ck_assert_int_eq(precopy_next(&p, at, 2), PRECOPY_STOP_CONVERGED);
	ck_assert_int_eq(precopy_next(&p, above, 2), PRECOPY_CONTINUE);
	/* A first pre-dump that is already tiny also ends pre-copy. */
	ck_assert_int_eq(precopy_next(&p, at + 1, 1), PRECOPY_STOP_CONVERGED);
}
END_TEST

START_TEST(test_growth_boundary)
{
	struct precopy_policy p = defaults();
	int64_t ten[] = { 1000, 1100 };    /* exactly +10 %: not more than 10 % */
	int64_t more[] = { 1000, 1101 };

	ck_assert_int_eq(precopy_next(&p, ten, 2), PRECOPY_CONTINUE);
	ck_assert_int_eq(precopy_next(&p, more, 2), PRECOPY_STOP_GROWING);
}
END_TEST

START_TEST(test_max_iterations)
{
	struct precopy_policy p = defaults();
	int64_t w[8] = { 9000, 8000, 7000, 6000, 5000, 4000, 3000, 2000 };

	ck_assert_int_eq(precopy_next(&p, w, 7), PRECOPY_CONTINUE);
	ck_assert_int_eq(precopy_next(&p, w, 8), PRECOPY_STOP_MAX);
	p.max_iterations = 2;
	ck_assert_int_eq(precopy_next(&p, w, 2), PRECOPY_STOP_MAX);
	p.max_iterations = 0;
	ck_assert_int_eq(precopy_next(&p, NULL, 0), PRECOPY_STOP_MAX);
	p.max_iterations = -3;
	ck_assert_int_eq(precopy_next(&p, NULL, 0), PRECOPY_STOP_MAX);
}
END_TEST

START_TEST(test_options_change_the_rule)
{
	struct precopy_policy p = defaults();
	int64_t w[] = { 1000, 1300 };

	p.max_growth_pct = 50;
	ck_assert_int_eq(precopy_next(&p, w, 2), PRECOPY_CONTINUE);
	p.min_pages = 2000;
	ck_assert_int_eq(precopy_next(&p, w, 2), PRECOPY_STOP_CONVERGED);
}
END_TEST

START_TEST(test_strategy_choice)
{
	struct precopy_policy p = defaults();
	char why[256];

	ck_assert_int_eq(strategy_choose(false, &p, why, sizeof(why)), STRATEGY_STOP_AND_COPY);
	ck_assert_ptr_nonnull(strstr(why, "soft-dirty"));
	ck_assert_int_eq(strategy_choose(true, &p, why, sizeof(why)), STRATEGY_PRECOPY);
	ck_assert_ptr_nonnull(strstr(why, "8 pre-dumps"));
	p.max_iterations = 0;
	ck_assert_int_eq(strategy_choose(true, &p, why, sizeof(why)), STRATEGY_STOP_AND_COPY);
	ck_assert_ptr_nonnull(strstr(why, "max_iterations 0"));
	ck_assert_str_eq(strategy_name(STRATEGY_PRECOPY), "pre-copy");
	ck_assert_str_eq(strategy_name(STRATEGY_STOP_AND_COPY), "stop-and-copy");
	for (int v = PRECOPY_CONTINUE; v <= PRECOPY_STOP_GROWING; v++)
		ck_assert_str_ne(precopy_verdict_text((enum precopy_verdict)v), "?");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("precopy");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_defaults_follow_phaul);
	tcase_add_test(tc, test_first_predump_always_runs);
	tcase_add_test(tc, test_shrinking_continues);
	tcase_add_test(tc, test_converged_at_min_pages);
	tcase_add_test(tc, test_growth_boundary);
	tcase_add_test(tc, test_max_iterations);
	tcase_add_test(tc, test_options_change_the_rule);
	tcase_add_test(tc, test_strategy_choice);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
