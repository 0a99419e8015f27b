#!/usr/bin/env bash
# test_32_slow_clients.sh: slow and idle clients cannot take the API away.
# 300 HTTP clients that send one header line every 5 s (each byte resets an idle
# timer: "slowloris"), first all from one address, then from six, while 500 idle
# connections sit on the peer port: the daemon's /healthz answers every time within
# curl's 5 s bound, a real migration succeeds, and a request that does not end is
# cut once its 30 s are up. (Before, 256 connections in all were the limit, nothing
# bounded one address, and the drip kept each connection for as long as it lasted.)
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

PY=/usr/bin/python3
MIB=16
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"
api_port=${A_API##*:}
peer_port=${A_PEER##*:}

# slow ADDRS SECONDS: 300 slow HTTP clients from the addresses ADDRS (comma
# separated, taken in turn) plus 500 idle peer connections, for SECONDS; prints
# how many HTTP clients were cut before the end and the longest any lived.
slow() {
	"$PY" - "$api_port" "$peer_port" "$1" "$2" <<'PYEOF'
import socket, sys, time
api, peer, addrs, secs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","), float(sys.argv[4])
http, idle = [], []
for i in range(300):
    s = socket.socket()
    s.bind((addrs[i % len(addrs)], 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", api))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        s.setblocking(False)
        http.append([s, time.monotonic(), None])
    except OSError:
        s.close()
for i in range(500):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (100 + i % 50), 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", peer))
    except BlockingIOError:
        pass
    idle.append(s)
end = time.monotonic() + secs
nxt = time.monotonic() + 5
while time.monotonic() < end:
    time.sleep(0.2)
    for h in http:
        if h[2] is not None:
            continue
        try:
            if h[0].recv(4096) == b"":
                h[2] = time.monotonic() - h[1]
        except BlockingIOError:
            pass
        except OSError:
            h[2] = time.monotonic() - h[1]
    if time.monotonic() >= nxt:
        nxt += 5
        for h in http:
            if h[2] is None:
                try:
                    h[0].send(b"X-Drip: 1\r\n")
                except OSError:
                    h[2] = time.monotonic() - h[1]
cut = [h[2] for h in http if h[2] is not None]
print(len(http), len(cut), "%.0f" % max(cut) if cut else "-1")
PYEOF
}

# probe N: /healthz N times a second apart, each bounded by 5 s; prints how many
# answered 200.
probe() {
	local ok=0
	for _ in $(seq 1 "$1"); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$A_API/healthz")" = 200 ] &&
			ok=$((ok + 1))
		sleep 1
	done
	echo "$ok"
}

for round in "one 127.0.0.2" "six 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7"; do
	set -- $round
	label="(slow clients from $1 address$([ "$1" = one ] || echo es))"
	slow "$2" 40 >"$T/slow.$1" &
	S=$!
	sleep 3
	ok=$(probe 10)
	expect_eq "$label /healthz answered 10 of 10 times" "$ok" 10
	migrate_and_check "$label a migration" "$A_API" "$W" "$B_PEER" "$T/w.status" $MIB ||
		die "$label migration" "failed"
	W=$MIGRATED_PID
	migrate_and_check "$label and back" "$B_API" "$W" "$A_PEER" "$T/w.status" $MIB ||
		die "$label migration back" "failed"
	W=$MIGRATED_PID
	wait "$S"
	read -r opened cut longest <"$T/slow.$1"
	note "$label $opened opened, $cut cut within 40 s, the longest lived ${longest} s"
	expect_num_ge "$label the clients that never finish a request were cut" "$cut" "$opened"
	expect_match "$label ... after about 30 s" "$longest" '^(29|3[0-4])$'
done
finish
