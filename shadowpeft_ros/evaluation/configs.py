"""The deployments compared by ``shadowpeft eval``, each built as the robot would run it.

Every configuration ends in the interpreter's own ``Interpreter`` (schema, safety limits,
stop fast path, auto policy), fed with the engines of that deployment. Remote models sit
behind the offload server (started on loopback in this process) and are reached over HTTP
with the simulated round trip added.

========================  ======================================================================
edge-lora                 on board: the backbone truncated to the shadow's depth + LoRA
cloud-lora                remote: the backbone + LoRA (rank matched to the shadow's size)
cloud-dora                remote: the backbone + DoRA (for the shadow-vs-LoRA-vs-DoRA claim)
shadow-detached           on board: the detached shadow alone; escalations become refusals
shadow-attached           remote: the backbone + shadow
shadow-auto               on board first; [REMOTE], invalid or unsure outputs go to the remote
base-prompted             remote: the bare backbone with a few-shot prompt
========================  ======================================================================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

logger = logging.getLogger("shadowpeft_ros")

CONFIGURATIONS: Dict[str, str] = {
    "edge-lora": "on board: backbone truncated to the shadow's depth, LoRA-adapted",
    "cloud-lora": "offload server: LoRA-adapted backbone",
    "cloud-dora": "offload server: DoRA-adapted backbone",
    "shadow-detached": "on board: detached shadow alone",
    "shadow-attached": "offload server: backbone + shadow (attached)",
    "shadow-auto": "on board detached shadow, escalating to the attached model on the offload server",
    "base-prompted": "offload server: backbone without adapter, few-shot prompt",
}
DEFAULT_CONFIGS = ("edge-lora", "cloud-lora", "shadow-detached", "shadow-attached", "shadow-auto", "base-prompted")


@dataclass
class ModelSources:
    """Where the models of the configurations come from; paths default to the repository's layout."""

    adapters_dir: str = field(default="models/adapters", metadata={
        "help": "Directory holding the trained adapters shadow/, lora/, dora/ and edge-lora/."})
    shadow_adapter: Optional[str] = field(default=None, metadata={"help": "ShadowPEFT adapter (default ADAPTERS/shadow)."})
    lora_adapter: Optional[str] = field(default=None, metadata={"help": "LoRA adapter (default ADAPTERS/lora)."})
    dora_adapter: Optional[str] = field(default=None, metadata={"help": "DoRA adapter (default ADAPTERS/dora)."})
    edge_adapter: Optional[str] = field(default=None, metadata={
        "help": "edge-lora directory: LoRA adapter + edge_config.json (default ADAPTERS/edge-lora)."})
    detached_export: Optional[str] = field(default=None, metadata={
        "help": "Export of `shadowpeft export`; when absent the detached shadow is cut from the shadow adapter."})
    backbone: Optional[str] = field(default=None, metadata={
        "help": "Backbone id or directory; default: the one each adapter was trained on (base-prompted: smollm2-135m)."})
    max_new_tokens: int = field(default=48, metadata={"help": "Generation budget of every model."})
    confidence_threshold: float = field(default=0.6, metadata={"help": "shadow-auto escalates below this confidence."})
    deadline_s: float = field(default=30.0, metadata={
        "help": "Offload deadline per remote call. Long, so that slow CPU inference is measured, not cut off."})

    def __post_init__(self):
        root = Path(self.adapters_dir)
        self.shadow_adapter = self.shadow_adapter or str(root / "shadow")
        self.lora_adapter = self.lora_adapter or str(root / "lora")
        self.dora_adapter = self.dora_adapter or str(root / "dora")
        self.edge_adapter = self.edge_adapter or str(root / "edge-lora")
        if int(self.max_new_tokens) < 4:
            raise ValueError(f"max_new_tokens must be >= 4, got {self.max_new_tokens}")
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ValueError(f"confidence_threshold must be in [0, 1], got {self.confidence_threshold}")


