"""Adaptive micro-batching: concurrent requests are scored together by one worker thread.

Part of scoring a lead is fixed per call (two booster calls, the answer models), so scoring
concurrent requests together raises throughput: at concurrency 8 the median latency of /score
drops by about a sixth (``benchmarks/bench_serving.py``, "micro-batching off"). The batching is
*natural*: an idle worker takes a request at once (no added latency at low load); while it
works, new requests queue up and the next batch takes all of them (up to ``max_batch_size``).
Under load only (more than one request queued), ``max_wait_ms`` waits a little longer for
requests still being parsed by the HTTP layer, so batches fill up.

BentoML's own adaptive batching is not used: it batches along an array dimension, which does
not fit one-lead JSON requests (and hangs with DataFrames in 1.4.39, see STACK.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from concurrent.futures import Future
from typing import Callable, Generic, Sequence, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
_STOP = object()


class MicroBatcher(Generic[T, R]):
    """Runs ``handler(items) -> results`` (same length and order) on batches of submissions.

    Args:
        handler: scores a list of items; its exceptions fail every future of that batch.
        max_batch_size: most items per call (1 turns batching off).
        max_wait_ms: how long to wait for more items once one is taken (0: never wait).
        name: thread name.
        on_batch: called with the size of every batch (e.g. a histogram).
    """

    def __init__(self, handler: Callable[[list[T]], Sequence[R]], max_batch_size: int = 32,
                 max_wait_ms: float = 0.0, name: str = "micro-batcher",
                 on_batch: Callable[[int], None] | None = None):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.handler = handler
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.name = name
        self.on_batch = on_batch
        self.batch_sizes: Counter[int] = Counter()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> "MicroBatcher[T, R]":
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def submit(self, item: T) -> Future:
        """Queue ``item``; the future gets its result (or the batch's exception)."""
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        future: Future = Future()
        self._queue.put((item, future))
        return future

    def close(self, timeout: float = 5.0) -> None:
        """Finish the queued work, then stop the worker."""
        self._closed = True
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._collect([first])
            self._dispatch(batch)
            if stop:
                return

    def _collect(self, batch: list) -> tuple[list, bool]:
        """Add the queued items; under load (more than one queued) also wait up to
        ``max_wait_ms`` for more. True when the stop mark came."""
        deadline = None
        while len(batch) < self.max_batch_size:
            if deadline is None and len(batch) > 1:
                deadline = time.monotonic() + self.max_wait_ms / 1000
            remaining = 0.0 if deadline is None else deadline - time.monotonic()
            try:
                entry = (self._queue.get(timeout=remaining) if remaining > 0
                         else self._queue.get_nowait())
            except queue.Empty:
                break
            if entry is _STOP:
                return batch, True
            batch.append(entry)
        return batch, False

    def _dispatch(self, batch: list) -> None:
        live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        self.batch_sizes[len(live)] += 1
        if self.on_batch is not None:
            self.on_batch(len(live))
        try:
            results = self.handler([item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"handler returned {len(results)} results for "
                                   f"{len(live)} items")
        except BaseException as error:  # noqa: BLE001 - handed to every waiting caller
            logger.exception("%s: a batch of %d failed", self.name, len(live))
            for _, future in live:
                future.set_exception(error)
            return
        for (_, future), result in zip(live, results):
            future.set_result(result)
