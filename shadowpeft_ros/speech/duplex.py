"""Half-duplex: the dog does not act on what it hears itself say, but a stop always passes.

The speaker node plays replies while the microphone stays open, so the robot's own voice comes
back as an utterance ("Sorry, I can't do that safely" heard as a command). The speaker announces
when it plays (``/voice/speaking``); this object keeps those intervals, widened by ``tail_s`` for
the output latency and the room's reverberation, and mutes every utterance that overlaps one.

Only a stop gets through a muted interval. A person shouting "stop" over the robot's reply is heard
mixed with the reply, and Whisper writes one sentence of both ("I'm going to top forward" for "I'm
going to walk forward" + "stop"), so the strict stop test (stop words and fillers only) would miss
it. While muted, the words of the transcript that the robot did not just say (the speaker also
announces its text) are checked instead: one of them that is a stop word, or one letter away from
one ("top", "stops"), makes the utterance a stop. A word the reply itself contains never counts, so
the robot saying "stay" does not stop it; a mis-heard echo still can, which errs on the safe side.
A stop said right over the robot's words is often not written at all ("talk forward" for "walk
forward" + "stop"): that needs echo cancellation, which this module does not do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple

from .gate import STOP_WORDS, _within_one_edit, words


ECHO_MEMORY_S = 60.0  # replies older than this are forgotten as echo candidates


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass
class DuplexOptions:
    """When the speech node ignores what it hears because the speaker is playing."""

    half_duplex: bool = field(default=True, metadata={
        "help": "Ignore utterances that overlap the speaker's playback (plus tail_s), except stops: the dog does "
                "not act on its own voice. Off is full duplex (a headset, or a microphone the speaker cannot reach)."})
    tail_s: float = field(default=0.6, metadata={"range": (0.0, 5.0),
        "help": "Seconds after playback ends that are still muted: audio output latency plus the room's echo."})
    lead_s: float = field(default=0.1, metadata={"range": (0.0, 2.0),
        "help": "Seconds before the speaking signal that are already muted: the signal travels over DDS while "
                "the first samples may already be playing."})

    def __post_init__(self):
        _check(0 <= self.tail_s <= 5, f"half-duplex tail_s must be 0..5 s, got {self.tail_s}")
        _check(0 <= self.lead_s <= 2, f"half-duplex lead_s must be 0..2 s, got {self.lead_s}")


@dataclass
class DuplexDecision:
    """What half-duplex made of one utterance."""

    accepted: bool
    text: str  # the transcript, or just its stop words when a stop passed a muted interval
    muted: bool  # the utterance overlapped the robot's own speech
    reason: str


class HalfDuplex:
    """Track when the robot speaks and filter utterances that overlap it; thread-safe."""

    def __init__(self, options: Optional[DuplexOptions] = None, stop_words: Iterable[str] = STOP_WORDS):
        self.options = options or DuplexOptions()
        self._stop_words = frozenset(w.strip().lower() for w in stop_words)
        self._lock = threading.Lock()
        self._speaking_since: Optional[float] = None
        self._intervals: List[Tuple[float, float]] = []
        self._echo: List[Tuple[float, frozenset]] = []  # (when announced, words the robot said)
        self.muted_count = 0
        self.stops_passed = 0

    def set_speaking(self, speaking: bool, now: Optional[float] = None) -> None:
        """Record that the speaker started (True) or stopped (False) playing at ``now`` (wall clock)."""
        now = time.time() if now is None else now
        with self._lock:
            if speaking and self._speaking_since is None:
                self._speaking_since = now
            elif not speaking and self._speaking_since is not None:
                self._intervals.append((self._speaking_since, now))
                self._intervals = self._intervals[-32:]
                self._speaking_since = None

    def add_spoken_text(self, text: str, now: Optional[float] = None) -> None:
        """Record what the speaker is saying, so that its own words are not taken for a person's stop."""
        now = time.time() if now is None else now
        with self._lock:
            self._echo = [(t, w) for t, w in self._echo if now - t <= ECHO_MEMORY_S] + [(now, frozenset(words(text)))]

    def _echo_words(self) -> frozenset:
        with self._lock:
            return frozenset().union(*(w for _, w in self._echo)) if self._echo else frozenset()

    def _is_stop_word(self, word: str) -> bool:
        if word in self._stop_words:
            return True
        return len(word) >= 3 and any(len(s) >= 4 and _within_one_edit(word, s) for s in self._stop_words)

    @property
    def speaking(self) -> bool:
        with self._lock:
            return self._speaking_since is not None

    def state(self, now: Optional[float] = None) -> str:
        """Return "speaking", "tail" (just stopped, still muted) or "open"."""
        now = time.time() if now is None else now
        with self._lock:
            if self._speaking_since is not None:
                return "speaking"
            if self._intervals and now <= self._intervals[-1][1] + self.options.tail_s:
                return "tail"
        return "open"

    def overlaps(self, start: float, end: float) -> bool:
        """Return True when speech from ``start`` to ``end`` overlaps the robot's playback (widened)."""
        o = self.options
        with self._lock:
            intervals = list(self._intervals)
            if self._speaking_since is not None:
                intervals.append((self._speaking_since, float("inf")))
        return any(a - o.lead_s <= end and start <= b + o.tail_s for a, b in intervals)

    def decide(self, text: str, speech_start: float, speech_end: float) -> DuplexDecision:
        """Judge one transcript whose speech ran from ``speech_start`` to ``speech_end`` (wall clock)."""
        if not self.options.half_duplex or not self.overlaps(speech_start, speech_end):
            return DuplexDecision(True, text, False, "microphone open")
        echo = self._echo_words()
        if echo:
            stops = [w for w in words(text) if w not in echo and self._is_stop_word(w)]
        else:  # the robot's words are unknown: only exact stop words can be told from its speech
            stops = [w for w in words(text) if w in self._stop_words]
        if stops:
            self.stops_passed += 1
            return DuplexDecision(True, "stop", True, f"stop heard while the robot spoke ({' '.join(stops)!r})")
        self.muted_count += 1
        return DuplexDecision(False, text, True, "the robot was speaking (half-duplex)")
