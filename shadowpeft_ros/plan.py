"""Command language v1: the plan that the interpreter emits and the motion layer executes.

This module owns the schema. Everything that reads or writes a plan goes through
``parse_plan`` and ``Plan.to_dict`` so that nothing unvalidated can reach a motor.
The schema is fixed in ``shared/DESIGN.md``; numbers are checked for type and sign
here, and against the robot's limits in ``shadowpeft_ros.safety``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple, Union

ROUTES = ("local", "remote")
MOVE_DIRECTIONS = ("forward", "backward", "left", "right")
TURN_DIRECTIONS = ("left", "right")
POSTURES = ("stand", "sit", "lie_down")
TRICKS = ("dance", "wave", "stretch", "spin")
ACTION_TYPES = ("move", "turn", "posture", "trick", "stop", "wait")
# Actions that leave the dog in a state (their compact names): done twice in a row, the second does nothing.
# Sitting twice is sitting; spinning twice is two spins.
HELD_ACTIONS = POSTURES + ("stop",)

# The text form a detached model may emit instead of a JSON plan when it escalates.
REMOTE_MARKER = "[REMOTE]"


class PlanError(ValueError):
    """A plan does not conform to command language v1; it must never be executed."""


@dataclass(frozen=True)
class Move:
    direction: str
    distance_m: Optional[float] = None
    speed_mps: Optional[float] = None
    type: str = field(default="move", init=False)


@dataclass(frozen=True)
class Turn:
    direction: str
    angle_deg: Optional[float] = None
    type: str = field(default="turn", init=False)


@dataclass(frozen=True)
class Posture:
    name: str
    type: str = field(default="posture", init=False)


@dataclass(frozen=True)
class Trick:
    name: str
    type: str = field(default="trick", init=False)


@dataclass(frozen=True)
class Stop:
    type: str = field(default="stop", init=False)


@dataclass(frozen=True)
class Wait:
    duration_s: float
    type: str = field(default="wait", init=False)


Action = Union[Move, Turn, Posture, Trick, Stop, Wait]

# Keys each action type must carry, besides "type". Extra keys are an error: a model that
# invents a field ("speed_mps" on a turn, "force": 9) has produced something we do not understand.
ACTION_FIELDS = {
    "move": ("direction", "distance_m", "speed_mps"),
    "turn": ("direction", "angle_deg"),
    "posture": ("name",),
    "trick": ("name",),
    "stop": (),
    "wait": ("duration_s",),
}


@dataclass(frozen=True)
class Plan:
    route: str = "local"
    actions: Tuple[Action, ...] = ()
    say: str = ""

    @classmethod
    def escalation(cls) -> "Plan":
        """Return the plan a detached model emits when it hands a request to the attached model."""
        return cls(route="remote", actions=(), say="")

    @property
    def is_escalation(self) -> bool:
        return self.route == "remote" and not self.actions and not self.say

    @property
    def has_stop(self) -> bool:
        return any(isinstance(a, Stop) for a in self.actions)

    def with_route(self, route: str) -> "Plan":
        if route not in ROUTES:
            raise PlanError(f"route must be one of {ROUTES}, got {route!r}")
        return Plan(route=route, actions=self.actions, say=self.say)

    def to_dict(self) -> dict:
        return {
            "route": self.route,
            "actions": [action_to_dict(a) for a in self.actions],
            "say": self.say,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


def action_to_dict(action: Action) -> dict:
    """Return the v1 JSON object of one action, with "type" first and nulls kept."""
    out = {"type": action.type}
    for key in ACTION_FIELDS[action.type]:
        out[key] = getattr(action, key)
    return out


def _number(value: Any, where: str, *, allow_null: bool, allow_zero: bool = False) -> Optional[float]:
    if value is None:
        if allow_null:
            return None
        raise PlanError(f"{where} must be a number, got null")
    # bool is an int in Python; "true metres" is not a distance.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{where} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise PlanError(f"{where} must be finite, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        raise PlanError(f"{where} must be positive (direction carries the sign), got {value!r}")
    return number


def _choice(value: Any, allowed: Tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise PlanError(f"{where} must be one of {list(allowed)}, got {value!r}")
    return value


def parse_action(obj: Any, index: int = 0) -> Action:
    """Parse one v1 action object, raising PlanError on anything outside the schema."""
    where = f"actions[{index}]"
    if not isinstance(obj, Mapping):
        raise PlanError(f"{where} must be an object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind not in ACTION_FIELDS:
        raise PlanError(f"{where}.type must be one of {list(ACTION_TYPES)}, got {kind!r}")
    allowed = set(ACTION_FIELDS[kind]) | {"type"}
    extra = sorted(set(obj) - allowed)
    if extra:
        raise PlanError(f"{where} ({kind}) has unknown fields {extra}")
    if kind == "move":
        return Move(
            direction=_choice(obj.get("direction"), MOVE_DIRECTIONS, f"{where}.direction"),
            distance_m=_number(obj.get("distance_m"), f"{where}.distance_m", allow_null=True),
            speed_mps=_number(obj.get("speed_mps"), f"{where}.speed_mps", allow_null=True),
        )
    if kind == "turn":
        return Turn(
            direction=_choice(obj.get("direction"), TURN_DIRECTIONS, f"{where}.direction"),
            angle_deg=_number(obj.get("angle_deg"), f"{where}.angle_deg", allow_null=True),
        )
    if kind == "posture":
        return Posture(name=_choice(obj.get("name"), POSTURES, f"{where}.name"))
    if kind == "trick":
        return Trick(name=_choice(obj.get("name"), TRICKS, f"{where}.name"))
    if kind == "stop":
        return Stop()
    return Wait(duration_s=_number(obj.get("duration_s"), f"{where}.duration_s", allow_null=False, allow_zero=True))


def parse_plan(data: Union[str, bytes, Mapping]) -> Plan:
    """Parse and validate a v1 plan from JSON text or a decoded object.

    The text form ``[REMOTE]`` is accepted as the escalation plan. Anything else that is
    not exactly the schema raises ``PlanError`` with the first problem found.
    """
    if isinstance(data, (str, bytes)):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        if text.strip() == REMOTE_MARKER:
            return Plan.escalation()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"plan is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, Mapping):
        raise PlanError(f"plan must be a JSON object, got {type(data).__name__}")
    extra = sorted(set(data) - {"route", "actions", "say"})
    if extra:
        raise PlanError(f"plan has unknown fields {extra}")
    for key in ("route", "actions", "say"):
        if key not in data:
            raise PlanError(f"plan is missing {key!r}")
    route = _choice(data["route"], ROUTES, "route")
    if not isinstance(data["actions"], list):
        raise PlanError(f"actions must be a list, got {type(data['actions']).__name__}")
    say = data["say"]
    if not isinstance(say, str):
        raise PlanError(f"say must be a string, got {type(say).__name__}")
    actions = tuple(parse_action(a, i) for i, a in enumerate(data["actions"]))
    return Plan(route=route, actions=actions, say=say)
