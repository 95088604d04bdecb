"""Adapter soups: the weighted mean of adapters fine-tuned from one start (Wortsman et al., 2022, "Model soups").

Two runs that trained on from the same adapter stay close in weight space, and their mean often
reads new phrasings better than either (measured here: generation 8 with generation 12,
``models/adapters/README.md``). PEFT's ``add_weighted_adapter`` combines LoRA adapters only, so
the mean is taken here, tensor by tensor, over any PEFT adapter saved as safetensors.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
TRAIN_CONFIG_FILE = "train_config.json"
# Copied from the first ingredient: the backbone name and the settings the adapter was made with.
CARRIED_FILES = (TRAIN_CONFIG_FILE,)
# Written for the soup: the trainable-parameter count that reports and the evaluation read, as training writes it.
METRICS_FILE = "metrics.json"
SOUP_FILE = "soup.json"


# PEFT config fields that only weigh a training loss: two runs that differ in them hold the same kind of adapter,
# and the soup keeps the first ingredient's value (it decodes the same whatever the value).
TRAINING_ONLY_KEYS = frozenset({"auxiliary_loss_weight"})


def _comparable(config: dict) -> dict:
    """Return a config with its string lists sorted (PEFT writes target modules in set order, which varies) and
    without its training-only fields."""
    return {key: sorted(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
            for key, value in config.items() if key not in TRAINING_ONLY_KEYS}


def parse_ingredient(spec: str) -> tuple:
    """Parse ``DIR`` or ``DIR@WEIGHT`` into (directory, weight)."""
    path, sep, weight = spec.rpartition("@")
    if not sep:
        return spec, 1.0
    try:
        value = float(weight)
    except ValueError:
        raise ValueError(f"{spec!r}: the weight after '@' must be a number") from None
    if not value > 0:
        raise ValueError(f"{spec!r}: the weight must be positive")
    return path, value


def average_adapters(paths: Sequence[str], out: str, weights: Optional[Sequence[float]] = None) -> Dict:
    """Write the weighted mean of the adapters in ``paths`` to ``out``; return what was mixed (also in soup.json).

    Every adapter must have the same PEFT config (up to the order of its module lists) and the same
    tensors. The mean is taken in float32 and saved in the first adapter's dtype.
    """
    import torch
    from safetensors.torch import load_file, save_file

    if len(paths) < 2:
        raise ValueError("a soup needs at least two adapters")
    weights = list(weights) if weights is not None else [1.0] * len(paths)
    if len(weights) != len(paths) or any(not w > 0 for w in weights):
        raise ValueError("give one positive weight per adapter")
    total = sum(weights)
    weights = [w / total for w in weights]
    dirs = [Path(p) for p in paths]
    for directory in dirs:
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory / name} not found: is {directory} a saved PEFT adapter?")
    config = _comparable(json.loads((dirs[0] / CONFIG_FILE).read_text()))
    for directory in dirs[1:]:
        other = _comparable(json.loads((directory / CONFIG_FILE).read_text()))
        if other != config:
            differ = sorted(k for k in set(config) | set(other) if config.get(k) != other.get(k))
            raise ValueError(f"{directory} is not the same kind of adapter as {dirs[0]}: {', '.join(differ)} differ")

    mean: Dict[str, "torch.Tensor"] = {}
    dtypes: Dict[str, "torch.dtype"] = {}
    for directory, weight in zip(dirs, weights):
        tensors = load_file(str(directory / WEIGHTS_FILE))
        if not mean:
            dtypes = {k: v.dtype for k, v in tensors.items()}
            mean = {k: v.float() * weight for k, v in tensors.items()}
            continue
        if tensors.keys() != mean.keys():
            missing = sorted(set(mean) ^ set(tensors))[:3]
            raise ValueError(f"{directory} holds other tensors than {dirs[0]} (for example {missing})")
        for key, value in tensors.items():
            if value.shape != mean[key].shape:
                raise ValueError(f"{directory}: {key} has shape {tuple(value.shape)}, "
                                 f"{dirs[0]} has {tuple(mean[key].shape)}")
            mean[key] += value.float() * weight

    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(dtypes[k]).contiguous() for k, v in mean.items()}, str(target / WEIGHTS_FILE))
    shutil.copyfile(dirs[0] / CONFIG_FILE, target / CONFIG_FILE)
    for name in CARRIED_FILES:
        if (dirs[0] / name).is_file():
            shutil.copyfile(dirs[0] / name, target / name)
    ingredients: List[Dict] = []
    for directory, weight in zip(dirs, weights):
        ingredient = {"adapter": str(directory), "weight": round(weight, 6),
                      "sha256": hashlib.sha256((directory / WEIGHTS_FILE).read_bytes()).hexdigest()}
        # Each ingredient's own training settings, so the soup's lineage survives its ingredients' folders.
        if (directory / TRAIN_CONFIG_FILE).is_file():
            ingredient["train_config"] = json.loads((directory / TRAIN_CONFIG_FILE).read_text())
        ingredients.append(ingredient)
    # A PEFT adapter file holds exactly the trainable tensors, so their size is the trainable count.
    trainable = sum(v.numel() for v in mean.values())
    meta = {"soup": ingredients, "tensors": len(mean), "trainable_params": trainable,
            "sha256": hashlib.sha256((target / WEIGHTS_FILE).read_bytes()).hexdigest()}
    (target / SOUP_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    metrics = {"method": ingredients[0].get("train_config", {}).get("method"), "trainable_params": trainable,
               "soup_of": [str(d) for d in dirs]}
    (target / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return meta
