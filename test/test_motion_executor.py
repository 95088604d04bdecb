"""The plan executor without ROS: a fake clock and an ideal kinematic base that does what it is told."""

import math

import pytest

from shadowpeft_ros.motion import ExecutorOptions, MotionExecutor, Pose2D, clamp_twist
from shadowpeft_ros.plan import parse_plan
from shadowpeft_ros.safety import MotionDefaults, SafetyLimits

RATE = 20.0
DT = 1.0 / RATE


def plan(*actions):
    return parse_plan({"route": "local", "actions": list(actions), "say": ""})


def move(direction="forward", distance=1.0, speed=None):
    return {"type": "move", "direction": direction, "distance_m": distance, "speed_mps": speed}


def turn(direction="left", angle=90.0):
    return {"type": "turn", "direction": direction, "angle_deg": angle}


class IdealBase:
    """Integrates the commanded twist exactly (the executor's own logic is under test, not a gait)."""

    def __init__(self):
        self.x = self.y = self.yaw = 0.0
        self.twist = (0.0, 0.0, 0.0)

    def step(self, dt):
        vx, vy, wz = self.twist
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        self.x += (c * vx - s * vy) * dt
        self.y += (s * vx + c * vy) * dt
        self.yaw += wz * dt


class Harness:
    def __init__(self, odometry=True, posture_feedback=False, **options):
        limits = options.pop("limits", SafetyLimits())
        self.ex = MotionExecutor(ExecutorOptions(rate_hz=RATE, **options), limits, MotionDefaults())
        self.base = IdealBase()
        self.t = 0.0
        self.odometry = odometry
        self.posture_feedback = posture_feedback
        self.events = []
        self.twists = []
        self.postures = []

    def submit(self, command_id, p):
        self.events += self.ex.submit(command_id, p, self.t)

    def tick(self):
        if self.odometry:
            self.ex.update_odometry(Pose2D(self.t, self.base.x, self.base.y, self.base.yaw, measured=self.t))
        result = self.ex.tick(self.t)
        self.events += result.events
        self.twists.append(result.twist)
        self.base.twist = result.twist
        if result.posture:
            self.postures.append(result.posture)
            if self.posture_feedback:
                self.ex.update_posture_state(result.posture, self.t)
        self.base.step(DT)
        self.t += DT
        return result

    def run_until_final(self, command_id, limit_s=60.0):
        while self.t < limit_s:
            self.tick()
            if self.final(command_id):
                return self.final(command_id)
        raise AssertionError(f"no final outcome for {command_id} in {limit_s} s: {self.events}")

    def final(self, command_id):
        finals = [e for e in self.events if e.command_id == command_id and e.outcome != "accepted"]
        assert len(finals) <= 1, finals
        return finals[0] if finals else None


def test_closed_loop_move_reaches_goal_with_ramped_twist():
    h = Harness()
    h.submit("a", plan(move(distance=1.0, speed=0.3)))
    assert [e.outcome for e in h.events] == ["accepted"]
    assert h.run_until_final("a").outcome == "done"
    assert h.base.x == pytest.approx(1.0, abs=0.02)
    assert abs(h.base.y) < 1e-6 and abs(h.base.yaw) < 1e-6
    limits = SafetyLimits()
    # Speeding up is ramped; slowing to a halt at the goal may be immediate (zero is always safe).
    for prev, cur in zip(h.twists, h.twists[1:]):
        if cur[0] != 0.0:
            assert abs(cur[0] - prev[0]) <= limits.max_linear_accel_mps2 * DT + 1e-9
    assert max(t[0] for t in h.twists) == pytest.approx(0.3)


def test_time_based_without_odometry_covers_the_distance():
    h = Harness(odometry=False)
    h.submit("a", plan(move("backward", distance=0.6, speed=0.2), turn("right", 45)))
    assert h.run_until_final("a").outcome == "done"
    assert h.base.x == pytest.approx(-0.6, abs=0.02)
    assert math.degrees(h.base.yaw) == pytest.approx(-45, abs=1.0)


def test_closed_loop_turn_and_defaults_fill_nulls():
    h = Harness()
    h.submit("a", plan({"type": "turn", "direction": "left", "angle_deg": None}))
    assert h.run_until_final("a").outcome == "done"
    assert math.degrees(h.base.yaw) == pytest.approx(MotionDefaults().angle_deg, abs=1.5)
    peak = max(abs(t[2]) for t in h.twists)
    assert math.degrees(peak) <= min(MotionDefaults().turn_rate_dps, SafetyLimits().max_angular_speed_dps) + 1e-6


