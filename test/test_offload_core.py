"""Offload core without a server process: breaker, micro-batcher, metrics text, options, the policy without a server."""

import re
import threading
import time

import pytest

from shadowpeft_ros.offload.batching import DeadlineExpired, MicroBatcher, QueueFull
from shadowpeft_ros.offload.breaker import CLOSED, HALF_OPEN, OPEN, BreakerOptions, CircuitBreaker
from shadowpeft_ros.offload.client import OffloadOptions
from shadowpeft_ros.interpreter.engine import EngineResult
from shadowpeft_ros.offload.engine import BatchAdapter, CompactEchoTestEngine, EngineOptions
from shadowpeft_ros.offload.metrics import Metrics
from shadowpeft_ros.offload.server import ServerConfigError, ServerOptions
from shadowpeft_ros.plan import Plan, PlanError, Stop
from shadowpeft_ros.policy import (DIAG_OK, SAY_NO_REMOTE, SAY_NOT_UNDERSTOOD, DecisionPolicy, PolicyOptions,
                                   status_diagnostic)
from shadowpeft_ros.safety import SafetyLimits


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


# -- breaker ------------------------------------------------------------------------------------------

def test_breaker_opens_after_threshold_then_half_open_trial_closes_it():
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerOptions(failure_threshold=3, reset_timeout_s=2.0), clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 1.9
    assert breaker.state == OPEN
    clock.now += 0.2
    assert breaker.state == HALF_OPEN
    assert breaker.allow(), "the first caller after the timeout is the trial"
    assert not breaker.allow(), "only one trial at a time"
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.consecutive_failures == 0


def test_breaker_failed_trial_reopens_and_restarts_the_timer():
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerOptions(failure_threshold=1, reset_timeout_s=1.0), clock=clock)
    breaker.record_failure()
    clock.now += 1.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    clock.now += 0.5
    assert not breaker.allow()
    clock.now += 0.5
    assert breaker.allow()


def test_breaker_options_are_validated():
    with pytest.raises(ValueError):
        BreakerOptions(failure_threshold=0)
    with pytest.raises(ValueError):
        BreakerOptions(reset_timeout_s=0)


# -- micro-batcher -----------------------------------------------------------------------------------

def test_batcher_groups_requests_that_arrive_together_and_keeps_answers_apart():
    seen = []

    def handler(items):
        seen.append(list(items))
        return [f"answer:{x}" for x in items]

    batcher = MicroBatcher(handler, max_batch=8, window_s=0.2, max_queue=32).start()
    try:
        futures = [batcher.submit(i) for i in range(5)]
        results = [f.result(timeout=5) for f in futures]
    finally:
        batcher.stop()
    assert [r.value for r in results] == [f"answer:{i}" for i in range(5)]
    assert seen == [[0, 1, 2, 3, 4]]
    assert all(r.batch_size == 5 for r in results)


def test_batcher_never_exceeds_max_batch():
    sizes = []

    def handler(items):
        sizes.append(len(items))
        return list(items)

    batcher = MicroBatcher(handler, max_batch=3, window_s=0.1, max_queue=32).start()
    try:
        futures = [batcher.submit(i) for i in range(10)]
        assert [f.result(timeout=5).value for f in futures] == list(range(10))
    finally:
        batcher.stop()
    assert max(sizes) <= 3 and sum(sizes) == 10


def test_batcher_queue_is_bounded_and_expired_requests_are_skipped():
    release = threading.Event()
    ran = []

    def handler(items):
        ran.extend(items)
        release.wait(5)
        return list(items)

    batcher = MicroBatcher(handler, max_batch=1, window_s=0.0, max_queue=2).start()
    try:
        first = batcher.submit("running")
        deadline = time.monotonic() + 5
        while not ran and time.monotonic() < deadline:
            time.sleep(0.01)
        stale = batcher.submit("stale", deadline=time.monotonic() + 0.05)
        kept = batcher.submit("kept")
        with pytest.raises(QueueFull):
            batcher.submit("one too many")
        time.sleep(0.1)
        release.set()
        assert first.result(timeout=5).value == "running"
        with pytest.raises(DeadlineExpired):
            stale.result(timeout=5)
        assert kept.result(timeout=5).value == "kept"
    finally:
        release.set()
        batcher.stop()
    assert ran == ["running", "kept"], "the expired request must cost no compute"
    assert batcher.expired == 1


