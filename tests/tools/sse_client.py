#!/usr/bin/python3
"""sse_client.py: a plain server-sent-events client for the tests.

Reads GET URL as text/event-stream with the standard library's HTTP client and
prints each event as one JSON line {"id", "event", "data"} (data parsed as JSON).
Stops after --max-events events, when --until-final sees the job's last state event
(kind "state" with a final state; "any": any job's), or after --timeout seconds.

  sse_client.py URL [--token FILE] [--last-event-id N] [--max-events N]
                    [--until-final JOB] [--timeout S] [--out FILE]
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse

FINAL = {"succeeded", "failed", "cancelled"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--token")
    ap.add_argument("--last-event-id")
    ap.add_argument("--max-events", type=int, default=0)
    ap.add_argument("--until-final")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--out")
    a = ap.parse_args()

    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
    headers = {"Accept": "text/event-stream"}
    if a.token:
        with open(a.token) as f:
            headers["Authorization"] = "Bearer " + f.readline().strip()
    if a.last_event_id is not None:
        headers["Last-Event-ID"] = a.last_event_id
    path = u.path + ("?" + u.query if u.query else "")
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    out = open(a.out, "a") if a.out else sys.stdout
    if resp.status != 200:
        print(json.dumps({"status": resp.status, "body": resp.read().decode()}), file=out)
        return 1
    ctype = resp.getheader("Content-Type", "")
    if not ctype.startswith("text/event-stream"):
        print(json.dumps({"status": resp.status, "content_type": ctype}), file=out)
        return 1
    deadline = time.monotonic() + a.timeout
    got = 0
    ev = {"id": None, "event": "message", "data": []}
    while time.monotonic() < deadline:
        line = resp.fp.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if line == "":
            if ev["data"]:
                data = json.loads("\n".join(ev["data"]))
                print(json.dumps({"id": ev["id"], "event": ev["event"], "data": data}),
                      file=out, flush=True)
                got += 1
                if a.max_events and got >= a.max_events:
                    break
                if (a.until_final and a.until_final in ("any", data.get("job")) and
                        data.get("kind") == "state" and data.get("state") in FINAL):
                    break
            ev = {"id": ev["id"], "event": "message", "data": []}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id":
            ev["id"] = value
        elif field == "event":
            ev["event"] = value
        elif field == "data":
            ev["data"].append(value)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
