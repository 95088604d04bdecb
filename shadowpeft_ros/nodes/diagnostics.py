"""One /diagnostics publisher per node: named status checks, sampled on a timer, sent as one DiagnosticArray.

Each node registers checks, callables that return ``(level, message, {key: value})`` with the
levels below; the node's thin code gathers what its core already knows. Usage::

    self.diagnostics = NodeDiagnostics(self, hardware_id="motion", period_s=1.0)
    self.diagnostics.add("executor", lambda: (OK, "idle", {"mode": "idle"}))

A check that raises is reported as an ERROR status with the exception, never as a dead timer.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

from .. import topics

# diagnostic_msgs/DiagnosticStatus levels (bytes on the wire, ints here).
OK, WARN, ERROR, STALE = 0, 1, 2, 3

Check = Callable[[], Tuple[int, str, Mapping[str, Any]]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class NodeDiagnostics:
    """Publish the node's checks on ``topic`` every ``period_s``, in a callback group of their own."""

    def __init__(self, node, hardware_id: str, period_s: float = 1.0, topic: str = topics.DIAGNOSTICS):
        self.node = node
        self.hardware_id = hardware_id
        self.checks: List[Tuple[str, Check]] = []
        self.publisher = node.create_publisher(DiagnosticArray, topic, 10)
        # Its own group: diagnostics keep flowing while the node's main work (a model, a tick) is busy.
        self.timer = node.create_timer(period_s, self.publish, callback_group=MutuallyExclusiveCallbackGroup())

    def add(self, name: str, check: Check) -> None:
        """Register a check, reported as status ``"<node name>: <name>"``."""
        self.checks.append((name, check))

    def statuses(self) -> List[DiagnosticStatus]:
        """Run every check now and return its DiagnosticStatus."""
        out = []
        for name, check in self.checks:
            try:
                level, message, values = check()
            except Exception as exc:  # a broken check must show up, not silence the others
                level, message, values = ERROR, f"check failed: {exc!r}", {}
            out.append(DiagnosticStatus(
                level=bytes([int(level)]), name=f"{self.node.get_name()}: {name}", message=message,
                hardware_id=self.hardware_id,
                values=[KeyValue(key=str(k), value=_text(v)) for k, v in values.items()]))
        return out

    def publish(self) -> None:
        """Publish one DiagnosticArray with every check."""
        array = DiagnosticArray(status=self.statuses())
        array.header.stamp = self.node.get_clock().now().to_msg()
        self.publisher.publish(array)

    def destroy(self) -> None:
        self.node.destroy_timer(self.timer)
        self.node.destroy_publisher(self.publisher)


def values_of(status: DiagnosticStatus) -> Dict[str, str]:
    """Return a DiagnosticStatus's key/values as a dict (for tests and tools)."""
    return {kv.key: kv.value for kv in status.values}
