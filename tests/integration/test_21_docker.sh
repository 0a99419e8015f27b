#!/usr/bin/env bash
# test_21_docker.sh: Docker containers between two hosts, each with its own dockerd
# (network namespaces a and b), moved by hauld through the Engine API so that B's
# Docker owns them:
#   (a) a counter container whose state lives in its shell's memory, and which wrote
#       a file into its own file system and deleted one of its image: at B it counts
#       on from where it was, the file is there and the deleted one is not; B's Docker
#       lists it, execs in it, logs it, stops and removes it; A has it no more.
#   (b) a redis container with data: at B every key is there and it takes writes.
#   (c) its image only at A: refused in preflight (image_missing), the container runs
#       on at A; with options.transfer_image hauld sends the image and it moves.
#   (d) a restore that fails at B (the container listens on a port of the host's
#       network, which is taken at B): it runs again at A from its checkpoint, with
#       its data, and nothing of it is left at B.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=engines.sh
. "$(dirname "$0")/engines.sh"
need_root_and_build

"$LIB_DIR/build-image.sh" "$T/image" >/dev/null || die "test image" "build-image.sh failed"
setup_netns || die "network namespaces" "setup_netns failed"
start_dockerd A "$NS_A" "$T/image/image.tar" || die "dockerd A starts" "see $T/A.dockerd.log"
start_dockerd B "$NS_B" "$T/image/image.tar" || die "dockerd B starts" "see $T/B.dockerd.log"
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" --docker-host "unix://$A_DOCKER_SOCK" ||
	die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" --docker-host "unix://$B_DOCKER_SOCK" ||
	die "daemon B starts" "see $T/B.log"

api GET "$A_API/healthz" >/dev/null
expect_eq "healthz: A's Docker can checkpoint" "$(jget "$HTTP_BODY" .engines.docker.checkpoint)" true

# move LABEL NAME [OPTIONS_JSON]: POST a docker migration of NAME from A to B and wait;
# sets JOB_ID and JOB_JSON. Not for $(...).
move() {
	local req id opts=${3:-'{}'}
	req=$(jq -cn --arg c "$2" --arg to "$B_PEER" --argjson o "$opts" \
		'{type: "docker", container: $c, to: $to, options: $o}')
	JOB_ID=""
	JOB_JSON=""
	api POST "$A_API/migrations" "$req" >/dev/null
	if [ "$HTTP_STATUS" != 202 ]; then
		fail "$1: accepted" "$HTTP_STATUS $HTTP_BODY"
		return 1
	fi
	id=$(jget "$HTTP_BODY" .id)
	JOB_ID=$id
	JOB_JSON=$(wait_job "$A_API" "$id" 120) || { fail "$1: job finished" "$JOB_JSON"; return 1; }
	note "$1: $(job_summary "$JOB_JSON")"
}

_running_at() {
	[ "$(jget "$(dapi "$1" GET "/containers/$2/json")" .State.Running)" = true ]
}

echo "(a) a counter container"
docker_run_counter "$A_DOCKER_SOCK" counter1 || die "(a) counter starts" "docker_run_counter"
dexec "$A_DOCKER_SOCK" counter1 sh -c 'mkdir -p /data && echo written-at-a >/data/note && rm /bin/vi' ||
	die "(a) the container changes its files" "dexec failed"
wait_for 10 counter_past_docker "$A_DOCKER_SOCK" counter1 5
before=$(counter_value_docker "$A_DOCKER_SOCK" counter1)
move "(a)" counter1 || die "(a)" "the rest needs the moved container"
expect_eq "(a) job succeeded" "$(jget "$JOB_JSON" .state)" succeeded || die "(a)" "$JOB_JSON"
expect_eq "(a) job names the container" "$(jget "$JOB_JSON" .container.name)" counter1
NEWID=$(jget "$JOB_JSON" .result.container)
expect_match "(a) result.container is B's new container" "$NEWID" '^[0-9a-f]{64}$'
dapi "$B_DOCKER_SOCK" GET "/containers/json?all=1" >/dev/null
expect_eq "(a) B's Docker lists it, running" \
	"$(jget "$HTTP_BODY" '.[] | select(.Names[0] == "/counter1") | .State')" running
