"""Speech node: microphone or WAV audio -> VAD -> Whisper -> one VoiceCommand per accepted utterance.

Topics and services (names are parameters):
- publishes ``/voice/command`` (VoiceCommand, COMMAND_QOS): accepted utterances; stops carry ``is_stop``.
- publishes ``/voice/state`` (std_msgs/String, latched): "loading", "listening", "finished" (a WAV file or
  directory has been played and every utterance in it published) or "error: <why>".
- serves ``/voice/push_to_talk`` (std_srvs/SetBool): ``data=true`` presses the button, ``false`` releases it.
  With ``gate.push_to_talk`` on, only speech that overlaps a press becomes a command; stop words always pass.
- subscribes to ``/voice/speaking`` (std_msgs/Bool, latched, from the speaker node): while the robot talks,
  and for ``tail_s`` after, utterances are ignored except stops (half-duplex, ``speech/duplex.py``); and to
  ``/voice/speaking_text`` (std_msgs/String), the reply's words, so that they are not taken for a stop.
- publishes ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, once a second): model, language, bias,
  last latency, VAD state, half-duplex state, counts.

Audio capture and recognition run on the speech core's own threads, never on the executor, so a
slow transcription cannot delay the service or any other node in the same process.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool

from .. import topics
from ..messages import VoiceCommand
from ..speech.asr import load_backend
from ..speech.audio import open_source
from ..speech.duplex import DuplexOptions, HalfDuplex
from ..policy import PolicyOptions
from ..speech.gate import STOP_WORDS, CommandGate
from ..speech.options import AsrOptions, AudioOptions, GateOptions, SegmenterOptions
from ..speech.pipeline import SpeechPipeline, Utterance
from .common import COMMAND_QOS, LATCHED_QOS, run_node
from .diagnostics import ERROR, OK, NodeDiagnostics
from .params import declare_options, range_descriptor
from .transport import TypedPublisher

SPEAKING_TOPIC = "/voice/speaking"
SPEAKING_TEXT_TOPIC = "/voice/speaking_text"


class SpeechNode(Node):
    """Listen continuously and publish what was said, gated by wake phrase or push-to-talk."""

    def __init__(self, **kwargs):
        super().__init__("speech", **kwargs)
        self.audio_options = declare_options(self, AudioOptions)
        self.asr_options = declare_options(self, AsrOptions)
        self.vad_options = declare_options(self, SegmenterOptions, prefix="vad.")
        # One stop-word list for the whole robot: the interpreter's policy declares the same parameter,
        # and config/dog.yaml sets it once, for every node.
        stop_words = tuple(self.declare_parameter("stop_words", list(STOP_WORDS), ParameterDescriptor(
            description=PolicyOptions.__dataclass_fields__["stop_words"].metadata["help"])).value)
        self.gate_options = declare_options(self, GateOptions, prefix="gate.", exclude=("stop_words",),
                                            stop_words=stop_words)
        self.duplex_options = declare_options(self, DuplexOptions)
        speaking_topic = self.declare_parameter(
            "speaking_topic", SPEAKING_TOPIC,
            ParameterDescriptor(description="std_msgs/Bool from the speaker node: true while a reply plays.")).value
        speaking_text_topic = self.declare_parameter(
            "speaking_text_topic", SPEAKING_TEXT_TOPIC,
            ParameterDescriptor(description="std_msgs/String from the speaker node: the text of each reply.")).value
        diagnostics_topic = self.declare_parameter(
            "diagnostics_topic", topics.DIAGNOSTICS,
            ParameterDescriptor(description="diagnostic_msgs/DiagnosticArray, once a second.")).value
        command_topic = self.declare_parameter("command_topic", topics.VOICE_COMMAND).value
        state_topic = self.declare_parameter("state_topic", topics.VOICE_STATE).value
        ptt_service = self.declare_parameter("push_to_talk_service", topics.PUSH_TO_TALK_SERVICE).value
        transport = self.declare_parameter("transport", "auto").value
        self.wait_for_subscriber_s = self.declare_parameter(
            "wait_for_subscriber_s", 10.0,
            range_descriptor("WAV sources only: wait up to this long for a subscriber on the command topic before "
                             "playing, so no command is published into the void.", 0.0, 600.0)).value
        self._command_topic = command_topic

        self.gate = CommandGate(self.gate_options)
        self.duplex = HalfDuplex(self.duplex_options, self.gate_options.stop_words)
        self.backend = None
        self.published = 0
        self.rejected = 0
        self.state = ""
        self.pipeline: Optional[SpeechPipeline] = None
        self._closing = threading.Event()
        self._command_pub = TypedPublisher(self, "VoiceCommand", command_topic, COMMAND_QOS, transport)
        self._state_pub = self.create_publisher(String, state_topic, LATCHED_QOS)
        self._service_group = MutuallyExclusiveCallbackGroup()
        self.create_service(SetBool, ptt_service, self.push_to_talk_callback, callback_group=self._service_group)
        # Same group as the service: a short callback that must never wait behind anything slow.
        self.create_subscription(Bool, speaking_topic, self.speaking_callback, LATCHED_QOS,
                                 callback_group=self._service_group)
        self.create_subscription(String, speaking_text_topic, self.speaking_text_callback, COMMAND_QOS,
                                 callback_group=self._service_group)
        # The same helper as the other nodes, so every status is named "<node>: <check>".
        self.diagnostics = NodeDiagnostics(self, "speech", 1.0, diagnostics_topic)
        self.diagnostics.add("recognition", self.recognition_status)
        self._set_state("loading")
        # Model loading takes from a fraction of a second to minutes; the node answers meanwhile.
        # The same thread then runs recognition for the node's lifetime.
        self._startup = threading.Thread(target=self._start_listening, name="speech-recogniser", daemon=True)
        self._startup.start()

    def _set_state(self, state: str) -> None:
        self.state = state
        self._state_pub.publish(String(data=state))

    def _start_listening(self) -> None:
        log = self.get_logger()
        try:
            source = open_source(self.audio_options)
            backend = load_backend(self.asr_options)
            self.backend = backend
        except Exception as exc:  # every start-up failure is reported on /voice/state; the node stays up
            log.error(f"speech input unavailable: {exc}")
            self._set_state(f"error: {exc}")
            return
        log.info(f"{backend.name} model {backend.model_name} loaded in {backend.load_s:.2f} s "
                 f"(warm-up {backend.warmup_s:.2f} s); audio from {source.label} at {source.sample_rate} Hz")
        if source.finite:
            deadline = time.monotonic() + self.wait_for_subscriber_s
            while not self._command_pub.all_subscribers_matched(self) and time.monotonic() < deadline:
                if self._closing.wait(0.05):
                    return
            if not self._command_pub.all_subscribers_matched(self):
                log.warning(f"nobody subscribes to {self._command_topic}; playing {source.label} anyway")
        if self._closing.is_set():
            return
        self.pipeline = SpeechPipeline(source, backend, self._utterance, self.vad_options, self.audio_options,
                                       on_finished=self._finished, on_error=self._pipeline_error)
        try:
            self.pipeline.start(recogniser_thread=False)
        except Exception as exc:
            log.error(f"cannot start audio: {exc}")
            self._set_state(f"error: {exc}")
            return
        self._set_state("listening")
        # Recognition stays on the thread that loaded and warmed the model (see SpeechPipeline.start).
        self.pipeline.recognise()

    def _utterance(self, utterance: Utterance) -> None:
        t = utterance.transcript
        duplex = self.duplex.decide(t.text, utterance.speech_start, utterance.speech_end)
        if not duplex.accepted:
            self.rejected += 1
            self.get_logger().info(f"ignored {t.text!r}: {duplex.reason}")
            return
        decision = self.gate.decide(duplex.text, utterance.speech_start, utterance.speech_end)
        if not decision.accepted:
            self.rejected += 1
            self.get_logger().info(f"ignored {t.text!r}: {decision.reason}")
            return
        command = VoiceCommand(
            text=decision.text, confidence=t.confidence,
            low_confidence=t.confidence < self.asr_options.low_confidence_threshold, language=t.language,
            source=utterance.source, is_stop=decision.is_stop, speech_start=utterance.speech_start,
            speech_end=utterance.speech_end, transcript_ready=utterance.transcript_ready)
        self._command_pub.publish(command)
        self.published += 1
        stop = ", STOP" if command.is_stop else ""
        self.get_logger().info(f"heard {command.text!r} (confidence {t.confidence:.2f}{stop}"
                               f", {utterance.latency_s:.2f} s after speech end, decoded in {t.decode_s:.2f} s)")

    def _finished(self) -> None:
        self.get_logger().info(f"audio source exhausted: {self.published} commands published, "
                               f"{self.rejected} utterances ignored")
        self._set_state("finished")

    def _pipeline_error(self, exc: BaseException) -> None:
        self._set_state(f"error: {exc}")

    def speaking_text_callback(self, msg: String) -> None:
        self.duplex.add_spoken_text(msg.data)

    def speaking_callback(self, msg: Bool) -> None:
        self.duplex.set_speaking(bool(msg.data))

    def recognition_status(self):
        """Model, last latency, VAD state, half-duplex state and counts, as a diagnostic."""
        backend, pipeline = self.backend, self.pipeline
        error = self.state.startswith("error")
        values = {
            "state": self.state,
            "model": getattr(backend, "model_name", self.asr_options.model or "(default)"),
            "language": getattr(backend, "language", self.asr_options.language) or "detect",
            "bias": self.asr_options.bias,
            "last_latency_s": "" if pipeline is None or pipeline.last_latency_s is None
            else f"{pipeline.last_latency_s:.3f}",
            "vad": "speech" if pipeline is not None and pipeline.segmenter.in_speech else "silence",
            "half_duplex": self.duplex.state() if self.duplex_options.half_duplex else "off",
            "published": self.published,
            "ignored": self.rejected,
            "muted_while_speaking": self.duplex.muted_count,
            "bad_audio": 0 if pipeline is None else pipeline.bad_audio,
            "last_audio_problem": "" if pipeline is None else pipeline.last_problem,
        }
        return (ERROR if error else OK), self.state, values

    def push_to_talk_callback(self, request, response):
        self.gate.set_push_to_talk(bool(request.data))
        response.success = True
        response.message = "push-to-talk pressed" if request.data else "push-to-talk released"
        if not self.gate_options.push_to_talk:
            response.message += " (gate.push_to_talk is off, so presses gate nothing)"
        return response

    def destroy_node(self):
        if not hasattr(self, "_startup"):
            # rclpy also destroys a node whose __init__ failed half-way, at shutdown: nothing was started.
            return super().destroy_node()
        self._closing.set()
        stopped = None
        deadline = time.monotonic() + 30
        # The start-up thread may create the pipeline while we wait for it: stop whatever it made.
        while self._startup.is_alive() and time.monotonic() < deadline:
            if self.pipeline is not None and self.pipeline is not stopped:
                stopped = self.pipeline
                stopped.stop()
            self._startup.join(timeout=0.1)
        if self.pipeline is not None and self.pipeline is not stopped:
            self.pipeline.stop()
        if self._startup.is_alive():
            self.get_logger().warning("speech start-up still busy at shutdown (model loading); left to finish")
        return super().destroy_node()


def main(args=None):
    run_node(SpeechNode, args)


if __name__ == "__main__":
    main()
