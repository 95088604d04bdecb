"""Interpreter node: /voice/command -> ShadowPEFT interpreter -> /dog/plan, /dog/say, /dog/outcome, /diagnostics.

Which model answers:
- ``mode: detached``: the detached shadow on board, nothing else (``[REMOTE]`` becomes a refusal).
- ``mode: attached``: backbone + shadow adapter in this process.
- ``mode: auto`` with ``offload.url`` set: the offload router (``offload.policy``: escalate,
  remote_first or local_only) between the detached shadow and the offload server, with deadlines
  and a circuit breaker. Its state goes out on /diagnostics every ``diagnostics_period_s``.
- ``mode: auto`` without a URL: the detached shadow first, escalating to an in-process attached
  model, loaded on the first escalation.

The model runs in its own mutually exclusive callback group, one command at a time and in order.
Stop commands never wait for it: they become a stop plan at once (the motion node has usually
stopped already on the speech node's fast-path flag).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from .. import topics
from ..messages import MotionCommand, PlanOutcome, TypedPublisher, VoiceCommand, create_typed_subscription
from ..plan import Plan, Stop
from ..safety import MotionDefaults, SafetyLimits
from .common import COMMAND_QOS, run_node
from .params import declare_options


@dataclass
class InterpreterNodeOptions:
    """ROS-side options of the interpreter node; the model's own options live in InterpreterOptions."""

    voice_topic: str = field(default=topics.VOICE_COMMAND, metadata={"help": "VoiceCommand input topic."})
    plan_topic: str = field(default=topics.PLAN, metadata={"help": "MotionCommand output topic."})
    say_topic: str = field(default=topics.SAY, metadata={"help": "Spoken replies (std_msgs/String)."})
    outcome_topic: str = field(default=topics.OUTCOME,
                               metadata={"help": "PlanOutcome topic, for commands that end here (refusals, answers)."})
    diagnostics_topic: str = field(default=topics.DIAGNOSTICS, metadata={"help": "Offload state (DiagnosticArray)."})
    diagnostics_period_s: float = field(default=1.0, metadata={"help": "How often the offload state is published."})
    transport: str = field(default="auto", metadata={"help": "Message transport: auto, ros or json."})
    min_asr_confidence: float = field(
        default=0.0, metadata={"help": "Transcripts below this ASR confidence are refused, never guessed at "
                                       "(0 passes everything on to the model)."})
    dedup_window: int = field(default=1024, metadata={"help": "How many command ids to remember against replays."})


