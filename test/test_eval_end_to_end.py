"""``shadowpeft eval`` end to end on tiny models: every configuration, text and audio, MuJoCo, outputs on disk."""

import json
from pathlib import Path

import pytest

from shadowpeft_ros.cli import main

ROOT = Path(__file__).resolve().parent.parent
ALL_CONFIGS = "edge-lora,cloud-lora,cloud-dora,shadow-detached,shadow-attached,shadow-auto,base-prompted"


@pytest.fixture(scope="module")
def tiny_adapters(tmp_path_factory):
    """Train tiny shadow, LoRA, DoRA and edge-LoRA adapters on a tiny random Qwen3 (seconds, not minutes)."""
    from shadowpeft_ros.evaluation.edge import train_edge_lora
    from shadowpeft_ros.interpreter.backbone import load_backbone
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
    from shadowpeft_ros.interpreter.train import train

    root = tmp_path_factory.mktemp("tiny")
    backbone = save_tiny_backbone(root / "backbone")
    adapters = root / "adapters"
    for method in ("shadow", "lora", "dora"):
        train(tiny_train_config(method, backbone, adapters / method, steps=8), progress=False)
    model, tokenizer = load_backbone(str(backbone))
    edge = train_edge_lora(str(adapters / "edge-lora"), backbone=str(backbone), steps=8, batch_size=8,
                           shadow_adapter=str(adapters / "shadow"), model=model, tokenizer=tokenizer, progress=False,
                           learning_rate=2e-3, warmup_ratio=0.25, save_dtype="float16")
    assert edge["edge"]["layers"] == 1
    # The edge baseline takes the other adapters' training options, so it can match their data and schedule.
    recorded = json.loads((adapters / "edge-lora" / "train_config.json").read_text())
    assert (recorded["learning_rate"], recorded["warmup_ratio"], recorded["save_dtype"]) == (2e-3, 0.25, "float16")
    return adapters


