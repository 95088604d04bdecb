"""What the offload server serves: any engine that maps text to a validated v1 ``Plan``.

The server is generic over the engine. It needs one call, ``plan_batch(texts, command_ids)``,
returning one ``EngineResult`` per text; ``BatchAdapter`` gives that call to any object with the
interpreter's engine interface (``plan(text, command_id) -> result with .plan``), looping when the
engine has no batched call of its own.

Engines built here (``load_engine``):

- ``generate``: a Hugging Face causal LM plus an optional PEFT adapter (ShadowPEFT attached, LoRA
  or DoRA alike), batched greedy decoding of the compact plan form. This is what serves the
  attached model (backbone + shadow) on a workstation.
- ``attached``: the interpreter's own ``AttachedEngine`` (one request per forward pass), for
  answers identical to ``shadowpeft interpret --mode attached``.
- ``module:callable``: anything importable that returns an engine (e.g. the interpreter's own
  attached engine), so the server follows the interpreter without edits here.
- ``test-echo``: a TEST ENGINE, for server-behaviour tests that are not about a model (auth,
  limits, queue, breaker, deadlines, kill/restart). It reads the request text itself as the
  compact plan form ("move forward 2 ; sit") through the real parser, with an optional artificial
  delay per batch. It never guesses: text that is not a compact plan is an invalid output.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from ..interpreter.decoding import MAX_NEW_TOKENS
from ..interpreter.engine import EngineResult
from ..plan import Plan, PlanError

logger = logging.getLogger("shadowpeft_ros")

ENGINE_KINDS = ("generate", "attached", "test-echo")
# The robot's detached shadow is cut from this adapter, so its attached model is the one to serve.
SHIPPED_ADAPTER = "models/adapters/shadow"


@dataclass
class EngineOptions:
    """Which engine the server hosts and how it is loaded."""

    engine: str = field(default="generate", metadata={
        "help": "Engine kind: 'generate' (HF causal LM + optional PEFT adapter, batched), 'attached' (the "
                "interpreter's AttachedEngine, unbatched), 'test-echo' (TEST ENGINE: reads the text as a compact "
                "plan), or 'package.module:factory' returning an engine."})
    backbone: str = field(default="", metadata={
        "help": "generate: backbone id or directory; empty means the adapter's own backbone (or SmolLM2-135M)."})
    adapter: Optional[str] = field(default=SHIPPED_ADAPTER, metadata={
        "help": "generate/attached: PEFT adapter directory (shadow, LoRA or DoRA); the default is the shipped shadow "
                "adapter, the model the robot expects; 'none' serves the bare backbone."})
    max_new_tokens: int = field(default=MAX_NEW_TOKENS, metadata={"help": "generate: longest compact plan, in tokens."})
    max_prompt_tokens: int = field(default=64, metadata={"help": "generate: longer prompts are cut to this."})
    torch_threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)."})
    kv_cache: str = field(default="auto", metadata={
        "help": "generate: 'on', 'off', or 'auto' (on: cached ShadowPEFT decoding is made exact at load time, "
                "see interpreter/shadow_cache.py; 'off' decodes uncached, for comparisons)."})
    merge: str = field(default="auto", metadata={
        "help": "generate: fold a LoRA or DoRA adapter into the backbone's weights at load ('auto' or 'on'), so "
                "serving costs one plain forward pass; 'off' serves it unmerged. ShadowPEFT cannot be merged (its "
                "shadow is a network of its own), so 'auto' leaves it as it is and 'on' refuses it."})
    test_delay_s: float = field(default=0.0, metadata={
        "help": "test-echo only: artificial seconds per batch, standing in for a forward pass."})

    def __post_init__(self):
        if self.engine not in ENGINE_KINDS and ":" not in self.engine:
            raise ValueError(f"engine must be one of {ENGINE_KINDS} or 'module:factory', got {self.engine!r}")
        if self.max_new_tokens < 1 or self.max_prompt_tokens < 8:
            raise ValueError("max_new_tokens must be >= 1 and max_prompt_tokens >= 8")
        if not (self.test_delay_s >= 0 and math.isfinite(self.test_delay_s)):
            raise ValueError(f"test_delay_s must be >= 0, got {self.test_delay_s}")
        if self.adapter in ("", "none"):
            self.adapter = None
        if self.kv_cache not in ("auto", "on", "off"):
            raise ValueError(f"kv_cache must be 'auto', 'on' or 'off', got {self.kv_cache!r}")
        if self.merge not in ("auto", "on", "off"):
            raise ValueError(f"merge must be 'auto', 'on' or 'off', got {self.merge!r}")


class CompactEchoTestEngine:
    """TEST ENGINE: parse the request text as the compact plan form, after ``delay_s`` per batch."""

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.model_info = {"engine": "test-echo", "model": "none (test engine)", "adapter": "none"}

    def plan_batch(self, texts: Sequence[str], command_ids: Sequence[str]) -> List[EngineResult]:
        """Return one answer per text; text that is not a compact plan is an invalid output."""
        from ..interpreter.compact import parse_compact

        if self.delay_s:
            time.sleep(self.delay_s)
        answers = []
        for text in texts:
            try:
                answers.append(EngineResult(parse_compact(text, route="remote"), raw_text=text, confidence=1.0))
            except PlanError as exc:
                answers.append(EngineResult(None, raw_text=text, error=str(exc)))
        return answers

    def plan(self, text: str, command_id: str = "") -> EngineResult:
        """Return the answer for one text."""
        return self.plan_batch([text], [command_id])[0]


class GenerateEngine:
    """A causal LM with an optional PEFT adapter, decoding compact plans for a batch in one ``generate``."""

    def __init__(self, model, tokenizer, model_info: Optional[Dict[str, str]] = None, max_new_tokens: int = MAX_NEW_TOKENS,
                 max_prompt_tokens: int = 64, use_cache: bool = True):
        self.model = model.eval()
        self.use_cache = use_cache
        self.tokenizer = tokenizer
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_new_tokens = max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.model_info = dict(model_info or {"engine": "generate"})

    @classmethod
    def load(cls, backbone: str = "", adapter: Optional[str] = None, kv_cache: str = "auto", merge: str = "auto",
             **kwargs) -> "GenerateEngine":
        """Load a PEFT adapter with its backbone (or ``backbone`` alone); the adapter's type decides the method."""
        from pathlib import Path

        info = {"engine": "generate", "backbone": backbone, "adapter": adapter or "none", "method": "none"}
        if adapter:
            from peft import PeftConfig

            from ..interpreter.export import load_adapter
            from ..interpreter.interpreter import resolve_adapter_dir

            adapter = str(resolve_adapter_dir(adapter))

            # The interpreter's loader: it names the missing file and how to make it, and finds the backbone
            # the adapter was trained on when none is given.
            model, tokenizer = load_adapter(adapter, backbone or None)
            config = PeftConfig.from_pretrained(adapter)
            method = adapter_method(config)
            info.update(method=method, peft_version=str(getattr(config, "peft_version", "") or ""),
                        adapter_version=_adapter_version(Path(adapter)),
                        backbone=backbone or str(config.base_model_name_or_path or ""))
            model = merged_for_serving(model, method, merge)
            info["merged"] = "yes" if not hasattr(model, "peft_config") else "no"
        else:
            from ..interpreter.backbone import DEFAULT_BACKBONE, load_backbone

            model, tokenizer = load_backbone(backbone or DEFAULT_BACKBONE)
            info["backbone"] = backbone or DEFAULT_BACKBONE
        # load_adapter applied enable_exact_shadow_cache, so cached shadow decoding equals the uncached forward.
        use_cache = kv_cache != "off"
        info["kv_cache"] = "on" if use_cache else "off"
        return cls(model, tokenizer, info, use_cache=use_cache, **kwargs)

    def plan_batch(self, texts: Sequence[str], command_ids: Sequence[str]) -> List[EngineResult]:
        """Decode one compact plan per text with greedy search, all texts in one ``generate`` call."""
        from ..interpreter.decoding import decode_plans, plan_of

        answers = []
        for decoded in decode_plans(self.model, self.tokenizer, texts, self.max_new_tokens, self.max_prompt_tokens,
                                    use_cache=self.use_cache):
            plan, why = plan_of(decoded, "remote", self.max_new_tokens)
            if plan is None and decoded.finished:
                why = f"invalid model output: {why}"
            answers.append(EngineResult(plan, decoded.text, decoded.confidence, error=why))
        return answers

    def plan(self, text: str, command_id: str = "") -> EngineResult:
        """Return the answer for one text."""
        return self.plan_batch([text], [command_id])[0]


