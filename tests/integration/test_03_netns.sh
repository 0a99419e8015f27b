#!/usr/bin/env bash
# test_03_netns.sh: the loopback round trip again, but as two hosts: daemon A in
# network namespace a, daemon B in namespace b, joined only by a veth pair. The
# workload starts in a; after the move it must live in b's network namespace, and
# in a's again after the move back.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=64
setup_netns || die "network namespaces" "setup_netns failed"
make_secret "$T/secret"
# Each API listens on its namespace's own address, so the two origins never clash.
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts in $NS_A" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" || die "daemon B starts in $NS_B" "see $T/B.log"
expect_match "B's peer address is on the veth" "$B_PEER" "^$ADDR_B:[0-9]+$"
NET_A=$(pid_netns "$A_PID")
NET_B=$(pid_netns "$B_PID")
if [ -z "$NET_A" ] || [ "$NET_A" = "$NET_B" ]; then
	die "namespaces differ" "A $NET_A, B $NET_B"
fi

W=$(start_workload w $MIB --netns "$NS_A" --children 1) || die "workload starts" "no workload"
expect_eq "workload starts in namespace a" "$(pid_netns "$W")" "$NET_A"
note "workload pid $W, A at $A_API (peer $A_PEER), B at $B_API (peer $B_PEER)"

migrate_and_check "a->b" "$A_API" "$W" "$B_PEER" "$T/w.status" $MIB ||
	die "a->b" "the rest needs the migrated process"
P1=$MIGRATED_PID
expect_eq "a->b: workload lives in namespace b" "$(pid_netns "$P1")" "$NET_B"

migrate_and_check "b->a" "$B_API" "$P1" "$A_PEER" "$T/w.status" $MIB ||
	die "b->a" "the rest needs the migrated process"
P2=$MIGRATED_PID
expect_eq "b->a: workload lives in namespace a" "$(pid_netns "$P2")" "$NET_A"

sleep 1
expect_eq "no zombie under daemon A" "$(zombies_of "$A_PID")" ""
expect_eq "no zombie under daemon B" "$(zombies_of "$B_PID")" ""

finish
