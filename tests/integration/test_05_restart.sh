#!/usr/bin/env bash
# test_05_restart.sh: jobs outlive the daemon. After one successful and one failed
# migration, daemon A stops (SIGTERM) and starts again on the same data dir: both
# jobs must be reported as before, one by one and in the list, and neither the
# migrated process nor the one that stayed may have been touched by the restart.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w 32) || die "workload w starts" "no workload"
W2=$(start_workload w2 16) || die "workload w2 starts" "no workload"

migrate_and_check "w A->B" "$A_API" "$W" "$B_PEER" "$T/w.status" 32 ||
	die "w A->B" "the rest needs a succeeded job"
OK_ID=$JOB_ID
P1=$MIGRATED_PID

if ! BAD_ID=$(migrate "$A_API" "$W2" "127.0.0.1:$(closed_port)"); then
	die "w2 to a closed port accepted" "POST /migrations refused"
fi
J=$(wait_job "$A_API" "$BAD_ID" 60) || fail "w2 job finished" "$J"
check_failed_at_source "w2 to a closed port" "$J" "$W2" "$T/w2.status" 16

# What the jobs look like before the restart, reduced to what must not change.
view='{id, state, type, pid, to, result_pid: .result.pid, code: .error.code,
       process_at: .error.process_at, error_phase: .error.phase}'
api GET "$A_API/migrations/$OK_ID" >/dev/null
OK_BEFORE=$(jget "$HTTP_BODY" "$view | tojson")
api GET "$A_API/migrations/$BAD_ID" >/dev/null
BAD_BEFORE=$(jget "$HTTP_BODY" "$view | tojson")

OLD_PID=$A_PID
restart_hauld A || die "daemon A restarts" "see $T/A.log"
expect_eq "A exited 0 on SIGTERM" "${A_EXIT:-}" 0
[ "$A_PID" != "$OLD_PID" ] || die "daemon A restarted" "same pid"

api GET "$A_API/migrations/$OK_ID" >/dev/null
expect_eq "succeeded job still there" "$HTTP_STATUS" 200
expect_eq "succeeded job unchanged" "$(jget "$HTTP_BODY" "$view | tojson")" "$OK_BEFORE"
expect_eq "succeeded job still succeeded" "$(jget "$HTTP_BODY" .state)" succeeded
expect_num_ge "succeeded job keeps its stats" "$(jget "$HTTP_BODY" .stats.bytes)" $((32 * 1048576))
api GET "$A_API/migrations/$BAD_ID" >/dev/null
expect_eq "failed job still there" "$HTTP_STATUS" 200
expect_eq "failed job unchanged" "$(jget "$HTTP_BODY" "$view | tojson")" "$BAD_BEFORE"
expect_eq "failed job still failed" "$(jget "$HTTP_BODY" .state)" failed

api GET "$A_API/migrations" >/dev/null
expect_eq "GET /migrations answers" "$HTTP_STATUS" 200
expect_eq "list has the succeeded job" \
	"$(jget "$HTTP_BODY" ".migrations[] | select(.id == \"$OK_ID\") | .state")" succeeded
expect_eq "list has the failed job" \
	"$(jget "$HTTP_BODY" ".migrations[] | select(.id == \"$BAD_ID\") | .state")" failed

# The restart touched neither process.
if pid_alive "$P1" && is_workload "$P1" "$T/w.status"; then
	check_workload_intact "$T/w.status" 32 "$(status_field "$T/w.status" counter)" \
		"migrated workload runs on at B"
else
	fail "migrated workload runs on at B" "pid $P1: '$(pid_cmdline "$P1")'"
fi
if pid_alive "$W2" && is_workload "$W2" "$T/w2.status"; then
	check_workload_intact "$T/w2.status" 16 "$(status_field "$T/w2.status" counter)" \
		"workload that stayed runs on at A"
else
	fail "workload that stayed runs on at A" "pid $W2: '$(pid_cmdline "$W2")'"
fi

# And the restarted daemon still migrates.
migrate_and_check "w2 A->B after restart" "$A_API" "$W2" "$B_PEER" "$T/w2.status" 16

finish
