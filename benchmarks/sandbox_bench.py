"""Loopback throughput of the sandbox: accepted events/s with 1,000-event valid requests.

The sandbox runs in a separate process pinned to one core (`taskset -c 1`); this client pins
itself to another core and keeps `--concurrency` requests in flight. Every event has a unique
event_id and passes Meta's rules (website Purchase with hashed em/ph, IP, UA, fbc, fbp).
Besides events/s, the sandbox's CPU seconds (from /proc) show whether its core was saturated:
events per sandbox-CPU-second is the single-core capacity.

    .venv/bin/python benchmarks/sandbox_bench.py --requests 600 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
DATASET = "1000000000000001"
TOKEN = "sandbox-token"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_events(n: int, now: int) -> list[dict[str, object]]:
    """n valid events; the client only changes event_id per request (hashing is costly)."""
    events: list[dict[str, object]] = []
    for k in range(n):
        events.append(
            {
                "event_name": "Purchase",
                "event_time": now - (k % 3600),
                "event_id": "",
                "action_source": "website",
                "event_source_url": "https://shop.example.com/checkout/done",
                "user_data": {
                    "em": [_sha(f"user{k}@example.com")],
                    "ph": [_sha(f"3361234{k:04d}")],
                    "external_id": [f"cust-{k}"],
                    "client_ip_address": f"203.0.113.{k % 250}",
                    "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
                    "fbc": f"fb.1.1732700000000.IwAR{k:08d}",
                    "fbp": f"fb.1.1732700000000.{1000000 + k}",
                },
                "custom_data": {"value": 19.99 + (k % 100), "currency": "EUR"},
            }
        )
    return events


def make_body(events: list[dict[str, object]], req: int) -> bytes:
    for j, ev in enumerate(events):
        ev["event_id"] = f"ev-{req}-{j}"
    return orjson.dumps({"data": events, "access_token": TOKEN})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _wait_ready(
    session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the sandbox exited during startup")
        try:
            async with session.get(f"{base}/_sandbox/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the sandbox did not start within 20 s")


def start_sandbox(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "streams.dev.sandbox",
        "--port",
        str(port),
        "--max-receipts",
        str(args.max_receipts),
        "--admin",  # the benchmark reads /_sandbox/stats
    ]
    if args.receipts_file:
        cmd += ["--receipts-file", args.receipts_file]
    if args.server_cpu >= 0:
        cmd = ["taskset", "-c", str(args.server_cpu), *cmd]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def run(args: argparse.Namespace, proc: subprocess.Popen[bytes], port: int) -> int:
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/v25.0/{DATASET}/events"
    try:
        conn = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=conn) as session:
            await _wait_ready(session, base, proc)
            template = make_events(args.events, int(time.time()))
            headers = {"Content-Type": "application/json"}
            counter = iter(range(10**9))
            failures = 0

            async def worker(n_requests: int) -> None:
                nonlocal failures
                for _ in range(n_requests):
                    body = make_body(template, next(counter))
                    async with session.post(url, data=body, headers=headers) as resp:
                        doc = await resp.json(loads=orjson.loads)
                        if resp.status != 200 or doc.get("events_received") != args.events:
                            failures += 1

            # warm-up
            await asyncio.gather(*(worker(2) for _ in range(args.concurrency)))
            async with session.post(f"{base}/_sandbox/reset") as resp:
                await resp.read()
            per_worker = max(1, args.requests // args.concurrency)
            cpu0, t0 = _cpu_seconds(proc.pid), time.perf_counter()
            await asyncio.gather(*(worker(per_worker) for _ in range(args.concurrency)))
            elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(proc.pid) - cpu0
            async with session.get(f"{base}/_sandbox/stats") as resp:
                stats = await resp.json()
    finally:
        proc.terminate()
    accepted = stats["totals"]["events_accepted"]
    print(
        f"requests={per_worker * args.concurrency} events/request={args.events} "
        f"concurrency={args.concurrency} failures={failures}"
    )
    print(
        f"accepted_events={accepted} wall_s={elapsed:.2f} sandbox_cpu_s={cpu:.2f} "
        f"(core utilisation {cpu / elapsed:.0%})"
    )
    print(f"accepted_events_per_s={accepted / elapsed:,.0f}")
    print(f"accepted_events_per_sandbox_cpu_s={accepted / cpu:,.0f}")
    return 1 if failures else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=600)
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--server-cpu", type=int, default=1, help="-1: do not pin")
    p.add_argument("--client-cpu", type=int, default=0, help="-1: do not pin")
    p.add_argument("--max-receipts", type=int, default=200_000)
    p.add_argument("--receipts-file", default=None)
    args = p.parse_args()
    if args.client_cpu >= 0:
        os.sched_setaffinity(0, {args.client_cpu})
    port = _free_port()
    proc = start_sandbox(args, port)
    try:
        return asyncio.run(run(args, proc, port))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