MERGEABLE = ("lora", "dora")


def adapter_method(config) -> str:
    """Return the method of a PEFT adapter config (a ``PeftConfig`` or its directory): shadow, lora, dora..."""
    if isinstance(config, (str, bytes)) or hasattr(config, "__fspath__"):
        from peft import PeftConfig

        config = PeftConfig.from_pretrained(str(config))
    method = str(getattr(config.peft_type, "value", config.peft_type)).lower()
    return "dora" if getattr(config, "use_dora", False) else method


def merged_for_serving(model, method: str, merge: str):
    """Return ``model`` with a LoRA/DoRA adapter folded into its weights when ``merge`` asks for it.

    Unmerged DoRA recomputes its weight norm on every forward pass (measured: twice LoRA's time per
    forward here), which no server deploying it would accept; merged, both cost what the backbone costs.
    """
    if merge == "off":
        return model
    if method not in MERGEABLE:
        if merge == "on":
            raise ValueError(f"merge 'on' needs a LoRA or DoRA adapter; this one is {method!r}, which cannot be "
                             "merged (use merge 'auto' or 'off')")
        return model
    return model.merge_and_unload()


def _adapter_version(directory) -> str:
    """Return a short content hash of the adapter weights, so answers name the exact adapter that made them."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(directory.glob("adapter_model.*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class BatchAdapter:
    """Give any engine the server's batched call and normalise what it returns to ``EngineResult``."""

    def __init__(self, engine: Any):
        self.engine = engine
        info = getattr(engine, "model_info", None)
        self.model_info = dict(info) if isinstance(info, dict) else {"engine": type(engine).__name__}

    def plan_batch(self, texts: Sequence[str], command_ids: Sequence[str]) -> List[Any]:
        """Return one EngineResult (or an Exception for that request alone) per text."""
        if hasattr(self.engine, "plan_batch"):
            return [self._normalise(r) for r in self.engine.plan_batch(list(texts), list(command_ids))]
        answers = []
        for text, command_id in zip(texts, command_ids):
            try:
                answers.append(self._normalise(self.engine.plan(text, command_id)))
            except PlanError as exc:
                answers.append(EngineResult(None, error=f"invalid model output: {exc}"))
            except Exception as exc:  # one bad request must not fail its batch-mates
                answers.append(exc)
        return answers

    @staticmethod
    def _normalise(result: Any) -> Any:
        if isinstance(result, (EngineResult, Exception)):
            return result
        plan = getattr(result, "plan", None)
        raw = str(getattr(result, "raw_text", "") or "")
        confidence = getattr(result, "confidence", None)
        if isinstance(plan, Plan):
            return EngineResult(plan, raw, confidence)
        return EngineResult(None, raw, confidence, error=str(getattr(result, "error", "") or "engine returned no plan"))


