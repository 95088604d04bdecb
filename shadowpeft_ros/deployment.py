"""The robot's deployment settings, read from its parameter file (``config/dog.yaml``) without ROS.

The robot's nodes get these values as ROS parameters. ``shadowpeft interpret``, the evaluation
and the benchmarks read the same file through ``Deployment.load``, so that one threshold, one
deadline, one stop-word list and one set of limits decide commands everywhere.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Type, TypeVar

from .params_file import ParamsFileError, load_params_file

T = TypeVar("T")


def options_from(cls: Type[T], params: Mapping[str, Any], prefix: str = "", **overrides: Any) -> T:
    """Build a dataclass of options from flat parameters, as the nodes' ``declare_options`` does from ROS."""
    hints = typing.get_type_hints(cls)
    values: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f"{prefix}{f.name}" not in params:
            continue
        value = params[f"{prefix}{f.name}"]
        if isinstance(value, list):
            value = tuple(value)
        if hints.get(f.name) is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if hints.get(f.name) == Optional[str] and value == "":
            value = None
        values[f.name] = value
    values.update(overrides)
    return cls(**values)


@dataclass
class Deployment:
    """The options of the interpreter node as one parameter file sets them."""

    interpreter: Any
    policy: Any
    handler: Any
    offload: Any
    limits: Any
    defaults: Any
    params_file: str = ""
    speech_params: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, params_file: Optional[str] = None, **policy_overrides: Any) -> "Deployment":
        """Read the interpreter's section (over the ``/**`` one) of ``params_file`` (default: the package's)."""
        from .command_handler import HandlerOptions
        from .interpreter.interpreter import InterpreterOptions
        from .offload.client import OffloadOptions
        from .paths import default_params_file
        from .policy import PolicyOptions
        from .safety import MotionDefaults, SafetyLimits

        path = Path(params_file) if params_file else default_params_file()
        table = load_params_file(path)
        params = {**table.get("/**", {}), **table.get("interpreter", {})}
        try:
            return cls(
                interpreter=options_from(InterpreterOptions, params),
                policy=options_from(PolicyOptions, params, **policy_overrides),
                handler=options_from(HandlerOptions, params),
                offload=options_from(OffloadOptions, params, prefix="offload."),
                limits=options_from(SafetyLimits, params, prefix="limits."),
                defaults=options_from(MotionDefaults, params, prefix="defaults."),
                params_file=str(path),
                speech_params={**table.get("/**", {}), **table.get("speech", {})},
            )
        except (TypeError, ValueError) as exc:
            raise ParamsFileError(f"{path}: {exc}") from None

    def speech(self):
        """Return the speech node's (AsrOptions, SegmenterOptions, GateOptions) from the same file."""
        from .speech.options import AsrOptions, GateOptions, SegmenterOptions

        params = self.speech_params
        gate = {"stop_words": tuple(params["stop_words"])} if "stop_words" in params else {}
        try:
            return (options_from(AsrOptions, params), options_from(SegmenterOptions, params, prefix="vad."),
                    options_from(GateOptions, params, prefix="gate.", **gate))
        except (TypeError, ValueError) as exc:
            raise ParamsFileError(f"{self.params_file}: speech section: {exc}") from None

    def recorded(self) -> dict:
        """Return the settings that decide commands, for reports next to results."""
        asr = self.speech()[0]
        return {"params_file": self.params_file, "policy": dataclasses.asdict(self.policy),
                "deadline_s": self.offload.deadline_s, "limits": dataclasses.asdict(self.limits),
                "speech": {"model": asr.model, "bias": asr.bias, "beam_size": asr.beam_size}}