def test_batcher_failure_of_one_item_or_batch_does_not_kill_the_worker():
    def handler(items):
        if "boom" in items:
            raise RuntimeError("engine crashed")
        return [ValueError("bad item") if x == "bad" else x for x in items]

    batcher = MicroBatcher(handler, max_batch=1, window_s=0.0).start()
    try:
        with pytest.raises(RuntimeError):
            batcher.submit("boom").result(timeout=5)
        with pytest.raises(ValueError):
            batcher.submit("bad").result(timeout=5)
        assert batcher.submit("fine").result(timeout=5).value == "fine"
    finally:
        batcher.stop()


# -- metrics -----------------------------------------------------------------------------------------

def test_metrics_render_is_valid_prometheus_text_with_cumulative_buckets():
    metrics = Metrics()
    for seconds in (0.003, 0.02, 0.4, 20.0):
        metrics.count_request("/v1/plan", 200, seconds)
    metrics.count_request("/v1/plan", 503, 0.001)
    metrics.observe_batch(3, 0.05)
    metrics.gauges["queue_depth"] = ("Waiting requests.", 2.0)
    text = metrics.render()
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? '
                        r'[-+0-9.eInf]+$')
    for line in text.strip().splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    assert 'shadowpeft_offload_requests_total{endpoint="/v1/plan",status="200"} 4' in text
    assert 'shadowpeft_offload_requests_total{endpoint="/v1/plan",status="503"} 1' in text
    buckets = [int(m.group(1)) for m in re.finditer(
        r'shadowpeft_offload_request_duration_seconds_bucket\{endpoint="/v1/plan",le="[^"]+"\} (\d+)', text)]
    assert buckets == sorted(buckets) and buckets[-1] == 5
    assert 'le="0.005"} 2' in text  # 0.003 and 0.001
    assert "shadowpeft_offload_queue_depth 2" in text
    assert metrics.requests_by_status() == {"200": 4, "503": 1}


# -- options -----------------------------------------------------------------------------------------

def test_server_refuses_a_public_address_without_a_token():
    with pytest.raises(ServerConfigError, match="without a token"):
        ServerOptions(host="0.0.0.0")
    assert ServerOptions(host="0.0.0.0", token="t").token == "t"
    assert ServerOptions(host="0.0.0.0", insecure=True).token is None
    assert ServerOptions(host="127.0.0.1").token is None
    assert ServerOptions(host="::1").token is None
    with pytest.raises(ServerConfigError):
        ServerOptions(max_queue=0)


def test_offload_options_validate_and_read_the_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("SHADOWPEFT_TOKEN", "from-env")
    assert OffloadOptions(url="http://h:1").token == "from-env"
    assert OffloadOptions(url="http://h:1", token="given").token == "given"
    assert not OffloadOptions().enabled
    with pytest.raises(ValueError):
        OffloadOptions(url="gpu-box:8080")
    with pytest.raises(ValueError):
        OffloadOptions(url="http://h:1", deadline_s=0)
    with pytest.raises(ValueError):
        PolicyOptions(mode="cloud_only")
    with pytest.raises(ValueError):
        EngineOptions(engine="nonsense")


# -- engines and the policy without a server ---------------------------------------------------------------

def test_echo_test_engine_reads_compact_plans_and_rejects_anything_else():
    engine = BatchAdapter(CompactEchoTestEngine())
    good, bad, remote = engine.plan_batch(["move forward 2 ; sit", "please walk", "[REMOTE]"], ["a", "b", "c"])
    assert good.plan.to_dict()["actions"][0] == {"type": "move", "direction": "forward", "distance_m": 2.0,
                                                 "speed_mps": None}
    assert bad.plan is None and bad.error
    assert remote.plan.is_escalation


def test_batch_adapter_wraps_a_single_request_engine_and_isolates_failures():
    class OneAtATime:
        def plan(self, text, command_id=""):
            if text == "crash":
                raise RuntimeError("boom")
            if text == "garbage":
                raise PlanError("not a plan")
            return EngineResult(Plan(actions=(Stop(),)), text, 0.9)

    answers = BatchAdapter(OneAtATime()).plan_batch(["stop", "crash", "garbage"], ["1", "2", "3"])
    assert answers[0].plan.has_stop
    assert isinstance(answers[1], RuntimeError)
    assert answers[2].plan is None and "not a plan" in answers[2].error


