"""Does a plan account for the quantities the user said? A check on a model's answer, not a planner.

A small model's two costliest mistakes leave a trace in the numbers:

- it **drops a step** of a multi-step command ("stroll forward 1.5 meters, veer right ninety
  degrees, stroll forward 1.5 meters" planned as ``move forward 1.5 m``): a said quantity (90 deg)
  is used by no action, or a quantity said twice ("1.5 meters" for both sides) is used once;
- it **invents a value** ("race forward, speed five metres a second" planned as
  ``move forward _ 0.1``): a number of the plan was never said.

``disagreement`` compares the quantities of the utterance (``decoding.said_quantities``, after
the one normaliser) with those of the compact plan, physical values with physical values ("50 cm"
and "0.5 m" agree). It never changes a plan and never picks an action: it only says why a plan
should not be trusted, and the decision policy then asks the other model or refuses. A turn may
carry an angle nobody said when it is one of ``decoding.TURN_ANGLES`` ("turn around" is 180);
speeds written as ``slow``/``fast`` and defaults left out (``_``) carry no number to compare.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import List, Optional, Tuple

from ..plan import HELD_ACTIONS, REMOTE_MARKER
from .compact import NUMBER, SAY_PREFIX, SEPARATOR, SPEED_WORDS
from .decoding import TURN_ANGLES, said_quantities
from .normalise import ANGLE_UNIT, DISTANCE_UNITS, DURATION_UNITS, SPEED_UNIT

# Slot kinds and the units that fit each; a number said without a unit fits any slot.
_SLOT_UNITS = {"distance": DISTANCE_UNITS, "duration": DURATION_UNITS, "angle": {ANGLE_UNIT: 1.0},
               "speed": {SPEED_UNIT: 1.0}}
# The unit a slot's number has when the plan writes none (the parser's reading).
_BASE_UNIT = {"distance": "m", "duration": "s", "angle": ANGLE_UNIT, "speed": SPEED_UNIT}


def action_words(compact: str) -> List[List[str]]:
    """Return the words of each action of a compact plan, in order; ``say:`` text and ``[REMOTE]`` give none."""
    text = compact.strip()
    if text == REMOTE_MARKER:
        return []
    say_at = text.find(SAY_PREFIX)
    if say_at >= 0:
        text = text[:say_at]
    return [words for words in (segment.split() for segment in text.split(SEPARATOR.strip())) if words]


def plan_quantities(compact: str) -> List[Tuple[str, float, str]]:
    """Return the numbers of a compact plan's actions as (slot, value, unit), in order; ``say:`` text is not read.

    ``move forward 6 ft 0.3 ; turn left 90 ; wait 2 min`` gives ("distance", 6.0, "ft"),
    ("speed", 0.3, "m/s"), ("angle", 90.0, "deg"), ("duration", 2.0, "min"). Malformed text gives
    what could be read; the parser, not this check, rejects it.
    """
    found = []
    for words in action_words(compact):
        head, args = words[0], words[2:] if words[0] in ("move", "turn") else words[1:]
        slots = {"move": ("distance", "speed"), "turn": ("angle",), "wait": ("duration",)}.get(head, ())
        for slot in slots:
            if not args:
                break
            word = args.pop(0)
            if slot == "speed" and word in SPEED_WORDS:
                continue
            if not NUMBER.match(word):  # "_" (a default) or text the parser rejects anyway
                continue
            unit = args.pop(0) if args and args[0] in _SLOT_UNITS[slot] else _BASE_UNIT[slot]
            found.append((slot, float(word), unit))
    return found


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0.01, abs_tol=1e-9)


def _fits(slot: str, value: float, unit: str, said_number: float, said_unit: str) -> bool:
    """Say whether a plan's (slot, value, unit) is the said (number, unit)."""
    if not said_unit:
        return _same(value, said_number)  # said without a unit: the model copies the number as it is
    units = _SLOT_UNITS[slot]
    if said_unit not in units:
        return False
    return _same(value * units[unit], said_number * units[said_unit])


