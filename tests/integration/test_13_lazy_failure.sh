#!/usr/bin/env bash
# test_13_lazy_failure.sh: post-copy that fails in its lazy phase. Once the copy runs
# at B, the source copy must be gone at once (CRIU serves the pages from its page
# pipes), so that a failure later can never leave two copies running. B's lazy-pages
# daemon is stopped mid-transfer (SIGSTOP), the source copy is checked gone and B's
# copy present, then the daemon is killed: B kills its incomplete copy, A's CRIU
# fails, and both jobs say lazy_failed. The process is lost, as documented for
# post-copy; what is tested is that it is never duplicated and that the jobs say so.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the _helpers are called through wait_for
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=512
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"
note "workload pid $W, A at $A_API, B at $B_API"

ID=$(migrate "$A_API" "$W" "$B_PEER" lazy) || die "lazy migration accepted" "POST refused"
pass "lazy migration accepted as job $ID"
# The moment B's copy runs, stop its pages: B logs its phase lazy then.
LP=""
end=$(($(now_ms) + 60000))
while [ "$(now_ms)" -lt "$end" ]; do
	if grep -q "job ${ID:0:8} (destination): phase lazy" "$T/B.log"; then
		LP=$(criu_of "$B_DATA" "$ID" lazy-pages) && kill -STOP "$LP"
		break
	fi
	sleep 0.01
done
[ -n "$LP" ] || die "B's lazy phase" "never seen, or no lazy-pages daemon"
api GET "$A_API/migrations/$ID" >/dev/null
[ "$(jget "$HTTP_BODY" .state)" = running ] ||
	die "the lazy phase is under way" "the job ended before it could be stopped: $(job_summary "$HTTP_BODY")"
pass "B's lazy-pages (pid $LP) stopped with pages still to come"
expect_true "the source copy $W is gone while the pages are still moving" wait_for 10 pid_gone "$W"
# B's copy, found by its job: its command line lives in memory that has not arrived,
# so /proc/PID/cmdline reads empty and pgrep cannot see it.
api GET "$B_API/migrations/$ID" >/dev/null
P=$(jget "$HTTP_BODY" .result.pid)
if [[ "$P" =~ ^[0-9]+$ ]] && pid_alive "$P" && [ "$(cat "/proc/$P/comm" 2>/dev/null)" = workload ]; then
	pass "B's copy runs (pid $P)"
	track_pid "$P"
else
	fail "B's copy runs" "B's job: $(job_summary "$HTTP_BODY")"
fi

kill -KILL "$LP"
JSON=$(wait_job "$A_API" "$ID" 90) || fail "A's job ends" "$JSON"
note "A: $(job_summary "$JSON")"
expect_eq "A: job failed" "$(jget "$JSON" .state)" failed
expect_eq "A: error.code lazy_failed" "$(jget "$JSON" .error.code)" lazy_failed
expect_eq "A: error.process_at unknown" "$(jget "$JSON" .error.process_at)" unknown
expect_eq "A: no result.pid (B's copy was killed)" "$(jget "$JSON" .result.pid)" ""
JB=$(wait_job "$B_API" "$ID" 90) || fail "B's job ends" "$JB"
note "B: $(job_summary "$JB")"
expect_eq "B: job failed" "$(jget "$JB" .state)" failed
expect_eq "B: error.code lazy_failed" "$(jget "$JB" .error.code)" lazy_failed
_no_copy() {
	pid_gone "$W" && { [ -z "$P" ] || pid_gone "$P"; } && [ -z "$(workload_pids "$T/w.status")" ]
}
expect_true "no copy runs anywhere: never two" wait_for 10 _no_copy
expect_true "daemon A still running" pid_alive "$A_PID"
expect_true "daemon B still running" pid_alive "$B_PID"
finish
