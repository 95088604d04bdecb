"""Interpreter node: /voice/command -> ShadowPEFT interpreter -> /dog/plan, /dog/say, /dog/outcome, /diagnostics.

Which model answers:
- ``mode: detached``: the detached shadow on board, nothing else (``[REMOTE]`` becomes a refusal).
- ``mode: attached``: backbone + shadow adapter in this process.
- ``mode: auto`` with ``offload.url`` set: the offload router (``offload.policy``: escalate,
  remote_first or local_only) between the detached shadow and the offload server, with deadlines
  and a circuit breaker. Its state goes out on /diagnostics every ``diagnostics_period_s``, with the
  engines loaded, the lifecycle state and the escalation rate.
- ``mode: auto`` without a URL: the detached shadow first, escalating to an in-process attached
  model (loaded in configure too, not on the first escalation).

A lifecycle node: the models load in ``on_configure``, commands are taken once active (see
InterpreterNode). The model runs in its own mutually exclusive callback group, one command at a
time and in order.
Stop commands never wait for it: they become a stop plan at once (the motion node has usually
stopped already on the speech node's fast-path flag).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from std_msgs.msg import String

from .. import topics
from ..messages import MotionCommand, PlanOutcome, TypedPublisher, VoiceCommand, create_typed_subscription
from ..plan import Plan, Stop
from ..safety import MotionDefaults, SafetyLimits
from .common import COMMAND_QOS, run_node
from .diagnostics import OK, WARN, NodeDiagnostics
from .params import declare_options


@dataclass
class InterpreterNodeOptions:
    """ROS-side options of the interpreter node; the model's own options live in InterpreterOptions."""

    voice_topic: str = field(default=topics.VOICE_COMMAND, metadata={"help": "VoiceCommand input topic."})
    plan_topic: str = field(default=topics.PLAN, metadata={"help": "MotionCommand output topic."})
    say_topic: str = field(default=topics.SAY, metadata={"help": "Spoken replies (std_msgs/String)."})
    outcome_topic: str = field(default=topics.OUTCOME,
                               metadata={"help": "PlanOutcome topic, for commands that end here (refusals, answers)."})
    diagnostics_topic: str = field(default=topics.DIAGNOSTICS, metadata={
        "help": "Offload state, engines loaded and escalation rate (DiagnosticArray)."})
    diagnostics_period_s: float = field(default=1.0, metadata={
        "range": (0.1, 60.0), "help": "How often the diagnostics are published, s."})
    transport: str = field(default="auto", metadata={"help": "Message transport: auto, ros or json."})
    min_asr_confidence: float = field(
        default=0.0, metadata={"range": (0.0, 1.0), "help": "Transcripts below this ASR confidence are refused, never guessed at "
                                       "(0 passes everything on to the model)."})
    dedup_window: int = field(default=1024, metadata={"range": (1, 1000000), "help": "How many command ids to remember against replays."})


