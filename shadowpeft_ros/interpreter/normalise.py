"""How numbers and units are written, made uniform before a language model reads an utterance.

The model copies; code computes. A 135M-parameter model cannot be trusted to turn "three
feet" into 0.9144 or "a hundred and twenty" into 120, so every utterance passes through
``normalise_utterance`` before the prompt is built, in the data generator, in training and at
inference alike:

- spelled numbers become digits ("forty five" -> "45", "zero point two" -> "0.2"), with the
  maintained inverse-text-normalisation library ``text2num`` doing the cardinal numbers;
- the idioms it does not know are rewritten first ("two and a half" -> "2.5", "half a meter"
  -> "0.5 m", "a couple of" -> "2", "a dozen" -> "12", "one eighty" -> "180");
- a unit after a number is written in one canonical form ("centimetres" -> "cm", "feet" ->
  "ft", "degrees" -> "deg", "meters per second" -> "m/s"), and "a meter" becomes "1 m";
- Whisper's homophones of number words are repaired only where a unit proves a number was
  meant ("walk forward to meters" -> "2 m").

It never decides which action is meant: words stay words, lower-cased, and ordinals ("the
second turn"), pronouns ("the one on the left") and homophones without a unit stay as they are.
The model then copies the number and its unit into the compact plan ("move forward 3 ft"), and
``compact.parse_compact`` converts with ``DISTANCE_UNITS`` / ``DURATION_UNITS``.
"""

from __future__ import annotations

import functools
import re
from typing import Dict, Tuple

# Canonical unit -> factor to the command language's unit (metres, seconds).
DISTANCE_UNITS: Dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "ft": 0.3048, "in": 0.0254, "yd": 0.9144}
DURATION_UNITS: Dict[str, float] = {"s": 1.0, "min": 60.0}
ANGLE_UNIT = "deg"
SPEED_UNIT = "m/s"

# Spoken and written forms of each unit, longest first when they share a prefix.
_UNIT_FORMS: Tuple[Tuple[str, str], ...] = (
    ("m/s", r"m/s|mps|(?:meters?|metres?) (?:per|a|an) second"),
    ("cm", r"centimet(?:er|re)s?|cms?"),
    ("mm", r"millimet(?:er|re)s?|mm"),
    ("m", r"met(?:er|re)s?|m"),
    ("ft", r"foot|feet|ft"),
    ("in", r"inch(?:es)?"),
    ("yd", r"yards?|yds?"),
    (ANGLE_UNIT, r"degrees?|degs?|°"),
    ("min", r"minutes?|mins?"),
    ("s", r"seconds?|secs?|s"),
)
UNIT_WORDS = tuple(unit for unit, _ in _UNIT_FORMS)
_UNIT_ALTERNATION = "|".join(f"(?:{forms})" for _, forms in _UNIT_FORMS)
_NUMBER = r"\d+(?:\.\d+)?"

_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORD = "|".join(_SMALL + _TENS + ["hundred", "thousand"])
_ORDINALS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
             "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth fortieth "
             "fiftieth sixtieth seventieth eightieth ninetieth hundredth thousandth").split()
# A unit word right after it proves that a homophone was a number ("to meters" is "2 meters").
_HOMOPHONES = {"to": "2", "too": "2", "for": "4", "fore": "4", "won": "1", "ate": "8"}
_PLURAL_UNITS = (r"met(?:er|re)s|centimet(?:er|re)s|feet|inches|yards|degrees|seconds|minutes")
# Words a bare "one" leans on when it counts something: it is a number only before these.
_ONE_COUNTS = r"and|point|hundred|thousand|half|" + _UNIT_ALTERNATION

