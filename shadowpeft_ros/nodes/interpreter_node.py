"""Interpreter node: /voice/command -> decision policy -> /dog/plan, /dog/say, /dog/outcome, /diagnostics.

Which model answers is the decision policy's (``shadowpeft_ros.policy``, parameter ``mode``):

- ``auto`` (default, the paper's deployment): the detached shadow on board; the attached model
  only behind ``offload.url``, asked for ``[REMOTE]``, invalid or unsure answers. With no URL the
  robot runs detached only, and refuses what it cannot answer.
- ``detached``: the on-board model only. ``attached``: the server only. ``remote_first``: the
  server when reachable, the on-board model when it is not or is late.
- ``in_process_attached: true`` loads the attached model in this process instead of a server:
  a debugging option, never the deployment.

What one command comes to (replay guard, stop, ASR-confidence refusal, the decision, the outcome)
is ``command_handler.CommandHandler``'s; this node only moves messages. The policy's state
(mode, offload reachability, breaker, decision counts, escalation rate, engines, lifecycle state)
goes out on /diagnostics.

A lifecycle node: the models load in ``on_configure``, commands are taken once active. The model
runs in its own mutually exclusive callback group, one command at a time and in order. Stop
commands never wait for a model (the motion node has usually stopped already on the speech
node's fast-path flag).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from std_msgs.msg import String

from .. import topics
from ..messages import VoiceCommand
from ..safety import MotionDefaults, SafetyLimits
from .common import COMMAND_QOS, run_node
from .diagnostics import OK, WARN, NodeDiagnostics
from .params import declare_options
from .transport import TypedPublisher, create_typed_subscription


@dataclass
class InterpreterNodeOptions:
    """ROS-side options of the interpreter node; the models, policy and handler have their own options."""

    voice_topic: str = field(default=topics.VOICE_COMMAND, metadata={"help": "VoiceCommand input topic."})
    plan_topic: str = field(default=topics.PLAN, metadata={"help": "MotionCommand output topic."})
    say_topic: str = field(default=topics.SAY, metadata={"help": "Spoken replies (std_msgs/String)."})
    outcome_topic: str = field(default=topics.OUTCOME,
                               metadata={"help": "PlanOutcome topic, for commands that end here (refusals, answers)."})
    diagnostics_topic: str = field(default=topics.DIAGNOSTICS, metadata={
        "help": "Policy and offload state, engines loaded and escalation rate (DiagnosticArray)."})
    diagnostics_period_s: float = field(default=1.0, metadata={
        "range": (0.1, 60.0), "help": "How often the diagnostics are published, s."})
    transport: str = field(default="auto", metadata={"help": "Message transport: auto, ros or json."})


class InterpreterNode(LifecycleNode):
    """A managed node (ros2/demos lifecycle_py): parameters at construction, models in on_configure.

    - construction declares every parameter and starts /diagnostics; nothing is loaded.
    - ``configure`` loads the models (tens of seconds on first start), connects the offload
      client, and creates the publishers.
    - ``activate`` subscribes to /voice/command: commands are taken only from here on.
    - ``deactivate`` unsubscribes; ``cleanup`` and ``shutdown`` free the models and the client.
    ``dog.launch.py`` and ``shadowpeft dog`` drive configure and activate at start; by hand:
    ``ros2 lifecycle set /interpreter configure`` then ``activate``.
    """

    def __init__(self, **kwargs):
        super().__init__("interpreter", **kwargs)
        from ..command_handler import HandlerOptions
        from ..interpreter import InterpreterOptions
        from ..offload.client import OffloadOptions
        from ..policy import PolicyOptions

        self.options = declare_options(self, InterpreterNodeOptions)
        self.model_options = declare_options(self, InterpreterOptions)
        self.policy_options = declare_options(self, PolicyOptions)
        self.handler_options = declare_options(self, HandlerOptions)
        self.limits = declare_options(self, SafetyLimits, prefix="limits.")
        self.defaults = declare_options(self, MotionDefaults, prefix="defaults.")
        self.offload = declare_options(self, OffloadOptions, prefix="offload.")
        self.interpreter = None
        self.handler = None
        self.plan_pub = self.outcome_pub = self.say_pub = self.voice_sub = None
        self.engines = {"detached": "not loaded", "attached": "not loaded"}
        self.load_seconds = None
        self.model_group = MutuallyExclusiveCallbackGroup()
        # Diagnostics run in every state: an integrator sees "unconfigured" or "loading" too.
        self.lifecycle_state = "unconfigured"
        self.diagnostics = NodeDiagnostics(self, "interpreter", self.options.diagnostics_period_s,
                                           self.options.diagnostics_topic)
        self.diagnostics.add("offload", self.offload_check)
        self.diagnostics.add("engines", self.engines_check)

    # -- lifecycle transitions ----------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the models the mode needs, connect the offload client, and create the publishers."""
        from ..command_handler import CommandHandler
        from ..interpreter import Interpreter

        log = self.get_logger()
        self.lifecycle_state = "configuring"
        started = time.monotonic()
        try:
            self.interpreter = Interpreter(self.model_options, self.policy_options, self.limits, self.defaults,
                                           offload=self.offload)
            self.interpreter.load()
        except Exception as exc:  # a missing model file, a bad adapter, attached mode without a server: say why
            log.error(f"configure failed, the models did not load: {exc!r}")
            self._free()
            self.lifecycle_state = "unconfigured"
            return TransitionCallbackReturn.FAILURE
        self.handler = CommandHandler(self.interpreter, self.handler_options)
        mode = self.policy_options.mode
        remote = self.interpreter.remote_kind() if mode != "detached" else "none"
        self.engines = {"detached": "loaded" if mode != "attached" else "not used",
                        "attached": remote if remote != "none" else "none (no offload URL)"}
        self.load_seconds = time.monotonic() - started
        self.plan_pub = TypedPublisher(self, "MotionCommand", self.options.plan_topic, COMMAND_QOS,
                                       self.options.transport)
        self.outcome_pub = TypedPublisher(self, "PlanOutcome", self.options.outcome_topic, COMMAND_QOS,
                                          self.options.transport)
        self.say_pub = self.create_publisher(String, self.options.say_topic, COMMAND_QOS)
        self.lifecycle_state = "inactive"
        log.info(f"interpreter configured in {self.load_seconds:.1f} s: mode {mode}, detached "
                 f"{self.engines['detached']}, attached {self.engines['attached']}, "
                 f"threshold {self.policy_options.confidence_threshold:g}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Start taking commands."""
        self.voice_sub = create_typed_subscription(self, "VoiceCommand", self.options.voice_topic,
                                                   self.voice_callback, COMMAND_QOS, self.options.transport,
                                                   callback_group=self.model_group)
        self.lifecycle_state = "active"
        self.get_logger().info(f"interpreter active on {self.options.voice_topic}")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop taking commands; the models stay loaded."""
        if self.voice_sub is not None:
            self.destroy_subscription(self.voice_sub)
            self.voice_sub = None
        self.lifecycle_state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Free the models, the offload client and the publishers."""
        self._free()
        self.lifecycle_state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Free everything, from whichever state the node is in."""
        self._free()
        self.lifecycle_state = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _free(self) -> None:
        if self.voice_sub is not None:
            self.destroy_subscription(self.voice_sub)
            self.voice_sub = None
        for pub in (self.plan_pub, self.outcome_pub):
            if pub is not None:
                pub.destroy(self)
        if self.say_pub is not None:
            self.destroy_publisher(self.say_pub)
        self.plan_pub = self.outcome_pub = self.say_pub = None
        if self.interpreter is not None:
            self.interpreter.close()
            self.interpreter = None
        self.handler = None
        self.engines = {"detached": "not loaded", "attached": "not loaded"}

    def offload_status(self) -> dict:
        """Return the policy's snapshot: mode, offload reachability, breaker, last round trip, decisions."""
        if self.interpreter is not None:
            return self.interpreter.status()
        return {"mode": self.policy_options.mode, "enabled": False, "url": "", "reachable": None, "breaker": "n/a",
                "last_rtt_s": None, "decisions": {}}

    def offload_check(self):
        """The policy and offload state as a diagnostic: (level, message, values)."""
        from ..policy import status_diagnostic

        return status_diagnostic(self.offload_status())

    def engines_check(self):
        """Engines loaded, lifecycle state, and how often commands were escalated."""
        status = self.interpreter.status() if self.interpreter is not None else {}
        commands = sum(status.get("decisions", {}).values())
        escalations = status.get("escalated", 0)
        rate = escalations / commands if commands else None
        values = {"lifecycle_state": self.lifecycle_state, "mode": self.policy_options.mode,
                  "engine.detached": self.engines["detached"], "engine.attached": self.engines["attached"],
                  "load_s": self.load_seconds, "commands": commands, "escalations": escalations,
                  "escalation_rate": rate}
        if self.lifecycle_state != "active":
            return WARN, f"not taking commands ({self.lifecycle_state})", values
        return OK, ("no commands yet" if rate is None else f"escalation rate {rate:.0%} of {commands}"), values

    def voice_callback(self, command: VoiceCommand) -> None:
        handled = self.handler.handle(command)
        if handled.motion is None:
            return
        decision = handled.decision
        self.get_logger().info(f"[{command.command_id}] {handled.status}"
                               f"{' ' + decision.decision if decision else ''} route={handled.plan.route} "
                               f"'{command.text.strip()[:80]}' -> {handled.plan.to_json()}")
        if handled.say:
            self.say_pub.publish(String(data=handled.say))
        self.plan_pub.publish(handled.motion)
        if handled.outcome is not None:
            self.outcome_pub.publish(handled.outcome)

    def destroy_node(self):
        # getattr: rclpy also destroys a node whose __init__ failed half-way, at shutdown.
        if getattr(self, "interpreter", None) is not None:
            self._free()
        super().destroy_node()


def main(args=None):
    run_node(InterpreterNode, args)


if __name__ == "__main__":
    main()
