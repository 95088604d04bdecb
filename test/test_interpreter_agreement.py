"""A plan must account for the quantities that were said: dropped steps and invented values are caught.

The cases below are the failures measured in the evaluation (docs/results) and on the dev split,
and the traps of the check itself: units said one way and planned another, turn angles nobody
says, bare numbers that are no quantity, and "in" as a word.
"""

import pytest

from shadowpeft_ros.interpreter.agreement import agrees, disagreement, plan_quantities
from shadowpeft_ros.interpreter.compact import parse_compact
from shadowpeft_ros.policy import SAY_QUANTITIES, SAY_STOP_SAID, stop_doubt
from test_interpreter_policy import ScriptedEngine, make


def test_plan_quantities_reads_every_slot_and_skips_words_and_answers():
    assert plan_quantities("move forward 6 ft 0.3 ; turn left 90 ; wait 2 min") == [
        ("distance", 6.0, "ft"), ("speed", 0.3, "m/s"), ("angle", 90.0, "deg"), ("duration", 2.0, "min")]
    assert plan_quantities("move forward 2 fast ; turn right ; sit") == [("distance", 2.0, "m")]
    assert plan_quantities("move left _ 0.2 ; wait 3") == [("speed", 0.2, "m/s"), ("duration", 3.0, "s")]
    assert plan_quantities("wave ; say: I am 3 years old") == []
    assert plan_quantities("[REMOTE]") == [] and plan_quantities("say: 19 plus 10 is 29.") == []


@pytest.mark.parametrize("text, compact, why", [
    # Measured: the detached model dropped the turn of a three-step command at high confidence.
    ("Stroll forward 1.5 meters, veer right ninety degrees, stroll forward 1.5 meters.", "move forward 1.5 m",
     "the said 90 deg is in no action"),
    ("Scoot left two feet, pause three seconds, and scoot right two feet.", "move left 2 ft ; move right 2 ft",
     "the said 3 s is in no action"),
    ("Back away half a meter then give me a wave with your paw.", "wave ; wave", "the said 0.5 m is in no action"),
    # Measured (attached, generation 5): the last step of a square's three sides dropped, at confidence 0.98.
    ("Stroll forward 1.5 meters, veer right ninety degrees, stroll forward 1.5 meters.",
     "move forward 1.5 m ; turn right 90", "the 1.5 m said 2 times is in 1 action"),
    ("Scoot left two feet, pause three seconds, and scoot right two feet.", "move left 2 ft ; wait 3 s",
     "the 2 ft said 2 times is in 1 action"),
    # Measured: a speed nobody said.
    ("Race forward, speed five metres a second.", "move forward _ 0.1", "the plan's speed 0.1 m/s was not said"),
    ("walk forward two meters", "move forward 3 m", "the plan's distance 3 m was not said"),
    # A number in the wrong slot: three seconds is no distance.
    ("wait three seconds then walk", "move forward 3", "the plan's distance 3 m was not said"),
    ("turn left", "turn left 37", "the plan's angle 37 deg was not said"),
])
def test_dropped_and_invented_quantities_are_named(text, compact, why):
    assert disagreement(text, compact) == why and not agrees(text, compact)


@pytest.mark.parametrize("text, compact", [
    ("walk forward two and a half meters, then turn left and sit", "move forward 2.5 m ; turn left ; sit"),
    ("walk forward 50 centimeters", "move forward 0.5 m"),  # the same length in another unit
    ("go six feet", "move forward 1.8288"),  # converted to metres, the parser's default unit
    ("turn around", "turn left 180"),  # an angle nobody says
    ("do a quarter turn to the right", "turn right 90"),
    ("go 4 then wait 4", "move forward 4 ; wait 4 s"),  # a bare number fits any slot
    ("turn 90 in place", "turn left 90"),  # "in" is a word here, not inches
    ("turn two face behind you", "turn left 180"),  # a bare number need not be used: "to" heard as "two"
    ("spin 3 times", "spin ; spin ; spin"),
    ("walk 2 meters, turn left, walk 2 meters, turn left", "move forward 2 m ; turn left ; move forward 2 m ; turn left"),
    ("go 50 cm forward and half a meter back", "move forward 50 cm ; move backward 0.5 m"),
    ("hurry forward 2 meters at 0.4 meters per second", "move forward 2 m 0.4"),
    ("sit down", "sit"),
    ("what is 19 plus 10", "say: 19 plus 10 is 29."),  # an answer moves nothing: nothing to check
    ("tell me a joke", "[REMOTE]"),
])
def test_plans_that_account_for_what_was_said_agree(text, compact):
    parse_compact(compact)
    assert disagreement(text, compact) == ""


