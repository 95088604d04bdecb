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

VIOLATION_POLICIES = ("clamp", "refuse")


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
    on_violation: str = field(default="clamp", metadata={"help": "'clamp' values into range, or 'refuse' the plan."})

    def __post_init__(self):
        if self.on_violation not in VIOLATION_POLICIES:
            raise ValueError(f"SafetyLimits.on_violation must be one of {VIOLATION_POLICIES}, got {self.on_violation!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "on_violation":
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"SafetyLimits.{f.name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class LimitCheck:
    """Outcome of checking a plan: the plan to execute (None when refused) and why anything changed."""

    plan: Optional[Plan]
    violations: Tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.plan is None

    @property
    def reason(self) -> str:
        return "; ".join(self.violations)


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
    """Check a parsed plan against the hard limits; clamp or refuse per ``limits.on_violation``.

    Duration and action count are never clamped: a plan too long to finish is refused,
    because cutting it short would execute something other than what was asked.
    """
    violations: List[str] = []
    if len(plan.actions) > limits.max_actions:
        return LimitCheck(None, (f"plan has {len(plan.actions)} actions, the limit is {limits.max_actions}",))

    def bound(value: Optional[float], limit: float, what: str) -> Optional[float]:
        if value is None or value <= limit:
            return value
        violations.append(f"{what} {value:g} is over the limit {limit:g}")
        return limit

    checked = []
    for i, action in enumerate(plan.actions):
        if isinstance(action, Move):
            action = replace(
                action,
                distance_m=bound(action.distance_m, limits.max_distance_m, f"move {i + 1} distance_m"),
                speed_mps=bound(action.speed_mps, limits.max_linear_speed_mps, f"move {i + 1} speed_mps"),
            )
        elif isinstance(action, Turn):
            action = replace(action, angle_deg=bound(action.angle_deg, limits.max_angle_deg, f"turn {i + 1} angle_deg"))
        elif isinstance(action, Wait):
            action = replace(action, duration_s=bound(action.duration_s, limits.max_wait_s, f"wait {i + 1} duration_s"))
        checked.append(action)

    if violations and limits.on_violation == "refuse":
        return LimitCheck(None, tuple(violations))
    result = Plan(route=plan.route, actions=tuple(checked), say=plan.say)
    duration = estimate_duration_s(result, defaults, limits)
    if duration > limits.max_plan_duration_s:
        return LimitCheck(
            None, tuple(violations) + (f"plan would take {duration:.0f} s, the limit is {limits.max_plan_duration_s:g} s",)
        )
    return LimitCheck(result, tuple(violations))


def limits_from_mapping(values: Mapping) -> Tuple[SafetyLimits, MotionDefaults]:
    """Build limits and defaults from a flat parameter mapping (keys as in config/dog.yaml), ignoring others."""
    limit_names = {f.name for f in fields(SafetyLimits)}
    default_names = {f.name for f in fields(MotionDefaults)}
    limits = SafetyLimits(**{k[len("limits."):]: v for k, v in values.items()
                             if k.startswith("limits.") and k[len("limits."):] in limit_names})
    defaults = MotionDefaults(**{k[len("defaults."):]: v for k, v in values.items()
                                 if k.startswith("defaults.") and k[len("defaults."):] in default_names})
    return limits, defaults
