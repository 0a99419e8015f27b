# shellcheck shell=bash
# lib.sh: helpers for the integration tests, sourced by every tests/integration/test_*.sh.
#
# Sourcing it creates a per-run directory $T under /tmp and installs a trap that, at
# exit, stops every daemon started here, kills every workload (and its unshare
# wrapper, and any process whose command line names $T), deletes the network
# namespaces created here and removes $T (kept when HAULD_TEST_KEEP=1).
#
# Results: pass NAME / fail NAME MSG / skip NAME WHY print one line each; finish
# prints the counts and exits 1 when something failed. die NAME MSG fails and exits.
#
# Environment:
#   BUILD             where hauld and workload are (default: build/ at the repo top)
#   HAULD_ARGS        extra arguments for every hauld started (split on spaces)
#   HAULD_TEST_KEEP=1 keep $T (logs, data dirs, status files) after the run
#
# Functions that set variables or record results (start_hauld, stop_hauld, api,
# migrate_and_check, pass/fail and the checks) must not run inside $(...): it is a
# subshell, and what they set would be lost. Those meant for $(...) say so.

set -uo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$LIB_DIR/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
TEST_NAME=$(basename "${0%.sh}")

T=$(mktemp -d "/tmp/hauld-it.${TEST_NAME}.XXXXXX")
chmod 755 "$T"
: >"$T/pids"      # "KIND PID START" of everything started here, read back by cleanup
: >"$T/netns"     # network namespaces created here
: >"$T/api-ns"    # "ORIGIN NETNS": API origins reachable only inside a netns
# Functions _cleanup calls once the hauld daemons are stopped (engines.sh adds one).
CLEANUP_HOOKS=()
# Every daemon started here asks for this API token (--api-token-file), and api()
# sends it: daemons in network namespaces listen on addresses other than loopback,
# which hauld does not serve without one. HAULD_NO_TOKEN=1 on a start_hauld call
# starts that daemon without it.
API_TOKEN_FILE=$T/api.token
(umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$API_TOKEN_FILE")

PASSED=0
FAILED=0
SKIPPED=0
# Set by the functions below for the tests that source this file.
# shellcheck disable=SC2034
{ JOB_ID=""; JOB_JSON=""; MIGRATED_PID=""; HTTP_STATUS=""; HTTP_BODY=""; HTTP_LOCATION=""; }

# ---------------------------------------------------------------------------
# Results

pass() {
	PASSED=$((PASSED + 1))
	printf '  ok    %s\n' "$1"
}

fail() {
	FAILED=$((FAILED + 1))
	printf '  FAIL  %s: %s\n' "$1" "${2:-}"
}

skip() {
	SKIPPED=$((SKIPPED + 1))
	printf '  skip  %s: %s\n' "$1" "${2:-}"
}

note() {
	printf '  ..    %s\n' "$*"
}

# die NAME MSG: fail and end the test now, for a step the rest depends on.
die() {
	fail "$1" "${2:-}"
	finish
}

# expect_eq NAME GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; return 0; fi
	fail "$1" "got '$2', want '$3'"
	return 1
}

# expect_match NAME GOT REGEX (extended, case-insensitive)
expect_match() {
	if printf '%s' "$2" | grep -qiE -- "$3"; then pass "$1"; return 0; fi
	fail "$1" "'$2' does not match /$3/"
	return 1
}

# expect_num_ge NAME GOT MIN: GOT is a non-negative integer (JSON number) >= MIN
expect_num_ge() {
	if [[ "$2" =~ ^[0-9]+(\.[0-9]+)?$ ]] && [ "${2%.*}" -ge "$3" ]; then
		pass "$1"
		return 0
	fi
	fail "$1" "got '$2', want a number >= $3"
	return 1
}

# expect_true NAME CMD...: pass when CMD succeeds.
expect_true() {
	local name=$1
	shift
	if "$@"; then pass "$name"; return 0; fi
	fail "$name" "'$*' failed"
	return 1
}

