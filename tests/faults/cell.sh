#!/usr/bin/env bash
# cell.sh PHASE FAULT: one cell of the fault matrix (tests/faults/matrix.sh).
#
# Two hosts (network namespaces joined by a veth pair), daemon A the source and B
# the destination with its data directory on a small tmpfs of its own. A workload
# of MIB MiB migrates from A to B; when the migration is in PHASE, FAULT strikes:
#   kill_src   daemon A is SIGKILLed (started again 2 s later)
#   kill_dst   daemon B is SIGKILLed (started again 2 s later)
#   link       the veth goes down (packets vanish, no RST), until A's job has ended
#              on its own (or 60 s), then comes back
#   disk_full  B's data directory fills up (the database lives there too) until
#              A's job has ended, then it is emptied again
#   criu       the CRIU process at work in that phase is SIGKILLed: the source's
#              when one runs, else (and inside the destination's restore) the
#              destination's; no CRIU runs: n/a
#   criu_hang  the same CRIU processes are SIGSTOPped and left so (the migration
#              asks for max_frozen_ms 12000): the daemons must get out on their
#              own; whatever is still stopped is continued after the checks
# Then both daemons are restarted (SIGTERM, start) and the cell checks:
#   - each side's record of the job is final (succeeded, failed or cancelled) and
#     says what happened (a message; a failure's process_at);
#   - exactly one copy of the workload runs (not stopped), where A's record says it
#     does, and it counts on with its memory intact (the workload checks its own
#     pages against a checksum); in the lazy phase a fault that takes the pages
#     away may lose the process, as documented, and the record must then say so.
# Prints "CELL PHASE FAULT RESULT OUTCOME" as its last line (RESULT pass, FAIL or
# n/a) and exits 0 for pass and n/a, 1 otherwise.
#
# PHASE is one of: preflight dump transfer restore criu_restore verdict commit
# cleanup lazy fill
# (see matrix.sh for what each holds).
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the _helpers are called through wait_for
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
need_root_and_build

PHASE=${1:?phase}
FAULT=${2:?fault}
MIB=${FAULT_MIB:-48}
RESULT=""
OUTCOME=""

cell_end() {
	[ -n "$RESULT" ] || RESULT=pass
	[ "$FAILED" = 0 ] || RESULT=FAIL
	echo "CELL $PHASE $FAULT $RESULT ${OUTCOME:--}"
	finish
}

# Where each phase is held, and how long (the pause points of the daemons).
A_FAULT=""
B_FAULT=""
MODE=""
SHAPE=""
case "$PHASE" in
preflight) A_FAULT=pause:preflight ;;
dump) SHAPE=60mbit ;;             # the dump streams its pages for about 6 s
transfer) A_FAULT=pause:transferring ;;
restore) B_FAULT=pause:dest_restore ;;
criu_restore) B_FAULT=pause:dest_rooted ;;
verdict) A_FAULT=pause:restored ;;
commit) A_FAULT=pause:released ;;
cleanup) A_FAULT=pause:committed ;;
lazy) MODE=lazy; SHAPE=60mbit ;;  # the pages follow for about 6 s
fill) B_FAULT=pause:filling ;;     # restore_pages lazy: the copy runs, its memory fills in
*) die "phase" "unknown phase $PHASE" ;;
esac
case "$FAULT" in
kill_src | kill_dst | link | disk_full | criu | criu_hang) ;;
*) die "fault" "unknown fault $FAULT" ;;
esac
export HAULD_FAULT_MS=6000

setup_netns || die "network namespaces" "setup_netns failed"
if [ -n "$SHAPE" ]; then
	for ns in "$NS_A" "$NS_B"; do
		tc -n "$ns" qdisc add dev veth0 root tbf rate "$SHAPE" burst 64kb latency 100ms ||
			die "shape the link" "tc failed"
	done