class InterpreterNode(Node):
    def __init__(self, **kwargs):
        super().__init__("interpreter", **kwargs)
        from ..interpreter import Interpreter, InterpreterOptions
        from ..offload.client import OffloadOptions
        from ..offload.router import OffloadRouter, RouterOptions

        self.options = declare_options(self, InterpreterNodeOptions)
        self.model_options = declare_options(self, InterpreterOptions)
        limits = declare_options(self, SafetyLimits, prefix="limits.")
        defaults = declare_options(self, MotionDefaults, prefix="defaults.")
        offload = declare_options(self, OffloadOptions, prefix="offload.")
        # One confidence threshold for the detached model, whichever component applies it.
        router_options = declare_options(self, RouterOptions, prefix="offload.", exclude=("confidence_threshold",),
                                         confidence_threshold=self.model_options.confidence_threshold)
        log = self.get_logger()
        started = time.monotonic()
        self.interpreter = Interpreter(self.model_options, limits, defaults)
        self.router = None
        if self.model_options.mode == "auto" and offload.enabled:
            self.router = OffloadRouter.create(self.interpreter.detached, offload, router_options, limits=limits,
                                               defaults=defaults)
            how = f"detached on board, offload {offload.url} (policy {router_options.policy})"
        else:
            self.interpreter.load()
            if self.model_options.mode == "auto":
                # Escalations go to the in-process attached model: load it now, not on the first command.
                self.interpreter.attached
            how = {"detached": "detached shadow only", "attached": "attached model in this process",
                   "auto": "detached on board, attached in this process on escalation (no offload URL)"}[
                self.model_options.mode]
        log.info(f"interpreter ready in {time.monotonic() - started:.1f} s: {how}")
        self._seen = OrderedDict()

        self.model_group = MutuallyExclusiveCallbackGroup()
        self.plan_pub = TypedPublisher(self, "MotionCommand", self.options.plan_topic, COMMAND_QOS,
                                       self.options.transport)
        self.outcome_pub = TypedPublisher(self, "PlanOutcome", self.options.outcome_topic, COMMAND_QOS,
                                          self.options.transport)
        self.say_pub = self.create_publisher(String, self.options.say_topic, COMMAND_QOS)
        self.voice_sub = create_typed_subscription(self, "VoiceCommand", self.options.voice_topic,
                                                   self.voice_callback, COMMAND_QOS, self.options.transport,
                                                   callback_group=self.model_group)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, self.options.diagnostics_topic, 10)
        # Its own group: the offload state keeps flowing while a model is busy.
        self.diagnostics_timer = self.create_timer(self.options.diagnostics_period_s, self.diagnostics_callback,
                                                   callback_group=MutuallyExclusiveCallbackGroup())

    def offload_status(self) -> dict:
        """Return the offload state: the router's snapshot, or that offload is off."""
        if self.router is not None:
            return self.router.status()
        return {"policy": "local_only" if self.model_options.mode == "detached" else "in_process",
                "enabled": False, "url": "", "reachable": None, "breaker": "n/a", "last_rtt_s": None}

    def diagnostics_callback(self) -> None:
        from ..offload.router import diagnostic_fields

        level, message, values = diagnostic_fields(self.offload_status())
        status = DiagnosticStatus(level=bytes([level]), name="shadowpeft_ros: offload", message=message,
                                  hardware_id="interpreter",
                                  values=[KeyValue(key=k, value=v) for k, v in values])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)

    def _first_time(self, command_id: str) -> bool:
        if command_id in self._seen:
            return False
        self._seen[command_id] = True
        while len(self._seen) > self.options.dedup_window:
            self._seen.popitem(last=False)
        return True

    def voice_callback(self, command: VoiceCommand) -> None:
        log = self.get_logger()
        if not self._first_time(command.command_id):
            log.warning(f"[{command.command_id}] ignored a repeated command id")
            return
        latencies = {}
        if command.source != "text" and command.speech_end and command.transcript_ready:
            latencies["asr"] = max(0.0, command.transcript_ready - command.speech_end)
        if command.is_stop:
            self._publish_plan(command, Plan(route="local", actions=(Stop(),)), latencies)
            return
        if command.confidence < self.options.min_asr_confidence:
            return self._refuse(command, f"Sorry, I did not catch that. Did you say: {command.text.strip()}?",
                                f"ASR confidence {command.confidence:.2f} below {self.options.min_asr_confidence}")
        started = time.perf_counter()
        try:
            result = self._interpret(command.text, command.command_id)
        except Exception as exc:  # a model or network failure must refuse this command, not kill the node
            log.error(f"[{command.command_id}] interpreter failed: {exc!r}")
            return self._refuse(command, "Sorry, something went wrong while I was thinking.", f"interpreter error: {exc}")
        latencies["interpreter"] = time.perf_counter() - started
        plan = result.plan
        log.info(f"[{command.command_id}] {getattr(result, 'decision', '')} route={plan.route} "
                 f"'{command.text.strip()[:80]}' -> {plan.to_json()}")
        if plan.say:
            self.say_pub.publish(String(data=plan.say))
        # Every decision goes out on the plan topic; the motion node ignores plans without actions,
        # and this node ends those commands itself below.
        self._publish_plan(command, plan, latencies)
        if plan.actions:
            return
        if result.refused:
            self.outcome_pub.publish(PlanOutcome(command.command_id, "refused", result.reason or plan.say))
        else:
            # An answer with nothing to move (a question, a greeting) ends here.
            self.outcome_pub.publish(PlanOutcome(command.command_id, "done", "answered without motion"))

    def _interpret(self, text: str, command_id: str):
        if self.router is None:
            return self.interpreter.interpret(text, command_id=command_id)
        # The interpreter's own input checks (empty, too long) come first; the router never sees those.
        checked = self.interpreter.check_input(text, command_id)
        if checked is not None:
            return checked
        return self.router.route(text, command_id)

    def _publish_plan(self, command: VoiceCommand, plan: Plan, latencies: dict) -> None:
        self.plan_pub.publish(MotionCommand(plan=plan, command_id=command.command_id, text=command.text,
                                            latencies=latencies, speech_end=command.speech_end))

    def _refuse(self, command: VoiceCommand, say: str, reason: str) -> None:
        self.get_logger().warning(f"[{command.command_id}] refused '{command.text[:80]}': {reason}")
        self.say_pub.publish(String(data=say))
        self.outcome_pub.publish(PlanOutcome(command.command_id, "refused", reason))

    def destroy_node(self):
        # getattr: rclpy also destroys a node whose __init__ failed half-way, at shutdown.
        router = getattr(self, "router", None)
        if router is not None:
            router.close()
        super().destroy_node()


def main(args=None):
    run_node(InterpreterNode, args)


if __name__ == "__main__":
    main()
