#!/usr/bin/env bash
# test_33_api_edges.sh: small things a hostile or merely curious client found.
#   (a) HEAD is GET without a body (it was 405);
#   (b) an error's "field" is the offending key cut to 64 bytes, not a 60 KB echo;
#   (c) GET /migrations/ID/logs reads the tail it returns, not the whole log (a
#       50 MiB CRIU log made the daemon read 50 MiB to answer 64 KiB);
#   (d) the metrics, like every answer, are not to be cached.
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
finish
