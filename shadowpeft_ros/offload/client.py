"""Robot-side client of the offload server: knows whether the server is worth asking, and never waits past a deadline.

- A background thread probes ``/readyz``: every ``probe_interval_s`` while the server answers,
  with exponential backoff (to ``probe_max_backoff_s``) while it does not.
- A circuit breaker (``breaker.py``) opens after repeated failures (errors, refusals, missed
  deadlines, failed probes); after ``reset_timeout_s`` one half-open trial (a probe or a request)
  decides whether it closes again.
- Each command id is sent at most once (no retries: a retried POST could make the server answer
  twice), and each answer is taken at most once: when the deadline passes the request is abandoned
  in one atomic step; an answer that arrives later is logged and dropped, never returned.

The client never imports rclpy: the interpreter node and ``shadowpeft dog`` wrap it.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import threading
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from ..plan import Plan, PlanError, parse_plan
from .breaker import OPEN, BreakerOptions, CircuitBreaker

logger = logging.getLogger("shadowpeft_ros")

TOKEN_ENV = "SHADOWPEFT_TOKEN"


# The start of a request's error when the server did not answer in time (reports and hints look for it).
DEADLINE_MISSED = "no answer within the deadline"


@dataclass
class OffloadOptions:
    """Where the offload server is and how long the robot is willing to wait for it."""

    url: str = field(default="", metadata={
        "help": "Base URL of the offload server (shadowpeft serve), e.g. http://gpu-box:8080; empty disables offload."})
    token: Optional[str] = field(default=None, metadata={
        "help": f"Bearer token for the server; empty falls back to ${TOKEN_ENV}."})
    # 3 s: a CPU server (the demo's loopback one, 2 cores) answers a long plan in up to ~2.7 s
    # (docs/results, cloud-lora p95), the paper's GPU server in 1.42 s; a user waits that long for a reply.
    deadline_s: float = field(default=3.0, metadata={"range": (0.01, 120),
        "help": "Longest wait for a remote answer, from sending it; after that the robot answers alone."})
    late_grace_s: float = field(default=5.0, metadata={"range": (0.0, 600),
        "help": "How long after its deadline a remote answer is still received, only to be logged and dropped."})
    connect_timeout_s: float = field(default=0.5, metadata={"range": (0.01, 60),
        "help": "TCP connect timeout of every call."})
    probe_interval_s: float = field(default=1.0, metadata={"range": (0.01, 600),
        "help": "Health probe period while the server answers."})
    probe_timeout_s: float = field(default=0.5, metadata={"range": (0.01, 60),
        "help": "A probe slower than this counts as a failure."})
    probe_max_backoff_s: float = field(default=8.0, metadata={"range": (0.01, 3600),
        "help": "Longest pause between probes while the server does not answer (exponential backoff up to it)."})
    failure_threshold: int = field(default=3, metadata={"range": (1, 1000),
        "help": "Consecutive failures that open the circuit breaker."})
    reset_timeout_s: float = field(default=2.0, metadata={"range": (0.01, 3600),
        "help": "Seconds the breaker stays open before a half-open trial."})
    max_in_flight: int = field(default=4, metadata={"range": (1, 256),
        "help": "Concurrent remote requests (extra ones wait)."})
    simulated_rtt_s: float = field(default=0.0, metadata={"range": (0.0, 60),
        "help": "BENCHMARK ONLY: network round-trip time added on the client, half before sending, half after."})

    def __post_init__(self):
        self.url = (self.url or "").rstrip("/")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"offload url must start with http:// or https://, got {self.url!r}")
        if not self.token:
            self.token = os.environ.get(TOKEN_ENV) or None
        for name in ("deadline_s", "connect_timeout_s", "probe_interval_s", "probe_timeout_s", "probe_max_backoff_s",
                     "reset_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        for name in ("late_grace_s", "simulated_rtt_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if self.probe_max_backoff_s < self.probe_interval_s:
            raise ValueError("probe_max_backoff_s must be >= probe_interval_s")
        if int(self.max_in_flight) < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        self.breaker = BreakerOptions(self.failure_threshold, self.reset_timeout_s)

    @property
    def enabled(self) -> bool:
        return bool(self.url)


@dataclass
class RemoteAnswer:
    """What one remote request produced; ``plan`` is set only for a validated answer within the deadline."""

    command_id: str
    plan: Optional[Plan] = None
    error: str = ""
    status: Optional[int] = None
    rtt_s: Optional[float] = None
    timing: Dict[str, Any] = field(default_factory=dict)
    model: Dict[str, Any] = field(default_factory=dict)
    raw_text: str = ""
    confidence: Optional[float] = None
    connect_failed: bool = False

    @property
    def ok(self) -> bool:
        return self.plan is not None


class RemotePending:
    """One sent request; ``wait`` returns its answer, or a deadline failure after which any answer is dropped."""

    def __init__(self, client: "OffloadClient", command_id: str, future: Future, deadline: float):
        self._client = client
        self.command_id = command_id
        self._future = future
        self.deadline = deadline
        self._lock = threading.Lock()
        self._abandoned = False
        self._waited = False
        future.add_done_callback(self._done_callback)

    def wait(self, deadline: Optional[float] = None) -> RemoteAnswer:
        """Block until the answer or the deadline (a ``time.monotonic()`` instant); return exactly once."""
        with self._lock:
            if self._waited:
                raise RuntimeError(f"the answer for {self.command_id} was already taken")
            self._waited = True
        until = self.deadline if deadline is None else min(deadline, self.deadline)
        try:
            return self._future.result(timeout=max(0.0, until - time.monotonic()))
        except (Exception, CancelledError):
            pass  # timed out, cancelled or crashed: decided below, under the lock
        with self._lock:
            if not self._future.done():
                self._abandoned = True
        if self._abandoned:
            self._client._deadline_missed(self.command_id, until)
            return RemoteAnswer(self.command_id, error=f"{DEADLINE_MISSED} ({self._client.options.deadline_s:g} s)")
        return _answer_of(self._future, self.command_id)

    def _done_callback(self, future: Future) -> None:
        with self._lock:
            abandoned = self._abandoned
        if abandoned:
            self._client._late_answer(self.command_id, future, self.deadline)
        else:
            self._client._record_outcome(_answer_of(future, self.command_id))


def _answer_of(future: Future, command_id: str) -> RemoteAnswer:
    """Return a finished request's answer, turning a crash or cancellation into an error answer."""
    try:
        return future.result(timeout=0)
    except (Exception, CancelledError) as exc:
        return RemoteAnswer(command_id, error=f"request did not complete: {exc!r}")


