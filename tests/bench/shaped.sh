#!/usr/bin/env bash
# shaped.sh: compression over a constrained link (`make bench-shaped`, part of
# `make bench`). A first figure for issue 13: two hauld daemons in two network
# namespaces joined by a veth pair, both ends shaped with tc tbf (this kernel has no
# netem), and a checksummed workload moved back and forth with options.compress
# "off", "on" and "auto" (text-like memory) and "off" and "auto" (random memory), the runs
# of one workload alternating. Each migration is checked like an integration test
# (the process runs on at the other end with its memory intact), then its downtime,
# total time, bytes on the wire and bytes from CRIU are printed as a table.
#
# Environment (defaults in brackets):
#   SHAPED_RATE   the link's rate, tc's syntax [1gbit]
#   SHAPED_MIB    workload size in MiB [256]
#   SHAPED_RUNS   migrations per row [2]
#   SHAPED_FILLS  workloads (workload --fill) ["text random"]
# Not the CRIU CLI baseline yet, nor the other workloads of issue 13: see
# docs/BENCHMARKS-SHAPED.md for the figures and what is missing.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
need_root_and_build

RATE=${SHAPED_RATE:-1gbit}
MIB=${SHAPED_MIB:-256}
RUNS=${SHAPED_RUNS:-2}
FILLS=${SHAPED_FILLS:-text random}
command -v tc >/dev/null || die "tc" "tc is missing (iproute2)"

setup_netns || die "network namespaces" "setup_netns failed"
for ns in "$NS_A" "$NS_B"; do
	tc -n "$ns" qdisc add dev veth0 root tbf rate "$RATE" burst 256kb latency 50ms ||
		die "tc tbf on $ns" "the kernel has no tbf?"
done
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

ROWS=$T/rows
: >"$ROWS"
for fill in $FILLS; do
	export WORKLOAD_FILL=$fill
	W=$(start_workload "w-$fill" "$MIB" --netns "$NS_A" --fill "$fill") ||
		die "workload $fill starts" "no workload"
	if [ "$fill" = random ]; then modes="off auto"; else modes="off on auto"; fi
	src=$A_API dst=$B_PEER back_src=$B_API back_dst=$A_PEER
	for ((run = 0; run < RUNS; run++)); do
		for mode in $modes; do
			MIGRATE_OPTIONS="{\"compress\":\"$mode\"}" migrate_and_check \
				"$fill $MIB MiB, compress $mode, run $run" "$src" "$W" "$dst" \
				"$T/w-$fill.status" "$MIB" 300 || die "$fill $mode" "the migration failed"
			W=$MIGRATED_PID
			jget "$JOB_JSON" "[\"$fill\", \"$mode\", .stats.downtime_ms, .stats.total_ms,
				.stats.bytes, .stats.bytes_raw, .stats.compress_ratio] | @tsv" >>"$ROWS"
			# Back the other way next time.
			read -r src dst back_src back_dst <<<"$back_src $back_dst $src $dst"
		done
	done
	kill "$W"
done

printf '\nhauld over a veth shaped to %s with tc tbf, %d MiB workloads, %d runs a row (medians)\n\n' \
	"$RATE" "$MIB" "$RUNS"
printf '| memory | compress | downtime ms | total ms | MiB on the wire | MiB from CRIU | wire/raw |\n'
printf '|---|---|---:|---:|---:|---:|---:|\n'
for fill in $FILLS; do
	for mode in off on auto; do
		awk -F'\t' -v f="$fill" -v m="$mode" '
			function median(a, n,   i, j, t) {
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
					if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
				return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			}
			$1 == f && $2 == m { n++; d[n] = $3; t[n] = $4; w[n] = $5; r[n] = $6; q[n] = $7 }
			END { if (n) printf "| %s | %s | %d | %d | %.1f | %.1f | %.3f |\n", f, m,
				median(d, n), median(t, n), median(w, n) / 1048576,
				median(r, n) / 1048576, median(q, n) }' "$ROWS"
	done
done
echo
finish
