"""The speech node over DDS: real audio through the node, VoiceCommands received by another node or process."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import soundfile
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from scipy.signal import resample_poly
from std_msgs.msg import String
from std_srvs.srv import SetBool

from shadowpeft_ros.nodes.common import COMMAND_QOS, LATCHED_QOS
from shadowpeft_ros.nodes.transport import create_typed_subscription
from shadowpeft_ros.nodes.speech_node import SpeechNode
from shadowpeft_ros.speech.wer import word_error_rate
from shadowpeft_ros.speech.tts import synthesize

ROOT = Path(__file__).resolve().parent.parent


class Listener:
    """A separate node that collects /voice/command and /voice/state, and can press push-to-talk."""

    def __init__(self, context):
        self.node = Node("speech_test_listener", context=context)
        self.commands = []
        self.states = []
        self.lock = threading.Lock()
        create_typed_subscription(self.node, "VoiceCommand", "/voice/command", self._command, COMMAND_QOS)
        self.node.create_subscription(String, "/voice/state", self._state, LATCHED_QOS)
        self.ptt = self.node.create_client(SetBool, "/voice/push_to_talk")

    def _command(self, command):
        with self.lock:
            self.commands.append(command)

    def _state(self, msg):
        with self.lock:
            self.states.append(msg.data)

    def wait_state(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.states and predicate(self.states[-1]):
                    return self.states[-1]
            time.sleep(0.05)
        return self.states[-1] if self.states else None

    def press(self, pressed: bool):
        assert self.ptt.wait_for_service(timeout_sec=10)
        future = self.ptt.call_async(SetBool.Request(data=pressed))
        deadline = time.monotonic() + 10
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.done(), "push-to-talk service did not answer"
        return future.result()


@pytest.fixture
def ros():
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(context=context, num_threads=4)
    listener = Listener(context)
    executor.add_node(listener.node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    nodes = []

    def start(**params):
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        node = SpeechNode(context=context, parameter_overrides=overrides)
        executor.add_node(node)
        nodes.append(node)
        return node

    def destroy(node):
        nodes.remove(node)
        executor.remove_node(node)
        node.destroy_node()

    start.destroy = destroy
    try:
        yield start, listener
    finally:
        for node in list(nodes):
            destroy(node)
        executor.shutdown()
        listener.node.destroy_node()
        rclpy.try_shutdown(context=context)


def _command_dir(tmp_path):
    """Four files: wake phrase + command, command without wake phrase, a stop, and a 44.1 kHz stereo wake command."""
    d = tmp_path / "audio"
    synthesize("hey dog, turn left", d / "a.wav", lead_silence_s=0.3, trail_silence_s=0.3)
    synthesize("walk forward two meters", d / "b.wav", voice="en-gb", lead_silence_s=0.3, trail_silence_s=0.3)
    synthesize("stop", d / "c.wav", voice="en-us+f3", speed_wpm=190, lead_silence_s=0.3, trail_silence_s=0.3)
    src = synthesize("hey dog, sit down", d / "d_src.wav", voice="en-us", lead_silence_s=0.3, trail_silence_s=0.3)
    audio, _ = soundfile.read(str(src), dtype="float32")
    up = resample_poly(audio, 441, 160).astype(np.float32)
    soundfile.write(str(d / "d.wav"), np.stack([up, up], axis=1), 44100)
    src.unlink()
    return d


@pytest.mark.slow
def test_node_wake_phrase_and_stop_fast_path_over_dds(ros, tmp_path):
    start, listener = ros
    d = _command_dir(tmp_path)
    node = start(source=str(d), playback_speed=3.0, **{"gate.require_wake_phrase": True})
    assert listener.wait_state(lambda s: s == "finished" or s.startswith("error"), 180) == "finished"
    time.sleep(0.3)
    states = listener.states
    assert "loading" in states[0] or states[0] == "listening"  # latched: a late listener may miss "loading"
    by_file = {c.source.rsplit("/", 1)[-1]: c for c in listener.commands}
    assert set(by_file) == {"a.wav", "c.wav", "d.wav"}, [(c.source, c.text) for c in listener.commands]
    assert len(listener.commands) == 3  # exactly one per accepted utterance; b.wav had no wake phrase
    assert node.rejected == 1
    a, c, d_cmd = by_file["a.wav"], by_file["c.wav"], by_file["d.wav"]
    assert word_error_rate(["turn left"], [a.text]) == 0 and not a.is_stop
    assert word_error_rate(["sit down"], [d_cmd.text]) <= 0.5
    assert c.is_stop and "stop" in c.text.lower()
    for cmd in listener.commands:
        assert cmd.speech_start < cmd.speech_end <= cmd.transcript_ready
        assert cmd.language == "en" and 0 < cmd.confidence <= 1
        assert cmd.low_confidence == (cmd.confidence < 0.5)
        assert cmd.transcript_ready - cmd.speech_end < 30


@pytest.mark.slow
def test_push_to_talk_gates_utterances(ros, tmp_path):
    start, listener = ros
    first = synthesize("turn left", tmp_path / "1.wav", trail_silence_s=0.0)
    second = synthesize("sit down", tmp_path / "2.wav", voice="en-gb", trail_silence_s=0.0)
    parts = [np.zeros(8000, np.float32), soundfile.read(str(first), dtype="float32")[0],
             np.zeros(16000 * 4, np.float32), soundfile.read(str(second), dtype="float32")[0],
             np.zeros(16000, np.float32)]
    wav = tmp_path / "ptt.wav"
    soundfile.write(str(wav), np.concatenate(parts), 16000)
    first_end = (8000 + len(parts[1])) / 16000
    second_start = first_end + 4.0
    node = start(source=str(wav), playback_speed=1.0, **{"gate.push_to_talk": True})
    assert listener.wait_state(lambda s: s != "loading", 60) == "listening"
    while node.pipeline is None or node.pipeline.stream._anchor_wall is None:
        time.sleep(0.01)
    anchor = node.pipeline.stream._anchor_wall
    # Press during the pause between the two commands, release after the second one.
    time.sleep(max(0.0, anchor + first_end + 1.5 - time.time()))
    assert listener.press(True).success
    assert node.gate.push_to_talk_pressed
    time.sleep(max(0.0, anchor + second_start + 1.5 - time.time()))
    assert listener.press(False).success
    assert listener.wait_state(lambda s: s == "finished", 60) == "finished"
    time.sleep(0.3)
    texts = [c.text for c in listener.commands]
    assert len(texts) == 1 and word_error_rate(["sit down"], texts) <= 0.5, texts
    assert node.rejected == 1


@pytest.mark.parametrize("params,expected", [
    ({"model": "/nonexistent/whisper-model"}, "Whisper model directory not found: /nonexistent/whisper-model"),
    ({"source": "/nonexistent/command.wav"}, "neither 'mic' nor an existing WAV file"),
    ({"source": "BAD"}, "cannot read audio file"),
    ({"source": "mic"}, "query_devices"),
])
def test_bad_input_reports_an_error_and_the_node_stays_up(ros, tmp_path, params, expected):
    start, listener = ros
    if params.get("source") == "BAD":
        bad = tmp_path / "bad.wav"
        bad.write_bytes(b"this is not audio at all")
        params = {"source": str(bad)}
    params.setdefault("source", str(synthesize("sit", tmp_path / "ok.wav")))
    node = start(**params)
    state = listener.wait_state(lambda s: s.startswith("error") or s == "finished", 60)
    assert state.startswith("error: ") and expected in state, state
    # Still alive: its service answers and it can be destroyed cleanly.
    assert listener.press(True).success
    assert listener.commands == []
    assert node.pipeline is None


def test_node_shuts_down_promptly_while_listening(ros, tmp_path):
    start, listener = ros
    wav = tmp_path / "long_silence.wav"
    soundfile.write(str(wav), np.zeros(16000 * 60, np.float32), 16000)
    node = start(source=str(wav), playback_speed=1.0, wait_for_subscriber_s=0.0)
    assert listener.wait_state(lambda s: s != "loading", 60) == "listening"
    time.sleep(0.5)
    started = time.monotonic()
    start.destroy(node)
    assert time.monotonic() - started < 5
    assert not node._startup.is_alive()


@pytest.mark.slow
def test_unreadable_file_in_a_directory_is_skipped(ros, tmp_path):
    start, listener = ros
    d = tmp_path / "mixed"
    synthesize("turn right", d / "a.wav", lead_silence_s=0.3, trail_silence_s=0.3)
    (d / "b.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    synthesize("lie down", d / "c.wav", lead_silence_s=0.3, trail_silence_s=0.3)
    start(source=str(d), playback_speed=4.0)
    assert listener.wait_state(lambda s: s == "finished" or s.startswith("error"), 120) == "finished"
    time.sleep(0.3)
    assert [c.source.rsplit("/", 1)[-1] for c in listener.commands] == ["a.wav", "c.wav"]


@pytest.mark.slow
def test_speech_node_as_its_own_process(tmp_path):
    """Start the node with its own main(), as ros2 run would, and receive its command in this process."""
    wav = synthesize("hey dog, turn around", tmp_path / "cmd.wav", lead_silence_s=0.5, trail_silence_s=0.5)
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(context=context)
    listener = Listener(context)
    executor.add_node(listener.node)
    threading.Thread(target=executor.spin, daemon=True).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shadowpeft_ros.nodes.speech_node", "--ros-args", "-p", f"source:={wav}",
         "-p", "playback_speed:=2.0", "-p", "gate.require_wake_phrase:=true"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    output = []
    threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        state = listener.wait_state(lambda s: s == "finished" or s.startswith("error"), 120)
        assert state == "finished", "".join(output)[-3000:]
        deadline = time.monotonic() + 10
        while not listener.commands and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(listener.commands) == 1 and "around" in listener.commands[0].text.lower(), "".join(output)[-3000:]
        assert listener.commands[0].source == f"file:{wav}"
        assert proc.poll() is None  # a finished file leaves the node up, as a launch file expects
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        executor.shutdown()
        listener.node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert proc.returncode in (0, -signal.SIGINT), "".join(output)[-2000:]


@pytest.mark.slow
def test_half_duplex_over_dds_mutes_commands_while_the_speaker_talks_but_not_stops(ros, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Bool

    start, listener = ros
    d = tmp_path / "audio"
    synthesize("walk forward two meters", d / "a.wav", voice="en-gb", lead_silence_s=0.3, trail_silence_s=0.3)
    synthesize("stop", d / "b.wav", voice="en-us", lead_silence_s=0.3, trail_silence_s=0.3)
    diagnostics = []
    listener.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    speaking = listener.node.create_publisher(Bool, "/voice/speaking", LATCHED_QOS)
    speaking.publish(Bool(data=True))  # latched: the speech node sees it as soon as it subscribes
    node = start(source=str(d), playback_speed=2.0)
    assert listener.wait_state(lambda s: s == "finished" or s.startswith("error"), 180) == "finished"
    time.sleep(1.2)  # one diagnostics period
    assert [(c.text, c.is_stop) for c in listener.commands] == [("stop", True)]
    assert node.duplex.muted_count == 1 and node.duplex.stops_passed == 1
    status = [s for a in diagnostics for s in a.status if s.name == "speech: recognition"][-1]
    values = {kv.key: kv.value for kv in status.values}
    from shadowpeft_ros.speech.options import DEFAULT_ASR_MODEL

    assert values["half_duplex"] == "speaking" and values["model"] == DEFAULT_ASR_MODEL and values["bias"] == "prompt"
    assert float(values["last_latency_s"]) > 0 and values["vad"] in ("speech", "silence")
    assert values["muted_while_speaking"] == "1"
