"""Domain objects on ROS topics: the generated types where colcon built ``msg/``, else JSON in a String.

Both transports carry the wire dict of ``shadowpeft_ros.messages``; this module only converts
it to and from the generated rosidl classes and wraps publishers and subscriptions.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Callable

from ..messages import MessageError, decode_json, encode_json, from_wire, to_wire

TRANSPORTS = ("auto", "ros", "json")


def generated_type(kind: str):
    """Return the colcon-generated message class for ``kind``, or None on a plain pip install."""
    try:
        return getattr(importlib.import_module("shadowpeft_ros.msg"), kind)
    except (ImportError, AttributeError):
        return None


def wire_to_ros(value: Any, msg_cls):
    """Return a generated message of ``msg_cls`` holding a wire dict (None numbers become NaN)."""
    msg = msg_cls()
    for name, type_name in msg_cls.get_fields_and_field_types().items():
        item = value[name]
        if type_name == "builtin_interfaces/Time":
            from builtin_interfaces.msg import Time

            item = Time(sec=item["sec"], nanosec=item["nanosec"])
        elif type_name.startswith("sequence<") and "/" in type_name:
            inner = type_name[len("sequence<"):-1].split("/")[-1]
            inner_cls = getattr(importlib.import_module("shadowpeft_ros.msg"), inner)
            item = [wire_to_ros(v, inner_cls) for v in item]
        elif type_name in ("double", "float") and item is None:
            item = math.nan
        setattr(msg, name, item)
    return msg


def ros_to_wire(msg) -> dict:
    """Return the wire dict of a generated message."""
    out = {}
    for name, type_name in msg.get_fields_and_field_types().items():
        item = getattr(msg, name)
        if type_name == "builtin_interfaces/Time":
            item = {"sec": item.sec, "nanosec": item.nanosec}
        elif type_name.startswith("sequence<") and "/" in type_name:
            item = [ros_to_wire(v) for v in item]
        out[name] = item
    return out


def resolve_transport(transport: str) -> str:
    """Pick "ros" or "json" for a requested transport ("auto" prefers generated types)."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
    available = generated_type("VoiceCommand") is not None
    if transport == "ros" and not available:
        raise RuntimeError("transport 'ros' needs the message types built by colcon from msg/; "
                           "none are importable here (use transport 'json' on a pip install)")
    if transport == "auto":
        return "ros" if available else "json"
    return transport


class TypedPublisher:
    """Publish domain objects of one kind on a topic, in the chosen transport."""

    def __init__(self, node, kind: str, topic: str, qos, transport: str = "auto"):
        self.kind = kind
        self.transport = resolve_transport(transport)
        if self.transport == "ros":
            self._cls = generated_type(kind)
        else:
            from std_msgs.msg import String

            self._cls = String
        self._publisher = node.create_publisher(self._cls, topic, qos)

    def publish(self, obj) -> None:
        if self.transport == "ros":
            self._publisher.publish(wire_to_ros(to_wire(obj), self._cls))
        else:
            self._publisher.publish(self._cls(data=encode_json(obj)))

    def destroy(self, node) -> None:
        """Destroy the underlying publisher (a lifecycle node's cleanup)."""
        node.destroy_publisher(self._publisher)

    @property
    def topic(self) -> str:
        return self._publisher.topic_name

    @property
    def matched_subscriptions(self) -> int:
        """Subscriptions DDS has matched to this publisher: only these receive what is published now.

        The graph (``Node.count_subscribers``) learns of a subscriber before the endpoints match;
        a message published in between is lost to it.
        """
        return self._publisher.get_subscription_count()

    def all_subscribers_matched(self, node) -> bool:
        """Return True when at least one subscriber exists and every one the graph knows is matched."""
        known = node.count_subscribers(self.topic)
        return known >= 1 and self.matched_subscriptions >= known


def create_typed_subscription(node, kind: str, topic: str, callback: Callable, qos, transport: str = "auto",
                              callback_group=None):
    """Subscribe to domain objects of ``kind``; malformed messages are logged and dropped, never passed on."""
    transport = resolve_transport(transport)
    log = node.get_logger()

    if transport == "ros":
        msg_cls = generated_type(kind)

        def decode(msg):
            return from_wire(kind, ros_to_wire(msg))
    else:
        from std_msgs.msg import String as msg_cls

        def decode(msg):
            return decode_json(kind, msg.data)

    def receive(msg):
        try:
            obj = decode(msg)
        except MessageError as exc:
            log.error(f"rejected malformed {kind} on {topic}: {exc}")
            return
        callback(obj)

    return node.create_subscription(msg_cls, topic, receive, qos, callback_group=callback_group)
