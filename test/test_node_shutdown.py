"""Stopping a node process with SIGINT (Ctrl-C) or SIGTERM (``ros2 launch`` shutting down).

The motion node must get its final zero /cmd_vel Twist out before the ROS context goes: a real
dog's driver keeps executing the last velocity it heard until its own timeout. Every node started
through ``run_node`` must exit 0, promptly, on either signal.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402

from shadowpeft_ros.messages import MotionCommand  # noqa: E402
from shadowpeft_ros.nodes.common import COMMAND_QOS  # noqa: E402
from shadowpeft_ros.nodes.transport import TypedPublisher  # noqa: E402
from shadowpeft_ros.plan import Move, Plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _start_module_node(module, *ros_args):
    """Start ``python -m <module>`` with this checkout first on the path; its log goes to a file."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               PYTHONUNBUFFERED="1")
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "-m", module, "--ros-args", *ros_args], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    return proc, log


def _read(log):
    log.seek(0)
    return log.read()


def _stop(proc, sig, timeout):
    """Send sig; return (returncode, seconds to exit), killing the process if it overstays."""
    start = time.monotonic()
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
    return rc, time.monotonic() - start


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_motion_node_sends_a_final_zero_twist_on_signal(sig):
    """A moving dog, then Ctrl-C / SIGTERM: the last Twist on /cmd_vel is zero and the process exits 0."""
    proc, log = _start_module_node("shadowpeft_ros.nodes.motion_node", "-p", "transport:=json")
    context = rclpy.Context()
    context.init()
    node = rclpy.create_node("shutdown_test_probe", context=context)
    twists = []
    node.create_subscription(Twist, "/cmd_vel",
                             lambda m: twists.append((m.linear.x, m.linear.y, m.angular.z)), COMMAND_QOS)
    plans = TypedPublisher(node, "MotionCommand", "/dog/plan", COMMAND_QOS, transport="json")
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    rc = elapsed = None
    try:
        assert _wait(lambda: plans.matched_subscriptions >= 1 and twists, 60), \
            f"the motion node did not come up; its log:\n{_read(log)[-3000:]}"
        # No odometry: the move runs time-based, at 0.3 m/s for about 3 s, long enough to interrupt it.
        plan = Plan(actions=(Move("forward", 1.0, 0.3),))
        plans.publish(MotionCommand(plan=plan, command_id=f"shutdown-{sig.name}", text="walk forward"))
        assert _wait(lambda: any(t[0] > 0.0 for t in twists), 20), \
            f"the motion node never moved: {twists[-5:]}; its log:\n{_read(log)[-3000:]}"
        time.sleep(0.3)  # well into the move
        assert twists[-1][0] > 0.0, twists[-5:]
        rc, elapsed = _stop(proc, sig, timeout=10)
        time.sleep(0.5)  # the last Twist may still be on its way
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        executor.shutdown(timeout_sec=5)
        spinner.join(timeout=5)
        node.destroy_node()
        context.try_shutdown()
    output = _read(log)
    log.close()
    assert rc == 0, f"exit code {rc} after {sig.name}; log:\n{output[-3000:]}"
    assert elapsed < 5.0, f"{elapsed:.1f} s to exit after {sig.name}"
    assert twists[-1] == (0.0, 0.0, 0.0), f"last twists {twists[-5:]}; log:\n{output[-3000:]}"
    assert "could not send the final zero twist" not in output, output[-3000:]


def test_interpreter_lifecycle_node_exits_cleanly_on_sigint():
    """The managed interpreter (unconfigured: no model needed) also stops promptly and exits 0."""
    proc, log = _start_module_node("shadowpeft_ros.nodes.interpreter_node", "-p", "transport:=json")
    context = rclpy.Context()
    context.init()
    node = rclpy.create_node("shutdown_test_graph", context=context)
    rc = elapsed = None
    try:
        up = lambda: ("interpreter", "/") in node.get_node_names_and_namespaces() or proc.poll() is not None
        assert _wait(up, 90) and proc.poll() is None, f"the interpreter node did not come up:\n{_read(log)[-3000:]}"
        time.sleep(0.5)
        rc, elapsed = _stop(proc, signal.SIGINT, timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        node.destroy_node()
        context.try_shutdown()
    output = _read(log)
    log.close()
    assert rc == 0 and elapsed < 5.0, (rc, elapsed, output[-3000:])
    assert "Traceback" not in output, output[-3000:]
