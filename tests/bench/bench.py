#!/usr/bin/env python3
"""bench.py: the Python half of tests/bench/run.sh (standard library only).

    bench.py subreaper CMD ARGS...   become a child subreaper, then exec CMD
    bench.py freeport                print a free TCP port on 127.0.0.1
    bench.py stats FILE              print CRIU's stats-dump / stats-restore as JSON
    bench.py probe MIB DIR           time filling MIB MiB of fresh memory after, and
                                     beside, a process holding as much (see cmd_probe)
    bench.py report DIR              turn DIR/runs.jsonl, DIR/wrk-*.json and
                                     DIR/machine.json into tables: stdout, and with
                                     --out FILE --readme FILE also docs and README

run.sh records raw facts (one JSON object a line per migration); everything that
is computed from them (medians, ratios, the sentences) is computed here, so that
the tables and the prose cannot disagree.
"""
import ctypes
import json
import os
import re
import socket
import statistics
import struct
import sys

# ---------------------------------------------------------------------------
# CRIU's stats files, without crit or the protobuf module

IMG_SERVICE_MAGIC = 0x55105940
STATS_MAGIC = 0x57093306

# stats.proto: StatsEntry { 1: DumpStatsEntry dump; 2: RestoreStatsEntry restore }
DUMP_FIELDS = {1: "freezing_us", 2: "frozen_us", 3: "memdump_us", 4: "memwrite_us",
               5: "pages_scanned", 6: "pages_skipped_parent", 7: "pages_written",
               8: "irmap_resolve_us", 9: "pages_lazy", 10: "page_pipes",
               11: "page_pipe_bufs", 12: "shpages_scanned", 13: "shpages_skipped_parent",
               14: "shpages_written"}
RESTORE_FIELDS = {1: "pages_compared", 2: "pages_skipped_cow", 3: "forking_us",
                  4: "restore_us", 5: "pages_restored"}


def _varint(buf, pos):
    val = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, pos
        shift += 7


def _fields(buf):
    """Yield (field number, wire type, value) of one protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 2:
            n, pos = _varint(buf, pos)
            val, pos = buf[pos:pos + n], pos + n
        elif wt == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wt == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unknown wire type %d" % wt)
        yield num, wt, val


def read_stats(path):
    """CRIU's stats-dump or stats-restore as a dict ({} when unreadable)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < 12:
            return {}
        m1, m2, n = struct.unpack_from("<III", data, 0)
        if m1 != IMG_SERVICE_MAGIC or m2 != STATS_MAGIC or n > len(data) - 12:
            return {}
        out = {}
        for num, wt, val in _fields(data[12:12 + n]):
            names = DUMP_FIELDS if num == 1 else RESTORE_FIELDS if num == 2 else None
            if names is None or wt != 2:
                continue
            out["kind"] = "dump" if num == 1 else "restore"
            for sub, swt, sval in _fields(val):
                if swt == 0 and sub in names:
                    out[names[sub]] = sval
        return out
    except (OSError, ValueError, struct.error):
        return {}


# ---------------------------------------------------------------------------
# Small commands


def cmd_subreaper(argv):
    # PR_SET_CHILD_SUBREAPER survives execve. Trees that `criu restore -d` detaches
    # are then reparented to the benchmark's shell, which reaps them, instead of to
    # this machine's init, which leaves them as zombies.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:
        sys.stderr.write("bench.py: prctl(PR_SET_CHILD_SUBREAPER): %s\n"
                         % os.strerror(ctypes.get_errno()))
    os.execvp(argv[0], argv)


