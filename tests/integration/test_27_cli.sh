#!/usr/bin/env bash
# test_27_cli.sh: haul, the command-line client, against real daemons moving a real
# workload, each outcome checked on the process itself and in the daemons' jobs:
#   (a) haul migrate PID --to B --wait exits 0 once the process runs at B (the
#       result pid, its memory intact); off a terminal the progress is one plain
#       line per event, every event of the job once and in order, phases included;
#   (b) --json: the final job on stdout, one document jq reads;
#   (c) ls, show (by an id's beginning) and logs show the job; errors of ids;
#   (d) failures and their exit statuses: a closed destination port 1 (the error
#       code printed, the process still at the source), a wrong or missing token 3
#       (the 401 message), an unreachable API 4 after the POST's retries, a cancel
#       of an ended job 3 (409), usage errors 2, a refused POST 3 naming the field;
#   (e) where the settings come from: HAUL_API and HAUL_TOKEN_FILE, HAUL_CONFIG's
#       file (relative paths beside it), ~/.config/haul/config, flag over
#       environment over file, HAUL_TOKEN over HAUL_TOKEN_FILE, a bad file;
#   (f) on a terminal (script(1)) the progress line is redrawn in place; without
#       --wait only the id is printed, and a given Idempotency-Key replays its job;
#   (g) SIGINT while following: exit 130, the job id said, the migration goes on;
#   (h) cancel --wait during a held preflight: cancelled, the process runs on;
#   (i) watch prints the events until interrupted (exit 0), as JSON lines too;
#   (j) through a proxy that loses the first POST's answer and refuses the second
#       (503), and cuts the event stream in the middle of an event: one job only,
#       the same Idempotency-Key each time, the stream resumed with Last-Event-ID
#       without losing or repeating an event, the migration done;
#   (k) https with --cacert (and without: exit 4 saying so);
#   (l) under valgrind: no error and no leak in the commands.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

# HAUL=PATH tests another build of the client (one with sanitizers, say).
HAUL=${HAUL:-$BUILD/haul}
[ -x "$HAUL" ] || die "haul is built" "$HAUL missing (make)"
command -v script >/dev/null || die "script(1) is installed" "util-linux's script is missing"
MIB=16
EVENT_RE='^ *\+[0-9]+\.[0-9]{3}s +([a-z]+) +(.*)$'

# Nothing of this machine's own haul configuration may leak into the test.
unset HAUL_API HAUL_TOKEN HAUL_TOKEN_FILE HAUL_CACERT XDG_CONFIG_HOME
mkdir -p "$T/home"
: >"$T/empty.conf"
export HAUL_CONFIG=$T/empty.conf

# h ARGS...: haul, its output in $T/h.out and $T/h.err; sets RC, OUT and ERR.
# Variables given on the call (HAUL_API=... h ls) reach it.
h() {
	HOME=$T/home "$HAUL" "$@" >"$T/h.out" 2>"$T/h.err"
	RC=$?
	OUT=$(cat "$T/h.out")
	ERR=$(cat "$T/h.err")
}
ha() { h --api "$A_API" --token-file "$API_TOKEN_FILE" "$@"; }
hb() { h --api "$B_API" --token-file "$API_TOKEN_FILE" "$@"; }

# The kinds of a job's events as the daemon keeps them, up to its final state event.
api_kinds() {
	api GET "$1/migrations/$2/events" >/dev/null
	jget "$HTTP_BODY" '.events | .[: (map(.kind == "state" and
		(.state | IN("succeeded", "failed", "cancelled"))) | index(true)) + 1] |
		map(.kind) | join(" ")'
}
# The kinds of the plain event lines in FILE, as haul printed them.
haul_kinds() {
	sed -En "s/$EVENT_RE/\\1/p" "$1" | tr '\n' ' ' | sed 's/ $//'
}
# The job id haul announced on stderr (FILE).
announced_id() {
	sed -n 's/^haul: job \([0-9a-f-]\{36\}\) accepted.*/\1/p' "$1" | head -n 1
}
# flat TEXT: TEXT on one line, its line ends as '~', for a pattern over several lines
# (grep takes a pattern's line break as "or").
flat() {
	printf '%s' "$1" | tr '\n' '~'
}
# expect_rc NAME WANT: RC of the last h call, with its stderr when it differs.
expect_rc() {
	if [ "$RC" = "$2" ]; then pass "$1"; return 0; fi
	fail "$1" "exit status $RC, want $2; stderr: $(head -c 600 "$T/h.err")"
	return 1
}

