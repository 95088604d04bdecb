"""The one table of nodes that both starters read: ``launch/dog.launch.py`` and ``shadowpeft dog``.

Each row names a node, where its class lives and when it runs. Parameters come from one YAML
file (``config/dog.yaml`` by default) in the ``ros2 launch`` parameter-file format, and the
start-up arguments below override single parameters in the same way for both starters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .params_file import ParamsFileError, load_params_file
from .paths import default_params_file

SIMULATORS = ("mujoco", "gazebo", "none")
TIME_MODES = ("real", "sim")
# Where dog.launch.py serves the attached model for offload_url:=local (shadowpeft dog picks a free port).
LOCAL_OFFLOAD_HOST = "127.0.0.1"
LOCAL_OFFLOAD_PORT = 8765


class NodeTableError(ValueError):
    """The parameter file or a start-up argument is wrong; nothing is started."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    executable: str
    module: str
    class_name: str
    summary: str
    # Decides from the resolved start-up arguments whether the node runs.
    enabled: Callable[[Mapping[str, str]], bool] = lambda args: True
    # A managed (lifecycle) node: both starters drive configure, then activate.
    lifecycle: bool = False
    # Runs on the simulator's /clock when there is one (use_sim_time). Only the motion node's control
    # loop closes around the physics; speech, interpreter and speaker measure wall-clock latencies.
    follows_sim_clock: bool = False


@dataclass(frozen=True)
class StartupArgument:
    name: str
    default: str
    help: str
    # (node, parameter) pairs that a non-empty value overrides.
    targets: Tuple[Tuple[str, str], ...] = ()
    choices: Optional[Tuple[str, ...]] = None


# Started in this order. Audio input comes last: a WAV source starts playing once something
# listens on /voice/command, and the interpreter subscribes only when its models are loaded.
NODES: Tuple[NodeSpec, ...] = (
    NodeSpec("interpreter", "interpreter_node", "shadowpeft_ros.nodes.interpreter_node", "InterpreterNode",
             "/voice/command -> ShadowPEFT model (detached on board, attached offloaded) -> /dog/plan, /dog/say",
             lifecycle=True),
    NodeSpec("motion", "motion_node", "shadowpeft_ros.nodes.motion_node", "MotionNode",
             "/dog/plan -> safety layer -> /cmd_vel and /dog/posture; /dog/estop service", follows_sim_clock=True),
    NodeSpec("sim", "sim_node", "shadowpeft_ros.nodes.sim_node", "SimNode",
             "MuJoCo quadruped: /cmd_vel, /dog/posture -> physics -> /odom, /joint_states",
             enabled=lambda a: a["sim"] == "mujoco"),
    NodeSpec("speaker", "speaker_node", "shadowpeft_ros.nodes.speaker_node", "SpeakerNode",
             "/dog/say -> espeak-ng", enabled=lambda a: a["speaker"] == "true"),
    NodeSpec("speech", "speech_node", "shadowpeft_ros.nodes.speech_node", "SpeechNode",
             "microphone or WAV audio -> VAD -> Whisper -> /voice/command",
             enabled=lambda a: a["audio_source"] != "none"),
)

STARTUP_ARGUMENTS: Tuple[StartupArgument, ...] = (
    StartupArgument("params_file", "", "Parameter file (ROS 2 YAML); empty means the package's config/dog.yaml."),
    StartupArgument("sim", "mujoco", "Simulator to run beside the nodes: mujoco (in-process physics), "
                    "gazebo (gz sim + ros_gz_bridge, ROS 2 install only) or none (a real dog's driver).",
                    choices=SIMULATORS),
    StartupArgument("time_mode", "", "Clock of the MuJoCo simulator: 'real' paces physics to the wall clock, 'sim' "
                    "runs it as fast as it can and publishes /clock (the motion node then runs on use_sim_time). "
                    "Empty keeps the parameter file's value.", targets=(("sim", "time_mode"),)),
    StartupArgument("audio_source", "", "Audio input: 'mic', a WAV file, a directory of WAV files, or 'none' to "
                    "run without the speech node. Empty keeps the parameter file's value.",
                    targets=(("speech", "source"),)),
    StartupArgument("offload_url", "", "URL of the attached-model server (shadowpeft serve). Empty keeps the "
                    "parameter file's value; 'none' disables offload; 'local' starts a server (shadowpeft serve) on "
                    "loopback for this run.", targets=(("interpreter", "offload.url"),)),
    StartupArgument("offload_token", "", "Bearer token for the offload server (or set SHADOWPEFT_TOKEN).",
                    targets=(("interpreter", "offload.token"),)),
    StartupArgument("detached_model", "", "Directory of the exported detached shadow model (shadowpeft export).",
                    targets=(("interpreter", "detached_path"),)),
    StartupArgument("attached_adapter", "", "Directory of the shadow adapter for the attached backbone.",
                    targets=(("interpreter", "adapter_path"),)),
    StartupArgument("backbone", "", "Backbone model id or path for the attached model.",
                    targets=(("interpreter", "backbone"),)),
    StartupArgument("whisper_model", "", "Whisper model: a CTranslate2 directory, a checkpoint or a model name.",
                    targets=(("speech", "model"),)),
    StartupArgument("speaker", "false", "Speak replies through espeak-ng (true or false).",
                    choices=("true", "false")),
)

