"""Scoring of interpreter outputs against expected plans, and of final poses against dead reckoning (pure functions).

Plan equality is route-insensitive and compares what the robot would do: nulls are filled
from ``MotionDefaults`` first (so "turn left" equals "turn left 90"), numbers match within a
relative tolerance (5 % by default), and a half or full turn matches in either direction
(it ends at the same heading). For plans without actions the words of ``say`` are not
compared: an answer or a refusal counts when something was said and nothing moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..geometry import Pose, wrap_deg
from ..motion.path import DeadReckoning
from ..plan import Plan, Posture, Trick, Turn
from ..safety import MotionDefaults, resolve_defaults
from ..speech.wer import word_error_rate

REL_TOL = 0.05
NUMERIC_SLOTS = {"move": ("distance_m", "speed_mps"), "turn": ("angle_deg",), "wait": ("duration_s",)}
CHOICE_SLOTS = {"move": ("direction",), "turn": ("direction",), "posture": ("name",), "trick": ("name",)}
# Turns by these angles end at the same heading whichever way they go.
DIRECTION_FREE_ANGLES = (180.0, 360.0, 540.0, 720.0)
NO_ACTION = "(none)"


def numbers_close(a: Optional[float], b: Optional[float], rel_tol: float = REL_TOL) -> bool:
    """Return True when two slot values agree: both null, or within ``rel_tol`` of the expected value ``b``."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel_tol * abs(b) + 1e-9


def _direction_free(action) -> bool:
    return isinstance(action, Turn) and action.angle_deg is not None and any(
        numbers_close(action.angle_deg, angle) for angle in DIRECTION_FREE_ANGLES)


def slot_matches(predicted, expected, rel_tol: float = REL_TOL) -> Tuple[int, int]:
    """Return (slots right, slots expected) of one predicted action against one resolved expected action."""
    kind = expected.type
    names = CHOICE_SLOTS.get(kind, ()) + NUMERIC_SLOTS.get(kind, ())
    if predicted is None or predicted.type != kind:
        return 0, len(names)
    right = 0
    for name in CHOICE_SLOTS.get(kind, ()):
        same = getattr(predicted, name) == getattr(expected, name)
        if name == "direction" and _direction_free(expected) and _direction_free(predicted):
            same = True
        right += same
    for name in NUMERIC_SLOTS.get(kind, ()):
        right += numbers_close(getattr(predicted, name), getattr(expected, name), rel_tol)
    return right, len(names)


def plans_equal(predicted: Optional[Plan], expected: Plan, defaults: MotionDefaults = MotionDefaults(),
                rel_tol: float = REL_TOL) -> bool:
    """Return True when the predicted plan does what the expected plan does (route ignored)."""
    if predicted is None:
        return False
    if not expected.actions:
        return not predicted.actions and bool(predicted.say.strip()) == bool(expected.say.strip())
    pred = resolve_defaults(predicted, defaults).actions
    exp = resolve_defaults(expected, defaults).actions
    if len(pred) != len(exp):
        return False
    for p, e in zip(pred, exp):
        right, total = slot_matches(p, e, rel_tol)
        if p.type != e.type or right != total:
            return False
    return True


def action_types(plan: Optional[Plan]) -> Tuple[str, ...]:
    """Return the sequence of action types of a plan (empty for None)."""
    return tuple(a.type for a in plan.actions) if plan is not None else ()


def action_labels(plan: Optional[Plan]) -> List[str]:
    """Return one label per action for the confusion matrix: the type, with the name of postures and tricks."""
    if plan is None:
        return []
    return [f"{a.type}:{a.name}" if isinstance(a, (Posture, Trick)) else a.type for a in plan.actions]


def confusion_pairs(predicted: Optional[Plan], expected: Plan) -> List[Tuple[str, str]]:
    """Return (expected label, predicted label) pairs aligned by position; missing or extra actions pair with "(none)"."""
    exp, pred = action_labels(expected), action_labels(predicted)
    width = max(len(exp), len(pred))
    exp += [NO_ACTION] * (width - len(exp))
    pred += [NO_ACTION] * (width - len(pred))
    pairs = list(zip(exp, pred))
    if not pairs:
        pairs = [(NO_ACTION, NO_ACTION)]
    return pairs


