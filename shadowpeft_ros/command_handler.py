"""One voice command in, what the robot publishes out: the interpreter node's policy, without ROS.

``CommandHandler.handle`` does for one ``VoiceCommand`` what the robot does:

1. a command id seen before is dropped (a replayed or re-sent message must not act twice);
2. a stop goes straight to the policy's stop fast path, whatever the ASR confidence;
3. a transcript below ``min_asr_confidence`` is refused with a question back, never guessed at;
4. everything else is decided by the interpreter's ``DecisionPolicy``;
5. the result says what to publish: the plan (always, so every accepted command has one answer
   on the plan topic; the motion node ignores plans without actions), what to say, and, for
   commands that end here (refusals, answers without motion), their outcome.

The interpreter node publishes what ``handle`` returns; ``shadowpeft dog`` runs that node; the
evaluation runner calls ``handle`` directly. Nothing here imports rclpy.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Optional

from .messages import MotionCommand, PlanOutcome, VoiceCommand
from . import policy
from .policy import Decision

logger = logging.getLogger("shadowpeft_ros")

SAY_ASR_UNSURE = "Sorry, I did not catch that. Did you say: {text}?"
SAY_FAILED = "Sorry, something went wrong while I was thinking."


@dataclass
class HandlerOptions:
    """What the command handler checks before the policy decides; node parameters map onto these fields."""

    min_asr_confidence: float = field(default=0.0, metadata={
        "range": (0.0, 1.0), "help": "Transcripts below this ASR confidence are refused, never guessed at "
                                     "(0 passes everything on to the model)."})
    dedup_window: int = field(default=1024, metadata={
        "range": (1, 1000000), "help": "How many command ids to remember against replays."})

    def __post_init__(self):
        if not 0.0 <= self.min_asr_confidence <= 1.0:
            raise ValueError(f"min_asr_confidence must be in [0, 1], got {self.min_asr_confidence!r}")
        if int(self.dedup_window) < 1:
            raise ValueError(f"dedup_window must be >= 1, got {self.dedup_window!r}")


@dataclass(frozen=True)
class Handled:
    """What one voice command comes to. ``motion`` is None only for a replayed command id."""

    command_id: str
    status: str  # replayed | stop | refused | planned | answered
    motion: Optional[MotionCommand] = None
    say: str = ""
    outcome: Optional[PlanOutcome] = None
    decision: Optional[Decision] = None
    reason: str = ""
    latencies: Dict[str, float] = field(default_factory=dict)
    # Set when the handler itself refused, before or instead of the policy: asr_confidence or interpreter_error.
    refusal: str = ""

    @property
    def plan(self):
        return self.motion.plan if self.motion is not None else None


class CommandHandler:
    """Replay guard, stop, ASR-confidence refusal and the decision policy, for one command at a time."""

    def __init__(self, interpreter, options: Optional[HandlerOptions] = None):
        self.interpreter = interpreter
        self.options = options or HandlerOptions()
        self._seen: "OrderedDict[str, bool]" = OrderedDict()

    def _first_time(self, command_id: str) -> bool:
        if command_id in self._seen:
            return False
        self._seen[command_id] = True
        while len(self._seen) > self.options.dedup_window:
            self._seen.popitem(last=False)
        return True

    def handle(self, command: VoiceCommand) -> Handled:
        """Decide one command and return what to publish; never raises for what the models or network do."""
        if not self._first_time(command.command_id):
            logger.warning("[%s] ignored a repeated command id", command.command_id)
            return Handled(command.command_id, "replayed", reason="repeated command id")
        latencies: Dict[str, float] = {}
        if command.source != "text" and command.speech_end and command.transcript_ready:
            latencies["asr"] = max(0.0, command.transcript_ready - command.speech_end)
        if not command.is_stop and command.confidence < self.options.min_asr_confidence:
            reason = f"ASR confidence {command.confidence:.2f} below {self.options.min_asr_confidence:g}"
            return self._refused(command, SAY_ASR_UNSURE.format(text=command.text.strip()), reason, latencies,
                                 "asr_confidence")
        started = time.perf_counter()
        try:
            decision = self.interpreter.interpret(command.text, command.command_id, is_stop=command.is_stop)
        except Exception as exc:  # noqa: BLE001 - a missing model or a bug must refuse this command, not kill the node
            logger.error("[%s] interpreter failed: %r", command.command_id, exc)
            return self._refused(command, SAY_FAILED, f"interpreter error: {exc}", latencies, "interpreter_error")
        latencies["interpreter"] = time.perf_counter() - started
        plan = decision.plan
        motion = self._motion(command, plan, latencies)
        if decision.decision == "stop":
            return Handled(command.command_id, "stop", motion, decision=decision, latencies=latencies)
        if plan.actions:
            return Handled(command.command_id, "planned", motion, plan.say, decision=decision, reason=decision.reason,
                           latencies=latencies)
        if decision.refused:
            outcome = PlanOutcome(command.command_id, "refused", decision.reason or plan.say)
            return Handled(command.command_id, "refused", motion, plan.say, outcome, decision, decision.reason,
                           latencies)
        # An answer with nothing to move (a question, a greeting) ends here.
        outcome = PlanOutcome(command.command_id, "done", "answered without motion")
        return Handled(command.command_id, "answered", motion, plan.say, outcome, decision, latencies=latencies)

    def _motion(self, command: VoiceCommand, plan, latencies: Dict[str, float]) -> MotionCommand:
        return MotionCommand(plan=plan, command_id=command.command_id, text=command.text, latencies=dict(latencies),
                             speech_end=command.speech_end)

    def _refused(self, command: VoiceCommand, say: str, reason: str, latencies: Dict[str, float],
                 refusal: str) -> Handled:
        logger.warning("[%s] refused %r: %s", command.command_id, command.text[:80], reason)
        motion = self._motion(command, policy.refusal(say), latencies)
        return Handled(command.command_id, "refused", motion, say, PlanOutcome(command.command_id, "refused", reason),
                       reason=reason, latencies=latencies, refusal=refusal)
