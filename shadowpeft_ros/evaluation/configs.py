"""The deployments compared by ``shadowpeft eval``, each built as the robot would run it.

Every configuration ends in the robot's own ``CommandHandler`` and ``Interpreter`` (replay guard,
stop fast path, schema, safety limits, the decision policy), with the policy settings, offload
deadline and limits of the robot's parameter file (config/dog.yaml). Remote models sit behind
the offload server, started as the demo starts it (``offload.local.start_local_server``: a
``shadowpeft serve`` child process on loopback), and are reached over HTTP by the robot's client
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

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ..interpreter.decoding import MAX_NEW_TOKENS

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
    max_new_tokens: int = field(default=MAX_NEW_TOKENS, metadata={"help": "Generation budget of every model."})
    params_file: Optional[str] = field(default=None, metadata={
        "help": "The robot's parameter file: its policy (threshold, stop words), offload deadline and limits decide "
                "every configuration (default: the package's config/dog.yaml)."})

    def __post_init__(self):
        root = Path(self.adapters_dir)
        self.shadow_adapter = self.shadow_adapter or str(root / "shadow")
        self.lora_adapter = self.lora_adapter or str(root / "lora")
        self.dora_adapter = self.dora_adapter or str(root / "dora")
        self.edge_adapter = self.edge_adapter or str(root / "edge-lora")
        if int(self.max_new_tokens) < 4:
            raise ValueError(f"max_new_tokens must be >= 4, got {self.max_new_tokens}")


@dataclass
class Configuration:
    """A ready deployment: its interpreter, what runs where, and what to close afterwards."""

    name: str
    handler: object  # the robot's CommandHandler around this configuration's Interpreter
    info: dict
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


# Which policy mode each configuration deploys.
MODE_OF = {"edge-lora": "detached", "shadow-detached": "detached", "shadow-auto": "auto", "shadow-attached": "attached",
           "cloud-lora": "attached", "cloud-dora": "attached", "base-prompted": "attached"}


def _serve(config: Configuration, engine) -> Tuple[str, str]:
    """Start the offload server as the demo does (a child process on loopback) and return (url, token)."""
    from ..offload.local import start_local_server

    server = start_local_server(engine, ready_timeout_s=600.0)
    config.closers.append(server.stop)
    config.info.update(offload_url=server.url, server_model=server.model)
    return server.url, server.token


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


def open_configuration(name: str, sources: ModelSources, rtt_s: float = 0.0, deployment=None) -> Configuration:
    """Load the models of one configuration (once) and return the robot's command handler over them."""
    from ..command_handler import CommandHandler
    from ..deployment import Deployment
    from ..interpreter.engine import CausalLMEngine, warm_up
    from ..interpreter.export import load_adapter
    from ..interpreter.interpreter import Interpreter, InterpreterOptions
    from ..offload.engine import EngineOptions, adapter_method, merged_for_serving

    if name not in CONFIGURATIONS:
        raise ValueError(f"unknown configuration {name!r}; known are {sorted(CONFIGURATIONS)}")
    deployment = deployment or Deployment.load(sources.params_file)
    policy = dataclasses.replace(deployment.policy, mode=MODE_OF[name])
    config = Configuration(name=name, handler=None, info={"description": CONFIGURATIONS[name], "rtt_s": rtt_s,
                                                          "policy": dataclasses.asdict(policy),
                                                          "deadline_s": deployment.offload.deadline_s})
    detached = None
    served: Optional[EngineOptions] = None
    try:
        if name in ("cloud-lora", "cloud-dora", "shadow-attached"):
            adapter = {"cloud-lora": sources.lora_adapter, "cloud-dora": sources.dora_adapter,
                       "shadow-attached": sources.shadow_adapter}[name]
            model, tokenizer = load_adapter(adapter, sources.backbone)  # in this process only for the probes
            config.info.update(remote_parameters=_params(model), adapter=adapter,
                               trainable_parameters=_trainable(adapter))
            served = EngineOptions(adapter=adapter, backbone=sources.backbone or "",
                                   max_new_tokens=sources.max_new_tokens)
            # The probe times the model as the server serves it: LoRA and DoRA merged, the shadow as it is.
            model = merged_for_serving(model, adapter_method(adapter), served.merge)
            config.info["served_merged"] = not hasattr(model, "peft_config")
            config.probes["remote"] = (model, len(tokenizer))
        elif name == "base-prompted":
            from ..interpreter.backbone import load_backbone

            model, tokenizer = load_backbone(_default_backbone(sources))
            config.info.update(remote_parameters=_params(model), backbone=_default_backbone(sources))
            config.probes["remote"] = (model, len(tokenizer))
            served = EngineOptions(engine=FEW_SHOT_FACTORY, adapter="none", backbone=_default_backbone(sources),
                                   max_new_tokens=sources.max_new_tokens)
        elif name == "shadow-detached":
            detached, params = _detached_engine(sources)
            config.probes["on_board"] = (detached.model, len(detached.tokenizer))
            config.info.update(on_board_parameters=params, adapter=sources.shadow_adapter)
        elif name == "shadow-auto":
            model, tokenizer = load_adapter(sources.shadow_adapter, sources.backbone)
            detached, params = _detached_engine(sources, model, tokenizer)
            config.info.update(on_board_parameters=params, remote_parameters=_params(model),
                               adapter=sources.shadow_adapter)
            served = EngineOptions(adapter=sources.shadow_adapter, backbone=sources.backbone or "",
                                   max_new_tokens=sources.max_new_tokens)
        elif name == "edge-lora":
            from .engines import load_edge_model

            model, tokenizer = load_edge_model(sources.edge_adapter, sources.backbone)
            detached = CausalLMEngine(model, tokenizer, max_new_tokens=sources.max_new_tokens)
            detached.name = "edge-lora"
            config.probes["on_board"] = (model, len(tokenizer))
            config.info.update(on_board_parameters=_params(model), adapter=sources.edge_adapter,
                               trainable_parameters=_trainable(sources.edge_adapter))
        if detached is not None:
            # The robot's Interpreter warms its on-board model when it loads it; this one is built here and
            # handed in, so warm it the same way, or the first on-board case pays a cold start the robot never does.
            config.info["on_board_warm_up_s"] = round(warm_up(detached), 4)
        offload = deployment.offload
        if served is not None:
            url, token = _serve(config, served)
            offload = dataclasses.replace(offload, url=url, token=token, simulated_rtt_s=rtt_s)
        else:
            offload = dataclasses.replace(offload, url="")
        interpreter = Interpreter(InterpreterOptions(max_new_tokens=sources.max_new_tokens), policy,
                                  deployment.limits, deployment.defaults, detached=detached, offload=offload)
        config.closers.append(interpreter.close)
        interpreter.load()
        remote = interpreter.policy.remote
        # The server is ready; wait for the client's probe to say so, so no case meets an 'unknown' server.
        if offload.enabled and remote.wait_until_probed(timeout_s=30.0, until_reachable=True) is not True:
            raise RuntimeError(f"the offload server does not answer the robot's client: {remote.why_unavailable()}")
        config.handler = CommandHandler(interpreter, deployment.handler)
    except BaseException:
        config.close()
        raise
    return config


FEW_SHOT_FACTORY = "shadowpeft_ros.evaluation.engines:few_shot_engine"


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
