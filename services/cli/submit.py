"""``shotline submit FILE --backend B [--wait]``: post a job through the HTTP API and follow it."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tqdm import tqdm

FINAL = {"DONE", "ERROR", "CANCELLED"}
_PROGRESS = re.compile(r"(\d+) of (\d+)")


def _call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def submit(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("SHOTLINE_TOKEN")
    if not token:
        print("shotline submit: give --token or set SHOTLINE_TOKEN", file=sys.stderr)
        return 2
    base = args.url or f"http://127.0.0.1:{os.environ.get('SHOTLINE_HTTP_PORT', '8080')}"
    api = f"{base.rstrip('/')}/api/v2/{args.backend}"
    with open(args.file) as f:
        job = json.load(f)
    code, reply = _call(f"{api}/post_job", {"job": json.dumps(job), "token": token})
    if code != 200 or "job_id" not in reply:
        print(f"rejected ({code}): {reply.get('detail')} {reply.get('error_message', '')}", file=sys.stderr)
        return 1
    job_id = reply["job_id"]
    print(job_id, flush=True)
    if not args.wait:
        return 0
    query = urllib.parse.urlencode({"job_id": job_id, "token": token})
    deadline = time.monotonic() + args.timeout
    with tqdm(total=None, unit="shot", desc=job_id[:12], file=sys.stderr) as bar:
        while time.monotonic() < deadline:
            code, status = _call(f"{api}/get_job_status?{query}")
            state = status.get("status", "?")
            # RUNNING details say "N of M shots done"; QUEUED ones "position N of M" (no progress).
            match = _PROGRESS.search(status.get("detail", "")) if state == "RUNNING" else None
            if match:
                done, total = map(int, match.groups())
                bar.total = total
                bar.n = done
            bar.set_postfix_str(state)
            bar.refresh()
            if state in FINAL:
                break
            time.sleep(0.5)  # polling an HTTP API that has no push channel
    if state != "DONE":
        print(f"{job_id}: {state}: {status.get('detail')} {status.get('error_message', '')}", file=sys.stderr)
        return 1
    _, result = _call(f"{api}/get_job_result?{query}")
    print(json.dumps(result, indent=2))
    return 0
