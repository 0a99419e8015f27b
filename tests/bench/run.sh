#!/usr/bin/env bash
# run.sh: benchmark hauld against CRIU's own command line (`make bench`).
#
# Moves checksummed workloads (tests/workload.c) of 64 MiB, 256 MiB and 1 GiB, and a
# 256 MiB one that keeps dirtying its memory, between two hauld daemons on 127.0.0.1,
# and the same workloads by hand with the CRIU CLI (page-server, dump --page-server,
# cp, restore -d), the two alternating on one workload. Then measures the REST API
# with wrk while migrations run. Writes docs/BENCHMARKS.md, the table between the
# bench markers in README.md, and prints the tables.
#
# Environment (defaults in brackets):
#   BENCH_RUNS            runs per figure; a multiple of the number of tools balances
#                         the order (see williams_order) [4]
#   BENCH_SIZES           plain workload sizes in MiB ["64 256 1024"]
#   BENCH_DIRTY           MIB@RATE workloads that dirty RATE MiB/s ["256@64"]; "" for none
#   BENCH_MODES / MODES   hauld modes to measure, or "auto": every mode daemon A's
#                         API accepts (read from its answer to an unknown mode) [auto]
#   BENCH_WRK             1 to run the API load test, 0 to skip it [1]
#   BENCH_SAFE_CLI        1 to also run the CLI baseline that keeps its source until
#                         the restore succeeded, as hauld does; 0 to skip it [1]
#   BENCH_WRK_DURATION    wrk's -d for each load [5s]
#   BENCH_CRIU_LOG_LEVEL  CRIU's log level, hauld's --criu-log-level and the CLI's -v [2]
#   BENCH_WRITE           0: print only, leave docs/BENCHMARKS.md and README.md alone [1]
#   BENCH_KEEP            1: keep the temporary directory (job JSON, CRIU stats and
#                         the CLI's logs) [0]
#   BENCH_HAULD_OPTIONS   "options" object for hauld's jobs, e.g. '{"keep_images":true}'
#                         with BENCH_KEEP=1 and BENCH_CRIU_LOG_LEVEL=4 to read CRIU's
#                         logs in the kept DIR/{A,B}/jobs/ID/work [none]
#   BUILD                 where hauld and workload are [build/]
#
# Only 127.0.0.1 is used. Every process this script starts, and every tree it
# restores, has the run's temporary directory on its command line; cleanup kills
# those and nothing else, and removes the directory.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
PY=${PYTHON:-}
if [ -z "$PY" ]; then
	if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
fi
BENCHPY=$HERE/bench.py

# `criu restore -d` leaves the restored tree to the nearest child subreaper, else to
# init (which here reaps late, leaving zombies meanwhile): become that subreaper, so
# that the trees we restore are our children and we reap them.
if [ "${_HAULD_BENCH_SUBREAPER:-}" != 1 ]; then
	export _HAULD_BENCH_SUBREAPER=1
	exec "$PY" "$BENCHPY" subreaper bash "${BASH_SOURCE[0]}" "$@"
fi
unset _HAULD_BENCH_SUBREAPER

RUNS=${BENCH_RUNS:-4}
SIZES=${BENCH_SIZES-64 256 1024}
DIRTY=${BENCH_DIRTY-256@64}
MODES=${BENCH_MODES:-${MODES:-auto}}
WRK=${BENCH_WRK:-1}
SAFE=${BENCH_SAFE_CLI:-1}
WRK_DURATION=${BENCH_WRK_DURATION:-5s}
LOG_LEVEL=${BENCH_CRIU_LOG_LEVEL:-2}
WRITE=${BENCH_WRITE:-1}
KEEP=${BENCH_KEEP:-0}
HAULD_OPTIONS=${BENCH_HAULD_OPTIONS:-}
API_MIB=256

say() { printf 'bench: %s\n' "$*"; }
die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (CRIU, PID namespaces)"
[ -x "$BUILD/hauld" ] || die "$BUILD/hauld is missing: run make first"
[ -x "$BUILD/workload" ] || die "$BUILD/workload is missing: run make first"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ "$LOG_LEVEL" =~ ^[0-4]$ ]] || die "BENCH_CRIU_LOG_LEVEL must be 0..4"
[[ "$SAFE" =~ ^[01]$ ]] || die "BENCH_SAFE_CLI must be 0 or 1"
[ -z "$HAULD_OPTIONS" ] || [[ "$HAULD_OPTIONS" =~ ^\{.*\}$ ]] || die "BENCH_HAULD_OPTIONS must be a JSON object"
for spec in $SIZES $DIRTY; do
	[[ "$spec" =~ ^[1-9][0-9]*(@[1-9][0-9]*)?$ ]] || die "bad workload '$spec' (MIB or MIB@RATE)"
done
for mode in $MODES; do
	[[ "$mode" =~ ^[a-z][a-z0-9_-]*$ ]] || die "bad mode '$mode'"