def _write_cases(path: Path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.slow
def test_eval_runs_every_configuration_on_three_cases_with_sim(tiny_adapters, tmp_path):
    cases = [json.loads(line) for line in (ROOT / "eval" / "cases.jsonl").read_text().splitlines()]
    by_id = {c["id"]: c for c in cases}
    picked = [by_id["text-multi-march-veer-sit"], by_id["text-oos-days-week"], dict(by_id["audio-turn-veer-left-45"])]
    picked[2]["audio"] = str(ROOT / "eval" / picked[2]["audio"])
    case_file = _write_cases(tmp_path / "cases.jsonl", picked)
    out = tmp_path / "out"
    code = main(["eval", "--cases", str(case_file), "--out", str(out), "--configs", ALL_CONFIGS, "--sim",
                 "--rtt-ms", "20", "--adapters", str(tiny_adapters), "--no-progress", "--max-new-tokens", "12", "--threads", "1"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["summary"]) == set(ALL_CONFIGS.split(","))
    for name, summary in results["summary"].items():
        assert "error" not in summary, (name, summary)
        for key in ("exact_plan_accuracy", "action_type_accuracy", "slot_accuracy", "out_of_scope_handled",
                    "escalation_rate", "latency_e2e_p50_s", "latency_e2e_p95_s", "task_success", "wer"):
            assert key in summary, (name, key)
        assert summary["cases"] == 3 and summary["cases_failed"] == 0
        assert 0.0 <= summary["exact_plan_accuracy"] <= 1.0
        assert summary["latency_e2e_p50_s"] > 0
    # Speech ran for real: the audio case has a transcript and an ASR latency in every configuration.
    for conf in results["configurations"].values():
        audio = [r for r in conf["cases"] if r["modality"] == "audio"][0]
        assert audio["transcript"] and audio["latency_s"]["asr"] > 0
    # Remote configurations went through the server (its timing is recorded) with the round trip added.
    attached = results["configurations"]["shadow-attached"]["cases"][0]
    assert attached["interpreter"]["server_timing"]["inference_s"] > 0
    assert attached["latency_s"]["interpreter"] >= 0.020
    # On-board configurations report an escalation rate; remote-only ones do not.
    assert results["summary"]["shadow-detached"]["escalation_rate"] is not None
    assert results["summary"]["cloud-lora"]["escalation_rate"] is None
    # Every configuration decided as the robot decides: its mode, the parameter file's threshold and deadline,
    # and routes that the mode allows.
    import yaml

    robot = yaml.safe_load((ROOT / "config" / "dog.yaml").read_text())["interpreter"]["ros__parameters"]
    modes = {"edge-lora": "detached", "shadow-detached": "detached", "shadow-auto": "auto"}
    for name, conf in results["configurations"].items():
        info = conf["info"]
        assert info["policy"]["mode"] == modes.get(name, "attached"), name
        assert info["policy"]["confidence_threshold"] == robot["confidence_threshold"]
        assert info["deadline_s"] == robot["offload.deadline_s"]
        assert ("offload_url" in info) == (info["policy"]["mode"] != "detached"), name
        for record in conf["cases"]:
            routes = {"detached": {"local"}, "attached": {"remote"}}.get(info["policy"]["mode"], {"local", "remote"})
            assert record["final_plan"]["route"] in routes, (name, record["id"], record["decision"])
            decision = record["decision"]
            assert (decision == "remote") <= (record["final_plan"]["route"] == "remote")
            if info["policy"]["mode"] == "detached":
                assert decision in ("local", "refused:needs_remote", "refused:low_confidence", "refused:invalid",
                                    "refused:limits", "refused:quantities", "refused:stop_said", "refused:sides",
                                    "refused:repeated"), (name, decision)
            # The summary is computed from the records: exact plans and the e2e sum of the stages.
            stages = sum(record["latency_s"][k] or 0.0 for k in ("asr", "interpreter", "first_cmd_vel"))
            assert record["latency_s"]["e2e"] == pytest.approx(stages, abs=1e-4)
        exact = sum(bool(r["scores"]["exact"]) for r in conf["cases"]) / len(conf["cases"])
        assert results["summary"][name]["exact_plan_accuracy"] == pytest.approx(exact)
        if info["policy"]["mode"] != "attached":
            escalated = sum(bool(r["escalated"]) for r in conf["cases"]) / len(conf["cases"])
            assert results["summary"][name]["escalation_rate"] == pytest.approx(escalated)
    # LoRA and DoRA are timed and served merged, as a deployment would; the shadow cannot be merged.
    infos = {name: conf["info"] for name, conf in results["configurations"].items()}
    assert infos["cloud-lora"]["served_merged"] and infos["cloud-dora"]["served_merged"]
    assert infos["shadow-attached"]["served_merged"] is False
    # On-board models are warmed up before the first case, as the robot's Interpreter does.
    for name in ("edge-lora", "shadow-detached", "shadow-auto"):
        assert infos[name]["on_board_warm_up_s"] > 0, name
    by_input = results["summary_by_input"]["shadow-auto"]
    assert by_input["text"]["cases"] == 2 and by_input["audio"]["cases"] == 1
    summary_md = (out / "summary.md").read_text()
    for name in ALL_CONFIGS.split(","):
        assert f"| {name} |" in summary_md
    for png in ("accuracy_vs_latency.png", "latency_distribution.png", "confusion.png"):
        assert (out / png).stat().st_size > 1000
    claims = results["micro_claims"]
    assert claims["attached_overhead_shadow_vs_lora"]["overhead"] is not None
    assert claims["detached_speedup"]["speedup_compute"] > 0
    assert "met" in claims["goal"]


@pytest.mark.slow
def test_eval_reports_bad_cases_and_goes_on(tiny_adapters, tmp_path):
    good = {"id": "good", "text": "sit down", "expected": {"route": "local", "actions": [{"type": "posture", "name": "sit"}],
                                                           "say": ""},
            "speaker": "alice", "recorded": "2026-11-28"}
    missing_audio = {"id": "no-audio", "audio": "nowhere/missing.wav", "text": "sit",
                     "expected": {"route": "local", "actions": [], "say": "x"}}
    not_v1 = {"id": "not-v1", "text": "jump", "expected": {"route": "local", "actions": [{"type": "jump", "height": 2}],
                                                           "say": ""}}
    case_file = _write_cases(tmp_path / "cases.jsonl", [good, missing_audio, not_v1])
    out = tmp_path / "out"
    code = main(["eval", "--cases", str(case_file), "--out", str(out), "--configs", "shadow-detached",
                 "--adapters", str(tiny_adapters), "--no-progress", "--max-new-tokens", "8", "--threads", "1"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    records = {r["id"]: r for r in results["configurations"]["shadow-detached"]["cases"]}
    assert records["good"]["notes"] == ["ignored unknown fields ['recorded', 'speaker']"]
    assert "final_plan" in records["good"] and "error" not in records["good"]
    assert "audio file not found" in records["no-audio"]["error"] and "missing.wav" in records["no-audio"]["error"]
    assert "not a command-language-v1 plan" in records["not-v1"]["error"]
    assert "final_plan" not in records["not-v1"]
    summary = results["summary"]["shadow-detached"]
    assert summary["cases"] == 3 and summary["cases_failed"] == 2


def test_eval_cli_rejects_unknown_configuration(tmp_path):
    case_file = _write_cases(tmp_path / "c.jsonl", [{"id": "a", "text": "sit", "expected": {
        "route": "local", "actions": [], "say": "x"}}])
    assert main(["eval", "--cases", str(case_file), "--out", str(tmp_path / "o"), "--configs", "edge-lora,gpt-5"]) == 2
    assert not (tmp_path / "o").exists()


def test_eval_cli_rejects_missing_case_file(tmp_path):
    assert main(["eval", "--cases", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")]) == 2


def test_rescore_recomputes_a_stored_runs_aggregates_from_its_cases(tmp_path):
    """The committed evaluation, rescored: every stored aggregate comes back, and metrics added since appear."""
    stored_dir = ROOT / "docs" / "results"
    stored = json.loads((stored_dir / "results.json").read_text())
    out = tmp_path / "rescored"
    assert main(["eval", "--rescore", str(stored_dir), "--out", str(out)]) == 0
    rescored = json.loads((out / "results.json").read_text())
    for name, summary in stored["summary"].items():
        for key, value in summary.items():
            assert rescored["summary"][name][key] == (pytest.approx(value) if isinstance(value, float) else value), \
                (name, key)
    assert rescored["micro_claims"] == stored["micro_claims"]
    assert rescored["meta"]["rescored"] and rescored["meta"]["started"] == stored["meta"]["started"]
    summary_md = (out / "summary.md").read_text()
    assert "plans executed on board (with actions): exactly right" in summary_md
    assert "`shadowpeft eval --rescore`" in summary_md and "Command:\n\n```\nshadowpeft eval --cases" in summary_md


def test_rescore_without_a_run_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", "--rescore", str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err
    assert main(["eval", "--out", str(tmp_path / "o")]) == 2