def load_engine(options: EngineOptions) -> BatchAdapter:
    """Build the engine the options name, wrapped for the server's batched call."""
    if options.engine == "test-echo":
        logger.warning("serving the TEST ENGINE 'test-echo' (no model): for server tests only")
        return BatchAdapter(CompactEchoTestEngine(options.test_delay_s))
    if options.torch_threads:
        import torch

        torch.set_num_threads(options.torch_threads)
    if options.engine == "generate":
        return BatchAdapter(GenerateEngine.load(options.backbone, options.adapter, kv_cache=options.kv_cache,
                                                merge=options.merge, max_new_tokens=options.max_new_tokens,
                                                max_prompt_tokens=options.max_prompt_tokens))
    if options.engine == "attached":
        from pathlib import Path

        from ..interpreter.engine import AttachedEngine

        if not options.adapter:
            raise ValueError("engine 'attached' needs --adapter (a trained adapter directory)")
        adapted = BatchAdapter(AttachedEngine.from_adapter(options.adapter, options.backbone or None,
                                                           options.max_new_tokens))
        adapted.model_info = {"engine": "attached", "adapter": options.adapter, "backbone": options.backbone,
                              "adapter_version": _adapter_version(Path(options.adapter))}
        return adapted
    module_name, _, attr = options.engine.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import engine factory {options.engine!r}: {exc}") from None
    return BatchAdapter(factory(options))
