#!/usr/bin/env bash
# test_12_partition.sh: the network between the two hosts goes silent while the
# source holds the frozen tree and waits for the destination (no RST, no FIN: the
# veth is taken down, so packets just vanish). The source must notice on its own
# (TCP keepalive and user timeout on its connections, 30 s), give up, and let CRIU
# resume the tree: one copy, at the source, memory intact, and the job says so. The
# destination notices too and drops what it had. Without those limits the source
# would hold the tree frozen until its hour-long wait for the restore ran out.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the _helpers are called through wait_for
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=64
setup_netns || die "network namespaces" "setup_netns failed"
make_secret "$T/secret"
HAULD_FAULT=pause:frozen start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" \
	--peer-listen "$ADDR_A:0" --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB --netns "$NS_A") || die "workload starts" "no workload"
note "workload pid $W, A at $A_API, B at $B_API (peer $B_PEER)"

_log_has() {
	grep -qE -- "$2" "$1"
}

ID=$(migrate "$A_API" "$W" "$B_PEER") || die "migration accepted" "POST refused"
pass "accepted as job $ID"
# A pauses 3 s with the tree frozen and its pages at B, before the images and the
# restore request: cut the link there.
wait_for 30 _log_has "$T/A.log" "fault injection: pausing [0-9]+ ms at pause:frozen\$" ||
	die "A reached pause:frozen" "no pause logged"
ip -n "$NS_B" link set veth0 down || die "link down" "ip link set failed"
pass "the link between the hosts is down (packets dropped silently)"
t0=$(now_ms)
JSON=$(wait_job "$A_API" "$ID" 75) || fail "A gives up within 75 s" "$JSON"
waited=$(($(now_ms) - t0))
note "A: $(job_summary "$JSON") after $waited ms"
expect_eq "A: job failed" "$(jget "$JSON" .state)" failed
expect_eq "A: error.process_at source" "$(jget "$JSON" .error.process_at)" source
expect_match "A: the error names the peer" "$(jget "$JSON" .error.message)" 'peer|connection|timed out'
expect_workload "the workload still runs as pid $W" "$W" "$T/w.status"
check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
	"the workload counts on at the source, memory intact"
expect_true "exactly one workload writes w.status" wait_for 5 _only_workload_is "$T/w.status" "$W"

# B lost both connections too; within its own keepalive it drops the job.
_b_done() {
	api GET "$B_API/migrations/$ID" >/dev/null
	[[ "$(jget "$HTTP_BODY" .state)" =~ ^(failed|cancelled)$ ]] || [ "$HTTP_STATUS" = 404 ]
}
expect_true "B's job ends" wait_for 60 _b_done
note "B: $(job_summary "$HTTP_BODY")"
_no_job_dir() {
	[ ! -e "$B_DATA/jobs/$ID" ]
}
expect_true "B has no jobs/$ID directory" wait_for 10 _no_job_dir
expect_true "exactly one workload writes w.status, after B's cleanup" _only_workload_is "$T/w.status" "$W"

ip -n "$NS_B" link set veth0 up
# The link back: the same workload moves now.
migrate_and_check "after the partition" "$A_API" "$W" "$B_PEER" "$T/w.status" $MIB
expect_true "daemon A still running" pid_alive "$A_PID"
expect_true "daemon B still running" pid_alive "$B_PID"
finish