fi
make_secret "$T/secret"
mkdir -p "$T/bdata"
mount -t tmpfs -o size=$((MIB * 3 + 64))m,mode=0700 tmpfs "$T/bdata" || die "B's tmpfs" "mount failed"
_umount_bdata() { umount -l "$T/bdata" 2>/dev/null; }
CLEANUP_HOOKS+=(_umount_bdata)

# Fixed ports, as on real hosts: a daemon that restarts is found where it was (a
# destination asks its source for the verdict on a stopped copy).
COMMON=(--secret-file "$T/secret" --peer-timeout 8)
HAULD_FAULT=$A_FAULT start_hauld A --netns "$NS_A" --listen "$ADDR_A:8420" \
	--peer-listen "$ADDR_A:8421" "${COMMON[@]}" || die "daemon A starts" "see $T/A.log"
HAULD_FAULT=$B_FAULT start_hauld B --netns "$NS_B" --listen "$ADDR_B:8420" \
	--peer-listen "$ADDR_B:8421" --data-dir "$T/bdata" "${COMMON[@]}" ||
	die "daemon B starts" "see $T/B.log"
W=$(start_workload w "$MIB" --netns "$NS_A") || die "workload starts" "no workload"
STATUS=$T/w.status

_log_has() { grep -qE -- "$2" "$1"; }
_phase_is() {
	api GET "$A_API/migrations/$ID" >/dev/null
	[ "$(jget "$HTTP_BODY" .phase)" = "$1" ]
}
# start_again NAME: start a daemon that is gone the way it was started (no fault).
start_again() {
	local args_var="${1}_ARGS"
	local -a args=()
	eval "args=(${!args_var})"
	start_hauld "$1" "${args[@]}"
}
# criu_pids PID: the CRIU processes below daemon PID (each daemon runs this one
# job), however they were started (libcriu's swrk and what it forks, or the CLI).
criu_pids() {
	local p q
	for p in $(pgrep -x criu 2>/dev/null); do
		q=$p
		while [ -n "$q" ] && [ "$q" -gt 1 ]; do
			q=$(awk '{print $4}' "/proc/$q/stat" 2>/dev/null)
			if [ "$q" = "$1" ]; then
				echo "$p"
				break
			fi
		done
	done
}
_a_done() {
	api GET "$A_API/migrations/$ID" >/dev/null
	[[ "$(jget "$HTTP_BODY" .state)" =~ ^(succeeded|failed|cancelled)$ ]]
}

OPTS='{}'
[ "$PHASE" = fill ] && OPTS='{"restore_pages": "lazy"}'
[ "$FAULT" = criu_hang ] && OPTS=$(jq -c '. + {max_frozen_ms: 12000}' <<<"$OPTS")
[ "$OPTS" != '{}' ] && export MIGRATE_OPTIONS=$OPTS
ID=$(migrate "$A_API" "$W" "$B_PEER" "$MODE") || die "migration accepted" "POST refused"
note "job $ID, workload $W ($MIB MiB), phase $PHASE, fault $FAULT"

# Wait until the migration is in PHASE.
case "$PHASE" in
dump) wait_for 30 _phase_is dumping && sleep 1.5 ;;
lazy) wait_for 30 _phase_is lazy && sleep 1 ;;
restore | criu_restore | fill) wait_for 30 _log_has "$T/B.log" "pausing [0-9]+ ms at $B_FAULT\$" ;;
*) wait_for 30 _log_has "$T/A.log" "pausing [0-9]+ ms at $A_FAULT\$" ;;
esac || die "the migration reaches $PHASE" "$(job_summary "$HTTP_BODY")"
api GET "$A_API/migrations/$ID" >/dev/null
note "in $PHASE: A says $(job_summary "$HTTP_BODY")"

# Strike.
case "$FAULT" in
kill_src)
	kill_hauld A
	sleep 2
	start_again A || die "A starts again" "see $T/A.log"
	;;
kill_dst)
	kill_hauld B
	sleep 2
	start_again B || die "B starts again" "see $T/B.log"
	;;
