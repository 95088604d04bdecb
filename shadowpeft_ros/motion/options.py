"""Options of the plan executor, PEFT-style: every field documented, checked in ``__post_init__``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

NEW_PLAN_POLICIES = ("replace", "queue")


@dataclass
class ExecutorOptions:
    """How the motion layer runs plans. The hard limits live in ``safety.SafetyLimits``, not here."""

    rate_hz: float = field(default=20.0, metadata={"range": (1, 200), "help": "Control tick rate, Hz: /cmd_vel is published at this rate."})
    on_new_plan: str = field(default="replace", metadata={
        "help": "A plan arriving while another runs: 'replace' stops the running one, 'queue' runs it afterwards. "
                "A plan containing stop always preempts."})
    max_queued: int = field(default=5, metadata={"range": (0, 100), "help": "Most plans waiting behind the running one (queue policy)."})
    closed_loop: bool = field(default=True, metadata={
        "help": "Close moves and turns on /odom when it is fresh; false forces time-based execution."})
    odom_timeout_s: float = field(default=0.5, metadata={"range": (0.01, 10), 
        "help": "Odometry older than this is stale: a closed-loop action stops and fails."})
    tick_stall_s: float = field(default=0.3, metadata={"range": (0.01, 10), 
        "help": "A gap between control ticks longer than this is a stall: the output is zeroed."})
    position_tolerance_m: float = field(default=0.01, metadata={"range": (0.001, 0.5), "help": "A closed-loop move ends this close to its goal."})
    angle_tolerance_deg: float = field(default=0.5, metadata={"range": (0.05, 20), "help": "A closed-loop turn ends this close to its goal."})
    approach_gain: float = field(default=1.5, metadata={"range": (0.01, 20), 
        "help": "Closed-loop slow-down near the goal: speed = gain x remaining distance (1/s), capped by the action speed."})
    min_speed_mps: float = field(default=0.05, metadata={"range": (0.001, 1), "help": "Slowest approach speed of a closed-loop move."})
    min_turn_rate_dps: float = field(default=6.0, metadata={"range": (0.1, 90), "help": "Slowest approach rate of a closed-loop turn."})
    heading_gain: float = field(default=1.5, metadata={"range": (0.001, 20), "help": "Heading hold during moves, (rad/s) per rad of error."})
    heading_ki: float = field(default=1.0, metadata={"range": (0.001, 20), "help": "Integral gain of the heading hold, (rad/s) per rad s."})
    heading_filter_s: float = field(default=0.4, metadata={"range": (0.001, 10), 
        "help": "Time constant of the heading error the hold acts on, s (a trot rocks the heading every step)."})
    heading_tolerance_deg: float = field(default=1.5, metadata={"range": (0.05, 45), 
        "help": "A closed-loop move that reaches its goal further off its heading than this turns on the spot first."})
    max_align_s: float = field(default=3.0, metadata={"range": (0.01, 30), "help": "Longest such heading alignment at the end of a move, s."})
    max_heading_carry_deg: float = field(default=20.0, metadata={"range": (0.1, 180),
        "help": "A move or turn corrects the heading error left by the plan's earlier actions up to this much; "
                "further off (the dog was pushed), it holds the heading it has."})
    position_hold_gain: float = field(default=1.0, metadata={"range": (0.001, 20), 
        "help": "Sideways and on-the-spot position hold during moves and turns, (m/s) per m of drift."})
    max_correction_mps: float = field(default=0.1, metadata={"range": (0.001, 1), "help": "Largest position-hold correction, m/s."})
    max_heading_correction_dps: float = field(default=15.0, metadata={"range": (0.1, 90), "help": "Largest heading-hold correction, deg/s."})
    posture_duration_s: float = field(default=1.5, metadata={"range": (0.01, 60), 
        "help": "Time a posture takes when the driver reports no posture state (time-based fallback)."})
    trick_duration_s: float = field(default=11.0, metadata={"range": (0.01, 120), 
        "help": "Time a trick takes when the driver reports no posture state (time-based fallback)."})
    posture_timeout_s: float = field(default=15.0, metadata={"range": (0.1, 300), 
        "help": "A posture or trick the driver has not confirmed after this long fails."})
    auto_stand: bool = field(default=True, metadata={"help": "Stand up before a move or turn when sitting or lying."})

    def __post_init__(self):
        if self.on_new_plan not in NEW_PLAN_POLICIES:
            raise ValueError(f"ExecutorOptions.on_new_plan must be one of {NEW_PLAN_POLICIES}, got {self.on_new_plan!r}")
        for name in ("closed_loop", "auto_stand"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ExecutorOptions.{name} must be true or false, got {getattr(self, name)!r}")
        if not (isinstance(self.max_queued, int) and not isinstance(self.max_queued, bool) and self.max_queued >= 0):
            raise ValueError(f"ExecutorOptions.max_queued must be a non-negative integer, got {self.max_queued!r}")
        for name in ("rate_hz", "odom_timeout_s", "tick_stall_s", "position_tolerance_m", "angle_tolerance_deg",
                     "approach_gain", "min_speed_mps", "min_turn_rate_dps", "heading_gain", "heading_ki", "heading_filter_s",
                     "heading_tolerance_deg", "max_align_s", "max_heading_carry_deg",
                     "position_hold_gain",
                     "max_correction_mps", "max_heading_correction_dps", "posture_duration_s", "trick_duration_s",
                     "posture_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
                raise ValueError(f"ExecutorOptions.{name} must be a positive number, got {value!r}")
        if self.tick_stall_s <= 1.0 / self.rate_hz:
            raise ValueError("ExecutorOptions.tick_stall_s must be longer than one tick (1/rate_hz)")
