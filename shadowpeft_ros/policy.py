"""The one decision policy: an utterance in, one ``Decision`` out, on the robot, in the demo and in the evaluation.

Modes (``PolicyOptions.mode``):

- ``auto`` (default, the paper's deployment): the detached shadow on board answers; the remote
  model is asked only when that answer is ``[REMOTE]``, unparsable, or below
  ``confidence_threshold``. Without a remote model such commands are refused.
- ``detached``: the on-board model only. What it cannot answer confidently is refused.
- ``attached``: the remote model only (a cloud deployment).
- ``remote_first``: the remote model whenever it is available; the on-board model answers when
  it is not, or when it misses the deadline (run while the request is in flight, with
  ``speculative_local``).

The remote model is whatever satisfies ``RemoteModel``: the offload client (HTTP, with the
deadline and the circuit breaker of ``OffloadOptions``) on the robot, in the demo and in the
evaluation, or ``InProcessRemote`` around an in-process attached engine, a debugging option.

Guarantees, whatever the models and the network do:

- A stop (``is_stop`` from the speech node, or the stop words of ``speech.gate``) becomes a stop
  plan at once: no model, no network.
- Empty and over-long utterances are refused before any model runs.
- Every plan with actions has passed the schema (in the compact parser) and
  ``safety.check_limits``, and (``check_quantities``) accounts for the quantities that were said:
  a plan that leaves a said "90 degrees" out or carries a number nobody said is not acted on
  (``interpreter.agreement``), nor is one that drops a side said or writes a held posture twice in a
  row ("stand ; stand": a step said was planned as nothing). A remote plan the attached model itself
  gives a low probability (``remote_confidence_threshold``) is a guess and is not acted on either.
  Whatever fails on the way becomes a plan with no actions and a spoken reason in ``say``: a
  doubtful plan is never executed.
- No remote wait exceeds the client's deadline.

Nothing here imports rclpy.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional, Protocol, Tuple

from .interpreter.agreement import disagreement, missing_side, repeated_hold
from .interpreter.engine import EngineResult, PlanEngine
from .plan import Move, Plan, PlanError, Stop, Trick, Turn, Wait
from .safety import MotionDefaults, SafetyLimits, check_limits
from .speech.gate import STOP_WORDS, is_stop_utterance, stops_said

logger = logging.getLogger("shadowpeft_ros")

MODES = ("auto", "detached", "attached", "remote_first")
# How a verdict names a plan whose numbers disagree with the utterance.
QUANTITIES = "quantities disagree"
# How a verdict names a plan that moves the dog although the user said a stop word.
STOP_SAID = "a stop word was said"
# How a verdict names a plan that leaves out a side ("left", "right") the user said.
SIDES = "a side said is unused"
# How a verdict names a plan that writes a held posture twice in a row (a step said was planned as nothing).
REPEATED = "a step is repeated"

# What the robot says when it does not act. One set of sentences, whichever rule refuses.
SAY_EMPTY = "Sorry, I did not hear a command."
SAY_TOO_LONG = "Sorry, that request is too long for me."
SAY_NOT_UNDERSTOOD = "Sorry, I did not understand that."
SAY_UNSURE = "Sorry, I am not sure what you mean. Please say it again."
SAY_NO_REMOTE = "Sorry, I can only answer that when my server is reachable."
SAY_NOT_A_COMMAND = "Sorry, I am not sure that was a command for me. Please say it again."
SAY_LIMITS = "Sorry, I can't do that safely: it is beyond my limits."
SAY_QUANTITIES = "Sorry, I did not get all the numbers you said. Please say it again."
SAY_STOP_SAID = "I heard you say stop, so I am staying where I am."
SAY_SIDES = "Sorry, I did not get which way you said. Please say it again."
SAY_REPEATED = "Sorry, I did not get every step you said. Please say it again."
# A plan doubted by a check (not merely unsure): the verdict's prefix, the decision it refuses with, and what the
# robot says. Such a plan is wrong, so it is never a low-confidence fallback either.
DOUBTED = {QUANTITIES: ("refused:quantities", SAY_QUANTITIES), STOP_SAID: ("refused:stop_said", SAY_STOP_SAID),
           SIDES: ("refused:sides", SAY_SIDES), REPEATED: ("refused:repeated", SAY_REPEATED)}


@dataclass
class PolicyOptions:
    """How a command is decided; the interpreter node maps its parameters onto these fields one to one."""

    mode: str = field(default="auto", metadata={
        "help": "auto (detached on board, the offload server for [REMOTE], invalid or unsure answers), detached "
                "(on board only), attached (server only) or remote_first (server when reachable)."})
    confidence_threshold: float = field(default=0.8, metadata={
        "range": (0.0, 1.0),
        "help": "A detached plan below this confidence (the model's probability of its whole output) is escalated (auto) or "
                "refused (detached). 0.8 leaves the widest margin to both goals (70 % of commands on board, 95 % of the "
                "plans executed there right), measured for generation 20 on eval/selection.jsonl (its dev curve is not "
                "held out: it trained on the dev phrasings): 78.2 % on board and 98.6 % right at 0.8, 72.7 % and "
                "100 % at 0.9, 80.9 % and 95.8 % at 0.7."})
    remote_confidence_threshold: float = field(default=0.4, metadata={
        "range": (0.0, 1.0),
        "help": "A remote plan with actions below this confidence (the attached model's probability of its output) is "
                "refused, not acted on: a guess. 0.4 from the dev curve (300 examples, generation 4): it refuses 29 of "
                "48 wrong attached plans and 2 of 134 right ones."})
    detached_confidence_threshold: float = field(default=0.3, metadata={
        "range": (0.0, 1.0),
        "help": "Mode detached only: a plan below this confidence is refused. Lower than confidence_threshold because "
                "no server can answer instead: escalating costs latency, refusing costs the command."})
    stop_words: Tuple[str, ...] = field(default=STOP_WORDS, metadata={
        "help": "Words that make an utterance a stop on their own (with filler words around them), no model asked."})
    fast_stop: bool = field(default=True, metadata={"help": "Answer a bare stop without running a model."})
    max_input_chars: int = field(default=400, metadata={
        "range": (1, 100000), "help": "Longer utterances are refused, not truncated."})
    fallback_to_low_confidence: bool = field(default=False, metadata={
        "help": "When the server fails, act on a valid but unsure detached plan instead of refusing."})
    move_on_handed_on: bool = field(default=False, metadata={
        "help": "Act on a plan with actions that the server returns for a request the detached model handed on as not "
                "a command ([REMOTE]). Off: the two models disagree on whether it was a command at all, and the "
                "robot asks again instead of moving."})
    check_quantities: bool = field(default=True, metadata={
        "help": "Do not act on a plan whose numbers disagree with what was said: a quantity said with its unit that no "
                "action uses (a dropped step) or a number nobody said (an invented value). A detached plan is escalated "
                "(auto) or refused (detached); a remote plan is refused."})
    check_sides: bool = field(default=True, metadata={
        "help": "Do not act on a plan that leaves out a side the user said: 'turn right, walk three meters' planned "
                "without the turn. 'right away', 'all right', 'a right angle', 'your left paw' name no side. A detached "
                "plan is escalated (auto) or refused (detached); a remote plan is refused."})
    speculative_local: bool = field(default=True, metadata={
        "help": "remote_first: run the detached model while the remote request is in flight."})
    stop_unsure_early: bool = field(default=True, metadata={
        "help": "auto: stop decoding on board as soon as the detached answer's probability is below "
                "confidence_threshold, and ask the server at once (the answer would be escalated anyway). A [REMOTE] "
                "answer is always decoded to its end. Off when fallback_to_low_confidence is on, which needs the whole "
                "unsure plan."})

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("confidence_threshold", "detached_confidence_threshold", "remote_confidence_threshold"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if isinstance(self.stop_words, str):
            self.stop_words = (self.stop_words,)
        self.stop_words = tuple(w.strip().lower() for w in self.stop_words if w.strip())
        if self.fast_stop and not self.stop_words:
            raise ValueError("fast_stop needs at least one stop word")
        if not (isinstance(self.max_input_chars, int) and self.max_input_chars >= 1):
            raise ValueError(f"max_input_chars must be an integer >= 1, got {self.max_input_chars!r}")


class RemotePending(Protocol):
    def wait(self) -> Any:
        """Return the answer (``ok``, ``plan``, ``error``, ``raw_text``, ``confidence``), within the deadline."""


class RemoteModel(Protocol):
    """The attached model as the policy sees it: the offload client, or an in-process engine for debugging."""

    def available(self) -> bool:
        """Say whether a request would be sent now."""

    def submit(self, text: str, command_id: str, detached_output: Any = None) -> Optional[RemotePending]:
        """Send one command; None when the model is not asked (unreachable, breaker open)."""

    def why_unavailable(self) -> str:
        """Say why ``submit`` would not send."""

    def status(self) -> Dict[str, Any]:
        """Return a JSON-ready snapshot for diagnostics and reports."""

    def close(self) -> None:
        """Release what the remote holds."""


@dataclass(frozen=True)
class InProcessAnswer:
    """What an in-process attached engine answered, in the shape of the offload client's ``RemoteAnswer``."""

    command_id: str
    plan: Optional[Plan] = None
    error: str = ""
    raw_text: str = ""
    confidence: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.plan is not None

    def wait(self) -> "InProcessAnswer":
        return self


