"""``shadowpeft dog``: the whole dog in one process, from the same node table as dog.launch.py."""

from __future__ import annotations

import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..offload.client import DEADLINE_MISSED
from . import CliError, HelpFormatter

FINAL_OUTCOMES = ("done", "stopped", "refused", "failed")

DESCRIPTION = """\
Run the speech, interpreter, motion and simulator nodes of the node table in one process, with
one rclpy executor; this is what `ros2 launch shadowpeft_ros dog.launch.py` starts as separate
processes on a ROS 2 install. Both read config/dog.yaml and the same start-up arguments.

Input, one of:
  --text "..."   typed commands (repeatable), sent one after another; skips the speech node
  --say "..."    a sentence spoken with espeak-ng into a WAV and fed through the microphone path
  (neither)      the speech node's source from the parameter file or --audio-source (mic by default)
"""

EPILOG = """\
examples:
  shadowpeft dog --text "walk forward one meter then sit" --report r.json
  shadowpeft dog --say "hey dog, turn left and sit" --plot path.png
  shadowpeft dog --audio-source mic --offload-url http://gpu-box:8080 --offload-token $TOKEN
  shadowpeft dog --text "sit" --offload none     # the detached shadow alone, no server

Unless --offload names a server (or 'none'), this command starts the attached model in a loopback
server process (shadowpeft serve) and the robot reaches it over HTTP, as the paper deploys it:
the detached shadow on board, the attached model offloaded. The report says which route each
command took.
"""


def register(subparsers) -> None:
    from ..node_table import STARTUP_ARGUMENTS

    parser = subparsers.add_parser("dog", help="Run the whole dog (speech, interpreter, motion, MuJoCo) in one process.",
                                   description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    startup = parser.add_argument_group("start-up arguments (the same as dog.launch.py's launch arguments)")
    for arg in STARTUP_ARGUMENTS:
        flags = ["--" + arg.name.replace("_", "-")]
        flags += {"offload_url": ["--offload"], "offload_token": ["--token"]}.get(arg.name, [])
        startup.add_argument(*flags, dest=arg.name, default=None, choices=arg.choices,
                             help=f"{arg.help} [launch: {arg.name}:=..., default {arg.default!r}]")
    io = parser.add_argument_group("input and output")
    source = io.add_mutually_exclusive_group()
    source.add_argument("--text", action="append", metavar="TEXT",
                        help="Typed command; repeat for several, sent in order once the previous one ends.")
    source.add_argument("--say", metavar="SENTENCE",
                        help="Speak SENTENCE with espeak-ng and feed the audio through the microphone code path.")
    io.add_argument("--report", metavar="FILE", help="Write a JSON report of the run (utterances, plans, latencies, "
                    "outcomes, final pose).")
    io.add_argument("--plot", metavar="PNG", help="Save a top-down plot of the commanded and achieved path "
                    "(needs the MuJoCo simulator).")
    io.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                    help="Override one parameter of one node, e.g. --set motion.limits.max_linear_speed_mps=0.3")
    io.add_argument("--timeout", type=float, default=180.0,
                    help="Give up on commands that have not ended after this many seconds.")
    parser.set_defaults(func=run)


def _parse_overrides(items):
    overrides = {}
    for item in items:
        key, sep, raw = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot or not param:
            raise CliError(f"--set needs NODE.PARAM=VALUE, got {item!r}")
        try:
            import yaml

            value = yaml.safe_load(raw)
        except Exception:
            value = raw
        overrides.setdefault(node, {})[param] = value
    return overrides


def startup_arguments(args) -> dict:
    """Collect the start-up arguments the way dog.launch.py receives them (None means default)."""
    from ..node_table import STARTUP_ARGUMENTS

    given = {a.name: getattr(args, a.name) for a in STARTUP_ARGUMENTS if getattr(args, a.name, None) is not None}
    if args.text:
        given["audio_source"] = "none"
    return given


