"""Accuracy and on-board latency of detached shadows of different depths, measured in one process.

    .venv/bin/python benchmarks/bench_detached_depth.py --adapter l2=runs/pretrain/keep/l2-600 \
        --adapter l4=runs/pretrain/keep/l4-600 [--n 200] [--threads 1]

Each adapter's detached shadow is exported once into the cache (``ensure_detached_export``) and
loaded like the robot loads it (``DetachedEngine``). Accuracy is scored on the dev split (held-out
phrasings) with the dev report's metrics; latency is timed on the same utterances with the engines
interleaved utterance by utterance, so a busy machine slows all depths alike and the ratios hold.
Prints a markdown table and writes JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", action="append", required=True, metavar="NAME=DIR",
                        help="A shadow adapter (a training checkpoint works); repeat for each depth.")
    parser.add_argument("--n", type=int, default=200, help="Dev examples.")
    parser.add_argument("--seed", type=int, default=1, help="Dev data seed.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the robot's CPU budget).")
    parser.add_argument("--out", default=None, help="Write the table as JSON here.")
    args = parser.parse_args(argv)

    import torch

    from shadowpeft_ros.interpreter.data import generate
    from shadowpeft_ros.interpreter.engine import DetachedEngine
    from shadowpeft_ros.interpreter.interpreter import ensure_detached_export
    from shadowpeft_ros.interpreter.report import choose_threshold, confidence_curve, score

    torch.set_num_threads(args.threads)
    examples = generate("dev", args.n, args.seed)
    engines = {}
    for spec in args.adapter:
        name, _, directory = spec.partition("=")
        engine = DetachedEngine.from_export(str(ensure_detached_export(directory)))
        engines[name] = (engine, json.loads((Path(directory) / "adapter_config.json").read_text()))
    results = {name: [] for name in engines}
    for i, example in enumerate(examples):
        for name, (engine, _) in engines.items():
            results[name].append(engine.plan(example.text, str(i)))
    rows = {}
    for name, (engine, config) in engines.items():
        row = score(examples, results[name], detached=True)
        curve = confidence_curve(examples, results[name])
        latencies = sorted(r.latency_s for r in results[name])
        rows[name] = {
            "shadow_layers": config.get("shadow_num_hidden_layers"),
            "params": sum(p.numel() for p in engine.model.parameters()),
            "exact": row["exact"], "command_exact": row["command_exact"], "oos_escalate": row["oos_escalate"],
            "refusal": row["refusal"], "valid": row["valid"],
            "latency_p50_s": statistics.median(latencies), "latency_p95_s": latencies[int(0.95 * (len(latencies) - 1))],
            "threshold_at_95_precision": choose_threshold(curve),
            "coverage_at_that_threshold": next((c["coverage"] for c in curve
                                                if c["threshold"] == choose_threshold(curve)), None),
        }
    columns = list(next(iter(rows.values())))
    print(f"dev split seed {args.seed}, n={args.n}, {args.threads} torch thread(s)\n")
    print("| depth | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
