"""Compact text form of a plan: what the language model reads and writes.

A JSON plan costs 40-60 tokens; CPU training pays for every one of them, so the model
emits a short form instead and ``parse_compact`` turns it into a validated ``Plan``::

    move forward 2 m ; turn left 90 ; sit        actions, in order
    move forward 6 ft slow                       a unit as the user said it; a speed word
    move forward _ 0.15                          ``_`` is null; trailing nulls are left out
    wait 3 s ; wave ; say: hello there           a final ``say:`` segment carries speech
    say: Paris is the capital of France.        an answer with no actions
    [REMOTE]                                     escalate to the attached model

Grammar (segments are separated by `` ; ``)::

    move DIR [DIST|_ [SPEED|_]]   DIR in forward|backward|left|right
        DIST  = NUM [m|cm|mm|ft|in|yd]          converted to distance_m (no unit: metres)
        SPEED = NUM [m/s] | slow | fast          speed_mps; the words take MotionDefaults' speeds
    turn DIR [NUM [deg]|_]     DIR in left|right; angle_deg
    stand | sit | lie_down     posture
    dance | wave | stretch | spin   trick
    stop
    wait NUM [s|min]           duration_s (no unit: seconds)
    say: TEXT                  only as the last segment, TEXT without newlines

The model copies numbers and units from the normalised utterance (``normalise.py``); this
parser does the arithmetic, so "6 ft" becomes 1.8288 m here and never in a model. It is
strict: any other word, a missing or extra argument, or a malformed number raises
``PlanError``; the schema checks themselves are delegated to ``plan.parse_plan``.
"""

from __future__ import annotations

import math
import re
from typing import Dict, List, Optional

from ..plan import HELD_ACTIONS, POSTURES, REMOTE_MARKER, TRICKS, Move, Plan, PlanError, Turn, Wait, parse_plan
from ..safety import MotionDefaults
from .normalise import ANGLE_UNIT, DISTANCE_UNITS, DURATION_UNITS, SPEED_UNIT

SEPARATOR = " ; "
NULL = "_"
SAY_PREFIX = "say:"
SPEED_WORDS = ("slow", "fast")
# A plan number as the parser accepts it (no sign, no exponent).
NUMBER = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+)$")


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
            distance = NULL if action.distance_m is None else f"{format_number(action.distance_m)} m"
            words = ["move", action.direction, distance, _optional(action.speed_mps)]
            segments.append(" ".join(_strip_trailing_nulls(words, 2)))
        elif isinstance(action, Turn):
            segments.append(" ".join(_strip_trailing_nulls(["turn", action.direction, _optional(action.angle_deg)], 2)))
        elif isinstance(action, Wait):
            segments.append(f"wait {format_number(action.duration_s)} s")
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
    if not NUMBER.match(word):
        raise PlanError(f"{where} must be a plain decimal number, got {word!r}")
    return float(word)


def _quantity(args: List[str], units: Dict[str, float], where: str, allow_null: bool) -> Optional[float]:
    """Consume NUM [UNIT] (or ``_``) from the front of ``args`` and return it in the base unit."""
    value = _parse_number(args.pop(0), where, allow_null)
    if args and args[0] in units:
        unit = args.pop(0)
        if value is None:
            raise PlanError(f"{where}: a unit needs a number, got '_ {unit}'")
        value = round(value * units[unit], 6)
    return value


def _speed(args: List[str], where: str, defaults: MotionDefaults) -> Optional[float]:
    """Consume SPEED (``slow``, ``fast``, NUM [m/s] or ``_``) from the front of ``args``."""
    word = args.pop(0)
    if word == "slow":
        return defaults.slow_speed_mps
    if word == "fast":
        return defaults.fast_speed_mps
    return _quantity([word] + [args.pop(0) for _ in args[:1] if args[0] == SPEED_UNIT], {SPEED_UNIT: 1.0}, where,
                     allow_null=True)


def _parse_segment(segment: str, index: int, defaults: MotionDefaults) -> dict:
    where = f"segment {index + 1} {segment!r}"
    words = segment.split(" ")
    if any(not w for w in words):
        raise PlanError(f"{where} has stray spaces")
    head, args = words[0], words[1:]
    if head == "move":
        if not args:
            raise PlanError(f"{where}: move takes a direction")
        direction, rest = args[0], args[1:]
        distance = _quantity(rest, DISTANCE_UNITS, where, allow_null=True) if rest else None
        speed = _speed(rest, where, defaults) if rest else None
        if rest:
            raise PlanError(f"{where}: move takes a direction, a distance and a speed, got extra {rest!r}")
        return {"type": "move", "direction": direction, "distance_m": distance, "speed_mps": speed}
    if head == "turn":
        if not args:
            raise PlanError(f"{where}: turn takes a direction")
        direction, rest = args[0], args[1:]
        angle = _quantity(rest, {ANGLE_UNIT: 1.0}, where, allow_null=True) if rest else None
        if rest:
            raise PlanError(f"{where}: turn takes a direction and at most one angle, got extra {rest!r}")
        return {"type": "turn", "direction": direction, "angle_deg": angle}
    if head == "wait":
        if not args:
            raise PlanError(f"{where}: wait takes exactly one duration")
        duration = _quantity(args, DURATION_UNITS, where, allow_null=False)
        if args:
            raise PlanError(f"{where}: wait takes exactly one duration, got extra {args!r}")
        return {"type": "wait", "duration_s": duration}
    if args:
        raise PlanError(f"{where}: {head!r} takes no arguments")
    if head in POSTURES:
        return {"type": "posture", "name": head}
    if head in TRICKS:
        return {"type": "trick", "name": head}
    if head == "stop":
        return {"type": "stop"}
    raise PlanError(f"{where}: unknown action {head!r}")


def parse_compact(text: str, route: str = "local", defaults: MotionDefaults = MotionDefaults()) -> Plan:
    """Parse compact text into a validated plan with the given route; raise PlanError if malformed.

    ``defaults`` gives the speeds of the words ``slow`` and ``fast``.
    """
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
    actions = [] if not body else [_parse_segment(s, i, defaults) for i, s in enumerate(body.split(SEPARATOR))]
    # A held action right after itself is the same plan written once ("stop ; stop" is a stop). Whether the
    # repeat makes the plan doubtful is the decision policy's call (``agreement.repeated_hold``), not the parser's.
    actions = [a for i, a in enumerate(actions)
               if not (i and a == actions[i - 1] and a.get("name", a["type"]) in HELD_ACTIONS)]
    return parse_plan({"route": route, "actions": actions, "say": say})

