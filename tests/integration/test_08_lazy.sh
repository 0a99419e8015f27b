#!/usr/bin/env bash
# test_08_lazy.sh: post-copy. A 256 MiB workload moves A->B in mode lazy: the job
# reports strategy post-copy, shows the pages still to come while its lazy phase
# runs, ends when every page has arrived, and the process runs on at B with its
# memory intact. The same workload then moves back in mode live (stop-and-copy), and
# the frozen and downtime figures of both are printed side by side.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=256
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"
note "workload pid $W, A at $A_API, B at $B_API"

before=$(status_field "$T/w.status" counter)
kill -USR1 "$W"
wait_counter_past "$T/w.status" $((before + 2)) 5
ID=$(migrate "$A_API" "$W" "$B_PEER" lazy) || die "lazy migration accepted" "POST refused"
pass "lazy migration accepted as job $ID"

# Poll closely: the lazy phase of 256 MiB lasts about a second here.
seen_left=""
end=$(($(now_ms) + 120000))
while [ "$(now_ms)" -lt "$end" ]; do
	api GET "$A_API/migrations/$ID" >/dev/null
	state=$(jget "$HTTP_BODY" .state)
	if [ "$(jget "$HTTP_BODY" .phase)" = lazy ]; then
		left=$(jget "$HTTP_BODY" .stats.lazy_pages_left)
		[ -n "$left" ] && [ -z "$seen_left" ] && seen_left=$left
	fi
	case "$state" in succeeded | failed | cancelled) break ;; esac
	sleep 0.05
done
JSON=$HTTP_BODY
note "lazy: $(job_summary "$JSON")"
expect_eq "lazy job succeeded" "$(jget "$JSON" .state)" succeeded || die "lazy" "$JSON"
expect_eq "strategy is post-copy" "$(jget "$JSON" .strategy)" post-copy
expect_match "strategy_reason says why" "$(jget "$JSON" .strategy_reason)" userfaultfd
expect_num_ge "pages left were shown during the lazy phase" "${seen_left:-x}" 0
expect_num_ge "stats.lazy_pages counts the lazy pages" "$(jget "$JSON" .stats.lazy_pages)" \
	$((MIB * 256 / 2))
expect_eq "no page left at the end" "$(jget "$JSON" .stats.lazy_pages_left)" 0
P1=$(jget "$JSON" .result.pid)
track_pid "$P1"
expect_true "result.pid $P1 is the workload" is_workload "$P1" "$T/w.status"
expect_true "source pid $W gone" wait_for 10 pid_gone "$W"
check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
	"lazy: workload counts on, memory intact"
api GET "$B_API/migrations/$ID" >/dev/null
expect_eq "B's side of the job succeeded once every page arrived" \
	"$(jget "$HTTP_BODY" .state)" succeeded
lazy_frozen=$(jget "$JSON" .stats.frozen_ms)
lazy_down=$(jget "$JSON" .stats.downtime_ms)
lazy_gap=$(status_field "$T/w.status" max_gap_ms)

migrate_and_check "live B->A" "$B_API" "$P1" "$A_PEER" "$T/w.status" $MIB ||
	die "live B->A" "the comparison needs it"
live_frozen=$(jget "$JOB_JSON" .stats.frozen_ms)
live_down=$(jget "$JOB_JSON" .stats.downtime_ms)
live_gap=$(status_field "$T/w.status" max_gap_ms)

note "256 MiB       frozen_ms  downtime_ms  longest gap seen by the workload (ms)"
note "lazy          $lazy_frozen  $lazy_down  $lazy_gap"
note "stop-and-copy $live_frozen  $live_down  $live_gap"
note "(in lazy mode the source stays frozen until its last page has left, but the"
note " process already runs at the destination: downtime is what it waited)"
finish
