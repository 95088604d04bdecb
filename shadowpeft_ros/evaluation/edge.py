"""Train the ``edge-lora`` baseline: the backbone cut to the detached shadow's depth, adapted with LoRA.

The detached shadow runs on board with the backbone's embeddings and LM head plus its own
``shadow_num_hidden_layers`` decoder layers. The edge baseline gets the same budget: the
backbone's embeddings, head and *first* that many decoder layers, with LoRA on every linear
projection of those layers (rank sized to the shadow's trainable parameters, capped at 128).
It trains on the same generated data, steps, batch size and seed as the adapters in
``models/adapters/``, with the attached targets (an on-board model that answers everything itself).

    PYTHONPATH=. .venv/bin/python -m shadowpeft_ros.evaluation.edge --out models/adapters/edge-lora --steps 150
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Optional

from .engines import EDGE_CONFIG_FILE, truncate_backbone

logger = logging.getLogger("shadowpeft_ros")

LINEAR_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MAX_RANK = 128


def lora_params_per_rank(model, targets=LINEAR_TARGETS) -> int:
    """Return how many LoRA parameters one unit of rank adds on the target projections of ``model``."""
    import torch

    total = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] in targets:
            total += module.in_features + module.out_features
    return total


def shadow_budget(shadow_adapter: str) -> dict:
    """Return the shadow adapter's depth and trainable parameters (from its training record), where known."""
    root = Path(shadow_adapter)
    out = {"layers": 1, "trainable": None}
    config = root / "train_config.json"
    if config.is_file():
        out["layers"] = int(json.loads(config.read_text()).get("shadow_layers", 1))
    metrics = root / "metrics.json"
    if metrics.is_file():
        out["trainable"] = json.loads(metrics.read_text()).get("trainable_params")
    return out


def train_edge_lora(out_dir: str, backbone: str = "smollm2-135m", layers: Optional[int] = None,
                    rank: Optional[int] = None, steps: int = 150, seed: int = 0, batch_size: int = 8,
                    shadow_adapter: str = "models/adapters/shadow", model=None, tokenizer=None,
                    train_examples=None, dev_examples=None, progress: bool = True, **train_options) -> dict:
    """Train the edge-lora model into ``out_dir`` (LoRA adapter + edge_config.json) and return its metrics.

    ``train_options`` are further ``TrainConfig`` fields (learning_rate, warmup_ratio, asr_cache, save_every,
    resume, save_dtype, run_dir, ...), so the edge baseline can be trained on exactly the data, steps and
    schedule of the other adapters.
    """
    from ..interpreter.backbone import load_backbone
    from ..interpreter.config import TrainConfig
    from ..interpreter.train import train

    budget = shadow_budget(shadow_adapter)
    layers = layers or budget["layers"]
    if model is None or tokenizer is None:
        model, tokenizer = load_backbone(backbone)
    model = truncate_backbone(model, layers)
    per_rank = lora_params_per_rank(model)
    if rank is None:
        rank = MAX_RANK if not budget["trainable"] else max(1, min(MAX_RANK, round(budget["trainable"] / per_rank)))
    options = {"run_dir": str(Path("runs") / "edge-lora"), "save_every": 0, **train_options}
    config = TrainConfig(method="lora", backbone=backbone, out_dir=out_dir, steps=steps, batch_size=batch_size,
                         seed=seed, lora_r=rank, lora_alpha=2 * rank, lora_targets=list(LINEAR_TARGETS), **options)
    metrics = train(config, model=model, tokenizer=tokenizer, train_examples=train_examples,
                    dev_examples=dev_examples, progress=progress)
    meta = {"backbone": backbone, "layers": layers, "rank": rank, "targets": list(LINEAR_TARGETS),
            "lora_params_per_rank": per_rank, "shadow_trainable_params": budget["trainable"],
            "trainable_params": metrics["trainable_params"], "total_params": metrics["total_params"]}
    (Path(out_dir) / EDGE_CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return {**metrics, "edge": meta}


def main(argv=None) -> int:
    from ..interpreter.config import SCHEDULES, TrainConfig

    defaults = TrainConfig()
    helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(TrainConfig)}
    parser = argparse.ArgumentParser(prog="python -m shadowpeft_ros.evaluation.edge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="models/adapters/edge-lora", help="Output directory.")
    parser.add_argument("--backbone", default="smollm2-135m", help="Backbone to truncate.")
    parser.add_argument("--shadow-adapter", default="models/adapters/shadow",
                        help="Shadow adapter whose depth and trainable size the edge model matches.")
    parser.add_argument("--layers", type=int, default=None, help="Decoder layers kept (default: the shadow's depth).")
    parser.add_argument("--rank", type=int, default=None, help="LoRA rank (default: matched to the shadow, <= 128).")
    parser.add_argument("--steps", type=int, default=150, help="Optimizer steps.")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=helps["batch_size"])
    parser.add_argument("--lr", dest="learning_rate", type=float, default=None, help=helps["learning_rate"])
    parser.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio, help=helps["warmup_ratio"])
    parser.add_argument("--schedule", choices=SCHEDULES, default=defaults.schedule, help=helps["schedule"])
    parser.add_argument("--seed", type=int, default=0, help="Seed.")
    parser.add_argument("--asr-cache", default=None, help=helps["asr_cache"])
    parser.add_argument("--run-dir", default=str(Path("runs") / "edge-lora"), help=helps["run_dir"])
    parser.add_argument("--save-every", type=int, default=0, help=helps["save_every"])
    parser.add_argument("--resume", action="store_true", help=helps["resume"])
    parser.add_argument("--save-dtype", choices=("float32", "float16"), default=defaults.save_dtype,
                        help=helps["save_dtype"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    metrics = train_edge_lora(args.out, args.backbone, args.layers, args.rank, args.steps, args.seed,
                              batch_size=args.batch_size, shadow_adapter=args.shadow_adapter,
                              progress=not args.no_progress, learning_rate=args.learning_rate,
                              warmup_ratio=args.warmup_ratio, schedule=args.schedule, asr_cache=args.asr_cache,
                              run_dir=args.run_dir, save_every=args.save_every, resume=args.resume,
                              save_dtype=args.save_dtype)
    edge = metrics["edge"]
    print(f"edge-lora: {edge['layers']} layer(s), LoRA r={edge['rank']} on {len(edge['targets'])} projections, "
          f"{edge['trainable_params']} trainable of {edge['total_params']}; final loss {metrics['final_loss']:.3f}, "
          f"dev loss {metrics.get('dev_loss_attached', float('nan')):.3f}, {metrics['train_seconds']:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
