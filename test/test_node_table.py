"""One node table: dog.launch.py and `shadowpeft dog` start the same nodes with the same parameters."""

import argparse
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest

from shadowpeft_ros import node_table
from shadowpeft_ros.paths import PACKAGE, default_params_file
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
    return [(PACKAGE, spec.executable, spec.name, params)
            for spec, params in node_table.plan_nodes(startup_arguments(args))]


# -- what dog.launch.py hands to launch, against what `shadowpeft dog` starts ------------------------
# launch and launch_ros are not installable here, so the launch file runs against stand-ins that only
# record what it constructs. The launch file's own code runs unchanged; so does the runner's.

class Recorded:
    """A launch action or event as the launch file built it: its class name and arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    @property
    def kind(self):
        return type(self).__name__


def _recording_module(name, *class_names, **functions):
    module = types.ModuleType(name)
    for class_name in class_names:
        setattr(module, class_name, type(class_name, (Recorded,), {}))
    for function_name, function in functions.items():
        setattr(module, function_name, function)
    return module


@pytest.fixture
def recording_launch(monkeypatch):
    modules = {
        "launch": _recording_module("launch", "LaunchDescription"),
        "launch.actions": _recording_module("launch.actions", "DeclareLaunchArgument", "OpaqueFunction",
                                            "IncludeLaunchDescription", "ExecuteProcess", "EmitEvent",
                                            "RegisterEventHandler"),
        "launch.substitutions": _recording_module("launch.substitutions", "LaunchConfiguration"),
        "launch.launch_description_sources": _recording_module("launch.launch_description_sources",
                                                               "PythonLaunchDescriptionSource"),
        "launch.events": _recording_module("launch.events", matches_action=lambda action: ("matches", action)),
        "launch_ros": _recording_module("launch_ros"),
        "launch_ros.actions": _recording_module("launch_ros.actions", "Node", "LifecycleNode"),
        "launch_ros.event_handlers": _recording_module("launch_ros.event_handlers", "OnStateTransition"),
        "launch_ros.events": _recording_module("launch_ros.events"),
        "launch_ros.events.lifecycle": _recording_module("launch_ros.events.lifecycle", "ChangeState"),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)

    def launch(launch_args):
        """Return the actions `ros2 launch shadowpeft_ros dog.launch.py ARGS` would run."""
        description = _load_launch_file().generate_launch_description()
        (entities,) = description.args
        declared = {e.args[0]: e.kwargs["default_value"] for e in entities if e.kind == "DeclareLaunchArgument"}
        unknown = set(launch_args) - set(declared)
        assert not unknown, f"ros2 launch would refuse the unknown arguments {unknown}"
        values = {**declared, **launch_args}

        class Context:
            @staticmethod
            def perform_substitution(substitution):
                return values[substitution.args[0]]

        (opaque,) = [e for e in entities if e.kind == "OpaqueFunction"]
        return opaque.kwargs["function"](Context())

    return launch


LOCAL_URL = "<loopback offload server>"


def _launched(actions):
    """Return {node name: (executable, parameters, lifecycle)} and the offload server's (argv, env)."""
    nodes, server = {}, None
    for action in actions:
        if action.kind in ("Node", "LifecycleNode"):
            kw = action.kwargs
            assert kw["package"] == PACKAGE
            (params,) = kw["parameters"]
            nodes[kw["name"]] = (kw["executable"], dict(params), action.kind == "LifecycleNode")
        elif action.kind == "ExecuteProcess":
            server = (action.kwargs["cmd"], action.kwargs["additional_env"])
    for name, (_, _, lifecycle) in nodes.items():
        if lifecycle:
            node = next(a for a in actions if a.kind == "LifecycleNode" and a.kwargs["name"] == name)
            _check_lifecycle_driven(actions, node)
    if server is not None:
        argv, env = server
        url = f"http://{argv[argv.index('--host') + 1]}:{argv[argv.index('--port') + 1]}"
        params = nodes["interpreter"][1]
        assert params["offload.url"] == url and params["offload.token"] == env["SHADOWPEFT_TOKEN"]
        params["offload.url"], params["offload.token"] = LOCAL_URL, ""
    return nodes, server


def _check_lifecycle_driven(actions, node):
    """The launch file must configure the lifecycle node at start and activate it once inactive."""
    from lifecycle_msgs.msg import Transition

    emits = [a for a in actions if a.kind == "EmitEvent"]
    assert any(e.kwargs["event"].kwargs["transition_id"] == Transition.TRANSITION_CONFIGURE
               and e.kwargs["event"].kwargs["lifecycle_node_matcher"] == ("matches", node) for e in emits)
    handlers = [a.args[0] for a in actions if a.kind == "RegisterEventHandler"]
    (activate,) = [h for h in handlers if h.kwargs["target_lifecycle_node"] is node]
    assert activate.kwargs["goal_state"] == "inactive"
    (event,) = activate.kwargs["entities"]
    assert event.kwargs["event"].kwargs["transition_id"] == Transition.TRANSITION_ACTIVATE


def _started_by_runner(argv):
    """Return what `shadowpeft dog ARGV` starts, from the function its run() starts it with."""
    args = build_parser().parse_args(["dog", *argv])
    planned, _common, offload = dog_command.prepare(args)
    nodes = {spec.name: (spec.executable, dict(params), spec.lifecycle) for spec, params in planned}
    if offload is not None:
        # run() starts the server, then puts its URL and token here (_start_local_offload).
        assert nodes["interpreter"][1]["offload.url"] == "local"
        nodes["interpreter"][1]["offload.url"], nodes["interpreter"][1]["offload.token"] = LOCAL_URL, ""
    return nodes, offload


