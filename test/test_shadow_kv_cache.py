"""KV-cached ShadowPEFT decoding against the full forward pass, without and with ``enable_exact_shadow_cache``.

The shadow adapters here have every shadow weight randomised (a fresh adapter's ``shadow_up`` is zero,
which would make the injection, and so the bug, invisible). Reference logits come from one uncached
forward over the whole growing sequence, with position ids from the attention mask (what ``generate``
passes), so left-padded rows are scored exactly as the offload server batches them.
"""

import warnings

import pytest
import torch

from shadowpeft_ros.interpreter.backbone import build_tiny_causal_lm
from shadowpeft_ros.interpreter.data import generate
from shadowpeft_ros.interpreter.prompt import encode_prompt
from shadowpeft_ros.interpreter.shadow_cache import enable_exact_shadow_cache
from shadowpeft_ros.interpreter.testing import tiny_tokenizer

ARCHS = ("qwen3", "llama")
TOL = 1e-4
STEPS = 6
MAX_NEW = 12


def shadow_model(arch: str, fixed: bool):
    """A tiny backbone with a ShadowPEFT adapter whose shadow weights are all random, in eval mode."""
    from peft import ShadowConfig, TaskType, get_peft_model

    tok = tiny_tokenizer(0)
    base = build_tiny_causal_lm(arch, vocab_size=len(tok), seed=0)
    torch.manual_seed(1)
    config = ShadowConfig(task_type=TaskType.CAUSAL_LM, r=8, shadow_alpha=0.5, shadow_dropout=0.05,
                          shadow_num_hidden_layers=1)
    model = get_peft_model(base, config)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "shadow" in name:
                param.add_(torch.randn(param.shape, generator=gen) * 0.2)
    model.eval()
    if fixed:
        assert enable_exact_shadow_cache(model) is True
    return model, tok


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny matrices: with several OpenMP threads on a shared 2-core machine each matmul waits for the others.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def prompts():
    tok = tiny_tokenizer(0)
    return [encode_prompt(tok, ex.text) for ex in generate("dev", 20)]


def left_pad(rows, pad_id):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def positions(mask):
    return (mask.cumsum(-1) - 1).clamp(min=0)


def cached_vs_full(model, ids, mask, cache_kwarg="cache", steps=STEPS):
    """Decode greedily with the KV cache; return max |cached - full forward| of the last logits at each step."""
    diffs = []
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=True)
        for _ in range(steps):
            full = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False)
            diffs.append(float((out.logits[:, -1] - full.logits[:, -1]).abs().max()))
            nxt = full.logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
            mask = torch.cat([mask, torch.ones_like(nxt)], 1)
            # `cache=` is what Transformers 5.x generate passes; `past_key_values=` is the old name.
            out = model(input_ids=nxt, attention_mask=mask, position_ids=positions(mask)[:, -1:], use_cache=True,
                        **{cache_kwarg: out.cache})
    return diffs


def greedy(model, tok, ids, mask, use_cache):
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW, do_sample=False,
                             use_cache=use_cache, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                             output_logits=True, return_dict_in_generate=True)
    return out.sequences, torch.stack(out.logits, 1)


# ------------------------------------------------------------------------------------------------ the bug


@pytest.mark.parametrize("arch", ARCHS)
def test_unfixed_cache_departs_from_full_forward(arch, prompts):
    """Documents the PEFT 0.21.2 + Transformers 5.x bug. If this fails, PEFT (or Transformers) changed:
    check whether ``enable_exact_shadow_cache`` is still needed (see shadowpeft_ros/interpreter/shadow_cache.py)."""
    model, tok = shadow_model(arch, fixed=False)
    ids, mask = left_pad(prompts[:1], tok.pad_token_id)
    diffs = cached_vs_full(model, ids, mask, cache_kwarg="cache")
    assert diffs[0] < TOL, "the prefill step is exact even without the fix"
    assert min(diffs[1:]) > 0.05, f"cached shadow decoding no longer departs from the full forward: {diffs}"
    # The old keyword still reaches PEFT's seed hook, which is why a hand-written loop looked fine.
    assert max(cached_vs_full(model, ids, mask, cache_kwarg="past_key_values")) < TOL
    ids, mask = left_pad(prompts[:6], tok.pad_token_id)
    cached, _ = greedy(model, tok, ids, mask, use_cache=True)
    uncached, _ = greedy(model, tok, ids, mask, use_cache=False)
    assert not torch.equal(cached, uncached)