make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"
note "workload pid $W, A at $A_API (peer $A_PEER), B at $B_API (peer $B_PEER)"

echo "(a) migrate --wait, off a terminal"
before=$(status_field "$T/w.status" counter)
ha migrate "$W" --to "$B_PEER" --wait
cp "$T/h.err" "$T/a.err"
expect_rc "(a) exit 0 when the migration succeeded" 0
ID1=$(announced_id "$T/a.err")
[[ "$ID1" =~ ^[0-9a-f-]{36}$ ]] || die "(a) the job id is announced" "stderr: $ERR"
json=$(wait_job "$A_API" "$ID1" 10) || die "(a) the job has ended" "$json"
expect_eq "(a) the daemon says succeeded" "$(jget "$json" .state)" succeeded
P1=$(jget "$json" .result.pid)
track_pid "$P1"
expect_workload "(a) result.pid $P1 is the running workload" "$P1" "$T/w.status" ||
	die "(a) workload at B" "the rest needs it"
expect_true "(a) the source pid is gone" wait_for 10 pid_gone "$W"
check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
	"(a) the workload counts on at B, memory intact"
expect_num_ge "(a) it counted past where it was" "$(status_field "$T/w.status" counter)" "$before"
expect_match "(a) the summary says succeeded and where it runs" "$(flat "$OUT")" \
	"^succeeded +job $ID1~  runs at +$B_PEER as pid $P1~"
expect_match "(a) ... with downtime, total and bytes" "$(flat "$OUT")" \
	'~  downtime +[0-9.]+ m?s~  total +[0-9.]+ m?s~  moved +[0-9.]+ MiB$'
expect_eq "(a) plain lines: every event of the job once, in order" "$(haul_kinds "$T/a.err")" \
	"$(api_kinds "$A_API" "$ID1")"
expect_eq "(a) the phases, one line each" \
	"$(sed -En "s/$EVENT_RE/\\1 \\2/p" "$T/a.err" | awk '$1 == "phase" { print $2 }' | tr '\n' ' ')" \
	"connecting preflight dumping transferring restoring committing "
expect_eq "(a) no carriage return off a terminal" "$(grep -c $'\r' "$T/a.err")" 0

echo "(b) --json --wait"
hb --json migrate "$P1" --to "$A_PEER" --wait
expect_rc "(b) exit 0" 0
expect_eq "(b) stdout is one JSON document" "$(jq -s length "$T/h.out" 2>/dev/null)" 1
ID2=$(jq -r .id "$T/h.out" 2>/dev/null)
expect_eq "(b) the final job: succeeded" "$(jq -r .state "$T/h.out" 2>/dev/null)" succeeded
P2=$(jq -r .result.pid "$T/h.out" 2>/dev/null)
track_pid "$P2"
api GET "$B_API/migrations/$ID2" >/dev/null
expect_eq "(b) ... as the daemon has it" "$(jget "$HTTP_BODY" .result.pid)" "$P2"
expect_num_ge "(b) ... with its iterations" "$(jq '.stats.iterations | length' "$T/h.out")" 1
expect_workload "(b) result.pid $P2 is the running workload" "$P2" "$T/w.status" ||
	die "(b) workload at A" "the rest needs it"

