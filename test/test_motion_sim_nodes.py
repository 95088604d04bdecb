"""The real nodes over DDS in simulated time: the sim node in its own process, the motion node here.

One simulator run serves every scenario (the dog carries on from where the last one left it), so
the whole file costs one process start. A probe node records every Twist on /cmd_vel; the last
test drives a plan over the speed limit and checks that no Twist was ever over the limits (it also
passes run alone). ``motion_graph`` is also what
``bench_motion.py`` measures.
"""

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("mujoco")

from geometry_msgs.msg import Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from shadowpeft_ros.geometry import yaw_from_quaternion  # noqa: E402
from shadowpeft_ros.messages import MotionCommand, VoiceCommand  # noqa: E402
from shadowpeft_ros.nodes.common import COMMAND_QOS, LATCHED_QOS  # noqa: E402
from shadowpeft_ros.nodes.motion_node import MotionNode  # noqa: E402
from shadowpeft_ros.nodes.transport import TypedPublisher, create_typed_subscription  # noqa: E402
from shadowpeft_ros.plan import parse_plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Probe:
    """Everything a test sees of the graph: twists, odometry, outcomes, spoken words, posture state."""

    def __init__(self, context):
        self.node = rclpy.create_node("motion_test_probe", context=context,
                                      parameter_overrides=[Parameter("use_sim_time", value=True)])
        n = self.node
        self.twists, self.odom, self.outcomes, self.said, self.posture = [], [], [], [], []
        self.lock = threading.Lock()
        n.create_subscription(Twist, "/cmd_vel", self._twist, 100)
        n.create_subscription(Odometry, "/odom", self._odom, 100)
        n.create_subscription(String, "/dog/say", lambda m: self.said.append(m.data), 10)
        n.create_subscription(String, "/dog/posture_state", lambda m: self.posture.append(m.data), LATCHED_QOS)
        create_typed_subscription(n, "PlanOutcome", "/dog/outcome", self.outcomes.append, COMMAND_QOS)
        self.plans = TypedPublisher(n, "MotionCommand", "/dog/plan", COMMAND_QOS)
        self.raw_plans = n.create_publisher(String, "/dog/plan", COMMAND_QOS)
        self.voice = TypedPublisher(n, "VoiceCommand", "/voice/command", COMMAND_QOS)
        self.estop = n.create_client(Trigger, "/dog/estop")
        self.estop_reset = n.create_client(Trigger, "/dog/estop_reset")

    def sim_now(self):
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _twist(self, msg):
        with self.lock:
            self.twists.append((self.sim_now(), time.monotonic(), msg.linear.x, msg.linear.y, msg.angular.z))

    def _odom(self, msg):
        p, q, v = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist.linear
        roll = math.atan2(2 * (q.w * q.x + q.y * q.z), 1 - 2 * (q.x * q.x + q.y * q.y))
        pitch = math.asin(max(-1.0, min(1.0, 2 * (q.w * q.y - q.z * q.x))))
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            self.odom.append(dict(t=stamp, x=p.x, y=p.y, z=p.z, yaw=yaw_from_quaternion(q.w, q.x, q.y, q.z),
                                  roll=roll, pitch=pitch, speed=math.hypot(v.x, v.y)))

    def pose(self):
        with self.lock:
            return dict(self.odom[-1])

    def wait(self, predicate, wall_s, what):
        deadline = time.monotonic() + wall_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_sim(self, seconds):
        end = self.sim_now() + seconds
        self.wait(lambda: self.sim_now() >= end, 10 + 3 * seconds, f"{seconds} s of sim time")

    def send(self, command_id, p):
        self.plans.publish(MotionCommand(plan=p, command_id=command_id, text=command_id))

    def outcomes_of(self, command_id):
        return [o for o in list(self.outcomes) if o.command_id == command_id]

    def final(self, command_id, wall_s=60):
        self.wait(lambda: any(o.outcome != "accepted" for o in self.outcomes_of(command_id)), wall_s,
                  f"the outcome of {command_id}")
        time.sleep(0.2)  # a second final outcome would be a bug: give it the chance to show
        finals = [o for o in self.outcomes_of(command_id) if o.outcome != "accepted"]
        assert len(finals) == 1, finals
        return finals[0]

    def settle(self):
        """Wait until the gait has stopped stepping and the body is at rest."""
        self.wait_sim(1.5)

    def call(self, client, wall_s=10):
        assert client.wait_for_service(timeout_sec=wall_s)
        future = client.call_async(Trigger.Request())
        self.wait(future.done, wall_s, "a service reply")
        return future.result()



