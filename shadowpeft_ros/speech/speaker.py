"""Spoken replies: a worker thread that synthesises with espeak-ng and plays through sounddevice."""

from __future__ import annotations

import logging
import queue
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from .options import SpeakerOptions
from .tts import TtsError, espeak_available, synthesize

logger = logging.getLogger("shadowpeft_ros")


class Speaker:
    """Say texts one after another without blocking the caller; a missing espeak-ng or sound card only warns."""

    def __init__(self, options: Optional[SpeakerOptions] = None,
                 on_speaking: Optional[Callable[[bool], None]] = None,
                 on_text: Optional[Callable[[str], None]] = None,
                 player: Optional[Callable[[object, int], None]] = None):
        """``on_speaking(True)`` is called just before a reply plays and ``on_speaking(False)`` once it has ended,
        so the speech node can stop listening to the robot's own voice (half-duplex). ``player(audio, rate)``
        replaces the sound card's output (``LoopbackSoundCard.play`` feeds the reply back into a microphone)."""
        self.options = options or SpeakerOptions()
        self.on_speaking = on_speaking
        self.on_text = on_text  # called with each reply's text just before it plays (echo words for half-duplex)
        self.player = player
        self.speaking = False
        self.spoken: List[Tuple[str, Optional[Path]]] = []  # (text, saved WAV or None), for logs and tests
        self.available = self.options.enabled and espeak_available()
        self.problems: List[str] = []
        if self.options.enabled and not self.available:
            self._warn("espeak-ng is not installed (apt-get install -y espeak-ng): replies will not be spoken")
        self._queue: "queue.Queue" = queue.Queue(maxsize=self.options.max_queue)
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._work, name="speaker", daemon=True)
        self._thread.start()
        self._playback_ok: Optional[bool] = None

    def _warn(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)
            logger.warning(message)

    def say(self, text: str) -> bool:
        """Queue ``text`` to be spoken; return False when it is dropped (disabled, empty or unavailable)."""
        text = text.strip()
        if not (self.available and text):
            return False
        self._idle.clear()
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            # The newest reply matters most: drop the oldest waiting one.
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._queue.put_nowait(text)
        return True

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """Wait until everything queued has been spoken."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop the worker; queued replies are dropped."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _work(self) -> None:
        while True:
            if self._queue.empty():
                self._idle.set()
            text = self._queue.get()
            if text is None:
                self._idle.set()
                return
            try:
                self._speak(text)
            except Exception as exc:  # one failed reply must not end the speaker
                self._warn(f"could not speak {text!r}: {exc}")

    def _speak(self, text: str) -> None:
        import soundfile

        o = self.options
        if o.save_dir:
            Path(o.save_dir).mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "_", text.lower())[:40].strip("_") or "reply"
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path: Optional[Path] = Path(o.save_dir) / f"{stamp}-{len(self.spoken):03d}-{slug}.wav"
            wav = path
        else:
            path = None
            wav = Path(tempfile.mkstemp(suffix=".wav", prefix="shadowpeft-say-")[1])
        try:
            synthesize(text, wav, voice=o.voice, speed_wpm=o.speed_wpm)
            audio, rate = soundfile.read(str(wav), dtype="float32")
        except TtsError as exc:
            self._warn(str(exc))
            return
        finally:
            if path is None:
                wav.unlink(missing_ok=True)
        self.spoken.append((text, path))
        if self.on_text is not None:
            try:
                self.on_text(text)
            except Exception as exc:
                self._warn(f"text callback failed: {exc}")
        self._play(audio, rate)

    def _set_speaking(self, speaking: bool) -> None:
        self.speaking = speaking
        if self.on_speaking is not None:
            try:
                self.on_speaking(speaking)
            except Exception as exc:  # a failed announcement must not stop the reply
                self._warn(f"speaking callback failed: {exc}")

    def play_audio(self, audio, rate: int, device) -> None:
        """Play one reply to the end (sounddevice); the one place audio leaves the robot."""
        import sounddevice

        sounddevice.play(audio, rate, device=device, blocking=True)

    def _play(self, audio, rate: int) -> None:
        if self.player is not None:
            self._set_speaking(True)
            try:
                self.player(audio, rate)
            finally:
                self._set_speaking(False)
            return
        if self._playback_ok is False:
            return
        try:
            import sounddevice

            devices = sounddevice.query_devices()
            outputs = [i for i, d in enumerate(devices) if d["max_output_channels"] > 0]
            if not outputs:
                from .audio import describe_devices

                self._warn("no audio output device, replies are not played aloud"
                           + (" (kept in save_dir)" if self.options.save_dir else "") + "; "
                           + describe_devices(devices))
                self._playback_ok = False
                return
            device = self.options.output_device
            if device.strip().lstrip("-").isdigit():
                device = int(device)
            # Announced only when sound really comes out: with no output device nothing can be heard back.
            self._set_speaking(True)
            try:
                self.play_audio(audio, rate, device or None)
            finally:
                self._set_speaking(False)
            self._playback_ok = True
        except Exception as exc:  # PortAudio missing or the device refused: warn once, keep running
            self._warn(f"cannot play audio: {exc}")
            self._playback_ok = False