class InProcessRemote:
    """DEBUGGING OPTION: the attached model in the robot's own process, behind the ``RemoteModel`` interface.

    The paper's robot reaches its attached model over the network; this runs it here, with no
    deadline, to debug the model without a server.
    """

    def __init__(self, engine: PlanEngine):
        self.engine = engine

    def available(self) -> bool:
        return True

    def submit(self, text: str, command_id: str, detached_output: Any = None) -> InProcessAnswer:
        try:
            result = self.engine.plan(text, command_id)
        except Exception as exc:  # noqa: BLE001 - a failing model must turn into a refusal, not a dead node
            logger.warning("[%s] in-process attached model failed: %r", command_id, exc)
            return InProcessAnswer(command_id, error=f"attached model failed: {exc}")
        plan = result.plan.with_route("remote") if result.plan is not None else None
        return InProcessAnswer(command_id, plan, result.error, result.raw_text, result.confidence)

    def why_unavailable(self) -> str:
        return ""

    def status(self) -> Dict[str, Any]:
        return {"url": "in-process", "reachable": True, "breaker": "n/a", "last_rtt_s": None}

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Decision:
    """The one outcome of one utterance: the plan to publish, where it came from and why.

    ``decision`` is one of: ``stop`` (the stop fast path), ``local`` (the detached plan),
    ``remote`` (the server's plan), ``fallback_local`` (the detached plan after the server
    failed), or ``refused:<why>`` (a plan that only speaks, or only stops: ``refused_plan``). ``escalated`` says the server was
    asked because the detached answer was not good enough.
    """

    text: str
    command_id: str
    plan: Plan
    decision: str
    reason: str = ""
    escalated: bool = False
    latency_s: Dict[str, float] = field(default_factory=dict)
    local: Optional[EngineResult] = None
    remote: Any = None
    violations: Tuple[str, ...] = ()
    options: Dict[str, Any] = field(default_factory=dict)

    @property
    def route(self) -> str:
        return self.plan.route

    @property
    def refused(self) -> bool:
        """True when the robot does not do what was asked: the plan only speaks an apology or a reason."""
        return self.decision.startswith("refused:")

    @property
    def answer(self):
        """The engine answer the plan came from (remote, else local), or None."""
        if self.local is None or (self.remote is not None and self.route == "remote"):
            return self.remote
        return self.local

    @property
    def raw_text(self) -> str:
        answer = self.answer
        return str(getattr(answer, "raw_text", "") or "") if answer is not None else ""

    @property
    def confidence(self) -> Optional[float]:
        answer = self.answer
        return getattr(answer, "confidence", None) if answer is not None else None

    def to_dict(self) -> dict:
        return {"command_id": self.command_id, "text": self.text, "plan": self.plan.to_dict(), "route": self.route,
                "decision": self.decision, "reason": self.reason, "escalated": self.escalated,
                "latency_s": {k: round(v, 4) for k, v in self.latency_s.items()},
                "raw_text": self.raw_text, "confidence": self.confidence,
                "remote_model": dict(getattr(self.remote, "model", {}) or {}),
                "violations": list(self.violations), "options": self.options}


