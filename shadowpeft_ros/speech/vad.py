"""Streaming utterance segmentation with the Silero VAD model that faster-whisper bundles."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Deque, List, Optional, Tuple

import numpy as np

from .options import SAMPLE_RATE, VAD_CHUNK, SegmenterOptions

logger = logging.getLogger("shadowpeft_ros")

_CONTEXT = 64  # samples of the previous chunk Silero v5/v6 sees before each 512-sample chunk
_SPLIT_PAUSE = int(0.1 * SAMPLE_RATE)  # a pause this long is a clean place to split a monologue


@dataclass
class Segment:
    """One utterance cut from the stream; times are seconds since the stream began."""

    audio: np.ndarray
    start_s: float  # of audio[0], pre-roll included
    speech_start_s: float
    speech_end_s: float
    split: bool = False  # ended by max_utterance_s rather than by silence
    utterance_id: int = 0  # the same for the early and the final cut of one utterance
    final: bool = True  # False: cut after end_silence_ms to decode early; speech may still resume

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class SileroStream:
    """Silero VAD over consecutive 512-sample chunks, carrying the LSTM state and the 64-sample context."""

    def __init__(self):
        from faster_whisper.vad import get_vad_model

        # The cached singleton's ONNX session is stateless and thread-safe; the state lives here.
        self._session = get_vad_model().session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def __call__(self, chunk: np.ndarray) -> float:
        """Return the speech probability of one 512-sample chunk at 16 kHz."""
        x = np.concatenate([self._context, chunk])[None, :]
        prob, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = chunk[-_CONTEXT:].copy()
        return float(np.ravel(prob)[0])


class VadSegmenter:
    """Cut a 16 kHz stream into utterances: speech that ends in ``pause_ms`` of silence.

    Speech starts at the first chunk at or above ``threshold`` and ends at the first chunk below
    ``neg_threshold`` that silence then holds (Silero's hysteresis). People pause inside a command
    ("walk forward one meter ... then sit"), so a command only ends after ``pause_ms`` of silence.
    Waiting that long before decoding would add the whole pause to the latency; instead the
    utterance is cut early, after ``end_silence_ms``, as a non-final segment that the recogniser
    decodes while the segmenter keeps listening. If speech resumes within ``pause_ms`` the early
    cut is void and the utterance grows; otherwise a final segment with the same audio and
    ``utterance_id`` follows, and the early transcript is used. Speech longer than
    ``max_utterance_s`` is split at its last pause of 100 ms or more, else cut hard.
    """

    def __init__(self, options: Optional[SegmenterOptions] = None, vad: Optional[SileroStream] = None):
        self.options = options or SegmenterOptions()
        self.vad = vad or SileroStream()
        o = self.options
        self._end_silence = int(o.end_silence_ms * SAMPLE_RATE / 1000)
        self._pause = max(self._end_silence, int(o.pause_ms * SAMPLE_RATE / 1000))
        self._early_sent = False
        self._utterance_id = 0
        self._min_speech = int(o.min_speech_ms * SAMPLE_RATE / 1000)
        self._max_len = int(o.max_utterance_s * SAMPLE_RATE)
        self._pre_roll = int(o.pre_roll_ms * SAMPLE_RATE / 1000)
        self._post_roll = int(o.post_roll_ms * SAMPLE_RATE / 1000)
        self._pending = np.zeros(0, dtype=np.float32)
        self._chunks: Deque[Tuple[int, np.ndarray]] = deque()  # (absolute start sample, chunk)
        self._pos = 0  # absolute sample index of the next chunk
        self._triggered = False
        self._start = 0
        self._silence_start: Optional[int] = None
        self._pauses: List[Tuple[int, int]] = []
        self.probabilities: List[float] = []  # kept only when record_probabilities is set
        self.record_probabilities = False

    def accept(self, samples: np.ndarray) -> List[Segment]:
        """Feed 16 kHz samples; return the utterances they complete."""
        self._pending = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        out: List[Segment] = []
        usable = len(self._pending) // VAD_CHUNK * VAD_CHUNK
        for offset in range(0, usable, VAD_CHUNK):
            out.extend(self._step(self._pending[offset:offset + VAD_CHUNK]))
        self._pending = self._pending[usable:]
        return out

    @property
    def in_speech(self) -> bool:
        """True while an utterance is open (speech, or a pause that may still continue it)."""
        return self._triggered

    def flush(self) -> List[Segment]:
        """End the stream: close an utterance still open, as if silence followed."""
        out: List[Segment] = []
        if len(self._pending):
            chunk = np.zeros(VAD_CHUNK, dtype=np.float32)
            chunk[:len(self._pending)] = self._pending
            self._pending = np.zeros(0, dtype=np.float32)
            out.extend(self._step(chunk))
        if self._triggered:
            end = self._silence_start if self._silence_start is not None else self._pos
            out.extend(self._emit(self._start, end, split=False))
            self._close()
        self.vad.reset()
        return out

    def _step(self, chunk: np.ndarray) -> List[Segment]:
        o = self.options
        prob = self.vad(chunk)
        if self.record_probabilities:
            self.probabilities.append(prob)
        here = self._pos
        self._chunks.append((here, chunk))
        self._pos += VAD_CHUNK
        out: List[Segment] = []
        if not self._triggered:
            if prob >= o.threshold:
                self._triggered = True
                self._start = here
                self._silence_start = None
                self._pauses = []
                self._early_sent = False
            else:
                self._trim(self._pos - self._pre_roll)
            return out
        if prob >= o.threshold:
            if self._silence_start is not None:
                if here - self._silence_start >= _SPLIT_PAUSE:
                    self._pauses.append((self._silence_start, here))
                self._silence_start = None
                self._early_sent = False  # speech resumed: the early cut is void
        elif prob < o.neg_threshold:
            if self._silence_start is None:
                self._silence_start = here
            silent = self._pos - self._silence_start
            if not self._early_sent and self._pause > self._end_silence and silent >= self._end_silence:
                out.extend(self._emit(self._start, self._silence_start, split=False, final=False))
                self._early_sent = True
            if silent >= self._pause:
                out.extend(self._emit(self._start, self._silence_start, split=False))
                self._close()
                self._trim(self._pos - self._pre_roll)
                return out
        if self._pos - self._start >= self._max_len:
            if self._silence_start is not None and self._pos - self._silence_start >= _SPLIT_PAUSE:
                out.extend(self._emit(self._start, self._silence_start, split=True))
                self._close()
            elif self._pauses:
                pause_start, pause_end = self._pauses[-1]
                out.extend(self._emit(self._start, pause_start, split=True))
                self._next_utterance()
                self._start = pause_end
                self._pauses = []
                self._trim(self._start - self._pre_roll)
            else:
                out.extend(self._emit(self._start, self._pos, split=True))
                self._next_utterance()
                self._start = self._pos
                self._silence_start = None
                self._trim(self._start - self._pre_roll)
        return out

    def _next_utterance(self) -> None:
        self._utterance_id += 1
        self._early_sent = False

    def _close(self) -> None:
        self._triggered = False
        self._next_utterance()

    def _emit(self, start: int, end: int, split: bool, final: bool = True) -> List[Segment]:
        if end - start < self._min_speech:
            logger.debug("dropped %.0f ms of speech (shorter than min_speech_ms)", (end - start) / 16)
            return []
        a = max(start - self._pre_roll, self._chunks[0][0] if self._chunks else start)
        b = min(end + self._post_roll, self._pos)
        audio = self._slice(a, b)
        return [Segment(audio=audio, start_s=a / SAMPLE_RATE, speech_start_s=start / SAMPLE_RATE,
                        speech_end_s=end / SAMPLE_RATE, split=split, utterance_id=self._utterance_id, final=final)]

    def _slice(self, a: int, b: int) -> np.ndarray:
        parts = []
        for pos, chunk in self._chunks:
            lo, hi = max(a, pos), min(b, pos + VAD_CHUNK)
            if lo < hi:
                parts.append(chunk[lo - pos:hi - pos])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _trim(self, keep_from: int) -> None:
        while self._chunks and self._chunks[0][0] + VAD_CHUNK <= keep_from:
            self._chunks.popleft()


def segment_audio(audio: np.ndarray, options: Optional[SegmenterOptions] = None) -> List[Segment]:
    """Segment a whole 16 kHz signal with the streaming segmenter (for offline use and tests)."""
    segmenter = VadSegmenter(options)
    segments = segmenter.accept(audio) + segmenter.flush()
    return [s for s in segments if s.final]
