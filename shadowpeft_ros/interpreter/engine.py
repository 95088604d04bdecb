"""Inference engines: turn one utterance into compact text, a parsed plan and a confidence.

``PlanEngine`` is the interface the interpreter depends on. Two in-process engines implement it:

- ``DetachedEngine``: the exported shadow alone (no backbone weights), the on-robot model.
- ``AttachedEngine``: backbone + adapter (ShadowPEFT attached, or LoRA/DoRA). The offload
  server runs this one; a robot reaches it through any other ``PlanEngine`` (an HTTP client)
  with the same ``plan`` signature.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Optional, Protocol, runtime_checkable

from ..plan import Plan, PlanError
from .compact import parse_compact
from .prompt import MAX_PROMPT_TOKENS, encode_prompt

logger = logging.getLogger("shadowpeft_ros")


@dataclass(frozen=True)
class EngineResult:
    """What one engine made of one utterance. ``plan`` is None when the output did not parse."""

    plan: Optional[Plan]
    raw_text: str
    confidence: float
    latency_s: float
    engine: str = ""
    error: str = ""
    new_tokens: int = 0

    def to_dict(self) -> dict:
        return {
            "plan": self.plan.to_dict() if self.plan is not None else None,
            "raw_text": self.raw_text,
            "confidence": self.confidence,
            "latency_s": self.latency_s,
            "engine": self.engine,
            "error": self.error,
            "new_tokens": self.new_tokens,
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

    def __init__(self, model, tokenizer, max_new_tokens: int = 48, max_prompt_tokens: int = MAX_PROMPT_TOKENS,
                 use_cache: bool = True):
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.use_cache = use_cache
        # A model is not re-entrant; ROS executors may call from several threads.
        self._lock = threading.Lock()

    def generate(self, text: str):
        """Return (decoded text, confidence, new token count, ended with EOS) for one utterance, decoding greedily."""
        import torch

        ids = encode_prompt(self.tokenizer, text, self.max_prompt_tokens)
        input_ids = torch.tensor([ids], dtype=torch.long)
        eos = self.tokenizer.eos_token_id
        with self._lock, torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos,
                output_scores=True,
                return_dict_in_generate=True,
                use_cache=self.use_cache,
            )
        new = out.sequences[0, input_ids.shape[1]:].tolist()
        log_probs = []
        for step, token in enumerate(new):
            log_probs.append(float(torch.log_softmax(out.scores[step][0].float(), dim=-1)[token]))
            if token == eos:
                break
        # Geometric mean of the chosen tokens' probabilities: length-neutral, and one doubtful
        # token (a digit the model hesitated over) still pulls it down noticeably.
        confidence = math.exp(sum(log_probs) / len(log_probs)) if log_probs else 0.0
        finished = eos in new
        if finished:
            new = new[: new.index(eos)]
        decoded = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return decoded, confidence, len(log_probs), finished

    def plan(self, text: str, command_id: str = "") -> EngineResult:
        """Interpret one utterance: generate, then parse strictly; a parse failure is reported, not raised."""
        started = time.perf_counter()
        raw, confidence, n, finished = self.generate(text)
        latency = time.perf_counter() - started
        plan, error = None, ""
        if not finished:
            # Cut off mid-plan, the last number or sentence may be truncated: never treat it as a plan.
            error = f"output did not end within {self.max_new_tokens} new tokens"
        else:
            try:
                plan = parse_compact(raw, route=self.route)
            except PlanError as exc:
                error = str(exc)
        logger.debug("%s [%s] %r -> %r (p=%.2f, %.3f s)", self.name, command_id, text, raw, confidence, latency)
        return EngineResult(plan, raw, confidence, latency, self.name, error, n)


class DetachedEngine(CausalLMEngine):
    """The exported shadow model alone: runs on the robot with no backbone weights present."""

    name = "detached"
    route = "local"

    @classmethod
    def from_export(cls, export_dir: str, max_new_tokens: int = 48) -> "DetachedEngine":
        """Load an export written by ``shadowpeft export``."""
        from .export import load_detached

        model, tokenizer = load_detached(export_dir)
        return cls(model, tokenizer, max_new_tokens=max_new_tokens)


class AttachedEngine(CausalLMEngine):
    """Backbone plus adapter: ShadowPEFT attached, or a LoRA/DoRA baseline."""

    name = "attached"
    route = "remote"

    @classmethod
    def from_adapter(cls, adapter_dir: str, backbone: Optional[str] = None, max_new_tokens: int = 48,
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
        # PEFT 0.21.2's cached shadow decoding departs from the full forward pass the adapter was
        # trained with (measured: other greedy tokens on 1 of 6 dev commands), so decode it uncached.
        is_shadow = hasattr(getattr(model, "base_model", None), "unload_shadow")
        return cls(model, tokenizer, max_new_tokens=max_new_tokens, use_cache=not is_shadow)
