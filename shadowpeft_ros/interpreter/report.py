"""Dev-set report: ShadowPEFT attached, ShadowPEFT detached, LoRA and DoRA on held-out phrasings.

Run ``python -m shadowpeft_ros.interpreter.report --help``. Metrics, per system:

- ``valid``: output parsed as a v1 plan.
- ``exact``: plan equal to the target (actions as ``shadowpeft eval`` compares them, and the words of ``say``),
  over all examples.
- ``command_exact`` / ``action_type`` / ``slot``: over in-scope commands only; action types in
  order, and the share of target slots (direction, name, each number) reproduced at the
  right position, counted as ``shadowpeft eval`` counts them.
- ``oos_escalate`` (detached): out-of-scope questions answered with ``[REMOTE]``;
  ``false_escalate``: in-scope commands wrongly escalated.
- ``oos_answer`` (attached): out-of-scope questions answered in ``say`` with no actions;
  ``oos_answer_exact``: the answer text is the reference answer.
- ``refusal``: unsafe requests answered with no actions and a ``say``.
- ``latency_s``: mean wall time of one plan (generation + parsing), on this machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..evaluation import metrics
from ..plan import Plan
from ..policy import local_verdict
from .compact import parse_compact
from .data import Example, generate
from .engine import EngineResult, PlanEngine

logger = logging.getLogger("shadowpeft_ros")

def plans_equal(got: Optional[Plan], want: Plan) -> bool:
    """Return whether a plan does what the target does (the evaluation's equality) and says the same words.

    Actions compare as in ``shadowpeft eval`` (defaults filled, so "turn left" is "turn left 90";
    numbers within 5 %); the dev report also wants the reference sentence of an answer or refusal.
    """
    return got is not None and got.say.strip() == want.say.strip() and metrics.plans_equal(got, want)


def score(examples: Sequence[Example], results: Sequence[EngineResult], detached: bool) -> dict:
    """Return the report metrics of one system's results against the examples' targets."""
    counts = {k: 0 for k in ("valid", "exact", "commands", "command_exact", "action_type", "slots", "slots_right",
                             "oos", "oos_escalate", "oos_answer", "oos_answer_exact", "refusals", "refusal",
                             "false_escalate")}
    by_steps: Dict[int, List[int]] = {}  # multi-step examples: number of actions -> [right, total]
    for ex, res in zip(examples, results):
        want = parse_compact(ex.detached if detached else ex.attached)
        got = res.plan
        counts["valid"] += got is not None
        counts["exact"] += plans_equal(got, want)
        if ex.kind in ("command", "multi"):
            counts["commands"] += 1
            counts["command_exact"] += plans_equal(got, want)
            counts["false_escalate"] += bool(got is not None and got.is_escalation)
            got_actions = got.actions if got is not None else ()
            counts["action_type"] += [a.type for a in got_actions] == [a.type for a in want.actions]
            right, total = metrics.slot_counts(got, want)
            counts["slots"] += total
            counts["slots_right"] += right
            if ex.kind == "multi":
                tally = by_steps.setdefault(len(want.actions), [0, 0])
                tally[0] += plans_equal(got, want)
                tally[1] += 1
        elif ex.kind == "out_of_scope":
            counts["oos"] += 1
            counts["oos_escalate"] += bool(got is not None and got.is_escalation)
            answered = got is not None and not got.actions and bool(got.say)
            counts["oos_answer"] += answered
            reference = parse_compact(ex.attached).say
            counts["oos_answer_exact"] += bool(answered and got.say.strip() == reference)
        else:
            counts["refusals"] += 1
            counts["refusal"] += bool(got is not None and not got.actions and got.say)
    n = max(len(examples), 1)

    def share(k, d):
        return counts[k] / counts[d] if counts[d] else None

    return {
        "n": len(examples),
        "valid": counts["valid"] / n,
        "exact": counts["exact"] / n,
        "command_exact": share("command_exact", "commands"),
        "action_type": share("action_type", "commands"),
        "slot": share("slots_right", "slots"),
        "false_escalate": share("false_escalate", "commands"),
        "oos_escalate": share("oos_escalate", "oos"),
        "oos_answer": share("oos_answer", "oos"),
        "oos_answer_exact": share("oos_answer_exact", "oos"),
        "refusal": share("refusal", "refusals"),
        "latency_s": statistics.mean(r.latency_s for r in results) if results else None,
        # Multi-step plans by their number of actions: longer plans are where small models drop or repeat a step.
        "multi_exact_by_steps": {n: right / total for n, (right, total) in sorted(by_steps.items())},
    }


def run_engine(engine: PlanEngine, examples: Sequence[Example], label: str, progress: bool = True) -> List[EngineResult]:
    """Run an engine over the examples, with a progress bar."""
    from tqdm.auto import tqdm

    return [engine.plan(ex.text, str(i)) for i, ex in enumerate(tqdm(examples, desc=label, disable=not progress))]


def _acts_locally(result: EngineResult, threshold: float, text: Optional[str]) -> bool:
    """The policy's own verdict on a detached answer; ``text`` None skips the checks against the utterance."""
    return not local_verdict(result, text or "", threshold, check_quantities=text is not None,
                             check_sides=text is not None)


def auto_results(local: Sequence[EngineResult], remote: Sequence[EngineResult], threshold: float,
                 texts: Optional[Sequence[str]] = None) -> List[EngineResult]:
    """Replay the interpreter's auto policy on recorded detached and attached results (latencies add up).

    With ``texts`` a detached plan whose numbers disagree with its utterance escalates, as in the
    policy's ``check_quantities``.
    """
    out = []
    for i, (d, a) in enumerate(zip(local, remote)):
        if _acts_locally(d, threshold, texts[i] if texts is not None else None):
            out.append(d)
        else:
            out.append(EngineResult(a.plan, a.raw_text, a.confidence, d.latency_s + a.latency_s, a.engine, a.error,
                                    a.new_tokens))
    return out


# A plan's probability sits close to 1 for most commands, so the grid is finer at the top.
CURVE_THRESHOLDS = tuple(i / 20 for i in range(19)) + (0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999)


def confidence_curve(examples: Sequence[Example], local: Sequence[EngineResult],
                     thresholds: Sequence[float] = CURVE_THRESHOLDS, check_quantities: bool = True) -> List[dict]:
    """Return, per threshold, what acting on the detached model's own plans would do.

    ``coverage``: share of in-scope commands acted on locally (a valid, non-escalating plan at or
    above the threshold); ``precision``: share of those local plans that are exactly right (a wrong
    one moves a real dog); ``oos_local``: share of out-of-scope requests wrongly acted on locally.
    With ``check_quantities`` (the policy's default) a plan whose numbers disagree with the
    utterance is not acted on locally.
    """
    rows = []
    for threshold in thresholds:
        acted = right = commands = oos = oos_acted = 0
        for ex, res in zip(examples, local):
            local_plan = _acts_locally(res, threshold, ex.text if check_quantities else None)
            if ex.kind in ("command", "multi"):
                commands += 1
                acted += local_plan
                right += bool(local_plan and plans_equal(res.plan, parse_compact(ex.attached)))
            elif ex.kind == "out_of_scope":
                oos += 1
                oos_acted += bool(local_plan and res.plan.actions)
        rows.append({"threshold": threshold, "coverage": acted / commands if commands else None,
                     "precision": right / acted if acted else None, "oos_local": oos_acted / oos if oos else None})
    return rows


def choose_threshold(curve: Sequence[dict], min_precision: float = 0.95) -> Optional[float]:
    """Return the lowest threshold whose local precision reaches ``min_precision`` (the most coverage that is safe)."""
    for row in sorted(curve, key=lambda r: r["threshold"]):
        if row["precision"] is not None and row["precision"] >= min_precision:
            return row["threshold"]
    return None


def threshold_keeping_coverage(curve: Sequence[dict], min_coverage: float = 0.70) -> Optional[float]:
    """Return the highest threshold that still acts locally on ``min_coverage`` of commands (the most precise one)."""
    kept = [row["threshold"] for row in curve if row["coverage"] is not None and row["coverage"] >= min_coverage]
    return max(kept) if kept else None


def recommended_threshold(curve: Sequence[dict], min_precision: float = 0.95,
                          min_coverage: float = 0.70) -> Optional[float]:
    """Return the auto policy's threshold by issue 10's two goals for local plans, measured on dev data.

    The lowest threshold whose local plans are ``min_precision`` right, when it still keeps ``min_coverage``
    of commands on board; otherwise no threshold meets both, and the highest one that keeps the coverage
    is taken: the most precise robot that still decides most commands itself. None when no threshold
    keeps that coverage.
    """
    safe = choose_threshold(curve, min_precision)
    by_threshold = {row["threshold"]: row for row in curve}
    if safe is not None and (by_threshold[safe]["coverage"] or 0.0) >= min_coverage:
        return safe
    return threshold_keeping_coverage(curve, min_coverage)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) or "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