_SPACE = re.compile(r"\s+")
_GLUED = re.compile(rf"(?<![\w.])({_NUMBER})({_UNIT_ALTERNATION})(?![\w/])")
_HYPHEN_NUMBER = re.compile(rf"\b({_NUMBER_WORD})-({_NUMBER_WORD})\b")
# "a 90-degree turn", "a two-meter walk", "a half-metre step": the hyphen joins a number to its unit.
_HYPHEN_UNIT = re.compile(rf"\b({_NUMBER}|{_NUMBER_WORD}|half)-({_UNIT_ALTERNATION})\b")
# ".5 m" as typed: a decimal without its leading zero.
_BARE_DECIMAL = re.compile(r"(?<![\w.])\.(\d)")
_A_HUNDRED = re.compile(r"\b(?:a|an) (hundred|thousand)\b")
_HUNDREDS_READING = re.compile(r"\b(one|two|three|four|five|six|seven|eight|nine) "
                               r"(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)\b(?! (?:hundred|thousand))")
_POINT = re.compile(rf"\bpoint (?={'|'.join(_SMALL)}\b)")
_COUPLE = re.compile(r"\b(?:a )?couple(?: of)?\b(?= (?:more )?(?:" + _UNIT_ALTERNATION + r"|steps?)\b)")
_DOZEN = re.compile(r"\b(?:(half) a|a) dozen\b")
_HALF_A = re.compile(rf"\b(?:half (?:a|an)|a half|half)(?: (?:of )?(?:a|an))? ({_UNIT_ALTERNATION})\b")
_QUARTER_OF = re.compile(rf"\b(?:(three) quarters?|(?:a|one) quarter) (?:of )?(?:a |an )?({_UNIT_ALTERNATION})\b")
_ONE_WORD = re.compile(rf"\bone\b(?! (?:{_ONE_COUNTS})\b)")
_UNIT_SECOND = re.compile(rf"\b({_NUMBER_WORD}|{_NUMBER}) seconds?\b")
_ORDINAL_WORD = re.compile(rf"\b(?:{'|'.join(_ORDINALS)})s?\b")
_SENTINEL = re.compile(r"qq(\d+)qq")
_AND_A_HALF = re.compile(rf"\b(?:(\d+)|({_NUMBER_WORD})) and (?:a )?half\b")
# "a metre and a half", "two feet and a half": the half comes after the unit. Not "... and a half turn".
_UNIT_AND_A_HALF = re.compile(rf"\b(\d+) ({_UNIT_ALTERNATION}) and a half\b(?![ -](?:turn|circle|rotation|spin|revolution))")
_SPEED_WORDS = re.compile(r"\b(?:met(?:er|re)s?|m) (?:per|a|an|each|every) (?:second|sec)\b")
# Distances far beyond any move, converted so that the plan carries metres and the safety limits refuse it
# ("walk a kilometre" is 1000 m, over the 5 m limit) instead of the model meeting a unit it never saw.
_METRES_PER_KM, _METRES_PER_MILE = 1000.0, 1609.344
_LONG_DISTANCE = re.compile(rf"\b({_NUMBER}) (?:(kilomet(?:er|re)s?|kms?)|miles?)\b")
_HOMOPHONE = re.compile(rf"\b({'|'.join(_HOMOPHONES)}) (?=(?:{_PLURAL_UNITS})\b)")
_NUMBER_UNIT = re.compile(rf"\b({_NUMBER}) ({_UNIT_ALTERNATION})(?=$|[^\w/])")
_ARTICLE_UNIT = re.compile(r"\b(?:a|an|one) (met(?:er|re)|centimet(?:er|re)|foot|inch|yard|degree|minute|kilomet(?:er|re)|mile)\b")
# "a second" is a duration where the sentence ends or a courtesy follows ("freeze for a second now"), and an
# ordinal before a noun ("a second turn"), so it is rewritten only before the words that close a command.
_A_SECOND = re.compile(r"\b(?:a|one) second\b(?=$|[,.!?;]| (?:and|then|or so|please|before|now|for me|right away|"
                       r"straight away|at once|if|when|thanks|thank you|ok|okay|buddy|mate|pal|cheers|yeah|"
                       r"would you|will you|could you|this instant|without delay|good (?:boy|girl))\b)")


