"""The ideal path of a plan, and the top-down plot of commanded against achieved."""

import math

import pytest

from shadowpeft_ros.motion.path import expected_path
from shadowpeft_ros.plan import parse_plan
from shadowpeft_ros.sim.plot import plot_trajectory


def test_expected_path_follows_moves_and_turns_with_defaults():
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


def test_plot_writes_a_png(tmp_path):
    samples = [{"x": 0.01 * i, "y": 0.0005 * i * i} for i in range(100)]
    out = plot_trajectory(samples, [(0, 0, 0), (1, 0, 0)], tmp_path / "sub" / "track.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plot_refuses_empty_or_non_finite_input(tmp_path):
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_trajectory([], [], tmp_path / "a.png")
    with pytest.raises(ValueError, match="non-finite"):
        plot_trajectory([(0.0, float("nan"))], [], tmp_path / "b.png")
