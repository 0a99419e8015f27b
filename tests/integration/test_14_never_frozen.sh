#!/usr/bin/env bash
# test_14_never_frozen.sh: what must never be frozen, and how long anything may be.
# (a) POSTs for trees that hold a hauld daemon (another daemon, one under a wrapper
#     shell), an ancestor of hauld, or a CRIU process get 422 naming "pid", and the
#     process is not touched; a "to" that is this daemon's own peer port gets 422
#     naming "to".
# (b) A "to" that accepts connections but is not a hauld peer port (the other
#     daemon's HTTP API) fails in seconds with peer_not_hauld, the process running on.
# (c) options.max_frozen_ms: the destination pauses before its restore for longer
#     than the bound; the job fails with frozen_too_long, the tree resumes at the
#     source with its memory intact, and the copy the destination restored late is
#     removed: one copy runs.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
HAULD_FAULT=pause:dest_restore start_hauld B --secret-file "$T/secret" ||
	die "daemon B starts" "see $T/B.log"
W=$(start_workload w 64) || die "workload starts" "no workload"

# refused LABEL BODY FIELD REGEX: POST BODY to A must answer 422 naming FIELD, with a
# message matching REGEX, and store no job.
refused() {
	local before after
	before=$(api GET "$A_API/migrations?limit=500" | jq '.migrations | length')
	api POST "$A_API/migrations" "$2" >/dev/null
	expect_eq "$1: 422" "$HTTP_STATUS" 422
	expect_eq "$1: field" "$(jget "$HTTP_BODY" .error.field)" "$3"
	expect_match "$1: says why" "$(jget "$HTTP_BODY" .error.message)" "$4"
	after=$(api GET "$A_API/migrations?limit=500" | jq '.migrations | length')
	expect_eq "$1: no job stored" "$after" "$before"
}

echo "(a) trees that must never be frozen"
refused "another hauld daemon" "{\"type\":\"pid\",\"pid\":$B_PID,\"to\":\"$B_PEER\"}" pid \
	"pid $B_PID is a hauld daemon"
expect_true "daemon B runs on, not frozen" pid_alive "$B_PID"
api GET "$B_API/healthz" >/dev/null
expect_eq "daemon B still answers" "$HTTP_STATUS" 200

refused "an ancestor of hauld" "{\"type\":\"pid\",\"pid\":$$,\"to\":\"$B_PEER\"}" pid \
	"ancestor of hauld"

# A daemon under a wrapper shell: the shell's tree holds it.
mkdir -p "$T/C"
(cd / && exec setsid sh -c "'$BUILD/hauld' --listen 127.0.0.1:0 --peer-listen 127.0.0.1:0 \
	--data-dir '$T/C' --secret-file '$T/secret' >'$T/C.log' 2>&1; :") </dev/null &
WRAP=$!
remember wrapper "$WRAP"
wait_for 10 grep -q 'listening: api=' "$T/C.log" || fail "daemon C starts" "$(cat "$T/C.log")"
refused "a tree holding a hauld daemon" "{\"type\":\"pid\",\"pid\":$WRAP,\"to\":\"$B_PEER\"}" \
	pid "tree of pid $WRAP contains pid [0-9]+, a hauld daemon"
kill -TERM "$WRAP" 2>/dev/null
pkill -TERM -f -- "--data-dir $T/C" 2>/dev/null

# A CRIU page server waiting for a connection is a CRIU process like any other.
mkdir -p "$T/ps"
(cd / && exec setsid /usr/local/sbin/criu page-server --images-dir "$T/ps" --address 127.0.0.1 \
	--port "$(closed_port)" -o "$T/ps/ps.log") </dev/null >/dev/null 2>&1 &
CRIU_PID=$!
remember proc "$CRIU_PID"
wait_for 5 test -s "$T/ps/ps.log"
refused "a CRIU process" "{\"type\":\"pid\",\"pid\":$CRIU_PID,\"to\":\"$B_PEER\"}" pid \
	"is a CRIU process"
kill -KILL "$CRIU_PID" 2>/dev/null
wait "$CRIU_PID" 2>/dev/null

refused "to is this daemon" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$A_PEER\"}" to \
	"this daemon's own peer address"
expect_workload "(a) the workload was not touched" "$W" "$T/w.status"

echo "(b) a to that is not a hauld peer port"
B_API_HOSTPORT=${B_API#http://}
if ID=$(migrate "$A_API" "$W" "$B_API_HOSTPORT"); then
	J=$(wait_job "$A_API" "$ID" 25) || fail "(b) job finished within 25 s" "$J"
	check_failed_at_source "(b)" "$J" "$W" "$T/w.status" 64 '^peer_not_hauld .*peer port'
else
	fail "(b) accepted" "POST refused"
fi

echo "(c) options.max_frozen_ms"
before=$(status_field "$T/w.status" counter)
kill -USR1 "$W"
wait_counter_past "$T/w.status" $((before + 2)) 5
if ID=$(MIGRATE_OPTIONS='{"max_frozen_ms":1000}' migrate "$A_API" "$W" "$B_PEER"); then
	J=$(wait_job "$A_API" "$ID" 60) || fail "(c) job finished" "$J"
	check_failed_at_source "(c)" "$J" "$W" "$T/w.status" 64 \
		'^frozen_too_long .*max_frozen_ms \(1000 ms\)'
	gap=$(status_field "$T/w.status" max_gap_ms)
	# B holds its restore back for 3 s: a tree let go at the bound stood still for
	# less than that.
	if [ "$gap" -lt 3000 ]; then
		pass "(c) the tree was let go before the destination's late restore (gap $gap ms)"
	else
		fail "(c) the tree was let go at the bound" "the workload stood still $gap ms"
	fi
	# B restores late, finds the source gone and asks for the verdict: abort.
	if wait_for 30 _only_workload_is "$T/w.status" "$W"; then
		pass "(c) one copy runs: the destination removed its late copy"
	else
		fail "(c) one copy runs" "workloads: $(workload_pids "$T/w.status" | tr '\n' ' ')"
	fi
	wait_for 10 sh -c "curl -s -H 'Authorization: Bearer $(cat "$API_TOKEN_FILE")' '$B_API/migrations/$ID' | jq -e '.state == \"failed\"' >/dev/null"
	api GET "$B_API/migrations/$ID" >/dev/null
	expect_eq "(c) B's job failed" "$(jget "$HTTP_BODY" .state)" failed
	expect_eq "(c) B says the process is at the source" "$(jget "$HTTP_BODY" .error.process_at)" source
else
	fail "(c) accepted" "POST refused"
fi

api POST "$A_API/migrations" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"options\":{\"max_frozen_ms\":5}}" >/dev/null
expect_eq "(c) max_frozen_ms below 100 is refused" "$HTTP_STATUS" 422
expect_eq "(c) ... naming the option" "$(jget "$HTTP_BODY" .error.field)" options.max_frozen_ms
finish