echo "(c) ls, show, logs"
ha ls
expect_rc "(c) ls exits 0" 0
expect_match "(c) ls has a header" "$OUT" '^ID +TYPE +ROLE +TARGET +PEER +STATE +PHASE +DOWNTIME +AGE'
expect_match "(c) ls shows the job" "$OUT" \
	"${ID1:0:8} +pid +source +$W +$B_PEER +succeeded +done +[0-9.]+ m?s"
expect_match "(c) ... and the one that came back" "$OUT" "${ID2:0:8} +pid +destination +$P1 "
ha ls --state failed
expect_eq "(c) ls --state failed leaves it out" "$(grep -c "${ID1:0:8}" "$T/h.out")" 0
ha --json ls --limit 1
expect_eq "(c) ls --json --limit 1: the newest job" "$(jq -r '.migrations | length, .[0].id' "$T/h.out" | tr '\n' ' ')" \
	"1 $ID2 "
ha show "${ID1:0:8}"
expect_rc "(c) show by the beginning of the id" 0
expect_match "(c) show: the job in full" "$OUT" "^job +$ID1"
expect_match "(c) show: state and result" "$(flat "$OUT")" \
	"~state +succeeded \(phase done\)~.*~result +pid $P1~"
expect_match "(c) show: its dump iteration" "$(flat "$OUT")" '~iterations~ +0 dump +[0-9]+ pages'
ha --json show "$ID1"
expect_eq "(c) show --json is the API's job" "$(jq -r .result.pid "$T/h.out")" "$P1"
ha logs "${ID1:0:13}"
expect_rc "(c) logs exits 0" 0
expect_match "(c) logs: the source's dump.log under its header" "$OUT" '==> source: dump.log \('
expect_match "(c) logs: the destination's restore.log" "$OUT" '==> destination: restore.log \('
ha show 00000000-0000-4000-8000-000000000000
expect_rc "(c) show of an unknown job: exit 3" 3
expect_match "(c) ... with the API's 404" "$ERR" '404 not_found'
ha show Zz
expect_rc "(c) show of something that is no id: exit 2" 2
ha show ""
expect_rc "(c) show of an empty id: exit 2" 2
ha health
expect_rc "(c) health exits 0 on a healthy daemon" 0
expect_match "(c) health says ok and CRIU's version" "$(flat "$OUT")" '^status +ok~.*~criu +[0-9]+\.[0-9]+'
ha --json health
expect_eq "(c) health --json" "$(jq -r .status "$T/h.out")" ok

echo "(d) failures and exit statuses"
ha migrate "$P2" --to "127.0.0.1:$(closed_port)" --wait
expect_rc "(d) a closed destination port: exit 1" 1
ID_FAIL=$(announced_id "$T/h.err")
expect_match "(d) ... the error code printed" "$(flat "$OUT")" '^failed +job [0-9a-f-]+~  error +peer_unreachable'
expect_match "(d) ... and where the process is" "$OUT" 'process at +source'
expect_workload "(d) ... and it still runs at the source" "$P2" "$T/w.status"
echo wrong-token-0123456789abcdef >"$T/wrong.token"
h --api "$A_API" --token-file "$T/wrong.token" ls
expect_rc "(d) a wrong token: exit 3" 3
expect_match "(d) ... with the 401 message" "$ERR" '401 unauthorized: wrong token'
h --api "$A_API" ls
expect_rc "(d) no token: exit 3" 3
expect_match "(d) ... saying the API needs one" "$ERR" '401 unauthorized: this API needs a token'
h --api "http://127.0.0.1:$(closed_port)" ls
expect_rc "(d) an unreachable API: exit 4" 4
expect_match "(d) ... saying so" "$ERR" 'cannot reach hauld at http://127\.0\.0\.1'
h --api "http://127.0.0.1:$(closed_port)" migrate "$P2" --to "$B_PEER"
expect_rc "(d) a POST that cannot reach the API: exit 4" 4
expect_eq "(d) ... after 4 retries under the same key" \
	"$(grep -c 'sending it again in [0-9.]* s under the same Idempotency-Key' "$T/h.err")" 4