def test_stop_preempts_at_once_and_clears_the_queue():
    h = Harness(on_new_plan="queue")
    h.submit("a", plan(move(distance=3.0, speed=0.5)))
    h.submit("b", plan(turn()))
    for _ in range(40):
        h.tick()
    assert h.twists[-1][0] > 0.3
    events = h.ex.stop(h.t, "spoken stop")
    assert {(e.command_id, e.outcome) for e in events} == {("a", "stopped"), ("b", "stopped")}
    assert h.ex.output == (0.0, 0.0, 0.0)
    assert h.tick().twist == (0.0, 0.0, 0.0)
    assert not h.ex.busy


def test_plan_with_stop_always_wins_even_when_queueing():
    h = Harness(on_new_plan="queue")
    h.submit("a", plan(move(distance=2.0)))
    for _ in range(10):
        h.tick()
    h.submit("s", plan({"type": "stop"}))
    assert ("a", "stopped") in {(e.command_id, e.outcome) for e in h.events}
    assert h.ex.output == (0.0, 0.0, 0.0)
    assert h.run_until_final("s").outcome == "done"


def test_replace_policy_stops_the_running_plan():
    h = Harness(on_new_plan="replace")
    h.submit("a", plan(move(distance=2.0)))
    h.tick()
    h.submit("b", plan(turn("right", 30)))
    assert h.final("a").outcome == "stopped" and "replaced by command b" in h.final("a").reason
    assert h.run_until_final("b").outcome == "done"


def test_queue_policy_runs_plans_in_order_and_bounds_the_queue():
    h = Harness(on_new_plan="queue", max_queued=1)
    h.submit("a", plan(move(distance=0.3)))
    h.submit("b", plan(move("left", distance=0.2)))
    h.submit("c", plan(move()))
    assert h.final("c").outcome == "refused"
    assert h.run_until_final("a").outcome == "done"
    assert h.final("b") is None
    assert h.run_until_final("b").outcome == "done"
    assert h.base.x == pytest.approx(0.3, abs=0.02) and h.base.y == pytest.approx(0.2, abs=0.02)


def test_estop_latches_until_reset():
    h = Harness()
    h.submit("a", plan(move(distance=2.0)))
    for _ in range(10):
        h.tick()
    events = h.ex.estop(h.t)
    assert [(e.command_id, e.outcome) for e in events] == [("a", "stopped")]
    h.submit("b", plan(move()))
    assert h.final("b").outcome == "refused" and "e-stop" in h.final("b").reason
    for _ in range(10):
        assert h.tick().twist == (0.0, 0.0, 0.0)
    assert h.ex.watchdog(h.t)
    assert h.ex.reset_estop()
    h.submit("c", plan(move(distance=0.2)))
    assert h.run_until_final("c").outcome == "done"


def test_stale_odometry_during_closed_loop_zeroes_and_fails():
    h = Harness()
    h.submit("a", plan(move(distance=2.0)))
    for _ in range(20):
        h.tick()
    assert h.twists[-1][0] > 0.1
    h.odometry = False  # the driver stops reporting
    t_stale = h.t
    outcome = h.run_until_final("a")
    assert outcome.outcome == "failed" and "odometry went stale" in outcome.reason
    assert h.t - t_stale <= ExecutorOptions().odom_timeout_s + 2 * DT
    assert h.twists[-1] == (0.0, 0.0, 0.0)
    assert outcome.say


def test_watchdog_zeroes_when_ticks_stall():
    h = Harness()
    h.submit("a", plan(move(distance=2.0)))
    for _ in range(20):
        h.tick()
    assert not h.ex.watchdog(h.t)
    assert h.ex.watchdog(h.t + ExecutorOptions().tick_stall_s + 0.05)
    assert h.ex.output == (0.0, 0.0, 0.0)
    # A late tick starts again from zero instead of jumping back to speed.
    h.t += 1.0
    first = h.tick().twist
    assert first[0] <= SafetyLimits().max_linear_accel_mps2 * DT + 1e-9


def test_odometry_queued_through_a_stall_still_counts_at_the_goal():
    # A loaded machine starved the control loop for 0.5 s at the end of a move while the dog, holding its
    # last command, swung 6 degrees. The readings taken meanwhile arrive together when the node wakes: by
    # arrival they are 0 s apart and would barely move the heading filter, so the move would end 6 degrees
    # off (a fresh-clone CI run ended a sequence 5.4 degrees off this way). Their own stamps span 0.5 s.
    h = Harness()
    h.submit("a", plan(move(distance=1.0, speed=0.3)))
    while h.base.x < 0.985:
        h.tick()
    assert h.final("a") is None
    taken = []
    for k in range(1, 11):
        h.base.step(DT)
        h.base.yaw += math.radians(0.6)
        taken.append((h.base.x, h.base.y, h.base.yaw, h.t + k * DT))
    h.t += 10 * DT
    for x, y, yaw, measured in taken:
        h.ex.update_odometry(Pose2D(h.t, x, y, yaw, measured=measured))
    assert h.base.x >= 1.0 - ExecutorOptions().position_tolerance_m  # at the goal: only the heading is left
    assert h.run_until_final("a").outcome == "done"
    assert abs(math.degrees(h.base.yaw)) <= ExecutorOptions().heading_tolerance_deg + 0.5


