#!/usr/bin/python3
"""heap.py: a CPython process with a large heap, for the integration tests to migrate.

    /usr/bin/python3 heap.py --mib M --status FILE [--port P]

It builds about M MiB (default 128, as counted by sys.getsizeof) of Python objects
from a seeded PRNG: a dict of str keys, each mapping to a list of two ints, a bytes
of 256..1023 bytes and a tuple of three ints. The heap is hashed in chunks of 1024
entries (sha256 over a canonical serialization of each entry); the digest of the heap
is the sha256 of the chunk digests in order. The digest computed right after the
build is the expected one.

Then it loops forever in rounds of about 150-200 ms. Each round it
  - re-hashes the next chunks of a rolling pass over the heap for about 150 ms,
    comparing each chunk with its digest from the start; a completed pass yields a
    new digest of the whole heap;
  - replaces the bytes of a few entries with fresh copies of equal content, so the
    heap keeps changing in memory while its digest must not;
  - advances a small counter object (the round number and a 64-bit LCG) and checks
    the LCG against the value recomputed from the round number;
and then rewrites FILE with one line:

    rounds=R digest_ok=B objects=N expected=HEX last=HEX mib=M passes=P

rounds     rounds completed since start
digest_ok  1 while no chunk, no completed pass and no counter check has ever
           disagreed with the start; 0 for good once one has
objects    entries in the heap dict (each one key, one list, one bytes, one tuple
           and the ints in them)
expected   the digest of the heap right after the build
last       the digest of the last completed pass (the build's own until the first)
mib        M as asked for
passes     completed passes over the heap, the build's counted as the first

With --port P it also serves HTTP on 0.0.0.0:P from a background thread: GET /state
answers a JSON object with the same fields (ints for the numbers and digest_ok,
strings for the digests), so a test can ask the program itself over TCP. A request
in flight while CRIU dumps the process is an established TCP connection, which
needs criu --tcp-established; the listening socket alone needs nothing.

The process is meant to be pid 1 of its own PID namespace
(`unshare -p -f setsid /usr/bin/python3 heap.py ...`), so it reaps every child it
inherits. It never prints, so stdio can be /dev/null, and the status file is opened
and closed for every write. SIGTERM (and SIGINT) exits 0 at the end of the round.
"""

import argparse
import hashlib
import json
import os
import random
import signal
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEED = 0x6865617073
MIB = 1024 * 1024
CHUNK = 1024               # entries per chunk digest
ROUND_BUDGET_S = 0.15      # hashing per round; the rest of the round is small
CHURN_PER_ROUND = 64       # entries whose bytes are replaced by a fresh copy
LCG_A = 6364136223846793005
LCG_C = 1442695040888963407
MASK64 = (1 << 64) - 1

stop_requested = False
# The latest status as a dict; the main thread replaces it whole, so the HTTP
# thread always reads one consistent round.
snapshot = {}


def on_signal(signum, frame):
    global stop_requested
    stop_requested = True


def build(mib):
    """The heap: about mib MiB of objects, the same for the same mib."""
    rng = random.Random(SEED)
    heap = {}
    budget = mib * MIB
    used = sys.getsizeof(heap)
    i = 0
    while used < budget:
        key = "k%08d" % i
        data = rng.randbytes(256 + rng.randrange(768))
        tup = (rng.randrange(1 << 20, 1 << 30), rng.randrange(1 << 30), -i - 1000)
        value = [i + 1000, rng.getrandbits(62), data, tup]
        heap[key] = value
        used += (sys.getsizeof(key) + sys.getsizeof(value) + sys.getsizeof(data) +
                 sys.getsizeof(tup) + sum(sys.getsizeof(v) for v in tup) +
                 sys.getsizeof(value[0]) + sys.getsizeof(value[1]))
        i += 1
    return heap


def chunk_digest(items):
    """sha256 over the canonical serialization of a list of (key, value) entries."""
    h = hashlib.sha256()
    pack = struct.pack
    for key, (a, b, data, tup) in items:
        kb = key.encode()
        h.update(pack("<HqQI", len(kb), a, b, len(data)))
        h.update(kb)
        h.update(data)
        h.update(pack("<qqq", *tup))
    return h.digest()


def chunk_items(keys, heap, c):
    return [(k, heap[k]) for k in keys[c * CHUNK:(c + 1) * CHUNK]]