@dataclass
class Configuration:
    """A ready deployment: its interpreter, what runs where, and what to close afterwards."""

    name: str
    interpreter: object
    info: dict
    remote: Optional[object] = None  # the TimedRemoteEngine, for server-side timings
    # Models to time with a fixed forward pass after the cases: role ("on_board"/"remote") -> (model, vocab size)
    probes: Dict[str, tuple] = field(default_factory=dict)
    closers: List[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Stop servers and clients in reverse order of starting."""
        for close in reversed(self.closers):
            try:
                close()
            except Exception as exc:  # closing one part must not keep the others open
                logger.warning("closing %s: %s", self.name, exc)
        self.closers.clear()


def _params(model) -> int:
    from .engines import parameter_count

    return parameter_count(model)


def _default_backbone(sources: ModelSources) -> str:
    from ..interpreter.backbone import DEFAULT_BACKBONE

    return sources.backbone or DEFAULT_BACKBONE


def _serve(config: Configuration, loader: Callable[[], object], rtt_s: float, deadline_s: float):
    """Start an offload server hosting ``loader()``'s engine and return the HTTP engine that reaches it."""
    from .engines import OffloadLoopback, remote_engine

    server = OffloadLoopback(loader)
    url = server.start()
    config.closers.append(server.stop)
    client = remote_engine(url, rtt_s=rtt_s, deadline_s=deadline_s)
    config.closers.append(client.close)
    config.remote = client
    config.info["offload_url"] = url
    return client


def _detached_engine(sources: ModelSources, shadow_model=None, tokenizer=None):
    """Return (engine, parameter count) of the detached shadow: the export if given, else cut from the adapter."""
    from ..interpreter.engine import CausalLMEngine, DetachedEngine
    from .engines import detached_from_adapter

    if sources.detached_export:
        engine = DetachedEngine.from_export(sources.detached_export, sources.max_new_tokens)
        return engine, _params(engine.model)
    if shadow_model is None:
        from ..interpreter.export import load_adapter

        shadow_model, tokenizer = load_adapter(sources.shadow_adapter, sources.backbone)
    detached = detached_from_adapter(shadow_model)
    engine = CausalLMEngine(detached, tokenizer, max_new_tokens=sources.max_new_tokens)
    engine.name = "detached"
    return engine, _params(detached)


def open_configuration(name: str, sources: ModelSources, rtt_s: float = 0.0) -> Configuration:
    """Load the models of one configuration (once) and return its interpreter, ready to run cases."""
    from ..interpreter import interpreter as interp
    from ..interpreter.engine import AttachedEngine, CausalLMEngine
    from ..interpreter.export import load_adapter

    if name not in CONFIGURATIONS:
        raise ValueError(f"unknown configuration {name!r}; known are {sorted(CONFIGURATIONS)}")
    config = Configuration(name=name, interpreter=None, info={"description": CONFIGURATIONS[name], "rtt_s": rtt_s})
    options = dict(max_new_tokens=sources.max_new_tokens, confidence_threshold=sources.confidence_threshold,
                   detached_path=sources.detached_export or "in-memory", adapter_path=sources.shadow_adapter)
    try:
        if name in ("cloud-lora", "cloud-dora", "shadow-attached"):
            adapter = {"cloud-lora": sources.lora_adapter, "cloud-dora": sources.dora_adapter,
                       "shadow-attached": sources.shadow_adapter}[name]
            model, tokenizer = load_adapter(adapter, sources.backbone)
            config.info.update(remote_parameters=_params(model), adapter=adapter,
                               trainable_parameters=_trainable(adapter))
            attached = AttachedEngine(model, tokenizer, max_new_tokens=sources.max_new_tokens)
            config.probes["remote"] = (model, len(tokenizer))
            client = _serve(config, lambda: attached, rtt_s, sources.deadline_s)
            config.interpreter = interp.Interpreter(interp.InterpreterOptions(mode="attached", **options), attached=client)
        elif name == "base-prompted":
            from ..interpreter.backbone import load_backbone
            from .engines import FewShotEngine

            model, tokenizer = load_backbone(_default_backbone(sources))
            model.eval()
            config.info.update(remote_parameters=_params(model), backbone=_default_backbone(sources))
            engine = FewShotEngine(model, tokenizer, max_new_tokens=sources.max_new_tokens)
            config.probes["remote"] = (model, len(tokenizer))
            client = _serve(config, lambda: engine, rtt_s, sources.deadline_s)
            config.interpreter = interp.Interpreter(interp.InterpreterOptions(mode="attached", **options), attached=client)
        elif name == "shadow-detached":
            engine, params = _detached_engine(sources)
            config.probes["on_board"] = (engine.model, len(engine.tokenizer))
            config.info.update(on_board_parameters=params, adapter=sources.shadow_adapter)
            config.interpreter = interp.Interpreter(interp.InterpreterOptions(mode="detached", **options), detached=engine)
        elif name == "shadow-auto":
            model, tokenizer = load_adapter(sources.shadow_adapter, sources.backbone)
            engine, params = _detached_engine(sources, model, tokenizer)
            attached = AttachedEngine(model, tokenizer, max_new_tokens=sources.max_new_tokens)
            config.info.update(on_board_parameters=params, remote_parameters=_params(model),
                               adapter=sources.shadow_adapter)
            client = _serve(config, lambda: attached, rtt_s, sources.deadline_s)
            config.interpreter = interp.Interpreter(interp.InterpreterOptions(mode="auto", **options),
                                                    detached=engine, attached=client)
        elif name == "edge-lora":
            from .engines import load_edge_model

            model, tokenizer = load_edge_model(sources.edge_adapter, sources.backbone)
            engine = CausalLMEngine(model, tokenizer, max_new_tokens=sources.max_new_tokens)
            engine.name = "edge-lora"
            config.probes["on_board"] = (model, len(tokenizer))
            config.info.update(on_board_parameters=_params(model), adapter=sources.edge_adapter,
                               trainable_parameters=_trainable(sources.edge_adapter))
            config.interpreter = interp.Interpreter(interp.InterpreterOptions(mode="detached", **options), detached=engine)
    except BaseException:
        config.close()
        raise
    return config


def _trainable(adapter_dir: str) -> Optional[int]:
    """Return the trainable parameter count recorded by training (metrics.json), when there is one."""
    import json

    path = Path(adapter_dir) / "metrics.json"
    if path.is_file():
        try:
            return int(json.loads(path.read_text()).get("trainable_params"))
        except (ValueError, TypeError):
            return None
    return None
