"""The offload server as a real process on loopback, and the robot's client and decision policy against it.

The server hosts the TEST ENGINE 'test-echo' (the request text is read as a compact plan by the
real parser, e.g. "move forward 2 ; sit"): these tests are about HTTP, limits, batching, deadlines,
outages and the breaker, not about a model. test_offload_model.py serves a real (tiny) model.
"""

import asyncio
import dataclasses
import json
import threading
import time

import httpx
import psutil
import pytest

from shadowpeft_ros.offload.client import OffloadClient, OffloadOptions
from shadowpeft_ros.offload.engine import CompactEchoTestEngine
from shadowpeft_ros.offload.local import start_local_server
from shadowpeft_ros.command_handler import CommandHandler
from shadowpeft_ros.interpreter.interpreter import Interpreter, InterpreterOptions
from shadowpeft_ros.messages import VoiceCommand
from shadowpeft_ros.policy import PolicyOptions

TOKEN = "test-token-0123456789"
ECHO = {"engine": "test-echo"}
MARGIN_S = 0.5  # scheduling slack on 2 shared cores


class UnsureEchoTestEngine(CompactEchoTestEngine):
    """TEST ENGINE for the robot side: the compact echo, never confident, so every command escalates."""

    def plan(self, text, command_id=""):
        return dataclasses.replace(super().plan(text, command_id), confidence=0.1)


def robot(local, offload, **policy):
    """The robot's interpreter: ``local`` on board, the offload client (started) for the server."""
    client = OffloadClient(offload).start()
    return Interpreter(InterpreterOptions(), PolicyOptions(**policy), detached=local, remote=client), client


def fast_options(url, **overrides):
    values = dict(url=url, token=TOKEN, deadline_s=1.0, probe_interval_s=0.2, probe_timeout_s=0.5,
                  probe_max_backoff_s=0.4, failure_threshold=2, reset_timeout_s=0.5, late_grace_s=5.0)
    values.update(overrides)
    return OffloadOptions(**values)