COLUMNS = ("trainable_params", "model_params", "valid", "exact", "command_exact", "action_type", "slot", "false_escalate",
           "oos_escalate", "oos_answer", "oos_answer_exact", "refusal", "escalated", "latency_s", "multi_exact_by_steps")


def markdown_table(rows: Dict[str, dict]) -> str:
    """Return the report as a markdown table, one row per system."""
    lines = ["| system | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(c)) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Evaluate the trained adapters on the dev split and print/write the report."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(prog="python -m shadowpeft_ros.interpreter.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapters", default="models/adapters", help="Directory with shadow/, lora/, dora/.")
    parser.add_argument("--detached", default=None, help="Detached export to score (default: the shadow adapter's "
                        "own export, cached by its content hash, made on first use).")
    parser.add_argument("--n", type=int, default=100, help="Dev examples.")
    parser.add_argument("--seed", type=int, default=1, help="Dev data seed (training used the dev split of seed 0 "
                                                            "for its loss only).")
    parser.add_argument("--systems", default="shadow-detached,shadow-attached,lora,dora",
                        help="Comma-separated systems to evaluate.")
    parser.add_argument("--out", default="models/adapters/dev_report.json", help="Where to write the JSON report.")
    parser.add_argument("--threshold", type=float, default=None,
                        help="Auto-policy confidence threshold (default: config/dog.yaml's, as the robot uses it).")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default).")
    parser.add_argument("--shadow-adapter", default=None,
                        help="Shadow adapter for the shadow systems (default: ADAPTERS/shadow), e.g. a checkpoint.")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="Combine reports written by separate runs (e.g. one per system) into --out; no models run.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        rows = {name: row for part in parts for name, row in part["systems"].items()}
        Path(args.out).write_text(json.dumps({"n": parts[0]["n"], "seed": parts[0]["seed"], "systems": rows}, indent=2)
                                  + "\n")
        print(markdown_table(rows))
        return 0

    import torch

    from .engine import AttachedEngine, DetachedEngine
    from .interpreter import ensure_detached_export

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.threshold is None:
        from ..deployment import Deployment

        args.threshold = Deployment.load().policy.confidence_threshold
    examples = generate("dev", args.n, args.seed)
    adapters = Path(args.adapters)
    rows: Dict[str, dict] = {}
    collected: Dict[str, List[EngineResult]] = {}
    for system in args.systems.split(","):
        method = system.split("-")[0]
        metrics_file = adapters / method / "metrics.json"
        trainable = json.loads(metrics_file.read_text())["trainable_params"] if metrics_file.is_file() else None
        adapter = Path(args.shadow_adapter) if method == "shadow" and args.shadow_adapter else adapters / method
        if system == "shadow-detached":
            # A fixed export path once scored a stale export after the adapter changed: key it by content.
            engine = DetachedEngine.from_export(args.detached or str(ensure_detached_export(str(adapter))))
        else:
            engine = AttachedEngine.from_adapter(str(adapter))
        started = time.perf_counter()
        results = run_engine(engine, examples, system)
        row = score(examples, results, detached=system == "shadow-detached")
        row["trainable_params"] = trainable
        row["model_params"] = sum(p.numel() for p in engine.model.parameters())
        row["wall_s"] = time.perf_counter() - started
        rows[system] = row
        rows[system]["samples"] = [
            {"text": ex.text, "target": ex.detached if system == "shadow-detached" else ex.attached,
             "output": r.raw_text, "confidence": round(r.confidence, 3)}
            for ex, r in list(zip(examples, results))[:12]
        ]
        if system == "shadow-detached":
            row["confidence_curve"] = confidence_curve(examples, results)
            row["threshold_at_95_precision"] = choose_threshold(row["confidence_curve"])
            row["threshold_keeping_70_coverage"] = threshold_keeping_coverage(row["confidence_curve"])
            row["recommended_threshold"] = recommended_threshold(row["confidence_curve"])
        print(system, json.dumps({k: v for k, v in row.items() if k not in ("samples", "confidence_curve")}),
              flush=True)
        collected[system] = results
        del engine
    if "shadow-detached" in collected and "shadow-attached" in collected:
        texts = [ex.text for ex in examples]
        auto = auto_results(collected["shadow-detached"], collected["shadow-attached"], args.threshold, texts)
        rows["shadow-auto"] = score(examples, auto, detached=False)
        rows["shadow-auto"]["trainable_params"] = rows["shadow-attached"]["trainable_params"]
        rows["shadow-auto"]["escalated"] = sum(r.engine == "attached" for r in auto) / max(len(auto), 1)
        print("shadow-auto", json.dumps(rows["shadow-auto"]), flush=True)
        sweep = {}
        for threshold in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
            replay = auto_results(collected["shadow-detached"], collected["shadow-attached"], threshold, texts)
            sweep[threshold] = {"exact": score(examples, replay, detached=False)["exact"],
                                "escalated": sum(r.engine == "attached" for r in replay) / max(len(replay), 1),
                                "latency_s": statistics.mean(r.latency_s for r in replay)}
        rows["shadow-auto"]["threshold_sweep"] = sweep
        print("auto threshold sweep", json.dumps(sweep), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"n": args.n, "seed": args.seed, "systems": rows}, indent=2) + "\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
