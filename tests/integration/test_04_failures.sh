#!/usr/bin/env bash
# test_04_failures.sh: migrations that must fail with the process left running at the
# source, unchanged: (a) the peer has another secret, (b) nothing listens at the
# destination, (c) the destination exits as it begins to receive images (fault hook
# HAULD_FAULT=dest_exit:receive_images), (d) the destination is SIGKILLed while the
# source dumps. After (c) and (d) the restarted destination has no images left.
# Then (e): the source restarted with --retain-jobs 3 forgets its oldest jobs.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

make_secret "$T/secret"
make_secret "$T/other-secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
W=$(start_workload w 64) || die "workload starts" "no workload"

# fail_job LABEL TO: a migration of W to TO that must fail; echoes the final JSON.
fail_job() {
	local id
	if ! id=$(migrate "$A_API" "$W" "$2"); then
		echo "{}"
		return 1
	fi
	wait_job "$A_API" "$id" 120
}

echo "(a) the destination has another secret"
start_hauld B --secret-file "$T/other-secret" || die "(a) daemon B starts" "see $T/B.log"
J=$(fail_job "(a)" "$B_PEER") || fail "(a) job finished" "$J"
check_failed_at_source "(a)" "$J" "$W" "$T/w.status" 64 'auth'
expect_true "(a) daemon B still running" pid_alive "$B_PID"
stop_hauld B

echo "(b) nothing listens at the destination"
J=$(fail_job "(b)" "127.0.0.1:$(closed_port)") || fail "(b) job finished" "$J"
check_failed_at_source "(b)" "$J" "$W" "$T/w.status" 64

echo "(c) the destination exits when it begins to receive images"
HAULD_FAULT=dest_exit:receive_images start_hauld B --secret-file "$T/secret" ||
	die "(c) daemon B starts" "see $T/B.log"
J=$(fail_job "(c)" "$B_PEER") || fail "(c) job finished" "$J"
check_failed_at_source "(c)" "$J" "$W" "$T/w.status" 64
if wait_for 5 pid_gone "$B_PID"; then
	pass "(c) the fault hook made daemon B exit"
else
	fail "(c) the fault hook made daemon B exit" "B still runs: is HAULD_FAULT implemented?"
	kill_hauld B
fi
wait "$B_PID" 2>/dev/null
start_hauld B --secret-file "$T/secret" || die "(c) daemon B restarts" "see $T/B.log"
sleep 1
check_no_images "(c) restarted B left no images in $B_DATA" "$B_DATA"

echo "(d) the destination is killed while the source dumps"
W2=$(start_workload w2 256) || die "(d) workload starts" "no workload"
if ID=$(migrate "$A_API" "$W2" "$B_PEER"); then
	phases=""
	killed=0
	end=$(($(now_ms) + 60000))
	while [ "$(now_ms)" -lt "$end" ]; do
		api GET "$A_API/migrations/$ID" >/dev/null
		phase=$(jget "$HTTP_BODY" .phase)
		state=$(jget "$HTTP_BODY" .state)
		case " $phases " in *" $phase "*) ;; *) phases="$phases $phase" ;; esac
		if [ "$phase" = dumping ]; then
			kill -KILL "$B_PID"
			killed=1
			break
		fi
		case "$state" in succeeded | failed | cancelled) break ;; esac
		sleep 0.02
	done
	if [ $killed = 1 ]; then
		pass "(d) killed daemon B in phase dumping"
		wait "$B_PID" 2>/dev/null
		J=$(wait_job "$A_API" "$ID" 120) || fail "(d) job finished" "$J"
		check_failed_at_source "(d)" "$J" "$W2" "$T/w2.status" 256
		start_hauld B --secret-file "$T/secret" || die "(d) daemon B restarts" "see $T/B.log"
		sleep 1
		check_no_images "(d) restarted B left no images in $B_DATA" "$B_DATA"
	else
		fail "(d) saw phase dumping" "phases seen:$phases, final state '$state'"
	fi
else
	fail "(d) migration accepted" "POST /migrations refused"
fi

# The first workload went through three failures and is still the same process.
expect_true "workload w kept pid $W throughout" is_workload "$W" "$T/w.status"
api GET "$A_API/migrations" >/dev/null
expect_eq "A lists the failed jobs" \
	"$(jget "$HTTP_BODY" '[.migrations[] | select(.state == "failed")] | length')" 4
expect_true "daemon A still running" pid_alive "$A_PID"
expect_eq "no zombie under daemon A" "$(zombies_of "$A_PID")" ""

# The store stays bounded: restarted with --retain-jobs 3, A keeps the 3 newest
# finished jobs (with their events) and forgets the oldest, now and after each job.
echo "(e) --retain-jobs"
FIRST=$(jget "$HTTP_BODY" '.migrations[-1].id')
stop_hauld A
start_hauld A --secret-file "$T/secret" --retain-jobs 3 || die "(e) daemon A restarts" "see $T/A.log"
api GET "$A_API/migrations" >/dev/null
expect_eq "(e) at start A keeps 3 of its 4 finished jobs" "$(jget "$HTTP_BODY" '.migrations | length')" 3
api GET "$A_API/migrations/$FIRST" >/dev/null
expect_eq "(e) the oldest job is gone (404)" "$HTTP_STATUS" 404
J=$(fail_job "(e)" "127.0.0.1:$(closed_port)") || fail "(e) job finished" "$J"
NEWEST=$(jget "$J" .id)
api GET "$A_API/migrations" >/dev/null
expect_eq "(e) after one more job A still keeps 3" "$(jget "$HTTP_BODY" '.migrations | length')" 3
expect_eq "(e) the newest is listed first" "$(jget "$HTTP_BODY" '.migrations[0].id')" "$NEWEST"
api GET "$A_API/migrations/$NEWEST/events" >/dev/null
expect_match "(e) the newest job's events are there" "$(jget "$HTTP_BODY" '.events | length')" '^[1-9]'
expect_true "(e) workload w kept pid $W" is_workload "$W" "$T/w.status"

finish
