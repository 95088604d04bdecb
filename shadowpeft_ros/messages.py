"""The one mapping between the pipeline's domain objects and the wire: generated ROS messages or JSON.

On a colcon-built ROS 2 install the types generated from ``msg/`` travel on the topics.
On a plain pip install they cannot be built, so the same fields travel as one JSON object
in a ``std_msgs/String``. Both transports share one wire form: a dict whose keys and nesting
are exactly the ``.msg`` fields (checked by ``test/test_messages.py`` against the parsed
``.msg`` files). NaN numbers of the ``.msg`` form are ``null`` in JSON and ``None`` here.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional

from .plan import ACTION_FIELDS, Plan, PlanError, parse_plan

logger = logging.getLogger("shadowpeft_ros")

TRANSPORTS = ("auto", "ros", "json")
OUTCOMES = ("accepted", "done", "stopped", "refused", "failed")


class MessageError(ValueError):
    """A message on a topic does not match its contract; it is rejected, never acted on."""


def new_command_id() -> str:
    """Return a fresh id that follows one command from microphone to motors."""
    return uuid.uuid4().hex[:16]


@dataclass
class VoiceCommand:
    """One accepted utterance. Stamps are wall-clock seconds since the epoch; 0 means unknown."""

    text: str
    command_id: str = field(default_factory=new_command_id)
    confidence: float = 1.0
    low_confidence: bool = False
    language: str = "en"
    source: str = "text"
    is_stop: bool = False
    speech_start: float = 0.0
    speech_end: float = 0.0
    transcript_ready: float = 0.0


@dataclass
class MotionCommand:
    """A validated plan for the motion node, with the latencies of the stages that made it."""

    plan: Plan
    command_id: str = field(default_factory=new_command_id)
    text: str = ""
    latencies: Dict[str, float] = field(default_factory=dict)
    speech_end: float = 0.0


@dataclass
class PlanOutcome:
    """What became of a command: accepted, done, stopped, refused or failed, and why."""

    command_id: str
    outcome: str
    reason: str = ""
    stamp: float = field(default_factory=time.time)

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise MessageError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")


# ---------------------------------------------------------------------------------------------
# Domain object <-> wire dict (the .msg fields)


def _stamp_to_wire(seconds: float) -> dict:
    sec = int(math.floor(seconds))
    return {"sec": sec, "nanosec": int(round((seconds - sec) * 1e9)) % 1_000_000_000}


def _stamp_from_wire(value: Any, where: str) -> float:
    if not isinstance(value, Mapping) or set(value) != {"sec", "nanosec"}:
        raise MessageError(f"{where} must be an object with sec and nanosec, got {value!r}")
    sec, nanosec = value["sec"], value["nanosec"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sec, nanosec)):
        raise MessageError(f"{where} sec and nanosec must be integers")
    return sec + nanosec * 1e-9


def _opt_number(value: Optional[float]) -> Optional[float]:
    return None if value is None else float(value)


def _action_to_wire(action) -> dict:
    return {
        "type": action.type,
        "direction": getattr(action, "direction", ""),
        "name": getattr(action, "name", ""),
        "distance_m": _opt_number(getattr(action, "distance_m", None)),
        "speed_mps": _opt_number(getattr(action, "speed_mps", None)),
        "angle_deg": _opt_number(getattr(action, "angle_deg", None)),
        "duration_s": _opt_number(getattr(action, "duration_s", None)),
    }


def _action_from_wire(value: Any) -> dict:
    """Turn a MotionAction wire dict into a v1 action object, which parse_plan then validates."""
    if not isinstance(value, Mapping):
        raise MessageError(f"an action must be an object, got {value!r}")
    kind = value.get("type")
    keys = ACTION_FIELDS.get(kind, ())
    out = {"type": kind}
    for key in keys:
        item = value.get(key)
        if isinstance(item, float) and math.isnan(item):
            item = None
        out[key] = item
    return out


def to_wire(obj) -> dict:
    """Return the wire dict of a VoiceCommand, MotionCommand or PlanOutcome."""
    if isinstance(obj, VoiceCommand):
        return {
            "command_id": obj.command_id,
            "text": obj.text,
            "confidence": float(obj.confidence),
            "low_confidence": bool(obj.low_confidence),
            "language": obj.language,
            "source": obj.source,
            "is_stop": bool(obj.is_stop),
            "speech_start": _stamp_to_wire(obj.speech_start),
            "speech_end": _stamp_to_wire(obj.speech_end),
            "transcript_ready": _stamp_to_wire(obj.transcript_ready),
        }
    if isinstance(obj, MotionCommand):
        return {
            "command_id": obj.command_id,
            "text": obj.text,
            "route": obj.plan.route,
            "actions": [_action_to_wire(a) for a in obj.plan.actions],
            "say": obj.plan.say,
            "latencies": [{"stage": k, "seconds": float(v)} for k, v in obj.latencies.items()],
            "speech_end": _stamp_to_wire(obj.speech_end),
        }
    if isinstance(obj, PlanOutcome):
        return {
            "command_id": obj.command_id,
            "outcome": obj.outcome,
            "reason": obj.reason,
            "stamp": _stamp_to_wire(obj.stamp),
        }
    raise TypeError(f"no wire form for {type(obj).__name__}")


def _require(data: Mapping, fields_and_types: Mapping[str, type], kind: str) -> None:
    if not isinstance(data, Mapping):
        raise MessageError(f"{kind} must be a JSON object, got {type(data).__name__}")
    missing = sorted(set(fields_and_types) - set(data))
    extra = sorted(set(data) - set(fields_and_types))
    if missing or extra:
        raise MessageError(f"{kind} fields differ from the contract: missing {missing}, unknown {extra}")
    for key, expected in fields_and_types.items():
        value = data[key]
        ok = isinstance(value, expected) and not (expected in ((int, float), int) and isinstance(value, bool))
        if not ok:
            raise MessageError(f"{kind}.{key} has the wrong type {type(value).__name__}")


def from_wire(kind: str, data: Mapping):
    """Build a domain object of ``kind`` from its wire dict, raising MessageError on any mismatch."""
    if kind == "VoiceCommand":
        _require(data, {"command_id": str, "text": str, "confidence": (int, float), "low_confidence": bool,
                        "language": str, "source": str, "is_stop": bool, "speech_start": Mapping,
                        "speech_end": Mapping, "transcript_ready": Mapping}, kind)
        return VoiceCommand(
            text=data["text"], command_id=data["command_id"], confidence=float(data["confidence"]),
            low_confidence=data["low_confidence"], language=data["language"], source=data["source"],
            is_stop=data["is_stop"], speech_start=_stamp_from_wire(data["speech_start"], "speech_start"),
            speech_end=_stamp_from_wire(data["speech_end"], "speech_end"),
            transcript_ready=_stamp_from_wire(data["transcript_ready"], "transcript_ready"),
        )
    if kind == "MotionCommand":
        _require(data, {"command_id": str, "text": str, "route": str, "actions": list, "say": str,
                        "latencies": list, "speech_end": Mapping}, kind)
        try:
            plan = parse_plan({"route": data["route"], "say": data["say"],
                               "actions": [_action_from_wire(a) for a in data["actions"]]})
        except PlanError as exc:
            raise MessageError(f"MotionCommand carries an invalid plan: {exc}") from None
        latencies = {}
        for item in data["latencies"]:
            if not (isinstance(item, Mapping) and isinstance(item.get("stage"), str)
                    and isinstance(item.get("seconds"), (int, float)) and not isinstance(item.get("seconds"), bool)):
                raise MessageError(f"MotionCommand.latencies entries need stage and seconds, got {item!r}")
            latencies[item["stage"]] = float(item["seconds"])
        return MotionCommand(plan=plan, command_id=data["command_id"], text=data["text"], latencies=latencies,
                             speech_end=_stamp_from_wire(data["speech_end"], "speech_end"))
    if kind == "PlanOutcome":
        _require(data, {"command_id": str, "outcome": str, "reason": str, "stamp": Mapping}, kind)
        return PlanOutcome(command_id=data["command_id"], outcome=data["outcome"], reason=data["reason"],
                           stamp=_stamp_from_wire(data["stamp"], "stamp"))
    raise MessageError(f"unknown message kind {kind!r}")


def encode_json(obj) -> str:
    """Return the JSON transport text of a domain object (NaN never appears: unknowns are null)."""
    return json.dumps(to_wire(obj), separators=(",", ":"), allow_nan=False)


def decode_json(kind: str, text: str):
    """Parse the JSON transport text of ``kind``, raising MessageError on malformed input."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise MessageError(f"{kind} is not valid JSON: {exc}") from None
    return from_wire(kind, data)


