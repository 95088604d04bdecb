"""Start the whole dog: the nodes of shadowpeft_ros/node_table.py with the parameters of config/dog.yaml.

    ros2 launch shadowpeft_ros dog.launch.py sim:=mujoco audio_source:=mic offload_url:=http://gpu-box:8080

`shadowpeft dog` starts the same table in one process; both read node_table.plan_nodes, and
test/test_node_table.py holds what this file hands to launch against what `shadowpeft dog` starts.
Lifecycle nodes (the interpreter) are configured once their process is up and activated once
configured, with launch_ros's lifecycle events (as in ros2/launch_ros's lifecycle examples).
offload_url:=local starts `shadowpeft serve` on loopback beside the nodes, with a fresh token.
launch and launch_ros are imported inside the functions that need them, so this file also loads
where they are absent (a pip install), which is how the tests inspect it.
"""

import secrets

from shadowpeft_ros import node_table
from shadowpeft_ros.paths import PACKAGE, package_share


def launch_entries(arguments):
    """Return (package, executable, node name, parameters) for each node the arguments start."""
    return [(PACKAGE, spec.executable, spec.name, params)
            for spec, params in node_table.plan_nodes(arguments)]


def offload_server_process(offload, token):
    """Return (argv, extra environment) of the loopback offload server for offload_url:=local."""
    argv = ["shadowpeft", "serve", "--host", offload.host, "--port", str(node_table.LOCAL_OFFLOAD_PORT),
            "--engine", offload.engine]
    if offload.adapter:
        argv += ["--adapter", offload.adapter]
    if offload.backbone:
        argv += ["--backbone", offload.backbone]
    if offload.torch_threads:
        argv += ["--torch-threads", str(offload.torch_threads)]
    # The token travels in the environment, never on the command line (where `ps` would show it).
    return argv, {"SHADOWPEFT_TOKEN": token}


def _lifecycle_actions(node):
    """Configure the node when its process starts, activate it when it reaches inactive."""
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.events import matches_action
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                              transition_id=Transition.TRANSITION_ACTIVATE))]))
    return [activate, configure]


def _launch_setup(context, *args, **kwargs):
    from launch.actions import ExecuteProcess, IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_ros.actions import LifecycleNode, Node

    arguments = {a.name: context.perform_substitution(_configuration(a.name)) for a in node_table.STARTUP_ARGUMENTS}
    planned = node_table.plan_nodes(arguments)
    actions = []
    offload = node_table.local_offload(planned)
    if offload is not None:
        token = secrets.token_urlsafe(24)
        argv, env = offload_server_process(offload, token)
        actions.append(ExecuteProcess(cmd=argv, additional_env=env, output="screen", name="offload_server",
                                      sigterm_timeout="5"))
        for spec, params in planned:
            if spec.name == "interpreter":
                params["offload.url"] = f"http://{offload.host}:{node_table.LOCAL_OFFLOAD_PORT}"
                params["offload.token"] = token
    for spec, params in planned:
        common = dict(package=PACKAGE, executable=spec.executable, name=spec.name, parameters=[params],
                      output="screen", emulate_tty=True)
        if spec.lifecycle:
            node = LifecycleNode(namespace="", **common)
            actions += [node] + _lifecycle_actions(node)
        else:
            actions.append(Node(**common))
    if arguments["sim"] == "gazebo":
        gazebo = package_share() / "launch" / "sim_gazebo.launch.py"
        actions.append(IncludeLaunchDescription(PythonLaunchDescriptionSource(str(gazebo))))
    return actions


def _configuration(name):
    from launch.substitutions import LaunchConfiguration

    return LaunchConfiguration(name)


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.help,
                                      **({"choices": list(a.choices)} if a.choices else {}))
                for a in node_table.STARTUP_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_launch_setup)])
