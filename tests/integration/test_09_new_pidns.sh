#!/usr/bin/env bash
# test_09_new_pidns.sh: a tree that lives in the host's PID namespace cannot get its
# PIDs back on a host where they are taken (here: the same machine, where the source
# still holds them during the dump). Without options the preflight refuses and
# nothing moves; with options.new_pidns the destination restores it into a fresh
# PID namespace, as criu-ns does, where it keeps its old pid.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=32
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

# In the host's PID namespace: setsid alone, no unshare (and not a job of this shell).
( (cd / && exec setsid "$BUILD/workload" --mib $MIB --status "$T/h.status") \
	</dev/null >/dev/null 2>&1 &)
wait_for 5 test -s "$T/h.status" || die "workload starts" "no status file"
W=$(workload_pids "$T/h.status" | head -n 1)
track_pid "$W"
expect_eq "workload lives in the host's PID namespace" \
	"$(awk '/^NSpid:/ {print NF - 1}' "/proc/$W/status")" 1

ID=$(migrate "$A_API" "$W" "$B_PEER") || die "first migration accepted" "POST refused"
JSON=$(wait_job "$A_API" "$ID" 60) || die "first migration ends" "$JSON"
check_failed_at_source "pids taken" "$JSON" "$W" "$T/h.status" $MIB "new_pidns"
expect_eq "pids taken: refused in preflight" "$(jget "$JSON" .error.phase)" preflight

before=$(status_field "$T/h.status" counter)
req=$(jq -cn --argjson pid "$W" --arg to "$B_PEER" \
	'{type: "pid", pid: $pid, to: $to, options: {new_pidns: true}}')
api POST "$A_API/migrations" "$req" >/dev/null
expect_eq "new_pidns migration accepted" "$HTTP_STATUS" 202
ID=$(jget "$HTTP_BODY" .id)
JSON=$(wait_job "$A_API" "$ID" 60) || die "new_pidns migration ends" "$JSON"
note "new_pidns: $(job_summary "$JSON")"
expect_eq "new_pidns: job succeeded" "$(jget "$JSON" .state)" succeeded || die "new_pidns" "$JSON"
P=$(jget "$JSON" .result.pid)
track_pid "$P"
INIT=$(awk '/^PPid:/ {print $2}' "/proc/$P/status")
track_pid "$INIT"
expect_true "result.pid $P is the workload" is_workload "$P" "$T/h.status"
expect_true "source pid $W gone" wait_for 10 pid_gone "$W"
expect_eq "restored in a namespace of its own, with its old pid inside" \
	"$(awk '/^NSpid:/ {print $NF}' "/proc/$P/status")" "$W"
check_workload_intact "$T/h.status" $MIB "$before" "new_pidns: workload counts on, memory intact"
sleep 1
expect_eq "no zombie under daemon B" "$(zombies_of "$B_PID")" ""
finish
