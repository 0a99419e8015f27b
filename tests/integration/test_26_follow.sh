#!/usr/bin/env bash
# test_26_follow.sh: following jobs without polling, and retrying without fear.
#   (a) GET /events is a server-sent-events stream of every job's changes: a client
#       that reads a whole migration sees its states, phases and iteration in order,
#       the last state event carrying the final job; a client that drops the
#       connection twice and resumes with Last-Event-ID loses and repeats nothing;
#       ?job= keeps one job's events;
#   (b) GET /migrations/ID?wait=S answers when the job moves on from the state and
#       phase the client names, at once for an ended job, at the time for one that
#       stays; bad values are 400 naming the parameter;
#   (c) idle streams hold no HTTP thread: with as many open as the daemon allows
#       (192, from 4 addresses) the API answers and a migration runs, one more is
#       refused with 503, and they all end when the daemon stops;
#   (d) Idempotency-Key: the same key and request (fields in another order) gives
#       the same job, also from 6 clients at once and after a restart; one job only;
#       another request under the key is 422 naming the header;
#   (e) webhooks: a receiver that fails twice still gets the final job, signed with
#       the daemon's key, each attempt an event of the job; a delivery pending when
#       the daemon stops is made after its restart;
#   (f) GET /metrics parses with the Prometheus client library's text parser and
#       counts what happened: migrations by type, mode, role and state, a failure by
#       its code, a peer connection failure, the downtime histogram, bytes.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

PY=/usr/bin/python3
TOOLS=$ROOT/tests/tools
MIB=16
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"

# sse ARGS...: the test's SSE client with the API token.
sse() {
	"$PY" "$TOOLS/sse_client.py" --token "$API_TOKEN_FILE" "$@"
}

echo "(a) the event stream"
# A reader of every job's events from now, started before the migration.
sse "$A_API/events" --until-final any --timeout 120 --out "$T/all.jsonl" &
ALL=$!
sleep 0.5
id=$(migrate "$A_API" "$W" "$B_PEER") || die "(a) migration accepted" "POST refused"
# The same job read by a client that hangs up after 2 events, twice, and resumes.
sse "$A_API/events?job=$id" --max-events 2 --timeout 60 --out "$T/r1.jsonl"
last=$(tail -n 1 "$T/r1.jsonl" | jq -r .id)
sse "$A_API/events?job=$id" --last-event-id "$last" --max-events 2 --timeout 60 --out "$T/r1.jsonl"
last=$(tail -n 1 "$T/r1.jsonl" | jq -r .id)
sse "$A_API/events?job=$id" --last-event-id "$last" --until-final "$id" --timeout 120 \
	--out "$T/r1.jsonl"
json=$(wait_job "$A_API" "$id" 120) || die "(a) migration ends" "$json"
expect_eq "(a) the migration succeeded" "$(jget "$json" .state)" succeeded
W=$(jget "$json" .result.pid)
track_pid "$W"
# What the store holds for the job is the reference.
api GET "$A_API/migrations/$id/events" >/dev/null
ref=$(jget "$HTTP_BODY" '[.events[].id] | map(tostring) | join(" ")')
got=$(jq -r .id "$T/r1.jsonl" | tr '\n' ' ' | sed 's/ $//')
expect_eq "(a) resumed twice with Last-Event-ID: every event once, in order" "$got" "$ref"
expect_eq "(a) the SSE id is the event's id" \
	"$(jq -r 'select(.id != (.data.id | tostring)) | .id' "$T/r1.jsonl")" ""
expect_eq "(a) ?job= keeps that job's events only" \
	"$(jq -r "select(.data.job != \"$id\") | .id" "$T/r1.jsonl")" ""
kinds=$(jq -r .event "$T/r1.jsonl" | sort -u | tr '\n' ' ')
expect_match "(a) state, phase and iteration events" "$kinds" 'iteration .*phase .*state'
expect_eq "(a) the first state event: queued" \
	"$(jq -r 'select(.event == "state") | .data.state' "$T/r1.jsonl" | head -n 1)" queued
expect_eq "(a) states in order" \
	"$(jq -r 'select(.event == "state") | .data.state' "$T/r1.jsonl" | tr '\n' ' ')" \
	"queued running succeeded "
final=$(jq -c 'select(.event == "state" and .data.state == "succeeded") | .data.data' \
	"$T/r1.jsonl")
