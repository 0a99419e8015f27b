#!/usr/bin/env bash
# test_38_shutdown.sh: a daemon told to stop while one of its peer threads is deep
# in a step (a destination's restore, held here by a pause) stops cleanly: it exits
# 0 within the stop's 15 s without freeing what that thread still uses (before,
# the store was freed under it: a use after free, which a sanitizer build reports
# in the log and finish() catches), and after it starts again both jobs' records
# are final and exactly one copy of the workload runs, with its memory intact.
# Then a source told to stop during the lazy phase of a post-copy (its CRIU serves
# the pages the running copy at B still lacks) stays until every page is across,
# says so, exits 0, and the copy at B has all of its memory.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=16
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
# The pause (8 s) outlasts the stop's grace for busy peer threads (3 s).
HAULD_FAULT=pause:dest_restore HAULD_FAULT_MS=8000 start_hauld B --secret-file "$T/secret" ||
	die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"

id=$(migrate "$A_API" "$W" "$B_PEER") || die "migration accepted" "POST refused"
_restoring_at_b() {
	api GET "$B_API/migrations/$id" >/dev/null
	[ "$(jget "$HTTP_BODY" .phase)" = restoring ]
}
wait_for 30 _restoring_at_b || die "B restores" "$HTTP_BODY"
stop_hauld B
expect_eq "B stopped with status 0 while its restore thread was busy" "${B_EXIT:-?}" 0
expect_match "B said why it left that thread alone" "$(cat "$T/B.log")" 'still busy at shutdown'
json=$(wait_job "$A_API" "$id" 120) || die "A's job ends" "$json"
note "A: $(job_summary "$json")"
HAULD_FAULT= HAULD_FAULT_MS= restart_hauld B || die "B starts again" "see $T/B.log"
_b_final() {
	api GET "$B_API/migrations/$id" >/dev/null
	case "$(jget "$HTTP_BODY" .state)" in succeeded | failed | cancelled) return 0 ;; esac
	return 1
}
wait_for 60 _b_final || die "B's job is final after its restart" "$HTTP_BODY"
note "B: $(job_summary "$HTTP_BODY")"
where=$(jget "$json" .error.process_at)
[ "$(jget "$json" .state)" = succeeded ] && where=destination
copies=0
pid_alive "$W" && copies=$((copies + 1))
P=$(jget "$json" .result.pid)
[ -n "$P" ] && [ "$P" != "$W" ] && pid_alive "$P" && copies=$((copies + 1))
expect_eq "exactly one copy of the workload runs" "$copies" 1
if [ "$where" = source ]; then
	expect_true "it runs at A, as A's job says" pid_alive "$W"
	check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
		"the workload counts on, memory intact"
fi
[ "$where" = source ] || W=$P

# ---- a source stopped in the lazy phase ------------------------------------------
# A fresh 512 MiB workload at A (the small one goes: its pages would follow too
# quickly to stop A in the middle) moves to B in lazy mode; A is told to stop once
# its job's phase is lazy (512 MiB take a few seconds to follow here).
LMIB=512
kill "$W" 2>/dev/null
L=$(start_workload l $LMIB) || die "the lazy workload starts" "no workload"
lid=$(migrate "$A_API" "$L" "$B_PEER" lazy) || die "lazy migration accepted" "POST refused"
_lazy_at_a() {
	api GET "$A_API/migrations/$lid" >/dev/null
	case "$(jget "$HTTP_BODY" .state)/$(jget "$HTTP_BODY" .phase)" in
	running/lazy | succeeded/* | failed/* | cancelled/*) return 0 ;;
	esac
	return 1
}
wait_for 60 _lazy_at_a || die "A's job reaches its lazy phase" "$HTTP_BODY"
expect_eq "A's job is in its lazy phase when A is told to stop" \
	"$(jget "$HTTP_BODY" .state)/$(jget "$HTTP_BODY" .phase)" running/lazy ||
	die "lazy phase" "the job ended before A could be stopped in it"
stop_hauld A
expect_eq "A stopped with status 0 once the lazy phase ended" "${A_EXIT:-?}" 0
expect_match "A said what it waited for" "$(cat "$T/A.log")" "shutdown waits for job $lid"
restart_hauld A || die "A starts again" "see $T/A.log"
api GET "$A_API/migrations/$lid" >/dev/null
expect_eq "A's lazy job succeeded" "$(jget "$HTTP_BODY" .state)" succeeded
LP=$(jget "$HTTP_BODY" .result.pid)
track_pid "$LP"
expect_true "the source copy $L is gone" wait_for 10 pid_gone "$L"
expect_true "result.pid $LP is the workload" is_workload "$LP" "$T/l.status"
check_workload_intact "$T/l.status" $LMIB "$(status_field "$T/l.status" counter)" \
	"the copy at B counts on, every page of its memory intact"
finish
