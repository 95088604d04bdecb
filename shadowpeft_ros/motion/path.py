"""Dead reckoning: where a plan should take the dog if every move and turn came out exact (ROS-free).

The evaluation scores the simulated final pose against it, and ``shadowpeft dog`` and the plots
draw its waypoints as the commanded path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

from ..geometry import Pose, wrap_deg
from ..plan import Move, Plan, Posture, Trick, Turn
from ..safety import MotionDefaults, resolve_defaults

# Unit vectors (forward, left) of the move directions in the body frame.
_MOVE_AXES = {"forward": (1.0, 0.0), "backward": (-1.0, 0.0), "left": (0.0, 1.0), "right": (0.0, -1.0)}
# A spin is about one turn on the spot (sim/gait.py), not a commanded angle; other tricks keep the heading.
_FREE_HEADING_TRICKS = ("spin",)


@dataclass(frozen=True)
class DeadReckoning:
    """The pose a plan should end in, the poses after each move or turn, and how much walking and turning it takes."""

    pose: Pose
    waypoints: Tuple[Pose, ...]  # the start, then one after each move or turn
    walked_m: float
    turned_deg: float
    # A spin trick turns "about once": its end heading is not commanded, so what follows it is not predictable.
    heading_known: bool = True
    position_known: bool = True


def dead_reckon(plan: Plan, defaults: MotionDefaults = MotionDefaults(), start: Pose = Pose()) -> DeadReckoning:
    """Return where a plan executed perfectly from ``start`` ends, with nulls filled from ``defaults``.

    After a spin the heading is unknown, and so is the position of any move that follows.
    Walking needs the dog on its feet, so a move, turn or trick after "sit" or "lie_down" leaves it
    standing; the final posture is the last posture action only when nothing moved after it.
    """
    x, y, yaw, posture = start.x, start.y, start.yaw_deg, start.posture
    walked = turned = 0.0
    heading_known = position_known = True
    waypoints = [start]
    for action in resolve_defaults(plan, defaults).actions:
        if isinstance(action, Move):
            position_known = position_known and heading_known
            fx, fy = _MOVE_AXES[action.direction]
            heading = math.radians(yaw)
            x += action.distance_m * (fx * math.cos(heading) - fy * math.sin(heading))
            y += action.distance_m * (fx * math.sin(heading) + fy * math.cos(heading))
            walked += action.distance_m
            posture = "stand"
        elif isinstance(action, Turn):
            yaw += action.angle_deg if action.direction == "left" else -action.angle_deg
            turned += action.angle_deg
            posture = "stand"
        elif isinstance(action, Trick):
            heading_known = heading_known and action.name not in _FREE_HEADING_TRICKS
            posture = "stand"
        elif isinstance(action, Posture):
            posture = action.name
        if isinstance(action, (Move, Turn)):
            waypoints.append(Pose(x, y, yaw, posture))
    return DeadReckoning(Pose(x, y, yaw, posture), tuple(waypoints), walked, turned, heading_known, position_known)


def expected_path(plan: Plan, defaults: MotionDefaults = MotionDefaults(),
                  start: Tuple[float, float, float] = (0.0, 0.0, 0.0)) -> List[Tuple[float, float, float]]:
    """Return the waypoints of ``dead_reckon`` as (x, y, yaw in radians), the form of odometry and plots."""
    x, y, yaw = start
    reckoned = dead_reckon(plan, defaults, Pose(x, y, math.degrees(yaw)))
    return [(p.x, p.y, math.radians(wrap_deg(p.yaw_deg))) for p in reckoned.waypoints]
