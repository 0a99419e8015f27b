#!/usr/bin/env bash
# test_23_runc.sh: runc containers between two hosts, each with its own runc root
# (network namespaces a and b), moved by hauld through runc's command line so that
# B's runc owns them under the same id:
#   (a) a counter container writing into a file of its own bundle: at B it counts on
#       from its memory into the same file (the bundle travelled), runc state, exec
#       and kill work at B, and A's runc has it no more.
#   (b) a redis container with data, on the hosts' own network: at B every key, it
#       takes writes, and it answers over the veth at B's address.
#   (c) back to A while A's port is taken: the restore is refused at A with the
#       port named, and the container runs again at B from its checkpoint.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=engines.sh
. "$(dirname "$0")/engines.sh"
need_root_and_build

"$LIB_DIR/build-image.sh" "$T/image" >/dev/null || die "test image" "build-image.sh failed"
setup_netns || die "network namespaces" "setup_netns failed"
runc_root A && runc_root B || die "runc roots" "runc_root failed"
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" --runc-root "$A_RUNC_ROOT" || die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" --runc-root "$B_RUNC_ROOT" || die "daemon B starts" "see $T/B.log"

api GET "$A_API/healthz" >/dev/null
expect_eq "healthz: runc can checkpoint" "$(jget "$HTTP_BODY" .engines.runc.checkpoint)" true

# move LABEL ID FROM_API TO_PEER: POST a runc migration and wait; sets JOB_ID and
# JOB_JSON. Not for $(...).
move() {
	local req id
	req=$(jq -cn --arg c "$2" --arg to "$4" '{type: "runc", container: $c, to: $to}')
	JOB_ID=""
	JOB_JSON=""
	api POST "$3/migrations" "$req" >/dev/null
	if [ "$HTTP_STATUS" != 202 ]; then
		fail "$1: accepted" "$HTTP_STATUS $HTTP_BODY"
		return 1
	fi
	id=$(jget "$HTTP_BODY" .id)
	JOB_ID=$id
	JOB_JSON=$(wait_job "$3" "$id" 120) || { fail "$1: job finished" "$JOB_JSON"; return 1; }
	note "$1: $(job_summary "$JOB_JSON")"
}

# status ROOT ID: what `runc state` says of ID ("" when runc does not know it).
status() {
	"$ENGINES_RUNC" --root "$1" state "$2" 2>/dev/null | jq -r .status 2>/dev/null
}

echo "(a) a counter container"
make_bundle "$T/bundle-c1" "$T/image/rootfs" sh -c '/bin/counter >/tmp/ticks' ||
	die "(a) bundle" "make_bundle failed"
runc_run "$A_RUNC_ROOT" "$NS_A" "$T/bundle-c1" c1 || die "(a) c1 starts" "runc_run failed"
wait_for 10 sh -c "[ -s '$T/bundle-c1/rootfs/tmp/ticks' ]"
sleep 1
before=$(counter_value_file "$T/bundle-c1/rootfs/tmp/ticks")
move "(a)" c1 "$A_API" "$B_PEER" || die "(a)" "the rest needs the moved container"
expect_eq "(a) job succeeded" "$(jget "$JOB_JSON" .state)" succeeded || die "(a)" "$JOB_JSON"
expect_eq "(a) runc state at B" "$(status "$B_RUNC_ROOT" c1)" running
BUNDLE_B=$("$ENGINES_RUNC" --root "$B_RUNC_ROOT" state c1 | jq -r .bundle)
note "(a) B's bundle: $BUNDLE_B"
expect_match "(a) B's bundle is a copy of its own" "$BUNDLE_B" "^$B_DATA/runc/c1\$"
TICKS_B=$BUNDLE_B/rootfs/tmp/ticks
if wait_for 10 sh -c "[ \"\$(sed -n '\$s/^tick //p' '$TICKS_B')\" -gt $((before + 5)) ]"; then
	# One file, 1, 2, 3, ...: what it wrote at A travelled, and it went on at B.
	if awk '{ sub(/^tick /, "") } NR != $1 { bad = 1 } END { exit bad }' "$TICKS_B"; then
		pass "(a) at B it counts on in the same file, from its memory, nothing lost or repeated"
	else
		fail "(a) it counts on in the same file" "$(tr '\n' ' ' <"$TICKS_B" | cut -c1-300)"
	fi
