#!/usr/bin/env bash
# test_02_loopback.sh: two daemons on loopback that share a secret move a 64 MiB
# workload tree from A to B and back. The process must run on after each move with
# its memory intact, the source must be gone, the jobs must be listed and no daemon
# may leave a zombie behind.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=64
make_secret "$T/secret"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
W=$(start_workload w $MIB --children 2) || die "workload starts" "no workload"
note "workload pid $W, A at $A_API (peer $A_PEER), B at $B_API (peer $B_PEER)"

migrate_and_check "A->B" "$A_API" "$W" "$B_PEER" "$T/w.status" $MIB ||
	die "A->B" "the rest needs the migrated process"
JOB1=$JOB_ID
P1=$MIGRATED_PID
expect_eq "A->B: children came along" "$(ps -o pid= --ppid "$P1" | wc -l)" 2

migrate_and_check "B->A" "$B_API" "$P1" "$A_PEER" "$T/w.status" $MIB ||
	die "B->A" "the rest needs the migrated process"
JOB2=$JOB_ID
P2=$MIGRATED_PID
expect_eq "B->A: children came along" "$(ps -o pid= --ppid "$P2" | wc -l)" 2

# By default the destination's images go with the job (the restore punches each page
# out as it reads it); keep_images leaves them whole at both ends.
check_no_images "B removed job $JOB1's images" "$B_DATA/jobs/$JOB1"
MIGRATE_OPTIONS='{"keep_images":true}' migrate_and_check "A->B keeping images" "$A_API" "$P2" \
	"$B_PEER" "$T/w.status" $MIB || die "A->B keeping images" "the rest needs the process"
JOB3=$JOB_ID
P2=$MIGRATED_PID
# The pages image's allocated blocks, not its apparent size: a punched file keeps its size.
kept=$(find "$B_DATA/jobs/$JOB3/images" -name 'pages-*.img' -exec du -B1 -c {} + 2>/dev/null |
	awk '$2 == "total" { print int($1 / 1048576) }')
expect_num_ge "B kept job $JOB3's pages whole (MiB allocated)" "${kept:-0}" $((MIB * 9 / 10))
kept=$(find "$A_DATA/jobs/$JOB3" -name '*.img' 2>/dev/null | wc -l)
expect_num_ge "A kept job $JOB3's images" "$kept" 1

# CRIU's logs outlive the job's images.
api GET "$A_API/migrations/$JOB1/logs" >/dev/null
expect_eq "A keeps CRIU's dump.log of job $JOB1" \
	"$(jget "$HTTP_BODY" '[.logs[] | select(.host == "source") | .name] | join(" ")')" dump.log
# ... and, fetched over the peer link when the job ended, the destination's (with
# the lazy-pages daemon's when it restored lazily, from its own images).
DEST_LOGS="page-server.log restore.log"
api GET "$A_API/migrations/$JOB1" >/dev/null
[ "$(jget "$HTTP_BODY" .stats.restore_pages)" = lazy ] && DEST_LOGS="$DEST_LOGS lazy-pages.log"
api GET "$A_API/migrations/$JOB1/logs" >/dev/null
expect_eq "A also answers with B's logs of job $JOB1" \
	"$(jget "$HTTP_BODY" '[.logs[] | select(.host == "destination") | .name] | join(" ")')" \
	"$DEST_LOGS"
A_COPY=$(jget "$HTTP_BODY" '.logs[] | select(.name == "restore.log") | .text' | md5sum)
api GET "$B_API/migrations/$JOB1/logs" >/dev/null
expect_eq "B keeps CRIU's page-server.log and restore.log of job $JOB1" \
	"$(jget "$HTTP_BODY" '[.logs[].name] | join(" ")')" "$DEST_LOGS"
expect_match "restore.log is not empty" \
	"$(jget "$HTTP_BODY" '.logs[] | select(.name == "restore.log") | .text')" '.'
expect_eq "A's copy of B's restore.log is B's" "$A_COPY" \
	"$(jget "$HTTP_BODY" '.logs[] | select(.name == "restore.log") | .text' | md5sum)"
api GET "$A_API/migrations/$JOB1/nope" >/dev/null
expect_eq "an unknown sub-resource is 404" "$HTTP_STATUS" 404

api GET "$A_API/migrations" >/dev/null
expect_eq "GET /migrations on A answers" "$HTTP_STATUS" 200
expect_eq "A lists job $JOB1" "$(jget "$HTTP_BODY" ".migrations[] | select(.id == \"$JOB1\") | .state")" succeeded
api GET "$B_API/migrations" >/dev/null
expect_eq "B lists job $JOB2" "$(jget "$HTTP_BODY" ".migrations[] | select(.id == \"$JOB2\") | .state")" succeeded
api GET "$A_API/migrations/$JOB1" >/dev/null
expect_eq "job $JOB1 keeps result.pid" "$(jget "$HTTP_BODY" .result.pid)" "$P1"

# Restored trees are reparented to the daemon (or its subreaper): it must reap.
sleep 1
expect_eq "no zombie under daemon A" "$(zombies_of "$A_PID")" ""
expect_eq "no zombie under daemon B" "$(zombies_of "$B_PID")" ""
expect_true "daemon A still running" pid_alive "$A_PID"
expect_true "daemon B still running" pid_alive "$B_PID"

finish
