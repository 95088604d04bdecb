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


def _curve(*rows):
    return [{"threshold": t, "coverage": c, "precision": p, "oos_local": 0.0} for t, c, p in rows]


def test_the_recommended_threshold_takes_both_local_goals_when_the_curve_allows():
    from shadowpeft_ros.interpreter.report import (choose_threshold, recommended_threshold,
                                                   threshold_keeping_coverage)

    # 95 % precision from 0.8 on, where 72 % of commands stay on board: both goals, so 0.8.
    both = _curve((0.5, 0.85, 0.90), (0.75, 0.78, 0.93), (0.8, 0.72, 0.95), (0.9, 0.60, 0.97))
    assert choose_threshold(both) == 0.8 and recommended_threshold(both) == 0.8
    # Generation 8's dev curve (rounded): 95 % only at 0.85 with 66 % on board. No threshold meets both,
    # so the most precise one that keeps 70 % on board.
    gen8 = _curve((0.7, 0.727, 0.912), (0.75, 0.711, 0.917), (0.8, 0.690, 0.930), (0.85, 0.663, 0.960))
    assert choose_threshold(gen8) == 0.85
    assert threshold_keeping_coverage(gen8) == 0.75 and recommended_threshold(gen8) == 0.75
    # Nothing keeps 70 % on board: no recommendation rather than a guess.
    assert recommended_threshold(_curve((0.5, 0.5, 0.9), (0.9, 0.3, 0.99))) is None