class InterpreterNode(LifecycleNode):
    """A managed node (ros2/demos lifecycle_py): parameters at construction, models in on_configure.

    - construction declares every parameter and starts /diagnostics; nothing is loaded.
    - ``configure`` loads the models (tens of seconds on first start) and creates the publishers.
    - ``activate`` subscribes to /voice/command: commands are taken only from here on.
    - ``deactivate`` unsubscribes; ``cleanup`` and ``shutdown`` free the models and the offload router.
    ``dog.launch.py`` and ``shadowpeft dog`` drive configure and activate at start; by hand:
    ``ros2 lifecycle set /interpreter configure`` then ``activate``.
    """

    def __init__(self, **kwargs):
        super().__init__("interpreter", **kwargs)
        from ..interpreter import InterpreterOptions
        from ..offload.client import OffloadOptions
        from ..offload.router import RouterOptions

        self.options = declare_options(self, InterpreterNodeOptions)
        self.model_options = declare_options(self, InterpreterOptions)
        self.limits = declare_options(self, SafetyLimits, prefix="limits.")
        self.defaults = declare_options(self, MotionDefaults, prefix="defaults.")
        self.offload = declare_options(self, OffloadOptions, prefix="offload.")
        # One confidence threshold for the detached model, whichever component applies it.
        self.router_options = declare_options(self, RouterOptions, prefix="offload.", exclude=("confidence_threshold",),
                                              confidence_threshold=self.model_options.confidence_threshold)
        self.interpreter = None
        self.router = None
        self.plan_pub = self.outcome_pub = self.say_pub = self.voice_sub = None
        self._seen = OrderedDict()
        self.engines = {"detached": "not loaded", "attached": "not loaded"}
        self.load_seconds = None
        self.commands = 0
        self.escalations = 0
        self.model_group = MutuallyExclusiveCallbackGroup()
        # Diagnostics run in every state: an integrator sees "unconfigured" or "loading" too.
        self.lifecycle_state = "unconfigured"
        self.diagnostics = NodeDiagnostics(self, "interpreter", self.options.diagnostics_period_s,
                                           self.options.diagnostics_topic)
        self.diagnostics.add("offload", self.offload_check)
        self.diagnostics.add("engines", self.engines_check)

    # -- lifecycle transitions ----------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the models the mode needs and create the publishers."""
        from ..interpreter import Interpreter
        from ..offload.router import OffloadRouter

        log = self.get_logger()
        self.lifecycle_state = "configuring"
        started = time.monotonic()
        try:
            self.interpreter = Interpreter(self.model_options, self.limits, self.defaults)
            if self.model_options.mode == "auto" and self.offload.enabled:
                self.router = OffloadRouter.create(self.interpreter.detached, self.offload, self.router_options,
                                                   limits=self.limits, defaults=self.defaults)
                self.engines = {"detached": "loaded", "attached": f"offload {self.offload.url}"}
                how = f"detached on board, offload {self.offload.url} (policy {self.router_options.policy})"
            else:
                self.interpreter.load()
                if self.model_options.mode == "auto":
                    # Escalations go to the in-process attached model: load it now, not on the first command.
                    self.interpreter.attached
                self.engines = {"detached": "loaded" if self.model_options.mode != "attached" else "not used",
                                "attached": "loaded" if self.model_options.mode != "detached" else "not used"}
                how = {"detached": "detached shadow only", "attached": "attached model in this process",
                       "auto": "detached on board, attached in this process on escalation (no offload URL)"}[
                    self.model_options.mode]
        except Exception as exc:  # a missing model file or a bad adapter: stay unconfigured, say why
            log.error(f"configure failed, the models did not load: {exc!r}")
            self._free()
            self.lifecycle_state = "unconfigured"
            return TransitionCallbackReturn.FAILURE
        self.load_seconds = time.monotonic() - started
        self.plan_pub = TypedPublisher(self, "MotionCommand", self.options.plan_topic, COMMAND_QOS,
                                       self.options.transport)
        self.outcome_pub = TypedPublisher(self, "PlanOutcome", self.options.outcome_topic, COMMAND_QOS,
                                          self.options.transport)
        self.say_pub = self.create_publisher(String, self.options.say_topic, COMMAND_QOS)
        self.lifecycle_state = "inactive"
        log.info(f"interpreter configured in {self.load_seconds:.1f} s: {how}")
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
        """Free the models, the router and the publishers."""
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
        if self.router is not None:
            self.router.close()
            self.router = None
        if self.interpreter is not None:
            self.interpreter.close()
            self.interpreter = None
        self.engines = {"detached": "not loaded", "attached": "not loaded"}

    def offload_status(self) -> dict:
        """Return the offload state: the router's snapshot, or that offload is off."""
        if self.router is not None:
            return self.router.status()
        return {"policy": "local_only" if self.model_options.mode == "detached" else "in_process",
                "enabled": False, "url": "", "reachable": None, "breaker": "n/a", "last_rtt_s": None}

    def offload_check(self):
        """The offload state as a diagnostic: (level, message, values)."""
        from ..offload.router import diagnostic_fields

        level, message, values = diagnostic_fields(self.offload_status())
        return level, message, dict(values)

    def engines_check(self):
        """Engines loaded, lifecycle state, and how often commands were escalated."""
        rate = self.escalations / self.commands if self.commands else None
        values = {"lifecycle_state": self.lifecycle_state, "mode": self.model_options.mode,
                  "engine.detached": self.engines["detached"], "engine.attached": self.engines["attached"],
                  "load_s": self.load_seconds, "commands": self.commands, "escalations": self.escalations,
                  "escalation_rate": rate}
        if self.lifecycle_state != "active":
            return WARN, f"not taking commands ({self.lifecycle_state})", values
        return OK, ("no commands yet" if rate is None else f"escalation rate {rate:.0%} of {self.commands}"), values

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
        self._count(result)
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

    def _count(self, result) -> None:
        """Count the command for the escalation rate on /diagnostics (the policy is not touched)."""
        self.commands += 1
        if "escalat" in str(getattr(result, "decision", "")):
            self.escalations += 1

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
        if getattr(self, "router", None) is not None or getattr(self, "interpreter", None) is not None:
            self._free()
        super().destroy_node()


def main(args=None):
    run_node(InterpreterNode, args)


if __name__ == "__main__":
    main()
