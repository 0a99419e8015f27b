#!/usr/bin/env bash
# test_39_dashboard.sh: the dashboard in a real browser. Debian's headless Chromium,
# driven by playwright-core (tests/browser/dashboard.mjs), opens the pages that two
# real daemons serve: A, and B, which holds each job it sends in preflight
# (HAULD_FAULT=pause:preflight, 8 s). In the browser: every view loads without a
# console error and the chart library comes from hauld; a workload picked in A's
# form moves to B and the job view shows it succeeded with its chart, timeline and
# CRIU logs, and so does one in mode lazy with its lazy pages (when this host can);
# B's jobs view, open all along, gets the incoming job from the event
# stream without a reload; an invalid destination and an out-of-range option show
# the API's error beside their fields; a second workload sent from B's form is
# cancelled with the page's button and ends cancelled; a tab without the token asks
# for it; the host view lists B as a peer; the form of A lists a runc container that
# A's runc root holds. Then the processes themselves: the first
# workload runs at B's result pid with its memory intact, the second goes on at its
# own pid, once. Screenshots of each view are kept in $ARTIFACTS (build/artifacts/
# test_39_dashboard by default, or HAULD_ARTIFACTS/test_39_dashboard).
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=engines.sh
. "$(dirname "$0")/engines.sh"
need_root_and_build

BROWSER_DIR=$ROOT/tests/browser
CHROMIUM=$(command -v chromium 2>/dev/null) || die "chromium" "chromium is missing: run scripts/setup.sh"
command -v node >/dev/null 2>&1 || die "node" "node is missing: run scripts/setup.sh"
[ -d "$BROWSER_DIR/node_modules/playwright-core" ] || die "playwright-core" \
	"$BROWSER_DIR/node_modules is missing: run scripts/setup.sh (npm ci in tests/browser)"
[ -f "$ROOT/www/vendor/node_modules/uplot/dist/uPlot.iife.min.js" ] || die "uPlot" \
	"www/vendor/node_modules is missing: run scripts/setup.sh (npm ci in www/vendor)"
ARTIFACTS=${HAULD_ARTIFACTS:-$ROOT/build/artifacts}/$TEST_NAME
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS" || die "artifacts" "cannot create $ARTIFACTS"
MIB=16

# A runc container under A's runc root, for the form's list of containers (it runs
# in a network namespace of its own; A only lists it).
"$LIB_DIR/build-image.sh" "$T/image" >/dev/null || die "test image" "build-image.sh failed"
setup_netns || die "network namespaces" "setup_netns failed"
runc_root A || die "runc root" "runc_root failed"
make_bundle "$T/bundle-c1" "$T/image/rootfs" sh -c '/bin/counter >/tmp/ticks' ||
	die "bundle" "make_bundle failed"
runc_run "$A_RUNC_ROOT" "$NS_A" "$T/bundle-c1" dash-c1 || die "runc container starts" "runc_run failed"

make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" --runc-root "$A_RUNC_ROOT" || die "daemon A starts" "see $T/A.log"
HAULD_FAULT=pause:preflight HAULD_FAULT_MS=8000 start_hauld B --secret-file "$T/secret" ||
	die "daemon B starts" "see $T/B.log"
W1=$(start_workload w1 $MIB) || die "workload w1 starts" "no workload"
W2=$(start_workload w2 $MIB) || die "workload w2 starts" "no workload"
W2_START=$(pid_start "$W2")
# Mode lazy needs lazy pages and 4 MiB pipes at both ends (one host here).
api GET "$A_API/healthz" >/dev/null
LAZY_ARGS=()
if [ "$(jget "$HTTP_BODY" '.features.lazy_pages and .features.pipe_max_size >= 4194304')" = true ]; then
	W3=$(start_workload w3 $MIB) || die "workload w3 starts" "no workload"
	LAZY_ARGS=(--lazy-pid "$W3")
else
	skip "(c2) a lazy migration from the form" "/healthz: no lazy pages here"
fi

