#!/usr/bin/env bash
# test_06_cancel.sh: DELETE /migrations/ID cancels a migration, and the process stays
# where it was, untouched. The source daemon is held in one phase at a time with its
# fault hook (HAULD_FAULT=pause:preflight, pause:attached, pause:frozen with the tree
# frozen and its images complete, pause:restored with the destination holding a
# restored, stopped copy) and the job is cancelled there: it must end "cancelled" with
# the workload running on at the source as the same pid with its memory intact, no
# second copy anywhere, and no job left at the destination. A dump stuck on a page
# server that stopped reading (SIGSTOP) is cancelled too: the cancel cuts the memory
# connection, CRIU's dump fails and resumes the tree. So is a restore that the
# destination holds (pause:dest_restore): the source resumes at once, and the copy
# the destination finishes restoring is removed on the verdict it asks for. Then: a
# queued job is
# cancelled at once while the running one still succeeds; DELETE of a finished job,
# of a cancelled one and of an unknown id are refused (409, 409, 404).
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the _helpers are called through wait_for
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=64

# ---------------------------------------------------------------------------
# Helpers of this test

# check_single_copy LABEL FILE PID: within 5 s, PID is the one and only workload
# writing FILE.
check_single_copy() {
	if wait_for 5 _only_workload_is "$2" "$3"; then
		pass "$1"
		return 0
	fi
	fail "$1" "workloads writing $2: '$(workload_pids "$2" | tr '\n' ' ')', want only $3"
	return 1
}

_no_job_dir() {
	[ ! -e "$1/jobs/$2" ]
}

# check_dest_clean LABEL ID: the destination B has no files left for job ID, and
# its job (when it got that far) ended without success, as an abort.
check_dest_clean() {
	local label=$1 id=$2 st code
	if wait_for 10 _no_job_dir "$B_DATA" "$id"; then
		pass "$label: B has no jobs/$id directory"
	else
		fail "$label: B has no jobs/$id directory" "left: $(find "$B_DATA/jobs/$id" 2>&1 | head -n 5 | tr '\n' ' ')"
	fi
	api GET "$B_API/migrations/$id" >/dev/null
	if [ "$HTTP_STATUS" = 404 ]; then
		pass "$label: B's destination job: never created"
		return 0
	fi
	if [ "$HTTP_STATUS" != 200 ]; then
		fail "$label: B's destination job" "GET answered $HTTP_STATUS: $HTTP_BODY"
		return 1
	fi
	expect_eq "$label: B's job has role destination" "$(jget "$HTTP_BODY" .role)" destination
	local json
	json=$(wait_job "$B_API" "$id" 15) || true
	st=$(jget "$json" .state)
	code=$(jget "$json" .error.code)
	note "$label: B's job: $(job_summary "$json")"
	if [ "$st" = failed ] && [[ "$code" =~ ^(aborted|source_lost)$ ]]; then
		pass "$label: B's job ended failed ($code)"
	else
		fail "$label: B's job ended failed (aborted or source_lost)" "state '$st', error.code '$code'"
	fi
}

_phase_is() {
	api GET "$1/migrations/$2" >/dev/null
	[ "$(jget "$HTTP_BODY" .phase)" = "$3" ]
}

_log_has() {
	grep -qE -- "$2" "$1"
}

# ---------------------------------------------------------------------------

make_secret "$T/secret"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

