"""The models behind each configuration, and the offload server they are reached through.

Everything here builds on the interpreter's ``PlanEngine`` interface (``plan(text, command_id)
-> EngineResult``) and the offload part's server, so the evaluation runs the code the robot
runs. These pieces are the evaluation's own:

- ``FewShotEngine``: the bare backbone prompted with worked examples (the ``base-prompted``
  baseline; no adapter, so it must be shown the compact plan form).
- ``truncate_backbone``: the ``edge-lora`` model, the backbone cut to the shadow's depth so it
  has the detached shadow's parameter and latency budget.
- ``few_shot_engine``: the factory ``shadowpeft serve --engine`` loads to serve that baseline.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path
from typing import Optional, Sequence

from ..interpreter.decoding import MAX_NEW_TOKENS
from ..interpreter.engine import CausalLMEngine
from ..interpreter.prompt import format_prompt

logger = logging.getLogger("shadowpeft_ros")

EDGE_CONFIG_FILE = "edge_config.json"

# Worked examples for the base-prompted baseline: one of each action type, a unit conversion,
# a multi-step plan, an answer and a refusal. Written for this prompt, not taken from the cases.
FEW_SHOT_EXAMPLES = (
    ("walk forward two meters", "move forward 2"),
    ("turn right 45 degrees", "turn right 45"),
    ("go back 50 centimeters slowly", "move backward 0.5 0.15"),
    ("sit down", "sit"),
    ("do a dance", "dance"),
    ("wait three seconds then lie down", "wait 3 ; lie_down"),
    ("stop", "stop"),
    ("step to the left three feet and wave", "move left 0.9144 ; wave"),
    ("what is two plus two", "say: Two plus two is four."),
    ("jump off the roof", "say: Sorry, I can't do that safely."),
)


class FewShotEngine(CausalLMEngine):
    """A causal LM without an adapter, shown worked examples of the compact plan form before each utterance."""

    name = "few_shot"
    route = "remote"
    stops_unsure_early = False  # it decodes with its own stop tokens (``generate``)

    def __init__(self, model, tokenizer, examples: Sequence = FEW_SHOT_EXAMPLES, max_new_tokens: int = MAX_NEW_TOKENS):
        super().__init__(model, tokenizer, max_new_tokens=max_new_tokens)
        self.prefix = "".join(f"{format_prompt(text)} {plan}\n" for text, plan in examples)
        # A base model runs on into the next example; the first line break ends its answer.
        self._newline_ids = {i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i])}

    def generate(self, text: str):
        """Return (first generated line, confidence, new tokens, ended) for the utterance after the examples."""
        import math

        import torch

        ids = self.tokenizer(self.prefix + format_prompt(text), add_special_tokens=False)["input_ids"]
        input_ids = torch.tensor([ids], dtype=torch.long)
        newline_ids = self._newline_ids
        stop_ids = sorted(newline_ids | {self.tokenizer.eos_token_id})
        with self._lock, torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                      max_new_tokens=self.max_new_tokens, do_sample=False, eos_token_id=stop_ids,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                                      output_scores=True, return_dict_in_generate=True)
        new = out.sequences[0, input_ids.shape[1]:].tolist()
        log_probs = []
        finished = False
        for step, token in enumerate(new):
            log_probs.append(float(torch.log_softmax(out.scores[step][0].float(), dim=-1)[token]))
            if token in newline_ids or token == self.tokenizer.eos_token_id:
                finished = True
                new = new[:step + 1]
                break
        decoded = self.tokenizer.decode(new, skip_special_tokens=True).split("\n")[0].strip()
        confidence = math.exp(sum(log_probs) / len(log_probs)) if log_probs else 0.0
        return decoded, confidence, len(log_probs), finished


def truncate_backbone(model, layers: int):
    """Return a copy of a decoder-only causal LM keeping only its first ``layers`` decoder layers."""
    import torch

    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    total = len(decoder.layers)
    if not 1 <= layers <= total:
        raise ValueError(f"layers must be 1..{total}, got {layers}")
    cut = copy.deepcopy(model)
    cut_decoder = cut.get_decoder() if hasattr(cut, "get_decoder") else cut.model
    cut_decoder.layers = torch.nn.ModuleList(list(cut_decoder.layers)[:layers])
    cut.config.num_hidden_layers = layers
    if getattr(cut.config, "layer_types", None):
        cut.config.layer_types = list(cut.config.layer_types)[:layers]
    return cut


def load_edge_model(edge_dir: str, backbone: Optional[str] = None):
    """Load the edge-lora model: the truncated backbone named in edge_config.json plus its LoRA adapter."""
    from peft import PeftModel

    from ..interpreter.backbone import load_backbone

    root = Path(edge_dir)
    meta_file = root / EDGE_CONFIG_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"{meta_file} is missing: no edge-lora model there. Train it with: "
                                f"python -m shadowpeft_ros.evaluation.edge --out {root}")
    meta = json.loads(meta_file.read_text())
    model, tokenizer = load_backbone(backbone or meta["backbone"])
    model = truncate_backbone(model, int(meta["layers"]))
    model = PeftModel.from_pretrained(model, str(root))
    model.eval()
    return model, tokenizer


def detached_from_adapter(peft_model):
    """Return a standalone copy of the detached shadow of an in-memory ShadowPEFT model."""
    if not hasattr(peft_model.base_model, "unload_shadow"):
        raise ValueError("not a ShadowPEFT model: only shadow adapters have a detached model")
    detached = peft_model.base_model.unload_shadow(copy=True)
    detached.eval()
    return detached


def parameter_count(model) -> int:
    """Return the number of parameters a model holds (shared tensors counted once)."""
    seen = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def forward_time(model, vocab_size: int, tokens: int = MAX_NEW_TOKENS, repeats: int = 15, seed: int = 0) -> dict:
    """Return the median and spread of one full forward pass over ``tokens`` fixed random tokens (batch 1, no cache).

    Generation time depends on how many tokens a model chooses to emit; a forward pass over the
    same input isolates what each architecture costs per token of work. The default length is the
    generation budget: the work of the longest answer.
    """
    import statistics

    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab_size, (1, tokens), generator=generator)
    mask = torch.ones_like(ids)
    times = []
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask)  # warm-up: first calls allocate
        for _ in range(repeats):
            started = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
            times.append(time.perf_counter() - started)
    return {"median_s": statistics.median(times), "min_s": min(times), "tokens": tokens, "repeats": repeats}


def few_shot_engine(options):
    """``shadowpeft serve --engine shadowpeft_ros.evaluation.engines:few_shot_engine``: the base-prompted baseline."""
    from ..interpreter.backbone import DEFAULT_BACKBONE, load_backbone

    model, tokenizer = load_backbone(options.backbone or DEFAULT_BACKBONE)
    model.eval()
    engine = FewShotEngine(model, tokenizer, max_new_tokens=options.max_new_tokens)
    engine.model_info = {"engine": "few_shot", "backbone": options.backbone or DEFAULT_BACKBONE, "adapter": "none"}
    return engine
