#!/usr/bin/env bash
# test_28_openapi.sh: api/openapi.yaml describes what the daemons really answer.
#   Two real daemons, A and B (B holds each job it sends 3 s in preflight:
#   HAULD_FAULT=pause:preflight), answer every route: a migration A->B that succeeds
#   (followed with ?wait= and GET /events, posted with an Idempotency-Key and a
#   callback_url whose receiver fails once), one that fails (a closed port), a lazy
#   one when /healthz says lazy pages are possible, one B holds and that is
#   cancelled, the replay of a key and its reuse, the lists, logs and event logs of
#   both roles, /metrics, /healthz, the dashboard's files, every class of refused
#   request, and a 193rd stream. Each answer is recorded with curl (headers, body,
#   status, content type) as one JSON line, each webhook request hauld makes too;
#   then tests/openapi/validate.mjs checks the document (OpenAPI 3.1, its enums
#   against the C tables) and every answer against it, and that every documented
#   (method, path, status) was seen, but those listed below with a reason.
#   The process itself is checked too: the migrated workload runs at its new pid,
#   the cancelled one goes on where it was.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

OA=$ROOT/tests/openapi
SPEC=$ROOT/api/openapi.yaml
command -v node >/dev/null 2>&1 || die "node" "node is missing: run scripts/setup.sh"
[ -d "$OA/node_modules/ajv" ] || die "the validator's packages" \
	"$OA/node_modules is missing: run scripts/setup.sh (npm ci in tests/openapi)"
EX=$T/exchanges.jsonl
: >"$EX"
TOKEN=$(cat "$API_TOKEN_FILE")
AUTH=(-H "Authorization: Bearer $TOKEN")
JSON=(-H 'Content-Type: application/json')
MIB=16

