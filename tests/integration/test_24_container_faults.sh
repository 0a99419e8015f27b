#!/usr/bin/env bash
# test_24_container_faults.sh: a Docker container must end up running in exactly one
# place whatever happens to the migration, and the POST says what cannot move:
#   (a) the POST refuses an unknown container (404), a stopped one (422), one with a
#       volume that is not declared shared (422, the mount named), and a daemon
#       without a configured engine (422); options.shared_paths lets the mount pass;
#   (b) its configuration travels: environment, labels, restart policy, memory limit;
#   (c) a cancel while its engine has stopped it for the checkpoint: it runs again at
#       A from its checkpoint, with its state;
#   (d) A is killed (SIGKILL) while its checkpoint is taken and before B restored
#       anything, then restarted: A's recovery runs it again at A;
#   (e) A is killed after B restored it (paused), then restarted: recovery commits,
#       it runs at B, and A's container is removed.
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
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" --docker-host "unix://$B_DOCKER_SOCK" ||
	die "daemon B starts" "see $T/B.log"
SRC_ARGS=(--netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0"
	--secret-file "$T/secret" --docker-host "unix://$A_DOCKER_SOCK")

# post NAME [OPTIONS_JSON]: POST a docker migration of NAME from A to B (no wait).
post() {
	local opts=${2:-'{}'}
	api POST "$A_API/migrations" "$(jq -cn --arg c "$1" --arg to "$B_PEER" --argjson o "$opts" \
		'{type: "docker", container: $c, to: $to, options: $o}')" >/dev/null
}

_running_at() {
	[ "$(jget "$(dapi "$1" GET "/containers/$2/json")" .State.Running)" = true ]
}

_phase_is() {
	api GET "$1/migrations/$2" >/dev/null
	[ "$(jget "$HTTP_BODY" .phase)" = "$3" ]
}

# where NAME: "a", "b", "both" or "none": where a container named NAME runs. For $(...).
where() {
	local a=0 b=0
	_running_at "$A_DOCKER_SOCK" "$1" && a=1
	_running_at "$B_DOCKER_SOCK" "$1" && b=1
	case "$a$b" in 10) echo a ;; 01) echo b ;; 11) echo both ;; *) echo none ;; esac
}

start_hauld A "${SRC_ARGS[@]}" || die "daemon A starts" "see $T/A.log"

echo "(a) what the POST refuses"
post no-such-container
expect_eq "(a) unknown container: 404" "$HTTP_STATUS" 404
expect_eq "(a) ... naming container" "$(jget "$HTTP_BODY" .error.field)" container
docker_run "$A_DOCKER_SOCK" stopped1 /bin/true
sleep 1
post stopped1
expect_eq "(a) stopped container: 422" "$HTTP_STATUS" 422
expect_match "(a) ... says it is not running" "$(jget "$HTTP_BODY" .error.message)" 'not running'
ENGINES_CREATE_EXTRA='{"HostConfig":{"Binds":["'"$T"'/shared:/shared"]}}' \
	docker_run_counter "$A_DOCKER_SOCK" vol1 || die "(a) vol1 starts" "docker_run_counter"
post vol1
expect_eq "(a) an undeclared bind mount: 422" "$HTTP_STATUS" 422
expect_match "(a) ... naming it" "$(jget "$HTTP_BODY" .error.message)" \
	"/shared \\(bind $T/shared\\).*options\\.shared_paths"
post vol1 "{\"shared_paths\":[\"$T/shared\"]}"
expect_eq "(a) declared shared: accepted" "$HTTP_STATUS" 202
JSON=$(wait_job "$A_API" "$(jget "$HTTP_BODY" .id)" 120)
expect_eq "(a) ... and it moves" "$(jget "$JSON" .state)" succeeded
expect_eq "(a) ... to B" "$(where vol1)" b
start_hauld C --listen 127.0.0.1:0 --peer-listen 127.0.0.1:0 --secret-file "$T/secret" \
	--docker-host "" || die "daemon C starts" "see $T/C.log"
api POST "$C_API/migrations" "{\"type\":\"docker\",\"container\":\"vol1\",\"to\":\"$B_PEER\"}" >/dev/null
expect_eq "(a) no engine configured: 422" "$HTTP_STATUS" 422
expect_match "(a) ... says how to configure it" "$(jget "$HTTP_BODY" .error.message)" '--docker-host'
stop_hauld C

echo "(b) its configuration travels"
ENGINES_CREATE_EXTRA='{"Env":["GREETING=hello from a"],"Labels":{"team":"hauld"},
	"HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"Memory":268435456}}' \
	docker_run_counter "$A_DOCKER_SOCK" conf1 || die "(b) conf1 starts" "docker_run_counter"
