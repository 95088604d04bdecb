"""Spoken replies: the speaker node says /dog/say through espeak-ng; what it says is heard back by Whisper."""

import threading
import time

import pytest
import rclpy
import soundfile
from rclpy.duration import Duration
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from shadowpeft_ros.messages import PlanOutcome
from shadowpeft_ros.nodes.common import COMMAND_QOS
from shadowpeft_ros.nodes.transport import TypedPublisher
from shadowpeft_ros.nodes.speaker_node import SpeakerNode
from shadowpeft_ros.speech.wer import word_error_rate
from shadowpeft_ros.speech.options import SpeakerOptions
from shadowpeft_ros.speech.speaker import Speaker


def wait_until(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def ros():
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(context=context)
    talker = Node("say_test_talker", context=context)
    publisher = talker.create_publisher(String, "/dog/say", COMMAND_QOS)
    talker.outcomes = TypedPublisher(talker, "PlanOutcome", "/dog/outcome", COMMAND_QOS)
    executor.add_node(talker)
    threading.Thread(target=executor.spin, daemon=True).start()
    nodes = []

    def start(**params):
        node = SpeakerNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        executor.add_node(node)
        nodes.append(node)
        # Matched, not merely discovered: only a subscription DDS has matched receives what is published next.
        wait_until(lambda: publisher.get_subscription_count() >= len(nodes), 10, "the speaker to match /dog/say")
        return node

    try:
        yield start, publisher, talker
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        talker.destroy_node()
        rclpy.try_shutdown(context=context)


@pytest.mark.slow
def test_speaker_node_says_the_text(ros, tmp_path):
    start, publisher, _ = ros
    node = start(save_dir=str(tmp_path), voice="en-us")
    publisher.publish(String(data="I am sitting down now."))
    deadline = time.monotonic() + 20
    while not node.speaker.spoken and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node.speaker.wait_idle(20)
    [(text, path)] = node.speaker.spoken
    assert text == "I am sitting down now." and path.is_file()
    audio, rate = soundfile.read(str(path), dtype="float32")
    assert rate == 16000 and len(audio) > 8000
    from shadowpeft_ros.speech.asr import load_backend
    from shadowpeft_ros.speech.options import AsrOptions

    heard = load_backend(AsrOptions(warmup=False)).transcribe(audio).text
    assert word_error_rate(["I am sitting down now"], [heard]) <= 0.4, heard
    # This machine has no sound card: playing is skipped with one warning, the node keeps going.
    import sounddevice

    if len(sounddevice.query_devices()) == 0:
        assert any("no audio output device" in p for p in node.speaker.problems)


def test_disabled_speaker_says_nothing(ros, tmp_path):
    start, publisher, _ = ros
    node = start(enabled=False, save_dir=str(tmp_path))
    assert not node.speaker.available and not node.options.enabled
    [say_subscription] = [s for s in node.subscriptions if s.topic_name == "/dog/say"]
    # Both ends matched, and the message acknowledged by the speaker's reader: silence afterwards is the
    # speaker's doing, not a message lost to discovery.
    wait_until(lambda: say_subscription.get_publisher_count() >= 1, 10, "/dog/say to match the talker")
    publisher.publish(String(data="hello"))
    assert publisher.wait_for_all_acked(Duration(seconds=5)), "the speaker's reader never acknowledged 'hello'"
    time.sleep(0.5)  # the executor's turn to run the callback
    assert node.speaker.spoken == [] and list(tmp_path.iterdir()) == []


def test_outcomes_are_confirmed_aloud(ros, tmp_path):
    start, _, talker = ros
    node = start(save_dir=str(tmp_path), confirmations=["refused=Sorry, I can't do that.", "done=Done."])
    deadline = time.monotonic() + 10
    while talker.count_subscribers("/dog/outcome") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    for outcome in ("accepted", "refused", "done"):
        talker.outcomes.publish(PlanOutcome(command_id="c1", outcome=outcome))
    deadline = time.monotonic() + 20
    while len(node.speaker.spoken) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node.speaker.wait_idle(20)
    assert [text for text, _ in node.speaker.spoken] == ["Sorry, I can't do that.", "Done."]


def test_bad_confirmation_entries_are_rejected():
    with pytest.raises(ValueError, match="outcome=sentence"):
        SpeakerOptions(confirmations=("maybe=Hm.",))


def test_missing_espeak_warns_and_does_not_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on this PATH
    speaker = Speaker(SpeakerOptions(save_dir=str(tmp_path)))
    try:
        assert not speaker.available
        assert any("espeak-ng is not installed" in p for p in speaker.problems)
        assert speaker.say("hello") is False
    finally:
        speaker.close()
