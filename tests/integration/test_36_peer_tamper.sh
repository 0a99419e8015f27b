#!/usr/bin/env bash
# test_36_peer_tamper.sh: whoever sits on the link between two daemons, without the
# secret, cannot change what a restore runs. A proxy in the middle of the peer
# connections (tests/tools/mitm_proxy.py) passes everything, or in one frame flips
# a bit, sends it twice, or leaves it out: in CRIU's page stream (the process's
# memory) and in a control message. With the proxy alone the migration succeeds;
# with any change it fails, says so, and the workload runs on at the source with
# its memory intact, and nothing runs at the destination. (Before, the page stream
# went raw: a flipped bit was restored into the process's memory.)
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

PY=/usr/bin/python3
MIB=32
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"

# through MODE TYPE NTH: a proxy to B's peer port; sets VIA (its address) and PROXY.
through() {
	rm -f "$T/proxy.port"
	"$PY" "$ROOT/tests/tools/mitm_proxy.py" --to "$B_PEER" --port-file "$T/proxy.port" \
		--log "$T/proxy.log" --mode "$1" --type "$2" --nth "$3" &
	PROXY=$!
	remember proc "$PROXY"
	wait_for 10 test -s "$T/proxy.port" || die "proxy starts" "no port"
	VIA=127.0.0.1:$(cat "$T/proxy.port")
}

through none 6 1
migrate_and_check "the proxy alone: A->B" "$A_API" "$W" "$VIA" "$T/w.status" $MIB ||
	die "proxy alone" "the proxy itself breaks migrations"
W=$MIGRATED_PID
kill "$PROXY"
migrate_and_check "back B->A" "$B_API" "$W" "$A_PEER" "$T/w.status" $MIB || die "back" "failed"
W=$MIGRATED_PID

# Frames of CRIU's stream are counted raw (6) or compressed (8) alike: compress
# "auto" sends either, as the link and the CPU allow. A frame holds at most 1 MiB,
# so the 32 MiB stream is 32 frames or more, and the 16th is well inside it.
for c in "flip 6,8 16 a bit of the page stream changed" "replay 6,8 16 a frame of the page stream played twice" \
	"drop 6,8 16 a frame of the page stream left out" "flip 1 3 a bit of a control message changed"; do
	set -- $c
	mode=$1 type=$2 nth=$3
	shift 3
	label="($*)"
	: >"$T/proxy.log"
	through "$mode" "$type" "$nth"
	before=$(status_field "$T/w.status" counter)
	id=$(migrate "$A_API" "$W" "$VIA") || die "$label accepted" "POST refused"
	json=$(wait_job "$A_API" "$id" 120) || die "$label the job ends" "$json"
	kill "$PROXY"
	note "$label proxy: $(tr '\n' ' ' <"$T/proxy.log")"
	note "$label A: $(job_summary "$json")"
	expect_match "$label the proxy did it" "$(cat "$T/proxy.log")" "$mode"
	expect_eq "$label the migration failed" "$(jget "$json" .state)" failed
	expect_eq "$label ... saying the process is at the source" \
		"$(jget "$json" .error.process_at)" source
	expect_true "$label the workload runs at A as pid $W" pid_alive "$W"
	wait_counter_past "$T/w.status" $((before + 3)) 10
	check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
		"$label its memory intact"
	api GET "$B_API/migrations/$id" >/dev/null
	expect_match "$label B's job failed (or never began)" \
		"$HTTP_STATUS/$(jget "$HTTP_BODY" .state)" '^(200/failed|404/)$'
	expect_eq "$label nothing of it runs at B" "$(jget "$HTTP_BODY" .result.pid)" ""
	expect_match "$label a daemon says why" "$(cat "$T/A.log" "$T/B.log")" \
		'did not open|Bad message|failed: '
done
finish
