"""ShadowPEFT command interpreter: utterance in, validated command-language-v1 plan out.

Importing this package is cheap (no torch); models load on first use.
"""

from .compact import format_compact, parse_compact
from .engine import AttachedEngine, CausalLMEngine, DetachedEngine, EngineResult, PlanEngine
from .interpreter import MODES, InterpreterOptions, InterpretResult, Interpreter, options_help

__all__ = [
    "AttachedEngine", "CausalLMEngine", "DetachedEngine", "EngineResult", "Interpreter", "InterpreterOptions",
    "InterpretResult", "MODES", "PlanEngine", "format_compact", "options_help", "parse_compact",
]