ha cancel "$ID1"
expect_rc "(d) cancel of an ended job: exit 3" 3
expect_match "(d) ... with the 409 conflict" "$ERR" '409 conflict: cannot cancel: the migration has already ended'
ha migrate web1 --to "$B_PEER"
expect_rc "(d) a container without --type: exit 2" 2
expect_match "(d) ... asking for --type" "$ERR" 'add --type docker, podman or runc'
ha migrate "$P2"
expect_rc "(d) no --to: exit 2" 2
ha migrate "$P2" --to "$B_PEER" --mode fast
expect_rc "(d) an unknown mode: exit 2" 2
ha migrate "$P2" --to "$B_PEER" --option =1
expect_rc "(d) an --option without KEY: exit 2" 2
ha ls --limit 0
expect_rc "(d) ls --limit 0: exit 2" 2
h frobnicate
expect_rc "(d) an unknown command: exit 2" 2
h --bogus ls
expect_rc "(d) an unknown option: exit 2" 2
ha migrate "$P2" --to "$B_PEER" --option no_such_option=true
expect_rc "(d) an option the API does not know: exit 3" 3
expect_match "(d) ... naming it" "$ERR" '400 unknown_field.*field "options.no_such_option"'
ha migrate "$(free_pid)" --to "$B_PEER"
expect_rc "(d) a pid that does not exist: exit 3" 3
expect_match "(d) ... the API's message and field" "$ERR" '422 invalid_pid: .*\(field "pid"\)'
h --api ftp://127.0.0.1 ls
expect_rc "(d) an API URL that is not http(s): exit 2" 2

echo "(e) settings: flags, environment, configuration file"
# ID_FAIL, the job that failed in (d), is A's alone: B answers 404 for it.
HAUL_API=$A_API HAUL_TOKEN_FILE=$API_TOKEN_FILE h show "$ID_FAIL"
expect_rc "(e) HAUL_API and HAUL_TOKEN_FILE" 0
HAUL_API=$A_API HAUL_TOKEN=$(cat "$API_TOKEN_FILE") h show "$ID_FAIL"
expect_rc "(e) HAUL_TOKEN" 0
HAUL_API=$A_API HAUL_TOKEN=wrong-token-0123456789 HAUL_TOKEN_FILE=$API_TOKEN_FILE h show "$ID_FAIL"
expect_rc "(e) HAUL_TOKEN wins over HAUL_TOKEN_FILE" 3
mkdir -p "$T/conf"
cp "$API_TOKEN_FILE" "$T/conf/token"
printf '# haul, for the test\napi = %s   # daemon A\ntoken_file = token\n' "$A_API" >"$T/conf/haul.conf"
HAUL_CONFIG=$T/conf/haul.conf h show "$ID_FAIL"
expect_rc "(e) HAUL_CONFIG's file, token_file beside it" 0
expect_match "(e) ... the job from A" "$OUT" "^job +$ID_FAIL"
HAUL_CONFIG=$T/conf/haul.conf HAUL_API=$B_API h show "$ID_FAIL"
expect_rc "(e) HAUL_API wins over the file (B: 404, exit 3)" 3
expect_match "(e) ... B answered" "$ERR" '404 not_found'
HAUL_CONFIG=$T/conf/haul.conf HAUL_API=$B_API h --api "$A_API" show "$ID_FAIL"
expect_rc "(e) --api wins over HAUL_API" 0
HAUL_CONFIG=$T/conf/haul.conf h --token-file "$T/wrong.token" show "$ID_FAIL"
expect_rc "(e) --token-file wins over the file's" 3
mkdir -p "$T/home/.config/haul"
printf 'api = %s\ntoken_file = %s\n' "$B_API" "$API_TOKEN_FILE" >"$T/home/.config/haul/config"
HAUL_CONFIG="" h show "$ID2"
expect_rc "(e) without HAUL_CONFIG: ~/.config/haul/config" 0
expect_match "(e) ... which points at B (where the job is the source's)" "$(flat "$OUT")" \
	"^job +$ID2~type +pid, role source~"
