"""The streaming speech pipeline: audio source -> ring buffer -> 16 kHz -> VAD -> Whisper, on two threads.

The audio callback only copies into the ring buffer. A listener thread resamples and runs the
VAD (about 0.2 ms per 32 ms chunk); finished utterances go through a queue to a recogniser
thread, so a slow transcription never holds up capture or segmentation.

The segmenter cuts an utterance early (``end_silence_ms``) and confirms it once the pause is long
enough to end a command (``pause_ms``). The recogniser decodes the early cut at once and keeps the
transcript; the confirmation then publishes it without a second decode, and a stop is published
straight from the early decode, without waiting for the pause.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .asr import Transcript
from .audio import AudioSource, AudioStream
from .gate import is_stop_utterance
from .options import AudioOptions, SegmenterOptions
from .vad import Segment, VadSegmenter

logger = logging.getLogger("shadowpeft_ros")


@dataclass
class Utterance:
    """One transcribed utterance with where it came from and when (wall-clock epoch seconds)."""

    segment: Segment
    transcript: Transcript
    source: str  # "microphone" or "file:<path>"
    file_offset_s: float  # speech start within that file (stream time for the microphone)
    speech_start: float
    speech_end: float
    transcript_ready: float

    @property
    def latency_s(self) -> float:
        """Seconds from the end of speech to the transcript being ready."""
        return self.transcript_ready - self.speech_end


_END = object()
CLIPPED_SHARE = 0.02  # more samples than this at full scale: the input is clipped


def audio_problem(audio: np.ndarray) -> str:
    """Return why an utterance's audio cannot be trusted ("" when it can): empty, not finite, silent or clipped."""
    if audio is None or len(audio) == 0:
        return "empty audio buffer"
    if not np.all(np.isfinite(audio)):
        return "audio holds NaN or infinite samples (a broken capture driver?)"
    peak = float(np.max(np.abs(audio)))
    if peak == 0.0:
        return "audio is digital silence"
    clipped = float(np.mean(np.abs(audio) >= 0.999))
    if clipped > CLIPPED_SHARE:
        return (f"audio is clipped ({clipped:.0%} of samples at full scale): lower the microphone gain; "
                "clipped speech is mis-heard")
    return ""


