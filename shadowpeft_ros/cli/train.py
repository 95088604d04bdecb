"""``shadowpeft train``: train a ShadowPEFT, LoRA or DoRA adapter for the command interpreter."""

from __future__ import annotations

import argparse
import dataclasses
import json

from . import CliError, HelpFormatter

EPILOG = """\
examples:
  shadowpeft train --method shadow --out models/adapters/shadow --steps 150
  shadowpeft train --method lora --out models/adapters/lora --resume
  shadowpeft train --count-params            # trainable parameters of all three methods
"""


def register(subparsers) -> None:
    from ..interpreter.config import METHODS, SCHEDULES, STAGES, TrainConfig
    from ..interpreter.data import TRAINING_SPLITS

    defaults = TrainConfig()
    helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(TrainConfig)}
    parser = subparsers.add_parser(
        "train", help="Train an interpreter adapter (shadow, lora or dora).", description=__doc__,
        formatter_class=HelpFormatter, epilog=EPILOG,
    )
    parser.add_argument("--method", choices=METHODS, default=defaults.method, help=helps["method"])
    parser.add_argument("--backbone", default=defaults.backbone, help=helps["backbone"])
    parser.add_argument("--out", dest="out_dir", default=None, help="Output directory (default: models/adapters/METHOD).")
    parser.add_argument("--run-dir", default=None, help=helps["run_dir"])
    parser.add_argument("--steps", type=int, default=defaults.steps, help=helps["steps"])
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=helps["batch_size"])
    parser.add_argument("--lr", dest="learning_rate", type=float, default=None, help=helps["learning_rate"])
    parser.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio, help=helps["warmup_ratio"])
    parser.add_argument("--schedule", choices=SCHEDULES, default=defaults.schedule, help=helps["schedule"])
    parser.add_argument("--seed", type=int, default=defaults.seed, help=helps["seed"])
    parser.add_argument("--n-train", type=int, default=None, help=helps["n_train"])
    parser.add_argument("--n-dev", type=int, default=defaults.n_dev, help=helps["n_dev"])
    parser.add_argument("--save-every", type=int, default=defaults.save_every, help=helps["save_every"])
    parser.add_argument("--resume", action="store_true", help=helps["resume"])
    parser.add_argument("--save-dtype", choices=("float32", "float16"), default=defaults.save_dtype,
                        help=helps["save_dtype"])
    parser.add_argument("--init-adapter", default=None, help=helps["init_adapter"])
    parser.add_argument("--stage", choices=STAGES, default=defaults.stage, help=helps["stage"])
    parser.add_argument("--asr-cache", default=None, help=helps["asr_cache"])
    parser.add_argument("--kind-weights", type=_weights, default=None, metavar="C,M,O,R", help=helps["kind_weights"])
    parser.add_argument("--step-weights", type=_weights, default=None, metavar="W2,W3,W4", help=helps["step_weights"])
    parser.add_argument("--phrasings", choices=TRAINING_SPLITS, default=defaults.phrasings, help=helps["phrasings"])
    parser.add_argument("--shadow-r", type=int, default=defaults.shadow_r, help=helps["shadow_r"])
    parser.add_argument("--shadow-layers", type=int, default=defaults.shadow_layers, help=helps["shadow_layers"])
    parser.add_argument("--shadow-update-hidden", type=int, default=defaults.shadow_update_hidden,
                        help=helps["shadow_update_hidden"])
    parser.add_argument("--shadow-aux-weight", type=float, default=defaults.shadow_aux_weight,
                        help=helps["shadow_aux_weight"])
    parser.add_argument("--shadow-injection-lr-scale", type=float, default=defaults.shadow_injection_lr_scale,
                        help=helps["shadow_injection_lr_scale"])
    parser.add_argument("--lora-r", type=int, default=defaults.lora_r, help=helps["lora_r"])
    parser.add_argument("--lora-alpha", type=int, default=defaults.lora_alpha, help=helps["lora_alpha"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
    parser.add_argument("--count-params", action="store_true",
                        help="Print the trainable parameters of shadow, lora and dora on the backbone, then exit.")
    parser.add_argument("--dev-loss-of", metavar="ADAPTER_DIR", default=None,
                        help="Print the teacher-forced dev losses of a trained adapter (all, and by kind of example) "
                             "on the dev sample every training run reports (--n-dev examples), then exit: losses of "
                             "two adapters compare only on the same examples.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    parser.set_defaults(func=run)


def _weights(text: str):
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _config_from_args(args, method=None):
    from ..interpreter.config import TrainConfig

    method = method or args.method
    return TrainConfig(
        method=method, backbone=args.backbone, out_dir=args.out_dir or f"models/adapters/{method}",
        run_dir=args.run_dir, steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio, schedule=args.schedule, seed=args.seed, n_train=args.n_train,
        n_dev=args.n_dev, save_every=args.save_every, resume=args.resume, save_dtype=args.save_dtype,
        init_adapter=args.init_adapter.replace("{method}", method) if args.init_adapter else None,
        shadow_r=args.shadow_r, stage=args.stage, asr_cache=args.asr_cache, kind_weights=args.kind_weights,
        step_weights=args.step_weights, phrasings=args.phrasings,
        shadow_layers=args.shadow_layers, shadow_update_hidden=args.shadow_update_hidden,
        shadow_aux_weight=args.shadow_aux_weight,
        shadow_injection_lr_scale=args.shadow_injection_lr_scale, lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
    )


def _print_dev_losses(adapter_dir: str, n_dev: int) -> int:
    from ..interpreter.data import generate
    from ..interpreter.export import load_adapter
    from ..interpreter.train import DEV_LOSS_SEED, detached_view, dev_losses

    try:
        model, tokenizer = load_adapter(adapter_dir)
    except (OSError, FileNotFoundError) as exc:
        raise CliError(f"cannot load adapter {adapter_dir!r}: {exc}") from None
    losses = dev_losses(model, detached_view(model), generate("dev", n_dev, DEV_LOSS_SEED), tokenizer)
    print(json.dumps({"adapter": adapter_dir, "n_dev": n_dev, "dev_seed": DEV_LOSS_SEED, **losses}, indent=2))
    return 0


def run(args) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from ..interpreter.backbone import load_backbone
    from ..interpreter.config import METHODS
    from ..interpreter.train import attach_adapter, count_parameters, train

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dev_loss_of:
        return _print_dev_losses(args.dev_loss_of, args.n_dev)
    try:
        configs = {m: _config_from_args(args, m) for m in (METHODS if args.count_params else (args.method,))}
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        model, tokenizer = load_backbone(args.backbone)
    except (OSError, FileNotFoundError) as exc:
        raise CliError(f"cannot load backbone {args.backbone!r}: {exc}") from None

    if args.count_params:
        counts = {}
        for method, config in configs.items():
            fresh, _ = load_backbone(args.backbone)
            counts[method] = count_parameters(attach_adapter(fresh, config))["trainable"]
        low = min(counts.values())
        for method, n in counts.items():
            print(f"{method:7s} trainable parameters: {n:,} ({n / low - 1:+.1%} vs smallest)")
        return 0

    config = configs[args.method]
    print(f"training {config.method} on {config.backbone}: {config.steps} steps x {config.batch_size}, "
          f"lr {config.learning_rate:g}, out {config.out_dir}")
    metrics = train(config, model, tokenizer, progress=not args.no_progress)
    summary = {k: v for k, v in metrics.items() if k != "history"}
    print(json.dumps(summary, indent=2))
    return 0