else
	fail "(a) it counts on at B" "$(tail -n 3 "$TICKS_B" 2>/dev/null)"
fi
expect_eq "(a) runc exec at B" "$(runc_exec "$B_RUNC_ROOT" "$NS_B" c1 cat /proc/1/comm)" counter
expect_eq "(a) A's runc has it no more" "$(status "$A_RUNC_ROOT" c1)" ""
"$ENGINES_RUNC" --root "$B_RUNC_ROOT" kill c1 KILL
wait_for 10 sh -c "[ \"\$($ENGINES_RUNC --root '$B_RUNC_ROOT' state c1 | jq -r .status)\" = stopped ]"
expect_eq "(a) runc kill at B" "$(status "$B_RUNC_ROOT" c1)" stopped
"$ENGINES_RUNC" --root "$B_RUNC_ROOT" delete c1
expect_eq "(a) runc delete at B" "$(status "$B_RUNC_ROOT" c1)" ""

echo "(b) a redis container with data"
make_bundle "$T/bundle-r1" "$T/image/rootfs" /usr/bin/redis-server --port 6392 --save "" \
	--appendonly no --protected-mode no --unixsocket "$ENGINES_REDIS_SOCK" ||
	die "(b) bundle" "make_bundle failed"
runc_run "$A_RUNC_ROOT" "$NS_A" "$T/bundle-r1" r1 || die "(b) r1 starts" "runc_run failed"
wait_for 10 sh -c "[ \"\$(nsenter --net=/run/netns/$NS_A redis-cli -p 6392 ping 2>/dev/null)\" = PONG ]"
runc_exec "$A_RUNC_ROOT" "$NS_A" r1 sh -c "i=0; while [ \$i -lt 2000 ]; do echo \"SET key:\$i value-\$i\"; i=\$((i+1)); done | redis-cli -s $ENGINES_REDIS_SOCK --pipe" >/dev/null
move "(b)" r1 "$A_API" "$B_PEER" || die "(b)" "see the job"
expect_eq "(b) job succeeded" "$(jget "$JOB_JSON" .state)" succeeded
expect_eq "(b) at B: every key" \
	"$(runc_exec "$B_RUNC_ROOT" "$NS_B" r1 redis-cli -s "$ENGINES_REDIS_SOCK" dbsize)" 2000
expect_eq "(b) at B, over the veth: a value" \
	"$(nsenter --net=/run/netns/$NS_A redis-cli -h "$ADDR_B" -p 6392 get key:1234)" value-1234
expect_eq "(b) at B: it takes writes" \
	"$(nsenter --net=/run/netns/$NS_A redis-cli -h "$ADDR_B" -p 6392 set written-at b)" OK

echo "(c) back to A, whose port is taken"
O=$(start_program other python3 --netns "$NS_A" -- /usr/bin/python3 -m http.server 6392) ||
	die "(c) something listens at A" "no python3"
wait_for 10 sh -c "nsenter --net=/run/netns/$NS_A ss -Hltn 'sport = :6392' | grep -q ."
move "(c)" r1 "$B_API" "$A_PEER"
expect_eq "(c) failed" "$(jget "$JOB_JSON" .state)" failed
expect_eq "(c) error.code" "$(jget "$JOB_JSON" .error.code)" port_in_use
expect_match "(c) the port is named" "$(jget "$JOB_JSON" .error.message)" 'TCP port 6392'
expect_eq "(c) error.process_at" "$(jget "$JOB_JSON" .error.process_at)" source
expect_eq "(c) it runs again at B" "$(status "$B_RUNC_ROOT" r1)" running
expect_eq "(c) with its data" \
	"$(runc_exec "$B_RUNC_ROOT" "$NS_B" r1 redis-cli -s "$ENGINES_REDIS_SOCK" get written-at)" b
expect_eq "(c) nothing of it at A" "$(status "$A_RUNC_ROOT" r1)" ""
kill -KILL "$O"
finish
