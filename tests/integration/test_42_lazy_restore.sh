#!/usr/bin/env bash
# test_42_lazy_restore.sh: options.restore_pages. With "lazy" (and with "auto" from
# 64 MiB of memory on) the destination restores the process without its memory,
# lets it run at the commit, and fills the memory in from its own copy of the images
# (a local `criu lazy-pages`, no network), while the source's copy is gone as in
# any live migration. Checked on the process itself:
#   (a) 256 MiB, auto: both jobs say "lazy", the destination's job ends once every
#       page is in (lazy_pages_left 0) and removes its images, the workload counts
#       on with its memory intact;
#   (b) back with "eager": every page before it runs, and the events say why;
#   (c) 16 MiB, auto: below the threshold, eager, and the events say so;
#   (d) the lazy-pages daemon killed at the start of the fill (fault fail:fill): the
#       destination kills the copy, which may have read zeroes, restores it again
#       from the images, and exactly one copy runs, memory intact; it tells the
#       source, whose job then names the new pid;
#   (e) a move of a copy still filling waits until its fill has ended; the
#       destination's hauld SIGKILLed during the fill (pause:filling) and
#       started again: it restores the copy again from the images, one copy runs,
#       memory intact;
#   (f) the API refuses (422) an unknown value, and "lazy" where it cannot apply, naming
#       options.restore_pages.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

BIG=256
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

# events_match LABEL API ID REGEX
events_match() {
	api GET "$2/migrations/$3/events" >/dev/null
	expect_match "$1" "$(jget "$HTTP_BODY" '[.events[].message] | join("\n")')" "$4"
}

# (a) auto, 256 MiB
W=$(start_workload w $BIG) || die "workload starts" "no workload"
migrate_and_check "(a) auto A->B" "$A_API" "$W" "$B_PEER" "$T/w.status" $BIG ||
	die "(a)" "the rest needs the migrated process"
ID=$JOB_ID
P1=$MIGRATED_PID
expect_eq "(a) A's job: restore_pages lazy" "$(jget "$JOB_JSON" .stats.restore_pages)" lazy
events_match "(a) A's events say how the destination restored" "$A_API" "$ID" \
	'restored with restore_pages lazy: it runs as soon as its other state is back'
json=$(wait_job "$B_API" "$ID" 60) || fail "(a) B's job ends" "$json"
expect_eq "(a) B's job succeeded" "$(jget "$json" .state)" succeeded
expect_eq "(a) B's job: restore_pages lazy" "$(jget "$json" .stats.restore_pages)" lazy
expect_num_ge "(a) B's job counted the pages to fill" "$(jget "$json" .stats.lazy_pages)" \
	$((BIG * 256))
expect_eq "(a) B's job: every page filled in" "$(jget "$json" .stats.lazy_pages_left)" 0
events_match "(a) B's job says the memory filled in" "$B_API" "$ID" \
	'succeeded: runs here as pid [0-9]+; its memory filled in from the images here'

check_no_images "(a) B removed the images after the fill" "$B_DATA/jobs/$ID"
check_workload_intact "$T/w.status" $BIG "$(status_field "$T/w.status" counter)" \
	"(a) memory intact once filled"

# (b) back, eager
MIGRATE_OPTIONS='{"restore_pages":"eager"}' migrate_and_check "(b) eager B->A" "$B_API" \
	"$P1" "$A_PEER" "$T/w.status" $BIG || die "(b)" "the rest needs the process"
P2=$MIGRATED_PID
expect_eq "(b) restore_pages eager" "$(jget "$JOB_JSON" .stats.restore_pages)" eager
events_match "(b) the events say why" "$A_API" "$JOB_ID" \
	'restore_pages eager: options.restore_pages is "eager"'

# (c) 16 MiB, auto
S=$(start_workload s 16) || die "small workload starts" "no workload"
migrate_and_check "(c) 16 MiB auto A->B" "$A_API" "$S" "$B_PEER" "$T/s.status" 16 ||
	fail "(c)" "migration"
expect_eq "(c) restore_pages eager" "$(jget "$JOB_JSON" .stats.restore_pages)" eager
events_match "(c) the events say why" "$B_API" "$JOB_ID" \
	'restore_pages eager: every page before it runs: [0-9]+ MiB can be lazy, below the 64 MiB'
kill -KILL "$MIGRATED_PID" 2>/dev/null

# one_copy LABEL ID STATUS: B's finished job names the one copy that runs, which counts
# on with its memory intact.
one_copy() {
	local label=$1 id=$2 status=$3 json pid
	json=$(wait_job "$B_API" "$id" 90) || { fail "$label: B's job ends" "$json"; return 1; }
	expect_eq "$label: B's job succeeded" "$(jget "$json" .state)" succeeded
	events_match "$label: B's job says it restored again" "$B_API" "$id" \
		'succeeded: runs here as pid [0-9]+, restored a second time from the images here'
	expect_eq "$label: B's job: restore_pages eager now" \
		"$(jget "$json" .stats.restore_pages)" eager
	pid=$(jget "$json" .result.pid)
	track_pid "$pid"
	expect_true "$label: exactly one copy runs, B's pid $pid" \
		wait_for 10 _only_workload_is "$status" "$pid"
	check_workload_intact "$status" $BIG "$(status_field "$status" counter)" \
		"$label: memory intact"
	check_no_images "$label: B removed the images" "$B_DATA/jobs/$id"
	LAST_PID=$pid
}