def refusal(say: str, route: str = "local") -> Plan:
    """Return a plan that does nothing but speak ``say``."""
    return Plan(route=route, actions=(), say=say)


def refused_plan(decision: str, say: str, route: str = "local") -> Plan:
    """Return what a refused command sends to the motion node: a stop after a stop word, else nothing to do.

    A plan doubted because a stop word was said ("stay where you are" planned as a dance) becomes a stop:
    the person asked the dog to stay, and a plan without actions would leave a running plan going (the
    motion node ignores plans without actions).
    """
    if decision == DOUBTED[STOP_SAID][0]:
        return Plan(route=route, actions=(Stop(),), say=say)
    return refusal(say, route)


def _acting_text(answer: Any) -> str:
    """Return the compact text of an answer whose plan has actions ('' for none: nothing to check)."""
    plan = getattr(answer, "plan", None)
    raw = str(getattr(answer, "raw_text", "") or "")
    return raw if plan is not None and plan.actions else ""


def quantity_doubt(text: str, answer: Any) -> str:
    """Return why a plan's numbers disagree with the utterance ('' when they agree, or it has no actions)."""
    raw = _acting_text(answer)
    return disagreement(text, raw) if raw else ""


# Tricks that carry the dog around; waving and stretching happen on the spot.
_TRAVELLING_TRICKS = ("spin", "dance")


