"""`shadowpeft soup`: the weighted mean of real (tiny) PEFT adapters, loadable like any adapter."""

from __future__ import annotations

import json

import pytest

from shadowpeft_ros.cli import main


@pytest.fixture(scope="module")
def tiny_adapters(tmp_path_factory):
    """Two ShadowPEFT adapters and a LoRA of one tiny Qwen3, trained a few steps each (seconds)."""
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
    from shadowpeft_ros.interpreter.train import train

    root = tmp_path_factory.mktemp("soup")
    backbone = save_tiny_backbone(root / "backbone", "qwen3")
    for name, method, seed in (("a", "shadow", 1), ("b", "shadow", 2), ("lora", "lora", 1)):
        train(tiny_train_config(method, backbone, root / name, steps=2, seed=seed), progress=False)
    return root


def _tensors(directory):
    from safetensors.torch import load_file

    return load_file(str(directory / "adapter_model.safetensors"))


def test_a_soup_is_the_weighted_mean_of_its_adapters_and_loads_like_one(tiny_adapters, capsys):
    import torch

    from shadowpeft_ros.interpreter.engine import AttachedEngine

    root = tiny_adapters
    assert main(["soup", "--out", str(root / "ab"), f"{root / 'a'}@3", str(root / "b")]) == 0
    assert "0.750 x" in capsys.readouterr().out
    a, b, soup = _tensors(root / "a"), _tensors(root / "b"), _tensors(root / "ab")
    assert soup.keys() == a.keys()
    moved = 0
    for key in a:
        assert soup[key].dtype == a[key].dtype
        torch.testing.assert_close(soup[key].float(), 0.75 * a[key].float() + 0.25 * b[key].float(),
                                   rtol=1e-3, atol=1e-3)
        moved += not torch.equal(a[key], b[key])
    assert moved, "the two runs trained different weights, so the soup is a real mix"
    meta = json.loads((root / "ab" / "soup.json").read_text())
    assert [i["weight"] for i in meta["soup"]] == [0.75, 0.25]
    # Each ingredient's training settings travel with the soup, and it counts what training counted.
    assert [i["train_config"]["seed"] for i in meta["soup"]] == [1, 2]
    trained = json.loads((root / "a" / "metrics.json").read_text())["trainable_params"]
    assert json.loads((root / "ab" / "metrics.json").read_text())["trainable_params"] == trained
    # It names its backbone like the adapters it came from, so it loads and plans like one.
    assert (root / "ab" / "train_config.json").is_file()
    engine = AttachedEngine.from_adapter(str(root / "ab"))
    assert engine.plan("walk forward two meters").raw_text is not None


def test_a_soup_of_one_adapter_with_itself_decodes_as_that_adapter(tiny_adapters):
    from shadowpeft_ros.interpreter.engine import AttachedEngine

    root = tiny_adapters
    assert main(["soup", "--out", str(root / "aa"), str(root / "a"), str(root / "a")]) == 0
    texts = ["sit down", "turn left ninety degrees", "walk back one meter then wave"]
    same = AttachedEngine.from_adapter(str(root / "aa"))
    original = AttachedEngine.from_adapter(str(root / "a"))
    assert [same.plan(t).raw_text for t in texts] == [original.plan(t).raw_text for t in texts]


def test_adapters_trained_with_other_loss_weights_still_make_a_soup(tiny_adapters, tmp_path):
    root = tiny_adapters
    heavier = tmp_path / "b_heavier_aux"
    heavier.mkdir()
    for path in (root / "b").iterdir():
        if path.is_file():
            (heavier / path.name).write_bytes(path.read_bytes())
    config = json.loads((heavier / "adapter_config.json").read_text())
    config["auxiliary_loss_weight"] = config["auxiliary_loss_weight"] * 1.5
    (heavier / "adapter_config.json").write_text(json.dumps(config))
    assert main(["soup", "--out", str(tmp_path / "mix"), str(root / "a"), str(heavier)]) == 0
    mixed = json.loads((tmp_path / "mix" / "adapter_config.json").read_text())
    assert mixed["auxiliary_loss_weight"] == json.loads((root / "a" / "adapter_config.json").read_text())[
        "auxiliary_loss_weight"]
    # Any other difference in the config is still a different adapter.
    config["r"] *= 2
    (heavier / "adapter_config.json").write_text(json.dumps(config))
    assert main(["soup", "--out", str(tmp_path / "mix2"), str(root / "a"), str(heavier)]) == 2


@pytest.mark.parametrize("case", ["other_method", "one_adapter", "missing", "bad_weight"])
def test_a_soup_of_unlike_or_missing_adapters_is_a_clear_error(tiny_adapters, tmp_path, capsys, case):
    root = tiny_adapters
    args = {"other_method": [str(root / "a"), str(root / "lora")],
            "one_adapter": [str(root / "a")],
            "missing": [str(root / "a"), str(tmp_path / "nowhere")],
            "bad_weight": [str(root / "a"), f"{root / 'b'}@-1"]}[case]
    assert main(["soup", "--out", str(tmp_path / "out"), *args]) == 2
    error = capsys.readouterr().err
    assert "shadowpeft soup: error:" in error
    expected = {"other_method": "not the same kind of adapter", "one_adapter": "at least two",
                "missing": "not found", "bad_weight": "must be positive"}[case]
    assert expected in error
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()