# (d) the fill's daemon killed
stop_hauld B || die "B stops" "see $T/B.log"
HAULD_FAULT=fail:fill start_hauld B --secret-file "$T/secret" --data-dir "$B_DATA" ||
	die "B starts with fail:fill" "see $T/B.log"
ID=$(MIGRATE_OPTIONS='{"restore_pages":"lazy"}' migrate "$A_API" "$P2" "$B_PEER") ||
	die "(d) POST" "refused"
json=$(wait_job "$A_API" "$ID" 90) || fail "(d) A's job ends" "$json"
expect_eq "(d) A's job succeeded" "$(jget "$json" .state)" succeeded
expect_true "(d) the source's copy is gone" wait_for 10 pid_gone "$P2"
one_copy "(d) daemon killed" "$ID" "$T/w.status"
# B told A where the process runs now.
_a_names() { api GET "$A_API/migrations/$ID" >/dev/null; [ "$(jget "$HTTP_BODY" .result.pid)" = "$LAST_PID" ]; }
expect_true "(d) A's job names the pid B restored again" wait_for 10 _a_names
events_match "(d) A's events say so" "$A_API" "$ID" \
	"the destination restored the process again from its images .* pid $LAST_PID now"
events_match "(d) B's events say what happened" "$B_API" "$ID" \
	'criu lazy-pages failed .* is killed and restored again from the images here'

# (e) B's hauld killed during the fill
stop_hauld B || die "B stops" "see $T/B.log"
HAULD_FAULT=pause:filling HAULD_FAULT_MS=8000 start_hauld B --secret-file "$T/secret" \
	--data-dir "$B_DATA" || die "B starts with pause:filling" "see $T/B.log"
ID=$(MIGRATE_OPTIONS='{"restore_pages":"lazy"}' migrate "$B_API" "$LAST_PID" "$A_PEER") ||
	die "(e) POST to B" "refused"
json=$(wait_job "$B_API" "$ID" 90) || fail "(e) B's source job ends" "$json"
expect_eq "(e) B->A succeeded" "$(jget "$json" .state)" succeeded
P3=$(jget "$json" .result.pid)
check_workload_intact "$T/w.status" $BIG "$(status_field "$T/w.status" counter)" \
	"(e) at A, memory intact"
# A copy still filling may not move on before its fill has ended: the job waits.
_b_pausing() { [ "$(grep -cE "pausing [0-9]+ ms at pause:filling\$" "$T/B.log")" -ge "$1" ]; }
ID=$(MIGRATE_OPTIONS='{"restore_pages":"lazy"}' migrate "$A_API" "$P3" "$B_PEER") ||
	die "(e) POST to A" "refused"
expect_true "(e) B fills the copy" wait_for 60 _b_pausing 1
json=$(wait_job "$A_API" "$ID" 30) || fail "(e) A's job ends" "$json"
P4=$(jget "$json" .result.pid)
ID2=$(migrate "$B_API" "$P4" "$A_PEER") || die "(e) POST to B while it fills" "refused"
json=$(wait_job "$B_API" "$ID2" 90) || fail "(e) B's job ends" "$json"
expect_eq "(e) the move of a copy still filling succeeded" "$(jget "$json" .state)" succeeded
events_match "(e) it waited for the fill" "$B_API" "$ID2" \
	"waits until the memory of pid $P4, restored here by job $ID, has filled in"
api GET "$B_API/migrations/$ID" >/dev/null
expect_eq "(e) the fill's job had ended" "$(jget "$HTTP_BODY" .state)" succeeded
P5=$(jget "$json" .result.pid)
check_workload_intact "$T/w.status" $BIG "$(status_field "$T/w.status" counter)" \
	"(e) back at A, memory intact"
# Now B's hauld killed in the fill.
ID=$(MIGRATE_OPTIONS='{"restore_pages":"lazy"}' migrate "$A_API" "$P5" "$B_PEER") ||
	die "(e) POST to A" "refused"
expect_true "(e) B fills the copy again" wait_for 60 _b_pausing 2
kill_hauld B
start_hauld B --secret-file "$T/secret" --data-dir "$B_DATA" ||
	die "B starts again" "see $T/B.log"
one_copy "(e) hauld killed in the fill" "$ID" "$T/w.status"
events_match "(e) B's events say what happened" "$B_API" "$ID" \
	'hauld restarted here while the copy.s memory filled in'

# (f) the API
F=$(start_workload f 8) || die "workload f starts" "no workload"
for body in '{"restore_pages":"sometimes"}' '{"restore_pages":"lazy","new_pidns":true}'; do
	api POST "$A_API/migrations" "$(jq -cn --argjson o "$body" --arg to "$B_PEER" \
		--argjson pid "$F" '{type: "pid", pid: $pid, to: $to, options: $o}')" >/dev/null
	expect_eq "(f) $body: 422" "$HTTP_STATUS" 422
	expect_eq "(f) $body: names the field" "$(jget "$HTTP_BODY" .error.field)" \
		options.restore_pages
done
api POST "$A_API/migrations" "$(jq -cn --arg to "$B_PEER" --argjson pid "$F" \
	'{type: "pid", pid: $pid, to: $to, mode: "lazy", options: {restore_pages: "lazy"}}')" >/dev/null
expect_eq "(f) lazy with mode lazy: 422" "$HTTP_STATUS" 422
expect_eq "(f) lazy with mode lazy: names the field" "$(jget "$HTTP_BODY" .error.field)" \
	options.restore_pages
finish
