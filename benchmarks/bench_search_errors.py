"""Would a wider search (beam search) fix the interpreter's wrong plans, or does the model prefer them? (dev split)

    .venv/bin/python benchmarks/bench_search_errors.py [--adapter models/adapters/shadow] [--n 300] [--paths attached,detached]

Each in-scope dev command (held-out phrasings of the generator) is decoded greedily, as the robot
does. For every wrong plan, the model scores two answers teacher-forced over the full vocabulary:
the expected plan and the greedy one. A *search error* is a wrong plan whose expected answer the
model finds more probable than what greedy decoding returned: a beam search could find it. A
*model error* is one where the model itself prefers the wrong plan: no decoding strategy fixes it,
only a model that reads the phrasing right. Prints both counts and the median log-probability gap,
so that the choice between better search and better models is a measured one.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path

from shadowpeft_ros.plan import POSTURES, TRICKS


def sequence_log_prob(model, tokenizer, text: str, answer: str) -> float:
    """Return log p(answer + EOS | prompt(text)) under the model, teacher-forced, over the full vocabulary."""
    import torch

    from shadowpeft_ros.interpreter.prompt import encode_pair

    ids, labels = encode_pair(tokenizer, text, answer)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    targets = torch.tensor(labels[1:])
    scored = targets != -100
    return float(torch.log_softmax(logits[scored], dim=-1).gather(1, targets[scored][:, None]).sum())


# The one-word actions of the plan language: a wrong one among them is an idiom read as another action.
POSTURE_AND_TRICK = set(POSTURES + TRICKS) | {"stop"}


def error_category(expected: str, greedy: str) -> str:
    """Name what a wrong compact plan got wrong, by its first difference from the expected one."""
    want, got = expected.split(" ; "), greedy.split(" ; ")
    if got[0].startswith("say:") or greedy.startswith("[REMOTE]"):
        return "refused or handed on a command"
    if len(got) > len(want) and got[:len(want)] == want:
        return "an action appended"
    if len(got) < len(want):
        return "an action dropped"
    if len(got) != len(want):
        return "other"
    first_want, first_got = next((a, b) for a, b in zip(want, got) if a != b)
    if first_want.split()[0] != first_got.split()[0]:
        return "another action" if first_want.split()[0] in POSTURE_AND_TRICK or \
            first_got.split()[0] in POSTURE_AND_TRICK else "another action type"
    if first_want.split()[1:2] != first_got.split()[1:2]:
        return "another direction or name"
    if [w for w in first_want.split() if w not in ("slow", "fast")] == \
            [w for w in first_got.split() if w not in ("slow", "fast")]:
        return "speed word"
    return "number or unit"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="models/adapters/shadow", help="Shadow adapter (a checkpoint works).")
    parser.add_argument("--n", type=int, default=300, help="Dev examples (all kinds; only commands are scored).")
    parser.add_argument("--seed", type=int, default=1, help="Dev data seed.")
    parser.add_argument("--paths", default="attached,detached", help="Which models: attached, detached or both.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads.")
    parser.add_argument("--out", default=None, help="Write every wrong plan with both log-probabilities as JSON here.")
    args = parser.parse_args(argv)

    import torch
    from tqdm.auto import tqdm

    from shadowpeft_ros.interpreter.compact import parse_compact
    from shadowpeft_ros.interpreter.data import generate
    from shadowpeft_ros.interpreter.engine import AttachedEngine, DetachedEngine
    from shadowpeft_ros.interpreter.interpreter import ensure_detached_export
    from shadowpeft_ros.interpreter.report import plans_equal

    torch.set_num_threads(args.threads)
    commands = [e for e in generate("dev", args.n, args.seed) if e.kind in ("command", "multi")]
    report = {}
    for path in [p.strip() for p in args.paths.split(",") if p.strip()]:
        if path == "attached":
            engine = AttachedEngine.from_adapter(args.adapter)
        elif path == "detached":
            engine = DetachedEngine.from_export(str(ensure_detached_export(args.adapter)))
        else:
            parser.error(f"unknown path {path!r}: use attached and/or detached")
        wrong = []
        for example in tqdm(commands, desc=path):
            target = example.attached if path == "attached" else example.detached
            result = engine.plan(example.text)
            if plans_equal(result.plan, parse_compact(example.attached)):
                continue
            expected_lp = sequence_log_prob(engine.model, engine.tokenizer, example.text, target)
            greedy_lp = sequence_log_prob(engine.model, engine.tokenizer, example.text, result.raw_text)
            wrong.append({"text": example.text, "expected": target, "greedy": result.raw_text,
                          "expected_log_prob": round(expected_lp, 3), "greedy_log_prob": round(greedy_lp, 3),
                          "search_error": expected_lp > greedy_lp, "category": error_category(target, result.raw_text)})
        search = sum(w["search_error"] for w in wrong)
        gaps = [w["greedy_log_prob"] - w["expected_log_prob"] for w in wrong]
        report[path] = {"commands": len(commands), "wrong": len(wrong), "search_errors": search,
                        "model_errors": len(wrong) - search,
                        "median_gap_nats": round(statistics.median(gaps), 2) if gaps else None, "cases": wrong}
        print(f"{path}: {len(wrong)} of {len(commands)} commands wrong; {search} search errors (the expected plan "
              f"is more probable), {len(wrong) - search} model errors; median log p(greedy) - log p(expected) "
              f"{report[path]['median_gap_nats']} nats", flush=True)
        categories = Counter(w["category"] for w in wrong)
        report[path]["categories"] = dict(categories)
        print("  by first difference: " + ", ".join(f"{name} {count}" for name, count in categories.most_common()))
        del engine
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(f"[out] {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
