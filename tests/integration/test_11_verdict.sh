#!/usr/bin/env bash
# test_11_verdict.sh: the destination dies while it holds a restored, stopped copy,
# after the source's CRIU released (killed) the source copy. The source cannot
# confirm the commit and says the process is at the destination. When the
# destination's daemon comes back it finds the stopped copy, asks the source for a
# verdict, gets "commit", and lets the process run: one copy, memory intact.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the _helpers are called through wait_for
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=64
make_secret "$T/secret"
HAULD_FAULT=pause:released start_hauld A --secret-file "$T/secret" || die "A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"
before=$(status_field "$T/w.status" counter)
ID=$(migrate "$A_API" "$W" "$B_PEER") || die "migration accepted" "POST refused"
expect_true "the source copy is released" wait_for 30 pid_gone "$W"
kill_hauld B
pass "daemon B killed while its copy is stopped"
P=$(workload_pids "$T/w.status" | head -n 1)
track_pid "$P"
expect_match "the stopped copy survives its daemon" "$(awk '{print $3}' "/proc/$P/stat")" '^[tT]$'

JSON=$(wait_job "$A_API" "$ID" 90) || die "A gives up the commit" "$JSON"
note "A: $(job_summary "$JSON")"
expect_eq "A: job failed" "$(jget "$JSON" .state)" failed
expect_eq "A: the commit was not confirmed" "$(jget "$JSON" .error.code)" commit_unconfirmed
expect_eq "A: the process is at the destination" "$(jget "$JSON" .error.process_at)" destination

start_hauld B --secret-file "$T/secret" --data-dir "$B_DATA" || die "B starts again" "see $T/B.log"
api GET "$B_API/migrations/$ID" >/dev/null
note "B after restart: $(job_summary "$HTTP_BODY")"
_b_succeeded() {
	api GET "$B_API/migrations/$ID" >/dev/null
	[ "$(jget "$HTTP_BODY" .state)" = succeeded ]
}
expect_true "B asked A, got commit, and its job succeeded" wait_for 30 _b_succeeded
check_workload_intact "$T/w.status" $MIB "$before" "the copy at B runs, memory intact"
expect_eq "exactly one copy" "$(workload_pids "$T/w.status" | wc -l)" 1
api GET "$A_API/migrations/$ID/events" >/dev/null
expect_match "A's event log records the verdict" "$HTTP_BODY" "verdict on its stopped copy: commit"
finish