link)
	ip -n "$NS_B" link set veth0 down || die "link down" "ip failed"
	wait_for 60 _a_done || note "A's job has not ended with the link down"
	ip -n "$NS_B" link set veth0 up
	;;
disk_full)
	dd if=/dev/zero of="$T/bdata/fill" bs=1M status=none 2>/dev/null
	note "B's data dir: $(df -h --output=avail "$T/bdata" | tail -n 1 | tr -d ' ') left"
	wait_for 60 _a_done || note "A's job has not ended with B's disk full"
	rm -f "$T/bdata/fill"
	;;
criu | criu_hang)
	victims=$(criu_pids "$A_PID")
	side=source
	# Inside the destination's restore, its CRIU is the one at work.
	if [ "$PHASE" = criu_restore ]; then
		victims=$(criu_pids "$B_PID")
		side=destination
	fi
	if [ -z "$victims" ]; then
		victims=$(criu_pids "$B_PID")
		side=destination
	fi
	if [ -z "$victims" ]; then
		RESULT=n/a
		OUTCOME="no CRIU runs in this phase"
		note "criu processes: $(for p in $(pgrep -x criu); do echo -n "$p: $(pid_cmdline "$p" | cut -c1-150); "; done)"
		wait_for 60 _a_done
	else
		sig=KILL
		[ "$FAULT" = criu_hang ] && sig=STOP
		note "SIG$sig to the $side's CRIU: $(for p in $victims; do
			echo -n "$p ($(pid_cmdline "$p" | cut -c1-40)) "; done)"
		# shellcheck disable=SC2086 # a list of pids
		kill -$sig $victims
		STOPPED=$victims
	fi
	;;
esac

# Let the surviving daemons finish what they can, then restart both.
# _b_done: B's record of the job is final, or B has none (HTTP 404).
_b_done() {
	api GET "$B_API/migrations/$ID" >/dev/null
	[ "$HTTP_STATUS" = 404 ] || [[ "$(jget "$HTTP_BODY" .state)" =~ ^(succeeded|failed|cancelled)$ ]]
}
wait_for 60 _a_done || note "A's job not final before the restart"
# B's own way out of a hung CRIU takes its grace of 15 s after A gave up; a B that
# could not write (its disk full) is set right by the restart alone.
b_wait=10
[ "$FAULT" = criu_hang ] && b_wait=45
wait_for "$b_wait" _b_done || note "B's job not final before the restart: $(jget "$HTTP_BODY" .phase)"
if [ -n "${STOPPED:-}" ]; then
	left=""
	for p in $STOPPED; do pid_alive "$p" && left="$left $p"; done
	[ -z "$left" ] || note "CRIU still there after the job:$left"
fi
stop_hauld A || note "A needed SIGKILL"
stop_hauld B || note "B needed SIGKILL"
start_again A || die "A restarts" "see $T/A.log"
start_again B || die "B restarts" "see $T/B.log"

# Both records final.
JA=$(wait_job "$A_API" "$ID" 60) || fail "A's record is final after the restarts" "$(job_summary "$JA")"
note "A: $(job_summary "$JA")"
wait_for 60 _b_done || fail "B's record is final after the restarts" "$(job_summary "$HTTP_BODY")"
JB=$HTTP_BODY
B_STATUS=$HTTP_STATUS
if [ "$B_STATUS" = 200 ]; then
	note "B: $(job_summary "$JB")"
else
	note "B: no record of the job (HTTP $B_STATUS)"
fi
SA=$(jget "$JA" .state)
AT=$(jget "$JA" .error.process_at)
CODE=$(jget "$JA" .error.code)
expect_match "A's record is final" "$SA" '^(succeeded|failed|cancelled)$'
if [ "$SA" != succeeded ]; then
	expect_match "A's record says what happened" "$(jget "$JA" .error.message)" '.{20}'
	expect_match "A's record says where the process is" "$AT" '^(source|destination|unknown)$'
