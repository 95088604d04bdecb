"""One node table: dog.launch.py and `shadowpeft dog` start the same nodes with the same parameters."""

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

from shadowpeft_ros import node_table
from shadowpeft_ros.cli import dog as dog_command
from shadowpeft_ros.cli.dog import startup_arguments

ROOT = Path(__file__).resolve().parent.parent


def build_parser():
    """Only the dog subcommand, so this test does not depend on the other subcommands' imports."""
    parser = argparse.ArgumentParser(prog="shadowpeft")
    dog_command.register(parser.add_subparsers(dest="command"))
    return parser


def _load_launch_file(name="dog.launch.py"):
    spec = importlib.util.spec_from_file_location("dog_launch", ROOT / "launch" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runner_entries(argv):
    args = build_parser().parse_args(["dog", *argv])
    return [(node_table.PACKAGE, spec.executable, spec.name, params)
            for spec, params in node_table.plan_nodes(startup_arguments(args))]


@pytest.mark.parametrize("argv,launch_args", [
    ([], {}),
    (["--sim", "none"], {"sim": "none"}),
    (["--sim", "gazebo", "--offload-url", "http://gpu:8080", "--token", "t0k"],
     {"sim": "gazebo", "offload_url": "http://gpu:8080", "offload_token": "t0k"}),
    (["--audio-source", "/tmp/a.wav", "--whisper-model", "/models/tiny", "--detached-model", "/m/detached"],
     {"audio_source": "/tmp/a.wav", "whisper_model": "/models/tiny", "detached_model": "/m/detached"}),
    (["--speaker", "true", "--offload", "none"], {"speaker": "true", "offload_url": "none"}),
])
def test_launch_file_and_runner_start_the_same_nodes(argv, launch_args):
    launch = _load_launch_file()
    assert launch.launch_entries(launch_args) == _runner_entries(argv)


def test_text_input_runs_without_the_speech_node():
    names = [name for _, _, name, _ in _runner_entries(["--text", "sit"])]
    assert "speech" not in names and {"interpreter", "motion", "sim"} <= set(names)


def test_simulator_choice_selects_the_sim_node():
    assert "sim" in [n for _, _, n, _ in _runner_entries(["--sim", "mujoco"])]
    assert "sim" not in [n for _, _, n, _ in _runner_entries(["--sim", "gazebo"])]


def test_every_startup_argument_is_a_cli_option_and_a_launch_argument():
    help_text = build_parser()._subparsers._group_actions[0].choices["dog"].format_help()
    for arg in node_table.STARTUP_ARGUMENTS:
        assert "--" + arg.name.replace("_", "-") in help_text
    source = (ROOT / "launch" / "dog.launch.py").read_text()
    assert "node_table.STARTUP_ARGUMENTS" in source and "DeclareLaunchArgument" in source


def test_startup_arguments_override_the_parameter_file():
    entries = {name: params for _, _, name, params in _runner_entries(["--offload-url", "http://x:1"])}
    assert entries["interpreter"]["offload.url"] == "http://x:1"
    assert entries["interpreter"]["transport"] == "auto"  # from the /** section


def test_every_node_has_an_executable_for_colcon_and_pip():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    setup = (ROOT / "setup.py").read_text()
    for spec in node_table.NODES:
        exe = ROOT / "executables" / spec.executable
        assert exe.is_file() and f"from {spec.module} import main" in exe.read_text()
        assert f"executables/{spec.executable}" in cmake
        assert spec.module.endswith(f"{spec.name}_node") and f'"{spec.name}"' in setup


def test_cmake_generates_every_msg_file():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert sorted(re.findall(r'"(msg/\w+\.msg)"', cmake)) == sorted(
        f"msg/{p.name}" for p in (ROOT / "msg").glob("*.msg"))


@pytest.mark.parametrize("given,match", [
    ({"sim": "webots"}, "sim must be one of"),
    ({"simulator": "mujoco"}, "unknown start-up arguments"),
    ({"params_file": "/nonexistent/dog.yaml"}, "parameter file not found"),
])
def test_bad_startup_arguments_are_refused(given, match):
    with pytest.raises(node_table.NodeTableError, match=match):
        node_table.plan_nodes(given)


@pytest.mark.parametrize("content,match", [
    ("speech: [1, 2", "not valid YAML"),
    ("- a\n- b\n", "must map node names"),
    ("speech:\n  params: {source: mic}\n", "exactly 'ros__parameters'"),
    ("talker:\n  ros__parameters: {a: 1}\n", "unknown node sections"),
])
def test_bad_parameter_files_are_refused(tmp_path, content, match):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(node_table.NodeTableError, match=match):
        node_table.plan_nodes({"params_file": str(path)})


def test_cli_rejects_unknown_options(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["dog", "--warp-speed", "9"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --warp-speed" in capsys.readouterr().err