@contextlib.contextmanager
def motion_graph(max_rtf=3.0, watchdog_node=False):
    """Start the sim node process (sim time, capped at max_rtf) and a motion node and probe here."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    # The sim node's log goes to a file: an unread pipe would fill up and block it.
    log = tempfile.TemporaryFile(mode="w+")
    sim = subprocess.Popen([sys.executable, "-m", "shadowpeft_ros.nodes.sim_node", "--ros-args",
                            "-p", "time_mode:=sim", "-p", f"max_rtf:={max_rtf}"],
                           env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    context = rclpy.Context()
    context.init()
    motion = MotionNode(context=context, parameter_overrides=[Parameter("use_sim_time", value=True)])
    nodes = [motion]
    wd = None
    if watchdog_node:
        # A second motion node on real (wall) time that only listens to /odom, to see the watchdog fire
        # when the simulator process hangs. Its commands go to a topic nobody drives. Its odometry timeout
        # is 2 s, not the robot's 0.5 s: on a loaded 2-core CI machine the simulator's odometry once paused
        # 0.59 s by itself and failed the move before the test hung the simulator.
        wd = MotionNode(context=context, namespace="wd", parameter_overrides=[Parameter("odom_timeout_s", value=2.0)] + [
            Parameter(name, value=f"/wd/{topic}") for name, topic in (
                ("cmd_vel_topic", "cmd_vel"), ("plan_topic", "plan"), ("outcome_topic", "outcome"),
                ("say_topic", "say"), ("posture_topic", "posture"), ("voice_topic", "voice"),
                ("estop_service", "estop"), ("estop_reset_service", "estop_reset"))])
        nodes.append(wd)
    probe = Probe(context)
    nodes.append(probe.node)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    for node in nodes:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        try:
            probe.wait(lambda: len(probe.odom) > 5 and probe.sim_now() > 0, 90, "the simulator's first odometry")
        except AssertionError:
            log.seek(0)
            raise AssertionError(f"the sim node did not start; its log:\n{log.read()[-3000:]}") from None
        probe.wait(lambda: probe.plans.matched_subscriptions >= 1, 30, "discovery")
        yield dict(probe=probe, motion=motion, sim=sim, watchdog_node=wd, context=context)
    finally:
        if sim.poll() is None:
            sim.send_signal(signal.SIGCONT)
            sim.send_signal(signal.SIGINT)
            try:
                sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sim.kill()
        log.close()
        executor.shutdown()
        spinner.join(timeout=5)
        for node in nodes:
            node.destroy_node()
        context.try_shutdown()


pytestmark = pytest.mark.slow
MAX_RTF = 3.0


def plan(*actions):
    return parse_plan({"route": "local", "actions": list(actions), "say": ""})


@pytest.fixture(scope="module")
def graph():
    with motion_graph(max_rtf=MAX_RTF, watchdog_node=True) as g:
        yield g


def _yaw_deg(a, b):
    return math.degrees((b - a + math.pi) % (2 * math.pi) - math.pi)


def test_move_forward_one_metre(graph):
    probe = graph["probe"]
    start = probe.pose()
    probe.send("fwd", plan({"type": "move", "direction": "forward", "distance_m": 1.0, "speed_mps": 0.3}))
    assert probe.final("fwd").outcome == "done"
    probe.settle()
    end = probe.pose()
    c, s = math.cos(start["yaw"]), math.sin(start["yaw"])
    along = c * (end["x"] - start["x"]) + s * (end["y"] - start["y"])
    print(f"forward 1 m: {along:.3f} m, heading {_yaw_deg(start['yaw'], end['yaw']):+.2f} deg")
    assert abs(along - 1.0) <= 0.10, along
    # The trot rocks the heading by 2-3 degrees a step and the hold acts on its filtered mean; with the
    # control loop stalled for 0.3-0.4 s on a loaded 2-core machine a fresh-clone CI run ended 3.17 deg off.
    assert abs(_yaw_deg(start["yaw"], end["yaw"])) <= 4.0


def test_turn_left_ninety(graph):
    probe = graph["probe"]
    start = probe.pose()
    probe.send("left", plan({"type": "turn", "direction": "left", "angle_deg": 90}))
    assert probe.final("left").outcome == "done"
    probe.settle()
    end = probe.pose()
    print(f"turn left 90: {_yaw_deg(start['yaw'], end['yaw']):.2f} deg, drift "
          f"{math.hypot(end['x'] - start['x'], end['y'] - start['y']) * 100:.1f} cm")
    assert _yaw_deg(start["yaw"], end["yaw"]) == pytest.approx(90, abs=5)
    assert math.hypot(end["x"] - start["x"], end["y"] - start["y"]) <= 0.05


def test_sequence_ends_at_the_expected_pose_without_falling(graph):
    probe = graph["probe"]
    start = probe.pose()
    first_sample = len(probe.odom)
    probe.send("seq", plan({"type": "move", "direction": "forward", "distance_m": 0.5, "speed_mps": None},
                           {"type": "turn", "direction": "right", "angle_deg": 90},
                           {"type": "posture", "name": "sit"}, {"type": "posture", "name": "stand"},
                           {"type": "move", "direction": "forward", "distance_m": 0.5, "speed_mps": None}))
    assert probe.final("seq").outcome == "done"
    probe.settle()
    end = probe.pose()
    assert "sit" in probe.posture and probe.posture[-1] == "stand"
    # Expected: 0.5 m ahead, then 0.5 m to the right of the start heading.
    c, s = math.cos(start["yaw"]), math.sin(start["yaw"])
    ex, ey = start["x"] + 0.5 * c + 0.5 * s, start["y"] + 0.5 * s - 0.5 * c
    print(f"sequence: end {math.hypot(end['x'] - ex, end['y'] - ey) * 100:.1f} cm from the expected point, "
          f"heading {_yaw_deg(start['yaw'], end['yaw']):.2f} deg (expected -90)")
    assert math.hypot(end["x"] - ex, end["y"] - ey) <= 0.10
    assert _yaw_deg(start["yaw"], end["yaw"]) == pytest.approx(-90, abs=5)
    samples = probe.odom[first_sample:]
    assert min(o["z"] for o in samples) > 0.15
    assert max(max(abs(o["roll"]), abs(o["pitch"])) for o in samples) < math.radians(30)


def test_spoken_stop_during_a_fast_walk(graph):
    probe = graph["probe"]
    probe.send("walk", plan({"type": "move", "direction": "forward", "distance_m": 4.0, "speed_mps": 0.5}))
    probe.wait(lambda: probe.odom[-1]["speed"] > 0.4 and probe.twists[-1][2] >= 0.49, 30, "a 0.5 m/s walk")
    probe.wait_sim(0.5)
    n_twists = len(probe.twists)
    sent_wall, sent_sim = time.monotonic(), probe.sim_now()
    probe.voice.publish(VoiceCommand(text="stop", is_stop=True, source="test"))
    probe.wait(lambda: any(t[2] == 0.0 for t in probe.twists[n_twists:]), 5, "a zero twist")
    zero = next(t for t in probe.twists[n_twists:] if t[2] == 0.0)
    wall_latency, sim_latency = zero[1] - sent_wall, zero[0] - sent_sim
    inside = graph["motion"].stop_latencies[-1]
    print(f"stop -> zero twist: {inside * 1000:.2f} ms in the motion node; {wall_latency * 1000:.1f} ms wall and "
          f"{sim_latency * 1000:.0f} ms sim from the probe's publish to its receipt of the zero twist")
    # The stop's own path publishes the zero twist at once, not at the next control tick (50 ms at 20 Hz).
    # The DDS round trip printed above depends on the machine's load (122 ms once on a loaded 2-core CI
    # run), so it is a figure for test/bench_motion.py, not a bound here.
    assert inside < 0.05
    assert probe.final("walk").outcome == "stopped"
    # Judge the braking from the zero twist's arrival in sim time: on a loaded machine the DDS round trip
    # above can take a large share of a second. The gait stops stepping at the first diagonal touchdown once
    # the body is slow, and at the latest after four trot periods (1.6 s) with no command; then the feet
    # settle. Trotting rocks the body, so speeds are means over 0.2 s windows, one half gait cycle.
    t0 = zero[0]
    probe.wait(lambda: probe.odom[-1]["t"] >= t0 + 2.5, 30, "2.5 s of odometry after the zero twist")
    with probe.lock:
        after = [o for o in probe.odom if t0 - 0.1 <= o["t"] <= t0 + 2.5]

    def mean_speed(start):
        window = [o["speed"] for o in after if t0 + start <= o["t"] <= t0 + start + 0.2]
        return sum(window) / len(window) if window else float("inf")

    timeline = [(round(o["t"] - t0, 2), round(o["speed"], 3)) for o in after]
    rest = next((k / 50 for k in range(0, 116) if mean_speed(k / 50) < 0.05), None)
    start = min(after, key=lambda o: abs(o["t"] - t0))
    braking = math.hypot(after[-1]["x"] - start["x"], after[-1]["y"] - start["y"])
    print(f"at rest {rest} s (sim) after the zero twist, {braking * 100:.0f} cm of braking from 0.5 m/s")
    assert rest is not None and rest <= 2.0, timeline
    assert mean_speed(2.3) < 0.05, timeline
    assert braking < 0.6, timeline
    assert all(t[2] == 0.0 and t[4] == 0.0 for t in probe.twists[n_twists:] if t[0] > zero[0])


def test_estop_latches_until_reset(graph):
    probe = graph["probe"]
    probe.send("before", plan({"type": "move", "direction": "backward", "distance_m": 1.0, "speed_mps": 0.2}))
    probe.wait(lambda: probe.outcomes_of("before"), 20, "acceptance")
    reply = probe.call(probe.estop)
    assert reply.success
    assert probe.final("before").outcome == "stopped"
    n_twists = len(probe.twists)
    probe.send("during", plan({"type": "move", "direction": "forward", "distance_m": 0.3, "speed_mps": None}))
    refused = probe.final("during")
    assert refused.outcome == "refused" and "e-stop" in refused.reason
    probe.wait_sim(1.0)
    assert all(t[2:] == (0.0, 0.0, 0.0) for t in probe.twists[n_twists:])
    assert probe.call(probe.estop_reset).success
    probe.send("after", plan({"type": "move", "direction": "forward", "distance_m": 0.2, "speed_mps": None}))
    assert probe.final("after").outcome == "done"


def test_over_limit_plan_is_clamped_and_malformed_plans_rejected(graph):
    probe = graph["probe"]
    probe.send("fast", plan({"type": "move", "direction": "forward", "distance_m": 0.4, "speed_mps": 1.5}))
    assert probe.final("fast").outcome == "done"
    accepted = [o for o in probe.outcomes_of("fast") if o.outcome == "accepted"]
    assert len(accepted) == 1
    assert "1.5 meters per second is over my speed limit of 0.5 meters per second" in accepted[0].reason

    # An unsafe speed (2 m/s or more) is refused by the node, never walked at the limit.
    probe.send("race", plan({"type": "move", "direction": "forward", "distance_m": 0.4, "speed_mps": 5.0}))
    race = probe.final("race")
    assert race.outcome == "refused" and "5 meters per second is an unsafe speed" in race.reason

    # By default a turn over its limit is refused, not cut to the largest turn allowed.
    probe.settle()
    n_twists = len(probe.twists)
    probe.send("spin", plan({"type": "turn", "direction": "left", "angle_deg": 1000}))
    spin = probe.final("spin")
    assert spin.outcome == "refused" and spin.reason == "1000 degrees is over my 720 degree limit per turn"
    probe.wait(lambda: any("720 degree limit per turn" in said for said in probe.said), 5, "the spoken refusal")
    assert all(t[4] == 0.0 for t in probe.twists[n_twists:])

    n_twists = len(probe.twists)
    probe.raw_plans.publish(String(data='{"command_id": "bad1", "route": "local", "actions": "forward 9 m"}'))
    probe.raw_plans.publish(String(data="walk forward nine metres"))
    refused = probe.final("bad1")
    assert refused.outcome == "refused" and "malformed" in refused.reason
    probe.wait_sim(0.5)
    assert all(t[2:] == (0.0, 0.0, 0.0) for t in probe.twists[n_twists:])


def test_refuse_policy_refuses_and_says_why(graph):
    # The parameter is read at start-up; a node configured to refuse shows the other policy.
    context = graph["context"]
    strict = MotionNode(context=context, namespace="strict", parameter_overrides=[
        Parameter("limits.on_violation", value="refuse"), Parameter("plan_topic", value="/strict/plan"),
        Parameter("outcome_topic", value="/strict/outcome"), Parameter("say_topic", value="/strict/say"),
        Parameter("cmd_vel_topic", value="/strict/cmd_vel"), Parameter("posture_topic", value="/strict/posture"),
        Parameter("voice_topic", value="/strict/voice"), Parameter("estop_service", value="/strict/estop"),
        Parameter("estop_reset_service", value="/strict/estop_reset")])
    probe = graph["probe"]
    got, said = [], []
    create_typed_subscription(probe.node, "PlanOutcome", "/strict/outcome", got.append, COMMAND_QOS)
    probe.node.create_subscription(String, "/strict/say", lambda m: said.append(m.data), COMMAND_QOS)
    pub = TypedPublisher(probe.node, "MotionCommand", "/strict/plan", COMMAND_QOS)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(strict)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        probe.wait(lambda: pub.matched_subscriptions >= 1, 20, "discovery")
        pub.publish(MotionCommand(plan=plan({"type": "turn", "direction": "left", "angle_deg": 1000}),
                                  command_id="huge"))
        probe.wait(lambda: got and said, 20, "the refusal")
        assert [o.outcome for o in got] == ["refused"] and "1000 degrees is over my 720 degree limit" in got[0].reason
        assert "won't" in said[0]
    finally:
        executor.shutdown()
        strict.destroy_node()


def test_watchdog_zeroes_when_odometry_goes_stale(graph):
    probe, sim = graph["probe"], graph["sim"]
    node = graph["watchdog_node"]
    twists = []
    probe.node.create_subscription(Twist, "/wd/cmd_vel", lambda m: twists.append((time.monotonic(), m.linear.x)), 100)
    got = []
    create_typed_subscription(probe.node, "PlanOutcome", "/wd/outcome", got.append, COMMAND_QOS)
    pub = TypedPublisher(probe.node, "MotionCommand", "/wd/plan", COMMAND_QOS)
    probe.wait(lambda: pub.matched_subscriptions >= 1, 20, "discovery")
    # Odometry keeps coming but the (wall-clock) node's base never moves it closer: a long move stays running.
    pub.publish(MotionCommand(plan=plan({"type": "move", "direction": "forward", "distance_m": 3.0, "speed_mps": 0.3}),
                              command_id="wd"))
    probe.wait(lambda: twists and twists[-1][1] > 0.2, 20, "the watchdog node moving")
    assert node.last_mode == "closed-loop"
    sim.send_signal(signal.SIGSTOP)  # the driver hangs: no more /odom
    hung = time.monotonic()
    try:
        probe.wait(lambda: got and got[-1].outcome == "failed", 10, "the failed outcome")
        zero = next(t for t in twists if t[0] > hung and t[1] == 0.0)
        print(f"odometry stopped -> zero twist seen after {zero[0] - hung:.2f} s (timeout {node.options.odom_timeout_s} s)")
        # The bound is on the node's own reading (the odometry's age when it failed the move), not on the
        # DDS round trip to this probe, which once took 2.2 s on a loaded 2-core CI machine.
        stale = re.search(r"odometry went stale \(([\d.]+) s old\)", got[-1].reason)
        assert stale, got[-1].reason
        # Well inside the 10 s the move itself would take: it was the stale odometry that ended it.
        assert float(stale.group(1)) <= node.options.odom_timeout_s + 1.5
        time.sleep(0.3)
        assert all(t[1] == 0.0 for t in twists if t[0] > zero[0])
    finally:
        sim.send_signal(signal.SIGCONT)


def test_destroying_a_moving_node_sends_a_last_zero_twist(graph):
    context, probe = graph["context"], graph["probe"]
    topics = {name: f"/bye/{name.rsplit('_', 1)[0]}" for name in (
        "cmd_vel_topic", "plan_topic", "odom_topic", "outcome_topic", "say_topic", "posture_topic", "voice_topic",
        "estop_service", "estop_reset_service")}
    node = MotionNode(context=context, namespace="bye",
                      parameter_overrides=[Parameter(k, value=v) for k, v in topics.items()])
    twists = []
    probe.node.create_subscription(Twist, "/bye/cmd_vel", lambda m: twists.append(m.linear.x), 100)
    pub = TypedPublisher(probe.node, "MotionCommand", "/bye/plan", COMMAND_QOS)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        probe.wait(lambda: pub.matched_subscriptions >= 1, 20, "discovery")
        # No odometry on /bye/odom: the move runs time-based, and is still running when the node goes.
        pub.publish(MotionCommand(plan=plan({"type": "move", "direction": "forward", "distance_m": 3.0,
                                             "speed_mps": 0.3}), command_id="bye"))
        probe.wait(lambda: twists and twists[-1] > 0.2, 20, "the node moving")
        assert node.last_mode == "time-based"
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        node.destroy_node()
    probe.wait(lambda: twists[-1] == 0.0, 5, "the last zero twist")


def test_no_twist_ever_over_the_limits(graph):
    # Stands alone: it drives its own plan that asks for 3.6 times the speed limit (2 m/s or more would be an
    # unsafe request, refused), then checks every Twist seen so far (the other scenarios' too, when the whole
    # file runs).
    probe, limits = graph["probe"], graph["motion"].limits
    n_twists = len(probe.twists)
    probe.send("over", plan({"type": "move", "direction": "forward", "distance_m": 0.6, "speed_mps": 1.8},
                            {"type": "turn", "direction": "right", "angle_deg": 45}))
    assert probe.final("over").outcome == "done"
    [accepted] = [o for o in probe.outcomes_of("over") if o.outcome == "accepted"]
    assert "over my speed limit" in accepted.reason
    with probe.lock:
        twists = list(probe.twists)
    mine = twists[n_twists:]
    assert len(mine) > 20
    # The clamped walk reached the limit: the check below is against a plan that pushed on it.
    assert max(math.hypot(t[2], t[3]) for t in mine) >= limits.max_linear_speed_mps - 0.01
    assert max(abs(t[4]) for t in mine) > 0.0
    worst_lin = max(math.hypot(t[2], t[3]) for t in twists)
    worst_ang = max(abs(t[4]) for t in twists)
    print(f"{len(twists)} twists, largest {worst_lin:.3f} m/s and {math.degrees(worst_ang):.1f} deg/s")
    assert worst_lin <= limits.max_linear_speed_mps + 1e-9
    assert worst_ang <= math.radians(limits.max_angular_speed_dps) + 1e-9
    assert all(math.isfinite(v) for t in twists for v in t[2:])