post conf1
JSON=$(wait_job "$A_API" "$(jget "$HTTP_BODY" .id)" 120)
expect_eq "(b) moved" "$(jget "$JSON" .state)" succeeded
INSPECT=$(dapi "$B_DOCKER_SOCK" GET /containers/conf1/json)
expect_eq "(b) its environment" "$(dexec "$B_DOCKER_SOCK" conf1 sh -c 'echo $GREETING')" "hello from a"
expect_eq "(b) its label" "$(jget "$INSPECT" .Config.Labels.team)" hauld
expect_eq "(b) its restart policy" "$(jget "$INSPECT" '.HostConfig.RestartPolicy | "\(.Name) \(.MaximumRetryCount)"')" "on-failure 3"
expect_eq "(b) its memory limit" "$(jget "$INSPECT" .HostConfig.Memory)" 268435456

echo "(c) a cancel while its engine has stopped it"
stop_hauld A
HAULD_FAULT=pause:frozen start_hauld A "${SRC_ARGS[@]}" || die "A restarts" "see $T/A.log"
docker_run_counter "$A_DOCKER_SOCK" cancel1 || die "(c) cancel1 starts" "docker_run_counter"
wait_for 10 counter_past_docker "$A_DOCKER_SOCK" cancel1 5
before=$(counter_value_docker "$A_DOCKER_SOCK" cancel1)
post cancel1
ID=$(jget "$HTTP_BODY" .id)
wait_for 60 sh -c "! curl -s --max-time 2 --unix-socket '$A_DOCKER_SOCK' http://d/v1.41/containers/cancel1/json | jq -e .State.Running >/dev/null"
api DELETE "$A_API/migrations/$ID" >/dev/null
expect_eq "(c) cancel accepted" "$HTTP_STATUS" 202
JSON=$(wait_job "$A_API" "$ID" 60)
expect_eq "(c) cancelled" "$(jget "$JSON" .state)" cancelled
expect_eq "(c) process_at" "$(jget "$JSON" .error.process_at)" source
expect_eq "(c) it runs at A only" "$(where cancel1)" a
wait_for 10 counter_past_docker "$A_DOCKER_SOCK" cancel1 "$before"
first=$(docker_logs "$A_DOCKER_SOCK" cancel1 | sed -n 's/^tick \([0-9]*\).*/\1/p' | tail -n 1)
if [ -n "$first" ] && [ "$first" -gt "$before" ]; then
	pass "(c) from its checkpoint: it counts on past $before ($first)"
else
	fail "(c) from its checkpoint" "last tick '$first', before $before"
fi
dapi "$B_DOCKER_SOCK" GET /containers/cancel1/json >/dev/null
expect_eq "(c) nothing at B" "$HTTP_STATUS" 404

echo "(d) A killed before B restored anything"
docker_run_counter "$A_DOCKER_SOCK" crash1 || die "(d) crash1 starts" "docker_run_counter"
post crash1
ID=$(jget "$HTTP_BODY" .id)
expect_true "(d) the job reaches its hold" wait_for 60 _phase_is "$A_API" "$ID" dumping
wait_for 60 sh -c "! curl -s --max-time 2 --unix-socket '$A_DOCKER_SOCK' http://d/v1.41/containers/crash1/json | jq -e .State.Running >/dev/null"
sleep 0.5     # inside pause:frozen: checkpointed, nothing sent yet
kill_hauld A
expect_eq "(d) with A gone, it runs nowhere" "$(where crash1)" none
start_hauld A "${SRC_ARGS[@]}" || die "(d) A restarts" "see $T/A.log"
JSON=$(wait_job "$A_API" "$ID" 90)
expect_eq "(d) recovery: failed, rolled back" "$(jget "$JSON" .error.code)" daemon_restarted
expect_eq "(d) process_at" "$(jget "$JSON" .error.process_at)" source
expect_eq "(d) it runs at A only" "$(where crash1)" a

echo "(e) A killed after B restored it"
stop_hauld A
HAULD_FAULT=pause:restored start_hauld A "${SRC_ARGS[@]}" || die "A restarts" "see $T/A.log"
docker_run_counter "$A_DOCKER_SOCK" crash2 || die "(e) crash2 starts" "docker_run_counter"
post crash2
ID=$(jget "$HTTP_BODY" .id)
expect_true "(e) the job reaches phase restoring" wait_for 60 _phase_is "$A_API" "$ID" restoring
wait_for 30 sh -c "curl -s --max-time 2 --unix-socket '$B_DOCKER_SOCK' http://d/v1.41/containers/crash2/json | jq -e .State.Paused >/dev/null"
expect_eq "(e) B holds it paused" \
	"$(jget "$(dapi "$B_DOCKER_SOCK" GET /containers/crash2/json)" .State.Status)" paused
kill_hauld A
start_hauld A "${SRC_ARGS[@]}" || die "(e) A restarts" "see $T/A.log"
JSON=$(wait_job "$A_API" "$ID" 90)
expect_eq "(e) recovery committed" "$(jget "$JSON" .state)" succeeded
expect_true "(e) it runs at B" wait_for 10 _running_at "$B_DOCKER_SOCK" crash2
expect_eq "(e) it runs at B only" "$(where crash2)" b
dapi "$A_DOCKER_SOCK" GET /containers/crash2/json >/dev/null
expect_eq "(e) A's container was removed" "$HTTP_STATUS" 404
finish
