#!/usr/bin/env bash
# matrix.sh [PHASE...]: the fault matrix (make faults). Every phase of a migration
# between two hosts (network namespaces) against every fault, one cell each
# (tests/faults/cell.sh says what a cell does and checks), then a table of the
# results: "pass" with where the process ended, "FAIL", or "n/a" with why. Exits 1
# when a cell failed. The cells' output is in $OUT (default build/faults.log), the
# table also in build/faults.txt.
#
# The phases, and where each is held (the daemons' pause points, 6 s):
#   preflight  the source before the preflight exchange
#   dump       CRIU's dump streaming the pages (a 60 Mbit/s link: about 6 s); with no
#              memory tracking on this kernel the page transfer is the final dump
#   transfer   the tree frozen and dumped, the images about to go
#   restore    the destination about to run CRIU's restore
#   criu_restore  inside CRIU's restore at the destination: it has named the root of
#              the copy it makes and waits for the daemon's answer
#   verdict    the destination holds its restored copy stopped, the source copy is
#              still there, frozen: the source is about to tell CRIU to kill it
#   commit     the source copy is gone, the destination's stopped copy waits for
#              the commit
#   cleanup    the destination runs the process, the source has yet to finish
#   lazy       post-copy: the process runs at the destination and pulls its pages
#   fill       restore_pages lazy: the process runs at the destination, its memory
#              filling in from the destination's images (the fill itself takes well
#              under a second for this workload: the CRIU columns mostly find none)
# The faults: kill_src, kill_dst, link, disk_full, criu, criu_hang (cell.sh).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$ROOT/build/faults.log}
TABLE=$ROOT/build/faults.txt
PHASES=(preflight dump transfer restore criu_restore verdict commit cleanup lazy fill)
FAULTS=(kill_src kill_dst link disk_full criu criu_hang)
[ $# -gt 0 ] && PHASES=("$@")
CELL_TIMEOUT=${CELL_TIMEOUT:-240}

mkdir -p "$(dirname "$OUT")"
: >"$OUT"
# Cells run MATRIX_JOBS at a time (they mostly wait: on pauses, timeouts, restarts);
# each has its own namespaces, daemons and directory.
JOBS=${MATRIX_JOBS:-2}
CELLS=$(mktemp -d /tmp/hauld-matrix.XXXXXX)
trap 'rm -rf "$CELLS"' EXIT
run_cell() {
	local ph=$1 f=$2 t0 line res rest
	t0=$(date +%s)
	timeout --kill-after=20 "$CELL_TIMEOUT" bash "$HERE/cell.sh" "$ph" "$f" \
		>"$CELLS/$ph.$f.log" 2>&1
	line=$(grep '^CELL ' "$CELLS/$ph.$f.log" | tail -n 1)
	if [ -z "$line" ]; then
		res=FAIL
		rest="no result (setup failed or timed out; see $OUT)"
	else
		read -r _ _ _ res rest <<<"$line"
	fi
	printf '%s\t%s\n' "$res" "$rest" >"$CELLS/$ph.$f.result"
	printf '%-9s %-9s %-4s %3ss  %s\n' "$ph" "$f" "$res" "$(($(date +%s) - t0))" "$rest" >&2
}
for ph in "${PHASES[@]}"; do
	for f in "${FAULTS[@]}"; do
		while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
			wait -n
		done
		run_cell "$ph" "$f" &
	done
done
wait
declare -A result outcome
failed=0
for ph in "${PHASES[@]}"; do
	for f in "${FAULTS[@]}"; do
		{ echo "== cell $ph $f"; cat "$CELLS/$ph.$f.log"; } >>"$OUT"
		IFS=$'\t' read -r result[$ph,$f] outcome[$ph,$f] <"$CELLS/$ph.$f.result"
		[ "${result[$ph,$f]}" = FAIL ] && failed=$((failed + 1))
	done
done

{
	echo "Fault matrix: a migration between two hosts, each phase against each fault;"
	echo "a cell passes when, after the fault and a restart of both daemons, both"
	echo "records are final and agree, and exactly one copy runs, memory intact, where"
	echo "the source's record says (cell.sh). $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r)."
	echo
	printf '%-10s' phase
	for f in "${FAULTS[@]}"; do printf '| %-10s' "$f"; done
	echo
	printf '%-10s' ----------
	for f in "${FAULTS[@]}"; do printf '|%s' -----------; done
	echo
	for ph in "${PHASES[@]}"; do
		printf '%-10s' "$ph"
		for f in "${FAULTS[@]}"; do printf '| %-10s' "${result[$ph,$f]}"; done
		echo
	done
	echo
	echo "Outcomes:"
	for ph in "${PHASES[@]}"; do
		for f in "${FAULTS[@]}"; do
			printf '  %-9s %-9s %-4s %s\n' "$ph" "$f" "${result[$ph,$f]}" "${outcome[$ph,$f]}"
		done
	done
} | tee "$TABLE"
[ "$failed" = 0 ] && echo "all cells pass" || echo "$failed cells failed (their output: $OUT)"
[ "$failed" = 0 ]
