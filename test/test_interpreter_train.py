"""Training, saving, resuming and exporting adapters on tiny Qwen3 and LLaMA backbones built from configs."""

import json
import math
import shutil
from statistics import mean

import pytest
import torch

from shadowpeft_ros.interpreter.export import export_detached, load_adapter, load_detached
from shadowpeft_ros.interpreter.prompt import format_prompt
from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
from shadowpeft_ros.interpreter.train import train


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    root = tmp_path_factory.mktemp("backbones")
    return {arch: save_tiny_backbone(root / arch, arch) for arch in ("qwen3", "llama")}


def _prompt_ids(tokenizer, text="hey dog, walk forward two meters"):
    return torch.tensor([tokenizer(format_prompt(text))["input_ids"]])


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
@pytest.mark.parametrize("method", ["shadow", "lora", "dora"])
def test_training_reduces_loss(backbones, tmp_path, arch, method):
    # Three batches seen four times: the same batches must score better at the end than at the start.
    config = tiny_train_config(method, backbones[arch], tmp_path / "adapter", steps=12, n_train=24)
    metrics = train(config, progress=False)
    losses = [h["loss"] for h in metrics["history"]]
    assert len(losses) == 12
    assert mean(losses[-3:]) < mean(losses[:3])
    assert metrics["trainable_params"] > 0
    saved = json.loads((tmp_path / "adapter" / "metrics.json").read_text())
    assert saved["final_loss"] == pytest.approx(metrics["final_loss"])
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    if method == "shadow":
        assert "dev_loss_detached" in metrics
    # Each kind's loss on its own: the attached model's free-text answers to questions can dominate the mean.
    by_kind = metrics["dev_loss_by_kind"]
    assert set(by_kind) <= {"command", "multi", "out_of_scope", "refusal"} and len(by_kind) >= 2
    assert sum(k["examples"] for k in by_kind.values()) == config.n_dev
    assert all(math.isfinite(k["attached"]) for k in by_kind.values())
    assert ("detached" in next(iter(by_kind.values()))) == (method == "shadow")


@pytest.mark.parametrize("method", ["shadow", "dora"])
def test_saved_adapter_reloads_to_identical_outputs(backbones, tmp_path, method):
    config = tiny_train_config(method, backbones["qwen3"], tmp_path / "adapter", steps=4)
    _, model = train(config, progress=False, return_model=True)
    reloaded, tokenizer = load_adapter(str(tmp_path / "adapter"))
    ids = _prompt_ids(tokenizer)
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, reloaded(input_ids=ids).logits, atol=1e-6)