done
[ -n "$MODES" ] || die "BENCH_MODES is empty"
for tool in curl unshare setsid mkfifo cp stat; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/setup.sh)"
done
CRIU=/usr/local/sbin/criu
[ -x "$CRIU" ] || CRIU=$(command -v criu 2>/dev/null) || die "criu is missing (scripts/setup.sh)"
"$CRIU" --version 2>/dev/null | grep -q 'Version: [4-9]\.' || die "$CRIU is not CRIU 4.x (scripts/setup.sh)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 6))' || die "needs python3 >= 3.6"
if [ "$WRK" = 1 ] && ! command -v wrk >/dev/null 2>&1; then
	say "wrk is missing; installing it (apt-get install wrk)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk \
		>/dev/null 2>&1 || true
	command -v wrk >/dev/null 2>&1 || { say "no wrk: skipping the API load test"; WRK=0; }
fi
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

T=$(mktemp -d /tmp/hauld-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$T"
mkdir -p "$T/runs"
: >"$T/runs.jsonl"

A_PID="" B_PID="" C_PID="" WRK_PID="" WPID="" WSTATUS="" WINDOW=""
SEQ=0
FAILS=0

# ---------------------------------------------------------------------------
# Cleanup: only what names $T.

pid_cmdline() {
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline"
}

ours() {
	case "$(pid_cmdline "$1")" in
	*"$T/"* | *"$T "*) return 0 ;;
	esac
	return 1
}

cleanup() {
	local pid p i
	[ "${BASHPID:-$$}" = "$$" ] || return 0
	trap - EXIT INT TERM
	[ -n "$WRK_PID" ] && kill -TERM "$WRK_PID" 2>/dev/null
	# Daemons first, so that neither restores anything while the rest goes.
	for pid in $A_PID $B_PID $C_PID; do
		pid_alive "$pid" && ours "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in $A_PID $B_PID $C_PID; do
		for ((i = 0; i < 100; i++)); do pid_alive "$pid" || break; sleep 0.1; done
		pid_alive "$pid" && ours "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	# Workloads (also those restored by CRIU or hauld), their unshare wrappers, page
	# servers: each has $T on its command line.
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = $$ ] && continue
		ours "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$KEEP" = 1 ]; then
		say "kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# ---------------------------------------------------------------------------
# Time, processes, the workload's status line

# now_us: sets NOW (microseconds since the epoch) without a fork.
now_us() {
	NOW=${EPOCHREALTIME/./}
}

pid_alive() {
	local st line
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	st=${line##*) }
	st=${st%% *}
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

pid_gone() {
	! pid_alive "$1"
}

# wait_for TIMEOUT_MS CMD...: run CMD every 20 ms until it succeeds.
wait_for() {
	local end
	now_us
	end=$((NOW / 1000 + $1))
	shift
	while :; do
		"$@" && return 0
		now_us
		[ $((NOW / 1000)) -ge "$end" ] && return 1
		sleep 0.02
	done
}

is_workload() {
	case "$(pid_cmdline "$1")" in
	*workload\ --mib\ *--status\ "$2"*) return 0 ;;
	esac
	return 1
}

# sfield FILE KEY: sets REPLY to KEY's value in the workload's status line.
sfield() {
	local line kv
	REPLY=""
	read -r line 2>/dev/null <"$1" || return 1
	for kv in $line; do
		if [ "${kv%%=*}" = "$2" ]; then
			REPLY=${kv#*=}
			return 0
		fi
	done
	return 1
}

counter_past() {
	sfield "$1" counter && [ "$REPLY" -gt "$2" ]
}

checked_past() {
	local c
	sfield "$1" counter || return 1
	c=$REPLY
	sfield "$1" sum_at || return 1
	[ "$c" -gt "$2" ] && [ "$REPLY" -gt "$2" ]
}

# proc_cpu PID: sets CPU_MS to the utime+stime of the process's own threads.
proc_cpu() {
	local line
	local -a f
	CPU_MS=0
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	read -r -a f <<<"${line##*) }"
	CPU_MS=$(((f[11] + f[12]) * 1000 / CLK_TCK))
}

# proc_mem PID: sets HWM_KB and RSS_KB.
proc_mem() {
	local k v rest
	HWM_KB=0
	RSS_KB=0
	while read -r k v rest; do
		case $k in
		VmHWM:) HWM_KB=$v ;;
		VmRSS:) RSS_KB=$v ;;
		esac
	done 2>/dev/null <"/proc/$1/status"
}

# Reset VmHWM to the current RSS, so that the next reading is this migration's peak.
reset_peak() {
	echo 5 2>/dev/null >"/proc/$1/clear_refs"
}

# ---------------------------------------------------------------------------
# Records: one JSON object a line in $T/runs.jsonl, read by bench.py.

