"""Command language v1 parsing and the hard limits shared by the interpreter and the motion node."""

import json

import pytest

from shadowpeft_ros.plan import Move, Plan, PlanError, Posture, Stop, Turn, Wait, parse_plan
from shadowpeft_ros.safety import MotionDefaults, SafetyLimits, check_limits, estimate_duration_s, resolve_defaults

DESIGN_EXAMPLE = ('{"route": "local", "actions": [{"type": "move", "direction": "forward", "distance_m": 2.0, '
                  '"speed_mps": null}], "say": ""}')


def test_parses_the_design_example_and_round_trips():
    plan = parse_plan(DESIGN_EXAMPLE)
    assert plan.actions == (Move("forward", 2.0, None),)
    assert parse_plan(plan.to_json()) == plan
    assert json.loads(plan.to_json()) == json.loads(DESIGN_EXAMPLE)


def test_remote_marker_is_the_escalation_plan():
    plan = parse_plan("  [REMOTE] ")
    assert plan.is_escalation and plan == Plan.escalation()
    assert plan.to_dict() == {"route": "remote", "actions": [], "say": ""}


@pytest.mark.parametrize("bad,match", [
    ("", "not valid JSON"),
    ("move forward 2", "not valid JSON"),
    ("[1]", "JSON object"),
    ('{"route": "local", "actions": []}', "missing 'say'"),
    ('{"route": "cloud", "actions": [], "say": ""}', "route"),
    ('{"route": "local", "actions": {}, "say": ""}', "list"),
    ('{"route": "local", "actions": [], "say": 3}', "say"),
    ('{"route": "local", "actions": [], "say": "", "sudo": true}', "unknown fields"),
    ('{"route": "local", "actions": [{"type": "fly"}], "say": ""}', "type"),
    ('{"route": "local", "actions": [{"type": "move", "direction": "up", "distance_m": 1, "speed_mps": null}], '
     '"say": ""}', "direction"),
    ('{"route": "local", "actions": [{"type": "move", "direction": "forward", "distance_m": -1, "speed_mps": null}],'
     ' "say": ""}', "positive"),
    ('{"route": "local", "actions": [{"type": "move", "direction": "forward", "distance_m": "two", '
     '"speed_mps": null}], "say": ""}', "number"),
    ('{"route": "local", "actions": [{"type": "move", "direction": "forward", "distance_m": true, '
     '"speed_mps": null}], "say": ""}', "number"),
    ('{"route": "local", "actions": [{"type": "turn", "direction": "left", "angle_deg": 90, "speed_mps": 9}], '
     '"say": ""}', "unknown fields"),
    ('{"route": "local", "actions": [{"type": "wait", "duration_s": null}], "say": ""}', "null"),
    ('{"route": "local", "actions": [{"type": "move", "direction": "forward", "distance_m": 1e999, '
     '"speed_mps": null}], "say": ""}', "finite"),
    ('{"route": "local", "actions": [{"type": "posture", "name": "backflip"}], "say": ""}', "name"),
])
def test_rejects_everything_outside_the_schema(bad, match):
    with pytest.raises(PlanError, match=match):
        parse_plan(bad)


def test_defaults_fill_only_what_was_not_said():
    plan = Plan(actions=(Move("forward"), Move("left", 0.5, 0.1), Turn("right")))
    resolved = resolve_defaults(plan, MotionDefaults(distance_m=1.0, angle_deg=90.0, speed_mps=0.3))
    assert resolved.actions == (Move("forward", 1.0, 0.3), Move("left", 0.5, 0.1), Turn("right", 90.0))


@pytest.mark.parametrize("action,why", [
    (Move("forward", 99.0, None), "99 meters is over my 5 meter limit per move"),
    (Move("forward", 5.004, None), "5.004 meters is over my 5 meter limit per move"),
    (Turn("left", 1000.0), "1000 degrees is over my 720 degree limit per turn"),
    (Wait(600.0), "600 seconds is over my 30 second limit per wait"),
])
def test_by_default_a_distance_angle_or_wait_over_its_limit_is_refused_naming_the_limit(action, why):
    check = check_limits(Plan(actions=(action,)), SafetyLimits())
    assert check.refused and check.plan is None
    assert check.violations == (why,) and check.reason == why
    assert check.say == f"I won't do that: {why}."


def test_by_default_a_speed_over_its_limit_is_clamped_to_the_limit():
    check = check_limits(Plan(actions=(Move("forward", 1.0, 1.5), Turn("left", 90.0))), SafetyLimits())
    assert not check.refused
    assert check.plan.actions == (Move("forward", 1.0, 0.5), Turn("left", 90.0))
    assert check.violations == ("1.5 meters per second in step 1 is over my speed limit of 0.5 meters per second",)
    assert check.say == "To keep within my limits, I'll go at 0.5 meters per second in step 1, not 1.5."


