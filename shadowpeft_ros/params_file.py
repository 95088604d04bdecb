"""The robot's parameter file, in ROS 2's ``ros__parameters`` YAML format, read without ROS.

The node table starts nodes from it; core code (the ASR training cache, the evaluation) reads
the same sections so that it follows the robot's settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping

import yaml


class ParamsFileError(ValueError):
    """The parameter file is missing or not in the ``ros__parameters`` format."""


def load_params_file(path: os.PathLike) -> Dict[str, Dict[str, Any]]:
    """Read a ROS 2 parameter file into {node name: {dotted parameter: value}}."""
    path = Path(path)
    if not path.is_file():
        raise ParamsFileError(f"parameter file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsFileError(f"parameter file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParamsFileError(f"parameter file {path} must map node names to {{ros__parameters: ...}}")
    table: Dict[str, Dict[str, Any]] = {}
    for node_name, section in data.items():
        if not isinstance(section, dict) or set(section) != {"ros__parameters"}:
            raise ParamsFileError(f"{path}: section {node_name!r} must hold exactly 'ros__parameters'")
        table[node_name] = _flatten(section["ros__parameters"] or {})
    return table


def _flatten(params: Mapping, prefix: str = "") -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