# rec LABEL WANT TEMPLATE METHOD URL [CURL_ARGS...]: one request with curl, recorded
# as a JSON line in $EX (or $REC_OUT) for the validator, with $REC_BODY as the
# request body when set. WANT is the status, or STATUS/CODE for an error. Sets
# REC_STATUS, REC_CT, REC_BODY_OUT (the answer) and REC_LOCATION; records a pass or a
# fail, or with REC_NOCHECK=1 only returns whether WANT came (for a try that may be
# repeated, or in a subshell). No token unless the arguments carry one.
rec() {
	local label=$1 want=$2 tmpl=$3 method=$4 url=$5 hdr body w got path
	shift 5
	hdr=$(mktemp "$T/.hdr.XXXXXX")
	body=$(mktemp "$T/.body.XXXXXX")
	w=$(curl -s -g --max-time 30 -X "$method" -D "$hdr" -o "$body" \
		-w '%{http_code} %{content_type}' "$@" "$url" 2>/dev/null)
	REC_STATUS=${w%% *}
	REC_CT=${w#* }
	[ "$REC_CT" = "$w" ] && REC_CT=""
	REC_BODY_OUT=$(cat "$body")
	REC_LOCATION=$(tr -d '\r' <"$hdr" | sed -n 's/^[Ll]ocation: *//p' | tail -n 1)
	path=/${url#http*://*/}
	[ "$path" = "/$url" ] && path=/
	jq -nc --arg lbl "$label" --arg method "$method" --arg template "$tmpl" \
		--arg path "$path" --arg status "${REC_STATUS:-0}" --arg ct "$REC_CT" \
		--rawfile hdr "$hdr" --rawfile body "$body" --arg req "${REC_BODY-}" \
		--arg hasreq "${REC_BODY+1}" '
		# The last header block (after a "100 Continue"), as lower-case names.
		($hdr | gsub("\r"; "") | split("\n\n") | map(select(length > 0)) | last // "") as $h |
		{"label": $lbl, method: $method, template: $template, path: $path,
		 status: ($status | tonumber), content_type: $ct,
		 headers: ([$h | split("\n") | .[1:][] | capture("^(?<k>[^:]+):[ \t]*(?<v>.*)$")] |
			   map({(.k | ascii_downcase): .v}) | add // {}),
		 body: $body} + (if $hasreq == "1" then {request_body: $req} else {} end)' \
		>>"${REC_OUT:-$EX}" || fail "$label: recorded" "jq could not record the answer"
	rm -f "$hdr" "$body"
	got=$REC_STATUS
	case "$want" in */*) got="$REC_STATUS/$(jget "$REC_BODY_OUT" .error.code)" ;; esac
	if [ "${REC_NOCHECK:-0}" = 1 ]; then
		[ "$got" = "$want" ]
		return
	fi
	expect_eq "$label: $want" "$got" "$want"
}

# post LABEL WANT API BODY [CURL_ARGS...]: POST /migrations with a JSON body, the token.
post() {
	local label=$1 want=$2 api_url=$3
	REC_BODY=$4
	shift 4
	rec "$label" "$want" /migrations POST "$api_url/migrations" "${AUTH[@]}" "${JSON[@]}" \
		--data-binary "$REC_BODY" "$@"
	unset REC_BODY
}

# follow LABEL API ID TIMEOUT_S: GET /migrations/ID?wait= with the state and phase
# last seen, until the job ends; each answer recorded. Sets FOLLOWED (the states and
# phases seen) and REC_BODY_OUT (the final job).
follow() {
	local label=$1 api_url=$2 id=$3 end seen="" now i
	end=$(($(now_ms) + $4 * 1000))
	FOLLOWED=""
	rec "$label: the job" 200 "/migrations/{id}" GET "$api_url/migrations/$id" "${AUTH[@]}"
	seen="$(jget "$REC_BODY_OUT" .state)/$(jget "$REC_BODY_OUT" .phase)"
	FOLLOWED=$seen
	for ((i = 0; i < 60; i++)); do
		case "$seen" in succeeded/* | failed/* | cancelled/*) return 0 ;; esac
		[ "$(now_ms)" -lt "$end" ] || return 1
		rec "$label: ?wait= from $seen" 200 "/migrations/{id}" GET \
			"$api_url/migrations/$id?wait=30&state=${seen%%/*}&phase=${seen##*/}" "${AUTH[@]}"
		[ "$REC_STATUS" = 200 ] || return 1
		now="$(jget "$REC_BODY_OUT" .state)/$(jget "$REC_BODY_OUT" .phase)"
		[ "$now" != "$seen" ] && FOLLOWED+=" $now"
		seen=$now
	done
	return 1
}

make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" --runc-root "$T/runc" || die "daemon A starts" "see $T/A.log"
mkdir -p "$T/www-empty"
HAULD_FAULT=pause:preflight start_hauld B --secret-file "$T/secret" --www "$T/www-empty" ||
	die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"
NOJOB=00000000-0000-4000-8000-000000000000
HOST_EVIL=(-H 'Host: evil.example')

echo "(a) health and the dashboard"
for d in A B; do
	api_var=${d}_API
	rec "$d: /healthz without a token" 200 /healthz GET "${!api_var}/healthz"
done
LAZY=$(jget "$REC_BODY_OUT" '.features.lazy_pages and .features.pipe_max_size >= 4194304')
rec "/healthz from a foreign Host" 403/forbidden /healthz GET "$A_API/healthz" "${HOST_EVIL[@]}"
rec "/healthz PUT" 405/method_not_allowed /healthz PUT "$A_API/healthz" "${AUTH[@]}"
rec "/healthz PUT without a token" 401/unauthorized /healthz PUT "$A_API/healthz"
rec "GET /" 200 / GET "$A_API/"
rec "GET / from a foreign Host" 403/forbidden / GET "$A_API/" "${HOST_EVIL[@]}"
rec "POST /" 404/not_found / POST "$A_API/" "${AUTH[@]}"
rec "POST / without a token" 401/unauthorized / POST "$A_API/"
rec "B: GET / without index.html" 404/not_found / GET "$B_API/"
for f in index.html app.js style.css; do
	rec "GET /$f" 200 "/{file}" GET "$A_API/$f"
done
# The chart library, by its two fixed names (B serves an empty directory).
rec "GET /vendor/uPlot.iife.min.js" 200 "/vendor/{file}" GET "$A_API/vendor/uPlot.iife.min.js"
rec "GET /vendor/uPlot.min.css" 200 "/vendor/{file}" GET "$A_API/vendor/uPlot.min.css"
rec "B: GET /vendor/uPlot.min.css, not installed" 404/not_found "/vendor/{file}" GET \
	"$B_API/vendor/uPlot.min.css"
rec "GET /vendor/... from a foreign Host" 403/forbidden "/vendor/{file}" GET \
	"$A_API/vendor/uPlot.min.css" "${HOST_EVIL[@]}"
rec "POST /vendor/uPlot.min.css" 404/not_found "/vendor/{file}" POST "$A_API/vendor/uPlot.min.css" "${AUTH[@]}"
rec "POST /vendor/uPlot.min.css without a token" 401/unauthorized "/vendor/{file}" POST \
	"$A_API/vendor/uPlot.min.css"
rec "GET /vendor/other.js" 404/not_found "/vendor/{file}" GET "$A_API/vendor/other.js"
rec "GET /nope.css" 404/not_found "/{file}" GET "$A_API/nope.css"
rec "GET /app" 404/not_found "/{file}" GET "$A_API/app"
rec "GET /app.js from a foreign Host" 403/forbidden "/{file}" GET "$A_API/app.js" "${HOST_EVIL[@]}"
rec "POST /app.js" 404/not_found "/{file}" POST "$A_API/app.js" "${AUTH[@]}"
rec "POST /app.js without a token" 401/unauthorized "/{file}" POST "$A_API/app.js"
rec "GET /a/b.css" 404/not_found "(unrouted)" GET "$A_API/a/b.css"
rec "GET /migrations/ID/nope" 404/not_found "(unrouted)" GET "$A_API/migrations/$NOJOB/nope" "${AUTH[@]}"
rec "GET /migrations/ID/nope without a token" 401/unauthorized "(unrouted)" GET \
	"$A_API/migrations/$NOJOB/nope"

echo "(b) a migration A->B that succeeds, followed"
node "$OA/webhook-recorder.mjs" --port-file "$T/hook.port" \
	--out "$T/hook.jsonl" --fail 1 &
HOOK_PID=$!
remember proc "$HOOK_PID"
wait_for 10 test -s "$T/hook.port" || die "(b) the webhook receiver starts" "no port"
HOOK="http://127.0.0.1:$(cat "$T/hook.port")/hauld"
KEY="openapi-$(date +%s%N)"
BODY1=$(jq -cn --argjson pid "$W" --arg to "$B_PEER" --arg hook "$HOOK" \
	'{type: "pid", pid: $pid, to: $to, options: {keep_images: false, max_frozen_ms: 60000}, callback_url: $hook}')
post "POST a migration with a key and a callback_url" 202 "$A_API" "$BODY1" -H "Idempotency-Key: $KEY"
ID1=${REC_LOCATION##*/}
[ -n "$ID1" ] || die "(b) the job's Location" "none: $REC_BODY_OUT"
# The job's whole story as a stream, from its first event, ended by its timeout.
REC_NOCHECK=1 REC_OUT=$T/sse1.jsonl rec "GET /events?job= during the migration" 200 /events GET \
	"$A_API/events?job=$ID1&timeout=5" "${AUTH[@]}" &
SSE1=$!
follow "(b) A->B" "$A_API" "$ID1" 120 || die "(b) the migration ends" "$REC_BODY_OUT"
note "(b) ?wait= saw: $FOLLOWED"
J1=$REC_BODY_OUT
expect_eq "(b) the migration succeeded" "$(jget "$J1" .state)" succeeded
W=$(jget "$J1" .result.pid)
track_pid "$W"
expect_workload "(b) the workload runs at its new pid $W" "$W" "$T/w.status" ||
	die "(b) the workload" "the rest needs it"
expect_match "(b) ?wait= answered with each change" "$FOLLOWED" 'running/.* succeeded/done$'
post "POST the same request with the same key: replayed" 202 "$A_API" \
	"$(jq -c '{callback_url, options, to, pid, type}' <<<"$BODY1")" -H "Idempotency-Key: $KEY"
expect_eq "(b) the replay is the job" "${REC_LOCATION##*/}" "$ID1"
expect_eq "(b) ... marked replayed" "$(tail -n 1 "$EX" | jq -r '.headers["idempotent-replayed"]')" true
post "POST another request with the key" 422/idempotency_key_reused "$A_API" \
	"{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\"}" -H "Idempotency-Key: $KEY"
wait_for 30 bash -c "[ \$(grep -c . '$T/hook.jsonl' 2>/dev/null || echo 0) -ge 2 ]"
expect_eq "(b) the webhook: refused once, then delivered" \
	"$(jq -r .answered "$T/hook.jsonl" 2>/dev/null | tr '\n' ' ')" "500 200 "
wait_for 10 bash -c "curl -s -H 'Authorization: Bearer $TOKEN' $A_API/migrations/$ID1 |
	jq -e '.webhook.state == \"delivered\"' >/dev/null"
for d in A B; do
	api_var=${d}_API
	rec "$d: GET the job" 200 "/migrations/{id}" GET "${!api_var}/migrations/$ID1" "${AUTH[@]}"
	rec "$d: the job's events" 200 "/migrations/{id}/events" GET \
		"${!api_var}/migrations/$ID1/events" "${AUTH[@]}"
	[ "$d" = A ] && EV_FIRST=$(jget "$REC_BODY_OUT" '.events[0].id')
	rec "$d: the job's logs" 200 "/migrations/{id}/logs" GET "${!api_var}/migrations/$ID1/logs" \
		"${AUTH[@]}"
done
expect_eq "(b) B holds the destination job" "$(jget "$REC_BODY_OUT" '[.logs[].host] | unique | join(" ")')" \
	destination
rec "A: the events after the first, two at most" 200 "/migrations/{id}/events" GET \
	"$A_API/migrations/$ID1/events?after=$EV_FIRST&limit=2" "${AUTH[@]}"
expect_eq "(b) ... two" "$(jget "$REC_BODY_OUT" '.events | length')" 2
rec "A: ?wait= on an ended job answers at once" 200 "/migrations/{id}" GET \
	"$A_API/migrations/$ID1?wait=30&state=succeeded&phase=done" "${AUTH[@]}"

echo "(c) a migration that fails: nothing listens at its port"
post "POST a migration to a closed port" 202 "$A_API" \
	"{\"type\":\"pid\",\"pid\":$W,\"to\":\"127.0.0.1:$(closed_port)\",\"mode\":\"live\"}"
ID2=${REC_LOCATION##*/}
follow "(c) to a closed port" "$A_API" "$ID2" 60 || die "(c) the job ends" "$REC_BODY_OUT"
expect_eq "(c) it failed peer_unreachable, the process at the source" \
	"$(jget "$REC_BODY_OUT" '[.state, .error.code, .error.process_at] | join(" ")')" \
	"failed peer_unreachable source"
expect_workload "(c) the workload runs where it was" "$W" "$T/w.status"

echo "(d) a lazy migration"
if [ "$LAZY" = true ]; then
	post "POST a lazy migration" 202 "$A_API" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"mode\":\"lazy\"}"
	ID3=${REC_LOCATION##*/}
	follow "(d) lazy A->B" "$A_API" "$ID3" 120 || die "(d) the lazy migration ends" "$REC_BODY_OUT"
	expect_eq "(d) it succeeded, post-copy" "$(jget "$REC_BODY_OUT" '.state + " " + .strategy')" \
		"succeeded post-copy"
	W=$(jget "$REC_BODY_OUT" .result.pid)
	track_pid "$W"
	expect_workload "(d) the workload runs at its new pid $W" "$W" "$T/w.status" ||
		die "(d) the workload" "the rest needs it"
	rec "B: the lazy job's logs" 200 "/migrations/{id}/logs" GET "$B_API/migrations/$ID3/logs" "${AUTH[@]}"
else
	post "POST a lazy migration where lazy pages are impossible" 422/invalid_value "$A_API" \
		"{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"mode\":\"lazy\"}"
	skip "(d) a lazy migration" "/healthz: no lazy pages here"
fi

wait "$SSE1"   # the stream of (b), ended by its timeout
expect_eq "(b) the job's stream: 200" "$(jq -r .status "$T/sse1.jsonl")" 200
got=$(jq -r .body "$T/sse1.jsonl" | sed -n 's/^id: //p' | tr '\n' ' ')
ref=$(api GET "$A_API/migrations/$ID1/events" | jq -r '[.events[].id | tostring] | join(" ")')
case "$ref " in
"$got"*) pass "(b) ... its events are the job's log, in order" ;;
*) fail "(b) ... its events are the job's log, in order" "stream: $got; log: $ref" ;;
esac
expect_match "(b) ... to the end" "$(jq -r .body "$T/sse1.jsonl" | grep '^data: ' | jq -r -R '.[6:] | fromjson | select(.kind == "state") | .state' | tr '\n' ' ')" \
	'^queued running succeeded $'

echo "(e) a job B holds in preflight: 193 streams, a conflict, a cancel"
# 192 streams (HTTP_MAX_STREAMS) held open on B, each ending after 6 s. They come
# from 4 loopback addresses, 48 each, below any limit of connections per address.
python3 - "$B_API" "$TOKEN" 192 "$T/streams.ready" <<'PYEOF' &
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); token = sys.argv[2]; n = int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.create_connection((u.hostname, u.port), timeout=30,
                                 source_address=("127.0.0.%d" % (2 + i % 4), 0))
    s.sendall(("GET /events?timeout=6 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
               "Connection: close\r\n\r\n"
               % (u.netloc, token)).encode())
    socks.append(s)
def opened(s):
    try:
        return s.recv(4096).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
ok = sum(1 for s in socks if opened(s))
open(sys.argv[4], "w").write(str(ok))
for s in socks:
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
PYEOF
HOLD=$!
wait_for 20 test -s "$T/streams.ready"
expect_eq "(e) 192 streams open on B" "$(cat "$T/streams.ready" 2>/dev/null)" 192
rec "GET /events, the 193rd stream" 503/unavailable /events GET "$B_API/events?timeout=1" "${AUTH[@]}"
post "POST a migration B holds" 202 "$B_API" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$A_PEER\"}"
ID4=${REC_LOCATION##*/}
post "POST the same pid again" 409/conflict "$B_API" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$A_PEER\"}"
# A ?wait= on a job that has not moved on is a stream too: refused while they are all
# taken. The job may move between the two requests (then the wait answers at once).
waited=""
for _ in 1 2 3 4 5; do
	rec "GET the held job" 200 "/migrations/{id}" GET "$B_API/migrations/$ID4" "${AUTH[@]}"
	seen="$(jget "$REC_BODY_OUT" .state)/$(jget "$REC_BODY_OUT" .phase)"
	if REC_NOCHECK=1 rec "?wait= while every stream is taken" 503/unavailable "/migrations/{id}" GET \
		"$B_API/migrations/$ID4?wait=5&state=${seen%%/*}&phase=${seen##*/}" "${AUTH[@]}"; then
		waited=503
		break
	fi
done
expect_eq "(e) a ?wait= beyond the streams allowed: 503" "$waited" 503
# The cancel, while the job is held in preflight (3 s).
wait_for 10 bash -c "curl -s -H 'Authorization: Bearer $TOKEN' $B_API/migrations/$ID4 |
	jq -e '.phase == \"preflight\"' >/dev/null"
rec "DELETE the held job" 202 "/migrations/{id}" DELETE "$B_API/migrations/$ID4" "${AUTH[@]}"
expect_eq "(e) the answer shows the job still running" "$(jget "$REC_BODY_OUT" .state)" running
wait "$HOLD"
json=$(wait_job "$B_API" "$ID4" 60) || die "(e) the cancelled job ends" "$json"
expect_eq "(e) it was cancelled, the process at the source" \
	"$(jget "$json" '[.state, .error.code, .error.process_at] | join(" ")')" "cancelled cancelled source"
expect_workload "(e) the workload runs where it was" "$W" "$T/w.status"
rec "GET the cancelled job" 200 "/migrations/{id}" GET "$B_API/migrations/$ID4" "${AUTH[@]}"
rec "DELETE it again: it has ended" 409/conflict "/migrations/{id}" DELETE "$B_API/migrations/$ID4" "${AUTH[@]}"
rec "A: the destination job of the cancelled one" 200 "/migrations/{id}" GET "$A_API/migrations/$ID4" "${AUTH[@]}"
rec "A: DELETE a destination job" 409/conflict "/migrations/{id}" DELETE "$A_API/migrations/$ID4" "${AUTH[@]}"
rec "B: the cancelled job's events" 200 "/migrations/{id}/events" GET \
	"$B_API/migrations/$ID4/events" "${AUTH[@]}"
rec "B: the cancelled job's logs" 200 "/migrations/{id}/logs" GET "$B_API/migrations/$ID4/logs" "${AUTH[@]}"

echo "(f) lists, event streams and metrics"
for d in A B; do
	api_var=${d}_API
	rec "$d: GET /migrations" 200 /migrations GET "${!api_var}/migrations" "${AUTH[@]}"
	rec "$d: one job a page" 200 /migrations GET "${!api_var}/migrations?limit=1" "${AUTH[@]}"
	next=$(jget "$REC_BODY_OUT" .next)
	rec "$d: the next page" 200 /migrations GET "${!api_var}/migrations?limit=1&before=$next" "${AUTH[@]}"
	# Every event the daemon stored, each checked against the Event schema.
	rec "$d: every event, from the first" 200 /events GET "${!api_var}/events?after=0&timeout=2" "${AUTH[@]}"
	rec "$d: GET /metrics" 200 /metrics GET "${!api_var}/metrics" "${AUTH[@]}"
	rec "$d: the failed jobs" 200 /migrations GET "${!api_var}/migrations?state=failed&type=pid" "${AUTH[@]}"
	rec "$d: /healthz with the token (and its peers)" 200 /healthz GET "${!api_var}/healthz" "${AUTH[@]}"
	expect_num_ge "$d: /healthz lists a peer" "$(jget "$REC_BODY_OUT" '.peers | length')" 1
	rec "$d: GET /candidates" 200 /candidates GET "${!api_var}/candidates" "${AUTH[@]}"
done
expect_eq "GET /candidates lists the workload as movable" \
	"$(jget "$REC_BODY_OUT" ".processes[] | select(.pid == $W) | .movable")" true
rec "GET /candidates?limit=1" 200 /candidates GET "$A_API/candidates?limit=1" "${AUTH[@]}"
rec "resumed with Last-Event-ID" 200 /events GET "$A_API/events?timeout=1" "${AUTH[@]}" \
	-H 'Last-Event-ID: 5'
rec "from now" 200 /events GET "$A_API/events?timeout=1" "${AUTH[@]}"

echo "(g) refused requests"
# 400
post "no body" 400/invalid_json "$A_API" ''
post "not JSON" 400/invalid_json "$A_API" '{"type":'
post "a key twice" 400/invalid_json "$A_API" '{"type":"pid","type":"pid","pid":2,"to":"h:1"}'
post "not an object" 400/invalid_type "$A_API" '[1]'
post "type not a string" 400/invalid_type "$A_API" '{"type":1,"to":"h:1"}'
post "pid not an integer" 400/invalid_type "$A_API" "{\"type\":\"pid\",\"pid\":\"$W\",\"to\":\"h:1\"}"
post "an option of the wrong type" 400/invalid_type "$A_API" '{"type":"pid","pid":2,"to":"h:1","options":{"max_iterations":1.5}}'
post "no type" 400/missing_field "$A_API" '{"pid":2,"to":"h:1"}'
post "no pid" 400/missing_field "$A_API" '{"type":"pid","to":"h:1"}'
post "an unknown field" 400/unknown_field "$A_API" '{"type":"pid","pid":2,"to":"h:1","bogus":1}'
post "an unknown option" 400/unknown_field "$A_API" '{"type":"pid","pid":2,"to":"h:1","options":{"shelljob":true}}'
post "container with type pid" 400/unknown_field "$A_API" '{"type":"pid","pid":2,"container":"c","to":"h:1"}'
rec "limit=0" 400/invalid_query /migrations GET "$A_API/migrations?limit=0" "${AUTH[@]}"
rec "limit=abc" 400/invalid_query /migrations GET "$A_API/migrations?limit=abc" "${AUTH[@]}"
rec "before=0" 400/invalid_query /migrations GET "$A_API/migrations?before=0" "${AUTH[@]}"
rec "wait=1000" 400/invalid_query "/migrations/{id}" GET "$A_API/migrations/$ID1?wait=1000" "${AUTH[@]}"
rec "state=sleeping" 400/invalid_query "/migrations/{id}" GET "$A_API/migrations/$ID1?wait=5&state=sleeping" "${AUTH[@]}"
rec "a phase too long" 400/invalid_query "/migrations/{id}" GET \
	"$A_API/migrations/$ID1?wait=5&phase=aaaaaaaaaaaaaaaaaaaaaaaaaaaa" "${AUTH[@]}"
rec "events limit=0" 400/invalid_query "/migrations/{id}/events" GET "$A_API/migrations/$ID1/events?limit=0" "${AUTH[@]}"
rec "events after=-1" 400/invalid_query "/migrations/{id}/events" GET "$A_API/migrations/$ID1/events?after=-1" "${AUTH[@]}"
rec "/events timeout=0" 400/invalid_query /events GET "$A_API/events?timeout=0" "${AUTH[@]}"
rec "/events after=x" 400/invalid_query /events GET "$A_API/events?after=x" "${AUTH[@]}"
rec "state=done" 400/invalid_query /migrations GET "$A_API/migrations?state=done" "${AUTH[@]}"
rec "type=lxc" 400/invalid_query /migrations GET "$A_API/migrations?type=lxc" "${AUTH[@]}"
rec "/candidates limit=0" 400/invalid_query /candidates GET "$A_API/candidates?limit=0" "${AUTH[@]}"
# 401
rec "GET /migrations without a token" 401/unauthorized /migrations GET "$A_API/migrations"
rec "GET /migrations with another token" 401/unauthorized /migrations GET "$A_API/migrations" \
	-H "Authorization: Bearer wrong-token-0123456789"
REC_BODY="{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\"}" rec "POST without a token" 401/unauthorized \
	/migrations POST "$A_API/migrations" "${JSON[@]}" --data-binary "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\"}"
unset REC_BODY
rec "GET a job without a token" 401/unauthorized "/migrations/{id}" GET "$A_API/migrations/$ID1"
rec "DELETE without a token" 401/unauthorized "/migrations/{id}" DELETE "$A_API/migrations/$ID1"
rec "events without a token" 401/unauthorized "/migrations/{id}/events" GET "$A_API/migrations/$ID1/events"
rec "logs without a token" 401/unauthorized "/migrations/{id}/logs" GET "$A_API/migrations/$ID1/logs"
rec "/events without a token" 401/unauthorized /events GET "$A_API/events?timeout=1"
rec "/metrics without a token" 401/unauthorized /metrics GET "$A_API/metrics"
rec "/candidates without a token" 401/unauthorized /candidates GET "$A_API/candidates"
for p in /migrations "/migrations/{id}" "/migrations/{id}/events" "/migrations/{id}/logs" /events /metrics \
	/candidates; do
	url=$A_API${p/\{id\}/$ID1}
	rec "PUT $p without a token" 401/unauthorized "$p" PUT "$url"
	rec "PUT $p" 405/method_not_allowed "$p" PUT "$url" "${AUTH[@]}"
done
# 403
rec "GET /migrations from a foreign Host" 403/forbidden /migrations GET "$A_API/migrations" "${AUTH[@]}" "${HOST_EVIL[@]}"
post "POST from another origin" 403/forbidden "$A_API" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\"}" \
	-H 'Origin: http://evil.example'
for p in "/migrations/{id}" "/migrations/{id}/events" "/migrations/{id}/logs" /events /metrics \
	/candidates; do
	rec "GET $p from a foreign Host" 403/forbidden "$p" GET "$A_API${p/\{id\}/$ID1}" "${AUTH[@]}" "${HOST_EVIL[@]}"
done
rec "DELETE from another origin" 403/forbidden "/migrations/{id}" DELETE "$A_API/migrations/$ID1" \
	"${AUTH[@]}" -H 'Origin: http://evil.example'
# 404
rec "GET an unknown job" 404/not_found "/migrations/{id}" GET "$A_API/migrations/$NOJOB" "${AUTH[@]}"
rec "GET a job id that is not a UUID" 404/not_found "/migrations/{id}" GET "$A_API/migrations/nope" "${AUTH[@]}"
rec "DELETE an unknown job" 404/not_found "/migrations/{id}" DELETE "$A_API/migrations/$NOJOB" "${AUTH[@]}"
rec "events of an unknown job" 404/not_found "/migrations/{id}/events" GET "$A_API/migrations/$NOJOB/events" "${AUTH[@]}"
rec "logs of an unknown job" 404/not_found "/migrations/{id}/logs" GET "$A_API/migrations/$NOJOB/logs" "${AUTH[@]}"
rec "/events of an unknown job" 404/not_found /events GET "$A_API/events?job=$NOJOB" "${AUTH[@]}"
post "a runc container the engine does not have" 404/not_found "$A_API" \
	"{\"type\":\"runc\",\"container\":\"nosuch\",\"to\":\"$B_PEER\"}"
# 413, 415
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
REC_BODY="(70000 blanks)" rec "a body over 64 KiB" 413/body_too_large /migrations POST "$A_API/migrations" \
	"${AUTH[@]}" "${JSON[@]}" --data-binary "@$T/big.json"
unset REC_BODY
REC_BODY="{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\"}" rec "a text/plain body" \
	415/unsupported_media_type /migrations POST "$A_API/migrations" "${AUTH[@]}" \
	-H 'Content-Type: text/plain' --data-binary "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\"}"
unset REC_BODY
# 422
post "an unknown type" 422/invalid_value "$A_API" "{\"type\":\"lxc\",\"pid\":$W,\"to\":\"$B_PEER\"}"
post "a to without a port" 422/invalid_value "$A_API" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"nohost\"}"
post "an unknown mode" 422/invalid_value "$A_API" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"mode\":\"fast\"}"
post "an option out of range" 422/invalid_value "$A_API" \
	"{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"options\":{\"max_iterations\":65}}"
post "a callback_url that is not http" 422/invalid_value "$A_API" \
	"{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"callback_url\":\"ftp://x/\"}"
post "lazy with new_pidns" 422/invalid_value "$A_API" \
	"{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\",\"mode\":\"lazy\",\"options\":{\"new_pidns\":true}}"
post "this daemon's own peer address" 422/invalid_value "$A_API" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$A_PEER\"}"
post "an Idempotency-Key too long" 422/invalid_value "$A_API" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"$B_PEER\"}" \
	-H "Idempotency-Key: $(printf 'k%.0s' $(seq 1 201))"
post "pid 1" 422/invalid_pid "$A_API" "{\"type\":\"pid\",\"pid\":1,\"to\":\"$B_PEER\"}"
post "a pid no process has" 422/invalid_pid "$A_API" "{\"type\":\"pid\",\"pid\":$(free_pid),\"to\":\"$B_PEER\"}"
rec "a Last-Event-ID that is no id" 422/invalid_value /events GET "$A_API/events?timeout=1" "${AUTH[@]}" \
	-H 'Last-Event-ID: x1'
expect_workload "(g) none of them touched the workload" "$W" "$T/w.status"

echo "(h) the validator"
kill "$HOOK_PID" 2>/dev/null
wait "$HOOK_PID" 2>/dev/null
cat "$T/sse1.jsonl" "$T/hook.jsonl" >>"$EX" 2>/dev/null
# What this test does not make the daemons answer, and why.
cat >"$T/unexercised.txt" <<'EOF'
* * 500 internal: the store failing, memory running out, a reply that cannot be built; a healthy daemon does not answer it
POST /migrations 503 unavailable without an engine: the daemon's main always starts one (only the unit tests have none)
EOF
note "(h) $(grep -c . "$EX") answers recorded"
started=$(now_ms)
node "$OA/validate.mjs" --spec "$SPEC" --src "$ROOT" --exchanges "$EX" --unexercised "$T/unexercised.txt" \
	>"$T/validate.out" 2>&1
rc=$?
sed 's/^/    /' "$T/validate.out"
note "(h) the validator took $(($(now_ms) - started)) ms"
if [ $rc -eq 0 ]; then
	pass "(h) every answer matches api/openapi.yaml, every documented answer was seen"
else
	fail "(h) the validator" "exit $rc: $(grep -c '  FAIL' "$T/validate.out") problem(s), listed above (answers in $EX; HAULD_TEST_KEEP=1 keeps them)"
fi
finish