def test_a_confident_local_plan_that_drops_a_said_quantity_is_escalated():
    text = "stroll forward 1.5 meters, veer right ninety degrees, stroll forward 1.5 meters"
    local = ScriptedEngine("detached", "local", {text: ("move forward 1.5 m", 0.99)})
    remote = ScriptedEngine("attached", "remote", {text: ("move forward 1.5 m ; turn right 90 ; move forward 1.5 m",
                                                          0.9)})
    result = make(detached=local, attached=remote).interpret(text)
    assert result.decision == "remote" and result.escalated and len(result.plan.actions) == 3
    assert "quantities disagree: the said 90 deg is in no action" in result.reason
    # Detached mode has nobody to ask: it refuses, saying why, and moves nothing.
    alone = make(mode="detached", detached=local).interpret(text)
    assert alone.decision == "refused:quantities" and not alone.plan.actions and alone.plan.say == SAY_QUANTITIES
    # Not even as the low-confidence fallback when the server fails: the plan is wrong, not unsure.
    fallback = make(detached=local, fallback_to_low_confidence=True).interpret(text)
    assert fallback.decision == "refused:quantities" and not fallback.plan.actions


def test_a_remote_plan_with_an_invented_value_is_refused_and_the_check_can_be_turned_off():
    text = "race forward, speed five metres a second"
    local = ScriptedEngine("detached", "local", {text: ("move forward _ 0.1", 0.5)})
    remote = ScriptedEngine("attached", "remote", {text: ("move forward _ 0.1", 0.9)})
    result = make(detached=local, attached=remote).interpret(text)
    assert result.decision == "refused:quantities" and not result.plan.actions and result.route == "remote"
    assert "0.1 m/s was not said" in result.reason
    unchecked = make(detached=local, attached=remote, check_quantities=False).interpret(text)
    assert unchecked.decision == "remote" and unchecked.plan.actions[0].speed_mps == 0.1


def test_remote_first_falls_back_on_board_when_the_server_plan_disagrees():
    text = "walk forward two meters then wait three seconds"
    local = ScriptedEngine("detached", "local", {text: ("move forward 2 m ; wait 3 s", 0.95)})
    remote = ScriptedEngine("attached", "remote", {text: ("move forward 2 m", 0.9)})
    result = make(mode="remote_first", detached=local, attached=remote).interpret(text)
    assert result.decision == "fallback_local" and len(result.plan.actions) == 2
    assert "the said 3 s is in no action" in result.reason


def test_a_plan_that_moves_after_a_stop_word_is_never_run():
    text = "Cut it out, stay where you are."
    # Measured (generation 5): the attached model planned a dance, the detached one too.
    remote = ScriptedEngine("attached", "remote", {text: ("dance", 0.64)})
    local = ScriptedEngine("detached", "local", {text: ("dance", 0.93)})
    # The dance is refused, and the dog stops: a refusal alone would leave a running plan going.
    stop_only = [{"type": "stop"}]
    attached = make(mode="attached", attached=remote).interpret(text)
    assert attached.decision == "refused:stop_said" and attached.plan.to_dict()["actions"] == stop_only
    assert attached.plan.say == SAY_STOP_SAID and "'stay' was said" in attached.reason
    # On board it is escalated like any doubted plan, and the server's stop is acted on.
    stopping = ScriptedEngine("attached", "remote", {text: ("stop", 0.9)})
    auto = make(detached=local, attached=stopping).interpret(text)
    assert auto.decision == "remote" and auto.escalated and auto.plan.to_dict()["actions"] == [{"type": "stop"}]
    alone = make(mode="detached", detached=local).interpret(text)
    assert alone.decision == "refused:stop_said" and alone.plan.to_dict()["actions"] == stop_only
    fallback = make(detached=local, fallback_to_low_confidence=True).interpret(text)
    assert fallback.decision == "refused:stop_said" and fallback.plan.to_dict()["actions"] == stop_only
    # Other doubted plans still only speak.
    doubted = make(mode="attached", attached=ScriptedEngine("attached", "remote", {
        "walk two meters then sit": ("move forward 5 m ; sit", 0.9)})).interpret("walk two meters then sit")
    assert doubted.decision == "refused:quantities" and not doubted.plan.actions


@pytest.mark.parametrize("text, compact", [
    ("stay put for two seconds, then turn left", "wait 2 s ; turn left"),
    ("walk forward and stop at the door", "move forward ; stop"),
    ("sit and stay", "sit"),  # a posture does not travel
    ("stay there and wave", "wave"),
    ("walk forward two meters", "move forward 2 m"),  # no stop word
])
def test_stop_words_in_commands_that_mean_them_pass(text, compact):
    plan = parse_compact(compact)
    answer = type("Answer", (), {"plan": plan})()
    assert stop_doubt(text, answer) == ""
    local = ScriptedEngine("detached", "local", {text: (compact, 0.95)})
    assert make(mode="detached", detached=local).interpret(text).decision == "local"


def test_a_stop_said_in_several_words_stops_the_dog_and_doubts_a_moving_plan():
    # Measured (generation 8): the detached shadow planned a dance for this at 0.79, the attached model `stand`.
    local = ScriptedEngine("detached", "local", {})
    bare = make(detached=local).interpret("Emergency, don't move.")
    assert bare.decision == "stop" and local.calls == []  # a stop on its own: no model asked
    text = "don't move, the cat is behind you"
    doubted = make(mode="detached", detached=ScriptedEngine("detached", "local", {text: ("dance", 0.95)})).interpret(text)
    assert doubted.decision == "refused:stop_said" and doubted.plan.to_dict()["actions"] == [{"type": "stop"}]
    assert "\"don't move\" was said" in doubted.reason
    # The check errs on the side of not moving: a phrase that negates one direction is doubted too.
    assert stop_doubt("don't move forward, move back a meter", type("A", (), {"plan": parse_compact("move backward 1 m")})())


