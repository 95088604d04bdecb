"""The train, export and interpret subcommands: registration, option errors and JSON-lines output."""

import argparse
import json

import pytest

from shadowpeft_ros.cli import CliError
from shadowpeft_ros.cli import export as export_cli
from shadowpeft_ros.cli import interpret as interpret_cli
from shadowpeft_ros.cli import train as train_cli


def parse(*argv):
    parser = argparse.ArgumentParser(prog="shadowpeft")
    sub = parser.add_subparsers(dest="command")
    for module in (train_cli, export_cli, interpret_cli):
        module.register(sub)
    return parser.parse_args(argv)


def test_registration_and_defaults():
    args = parse("train", "--method", "dora", "--steps", "3")
    assert args.func is train_cli.run and args.method == "dora" and args.steps == 3 and args.out_dir is None
    args = parse("interpret", "--text", "sit", "--text", "stand", "--mode", "detached")
    assert args.text == ["sit", "stand"] and args.mode == "detached"
    with pytest.raises(SystemExit):
        parse("interpret", "--text", "sit", "--file", "x")


def test_interpret_reports_missing_export_as_user_error(tmp_path):
    args = parse("interpret", "--text", "sit", "--mode", "detached", "--detached", str(tmp_path / "none"))
    with pytest.raises(CliError, match="shadowpeft export"):
        interpret_cli.run(args)


def test_train_rejects_bad_settings():
    with pytest.raises(CliError):
        train_cli.run(parse("train", "--steps", "0", "--backbone", "unused"))


def test_export_then_interpret_prints_json_lines(tmp_path, capsys):
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
    from shadowpeft_ros.interpreter.train import train

    backbone = save_tiny_backbone(tmp_path / "backbone", "qwen3")
    train(tiny_train_config("shadow", backbone, tmp_path / "adapter", steps=2), progress=False)
    assert export_cli.run(parse("export", "--adapter", str(tmp_path / "adapter"), "--out", str(tmp_path / "x"))) == 0
    assert "size on disk" in capsys.readouterr().out
    utterances = tmp_path / "in.txt"
    utterances.write_text("sit down\n\nstop\n")
    args = parse("interpret", "--file", str(utterances), "--mode", "detached", "--detached", str(tmp_path / "x"),
                 "--max-new-tokens", "8")
    assert interpret_cli.run(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["sit down", "stop"]
    for line in lines:
        assert set(line) >= {"text", "plan", "route", "latency_s"} and "total" in line["latency_s"]
    assert lines[1]["plan"]["actions"] == [{"type": "stop"}]

    # The adapter's dev losses on the fixed dev sample: the training run's figure, and one per kind.
    trained = json.loads((tmp_path / "adapter" / "metrics.json").read_text())
    assert train_cli.run(parse("train", "--dev-loss-of", str(tmp_path / "adapter"), "--n-dev", "16")) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dev_loss_attached"] == pytest.approx(trained["dev_loss_attached"], rel=1e-4)
    assert sum(k["examples"] for k in printed["dev_loss_by_kind"].values()) == 16
    with pytest.raises(CliError, match="cannot load adapter"):
        train_cli.run(parse("train", "--dev-loss-of", str(tmp_path / "none")))


@pytest.mark.parametrize("command", ["train", "export", "interpret"])
def test_help_renders(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(command, "--help")
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_interpret_drives_the_robots_policy_through_an_offload_server(capsys):
    """`--offload URL --token T`: the robot's client and policy, reporting each plan's route and decision."""
    from shadowpeft_ros.offload.local import start_local_server

    with start_local_server({"engine": "test-echo"}, token="cli-token-123") as server:
        args = parse("interpret", "--mode", "attached", "--offload", server.url, "--token", "cli-token-123",
                     "--text", "turn left 90 ; sit", "--text", "stop", "--text", "move forward 99")
        assert interpret_cli.run(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["route"], line["decision"]) for line in lines[:2]] == [("remote", "remote"), ("local", "stop")]
    assert [a["type"] for a in lines[0]["plan"]["actions"]] == ["turn", "posture"]
    assert lines[0]["options"]["mode"] == "attached" and lines[0]["options"]["deadline_s"] == 3.0
    # The parameter file's limits hold for what the server says, too: nothing over them moves the dog.
    assert lines[2]["plan"]["actions"] == [] or lines[2]["plan"]["actions"][0]["distance_m"] <= 5.0