expect_eq "(a) the last state event carries the final job" "$(jget "$final" .result.pid)" "$W"
expect_eq "(a) the phases as the job went" \
	"$(jq -r 'select(.event == "phase") | .data.phase' "$T/r1.jsonl" | tr '\n' ' ')" \
	"$(jget "$HTTP_BODY" '[.events[] | select(.kind == "phase") | .phase] | join(" ")') "
wait "$ALL"
expect_eq "(a) the reader of every job saw the same events of this one" \
	"$(jq -r "select(.data.job == \"$id\") | .id" "$T/all.jsonl" | tr '\n' ' ' | sed 's/ $//')" "$ref"
sse "$A_API/events?job=00000000-0000-4000-8000-000000000000" --timeout 5 --out "$T/bad.jsonl"
expect_eq "(a) an unknown job is 404" "$(jq -r .status "$T/bad.jsonl")" 404
sse "$A_API/events" --last-event-id "x1" --timeout 5 --out "$T/bad2.jsonl"
expect_eq "(a) a bad Last-Event-ID is 422 naming it" \
	"$(jq -r .body "$T/bad2.jsonl" | jq -r .error.field)" Last-Event-ID

echo "(b) ?wait="
api GET "$A_API/migrations/$id?wait=30" >/dev/null
expect_eq "(b) an ended job answers at once" "$(jget "$HTTP_BODY" .state)" succeeded
api GET "$A_API/migrations/$id?wait=2&state=succeeded&phase=done" >/dev/null
expect_eq "(b) one that stays answers at the time, as it is" "$HTTP_STATUS $(jget "$HTTP_BODY" .phase)" \
	"200 done"
api GET "$A_API/migrations/$id?wait=1000" >/dev/null
expect_eq "(b) wait over the bound is 400 naming it" \
	"$HTTP_STATUS $(jget "$HTTP_BODY" .error.field)" "400 wait"
api GET "$A_API/migrations/$id?wait=5&state=sleeping" >/dev/null
expect_eq "(b) an unknown state is 400 naming it" \
	"$HTTP_STATUS $(jget "$HTTP_BODY" .error.field)" "400 state"
