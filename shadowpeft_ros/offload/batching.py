"""Micro-batching with a bounded queue: requests that arrive together share one forward pass.

One worker thread owns the engine. It takes the oldest waiting request, then keeps collecting
for at most ``window_s`` (or until ``max_batch`` requests) and hands the whole list to the handler.
The queue holds at most ``max_queue`` waiting requests; ``submit`` beyond that raises ``QueueFull``
at once, so an overloaded server answers 503 instead of growing without bound. Requests whose
deadline has passed while they waited are dropped before they cost any compute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence

logger = logging.getLogger("shadowpeft_ros")


class QueueFull(RuntimeError):
    """The batcher's queue is at its bound; the request was not accepted."""


class DeadlineExpired(TimeoutError):
    """The request waited in the queue past its deadline and was dropped unprocessed."""


@dataclass(frozen=True)
class BatchResult:
    """One request's answer plus how it was served."""

    value: Any
    queue_s: float
    run_s: float
    batch_size: int


@dataclass
class _Item:
    payload: Any
    future: Future
    enqueued: float
    deadline: Optional[float]


class MicroBatcher:
    """Collect requests into batches for ``handler(list_of_payloads) -> list_of_results``.

    A result that is an ``Exception`` instance fails only its own request.
    """

    def __init__(self, handler: Callable[[Sequence[Any]], Sequence[Any]], max_batch: int = 8,
                 window_s: float = 0.01, max_queue: int = 32, name: str = "offload-batcher"):
        if max_batch < 1 or max_queue < 1 or window_s < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and window_s >= 0")
        self.handler = handler
        self.max_batch = max_batch
        self.window_s = window_s
        self.max_queue = max_queue
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.batches = 0
        self.items = 0
        self.expired = 0
        self.largest_batch = 0

    def start(self) -> "MicroBatcher":
        """Start the worker thread."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker after its current batch; waiting requests fail with RuntimeError."""
        with self._cond:
            self._stopping = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for item in pending:
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(RuntimeError("server is shutting down"))
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def depth(self) -> int:
        """Return how many requests wait for a batch (not counting the one being run)."""
        return len(self._queue)

    def submit(self, payload: Any, deadline: Optional[float] = None) -> Future:
        """Queue one request and return a Future of its BatchResult; raise QueueFull when the queue is full.

        ``deadline`` is a ``time.monotonic()`` instant after which the request is not worth running.
        """
        future: Future = Future()
        with self._cond:
            if self._stopping:
                raise RuntimeError("server is shutting down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"queue full ({self.max_queue} waiting)")
            self._queue.append(_Item(payload, future, time.monotonic(), deadline))
            self._cond.notify()
        return future

    def _take_batch(self) -> List[_Item]:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return []
            batch = [self._queue.popleft()]
            close_at = time.monotonic() + self.window_s
            while len(batch) < self.max_batch:
                if self._queue:
                    batch.append(self._queue.popleft())
                    continue
                left = close_at - time.monotonic()
                if left <= 0 or self._stopping:
                    break
                self._cond.wait(left)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            now = time.monotonic()
            live = []
            for item in batch:
                if not item.future.set_running_or_notify_cancel():
                    continue  # the caller gave up (client disconnected)
                if item.deadline is not None and now > item.deadline:
                    self.expired += 1
                    item.future.set_exception(DeadlineExpired(f"waited {now - item.enqueued:.3f} s, past its deadline"))
                    continue
                live.append(item)
            if not live:
                continue
            started = time.monotonic()
            try:
                results = list(self.handler([item.payload for item in live]))
                if len(results) != len(live):
                    raise RuntimeError(f"handler returned {len(results)} results for {len(live)} requests")
            except Exception as exc:  # one broken batch must not kill the worker
                logger.exception("batch of %d failed", len(live))
                results = [exc] * len(live)
            run_s = time.monotonic() - started
            self.batches += 1
            self.items += len(live)
            self.largest_batch = max(self.largest_batch, len(live))
            for item, result in zip(live, results):
                if isinstance(result, Exception):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(BatchResult(result, started - item.enqueued, run_s, len(live)))
