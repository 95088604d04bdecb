"""The command handler: what the interpreter node does with one voice command, tested without a ROS graph.

The node, `shadowpeft dog` and the evaluation all go through ``CommandHandler.handle``; these
tests hold its rules (replay, stop, ASR refusal, outcomes, failures) the way nav2's
nav2_simple_commander tests its pure modules: fast, in process, with real plans and the real policy.
"""

import pytest

from shadowpeft_ros.command_handler import CommandHandler, HandlerOptions
from shadowpeft_ros.interpreter.compact import parse_compact
from shadowpeft_ros.interpreter.engine import EngineResult
from shadowpeft_ros.interpreter.interpreter import Interpreter, InterpreterOptions
from shadowpeft_ros.messages import VoiceCommand
from shadowpeft_ros.plan import PlanError, parse_plan
from shadowpeft_ros.policy import SAY_NO_REMOTE, PolicyOptions


class TableEngine:
    """A detached-engine double: compact answers from a table, every call recorded."""

    name, route = "detached", "local"

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def plan(self, text, command_id=""):
        self.calls.append(text)
        raw, confidence = self.answers.get(text, ("[REMOTE]", 0.99))
        try:
            return EngineResult(parse_compact(raw, route="local"), raw, confidence, 0.001, self.name)
        except PlanError as exc:
            return EngineResult(None, raw, confidence, 0.001, self.name, str(exc))


def handler(answers=None, **options):
    engine = TableEngine(answers or {})
    interpreter = Interpreter(InterpreterOptions(), PolicyOptions(confidence_threshold=0.6), detached=engine)
    return CommandHandler(interpreter, HandlerOptions(**options)), engine


def voice(text, command_id, **fields):
    return VoiceCommand(text=text, command_id=command_id, **fields)


def test_a_confident_command_becomes_one_plan_with_its_id_text_and_latencies():
    h, engine = handler({"sit down please": ("sit", 0.9)})
    handled = h.handle(voice("sit down please", "c1", source="mic", speech_end=10.0, transcript_ready=10.4))
    assert handled.status == "planned" and handled.outcome is None and handled.say == ""
    motion = handled.motion
    assert (motion.command_id, motion.text, motion.speech_end) == ("c1", "sit down please", 10.0)
    assert [a.type for a in motion.plan.actions] == ["posture"] and motion.plan.route == "local"
    assert motion.latencies["asr"] == pytest.approx(0.4) and motion.latencies["interpreter"] >= 0
    assert parse_plan(motion.plan.to_json()) == motion.plan
    assert handled.decision.decision == "local" and engine.calls == ["sit down please"]


def test_a_replayed_command_id_is_dropped_and_never_decided_again():
    h, engine = handler({"sit": ("sit", 0.9)})
    assert h.handle(voice("sit", "same")).status == "planned"
    again = h.handle(voice("sit", "same"))
    assert again.status == "replayed" and again.motion is None and again.outcome is None
    assert engine.calls == ["sit"] and sum(h.interpreter.status()["decisions"].values()) == 1


def test_the_replay_window_is_bounded_and_forgets_the_oldest():
    h, engine = handler({"sit": ("sit", 0.9)}, dedup_window=2)
    for command_id in ("a", "b", "c"):
        h.handle(voice("sit", command_id))
    assert h.handle(voice("sit", "c")).status == "replayed"
    assert h.handle(voice("sit", "a")).status == "planned", "the oldest id has left the window"


def test_a_stop_needs_no_model_and_beats_a_low_asr_confidence():
    h, engine = handler(min_asr_confidence=0.8)
    flagged = h.handle(voice("walk forward three meters", "s1", is_stop=True, confidence=0.1))
    spoken = h.handle(voice("dog, stop now", "s2", confidence=0.95))
    for handled in (flagged, spoken):
        assert handled.status == "stop" and handled.plan.has_stop and handled.outcome is None
    assert engine.calls == []


def test_an_unsure_transcript_is_refused_with_a_question_and_moves_nothing():
    h, engine = handler({"sit": ("sit", 0.9)}, min_asr_confidence=0.5)
    handled = h.handle(voice("sit", "low", confidence=0.3, source="mic"))
    assert handled.status == "refused" and handled.refusal == "asr_confidence"
    assert handled.say == "Sorry, I did not catch that. Did you say: sit?"
    assert handled.plan.actions == () and handled.outcome.outcome == "refused"
    assert "0.30 below 0.5" in handled.outcome.reason and engine.calls == []


def test_an_answer_without_motion_ends_here_as_done_and_a_refusal_as_refused():
    h, _ = handler({"hello": ("say: Hello!", 0.9)})
    answered = h.handle(voice("hello", "q1"))
    assert answered.status == "answered" and answered.say == "Hello!" and answered.plan.actions == ()
    assert (answered.outcome.command_id, answered.outcome.outcome) == ("q1", "done")
    # No offload server: the detached model's escalation is refused, and the robot says why.
    escalated = h.handle(voice("what is the capital of France", "q2"))
    assert escalated.status == "refused" and escalated.say == SAY_NO_REMOTE
    assert escalated.outcome.outcome == "refused" and "no offload server" in escalated.outcome.reason
    assert sum(h.interpreter.status()["decisions"].values()) == 2


def test_an_interpreter_that_raises_refuses_the_command_and_the_next_one_still_works():
    class Exploding:
        def __init__(self):
            self.fail = True

        def interpret(self, text, command_id="", is_stop=False):
            if self.fail:
                raise RuntimeError("model file vanished")
            from shadowpeft_ros.policy import DecisionPolicy

            return DecisionPolicy(TableEngine({"sit": ("sit", 0.9)}), None).decide(text, command_id, is_stop)

    interpreter = Exploding()
    h = CommandHandler(interpreter)
    failed = h.handle(voice("sit", "x1"))
    assert failed.status == "refused" and failed.refusal == "interpreter_error" and failed.plan.actions == ()
    assert "model file vanished" in failed.outcome.reason and failed.say
    interpreter.fail = False
    assert h.handle(voice("sit", "x2")).status == "planned"


def test_an_over_limit_plan_is_refused_aloud_naming_the_limit():
    h, _ = handler({"walk 99 meters": ("move forward 99", 0.9)})
    handled = h.handle(voice("walk 99 meters", "far"))
    assert handled.status == "refused" and handled.plan.actions == ()
    assert "5 meter limit" in handled.say and handled.decision.decision == "refused:limits"


@pytest.mark.parametrize("bad", [dict(min_asr_confidence=1.5), dict(dedup_window=0)])
def test_handler_options_are_validated(bad):
    with pytest.raises(ValueError):
        HandlerOptions(**bad)