def prepare(args, given=None):
    """Return what this run starts: (planned nodes with their parameters, common names, local offload server).

    Exactly what ``run`` starts, so that test_node_table can hold it against dog.launch.py.
    """
    from ..node_table import NodeTableError, common_parameter_names, local_offload, plan_nodes

    given = startup_arguments(args) if given is None else given
    overrides = _parse_overrides(args.set)
    try:
        planned = plan_nodes(given)
        common = common_parameter_names(given)
    except NodeTableError as exc:
        raise CliError(str(exc)) from None
    for spec, params in planned:
        params.update(overrides.pop(spec.name, {}))
        if spec.name == "interpreter" and demo_offload(given, params):
            # The demo shows the paper's deployment: the detached shadow here, the attached model
            # behind a real HTTP server (a child process on loopback). dog.launch.py on a robot
            # keeps the parameter file's URL (empty: detached only).
            params["offload.url"] = "local"
    if overrides:
        raise CliError(f"--set names nodes that are not running: {sorted(overrides)}")
    return planned, common, local_offload(planned)


def demo_offload(given: dict, interpreter_params: dict) -> bool:
    """Say whether ``shadowpeft dog`` starts its loopback server: no URL given or configured, a mode that asks one."""
    return ("offload_url" not in given and not interpreter_params.get("offload.url")
            and interpreter_params.get("mode", "auto") != "detached"
            and not interpreter_params.get("in_process_attached", False))


def run(args) -> int:
    given = startup_arguments(args)
    workdir = tempfile.TemporaryDirectory(prefix="shadowpeft-dog-")
    if args.say:
        from ..speech.tts import synthesize

        wav = Path(workdir.name) / "say.wav"
        print(f"[tts] speaking {args.say!r} with espeak-ng -> {wav}")
        synthesize(args.say, wav, lead_silence_s=0.5, trail_silence_s=1.0)
        given["audio_source"] = str(wav)
    planned, common, offload = prepare(args, given)
    if args.plot and not any(spec.name == "sim" for spec, _ in planned):
        raise CliError("--plot needs the MuJoCo simulator (--sim mujoco)")
    local_server = None
    try:
        if offload is not None:
            interpreter_params = next(params for spec, params in planned if spec.name == "interpreter")
            local_server = _start_local_offload(offload, interpreter_params)
        report = DogSession(planned, args, common, loopback_server=local_server is not None).run()
    finally:
        if local_server is not None:
            local_server.stop()
        workdir.cleanup()
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2))
        print(f"[report] {args.report}")
    if args.plot and report.get("trajectory"):
        from ..sim.plot import plot_trajectory

        plot_trajectory(report["trajectory"], report.get("commanded_path", []), args.plot)
        print(f"[plot] {args.plot}")
    unfinished = [u for u in report["utterances"] if u["outcome"] not in FINAL_OUTCOMES]
    return 1 if unfinished else 0


def _start_local_offload(offload, interpreter_params: dict):
    """Serve the attached model on loopback for this run and point the interpreter at it."""
    from ..interpreter import InterpreterOptions
    from ..offload.engine import EngineOptions
    from ..offload.local import LocalServerError, start_local_server

    # The robot's own shadow adapter: the detached model on board is cut from the same one.
    adapter = offload.adapter or interpreter_params.get("adapter_path") or InterpreterOptions().adapter_path
    print(f"[offload] starting a local server for the attached model ({adapter}) ...")
    try:
        server = start_local_server(EngineOptions(engine=offload.engine, adapter=adapter, backbone=offload.backbone,
                                                  torch_threads=offload.torch_threads), host=offload.host)
    except LocalServerError as exc:
        raise CliError(f"--offload local: the server did not start: {exc}") from None
    print(f"[offload] ready at {server.url}")
    interpreter_params["offload.url"] = server.url
    interpreter_params["offload.token"] = server.token
    return server


# The loopback server stands in for a workstation but shares this machine's cores with the simulator and the
# robot's own model; on a slow machine its answer can miss a deadline chosen for a real server.
LOOPBACK_DEADLINE_HINT = ("[hint] the attached model runs on this machine's CPU next to the simulator here, not on "
                          "a server; on a slow machine give it longer: --set interpreter.offload.deadline_s=8")


