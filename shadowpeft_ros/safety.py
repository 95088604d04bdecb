"""Hard motion limits and defaults, shared by the interpreter (to validate) and the motion node (to enforce).

The interpreter checks a plan against these limits before publishing it; the motion node
checks again before executing, so a plan that arrives from anywhere else (a test, another
robot, a hand-typed message) meets the same wall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import List, Mapping, Optional, Tuple

from .plan import Move, Plan, Turn, Wait

# What each ``limits.on_violation`` policy does with a value over its limit. A wrong distance,
# angle or wait (a misheard or injected "move forward 99") is refused by default: clamping it would
# run the longest move allowed, something nobody asked for. A speed is clamped, as velocity
# smoothers do: the dog still goes where it was asked, only slower.
VIOLATION_POLICY_HELP = {
    "refuse_extent": "refuse a plan whose distance, angle or wait is over its limit; clamp a speed to its limit",
    "clamp": "clamp every value over its limit to the limit",
    "refuse": "refuse a plan with any value over its limit",
}
VIOLATION_POLICIES = tuple(VIOLATION_POLICY_HELP)


@dataclass(frozen=True)
class MotionDefaults:
    """Values for what a plan leaves unsaid ("null" in command language v1)."""

    distance_m: float = field(default=1.0, metadata={"range": (0.01, 100), "help": "Distance of a move whose distance was not said."})
    angle_deg: float = field(default=90.0, metadata={"range": (1, 3600), "help": "Angle of a turn whose angle was not said."})
    speed_mps: float = field(default=0.3, metadata={"range": (0.01, 5), "help": "Normal walking speed."})
    slow_speed_mps: float = field(default=0.15, metadata={"range": (0.01, 5), "help": 'Speed for "slowly".'})
    fast_speed_mps: float = field(default=0.45, metadata={"range": (0.01, 5), "help": 'Speed for "quickly".'})
    turn_rate_dps: float = field(default=40.0, metadata={"range": (1, 360), "help": "Yaw rate of turns, degrees per second."})

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"MotionDefaults.{f.name} must be a positive number, got {value!r}")
        if not self.slow_speed_mps <= self.speed_mps <= self.fast_speed_mps:
            raise ValueError("MotionDefaults needs slow_speed_mps <= speed_mps <= fast_speed_mps")


@dataclass(frozen=True)
class SafetyLimits:
    """Limits that no plan gets past. Defaults sit inside the envelope the MuJoCo dog was measured stable in."""

    max_linear_speed_mps: float = field(default=0.5, metadata={"range": (0.01, 5), "help": "Largest |vx|, |vy| ever published."})
    max_angular_speed_dps: float = field(default=45.0, metadata={"range": (1, 360), "help": "Largest |wz| ever published, deg/s."})
    max_linear_accel_mps2: float = field(default=0.5, metadata={"range": (0.01, 20), "help": "Ramp for linear velocity."})
    max_angular_accel_dps2: float = field(default=90.0, metadata={"range": (1, 1440), "help": "Ramp for angular velocity."})
    max_distance_m: float = field(default=5.0, metadata={"range": (0.01, 100), "help": "Longest single move."})
    max_angle_deg: float = field(default=720.0, metadata={"range": (1, 3600), "help": "Largest single turn."})
    max_wait_s: float = field(default=30.0, metadata={"range": (0.1, 3600), "help": "Longest single wait."})
    max_actions: int = field(default=10, metadata={"range": (1, 100), "help": "Most actions in one plan."})
    max_plan_duration_s: float = field(default=120.0, metadata={"range": (1, 3600), "help": "Longest estimated plan duration."})
    unsafe_speed_mps: float = field(default=2.0, metadata={"range": (0.01, 50), "help": (
        "A speed asked for at or above this is an unsafe request: the plan is refused whatever on_violation "
        "says, never clamped (the command language's refusal policy).")})
    on_violation: str = field(default="refuse_extent", metadata={"help": (
        "What a plan with a value over its limit gets. 'refuse_extent': a distance, angle or wait over its limit "
        "is refused, saying which limit; a speed over its limit is clamped to it. 'clamp': every value is clamped "
        "to its limit. 'refuse': any value over its limit is refused. Too many actions, too long a plan or a "
        "speed at or above unsafe_speed_mps is always refused.")})

    def __post_init__(self):
        if self.on_violation not in VIOLATION_POLICIES:
            choices = "; ".join(f"{name!r} ({what})" for name, what in VIOLATION_POLICY_HELP.items())
            raise ValueError(f"limits.on_violation must be one of: {choices}; got {self.on_violation!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "on_violation":
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"SafetyLimits.{f.name} must be a positive number, got {value!r}")
        if self.unsafe_speed_mps <= self.max_linear_speed_mps:
            raise ValueError(f"SafetyLimits.unsafe_speed_mps ({self.unsafe_speed_mps}) must be above "
                             f"max_linear_speed_mps ({self.max_linear_speed_mps}): a speed the dog may run "
                             f"cannot be an unsafe request")


@dataclass(frozen=True)
class LimitCheck:
    """Outcome of checking a plan: the plan to execute (None when refused), why, and what to tell the person.

    ``violations`` says why a refused plan was refused, or what was clamped in an accepted one. Each
    entry is an English phrase that names the limit ("99 meters is over my 5 meter limit per move"),
    so logs, outcomes and speech can all use it. ``say`` is the sentence for the person: the refusal
    and its reason, or what the dog does instead; empty when the plan is within the limits.
    """

    plan: Optional[Plan]
    violations: Tuple[str, ...] = ()
    say: str = ""

    @property
    def refused(self) -> bool:
        return self.plan is None

    @property
    def reason(self) -> str:
        return "; ".join(self.violations)


def _number(value: float) -> str:
    # Two decimals are what a person says; ".10g" keeps 1000000 from becoming "1e+06".
    return format(round(value, 2), ".10g")


# kind: (unit, plural unit, the limit as a person names it, the verb of what the dog does instead)
_VALUE_WORDS = {
    "distance": ("meter", "meters", "{limit} meter limit per move", "go"),
    "angle": ("degree", "degrees", "{limit} degree limit per turn", "turn"),
    "wait": ("second", "seconds", "{limit} second limit per wait", "wait"),
    "speed": ("meter per second", "meters per second", "speed limit of {limit_amount}", "go at"),
}
_EXTENT_KINDS = ("distance", "angle", "wait")


@dataclass(frozen=True)
class _OverLimit:
    """One value over its limit; ``step`` is 1-based, or 0 when the plan has one action and needs no number."""

    kind: str
    step: int
    value: float
    limit: float

    def _amount(self, value: float) -> str:
        one, many, _, _ = _VALUE_WORDS["speed" if self.kind == "unsafe speed" else self.kind]
        number = _number(value)
        return f"{number} {one if number == '1' else many}"

    def _where(self) -> str:
        return f" in step {self.step}" if self.step else ""

    def _limit_name(self) -> str:
        return _VALUE_WORDS[self.kind][2].format(limit=_number(self.limit), limit_amount=self._amount(self.limit))

    def why(self) -> str:
        if self.kind == "unsafe speed":
            return (f"{self._amount(self.value)}{self._where()} is an unsafe speed; I never go "
                    f"{self._amount(self.limit)} or faster")
        amount = self._amount(self.value)
        if _number(self.value) == _number(self.limit):
            # 5.004 is over a limit of 5, but "5 meters is over my 5 meter limit" would read as a bug.
            amount = f"{self.value:.6g} {_VALUE_WORDS[self.kind][1]}"
        return f"{amount}{self._where()} is over my {self._limit_name()}"

    def instead(self) -> str:
        verb = _VALUE_WORDS[self.kind][3]
        return f"I'll {verb} {self._amount(self.limit)}{self._where()}, not {_number(self.value)}"


def _refusal(reasons: Tuple[str, ...]) -> LimitCheck:
    return LimitCheck(None, reasons, f"I won't do that: {'; '.join(reasons)}.")


def resolve_defaults(plan: Plan, defaults: MotionDefaults) -> Plan:
    """Return the plan with every null filled from config, so the executor sees only numbers."""
    resolved = []
    for action in plan.actions:
        if isinstance(action, Move):
            action = replace(
                action,
                distance_m=defaults.distance_m if action.distance_m is None else action.distance_m,
                speed_mps=defaults.speed_mps if action.speed_mps is None else action.speed_mps,
            )
        elif isinstance(action, Turn) and action.angle_deg is None:
            action = replace(action, angle_deg=defaults.angle_deg)
        resolved.append(action)
    return Plan(route=plan.route, actions=tuple(resolved), say=plan.say)


def estimate_duration_s(plan: Plan, defaults: MotionDefaults, limits: SafetyLimits) -> float:
    """Estimate how long a plan takes, from defaults and the speed limit (postures count 2 s, tricks 4 s)."""
    total = 0.0
    for action in resolve_defaults(plan, defaults).actions:
        if isinstance(action, Move):
            total += action.distance_m / min(action.speed_mps, limits.max_linear_speed_mps)
        elif isinstance(action, Turn):
            total += action.angle_deg / min(defaults.turn_rate_dps, limits.max_angular_speed_dps)
        elif isinstance(action, Wait):
            total += action.duration_s
        elif action.type == "posture":
            total += 2.0
        elif action.type == "trick":
            total += 4.0
    return total


def check_limits(plan: Plan, limits: SafetyLimits, defaults: MotionDefaults = MotionDefaults()) -> LimitCheck:
    """Check a parsed plan against the hard limits; refuse or clamp per ``limits.on_violation``.

    With 'refuse_extent' (the default) a distance, angle or wait over its limit refuses the plan and a
    speed over its limit is clamped; 'clamp' clamps them all; 'refuse' refuses on any of them.
    Duration and action count are never clamped: a plan too long to finish is refused,
    because cutting it short would execute something other than what was asked. Nor is a speed at or
    above ``unsafe_speed_mps``: "race at 5 m/s" is a request to be unsafe, and walking it at the speed
    limit would act on a request the command language says to refuse.
    """
    if len(plan.actions) > limits.max_actions:
        return _refusal((f"a plan of {len(plan.actions)} actions is over my limit of {limits.max_actions} "
                         f"actions per plan",))
    clamped: List[_OverLimit] = []
    refused: List[_OverLimit] = []
    single = len(plan.actions) == 1

    def bound(value: Optional[float], limit: float, kind: str, index: int) -> Optional[float]:
        if value is None or value <= limit:
            return value
        over = _OverLimit(kind, 0 if single else index + 1, value, limit)
        if kind == "speed" and value >= limits.unsafe_speed_mps:
            refused.append(_OverLimit("unsafe speed", over.step, value, limits.unsafe_speed_mps))
            return limit
        clamps = limits.on_violation == "clamp" or (limits.on_violation == "refuse_extent"
                                                    and kind not in _EXTENT_KINDS)
        (clamped if clamps else refused).append(over)
        return limit

    checked = []
    for i, action in enumerate(plan.actions):
        if isinstance(action, Move):
            action = replace(
                action,
                distance_m=bound(action.distance_m, limits.max_distance_m, "distance", i),
                speed_mps=bound(action.speed_mps, limits.max_linear_speed_mps, "speed", i),
            )
        elif isinstance(action, Turn):
            action = replace(action, angle_deg=bound(action.angle_deg, limits.max_angle_deg, "angle", i))
        elif isinstance(action, Wait):
            action = replace(action, duration_s=bound(action.duration_s, limits.max_wait_s, "wait", i))
        checked.append(action)

    if refused:
        return _refusal(tuple(over.why() for over in refused))
    result = Plan(route=plan.route, actions=tuple(checked), say=plan.say)
    duration = estimate_duration_s(result, defaults, limits)
    if duration > limits.max_plan_duration_s:
        return _refusal((f"the plan would take {_number(round(duration))} seconds, over my limit of "
                         f"{_number(limits.max_plan_duration_s)} seconds per plan",))
    if not clamped:
        return LimitCheck(result)
    say = "To keep within my limits, " + "; ".join(over.instead() for over in clamped) + "."
    return LimitCheck(result, tuple(over.why() for over in clamped), say)


def limits_from_mapping(values: Mapping) -> Tuple[SafetyLimits, MotionDefaults]:
    """Build limits and defaults from a flat parameter mapping (keys as in config/dog.yaml), ignoring others."""
    limit_names = {f.name for f in fields(SafetyLimits)}
    default_names = {f.name for f in fields(MotionDefaults)}
    limits = SafetyLimits(**{k[len("limits."):]: v for k, v in values.items()
                             if k.startswith("limits.") and k[len("limits."):] in limit_names})
    defaults = MotionDefaults(**{k[len("defaults."):]: v for k, v in values.items()
                                 if k.startswith("defaults.") and k[len("defaults."):] in default_names})
    return limits, defaults
