"""Which transcripts become commands: the wake phrase, push-to-talk, and stop words that always pass.

This module is the one home of the stop detector. ``STOP_WORDS`` is the only list of stop words and
``is_stop_utterance`` the only test of "this utterance means stop": the speech gate and the
decision policy's stop fast path (shadowpeft_ros/policy.py) call it, with the one configured
``stop_words`` list, so "stop" means the same thing at every stage. It imports nothing heavy and never rclpy.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, List, Optional, Tuple

if TYPE_CHECKING:
    from .options import GateOptions

logger = logging.getLogger("shadowpeft_ros")

STOP_WORDS: Tuple[str, ...] = ("stop", "halt", "freeze", "stay", "whoa", "abort")
# Stops said in more than one word, none of whose words is a stop on its own ("move", "still"). Kept
# apart from STOP_WORDS, which the recogniser's prompt and barge-in detection read word by word.
STOP_PHRASES: Tuple[str, ...] = ("don't move", "do not move", "dont move", "don't budge", "do not budge",
                                 "hold still", "keep still", "stand still", "stay still", "be still")
# Words that may surround a stop word without changing its meaning ("stop now", "dog, stop it",
# "emergency stop").
STOP_FILLERS = frozenset({"please", "now", "it", "that", "dog", "right", "there", "moving", "walking",
                          "everything", "immediately", "all", "hey", "okay", "ok", "the", "robot", "emergency"})


def words(text: str) -> List[str]:
    """Return the lower-case words of a transcript, punctuation removed."""
    return re.findall(r"[a-z0-9']+", text.lower())


def _scan(text: str, stop_words: Iterable[str], stop_phrases: Iterable[str]) -> List[Tuple[str, bool]]:
    """Return the words of ``text``, each stop phrase joined into one item, each with whether it is a stop."""
    stops = frozenset(w.strip().lower() for w in stop_words)
    phrases = sorted({tuple(words(p)) for p in stop_phrases if words(p)}, key=len, reverse=True)
    ws, items, i = words(text), [], 0
    while i < len(ws):
        match = next((p for p in phrases if tuple(ws[i:i + len(p)]) == p), None)
        if match:
            items.append((" ".join(match), True))
            i += len(match)
        else:
            items.append((ws[i], ws[i] in stops))
            i += 1
    return items


def stops_said(text: str, stop_words: Iterable[str] = STOP_WORDS,
               stop_phrases: Iterable[str] = STOP_PHRASES) -> List[str]:
    """Return the stop words and stop phrases said in ``text``, in order ("don't move" counts as one)."""
    return [item for item, stop in _scan(text, stop_words, stop_phrases) if stop]


def is_stop_utterance(text: str, stop_words: Iterable[str] = STOP_WORDS,
                      stop_phrases: Iterable[str] = STOP_PHRASES) -> bool:
    """Return True when ``text`` means stop: stop words or phrases, with at most filler words around them.

    "stop", "Stop it!", "dog, stop now", "emergency stop", "halt halt", "don't move" are stops; "stop at
    the door", "don't stop" and "don't move forward" are not (they are commands for the interpreter).
    Case and punctuation are ignored.
    """
    items = _scan(text, stop_words, stop_phrases)
    return any(stop for _, stop in items) and all(stop or item in STOP_FILLERS for item, stop in items)


def contains_stop_word(text: str, stop_words: Iterable[str] = STOP_WORDS,
                       stop_phrases: Iterable[str] = STOP_PHRASES) -> bool:
    """Return True when ``text`` says a stop word or phrase anywhere (the looser test used while the robot talks)."""
    return bool(stops_said(text, stop_words, stop_phrases))


def _within_one_edit(a: str, b: str) -> bool:
    """Return True when a and b differ by at most one substitution, insertion or deletion."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) <= 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


@dataclass
class GateDecision:
    """The gate's verdict on one transcript."""

    accepted: bool
    text: str  # the command text, wake phrase stripped
    is_stop: bool
    wake_heard: bool
    reason: str


