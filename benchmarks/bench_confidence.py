"""Which confidence signal tells a right detached plan from a wrong one (dev split, held-out phrasings).

    .venv/bin/python benchmarks/bench_confidence.py [--adapter models/adapters/shadow] [--n 400] [--seed 1]

The detached shadow decodes each dev utterance alone, as on the robot, and keeps every token's
log-probability (``Decoded.log_probs``). Over the in-scope commands it planned locally (a valid plan,
not ``[REMOTE]``) each signal is scored by AUROC (right plans above wrong ones) and by the precision
of the plans it would let through at 60-90 % coverage of all commands: the auto policy's trade-off
(``confidence_threshold``). ``plan_probability`` is what ``decoding.py`` reports as confidence: it is
taken under the distribution the grammar leaves (xgrammar masks ``generate``'s logits in place, so a
forced token scores 1). The ``unconstrained_*`` signals score the same tokens under the model's
whole vocabulary, from one teacher-forced forward pass over the prompt and the decoded output.
Prints a markdown table; ``--out`` writes it as JSON with the dev report's per-threshold curve
(``report.confidence_curve``) of that confidence.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

COVERAGES = (0.6, 0.7, 0.8, 0.9)
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def signals(log_probs) -> dict:
    lowest = sorted(log_probs)
    return {
        "plan_probability": math.exp(sum(log_probs)),
        "geometric_mean": math.exp(sum(log_probs) / len(log_probs)),
        "min_token": math.exp(lowest[0]),
        "lowest_two_mean": math.exp(sum(lowest[:2]) / len(lowest[:2])),
    }


def unconstrained_log_probs(model, tokenizer, text: str, decoded) -> list:
    """Return the log-probability of each decoded token (EOS included) under the model's whole vocabulary."""
    import torch

    from shadowpeft_ros.interpreter.prompt import encode_prompt

    prompt = encode_prompt(tokenizer, text)
    new = tokenizer(" " + decoded.text, add_special_tokens=False)["input_ids"] if decoded.text else []
    if decoded.finished:
        new = new + [tokenizer.eos_token_id]
    if len(new) != decoded.new_tokens:
        return None  # the text re-tokenises differently from how it was decoded: not the same tokens
    ids = torch.tensor([prompt + new])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].float()
    log_probs = torch.log_softmax(logits[len(prompt) - 1: len(prompt) - 1 + len(new)], dim=-1)
    return [float(log_probs[i, token]) for i, token in enumerate(new)]


def auroc(scored) -> float:
    pos = [s for s, right in scored if right]
    neg = [s for s, right in scored if not right]
    if not pos or not neg:
        return float("nan")
    return sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="models/adapters/shadow", help="Shadow adapter (a checkpoint works).")
    parser.add_argument("--n", type=int, default=400, help="Dev examples.")
    parser.add_argument("--seed", type=int, default=1, help="Dev data seed.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads.")
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    args = parser.parse_args(argv)

    import torch
    from tqdm.auto import tqdm

    from shadowpeft_ros.interpreter.compact import parse_compact
    from shadowpeft_ros.interpreter.data import generate
    from shadowpeft_ros.interpreter.decoding import MAX_NEW_TOKENS, decode_plans, plan_of
    from shadowpeft_ros.interpreter.engine import DetachedEngine, EngineResult
    from shadowpeft_ros.interpreter.interpreter import ensure_detached_export
    from shadowpeft_ros.interpreter.report import confidence_curve, plans_equal

    torch.set_num_threads(args.threads)
    engine = DetachedEngine.from_export(str(ensure_detached_export(args.adapter)))
    examples = generate("dev", args.n, args.seed)
    commands, local, results, skipped = 0, [], [], 0
    for example in tqdm(examples, desc="detached"):
        decoded = decode_plans(engine.model, engine.tokenizer, [example.text])[0]
        plan, error = plan_of(decoded, "local", MAX_NEW_TOKENS)
        results.append(EngineResult(plan, decoded.text, decoded.confidence, error=error))
        if example.kind not in ("command", "multi"):
            continue
        commands += 1
        if plan is not None and not plan.is_escalation:
            found = signals(decoded.log_probs)
            whole = unconstrained_log_probs(engine.model, engine.tokenizer, example.text, decoded)
            if whole is None:
                skipped += 1
                continue
            found.update({f"unconstrained_{k}": v for k, v in signals(whole).items() if k in ("plan_probability", "min_token")})
            local.append((found, plans_equal(plan, parse_compact(example.detached))))
    rows = {}
    for name in local[0][0] if local else ():
        scored = sorted(((s[name], right) for s, right in local), key=lambda x: -x[0])
        row = {"auroc": auroc(scored)}
        for coverage in COVERAGES:
            k = int(round(coverage * commands))
            row[f"precision_at_{coverage:g}"] = sum(r for _, r in scored[:k]) / k if 0 < k <= len(scored) else None
        rows[name] = row
    # The dev report's curve of the confidence the robot uses (decoded.confidence is plan_probability).
    curve = confidence_curve(examples, results, THRESHOLDS)
    print(f"{args.adapter}: {commands} dev commands, {len(local)} planned locally, "
          f"{sum(r for _, r in local)} of them right ({skipped} left out: re-tokenised differently)")
    print("| signal | AUROC | " + " | ".join(f"precision at {c:.0%} coverage" for c in COVERAGES) + " |")
    print("|---|---:|" + "---:|" * len(COVERAGES))
    for name, row in rows.items():
        cells = [f"{row[f'precision_at_{c:g}']:.3f}" if row[f"precision_at_{c:g}"] is not None else "-"
                 for c in COVERAGES]
        print(f"| {name} | {row['auroc']:.3f} | " + " | ".join(cells) + " |")
    print("\nplan_probability thresholds: " + ", ".join(
        f"{r['threshold']:g} -> {r['coverage']:.0%} covered, {r['precision']:.1%} right, "
        f"{r['oos_local']:.0%} of out-of-scope acted on" for r in curve if r["precision"]))
    if args.out:
        Path(args.out).write_text(json.dumps({"adapter": args.adapter, "n": args.n, "seed": args.seed,
                                              "commands": commands, "signals": rows, "curve": curve}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