class SpeechPipeline:
    """Run a source through segmentation and recognition, calling ``on_utterance`` for each transcript."""

    def __init__(self, source: AudioSource, backend, on_utterance: Callable[[Utterance], None],
                 segmenter_options: Optional[SegmenterOptions] = None, audio_options: Optional[AudioOptions] = None,
                 on_finished: Optional[Callable[[], None]] = None,
                 on_error: Optional[Callable[[BaseException], None]] = None,
                 publish_early: Callable[[str], bool] = is_stop_utterance):
        """``publish_early(text)`` says whether an early cut's transcript goes out at once (by default: a stop)."""
        ring_seconds = audio_options.ring_seconds if audio_options else 30.0
        self.stream = AudioStream(source, ring_seconds)
        self.segmenter = VadSegmenter(segmenter_options)
        self.backend = backend
        self.on_utterance = on_utterance
        self.on_finished = on_finished
        self.on_error = on_error
        self._segments: "queue.Queue" = queue.Queue()
        self._stop = threading.Event()
        self.finished = threading.Event()
        self.failed: Optional[BaseException] = None
        self.publish_early = publish_early
        self.segments_seen = 0
        self.empty_transcripts = 0
        self.bad_audio = 0
        self.last_problem = ""
        self.early_decodes_void = 0  # early cuts whose speech then resumed
        self.last_latency_s: Optional[float] = None
        self._threads = [threading.Thread(target=self._listen, name="speech-listener", daemon=True),
                         threading.Thread(target=self._recognise, name="speech-recogniser", daemon=True)]

    def start(self, recogniser_thread: bool = True) -> None:
        """Start the listener (and unless told otherwise the recogniser) thread, then the audio.

        With ``recogniser_thread=False`` the caller must then call ``recognise()`` itself: do so
        from the thread that loaded the model. CTranslate2 decodes 3-5x slower, with several times
        the CPU time, once the thread that first ran the model has exited (measured here on
        tiny.en: 0.3 s against 1.4-2.5 s per utterance).
        """
        if not recogniser_thread:
            self._threads = [t for t in self._threads if t.name != "speech-recogniser"]
        for thread in self._threads:
            thread.start()
        self.stream.start()

    def recognise(self) -> None:
        """Run the recogniser loop in the calling thread until the source ends or ``stop()``."""
        self._recognise()

    def stop(self) -> None:
        """Stop audio and workers; utterances still queued are dropped."""
        self._stop.set()
        self.stream.stop()
        self._segments.put(_END)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until a finite source has been fully transcribed; return False on timeout."""
        return self.finished.wait(timeout)

    def _fail(self, exc: BaseException) -> None:
        self.failed = exc
        logger.exception("speech pipeline failed: %s", exc)
        if self.on_error is not None:
            self.on_error(exc)

    def _listen(self) -> None:
        try:
            while not self._stop.is_set():
                audio = self.stream.read(timeout=0.05)
                if len(audio):
                    for segment in self.segmenter.accept(audio):
                        self._segments.put(segment)
                if self.stream.exhausted:
                    for segment in self.segmenter.flush():
                        self._segments.put(segment)
                    break
        except Exception as exc:  # a dead listener must be reported, not silently stop listening
            self._fail(exc)
        finally:
            self._segments.put(_END)

    def _recognise(self) -> None:
        early: Dict[int, Tuple[Segment, Transcript]] = {}
        published_early: Dict[int, Segment] = {}
        try:
            while True:
                segment = self._segments.get()
                if segment is _END:
                    break
                if self._stop.is_set():
                    continue
                uid = segment.utterance_id
                if not segment.final:
                    if uid in early:
                        self.early_decodes_void += 1  # the previous early cut of this utterance grew
                    transcript = self._decode(segment)
                    early[uid] = (segment, transcript)  # None: bad audio, already reported
                    if transcript is not None and transcript.is_speech and self.publish_early(transcript.text):
                        published_early[uid] = segment
                        self._publish(segment, transcript)
                    continue
                cached = early.pop(uid, None)
                done = published_early.pop(uid, None)
                for stale in [k for k in early if k < uid]:
                    del early[stale]
                if done is not None and done.speech_end_s == segment.speech_end_s:
                    continue  # this very audio already went out as a stop
                if cached is not None and cached[0].speech_end_s == segment.speech_end_s:
                    transcript = cached[1]
                    if transcript is None:
                        continue
                else:
                    if cached is not None:
                        self.early_decodes_void += 1
                    transcript = self._decode(segment)
                    if transcript is None:
                        continue
                self._publish(segment, transcript)
        except Exception as exc:
            self._fail(exc)
        finally:
            if self.stream.source.finite and not self._stop.is_set() and self.failed is None:
                self.finished.set()
                if self.on_finished is not None:
                    self.on_finished()

    def _decode(self, segment: Segment) -> Optional[Transcript]:
        problem = audio_problem(segment.audio)
        if problem:
            # Bad input is never guessed at: no transcript, so no command, and a clear message.
            self.bad_audio += 1
            self.last_problem = problem
            logger.warning("utterance at %.2f s ignored: %s", segment.speech_start_s, problem)
            return None
        self.segments_seen += 1
        return self.backend.transcribe(segment.audio)

    def _publish(self, segment: Segment, transcript: Transcript) -> None:
        ready = time.time()
        if not transcript.is_speech:
            self.empty_transcripts += 1
            logger.info("utterance at %.2f s gave no words (no-speech %.2f)", segment.speech_start_s,
                        transcript.no_speech_prob)
            return
        source, offset = self.stream.source.locate(segment.speech_start_s)
        utterance = Utterance(
            segment=segment, transcript=transcript, source=source, file_offset_s=offset,
            speech_start=self.stream.wall_time(segment.speech_start_s),
            speech_end=self.stream.wall_time(segment.speech_end_s), transcript_ready=ready)
        self.last_latency_s = utterance.latency_s
        self.on_utterance(utterance)
