#!/usr/bin/env bash
# test_07_concurrency.sh: several migrations at once. (a) With --workers 2, two 64 MiB
# workloads posted back to back move A->B at the same time (their jobs overlap) and
# both run on at B intact, their source copies gone. (b) With --workers 1 and the
# source held 3 s in preflight (HAULD_FAULT=pause:preflight): a second POST for a pid
# whose migration is in flight, or queued, is refused with 409 conflict on field
# "pid"; a job for another pid stays queued while the first runs, then runs and
# succeeds too.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the _helpers are called through wait_for
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=64

# ---------------------------------------------------------------------------
# Helpers of this test

# check_moved LABEL JSON SRC_PID NAME: the job JSON succeeded, its result.pid is the
# workload NAME running (the only one writing its status file), SRC_PID is gone and
# the workload counts on with its memory intact.
check_moved() {
	local label=$1 json=$2 src=$3 status=$T/$4.status newpid
	note "$label: $(job_summary "$json")"
	expect_eq "$label: job succeeded" "$(jget "$json" .state)" succeeded || return 1
	newpid=$(jget "$json" .result.pid)
	if ! [[ "$newpid" =~ ^[0-9]+$ ]]; then
		fail "$label: result.pid" "not a pid: '$newpid'"
		return 1
	fi
	track_pid "$newpid"
	expect_workload "$label: result.pid $newpid is the running workload" "$newpid" "$status" ||
		return 1
	expect_true "$label: source pid $src gone" wait_for 10 pid_gone "$src"
	if wait_for 5 _only_workload_is "$status" "$newpid"; then
		pass "$label: only pid $newpid writes $4.status"
	else
		fail "$label: only pid $newpid writes $4.status" "workloads: '$(workload_pids "$status" | tr '\n' ' ')'"
	fi
	check_workload_intact "$status" $MIB "$(status_field "$status" counter)" \
		"$label: workload counts on at B, memory intact"
}

# job_get API ID: GET the job into HTTP_BODY. Not for $(...).
job_get() {
	api GET "$1/migrations/$2" >/dev/null
}

# post_pid API PID TO: POST a migration, nothing checked; HTTP_STATUS/HTTP_BODY set.
post_pid() {
	api POST "$1/migrations" "$(jq -cn --argjson pid "$2" --arg to "$3" \
		'{type: "pid", pid: $pid, to: $to}')" >/dev/null
}

# ---------------------------------------------------------------------------

make_secret "$T/secret"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

echo "(a) two migrations at once, --workers 2"
start_hauld A --secret-file "$T/secret" --workers 2 || die "(a) daemon A starts" "see $T/A.log"
C1=$(start_workload c1 $MIB) || die "(a) workload c1 starts" "no workload"
C2=$(start_workload c2 $MIB) || die "(a) workload c2 starts" "no workload"
ID1=$(migrate "$A_API" "$C1" "$B_PEER") || die "(a) first migration accepted" "POST refused"
ID2=$(migrate "$A_API" "$C2" "$B_PEER") || die "(a) second migration accepted" "POST refused"
pass "(a) both accepted: $ID1 $ID2"
J1=$(wait_job "$A_API" "$ID1" 120) || fail "(a) first job finished" "$J1"
J2=$(wait_job "$A_API" "$ID2" 120) || fail "(a) second job finished" "$J2"
check_moved "(a) c1" "$J1" "$C1" c1
check_moved "(a) c2" "$J2" "$C2" c2
# Both ran at once: each started before the other finished (RFC 3339 UTC with
# milliseconds compares as text).
S1=$(jget "$J1" .started_at) F1=$(jget "$J1" .finished_at)
S2=$(jget "$J2" .started_at) F2=$(jget "$J2" .finished_at)
note "(a) c1 ran $S1 .. $F1, c2 ran $S2 .. $F2"
if [ -n "$S1" ] && [ -n "$S2" ] && [[ "$S1" < "$F2" ]] && [[ "$S2" < "$F1" ]]; then
	pass "(a) the two jobs ran at the same time"
else
	fail "(a) the two jobs ran at the same time" "c1 $S1 .. $F1, c2 $S2 .. $F2"