@pytest.mark.parametrize("argv,launch_args", [
    ([], {}),
    (["--sim", "none"], {"sim": "none"}),
    (["--time-mode", "sim"], {"time_mode": "sim"}),
    (["--sim", "gazebo", "--offload-url", "http://gpu:8080", "--token", "t0k"],
     {"sim": "gazebo", "offload_url": "http://gpu:8080", "offload_token": "t0k"}),
    (["--audio-source", "/tmp/a.wav", "--whisper-model", "/models/tiny", "--detached-model", "/m/detached"],
     {"audio_source": "/tmp/a.wav", "whisper_model": "/models/tiny", "detached_model": "/m/detached"}),
    (["--speaker", "true", "--offload", "none"], {"speaker": "true", "offload_url": "none"}),
    (["--offload", "local", "--backbone", "/m/backbone"], {"offload_url": "local", "backbone": "/m/backbone"}),
])
def test_launch_file_and_runner_start_the_same_nodes(recording_launch, argv, launch_args):
    if not {"--offload", "--offload-url"} & set(argv):
        # The one intended difference: `shadowpeft dog`, the demo, serves the attached model on
        # loopback unless told otherwise; a robot's launch keeps the parameter file's URL
        # (empty: detached only). So the runner with no flag matches launch with offload_url:=local.
        launch_args = {**launch_args, "offload_url": "local"}
    launched, server = _launched(recording_launch(launch_args))
    started, offload = _started_by_runner(argv)
    assert launched == started
    assert (server is None) == (offload is None)
    if offload is not None:
        cmd, _env = server
        flags = dict(zip(cmd[2::2], cmd[3::2]))
        assert cmd[:2] == ["shadowpeft", "serve"]
        assert (flags["--host"], flags["--engine"], flags.get("--adapter", ""), flags.get("--backbone", "")) == (
            offload.host, offload.engine, offload.adapter, offload.backbone)
        # The loopback server shares the robot's cores: both starters give it one torch thread.
        assert offload.torch_threads == 1 and flags["--torch-threads"] == "1"


def test_sim_clock_and_overrides_reach_both_starters(recording_launch, tmp_path):
    """The cases that once differed: use_sim_time, a changed parameter, the interpreter's lifecycle."""
    launched, _ = _launched(recording_launch({"time_mode": "sim"}))
    started, _ = _started_by_runner(["--time-mode", "sim"])
    for nodes in (launched, started):
        assert nodes["motion"][1]["use_sim_time"] is True and nodes["sim"][1]["time_mode"] == "sim"
        assert "use_sim_time" not in nodes["interpreter"][1]
        assert nodes["interpreter"][2] is True and nodes["motion"][2] is False
    gazebo, _ = _launched(recording_launch({"sim": "gazebo"}))
    assert gazebo["motion"][1]["use_sim_time"] is True and "sim" not in gazebo
    # A parameter changed for one run: `--set` for the runner, a parameter file for launch.
    text = default_params_file().read_text()
    assert "    limits.max_linear_speed_mps: 0.5\n" in text
    (tmp_path / "dog.yaml").write_text(text.replace("    limits.max_linear_speed_mps: 0.5\n",
                                                    "    limits.max_linear_speed_mps: 0.3\n"))
    launched, _ = _launched(recording_launch({"params_file": str(tmp_path / "dog.yaml")}))
    started, _ = _started_by_runner(["--set", "motion.limits.max_linear_speed_mps=0.3",
                                     "--set", "interpreter.limits.max_linear_speed_mps=0.3"])
    for name in ("motion", "interpreter"):
        assert launched[name][1]["limits.max_linear_speed_mps"] == 0.3
        assert started[name][1]["limits.max_linear_speed_mps"] == 0.3


def test_package_xml_declares_what_nodes_and_launch_files_use():
    """Every ROS package imported by the nodes, started by a launch file or bridged is a dependency in package.xml."""
    import xml.etree.ElementTree as ET

    root = ET.parse(ROOT / "package.xml").getroot()
    declared = {e.text for e in root if e.tag in ("depend", "exec_depend", "build_depend")}
    used = set()
    for path in list((ROOT / "shadowpeft_ros").rglob("*.py")) + list((ROOT / "launch").glob("*.py")):
        text = path.read_text()
        used |= set(re.findall(r"^\s*from (\w+)\.(?:msg|srv|action) import", text, re.M))
        used |= set(re.findall(r'package="(\w+)"', text))
        used |= {m for m in ("rclpy", "launch", "launch_ros", "ament_index_python")
                 if re.search(rf"^\s*(?:from|import) {m}\b", text, re.M)}
    # The gz bridge needs the ROS side of every type it bridges at run time.
    used |= set(re.findall(r'ros_type_name: "(\w+)/msg/', (ROOT / "config" / "gz_bridge.yaml").read_text()))
    used.discard("shadowpeft_ros")
    assert used - declared == set(), "used but not declared in package.xml"


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


def test_the_demo_serves_the_attached_model_and_the_robot_defaults_to_detached_only(recording_launch):
    launched, server = _launched(recording_launch({}))
    assert server is None and launched["interpreter"][1]["offload.url"] == ""
    assert launched["interpreter"][1]["mode"] == "auto"
    _, offload = _started_by_runner([])
    assert offload is not None and offload.host == "127.0.0.1"
    for argv in (["--offload", "none"], ["--set", "interpreter.mode=detached"]):
        started, offload = _started_by_runner(argv)
        assert offload is None and started["interpreter"][1]["offload.url"] == "", argv
