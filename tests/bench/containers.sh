#!/usr/bin/env bash
# containers.sh: hauld's container migrations beside the pipeline a user would script
# with the engine's own CLI (`make bench-containers`, and part of `make bench`).
#
# Two hosts on this machine (network namespaces joined by a veth pair), each with its
# own dockerd and podman service and a hauld. A container running the checksummed
# workload (tests/workload.c, BENCH_CONTAINER_MIB of memory) moves back and forth,
# alternately with hauld and with the CLI pipeline, and after each move the workload
# itself says how long it stood still (its longest gap between two ticks) and that
# its memory is intact. The CLI pipelines, prepared as hauld prepares (the
# destination's container created before anything stops), copy their files from one
# host to the other over the same link as hauld (tar through nc, as a user scripts it
# between two machines):
#   docker   docker checkpoint create --checkpoint-dir; the checkpoint copied into the
#            destination container's own checkpoint directory (Docker restores from no
#            other); docker start --checkpoint; docker rm at the source
#   podman   podman container checkpoint --export; the archive copied; podman container
#            restore --import; podman rm at the source
# Each CLI step is timed too: the engine's checkpoint and restore calls, which hauld
# makes as well, are the floor under both tools' downtime.
# Writes docs/BENCHMARKS-CONTAINERS.md and prints its table.
#
# Environment: BENCH_RUNS moves per tool and engine [4]; BENCH_CONTAINER_MIB [64];
# BENCH_ENGINES ["docker podman"]; BENCH_FILL the workload's memory, random or text
# [random]; BENCH_RATE shapes the link with tc tbf at that rate (tc's syntax, e.g.
# 1gbit) [unshaped]; BENCH_DOC the document written [docs/BENCHMARKS-CONTAINERS.md];
# BENCH_WRITE 0 to leave the doc alone [1].
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
. "$ROOT/tests/integration/lib.sh"
# shellcheck source=../integration/engines.sh
. "$ROOT/tests/integration/engines.sh"

RUNS=${BENCH_RUNS:-4}
MIB=${BENCH_CONTAINER_MIB:-64}
ENGINES=${BENCH_ENGINES:-docker podman}
WRITE=${BENCH_WRITE:-1}
FILL=${BENCH_FILL:-random}
RATE=${BENCH_RATE:-}
DOC=$ROOT/${BENCH_DOC:-docs/BENCHMARKS-CONTAINERS.md}
DOCKER_CLI=$(command -v docker) || die "docker CLI" "not installed"
PODMAN_CLI=$(command -v podman) || die "podman CLI" "not installed"
need_root_and_build

ENGINES_IMAGE=localhost/hauld-bench:1
IMAGE_TAG=$ENGINES_IMAGE EXTRA_BINS=$BUILD/workload "$LIB_DIR/build-image.sh" "$T/image" \
	>/dev/null || die "bench image" "build-image.sh failed"
setup_netns || die "network namespaces" "setup_netns failed"
if [ -n "$RATE" ]; then
	for ns in "$NS_A" "$NS_B"; do
		tc -n "$ns" qdisc add dev veth0 root tbf rate "$RATE" burst 256kb latency 50ms ||
			die "tc tbf on $ns" "cannot shape the link at $RATE"
	done
fi
make_secret "$T/secret"
for h in A B; do
	ns=NS_$h
	addr=ADDR_$h
	start_dockerd $h "${!ns}" "$T/image/image.tar" || die "dockerd $h" "see $T/$h.dockerd.log"
	start_podman $h "${!ns}" "$T/image/image.tar" || die "podman $h" "see $T/$h.podman.log"
	ds=${h}_DOCKER_SOCK
	ps=${h}_PODMAN_SOCK
	start_hauld $h --netns "${!ns}" --listen "${!addr}:0" --peer-listen "${!addr}:0" \
		--secret-file "$T/secret" --docker-host "unix://${!ds}" --podman-host "unix://${!ps}" ||
		die "daemon $h" "see $T/$h.log"
done

WORKLOAD=(/usr/bin/workload --mib "$MIB" --fill "$FILL" --status /tmp/w.status --tick-ms 5)

# status ENGINE SOCK NAME: the workload's status line, read through the engine.
status() {
	if [ "$1" = docker ]; then dexec "$2" "$3" cat /tmp/w.status; else pexec "$2" "$3" cat /tmp/w.status; fi
}