def test_resume_continues_to_the_same_weights(backbones, tmp_path):
    from safetensors.torch import load_file

    common = dict(steps=6, save_every=3, n_train=48, shadow_dropout=0.0)
    straight = tiny_train_config("shadow", backbones["llama"], tmp_path / "straight", **common)
    train(straight, progress=False)
    resumed = tiny_train_config("shadow", backbones["llama"], tmp_path / "resumed",
                                run_dir=straight.run_dir, resume=True, **common)
    metrics = train(resumed, progress=False)
    assert metrics["steps"] == 6
    a = load_file(str(tmp_path / "straight" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_export_loads_without_backbone_files(backbones, tmp_path):
    backbone = shutil.copytree(backbones["llama"], tmp_path / "backbone")
    config = tiny_train_config("shadow", backbone, tmp_path / "adapter", steps=3)
    train(config, progress=False)
    meta = export_detached(str(tmp_path / "adapter"), str(tmp_path / "export"))
    assert meta["parameters"] > 0 and meta["size_bytes"] > 0 and meta["tied_head"]

    attached, tokenizer = load_adapter(str(tmp_path / "adapter"))
    reference = attached.base_model.unload_shadow(copy=True).eval()
    ids = _prompt_ids(tokenizer)
    with torch.no_grad():
        expected = reference(input_ids=ids).logits
    shutil.rmtree(backbone)
    assert not backbone.exists()

    detached, detached_tokenizer = load_detached(str(tmp_path / "export"))
    with torch.no_grad():
        assert torch.allclose(detached(input_ids=ids).logits, expected, atol=1e-5)
    assert detached_tokenizer(format_prompt("sit"))["input_ids"] == tokenizer(format_prompt("sit"))["input_ids"]
    assert not any(p.suffix == ".safetensors" for p in (tmp_path / "export").rglob("*") if "adapter" in p.name)

    # Generation asks for the last position only; PEFT's model computed the head everywhere.
    with torch.no_grad():
        last = detached(input_ids=ids, logits_to_keep=1).logits
    assert last.shape[1] == 1 and torch.allclose(last[:, -1], expected[:, -1], atol=1e-5)
    from shadowpeft_ros.interpreter.decoding import decode_plans

    texts = ["sit", "walk forward two meters then turn left", "what is the capital of france"]
    # The same plans; the two paths sum in different orders, so probabilities agree to float precision only.
    got, want = decode_plans(detached, detached_tokenizer, texts), decode_plans(reference, tokenizer, texts)
    assert [(d.text, d.new_tokens, d.finished, d.gave_up) for d in got] == \
        [(d.text, d.new_tokens, d.finished, d.gave_up) for d in want]
    for d, w in zip(got, want):
        assert d.confidence == pytest.approx(w.confidence, rel=1e-4)
        assert d.log_probs == pytest.approx(w.log_probs, abs=1e-4)


def test_missing_files_are_named_with_the_command_that_makes_them(tmp_path):
    from shadowpeft_ros.interpreter.engine import AttachedEngine, DetachedEngine

    with pytest.raises(FileNotFoundError, match=r"shadow_export\.json.*shadowpeft export"):
        DetachedEngine.from_export(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"adapter_config\.json.*shadowpeft train"):
        AttachedEngine.from_adapter(str(tmp_path / "missing"))


@pytest.mark.slow
def test_smollm2_trainable_parameters_match_within_ten_percent():
    from shadowpeft_ros.interpreter.backbone import load_backbone
    from shadowpeft_ros.interpreter.config import TrainConfig
    from shadowpeft_ros.interpreter.train import attach_adapter, count_parameters

    counts = {}
    for method in ("shadow", "lora", "dora"):
        model, _ = load_backbone("smollm2-135m")
        counts[method] = count_parameters(attach_adapter(model, TrainConfig(method=method)))["trainable"]
    assert max(counts.values()) / min(counts.values()) < 1.10


def test_merged_dora_engine_matches_the_unmerged_one(backbones, tmp_path):
    from shadowpeft_ros.interpreter.engine import AttachedEngine

    train(tiny_train_config("dora", backbones["qwen3"], tmp_path / "dora", steps=3), progress=False)
    plain = AttachedEngine.from_adapter(str(tmp_path / "dora"), max_new_tokens=8)
    merged = AttachedEngine.from_adapter(str(tmp_path / "dora"), max_new_tokens=8, merge=True)
    ids = _prompt_ids(plain.tokenizer)
    with torch.no_grad():
        assert torch.allclose(plain.model(input_ids=ids).logits, merged.model(input_ids=ids).logits, atol=1e-4)
    train(tiny_train_config("shadow", backbones["qwen3"], tmp_path / "shadow", steps=1), progress=False)
    with pytest.raises(ValueError, match="cannot be merged"):
        AttachedEngine.from_adapter(str(tmp_path / "shadow"), merge=True)


@pytest.mark.parametrize("method", ["shadow", "lora"])
def test_left_and_right_padding_give_the_same_losses(tmp_path, method):
    """Training pads left (fewer logits to compute); position ids keep the losses those of right padding."""
    import torch

    from shadowpeft_ros.interpreter.backbone import load_backbone
    from shadowpeft_ros.interpreter.data import generate
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
    from shadowpeft_ros.interpreter.train import (PairDataset, attach_adapter, compute_losses, detached_view,
                                                  make_collate)

    model, tokenizer = load_backbone(str(save_tiny_backbone(tmp_path / "b", "qwen3")))
    peft_model = attach_adapter(model, tiny_train_config(method, tmp_path / "b", tmp_path / "o")).eval()
    with torch.no_grad():  # a non-zero shadow injection, so the shadow path matters
        for name, p in peft_model.named_parameters():
            if "shadow_up" in name:
                p.normal_(0, 0.05)
    rows = PairDataset(generate("train", 6, seed=2), tokenizer, 64).rows
    detached = detached_view(peft_model)
    with torch.no_grad():
        left = compute_losses(peft_model, detached, make_collate(tokenizer.pad_token_id, "left")(rows), 1.0)
        right = compute_losses(peft_model, detached, make_collate(tokenizer.pad_token_id, "right")(rows), 1.0)
        full = compute_losses(peft_model, detached, make_collate(tokenizer.pad_token_id, "right")(rows), 1.0,
                              all_logits=True)
    for key in left:
        assert float(left[key]) == pytest.approx(float(right[key]), rel=1e-4)
        assert float(full[key]) == pytest.approx(float(right[key]), rel=1e-4)


def test_injection_learning_rate_scale_reaches_only_the_injection(backbones, tmp_path):
    from shadowpeft_ros.interpreter.backbone import load_backbone
    from shadowpeft_ros.interpreter.train import INJECTION_PARAMETERS, attach_adapter, parameter_groups

    config = tiny_train_config("shadow", backbones["qwen3"], tmp_path / "adapter", shadow_injection_lr_scale=10.0)
    model = attach_adapter(load_backbone(str(backbones["qwen3"]))[0], config)
    rest, injection = parameter_groups(model, config)
    names = {id(p): n for n, p in model.named_parameters()}
    assert injection["lr"] == pytest.approx(10 * config.learning_rate) and "lr" not in rest
    assert injection["params"] and all(any(k in names[id(p)] for k in INJECTION_PARAMETERS) for p in injection["params"])
    assert not any(any(k in names[id(p)] for k in INJECTION_PARAMETERS) for p in rest["params"])
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in (rest, injection) for p in g["params"]) == trainable
    # The default, and LoRA whatever the setting, keep one group at the base rate.
    assert len(parameter_groups(model, tiny_train_config("shadow", backbones["qwen3"], tmp_path / "a"))) == 1
    with pytest.raises(ValueError, match="shadow_injection_lr_scale"):
        tiny_train_config("shadow", backbones["qwen3"], tmp_path / "b", shadow_injection_lr_scale=0.0)


def test_a_second_export_of_the_same_adapter_during_the_first_leaves_both_with_the_export(backbones, tmp_path,
                                                                                          monkeypatch):
    # A node and an evaluation started together once shared one ".partial" folder: the second removed the
    # first's half-written export, and the first then failed. Here the second export runs inside the first.
    from shadowpeft_ros.interpreter import export as export_module
    from shadowpeft_ros.interpreter.interpreter import ensure_detached_export

    monkeypatch.setenv("SHADOWPEFT_CACHE", str(tmp_path / "cache"))
    train(tiny_train_config("shadow", backbones["qwen3"], tmp_path / "adapter", steps=2), progress=False)
    real_export, rivals, inner = export_module.export_detached, [], []

    def export_with_a_rival(adapter, out, backbone=None):
        if not rivals:
            rivals.append(out)
            inner.append(ensure_detached_export(adapter))  # the other process, start to finish
        return real_export(adapter, out, backbone)

    monkeypatch.setattr(export_module, "export_detached", export_with_a_rival)
    outer = ensure_detached_export(str(tmp_path / "adapter"))
    assert inner == [outer]
    assert load_detached(str(outer))[0] is not None
    assert [p.name for p in outer.parent.iterdir()] == [outer.name]  # no partial folder left behind


def test_a_wider_injection_grows_from_a_trained_adapter_without_changing_its_outputs(backbones, tmp_path):
    from peft.utils import get_peft_model_state_dict

    from shadowpeft_ros.interpreter.backbone import load_backbone
    from shadowpeft_ros.interpreter.train import attach_adapter, grow_injection_rank

    narrow = tiny_train_config("shadow", backbones["qwen3"], tmp_path / "narrow", steps=4, shadow_r=4,
                               shadow_dropout=0.0)
    _, trained = train(narrow, progress=False, return_model=True)
    wide = tiny_train_config("shadow", backbones["qwen3"], tmp_path / "wide", steps=1, shadow_r=8,
                             shadow_update_hidden=4, shadow_dropout=0.0, init_adapter=str(tmp_path / "narrow"))
    from peft import set_peft_model_state_dict
    from peft.utils import load_peft_weights

    model = attach_adapter(load_backbone(str(backbones["qwen3"]))[0], wide)
    set_peft_model_state_dict(model, grow_injection_rank(model, load_peft_weights(str(tmp_path / "narrow"))))
    shapes = {k: tuple(v.shape) for k, v in get_peft_model_state_dict(model).items()}
    assert any(".shadow_down." in k and s[0] == 8 for k, s in shapes.items())
    ids = _prompt_ids(load_backbone(str(backbones["qwen3"]))[1])
    with torch.no_grad():
        assert torch.allclose(trained.eval()(input_ids=ids).logits, model.eval()(input_ids=ids).logits, atol=1e-5)
    # Training starts from it; a narrower injection, or another shape, cannot be grown into.
    assert train(wide, progress=False)["steps"] == 1
    with pytest.raises(ValueError, match="only a wider shadow injection"):
        train(tiny_train_config("shadow", backbones["qwen3"], tmp_path / "other", steps=1, shadow_r=8,
                                init_adapter=str(tmp_path / "narrow")), progress=False)


def test_training_on_every_phrasing_is_named_and_checked():
    from shadowpeft_ros.interpreter.config import TrainConfig

    assert TrainConfig(phrasings="all").phrasings == "all"
    with pytest.raises(ValueError, match="phrasings"):
        TrainConfig(phrasings="dev")
