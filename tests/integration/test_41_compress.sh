#!/usr/bin/env bash
# test_41_compress.sh: the page stream and the image files between two daemons go
# compressed (zstd) when the job asks, and the job says what it did.
#   - a workload whose memory is text-like (--fill text), with compress "on": it runs
#     on at the destination with its memory intact (the checksum of what it holds),
#     the job says "zstd", and the bytes on the wire are well under what CRIU produced,
#     at both ends (the destination counts what it received);
#   - the same back with compress "off": "none", and about the raw amount on the wire;
#   - memory written with zeros, "on": CRIU sends those pages (they are not the
#     kernel's zero page), and they cost next to nothing on the wire;
#   - random memory with the default ("auto"): at most a little more than raw;
#   - text in mode lazy with "on": the pages the destination asks for come
#     compressed, and the process runs on with its memory intact;
#   - a compressed frame of the page stream with a bit flipped on the way (a proxy
#     in the middle): the migration fails, the process runs on at the source;
#   - an unknown value is refused by the API naming the field, and a destination
#     refuses a prepare that names a codec it does not know.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=64
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

# stats_ok LABEL JSON MAX_PERMILLE MIN_PERMILLE: compress_ratio and bytes/bytes_raw
# (in thousandths) within [MIN, MAX].
stats_ok() {
	local label=$1 json=$2 max=$3 min=$4 wire raw r
	wire=$(jget "$json" .stats.bytes)
	raw=$(jget "$json" .stats.bytes_raw)
	if ! [[ "$wire" =~ ^[0-9]+$ && "$raw" =~ ^[0-9]+$ ]] || [ "$raw" -eq 0 ]; then
		fail "$label: bytes and bytes_raw" "bytes '$wire', bytes_raw '$raw'"
		return 1
	fi
	r=$((wire * 1000 / raw))
	note "$label: $raw bytes from CRIU, $wire on the wire (ratio $(jget "$json" .stats.compress_ratio))"
	expect_num_ge "$label: bytes_raw covers the $MIB MiB" "$raw" $((MIB * 1048576))
	if [ "$r" -le "$max" ] && [ "$r" -ge "$min" ]; then
		pass "$label: bytes on the wire / bytes from CRIU = $r/1000, within [$min, $max]/1000"
	else
		fail "$label: bytes on the wire / bytes from CRIU" "$r/1000 not within [$min, $max]/1000"
	fi
	expect_eq "$label: compress_ratio is bytes / bytes_raw" \
		"$(jget "$json" '.stats.compress_ratio * 1000 | round')" "$r"
}

# 1. Text-like memory, compress "on".
export WORKLOAD_FILL=text
W=$(start_workload w $MIB --fill text) || die "workload starts" "no workload"
MIGRATE_OPTIONS='{"compress":"on"}' migrate_and_check "text, on: A->B" "$A_API" "$W" \
	"$B_PEER" "$T/w.status" $MIB || die "text, on" "the rest needs the migrated process"
J1=$JOB_ID
P1=$MIGRATED_PID
expect_eq "text, on: stats.compression" "$(jget "$JOB_JSON" .stats.compression)" zstd
stats_ok "text, on" "$JOB_JSON" 400 1
api GET "$A_API/migrations/$J1/events" >/dev/null
expect_match "text, on: an event says what compression did" "$HTTP_BODY" \
	'compression zstd: [0-9.]+ MiB of pages and images went as [0-9.]+ MiB'
api GET "$B_API/migrations/$J1" >/dev/null
expect_eq "text, on: B's job agreed on zstd" "$(jget "$HTTP_BODY" .stats.compression)" zstd
# The destination counts what it received: the same bytes from CRIU as the source
# sent, and about as few on the wire.
stats_ok "text, on, at B" "$HTTP_BODY" 400 1
expect_eq "text, on: B received the bytes from CRIU that A sent" \
	"$(jget "$HTTP_BODY" .stats.bytes_raw)" "$(jget "$JOB_JSON" .stats.bytes_raw)"

# 2. Back, compress "off".
MIGRATE_OPTIONS='{"compress":"off"}' migrate_and_check "text, off: B->A" "$B_API" "$P1" \
	"$A_PEER" "$T/w.status" $MIB || die "text, off" "the rest needs the migrated process"
P2=$MIGRATED_PID
expect_eq "text, off: stats.compression" "$(jget "$JOB_JSON" .stats.compression)" none
stats_ok "text, off" "$JOB_JSON" 1020 995
api GET "$A_API/migrations/$JOB_ID" >/dev/null
expect_eq "text, off: A's job agreed on none" "$(jget "$HTTP_BODY" .stats.compression)" none
kill "$P2"

# 3. Zeros that were written: CRIU sends them, the wire hardly sees them.
export WORKLOAD_FILL=zeros
Z=$(start_workload z $MIB --fill zeros) || die "zeros workload starts" "no workload"
MIGRATE_OPTIONS='{"compress":"on"}' migrate_and_check "zeros, on: A->B" "$A_API" "$Z" \
	"$B_PEER" "$T/z.status" $MIB || die "zeros, on" "failed"
stats_ok "zeros, on" "$JOB_JSON" 50 0
kill "$MIGRATED_PID"

# 4. Random memory, the default (auto): at most a little more than raw.
export WORKLOAD_FILL=random
R=$(start_workload r $MIB --fill random) || die "random workload starts" "no workload"
unset MIGRATE_OPTIONS
migrate_and_check "random, auto: A->B" "$A_API" "$R" "$B_PEER" "$T/r.status" $MIB ||
	die "random, auto" "failed"