class CommandGate:
    """Decide per transcript whether it is a command; thread-safe (push-to-talk arrives from a service)."""

    def __init__(self, options: Optional["GateOptions"] = None):
        from .options import GateOptions  # options imports STOP_WORDS from here: import it late

        self.options = options or GateOptions()
        self._wake_words = sorted({tuple(words(p)) for p in self.options.wake_phrases if words(p)},
                                  key=len, reverse=True)
        self._stop_words = frozenset(self.options.stop_words)
        self._lock = threading.Lock()
        self._ptt_open_since: Optional[float] = None
        self._ptt_intervals: List[Tuple[float, float]] = []
        self._wake_until = 0.0

    def _word_matches(self, heard: str, expected: str) -> bool:
        if heard == expected:
            return True
        # Whisper mis-hears the wake word by a letter ("hey log", "hey dogs"); short words must match exactly.
        return self.options.wake_fuzzy and len(expected) >= 3 and _within_one_edit(heard, expected)

    def strip_wake_phrase(self, text: str) -> Tuple[bool, str]:
        """Return whether the text begins with a wake phrase, and the text without it."""
        tokens = list(re.finditer(r"[A-Za-z0-9']+", text))
        heard = [t.group().lower() for t in tokens]
        for phrase in self._wake_words:
            n = len(phrase)
            if len(heard) >= n and all(self._word_matches(h, e) for h, e in zip(heard[:n], phrase)):
                rest = text[tokens[n - 1].end():].lstrip(" ,.!?;:-").strip()
                return True, rest[:1].upper() + rest[1:]
        return False, text.strip()

    def is_stop(self, text: str) -> bool:
        """Return True when the text is a stop: stop words, with at most filler words around them."""
        return is_stop_utterance(text, self._stop_words)

    def set_push_to_talk(self, pressed: bool, now: Optional[float] = None) -> None:
        """Press or release the push-to-talk button (wall-clock ``now``)."""
        now = time.time() if now is None else now
        with self._lock:
            if pressed and self._ptt_open_since is None:
                self._ptt_open_since = now
            elif not pressed and self._ptt_open_since is not None:
                self._ptt_intervals.append((self._ptt_open_since, now))
                self._ptt_intervals = self._ptt_intervals[-32:]
                self._ptt_open_since = None

    @property
    def push_to_talk_pressed(self) -> bool:
        with self._lock:
            return self._ptt_open_since is not None

    def _ptt_overlaps(self, start: float, end: float) -> bool:
        with self._lock:
            intervals = list(self._ptt_intervals)
            if self._ptt_open_since is not None:
                intervals.append((self._ptt_open_since, float("inf")))
        return any(a <= end and start <= b for a, b in intervals)

    def decide(self, text: str, speech_start: float = 0.0, speech_end: float = 0.0) -> GateDecision:
        """Judge a transcript whose speech ran from ``speech_start`` to ``speech_end`` (wall clock)."""
        o = self.options
        wake, rest = self.strip_wake_phrase(text)
        if self.is_stop(rest):
            return GateDecision(True, rest, True, wake, "stop words always pass")
        if not words(rest):
            if wake:
                with self._lock:
                    self._wake_until = speech_end + o.wake_window_s
                return GateDecision(False, "", False, True, "wake phrase alone: listening for the command")
            return GateDecision(False, "", False, False, "no words")
        if o.push_to_talk:
            if self._ptt_overlaps(speech_start, speech_end):
                return GateDecision(True, rest, False, wake, "push-to-talk pressed")
            return GateDecision(False, rest, False, wake, "push-to-talk not pressed")
        if not o.require_wake_phrase:
            return GateDecision(True, rest, False, wake, "wake phrase not required")
        if wake:
            return GateDecision(True, rest, False, True, "wake phrase")
        with self._lock:
            in_window = speech_start <= self._wake_until
            if in_window:
                self._wake_until = 0.0
        if in_window:
            return GateDecision(True, rest, False, False, "follows a wake phrase")
        return GateDecision(False, rest, False, False, "no wake phrase")
