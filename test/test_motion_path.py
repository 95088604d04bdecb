"""Dead reckoning of plans (motion/path.py) and the planar pose arithmetic it uses (geometry.py)."""

import math

import pytest

from shadowpeft_ros.geometry import Pose, relative_pose, wrap_deg, yaw_from_quaternion
from shadowpeft_ros.motion.path import dead_reckon, expected_path
from shadowpeft_ros.plan import parse_plan

SQUARE_AND_SIT = parse_plan({"route": "local", "say": "", "actions": [
    {"type": "move", "direction": "forward", "distance_m": 1.5, "speed_mps": None},
    {"type": "turn", "direction": "right", "angle_deg": 90},
    {"type": "move", "direction": "forward", "distance_m": 1.5, "speed_mps": None},
    {"type": "move", "direction": "left", "distance_m": None, "speed_mps": None},
    {"type": "posture", "name": "sit"}]})


def test_dead_reckoning_follows_the_plan_in_the_body_frame():
    reckoned = dead_reckon(SQUARE_AND_SIT)
    assert reckoned.pose.x == pytest.approx(2.5)
    assert reckoned.pose.y == pytest.approx(-1.5)
    assert reckoned.pose.yaw_deg == pytest.approx(-90.0)
    assert reckoned.pose.posture == "sit"
    assert reckoned.walked_m == pytest.approx(4.0) and reckoned.turned_deg == pytest.approx(90.0)
    # One waypoint per move or turn after the start; the posture action adds none.
    assert [(round(p.x, 9), round(p.y, 9), p.yaw_deg) for p in reckoned.waypoints] == [
        (0.0, 0.0, 0.0), (1.5, 0.0, 0.0), (1.5, 0.0, -90.0), (1.5, -1.5, -90.0), (2.5, -1.5, -90.0)]


def test_expected_path_is_the_dead_reckoning_in_radians_from_any_start():
    plan = parse_plan({"route": "local", "say": "", "actions": [
        {"type": "move", "direction": "forward", "distance_m": None, "speed_mps": None},
        {"type": "turn", "direction": "right", "angle_deg": None},
        {"type": "posture", "name": "sit"},
        {"type": "move", "direction": "left", "distance_m": 0.5, "speed_mps": 0.2}]})
    path = expected_path(plan)
    assert len(path) == 4
    x, y, yaw = path[-1]
    # 1 m ahead, face right (-90 deg), then 0.5 m to the dog's left, which is +x in the start frame.
    assert (x, y) == pytest.approx((1.5, 0.0), abs=1e-9) and math.degrees(yaw) == pytest.approx(-90)
    start = (1.0, 2.0, math.pi / 2)
    reckoned = dead_reckon(plan, start=Pose(1.0, 2.0, 90.0))
    got = [v for waypoint in expected_path(plan, start=start) for v in waypoint]
    assert got == pytest.approx([v for p in reckoned.waypoints for v in (p.x, p.y, math.radians(p.yaw_deg))])


def test_relative_pose_is_expressed_in_the_start_frame():
    rel = relative_pose(Pose(1.0, 1.0, 90.0), Pose(1.0, 2.0, 180.0, "sit"))
    assert (rel.x, rel.y, rel.yaw_deg, rel.posture) == (pytest.approx(1.0), pytest.approx(0.0), pytest.approx(90.0), "sit")
    assert wrap_deg(350.0) == pytest.approx(-10.0) and wrap_deg(-180.0) == pytest.approx(180.0)


def test_yaw_from_quaternion_reads_the_heading():
    half = math.radians(30.0) / 2
    assert yaw_from_quaternion(math.cos(half), 0.0, 0.0, math.sin(half)) == pytest.approx(math.radians(30.0))
    assert yaw_from_quaternion(1.0, 0.0, 0.0, 0.0) == 0.0