# cancel_in POINT PHASE: A paused at pause:POINT, where the job reports PHASE.
cancel_in() {
	local point=$1 phase=$2 label="cancel at pause:$1" name=w_$1 w id json pre rp after
	local status=$T/w_$1.status
	echo "($point) cancel while the source pauses at pause:$point"
	HAULD_FAULT=pause:$point start_hauld A --secret-file "$T/secret" ||
		die "$label: daemon A starts" "see $T/A.log"
	w=$(start_workload "$name" $MIB) || die "$label: workload starts" "no workload"
	if ! id=$(migrate "$A_API" "$w" "$B_PEER"); then
		fail "$label: migration accepted" "POST refused"
		stop_hauld A
		return 1
	fi
	pass "$label: accepted as job $id"
	# The hook logs when it begins to pause; the job must then report PHASE.
	if ! wait_for 30 _log_has "$T/A.log" "fault injection: pausing [0-9]+ ms at pause:$point\$"; then
		fail "$label: reached pause:$point" "no pause logged; job: $(api GET "$A_API/migrations/$id")"
		stop_hauld A
		return 1
	fi
	api GET "$A_API/migrations/$id" >/dev/null
	expect_eq "$label: job is in phase $phase" "$(jget "$HTTP_BODY" .phase)" "$phase"
	expect_eq "$label: job is running" "$(jget "$HTTP_BODY" .state)" running
	sleep 0.5
	pre=$(status_field "$status" counter)
	api DELETE "$A_API/migrations/$id" >/dev/null
	expect_eq "$label: DELETE answers 202" "$HTTP_STATUS" 202
	expect_eq "$label: DELETE answers with the job" "$(jget "$HTTP_BODY" .id)" "$id"
	if ! json=$(wait_job "$A_API" "$id" 60); then
		fail "$label: job finished" "not within 60 s: $json"
	fi
	note "$label: $(job_summary "$json")"
	expect_eq "$label: state cancelled" "$(jget "$json" .state)" cancelled
	expect_eq "$label: error.code cancelled" "$(jget "$json" .error.code)" cancelled
	expect_eq "$label: error.process_at source" "$(jget "$json" .error.process_at)" source
	# result.pid may name the copy the destination restored and then killed: it
	# must not run.
	rp=$(jget "$json" .result.pid)
	if [ -z "$rp" ] || ! is_workload "$rp" "$status"; then
		pass "$label: no copy runs as result.pid '${rp}'"
	else
		fail "$label: no copy runs as result.pid" "pid $rp is a workload writing $status"
	fi
	expect_workload "$label: workload still runs as pid $w" "$w" "$status"
	# Counted on past the value read after the job ended: it runs after the cancel.
	after=$(status_field "$status" counter)
	check_workload_intact "$status" $MIB "$after" "$label: workload counts on past $after (>= $pre before the cancel), memory intact"
	check_single_copy "$label: exactly one workload writes $name.status" "$status" "$w"
	check_dest_clean "$label" "$id"
	api DELETE "$A_API/migrations/$id" >/dev/null
	expect_eq "$label: a second DELETE answers 409" "$HTTP_STATUS" 409
	expect_eq "$label: a second DELETE: code conflict" "$(jget "$HTTP_BODY" .error.code)" conflict
	expect_true "$label: daemon A still running" pid_alive "$A_PID"
	stop_hauld A || fail "$label: daemon A stops on SIGTERM" "it had to be killed"
}

cancel_in preflight preflight
cancel_in attached preflight
cancel_in frozen dumping
cancel_in restored restoring

echo "(stuck dump) cancel while CRIU's page stream is stuck on a page server that stopped reading"
L="cancel a stuck dump"
HAULD_FAULT=pause:attached start_hauld A --secret-file "$T/secret" ||
	die "$L: daemon A starts" "see $T/A.log"
# Big enough that the stream fills every socket and pipe buffer on the way.
S=$(start_workload stuck 256) || die "$L: workload starts" "no workload"
ID=$(migrate "$A_API" "$S" "$B_PEER") || die "$L: migration accepted" "POST refused"
wait_for 30 _log_has "$T/A.log" "fault injection: pausing [0-9]+ ms at pause:attached\$" ||
	die "$L: reached pause:attached" "no pause logged"
PS=$(wait_for 5 criu_of "$B_DATA" "$ID" page-server >/dev/null &&
	criu_of "$B_DATA" "$ID" page-server) ||
	die "$L: B's page server for job $ID" "not found"
kill -STOP "$PS"
pass "$L: B's page server (pid $PS) stopped"
expect_true "$L: job reaches phase dumping" wait_for 10 _phase_is "$A_API" "$ID" dumping
# CRIU has frozen the tree and is blocked writing pages nobody reads.
sleep 2
api GET "$A_API/migrations/$ID" >/dev/null
expect_eq "$L: still dumping 2 s later" "$(jget "$HTTP_BODY" .phase)" dumping
t0=$(now_ms)
api DELETE "$A_API/migrations/$ID" >/dev/null
expect_eq "$L: DELETE answers 202" "$HTTP_STATUS" 202
# Well within the 30 s after which TCP's user timeout would fail the stream anyway.
JSON=$(wait_job "$A_API" "$ID" 20) || fail "$L: job ends within 20 s of the cancel" "$JSON"
note "$L: $(job_summary "$JSON") after $(($(now_ms) - t0)) ms"
expect_eq "$L: state cancelled" "$(jget "$JSON" .state)" cancelled
expect_eq "$L: error.process_at source" "$(jget "$JSON" .error.process_at)" source
kill -CONT "$PS" 2>/dev/null
expect_workload "$L: workload still runs as pid $S" "$S" "$T/stuck.status"
check_workload_intact "$T/stuck.status" 256 "$(status_field "$T/stuck.status" counter)" \
	"$L: workload counts on, memory intact"
