#!/usr/bin/env bash
# run.sh: run the integration tests against real hauld daemons and a real CRIU.
#
#   bash tests/integration/run.sh            every tests/integration/test_*.sh, in order
#   bash tests/integration/run.sh 02 04      only the tests whose name contains 02 or 04
#
# Needs root and a built tree (make). Each test runs in its own bash with a time limit
# (HAULD_TEST_TIMEOUT seconds, default 300); exit 0 is a pass, 77 a skip, anything
# else a failure. The last line is "N passed, N failed" (", N skipped" when some were).
# HAULD_TEST_EXCLUDE="12 32" leaves out the tests whose name contains 12 or 32.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
export BUILD
TIMEOUT=${HAULD_TEST_TIMEOUT:-300}

refuse() {
	echo "run.sh: $*" >&2
	exit 2
}

[ "$(id -u)" = 0 ] || refuse "the integration tests need root (CRIU, PID and network namespaces); run as root"
[ -x "$BUILD/hauld" ] || refuse "$BUILD/hauld is missing: run make first"
[ -x "$BUILD/workload" ] || refuse "$BUILD/workload is missing: run make first"
for tool in curl jq nsenter unshare setsid ip ss ps timeout awk; do
	command -v "$tool" >/dev/null 2>&1 || refuse "$tool is missing (scripts/setup.sh installs what the tests need)"
done
criu=/usr/local/sbin/criu
[ -x "$criu" ] || criu=$(command -v criu 2>/dev/null) || refuse "criu is missing (scripts/setup.sh)"
"$criu" --version 2>/dev/null | grep -q 'Version: [4-9]\.' ||
	refuse "$criu is not CRIU 4.x, which this kernel needs (scripts/setup.sh)"

tests=()
for t in "$HERE"/test_*.sh; do
	[ -f "$t" ] || continue
	if [ $# -gt 0 ]; then
		keep=0
		for want in "$@"; do
			case "$(basename "$t")" in *"$want"*) keep=1 ;; esac
		done
		[ $keep = 1 ] || continue
	fi
	drop=0
	for not in ${HAULD_TEST_EXCLUDE:-}; do
		case "$(basename "$t")" in *"$not"*) drop=1 ;; esac
	done
	[ $drop = 0 ] || continue
	tests+=("$t")
done
[ ${#tests[@]} -gt 0 ] || refuse "no test to run in $HERE"

passed=0
failed=0
skipped=0
failed_names=()
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	echo "== $name"
	start=$SECONDS
	# No stdin, so a test cannot wait on a terminal.
	timeout -k 15 "$TIMEOUT" bash "$t" </dev/null
	rc=$?
	took=$((SECONDS - start))
	case $rc in
	0)
		passed=$((passed + 1))
		echo "PASS $name (${took}s)"
		;;
	77)
		skipped=$((skipped + 1))
		echo "SKIP $name (${took}s)"
		;;
	124 | 137)
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "FAIL $name: timed out after ${TIMEOUT}s"
		;;
	*)
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "FAIL $name (exit $rc, ${took}s)"
		;;
	esac
done

echo
[ $failed -gt 0 ] && echo "failed: ${failed_names[*]}"
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ]
