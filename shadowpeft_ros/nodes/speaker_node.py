"""Speaker node: says the text on ``/dog/say`` (std_msgs/String) through espeak-ng, on a worker thread.

It also confirms plan outcomes from ``/dog/outcome`` with short sentences (by default only the
refused, failed and stopped ones; the interpreter's ``say`` text covers the rest).

While a reply plays it publishes ``true`` on ``/voice/speaking`` (std_msgs/Bool, latched), and
``false`` once it has ended, so the speech node can ignore the robot's own voice (half-duplex). Just
before, the reply's text goes out on ``/voice/speaking_text`` (std_msgs/String): the speech node
then tells a person's "stop" from the robot's own words. It
publishes ``/diagnostics`` once a second (speaking or not, replies spoken, problems).

``enabled: false`` keeps it silent. A missing espeak-ng or sound card is a warning, never a crash:
the rest of the dog does not depend on being heard.
"""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from std_msgs.msg import Bool, String

from .. import topics
from ..speech.options import SpeakerOptions
from ..speech.speaker import Speaker
from .common import COMMAND_QOS, LATCHED_QOS, run_node
from .diagnostics import OK, WARN, NodeDiagnostics
from .params import declare_options
from .speech_node import SPEAKING_TEXT_TOPIC, SPEAKING_TOPIC
from .transport import create_typed_subscription


class SpeakerNode(Node):
    """Speak what the interpreter wants said."""

    def __init__(self, **kwargs):
        super().__init__("speaker", **kwargs)
        self.options = declare_options(self, SpeakerOptions)
        say_topic = self.declare_parameter("say_topic", topics.SAY).value
        outcome_topic = self.declare_parameter("outcome_topic", topics.OUTCOME).value
        transport = self.declare_parameter("transport", "auto").value
        speaking_topic = self.declare_parameter(
            "speaking_topic", SPEAKING_TOPIC,
            ParameterDescriptor(description="std_msgs/Bool, latched: true while a reply plays (the speech node's "
                                "half-duplex listens to it).")).value
        speaking_text_topic = self.declare_parameter(
            "speaking_text_topic", SPEAKING_TEXT_TOPIC,
            ParameterDescriptor(description="std_msgs/String: the text of each reply, just before it plays.")).value
        diagnostics_topic = self.declare_parameter(
            "diagnostics_topic", topics.DIAGNOSTICS,
            ParameterDescriptor(description="diagnostic_msgs/DiagnosticArray, once a second.")).value
        self._speaking_text_pub = self.create_publisher(String, speaking_text_topic, COMMAND_QOS)
        self._speaking_pub = self.create_publisher(Bool, speaking_topic, LATCHED_QOS)
        self._speaking_pub.publish(Bool(data=False))
        # The speaker's worker thread calls this around each playback; publishing is thread-safe in rclpy.
        self.speaker = Speaker(self.options, on_speaking=self.speaking_changed, on_text=self.speaking_text)
        for problem in self.speaker.problems:
            self.get_logger().warning(problem)
        self.create_subscription(String, say_topic, self.say_callback, COMMAND_QOS)
        create_typed_subscription(self, "PlanOutcome", outcome_topic, self.outcome_callback, COMMAND_QOS, transport)
        state = "on" if self.speaker.available else "off" if not self.options.enabled else "unavailable"
        self.get_logger().info(f"speaker {state} (voice {self.options.voice}, {self.options.speed_wpm} wpm)")
        self.diagnostics = NodeDiagnostics(self, "speaker", 1.0, diagnostics_topic)
        self.diagnostics.add("voice", self.voice_status)

    def speaking_text(self, text: str) -> None:
        self._speaking_text_pub.publish(String(data=text))

    def speaking_changed(self, speaking: bool) -> None:
        self._speaking_pub.publish(Bool(data=speaking))

    def voice_status(self):
        """Speaking or not, replies spoken, and why espeak-ng or the sound card is unavailable."""
        speaker = self.speaker
        state = "on" if speaker.available else "off" if not self.options.enabled else "unavailable"
        values = {"speaking": speaker.speaking, "state": state, "replies_spoken": len(speaker.spoken),
                  "problems": "; ".join(speaker.problems)}
        level = WARN if speaker.problems and self.options.enabled else OK
        return level, "speaking" if speaker.speaking else state, values

    def say_callback(self, msg: String) -> None:
        if self.speaker.say(msg.data):
            self.get_logger().info(f"saying {msg.data!r}")

    def outcome_callback(self, outcome) -> None:
        sentence = self.options.confirmation_for(outcome.outcome)
        if sentence and self.speaker.say(sentence):
            self.get_logger().info(f"confirming {outcome.outcome}: {sentence!r}")

    def destroy_node(self):
        # getattr: rclpy also destroys a node whose __init__ failed half-way, at shutdown.
        if getattr(self, "speaker", None) is not None:
            self.speaker.close()
        return super().destroy_node()


def main(args=None):
    run_node(SpeakerNode, args)


if __name__ == "__main__":
    main()
