"""Compact text form: round trip with plans, and strict rejection of anything malformed."""

import pytest

from shadowpeft_ros.interpreter.compact import format_compact, format_number, parse_compact
from shadowpeft_ros.interpreter.data import generate
from shadowpeft_ros.plan import REMOTE_MARKER, Move, Plan, PlanError, Posture, Stop, Trick, Turn, Wait
from shadowpeft_ros.safety import MotionDefaults


def test_round_trip_of_generated_targets():
    # Targets keep the user's units ("60 cm"); their plans round-trip through the metric form.
    for example in generate("train", 400, seed=3) + generate("dev", 200, seed=3):
        for target in (example.attached, example.detached):
            plan = parse_compact(target)
            assert parse_compact(format_compact(plan)) == plan


def test_units_and_speed_words_are_converted_by_the_parser():
    defaults = MotionDefaults()
    assert parse_compact("move forward 6 ft").actions == (Move("forward", 1.8288),)
    assert parse_compact("move left 40 cm 0.2 m/s").actions == (Move("left", 0.4, 0.2),)
    assert parse_compact("move backward 2 yd slow").actions == (Move("backward", 1.8288, defaults.slow_speed_mps),)
    assert parse_compact("move right _ fast").actions == (Move("right", None, defaults.fast_speed_mps),)
    assert parse_compact("move forward 10 in").actions == (Move("forward", 0.254),)
    assert parse_compact("wait 0.5 min ; wait 3 s ; wait 2").actions == (Wait(30.0), Wait(3.0), Wait(2.0))
    assert parse_compact("turn left 45 deg").actions == (Turn("left", 45.0),)
    custom = MotionDefaults(slow_speed_mps=0.1, speed_mps=0.25, fast_speed_mps=0.4)
    assert parse_compact("move forward 1 m slow", defaults=custom).actions == (Move("forward", 1.0, 0.1),)


def test_every_action_kind_round_trips():
    plan = Plan(actions=(
        Move("forward", 2.0), Move("backward", None, 0.15), Move("left", 0.9144, 0.45), Move("right"),
        Turn("left", 90.0), Turn("right"), Posture("lie_down"), Posture("sit"), Trick("spin"), Stop(), Wait(2.5),
    ), say="on my way")
    text = format_compact(plan)
    assert text == ("move forward 2 m ; move backward _ 0.15 ; move left 0.9144 m 0.45 ; move right ; turn left 90 ; "
                    "turn right ; lie_down ; sit ; spin ; stop ; wait 2.5 s ; say: on my way")
    assert parse_compact(text) == plan
    assert parse_compact(text, route="remote").route == "remote"


def test_escalation_and_answers():
    assert parse_compact(REMOTE_MARKER).is_escalation
    assert format_compact(Plan.escalation()) == REMOTE_MARKER
    answer = parse_compact("say: Paris is the capital of France.")
    assert answer.actions == () and answer.say == "Paris is the capital of France."


def test_a_held_action_right_after_itself_is_written_once():
    assert parse_compact("stop ; stop").actions == (Stop(),)
    assert parse_compact("sit ; sit ; turn left ; sit").actions == (Posture("sit"), Turn("left"), Posture("sit"))
    # Tricks and moves are not states: twice is twice.
    assert parse_compact("spin ; spin").actions == (Trick("spin"), Trick("spin"))
    assert len(parse_compact("move forward 1 ; move forward 1").actions) == 2


def test_format_number():
    assert [format_number(x) for x in (2.0, 0.5, 0.91440001, 180.0)] == ["2", "0.5", "0.9144", "180"]


@pytest.mark.parametrize("text", [
    "", "   ", "move", "move up 2", "move forward two", "move forward -2", "move forward 2 0.3 1",
    "turn left 90 12", "turn forward 90", "turn around", "jump", "sit down", "sit 2", "wait", "wait _",
    "wait 1e3", "move forward 2;sit", "move forward 2 ;  sit", "move forward 0", "stop ; say:", "say:",
    "sit say: hi", "[REMOTE] ; sit", "move forward 2\nsit", "move forward nan", "move forward inf", "dance ; ",
    "move forward 2 ; ; sit", '{"route": "local", "actions": [], "say": ""}',
    "move forward 2 ft ft", "move forward _ ft", "move forward 2 m slow 3", "wait 2 m", "turn left 90 ft",
    "move forward 2 m/s", "wait min", "move forward 2 km", "move forward slow", "turn left 90 s", "wait 2 s s",
])
def test_malformed_is_rejected(text):
    with pytest.raises(PlanError):
        parse_compact(text)