ARGUMENTS_BY_NAME = {a.name: a for a in STARTUP_ARGUMENTS}
NODES_BY_NAME = {n.name: n for n in NODES}


def resolve_arguments(given: Mapping[str, str]) -> Dict[str, str]:
    """Fill in defaults and check start-up arguments; unknown names and bad choices raise."""
    unknown = sorted(set(given) - set(ARGUMENTS_BY_NAME))
    if unknown:
        raise NodeTableError(f"unknown start-up arguments {unknown}; known are {sorted(ARGUMENTS_BY_NAME)}")
    resolved = {a.name: str(given.get(a.name, a.default) if given.get(a.name) is not None else a.default)
                for a in STARTUP_ARGUMENTS}
    for arg in STARTUP_ARGUMENTS:
        if arg.choices and resolved[arg.name] not in arg.choices:
            raise NodeTableError(f"{arg.name} must be one of {list(arg.choices)}, got {resolved[arg.name]!r}")
    if resolved["time_mode"] not in ("",) + TIME_MODES:
        raise NodeTableError(f"time_mode must be one of {list(TIME_MODES)} (or empty), got {resolved['time_mode']!r}")
    return resolved


def _params_table(args: Mapping[str, str]) -> Dict[str, Dict[str, Any]]:
    path = Path(args["params_file"]) if args["params_file"] else default_params_file()
    try:
        table = load_params_file(path)
    except ParamsFileError as exc:
        raise NodeTableError(str(exc)) from None
    unknown = sorted(set(table) - set(NODES_BY_NAME) - {"/**"})
    if unknown:
        raise NodeTableError(f"{path}: unknown node sections {unknown}; known are {sorted(NODES_BY_NAME)}")
    return table


def common_parameter_names(given: Mapping[str, str]) -> set:
    """Return the names set for every node ("/**"); as in ROS, a node that does not declare one ignores it."""
    return set(_params_table(resolve_arguments(given)).get("/**", {}))


def plan_nodes(given: Mapping[str, str]) -> List[Tuple[NodeSpec, Dict[str, Any]]]:
    """Return the nodes to start and each one's parameters, from start-up arguments and the parameter file."""
    args = resolve_arguments(given)
    table = _params_table(args)
    common = table.get("/**", {})
    planned = []
    for spec in NODES:
        if not spec.enabled(args):
            continue
        params = dict(common)
        params.update(table.get(spec.name, {}))
        for arg in STARTUP_ARGUMENTS:
            value = args[arg.name]
            for node_name, param in arg.targets:
                if node_name == spec.name and value != "":
                    params[param] = value
        if spec.name == "interpreter" and params.get("offload.url") == "none":
            params["offload.url"] = ""
        planned.append((spec, params))
    # A simulator with a /clock: MuJoCo in sim time, or Gazebo (its bridge publishes /clock).
    sim_time_mode = table.get("sim", {}).get("time_mode", "real") if args["time_mode"] == "" else args["time_mode"]
    sim_clock = (args["sim"] == "mujoco" and sim_time_mode == "sim") or args["sim"] == "gazebo"
    for spec, params in planned:
        if spec.follows_sim_clock and sim_clock:
            params["use_sim_time"] = True
    return planned


@dataclass(frozen=True)
class LocalOffload:
    """The offload server that offload_url 'local' starts for one run, on loopback."""

    adapter: str
    backbone: str
    engine: str = "generate"
    host: str = LOCAL_OFFLOAD_HOST
    # The loopback server shares the robot's cores with the simulator and the on-board model. With torch's
    # default of one thread per core its threads wait on each other behind the simulator: the demo's remote
    # answer took 2.2-2.5 s with the default and 1.6 s with one thread, on 2 cores, against a 3 s deadline.
    torch_threads: int = 1


def local_offload(planned) -> Optional[LocalOffload]:
    """Return the loopback offload server the planned interpreter asks for (offload.url 'local'), or None."""
    for spec, params in planned:
        if spec.name == "interpreter" and params.get("offload.url") == "local":
            return LocalOffload(adapter=str(params.get("adapter_path", "")), backbone=str(params.get("backbone", "")))
    return None
