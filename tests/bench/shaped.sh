#!/usr/bin/env bash
# shaped.sh: hauld beside the CRIU CLI over a constrained link (`make bench-shaped`,
# part of `make bench`; issue 13). Two hosts are two network namespaces joined by a
# veth pair, both ends shaped with tc tbf (this kernel has no netem). Each workload
# moves back and forth, the runs alternating between:
#   cli    what a user who knows CRIU scripts between two hosts: `criu page-server` at
#          the destination, `criu dump --page-server` at the source (the pages stream
#          over the link while CRIU dumps), the other image files copied after them
#          (tar through nc over the same link), `criu restore -d` at the destination;
#   cli-keep the same, keeping hauld's promise: the dump leaves the source's tree
#          stopped (--leave-stopped), killed once the restore has succeeded. On one
#          machine this also means the restore runs beside the frozen source, as
#          hauld's does, instead of in the memory the killed source gave back;
#   off    hauld with options.compress "off";
#   auto   hauld with its default, options.compress "auto".
# Workloads, about SHAPED_MIB each:
#   redis   Debian's redis-server holding user records (JSON-like values of varied
#           text) loaded through its own protocol;
#   python  a CPython heap of dicts, lists, strings, ints and floats
#           (tests/bench/pyheap.py);
#   random  tests/workload.c --fill random, the incompressible worst case;
#   text    tests/workload.c --fill text (not in the default set).
# Downtime is what the workload saw, measured the same way for every tool: workload.c's
# own longest gap between two 5 ms ticks; for redis and python a workload.c ticker
# (1 MiB) runs as a child in the same process tree, frozen and moved with it. Every
# move is checked on the program itself: workload.c's checksum; redis's DBSIZE and
# 2,000 values read back through its protocol; the python heap hashed again in place.
# Also printed: total time (hauld: the job's total_ms; cli: its pipeline's wall time),
# MiB the two hosts sent over the link (their veth counters), and the CPU both hauld
# daemons used (their own, not CRIU's).
#
# Environment (defaults in brackets):
#   SHAPED_PROFILES  link rates, tc's syntax ["1gbit"]; all three: "200mbit 1gbit 10gbit"
#   SHAPED_WORKLOADS ["redis python random"]
#   SHAPED_MIB       workload size in MiB [256]; 1024 for the 1 GiB figures
#   SHAPED_RUNS      moves per tool, workload and profile [3]
#   SHAPED_TOOLS     ["cli cli-keep off auto"]
#   SHAPED_DOC       the document written, relative to the repo; empty: none
#                    [docs/BENCHMARKS-SHAPED.md]
# shellcheck source-path=SCRIPTDIR
# Descriptors inherited from whoever runs this would pass on to the workloads and be
# dumped with them: a `flock LOCK make bench-shaped` hands down its locked file, and
# CRIU refuses to dump a tree holding it. Closed first (255 is bash's own script).
for fd in "/proc/$$/fd/"*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] && [ "$fd" != 255 ] && eval "exec $fd>&-"
done
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
need_root_and_build

PROFILES=${SHAPED_PROFILES:-1gbit}
WORKLOADS=${SHAPED_WORKLOADS:-redis python random}
MIB=${SHAPED_MIB:-256}
RUNS=${SHAPED_RUNS:-3}
TOOLS=${SHAPED_TOOLS:-cli cli-keep off auto}
DOC=${SHAPED_DOC-docs/BENCHMARKS-SHAPED.md}
CRIU=/usr/local/sbin/criu
PY=/usr/bin/python3
REDIS_PORT=6379
PS_PORT=27027
for c in tc nc redis-server redis-cli "$PY" "$CRIU"; do
	command -v "$c" >/dev/null || die "$c" "missing (scripts/setup.sh installs it)"
done

