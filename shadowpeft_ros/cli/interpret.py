"""``shadowpeft interpret``: turn utterances into plans, one JSON line per input."""

from __future__ import annotations

import json
import sys

from . import CliError, HelpFormatter

EPILOG = """\
examples:
  shadowpeft interpret --text "hey dog, walk forward two meters, then sit" --mode detached
  shadowpeft interpret --file utterances.txt --mode auto     # one utterance per line
Each output line: {"text", "plan", "route", "latency_s", "decision", "raw_text", "confidence", ...}
"""


def register(subparsers) -> None:
    from ..interpreter.interpreter import MODES, InterpreterOptions

    defaults = InterpreterOptions()
    parser = subparsers.add_parser(
        "interpret", help="Interpret utterances into command-language plans.", description=__doc__,
        formatter_class=HelpFormatter, epilog=EPILOG,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="An utterance (repeatable).")
    source.add_argument("--file", help="A file with one utterance per line ('-' for stdin).")
    parser.add_argument("--mode", choices=MODES, default=defaults.mode, help="Which model(s) to use.")
    parser.add_argument("--detached", default=defaults.detached_path, help="Detached export directory.")
    parser.add_argument("--adapter", default=defaults.adapter_path, help="Adapter directory for the attached model.")
    parser.add_argument("--backbone", default=defaults.backbone, help="Backbone override for the attached model.")
    parser.add_argument("--threshold", type=float, default=defaults.confidence_threshold,
                        help="Auto mode escalates below this confidence.")
    parser.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens, help="Generation budget.")
    parser.set_defaults(func=run)


def run(args) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..interpreter.interpreter import Interpreter, InterpreterOptions

    try:
        options = InterpreterOptions(mode=args.mode, detached_path=args.detached, adapter_path=args.adapter,
                                     backbone=args.backbone, confidence_threshold=args.threshold,
                                     max_new_tokens=args.max_new_tokens)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.text:
        texts = args.text
    else:
        try:
            handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {args.file}: {exc}") from None
        with handle:
            texts = [line.rstrip("\n") for line in handle if line.strip()]
    interpreter = Interpreter(options)
    try:
        interpreter.load()
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    for i, text in enumerate(texts):
        result = interpreter.interpret(text, command_id=str(i))
        line = {"text": text, "plan": result.plan.to_dict(), "route": result.route, "latency_s": result.latency_s,
                "decision": result.decision, "raw_text": result.raw_text,
                "confidence": result.to_dict()["confidence"]}
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0
