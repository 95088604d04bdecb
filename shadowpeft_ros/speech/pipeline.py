"""The streaming speech pipeline: audio source -> ring buffer -> 16 kHz -> VAD -> Whisper, on two threads.

The audio callback only copies into the ring buffer. A listener thread resamples and runs the
VAD (about 0.2 ms per 32 ms chunk); finished utterances go through a queue to a recogniser
thread, so a slow transcription never holds up capture or segmentation.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .asr import Transcript
from .audio import AudioSource, AudioStream
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


class SpeechPipeline:
    """Run a source through segmentation and recognition, calling ``on_utterance`` for each transcript."""

    def __init__(self, source: AudioSource, backend, on_utterance: Callable[[Utterance], None],
                 segmenter_options: Optional[SegmenterOptions] = None, audio_options: Optional[AudioOptions] = None,
                 on_finished: Optional[Callable[[], None]] = None,
                 on_error: Optional[Callable[[BaseException], None]] = None):
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
        self.segments_seen = 0
        self.empty_transcripts = 0
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
        try:
            while True:
                segment = self._segments.get()
                if segment is _END:
                    break
                if self._stop.is_set():
                    continue
                self.segments_seen += 1
                transcript = self.backend.transcribe(segment.audio)
                ready = time.time()
                if not transcript.is_speech:
                    self.empty_transcripts += 1
                    logger.info("utterance at %.2f s gave no words (no-speech %.2f)", segment.speech_start_s,
                                transcript.no_speech_prob)
                    continue
                source, offset = self.stream.source.locate(segment.speech_start_s)
                utterance = Utterance(
                    segment=segment, transcript=transcript, source=source, file_offset_s=offset,
                    speech_start=self.stream.wall_time(segment.speech_start_s),
                    speech_end=self.stream.wall_time(segment.speech_end_s), transcript_ready=ready)
                self.on_utterance(utterance)
        except Exception as exc:
            self._fail(exc)
        finally:
            if self.stream.source.finite and not self._stop.is_set() and self.failed is None:
                self.finished.set()
                if self.on_finished is not None:
                    self.on_finished()