setup_netns || die "network namespaces" "setup_netns failed"
make_secret "$T/secret"
start_hauld A --netns "$NS_A" --listen "$ADDR_A:0" --peer-listen "$ADDR_A:0" \
	--secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_hauld B --netns "$NS_B" --listen "$ADDR_B:0" --peer-listen "$ADDR_B:0" \
	--secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"

# shape RATE: both ends of the link at RATE.
shape() {
	local ns
	for ns in "$NS_A" "$NS_B"; do
		tc -n "$ns" qdisc replace dev veth0 root tbf rate "$1" burst 256kb latency 50ms ||
			return 1
	done
}

# ---- the workloads ---------------------------------------------------------------
# Each: start_W (echoes the tree's root pid, in namespace A), check_W LABEL HOST PID
# (the program at HOST, A or B, holds what it was given), and the file its ticks go to.

# ticker NAME: the workload.c ticker a program's tree carries, as a shell fragment.
ticker() {
	printf '%q --mib 1 --tick-ms 5 --status %q </dev/null >/dev/null 2>&1 &' \
		"$BUILD/workload" "$T/$1.tick"
}

# The child of root pid $1 named workload (the ticker).
ticker_pid() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = workload ] && { echo "$c"; return 0; }
	done
	return 1
}

REDIS_KEYS=$((MIB * 1048576 / 300))
# The value of key user:I, as loaded and as read back.
redis_values() {
	awk -v a="$1" -v z="$2" 'BEGIN {
		split("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basalt cobalt dune ember fjord", w, " ")
		for (i = a; i <= z; i++) {
			bio = ""
			for (k = 0; k < 6 + i % 11; k++) bio = bio " " w[1 + (i * 7919 + k * 104729) % 32]
			printf "{\"id\":%d,\"user\":\"user%07d\",\"email\":\"user%d@example.com\",\"score\":%d.%02d,\"tags\":[\"%s\",\"%s\"],\"bio\":\"%s\"}\n",
				i, i, i, (i * 31) % 1000, i % 100, w[1 + i % 32], w[1 + (i * 13) % 32], substr(bio, 2)
		}
	}'
}

rcli() {
	local host=$1 addr_var=ADDR_$1 ns_var=NS_$1
	shift
	timeout 60 nsenter "--net=/run/netns/${!ns_var}" -- redis-cli -h "${!addr_var}" \
		-p $REDIS_PORT "$@"
}

start_redis() {
	local pid
	pid=$(start_program redis redis-server --netns "$NS_A" -- sh -c \
		"$(ticker redis) exec redis-server --port $REDIS_PORT --bind 0.0.0.0 --protected-mode no --save '' --appendonly no --daemonize no") ||
		return 1
	wait_for 10 sh -c "[ \"\$(nsenter --net=/run/netns/$NS_A -- redis-cli -h $ADDR_A -p $REDIS_PORT PING 2>/dev/null)\" = PONG ]" ||
		return 1
	redis_values 1 "$REDIS_KEYS" | awk '{ v = $0; gsub(/"/, "\\\"", v); printf "SET user:%d \"%s\"\r\n", NR, v }' |
		in_netns "$NS_A" redis-cli -h "$ADDR_A" -p $REDIS_PORT --pipe >"$T/redis-load.out" 2>&1 ||
		return 1
	echo "$pid"
}

check_redis() {
	local label=$1 host=$2 b got want bad=0
	expect_eq "$label: redis answers with every key" "$(rcli "$host" DBSIZE)" "$REDIS_KEYS" ||
		return 1
	for b in 1 $((REDIS_KEYS / 2)) $((REDIS_KEYS - 999)); do
		got=$(rcli "$host" MGET $(seq -f 'user:%.0f' "$b" $((b + 999))) | md5sum)
		want=$(redis_values "$b" $((b + 999)) | md5sum)
		[ "$got" = "$want" ] || bad=$((bad + 1))
	done
	expect_eq "$label: 3,000 values read back as loaded (batches that differ)" "$bad" 0
}

