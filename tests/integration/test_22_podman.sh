#!/usr/bin/env bash
# test_22_podman.sh: Podman containers between two hosts, each with its own podman
# API service (network namespaces a and b), moved by hauld through the libpod API so
# that B's Podman owns them, with their id, name and log:
#   (a) a counter container that also wrote a file into its own file system: at B it
#       counts on from its memory, the file is there; B's Podman lists it, execs in
#       it, stops and removes it; A has it no more.
#   (b) a redis container with data: at B every key, and it takes writes; then back
#       to A with options.keep_source, which leaves B's stopped copy there.
#   (c) its image only at A: refused in preflight (image_missing), the container runs
#       on; with options.transfer_image the image travels and the container moves.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=engines.sh
. "$(dirname "$0")/engines.sh"
need_root_and_build

"$LIB_DIR/build-image.sh" "$T/image" >/dev/null || die "test image" "build-image.sh failed"
setup_netns || die "network namespaces" "setup_netns failed"
start_podman A "$NS_A" "$T/image/image.tar" || die "podman A starts" "see $T/A.podman.log"
start_podman B "$NS_B" "$T/image/image.tar" || die "podman B starts" "see $T/B.podman.log"
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" --podman-host "unix://$A_PODMAN_SOCK" ||
	die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" --podman-host "unix://$B_PODMAN_SOCK" ||
	die "daemon B starts" "see $T/B.log"

api GET "$A_API/healthz" >/dev/null
expect_eq "healthz: A's Podman can checkpoint" "$(jget "$HTTP_BODY" .engines.podman.checkpoint)" true

