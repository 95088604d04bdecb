"""``shadowpeft interpret``: decide utterances as the robot does, one JSON line per input.

The settings come from the robot's parameter file (config/dog.yaml: mode, threshold, stop words,
offload deadline, limits), so the plans here are the robot's plans; flags override single values.
"""

from __future__ import annotations

import json
import sys

from . import CliError, HelpFormatter

EPILOG = """\
examples:
  shadowpeft interpret --text "hey dog, walk forward two meters, then sit"           # detached on board
  shadowpeft interpret --text "what is the capital of France" --offload http://gpu-box:8080 --token $TOKEN
  shadowpeft interpret --offload local --file utterances.txt   # a loopback server for this run
  shadowpeft interpret --mode detached --file -                 # one utterance per line on stdin

Each output line: {"text", "plan", "route", "decision", "reason", "escalated", "latency_s", "raw_text",
"confidence", ...}. "route" says where the plan came from (local: the detached shadow on board,
remote: the offload server); "decision" why (local, remote, stop, fallback_local, refused:...).
Without --offload the parameter file's offload.url is used (empty: the detached model alone).
"""


def register(subparsers) -> None:
    from ..policy import MODES

    parser = subparsers.add_parser(
        "interpret", help="Decide utterances into command-language plans, as the robot does.", description=__doc__,
        formatter_class=HelpFormatter, epilog=EPILOG,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="An utterance (repeatable).")
    source.add_argument("--file", help="A file with one utterance per line ('-' for stdin).")
    parser.add_argument("--params-file", help="Parameter file to read the interpreter's settings from "
                                              "(default: the package's config/dog.yaml).")
    parser.add_argument("--mode", choices=MODES, help="Which model(s) decide (default: the parameter file's).")
    parser.add_argument("--offload", metavar="URL", help="Offload server of the attached model (shadowpeft serve); "
                        "'local' starts one on loopback for this run, 'none' disables offload.")
    parser.add_argument("--token", help="Bearer token of the offload server (or set SHADOWPEFT_TOKEN).")
    parser.add_argument("--deadline", type=float, help="Longest wait for the server, s (default: the parameter file's).")
    parser.add_argument("--threshold", type=float, help="Detached plans below this confidence are escalated "
                                                        "(default: the parameter file's).")
    parser.add_argument("--detached", help="Detached export directory (default: cut from the shadow adapter).")
    parser.add_argument("--adapter", help="Shadow adapter directory.")
    parser.add_argument("--max-new-tokens", type=int, help="Generation budget (default: the parameter file's).")
    parser.set_defaults(func=run)


def _deployment(args, offload_url):
    import dataclasses

    from ..deployment import Deployment, ParamsFileError

    overrides = {k: v for k, v in (("mode", args.mode), ("confidence_threshold", args.threshold)) if v is not None}
    try:
        deployment = Deployment.load(args.params_file, **overrides)
        offload = {"url": "" if offload_url == "none" else offload_url, "token": args.token,
                   "deadline_s": args.deadline}
        offload = {k: v for k, v in offload.items() if v is not None}
        if offload:
            deployment.offload = dataclasses.replace(deployment.offload, **offload)
        model = {"detached_path": args.detached, "adapter_path": args.adapter, "max_new_tokens": args.max_new_tokens}
        model = {k: v for k, v in model.items() if v is not None}
        if model:
            deployment.interpreter = dataclasses.replace(deployment.interpreter, **model)
    except (ParamsFileError, ValueError) as exc:
        raise CliError(str(exc)) from None
    return deployment


def _texts(args):
    if args.text:
        return args.text
    try:
        handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from None
    with handle:
        return [line.rstrip("\n") for line in handle if line.strip()]


def run(args) -> int:
    import dataclasses
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..interpreter.interpreter import Interpreter

    local = args.offload == "local"
    deployment = _deployment(args, offload_url=None if local else args.offload)
    texts = _texts(args)
    server = None
    if local:
        from ..offload.engine import EngineOptions
        from ..offload.local import LocalServerError, start_local_server

        print(f"[offload] starting a local server for {deployment.interpreter.adapter_path} ...", file=sys.stderr)
        try:
            server = start_local_server(EngineOptions(adapter=deployment.interpreter.adapter_path))
        except LocalServerError as exc:
            raise CliError(f"--offload local: the server did not start: {exc}") from None
        deployment.offload = dataclasses.replace(deployment.offload, url=server.url, token=server.token)
    interpreter = Interpreter(deployment.interpreter, deployment.policy, deployment.limits, deployment.defaults,
                              offload=deployment.offload)
    try:
        try:
            interpreter.load()
        except (FileNotFoundError, ValueError) as exc:
            raise CliError(str(exc)) from None
        remote = interpreter.policy.remote
        if deployment.offload.enabled and remote is not None:
            # Let the first probe land, so the first utterance is not refused for an 'unknown' server.
            if remote.wait_until_probed(timeout_s=10.0) is False:
                print(f"[offload] server not reachable: {remote.why_unavailable()}; deciding on board",
                      file=sys.stderr)
        for i, text in enumerate(texts):
            result = interpreter.interpret(text, command_id=f"cli-{os.getpid()}-{i}")
            print(json.dumps({"text": text, **result.to_dict()}, ensure_ascii=False), flush=True)
    finally:
        interpreter.close()
        if server is not None:
            server.stop()
    return 0
