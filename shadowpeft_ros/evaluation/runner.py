"""Run every case through every configuration and collect outputs, timings and scores.

Order of work: all clips are heard once (speech is identical for every configuration), then
each configuration loads its models once, runs all cases, and is closed before the next one
loads, so at most one configuration's models are in memory.

Latency stages per case (seconds):
``asr``            end of speech -> transcript ready (audio cases only)
``interpreter``    transcript -> validated plan, including the network round trip of remote calls
``first_cmd_vel``  plan handed to the motion executor -> its first velocity or posture command
``e2e``            the sum: end of speech (or the typed command) -> first motion. For a plan with
                   no actions (an answer, a refusal) it ends when the answer is ready.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from ..messages import VoiceCommand
from ..motion.path import dead_reckon
from ..plan import Plan
from ..safety import MotionDefaults
from . import metrics
from .cases import Case
from .configs import CONFIGURATIONS, ModelSources, open_configuration

logger = logging.getLogger("shadowpeft_ros")


@dataclass
class RunOptions:
    """What one evaluation run does."""

    configs: Sequence[str] = field(default=("shadow-auto",), metadata={"help": "Configurations to run, in order."})
    sim: bool = field(default=False, metadata={"help": "Execute plans on the MuJoCo dog and score task success."})
    rtt_ms: float = field(default=50.0, metadata={"help": "Simulated network round trip added to every remote call."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars on stderr."})
    playback_speed: float = field(default=1.0, metadata={"help": "Speed at which clips are played into the speech stage."})
    tolerance: metrics.PoseTolerance = field(default_factory=metrics.PoseTolerance,
                                             metadata={"help": "Task-success tolerances."})

    def __post_init__(self):
        unknown = [c for c in self.configs if c not in CONFIGURATIONS]
        if unknown:
            raise ValueError(f"unknown configurations {unknown}; known are {sorted(CONFIGURATIONS)}")
        if not self.configs:
            raise ValueError("name at least one configuration")
        if len(set(self.configs)) != len(self.configs):
            raise ValueError(f"configurations named twice: {list(self.configs)}")
        if not (self.rtt_ms >= 0 and self.rtt_ms < 60000):
            raise ValueError(f"rtt_ms must be in [0, 60000), got {self.rtt_ms}")


def _bar(iterable, total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not enabled, dynamic_ncols=True, leave=True)


def case_header(case: Case) -> dict:
    """Return the part of a result record that describes the case itself."""
    return {
        "id": case.id, "line": case.line, "modality": case.modality, "text": case.text,
        "audio": str(case.audio) if case.audio is not None else None,
        "reference_text": case.text if case.audio is not None else None,
        "expected": case.expected.to_dict() if case.expected is not None else None,
        "out_of_scope": case.out_of_scope, "kind": case.kind if case.expected is not None else None,
        "notes": list(case.notes),
    }


def model_decided(decision: str) -> bool:
    """Return True when the final plan is what a model said, not the interpreter's fallback for a failure.

    A failure (an unparsable output, an unreachable server, a plan over the limits) also ends in a
    plan with no actions and an apology in ``say``. That keeps the dog safe, but it is not the
    model answering a question or refusing a request, so it must not score as one. A detached
    model's escalation ("refused:needs_remote") is its designed answer to an out-of-scope request.
    """
    return not decision.startswith("refused:") or decision == "refused:needs_remote"


def score_case(final: Optional[Plan], case: Case, escalated: bool, defaults: MotionDefaults,
               decision: str = "") -> dict:
    """Score one final plan against the case's expectation."""
    right, total = metrics.slot_counts(final, case.expected, defaults)
    by_model = final is not None and model_decided(decision)
    return {
        "kind": case.kind,
        "exact": by_model and metrics.plans_equal(final, case.expected, defaults),
        "action_types": final is not None and metrics.action_types(final) == metrics.action_types(case.expected),
        "slots_right": right, "slots_total": total,
        "out_of_scope_handled": (by_model and metrics.out_of_scope_handled(final, escalated)) if case.out_of_scope
        else None,
        # A stop moves nothing: the policy stops the dog when a stop word was said and the plan disagreed.
        "moved_nothing": final is not None and all(action.type == "stop" for action in final.actions),
        "confusion": metrics.confusion_pairs(final, case.expected),
    }


