"""Write the run's outputs: results.json, summary.md and the PNG plots."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

from ..interpreter.decoding import MAX_NEW_TOKENS
from ..interpreter.normalise import DISTANCE_UNITS, DURATION_UNITS, normalise_utterance
from .metrics import NO_ACTION

logger = logging.getLogger("shadowpeft_ros")

PLOT_ACCURACY_LATENCY = "accuracy_vs_latency.png"
PLOT_LATENCY = "latency_distribution.png"
PLOT_CONFUSION = "confusion.png"

COLUMNS = (
    ("exact_plan_accuracy", "exact plan", "pct"),
    ("action_type_accuracy", "action types", "pct"),
    ("slot_accuracy", "slots", "pct"),
    ("out_of_scope_handled", "out of scope", "pct"),
    ("refusals_held", "refusals", "pct"),
    ("escalation_rate", "escalated", "pct"),
    ("wer", "WER", "pct"),
    ("task_success", "task success", "pct"),
    ("latency_asr_p50_s", "ASR p50", "s"),
    ("latency_interpreter_p50_s", "interp. p50", "s"),
    ("latency_interpreter_p95_s", "interp. p95", "s"),
    ("latency_first_cmd_vel_p50_s", "1st cmd_vel p50", "ms"),
    ("latency_e2e_p50_s", "e2e p50", "s"),
    ("latency_e2e_p95_s", "e2e p95", "s"),
)


def _fmt(value, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "pct":
        return f"{100 * value:.1f} %"
    if unit == "ms":
        return f"{1000 * value:.1f} ms"
    return f"{value:.2f} s"


def summary_table(summary: Dict[str, dict]) -> str:
    """Return the Markdown table with one row per configuration (columns that are empty everywhere left out)."""
    columns = [c for c in COLUMNS if any(s.get(c[0]) is not None for s in summary.values())]
    lines = ["| configuration | cases | " + " | ".join(c[1] for c in columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]
    for name, s in summary.items():
        if "error" in s:
            lines.append(f"| {name} | – | not run: {s['error']} |" + " |" * max(len(columns) - 1, 0))
            continue
        cases = f"{s['cases'] - s['cases_failed']}" + (f" (+{s['cases_failed']} bad)" if s["cases_failed"] else "")
        lines.append(f"| {name} | {cases} | " + " | ".join(_fmt(s.get(c[0]), c[2]) for c in columns) + " |")
    return "\n".join(lines)


def by_input_table(by_input: Dict[str, dict], heard_by: str = "Whisper") -> str:
    """Return a Markdown table of exact-plan accuracy, task success and e2e latency split by typed and spoken input."""
    if not by_input or not any("audio" in v for v in by_input.values()):
        return ""
    sim = any(v.get("text", {}).get("task_success") is not None for v in by_input.values())
    head = "| configuration | exact plan, typed | exact plan, spoken | " + (
        "task success, typed | task success, spoken | " if sim else "") + "e2e p50, typed | e2e p50, spoken |"
    lines = [f"By input (spoken = the same sentences synthesised with espeak-ng, heard by {heard_by}):", "", head,
             "|---|" + "---:|" * (head.count("|") - 2)]
    for name, parts in by_input.items():
        t, a = parts.get("text", {}), parts.get("audio", {})
        cells = [_fmt(t.get("exact_plan_accuracy"), "pct"), _fmt(a.get("exact_plan_accuracy"), "pct")]
        if sim:
            cells += [_fmt(t.get("task_success"), "pct"), _fmt(a.get("task_success"), "pct")]
        cells += [_fmt(t.get("latency_e2e_p50_s"), "s"), _fmt(a.get("latency_e2e_p50_s"), "s")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _secs(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.3f} s"


def claims_markdown(claims: dict) -> str:
    """Return the micro-claims and the goal check as Markdown bullets."""
    out = []
    f = claims.get("forward_pass", {})
    if f.get("shadow_attached_s") or f.get("shadow_detached_s"):
        over, speed = f.get("shadow_overhead_vs_lora"), f.get("detached_speedup")
        tokens = f.get("tokens", MAX_NEW_TOKENS)  # results from before claims recorded it ran at the budget
        out.append(f"- **Same work, one forward pass over {tokens} tokens**: shadow attached {_secs(f.get('shadow_attached_s'))}, "
                   f"LoRA {_secs(f.get('lora_s'))}, DoRA {_secs(f.get('dora_s'))}, detached shadow "
                   f"{_secs(f.get('shadow_detached_s'))}, edge-lora {_secs(f.get('edge_lora_s'))}. Shadow attached "
                   f"costs {'–' if over is None else f'{100 * over:+.1f} %'} against LoRA; detached is "
                   f"{'–' if speed is None else f'{speed:.1f}x'} faster than attached.")
    o = claims.get("attached_overhead_shadow_vs_lora", {})
    overhead = o.get("overhead")
    out.append(f"- **Attached overhead, shadow vs LoRA** (median server inference per request): shadow "
               f"{_secs(o.get('shadow_attached_p50_s'))}, LoRA {_secs(o.get('cloud_lora_p50_s'))} -> "
               f"{'–' if overhead is None else f'{100 * overhead:+.1f} %'} (paper: {o.get('paper')}). Trainable "
               f"parameters: shadow {o.get('trainable_parameters', {}).get('shadow')}, "
               f"LoRA {o.get('trainable_parameters', {}).get('lora')}.")
    d = claims.get("detached_speedup", {})
    sp, stage = d.get("speedup_compute"), d.get("speedup_interpreter_stage")
    out.append(f"- **Detached vs attached**: detached {_secs(d.get('detached_p50_s'))}, attached "
               f"{_secs(d.get('attached_p50_s'))} per request -> {'–' if sp is None else f'{sp:.1f}x'} faster on "
               f"board (paper: {d.get('paper')}); including the network round trip: "
               f"{'–' if stage is None else f'{stage:.1f}x'}.")
    a = claims.get("adapter_accuracy", {})
    out.append(f"- **Adapter accuracy** (exact plan, attached): shadow {_pct(a.get('shadow'))}, LoRA "
               f"{_pct(a.get('lora'))}, DoRA {_pct(a.get('dora'))}; detached shadow alone "
               f"{_pct(a.get('shadow_detached'))}.")
    g = claims.get("goal", {})
    if "met" in g:
        out.append(f"- **Goal** at {g.get('rtt_ms'):g} ms RTT: shadow-auto reaches "
                   f"{_pct(g.get('accuracy_ratio'))} of cloud-lora's exact-plan accuracy (needs >= 95 %: "
                   f"{'yes' if g['accuracy_met'] else 'no'}), at {_pct(g.get('latency_ratio'))} of its median e2e "
                   f"latency (needs < 50 %: {'yes' if g['latency_met'] else 'no'}), and "
                   f"{'beats' if g['beats_edge'] else 'does not beat'} edge-lora "
                   f"({_pct(g.get('shadow_auto_accuracy'))} vs {_pct(g.get('edge_lora_accuracy'))}). "
                   f"Goal {'met' if g['met'] else 'NOT met'}.")
    else:
        out.append("- **Goal**: not checked (needs shadow-auto, cloud-lora and edge-lora in one run).")
    sweep = claims.get("auto_threshold_sweep")
    if sweep:
        out += ["", "shadow-auto's confidence threshold, replayed from this run's detached (shadow-auto) and attached "
                "(shadow-attached) answers and timings, each detached answer judged by the policy's own verdict (confidence "
                "and every plan check; a replay to choose a threshold, not a separate run):", "",
                "| threshold | exact plan | escalated | e2e p50 |", "|---:|---:|---:|---:|"]
        for row in sweep:
            label = "never local" if row["threshold"] > 1 else f"{row['threshold']:g}"
            out.append(f"| {label} | {_pct(row['exact_plan_accuracy'])} | {_pct(row['escalation_rate'])} | "
                       f"{_secs(row['latency_e2e_p50_s'])} |")
    return "\n".join(out)


# Error categories of a case; a case can fall into several. Numbers and units are read by the same
# normaliser as the interpreter's input ("three feet" -> "3 ft"); "units" are those other than metres,
# seconds and degrees, the ones the parser must convert.
_CONVERTED_UNIT = re.compile(r"\d (?:%s)\b" % "|".join(
    re.escape(u) for u in (*DISTANCE_UNITS, *DURATION_UNITS) if u not in ("m", "s")))
CATEGORIES = (("numbers", "a number, as the model reads it"), ("units", "a unit the parser converts"),
              ("multi-step", "two or more actions"), ("turns", "a turn"), ("postures and tricks", "a posture or trick"),
              ("out of scope", "a question or unknown request"), ("unsafe", "must be refused"),
              ("spoken (ASR noise)", "heard through Whisper"))


def case_categories(record: dict) -> List[str]:
    """Return the error categories of one case record."""
    text = normalise_utterance(record.get("reference_text") or record.get("text") or "")
    actions = (record.get("expected") or {}).get("actions") or []
    kind = (record.get("scores") or {}).get("kind") or record.get("kind")
    found = []
    if kind == "command":
        found += ["numbers"] if re.search(r"\d", text) else []
        found += ["units"] if _CONVERTED_UNIT.search(text) else []
        found += ["multi-step"] if len(actions) > 1 else []
        found += ["turns"] if any(a.get("type") == "turn" for a in actions) else []
        found += ["postures and tricks"] if any(a.get("type") in ("posture", "trick") for a in actions) else []
    elif kind == "out_of_scope" or record.get("out_of_scope"):
        found.append("out of scope")
    elif kind == "refusal":
        found.append("unsafe")
    if record.get("modality") == "audio":
        found.append("spoken (ASR noise)")
    return found


def category_table(configurations: Dict[str, dict]) -> str:
    """Return the exact-plan rate per error category and configuration, with the errors out of the cases."""
    names = [n for n, c in configurations.items() if c.get("cases")]
    lines = ["| category | cases | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for category, meaning in CATEGORIES:
        row, count = [], None
        for name in names:
            records = [r for r in configurations[name]["cases"] if r.get("scores") and category in case_categories(r)]
            count = len(records) if count is None else count
            errors = sum(not r["scores"]["exact"] for r in records)
            row.append(f"{_pct(1 - errors / len(records))} ({errors} wrong)" if records else "–")
        lines.append(f"| {category} ({meaning}) | {count or 0} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def on_board_table(summary: Dict[str, dict]) -> str:
    """Return the on-board decisions of the configurations that have an on-board model."""
    rows = [(n, s) for n, s in summary.items() if s.get("local_coverage") is not None]
    lines = ["| configuration | commands decided on board | exactly right of those | plans executed on board "
             "(with actions): exactly right | out of scope handed on | out of scope acted on |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {_pct(s['local_coverage'])} | {_pct(s['local_precision'])} | "
              f"{_pct(s.get('local_moving_precision'))} | {_pct(s['oos_handed_on'])} | {_pct(s['oos_acted_on'])} |"
              for n, s in rows]
    return "\n".join(lines)


def command_of_summary(path) -> str:
    """Return the command in the ``Command:`` block of a summary.md, or "" when there is none."""
    path = Path(path)
    if not path.is_file():
        return ""
    match = re.search(r"^Command:\n\n```\n(.*?)\n```", path.read_text(), re.MULTILINE | re.DOTALL)
    return match.group(1) if match else ""


def summary_markdown(results: dict, command: str = "") -> str:
    """Return summary.md: the table, the micro-claims, the machine and the command that made them."""
    meta = results["meta"]
    machine = meta["machine"]
    lines = ["# Robot-dog evaluation", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    if meta.get("rescored"):
        lines += [f"Aggregates recomputed on {meta['rescored']} from the run's per-case records "
                  "(`shadowpeft eval --rescore`): every case is as it ran.", ""]
    lines += [f"Machine: {machine.get('cpu', machine.get('processor'))}, {machine.get('cpu_count')} CPUs, "
              f"{machine.get('platform')}, Python {machine.get('python')}, torch {machine.get('torch')} "
              f"({machine.get('torch_threads')} threads). Run started {meta['started']}, took {meta.get('wall_s')} s.",
              "",
              f"{meta['cases']} cases ({meta['cases_with_errors']} could not run); simulated round trip "
              f"{meta['options']['rtt_ms']:g} ms on every remote call; --sim {'on' if meta['options']['sim'] else 'off'}.",
              ""]
    deployment = meta.get("deployment")
    heard_by = "Whisper"
    if deployment:
        policy, speech = deployment["policy"], deployment.get("speech", {})
        heard_by = (f"Whisper {speech.get('model')} (bias {speech.get('bias')}, beam {speech.get('beam_size')}), "
                    "the speech node's settings")
        params_file = deployment["params_file"]
        if params_file.endswith("config/dog.yaml"):
            params_file = "config/dog.yaml"
        lines += [f"Decided as the robot decides, with the settings of `{params_file}`: the command "
                  f"handler and decision policy, confidence threshold {policy['confidence_threshold']:g}, offload "
                  f"deadline {deployment['deadline_s']:g} s, limits `{deployment['limits']['on_violation']}`; each "
                  "remote model behind a `shadowpeft serve` process on loopback, reached by the robot's client.", ""]
    lines += [summary_table(results["summary"]), "", by_input_table(results.get("summary_by_input", {}), heard_by),
              "", "## On board", "", "The detached shadow's decisions (goal: >= 70 % of commands decided on board, >= 95 % of "
              "the plans executed on board exactly right, out-of-scope questions never acted on and >= 95 % "
              "handed on). A plan executed on board is one with actions; \"exactly right of those\" also counts "
              "the on-board refusals of commands, which move nothing:", "",
              on_board_table(results["summary"]),
              "", "## Errors by category", "", "Exact plans per category (a case can count in several):", "",
              category_table(results["configurations"]),
              "", "## Micro-claims", "", claims_markdown(results.get("micro_claims", {})),
              "", "## Configurations", ""]
    for name, conf in results["configurations"].items():
        info = conf.get("info", {})
        if "error" in conf:
            lines.append(f"- `{name}`: not run ({conf['error']})")
            continue
        parts = [info.get("description", "")]
        if info.get("on_board_parameters"):
            parts.append(f"on board {info['on_board_parameters'] / 1e6:.1f} M parameters")
        if info.get("remote_parameters"):
            parts.append(f"remote {info['remote_parameters'] / 1e6:.1f} M parameters")
        if info.get("trainable_parameters"):
            parts.append(f"{info['trainable_parameters'] / 1e6:.2f} M trained")
        parts.append(f"loaded in {info.get('load_s')} s")
        decisions: Dict[str, int] = {}
        for record in conf.get("cases", []):
            if record.get("decision"):
                decisions[record["decision"]] = decisions.get(record["decision"], 0) + 1
        if decisions:
            parts.append("decisions " + ", ".join(f"{k} {v}" for k, v in sorted(decisions.items(), key=lambda kv: -kv[1])))
        lines.append(f"- `{name}`: " + "; ".join(p for p in parts if p))
    lines += ["", "Metrics: exact plan = same actions in order, numbers within 5 %, unsaid values filled from "
              "MotionDefaults, route ignored; a plan without actions counts when something was said. Slots: per "
              "expected action, direction/name and each number within 5 %. Task success (--sim): final MuJoCo pose "
              "within 0.10 m + 10 % of the distance walked and 5 deg + 5 % of the angle turned + 2 deg per metre "
              "walked of the dead-reckoned pose, same posture (after a spin trick the heading is not scored). Latency "
              "e2e = ASR (end of speech -> transcript) + interpreter (with the simulated round trip) + plan -> first "
              "motion command of the motion executor (measured in-process, without the DDS hop); for answers and "
              "refusals it ends with the answer. Fallbacks of the interpreter (unparsable output, server unreachable) "
              "move nothing but never count as an answer or a refusal.", ""]
    plots = [PLOT_ACCURACY_LATENCY, PLOT_LATENCY, PLOT_CONFUSION]
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_latency(summary: Dict[str, dict], path: Path) -> None:
    """Plot exact-plan accuracy against median end-to-end latency, one point per configuration."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    markers = "osD^vP*X"
    for i, (name, s) in enumerate(summary.items()):
        acc, lat = s.get("exact_plan_accuracy"), s.get("latency_e2e_p50_s")
        if acc is None or lat is None:
            continue
        p95 = s.get("latency_e2e_p95_s") or lat
        ax.errorbar([lat], [100 * acc], xerr=[[0], [max(p95 - lat, 0)]], fmt=markers[i % len(markers)], capsize=3,
                    markersize=8, label=f"{name} ({100 * acc:.0f} %, {lat:.2f} s)")
    ax.set_xlim(left=0)
    ax.set_xlabel("end-to-end latency, median (bar to p95) [s]")
    ax.set_ylabel("exact-plan accuracy [%]")
    ax.set_ylim(-5, 105)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Accuracy against end-to-end latency (up and left is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency_distribution(results: dict, path: Path) -> None:
    """Plot the end-to-end latency of every case, per configuration (box plot with the points)."""
    plt = _plt()
    names, data = [], []
    for name, conf in results["configurations"].items():
        values = [r["latency_s"]["e2e"] for r in conf.get("cases", []) if r.get("latency_s", {}).get("e2e") is not None]
        if values:
            names.append(name)
            data.append(values)
    fig, ax = plt.subplots(figsize=(max(6.4, 1.3 * len(names) + 2), 4.4))
    if data:
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right")
        for i, values in enumerate(data, start=1):
            ax.scatter([i + 0.08 * ((j % 5) - 2) for j in range(len(values))], values, s=8, alpha=0.5)
    ax.set_ylabel("end of speech -> first motion [s]")
    ax.set_title("End-to-end latency per configuration")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _label_order(label: str):
    kinds = ("move", "turn", "posture", "trick", "stop", "wait")
    kind = label.split(":")[0]
    return (kinds.index(kind) if kind in kinds else len(kinds), label)


def confusion_counts(records: List[dict]):
    """Return (labels, counts[(expected, predicted)]) over the aligned actions of all scored records."""
    counts: Counter = Counter()
    for r in records:
        for expected, predicted in (r.get("scores") or {}).get("confusion", []):
            counts[(expected, predicted)] += 1
    labels = sorted({label for pair in counts for label in pair} - {NO_ACTION}, key=_label_order) + [NO_ACTION]
    return labels, counts


def plot_confusion(configurations: Dict[str, List[dict]], path: Path) -> None:
    """Plot one per-action confusion matrix per configuration (rows expected, columns predicted; '(none)' =
    a missing or extra action, or no action at all for answers and refusals)."""
    plt = _plt()
    import numpy as np

    all_records = [r for records in configurations.values() for r in records]
    labels, _ = confusion_counts(all_records)
    n = max(len(configurations), 1)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    size = 0.42 * len(labels) + 2.2
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, (name, records) in zip(axes.flat, configurations.items()):
        ax.set_visible(True)
        _, counts = confusion_counts(records)
        matrix = np.array([[counts.get((e, p), 0) for p in labels] for e in labels])
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=70, ha="right", fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if matrix[i, j] > matrix.max() / 2 else "black")
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("expected", fontsize=8)
        ax.set_title(name, fontsize=10)
    fig.suptitle("Per-action confusion (actions aligned by position)")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(results: dict, out_dir, command: str = "") -> List[Path]:
    """Write results.json, summary.md and the plots into ``out_dir``; return the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "results.json"
    # Compact: with every case of every configuration it is large, and it is read by programs.
    path.write_text(json.dumps(results, separators=(",", ":"), default=str) + "\n")
    written.append(path)
    path = out / "summary.md"
    path.write_text(summary_markdown(results, command))
    written.append(path)
    plot_accuracy_latency(results["summary"], out / PLOT_ACCURACY_LATENCY)
    plot_latency_distribution(results, out / PLOT_LATENCY)
    written += [out / PLOT_ACCURACY_LATENCY, out / PLOT_LATENCY]
    plot_confusion({n: c["cases"] for n, c in results["configurations"].items() if "error" not in c},
                   out / PLOT_CONFUSION)
    written.append(out / PLOT_CONFUSION)
    return written
