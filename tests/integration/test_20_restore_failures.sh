#!/usr/bin/env bash
# test_20_restore_failures.sh: migrations that fail at the destination, each with the
# destination's real cause in the source job (its error.code and a sentence that
# says what to do), the process running on at the source, nothing left at the
# destination, and the destination's CRIU logs answered by the source:
#   (a) two daemons in one network namespace: the port the server listens on is
#       held by its own frozen source;
#   (b) two hosts, and something else listens on the port at the destination;
#   (c) the server listens on an address only the source has;
#   (d) the destination does not see a file the process has open (daemon B in a
#       mount namespace of its own): CRIU's restore fails; no zombie is left.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

PY=/usr/bin/python3
PORT=8766
make_secret "$T/secret"

# failed_at_dest LABEL SRC_API PID TO CODE REGEX [DST_API]: migrating PID fails with
# CODE and a message matching REGEX, PID runs on; the destination's job (when
# DST_API is given) failed with the same code. Sets JOB_ID.
failed_at_dest() {
	local label=$1 src=$2 pid=$3 to=$4 code=$5 re=$6 dst=${7:-} id json
	JOB_ID=""
	if ! id=$(migrate "$src" "$pid" "$to"); then
		fail "$label: accepted" "POST refused"
		return 1
	fi
	JOB_ID=$id
	json=$(wait_job "$src" "$id" 60) || { fail "$label: job finished" "$json"; return 1; }
	note "$label: $(job_summary "$json")"
	expect_eq "$label: failed" "$(jget "$json" .state)" failed
	expect_eq "$label: error.code is the destination's cause" "$(jget "$json" .error.code)" "$code"
	expect_match "$label: the message says what to do" "$(jget "$json" .error.message)" "$re"
	expect_eq "$label: error.process_at" "$(jget "$json" .error.process_at)" source
	expect_true "$label: pid $pid runs on" pid_alive "$pid"
	if [ -n "$dst" ]; then
		api GET "$dst/migrations/$id" >/dev/null
		expect_eq "$label: the destination's job has the same code" \
			"$(jget "$HTTP_BODY" .error.code)" "$code"
	fi
}

# answers NS ADDR: the HTTP server at ADDR:PORT answers, asked from NS ("" = here).
answers() {
	local -a pre=()
	[ -n "$1" ] && pre=(nsenter "--net=/run/netns/$1" --)
	"${pre[@]}" curl -s -o /dev/null --max-time 5 "http://$2:$PORT/"
}

echo "(a) two daemons in one network namespace"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
S=$(start_program srv python3 -- "$PY" -m http.server --bind 0.0.0.0 --directory / $PORT) ||
	die "(a) server starts" "no python3"
wait_for 10 answers "" 127.0.0.1 || die "(a) server answers" "no"
failed_at_dest "(a)" "$A_API" "$S" "$B_PEER" port_in_use \
	"TCP port $PORT .*one network namespace.*its own network namespace" "$B_API"
expect_true "(a) the server answers again at the source" answers "" 127.0.0.1
stop_hauld A
stop_hauld B
kill -KILL "$S"
wait_for 10 pid_gone "$S"

setup_netns || die "network namespaces" "setup_netns failed"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts in $NS_A" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" --private-tmpfs "$T/private" ||
	die "daemon B starts in $NS_B" "see $T/B.log"

echo "(b) the port is taken at the destination host"
S=$(start_program srv2 python3 --netns "$NS_A" -- "$PY" -m http.server --bind 0.0.0.0 \
	--directory / $PORT) || die "(b) server starts" "no python3"
O=$(start_program other python3 --netns "$NS_B" -- "$PY" -m http.server --bind 0.0.0.0 \
	--directory / $PORT) || die "(b) other server at b starts" "no python3"
wait_for 10 answers "$NS_B" "$ADDR_A" || die "(b) server answers" "no"
wait_for 10 answers "$NS_A" "$ADDR_B" || die "(b) b's own server answers" "no"
failed_at_dest "(b)" "$A_API" "$S" "$B_PEER" port_in_use \
	"TCP port $PORT .*already taken at the destination: stop what listens" "$B_API"
expect_true "(b) the server answers again at a" answers "$NS_B" "$ADDR_A"
kill -KILL "$O" "$S"
# The next server takes the same port: this one must have let it go. SIGKILL: the
# pid 1 of a PID namespace ignores the signals it has no handler for.
wait_for 10 pid_gone "$S"
wait_for 10 pid_gone "$O"

echo "(c) the server listens on an address only the source has"
S=$(start_program srv3 python3 --netns "$NS_A" -- "$PY" -m http.server --bind "$ADDR_A" \
	--directory / $PORT) || die "(c) server starts" "no python3"
wait_for 10 answers "$NS_B" "$ADDR_A" || die "(c) server answers" "no"
failed_at_dest "(c)" "$A_API" "$S" "$B_PEER" address_unavailable \
	"listens on $ADDR_A TCP port $PORT.*0\.0\.0\.0" "$B_API"
expect_true "(c) the server answers again at a" answers "$NS_B" "$ADDR_A"
kill -KILL "$S"
wait_for 10 pid_gone "$S"

echo "(d) a file the process has open is not there at the destination"
mkdir -p "$T/private"
P=$(start_program fds fds --netns "$NS_A" -- "$BUILD/fds" --status "$T/fds.status" \
	--append "$T/private/out") || die "(d) fds starts" "no fds"
wait_for 10 test -s "$T/private/out" || die "(d) fds appends" "nothing appended"
failed_at_dest "(d)" "$A_API" "$P" "$B_PEER" file_missing \
	"missing at the destination \\($T/private/out\\): both hosts must see the same files" "$B_API"
t0=$(status_field "$T/fds.status" ticks)
expect_true "(d) the process ticks on at the source" \
	wait_for 10 sh -c "[ \$(sed 's/.*ticks=\\([0-9]*\\).*/\\1/' '$T/fds.status') -gt $((t0 + 20)) ]"
api GET "$A_API/migrations/$JOB_ID/logs" >/dev/null
expect_match "(d) the source answers with the destination's restore.log" \
	"$(jget "$HTTP_BODY" '.logs[] | select(.host == "destination" and .name == "restore.log") | .text')" \
	"Can't open file .*private/out on restore"
sleep 1
expect_eq "(d) no zombie under daemon B" "$(zombies_of "$B_PID")" ""
expect_eq "(d) no copy of fds at b" "$(pgrep -x fds | while read -r p; do
	[ "$(pid_netns "$p")" = "$(pid_netns "$B_PID")" ] && echo "$p"; done)" ""
check_no_images "(d) B kept no images" "$B_DATA/jobs"
finish