start_python() {
	local pid
	pid=$(start_program python python3 --netns "$NS_A" -- sh -c \
		"$(ticker python) exec $PY $(printf %q "$ROOT/tests/bench/pyheap.py") $MIB $(printf %q "$T/python.status")") ||
		return 1
	wait_for $((30 + MIB / 4)) grep -q '^ready' "$T/python.status" || return 1
	echo "$pid"
}

check_python() {
	local label=$1 pid=$3 st
	rm -f "$T/python.status"
	kill -USR1 "$pid"
	wait_for $((30 + MIB / 8)) test -s "$T/python.status" || {
		fail "$label: the heap is hashed again" "no status"
		return 1
	}
	st=$(cat "$T/python.status")
	expect_eq "$label: the CPython heap hashes as it did" "$(sfield "$st" checksum)" \
		"$(sfield "$st" expected)"
}

start_random() { start_workload random "$MIB" --netns "$NS_A" --fill random --tick-ms 5; }
start_text() { start_workload text "$MIB" --netns "$NS_A" --fill text --tick-ms 5; }
check_random() { WORKLOAD_FILL=random check_workload_intact "$T/random.status" "$MIB" \
	"$(status_field "$T/random.status" counter)" "$1: workload.c's memory intact"; }
check_text() { WORKLOAD_FILL=text check_workload_intact "$T/text.status" "$MIB" \
	"$(status_field "$T/text.status" counter)" "$1: workload.c's memory intact"; }

# The status file and pid whose max_gap_ms is the workload's downtime.
gap_file() { case $1 in random | text) echo "$T/$1.status" ;; *) echo "$T/$1.tick" ;; esac; }
gap_pid() { case $1 in random | text) echo "$2" ;; *) ticker_pid "$2" ;; esac; }

# memory_speed: how fast this machine gives a program memory, fresh and recycled. On a
# VM that hands freed memory back to its host (free page reporting), memory touched
# for the first time after a pause costs a fault in the host as well; memory freed a
# moment ago does not. dd's 1 GiB buffer after 5 s idle, then the best of 3 right after.
memory_speed() {
	local fresh best=0 mbs _
	sleep 5
	fresh=$(dd_mbs)
	for _ in 1 2 3; do
		mbs=$(dd_mbs)
		[ "$mbs" -gt "$best" ] && best=$mbs
	done
	echo "a 1 GiB buffer written after 5 s idle: $fresh MB/s; right after another was freed: $best MB/s (the best of 3)"
}
# dd_mbs: MB/s of dd writing a fresh 1 GiB buffer (its own figure, from bytes and seconds).
dd_mbs() {
	dd if=/dev/zero of=/dev/null bs=1G count=1 2>&1 |
		awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") s = $(i - 1); print int($1 / s / 1e6) }'
}
MEMORY=$(memory_speed)
note "this machine's memory: $MEMORY"
if [ -r /sys/module/page_reporting/parameters/page_reporting_order ]; then
	MEMORY="$MEMORY (free page reporting on, order $(cat /sys/module/page_reporting/parameters/page_reporting_order))"
fi

# ---- the tools -------------------------------------------------------------------
# move_TOOL FROM TO PID: one move; sets MOVED (the pid at TO) and TOTAL (ms).

