"""Where the package's files are: config/, launch/, models/ and the shipped adapters (ROS-free).

On a colcon install they are in the ament share directory; in a source tree or an editable pip
install, beside the package; on a plain pip install, under the environment's prefix.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "shadowpeft_ros"


def package_share() -> Path:
    """Return the directory holding config/, launch/ and models/: the ament share dir, or the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory, PackageNotFoundError

        try:
            return Path(get_package_share_directory(PACKAGE))
        except (PackageNotFoundError, OSError):
            # OSError: no AMENT_PREFIX_PATH at all, as on a pip install.
            pass
    except ImportError:
        pass
    source_tree = Path(__file__).resolve().parent.parent
    if (source_tree / "config").is_dir():
        return source_tree
    return Path(sys.prefix) / "share" / PACKAGE


def default_params_file() -> Path:
    """Return the parameter file the robot, the demo and the tools read unless told otherwise."""
    return package_share() / "config" / "dog.yaml"
