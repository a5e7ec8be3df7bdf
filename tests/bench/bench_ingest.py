"""Benchmark of the ingest: POST throughput/latency at 1, 8, 32 in flight, then status GETs.

Starts ``shotline ingest`` as a subprocess against the real broker in a fresh vhost
(publisher confirms on, as in production), creates a user, drives it with an aiohttp client
in this process and prints a table. Bounded: a fixed number of requests per row and a time
cap; it talks to 127.0.0.1 only and removes its vhost at the end.

    .venv/bin/python tests/bench/bench_ingest.py [--posts 2000] [--gets 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from services.common.bus.admin import Management  # noqa: E402
from tests.conftest import AMQP_BASE, MANAGEMENT_URL, free_port  # noqa: E402
from tests.ingest.process import start_ingest  # noqa: E402

JOB = {"experiment_0": {"instructions": [["load", [7], []], ["load", [2], []],
                                         ["measure", [2], []], ["measure", [7], []]],
                        "num_wires": 8, "shots": 4, "wire_order": "interleaved"}}
TIME_CAP_S = 120.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(count: int, in_flight: int, call) -> tuple[float, list[float], int]:
    """Run ``count`` calls with ``in_flight`` workers; (seconds, latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    remaining = iter(range(count))
    deadline = time.perf_counter() + TIME_CAP_S

    async def worker() -> None:
        nonlocal failures
        for _ in remaining:
            if time.perf_counter() > deadline:
                return
            start = time.perf_counter()
            ok = await call()
            latencies.append(time.perf_counter() - start)
            failures += not ok

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - began, latencies, failures


async def run(base: str, token: str, posts: int, gets: int) -> list[tuple[str, ...]]:
    body = json.dumps({"job": json.dumps(JOB), "token": token})
    rows = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        job_ids: list[str] = []

        async def post() -> bool:
            async with session.post(f"{base}/api/v2/fermions/post_job", data=body,
                                    headers={"Content-Type": "application/json"}) as r:
                reply = await r.json()
                if r.status == 200:
                    job_ids.append(reply["job_id"])
                return r.status == 200

        await drive(50, 4, post)  # warm-up: publisher connections, SQLite pages
        for in_flight in (1, 8, 32):
            n = posts // 4 if in_flight == 1 else posts
            seconds, lat, failed = await drive(n, in_flight, post)
            rows.append((f"POST post_job, {in_flight} in flight", str(len(lat)),
                         f"{len(lat) / seconds:,.0f}", f"{statistics.median(lat) * 1e3:.1f}",
                         f"{percentile(lat, 0.99) * 1e3:.1f}", str(failed)))
        target = job_ids[len(job_ids) // 2]  # a QUEUED job half-way down a long queue
        query = {"job_id": target, "token": token}

        async def status() -> bool:
            async with session.get(f"{base}/api/v2/fermions/get_job_status", params=query) as r:
                await r.read()
                return r.status == 200

        for in_flight in (8, 32):
            seconds, lat, failed = await drive(gets, in_flight, status)
            rows.append((f"GET get_job_status, {in_flight} in flight", str(len(lat)),
                         f"{len(lat) / seconds:,.0f}", f"{statistics.median(lat) * 1e3:.1f}",
                         f"{percentile(lat, 0.99) * 1e3:.1f}", str(failed)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--gets", type=int, default=10000)
    parser.add_argument("--publish-threads", type=int, default=8)
    args = parser.parse_args()
    management = Management(MANAGEMENT_URL, AMQP_BASE + "/")
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    management.create_vhost(vhost)
    os.environ.update(SHOTLINE_SUBMIT_RATE="1000000", SHOTLINE_SUBMIT_BURST="1000000",
                      SHOTLINE_MAX_UNFINISHED_JOBS="1000000", SHOTLINE_LOG_LEVEL="WARNING",
                      SHOTLINE_PUBLISH_THREADS=str(args.publish_threads))
    try:
        with tempfile.TemporaryDirectory() as home:
            service = start_ingest(Path(home), f"{AMQP_BASE}/{quote(vhost, safe='')}", free_port())
            try:
                token = service.add_user("bench")
                rows = asyncio.run(run(service.base_url, token, args.posts, args.gets))
            finally:
                service.stop()
    finally:
        management.delete_vhost(vhost)
    header = ("scenario", "requests", "req/s", "p50 ms", "p99 ms", "failed")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print(f"(publisher threads: {args.publish_threads}; cores: {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
