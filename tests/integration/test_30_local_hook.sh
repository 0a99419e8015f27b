#!/usr/bin/env bash
# test_30_local_hook.sh: the lazy-mode hook socket answers CRIU's action script
# alone. In mode lazy, CRIU asks hauld over an abstract unix socket whether the
# dump may go on (the post-dump action); its name is visible in /proc/net/unix to
# every local user. While a lazy migration runs, three callers race CRIU to it: an
# unprivileged user (nobody) and root, each sending "post-dump" (which, taken for
# CRIU's, would release the destination's restore before the images are whole and
# kill the source tree), and root staying silent (which, read without a deadline,
# would hold the tree frozen). The migration must succeed as if they were not
# there, with the process's memory intact, and the daemon must say it refused them.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

PY=/usr/bin/python3
MIB=512
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
api GET "$A_API/healthz" >/dev/null
if [ "$(jget "$HTTP_BODY" .features.lazy_pages)" != true ]; then
	skip "lazy pages" "this kernel or CRIU cannot do lazy pages"
	finish
fi
W=$(start_workload w $MIB) || die "workload starts" "no workload"

# attack USER MODE: connect to every hauld-hook socket as soon as one appears, as
# USER; MODE "talk" sends CRIU's line, "silent" holds the connection. Records
# what it did in $T/attack.USER.MODE.
attack() {
	local user=$1 mode=$2
	local -a as=()
	[ "$user" = root ] || as=(setpriv --reuid="$user" --regid=nogroup --clear-groups)
	"${as[@]}" "$PY" - "$mode" >"$T/attack.$user.$mode" 2>&1 <<'PYEOF' &
import socket, sys, time
mode = sys.argv[1]
seen, held = set(), []
end = time.monotonic() + 60
while time.monotonic() < end:
    with open("/proc/net/unix") as f:
        names = [l.split()[-1] for l in f.readlines()[1:] if "@hauld-hook-" in l]
    for n in names:
        if n in seen:
            continue
        seen.add(n)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect("\0" + n[1:])
        except OSError as e:
            print("connect refused", n, e, flush=True)
            continue
        if mode == "talk":
            # The daemon may close the connection before the line is sent.
            s.settimeout(5)
            try:
                s.sendall(b"post-dump\n")
                print("answer", repr(s.recv(1)), flush=True)
            except OSError as e:
                print("no answer", e, flush=True)
        else:
            held.append(s)
            print("holding", n, flush=True)
    if seen and not any(n in open("/proc/net/unix").read() for n in seen):
        break
    time.sleep(0.001)
print("seen", len(seen), flush=True)
PYEOF
	ATTACKERS+=($!)
	remember proc $!
}
ATTACKERS=()

before=$(status_field "$T/w.status" counter)
kill -USR1 "$W"
wait_counter_past "$T/w.status" $((before + 2)) 5
attack nobody talk
attack root talk
attack root silent
sleep 0.3
ID=$(migrate "$A_API" "$W" "$B_PEER" lazy) || die "lazy migration accepted" "POST refused"
JSON=$(wait_job "$A_API" "$ID" 180) || die "lazy migration ends" "$JSON"
note "lazy: $(job_summary "$JSON")"
wait "${ATTACKERS[@]}"
for f in nobody.talk root.talk root.silent; do
	note "attacker $f: $(tr '\n' ';' <"$T/attack.$f")"
done
expect_match "the callers found the hook socket" "$(cat "$T/attack.root.talk")" 'seen [1-9]'
expect_eq "the migration succeeded despite them" "$(jget "$JSON" .state)" succeeded ||
	die "lazy" "$JSON"
P1=$(jget "$JSON" .result.pid)
track_pid "$P1"
expect_true "result.pid $P1 is the workload" is_workload "$P1" "$T/w.status"
check_workload_intact "$T/w.status" $MIB "$(status_field "$T/w.status" counter)" \
	"the workload counts on with its memory intact"
expect_eq "no caller got a verdict" \
	"$(cat "$T"/attack.*.talk | grep -c "answer b'[01]'")" 0
expect_match "the daemon refused the callers, saying who they were" \
	"$(grep -c 'refused a connection to CRIU.s hook' "$T/A.log")" '^[3-9]$|^[1-9][0-9]'
expect_match "... the unprivileged one by its uid" "$(cat "$T/A.log")" \
	"refused a connection to CRIU's hook from pid [0-9]+ \\(uid 65534\\)"
finish
