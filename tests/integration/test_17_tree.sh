#!/usr/bin/env bash
# test_17_tree.sh: a multi-process tree between two hosts. A parent and 6 workers
# share 32 MiB of memory and talk over pipes (parent -> worker) and unix socketpairs
# (worker -> parent) every 20 ms, each checking the others' work. The tree moves to
# host b in mode live and back in mode lazy; after each move every process is there
# (the same 7 tasks, each worker still the parent's child), every worker answers
# every round, their counters go on from where they were, and no check has failed.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

N=6
ST=$T/tree.status

setup_netns || die "network namespaces" "setup_netns failed"
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

P=$(start_program tree tree --netns "$NS_A" -- "$BUILD/tree" --workers $N --mib 32 \
	--status "$ST") || die "tree starts" "no tree"
wait_for 10 test -s "$ST" || die "tree reports" "no status"

_round_past() {
	local r
	r=$(status_field "$1" round) || return 1
	[ "$r" -gt "$2" ]
}

# check_tree LABEL PID ROUND0: the tree at PID is whole and healthy, and its rounds
# went on past ROUND0 (read before the move).
check_tree() {
	local label=$1 pid=$2 r0=$3 r
	expect_eq "$label: the same $((N + 1)) tasks" "$(tree_comms "$pid" | sort | uniq -c | tr -s ' ')" \
		" $((N + 1)) tree"
	expect_eq "$label: each worker is the parent's child" \
		"$(wc -w </proc/"$pid"/task/"$pid"/children)" $N
	if wait_for 20 _round_past "$ST" $((r0 + 50)); then
		pass "$label: rounds go on past $r0"
	else
		fail "$label: rounds go on" "$(cat "$ST")"
		return 1
	fi
	r=$(status_field "$ST" round)
	expect_eq "$label: alive" "$(status_field "$ST" alive)" $N
	expect_eq "$label: every worker answered" "$(status_field "$ST" answered)" $N
	expect_eq "$label: no check failed" "$(status_field "$ST" errors)" 0
	expect_eq "$label: shared pattern intact" "$(status_field "$ST" pattern_ok)" 1
	# Counters count rounds: none was lost or doubled across the move.
	expect_eq "$label: every counter is at the round" \
		"$(status_field "$ST" counters | tr ',' '\n' | sort -u | wc -l)" 1
}

R0=$(status_field "$ST" round)
migrate_program "a->b live" "$A_API" "$P" "$B_PEER" live || die "a->b live" "see the job"
P1=$MIGRATED_PID
expect_eq "a->b: the tree lives in namespace b" "$(pid_netns "$P1")" "$(pid_netns "$B_PID")"
check_tree "a->b" "$P1" "$R0"

R0=$(status_field "$ST" round)
migrate_program "b->a lazy" "$B_API" "$P1" "$A_PEER" lazy || die "b->a lazy" "see the job"
P2=$MIGRATED_PID
expect_eq "b->a: the tree lives in namespace a" "$(pid_netns "$P2")" "$(pid_netns "$A_PID")"
check_tree "b->a" "$P2" "$R0"
expect_eq "b->a: no tree task is left on b" "$(pgrep -x tree | while read -r p; do [ "$(pid_netns "$p")" = "$(pid_netns "$B_PID")" ] && echo "$p"; done)" ""
finish