class DogSession:
    """Start the planned nodes on one executor, drive them, and record what happened."""

    def __init__(self, planned, args, common_names=frozenset(), loopback_server=False):
        self.planned = planned
        self.loopback_server = loopback_server
        self.args = args
        self.common_names = set(common_names)
        self.lock = threading.Condition()
        self.utterances = {}  # command_id -> record, in arrival order
        self.voice_state = ""
        self.odom = None
        self.posture = None
        self.trajectory = []
        self.offload_state = None

    # -- recording -----------------------------------------------------------------------------
    def _record(self, command_id, **fields):
        with self.lock:
            rec = self.utterances.setdefault(command_id, {
                "command_id": command_id, "text": "", "plan": None, "route": None, "outcome": "pending",
                "reason": "", "latency_s": {}, "_t": {}})
            rec.update(fields)
            self.lock.notify_all()
            return rec

    def voice_callback(self, cmd):
        rec = self._record(cmd.command_id, text=cmd.text)
        rec["_t"]["speech_end"] = cmd.speech_end or time.time()
        if cmd.source != "text" and cmd.transcript_ready and cmd.speech_end:
            rec["latency_s"]["asr"] = round(cmd.transcript_ready - cmd.speech_end, 4)
        if cmd.source != "text":
            print(f"[speech] {cmd.text!r} (confidence {cmd.confidence:.2f}"
                  + (f", asr {rec['latency_s']['asr']:.2f} s" if "asr" in rec["latency_s"] else "")
                  + (", STOP fast path" if cmd.is_stop else "") + ")")

    def plan_callback(self, cmd):
        rec = self._record(cmd.command_id, plan=cmd.plan.to_dict(), route=cmd.plan.route)
        rec["_t"]["plan"] = time.time()
        for stage, seconds in cmd.latencies.items():
            rec["latency_s"][stage] = round(seconds, 4)
        print(f"[interpreter] route={cmd.plan.route} plan={cmd.plan.to_json()}"
              + (f" ({cmd.latencies['interpreter']:.2f} s)" if "interpreter" in cmd.latencies else ""))

    def outcome_callback(self, outcome):
        with self.lock:
            rec = self.utterances.get(outcome.command_id) or self._record(outcome.command_id)
            if rec["outcome"] in FINAL_OUTCOMES:
                return
            rec["outcome"] = outcome.outcome
            rec["reason"] = outcome.reason
            self.lock.notify_all()
        print(f"[outcome] {outcome.outcome}" + (f": {outcome.reason}" if outcome.reason else ""))
        if self.loopback_server and DEADLINE_MISSED in outcome.reason:
            print(LOOPBACK_DEADLINE_HINT)

    def cmd_vel_callback(self, twist):
        now = time.time()
        moving = any(abs(v) > 1e-6 for v in (twist.linear.x, twist.linear.y, twist.angular.z))
        if moving:
            self._mark_first_motion(now)

    def posture_callback(self, msg):
        self._mark_first_motion(time.time())

    def _mark_first_motion(self, now):
        with self.lock:
            for rec in self.utterances.values():
                if "plan" in rec["_t"] and "first_motion" not in rec["_t"] and rec["outcome"] not in FINAL_OUTCOMES:
                    rec["_t"]["first_motion"] = now
                    rec["latency_s"]["plan_to_first_motion"] = round(now - rec["_t"]["plan"], 4)
                    rec["latency_s"]["end_to_end"] = round(now - rec["_t"]["speech_end"], 4)

    def odom_callback(self, msg):
        p = msg.pose.pose
        q = p.orientation
        self.odom = (p.position.x, p.position.y, math.degrees(self._yaw_from_quaternion(q.w, q.x, q.y, q.z)))
        if not self.trajectory or math.dist(self.trajectory[-1][:2], self.odom[:2]) > 0.01:
            self.trajectory.append([round(v, 4) for v in self.odom])

    def posture_state_callback(self, msg):
        self.posture = msg.data

    def voice_state_callback(self, msg):
        with self.lock:
            self.voice_state = msg.data
            self.lock.notify_all()

    # -- running -------------------------------------------------------------------------------
    def _create_nodes(self):
        import importlib

        from rclpy.exceptions import ParameterException
        from rclpy.parameter import Parameter

        nodes = []
        for spec, params in self.planned:
            try:
                cls = getattr(importlib.import_module(spec.module), spec.class_name)
            except ModuleNotFoundError as exc:
                if exc.name != spec.module:
                    raise
                raise CliError(f"the {spec.name} node is not built yet in this version ({spec.module})") from None
            overrides = [Parameter(name, value=value) for name, value in params.items()]
            print(f"[start] {spec.name}: {spec.summary}")
            try:
                node = cls(parameter_overrides=overrides)
            except (ValueError, TypeError, FileNotFoundError, ParameterException) as exc:
                raise CliError(f"the {spec.name} node could not start: {exc}") from None
            nodes.append(node)
            undeclared = sorted(n for n in params if not node.has_parameter(n) and n not in self.common_names)
            if undeclared:
                raise CliError(f"node {spec.name!r} has no parameters {undeclared} (check the parameter file)")
            if spec.lifecycle:
                self._bring_up(spec, node)
        return nodes

    @staticmethod
    def _bring_up(spec, node) -> None:
        """Drive a lifecycle node through configure and activate, as dog.launch.py's event handlers do."""
        from rclpy.lifecycle import TransitionCallbackReturn

        print(f"[start] {spec.name}: configure (loads the models)")
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise CliError(f"the {spec.name} node could not configure (its log above says why)")
        if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            raise CliError(f"the {spec.name} node could not activate")

    def _create_console(self):
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.node import Node
        from std_msgs.msg import String

        from .. import topics
        from ..geometry import yaw_from_quaternion
        from ..nodes.common import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS
        from ..nodes.transport import TypedPublisher, create_typed_subscription

        self._yaw_from_quaternion = yaw_from_quaternion
        console = Node("dog_console")
        self.voice_pub = TypedPublisher(console, "VoiceCommand", topics.VOICE_COMMAND, COMMAND_QOS)
        create_typed_subscription(console, "VoiceCommand", topics.VOICE_COMMAND, self.voice_callback, COMMAND_QOS)
        create_typed_subscription(console, "MotionCommand", topics.PLAN, self.plan_callback, COMMAND_QOS)
        create_typed_subscription(console, "PlanOutcome", topics.OUTCOME, self.outcome_callback, COMMAND_QOS)
        console.create_subscription(Twist, topics.CMD_VEL, self.cmd_vel_callback, COMMAND_QOS)
        console.create_subscription(String, topics.POSTURE, self.posture_callback, COMMAND_QOS)
        console.create_subscription(Odometry, topics.ODOM, self.odom_callback, SENSOR_QOS)
        console.create_subscription(String, topics.POSTURE_STATE, self.posture_state_callback, LATCHED_QOS)
        console.create_subscription(String, topics.VOICE_STATE, self.voice_state_callback, LATCHED_QOS)
        return console

    def _wait(self, predicate, timeout) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.1))
        return True

    def _ended(self, command_id) -> bool:
        rec = self.utterances.get(command_id)
        return rec is not None and rec["outcome"] in FINAL_OUTCOMES

    def _drive(self):
        from ..messages import VoiceCommand

        timeout = self.args.timeout
        if self.args.text:
            for text in self.args.text:
                now = time.time()
                cmd = VoiceCommand(text=text, source="text", speech_start=now, speech_end=now, transcript_ready=now)
                self._record(cmd.command_id, text=text)["_t"]["speech_end"] = now
                print(f"[text] {text!r}")
                self.voice_pub.publish(cmd)
                if not self._wait(lambda: self._ended(cmd.command_id), timeout):
                    print(f"[timeout] {text!r} did not end within {timeout:g} s")
            return
        if not any(spec.name == "speech" for spec, _ in self.planned):
            print("[idle] no --text and no speech node: running until Ctrl-C")
            return self._run_until_shutdown()
        source = dict(next(p for s, p in self.planned if s.name == "speech")).get("source", "mic")
        if source == "mic":
            print("[listening] speak to the dog; Ctrl-C to stop")
            return self._run_until_shutdown()
        finished = self._wait(lambda: self.voice_state.startswith("error") or (self.voice_state == "finished" and all(
            r["outcome"] in FINAL_OUTCOMES for r in self.utterances.values())), timeout)
        if self.voice_state.startswith("error"):
            raise CliError(f"the speech node could not run: {self.voice_state[len('error:'):].strip()}")
        if not finished:
            print(f"[timeout] audio input or its commands did not end within {timeout:g} s")

    @staticmethod
    def _run_until_shutdown():
        """Return when Ctrl-C arrives, as KeyboardInterrupt or as rclpy's own shutdown of the context."""
        import rclpy

        while rclpy.ok():
            time.sleep(0.1)
        raise KeyboardInterrupt

    def run(self) -> dict:
        import rclpy
        from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from ..nodes.common import stop_on_signals

        # The simulator and the language model share this process. With Python's default 5 ms GIL
        # switch interval, every torch op of the model waited for the physics thread to yield:
        # measured here, one command took 117 s beside the sim-time simulator, 20 s with 0.5 ms.
        sys.setswitchinterval(0.0005)
        # Ctrl-C and SIGTERM raise KeyboardInterrupt here, and the nodes are destroyed before rclpy
        # shuts down, so the motion node's final zero twist goes out (see stop_on_signals).
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
        with stop_on_signals(interrupt=True):
            nodes = []
            executor = MultiThreadedExecutor(num_threads=max(4, len(self.planned) + 2))
            stopping = threading.Event()
            spinner = threading.Thread(target=self._spin, args=(executor, stopping), daemon=True)
            try:
                console = self._create_console()
                executor.add_node(console)
                nodes.append(console)
                spinner.start()
                for node in self._create_nodes():
                    nodes.append(node)
                    executor.add_node(node)
                self._drive()
                # Let the dog finish settling so the final pose is the pose it rests in.
                time.sleep(1.0)
                self._record_offload_state(nodes)
            except (KeyboardInterrupt, ExternalShutdownException):
                print("[shutdown] interrupted")
            finally:
                # Stop spinning before destroying: a callback must never run on a destroyed node.
                stopping.set()
                executor.shutdown(timeout_sec=5.0)
                if spinner.is_alive():
                    spinner.join(timeout=5.0)
                for node in reversed(nodes):
                    node.destroy_node()
                rclpy.try_shutdown()
        return self._report()

    def _record_offload_state(self, nodes) -> None:
        """Keep the interpreter's offload state (reachable, breaker, last round trip) for the report."""
        for node in nodes:
            if hasattr(node, "offload_status"):
                self.offload_state = node.offload_status()

    @staticmethod
    def _spin(executor, stopping: threading.Event):
        import rclpy
        from rclpy.executors import ExternalShutdownException

        try:
            executor.spin()
        except (ExternalShutdownException, KeyboardInterrupt):
            pass
        except Exception as exc:
            # The context is still up while the executor shuts down (rclpy.ok() turns false only at
            # try_shutdown), so a callback racing that shutdown is told apart by ``stopping``, not by the context.
            if rclpy.ok() and not stopping.is_set():
                raise
            # A callback that raced the shutdown: nothing is left to act on, but say what it was.
            print(f"[shutdown] a callback ended with the shutdown: {type(exc).__name__}: {exc}")

    def _report(self) -> dict:
        utterances = []
        for rec in self.utterances.values():
            rec = {k: v for k, v in rec.items() if not k.startswith("_")}
            utterances.append(rec)
        report = {"utterances": utterances}
        if self.offload_state is not None:
            report["offload"] = self.offload_state
        if self.odom is not None:
            x, y, yaw = self.odom
            report["final_pose"] = {"x": round(x, 4), "y": round(y, 4), "yaw_deg": round(yaw, 2),
                                    "posture": self.posture}
            report["trajectory"] = self.trajectory
            report["commanded_path"] = self._commanded_path(utterances)
        return report

    def _commanded_path(self, utterances) -> list:
        """Chain the ideal paths of the plans the motion node ran, with the configured defaults."""
        from ..motion.path import expected_path
        from ..plan import parse_plan
        from ..safety import limits_from_mapping

        motion_params = next((params for spec, params in self.planned if spec.name == "motion"), {})
        _, defaults = limits_from_mapping(motion_params)
        path = [(0.0, 0.0, 0.0)]
        for rec in utterances:
            if rec["plan"] and rec["plan"]["actions"] and rec["outcome"] in ("done", "stopped"):
                path += expected_path(parse_plan(rec["plan"]), defaults, start=path[-1])[1:]
        return [[round(x, 4), round(y, 4), round(math.degrees(yaw), 2)] for x, y, yaw in path]