def wait_for(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture(scope="module")
def server():
    srv = start_local_server(ECHO, token=TOKEN, server_args=["--max-body-bytes", "2048", "--max-text-chars", "200"])
    yield srv
    srv.stop()


def post(url, body, token=TOKEN, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, dict):
        body = json.dumps(body)
    return httpx.post(url + "/v1/plan", content=body, headers=headers, timeout=10, **kwargs)


# -- the HTTP API --------------------------------------------------------------------------------------

def test_answers_arrive_with_plan_route_timing_and_model(server):
    r = post(server.url, {"text": "move forward 2 ; turn left ; sit", "request_id": "cmd-1"})
    assert r.status_code == 200
    body = r.json()
    assert body["request_id"] == "cmd-1" and body["route"] == "remote"
    assert body["plan"] == {"route": "remote", "say": "", "actions": [
        {"type": "move", "direction": "forward", "distance_m": 2.0, "speed_mps": None},
        {"type": "turn", "direction": "left", "angle_deg": None},
        {"type": "posture", "name": "sit"}]}
    assert set(body["timing"]) >= {"queue_s", "inference_s", "batch_size", "server_s"}
    assert body["model"]["engine"] == "test-echo" and body["model"]["server_version"]
    # An output that is no plan comes back as such, never as a guessed plan.
    bad = post(server.url, {"text": "fly to the moon", "request_id": "cmd-2"}).json()
    assert bad["plan"] is None and bad["error"]


def test_probes_and_metrics(server):
    assert httpx.get(server.url + "/healthz").json()["status"] == "alive"
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    metrics = httpx.get(server.url + "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE shadowpeft_offload_request_duration_seconds histogram" in metrics.text
    assert "shadowpeft_offload_ready 1" in metrics.text


def test_bad_requests_get_clean_errors_and_do_not_crash_the_server(server):
    good = {"text": "sit", "request_id": "x"}
    assert post(server.url, good, token=None).status_code == 401
    wrong = post(server.url, good, token="not-the-token")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert post(server.url, b'{"text": "sit", "request_id": ').status_code == 422
    assert post(server.url, b"\xff\xfe garbage").status_code == 422
    assert post(server.url, {"text": "sit"}).status_code == 422
    assert post(server.url, {"text": "sit", "request_id": "x", "sudo": True}).status_code == 422
    assert post(server.url, {"text": "sit", "request_id": "x", "deadline_s": -1}).status_code == 422
    too_long = post(server.url, {"text": "sit " * 100, "request_id": "x"})
    assert too_long.status_code == 422 and too_long.json()["error"] == "text_too_long"
    assert post(server.url, {"text": "sit", "request_id": "x", "detached_output": "y" * 4000}).status_code == 413

    def chunks():  # no Content-Length: the limit must hold while streaming too
        for _ in range(10):
            yield b" " * 1000

    assert post(server.url, chunks()).status_code == 413
    assert httpx.get(server.url + "/readyz").status_code == 200
    assert post(server.url, good).status_code == 200
    metrics = httpx.get(server.url + "/metrics").text
    for status in ("401", "413", "422"):
        assert f'endpoint="/v1/plan",status="{status}"' in metrics


def test_a_full_queue_answers_503_and_the_server_recovers():
    with start_local_server({"engine": "test-echo", "test_delay_s": 0.2}, token=TOKEN,
                            server_args=["--max-queue", "2", "--max-batch", "1", "--batch-window-s", "0"]) as srv:
        statuses = []

        def fire(i):
            statuses.append(post(srv.url, {"text": "sit", "request_id": f"q{i}"}).status_code)

        threads = [threading.Thread(target=fire, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(statuses) == 12 and set(statuses) <= {200, 503}
        assert statuses.count(503) >= 1 and statuses.count(200) >= 3
        full = post(srv.url, {"text": "sit", "request_id": "after"})
        assert full.status_code == 200
        assert srv.process.poll() is None


def test_200_concurrent_requests_each_get_their_own_answer_or_a_clean_503_with_bounded_memory(server):
    process = psutil.Process(server.pid)
    samples = []
    stop = threading.Event()

    def sample_rss():
        while not stop.is_set():
            samples.append(process.memory_info().rss)
            stop.wait(0.05)

    async def one_client(client_no, n):
        async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"},
                                     timeout=30, limits=httpx.Limits(max_connections=n)) as client:
            async def one(i):
                distance = round(0.5 + (client_no * n + i) / 100, 2)
                r = await client.post("/v1/plan", json={"text": f"move forward {distance}",
                                                        "request_id": f"load-{client_no}-{i}"})
                return client_no, i, distance, r.status_code, r.json()
            return await asyncio.gather(*(one(i) for i in range(n)))

    async def burst():
        results = await asyncio.wait_for(asyncio.gather(*(one_client(c, 25) for c in range(8))), timeout=60)
        return [r for client_results in results for r in client_results]

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    baseline = process.memory_info().rss
    rounds = []
    try:
        for _ in range(3):
            rounds.append(asyncio.run(burst()))
    finally:
        stop.set()
        sampler.join(2)
    for results in rounds:
        assert len(results) == 200
        codes = [status for *_, status, _ in results]
        assert set(codes) <= {200, 503}, codes
        for client_no, i, distance, status, body in results:
            if status == 200:
                # Batching must never hand one robot another robot's answer.
                assert body["request_id"] == f"load-{client_no}-{i}"
                assert body["plan"]["actions"][0]["distance_m"] == distance
            else:
                assert body["error"] == "queue_full"
        assert codes.count(200) >= 32
    assert max(samples) - baseline < 150 * 2 ** 20, "server memory grew without bound under load"
    assert httpx.get(server.url + "/readyz").status_code == 200
    metrics = httpx.get(server.url + "/metrics").text
    assert 'shadowpeft_offload_batch_size_bucket{le="1"}' in metrics


# -- the robot side against the server -------------------------------------------------------------------

def test_escalations_go_remote_and_plans_arrive_once(server):
    interpreter, client = robot(UnsureEchoTestEngine(), fast_options(server.url))
    try:
        assert wait_for(lambda: client.reachable, 5)
        handler = CommandHandler(interpreter)
        handled = handler.handle(VoiceCommand("turn right 45 ; wave", command_id="esc-1"))
        decided = handled.decision
        assert decided.decision == "remote" and decided.escalated and handled.plan.route == "remote"
        assert [a.type for a in handled.plan.actions] == ["turn", "trick"]
        assert decided.remote.model["engine"] == "test-echo"
        status = interpreter.status()
        assert status["reachable"] is True and status["breaker"] == "closed" and status["last_rtt_s"] > 0
        assert status["counts"]["sent"] == 1 and status["decisions"]["remote"] == 1
        assert handler.handle(VoiceCommand("turn right 45 ; wave", command_id="esc-1")).status == "replayed"
        assert interpreter.status()["counts"]["sent"] == 1, "a repeated id must not be sent again"
        # A confident local answer never touches the network; a stop never does either.
        confident = Interpreter(InterpreterOptions(), PolicyOptions(), detached=CompactEchoTestEngine(), remote=client)
        assert confident.interpret("sit", "loc-1").decision == "local"
        assert confident.interpret("stop", "stop-1").decision == "stop"
        assert interpreter.status()["counts"]["sent"] == 1
    finally:
        client.close()


def test_wrong_token_is_a_failure_that_falls_back_locally(server):
    interpreter, client = robot(UnsureEchoTestEngine(), fast_options(server.url, token="wrong"),
                                fallback_to_low_confidence=True)
    try:
        decided = interpreter.interpret("sit", "tok-1")
        assert decided.decision == "fallback_local" and "401" in decided.reason
    finally:
        client.close()


def test_interpreter_uses_the_server_as_its_attached_model(server):
    interpreter, client = robot(None, fast_options(server.url), mode="attached")
    try:
        result = interpreter.interpret("move backward 0.5 ; lie_down", command_id="int-1")
        assert result.decision == "remote" and not result.escalated
        assert result.route == "remote" and [a.type for a in result.plan.actions] == ["move", "posture"]
    finally:
        client.close()


def test_interpreter_refuses_when_the_server_is_unreachable():
    # The discard port: nothing listens there.
    interpreter, client = robot(None, fast_options("http://127.0.0.1:9"), mode="attached")
    try:
        result = interpreter.interpret("sit", command_id="int-down")
        assert result.refused and not result.plan.actions and result.plan.say
    finally:
        client.close()


@pytest.mark.parametrize("mode", ["auto", "remote_first"])
def test_a_stalled_server_cannot_hold_the_robot_past_its_deadline(mode):
    deadline_s = 0.4
    with start_local_server(ECHO, token=TOKEN, debug_delay_s=1.2) as srv:
        interpreter, client = robot(UnsureEchoTestEngine(), fast_options(srv.url, deadline_s=deadline_s),
                                    mode=mode, fallback_to_low_confidence=True)
        try:
            assert wait_for(lambda: client.reachable, 5)
            started = time.monotonic()
            decided = interpreter.interpret("move left 1", "stall-1")
            elapsed = time.monotonic() - started
            assert elapsed < deadline_s + MARGIN_S, f"waited {elapsed:.2f} s on a stalled server"
            assert decided.decision == "fallback_local" and decided.plan.route == "local"
            assert "deadline" in decided.reason
            # The server's answer still arrives, later: it must be logged and dropped, not acted on.
            assert wait_for(lambda: client.counts["late_dropped"] == 1, 5)
            assert decided.plan.route == "local" and interpreter.status()["counts"]["deadline_missed"] == 1
        finally:
            client.close()


def test_server_killed_while_a_request_is_in_flight():
    srv = start_local_server(ECHO, token=TOKEN, debug_delay_s=3.0)
    interpreter, client = robot(UnsureEchoTestEngine(), fast_options(srv.url, deadline_s=2.0),
                                fallback_to_low_confidence=True)
    try:
        assert wait_for(lambda: client.reachable, 5)
        killer = threading.Timer(0.3, srv.kill)
        killer.start()
        started = time.monotonic()
        decided = interpreter.interpret("turn left 30", "inflight-1")
        elapsed = time.monotonic() - started
        killer.join()
        # The connection drops with the process: the robot answers at once, not at the deadline.
        assert elapsed < 2.0, f"waited {elapsed:.2f} s for a dead server"
        assert decided.decision == "fallback_local" and decided.plan.actions[0].angle_deg == 30
        assert client.counts["late_dropped"] == 0
    finally:
        client.close()
        srv.stop()


def test_server_killed_mid_run_then_restarted():
    deadline_s = 1.0
    srv = start_local_server(ECHO, token=TOKEN)
    port = srv.port
    interpreter, client = robot(UnsureEchoTestEngine(), fast_options(srv.url, deadline_s=deadline_s),
                                fallback_to_low_confidence=True)
    handler = CommandHandler(interpreter)
    decided = []
    try:
        assert wait_for(lambda: client.reachable, 5)
        for i in range(4):
            decided.append(handler.handle(VoiceCommand(f"move forward {0.2 * (i + 1):.1f}", command_id=f"run-{i}")).decision)
        assert [r.decision for r in decided] == ["remote"] * 4

        srv.kill()
        for i in range(4, 12):
            started = time.monotonic()
            r = handler.handle(VoiceCommand(f"move forward {0.2 * (i + 1):.1f}", command_id=f"run-{i}")).decision
            elapsed = time.monotonic() - started
            assert elapsed < deadline_s + MARGIN_S, f"command {i} took {elapsed:.2f} s with the server down"
            assert r.decision == "fallback_local" and r.plan.actions[0].distance_m == pytest.approx(0.2 * (i + 1))
            decided.append(r)
        status = interpreter.status()
        assert status["reachable"] is False
        assert status["counts"]["sent"] <= 4 + 2, "an unreachable server must not be sent more requests"
        # Failed probes open the breaker even while no command is asking.
        assert wait_for(lambda: interpreter.status()["breaker"] == "open", 3), interpreter.status()

        srv = start_local_server(ECHO, token=TOKEN, port=port)
        assert wait_for(lambda: interpreter.status()["breaker"] == "closed" and interpreter.status()["reachable"],
                        10), interpreter.status()
        for i in range(12, 15):
            decided.append(handler.handle(VoiceCommand(f"move forward {0.2 * (i + 1):.1f}", command_id=f"run-{i}")).decision)
        assert [r.decision for r in decided[12:]] == ["remote"] * 3
    finally:
        client.close()
        srv.stop()
    # None lost, none doubled: one plan per command id, each for its own command.
    assert [r.command_id for r in decided] == [f"run-{i}" for i in range(15)]


def test_wait_until_probed_returns_what_the_first_probe_found(server):
    with OffloadClient(fast_options(server.url)) as up:
        assert up.wait_until_probed(timeout_s=10.0, until_reachable=True) is True
    # Nothing listens on port 9: the first probe fails, and waiting for "reachable" runs out its time.
    with OffloadClient(fast_options("http://127.0.0.1:9")) as down:
        assert down.wait_until_probed(timeout_s=10.0) is False
        started = time.monotonic()
        assert down.wait_until_probed(timeout_s=0.3, until_reachable=True) is False
        assert time.monotonic() - started >= 0.3
