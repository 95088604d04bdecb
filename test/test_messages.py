"""The JSON transport carries exactly the fields of msg/*.msg, and malformed messages are rejected."""

import json
import math
from pathlib import Path

import pytest
from rosidl_adapter.parser import parse_message_file

from shadowpeft_ros.messages import (MessageError, MotionCommand, PlanOutcome, VoiceCommand, decode_json,
                                     encode_json, from_wire, to_wire)
from shadowpeft_ros.plan import Move, Plan, Posture, Stop, Trick, Turn, Wait

MSG_DIR = Path(__file__).resolve().parent.parent / "msg"

# JSON value types that each primitive .msg type may travel as.
PRIMITIVE_JSON_TYPES = {
    "string": (str,),
    "bool": (bool,),
    "float32": (float,),
    "float64": (float, type(None)),  # NaN ("not said") travels as null
    "int32": (int,),
    "uint32": (int,),
}


def _check_against_msg(wire, msg_name):
    spec = parse_message_file("shadowpeft_ros", str(MSG_DIR / f"{msg_name}.msg"))
    names = [f.name for f in spec.fields]
    assert list(wire) == names, f"{msg_name}: JSON fields {list(wire)} differ from .msg fields {names}"
    for f in spec.fields:
        value = wire[f.name]
        if f.type.is_array:
            assert isinstance(value, list), f"{msg_name}.{f.name} must be a list"
            for item in value:
                _check_nested(item, f.type, f"{msg_name}.{f.name}")
        elif f.type.is_primitive_type():
            assert isinstance(value, PRIMITIVE_JSON_TYPES[f.type.type]), f"{msg_name}.{f.name}: {value!r}"
        else:
            _check_nested(value, f.type, f"{msg_name}.{f.name}")


def _check_nested(value, field_type, where):
    if field_type.pkg_name == "builtin_interfaces" and field_type.type == "Time":
        assert set(value) == {"sec", "nanosec"}, where
        assert all(isinstance(v, int) for v in value.values()), where
    else:
        assert field_type.pkg_name == "shadowpeft_ros", where
        _check_against_msg(value, field_type.type)


PLAN = Plan(route="local", actions=(
    Move("forward", 2.0, None), Turn("left", 90.0), Posture("sit"), Trick("wave"), Wait(1.5), Stop()), say="ok")


@pytest.mark.parametrize("obj,msg_name", [
    (VoiceCommand(text="walk forward", speech_start=10.25, speech_end=11.5, transcript_ready=12.0), "VoiceCommand"),
    (MotionCommand(plan=PLAN, text="walk", latencies={"asr": 0.5, "interpreter": 0.3}, speech_end=3.5),
     "MotionCommand"),
    (PlanOutcome(command_id="abc", outcome="done"), "PlanOutcome"),
])
def test_json_transport_fields_match_msg_files(obj, msg_name):
    _check_against_msg(to_wire(obj), msg_name)
    # Every action type must fit the same MotionAction fields.
    if isinstance(obj, MotionCommand):
        assert {a["type"] for a in to_wire(obj)["actions"]} == {"move", "turn", "posture", "trick", "wait", "stop"}


def test_every_msg_file_is_covered():
    covered = {"VoiceCommand", "MotionCommand", "PlanOutcome", "MotionAction", "StageLatency"}
    assert {p.stem for p in MSG_DIR.glob("*.msg")} == covered


@pytest.mark.parametrize("obj", [
    VoiceCommand(text="hey dog sit", confidence=0.8125, is_stop=False, speech_start=1.5, speech_end=2.25,
                 transcript_ready=3.0, source="file:/tmp/a.wav"),
    MotionCommand(plan=PLAN, text="x", latencies={"asr": 0.25}, speech_end=5.5),
    PlanOutcome(command_id="c1", outcome="refused", reason="speed over the limit", stamp=7.5),
])
def test_round_trip(obj):
    kind = type(obj).__name__
    assert decode_json(kind, encode_json(obj)) == obj


def test_null_numbers_survive_as_null():
    cmd = MotionCommand(plan=Plan(actions=(Move("forward"), Turn("right"))))
    text = encode_json(cmd)
    assert "NaN" not in text
    back = decode_json("MotionCommand", text)
    assert back.plan.actions[0].distance_m is None and back.plan.actions[1].angle_deg is None


def _wire(obj):
    return json.loads(encode_json(obj))