# Print the counts and exit: 1 when something failed, 0 otherwise.
finish() {
	local f
	trap - EXIT
	# A daemon built with sanitizers (BUILD=build-asan) reports into its log.
	for f in "$T"/*.log "$T"/*.log.*; do
		[ -f "$f" ] || continue
		if grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
			fail "no sanitizer report in $(basename "$f")" \
				"$(grep -m 1 -E 'Sanitizer|runtime error:' "$f")"
		fi
	done
	printf '%s: %d ok, %d failed, %d skipped\n' "$TEST_NAME" "$PASSED" "$FAILED" "$SKIPPED"
	if [ "$FAILED" -gt 0 ]; then
		_dump_logs
	fi
	_cleanup
	[ "$FAILED" -eq 0 ]
	exit $?
}

_dump_logs() {
	local f
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		printf -- '--- last lines of %s\n' "$f"
		tail -n 40 "$f" | sed 's/^/    /'
	done
}

# ---------------------------------------------------------------------------
# Time and waiting

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# Seconds (may have a fraction) to milliseconds.
_secs_ms() {
	awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'
}

# wait_for TIMEOUT_S CMD...: run CMD every 50 ms until it succeeds; 1 on timeout.
wait_for() {
	local end
	end=$(($(now_ms) + $(_secs_ms "$1")))
	shift
	while :; do
		"$@" && return 0
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

# ---------------------------------------------------------------------------
# Processes

# 0 when PID exists and is not a zombie.
pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

pid_gone() {
	! pid_alive "$1"
}

# The command line of PID with spaces for NULs (empty when gone).
pid_cmdline() {
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline"
}

# pid_start PID: its start time (field 22 of /proc/PID/stat), which tells it apart
# from a later process with the same pid. For $(...).
pid_start() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

# remember KIND PID: write down a process this test started (KIND wrapper, proc or
# daemon) with its start time, so that cleanup kills it, and only it.
remember() {
	echo "$1 $2 $(pid_start "$2")" >>"$T/pids"
}

# Remember PID so cleanup kills it (restored workloads, for instance).
track_pid() {
	remember proc "$1"
}

# 0 when PID is a workload writing status file FILE.
is_workload() {
	local cmd
	cmd=$(pid_cmdline "$1")
	case "$cmd" in
	*workload\ --mib\ *--status\ "$2"*) return 0 ;;
	esac
	return 1
}

# The network namespace of PID as "net:[INODE]".
pid_netns() {
	readlink "/proc/$1/ns/net" 2>/dev/null
}

# Zombie children of PID, one "PID STAT COMMAND" a line (empty when none).
zombies_of() {
	ps -o pid=,stat=,comm= --ppid "$1" 2>/dev/null | awk '$2 ~ /^Z/'
}

# A pid that no process has now.
free_pid() {
	local max p
	max=$(cat /proc/sys/kernel/pid_max)
	for ((p = max - 1; p > 300; p--)); do
		[ -e "/proc/$p" ] || { echo "$p"; return 0; }
	done
	return 1
}

# A kernel thread's pid (kthreadd when it is pid 2).
kthread_pid() {
	local p flags
	if [ "$(cat /proc/2/comm 2>/dev/null)" = kthreadd ]; then
		echo 2
		return 0
	fi
	for p in $(ps -e -o pid=); do
		flags=$(awk '{ print $9 }' "/proc/$p/stat" 2>/dev/null) || continue
		# PF_KTHREAD
		if [ -n "$flags" ] && [ $((flags & 0x00200000)) -ne 0 ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# A TCP port on 127.0.0.1 that nothing listens on.
closed_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 20000))
		if [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# ---------------------------------------------------------------------------
# Workloads

# start_workload NAME MIB [--netns NS] [workload args...]
# Starts `unshare -p -f setsid workload --mib MIB --status $T/NAME.status ...` (inside
# NS through nsenter --net when given: `ip netns exec` would add a mount namespace
# that CRIU then has to dump), waits for its first status line and echoes the host
# pid of the workload, which is pid 1 of its own PID namespace. Use it in $(...).
start_workload() {
	local name=$1 mib=$2 netns="" wrapper="" pid="" status=$T/$1.status
	local -a args=() pre=()
	shift 2
	while [ $# -gt 0 ]; do
		case "$1" in
		--netns) netns=$2; shift 2 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	[ -n "$netns" ] && pre=(nsenter "--net=/run/netns/$netns" --)
	rm -f "$status" "$status.tmp"
	# The workload stays in "/" so nothing ties it to $T but its status file.
	(cd / && exec "${pre[@]}" unshare -p -f setsid "$BUILD/workload" --mib "$mib" \
		--status "$status" "${args[@]}") </dev/null >/dev/null 2>&1 &
	wrapper=$!
	remember wrapper "$wrapper"
	# unshare forks the namespace's pid 1, which execs setsid, which execs workload:
	# one pid throughout.
	if ! wait_for 5 _workload_child "$wrapper" "$status" "$T/.$name.child"; then
		echo "start_workload $name: no workload under unshare pid $wrapper" >&2
		return 1
	fi
	pid=$(cat "$T/.$name.child")
	remember proc "$pid"
	if ! wait_for $((10 + mib / 64)) test -s "$status"; then
		echo "start_workload $name: no status file $status" >&2
		return 1
	fi
	echo "$pid"
}

# start_program NAME COMM [--netns NS] -- CMD...: start CMD as pid 1 of its own PID
# namespace and session (`unshare -p -f setsid CMD`, inside NS through nsenter --net
# when given), with stdio on /dev/null and "/" as its working directory, and echo
# its host pid once a task named COMM (as in /proc/PID/comm) runs there. For $(...).
start_program() {
	local name=$1 comm=$2 netns="" wrapper pid
	local -a pre=()
	shift 2
	while [ $# -gt 0 ]; do
		case "$1" in
		--netns) netns=$2; shift 2 ;;
		--) shift; break ;;
		*) echo "start_program: unknown option $1" >&2; return 1 ;;
		esac
	done
	[ -n "$netns" ] && pre=(nsenter "--net=/run/netns/$netns" --)
	(cd / && exec "${pre[@]}" unshare -p -f setsid "$@") </dev/null >/dev/null 2>&1 &
	wrapper=$!
	remember wrapper "$wrapper"
	if ! wait_for 10 _program_child "$wrapper" "$comm" "$T/.$name.child"; then
		echo "start_program $name: no $comm under unshare pid $wrapper" >&2
		return 1
	fi
	pid=$(cat "$T/.$name.child")
	remember proc "$pid"
	echo "$pid"
}

_program_child() {
	local c=""
	read -r c _ 2>/dev/null <"/proc/$1/task/$1/children"
	[ -n "$c" ] && [ "$(cat "/proc/$c/comm" 2>/dev/null)" = "$2" ] || return 1
	echo "$c" >"$3"
}

# in_netns NS CMD...: run CMD in network namespace NS (nsenter --net only).
in_netns() {
	local ns=$1
	shift
	nsenter "--net=/run/netns/$ns" -- "$@"
}

# migrate_program LABEL SRC_API PID TO MODE [TIMEOUT_S]: one migration of any
# program (not the workload) that must succeed: 202, the job succeeds with the
# strategy MODE stands for, result.pid runs and the source pid is gone. The caller
# then checks the program itself. Sets JOB_ID, JOB_JSON and MIGRATED_PID. Not for
# $(...).
migrate_program() {
	local label=$1 src=$2 pid=$3 to=$4 mode=$5 tmo=${6:-120} id json newpid
	JOB_ID=""
	JOB_JSON=""
	MIGRATED_PID=""
	if ! id=$(migrate "$src" "$pid" "$to" "$mode"); then
		fail "$label: accepted" "POST /migrations was refused"
		return 1
	fi
	JOB_ID=$id
	if ! json=$(wait_job "$src" "$id" "$tmo"); then
		JOB_JSON=$json
		fail "$label: job finished" "not within $tmo s: $json"
		return 1
	fi
	JOB_JSON=$json
	note "$label: $(job_summary "$json")"
	expect_eq "$label: job succeeded" "$(jget "$json" .state)" succeeded || return 1
	expect_eq "$label: strategy" "$(jget "$json" .strategy)" \
		"$([ "$mode" = lazy ] && echo post-copy || echo stop-and-copy)"
	newpid=$(jget "$json" .result.pid)
	if ! [[ "$newpid" =~ ^[0-9]+$ ]] || ! pid_alive "$newpid"; then
		fail "$label: result.pid runs" "result.pid '$newpid'"
		return 1
	fi
	track_pid "$newpid"
	MIGRATED_PID=$newpid
	pass "$label: result.pid $newpid runs"
	expect_true "$label: source pid $pid gone" wait_for 10 pid_gone "$pid"
	return 0
}

# tree_comms PID: the command names of the tree rooted at PID, one a line, parents
# before their children. For $(...).
tree_comms() {
	local p
	cat "/proc/$1/comm" 2>/dev/null
	for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		tree_comms "$p"
	done
}

# _workload_child WRAPPER STATUS OUT: write the wrapper's workload child's pid to OUT.
_workload_child() {
	local c=""
	# The file has no final newline, so read reports EOF even when it got a pid.
	read -r c _ 2>/dev/null <"/proc/$1/task/$1/children"
	[ -n "$c" ] && is_workload "$c" "$2" || return 1
	echo "$c" >"$3"
}

# status_field FILE KEY: the value of KEY in the workload's status line.
status_field() {
	local line kv
	read -r line 2>/dev/null <"$1" || return 1
	for kv in $line; do
		if [ "${kv%%=*}" = "$2" ]; then
			echo "${kv#*=}"
			return 0
		fi
	done
	return 1
}

_counter_past() {
	local c
	c=$(status_field "$1" counter) || return 1
	[ "$c" -gt "$2" ]
}

# wait_counter_past FILE N TIMEOUT_S: until the workload's counter is above N.
wait_counter_past() {
	wait_for "$3" _counter_past "$1" "$2"
}

# expected_checksum MIB [SEED]: what a workload of MIB MiB must hold. For $(...).
# WORKLOAD_FILL, when set, is the workload's --fill (random, text, zeros).
expected_checksum() {
	"$BUILD/workload" --print-checksum --mib "$1" --seed "${2:-1}" \
		${WORKLOAD_FILL:+--fill "$WORKLOAD_FILL"}
}

_checked_past() {
	local c s
	c=$(status_field "$1" counter) || return 1
	s=$(status_field "$1" sum_at) || return 1
	[ "$c" -gt "$2" ] && [ "$s" -gt "$2" ]
}

# criu_of DATA_DIR ID COMMAND: the pid of the `criu COMMAND` (page-server,
# lazy-pages, ...) that the daemon with DATA_DIR runs for job ID (its command line
# names the job's directory); returns 1 when there is none. For $(...).
criu_of() {
	local p
	for p in $(pgrep -f -- "$3" 2>/dev/null); do
		case "$(pid_cmdline "$p")" in
		*" $3 "*"$1/jobs/$2/"*) echo "$p"; return 0 ;;
		esac
	done
	return 1
}

# expect_workload LABEL PID STATUS: pass when PID runs and is the workload writing
# STATUS; returns 1 otherwise.
expect_workload() {
	if pid_alive "$2" && is_workload "$2" "$3"; then
		pass "$1"
		return 0
	fi
	fail "$1" "pid $2: cmdline '$(pid_cmdline "$2")'"
	return 1
}

# check_workload_intact FILE MIB PRE_COUNTER [LABEL] [SEED]
# Waits (bounded) until the workload counted past PRE_COUNTER and finished a checksum
# pass that began after it, then checks that checksum against both the workload's own
# expected value and the one computed here. Records a pass or a fail under LABEL.
# Pass the counter read after the migration finished to prove the memory that the
# process runs on now is whole.
check_workload_intact() {
	local file=$1 mib=$2 since=$3 label=${4:-"$(basename "$1" .status) intact"} seed=${5:-1}
	local want sum exp
	if ! wait_for $((20 + mib / 32)) _checked_past "$file" "$since"; then
		fail "$label" "workload did not count and checksum past $since: $(cat "$file" 2>/dev/null)"
		return 1
	fi
	want=$(expected_checksum "$mib" "$seed")
	sum=$(status_field "$file" checksum)
	exp=$(status_field "$file" expected)
	if [ "$sum" = "$want" ] && [ "$exp" = "$want" ]; then
		pass "$label"
		return 0
	fi
	fail "$label" "checksum=$sum expected=$exp computed=$want: $(cat "$file")"
	return 1
}

# ---------------------------------------------------------------------------
# Daemons

# make_secret FILE: 32 random bytes as hex, mode 0600.
make_secret() {
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$1")
}

# start_hauld NAME [--netns NS] [--listen A:P] [--peer-listen A:P] [--secret-file F]
#             [--data-dir D] [--private-tmpfs DIR] [extra hauld args...]
# --private-tmpfs runs the daemon in a mount namespace of its own where DIR is an
# empty tmpfs: a host that does not see the files the others see under DIR.
# Starts hauld in the background (inside NS with nsenter --net), its output in
# $T/NAME.log, waits up to 10 s for its "INFO listening: api=" and "peer=" lines and
# sets NAME_API (http://ADDR:PORT), NAME_PEER (ADDR:PORT), NAME_PID, NAME_DATA,
# NAME_NETNS and NAME_ARGS (to start it again). Environment variables given on the
# call (HAULD_FAULT=... start_hauld B) reach the daemon. Not for $(...).
start_hauld() {
	local name=$1 netns="" listen=127.0.0.1:0 peer=127.0.0.1:0 secret="" data private=""
	local -a extra=() pre=() cmd=()
	local pid log n api_addr peer_addr origin
	shift
	data=$T/$name
	while [ $# -gt 0 ]; do
		case "$1" in
		--netns) netns=$2; shift 2 ;;
		--listen) listen=$2; shift 2 ;;
		--peer-listen) peer=$2; shift 2 ;;
		--secret-file) secret=$2; shift 2 ;;
		--data-dir) data=$2; shift 2 ;;
		--private-tmpfs) private=$2; shift 2 ;;
		*) extra+=("$1"); shift ;;
		esac
	done
	mkdir -p "$data"
	[ -n "$netns" ] && pre=(nsenter "--net=/run/netns/$netns" --)
	if [ -n "$private" ]; then
		mkdir -p "$private"
		# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
		pre+=(unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs "$1" && shift &&
			exec "$@"' sh "$private")
	fi
	cmd=("$BUILD/hauld" --listen "$listen" --peer-listen "$peer" --data-dir "$data")
	[ "${HAULD_NO_TOKEN:-0}" = 1 ] || cmd+=(--api-token-file "$API_TOKEN_FILE")
	[ -n "$secret" ] && cmd+=(--secret-file "$secret")
	# shellcheck disable=SC2206 # HAULD_ARGS is split on purpose
	[ -n "${HAULD_ARGS:-}" ] && cmd+=(${HAULD_ARGS})
	cmd+=("${extra[@]}")

	log=$T/$name.log
	# Keep the logs of earlier runs of the same daemon.
	if [ -e "$log" ]; then
		n=1
		while [ -e "$log.$n" ]; do n=$((n + 1)); done
		mv "$log" "$log.$n"
	fi
	"${pre[@]}" "${cmd[@]}" </dev/null >"$log" 2>&1 &
	pid=$!
	remember daemon "$pid"
	printf -v "${name}_PID" '%s' "$pid"
	printf -v "${name}_DATA" '%s' "$data"
	printf -v "${name}_NETNS" '%s' "$netns"
	# The arguments to start it again the same way (test_05).
	local -a again=(--listen "$listen" --peer-listen "$peer" --data-dir "$data")
	[ -n "$netns" ] && again+=(--netns "$netns")
	[ -n "$secret" ] && again+=(--secret-file "$secret")
	[ -n "$private" ] && again+=(--private-tmpfs "$private")
	again+=("${extra[@]}")
	printf -v "${name}_ARGS" '%q ' "${again[@]}"

	if ! wait_for 10 _hauld_listening "$log" "$pid"; then
		if pid_alive "$pid"; then
			echo "start_hauld $name: no 'listening' lines within 10 s" >&2
		else
			echo "start_hauld $name: hauld exited" >&2
		fi
		tail -n 20 "$log" | sed 's/^/    /' >&2
		return 1
	fi
	api_addr=$(sed -n 's/.*INFO listening: api=\([^ ]*\).*/\1/p' "$log" | head -n 1)
	peer_addr=$(sed -n 's/.*INFO listening: peer=\([^ ]*\).*/\1/p' "$log" | head -n 1)
	# A wildcard address is reached through loopback.
	api_addr=${api_addr/#0.0.0.0:/127.0.0.1:}
	api_addr=${api_addr/#\[::\]:/[::1]:}
	origin=http://$api_addr
	printf -v "${name}_API" '%s' "$origin"
	printf -v "${name}_PEER" '%s' "$peer_addr"
	if [ -n "$netns" ]; then
		if [ -n "$(awk -v o="$origin" -v n="$netns" '$1 == o && $2 != n' "$T/api-ns")" ]; then
			echo "start_hauld $name: API origin $origin is already used in another netns;" \
				"give --listen an address of the namespace" >&2
			return 1
		fi
		echo "$origin $netns" >>"$T/api-ns"
	fi
	return 0
}

_hauld_listening() {
	pid_alive "$2" || return 1
	grep -q 'INFO listening: api=' "$1" && grep -q 'INFO listening: peer=' "$1"
}

# restart_hauld NAME [extra args]: stop_hauld, then start_hauld with the same arguments.
restart_hauld() {
	local name=$1 args_var="${1}_ARGS"
	local -a args=()
	shift
	stop_hauld "$name" || return 1
	eval "args=(${!args_var})"
	start_hauld "$name" "${args[@]}" "$@"
}

# stop_hauld NAME: SIGTERM, wait up to 15 s (then SIGKILL and return 1). Sets
# NAME_EXIT to the exit status.
stop_hauld() {
	local name=$1 pid_var="${1}_PID" pid rc
	pid=${!pid_var:-}
	[ -n "$pid" ] || return 1
	kill -TERM "$pid" 2>/dev/null
	if ! wait_for 15 pid_gone "$pid"; then
		echo "stop_hauld $name: still running 15 s after SIGTERM, killing it" >&2
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		printf -v "${name}_EXIT" '%s' 137
		return 1
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	printf -v "${name}_EXIT" '%s' "$rc"
	return 0
}

# kill_hauld NAME: SIGKILL now and reap.
kill_hauld() {
	local pid_var="${1}_PID" pid
	pid=${!pid_var:-}
	[ -n "$pid" ] || return 1
	kill -KILL "$pid" 2>/dev/null
	wait_for 5 pid_gone "$pid"
	wait "$pid" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------------------
# HTTP API

# api METHOD URL [JSON | @FILE]: prints the body; sets HTTP_STATUS (000 when there was
# no answer), HTTP_BODY and HTTP_LOCATION. A URL whose origin belongs to a daemon
# in a network namespace is fetched from inside that namespace.
api() {
	local method=$1 url=$2 data=${3-} origin ns hdr body
	local -a pre=() cmd=()
	origin=$(printf '%s' "$url" | sed -E 's#^(https?://[^/]+).*#\1#')
	ns=$(awk -v o="$origin" '$1 == o { print $2; exit }' "$T/api-ns")
	[ -n "$ns" ] && pre=(nsenter "--net=/run/netns/$ns" --)
	hdr=$T/.http.hdr
	body=$T/.http.body
	: >"$hdr"
	: >"$body"
	cmd=(curl -s -g --connect-timeout 5 --max-time 20 -X "$method" -D "$hdr" -o "$body"
		-w '%{http_code}' -H "Authorization: Bearer $(cat "$API_TOKEN_FILE")")
	if [ $# -ge 3 ]; then
		cmd+=(-H 'Content-Type: application/json' --data-binary "$data")
	fi
	HTTP_STATUS=$("${pre[@]}" "${cmd[@]}" "$url" 2>/dev/null)
	[ -n "$HTTP_STATUS" ] || HTTP_STATUS=000
	HTTP_BODY=$(cat "$body")
	HTTP_LOCATION=$(tr -d '\r' <"$hdr" | sed -n 's/^[Ll]ocation: *//p' | tail -n 1)
	printf '%s\n' "$HTTP_BODY"
}

# jget JSON FILTER: jq -r FILTER on JSON ("" for null or a parse error).
jget() {
	printf '%s' "$1" | jq -r "($2) // empty" 2>/dev/null
}

# migrate SRC_API PID TO [MODE]: POST /migrations, expects 202 with a Location and
# echoes the job id. For $(...); on any other answer it says why on stderr and
# returns 1. MIGRATE_OPTIONS, when set, is the request's "options" object.
migrate() {
	local src=$1 pid=$2 to=$3 mode=${4:-} req id
	if [ -n "$mode" ]; then
		req=$(jq -cn --argjson pid "$pid" --arg to "$to" --arg mode "$mode" \
			'{type: "pid", pid: $pid, to: $to, mode: $mode}')
	else
		req=$(jq -cn --argjson pid "$pid" --arg to "$to" '{type: "pid", pid: $pid, to: $to}')
	fi
	if [ -n "${MIGRATE_OPTIONS:-}" ]; then
		req=$(jq -c --argjson o "$MIGRATE_OPTIONS" '. + {options: $o}' <<<"$req")
	fi
	api POST "$src/migrations" "$req" >/dev/null
	if [ "$HTTP_STATUS" != 202 ]; then
		echo "migrate: POST $src/migrations $req -> $HTTP_STATUS $HTTP_BODY" >&2
		return 1
	fi
	if [ -z "$HTTP_LOCATION" ]; then
		echo "migrate: 202 without a Location header: $HTTP_BODY" >&2
		return 1
	fi
	id=${HTTP_LOCATION##*/}
	case "$HTTP_LOCATION" in
	/migrations/"$id" | http*://*/migrations/"$id") ;;
	*)
		echo "migrate: Location '$HTTP_LOCATION' is not /migrations/ID" >&2
		return 1
		;;
	esac
	if [ -n "$(jget "$HTTP_BODY" .id)" ] && [ "$(jget "$HTTP_BODY" .id)" != "$id" ]; then
		echo "migrate: body id $(jget "$HTTP_BODY" .id) differs from Location $id" >&2
		return 1
	fi
	echo "$id"
}

# wait_job API ID TIMEOUT_S: polls GET /migrations/ID every 100 ms until the state is
# succeeded, failed or cancelled; echoes the last JSON. Returns 1 on timeout. For $(...).
wait_job() {
	local api_url=$1 id=$2 end state
	end=$(($(now_ms) + $(_secs_ms "$3")))
	while :; do
		api GET "$api_url/migrations/$id" >/dev/null
		if [ "$HTTP_STATUS" = 200 ]; then
			state=$(jget "$HTTP_BODY" .state)
			case "$state" in
			succeeded | failed | cancelled)
				printf '%s\n' "$HTTP_BODY"
				return 0
				;;
			esac
		fi
		if [ "$(now_ms)" -ge "$end" ]; then
			echo "wait_job: $id not finished after $3 s (HTTP $HTTP_STATUS)" >&2
			printf '%s\n' "$HTTP_BODY"
			return 1
		fi
		sleep 0.1
	done
}

# job_summary JSON: one line for the log.
job_summary() {
	jget "$1" '"state=\(.state) phase=\(.phase) error=\(.error.code // "-"): \(.error.message // "-") process_at=\(.error.process_at // "-") downtime_ms=\(.stats.downtime_ms) frozen_ms=\(.stats.frozen_ms) total_ms=\(.stats.total_ms) bytes=\(.stats.bytes) bytes_raw=\(.stats.bytes_raw) compression=\(.stats.compression)"'
}

# migrate_and_check LABEL SRC_API PID TO STATUS_FILE MIB [TIMEOUT_S]
# One migration that must succeed, checked on the real process: the job succeeds,
# result.pid is a running workload writing STATUS_FILE, the source process is gone,
# the workload counts on with its memory intact, and the statistics are plausible.
# Sets JOB_ID, JOB_JSON and MIGRATED_PID (empty when there is none). Not for $(...).
# shellcheck disable=SC2034 # the variables are for the caller
migrate_and_check() {
	local label=$1 src=$2 pid=$3 to=$4 status=$5 mib=$6 tmo=${7:-120}
	local id json newpid after before gap down
	JOB_ID=""
	JOB_JSON=""
	MIGRATED_PID=""
	# Reset the workload's longest gap, so that afterwards it is this migration's.
	before=$(status_field "$status" counter)
	kill -USR1 "$pid"
	wait_counter_past "$status" $((before + 2)) 5
	if ! id=$(migrate "$src" "$pid" "$to"); then
		fail "$label: accepted" "POST /migrations was refused"
		return 1
	fi
	JOB_ID=$id
	pass "$label: accepted as job $id"
	if ! json=$(wait_job "$src" "$id" "$tmo"); then
		JOB_JSON=$json
		fail "$label: job finished" "not within $tmo s: $json"
		return 1
	fi
	JOB_JSON=$json
	note "$label: $(job_summary "$json")"
	expect_eq "$label: job id" "$(jget "$json" .id)" "$id"
	expect_eq "$label: job succeeded" "$(jget "$json" .state)" succeeded || return 1
	newpid=$(jget "$json" .result.pid)
	if ! [[ "$newpid" =~ ^[0-9]+$ ]]; then
		fail "$label: result.pid" "not a pid: '$newpid'"
		return 1
	fi
	track_pid "$newpid"
	MIGRATED_PID=$newpid
	expect_workload "$label: result.pid $newpid is the running workload" "$newpid" "$status" ||
		return 1
	if [ "$newpid" != "$pid" ]; then
		expect_true "$label: source pid $pid gone" wait_for 10 pid_gone "$pid"
	fi
	after=$(status_field "$status" counter)
	check_workload_intact "$status" "$mib" "$after" "$label: workload counts on, memory intact"
	down=$(jget "$json" .stats.downtime_ms)
	expect_num_ge "$label: stats.downtime_ms" "$down" 0
	expect_num_ge "$label: stats.frozen_ms" "$(jget "$json" .stats.frozen_ms)" 0
	# What CRIU produced; with compression fewer bytes may go on the wire.
	expect_num_ge "$label: stats.bytes_raw >= $mib MiB" "$(jget "$json" .stats.bytes_raw)" \
		$((mib * 1048576))
	# The workload's own clock is the truth: the reported downtime may not be
	# shorter than the gap it saw, less a few ticks of slack.
	gap=$(status_field "$status" max_gap_ms)
	if [[ "$down" =~ ^[0-9]+$ ]] && [ "$gap" -le $((down + 250)) ]; then
		pass "$label: downtime_ms $down covers the ${gap} ms the workload stood still"
	else
		fail "$label: downtime_ms covers the gap" "downtime_ms '$down', the workload stood still ${gap} ms"
	fi
	return 0
}

# check_failed_at_source LABEL JSON PID STATUS_FILE MIB [MESSAGE_REGEX]
# A job that must have failed with the process left running at the source: state
# failed, error.code and error.phase set, error.process_at "source", PID still the
# workload, counting on with its memory intact.
check_failed_at_source() {
	local label=$1 json=$2 pid=$3 status=$4 mib=$5 re=${6:-}
	local after
	note "$label: $(job_summary "$json")"
	expect_eq "$label: job failed" "$(jget "$json" .state)" failed
	expect_match "$label: error.code set" "$(jget "$json" .error.code)" '^[a-z_]+$'
	expect_match "$label: error.phase set" "$(jget "$json" .error.phase)" '.'
	expect_eq "$label: error.process_at" "$(jget "$json" .error.process_at)" source
	if [ -n "$re" ]; then
		expect_match "$label: error says why" \
			"$(jget "$json" '.error.code + " " + .error.message')" "$re"
	fi
	expect_workload "$label: workload still runs as pid $pid" "$pid" "$status" || return 1
	after=$(status_field "$status" counter)
	check_workload_intact "$status" "$mib" "$after" "$label: workload counts on, memory intact"
}

# workload_pids FILE: the pids of every workload process writing status file FILE
# (not the unshare wrapper, whose command line names the file too), one a line; a
# copy restored elsewhere, even stopped, counts. For $(...).
workload_pids() {
	local p
	for p in $(pgrep -f -- "--status $1" 2>/dev/null); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = workload ] && echo "$p"
	done
}

# _only_workload_is FILE PID: PID is the one and only workload writing FILE.
_only_workload_is() {
	[ "$(workload_pids "$1" | tr '\n' ' ')" = "$2 " ]
}

# check_no_images LABEL DIR: no CRIU image file is left anywhere under DIR.
check_no_images() {
	local left
	left=$(find "$2" \( -name '*.img' -o -name 'stats-dump' -o -name 'stats-restore' \) \
		2>/dev/null | head -n 5)
	if [ -z "$left" ]; then pass "$1"; return 0; fi
	fail "$1" "left over: $(echo "$left" | tr '\n' ' ')"
	return 1
}

# ---------------------------------------------------------------------------
# Network namespaces

# setup_netns: two namespaces joined by a veth pair, 10.231.0.1/24 in NS_A and
# 10.231.0.2/24 in NS_B, lo up in both. Sets NS_A, NS_B, ADDR_A, ADDR_B.
setup_netns() {
	local suffix
	suffix=$(basename "$T" | sed 's/.*\.//')
	NS_A=hauld-a-$suffix
	NS_B=hauld-b-$suffix
	ADDR_A=10.231.0.1
	ADDR_B=10.231.0.2
	ip netns add "$NS_A" || return 1
	echo "$NS_A" >>"$T/netns"
	ip netns add "$NS_B" || return 1
	echo "$NS_B" >>"$T/netns"
	# Made inside the namespaces, so the short names cannot clash with the host's.
	ip -n "$NS_A" link add veth0 type veth peer name veth0 netns "$NS_B" || return 1
	ip -n "$NS_A" addr add "$ADDR_A/24" dev veth0 &&
		ip -n "$NS_B" addr add "$ADDR_B/24" dev veth0 &&
		ip -n "$NS_A" link set lo up &&
		ip -n "$NS_B" link set lo up &&
		ip -n "$NS_A" link set veth0 up &&
		ip -n "$NS_B" link set veth0 up || return 1
}

# wire_bytes: the bytes both hosts of setup_netns have sent over their link.
wire_bytes() {
	local ns total=0
	for ns in "$NS_A" "$NS_B"; do
		total=$((total + $(ip netns exec "$ns" cat /sys/class/net/veth0/statistics/tx_bytes)))
	done
	echo "$total"
}

# hauld_cpu_ms: the CPU time daemons A and B have used (their own, not CRIU's).
hauld_cpu_ms() {
	local pid ticks=0
	for pid in "$A_PID" "$B_PID"; do
		ticks=$((ticks + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
	done
	echo $((ticks * 1000 / $(getconf CLK_TCK)))
}

# link_copy FROM TO DIR INTO NAME...: the NAMEs (files or directories) of DIR at host
# FROM into the directory INTO at host TO (setup_netns's A and B), a tar stream
# through nc over the link between them, as a user's script copies between two
# machines. Benchmarks use it for the CLI pipelines' copies.
link_copy() {
	local from_ns=NS_$1 to_ns=NS_$2 to_addr=ADDR_$2 dir=$3 into=$4 port=7790 rx rc
	shift 4
	mkdir -p "$into"
	in_netns "${!to_ns}" nc -l "${!to_addr}" $port </dev/null | tar -C "$into" -xf - &
	rx=$!
	wait_for 10 _listening "${!to_ns}" $port || { kill $rx 2>/dev/null; return 1; }
	tar -C "$dir" -cf - "$@" | in_netns "${!from_ns}" nc -N "${!to_addr}" $port
	rc=$?
	wait $rx || rc=1
	return $rc
}

# _listening NS PORT: something in NS listens on TCP PORT.
_listening() {
	[ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2")" ]
}

# sfield LINE KEY: the value of KEY=VALUE in a status line. For $(...).
sfield() {
	local kv
	for kv in $1; do
		[ "${kv%%=*}" = "$2" ] && { echo "${kv#*=}"; return 0; }
	done
	return 1
}

# teardown_netns: delete the namespaces setup_netns created (the veth pair goes
# with them). Processes still inside keep a namespace alive until they exit.
teardown_netns() {
	local ns
	while read -r ns; do
		[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	done <"$T/netns"
	: >"$T/netns"
}

# ---------------------------------------------------------------------------
# Cleanup

# Only processes written down with the start time they still have, or whose command
# line names $T (workloads, their wrappers, daemons with their data dir under $T) or
# this build's hauld, are killed: a pid written down earlier may belong to some other
# process by now. _ours PID [START]
_ours() {
	if [ -n "${2:-}" ] && [ "$(pid_start "$1")" = "$2" ]; then
		return 0
	fi
	case "$(pid_cmdline "$1")" in
	*"$T/"* | "$BUILD/hauld "*) return 0 ;;
	esac
	return 1
}

_cleanup() {
	local kind pid p
	# Only the test's own shell cleans up, never a $(...) subshell that called die.
	[ "${BASHPID:-$$}" = "$$" ] || return 0
	trap - EXIT INT TERM
	# Daemons first, so none restores anything while the rest goes.
	while read -r kind pid start; do
		[ "$kind" = daemon ] && pid_alive "$pid" && _ours "$pid" "$start" &&
			kill -TERM "$pid" 2>/dev/null
	done <"$T/pids"
	while read -r kind pid start; do
		[ "$kind" = daemon ] || continue
		wait_for 10 pid_gone "$pid" || { _ours "$pid" "$start" && kill -KILL "$pid" 2>/dev/null; }
	done <"$T/pids"
	for h in "${CLEANUP_HOOKS[@]}"; do "$h"; done
	while read -r kind pid start; do
		[ "$kind" = daemon ] || { _ours "$pid" "$start" && kill -KILL "$pid" 2>/dev/null; }
	done <"$T/pids"
	# Restored workloads nobody tracked are found by their command line.
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = $$ ] && continue
		[ "$pid" = "${BASHPID:-}" ] && continue
		case "$(pid_cmdline "$pid")" in
		*"$T/"*) kill -KILL "$pid" 2>/dev/null ;;
		esac
	done
	wait 2>/dev/null
	teardown_netns
	if [ "${HAULD_TEST_KEEP:-0}" = 1 ]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
}

trap '_cleanup' EXIT
trap 'echo "$TEST_NAME: interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------------------
# Preconditions every test shares

need_root_and_build() {
	[ "$(id -u)" = 0 ] || { echo "$TEST_NAME: needs root" >&2; exit 1; }
	[ -x "$BUILD/hauld" ] || { echo "$TEST_NAME: $BUILD/hauld missing (make)" >&2; exit 1; }
	[ -x "$BUILD/workload" ] || { echo "$TEST_NAME: $BUILD/workload missing (make)" >&2; exit 1; }
}
