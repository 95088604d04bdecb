"""``shadowpeft soup``: average adapters trained on from the same start into one (a model soup)."""

from __future__ import annotations

from . import CliError, HelpFormatter

EPILOG = """\
example:
  shadowpeft soup --out runs/soup/s8_12 models/adapters/shadow runs/gen12/shadow
  shadowpeft soup --out runs/soup/mix models/adapters/shadow@2 runs/gen12/shadow@1

Each tensor of the result is the weighted mean of the ingredients' (weights default to 1 and are
normalised). The adapters must share their PEFT config and tensors: soups work for runs that
trained on from one adapter, not for unrelated ones. The first adapter's train_config.json is
copied (it names the backbone); soup.json records the ingredients, their weights, hashes and
training settings; metrics.json the trainable-parameter count, as training writes it.
Measure a soup on the dev split before shipping it (`python -m shadowpeft_ros.interpreter.report`).
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "soup", help="Average adapters trained on from the same start (a model soup).", description=__doc__,
        formatter_class=HelpFormatter, epilog=EPILOG,
    )
    parser.add_argument("adapters", nargs="+", metavar="ADAPTER[@WEIGHT]", help="Adapter directories, two or more.")
    parser.add_argument("--out", required=True, help="Directory to write the soup to.")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..interpreter.soup import average_adapters, parse_ingredient

    try:
        paths, weights = zip(*(parse_ingredient(spec) for spec in args.adapters))
        meta = average_adapters(paths, args.out, weights)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    for ingredient in meta["soup"]:
        print(f"  {ingredient['weight']:.3f} x {ingredient['adapter']}")
    print(f"soup of {len(meta['soup'])} adapters ({meta['tensors']} tensors) -> {args.out}")
    return 0