expect_eq "(a) ... as the job's result" \
	"$(jget "$HTTP_BODY" '.[] | select(.Names[0] == "/counter1") | .Id')" "$NEWID"
if wait_for 10 counter_past_docker "$B_DOCKER_SOCK" counter1 "$before"; then
	first=$(_eng_stream /v1.41 "$B_DOCKER_SOCK" GET "/containers/counter1/logs?stdout=1&stderr=1" |
		_eng_demux 2>&1 | sed -n 's/^tick \([0-9]*\).*/\1/p' | head -n 1)
	if [ -n "$first" ] && [ "$first" -gt "$before" ]; then
		pass "(a) at B it counts on from its memory (first tick at B $first, last at A $before)"
	else
		fail "(a) it counts on from its memory" "first tick at B '$first', last at A $before"
	fi
else
	fail "(a) docker logs at B show it counting" "$(counter_value_docker "$B_DOCKER_SOCK" counter1)"
fi
expect_eq "(a) docker exec at B: the file it wrote is there" \
	"$(dexec "$B_DOCKER_SOCK" counter1 cat /data/note)" written-at-a
if dexec "$B_DOCKER_SOCK" counter1 test -e /bin/vi; then
	fail "(a) the file it deleted stays deleted" "/bin/vi is back"
else
	pass "(a) the file it deleted stays deleted"
fi
dapi "$A_DOCKER_SOCK" GET /containers/counter1/json >/dev/null
expect_eq "(a) A's Docker has it no more" "$HTTP_STATUS" 404
dapi "$B_DOCKER_SOCK" POST "/containers/counter1/stop?t=1" >/dev/null
expect_eq "(a) docker stop at B" "$HTTP_STATUS" 204
dapi "$B_DOCKER_SOCK" DELETE /containers/counter1 >/dev/null
expect_eq "(a) docker rm at B" "$HTTP_STATUS" 204

echo "(b) a redis container with data"
docker_run_redis "$A_DOCKER_SOCK" redis1 || die "(b) redis starts" "docker_run_redis"
dexec "$A_DOCKER_SOCK" redis1 sh -c "i=0; while [ \$i -lt 2000 ]; do echo \"SET key:\$i value-\$i\"; i=\$((i+1)); done | redis-cli -s $ENGINES_REDIS_SOCK --pipe" >/dev/null
expect_eq "(b) redis holds the data at A" \
	"$(dexec "$A_DOCKER_SOCK" redis1 redis-cli -s "$ENGINES_REDIS_SOCK" dbsize)" 2000
move "(b)" redis1 || die "(b)" "see the job"
expect_eq "(b) job succeeded" "$(jget "$JOB_JSON" .state)" succeeded
expect_eq "(b) at B: every key" "$(dexec "$B_DOCKER_SOCK" redis1 redis-cli -s "$ENGINES_REDIS_SOCK" dbsize)" 2000
expect_eq "(b) at B: a value" \
	"$(dexec "$B_DOCKER_SOCK" redis1 redis-cli -s "$ENGINES_REDIS_SOCK" get key:1234)" value-1234
expect_eq "(b) at B: it takes writes" \
	"$(dexec "$B_DOCKER_SOCK" redis1 redis-cli -s "$ENGINES_REDIS_SOCK" incr moved)" 1

echo "(c) an image only A has"
dapi "$B_DOCKER_SOCK" POST "/commit?container=redis1&repo=localhost/hauld-only-a&tag=1" >/dev/null
# Committed at B (where redis1 now is) and loaded into A, then removed at B: only A has it.
_eng_stream /v1.41 "$B_DOCKER_SOCK" GET "/images/get?names=localhost/hauld-only-a:1" >"$T/only-a.tar"
docker_load_image "$A_DOCKER_SOCK" "$T/only-a.tar" || die "(c) image at A" "load failed"
dapi "$B_DOCKER_SOCK" DELETE "/images/localhost/hauld-only-a:1?force=1" >/dev/null
ENGINES_IMAGE=localhost/hauld-only-a:1 docker_run_redis "$A_DOCKER_SOCK" redis2 ||
	die "(c) redis2 starts" "docker_run_redis"