def slot_counts(predicted: Optional[Plan], expected: Plan, defaults: MotionDefaults = MotionDefaults(),
                rel_tol: float = REL_TOL) -> Tuple[int, int]:
    """Return (slots right, slots expected) over a whole plan, actions aligned by position."""
    exp = resolve_defaults(expected, defaults).actions
    pred = resolve_defaults(predicted, defaults).actions if predicted is not None else ()
    right = total = 0
    for i, e in enumerate(exp):
        r, t = slot_matches(pred[i] if i < len(pred) else None, e, rel_tol)
        right += r
        total += t
    return right, total


def out_of_scope_handled(final: Optional[Plan], escalated: bool) -> bool:
    """Return True when an out-of-scope request moved nothing and was answered in ``say`` or handed on."""
    if final is None:
        return False
    return not final.actions and (bool(final.say.strip()) or final.is_escalation or escalated)


def percentile(values: Iterable[Optional[float]], q: float) -> Optional[float]:
    """Return the q-th percentile (linear interpolation) of the non-null values, or None when there are none."""
    data = sorted(v for v in values if v is not None and math.isfinite(v))
    if not data:
        return None
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


# --------------------------------------------------------------------------------------------------- poses


@dataclass(frozen=True)
class PoseTolerance:
    """How close the simulated final pose must come to the dead-reckoned one for a task to count as done."""

    position_abs_m: float = field(default=0.10, metadata={"help": "Position error always allowed, m."})
    position_rel: float = field(default=0.10, metadata={"help": "Extra position error per metre walked."})
    heading_abs_deg: float = field(default=5.0, metadata={"help": "Heading error always allowed, degrees."})
    heading_rel: float = field(default=0.05, metadata={"help": "Extra heading error per degree turned."})
    heading_per_m_deg: float = field(default=2.0, metadata={"help": "Extra heading error per metre walked (gait drift)."})

    def __post_init__(self):
        for name in ("position_abs_m", "position_rel", "heading_abs_deg", "heading_rel", "heading_per_m_deg"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"PoseTolerance.{name} must be a number >= 0, got {value!r}")


@dataclass(frozen=True)
class PoseScore:
    """Errors of an achieved pose against the dead-reckoned one, the allowed errors, and the verdict."""

    position_error_m: float
    heading_error_deg: float
    posture_ok: bool
    position_allowed_m: float
    heading_allowed_deg: float

    @property
    def success(self) -> bool:
        return (self.position_error_m <= self.position_allowed_m and self.heading_error_deg <= self.heading_allowed_deg
                and self.posture_ok)

    def to_dict(self) -> dict:
        return {"position_error_m": round(self.position_error_m, 4), "heading_error_deg": round(self.heading_error_deg, 2),
                "posture_ok": self.posture_ok, "position_allowed_m": round(self.position_allowed_m, 4),
                "heading_allowed_deg": round(self.heading_allowed_deg, 2), "success": self.success}


def score_pose(achieved: Pose, expected: DeadReckoning, tolerance: PoseTolerance = PoseTolerance()) -> PoseScore:
    """Score an achieved final pose (relative to the case's start) against the dead-reckoned expectation."""
    target = expected.pose
    position_error = math.hypot(achieved.x - target.x, achieved.y - target.y)
    heading_error = abs(wrap_deg(achieved.yaw_deg - target.yaw_deg))
    allowed_position = tolerance.position_abs_m + tolerance.position_rel * expected.walked_m
    allowed_heading = (tolerance.heading_abs_deg + tolerance.heading_rel * expected.turned_deg
                       + tolerance.heading_per_m_deg * expected.walked_m)
    posture_ok = achieved.posture == target.posture
    # What the plan does not determine is not scored (see DeadReckoning).
    if not expected.position_known:
        position_error = 0.0
    if not expected.heading_known:
        heading_error = 0.0
    return PoseScore(position_error, heading_error, posture_ok, allowed_position, allowed_heading)


# ------------------------------------------------------------------------------------------------ summary


def mean(flags: Iterable[Optional[bool]]) -> Optional[float]:
    """Return the share of True among the non-null flags, or None when there are none."""
    values = [bool(f) for f in flags if f is not None]
    return sum(values) / len(values) if values else None