def test_over_limit_plan_is_clamped_or_refused_per_policy():
    over = plan(move(distance=20.0, speed=1.5))
    # Default: a distance over its limit is refused, saying which limit, and nothing moves.
    h = Harness()
    h.submit("a", over)
    assert [e.outcome for e in h.events] == ["refused"]
    assert h.events[0].reason == "20 meters is over my 5 meter limit per move"
    assert "5 meter limit per move" in h.events[0].say
    assert h.tick().twist == (0.0, 0.0, 0.0)

    # Default: a speed over its limit is clamped, and the walk runs at the limit.
    fast = Harness()
    fast.submit("f", plan(move(distance=1.0, speed=1.5)))
    accepted = fast.events[0]
    assert accepted.outcome == "accepted" and "over my speed limit of 0.5 meters per second" in accepted.reason
    assert fast.run_until_final("f", limit_s=30).outcome == "done"
    assert fast.base.x == pytest.approx(1.0, abs=0.03)
    assert max(math.hypot(t[0], t[1]) for t in fast.twists) == pytest.approx(SafetyLimits().max_linear_speed_mps)

    clamping = Harness(limits=SafetyLimits(on_violation="clamp"))
    clamping.submit("c", over)
    accepted = clamping.events[0]
    assert accepted.outcome == "accepted" and accepted.reason.startswith("clamped: ")
    assert "20 meters is over my 5 meter limit per move" in accepted.reason
    assert clamping.run_until_final("c", limit_s=60).outcome == "done"
    assert clamping.base.x == pytest.approx(SafetyLimits().max_distance_m, abs=0.03)
    assert max(math.hypot(t[0], t[1]) for t in clamping.twists) <= SafetyLimits().max_linear_speed_mps + 1e-9

    strict = Harness(limits=SafetyLimits(on_violation="refuse"))
    strict.submit("b", plan(move(distance=1.0, speed=1.5)))
    assert [e.outcome for e in strict.events] == ["refused"]
    assert "1.5 meters per second is over my speed limit" in strict.events[0].reason and strict.events[0].say
    assert strict.tick().twist == (0.0, 0.0, 0.0)

    # An unsafe speed is refused by the motion node too, even when told to clamp everything.
    for limits in (SafetyLimits(), SafetyLimits(on_violation="clamp")):
        unsafe = Harness(limits=limits)
        unsafe.submit("u", plan(move(distance=1.0, speed=3.0)))
        assert [e.outcome for e in unsafe.events] == ["refused"]
        assert "3 meters per second is an unsafe speed" in unsafe.events[0].reason
        assert unsafe.tick().twist == (0.0, 0.0, 0.0)


def test_postures_and_tricks_wait_for_the_dog_or_for_time():
    h = Harness(posture_feedback=True)
    h.submit("a", plan({"type": "posture", "name": "sit"}, move(distance=0.2)))
    h.run_until_final("a")
    # Moving from a sit stands up first.
    assert h.postures == ["sit", "stand"]

    timed = Harness(odometry=False)
    timed.submit("b", plan({"type": "trick", "name": "wave"}, {"type": "wait", "duration_s": 1.0}))
    assert timed.run_until_final("b").outcome == "done"
    assert timed.t == pytest.approx(ExecutorOptions().trick_duration_s + 1.0, abs=3 * DT)


def test_unconfirmed_posture_fails_after_timeout():
    h = Harness(posture_timeout_s=2.0)
    h.ex.update_posture_state("stand", 0.0)  # the dog reports, but never reaches the sit
    h.submit("a", plan({"type": "posture", "name": "sit"}))
    outcome = h.run_until_final("a")
    assert outcome.outcome == "failed" and "did not confirm sit" in outcome.reason


def test_output_clamp_is_the_last_line():
    limits = SafetyLimits()
    vx, vy, wz = clamp_twist((3.0, 3.0, 10.0), limits)
    assert math.hypot(vx, vy) <= limits.max_linear_speed_mps + 1e-12
    assert abs(wz) <= math.radians(limits.max_angular_speed_dps) + 1e-12
    assert clamp_twist((float("nan"), float("inf"), -float("inf")), limits) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("bad", [dict(on_new_plan="merge"), dict(rate_hz=0), dict(tick_stall_s=0.01),
                                 dict(closed_loop="yes"), dict(max_queued=-1)])
def test_options_are_validated(bad):
    with pytest.raises(ValueError):
        ExecutorOptions(**bad)