# signal ENGINE SOCK NAME SIG
signal() {
	if [ "$1" = docker ]; then
		dapi "$2" POST "/containers/$3/kill?signal=$4" >/dev/null
	else
		papi "$2" POST "/containers/$3/kill?signal=$4" >/dev/null
	fi
}

_counter_past() {
	local c
	c=$(sfield "$(status "$1" "$2" "$3")" counter) && [ "$c" -gt "$4" ]
}

# hauld_move ENGINE NAME FROM TO: one move with hauld; echoes "total_ms" or fails.
hauld_move() {
	local api_var=${3}_API peer_var=${4}_PEER id json t0
	t0=$(now_ms)
	api POST "${!api_var}/migrations" "$(jq -cn --arg t "$1" --arg c "$2" --arg to "${!peer_var}" \
		'{type: $t, container: $c, to: $to}')" >/dev/null
	[ "$HTTP_STATUS" = 202 ] || { echo "hauld: POST $HTTP_STATUS $HTTP_BODY" >&2; return 1; }
	id=$(jget "$HTTP_BODY" .id)
	json=$(wait_job "${!api_var}" "$id" 300) || return 1
	[ "$(jget "$json" .state)" = succeeded ] || { echo "hauld: $(job_summary "$json")" >&2; return 1; }
	echo $(($(now_ms) - t0))
	# Where the time went, from the job's own events: the engine's checkpoint (with
	# hauld's collection of the file system changes), the transfer, the destination's
	# restore (engine), the commit.
	api GET "${!api_var}/migrations/$id/events" >/dev/null
	jq -r --arg e "$1" '[.events[] |
		{m: .message, t: ((.ts | sub("\\.[0-9]+Z$"; "") | strptime("%Y-%m-%dT%H:%M:%S") | mktime) *
			1000 + (.ts | capture("\\.(?<f>[0-9]+)Z").f | tonumber))}] as $ev |
		def at(n): ($ev | map(select(.m == "phase " + n)) | .[0].t);
		"\($e) \(at("transferring") - at("dumping")) \(at("restoring") - at("transferring")) \(at("committing") - at("restoring")) \(($ev | map(select(.m | startswith("succeeded"))) | .[0].t) - at("committing"))"' \
		<<<"$HTTP_BODY" >>"$T/phases"
}

# cli_move ENGINE NAME FROM TO: the same with the engine's CLI; echoes "total_ms",
# and appends "ENGINE checkpoint_ms copy_ms restore_ms" to $T/cli_steps.
cli_move() {
	local from=$3 to=$4 s d t0 t1 t2 t3 dir bid root
	if [ "$1" = docker ]; then
		s=${from}_DOCKER_SOCK d=${to}_DOCKER_SOCK root=${to}_DOCKER_ROOT
		dir=$T/cli-checkpoint
		rm -rf "$dir"
		# Prepared before the freeze, as hauld does: the same container at the destination.
		bid=$("$DOCKER_CLI" -H "unix://${!d}" create --name "$2" --network none "$ENGINES_IMAGE" \
			"${WORKLOAD[@]}") || return 1
		t0=$(now_ms)
		"$DOCKER_CLI" -H "unix://${!s}" checkpoint create --checkpoint-dir "$dir" "$2" cp1 \
			>/dev/null || return 1
		t1=$(now_ms)
		link_copy "$from" "$to" "$dir" "${!root}/containers/$bid/checkpoints" cp1 || return 1
		t2=$(now_ms)
		"$DOCKER_CLI" -H "unix://${!d}" start --checkpoint cp1 "$2" >/dev/null || return 1
		t3=$(now_ms)
		"$DOCKER_CLI" -H "unix://${!s}" rm -f "$2" >/dev/null
		"$DOCKER_CLI" -H "unix://${!d}" checkpoint rm "$2" cp1 >/dev/null 2>&1
	else
		s=${from}_PODMAN_SOCK d=${to}_PODMAN_SOCK
		rm -rf "$T/cli-export" "$T/cli-import"
		mkdir -p "$T/cli-export"
		t0=$(now_ms)
		"$PODMAN_CLI" --remote --url "unix://${!s}" container checkpoint \
			--export "$T/cli-export/cp.tar" "$2" >/dev/null || return 1
		t1=$(now_ms)
		link_copy "$from" "$to" "$T/cli-export" "$T/cli-import" cp.tar || return 1
		t2=$(now_ms)
		"$PODMAN_CLI" --remote --url "unix://${!d}" container restore \
			--import "$T/cli-import/cp.tar" >/dev/null || return 1
		t3=$(now_ms)
		"$PODMAN_CLI" --remote --url "unix://${!s}" rm -f "$2" >/dev/null
	fi
	echo "$1 $((t1 - t0)) $((t2 - t1)) $((t3 - t2))" >>"$T/cli_steps"
	echo $((t3 - t0))
}

