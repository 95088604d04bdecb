"""Tiny backbones on disk for tests and smoke runs: built from a config in seconds, no hub, no downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

from .backbone import build_tiny_causal_lm, build_tiny_tokenizer
from .data import generate
from .prompt import format_prompt

_TOKENIZERS: Dict[int, object] = {}


def tiny_tokenizer(seed: int = 0):
    """Return a byte-level BPE tokenizer trained on generated utterances and targets (cached per seed)."""
    if seed not in _TOKENIZERS:
        corpus = []
        for example in generate("train", 600, seed) + generate("dev", 200, seed):
            corpus.append(format_prompt(example.text) + " " + example.attached)
            corpus.append(example.detached)
        _TOKENIZERS[seed] = build_tiny_tokenizer(corpus, vocab_size=400)
    return _TOKENIZERS[seed]


def save_tiny_backbone(directory: Path, arch: str = "qwen3", seed: int = 0) -> Path:
    """Write a tiny random causal LM and its tokenizer to ``directory``, loadable by ``load_backbone``."""
    tokenizer = tiny_tokenizer(seed)
    model = build_tiny_causal_lm(arch, vocab_size=len(tokenizer), seed=seed)
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def tiny_train_config(method: str, backbone: Path, out_dir: Path, steps: int = 20, **overrides):
    """Return a TrainConfig sized for a tiny backbone (a few seconds on 2 cores)."""
    from .config import TrainConfig

    settings = dict(method=method, backbone=str(backbone), out_dir=str(out_dir), run_dir=str(Path(out_dir).with_name(Path(out_dir).name + "-runs")),
                    steps=steps, batch_size=8, learning_rate=3e-3, n_dev=16, save_every=0, log_every=1,
                    lora_r=8, lora_alpha=16, warmup_ratio=0.0)
    settings.update(overrides)
    return TrainConfig(**settings)
