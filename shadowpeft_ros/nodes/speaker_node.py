"""Speaker node: says the text on ``/dog/say`` (std_msgs/String) through espeak-ng, on a worker thread.

It also confirms plan outcomes from ``/dog/outcome`` with short sentences (by default only the
refused, failed and stopped ones; the interpreter's ``say`` text covers the rest).

``enabled: false`` keeps it silent. A missing espeak-ng or sound card is a warning, never a crash:
the rest of the dog does not depend on being heard.
"""

from __future__ import annotations

from rclpy.node import Node
from std_msgs.msg import String

from .. import topics
from ..messages import create_typed_subscription
from ..speech.options import SpeakerOptions
from ..speech.speaker import Speaker
from .common import COMMAND_QOS, run_node
from .params import declare_options


class SpeakerNode(Node):
    """Speak what the interpreter wants said."""

    def __init__(self, **kwargs):
        super().__init__("speaker", **kwargs)
        self.options = declare_options(self, SpeakerOptions)
        say_topic = self.declare_parameter("say_topic", topics.SAY).value
        outcome_topic = self.declare_parameter("outcome_topic", topics.OUTCOME).value
        transport = self.declare_parameter("transport", "auto").value
        self.speaker = Speaker(self.options)
        for problem in self.speaker.problems:
            self.get_logger().warning(problem)
        self.create_subscription(String, say_topic, self.say_callback, COMMAND_QOS)
        create_typed_subscription(self, "PlanOutcome", outcome_topic, self.outcome_callback, COMMAND_QOS, transport)
        state = "on" if self.speaker.available else "off" if not self.options.enabled else "unavailable"
        self.get_logger().info(f"speaker {state} (voice {self.options.voice}, {self.options.speed_wpm} wpm)")

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
