"""``shadowpeft serve``: host the attached model over HTTP for robots (see shadowpeft_ros.offload.server)."""

from __future__ import annotations

import dataclasses
import os
import typing

from . import CliError, HelpFormatter

DESCRIPTION = """\
Serve an engine that maps command text to a validated command-language-v1 plan:
  POST /v1/plan  (bearer token)   GET /healthz   GET /readyz   GET /metrics (Prometheus)

The server is stateless: for more robots than one machine serves, run replicas behind any HTTP
load balancer with /readyz as its health check and the same token everywhere.
"""

EPILOG = """\
examples:
  # attached ShadowPEFT model (backbone + shadow adapter) for the robots on the LAN
  SHADOWPEFT_TOKEN=s3cret shadowpeft serve --host 0.0.0.0 --port 8080 --adapter models/adapters/shadow
  # a LoRA-adapted backbone, same API
  shadowpeft serve --adapter models/adapters/lora --token s3cret --host 0.0.0.0
  # loopback, no token: the demo set-up of `shadowpeft dog --offload local`
  shadowpeft serve --port 8080 --adapter models/adapters/shadow
  curl -s -H "Authorization: Bearer s3cret" -d '{"text":"sit down","request_id":"1"}' localhost:8080/v1/plan
"""


def _add_options(group, options_cls, skip=()):
    hints = typing.get_type_hints(options_cls)
    for f in dataclasses.fields(options_cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if kind is bool:
            group.add_argument(flag, action="store_true", help=f.metadata.get("help", ""))
            continue
        base = typing.get_args(kind)[0] if typing.get_origin(kind) is typing.Union else kind
        group.add_argument(flag, type=base, default=f.default, help=f.metadata.get("help", ""))


def register(subparsers) -> None:
    from ..offload.engine import EngineOptions
    from ..offload.server import ServerOptions

    parser = subparsers.add_parser("serve", help="Serve the attached model over HTTP for robots (offload server).",
                                   description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    _add_options(parser.add_argument_group("server"), ServerOptions)
    _add_options(parser.add_argument_group("engine"), EngineOptions)
    parser.add_argument("--ready-file", help="Write {url, pid, model} as JSON here once the model is loaded and "
                        "warm (for scripts that start the server).")
    parser.set_defaults(func=run)


def _options_from(args, options_cls):
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(options_cls) if hasattr(args, f.name)}


def run(args) -> int:
    from ..offload.engine import EngineOptions, load_engine
    from ..offload.server import TOKEN_ENV, ServerConfigError, ServerOptions, serve

    server_values = _options_from(args, ServerOptions)
    if not server_values.get("token"):
        server_values["token"] = os.environ.get(TOKEN_ENV) or None
    try:
        options = ServerOptions(**server_values)
        engine_options = EngineOptions(**_options_from(args, EngineOptions))
    except ValueError as exc:
        raise CliError(str(exc)) from None

    def listening(url):
        auth = "bearer token required" if options.token else "NO authentication"
        print(f"[serve] listening on {url} ({auth}); loading engine '{engine_options.engine}' ...", flush=True)

    try:
        status = serve(options, lambda: load_engine(engine_options), ready_file=args.ready_file,
                       on_listening=listening, log_level="info" if args.verbose else "warning")
    except ServerConfigError as exc:
        raise CliError(str(exc)) from None
    if status:
        raise CliError("the engine failed to load (see the log above)")
    return 0