def cmd_freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def cmd_probe(mib, workdir):
    """How the order of "free the source" and "build the copy" costs on this machine.

    A restore fills fresh memory with the pages a page server has just written to
    files. hauld restores while the frozen source still holds its memory (so that it
    can roll back); the CRIU CLI kills the source first. On one machine the second
    order lets the copy reuse the memory just freed; the first needs memory on top.
    On a VM that backs guest memory lazily (and takes freed memory back through its
    balloon driver), memory beyond what was recently in use costs a hypervisor fault
    on its first touch. This measures both orders with plain memory: hold MIB MiB,
    write MIB MiB of files, then touch MIB MiB of fresh memory after or before
    freeing the first."""
    import mmap
    import time
    n = mib << 20
    zeros = bytes(n // 4096)
    block = os.urandom(1 << 20)
    path = os.path.join(workdir, "probe.img")

    def alloc():
        m = mmap.mmap(-1, n)
        mv = memoryview(m)
        t = time.monotonic()
        mv[::4096] = zeros
        return m, mv, round((time.monotonic() - t) * 1000.0)

    def release(x):
        x[1].release()
        x[0].close()

    out = {"mib": mib}
    for order in ("after_free", "beside"):
        time.sleep(3)
        src = alloc()
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(block)
        if order == "after_free":
            release(src)
            dst = alloc()
        else:
            dst = alloc()
            release(src)
        out[order + "_ms"] = dst[2]
        release(dst)
        os.unlink(path)
    print(json.dumps(out))


# ---------------------------------------------------------------------------
# Statistics


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mmm(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return (statistics.median(xs), min(xs), max(xs))


def fnum(x, digits=0):
    if x is None:
        return "–"
    if digits == 0:
        return "{:,}".format(int(round(x))).replace(",", " ")
    return ("{:.%df}" % digits).format(x)


def fmmm(t, digits=0):
    if t is None:
        return "–"
    m, lo, hi = t
    if lo == hi:
        return fnum(m, digits)
    return "%s [%s–%s]" % (fnum(m, digits), fnum(lo, digits), fnum(hi, digits))


def fratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return "%.2f" % (a / b)


def table(head, rows, left=1):
    """A markdown table; the first `left` columns are left-aligned, the rest (numbers)
    right-aligned."""
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i < left else "---:" for i in range(len(head))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def load_jsonl(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
    except OSError:
        pass
    return rows


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def ts_ms(s):
    """'2026-11-25T23:02:31.346Z' -> ms since the epoch (UTC)."""
    import datetime
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000.0


PHASES = ["queued", "connecting", "preflight", "dumping", "transferring", "restoring",
          "committing", "done"]


def phase_durations(events):
    """From a job's event log: ms spent in each phase (from a phase's first event to
    the next phase's first event), in the order the phases came. A mode's own phases
    (say "lazy") come out as they are."""
    first = {}
    order = []
    for e in events or []:
        ph = e.get("phase")
        if ph and ph not in first and e.get("ts"):
            first[ph] = ts_ms(e["ts"])
            order.append(ph)
    out = {}
    for a, b in zip(order, order[1:]):
        out[a] = first[b] - first[a]
    return out


def phase_order(runs):
    """The phases of these jobs, merged in the order they came (PHASES first)."""
    seen = []
    for r in runs:
        for ph in r.get("phases", {}):
            if ph not in seen:
                seen.append(ph)
    known = [p for p in PHASES if p in seen]
    return known + [p for p in seen if p not in known]


def enrich(r):
    """Fill the derived fields of one migration record in place."""
    if r["tool"] == "hauld":
        job = load_json(r.get("job_file", ""), {}) or {}
        st = job.get("stats") or {}
        r["state"] = job.get("state")
        r["downtime_ms"] = st.get("downtime_ms")
        r["frozen_ms"] = st.get("frozen_ms")
        r["total_ms"] = st.get("total_ms")
        r["restore_ms"] = st.get("restore_ms")
        r["bytes"] = st.get("bytes")
        r["lazy_pages"] = st.get("lazy_pages")
        its = st.get("iterations") or []
        if its:
            r["memdump_ms"] = its[-1].get("memdump_ms")
            r["memwrite_ms"] = its[-1].get("memwrite_ms")
        ev = load_json(r.get("events_file", ""), {}) or {}
        r["phases"] = phase_durations(ev.get("events"))
    else:
        d = read_stats(r.get("stats_dump", ""))
        rs = read_stats(r.get("stats_restore", ""))
        r["frozen_ms"] = d["frozen_us"] / 1000.0 if "frozen_us" in d else None
        r["memdump_ms"] = d["memdump_us"] / 1000.0 if "memdump_us" in d else None
        r["memwrite_ms"] = d["memwrite_us"] / 1000.0 if "memwrite_us" in d else None
        r["restore_ms"] = rs["restore_us"] / 1000.0 if "restore_us" in rs else None
    if r.get("bytes") and r.get("total_ms"):
        r["mib_s"] = r["bytes"] / 1048576.0 / (r["total_ms"] / 1000.0)
    return r


def spec_label(spec):
    mib, _, rate = spec.partition("@")
    mib = int(mib)
    size = "%d GiB" % (mib // 1024) if mib % 1024 == 0 else "%d MiB" % mib
    return size + (", dirtying %s MiB/s" % rate if rate else "")


def spec_key(spec):
    mib, _, rate = spec.partition("@")
    return (1 if rate else 0, int(mib), int(rate or 0))


# ---------------------------------------------------------------------------
# The report


def report(d, out_path=None, readme_path=None):
    machine = load_json(os.path.join(d, "machine.json"), {}) or {}
    runs = [enrich(r) for r in load_jsonl(os.path.join(d, "runs.jsonl"))]
    main = [r for r in runs if r.get("section") == "main"]
    specs = sorted({r["spec"] for r in main}, key=spec_key)
    modes = []
    for r in main:
        if r["tool"] == "hauld" and r["mode"] not in modes:
            modes.append(r["mode"])
    cli_variants = [""] + (["safe"] if any(r["tool"] == "criu" and r.get("mode") == "safe"
                                           for r in main) else [])
    tools = [("hauld", m) for m in modes] + [("criu", v) for v in cli_variants]

    def tname(tool, mode):
        if tool == "hauld":
            return "hauld %s" % mode
        return "CRIU CLI, source kept" if mode == "safe" else "CRIU CLI"

    def sel(spec, tool, mode, ok_only=True):
        return [r for r in main if r["spec"] == spec and r["tool"] == tool and
                (r.get("mode") or "") == mode and (r.get("ok") or not ok_only)]

    def agg(spec, tool, mode, key):
        return mmm([r.get(key) for r in sel(spec, tool, mode)])

    def aggp(spec, tool, mode, phase):
        return mmm([r.get("phases", {}).get(phase) for r in sel(spec, tool, mode)])

    total_runs = len(runs)
    failures = [r for r in runs if not r.get("ok")]
    parts = []

    # --- header
    hdr = ["# hauld benchmarks", "",
           "Generated by `make bench` (`tests/bench/run.sh`); do not edit by hand, run it "
           "again. Every figure is the median of the runs with [min–max]; times in ms.", "",
           "## Machine", "",
           table(["", ""], left=2, rows=[
               ["date", machine.get("date", "?")],
               ["git commit", machine.get("commit", "?")],
               ["CPUs (nproc)", machine.get("nproc", "?")],
               ["memory", machine.get("memory", "?")],
               ["kernel", machine.get("kernel", "?")],
               ["CRIU", machine.get("criu", "?")],
               ["hauld", machine.get("hauld", "?")],
               ["load average before / after", "%s / %s" % (machine.get("load_before", "?"),
                                                            machine.get("load_after", "?"))],
               ["runs per figure", machine.get("runs", "?")],
               ["modes", machine.get("modes", "?")],
               ["CRIU log level (both)", machine.get("log_level", "?")],
               ["touching %s MiB of fresh memory after writing as much to files" %
                (machine.get("probe") or {}).get("mib", "?"),
                "%s ms once a process holding as much has exited, %s ms beside it "
                "(`bench.py probe`)" % ((machine.get("probe") or {}).get("after_free_ms", "?"),
                                        (machine.get("probe") or {}).get("beside_ms", "?"))],
               ["virtio balloon free page reporting", "yes" if machine.get("free_page_reporting")
                else "no"],
               ["transport", "loopback (127.0.0.1), both daemons and the CRIU CLI on this host"],
           ]), ""]
    parts.append("\n".join(hdr))

    method = """## Method

- **hauld**: two daemons on 127.0.0.1 sharing a `--secret-file`;
  `POST /migrations {"type":"pid","pid":N,"to":"127.0.0.1:PEER","mode":MODE}` to the
  source, then `GET /migrations/ID` every 50 ms until the state is final. Downtime, frozen,
  restore and total times and bytes are the job's `stats`. hauld's peer protocol seals
  every frame (AES-256-GCM) and relays CRIU's page stream through its own frames
  (api/peer-protocol.md); the CLI sends pages raw and unauthenticated. On this host both
  ends share the same CPUs, so the sealing and the relay's copies at both ends count
  against hauld's downtime together (measured before/after at 512 MiB: about 300 ms more);
  between two hosts each pays only its own half, beside a link that is slower than the
  3 GB/s a core seals here.
- **CRIU CLI** (the baseline a user would script): `criu page-server --images-dir D2
  --port P` in the background, `criu dump -t PID -D D1 --page-server --address 127.0.0.1
  --port P`, `cp D1/* D2/`, `criu restore -D D2 -d`. Frozen time comes from the dump's
  `stats-dump` (CRIU's `frozen_time`); "downtime (reported)" is the script's own clock
  from the start of `criu dump` to the return of `criu restore -d`; total is from starting
  the page server to that return; bytes are the image files that reached D2.
- **Downtime seen** is the workload's own `max_gap_ms`: the longest gap between its
  10 ms ticks (CLOCK_REALTIME), reset with SIGUSR1 right before the migration and read
  once it has ticked at the destination. It is the figure that matters to the process.
- Every migration is verified: the restored process is the workload, the source is
  gone, the counter goes on from where it was, and a checksum pass begun after the move
  equals the expected checksum. A failed check counts as a failure and is left out of
  the figures.
- The same workload is moved in turn by hauld (A→B, each mode) and by the CRIU CLI
  scripts, in an order that changes every run after a Williams design: over as many
  runs as there are tools (twice as many when odd), each takes every place and
  follows every other tool equally often, since on this VM a run depends on what ran
  just before it. All this after one unmeasured move by the CLI (filling a new workload
  uses up recently used memory, which on this VM is the fast kind: see the probe).
  hauld's CPU time is `utime+stime` of each daemon's own threads
  (CRIU's processes are not included) across the migration; peak RSS is `VmHWM` after
  resetting it (`/proc/PID/clear_refs` = 5) right before the migration.
- **Modes**: every mode hauld's API accepts is measured (`BENCH_MODES=auto`), each
  against the same CLI baseline, which is stop-and-copy. In `lazy` (post-copy) the
  process runs at the destination before its memory has arrived: hauld's downtime ends
  there, its total when the last page has arrived, and CRIU's frozen time covers the
  whole page transfer (CRIU holds the source tree, killed once the copy runs), so it is not downtime. The
  workload's own gap counts whatever it waited for pages. (A post-copy CLI baseline,
  `dump --lazy-pages` + `lazy-pages` + `restore --lazy-pages`, is not part of this run.)
- Note that the two frozen times do not measure the same span: the CRIU CLI's dump kills
  the tree as soon as its pages are out, so its restore happens after `frozen_time`
  ends; hauld keeps the source frozen until the destination has restored (for
  rollback), so its frozen time includes the restore. Downtime seen is the comparable
  figure.
"""
    parts.append(method)

    # --- summary
    rows = []
    for spec in specs:
        for mode in modes:
            h = {k: med([r.get(k) for r in sel(spec, "hauld", mode)])
                 for k in ("gap_ms", "frozen_ms", "total_ms")}
            c = {k: med([r.get(k) for r in sel(spec, "criu", "")])
                 for k in ("gap_ms", "frozen_ms", "total_ms")}
            rows.append([spec_label(spec) + ("" if len(modes) == 1 else " (%s)" % mode),
                         fnum(h["gap_ms"]), fnum(c["gap_ms"]), fratio(h["gap_ms"], c["gap_ms"]),
                         fnum(h["frozen_ms"]), fnum(c["frozen_ms"]),
                         fratio(h["frozen_ms"], c["frozen_ms"]),
                         fnum(h["total_ms"]), fnum(c["total_ms"]),
                         fratio(h["total_ms"], c["total_ms"])])
    summary = table(["workload", "downtime seen: hauld", "CRIU CLI", "ratio",
                     "frozen: hauld", "CRIU CLI", "ratio", "total: hauld", "CRIU CLI",
                     "ratio"], rows)
    parts.append("## Summary: hauld beside the CRIU CLI\n\nMedians in ms; ratio = hauld / "
                 "CRIU CLI (below 1: hauld is faster).\n\n" + summary + "\n")
    if "safe" in cli_variants:
        rows = []
        for spec in specs:
            for mode in modes:
                h = {k: med([r.get(k) for r in sel(spec, "hauld", mode)])
                     for k in ("gap_ms", "total_ms")}
                c = {k: med([r.get(k) for r in sel(spec, "criu", "safe")])
                     for k in ("gap_ms", "total_ms")}
                rows.append([spec_label(spec) + ("" if len(modes) == 1 else " (%s)" % mode),
                             fnum(h["gap_ms"]), fnum(c["gap_ms"]),
                             fratio(h["gap_ms"], c["gap_ms"]),
                             fnum(h["total_ms"]), fnum(c["total_ms"]),
                             fratio(h["total_ms"], c["total_ms"])])
        parts.append(
            "### Beside a CLI script with hauld's guarantee\n\n"
            "The baseline above kills the source as soon as its pages are out, so a failed "
            "restore loses the process. A script that keeps hauld's promise (the source "
            "stays able to resume until the destination has restored) dumps with "
            "`--leave-stopped`, restores with `--leave-stopped`, then kills the source and "
            "continues the copy (\"CRIU CLI, source kept\"). Its restore runs beside the "
            "stopped source, as hauld's does. Medians in ms.\n\n" +
            table(["workload", "downtime seen: hauld", "CLI, source kept", "ratio",
                   "total: hauld", "CLI, source kept", "ratio"], rows) + "\n")

    # --- details
    rows = []
    for spec in specs:
        for tool, mode in tools:
            rs = sel(spec, tool, mode, ok_only=False)
            if not rs:
                continue
            ok = len([r for r in rs if r.get("ok")])
            dkey = "downtime_ms" if tool == "hauld" else "bl_downtime_ms"
            tkey = "total_ms"
            rows.append([spec_label(spec), tname(tool, mode), "%d/%d" % (ok, len(rs)),
                         fmmm(agg(spec, tool, mode, "gap_ms")),
                         fmmm(agg(spec, tool, mode, dkey)),
                         fmmm(agg(spec, tool, mode, "frozen_ms")),
                         fmmm(agg(spec, tool, mode, "restore_ms")),
                         fmmm(agg(spec, tool, mode, tkey)),
                         fnum(med([r.get("bytes") for r in sel(spec, tool, mode)]) / 1048576.0
                              if med([r.get("bytes") for r in sel(spec, tool, mode)]) else None, 1),
                         fmmm(agg(spec, tool, mode, "mib_s"))])
    parts.append("## Every figure\n\nms unless said; bytes in MiB (hauld: every byte its "
                 "two peer connections sent; CRIU CLI: the image files in D2); throughput "
                 "is bytes / total.\n\n" +
                 table(["workload", "tool", "ok", "downtime seen", "downtime reported",
                        "frozen", "restore", "total", "MiB moved", "MiB/s"], rows, left=2) + "\n")

    # --- where the time goes: one table per mode, its phases as columns
    phase_tables = []
    for mode in modes:
        rs_mode = [r for r in main if r["tool"] == "hauld" and r["mode"] == mode and r.get("ok")]
        cols = [p for p in phase_order(rs_mode) if p != "done"]
        rows = []
        for spec in specs:
            if not sel(spec, "hauld", mode):
                continue
            rows.append([spec_label(spec)] + [fmmm(aggp(spec, "hauld", mode, p)) for p in cols] +
                        [fmmm(agg(spec, "hauld", mode, "memdump_ms")),
                         fmmm(agg(spec, "hauld", mode, "memwrite_ms"))])
        if rows:
            phase_tables.append("hauld %s:\n\n" % mode +
                                table(["workload"] + cols + ["CRIU memdump", "CRIU memwrite"],
                                      rows))
    phases_h = "\n\n".join(phase_tables)
    rows = []
    for spec in specs:
        for v in cli_variants:
            if not sel(spec, "criu", v):
                continue
            rows.append([spec_label(spec), tname("criu", v),
                         fmmm(agg(spec, "criu", v, "bl_ps_ms")),
                         fmmm(agg(spec, "criu", v, "bl_dump_ms")),
                         fmmm(agg(spec, "criu", v, "memdump_ms")),
                         fmmm(agg(spec, "criu", v, "memwrite_ms")),
                         fmmm(agg(spec, "criu", v, "bl_cp_ms")),
                         fmmm(agg(spec, "criu", v, "bl_restore_ms")),
                         fmmm(agg(spec, "criu", v, "restore_ms"))])
    phases_c = table(["workload", "script", "page server ready", "criu dump",
                      "of which memdump", "memwrite", "cp", "criu restore -d (and, source "
                      "kept: kill, continue)", "of which CRIU restore_time"], rows, left=2)
    parts.append("## Where the time goes\n\nhauld: the phases of the job's event log "
                 "(from one phase's first event to the next one's), and CRIU's memdump / "
                 "memwrite times (its time to collect the pages and to write them to the "
                 "page server) from `stats.iterations`. In stop-and-copy the tree stops "
                 "shortly after `dumping` begins and runs again at the end of `committing`; "
                 "in post-copy (lazy) it runs at the destination from the end of "
                 "`restoring`, while its pages follow during `lazy`.\n\n" + phases_h +
                 "\n\nCRIU CLI, by the script's clock:\n\n" + phases_c + "\n")

    # --- resources
    rows = []
    for spec in specs:
        for mode in modes:
            rs = sel(spec, "hauld", mode)
            if not rs:
                continue
            rows.append([spec_label(spec), "hauld %s" % mode,
                         fmmm(mmm([r.get("cpu_src_ms") for r in rs])),
                         fmmm(mmm([r.get("cpu_dst_ms") for r in rs])),
                         fmmm(mmm([r.get("hwm_src_kb", 0) / 1024.0 for r in rs]), 1),
                         fmmm(mmm([(r.get("hwm_src_kb", 0) - r.get("rss0_src_kb", 0)) / 1024.0
                                   for r in rs]), 1),
                         fmmm(mmm([r.get("hwm_dst_kb", 0) / 1024.0 for r in rs]), 1),
                         fmmm(mmm([(r.get("hwm_dst_kb", 0) - r.get("rss0_dst_kb", 0)) / 1024.0
                                   for r in rs]), 1)])
    parts.append("## hauld's own cost per migration\n\nCPU time of the daemon's own threads "
                 "(utime+stime, 10 ms resolution; CRIU runs in child processes and is not "
                 "counted), peak RSS during the migration and its growth over the RSS "
                 "before it, in MiB.\n\n" +
                 table(["workload", "tool", "source CPU ms", "destination CPU ms",
                        "source peak RSS", "growth", "destination peak RSS", "growth"], rows,
                       left=2)
                 + "\n")

    # --- API under load
    api_text, api_facts = api_section(d, runs)
    api_facts["nproc"] = machine.get("nproc", "the")
    if api_text:
        parts.append(api_text)

    # --- failures
    if failures:
        rows = [[r.get("section"), spec_label(r["spec"]), tname(r["tool"], r.get("mode", "")),
                 r.get("run"), r.get("error", "?")] for r in failures]
        parts.append("## Failures\n\n%d of %d migrations failed a check and are left out of "
                     "the figures.\n\n" % (len(failures), total_runs) +
                     table(["section", "workload", "tool", "run", "what failed"], rows) + "\n")
    else:
        parts.append("## Failures\n\nNone: all %d migrations were verified (the workload ran "
                     "on at the destination, counter continuing, checksum equal to the "
                     "expected one).\n" % total_runs)

    # --- prose
    parts.append("## What the figures show\n\n" +
                 prose(specs, modes, sel, api_facts, failures, total_runs, machine) + "\n")

    parts.append("## Other benchmarks\n\nOver a link shaped to 200 Mbit/s, 1 Gbit/s and 10 Gbit/s, "
                 "with redis, a CPython heap and random memory, hauld (compress off and auto) "
                 "beside the CRIU CLI over the same link: "
                 "[BENCHMARKS-SHAPED.md](BENCHMARKS-SHAPED.md) (`make bench-shaped`; 1 GiB: "
                 "[BENCHMARKS-SHAPED-1GIB.md](BENCHMARKS-SHAPED-1GIB.md)). Containers beside "
                 "each engine's CLI pipeline: [BENCHMARKS-CONTAINERS.md](BENCHMARKS-CONTAINERS.md), "
                 "over 1 Gbit/s: [BENCHMARKS-CONTAINERS-1G.md](BENCHMARKS-CONTAINERS-1G.md). "
                 "The API under load: [BENCHMARKS-LIMITS.md](BENCHMARKS-LIMITS.md).\n")
    parts.append("""## Running it

    make bench                                       # everything, about 5-7 minutes
    BENCH_RUNS=8 make bench                          # more runs (multiples of the tools balance the order)
    BENCH_SIZES="64 256" BENCH_DIRTY="" make bench   # fewer workloads
    BENCH_MODES="live" BENCH_WRK=0 make bench        # one mode only; no API load test

Other knobs: `BENCH_DIRTY` (default `256@64`: 256 MiB dirtied at 64 MiB/s),
`BENCH_WRK_DURATION` (default `5s`), `BENCH_CRIU_LOG_LEVEL` (default 2, both tools),
`BENCH_KEEP=1` (keep the temporary directory: every job's JSON and event log, CRIU's
stats and the CLI's logs), `BENCH_HAULD_OPTIONS='{"keep_images":true}'` (with
`BENCH_KEEP=1 BENCH_CRIU_LOG_LEVEL=4`: hauld's CRIU logs and images stay in
`DIR/{A,B}/jobs/ID`), `BENCH_WRITE=0` (print only; leave docs/BENCHMARKS.md and
README.md alone). Needs root, CRIU 4.x and `wrk` (`scripts/setup.sh` installs it).
Only 127.0.0.1 is used; every process and directory the run creates is removed at
its end.
""")

    doc = "\n".join(parts)
    short = readme_table(specs, modes, sel)
    print(summary)
    print()
    print(doc)
    if out_path:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        with open(out_path, "w") as f:
            f.write(doc)
    if readme_path:
        update_readme(readme_path, short, machine)
    return 0


def readme_table(specs, modes, sel):
    rows = []
    for spec in specs:
        for mode in modes:
            h = [med([r.get(k) for r in sel(spec, "hauld", mode)])
                 for k in ("gap_ms", "frozen_ms", "total_ms")]
            c = [med([r.get(k) for r in sel(spec, "criu", "")])
                 for k in ("gap_ms", "frozen_ms", "total_ms")]
            k = med([r.get("gap_ms") for r in sel(spec, "criu", "safe")])
            rows.append([spec_label(spec) + ("" if len(modes) == 1 else " (%s)" % mode)] +
                        ["%s / %s" % (fnum(a), fnum(b)) for a, b in zip(h, c)] +
                        [fratio(h[0], c[0]), fratio(h[0], k) if k else "–"])
    return table(["workload", "downtime seen (ms)", "frozen (ms)", "total (ms)",
                  "downtime ratio", "ratio to the CLI keeping its source"], rows)


def readme_notes(machine):
    notes = ["Each cell is hauld / CRIU CLI; the CLI is stop-and-copy in every row. In "
             "lazy (post-copy) rows, frozen is not downtime: it is CRIU's hold on the "
             "source tree (killed once the copy runs) while the pages follow. The last "
             "column compares hauld's "
             "downtime with a CLI script that keeps hauld's promise (the source stays "
             "stopped until the restore succeeded)."]
    probe = machine.get("probe") or {}
    if probe.get("after_free_ms") and probe.get("beside_ms", 0) > 1.5 * probe["after_free_ms"]:
        notes.append("On one machine hauld's restore runs beside its frozen source, and this "
                     "VM is slow to hand out memory beyond what was recently in use, which "
                     "weighs on the largest live rows (see the doc).")
    return "\n" + " ".join(notes) + "\n"


def update_readme(path, short, machine):
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    body = ("hauld / CRIU CLI (`criu page-server` + `criu dump --page-server` + `cp` + "
            "`criu restore -d`), medians of %s runs on loopback, %s CPUs, kernel %s, "
            "CRIU %s, %s (commit %s). Downtime is what the workload itself saw. "
            "Details and method: [docs/BENCHMARKS.md](docs/BENCHMARKS.md); "
            "`make bench` regenerates both.\n\n" % (
                machine.get("runs", "?"), machine.get("nproc", "?"), machine.get("kernel", "?"),
                machine.get("criu", "?"), machine.get("date", "?")[:10],
                machine.get("commit", "?")) + short + "\n" + readme_notes(machine))
    if start in text and end in text:
        a = text.index(start) + len(start)
        b = text.index(end, a)
        text = text[:a] + "\n" + body + text[b:]
    else:
        if not text.endswith("\n"):
            text += "\n"
        text += "\n## Benchmarks\n\n%s\n%s%s\n" % (start, body, end)
    with open(path, "w") as f:
        f.write(text)


def api_section(d, runs):
    wrk = {}
    for name in ("get-idle", "post-idle", "get-load", "post-load", "post-control"):
        w = load_json(os.path.join(d, "wrk-%s.json" % name))
        if w:
            wrk[name] = w
    if not wrk:
        return "", {}
    rows = []
    for name, label in (("get-idle", "GET /migrations/ID, no migration"),
                        ("post-idle", "rejected POST /migrations (422), no migration"),
                        ("get-load", "GET /migrations/ID, migrations running"),
                        ("post-load", "rejected POST /migrations (422), migrations running"),
                        ("post-control", "control: the same POST to daemon C, which takes "
                         "no part, migrations running")):
        w = wrk.get(name)
        if not w:
            continue
        r = w.get("wrk") or {}
        secs = (r.get("duration_us") or 0) / 1e6
        rps = r.get("requests", 0) / secs if secs else None
        codes = ", ".join("%s: %s" % kv for kv in sorted((r.get("codes") or {}).items()))
        errs = r.get("errors") or {}
        nerr = sum(errs.get(k, 0) for k in ("connect", "read", "write", "timeout"))
        cpu = w.get("cpu_ms")
        cpu_pct = cpu / (secs * 1000.0) * 100.0 if cpu is not None and secs else None
        rows.append([label, fnum(rps), fnum(r.get("p50_us", 0) / 1000.0, 2),
                     fnum(r.get("p99_us", 0) / 1000.0, 2), fnum(r.get("max_us", 0) / 1000.0, 1),
                     codes or "–", nerr, fnum(cpu_pct)])
    out = ("## API under load\n\n`wrk -t2 -c16 -d%s` against the source daemon (A) on "
           "127.0.0.1: `GET /migrations/ID` and a POST that is refused with 422 "
           "(`{\"type\":\"pid\",\"pid\":1,\"to\":\"x:1\"}`), first with nothing else running, "
           "then while a 256 MiB workload is migrated back and forth between A and B "
           "without pause. The control row sends the POST load to a third daemon C "
           "instead, which serves it on the same CPUs but has no part in the "
           "migrations. CPU %% is that of the daemon serving wrk (100 = one core).\n\n"
           % (wrk.get("get-idle", wrk[next(iter(wrk))]).get("duration", "5s")) +
           table(["requests", "req/s", "p50 ms", "p99 ms", "max ms", "answers",
                  "socket errors", "serving daemon CPU %"], rows) + "\n")
    # Migrations with and without the load: only the legs that ran entirely inside
    # the wrk window (or inside the reference window without wrk).
    facts = {}
    rows = []
    for section, label in (("api-noload", "no load"), ("api-get-load", "GET load on A"),
                           ("api-post-load", "POST load on A"),
                           ("api-control-load", "POST load on C (control)")):
        legs = [r for r in runs if r.get("section") == section and r.get("ok")]
        inside = [r for r in legs if r.get("inside", True)]
        for direction in ("A->B", "B->A"):
            rs = [r for r in inside if r.get("direction") == direction]
            if not rs:
                continue
            rows.append([label, direction.replace("->", "→"), len(rs),
                         fmmm(mmm([r.get("frozen_ms") for r in rs])),
                         fmmm(mmm([r.get("memdump_ms") for r in rs])),
                         fmmm(mmm([r.get("restore_ms") for r in rs])),
                         fmmm(mmm([r.get("gap_ms") for r in rs])),
                         fmmm(mmm([r.get("total_ms") for r in rs]))])
        facts[section] = {
            "frozen": med([r.get("frozen_ms") for r in inside]),
            "frozen_src": med([r.get("frozen_ms") for r in inside if r.get("direction") == "A->B"]),
            "n": len(inside), "partial": len(legs) - len(inside)}
    for name in wrk:
        r = wrk[name].get("wrk") or {}
        secs = (r.get("duration_us") or 0) / 1e6
        facts[name] = {"rps": r.get("requests", 0) / secs if secs else None,
                       "p50": r.get("p50_us", 0) / 1000.0, "p99": r.get("p99_us", 0) / 1000.0}
    if rows:
        out += ("\nThe 256 MiB migrations of those windows (only the legs whose job began and "
                "ended while wrk ran; A→B has the loaded daemon A as source, B→A as "
                "destination), with CRIU's memdump time at the source and restore time at "
                "the destination:\n\n" +
                table(["load", "direction", "legs", "frozen", "memdump", "restore",
                       "downtime seen", "total"], rows, left=2) + "\n")
    return out, facts


def prose(specs, modes, sel, api, failures, total_runs, machine):
    s = []
    plain = [sp for sp in specs if "@" not in sp]

    def m(spec, tool, mode, key):
        return med([r.get(key) for r in sel(spec, tool, mode)])

    def post_copy(mode):
        return any(r.get("lazy_pages") for sp in specs for r in sel(sp, "hauld", mode))

    def mlist(pairs, unit=" ms"):
        return ", ".join("%s%s (%s)" % (fnum(v), unit, spec_label(sp)) for sp, v in pairs)

    # Downtime, mode by mode, against the CLI.
    for mode in modes:
        cmp_ = []
        for spec in specs:
            h, c = m(spec, "hauld", mode, "gap_ms"), m(spec, "criu", "", "gap_ms")
            if h is not None and c:
                cmp_.append((spec, h, c, h / c))
        if not cmp_:
            continue
        verdict = []
        for word, pick in (("shorter", lambda r: r < 0.95), ("longer", lambda r: r > 1.05),
                           ("within 5 %", lambda r: 0.95 <= r <= 1.05)):
            xs = [spec_label(x[0]) for x in cmp_ if pick(x[3])]
            if xs:
                verdict.append("%s at %s" % (word, ", ".join(xs)))
        s.append("**Downtime, hauld %s%s.** As the workload saw it, against the CRIU CLI: %s. "
                 "hauld's is %s." % (
                     mode, " (post-copy)" if post_copy(mode) else "",
                     ", ".join("%s %s vs %s ms (×%.2f)" % (spec_label(sp), fnum(h), fnum(c), r)
                               for sp, h, c, r in cmp_), "; ".join(verdict)))
    # Growth with size.
    if len(plain) >= 2:
        lo, hi = plain[0], plain[-1]
        bits = []
        for tool, md, name in [("hauld", md_, "hauld " + md_) for md_ in modes] + \
                [("criu", "", "the CRIU CLI")]:
            a, b = m(lo, tool, md, "gap_ms"), m(hi, tool, md, "gap_ms")
            if a is not None and b is not None:
                bits.append("%s %.2f ms per MiB" % (name, (b - a) / (int(hi) - int(lo))))
        if bits:
            s.append("From %s to %s the downtime seen grows by %s." % (
                spec_label(lo), spec_label(hi), ", ".join(bits)))
    for mode in modes:
        if post_copy(mode):
            # Post-copy: CRIU's frozen time is not downtime; the workload's stalls are.
            rows = [(sp, m(sp, "hauld", mode, "downtime_ms"), m(sp, "hauld", mode, "gap_ms"),
                     m(sp, "hauld", mode, "frozen_ms"), m(sp, "hauld", mode, "total_ms"))
                    for sp in specs]
            rows = [r for r in rows if None not in r[1:]]
            if rows:
                longer = [r for r in rows if r[2] > 1.2 * r[1] + 20]
                s.append("**Post-copy (%s).** hauld reports a downtime of %s: the copy runs at "
                         "the destination that soon. The workload itself stood still for up "
                         "to %s.%s The last page arrived after %s (total). CRIU's frozen time "
                         "(%s) runs until then: CRIU holds the source tree (killed once the copy runs) while it serves the pages, "
                         "so it is not downtime." % (
                             mode, mlist([(r[0], r[1]) for r in rows]),
                             mlist([(r[0], r[2]) for r in rows]),
                             (" Where that is longer than reported (%s), the process was "
                              "running but waiting: it reads all of its memory every 250 ms, "
                              "and each page it touches before it has arrived is fetched over "
                              "the network while it waits, the worst case for post-copy; "
                              "hauld's downtime_ms does not show those stalls." %
                              ", ".join(spec_label(r[0]) for r in longer)) if longer else "",
                             mlist([(r[0], r[4]) for r in rows]),
                             mlist([(r[0], r[3]) for r in rows])))
            continue
        # Stop-and-copy: the two frozen spans differ. hauld's holds the source frozen
        # while it sends the images and the destination restores (the phases
        # transferring and restoring); take that out run by run.
        fro = []
        for spec in specs:
            rs = sel(spec, "hauld", mode)
            hf = m(spec, "hauld", mode, "frozen_ms")
            cf = m(spec, "criu", "", "frozen_ms")
            hold = med([r.get("phases", {}).get("transferring", 0) +
                        r.get("phases", {}).get("restoring", 0) for r in rs
                        if "restoring" in r.get("phases", {})])
            dump = med([r.get("frozen_ms") - r.get("phases", {}).get("transferring", 0) -
                        r.get("phases", {}).get("restoring", 0) for r in rs
                        if r.get("frozen_ms") is not None and "restoring" in r.get("phases", {})])
            if None not in (hf, cf, hold, dump):
                fro.append((spec, hf, cf, hold, dump, cf - dump))
        if fro:
            txt = ("**Frozen, hauld %s.** %s against the CRIU CLI's %s ms. The two spans "
                   "differ: hauld keeps the source frozen until the destination has restored "
                   "its copy, so that it can still roll back (sending the images and the "
                   "restore: %s ms); the CLI's dump kills the source when its pages are out, "
                   "and the restore comes after. Without that hold, hauld's source is frozen "
                   "%s ms for the dump itself; the CLI's dump minus that: %s ms." % (
                       mode, mlist([(x[0], x[1]) for x in fro]),
                       ", ".join(fnum(x[2]) for x in fro), ", ".join(fnum(x[3]) for x in fro),
                       ", ".join(fnum(x[4]) for x in fro),
                       ", ".join(("+" if x[5] >= 0 else "−") + fnum(abs(x[5])) for x in fro)))
            excess = med([x[5] for x in fro])
            if 120 <= excess <= 300:
                txt += (" Most of that (median %s ms) is CRIU's TCP_CORK timer: a dump that "
                        "opened the page-server connection itself corks it, and its last "
                        "message waits out the cork's 200 ms while the tree is frozen (in "
                        "dump.log, the gap between \"page-xfer: Disconnect from the page "
                        "server\" and \"Running post-dump scripts\"). hauld uncorks the socket "
                        "it hands to CRIU (src/criu.c), which is most of its lead in downtime "
                        "at small sizes." % fnum(excess))
            s.append(txt)
        # The largest size: a restore beside the frozen source, on one machine.
        probe = machine.get("probe") or {}
        if plain and probe.get("after_free_ms") and probe.get("beside_ms"):
            big = plain[-1]
            hr, cr = m(big, "hauld", mode, "restore_ms"), m(big, "criu", "", "restore_ms")
            pr = probe["beside_ms"] / float(probe["after_free_ms"])
            sr = m(big, "criu", "safe", "restore_ms")
            if hr and cr and hr > 1.3 * cr and pr > 1.5:
                s.append("**Restore beside the source.** At %s hauld's restore at the "
                         "destination takes %s ms against the CLI's %s ms for the same "
                         "images%s. hauld restores while the frozen source still holds its "
                         "memory (it must, to be able to roll back), so on one machine the "
                         "copy needs memory on top of the source's, and on this VM memory "
                         "beyond what was recently in use is slow to touch the first time. "
                         "The probe above shows it without CRIU: filling %s MiB took %s ms "
                         "beside a process holding as much, %s ms once that process had "
                         "exited%s. The CLI kills the source before restoring and reuses the "
                         "memory it freed. hauld has CRIU punch each page out of the images "
                         "once read (auto-dedup), so the page cache the page server filled is "
                         "handed back 128 MiB at a time while the restore allocates, instead "
                         "of the two being held at once; what is left is the first chunks, "
                         "allocated before anything was handed back. Between two hosts the "
                         "CLI has no such advantage, so at this size the comparison on one "
                         "machine overstates hauld's downtime." % (
                             spec_label(big), fnum(hr), fnum(cr),
                             (" (%s ms for the CLI script that keeps its source until the "
                              "restore succeeded)" % fnum(sr)) if sr else "",
                             probe.get("mib"),
                             fnum(probe["beside_ms"]), fnum(probe["after_free_ms"]),
                             " (the guest's virtio balloon reports free pages to the "
                             "hypervisor)" if machine.get("free_page_reporting") else ""))
        # hauld's reported downtime against the workload's.
        over = []
        for spec in specs:
            d, g = m(spec, "hauld", mode, "downtime_ms"), m(spec, "hauld", mode, "gap_ms")
            c = med([r.get("phases", {}).get("committing") for r in sel(spec, "hauld", mode)])
            if None not in (d, g, c):
                over.append((spec, d - g, c))
        if over:
            close = all(abs(x[1]) <= max(30, 0.05 * (m(x[0], "hauld", mode, "gap_ms") or 0))
                        for x in over)
            txt = ("**hauld %s's downtime_ms** minus the downtime the workload saw: %s%s" % (
                mode, ", ".join("%s%s ms (%s)" % ("+" if x[1] >= 0 else "−", fnum(abs(x[1])),
                                                  spec_label(x[0])) for x in over),
                ": the reported figure matches the process's own clock." if close else "."))
            po = [x for x in over if "@" not in x[0]]
            if len(po) >= 2 and po[-1][2] > 50 and po[-1][2] > 3 * max(po[0][2], 1):
                txt += (" The commit step grows with the size (%s) although the copy "
                        "already runs when the destination answers it: the destination "
                        "deletes the job's image files before it answers (src/mig_dest.c, "
                        "finish()), so the reported downtime and total include that cleanup, "
                        "which the process does not wait for." % mlist([(x[0], x[2]) for x in po]))
            s.append(txt)
    # Total and preflight.
    for mode in modes:
        tot = [(sp, m(sp, "hauld", mode, "total_ms"), m(sp, "criu", "", "total_ms"))
               for sp in specs]
        tot = [t for t in tot if None not in t[1:]]
        pf = med([r.get("phases", {}).get("preflight") for sp in specs
                  for r in sel(sp, "hauld", mode)])
        if tot:
            s.append("**Total, hauld %s.** %s against the CRIU CLI's %s ms.%s" % (
                mode, mlist([(t[0], t[1]) for t in tot]), ", ".join(fnum(t[2]) for t in tot),
                (" Before freezing anything hauld spends about %s ms in preflight (`criu "
                 "cpuinfo dump` at the source, `criu cpuinfo check` at the destination: two "
                 "CRIU start-ups); that is not downtime." % fnum(pf)) if pf is not None else ""))
    # Dirtying.
    for spec in specs:
        if "@" not in spec or spec.split("@")[0] not in specs:
            continue
        base = spec.split("@")[0]
        bits = []
        for tool, md, name in [("hauld", md_, "hauld " + md_) for md_ in modes] + \
                [("criu", "", "the CRIU CLI")]:
            a, b = m(base, tool, md, "gap_ms"), m(spec, tool, md, "gap_ms")
            if a is not None and b is not None:
                bits.append("%s from %s to %s ms" % (name, fnum(a), fnum(b)))
        if bits:
            runs_n = machine.get("runs", "few")
            apart = []
            for tool, md, name in [("hauld", md_, "hauld " + md_) for md_ in modes] + \
                    [("criu", "", "the CRIU CLI")]:
                a = mmm([r.get("gap_ms") for r in sel(base, tool, md)])
                b = mmm([r.get("gap_ms") for r in sel(spec, tool, md)])
                if a and b and (b[1] > a[2] or b[2] < a[1]):
                    apart.append(name)
            s.append("**Dirtying.** Rewriting memory (%s) moves the downtime seen of %s. "
                     "Neither strategy that runs here iterates (stop-and-copy copies the "
                     "memory once while frozen, post-copy after the switch), so the dirty "
                     "rate should matter little. %s" % (
                         spec_label(spec), ", ".join(bits),
                         ("The runs of %s do not overlap with and without dirtying: with "
                          "%s runs on a shared machine a hint to check with more runs "
                          "(BENCH_RUNS), not a proof." % (" and ".join(apart), runs_n))
                         if apart else
                         "The runs with and without dirtying overlap: the change is within "
                         "the noise."))
    # API.
    if api.get("get-idle") and api.get("get-load"):
        gi, gl = api["get-idle"], api["get-load"]
        pi, pl = api.get("post-idle", {}), api.get("post-load", {})
        s.append("**API.** GET /migrations/ID answers %s req/s (p99 %s ms) idle and %s "
                 "req/s (p99 %s ms) while migrations run; the rejected POST %s and %s req/s "
                 "(p99 %s and %s ms)." % (
                     fnum(gi["rps"]), fnum(gi["p99"], 1), fnum(gl["rps"]), fnum(gl["p99"], 1),
                     fnum(pi.get("rps")), fnum(pl.get("rps")), fnum(pi.get("p99"), 1),
                     fnum(pl.get("p99"), 1)))
        nl = api.get("api-noload", {}).get("frozen")
        fg = api.get("api-get-load", {}).get("frozen")
        fp = api.get("api-post-load", {}).get("frozen")
        fc = api.get("api-control-load", {}).get("frozen")
        if nl is not None and (fg is not None or fp is not None):
            txt = ("A 256 MiB migration stays frozen %s ms without load, %s ms under the GET "
                   "load on A and %s ms under the POST load on A (medians of the %s, %s and %s "
                   "legs inside each window: indicative only)." % (
                       fnum(nl), fnum(fg), fnum(fp), api.get("api-noload", {}).get("n", 0),
                       api.get("api-get-load", {}).get("n", 0),
                       api.get("api-post-load", {}).get("n", 0)))
            if fc is not None and fp is not None:
                if fc >= 0.75 * fp:
                    txt += (" With the same POST load on daemon C, which has no part in the "
                            "migrations, it is %s ms: the slowdown comes from sharing %s CPUs "
                            "between wrk, the daemon answering it and CRIU, not from the "
                            "migrating daemon serving requests." % (fnum(fc), api.get("nproc")))
                else:
                    txt += (" With the same POST load on daemon C, which has no part in the "
                            "migrations, it is only %s ms: serving the requests slows the "
                            "migrating daemon beyond what the shared CPUs explain." % fnum(fc))
            s.append(txt)
    if failures:
        s.append("**Failures.** %d of %d migrations failed verification (listed above)." % (
            len(failures), total_runs))
    else:
        s.append("All %d migrations were verified: counter continuing, checksum equal to the "
                 "expected one." % total_runs)
    s.append("This machine is shared: other test runs may load it at the same time (see the "
             "load averages above), which shows as wide [min–max] ranges.")
    return "\n\n".join(s)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "subreaper" and len(argv) > 2:
        cmd_subreaper(argv[2:])
    elif cmd == "freeport":
        cmd_freeport()
    elif cmd == "probe" and len(argv) == 4:
        cmd_probe(int(argv[2]), argv[3])
    elif cmd == "stats" and len(argv) == 3:
        print(json.dumps(read_stats(argv[2])))
    elif cmd == "report" and len(argv) >= 3:
        out = readme = None
        args = argv[3:]
        while args:
            if args[0] == "--out" and len(args) > 1:
                out, args = args[1], args[2:]
            elif args[0] == "--readme" and len(args) > 1:
                readme, args = args[1], args[2:]
            else:
                sys.stderr.write("bench.py report: unknown argument %s\n" % args[0])
                return 2
        return report(argv[2], out, readme)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