printf 'api = %s\nurl = x\n' "$A_API" >"$T/conf/bad.conf"
HAUL_CONFIG=$T/conf/bad.conf h ls
expect_rc "(e) a bad configuration file: exit 2" 2
expect_match "(e) ... naming the file, the line and the key" "$ERR" "bad.conf: line 2: unknown key 'url'"
HAUL_CONFIG=$T/conf/missing.conf h ls
expect_rc "(e) a HAUL_CONFIG that does not exist: exit 2" 2

echo "(f) on a terminal; without --wait; a given Idempotency-Key"
env HOME="$T/home" script -qec "$(printf '%q ' "$HAUL" --api "$A_API" --token-file \
	"$API_TOKEN_FILE" migrate "$P2" --to "$B_PEER" --wait)" /dev/null >"$T/tty.out" 2>&1
RC=$?
expect_rc "(f) exit 0 under a terminal" 0
expect_num_ge "(f) the progress line is redrawn in place (carriage returns)" \
	"$(tr -cd '\r' <"$T/tty.out" | wc -c)" 5
expect_true "(f) a redraw shows a phase with its bar" grep -qaE \
	$'\r''[|/\\-] (dumping|transferring|restoring|committing) +\[#+-*\] [0-9]/7' "$T/tty.out"
expect_true "(f) ... erased before the summary" grep -qa $'\r\033\\[Ksucceeded ' "$T/tty.out"
ID3=$(tr -d '\r' <"$T/tty.out" | sed -n 's/.*succeeded *job \([0-9a-f-]\{36\}\).*/\1/p')
json=$(wait_job "$A_API" "$ID3" 10) || die "(f) the job has ended" "$json"
P3=$(jget "$json" .result.pid)
track_pid "$P3"
expect_workload "(f) result.pid $P3 is the running workload" "$P3" "$T/w.status" ||
	die "(f) workload at B" "the rest needs it"
KEY="haul-test-$(date +%s%N)"
hb migrate "$P3" --to "$A_PEER" --idempotency-key "$KEY"
expect_rc "(f) without --wait: exit 0" 0
ID4=$OUT
expect_true "(f) ... stdout is the job id alone" bash -c "[[ '$OUT' =~ ^[0-9a-f-]{36}\$ ]]"
json=$(wait_job "$B_API" "$ID4" 120) || die "(f) the job ends" "$json"
expect_eq "(f) ... and the job runs on to success" "$(jget "$json" .state)" succeeded
P4=$(jget "$json" .result.pid)
track_pid "$P4"
hb migrate "$P3" --to "$A_PEER" --idempotency-key "$KEY"
expect_eq "(f) the same key again: the same job" "$RC $OUT" "0 $ID4"
expect_match "(f) ... said to be a replay" "$ERR" "Idempotency-Key $KEY had started job $ID4 already"
expect_workload "(f) result.pid $P4 is the running workload" "$P4" "$T/w.status" ||
	die "(f) workload at A" "the rest needs it"

echo "(g) SIGINT while following"
# Every job of A now waits 3 s in its preflight, time to act while it runs.
HAULD_FAULT=pause:preflight restart_hauld A || die "(g) A restarts holding preflights" "see $T/A.log"
HOME=$T/home "$HAUL" --api "$A_API" --token-file "$API_TOKEN_FILE" migrate "$P4" --to "$B_PEER" \
	--wait >"$T/g.out" 2>"$T/g.err" &
HP=$!
wait_for 20 grep -qE 'phase +preflight' "$T/g.err" || fail "(g) haul follows into preflight" "$(cat "$T/g.err")"
kill -INT "$HP"
wait "$HP"
RC=$?
expect_eq "(g) SIGINT: exit 130" "$RC" 130
ID5=$(announced_id "$T/g.err")
expect_match "(g) ... saying the migration goes on, with its id" "$(cat "$T/g.err")" \
	"stopped following job $ID5; the migration goes on"
