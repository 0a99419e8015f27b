#!/usr/bin/env bash
# test_25_access.sh: who may use the API.
#   (a) a daemon whose API others could reach (not loopback) will not start without a
#       token;
#   (b) with a token every request but GET /healthz needs it: none and a wrong one
#       get 401 with the JSON error and WWW-Authenticate, the right one passes;
#   (c) on loopback without a token, what a web page in a browser on the host can
#       send is refused: a form post (not JSON), a request from another origin, a
#       Host that is not the daemon's (DNS rebinding); curl's own requests pass;
#   (d) HTTPS with --tls-cert and --tls-key: the API answers over TLS, verified
#       against its certificate, and not in the clear.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

make_secret "$T/secret"
TOKEN=$(cat "$API_TOKEN_FILE")

# req URL CURL_ARGS...: status code of one request, body in $T/.body, headers in
# $T/.hdr (no token unless given).
req() {
	local url=$1
	shift
	curl -s -g --max-time 10 -o "$T/.body" -D "$T/.hdr" -w '%{http_code}' "$@" "$url"
}

echo "(a) not loopback, no token"
setup_netns || die "network namespaces" "setup_netns failed"
mkdir -p "$T/A0"
if timeout 10 nsenter "--net=/run/netns/$NS_A" -- "$BUILD/hauld" --listen "$ADDR_A:0" \
	--peer-listen "$ADDR_A:0" --data-dir "$T/A0" --secret-file "$T/secret" >"$T/A0.log" 2>&1; then
	fail "(a) refuses to start" "it ran"
else
	pass "(a) refuses to start"
fi
expect_match "(a) says what to do" "$(cat "$T/A0.log")" 'api-token-file'

echo "(b) a token"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
expect_eq "(b) no token: 401" "$(in_netns "$NS_A" curl -s -o "$T/.body" -w '%{http_code}' "$A_API/migrations")" 401
expect_eq "(b) ... as the JSON error" "$(jq -r .error.code "$T/.body")" unauthorized
st=$(in_netns "$NS_A" curl -s -D "$T/.hdr" -o "$T/.body" -w '%{http_code}' -H "Authorization: Bearer wrong-token-0123456789" "$A_API/migrations")
expect_eq "(b) a wrong token: 401" "$st" 401
expect_match "(b) ... asking for a bearer token" "$(tr -d '\r' <"$T/.hdr")" '^WWW-Authenticate: Bearer'
st=$(in_netns "$NS_A" curl -s -o "$T/.body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$A_API/migrations")
expect_eq "(b) the token: 200" "$st" 200
expect_eq "(b) /healthz needs none" "$(in_netns "$NS_A" curl -s -o /dev/null -w '%{http_code}' "$A_API/healthz")" 200
st=$(in_netns "$NS_A" curl -s -o "$T/.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	-d '{"type":"pid","pid":1,"to":"h:1"}' "$A_API/migrations")
expect_eq "(b) a POST without it: 401" "$st" 401

echo "(c) on loopback, what a browser page may send"
HAULD_NO_TOKEN=1 start_hauld L --secret-file "$T/secret" || die "daemon L starts" "see $T/L.log"
PORT=${L_API##*:}
W=$(start_workload w 16) || die "workload starts" "no workload"
body="{\"type\":\"pid\",\"pid\":$W,\"to\":\"127.0.0.1:1\"}"
expect_eq "(c) GET without a token: 200" "$(req "$L_API/migrations")" 200
# What a cross-site HTML form sends: no JSON content type, another origin.
st=$(req "$L_API/migrations" -X POST -H 'Origin: http://evil.example' \
	-H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$body")
expect_eq "(c) a cross-origin form post: refused" "$st" 403
st=$(req "$L_API/migrations" -X POST -H 'Content-Type: text/plain' --data-binary "$body")
expect_eq "(c) a text/plain post (no preflight in a browser): 415" "$st" 415
expect_eq "(c) ... the JSON error" "$(jq -r .error.code "$T/.body")" unsupported_media_type
st=$(req "$L_API/migrations" -X POST -H 'Origin: http://evil.example' \
	-H 'Content-Type: application/json' --data-binary "$body")
expect_eq "(c) JSON from another origin: 403" "$st" 403
st=$(req "$L_API/migrations" -H "Host: evil.example:$PORT")
expect_eq "(c) a foreign Host (DNS rebinding): 403" "$st" 403
expect_eq "(c) nothing was started" "$(api GET "$L_API/migrations" | jq '.migrations | length')" 0
st=$(req "$L_API/migrations" -X POST -H "Origin: http://localhost:$PORT" \
	-H 'Content-Type: application/json' --data-binary "$body")
expect_eq "(c) from its own origin: accepted" "$st" 202
expect_eq "(c) curl without Origin: accepted" "$(req "$L_API/migrations" -X POST \
	-H 'Content-Type: application/json' --data-binary "{\"type\":\"pid\",\"pid\":1,\"to\":\"h:1\"}")" 422
expect_workload "(c) the workload runs (its job fails: no peer at port 1)" "$W" "$T/w.status"

echo "(d) HTTPS"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls.key" -out "$T/tls.crt" -days 2 \
	-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1 ||
	die "(d) a certificate" "openssl failed"
HAULD_NO_TOKEN=1 start_hauld S --secret-file "$T/secret" --tls-cert "$T/tls.crt" \
	--tls-key "$T/tls.key" || die "daemon S starts" "see $T/S.log"
HTTPS=https://${S_API#http://}
expect_eq "(d) answers over TLS, verified" "$(req "$HTTPS/healthz" --cacert "$T/tls.crt")" 200
expect_eq "(d) ... with its JSON" "$(jq -r .status "$T/.body")" ok
expect_eq "(d) not in the clear" "$(req "$S_API/healthz")" 000
finish