# move LABEL NAME FROM_API TO_PEER [OPTIONS_JSON]: POST a podman migration and wait;
# sets JOB_ID and JOB_JSON. Not for $(...).
move() {
	local req id opts=${5:-'{}'}
	req=$(jq -cn --arg c "$2" --arg to "$4" --argjson o "$opts" \
		'{type: "podman", container: $c, to: $to, options: $o}')
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

_state_at() {
	jget "$(papi "$1" GET "/containers/$2/json")" .State.Status
}

echo "(a) a counter container"
podman_run_counter "$A_PODMAN_SOCK" counter1 || die "(a) counter starts" "podman_run_counter"
ID=$CONTAINER_ID
pexec "$A_PODMAN_SOCK" counter1 sh -c 'mkdir -p /data && echo written-at-a >/data/note' ||
	die "(a) the container writes a file" "pexec failed"
wait_for 10 counter_past_podman "$A_PODMAN_SOCK" counter1 5
before=$(counter_value_podman "$A_PODMAN_SOCK" counter1)
move "(a)" counter1 "$A_API" "$B_PEER" || die "(a)" "the rest needs the moved container"
expect_eq "(a) job succeeded" "$(jget "$JOB_JSON" .state)" succeeded || die "(a)" "$JOB_JSON"
expect_eq "(a) it keeps its id" "$(jget "$JOB_JSON" .result.container)" "$ID"
expect_eq "(a) B's Podman lists it, running" \
	"$(jget "$(papi "$B_PODMAN_SOCK" GET '/containers/json')" \
		'.[] | select(.Names[0] == "counter1") | .State')" running
if wait_for 10 counter_past_podman "$B_PODMAN_SOCK" counter1 "$((before + 3))"; then
	# Podman's log travelled: ticks from A are in it, and the restored copy goes on.
	ticks=$(podman_logs "$B_PODMAN_SOCK" counter1 | sed -n 's/^tick \([0-9]*\).*/\1/p')
	if [ "$(printf '%s\n' "$ticks" | head -n 1)" = 1 ] &&
		printf '%s\n' "$ticks" | awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { exit bad }'; then
		pass "(a) at B its log counts 1, 2, 3, ... on from its memory, no tick lost or repeated"
	else
		fail "(a) its log counts on" "$(printf '%s\n' "$ticks" | tr '\n' ' ' | cut -c1-300)"
	fi
else
	fail "(a) podman logs at B show it counting" "$(counter_value_podman "$B_PODMAN_SOCK" counter1)"
fi
expect_eq "(a) podman exec at B: the file it wrote is there" \
	"$(pexec "$B_PODMAN_SOCK" counter1 cat /data/note)" written-at-a
papi "$A_PODMAN_SOCK" GET /containers/counter1/exists >/dev/null
expect_eq "(a) A's Podman has it no more" "$HTTP_STATUS" 404
papi "$B_PODMAN_SOCK" POST "/containers/counter1/stop?timeout=1" >/dev/null
expect_eq "(a) podman stop at B" "$HTTP_STATUS" 204
papi "$B_PODMAN_SOCK" DELETE "/containers/counter1?force=true" >/dev/null
expect_match "(a) podman rm at B" "$HTTP_STATUS" '^20[04]$'

echo "(b) a redis container with data"
podman_run_redis "$A_PODMAN_SOCK" redis1 || die "(b) redis starts" "podman_run_redis"
pexec "$A_PODMAN_SOCK" redis1 sh -c "i=0; while [ \$i -lt 2000 ]; do echo \"SET key:\$i value-\$i\"; i=\$((i+1)); done | redis-cli -s $ENGINES_REDIS_SOCK --pipe" >/dev/null
move "(b)" redis1 "$A_API" "$B_PEER" || die "(b)" "see the job"
expect_eq "(b) job succeeded" "$(jget "$JOB_JSON" .state)" succeeded
expect_eq "(b) at B: every key" "$(pexec "$B_PODMAN_SOCK" redis1 redis-cli -s "$ENGINES_REDIS_SOCK" dbsize)" 2000
expect_eq "(b) at B: a value" \
	"$(pexec "$B_PODMAN_SOCK" redis1 redis-cli -s "$ENGINES_REDIS_SOCK" get key:1234)" value-1234
expect_eq "(b) at B: it takes writes" \
	"$(pexec "$B_PODMAN_SOCK" redis1 redis-cli -s "$ENGINES_REDIS_SOCK" set written-at b)" OK
move "(b) back, keep_source" redis1 "$B_API" "$A_PEER" '{"keep_source":true}'
expect_eq "(b) back: succeeded" "$(jget "$JOB_JSON" .state)" succeeded
expect_eq "(b) back at A with what B wrote" \
	"$(pexec "$A_PODMAN_SOCK" redis1 redis-cli -s "$ENGINES_REDIS_SOCK" get written-at)" b
expect_eq "(b) B kept its stopped copy" "$(_state_at "$B_PODMAN_SOCK" redis1)" exited

echo "(c) an image only A has"
# A commit at A of the counter's image makes an image B does not have.
papi "$A_PODMAN_SOCK" POST "/commit?container=redis1&repo=localhost/hauld-only-a&tag=1" >/dev/null
expect_eq "(c) an image only A has" "$HTTP_STATUS" 200
ENGINES_IMAGE=localhost/hauld-only-a:1 podman_run_redis "$A_PODMAN_SOCK" redis2 ||
	die "(c) redis2 starts" "podman_run_redis"
pexec "$A_PODMAN_SOCK" redis2 redis-cli -s "$ENGINES_REDIS_SOCK" set mark only-a >/dev/null
move "(c) without transfer_image" redis2 "$A_API" "$B_PEER"
expect_eq "(c) failed" "$(jget "$JOB_JSON" .state)" failed
expect_eq "(c) error.code" "$(jget "$JOB_JSON" .error.code)" image_missing
expect_eq "(c) refused in preflight" "$(jget "$JOB_JSON" .error.phase)" preflight
expect_eq "(c) the container runs on at A" \
	"$(pexec "$A_PODMAN_SOCK" redis2 redis-cli -s "$ENGINES_REDIS_SOCK" get mark)" only-a
move "(c) with transfer_image" redis2 "$A_API" "$B_PEER" '{"transfer_image":true}'
expect_eq "(c) with transfer_image: succeeded" "$(jget "$JOB_JSON" .state)" succeeded
expect_eq "(c) at B, with its data" \
	"$(pexec "$B_PODMAN_SOCK" redis2 redis-cli -s "$ENGINES_REDIS_SOCK" get mark)" only-a
finish
