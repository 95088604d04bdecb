"""The motion stage of the evaluation: the motion executor driving the MuJoCo dog, scored by dead reckoning."""


from shadowpeft_ros.evaluation import metrics
from shadowpeft_ros.evaluation.stages import MotionStage
from shadowpeft_ros.motion.path import dead_reckon
from shadowpeft_ros.plan import Move, Plan, Posture, Turn
from shadowpeft_ros.safety import SafetyLimits


def test_executor_alone_times_the_first_motion_command():
    stage = MotionStage(sim=False)
    execution = stage.execute(Plan(actions=(Move("forward", 1.0),)))
    assert execution.outcome == "accepted" and 0 < execution.first_motion_s < 1.0
    assert execution.final is None


def test_a_plan_over_the_limits_is_refused_and_moves_nothing():
    stage = MotionStage(sim=True, limits=SafetyLimits(on_violation="refuse"))
    execution = stage.execute(Plan(actions=(Move("forward", 9.0),)))
    assert execution.outcome == "refused" and "over my 5 meter limit per move" in execution.reason
    assert execution.first_motion_s is None
    assert abs(execution.final.x) < 0.02 and abs(execution.final.y) < 0.02


def test_mujoco_dog_ends_where_dead_reckoning_says_and_identical_plans_run_once():
    stage = MotionStage(sim=True)
    plan = Plan(actions=(Move("forward", 1.0), Turn("left", None), Posture("sit")))
    execution = stage.execute(plan)
    assert execution.outcome == "done" and not execution.fallen
    assert execution.sim_time_s > 5.0
    score = metrics.score_pose(execution.final, dead_reckon(plan))
    assert score.success, (execution.to_dict(), score.to_dict())
    assert execution.final.posture == "sit"
    # A wrong plan is judged against the expected one and fails.
    wrong = stage.execute(Plan(actions=(Move("forward", 1.0), Turn("right", None))))
    assert not metrics.score_pose(wrong.final, dead_reckon(plan)).success
    again = stage.execute(Plan(route="remote", actions=plan.actions, say="ok"))
    assert again.reused and again.final == execution.final
