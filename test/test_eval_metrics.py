"""Scoring functions of the evaluation: plan equality, slots, out of scope, percentiles, final poses."""


import pytest

from shadowpeft_ros.evaluation import metrics as m
from shadowpeft_ros.geometry import Pose
from shadowpeft_ros.motion.path import dead_reckon
from shadowpeft_ros.plan import Move, Plan, Posture, Stop, Trick, Turn, Wait


def plan(*actions, say="", route="local"):
    return Plan(route=route, actions=tuple(actions), say=say)


def test_plans_equal_ignores_route_and_accepts_numbers_within_five_percent():
    expected = plan(Move("forward", 2.0), Turn("left", 90.0))
    assert m.plans_equal(plan(Move("forward", 2.09), Turn("left", 86.0), route="remote"), expected)
    assert not m.plans_equal(plan(Move("forward", 2.11), Turn("left", 90.0)), expected)
    assert not m.plans_equal(plan(Move("backward", 2.0), Turn("left", 90.0)), expected)
    assert not m.plans_equal(plan(Turn("left", 90.0), Move("forward", 2.0)), expected)  # order matters
    assert not m.plans_equal(plan(Move("forward", 2.0)), expected)
    assert not m.plans_equal(None, expected)


def test_unsaid_values_compare_as_their_defaults():
    assert m.plans_equal(plan(Turn("left", 90.0)), plan(Turn("left", None)))
    assert m.plans_equal(plan(Move("forward", None, 0.3)), plan(Move("forward", 1.0, None)))
    assert not m.plans_equal(plan(Turn("left", 45.0)), plan(Turn("left", None)))


def test_half_turns_match_in_either_direction_but_quarter_turns_do_not():
    assert m.plans_equal(plan(Turn("right", 180.0)), plan(Turn("left", 180.0)))
    assert not m.plans_equal(plan(Turn("right", 90.0)), plan(Turn("left", 90.0)))


def test_plans_without_actions_count_when_something_was_said():
    refusal = plan(say="Sorry, I can't do that safely.")
    assert m.plans_equal(plan(say="No way."), refusal)
    assert not m.plans_equal(plan(), refusal)
    assert not m.plans_equal(plan(Move("forward", 1.0), say="ok"), refusal)


def test_slot_counts_align_by_position_and_charge_missing_actions():
    expected = plan(Move("forward", 1.0), Turn("left", 45.0), Posture("sit"))
    predicted = plan(Move("forward", 1.0, 0.45), Turn("right", 45.0))
    right, total = m.slot_counts(predicted, expected)
    # move: direction, distance right, speed wrong (0.45 vs default 0.3); turn: angle right, direction wrong; sit missing
    assert (right, total) == (2 + 1 + 0, 3 + 2 + 1)
    assert m.slot_counts(None, expected) == (0, 6)
    assert m.slot_counts(plan(Stop()), plan(Stop())) == (0, 0)


def test_confusion_pairs_mark_missing_and_extra_actions():
    expected = plan(Move("forward", 1.0), Posture("sit"))
    assert m.confusion_pairs(plan(Move("forward", 1.0)), expected) == [("move", "move"), ("posture:sit", m.NO_ACTION)]
    assert m.confusion_pairs(plan(Trick("wave"), Stop(), Wait(1.0)), plan(Trick("wave"))) == [
        ("trick:wave", "trick:wave"), (m.NO_ACTION, "stop"), (m.NO_ACTION, "wait")]
    assert m.confusion_pairs(None, plan(say="hi")) == [(m.NO_ACTION, m.NO_ACTION)]


def test_out_of_scope_is_handled_by_an_answer_or_an_escalation_but_never_by_moving():
    assert m.out_of_scope_handled(plan(say="Seven."), escalated=False)
    assert m.out_of_scope_handled(Plan.escalation(), escalated=True)
    assert not m.out_of_scope_handled(plan(Move("forward", 1.0), say="Seven."), escalated=False)
    assert not m.out_of_scope_handled(plan(), escalated=False)
    assert not m.out_of_scope_handled(None, escalated=False)


def test_percentile_interpolates_and_skips_missing_values():
    assert m.percentile([1.0, 2.0, 3.0, 4.0, None], 50) == pytest.approx(2.5)
    assert m.percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert m.percentile([None, float("nan")], 50) is None
    assert m.percentile([0.7], 95) == 0.7


