"""Map ROS parameters onto the core's options dataclasses, in one place."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Iterable, Type, TypeVar

from rclpy.exceptions import InvalidParameterValueException
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

T = TypeVar("T")


def range_descriptor(description: str, low=None, high=None, *, integer: bool = False,
                     dynamic_typing: bool = False) -> ParameterDescriptor:
    """Return a ParameterDescriptor with help text and, when ``low`` and ``high`` are given, their range.

    ROS then refuses values outside [low, high] at declaration and at every set, and
    ``ros2 param describe`` shows the range.
    """
    descriptor = ParameterDescriptor(description=description, dynamic_typing=dynamic_typing)
    if low is not None and high is not None:
        if integer:
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high),
                                                                  step=0.0)]
    return descriptor


def declare_options(node, options_cls: Type[T], prefix: str = "", exclude: Iterable[str] = (), **overrides: Any) -> T:
    """Declare one ROS parameter per field of ``options_cls`` and build the options from their values.

    Defaults and help text come from the dataclass, so ``ros2 param describe`` shows the same
    documentation as ``--help``; a field's ``metadata["range"] = (low, high)`` becomes the descriptor's
    range. A wrong type or value in the parameter file raises here, at start-up.
    Fields named in ``exclude`` are not declared: they keep their ``overrides`` value or default.
    """
    hints = typing.get_type_hints(options_cls)
    values = {}
    for f in dataclasses.fields(options_cls):
        if not f.init:
            continue
        if f.name in exclude:
            if f.name in overrides:
                values[f.name] = overrides[f.name]
            continue
        default = overrides.get(f.name, f.default)
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        if isinstance(default, tuple):
            default = list(default)
        name = f"{prefix}{f.name}"
        # A float parameter also takes an integer ("deadline_s: 2" in YAML, or --set x=2).
        is_float = isinstance(default, float)
        low, high = f.metadata.get("range", (None, None))
        is_int = isinstance(default, int) and not isinstance(default, bool)
        descriptor = range_descriptor(f.metadata.get("help", ""), low, high, integer=is_int, dynamic_typing=is_float)
        if default is None or default is dataclasses.MISSING:
            # A parameter without a typed default must still have a type: strings are the only
            # optional values the options use (a path or URL that may be empty).
            default = ""
        try:
            value = node.declare_parameter(name, default, descriptor).value
        except InvalidParameterValueException as exc:
            # Out of its declared range: one exception type for every bad value at start-up.
            raise ValueError(f"parameter {name}: {exc}") from None
        if is_float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"parameter {name} must be a number, got {value!r}")
            value = float(value)
        if hints.get(f.name) in (typing.Optional[str],) and value == "":
            value = None
        if isinstance(value, list) and isinstance(f.default, tuple):
            value = tuple(value)
        values[f.name] = value
    return options_cls(**values)
