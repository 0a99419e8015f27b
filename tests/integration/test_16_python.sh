#!/usr/bin/env bash
# test_16_python.sh: an interpreter with a large heap, between two hosts. CPython
# builds about 128 MiB of objects on host a and keeps re-hashing them against the
# digest it took at the start, serving its state over HTTP. It moves to host b in
# mode live and back in mode lazy; after each move it answers over the veth at its
# new host, keeps computing, and its heap is intact (its own digest check, and the
# digest it reports equal to the one it had before it moved).
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

PY=/usr/bin/python3
[ -x "$PY" ] || die "python3" "$PY is missing (scripts/setup.sh)"
MIB=128
PORT=8765
ST=$T/heap.status

setup_netns || die "network namespaces" "setup_netns failed"
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

P=$(start_program heap python3 --netns "$NS_A" -- "$PY" "$ROOT/tests/progs/heap.py" \
	--mib $MIB --status "$ST" --port $PORT) || die "heap.py starts" "no python3"
wait_for 120 test -s "$ST" || die "heap.py built its heap" "no status"

# state NS ADDR: GET /state from inside NS, the program's own answer. For $(...).
state() {
	timeout 10 nsenter "--net=/run/netns/$1" -- curl -s --max-time 5 "http://$2:$PORT/state"
}

S0=$(state "$NS_B" "$ADDR_A")
expect_eq "heap.py answers on a" "$(jget "$S0" .digest_ok)" 1
EXPECTED=$(jget "$S0" .expected)
OBJECTS=$(jget "$S0" .objects)
note "heap: $OBJECTS objects, digest $EXPECTED"

_passes_above() {
	local n
	n=$(status_field "$1" passes) || return 1
	[ "$n" -gt "$2" ]
}

# check_heap LABEL NS ADDR: asked from NS at ADDR, the program runs on with its heap
# intact: more rounds than before, a completed pass after the move whose digest is
# the one from the start.
check_heap() {
	local label=$1 ns=$2 addr=$3 s r0 p0
	s=$(state "$ns" "$addr")
	if [ -z "$s" ]; then
		fail "$label: answers over the veth" "no answer from $addr:$PORT"
		return 1
	fi
	pass "$label: answers over the veth"
	r0=$(jget "$s" .rounds)
	p0=$(jget "$s" .passes)
	expect_eq "$label: same heap (objects)" "$(jget "$s" .objects)" "$OBJECTS"
	expect_eq "$label: same expected digest" "$(jget "$s" .expected)" "$EXPECTED"
	# A whole new pass over the heap, made after the move.
	if wait_for 60 _passes_above "$ST" $((p0 + 1)); then
		pass "$label: keeps computing (a pass over the whole heap after the move)"
	else
		fail "$label: keeps computing" "$(cat "$ST")"
	fi
	s=$(state "$ns" "$addr")
	expect_eq "$label: digest_ok" "$(jget "$s" .digest_ok)" 1
	expect_eq "$label: the heap's digest is the one from the start" "$(jget "$s" .last)" "$EXPECTED"
	[ "$(jget "$s" .rounds)" -gt "$r0" ] && pass "$label: rounds go on" ||
		fail "$label: rounds go on" "$r0 -> $(jget "$s" .rounds)"
}

migrate_program "a->b live" "$A_API" "$P" "$B_PEER" live || die "a->b live" "see the job"
P1=$MIGRATED_PID
expect_eq "a->b: python lives in namespace b" "$(pid_netns "$P1")" "$(pid_netns "$B_PID")"
expect_num_ge "a->b: stats.bytes covers the heap" "$(jget "$JOB_JSON" .stats.bytes)" $((MIB * 1048576))
check_heap "a->b" "$NS_A" "$ADDR_B"
[ -z "$(state "$NS_B" "$ADDR_A")" ] && pass "a->b: nothing answers on a" ||
	fail "a->b: nothing answers on a" "an answer came"

migrate_program "b->a lazy" "$B_API" "$P1" "$A_PEER" lazy || die "b->a lazy" "see the job"
P2=$MIGRATED_PID
expect_eq "b->a: python lives in namespace a" "$(pid_netns "$P2")" "$(pid_netns "$A_PID")"
expect_num_ge "b->a: most of the heap came lazily (pages)" \
	"$(jget "$JOB_JSON" .stats.lazy_pages)" $((MIB * 256 / 2))
check_heap "b->a" "$NS_B" "$ADDR_A"
[ -z "$(state "$NS_A" "$ADDR_B")" ] && pass "b->a: nothing answers on b" ||
	fail "b->a: nothing answers on b" "an answer came"
finish
