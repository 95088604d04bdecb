"""Where a plan should take the dog: the ideal path of its moves and turns (for reports, plots and tests)."""

from __future__ import annotations

import math
from typing import List, Tuple

from ..plan import Move, Plan, Turn
from ..safety import MotionDefaults, resolve_defaults

_UNITS = {"forward": (1.0, 0.0), "backward": (-1.0, 0.0), "left": (0.0, 1.0), "right": (0.0, -1.0)}


def expected_path(plan: Plan, defaults: MotionDefaults = MotionDefaults(),
                  start: Tuple[float, float, float] = (0.0, 0.0, 0.0)) -> List[Tuple[float, float, float]]:
    """Return the (x, y, yaw) waypoints a plan commands from ``start``, one after each move or turn."""
    x, y, yaw = start
    path = [(x, y, yaw)]
    for action in resolve_defaults(plan, defaults).actions:
        if isinstance(action, Move):
            ux, uy = _UNITS[action.direction]
            c, s = math.cos(yaw), math.sin(yaw)
            x += (c * ux - s * uy) * action.distance_m
            y += (s * ux + c * uy) * action.distance_m
        elif isinstance(action, Turn):
            sign = 1.0 if action.direction == "left" else -1.0
            yaw = (yaw + sign * math.radians(action.angle_deg) + math.pi) % (2 * math.pi) - math.pi
        else:
            continue
        path.append((x, y, yaw))
    return path