fi
if [ "$B_STATUS" = 200 ]; then
	expect_match "B's record is final" "$(jget "$JB" .state)" '^(succeeded|failed|cancelled)$'
	# The two records agree on where the process runs.
	if [ "$SA" = succeeded ]; then
		expect_eq "B's record agrees: it runs at B" "$(jget "$JB" .state)" succeeded
	elif [ "$AT" = source ]; then
		expect_match "B's record agrees: not at B" "$(jget "$JB" .state)" '^(failed|cancelled)$'
	fi
elif [ "$SA" = succeeded ]; then
	fail "B has a record of the job it runs" "HTTP $B_STATUS"
fi

# The copies of the workload, and which are running.
_running_copies() {
	local p st
	for p in $(workload_pids "$STATUS"); do
		st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != T ] && [ "$st" != t ] && [ "$st" != Z ] && echo "$p"
	done
}
sleep 1
ALL=$(workload_pids "$STATUS" | tr '\n' ' ')
RUN=$(_running_copies | tr '\n' ' ')
note "copies: [${ALL}] running: [${RUN}]"
# A hung CRIU that nobody ended is let go now, once the copies have been counted.
# shellcheck disable=SC2086 # a list of pids
[ -n "${STOPPED:-}" ] && kill -CONT $STOPPED 2>/dev/null
N_ALL=$(wc -w <<<"$ALL")
N_RUN=$(wc -w <<<"$RUN")
lost_ok=0
if [ "$PHASE" = lazy ] && [ "$N_ALL" = 0 ]; then
	# The documented outcome of a lazy phase whose pages went away: the process is
	# lost, neither record says it runs anywhere, and they say it is lost.
	expect_eq "A's record: failed, lazy_failed" "$SA $CODE" "failed lazy_failed"
	expect_eq "A's record does not place the process" "$AT" unknown
	if [ "$B_STATUS" = 200 ]; then
		expect_eq "B's record: failed, lazy_failed" \
			"$(jget "$JB" .state) $(jget "$JB" .error.code)" "failed lazy_failed"
		expect_eq "B's record does not place the process" "$(jget "$JB" .error.process_at)" unknown
	fi
	expect_match "the records say the process is lost" \
		"$(jget "$JA" .error.message) $(jget "$JB" .error.message 2>/dev/null)" 'process is lost'
	lost_ok=1
	OUTCOME="lost (lazy, documented)"
fi
if [ "$lost_ok" = 0 ]; then
	expect_eq "exactly one copy of the workload" "$N_ALL" 1
	expect_eq "and it runs" "$N_RUN" 1
	if [ "$N_RUN" = 1 ]; then
		P=${RUN%% *}
		where=A
		[ "$(pid_netns "$P")" = "$(pid_netns "$B_PID")" ] && where=B
		if [ "$SA" = succeeded ]; then
			expect_eq "it runs where A's record says (B)" "$where" B
			# A copy whose lazy fill failed was restored again at B, under a
			# pid of its own: B's record has it.
			if [ "$PHASE" = fill ] && [ "$P" != "$(jget "$JA" .result.pid)" ]; then
				expect_eq "it is B's record's result.pid (restored again)" "$P" \
					"$(jget "$JB" .result.pid)"
			else
				expect_eq "it is the record's result.pid" "$P" "$(jget "$JA" .result.pid)"
			fi
		elif [ "$AT" = source ]; then
			expect_eq "it runs where A's record says (A)" "$where" A
		elif [ "$AT" = destination ]; then
			expect_eq "it runs where A's record says (B)" "$where" B
		fi
		check_workload_intact "$STATUS" "$MIB" "$(status_field "$STATUS" counter)" \
			"it counts on, memory intact"
		OUTCOME="${OUTCOME:+$OUTCOME; }$SA${CODE:+ $CODE}, runs at $where"
	fi
fi
[ "$FAILED" = 0 ] || OUTCOME="${OUTCOME:-$SA${CODE:+ $CODE}} (see $TEST_NAME)"
cell_end
