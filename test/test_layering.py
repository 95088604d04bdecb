"""The core of shadowpeft_ros runs without ROS: no core module imports the nodes, the node table or rclpy.

"Core" is every module of the package outside the ROS layer: ``nodes/`` (the rclpy adapters),
``node_table.py`` (what the starters start) and ``cli/`` (the commands, which start nodes). The
scan reads the source, so an import inside a function counts as much as one at module level.
"""

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "shadowpeft_ros"
ROS_LAYER = ("shadowpeft_ros.nodes", "shadowpeft_ros.node_table", "shadowpeft_ros.cli", "shadowpeft_ros.__main__")
# What a core module must not import: the ROS layer of this package, its generated message types,
# and the ROS client library with the message packages it brings.
FORBIDDEN = ("shadowpeft_ros.nodes", "shadowpeft_ros.node_table", "shadowpeft_ros.msg", "rclpy", "rcl_interfaces",
             "std_msgs", "std_srvs", "geometry_msgs", "nav_msgs", "sensor_msgs", "diagnostic_msgs",
             "builtin_interfaces", "lifecycle_msgs", "rosgraph_msgs", "launch", "launch_ros")
# There are no exceptions. paths.package_share asks ament_index_python, the index of installed
# packages, which works without ROS and falls back to the source tree where it is missing.


def _module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _imports(path: Path, package_dir: Path = PACKAGE_DIR):
    """Yield every module name a source file imports, with relative imports resolved and names of ``from`` included."""
    module = _module_name(path, package_dir)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield target
            # "from .. import node_table" names the module in the imported names.
            yield from (f"{target}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.args[0].value


def core_modules():
    return [p for p in sorted(PACKAGE_DIR.rglob("*.py")) if not _within(_module_name(p), ROS_LAYER)]


def test_the_scan_sees_every_kind_of_import(tmp_path):
    probe = PACKAGE_DIR / "evaluation" / "metrics.py"
    found = set(_imports(probe))
    assert "shadowpeft_ros.plan" in found and "shadowpeft_ros.safety" in found
    fake = tmp_path / "shadowpeft_ros" / "sim" / "fake.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("import rclpy.node\nfrom .. import node_table\n\ndef f():\n    from ..nodes.common import COMMAND_QOS\n"
                    "    importlib.import_module('shadowpeft_ros.msg')\n")
    found = set(_imports(fake, tmp_path / "shadowpeft_ros"))
    for name in ("rclpy.node", "shadowpeft_ros.node_table", "shadowpeft_ros.nodes.common", "shadowpeft_ros.msg"):
        assert name in found, name


def test_no_core_module_imports_the_ros_layer():
    modules = core_modules()
    assert len(modules) > 40 and not any("/nodes/" in str(p) for p in modules)
    offences = []
    for path in modules:
        module = _module_name(path)
        for name in _imports(path):
            if _within(name, FORBIDDEN):
                offences.append(f"{module} imports {name}")
    assert offences == []
