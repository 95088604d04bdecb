"""ShadowPEFT command interpreter: utterance in, validated command-language-v1 plan out.

Importing this package is cheap (no torch, no submodule until a name is used); models load on
first use.
"""

import importlib

_EXPORTS = {
    "format_compact": "compact", "parse_compact": "compact",
    "AttachedEngine": "engine", "CausalLMEngine": "engine", "DetachedEngine": "engine", "EngineResult": "engine",
    "PlanEngine": "engine",
    "Interpreter": "interpreter", "InterpreterOptions": "interpreter",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    # Lazy, so that shadowpeft_ros.policy can import interpreter.engine while interpreter.interpreter imports policy.
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
