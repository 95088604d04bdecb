"""Seconds per training step on one fixed batch: logits at every position (before) against label positions only.

    .venv/bin/python benchmarks/bench_train_step.py [--batch-size 16] [--repeats 4] [--threads 2]

Every configuration runs the same batch in this one process, interleaved round by round, so the
ratios hold on a shared machine even when the absolute seconds do not. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=4, help="Timed steps per configuration (after one warm-up).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shadow-layers", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from shadowpeft_ros.interpreter.backbone import load_backbone
    from shadowpeft_ros.interpreter.config import TrainConfig
    from shadowpeft_ros.interpreter.data import generate
    from shadowpeft_ros.interpreter.train import (PairDataset, attach_adapter, compute_losses, detached_view,
                                                  make_collate)

    torch.set_num_threads(args.threads)
    examples = generate("train", args.batch_size, seed=0)
    setups = {}
    for method, stage in (("shadow", "detached"), ("shadow", "joint"), ("lora", "joint")):
        model, tokenizer = load_backbone(args.backbone)
        config = TrainConfig(method=method, stage=stage, shadow_layers=args.shadow_layers, out_dir="/tmp/unused")
        peft_model = attach_adapter(model, config).train()
        batch = make_collate(tokenizer.pad_token_id)(PairDataset(examples, tokenizer, 64).rows)
        params = [p for p in peft_model.parameters() if p.requires_grad]
        setups[f"{method} {stage}"] = (peft_model, detached_view(peft_model), batch,
                                       torch.optim.AdamW(params, lr=1e-5), stage)

    times = {(name, full): [] for name in setups for full in (True, False)}
    for round_ in range(args.repeats + 1):
        for (name, full), seconds in times.items():
            model, detached, batch, optimizer, stage = setups[name]
            started = time.perf_counter()
            losses = compute_losses(model, detached, batch, 1.0, stage, all_logits=full)
            losses["loss"].backward()
            optimizer.step()
            optimizer.zero_grad()
            if round_:  # the first round warms up allocators and kernels
                seconds.append(time.perf_counter() - started)
    width = tuple(next(iter(setups.values()))[2]["input_ids"].shape)
    print(f"batch {width[0]} x {width[1]} tokens, {args.threads} threads, median of {args.repeats} steps\n")
    print("| method, stage | all logits s/step | label logits s/step | speed-up |")
    print("|---|---:|---:|---:|")
    for name in setups:
        before, after = statistics.median(times[(name, True)]), statistics.median(times[(name, False)])
        print(f"| {name} | {before:.2f} | {after:.2f} | {before / after:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