@pytest.mark.parametrize("text, compact, doubted", [
    # Measured (generation 8, benchmarks/bench_plain_commands.py): the turn dropped, on board at 1.00.
    ("turn right, walk forward three meters, then wave", "move forward 3 m ; wave", "'right'"),
    ("turn right, walk forward three meters, then wave", "turn right ; move forward 3 m ; wave", ""),
    ("go left a bit and then sit", "sit", "'left'"),
    ("step to your right then turn left", "move right ; turn left", ""),
    # "right" and "left" that name no way to go.
    ("sit down right away", "sit", ""),
    ("all right, walk forward two meters", "move forward 2 m", ""),
    ("Right, lie down.", "lie_down", ""),
    ("right then, walk forward", "move forward", ""),
    ("turn a right angle to the left", "turn left 90", ""),
    ("wave with your left paw", "wave", ""),
    ("spin to the right", "spin", ""),  # a spin has no side in the language
    ("walk forward with what you have left", "move forward", ""),
    ("what is left of the day?", "say: Plenty.", ""),  # answers are not checked
])
def test_a_plan_that_leaves_out_a_side_said_is_doubted(text, compact, doubted):
    from shadowpeft_ros.interpreter.agreement import missing_side

    why = missing_side(text, compact)
    assert (doubted in why and why != "") if doubted else why == ""


def test_a_dropped_side_is_escalated_on_board_and_refused_from_the_server():
    from shadowpeft_ros.policy import SAY_SIDES

    text = "turn right, walk forward three meters, then wave"
    local = ScriptedEngine("detached", "local", {text: ("move forward 3 m ; wave", 1.0)})
    remote = ScriptedEngine("attached", "remote", {text: ("turn right ; move forward 3 m ; wave", 0.9)})
    auto = make(detached=local, attached=remote).interpret(text)
    assert auto.decision == "remote" and "'right' is in no move or turn" in auto.reason
    dropped = ScriptedEngine("attached", "remote", {text: ("move forward 3 m ; wave", 0.9)})
    refused = make(mode="attached", attached=dropped).interpret(text)
    assert refused.decision == "refused:sides" and refused.plan.say == SAY_SIDES and not refused.plan.actions
    unchecked = make(mode="attached", attached=dropped, check_sides=False).interpret(text)
    assert unchecked.decision == "remote"


@pytest.mark.parametrize("compact, held", [
    ("stand ; stand", "stand"),  # measured: "Get back on your feet and limber up."
    ("dance ; lie_down ; lie_down", "lie_down"),
    ("stop ; stop", "stop"),
    ("sit ; stand ; sit", ""),  # back and forth is no repeat
    ("spin ; spin", ""),  # two spins are two spins
    ("move forward 1 m ; move forward 1 m", ""),
    ("say: stand stand", ""),
    ("[REMOTE]", ""),
])
def test_a_held_posture_written_twice_in_a_row_is_found(compact, held):
    from shadowpeft_ros.interpreter.agreement import repeated_hold

    assert repeated_hold(compact) == held


def test_a_repeated_posture_is_escalated_on_board_and_refused_from_the_server_but_a_repeated_stop_stops():
    from shadowpeft_ros.policy import SAY_REPEATED

    text = "Get back on your feet and limber up."
    local = ScriptedEngine("detached", "local", {text: ("stand ; stand", 0.97)})
    remote = ScriptedEngine("attached", "remote", {text: ("stand ; stretch", 0.9)})
    auto = make(detached=local, attached=remote).interpret(text)
    assert auto.decision == "remote" and auto.escalated and "'stand' twice in a row" in auto.reason
    assert [a.name for a in auto.plan.actions] == ["stand", "stretch"]
    alone = make(mode="detached", detached=local).interpret(text)
    assert alone.decision == "refused:repeated" and not alone.plan.actions and alone.plan.say == SAY_REPEATED
    stuck = ScriptedEngine("attached", "remote", {text: ("stand ; stand", 0.9)})
    refused = make(mode="attached", attached=stuck).interpret(text)
    assert refused.decision == "refused:repeated" and not refused.plan.actions and refused.plan.say == SAY_REPEATED
    # Stopping twice is stopping: the plan is one stop, acted on from either model.
    cut = "Cut it out, stay where you are."
    stops = ScriptedEngine("attached", "remote", {cut: ("stop ; stop", 0.8)})
    stopped = make(mode="attached", attached=stops).interpret(cut)
    assert stopped.decision == "remote" and [a.type for a in stopped.plan.actions] == ["stop"]
    on_board = ScriptedEngine("detached", "local", {cut: ("stop ; stop", 0.95)})
    assert make(detached=on_board, attached=stuck).interpret(cut).decision == "local"
