"""Two processes exchange VoiceCommand and MotionCommand over DDS with the JSON transport."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.node import Node
from std_msgs.msg import String

from shadowpeft_ros.messages import MotionCommand, TypedPublisher, VoiceCommand, to_wire
from shadowpeft_ros.nodes.common import COMMAND_QOS
from shadowpeft_ros.plan import Move, Plan, Turn

ECHO = Path(__file__).with_name("echo_subscriber.py")


@pytest.fixture
def echo_process():
    proc = subprocess.Popen([sys.executable, str(ECHO)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ), cwd=ECHO.parent.parent)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_for(predicate, timeout, spin_node=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if spin_node is not None:
            rclpy.spin_once(spin_node, timeout_sec=0.05)
        else:
            time.sleep(0.05)
    return predicate()


def test_voice_and_motion_commands_cross_processes(echo_process):
    proc, lines = echo_process
    assert _wait_for(lambda: any('"ready"' in l for l in lines), 60), "echo subscriber did not start"
    rclpy.init()
    node = Node("transport_test_publisher")
    try:
        voice_pub = TypedPublisher(node, "VoiceCommand", "/voice/command", COMMAND_QOS, transport="json")
        plan_pub = TypedPublisher(node, "MotionCommand", "/dog/plan", COMMAND_QOS, transport="json")
        raw_plan_pub = node.create_publisher(String, "/dog/plan", COMMAND_QOS)
        assert voice_pub.transport == "json"
        assert _wait_for(lambda: plan_pub.matched_subscriptions >= 1 and voice_pub.matched_subscriptions >= 1
                         and raw_plan_pub.get_subscription_count() >= 1, 30, node), "no DDS discovery"
        voice = VoiceCommand(text="walk forward two meters", confidence=0.75, speech_start=100.5, speech_end=101.25,
                             transcript_ready=101.75, source="file:test.wav")
        motion = MotionCommand(plan=Plan(actions=(Move("forward", 2.0, None), Turn("left", None))),
                               command_id=voice.command_id, text=voice.text, latencies={"asr": 0.5})
        raw_plan_pub.publish(String(data='{"command_id": "x", "route": "local"}'))  # malformed: must be dropped
        raw_plan_pub.publish(String(data="definitely not json"))
        voice_pub.publish(voice)
        plan_pub.publish(motion)
        got = lambda: [json.loads(l) for l in lines if '"wire"' in l]
        assert _wait_for(lambda: len(got()) >= 2, 20, node), f"received {lines}"
        time.sleep(0.5)
        received = {m["kind"]: m["wire"] for m in got()}
        assert len(got()) == 2, "a malformed message was passed on"
        assert received["VoiceCommand"] == to_wire(voice)
        assert received["MotionCommand"] == to_wire(motion)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert stderr.count("rejected malformed MotionCommand on /dog/plan") == 2, stderr
