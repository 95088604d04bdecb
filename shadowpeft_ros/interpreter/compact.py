"""Compact text form of a plan: what the language model reads and writes.

A JSON plan costs 40-60 tokens; CPU training pays for every one of them, so the model
emits a short form instead and ``parse_compact`` turns it into a validated ``Plan``::

    move forward 2 ; turn left 90 ; sit          actions, in order
    move forward _ 0.15                          ``_`` is null; trailing nulls are left out
    wait 3 ; wave ; say: hello there             a final ``say:`` segment carries speech
    say: Paris is the capital of France.        an answer with no actions
    [REMOTE]                                     escalate to the attached model

Grammar (segments are separated by `` ; ``)::

    move DIR [NUM|_ [NUM|_]]   DIR in forward|backward|left|right; distance_m then speed_mps
    turn DIR [NUM|_]           DIR in left|right; angle_deg
    stand | sit | lie_down     posture
    dance | wave | stretch | spin   trick
    stop
    wait NUM                   duration_s
    say: TEXT                  only as the last segment, TEXT without newlines

The parser is strict: any other word, a missing or extra argument, or a malformed number
raises ``PlanError``; the schema checks themselves are delegated to ``plan.parse_plan``.
"""

from __future__ import annotations

import math
import re
from typing import List, Optional

from ..plan import POSTURES, REMOTE_MARKER, TRICKS, Move, Plan, PlanError, Turn, Wait, parse_plan

SEPARATOR = " ; "
NULL = "_"
SAY_PREFIX = "say:"
_NUMBER = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+)$")


def format_number(value: float) -> str:
    """Format a number as the shortest decimal with at most 4 places ("2", "0.9144")."""
    if not math.isfinite(value):
        raise PlanError(f"cannot format non-finite number {value!r}")
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return text or "0"


def _optional(value: Optional[float]) -> str:
    return NULL if value is None else format_number(value)


def _strip_trailing_nulls(words: List[str], keep: int) -> List[str]:
    while len(words) > keep and words[-1] == NULL:
        words.pop()
    return words


def format_compact(plan: Plan) -> str:
    """Return the compact text of a plan; an escalation plan becomes ``[REMOTE]``."""
    if plan.is_escalation:
        return REMOTE_MARKER
    segments = []
    for action in plan.actions:
        if isinstance(action, Move):
            words = ["move", action.direction, _optional(action.distance_m), _optional(action.speed_mps)]
            segments.append(" ".join(_strip_trailing_nulls(words, 2)))
        elif isinstance(action, Turn):
            segments.append(" ".join(_strip_trailing_nulls(["turn", action.direction, _optional(action.angle_deg)], 2)))
        elif isinstance(action, Wait):
            segments.append(f"wait {format_number(action.duration_s)}")
        elif action.type in ("posture", "trick"):
            segments.append(action.name)
        else:
            segments.append(action.type)
    if plan.say:
        say = " ".join(plan.say.split())
        segments.append(f"{SAY_PREFIX} {say}")
    return SEPARATOR.join(segments)


def _parse_number(word: str, where: str, allow_null: bool) -> Optional[float]:
    if word == NULL:
        if allow_null:
            return None
        raise PlanError(f"{where} must be a number, got '_'")
    if not _NUMBER.match(word):
        raise PlanError(f"{where} must be a plain decimal number, got {word!r}")
    return float(word)


def _parse_segment(segment: str, index: int) -> dict:
    where = f"segment {index + 1} {segment!r}"
    words = segment.split(" ")
    if any(not w for w in words):
        raise PlanError(f"{where} has stray spaces")
    head, args = words[0], words[1:]
    if head == "move":
        if not 1 <= len(args) <= 3:
            raise PlanError(f"{where}: move takes a direction and up to two numbers")
        numbers = [_parse_number(w, where, allow_null=True) for w in args[1:]] + [None, None]
        return {"type": "move", "direction": args[0], "distance_m": numbers[0], "speed_mps": numbers[1]}
    if head == "turn":
        if not 1 <= len(args) <= 2:
            raise PlanError(f"{where}: turn takes a direction and at most one angle")
        angle = _parse_number(args[1], where, allow_null=True) if len(args) == 2 else None
        return {"type": "turn", "direction": args[0], "angle_deg": angle}
    if head == "wait":
        if len(args) != 1:
            raise PlanError(f"{where}: wait takes exactly one duration")
        return {"type": "wait", "duration_s": _parse_number(args[0], where, allow_null=False)}
    if args:
        raise PlanError(f"{where}: {head!r} takes no arguments")
    if head in POSTURES:
        return {"type": "posture", "name": head}
    if head in TRICKS:
        return {"type": "trick", "name": head}
    if head == "stop":
        return {"type": "stop"}
    raise PlanError(f"{where}: unknown action {head!r}")


def parse_compact(text: str, route: str = "local") -> Plan:
    """Parse compact text into a validated plan with the given route; raise PlanError if malformed."""
    if not isinstance(text, str):
        raise PlanError(f"compact plan must be text, got {type(text).__name__}")
    text = text.strip()
    if text == REMOTE_MARKER:
        return Plan.escalation()
    if not text:
        raise PlanError("compact plan is empty")
    if "\n" in text:
        raise PlanError("compact plan must be one line")
    say = ""
    body = text
    say_at = text.find(SAY_PREFIX)
    if say_at >= 0:
        if say_at > 0 and not text[:say_at].endswith(SEPARATOR):
            raise PlanError(f"'say:' must start a segment, got {text!r}")
        body = text[: max(0, say_at - len(SEPARATOR))] if say_at > 0 else ""
        say = text[say_at + len(SAY_PREFIX):].strip()
        if not say:
            raise PlanError("'say:' has no text")
    actions = [] if not body else [_parse_segment(s, i) for i, s in enumerate(body.split(SEPARATOR))]
    return parse_plan({"route": route, "actions": actions, "say": say})

