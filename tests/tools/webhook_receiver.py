#!/usr/bin/python3
"""webhook_receiver.py: a webhook receiver for the tests, as a user would write one.

Listens on 127.0.0.1 (port 0: any; the port goes to --port-file), answers the first
--fail requests with 500 and the rest with 200, and appends one JSON line per
request to --log: the X-Hauld-* headers, whether the signature verifies with the
key in --key-file (HMAC-SHA256 over "T." + body, T from the header), and the body.

  webhook_receiver.py --key-file FILE --log FILE --port-file FILE [--fail N] [--port P]
"""
import argparse
import hashlib
import hmac
import http.server
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    with open(a.key_file, "rb") as f:
        key = f.read().rstrip(b"\r\n ")
    state = {"n": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            sig = self.headers.get("X-Hauld-Signature", "")
            parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
            want = hmac.new(key, parts.get("t", "").encode() + b"." + body,
                            hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(want, parts.get("v1", ""))
            state["n"] += 1
            status = 500 if state["n"] <= a.fail else 200
            rec = {
                "n": state["n"],
                "status": status,
                "event": self.headers.get("X-Hauld-Event"),
                "delivery": self.headers.get("X-Hauld-Delivery"),
                "attempt": self.headers.get("X-Hauld-Attempt"),
                "content_type": self.headers.get("Content-Type"),
                "signature_ok": ok,
                "body": json.loads(body) if body else None,
            }
            with open(a.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, fmt, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", a.port), Handler)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