@pytest.mark.parametrize("policy", ["refuse_extent", "clamp", "refuse"])
def test_an_unsafe_speed_is_refused_in_every_mode_never_clamped(policy):
    # "Race forward at 5 m/s" is a request to be unsafe: walking it at the speed limit would act on it.
    for speed in (2.0, 5.0):
        check = check_limits(Plan(actions=(Move("forward", 1.0, None), Move("forward", 1.0, speed))),
                             SafetyLimits(on_violation=policy))
        assert check.refused and check.plan is None
        assert check.violations == (f"{speed:g} meters per second in step 2 is an unsafe speed; "
                                    f"I never go 2 meters per second or faster",)
    below = check_limits(Plan(actions=(Move("forward", 1.0, 1.99),)), SafetyLimits(on_violation=policy))
    assert below.refused == (policy == "refuse")
    lower = check_limits(Plan(actions=(Move("forward", 1.0, 1.2),)),
                         SafetyLimits(on_violation=policy, unsafe_speed_mps=1.0))
    assert lower.refused and "is an unsafe speed; I never go 1 meter per second or faster" in lower.say


def test_by_default_a_refusal_names_only_what_refused_it():
    # The speed alone would have been clamped: saying it was the reason would mislead.
    check = check_limits(Plan(actions=(Move("forward", 99.0, 1.5),)), SafetyLimits())
    assert check.refused and check.violations == ("99 meters is over my 5 meter limit per move",)


def test_within_the_limits_nothing_changes_and_nothing_is_said():
    plan = Plan(actions=(Move("forward", 5.0, 0.5), Turn("left", 720.0), Wait(30.0)))
    for policy in ("refuse_extent", "clamp", "refuse"):
        check = check_limits(plan, SafetyLimits(on_violation=policy))
        assert check.plan == plan and check.violations == () and check.say == ""


def test_clamp_policy_clamps_everything_and_says_what_instead():
    plan = Plan(actions=(Move("forward", 20.0, 1.5), Turn("left", 1000.0), Wait(600.0)))
    check = check_limits(plan, SafetyLimits(on_violation="clamp", max_plan_duration_s=1000.0))
    assert not check.refused
    move, turn, wait = check.plan.actions
    assert (move.distance_m, move.speed_mps, turn.angle_deg, wait.duration_s) == (5.0, 0.5, 720.0, 30.0)
    assert len(check.violations) == 4
    assert "1.5 meters per second in step 1 is over my speed limit of 0.5 meters per second" in check.reason
    assert "I'll go 5 meters in step 1, not 20" in check.say and "I'll wait 30 seconds in step 3, not 600" in check.say


def test_refuse_policy_refuses_out_of_range_plans():
    check = check_limits(Plan(actions=(Move("forward", 1.0, 1.5),)), SafetyLimits(on_violation="refuse"))
    assert check.refused and check.reason == "1.5 meters per second is over my speed limit of 0.5 meters per second"
    assert check.say.startswith("I won't do that: 1.5 meters per second")
    assert not check_limits(Plan(actions=(Move("forward", 1.0, 0.3),)), SafetyLimits(on_violation="refuse")).refused


def test_too_long_or_too_many_is_refused_even_when_clamping():
    long_plan = Plan(actions=tuple(Move("forward", 5.0, 0.1) for _ in range(3)))  # 150 s at 0.1 m/s
    check = check_limits(long_plan, SafetyLimits(on_violation="clamp", max_plan_duration_s=120.0))
    assert check.refused and check.reason == "the plan would take 150 seconds, over my limit of 120 seconds per plan"
    many = Plan(actions=tuple(Posture("sit") for _ in range(11)))
    check = check_limits(many, SafetyLimits(on_violation="clamp", max_actions=10))
    assert check.refused and "11 actions is over my limit of 10 actions per plan" in check.say


def test_duration_estimate_uses_defaults_and_limits():
    plan = Plan(actions=(Move("forward", 1.5, None), Turn("left", 80.0), Wait(2.0), Stop()))
    seconds = estimate_duration_s(plan, MotionDefaults(speed_mps=0.3, turn_rate_dps=40.0), SafetyLimits())
    assert seconds == pytest.approx(1.5 / 0.3 + 80.0 / 40.0 + 2.0)


@pytest.mark.parametrize("kwargs,match", [
    ({"on_violation": "ignore"}, "on_violation must be one of: 'refuse_extent' .*'clamp' .*'refuse' .*got 'ignore'"),
    ({"max_linear_speed_mps": -1.0}, "max_linear_speed_mps must be a positive number"),
    ({"max_distance_m": float("nan")}, "max_distance_m must be a positive number"),
    ({"unsafe_speed_mps": 0.4}, r"unsafe_speed_mps \(0.4\) must be above max_linear_speed_mps \(0.5\)"),
])
def test_bad_limits_raise_early(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SafetyLimits(**kwargs)


def test_defaults_must_be_ordered():
    with pytest.raises(ValueError, match="slow_speed_mps"):
        MotionDefaults(slow_speed_mps=0.5, speed_mps=0.3)
