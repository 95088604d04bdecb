"""Motion and simulator benchmarks: run with `pytest test/bench_motion.py -m benchmark -s`.

Prints the simulator's real-time factor (headless, and as the ROS sim node), the tracking errors of
the executor and gait over a fixed set of commands, and the stop latency through the real nodes.
"""

import math
import statistics
import time

import pytest

pytest.importorskip("mujoco")

from shadowpeft_ros.geometry import wrap_deg  # noqa: E402
from shadowpeft_ros.motion import MotionExecutor, Pose2D  # noqa: E402
from shadowpeft_ros.motion.path import expected_path  # noqa: E402
from shadowpeft_ros.plan import parse_plan  # noqa: E402
from shadowpeft_ros.sim.dog import DogSim  # noqa: E402

pytestmark = pytest.mark.benchmark

COMMANDS = [
    ("forward 1 m @0.3", {"type": "move", "direction": "forward", "distance_m": 1.0, "speed_mps": 0.3}),
    ("forward 2 m @0.5", {"type": "move", "direction": "forward", "distance_m": 2.0, "speed_mps": 0.5}),
    ("backward 0.5 m", {"type": "move", "direction": "backward", "distance_m": 0.5, "speed_mps": None}),
    ("left 0.5 m", {"type": "move", "direction": "left", "distance_m": 0.5, "speed_mps": 0.2}),
    ("turn left 90", {"type": "turn", "direction": "left", "angle_deg": 90}),
    ("turn right 180", {"type": "turn", "direction": "right", "angle_deg": 180}),
    ("turn left 45", {"type": "turn", "direction": "left", "angle_deg": 45}),
]


def test_sim_real_time_factor_headless():
    dog = DogSim()
    for cmd, seconds in (((0.0, 0.0, 0.0), 5.0), ((0.4, 0.0, 0.0), 10.0), ((0.0, 0.0, 0.6), 5.0)):
        start = time.perf_counter()
        for _ in range(int(seconds / 0.02)):
            dog.set_velocity(*cmd)
            dog.step(0.02)
        wall = time.perf_counter() - start
        print(f"headless RTF, cmd {cmd}: {seconds / wall:.1f}x ({seconds:g} s sim in {wall:.2f} s)")


def test_sim_real_time_factor_as_ros_node():
    import rclpy
    from rclpy.parameter import Parameter

    from shadowpeft_ros.nodes.sim_node import SimNode

    context = rclpy.Context()
    context.init()
    node = SimNode(context=context, parameter_overrides=[Parameter("time_mode", value="sim"),
                                                         Parameter("max_rtf", value=0.0)])
    try:
        time.sleep(1.0)
        sim0, wall0 = node.sim_time(), time.monotonic()
        time.sleep(8.0)
        rtf = (node.sim_time() - sim0) / (time.monotonic() - wall0)
        print(f"sim node RTF (physics + /clock, /odom, /joint_states at {node.publish_rate_hz:g} Hz): {rtf:.1f}x; "
              f"stepping alone {node.real_time_factor():.1f}x")
    finally:
        node.destroy_node()
        context.try_shutdown()


def _run_plan(dog, executor, plan, limit_s=40.0):
    events = executor.submit("bench", plan, dog.time)
    assert events[-1].outcome == "accepted", events
    end = dog.time + limit_s
    while dog.time < end:
        o = dog.odometry()
        executor.update_odometry(Pose2D(dog.time, o.x, o.y, o.yaw, o.vx, o.vy, o.wz))
        executor.update_posture_state(dog.posture_state, dog.time)
        result = executor.tick(dog.time)
        if result.posture:
            dog.command_posture(result.posture)
        dog.set_velocity(*result.twist)
        dog.step(0.05)
        if any(e.outcome != "accepted" for e in result.events):
            return [e.outcome for e in result.events][-1]
    return "timeout"


def test_tracking_errors_over_fixed_commands():
    dog = DogSim()
    executor = MotionExecutor()
    rows = []
    for label, action in COMMANDS:
        plan = parse_plan({"route": "local", "actions": [action], "say": ""})
        start = dog.odometry()
        goal = expected_path(plan, start=(start.x, start.y, start.yaw))[-1]
        t0 = dog.time
        outcome = _run_plan(dog, executor, plan)
        duration = dog.time - t0
        dog.set_velocity(0.0, 0.0, 0.0)
        dog.step(1.5)  # settle
        end = dog.odometry()
        pos_err = math.hypot(end.x - goal[0], end.y - goal[1])
        yaw_err = wrap_deg(math.degrees(end.yaw - goal[2]))
        if action["type"] == "move":
            distance = math.hypot(end.x - start.x, end.y - start.y)
            rel = abs(distance - action["distance_m"]) / action["distance_m"] * 100
            detail = f"distance {distance:.3f} m ({rel:.1f} %)"
        else:
            detail = f"turned {wrap_deg(math.degrees(end.yaw - start.yaw)):+.1f} deg"
        rows.append((label, outcome, pos_err, yaw_err, duration, detail))
    print(f"{'command':<18} {'outcome':<8} {'pos err':>8} {'yaw err':>8} {'time':>6}  detail")
    for label, outcome, pos_err, yaw_err, duration, detail in rows:
        print(f"{label:<18} {outcome:<8} {pos_err * 100:6.1f}cm {yaw_err:+7.2f}° {duration:5.1f}s  {detail}")
    print(f"mean position error {statistics.mean(r[2] for r in rows) * 100:.1f} cm, "
          f"mean |heading error| {statistics.mean(abs(r[3]) for r in rows):.2f} deg")
    assert all(r[1] == "done" for r in rows)


@pytest.mark.slow
def test_stop_latency_through_the_nodes():
    from test_motion_sim_nodes import motion_graph

    from shadowpeft_ros.messages import VoiceCommand

    with motion_graph(max_rtf=3.0) as graph:
        probe, motion = graph["probe"], graph["motion"]
        for i in range(3):
            probe.send(f"walk{i}", parse_plan({"route": "local", "say": "", "actions": [
                {"type": "move", "direction": "forward" if i % 2 == 0 else "backward", "distance_m": 3.0,
                 "speed_mps": 0.5}]}))
            probe.wait(lambda: abs(probe.twists[-1][2]) >= 0.49, 30, "a 0.5 m/s walk")
            probe.wait_sim(0.7)
            n = len(probe.twists)
            sent_wall, sent_sim = time.monotonic(), probe.sim_now()
            probe.voice.publish(VoiceCommand(text="stop", is_stop=True, source="bench"))
            probe.wait(lambda: any(t[2] == 0.0 for t in probe.twists[n:]), 5, "a zero twist")
            zero = next(t for t in probe.twists[n:] if t[2] == 0.0)
            probe.wait_sim(2.0)
            samples = [o for o in probe.odom if o["t"] >= sent_sim]
            rest = None
            for k, o in enumerate(samples):
                window = samples[k:k + 10]
                if len(window) == 10 and all(w["speed"] < 0.05 for w in window):
                    rest = o["t"] - sent_sim
                    break
            print(f"stop {i + 1}: in the motion node {motion.stop_latencies[-1] * 1000:.2f} ms; "
                  f"publish -> zero twist received {(zero[1] - sent_wall) * 1000:.1f} ms wall; "
                  f"command -> body below 0.05 m/s (for 0.2 s) {rest if rest is None else f'{rest:.2f} s'} sim")