move_hauld() {
	local pid=$3 mode=$4 api=${1}_API peer=${2}_PEER
	MIGRATE_OPTIONS="{\"compress\":\"$mode\"}" migrate_program "$LABEL" "${!api}" "$pid" \
		"${!peer}" live 300 || return 1
	MOVED=$MIGRATED_PID
	TOTAL=$(jget "$JOB_JSON" .stats.total_ms)
	# Its steps beside the CLI's: the restore, and what came before it (the dump
	# streaming the pages, the other images sent at once, the commit).
	local rst down dapi=${2}_API djson fill=-
	rst=$(jget "$JOB_JSON" .stats.restore_ms) down=$(jget "$JOB_JSON" .stats.downtime_ms)
	# With restore_pages lazy the destination's job goes on until the memory has
	# filled in: how long after the source's job (the copy ran) it ended.
	if djson=$(wait_job "${!dapi}" "$JOB_ID" 120) &&
		[ "$(jget "$djson" .stats.restore_pages)" = lazy ]; then
		fill=$(($(iso_ms "$djson") - $(iso_ms "$JOB_JSON")))
	fi
	printf '%s\t%s\t%s\t%s\t-\t%s\t%s\n' "$RATE" "$WL" "$mode" $((down - rst)) "$rst" "$fill" \
		>>"$T/steps_raw"
}
# iso_ms JSON: the job's finished_at (RFC 3339 with milliseconds) in ms since the epoch.
iso_ms() {
	jget "$1" '.finished_at | (sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) * 1000 +
		(capture("\\.(?<ms>[0-9]+)Z$").ms // "0" | tonumber)'
}
move_off() { move_hauld "$@" off; }
move_auto() { move_hauld "$@" auto; }

move_cli() { cli_pipeline "$@" ""; }
move_cli-keep() { cli_pipeline "$@" --leave-stopped; }

# cli_pipeline FROM TO PID [--leave-stopped]
cli_pipeline() {
	local pid=$3 keep=$4 ns_from=NS_$1 ns_to=NS_$2 addr_to=ADDR_$2 src dst ps t0 t1 t2 names
	# nsenter --net, not ip netns exec: CRIU must share the programs' mount namespace
	# (ip netns exec makes one of its own).
	src=$T/cli-src dst=$T/cli-dst
	rm -rf "$src" "$dst"
	mkdir -p "$src" "$dst"
	in_netns "${!ns_to}" "$CRIU" page-server --images-dir "$dst" \
		--address "${!addr_to}" --port $PS_PORT -o page-server.log </dev/null &
	ps=$!
	wait_for 10 _listening "${!ns_to}" $PS_PORT || { kill "$ps"; return 1; }
	t0=$(now_ms)
	in_netns "${!ns_from}" "$CRIU" dump -t "$pid" --images-dir "$src" --page-server \
		--address "${!addr_to}" --port $PS_PORT -o dump.log ${keep:+"$keep"} || {
		fail "$LABEL: criu dump" "see $src/dump.log"
		kill "$ps" 2>/dev/null
		return 1
	}
	wait "$ps" || { fail "$LABEL: criu page-server" "see $dst/page-server.log"; return 1; }
	t1=$(now_ms)
	# The image files besides the pages, which went to the page server.
	mapfile -t names < <(find "$src" -maxdepth 1 -type f ! -name '*.log' -printf '%P\n')
	link_copy "$1" "$2" "$src" "$dst" "${names[@]}" || return 1
	t2=$(now_ms)
	in_netns "${!ns_to}" "$CRIU" restore -d --images-dir "$dst" -o restore.log \
		--pidfile "$dst/restored.pid" || { fail "$LABEL: criu restore" "see $dst/restore.log"; return 1; }
	# The source's tree, stopped, goes once the copy runs (its pid namespace with it).
	[ -n "$keep" ] && kill -KILL "$pid"
	TOTAL=$(($(now_ms) - t0))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t-\n' "$RATE" "$WL" "${keep:+keep}" $((t1 - t0)) $((t2 - t1)) $((TOTAL - t2 + t0)) \
		>>"$T/steps_raw"
	MOVED=$(cat "$dst/restored.pid")
	track_pid "$MOVED"
	pass "$LABEL: the CRIU CLI moved it, pid $MOVED"
}

# ---- the runs --------------------------------------------------------------------
ROWS=$T/rows
: >"$ROWS"
for wl in $WORKLOADS; do
	PID=$("start_$wl") || die "$wl starts" "see $T"
	at=A
	for rate in $PROFILES; do
		shape "$rate" || die "tc tbf $rate" "cannot shape the link"
		for ((run = 0; run < RUNS; run++)); do
			for tool in $TOOLS; do
				to=$([ $at = A ] && echo B || echo A)
				LABEL="$wl $MIB MiB, $rate, $tool, run $run, $at to $to" RATE=$rate WL=$wl
				gp=$(gap_pid "$wl" "$PID") || die "$LABEL" "no ticker in the tree"
				kill -USR1 "$gp"
				sleep 0.2
				b0=$(wire_bytes) c0=$(hauld_cpu_ms)
				"move_$tool" $at $to "$PID" || die "$LABEL" "the move failed"
				mib=$(awk -v a="$b0" -v b="$(wire_bytes)" 'BEGIN { printf "%.1f", (b - a) / 1048576 }')
				cpu=$(($(hauld_cpu_ms) - c0))
				PID=$MOVED at=$to
				gf=$(gap_file "$wl")
				c=$(status_field "$gf" counter)
				wait_counter_past "$gf" $((c + 20)) 30
				gap=$(status_field "$gf" max_gap_ms)
				"check_$wl" "$LABEL" "$at" "$PID" || die "$LABEL" "the program did not come through"
				note "$LABEL: downtime seen $gap ms, total $TOTAL ms, $mib MiB on the wire, hauld CPU $cpu ms"
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$wl" "$tool" "$gap" "$TOTAL" "$mib" \
					"$cpu" >>"$ROWS"
			done
		done
	done
	kill "$PID"
done

# ---- the table -------------------------------------------------------------------
TABLE=$T/table
{
	printf '| link | workload | tool | downtime seen ms | total ms | MiB on the wire | hauld CPU ms | downtime / CLI | total / CLI | downtime / CLI keeping the source |\n'
	printf '|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n'
	for rate in $PROFILES; do
		for wl in $WORKLOADS; do
			awk -F'\t' -v r="$rate" -v w="$wl" -v tools="$TOOLS" '
				function median(a, n,   i, j, t) {
					for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
						if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
					return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
				}
				$1 == r && $2 == w { k = $3; n[k]++; d[k, n[k]] = $4; t[k, n[k]] = $5
					m[k, n[k]] = $6; c[k, n[k]] = $7 }
				END {
					nt = split(tools, tl, " ")
					for (x = 1; x <= nt; x++) {
						k = tl[x]
						if (!n[k]) continue
						for (i = 1; i <= n[k]; i++) { D[i] = d[k, i]; T[i] = t[k, i]; M[i] = m[k, i]; C[i] = c[k, i] }
						md[k] = median(D, n[k]); mt[k] = median(T, n[k])
						mm[k] = median(M, n[k]); mc[k] = median(C, n[k])
					}
					for (x = 1; x <= nt; x++) {
						k = tl[x]
						if (!n[k]) continue
						rd = ("cli" in md && md["cli"] > 0) ? sprintf("%.2f", md[k] / md["cli"]) : "-"
						rt = ("cli" in mt && mt["cli"] > 0) ? sprintf("%.2f", mt[k] / mt["cli"]) : "-"
						rk = ("cli-keep" in md && md["cli-keep"] > 0) ? sprintf("%.2f", md[k] / md["cli-keep"]) : "-"
						name = k == "cli" ? "CRIU CLI" : k == "cli-keep" ? "CRIU CLI keeping the source" : "hauld, compress " k
						printf "| %s | %s | %s | %d | %d | %.1f | %d | %s | %s | %s |\n", r, w,
							name, md[k], mt[k], mm[k], mc[k], rd, rt, rk
					}
				}' "$ROWS"
		done
	done
} >"$TABLE"
STEPS=$T/steps
if [ -s "$T/steps_raw" ]; then
	{
		printf '| link | workload | tool | dump, the pages streaming, ms | other images after it ms | restore ms | memory filled in after it ran, ms |\n'
		printf '|---|---|---|---:|---:|---:|---:|\n'
		for rate in $PROFILES; do
			for wl in $WORKLOADS; do
				for v in "" keep off auto; do
					awk -F'\t' -v r="$rate" -v w="$wl" -v v="$v" '$1 == r && $2 == w && $3 == v {
						n++; a += $4; b += $5; c += $6; if ($7 != "-") { nf++; f += $7 } }
						END {
							if (!n) exit
							name = "hauld, compress " v; copy = "with the dump"
							if (v == "") name = "CRIU CLI"
							if (v == "keep") name = "CRIU CLI keeping the source"
							if (v == "" || v == "keep") copy = int(b / n)
							fill = nf ? int(f / nf) (nf < n ? " (" nf " of " n ")" : "") : "-"
							printf "| %s | %s | %s | %d | %s | %d | %s |\n", r, w, name, a / n, copy, c / n, fill
						}' "$T/steps_raw"
				done
			done
		done
	} >"$STEPS"