@functools.lru_cache(maxsize=1)
def _alpha2digit():
    try:
        from text_to_num import alpha2digit
    except ImportError as exc:  # a clear message instead of a stack trace deep in the interpreter
        raise ImportError("the interpreter's number normaliser needs the `text2num` package "
                          "(pip install 'text2num==3.1.0', or scripts/setup.sh)") from exc
    return alpha2digit


def _previous_is_number(text: str, at: int) -> bool:
    """Return True when the word before position ``at`` continues a number ("twenty one", "two point five")."""
    before = text[:at].split()
    if not before:
        return False
    last = before[-1]
    if last == "and":  # "a hundred and one", but not "sit and one more"
        return len(before) > 1 and before[-2] in ("hundred", "thousand")
    return last in _SMALL or last in _TENS or last in ("hundred", "thousand", "point") or re.fullmatch(_NUMBER, last) is not None


def _canonical_unit(word: str) -> str:
    for unit, forms in _UNIT_FORMS:
        if re.fullmatch(forms, word):
            return unit
    raise ValueError(f"not a unit: {word!r}")


def _format(value: float) -> str:
    text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
    return text or "0"


def normalise_utterance(text: str) -> str:
    """Return the utterance with numbers as digits and units in canonical form, lower-cased, on one line."""
    text = _SPACE.sub(" ", str(text)).strip().lower()
    if not text:
        return ""
    text = text.replace("’", "'").replace("½", " and a half")
    text = _HYPHEN_NUMBER.sub(r"\1 \2", _HYPHEN_NUMBER.sub(r"\1 \2", text))
    text = _GLUED.sub(r"\1 \2", text)
    text = _HYPHEN_UNIT.sub(r"\1 \2", text)
    text = _BARE_DECIMAL.sub(r"0.\1", text)

    # Idioms text2num does not know, rewritten into forms it does.
    text = _SPEED_WORDS.sub(SPEED_UNIT, text)
    text = _AND_A_HALF.sub(lambda m: _format(int(m.group(1)) + 0.5) if m.group(1) else f"{m.group(2)} point five", text)
    text = _A_HUNDRED.sub(r"one \1", text)
    text = _HUNDREDS_READING.sub(r"\1 hundred \2", text)
    text = _POINT.sub(lambda m: m.group(0) if _previous_is_number(text, m.start()) else "zero point ", text)
    text = _DOZEN.sub(lambda m: "6" if m.group(1) else "12", text)
    text = _COUPLE.sub("2", text)
    text = _QUARTER_OF.sub(lambda m: f"{'0.75' if m.group(1) else '0.25'} {m.group(2)}", text)
    text = _HALF_A.sub(r"0.5 \1", text)
    text = _A_SECOND.sub("1 s", text)
    text = _ARTICLE_UNIT.sub(r"1 \1", text)

    # Words text2num would wrongly turn into digits are set aside and put back afterwards:
    # ordinals ("second" would become "2nd") and a "one" that counts nothing ("the one on the left").
    kept = []

    def keep(match: re.Match) -> str:
        kept.append(match.group(0))
        return f"qq{len(kept) - 1}qq"

    text = _UNIT_SECOND.sub(r"\1 sec", text)  # the unit, not the ordinal
    text = _ORDINAL_WORD.sub(keep, text)
    text = _ONE_WORD.sub(lambda m: m.group(0) if _previous_is_number(text, m.start()) else keep(m), text)
    text = _alpha2digit()(text, "en", threshold=0)
    text = _SENTINEL.sub(lambda m: kept[int(m.group(1))], text)
    text = _UNIT_AND_A_HALF.sub(lambda m: f"{_format(int(m.group(1)) + 0.5)} {m.group(2)}", text)
    text = _LONG_DISTANCE.sub(
        lambda m: f"{_format(float(m.group(1)) * (_METRES_PER_KM if m.group(2) else _METRES_PER_MILE))} m", text)

    text = _HOMOPHONE.sub(lambda m: _HOMOPHONES[m.group(1)] + " ", text)
    text = _NUMBER_UNIT.sub(lambda m: f"{m.group(1)} {_canonical_unit(m.group(2))}", text)
    return _SPACE.sub(" ", text).strip()