def stop_doubt(text: str, answer: Any, stop_words: Tuple[str, ...] = STOP_WORDS) -> str:
    """Return why a plan must not run because the user said a stop word ('' when nothing contradicts).

    A plan that walks, turns, spins or dances, with no stop and no wait in it, contradicts an utterance
    holding "stop", "stay", "freeze", "don't move"... (``gate.stops_said``): measured, the attached model
    planned ``dance`` for "Cut it out, stay where you are." Stop words do occur in commands, and then the plan holds a stop or a wait
    ("stay put for two seconds, then turn left", "walk forward and stop"); in 40,000 generated training
    and dev examples no target moves without one. The check never makes a plan; it only keeps one
    from running.
    """
    plan = getattr(answer, "plan", None)
    if plan is None or not plan.actions or any(isinstance(a, (Stop, Wait)) for a in plan.actions):
        return ""
    said = stops_said(text, stop_words)
    moving = [a for a in plan.actions
              if isinstance(a, (Move, Turn)) or (isinstance(a, Trick) and a.name in _TRAVELLING_TRICKS)]
    if not said or not moving:
        return ""
    return f"{said[0]!r} was said and the plan moves ({type(moving[0]).__name__.lower()})"


def side_doubt(text: str, answer: Any) -> str:
    """Return why a plan leaves out a side the utterance names ('' when it uses each, or it has no actions)."""
    raw = _acting_text(answer)
    return missing_side(text, raw) if raw else ""


def repeat_doubt(answer: Any) -> str:
    """Return why a plan that moves the dog repeats a held step ('' when it does not, or it only stops)."""
    raw = _acting_text(answer)
    if not raw or all(isinstance(a, Stop) for a in answer.plan.actions):
        return ""  # "stop ; stop" is a stop: stopping is never a guess that can hurt
    held = repeated_hold(raw)
    return f"{held!r} twice in a row: a step said was planned as nothing" if held else ""


