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
def stop_on_signals(interrupt: bool = False, signals=(signal.SIGINT, signal.SIGTERM)):
    """Yield an Event that the first of ``signals`` sets; the handlers from before are back afterwards.

    rclpy's own handlers would shut the context down the moment a signal arrives, before the nodes
    are destroyed, so nothing a node sends on its way out (the motion node's final zero twist) could
    go out; start rclpy with ``SignalHandlerOptions.NO`` and stop through this instead. With
    ``interrupt`` the first signal also raises KeyboardInterrupt in the main thread, for a caller
    that waits in loops of its own. The first signal puts the forcing handlers in place, so a second
    Ctrl-C (KeyboardInterrupt) or SIGTERM (terminate) still ends a shutdown that hangs. Ours are
    installed explicitly: a process started in the background by a shell inherits an ignored SIGINT.
    """
    stop = threading.Event()
    previous = {}

    def request_stop(signum, frame):
        for sig in previous:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        stop.set()
        if interrupt:
            raise KeyboardInterrupt

    for sig in signals:
        previous[sig] = signal.signal(sig, request_stop)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_node(node_factory, args=None) -> None:
    """Spin one node until SIGINT, SIGTERM or external shutdown, then destroy it and shut rclpy down.

    A signal only asks the spin loop to stop (``stop_on_signals``): the executor stops and lets
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
        with stop_on_signals() as stop:
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
