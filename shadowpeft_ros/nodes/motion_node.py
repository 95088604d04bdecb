"""Motion node: plans in, velocity and posture commands out, behind a safety layer nothing bypasses.

Topics and services (names are parameters):
- subscribes ``/dog/plan`` (MotionCommand, COMMAND_QOS): plans to execute (checked against the limits again).
- subscribes ``/voice/command`` (VoiceCommand): ``is_stop`` stops at once, before the interpreter answers.
- subscribes ``/odom`` (nav_msgs/Odometry, best effort: it also matches best-effort driver publishers)
  and ``/dog/posture_state`` (std_msgs/String, latched).
- publishes ``/cmd_vel`` (geometry_msgs/Twist) every control tick, ``/dog/posture`` (std_msgs/String),
  ``/dog/outcome`` (PlanOutcome: one "accepted", then exactly one final outcome per command_id) and
  ``/dog/say`` (std_msgs/String: why a plan was refused or failed).
- serves ``/dog/estop`` and ``/dog/estop_reset`` (std_srvs/Trigger).
- publishes ``/diagnostics``: executor state, watchdog, limits hit.

Timers run on the node clock, so with ``use_sim_time`` the control ticks follow the simulator's
``/clock``. Stop, e-stop and the watchdog live in their own callback group: they never wait behind a
plan being checked or a tick being computed; a lock keeps the executor core consistent between them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import List

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time
from std_msgs.msg import String
from std_srvs.srv import Trigger

from .. import topics
from ..geometry import yaw_from_quaternion
from ..messages import MessageError, MotionCommand, PlanOutcome, VoiceCommand, decode_json
from ..motion.executor import Event, MotionExecutor, Pose2D, clamp_twist
from ..motion.options import ExecutorOptions
from ..safety import MotionDefaults, SafetyLimits
from .common import COMMAND_QOS, LATCHED_QOS, ODOM_QOS, run_node
from .diagnostics import OK, WARN, ERROR, NodeDiagnostics
from .params import declare_options, range_descriptor
from .transport import TypedPublisher, create_typed_subscription, resolve_transport

# How long destroy_node waits for reliable /cmd_vel readers to acknowledge the final zero twist.
FINAL_TWIST_ACK_TIMEOUT_S = 0.5


class MotionNode(Node):
    """Execute plans as /cmd_vel and /dog/posture, with stop, e-stop, watchdog and outcome reports."""

    def __init__(self, **kwargs):
        super().__init__("motion", **kwargs)
        self.options = declare_options(self, ExecutorOptions)
        self.limits = declare_options(self, SafetyLimits, prefix="limits.")
        self.defaults = declare_options(self, MotionDefaults, prefix="defaults.")
        p = self.declare_parameter
        plan_topic = p("plan_topic", topics.PLAN).value
        voice_topic = p("voice_topic", topics.VOICE_COMMAND).value
        odom_topic = p("odom_topic", topics.ODOM).value
        cmd_vel_topic = p("cmd_vel_topic", topics.CMD_VEL).value
        posture_topic = p("posture_topic", topics.POSTURE).value
        posture_state_topic = p("posture_state_topic", topics.POSTURE_STATE).value
        outcome_topic = p("outcome_topic", topics.OUTCOME).value
        say_topic = p("say_topic", topics.SAY).value
        estop_service = p("estop_service", topics.ESTOP_SERVICE).value
        estop_reset_service = p("estop_reset_service", topics.ESTOP_RESET_SERVICE).value
        self.transport = p("transport", "auto").value
        watchdog_period = p("watchdog_period_s", 0.05, range_descriptor(
            "How often the watchdog checks for stalled ticks and stale odometry, s.", 0.005, 1.0)).value
        diagnostics_period = p("diagnostics_period_s", 1.0, range_descriptor(
            "How often executor state, watchdog and limits go out on /diagnostics, s.", 0.1, 60.0)).value

        self.core = MotionExecutor(self.options, self.limits, self.defaults)
        self._lock = threading.Lock()
        self._destroyed = False
        self.last_mode = "idle"
        self.stop_latencies: List[float] = []
        # What /diagnostics reports about the safety layer.
        self.watchdog_trips = 0
        self.plans_clamped = 0
        self.plans_refused = 0
        self.twists_clamped = 0
        self._last_odom = None
        # Command ids already taken: a replayed or retried plan must never run twice.
        self._seen_ids: "OrderedDict[str, None]" = OrderedDict()

        self._cmd_pub = self.create_publisher(Twist, cmd_vel_topic, COMMAND_QOS)
        self._posture_pub = self.create_publisher(String, posture_topic, COMMAND_QOS)
        self._say_pub = self.create_publisher(String, say_topic, COMMAND_QOS)
        self._outcome_pub = TypedPublisher(self, "PlanOutcome", outcome_topic, COMMAND_QOS, self.transport)

        self._control_group = MutuallyExclusiveCallbackGroup()
        self._safety_group = ReentrantCallbackGroup()
        if resolve_transport(self.transport) == "json":
            # Our own decoder, so that a malformed plan that still names its command_id gets a "refused".
            self.create_subscription(String, plan_topic, self.plan_json_callback, COMMAND_QOS,
                                     callback_group=self._control_group)
        else:
            create_typed_subscription(self, "MotionCommand", plan_topic, self.plan_callback, COMMAND_QOS,
                                      self.transport, callback_group=self._control_group)
        create_typed_subscription(self, "VoiceCommand", voice_topic, self.voice_callback, COMMAND_QOS,
                                  self.transport, callback_group=self._safety_group)
        # Odometry has its own group: behind a tick it would look stale and fail a closed-loop move
        # that is going fine. Best effort, because many drivers publish it so and a reliable reader
        # would not match them; depth 10 keeps bursts from a busy publisher.
        self._odom_group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(Odometry, odom_topic, self.odom_callback, ODOM_QOS,
                                 callback_group=self._odom_group)
        self.create_subscription(String, posture_state_topic, self.posture_state_callback, LATCHED_QOS,
                                 callback_group=self._control_group)
        self.create_service(Trigger, estop_service, self.estop_callback, callback_group=self._safety_group)
        self.create_service(Trigger, estop_reset_service, self.estop_reset_callback, callback_group=self._safety_group)
        self._tick_timer = self.create_timer(1.0 / self.options.rate_hz, self.tick_callback,
                                             callback_group=self._control_group)
        self._watchdog_timer = self.create_timer(watchdog_period, self.watchdog_callback,
                                                 callback_group=self._safety_group)
        self.diagnostics = NodeDiagnostics(self, "motion", diagnostics_period)
        self.diagnostics.add("executor", self.executor_status)
        self.diagnostics.add("watchdog", self.watchdog_status)
        self.diagnostics.add("limits", self.limits_status)
        self.get_logger().info(
            f"motion ready: {self.options.rate_hz:g} Hz on {cmd_vel_topic}, limits {self.limits.max_linear_speed_mps:g} m/s "
            f"and {self.limits.max_angular_speed_dps:g} deg/s, over-limit plans: {self.limits.on_violation}, "
            f"new plans: {self.options.on_new_plan}")

    # -- helpers ----------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish_twist(self, twist) -> None:
        vx, vy, wz = clamp_twist(twist, self.limits)
        if (vx, vy, wz) != tuple(twist):
            self.twists_clamped += 1
        msg = Twist()
        msg.linear.x, msg.linear.y, msg.angular.z = vx, vy, wz
        self._cmd_pub.publish(msg)

    def _publish_events(self, events: List[Event]) -> None:
        log = self.get_logger()
        for event in events:
            self._outcome_pub.publish(PlanOutcome(command_id=event.command_id, outcome=event.outcome,
                                                  reason=event.reason))
            text = f"plan {event.command_id}: {event.outcome}" + (f" ({event.reason})" if event.reason else "")
            if event.outcome == "accepted" and event.reason.startswith("clamped"):
                self.plans_clamped += 1
            elif event.outcome == "refused":
                self.plans_refused += 1
            if event.outcome in ("refused", "failed"):
                log.warning(text)
            else:
                log.info(text)
            if event.say:
                self._say_pub.publish(String(data=event.say))

    # -- callbacks --------------------------------------------------------------------------------

    def plan_json_callback(self, msg: String) -> None:
        """Decode a JSON-transport plan; refuse it by command_id when it is malformed."""
        try:
            command = decode_json("MotionCommand", msg.data)
        except MessageError as exc:
            command_id = ""
            try:
                data = json.loads(msg.data)
                if isinstance(data, dict) and isinstance(data.get("command_id"), str):
                    command_id = data["command_id"]
            except (ValueError, TypeError):
                pass
            self.get_logger().error(f"rejected malformed plan{' ' + command_id if command_id else ''}: {exc}")
            if command_id:
                self._publish_events([Event(command_id, "refused", f"malformed plan: {exc}",
                                            say="I didn't understand that plan, so I'm not moving.")])
            return
        self.plan_callback(command)

    def plan_callback(self, command: MotionCommand) -> None:
        """Hand a plan to the executor (limits checked there) and report what became of it."""
        if command.latencies:
            stages = ", ".join(f"{k} {v:.3f} s" for k, v in command.latencies.items())
            self.get_logger().info(f"plan {command.command_id} {command.text!r}: {stages}")
        if not command.plan.actions:
            # An answer or a refusal: nothing to move, and it must not preempt what is running.
            self.get_logger().info(f"plan {command.command_id} has no actions: nothing to do")
            return
        if command.command_id in self._seen_ids:
            self.get_logger().warning(f"plan {command.command_id} ignored: this command id was already taken")
            return
        self._seen_ids[command.command_id] = None
        while len(self._seen_ids) > 1024:
            self._seen_ids.popitem(last=False)
        with self._lock:
            events = self.core.submit(command.command_id, command.plan, self._now())
            if command.plan.has_stop:
                self._publish_twist((0.0, 0.0, 0.0))
        self._publish_events(events)

    def voice_callback(self, command: VoiceCommand) -> None:
        """Stop at once on the speech node's stop fast path; other utterances are the interpreter's."""
        if not command.is_stop:
            return
        arrived = time.perf_counter()
        with self._lock:
            events = self.core.stop(self._now(), f"spoken stop {command.text!r}")
            self._publish_twist((0.0, 0.0, 0.0))
        # Wall seconds from the stop's arrival to the zero twist leaving: the fast path's own cost.
        self.stop_latencies.append(time.perf_counter() - arrived)
        self.get_logger().warning(f"STOP ({command.text!r}): zero twist published, plans cleared")
        self._publish_events(events)

    def odom_callback(self, msg: Odometry) -> None:
        """Record odometry, stamped with its arrival on this node's clock and with the driver's own stamp."""
        q = msg.pose.pose.orientation
        header = Time.from_msg(msg.header.stamp).nanoseconds * 1e-9
        pose = Pose2D(stamp=self._now(), x=msg.pose.pose.position.x, y=msg.pose.pose.position.y,
                      yaw=yaw_from_quaternion(q.w, q.x, q.y, q.z), vx=msg.twist.twist.linear.x,
                      vy=msg.twist.twist.linear.y, wz=msg.twist.twist.angular.z,
                      # Some drivers leave the header unstamped; then only arrival times are known.
                      measured=header if header > 0.0 else None)
        with self._lock:
            self.core.update_odometry(pose)
            self._last_odom = pose.stamp

    def posture_state_callback(self, msg: String) -> None:
        """Record the posture the dog reports."""
        with self._lock:
            self.core.update_posture_state(msg.data, self._now())

    def tick_callback(self) -> None:
        """Run one control tick and publish its twist, posture command and outcomes."""
        with self._lock:
            result = self.core.tick(self._now())
            self._publish_twist(result.twist)
        if result.posture:
            self._posture_pub.publish(String(data=result.posture))
        if result.mode != self.last_mode:
            self.get_logger().info(f"executing: {result.mode}")
            self.last_mode = result.mode
        self._publish_events(result.events)

    def watchdog_callback(self) -> None:
        """Publish a zero twist when ticks stall or odometry goes stale mid-action."""
        with self._lock:
            if self.core.watchdog(self._now()):
                self.watchdog_trips += 1
                self._publish_twist((0.0, 0.0, 0.0))

    # -- diagnostics ------------------------------------------------------------------------------

    def executor_status(self):
        """Executor state: what runs, whether the e-stop is latched, the last twist sent."""
        with self._lock:
            busy, estopped, output = self.core.busy, self.core.estopped, self.core.output
        values = {"mode": self.last_mode, "busy": busy, "estop_latched": estopped,
                  "vx_mps": output[0], "vy_mps": output[1], "wz_radps": output[2]}
        if estopped:
            return ERROR, "e-stop latched: every plan is refused until reset", values
        return OK, f"executing: {self.last_mode}" if busy else "idle", values

    def watchdog_status(self):
        """Watchdog: how often it zeroed the output, and how old odometry is."""
        now = self._now()
        with self._lock:
            fresh = self.core.odom_fresh(now)
            last = self._last_odom
        age = None if last is None else max(0.0, now - last)
        values = {"trips": self.watchdog_trips, "odom_age_s": age, "odom_fresh": fresh,
                  "odom_timeout_s": self.options.odom_timeout_s}
        if last is None:
            return WARN, "no odometry yet: moves run time-based", values
        if not fresh:
            return WARN, f"odometry stale ({age:.2f} s old)", values
        return OK, f"odometry fresh, {self.watchdog_trips} watchdog trips", values

    def limits_status(self):
        """Limits hit: plans clamped or refused, twists clamped on the way out."""
        values = {"plans_clamped": self.plans_clamped, "plans_refused": self.plans_refused,
                  "twists_clamped": self.twists_clamped, "on_violation": self.limits.on_violation,
                  "max_linear_speed_mps": self.limits.max_linear_speed_mps,
                  "max_angular_speed_dps": self.limits.max_angular_speed_dps}
        hit = self.plans_clamped + self.plans_refused + self.twists_clamped
        return (WARN if hit else OK), f"limits hit {hit} times", values

    def estop_callback(self, request, response):
        """Latch the e-stop: zero twist, plans stopped, every new plan refused until reset."""
        with self._lock:
            events = self.core.estop(self._now())
            self._publish_twist((0.0, 0.0, 0.0))
        self.get_logger().warning("E-STOP latched: zero twist, every plan refused until reset")
        self._publish_events(events)
        response.success, response.message = True, "e-stop latched; call the reset service to move again"
        return response

    def estop_reset_callback(self, request, response):
        """Release the e-stop latch."""
        with self._lock:
            was = self.core.reset_estop()
        response.success = True
        response.message = "e-stop released" if was else "e-stop was not latched"
        self.get_logger().info(response.message)
        return response

    def destroy_node(self):
        """Send a last zero twist (teleop_twist_keyboard's habit), then destroy the node."""
        # getattr: rclpy also destroys a node whose __init__ failed half-way, at shutdown.
        if not getattr(self, "_destroyed", True):
            self._destroyed = True
            try:
                self._publish_twist((0.0, 0.0, 0.0))
                # Destroying the publisher drops what a reliable reader has not acknowledged yet:
                # give the driver a moment to have it, without hanging on a reader that is gone.
                if not self._cmd_pub.wait_for_all_acked(Duration(seconds=FINAL_TWIST_ACK_TIMEOUT_S)):
                    self.get_logger().warning("the final zero twist was not acknowledged by every subscriber "
                                              f"within {FINAL_TWIST_ACK_TIMEOUT_S:g} s")
            except Exception as exc:  # the context may already be shut down; nothing more can be sent
                self.get_logger().warning(f"could not send the final zero twist: {exc}")
        return super().destroy_node()


def main(args=None):
    """Run the motion node until Ctrl-C."""
    run_node(MotionNode, args)


if __name__ == "__main__":
    main()
