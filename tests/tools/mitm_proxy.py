#!/usr/bin/python3
"""mitm_proxy.py: a man in the middle of the peer protocol, for the tests.

Listens on 127.0.0.1 (its port goes to --port-file) and forwards every connection
to --to HOST:PORT. It reads the frames of what the client sends (a 12-byte header
"HLD1", version, type, 2 reserved bytes, a 4-byte big-endian length; from version 2
on every frame after the client's first one carries a 16-byte tag) and, in the
--nth frame of type --type (6: CRIU's stream; 8: CRIU's stream compressed; 1: JSON;
or a list such as 6,8, whose frames then count together), does one of:
  flip    change one bit of its payload
  replay  send it twice
  drop    leave it out
  none    nothing (the proxy alone)
Each connection's own count starts at 1; what was done is logged to --log.
"""
import argparse
import socket
import struct
import sys
import threading


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode", choices=["flip", "replay", "drop", "none"], required=True)
    ap.add_argument("--type", type=lambda v: {int(t) for t in v.split(",")}, default={6})
    ap.add_argument("--nth", type=int, default=10)
    a = ap.parse_args()
    host, port = a.to.rsplit(":", 1)
    lock = threading.Lock()

    def log(msg):
        with lock:
            with open(a.log, "a") as f:
                f.write(msg + "\n")

    def server_to_client(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def client_to_server(src, dst):
        seen, first = 0, True
        try:
            while True:
                hdr = recv_exact(src, 12)
                if hdr is None:
                    break
                magic, ver, typ, _, length = struct.unpack(">4sBBHI", hdr)
                tag = 16 if ver >= 2 and not first else 0
                body = recv_exact(src, length + tag)
                if body is None:
                    break
                first = False
                frame = hdr + body
                if typ in a.type and a.mode != "none":
                    seen += 1
                    if seen == a.nth:
                        if a.mode == "flip" and length > 0:
                            i = 12 + length // 2
                            frame = frame[:i] + bytes([frame[i] ^ 0x10]) + frame[i + 1:]
                            log("flipped a bit in frame %d of type %d (%d bytes)" % (seen, typ, length))
                        elif a.mode == "replay":
                            dst.sendall(frame)
                            log("replayed frame %d of type %d" % (seen, typ))
                        elif a.mode == "drop":
                            log("dropped frame %d of type %d" % (seen, typ))
                            continue
                dst.sendall(frame)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(lsock.getsockname()[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    while True:
        c, _ = lsock.accept()
        try:
            u = socket.create_connection((host, int(port)))
        except OSError:
            c.close()
            continue
        for s in (c, u):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=client_to_server, args=(c, u), daemon=True).start()
        threading.Thread(target=server_to_client, args=(u, c), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