# cmed FILE ENGINE COLUMN [TOOL]: the median of a column of FILE's rows for ENGINE
# (and TOOL, the second column, when given).
cmed() {
	awk -v e="$2" -v c="$3" -v t="${4:-}" '$1 == e && (t == "" || $2 == t) { print $c }' "$1" |
		median
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]
		else { m = (v[NR / 2] + v[NR / 2 + 1]) / 2; print (m == int(m)) ? m : sprintf("%.1f", m) } }'
}

results=$T/results
: >"$results"
: >"$T/phases"
: >"$T/cli_steps"
for engine in $ENGINES; do
	if [ "$engine" = docker ]; then
		docker_run "$A_DOCKER_SOCK" w1 "${WORKLOAD[@]}" || die "$engine workload" "docker_run"
	else
		podman_run "$A_PODMAN_SOCK" w1 "${WORKLOAD[@]}" || die "$engine workload" "podman_run"
	fi
	at=A
	for ((i = 0; i < 2 * RUNS; i++)); do
		# hauld, cli, cli, hauld, ...: each tool first as often as second.
		tool=$([ $(((i + i / 2) % 2)) = 0 ] && echo hauld || echo cli)
		to=$([ $at = A ] && echo B || echo A)
		sock_var=${at}_${engine^^}_SOCK
		wait_for 60 _counter_past "$engine" "${!sock_var}" w1 0 || die "$engine run $i" "no workload at $at"
		signal "$engine" "${!sock_var}" w1 USR1
		c=$(sfield "$(status "$engine" "${!sock_var}" w1)" counter)
		wait_for 10 _counter_past "$engine" "${!sock_var}" w1 $((c + 5))
		b0=$(wire_bytes) c0=$(hauld_cpu_ms)
		total=$("${tool}_move" "$engine" w1 $at $to) || die "$engine run $i" "$tool move $at->$to failed"
		mib=$(awk -v a="$b0" -v b="$(wire_bytes)" 'BEGIN { printf "%.1f", (b - a) / 1048576 }')
		cpu=$(($(hauld_cpu_ms) - c0))
		at=$to
		sock_var=${at}_${engine^^}_SOCK
		c=$(sfield "$(status "$engine" "${!sock_var}" w1)" counter)
		wait_for 30 _counter_past "$engine" "${!sock_var}" w1 $((c + 50)) ||
			die "$engine run $i" "the workload does not count on at $at"
		st=$(status "$engine" "${!sock_var}" w1)
		[ "$(sfield "$st" checksum)" = "$(sfield "$st" expected)" ] ||
			die "$engine run $i" "memory not intact after the $tool move: $st"
		gap=$(sfield "$st" max_gap_ms)
		echo "$engine $tool $gap $total $mib $cpu" >>"$results"
		note "$engine run $((i + 1)): $tool $([ "$to" = B ] && echo "A to B" || echo "B to A"): downtime seen $gap ms, total $total ms, $mib MiB on the wire, hauld's CPU $cpu ms"
	done
	sock_var=${at}_${engine^^}_SOCK
	if [ "$engine" = docker ]; then dapi "${!sock_var}" DELETE "/containers/w1?force=1" >/dev/null
	else papi "${!sock_var}" DELETE "/containers/w1?force=true" >/dev/null; fi
done

