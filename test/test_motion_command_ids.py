"""A plan is executed at most once per command id, whatever the network replays."""

import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from shadowpeft_ros.messages import MotionCommand
from shadowpeft_ros.nodes.common import COMMAND_QOS
from shadowpeft_ros.nodes.transport import TypedPublisher, create_typed_subscription
from shadowpeft_ros.nodes.motion_node import MotionNode
from shadowpeft_ros.plan import Plan, Posture


def test_a_replayed_plan_is_not_executed_twice():
    rclpy.init()
    try:
        # Without odometry or a posture driver the motion node uses its timed posture fallback.
        motion = MotionNode(parameter_overrides=[Parameter("posture_duration_s", value=0.2)])
        probe = Node("replay_probe")
        outcomes = []
        create_typed_subscription(probe, "PlanOutcome", "/dog/outcome", outcomes.append, COMMAND_QOS)
        pub = TypedPublisher(probe, "MotionCommand", "/dog/plan", COMMAND_QOS)
        executor = SingleThreadedExecutor()
        executor.add_node(motion)
        executor.add_node(probe)
        command = MotionCommand(plan=Plan(actions=(Posture("sit"),)), text="sit")
        deadline = time.monotonic() + 10
        while pub.matched_subscriptions < 1 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        pub.publish(command)
        pub.publish(command)  # the same command id again, as a retry would send it
        other = MotionCommand(plan=Plan(actions=(Posture("stand"),)), text="stand")
        end = time.monotonic() + 5
        sent_other = False
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
            if not sent_other and any(o.outcome == "done" and o.command_id == command.command_id for o in outcomes):
                pub.publish(other)
                sent_other = True
            if any(o.command_id == other.command_id and o.outcome == "done" for o in outcomes):
                break
        mine = [o.outcome for o in outcomes if o.command_id == command.command_id]
        assert mine == ["accepted", "done"], mine
        assert [o.outcome for o in outcomes if o.command_id == other.command_id] == ["accepted", "done"]
    finally:
        motion.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown()
