"""The speech and motion stages around the interpreter, run with the robot's own core code.

Speech: a case's WAV goes through ``FakeSoundCard`` (the named fake of the sound card) in real
time, the streaming Silero VAD, faster-whisper and the command gate, as in the speech node.
The transcript is the same for every configuration, so each clip is heard once per run and its
transcript and ASR latency are shared by all configurations.

Motion: the plan goes to the motion node's ``MotionExecutor`` (safety check, ramps, closed
loop on odometry), whose twist and posture commands drive the MuJoCo ``DogSim`` in lock step,
the executor's clock being sim time. Without ``--sim`` only the executor runs, to time the first
velocity command. An identical plan is executed once per run (its result is reused).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

from ..geometry import Pose, relative_pose
from ..plan import Plan
from ..safety import MotionDefaults, SafetyLimits

logger = logging.getLogger("shadowpeft_ros")

FINAL_OUTCOMES = ("done", "stopped", "refused", "failed")


@dataclass
class HeardCommand:
    """What the speech stage made of one clip."""

    transcript: str = ""
    command_text: str = ""
    is_stop: bool = False
    accepted: bool = False
    confidence: float = 0.0
    asr_s: Optional[float] = None
    speech_s: float = 0.0
    error: str = ""

    def to_dict(self) -> dict:
        return {"transcript": self.transcript, "command_text": self.command_text, "is_stop": self.is_stop,
                "accepted": self.accepted, "confidence": round(self.confidence, 4),
                "asr_s": None if self.asr_s is None else round(self.asr_s, 4), "error": self.error}


class SpeechStage:
    """Hear WAV clips through the speech node's core: fake sound card -> VAD -> Whisper -> command gate."""

    def __init__(self, asr_options=None, segmenter_options=None, gate_options=None, playback_speed: float = 1.0):
        from ..speech import AsrOptions, CommandGate, GateOptions, SegmenterOptions, load_backend

        self.asr_options = asr_options or AsrOptions()
        self.segmenter_options = segmenter_options or SegmenterOptions()
        self.gate = CommandGate(gate_options or GateOptions())
        self.playback_speed = playback_speed
        self.backend = load_backend(self.asr_options)

    def hear(self, path, timeout_s: float = 60.0) -> HeardCommand:
        """Play one clip into the speech pipeline and return the first utterance it yields as a command."""
        from ..speech import AudioOptions, SpeechPipeline, open_source

        heard: List = []
        done = threading.Event()
        options = AudioOptions(source=str(path), playback_speed=self.playback_speed, file_gap_s=0.8)
        try:
            source = open_source(options)
        except Exception as exc:  # an unreadable clip is this case's error, not the run's
            return HeardCommand(error=f"cannot read audio: {exc}")
        pipeline = SpeechPipeline(source, self.backend, heard.append, self.segmenter_options, options,
                                  on_finished=done.set)
        started = time.perf_counter()
        pipeline.start()
        finished = pipeline.wait(timeout_s)
        pipeline.stop()
        elapsed = time.perf_counter() - started
        if pipeline.failed is not None:
            return HeardCommand(speech_s=elapsed, error=f"speech pipeline failed: {pipeline.failed}")
        if not finished:
            return HeardCommand(speech_s=elapsed, error=f"speech pipeline did not finish within {timeout_s:g} s")
        if not heard:
            return HeardCommand(speech_s=elapsed, error="no speech was recognised in the clip")
        # A clip holds one command; Whisper may split it at a pause, so join what was heard.
        transcript = " ".join(u.transcript.text.strip() for u in heard).strip()
        first, last = heard[0], heard[-1]
        decision = self.gate.decide(transcript, first.speech_start, last.speech_end)
        confidence = min(u.transcript.confidence for u in heard)
        return HeardCommand(transcript=transcript, command_text=decision.text, is_stop=decision.is_stop,
                            accepted=decision.accepted, confidence=confidence,
                            asr_s=max(0.0, last.transcript_ready - last.speech_end), speech_s=elapsed,
                            error="" if decision.accepted else f"the command gate dropped it: {decision.reason}")


@dataclass
class Execution:
    """What the motion stage did with one plan."""

    outcome: str
    reason: str
    first_motion_s: Optional[float]  # wall seconds from submitting the plan to the first motion command
    final: Optional[Pose] = None
    sim_time_s: float = 0.0
    wall_s: float = 0.0
    fallen: bool = False
    reused: bool = False

    def to_dict(self) -> dict:
        out = {"outcome": self.outcome, "reason": self.reason,
               "first_motion_s": None if self.first_motion_s is None else round(self.first_motion_s, 5),
               "sim_time_s": round(self.sim_time_s, 3), "wall_s": round(self.wall_s, 3), "fallen": self.fallen,
               "reused": self.reused}
        if self.final is not None:
            out["final_pose"] = {"x": round(self.final.x, 4), "y": round(self.final.y, 4),
                                 "yaw_deg": round(self.final.yaw_deg, 2), "posture": self.final.posture}
        return out


