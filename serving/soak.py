"""A fixed-rate soak of a running service: mixed traffic, errors, latency and memory over time.

``run_soak`` sends requests at a fixed rate (open loop: request *i* leaves at ``i / rate``
seconds, whether or not earlier ones have answered, as independent CRM callers would) drawn
from a weighted mix of ``/score`` by id, ``/score`` inline, ``/score/batch`` and ``/events``
(new event ids each time), and samples the resident memory of the server's process tree once
a second. Used by the bounded CI soak (``tests/model/test_serving_hardening.py``) and by the
full-length benchmark (``benchmarks/bench_soak.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import httpx
import numpy as np
import psutil


@dataclass(frozen=True)
class Traffic:
    """One kind of request: ``make(i)`` gives the JSON body of the ``i``-th one."""

    name: str
    path: str
    weight: float
    make: Callable[[int], dict]


@dataclass
class SoakReport:
    """What a soak measured: per-kind latencies (seconds), errors, RSS samples (MB)."""

    seconds: float
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    rss: list[tuple[float, float]] = field(default_factory=list)
    events_acknowledged: list[str] = field(default_factory=list)

    def percentile(self, q: float, name: str | None = None) -> float:
        """Latency percentile in ms (all kinds, or kind ``name``)."""
        values = self.latencies.get(name, []) if name else list(
            itertools.chain.from_iterable(self.latencies.values()))
        return float(np.percentile(np.asarray(values) * 1000, q)) if values else float("nan")

    def rss_growth(self, skip_seconds: float) -> float:
        """Relative RSS growth from the first sample after ``skip_seconds`` to the last."""
        kept = [mb for at, mb in self.rss if at >= skip_seconds]
        return (kept[-1] - kept[0]) / kept[0] if len(kept) > 1 else 0.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB."""
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


async def _soak(url: str, traffic: Sequence[Traffic], rate: float, seconds: float,
                server_pid: int | None, headers: dict, seed: int) -> SoakReport:
    report = SoakReport(seconds, latencies={t.name: [] for t in traffic})
    chooser = random.Random(seed)
    weights = [t.weight for t in traffic]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64,
                          keepalive_expiry=1.0)  # well before the server drops idle ones (5 s)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits,
                                 headers=headers) as client:

        async def send(kind: Traffic, body: dict) -> None:
            started = time.perf_counter()
            try:
                response = await client.post(kind.path, json=body)
            except httpx.HTTPError as error:
                report.errors.append(f"{kind.path}: {type(error).__name__}")
                return
            report.latencies[kind.name].append(time.perf_counter() - started)
            if response.status_code != 200:
                report.errors.append(f"{kind.path}: {response.status_code} {response.text[:200]}")
            elif kind.path == "/events":
                report.events_acknowledged += [e["event_id"] for e in body["events"]]

        async def sample_memory(start: float) -> None:
            while server_pid is not None:
                report.rss.append((time.perf_counter() - start, tree_rss_mb(server_pid)))
                await asyncio.sleep(1.0)

        start = time.perf_counter()
        sampler = asyncio.create_task(sample_memory(start))
        tasks = []
        for i in itertools.count():
            due = start + i / rate
            if due - start >= seconds:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            kind = chooser.choices(traffic, weights)[0]
            tasks.append(asyncio.create_task(send(kind, kind.make(i))))
            report.sent += 1
        await asyncio.gather(*tasks)
        sampler.cancel()
    return report


def run_soak(url: str, traffic: Sequence[Traffic], rate: float, seconds: float, *,
             server_pid: int | None = None, headers: dict | None = None,
             seed: int = 0) -> SoakReport:
    """Send ``rate`` requests a second for ``seconds`` from the ``traffic`` mix to ``url``.

    Args:
        url: the service's base URL.
        traffic: the request kinds and their weights.
        rate: requests per second (open loop).
        seconds: how long to send.
        server_pid: the server's PID, for RSS samples of its process tree (None: no samples).
        headers: sent with every request (e.g. the API key).
        seed: picks the mix deterministically.
    """
    return asyncio.run(_soak(url, traffic, rate, seconds, server_pid, headers or {}, seed))


def standard_traffic(lead_ids: Sequence[str], inline_bodies: Sequence[dict],
                     prefix: str = "soak") -> list[Traffic]:
    """The mix of the soak: 40% ``/score`` by id, 30% inline, 10% ``/score/batch`` of five
    stored leads, 20% ``/events`` (two new events each)."""
    def by_id(i: int) -> dict:
        return {"lead_id": lead_ids[i % len(lead_ids)]}

    def batch(i: int) -> dict:
        return {"leads": [by_id(i + k) for k in range(5)]}

    def events(i: int) -> dict:
        return {"events": [{"event_id": f"{prefix}-{i}-{k}", "lead_id": by_id(i)["lead_id"],
                            "type": "page_view", "occurred_at": "2026-06-01T00:00:00Z"}
                           for k in range(2)]}

    return [Traffic("score_id", "/score", 0.4, by_id),
            Traffic("score_inline", "/score", 0.3,
                    lambda i: inline_bodies[i % len(inline_bodies)]),
            Traffic("batch", "/score/batch", 0.1, batch),
            Traffic("events", "/events", 0.2, events)]
