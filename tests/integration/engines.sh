# shellcheck shell=bash
# engines.sh: container engines for the container integration tests, sourced after
# lib.sh. Each "host" of a test (a network namespace from setup_netns) can get its own
# dockerd, podman API service and runc root, set up so that checkpoint and restore work
# between the hosts of one machine (the recipe and its reasons: docs/CONTAINERS.md).
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/engines.sh"
#   "$LIB_DIR/build-image.sh" "$T/image"          # the test image, about 0.6 s
#   setup_netns
#   start_dockerd A "$NS_A" "$T/image/image.tar"  # sets A_DOCKER_SOCK, A_DOCKER_ROOT
#   docker_run_counter "$A_DOCKER_SOCK" c1
#   counter_value_docker "$A_DOCKER_SOCK" c1      # the last "tick N": N
#
# Everything an engine writes lives under $T/NAME.docker, $T/NAME.podman or
# $T/NAME.runc (data, run state, temporary files, runtime state, CNI, locks, logs in
# $T/*.log), its containers' cgroups under $ENGINES_CGROUP (one cgroup per test run, in
# every hierarchy). engines_cleanup, which lib.sh's cleanup calls through its
# CLEANUP_HOOKS, removes the containers through the engines' APIs, stops the engines,
# kills what is left in those directories and cgroups, unmounts what they left mounted
# under $T and removes the cgroups. It runs after the hauld daemons are stopped (so none
# restores a container while the engines go) and before the rest is killed.
#
# Functions that set variables (start_*, runc_root, runc_run, *_run*, dapi, papi) must
# not run inside $(...); those meant for $(...) say so.

ENGINES_IMAGE=localhost/hauld-test:1
ENGINES_CRIU=/usr/local/sbin/criu
ENGINES_RUNC=/usr/sbin/runc
# /usr/local/sbin first: every runc an engine starts then finds CRIU 4.2.1 as "criu"
# too (Debian's 3.17 does not work on this kernel), and so does podman's own check.
ENGINES_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The cgroup parent of every container started here, in every hierarchy: one per test
# run, so that cleanup removes exactly what this run created.
ENGINES_CGROUP=/$(basename "$T")
# Seconds any one API call may take (a checkpoint export of a big container included).
ENGINES_HTTP_TIMEOUT=${ENGINES_HTTP_TIMEOUT:-60}
# redis-server as docker_run_redis and podman_run_redis run it: TCP 6379 and a unix
# socket, which works after a restore whatever became of the network namespace.
ENGINES_REDIS_SOCK=/tmp/redis.sock
_ENG_REDIS_ARGS=(/usr/bin/redis-server --port 6379 --unixsocket "$ENGINES_REDIS_SOCK"
	--unixsocketperm 700 --save '' --appendonly no --protected-mode no)
# Where every podman service sees its own directory (see start_podman).
ENGINES_PODMAN_DIR=$T/podman
# "KIND NAME DIR PID SOCK" of every engine started here (KIND docker, podman or runc;
# "-" for what a runc root has not).
: >"$T/engines"
# Set by the functions below for the tests that source this file.
# shellcheck disable=SC2034
{ CONTAINER_ID=""; CONTAINER_PID=""; }

# lib.sh calls the functions in CLEANUP_HOOKS from its _cleanup, once the hauld
# daemons are stopped.
CLEANUP_HOOKS+=(engines_cleanup)

# /run/containerd/s holds the shims' sockets at a path containerd 1.6 hard-codes; it
# is removed at cleanup when it was not there before this test.
[ -e /run/containerd ] && _ENG_HAD_RUN_CONTAINERD=1 || _ENG_HAD_RUN_CONTAINERD=0

# ---------------------------------------------------------------------------
# Small helpers

# _eng_json_array ARGS...: the arguments as a JSON array of strings (any characters,
# also a leading "-", which jq would take for an option after --args). For $(...).
_eng_json_array() {
	local json='[]' a
	for a in "$@"; do
		json=$(jq -c --arg a "$a" '. + [$a]' <<<"$json") || return 1
	done
	printf '%s\n' "$json"
}

# _eng_demux: Docker's multiplexed stream (8-byte headers: stream 0/1/2, 3 zero
# bytes, a big-endian length) on stdin to stdout and stderr; a stream without those
# headers (a Tty container's) passes unchanged.
_eng_demux() {
	perl -e '
		binmode STDIN; binmode STDOUT; binmode STDERR;
		my $b = do { local $/; <STDIN> } // "";
		if ($b =~ /^[\x00-\x02]\x00\x00\x00/) {
			while (length($b) >= 8) {
				my ($t, $n) = unpack("C x3 N", substr($b, 0, 8));
				my $d = substr($b, 8, $n);
				$b = substr($b, 8 + $n);
				if ($t == 2) { print STDERR $d } else { print STDOUT $d }
			}
		} else {
			print STDOUT $b;
		}'
}