fi
echo
cat "$TABLE"
echo
[ -s "$STEPS" ] && { cat "$STEPS"; echo; }
if [ -n "$DOC" ]; then
	DOCF=$ROOT/$DOC
	TMPL=$ROOT/docs/BENCHMARKS-SHAPED.notes.md
	{
		echo "# hauld beside the CRIU CLI over a shaped link"
		echo
		echo "Written by \`make bench-shaped\` (tests/bench/shaped.sh) on $(date -u +%Y-%m-%d),"
		echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), kernel $(uname -r), $(nproc) CPUs"
		echo "(both hosts, their CRIU and the workloads share them), CRIU $("$CRIU" --version | sed -n 's/^Version: //p')."
		echo "SHAPED_PROFILES=\"$PROFILES\" SHAPED_WORKLOADS=\"$WORKLOADS\" SHAPED_MIB=$MIB SHAPED_RUNS=$RUNS;"
		echo "medians of $RUNS moves a row, the tools alternating, each move checked on the program."
		echo "The method is in the script's header; downtime is what the workload's own ticker saw."
		echo "This machine's memory: $MEMORY."
		echo
		cat "$TABLE"
		echo
		if [ -s "$STEPS" ]; then
			echo "Where each tool's downtime goes (means of the steps' wall times; for hauld, the"
			echo "job's \`restore_ms\`, and its downtime before the restore). With restore_pages"
			echo "lazy (auto from 64 MiB on), hauld's restore leaves the memory to a local"
			echo "\`criu lazy-pages\`, and the last column says how long after the copy ran the"
			echo "destination's job ended, every page in: not downtime, the process runs meanwhile:"
			echo
			cat "$STEPS"
			echo
		fi
		[ -f "$TMPL" ] && cat "$TMPL"
	} >"$DOCF"
	note "wrote $DOCF"
	# The README's copy of the default run's table.
	if [ "$DOC" = docs/BENCHMARKS-SHAPED.md ]; then
		/usr/bin/python3 - "$ROOT/README.md" "$TABLE" "$MIB" "$RUNS" <<'PY' ||
import sys
readme, table, mib, runs = sys.argv[1:]
start, end = "<!-- shaped:start -->", "<!-- shaped:end -->"
text = open(readme).read()
if start in text and end in text:
    a = text.index(start) + len(start)
    b = text.index(end, a)
    body = ("\n%s MiB workloads, medians of %s moves; downtime is what the workload saw. "
            "Method and every profile: [docs/BENCHMARKS-SHAPED.md](docs/BENCHMARKS-SHAPED.md); "
            "`make bench-shaped` regenerates both.\n\n" % (mib, runs)) + open(table).read()
    open(readme, "w").write(text[:a] + body + text[b:])
PY
			fail "README" "could not update its shaped table"
		note "updated the README's shaped table"
	fi
fi
finish