check_single_copy "$L: exactly one workload writes stuck.status" "$T/stuck.status" "$S"
check_dest_clean "$L" "$ID"
expect_true "$L: B's page server is gone" wait_for 10 pid_gone "$PS"
stop_hauld A || fail "$L: daemon A stops on SIGTERM" "it had to be killed"

echo "(slow restore) cancel while the destination restores"
L="cancel during the restore"
stop_hauld B
HAULD_FAULT=pause:dest_restore start_hauld B --secret-file "$T/secret" ||
	die "$L: daemon B starts" "see $T/B.log"
start_hauld A --secret-file "$T/secret" || die "$L: daemon A starts" "see $T/A.log"
R=$(start_workload slow $MIB) || die "$L: workload starts" "no workload"
ID=$(migrate "$A_API" "$R" "$B_PEER") || die "$L: migration accepted" "POST refused"
wait_for 30 _log_has "$T/B.log" "fault injection: pausing [0-9]+ ms at pause:dest_restore\$" ||
	die "$L: B reached pause:dest_restore" "no pause logged"
api DELETE "$A_API/migrations/$ID" >/dev/null
expect_eq "$L: DELETE answers 202" "$HTTP_STATUS" 202
JSON=$(wait_job "$A_API" "$ID" 20) || fail "$L: job ends" "$JSON"
# B holds its restore for 3 s: A must not have waited for it.
api GET "$B_API/migrations/$ID" >/dev/null
expect_eq "$L: A ended while B was still restoring" "$(jget "$HTTP_BODY" .phase)" restoring
note "$L: $(job_summary "$JSON")"
expect_eq "$L: state cancelled" "$(jget "$JSON" .state)" cancelled
expect_eq "$L: error.process_at source" "$(jget "$JSON" .error.process_at)" source
expect_workload "$L: workload still runs as pid $R" "$R" "$T/slow.status"
check_workload_intact "$T/slow.status" $MIB "$(status_field "$T/slow.status" counter)" \
	"$L: workload counts on, memory intact"
# B finishes its restore, finds the source gone, asks for a verdict: abort.
check_dest_clean "$L" "$ID"
check_single_copy "$L: exactly one workload writes slow.status" "$T/slow.status" "$R"
stop_hauld A || fail "$L: daemon A stops on SIGTERM" "it had to be killed"
stop_hauld B
start_hauld B --secret-file "$T/secret" || die "daemon B restarts" "see $T/B.log"

echo "(queued) cancel a job that waits for a worker"
HAULD_FAULT=pause:preflight start_hauld A --secret-file "$T/secret" --workers 1 ||
	die "(queued) daemon A starts" "see $T/A.log"
Q1=$(start_workload q1 $MIB) || die "(queued) workload q1 starts" "no workload"
Q2=$(start_workload q2 $MIB) || die "(queued) workload q2 starts" "no workload"
# Reset q2's longest gap: a workload never frozen keeps it short.
c=$(status_field "$T/q2.status" counter)
kill -USR1 "$Q2"
wait_counter_past "$T/q2.status" $((c + 2)) 5
ID1=$(migrate "$A_API" "$Q1" "$B_PEER") || die "(queued) first migration accepted" "POST refused"
ID2=$(migrate "$A_API" "$Q2" "$B_PEER") || die "(queued) second migration accepted" "POST refused"
# The first holds the only worker for 3 s in preflight.
wait_for 10 _phase_is "$A_API" "$ID1" preflight
expect_eq "(queued) first job in phase preflight" "$(jget "$HTTP_BODY" .phase)" preflight
api GET "$A_API/migrations/$ID2" >/dev/null
expect_eq "(queued) second job is queued" "$(jget "$HTTP_BODY" .state)" queued
api DELETE "$A_API/migrations/$ID2" >/dev/null
expect_eq "(queued) DELETE answers 202" "$HTTP_STATUS" 202
api GET "$A_API/migrations/$ID2" >/dev/null
note "(queued): $(job_summary "$HTTP_BODY")"
expect_eq "(queued) cancelled at once" "$(jget "$HTTP_BODY" .state)" cancelled
expect_eq "(queued) error.code cancelled" "$(jget "$HTTP_BODY" .error.code)" cancelled
expect_eq "(queued) error.process_at source" "$(jget "$HTTP_BODY" .error.process_at)" source
api GET "$A_API/migrations/$ID1" >/dev/null
expect_eq "(queued) the first job still runs" "$(jget "$HTTP_BODY" .state)" running