def test_policy_without_a_server_acts_locally_refuses_escalations_and_stops_fast():
    policy = DecisionPolicy(CompactEchoTestEngine(), None, PolicyOptions(mode="auto"))
    local = policy.decide("turn left 90 ; sit", "c1")
    assert local.decision == "local" and local.plan.route == "local" and len(local.plan.actions) == 2
    escalated = policy.decide("[REMOTE]", "c2")
    assert escalated.decision == "refused:needs_remote" and not escalated.plan.actions
    assert escalated.plan.say == SAY_NO_REMOTE
    invalid = policy.decide("do a barrel roll", "c3")
    assert invalid.decision == "refused:invalid" and not invalid.plan.actions and invalid.plan.say == SAY_NOT_UNDERSTOOD
    stop = policy.decide("dog, stop now", "c4")
    assert stop.decision == "stop" and stop.plan.actions == (Stop(),) and "detached" not in stop.latency_s
    assert policy.decide("move forward 3", "c5", is_stop=True).decision == "stop"
    status = policy.status()
    assert status["decisions"] == {"local": 1, "refused:needs_remote": 1, "refused:invalid": 1, "stop": 2}
    level, message, values = status_diagnostic(status)
    assert level == DIAG_OK and "no offload server" in message and values["mode"] == "auto"
    policy.close()


# -- launch file and CLI -----------------------------------------------------------------------------

def test_offload_server_launch_file_builds_a_serve_command_the_cli_accepts():
    import importlib.util
    from pathlib import Path

    from shadowpeft_ros.cli import build_parser

    path = Path(__file__).resolve().parent.parent / "launch" / "offload_server.launch.py"
    spec = importlib.util.spec_from_file_location("offload_server_launch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # must load without launch/launch_ros installed
    defaults = {name: default for name, default, *_ in module.SERVER_ARGUMENTS}
    argv, env = module.server_command(dict(defaults, token="s3cret", adapter="models/adapters/shadow"))
    assert env == {"SHADOWPEFT_TOKEN": "s3cret"} and "s3cret" not in argv
    args = build_parser().parse_args(argv[1:])
    assert (args.host, args.port, args.adapter, args.engine, args.max_batch) == \
        ("0.0.0.0", 8080, "models/adapters/shadow", "generate", 8)
    argv, env = module.server_command(dict(defaults, insecure="true"))
    assert env == {} and build_parser().parse_args(argv[1:]).insecure


def test_serve_cli_refuses_a_public_address_without_a_token(monkeypatch, capsys):
    from shadowpeft_ros.cli import main

    monkeypatch.delenv("SHADOWPEFT_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--engine", "test-echo"]) == 2
    assert "without a token" in capsys.readouterr().err


def test_offload_options_map_onto_ros_parameters_and_status_onto_diagnostics():
    import rclpy
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from shadowpeft_ros.nodes.params import declare_options

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = Node("interpreter", context=context, parameter_overrides=[
            Parameter("offload_url", value="http://127.0.0.1:9"), Parameter("mode", value="remote_first"),
            Parameter("offload_deadline_s", value=0.8)])
        offload = declare_options(node, OffloadOptions, prefix="offload_")
        options = declare_options(node, PolicyOptions)
        assert (offload.url, offload.deadline_s, options.mode) == ("http://127.0.0.1:9", 0.8, "remote_first")
        assert node.has_parameter("offload_token") and node.has_parameter("offload_failure_threshold")
        assert node.get_parameter("stop_words").value[0] == "stop"
        policy = DecisionPolicy(CompactEchoTestEngine(), None, options)
        policy.decide("sit", "a")
        level, message, values = status_diagnostic(policy.status())
        status = DiagnosticStatus(level=bytes([level]), name="shadowpeft_ros: offload", message=message,
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        assert status.level == DiagnosticStatus.OK and any(kv.key == "decisions.local" for kv in status.values)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_serve_defaults_to_the_shipped_shadow_adapter_and_none_means_the_bare_backbone():
    from shadowpeft_ros.cli import build_parser
    from shadowpeft_ros.interpreter.interpreter import resolve_adapter_dir

    assert EngineOptions().adapter == "models/adapters/shadow"
    assert (resolve_adapter_dir(EngineOptions().adapter) / "adapter_model.safetensors").is_file()
    assert EngineOptions(adapter="none").adapter is None and EngineOptions(adapter="").adapter is None
    assert build_parser().parse_args(["serve"]).adapter == "models/adapters/shadow"
