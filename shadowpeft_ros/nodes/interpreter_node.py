"""Interpreter node: /voice/command -> ShadowPEFT interpreter -> /dog/plan, /dog/say, /dog/outcome.

The model runs in its own mutually exclusive callback group, one command at a time and in order.
Stop commands never wait for it: they become a stop plan at once (the motion node has usually
stopped already on the speech node's fast-path flag).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from .. import topics
from ..messages import MotionCommand, PlanOutcome, TypedPublisher, VoiceCommand, create_typed_subscription
from ..plan import Plan, Stop
from .common import COMMAND_QOS, run_node
from .params import declare_options


@dataclass
class InterpreterNodeOptions:
    """ROS-side options of the interpreter node; the model's own options live in InterpreterOptions."""

    voice_topic: str = field(default=topics.VOICE_COMMAND, metadata={"help": "VoiceCommand input topic."})
    plan_topic: str = field(default=topics.PLAN, metadata={"help": "MotionCommand output topic."})
    say_topic: str = field(default=topics.SAY, metadata={"help": "Spoken replies (std_msgs/String)."})
    outcome_topic: str = field(default=topics.OUTCOME, metadata={"help": "PlanOutcome topic for refusals/answers."})
    transport: str = field(default="auto", metadata={"help": "Message transport: auto, ros or json."})
    min_asr_confidence: float = field(
        default=0.0, metadata={"help": "Transcripts below this ASR confidence are refused, never guessed at."})
    max_text_chars: int = field(default=500, metadata={"help": "Longer transcripts are refused."})
    dedup_window: int = field(default=256, metadata={"help": "How many command ids to remember against replays."})


class InterpreterNode(Node):
    def __init__(self, **kwargs):
        super().__init__("interpreter", **kwargs)
        from ..interpreter import Interpreter, InterpreterOptions

        self.options = declare_options(self, InterpreterNodeOptions)
        self.model_options = declare_options(self, InterpreterOptions)
        log = self.get_logger()
        log.info(f"loading interpreter (mode {self.model_options.mode}) ...")
        started = time.monotonic()
        self.interpreter = Interpreter(self.model_options)
        log.info(f"interpreter ready in {time.monotonic() - started:.1f} s")
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
        if command.speech_end and command.transcript_ready:
            latencies["asr"] = max(0.0, command.transcript_ready - command.speech_end)
        if command.is_stop:
            self._publish_plan(command, Plan(route="local", actions=(Stop(),)), latencies)
            return
        text = command.text.strip()
        if not text:
            return self._refuse(command, "I heard nothing I could act on.", "empty transcript")
        if len(text) > self.options.max_text_chars:
            return self._refuse(command, "That was too long for one command.",
                                f"transcript of {len(text)} characters is over {self.options.max_text_chars}")
        if command.confidence < self.options.min_asr_confidence:
            return self._refuse(command, f"Sorry, I did not catch that. Did you say: {text}?",
                                f"ASR confidence {command.confidence:.2f} below {self.options.min_asr_confidence}")
        try:
            result = self.interpreter.interpret(text, command_id=command.command_id)
        except Exception as exc:  # a model failure must refuse this command, not kill the node
            log.error(f"[{command.command_id}] interpreter failed: {exc!r}")
            return self._refuse(command, "Sorry, something went wrong while I was thinking.", f"interpreter error: {exc}")
        latencies.update(result.latency_s)
        plan = result.plan
        log.info(f"[{command.command_id}] route={result.route} '{text}' -> {plan.to_json()}")
        if plan.say:
            self.say_pub.publish(String(data=plan.say))
        if plan.actions:
            self._publish_plan(command, plan, latencies)
        else:
            # Nothing to move: this node ends the command. A refusal is a refusal; an answer is done.
            outcome = "refused" if getattr(result, "refused", False) else "done"
            self.outcome_pub.publish(PlanOutcome(command.command_id, outcome, plan.say or "no motion requested"))

    def _publish_plan(self, command: VoiceCommand, plan: Plan, latencies: dict) -> None:
        self.plan_pub.publish(MotionCommand(plan=plan, command_id=command.command_id, text=command.text,
                                            latencies=latencies, speech_end=command.speech_end))

    def _refuse(self, command: VoiceCommand, say: str, reason: str) -> None:
        self.get_logger().warning(f"[{command.command_id}] refused '{command.text[:80]}': {reason}")
        self.say_pub.publish(String(data=say))
        self.outcome_pub.publish(PlanOutcome(command.command_id, "refused", reason))


def main(args=None):
    run_node(InterpreterNode, args)


if __name__ == "__main__":
    main()