# _eng_http PREFIX [-o FILE] SOCK METHOD PATH [BODY]: see dapi.
_eng_http() {
	local prefix=$1 out="" sock method path hdr body
	local -a cmd=()
	shift
	if [ "${1:-}" = -o ]; then
		out=$2
		shift 2
	fi
	sock=$1 method=$2 path=$3
	hdr=$T/.eng.$BASHPID.hdr
	body=${out:-$T/.eng.$BASHPID.body}
	cmd=(curl -s -g --connect-timeout 5 --max-time "$ENGINES_HTTP_TIMEOUT" --unix-socket "$sock"
		-X "$method" -D "$hdr" -o "$body" -w '%{http_code}')
	if [ $# -ge 4 ]; then
		cmd+=(-H "Content-Type: ${CONTENT_TYPE:-application/json}" --data-binary "$4")
	fi
	HTTP_STATUS=$("${cmd[@]}" "http://d$prefix$path" 2>/dev/null)
	[ -n "$HTTP_STATUS" ] || HTTP_STATUS=000
	# shellcheck disable=SC2034 # lib.sh's, for the caller
	HTTP_LOCATION=""
	if [ -n "$out" ]; then
		HTTP_BODY=""
	else
		HTTP_BODY=$(cat "$body" 2>/dev/null)
		rm -f "$body"
		printf '%s\n' "$HTTP_BODY"
	fi
	rm -f "$hdr"
}

# dapi [-o FILE] SOCK METHOD PATH [BODY]: the Docker Engine API at unix socket SOCK,
# PATH without the version (/containers/json: /v1.41 is put before it). BODY is JSON
# text, or @FILE to send FILE; its Content-Type is application/json unless CONTENT_TYPE
# is set on the call (CONTENT_TYPE=application/x-tar dapi S PUT /... @f.tar). Prints
# the body (to FILE instead with -o, for tars and streams) and sets HTTP_STATUS (000
# when there was no answer) and HTTP_BODY, as lib.sh's api does. Not for $(...) when
# the caller needs HTTP_STATUS.
dapi() {
	_eng_http /v1.41 "$@"
}

# papi [-o FILE] SOCK METHOD PATH [BODY]: the same for the libpod API of a podman
# service (/v4.0.0/libpod is put before PATH). Podman's Docker-compatible API answers
# dapi on the same socket.
papi() {
	_eng_http /v4.0.0/libpod "$@"
}

# _eng_stream PREFIX SOCK METHOD PATH [JSON]: the raw body of one call on stdout.
_eng_stream() {
	local prefix=$1 sock=$2 method=$3 path=$4
	local -a cmd=(curl -s -g --connect-timeout 5 --max-time "$ENGINES_HTTP_TIMEOUT"
		--unix-socket "$sock" -X "$method")
	[ $# -ge 5 ] && cmd+=(-H 'Content-Type: application/json' --data-binary "$5")
	"${cmd[@]}" "http://d$prefix$path"
}

# _eng_wait_up PID TIMEOUT_S CMD...: until CMD succeeds; 1 at once when PID dies,
# or on timeout.
_eng_wait_up() {
	local pid=$1 end
	end=$(($(now_ms) + $(_secs_ms "$2")))
	shift 2
	while :; do
		"$@" && return 0
		pid_alive "$pid" || return 1
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

_eng_ping() {
	[ "$(curl -s --max-time 2 --unix-socket "$1" "http://d$2" 2>/dev/null)" = OK ]
}

# _eng_start LOG ENV... -- CMD...: start CMD in its own session with the environment
# variables ENV (NAME=VALUE) set, stdin /dev/null, stdout and stderr to LOG, remember
# it (kind "engine": lib.sh's cleanup kills it if engines_cleanup has not stopped it)
# and echo its pid. The session keeps the signal
# that timeout(1) sends to the test's process group away from the engine, so that the
# cleanup finds it running and removes its containers through its API first.
_eng_start() {
	local log=$1 pid
	local -a envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	# Not a process group leader in a background subshell, so setsid does not fork
	# and $! is the engine itself (nsenter --net does not fork either).
	(cd / && exec env "${envs[@]}" setsid "$@") </dev/null >"$log" 2>&1 &
	pid=$!
	remember engine "$pid"
	echo "$pid"
}

_eng_have_netns() {
	[ -e "/run/netns/$1" ] && return 0
	echo "engines: no network namespace $1" >&2
	return 1
}

# ---------------------------------------------------------------------------
# Docker

# start_dockerd NAME NETNS [IMAGE_TAR]: a dockerd (docker.io 20.10) in network namespace
# NETNS (nsenter --net: `ip netns exec` would remount /sys and hide the cgroups from
# it), with its own data root, exec root, pidfile, key file and temporary directory
# under $T/NAME.docker, socket $T/NAME.docker.sock, cgroup parent $ENGINES_CGROUP/NAME.docker,
# experimental (checkpoints need it) and, as its default runtime "runc-criu", runc with
# --criu /usr/local/sbin/criu; its log is $T/NAME.dockerd.log. Waits (up to 30 s) for
# GET /_ping, then loads IMAGE_TAR when given (docker_load_image). Sets NAME_DOCKER_SOCK,
# NAME_DOCKER_ROOT (its DockerRootDir, where checkpoints are) and NAME_DOCKER_PID.
# One dockerd per network namespace: two in one namespace fight over docker0.
start_dockerd() {
	local name=$1 netns=$2 tar=${3:-} d=$T/$1.docker sock=$T/$1.docker.sock pid info root
	_eng_have_netns "$netns" || return 1
	if [ -n "$(awk -v n="$name" '$1 == "docker" && $2 == n' "$T/engines")" ]; then
		echo "start_dockerd $name: already started" >&2
		return 1
	fi
	# containerd's longest socket, $d/exec/containerd/containerd.sock.ttrpc, must fit
	# a sockaddr_un (107 bytes and a NUL).
	if [ $((${#d} + 39)) -gt 107 ]; then
		echo "start_dockerd $name: $d is too long for containerd's sockets under it" >&2
		return 1
	fi
	mkdir -p "$d/tmp"
	# deprecated-key-path (a daemon.json key only) keeps the key dockerd makes at its
	# first start out of /etc/docker/key.json.
	jq -n --arg runc "$ENGINES_RUNC" --arg criu "$ENGINES_CRIU" --arg key "$d/key.json" '{
		experimental: true, "deprecated-key-path": $key,
		runtimes: {"runc-criu": {path: $runc, runtimeArgs: ["--criu", $criu]}},
		"default-runtime": "runc-criu"}' >"$d/daemon.json" || return 1
	# TMPDIR reaches the containerd dockerd starts: for every start from a checkpoint
	# it unpacks the checkpoint into $TMPDIR/ctrd-checkpoint* and never removes it.
	pid=$(_eng_start "$T/$name.dockerd.log" PATH="$ENGINES_PATH" TMPDIR="$d/tmp" -- \
		nsenter "--net=/run/netns/$netns" -- /usr/sbin/dockerd \
		--config-file "$d/daemon.json" --data-root "$d/root" --exec-root "$d/exec" \
		--pidfile "$d/dockerd.pid" \
		--host "unix://$sock" --cgroup-parent "$ENGINES_CGROUP/$name.docker" \
		--storage-driver overlay2)
	echo "docker $name $d $pid $sock" >>"$T/engines"
	printf -v "${name}_DOCKER_PID" '%s' "$pid"
	printf -v "${name}_DOCKER_SOCK" '%s' "$sock"
	if ! _eng_wait_up "$pid" 30 _eng_ping "$sock" /_ping; then
		echo "start_dockerd $name: no answer to GET /_ping within 30 s (pid $pid $(pid_alive "$pid" && echo runs || echo exited))" >&2
		tail -n 20 "$T/$name.dockerd.log" | sed 's/^/    /' >&2
		return 1
	fi
	if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != dockerd ]; then
		echo "start_dockerd $name: pid $pid is not dockerd" >&2
		return 1
	fi
	info=$(dapi "$sock" GET /info)
	root=$(jget "$info" .DockerRootDir)
	if [ "$(jget "$info" .ExperimentalBuild)" != true ] || [ -z "$root" ]; then
		echo "start_dockerd $name: not experimental or no DockerRootDir: $HTTP_STATUS $info" >&2
		return 1
	fi
	printf -v "${name}_DOCKER_ROOT" '%s' "$root"
	if [ -n "$tar" ]; then
		docker_load_image "$sock" "$tar" || return 1
	fi
	return 0
}

# docker_load_image SOCK IMAGE_TAR: POST /images/load of a docker-save archive; 1
# unless Docker says it loaded it.
docker_load_image() {
	CONTENT_TYPE=application/x-tar dapi "$1" POST '/images/load?quiet=1' "@$2" >/dev/null
	if [ "$HTTP_STATUS" != 200 ] || ! grep -q 'Loaded image' <<<"$HTTP_BODY"; then
		echo "docker_load_image $1 $2: $HTTP_STATUS $HTTP_BODY" >&2
		return 1
	fi
}

# docker_run SOCK NAME CMD...: create container NAME of $ENGINES_IMAGE running CMD with
# network "none", start it and wait (10 s) until it runs. ENGINES_CREATE_EXTRA, when
# set, is a JSON object merged into the create body (Env, Labels, Tty, HostConfig...).
# Sets CONTAINER_ID to its full ID.
docker_run() {
	local sock=$1 name=$2 args req
	shift 2
	CONTAINER_ID=""
	args=$(_eng_json_array "$@") || return 1
	req=$(jq -cn --arg img "$ENGINES_IMAGE" --argjson cmd "$args" \
		--argjson extra "${ENGINES_CREATE_EXTRA:-null}" \
		'{Image: $img, Cmd: $cmd, HostConfig: {NetworkMode: "none"}} * ($extra // {})') || return 1
	dapi "$sock" POST "/containers/create?name=$name" "$req" >/dev/null
	if [ "$HTTP_STATUS" != 201 ]; then
		echo "docker_run $name: create: $HTTP_STATUS $HTTP_BODY" >&2
		return 1
	fi
	CONTAINER_ID=$(jget "$HTTP_BODY" .Id)
	dapi "$sock" POST "/containers/$CONTAINER_ID/start" >/dev/null
	if [ "$HTTP_STATUS" != 204 ]; then
		echo "docker_run $name: start: $HTTP_STATUS $HTTP_BODY" >&2
		return 1
	fi
	if ! wait_for 10 _docker_running "$sock" "$CONTAINER_ID"; then
		echo "docker_run $name: not running after 10 s" >&2
		return 1
	fi
}

_docker_running() {
	[ "$(jget "$(_eng_stream /v1.41 "$1" GET "/containers/$2/json")" .State.Running)" = true ]
}

# docker_run_counter SOCK NAME: docker_run of /bin/counter; waits (10 s) for its first
# tick in the logs. Sets CONTAINER_ID.
docker_run_counter() {
	docker_run "$1" "$2" /bin/counter || return 1
	wait_for 10 counter_past_docker "$1" "$2" 0 ||
		{ echo "docker_run_counter $2: no tick in its logs after 10 s" >&2; return 1; }
}

# docker_run_redis SOCK NAME: docker_run of redis-server on port 6379 and on the unix
# socket $ENGINES_REDIS_SOCK, nothing saved to disk, protected mode off; waits (10 s)
# until `redis-cli -s $ENGINES_REDIS_SOCK ping` in it says PONG. Sets CONTAINER_ID.
docker_run_redis() {
	docker_run "$1" "$2" "${_ENG_REDIS_ARGS[@]}" || return 1
	wait_for 10 _eng_pong dexec "$1" "$2" ||
		{ echo "docker_run_redis $2: no PONG after 10 s" >&2; return 1; }
}

_eng_pong() {
	[ "$("$1" "$2" "$3" redis-cli -s "$ENGINES_REDIS_SOCK" ping 2>/dev/null)" = PONG ]
}

# dexec SOCK NAME CMD...: run CMD in the running container NAME (POST
# /containers/NAME/exec, /exec/ID/start), print its stdout (its stderr to stderr) and
# return its exit status; 125 when Docker refused the exec. For $(...).
dexec() {
	local sock=$1 name=$2 args id
	shift 2
	args=$(_eng_json_array "$@") || return 125
	dapi "$sock" POST "/containers/$name/exec" \
		"{\"AttachStdout\":true,\"AttachStderr\":true,\"Cmd\":$args}" >/dev/null
	id=$(jget "$HTTP_BODY" .Id)
	if [ "$HTTP_STATUS" != 201 ] || [ -z "$id" ]; then
		echo "dexec $name: $HTTP_STATUS $HTTP_BODY" >&2
		return 125
	fi
	_eng_stream /v1.41 "$sock" POST "/exec/$id/start" '{"Detach":false,"Tty":false}' | _eng_demux
	_eng_exec_code /v1.41 "$sock" "$id"
}

# _eng_exec_code PREFIX SOCK ID: return the exit code of exec session ID once it has
# ended (up to 5 s after its output did); 125 when there is none.
_eng_exec_code() {
	local i json
	for ((i = 0; i < 100; i++)); do
		json=$(_eng_stream "$1" "$2" GET "/exec/$3/json")
		# Not jget: it takes false for "no value".
		if [ "$(jq -r .Running <<<"$json" 2>/dev/null)" = false ]; then
			return "$(jq -r '.ExitCode // 125' <<<"$json" 2>/dev/null || echo 125)"
		fi
		sleep 0.05
	done
	return 125
}

# docker_logs SOCK NAME [QUERY]: container NAME's log, stdout and stderr together
# (GET /containers/NAME/logs?stdout=1&stderr=1&QUERY, e.g. tail=5). For $(...).
docker_logs() {
	_eng_stream /v1.41 "$1" GET "/containers/$2/logs?stdout=1&stderr=1${3:+&$3}" | _eng_demux 2>&1
}

# counter_value_docker SOCK NAME: the N of the last "tick N" in container NAME's logs
# (GET /containers/NAME/logs; after a restore Docker has only what the restored copy
# wrote). Returns 1 when there is none. For $(...).
counter_value_docker() {
	_eng_last_tick "$(docker_logs "$1" "$2" tail=20)"
}

# counter_past_docker SOCK NAME N: 0 when the counter of NAME is above N (wait_for).
counter_past_docker() {
	local v
	v=$(counter_value_docker "$1" "$2") && [ "$v" -gt "$3" ]
}

_eng_last_tick() {
	local v
	v=$(printf '%s\n' "$1" | sed -n 's/^tick \([0-9][0-9]*\)\r*$/\1/p' | tail -n 1)
	[ -n "$v" ] || return 1
	echo "$v"
}

# ---------------------------------------------------------------------------
# Podman

# start_podman NAME NETNS [IMAGE_TAR]: a podman (4.3) API service, `podman system
# service --time 0 unix://$T/NAME.podman.sock`, in network namespace NETNS and in a
# mount namespace of its own where its directory $T/NAME.podman is bind-mounted at
# $ENGINES_PODMAN_DIR ($T/podman, empty outside). Every service thus has the same
# paths, as podman on two real hosts has: an imported checkpoint's config.dump names
# the source's storage paths (conmon's pid file, the shm dir, the log) and podman uses
# them as they are, so with per-service paths on one machine the import writes into
# the source's directories and fails once the source container is gone.
# Its --root, --runroot and containers.conf are there too: runtime runc through a
# wrapper named runc that adds --root (a runc state dir of its own: by default both
# services would share /run/runc, and an imported checkpoint keeps its container ID)
# and --criu (crun, podman's default, has no CRIU here); default_ulimits nofile and
# nproc within root's hard limits; cgroupfs; file events; its own tmp dir (TMPDIR too:
# uploads are spooled there); file locks (not the /dev/shm segment all podmans share);
# a CNI config dir and IPAM dataDir; an exec session's conmon lingers 5 s after it,
# not 300 s. /var/tmp (image loads unpack there whatever TMPDIR says), /run/netns (bridge
# networks' namespaces) and /var/lib/containers (a blob cache) are directories of its
# own in that mount namespace. Its containers' mounts exist only there: from the host,
# $T/NAME.podman/root shows the files but no container's root file system.
# Its log is $T/NAME.podman.log. Waits (30 s) for GET /libpod/_ping, then loads
# IMAGE_TAR when given (podman_load_image). Sets NAME_PODMAN_SOCK, NAME_PODMAN_PID,
# NAME_PODMAN_ROOT (its graph root as the host sees it; the API says
# $ENGINES_PODMAN_DIR/root) and NAME_PODMAN_CGROUP ($ENGINES_CGROUP/podman, the cgroup
# parent podman_run gives containers: containers.conf has no such setting, and an
# imported container keeps the one it had at the source anyway).
start_podman() {
	local name=$1 netns=$2 tar=${3:-} p=$T/$1.podman sock=$T/$1.podman.sock pid
	local q=$ENGINES_PODMAN_DIR
	_eng_have_netns "$netns" || return 1
	if [ -n "$(awk -v n="$name" '$1 == "podman" && $2 == n' "$T/engines")" ]; then
		echo "start_podman $name: already started" >&2
		return 1
	fi
	mkdir -p "$q" "$p"/{bin,runc,net,ipam,tmp,vartmp,netns,varlib-containers}
	cat >"$p/bin/runc" <<-EOF
		#!/bin/sh
		# podman's runtime: runc with a state dir of this service's own and CRIU 4.2.1.
		# Named runc and set in containers.conf, so that conmon's exit command (podman
		# container cleanup) runs it too: --runtime-flag would not reach that command.
		exec $ENGINES_RUNC --root $q/runc --criu $ENGINES_CRIU "\$@"
	EOF
	chmod 755 "$p/bin/runc"
	# Podman's default bridge network, with the IPAM allocations in a dir of its own
	# (host-local keeps them in /var/lib/cni/networks otherwise).
	jq -n --arg data "$q/ipam" '{cniVersion: "0.4.0", name: "podman", plugins: [
		{type: "bridge", bridge: "cni-podman0", isGateway: true, ipMasq: true, hairpinMode: true,
		 ipam: {type: "host-local", dataDir: $data, routes: [{dst: "0.0.0.0/0"}],
		        ranges: [[{subnet: "10.88.0.0/16", gateway: "10.88.0.1"}]]}},
		{type: "portmap", capabilities: {portMappings: true}},
		{type: "firewall"}, {type: "tuning"}]}' >"$p/net/87-podman-bridge.conflist" || return 1
	cat >"$p/containers.conf" <<-EOF
		[containers]
		# root's hard limits here are nofile 20000 and nproc 96363; podman's defaults are
		# above them, and runc fails with "error setting rlimit type 7".
		default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

		[network]
		network_backend = "cni"
		network_config_dir = "$q/net"

		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$q/events.log"
		tmp_dir = "$q/tmp"
		image_copy_tmp_dir = "$q/tmp"
		static_dir = "$q/root/libpod"
		volume_path = "$q/root/volumes"
		lock_type = "file"
		# An exec session's conmon waits this long before its cleanup (300 s by default,
		# and that cleanup mounts the storage again); pexec reads the exit code at once.
		exit_command_delay = 5

		[engine.runtimes]
		runc = ["$q/bin/runc"]
	EOF
	# The mounts: $p at $q, and the directories podman writes outside its own. The
	# copies of the named network namespaces go first: they would keep every test's
	# namespaces alive (after `ip netns del`) as long as this service runs.
	# shellcheck disable=SC2016 # the inner shell's arguments
	local setup='mount --bind "$1" "$2" && mount --bind "$1/vartmp" /var/tmp &&
		for m in $(awk '\''$5 ~ "^/run/netns/" { print $5 }'\'' /proc/self/mountinfo); do
			umount -l "$m" || true; done &&
		mount --bind "$1/netns" /run/netns &&
		{ [ ! -d /var/lib/containers ] || mount --bind "$1/varlib-containers" /var/lib/containers; } &&
		shift 2 && exec "$@"'
	pid=$(_eng_start "$T/$name.podman.log" PATH="$ENGINES_PATH" TMPDIR="$q/tmp" \
		CONTAINERS_CONF="$q/containers.conf" -- \
		nsenter "--net=/run/netns/$netns" -- unshare --mount --propagation private -- \
		sh -c "$setup" sh "$p" "$q" /usr/bin/podman \
		--root "$q/root" --runroot "$q/run" --storage-driver overlay \
		system service --time 0 "unix://$sock")
	echo "podman $name $p $pid $sock" >>"$T/engines"
	printf -v "${name}_PODMAN_PID" '%s' "$pid"
	printf -v "${name}_PODMAN_SOCK" '%s' "$sock"
	printf -v "${name}_PODMAN_ROOT" '%s' "$p/root"
	printf -v "${name}_PODMAN_CGROUP" '%s' "$ENGINES_CGROUP/podman"
	if ! _eng_wait_up "$pid" 30 _eng_ping "$sock" /v4.0.0/libpod/_ping; then
		echo "start_podman $name: no answer to GET /libpod/_ping within 30 s (pid $pid $(pid_alive "$pid" && echo runs || echo exited))" >&2
		tail -n 20 "$T/$name.podman.log" | sed 's/^/    /' >&2
		return 1
	fi
	if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != podman ]; then
		echo "start_podman $name: pid $pid is not podman" >&2
		return 1
	fi
	if [ -n "$tar" ]; then
		podman_load_image "$sock" "$tar" || return 1
	fi
	return 0
}

# podman_load_image SOCK IMAGE_TAR: POST /libpod/images/load of a docker-save archive;
# 1 unless podman names the image it loaded.
podman_load_image() {
	CONTENT_TYPE=application/x-tar papi "$1" POST /images/load "@$2" >/dev/null
	if [ "$HTTP_STATUS" != 200 ] || [ -z "$(jget "$HTTP_BODY" '.Names[0]')" ]; then
		echo "podman_load_image $1 $2: $HTTP_STATUS $HTTP_BODY" >&2
		return 1
	fi
}

# podman_run SOCK NAME CMD...: create container NAME of $ENGINES_IMAGE running CMD with
# "netns": {"nsmode": "none"} and cgroup parent $ENGINES_CGROUP/podman, start it and wait (10 s)
# until it runs. ENGINES_CREATE_EXTRA, when set, is a JSON object merged into the
# spec. Sets CONTAINER_ID.
podman_run() {
	local sock=$1 name=$2 args req
	shift 2
	CONTAINER_ID=""
	args=$(_eng_json_array "$@") || return 1
	req=$(jq -cn --arg name "$name" --arg img "$ENGINES_IMAGE" --argjson cmd "$args" \
		--arg cg "$ENGINES_CGROUP/podman" \
		--argjson extra "${ENGINES_CREATE_EXTRA:-null}" \
		'{name: $name, image: $img, command: $cmd, netns: {nsmode: "none"},
		  cgroup_parent: $cg} * ($extra // {})') || return 1
	papi "$sock" POST /containers/create "$req" >/dev/null
	if [ "$HTTP_STATUS" != 201 ]; then
		echo "podman_run $name: create: $HTTP_STATUS $HTTP_BODY" >&2
		return 1
	fi
	CONTAINER_ID=$(jget "$HTTP_BODY" .Id)
	papi "$sock" POST "/containers/$CONTAINER_ID/start" >/dev/null
	if [ "$HTTP_STATUS" != 204 ]; then
		echo "podman_run $name: start: $HTTP_STATUS $HTTP_BODY" >&2
		return 1
	fi
	if ! wait_for 10 _podman_running "$sock" "$CONTAINER_ID"; then
		echo "podman_run $name: not running after 10 s" >&2
		return 1
	fi
}

_podman_running() {
	[ "$(jget "$(_eng_stream /v4.0.0/libpod "$1" GET "/containers/$2/json")" .State.Status)" = running ]
}

# podman_run_counter SOCK NAME: podman_run of /bin/counter; waits (10 s) for its first
# tick. Sets CONTAINER_ID.
podman_run_counter() {
	podman_run "$1" "$2" /bin/counter || return 1
	wait_for 10 counter_past_podman "$1" "$2" 0 ||
		{ echo "podman_run_counter $2: no tick in its logs after 10 s" >&2; return 1; }
}

# podman_run_redis SOCK NAME: podman_run of redis-server as docker_run_redis runs it;
# waits (10 s) for PONG. Sets CONTAINER_ID. After a checkpoint and restore talk to it
# through $ENGINES_REDIS_SOCK: its network namespace (runc's own, for nsmode none) comes
# back with lo down, so 127.0.0.1:6379 is unreachable even from inside.
podman_run_redis() {
	podman_run "$1" "$2" "${_ENG_REDIS_ARGS[@]}" || return 1
	wait_for 10 _eng_pong pexec "$1" "$2" ||
		{ echo "podman_run_redis $2: no PONG after 10 s" >&2; return 1; }
}

# pexec SOCK NAME CMD...: dexec through the libpod API (POST /libpod/containers/NAME/exec,
# /libpod/exec/ID/start): prints CMD's stdout, returns its exit status, 125 when
# podman refused. For $(...).
pexec() {
	local sock=$1 name=$2 args id
	shift 2
	args=$(_eng_json_array "$@") || return 125
	papi "$sock" POST "/containers/$name/exec" \
		"{\"AttachStdout\":true,\"AttachStderr\":true,\"Cmd\":$args}" >/dev/null
	id=$(jget "$HTTP_BODY" .Id)
	if [ "$HTTP_STATUS" != 201 ] || [ -z "$id" ]; then
		echo "pexec $name: $HTTP_STATUS $HTTP_BODY" >&2
		return 125
	fi
	_eng_stream /v4.0.0/libpod "$sock" POST "/exec/$id/start" '{"Detach":false,"Tty":false}' |
		_eng_demux
	_eng_exec_code /v4.0.0/libpod "$sock" "$id"
}

# podman_logs SOCK NAME [QUERY]: docker_logs through the libpod API. For $(...).
podman_logs() {
	_eng_stream /v4.0.0/libpod "$1" GET "/containers/$2/logs?stdout=true&stderr=true${3:+&$3}" |
		_eng_demux 2>&1
}

# counter_value_podman SOCK NAME: counter_value_docker through the libpod API (podman
# keeps the log from before a checkpoint in an imported container). For $(...).
counter_value_podman() {
	_eng_last_tick "$(podman_logs "$1" "$2" tail=20)"
}

# counter_past_podman SOCK NAME N: 0 when the counter of NAME is above N (wait_for).
counter_past_podman() {
	local v
	v=$(counter_value_podman "$1" "$2") && [ "$v" -gt "$3" ]
}

# ---------------------------------------------------------------------------
# runc

# runc_root NAME: a runc state directory (runc --root) $T/NAME.runc for one "host";
# sets NAME_RUNC_ROOT. Its containers are killed and deleted at cleanup.
runc_root() {
	local dir=$T/$1.runc
	mkdir -p "$dir" || return 1
	echo "runc $1 $dir - -" >>"$T/engines"
	printf -v "${1}_RUNC_ROOT" '%s' "$dir"
}

# make_bundle DIR ROOTFS_SRC ARGS...: a runc bundle in DIR: a copy of ROOTFS_SRC as
# DIR/rootfs (writable: a container's writes must not reach the image or other
# bundles) and the config.json of `runc spec` with process.terminal false (run -d and
# restore -d have no console socket), process.args ARGS, root.readonly false, no
# network namespace (the container shares the one runc runs in, the "host's"), and
# linux.cgroupsPath under $ENGINES_CGROUP/runc/ named after DIR (by default it is /ID,
# and one ID on two "hosts" of a machine would share a cgroup).
make_bundle() {
	local dir=$1 src=$2 args cg rel
	shift 2
	[ -d "$src" ] || { echo "make_bundle: no rootfs $src" >&2; return 1; }
	case "$dir" in
	/*) ;;
	*) echo "make_bundle: $dir is not absolute" >&2; return 1 ;;
	esac
	rm -rf "$dir"
	mkdir -p "$dir" && cp -a "$src" "$dir/rootfs" || return 1
	(cd "$dir" && "$ENGINES_RUNC" spec) || return 1
	rel=${dir#"$T"/}
	[ "$rel" != "$dir" ] || rel=$(printf '%s' "$dir" | md5sum | cut -c1-16)
	cg=$ENGINES_CGROUP/runc/${rel//\//_}
	args=$(_eng_json_array "$@") || return 1
	jq --argjson args "$args" --arg cg "$cg" '
		.process.terminal = false | .process.args = $args |
		.root.path = "rootfs" | .root.readonly = false |
		.linux.namespaces |= map(select(.type != "network")) |
		.linux.cgroupsPath = $cg' "$dir/config.json" >"$dir/config.json.new" &&
		mv "$dir/config.json.new" "$dir/config.json"
}

# runc_run ROOT NETNS BUNDLE ID: `runc --root ROOT run -d --bundle BUNDLE ID` inside
# NETNS, stdio on /dev/null (so a checkpoint's descriptors.json names nothing of this
# host), runc's own log in ROOT.ID.log; waits (10 s) until `runc state` says running.
# Sets CONTAINER_PID to the container's init as the host sees it.
runc_run() {
	local root=$1 netns=$2 bundle=$3 id=$4 log=$1.$4.log pid
	CONTAINER_PID=""
	_eng_have_netns "$netns" || return 1
	if ! (cd / && exec timeout 30 setsid nsenter "--net=/run/netns/$netns" -- \
		env PATH="$ENGINES_PATH" "$ENGINES_RUNC" --root "$root" --log "$log" \
		run -d --bundle "$bundle" "$id") </dev/null >/dev/null 2>&1; then
		echo "runc_run $id: runc run failed: $(tail -n 3 "$log" 2>/dev/null)" >&2
		return 1
	fi
	if ! wait_for 10 _runc_running "$root" "$id"; then
		echo "runc_run $id: not running after 10 s" >&2
		return 1
	fi
	pid=$(runc_pid "$root" "$id")
	remember proc "$pid"
	# shellcheck disable=SC2034 # for the caller
	CONTAINER_PID=$pid
}

_runc_running() {
	[ "$("$ENGINES_RUNC" --root "$1" state "$2" 2>/dev/null | jq -r .status 2>/dev/null)" = running ]
}

# runc_pid ROOT ID: the host pid of container ID's init. For $(...).
runc_pid() {
	"$ENGINES_RUNC" --root "$1" state "$2" 2>/dev/null | jq -er .pid 2>/dev/null
}

# runc_exec ROOT NETNS ID CMD...: `runc exec ID CMD...` inside NETNS (the container
# shares it: from elsewhere its 127.0.0.1 is another one), at most 20 s; prints CMD's
# output and returns its exit status. For $(...).
runc_exec() {
	local root=$1 netns=$2 id=$3
	shift 3
	timeout 20 nsenter "--net=/run/netns/$netns" -- "$ENGINES_RUNC" --root "$root" \
		exec "$id" "$@" </dev/null
}

# counter_value_file FILE: the N of the last "tick N" in FILE (a runc counter started
# as sh -c '/bin/counter >/tmp/ticks' writes BUNDLE/rootfs/tmp/ticks). For $(...).
counter_value_file() {
	_eng_last_tick "$(tail -n 20 "$1" 2>/dev/null)"
}

# ---------------------------------------------------------------------------
# Cleanup

# engines_cleanup: remove every container of every engine started here (docker and
# podman through their APIs, runc with kill and delete), stop the engines (SIGTERM,
# SIGKILL after 10 s), kill whatever still names an engine's directory or runs in a
# cgroup under $ENGINES_CGROUP (shims, conmons, restored containers), unmount what is
# still mounted under $T (dockerd's nsfs bind of its netns, podman's self-bind of its
# overlay dir, container root file systems), remove the cgroups under $ENGINES_CGROUP
# and /run/containerd when this test made it. lib.sh's cleanup calls it; a test may
# call it earlier. Takes 1-3 s; does nothing the second time.
engines_cleanup() {
	local kind name dir pid sock
	[ "${BASHPID:-$$}" = "$$" ] || return 0
	[ -s "$T/engines" ] || return 0
	while read -r kind name dir pid sock; do
		case "$kind" in
		runc) _eng_runc_down "$dir" ;;
		docker) _eng_docker_containers_down "$sock" ;;
		podman) _eng_podman_containers_down "$sock" ;;
		esac
	done <"$T/engines"
	# All engines at once, 10 s for all of them together: the test runner gives a test
	# 15 s after its SIGTERM.
	while read -r kind name dir pid sock; do
		[ "$pid" != - ] && pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done <"$T/engines"
	wait_for 10 _eng_all_gone
	_eng_kill_leftovers
	_eng_unmount_all
	_eng_remove_cgroups
	if [ "$_ENG_HAD_RUN_CONTAINERD" = 0 ]; then
		rmdir /run/containerd/s /run/containerd 2>/dev/null
	fi
	rm -f "$T"/.eng.*
	: >"$T/engines"
}

# _eng_all_gone: 0 when no engine started here runs any more.
_eng_all_gone() {
	local kind name dir pid sock
	while read -r kind name dir pid sock; do
		[ "$pid" != - ] && pid_alive "$pid" && return 1
	done <"$T/engines"
	return 0
}

# _eng_runc_down ROOT: kill and delete every container of runc root ROOT.
_eng_runc_down() {
	local id
	for id in $("$ENGINES_RUNC" --root "$1" list -q 2>/dev/null); do
		"$ENGINES_RUNC" --root "$1" kill "$id" KILL >/dev/null 2>&1
		timeout 10 "$ENGINES_RUNC" --root "$1" delete -f "$id" >/dev/null 2>&1
	done
}

# _eng_docker_containers_down SOCK: DELETE ?force=1 (SIGKILL, then removal) of every
# container of the dockerd at SOCK.
_eng_docker_containers_down() {
	local id
	[ -S "$1" ] || return 0
	for id in $(_eng_stream /v1.41 "$1" GET '/containers/json?all=1' | jq -r '.[].Id' 2>/dev/null); do
		_eng_stream /v1.41 "$1" DELETE "/containers/$id?force=1&v=1" >/dev/null
	done
}

# _eng_podman_containers_down SOCK: SIGKILL (a shell as pid 1 ignores SIGTERM, and a
# forced removal would wait 10 s for it), then DELETE ?force=true of every container
# of the podman service at SOCK; their CNI results cache entries go too.
_eng_podman_containers_down() {
	local id
	[ -S "$1" ] || return 0
	for id in $(_eng_stream /v4.0.0/libpod "$1" GET '/containers/json?all=true' |
		jq -r '.[].Id' 2>/dev/null); do
		_eng_stream /v4.0.0/libpod "$1" POST "/containers/$id/kill?signal=KILL" >/dev/null
		_eng_stream /v4.0.0/libpod "$1" DELETE "/containers/$id?force=true&timeout=0" >/dev/null
		rm -f /var/lib/cni/results/*-"$id"-* 2>/dev/null
	done
}

# _eng_our_pids: pids whose command line names an engine's directory (containerd,
# shims, conmons, podman cleanups) or that run in a cgroup under $ENGINES_CGROUP.
_eng_our_pids() {
	local kind name dir pid sock c pats=$T/.eng.patterns
	while read -r kind name dir pid sock; do
		echo "$dir/"
		[ "$kind" = podman ] && echo "$ENGINES_PODMAN_DIR/"
	done <"$T/engines" >"$pats"
	# One grep over every command line (a fork per process would take a second), with
	# the patterns in a file: on its own command line they would match grep itself.
	grep -lsaF -f "$pats" /proc/[0-9]*/cmdline 2>/dev/null |
		sed 's#^/proc/\([0-9]*\)/cmdline$#\1#' | grep -vxe "$$" -e "${BASHPID:-$$}"
	for c in /sys/fs/cgroup/*"$ENGINES_CGROUP"; do
		[ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null
	done
}

# _eng_kill_leftovers: SIGKILL _eng_our_pids until there is none (5 s at most).
_eng_kill_leftovers() {
	local i p pids
	for ((i = 0; i < 50; i++)); do
		pids=$(_eng_our_pids | sort -u)
		[ -n "$pids" ] || return 0
		for p in $pids; do
			kill -KILL "$p" 2>/dev/null
		done
		sleep 0.1
	done
	echo "engines_cleanup: still running: $pids" >&2
	return 1
}

# _eng_unmount_all: unmount every mount point under $T, the latest first, lazily
# when a plain umount fails (5 rounds at most).
_eng_unmount_all() {
	local i m left
	for ((i = 0; i < 5; i++)); do
		left=$(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | tac)
		[ -n "$left" ] || return 0
		for m in $left; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done
	done
	echo "engines_cleanup: still mounted: $left" >&2
	return 1
}

# _eng_remove_cgroups: remove the cgroups under $ENGINES_CGROUP in every hierarchy,
# the deepest first (a cgroup whose last task just died may be busy a moment).
_eng_remove_cgroups() {
	local i c left
	for ((i = 0; i < 20; i++)); do
		left=""
		for c in /sys/fs/cgroup/*"$ENGINES_CGROUP"; do
			[ -d "$c" ] || continue
			find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$c" ] && left="$left $c"
		done
		[ -n "$left" ] || return 0
		sleep 0.1
	done
	echo "engines_cleanup: cgroups left:$left" >&2
	return 1
}
