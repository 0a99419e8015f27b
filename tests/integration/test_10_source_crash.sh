#!/usr/bin/env bash
# test_10_source_crash.sh: the source daemon dies (SIGKILL) at the two delicate
# moments and is started again on the same data dir; its recovery must leave
# exactly one running copy and say where.
#  (a) while the destination holds a restored, stopped copy and the source's CRIU
#      still waits for the post-dump answer: CRIU loses hauld and resumes the source,
#      so recovery aborts the destination's copy: the process runs at the source.
#  (b) after CRIU released (killed) the source copy, before the commit: recovery
#      commits, and the destination's stopped copy runs: the process runs there.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the _helpers are called through wait_for
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=64
make_secret "$T/secret"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

# copies STATUS_FILE: how many workloads write it (stopped ones included).
copies() {
	workload_pids "$1" | wc -l
}

_copies_are() {
	[ "$(copies "$1")" = "$2" ]
}

# wait_phase API ID PHASE TIMEOUT_S
_phase_is() {
	api GET "$1/migrations/$2" >/dev/null
	[ "$(jget "$HTTP_BODY" .phase)" = "$3" ]
}

# --- (a) killed while the destination holds a stopped copy -----------------------
HAULD_FAULT=pause:restored start_hauld A --secret-file "$T/secret" || die "A starts" "see $T/A.log"
W=$(start_workload wa $MIB) || die "(a) workload starts" "no workload"
ID=$(migrate "$A_API" "$W" "$B_PEER") || die "(a) migration accepted" "POST refused"
expect_true "(a) the job reaches phase restoring" wait_for 30 _phase_is "$A_API" "$ID" restoring
sleep 1    # inside the 3 s pause: B has restored, stopped
expect_eq "(a) B holds a second, stopped copy" "$(copies "$T/wa.status")" 2
kill_hauld A
pass "(a) daemon A killed"
expect_true "(a) CRIU resumed the source" wait_for 10 pid_alive "$W"
start_hauld A --secret-file "$T/secret" || die "(a) A starts again" "see $T/A.log"
JSON=$(wait_job "$A_API" "$ID" 60) || die "(a) job resolved after restart" "$JSON"
check_failed_at_source "(a) after restart" "$JSON" "$W" "$T/wa.status" $MIB daemon_restarted
expect_true "(a) B's copy removed: one copy left" wait_for 10 _copies_are "$T/wa.status" 1
api GET "$B_API/migrations/$ID" >/dev/null
expect_eq "(a) B's job failed" "$(jget "$HTTP_BODY" .state)" failed
expect_eq "(a) B's job was aborted by the source" "$(jget "$HTTP_BODY" .error.code)" aborted
check_no_images "(a) B keeps no images" "$B_DATA"
stop_hauld A

# --- (b) killed after the source copy was released, before the commit ------------
HAULD_FAULT=pause:released start_hauld A --secret-file "$T/secret" || die "A starts" "see $T/A.log"
W=$(start_workload wb $MIB) || die "(b) workload starts" "no workload"
before=$(status_field "$T/wb.status" counter)
ID=$(migrate "$A_API" "$W" "$B_PEER") || die "(b) migration accepted" "POST refused"
expect_true "(b) the source copy is released" wait_for 30 pid_gone "$W"
sleep 0.5  # inside the 3 s pause, before the commit
kill_hauld A
pass "(b) daemon A killed"
expect_eq "(b) only B's stopped copy is left" "$(copies "$T/wb.status")" 1
start_hauld A --secret-file "$T/secret" || die "(b) A starts again" "see $T/A.log"
JSON=$(wait_job "$A_API" "$ID" 60) || die "(b) job resolved after restart" "$JSON"
note "(b) after restart: $(job_summary "$JSON")"
expect_eq "(b) job succeeded after the restart" "$(jget "$JSON" .state)" succeeded
P=$(jget "$JSON" .result.pid)
track_pid "$P"
expect_true "(b) result.pid $P is the workload" is_workload "$P" "$T/wb.status"
check_workload_intact "$T/wb.status" $MIB "$before" "(b) the copy at B runs on, memory intact"
expect_eq "(b) exactly one copy" "$(copies "$T/wb.status")" 1
api GET "$B_API/migrations/$ID" >/dev/null
expect_eq "(b) B's job succeeded" "$(jget "$HTTP_BODY" .state)" succeeded
finish
