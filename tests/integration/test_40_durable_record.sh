#!/usr/bin/env bash
# test_40_durable_record.sh: the writes that decide where a process lives are made
# to the disk before the step they record, and a write that fails keeps the process
# where it is. A fault point makes the write fail (no real input makes SQLite
# refuse on demand):
#   (a) the source cannot record that the destination restored its copy: the job
#       fails "internal", the source copy runs on with its memory intact and the
#       destination's stopped copy is gone;
#   (b) the destination cannot record its restored copy: it discards it and answers
#       restore_failed, and the source copy runs on;
#   (c) with neither fault, a migration still succeeds (the durable path itself).
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

MIB=32
make_secret "$T/secret"

# one_copy_at_source LABEL PID STATUS: the workload writing STATUS is PID alone.
one_copy_at_source() {
	expect_true "$1: exactly one copy, at the source" \
		wait_for 10 _only_workload_is "$3" "$2"
}

echo "(a) the source's record of the restored copy fails"
HAULD_FAULT=fail:record_restored start_hauld A --secret-file "$T/secret" ||
	die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
P=$(start_workload wa $MIB) || die "(a) workload starts" "no workload"
id=$(migrate "$A_API" "$P" "$B_PEER") || die "(a) POST" "refused"
json=$(wait_job "$A_API" "$id" 60) || die "(a) job ends" "$json"
check_failed_at_source "(a)" "$json" "$P" "$T/wa.status" $MIB "internal .*source copy is kept"
one_copy_at_source "(a)" "$P" "$T/wa.status"
json=$(wait_job "$B_API" "$id" 30) || fail "(a) B's job ends" "$json"
expect_eq "(a) B's job failed" "$(jget "$json" .state)" failed
kill -KILL "$P"
stop_hauld A
stop_hauld B

echo "(b) the destination's record of its restored copy fails"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
HAULD_FAULT=fail:dest_record_restored start_hauld B --secret-file "$T/secret" ||
	die "daemon B starts" "see $T/B.log"
P=$(start_workload wb $MIB) || die "(b) workload starts" "no workload"
id=$(migrate "$A_API" "$P" "$B_PEER") || die "(b) POST" "refused"
json=$(wait_job "$A_API" "$id" 60) || die "(b) job ends" "$json"
check_failed_at_source "(b)" "$json" "$P" "$T/wb.status" $MIB "restore_failed .*could not be recorded"
one_copy_at_source "(b)" "$P" "$T/wb.status"
json=$(wait_job "$B_API" "$id" 30) || fail "(b) B's job ends" "$json"
expect_eq "(b) B's job failed" "$(jget "$json" .state)" failed
expect_eq "(b) B's job has no restored pid" "$(jget "$json" .result.pid)" ""
check_no_images "(b) B kept no images" "$B_DATA/jobs"
kill -KILL "$P"
stop_hauld A
stop_hauld B

echo "(c) no fault: the durable writes let a migration through"
start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
P=$(start_workload wc $MIB) || die "(c) workload starts" "no workload"
migrate_and_check "(c)" "$A_API" "$P" "$B_PEER" "$T/wc.status" $MIB
finish
