"""``shadowpeft export``: write the detached shadow of a ShadowPEFT adapter as a standalone model."""

from __future__ import annotations

from . import CliError, HelpFormatter

EPILOG = """\
example:
  shadowpeft export --adapter models/adapters/shadow --out out/detached/shadow

The export runs without the backbone: load it with DetachedEngine.from_export(DIR) or
`shadowpeft interpret --mode detached --detached DIR`.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="Export the detached shadow model of a ShadowPEFT adapter.", description=__doc__,
        formatter_class=HelpFormatter, epilog=EPILOG,
    )
    parser.add_argument("--adapter", default="models/adapters/shadow", help="Trained ShadowPEFT adapter directory.")
    parser.add_argument("--out", default="out/detached/shadow", help="Export directory (keep it out of git).")
    parser.add_argument("--backbone", default=None,
                        help="Backbone id or path (default: the one in the adapter's train_config.json).")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                        help="Weight dtype of the export.")
    parser.set_defaults(func=run)


def run(args) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..interpreter.export import export_detached

    try:
        meta = export_detached(args.adapter, args.out, backbone=args.backbone, dtype=args.dtype)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"exported {args.adapter} -> {args.out}")
    print(f"parameters: {meta['parameters']:,} ({meta['backbone_class']}, tied head: {meta['tied_head']})")
    print(f"size on disk: {meta['size_bytes'] / 2**20:.1f} MiB ({meta['dtype']})")
    return 0
