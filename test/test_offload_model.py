"""A real model behind the offload server: a tiny Qwen3 with a briefly trained ShadowPEFT adapter.

The model is too small to be accurate; what is checked is that the server loads an adapter the way
the workstation does, batches real forward passes without mixing up rows, and reports versions.
"""

import threading

import httpx
import pytest

from shadowpeft_ros.offload.engine import EngineOptions, GenerateEngine, load_engine
from shadowpeft_ros.offload.local import start_local_server

pytestmark = pytest.mark.slow

TEXTS = ["walk forward two meters", "sit", "turn left a quarter turn please", "what is the capital of France"]


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory):
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
    from shadowpeft_ros.interpreter.train import train

    import torch

    root = tmp_path_factory.mktemp("offload-model")
    backbone = save_tiny_backbone(root / "backbone", arch="qwen3")
    config = tiny_train_config("shadow", backbone, root / "shadow", steps=10)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(config, progress=False)
    finally:
        torch.set_num_threads(before)
    return root / "shadow"


@pytest.fixture
def one_torch_thread():
    import torch

    # On 2 shared cores, torch's spinning worker threads cost more than they give for a model this small.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_batched_generation_matches_one_at_a_time(tiny_adapter, one_torch_thread):
    engine = GenerateEngine.load(adapter=str(tiny_adapter), max_new_tokens=10)
    assert engine.model_info["method"] == "shadow" and len(engine.model_info["adapter_version"]) == 12
    assert engine.model_info["kv_cache"] == "on"
    batched = engine.plan_batch(TEXTS, [str(i) for i in range(len(TEXTS))])
    uncached = GenerateEngine.load(adapter=str(tiny_adapter), max_new_tokens=10, kv_cache="off")
    # The exact-cache workaround (interpreter/shadow_cache.py): cached decoding equals the uncached forward.
    assert [a.raw_text for a in batched] == [a.raw_text for a in uncached.plan_batch(TEXTS, ["u"] * len(TEXTS))]
    for text, together in zip(TEXTS, batched):
        alone = engine.plan_batch([text], ["x"])[0]
        # Left padding must not change what any row decodes to.
        assert together.raw_text == alone.raw_text
        assert together.confidence == pytest.approx(alone.confidence, rel=1e-3, abs=1e-5)
        assert 0.0 <= together.confidence <= 1.0
        assert (together.plan is None) == bool(together.error)


def test_dora_is_served_merged_with_the_same_answers(tiny_adapter, one_torch_thread, tmp_path):
    from shadowpeft_ros.interpreter.testing import tiny_train_config
    from shadowpeft_ros.interpreter.train import train

    backbone = tiny_adapter.parent / "backbone"
    train(tiny_train_config("dora", backbone, tmp_path / "dora", steps=4, learning_rate=3e-2), progress=False)
    merged = GenerateEngine.load(adapter=str(tmp_path / "dora"), max_new_tokens=10)
    unmerged = GenerateEngine.load(adapter=str(tmp_path / "dora"), max_new_tokens=10, merge="off")
    assert merged.model_info["method"] == "dora"
    # Merged, the server runs a plain backbone: no PEFT wrapper (and no per-forward DoRA norm) is left.
    assert merged.model_info["merged"] == "yes" and not hasattr(merged.model, "peft_config")
    assert unmerged.model_info["merged"] == "no" and hasattr(unmerged.model, "peft_config")
    ids = [str(i) for i in range(len(TEXTS))]
    assert [a.raw_text for a in merged.plan_batch(TEXTS, ids)] == [a.raw_text for a in unmerged.plan_batch(TEXTS, ids)]


def test_a_shadow_adapter_is_never_merged(tiny_adapter, one_torch_thread):
    engine = GenerateEngine.load(adapter=str(tiny_adapter), max_new_tokens=4)  # merge 'auto' leaves it as it is
    assert engine.model_info["merged"] == "no"
    with pytest.raises(ValueError, match="cannot be merged"):
        GenerateEngine.load(adapter=str(tiny_adapter), max_new_tokens=4, merge="on")
    with pytest.raises(ValueError, match="merge must be"):
        EngineOptions(merge="sometimes")


def test_load_engine_reports_missing_adapters_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_engine(EngineOptions(engine="generate", adapter=str(tmp_path)))


def test_server_hosts_the_adapter_and_batches_concurrent_requests(tiny_adapter):
    token = "model-test-token"
    with start_local_server({"engine": "generate", "adapter": str(tiny_adapter), "max_new_tokens": 10,
                             "torch_threads": 1}, token=token,
                            server_args=["--batch-window-s", "0.2"]) as srv:
        ready = httpx.get(srv.url + "/readyz").json()
        assert ready["ready"] and ready["model"]["method"] == "shadow"
        responses = []

        def ask(i, text):
            responses.append(httpx.post(srv.url + "/v1/plan", json={"text": text, "request_id": f"m{i}"},
                                        headers={"Authorization": f"Bearer {token}"}, timeout=60))

        threads = [threading.Thread(target=ask, args=(i, t)) for i, t in enumerate(TEXTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert [r.status_code for r in responses] == [200] * len(TEXTS)
        bodies = [r.json() for r in responses]
        assert sorted(b["request_id"] for b in bodies) == [f"m{i}" for i in range(len(TEXTS))]
        assert max(b["timing"]["batch_size"] for b in bodies) >= 2, "requests sent together were not batched"
        for body in bodies:
            assert body["route"] == "remote" and body["model"]["adapter_version"] == ready["model"]["adapter_version"]
            assert (body["plan"] is None) == (body["error"] is not None)
