#!/usr/bin/env bash
# test_15_redis.sh: a TCP server with state, between two hosts. Debian's redis-server
# runs on host a (network namespace a) with 100,000 keys loaded through its own
# protocol; it moves to host b in mode live, and back in mode lazy. After each move
# a client on the other host asks it over the veth: every key is there with its
# value, it takes writes, and nothing answers at its old address.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

REDIS=$(command -v redis-server) || die "redis-server" "not installed (scripts/setup.sh)"
command -v redis-cli >/dev/null || die "redis-cli" "not installed (scripts/setup.sh)"
KEYS=100000
PORT=6379

setup_netns || die "network namespaces" "setup_netns failed"
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

# rcli NS ADDR ARGS...: redis-cli from inside NS against ADDR.
rcli() {
	local ns=$1 addr=$2
	shift 2
	timeout 20 nsenter "--net=/run/netns/$ns" -- redis-cli -h "$addr" -p $PORT "$@"
}

R=$(start_program redis redis-server --netns "$NS_A" -- "$REDIS" --port $PORT \
	--bind 0.0.0.0 --protected-mode no --save "" --appendonly no --daemonize no) ||
	die "redis starts" "no redis-server"
wait_for 10 sh -c "[ \"\$(nsenter --net=/run/netns/$NS_A -- redis-cli -h $ADDR_A -p $PORT PING 2>/dev/null)\" = PONG ]" ||
	die "redis answers" "no PONG"

# The data, through redis's own protocol: KEYS strings, a hash, a list, a counter.
awk -v n=$KEYS 'BEGIN { for (i = 1; i <= n; i++) printf "SET key:%d value-%d-%d\r\n", i, i, i * 7919 % 100003 }' |
	in_netns "$NS_A" redis-cli -h "$ADDR_A" -p $PORT --pipe >"$T/load.out" 2>&1
for i in $(seq 1 50); do echo "HSET h f$i $((i * i))"; echo "RPUSH l item$i"; done |
	in_netns "$NS_A" redis-cli -h "$ADDR_A" -p $PORT >/dev/null
rcli "$NS_A" "$ADDR_A" SET counter 41 >/dev/null
expect_eq "redis holds the data" "$(rcli "$NS_A" "$ADDR_A" DBSIZE)" $((KEYS + 3))

# check_redis LABEL NS ADDR SIZE: what redis at ADDR (asked from NS) must hold and
# do: SIZE keys, of which the KEYS loaded with their values; it then takes writes
# (and has one key more).
check_redis() {
	local label=$1 ns=$2 addr=$3 size=$4 bad=0 want got
	expect_eq "$label: PING over the veth" "$(rcli "$ns" "$addr" PING)" PONG || return 1
	expect_eq "$label: DBSIZE" "$(rcli "$ns" "$addr" DBSIZE)" "$size"
	# Every key, with MGET in batches of 1000, against the values it was given.
	for ((b = 0; b < KEYS / 1000; b++)); do
		got=$(rcli "$ns" "$addr" MGET $(seq -f 'key:%.0f' $((b * 1000 + 1)) $((b * 1000 + 1000))) | md5sum)
		want=$(awk -v a=$((b * 1000 + 1)) -v z=$((b * 1000 + 1000)) 'BEGIN { for (i = a; i <= z; i++) printf "value-%d-%d\n", i, i * 7919 % 100003 }' | md5sum)
		[ "$got" = "$want" ] || bad=$((bad + 1))
	done
	expect_eq "$label: all $KEYS values intact (batches that differ)" "$bad" 0
	expect_eq "$label: the hash" "$(rcli "$ns" "$addr" HGET h f50)" 2500
	expect_eq "$label: the list" "$(rcli "$ns" "$addr" LINDEX l 49)" item50
	want=$(($(rcli "$ns" "$addr" GET counter) + 1))
	expect_eq "$label: it takes writes (INCR)" "$(rcli "$ns" "$addr" INCR counter)" "$want"
	expect_eq "$label: and SET" "$(rcli "$ns" "$addr" SET moved "$label")" OK
}

migrate_program "a->b live" "$A_API" "$R" "$B_PEER" live ||
	die "a->b live" "the rest needs the moved redis"
R1=$MIGRATED_PID
expect_eq "a->b: redis lives in namespace b" "$(pid_netns "$R1")" "$(pid_netns "$B_PID")"
expect_eq "a->b: it is redis-server" "$(cat "/proc/$R1/comm")" redis-server
check_redis "a->b: asked from a" "$NS_A" "$ADDR_B" $((KEYS + 3))
if rcli "$NS_B" "$ADDR_A" PING >/dev/null 2>&1; then
	fail "a->b: nothing answers at a's address any more" "PING answered"
else
	pass "a->b: nothing answers at a's address any more"
fi

migrate_program "b->a lazy" "$B_API" "$R1" "$A_PEER" lazy ||
	die "b->a lazy" "the rest needs the moved redis"
R2=$MIGRATED_PID
expect_eq "b->a: redis lives in namespace a" "$(pid_netns "$R2")" "$(pid_netns "$A_PID")"
expect_num_ge "b->a: lazy pages were counted" "$(jget "$JOB_JSON" .stats.lazy_pages)" 1
expect_eq "b->a: the write made on b is there" "$(rcli "$NS_B" "$ADDR_A" GET moved)" \
	"a->b: asked from a"
check_redis "b->a: asked from b" "$NS_B" "$ADDR_A" $((KEYS + 4))
if rcli "$NS_A" "$ADDR_B" PING >/dev/null 2>&1; then
	fail "b->a: nothing answers at b's address any more" "PING answered"
else
	pass "b->a: nothing answers at b's address any more"
fi

sleep 1
expect_eq "no zombie under daemon A" "$(zombies_of "$A_PID")" ""
expect_eq "no zombie under daemon B" "$(zombies_of "$B_PID")" ""
finish