# A job that moves, held 3 s with the tree frozen by a pause at the source, B.
HAULD_FAULT=pause:frozen restart_hauld B || die "(b) B restarts with a pause" "see $T/B.log"
id2=$(migrate "$B_API" "$W" "$A_PEER") || die "(b) migration accepted" "POST refused"
seen="queued/queued"
states=""
for _ in $(seq 1 40); do
	api GET "$B_API/migrations/$id2?wait=60&state=${seen%%/*}&phase=${seen##*/}" >/dev/null
	[ "$HTTP_STATUS" = 200 ] || break
	now="$(jget "$HTTP_BODY" .state)/$(jget "$HTTP_BODY" .phase)"
	[ "$now" != "$seen" ] || { fail "(b) a wait answers with a change" "$now again"; break; }
	states+="$now "
	seen=$now
	case "$now" in succeeded/* | failed/* | cancelled/*) break ;; esac
done
note "(b) waits saw: $states"
expect_match "(b) each wait answered with the next change, to the end" "$states" \
	'running/.* succeeded/done $'
W=$(jget "$HTTP_BODY" .result.pid)
track_pid "$W"

restart_hauld B || die "(b) B restarts without it" "see $T/B.log"

echo "(c) idle streams hold no HTTP thread"
NSTREAMS=192   # HTTP_MAX_STREAMS
# A stream whose client hung up holds its slot until its next keep-alive (15 s at
# most: a suspended connection is not polled); a fresh daemon has none of (a)'s.
restart_hauld A || die "(c) A restarts" "see $T/A.log"
"$PY" - "$A_API" "$(cat "$API_TOKEN_FILE")" $NSTREAMS "$T/streams.ready" "$T/streams.out" <<'PYEOF' &
import socket, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); token = sys.argv[2]; n = int(sys.argv[3])
socks = []
for i in range(n):
    # From 127.0.0.2-5: the daemon takes at most 64 connections from one address.
    s = socket.create_connection((u.hostname, u.port), timeout=60,
                                 source_address=("127.0.0.%d" % (2 + i % 4), 0))
    s.sendall(("GET /events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
               "Accept: text/event-stream\r\n\r\n" % (u.netloc, token)).encode())
    socks.append(s)
ok = 0
for s in socks:
    if s.recv(4096).startswith(b"HTTP/1.1 200"):
        ok += 1
open(sys.argv[4], "w").write(str(ok))
# Hold them until the daemon closes them; count how many it ended.
ended = 0
for s in socks:
    s.settimeout(60)
    try:
        while s.recv(65536):
            pass
        ended += 1
    except OSError:
        pass
open(sys.argv[5], "w").write(str(ended))
PYEOF
HOLD=$!
wait_for 30 test -s "$T/streams.ready"
expect_eq "(c) $NSTREAMS streams open" "$(cat "$T/streams.ready" 2>/dev/null)" $NSTREAMS
api GET "$A_API/healthz" >/dev/null
expect_eq "(c) the API answers beside them" "$HTTP_STATUS" 200
migrate_and_check "(c) a migration while they are open" "$A_API" "$W" "$B_PEER" "$T/w.status" $MIB ||
	die "(c) migration" "the rest needs the process"
W=$MIGRATED_PID
sse "$A_API/events" --timeout 3 --out "$T/over.jsonl"
expect_eq "(c) streams over the cap are refused with 503" \
	"$(jq -r .status "$T/over.jsonl" 2>/dev/null | head -n 1)" 503
restart_hauld A || die "(c) A restarts" "see $T/A.log"
wait "$HOLD"
expect_eq "(c) the stop ended every stream" "$(cat "$T/streams.out" 2>/dev/null)" $NSTREAMS

echo "(d) Idempotency-Key"
post_key() { # KEY BODY: POST with the key; sets HTTP_STATUS, HTTP_BODY, REPLAYED
	HTTP_STATUS=$(curl -s --max-time 20 -o "$T/.pk.body" -D "$T/.pk.hdr" -w '%{http_code}' \
		-H "Authorization: Bearer $(cat "$API_TOKEN_FILE")" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: $1" --data-binary "$2" "$B_API/migrations")
	HTTP_BODY=$(cat "$T/.pk.body")
	REPLAYED=$(tr -d '\r' <"$T/.pk.hdr" | sed -n 's/^Idempotent-Replayed: //Ip')
}
KEY="retry-$(date +%s%N)"
BODY1="{\"type\":\"pid\",\"pid\":$W,\"to\":\"$A_PEER\"}"
post_key "$KEY" "$BODY1"
expect_eq "(d) first POST is 202" "$HTTP_STATUS" 202
K1=$(jget "$HTTP_BODY" .id)
post_key "$KEY" "{ \"to\": \"$A_PEER\", \"pid\": $W, \"type\": \"pid\" }"
expect_eq "(d) the retry is 202 with the same job" "$HTTP_STATUS $(jget "$HTTP_BODY" .id)" "202 $K1"
expect_eq "(d) ... marked as replayed" "$REPLAYED" true
for i in 1 2 3 4 5 6; do
	curl -s --max-time 20 -H "Authorization: Bearer $(cat "$API_TOKEN_FILE")" \
		-H 'Content-Type: application/json' -H "Idempotency-Key: $KEY" \
		--data-binary "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$A_PEER\"}" \
		"$B_API/migrations" >"$T/par.$i" &
done
wait_for 30 bash -c "[ \$(cat $T/par.* | jq -r .id | grep -c .) = 6 ]"
expect_eq "(d) 6 clients at once get that job" "$(cat "$T"/par.* | jq -r .id | sort -u)" "$K1"
post_key "$KEY" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$A_PEER\",\"options\":{\"keep_images\":true}}"
expect_eq "(d) another request under the key: 422 naming the header" \
	"$HTTP_STATUS $(jget "$HTTP_BODY" .error.field) $(jget "$HTTP_BODY" .error.code)" \
	"422 Idempotency-Key idempotency_key_reused"
post_key "$(printf 'k%.0s' $(seq 1 201))" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$A_PEER\"}"
expect_eq "(d) a key over 200 characters is refused naming it" \
	"$HTTP_STATUS $(jget "$HTTP_BODY" .error.field)" "422 Idempotency-Key"
json=$(wait_job "$B_API" "$K1" 120) || die "(d) the job ends" "$json"
W=$(jget "$json" .result.pid)
track_pid "$W"
restart_hauld B || die "(d) B restarts" "see $T/B.log"
post_key "$KEY" "$BODY1"
expect_eq "(d) after a restart the key still gives its job" \
	"$HTTP_STATUS $(jget "$HTTP_BODY" .id) $(jget "$HTTP_BODY" .state)" "202 $K1 succeeded"
api GET "$B_API/migrations?limit=500" >/dev/null
expect_eq "(d) one migration was started under the key" \
	"$(jget "$HTTP_BODY" "[.migrations[] | select(.role == \"source\" and .created_at >= \"$(jget "$json" .created_at)\")] | length")" 1

echo "(e) webhooks"
"$PY" "$TOOLS/webhook_receiver.py" --key-file "$A_DATA/webhook.key" --log "$T/hook.jsonl" \
	--port-file "$T/hook.port" --fail 2 &
RECV=$!
remember proc "$RECV"
wait_for 10 test -s "$T/hook.port" || die "(e) receiver starts" "no port"
HOOK="http://127.0.0.1:$(cat "$T/hook.port")/hauld"
api POST "$A_API/migrations" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"callback_url\":\"$HOOK\"}" >/dev/null
expect_eq "(e) accepted with a callback_url" "$HTTP_STATUS" 202
id=$(jget "$HTTP_BODY" .id)
json=$(wait_job "$A_API" "$id" 120) || die "(e) the job ends" "$json"
W=$(jget "$json" .result.pid)
track_pid "$W"
wait_for 30 bash -c "grep -q '\"status\": 200' $T/hook.jsonl"
expect_eq "(e) three requests: two failed, the third delivered" \
	"$(jq -r .status "$T/hook.jsonl" | tr '\n' ' ')" "500 500 200 "
expect_eq "(e) attempts numbered" "$(jq -r .attempt "$T/hook.jsonl" | tr '\n' ' ')" "1 2 3 "
expect_eq "(e) every request signed with the daemon's key" \
	"$(jq -r .signature_ok "$T/hook.jsonl" | sort -u)" true
expect_eq "(e) the body is the final job" \
	"$(tail -n 1 "$T/hook.jsonl" | jq -r '[.body.id, .body.state, .body.result.pid, .event, .delivery] | join(" ")')" \
	"$id succeeded $W migration.finished $id"
wait_for 10 bash -c "curl -s -H 'Authorization: Bearer $(cat "$API_TOKEN_FILE")' $A_API/migrations/$id | jq -e '.webhook.state == \"delivered\"' >/dev/null"
api GET "$A_API/migrations/$id" >/dev/null
expect_eq "(e) the job says delivered after 3 attempts" \
	"$(jget "$HTTP_BODY" '[.webhook.state, .webhook.attempts] | map(tostring) | join(" ")')" "delivered 3"
api GET "$A_API/migrations/$id/events" >/dev/null
expect_eq "(e) each attempt is an event" \
	"$(jget "$HTTP_BODY" '[.events[] | select(.kind == "webhook") | .level] | join(" ")')" "warn warn info"
api POST "$A_API/migrations" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"callback_url\":\"ftp://x/\"}" >/dev/null
expect_eq "(e) a callback_url that is not http(s) is 422 naming it" \
	"$HTTP_STATUS $(jget "$HTTP_BODY" .error.field)" "422 callback_url"
# A receiver that is down: the delivery waits in the store across a restart.
kill "$RECV"
wait "$RECV" 2>/dev/null
PORT=$(cat "$T/hook.port")
rm -f "$T/hook.port" "$T/hook.jsonl"
api POST "$A_API/migrations" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"callback_url\":\"$HOOK\"}" >/dev/null
id=$(jget "$HTTP_BODY" .id)
json=$(wait_job "$A_API" "$id" 120) || die "(e) the job ends" "$json"
W=$(jget "$json" .result.pid)
track_pid "$W"
wait_for 20 bash -c "curl -s -H 'Authorization: Bearer $(cat "$API_TOKEN_FILE")' $A_API/migrations/$id | jq -e '.webhook.attempts >= 1' >/dev/null"
stop_hauld A
"$PY" "$TOOLS/webhook_receiver.py" --key-file "$A_DATA/webhook.key" --log "$T/hook.jsonl" \
	--port-file "$T/hook.port" --port "$PORT" &
RECV=$!
remember proc "$RECV"
wait_for 10 test -s "$T/hook.port" || die "(e) receiver starts again" "no port"
restart_hauld A || die "(e) A restarts" "see $T/A.log"
wait_for 30 bash -c "grep -q '\"status\": 200' $T/hook.jsonl 2>/dev/null"
expect_eq "(e) after the restart the pending delivery was made" \
	"$(jq -r '[.delivery, .status] | map(tostring) | join(" ")' "$T/hook.jsonl" 2>/dev/null | tail -n 1)" "$id 200"
kill "$RECV"

echo "(f) metrics"
api POST "$A_API/migrations" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"127.0.0.1:$(closed_port)\"}" >/dev/null
bad=$(jget "$HTTP_BODY" .id)
json=$(wait_job "$A_API" "$bad" 60) || die "(f) the failing job ends" "$json"
expect_eq "(f) a migration to a closed port fails peer_unreachable" "$(jget "$json" .error.code)" \
	peer_unreachable
curl -s --max-time 10 -H "Authorization: Bearer $(cat "$API_TOKEN_FILE")" -D "$T/m.hdr" \
	"$A_API/metrics" >"$T/metrics.txt"
expect_match "(f) text/plain in the exposition format's version" "$(cat "$T/m.hdr")" \
	'Content-Type: text/plain; version=0.0.4'
"$PY" - "$T/metrics.txt" >"$T/metrics.json" <<'PYEOF'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        key = s.name + "{" + ",".join("%s=%s" % kv for kv in sorted(s.labels.items())) + "}"
        out[key] = "%.10g" % s.value
    out["type:" + fam.name] = fam.type
print(json.dumps(out))
PYEOF
expect_eq "(f) the Prometheus parser reads it" "$?" 0
M=$(cat "$T/metrics.json")
m() { jget "$M" ".[\"$1\"]"; }
# Since A's last start: the migration of (e) that waited on its webhook... A restarted
# after it, so this run saw the failed one alone.
expect_eq "(f) the failed migration counted by type, mode, role and state" \
	"$(m 'hauld_migrations_total{mode=live,role=source,state=failed,type=pid}')" 1
expect_eq "(f) ... and by its code" \
	"$(m 'hauld_migration_failures_total{code=peer_unreachable,role=source}')" 1
expect_eq "(f) the peer connection failure" \
	"$(m 'hauld_peer_connection_failures_total{stage=connect}')" 1
expect_eq "(f) in flight: nothing" \
	"$(m 'hauld_migrations_in_flight{role=source,state=running}')" 0
expect_eq "(f) histogram types" "$(m 'type:hauld_migration_downtime_seconds') $(m 'type:hauld_migrations')" \
	"histogram counter"
# A migration that succeeds: downtime observed, bytes counted.
migrate_and_check "(f) A->B" "$A_API" "$W" "$B_PEER" "$T/w.status" $MIB || die "(f) A->B" "failed"
W=$MIGRATED_PID
M=$(curl -s -H "Authorization: Bearer $(cat "$API_TOKEN_FILE")" "$A_API/metrics" |
	"$PY" -c '
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out[s.name + "{" + ",".join("%s=%s" % kv for kv in sorted(s.labels.items())) + "}"] = "%.10g" % s.value
print(json.dumps(out))')
expect_eq "(f) the success counted" \
	"$(m 'hauld_migrations_total{mode=live,role=source,state=succeeded,type=pid}')" 1
expect_eq "(f) its downtime observed" "$(m 'hauld_migration_downtime_seconds_count{type=pid}')" 1
expect_eq "(f) the downtime's sum is the job's" \
	"$(m 'hauld_migration_downtime_seconds_sum{type=pid}')" \
	"$(jget "$JOB_JSON" '.stats.downtime_ms / 1000')"
expect_num_ge "(f) bytes moved (MiB)" \
	"$(m 'hauld_migration_bytes_total{role=source}' | awk '{ print int($1 / 1048576) }')" $((MIB / 2))
expect_eq "(f) the bytes from CRIU counted are the job's" \
	"$(m 'hauld_migration_bytes_raw_total{role=source}' | awk '{ printf "%d", $1 }')" \
	"$(jget "$JOB_JSON" .stats.bytes_raw)"
api GET "$A_API/metrics" >/dev/null
TOKEN_SAVE=$API_TOKEN_FILE
echo wrong-token-0123456789 >"$T/wrong.token"
API_TOKEN_FILE=$T/wrong.token api GET "$A_API/metrics" >/dev/null
expect_eq "(f) /metrics needs the token" "$HTTP_STATUS" 401
API_TOKEN_FILE=$TOKEN_SAVE

finish