def _engine_record(role: str, answer) -> dict:
    confidence = getattr(answer, "confidence", None)
    return {"role": role, "engine": getattr(answer, "engine", "") or "offload",
            "raw_text": getattr(answer, "raw_text", ""), "error": getattr(answer, "error", ""),
            "confidence": None if confidence is None else round(confidence, 4),
            "latency_s": getattr(answer, "latency_s", None) or getattr(answer, "rtt_s", None),
            "gave_up": bool(getattr(answer, "gave_up", False))}


def hear_all(cases: Sequence[Case], options: RunOptions, deployment=None) -> Dict[str, object]:
    """Run the speech stage once over every runnable audio case; return heard commands by case id.

    The Whisper, VAD and gate settings are the speech node's, from ``deployment`` (the parameter file).
    """
    audio = [c for c in cases if c.audio is not None and not c.error]
    if not audio:
        return {}
    from .stages import SpeechStage

    asr, segmenter, gate = deployment.speech() if deployment is not None else (None, None, None)
    stage = SpeechStage(asr, segmenter, gate, playback_speed=options.playback_speed)
    heard = {}
    for case in _bar(audio, len(audio), "speech", options.progress):
        heard[case.id] = stage.hear(case.audio)
    return heard


def run_configuration(config, cases: Sequence[Case], heard: Dict[str, object], motion, options: RunOptions,
                      defaults: MotionDefaults) -> List[dict]:
    """Run all cases through one opened configuration and return one record per case."""
    records = []
    for case in _bar(cases, len(cases), config.name, options.progress):
        record = case_header(case)
        if case.error:
            record["error"] = case.error
            records.append(record)
            continue
        latency: Dict[str, Optional[float]] = {"asr": None, "interpreter": None, "first_cmd_vel": None}
        text = case.text
        fast_stop = False
        if case.audio is not None:
            h = heard[case.id]
            record["speech"] = h.to_dict()
            record["transcript"] = h.transcript
            latency["asr"] = h.asr_s
            if h.error:
                # The robot would not have acted: a speech failure is a wrong answer of the system, not a bad case.
                record.update(final_plan=None, decision="speech_failed", stage_error=h.error, escalated=False,
                              latency_s={**latency, "e2e": None},
                              scores=score_case(None, case, False, defaults, "speech_failed"))
                records.append(record)
                continue
            text, fast_stop = h.command_text, h.is_stop
        command = VoiceCommand(text=text, command_id=f"{config.name}:{case.id}", is_stop=fast_stop,
                               source="eval" if case.audio is not None else "text",
                               confidence=heard[case.id].confidence if case.audio is not None else 1.0)
        # The robot's own path from a heard command to a plan: replay guard, stop, ASR refusal, policy.
        handled = config.handler.handle(command)
        latency["interpreter"] = handled.latencies.get("interpreter", 0.0)
        plan, result = handled.plan, handled.decision
        decision = result.decision if result is not None else f"refused:{handled.refusal}"
        escalated = result is not None and (result.escalated or decision == "refused:needs_remote")
        record["interpreter"] = {"decision": decision, "reason": handled.reason}
        if result is not None:
            record["interpreter"].update(
                raw_text=result.raw_text, confidence=result.confidence, escalated=result.escalated,
                violations=list(result.violations),
                engines=[_engine_record(role, answer) for role, answer in (("local", result.local),
                                                                            ("remote", result.remote)) if answer],
                stage_latency_s={k: round(v, 5) for k, v in result.latency_s.items()})
            if result.remote is not None and getattr(result.remote, "timing", None):
                record["interpreter"]["server_timing"] = dict(result.remote.timing)
        record["final_plan"] = plan.to_dict()
        record["decision"] = decision
        record["escalated"] = escalated if config.info.get("on_board_parameters") else None
        if plan.actions:
            execution = motion.execute(plan, command.command_id)
            record["motion"] = execution.to_dict()
            latency["first_cmd_vel"] = execution.first_motion_s
            if motion.sim_enabled and execution.final is not None:
                expected = dead_reckon(case.expected, defaults)
                record["sim"] = metrics.score_pose(execution.final, expected, options.tolerance).to_dict()
        elif motion.sim_enabled:
            # Nothing to execute: the dog stays where it is, which is right when nothing was expected.
            record["sim"] = {"success": not case.expected.actions, "position_error_m": 0.0, "heading_error_deg": 0.0,
                             "posture_ok": True, "note": "no actions executed"}
        stages = [latency["asr"] or 0.0, latency["interpreter"] or 0.0, latency["first_cmd_vel"] or 0.0]
        latency["e2e"] = sum(stages)
        record["latency_s"] = {k: (round(v, 5) if v is not None else None) for k, v in latency.items()}
        record["scores"] = score_case(plan, case, escalated, defaults, decision)
        records.append(record)
    return records


