"""Sim node: the MuJoCo dog on the ROS graph.

Topics (names are parameters):
- subscribes ``/cmd_vel`` (geometry_msgs/Twist) and ``/dog/posture`` (std_msgs/String: a posture or trick).
- publishes ``/odom`` (nav_msgs/Odometry, frame odom -> base, starting at 0, 0, yaw 0), ``/joint_states``
  (sensor_msgs/JointState), the achieved posture on ``/dog/posture_state`` (std_msgs/String, latched:
  stand, sit, lie_down, a trick's name while it runs, or "transition"), in sim time ``/clock``, and
  ``/diagnostics`` (real-time factor, sim time, waits for the controller, whether the dog has fallen).

Time modes (parameter ``time_mode``):
- ``real``: physics paced to the wall clock; stamps are wall time. The demo.
- ``sim``: physics runs ahead of the wall clock and publishes ``/clock``; the other nodes run with
  ``use_sim_time``. The design choice: the simulator advances in chunks of one publish period
  (20 ms) and caps its speed at ``max_rtf`` times real time. Lockstep with the motion node would need a
  handshake that a real robot driver does not have; a bounded real-time factor keeps the normal topic
  contract and bounds the skew instead: a command that takes d seconds of wall time to cross DDS lands
  at most ``max_rtf * d`` seconds of sim time late (about 5-20 ms at the default 4x), well inside the
  motion node's 50 ms tick. ``max_rtf`` 0 removes the cap (benchmarks only). On a loaded machine the
  cap alone is not enough (the controller's process may be starved while this one runs), so in sim
  time the physics also waits, up to ``command_wait_s`` of wall time, whenever the last /cmd_vel is
  more than ``max_command_lag_s`` (0.06 s) of sim time old and someone publishes /cmd_vel: the
  control loop never falls more than about one 50 ms tick behind the physics it closes around.
  Measured on a loaded 2-core machine: with the wait at 0.1 s, 1 m moves ended up to 4 deg off their
  heading at 3x; at 0.06 s, within 1.6 deg.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Dict, Optional

from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from .. import topics
from ..sim.dog import DogSim, SimOptions
from .common import COMMAND_QOS, LATCHED_QOS, run_node
from .diagnostics import ERROR, OK, WARN, NodeDiagnostics
from .params import declare_options, range_descriptor

TIME_MODES = ("real", "sim")
CLOCK_QOS_DEPTH = 10


def _stamp(seconds: float) -> TimeMsg:
    sec = int(math.floor(seconds))
    return TimeMsg(sec=sec, nanosec=min(999_999_999, int(round((seconds - sec) * 1e9))))


class SimNode(Node):
    """Run the MuJoCo dog on its own thread and bridge it to /cmd_vel, /dog/posture, /odom and /joint_states."""

    def __init__(self, **kwargs):
        super().__init__("sim", **kwargs)
        self.sim_options = declare_options(self, SimOptions)
        p = self.declare_parameter
        self.time_mode = p("time_mode", "real", range_descriptor(
            "'real' paces physics to the wall clock; 'sim' runs ahead of it and publishes /clock.")).value
        self.max_rtf = float(p("max_rtf", 4.0, range_descriptor(
            "Sim time only: most simulated seconds per wall second (0: no cap, benchmarks only).", 0.0, 1000.0)).value)
        self.publish_rate_hz = float(p("publish_rate_hz", 50.0, range_descriptor(
            "Rate of /odom, /joint_states and /clock, Hz (at most control_rate_hz).", 1.0, 1000.0)).value)
        self.max_command_lag_s = float(p("max_command_lag_s", 0.06, range_descriptor(
            "Sim time only: the physics waits when the last /cmd_vel is older than this (sim s); 0 never waits.",
            0.0, 10.0)).value)
        self.command_wait_s = float(p("command_wait_s", 1.0, range_descriptor(
            "Sim time only: longest such wait for the controller, wall s.", 0.0, 60.0)).value)
        diagnostics_period = p("diagnostics_period_s", 1.0, range_descriptor(
            "How often the real-time factor goes out on /diagnostics, s.", 0.1, 60.0)).value
        cmd_vel_topic = p("cmd_vel_topic", topics.CMD_VEL).value
        posture_topic = p("posture_topic", topics.POSTURE).value
        odom_topic = p("odom_topic", topics.ODOM).value
        joint_states_topic = p("joint_states_topic", topics.JOINT_STATES).value
        posture_state_topic = p("posture_state_topic", topics.POSTURE_STATE).value
        self.odom_frame = p("odom_frame", "odom").value
        self.base_frame = p("base_frame", "base").value
        if self.time_mode not in TIME_MODES:
            raise ValueError(f"time_mode must be one of {TIME_MODES}, got {self.time_mode!r}")
        if not (math.isfinite(self.max_rtf) and self.max_rtf >= 0):
            raise ValueError(f"max_rtf must be >= 0 (0: no cap), got {self.max_rtf}")
        if not (math.isfinite(self.publish_rate_hz) and 1.0 <= self.publish_rate_hz <= self.sim_options.control_rate_hz):
            raise ValueError(f"publish_rate_hz must be within 1 and control_rate_hz, got {self.publish_rate_hz}")

        if not (math.isfinite(self.max_command_lag_s) and self.max_command_lag_s >= 0):
            raise ValueError(f"max_command_lag_s must be >= 0 (0: never wait), got {self.max_command_lag_s}")
        self.dog = DogSim(self.sim_options)
        self._cmd_vel_topic = cmd_vel_topic
        self._last_cmd_sim = -math.inf
        self._cmd_arrived = threading.Event()
        self.command_waits = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_posture_state = ""
        self.steps = 0
        self.wall_running_s = 0.0

        self._odom_pub = self.create_publisher(Odometry, odom_topic, COMMAND_QOS)
        self._joint_pub = self.create_publisher(JointState, joint_states_topic, COMMAND_QOS)
        self._posture_state_pub = self.create_publisher(String, posture_state_topic, LATCHED_QOS)
        self._clock_pub = self.create_publisher(Clock, "/clock", CLOCK_QOS_DEPTH) if self.time_mode == "sim" else None
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(Twist, cmd_vel_topic, self.cmd_vel_callback, COMMAND_QOS, callback_group=group)
        self.create_subscription(String, posture_topic, self.posture_callback, COMMAND_QOS, callback_group=group)
        self._publish_posture_state()
        self.diagnostics = NodeDiagnostics(self, "sim", diagnostics_period)
        self.diagnostics.add("physics", self.physics_status)
        self._thread = threading.Thread(target=self._run, name="mujoco-dog", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"MuJoCo dog ready: {self.time_mode} time"
            + (f" (at most {self.max_rtf:g}x real time)" if self.time_mode == "sim" and self.max_rtf else "")
            + f", physics {self.sim_options.timestep_s * 1000:g} ms, control {self.sim_options.control_rate_hz:g} Hz")

    # -- callbacks --------------------------------------------------------------------------------

    def cmd_vel_callback(self, msg: Twist) -> None:
        """Pass a velocity command to the gait; a non-finite one stops the dog instead."""
        try:
            with self._lock:
                self.dog.set_velocity(msg.linear.x, msg.linear.y, msg.angular.z)
                self._last_cmd_sim = self.sim_time()
            self._cmd_arrived.set()
        except ValueError as exc:
            # A command nobody can read must not leave the last good one driving the dog.
            with self._lock:
                self.dog.set_velocity(0.0, 0.0, 0.0)
            self.get_logger().error(f"rejected /cmd_vel, holding still: {exc}")

    def posture_callback(self, msg: String) -> None:
        """Start a posture or trick; unknown names are logged and ignored."""
        try:
            with self._lock:
                self.dog.command_posture(msg.data)
        except ValueError as exc:
            self.get_logger().error(f"ignored posture command: {exc}")
            return
        self.get_logger().info(f"posture command {msg.data!r}")

    # -- the physics thread -----------------------------------------------------------------------

    def sim_time(self) -> float:
        """Return the simulator's clock (s), the value published on /clock in sim mode."""
        return float(self.dog.data.time)

    def _stamp_now(self) -> TimeMsg:
        if self.time_mode == "sim":
            return _stamp(self.sim_time())
        return self.get_clock().now().to_msg()

    def _run(self) -> None:
        chunk = 1.0 / self.publish_rate_hz
        rate = 1.0 if self.time_mode == "real" else self.max_rtf
        wall0, sim0 = time.monotonic(), self.sim_time()
        try:
            while not self._stop.is_set():
                if rate > 0:
                    ahead = (self.sim_time() - sim0) / rate - (time.monotonic() - wall0)
                    if ahead > 0:
                        self._stop.wait(ahead)
                    elif ahead < -1.0:
                        # Fell behind (a loaded machine): do not try to catch up in a burst.
                        wall0, sim0 = time.monotonic(), self.sim_time()
                if self.time_mode == "sim":
                    self._wait_for_controller()
                t = time.perf_counter()
                with self._lock:
                    self.dog.step(chunk)
                    odom = self.dog.odometry()
                    joints = self.dog.joint_state()
                self.steps += 1
                self.wall_running_s += time.perf_counter() - t
                stamp = self._stamp_now()
                if self._clock_pub is not None:
                    self._clock_pub.publish(Clock(clock=stamp))
                self._publish_odom(odom, stamp)
                self._publish_joints(joints, stamp)
                self._publish_posture_state()
        except Exception as exc:  # the thread must say why the dog stopped; the context may be gone
            if not self._stop.is_set():
                self.get_logger().error(f"simulation stopped: {exc!r}")

    def _wait_for_controller(self) -> None:
        """In sim time, let a controller that publishes /cmd_vel fall at most max_command_lag_s behind.

        A loaded machine can starve the controller's process while this one runs on; without this, the
        physics would run ahead of the control loop that is supposed to close around it.
        """
        if self.max_command_lag_s <= 0 or self.sim_time() - self._last_cmd_sim <= self.max_command_lag_s:
            return
        if self.count_publishers(self._cmd_vel_topic) == 0:
            return
        self.command_waits += 1
        deadline = time.monotonic() + self.command_wait_s
        while (self.sim_time() - self._last_cmd_sim > self.max_command_lag_s and time.monotonic() < deadline
               and not self._stop.is_set()):
            self._cmd_arrived.wait(0.005)
            self._cmd_arrived.clear()

    def _publish_odom(self, o, stamp: TimeMsg) -> None:
        msg = Odometry()
        msg.header.stamp = stamp
        msg.header.frame_id = self.odom_frame
        msg.child_frame_id = self.base_frame
        msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z = o.x, o.y, o.z
        q = msg.pose.pose.orientation
        q.w, q.x, q.y, q.z = o.qw, o.qx, o.qy, o.qz
        msg.twist.twist.linear.x, msg.twist.twist.linear.y, msg.twist.twist.linear.z = o.vx, o.vy, o.vz
        msg.twist.twist.angular.x, msg.twist.twist.angular.y, msg.twist.twist.angular.z = o.wx, o.wy, o.wz
        self._odom_pub.publish(msg)

    def _publish_joints(self, joints, stamp: TimeMsg) -> None:
        names, pos, vel, eff = joints
        msg = JointState()
        msg.header.stamp = stamp
        msg.name, msg.position, msg.velocity, msg.effort = list(names), pos, vel, eff
        self._joint_pub.publish(msg)

    def _publish_posture_state(self) -> None:
        state = self.dog.posture_state
        if state != self._last_posture_state:
            self._last_posture_state = state
            self._posture_state_pub.publish(String(data=state))

    # -- for the runner's report ------------------------------------------------------------------

    def final_pose(self) -> Dict[str, float]:
        """Return the dog's pose now: x, y (m), yaw_deg, posture, sim time and whether it has fallen."""
        with self._lock:
            o = self.dog.odometry()
            return {"x": o.x, "y": o.y, "yaw_deg": math.degrees(o.yaw), "posture": self.dog.posture_state,
                    "sim_time_s": o.t, "fallen": self.dog.fallen()}

    def real_time_factor(self) -> Optional[float]:
        """Return simulated seconds per wall second spent stepping (physics and controller only)."""
        if self.wall_running_s <= 0:
            return None
        return self.steps / self.publish_rate_hz / self.wall_running_s

    def physics_status(self):
        """Real-time factor and health of the simulation, as a diagnostic."""
        rtf = self.real_time_factor()
        pose = self.final_pose()
        values = {"real_time_factor": rtf, "time_mode": self.time_mode, "max_rtf": self.max_rtf,
                  "sim_time_s": pose["sim_time_s"], "steps": self.steps, "controller_waits": self.command_waits,
                  "fallen": pose["fallen"], "posture": pose["posture"]}
        if pose["fallen"]:
            return ERROR, "the dog has fallen", values
        if rtf is None:
            return WARN, "physics not started yet", values
        # real_time_factor counts only the time spent stepping: below 1 the physics cannot keep up
        # with the wall clock in real time, whatever the pacing.
        if self.time_mode == "real" and rtf < 1.0:
            return WARN, f"physics slower than the wall clock: {rtf:.2f}x real time", values
        return OK, f"physics steps at {rtf:.2f}x real time ({self.time_mode} time)", values

    def destroy_node(self):
        """Stop the physics thread before the node goes."""
        # getattr: rclpy also destroys a node whose __init__ failed half-way, at shutdown.
        thread = getattr(self, "_thread", None)
        if thread is not None:
            self._stop.set()
            if thread.is_alive() and threading.current_thread() is not thread:
                thread.join(timeout=2.0)
        return super().destroy_node()


def main(args=None):
    """Run the sim node until Ctrl-C."""
    run_node(SimNode, args)


if __name__ == "__main__":
    main()