json=$(wait_job "$A_API" "$ID5" 120) || die "(g) the job ends" "$json"
expect_eq "(g) the migration went on to success" "$(jget "$json" .state)" succeeded
P5=$(jget "$json" .result.pid)
track_pid "$P5"
expect_workload "(g) result.pid $P5 is the running workload" "$P5" "$T/w.status" ||
	die "(g) workload at B" "the rest needs it"
check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
	"(g) the workload counts on at B, memory intact"
hb --json migrate "$P5" --to "$A_PEER" --wait
expect_rc "(g) back to A" 0
P6=$(jq -r .result.pid "$T/h.out")
track_pid "$P6"
expect_workload "(g) result.pid $P6 is the running workload" "$P6" "$T/w.status" ||
	die "(g) workload at A" "the rest needs it"

echo "(h) cancel --wait"
ha migrate "$P6" --to "$B_PEER"
ID6=$OUT
expect_rc "(h) a migration that waits in preflight" 0
ha cancel "${ID6:0:8}" --wait
expect_rc "(h) cancel --wait: exit 0 once it ended cancelled" 0
expect_match "(h) ... said: accepted, then the outcome" "$(flat "$OUT")" \
	"^job $ID6: cancel accepted in phase (queued|connecting|preflight);.*~cancelled +job $ID6~"
expect_match "(h) ... its plain event lines show the rollback" "$ERR" 'phase +rollback'
api GET "$A_API/migrations/$ID6" >/dev/null
expect_eq "(h) the daemon says cancelled, the process at the source" \
	"$(jget "$HTTP_BODY" '.state + " " + .error.process_at')" "cancelled source"
expect_workload "(h) the workload runs on at A as $P6" "$P6" "$T/w.status"

echo "(i) watch"
HOME=$T/home "$HAUL" --api "$A_API" --token-file "$API_TOKEN_FILE" --json watch >"$T/watch.json" \
	2>"$T/watch.err" &
WJ=$!
HOME=$T/home "$HAUL" --api "$A_API" --token-file "$API_TOKEN_FILE" watch --job "${ID6:0:8}" \
	>"$T/watch.txt" 2>&1 &
WT=$!
sleep 1   # the streams open before the job below exists
ha migrate "$P6" --to "127.0.0.1:$(closed_port)"
ID7=$OUT
wait_for 30 grep -q "\"job\":\"$ID7\".*\"state\":\"failed\"" "$T/watch.json" || fail "(i) watch --json sees the job fail" "$(tail -n 3 "$T/watch.json")"
wait_for 10 grep -q 'state .*cancelled' "$T/watch.txt" ||
	fail "(i) watch --job replays the cancelled job" "$(cat "$T/watch.txt")"
kill -INT "$WJ" "$WT"
wait "$WJ"
expect_eq "(i) watch ends with exit 0 when interrupted" "$?" 0
wait "$WT"
expect_eq "(i) watch --job too" "$?" 0
expect_eq "(i) --json: one JSON object a line" "$(jq -s 'map(type) | unique | join(" ")' -r "$T/watch.json")" object
api GET "$A_API/migrations/$ID7/events" >/dev/null
expect_eq "(i) ... every event of the new job, as the daemon keeps them" \
	"$(jq -r "select(.job == \"$ID7\") | .id" "$T/watch.json" | tr '\n' ' ')" \
	"$(jget "$HTTP_BODY" '.events | map(.id | tostring) | join(" ")') "
expect_match "(i) watch --job: a line per event with time, job and kind" "$(cat "$T/watch.txt")" \
	"^[0-9T:.-]+Z +${ID6:0:8} +state +queued"
expect_eq "(i) ... only that job's" "$(grep -vc "${ID6:0:8}" "$T/watch.txt")" 0