def machine_description() -> dict:
    """Return what the numbers were measured on."""
    import os

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def run_evaluation(cases: Sequence[Case], options: RunOptions, sources: ModelSources) -> dict:
    """Run the evaluation and return the results object (cases, summary per configuration, micro-claims).

    The policy settings, the offload deadline and the limits are the robot's, from ``sources.params_file``.
    """
    from ..deployment import Deployment
    from .claims import micro_claims
    from .engines import forward_time
    from .stages import MotionStage

    started = time.time()
    deployment = Deployment.load(sources.params_file)
    defaults = deployment.defaults
    heard = hear_all(cases, options, deployment)
    motion = MotionStage(sim=options.sim, limits=deployment.limits, defaults=defaults)
    audio_given = any(c.audio is not None for c in cases)
    results = {
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                 "machine": machine_description(), "options": {k: v for k, v in asdict(options).items()},
                 "sources": asdict(sources), "deployment": deployment.recorded(), "cases": len(cases),
                 "cases_with_errors": sum(1 for c in cases if c.error)},
        "configurations": {}, "summary": {},
    }
    for name in options.configs:
        loading = time.perf_counter()
        try:
            config = open_configuration(name, sources, rtt_s=options.rtt_ms / 1000.0, deployment=deployment)
        except Exception as exc:
            # A configuration whose model is missing is reported, and the others still run.
            logger.error("configuration %s could not load: %s", name, exc)
            results["configurations"][name] = {"error": f"{type(exc).__name__}: {exc}", "cases": []}
            results["summary"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        load_s = time.perf_counter() - loading
        try:
            records = run_configuration(config, cases, heard, motion, options, defaults)
            config.info["forward_time"] = {role: forward_time(model, vocab) for role, (model, vocab) in config.probes.items()}
        finally:
            config.close()
        results["configurations"][name] = {"info": {**config.info, "load_s": round(load_s, 2)}, "cases": records}
    summarise_configurations(results, audio_given)
    results["micro_claims"] = micro_claims(results)
    results["meta"]["wall_s"] = round(time.time() - started, 1)
    return results


def summarise_configurations(results: dict, audio_given: bool) -> None:
    """Fill ``summary`` and ``summary_by_input`` of ``results`` from its per-case records."""
    sim = results["meta"]["options"]["sim"]
    results["summary"], results["summary_by_input"] = {}, {}
    for name, conf in results["configurations"].items():
        if "error" in conf:
            results["summary"][name] = {"error": conf["error"]}
            continue
        records = conf["cases"]
        results["summary"][name] = metrics.summarise(records, audio_given, sim)
        for modality in ("text", "audio"):
            subset = [r for r in records if r["modality"] == modality]
            if subset:
                results["summary_by_input"].setdefault(name, {})[modality] = metrics.summarise(
                    subset, modality == "audio", sim)


def rescore(results: dict) -> dict:
    """Recompute every aggregate of a stored run (summaries, micro-claims) from its per-case records.

    The cases stay as they ran: their plans, scores and timings are read, nothing is re-run. This is
    for a metric added after a run; the run's date, machine and command stay its own, and
    ``meta.rescored`` says when its aggregates were recomputed.
    """
    from .claims import micro_claims

    cases = [r for conf in results["configurations"].values() for r in conf.get("cases", [])]
    summarise_configurations(results, audio_given=any(r.get("audio") for r in cases))
    results["micro_claims"] = micro_claims(results)
    results["meta"]["rescored"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return results