class MotionStage:
    """Execute plans with the motion executor, on the MuJoCo dog when ``sim`` is true."""

    def __init__(self, sim: bool, limits: SafetyLimits = SafetyLimits(), defaults: MotionDefaults = MotionDefaults(),
                 executor_options=None, sim_options=None, settle_s: float = 0.5, timeout_margin_s: float = 20.0):
        from ..motion.options import ExecutorOptions

        self.sim_enabled = sim
        self.limits = limits
        self.defaults = defaults
        self.executor_options = executor_options or ExecutorOptions()
        self.settle_s = settle_s
        self.timeout_margin_s = timeout_margin_s
        self._cache: Dict[str, Execution] = {}
        self.dog = None
        if sim:
            from ..sim.dog import DogSim, SimOptions

            self.dog = DogSim(sim_options or SimOptions())

    def execute(self, plan: Plan, command_id: str = "eval") -> Execution:
        """Run one plan from a fresh standing start and return its outcome, timing and final pose."""
        key = Plan(actions=plan.actions).to_json()
        if key in self._cache:
            cached = self._cache[key]
            return Execution(**{**cached.__dict__, "reused": True})
        result = self._run_sim(plan, command_id) if self.sim_enabled else self._run_dry(plan, command_id)
        self._cache[key] = result
        return result

    def _executor(self):
        from ..motion.executor import MotionExecutor

        return MotionExecutor(self.executor_options, self.limits, self.defaults)

    def _run_dry(self, plan: Plan, command_id: str) -> Execution:
        """Time the executor's first motion command without a simulator (time-based mode, no odometry)."""
        executor = self._executor()
        started = time.perf_counter()
        events = executor.submit(command_id, plan, 0.0)
        refused = [e for e in events if e.outcome == "refused"]
        if refused:
            return Execution("refused", refused[0].reason, None, wall_s=time.perf_counter() - started)
        dt = 1.0 / self.executor_options.rate_hz
        for tick in range(1, 200):
            result = executor.tick(tick * dt)
            if result.posture is not None or any(abs(v) > 1e-9 for v in result.twist):
                return Execution("accepted", "", time.perf_counter() - started, wall_s=time.perf_counter() - started)
            finals = [e for e in result.events if e.outcome in FINAL_OUTCOMES]
            if finals:
                return Execution(finals[0].outcome, finals[0].reason, None, wall_s=time.perf_counter() - started)
        return Execution("accepted", "no motion within 10 s of executor time", None,
                         wall_s=time.perf_counter() - started)

    def _run_sim(self, plan: Plan, command_id: str) -> Execution:
        from ..safety import estimate_duration_s

        dog = self.dog
        dog.reset()
        executor = self._executor()
        start = dog.odometry()
        wall0 = time.perf_counter()
        t = dog.time
        self._feed(executor, dog, t)
        events = executor.submit(command_id, plan, t)
        refused = [e for e in events if e.outcome == "refused"]
        if refused:
            return Execution("refused", refused[0].reason, None, self._pose(dog, start), wall_s=time.perf_counter() - wall0)
        budget = estimate_duration_s(plan, self.defaults, self.limits) * 2.0 + self.timeout_margin_s
        dt = 1.0 / self.executor_options.rate_hz
        first_motion = None
        outcome, reason = "failed", f"did not finish within {budget:.0f} s of sim time"
        t_end = t + budget
        while t < t_end:
            self._feed(executor, dog, t)
            executor.watchdog(t)
            result = executor.tick(t)
            moving = result.posture is not None or any(abs(v) > 1e-9 for v in result.twist)
            if moving and first_motion is None:
                first_motion = time.perf_counter() - wall0
            dog.set_velocity(*result.twist)
            if result.posture is not None:
                try:
                    dog.command_posture(result.posture)
                except ValueError as exc:
                    logger.warning("sim refused posture %s: %s", result.posture, exc)
            finals = [e for e in result.events if e.outcome in FINAL_OUTCOMES and e.command_id == command_id]
            if finals:
                outcome, reason = finals[0].outcome, finals[0].reason
                break
            dog.step(dt)
            t = dog.time
        dog.set_velocity(0.0, 0.0, 0.0)
        # Let the dog come to rest: the pose it rests in is the one the task is judged on.
        dog.step(self.settle_s)
        return Execution(outcome, reason, first_motion, self._pose(dog, start), dog.time, time.perf_counter() - wall0,
                         dog.fallen())

    @staticmethod
    def _feed(executor, dog, now: float) -> None:
        from ..motion.executor import Pose2D

        odom = dog.odometry()
        executor.update_odometry(Pose2D(stamp=now, x=odom.x, y=odom.y, yaw=odom.yaw, vx=odom.vx, vy=odom.vy, wz=odom.wz))
        executor.update_posture_state(dog.posture_state, now)

    @staticmethod
    def _pose(dog, start) -> Pose:
        odom = dog.odometry()
        return relative_pose(Pose(start.x, start.y, math.degrees(start.yaw)),
                             Pose(odom.x, odom.y, math.degrees(odom.yaw), dog.posture_state))
