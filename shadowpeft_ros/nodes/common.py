"""What every node shares: QoS profiles and the standard ``main`` shape."""

from __future__ import annotations

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

# Commands must not be dropped: reliable, depth 10.
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# Latched state (posture, outcome of the last plan): a late subscriber still sees the latest value.
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
SENSOR_QOS = qos_profile_sensor_data
# Odometry readers are best effort: a best-effort reader matches both reliable and best-effort
# writers, and many robot drivers publish /odom best effort (a reliable reader would hear nothing).
ODOM_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)


def run_node(node_factory, args=None) -> None:
    """Spin one node until Ctrl-C or external shutdown, then destroy it and shut rclpy down."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=args)
    node = None
    try:
        node = node_factory()
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