dexec "$A_DOCKER_SOCK" redis2 redis-cli -s "$ENGINES_REDIS_SOCK" set mark only-a >/dev/null
move "(c) without transfer_image" redis2
expect_eq "(c) failed" "$(jget "$JOB_JSON" .state)" failed
expect_eq "(c) error.code" "$(jget "$JOB_JSON" .error.code)" image_missing
expect_match "(c) the message says what to do" "$(jget "$JOB_JSON" .error.message)" \
	'not at the destination.*options\.transfer_image'
expect_eq "(c) refused in preflight" "$(jget "$JOB_JSON" .error.phase)" preflight
expect_eq "(c) the container runs on at A" \
	"$(dexec "$A_DOCKER_SOCK" redis2 redis-cli -s "$ENGINES_REDIS_SOCK" get mark)" only-a
dapi "$B_DOCKER_SOCK" GET /containers/redis2/json >/dev/null
expect_eq "(c) nothing was created at B" "$HTTP_STATUS" 404
move "(c) with transfer_image" redis2 '{"transfer_image":true}'
expect_eq "(c) with transfer_image: succeeded" "$(jget "$JOB_JSON" .state)" succeeded
expect_eq "(c) at B, with its data" \
	"$(dexec "$B_DOCKER_SOCK" redis2 redis-cli -s "$ENGINES_REDIS_SOCK" get mark)" only-a

echo "(d) a restore that fails at B"
# A redis on the hosts' own network, port 6390; at B something else has that port.
ENGINES_CREATE_EXTRA='{"HostConfig":{"NetworkMode":"host"}}' \
	docker_run "$A_DOCKER_SOCK" redis3 /usr/bin/redis-server --port 6390 --save "" \
	--appendonly no --protected-mode no --unixsocket "$ENGINES_REDIS_SOCK" ||
	die "(d) redis3 starts" "docker_run"
wait_for 10 _eng_pong dexec "$A_DOCKER_SOCK" redis3
dexec "$A_DOCKER_SOCK" redis3 redis-cli -s "$ENGINES_REDIS_SOCK" set mark before-the-move >/dev/null
O=$(start_program other python3 --netns "$NS_B" -- /usr/bin/python3 -m http.server 6390) ||
	die "(d) something listens at B" "no python3"
wait_for 10 sh -c "nsenter --net=/run/netns/$NS_B ss -Hltn 'sport = :6390' | grep -q ."
move "(d)" redis3
expect_eq "(d) failed" "$(jget "$JOB_JSON" .state)" failed
expect_eq "(d) error.process_at" "$(jget "$JOB_JSON" .error.process_at)" source
expect_eq "(d) error.code names the cause" "$(jget "$JOB_JSON" .error.code)" port_in_use
expect_match "(d) and the port" "$(jget "$JOB_JSON" .error.message)" 'TCP port 6390'
expect_eq "(d) B's job says the same" \
	"$(jget "$(api GET "$B_API/migrations/$JOB_ID")" .error.code)" port_in_use
expect_match "(d) the message says so" "$(jget "$JOB_JSON" .error.message)" \
	'keeps running at the source'
expect_true "(d) it runs again at A" _running_at "$A_DOCKER_SOCK" redis3
expect_eq "(d) with its data" \
	"$(dexec "$A_DOCKER_SOCK" redis3 redis-cli -s "$ENGINES_REDIS_SOCK" get mark)" before-the-move
dapi "$B_DOCKER_SOCK" GET /containers/redis3/json >/dev/null
expect_eq "(d) nothing of it is left at B" "$HTTP_STATUS" 404
kill -KILL "$O"
finish