echo "(j) retries and a broken stream, through a proxy"
/usr/bin/python3 - "${A_API#http://}" "$T/proxy.port" "$T/proxy.jsonl" <<'PYEOF' &
# A proxy in front of daemon A that loses the answer to the first POST (the daemon
# got it), answers the second 503 itself, and cuts the first event stream in the
# middle of its fourth event. One request per connection.
import json, re, socket, socketserver, sys, threading
host, port = sys.argv[1].rsplit(":", 1)
lock = threading.Lock()
count = {"POST": 0, "events": 0}

def log(rec):
    with lock, open(sys.argv[3], "a") as f:
        f.write(json.dumps(rec) + "\n")

class H(socketserver.BaseRequestHandler):
    def handle(self):
        c = self.request
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        while len(body) < int(hdrs.get("content-length", "0")):
            body += c.recv(65536)
        method, path = lines[0].split(" ")[:2]
        kind = "POST" if method == "POST" else "events" if path.startswith("/events") else None
        with lock:
            n = count[kind] = count[kind] + 1 if kind else 0
        log({"method": method, "path": path, "n": n,
             "key": hdrs.get("idempotency-key"), "last_event_id": hdrs.get("last-event-id")})
        if kind == "POST" and n == 2:
            msg = b'{"error":{"code":"unavailable","message":"proxy: not now","field":null}}'
            c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(msg), msg))
            return
        u = socket.create_connection((host, int(port)))
        u.sendall(("\r\n".join(lines) + "\r\nConnection: close\r\n\r\n").encode("latin-1") + body)
        cut = kind == "events" and n == 1
        got, sent = b"", 0
        while True:
            d = u.recv(65536)
            if not d:
                break
            if kind == "POST" and n == 1:
                got += d
                continue            # the daemon answers; the answer is lost
            if not cut:
                c.sendall(d)
                continue
            got += d
            starts = [m.start() for m in re.finditer(rb"(?m)^id: ", got)]
            if len(starts) < 4:
                c.sendall(got[sent:])
                sent = len(got)
            elif len(got) >= starts[3] + 12:
                c.sendall(got[sent:starts[3] + 12])
                ids = re.findall(rb"(?m)^id: (\d+)", got)
                log({"cut": True, "complete": [int(i) for i in ids[:3]]})
                break
        if kind == "POST" and n == 1:
            log({"lost": got.split(b"\r\n")[0].decode()})
        u.close()

socketserver.ThreadingTCPServer.allow_reuse_address = True
s = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()
PYEOF
PROXY=$!
remember proc "$PROXY"
wait_for 10 test -s "$T/proxy.port" || die "(j) the proxy starts" "no port"
ha ls --limit 500 --json
jobs_before=$(jq -c '[.migrations[].id]' "$T/h.out")
h --api "http://127.0.0.1:$(cat "$T/proxy.port")" --token-file "$API_TOKEN_FILE" \
	migrate "$P6" --to "$B_PEER" --wait
cp "$T/h.err" "$T/j.err"
J_OUT=$OUT
expect_rc "(j) through the proxy: exit 0" 0
ID8=$(announced_id "$T/j.err")
expect_eq "(j) the answer to the first POST was lost, the second refused: two retries" \
	"$(grep -c 'sending it again in' "$T/j.err")" 2
expect_match "(j) ... the first attempt had started the job" "$(cat "$T/j.err")" \
	"an earlier attempt had reached the daemon: job $ID8 was started once"
expect_eq "(j) three POSTs, one Idempotency-Key" \
	"$(jq -r 'select(.method == "POST") | .key' "$T/proxy.jsonl" | sort -u | wc -l) $(jq -r 'select(.method == "POST") | .n' "$T/proxy.jsonl" | tr '\n' ' ')" \
	"1 1 2 3 "
