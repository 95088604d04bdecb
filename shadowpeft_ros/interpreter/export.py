"""Export a trained ShadowPEFT adapter as a standalone detached model, and load it back without the backbone.

Layout of an export directory::

    shadow_export.json       format, architecture, what is tied, parameter count, source adapter
    backbone/                the shadow backbone (config.json + model.safetensors), with its own
                             copy of the embedding table
    head.safetensors         LM head (omitted when tied to the embeddings) and hidden projection
    tokenizer.json ...       the tokenizer

``DetachedShadowModel`` (what ``unload_shadow(copy=True)`` returns) cannot be reloaded with
``from_pretrained`` because its constructor takes modules, so the pieces are stored
separately and reassembled in ``load_detached``.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Optional, Tuple

logger = logging.getLogger("shadowpeft_ros")

EXPORT_FORMAT = "shadowpeft-detached-v1"
META_FILE = "shadow_export.json"
HEAD_FILE = "head.safetensors"
BACKBONE_DIR = "backbone"
DEFAULT_EXPORT_DIR = "out/detached/shadow"
EXPORT_HINT = "shadowpeft export --adapter models/adapters/shadow --out {path}"


def _adapter_backbone(adapter_dir: Path) -> str:
    config_file = adapter_dir / "train_config.json"
    if config_file.is_file():
        return json.loads(config_file.read_text())["backbone"]
    return json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"]


def load_adapter(adapter_dir: str, backbone: Optional[str] = None):
    """Load a backbone with a trained adapter (shadow, lora or dora) for inference; return (model, tokenizer)."""
    from peft import PeftModel

    from .backbone import load_backbone
    from .shadow_cache import enable_exact_shadow_cache

    path = Path(adapter_dir)
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"{path / 'adapter_config.json'} is missing: no trained adapter there. "
            f"Create it with: shadowpeft train --method shadow --out {path} (or scripts/train_adapters.sh)"
        )
    model, tokenizer = load_backbone(backbone or _adapter_backbone(path))
    model = PeftModel.from_pretrained(model, str(path))
    model.eval()
    # Cached ShadowPEFT decoding is exact only with this workaround (see shadow_cache.py); a no-op for LoRA/DoRA.
    enable_exact_shadow_cache(model)
    return model, tokenizer


def export_detached(adapter_dir: str, out_dir: str, backbone: Optional[str] = None, dtype: str = "float32") -> dict:
    """Write the detached shadow of a ShadowPEFT adapter to ``out_dir``; return its metadata."""
    import torch
    from safetensors.torch import save_file

    model, tokenizer = load_adapter(adapter_dir, backbone)
    if not hasattr(model.base_model, "unload_shadow"):
        raise ValueError(f"{adapter_dir} is not a ShadowPEFT adapter; only shadow adapters have a detached model")
    detached = model.base_model.unload_shadow(copy=True)
    torch_dtype = getattr(torch, dtype)
    detached.to(torch_dtype)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    detached.backbone.save_pretrained(out / BACKBONE_DIR)
    embeddings = detached.backbone.get_input_embeddings().weight
    head_weight = detached.head.weight
    # Tied: the LM head of SmolLM2 (and the tiny test models) is the embedding table; store it once.
    tied = head_weight.shape == embeddings.shape and torch.equal(head_weight, embeddings)
    tensors = {}
    if not tied:
        tensors["head.weight"] = head_weight.detach().contiguous()
    if getattr(detached.head, "bias", None) is not None:
        tensors["head.bias"] = detached.head.bias.detach().contiguous()
    projection = detached.shadow_hidden_projection
    has_projection = isinstance(projection, torch.nn.Linear)
    if has_projection:
        tensors["projection.weight"] = projection.weight.detach().contiguous()
    save_file(tensors, str(out / HEAD_FILE))
    tokenizer.save_pretrained(out)

    params = sum(p.numel() for p in detached.backbone.parameters()) + sum(t.numel() for t in tensors.values())
    meta = {
        "format": EXPORT_FORMAT,
        "source_adapter": str(adapter_dir),
        "backbone_class": type(detached.backbone).__name__,
        "hidden_size": int(head_weight.shape[1]),
        "vocab_size": int(head_weight.shape[0]),
        "tied_head": bool(tied),
        "head_bias": "head.bias" in tensors,
        "projection": has_projection,
        "dtype": dtype,
        "parameters": int(params),
        "size_bytes": 0,
    }
    meta["size_bytes"] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _require(path: Path, export_dir: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: {export_dir} is not a complete detached export. "
            f"Create it with: {EXPORT_HINT.format(path=export_dir)}"
        )
    return path


@functools.lru_cache(maxsize=None)
def _last_logits_model_class():
    """Return PEFT's ``DetachedShadowModel`` made to compute logits only where generation reads them.

    PEFT 0.21.2's ``DetachedShadowModel.forward`` drops ``logits_to_keep`` and runs the LM head
    (49,152 x 576 for SmolLM2) over every position. Generation reads the last position only, so
    the prefill of a ten-token prompt paid for ten heads: on 80 dev utterances the median decode
    takes 87.7 ms instead of 112.7 ms, with the same outputs (``benchmarks/bench_detached_decode.py``).
    Training and scoring still get every position: with ``labels``, or without ``logits_to_keep``,
    the parent's forward runs unchanged.
    """
    from peft.tuners.shadow import DetachedShadowModel
    from transformers.modeling_outputs import CausalLMOutputWithPast

    class LastLogitsDetachedShadowModel(DetachedShadowModel):
        def forward(self, input_ids=None, attention_mask=None, labels=None, logits_to_keep=0, **kwargs):
            plain = (labels is not None or not logits_to_keep or self.head is None or self.is_classification
                     or self._shared_input_embeddings[0] is not None)
            if plain:
                return super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
            kwargs.pop("num_logits_to_keep", None)
            kwargs["return_dict"] = True
            out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
            keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
            hidden = self.shadow_hidden_projection(out.last_hidden_state[:, keep, :])
            return CausalLMOutputWithPast(logits=self.head(hidden), past_key_values=getattr(out, "past_key_values", None))

    return LastLogitsDetachedShadowModel


def load_detached(export_dir: str, dtype: str = "float32") -> Tuple["object", "object"]:
    """Load an exported detached shadow model and its tokenizer; needs no backbone weights."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    root = Path(export_dir)
    meta = json.loads(_require(root / META_FILE, root).read_text())
    if meta.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{root / META_FILE} has format {meta.get('format')!r}, expected {EXPORT_FORMAT!r}")
    _require(root / BACKBONE_DIR / "config.json", root)
    _require(root / "tokenizer_config.json", root)
    tensors = load_file(str(_require(root / HEAD_FILE, root)))

    torch_dtype = getattr(torch, dtype)
    backbone = AutoModel.from_pretrained(str(root / BACKBONE_DIR), dtype=torch_dtype)
    head = torch.nn.Linear(meta["hidden_size"], meta["vocab_size"], bias=meta["head_bias"])
    head.weight = backbone.get_input_embeddings().weight if meta["tied_head"] else torch.nn.Parameter(tensors["head.weight"])
    if meta["head_bias"]:
        head.bias = torch.nn.Parameter(tensors["head.bias"])
    projection = None
    if meta["projection"]:
        weight = tensors["projection.weight"]
        projection = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        projection.weight = torch.nn.Parameter(weight)
    model = _last_logits_model_class()(backbone, projection, head.to(torch_dtype))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(root))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
