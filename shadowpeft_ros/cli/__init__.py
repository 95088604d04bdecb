"""The ``shadowpeft`` command line: one module per subcommand, each with ``register`` and ``run``.

Registration must stay cheap: subcommand modules import torch, rclpy or MuJoCo inside ``run``,
never at module level, so ``shadowpeft --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS = ("dog", "transcribe", "interpret", "train", "export", "soup", "serve", "eval", "data")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the hand-written layout of descriptions and epilogs."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shadowpeft",
        description="Voice control of a quadruped robot dog with a ShadowPEFT-adapted language model.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="More log output (-vv for debug).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            # Say plainly what this build lacks instead of pretending.
            missing = sub.add_parser(name, help="(not built yet in this version)")
            missing.set_defaults(func=_not_built(name))
            continue
        module.register(sub)
    return parser


def _not_built(name):
    def run(args):
        raise CliError(f"the '{name}' command is not built yet in this version of shadowpeft_ros")

    return run


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"shadowpeft {args.command}: error: {exc}", file=sys.stderr)
        return 2


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""