expect_match "(j) the daemon had answered the lost one with 202" \
	"$(jq -r 'select(.lost) | .lost' "$T/proxy.jsonl")" '^HTTP/1.1 202'
ha ls --limit 500 --json
expect_eq "(j) one job was started" \
	"$(jq -r --argjson old "$jobs_before" '[.migrations[] | select(.role == "source" and (.id | IN($old[]) | not)) | .id] | join(" ")' "$T/h.out")" \
	"$ID8"
cut_last=$(jq -r 'select(.cut) | .complete[2]' "$T/proxy.jsonl")
expect_eq "(j) the stream was cut and resumed after the last whole event" \
	"$(jq -r 'select(.path // "" | startswith("/events")) | .last_event_id // "none"' "$T/proxy.jsonl" | tr '\n' ' ')" \
	"none $cut_last "
expect_match "(j) ... haul said so" "$(cat "$T/j.err")" 'the event stream ended.*following again'
expect_eq "(j) every event of the job once, in order, across the cut" "$(haul_kinds "$T/j.err")" \
	"$(api_kinds "$A_API" "$ID8")"
json=$(wait_job "$A_API" "$ID8" 10) || die "(j) the job ended" "$json"
P7=$(jget "$json" .result.pid)
track_pid "$P7"
expect_match "(j) the summary names the result" "$J_OUT" "runs at +$B_PEER as pid $P7"
expect_workload "(j) result.pid $P7 is the running workload" "$P7" "$T/w.status"
check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
	"(j) the workload counts on at B, memory intact"
kill "$PROXY" 2>/dev/null

echo "(k) https"
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls.key" -out "$T/tls.crt" -days 2 \
	-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1; then
	HAULD_NO_TOKEN=1 start_hauld S --secret-file "$T/secret" --tls-cert "$T/tls.crt" \
		--tls-key "$T/tls.key" || die "(k) daemon S starts with TLS" "see $T/S.log"
	HTTPS=https://${S_API#http://}
	h --api "$HTTPS" --cacert "$T/tls.crt" health
	expect_rc "(k) https with --cacert" 0
	expect_match "(k) ... the daemon's health" "$OUT" '^status +ok'
	h --api "$HTTPS" health
	expect_rc "(k) https without the CA: exit 4" 4
	expect_match "(k) ... pointing at --cacert" "$ERR" 'a private CA: --cacert FILE'
	printf 'api = %s\ncacert = tls.crt\n' "$HTTPS" >"$T/tls.conf"
	HAUL_CONFIG=$T/tls.conf h ls
	expect_rc "(k) cacert from the configuration file, beside it" 0
else
	skip "(k) https" "openssl cannot make a certificate"
fi

echo "(l) valgrind"
if ldd "$HAUL" 2>/dev/null | grep -q libasan; then
	skip "(l) valgrind" "$HAUL is built with the sanitizers, which report by themselves"
elif command -v valgrind >/dev/null; then
	vg() { # NAME WANT ARGS...: haul under valgrind exits WANT, without errors or leaks
		local name=$1 want=$2 rc
		shift 2
		HOME=$T/home valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite,indirect "$HAUL" --api "$A_API" \
			--token-file "$API_TOKEN_FILE" "$@" >/dev/null 2>"$T/vg.err"
		rc=$?
		if [ "$rc" = "$want" ]; then pass "(l) $name"; else
			fail "(l) $name" "exit $rc, want $want: $(grep -v '^haul:' "$T/vg.err" | head -n 20)"
		fi
	}
	vg "ls" 0 ls
	vg "show by prefix" 0 show "${ID1:0:8}"
	vg "logs" 0 logs "$ID1"
	vg "health --json" 0 --json health
	vg "a 409" 3 cancel "$ID1"
	vg "migrate --wait that fails" 1 migrate "$P7" --to "127.0.0.1:$(closed_port)" --wait \
		--option keep_images=false --option shared_paths=/a --option shared_paths=/b
else
	skip "(l) valgrind" "not installed"
fi

finish
