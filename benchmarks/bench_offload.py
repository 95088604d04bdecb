"""Benchmark: end-to-end interpreter latency per offload policy, network round-trip time and server state.

For the same N dev commands (the interpreter's data generator, split "dev"), each policy
(the decision policy's modes auto, remote_first, detached) decides every command with the
detached engine in this process and ``shadowpeft serve`` in a child process on loopback, under:

- simulated RTT 0, 50 and 200 ms: a delay the client adds around each /v1/plan call (half before
  sending, half after receiving; ``OffloadOptions.simulated_rtt_s``). Loopback itself adds < 1 ms.
  Health probes are not delayed.
- the server down (killed): the robot must answer alone, without waiting on the network.

Printed per scenario and policy: p50 and p95 of the policy's total latency (from text to plan), and
how many plans each route produced. On one machine the server and the detached model share the
CPU, which a robot and a workstation would not; the figures are an upper bound for that reason.

Models: ``--adapter`` (a trained adapter: the attached model the server hosts) and ``--detached``
(its export: the robot's model). Without them, a tiny Qwen3 is built and trained for a few steps
and exported, which measures the machinery, not a useful model (it says so in the output).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_offload.py
    PYTHONPATH=. .venv/bin/python benchmarks/bench_offload.py --adapter models/adapters/shadow \\
        --detached out/detached/shadow --json-out out/bench_offload.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

POLICIES = ("auto", "remote_first", "detached")
RTTS_MS = (0, 50, 200)


def percentile(values, q):
    """Return the q-th percentile (0..100) with linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def build_tiny_models(workdir: Path, steps: int):
    """Train a tiny Qwen3 shadow adapter and export its detached model; return (adapter_dir, export_dir)."""
    from shadowpeft_ros.interpreter.export import export_detached
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
    from shadowpeft_ros.interpreter.train import train

    backbone = save_tiny_backbone(workdir / "backbone", arch="qwen3")
    adapter = workdir / "shadow"
    train(tiny_train_config("shadow", backbone, adapter, steps=steps), progress=False)
    export = workdir / "detached"
    export_detached(str(adapter), str(export))
    return adapter, export


def run_scenario(name, commands, local_engine, url, token, policy, rtt_s, deadline_s):
    """Decide every command once under one policy mode; return latency percentiles and decision counts."""
    from shadowpeft_ros.interpreter.interpreter import Interpreter, InterpreterOptions
    from shadowpeft_ros.offload.client import OffloadOptions
    from shadowpeft_ros.policy import PolicyOptions

    offload = OffloadOptions(url=url if policy != "detached" else "", token=token, deadline_s=deadline_s,
                             simulated_rtt_s=rtt_s, probe_interval_s=0.5, probe_max_backoff_s=2.0)
    interpreter = Interpreter(InterpreterOptions(), PolicyOptions(mode=policy), detached=local_engine, offload=offload)
    try:
        remote = interpreter.policy.remote
        if remote is not None:
            # Let the first probe land, as on a robot that has been running for a while.
            remote.wait_until_probed(timeout_s=3.0)
        latencies, decisions = [], {}
        for i, text in enumerate(commands):
            decided = interpreter.interpret(text, f"{name}-{policy}-{i}")
            latencies.append(decided.latency_s["total"])
            decisions[decided.decision] = decisions.get(decided.decision, 0) + 1
        status = interpreter.status()
    finally:
        interpreter.close()
    return {"scenario": name, "policy": policy, "rtt_ms": round(rtt_s * 1000), "n": len(latencies),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p95_ms": round(percentile(latencies, 95) * 1000, 1),
            "mean_ms": round(statistics.mean(latencies) * 1000, 1), "decisions": decisions,
            "late_dropped": status.get("counts", {}).get("late_dropped", 0), "breaker": status.get("breaker")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", help="Trained adapter directory for the server (default: a tiny trained Qwen3).")
    parser.add_argument("--detached", help="Export directory of the detached model (default: the tiny one's export).")
    parser.add_argument("--engine", default="generate", help="Server engine kind (see shadowpeft serve --help).")
    parser.add_argument("-n", "--commands", type=int, default=50, help="Dev commands per scenario.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the dev commands.")
    parser.add_argument("--deadline-s", type=float, default=1.5, help="Remote deadline of the client.")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="Generation budget of both models.")
    parser.add_argument("--tiny-steps", type=int, default=40, help="Training steps of the tiny fallback model.")
    parser.add_argument("--kv-cache", default="auto", choices=("auto", "on", "off"),
                        help="KV cache of the server's generate engine (see shadowpeft serve --help).")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch CPU threads of the robot's model and of the server each (a split of one machine).")
    parser.add_argument("--rtts-ms", type=int, nargs="+", default=list(RTTS_MS),
                        help="Simulated round-trip times to measure, in milliseconds.")
    parser.add_argument("--json-out", help="Also write the rows as JSON here.")
    args = parser.parse_args(argv)

    import logging

    import torch

    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(args.torch_threads)
    from shadowpeft_ros.interpreter.data import generate
    from shadowpeft_ros.interpreter.engine import DetachedEngine
    from shadowpeft_ros.offload.local import start_local_server

    workdir = tempfile.TemporaryDirectory(prefix="bench-offload-")
    adapter, detached = args.adapter, args.detached
    if not adapter or not detached:
        print(f"[models] no --adapter/--detached given: training a TINY Qwen3 shadow adapter "
              f"({args.tiny_steps} steps); latencies are of the machinery, the model is not useful")
        tiny_adapter, tiny_export = build_tiny_models(Path(workdir.name), args.tiny_steps)
        adapter, detached = adapter or str(tiny_adapter), detached or str(tiny_export)
    commands = [example.text for example in generate("dev", args.commands, args.seed)]
    local_engine = DetachedEngine.from_export(detached, max_new_tokens=args.max_new_tokens)
    for text in commands[:2]:  # warm-up, so the first scenario does not pay for lazy initialisation
        local_engine.plan(text, "warmup")
    started = time.monotonic()
    server = start_local_server({"engine": args.engine, "adapter": adapter, "max_new_tokens": args.max_new_tokens,
                                 "torch_threads": args.torch_threads, "kv_cache": args.kv_cache})
    print(f"[server] {server.url} ready in {time.monotonic() - started:.1f} s: {json.dumps(server.model)}")
    rows = []
    try:
        for rtt_ms in args.rtts_ms:
            for policy in POLICIES:
                rows.append(run_scenario(f"rtt{rtt_ms}", commands, local_engine, server.url, server.token, policy,
                                         rtt_ms / 1000, args.deadline_s))
                print_row(rows[-1])
        server.kill()
        for policy in POLICIES:
            rows.append(run_scenario("down", commands, local_engine, server.url, server.token, policy, 0.0,
                                     args.deadline_s))
            print_row(rows[-1])
    finally:
        server.stop()
        workdir.cleanup()
    print()
    print(f"{'scenario':<10}{'policy':<14}{'p50 ms':>9}{'p95 ms':>9}  decisions")
    for row in rows:
        name = "down" if row["scenario"] == "down" else f"rtt {row['rtt_ms']}ms"
        print(f"{name:<10}{row['policy']:<14}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}  "
              + ", ".join(f"{k}={v}" for k, v in sorted(row["decisions"].items())))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps({"commands": len(commands), "deadline_s": args.deadline_s,
                                                   "adapter": adapter, "detached": detached, "rows": rows}, indent=2))
        print(f"[json] {args.json_out}")
    return 0


def print_row(row):
    print(f"[bench] {row['scenario']:<6} {row['policy']:<13} p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
          f"{row['decisions']}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
