#!/usr/bin/env python3
"""Print a node's declared parameters as a config/dog.yaml section, with each parameter's help as a comment.

    .venv/bin/python scripts/print_node_params.py motion sim

Used to keep config/dog.yaml complete when a node gains a parameter (test/test_ros_conventions.py
fails until it is). Construction only declares parameters: the interpreter, a lifecycle node, loads
its models in configure, which this does not run. Parameters that the /** section sets for every
node are printed too: leave those out of the node's own section.
"""

import argparse
import importlib

import rclpy
import yaml

from shadowpeft_ros.node_table import NODES_BY_NAME


def section(node_name: str) -> str:
    spec = NODES_BY_NAME[node_name]
    node = getattr(importlib.import_module(spec.module), spec.class_name)()
    try:
        lines = [f"{node_name}:", "  ros__parameters:"]
        for name in sorted(node._parameters):
            if name in ("use_sim_time", "start_type_description_service", "transport"):
                continue
            help_text = node.describe_parameter(name).description
            if help_text:
                lines.append(f"    # {help_text}")
            value = yaml.safe_dump({name: node.get_parameter(name).value}, default_flow_style=True).strip()[1:-1]
            lines.append(f"    {value}")
        return "\n".join(lines)
    finally:
        node.destroy_node()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nodes", nargs="+", choices=sorted(NODES_BY_NAME))
    args = parser.parse_args()
    rclpy.init()
    try:
        for name in args.nodes:
            print(section(name))
            print()
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
