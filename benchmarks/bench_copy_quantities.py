"""Does copying said quantities (number and unit) in the decoding grammar make plans more exact? (dev split)

    .venv/bin/python benchmarks/bench_copy_quantities.py [--adapter models/adapters/shadow] [--n 300] [--attached]

Each dev utterance (held-out phrasings of the generator, a share with ASR-like noise) is decoded
twice by the same model, in the same process, alternating: once with the free compact grammar (any
positive number, any unit) and once with ``copy_quantities`` (``decoding.compact_ebnf``: only numbers
the user said, each in a slot its unit fits). Prints exact plans over all examples and over in-scope
commands, the slot accuracy, how many plans changed and in which direction, and the precision of the
local plans at the robot's confidence threshold. ``--attached`` also runs backbone + shadow (slower).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MODES = ("free", "copy")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="models/adapters/shadow", help="Shadow adapter (a checkpoint works).")
    parser.add_argument("--n", type=int, default=300, help="Dev examples.")
    parser.add_argument("--seed", type=int, default=1, help="Dev data seed.")
    parser.add_argument("--attached", action="store_true", help="Also decode with backbone + shadow.")
    parser.add_argument("--threshold", type=float, default=None,
                        help="Confidence threshold for local plans (default: config/dog.yaml's).")
    parser.add_argument("--threads", type=int, default=1, help="torch threads.")
    parser.add_argument("--out", default=None, help="Write per-example outputs and the summary as JSON here.")
    args = parser.parse_args(argv)

    import torch
    from tqdm.auto import tqdm

    from shadowpeft_ros.deployment import Deployment
    from shadowpeft_ros.evaluation import metrics
    from shadowpeft_ros.interpreter.compact import parse_compact
    from shadowpeft_ros.interpreter.data import generate
    from shadowpeft_ros.interpreter.decoding import MAX_NEW_TOKENS, decode_plans, plan_of
    from shadowpeft_ros.interpreter.engine import AttachedEngine, DetachedEngine
    from shadowpeft_ros.interpreter.interpreter import ensure_detached_export
    from shadowpeft_ros.interpreter.report import plans_equal

    torch.set_num_threads(args.threads)
    threshold = args.threshold if args.threshold is not None else Deployment.load().policy.confidence_threshold
    engines = {"detached": DetachedEngine.from_export(str(ensure_detached_export(args.adapter)))}
    if args.attached:
        engines["attached"] = AttachedEngine.from_adapter(args.adapter)
    examples = generate("dev", args.n, args.seed)
    rows = []
    for i, example in enumerate(tqdm(examples, desc="dev")):
        row = {"text": example.text, "kind": example.kind}
        for path, engine in engines.items():
            want = parse_compact(example.detached if path == "detached" else example.attached)
            # Alternate which mode goes first, so neither gets a warmer cache.
            for mode in (MODES if i % 2 == 0 else MODES[::-1]):
                decoded = decode_plans(engine.model, engine.tokenizer, [example.text],
                                       copy_quantities=(mode == "copy"))[0]
                plan, _ = plan_of(decoded, engine.route, MAX_NEW_TOKENS)
                right, total = metrics.slot_counts(plan, want) if example.kind in ("command", "multi") else (0, 0)
                row[f"{path}:{mode}"] = {"text": decoded.text, "confidence": decoded.confidence,
                                         "exact": plans_equal(plan, want), "slots": [right, total],
                                         "local": plan is not None and not plan.is_escalation}
        rows.append(row)

    summary = {}
    print(f"{args.adapter}: {len(rows)} dev examples (seed {args.seed}), confidence threshold {threshold:g}")
    print("| path | grammar | exact | command exact | slots | local plans at threshold: coverage / right |")
    print("|---|---|---:|---:|---:|---:|")
    for path in engines:
        for mode in MODES:
            key = f"{path}:{mode}"
            commands = [r for r in rows if r["kind"] in ("command", "multi")]
            local = [r for r in commands if r[key]["local"] and r[key]["confidence"] >= threshold]
            s = {"exact": sum(r[key]["exact"] for r in rows) / len(rows),
                 "command_exact": sum(r[key]["exact"] for r in commands) / max(len(commands), 1),
                 "slot": sum(r[key]["slots"][0] for r in commands) / max(sum(r[key]["slots"][1] for r in commands), 1),
                 "coverage": len(local) / max(len(commands), 1),
                 "precision": sum(r[key]["exact"] for r in local) / len(local) if local else None}
            summary[key] = s
            precision = f"{s['precision']:.1%}" if s["precision"] is not None else "-"
            print(f"| {path} | {mode} | {s['exact']:.3f} | {s['command_exact']:.3f} | {s['slot']:.3f} | "
                  f"{s['coverage']:.1%} / {precision} |")
        fixed = [r for r in rows if r[f"{path}:copy"]["exact"] and not r[f"{path}:free"]["exact"]]
        broken = [r for r in rows if r[f"{path}:free"]["exact"] and not r[f"{path}:copy"]["exact"]]
        print(f"\n{path}: copying made {len(fixed)} plans right and {len(broken)} wrong")
        for label, changed in (("right", fixed), ("wrong", broken)):
            for r in changed[:12]:
                print(f"  made {label}: {r['text']!r}: {r[f'{path}:free']['text']!r} -> {r[f'{path}:copy']['text']!r}")
        print()
    if args.out:
        Path(args.out).write_text(json.dumps({"adapter": args.adapter, "n": args.n, "seed": args.seed,
                                              "threshold": threshold, "summary": summary, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
