"""A small closed-loop HTTP load generator for the benchmarks (asyncio + aiohttp).

``measure(url, path, bodies, requests, concurrency)`` runs in a **separate process** so the
client never shares a GIL with the benchmark's own data or with the server: ``concurrency``
workers each send one request at a time over a keep-alive connection (a CRM with that many
callers in flight), cycling through ``bodies``. Latency is measured per request, from send to
the last byte of the answer; req/s is requests over the wall time of the measured part.
An aiohttp client costs ~0.15 ms of CPU per request on this machine (threads with httpx cost
several times that and add GIL stalls to the tail), so more of the two cores go to the server.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np


@dataclass
class LoadResult:
    """Latencies (seconds) of one measured case."""

    latencies: list[float]
    wall: float
    errors: int
    first_error: str | None = None

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.latencies) * 1000, q))

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall


def measure(url: str, path: str, bodies: list[dict] | None, requests: int, concurrency: int,
            warmup: int = 100) -> LoadResult:
    """Run the load in a fresh process and return what it measured (``bodies`` None: GET)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_run, url, path, bodies, requests, concurrency, warmup).result()


def _run(url: str, path: str, bodies: list[dict] | None, requests: int, concurrency: int,
         warmup: int) -> LoadResult:
    return asyncio.run(_load(url, path, bodies, requests, concurrency, warmup))


async def _load(url: str, path: str, bodies: list[dict] | None, requests: int,
                concurrency: int, warmup: int) -> LoadResult:
    import aiohttp

    payloads = [json.dumps(body).encode() for body in bodies] if bodies else [None]
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(url, connector=connector, headers=headers) as session:

        async def worker(worker_id: int, count: int, record: bool) -> None:
            for i in range(count):
                payload = payloads[(worker_id * 7919 + i) % len(payloads)]
                began = time.perf_counter()
                method = session.get(path) if payload is None else session.post(path,
                                                                                 data=payload)
                async with method as response:
                    body = await response.read()
                if record:
                    latencies.append(time.perf_counter() - began)
                    if response.status != 200:
                        errors.append(f"{response.status}: {body[:200]!r}")

        await asyncio.gather(*(worker(w, max(warmup // concurrency, 1), False)
                               for w in range(concurrency)))
        shares = [requests // concurrency + (w < requests % concurrency)
                  for w in range(concurrency)]
        began = time.perf_counter()
        await asyncio.gather(*(worker(w, shares[w], True) for w in range(concurrency)))
        wall = time.perf_counter() - began
    return LoadResult(latencies, wall, len(errors), errors[0] if errors else None)