def disagreement(text: str, compact: str, turn_angles: Tuple[str, ...] = TURN_ANGLES) -> str:
    """Return why the plan's numbers disagree with the utterance's, or "" when they agree.

    Only plans with actions are checked; an answer (``say:`` alone) or ``[REMOTE]`` always agrees.
    """
    body = compact.strip()
    if not body or body == REMOTE_MARKER or body.startswith(SAY_PREFIX):
        return ""
    plan = plan_quantities(body)
    said = [(float(n), u) for n, u in said_quantities(text)]
    unsaid = [(slot, value, unit) for slot, value, unit in plan
              if not any(_fits(slot, value, unit, n, u) for n, u in said)
              and not (slot == "angle" and any(_same(value, float(a)) for a in turn_angles))]
    if unsaid:
        slot, value, unit = unsaid[0]
        return f"the plan's {slot} {value:g} {unit} was not said"
    def uses(n: float, u: str) -> int:
        return sum(_fits(slot, value, unit, n, u) for slot, value, unit in plan)

    # Only a number said with its unit must be used: a bare one may be a count or a word that Whisper
    # wrote as a number ("turn two face behind you"). "in" may be a word after a number ("turn 90 in
    # place"): said_quantities also offers such a number without a unit, and that reading may be used.
    # A quantity said twice must be used twice: "walk 1.5 m, turn right, walk 1.5 m" planned without its
    # last step uses 1.5 m once.
    times = Counter((float(n), u) for n, u in said_quantities(text, unique=False) if u)
    used = {(n, u): uses(n, u) for n, u in times}
    short = [(n, u, count, used[n, u]) for (n, u), count in times.items()
             if used[n, u] < count and not (u == "in" and uses(n, ""))]
    if not short:
        return ""
    # A quantity in no action at all says more than one used too rarely, so it is named first.
    n, u, count, times_used = min(short, key=lambda s: s[3] > 0)
    if not times_used:
        return f"the said {n:g} {u} is in no action"
    return f"the {n:g} {u} said {count} times is in {times_used} action{'s' if times_used > 1 else ''}"


def agrees(text: str, compact: Optional[str]) -> bool:
    """Say whether ``compact`` (None: nothing to check) accounts for the quantities of ``text``."""
    return compact is None or not disagreement(text, compact)


# "right" and "left" that name no side: "right away", "all right", "Right then, ...", "a right angle",
# "your left paw", "nothing left". Without these, 2.7 % of 16,185 generated gold commands were
# doubted, all for "right".
_NOT_A_SIDE = re.compile(
    r"\bright(?=\s+(?:away|now|there|here|back|after|before|behind|up|down|beside|next|where|off|this|in\s+front)\b)"
    r"|\b(?:all|that's|thats|you're|youre|that\s+is|quite|alright)\s+right\b"
    r"|(?:^|[.!?,]\s*)right(?:\s+(?:then|than|so|okay|ok|well))?\s*[,.!?]"
    r"|\b(?:left|right)(?=\s+(?:paw|paws|leg|legs|foot|feet|hand|hands|ear|ears|arm|arms|eye|eyes)\b)"
    r"|\bright[- ]angle"
    r"|\b(?:i|you|we|they|he|she|it|have|has|had|was|is|nothing|anything|something|what's|whats|just)\s+left\b"
    r"|\bleft(?=\s+(?:over|behind)\b)")
_SIDE = re.compile(r"\b(left|right)(?:wards?|ward)?\b")


def sides_said(text: str) -> List[str]:
    """Return the sides ("left", "right") the utterance names as a way to move or turn, each once, in order."""
    masked = _NOT_A_SIDE.sub(" ", text.lower())
    found = []
    for side in _SIDE.findall(masked):
        if side not in found:
            found.append(side)
    return found


def plan_sides(compact: str) -> List[str]:
    """Return the directions of a compact plan's moves and turns ("move left 2 m ; turn right" gives both)."""
    return [words[1] for words in action_words(compact) if len(words) >= 2 and words[0] in ("move", "turn")]


def missing_side(text: str, compact: str) -> str:
    """Return why a plan with actions leaves out a side the utterance names ('' when every side said is used).

    The commonest dropped step has no number to miss: "turn right, walk forward three meters, then
    wave" planned as ``move forward 3 m ; wave`` (generation 8, on board at 1.00). A side said and
    used by no move or turn is that trace. Like ``disagreement`` it only doubts a plan, never makes one.
    """
    body = compact.strip()
    if not body or body == REMOTE_MARKER or body.startswith(SAY_PREFIX):
        return ""
    used = plan_sides(body)
    if any(words == ["spin"] for words in action_words(body)):
        used += ["left", "right"]  # "spin to the right": the language gives a spin no side
    for side in sides_said(text):
        if side not in used:
            return f"the said {side!r} is in no move or turn"
    return ""


def repeated_hold(compact: str) -> str:
    """Return the held action (``HELD_ACTIONS``) a compact plan writes twice in a row, or ''.

    Standing twice is standing, so a model that writes "stand ; stand" planned one of the steps it
    was told as nothing. Measured, it is how the models fill a step they did not understand with the
    step before: "Get back on your feet and limber up." planned as ``stand ; stand`` by every shadow
    generation evaluated on the cases since generation 12 (on board at 0.97 in generation 20), "Unfold your legs and get
    tall." likewise, "Do a little jig and finish by lying flat." as ``lie_down ; lie_down`` (edge-lora).
    Like ``missing_side`` it only doubts a plan.
    """
    steps = action_words(compact)
    for before, after in zip(steps, steps[1:]):
        if before == after and before[0] in HELD_ACTIONS:
            return before[0]
    return ""