echo "(a-f) in the browser"
# The browser's profile and its children live under $T, so the cleanup finds them.
HOME=$T/home timeout -k 10 240 node "$BROWSER_DIR/dashboard.mjs" --a "$A_API" --b "$B_API" \
	--a-peer "$A_PEER" --b-peer "$B_PEER" --token-file "$API_TOKEN_FILE" \
	--pid "$W1" --slow-pid "$W2" "${LAZY_ARGS[@]}" --container dash-c1 --shots "$ARTIFACTS" --out "$T/facts.json" \
	--chromium "$CHROMIUM" >"$T/browser.out" 2>&1
rc=$?
while read -r word rest; do
	case "$word" in
	ok) pass "$rest" ;;
	FAIL) fail "${rest%%: *}" "${rest#*: }" ;;
	*) note "browser: $word $rest" ;;
	esac
done <"$T/browser.out"
[ $rc = 0 ] || fail "the browser run exits 0" "exit $rc (see the lines above)"
cp "$T/browser.out" "$ARTIFACTS/browser.out"

echo "(g) the processes"
JOB=$(jq -r '.job // empty' "$T/facts.json" 2>/dev/null)
SLOW=$(jq -r '.slow_job // empty' "$T/facts.json" 2>/dev/null)
if [ -n "$JOB" ]; then
	api GET "$A_API/migrations/$JOB" >/dev/null
	expect_eq "(g) A's job of the form succeeded" "$(jget "$HTTP_BODY" .state)" succeeded
	expect_eq "(g) ... and moved the workload picked" "$(jget "$HTTP_BODY" .pid)" "$W1"
	NEW=$(jget "$HTTP_BODY" .result.pid)
	if [ -n "$NEW" ]; then
		expect_workload "(g) the workload runs at B's pid $NEW" "$NEW" "$T/w1.status"
		expect_true "(g) ... and the source pid is gone" pid_gone "$W1"
		check_workload_intact "$T/w1.status" $MIB "$(status_field "$T/w1.status" counter)" \
			"(g) ... with its memory intact"
	else
		fail "(g) the job has a result pid" "$HTTP_BODY"
	fi
else
	fail "(g) the browser started a migration" "no job id in $T/facts.json"
fi
LAZYJOB=$(jq -r '.lazy_job // empty' "$T/facts.json" 2>/dev/null)
if [ ${#LAZY_ARGS[@]} -gt 0 ] && [ -n "$LAZYJOB" ]; then
	api GET "$A_API/migrations/$LAZYJOB" >/dev/null
	expect_eq "(g) the lazy job succeeded" "$(jget "$HTTP_BODY" .state)/$(jget "$HTTP_BODY" .strategy)" \
		succeeded/post-copy
	NEW3=$(jget "$HTTP_BODY" .result.pid)
	expect_workload "(g) the lazily moved workload runs at B's pid ${NEW3:-?}" "${NEW3:-0}" "$T/w3.status"
	check_workload_intact "$T/w3.status" $MIB "$(status_field "$T/w3.status" counter)" \
		"(g) ... with its memory intact"
elif [ ${#LAZY_ARGS[@]} -gt 0 ]; then
	fail "(g) the browser started the lazy migration" "no job id in $T/facts.json"
fi
if [ -n "$SLOW" ]; then
	api GET "$B_API/migrations/$SLOW" >/dev/null
	expect_eq "(g) B's job cancelled from the page is cancelled" "$(jget "$HTTP_BODY" .state)" cancelled
	expect_eq "(g) ... and says the process is at the source" "$(jget "$HTTP_BODY" .error.process_at)" source
	expect_eq "(g) the second workload runs on as the same process" "$(pid_start "$W2")" "$W2_START"
	expect_workload "(g) ... the workload writing its status" "$W2" "$T/w2.status"
	check_workload_intact "$T/w2.status" $MIB "$(status_field "$T/w2.status" counter)" \
		"(g) ... with its memory intact"
else
	fail "(g) the browser started the slow migration" "no job id in $T/facts.json"
fi
for v in jobs-a jobs-b new-form new-form-error job-succeeded job-running job-cancelled host; do
	expect_true "(h) screenshot $v.png kept" test -s "$ARTIFACTS/$v.png"
done
note "screenshots: $ARTIFACTS"
finish
