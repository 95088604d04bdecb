"""Circuit breaker for the offload link: stop paying for a server that keeps failing.

closed -> open after ``failure_threshold`` consecutive failures; open -> half_open once
``reset_timeout_s`` has passed, which admits exactly one trial (a health probe or a real request);
half_open -> closed when the trial succeeds, back to open (timer restarted) when it fails.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

logger = logging.getLogger("shadowpeft_ros")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass
class BreakerOptions:
    """When the breaker opens and how long it waits before trying the server again."""

    failure_threshold: int = field(default=3, metadata={
        "help": "Consecutive failures (errors, timeouts, missed deadlines) that open the breaker."})
    reset_timeout_s: float = field(default=2.0, metadata={
        "help": "Seconds the breaker stays open before one half-open trial is allowed."})

    def __post_init__(self):
        if int(self.failure_threshold) < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {self.failure_threshold}")
        if not self.reset_timeout_s > 0:
            raise ValueError(f"reset_timeout_s must be > 0, got {self.reset_timeout_s}")


class CircuitBreaker:
    """Thread-safe three-state circuit breaker; the clock is injectable for tests."""

    def __init__(self, options: BreakerOptions = None, clock: Callable[[], float] = time.monotonic):
        self.options = options or BreakerOptions()
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self.transitions = 0

    @property
    def state(self) -> str:
        """Return the current state, moving open -> half_open if the reset timeout has passed."""
        with self._lock:
            self._maybe_half_open()
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def _maybe_half_open(self) -> None:
        if self._state == OPEN and self._clock() - self._opened_at >= self.options.reset_timeout_s:
            self._set(HALF_OPEN)

    def _set(self, state: str) -> None:
        if state != self._state:
            logger.info("offload breaker %s -> %s", self._state, state)
            self._state = state
            self.transitions += 1
            self._trial_in_flight = False

    def allow(self) -> bool:
        """Return True if a call may go to the server now; in half_open only one trial is admitted."""
        with self._lock:
            self._maybe_half_open()
            if self._state == CLOSED:
                return True
            if self._state == HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        """Record a call that worked: reset the failure count and close the breaker."""
        with self._lock:
            self._failures = 0
            self._set(CLOSED)

    def record_failure(self) -> None:
        """Record a failed call: open after the threshold, or reopen after a failed half-open trial."""
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or (self._state == CLOSED and self._failures >= self.options.failure_threshold):
                self._set(OPEN)
                self._opened_at = self._clock()
            elif self._state == OPEN:
                # A call admitted before the breaker opened failed late: restart the wait.
                self._opened_at = self._clock()

    def release_trial(self) -> None:
        """Give back a half-open trial that ended without a verdict (e.g. the caller gave up)."""
        with self._lock:
            self._trial_in_flight = False
