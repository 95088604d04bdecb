"""The interpreter: utterance in, a validated and limit-checked plan out, via the detached/attached/auto policy.

Nothing leaves ``Interpreter.interpret`` without passing ``plan.parse_plan`` (inside the
compact parser) and ``safety.check_limits``. Whatever fails on the way becomes a plan with
no actions and a spoken reason in ``say``.

Auto policy: ask the detached model first. Act on its plan when it is valid, not an
escalation, and at least ``confidence_threshold`` confident. Otherwise ask the attached
model (in process, or an offload server behind the same ``PlanEngine`` interface). If the
attached model is unavailable or fails too, refuse: a doubtful plan is never executed.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..plan import Plan, Stop
from ..safety import MotionDefaults, SafetyLimits, check_limits
from ..speech.gate import is_stop_utterance
from .engine import EngineResult, PlanEngine

logger = logging.getLogger("shadowpeft_ros")

MODES = ("detached", "attached", "auto")

SAY_EMPTY = "Sorry, I did not hear a command."
SAY_TOO_LONG = "Sorry, that request is too long for me."
SAY_NOT_UNDERSTOOD = "Sorry, I did not understand that."
SAY_UNSURE = "Sorry, I am not sure what you mean. Please say it again."
SAY_NO_REMOTE = "Sorry, I can only answer that when my server is reachable."
SAY_LIMITS = "Sorry, I can't do that safely: it is beyond my limits."



@dataclass
class InterpreterOptions:
    """Settings of the interpreter; the ROS node maps its parameters onto these fields one to one."""

    mode: str = field(default="auto", metadata={"help": "'detached' (robot only), 'attached' (server only) or 'auto'."})
    detached_path: str = field(
        default="", metadata={"help": "Directory written by `shadowpeft export`; empty means the export of "
                                      "adapter_path in the cache, written there on first use."}
    )
    adapter_path: str = field(
        default="models/adapters/shadow", metadata={"help": "Adapter directory for the in-process attached model."}
    )
    backbone: str = field(
        default="", metadata={"help": "Backbone id or path for the attached model ('' = the one it was trained on)."}
    )
    confidence_threshold: float = field(
        # 0.7 maximised exact plans of the auto policy on the dev split (models/adapters/README.md).
        default=0.7,
        metadata={"help": "Below this geometric-mean token probability a detached plan is escalated (auto) "
                          "or refused (detached mode)."},
    )
    max_new_tokens: int = field(default=48, metadata={"help": "Generation budget; an unfinished output is rejected."})
    max_input_chars: int = field(default=400, metadata={"help": "Longer utterances are refused, not truncated."})
    fast_stop: bool = field(default=True, metadata={"help": "Answer a bare 'stop' without running a model."})

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"InterpreterOptions.mode must be one of {MODES}, got {self.mode!r}")
        if not (isinstance(self.confidence_threshold, (int, float)) and 0.0 <= self.confidence_threshold <= 1.0):
            raise ValueError(f"confidence_threshold must be in [0, 1], got {self.confidence_threshold!r}")
        if int(self.max_new_tokens) < 4:
            raise ValueError(f"max_new_tokens must be >= 4, got {self.max_new_tokens!r}")
        if int(self.max_input_chars) < 1:
            raise ValueError(f"max_input_chars must be >= 1, got {self.max_input_chars!r}")
        if self.mode == "attached" and not self.adapter_path:
            raise ValueError("mode 'attached' needs adapter_path")


@dataclass(frozen=True)
class InterpretResult:
    """The outcome of one utterance: the plan to publish and how it was reached."""

    text: str
    command_id: str
    plan: Plan
    decision: str
    latency_s: Dict[str, float]
    raw_text: str = ""
    confidence: float = float("nan")
    reason: str = ""
    violations: Tuple[str, ...] = ()
    engines: Tuple[EngineResult, ...] = ()

    @property
    def route(self) -> str:
        return self.plan.route

    @property
    def refused(self) -> bool:
        return self.decision.startswith("refused")

    def to_dict(self) -> dict:
        return {
            "text": self.text, "command_id": self.command_id, "plan": self.plan.to_dict(), "route": self.route,
            "decision": self.decision, "latency_s": self.latency_s, "raw_text": self.raw_text,
            "confidence": None if math.isnan(self.confidence) else self.confidence,
            "reason": self.reason, "violations": list(self.violations),
        }


def refusal(say: str, route: str = "local") -> Plan:
    """Return a plan that does nothing but speak ``say``."""
    return Plan(route=route, actions=(), say=say)


class Interpreter:
    """Utterance -> safe plan, with engines loaded once (lazily, on first need)."""

    def __init__(self, options: InterpreterOptions = None, limits: SafetyLimits = SafetyLimits(),
                 defaults: MotionDefaults = MotionDefaults(), detached: Optional[PlanEngine] = None,
                 attached: Optional[PlanEngine] = None):
        self.options = options or InterpreterOptions()
        self.limits = limits
        self.defaults = defaults
        self._detached = detached
        self._attached = attached
        self._injected_detached = detached is not None
        self._injected_attached = attached is not None
        self._load_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------- engines

    @property
    def detached(self) -> PlanEngine:
        """Return the detached engine, loading the export on first use (raises FileNotFoundError if missing)."""
        with self._load_lock:
            if self._detached is None:
                from .engine import DetachedEngine

                self._detached = DetachedEngine.from_export(self.detached_dir(), self.options.max_new_tokens)
            return self._detached

    @property
    def attached(self) -> PlanEngine:
        """Return the attached engine, loading backbone and adapter on first use."""
        with self._load_lock:
            if self._attached is None:
                from .engine import AttachedEngine

                self._attached = AttachedEngine.from_adapter(
                    str(resolve_adapter_dir(self.options.adapter_path)), self.options.backbone or None,
                    self.options.max_new_tokens
                )
            return self._attached

    def detached_dir(self) -> str:
        """Return the detached export to load: ``detached_path``, or the cached export of ``adapter_path``."""
        if self.options.detached_path:
            return self.options.detached_path
        return str(ensure_detached_export(self.options.adapter_path, self.options.backbone or None))

    def load(self) -> None:
        """Load the engines the mode needs now (for a lifecycle node's on_configure); auto loads attached lazily."""
        if self.options.mode in ("detached", "auto"):
            self.detached
        if self.options.mode == "attached":
            self.attached

    def close(self) -> None:
        """Drop the engines this interpreter loaded (for a lifecycle node's on_cleanup); injected ones are kept."""
        with self._load_lock:
            if not self._injected_detached:
                self._detached = None
            if not self._injected_attached:
                self._attached = None

    # ---------------------------------------------------------------------------------------- interpret

    def interpret(self, text: str, command_id: str = "") -> InterpretResult:
        """Interpret one utterance into a plan that has passed the schema and the safety limits."""
        started = time.perf_counter()
        latency: Dict[str, float] = {}
        text = "" if text is None else str(text)
        normalised = " ".join(text.split())

        def finish(plan: Plan, decision: str, engine: Optional[EngineResult] = None, reason: str = "",
                   engines: Tuple[EngineResult, ...] = ()) -> InterpretResult:
            violations: Tuple[str, ...] = ()
            if plan.actions:
                t0 = time.perf_counter()
                check = check_limits(plan, self.limits, self.defaults)
                latency["validate"] = time.perf_counter() - t0
                violations = check.violations
                if check.refused:
                    plan, decision, reason = refusal(SAY_LIMITS, plan.route), "refused:limits", check.reason
                elif violations:
                    plan, decision = check.plan, decision + "+clamped"
            latency["total"] = time.perf_counter() - started
            result = InterpretResult(
                text=text, command_id=command_id, plan=plan, decision=decision, latency_s=latency,
                raw_text=engine.raw_text if engine else "", confidence=engine.confidence if engine else float("nan"),
                reason=reason, violations=violations, engines=engines,
            )
            logger.info("[%s] %r -> %s (%s)", command_id, text[:80], plan.to_json(), decision)
            return result

        early = self._check_input(normalised)
        if early is not None:
            return finish(*early)

        mode = self.options.mode
        engines: Tuple[EngineResult, ...] = ()
        if mode in ("detached", "auto"):
            engine = self.detached  # a missing export raises here, naming the file: a setup error, not a request error
            try:
                local = self._run(engine, "detached", text, command_id, latency)
            except Exception as exc:  # noqa: BLE001 - a failing model must turn into a refusal, not a dead node.
                logger.exception("[%s] detached model failed", command_id)
                local = EngineResult(None, "", 0.0, latency.get("detached", 0.0), "detached", f"detached failed: {exc}")
            engines += (local,)
            usable = local.plan is not None and not local.plan.is_escalation
            if mode == "detached":
                if local.plan is None:
                    return finish(refusal(SAY_NOT_UNDERSTOOD), "refused:invalid", local, local.error, engines)
                if local.plan.is_escalation:
                    return finish(refusal(SAY_NO_REMOTE), "refused:needs_remote", local, "detached model escalated", engines)
                if local.confidence < self.options.confidence_threshold:
                    # With no attached model to ask, a doubtful plan is refused rather than executed.
                    return finish(refusal(SAY_UNSURE), "refused:low_confidence", local,
                                  f"confidence {local.confidence:.2f} < {self.options.confidence_threshold}", engines)
                return finish(local.plan, "detached", local, engines=engines)
            if usable and local.confidence >= self.options.confidence_threshold:
                return finish(local.plan, "detached", local, engines=engines)
            why = ("remote_marker" if local.plan is not None else "invalid") if not usable else "low_confidence"
            decision = f"escalated:{why}"
        else:
            decision = "attached"

        try:
            remote = self._run(self.attached, "attached", text, command_id, latency)
        except Exception as exc:  # noqa: BLE001 - an offload server can fail in any way; the robot must answer.
            logger.warning("[%s] attached model unavailable: %s", command_id, exc)
            say = SAY_NO_REMOTE if decision == "escalated:remote_marker" else SAY_UNSURE
            return finish(refusal(say), "refused:attached_unavailable", engines[-1] if engines else None, str(exc), engines)
        engines += (remote,)
        if remote.plan is None:
            return finish(refusal(SAY_NOT_UNDERSTOOD, "remote"), "refused:invalid", remote, remote.error, engines)
        if remote.plan.is_escalation:
            return finish(refusal(SAY_NOT_UNDERSTOOD, "remote"), "refused:attached_escalated", remote,
                          "attached model emitted [REMOTE]", engines)
        return finish(remote.plan.with_route("remote"), decision, remote, engines=engines)

    def _check_input(self, normalised: str):
        """Return (plan, decision[, engine, reason]) when the input is answered without a model, else None."""
        if not normalised:
            return refusal(SAY_EMPTY), "refused:empty", None, "empty utterance"
        if len(normalised) > self.options.max_input_chars:
            # Refuse rather than truncate: the cut-off part could have said "don't".
            return (refusal(SAY_TOO_LONG), "refused:too_long", None,
                    f"{len(normalised)} characters, the limit is {self.options.max_input_chars}")
        # A bare stop skips the model entirely: it must not wait for a forward pass. The speech gate's
        # stop words are the one list (speech/gate.py), here as on the speech node.
        if self.options.fast_stop and is_stop_utterance(normalised):
            return Plan(route="local", actions=(Stop(),)), "fast_stop"
        return None

    def check_input(self, text: str, command_id: str = "") -> Optional[InterpretResult]:
        """Return the result for input answered without any model (empty, too long, a bare stop), else None.

        For callers that route the models themselves (the offload router) but keep these rules.
        """
        normalised = " ".join(("" if text is None else str(text)).split())
        early = self._check_input(normalised)
        if early is None:
            return None
        plan, decision, *rest = early
        reason = rest[1] if len(rest) > 1 else ""
        return InterpretResult(text=text, command_id=command_id, plan=plan, decision=decision, latency_s={},
                               reason=reason)

    @staticmethod
    def _run(engine: PlanEngine, stage: str, text: str, command_id: str, latency: Dict[str, float]) -> EngineResult:
        t0 = time.perf_counter()
        try:
            return engine.plan(text, command_id)
        finally:
            latency[stage] = time.perf_counter() - t0


def resolve_adapter_dir(path: str) -> Path:
    """Return an adapter directory: as given when it exists, else relative to the package's share directory."""
    candidate = Path(path).expanduser()
    if candidate.is_dir() or candidate.is_absolute():
        return candidate
    from ..node_table import package_share

    return package_share() / candidate


def ensure_detached_export(adapter_path: str, backbone: Optional[str] = None) -> Path:
    """Return the cached detached export of a shadow adapter, exporting it once if it is not there yet.

    The cache key is the adapter's content hash, so a retrained adapter gets a fresh export.
    """
    import hashlib

    from .backbone import cache_dir
    from .export import export_detached

    adapter = resolve_adapter_dir(adapter_path)
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"shadow adapter weights not found: {weights} (train one with `shadowpeft train "
                                f"--method shadow`, or pass detached_path from `shadowpeft export`)")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    out = cache_dir() / "detached" / f"{adapter.name}-{digest}"
    from .export import META_FILE

    if not (out / META_FILE).is_file():
        logger.warning("exporting the detached shadow of %s to %s (once; later starts load it directly)", adapter, out)
        # Written aside and renamed, so an interrupted export is never taken for a complete one.
        tmp = out.with_name(out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        export_detached(str(adapter), str(tmp), backbone)
        tmp.rename(out)
    return out


def options_help() -> Dict[str, str]:
    """Return the help text of each option, for ROS parameter descriptors."""
    from dataclasses import fields

    return {f.name: f.metadata.get("help", "") for f in fields(InterpreterOptions)}


def options_to_dict(options: InterpreterOptions) -> dict:
    """Return the options as a plain dict (recorded next to results, faster-whisper style)."""
    return asdict(options)
