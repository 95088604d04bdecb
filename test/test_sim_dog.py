"""The MuJoCo dog without ROS: it walks where it is told, turns, takes postures and tricks, and never falls."""

import math

import pytest

pytest.importorskip("mujoco")

from shadowpeft_ros.sim.dog import DogSim, SimOptions  # noqa: E402


def drive(dog, cmd, seconds, watch=None):
    for _ in range(int(round(seconds / 0.02))):
        dog.set_velocity(*cmd)
        dog.step(0.02)
        if watch is not None:
            watch.append(dog.odometry())


def assert_upright(samples):
    assert min(o.z for o in samples) > 0.15
    assert max(max(abs(o.roll), abs(o.pitch)) for o in samples) < math.radians(30)


@pytest.fixture(scope="module")
def dog():
    return DogSim()


def test_starts_standing_at_the_odom_origin(dog):
    dog.reset()
    o = dog.odometry()
    assert (o.x, o.y, o.yaw, o.t) == (0.0, 0.0, 0.0, 0.0)
    assert 0.27 < o.z < 0.33
    assert dog.posture_state == "stand"
    assert dog.warnings() == {}


def test_trots_forward_at_the_commanded_speed(dog):
    dog.reset()
    samples = []
    drive(dog, (0.3, 0.0, 0.0), 4.0, samples)
    # Average speed over the last two seconds, after the ramp.
    a, b = samples[-100], samples[-1]
    assert (b.x - a.x) / (b.t - a.t) == pytest.approx(0.3, rel=0.15)
    assert abs(math.degrees(b.yaw)) < 5 and abs(b.y) < 0.1
    drive(dog, (0.0, 0.0, 0.0), 1.5, samples)
    assert samples[-1].speed < 0.05 and not dog.gait.stepping
    assert_upright(samples)
    assert dog.warnings() == {}


def test_turns_on_the_spot_and_walks_sideways_and_back(dog):
    dog.reset()
    samples = []
    drive(dog, (0.0, 0.0, 0.6), 2.6, samples)
    drive(dog, (0.0, 0.0, 0.0), 1.0, samples)
    o = samples[-1]
    assert math.degrees(o.yaw) == pytest.approx(math.degrees(0.6 * 2.6), abs=20)
    assert math.hypot(o.x, o.y) < 0.1
    drive(dog, (0.0, 0.25, 0.0), 2.0, samples)
    drive(dog, (-0.3, 0.0, 0.0), 2.0, samples)
    drive(dog, (0.0, 0.0, 0.0), 1.0, samples)
    assert_upright(samples)


def test_postures_and_tricks_finish_back_on_four_feet(dog):
    dog.reset()
    reached = {}
    for name in ("sit", "stand", "lie_down", "stand"):
        dog.command_posture(name)
        drive(dog, (0.0, 0.0, 0.0), 1.6)
        reached[name] = (dog.posture_state, dog.odometry())
    assert reached["sit"][0] == "sit" and math.degrees(reached["sit"][1].pitch) < -10
    assert reached["lie_down"][0] == "lie_down" and reached["lie_down"][1].z < 0.15
    assert reached["stand"][0] == "stand" and reached["stand"][1].z > 0.27
    for trick in ("dance", "wave", "stretch", "spin"):
        dog.command_posture(trick)
        samples = []
        drive(dog, (0.0, 0.0, 0.0), 0.1, samples)
        assert dog.posture_state == trick
        while dog.posture_state == trick:
            drive(dog, (0.0, 0.0, 0.0), 0.1, samples)
        assert dog.posture_state == "stand" and samples[-1].t - samples[0].t < 12
        assert max(abs(o.roll) for o in samples) < math.radians(30) and min(o.z for o in samples) > 0.18
    assert dog.warnings() == {}


def test_walks_only_when_standing(dog):
    dog.reset()
    dog.command_posture("sit")
    drive(dog, (0.0, 0.0, 0.0), 1.5)
    start = dog.odometry()
    drive(dog, (0.4, 0.0, 0.0), 1.0)
    assert abs(dog.odometry().x - start.x) < 0.03


def test_bad_input_is_refused_and_moves_nothing(dog):
    dog.reset()
    with pytest.raises(ValueError, match="unknown posture"):
        dog.command_posture("roll_over")
    with pytest.raises(ValueError, match="finite"):
        dog.set_velocity(float("nan"), 0.0, 0.0)
    drive(dog, (0.0, 0.0, 0.0), 0.5)
    assert dog.odometry().speed < 0.02


def test_commands_time_out_and_are_clamped_to_the_envelope(dog):
    dog.reset()
    dog.set_velocity(2.0, 0.0, 5.0)
    assert dog.commanded_velocity == (0.5, 0.0, 0.8)
    dog.step(1.0)  # no new command for longer than command_timeout_s: the dog winds down
    dog.step(1.5)
    assert dog.odometry().speed < 0.05


@pytest.mark.parametrize("bad", [dict(timestep_s=0.004), dict(control_rate_hz=0), dict(control_rate_hz=333.0),
                                 dict(joint_kp=-1)])
def test_options_are_validated(bad):
    with pytest.raises(ValueError):
        SimOptions(**bad)
