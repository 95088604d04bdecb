"""The one mapping between the pipeline's domain objects and their wire form (ROS-free).

The wire form is a dict whose keys and nesting are exactly the fields of ``msg/*.msg`` (checked by
``test/test_messages.py`` against the parsed ``.msg`` files), so both transports of
``nodes/transport.py`` carry it: the colcon-generated types, or the same dict as one JSON object
in a ``std_msgs/String`` where those types cannot be built (a plain pip install). NaN numbers of
the ``.msg`` form are ``null`` in JSON and ``None`` here.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from .plan import ACTION_FIELDS, Plan, PlanError, parse_plan

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