REC=""
rec_s() {
	local v=${2//[\"\\]/ }
	v=${v//[$'\n\r\t']/ }
	REC+="${REC:+,}\"$1\":\"$v\""
}
rec_n() {
	if [[ "$2" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then REC+="${REC:+,}\"$1\":$2"; else REC+="${REC:+,}\"$1\":null"; fi
}
rec_b() {
	REC+="${REC:+,}\"$1\":$2"
}
rec_flush() {
	printf '{%s}\n' "$REC" >>"$T/runs.jsonl"
	REC=""
}

# ---------------------------------------------------------------------------
# Daemons and workloads

# start_daemon NAME: hauld on 127.0.0.1 with ports picked by the kernel; sets
# NAME_PID, NAME_API (http://...), NAME_PEER (127.0.0.1:PORT).
start_daemon() {
	local name=$1 pid log=$T/$1.log api peer
	mkdir -p "$T/$name"
	"$BUILD/hauld" --listen 127.0.0.1:0 --peer-listen 127.0.0.1:0 --data-dir "$T/$name" \
		--secret-file "$T/secret" --criu-log-level "$LOG_LEVEL" </dev/null >"$log" 2>&1 &
	pid=$!
	printf -v "${name}_PID" '%s' "$pid"
	if ! wait_for 10000 daemon_listening "$log" "$pid"; then
		tail -n 20 "$log" >&2
		die "hauld $name did not start"
	fi
	api=$(sed -n 's/.*INFO listening: api=\([^ ]*\).*/\1/p' "$log" | head -n 1)
	peer=$(sed -n 's/.*INFO listening: peer=\([^ ]*\).*/\1/p' "$log" | head -n 1)
	printf -v "${name}_API" '%s' "http://$api"
	printf -v "${name}_PEER" '%s' "$peer"
}

daemon_listening() {
	pid_alive "$2" && grep -q 'INFO listening: api=' "$1" && grep -q 'INFO listening: peer=' "$1"
}

# start_workload NAME MIB RATE: `unshare -p -f setsid workload` (its own PID
# namespace, so that a restore can give it its pids back); sets WPID and WSTATUS.
start_workload() {
	local name=$1 mib=$2 rate=$3 wrapper c="" i
	local -a extra=()
	WSTATUS=$T/$name.status
	WPID=""
	[ "$rate" -gt 0 ] && extra=(--dirty-mib-per-s "$rate")
	rm -f "$WSTATUS"
	(cd / && exec unshare -p -f setsid "$BUILD/workload" --mib "$mib" --status "$WSTATUS" \
		"${extra[@]}") </dev/null >/dev/null 2>&1 &
	wrapper=$!
	for ((i = 0; i < 250; i++)); do
		read -r c _ 2>/dev/null <"/proc/$wrapper/task/$wrapper/children"
		[ -n "$c" ] && is_workload "$c" "$WSTATUS" && break
		c=""
		sleep 0.02
	done
	[ -n "$c" ] || die "workload $name did not start"
	wait_for $((10000 + mib * 20)) test -s "$WSTATUS" || die "workload $name wrote no status"
	WPID=$c
}

stop_workload() {
	[ -n "$WPID" ] && pid_alive "$WPID" && ours "$WPID" && kill -TERM "$WPID" 2>/dev/null
	[ -n "$WPID" ] && wait_for 5000 pid_gone "$WPID"
	WPID=""
}

# ---------------------------------------------------------------------------
# One migration, verified

# prepare_move: reset the workload's longest gap and wait until it took effect.
# Sets PRE (its counter just before the migration).
prepare_move() {
	sfield "$WSTATUS" counter
	local before=$REPLY
	kill -USR1 "$WPID" 2>/dev/null
	wait_for 5000 counter_past "$WSTATUS" $((before + 2))
	sfield "$WSTATUS" counter
	PRE=$REPLY
}

# verify_move OLD NEW MIB WANT: the tree runs as NEW, OLD is gone, the counter went
# on from PRE, and a checksum pass begun after the move equals WANT. Sets GAP (the
# workload's max_gap_ms) and VERR (empty when all is well).
verify_move() {
	local old=$1 new=$2 mib=$3 want=$4 c1 sum exp
	VERR=""
	GAP=""
	if ! [[ "$new" =~ ^[0-9]+$ ]] || ! pid_alive "$new" || ! is_workload "$new" "$WSTATUS"; then
		VERR="pid '$new' is not the running workload"
		return 1
	fi
	if [ "$new" != "$old" ] && ! wait_for 10000 pid_gone "$old"; then
		VERR="the source copy $old still runs"
		return 1
	fi
	sfield "$WSTATUS" counter
	c1=$REPLY
	if ! wait_for 10000 counter_past "$WSTATUS" $((c1 + 2)); then
		VERR="the workload does not tick at the destination"
		return 1
	fi
	sfield "$WSTATUS" max_gap_ms
	GAP=$REPLY
	sfield "$WSTATUS" counter
	if [ "$REPLY" -le "$PRE" ]; then
		VERR="counter went from $PRE to $REPLY"
		return 1
	fi
	if ! wait_for $((20000 + mib * 30)) checked_past "$WSTATUS" "$c1"; then
		VERR="no checksum pass after the move"
		return 1
	fi
	sfield "$WSTATUS" checksum
	sum=$REPLY
	sfield "$WSTATUS" expected
	exp=$REPLY
	if [ "$sum" != "$want" ] || [ "$exp" != "$want" ]; then
		VERR="checksum $sum, workload expects $exp, computed $want"
		return 1
	fi
	return 0
}

jnum() {
	# jnum JSON KEY: sets REPLY to the first number after "KEY": in JSON.
	REPLY=""
	[[ "$1" =~ \"$2\":(-?[0-9]+) ]] && REPLY=${BASH_REMATCH[1]}
}

# hauld_move SECTION SPEC MIB RUN MODE SRC DST WANT: migrate $WPID from daemon SRC
# to daemon DST (names A or B) and record it. On success WPID is the new pid.
hauld_move() {
	local section=$1 spec=$2 mib=$3 run=$4 mode=$5 src=$6 dst=$7 want=$8
	local src_pid_v="${6}_PID" dst_pid_v="${7}_PID" src_api_v="${6}_API" dst_peer_v="${7}_PEER"
	local spid=${!src_pid_v} dpid=${!dst_pid_v} api=${!src_api_v} peer=${!dst_peer_v}
	local body code id="" state="" json="" t0 t1 newpid="" err="" deadline n
	local cs0 cs1 cd0 cd1 rs0 rd0 hs hd inside
	SEQ=$((SEQ + 1))
	n=$SEQ
	GAP=""
	LAST_JOB=""
	prepare_move
	proc_cpu "$spid"; cs0=$CPU_MS
	proc_cpu "$dpid"; cd0=$CPU_MS
	reset_peak "$spid"; reset_peak "$dpid"
	proc_mem "$spid"; rs0=$RSS_KB
	proc_mem "$dpid"; rd0=$RSS_KB
	now_us; t0=$NOW
	body="{\"type\":\"pid\",\"pid\":$WPID,\"to\":\"$peer\",\"mode\":\"$mode\"${HAULD_OPTIONS:+,\"options\":$HAULD_OPTIONS}}"
	json=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "$body" "$api/migrations")
	code=${json##*$'\n'}
	json=${json%$'\n'*}
	[[ "$json" =~ \"id\":\"([0-9a-f-]{36})\" ]] && id=${BASH_REMATCH[1]}
	if [ "$code" != 202 ] || [ -z "$id" ]; then
		err="POST /migrations answered $code: $json"
	else
		deadline=$((t0 / 1000 + 120000 + mib * 200))
		while :; do
			json=$(curl -s --max-time 10 "$api/migrations/$id")
			if [[ "$json" =~ \"state\":\"(succeeded|failed|cancelled)\" ]]; then
				state=${BASH_REMATCH[1]}
				break
			fi
			now_us
			if [ $((NOW / 1000)) -gt "$deadline" ]; then
				err="job $id not finished in time"
				break
			fi
			sleep 0.05
		done
	fi
	now_us; t1=$NOW
	# In a load window: did the job end while wrk still ran?
	inside=""
	if [ -n "${WINDOW:-}" ]; then
		inside=true
		[ "$WINDOW" != - ] && ! wrk_running "$WINDOW" && inside=false
	fi
	proc_cpu "$spid"; cs1=$CPU_MS
	proc_cpu "$dpid"; cd1=$CPU_MS
	proc_mem "$spid"; hs=$HWM_KB
	proc_mem "$dpid"; hd=$HWM_KB
	printf '%s\n' "$json" >"$T/runs/$n.job.json"
	[ -n "$id" ] && curl -s --max-time 10 "$api/migrations/$id/events" >"$T/runs/$n.events.json"
	LAST_JOB=$id
	if [ -z "$err" ] && [ "$state" != succeeded ]; then
		err="job $state: $(printf '%s' "$json" | sed -n 's/.*"message":"\([^"]*\)".*/\1/p' | head -c 300)"
	fi
	if [ -z "$err" ]; then
		[[ "$json" =~ \"result\":\{\"pid\":([0-9]+) ]] && newpid=${BASH_REMATCH[1]}
		if verify_move "$WPID" "$newpid" "$mib" "$want"; then
			WPID=$newpid
		else
			err=$VERR
			pid_alive "$newpid" && WPID=$newpid
		fi
	fi
	rec_s section "$section"; rec_s tool hauld; rec_s mode "$mode"; rec_s spec "$spec"
	rec_n mib "$mib"; rec_n run "$run"; rec_s direction "$src->$dst"
	rec_b ok "$([ -z "$err" ] && echo true || echo false)"; rec_s error "$err"
	rec_n gap_ms "$GAP"; rec_s job "$id"
	rec_s job_file "$T/runs/$n.job.json"; rec_s events_file "$T/runs/$n.events.json"
	rec_n t_start_ms $((t0 / 1000)); rec_n t_end_ms $((t1 / 1000)); rec_n wall_ms $(((t1 - t0) / 1000))
	rec_n cpu_src_ms $((cs1 - cs0)); rec_n cpu_dst_ms $((cd1 - cd0))
	rec_n hwm_src_kb "$hs"; rec_n hwm_dst_kb "$hd"; rec_n rss0_src_kb "$rs0"; rec_n rss0_dst_kb "$rd0"
	[ -n "$inside" ] && rec_b inside "$inside"
	rec_flush
	local down frozen total
	jnum "$json" downtime_ms; down=$REPLY
	jnum "$json" frozen_ms; frozen=$REPLY
	jnum "$json" total_ms; total=$REPLY
	if [ -z "$err" ]; then
		say "$(printf '%-22s %-12s %s->%s  seen %5s ms  downtime %5s  frozen %5s  total %5s  ok' \
			"$section $spec #$run" "hauld $mode" "$src" "$dst" "$GAP" "$down" "$frozen" "$total")"
		return 0
	fi
	FAILS=$((FAILS + 1))
	say "$(printf '%-22s %-12s %s->%s  FAILED: %s' "$section $spec #$run" "hauld $mode" "$src" "$dst" "$err")"
	return 1
}

# criu_move SECTION SPEC MIB RUN WANT: the same by hand with the CRIU CLI.
# criu_move SECTION SPEC MIB RUN WANT [safe]: the baseline. With "safe", the script a
# user who wants hauld's guarantee would write: the dump leaves the source stopped
# (--leave-stopped) and the restore leaves its copy stopped; only once the restore
# has succeeded is the source killed and the copy continued.
criu_move() {
	local section=$1 spec=$2 mib=$3 run=$4 want=$5 variant=${6:-}
	local d port ps_pid t0 t1 t2 t3 t4 rc newpid="" err="" bytes=0 n s
	local v="-v$LOG_LEVEL"
	local -a dump_x=() rst_x=()
	if [ "$variant" = safe ]; then
		dump_x=(--leave-stopped)
		rst_x=(--leave-stopped)
	fi
	SEQ=$((SEQ + 1))
	n=$SEQ
	GAP=""
	d=$T/cli.$n
	mkdir -p "$d/d1" "$d/d2" "$d/w1" "$d/w2"
	mkfifo "$d/ready"
	port=$("$PY" "$BENCHPY" freeport)
	prepare_move
	now_us; t0=$NOW
	# The "destination": a page server, which writes a NUL on fd 3 once it listens.
	"$CRIU" page-server --images-dir "$d/d2" -W "$d/w2" --address 127.0.0.1 --port "$port" \
		-o page-server.log "$v" --status-fd 3 3>"$d/ready" </dev/null >"$d/w2/page-server.out" 2>&1 &
	ps_pid=$!
	if ! IFS= read -r -d '' _ <"$d/ready"; then
		err="criu page-server did not start (see page-server.log)"
	fi
	now_us; t1=$NOW
	if [ -z "$err" ]; then
		"$CRIU" dump -t "$WPID" -D "$d/d1" -W "$d/w1" -o dump.log "$v" "${dump_x[@]}" \
			--page-server --address 127.0.0.1 --port "$port" </dev/null >"$d/w1/dump.out" 2>&1
		rc=$?
		[ $rc = 0 ] || err="criu dump exited $rc: $(grep -m1 'Error' "$d/w1/dump.log" 2>/dev/null)"
	fi
	now_us; t2=$NOW
	if [ -n "$err" ]; then
		kill -KILL "$ps_pid" 2>/dev/null
	fi
	wait "$ps_pid" 2>/dev/null
	if [ -z "$err" ]; then
		cp "$d/d1/"* "$d/d2/" || err="cp failed"
	fi
	now_us; t3=$NOW
	if [ -z "$err" ]; then
		"$CRIU" restore -D "$d/d2" -W "$d/w2" -o restore.log "$v" -d --pidfile "$d/w2/restore.pid" \
			"${rst_x[@]}" </dev/null >"$d/w2/restore.out" 2>&1
		rc=$?
		[ $rc = 0 ] || err="criu restore exited $rc: $(grep -m1 'Error' "$d/w2/restore.log" 2>/dev/null)"
		if [ "$variant" = safe ]; then
			read -r newpid 2>/dev/null <"$d/w2/restore.pid"
			if [ -z "$err" ]; then
				# The workload is its namespace's pid 1 and its session leader.
				kill -KILL "$WPID" 2>/dev/null
				kill -CONT -- "-$newpid" 2>/dev/null
			else
				kill -CONT "$WPID" 2>/dev/null
			fi
		fi
	fi
	now_us; t4=$NOW
	for s in $(stat -c %s "$d/d2/"* 2>/dev/null); do bytes=$((bytes + s)); done
	cp "$d/w1/stats-dump" "$T/runs/$n.stats-dump" 2>/dev/null
	cp "$d/w2/stats-restore" "$T/runs/$n.stats-restore" 2>/dev/null
	for s in page-server dump restore; do
		cp "$d/w1/$s.log" "$T/runs/$n.$s.log" 2>/dev/null || cp "$d/w2/$s.log" "$T/runs/$n.$s.log" 2>/dev/null
	done
	if [ -z "$err" ]; then
		read -r newpid 2>/dev/null <"$d/w2/restore.pid"
		if verify_move "$WPID" "$newpid" "$mib" "$want"; then
			WPID=$newpid
		else
			err=$VERR
			pid_alive "$newpid" && WPID=$newpid
		fi
	fi
	rm -rf "$d"
	rec_s section "$section"; rec_s tool criu; rec_s mode "$variant"; rec_s spec "$spec"
	rec_n mib "$mib"; rec_n run "$run"
	rec_b ok "$([ -z "$err" ] && echo true || echo false)"; rec_s error "$err"
	rec_n gap_ms "$GAP"
	rec_s stats_dump "$T/runs/$n.stats-dump"; rec_s stats_restore "$T/runs/$n.stats-restore"
	rec_n t_start_ms $((t0 / 1000)); rec_n t_end_ms $((t4 / 1000))
	rec_n total_ms $(((t4 - t0) / 1000)); rec_n bl_downtime_ms $(((t4 - t1) / 1000))
	rec_n bl_ps_ms $(((t1 - t0) / 1000)); rec_n bl_dump_ms $(((t2 - t1) / 1000))
	rec_n bl_cp_ms $(((t3 - t2) / 1000)); rec_n bl_restore_ms $(((t4 - t3) / 1000))
	rec_n bytes "$bytes"
	rec_flush
	if [ -z "$err" ]; then
		say "$(printf '%-22s %-12s        seen %5s ms  dump->run %5s  total %5s  ok' \
			"$section $spec #$run" "CRIU CLI $variant" "$GAP" $(((t4 - t1) / 1000)) $(((t4 - t0) / 1000)))"
		return 0
	fi
	FAILS=$((FAILS + 1))
	say "$(printf '%-22s %-12s        FAILED: %s' "$section $spec #$run" "CRIU CLI $variant" "$err")"
	return 1
}

# williams_order ROW N: sets ORDER to the ROW-th sequence (cyclically) of a Williams
# design for N tools: over N runs (2N when N is odd) every tool takes every place and
# follows every other tool equally often. On this VM a run depends on what ran just
# before it (how much memory that freed), so a fixed or merely rotated order biases
# the comparison.
williams_order() {
	local row=$1 n=$2 rows j k lo=1 hi=$(($2 - 1))
	local -a base=(0)
	for ((j = 1; j < n; j++)); do
		if [ $((j % 2)) = 1 ]; then base+=("$lo"); lo=$((lo + 1)); else base+=("$hi"); hi=$((hi - 1)); fi
	done
	rows=$n
	[ $((n % 2)) = 1 ] && rows=$((2 * n))
	row=$((row % rows))
	ORDER=()
	for ((j = 0; j < n; j++)); do
		k=$(((base[j] + row) % n))
		ORDER+=("$k")
	done
	if [ "$row" -ge "$n" ]; then
		local -a rev=()
		for ((j = n - 1; j >= 0; j--)); do rev+=("$(((base[j] + row) % n))"); done
		ORDER=("${rev[@]}")
	fi
}

# ensure_workload NAME MIB RATE: a running workload in WPID (a failed migration can
# lose it: start another).
ensure_workload() {
	if [ -z "$WPID" ] || ! pid_alive "$WPID" || ! is_workload "$WPID" "$T/$1.status"; then
		start_workload "$1" "$2" "$3"
	fi
}

# ---------------------------------------------------------------------------
# The API under load

# wrk_start NAME DAEMON URL [BODY]: wrk against DAEMON (A or C) in the background,
# POSTing BODY when given; sets WRK_PID.
wrk_start() {
	local name=$1 url=$3 body=${4:-} pid_v="${2}_PID"
	WRK_DAEMON=${!pid_v}
	proc_cpu "$WRK_DAEMON"
	WRK_CPU0=$CPU_MS
	now_us
	WRK_T0=$NOW
	BENCH_WRK_BODY=$body wrk -t2 -c16 -d"$WRK_DURATION" --timeout 5s -s "$HERE/wrk.lua" "$url" \
		</dev/null >"$T/wrk-$name.out" 2>&1 &
	WRK_PID=$!
}

wrk_running() {
	! grep -q '^BENCHJSON' "$T/wrk-$1.out" 2>/dev/null && pid_alive "$WRK_PID"
}

wrk_finish() {
	local name=$1 line
	wait "$WRK_PID" 2>/dev/null
	WRK_PID=""
	proc_cpu "$WRK_DAEMON"
	now_us
	line=$(sed -n 's/^BENCHJSON //p' "$T/wrk-$name.out" | head -n 1)
	if [ -z "$line" ]; then
		say "wrk $name gave no result: $(tail -n 3 "$T/wrk-$name.out" | tr '\n' ' ')"
		return 1
	fi
	printf '{"name":"%s","duration":"%s","cpu_ms":%d,"wall_ms":%d,"wrk":%s}\n' "$name" \
		"$WRK_DURATION" $((CPU_MS - WRK_CPU0)) $(((NOW - WRK_T0) / 1000)) "$line" >"$T/wrk-$name.json"
	say "wrk $name: $line"
}

# pingpong SECTION WRKNAME|"" SECONDS: migrate the API workload A->B->A... with hauld
# (first mode) until wrk ends, or for SECONDS (at least two legs) when there is no
# wrk. A leg counts as inside the window ("inside": true) when its job ended while
# wrk still ran; legs start only while wrk runs. Sets A_JOB to a job of daemon A.
pingpong() {
	local section=$1 wname=$2 secs=$3 leg=0 end loc=A mode=${MODES%% *}
	now_us
	end=$((NOW / 1000 + secs * 1000))
	WINDOW=${wname:--}
	while :; do
		if [ -n "$wname" ]; then
			wrk_running "$wname" || break
		else
			now_us
			[ $leg -ge 2 ] && [ $((NOW / 1000)) -ge "$end" ] && break
		fi
		ensure_workload api "$API_MIB" 0
		leg=$((leg + 1))
		if [ $loc = A ]; then
			hauld_move "$section" "$API_MIB" "$API_MIB" "$leg" "$mode" A B "$API_WANT" && loc=B
			[ -n "$LAST_JOB" ] && A_JOB=$LAST_JOB
		else
			hauld_move "$section" "$API_MIB" "$API_MIB" "$leg" "$mode" B A "$API_WANT" && loc=A
		fi
	done
	WINDOW=""
}

# ---------------------------------------------------------------------------
# Run

say "temporary directory $T"
nproc_v=$(nproc)
mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
read -r l1 l2 l3 _ </proc/loadavg
LOAD_BEFORE="$l1 $l2 $l3"
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$ROOT" diff --quiet HEAD -- src include db Makefile 2>/dev/null; then
	commit="$commit (with uncommitted changes to src/include/db/Makefile)"
fi

(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$T/secret")
start_daemon A
start_daemon B
say "daemon A pid $A_PID at $A_API (peer $A_PEER); daemon B pid $B_PID at $B_API (peer $B_PEER)"

# mode_accepted MODE: 0 when POST /migrations refuses a request in MODE for its pid
# (pid 1 is never movable) rather than for its mode.
mode_accepted() {
	local out
	out=$(curl -s --max-time 10 -X POST -H 'Content-Type: application/json' \
		--data-binary "{\"type\":\"pid\",\"pid\":1,\"to\":\"127.0.0.1:1\",\"mode\":\"$1\"}" \
		"$A_API/migrations")
	[[ "$out" == *'"error"'* ]] && [[ "$out" != *'"field":"mode"'* ]]
}

if [ "$MODES" = auto ]; then
	# The answer to an unknown mode names the accepted ones ("mode" must be "a" or
	# "b"); each is then checked on its own.
	msg=$(curl -s --max-time 10 -X POST -H 'Content-Type: application/json' \
		--data-binary '{"type":"pid","pid":1,"to":"127.0.0.1:1","mode":"no-such-mode"}' \
		"$A_API/migrations" | sed -n 's/.*"message":"\([^"\\]*\(\\.[^"\\]*\)*\)".*/\1/p')
	MODES=""
	for mode in $(printf '%s\n' "$msg" | grep -o '\\"[a-z][a-z0-9_-]*\\"' | tr -d '\\"' | grep -vx mode); do
		case " $MODES " in *" $mode "*) continue ;; esac
		mode_accepted "$mode" && MODES="${MODES:+$MODES }$mode"
	done
	[ -n "$MODES" ] || MODES=live
	say "modes offered by hauld: $MODES"
fi

declare -A WANT=()
want_of() {
	[ -n "${WANT[$1]:-}" ] || WANT[$1]=$("$BUILD/workload" --print-checksum --mib "$1")
	REPLY=${WANT[$1]}
}

# Warm-up (recorded as section "warmup", left out of the figures): the first CRIU
# run fills /run/criu.kdat, the first job creates the daemons' tables.
want_of 16
want=$REPLY
start_workload warmup 16 0
for mode in $MODES; do
	ensure_workload warmup 16 0
	hauld_move warmup 16 16 1 "$mode" A B "$want"
done
ensure_workload warmup 16 0
criu_move warmup 16 16 1 "$want"
stop_workload

for spec in $SIZES $DIRTY; do
	mib=${spec%@*}
	rate=0
	[[ "$spec" == *@* ]] && rate=${spec#*@}
	name=w${mib}d${rate}
	want_of "$mib"
	want=$REPLY
	WPID=""
	ensure_workload "$name" "$mib" "$rate"
	say "workload $spec: pid $WPID, checksum $want"
	# One unmeasured move first: filling the workload took fresh memory, which on a
	# VM whose balloon reports free pages leaves less recently used memory for the
	# next migration; without this, whichever tool went first would pay for it.
	criu_move warmup "$spec" "$mib" 0 "$want"
	ensure_workload "$name" "$mib" "$rate"
	movers=()
	for mode in $MODES; do movers+=("hauld:$mode"); done
	movers+=("criu:")
	[ "$SAFE" = 1 ] && movers+=("criu:safe")
	for ((run = 1; run <= RUNS; run++)); do
		williams_order $((run - 1)) ${#movers[@]}
		order=()
		for i in "${ORDER[@]}"; do order+=("${movers[$i]}"); done
		for mover in "${order[@]}"; do
			ensure_workload "$name" "$mib" "$rate"
			case "$mover" in
			hauld:*) hauld_move main "$spec" "$mib" "$run" "${mover#hauld:}" A B "$want" ;;
			criu:*) criu_move main "$spec" "$mib" "$run" "$want" "${mover#criu:}" ;;
			esac
		done
	done
	stop_workload
done

if [ "$WRK" = 1 ]; then
	secs=${WRK_DURATION%s}
	[[ "$secs" =~ ^[0-9]+$ ]] || secs=5
	want_of "$API_MIB"
	API_WANT=$REPLY
	WPID=""
	ensure_workload api "$API_MIB" 0
	say "API: workload pid $WPID; migrations without load for ${secs}s"
	A_JOB=""
	pingpong api-noload "" "$secs"
	# A job of daemon A, for GET /migrations/ID.
	GET_ID=$A_JOB
	[ -n "$GET_ID" ] || die "no job on daemon A to GET"
	POST_BODY='{"type":"pid","pid":1,"to":"x:1"}'
	# The refused POST must really be refused.
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary "$POST_BODY" "$A_API/migrations")
	[ "$code" = 422 ] || say "warning: the POST meant to be refused answered $code"
	say "API: wrk GET /migrations/$GET_ID, nothing else running"
	wrk_start get-idle A "$A_API/migrations/$GET_ID"
	wrk_finish get-idle
	say "API: wrk rejected POST /migrations, nothing else running"
	wrk_start post-idle A "$A_API/migrations" "$POST_BODY"
	wrk_finish post-idle
	say "API: wrk GET while the $API_MIB MiB workload moves A<->B"
	wrk_start get-load A "$A_API/migrations/$GET_ID"
	pingpong api-get-load get-load "$secs"
	wrk_finish get-load
	say "API: wrk rejected POST while the $API_MIB MiB workload moves A<->B"
	wrk_start post-load A "$A_API/migrations" "$POST_BODY"
	pingpong api-post-load post-load "$secs"
	wrk_finish post-load
	# Control: the same POST load on a third daemon that takes no part in the
	# migrations. If migrations slow down as much, the cause is the shared CPUs,
	# not something in the daemon that serves the load.
	start_daemon C
	say "API: control, wrk rejected POST against daemon C (pid $C_PID) while A<->B migrate"
	wrk_start post-control C "$C_API/migrations" "$POST_BODY"
	pingpong api-control-load post-control "$secs"
	wrk_finish post-control
	stop_workload
fi

read -r l1 l2 l3 _ </proc/loadavg
# Why a restore beside its frozen source (hauld) can be slower on one machine than
# one after the source exited (CRIU CLI): see bench.py probe.
probe_mib=1024
for spec in $SIZES $DIRTY; do [ "${spec%@*}" -gt "$probe_mib" ] && probe_mib=${spec%@*}; done
say "memory probe: filling $probe_mib MiB after and beside a process holding as much"
probe=$("$PY" "$BENCHPY" probe "$probe_mib" "$T" 2>/dev/null)
[[ "$probe" == \{*\} ]] || probe=null
# Bit 5 of a virtio balloon's features: free page reporting to the hypervisor.
fpr=false
for f in /sys/bus/virtio/drivers/virtio_balloon/virtio*/features; do
	[ -r "$f" ] && [ "$(cut -c6 "$f")" = 1 ] && fpr=true
done
{
	printf '{"date":"%s","commit":"%s","nproc":"%s","memory":"%s",' \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$nproc_v" \
		"$(awk -v k="$mem_kb" 'BEGIN { printf "%.1f GiB", k / 1048576 }')"
	printf '"kernel":"%s","criu":"%s","hauld":"%s","load_before":"%s","load_after":"%s",' \
		"$(uname -r)" "$("$CRIU" --version | sed -n 's/^Version: //p' | head -n 1)" \
		"$("$BUILD/hauld" --version 2>&1 | head -n 1)" "$LOAD_BEFORE" "$l1 $l2 $l3"
	printf '"runs":"%s","modes":"%s","log_level":"%s","probe":%s,"free_page_reporting":%s}\n' \
		"$RUNS" "$MODES" "$LOG_LEVEL" "$probe" "$fpr"
} >"$T/machine.json"

say "$FAILS failed migration(s)"
args=()
[ "$WRITE" = 1 ] && args=(--out "$ROOT/docs/BENCHMARKS.md" --readme "$ROOT/README.md")
echo
"$PY" "$BENCHPY" report "$T" "${args[@]}" || die "the report failed"
[ "$WRITE" = 1 ] && say "wrote docs/BENCHMARKS.md and the README's bench table"
[ "$FAILS" = 0 ]