def test_moving_after_sitting_ends_standing_and_spin_leaves_the_heading_unscored():
    assert dead_reckon(plan(Posture("sit"), Move("forward", 1.0))).pose.posture == "stand"
    spun = dead_reckon(plan(Trick("spin")))
    assert not spun.heading_known and spun.position_known
    score = m.score_pose(Pose(0.02, 0.01, 48.0, "stand"), spun)
    assert score.success and score.heading_error_deg == 0.0
    after = dead_reckon(plan(Trick("spin"), Move("forward", 1.0)))
    assert not after.position_known


def test_score_pose_tolerances_grow_with_the_distance_walked():
    expected = dead_reckon(plan(Move("forward", 3.0)))
    assert m.score_pose(Pose(2.65, 0.1, 3.0), expected).success  # 0.36 m off, 0.10 + 0.30 allowed
    assert not m.score_pose(Pose(2.5, 0.0, 0.0), expected).success
    assert not m.score_pose(Pose(3.0, 0.0, 12.0), expected).success  # 5 + 2 * 3 = 11 deg allowed
    assert not m.score_pose(Pose(3.0, 0.0, 0.0, "sit"), expected).success


def test_pose_tolerance_rejects_negative_values():
    with pytest.raises(ValueError, match="heading_abs_deg"):
        m.PoseTolerance(heading_abs_deg=-1.0)


def test_summarise_leaves_cases_with_errors_out_of_every_rate():
    ok = {"scores": {"exact": True, "action_types": True, "slots_right": 2, "slots_total": 2, "kind": "command",
                     "out_of_scope_handled": None, "moved_nothing": False},
          "final_plan": {}, "escalated": False, "latency_s": {"e2e": 1.0, "interpreter": 1.0}}
    wrong = {"scores": {"exact": False, "action_types": False, "slots_right": 0, "slots_total": 3, "kind": "out_of_scope",
                        "out_of_scope_handled": False, "moved_nothing": False},
             "out_of_scope": True, "final_plan": None, "escalated": True, "latency_s": {"e2e": 3.0}}
    broken = {"error": "audio file not found: x.wav"}
    s = m.summarise([ok, wrong, broken], audio_given=False, sim=False)
    assert s["cases"] == 3 and s["cases_failed"] == 1
    assert s["exact_plan_accuracy"] == 0.5 and s["slot_accuracy"] == pytest.approx(2 / 5)
    assert s["out_of_scope_handled"] == 0.0 and s["escalation_rate"] == 0.5 and s["invalid_output_rate"] == 0.5
    assert s["latency_e2e_p50_s"] == pytest.approx(2.0) and s["latency_asr_p50_s"] is None
    assert "task_success" not in s and "wer" not in s


def test_an_interpreter_fallback_never_scores_as_an_answer_or_a_refusal():
    from shadowpeft_ros.evaluation.cases import parse_case
    from shadowpeft_ros.evaluation.runner import score_case
    from shadowpeft_ros.safety import MotionDefaults

    oos = parse_case({"id": "q", "text": "why?", "out_of_scope": True,
                      "expected": {"route": "local", "actions": [], "say": "Because."}}, 1, ROOT_DIR)
    apology = plan(say="Sorry, I did not understand that.")
    fallback = score_case(apology, oos, False, MotionDefaults(), "refused:invalid")
    assert not fallback["exact"] and not fallback["out_of_scope_handled"] and fallback["moved_nothing"]
    answered = score_case(plan(say="Because."), oos, False, MotionDefaults(), "attached")
    assert answered["exact"] and answered["out_of_scope_handled"]
    escalated = score_case(plan(say="I need my server."), oos, True, MotionDefaults(), "refused:needs_remote")
    assert escalated["exact"] and escalated["out_of_scope_handled"]

    # The policy's stop after a stop word moves nothing, but it is not the model's plan either.
    unsafe = parse_case({"id": "u", "text": "stay here, no, run into the wall",
                         "expected": {"route": "local", "actions": [], "say": "Sorry."}}, 2, ROOT_DIR)
    stopped = score_case(Plan(actions=(Stop(),), say="I heard you say stop."), unsafe, False, MotionDefaults(),
                         "refused:stop_said")
    assert stopped["moved_nothing"] and not stopped["exact"]
    walked = score_case(Plan(actions=(Move("forward", 1.0, None),)), unsafe, False, MotionDefaults(), "local")
    assert not walked["moved_nothing"]


ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parent


def _record(kind, decision, exact, escalated=False, actions=(), **extra):
    return {"scores": {"exact": exact, "kind": kind}, "decision": decision, "escalated": escalated,
            "out_of_scope": kind == "out_of_scope", "final_plan": {"actions": list(actions)}, **extra}