# ------------------------------------------------------------------------------------------------ the fix


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("rows", [1, 6], ids=["single", "left-padded"])
@pytest.mark.parametrize("cache_kwarg", ["cache", "past_key_values"])
def test_fixed_cache_logits_match_full_forward(arch, rows, cache_kwarg, prompts):
    model, tok = shadow_model(arch, fixed=True)
    ids, mask = left_pad(prompts[:rows], tok.pad_token_id)
    if rows > 1:
        assert (mask == 0).any(), "the batch must really be left-padded"
    diffs = cached_vs_full(model, ids, mask, cache_kwarg=cache_kwarg)
    assert max(diffs) < TOL, diffs


@pytest.mark.parametrize("arch", ARCHS)
def test_fixed_greedy_generate_identical_on_dev(arch, prompts):
    """20 dev commands, each alone and all in one left-padded batch: cached and uncached generate agree."""
    model, tok = shadow_model(arch, fixed=True)
    for rows in [[p] for p in prompts] + [prompts]:
        ids, mask = left_pad(rows, tok.pad_token_id)
        cached, cached_logits = greedy(model, tok, ids, mask, use_cache=True)
        uncached, uncached_logits = greedy(model, tok, ids, mask, use_cache=False)
        assert torch.equal(cached, uncached)
        assert float((cached_logits - uncached_logits).abs().max()) < TOL


# ------------------------------------------------------------------------------------------------ the API


def test_enable_is_idempotent_and_survives_hook_rebinding(prompts):
    model, tok = shadow_model("qwen3", fixed=True)
    assert enable_exact_shadow_cache(model) is True
    # PEFT re-registers its boundary hooks when adapters are added or deleted; the wrapper must stay in place.
    model.base_model._register_boundary_hooks()
    ids, mask = left_pad(prompts[:3], tok.pad_token_id)
    assert max(cached_vs_full(model, ids, mask, steps=3)) < TOL


def test_non_shadow_models_are_left_alone():
    from peft import LoraConfig, TaskType, get_peft_model

    tok = tiny_tokenizer(0)
    base = build_tiny_causal_lm("llama", vocab_size=len(tok), seed=0)
    assert enable_exact_shadow_cache(base) is False
    lora = get_peft_model(base, LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, target_modules=["q_proj"]))
    assert enable_exact_shadow_cache(lora) is False


def test_guards(monkeypatch):
    import peft

    model, _ = shadow_model("llama", fixed=False)
    monkeypatch.setattr(peft, "__version__", "9.9.9")
    with pytest.warns(RuntimeWarning, match="verified with peft 0.21.2"):
        assert enable_exact_shadow_cache(model) is True

    import transformers

    model, _ = shadow_model("llama", fixed=False)
    monkeypatch.setattr(transformers, "__version__", "5.40.0")
    with pytest.warns(RuntimeWarning, match="past_key_values"):
        assert enable_exact_shadow_cache(model) is True

    model, _ = shadow_model("llama", fixed=False)
    monkeypatch.setattr(type(model.base_model), "_pack_shadow_cache_hook", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(RuntimeError, match="lacks"):
            enable_exact_shadow_cache(model)


@pytest.mark.slow
def test_trained_adapter_loaded_like_the_engines(tmp_path, prompts):
    """A briefly trained adapter, saved and reloaded with ``load_adapter`` (what both engines call), which fixes it."""
    from shadowpeft_ros.interpreter.export import load_adapter
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
    from shadowpeft_ros.interpreter.train import train

    backbone = save_tiny_backbone(tmp_path / "backbone", "qwen3")
    out = tmp_path / "adapter"
    train(tiny_train_config("shadow", backbone, out, steps=4, n_dev=4), progress=False)
    model, tok = load_adapter(str(out))
    ids, mask = left_pad(prompts, tok.pad_token_id)
    # load_adapter applied the fix already; applying it again is harmless.
    assert max(cached_vs_full(model, ids, mask)) < TOL
    assert enable_exact_shadow_cache(model) is True
    assert max(cached_vs_full(model, ids, mask)) < TOL
    for rows in (prompts[:1], prompts):
        ids, mask = left_pad(rows, tok.pad_token_id)
        assert torch.equal(greedy(model, tok, ids, mask, True)[0], greedy(model, tok, ids, mask, False)[0])