class OffloadClient:
    """HTTP client of ``shadowpeft serve`` with health probes, a circuit breaker and per-request deadlines."""

    def __init__(self, options: OffloadOptions, breaker: Optional[CircuitBreaker] = None):
        import httpx

        # httpx logs every request at INFO; with a probe each second that would bury the robot's own log.
        if logging.getLogger("httpx").level == logging.NOTSET:
            logging.getLogger("httpx").setLevel(logging.WARNING)
        if not options.enabled:
            raise ValueError("OffloadClient needs an offload url")
        self.options = options
        self.breaker = breaker or CircuitBreaker(options.breaker)
        headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
        timeout = httpx.Timeout(options.deadline_s + options.late_grace_s, connect=options.connect_timeout_s)
        limits = httpx.Limits(max_connections=options.max_in_flight + 1,
                              max_keepalive_connections=options.max_in_flight)
        # httpcore writes a request's headers and body separately; without TCP_NODELAY Nagle's algorithm may hold
        # the body until the server's delayed ACK (up to 40 ms on Linux). The server sets the same on its side.
        transport = httpx.HTTPTransport(limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(base_url=options.url, headers=headers, timeout=timeout, transport=transport)
        self._pool = ThreadPoolExecutor(max_workers=options.max_in_flight, thread_name_prefix="offload-request")
        self._lock = threading.Lock()
        self._probed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._prober: Optional[threading.Thread] = None
        self.reachable: Optional[bool] = None
        self.last_rtt_s: Optional[float] = None
        self.last_probe_rtt_s: Optional[float] = None
        self.last_probe_at: Optional[float] = None
        self.last_error = ""
        self.server_model: Dict[str, Any] = {}
        self.counts = {"sent": 0, "answered": 0, "failed": 0, "deadline_missed": 0, "late_dropped": 0,
                       "skipped_unavailable": 0, "probes_ok": 0, "probes_failed": 0}

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "OffloadClient":
        """Start the background health probes (the first one runs at once)."""
        if self._prober is None:
            self._prober = threading.Thread(target=self._probe_loop, name="offload-probe", daemon=True)
            self._prober.start()
        return self

    def close(self) -> None:
        """Stop probing, abandon nothing silently (in-flight answers are dropped as late), release sockets."""
        self._stop.set()
        if self._prober is not None:
            self._prober.join(timeout=self.options.probe_timeout_s + 1.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- requests ----------------------------------------------------------------------------------
    def available(self) -> bool:
        """Return True if a request would be sent now (reachable as far as known, breaker not open)."""
        return self.reachable is not False and self.breaker.state != OPEN

    def submit(self, text: str, command_id: str, detached_output: Any = None) -> Optional[RemotePending]:
        """Send one command and return its pending answer; None if the server is not asked.

        Replays are refused upstream, once, by ``command_handler.CommandHandler``.
        """
        with self._lock:
            if self.reachable is False or not self.breaker.allow():
                self.counts["skipped_unavailable"] += 1
                return None
            self.counts["sent"] += 1
        body = {"text": text, "request_id": command_id, "deadline_s": self.options.deadline_s}
        if detached_output is not None:
            body["detached_output"] = detached_output
        deadline = time.monotonic() + self.options.deadline_s
        future = self._pool.submit(self._post, body)
        return RemotePending(self, command_id, future, deadline)

    def request(self, text: str, command_id: str, detached_output: Any = None) -> RemoteAnswer:
        """Send one command and wait at most the deadline; a failure comes back as an answer with ``error``."""
        pending = self.submit(text, command_id, detached_output)
        if pending is None:
            return RemoteAnswer(command_id, error="offload server unavailable (" + self.why_unavailable() + ")")
        return pending.wait()

    def why_unavailable(self) -> str:
        if self.reachable is False:
            return "not reachable: " + (self.last_error or "health probe failed")
        return f"circuit breaker {self.breaker.state}"

    def _post(self, body: dict) -> RemoteAnswer:
        import httpx

        command_id = body["request_id"]
        started = time.monotonic()
        if self.options.simulated_rtt_s:
            time.sleep(self.options.simulated_rtt_s / 2)
        try:
            response = self._http.post("/v1/plan", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return RemoteAnswer(command_id, error=f"{type(exc).__name__}: {exc}", connect_failed=True)
        except httpx.HTTPError as exc:
            return RemoteAnswer(command_id, error=f"{type(exc).__name__}: {exc}")
        if self.options.simulated_rtt_s:
            time.sleep(self.options.simulated_rtt_s / 2)
        rtt = time.monotonic() - started
        try:
            data = response.json()
        except ValueError:
            data = None  # e.g. uvicorn's plain-text 503 at its connection limit
        if response.status_code != 200:
            body = data if isinstance(data, dict) else {}
            error = f"HTTP {response.status_code} {body.get('error', '')}: {body.get('detail', '')}"
            return RemoteAnswer(command_id, error=error.strip(" :"), status=response.status_code, rtt_s=rtt)
        if not isinstance(data, dict) or data.get("request_id") != command_id:
            # Never take an answer meant for another command, whatever a proxy in between did.
            return RemoteAnswer(command_id, error="answer carries another request id", status=200, rtt_s=rtt)
        answer = RemoteAnswer(command_id, status=200, rtt_s=rtt, timing=data.get("timing") or {},
                              model=data.get("model") or {}, raw_text=str(data.get("raw_text") or ""),
                              confidence=data.get("confidence"))
        if data.get("plan") is None:
            answer.error = f"server gave no plan: {data.get('error') or 'no reason given'}"
            return answer
        try:
            answer.plan = parse_plan(data["plan"]).with_route("remote")
        except PlanError as exc:
            answer.error = f"server plan is invalid: {exc}"
        return answer

    # -- outcome bookkeeping (called from RemotePending) -----------------------------------------------
    def _record_outcome(self, answer: RemoteAnswer) -> None:
        with self._lock:
            if answer.rtt_s is not None:
                self.last_rtt_s = answer.rtt_s
            if answer.model:
                self.server_model = answer.model
            # An answer without a plan from a healthy server is the model's failure, not the link's.
            link_ok = answer.status == 200
            if link_ok:
                self.counts["answered"] += 1
            else:
                self.counts["failed"] += 1
                self.last_error = answer.error
                if answer.connect_failed:
                    # Refused or unroutable: the probes will find out when it is back.
                    self.reachable = False
        if link_ok:
            self.breaker.record_success()
        else:
            logger.warning("[%s] offload request failed: %s", answer.command_id, answer.error)
            if answer.status == 401:
                logger.error("offload server rejected the token: check offload_token / $%s", TOKEN_ENV)
            self.breaker.record_failure()

    def _deadline_missed(self, command_id: str, deadline: float) -> None:
        with self._lock:
            self.counts["deadline_missed"] += 1
            self.last_error = f"deadline of {self.options.deadline_s:g} s missed"
        logger.warning("[%s] no remote answer within %.2f s: using the local answer", command_id,
                       self.options.deadline_s)
        self.breaker.record_failure()

    def _late_answer(self, command_id: str, future: Future, deadline: float) -> None:
        late_by = time.monotonic() - deadline
        try:
            answer = future.result()
            what = "a plan" if answer.ok else f"an error ({answer.error})"
        except Exception as exc:  # a cancelled or crashed request is just as dropped
            what = f"an exception ({exc!r})"
        with self._lock:
            self.counts["late_dropped"] += 1
        logger.warning("[%s] late remote answer (%s) arrived %.2f s after the deadline: dropped", command_id, what,
                       late_by)

    # -- health probes -------------------------------------------------------------------------------
    def probe(self) -> bool:
        """Probe /readyz once, update reachability and the breaker, and return whether the server is ready."""
        import httpx

        trial = self.breaker.state != "closed" and self.breaker.allow()
        started = time.monotonic()
        try:
            response = self._http.get("/readyz", timeout=self.options.probe_timeout_s)
            ok = response.status_code == 200
            error = "" if ok else f"/readyz answered {response.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        with self._lock:
            was = self.reachable
            self.reachable = ok
            self.last_probe_at = time.monotonic()
            self.counts["probes_ok" if ok else "probes_failed"] += 1
            if ok:
                self.last_probe_rtt_s = self.last_probe_at - started
            else:
                self.last_error = error
            self._probed.notify_all()
        if was is not ok:
            (logger.info if ok else logger.warning)("offload server %s %s", self.options.url,
                                                    "reachable" if ok else f"unreachable: {error}")
        if ok and trial:
            self.breaker.record_success()
        elif not ok and (trial or self.breaker.state == "closed"):
            self.breaker.record_failure()
        return ok

    def wait_until_probed(self, timeout_s: float, until_reachable: bool = False) -> Optional[bool]:
        """Block until a health probe has answered (or, with ``until_reachable``, one said ready); return ``reachable``.

        A freshly started client knows nothing of its server, and the policy refuses [REMOTE]
        work while reachability is unknown; a caller that is about to send commands waits here first.
        """
        deadline = time.monotonic() + timeout_s
        with self._probed:
            while (self.reachable is not True) if until_reachable else (self.reachable is None):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._probed.wait(left)
            return self.reachable

    def _probe_loop(self) -> None:
        failures = 0
        delay = 0.0
        while not self._stop.wait(delay):
            ok = self.probe()
            failures = 0 if ok else failures + 1
            if ok:
                delay = self.options.probe_interval_s
            else:
                # Jitter keeps a fleet of robots from probing a recovering server in lockstep.
                backoff = min(self.options.probe_max_backoff_s, self.options.probe_interval_s * 2 ** (failures - 1))
                delay = backoff * random.uniform(0.8, 1.0)
            if self.breaker.state == OPEN:
                # Probe again right when the breaker would admit a half-open trial.
                delay = min(delay, self.options.reset_timeout_s)

    # -- status --------------------------------------------------------------------------------------
    def status(self) -> Dict[str, Any]:
        """Return a JSON-ready snapshot: url, reachable, breaker state, last RTT, counts."""
        with self._lock:
            return {
                "url": self.options.url,
                "reachable": self.reachable,
                "breaker": self.breaker.state,
                "consecutive_failures": self.breaker.consecutive_failures,
                "last_rtt_s": None if self.last_rtt_s is None else round(self.last_rtt_s, 4),
                "last_probe_rtt_s": None if self.last_probe_rtt_s is None else round(self.last_probe_rtt_s, 4),
                "last_probe_age_s": (None if self.last_probe_at is None
                                     else round(time.monotonic() - self.last_probe_at, 3)),
                "last_error": self.last_error,
                "deadline_s": self.options.deadline_s,
                "server_model": dict(self.server_model),
                "counts": dict(self.counts),
            }
