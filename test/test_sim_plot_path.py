"""The top-down plot of the commanded path against the achieved one."""

import pytest

from shadowpeft_ros.sim.plot import plot_trajectory


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
