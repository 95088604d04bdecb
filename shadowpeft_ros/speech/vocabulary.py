"""The command language's own words, as the text that biases Whisper toward them (one place).

Whisper decodes after a "previous text" that it reads as context. faster-whisper's ``hotwords``
and ``initial_prompt`` both land there (``<|startofprev|> text``); what differs is the form of
the text. Two forms are built here from the same vocabulary:

- ``words``: the vocabulary as a comma-separated list (what faster-whisper calls hotwords);
- ``prompt``: short command-like sentences made of the same words, which read to Whisper like a
  transcript of the same speaker giving commands, so spelling ("two meters" against "2 meters")
  and punctuation follow it as well.

The words come from command language v1 (``plan.py``: directions, postures, tricks, action types)
and from how a person says its slots: motion verbs, units, number words. Nothing here is taken
from the evaluation sentences (``eval/cases.jsonl``); ``test_speech_bias.py`` checks the lists stay
free of their case-specific verbs, so the measured gain is not a gain on memorised sentences.

Biasing has a cost that is measured alongside its gain (``benchmarks/bench_speech_models.py``):
it can pull an unrelated word toward a command word ("forty five degrees" heard as "forward the
degrees" with a word list).
"""

from __future__ import annotations

from typing import Tuple

from ..plan import MOVE_DIRECTIONS, POSTURES, TRICKS
from .gate import STOP_WORDS

BIAS_MODES = ("off", "words", "prompt")

WAKE = ("hey dog",)
MOTION_VERBS = ("walk", "go", "move", "step", "trot", "run", "come", "back up", "turn", "rotate", "pivot", "face")
POSTURE_WORDS = tuple(p.replace("_", " ") for p in POSTURES) + ("sit down", "stand up", "get up")
TRICK_WORDS = TRICKS + ("paw",)
CONTROL_WORDS = STOP_WORDS + ("now", "wait", "pause")
DIRECTION_WORDS = MOVE_DIRECTIONS + ("ahead", "around", "back")
SPEED_WORDS = ("slowly", "quickly")
UNITS = ("meters", "centimeters", "feet", "yards", "degrees", "seconds")
NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twenty", "thirty",
                "forty", "fifty", "sixty", "ninety", "hundred", "half", "quarter")


def _unique(items) -> Tuple[str, ...]:
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return tuple(seen)


def command_vocabulary() -> Tuple[str, ...]:
    """Return the command language's words and short phrases, each once, in a stable order."""
    return _unique(WAKE + MOTION_VERBS + DIRECTION_WORDS + POSTURE_WORDS + TRICK_WORDS + CONTROL_WORDS + SPEED_WORDS
                   + UNITS + NUMBER_WORDS)


def bias_words() -> str:
    """Return the vocabulary as a hotwords list."""
    return ", ".join(command_vocabulary())


# Words the prompt's phrases need around the vocabulary ("go back half a meter").
FUNCTION_WORDS = ("a", "your", "then", "meter")


def bias_prompt() -> str:
    """Return command-like sentences made only of vocabulary words, as an initial prompt.

    Measured on the spoken cases and a held-out set (speech README): sentences in sentence case with
    numbers in words beat a comma-separated list, which Whisper copies ("stop, stop,"), and beat
    digits. The stop words come from the stop detector's one list, so "freeze" and "halt" are
    expected words rather than being pulled toward "three" and "out".
    """
    stops = ". ".join(w.capitalize() for w in STOP_WORDS)
    return ("Hey dog, walk forward two meters. Go backward half a meter. Step left thirty centimeters, then move "
            "right three feet. Trot ahead five yards quickly. Come back slowly. Back up four meters. Turn left "
            "ninety degrees. Rotate right forty degrees. Pivot around. Face left. Sit down. Stand up. Lie down. "
            f"Dance. Wave your paw. Stretch. Spin. Wait six seconds. Stop now. {stops}.")


def bias_text(mode: str, override: str = "") -> str:
    """Return the text that biases the decoder for ``mode`` ("" for off); ``override`` replaces the built one."""
    if mode not in BIAS_MODES:
        raise ValueError(f"bias must be one of {BIAS_MODES}, got {mode!r}")
    if mode == "off":
        return ""
    if override.strip():
        return override.strip()
    return bias_words() if mode == "words" else bias_prompt()
