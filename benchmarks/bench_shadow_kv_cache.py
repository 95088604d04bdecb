"""Benchmark: ms per generated token of a ShadowPEFT adapter, uncached vs cached with ``enable_exact_shadow_cache``.

For each backbone, greedy ``generate`` on dev commands is timed with a fixed number of new tokens
(EOS suppressed so every run decodes the same count), one command alone and a left-padded batch:

- uncached: ``use_cache=False``, what the engines do for shadow adapters today;
- cached, unpatched: PEFT 0.21.2 as is (fast, but wrong from the second token on);
- cached, fixed: after ``enable_exact_shadow_cache(model)``.

It also prints whether the fixed cached tokens equal the uncached ones. Without ``--adapter`` the
models are tiny random Qwen3 / Llama backbones with random shadow weights (machinery only, not a useful
model). Figures are medians of ``--repeats`` runs; nothing is asserted.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_shadow_kv_cache.py
    PYTHONPATH=. .venv/bin/python benchmarks/bench_shadow_kv_cache.py --adapter models/adapters/shadow
"""

from __future__ import annotations

import argparse
import statistics
import time


def _tiny(arch: str):
    import torch
    from peft import ShadowConfig, TaskType, get_peft_model

    from shadowpeft_ros.interpreter.backbone import build_tiny_causal_lm
    from shadowpeft_ros.interpreter.testing import tiny_tokenizer

    tok = tiny_tokenizer(0)
    config = ShadowConfig(task_type=TaskType.CAUSAL_LM, r=8, shadow_alpha=0.5, shadow_num_hidden_layers=1)
    model = get_peft_model(build_tiny_causal_lm(arch, vocab_size=len(tok), seed=0), config)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "shadow" in name:
                param.add_(torch.randn(param.shape, generator=gen) * 0.2)
    return model.eval(), tok


def _batch(tok, texts):
    import torch

    from shadowpeft_ros.interpreter.prompt import encode_prompt

    rows = [encode_prompt(tok, t) for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def _time(model, tok, ids, mask, use_cache, new_tokens, repeats):
    import torch

    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                                 min_new_tokens=new_tokens, do_sample=False, use_cache=use_cache,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        times.append(time.perf_counter() - started)
    return statistics.median(times) / new_tokens * 1000.0, out


def main(argv=None) -> None:
    import torch

    from shadowpeft_ros.interpreter.data import generate
    from shadowpeft_ros.interpreter.shadow_cache import enable_exact_shadow_cache

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="", help="a trained ShadowPEFT adapter directory (default: tiny models)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8, help="rows of the left-padded batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.adapter:
        from shadowpeft_ros.interpreter.export import load_adapter

        models = {args.adapter: lambda: load_adapter(args.adapter)}
    else:
        models = {"tiny qwen3 (random)": lambda: _tiny("qwen3"), "tiny llama (random)": lambda: _tiny("llama")}
    texts = [ex.text for ex in generate("dev", args.batch)]
    print(f"ms per generated token, {args.new_tokens} new tokens, median of {args.repeats}, {args.threads} thread(s)")
    print(f"{'model':24} {'rows':>4} {'uncached':>9} {'cached PEFT':>12} {'cached fixed':>13} {'speed-up':>9} "
          f"{'fixed == uncached':>18}")
    for label, load in models.items():
        model, tok = load()
        for rows in (texts[:1], texts):
            ids, mask = _batch(tok, rows)
            uncached, ref = _time(model, tok, ids, mask, False, args.new_tokens, args.repeats)
            broken, _ = _time(model, tok, ids, mask, True, args.new_tokens, args.repeats)
            enable_exact_shadow_cache(model)
            fixed, out = _time(model, tok, ids, mask, True, args.new_tokens, args.repeats)
            # Undo for the next row count, so "cached PEFT" is measured unpatched again.
            del model.base_model._seed_shadow_pre_hook
            model.base_model._shadowpeft_ros_exact_cache = False
            model.base_model._register_boundary_hooks()
            print(f"{label:24} {len(rows):>4} {uncached:9.2f} {broken:12.2f} {fixed:13.2f} {uncached / fixed:8.1f}x "
                  f"{str(torch.equal(out, ref)):>18}")


if __name__ == "__main__":
    main()
