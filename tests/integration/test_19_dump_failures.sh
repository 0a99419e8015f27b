#!/usr/bin/env bash
# test_19_dump_failures.sh: processes CRIU cannot dump as they are, each refused with
# an error.code and a sentence that names the cause and the fix, the process left
# running at the source, untouched:
#   (a) a session leader outside its PID namespace (unshare -p -f without setsid);
#   (b) an established TCP connection without options.tcp_established;
#   (c) a file descriptor CRIU cannot checkpoint (a userfaultfd);
#   (d) a mount namespace of its own;
#   (e) a task of another user in a PID namespace whose /proc is the host's;
#   (f) a task of another user where root lacks CAP_SYS_RESOURCE (these machines);
#       skipped where root has it, since CRIU can then dump the task.
# The destination's logs are not involved: nothing reached it but the preflight.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

# refused_dump LABEL PID CODE REGEX: migrating PID fails in the dump with CODE and a
# message matching REGEX; PID still runs afterwards, not stopped.
refused_dump() {
	local label=$1 pid=$2 code=$3 re=$4 id json st
	if ! id=$(migrate "$A_API" "$pid" "$B_PEER"); then
		fail "$label: accepted" "POST refused"
		return 1
	fi
	json=$(wait_job "$A_API" "$id" 60) || { fail "$label: job finished" "$json"; return 1; }
	note "$label: $(job_summary "$json")"
	expect_eq "$label: failed" "$(jget "$json" .state)" failed
	expect_eq "$label: error.code" "$(jget "$json" .error.code)" "$code"
	expect_match "$label: the message says what to do" "$(jget "$json" .error.message)" "$re"
	expect_eq "$label: error.process_at" "$(jget "$json" .error.process_at)" source
	st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
	if pid_alive "$pid" && [ "$st" != T ]; then
		pass "$label: pid $pid runs on (state $st)"
	else
		fail "$label: pid $pid runs on" "state '$st'"
	fi
}

echo "(a) a session leader outside its PID namespace"
(cd / && exec unshare -p -f sleep 1000) </dev/null >/dev/null 2>&1 &
remember wrapper "$!"
wait_for 5 _program_child "$!" sleep "$T/.a.child" || die "(a) sleep starts" "no child"
P=$(cat "$T/.a.child")
track_pid "$P"
refused_dump "(a)" "$P" session_leader_outside 'start the program with setsid'

echo "(b) an established TCP connection"
PORT=$(closed_port)
S=$(start_program srv python3 -- /usr/bin/python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $PORT)); s.listen(1); c, _ = s.accept()
while True: time.sleep(1)") || die "(b) server starts" "no python3"
wait_for 5 sh -c "ss -Hltn 'sport = :$PORT' | grep -q LISTEN" || die "(b) server listens" "no"
python3 -c "
import socket, time, sys
c = socket.create_connection(('127.0.0.1', $PORT)); sys.stdout.write('connected\n'); sys.stdout.flush()
time.sleep(120)" >"$T/client.out" 2>&1 &
CLIENT=$!
remember proc "$CLIENT"
wait_for 5 grep -q connected "$T/client.out" || die "(b) client connects" "$(cat "$T/client.out")"
refused_dump "(b)" "$S" tcp_established 'options\.tcp_established'
expect_true "(b) the client's connection is still open" \
	sh -c "ss -Htn state established 'dport = :$PORT' | grep -q ."
kill "$CLIENT" 2>/dev/null

echo "(c) a file descriptor CRIU cannot checkpoint"
O=$(start_program odd oddfd -- "$BUILD/oddfd" userfaultfd) || die "(c) oddfd starts" "no oddfd"
refused_dump "(c)" "$O" unsupported_file 'userfaultfd.*close it'

echo "(d) a mount namespace of its own"
M=$(start_program mnt sleep -- unshare -m sleep 1000) || die "(d) sleep starts" "no sleep"
refused_dump "(d)" "$M" external_mount 'mount namespace'

echo "(e) another user in a PID namespace whose /proc is the host's"
U=$(start_program user sleep -- setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1000) ||
	die "(e) sleep starts" "no sleep"
refused_dump "(e)" "$U" unprivileged_task 'as root'

echo "(f) another user, where root lacks CAP_SYS_RESOURCE"
cap=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
if [ $((0x$cap >> 24 & 1)) -eq 1 ]; then
	skip "(f)" "root has CAP_SYS_RESOURCE here, so CRIU can read the task's rlimits"
else
	# In the host's PID namespace, so that its /proc is its own; new_pidns lets the
	# preflight pass although its pid is taken at the destination (this machine).
	( (cd / && exec setsid setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c 'echo $$ >&3; exec sleep 1000 3>&-') 3>"$T/f.pid" </dev/null >/dev/null 2>&1 &)
	wait_for 5 test -s "$T/f.pid" || die "(f) sleep starts" "no pid"
	F=$(cat "$T/f.pid")
	wait_for 5 sh -c "[ \"\$(cat /proc/$F/comm)\" = sleep ]"
	track_pid "$F"
	MIGRATE_OPTIONS='{"new_pidns":true}' \
	refused_dump "(f)" "$F" no_cap_sys_resource 'CAP_SYS_RESOURCE'
fi
finish
