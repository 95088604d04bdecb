"""Which model answers a command: the on-board detached shadow, the offloaded attached model, or both.

Policies (``RouterOptions.policy``):

- ``escalate`` (default, the paper's): run the detached model; ask the server only when its output
  is ``[REMOTE]``, invalid, or below ``confidence_threshold``.
- ``remote_first``: ask the server whenever it is available; the detached model answers when it is
  not, or when the server misses the deadline. With ``speculative_local`` the detached model runs
  while the request is in flight, so a missed deadline costs no extra local time.
- ``local_only``: never use the network.

Guarantees, whatever the network does:

- A stop (``is_stop`` from the speech node, or stop words in the text) becomes a stop plan at
  once: no model, no network.
- No remote wait exceeds ``OffloadOptions.deadline_s``; a later answer is logged and dropped.
- Each command id is routed once (``DuplicateCommand`` otherwise) and produces exactly one plan.
- If neither model produces a usable plan, the plan has no actions and ``say`` tells the user why.
- Every plan with actions has passed ``safety.check_limits`` when limits are given.

Nothing here imports rclpy. ``status()`` is the snapshot the interpreter node publishes on
``/diagnostics`` and ``shadowpeft dog --report`` records; ``diagnostic_fields`` flattens it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..plan import Plan, PlanError, Stop
from .client import DuplicateCommand, OffloadClient, OffloadOptions, RemoteAnswer
from .engine import EngineAnswer
from ..interpreter.interpreter import SAY_LIMITS, SAY_NO_REMOTE, SAY_NOT_UNDERSTOOD, SAY_UNSURE

logger = logging.getLogger("shadowpeft_ros")

POLICIES = ("escalate", "remote_first", "local_only")

# The robot says the same sentences whichever component refuses: the interpreter owns them.
SAY_NEEDS_SERVER = SAY_NO_REMOTE

# Diagnostic levels of diagnostic_msgs/DiagnosticStatus, repeated here so the core never imports ROS.
DIAG_OK, DIAG_WARN, DIAG_ERROR = 0, 1, 2


@dataclass
class RouterOptions:
    """How commands are split between the on-board model and the offload server."""

    policy: str = field(default="escalate", metadata={
        "help": "escalate (detached first, server for [REMOTE]/invalid/low confidence), remote_first, or local_only."})
    confidence_threshold: float = field(default=0.6, metadata={
        "help": "Detached outputs below this confidence (geometric-mean token probability) are escalated."})
    fallback_to_low_confidence: bool = field(default=False, metadata={
        "help": "When the server fails, act on a valid but low-confidence detached plan instead of asking again."})
    speculative_local: bool = field(default=True, metadata={
        "help": "remote_first: run the detached model while the remote request is in flight."})
    dedup_window: int = field(default=4096, metadata={"help": "How many command ids are remembered against replays."})

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if not (isinstance(self.confidence_threshold, (int, float)) and 0.0 <= self.confidence_threshold <= 1.0):
            raise ValueError(f"confidence_threshold must be in [0, 1], got {self.confidence_threshold!r}")
        if int(self.dedup_window) < 1:
            raise ValueError(f"dedup_window must be >= 1, got {self.dedup_window}")


@dataclass
class RoutedPlan:
    """The one plan for one command id, and how it was reached."""

    command_id: str
    text: str
    plan: Plan
    decision: str  # stop | local | remote | fallback_local | failed | refused:limits
    reason: str = ""
    latency_s: Dict[str, float] = field(default_factory=dict)
    local: Optional[EngineAnswer] = None
    remote: Optional[RemoteAnswer] = None
    violations: Tuple[str, ...] = ()

    @property
    def route(self) -> str:
        return self.plan.route

    @property
    def refused(self) -> bool:
        """True when no model produced a usable plan (the plan only speaks), as InterpretResult.refused."""
        return self.decision in ("failed", "refused:limits")

    def to_dict(self) -> dict:
        return {"command_id": self.command_id, "text": self.text, "plan": self.plan.to_dict(), "route": self.route,
                "decision": self.decision, "reason": self.reason,
                "latency_s": {k: round(v, 4) for k, v in self.latency_s.items()},
                "remote_model": self.remote.model if self.remote else {}, "violations": list(self.violations)}


def _as_answer(result: Any) -> EngineAnswer:
    """Normalise an engine result (the interpreter's EngineResult, or ours) to EngineAnswer."""
    if isinstance(result, EngineAnswer):
        return result
    plan = getattr(result, "plan", None)
    confidence = getattr(result, "confidence", None)
    if confidence is not None and isinstance(confidence, float) and math.isnan(confidence):
        confidence = None
    return EngineAnswer(plan if isinstance(plan, Plan) else None, str(getattr(result, "raw_text", "") or ""),
                        confidence, str(getattr(result, "error", "") or ("" if isinstance(plan, Plan) else "no plan")))


def default_stop_detector() -> Callable[[str], bool]:
    """Return the speech gate's stop-word test, so "stop" means the same thing everywhere."""
    from ..speech.gate import is_stop_utterance

    return is_stop_utterance


class OffloadRouter:
    """Route each command to the detached engine, the offload server, or both, under one policy."""

    def __init__(self, local_engine: Any, client: Optional[OffloadClient], options: Optional[RouterOptions] = None,
                 limits=None, defaults=None, stop_detector: Optional[Callable[[str], bool]] = None):
        self.local_engine = local_engine
        self.client = client
        self.options = options or RouterOptions()
        self.limits = limits
        self.defaults = defaults
        self.is_stop_text = stop_detector or default_stop_detector()
        self._lock = threading.Lock()
        self._routed: "OrderedDict[str, str]" = OrderedDict()
        # One worker: the detached model is not re-entrant, and speculative runs must not pile up.
        self._local_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offload-local")
        self.counts = {"stop": 0, "local": 0, "remote": 0, "fallback_local": 0, "failed": 0, "refused_limits": 0}

    @classmethod
    def create(cls, local_engine: Any, offload: OffloadOptions, options: Optional[RouterOptions] = None,
               **kwargs) -> "OffloadRouter":
        """Build a router and, when ``offload.url`` is set and the policy uses it, a started client."""
        options = options or RouterOptions()
        client = OffloadClient(offload).start() if offload.enabled and options.policy != "local_only" else None
        return cls(local_engine, client, options, **kwargs)

    def close(self) -> None:
        """Stop the client's probes and the local worker."""
        if self.client is not None:
            self.client.close()
        self._local_pool.shutdown(wait=False, cancel_futures=True)

    # -- routing -------------------------------------------------------------------------------------
    def route(self, text: str, command_id: str, is_stop: bool = False) -> RoutedPlan:
        """Return the one plan for this command; raise DuplicateCommand if the id was routed before."""
        started = time.perf_counter()
        with self._lock:
            if command_id in self._routed:
                raise DuplicateCommand(f"command {command_id} was already routed ({self._routed[command_id]})")
            self._routed[command_id] = "pending"
            while len(self._routed) > self.options.dedup_window:
                self._routed.popitem(last=False)
        if is_stop or self.is_stop_text(text):
            routed = RoutedPlan(command_id, text, Plan(route="local", actions=(Stop(),)), "stop", "stop fast path")
        elif self.options.policy == "remote_first":
            routed = self._remote_first(text, command_id)
        else:
            routed = self._escalate(text, command_id)
        routed = self._check_limits(routed)
        routed.latency_s["total"] = time.perf_counter() - started
        with self._lock:
            self._routed[command_id] = routed.decision
            key = "refused_limits" if routed.decision == "refused:limits" else routed.decision
            self.counts[key] = self.counts.get(key, 0) + 1
        logger.info("[%s] %s -> %s (%s%s)", command_id, text[:80], routed.plan.to_json(), routed.decision,
                    f": {routed.reason}" if routed.reason else "")
        return routed

    def _run_local(self, text: str, command_id: str) -> Tuple[EngineAnswer, float]:
        t0 = time.perf_counter()
        try:
            answer = _as_answer(self.local_engine.plan(text, command_id))
        except PlanError as exc:
            answer = EngineAnswer(None, error=f"invalid detached output: {exc}")
        except Exception as exc:  # a broken local model must still leave the robot with an answer
            logger.error("[%s] detached engine failed: %r", command_id, exc)
            answer = EngineAnswer(None, error=f"detached engine error: {exc!r}")
        return answer, time.perf_counter() - t0

    def _local_verdict(self, local: EngineAnswer) -> str:
        """Return '' if the local answer can be acted on, else why it needs the server."""
        if local.plan is None:
            return f"invalid ({local.error})" if local.error else "invalid"
        if local.plan.is_escalation:
            return "[REMOTE]"
        if local.confidence is not None and local.confidence < self.options.confidence_threshold:
            return f"low confidence {local.confidence:.2f}"
        return ""

    def _ask_remote(self, text: str, command_id: str, detached_output: Any, latency: Dict[str, float]):
        if self.client is None or self.options.policy == "local_only":
            return None
        t0 = time.perf_counter()
        pending = self.client.submit(text, command_id, detached_output)
        if pending is None:
            return None
        answer = pending.wait()
        latency["remote"] = time.perf_counter() - t0
        return answer

    def _escalate(self, text: str, command_id: str) -> RoutedPlan:
        latency: Dict[str, float] = {}
        local, latency["detached"] = self._run_local(text, command_id)
        why = self._local_verdict(local)
        if not why:
            return RoutedPlan(command_id, text, local.plan.with_route("local"), "local", latency_s=latency, local=local)
        detached_output = local.raw_text or (local.plan.to_dict() if local.plan else None)
        remote = self._ask_remote(text, command_id, detached_output, latency)
        if remote is not None and remote.ok:
            return RoutedPlan(command_id, text, remote.plan, "remote", f"escalated: {why}", latency, local, remote)
        return self._fallback(text, command_id, local, why, remote, latency)

    def _remote_first(self, text: str, command_id: str) -> RoutedPlan:
        latency: Dict[str, float] = {}
        pending = None
        if self.client is not None and self.client.available():
            t0 = time.perf_counter()
            pending = self.client.submit(text, command_id)
        if pending is None:
            local, latency["detached"] = self._run_local(text, command_id)
            why = self._local_verdict(local)
            if not why:
                return RoutedPlan(command_id, text, local.plan.with_route("local"), "local", "server unavailable",
                                  latency, local)
            return self._fallback(text, command_id, local, why, None, latency)
        speculative = None
        if self.options.speculative_local:
            speculative = self._local_pool.submit(self._run_local, text, command_id)
        remote = pending.wait()
        latency["remote"] = time.perf_counter() - t0
        if remote.ok:
            return RoutedPlan(command_id, text, remote.plan, "remote", latency_s=latency, remote=remote)
        if speculative is not None:
            local, latency["detached"] = speculative.result()
        else:
            local, latency["detached"] = self._run_local(text, command_id)
        why = self._local_verdict(local)
        if not why:
            return RoutedPlan(command_id, text, local.plan.with_route("local"), "fallback_local",
                              f"server failed: {remote.error}", latency, local, remote)
        return self._fallback(text, command_id, local, why, remote, latency)

    def _fallback(self, text: str, command_id: str, local: EngineAnswer, why: str, remote: Optional[RemoteAnswer],
                  latency: Dict[str, float]) -> RoutedPlan:
        if remote is None:
            if self.options.policy == "local_only" or self.client is None:
                server = "offload is off"
            else:
                server = "server unavailable: " + self.client._why_unavailable()
        else:
            server = f"server failed: {remote.error}"
        reason = f"detached {why}; {server}"
        usable = local.plan is not None and not local.plan.is_escalation
        if usable and self.options.fallback_to_low_confidence:
            return RoutedPlan(command_id, text, local.plan.with_route("local"), "fallback_local", reason, latency,
                              local, remote)
        if local.plan is not None and local.plan.is_escalation:
            say = SAY_NEEDS_SERVER
        elif usable:
            say = SAY_UNSURE
        else:
            say = SAY_NOT_UNDERSTOOD
        return RoutedPlan(command_id, text, Plan(route="local", actions=(), say=say), "failed", reason, latency,
                          local, remote)

    def _check_limits(self, routed: RoutedPlan) -> RoutedPlan:
        if self.limits is None or not routed.plan.actions:
            return routed
        from ..safety import MotionDefaults, check_limits

        check = check_limits(routed.plan, self.limits, self.defaults or MotionDefaults())
        routed.violations = tuple(check.violations)
        if check.refused:
            routed.plan = Plan(route=routed.plan.route, actions=(), say=SAY_LIMITS)
            routed.decision, routed.reason = "refused:limits", check.reason
        elif check.violations:
            routed.plan = check.plan
        return routed

    # -- status --------------------------------------------------------------------------------------
    def status(self) -> Dict[str, Any]:
        """Return a JSON-ready snapshot: policy, server reachability, breaker, last RTT and route counts."""
        with self._lock:
            counts = dict(self.counts)
        snapshot: Dict[str, Any] = {"policy": self.options.policy, "enabled": self.client is not None,
                                    "routes": counts}
        if self.client is not None:
            snapshot.update(self.client.status())
        else:
            snapshot.update({"url": "", "reachable": None, "breaker": "n/a", "last_rtt_s": None})
        return snapshot


def diagnostic_fields(status: Dict[str, Any]) -> Tuple[int, str, List[Tuple[str, str]]]:
    """Flatten a status snapshot into (level, message, [(key, value)]) for a DiagnosticStatus."""
    values: List[Tuple[str, str]] = []

    def add(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for key in sorted(obj):
                add(f"{prefix}.{key}" if prefix else str(key), obj[key])
        else:
            values.append((prefix, "" if obj is None else str(obj)))

    add("", status)
    if not status.get("enabled"):
        return DIAG_OK, f"offload off (policy {status.get('policy')}): detached model only", values
    if status.get("reachable") is False or status.get("breaker") == "open":
        return DIAG_WARN, f"offload server unreachable (breaker {status.get('breaker')}): answering on board", values
    if status.get("breaker") == "half_open":
        return DIAG_WARN, "offload server recovering (breaker half-open)", values
    rtt = status.get("last_rtt_s")
    return DIAG_OK, "offload server reachable" + (f", last RTT {rtt * 1000:.0f} ms" if rtt is not None else ""), values


class RemotePlanEngine:
    """The offload server behind the interpreter's ``PlanEngine`` interface (``Interpreter(attached=...)``).

    ``plan`` returns the interpreter's ``EngineResult`` with route "remote", and raises
    ``RuntimeError`` when the server is unavailable or misses the deadline, which the interpreter's
    auto mode turns into a refusal. Repeated command ids raise ``DuplicateCommand``.
    """

    name = "offload"
    route = "remote"

    def __init__(self, client: OffloadClient):
        self.client = client

    def plan(self, text: str, command_id: str = ""):
        """Ask the server for one plan within the client's deadline."""
        from ..interpreter.engine import EngineResult

        if not command_id:
            raise ValueError("offload requests need a command id (it is what makes them at-most-once)")
        t0 = time.perf_counter()
        answer = self.client.request(text, command_id)
        latency = time.perf_counter() - t0
        if answer.status != 200:
            raise RuntimeError(answer.error)
        confidence = float("nan") if answer.confidence is None else float(answer.confidence)
        return EngineResult(answer.plan, answer.raw_text, confidence, latency, self.name, answer.error)
