"""Inference engines: turn one utterance into compact text, a parsed plan and a confidence.

``PlanEngine`` is the interface the interpreter depends on. Two in-process engines implement it:

- ``DetachedEngine``: the exported shadow alone (no backbone weights), the on-robot model.
- ``AttachedEngine``: backbone + adapter (ShadowPEFT attached, or LoRA/DoRA). The offload
  server runs this one; a robot reaches it through any other ``PlanEngine`` (an HTTP client)
  with the same ``plan`` signature.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Optional, Protocol, runtime_checkable

from ..plan import Plan
from .decoding import MAX_NEW_TOKENS, Decoded, decode_plans, plan_of
from .prompt import MAX_PROMPT_TOKENS

logger = logging.getLogger("shadowpeft_ros")

# Run once when a model loads: the first forward pass pays for lazy allocations (measured on the detached shadow:
# a first command took 0.60 s cold and 0.19 s after this), and a robot's first command must not.
WARMUP_COMMAND = "stop"


def warm_up(engine: "PlanEngine") -> float:
    """Interpret ``WARMUP_COMMAND`` once and return the seconds it took; the answer is thrown away."""
    started = time.perf_counter()
    engine.plan(WARMUP_COMMAND, "warmup")
    return time.perf_counter() - started


@dataclass(frozen=True)
class EngineResult:
    """What one engine made of one utterance. ``plan`` is None when the output did not parse."""

    plan: Optional[Plan]
    raw_text: str = ""
    # Probability of the whole output under the model; None when the engine cannot tell.
    confidence: Optional[float] = None
    latency_s: float = 0.0
    engine: str = ""
    error: str = ""
    new_tokens: int = 0
    # Decoding stopped once the confidence fell below the caller's floor: ``raw_text`` is unfinished.
    gave_up: bool = False

    def to_dict(self) -> dict:
        return {
            "plan": self.plan.to_dict() if self.plan is not None else None,
            "raw_text": self.raw_text,
            "confidence": self.confidence,
            "latency_s": self.latency_s,
            "engine": self.engine,
            "error": self.error,
            "new_tokens": self.new_tokens,
            "gave_up": self.gave_up,
        }


@runtime_checkable
class PlanEngine(Protocol):
    """Anything that maps an utterance to an ``EngineResult`` (in-process model or remote client)."""

    name: str
    route: str

    def plan(self, text: str, command_id: str = "") -> EngineResult:
        """Interpret one utterance."""


class CausalLMEngine:
    """Greedy decoding with a causal LM and its tokenizer; subclasses decide how the model is loaded."""

    name = "causal_lm"
    route = "local"
    # ``plan`` accepts ``give_up_below`` (subclasses that decode their own way set this False).
    stops_unsure_early = True

    def __init__(self, model, tokenizer, max_new_tokens: int = MAX_NEW_TOKENS, max_prompt_tokens: int = MAX_PROMPT_TOKENS,
                 use_cache: bool = True):
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.use_cache = use_cache
        # A model is not re-entrant; ROS executors may call from several threads.
        self._lock = threading.Lock()

    def generate(self, text: str):
        """Return (decoded text, confidence, new token count, ended with EOS) for one utterance, decoding greedily.

        Subclasses that prompt differently (the evaluation's few-shot baseline) override this.
        """
        decoded = self._decode(text)
        return decoded.text, decoded.confidence, decoded.new_tokens, decoded.finished

    def _decode(self, text: str, give_up_below: Optional[float] = None) -> Decoded:
        with self._lock:
            return decode_plans(self.model, self.tokenizer, [text], self.max_new_tokens, self.max_prompt_tokens,
                                use_cache=self.use_cache, give_up_below=give_up_below)[0]

    def plan(self, text: str, command_id: str = "", give_up_below: Optional[float] = None) -> EngineResult:
        """Interpret one utterance: generate, then parse strictly; a parse failure is reported, not raised.

        ``give_up_below`` stops decoding once the output's probability is below it (the auto policy's
        threshold: such a plan is escalated whatever follows). The result then has no plan, the
        unfinished text, the confidence it fell to, and ``gave_up`` set.
        """
        started = time.perf_counter()
        if give_up_below is None or not self.stops_unsure_early:
            decoded = Decoded(*self.generate(text))
        else:
            decoded = self._decode(text, give_up_below)
        latency = time.perf_counter() - started
        plan, error = plan_of(decoded, self.route, self.max_new_tokens)
        logger.debug("%s [%s] %r -> %r (p=%.2f, %.3f s)", self.name, command_id, text, decoded.text, decoded.confidence,
                     latency)
        return EngineResult(plan, decoded.text, decoded.confidence, latency, self.name, error, decoded.new_tokens,
                            decoded.gave_up)


class DetachedEngine(CausalLMEngine):
    """The exported shadow model alone: runs on the robot with no backbone weights present."""

    name = "detached"
    route = "local"

    @classmethod
    def from_export(cls, export_dir: str, max_new_tokens: int = MAX_NEW_TOKENS) -> "DetachedEngine":
        """Load an export written by ``shadowpeft export``."""
        from .export import load_detached

        model, tokenizer = load_detached(export_dir)
        return cls(model, tokenizer, max_new_tokens=max_new_tokens)


class AttachedEngine(CausalLMEngine):
    """Backbone plus adapter: ShadowPEFT attached, or a LoRA/DoRA baseline."""

    name = "attached"
    route = "remote"

    @classmethod
    def from_adapter(cls, adapter_dir: str, backbone: Optional[str] = None, max_new_tokens: int = MAX_NEW_TOKENS,
                     merge: bool = False) -> "AttachedEngine":
        """Load the backbone named in the adapter's train_config.json (or ``backbone``) and the adapter.

        ``merge`` folds a LoRA/DoRA adapter into the weights: same outputs up to rounding, and DoRA
        no longer recomputes its weight norms at every decoded token. ShadowPEFT cannot merge.
        """
        from .export import load_adapter

        model, tokenizer = load_adapter(adapter_dir, backbone)
        if merge:
            if hasattr(model.base_model, "unload_shadow"):
                raise ValueError("a ShadowPEFT adapter cannot be merged into the backbone; load it with merge=False")
            model = model.merge_and_unload().eval()
        # load_adapter made cached shadow decoding exact (shadow_cache.py), so every method decodes with its KV cache.
        return cls(model, tokenizer, max_new_tokens=max_new_tokens)
