"""Shared test set-up: an isolated DDS domain per test session, and the slow marker."""

import os
import random

# Tests in parallel sessions on one machine must not hear each other's topics.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# -- the colcon install of this package (scripts/build_ros.sh), for the generated-type tests ------

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ros_install():
    """Return the environment a ROS user has after `source install/setup.bash` of this package's colcon build.

    scripts/test.sh builds it and sets SHADOWPEFT_ROS_INSTALL, and then a missing install fails the
    tests that need it; a bare pytest run without a build skips them, saying how to build.
    """
    required = "SHADOWPEFT_ROS_INSTALL" in os.environ
    install = Path(os.environ.get("SHADOWPEFT_ROS_INSTALL", ROOT / ".colcon" / "install"))
    if not install.is_absolute():
        install = ROOT / install
    setup = install / "setup.bash"
    # Rebuild when the sources changed since the last build (about a second when nothing did), so
    # these tests never run an install older than the code beside them.
    build = subprocess.run([str(ROOT / "scripts" / "build_ros.sh")], capture_output=True, text=True,
                           env=dict(os.environ, SHADOWPEFT_SKIP_SETUP="1", SHADOWPEFT_VENV=sys.prefix,
                                    SHADOWPEFT_COLCON_WS=str(install.parent)))
    if build.returncode != 0 or not (install / "shadowpeft_ros" / "share" / "shadowpeft_ros" / "package.xml").is_file():
        message = f"no colcon install of shadowpeft_ros at {install}: scripts/build_ros.sh says\n{build.stderr[-2000:]}"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    # The venv prefix stays on AMENT_PREFIX_PATH, as the build had it: the wheels' packages live there.
    base = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix)
    out = subprocess.run(["bash", "-c", f"source {setup} >/dev/null && env -0"], env=base, capture_output=True,
                         check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


@pytest.fixture(scope="session")
def tiny_detached(tmp_path_factory):
    """A detached shadow export of a tiny trained Qwen3: seconds to make, loads in the interpreter node."""
    from shadowpeft_ros.interpreter.export import export_detached
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone, tiny_train_config
    from shadowpeft_ros.interpreter.train import train

    root = tmp_path_factory.mktemp("tiny")
    backbone = save_tiny_backbone(root / "backbone", "qwen3")
    train(tiny_train_config("shadow", backbone, root / "adapter", steps=2), progress=False)
    export_detached(str(root / "adapter"), str(root / "detached"), None)
    return root / "detached"