fi
api GET "$B_API/migrations" >/dev/null
expect_eq "(a) B lists both as succeeded destination jobs" \
	"$(jget "$HTTP_BODY" "[.migrations[] | select((.id == \"$ID1\" or .id == \"$ID2\") and .role == \"destination\" and .state == \"succeeded\")] | length")" 2
stop_hauld A || fail "(a) daemon A stops on SIGTERM" "it had to be killed"

echo "(b) --workers 1, the first job held 3 s in preflight"
HAULD_FAULT=pause:preflight start_hauld A --secret-file "$T/secret" --workers 1 ||
	die "(b) daemon A starts" "see $T/A.log"
D1=$(start_workload d1 $MIB) || die "(b) workload d1 starts" "no workload"
D2=$(start_workload d2 $MIB) || die "(b) workload d2 starts" "no workload"
K1=$(migrate "$A_API" "$D1" "$B_PEER") || die "(b) first migration accepted" "POST refused"
pass "(b) first job $K1 accepted"
post_pid "$A_API" "$D1" "$B_PEER"
expect_eq "(b) a second POST for pid $D1 in flight answers 409" "$HTTP_STATUS" 409
expect_eq "(b) ... code conflict" "$(jget "$HTTP_BODY" .error.code)" conflict
expect_eq "(b) ... field pid" "$(jget "$HTTP_BODY" .error.field)" pid
K3=$(migrate "$A_API" "$D2" "$B_PEER") || die "(b) third migration accepted" "POST refused"
pass "(b) third job $K3 (pid $D2) accepted"
post_pid "$A_API" "$D2" "$B_PEER"
expect_eq "(b) a second POST for queued pid $D2 answers 409" "$HTTP_STATUS" 409
expect_eq "(b) ... field pid" "$(jget "$HTTP_BODY" .error.field)" pid

# While the first job runs, the third must stay queued.
seen_running=0 not_queued=""
end=$(($(now_ms) + 120000))
while [ "$(now_ms)" -lt "$end" ]; do
	job_get "$A_API" "$K3"
	st3=$(jget "$HTTP_BODY" .state)/$(jget "$HTTP_BODY" .phase)
	job_get "$A_API" "$K1"
	st1=$(jget "$HTTP_BODY" .state)
	case "$st1" in
	queued) ;;
	running)
		seen_running=1
		# Read after the first's state: if the first still ran then, the third
		# was read while it ran too.
		[ "$st3" = queued/queued ] || not_queued="$not_queued $st3"
		;;
	*) break ;;
	esac
	sleep 0.1
done
expect_eq "(b) saw the first job running" "$seen_running" 1
expect_eq "(b) the third job stayed queued while the first ran" "${not_queued# }" ""
job_get "$A_API" "$K1"
J1=$HTTP_BODY
if [[ "$(jget "$J1" .state)" =~ ^(succeeded|failed|cancelled)$ ]]; then
	pass "(b) first job finished"
else
	fail "(b) first job finished" "not within 120 s: $(job_summary "$J1")"
fi
check_moved "(b) d1" "$J1" "$D1" d1
J3=$(wait_job "$A_API" "$K3" 120) || fail "(b) third job finished" "$J3"
check_moved "(b) d2" "$J3" "$D2" d2
S3=$(jget "$J3" .started_at) F1=$(jget "$J1" .finished_at)
if [ -n "$S3" ] && [ -n "$F1" ] && ! [[ "$S3" < "$F1" ]]; then
	pass "(b) the third job started after the first finished"
else
	fail "(b) the third job started after the first finished" "first finished $F1, third started $S3"
fi

api GET "$A_API/migrations" >/dev/null
expect_eq "(b) A holds exactly one job for pid $D1" \
	"$(jget "$HTTP_BODY" "[.migrations[] | select(.pid == $D1 and .role == \"source\")] | length")" 1
expect_true "daemon A still running" pid_alive "$A_PID"
expect_true "daemon B still running" pid_alive "$B_PID"
expect_eq "no zombie under daemon A" "$(zombies_of "$A_PID")" ""
expect_eq "no zombie under daemon B" "$(zombies_of "$B_PID")" ""

finish