def local_verdict(local: EngineResult, text: str, threshold: float, check_quantities: bool = True,
                  stop_words: Tuple[str, ...] = STOP_WORDS, check_sides: bool = True) -> str:
    """Return '' if a detached answer may be acted on at ``threshold``, else why not.

    The one rule for acting on board: the policy applies it to every command, and the dev report's
    replay of the auto mode and its threshold curve apply it to recorded answers.
    """
    if getattr(local, "gave_up", False):
        return f"low confidence {local.confidence:.2f} < {threshold:g} (decoding stopped there)"
    if local.plan is None:
        return f"invalid ({local.error})" if local.error else "invalid"
    if local.plan.is_escalation:
        return "[REMOTE]"
    if local.confidence is not None and local.confidence < threshold:
        return f"low confidence {local.confidence:.2f} < {threshold:g}"
    stopped = stop_doubt(text, local, stop_words)
    if stopped:
        return f"{STOP_SAID}: {stopped}"
    doubt = quantity_doubt(text, local) if check_quantities else ""
    if doubt:
        return f"{QUANTITIES}: {doubt}"
    doubt = side_doubt(text, local) if check_sides else ""
    if doubt:
        return f"{SIDES}: {doubt}"
    doubt = repeat_doubt(local)
    return f"{REPEATED}: {doubt}" if doubt else ""


