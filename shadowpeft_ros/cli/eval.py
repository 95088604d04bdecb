"""``shadowpeft eval``: run evaluation cases through the deployments and write results, a summary table and plots."""

from __future__ import annotations

import shlex
import sys

from . import CliError, HelpFormatter

DESCRIPTION = """\
Run every case of a case file (JSON Lines) through each named configuration, with the code the
robot runs: the speech pipeline when a case gives audio, the interpreter (remote models behind
the offload server on loopback, with --rtt-ms added to every remote call), and the motion
executor on the MuJoCo dog with --sim. Writes OUT/results.json, OUT/summary.md and PNG plots.

Configurations:
  edge-lora        on board: backbone truncated to the shadow's depth + LoRA (models/adapters/edge-lora)
  cloud-lora       offload server: backbone + LoRA (models/adapters/lora)
  cloud-dora       offload server: backbone + DoRA (models/adapters/dora)
  shadow-detached  on board: the detached shadow alone (models/adapters/shadow, or --detached)
  shadow-attached  offload server: backbone + shadow
  shadow-auto      detached shadow, escalating to the attached model on the offload server
  base-prompted    offload server: backbone without adapter, few-shot prompt

Case lines: {"id", "text" | "audio" (+ "text" as the WER reference), "expected": v1 plan,
"out_of_scope": true?}. Unknown fields are ignored with a note; a case that cannot run (a missing
audio file, a plan that is not v1) is reported with its error and the run goes on.
"""

EPILOG = """\
examples:
  shadowpeft eval --cases eval/cases.jsonl --out out/eval --sim
  shadowpeft eval --cases eval/cases.jsonl --out out/eval --configs shadow-auto,cloud-lora --limit 10
  python -m shadowpeft_ros.evaluation.edge --out models/adapters/edge-lora   # train the edge-lora baseline
"""


def register(subparsers) -> None:
    from ..interpreter.decoding import MAX_NEW_TOKENS

    parser = subparsers.add_parser("eval", help="Evaluate the deployments on a case file (accuracy, latency, plots).",
                                   description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--cases", metavar="FILE.jsonl", help="Case file (JSON Lines). Required unless --rescore.")
    parser.add_argument("--out", metavar="DIR", help="Output directory (with --rescore: default the run's own).")
    parser.add_argument("--rescore", metavar="DIR", default=None,
                        help="Run no model: recompute the summaries and micro-claims of the run in DIR/results.json "
                             "from its per-case records (a metric added since), and write the reports again.")
    parser.add_argument("--configs", default="edge-lora,cloud-lora,shadow-detached,shadow-attached,shadow-auto,base-prompted",
                        help="Comma-separated configurations, run in this order.")
    parser.add_argument("--sim", action="store_true", help="Execute plans on the MuJoCo dog and score task success.")
    parser.add_argument("--rtt-ms", type=float, default=50.0, help="Simulated round trip added to every remote call.")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="Only the first N cases.")
    models = parser.add_argument_group("models")
    models.add_argument("--adapters", default="models/adapters", help="Directory of shadow/, lora/, dora/, edge-lora/.")
    models.add_argument("--shadow-adapter", default=None, help="ShadowPEFT adapter (default ADAPTERS/shadow).")
    models.add_argument("--lora-adapter", default=None, help="LoRA adapter (default ADAPTERS/lora).")
    models.add_argument("--dora-adapter", default=None, help="DoRA adapter (default ADAPTERS/dora).")
    models.add_argument("--edge-adapter", default=None, help="edge-lora directory (default ADAPTERS/edge-lora).")
    models.add_argument("--detached", default=None, help="Detached export (shadowpeft export); default: cut from the "
                        "shadow adapter in memory.")
    models.add_argument("--backbone", default=None, help="Backbone override (default: each adapter's own).")
    models.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS, help="Generation budget of every model.")
    parser.add_argument("--params-file", default=None, help="The robot's parameter file: its decision policy "
                        "(threshold, stop words), offload deadline and limits decide every configuration "
                        "(default: the package's config/dog.yaml).")
    models.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
    parser.add_argument("--playback-speed", type=float, default=1.0,
                        help="Speed of the fake sound card (1.0 = real time, as a microphone would deliver).")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bars.")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..evaluation import report
    from ..evaluation.cases import CaseFileError, load_cases
    from ..evaluation.configs import ModelSources
    from ..evaluation.runner import RunOptions, run_evaluation

    if args.rescore:
        return _rescore(args.rescore, args.out or args.rescore)
    if not args.cases or not args.out:
        raise CliError("--cases and --out are required (or --rescore DIR)")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be >= 1, got {args.limit}")
    try:
        from ..deployment import Deployment

        Deployment.load(args.params_file)  # a bad parameter file fails here, not after the speech stage
        cases = load_cases(args.cases, args.limit)
        options = RunOptions(configs=tuple(c.strip() for c in args.configs.split(",") if c.strip()), sim=args.sim,
                             rtt_ms=args.rtt_ms, progress=not args.no_progress, playback_speed=args.playback_speed)
        sources = ModelSources(adapters_dir=args.adapters, shadow_adapter=args.shadow_adapter,
                               lora_adapter=args.lora_adapter, dora_adapter=args.dora_adapter,
                               edge_adapter=args.edge_adapter, detached_export=args.detached, backbone=args.backbone,
                               max_new_tokens=args.max_new_tokens, params_file=args.params_file)
    except (CaseFileError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    bad = [c for c in cases if c.error]
    print(f"[cases] {len(cases)} from {args.cases}" + (f", {len(bad)} cannot run:" if bad else ""))
    for case in bad:
        print(f"  {case.id}: {case.error}")
    for case in cases:
        for note in case.notes:
            print(f"  note {case.id}: {note}")
    results = run_evaluation(cases, options, sources)
    command = "shadowpeft eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["eval"] else ""
    results["meta"]["command"] = command
    written = report.write_outputs(results, args.out, command)
    print()
    print(report.summary_table(results["summary"]))
    print()
    print(report.claims_markdown(results["micro_claims"]))
    print()
    for path in written:
        print(f"[out] {path}")
    ran = [s for s in results["summary"].values() if "error" not in s]
    return 0 if ran else 1


def _rescore(run_dir: str, out: str) -> int:
    import json
    from pathlib import Path

    from ..evaluation import report
    from ..evaluation.runner import rescore

    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise CliError(f"--rescore: no results.json in {run_dir}")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"--rescore: {path} is not JSON: {exc}") from None
    # Runs written before the command was stored in results.json keep it in their summary.md.
    command = results["meta"].get("command") or report.command_of_summary(Path(run_dir) / "summary.md")
    results["meta"]["command"] = command
    written = report.write_outputs(rescore(results), out, command)
    print(report.summary_table(results["summary"]))
    for written_path in written:
        print(f"[out] {written_path}")
    return 0