def lcg_at(n):
    """The counter's LCG after n steps from 1, by repeated squaring (O(log n))."""
    # x_n = A^n x_0 + C (A^n - 1) / (A - 1), computed as the composition of steps.
    mul, add = 1, 0           # the identity map
    step_mul, step_add = LCG_A, LCG_C
    while n:
        if n & 1:
            mul, add = (mul * step_mul) & MASK64, (add * step_mul + step_add) & MASK64
        step_mul, step_add = (step_mul * step_mul) & MASK64, (step_add * step_mul + step_add) & MASK64
        n >>= 1
    return (mul * 1 + add) & MASK64


class Checker:
    """The rolling verification of the heap, carried from round to round."""

    def __init__(self, heap):
        self.heap = heap
        self.keys = list(heap)
        self.nchunks = (len(self.keys) + CHUNK - 1) // CHUNK
        self.chunks = [chunk_digest(chunk_items(self.keys, heap, c))
                       for c in range(self.nchunks)]
        self.expected = hashlib.sha256(b"".join(self.chunks)).hexdigest()
        self.last = self.expected
        self.passes = 1
        self.ok = True
        self.cursor = 0
        self.pass_hash = hashlib.sha256()
        self.churn_cursor = 0
        self.counter = {"round": 0, "lcg": 1}

    def verify(self, budget_s):
        """Hash chunks of the rolling pass for about budget_s seconds (at least one
        chunk), going on into the next pass when one completes."""
        end = time.monotonic() + budget_s
        while True:
            d = chunk_digest(chunk_items(self.keys, self.heap, self.cursor))
            if d != self.chunks[self.cursor]:
                self.ok = False
            self.pass_hash.update(d)
            self.cursor += 1
            if self.cursor == self.nchunks:
                self.last = self.pass_hash.hexdigest()
                self.passes += 1
                if self.last != self.expected:
                    self.ok = False
                self.cursor = 0
                self.pass_hash = hashlib.sha256()
            if time.monotonic() >= end:
                return

    def churn(self):
        """Give a few entries new bytes objects of the same content."""
        n = len(self.keys)
        for _ in range(min(CHURN_PER_ROUND, n)):
            value = self.heap[self.keys[self.churn_cursor]]
            value[2] = bytes(bytearray(value[2]))
            self.churn_cursor = (self.churn_cursor + 1) % n

    def count(self):
        c = self.counter
        c["round"] += 1
        c["lcg"] = (c["lcg"] * LCG_A + LCG_C) & MASK64
        if c["lcg"] != lcg_at(c["round"]):
            self.ok = False

    def state(self, mib):
        return {
            "rounds": self.counter["round"],
            "digest_ok": 1 if self.ok else 0,
            "objects": len(self.keys),
            "expected": self.expected,
            "last": self.last,
            "mib": mib,
            "passes": self.passes,
        }


def status_line(st):
    return ("rounds=%d digest_ok=%d objects=%d expected=%s last=%s mib=%d passes=%d\n" %
            (st["rounds"], st["digest_ok"], st["objects"], st["expected"], st["last"],
             st["mib"], st["passes"]))


def write_status(path, line):
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(line)
        os.replace(tmp, path)
    except OSError:
        pass   # the next round tries again


class StateHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/state":
            self.send_error(404)
            return
        body = json.dumps(snapshot).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass   # stderr is /dev/null anyway; this keeps the thread from formatting


class StateServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind looks its own name up (socket.getfqdn), which can
        # hang on DNS in a network namespace without a resolver; nothing uses it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port


def serve(port):
    server = StateServer(("0.0.0.0", port), StateHandler)
    t = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    t.start()
    return server


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def parse_args(argv):
    p = argparse.ArgumentParser(description="a large CPython heap that checks itself")
    p.add_argument("--mib", type=int, default=128)
    p.add_argument("--status", required=True)
    p.add_argument("--port", type=int)
    a = p.parse_args(argv)
    if not 1 <= a.mib <= 65536:
        p.error("--mib wants an integer in [1, 65536]")
    if a.port is not None and not 1 <= a.port <= 65535:
        p.error("--port wants an integer in [1, 65535]")
    return a


def main(argv):
    global snapshot
    args = parse_args(argv)
    status = os.path.abspath(args.status)
    os.chdir("/")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    checker = Checker(build(args.mib))
    snapshot = checker.state(args.mib)
    write_status(status, status_line(snapshot))
    if args.port is not None:
        serve(args.port)

    while not stop_requested:
        checker.verify(ROUND_BUDGET_S)
        checker.churn()
        checker.count()
        reap()
        snapshot = checker.state(args.mib)
        write_status(status, status_line(snapshot))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
