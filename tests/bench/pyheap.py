#!/usr/bin/python3
"""pyheap.py: a CPython heap for the shaped-link benchmark (tests/bench/shaped.sh).

    pyheap.py MIB STATUS

Builds records like a web application's cache (dicts of ints, floats, short strings,
lists of tags and a sentence of text, all from a fixed seed) until the process holds
about MIB MiB, writes "ready records=N expected=HEX" to STATUS, and then sleeps.
On SIGUSR1 it hashes every record again and rewrites STATUS with
"records=N checksum=HEX expected=HEX": after a migration, checksum equals expected
when the heap came through whole. stdio should be /dev/null; STATUS is opened and
closed for each write, so CRIU finds no file of it open.
"""
import hashlib
import os
import random
import signal
import sys

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu amber basalt cobalt dune ember fjord glacier harbor").split()
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def record(rng, i):
    return {
        "id": i,
        "user": "user%07d" % i,
        "email": "user%d@example.com" % i,
        "score": rng.random() * 1000.0,
        "visits": rng.randrange(100000),
        "tags": [rng.choice(WORDS) for _ in range(rng.randrange(1, 6))],
        "bio": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 16))),
    }


def digest(records):
    h = hashlib.sha256()
    for r in records:
        h.update(repr(r).encode())
    return h.hexdigest()


def write(path, line):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(line + "\n")
    os.rename(tmp, path)


def main():
    mib, status = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(20261202)
    records = []
    while rss_bytes() < mib << 20:
        base = len(records)
        records.extend(record(rng, base + k) for k in range(10000))
    expected = digest(records)
    asked = []
    signal.signal(signal.SIGUSR1, lambda *_: asked.append(1))
    write(status, "ready records=%d expected=%s" % (len(records), expected))
    while True:
        signal.pause()
        while asked:
            asked.pop()
            write(status, "records=%d checksum=%s expected=%s"
                  % (len(records), digest(records), expected))


if __name__ == "__main__":
    main()
