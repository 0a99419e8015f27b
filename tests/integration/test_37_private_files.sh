#!/usr/bin/env bash
# test_37_private_files.sh: what hauld keeps is for its eyes only.
#   (a) a peer secret, API token or webhook key that others may read, or that
#       another user owns, is refused at start with what to do (it was a warning),
#       as is one whose path cannot be looked at (its cause said);
#   (b) a data directory of its own that is open to others is closed (0700);
#   (c) after migrations that keep their images, nothing under either data
#       directory (database, secrets, job images holding a process's memory, CRIU's
#       logs) can be read, written or entered by group or others;
#   (d) the processes restored at a destination do not cost it a thread each for
#       their whole lives (one reaper serves them all).
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=16
make_secret "$T/secret"

# starts NAME ARGS...: run hauld briefly; its exit status, output in $T/NAME.out.
starts() {
	local name=$1
	shift
	mkdir -p "$T/$name"
	chmod 700 "$T/$name"
	timeout 10 "$BUILD/hauld" --listen 127.0.0.1:0 --peer-listen 127.0.0.1:0 \
		--data-dir "$T/$name" "$@" >"$T/$name.out" 2>&1 &
	local pid=$!
	sleep 1
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		wait "$pid" 2>/dev/null
		echo running
	else
		wait "$pid"
		echo "exit $?"
	fi
}

echo "(a) secrets others may read"
cp "$T/secret" "$T/open.secret"
chmod 644 "$T/open.secret"
expect_match "(a) a peer secret of mode 644 is refused" "$(starts a1 --secret-file "$T/open.secret")" \
	'^exit [1-9]'
expect_match "(a) ... saying what to do" "$(cat "$T/a1.out")" 'chmod 600'
cp "$API_TOKEN_FILE" "$T/open.token"
chmod 640 "$T/open.token"
expect_match "(a) an API token of mode 640 is refused" \
	"$(starts a2 --secret-file "$T/secret" --api-token-file "$T/open.token")" '^exit [1-9]'
cp "$T/secret" "$T/nobody.secret"
chown nobody "$T/nobody.secret"
expect_match "(a) a secret another user owns is refused" \
	"$(starts a3 --secret-file "$T/nobody.secret")" '^exit [1-9]'
expect_match "(a) ... saying so" "$(cat "$T/a3.out")" 'belongs to uid'
mkdir -p "$T/a4"
cp "$T/secret" "$T/a4/webhook.key"
chmod 604 "$T/a4/webhook.key"
expect_match "(a) a webhook key others may read is refused" \
	"$(starts a4 --secret-file "$T/secret")" '^exit [1-9]'
expect_eq "(a) a secret of mode 600 is fine" "$(starts a5 --secret-file "$T/secret")" running
# A path whose stat fails otherwise than "missing" (a file where a directory should
# be): refused with that cause, not checked from an unset stat (it was).
: >"$T/not-a-dir"
expect_match "(a) a secret path through a file is refused" \
	"$(starts a6 --secret-file "$T/not-a-dir/secret")" '^exit [1-9]'
expect_match "(a) ... saying why" "$(cat "$T/a6.out")" 'secret file .*: Not a directory'

echo "(b) an open data directory"
mkdir -p "$T/b1"
chmod 755 "$T/b1"
expect_eq "(b) hauld starts" "$(timeout 10 "$BUILD/hauld" --listen 127.0.0.1:0 --peer-listen 127.0.0.1:0 \
	--data-dir "$T/b1" --secret-file "$T/secret" >"$T/b1.out" 2>&1 & p=$!; sleep 1; kill $p; wait $p; echo $?)" 0
expect_eq "(b) and closes it" "$(stat -c %a "$T/b1")" 700
expect_match "(b) saying so" "$(cat "$T/b1.out")" 'was open to others'

echo "(c) what the migrations leave"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB) || die "workload starts" "no workload"
UMASK=$(awk '/^Umask:/ { print $2 }' "/proc/$W/status")
MIGRATE_OPTIONS='{"keep_images":true}' migrate_and_check "(c) A->B keeping images" "$A_API" "$W" \
	"$B_PEER" "$T/w.status" $MIB || die "(c) migration" "failed"
W=$MIGRATED_PID
migrate_and_check "(c) B->A" "$B_API" "$W" "$A_PEER" "$T/w.status" $MIB || die "(c) back" "failed"
expect_eq "(c) the workload keeps its own umask ($UMASK), not the daemon's" \
	"$(awk '/^Umask:/ { print $2 }' "/proc/$MIGRATED_PID/status")" "$UMASK"
imgs=$(find "$B_DATA/jobs" -name '*.img' | wc -l)
expect_num_ge "(c) B kept the images (files)" "$imgs" 5
open=$(find "$A_DATA" "$B_DATA" ! -type l -perm /077 -printf '%m %p\n')
expect_eq "(c) nothing under the data directories is open to group or others" "$open" ""

echo "(d) threads for restored processes"
threads() { ls "/proc/$1/task" | wc -l; }
before=$(threads "$B_PID")
for i in 1 2 3 4 5 6; do
	P=$(start_workload "x$i" 8) || die "(d) workload $i" "none"
	id=$(migrate "$A_API" "$P" "$B_PEER") || die "(d) migration $i" "refused"
	json=$(wait_job "$A_API" "$id" 60) || die "(d) migration $i ends" "$json"
	expect_eq "(d) workload $i moved" "$(jget "$json" .state)" succeeded
	track_pid "$(jget "$json" .result.pid)"
done
sleep 1
after=$(threads "$B_PID")
note "(d) B's threads: $before before, $after with 6 more restored processes alive"
expect_true "(d) B did not gain a thread for each (at most 2 more)" test "$after" -le $((before + 2))
finish