# Decisions whose plan came from the on-board model.
ON_BOARD = ("local", "fallback_local")


def on_board_decisions(scored: Sequence[dict]) -> Dict[str, Optional[float]]:
    """Return how the on-board model decided, for configurations that have one (None otherwise).

    - ``local_coverage``: share of in-scope commands whose plan was decided on board;
    - ``local_precision``: share of those on-board decisions that were exactly right, a wrong refusal
      of a command included;
    - ``local_moving_precision``: share of the on-board plans that moved the dog (they had actions)
      that were exactly right: the issue's "plans it executes locally", since a wrong one is what moves
      a real dog the wrong way, while a wrong refusal costs a repeat but moves nothing;
    - ``oos_handed_on``: share of out-of-scope questions the on-board model handed on ([REMOTE]);
    - ``oos_acted_on``: share of out-of-scope questions that became motion.
    """
    if not any(r.get("decision") in ON_BOARD for r in scored):
        return {"local_coverage": None, "local_precision": None, "local_moving_precision": None,
                "oos_handed_on": None, "oos_acted_on": None}
    commands = [r for r in scored if r["scores"].get("kind") == "command"]
    local = [r for r in commands if r.get("decision") in ON_BOARD]
    oos = [r for r in scored if r.get("out_of_scope")]
    return {"local_coverage": len(local) / len(commands) if commands else None,
            "local_precision": mean(r["scores"]["exact"] for r in local),
            "local_moving_precision": mean(r["scores"]["exact"] for r in local if _moves(r)),
            "oos_handed_on": mean(bool(r.get("escalated")) for r in oos),
            "oos_acted_on": mean(_moves(r) for r in oos)}


def _moves(record: dict) -> bool:
    """Whether the case's final plan had actions, i.e. the dog was told to move or pose."""
    return bool((record.get("final_plan") or {}).get("actions"))


def summarise(records: Sequence[dict], audio_given: bool, sim: bool) -> Dict[str, Optional[float]]:
    """Aggregate per-case records of one configuration into the summary metrics of results.json.

    Records with an ``error`` (a case that could not run) are counted in ``cases_failed`` and
    left out of every rate, so a broken case file never looks like a wrong model.
    """
    ok = [r for r in records if not r.get("error")]
    scored = [r for r in ok if r.get("scores")]
    slots_right = sum(r["scores"]["slots_right"] for r in scored)
    slots_total = sum(r["scores"]["slots_total"] for r in scored)
    oos = [r for r in scored if r.get("out_of_scope")]
    refusals = [r for r in scored if r["scores"].get("kind") == "refusal"]
    latencies = {stage: [r.get("latency_s", {}).get(stage) for r in ok] for stage in
                 ("asr", "interpreter", "first_cmd_vel", "e2e")}
    summary: Dict[str, Optional[float]] = {
        "cases": len(records),
        "cases_failed": len(records) - len(ok),
        "exact_plan_accuracy": mean(r["scores"]["exact"] for r in scored),
        "action_type_accuracy": mean(r["scores"]["action_types"] for r in scored),
        "slot_accuracy": slots_right / slots_total if slots_total else None,
        "out_of_scope_handled": mean(r["scores"]["out_of_scope_handled"] for r in oos),
        "refusals_held": mean(r["scores"]["moved_nothing"] for r in refusals),
        "escalation_rate": mean(r.get("escalated") for r in scored) if any(
            r.get("escalated") is not None for r in scored) else None,
        "invalid_output_rate": mean(r.get("final_plan") is None for r in scored),
    }
    summary.update(on_board_decisions(scored))
    for stage, values in latencies.items():
        summary[f"latency_{stage}_p50_s"] = percentile(values, 50)
        summary[f"latency_{stage}_p95_s"] = percentile(values, 95)
    if audio_given:
        spoken = [r for r in ok if r.get("audio") and r.get("reference_text") is not None]
        summary["wer"] = word_error_rate([r["reference_text"] for r in spoken], [r.get("transcript") or "" for r in spoken])
    if sim:
        summary["task_success"] = mean(r["sim"]["success"] for r in ok if r.get("sim") and "success" in r["sim"])
    return summary
