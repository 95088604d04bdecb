"""Start the whole dog: the nodes of shadowpeft_ros/node_table.py with the parameters of config/dog.yaml.

    ros2 launch shadowpeft_ros dog.launch.py sim:=mujoco audio_source:=mic offload_url:=http://gpu-box:8080

`shadowpeft dog` starts the same table in one process; both read node_table.plan_nodes, so the
two cannot drift apart. launch and launch_ros are imported inside the functions that need them,
so this file also loads where they are absent (a pip install), which is how the tests inspect it.
"""

from shadowpeft_ros import node_table


def launch_entries(arguments):
    """Return (package, executable, node name, parameters) for each node the arguments start."""
    return [(node_table.PACKAGE, spec.executable, spec.name, params)
            for spec, params in node_table.plan_nodes(arguments)]


def _launch_setup(context, *args, **kwargs):
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_ros.actions import Node

    arguments = {a.name: context.perform_substitution(_configuration(a.name)) for a in node_table.STARTUP_ARGUMENTS}
    actions = [Node(package=package, executable=executable, name=name, parameters=[params], output="screen",
                    emulate_tty=True)
               for package, executable, name, params in launch_entries(arguments)]
    if arguments["sim"] == "gazebo":
        gazebo = node_table.package_share() / "launch" / "sim_gazebo.launch.py"
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
