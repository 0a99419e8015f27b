#!/usr/bin/env bash
# test_33_api_edges.sh: small things a hostile or merely curious client found.
#   (a) HEAD is GET without a body (it was 405);
#   (b) an error's "field" is the offending key cut to 64 bytes, not a 60 KB echo;
#   (c) GET /migrations/ID/logs reads the tail it returns, not the whole log (a
#       50 MiB CRIU log made the daemon read 50 MiB to answer 64 KiB);
#   (d) the metrics, like every answer, are not to be cached.
#   (e) a URL over hauld's limit (8 KiB) is 414 with the JSON error naming "url",
#       and headers over theirs (16 KiB) 431 naming "headers" (libmicrohttpd's own
#       HTML 414 came instead); a URL of 1 MiB, far over libmicrohttpd's buffer,
#       is refused or cut without hurting the daemon.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
TOKEN=$(cat "$API_TOKEN_FILE")

echo "(a) HEAD"
code=$(curl -s -o "$T/head.body" -w '%{http_code}' -I -H "Authorization: Bearer $TOKEN" \
	"$A_API/healthz")
expect_eq "(a) HEAD /healthz is 200" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' -I -H "Authorization: Bearer $TOKEN" \
	"$A_API/migrations")
expect_eq "(a) HEAD /migrations is 200" "$code" 200
expect_match "(a) with the headers of the GET" "$(cat "$T/head.body")" \
	'Content-Type: application/json'

echo "(b) a long unknown key"
key=$(head -c 60000 /dev/zero | tr '\0' k)
api POST "$A_API/migrations" "{\"type\":\"pid\",\"pid\":1,\"to\":\"h:1\",\"$key\":1}" >/dev/null
expect_eq "(b) 400 unknown_field" "$HTTP_STATUS $(jget "$HTTP_BODY" .error.code)" \
	"400 unknown_field"
expect_eq "(b) field cut to 64 bytes" "$(jget "$HTTP_BODY" '.error.field | length')" 64
expect_num_ge "(b) the whole answer stays small (bytes under 2000)" \
	$((2000 - ${#HTTP_BODY})) 0

echo "(c) the tail of a big log"
W=$(start_workload w 8) || die "workload starts" "no workload"
api POST "$A_API/migrations" "{\"type\":\"pid\",\"pid\":$W,\"to\":\"127.0.0.1:$(closed_port)\"}" >/dev/null
id=$(jget "$HTTP_BODY" .id)
wait_job "$A_API" "$id" 60 >/dev/null || die "(c) job ends" "no end"
mkdir -p "$A_DATA/logs/$id"
{
	head -c $((50 << 20)) /dev/zero | tr '\0' 'x' | fold -w 99
	printf "\nthe last line\n"
} >"$A_DATA/logs/$id/dump.log"
before=$(awk '/^rchar/ { print $2 }' "/proc/$A_PID/io")
api GET "$A_API/migrations/$id/logs" >/dev/null
after=$(awk '/^rchar/ { print $2 }' "/proc/$A_PID/io")
read_kib=$(((after - before) / 1024))
note "(c) the daemon read $read_kib KiB to answer"
expect_eq "(c) the log's last line is there" \
	"$(jget "$HTTP_BODY" '.logs[] | select(.name == "dump.log") | .text' | grep -v '^$' | tail -n 1)" "the last line"
expect_eq "(c) marked truncated, its size the file's" \
	"$(jget "$HTTP_BODY" '.logs[] | select(.name == "dump.log") | [.truncated, .size] | map(tostring) | join(" ")')" \
	"true $(stat -c %s "$A_DATA/logs/$id/dump.log")"
expect_true "(c) it read about the tail, not the file (KiB read under 1024)" test "$read_kib" -lt 1024

echo "(d) metrics"
hdr=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $TOKEN" "$A_API/metrics" | tr -d '\r')
expect_match "(d) Cache-Control: no-store" "$hdr" 'Cache-Control: no-store'

echo "(e) a URL or headers over the limit"
MAX_URL=8192 MAX_HEADERS=16384
# pad N: the URL of /healthz whose request target is N bytes long.
pad() {
	printf '%s/healthz?pad=%s' "$A_API" "$(head -c $(($1 - 13)) /dev/zero | tr '\0' p)"
}
api GET "$(pad $MAX_URL)" >/dev/null
expect_eq "(e) a target of exactly $MAX_URL bytes is answered (200)" "$HTTP_STATUS" 200
api GET "$(pad $((MAX_URL + 1)))" >/dev/null
expect_eq "(e) one byte more is 414 uri_too_long, field url" \
	"$HTTP_STATUS $(jget "$HTTP_BODY" .error.code) $(jget "$HTTP_BODY" .error.field)" \
	"414 uri_too_long url"
expect_match "(e) as JSON" "$(tr -d '\r' <"$T/.http.hdr")" '^Content-Type: application/json$'
api GET "$(pad 40000)" >/dev/null
expect_eq "(e) 40000 bytes, still in libmicrohttpd's buffer, is the same JSON 414" \
	"$HTTP_STATUS $(jget "$HTTP_BODY" .error.field)" "414 url"
# Host, User-Agent and Accept, as curl sends them, take under 100 bytes.
big=$(head -c $((MAX_HEADERS - 100)) /dev/zero | tr '\0' h)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Pad: $big" "$A_API/healthz")
expect_eq "(e) headers under $MAX_HEADERS bytes are answered (200)" "$code" 200
big=$(head -c $((MAX_HEADERS + 1)) /dev/zero | tr '\0' h)
code=$(curl -s -o "$T/hdr.body" -D "$T/hdr.hdr" -w '%{http_code}' -H "X-Pad: $big" \
	"$A_API/healthz")
expect_eq "(e) one header over $MAX_HEADERS bytes is 431 headers_too_large, field headers" \
	"$code $(jget "$(cat "$T/hdr.body")" .error.code) $(jget "$(cat "$T/hdr.body")" .error.field)" \
	"431 headers_too_large headers"
expect_match "(e) as JSON" "$(tr -d '\r' <"$T/hdr.hdr")" '^Content-Type: application/json$'
# 1 MiB is over what libmicrohttpd holds of a request (64 KiB): it answers that
# itself, or the connection is cut while we still send; either way the daemon lives.
got=$(/usr/bin/python3 - "${A_API##*:}" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
req = b"GET /healthz?pad=" + b"p" * (1 << 20) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
try:
    s.sendall(req)
except OSError:
    pass
data = b""
try:
    while len(data) < 65536:
        b = s.recv(65536)
        if not b:
            break
        data += b
except OSError:
    pass
line = data.split(b"\r\n", 1)[0].decode("latin-1")
print(line.split(" ")[1] if line.startswith("HTTP/") else "closed")
PYEOF
)
note "(e) 1 MiB URL: $got"
expect_match "(e) a 1 MiB URL is closed or a 4xx" "$got" '^(closed|4[0-9][0-9])$'
expect_true "(e) the daemon still runs" kill -0 "$A_PID"
code=$(curl -s -o /dev/null -w '%{http_code}' "$A_API/healthz")
expect_eq "(e) and /healthz answers after it" "$code" 200
finish
