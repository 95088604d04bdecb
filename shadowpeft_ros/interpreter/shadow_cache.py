"""Make PEFT 0.21.2's ShadowPEFT KV-cache decoding exact under Transformers 5.x: ``enable_exact_shadow_cache``.

Root cause
----------
Transformers 5.x renamed the decoder's cache keyword from ``past_key_values`` to ``cache``
(``GenerationMixin.prepare_inputs_for_generation`` is ``@deprecate_kwarg("past_key_values",
new_name="cache")`` and feeds the model ``cache=...``; ``_update_model_kwargs_for_generation``
reads ``outputs["cache"]`` back). PEFT 0.21.2's shadow tuner only looks for the old name:
``ShadowModel._seed_shadow_pre_hook`` in ``peft/tuners/shadow/model.py`` does
``past = kwargs.get("past_key_values")`` to split the ``ShadowCache`` (``peft/tuners/shadow/layers.py``)
into the base cache and the shadow backbone's cache. Under ``generate(use_cache=True)``:

- prefill: ``cache=DynamicCache()`` (empty) reaches the hook as "no past"; the shadow backbone runs
  over the whole prompt and builds its own cache, and the output is packed into a ``ShadowCache``.
  The first token is right.
- every later step: ``cache=ShadowCache(...)`` is not seen by the hook, so it is not unpacked. The
  base model consumes the whole ``ShadowCache`` (it delegates ``update``/``get_seq_length`` to its base
  half, so the base path stays correct), but the shadow backbone is called with
  ``past_key_values=None``: the new token's initial shadow state s^(0) is computed from that token
  alone, without the prompt. Every injected layer then sees a wrong shadow state. The ``ShadowCache``
  also nests one level deeper per step (``ShadowCache(base=ShadowCache(...))``).

Measured on tiny Qwen3/Llama backbones with a randomised shadow adapter: a manual decode loop that
passes ``past_key_values=`` matches the full forward to 1e-6, the same loop with ``cache=`` departs by
0.57-0.92 in the logits from the second token on, and the bare backbone is exact either way.

Fix
---
The right fix is in PEFT (read ``kwargs.get("cache", kwargs.get("past_key_values"))`` in
``_seed_shadow_pre_hook``). Here, without editing site-packages, ``enable_exact_shadow_cache`` wraps
that one hook: it hands the hook the cache under the old name and gives the rewritten (unpacked)
base cache back to the model under the new one. It is idempotent and survives PEFT re-registering
its hooks (adding or deleting an adapter), because ``_register_boundary_hooks`` looks the hook up on
the tuner each time. Call it once after loading the adapter, before ``generate``.
"""

from __future__ import annotations

import functools
import warnings

# PEFT releases whose shadow tuner internals this module was checked against.
VERIFIED_PEFT = ("0.21.2",)
# PEFT 0.21.2 calls the shadow backbone with `past_key_values=`; Transformers 5.x decoders accept that name only
# until this release (`@deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")`).
TRANSFORMERS_DROPS_OLD_NAME = (5, 40)
_MARK = "_shadowpeft_ros_exact_cache"
_OLD, _NEW = "past_key_values", "cache"


def _shadow_tuner(model):
    """Return the ShadowPEFT tuner (``peft.tuners.shadow.ShadowModel``) of a PeftModel or the tuner itself, or None."""
    try:
        from peft.tuners.shadow import ShadowModel
    except ImportError:  # a PEFT without ShadowPEFT
        return None
    for candidate in (model, getattr(model, "base_model", None)):
        if isinstance(candidate, ShadowModel):
            return candidate
    return None


def _check_internals(tuner) -> None:
    """Raise if the PEFT / Transformers internals the workaround relies on are missing; warn on an unverified PEFT."""
    import peft
    from transformers.utils.generic import ModelOutput

    missing = [name for name in ("_seed_shadow_pre_hook", "_register_boundary_hooks", "_pack_shadow_cache_hook")
               if not callable(getattr(tuner, name, None))]
    if missing:
        raise RuntimeError(
            f"enable_exact_shadow_cache: peft {peft.__version__}'s ShadowModel lacks {missing}; the workaround in "
            "shadowpeft_ros/interpreter/shadow_cache.py was written for peft 0.21.2. Check whether this PEFT reads "
            "the `cache` keyword in its seed hook; if so drop the workaround, otherwise decode with use_cache=False."
        )
    # PEFT's pack hook and _compute_initial_shadow_state read and write `output.past_key_values`; Transformers 5.x
    # keeps that name working only through a ModelOutput property. Without it the shadow cache would be lost.
    if not isinstance(getattr(ModelOutput, _OLD, None), property):
        raise RuntimeError(
            "enable_exact_shadow_cache: this Transformers' ModelOutput no longer maps `past_key_values` to `cache`, "
            "which PEFT 0.21.2's shadow tuner needs to pack its ShadowCache; decode with use_cache=False."
        )
    import transformers

    release = tuple(int(part) for part in transformers.__version__.split(".")[:2] if part.isdigit())
    if release >= TRANSFORMERS_DROPS_OLD_NAME:
        warnings.warn(
            f"transformers {transformers.__version__} may no longer accept `past_key_values=`, which peft "
            f"{peft.__version__} passes to the shadow backbone; run test/test_shadow_kv_cache.py before trusting "
            "cached shadow decoding.",
            RuntimeWarning,
            stacklevel=3,
        )
    if peft.__version__ not in VERIFIED_PEFT:
        warnings.warn(
            f"enable_exact_shadow_cache was verified with peft {', '.join(VERIFIED_PEFT)}, not {peft.__version__}; "
            "run test/test_shadow_kv_cache.py to confirm cached and uncached decoding still agree.",
            RuntimeWarning,
            stacklevel=3,
        )


def enable_exact_shadow_cache(model) -> bool:
    """Make KV-cached decoding of a ShadowPEFT model match its full forward pass; return True if it patched.

    ``model`` is a ``PeftModel`` (or its ``ShadowModel`` tuner). Models without a ShadowPEFT adapter
    (LoRA, DoRA, a bare backbone) are left alone and ``False`` is returned, so it is safe to call on
    any loaded model. Calling it twice is harmless. Raises ``RuntimeError`` if the PEFT internals it
    wraps are gone. See the module docstring for the root cause.
    """
    tuner = _shadow_tuner(model)
    if tuner is None:
        return False
    if getattr(tuner, _MARK, False):
        return True
    _check_internals(tuner)
    original = tuner._seed_shadow_pre_hook  # bound method

    @functools.wraps(original)
    def seed_shadow_pre_hook(module, args, kwargs):
        # Only translate when the caller used the new name alone (generate does); old-style calls pass through.
        renamed = _NEW in kwargs and _OLD not in kwargs
        if renamed:
            kwargs = dict(kwargs)
            kwargs[_OLD] = kwargs.pop(_NEW)
        result = original(module, args, kwargs)
        if not renamed:
            return result
        new_args, new_kwargs = result if result is not None else (args, kwargs)
        new_kwargs = dict(new_kwargs)
        # The hook replaced a ShadowCache by its base half; hand that back under the name the model reads.
        new_kwargs[_NEW] = new_kwargs.pop(_OLD)
        return new_args, new_kwargs

    # An instance attribute shadows the method; re-registering puts the wrapper in place of the original hook.
    tuner._seed_shadow_pre_hook = seed_shadow_pre_hook
    tuner._register_boundary_hooks()
    setattr(tuner, _MARK, True)
    return True