class DecisionPolicy:
    """Decide each utterance with the on-board engine, the remote model, or both, under ``PolicyOptions``."""

    def __init__(self, local: Optional[PlanEngine], remote: Optional[RemoteModel], options: Optional[PolicyOptions] = None,
                 limits: Optional[SafetyLimits] = None, defaults: Optional[MotionDefaults] = None,
                 recorded: Optional[Dict[str, Any]] = None):
        self.local = local
        self.remote = remote
        self.options = options or PolicyOptions()
        self.limits = limits or SafetyLimits()
        self.defaults = defaults or MotionDefaults()
        if self.options.mode != "attached" and local is None:
            raise ValueError(f"mode {self.options.mode!r} needs the on-board (detached) engine")
        if self.options.mode == "attached" and remote is None:
            raise ValueError("mode 'attached' needs a remote model: an offload URL (or the in-process debugging option)")
        # Recorded with every decision, so a result says which settings made it.
        self.recorded = {**asdict(self.options), "stop_words": list(self.options.stop_words), **(recorded or {})}
        self._lock = threading.Lock()
        # One worker: the detached model is not re-entrant, and speculative runs must not pile up.
        self._local_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-local")
        # The one count of decisions (by name) and of escalations; diagnostics and reports read them from status().
        self.counts: Dict[str, int] = {}
        self.escalated = 0

    def close(self) -> None:
        """Stop the remote model's client and the local worker."""
        if self.remote is not None:
            self.remote.close()
        self._local_pool.shutdown(wait=False, cancel_futures=True)

    def is_stop(self, text: str) -> bool:
        """Say whether ``text`` is a stop under this policy's stop words."""
        return is_stop_utterance(text, self.options.stop_words)

    # -- deciding ------------------------------------------------------------------------------------

    def decide(self, text: str, command_id: str = "", is_stop: bool = False) -> Decision:
        """Return the one decision for this utterance (never raises for what a model or the network does)."""
        started = time.perf_counter()
        text = "" if text is None else str(text)
        latency: Dict[str, float] = {}
        decision = self._early(text, command_id, is_stop)
        if decision is None:
            decision = self._remote_first(text, command_id, latency) if self.options.mode == "remote_first" \
                else self._escalate(text, command_id, latency)
        decision = self._check_limits(decision, latency)
        latency["total"] = time.perf_counter() - started
        decision = dataclasses.replace(decision, latency_s=latency, options=self.recorded)
        with self._lock:
            self.counts[decision.decision] = self.counts.get(decision.decision, 0) + 1
            self.escalated += int(decision.escalated)
        logger.info("[%s] %r -> %s (%s%s)", command_id, text[:80], decision.plan.to_json(), decision.decision,
                    f": {decision.reason}" if decision.reason else "")
        return decision

    def _early(self, text: str, command_id: str, is_stop: bool) -> Optional[Decision]:
        normalised = " ".join(text.split())
        if is_stop or (self.options.fast_stop and normalised and self.is_stop(normalised)):
            # A stop skips the models entirely: it must not wait for a forward pass or the network.
            return Decision(text, command_id, Plan(route="local", actions=(Stop(),)), "stop", "stop fast path")
        if not normalised:
            return Decision(text, command_id, refusal(SAY_EMPTY), "refused:empty", "empty utterance")
        if len(normalised) > self.options.max_input_chars:
            # Refuse rather than truncate: the cut-off part could have said "don't".
            return Decision(text, command_id, refusal(SAY_TOO_LONG), "refused:too_long",
                            f"{len(normalised)} characters, the limit is {self.options.max_input_chars}")
        return None

    def _give_up_below(self) -> Optional[float]:
        """The confidence below which the on-board decode may stop early (None: decode every answer to its end)."""
        options = self.options
        if options.mode != "auto" or not options.stop_unsure_early or options.fallback_to_low_confidence:
            return None
        return options.confidence_threshold if getattr(self.local, "stops_unsure_early", False) else None

    def _run_local(self, text: str, command_id: str) -> Tuple[EngineResult, float]:
        t0 = time.perf_counter()
        floor = self._give_up_below()
        try:
            result = self.local.plan(text, command_id) if floor is None else \
                self.local.plan(text, command_id, give_up_below=floor)
        except PlanError as exc:
            result = EngineResult(None, error=f"invalid detached output: {exc}")
        except Exception as exc:  # noqa: BLE001 - a broken local model must still leave the robot with an answer
            logger.error("[%s] detached engine failed: %r", command_id, exc)
            result = EngineResult(None, error=f"detached engine failed: {exc!r}")
        return result, time.perf_counter() - t0

    def _quantity_doubt(self, text: str, answer: Any) -> str:
        """Return why a plan's numbers disagree with the utterance's ('' when they agree or the check is off)."""
        return quantity_doubt(text, answer) if self.options.check_quantities else ""

    def _remote_doubt(self, text: str, remote: Any) -> Tuple[str, str]:
        """Return (decision, why) when a remote plan with actions must not be acted on, else ("", "")."""
        confidence = getattr(remote, "confidence", None)
        # Stopping is never a guess that can hurt: a plan that only stops is acted on however unsure.
        moves = any(not isinstance(a, Stop) for a in remote.plan.actions)
        if moves and confidence is not None and confidence < self.options.remote_confidence_threshold:
            return ("refused:remote_low_confidence",
                    f"remote plan {remote.raw_text!r} at confidence {confidence:.2f} < "
                    f"{self.options.remote_confidence_threshold:g}")
        stopped = stop_doubt(text, remote, self.options.stop_words)
        if stopped:
            return "refused:stop_said", f"remote plan {remote.raw_text!r}: {stopped}"
        doubt = self._quantity_doubt(text, remote)
        if doubt:
            return "refused:quantities", f"remote plan {remote.raw_text!r}: {doubt}"
        doubt = side_doubt(text, remote) if self.options.check_sides else ""
        if doubt:
            return "refused:sides", f"remote plan {remote.raw_text!r}: {doubt}"
        doubt = repeat_doubt(remote)
        return ("refused:repeated", f"remote plan {remote.raw_text!r}: {doubt}") if doubt else ("", "")

    def _verdict(self, local: EngineResult, text: str) -> str:
        """Return '' if the detached answer can be acted on, else why it cannot."""
        threshold = self.options.detached_confidence_threshold if self.options.mode == "detached" \
            else self.options.confidence_threshold
        return local_verdict(local, text, threshold, self.options.check_quantities, self.options.stop_words,
                             self.options.check_sides)

    def _ask_remote(self, text: str, command_id: str, detached_output: Any, latency: Dict[str, float]):
        if self.remote is None:
            return None
        t0 = time.perf_counter()
        pending = self.remote.submit(text, command_id, detached_output)
        if pending is None:
            return None
        answer = pending.wait()
        latency["remote"] = time.perf_counter() - t0
        return answer

    def _escalate(self, text: str, command_id: str, latency: Dict[str, float]) -> Decision:
        local = None
        if self.options.mode != "attached":
            local, latency["detached"] = self._run_local(text, command_id)
            why = self._verdict(local, text)
            if not why:
                return Decision(text, command_id, local.plan.with_route("local"), "local", local=local)
            if self.options.mode == "detached":
                return self._refuse_local(text, command_id, local, why, None, "detached mode")
            detached_output = local.raw_text or (local.plan.to_dict() if local.plan else None)
        else:
            why, detached_output = "", None
        remote = self._ask_remote(text, command_id, detached_output, latency)
        escalated = local is not None
        if remote is not None and remote.ok:
            if remote.plan.is_escalation:
                return Decision(text, command_id, refusal(SAY_NOT_UNDERSTOOD, "remote"), "refused:remote_escalated",
                                "the attached model answered [REMOTE]", escalated, local=local, remote=remote)
            handed_on = local is not None and local.plan is not None and local.plan.is_escalation
            if handed_on and remote.plan.actions and not self.options.move_on_handed_on:
                # Measured: the attached model once answered "Got a good book to recommend?" with "sit".
                return Decision(text, command_id, refusal(SAY_NOT_A_COMMAND, "remote"), "refused:disagreement",
                                f"detached handed it on as no command, attached planned {remote.raw_text!r}",
                                escalated, local=local, remote=remote)
            refused, doubt = self._remote_doubt(text, remote)
            if refused:
                say = dict(DOUBTED.values()).get(refused, SAY_UNSURE)
                return Decision(text, command_id, refused_plan(refused, say, "remote"), refused, doubt, escalated,
                                local=local, remote=remote)
            return Decision(text, command_id, remote.plan.with_route("remote"), "remote",
                            f"escalated: {why}" if escalated else "", escalated, local=local, remote=remote)
        if local is None:
            server = self._server_failure(remote)
            say = SAY_NOT_UNDERSTOOD if remote is not None and remote.error.startswith("invalid") else SAY_NO_REMOTE
            return Decision(text, command_id, refusal(say, "remote"), "refused:remote_failed", server, remote=remote)
        return self._refuse_local(text, command_id, local, why, remote, self._server_failure(remote))

    def _remote_first(self, text: str, command_id: str, latency: Dict[str, float]) -> Decision:
        pending = None
        if self.remote is not None and self.remote.available():
            t0 = time.perf_counter()
            pending = self.remote.submit(text, command_id)
        if pending is None:
            local, latency["detached"] = self._run_local(text, command_id)
            why = self._verdict(local, text)
            if not why:
                return Decision(text, command_id, local.plan.with_route("local"), "local", "server unavailable",
                                local=local)
            return self._refuse_local(text, command_id, local, why, None, self._server_failure(None))
        speculative = self._local_pool.submit(self._run_local, text, command_id) \
            if self.options.speculative_local else None
        remote = pending.wait()
        latency["remote"] = time.perf_counter() - t0
        doubt = self._remote_doubt(text, remote)[1] if remote.ok and not remote.plan.is_escalation else ""
        if remote.ok and not remote.plan.is_escalation and not doubt:
            return Decision(text, command_id, remote.plan.with_route("remote"), "remote", remote=remote)
        local, latency["detached"] = speculative.result() if speculative is not None \
            else self._run_local(text, command_id)
        why = self._verdict(local, text)
        failure = (doubt or "the attached model answered [REMOTE]") if remote.ok else self._server_failure(remote)
        if not why:
            return Decision(text, command_id, local.plan.with_route("local"), "fallback_local", failure,
                            local=local, remote=remote)
        return self._refuse_local(text, command_id, local, why, remote, failure)

    def _server_failure(self, remote) -> str:
        if self.remote is None:
            return "no offload server"
        if remote is None:
            return "server unavailable: " + self.remote.why_unavailable()
        return f"server failed: {remote.error}"

    def _refuse_local(self, text: str, command_id: str, local: EngineResult, why: str, remote, server: str) -> Decision:
        """The detached answer cannot be acted on and the server gave nothing better: refuse, saying why."""
        reason = f"detached {why}; {server}"
        # A plan doubted by a check (numbers, a stop word) is wrong, not merely unsure: never a fallback.
        doubted = next((DOUBTED[prefix] for prefix in DOUBTED if why.startswith(prefix)), None)
        usable = local.plan is not None and not local.plan.is_escalation and doubted is None
        escalated = remote is not None
        if usable and self.options.fallback_to_low_confidence and self.options.mode != "detached":
            return Decision(text, command_id, local.plan.with_route("local"), "fallback_local", reason, escalated,
                            local=local, remote=remote)
        if local.plan is not None and local.plan.is_escalation:
            say, decision = SAY_NO_REMOTE, "refused:needs_remote"
        elif usable or getattr(local, "gave_up", False):
            say, decision = SAY_UNSURE, "refused:low_confidence"
        elif doubted is not None:
            decision, say = doubted
        else:
            say, decision = SAY_NOT_UNDERSTOOD, "refused:invalid"
        return Decision(text, command_id, refused_plan(decision, say), decision, reason, escalated, local=local,
                        remote=remote)

    def _check_limits(self, decision: Decision, latency: Dict[str, float]) -> Decision:
        if not decision.plan.actions or decision.decision == "stop":
            return decision
        t0 = time.perf_counter()
        check = check_limits(decision.plan, self.limits, self.defaults)
        latency["validate"] = time.perf_counter() - t0
        if check.refused:
            say = check.say or SAY_LIMITS
            return dataclasses.replace(decision, plan=refusal(say, decision.plan.route), decision="refused:limits",
                            reason=check.reason, violations=tuple(check.violations))
        if check.violations:
            return dataclasses.replace(decision, plan=check.plan, violations=tuple(check.violations))
        return decision

    # -- status --------------------------------------------------------------------------------------

    def status(self) -> Dict[str, Any]:
        """Return a JSON-ready snapshot: mode, threshold, the remote's state and the decision counts."""
        with self._lock:
            counts, escalated = dict(self.counts), self.escalated
        snapshot: Dict[str, Any] = {"mode": self.options.mode, "confidence_threshold": self.options.confidence_threshold,
                                    "enabled": self.remote is not None, "decisions": counts, "escalated": escalated}
        if self.remote is not None:
            snapshot.update(self.remote.status())
        else:
            snapshot.update({"url": "", "reachable": None, "breaker": "n/a", "last_rtt_s": None})
        return snapshot


