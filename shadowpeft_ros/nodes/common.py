"""What every node shares: QoS profiles and the standard ``main`` shape."""

from __future__ import annotations

import contextlib
import signal
import threading

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


# How long the spin loop waits for work before it looks at the stop flag again: the longest a
# SIGINT or SIGTERM waits before the node starts stopping (a Python signal handler only runs
# between waits, and rcl_wait is not interrupted by signals).
SPIN_PERIOD_S = 0.1


@contextlib.contextmanager
def _stop_requested_by_signals(signals=(signal.SIGINT, signal.SIGTERM)):
    """Yield an Event that the first of ``signals`` sets; the handlers before ours are back afterwards.

    The first signal only asks for a stop. It also puts the previous handlers back, so a second
    Ctrl-C (KeyboardInterrupt) or SIGTERM (terminate) still forces a shutdown that hangs.
    """
    stop = threading.Event()
    previous = {}

    def request_stop(signum, frame):
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop.set()

    for sig in signals:
        previous[sig] = signal.signal(sig, request_stop)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_node(node_factory, args=None) -> None:
    """Spin one node until SIGINT, SIGTERM or external shutdown, then destroy it and shut rclpy down.

    rclpy's own signal handlers would shut the context down the moment the signal arrives, before
    ``destroy_node`` runs, so nothing a node sends on its way out (the motion node's final zero
    twist) could go out. Here a signal only asks the spin loop to stop: the executor stops and lets
    running callbacks finish, then the node is destroyed while the context is still valid, and
    only then is rclpy shut down.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = executor = None
    try:
        node = node_factory()
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        with _stop_requested_by_signals() as stop:
            while rclpy.ok() and not stop.is_set():
                executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if executor is not None:
            # Waits for the callbacks in flight: none runs after (or during) the node's destruction,
            # so the node's last message really is its last.
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
