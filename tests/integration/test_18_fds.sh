#!/usr/bin/env bash
# test_18_fds.sh: a process of many kinds of file descriptor between two hosts: an
# epoll instance watching a periodic timerfd, an eventfd it feeds, and a signalfd,
# and a file it keeps appending to through one descriptor (on a path both hosts
# see). It moves to host b in mode live and back in mode lazy; after each move the
# timer ticks on (without having to be re-armed), the eventfd keeps its count, a
# signal sent to the new pid arrives through the signalfd, and the file goes on from
# where it was: seq=1..N, no line lost, none twice.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

ST=$T/fds.status
OUT=$T/fds.out

setup_netns || die "network namespaces" "setup_netns failed"
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

P=$(start_program fds fds --netns "$NS_A" -- "$BUILD/fds" --status "$ST" --append "$OUT") ||
	die "fds starts" "no fds"
wait_for 10 test -s "$ST" || die "fds reports" "no status"

_field_past() {
	local v
	v=$(status_field "$1" "$2") || return 1
	[ "$v" -gt "$3" ]
}

# check_fds LABEL PID: after a move, the process at PID with every descriptor
# working.
check_fds() {
	local label=$1 pid=$2 t0 s0 lines
	t0=$(status_field "$ST" ticks)
	if wait_for 10 _field_past "$ST" ticks $((t0 + 50)); then
		pass "$label: the timerfd ticks on"
	else
		fail "$label: the timerfd ticks on" "$(cat "$ST")"
	fi
	expect_eq "$label: the timer never had to be re-armed" "$(status_field "$ST" rearms)" 0
	s0=$(status_field "$ST" signals)
	kill -USR2 "$pid"
	if wait_for 5 _field_past "$ST" signals "$s0"; then
		pass "$label: SIGUSR2 to pid $pid arrives through the signalfd"
	else
		fail "$label: SIGUSR2 arrives through the signalfd" "$(cat "$ST")"
	fi
	expect_eq "$label: no eventfd, write or epoll error" "$(status_field "$ST" errors)" 0
	# The file: read a consistent snapshot against the count the process reports.
	lines=$(wc -l <"$OUT")
	expect_eq "$label: $OUT holds seq=1..$lines in order, none lost or doubled" \
		"$(head -n "$lines" "$OUT" | md5sum)" "$(seq -f 'seq=%.0f' 1 "$lines" | md5sum)"
	expect_num_ge "$label: the file grew after the move" "$lines" $((t0 / 5 + 1))
}

sleep 1
kill -USR2 "$P"
wait_for 5 _field_past "$ST" signals 0 || fail "fds counts signals" "$(cat "$ST")"
migrate_program "a->b live" "$A_API" "$P" "$B_PEER" live || die "a->b live" "see the job"
P1=$MIGRATED_PID
expect_eq "a->b: fds lives in namespace b" "$(pid_netns "$P1")" "$(pid_netns "$B_PID")"
check_fds "a->b" "$P1"

migrate_program "b->a lazy" "$B_API" "$P1" "$A_PEER" lazy || die "b->a lazy" "see the job"
P2=$MIGRATED_PID
check_fds "b->a" "$P2"
expect_eq "b->a: the signal count came along" "$(status_field "$ST" signals)" 3
finish
