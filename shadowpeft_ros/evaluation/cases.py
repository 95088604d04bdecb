"""Read an evaluation case file (JSON Lines), keeping every line's problem to itself.

Each line is one object::

    {"id": "...", "text": "..."}                              a typed command
    {"id": "...", "audio": "clip.wav", "text": "..."}          a spoken one; "text" is the reference for WER
    ... "expected": {v1 plan}, "out_of_scope": true?, "meta": {...}?

Audio paths are relative to the case file. Files written by someone else must load: an
unknown field is ignored with a note, and a line that cannot be run (bad JSON, no id, a plan
that is not command language v1, a missing audio file) becomes a case with an ``error`` that
the run reports and skips, instead of ending the run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from ..plan import Plan, PlanError, parse_plan

logger = logging.getLogger("shadowpeft_ros")

KNOWN_FIELDS = ("id", "text", "audio", "expected", "out_of_scope", "meta")


class CaseFileError(ValueError):
    """The case file as a whole cannot be read (missing, empty); single bad lines never raise this."""


@dataclass
class Case:
    """One evaluation case. ``error`` is set when the case cannot run; ``notes`` record what was ignored."""

    id: str
    line: int
    text: Optional[str] = None
    audio: Optional[Path] = None
    expected: Optional[Plan] = None
    out_of_scope: bool = False
    meta: dict = field(default_factory=dict)
    error: str = ""
    notes: Tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """Return "command", "out_of_scope" or "refusal" (no actions expected, but not out of scope)."""
        if self.out_of_scope:
            return "out_of_scope"
        if self.expected is not None and not self.expected.actions:
            return "refusal"
        return "command"

    @property
    def modality(self) -> str:
        return "audio" if self.audio is not None else "text"


def parse_case(obj, line: int, base_dir: Path) -> Case:
    """Build one case from a decoded JSON line; problems go into ``error`` and ``notes``, never raise."""
    if not isinstance(obj, dict):
        return Case(id=f"line-{line}", line=line, error=f"line {line}: a case must be a JSON object, "
                                                           f"got {type(obj).__name__}")
    case_id = obj.get("id")
    if not isinstance(case_id, (str, int)) or isinstance(case_id, bool) or str(case_id) == "":
        case = Case(id=f"line-{line}", line=line, error=f"line {line}: the case has no \"id\"")
    else:
        case = Case(id=str(case_id), line=line)
    notes = []
    unknown = sorted(set(obj) - set(KNOWN_FIELDS))
    if unknown:
        notes.append(f"ignored unknown fields {unknown}")
    errors = [case.error] if case.error else []

    text = obj.get("text")
    if text is not None and not isinstance(text, str):
        errors.append(f"\"text\" must be a string, got {type(text).__name__}")
        text = None
    case.text = text
    audio = obj.get("audio")
    if audio is not None:
        if not isinstance(audio, str) or not audio:
            errors.append(f"\"audio\" must be a file path, got {audio!r}")
        else:
            path = Path(audio).expanduser()
            path = path if path.is_absolute() else base_dir / path
            case.audio = path
            if not path.is_file():
                errors.append(f"audio file not found: {path}")
    if case.text is None and audio is None:
        errors.append("the case has neither \"text\" nor \"audio\"")

    if "expected" not in obj:
        errors.append("the case has no \"expected\" plan")
    else:
        try:
            case.expected = parse_plan(obj["expected"])
        except PlanError as exc:
            errors.append(f"\"expected\" is not a command-language-v1 plan: {exc}")
    oos = obj.get("out_of_scope", False)
    if not isinstance(oos, bool):
        errors.append(f"\"out_of_scope\" must be true or false, got {oos!r}")
    case.out_of_scope = oos is True
    if case.out_of_scope and case.expected is not None and case.expected.actions:
        errors.append("an out-of-scope case must expect no actions")
    meta = obj.get("meta", {})
    case.meta = meta if isinstance(meta, dict) else {"value": meta}

    case.error = "; ".join(e for e in errors if e)
    case.notes = tuple(notes)
    return case


def load_cases(path, limit: Optional[int] = None) -> List[Case]:
    """Read a JSON Lines case file; return every case, runnable or not, in file order (the first ``limit``)."""
    path = Path(path)
    if not path.is_file():
        raise CaseFileError(f"case file not found: {path}")
    cases: List[Case] = []
    seen = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("//"):
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            case = Case(id=f"line-{number}", line=number, error=f"line {number} is not valid JSON: {exc.msg}")
        else:
            case = parse_case(obj, number, path.parent)
        if case.id in seen:
            case.error = "; ".join(filter(None, [case.error, f"duplicate id {case.id!r} (first on line {seen[case.id]})"]))
            case.id = f"{case.id}@line-{number}"
        seen.setdefault(case.id, number)
        for note in case.notes:
            logger.info("case %s: %s", case.id, note)
        if case.error:
            logger.warning("case %s cannot run: %s", case.id, case.error)
        cases.append(case)
        if limit is not None and len(cases) >= limit:
            break
    if not cases:
        raise CaseFileError(f"case file {path} holds no cases")
    return cases
