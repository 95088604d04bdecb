"""A second process for test_transport_processes.py: prints each received message as a JSON line."""

import json
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from shadowpeft_ros.messages import to_wire
from shadowpeft_ros.nodes.common import COMMAND_QOS
from shadowpeft_ros.nodes.transport import create_typed_subscription


def main():
    rclpy.init()
    node = Node("echo_subscriber")
    for kind, topic in (("VoiceCommand", "/voice/command"), ("MotionCommand", "/dog/plan")):
        create_typed_subscription(
            node, kind, topic,
            lambda obj, kind=kind: print(json.dumps({"kind": kind, "wire": to_wire(obj)}), flush=True),
            COMMAND_QOS)
    print(json.dumps({"kind": "ready"}), flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