# ---------------------------------------------------------------------------------------------
# Wire dict <-> generated ROS message (only where colcon built msg/)

MESSAGE_KINDS = ("VoiceCommand", "MotionCommand", "PlanOutcome")


def generated_type(kind: str):
    """Return the colcon-generated message class for ``kind``, or None on a plain pip install."""
    try:
        return getattr(importlib.import_module("shadowpeft_ros.msg"), kind)
    except (ImportError, AttributeError):
        return None


def _wire_to_ros(value: Any, msg_cls):
    msg = msg_cls()
    for name, type_name in msg_cls.get_fields_and_field_types().items():
        item = value[name]
        if type_name == "builtin_interfaces/Time":
            from builtin_interfaces.msg import Time

            item = Time(sec=item["sec"], nanosec=item["nanosec"])
        elif type_name.startswith("sequence<") and "/" in type_name:
            inner = type_name[len("sequence<"):-1].split("/")[-1]
            inner_cls = getattr(importlib.import_module("shadowpeft_ros.msg"), inner)
            item = [_wire_to_ros(v, inner_cls) for v in item]
        elif type_name in ("double", "float") and item is None:
            item = math.nan
        setattr(msg, name, item)
    return msg


def _ros_to_wire(msg) -> dict:
    out = {}
    for name, type_name in msg.get_fields_and_field_types().items():
        item = getattr(msg, name)
        if type_name == "builtin_interfaces/Time":
            item = {"sec": item.sec, "nanosec": item.nanosec}
        elif type_name.startswith("sequence<") and "/" in type_name:
            item = [_ros_to_wire(v) for v in item]
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
            self._publisher.publish(_wire_to_ros(to_wire(obj), self._cls))
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
            return from_wire(kind, _ros_to_wire(msg))
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