expect_eq "random, auto: stats.compression" "$(jget "$JOB_JSON" .stats.compression)" zstd
stats_ok "random, auto" "$JOB_JSON" 1020 995
api GET "$A_API/migrations/$JOB_ID/events" >/dev/null
note "random, auto: $(jget "$HTTP_BODY" '[.events[] | select(.message | startswith("compression")) | .message] | first')"

kill "$MIGRATED_PID"

# 5. Lazy, text, on.
export WORKLOAD_FILL=text
L=$(start_workload l $MIB --fill text) || die "lazy workload starts" "no workload"
ID=$(MIGRATE_OPTIONS='{"compress":"on"}' migrate "$A_API" "$L" "$B_PEER" lazy) ||
	die "lazy accepted" "POST refused"
JSON=$(wait_job "$A_API" "$ID" 120) || die "lazy: the job ends" "$JSON"
note "lazy, on: $(job_summary "$JSON")"
expect_eq "lazy, on: succeeded" "$(jget "$JSON" .state)" succeeded
expect_eq "lazy, on: stats.compression" "$(jget "$JSON" .stats.compression)" zstd
stats_ok "lazy, on" "$JSON" 400 1
api GET "$B_API/migrations/$ID" >/dev/null
stats_ok "lazy, on, at B" "$HTTP_BODY" 400 1
expect_eq "lazy, on: B received the bytes from CRIU that A sent" \
	"$(jget "$HTTP_BODY" .stats.bytes_raw)" "$(jget "$JSON" .stats.bytes_raw)"
LP=$(jget "$JSON" .result.pid)
track_pid "$LP"
expect_true "lazy, on: result.pid $LP is the workload" is_workload "$LP" "$T/l.status"
check_workload_intact "$T/l.status" $MIB "$(status_field "$T/l.status" counter)" \
	"lazy, on: workload counts on, memory intact"

# 6. A bit flipped in a compressed frame of the page stream, on the way back.
rm -f "$T/proxy.port"
/usr/bin/python3 "$ROOT/tests/tools/mitm_proxy.py" --to "$A_PEER" --port-file "$T/proxy.port" \
	--log "$T/proxy.log" --mode flip --type 8 --nth 5 &
PROXY=$!
remember proc "$PROXY"
wait_for 10 test -s "$T/proxy.port" || die "proxy starts" "no port"
before=$(status_field "$T/l.status" counter)
ID=$(MIGRATE_OPTIONS='{"compress":"on"}' migrate "$B_API" "$LP" "127.0.0.1:$(cat "$T/proxy.port")") ||
	die "tampered: accepted" "POST refused"
JSON=$(wait_job "$B_API" "$ID" 120) || die "tampered: the job ends" "$JSON"
kill "$PROXY"
note "tampered: proxy: $(cat "$T/proxy.log"); B: $(job_summary "$JSON")"
expect_match "tampered: the proxy flipped a compressed frame" "$(cat "$T/proxy.log")" \
	"flipped a bit in frame 5 of type 8"
expect_eq "tampered: the migration failed, the process at the source" \
	"$(jget "$JSON" .state)/$(jget "$JSON" .error.process_at)" failed/source
expect_true "tampered: the workload runs at B as pid $LP" pid_alive "$LP"
wait_counter_past "$T/l.status" $((before + 3)) 10
check_workload_intact "$T/l.status" $MIB "$(status_field "$T/l.status" counter)" \
	"tampered: its memory intact"

# 7. Values nobody knows.
api POST "$A_API/migrations" "{\"type\":\"pid\",\"pid\":$LP,\"to\":\"$B_PEER\",\"options\":{\"compress\":\"lz4\"}}" >/dev/null
expect_eq "compress \"lz4\": 422" "$HTTP_STATUS" 422
expect_eq "... naming options.compress" "$(jget "$HTTP_BODY" .error.field)" options.compress
api GET "$B_API/healthz" >/dev/null
CRIU_VER=$(jget "$HTTP_BODY" .criu.version)
mkdir -p "$T/cpuinfo"
/usr/local/sbin/criu cpuinfo dump -D "$T/cpuinfo" 2>/dev/null ||
	criu cpuinfo dump -D "$T/cpuinfo" || die "cpuinfo" "criu cpuinfo dump failed"
ID=$(cat /proc/sys/kernel/random/uuid)
cat >"$T/p.script" <<EOF
connect control
send {"op":"prepare","job":"$ID","type":"pid","mode":"live","pid":4242,"source_port":1,"strategy":"stop-and-copy","criu_version":$CRIU_VER,"criu_version_text":"x","compress":"brotli","facts":{"own_pidns":true,"pids":[]},"options":{},"host":{}}
senddir $T/cpuinfo
recv
EOF
"$BUILD/peerctl" "$B_PEER" "$T/secret" <"$T/p.script" >"$T/p.out" 2>"$T/p.err"
note "prepare with compress brotli: $(cat "$T/p.out" "$T/p.err")"
expect_eq "B refuses compress \"brotli\"" "$(jq -r .ok <"$T/p.out")/$(jq -r .code <"$T/p.out")" \
	false/preflight_failed
expect_match "... saying which it knows" "$(jq -r .error <"$T/p.out")" \
	'unknown compression "brotli": this destination knows "zstd" and "none"'
finish