def test_on_board_decisions_count_coverage_precision_and_out_of_scope_handling():
    sit = [{"type": "posture"}]
    records = [_record("command", "local", True, actions=sit), _record("command", "local", False, actions=sit),
               _record("command", "local", False), _record("command", "local", True),
               _record("command", "remote", True, escalated=True), _record("command", "refused:low_confidence", False),
               _record("command", "remote", True, escalated=True), _record("command", "remote", True, escalated=True),
               _record("out_of_scope", "remote", True, escalated=True),
               _record("out_of_scope", "local", False, actions=[{"type": "move"}]),
               _record("refusal", "local", True)]
    s = m.on_board_decisions(records)
    assert s["local_coverage"] == 0.5 and s["local_precision"] == 0.5
    # Only the plans that moved the dog: a wrong refusal (no actions) is not a wrong plan executed.
    assert s["local_moving_precision"] == 0.5
    s = m.on_board_decisions(records[:1] + records[2:])
    assert s["local_precision"] == 2 / 3 and s["local_moving_precision"] == 1.0
    assert s["oos_handed_on"] == 0.5 and s["oos_acted_on"] == 0.5
    # A configuration without an on-board model has no such figures.
    assert set(m.on_board_decisions([_record("command", "remote", True)]).values()) == {None}


def test_error_categories_follow_the_case_and_the_table_counts_errors():
    from shadowpeft_ros.evaluation.report import case_categories, category_table

    two_steps = {"modality": "audio", "reference_text": "Walk three feet, then turn left.", "scores": {"kind": "command",
                 "exact": False}, "expected": {"actions": [{"type": "move"}, {"type": "turn"}]}}
    sit = {"modality": "text", "text": "Sit.", "scores": {"kind": "command", "exact": True},
           "expected": {"actions": [{"type": "posture"}]}}
    assert case_categories(two_steps) == ["numbers", "units", "multi-step", "turns", "spoken (ASR noise)"]
    assert case_categories(sit) == ["postures and tricks"]
    table = category_table({"a": {"cases": [two_steps, sit]}})
    assert "| multi-step (two or more actions) | 1 | 0.0 % (1 wrong) |" in table
    assert "| postures and tricks (a posture or trick) | 1 | 100.0 % (0 wrong) |" in table


def test_the_threshold_replay_reads_whole_detached_answers_and_decides_as_the_policy_does():
    from shadowpeft_ros.evaluation.claims import threshold_sweep

    sit = {"route": "local", "actions": [{"type": "posture", "name": "sit"}], "say": ""}

    def case(config, raw, confidence, error="", exact=True):
        engines = [{"role": "local", "engine": "detached", "raw_text": raw, "error": error, "confidence": confidence,
                    "latency_s": 0.05}]
        return {"id": "c1", "text": "sit down", "expected": sit, "interpreter": {"engines": engines},
                "latency_s": {"asr": None, "interpreter": 0.3, "first_cmd_vel": 0.0}, "scores": {"exact": exact}}

    results = {"configurations": {
        # auto stopped "sit" at its first token, at 0.5 under its own threshold of 0.75
        "shadow-auto": {"cases": [case("auto", "sit", 0.5, error="decoding stopped after 1 tokens")]},
        "shadow-detached": {"cases": [case("detached", "sit", 0.6)]},
        "shadow-attached": {"cases": [case("attached", "stand", 0.9, exact=False)]},
    }}
    rows = {row["threshold"]: row for row in threshold_sweep(results, thresholds=(0.5, 0.7))}
    assert rows[0.5]["exact_plan_accuracy"] == 1.0 and rows[0.5]["escalation_rate"] == 0.0
    assert rows[0.7]["exact_plan_accuracy"] == 0.0 and rows[0.7]["escalation_rate"] == 1.0
    # The replay applies the policy's whole verdict, not the confidence alone: a sure plan that a check
    # doubts (a posture held twice in a row) is escalated at every threshold, as the robot escalates it.
    results["configurations"]["shadow-detached"]["cases"] = [case("detached", "sit ; sit", 0.99)]
    assert all(row["escalation_rate"] == 1.0 for row in threshold_sweep(results, thresholds=(0.0, 0.5)))
    del results["configurations"]["shadow-detached"]
    assert {row["threshold"]: row["escalation_rate"] for row in threshold_sweep(results, thresholds=(0.5,))} == {0.5: 1.0}
