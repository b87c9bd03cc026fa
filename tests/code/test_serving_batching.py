"""MicroBatcher: concurrent submissions are handled together, in order, with errors shared."""

from __future__ import annotations

import threading

import pytest

from serving.batching import MicroBatcher


class _GatedHandler:
    """Doubles its items; the first call waits for ``release`` so others can queue up."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.entered.set()
            self.release.wait(10)
        return [2 * item for item in items]


def test_requests_queued_while_busy_go_out_as_one_batch_in_order() -> None:
    handler = _GatedHandler()
    batcher = MicroBatcher(handler, max_batch_size=32).start()
    try:
        first = batcher.submit(0)
        assert handler.entered.wait(10)
        waiting = [batcher.submit(i) for i in range(1, 11)]
        handler.release.set()
        assert first.result(10) == 0
        assert [f.result(10) for f in waiting] == [2 * i for i in range(1, 11)]
    finally:
        batcher.close()
    assert handler.calls == [[0], list(range(1, 11))]
    assert batcher.batch_sizes == {1: 1, 10: 1}


def test_batches_never_exceed_the_maximum() -> None:
    handler = _GatedHandler()
    batcher = MicroBatcher(handler, max_batch_size=4).start()
    try:
        first = batcher.submit(0)
        assert handler.entered.wait(10)
        rest = [batcher.submit(i) for i in range(1, 11)]
        handler.release.set()
        assert [f.result(10) for f in [first, *rest]] == [2 * i for i in range(11)]
    finally:
        batcher.close()
    assert [len(c) for c in handler.calls] == [1, 4, 4, 2]


def test_a_failing_batch_fails_each_of_its_callers() -> None:
    def handler(items: list[int]) -> list[int]:
        raise ConnectionError("store is down")

    batcher = MicroBatcher(handler).start()
    try:
        future = batcher.submit(1)
        with pytest.raises(ConnectionError, match="store is down"):
            future.result(10)
    finally:
        batcher.close()


def test_a_handler_returning_the_wrong_count_is_an_error() -> None:
    batcher = MicroBatcher(lambda items: items[:-1]).start()
    try:
        with pytest.raises(RuntimeError, match="handler returned 0 results for 1 items"):
            batcher.submit(1).result(10)
    finally:
        batcher.close()


def test_close_finishes_queued_work_and_refuses_new_work() -> None:
    batcher = MicroBatcher(lambda items: [i + 1 for i in items]).start()
    futures = [batcher.submit(i) for i in range(5)]
    batcher.close()
    assert [f.result(1) for f in futures] == [1, 2, 3, 4, 5]
    with pytest.raises(RuntimeError, match="micro-batcher is closed"):
        batcher.submit(9)


@pytest.mark.parametrize(("size", "wait", "message"), [
    (0, 0.0, "max_batch_size must be at least 1, got 0"),
    (4, -1.0, "max_wait_ms must be >= 0, got -1.0"),
])
def test_bad_settings_are_named(size: int, wait: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MicroBatcher(lambda items: items, max_batch_size=size, max_wait_ms=wait)