# Diagnostic levels of diagnostic_msgs/DiagnosticStatus, repeated here so the core never imports ROS.
DIAG_OK, DIAG_WARN, DIAG_ERROR = 0, 1, 2


def status_diagnostic(status: Dict[str, Any]) -> Tuple[int, str, Dict[str, str]]:
    """Flatten a ``DecisionPolicy.status()`` snapshot into (level, message, {key: value}) for a DiagnosticStatus."""
    values: Dict[str, str] = {}

    def add(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for key in sorted(obj):
                add(f"{prefix}.{key}" if prefix else str(key), obj[key])
        else:
            values[prefix] = "" if obj is None else str(obj)

    add("", status)
    mode = status.get("mode")
    if not status.get("enabled"):
        return DIAG_OK, f"no offload server (mode {mode}): detached model only", values
    if status.get("url") == "in-process":
        return DIAG_WARN, f"attached model in this process (a debugging option, mode {mode})", values
    if status.get("reachable") is False or status.get("breaker") == "open":
        return DIAG_WARN, f"offload server unreachable (breaker {status.get('breaker')}): answering on board", values
    if status.get("breaker") == "half_open":
        return DIAG_WARN, "offload server recovering (breaker half-open)", values
    rtt = status.get("last_rtt_s")
    return DIAG_OK, "offload server reachable" + (f", last RTT {rtt * 1000:.0f} ms" if rtt is not None else ""), values
