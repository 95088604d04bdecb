"""Start the offload server (`shadowpeft serve`) on a workstation, for robots running dog.launch.py.

    ros2 launch shadowpeft_ros offload_server.launch.py host:=0.0.0.0 port:=8080 \\
        adapter:=/path/to/models/adapters/shadow token:=$SHADOWPEFT_TOKEN

and on each robot:

    ros2 launch shadowpeft_ros dog.launch.py offload_url:=http://<workstation>:8080 offload_token:=$SHADOWPEFT_TOKEN

The same without ROS 2: `SHADOWPEFT_TOKEN=... shadowpeft serve --host 0.0.0.0 --port 8080 --adapter ...`.
The token travels in the environment, never on the command line (where `ps` would show it); an
empty token argument keeps the SHADOWPEFT_TOKEN of the launching shell. The server is stateless:
for more robots, start it on several machines behind any HTTP load balancer (health check: /readyz).
launch and launch_ros are imported inside the functions, so this file loads without them.
"""

SERVER_ARGUMENTS = (
    # (name, default, description, flag of `shadowpeft serve`)
    ("host", "0.0.0.0", "Address to listen on (0.0.0.0: all interfaces; needs a token).", "--host"),
    ("port", "8080", "TCP port.", "--port"),
    ("token", "", "Bearer token robots must send; empty keeps $SHADOWPEFT_TOKEN of the launching shell.", None),
    ("engine", "generate", "Engine: generate (backbone + PEFT adapter, batched), attached, or module:factory.",
     "--engine"),
    ("adapter", "", "Adapter directory (shadow, LoRA or DoRA); empty serves the bare backbone.", "--adapter"),
    ("backbone", "", "Backbone id or directory; empty: the one the adapter was trained on.", "--backbone"),
    ("max_batch", "8", "Most requests per forward pass.", "--max-batch"),
    ("max_queue", "32", "Waiting requests before the server answers 503.", "--max-queue"),
    ("insecure", "false", "true: allow a public address without a token (trusted networks only).", None),
)


def server_command(arguments):
    """Return (argv, extra environment) of `shadowpeft serve` for resolved launch arguments."""
    argv = ["shadowpeft", "serve"]
    for name, _default, _help, flag in SERVER_ARGUMENTS:
        value = str(arguments.get(name, "")).strip()
        if flag and value:
            argv += [flag, value]
    if str(arguments.get("insecure", "false")).lower() == "true":
        argv.append("--insecure")
    env = {"SHADOWPEFT_TOKEN": arguments["token"]} if arguments.get("token") else {}
    return argv, env


def _launch_setup(context, *args, **kwargs):
    from launch.actions import ExecuteProcess
    from launch.substitutions import LaunchConfiguration

    arguments = {name: context.perform_substitution(LaunchConfiguration(name)) for name, *_ in SERVER_ARGUMENTS}
    argv, env = server_command(arguments)
    return [ExecuteProcess(cmd=argv, additional_env=env, output="screen", name="offload_server",
                           sigterm_timeout="5")]


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description, _flag in SERVER_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_launch_setup)])
