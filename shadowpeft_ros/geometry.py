"""Planar poses in the frame the dog started in, and the angle arithmetic they need (ROS-free).

Axes follow REP 103: x forward, y left, yaw counter-clockwise. Poses carry yaw in degrees,
the unit of plans and reports; odometry arrives as quaternions and radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Pose:
    """Where the dog is and how it stands: x, y in metres, yaw in degrees, and its posture."""

    x: float = 0.0
    y: float = 0.0
    yaw_deg: float = 0.0
    posture: str = "stand"


def wrap_deg(angle: float) -> float:
    """Wrap an angle to (-180, 180] degrees."""
    wrapped = math.fmod(angle + 180.0, 360.0)
    if wrapped <= 0:
        wrapped += 360.0
    return wrapped - 180.0


def relative_pose(start: Pose, end: Pose) -> Pose:
    """Express ``end`` in the frame of ``start`` (so each case is scored from where it began)."""
    heading = math.radians(start.yaw_deg)
    dx, dy = end.x - start.x, end.y - start.y
    return Pose(dx * math.cos(heading) + dy * math.sin(heading), -dx * math.sin(heading) + dy * math.cos(heading),
                wrap_deg(end.yaw_deg - start.yaw_deg), end.posture)


def yaw_from_quaternion(w: float, x: float, y: float, z: float) -> float:
    """Return the heading (rad) of an orientation quaternion."""
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