@pytest.mark.parametrize("mutate,match", [
    (lambda w: "not json {", "not valid JSON"),
    (lambda w: json.dumps([1, 2]), "JSON object"),
    (lambda w: json.dumps({**w, "extra": 1}), "unknown"),
    (lambda w: json.dumps({k: v for k, v in w.items() if k != "route"}), "missing"),
    (lambda w: json.dumps({**w, "route": 7}), "wrong type"),
    (lambda w: json.dumps({**w, "actions": [{"type": "fly", "direction": "", "name": "", "distance_m": None,
                                             "speed_mps": None, "angle_deg": None, "duration_s": None}]}),
     "invalid plan"),
    (lambda w: json.dumps({**w, "actions": [{**w["actions"][0], "distance_m": -3.0}]}), "invalid plan"),
    (lambda w: json.dumps({**w, "speech_end": 12.5}), "speech_end has the wrong type"),
    (lambda w: json.dumps({**w, "speech_end": {"sec": 1}}), "sec and nanosec"),
])
def test_malformed_motion_command_is_rejected(mutate, match):
    wire = _wire(MotionCommand(plan=Plan(actions=(Move("forward", 1.0),))))
    with pytest.raises(MessageError, match=match):
        decode_json("MotionCommand", mutate(wire))


def test_bool_is_not_a_number():
    wire = _wire(VoiceCommand(text="sit"))
    wire["confidence"] = True
    with pytest.raises(MessageError, match="confidence"):
        decode_json("VoiceCommand", json.dumps(wire))


def test_stamps_keep_sub_second_precision():
    back = decode_json("VoiceCommand", encode_json(VoiceCommand(text="x", speech_end=1732790000.123456)))
    assert math.isclose(back.speech_end, 1732790000.123456, abs_tol=1e-6)


# -- the colcon-generated classes (transport "ros"), checked in a process with the install's environment

PROBE = Path(__file__).with_name("ros_probe.py")
# rosidl's name for each .msg primitive, as get_fields_and_field_types() spells it.
ROSIDL_TYPE_NAMES = {"string": "string", "bool": "boolean", "float32": "float", "float64": "double",
                     "int32": "int32", "uint32": "uint32"}


def _msg_type_name(field_type) -> str:
    if field_type.is_primitive_type():
        name = ROSIDL_TYPE_NAMES[field_type.type]
    else:
        name = f"{field_type.pkg_name}/{field_type.type}"
    return f"sequence<{name}>" if field_type.is_array else name


def _run_probe(ros_install, request):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, str(PROBE)], input=json.dumps(request), env=ros_install,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


SAMPLES = {
    "VoiceCommand": VoiceCommand(text="hey dog sit", confidence=0.8125, low_confidence=True, is_stop=True,
                                 speech_start=1.5, speech_end=2.25, transcript_ready=3.0, source="file:/tmp/a.wav"),
    "MotionCommand": MotionCommand(plan=PLAN, text="walk", latencies={"asr": 0.5, "interpreter": 0.25},
                                   speech_end=1732790000.5),
    "PlanOutcome": PlanOutcome(command_id="c1", outcome="refused", reason="speed over the limit", stamp=7.5),
}


def test_generated_classes_match_the_json_mapping_field_by_field(ros_install):
    result = _run_probe(ros_install, {"mode": "fields", "wires": {k: [to_wire(v)] for k, v in SAMPLES.items()}})
    assert ".colcon" in result["module"] or "install" in result["module"], result["module"]
    classes = result["classes"]
    for path in sorted(MSG_DIR.glob("*.msg")):
        spec = parse_message_file("shadowpeft_ros", str(path))
        expected = {f.name: _msg_type_name(f.type) for f in spec.fields}
        # Same names, same order, same types as the .msg file.
        assert list(classes[path.stem].items()) == list(expected.items()), path.stem
    for kind, obj in SAMPLES.items():
        wire = to_wire(obj)
        assert list(classes[kind]) == list(wire), f"{kind}: generated fields differ from the JSON mapping"
        (back,) = result["round_trips"][kind]
        # Through the generated class and its C serialisation: every JSON field survives unchanged,
        # except float32 confidence (exactly representable here) and NaN for "not said".
        if kind == "MotionCommand":
            for sent, got in zip(wire["actions"], back["actions"]):
                for key, value in sent.items():
                    if value is None:
                        assert math.isnan(got[key]), (kind, key)
                        got[key] = None
        assert back == wire, kind
        assert from_wire(kind, back) == obj if kind != "MotionCommand" else from_wire(kind, back).plan == obj.plan