phases_table=$T/phases_table
{
	printf '| engine | checkpoint at the source | transfer | restore at the destination | commit |\n'
	printf '|---|---:|---:|---:|---:|\n'
	for engine in $ENGINES; do
		printf '| %s' "$engine"
		for col in 2 3 4 5; do
			printf ' | %s' "$(cmed "$T/phases" "$engine" $col)"
		done
		printf ' |\n'
	done
} >"$phases_table"
# The CLI pipeline's steps, and the floor under any tool that makes the same two engine
# calls: the CLI's downtime less its copy (the calls freeze and resume the workload at
# the same points whoever makes them).
steps_table=$T/steps_table
{
	printf '| engine | CLI steps (ms): checkpoint / copy / restore | CLI downtime seen | floor: that less the copy | floor / CLI |\n'
	printf '|---|---:|---:|---:|---:|\n'
	for engine in $ENGINES; do
		ck=$(cmed "$T/cli_steps" "$engine" 2)
		cp=$(cmed "$T/cli_steps" "$engine" 3)
		rs=$(cmed "$T/cli_steps" "$engine" 4)
		cd=$(cmed "$results" "$engine" 3 cli)
		fl=$(awk -v a="$cd" -v b="$cp" 'BEGIN { print a - b }')
		printf '| %s | %s / %s / %s | %s | %s | %s |\n' "$engine" "$ck" "$cp" "$rs" "$cd" "$fl" \
			"$(awk -v a="$fl" -v b="$cd" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
	done
} >"$steps_table"
table=$T/table
{
	printf '| engine | downtime seen (ms), hauld / CLI | ratio | total (ms), hauld / CLI | MiB on the wire, hauld / CLI | hauld CPU (ms) |\n'
	printf '|---|---:|---:|---:|---:|---:|\n'
	for engine in $ENGINES; do
		hd=$(cmed "$results" "$engine" 3 hauld)
		cd=$(cmed "$results" "$engine" 3 cli)
		ht=$(cmed "$results" "$engine" 4 hauld)
		ct=$(cmed "$results" "$engine" 4 cli)
		ratio=$(awk -v a="$hd" -v b="$cd" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		printf '| %s | %s / %s | %s | %s / %s | %s / %s | %s |\n' "$engine" "$hd" "$cd" "$ratio" \
			"$ht" "$ct" "$(cmed "$results" "$engine" 5 hauld)" "$(cmed "$results" "$engine" 5 cli)" \
			"$(cmed "$results" "$engine" 6 hauld)"
	done
} >"$table"
cat "$table"
cat "$phases_table"
cat "$steps_table"
if [ "$WRITE" = 1 ]; then
	{
		echo "# Container benchmarks"
		echo
		echo "Written by \`$([ -n "$RATE" ] && echo "make bench-shaped" || echo "make bench-containers")\` (tests/bench/containers.sh$([ -n "$RATE" ] && echo " with BENCH_RATE=$RATE BENCH_FILL=$FILL")) on $(date -u +%Y-%m-%d),"
		echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), kernel $(uname -r),"
		echo "$(nproc) CPUs, CRIU $(/usr/local/sbin/criu --version | sed -n 's/^Version: //p'),"
		echo "Docker $(jget "$(dapi "$A_DOCKER_SOCK" GET /version)" .Version),"
		echo "Podman $(jget "$(papi "$A_PODMAN_SOCK" GET /version)" .Version)."
		echo
		echo "A container running the checksummed workload ($MIB MiB of $FILL memory) moves"
		echo "between two hosts (network namespaces on one machine, joined by a veth pair"
		echo "$([ -n "$RATE" ] && echo "shaped with tc tbf at $RATE" || echo "left unshaped")), $RUNS times per tool and engine, alternately"
		echo "with hauld and with the engine's CLI pipeline (see the script's header). Downtime"
		echo "is what the workload itself saw: its longest gap between two 5 ms ticks. Medians."
		echo "hauld's transfer compresses as its compress option (auto) decides; the CLI's"
		echo "copy sends the files as they are. MiB on the wire: what both hosts sent over"
		echo "their link during the move. hauld's CPU: both daemons' own (not CRIU's or the"
		echo "engines'), in hauld's moves and, as a check, in the CLI's (where it idles)."
		echo
		cat "$table"
		echo
		echo "Where hauld's downtime goes (medians in ms, from each job's phase events):"
		echo "the engine's checkpoint (with, for Docker, hauld's collection of the file system"
		echo "changes through the archive API), the transfer between the hosts, the"
		echo "destination engine's restore (with, for Docker, putting those changes into the new"
		echo "container), and the commit (unpause)."
		echo
		cat "$phases_table"
		echo
		echo "The CLI pipeline's own steps (medians of their wall times), and the floor under"
		echo "any tool that makes the same two engine calls, as hauld does: the CLI's downtime"
		echo "less its copy, since those calls freeze and resume the workload wherever they"
		echo "are made from. The floor over the CLI's downtime is the best ratio such a tool can"
		echo "reach."
		echo
		cat "$steps_table"
		echo
		echo "Every move:"
		echo
		echo '| engine | tool | downtime seen (ms) | total (ms) | MiB on the wire | hauld CPU (ms) |'
		echo '|---|---|---:|---:|---:|---:|'
		awk '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$results"
	} >"$DOC"
	note "wrote $DOC"
fi
finish