J1=$(wait_job "$A_API" "$ID1" 120) || fail "(queued) first job finished" "$J1"
note "(queued) first: $(job_summary "$J1")"
expect_eq "(queued) first job succeeded" "$(jget "$J1" .state)" succeeded
P1=$(jget "$J1" .result.pid)
if [[ "$P1" =~ ^[0-9]+$ ]]; then
	track_pid "$P1"
	expect_workload "(queued) q1 runs at B as pid $P1" "$P1" "$T/q1.status"
	expect_true "(queued) q1's source pid $Q1 gone" wait_for 10 pid_gone "$Q1"
	check_single_copy "(queued) exactly one workload writes q1.status" "$T/q1.status" "$P1"
	check_workload_intact "$T/q1.status" $MIB "$(status_field "$T/q1.status" counter)" \
		"(queued) q1 counts on at B, memory intact"
else
	fail "(queued) first job's result.pid" "not a pid: '$P1'"
fi
# The worker is free now: it must not pick the cancelled job up.
sleep 1
api GET "$A_API/migrations/$ID2" >/dev/null
expect_eq "(queued) second job stays cancelled" "$(jget "$HTTP_BODY" .state)" cancelled
api GET "$B_API/migrations/$ID2" >/dev/null
expect_eq "(queued) B never heard of the second job" "$HTTP_STATUS" 404
expect_workload "(queued) q2 still runs as pid $Q2" "$Q2" "$T/q2.status"
check_workload_intact "$T/q2.status" $MIB "$(status_field "$T/q2.status" counter)" \
	"(queued) q2 counts on, memory intact"
check_single_copy "(queued) exactly one workload writes q2.status" "$T/q2.status" "$Q2"
gap=$(status_field "$T/q2.status" max_gap_ms)
if [[ "$gap" =~ ^[0-9]+$ ]] && [ "$gap" -lt 1000 ]; then
	pass "(queued) q2 was never frozen (longest gap ${gap} ms)"
else
	fail "(queued) q2 was never frozen" "longest gap '${gap}' ms: $(cat "$T/q2.status")"
fi

echo "(refused) cancels that cannot be"
api DELETE "$A_API/migrations/$ID1" >/dev/null
expect_eq "(refused) DELETE of a succeeded job answers 409" "$HTTP_STATUS" 409
expect_eq "(refused) DELETE of a succeeded job: code conflict" "$(jget "$HTTP_BODY" .error.code)" conflict
api GET "$A_API/migrations/$ID1" >/dev/null
expect_eq "(refused) the succeeded job stays succeeded" "$(jget "$HTTP_BODY" .state)" succeeded
api DELETE "$A_API/migrations/$ID2" >/dev/null
expect_eq "(refused) second DELETE of the cancelled queued job answers 409" "$HTTP_STATUS" 409
expect_eq "(refused) second DELETE of the cancelled queued job: code conflict" \
	"$(jget "$HTTP_BODY" .error.code)" conflict
UNKNOWN=$(cat /proc/sys/kernel/random/uuid)
api DELETE "$A_API/migrations/$UNKNOWN" >/dev/null
expect_eq "(refused) DELETE of an unknown id answers 404" "$HTTP_STATUS" 404
expect_eq "(refused) DELETE of an unknown id: code not_found" "$(jget "$HTTP_BODY" .error.code)" not_found

api GET "$A_API/migrations" >/dev/null
expect_eq "A lists the seven cancelled jobs" \
	"$(jget "$HTTP_BODY" '[.migrations[] | select(.state == "cancelled")] | length')" 7
expect_true "daemon A still running" pid_alive "$A_PID"
expect_true "daemon B still running" pid_alive "$B_PID"
expect_eq "no zombie under daemon A" "$(zombies_of "$A_PID")" ""
expect_eq "no zombie under daemon B" "$(zombies_of "$B_PID")" ""

finish
