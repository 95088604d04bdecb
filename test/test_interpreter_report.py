"""The dev report's scoring, on recorded engine answers (no model)."""

from shadowpeft_ros.interpreter.compact import parse_compact
from shadowpeft_ros.interpreter.data import Example
from shadowpeft_ros.interpreter.engine import EngineResult
from shadowpeft_ros.interpreter.report import markdown_table, score


def _example(text, target, kind):
    return Example(text, target, target, kind, ())


def _answer(compact):
    return EngineResult(parse_compact(compact) if compact is not None else None, compact or "", 0.9)


def test_multi_step_plans_are_scored_by_their_number_of_actions():
    examples = [_example("a", "move forward 1 m ; sit", "multi"),
                _example("b", "move forward 1 m ; turn left ; sit", "multi"),
                _example("c", "wave ; spin ; sit", "multi"),
                _example("d", "stand ; move left 2 m ; wait 3 s ; dance", "multi"),
                _example("e", "sit", "command")]
    answers = [_answer("move forward 1 m ; sit"),
               _answer("move forward 1 m ; sit"),  # the middle step dropped
               _answer("wave ; spin ; sit"),
               None,  # did not parse
               _answer("sit")]
    row = score(examples, [a or EngineResult(None, "garbage", 0.1, error="bad") for a in answers], detached=True)
    assert row["multi_exact_by_steps"] == {2: 1.0, 3: 0.5, 4: 0.0}
    assert row["command_exact"] == 3 / 5
    assert "2: 1.000, 3: 0.500, 4: 0.000" in markdown_table({"shadow-detached": row})
