#!/usr/bin/env bash
# test_35_recycled_pid.sh: after a restart, the destination acts on its restored
# copy only if it is still that process. B restores a copy and holds it stopped
# (paused before it answers the source); B is killed, so the source rolls back and
# runs the workload on; the stopped copy ends too, and an unrelated process is
# started with its pid number; B starts again. The source's verdict (abort) must
# not reach the unrelated process: it keeps running, B's job ends saying the copy
# is gone, and exactly one workload runs, at A, with its memory intact. (Before, B
# trusted the pid alone and SIGKILLed the stranger.)
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=16
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
HAULD_FAULT=pause:dest_restored start_hauld B --secret-file "$T/secret" ||
	die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"

id=$(migrate "$A_API" "$W" "$B_PEER") || die "migration accepted" "POST refused"
_restored_at_b() {
	api GET "$B_API/migrations/$id" >/dev/null
	[ "$(jget "$HTTP_BODY" .phase)" = restored ]
}
wait_for 30 _restored_at_b || die "B restores the copy" "$HTTP_BODY"
COPY=$(jget "$HTTP_BODY" .result.pid)
note "B holds the stopped copy as pid $COPY, paused before it answers A"
kill_hauld B
kill -KILL "$COPY"
# Gone for good: not even a zombie holds the number.
wait_for 10 test ! -e "/proc/$COPY" ||
	die "the copy ends" "pid $COPY: $(grep -E '^(State|PPid)' "/proc/$COPY/status" | tr '\n' ' ')"

# A stranger with the copy's pid number: the kernel hands out ns_last_pid + 1.
STRANGER=""
for _ in $(seq 1 50); do
	echo $((COPY - 1)) >/proc/sys/kernel/ns_last_pid
	sleep 600 </dev/null >/dev/null 2>&1 &
	p=$!
	if [ "$p" = "$COPY" ]; then
		STRANGER=$p
		break
	fi
	kill "$p"
done
[ -n "$STRANGER" ] || die "a stranger takes pid $COPY" "the pid went to someone else"
remember proc "$STRANGER"
pass "an unrelated process (sleep) runs as pid $COPY"

json=$(wait_job "$A_API" "$id" 120) || die "A ends the job" "$json"
note "A: $(job_summary "$json")"
HAULD_FAULT= restart_hauld B || die "B restarts" "see $T/B.log"
_b_final() {
	api GET "$B_API/migrations/$id" >/dev/null
	case "$(jget "$HTTP_BODY" .state)" in succeeded | failed | cancelled) return 0 ;; esac
	return 1
}
wait_for 60 _b_final || die "B's job ends after its restart" "$HTTP_BODY"
sleep 2
expect_true "the stranger with pid $COPY still runs" pid_alive "$STRANGER"
expect_eq "it is still the sleep" "$(cat "/proc/$STRANGER/comm" 2>/dev/null)" sleep
expect_eq "B's job failed" "$(jget "$HTTP_BODY" .state)" failed
api GET "$B_API/migrations/$id/events" >/dev/null
expect_match "B says its copy is gone and left the pid alone" \
	"$(jget "$HTTP_BODY" '[.events[].message] | join("\n")')" "pid $COPY is not the copy"
expect_eq "A's job says the workload runs at the source" \
	"$(jget "$json" .error.process_at)" source
expect_true "the workload runs at A" pid_alive "$W"
check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
	"the workload counts on at A, memory intact"
finish
