"""Run the dog in Gazebo (gz sim): a world, the same URDF MuJoCo uses, and a ros_gz bridge.

    ros2 launch shadowpeft_ros sim_gazebo.launch.py            # alone
    ros2 launch shadowpeft_ros dog.launch.py sim:=gazebo       # with the voice pipeline

How the dog follows /cmd_vel in Gazebo, plainly: it does not walk there. The URDF's <gazebo>
blocks load gz's VelocityControl system on the base, which moves the whole model from /cmd_vel
like a planar holonomic base, JointPositionController systems that hold the twelve leg joints at
the stand pose, OdometryPublisher for /odom and JointStatePublisher for /joint_states. Postures and
tricks have no effect there (no /dog/posture_state is published, so the motion node falls back to
time-based postures). The trot gait is the MuJoCo simulator's (shadowpeft_ros.sim).

Needs a ROS 2 install with ros_gz_sim, ros_gz_bridge and robot_state_publisher (for example
ros-jazzy-ros-gz). Run the other nodes with use_sim_time:=true: the bridge publishes Gazebo's /clock.
launch and launch_ros are imported inside generate_launch_description, so this file loads (and is
checked by test/test_sim_gazebo_static.py) on machines without them.
"""

from pathlib import Path

MODEL_NAME = "go2_like"
WORLD_NAME = "dog_world"
SPAWN_HEIGHT_M = 0.33


def _share() -> Path:
    """Return the installed share directory of shadowpeft_ros, or the source tree when not installed."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("shadowpeft_ros"))
    except Exception:  # not installed with colcon (PackageNotFoundError, or no AMENT_PREFIX_PATH at all)
        return Path(__file__).resolve().parent.parent


def paths():
    """Return the URDF, world and bridge config this launch file uses."""
    share = _share()
    return {
        "urdf": share / "models" / MODEL_NAME / f"{MODEL_NAME}.urdf",
        "world": share / "worlds" / f"{WORLD_NAME}.sdf",
        "bridge": share / "config" / "gz_bridge.yaml",
    }


def generate_launch_description():
    """Return gz sim with the world, the spawned URDF, the bridge and robot_state_publisher."""
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    files = paths()
    gz_sim = Path(get_package_share_directory("ros_gz_sim")) / "launch" / "gz_sim.launch.py"
    headless = LaunchConfiguration("headless")
    return LaunchDescription([
        DeclareLaunchArgument("headless", default_value="false", choices=["true", "false"],
                              description="Run the gz server only (-s), without the GUI."),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(gz_sim)),
            launch_arguments={"gz_args": f"-r {files['world']}", "on_exit_shutdown": "true"}.items(),
            condition=_unless(headless)),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(gz_sim)),
            launch_arguments={"gz_args": f"-r -s {files['world']}", "on_exit_shutdown": "true"}.items(),
            condition=_if(headless)),
        Node(package="ros_gz_sim", executable="create", output="screen",
             arguments=["-world", WORLD_NAME, "-name", MODEL_NAME, "-file", str(files["urdf"]),
                        "-z", str(SPAWN_HEIGHT_M)]),
        Node(package="ros_gz_bridge", executable="parameter_bridge", output="screen",
             parameters=[{"config_file": str(files["bridge"]), "use_sim_time": True}]),
        Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
             parameters=[{"robot_description": files["urdf"].read_text(), "use_sim_time": True}]),
    ])


def _if(value):
    from launch.conditions import IfCondition

    return IfCondition(value)


def _unless(value):
    from launch.conditions import UnlessCondition

    return UnlessCondition(value)
